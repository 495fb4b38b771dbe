/*
 * check_decode.c -- the request decoder (server/decode.c) does not care how
 * its input is cut: every request kind, sent whole and then one byte per
 * write, gets the same replies.
 *
 * Two transports, as the server has them: the in-memory server of
 * fuzz/fuzz_srv.c (bufferevent pairs; one byte per write, the loop run after
 * each), where reply bytes are counted, and a real nwsserver over TCP (the
 * socket transport, with its direct reads of store values), where one send()
 * per byte with TCP_NODELAY must bring back byte for byte the replies of the
 * whole script.
 */
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "frame.h"
#include "fuzz.h"
#include "ptest.h"

#define DC_SPOOL  200  /* the real server's --spool-threshold */
#define DC_MAXVAL 2000 /* ... and --max-value-size */

/* One connection's bytes: a handshake, then requests. */
struct dc_script {
    const char     *name;
    struct nwsp_buf b;
    int             meta; /* requests start with a metadata DICT */
};

/* Appends a request of NUL-terminated arguments; a non-NULL tag adds metadata. */
static void
dc_req(struct dc_script *s, const char *tag, ...)
{
    const char *argv[16];
    unsigned    argc = 0, i;
    va_list     ap;

    va_start(ap, tag);
    while ((argv[argc] = va_arg(ap, const char *)) != NULL)
        argc++;
    va_end(ap);
    if (s->meta) {
        ck_assert_int_eq(nwsp_buf_dict_begin(&s->b, tag != NULL ? 1 : 0), 0);
        if (tag != NULL)
            ck_assert_int_eq(nwsp_buf_dict_put(&s->b, "tag", 3, tag, strlen(tag)), 0);
    }
    ck_assert_int_eq(nwsp_buf_argc(&s->b, argc), 0);
    for (i = 0; i < argc; i++)
        ck_assert_int_eq(nwsp_buf_arg(&s->b, argv[i], strlen(argv[i])), 0);
}

/* A store of a value of n bytes of c. */
static void
dc_store(struct dc_script *s, const char *tag, const char *ws, const char *var, size_t n,
         char c)
{
    char *v = malloc(n + 1);

    ck_assert_ptr_nonnull(v);
    memset(v, c, n);
    v[n] = '\0';
    dc_req(s, tag, "store", ws, var, "0", v, NULL);
    free(v);
}

static void
dc_raw(struct dc_script *s, const char *p)
{
    ck_assert_int_eq(nwsp_buf_add(&s->b, p, strlen(p)), 0);
}

/* Every command of the table on a workspace of its own, then a clean end. */
static void
dc_commands(struct dc_script *s, const char *ws)
{
    char name[2048];

    dc_req(s, NULL, "open ws", ws, "owner", "False", NULL);
    dc_req(s, "t1", "use ws", ws, "owner", "False", NULL);
    dc_req(s, NULL, "declare var", ws, "fifo", "fifo", NULL);
    dc_req(s, NULL, "declare var", ws, "single", "single", NULL);
    dc_store(s, "short", ws, "fifo", 10, 'a');
    dc_store(s, NULL, ws, "fifo", 0, 'x');                /* an empty value */
    dc_store(s, "long", ws, "fifo", DC_SPOOL + 300, 'b'); /* spooled */
    dc_store(s, NULL, ws, "single", 150, 'c');            /* spooled in memory tests */
    dc_store(s, NULL, ws, "big", DC_MAXVAL + 1000, 'd');  /* over the limit */
    dc_req(s, NULL, "list vars", ws, NULL);
    dc_req(s, NULL, "findTry", ws, "fifo", NULL);
    dc_req(s, NULL, "find", ws, "fifo", NULL);
    dc_req(s, NULL, "fetchTry", ws, "fifo", NULL);
    dc_req(s, NULL, "fetch", ws, "fifo", NULL);
    dc_req(s, NULL, "ifindTry", ws, "fifo", "0", "0", NULL);
    dc_req(s, NULL, "ifind", ws, "single", "0", "0", NULL);
    dc_req(s, NULL, "ifetchTry", ws, "fifo", "0", "0", NULL);
    dc_req(s, NULL, "ifetch", ws, "fifo", "0", "0", NULL);
    dc_req(s, NULL, "fetchTry", ws, "nosuch", NULL);
    /* Errors the decoder decides: argument count, lengths, unknown verb. */
    dc_req(s, NULL, "store", ws, "fifo", NULL);
    dc_req(s, NULL, "fetchTry", ws, "fifo", "a", "b", "c", "d", "e", "f", NULL);
    dc_req(s, NULL, "no such verb", ws, NULL);
    memset(name, 'v', 80);
    name[80] = '\0';
    dc_req(s, NULL, name, ws, NULL); /* verb too long */
    memset(name, 'n', 1500);
    name[1500] = '\0';
    dc_req(s, NULL, "fetchTry", ws, name, NULL); /* name too long */
    dc_req(s, NULL, "delete var", ws, "single", NULL);
    dc_req(s, NULL, "delete ws", ws, NULL);
}

/* The scripts of the in-memory server: handshakes of each kind, each request kind. */
static int
dc_build(struct dc_script *s, int max)
{
    int n = 0;

    memset(s, 0, sizeof(*s) * (size_t)max);
    s[n].name = "old handshake, every command";
    dc_raw(&s[n], "1111");
    dc_commands(&s[n], "w1");
    n++;
    s[n].name = "old cookie handshake, every command";
    dc_raw(&s[n], "1112");
    dc_commands(&s[n], "w2");
    n++;
    s[n].name = "new handshake with metadata, every command";
    s[n].meta = 1;
    ck_assert_int_eq(nwsp_buf_add(&s[n].b, fuzz_hs_new, fuzz_hs_new_len), 0);
    dc_commands(&s[n], "w3");
    n++;
    s[n].name = "new handshake, no option";
    dc_raw(&s[n], "X000R0000000");
    dc_commands(&s[n], "w4");
    n++;
    s[n].name = "new handshake, unknown option";
    dc_raw(&s[n], "X000R00000010003Foo00011");
    n++;
    s[n].name = "bad argument count";
    dc_raw(&s[n], "1111");
    dc_req(&s[n], NULL, "fetchTry", "w", "v", NULL);
    dc_raw(&s[n], "00x1");
    n++;
    s[n].name = "empty argument list";
    dc_raw(&s[n], "11110000");
    n++;
    s[n].name = "bad argument length";
    dc_raw(&s[n], "11110001000000000000000000x5");
    n++;
    s[n].name = "bad metadata dictionary";
    s[n].meta = 1;
    ck_assert_int_eq(nwsp_buf_add(&s[n].b, fuzz_hs_new, fuzz_hs_new_len), 0);
    dc_raw(&s[n], "0001zz");
    n++;
    ck_assert_int_le(n, max);
    return n;
}

static void
dc_free(struct dc_script *s, int n)
{
    while (n-- > 0)
        free(s[n].b.data);
}

/* Reply bytes of the in-memory server for s, whole (step 0) or step bytes per write. */
static size_t
dc_mem_run(const struct dc_script *s, unsigned flags, size_t step)
{
    size_t i, n, got;

    fuzz_srv_begin(flags);
    if (step == 0) {
        fuzz_srv_write(0, s->b.data, s->b.len);
        fuzz_srv_run();
    } else {
        for (i = 0; i < s->b.len; i += n) {
            n = s->b.len - i < step ? s->b.len - i : step;
            fuzz_srv_write(0, s->b.data + i, n);
            fuzz_srv_run();
        }
    }
    got = fuzz_srv_replied(0);
    fuzz_srv_end();
    return got;
}

START_TEST(mem_one_byte_at_a_time)
{
    static const unsigned flagsets[] = {0, FUZZ_SRV_SPOOL, FUZZ_SRV_TINYVAL,
                                        FUZZ_SRV_SMALL};
    struct dc_script      s[16];
    int                   n = dc_build(s, 16), i;
    unsigned              f;
    size_t                whole, bytes, threes;

    for (i = 0; i < n; i++) {
        for (f = 0; f < sizeof(flagsets) / sizeof(flagsets[0]); f++) {
            whole = dc_mem_run(&s[i], flagsets[f], 0);
            bytes = dc_mem_run(&s[i], flagsets[f], 1);
            threes = dc_mem_run(&s[i], flagsets[f], 3);
            ck_assert_msg(whole > 0, "%s (flags %u): no reply at all", s[i].name,
                          flagsets[f]);
            ck_assert_msg(bytes == whole && threes == whole,
                          "%s (flags %u): %zu reply bytes whole, %zu byte by byte, "
                          "%zu three by three",
                          s[i].name, flagsets[f], whole, bytes, threes);
        }
    }
    dc_free(s, n);
}
END_TEST

static struct nwstest_server *dc_srv;

static void
dc_setup(void)
{
    static const char *const extra[] = {
        "--no-auth", "--spool-threshold", "200", "--max-value-size", "2000", NULL};

    dc_srv = ptest_start(extra);
}

static void
dc_teardown(void)
{
    ptest_stop(dc_srv);
}

/* Sends s over a fresh socket, whole or one send() per byte; returns every reply byte. */
static char *
dc_sock_run(const struct dc_script *s, int bytewise, size_t *outlen)
{
    struct nwsp_buf out = {0};
    struct pollfd   pfd;
    char            buf[65536];
    size_t          i;
    ssize_t         r;
    int             fd, one = 1;

    fd = nwstest_connect(dc_srv->port, 5);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)), 0);
    if (!bytewise) {
        ck_assert_int_eq(nwstest_write_all(fd, s->b.data, s->b.len), 0);
    } else {
        for (i = 0; i < s->b.len; i++) {
            ck_assert_int_eq(nwstest_write_all(fd, s->b.data + i, 1), 0);
            /* Drain replies as they come, so the server never waits on us. */
            while ((r = recv(fd, buf, sizeof(buf), MSG_DONTWAIT)) > 0)
                ck_assert_int_eq(nwsp_buf_add(&out, buf, (size_t)r), 0);
        }
    }
    /* Everything until the server closes or stays silent for a while. */
    pfd.fd = fd;
    pfd.events = POLLIN;
    while (poll(&pfd, 1, 500) == 1) {
        if ((r = recv(fd, buf, sizeof(buf), 0)) <= 0)
            break;
        ck_assert_int_eq(nwsp_buf_add(&out, buf, (size_t)r), 0);
    }
    close(fd);
    *outlen = out.len;
    return out.data;
}

START_TEST(socket_one_byte_at_a_time)
{
    struct dc_script s[16];
    int              n = dc_build(s, 16), i;
    char            *whole, *bytes;
    size_t           wlen, blen;

    for (i = 0; i < n; i++) {
        /* Cookies carry random variable ids, new for each run: those in memory only. */
        if (memcmp(s[i].b.data, "1111", 4) != 0 && strstr(s[i].name, "unknown") == NULL)
            continue;
        whole = dc_sock_run(&s[i], 0, &wlen);
        bytes = dc_sock_run(&s[i], 1, &blen);
        ck_assert_msg(wlen > 0, "%s: no reply at all", s[i].name);
        ck_assert_msg(blen == wlen && memcmp(whole, bytes, wlen) == 0,
                      "%s: %zu reply bytes whole, %zu byte by byte, or they differ",
                      s[i].name, wlen, blen);
        free(whole);
        free(bytes);
    }
    dc_free(s, n);
}
END_TEST

NWSTEST_SUITE(decode)
{
    Suite *s = suite_create("decode");
    TCase *tc = tcase_create("in memory");
    TCase *ts = tcase_create("socket");

    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, mem_one_byte_at_a_time);
    suite_add_tcase(s, tc);
    tcase_add_checked_fixture(ts, dc_setup, dc_teardown);
    tcase_set_timeout(ts, 60);
    tcase_add_test(ts, socket_one_byte_at_a_time);
    suite_add_tcase(s, ts);
    return s;
}
