/*
 * check_libnws_fake.c -- libnws against a fake server: what a real server
 * never does (garbage, oversized lengths, dropped connections, old
 * handshakes) and the exact bytes libnws sends.
 *
 * Each test forks a tiny server that accepts one connection on a loopback
 * port and plays a script.  The script checks what it receives and exits
 * non-zero on any surprise, so both sides of the conversation are tested.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "nws.h"
#include "nwstest.h"

typedef void (*fake_fn)(int fd);

struct fake {
    pid_t pid;
    int   port;
};

/* A received request: up to 16 arguments and the metadata dictionary's entries. */
struct fake_req {
    int    argc;
    char  *argv[16];
    size_t argl[16];
    int    nmeta;
    char   meta[8][2][64];
};

/* Child side: dies with status 3 when the peer did not send what was expected. */
static void
fake_die(int code)
{
    _exit(code);
}

/* Child side: reads exactly n bytes or dies. */
static void
fake_read(int fd, void *buf, size_t n)
{
    if (nwstest_read_exact(fd, buf, n) != 0)
        fake_die(4);
}

/* Child side: reads len bytes and dies unless they equal want. */
static void
fake_expect(int fd, const char *want, size_t len)
{
    char *got = malloc(len);

    fake_read(fd, got, len);
    if (memcmp(got, want, len) != 0)
        fake_die(3);
    free(got);
}

/* Child side: writes s or dies. */
static void
fake_send(int fd, const char *s, size_t len)
{
    if (nwstest_write_all(fd, s, len) != 0)
        fake_die(5);
}

#define FAKE_SEND(fd, lit) fake_send(fd, lit, sizeof(lit) - 1)
#define FAKE_EXPECT(fd, lit) fake_expect(fd, lit, sizeof(lit) - 1)

/* Child side: reads a decimal field of n digits. */
static unsigned long long
fake_num(int fd, size_t n)
{
    char buf[21];

    fake_read(fd, buf, n);
    buf[n] = '\0';
    return strtoull(buf, NULL, 10);
}

/* Child side: reads one request (with a metadata dictionary if meta). */
static void
fake_request(int fd, int meta, struct fake_req *r)
{
    unsigned long long n, i, k, v;

    memset(r, 0, sizeof(*r));
    if (meta) {
        n = fake_num(fd, 4);
        for (i = 0; i < n; i++) {
            k = fake_num(fd, 4);
            if (k >= 64 || i >= 8)
                fake_die(6);
            fake_read(fd, r->meta[i][0], k);
            v = fake_num(fd, 4);
            if (v >= 64)
                fake_die(6);
            fake_read(fd, r->meta[i][1], v);
        }
        r->nmeta = (int)n;
    }
    r->argc = (int)fake_num(fd, 4);
    if (r->argc < 1 || r->argc > 16)
        fake_die(7);
    for (i = 0; i < (unsigned long long)r->argc; i++) {
        r->argl[i] = fake_num(fd, 20);
        r->argv[i] = calloc(1, r->argl[i] + 1);
        fake_read(fd, r->argv[i], r->argl[i]);
    }
}

/* Child side: the handshake with an empty advertisement, so no metadata. */
static void
fake_hs_plain(int fd)
{
    FAKE_EXPECT(fd, "X000");
    FAKE_SEND(fd, "P0000000");
    FAKE_EXPECT(fd, "R0000000");
    FAKE_SEND(fd, "A000");
}

/* Child side: the handshake of section 2.9, metadata both ways. */
static void
fake_hs_meta(int fd)
{
    FAKE_EXPECT(fd, "X000");
    FAKE_SEND(fd, "P000"
                  "0004"
                  "0010NwsWebPort00044242"
                  "0018MetadataFromServer0000"
                  "0016MetadataToServer0000"
                  "0017KillServerOnClose0000");
    FAKE_EXPECT(fd, "R000"
                    "0002"
                    "0016MetadataToServer00011"
                    "0018MetadataFromServer00011");
    FAKE_SEND(fd, "A000");
}

/* Starts a fake server running fn on its first connection; 0, or -1. */
static int
fake_start(struct fake *f, fake_fn fn)
{
    struct sockaddr_in sin;
    socklen_t          sl = sizeof(sin);
    int                lfd, fd, one = 1;

    if ((lfd = socket(AF_INET, SOCK_STREAM, 0)) < 0)
        return -1;
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(lfd, (struct sockaddr *)&sin, sizeof(sin)) != 0 || listen(lfd, 4) != 0 ||
        getsockname(lfd, (struct sockaddr *)&sin, &sl) != 0) {
        close(lfd);
        return -1;
    }
    f->port = ntohs(sin.sin_port);
    if ((f->pid = fork()) < 0)
        return -1;
    if (f->pid == 0) {
        alarm(20); /* never outlive a broken test */
        if ((fd = accept(lfd, NULL, NULL)) < 0)
            _exit(8);
        close(lfd);
        fn(fd);
        close(fd);
        _exit(0);
    }
    close(lfd);
    return 0;
}

/* Waits for the fake server; its exit status (0: it saw what it expected). */
static int
fake_wait(struct fake *f)
{
    int st;

    if (waitpid(f->pid, &st, 0) != f->pid)
        return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* Connects to the fake server; fails the test if that does not work. */
static nws_client *
fake_connect(struct fake *f)
{
    nws_error   err;
    nws_client *c = nws_connect("127.0.0.1", f->port, 0, &err);

    ck_assert_msg(c != NULL, "connect: %s", err.text);
    return c;
}

/* ---- connecting ---- */

START_TEST(refused)
{
    struct sockaddr_in sin;
    socklen_t          sl = sizeof(sin);
    nws_error          err;
    int                fd = socket(AF_INET, SOCK_STREAM, 0);

    /* A port that was just bound and released: nobody listens there. */
    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
    ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sin, &sl), 0);
    close(fd);
    ck_assert_ptr_null(nws_connect("127.0.0.1", ntohs(sin.sin_port), 0, &err));
    ck_assert_int_eq(err.code, NWS_ERR_CONNECT);
    ck_assert_int_eq(err.status, 0);
    ck_assert(strstr(err.text, "refused") != NULL);
    /* A NULL error pointer is allowed everywhere. */
    ck_assert_ptr_null(nws_connect("127.0.0.1", ntohs(sin.sin_port), 0, NULL));
}
END_TEST

START_TEST(bad_port_env)
{
    nws_error err;

    setenv("NWS_PORT", "http", 1);
    ck_assert_ptr_null(nws_connect(NULL, 0, 0, &err));
    ck_assert_int_eq(err.code, NWS_ERR_INVALID);
    unsetenv("NWS_PORT");
    ck_assert_ptr_null(nws_connect("127.0.0.1", 70000, 0, &err));
    ck_assert_int_eq(err.code, NWS_ERR_INVALID);
}
END_TEST

/* Script: answers like an HTTP server. */
static void
script_http(int fd)
{
    FAKE_EXPECT(fd, "X000");
    FAKE_SEND(fd, "HTTP/1.0 400 Bad Request\r\n\r\n");
}

START_TEST(not_nws)
{
    struct fake f;
    nws_error   err;

    ck_assert_int_eq(fake_start(&f, script_http), 0);
    ck_assert_ptr_null(nws_connect("127.0.0.1", f.port, 0, &err));
    ck_assert_int_eq(err.code, NWS_ERR_HANDSHAKE);
    ck_assert_int_eq(fake_wait(&f), 0);
}
END_TEST

/* Script: denies the options. */
static void
script_deny(int fd)
{
    FAKE_EXPECT(fd, "X000");
    FAKE_SEND(fd, "P0000000");
    FAKE_EXPECT(fd, "R0000000");
    FAKE_SEND(fd, "F000");
}

START_TEST(denied)
{
    struct fake f;
    nws_error   err;

    ck_assert_int_eq(fake_start(&f, script_deny), 0);
    ck_assert_ptr_null(nws_connect("127.0.0.1", f.port, 0, &err));
    ck_assert_int_eq(err.code, NWS_ERR_HANDSHAKE);
    ck_assert(strstr(err.text, "refused") != NULL);
    ck_assert_int_eq(fake_wait(&f), 0);
}
END_TEST

/* Script: an advertisement whose dictionary is broken. */
static void
script_bad_advert(int fd)
{
    FAKE_EXPECT(fd, "X000");
    FAKE_SEND(fd, "P00000020010NwsWebPortxxxx");
}

START_TEST(bad_advert)
{
    struct fake f;
    nws_error   err;

    ck_assert_int_eq(fake_start(&f, script_bad_advert), 0);
    ck_assert_ptr_null(nws_connect("127.0.0.1", f.port, 0, &err));
    ck_assert_int_eq(err.code, NWS_ERR_HANDSHAKE);
    ck_assert_int_eq(fake_wait(&f), 0);
}
END_TEST

/* Child side: answers a `use ws` request with status 0. */
static void
fake_use(int fd, int meta)
{
    struct fake_req r;

    fake_request(fd, meta, &r);
    if (strcmp(r.argv[0], "use ws") != 0)
        fake_die(3);
    if (meta)
        FAKE_SEND(fd, "0000");
    FAKE_SEND(fd, "0000");
}

/* Child side: reads a request and dies unless its command is cmd. */
static void
fake_expect_cmd(int fd, int meta, const char *cmd, struct fake_req *r)
{
    fake_request(fd, meta, r);
    if (strcmp(r->argv[0], cmd) != 0)
        fake_die(3);
}

/* Parent side: a handle on workspace "w" through the fake's fake_use(). */
static nws_ws *
fake_ws(nws_client *c)
{
    nws_error err;
    nws_ws   *ws = nws_ws_use(c, "w", 0, &err);

    ck_assert_msg(ws != NULL, "use ws: %s", err.text);
    return ws;
}

/* Script: a pre-2.0 server ("2223"): no metadata, cookies in long replies. */
static void
script_2223(int fd)
{
    struct fake_req r;

    FAKE_EXPECT(fd, "X000");
    FAKE_SEND(fd, "2223");
    fake_use(fd, 0);
    fake_expect_cmd(fd, 0, "fetchTry", &r);
    if (r.argc != 3 || strcmp(r.argv[1], "w") != 0 || strcmp(r.argv[2], "x") != 0)
        fake_die(3);
    FAKE_SEND(fd, "0000"
                  "00000000000000000001"
                  "00000000000000000042"
                  "00000000000000000007"
                  "00000000000000000002hi");
    /* The first call of an iterator: blank id, index 0, five arguments. */
    fake_expect_cmd(fd, 0, "ifindTry", &r);
    if (r.argc != 5 || memcmp(r.argv[3], "                    ", 20) != 0 ||
        strcmp(r.argv[4], "00000000000000000000") != 0)
        fake_die(3);
    FAKE_SEND(fd, "0001"
                  "00000000000000000000"
                  "                    "
                  "00000000000000000000"
                  "00000000000000000000");
}

START_TEST(old_server_2223)
{
    struct fake f;
    nws_client *c;
    nws_ws     *ws;
    nws_value  *v;
    nws_iter   *it;
    nws_error   err;

    ck_assert_int_eq(fake_start(&f, script_2223), 0);
    c = fake_connect(&f);
    ck_assert_int_eq(nws_has_meta_to_server(c), 0);
    ck_assert_int_eq(nws_has_meta_from_server(c), 0);
    ck_assert_int_eq(nws_has_cookie(c), 1);
    ws = fake_ws(c);
    ck_assert_int_eq(nws_fetch_try(ws, "x", &v, &err), 1);
    ck_assert_str_eq(nws_value_str(v), "hi");
    nws_value_free(v);
    /* Without metadata a status-1 "no value" reply ends the iterator. */
    it = nws_ifind(ws, "x", 0, &err);
    ck_assert_ptr_nonnull(it);
    ck_assert_int_eq(nws_iter_next(it, &v, &err), 0);
    ck_assert_int_eq(nws_iter_ended(it), 1);
    ck_assert_int_eq(nws_iter_next(it, &v, &err), 0); /* no request: the fake has none left */
    nws_iter_free(it);
    nws_ws_free(ws);
    nws_close(c);
    ck_assert_int_eq(fake_wait(&f), 0);
}
END_TEST

/* Script: a very old server ("2222"): no cookies in long replies. */
static void
script_2222(int fd)
{
    struct fake_req r;

    FAKE_EXPECT(fd, "X000");
    FAKE_SEND(fd, "2222");
    fake_use(fd, 0);
    fake_expect_cmd(fd, 0, "find", &r);
    FAKE_SEND(fd, "0000"
                  "00000000000000000003"
                  "00000000000000000003a\0b");
}

START_TEST(old_server_2222)
{
    struct fake f;
    nws_client *c;
    nws_ws     *ws;
    nws_value  *v;
    nws_error   err;

    ck_assert_int_eq(fake_start(&f, script_2222), 0);
    c = fake_connect(&f);
    ck_assert_int_eq(nws_has_cookie(c), 0);
    ws = fake_ws(c);
    v = nws_find(ws, "x", &err);
    ck_assert_ptr_nonnull(v);
    ck_assert_uint_eq(nws_value_size(v), 3);
    ck_assert_uint_eq(nws_value_desc(v), NWS_DESC_BYTES);
    ck_assert(memcmp(nws_value_data(v), "a\0b", 3) == 0);
    ck_assert_ptr_null(nws_value_str(v)); /* holds a NUL */
    nws_value_free(v);
    ck_assert_ptr_null(nws_ifind(ws, "x", 0, &err));
    ck_assert_int_eq(err.code, NWS_ERR_UNSUPPORTED);
    nws_ws_free(ws);
    nws_close(c);
    ck_assert_int_eq(fake_wait(&f), 0);
}
END_TEST

/* ---- exact request bytes ---- */

/* Script: checks `use ws` and `store` byte for byte (sections 3.2 and 3.3). */
static void
script_exact(int fd)
{
    fake_hs_plain(fd);
    FAKE_EXPECT(fd, "0004"
                    "00000000000000000006use ws"
                    "00000000000000000003foo"
                    "00000000000000000000"
                    "00000000000000000002no");
    FAKE_SEND(fd, "0000");
    FAKE_EXPECT(fd, "0005"
                    "00000000000000000005store"
                    "00000000000000000003foo"
                    "00000000000000000001x"
                    "0000000000000000002000000000000000000001"
                    "00000000000000000005hello");
    FAKE_SEND(fd, "0000");
    /* open ws: our pid as owner label, persistent, do not create. */
    fake_request(fd, 0, &(struct fake_req){0});
    FAKE_SEND(fd, "0100");
}

START_TEST(exact_bytes)
{
    struct fake f;
    nws_client *c;
    nws_ws     *ws;
    nws_error   err;

    ck_assert_int_eq(fake_start(&f, script_exact), 0);
    c = fake_connect(&f);
    ws = nws_ws_use(c, "foo", 0, &err);
    ck_assert_ptr_nonnull(ws);
    ck_assert_int_eq(nws_store_string(ws, "x", "hello", &err), 0);
    ck_assert_int_eq(err.code, NWS_ERR_NONE);
    ck_assert_ptr_null(nws_ws_open(c, "bar", NWS_WS_NOCREATE | NWS_WS_PERSISTENT, &err));
    ck_assert_int_eq(err.code, NWS_ERR_SERVER);
    ck_assert_int_eq(err.status, NWS_STATUS_NO_WS);
    ck_assert_int_eq(nws_is_open(c), 1);
    nws_ws_free(ws);
    nws_close(c);
    ck_assert_int_eq(fake_wait(&f), 0);
}
END_TEST

/* Script: metadata both ways, and the server's error texts. */
static void
script_meta(int fd)
{
    struct fake_req r;
    char            want_open[64];

    fake_hs_meta(fd);
    /* §3.2: R's use ws with metadata on, 99 bytes. */
    FAKE_EXPECT(fd, "0000"
                    "0004"
                    "00000000000000000006use ws"
                    "00000000000000000003foo"
                    "00000000000000000000"
                    "00000000000000000002no");
    FAKE_SEND(fd, "00000000");
    /* A store carries the value's metadata merged under the request's. */
    fake_expect_cmd(fd, 1, "store", &r);
    if (r.nmeta != 2 || strcmp(r.meta[0][0], "k") != 0 || strcmp(r.meta[0][1], "v2") != 0 ||
        strcmp(r.meta[1][0], "batchId") != 0 || strcmp(r.meta[1][1], "7") != 0)
        fake_die(3);
    FAKE_SEND(fd, "0001"
                  "0009nwsReason0014Store refused."
                  "0001");
    /* The request metadata was used up: the next request has none. */
    fake_expect_cmd(fd, 1, "fetchTry", &r);
    if (r.nmeta != 0)
        fake_die(3);
    FAKE_SEND(fd, "0001"
                  "0001k0001m"
                  "0000"
                  "00000000000000000001"
                  "00000000000000000099"
                  "00000000000000000003"
                  "00000000000000000002hi");
    /* A miss: status 1, "no value available". */
    fake_expect_cmd(fd, 1, "findTry", &r);
    FAKE_SEND(fd, "0001"
                  "0009nwsReason0018no value available"
                  "0001"
                  "00000000000000000000"
                  "                    "
                  "00000000000000000000"
                  "00000000000000000000");
    /* Any other status-1 long error is an error even for a Try. */
    fake_expect_cmd(fd, 1, "findTry", &r);
    FAKE_SEND(fd, "0001"
                  "0009nwsReason0021Variable id mismatch."
                  "0001"
                  "00000000000000000000"
                  "                    "
                  "00000000000000000000"
                  "00000000000000000000");
    fake_expect_cmd(fd, 1, "mktemp ws", &r);
    if (r.nmeta != 1 || strcmp(r.meta[0][0], "wstype") != 0 || strcmp(r.argv[1], "t%d") != 0)
        fake_die(3);
    FAKE_SEND(fd, "0000"
                  "0000"
                  "00000000000000000001"
                  "                    "
                  "00000000000000000000"
                  "00000000000000000010t7__nwssab");
    snprintf(want_open, sizeof(want_open), "%ld", (long)getppid()); /* the client */
    fake_expect_cmd(fd, 1, "open ws", &r);
    if (r.argc != 4 || strcmp(r.argv[1], "t7__nwssab") != 0 ||
        strcmp(r.argv[2], want_open) != 0 || strcmp(r.argv[3], "no") != 0)
        fake_die(3);
    FAKE_SEND(fd, "00000000");
}

START_TEST(metadata_both_ways)
{
    struct fake f;
    nws_client *c;
    nws_ws     *ws, *tmp;
    nws_value  *v;
    nws_meta   *m;
    nws_error   err;

    ck_assert_int_eq(fake_start(&f, script_meta), 0);
    c = fake_connect(&f);
    ck_assert_int_eq(nws_has_meta_to_server(c), 1);
    ck_assert_int_eq(nws_has_meta_from_server(c), 1);
    ck_assert_int_eq(nws_web_port(c), 4242);
    ws = nws_ws_use(c, "foo", 0, &err);
    ck_assert_ptr_nonnull(ws);

    v = nws_value_string("x", &err);
    ck_assert_int_eq(nws_meta_set(nws_value_meta(v), "k", "v1", &err), 0);
    m = nws_meta_new();
    ck_assert_int_eq(nws_meta_set(m, "k", "v2", &err), 0);
    ck_assert_int_eq(nws_meta_set(m, "batchId", "7", &err), 0);
    ck_assert_int_eq(nws_set_request_meta(c, m, &err), 0);
    nws_meta_free(m);
    ck_assert_int_eq(nws_store(ws, "x", v, &err), -1);
    ck_assert_int_eq(err.code, NWS_ERR_SERVER);
    ck_assert_int_eq(err.status, 1);
    ck_assert_str_eq(err.text, "Store refused.");
    ck_assert_int_eq(nws_is_open(c), 1);
    nws_value_free(v);

    ck_assert_int_eq(nws_fetch_try(ws, "x", &v, &err), 1);
    ck_assert_str_eq(nws_value_str(v), "hi");
    ck_assert_str_eq(nws_meta_get(nws_value_meta_get(v), "k"), "m");
    ck_assert_str_eq(nws_meta_get(nws_reply_meta(c), "k"), "m");
    nws_value_free(v);

    ck_assert_int_eq(nws_find_try(ws, "x", &v, &err), 0);
    ck_assert_ptr_null(v);
    ck_assert_int_eq(err.code, NWS_ERR_NONE);
    ck_assert_int_eq(nws_find_try(ws, "x", &v, &err), -1);
    ck_assert_int_eq(err.code, NWS_ERR_SERVER);
    ck_assert_str_eq(err.text, "Variable id mismatch.");

    m = nws_meta_new();
    ck_assert_int_eq(nws_meta_set(m, "wstype", "sleigh", &err), 0);
    ck_assert_int_eq(nws_set_request_meta(c, m, &err), 0);
    nws_meta_free(m);
    tmp = nws_ws_mktemp(c, "t%d", NWS_WS_OWN, &err);
    ck_assert_msg(tmp != NULL, "%s", err.text);
    ck_assert_str_eq(nws_ws_name(tmp), "t7__nwssab");
    ck_assert_ptr_eq(nws_ws_client(tmp), c);
    nws_ws_free(tmp);
    nws_ws_free(ws);
    nws_close(c);
    ck_assert_int_eq(fake_wait(&f), 0);
}
END_TEST

/* Script: a classic server that knows no "server info": the short error
 * of an unknown verb, then a next request, which must still be in step. */
static void
script_classic_info(int fd)
{
    struct fake_req r;

    fake_hs_meta(fd);
    fake_request(fd, 1, &r);
    if (r.argc != 1 || strcmp(r.argv[0], "server info") != 0)
        fake_die(3);
    FAKE_SEND(fd, "0001"
                  "0009nwsReason0026Unknown verb \"server info\""
                  "0001");
    fake_request(fd, 1, &r);
    if (r.argc != 2 || strcmp(r.argv[0], "delete ws") != 0)
        fake_die(4);
    FAKE_SEND(fd, "0000"
                  "0000");
}

/* nws_server_info on a server without it: NWS_ERR_UNSUPPORTED, no hang,
 * and the connection goes on. */
START_TEST(server_info_on_a_classic_server)
{
    struct fake f;
    nws_client *c;
    nws_error   err;

    ck_assert_int_eq(fake_start(&f, script_classic_info), 0);
    c = fake_connect(&f);
    ck_assert_ptr_null(nws_server_info(c, &err));
    ck_assert_int_eq(err.code, NWS_ERR_UNSUPPORTED);
    ck_assert_int_eq(nws_is_open(c), 1);
    ck_assert_int_eq(nws_ws_delete(c, "w", &err), 0);
    nws_close(c);
    ck_assert_int_eq(fake_wait(&f), 0);
}
END_TEST

START_TEST(meta_limits)
{
    nws_meta *m = nws_meta_new();
    nws_meta *copy;
    nws_error err;
    char     *big = malloc(10001);

    memset(big, 'a', 10000);
    big[10000] = '\0';
    ck_assert_int_eq(nws_meta_set(m, "k", big, &err), -1);
    ck_assert_int_eq(err.code, NWS_ERR_TOO_LARGE);
    big[9999] = '\0';
    ck_assert_int_eq(nws_meta_set(m, "k", big, &err), 0);
    ck_assert_int_eq(nws_meta_set(m, "j", "1", &err), 0);
    ck_assert_int_eq(nws_meta_set(m, "k", "2", &err), 0); /* replaces, keeps its place */
    ck_assert_uint_eq(nws_meta_size(m), 2);
    ck_assert_str_eq(nws_meta_key(m, 0), "k");
    ck_assert_str_eq(nws_meta_value(m, 0), "2");
    ck_assert_ptr_null(nws_meta_key(m, 2));
    copy = nws_meta_copy(m);
    ck_assert_int_eq(nws_meta_remove(m, "k"), 1);
    ck_assert_int_eq(nws_meta_remove(m, "k"), 0);
    ck_assert_ptr_null(nws_meta_get(m, "k"));
    ck_assert_str_eq(nws_meta_get(copy, "k"), "2");
    ck_assert_int_eq(nws_meta_set(NULL, "k", "v", &err), -1);
    ck_assert_int_eq(err.code, NWS_ERR_INVALID);
    nws_meta_free(m);
    nws_meta_free(copy);
    nws_meta_free(NULL);
    free(big);
}
END_TEST

/* ---- broken replies ---- */

/* Script: answers `use ws` with garbage. */
static void
script_garbage(int fd)
{
    struct fake_req r;

    fake_hs_plain(fd);
    fake_request(fd, 0, &r);
    FAKE_SEND(fd, "zz!!");
    /* Wait for the client to hang up, so it cannot blame an early EOF. */
    nwstest_peer_closed(fd, 5000);
}

START_TEST(garbage_reply)
{
    struct fake f;
    nws_client *c;
    nws_error   err;

    ck_assert_int_eq(fake_start(&f, script_garbage), 0);
    c = fake_connect(&f);
    ck_assert_ptr_null(nws_ws_use(c, "w", 0, &err));
    ck_assert_int_eq(err.code, NWS_ERR_PROTOCOL);
    ck_assert_int_eq(nws_is_open(c), 0);
    ck_assert_int_eq(nws_ws_delete(c, "w", &err), -1);
    ck_assert_int_eq(err.code, NWS_ERR_CLOSED);
    nws_close(c);
    ck_assert_int_eq(fake_wait(&f), 0);
}
END_TEST

/* Script: a long reply whose length is 10^11 bytes. */
static void
script_huge(int fd)
{
    struct fake_req r;

    fake_hs_plain(fd);
    fake_use(fd, 0);
    fake_request(fd, 0, &r);
    FAKE_SEND(fd, "0000"
                  "00000000000000000001"
                  "00000000000000000001"
                  "00000000000000000000"
                  "00000000100000000000");
    nwstest_peer_closed(fd, 5000);
}

START_TEST(oversized_length)
{
    struct fake f;
    nws_client *c;
    nws_ws     *ws;
    nws_value  *v;
    nws_error   err;

    ck_assert_int_eq(fake_start(&f, script_huge), 0);
    c = fake_connect(&f);
    ws = fake_ws(c);
    ck_assert_int_eq(nws_fetch_try(ws, "x", &v, &err), -1);
    ck_assert_int_eq(err.code, NWS_ERR_TOO_LARGE);
    ck_assert_ptr_null(v);
    ck_assert_int_eq(nws_is_open(c), 0);
    nws_ws_free(ws);
    nws_close(c);
    ck_assert_int_eq(fake_wait(&f), 0);
}
END_TEST

/* Script: a length field of 20 nines (over 2^64) after a small value limit test. */
static void
script_bad_length(int fd)
{
    struct fake_req r;

    fake_hs_plain(fd);
    fake_use(fd, 0);
    fake_request(fd, 0, &r);
    FAKE_SEND(fd, "0000"
                  "00000000000000000001"
                  "00000000000000000001"
                  "00000000000000000000"
                  "99999999999999999999");
    nwstest_peer_closed(fd, 5000);
}

START_TEST(unparsable_length)
{
    struct fake f;
    nws_client *c;
    nws_ws     *ws;
    nws_value  *v;
    nws_error   err;

    ck_assert_int_eq(fake_start(&f, script_bad_length), 0);
    c = fake_connect(&f);
    ws = fake_ws(c);
    ck_assert_int_eq(nws_find_try(ws, "x", &v, &err), -1);
    ck_assert_int_eq(err.code, NWS_ERR_PROTOCOL);
    ck_assert_int_eq(nws_is_open(c), 0);
    nws_ws_free(ws);
    nws_close(c);
    ck_assert_int_eq(fake_wait(&f), 0);
}
END_TEST

/* Script: a 2000-byte value for a client that allows 1000. */
static void
script_over_limit(int fd)
{
    struct fake_req r;
    char            big[2000];

    fake_hs_plain(fd);
    fake_use(fd, 0);
    fake_request(fd, 0, &r);
    memset(big, 'v', sizeof(big));
    FAKE_SEND(fd, "0000"
                  "00000000000000000001"
                  "00000000000000000001"
                  "00000000000000000000"
                  "00000000000000002000");
    fake_send(fd, big, sizeof(big));
    nwstest_peer_closed(fd, 5000);
}

START_TEST(over_value_limit)
{
    struct fake f;
    nws_client *c;
    nws_ws     *ws;
    nws_error   err;

    ck_assert_int_eq(fake_start(&f, script_over_limit), 0);
    c = fake_connect(&f);
    nws_set_max_value_size(c, 1000);
    ws = fake_ws(c);
    ck_assert_ptr_null(nws_fetch(ws, "x", &err));
    ck_assert_int_eq(err.code, NWS_ERR_TOO_LARGE);
    nws_ws_free(ws);
    nws_close(c);
    ck_assert_int_eq(fake_wait(&f), 0);
}
END_TEST

/* Script: half a reply, then the connection drops. */
static void
script_half(int fd)
{
    struct fake_req r;

    fake_hs_plain(fd);
    fake_use(fd, 0);
    fake_request(fd, 0, &r);
    FAKE_SEND(fd, "0000000000000000000");
}

START_TEST(dropped_mid_reply)
{
    struct fake f;
    nws_client *c;
    nws_ws     *ws;
    nws_error   err;

    ck_assert_int_eq(fake_start(&f, script_half), 0);
    c = fake_connect(&f);
    ws = fake_ws(c);
    ck_assert_ptr_null(nws_fetch(ws, "x", &err));
    ck_assert_int_eq(err.code, NWS_ERR_CLOSED);
    ck_assert_int_eq(nws_is_open(c), 0);
    nws_ws_free(ws);
    nws_close(c);
    ck_assert_int_eq(fake_wait(&f), 0);
}
END_TEST

/* Script: a reply dictionary with a non-digit length. */
static void
script_bad_dict(int fd)
{
    struct fake_req r;

    fake_hs_meta(fd);
    fake_request(fd, 1, &r);
    FAKE_SEND(fd, "0001000xnwsReason");
    nwstest_peer_closed(fd, 5000);
}

START_TEST(bad_reply_dict)
{
    struct fake f;
    nws_client *c;
    nws_error   err;

    ck_assert_int_eq(fake_start(&f, script_bad_dict), 0);
    c = fake_connect(&f);
    ck_assert_int_eq(nws_ws_delete(c, "w", &err), -1);
    ck_assert_int_eq(err.code, NWS_ERR_PROTOCOL);
    nws_close(c);
    ck_assert_int_eq(fake_wait(&f), 0);
}
END_TEST

/* Script: an error reply that carries a value, then a good reply. */
static void
script_status_value(int fd)
{
    struct fake_req r;

    fake_hs_plain(fd);
    fake_use(fd, 0);
    fake_request(fd, 0, &r);
    FAKE_SEND(fd, "2000"
                  "00000000000000000001"
                  "                    "
                  "00000000000000000000"
                  "00000000000000000005oops!");
    fake_request(fd, 0, &r);
    FAKE_SEND(fd, "0000"
                  "00000000000000000000"
                  "                    "
                  "00000000000000000000"
                  "00000000000000000000");
    fake_request(fd, 0, &r);
    FAKE_SEND(fd, "0000");
}

START_TEST(status_with_value)
{
    struct fake f;
    nws_client *c;
    nws_ws     *ws;
    nws_value  *v;
    nws_error   err;

    ck_assert_int_eq(fake_start(&f, script_status_value), 0);
    c = fake_connect(&f);
    ws = fake_ws(c);
    ck_assert_int_eq(nws_find_try(ws, "x", &v, &err), -1);
    ck_assert_int_eq(err.code, NWS_ERR_SERVER);
    ck_assert_int_eq(err.status, 2000);
    ck_assert_int_eq(nws_is_open(c), 1); /* the value was read: still in step */
    /* Status 0 with descriptor 0 and length 0 is "no value" (section 8.5). */
    ck_assert_ptr_null(nws_fetch(ws, "x", &err));
    ck_assert_int_eq(err.code, NWS_ERR_NO_VALUE);
    ck_assert_int_eq(nws_declare(ws, "x", NWS_MODE_FIFO, &err), 0);
    nws_ws_free(ws);
    nws_close(c);
    ck_assert_int_eq(fake_wait(&f), 0);
}
END_TEST

/* Script: never answers the request. */
static void
script_silent(int fd)
{
    struct fake_req r;

    fake_hs_plain(fd);
    fake_use(fd, 0);
    fake_request(fd, 0, &r);
    nwstest_peer_closed(fd, 5000);
}

START_TEST(timeout)
{
    struct fake     f;
    struct timespec t0, t1;
    nws_client     *c;
    nws_ws         *ws;
    nws_error       err;
    double          secs;

    ck_assert_int_eq(fake_start(&f, script_silent), 0);
    c = fake_connect(&f);
    ws = fake_ws(c);
    ck_assert_int_eq(nws_set_timeout(c, 200, &err), 0);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    ck_assert_ptr_null(nws_fetch(ws, "x", &err));
    clock_gettime(CLOCK_MONOTONIC, &t1);
    ck_assert_int_eq(err.code, NWS_ERR_TIMEOUT);
    secs = (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
    ck_assert_msg(secs > 0.15 && secs < 3, "timed out after %.2f s", secs);
    ck_assert_int_eq(nws_is_open(c), 0);
    nws_ws_free(ws);
    nws_close(c);
    ck_assert_int_eq(fake_wait(&f), 0);
}
END_TEST

#define FAKE_BULK_N 500

/* Script: reads every bulk request before answering any: one round trip. */
static void
script_bulk(int fd)
{
    struct fake_req r;
    int             i;

    fake_hs_plain(fd);
    fake_use(fd, 0);
    for (i = 0; i < FAKE_BULK_N; i++) {
        fake_expect_cmd(fd, 0, "store", &r);
        if (r.argc != 5 || (i % 2 == 0) != (strcmp(r.argv[2], "even") == 0))
            fake_die(3);
    }
    for (i = 0; i < FAKE_BULK_N; i++) {
        if (i == 7)
            FAKE_SEND(fd, "0001");
        else
            FAKE_SEND(fd, "0000");
    }
}

START_TEST(bulk_one_round_trip)
{
    struct fake f;
    nws_client *c;
    nws_ws     *ws;
    nws_bulk   *b;
    nws_error   err;
    char        val[32];
    int         i;

    ck_assert_int_eq(fake_start(&f, script_bulk), 0);
    c = fake_connect(&f);
    ws = fake_ws(c);
    b = nws_bulk_new(ws, &err);
    ck_assert_ptr_nonnull(b);
    for (i = 0; i < FAKE_BULK_N; i++) {
        snprintf(val, sizeof(val), "%d", i);
        ck_assert_int_eq(nws_bulk_store_raw(b, i % 2 ? "odd" : "even", val, strlen(val),
                                            NWS_DESC_TEXT, &err),
                         0);
    }
    ck_assert_int_eq(nws_bulk_store_raw(b, "x", NULL, 0, 0, &err), -1);
    ck_assert_int_eq(err.code, NWS_ERR_INVALID);
    ck_assert_uint_eq(nws_bulk_count(b), FAKE_BULK_N);
    ck_assert_int_eq(nws_bulk_flush(b, &err), 1);
    ck_assert_int_eq(err.code, NWS_ERR_SERVER);
    ck_assert_uint_eq(nws_bulk_count(b), 0);
    ck_assert_int_eq(nws_is_open(c), 1);
    nws_bulk_free(b);
    nws_ws_free(ws);
    nws_close(c);
    ck_assert_int_eq(fake_wait(&f), 0);
}
END_TEST

/* Script: takes the head of a store, then whatever comes until EOF. */
static void
script_short_source(int fd)
{
    char buf[4096];

    fake_hs_plain(fd);
    fake_use(fd, 0);
    while (read(fd, buf, sizeof(buf)) > 0)
        ;
}

START_TEST(store_fd_short_source)
{
    struct fake f;
    nws_client *c;
    nws_ws     *ws;
    nws_error   err;
    int         p[2];

    ck_assert_int_eq(fake_start(&f, script_short_source), 0);
    c = fake_connect(&f);
    ws = fake_ws(c);
    ck_assert_int_eq(pipe(p), 0);
    ck_assert_int_eq(write(p[1], "0123456789", 10), 10);
    close(p[1]);
    ck_assert_int_eq(nws_store_fd(ws, "x", p[0], 100, NWS_DESC_BYTES, &err), -1);
    ck_assert_int_eq(err.code, NWS_ERR_IO);
    ck_assert(strstr(err.text, "10 of 100") != NULL);
    ck_assert_int_eq(nws_is_open(c), 0);
    close(p[0]);
    nws_ws_free(ws);
    nws_close(c);
    ck_assert_int_eq(fake_wait(&f), 0);
}
END_TEST

START_TEST(invalid_arguments)
{
    nws_error  err;
    nws_value *v;

    ck_assert_int_eq(nws_store_string(NULL, "x", "y", &err), -1);
    ck_assert_int_eq(err.code, NWS_ERR_INVALID);
    ck_assert_int_eq(nws_fetch_try(NULL, "x", &v, &err), -1);
    ck_assert_int_eq(err.code, NWS_ERR_INVALID);
    ck_assert_ptr_null(nws_ws_use(NULL, "x", 0, &err));
    ck_assert_int_eq(err.code, NWS_ERR_INVALID);
    ck_assert_ptr_null(nws_value_new(NULL, 3, 1, &err));
    ck_assert_int_eq(err.code, NWS_ERR_INVALID);
    ck_assert_str_eq(nws_errcode_str(NWS_ERR_TOO_LARGE), "too large");
    ck_assert_str_eq(nws_errcode_str(12345), "unknown error");
    /* Every free function takes NULL. */
    nws_close(NULL);
    nws_ws_free(NULL);
    nws_value_free(NULL);
    nws_iter_free(NULL);
    nws_bulk_free(NULL);
    nws_ws_list_free(NULL);
    nws_var_list_free(NULL);
}
END_TEST

START_TEST(values)
{
    nws_error  err;
    nws_value *v = nws_value_bytes("a\0b", 3, &err);

    ck_assert_uint_eq(nws_value_desc(v), 3);
    ck_assert_uint_eq(nws_value_size(v), 3);
    ck_assert_ptr_null(nws_value_str(v));
    ck_assert_uint_eq(nws_meta_size(nws_value_meta_get(v)), 0);
    nws_value_free(v);
    v = nws_value_new("pickle", 6, 0x01000000, &err);
    ck_assert_ptr_null(nws_value_str(v)); /* not DIRECT_STRING */
    ck_assert_uint_eq(NWS_DESC_LANG(nws_value_desc(v)), 1);
    nws_value_free(v);
    v = nws_value_string("", &err);
    ck_assert_str_eq(nws_value_str(v), "");
    ck_assert_uint_eq(nws_value_desc(v), NWS_DESC_TEXT);
    nws_value_free(v);
}
END_TEST

START_TEST(listing_parsers)
{
    static const char wss[] = " __default\t[system]\tTrue\t0\t\n"
                              ">foo\tIPv4Address(TCP, '127.0.0.1', 40001) (123)\tFalse\t2\tnope,x\n";
    static const char vars[] = "nope\t0\t0\t0\tunknown\nq\t0\t2\t1\tunknown\nx\t1\t0\t0\tfifo";
    nws_ws_list      *wl;
    nws_var_list     *vl;
    nws_error         err;

    wl = nws_ws_list_parse(wss, sizeof(wss) - 1, &err);
    ck_assert_ptr_nonnull(wl);
    ck_assert_uint_eq(wl->count, 2);
    ck_assert_str_eq(wl->items[0].name, "__default");
    ck_assert_str_eq(wl->items[0].owner, "[system]");
    ck_assert_int_eq(wl->items[0].persistent, 1);
    ck_assert_int_eq(wl->items[0].mine, 0);
    ck_assert_uint_eq(wl->items[0].nvars_listed, 0);
    ck_assert_int_eq(wl->items[1].mine, 1);
    ck_assert_int_eq(wl->items[1].persistent, 0);
    ck_assert_uint_eq(wl->items[1].nvars, 2);
    ck_assert_uint_eq(wl->items[1].nvars_listed, 2);
    ck_assert_str_eq(wl->items[1].vars[1], "x");
    ck_assert_str_eq(wl->raw, wss);
    nws_ws_list_free(wl);

    wl = nws_ws_list_parse("\n", 1, &err); /* an unknown name */
    ck_assert_uint_eq(wl->count, 0);
    nws_ws_list_free(wl);
    ck_assert_ptr_null(nws_ws_list_parse("?foo\t\tTrue\t0\t\n", 15, &err));
    ck_assert_int_eq(err.code, NWS_ERR_PROTOCOL);
    ck_assert_ptr_null(nws_ws_list_parse(" foo\t\tyes\t0\t\n", 14, &err));
    ck_assert_ptr_null(nws_ws_list_parse(" foo\t\tTrue\tx\t\n", 14, &err));

    vl = nws_var_list_parse(vars, sizeof(vars) - 1, &err);
    ck_assert_ptr_nonnull(vl);
    ck_assert_uint_eq(vl->count, 3);
    ck_assert_str_eq(vl->items[1].name, "q");
    ck_assert_uint_eq(vl->items[1].fetchers, 2);
    ck_assert_uint_eq(vl->items[1].finders, 1);
    ck_assert_str_eq(vl->items[2].mode, "fifo");
    ck_assert_uint_eq(vl->items[2].values, 1);
    nws_var_list_free(vl);
    vl = nws_var_list_parse("", 0, &err);
    ck_assert_uint_eq(vl->count, 0);
    nws_var_list_free(vl);
    ck_assert_ptr_null(nws_var_list_parse("x\t1\t0\tfifo", 10, &err));
    ck_assert_int_eq(err.code, NWS_ERR_PROTOCOL);
}
END_TEST

NWSTEST_SUITE(libnws_fake)
{
    Suite *s = suite_create("libnws_fake");
    TCase *tc = tcase_create("connect");

    tcase_add_test(tc, refused);
    tcase_add_test(tc, bad_port_env);
    tcase_add_test(tc, not_nws);
    tcase_add_test(tc, denied);
    tcase_add_test(tc, bad_advert);
    tcase_add_test(tc, old_server_2223);
    tcase_add_test(tc, old_server_2222);
    suite_add_tcase(s, tc);

    tc = tcase_create("wire");
    tcase_add_test(tc, exact_bytes);
    tcase_add_test(tc, metadata_both_ways);
    tcase_add_test(tc, server_info_on_a_classic_server);
    tcase_add_test(tc, bulk_one_round_trip);
    suite_add_tcase(s, tc);

    tc = tcase_create("broken");
    tcase_add_test(tc, garbage_reply);
    tcase_add_test(tc, oversized_length);
    tcase_add_test(tc, unparsable_length);
    tcase_add_test(tc, over_value_limit);
    tcase_add_test(tc, dropped_mid_reply);
    tcase_add_test(tc, bad_reply_dict);
    tcase_add_test(tc, status_with_value);
    tcase_add_test(tc, timeout);
    tcase_add_test(tc, store_fd_short_source);
    suite_add_tcase(s, tc);

    tc = tcase_create("local");
    tcase_add_test(tc, meta_limits);
    tcase_add_test(tc, invalid_arguments);
    tcase_add_test(tc, values);
    tcase_add_test(tc, listing_parsers);
    suite_add_tcase(s, tc);
    return s;
}
