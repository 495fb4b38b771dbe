/*
 * check_tls.c -- TLS on both ports (nwsserver --tls-cert/--tls-key), with a
 * CA and a server certificate made by the test with openssl(1): libnws
 * verifies the certificate and the host, large values and pipelined bulk
 * stores cross it, sleigh workers inherit NWS_TLS_CA, a plain client gets
 * nothing, and the web interface answers HTTPS.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/ssl.h>

#include "nws.h"
#include "nws_sleigh.h"
#include "nwstest.h"
#include "ptest.h"
#include "rawc.h"

static struct nwstest_server *tl_srv;
static char                   tl_dir[64], tl_ca[128], tl_cert[128], tl_key[128];

/* Makes a CA and a certificate for localhost and 127.0.0.1 signed by it. */
static void
tl_make_certs(void)
{
    char cmd[2048];

    snprintf(tl_dir, sizeof(tl_dir), "/tmp/nwstls.XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tl_dir));
    snprintf(tl_ca, sizeof(tl_ca), "%s/ca.pem", tl_dir);
    snprintf(tl_cert, sizeof(tl_cert), "%s/srv.pem", tl_dir);
    snprintf(tl_key, sizeof(tl_key), "%s/srv.key", tl_dir);
    snprintf(cmd, sizeof(cmd),
             "(cd %s && "
             "openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 1 "
             "-subj '/CN=nws test CA' && "
             "openssl req -newkey rsa:2048 -nodes -keyout srv.key -out srv.csr "
             "-subj '/CN=localhost' && "
             "printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\\n' > ext && "
             "openssl x509 -req -in srv.csr -CA ca.pem -CAkey ca.key -CAcreateserial "
             "-out srv.pem -days 1 -extfile ext) >/dev/null 2>&1",
             tl_dir);
    ck_assert_msg(system(cmd) == 0, "openssl could not make the test certificates");
}

static void
tl_setup(void)
{
    const char *extra[] = {"--tls-cert", tl_cert, "--tls-key", tl_key,
                           "--spool-threshold", "1M", NULL};

    tl_make_certs();
    tl_srv = ptest_start(extra);
}

static void
tl_teardown(void)
{
    char cmd[128];

    ptest_stop(tl_srv);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tl_dir);
    ck_assert_int_eq(system(cmd), 0);
}

START_TEST(libnws_over_tls)
{
    nws_client *c;
    nws_ws     *ws;
    nws_bulk   *b;
    nws_error   err;
    nws_value  *v;
    size_t      len = 5 * 1024 * 1024 + 7, i;
    char       *big = malloc(len), key[32];

    ck_assert_ptr_nonnull(big);
    for (i = 0; i < len; i++)
        big[i] = (char)(i * 31);
    setenv("NWS_TLS_CA", tl_ca, 1);
    c = nws_connect("127.0.0.1", tl_srv->port, 0, &err);
    ck_assert_msg(c != NULL, "%s", err.text);
    ws = nws_ws_use(c, "w", 0, &err);
    ck_assert_msg(ws != NULL, "%s", err.text);
    /* A spooled value (over the 1M threshold) goes out through TLS too. */
    ck_assert_int_eq(nws_store_bytes(ws, "big", big, len, &err), 0);
    v = nws_fetch(ws, "big", &err);
    ck_assert_msg(v != NULL, "%s", err.text);
    ck_assert_uint_eq(nws_value_size(v), len);
    ck_assert(memcmp(nws_value_data(v), big, len) == 0);
    nws_value_free(v);
    /* Pipelined bulk stores use the non-blocking path. */
    b = nws_bulk_new(ws, &err);
    ck_assert_ptr_nonnull(b);
    for (i = 0; i < 5000; i++) {
        snprintf(key, sizeof(key), "%zu", i);
        v = nws_value_string(key, &err);
        ck_assert_int_eq(nws_bulk_store(b, "q", v, &err), 0);
        nws_value_free(v);
    }
    ck_assert_int_eq(nws_bulk_flush(b, &err), 0);
    nws_bulk_free(b);
    {
        char *first = nws_fetch_string(ws, "q", &err);

        ck_assert_str_eq(first, "0");
        free(first);
    }
    nws_ws_free(ws);
    nws_close(c);
    /* localhost is named by the certificate as well. */
    c = nws_connect("localhost", tl_srv->port, 0, &err);
    ck_assert_msg(c != NULL, "%s", err.text);
    nws_close(c);
    free(big);
    unsetenv("NWS_TLS_CA");
}
END_TEST

START_TEST(certificate_is_checked)
{
    nws_client *c;
    nws_error   err;

    /* No CA that knows the test's: the system store refuses the certificate. */
    unsetenv("NWS_TLS_CA");
    setenv("NWS_TLS", "1", 1);
    c = nws_connect("127.0.0.1", tl_srv->port, 0, &err);
    ck_assert_ptr_null(c);
    ck_assert_msg(strstr(err.text, "certificate") != NULL, "%s", err.text);
    unsetenv("NWS_TLS");
}
END_TEST

START_TEST(plain_client_is_closed_at_once)
{
    struct rawc c;
    nws_client *nc;
    nws_error   err;

    /* A 4-byte greeting is not a TLS record: closed, nothing written. */
    PT_OPEN(&c, tl_srv->port, RAWC_NONE);
    PT_RC(&c, rawc_write(&c, "X000", 4));
    ck_assert_msg(rawc_expect_eof(&c, 10000) == 0, "a plain greeting: %s", c.err);
    rawc_close(&c);
    /*
     * libnws without TLS fails with the connection closed, not after its
     * 30 s handshake timeout (the server used to wait for a TLS record).
     */
    unsetenv("NWS_TLS");
    nc = nws_connect("127.0.0.1", tl_srv->port, 0, &err);
    ck_assert_ptr_null(nc);
    ck_assert_msg(strstr(err.text, "temporarily") == NULL && strstr(err.text, "timed out") == NULL,
                  "%s", err.text);
}
END_TEST

START_TEST(sleigh_over_tls)
{
    nws_sleigh_options opt;
    nws_sleigh        *s;
    nws_error          err;
    json_t            *task, *args, *r;
    char               module[512];
    const char        *dir = getenv("NWS_MODULES_DIR");

    snprintf(module, sizeof(module), "%s/sleigh_test.so", dir != NULL ? dir : "build/modules");
    setenv("NWS_TLS_CA", tl_ca, 1);
    nws_sleigh_options_init(&opt);
    opt.host = "127.0.0.1";
    opt.port = tl_srv->port;
    opt.workers = 2;
    s = nws_sleigh_new(&opt, &err);
    ck_assert_msg(s != NULL, "%s", err.text);
    task = nws_sleigh_call(module, "cube");
    args = json_pack("[[i,i,i,i]]", 1, 2, 3, 4);
    r = nws_sleigh_each_elem(s, task, args, NULL, NULL, &err);
    ck_assert_msg(r != NULL, "%s", err.text);
    ck_assert_int_eq(json_integer_value(json_array_get(r, 3)), 64);
    json_decref(r);
    json_decref(args);
    json_decref(task);
    ck_assert_int_eq(nws_sleigh_stop(s, &err), 0);
    nws_sleigh_free(s);
    unsetenv("NWS_TLS_CA");
}
END_TEST

START_TEST(web_over_https)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    SSL     *ssl;
    char     req[256], buf[512];
    int      fd, n;

    ck_assert_ptr_nonnull(ctx);
    ck_assert_int_eq(SSL_CTX_load_verify_locations(ctx, tl_ca, NULL), 1);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    ck_assert_int_ge(fd = nwstest_connect(tl_srv->web_port, 5), 0);
    ssl = SSL_new(ctx);
    SSL_set_fd(ssl, fd);
    ck_assert_int_eq(SSL_connect(ssl), 1);
    n = snprintf(req, sizeof(req),
                 "GET /api/overview HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nConnection: close\r\n\r\n",
                 tl_srv->web_port);
    ck_assert_int_eq(SSL_write(ssl, req, n), n);
    n = SSL_read(ssl, buf, sizeof(buf) - 1);
    ck_assert_int_gt(n, 12);
    buf[n] = '\0';
    ck_assert_msg(strncmp(buf, "HTTP/1.1 200", 12) == 0, "%s", buf);
    SSL_free(ssl);
    SSL_CTX_free(ctx);
    close(fd);
}
END_TEST

NWSTEST_SUITE(tls)
{
    Suite *s = suite_create("tls");
    TCase *tc = tcase_create("both_ports");

    tcase_add_checked_fixture(tc, tl_setup, tl_teardown);
    tcase_set_timeout(tc, 40);
    tcase_add_test(tc, libnws_over_tls);
    tcase_add_test(tc, certificate_is_checked);
    tcase_add_test(tc, plain_client_is_closed_at_once);
    tcase_add_test(tc, sleigh_over_tls);
    tcase_add_test(tc, web_over_https);
    suite_add_tcase(s, tc);
    return s;
}
