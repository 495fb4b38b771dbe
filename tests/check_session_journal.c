/*
 * check_session_journal.c -- sessions survive a SIGKILL of the server and a
 * restart on the same --journal DIR and port (docs/SESSIONS.md 4,
 * server/session_journal.c): a re-sent store is applied once and answered
 * the same; a fetch whose reply died with the server gives the same value
 * once (a spooled one too: its file is kept); an owned workspace waits for
 * its session, kept when it resumes, purged when it does not; a compaction
 * keeps sessions; a session ended before the crash stays ended; a blocking
 * fetch parked at the crash parks again when sent again.
 *
 * The client is rawc driven by hand, as the contract says: the NwsSession
 * option at the handshake, the dictionary after A000, and the 40-byte
 * header D20(seq) D20(ack) before each request.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "jtest.h"
#include "ptest.h"

/* A session client: rawc plus the session's numbers. */
struct sjc {
    struct rawc c;
    char        id[17], tok[33];
    uint64_t    seq; /* the last seq sent */
    uint64_t    ack; /* the highest seq whose reply was read whole */
    int         resumed;
};

/* Reads the dictionary after A000: NwsSession and NwsResumed; 0 or -1. */
static int
sjc_hs_dict(struct sjc *s)
{
    char       *d = NULL;
    size_t      dl, vl;
    const char *v;
    int         rc = -1;

    if (rawc_read_dict(&s->c, &d, &dl) != 0)
        return -1;
    if (rawc_dict_get(d, dl, "NwsSession", &v, &vl) && vl == 16 + 1 + 32 &&
        v[16] == ' ') {
        memcpy(s->id, v, 16);
        s->id[16] = '\0';
        memcpy(s->tok, v + 17, 32);
        s->tok[32] = '\0';
        if (rawc_dict_get(d, dl, "NwsResumed", &v, &vl) && vl == 1) {
            s->resumed = v[0] == '1';
            rc = 0;
        }
    }
    free(d);
    return rc;
}

/* Opens a connection asking for a new session (resume 0) or to resume s's. */
static void
sjc_open(struct sjc *s, int port, int resume)
{
    char        val[80];
    const char *opts[] = {"MetadataFromServer", "1", "NwsSession", "new", NULL};

    if (resume) {
        snprintf(val, sizeof(val), "resume %s %s", s->id, s->tok);
        opts[3] = val;
    } else {
        s->seq = s->ack = 0;
    }
    memset(&s->c, 0, sizeof(s->c));
    s->c.fd = -1;
    ck_assert_msg(rawc_open(&s->c, port, RAWC_NONE) == 0, "connect: %s", s->c.err);
    ck_assert_msg(rawc_hs_new(&s->c, opts) == 0, "handshake: %s", s->c.err);
    ck_assert_msg(sjc_hs_dict(s) == 0, "no session dictionary after A000: %s", s->c.err);
}

/* Sends a request with seq (0: the next one) and the current ack. */
static void
sjc_send(struct sjc *s, uint64_t seq, const char *const *argv)
{
    char     hdr[41];
    unsigned argc = 0;
    size_t   lens[8];

    if (seq == 0)
        seq = ++s->seq;
    snprintf(hdr, sizeof(hdr), "%020llu%020llu", (unsigned long long)seq,
             (unsigned long long)s->ack);
    while (argv[argc] != NULL) {
        lens[argc] = strlen(argv[argc]);
        argc++;
    }
    ck_assert_msg(rawc_write(&s->c, hdr, 40) == 0 &&
                      rawc_send(&s->c, NULL, 0, argc, argv, lens) == 0,
                  "send: %s", s->c.err);
}

/* A request with a short reply; seq as sjc_send; the status (-1: link broken). */
static int
sjc_short(struct sjc *s, uint64_t seq, struct rawc_reply *out, const char *const *argv)
{
    struct rawc_reply r;
    int               st;

    memset(&r, 0, sizeof(r));
    sjc_send(s, seq, argv);
    if (rawc_read_short(&s->c, &r) != 0)
        return -1;
    st = r.status;
    if (out != NULL)
        *out = r;
    else
        rawc_reply_free(&r);
    return st;
}

/* A request with a long reply into r (the caller frees it); 0 or -1. */
static int
sjc_long(struct sjc *s, uint64_t seq, struct rawc_reply *r, const char *const *argv)
{
    memset(r, 0, sizeof(*r));
    sjc_send(s, seq, argv);
    return rawc_read_long(&s->c, r);
}

#define ARGV(...) ((const char *const[]){__VA_ARGS__, NULL})

/* Asserts two replies are the same bytes (status, meta, value, cookie). */
static void
sj_same_reply(const struct rawc_reply *a, const struct rawc_reply *b)
{
    ck_assert_int_eq(a->is_long, b->is_long);
    ck_assert_int_eq(a->status, b->status);
    ck_assert_msg(rawc_dict_equal(a->meta, a->meta_len, b->meta, b->meta_len),
                  "the re-sent request's reply has other metadata");
    if (!a->is_long)
        return;
    ck_assert_str_eq(a->raw_desc, b->raw_desc);
    ck_assert_str_eq(a->varid, b->varid);
    ck_assert_str_eq(a->raw_index, b->raw_index);
    ck_assert_uint_eq(a->len, b->len);
    ck_assert_msg(a->len == 0 || memcmp(a->value, b->value, (size_t)a->len) == 0,
                  "the re-sent fetch got other bytes");
}

/* fetchTry through a classic connection: 1 and the value, or 0 when none. */
static int
sj_classic_get(int port, const char *ws, const char *var, char *buf, size_t len)
{
    struct rawc c;
    int         rc;

    memset(&c, 0, sizeof(c));
    c.fd = -1;
    ck_assert_int_eq(jtest_connect_ws(&c, port, ws), 0);
    rc = jtest_get(&c, ws, var, 1, buf, len);
    rawc_close(&c);
    ck_assert_int_ge(rc, 0);
    return rc;
}

static const char *const sj_args[] = {"--resume-grace", "60", NULL};

START_TEST(store_resent_after_restart_applied_once)
{
    static struct jsrv s;
    struct sjc         a;
    struct rawc_reply  r1, r2;
    uint64_t           seq;
    char               buf[64];

    ck_assert_int_eq(jsrv_init(&s, NULL, "always"), 0);
    ck_assert_msg(jsrv_start(&s, sj_args) == 0, "no start (status %d)", s.status);
    sjc_open(&a, s.port, 0);
    ck_assert_int_eq(a.resumed, 0);
    ck_assert_int_eq(sjc_short(&a, 0, NULL, ARGV("use ws", "w", "", "no")), 0);
    a.ack = a.seq;
    /* The store is applied and answered; the client never sees the answer. */
    ck_assert_int_eq(sjc_short(&a, 0, &r1, ARGV("store", "w", "x", "1", "once")), 0);
    seq = a.seq;
    jsrv_kill9(&s);
    rawc_close(&a.c);
    ck_assert_msg(jsrv_start(&s, sj_args) == 0, "no restart (status %d)", s.status);

    sjc_open(&a, s.port, 1);
    ck_assert_msg(a.resumed, "the session did not survive the restart: %s",
                  jsrv_log_tail(&s, 600));
    ck_assert_int_eq(sjc_short(&a, seq, &r2, ARGV("store", "w", "x", "1", "once")), 0);
    sj_same_reply(&r1, &r2);
    a.ack = seq;
    rawc_reply_free(&r1);
    rawc_reply_free(&r2);
    rawc_close(&a.c);
    /* Applied once: one value, then none. */
    ck_assert_int_eq(sj_classic_get(s.port, "w", "x", buf, sizeof(buf)), 1);
    ck_assert_str_eq(buf, "once");
    ck_assert_int_eq(sj_classic_get(s.port, "w", "x", buf, sizeof(buf)), 0);
    jsrv_free(&s);
}
END_TEST

/* A fetch's reply dies with the server: after the restart, the re-sent fetch
 * gets the same value, and the value is not in the variable any more.  big:
 * a value past --spool-threshold, whose file in DIR must outlive replay. */
static void
sj_fetch_case(int big)
{
    static struct jsrv s;
    const char *const args[] = {"--resume-grace", "60", "--spool-threshold", "64k", NULL};
    struct sjc        a;
    struct rawc_reply r1, r2;
    uint64_t          seq;
    char             *val, buf[64];
    size_t            len = big ? 300 * 1024 : 5, i;

    val = malloc(len + 1);
    for (i = 0; i < len; i++)
        val[i] = (char)('a' + i % 23);
    val[len] = '\0';
    ck_assert_int_eq(jsrv_init(&s, NULL, "always"), 0);
    ck_assert_msg(jsrv_start(&s, args) == 0, "no start (status %d)", s.status);
    sjc_open(&a, s.port, 0);
    ck_assert_int_eq(sjc_short(&a, 0, NULL, ARGV("use ws", "w", "", "no")), 0);
    a.ack = a.seq;
    ck_assert_int_eq(sjc_short(&a, 0, NULL, ARGV("store", "w", "x", "1", val)), 0);
    ck_assert_int_eq(sjc_short(&a, 0, NULL, ARGV("store", "w", "x", "1", "second")), 0);
    a.ack = a.seq;
    ck_assert_int_eq(sjc_long(&a, 0, &r1, ARGV("fetchTry", "w", "x")), 0);
    ck_assert_int_eq(r1.status, 0);
    ck_assert_uint_eq(r1.len, len);
    seq = a.seq;
    jsrv_kill9(&s);
    rawc_close(&a.c);
    /* Twice, with a write between (the journal's sync point removes the
     * files no value holds): the held value's file outlives a replay. */
    ck_assert_msg(jsrv_start(&s, args) == 0, "no restart (status %d)", s.status);
    {
        struct rawc c;

        memset(&c, 0, sizeof(c));
        c.fd = -1;
        ck_assert_int_eq(jtest_connect_ws(&c, s.port, "other"), 0);
        ck_assert_int_eq(jtest_store(&c, "other", "y", "sync"), 0);
        rawc_close(&c);
    }
    jsrv_kill9(&s);
    ck_assert_msg(jsrv_start(&s, args) == 0, "no restart (status %d)", s.status);

    sjc_open(&a, s.port, 1);
    ck_assert_msg(a.resumed, "the session did not survive the restart: %s",
                  jsrv_log_tail(&s, 600));
    ck_assert_msg(sjc_long(&a, seq, &r2, ARGV("fetchTry", "w", "x")) == 0, "%s: %s",
                  a.c.err, jsrv_log_tail(&s, 800));
    sj_same_reply(&r1, &r2);
    a.ack = seq;
    rawc_reply_free(&r1);
    rawc_reply_free(&r2);
    /* The next fetch (acknowledging it) gets the next value: given once. */
    ck_assert_int_eq(sjc_long(&a, 0, &r2, ARGV("fetchTry", "w", "x")), 0);
    ck_assert_int_eq(r2.status, 0);
    ck_assert_uint_eq(r2.len, 6);
    ck_assert_int_eq(memcmp(r2.value, "second", 6), 0);
    a.ack = a.seq;
    rawc_reply_free(&r2);
    rawc_close(&a.c);
    ck_assert_int_eq(sj_classic_get(s.port, "w", "x", buf, sizeof(buf)), 0);
    if (big) {
        char **names;
        int    n, k, files = 0;

        /* The acknowledgement released the held value, and it is journaled
         * (riding on the next kept reply): after one more crash the replay
         * drops the value, and its file goes at the first sync point. */
        jsrv_kill9(&s);
        ck_assert_msg(jsrv_start(&s, args) == 0, "no restart (status %d)", s.status);
        ck_assert_int_eq(sj_classic_get(s.port, "w", "x", buf, sizeof(buf)), 0);
        ck_assert_int_ge(n = jtest_files(s.dir, &names), 0);
        for (k = 0; k < n; k++) {
            files += strstr(names[k], ".val") != NULL;
            free(names[k]);
        }
        free(names);
        ck_assert_msg(files == 0, "%d value files left in DIR after the ack", files);
        ck_assert_msg(!jsrv_log_has(&s, "are missing from"),
                      "replay kept a reply the client had acknowledged: %s",
                      jsrv_log_tail(&s, 800));
    }
    free(val);
    jsrv_free(&s);
}

START_TEST(fetch_reply_lost_in_crash_given_once)
{
    sj_fetch_case(0);
}
END_TEST

START_TEST(fetch_of_spooled_value_kept_across_restart)
{
    sj_fetch_case(1);
}
END_TEST

/* An owned workspace: kept when its session resumes (past the grace), purged
 * when it does not; and the ended session stays ended over another restart. */
START_TEST(owned_workspace_waits_for_its_session)
{
    static struct jsrv s;
    const char *const  args[] = {"--resume-grace", "4", NULL};
    struct sjc         a, b;
    struct rawc_reply  r;
    char               buf[64];
    double             t0;
    int                rc = 1;

    ck_assert_int_eq(jsrv_init(&s, NULL, "always"), 0);
    ck_assert_msg(jsrv_start(&s, args) == 0, "no start (status %d)", s.status);
    sjc_open(&a, s.port, 0);
    ck_assert_int_eq(sjc_short(&a, 0, NULL, ARGV("open ws", "keep", "1", "no")), 0);
    ck_assert_int_eq(sjc_short(&a, 0, NULL, ARGV("store", "keep", "x", "1", "mine")), 0);
    a.ack = a.seq;
    sjc_open(&b, s.port, 0);
    ck_assert_int_eq(sjc_short(&b, 0, NULL, ARGV("open ws", "lose", "2", "no")), 0);
    ck_assert_int_eq(sjc_short(&b, 0, NULL, ARGV("store", "lose", "x", "1", "yours")), 0);
    b.ack = b.seq;
    jsrv_kill9(&s);
    rawc_close(&a.c);
    rawc_close(&b.c);
    ck_assert_msg(jsrv_start(&s, args) == 0, "no restart (status %d)", s.status);

    /* a resumes; b never comes back. */
    sjc_open(&a, s.port, 1);
    ck_assert_msg(a.resumed, "the session did not survive the restart: %s",
                  jsrv_log_tail(&s, 600));
    /* Past the grace (4 s: time enough to resume on a loaded machine) of
     * the restored sessions and of journal_dir.c's timer. */
    t0 = jtest_now();
    while (jtest_now() - t0 < 5.5)
        usleep(100000);
    /* a's name still resolves through its restored map, to its value. */
    ck_assert_msg(sjc_long(&a, 0, &r, ARGV("findTry", "keep", "x")) == 0, "%s: %s",
                  a.c.err, jsrv_log_tail(&s, 1500));
    ck_assert_int_eq(r.status, 0);
    ck_assert_uint_eq(r.len, 4);
    ck_assert_int_eq(memcmp(r.value, "mine", 4), 0);
    a.ack = a.seq;
    rawc_reply_free(&r);
    /* b's workspace was purged when its session ended (poll: a loaded machine
     * may run the timer late). */
    for (t0 = jtest_now(); jtest_now() - t0 < 20 && rc != 0; usleep(200000))
        rc = sj_classic_get(s.port, "lose", "x", buf, sizeof(buf));
    ck_assert_msg(rc == 0, "the workspace of a session never resumed was not purged");

    /* Over one more crash: a's session and workspace live on, b's stay gone. */
    jsrv_kill9(&s);
    rawc_close(&a.c);
    ck_assert_msg(jsrv_start(&s, args) == 0, "no restart (status %d)", s.status);
    sjc_open(&b, s.port, 1);
    ck_assert_msg(!b.resumed, "an ended session came back after a restart");
    rawc_close(&b.c);
    sjc_open(&a, s.port, 1);
    ck_assert_int_eq(a.resumed, 1);
    ck_assert_int_eq(sjc_long(&a, 0, &r, ARGV("findTry", "keep", "x")), 0);
    ck_assert_int_eq(r.status, 0);
    rawc_reply_free(&r);
    rawc_close(&a.c);
    jsrv_free(&s);
}
END_TEST

/* `end session` before the crash: the session is not resumed after it, and
 * its owned workspace is gone. */
START_TEST(ended_session_stays_ended)
{
    static struct jsrv s;
    struct sjc         a;
    char               buf[64];

    ck_assert_int_eq(jsrv_init(&s, NULL, "always"), 0);
    ck_assert_msg(jsrv_start(&s, sj_args) == 0, "no start (status %d)", s.status);
    sjc_open(&a, s.port, 0);
    ck_assert_int_eq(sjc_short(&a, 0, NULL, ARGV("open ws", "e", "1", "no")), 0);
    ck_assert_int_eq(sjc_short(&a, 0, NULL, ARGV("store", "e", "x", "1", "v")), 0);
    a.ack = a.seq;
    ck_assert_int_eq(sjc_short(&a, 0, NULL, ARGV("end session")), 0);
    jsrv_kill9(&s);
    rawc_close(&a.c);
    ck_assert_msg(jsrv_start(&s, sj_args) == 0, "no restart (status %d)", s.status);
    sjc_open(&a, s.port, 1);
    ck_assert_msg(!a.resumed, "an ended session was resumed after a restart: %s",
                  jsrv_log_tail(&s, 1500));
    rawc_close(&a.c);
    ck_assert_int_eq(sj_classic_get(s.port, "e", "x", buf, sizeof(buf)), 0);
    jsrv_free(&s);
}
END_TEST

/* A compaction replaces the journal that held the session's records by a
 * snapshot: the session, its kept reply and its owned workspace are in it. */
START_TEST(compaction_keeps_sessions)
{
    static struct jsrv s;
    const char *const  args[] = {"--resume-grace",
                                 "60",
                                 "--journal-compact-min",
                                 "65536",
                                 "--journal-compact-factor",
                                 "2",
                                 NULL};
    struct sjc         a;
    struct rawc        c;
    struct rawc_reply  r1, r2;
    uint64_t           seq;
    char               fill[4096];
    int                i;
    double             t0;

    memset(fill, 'f', sizeof(fill) - 1);
    fill[sizeof(fill) - 1] = '\0';
    ck_assert_int_eq(jsrv_init(&s, NULL, "always"), 0);
    ck_assert_msg(jsrv_start(&s, args) == 0, "no start (status %d)", s.status);
    sjc_open(&a, s.port, 0);
    ck_assert_int_eq(sjc_short(&a, 0, NULL, ARGV("open ws", "own", "1", "no")), 0);
    ck_assert_int_eq(sjc_short(&a, 0, NULL, ARGV("store", "own", "x", "1", "a")), 0);
    ck_assert_int_eq(sjc_short(&a, 0, NULL, ARGV("store", "own", "x", "1", "b")), 0);
    a.ack = a.seq;
    ck_assert_int_eq(sjc_long(&a, 0, &r1, ARGV("fetchTry", "own", "x")), 0);
    seq = a.seq;
    /* Another client fills the journal past --journal-compact-min. */
    memset(&c, 0, sizeof(c));
    c.fd = -1;
    ck_assert_int_eq(jtest_connect_ws(&c, s.port, "fill"), 0);
    jsrv_log_reset(&s);
    for (i = 0; i < 64; i++)
        ck_assert_int_eq(jtest_store(&c, "fill", "f", fill), 0);
    for (t0 = jtest_now();
         jtest_now() - t0 < 30 && !jsrv_log_has(&s, "journal: compaction done");
         usleep(50000))
        ck_assert_int_eq(jtest_store(&c, "fill", "g", "tick"), 0);
    ck_assert_msg(jsrv_log_has(&s, "journal: compaction done"), "no compaction: %s",
                  jsrv_log_tail(&s, 600));
    rawc_close(&c);
    jsrv_kill9(&s);
    rawc_close(&a.c);
    ck_assert_msg(jsrv_start(&s, args) == 0, "no restart (status %d)", s.status);
    sjc_open(&a, s.port, 1);
    ck_assert_msg(a.resumed, "the session did not survive compaction and restart: %s",
                  jsrv_log_tail(&s, 600));
    ck_assert_int_eq(sjc_long(&a, seq, &r2, ARGV("fetchTry", "own", "x")), 0);
    sj_same_reply(&r1, &r2);
    a.ack = seq;
    rawc_reply_free(&r1);
    rawc_reply_free(&r2);
    ck_assert_int_eq(sjc_long(&a, 0, &r2, ARGV("fetchTry", "own", "x")), 0);
    ck_assert_int_eq(r2.status, 0);
    ck_assert_uint_eq(r2.len, 1);
    ck_assert_int_eq(r2.value[0], 'b');
    rawc_reply_free(&r2);
    rawc_close(&a.c);
    jsrv_free(&s);
}
END_TEST

/* A blocking fetch parked at the crash was not a mutation yet: sent again
 * after the restart, it parks again and is served by the next store, once. */
START_TEST(blocking_fetch_parks_again_after_restart)
{
    static struct jsrv s;
    struct sjc         a;
    struct rawc        c;
    struct rawc_reply  r;
    uint64_t           seq;
    char               buf[64];

    ck_assert_int_eq(jsrv_init(&s, NULL, "always"), 0);
    ck_assert_msg(jsrv_start(&s, sj_args) == 0, "no start (status %d)", s.status);
    sjc_open(&a, s.port, 0);
    ck_assert_int_eq(sjc_short(&a, 0, NULL, ARGV("use ws", "w", "", "no")), 0);
    a.ack = a.seq;
    sjc_send(&a, 0, ARGV("fetch", "w", "x"));
    seq = a.seq;
    ck_assert_int_eq(rawc_expect_silence(&a.c, 300), 0);
    jsrv_kill9(&s);
    rawc_close(&a.c);
    ck_assert_msg(jsrv_start(&s, sj_args) == 0, "no restart (status %d)", s.status);
    sjc_open(&a, s.port, 1);
    ck_assert_int_eq(a.resumed, 1);
    sjc_send(&a, seq, ARGV("fetch", "w", "x"));
    ck_assert_int_eq(rawc_expect_silence(&a.c, 300), 0);
    memset(&c, 0, sizeof(c));
    c.fd = -1;
    ck_assert_int_eq(jtest_connect_ws(&c, s.port, "w"), 0);
    ck_assert_int_eq(jtest_store(&c, "w", "x", "late"), 0);
    memset(&r, 0, sizeof(r));
    ck_assert_msg(rawc_read_long(&a.c, &r) == 0, "%s", a.c.err);
    ck_assert_int_eq(r.status, 0);
    ck_assert_uint_eq(r.len, 4);
    ck_assert_int_eq(memcmp(r.value, "late", 4), 0);
    rawc_reply_free(&r);
    a.ack = seq;
    ck_assert_int_eq(jtest_get(&c, "w", "x", 1, buf, sizeof(buf)), 0);
    rawc_close(&c);
    rawc_close(&a.c);
    jsrv_free(&s);
}
END_TEST

/*
 * The crash loop: a producer session stores "p<i>" (up to 3 pipelined) to a
 * fifo, a consumer session fetches from it (fetchTry, or a blocking fetch
 * that may park), and the server is killed -9 at random moments, most
 * right after requests were sent and before their replies were read (so a
 * request may or may not have run), and restarted on the same DIR.  Both
 * sessions resume and send again what is unanswered, with the same
 * numbers.  Every value must be fetched exactly once and in order: no
 * store applied twice, no fetched value lost or given twice.
 * SESSJ_CRASH_OPS sets the number of operations (1000 here; make
 * crash-sessions runs 20000), under --fsync always, then everysec.
 */
/*
 * A reply must not leave before its journal record, also when a pipeline
 * fills the connection's output (the conn pauses its decoding and writes at
 * once): a store pipelined before a fetch of a value larger than the output
 * limit had its reply written before the turn's records, and a kill right
 * after the client read it lost the store for good (the client, holding
 * its reply, never sends it again).
 */
START_TEST(reply_never_before_its_record)
{
    static struct jsrv s;
    const char *const  args[] = {"--resume-grace", "60", "--spool-threshold", "1g", NULL};
    size_t             blen = 9u << 20, k;
    char              *big = malloc(blen + 1), x[32], buf[64];
    struct sjc         a;
    struct rawc_reply  r;
    uint64_t           fseq;
    int                round;

    for (k = 0; k < blen; k++)
        big[k] = (char)('a' + k % 26);
    big[blen] = '\0';
    ck_assert_int_eq(jsrv_init(&s, NULL, "always"), 0);
    ck_assert_msg(jsrv_start(&s, args) == 0, "no start (status %d)", s.status);
    sjc_open(&a, s.port, 0);
    ck_assert_int_eq(sjc_short(&a, 0, NULL, ARGV("use ws", "w", "", "no")), 0);
    a.ack = a.seq;
    for (round = 0; round < 5; round++) {
        ck_assert_int_eq(sjc_short(&a, 0, NULL, ARGV("store", "w", "big", "1", big)), 0);
        a.ack = a.seq;
        snprintf(x, sizeof(x), "s%d", round);
        sjc_send(&a, 0, ARGV("store", "w", "x", "1", x));
        sjc_send(&a, 0, ARGV("fetchTry", "w", "big"));
        fseq = a.seq;
        memset(&r, 0, sizeof(r));
        ck_assert_msg(rawc_read_short(&a.c, &r) == 0, "%s", a.c.err);
        ck_assert_int_eq(r.status, 0);
        rawc_reply_free(&r);
        /* The store's reply is here: kill at once. */
        jsrv_kill9(&s);
        a.ack = fseq - 1;
        rawc_close(&a.c);
        ck_assert_msg(jsrv_start(&s, args) == 0, "no restart (status %d)", s.status);
        sjc_open(&a, s.port, 1);
        ck_assert_int_eq(a.resumed, 1);
        ck_assert_msg(sjc_long(&a, fseq, &r, ARGV("fetchTry", "w", "big")) == 0, "%s",
                      a.c.err);
        ck_assert_uint_eq(r.len, blen);
        rawc_reply_free(&r);
        a.ack = fseq;
        ck_assert_msg(sjc_long(&a, 0, &r, ARGV("fetchTry", "w", "x")) == 0, "%s",
                      a.c.err);
        a.ack = a.seq;
        ck_assert_msg(
            r.status == 0 && r.len == strlen(x) && memcmp(r.value, x, r.len) == 0,
            "round %d: a store whose reply the client had was lost in the crash", round);
        rawc_reply_free(&r);
    }
    rawc_close(&a.c);
    (void)buf;
    free(big);
    jsrv_free(&s);
}
END_TEST

/*
 * A clean stop keeps what a session holds: its kept reply's spooled value
 * was freed with the conns at shutdown, and its file, which the journal
 * still names, was removed with the files of consumed values.
 */
START_TEST(held_value_survives_clean_stop)
{
    static struct jsrv s;
    const char *const args[] = {"--resume-grace", "60", "--spool-threshold", "64k", NULL};
    size_t            len = 200 * 1024, k;
    char             *val = malloc(len + 1);
    struct sjc        a;
    struct rawc_reply r1, r2;
    uint64_t          seq;

    for (k = 0; k < len; k++)
        val[k] = (char)('A' + k % 26);
    val[len] = '\0';
    ck_assert_int_eq(jsrv_init(&s, NULL, "always"), 0);
    ck_assert_msg(jsrv_start(&s, args) == 0, "no start (status %d)", s.status);
    sjc_open(&a, s.port, 0);
    ck_assert_int_eq(sjc_short(&a, 0, NULL, ARGV("use ws", "w", "", "no")), 0);
    ck_assert_int_eq(sjc_short(&a, 0, NULL, ARGV("store", "w", "x", "1", val)), 0);
    a.ack = a.seq;
    ck_assert_int_eq(sjc_long(&a, 0, &r1, ARGV("fetchTry", "w", "x")), 0);
    ck_assert_uint_eq(r1.len, len);
    seq = a.seq;
    /* Stopped cleanly twice: attached, then restored and never resumed. */
    ck_assert_int_eq(jsrv_stop(&s), 0);
    rawc_close(&a.c);
    ck_assert_msg(jsrv_start(&s, args) == 0, "no restart (status %d)", s.status);
    ck_assert_int_eq(jsrv_stop(&s), 0);
    ck_assert_msg(jsrv_start(&s, args) == 0, "no restart (status %d)", s.status);
    sjc_open(&a, s.port, 1);
    ck_assert_int_eq(a.resumed, 1);
    ck_assert_msg(sjc_long(&a, seq, &r2, ARGV("fetchTry", "w", "x")) == 0, "%s", a.c.err);
    sj_same_reply(&r1, &r2);
    rawc_reply_free(&r1);
    rawc_reply_free(&r2);
    rawc_close(&a.c);
    free(val);
    jsrv_free(&s);
}
END_TEST

/* How many times the server's log holds needle. */
static int
sj_log_count(struct jsrv *s, const char *needle)
{
    char       *t = jsrv_log_text(s);
    const char *p = t;
    int         n = 0;

    while (p != NULL && (p = strstr(p, needle)) != NULL) {
        n++;
        p += strlen(needle);
    }
    free(t);
    return n;
}

struct sj_pend {
    uint64_t seq;
    int      fetch; /* 0: a store of value number n; 1: fetchTry; 2: fetch (blocks) */
    int      n;
};

/* Sends a pending request (again). */
static void
sj_loop_send(struct sjc *s, const struct sj_pend *p)
{
    char val[32];

    snprintf(val, sizeof(val), "p%d", p->n);
    if (p->fetch)
        sjc_send(s, p->seq, ARGV(p->fetch == 2 ? "fetch" : "fetchTry", "w", "q"));
    else
        sjc_send(s, p->seq, ARGV("store", "w", "q", "1", val));
}

/* Reads the replies of s's pending requests; fetched values go to got. */
static void
sj_loop_read(struct sjc *s, struct sj_pend *pend, int *npend, int *got, int *ngot,
             int max)
{
    struct rawc_reply r;
    int               i, v;

    for (i = 0; i < *npend; i++) {
        memset(&r, 0, sizeof(r));
        if (pend[i].fetch) {
            ck_assert_msg(rawc_read_long(&s->c, &r) == 0, "fetch reply: %s", s->c.err);
            if (r.status == 0 && r.len > 0) {
                ck_assert_msg(sscanf(r.value, "p%d", &v) == 1 && v >= 0 && v < max,
                              "fetched a value never stored");
                got[(*ngot)++] = v;
            }
        } else {
            ck_assert_msg(rawc_read_short(&s->c, &r) == 0, "store reply: %s", s->c.err);
            ck_assert_int_eq(r.status, 0);
        }
        rawc_reply_free(&r);
        s->ack = pend[i].seq;
    }
    *npend = 0;
}

static void
sj_crash_loop(const char *policy)
{
    static struct jsrv s;
    /* Compactions happen during the loop too: snapshots hold the sessions. */
    const char *const args[] = {"--resume-grace",
                                "60",
                                "--journal-compact-min",
                                "32768",
                                "--journal-compact-factor",
                                "1.5",
                                NULL};
    const char       *e = getenv("SESSJ_CRASH_OPS");
    int               ops = e != NULL && atoi(e) > 0 ? atoi(e) : 1000;
    struct sjc        pr, co;
    struct sj_pend    ppend[4], cpend[1];
    int               np = 0, nc = 0, next = 0, ngot = 0, kills = 0, cut = 0, i;
    int               cstarted = 0, cdone = 0;
    int              *got = calloc((size_t)ops * 2 + 16, sizeof(int));
    unsigned          seed = (unsigned)getpid() + (unsigned)strlen(policy);

    ck_assert_int_eq(jsrv_init(&s, NULL, policy), 0);
    ck_assert_msg(jsrv_start(&s, args) == 0, "no start (status %d)", s.status);
    sjc_open(&pr, s.port, 0);
    sjc_open(&co, s.port, 0);
    ck_assert_int_eq(sjc_short(&pr, 0, NULL, ARGV("use ws", "w", "", "no")), 0);
    pr.ack = pr.seq;
    ck_assert_int_eq(sjc_short(&co, 0, NULL, ARGV("use ws", "w", "", "no")), 0);
    co.ack = co.seq;
    for (i = 0; i < ops; i++) {
        int k, burst = 1 + (int)(jtest_rand(&seed) * 3);

        /* Send: a burst of stores, and a fetch. */
        for (k = 0; k < burst && next < ops; k++) {
            ppend[np] = (struct sj_pend){++pr.seq, 0, next++};
            sj_loop_send(&pr, &ppend[np++]);
        }
        /* A blocking fetch only when this burst stored something: a store
         * serves it, before or after it parks (and across a crash). */
        cpend[nc] =
            (struct sj_pend){++co.seq, k > 0 && jtest_rand(&seed) < 0.5 ? 2 : 1, 0};
        sj_loop_send(&co, &cpend[nc++]);
        if (jtest_rand(&seed) < 0.08) {
            double t0 = jtest_now();

            /* Half the kills that would cut a compaction let it finish first:
             * later replays start from snapshots holding the sessions. */
            if (jtest_rand(&seed) < 0.5)
                while (sj_log_count(&s, "journal: compaction started") >
                           sj_log_count(&s, "journal: compaction done") &&
                       jtest_now() - t0 < 10)
                    usleep(20000);
            /* Crash with the replies unread: right away, or a moment later. */
            if (jtest_rand(&seed) < 0.5)
                usleep((useconds_t)(jtest_rand(&seed) * 3000));
            jsrv_kill9(&s);
            kills++;
            /* The log from now on is the next server's (compactions counted). */
            cstarted += sj_log_count(&s, "journal: compaction started");
            cdone += sj_log_count(&s, "journal: compaction done");
            jsrv_log_reset(&s);
            cut += np + nc;
            rawc_close(&pr.c);
            rawc_close(&co.c);
            ck_assert_msg(jsrv_start(&s, args) == 0, "no restart (status %d)", s.status);
            sjc_open(&pr, s.port, 1);
            sjc_open(&co, s.port, 1);
            ck_assert_msg(pr.resumed && co.resumed,
                          "a session was lost in restart %d: %s", kills,
                          jsrv_log_tail(&s, 800));
            for (k = 0; k < np; k++)
                sj_loop_send(&pr, &ppend[k]);
            for (k = 0; k < nc; k++)
                sj_loop_send(&co, &cpend[k]);
        }
        sj_loop_read(&pr, ppend, &np, got, &ngot, ops);
        sj_loop_read(&co, cpend, &nc, got, &ngot, ops);
        if (next >= ops && i > ops / 2)
            break;
    }
    /* Drain what is left through the consumer. */
    for (;;) {
        int before = ngot;

        cpend[0] = (struct sj_pend){++co.seq, 1, 0};
        nc = 1;
        sj_loop_send(&co, &cpend[0]);
        sj_loop_read(&co, cpend, &nc, got, &ngot, ops);
        if (ngot == before)
            break;
    }
    printf("session crash loop (--fsync %s): %d values, %d kills, %d requests cut and "
           "sent again, %d compactions started, %d done\n",
           policy, next, kills, cut,
           cstarted + sj_log_count(&s, "journal: compaction started"),
           cdone + sj_log_count(&s, "journal: compaction done"));
    if (ngot != next) {
        char   msg[2048];
        size_t m = 0;

        for (i = 0; i < ngot && m < sizeof(msg) - 16; i++)
            if (i == 0 || got[i] != got[i - 1] + 1)
                m += (size_t)snprintf(msg + m, sizeof(msg) - m, " @%d:%d", i, got[i]);
        ck_abort_msg("%d values fetched for %d stored, %d kills; jumps:%s", ngot, next,
                     kills, msg);
    }
    for (i = 0; i < ngot; i++)
        ck_assert_msg(got[i] == i,
                      "value %d fetched as number %d (lost, twice or out of order)",
                      got[i], i);
    rawc_close(&pr.c);
    rawc_close(&co.c);
    free(got);
    jsrv_free(&s);
}

/* A kill -9 keeps what was written (the kernel has it): everysec as always. */
START_TEST(crash_loop_every_value_exactly_once)
{
    sj_crash_loop("always");
    sj_crash_loop("everysec");
}
END_TEST

NWSTEST_SUITE(session_journal)
{
    Suite *s = suite_create("session_journal");
    TCase *tc = tcase_create("restart");

    tcase_set_timeout(tc, 90);
    tcase_add_test(tc, store_resent_after_restart_applied_once);
    tcase_add_test(tc, fetch_reply_lost_in_crash_given_once);
    tcase_add_test(tc, fetch_of_spooled_value_kept_across_restart);
    tcase_add_test(tc, owned_workspace_waits_for_its_session);
    tcase_add_test(tc, ended_session_stays_ended);
    tcase_add_test(tc, compaction_keeps_sessions);
    tcase_add_test(tc, blocking_fetch_parks_again_after_restart);
    tcase_add_test(tc, reply_never_before_its_record);
    tcase_add_test(tc, held_value_survives_clean_stop);
    suite_add_tcase(s, tc);
    /* Its own case: make crash-sessions runs it alone, longer. */
    tc = tcase_create("crash");
    tcase_set_timeout(tc, 60 + (getenv("SESSJ_CRASH_OPS") != NULL
                                    ? atoi(getenv("SESSJ_CRASH_OPS")) / 5
                                    : 200));
    tcase_add_test(tc, crash_loop_every_value_exactly_once);
    suite_add_tcase(s, tc);
    return s;
}
