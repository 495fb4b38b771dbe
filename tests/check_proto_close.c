/*
 * check_proto_close.c -- values and connections that close, against a real
 * server: a peer that closes (or resets) while parked in a fetch with more
 * requests queued than the server reads is noticed, gets no value and has
 * its queued requests dropped; a fetched value whose reply was cut by
 * --write-timeout goes back to the front of its fifo, in memory or spooled.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "nwstest.h"
#include "ptest.h"
#include "rawc.h"
#include "util.h"

static struct nwstest_server *cl_srv;

static void
cl_setup(void)
{
    static const char *const extra[] = {"--write-timeout", "1", "--spool-threshold", "10M",
                                        NULL};

    cl_srv = ptest_start(extra);
}

static void
cl_teardown(void)
{
    ptest_stop(cl_srv);
}

/*
 * Sends want bytes of pipelined stores of 8 KiB values to w/junk without
 * blocking for long; returns the bytes the kernel took.
 */
static size_t
cl_pipeline(struct rawc *c, size_t want)
{
    static char   req[8192 + 256];
    struct pollfd pfd = {.fd = c->fd, .events = POLLOUT};
    size_t        rlen, sent = 0, off = 0;
    double        end = nwsp_mono() + 5;
    ssize_t       n;
    int           h;

    h = snprintf(req, sizeof(req), "0005%020d%s%020d%s%020d%s%020d%s%020d", 5, "store", 1,
                 "w", 4, "junk", 1, "1", 8192);
    memset(req + h, 'j', 8192);
    rlen = (size_t)h + 8192;
    while (sent < want && nwsp_mono() < end) {
        n = send(c->fd, req + off, rlen - off, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
                break;
            (void)poll(&pfd, 1, 100);
            continue;
        }
        sent += (size_t)n;
        off = (off + (size_t)n) % rlen;
    }
    return sent;
}

/*
 * A parks in fetch w/x with more than the server's 4 MiB input bound of
 * stores queued behind it and goes away (rst: by a reset).  Returns with A
 * gone; another client checks the rest.
 */
static void
cl_blocked_then_gone(int rst)
{
    struct rawc a, b;
    size_t      sent;

    PT_OPEN(&a, cl_srv->port, RAWC_PLAIN);
    PT_OPEN(&b, cl_srv->port, RAWC_PLAIN);
    PT_OK(&a, "use ws", "w", "", "no");
    PT_OK(&b, "use ws", "w", "", "no");
    PT_RC(&a, rawc_sendv(&a, NULL, "fetch", "w", "x", NULL));
    PT_WAIT_WAITERS(&b, "w", "x", 1, 0);
    /*
     * Just past the server's 4 MiB input bound: the few bytes it leaves
     * unread fit its socket's receive window, so the close (FIN) behind them
     * reaches it.  (More, and the FIN waits in our kernel: nothing could
     * see it; SECURITY.md says so.)
     */
    sent = cl_pipeline(&a, 4 * 1024 * 1024 + 16 * 1024);
    ck_assert_msg(sent > 4 * 1024 * 1024, "only %zu bytes went out", sent);
    usleep(200000);  /* the server reads up to its bound and stops */
    if (rst) {
        struct linger lg = {1, 0};

        setsockopt(a.fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
    }
    rawc_close(&a);
    rawc_close(&b);
}

/* After A is gone: a store is kept, not handed to A, and A's stores never ran. */
static void
cl_value_kept(void)
{
    struct rawc b;

    PT_OPEN(&b, cl_srv->port, RAWC_PLAIN);
    PT_OK(&b, "use ws", "w", "", "no");
    PT_OK(&b, "store", "w", "x", "1", "precious");
    PT_VALUE(&b, "precious", "fetchTry", "w", "x");
    usleep(200000);
    PT_NOVAL(&b, "findTry", "w", "junk");
    rawc_close(&b);
}

START_TEST(close_noticed_while_input_not_read)
{
    struct rawc b;

    cl_blocked_then_gone(0);
    PT_OPEN(&b, cl_srv->port, RAWC_PLAIN);
    PT_OK(&b, "use ws", "w", "", "no");
    /* The close is seen at once, though the server reads nothing more from A. */
    PT_WAIT_WAITERS(&b, "w", "x", 0, 0);
    rawc_close(&b);
    cl_value_kept();
}
END_TEST

START_TEST(reset_peer_gets_no_value)
{
    cl_blocked_then_gone(1);
    cl_value_kept();
}
END_TEST

/* A reset is an error, not a close, to epoll: it is found by the watch's probe. */
START_TEST(reset_noticed_while_input_not_read)
{
    struct rawc b;

    cl_blocked_then_gone(1);
    PT_OPEN(&b, cl_srv->port, RAWC_PLAIN);
    PT_OK(&b, "use ws", "w", "", "no");
    PT_WAIT_WAITERS(&b, "w", "x", 0, 0);
    rawc_close(&b);
    cl_value_kept();
}
END_TEST

/*
 * lazy fetches a len-byte value from keep/big and never reads; after
 * --write-timeout the value must be back at the front, before "after".
 */
static void
cl_cut_reply_goes_back(size_t len)
{
    struct rawc       c, lazy;
    struct rawc_reply r;
    char             *big = malloc(len);
    const char       *argv[5] = {"store", "keep", "big", "1", big};
    size_t            lens[5] = {5, 4, 3, 1, len};
    int               small = 4096, back = 0;
    double            end;

    ck_assert_ptr_nonnull(big);
    ptest_pattern(big, len, 0);
    PT_OPEN(&c, cl_srv->port, RAWC_PLAIN);
    PT_OK(&c, "use ws", "keep", "", "no");
    PT_RC(&c, rawc_send(&c, NULL, 0, 5, argv, lens));
    PT_RC(&c, rawc_read_short(&c, &r));
    PT_IS_SHORT(&c, &r, 0, NULL);
    PT_OK(&c, "store", "keep", "big", "1", "after");
    PT_OPEN(&lazy, cl_srv->port, RAWC_PLAIN);
    setsockopt(lazy.fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
    PT_OK(&lazy, "use ws", "keep", "", "no");
    PT_RC(&lazy, rawc_sendv(&lazy, NULL, "fetch", "keep", "big", NULL));
    /* The fetch took it: only "after" is left while lazy's reply is pending. */
    end = nwsp_mono() + 5;
    while (!back && nwsp_mono() < end) {
        PT_LONG(&c, &r, "findTry", "keep", "big");
        back = r.status == 0 && r.len == 5;
        rawc_reply_free(&r);
    }
    ck_assert_msg(back, "lazy's fetch never took the value");
    back = 0;
    end = nwsp_mono() + 15;
    while (!back && nwsp_mono() < end) {
        PT_LONG(&c, &r, "findTry", "keep", "big");
        back = r.status == 0 && r.len == len;
        rawc_reply_free(&r);
        if (!back)
            usleep(100000);
    }
    ck_assert_msg(back, "the value cut off by --write-timeout did not come back");
    PT_LONG(&c, &r, "fetchTry", "keep", "big");
    ck_assert_int_eq(r.status, 0);
    ck_assert_uint_eq(r.len, len);
    ck_assert(memcmp(r.value, big, len) == 0);
    rawc_reply_free(&r);
    PT_VALUE(&c, "after", "fetchTry", "keep", "big");
    rawc_close(&lazy);
    rawc_close(&c);
    free(big);
}

/* A client fetches a large value, reads a little of it and resets: it comes back. */
START_TEST(reset_while_receiving_puts_value_back)
{
    struct rawc       c, d;
    struct rawc_reply r;
    size_t            len = 8 * 1024 * 1024;
    char             *big = malloc(len), buf[4096];
    const char       *argv[5] = {"store", "keep", "big", "1", big};
    size_t            lens[5] = {5, 4, 3, 1, len};
    struct linger     lg = {1, 0};
    int               back = 0, i;

    ck_assert_ptr_nonnull(big);
    ptest_pattern(big, len, 7);
    PT_OPEN(&c, cl_srv->port, RAWC_PLAIN);
    PT_OK(&c, "use ws", "keep", "", "no");
    PT_RC(&c, rawc_send(&c, NULL, 0, 5, argv, lens));
    PT_RC(&c, rawc_read_short(&c, &r));
    PT_IS_SHORT(&c, &r, 0, NULL);
    PT_OPEN(&d, cl_srv->port, RAWC_PLAIN);
    PT_OK(&d, "use ws", "keep", "", "no");
    PT_RC(&d, rawc_sendv(&d, NULL, "fetch", "keep", "big", NULL));
    PT_RC(&d, rawc_read(&d, buf, sizeof(buf)));
    setsockopt(d.fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
    rawc_close(&d);
    for (i = 0; i < 100 && !back; i++) {
        PT_LONG(&c, &r, "findTry", "keep", "big");
        back = r.status == 0 && r.len == len && memcmp(r.value, big, len) == 0;
        rawc_reply_free(&r);
        if (!back)
            usleep(50000);
    }
    ck_assert_msg(back, "the value whose reply was cut by a reset did not come back");
    rawc_close(&c);
    free(big);
}
END_TEST

START_TEST(write_timeout_puts_value_back)
{
    cl_cut_reply_goes_back(8 * 1024 * 1024);
}
END_TEST

START_TEST(write_timeout_puts_spooled_value_back)
{
    cl_cut_reply_goes_back(12 * 1024 * 1024);
}
END_TEST

NWSTEST_SUITE(proto_close)
{
    Suite *s = suite_create("proto_close");
    TCase *tc = tcase_create("close");

    tcase_add_checked_fixture(tc, cl_setup, cl_teardown);
    tcase_set_timeout(tc, 40);
    tcase_add_test(tc, close_noticed_while_input_not_read);
    tcase_add_test(tc, reset_peer_gets_no_value);
    tcase_add_test(tc, reset_noticed_while_input_not_read);
    tcase_add_test(tc, reset_while_receiving_puts_value_back);
    tcase_add_test(tc, write_timeout_puts_value_back);
    tcase_add_test(tc, write_timeout_puts_spooled_value_back);
    suite_add_tcase(s, tc);
    return s;
}
