/*
 * check_requeue.c -- where a fetched value goes when its reply never
 * reached the client (server/requeue.c), without sockets: the front of a
 * fifo in the old order, the top of a lifo, back into a single only if no
 * newer value was stored, to a waiting fetcher first, nowhere once the
 * variable is deleted, and never when the reply was written whole.
 */
#include <stdlib.h>
#include <string.h>

#include "nwstest.h"
#include "server.h"

static struct ws *rq_ws;

static void
rq_setup(void)
{
    memset(&srv, 0, sizeof(srv));
    ws_init();
    rq_ws = ws_create("w", 1);
}

static void
rq_teardown(void)
{
    ws_shutdown();
    ck_assert_uint_eq(srv.mem_used, 0);
}

static void
rq_store(struct var *var, const char *s)
{
    struct value *v = value_new(NWSP_DESC_DIRECT_STRING, NULL, 0, strlen(s));
    const char   *err = NULL;

    ck_assert_ptr_nonnull(v);
    memcpy(value_data(v), s, strlen(s));
    ck_assert_int_eq(var_store(var, v, NULL, &err), 0);
}

/* Fetches from var as a connection would, noting the value with reply end end. */
static void
rq_fetch(struct fetched_list *l, struct var *var, const char *want, uint64_t end)
{
    struct var_got got;

    ck_assert_int_eq(var_get(var, 1, 0, -1, NULL, &got), VAR_OK);
    ck_assert_int_eq((int)got.value->v_len, (int)strlen(want));
    ck_assert(memcmp(value_data(got.value), want, strlen(want)) == 0);
    requeue_note(l, var, got.value, got.index, end);
    value_unref(got.value);
}

/* The value fetchTry would give now ("" when none), and its index. */
static const char *
rq_take(struct var *var, uint64_t *index)
{
    static char    buf[64];
    struct var_got got;

    if (var_get(var, 1, 0, -1, NULL, &got) != VAR_OK)
        return "";
    snprintf(buf, sizeof(buf), "%.*s", (int)got.value->v_len, value_data(got.value));
    if (index != NULL)
        *index = got.index;
    value_unref(got.value);
    return buf;
}

START_TEST(fifo_front_in_order)
{
    struct fetched_list l;
    struct var         *var = ws_var(rq_ws, "x", 1);
    uint64_t            idx = 99;

    memset(&l, 0, sizeof(l));
    rq_store(var, "a");
    rq_store(var, "b");
    rq_store(var, "c");
    rq_fetch(&l, var, "a", 100);
    rq_fetch(&l, var, "b", 200);
    /* The first reply went out whole, the second only in part. */
    ck_assert_uint_eq(requeue_close(&l, 150), 1);
    ck_assert_str_eq(rq_take(var, &idx), "b");
    ck_assert_uint_eq(idx, 1);
    ck_assert_str_eq(rq_take(var, NULL), "c");
    ck_assert_str_eq(rq_take(var, NULL), "");
}
END_TEST

START_TEST(fifo_several_keep_order)
{
    struct fetched_list l;
    struct var         *var = ws_var(rq_ws, "x", 1);

    memset(&l, 0, sizeof(l));
    rq_store(var, "a");
    rq_store(var, "b");
    rq_store(var, "c");
    rq_fetch(&l, var, "a", 10);
    rq_fetch(&l, var, "b", 20);
    ck_assert_uint_eq(requeue_close(&l, 0), 2);
    ck_assert_str_eq(rq_take(var, NULL), "a");
    ck_assert_str_eq(rq_take(var, NULL), "b");
    ck_assert_str_eq(rq_take(var, NULL), "c");
}
END_TEST

START_TEST(written_whole_stays_taken)
{
    struct fetched_list l;
    struct var         *var = ws_var(rq_ws, "x", 1);

    memset(&l, 0, sizeof(l));
    rq_store(var, "a");
    rq_fetch(&l, var, "a", 10);
    requeue_written(&l, 10);
    ck_assert_uint_eq(l.fl_n, 0);
    ck_assert_uint_eq(requeue_close(&l, 10), 0);
    ck_assert_str_eq(rq_take(var, NULL), "");
}
END_TEST

START_TEST(lifo_back_on_top)
{
    struct fetched_list l;
    struct var         *var = ws_var(rq_ws, "x", 1);

    memset(&l, 0, sizeof(l));
    ck_assert_int_eq(var_declare(var, "lifo", 4), 0);
    rq_store(var, "a");
    rq_store(var, "b");
    rq_fetch(&l, var, "b", 10);
    rq_store(var, "c");
    ck_assert_uint_eq(requeue_close(&l, 0), 1);
    ck_assert_str_eq(rq_take(var, NULL), "b");
    ck_assert_str_eq(rq_take(var, NULL), "c");
    ck_assert_str_eq(rq_take(var, NULL), "a");
}
END_TEST

START_TEST(single_back_unless_newer)
{
    struct fetched_list l;
    struct var         *var = ws_var(rq_ws, "x", 1);
    struct var         *var2 = ws_var(rq_ws, "y", 1);
    uint64_t            idx = 99;

    memset(&l, 0, sizeof(l));
    ck_assert_int_eq(var_declare(var, "single", 6), 0);
    rq_store(var, "old");
    rq_fetch(&l, var, "old", 10);
    ck_assert_uint_eq(requeue_close(&l, 0), 1);
    ck_assert_str_eq(rq_take(var, &idx), "old");
    ck_assert_uint_eq(idx, 0);

    /* A newer value was stored (and even taken) since: it wins. */
    ck_assert_int_eq(var_declare(var2, "single", 6), 0);
    rq_store(var2, "old");
    rq_fetch(&l, var2, "old", 10);
    rq_store(var2, "new");
    ck_assert_str_eq(rq_take(var2, NULL), "new");
    requeue_close(&l, 0);
    ck_assert_str_eq(rq_take(var2, NULL), "");
    rq_store(var2, "newer");
    ck_assert_str_eq(rq_take(var2, NULL), "newer");
}
END_TEST

/* A waiter that records what it receives. */
struct rq_waiter {
    struct waiter w;
    char          got[32];
};

static void
rq_deliver(struct waiter *w, struct value *v, uint64_t index)
{
    struct rq_waiter *r = (struct rq_waiter *)w;

    (void)index;
    snprintf(r->got, sizeof(r->got), "%.*s", (int)v->v_len, value_data(v));
}

static void
rq_fail(struct waiter *w, const char *reason)
{
    (void)w;
    (void)reason;
}

static int
rq_dead(struct waiter *w)
{
    (void)w;
    return 1;
}

START_TEST(waiting_fetcher_served_dead_one_skipped)
{
    struct fetched_list l;
    struct var         *var = ws_var(rq_ws, "x", 1);
    struct rq_waiter    dead, live;

    memset(&l, 0, sizeof(l));
    memset(&dead, 0, sizeof(dead));
    memset(&live, 0, sizeof(live));
    dead.w.w_deliver = live.w.w_deliver = rq_deliver;
    dead.w.w_fail = live.w.w_fail = rq_fail;
    dead.w.w_gone = rq_dead;
    rq_store(var, "a");
    rq_fetch(&l, var, "a", 10);
    waiter_park(&dead.w, var, 1);
    waiter_park(&live.w, var, 1);
    ck_assert_uint_eq(requeue_close(&l, 0), 1);
    ck_assert_str_eq(dead.got, "");
    ck_assert_str_eq(live.got, "a");
    ck_assert_uint_eq(var->var_nfetchers, 0);
    ck_assert_str_eq(rq_take(var, NULL), "");
}
END_TEST

START_TEST(deleted_variable_gets_nothing)
{
    struct fetched_list l;
    struct var         *var = ws_var(rq_ws, "x", 1);

    memset(&l, 0, sizeof(l));
    rq_store(var, "a");
    rq_fetch(&l, var, "a", 10);
    ws_var_delete(rq_ws, var);
    ck_assert_uint_eq(requeue_close(&l, 0), 0);
    var = ws_var(rq_ws, "x", 1);
    ck_assert_str_eq(rq_take(var, NULL), "");
}
END_TEST

/* Many values back at the front of a long, packed queue: order and count hold. */
START_TEST(fifo_front_of_packed_queue)
{
    struct fetched_list l;
    struct var         *var = ws_var(rq_ws, "x", 1);
    char                buf[16];
    int                 i;

    memset(&l, 0, sizeof(l));
    for (i = 0; i < 300; i++) {
        snprintf(buf, sizeof(buf), "v%d", i);
        rq_store(var, buf);
    }
    for (i = 0; i < 100; i++) {
        snprintf(buf, sizeof(buf), "v%d", i);
        rq_fetch(&l, var, buf, (uint64_t)i + 1);
    }
    ck_assert_uint_eq(requeue_close(&l, 0), 100);
    ck_assert_uint_eq(var_nvalues(var), 300);
    for (i = 0; i < 300; i++) {
        snprintf(buf, sizeof(buf), "v%d", i);
        ck_assert_str_eq(rq_take(var, NULL), buf);
    }
}
END_TEST

NWSTEST_SUITE(requeue)
{
    Suite *s = suite_create("requeue");
    TCase *tc = tcase_create("rules");

    tcase_add_checked_fixture(tc, rq_setup, rq_teardown);
    tcase_add_test(tc, fifo_front_in_order);
    tcase_add_test(tc, fifo_several_keep_order);
    tcase_add_test(tc, written_whole_stays_taken);
    tcase_add_test(tc, lifo_back_on_top);
    tcase_add_test(tc, single_back_unless_newer);
    tcase_add_test(tc, waiting_fetcher_served_dead_one_skipped);
    tcase_add_test(tc, deleted_variable_gets_nothing);
    tcase_add_test(tc, fifo_front_of_packed_queue);
    suite_add_tcase(s, tc);
    return s;
}
