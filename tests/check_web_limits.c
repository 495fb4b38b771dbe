/*
 * check_web_limits.c -- what keeps the web port from starving the server
 * (server/web.c, server/listen.c): the cap on web connections, the
 * whole-request deadline, and the reserve descriptor that lets a listener
 * out of descriptors refuse a client cleanly instead of leaving it hanging.
 *
 * Descriptor exhaustion is real: the test lowers the running server's
 * RLIMIT_NOFILE with prlimit(2) and opens real connections until it runs out.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "ptest.h"
#include "util.h"

/* Lowers the server's descriptor limit (soft and hard) to n. */
static void
wl_limit_fds(const struct nwstest_server *s, rlim_t n)
{
    struct rlimit rl = {n, n};

    ck_assert_msg(prlimit(s->pid, RLIMIT_NOFILE, &rl, NULL) == 0, "prlimit: %s",
                  strerror(errno));
}

/* A connection to 127.0.0.1:port that does not wait for the server to accept it. */
static int
wl_connect_nb(int port)
{
    struct sockaddr_in sa;
    int                fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);

    ck_assert_int_ge(fd, 0);
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0)
        ck_assert_msg(errno == EINPROGRESS, "connect: %s", strerror(errno));
    return fd;
}

/* A protocol client stores and fetches back, with 5 s receive timeouts. */
static void
wl_protocol_works(int port, const char *ws)
{
    struct rawc c;

    PT_OPEN(&c, port, RAWC_PLAIN);
    PT_OK(&c, "open ws", ws, "test", "yes");
    PT_OK(&c, "store", ws, "x", "00000000000000000001", "hello");
    PT_VALUE(&c, "hello", "fetch", ws, "x");
    rawc_close(&c);
}

/*
 * A slowloris: a header line every 300 ms keeps evhttp's idle timer from
 * ever firing, but the whole request is not there by --web-request-timeout,
 * so the connection is closed.
 */
START_TEST(slow_request_cut)
{
    const char            *args[] = {"--web-request-timeout", "2", NULL};
    struct nwstest_server *s = ptest_start(args);
    double                 t0 = nwsp_mono();
    int                    fd = nwstest_connect(s->web_port, 5), closed = 0, i;
    char                   line[64];

    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(nwstest_write_all(fd, "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n", 33), 0);
    for (i = 0; i < 40 && !closed; i++) {
        snprintf(line, sizeof(line), "X-Slow-%d: yes\r\n", i);
        if (nwstest_write_all(fd, line, strlen(line)) != 0)
            closed = 1;
        else
            closed = nwstest_peer_closed(fd, 300);
    }
    ck_assert_msg(closed, "a request trickling in for %.1f s was not cut",
                  nwsp_mono() - t0);
    ck_assert_double_ge(nwsp_mono() - t0, 1.5); /* at the deadline, not at once */
    close(fd);
    /* A whole request right away is served as usual. */
    fd = nwstest_connect(s->web_port, 5);
    ck_assert_int_eq(nwstest_write_all(fd, "GET /api/overview HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                                           "Connection: close\r\n\r\n", 66), 0);
    ck_assert_int_eq(nwstest_read_exact(fd, line, 12), 0);
    ck_assert_int_eq(memcmp(line, "HTTP/1.1 200", 12), 0);
    close(fd);
    ptest_stop(s);
}
END_TEST

/*
 * 400 slow web clients against a server limited to 200 descriptors: the
 * web port takes at most --web-max-clients of them, so a protocol client
 * still connects and works, and the web port serves again once they leave.
 */
START_TEST(web_flood_leaves_protocol_port)
{
    const char            *args[] = {"--web-max-clients", "32", NULL};
    struct nwstest_server *s = ptest_start(args);
    enum { NSLOW = 400 };
    int   *fds = calloc(NSLOW, sizeof(int)), i, fd;
    char   buf[16];

    ck_assert_ptr_nonnull(fds);
    wl_limit_fds(s, 200);
    for (i = 0; i < NSLOW; i++) {
        fds[i] = wl_connect_nb(s->web_port);
        (void)write(fds[i], "GET / HTTP/1.1\r\n", 16);   /* may not be accepted yet */
    }
    usleep(500 * 1000);   /* let the server accept what it will */
    wl_protocol_works(s->port, "flood");
    for (i = 0; i < NSLOW; i++)
        close(fds[i]);
    free(fds);
    /* The web port serves again. */
    fd = nwstest_connect(s->web_port, 5);
    ck_assert_int_eq(nwstest_write_all(fd, "GET /api/overview HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                                           "Connection: close\r\n\r\n", 66), 0);
    ck_assert_int_eq(nwstest_read_exact(fd, buf, 12), 0);
    ck_assert_int_eq(memcmp(buf, "HTTP/1.1 200", 12), 0);
    close(fd);
    ptest_stop(s);
}
END_TEST

/*
 * The protocol port out of descriptors: a client past the limit sees its
 * connection closed at once (the reserve descriptor), rather than hanging
 * in the backlog; once descriptors are free again, clients work.
 */
START_TEST(emfile_refused_cleanly)
{
    struct nwstest_server *s = ptest_start(NULL);
    enum { NFILL = 90 };
    int fds[NFILL], i, late;

    wl_limit_fds(s, 64);
    for (i = 0; i < NFILL; i++)
        fds[i] = wl_connect_nb(s->port);
    usleep(300 * 1000);
    late = nwstest_connect(s->port, 5);
    ck_assert_int_ge(late, 0);
    ck_assert_msg(nwstest_peer_closed(late, 3000),
                  "a connection past the descriptor limit was left hanging");
    close(late);
    for (i = 0; i < NFILL; i++)
        close(fds[i]);
    /* The server frees the descriptors as it sees the closes: then clients work. */
    for (i = 0; i < 50; i++) {
        struct rawc c;

        if (rawc_open(&c, s->port, RAWC_PLAIN) == 0) {
            rawc_close(&c);
            break;
        }
        usleep(100 * 1000);
    }
    ck_assert_int_lt(i, 50);
    wl_protocol_works(s->port, "after");
    ptest_stop(s);
}
END_TEST

/*
 * A download that takes longer than --web-request-timeout (a slow reader)
 * is not cut: the deadline is for requests arriving, not replies leaving.
 */
START_TEST(slow_download_not_cut)
{
    const char            *args[] = {"--web-request-timeout", "1", "--spool-threshold",
                                     "1000", NULL};
    struct nwstest_server *s = ptest_start(args);
    enum { BIG = 12 * 1024 * 1024 };   /* more than the kernel buffers on both ends */
    char                  *val = malloc(BIG), *buf = malloc(65536);
    const char            *argv[5] = {"store", "dl", "v", "00000000000000000001", NULL};
    size_t                 lens[5] = {5, 2, 1, 20, BIG}, got = 0;
    struct rawc            c;
    struct rawc_reply      r;
    char                   req[256];
    int                    fd, small = 16384;
    ssize_t                n;
    double                 t0;

    ck_assert_ptr_nonnull(val);
    ck_assert_ptr_nonnull(buf);
    memset(val, 'q', BIG);
    argv[4] = val;
    PT_OPEN(&c, s->port, RAWC_PLAIN);
    PT_OK(&c, "open ws", "dl", "x", "yes");
    PT_RC(&c, rawc_send(&c, NULL, 0, 5, argv, lens));
    PT_RC(&c, rawc_read_short(&c, &r));
    ck_assert_int_eq(r.status, 0);
    rawc_reply_free(&r);

    fd = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_int_ge(fd, 0);
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
    {
        struct sockaddr_in sa = {0};
        struct timeval     tv = {10, 0};

        sa.sin_family = AF_INET;
        sa.sin_port = htons((uint16_t)s->web_port);
        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        ck_assert_int_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    }
    snprintf(req, sizeof(req), "GET /api/download?ws=dl&var=v HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                               "Connection: close\r\n\r\n");
    ck_assert_int_eq(nwstest_write_all(fd, req, strlen(req)), 0);
    t0 = nwsp_mono();
    while ((n = recv(fd, buf, 32768, 0)) > 0) {
        got += (size_t)n;
        usleep(5 * 1000);
    }
    close(fd);
    ck_assert_double_gt(nwsp_mono() - t0, 1.5); /* it did outlast the deadline */
    ck_assert_uint_gt(got, BIG);               /* headers and every byte */
    rawc_close(&c);
    free(val);
    free(buf);
    ptest_stop(s);
}
END_TEST

/*
 * At --web-max-clients connections, the next one waits (accepted by nobody,
 * in the kernel's queue) and is served as soon as one of them leaves.
 */
START_TEST(web_cap_waits)
{
    const char            *args[] = {"--web-max-clients", "4", NULL};
    struct nwstest_server *s = ptest_start(args);
    static const char      full[] = "GET /api/overview HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                                    "Connection: close\r\n\r\n";
    int                    fds[4], fd, i;
    char                   buf[16];

    for (i = 0; i < 4; i++) {
        fds[i] = nwstest_connect(s->web_port, 5);
        ck_assert_int_ge(fds[i], 0);
        ck_assert_int_eq(nwstest_write_all(fds[i], "GET / HTTP/1.1\r\n", 16), 0);
    }
    usleep(300 * 1000);
    fd = nwstest_connect(s->web_port, 5);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(nwstest_write_all(fd, full, sizeof(full) - 1), 0);
    ck_assert_msg(!nwstest_peer_closed(fd, 1000), "a connection past the cap was served");
    close(fds[0]);
    ck_assert_int_eq(nwstest_read_exact(fd, buf, 12), 0);
    ck_assert_int_eq(memcmp(buf, "HTTP/1.1 200", 12), 0);
    close(fd);
    for (i = 1; i < 4; i++)
        close(fds[i]);
    ptest_stop(s);
}
END_TEST

NWSTEST_SUITE(web_limits)
{
    Suite *s = suite_create("web_limits");
    TCase *tc = tcase_create("limits");

    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, slow_request_cut);
    tcase_add_test(tc, web_cap_waits);
    tcase_add_test(tc, web_flood_leaves_protocol_port);
    tcase_add_test(tc, emfile_refused_cleanly);
    tcase_add_test(tc, slow_download_not_cut);
    suite_add_tcase(s, tc);
    return s;
}
