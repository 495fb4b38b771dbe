/*
 * check_tls_close.c -- the close cases of check_proto_close.c over TLS: a
 * fetched value cut off by --write-timeout comes back, and a client that
 * closes while parked in a fetch with more than 4 MiB of stores queued is
 * noticed, gets no value, and its stores never run.  The misbehaving
 * client is a raw OpenSSL client speaking the protocol by hand; the other
 * one is libnws.
 */
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/ssl.h>

#include "nws.h"
#include "nwstest.h"
#include "ptest.h"

static struct nwstest_server *tc_srv;
static char                   tc_dir[64], tc_ca[128], tc_cert[128], tc_key[128];

/* Makes the certificates and starts a TLS server with the options more (NULL-ended). */
static void
tc_setup_with(const char *const *more)
{
    const char *extra[16] = {"--tls-cert", tc_cert, "--tls-key", tc_key};
    char        cmd[2048];
    int         n = 4;

    while (*more != NULL && n < 15)
        extra[n++] = *more++;
    extra[n] = NULL;

    snprintf(tc_dir, sizeof(tc_dir), "/tmp/nwstlsc.XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tc_dir));
    snprintf(tc_ca, sizeof(tc_ca), "%s/ca.pem", tc_dir);
    snprintf(tc_cert, sizeof(tc_cert), "%s/srv.pem", tc_dir);
    snprintf(tc_key, sizeof(tc_key), "%s/srv.key", tc_dir);
    snprintf(cmd, sizeof(cmd),
             "(cd %s && "
             "openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 1 "
             "-subj '/CN=nws test CA' && "
             "openssl req -newkey rsa:2048 -nodes -keyout srv.key -out srv.csr "
             "-subj '/CN=localhost' && "
             "printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\\n' > ext && "
             "openssl x509 -req -in srv.csr -CA ca.pem -CAkey ca.key -CAcreateserial "
             "-out srv.pem -days 1 -extfile ext) >/dev/null 2>&1",
             tc_dir);
    ck_assert_msg(system(cmd) == 0, "openssl could not make the test certificates");
    tc_srv = ptest_start(extra);
    setenv("NWS_TLS_CA", tc_ca, 1);
}

static void
tc_setup(void)
{
    static const char *const more[] = {"--spool-threshold", "1M", "--write-timeout", "1", NULL};

    tc_setup_with(more);
}

/* Output limits: a hard limit well under the value fetched below. */
static void
tc_setup_limit(void)
{
    static const char *const more[] = {"--client-output-limit", "256K,0,0", NULL};

    tc_setup_with(more);
}

static void
tc_teardown(void)
{
    char cmd[128];

    unsetenv("NWS_TLS_CA");
    ptest_stop(tc_srv);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tc_dir);
    ck_assert_int_eq(system(cmd), 0);
}

/* A raw TLS client. */
struct tc_raw {
    SSL_CTX *ctx;
    SSL     *ssl;
    int      fd;
};

static void
tc_read(struct tc_raw *r, char *buf, size_t n)
{
    size_t got = 0;
    int    k;

    while (got < n) {
        k = SSL_read(r->ssl, buf + got, (int)(n - got));
        ck_assert_msg(k > 0, "TLS read failed");
        got += (size_t)k;
    }
}

static void
tc_write(struct tc_raw *r, const char *buf, size_t n)
{
    ck_assert_int_eq(SSL_write(r->ssl, buf, (int)n), (int)n);
}

/* Connects, does TLS and the new-style handshake asking for no option. */
static void
tc_open(struct tc_raw *r)
{
    char     buf[256];
    unsigned n, i;

    r->ctx = SSL_CTX_new(TLS_client_method());
    ck_assert_ptr_nonnull(r->ctx);
    SSL_CTX_set_verify(r->ctx, SSL_VERIFY_NONE, NULL);
    r->fd = nwstest_connect(tc_srv->port, 5);
    ck_assert_int_ge(r->fd, 0);
    r->ssl = SSL_new(r->ctx);
    SSL_set_fd(r->ssl, r->fd);
    ck_assert_int_eq(SSL_connect(r->ssl), 1);
    tc_write(r, "X000", 4);
    tc_read(r, buf, 8);
    ck_assert(memcmp(buf, "P000", 4) == 0);
    buf[8] = '\0';
    n = (unsigned)atoi(buf + 4);
    for (i = 0; i < 2 * n; i++) {
        unsigned len;

        tc_read(r, buf, 4);
        buf[4] = '\0';
        len = (unsigned)atoi(buf);
        ck_assert_uint_lt(len, sizeof(buf));
        tc_read(r, buf, len);
    }
    tc_write(r, "R0000000", 8);
    tc_read(r, buf, 4);
    ck_assert(memcmp(buf, "A000", 4) == 0);
}

/* Sends a request of NUL-terminated arguments (NULL at the end). */
static void
tc_send(struct tc_raw *r, const char *a0, ...)
{
    char        buf[4096];
    const char *a;
    va_list     ap;
    int         n = 0, argc = 0;

    va_start(ap, a0);
    for (a = a0; a != NULL; a = va_arg(ap, const char *))
        argc++;
    va_end(ap);
    n = snprintf(buf, sizeof(buf), "%04d", argc);
    va_start(ap, a0);
    for (a = a0; a != NULL; a = va_arg(ap, const char *))
        n += snprintf(buf + n, sizeof(buf) - (size_t)n, "%020zu%s", strlen(a), a);
    va_end(ap);
    tc_write(r, buf, (size_t)n);
}

static void
tc_close(struct tc_raw *r)
{
    SSL_free(r->ssl);
    close(r->fd);
    SSL_CTX_free(r->ctx);
}

START_TEST(tls_write_timeout_puts_value_back)
{
    nws_client *c;
    nws_ws     *ws;
    nws_error   err;
    nws_value  *v = NULL;
    struct tc_raw lazy;
    size_t      len = 12 * 1024 * 1024, i;
    char       *big = malloc(len);
    int         small = 4096, rc = 0;

    ck_assert_ptr_nonnull(big);
    ptest_pattern(big, len, 3);
    c = nws_connect("127.0.0.1", tc_srv->port, 0, &err);
    ck_assert_msg(c != NULL, "%s", err.text);
    ws = nws_ws_use(c, "w", 0, &err);
    ck_assert_msg(ws != NULL, "%s", err.text);
    ck_assert_int_eq(nws_store_bytes(ws, "big", big, len, &err), 0);
    tc_open(&lazy);
    setsockopt(lazy.fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
    tc_send(&lazy, "use ws", "w", "", "no", NULL);
    {
        char st[4];

        tc_read(&lazy, st, 4);
    }
    tc_send(&lazy, "fetch", "w", "big", NULL);
    /* Taken by lazy's fetch... */
    for (i = 0; i < 250 && (rc = nws_find_try(ws, "big", &v, &err)) == 1; i++) {
        nws_value_free(v);
        v = NULL;
        usleep(20000);
    }
    ck_assert_msg(rc == 0, "lazy's fetch never took the value");
    /* ... then back after --write-timeout. */
    for (i = 0; i < 300 && (rc = nws_find_try(ws, "big", &v, &err)) == 0; i++)
        usleep(50000);
    ck_assert_msg(rc == 1, "the value cut off by --write-timeout did not come back");
    ck_assert_uint_eq(nws_value_size(v), len);
    ck_assert(memcmp(nws_value_data(v), big, len) == 0);
    nws_value_free(v);
    tc_close(&lazy);
    nws_ws_free(ws);
    nws_close(c);
    free(big);
}
END_TEST

START_TEST(tls_close_noticed_while_parked)
{
    nws_client   *c;
    nws_ws       *ws;
    nws_error     err;
    nws_var_list *l = NULL;
    char         *s = NULL;
    struct tc_raw a;
    static char   req[8192 + 256];
    size_t        sent = 0, rlen, i;
    int           h, fetchers = 1;

    c = nws_connect("127.0.0.1", tc_srv->port, 0, &err);
    ck_assert_msg(c != NULL, "%s", err.text);
    ws = nws_ws_use(c, "w", 0, &err);
    ck_assert_msg(ws != NULL, "%s", err.text);
    tc_open(&a);
    tc_send(&a, "use ws", "w", "", "no", NULL);
    {
        char st[4];

        tc_read(&a, st, 4);
    }
    tc_send(&a, "fetch", "w", "x", NULL);
    h = snprintf(req, sizeof(req), "0005%020d%s%020d%s%020d%s%020d%s%020d", 5, "store", 1, "w",
                 4, "junk", 1, "1", 8192);
    memset(req + h, 'j', 8192);
    rlen = (size_t)h + 8192;
    /*
     * Just past the server's 4 MiB input bound: the few bytes it leaves
     * unread fit its socket's receive window, so the close (FIN) behind them
     * reaches it.  (More, and the FIN waits in our kernel: nothing could
     * see it; SECURITY.md says so.)
     */
    while (sent < 4 * 1024 * 1024 + 16 * 1024) {
        tc_write(&a, req, rlen);
        sent += rlen;
    }
    usleep(300000);
    tc_close(&a);
    for (i = 0; i < 500 && fetchers != 0; i++) {
        size_t k;

        l = nws_list_vars(ws, &err);
        ck_assert_msg(l != NULL, "%s", err.text);
        for (k = 0; k < l->count; k++)
            if (strcmp(l->items[k].name, "x") == 0)
                fetchers = (int)l->items[k].fetchers;
        nws_var_list_free(l);
        if (fetchers != 0)
            usleep(10000);
    }
    ck_assert_msg(fetchers == 0, "the closed TLS client is still parked in its fetch");
    ck_assert_int_eq(nws_store_string(ws, "x", "precious", &err), 0);
    ck_assert_int_eq(nws_fetch_try_string(ws, "x", &s, &err), 1);
    ck_assert_str_eq(s, "precious");
    free(s);
    usleep(200000);
    ck_assert_int_eq(nws_find_try_string(ws, "junk", &s, &err), 0);
    nws_ws_free(ws);
    nws_close(c);
}
END_TEST

/*
 * A client closed by the hard output limit had its output dropped, the
 * reply of a value it fetched included: the value goes back.  The dropped
 * bytes left the TLS output buffer without being written, and were once
 * counted as written, so the value was lost.
 */
START_TEST(tls_output_limit_puts_value_back)
{
    nws_client   *c;
    nws_ws       *ws;
    nws_error     err;
    nws_value    *v = NULL;
    struct tc_raw lazy;
    size_t        len = 7 * 1024 * 1024, i;
    char         *big = malloc(len), small4k[4000];
    int           small = 4096, rc = 0;

    ck_assert_ptr_nonnull(big);
    ptest_pattern(big, len, 5);
    memset(small4k, 's', sizeof(small4k));
    c = nws_connect("127.0.0.1", tc_srv->port, 0, &err);
    ck_assert_msg(c != NULL, "%s", err.text);
    ws = nws_ws_use(c, "w", 0, &err);
    ck_assert_msg(ws != NULL, "%s", err.text);
    ck_assert_int_eq(nws_store_bytes(ws, "big", big, len, &err), 0);
    ck_assert_int_eq(nws_store_bytes(ws, "v", small4k, sizeof(small4k), &err), 0);
    tc_open(&lazy);
    setsockopt(lazy.fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
    tc_send(&lazy, "use ws", "w", "", "no", NULL);
    {
        char st[4];

        tc_read(&lazy, st, 4);
    }
    /*
     * The 7 MiB reply cannot all be written into the sockets' buffers (at
     * most 4 MiB here); the copied findTry replies behind it then pass the
     * hard limit, and the server closes lazy, dropping the rest.
     */
    tc_send(&lazy, "fetch", "w", "big", NULL);
    for (i = 0; i < 400; i++)
        tc_send(&lazy, "findTry", "w", "v", NULL);
    for (i = 0; i < 400 && (rc = nws_find_try(ws, "big", &v, &err)) == 0; i++)
        usleep(50000);
    ck_assert_msg(rc == 1, "the value cut off by the output limit did not come back");
    ck_assert_uint_eq(nws_value_size(v), len);
    ck_assert(memcmp(nws_value_data(v), big, len) == 0);
    nws_value_free(v);
    tc_close(&lazy);
    nws_ws_free(ws);
    nws_close(c);
    free(big);
}
END_TEST

NWSTEST_SUITE(tls_close)
{
    Suite *s = suite_create("tls_close");
    TCase *tc = tcase_create("close");

    tcase_add_checked_fixture(tc, tc_setup, tc_teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, tls_write_timeout_puts_value_back);
    tcase_add_test(tc, tls_close_noticed_while_parked);
    suite_add_tcase(s, tc);
    tc = tcase_create("limit");
    tcase_add_checked_fixture(tc, tc_setup_limit, tc_teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, tls_output_limit_puts_value_back);
    suite_add_tcase(s, tc);
    return s;
}
