/*
 * check_session_limits.c -- what sessions may hold, and that it is bounded
 * (docs/SESSIONS.md section 2, SECURITY.md "Sessions and the resume token").
 *
 * A client that never acknowledges keeps every mutation's reply, and the
 * values of its fetches, in the server: those values stay charged to
 * --max-memory until acknowledged (a store that would pass the limit is
 * refused meanwhile) and are released by the acknowledgement.  The server's
 * memory figure is read with "server info" (its metadata, nwsServerInfo).
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sesst.h"

/* An integer figure of "server info" (its metadata, nwsServerInfo); m has metadata. */
static long long
lim_info(int line, struct rawc *m, const char *key)
{
    struct rawc_reply r = {0};
    const char       *v;
    size_t            vlen;
    json_t           *o;
    long long         n;

    ck_assert_msg(rawc_sendv(m, NULL, "server info", (const char *)NULL) == 0 &&
                      rawc_read_short(m, &r) == 0 && r.status == 0,
                  "line %d: server info: %s", line, m->err);
    ck_assert_msg(rawc_dict_get(r.meta, r.meta_len, "nwsServerInfo", &v, &vlen) == 1,
                  "line %d: no nwsServerInfo", line);
    o = json_loadb(v, vlen, 0, NULL);
    ck_assert_msg(o != NULL && json_is_integer(json_object_get(o, key)),
                  "line %d: server info without %s: %.*s", line, key, (int)vlen, v);
    n = (long long)json_integer_value(json_object_get(o, key));
    json_decref(o);
    rawc_reply_free(&r);
    return n;
}

#define lim_mem_used(line, m) lim_info((line), (m), "memory_used")

#define LIM_NVAL   48
#define LIM_VALLEN 60000

/* A store of len bytes of 'z' on o; returns its status. */
static int
lim_store_big(int line, struct rawc *o, size_t len)
{
    const char       *argv[] = {"store", "w", "big", "1"};
    size_t            lens[] = {5, 1, 3, 1};
    struct rawc_reply r = {0};
    char             *buf = malloc(len);
    int               st;

    ck_assert_ptr_nonnull(buf);
    memset(buf, 'z', len);
    ck_assert_msg(rawc_send_head(o, NULL, 5, argv, lens, len) == 0 &&
                      rawc_write(o, buf, len) == 0 && rawc_read_short(o, &r) == 0,
                  "line %d: big store: %s", line, o->err);
    free(buf);
    st = r.status;
    rawc_reply_free(&r);
    return st;
}

/*
 * 48 values of 64 KiB (3 MiB) fetched by a session that does not
 * acknowledge them: still charged (6 MiB more is refused under 8 MiB), and
 * released by the acknowledgement (then 6 MiB fits).
 */
START_TEST(unacked_values_charged_until_acked)
{
    static const char *const extra[] = {"--max-memory", "8M", NULL};
    struct nwstest_server   *srv = ptest_start(extra);
    struct sesst             s;
    struct rawc              o, m;
    struct rawc_reply        r = {0};
    char                    *val = malloc(LIM_VALLEN + 1);
    long long                held, after;
    int                      i;

    ck_assert_ptr_nonnull(val);
    memset(val, 'v', LIM_VALLEN);
    val[LIM_VALLEN] = '\0';
    PT_OPEN(&o, srv->port, RAWC_PLAIN);
    PT_OPEN(&m, srv->port, RAWC_META);
    PT_OK(&o, "use ws", "w", "", "yes");
    for (i = 0; i < LIM_NVAL; i++)
        PT_OK(&o, "store", "w", "x", "1", val);
    SESST_NEW(&s, srv->port);
    SESST_SEND(&s, "use ws", "w", "", "no");
    PT_RC(&s.c, rawc_read_short(&s.c, &r));
    SESST_GOT(&s);
    /* Pipelined fetches, all with ack 1: none of their replies acknowledged. */
    for (i = 0; i < LIM_NVAL; i++)
        SESST_SEND(&s, "fetchTry", "w", "x");
    for (i = 0; i < LIM_NVAL; i++) {
        PT_RC(&s.c, rawc_read_long(&s.c, &r));
        ck_assert_msg(r.status == 0 && r.len == LIM_VALLEN, "fetch %d: status %d", i,
                      r.status);
        rawc_reply_free(&r);
    }
    PT_NOVAL(&o, "fetchTry", "w", "x");
    held = lim_mem_used(__LINE__, &m);
    ck_assert_msg(held >= (long long)LIM_NVAL * LIM_VALLEN,
                  "memory_used %lld with %d x %d bytes held by unacknowledged replies",
                  held, LIM_NVAL, LIM_VALLEN);
    ck_assert_msg(lim_store_big(__LINE__, &o, 6 << 20) != 0,
                  "6 MiB stored under --max-memory 8M with 3 MiB held for a session");
    /* The next request acknowledges them all. */
    SESST_GOT(&s);
    SESST_SEND(&s, "findTry", "w", "x");
    PT_RC(&s.c, rawc_read_long(&s.c, &r));
    rawc_reply_free(&r);
    after = lim_mem_used(__LINE__, &m);
    ck_assert_msg(after < held - (long long)LIM_NVAL * LIM_VALLEN / 2,
                  "memory_used %lld after the acknowledgement (%lld before)", after,
                  held);
    ck_assert_int_eq(lim_store_big(__LINE__, &o, 6 << 20), 0);
    free(val);
    rawc_close(&o);
    rawc_close(&m);
    sesst_drop(&s);
    ptest_stop(srv);
}
END_TEST

/* SESSION_KEPT_MAX of server/session.c: kept replies a session may hold. */
#define LIM_KEPT_MAX 4096

/*
 * A client that pipelines mutations and never acknowledges: the first
 * LIM_KEPT_MAX are run and kept, the next are refused (status 1, not run,
 * not kept), and one acknowledgement lets it go on.
 */
START_TEST(kept_replies_bounded)
{
    struct nwstest_server *srv = ptest_start(NULL);
    struct sesst           s;
    struct rawc            o;
    struct rawc_reply      r = {0};
    char                   vl[512], want[64];
    int                    i, extra = 5;

    PT_OPEN(&o, srv->port, RAWC_PLAIN);
    PT_OK(&o, "use ws", "w", "", "yes");
    SESST_NEW(&s, srv->port);
    SESST_SEND(&s, "use ws", "w", "", "no");
    PT_RC(&s.c, rawc_read_short(&s.c, &r));
    SESST_GOT(&s);
    for (i = 0; i < LIM_KEPT_MAX + extra; i++)
        SESST_SEND(&s, "store", "w", "x", "1", "v");
    for (i = 0; i < LIM_KEPT_MAX + extra; i++) {
        PT_RC(&s.c, rawc_read_short(&s.c, &r));
        ck_assert_msg(r.status == (i < LIM_KEPT_MAX ? 0 : 1),
                      "unacknowledged store %d of %d: status %d", i + 1,
                      LIM_KEPT_MAX + extra, r.status);
        rawc_reply_free(&r);
    }
    /* Exactly LIM_KEPT_MAX values were stored. */
    snprintf(want, sizeof(want), "\t%d\t", LIM_KEPT_MAX);
    ck_assert_msg(strstr(PT_VARLINE(&o, "w", "x", vl), want) != NULL, "list vars: %s",
                  vl);
    /* Acknowledged: the next store runs. */
    SESST_GOT(&s);
    SESST_SEND(&s, "store", "w", "x", "1", "v");
    PT_RC(&s.c, rawc_read_short(&s.c, &r));
    ck_assert_int_eq(r.status, 0);
    snprintf(want, sizeof(want), "\t%d\t", LIM_KEPT_MAX + 1);
    ck_assert_msg(strstr(PT_VARLINE(&o, "w", "x", vl), want) != NULL, "list vars: %s",
                  vl);
    rawc_close(&o);
    sesst_drop(&s);
    ptest_stop(srv);
}
END_TEST

/* The least a session must be charged while it lives (stest-1 in SESSION-BUGS.md). */
#define LIM_SESSION_MIN_COST 512

/* Polls server info until key == want (5 s at most); returns the last value. */
static long long
lim_wait_info(int line, struct rawc *m, const char *key, long long want)
{
    long long n = -1;
    int       i;

    for (i = 0; i < 500 && (n = lim_info(line, m, key)) != want; i++)
        usleep(10000);
    return n;
}

/* Detached sessions hold memory: it is charged while they wait. */
START_TEST(detached_sessions_charged)
{
    static const char *const extra[] = {"--resume-grace", "600", NULL};
    struct nwstest_server   *srv = ptest_start(extra);
    struct rawc              m;
    struct sesst             s;
    long long                before, after, n;
    int                      i, count = 2000;

    PT_OPEN(&m, srv->port, RAWC_META);
    before = lim_mem_used(__LINE__, &m);
    for (i = 0; i < count; i++) {
        SESST_NEW(&s, srv->port);
        sesst_cut(&s);
    }
    n = lim_wait_info(__LINE__, &m, "sessions_detached", count);
    ck_assert_msg(n == count, "%lld sessions detached, %d expected", n, count);
    after = lim_mem_used(__LINE__, &m);
    ck_assert_msg(after - before >= (long long)count * LIM_SESSION_MIN_COST,
                  "%d detached sessions are charged %lld bytes (%lld each)", count,
                  after - before, (after - before) / count);
    rawc_close(&m);
    ptest_stop(srv);
}
END_TEST

/*
 * A client opening sessions and dropping them in a loop cannot make more
 * than --max-memory holds: new ones are refused (F000), and the sessions
 * that exist fit in the limit.
 */
START_TEST(detached_sessions_bounded)
{
    static const char *const extra[] = {"--resume-grace", "600", "--max-memory", "2M",
                                        NULL};
    struct nwstest_server   *srv = ptest_start(extra);
    struct rawc              m;
    struct sesst             s;
    long long                n;
    int                      i, rc = 0, refused = 0;

    for (i = 0; i < 20000 && refused < 10; i++) {
        memset(&s, 0, sizeof(s));
        rc = sesst_hs(&s, srv->port, "new", NULL);
        ck_assert_msg(rc == 0 || rc == 1, "session %d: %s", i, s.c.err);
        refused += rc == 1;
        sesst_cut(&s);
    }
    ck_assert_msg(refused > 0, "%d new sessions under --max-memory 2M, none refused", i);
    PT_OPEN(&m, srv->port, RAWC_META);
    n = lim_info(__LINE__, &m, "sessions");
    ck_assert_msg(n * LIM_SESSION_MIN_COST <= 2 << 20,
                  "%lld sessions under --max-memory 2M", n);
    ck_assert_msg(lim_mem_used(__LINE__, &m) <= 2 << 20, "memory_used past --max-memory");
    rawc_close(&m);
    ptest_stop(srv);
}
END_TEST

NWSTEST_SUITE(session_limits)
{
    Suite *s = suite_create("session_limits");
    TCase *tc = tcase_create("memory");

    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, unacked_values_charged_until_acked);
    tcase_add_test(tc, kept_replies_bounded);
    tcase_add_test(tc, detached_sessions_charged);
    tcase_add_test(tc, detached_sessions_bounded);
    suite_add_tcase(s, tc);
    return s;
}
