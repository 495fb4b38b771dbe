/*
 * check_session_classic.c -- classic clients on a server with sessions on
 * (docs/SESSIONS.md, issue 15: "a classic client is untouched").
 *
 * The classic Python, R and Java clients are not installed here; the raw
 * client (rawc) speaks each of their greetings byte for byte: the old-style
 * words "1111" (old Python, no cookie) and "1112" (Java, cookie) and the
 * new-style handshake requesting no option or the metadata options (Python
 * and R).  The protocol suites (proto_*) run the same greetings against the
 * default server, which has sessions on; this suite states the session-
 * specific promises explicitly: the one new advertised option, no dictionary
 * after A000, no request header expected, and a close that ends everything
 * at once (owned workspace purged) as before, whatever --resume-grace says.
 */
#include <stdio.h>
#include <string.h>

#include "ptest.h"

static struct nwstest_server *cl_srv;

/* A server with sessions on (the default) and a grace far beyond the test. */
static void
cl_setup(void)
{
    static const char *const extra[] = {"--resume-grace", "600", NULL};

    cl_srv = ptest_start(extra);
}

static void
cl_teardown(void)
{
    ptest_stop(cl_srv);
}

/*
 * One greeting: an owned workspace, a store, a fetch, a blocking fetch
 * served by another connection, then the close.  The workspace must be gone
 * at once (a session would keep it for the grace), the fetched value too.
 */
static void
cl_one_kind(int line, enum rawc_kind kind, const char *ws)
{
    struct rawc c, o;
    char        val[64];

    snprintf(val, sizeof(val), "v-%s", ws);
    ptest_open(line, &c, cl_srv->port, kind);
    ptest_open(line, &o, cl_srv->port, RAWC_PLAIN);
    if (kind == RAWC_PLAIN || kind == RAWC_META) {
        const char *v;
        size_t      vlen;

        /* The one thing new for a classic client: an option it ignores. */
        ck_assert_msg(rawc_dict_get(c.adv, c.adv_len, "NwsSession", &v, &vlen) == 1 &&
                          vlen == 0,
                      "line %d: NwsSession is not advertised with the empty value", line);
    }
    /* The first request right after A000: a dictionary there would break it. */
    ptest_short(line, &c, NULL, 0, NULL, "open ws", ws, "1", "no", (const char *)NULL);
    ptest_short(line, &c, NULL, 0, NULL, "store", ws, "x", "1", val, (const char *)NULL);
    ptest_value(line, &c, val, "fetch", ws, "x", (const char *)NULL);
    ptest_short(line, &c, NULL, 0, NULL, "store", ws, "y", "1", "kept",
                (const char *)NULL);
    /* o sees the workspace while c lives. */
    ptest_short(line, &o, NULL, 0, NULL, "use ws", ws, "", "no", (const char *)NULL);
    ptest_value(line, &o, "kept", "fetchTry", ws, "y", (const char *)NULL);
    ptest_short(line, &o, NULL, 0, NULL, "store", ws, "y", "1", "kept",
                (const char *)NULL);
    rawc_close(&c);
    ptest_wait_ws(line, &o, ws, 0);
    rawc_close(&o);
}

/* Every classic greeting, on the default server (sessions on). */
START_TEST(classic_greetings_untouched)
{
    cl_one_kind(__LINE__, RAWC_PLAIN, "plain");
    cl_one_kind(__LINE__, RAWC_META, "meta");
    cl_one_kind(__LINE__, RAWC_OLD_COOKIE, "java");
    cl_one_kind(__LINE__, RAWC_OLD_NOCOOKIE, "oldpy");
}
END_TEST

/*
 * A classic fetch whose reply was written whole is delivered: the value does
 * not come back when the connection closes (it would for a value held by a
 * session's kept reply that was never written).
 */
START_TEST(classic_fetch_then_close_is_delivered)
{
    struct rawc c, o;

    PT_OPEN(&c, cl_srv->port, RAWC_PLAIN);
    PT_OPEN(&o, cl_srv->port, RAWC_PLAIN);
    PT_OK(&o, "use ws", "d", "", "no");
    PT_OK(&o, "store", "d", "x", "1", "once");
    PT_OK(&c, "use ws", "d", "", "no");
    PT_VALUE(&c, "once", "fetch", "d", "x");
    rawc_close(&c);
    /* A round trip on o after the close was handled: still nothing in x. */
    PT_NOVAL(&o, "fetchTry", "d", "x");
    rawc_close(&o);
}
END_TEST

/* --no-sessions: not advertised, and asking for it is an unknown option. */
START_TEST(no_sessions_not_advertised)
{
    static const char *const extra[] = {"--no-sessions", NULL};
    static const char *const ask[] = {"NwsSession", "new", NULL};
    struct nwstest_server   *s = ptest_start(extra);
    struct rawc              c;
    const char              *v;
    size_t                   vlen;

    PT_OPEN(&c, s->port, RAWC_NONE);
    PT_RC(&c, rawc_hs_new(&c, ask) == 1 ? 0 : -1);
    ck_assert_msg(rawc_dict_get(c.adv, c.adv_len, "NwsSession", &v, &vlen) == 0,
                  "NwsSession advertised with --no-sessions");
    rawc_close(&c);
    PT_OPEN(&c, s->port, RAWC_PLAIN);
    PT_OK(&c, "use ws", "n", "", "no");
    PT_OK(&c, "store", "n", "x", "1", "v");
    PT_VALUE(&c, "v", "fetch", "n", "x");
    rawc_close(&c);
    ptest_stop(s);
}
END_TEST

NWSTEST_SUITE(session_classic)
{
    Suite *s = suite_create("session_classic");
    TCase *tc = tcase_create("classic");

    tcase_add_checked_fixture(tc, cl_setup, cl_teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, classic_greetings_untouched);
    tcase_add_test(tc, classic_fetch_then_close_is_delivered);
    tcase_add_test(tc, no_sessions_not_advertised);
    suite_add_tcase(s, tc);
    return s;
}
