/*
 * check_libnws_session.c -- libnws riding through lost connections
 * (docs/SESSIONS.md section 5), against a real server through tproxy.
 *
 * The proxy cuts the connection at many points of a stream of stores and
 * fetches (inside requests, inside replies, between them): every store is
 * applied once and every fetched value comes once.  A blocking fetch keeps
 * its place across a cut, pipelined bulk stores are all applied once, a
 * server that stays away past nws_set_reconnect's limit is a clear error
 * in bounded time, and a server that forgot the session (restarted without
 * a journal) is NWS_ERR_SESSION, the client going on in a new session.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "nws.h"
#include "nwstest.h"
#include "ptest.h"
#include "rawc.h"
#include "frame.h"
#include "sleighp.h"
#include "tproxy.h"
#include "util.h"

static struct nwstest_server ls_srv;
static struct tproxy        *ls_px;

static void
ls_setup(void)
{
    ck_assert_int_eq(nwstest_server_start(&ls_srv, NULL), 0);
    ls_px = tproxy_start(ls_srv.port);
    ck_assert_ptr_nonnull(ls_px);
}

static void
ls_teardown(void)
{
    tproxy_stop(ls_px);
    nwstest_server_stop(&ls_srv);
}

/* A client through the proxy (or straight to port), reconnecting for secs. */
static nws_client *
ls_connect(int port, int secs)
{
    nws_error   err;
    nws_client *c = nws_connect("127.0.0.1", port, 0, &err);

    ck_assert_msg(c != NULL, "connect: %s", err.text);
    ck_assert_int_eq(nws_set_reconnect(c, secs, &err), 0);
    return c;
}

static nws_ws *
ls_use(nws_client *c, const char *name)
{
    nws_error err;
    nws_ws   *ws = nws_ws_use(c, name, 0, &err);

    ck_assert_msg(ws != NULL, "use ws: %s", err.text);
    return ws;
}

/* The server offers a session and libnws takes it; the flag opts out. */
START_TEST(session_negotiated)
{
    nws_client *c = ls_connect(ls_srv.port, 5), *d;
    const char *id = nws_session_id(c);
    nws_error   err;

    ck_assert_msg(id != NULL, "no session: the server did not offer one?");
    ck_assert_uint_eq(strlen(id), 16);
    ck_assert_uint_eq(strspn(id, "0123456789abcdef"), 16);
    d = nws_connect("127.0.0.1", ls_srv.port, NWS_CONNECT_NO_SESSION, &err);
    ck_assert_ptr_nonnull(d);
    ck_assert_ptr_null(nws_session_id(d));
    nws_close(d);
    nws_close(c);
}
END_TEST

/*
 * A stream of stores and fetches with a cut armed before each pair at a
 * different byte, up or down: every store applied once, every value
 * fetched once and in order, nothing left over.
 */
START_TEST(session_cuts_in_a_stream)
{
    nws_client *c = ls_connect(tproxy_port(ls_px), 20), *d;
    nws_ws     *ws = ls_use(c, "s"), *dws;
    nws_error   err;
    char        want[32], *got;
    int         i, n = 80, rc;

    for (i = 0; i < n; i++) {
        /* Requests here are ~100 bytes, replies 4 to ~80: cover both. */
        if (i % 2 == 0)
            tproxy_cut_after(ls_px, (uint64_t)(1 + (i * 7) % 140), 0);
        else
            tproxy_cut_after(ls_px, 0, (uint64_t)(1 + (i * 5) % 90));
        snprintf(want, sizeof(want), "value-%d", i);
        ck_assert_msg(nws_store_string(ws, "q", want, &err) == 0, "store %d: %s", i,
                      err.text);
        got = nws_fetch_string(ws, "q", &err);
        ck_assert_msg(got != NULL, "fetch %d: %s", i, err.text);
        ck_assert_str_eq(got, want);
        free(got);
    }
    tproxy_cut_after(ls_px, 0, 0);
    ck_assert_msg(tproxy_cuts(ls_px) >= n / 2, "only %d cuts", tproxy_cuts(ls_px));
    /* Nothing stored twice: the variable is empty, seen from outside. */
    d = ls_connect(ls_srv.port, 0);
    dws = ls_use(d, "s");
    rc = nws_fetch_try_string(dws, "q", &got, &err);
    ck_assert_msg(rc == 0, "a value left over: %s", rc == 1 ? got : err.text);
    nws_ws_free(dws);
    nws_close(d);
    nws_ws_free(ws);
    nws_close(c);
}
END_TEST

struct ls_fetcher {
    int   port;
    char *got;
    char  why[160];
};

/* A thread: a blocking fetch of b/x through its own client. */
static void *
ls_fetch_thread(void *arg)
{
    struct ls_fetcher *f = arg;
    nws_error          err;
    nws_client        *c = nws_connect("127.0.0.1", f->port, 0, &err);
    nws_ws            *ws;

    if (c == NULL || nws_set_reconnect(c, 20, &err) != 0 ||
        (ws = nws_ws_use(c, "b", 0, &err)) == NULL) {
        snprintf(f->why, sizeof(f->why), "%s", err.text);
        nws_close(c);
        return NULL;
    }
    if ((f->got = nws_fetch_string(ws, "x", &err)) == NULL)
        snprintf(f->why, sizeof(f->why), "%s", err.text);
    nws_ws_free(ws);
    nws_close(c);
    return NULL;
}

/* A blocking fetch parked across a cut gets the value stored after it, once. */
START_TEST(session_blocking_fetch_across_cut)
{
    struct ls_fetcher f = {.port = tproxy_port(ls_px)};
    struct rawc       r;
    pthread_t         t;
    nws_client       *d;
    nws_ws           *ws;
    nws_error         err;
    char             *got;
    double            t0;

    PT_OPEN(&r, ls_srv.port, RAWC_PLAIN);
    PT_OK(&r, "use ws", "b", "", "no");
    ck_assert_int_eq(pthread_create(&t, NULL, ls_fetch_thread, &f), 0);
    ptest_wait_waiters(__LINE__, &r, "b", "x", 1, 0);
    ck_assert_int_eq(tproxy_cut(ls_px), 1);
    /* It comes back (a resume) and is still the one waiter. */
    for (t0 = nwsp_mono(); tproxy_accepted(ls_px) < 2 && nwsp_mono() - t0 < 30;)
        usleep(10000);
    ck_assert_int_ge(tproxy_accepted(ls_px), 2);
    ptest_wait_waiters(__LINE__, &r, "b", "x", 1, 0);
    d = ls_connect(ls_srv.port, 0);
    ws = ls_use(d, "b");
    ck_assert_int_eq(nws_store_string(ws, "x", "first", &err), 0);
    ck_assert_int_eq(nws_store_string(ws, "x", "second", &err), 0);
    ck_assert_int_eq(pthread_join(t, NULL), 0);
    ck_assert_msg(f.got != NULL, "blocking fetch: %s", f.why);
    ck_assert_str_eq(f.got, "first");
    free(f.got);
    ck_assert_int_eq(nws_fetch_try_string(ws, "x", &got, &err), 1);
    ck_assert_str_eq(got, "second");
    free(got);
    ck_assert_int_eq(nws_fetch_try_string(ws, "x", &got, &err), 0);
    nws_ws_free(ws);
    nws_close(d);
    rawc_close(&r);
}
END_TEST

/*
 * Pipelined bulk stores cut in the middle: each applied once, in order.
 * More of them than the server keeps unacknowledged replies (4096): the
 * bulk must acknowledge as it goes.
 */
START_TEST(session_bulk_across_cut)
{
    nws_client *c = ls_connect(tproxy_port(ls_px), 20), *d;
    nws_ws     *ws = ls_use(c, "k"), *dws;
    nws_bulk   *b = nws_bulk_new(ws, NULL);
    nws_error   err;
    char        v[64], *got;
    int         i, n = 6000;

    ck_assert_ptr_nonnull(b);
    for (i = 0; i < n; i++) {
        snprintf(v, sizeof(v), "bulk-%06d", i);
        ck_assert_int_eq(nws_bulk_store_raw(b, "q", v, strlen(v), NWS_DESC_TEXT, &err),
                         0);
    }
    /* Cut once well inside the requests, once inside the replies. */
    tproxy_cut_after(ls_px, 250000, 0);
    ck_assert_msg(nws_bulk_flush(b, &err) == 0, "bulk: %s", err.text);
    ck_assert_int_ge(tproxy_cuts(ls_px), 1);
    for (i = 0; i < n; i++) {
        snprintf(v, sizeof(v), "bulk-%06d", n + i);
        ck_assert_int_eq(nws_bulk_store_raw(b, "q", v, strlen(v), NWS_DESC_TEXT, &err),
                         0);
    }
    tproxy_cut_after(ls_px, 0, 15000);
    ck_assert_msg(nws_bulk_flush(b, &err) == 0, "bulk: %s", err.text);
    ck_assert_int_ge(tproxy_cuts(ls_px), 2);
    nws_bulk_free(b);
    d = ls_connect(ls_srv.port, 0);
    dws = ls_use(d, "k");
    for (i = 0; i < 2 * n; i++) {
        snprintf(v, sizeof(v), "bulk-%06d", i);
        ck_assert_msg(nws_fetch_try_string(dws, "q", &got, &err) == 1,
                      "value %d: missing", i);
        ck_assert_str_eq(got, v);
        free(got);
    }
    ck_assert_int_eq(nws_fetch_try_string(dws, "q", &got, &err), 0);
    nws_ws_free(dws);
    nws_close(d);
    nws_ws_free(ws);
    nws_close(c);
}
END_TEST

/*
 * A bulk of one store, cut right after the request went whole (so the
 * server applies it and its reply dies with the connection): the store is
 * applied once, and the bulk returns once the reply sent again is read,
 * even when that reply was the last one and came in during the reconnect.
 */
START_TEST(session_bulk_last_reply_in_reconnect)
{
    nws_client *c = ls_connect(tproxy_port(ls_px), 20);
    nws_ws     *ws = ls_use(c, "k1");
    nws_bulk   *b;
    nws_error   err;
    char       *got;
    int         i;

    /* Never wait for ever: a lost reply is a timeout, not a hung test. */
    ck_assert_int_eq(nws_set_timeout(c, 10000, &err), 0);
    for (i = 0; i < 20; i++) {
        b = nws_bulk_new(ws, &err);
        ck_assert_int_eq(nws_bulk_store_raw(b, "q", "v", 1, NWS_DESC_TEXT, &err), 0);
        /* header 40, {} 4, argc 4, store 25, k1 22, q 21, desc 40, v 21 */
        tproxy_cut_after(ls_px, 177, 0);
        ck_assert_msg(nws_bulk_flush(b, &err) == 0, "round %d: %s", i, err.text);
        nws_bulk_free(b);
        ck_assert_int_eq(tproxy_cuts(ls_px), i + 1);
        ck_assert_int_eq(nws_fetch_try_string(ws, "q", &got, &err), 1);
        ck_assert_str_eq(got, "v");
        free(got);
        ck_assert_int_eq(nws_fetch_try_string(ws, "q", &got, &err), 0);
    }
    nws_ws_free(ws);
    nws_close(c);
}
END_TEST

/* A file of n bytes of a pattern (seeded), open at offset 0. */
static int
ls_pattern_file(size_t n, unsigned seed)
{
    int    fd = nwstest_tmpfile();
    char   buf[65536];
    size_t i, k;

    for (; n > 0; n -= k) {
        k = n < sizeof(buf) ? n : sizeof(buf);
        for (i = 0; i < k; i++)
            buf[i] = (char)((seed = seed * 1103515245u + 12345u) >> 16);
        ck_assert_int_eq(write(fd, buf, k), (ssize_t)k);
    }
    ck_assert_int_eq(lseek(fd, 0, SEEK_SET), 0);
    return fd;
}

/* 1 if the two descriptors hold the same bytes from offset 0. */
static int
ls_same(int a, int b)
{
    size_t la, lb;
    char  *x, *y;
    int    same;

    x = nwstest_slurp(a, &la);
    y = nwstest_slurp(b, &lb);
    same = la == lb && memcmp(x, y, la) == 0;
    free(x);
    free(y);
    return same;
}

/*
 * A value streamed from a file, cut half-way up (sent again by reading the
 * file again, not from a copy), then fetched into one, cut half-way down:
 * stored once, and the copy is whole and exact (the bytes already written
 * are not written twice).
 */
START_TEST(session_stream_across_cuts)
{
    nws_client *c = ls_connect(tproxy_port(ls_px), 20);
    nws_ws     *ws = ls_use(c, "f");
    size_t      n = 3u << 20;
    int         src = ls_pattern_file(n, 7), dst = nwstest_tmpfile();
    nws_error   err;
    uint64_t    len = 0;
    uint32_t    desc = 0;
    char       *got;

    tproxy_cut_after(ls_px, n / 2, 0);
    ck_assert_msg(nws_store_fd(ws, "v", src, n, NWS_DESC_BYTES, &err) == 0, "%s",
                  err.text);
    ck_assert_int_eq(tproxy_cuts(ls_px), 1);
    tproxy_cut_after(ls_px, 0, n / 3);
    ck_assert_msg(nws_fetch_fd(ws, "v", NWS_OP_FETCH, dst, &desc, &len, &err) == 1, "%s",
                  err.text);
    ck_assert_int_eq(tproxy_cuts(ls_px), 2);
    ck_assert_uint_eq(len, n);
    ck_assert_int_eq(lseek(src, 0, SEEK_SET), 0);
    ck_assert_msg(ls_same(src, dst), "the fetched copy differs");
    ck_assert_int_eq(nws_fetch_try_string(ws, "v", &got, &err), 0);
    close(src);
    close(dst);
    nws_ws_free(ws);
    nws_close(c);
}
END_TEST

/*
 * A value streamed from a pipe is kept to be sent again only when small
 * (1 MiB): a larger one cut half-way fails with NWS_ERR_SESSION, and
 * nothing is half-stored.  (From a regular file it is read again: above.)
 */
START_TEST(session_pipe_too_large_to_resend)
{
    nws_client *c = ls_connect(tproxy_port(ls_px), 20);
    nws_ws     *ws = ls_use(c, "t");
    size_t      n = 3u << 20;
    int         src = ls_pattern_file(n, 3), p[2], status;
    nws_error   err;
    char       *got, buf[65536];
    ssize_t     k;
    pid_t       pid;

    ck_assert_int_eq(pipe(p), 0);
    pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        close(p[0]);
        while ((k = read(src, buf, sizeof(buf))) > 0)
            if (write(p[1], buf, (size_t)k) != k)
                _exit(1);
        _exit(0);
    }
    close(p[1]);
    tproxy_cut_after(ls_px, n / 2, 0);
    ck_assert_int_eq(nws_store_fd(ws, "v", p[0], n, NWS_DESC_BYTES, &err), -1);
    ck_assert_msg(err.code == NWS_ERR_SESSION, "%d: %s", err.code, err.text);
    ck_assert_msg(strstr(err.text, "too large to send again") != NULL, "%s", err.text);
    close(p[0]);
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    close(src);
    nws_ws_free(ws);
    nws_close(c);
    c = ls_connect(ls_srv.port, 0);
    ws = ls_use(c, "t");
    ck_assert_int_eq(nws_fetch_try_string(ws, "v", &got, &err), 0);
    nws_ws_free(ws);
    nws_close(c);
}
END_TEST

/*
 * nws_close ends the session: an owned workspace goes at once, as on a
 * classic close, not after the grace (60 s); a cut alone keeps it.
 */
START_TEST(session_close_ends_it)
{
    nws_client *c = ls_connect(tproxy_port(ls_px), 20);
    nws_ws     *ws;
    nws_error   err;
    struct rawc r;

    PT_OPEN(&r, ls_srv.port, RAWC_PLAIN);
    ws = nws_ws_open(c, "owned", 0, &err);
    ck_assert_msg(ws != NULL, "open: %s", err.text);
    tproxy_cut(ls_px);
    usleep(300000);
    ptest_wait_ws(__LINE__, &r, "owned", 1);
    ck_assert_int_eq(nws_store_string(ws, "x", "v", &err), 0);
    nws_ws_free(ws);
    nws_close(c);
    ptest_wait_ws(__LINE__, &r, "owned", 0);
    rawc_close(&r);
}
END_TEST

/*
 * nws_close with blocking fetches in flight (the Sleigh's result pipeline):
 * the session still ends at once, its parked fetch cancelled, so a value
 * stored after the close stays for others and the owned workspace goes.
 */
START_TEST(session_close_with_fetches_in_flight)
{
    nws_client     *c = ls_connect(ls_srv.port, 20);
    nws_ws         *ws = ls_use(c, "p"), *own;
    struct nwsp_buf b = {0};
    nws_error       err = {0};
    struct rawc     r;

    PT_OPEN(&r, ls_srv.port, RAWC_PLAIN);
    PT_OK(&r, "use ws", "p", "", "no");
    own = nws_ws_open(c, "powned", 0, &err);
    ck_assert_msg(own != NULL, "open: %s", err.text);
    ck_assert_int_eq(nwsp_sleigh_put_get(ws, &b, "x", NWS_OP_FETCH, NULL, &err), 0);
    ck_assert_int_eq(nwsp_sleigh_put_get(ws, &b, "x", NWS_OP_FETCH, NULL, &err), 0);
    ck_assert_int_eq(nwsp_sleigh_send_buf(c, &b, &err), 0);
    nwsp_buf_free(&b);
    ptest_wait_waiters(__LINE__, &r, "p", "x", 1, 0);
    nws_ws_free(own);
    nws_ws_free(ws);
    nws_close(c);
    ptest_wait_ws(__LINE__, &r, "powned", 0);
    ptest_wait_waiters(__LINE__, &r, "p", "x", 0, 0);
    PT_OK(&r, "store", "p", "x", "1", "v");
    PT_VALUE(&r, "v", "fetchTry", "p", "x");
    rawc_close(&r);
}
END_TEST

/* A thread: lets the proxy take connections again after 1.5 s. */
static void *
ls_resume_later(void *arg)
{
    usleep(1500000);
    tproxy_resume(arg);
    return NULL;
}

/*
 * The server away for a while (every connection refused), back before the
 * limit: the call waits with back-off, resumes and returns as if nothing
 * happened.
 */
START_TEST(session_server_back_before_limit)
{
    nws_client *c = ls_connect(tproxy_port(ls_px), 20);
    nws_ws     *ws = ls_use(c, "w");
    nws_error   err;
    pthread_t   t;
    char       *got;
    double      t0;

    ck_assert_int_eq(nws_store_string(ws, "x", "1", &err), 0);
    tproxy_pause(ls_px);
    tproxy_cut(ls_px);
    ck_assert_int_eq(pthread_create(&t, NULL, ls_resume_later, ls_px), 0);
    t0 = nwsp_mono();
    ck_assert_msg(nws_store_string(ws, "x", "2", &err) == 0, "%s", err.text);
    ck_assert_msg(nwsp_mono() - t0 >= 1.0, "back after %.2f s", nwsp_mono() - t0);
    ck_assert_int_eq(pthread_join(t, NULL), 0);
    ck_assert_int_eq(tproxy_accepted(ls_px), 2);
    ck_assert_int_eq(nws_fetch_try_string(ws, "x", &got, &err), 1);
    ck_assert_str_eq(got, "1");
    free(got);
    ck_assert_int_eq(nws_fetch_try_string(ws, "x", &got, &err), 1);
    ck_assert_str_eq(got, "2");
    free(got);
    ck_assert_int_eq(nws_fetch_try_string(ws, "x", &got, &err), 0);
    nws_ws_free(ws);
    nws_close(c);
}
END_TEST

/* A server away past the limit: NWS_ERR_CLOSED, saying so, in bounded time. */
START_TEST(session_server_gone_past_limit)
{
    nws_client *c = ls_connect(tproxy_port(ls_px), 2);
    nws_ws     *ws = ls_use(c, "g");
    nws_error   err;
    double      t0;

    ck_assert_int_eq(nws_store_string(ws, "x", "v", &err), 0);
    tproxy_pause(ls_px);
    tproxy_cut(ls_px);
    t0 = nwsp_mono();
    ck_assert_int_eq(nws_store_string(ws, "x", "w", &err), -1);
    ck_assert_int_eq(err.code, NWS_ERR_CLOSED);
    ck_assert_msg(strstr(err.text, "unreachable for 2 s") != NULL, "%s", err.text);
    ck_assert_msg(nwsp_mono() - t0 < 20, "took %.1f s", nwsp_mono() - t0);
    ck_assert_int_eq(nws_is_open(c), 0);
    nws_ws_free(ws);
    nws_close(c);
}
END_TEST

/* Reconnect off: a cut is an error at once, as before sessions. */
START_TEST(session_reconnect_off)
{
    nws_client *c = ls_connect(tproxy_port(ls_px), 0);
    nws_ws     *ws = ls_use(c, "o");
    nws_error   err;

    tproxy_cut(ls_px);
    ck_assert_int_eq(nws_store_string(ws, "x", "w", &err), -1);
    ck_assert_int_eq(err.code == NWS_ERR_CLOSED || err.code == NWS_ERR_IO, 1);
    ck_assert_int_eq(tproxy_accepted(ls_px), 1);
    nws_ws_free(ws);
    nws_close(c);
}
END_TEST

/*
 * The server restarted without a journal forgot the session: the call
 * fails with NWS_ERR_SESSION, and the client goes on in a new session.
 */
START_TEST(session_lost_is_an_error)
{
    struct nwstest_server s2;
    nws_client           *c = ls_connect(tproxy_port(ls_px), 10);
    nws_ws               *ws = ls_use(c, "l");
    nws_error             err;
    char                  id[17], *got;

    ck_assert_int_eq(nws_store_string(ws, "x", "v", &err), 0);
    snprintf(id, sizeof(id), "%s", nws_session_id(c));
    nwstest_server_stop(&ls_srv);
    ck_assert_int_eq(nwstest_server_start(&s2, NULL), 0);
    tproxy_set_target(ls_px, s2.port);
    tproxy_cut(ls_px);
    ck_assert_int_eq(nws_store_string(ws, "x", "w", &err), -1);
    ck_assert_msg(err.code == NWS_ERR_SESSION, "%d: %s", err.code, err.text);
    ck_assert_int_eq(nws_is_open(c), 1);
    ck_assert_ptr_nonnull(nws_session_id(c));
    ck_assert_str_ne(nws_session_id(c), id);
    /* The old session's state is gone: the workspace must be used again. */
    nws_ws_free(ws);
    ws = ls_use(c, "l");
    ck_assert_msg(nws_store_string(ws, "x", "again", &err) == 0, "%s", err.text);
    ck_assert_int_eq(nws_fetch_try_string(ws, "x", &got, &err), 1);
    ck_assert_str_eq(got, "again");
    free(got);
    nws_ws_free(ws);
    nws_close(c);
    nwstest_server_stop(&s2);
    ck_assert_int_eq(nwstest_server_start(&ls_srv, NULL), 0);
}
END_TEST

/*
 * Over TLS: the reconnect dials, does TLS again (verifying the server) and
 * resumes; the proxy only carries the encrypted bytes.
 */
START_TEST(session_tls_across_cut)
{
    char                  dir[64] = "/tmp/nwstls.XXXXXX", cmd[1024], cert[128], key[128];
    char                  ca[128], *got;
    struct nwstest_server s;
    struct tproxy        *p;
    nws_client           *c;
    nws_ws               *ws;
    nws_error             err;

    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(
        cmd, sizeof(cmd),
        "(cd %s && openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem "
        "-days 1 -subj '/CN=nws test CA' && openssl req -newkey rsa:2048 -nodes "
        "-keyout srv.key -out srv.csr -subj '/CN=localhost' && printf "
        "'subjectAltName=IP:127.0.0.1\\n' > ext && openssl x509 -req -in srv.csr "
        "-CA ca.pem -CAkey ca.key -CAcreateserial -out srv.pem -days 1 -extfile ext) "
        ">/dev/null 2>&1",
        dir);
    ck_assert_msg(system(cmd) == 0, "openssl could not make the test certificates");
    snprintf(cert, sizeof(cert), "%s/srv.pem", dir);
    snprintf(key, sizeof(key), "%s/srv.key", dir);
    snprintf(ca, sizeof(ca), "%s/ca.pem", dir);
    {
        const char *extra[] = {"--tls-cert", cert, "--tls-key", key, NULL};

        ck_assert_int_eq(nwstest_server_start(&s, extra), 0);
    }
    p = tproxy_start(s.port);
    ck_assert_ptr_nonnull(p);
    setenv("NWS_TLS_CA", ca, 1);
    c = ls_connect(tproxy_port(p), 20);
    ws = ls_use(c, "tls");
    ck_assert_int_eq(nws_store_string(ws, "x", "one", &err), 0);
    ck_assert_int_eq(tproxy_cut(p), 1);
    ck_assert_msg(nws_store_string(ws, "x", "two", &err) == 0, "%s", err.text);
    ck_assert_int_eq(tproxy_accepted(p), 2);
    ck_assert_int_eq(nws_fetch_try_string(ws, "x", &got, &err), 1);
    ck_assert_str_eq(got, "one");
    free(got);
    ck_assert_int_eq(nws_fetch_try_string(ws, "x", &got, &err), 1);
    ck_assert_str_eq(got, "two");
    free(got);
    nws_ws_free(ws);
    nws_close(c);
    unsetenv("NWS_TLS_CA");
    tproxy_stop(p);
    nwstest_server_stop(&s);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    ck_assert_int_eq(system(cmd), 0);
}
END_TEST

NWSTEST_SUITE(libnws_session)
{
    Suite *s = suite_create("libnws_session");
    TCase *tc = tcase_create("core");

    tcase_add_checked_fixture(tc, ls_setup, ls_teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, session_negotiated);
    tcase_add_test(tc, session_cuts_in_a_stream);
    tcase_add_test(tc, session_blocking_fetch_across_cut);
    tcase_add_test(tc, session_bulk_across_cut);
    tcase_add_test(tc, session_bulk_last_reply_in_reconnect);
    tcase_add_test(tc, session_stream_across_cuts);
    tcase_add_test(tc, session_pipe_too_large_to_resend);
    tcase_add_test(tc, session_close_ends_it);
    tcase_add_test(tc, session_close_with_fetches_in_flight);
    tcase_add_test(tc, session_server_back_before_limit);
    tcase_add_test(tc, session_server_gone_past_limit);
    tcase_add_test(tc, session_reconnect_off);
    tcase_add_test(tc, session_lost_is_an_error);
    suite_add_tcase(s, tc);
    tc = tcase_create("tls");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, session_tls_across_cut);
    suite_add_tcase(s, tc);
    return s;
}
