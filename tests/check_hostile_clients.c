/*
 * check_hostile_clients.c -- clients that misbehave, against a real server
 * with short limits: half a request then silence, a greeting never sent,
 * replies never read, too many connections, a client dying in the middle of
 * a large store or of a large reply.  After each, the server must still
 * serve everyone else, and what others stored must still be there.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "nwstest.h"
#include "ptest.h"
#include "rawc.h"
#include "util.h"

static struct nwstest_server *hc_srv;

/*
 * Reads whatever c still receives until the server's close; returns the byte
 * count, or -1 if the connection is still open after ms.
 */
static long
hc_drain_to_eof(struct rawc *c, int ms)
{
    struct pollfd pfd = {.fd = c->fd, .events = POLLIN};
    char          buf[65536];
    long          total = 0;
    double        end = nwsp_mono() + ms / 1000.0;
    ssize_t       n;

    while (nwsp_mono() < end) {
        if (poll(&pfd, 1, 100) <= 0)
            continue;
        n = recv(c->fd, buf, sizeof(buf), 0);
        if (n == 0 || (n < 0 && errno == ECONNRESET))
            return total;
        if (n < 0)
            return -1;
        total += n;
    }
    return -1;
}

static void
hc_setup(void)
{
    static const char *const extra[] = {"--frame-timeout", "1", "--write-timeout", "1",
                                        "--max-clients", "6", NULL};

    hc_srv = ptest_start(extra);
}

static void
hc_teardown(void)
{
    ptest_stop(hc_srv);
}

/* Another client's value is there and the server answers (checked after each abuse). */
static void
hc_still_serving(const char *val)
{
    struct rawc c;

    PT_OPEN(&c, hc_srv->port, RAWC_PLAIN);
    PT_OK(&c, "use ws", "keep", "", "no");
    PT_VALUE(&c, val, "findTry", "keep", "v");
    rawc_close(&c);
}

/* Stores val under keep/v from a client that then leaves (the workspace stays). */
static void
hc_keep(const char *val)
{
    struct rawc c;

    PT_OPEN(&c, hc_srv->port, RAWC_PLAIN);
    PT_OK(&c, "use ws", "keep", "", "no");
    PT_OK(&c, "store", "keep", "v", "1", val);
    rawc_close(&c);
}

START_TEST(half_request_times_out)
{
    struct rawc c;
    double      t0;

    hc_keep("safe");
    PT_OPEN(&c, hc_srv->port, RAWC_PLAIN);
    /* A request cut in the middle of an argument's bytes. */
    PT_RC(&c, rawc_write(&c, "000200000000000000000008list", 28));
    t0 = nwsp_mono();
    ck_assert_msg(rawc_expect_eof(&c, 5000) == 0, "not closed: %s", c.err);
    ck_assert_msg(nwsp_mono() - t0 >= 0.5, "closed too early (%.2f s)", nwsp_mono() - t0);
    rawc_close(&c);
    hc_still_serving("safe");
}
END_TEST

START_TEST(silent_greeting_times_out)
{
    struct rawc c;

    PT_OPEN(&c, hc_srv->port, RAWC_NONE);
    ck_assert_msg(rawc_expect_eof(&c, 5000) == 0, "not closed: %s", c.err);
    rawc_close(&c);
}
END_TEST

START_TEST(idle_and_blocked_clients_never_time_out)
{
    struct rawc       idle, blocked, other;
    struct rawc_reply r;

    PT_OPEN(&idle, hc_srv->port, RAWC_PLAIN);
    PT_OPEN(&blocked, hc_srv->port, RAWC_PLAIN);
    PT_OPEN(&other, hc_srv->port, RAWC_PLAIN);
    PT_OK(&blocked, "use ws", "w", "", "no");
    PT_OK(&other, "use ws", "w", "", "no");
    PT_RC(&blocked, rawc_sendv(&blocked, NULL, "fetch", "w", "x", NULL));
    /* Well past --frame-timeout: between requests, and parked in a fetch. */
    sleep(3);
    PT_OK(&idle, "use ws", "w", "", "no");
    PT_OK(&other, "store", "w", "x", "1", "late");
    PT_RC(&blocked, rawc_read_long(&blocked, &r));
    PT_IS_STR(&blocked, &r, "late");
    rawc_reply_free(&r);
    rawc_close(&idle);
    rawc_close(&blocked);
    rawc_close(&other);
}
END_TEST

START_TEST(client_that_never_reads_is_closed)
{
    struct rawc c, lazy;
    size_t      len = 32 * 1024 * 1024, i;
    char       *big = malloc(len);
    const char *argv[5] = {"store", "keep", "big", "1", big};
    size_t      lens[5] = {5, 4, 3, 1, len};

    ck_assert_ptr_nonnull(big);
    for (i = 0; i < len; i++)
        big[i] = (char)('a' + i % 26);
    PT_OPEN(&c, hc_srv->port, RAWC_PLAIN);
    PT_OK(&c, "use ws", "keep", "", "no");
    PT_RC(&c, rawc_send(&c, NULL, 0, 5, argv, lens));
    {
        struct rawc_reply r;

        PT_RC(&c, rawc_read_short(&c, &r));
        PT_IS_SHORT(&c, &r, 0, NULL);
    }
    /* lazy asks for the big value (find: nothing is consumed) and never reads. */
    PT_OPEN(&lazy, hc_srv->port, RAWC_PLAIN);
    PT_OK(&lazy, "use ws", "keep", "", "no");
    PT_RC(&lazy, rawc_sendv(&lazy, NULL, "find", "keep", "big", NULL));
    sleep(3);
    /* The server gave up on it; the value and the server are fine. */
    PT_OK(&c, "store", "keep", "v", "1", "after");
    {
        struct rawc_reply r;

        PT_LONG(&c, &r, "find", "keep", "big");
        ck_assert_uint_eq(r.len, len);
        ck_assert(memcmp(r.value, big, len) == 0);
        rawc_reply_free(&r);
    }
    /* lazy was closed with most of its reply never sent. */
    {
        long got = hc_drain_to_eof(&lazy, 3000);

        ck_assert_msg(got >= 0, "the server did not close the client that never reads");
        ck_assert_msg(got < (long)len, "the whole reply went out (%ld bytes)", got);
    }
    free(big);
    rawc_close(&lazy);
    rawc_close(&c);
    hc_still_serving("after");
}
END_TEST

START_TEST(max_clients_refused_others_unaffected)
{
    struct rawc c[6], extra;
    int         i;

    hc_keep("kept");
    for (i = 0; i < 6; i++)
        PT_OPEN(&c[i], hc_srv->port, RAWC_PLAIN);
    /* The seventh is closed at once, before any greeting is answered. */
    PT_OPEN(&extra, hc_srv->port, RAWC_NONE);
    PT_RC(&extra, rawc_write(&extra, "X000", 4));
    ck_assert_msg(rawc_expect_eof(&extra, 3000) == 0, "not refused: %s", extra.err);
    rawc_close(&extra);
    for (i = 0; i < 6; i++)
        PT_OK(&c[i], "use ws", "keep", "", "no");
    PT_VALUE(&c[0], "kept", "findTry", "keep", "v");
    /* One leaves: there is room again. */
    rawc_close(&c[5]);
    usleep(200000);
    hc_still_serving("kept");
    for (i = 0; i < 5; i++)
        rawc_close(&c[i]);
}
END_TEST

START_TEST(client_dies_in_a_large_store)
{
    struct rawc c;
    char        chunk[65536];
    char        hdr[256];
    int         i, n;

    hc_keep("whole");
    memset(chunk, 'z', sizeof(chunk));
    PT_OPEN(&c, hc_srv->port, RAWC_PLAIN);
    PT_OK(&c, "use ws", "keep", "", "no");
    n = snprintf(hdr, sizeof(hdr),
                 "0005%020d%s%020d%s%020d%s%020d%s%020d", 5, "store", 4, "keep", 4, "half",
                 1, "1", 10 * 1024 * 1024);
    PT_RC(&c, rawc_write(&c, hdr, (size_t)n));
    for (i = 0; i < 40; i++)
        PT_RC(&c, rawc_write(&c, chunk, sizeof(chunk)));
    rawc_close(&c);
    usleep(200000);
    hc_still_serving("whole");
    PT_OPEN(&c, hc_srv->port, RAWC_PLAIN);
    PT_OK(&c, "use ws", "keep", "", "no");
    PT_NOVAL(&c, "findTry", "keep", "half");
    rawc_close(&c);
}
END_TEST

START_TEST(client_dies_while_receiving)
{
    struct rawc c, d;
    size_t      len = 8 * 1024 * 1024;
    char       *big = calloc(1, len), buf[4096];
    const char *argv[5] = {"store", "keep", "big", "1", big};
    size_t      lens[5] = {5, 4, 3, 1, len};

    ck_assert_ptr_nonnull(big);
    PT_OPEN(&c, hc_srv->port, RAWC_PLAIN);
    PT_OK(&c, "use ws", "keep", "", "no");
    PT_RC(&c, rawc_send(&c, NULL, 0, 5, argv, lens));
    {
        struct rawc_reply r;

        PT_RC(&c, rawc_read_short(&c, &r));
        PT_IS_SHORT(&c, &r, 0, NULL);
    }
    /* d finds it (nothing consumed), reads a little and dies. */
    PT_OPEN(&d, hc_srv->port, RAWC_PLAIN);
    PT_OK(&d, "use ws", "keep", "", "no");
    PT_RC(&d, rawc_sendv(&d, NULL, "find", "keep", "big", NULL));
    PT_RC(&d, rawc_read(&d, buf, sizeof(buf)));
    rawc_close(&d);
    usleep(200000);
    {
        struct rawc_reply r;

        PT_LONG(&c, &r, "find", "keep", "big");
        ck_assert_uint_eq(r.len, len);
        rawc_reply_free(&r);
    }
    free(big);
    rawc_close(&c);
}
END_TEST

/*
 * A large store that trickles in below the server's read low-water mark
 * (SO_RCVLOWAT, 256 KiB for values of 1 MiB or more) for several frame
 * timeouts is slow, not silent: it is not cut, and the value arrives whole.
 */
START_TEST(slow_large_store_is_not_cut)
{
    struct rawc       c;
    struct rawc_reply r;
    size_t            len = 2 * 1024 * 1024, sent = 0, n, i;
    char             *val = malloc(len), hdr[256];
    int               h;

    ck_assert_ptr_nonnull(val);
    for (i = 0; i < len; i++)
        val[i] = (char)('a' + i % 23);
    PT_OPEN(&c, hc_srv->port, RAWC_PLAIN);
    PT_OK(&c, "use ws", "keep", "", "no");
    h = snprintf(hdr, sizeof(hdr), "0005%020d%s%020d%s%020d%s%020d%s%020zu", 5, "store", 4,
                 "keep", 4, "slow", 1, "1", len);
    PT_RC(&c, rawc_write(&c, hdr, (size_t)h));
    /* 2 KiB every 100 ms for 3 s (3 frame timeouts): 60 KiB in all. */
    for (i = 0; i < 30; i++) {
        PT_RC(&c, rawc_write(&c, val + sent, 2048));
        sent += 2048;
        usleep(100000);
    }
    while (sent < len) {
        n = len - sent < 65536 ? len - sent : 65536;
        PT_RC(&c, rawc_write(&c, val + sent, n));
        sent += n;
    }
    PT_RC(&c, rawc_read_short(&c, &r));
    ck_assert_int_eq(r.status, 0);
    rawc_reply_free(&r);
    PT_RC(&c, rawc_sendv(&c, NULL, "fetchTry", "keep", "slow", NULL));
    PT_RC(&c, rawc_read_long(&c, &r));
    ck_assert_int_eq(r.status, 0);
    ck_assert_uint_eq(r.len, len);
    ck_assert(memcmp(r.value, val, len) == 0);
    rawc_reply_free(&r);
    rawc_close(&c);
    free(val);
}
END_TEST

NWSTEST_SUITE(hostile_clients)
{
    Suite *s = suite_create("hostile_clients");
    TCase *tc = tcase_create("limits");

    tcase_add_checked_fixture(tc, hc_setup, hc_teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, half_request_times_out);
    tcase_add_test(tc, silent_greeting_times_out);
    tcase_add_test(tc, idle_and_blocked_clients_never_time_out);
    tcase_add_test(tc, client_that_never_reads_is_closed);
    tcase_add_test(tc, max_clients_refused_others_unaffected);
    tcase_add_test(tc, client_dies_in_a_large_store);
    tcase_add_test(tc, client_dies_while_receiving);
    tcase_add_test(tc, slow_large_store_is_not_cut);
    suite_add_tcase(s, tc);
    return s;
}
