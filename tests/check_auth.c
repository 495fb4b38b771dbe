/*
 * check_auth.c -- the optional shared secret (nwsserver --auth-file): the
 * handshake refuses clients without it or with a wrong one, old-style
 * greetings are refused, libnws sends it from NWS_AUTH_FILE or the caller,
 * sleigh workers inherit it, and the web interface asks for it (HTTP Basic).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "nws.h"
#include "nws_sleigh.h"
#include "nwstest.h"
#include "ptest.h"
#include "rawc.h"

static struct nwstest_server *au_srv;
static char                   au_file[64];

static void
au_setup(void)
{
    const char *extra[] = {"--auth-file", au_file, NULL};
    FILE       *fp;
    int         fd;

    snprintf(au_file, sizeof(au_file), "/tmp/nwsauth.XXXXXX");
    ck_assert_int_ge(fd = mkstemp(au_file), 0);
    ck_assert_ptr_nonnull(fp = fdopen(fd, "w"));
    fputs("correct horse battery\n", fp);
    fclose(fp);
    au_srv = ptest_start(extra);
}

static void
au_teardown(void)
{
    ptest_stop(au_srv);
    unlink(au_file);
}

START_TEST(handshake_needs_the_secret)
{
    static const char *const none[] = {NULL};
    static const char *const wrong[] = {"NwsAuth", "correct horse", NULL};
    static const char *const right[] = {"NwsAuth", "correct horse battery", NULL};
    struct rawc              c;
    const char              *v;
    size_t                   vl;

    PT_OPEN(&c, au_srv->port, RAWC_NONE);
    ck_assert_int_eq(rawc_hs_new(&c, none), 1); /* 1: denied with F000 */
    ck_assert_int_eq(rawc_dict_get(c.adv, c.adv_len, "NwsAuth", &v, &vl), 1);
    ck_assert_uint_eq(vl, 0);
    rawc_close(&c);
    PT_OPEN(&c, au_srv->port, RAWC_NONE);
    ck_assert_int_eq(rawc_hs_new(&c, wrong), 1);
    rawc_close(&c);
    PT_OPEN(&c, au_srv->port, RAWC_NONE);
    ck_assert_msg(rawc_hs_new(&c, right) == 0, "%s", c.err);
    PT_OK(&c, "use ws", "w", "", "no");
    PT_OK(&c, "store", "w", "x", "1", "in");
    PT_VALUE(&c, "in", "fetch", "w", "x");
    rawc_close(&c);
    /* The old 4-byte greeting has no room for a secret: closed, no "2223". */
    PT_OPEN(&c, au_srv->port, RAWC_NONE);
    PT_RC(&c, rawc_write(&c, "1112", 4));
    ck_assert_msg(rawc_expect_eof(&c, 3000) == 0, "%s", c.err);
    rawc_close(&c);
}
END_TEST

START_TEST(libnws_sends_the_secret)
{
    nws_client *c;
    nws_error   err;

    unsetenv("NWS_AUTH_FILE");
    c = nws_connect("127.0.0.1", au_srv->port, 0, &err);
    ck_assert_ptr_null(c);
    ck_assert_int_eq(err.code, NWS_ERR_HANDSHAKE);
    ck_assert_msg(strstr(err.text, "requires authentication") != NULL, "%s", err.text);
    c = nws_connect_auth("127.0.0.1", au_srv->port, 0, "nope", &err);
    ck_assert_ptr_null(c);
    ck_assert_msg(strstr(err.text, "refused") != NULL, "%s", err.text);
    c = nws_connect_auth("127.0.0.1", au_srv->port, 0, "correct horse battery", &err);
    ck_assert_msg(c != NULL, "%s", err.text);
    nws_close(c);
    setenv("NWS_AUTH_FILE", au_file, 1);
    c = nws_connect("127.0.0.1", au_srv->port, 0, &err);
    ck_assert_msg(c != NULL, "%s", err.text);
    nws_close(c);
    unsetenv("NWS_AUTH_FILE");
}
END_TEST

START_TEST(sleigh_workers_inherit_the_secret)
{
    nws_sleigh_options opt;
    nws_sleigh        *s;
    nws_error          err;
    json_t            *task, *args, *r;
    char               module[512];
    const char        *dir = getenv("NWS_MODULES_DIR");

    snprintf(module, sizeof(module), "%s/sleigh_test.so", dir != NULL ? dir : "build/modules");
    setenv("NWS_AUTH_FILE", au_file, 1);
    nws_sleigh_options_init(&opt);
    opt.host = "127.0.0.1";
    opt.port = au_srv->port;
    opt.workers = 2;
    s = nws_sleigh_new(&opt, &err);
    ck_assert_msg(s != NULL, "%s", err.text);
    task = nws_sleigh_call(module, "cube");
    args = json_pack("[[i,i,i]]", 1, 2, 3);
    r = nws_sleigh_each_elem(s, task, args, NULL, NULL, &err);
    ck_assert_msg(r != NULL, "%s", err.text);
    ck_assert_int_eq(json_integer_value(json_array_get(r, 2)), 27);
    json_decref(r);
    json_decref(args);
    json_decref(task);
    ck_assert_int_eq(nws_sleigh_stop(s, &err), 0);
    nws_sleigh_free(s);
    unsetenv("NWS_AUTH_FILE");
}
END_TEST

/* GET path on the web port with an optional Authorization header; the status. */
static int
au_http(const char *path, const char *authorization)
{
    char buf[4096];
    int  fd = nwstest_connect(au_srv->web_port, 5), n, status = -1;

    ck_assert_int_ge(fd, 0);
    n = snprintf(buf, sizeof(buf), "GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n%s%s%s"
                                   "Connection: close\r\n\r\n",
                 path, au_srv->web_port, authorization ? "Authorization: " : "",
                 authorization ? authorization : "", authorization ? "\r\n" : "");
    ck_assert_int_eq(nwstest_write_all(fd, buf, (size_t)n), 0);
    n = (int)read(fd, buf, sizeof(buf) - 1);
    if (n > 0) {
        buf[n] = '\0';
        if (sscanf(buf, "HTTP/1.%*d %d", &status) != 1)
            status = -1;
        if (status == 401)
            ck_assert_ptr_nonnull(strstr(buf, "WWW-Authenticate: Basic"));
    }
    close(fd);
    return status;
}

START_TEST(web_asks_for_the_secret)
{
    /* base64("any:correct horse battery") and base64("any:wrong") */
    ck_assert_int_eq(au_http("/api/overview", NULL), 401);
    ck_assert_int_eq(au_http("/", NULL), 401);
    ck_assert_int_eq(au_http("/api/overview", "Basic YW55Ondyb25n"), 401);
    ck_assert_int_eq(au_http("/api/overview", "Basic YW55OmNvcnJlY3QgaG9yc2UgYmF0dGVyeQ=="),
                     200);
}
END_TEST

NWSTEST_SUITE(auth)
{
    Suite *s = suite_create("auth");
    TCase *tc = tcase_create("shared_secret");

    tcase_add_checked_fixture(tc, au_setup, au_teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, handshake_needs_the_secret);
    tcase_add_test(tc, libnws_sends_the_secret);
    tcase_add_test(tc, sleigh_workers_inherit_the_secret);
    tcase_add_test(tc, web_asks_for_the_secret);
    suite_add_tcase(s, tc);
    return s;
}
