/*
 * check_proto_workspaces.c -- workspaces (nws-protocol.md section 7): the
 * per-connection name map and its 2001/100 answers, open ws versus use ws,
 * ownership, persistence and the purge on disconnect (Q7 included), and the
 * mktemp ws naming rules of section 7.5.
 */
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ptest.h"

static struct nwstest_server *ws_srv;

/* Starts a fresh server for each test. */
static void
ws_setup(void)
{
    ws_srv = ptest_start(NULL);
}

/* Stops it and checks the clean exit. */
static void
ws_teardown(void)
{
    ptest_stop(ws_srv);
}

/* The fields of one list wss line (section 7.7). */
struct ws_line {
    char mark;
    char name[256];
    char owner[256];
    char persistent[16];
    char nvars[16];
    char vars[256];
};

/* Runs list wss name and splits its single line; asserts the layout. */
static void
ws_line(int line, struct rawc *c, const char *name, struct ws_line *w)
{
    struct rawc_reply r;
    char             *f[5], *p, *tab;
    int               n = 0;

    ptest_long(line, c, NULL, &r, "list wss", name, (const char *)NULL);
    ptest_is_text(line, c, &r, NULL);
    ck_assert_msg(r.len >= 2 && r.value[r.len - 1] == '\n' &&
                      memchr(r.value, '\n', r.len) == r.value + r.len - 1,
                  "line %d: list wss %s: not one LF-terminated line: \"%s\"", line, name,
                  r.value);
    r.value[r.len - 1] = '\0';
    for (p = r.value; n < 5; p = tab + 1) {
        f[n++] = p;
        tab = strchr(p, '\t');
        if (tab == NULL)
            break;
        *tab = '\0';
    }
    ck_assert_msg(n == 5 && tab == NULL, "line %d: list wss %s: expected 5 TAB fields",
                  line, name);
    w->mark = f[0][0];
    snprintf(w->name, sizeof(w->name), "%s", f[0] + 1);
    snprintf(w->owner, sizeof(w->owner), "%s", f[1]);
    snprintf(w->persistent, sizeof(w->persistent), "%s", f[2]);
    snprintf(w->nvars, sizeof(w->nvars), "%s", f[3]);
    snprintf(w->vars, sizeof(w->vars), "%s", f[4]);
    rawc_reply_free(&r);
}

/*
 * Asserts owner is "127.0.0.1:PORT pid <label>" (sections 7.3, Q25: readable
 * text instead of Twisted's repr), followed by " (gone)" when gone is set:
 * the owner of that persistent workspace has left.
 */
static void
ws_owner_is(int line, const char *owner, const char *label, int gone)
{
    char        want[64];
    const char *p = owner + 10;

    snprintf(want, sizeof(want), " pid %s%s", label, gone ? " (gone)" : "");
    ck_assert_msg(strncmp(owner, "127.0.0.1:", 10) == 0 && *p >= '1' && *p <= '9',
                  "line %d: owner \"%s\" is not \"127.0.0.1:PORT%s\"", line, owner, want);
    while (*p >= '0' && *p <= '9')
        p++;
    ck_assert_msg(strcmp(p, want) == 0, "line %d: owner \"%s\" is not \"127.0.0.1:PORT%s\"",
                  line, owner, want);
}

#define WS_LINE(c, name, w)       ws_line(__LINE__, (c), (name), (w))
#define WS_OWNER_IS(owner, label) ws_owner_is(__LINE__, (owner), (label), 0)
#define WS_OWNER_GONE(owner, label) ws_owner_is(__LINE__, (owner), (label), 1)

START_TEST(stale_mapping_after_another_connections_delete)
{
    struct rawc a, b;

    PT_OPEN(&a, ws_srv->port, RAWC_META);
    PT_OPEN(&b, ws_srv->port, RAWC_META);
    PT_OK(&a, "use ws", "foo", "", "no");
    PT_OK(&a, "store", "foo", "x", "1", "v");
    PT_OK(&b, "delete ws", "foo");
    /* Section 7.1: a's map still points at the deleted instance. */
    PT_SHORT(&a, 100, "No such workspace.", "store", "foo", "x", "1", "v");
    PT_SHORT(&a, 100, "No such workspace.", "declare var", "foo", "x", "fifo");
    PT_SHORT(&a, 100, "No such workspace.", "delete var", "foo", "x");
    PT_LERR(&a, 100, "No such workspace.", "fetchTry", "foo", "x");
    PT_LERR(&a, 100, "No such workspace.", "fetch", "foo", "x");
    PT_LERR(&a, 100, "No such workspace.", "list vars", "foo");
    /* Q8: still 100 after the name is made again, until a re-opens it. */
    PT_OK(&b, "open ws", "foo", "1", "no");
    PT_OK(&b, "store", "foo", "y", "1", "new");
    PT_SHORT(&a, 100, "No such workspace.", "store", "foo", "x", "1", "v");
    PT_LERR(&a, 100, "No such workspace.", "findTry", "foo", "y");
    PT_OK(&a, "use ws", "foo", "", "no");
    PT_VALUE(&a, "new", "findTry", "foo", "y");
    rawc_close(&a);
    rawc_close(&b);
}
END_TEST

START_TEST(own_delete_forgets_the_name)
{
    struct rawc a;

    PT_OPEN(&a, ws_srv->port, RAWC_META);
    PT_OK(&a, "open ws", "foo", "1", "no");
    PT_OK(&a, "delete ws", "foo");
    PT_SHORT(&a, 2001, "Workspace foo has not been opened.", "store", "foo", "x", "1",
             "v");
    PT_LERR(&a, 2001, "Workspace foo has not been opened.", "list vars", "foo");
    rawc_close(&a);
}
END_TEST

START_TEST(open_versus_use)
{
    struct rawc    a, b;
    struct ws_line w;

    PT_OPEN(&a, ws_srv->port, RAWC_META);
    PT_OPEN(&b, ws_srv->port, RAWC_META);
    PT_OK(&a, "open ws", "o", "42", "no");
    PT_OK(&a, "use ws", "u", "43", "yes");
    /* open ws: owner and the '>' mark for this connection only. */
    WS_LINE(&a, "o", &w);
    ck_assert_int_eq(w.mark, '>');
    ck_assert_str_eq(w.name, "o");
    WS_OWNER_IS(w.owner, "42");
    ck_assert_str_eq(w.persistent, "False");
    WS_LINE(&b, "o", &w);
    ck_assert_int_eq(w.mark, ' ');
    WS_OWNER_IS(w.owner, "42");
    /* use ws: no owner, and its label and persistent flag are ignored. */
    WS_LINE(&a, "u", &w);
    ck_assert_int_eq(w.mark, ' ');
    ck_assert_str_eq(w.owner, "");
    ck_assert_str_eq(w.persistent, "False");
    /* The first open ws of an unowned workspace takes it. */
    PT_OK(&b, "open ws", "u", "44", "yes");
    WS_LINE(&b, "u", &w);
    ck_assert_int_eq(w.mark, '>');
    WS_OWNER_IS(w.owner, "44");
    ck_assert_str_eq(w.persistent, "True");
    rawc_close(&a);
    rawc_close(&b);
}
END_TEST

START_TEST(persistent_outlives_its_owner)
{
    struct rawc    a, b;
    struct ws_line w;
    int            i;

    PT_OPEN(&a, ws_srv->port, RAWC_META);
    PT_OK(&a, "open ws", "p", "7", "yes");
    PT_OK(&a, "store", "p", "x", "1", "kept");
    PT_OPEN(&b, ws_srv->port, RAWC_META);
    WS_LINE(&b, "p", &w);
    WS_OWNER_IS(w.owner, "7");
    rawc_close(&a);
    for (i = 0; i < 500 && strstr(w.owner, "(gone)") == NULL; i++) {
        usleep(10000);
        WS_LINE(&b, "p", &w);
    }
    ck_assert_int_eq(w.mark, ' ');
    WS_OWNER_GONE(w.owner, "7");
    ck_assert_str_eq(w.persistent, "True");
    ck_assert_str_eq(w.nvars, "1");
    ck_assert_str_eq(w.vars, "x");
    /* Nobody can claim it after that. */
    PT_OK(&b, "open ws", "p", "8", "no");
    WS_LINE(&b, "p", &w);
    WS_OWNER_GONE(w.owner, "7");
    PT_VALUE(&b, "kept", "fetch", "p", "x");
    rawc_close(&b);
}
END_TEST

START_TEST(non_persistent_dies_with_its_owner)
{
    struct rawc a, b;

    PT_OPEN(&a, ws_srv->port, RAWC_META);
    PT_OPEN(&b, ws_srv->port, RAWC_META);
    PT_OK(&a, "open ws", "n", "7", "no");
    PT_OK(&a, "store", "n", "x", "1", "gone");
    PT_WAIT_WS(&b, "n", 1);
    rawc_close(&a);
    PT_WAIT_WS(&b, "n", 0);
    /* A new n is a new, empty workspace. */
    PT_OK(&b, "use ws", "n", "", "no");
    PT_NOVAL(&b, "fetchTry", "n", "x");
    rawc_close(&b);
}
END_TEST

START_TEST(persistence_is_set_by_the_first_owner_only)
{
    struct rawc    a, b, o;
    struct ws_line w;

    PT_OPEN(&a, ws_srv->port, RAWC_META);
    PT_OPEN(&b, ws_srv->port, RAWC_META);
    PT_OPEN(&o, ws_srv->port, RAWC_META);
    PT_OK(&a, "open ws", "p", "1", "no");
    PT_OK(&b, "open ws", "p", "2", "yes");
    WS_LINE(&b, "p", &w);
    /* Q7: b is in its own owned set (mark) but the owner is still a. */
    ck_assert_int_eq(w.mark, '>');
    WS_OWNER_IS(w.owner, "1");
    ck_assert_str_eq(w.persistent, "False");
    WS_LINE(&a, "p", &w);
    ck_assert_int_eq(w.mark, '>');
    /* b's disconnect purges the non-persistent p (Q7, copied). */
    rawc_close(&b);
    PT_WAIT_WS(&o, "p", 0);
    PT_SHORT(&a, 100, "No such workspace.", "store", "p", "x", "1", "v");
    rawc_close(&a);
    rawc_close(&o);
}
END_TEST

START_TEST(use_ws_and_mktemp_never_own)
{
    struct rawc       a, b;
    struct rawc_reply r;
    struct ws_line    w;
    char              name[256];

    PT_OPEN(&a, ws_srv->port, RAWC_META);
    PT_OPEN(&b, ws_srv->port, RAWC_META);
    PT_OK(&a, "use ws", "u", "", "no");
    PT_OK(&a, "store", "u", "x", "1", "v");
    PT_LONG(&a, &r, "mktemp ws", "t%d");
    PT_IS_TEXT(&a, &r, NULL);
    ck_assert(r.len > 0 && r.len < sizeof(name));
    memcpy(name, r.value, r.len);
    name[r.len] = '\0';
    rawc_reply_free(&r);
    /* Section 5.3: the name is mapped for the caller, who does not own it. */
    PT_OK(&a, "store", name, "y", "1", "t");
    WS_LINE(&a, name, &w);
    ck_assert_int_eq(w.mark, ' ');
    ck_assert_str_eq(w.name, name);
    ck_assert_str_eq(w.owner, "");
    ck_assert_str_eq(w.persistent, "False");
    ck_assert_str_eq(w.nvars, "1");
    rawc_close(&a);
    usleep(200000);
    WS_LINE(&b, "u", &w);
    ck_assert_str_eq(w.vars, "x");
    WS_LINE(&b, name, &w);
    ck_assert_str_eq(w.vars, "y");
    /* The first open ws makes b the owner; its disconnect then purges. */
    PT_OK(&b, "open ws", name, "9", "no");
    WS_LINE(&b, name, &w);
    ck_assert_int_eq(w.mark, '>');
    WS_OWNER_IS(w.owner, "9");
    rawc_close(&b);
    PT_OPEN(&a, ws_srv->port, RAWC_META);
    PT_WAIT_WS(&a, name, 0);
    PT_WAIT_WS(&a, "u", 1);
    rawc_close(&a);
}
END_TEST

START_TEST(default_can_be_deleted_and_comes_back_plain)
{
    struct rawc       a;
    struct rawc_reply r;

    PT_OPEN(&a, ws_srv->port, RAWC_META);
    PT_OK(&a, "delete ws", "__default");
    PT_LONG(&a, &r, "list wss");
    /* No workspace at all: the listing is a lone LF. */
    PT_IS_TEXT(&a, &r, "\n");
    rawc_reply_free(&r);
    PT_OK(&a, "use ws", "__default", "", "no");
    PT_LONG(&a, &r, "list wss");
    PT_IS_TEXT(&a, &r, " __default\t\tFalse\t0\t\n");
    rawc_reply_free(&r);
    rawc_close(&a);
}
END_TEST

/* Runs mktemp ws tmpl and returns the name in buf; asserts the reply shape. */
static char *
ws_mktemp(int line, struct rawc *c, const char *tmpl, char *buf, size_t cap)
{
    struct rawc_reply r;

    if (tmpl != NULL)
        ptest_long(line, c, NULL, &r, "mktemp ws", tmpl, (const char *)NULL);
    else
        ptest_long(line, c, NULL, &r, "mktemp ws", (const char *)NULL);
    ptest_is_text(line, c, &r, NULL);
    ck_assert_msg(r.len > 0 && r.len < cap, "line %d: mktemp name length %llu", line,
                  (unsigned long long)r.len);
    memcpy(buf, r.value, r.len);
    buf[r.len] = '\0';
    rawc_reply_free(&r);
    return buf;
}

/* Asserts name matches ^pattern__nwss[A-Za-z0-9_]{6}$ and returns its suffix. */
static void
ws_name_matches(int line, const char *name, const char *pattern, char *suffix)
{
    regex_t re;
    char    full[256];
    int     ok;

    snprintf(full, sizeof(full), "^%s__nwss[A-Za-z0-9_]{6}$", pattern);
    ck_assert_int_eq(regcomp(&re, full, REG_EXTENDED | REG_NOSUB), 0);
    ok = regexec(&re, name, 0, NULL, 0) == 0;
    regfree(&re);
    ck_assert_msg(ok, "line %d: mktemp name \"%s\" does not match %s", line, name, full);
    if (suffix != NULL)
        snprintf(suffix, 13, "%s", name + strlen(name) - 12);
}

START_TEST(mktemp_names)
{
    static const struct {
        const char *tmpl, *pattern;
    } cases[] = {
        {NULL, "__ws__(0|[1-9][0-9]*)"},
        {"sleigh_ride_%04d", "sleigh_ride_[0-9]{4,}"},
        {"__Rws__%010d", "__Rws__[0-9]{10}"},
        {"__pyws__%d", "__pyws__(0|[1-9][0-9]*)"},
        {"i%i", "i(0|[1-9][0-9]*)"},
        {"u%u", "u(0|[1-9][0-9]*)"},
        {"x%x", "x(0|[1-9a-f][0-9a-f]*)"},
        {"X%X", "X(0|[1-9A-F][0-9A-F]*)"},
        {"o%o", "o(0|[1-7][0-7]*)"},
        {"s%s", "s(0|[1-9][0-9]*)"},
        {"w%5d", "w[ 0-9]{5,}"},
        {"l%-6d|", "l[0-9]+ *\\|"},
        {"p%%q%d%%", "p%q(0|[1-9][0-9]*)%"},
        {"%d", "(0|[1-9][0-9]*)"},
    };
    struct rawc c;
    char        name[256], first[13] = "", suffix[13], seen[32][256];
    size_t      i, j, n = 0;

    PT_OPEN(&c, ws_srv->port, RAWC_META);
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        ws_mktemp(__LINE__, &c, cases[i].tmpl, name, sizeof(name));
        ws_name_matches(__LINE__, name, cases[i].pattern, suffix);
        /* One server suffix for the server's lifetime. */
        if (first[0] == '\0')
            memcpy(first, suffix, sizeof(first));
        ck_assert_str_eq(suffix, first);
        for (j = 0; j < n; j++)
            ck_assert_msg(strcmp(seen[j], name) != 0, "mktemp returned %s twice", name);
        snprintf(seen[n++], sizeof(seen[0]), "%s", name);
        /* Usable at once. */
        PT_OK(&c, "store", name, "v", "1", "x");
    }
    /* %04d and %010d pad small numbers with zeros to their width. */
    for (i = 0; i < 8; i++) {
        ws_mktemp(__LINE__, &c, "a%06d", name, sizeof(name));
        ws_name_matches(__LINE__, name, "a[0-9]{6,}", NULL);
        ck_assert_msg(strlen(name) >= 19, "mktemp name \"%s\" too short for a%%06d",
                      name);
        for (j = 0; j < n; j++)
            ck_assert_msg(strcmp(seen[j], name) != 0, "mktemp returned %s twice", name);
        snprintf(seen[n++], sizeof(seen[0]), "%s", name);
    }
    rawc_close(&c);
}
END_TEST

START_TEST(mktemp_bad_templates)
{
    static const char *const bad[] = {"foo", "%d%d", "%q",    "%%", "100%",
                                      "%",   "%*d",  "a%s%x", "",   NULL};
    struct rawc              c;
    struct rawc_reply        r;
    char                     why[128];
    int                      i;

    PT_OPEN(&c, ws_srv->port, RAWC_META);
    for (i = 0; bad[i] != NULL; i++) {
        snprintf(why, sizeof(why), "mktemp: bad template \"%s\".", bad[i]);
        PT_LERR(&c, 1, why, "mktemp ws", bad[i]);
    }
    /* Nothing was created. */
    PT_LONG(&c, &r, "list wss");
    PT_IS_TEXT(&c, &r, " __default\t[system]\tTrue\t0\t\n");
    rawc_reply_free(&r);
    rawc_close(&c);
}
END_TEST

START_TEST(mktemp_and_list_wss_on_a_nocookie_connection)
{
    struct rawc       c;
    struct rawc_reply r;
    char              want[300], name[256];

    PT_OPEN(&c, ws_srv->port, RAWC_OLD_NOCOOKIE);
    /* Long replies without the 40 cookie bytes (section 4.2). */
    PT_LONG(&c, &r, "mktemp ws", "nc%d");
    PT_IS_TEXT(&c, &r, NULL);
    ck_assert(r.len < sizeof(name));
    memcpy(name, r.value, r.len + 1);
    rawc_reply_free(&r);
    ws_name_matches(__LINE__, name, "nc(0|[1-9][0-9]*)", NULL);
    snprintf(want, sizeof(want), " %s\t\tFalse\t1\tx\n", name);
    PT_OK(&c, "store", name, "x", "1", "v");
    PT_VALUE(&c, "v", "fetch", name, "x");
    PT_LONG(&c, &r, "list wss", name);
    PT_IS_TEXT(&c, &r, want);
    rawc_reply_free(&r);
    PT_LERR(&c, 1, NULL, "mktemp ws", "bad");
    rawc_close(&c);
}
END_TEST

NWSTEST_SUITE(proto_workspaces)
{
    Suite *s = suite_create("proto_workspaces");
    TCase *tc = tcase_create("map");

    tcase_add_checked_fixture(tc, ws_setup, ws_teardown);
    tcase_set_timeout(tc, 20);
    tcase_add_test(tc, stale_mapping_after_another_connections_delete);
    tcase_add_test(tc, own_delete_forgets_the_name);
    tcase_add_test(tc, default_can_be_deleted_and_comes_back_plain);
    suite_add_tcase(s, tc);
    tc = tcase_create("ownership");
    tcase_add_checked_fixture(tc, ws_setup, ws_teardown);
    tcase_set_timeout(tc, 20);
    tcase_add_test(tc, open_versus_use);
    tcase_add_test(tc, persistent_outlives_its_owner);
    tcase_add_test(tc, non_persistent_dies_with_its_owner);
    tcase_add_test(tc, persistence_is_set_by_the_first_owner_only);
    tcase_add_test(tc, use_ws_and_mktemp_never_own);
    suite_add_tcase(s, tc);
    tc = tcase_create("mktemp");
    tcase_add_checked_fixture(tc, ws_setup, ws_teardown);
    tcase_set_timeout(tc, 20);
    tcase_add_test(tc, mktemp_names);
    tcase_add_test(tc, mktemp_bad_templates);
    tcase_add_test(tc, mktemp_and_list_wss_on_a_nocookie_connection);
    suite_add_tcase(s, tc);
    return s;
}
