/*
 * check_session_proto.c -- resumable sessions on the wire (docs/SESSIONS.md
 * sections 1-3), through rawc against a real server: the handshake (new,
 * resume, a wrong token, --no-sessions), requests re-sent after a cut
 * (applied once, answered the same, a fetched value neither lost nor given
 * twice, a blocking fetch keeping its place), a take-over, expiry, `end
 * session`, and the limit of unacknowledged replies.
 *
 * A "cut" closes the client's socket after the server has answered (the
 * reply is waiting, unread, in the client's socket): the request was
 * applied and its reply lost with the connection.
 */
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "nwstest.h"
#include "ptest.h"
#include "rawc.h"
#include "util.h"

static struct nwstest_server *ss_srv;

static void
ss_setup(void)
{
    static const char *const extra[] = {"--resume-grace", "3", NULL};

    ss_srv = ptest_start(extra);
}

static void
ss_teardown(void)
{
    ptest_stop(ss_srv);
}

#define SS_NEW(c, kind)                                                                  \
    ck_assert_msg(rawc_session_new((c), ss_srv->port, (kind)) == 0, "session: %s",       \
                  (c)->err)
#define SS_RESUME(c)                                                                     \
    ck_assert_msg(rawc_session_resume((c), ss_srv->port) == 0, "resume: %s", (c)->err)

/* Waits until the reply to what c sent is in c's socket, unread (bounded). */
static void
ss_wait_reply(struct rawc *c)
{
    struct pollfd pfd = {.fd = c->fd, .events = POLLIN};

    ck_assert_msg(poll(&pfd, 1, PTEST_SOON_MS) == 1, "no reply within %d ms",
                  PTEST_SOON_MS);
}

/* Waits until n bytes of replies are in c's socket, unread (bounded). */
static void
ss_wait_bytes(struct rawc *c, size_t n)
{
    static char buf[65536];
    double      end = nwsp_mono() + PTEST_SOON_MS / 1000.0;
    ssize_t     got = 0;

    while (nwsp_mono() < end &&
           (got = recv(c->fd, buf, sizeof(buf), MSG_PEEK | MSG_DONTWAIT)) < (ssize_t)n)
        usleep(10000);
    ck_assert_msg(got >= (ssize_t)n, "%zd bytes of replies came, not %zu", got, n);
}

/* A figure of "server info" (through a classic connection), or -1. */
static long
ss_info(const char *key)
{
    struct rawc       c;
    struct rawc_reply r;
    char              pat[64];
    const char       *p;
    long              v = -1;

    PT_OPEN(&c, ss_srv->port, RAWC_META);
    ck_assert_msg(rawc_sendv(&c, NULL, "server info", NULL) == 0, "%s", c.err);
    ck_assert_msg(rawc_read_short(&c, &r) == 0, "%s", c.err);
    snprintf(pat, sizeof(pat), "\"%s\":", key);
    if (r.meta != NULL && (p = strstr(r.meta, pat)) != NULL)
        v = strtol(p + strlen(pat), NULL, 10);
    rawc_reply_free(&r);
    rawc_close(&c);
    return v;
}

/* Polls "server info" until key is want (bounded). */
static void
ss_wait_info(const char *key, long want)
{
    double end = nwsp_mono() + 10;
    long   v;

    while ((v = ss_info(key)) != want && nwsp_mono() < end)
        usleep(20000);
    ck_assert_msg(v == want, "server info %s is %ld, not %ld", key, v, want);
}

START_TEST(new_session_and_resume)
{
    struct rawc a;
    char        id[17];

    SS_NEW(&a, RAWC_PLAIN);
    ck_assert_int_eq(a.sess_resumed, 0);
    ck_assert_int_eq(a.sess_grace, 3);
    memcpy(id, a.sess_id, sizeof(id));
    PT_OK(&a, "open ws", "s1", "1", "no");
    PT_OK(&a, "store", "s1", "x", "1", "v");
    /* The socket goes; the owned workspace waits for the session. */
    SS_RESUME(&a);
    ck_assert_msg(a.sess_resumed == 1, "session not resumed");
    ck_assert_str_eq(a.sess_id, id);
    PT_VALUE(&a, "v", "fetch", "s1", "x");
    PT_OK(&a, "store", "s1", "x", "1", "w");
    rawc_close(&a);
    /* Detached this time (the server noticed the close first). */
    ss_wait_info("sessions_detached", 1);
    SS_RESUME(&a);
    ck_assert_msg(a.sess_resumed == 1, "session not resumed after a detach");
    PT_VALUE(&a, "w", "fetch", "s1", "x");
    rawc_close(&a);
}
END_TEST

START_TEST(wrong_token_is_a_new_session)
{
    struct rawc a, b;
    char        bad[33];

    SS_NEW(&a, RAWC_META);
    PT_OK(&a, "open ws", "own", "1", "no");
    memcpy(bad, a.sess_token, sizeof(bad));
    bad[0] = bad[0] == 'a' ? 'b' : 'a';
    SS_NEW(&b, RAWC_META);
    ck_assert_msg(rawc_session_resume_as(&b, ss_srv->port, a.sess_id, bad) == 0, "%s",
                  b.err);
    ck_assert_msg(b.sess_resumed == 0, "a wrong token resumed the session");
    ck_assert_msg(strcmp(b.sess_id, a.sess_id) != 0, "a wrong token got the same id");
    /* Not a hint: an unknown id is answered the same way. */
    ck_assert_msg(rawc_session_resume_as(&b, ss_srv->port, "0123456789abcdef", bad) == 0,
                  "%s", b.err);
    ck_assert_int_eq(b.sess_resumed, 0);
    /* A resume must ask for the metadata options of the session's start. */
    a.sess_kind = RAWC_PLAIN;
    ck_assert_msg(rawc_session_resume(&a, ss_srv->port) == 1,
                  "a resume with other metadata options was not denied: %s", a.err);
    a.sess_kind = RAWC_META;
    /* The real owner is not harmed. */
    SS_RESUME(&a);
    ck_assert_int_eq(a.sess_resumed, 1);
    PT_OK(&a, "store", "own", "x", "1", "v");
    rawc_close(&a);
    rawc_close(&b);
}
END_TEST

START_TEST(store_resent_applied_once)
{
    struct rawc a;

    SS_NEW(&a, RAWC_PLAIN);
    PT_OK(&a, "open ws", "st", "1", "no");
    ck_assert_msg(rawc_sendv(&a, NULL, "store", "st", "x", "1", "a", NULL) == 0, "%s",
                  a.err);
    ss_wait_reply(&a);
    SS_RESUME(&a);
    ck_assert_int_eq(a.sess_resumed, 1);
    rawc_session_rewind(&a);
    PT_OK(&a, "store", "st", "x", "1", "a"); /* the same request, the same answer */
    PT_VALUE(&a, "a", "fetchTry", "st", "x");
    PT_NOVAL(&a, "fetchTry", "st", "x");
    rawc_close(&a);
}
END_TEST

START_TEST(fetch_resent_same_value)
{
    struct rawc       a, b;
    struct rawc_reply r1, r2;

    SS_NEW(&a, RAWC_PLAIN);
    PT_OK(&a, "open ws", "fe", "1", "no");
    PT_OK(&a, "store", "fe", "x", "1", "a");
    PT_OK(&a, "store", "fe", "x", "1", "b");
    ck_assert_msg(rawc_sendv(&a, NULL, "fetch", "fe", "x", NULL) == 0, "%s", a.err);
    ss_wait_reply(&a);
    ck_assert_msg(rawc_read_long(&a, &r1) == 0, "%s", a.err);
    /* The reply was read, but the client does not know it (acknowledge nothing). */
    a.sess_ack--;
    SS_RESUME(&a);
    rawc_session_rewind(&a);
    PT_LONG(&a, &r2, "fetch", "fe", "x");
    PT_IS_VALUE(&a, &r2, 1, "a", 1, NULL);
    ck_assert_str_eq(r1.raw_index, r2.raw_index);
    ck_assert_str_eq(r1.varid, r2.varid);
    rawc_reply_free(&r1);
    rawc_reply_free(&r2);
    /* The reply lost with the connection comes again, never read this time. */
    ck_assert_msg(rawc_sendv(&a, NULL, "fetch", "fe", "x", NULL) == 0, "%s", a.err);
    ss_wait_reply(&a);
    SS_RESUME(&a);
    rawc_session_rewind(&a);
    PT_VALUE(&a, "b", "fetch", "fe", "x");
    PT_NOVAL(&a, "fetchTry", "fe", "x");
    /* Nobody else sees a value either. */
    PT_OPEN(&b, ss_srv->port, RAWC_PLAIN);
    PT_OK(&b, "use ws", "fe", "", "no");
    PT_NOVAL(&b, "fetchTry", "fe", "x");
    rawc_close(&b);
    rawc_close(&a);
}
END_TEST

START_TEST(blocking_fetch_keeps_its_place)
{
    struct rawc a, b, s;

    PT_OPEN(&s, ss_srv->port, RAWC_PLAIN);
    PT_OK(&s, "open ws", "bl", "1", "no");
    SS_NEW(&a, RAWC_PLAIN);
    PT_OK(&a, "use ws", "bl", "", "no");
    PT_OPEN(&b, ss_srv->port, RAWC_PLAIN);
    PT_OK(&b, "use ws", "bl", "", "no");
    ck_assert_msg(rawc_sendv(&a, NULL, "fetch", "bl", "x", NULL) == 0, "%s", a.err);
    ptest_wait_waiters(__LINE__, &s, "bl", "x", 1, 0);
    ck_assert_msg(rawc_sendv(&b, NULL, "fetch", "bl", "x", NULL) == 0, "%s", b.err);
    ptest_wait_waiters(__LINE__, &s, "bl", "x", 2, 0);
    /* A's transport goes; its fetch is still first. */
    rawc_close(&a);
    ss_wait_info("sessions_detached", 1);
    PT_OK(&s, "store", "bl", "x", "1", "first");
    SS_RESUME(&a);
    rawc_session_rewind(&a);
    PT_VALUE(&a, "first", "fetch", "bl", "x");
    ck_assert_msg(rawc_expect_silence(&b, 200) == 0, "B was served: %s", b.err);
    /* Resumed while parked: the re-sent fetch keeps its place too. */
    {
        struct rawc       c;
        struct rawc_reply r;

        ck_assert_msg(rawc_sendv(&a, NULL, "fetch", "bl", "y", NULL) == 0, "%s", a.err);
        ptest_wait_waiters(__LINE__, &s, "bl", "y", 1, 0);
        PT_OPEN(&c, ss_srv->port, RAWC_PLAIN);
        PT_OK(&c, "use ws", "bl", "", "no");
        ck_assert_msg(rawc_sendv(&c, NULL, "fetch", "bl", "y", NULL) == 0, "%s", c.err);
        ptest_wait_waiters(__LINE__, &s, "bl", "y", 2, 0);
        SS_RESUME(&a);
        rawc_session_rewind(&a);
        ck_assert_msg(rawc_sendv(&a, NULL, "fetch", "bl", "y", NULL) == 0, "%s", a.err);
        PT_OK(&s, "store", "bl", "y", "1", "one");
        ck_assert_msg(rawc_read_long(&a, &r) == 0, "A: %s", a.err);
        PT_IS_STR(&a, &r, "one");
        rawc_reply_free(&r);
        ck_assert_msg(rawc_expect_silence(&c, 200) == 0, "C was served: %s", c.err);
        ptest_wait_waiters(__LINE__, &s, "bl", "y", 1, 0);
        PT_OK(&s, "store", "bl", "y", "1", "two");
        ck_assert_msg(rawc_read_long(&c, &r) == 0, "C: %s", c.err);
        PT_IS_STR(&c, &r, "two");
        rawc_reply_free(&r);
        rawc_close(&c);
    }
    PT_OK(&s, "store", "bl", "x", "1", "second");
    {
        struct rawc_reply r;

        ck_assert_msg(rawc_read_long(&b, &r) == 0, "B: %s", b.err);
        PT_IS_STR(&b, &r, "second");
        rawc_reply_free(&r);
    }
    rawc_close(&a);
    rawc_close(&b);
    rawc_close(&s);
}
END_TEST

START_TEST(take_over_attached_session)
{
    struct rawc a, b;

    SS_NEW(&a, RAWC_PLAIN);
    PT_OK(&a, "open ws", "to", "1", "no");
    PT_OK(&a, "store", "to", "x", "1", "v");
    b = a;
    b.fd = -1;
    b.adv = NULL;
    b.cork = NULL;
    ck_assert_msg(rawc_session_resume(&b, ss_srv->port) == 0, "%s", b.err);
    ck_assert_int_eq(b.sess_resumed, 1);
    ck_assert_msg(rawc_expect_eof(&a, PTEST_SOON_MS) == 0, "old connection: %s", a.err);
    PT_VALUE(&b, "v", "fetch", "to", "x");
    rawc_close(&a);
    rawc_close(&b);
}
END_TEST

START_TEST(expiry_purges_and_puts_back)
{
    struct rawc a, s;

    PT_OPEN(&s, ss_srv->port, RAWC_PLAIN);
    PT_OK(&s, "open ws", "kept", "1", "no");
    SS_NEW(&a, RAWC_PLAIN);
    PT_OK(&a, "open ws", "mine", "1", "no");
    PT_OK(&a, "use ws", "kept", "", "no");
    ck_assert_msg(rawc_sendv(&a, NULL, "fetch", "kept", "q", NULL) == 0, "%s", a.err);
    ptest_wait_waiters(__LINE__, &s, "kept", "q", 1, 0);
    rawc_close(&a);
    ss_wait_info("sessions_detached", 1);
    /* Served while detached: its reply is kept, never written. */
    PT_OK(&s, "store", "kept", "q", "1", "v");
    ptest_wait_ws(__LINE__, &s, "mine", 1);
    /* --resume-grace 3: the session ends as a close: purge, and the value goes back. */
    ss_wait_info("sessions", 0);
    ptest_wait_ws(__LINE__, &s, "mine", 0);
    PT_VALUE(&s, "v", "fetchTry", "kept", "q");
    SS_RESUME(&a);
    ck_assert_int_eq(a.sess_resumed, 0);
    rawc_close(&a);
    rawc_close(&s);
}
END_TEST

START_TEST(end_session_is_a_close)
{
    struct rawc a, s;

    PT_OPEN(&s, ss_srv->port, RAWC_PLAIN);
    SS_NEW(&a, RAWC_PLAIN);
    PT_OK(&a, "open ws", "gone", "1", "no");
    PT_OK(&a, "end session");
    ck_assert_msg(rawc_expect_eof(&a, PTEST_SOON_MS) == 0, "%s", a.err);
    ptest_wait_ws(__LINE__, &s, "gone", 0);
    SS_RESUME(&a);
    ck_assert_int_eq(a.sess_resumed, 0);
    rawc_close(&a);
    /* A classic connection has no session to end. */
    PT_SHORT(&s, 1, "This connection carries no session.", "end session");
    rawc_close(&s);
}
END_TEST

START_TEST(classic_handshakes_unchanged)
{
    static const char *const none[] = {NULL};
    static const char *const ask[] = {"NwsSession", "new", NULL};
    static const char *const extra[] = {"--no-sessions", NULL};
    struct nwstest_server   *plain;
    struct rawc              c;
    const char              *v;
    size_t                   vlen;

    /* Advertised with the empty value; a classic client asks nothing. */
    PT_OPEN(&c, ss_srv->port, RAWC_NONE);
    ck_assert_msg(rawc_hs_new(&c, none) == 0, "%s", c.err);
    ck_assert_msg(rawc_dict_get(c.adv, c.adv_len, "NwsSession", &v, &vlen) && vlen == 0,
                  "NwsSession not advertised");
    PT_OK(&c, "open ws", "cl", "1", "no");
    PT_OK(&c, "store", "cl", "x", "1", "v");
    PT_VALUE(&c, "v", "fetch", "cl", "x");
    rawc_close(&c);
    PT_OPEN(&c, ss_srv->port, RAWC_OLD_COOKIE);
    PT_OK(&c, "open ws", "cl2", "1", "no");
    rawc_close(&c);
    /* --no-sessions: not advertised, and asking is an unknown option. */
    plain = ptest_start(extra);
    PT_OPEN(&c, plain->port, RAWC_NONE);
    ck_assert_msg(rawc_hs_new(&c, ask) == 1, "NwsSession granted with --no-sessions");
    ck_assert_msg(!rawc_dict_get(c.adv, c.adv_len, "NwsSession", &v, &vlen),
                  "NwsSession advertised with --no-sessions");
    rawc_close(&c);
    ptest_stop(plain);
}
END_TEST

START_TEST(bad_numbers_close_the_connection)
{
    struct rawc       a;
    struct rawc_reply r;
    uint64_t          seq0, ack0;

    SS_NEW(&a, RAWC_PLAIN);
    PT_OK(&a, "open ws", "bn", "1", "no");
    seq0 = a.sess_seq;
    ack0 = a.sess_ack;

    /* A gap in the numbers. */
    a.sess_seq += 5;
    ck_assert_msg(rawc_sendv(&a, NULL, "store", "bn", "x", "1", "v", NULL) == 0, "%s",
                  a.err);
    ck_assert_msg(rawc_read_short(&a, &r) == 0, "%s", a.err);
    ck_assert_int_eq(r.status, 1);
    rawc_reply_free(&r);
    ck_assert_msg(rawc_expect_eof(&a, PTEST_SOON_MS) == 0, "%s", a.err);
    /* The session stays: resumed, nothing was run. */
    a.sess_seq = seq0;
    a.sess_ack = ack0;
    SS_RESUME(&a);
    ck_assert_int_eq(a.sess_resumed, 1);
    PT_NOVAL(&a, "fetchTry", "bn", "x");
    /* An acknowledgement of a reply never sent. */
    a.sess_ack += 10;
    ck_assert_msg(rawc_sendv(&a, NULL, "fetchTry", "bn", "x", NULL) == 0, "%s", a.err);
    ck_assert_msg(rawc_read_short(&a, &r) == 0, "%s", a.err);
    ck_assert_int_eq(r.status, 1);
    rawc_reply_free(&r);
    ck_assert_msg(rawc_expect_eof(&a, PTEST_SOON_MS) == 0, "%s", a.err);
    rawc_close(&a);
}
END_TEST

START_TEST(unacknowledged_replies_are_bounded)
{
    struct rawc       a;
    struct rawc_reply r;
    int               i;

    SS_NEW(&a, RAWC_PLAIN);
    PT_OK(&a, "open ws", "lim", "1", "no");
    rawc_cork(&a);
    for (i = 0; i < 4097; i++) {
        a.sess_ack = 1; /* never acknowledges past the open */
        ck_assert_msg(rawc_sendv(&a, NULL, "store", "lim", "x", "1", "v", NULL) == 0,
                      "%s", a.err);
    }
    ck_assert_msg(rawc_uncork(&a) == 0, "%s", a.err);
    for (i = 0; i < 4096; i++) {
        ck_assert_msg(rawc_read_short(&a, &r) == 0, "reply %d: %s", i, a.err);
        ck_assert_msg(r.status == 0, "store %d refused", i);
        rawc_reply_free(&r);
    }
    ck_assert_msg(rawc_read_short(&a, &r) == 0, "%s", a.err);
    ck_assert_msg(r.status == 1, "the 4097th unacknowledged reply was kept");
    rawc_reply_free(&r);
    /* Acknowledging frees them. */
    a.sess_ack = a.sess_seq;
    PT_OK(&a, "store", "lim", "y", "1", "v");
    rawc_close(&a);
}
END_TEST

/* A large value (sent by reference, or from its spool file) and metadata:
 * the reply sent again is the same bytes. */
static void
ss_large(int port)
{
    struct rawc       a;
    struct rawc_reply r1, r2;
    static char       big[300000];
    const char       *argv[5];
    size_t            lens[5];
    char             *meta = rawc_dict_new("k", "v", NULL);

    memset(big, 'z', sizeof(big));
    big[0] = 'A';
    big[sizeof(big) - 1] = 'Z';
    ck_assert_msg(rawc_session_new(&a, port, RAWC_META) == 0, "%s", a.err);
    PT_OK(&a, "open ws", "lg", "1", "no");
    argv[0] = "store";
    argv[1] = "lg";
    argv[2] = "x";
    argv[3] = "1";
    argv[4] = big;
    lens[0] = 5;
    lens[1] = 2;
    lens[2] = 1;
    lens[3] = 1;
    lens[4] = sizeof(big);
    ck_assert_msg(rawc_send(&a, meta, strlen(meta), 5, argv, lens) == 0, "%s", a.err);
    ck_assert_msg(rawc_read_short(&a, &r1) == 0, "%s", a.err);
    ck_assert_int_eq(r1.status, 0);
    rawc_reply_free(&r1);
    ck_assert_msg(rawc_sendv(&a, NULL, "fetch", "lg", "x", NULL) == 0, "%s", a.err);
    ck_assert_msg(rawc_read_long(&a, &r1) == 0, "%s", a.err);
    a.sess_ack--; /* read, not acknowledged: sent again after the cut */
    ck_assert_msg(rawc_session_resume(&a, port) == 0, "%s", a.err);
    rawc_session_rewind(&a);
    ck_assert_msg(rawc_sendv(&a, NULL, "fetch", "lg", "x", NULL) == 0, "%s", a.err);
    ck_assert_msg(rawc_read_long(&a, &r2) == 0, "%s", a.err);
    ck_assert_msg(r2.len == sizeof(big) && memcmp(r2.value, big, sizeof(big)) == 0,
                  "the value sent again differs");
    ck_assert_msg(r1.meta_len == r2.meta_len &&
                      memcmp(r1.meta, r2.meta, r1.meta_len) == 0,
                  "the metadata sent again differs");
    ck_assert_str_eq(r1.raw_index, r2.raw_index);
    rawc_reply_free(&r1);
    rawc_reply_free(&r2);
    PT_NOVAL(&a, "fetchTry", "lg", "x");
    free(meta);
    rawc_close(&a);
}

START_TEST(large_value_with_metadata_resent)
{
    static const char *const extra[] = {"--spool-threshold", "100K", NULL};
    struct nwstest_server   *spool;

    ss_large(ss_srv->port);
    spool = ptest_start(extra);
    ss_large(spool->port);
    ptest_stop(spool);
}
END_TEST

/* At the end of a session, a value whose reply was written whole counts as delivered. */
START_TEST(expiry_keeps_delivered_values_out)
{
    struct rawc       a, s;
    struct rawc_reply r;

    PT_OPEN(&s, ss_srv->port, RAWC_PLAIN);
    PT_OK(&s, "open ws", "dl", "1", "no");
    PT_OK(&s, "store", "dl", "q", "1", "got");
    SS_NEW(&a, RAWC_PLAIN);
    PT_OK(&a, "use ws", "dl", "", "no");
    ck_assert_msg(rawc_sendv(&a, NULL, "fetch", "dl", "q", NULL) == 0, "%s", a.err);
    ck_assert_msg(rawc_read_long(&a, &r) == 0, "%s", a.err);
    PT_IS_STR(&a, &r, "got");
    rawc_reply_free(&r);
    /* Never acknowledged: the session ends with the reply kept, but written. */
    rawc_close(&a);
    ss_wait_info("sessions_detached", 1);
    ss_wait_info("sessions", 0);
    PT_NOVAL(&s, "fetchTry", "dl", "q");
    rawc_close(&s);
}
END_TEST

/* A read re-sent before a parked fetch runs again; the fetch keeps its reply to come. */
START_TEST(read_resent_beside_a_parked_fetch)
{
    struct rawc a, s;

    PT_OPEN(&s, ss_srv->port, RAWC_PLAIN);
    PT_OK(&s, "open ws", "rr", "1", "no");
    SS_NEW(&a, RAWC_PLAIN);
    PT_OK(&a, "use ws", "rr", "", "no");
    PT_OK(&a, "store", "rr", "x", "1", "a");
    ck_assert_msg(rawc_sendv(&a, NULL, "findTry", "rr", "x", NULL) == 0, "%s", a.err);
    ck_assert_msg(rawc_sendv(&a, NULL, "fetch", "rr", "y", NULL) == 0, "%s", a.err);
    ptest_wait_waiters(__LINE__, &s, "rr", "y", 1, 0);
    SS_RESUME(&a);
    ck_assert_int_eq(a.sess_resumed, 1);
    rawc_session_rewind(&a);
    PT_VALUE(&a, "a", "findTry", "rr", "x");
    ck_assert_msg(rawc_sendv(&a, NULL, "fetch", "rr", "y", NULL) == 0, "%s", a.err);
    ck_assert_msg(rawc_expect_silence(&a, 200) == 0, "the parked fetch answered: %s",
                  a.err);
    PT_OK(&s, "store", "rr", "y", "1", "v");
    {
        struct rawc_reply r;

        ck_assert_msg(rawc_read_long(&a, &r) == 0, "%s", a.err);
        PT_IS_STR(&a, &r, "v");
        rawc_reply_free(&r);
    }
    PT_NOVAL(&a, "fetchTry", "rr", "y");
    rawc_close(&a);
    rawc_close(&s);
}
END_TEST

/* A session's conn that said `deadman` still stops the server when it closes. */
START_TEST(deadman_session_stops_the_server)
{
    struct nwstest_server *d = ptest_start(NULL);
    struct rawc            a;
    int                    st;

    ck_assert_msg(rawc_session_new(&a, d->port, RAWC_PLAIN) == 0, "%s", a.err);
    PT_OK(&a, "deadman");
    rawc_close(&a);
    st = ptest_wait_exit(d, PTEST_SOON_MS);
    ck_assert_msg(st != -1, "the server did not exit when the deadman session closed");
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "wait status %d", st);
    nwstest_server_stop(d);
}
END_TEST

/* Pipelined stores and a fetch, all applied, cut before a reply is read: re-sent, each once. */
START_TEST(pipeline_resent_applied_once)
{
    struct rawc       a;
    struct rawc_reply r;
    char              v[16];
    int               i;

    SS_NEW(&a, RAWC_PLAIN);
    PT_OK(&a, "open ws", "pl", "1", "no");
    rawc_cork(&a);
    for (i = 0; i < 5; i++) {
        snprintf(v, sizeof(v), "v%d", i);
        ck_assert_msg(rawc_sendv(&a, NULL, "store", "pl", "x", "1", v, NULL) == 0, "%s",
                      a.err);
    }
    ck_assert_msg(rawc_sendv(&a, NULL, "fetch", "pl", "x", NULL) == 0, "%s", a.err);
    ck_assert_msg(rawc_uncork(&a) == 0, "%s", a.err);
    /* All six answered, their replies unread (5 short, one long of 2 bytes), then the cut. */
    ss_wait_bytes(&a, 5 * 4 + 4 + 4 * 20 + 2);
    SS_RESUME(&a);
    ck_assert_int_eq(a.sess_resumed, 1);
    rawc_session_rewind(&a);
    rawc_cork(&a);
    for (i = 0; i < 5; i++) {
        snprintf(v, sizeof(v), "v%d", i);
        ck_assert_msg(rawc_sendv(&a, NULL, "store", "pl", "x", "1", v, NULL) == 0, "%s",
                      a.err);
    }
    ck_assert_msg(rawc_sendv(&a, NULL, "fetch", "pl", "x", NULL) == 0, "%s", a.err);
    ck_assert_msg(rawc_uncork(&a) == 0, "%s", a.err);
    for (i = 0; i < 5; i++) {
        ck_assert_msg(rawc_read_short(&a, &r) == 0, "%s", a.err);
        ck_assert_int_eq(r.status, 0);
        rawc_reply_free(&r);
    }
    ck_assert_msg(rawc_read_long(&a, &r) == 0, "%s", a.err);
    PT_IS_STR(&a, &r, "v0");
    rawc_reply_free(&r);
    for (i = 1; i < 5; i++) {
        snprintf(v, sizeof(v), "v%d", i);
        PT_VALUE(&a, v, "fetchTry", "pl", "x");
    }
    PT_NOVAL(&a, "fetchTry", "pl", "x");
    rawc_close(&a);
}
END_TEST

/*
 * A client whose connection is parked in fetches ends its session from a
 * new connection: `end session` runs whatever its number, the parked fetch
 * waits no more, and a value handed to it while detached goes back.
 */
START_TEST(end_session_while_parked)
{
    struct rawc a, s, b;

    PT_OPEN(&s, ss_srv->port, RAWC_PLAIN);
    PT_OK(&s, "open ws", "ep", "1", "no");
    SS_NEW(&a, RAWC_PLAIN);
    PT_OK(&a, "use ws", "ep", "", "no");
    PT_OK(&a, "open ws", "epown", "1", "no");
    rawc_cork(&a);
    ck_assert_msg(rawc_sendv(&a, NULL, "fetch", "ep", "x", NULL) == 0, "%s", a.err);
    ck_assert_msg(rawc_sendv(&a, NULL, "fetch", "ep", "x", NULL) == 0, "%s", a.err);
    ck_assert_msg(rawc_uncork(&a) == 0, "%s", a.err);
    ptest_wait_waiters(__LINE__, &s, "ep", "x", 1, 0);
    rawc_close(&a);
    ss_wait_info("sessions_detached", 1);
    /* Handed to the detached session's parked fetch: kept, never written. */
    PT_OK(&s, "store", "ep", "x", "1", "v");
    SS_RESUME(&a);
    ck_assert_int_eq(a.sess_resumed, 1);
    PT_OK(&a, "end session"); /* seq: past both fetches, the second never read */
    ck_assert_msg(rawc_expect_eof(&a, PTEST_SOON_MS) == 0, "%s", a.err);
    ptest_wait_ws(__LINE__, &s, "epown", 0);
    ck_assert_int_eq(ss_info("sessions"), 0);
    /* The value came back, and nobody waits for x any more. */
    PT_OPEN(&b, ss_srv->port, RAWC_PLAIN);
    PT_OK(&b, "use ws", "ep", "", "no");
    PT_VALUE(&b, "v", "fetchTry", "ep", "x");
    ptest_wait_waiters(__LINE__, &s, "ep", "x", 0, 0);
    rawc_close(&b);
    rawc_close(&a);
    rawc_close(&s);
}
END_TEST

NWSTEST_SUITE(session_proto)
{
    Suite *s = suite_create("session_proto");
    TCase *tc = tcase_create("session");

    tcase_add_checked_fixture(tc, ss_setup, ss_teardown);
    tcase_set_timeout(tc, 40);
    tcase_add_test(tc, new_session_and_resume);
    tcase_add_test(tc, wrong_token_is_a_new_session);
    tcase_add_test(tc, store_resent_applied_once);
    tcase_add_test(tc, fetch_resent_same_value);
    tcase_add_test(tc, blocking_fetch_keeps_its_place);
    tcase_add_test(tc, take_over_attached_session);
    tcase_add_test(tc, expiry_purges_and_puts_back);
    tcase_add_test(tc, end_session_is_a_close);
    tcase_add_test(tc, classic_handshakes_unchanged);
    tcase_add_test(tc, bad_numbers_close_the_connection);
    tcase_add_test(tc, unacknowledged_replies_are_bounded);
    tcase_add_test(tc, large_value_with_metadata_resent);
    tcase_add_test(tc, expiry_keeps_delivered_values_out);
    tcase_add_test(tc, read_resent_beside_a_parked_fetch);
    tcase_add_test(tc, deadman_session_stops_the_server);
    tcase_add_test(tc, pipeline_resent_applied_once);
    tcase_add_test(tc, end_session_while_parked);
    suite_add_tcase(s, tc);
    return s;
}
