/*
 * check_journal_info.c -- the journal as the server shows it: the web
 * overview's JSON (/api/overview, "journal"), "server info"
 * (nws_server_info) and `nws info`.  Without --journal: {"active": false}
 * and "journal: off".  With it: its directory (a name full of characters
 * that need escaping, which must come back exactly), the fsync policy,
 * sizes and record count, the last fsync, and the last snapshot once a
 * compaction ran.
 *
 * Real servers; `nws` run as a program; the web API over HTTP.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>

#include "nws.h"
#include "nwstest.h"
#include "ptest.h"
#include "rawc.h"

/* A directory name that JSON, HTML and a terminal each need to escape. */
#define JI_ODD "j \"<b>&amp;'\\ x"

static char ji_top[64];  /* a temp dir holding the journal dir */
static char ji_dir[512]; /* the journal dir */

static void
ji_setup(void)
{
    snprintf(ji_top, sizeof(ji_top), "/tmp/nws-ji-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(ji_top));
    snprintf(ji_dir, sizeof(ji_dir), "%s/%s", ji_top, JI_ODD);
    ck_assert_int_eq(mkdir(ji_dir, 0700), 0);
}

static void
ji_teardown(void)
{
    char cmd[400];

    /* A test that failed may leave its tmpfs mounted. */
    snprintf(cmd, sizeof(cmd), "umount -q '%s/fs' 2>/dev/null; rm -rf '%s'", ji_top,
             ji_top);
    ck_assert_int_eq(system(cmd), 0);
}

/* GET path from the server's web port: the JSON body (new reference). */
static json_t *
ji_web_json(const struct nwstest_server *s, const char *path)
{
    char         req[512], *buf, *body;
    size_t       len = 0, cap = 1 << 16;
    ssize_t      n;
    int          fd = nwstest_connect(s->web_port, 10);
    json_t      *j;
    json_error_t jerr;

    ck_assert_int_ge(fd, 0);
    snprintf(req, sizeof(req),
             "GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nConnection: close\r\n\r\n", path,
             s->web_port);
    ck_assert_int_eq(nwstest_write_all(fd, req, strlen(req)), 0);
    buf = malloc(cap);
    ck_assert_ptr_nonnull(buf);
    for (;;) {
        if (len + 1 == cap)
            buf = realloc(buf, cap *= 2);
        n = recv(fd, buf + len, cap - 1 - len, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        len += (size_t)n;
    }
    close(fd);
    buf[len] = '\0';
    body = strstr(buf, "\r\n\r\n");
    ck_assert_msg(body != NULL, "no HTTP body: %s", buf);
    j = json_loads(body + 4, 0, &jerr);
    ck_assert_msg(j != NULL, "%s: not JSON (%s): %s", path, jerr.text, body + 4);
    free(buf);
    return j;
}

/* The journal object of /api/overview (new reference). */
static json_t *
ji_web_journal(const struct nwstest_server *s)
{
    json_t *o = ji_web_json(s, "/api/overview");
    json_t *j = json_incref(json_object_get(o, "journal"));

    json_decref(o);
    ck_assert_msg(json_is_object(j), "/api/overview has no journal object");
    return j;
}

/* The journal object of "server info" through libnws (new reference). */
static json_t *
ji_info_journal(const struct nwstest_server *s)
{
    nws_error   err;
    nws_client *c = nws_connect("127.0.0.1", s->port, 0, &err);
    char       *text;
    json_t     *o, *j;

    ck_assert_msg(c != NULL, "%s", err.text);
    text = nws_server_info(c, &err);
    ck_assert_msg(text != NULL, "server info: %s", err.text);
    o = json_loads(text, 0, NULL);
    ck_assert_msg(json_is_object(o), "server info is not JSON: %s", text);
    j = json_incref(json_object_get(o, "journal"));
    ck_assert_msg(json_is_object(j), "server info has no journal object: %s", text);
    json_decref(o);
    free(text);
    nws_close(c);
    return j;
}

/* `nws info` against s: its standard output (new string); exits 0. */
static char *
ji_nws_info(const struct nwstest_server *s)
{
    char  bin[512], port[16];
    int   out = nwstest_tmpfile(), st;
    pid_t pid;
    char *text;

    nwstest_bin("nws", bin, sizeof(bin));
    snprintf(port, sizeof(port), "%d", s->port);
    pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        setenv("NWS_HOST", "127.0.0.1", 1);
        setenv("NWS_PORT", port, 1);
        dup2(out, 1);
        execl(bin, "nws", "info", (char *)NULL);
        _exit(127);
    }
    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    text = nwstest_slurp(out, NULL);
    close(out);
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "nws info failed: %s", text);
    return text;
}

/* A plain store, a mutation for the journal. */
static void
ji_store(const struct nwstest_server *s, const char *var, const char *val)
{
    struct rawc c;

    PT_OPEN(&c, s->port, RAWC_PLAIN);
    PT_OK(&c, "open ws", "ji", "1", "yes");
    PT_OK(&c, "store", "ji", var, "1", val);
    rawc_close(&c);
}

/* A store that may be refused (the journal is failing): 1 if it went through. */
static int
ji_try_store(const struct nwstest_server *s)
{
    struct rawc       c;
    struct rawc_reply r;
    int               ok;

    PT_OPEN(&c, s->port, RAWC_PLAIN);
    PT_RC(&c, rawc_sendv(&c, NULL, "store", "ji", "x", "1", "after", (char *)NULL));
    PT_RC(&c, rawc_read_short(&c, &r));
    ok = r.status == 0;
    rawc_reply_free(&r);
    rawc_close(&c);
    return ok;
}

START_TEST(off_without_journal)
{
    struct nwstest_server *s;
    json_t                *j;
    char                  *out;

    if (getenv("NWSTEST_JOURNAL") != NULL) {
        /* Then every test server has a journal. */
        printf("SKIPPED: off_without_journal: NWSTEST_JOURNAL is set\n");
        return;
    }
    s = ptest_start(NULL);
    j = ji_web_journal(s);
    ck_assert(json_is_false(json_object_get(j, "active")));
    ck_assert_int_eq(json_object_size(j), 1);
    json_decref(j);
    j = ji_info_journal(s);
    ck_assert(json_is_false(json_object_get(j, "active")));
    json_decref(j);
    out = ji_nws_info(s);
    ck_assert_msg(strstr(out, "\njournal: off\n") != NULL, "%s", out);
    ck_assert_msg(strstr(out, "journal_") == NULL, "%s", out);
    free(out);
    ptest_stop(s);
}
END_TEST

/* Checks the figures every journal has, in j, against the server's options. */
static void
ji_check_on(json_t *j, const char *policy)
{
    ck_assert(json_is_true(json_object_get(j, "active")));
    ck_assert_msg(json_is_string(json_object_get(j, "dir")) &&
                      strcmp(json_string_value(json_object_get(j, "dir")), ji_dir) == 0,
                  "dir: %s", json_string_value(json_object_get(j, "dir")));
    ck_assert_str_eq(json_string_value(json_object_get(j, "policy")), policy);
    ck_assert_int_gt(json_integer_value(json_object_get(j, "bytes")), 0);
    ck_assert_int_gt(json_integer_value(json_object_get(j, "records")), 0);
    ck_assert(json_is_false(json_object_get(j, "failing")));
    ck_assert(json_is_null(json_object_get(j, "error")));
    ck_assert(json_is_boolean(json_object_get(j, "compacting")));
}

START_TEST(on_with_journal)
{
    static const char     *args[] = {"--journal", ji_dir, "--fsync", "always", NULL};
    struct nwstest_server *s;
    json_t                *j;
    char                  *out, want[700];

    args[1] = ji_dir;
    s = ptest_start(args);
    ji_store(s, "x", "1");
    j = ji_web_journal(s);
    ji_check_on(j, "always");
    /* always: the turn of the store ended with an fdatasync. */
    ck_assert(json_real_value(json_object_get(j, "last_fsync")) > 1e9);
    ck_assert(json_real_value(json_object_get(j, "last_fsync_age")) >= 0);
    ck_assert(json_is_null(json_object_get(j, "last_snapshot")));
    ck_assert_int_eq(json_integer_value(json_object_get(j, "snapshots")), 0);
    json_decref(j);
    j = ji_info_journal(s);
    ji_check_on(j, "always");
    json_decref(j);

    out = ji_nws_info(s);
    snprintf(want, sizeof(want),
             "\njournal: on\njournal_dir: %s\njournal_policy: always\n", ji_dir);
    ck_assert_msg(strstr(out, want) != NULL, "no\n%s\nin\n%s", want, out);
    ck_assert_msg(strstr(out, "\njournal_last_fsync: 20") != NULL, "%s", out);
    ck_assert_msg(strstr(out, "\njournal_last_snapshot: never\n") != NULL, "%s", out);
    ck_assert_msg(strstr(out, "\njournal_failing: no\n") != NULL, "%s", out);
    free(out);
    ptest_stop(s);
}
END_TEST

START_TEST(snapshot_shown)
{
    static const char     *args[] = {"--journal",
                                     NULL,
                                     "--fsync",
                                     "everysec",
                                     "--journal-compact-min",
                                     "1",
                                     "--journal-compact-factor",
                                     "1",
                                     NULL};
    struct nwstest_server *s;
    json_t                *j = NULL;
    char                  *out, val[32];
    int                    i;

    args[1] = ji_dir;
    s = ptest_start(args);
    for (i = 0; i < 500; i++) {
        snprintf(val, sizeof(val), "value %d", i);
        ji_store(s, "x", val);
        json_decref(j);
        j = ji_web_journal(s);
        if (json_integer_value(json_object_get(j, "snapshots")) > 0)
            break;
        usleep(20000);
    }
    ji_check_on(j, "everysec");
    ck_assert_msg(json_integer_value(json_object_get(j, "snapshots")) > 0,
                  "no compaction after %d stores", i);
    ck_assert(json_real_value(json_object_get(j, "last_snapshot")) > 1e9);
    ck_assert(json_real_value(json_object_get(j, "last_snapshot_age")) >= 0);
    ck_assert_int_gt(json_integer_value(json_object_get(j, "base_bytes")), 0);
    json_decref(j);
    out = ji_nws_info(s);
    ck_assert_msg(strstr(out, "\njournal_last_snapshot: 20") != NULL, "%s", out);
    ck_assert_msg(strstr(out, "\njournal_policy: everysec\n") != NULL, "%s", out);
    free(out);
    ptest_stop(s);
}
END_TEST

/* Fills the file system of dir: a file grown until ENOSPC; its path into path. */
static void
ji_fill(const char *dir, char *path, size_t len)
{
    static char buf[64 * 1024];
    FILE       *fp;

    snprintf(path, len, "%s/filler", dir);
    ck_assert_ptr_nonnull(fp = fopen(path, "w"));
    setvbuf(fp, NULL, _IONBF, 0);
    while (fwrite(buf, 1, sizeof(buf), fp) == sizeof(buf))
        ;
    while (fwrite(buf, 1, 512, fp) == 512)
        ;
    fclose(fp);
}

/* Stores until the server refuses one (the journal cannot take it): its reason. */
static void
ji_store_until_refused(const struct nwstest_server *s, char *why, size_t len)
{
    struct rawc       c;
    struct rawc_reply r;
    static char       val[8192];
    const char       *v;
    size_t            vl;
    int               i;

    memset(val, 'v', sizeof(val) - 1);
    PT_OPEN(&c, s->port, RAWC_META);
    PT_OK(&c, "open ws", "ji", "1", "yes");
    for (i = 0; i < 10000; i++) {
        PT_RC(&c, rawc_sendv(&c, NULL, "store", "ji", "big", "1", val, (char *)NULL));
        PT_RC(&c, rawc_read_short(&c, &r));
        if (r.status != 0) {
            ck_assert_int_eq(rawc_dict_get(r.meta, r.meta_len, "nwsReason", &v, &vl), 1);
            snprintf(why, len, "%.*s", (int)vl, v);
            rawc_reply_free(&r);
            rawc_close(&c);
            return;
        }
        rawc_reply_free(&r);
    }
    ck_abort_msg("10000 stores of 8 KiB on a 4 MiB file system, none refused");
}

/*
 * A full disk: the journal refuses writes, and every view says so with the
 * error; once space is back and a write went through, they say it no more.
 */
START_TEST(failing_shown)
{
    static const char     *args[] = {"--journal", NULL, "--fsync", "always", NULL};
    struct nwstest_server *s;
    char                   cmd[400], fs[300], filler[400], why[200], *out;
    json_t                *j;
    int                    i;

    if (geteuid() != 0) {
        printf("SKIPPED: failing_shown: mounting a small tmpfs needs root\n");
        return;
    }
    snprintf(fs, sizeof(fs), "%s/fs", ji_top);
    ck_assert_int_eq(mkdir(fs, 0700), 0);
    snprintf(cmd, sizeof(cmd), "mount -t tmpfs -o size=4m,mode=0700 nws-ji '%s'", fs);
    ck_assert_int_eq(system(cmd), 0);
    snprintf(ji_dir, sizeof(ji_dir), "%s/%s", fs, JI_ODD);
    ck_assert_int_eq(mkdir(ji_dir, 0700), 0);
    args[1] = ji_dir;
    s = ptest_start(args);
    ji_store(s, "x", "before the disk filled");
    ji_fill(fs, filler, sizeof(filler));
    ji_store_until_refused(s, why, sizeof(why));

    j = ji_web_journal(s);
    ck_assert(json_is_true(json_object_get(j, "failing")));
    ck_assert_msg(strstr(json_string_value(json_object_get(j, "error")),
                         "No space left on device") != NULL,
                  "error: %s (refusal: %s)",
                  json_string_value(json_object_get(j, "error")), why);
    json_decref(j);
    j = ji_info_journal(s);
    ck_assert(json_is_true(json_object_get(j, "failing")));
    json_decref(j);
    out = ji_nws_info(s);
    ck_assert_msg(strstr(out, "\njournal_failing: yes\njournal_error: ") != NULL &&
                      strstr(out, "No space left on device") != NULL,
                  "%s", out);
    free(out);

    /* Space comes back: the next write goes through and the views clear. */
    ck_assert_int_eq(unlink(filler), 0);
    for (i = 0; i < 100; i++) {
        ji_try_store(s);
        j = ji_web_journal(s);
        if (json_is_false(json_object_get(j, "failing")))
            break;
        json_decref(j);
        j = NULL;
        usleep(100000);
    }
    ck_assert_msg(j != NULL, "the journal still fails 10 s after space came back");
    ck_assert(json_is_null(json_object_get(j, "error")));
    json_decref(j);
    ptest_stop(s);
    snprintf(cmd, sizeof(cmd), "umount '%s'", fs);
    ck_assert_int_eq(system(cmd), 0);
}
END_TEST

NWSTEST_SUITE(journal_info)
{
    Suite *s = suite_create("journal_info");
    TCase *tc = tcase_create("shown");

    tcase_add_checked_fixture(tc, ji_setup, ji_teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, off_without_journal);
    tcase_add_test(tc, on_with_journal);
    tcase_add_test(tc, snapshot_shown);
    tcase_add_test(tc, failing_shown);
    suite_add_tcase(s, tc);
    return s;
}
