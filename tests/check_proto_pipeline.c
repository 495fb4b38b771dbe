/*
 * check_proto_pipeline.c -- pipelined requests (our extension, replacing
 * quirk Q3 of nws-protocol.md section 14): requests sent back to back on
 * one connection get their replies in order, exactly one each, and a
 * blocked fetch holds every request behind it until it is served.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ptest.h"

static struct nwstest_server *pl_srv;

/* Starts a fresh server for each test. */
static void
pl_setup(void)
{
    pl_srv = ptest_start(NULL);
}

/* Stops it and checks the clean exit. */
static void
pl_teardown(void)
{
    ptest_stop(pl_srv);
}

/* Reads a pending short reply and checks status and reason. */
static void
pl_short(int line, struct rawc *c, int st, const char *why)
{
    struct rawc_reply r;

    ptest_rc(line, c, rawc_read_short(c, &r));
    ptest_is_short(line, c, &r, st, why);
    rawc_reply_free(&r);
}

/* Reads a pending long reply and checks it is the DIRECT_STRING val. */
static void
pl_value(int line, struct rawc *c, const char *val)
{
    struct rawc_reply r;

    ptest_rc(line, c, rawc_read_long(c, &r));
    ptest_is_value(line, c, &r, 1, val, strlen(val), NULL);
    rawc_reply_free(&r);
}

/* Reads a pending long reply and checks it is the long error why. */
static void
pl_lerr(int line, struct rawc *c, int st, const char *why)
{
    struct rawc_reply r;

    ptest_rc(line, c, rawc_read_long(c, &r));
    ptest_is_error(line, c, &r, st, why);
    rawc_reply_free(&r);
}

/* Reads a pending long reply and checks it is the server-made text val. */
static void
pl_text(int line, struct rawc *c, const char *val)
{
    struct rawc_reply r;

    ptest_rc(line, c, rawc_read_long(c, &r));
    ptest_is_text(line, c, &r, val);
    rawc_reply_free(&r);
}

#define PL_SHORT(c, st, why) pl_short(__LINE__, (c), (st), (why))
#define PL_VALUE(c, val)     pl_value(__LINE__, (c), (val))
#define PL_LERR(c, st, why)  pl_lerr(__LINE__, (c), (st), (why))
#define PL_TEXT(c, val)      pl_text(__LINE__, (c), (val))

/* Sends one request without metadata; the macro ends the argument list. */
#define PL_SEND(c, ...) PT_RC((c), rawc_sendv((c), NULL, __VA_ARGS__, (const char *)NULL))

START_TEST(back_to_back_requests_in_order)
{
    struct rawc c;
    char       *m = rawc_dict_new("k", "v", NULL);

    PT_OPEN(&c, pl_srv->port, RAWC_META);
    rawc_cork(&c);
    PL_SEND(&c, "use ws", "w", "", "no");
    PL_SEND(&c, "store", "w", "x", "1", "a");
    PT_RC(&c, rawc_sendv(&c, m, "store", "w", "x", "1", "b", NULL));
    PL_SEND(&c, "store", "w", "x", "1", "c");
    PL_SEND(&c, "fetchTry", "w", "x");
    PL_SEND(&c, "find", "w", "x");
    PL_SEND(&c, "frobnicate");
    PL_SEND(&c, "fetch", "w", "x");
    PL_SEND(&c, "list vars", "w");
    PL_SEND(&c, "fetchTry", "w", "nope");
    PL_SEND(&c, "store", "w", "y", "1", "z");
    PL_SEND(&c, "delete var", "w", "nothere");
    PL_SEND(&c, "fetch", "w", "y");
    PL_SEND(&c, "store", "nows", "y", "1", "z");
    PL_SEND(&c, "list wss", "w");
    PT_RC(&c, rawc_uncork(&c));
    PL_SHORT(&c, 0, NULL);
    PL_SHORT(&c, 0, NULL);
    PL_SHORT(&c, 0, NULL);
    PL_SHORT(&c, 0, NULL);
    PL_VALUE(&c, "a");
    {
        struct rawc_reply r;

        PT_RC(&c, rawc_read_long(&c, &r));
        PT_IS_VALUE(&c, &r, 1, "b", 1, m);
        rawc_reply_free(&r);
        PT_RC(&c, rawc_read_short(&c, &r));
        PT_IS_SHORT(&c, &r, 1, "Unknown verb \"frobnicate\"");
        rawc_reply_free(&r);
        PT_RC(&c, rawc_read_long(&c, &r));
        PT_IS_VALUE(&c, &r, 1, "b", 1, m);
        rawc_reply_free(&r);
    }
    PL_TEXT(&c, "x\t1\t0\t0\tfifo");
    PL_LERR(&c, 1, "no value available");
    PL_SHORT(&c, 0, NULL);
    PL_SHORT(&c, 1, "Variable \"nothere\" does not exist in workspace \"w\".");
    PL_VALUE(&c, "z");
    PL_SHORT(&c, 2001, "Workspace nows has not been opened.");
    PL_TEXT(&c, " w\t\tFalse\t3\tnope,x,y\n");
    /* Exactly one reply each: nothing more is pending. */
    ck_assert_msg(rawc_expect_silence(&c, 150) == 0, "%s", c.err);
    free(m);
    rawc_close(&c);
}
END_TEST

START_TEST(blocked_fetch_holds_what_follows)
{
    struct rawc a, b;
    char        line[128];

    PT_OPEN(&a, pl_srv->port, RAWC_META);
    PT_OPEN(&b, pl_srv->port, RAWC_META);
    PT_OK(&a, "use ws", "w", "", "no");
    PT_OK(&b, "use ws", "w", "", "no");
    rawc_cork(&a);
    PL_SEND(&a, "fetch", "w", "x");
    PL_SEND(&a, "store", "w", "y", "1", "after");
    PL_SEND(&a, "fetchTry", "w", "y");
    PL_SEND(&a, "list vars", "w");
    PT_RC(&a, rawc_uncork(&a));
    PT_WAIT_WAITERS(&b, "w", "x", 1, 0);
    ck_assert_msg(rawc_expect_silence(&a, 200) == 0, "%s", a.err);
    /* The store behind the fetch has not run. */
    ck_assert_str_eq(PT_VARLINE(&b, "w", "y", line), "");
    PT_OK(&b, "store", "w", "x", "1", "v");
    PL_VALUE(&a, "v");
    PL_SHORT(&a, 0, NULL);
    PL_VALUE(&a, "after");
    PL_TEXT(&a, "x\t0\t0\t0\tfifo\ny\t0\t0\t0\tfifo");
    ck_assert_msg(rawc_expect_silence(&a, 100) == 0, "%s", a.err);
    rawc_close(&a);
    rawc_close(&b);
}
END_TEST

START_TEST(purged_fetch_releases_what_follows)
{
    struct rawc a, b;

    PT_OPEN(&a, pl_srv->port, RAWC_META);
    PT_OPEN(&b, pl_srv->port, RAWC_META);
    PT_OK(&a, "use ws", "w", "", "no");
    PT_OK(&b, "use ws", "w", "", "no");
    rawc_cork(&a);
    PL_SEND(&a, "find", "w", "x");
    PL_SEND(&a, "fetch", "w", "x");
    PL_SEND(&a, "fetchTry", "w", "x");
    PT_RC(&a, rawc_uncork(&a));
    PT_WAIT_WAITERS(&b, "w", "x", 0, 1);
    PT_OK(&b, "delete var", "w", "x");
    PL_LERR(&a, 1, "Variable purged.");
    /* The fetch behind it now runs against a new, empty x and blocks. */
    PT_WAIT_WAITERS(&b, "w", "x", 1, 0);
    ck_assert_msg(rawc_expect_silence(&a, 100) == 0, "%s", a.err);
    PT_OK(&b, "store", "w", "x", "1", "v");
    PL_VALUE(&a, "v");
    PL_LERR(&a, 1, "no value available");
    rawc_close(&a);
    rawc_close(&b);
}
END_TEST

START_TEST(many_large_replies_with_flow_control)
{
    enum { NREQ = 1000, VSZ = 16 * 1024 };
    struct rawc       a;
    struct rawc_reply r;
    char             *va = malloc(VSZ), *vb = malloc(VSZ);
    const char       *argv[5];
    size_t            lens[5];
    pid_t             pid;
    int               i, st;

    ptest_pattern(va, VSZ, 0);
    ptest_pattern(vb, VSZ, VSZ);
    PT_OPEN(&a, pl_srv->port, RAWC_PLAIN);
    PT_OK(&a, "use ws", "w", "", "no");
    argv[0] = "store";
    argv[1] = "w";
    argv[2] = "a";
    argv[3] = "3";
    argv[4] = va;
    for (i = 0; i < 4; i++)
        lens[i] = strlen(argv[i]);
    lens[4] = VSZ;
    PT_RC(&a, rawc_send(&a, NULL, 0, 5, argv, lens));
    PT_RC(&a, rawc_read_short(&a, &r));
    PT_IS_SHORT(&a, &r, 0, NULL);
    rawc_reply_free(&r);
    argv[2] = "b";
    argv[4] = vb;
    PT_RC(&a, rawc_send(&a, NULL, 0, 5, argv, lens));
    PT_RC(&a, rawc_read_short(&a, &r));
    PT_IS_SHORT(&a, &r, 0, NULL);
    rawc_reply_free(&r);
    /* A child writes all requests while we read: 16 MB of replies. */
    pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        rawc_cork(&a);
        for (i = 0; i < NREQ; i++)
            rawc_sendv(&a, NULL, "findTry", "w", i % 2 ? "b" : "a", NULL);
        _exit(rawc_uncork(&a) == 0 ? 0 : 1);
    }
    for (i = 0; i < NREQ; i++) {
        PT_RC(&a, rawc_read_long(&a, &r));
        ck_assert_msg(r.status == 0 && r.len == VSZ &&
                          memcmp(r.value, i % 2 ? vb : va, VSZ) == 0,
                      "reply %d out of order or damaged", i);
        rawc_reply_free(&r);
    }
    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "writer failed");
    ck_assert_msg(rawc_expect_silence(&a, 100) == 0, "%s", a.err);
    free(va);
    free(vb);
    rawc_close(&a);
}
END_TEST

NWSTEST_SUITE(proto_pipeline)
{
    Suite *s = suite_create("proto_pipeline");
    TCase *tc = tcase_create("pipelining");

    tcase_add_checked_fixture(tc, pl_setup, pl_teardown);
    tcase_set_timeout(tc, 20);
    tcase_add_test(tc, back_to_back_requests_in_order);
    tcase_add_test(tc, blocked_fetch_holds_what_follows);
    tcase_add_test(tc, purged_fetch_releases_what_follows);
    tcase_add_test(tc, many_large_replies_with_flow_control);
    suite_add_tcase(s, tc);
    return s;
}
