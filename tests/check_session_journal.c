/*
 * check_session_journal.c -- sessions survive a SIGKILL of the server and a
 * restart on the same --journal DIR and port (docs/SESSIONS.md 4,
 * server/session_journal.c): a re-sent store is applied once and answered
 * the same; a fetch whose reply died with the server gives the same value
 * once (a spooled one too: its file is kept); an owned workspace waits for
 * its session, kept when it resumes, purged when it does not; a compaction
 * keeps sessions; a session ended before the crash stays ended.
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
    const char *const  args[] = {"--resume-grace", "2", NULL};
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
    /* Past the grace (2 s) of the restored sessions and of journal_dir.c. */
    t0 = jtest_now();
    while (jtest_now() - t0 < 4)
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
    suite_add_tcase(s, tc);
    return s;
}
