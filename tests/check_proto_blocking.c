/*
 * check_proto_blocking.c -- blocking fetch and find across connections
 * (nws-protocol.md section 6.5): wake order, FIFO fetchers, disconnects that
 * consume nothing, and "Variable purged." on delete var, delete ws and an
 * owner's disconnect (section 7.4, quirk Q7 included).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ptest.h"

static struct nwstest_server *blk_srv;

/* Starts a fresh server for each test. */
static void
blk_setup(void)
{
    blk_srv = ptest_start(NULL);
}

/* Stops it and checks the clean exit. */
static void
blk_teardown(void)
{
    ptest_stop(blk_srv);
}

/* Reads the pending long reply of c and checks value, index and metadata. */
static void
blk_reply(int line, struct rawc *c, const char *val, int64_t idx, const char *meta)
{
    struct rawc_reply r;

    ptest_rc(line, c, rawc_read_long(c, &r));
    ptest_is_value(line, c, &r, 1, val, strlen(val), meta);
    if (idx >= 0 && c->cookie)
        ck_assert_msg(r.index == (uint64_t)idx,
                      "line %d: expected cookie index %lld, got %s", line, (long long)idx,
                      r.raw_index);
    rawc_reply_free(&r);
}

/* Reads the pending long reply of c and checks it is the error why. */
static void
blk_error(int line, struct rawc *c, const char *why)
{
    struct rawc_reply r;

    ptest_rc(line, c, rawc_read_long(c, &r));
    ptest_is_error(line, c, &r, 1, why);
    rawc_reply_free(&r);
}

/* Asserts nothing arrives on c for a while: it is still blocked. */
static void
blk_quiet(int line, struct rawc *c)
{
    ck_assert_msg(rawc_expect_silence(c, 150) == 0, "line %d: %s", line, c->err);
}

#define BLK_REPLY(c, val, idx, meta) blk_reply(__LINE__, (c), (val), (idx), (meta))
#define BLK_ERROR(c, why)            blk_error(__LINE__, (c), (why))
#define BLK_QUIET(c)                 blk_quiet(__LINE__, (c))

/* Closes n clients. */
static void
blk_close(struct rawc *c, int n)
{
    int i;

    for (i = 0; i < n; i++)
        rawc_close(&c[i]);
}

/* Opens n clients of kind, each having done use ws w. */
static void
blk_clients(struct rawc *c, int n, enum rawc_kind kind)
{
    int i;

    for (i = 0; i < n; i++) {
        PT_OPEN(&c[i], blk_srv->port, kind);
        PT_OK(&c[i], "use ws", "w", "", "no");
    }
}

START_TEST(fetch_waits_for_a_store)
{
    struct rawc c[2];
    char        line[128], *m = rawc_dict_new("k", "v", NULL);

    blk_clients(c, 2, RAWC_META);
    PT_RC(&c[0], rawc_sendv(&c[0], NULL, "fetch", "w", "x", NULL));
    PT_WAIT_WAITERS(&c[1], "w", "x", 1, 0);
    BLK_QUIET(&c[0]);
    ck_assert_str_eq(PT_VARLINE(&c[1], "w", "x", line), "x\t0\t1\t0\tunknown");
    PT_OK_M(&c[1], m, "store", "w", "x", "1", "hello");
    /* The waiter gets the storing client's metadata with the value. */
    BLK_REPLY(&c[0], "hello", 0, m);
    /* Consumed: it was never stored. */
    ck_assert_str_eq(PT_VARLINE(&c[1], "w", "x", line), "x\t0\t0\t0\tfifo");
    PT_NOVAL(&c[1], "fetchTry", "w", "x");
    /* The index counts it all the same. */
    PT_OK(&c[1], "store", "w", "x", "1", "next");
    PT_RC(&c[1], rawc_sendv(&c[1], NULL, "find", "w", "x", NULL));
    BLK_REPLY(&c[1], "next", 1, NULL);
    free(m);
    rawc_close(&c[0]);
    rawc_close(&c[1]);
}
END_TEST

START_TEST(find_waits_and_leaves_the_value)
{
    struct rawc c[2];
    char        line[128];

    blk_clients(c, 2, RAWC_META);
    PT_RC(&c[0], rawc_sendv(&c[0], NULL, "find", "w", "x", NULL));
    PT_WAIT_WAITERS(&c[1], "w", "x", 0, 1);
    BLK_QUIET(&c[0]);
    PT_OK(&c[1], "store", "w", "x", "1", "hello");
    BLK_REPLY(&c[0], "hello", 0, NULL);
    ck_assert_str_eq(PT_VARLINE(&c[1], "w", "x", line), "x\t1\t0\t0\tfifo");
    PT_VALUE(&c[0], "hello", "fetch", "w", "x");
    rawc_close(&c[0]);
    rawc_close(&c[1]);
}
END_TEST

START_TEST(all_finders_then_the_oldest_fetcher)
{
    struct rawc c[5];
    char        line[128];

    blk_clients(c, 5, RAWC_META);
    /* Arrival order: finder, fetcher, finder, fetcher. */
    PT_RC(&c[0], rawc_sendv(&c[0], NULL, "find", "w", "x", NULL));
    PT_WAIT_WAITERS(&c[4], "w", "x", 0, 1);
    PT_RC(&c[1], rawc_sendv(&c[1], NULL, "fetch", "w", "x", NULL));
    PT_WAIT_WAITERS(&c[4], "w", "x", 1, 1);
    PT_RC(&c[2], rawc_sendv(&c[2], NULL, "find", "w", "x", NULL));
    PT_WAIT_WAITERS(&c[4], "w", "x", 1, 2);
    PT_RC(&c[3], rawc_sendv(&c[3], NULL, "fetch", "w", "x", NULL));
    PT_WAIT_WAITERS(&c[4], "w", "x", 2, 2);
    /* One store: every finder, then exactly one fetcher, the oldest. */
    PT_OK(&c[4], "store", "w", "x", "1", "v1");
    BLK_REPLY(&c[0], "v1", 0, NULL);
    BLK_REPLY(&c[2], "v1", 0, NULL);
    BLK_REPLY(&c[1], "v1", 0, NULL);
    BLK_QUIET(&c[3]);
    ck_assert_str_eq(PT_VARLINE(&c[4], "w", "x", line), "x\t0\t1\t0\tfifo");
    PT_OK(&c[4], "store", "w", "x", "1", "v2");
    BLK_REPLY(&c[3], "v2", 1, NULL);
    ck_assert_str_eq(PT_VARLINE(&c[4], "w", "x", line), "x\t0\t0\t0\tfifo");
    /* The finders are done too: the next store is stored. */
    PT_OK(&c[4], "store", "w", "x", "1", "v3");
    ck_assert_str_eq(PT_VARLINE(&c[4], "w", "x", line), "x\t1\t0\t0\tfifo");
    BLK_QUIET(&c[0]);
    BLK_QUIET(&c[2]);
    PT_VALUE(&c[0], "v3", "fetch", "w", "x");
    blk_close(c, 5);
}
END_TEST

START_TEST(fetchers_are_served_first_come_first_served)
{
    struct rawc c[4];
    int         i;

    blk_clients(c, 4, RAWC_PLAIN);
    for (i = 0; i < 3; i++) {
        PT_RC(&c[i], rawc_sendv(&c[i], NULL, "fetch", "w", "x", NULL));
        PT_WAIT_WAITERS(&c[3], "w", "x", i + 1, 0);
    }
    PT_OK(&c[3], "store", "w", "x", "1", "a");
    BLK_REPLY(&c[0], "a", 0, NULL);
    PT_OK(&c[3], "store", "w", "x", "1", "b");
    BLK_REPLY(&c[1], "b", 1, NULL);
    PT_OK(&c[3], "store", "w", "x", "1", "c");
    BLK_REPLY(&c[2], "c", 2, NULL);
    PT_NOVAL(&c[3], "fetchTry", "w", "x");
    blk_close(c, 4);
}
END_TEST

START_TEST(waiter_replies_use_the_waiters_own_settings)
{
    struct rawc c[4];
    char       *m = rawc_dict_new("k", "v", NULL);

    /* Section 6.5: cookie and metadata flags of the waiter, not the storer. */
    PT_OPEN(&c[0], blk_srv->port, RAWC_OLD_NOCOOKIE);
    PT_OPEN(&c[1], blk_srv->port, RAWC_OLD_COOKIE);
    PT_OPEN(&c[2], blk_srv->port, RAWC_META_FROM);
    PT_OPEN(&c[3], blk_srv->port, RAWC_META);
    for (int i = 0; i < 4; i++)
        PT_OK(&c[i], "use ws", "w", "", "no");
    PT_RC(&c[0], rawc_sendv(&c[0], NULL, "find", "w", "x", NULL));
    PT_RC(&c[1], rawc_sendv(&c[1], NULL, "find", "w", "x", NULL));
    PT_RC(&c[2], rawc_sendv(&c[2], NULL, "fetch", "w", "x", NULL));
    PT_WAIT_WAITERS(&c[3], "w", "x", 1, 2);
    PT_OK_M(&c[3], m, "store", "w", "x", "1", "val");
    BLK_REPLY(&c[0], "val", 0, NULL);
    BLK_REPLY(&c[1], "val", 0, NULL);
    BLK_REPLY(&c[2], "val", 0, m);
    free(m);
    blk_close(c, 4);
}
END_TEST

START_TEST(blocked_client_that_leaves_consumes_nothing)
{
    struct rawc c[3];
    char        line[128];

    blk_clients(c, 3, RAWC_META);
    PT_RC(&c[0], rawc_sendv(&c[0], NULL, "fetch", "w", "x", NULL));
    PT_WAIT_WAITERS(&c[2], "w", "x", 1, 0);
    PT_RC(&c[1], rawc_sendv(&c[1], NULL, "fetch", "w", "x", NULL));
    PT_WAIT_WAITERS(&c[2], "w", "x", 2, 0);
    rawc_close(&c[0]);
    PT_WAIT_WAITERS(&c[2], "w", "x", 1, 0);
    /* The next fetcher gets it; the departed one took nothing. */
    PT_OK(&c[2], "store", "w", "x", "1", "a");
    BLK_REPLY(&c[1], "a", 0, NULL);
    PT_RC(&c[1], rawc_sendv(&c[1], NULL, "find", "w", "x", NULL));
    PT_WAIT_WAITERS(&c[2], "w", "x", 0, 1);
    rawc_close(&c[1]);
    PT_WAIT_WAITERS(&c[2], "w", "x", 0, 0);
    PT_OK(&c[2], "store", "w", "x", "1", "b");
    ck_assert_str_eq(PT_VARLINE(&c[2], "w", "x", line), "x\t1\t0\t0\tfifo");
    PT_VALUE(&c[2], "b", "fetch", "w", "x");
    blk_close(c, 3);
}
END_TEST

START_TEST(delete_var_purges_waiters)
{
    struct rawc c[4];
    char        line[128];

    PT_OPEN(&c[0], blk_srv->port, RAWC_META);
    PT_OPEN(&c[1], blk_srv->port, RAWC_OLD_NOCOOKIE);
    PT_OPEN(&c[2], blk_srv->port, RAWC_META_FROM);
    PT_OPEN(&c[3], blk_srv->port, RAWC_META);
    for (int i = 0; i < 4; i++)
        PT_OK(&c[i], "use ws", "w", "", "no");
    PT_RC(&c[0], rawc_sendv(&c[0], NULL, "fetch", "w", "x", NULL));
    PT_RC(&c[1], rawc_sendv(&c[1], NULL, "find", "w", "x", NULL));
    PT_RC(&c[2], rawc_sendv(&c[2], NULL, "ifind", "w", "x", "", "0", NULL));
    PT_WAIT_WAITERS(&c[3], "w", "x", 1, 2);
    PT_OK(&c[3], "delete var", "w", "x");
    BLK_ERROR(&c[0], "Variable purged.");
    BLK_ERROR(&c[1], "Variable purged.");
    BLK_ERROR(&c[2], "Variable purged.");
    ck_assert_str_eq(PT_VARLINE(&c[3], "w", "x", line), "");
    /* The connections are still usable. */
    PT_OK(&c[0], "store", "w", "x", "1", "again");
    PT_VALUE(&c[1], "again", "fetch", "w", "x");
    blk_close(c, 4);
}
END_TEST

START_TEST(delete_ws_purges_waiters)
{
    struct rawc c[3];

    blk_clients(c, 3, RAWC_META);
    PT_RC(&c[0], rawc_sendv(&c[0], NULL, "fetch", "w", "x", NULL));
    PT_RC(&c[1], rawc_sendv(&c[1], NULL, "find", "w", "y", NULL));
    PT_WAIT_WAITERS(&c[2], "w", "x", 1, 0);
    PT_WAIT_WAITERS(&c[2], "w", "y", 0, 1);
    PT_OK(&c[2], "delete ws", "w");
    BLK_ERROR(&c[0], "Variable purged.");
    BLK_ERROR(&c[1], "Variable purged.");
    /* Their mapping now points at a deleted instance: 100 (section 7.1). */
    PT_SHORT(&c[0], 100, "No such workspace.", "store", "w", "x", "1", "v");
    PT_SHORT(&c[2], 2001, "Workspace w has not been opened.", "store", "w", "x", "1",
             "v");
    blk_close(c, 3);
}
END_TEST

START_TEST(owner_disconnect_purges_waiters)
{
    struct rawc owner, c[2];

    PT_OPEN(&owner, blk_srv->port, RAWC_META);
    PT_OK(&owner, "open ws", "w", "42", "no");
    blk_clients(c, 2, RAWC_META);
    PT_RC(&c[0], rawc_sendv(&c[0], NULL, "fetch", "w", "x", NULL));
    PT_WAIT_WAITERS(&c[1], "w", "x", 1, 0);
    /* Section 7.4: a non-persistent workspace dies with its owner. */
    rawc_close(&owner);
    BLK_ERROR(&c[0], "Variable purged.");
    PT_WAIT_WS(&c[1], "w", 0);
    PT_SHORT(&c[1], 100, "No such workspace.", "store", "w", "x", "1", "v");
    blk_close(c, 2);
}
END_TEST

START_TEST(co_owner_disconnect_purges_too)
{
    struct rawc a, b, o;

    PT_OPEN(&a, blk_srv->port, RAWC_META);
    PT_OPEN(&b, blk_srv->port, RAWC_META);
    PT_OPEN(&o, blk_srv->port, RAWC_META);
    PT_OK(&a, "open ws", "w", "1", "no");
    PT_OK(&b, "open ws", "w", "2", "no");
    PT_OK(&o, "use ws", "w", "", "no");
    PT_RC(&a, rawc_sendv(&a, NULL, "fetch", "w", "x", NULL));
    PT_WAIT_WAITERS(&o, "w", "x", 1, 0);
    /* Q7 (copied): b only co-owns, but its disconnect purges w as well. */
    rawc_close(&b);
    BLK_ERROR(&a, "Variable purged.");
    PT_WAIT_WS(&o, "w", 0);
    rawc_close(&a);
    rawc_close(&o);
}
END_TEST

START_TEST(waiters_carry_over_a_declare)
{
    struct rawc c[2];
    char        line[128];

    blk_clients(c, 2, RAWC_META);
    PT_RC(&c[0], rawc_sendv(&c[0], NULL, "fetch", "w", "x", NULL));
    PT_WAIT_WAITERS(&c[1], "w", "x", 1, 0);
    PT_OK(&c[1], "declare var", "w", "x", "lifo");
    ck_assert_str_eq(PT_VARLINE(&c[1], "w", "x", line), "x\t0\t1\t0\tlifo");
    PT_OK(&c[1], "store", "w", "x", "1", "v");
    BLK_REPLY(&c[0], "v", 0, NULL);
    ck_assert_str_eq(PT_VARLINE(&c[1], "w", "x", line), "x\t0\t0\t0\tlifo");
    blk_close(c, 2);
}
END_TEST

START_TEST(single_store_wakes_and_counts)
{
    struct rawc c[3];
    char        line[128];

    blk_clients(c, 3, RAWC_META);
    PT_OK(&c[2], "declare var", "w", "s", "single");
    PT_RC(&c[0], rawc_sendv(&c[0], NULL, "find", "w", "s", NULL));
    PT_RC(&c[1], rawc_sendv(&c[1], NULL, "fetch", "w", "s", NULL));
    PT_WAIT_WAITERS(&c[2], "w", "s", 1, 1);
    PT_OK(&c[2], "store", "w", "s", "1", "a");
    BLK_REPLY(&c[0], "a", 0, NULL);
    BLK_REPLY(&c[1], "a", 0, NULL);
    ck_assert_str_eq(PT_VARLINE(&c[2], "w", "s", line), "s\t0\t0\t0\tsingle");
    PT_OK(&c[2], "store", "w", "s", "1", "b");
    PT_RC(&c[2], rawc_sendv(&c[2], NULL, "find", "w", "s", NULL));
    BLK_REPLY(&c[2], "b", 1, NULL);
    blk_close(c, 3);
}
END_TEST

NWSTEST_SUITE(proto_blocking)
{
    Suite *s = suite_create("proto_blocking");
    TCase *tc = tcase_create("wakeups");

    tcase_add_checked_fixture(tc, blk_setup, blk_teardown);
    tcase_set_timeout(tc, 20);
    tcase_add_test(tc, fetch_waits_for_a_store);
    tcase_add_test(tc, find_waits_and_leaves_the_value);
    tcase_add_test(tc, all_finders_then_the_oldest_fetcher);
    tcase_add_test(tc, fetchers_are_served_first_come_first_served);
    tcase_add_test(tc, waiter_replies_use_the_waiters_own_settings);
    tcase_add_test(tc, waiters_carry_over_a_declare);
    tcase_add_test(tc, single_store_wakes_and_counts);
    suite_add_tcase(s, tc);
    tc = tcase_create("departures");
    tcase_add_checked_fixture(tc, blk_setup, blk_teardown);
    tcase_set_timeout(tc, 20);
    tcase_add_test(tc, blocked_client_that_leaves_consumes_nothing);
    tcase_add_test(tc, delete_var_purges_waiters);
    tcase_add_test(tc, delete_ws_purges_waiters);
    tcase_add_test(tc, owner_disconnect_purges_waiters);
    tcase_add_test(tc, co_owner_disconnect_purges_too);
    suite_add_tcase(s, tc);
    return s;
}
