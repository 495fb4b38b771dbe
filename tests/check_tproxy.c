/*
 * check_tproxy.c -- the test proxy (tproxy.h) itself, against a real
 * server through raw clients: it forwards, a cut closes what it carries
 * (and only the connection asked for, by number or by client port), a
 * pause refuses new connections, and an armed cut falls at an exact byte.
 */
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

#include "nwstest.h"
#include "ptest.h"
#include "rawc.h"
#include "tproxy.h"

static struct nwstest_server *tp_srv;

static void
tp_setup(void)
{
    tp_srv = ptest_start(NULL);
}

static void
tp_teardown(void)
{
    ptest_stop(tp_srv);
}

/* The local port of c's socket: what the proxy sees as its peer. */
static int
tp_local_port(const struct rawc *c)
{
    struct sockaddr_in a;
    socklen_t          alen = sizeof(a);

    ck_assert_int_eq(getsockname(c->fd, (struct sockaddr *)&a, &alen), 0);
    return ntohs(a.sin_port);
}

START_TEST(tproxy_forwards_and_cuts)
{
    struct tproxy *p = tproxy_start(tp_srv->port);
    struct rawc    a, b, d;

    ck_assert_ptr_nonnull(p);
    PT_OPEN(&a, tproxy_port(p), RAWC_PLAIN);
    PT_OPEN(&b, tproxy_port(p), RAWC_PLAIN);
    PT_OK(&a, "use ws", "w", "", "no");
    PT_OK(&b, "use ws", "w", "", "no");
    PT_OK(&a, "store", "w", "x", "1", "hello");
    PT_VALUE(&b, "hello", "fetch", "w", "x");
    ck_assert_int_eq(tproxy_accepted(p), 2);
    ck_assert_int_eq(tproxy_open(p), 2);
    ck_assert_int_eq(tproxy_cut(p), 2);
    ck_assert_int_eq(tproxy_open(p), 0);
    PT_RC(&a, rawc_expect_eof(&a, PTEST_SOON_MS));
    PT_RC(&b, rawc_expect_eof(&b, PTEST_SOON_MS));
    rawc_close(&a);
    rawc_close(&b);

    /* One connection alone, by number then by port. */
    PT_OPEN(&a, tproxy_port(p), RAWC_PLAIN);
    PT_OPEN(&b, tproxy_port(p), RAWC_PLAIN);
    PT_OPEN(&d, tproxy_port(p), RAWC_PLAIN);
    ck_assert_int_eq(tproxy_cut_conn(p, 2), 1);
    ck_assert_int_eq(tproxy_cut_conn(p, 2), 0);
    ck_assert_int_eq(tproxy_cut_port(p, tp_local_port(&d)), 1);
    PT_RC(&a, rawc_expect_eof(&a, PTEST_SOON_MS));
    PT_RC(&d, rawc_expect_eof(&d, PTEST_SOON_MS));
    PT_OK(&b, "use ws", "w", "", "no");
    PT_OK(&b, "store", "w", "x", "1", "still");
    ck_assert_int_eq(tproxy_open(p), 1);
    ck_assert_int_eq(tproxy_cuts(p), 3);
    rawc_close(&a);
    rawc_close(&b);
    rawc_close(&d);
    tproxy_stop(p);
}
END_TEST

START_TEST(tproxy_pause_refuses)
{
    struct tproxy *p = tproxy_start(tp_srv->port);
    struct rawc    a;

    ck_assert_ptr_nonnull(p);
    tproxy_pause(p);
    ck_assert_int_ne(rawc_open(&a, tproxy_port(p), RAWC_PLAIN), 0);
    rawc_close(&a);
    ck_assert_int_eq(tproxy_accepted(p), 0);
    tproxy_resume(p);
    PT_OPEN(&a, tproxy_port(p), RAWC_PLAIN);
    PT_OK(&a, "use ws", "w", "", "no");
    PT_OK(&a, "store", "w", "x", "1", "v");
    rawc_close(&a);
    tproxy_stop(p);
}
END_TEST

/* A target that is down refuses as a pause does. */
START_TEST(tproxy_target_down_refuses)
{
    struct tproxy *p = tproxy_start(tp_srv->port);
    struct rawc    a;

    ck_assert_ptr_nonnull(p);
    ptest_stop(tp_srv);
    ck_assert_int_ne(rawc_open(&a, tproxy_port(p), RAWC_PLAIN), 0);
    rawc_close(&a);
    tproxy_stop(p);
    tp_srv = ptest_start(NULL);
}
END_TEST

/* A cut armed at byte n of a request: the server gets n bytes, no more. */
START_TEST(tproxy_cut_after_bytes)
{
    struct tproxy    *p = tproxy_start(tp_srv->port);
    struct rawc       a, b;
    struct rawc_reply r;
    static const char req[] = "0005"
                              "00000000000000000005store"
                              "00000000000000000001w"
                              "00000000000000000001y"
                              "000000000000000000011"
                              "00000000000000000001v";

    ck_assert_ptr_nonnull(p);
    PT_OPEN(&a, tproxy_port(p), RAWC_PLAIN);
    PT_OPEN(&b, tp_srv->port, RAWC_PLAIN);
    PT_OK(&b, "use ws", "w", "", "no");
    PT_OK(&b, "declare var", "w", "y", "fifo");
    /* The request but its value's one byte: never whole, never run. */
    tproxy_cut_after(p, sizeof(req) - 2, 0);
    PT_RC(&a, rawc_write(&a, req, sizeof(req) - 1));
    PT_RC(&a, rawc_expect_eof(&a, PTEST_SOON_MS));
    ck_assert_int_eq(tproxy_cuts(p), 1);
    PT_NOVAL(&b, "fetchTry", "w", "y");
    rawc_close(&a);

    /* Down: the reply's first two bytes, then the cut. */
    PT_OPEN(&a, tproxy_port(p), RAWC_PLAIN);
    PT_OK(&a, "use ws", "w", "", "no");
    tproxy_cut_after(p, 0, 2);
    PT_RC(&a, rawc_sendv(&a, NULL, "store", "w", "y", "1", "z", NULL));
    memset(&r, 0, sizeof(r));
    ck_assert_int_ne(rawc_read_short(&a, &r), 0);
    rawc_reply_free(&r);
    ck_assert_int_eq(tproxy_cuts(p), 2);
    PT_VALUE(&b, "z", "fetchTry", "w", "y");
    rawc_close(&a);
    rawc_close(&b);
    tproxy_stop(p);
}
END_TEST

NWSTEST_SUITE(tproxy)
{
    Suite *s = suite_create("tproxy");
    TCase *tc = tcase_create("core");

    tcase_add_checked_fixture(tc, tp_setup, tp_teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, tproxy_forwards_and_cuts);
    tcase_add_test(tc, tproxy_pause_refuses);
    tcase_add_test(tc, tproxy_target_down_refuses);
    tcase_add_test(tc, tproxy_cut_after_bytes);
    suite_add_tcase(s, tc);
    return s;
}
