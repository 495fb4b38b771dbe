/*
 * check_server_units.c -- server modules without sockets: the hash table,
 * variables and their modes, waiters and wakeup order, workspaces, mktemp
 * templates.  Waiters here are test structs that record what they receive.
 */
#include <stdlib.h>
#include <string.h>

#include "nwstest.h"
#include "server.h"

/* A waiter that records its deliveries, in the order they happen. */
struct rec_waiter {
    struct waiter w;
    int           order;   /* global delivery order, 0 = none yet */
    char          got[64];
    uint64_t      index;
    const char   *failed;
};

static int rec_clock;

static void
rec_deliver(struct waiter *w, struct value *v, uint64_t index)
{
    struct rec_waiter *r = (struct rec_waiter *)w;
    size_t             n = v->v_len < sizeof(r->got) - 1 ? (size_t)v->v_len : sizeof(r->got) - 1;

    memcpy(r->got, value_data(v), n);
    r->got[n] = '\0';
    r->index = index;
    r->order = ++rec_clock;
}

static void
rec_fail(struct waiter *w, const char *reason)
{
    struct rec_waiter *r = (struct rec_waiter *)w;

    r->failed = reason;
    r->order = ++rec_clock;
}

static void
rec_init(struct rec_waiter *r)
{
    memset(r, 0, sizeof(*r));
    r->w.w_deliver = rec_deliver;
    r->w.w_fail = rec_fail;
}

static struct value *
txt(const char *s)
{
    struct value *v = value_new(NWSP_DESC_DIRECT_STRING, NULL, 0, strlen(s));

    ck_assert_ptr_nonnull(v);
    memcpy(value_data(v), s, strlen(s));
    return v;
}

/* Fetches or finds from var and returns the text (static), or NULL if it would block. */
static const char *
get(struct var *var, int remove, int64_t idx, uint64_t *index)
{
    static char    buf[64];
    struct var_got got;

    if (var_get(var, remove, 1, idx, NULL, &got) != VAR_OK)
        return NULL;
    snprintf(buf, sizeof(buf), "%.*s", (int)got.value->v_len, value_data(got.value));
    if (index != NULL)
        *index = got.index;
    value_unref(got.value);
    return buf;
}

static void
units_setup(void)
{
    memset(&srv, 0, sizeof(srv));
    srv.cfg.max_memory = 0;
    rec_clock = 0;
    ws_init();
}

static void
units_teardown(void)
{
    ws_shutdown();
    /* Every value made by a test was released: nothing is still counted. */
    ck_assert_uint_eq(srv.mem_used, 0);
}

START_TEST(htab_put_get_del_many)
{
    struct htab t;
    char        key[32];
    int         i;

    htab_init(&t);
    for (i = 0; i < 5000; i++) {
        snprintf(key, sizeof(key), "k%d", i);
        htab_put(&t, key, strlen(key), (void *)(intptr_t)(i + 1));
    }
    ck_assert_uint_eq(htab_count(&t), 5000);
    for (i = 0; i < 5000; i += 2) {
        snprintf(key, sizeof(key), "k%d", i);
        ck_assert_ptr_eq(htab_del(&t, key, strlen(key)), (void *)(intptr_t)(i + 1));
    }
    for (i = 0; i < 5000; i++) {
        snprintf(key, sizeof(key), "k%d", i);
        if (i % 2 == 0)
            ck_assert_ptr_null(htab_get(&t, key, strlen(key)));
        else
            ck_assert_ptr_eq(htab_get(&t, key, strlen(key)), (void *)(intptr_t)(i + 1));
    }
    /* Keys are bytes: embedded NULs and the empty key are distinct keys. */
    htab_put(&t, "a\0b", 3, (void *)1);
    htab_put(&t, "a", 1, (void *)2);
    htab_put(&t, "", 0, (void *)3);
    ck_assert_ptr_eq(htab_get(&t, "a\0b", 3), (void *)1);
    ck_assert_ptr_eq(htab_get(&t, "a", 1), (void *)2);
    ck_assert_ptr_eq(htab_get(&t, "", 0), (void *)3);
    htab_free(&t);
}
END_TEST

/*
 * The key order kept beside the slots: after random puts, replacements and
 * deletes, htab_nth walks exactly the sorted keys with their current values
 * and htab_rank agrees with it.
 */
START_TEST(htab_key_order)
{
    struct htab       t;
    struct htab_ent **v;
    size_t            n, i, len;
    const char       *k;
    void             *val;
    char              key[32];
    unsigned          x = 12345;
    int               j;

    htab_init(&t);
    for (j = 0; j < 20000; j++) {
        x = x * 1103515245u + 12345u;
        snprintf(key, sizeof(key), "k%u", (x >> 8) % 30000);
        if (j % 3 == 2)
            htab_del(&t, key, strlen(key));
        else
            htab_put(&t, key, strlen(key), (void *)(intptr_t)(j + 1));
    }
    htab_put(&t, "k", 1, (void *)1);
    htab_put(&t, "k\0", 2, (void *)2);
    v = htab_sorted(&t, &n);
    ck_assert_uint_eq(n, htab_count(&t));
    for (i = 0; i < n; i++) {
        k = htab_nth(&t, i, &len, &val);
        ck_assert_ptr_nonnull(k);
        ck_assert_uint_eq(len, v[i]->h_klen);
        ck_assert_int_eq(memcmp(k, v[i]->h_key, len), 0);
        ck_assert_ptr_eq(val, v[i]->h_val);
        ck_assert_uint_eq(htab_rank(&t, k, len, 0), i);
        ck_assert_uint_eq(htab_rank(&t, k, len, 1), i + 1);
    }
    ck_assert_ptr_null(htab_nth(&t, n, &len, &val));
    ck_assert_uint_eq(htab_rank(&t, "k", 1, 0), 0);         /* "k" sorts first */
    ck_assert_uint_eq(htab_rank(&t, "zzz", 3, 0), n);
    free(v);
    htab_free(&t);
}
END_TEST

START_TEST(htab_sorted_order)
{
    struct htab       t;
    struct htab_ent **v;
    size_t            n;

    htab_init(&t);
    htab_put(&t, "b", 1, (void *)1);
    htab_put(&t, "ab", 2, (void *)1);
    htab_put(&t, "a", 1, (void *)1);
    htab_put(&t, "B", 1, (void *)1);
    v = htab_sorted(&t, &n);
    ck_assert_uint_eq(n, 4);
    ck_assert_str_eq(v[0]->h_key, "B");
    ck_assert_str_eq(v[1]->h_key, "a");
    ck_assert_str_eq(v[2]->h_key, "ab");
    ck_assert_str_eq(v[3]->h_key, "b");
    free(v);
    htab_free(&t);
}
END_TEST

START_TEST(var_fifo_order_and_index)
{
    struct ws  *ws = ws_create("t", 1);
    struct var *var = ws_var(ws, "x", 1);
    const char *err;
    uint64_t    idx;

    ck_assert_int_eq(var->var_mode, VAR_UNKNOWN);
    ck_assert_int_eq(var_store(var, txt("a"), NULL, &err), 0);
    ck_assert_int_eq(var->var_mode, VAR_FIFO);
    var_store(var, txt("b"), NULL, &err);
    var_store(var, txt("c"), NULL, &err);
    ck_assert_str_eq(get(var, 0, -1, &idx), "a");
    ck_assert_uint_eq(idx, 0);
    ck_assert_str_eq(get(var, 0, 0, &idx), "b"); /* find after index 0 */
    ck_assert_uint_eq(idx, 1);
    ck_assert_ptr_null(get(var, 0, 2, NULL));   /* nothing after index 2 */
    ck_assert_str_eq(get(var, 1, -1, &idx), "a");
    ck_assert_uint_eq(idx, 0);
    ck_assert_str_eq(get(var, 0, -1, &idx), "b"); /* skips forward past the fetched one */
    ck_assert_uint_eq(idx, 1);
    ck_assert_uint_eq(var_nvalues(var), 2);
}
END_TEST

START_TEST(var_ifetch_only_at_beginning)
{
    struct ws     *ws = ws_create("t", 1);
    struct var    *var = ws_var(ws, "x", 1);
    struct var_got got;
    const char    *err;

    var_store(var, txt("a"), NULL, &err);
    ck_assert_int_eq(var_get(var, 1, 0, 0, NULL, &got), VAR_ERR);
    ck_assert_str_eq(got.error, "ifetch* only supported at beginning of FIFO");
}
END_TEST

START_TEST(var_lifo_and_multi)
{
    struct ws     *ws = ws_create("t", 1);
    struct var    *var = ws_var(ws, "x", 1);
    struct var_got got;
    const char    *err;
    uint64_t       idx = 9;

    ck_assert_int_eq(var_declare(var, "multi", 5), 0);
    var_store(var, txt("a"), NULL, &err);
    var_store(var, txt("b"), NULL, &err);
    ck_assert_str_eq(get(var, 0, -1, &idx), "b");
    ck_assert_uint_eq(idx, 0);
    ck_assert_str_eq(get(var, 1, -1, NULL), "b");
    ck_assert_str_eq(get(var, 1, -1, NULL), "a");
    ck_assert_ptr_null(get(var, 1, -1, NULL));
    var_store(var, txt("c"), NULL, &err);
    ck_assert_int_eq(var_get(var, 0, 0, 0, NULL, &got), VAR_ERR);
    ck_assert_str_eq(got.error, "ifind* not supported on LIFO");
}
END_TEST

START_TEST(var_single_replaces)
{
    struct ws  *ws = ws_create("t", 1);
    struct var *var = ws_var(ws, "x", 1);
    const char *err;
    uint64_t    idx;

    ck_assert_int_eq(var_declare(var, "single", 6), 0);
    var_store(var, txt("a"), NULL, &err);
    var_store(var, txt("b"), NULL, &err);
    ck_assert_uint_eq(var_nvalues(var), 1);
    ck_assert_str_eq(get(var, 0, -1, &idx), "b");
    ck_assert_uint_eq(idx, 1);
    ck_assert_ptr_null(get(var, 0, 1, NULL)); /* ifind: already seen index 1 */
    ck_assert_str_eq(get(var, 1, -1, &idx), "b");
    ck_assert_uint_eq(var_nvalues(var), 0);
}
END_TEST

START_TEST(var_declare_rules)
{
    struct ws  *ws = ws_create("t", 1);
    struct var *var = ws_var(ws, "x", 1);
    const char *err;

    ck_assert_int_eq(var_declare(var, "bogus", 5), -1);
    ck_assert_int_eq(var->var_mode, VAR_UNKNOWN);
    ck_assert_int_eq(var_declare(var, "lifo", 4), 0);
    ck_assert_int_eq(var_declare(var, "lifo", 4), 0);
    ck_assert_int_eq(var_declare(var, "fifo", 4), -1);
    var = ws_var(ws, "t", 1);
    ck_assert_int_eq(var_declare(var, "__time", 6), 0);
    ck_assert_int_eq(var_store(var, txt("a"), NULL, &err), -1);
    ck_assert_str_eq(err, "Store is not supported for this variable.");
    ck_assert_ptr_nonnull(get(var, 1, -1, NULL));
    ck_assert_uint_eq(var_nvalues(var), 1);
}
END_TEST

START_TEST(waiters_finders_then_oldest_fetcher)
{
    struct ws        *ws = ws_create("t", 1);
    struct var       *var = ws_var(ws, "x", 1);
    struct rec_waiter f1, f2, d1, d2;
    const char       *err;

    rec_init(&f1);
    rec_init(&f2);
    rec_init(&d1);
    rec_init(&d2);
    waiter_park(&d1.w, var, 1);
    waiter_park(&f1.w, var, 0);
    waiter_park(&d2.w, var, 1);
    waiter_park(&f2.w, var, 0);
    ck_assert_uint_eq(var->var_nfetchers, 2);
    ck_assert_uint_eq(var->var_nfinders, 2);
    var_store(var, txt("v1"), NULL, &err);
    /* Finders first in the order they came, then one fetcher: the oldest. */
    ck_assert_int_eq(f1.order, 1);
    ck_assert_int_eq(f2.order, 2);
    ck_assert_int_eq(d1.order, 3);
    ck_assert_int_eq(d2.order, 0);
    ck_assert_str_eq(d1.got, "v1");
    ck_assert_uint_eq(var_nvalues(var), 0); /* consumed by the fetcher */
    ck_assert_uint_eq(var->var_base, 1);
    var_store(var, txt("v2"), NULL, &err);
    ck_assert_str_eq(d2.got, "v2");
    ck_assert_uint_eq(d2.index, 1);
    var_store(var, txt("v3"), NULL, &err);
    ck_assert_uint_eq(var_nvalues(var), 1);
}
END_TEST

START_TEST(waiters_cancel_consumes_nothing)
{
    struct ws        *ws = ws_create("t", 1);
    struct var       *var = ws_var(ws, "x", 1);
    struct rec_waiter d1;
    const char       *err;

    rec_init(&d1);
    waiter_park(&d1.w, var, 1);
    waiter_cancel(&d1.w);
    ck_assert_uint_eq(var->var_nfetchers, 0);
    var_store(var, txt("v"), NULL, &err);
    ck_assert_int_eq(d1.order, 0);
    ck_assert_uint_eq(var_nvalues(var), 1);
}
END_TEST

START_TEST(waiters_purged_on_delete)
{
    struct ws        *ws = ws_create("t", 1);
    struct var       *var = ws_var(ws, "x", 1);
    struct rec_waiter d1, f1;

    rec_init(&d1);
    rec_init(&f1);
    waiter_park(&d1.w, var, 1);
    waiter_park(&f1.w, ws_var(ws, "y", 1), 0);
    ws_var_delete(ws, var);
    ck_assert_str_eq(d1.failed, "Variable purged.");
    ck_assert_int_eq(f1.order, 0);
    ws_destroy(ws);
    ck_assert_str_eq(f1.failed, "Variable purged.");
    ck_assert_ptr_null(ws_find("t", 1));
}
END_TEST

START_TEST(barrier_group)
{
    struct ws        *ws = ws_create("t", 1);
    struct var       *var = ws_var(ws, "b", 1);
    struct rec_waiter f1;
    struct var_got    got;
    const char       *err;
    int               m1, m2, m3;

    rec_init(&f1);
    var_declare(var, "__barrier", 9);
    ck_assert_int_eq(var_store(var, txt(""), &m1, &err), 0);
    ck_assert_int_eq(var_store(var, txt(""), &m1, &err), -1);
    var_store(var, txt(""), &m2, &err);
    var_store(var, txt(""), &m3, &err);
    ck_assert_uint_eq(var_nvalues(var), 3);
    ck_assert_int_eq(var_get(var, 0, 0, -1, &m1, &got), VAR_OK);
    ck_assert_int_eq(memcmp(value_data(got.value), "0 out of 3 at barrier", 21), 0);
    value_unref(got.value);
    /* m1 waits; m2 leaves; then m3's find releases everyone with the count. */
    ck_assert_int_eq(var_get(var, 0, 1, -1, &m1, &got), VAR_BLOCK);
    waiter_park(&f1.w, var, 0);
    ck_assert_int_eq(var_get(var, 1, 1, -1, &m2, &got), VAR_OK);
    value_unref(got.value);
    ck_assert_int_eq(f1.order, 0);
    ck_assert_int_eq(var_get(var, 0, 1, -1, &m3, &got), VAR_OK);
    ck_assert_int_eq(memcmp(value_data(got.value), "2", 1), 0);
    value_unref(got.value);
    ck_assert_str_eq(f1.got, "2");
    ck_assert_int_eq(var_get(var, 1, 1, -1, &m2, &got), VAR_ERR);
}
END_TEST

START_TEST(memory_limit_refuses)
{
    struct value *v;

    /* __default's name counts too: the budget is 4096 bytes on top of it. */
    srv.cfg.max_memory = srv.mem_used + 4096;
    v = value_new(1, NULL, 0, 1000);
    ck_assert_ptr_nonnull(v);
    ck_assert_ptr_null(value_new(1, NULL, 0, 4000));
    value_unref(v);
    v = value_new(1, NULL, 0, 4000);
    ck_assert_ptr_nonnull(v);
    value_unref(v);
    srv.cfg.max_memory = 0;
}
END_TEST

/* Formats tmpl with n and compares; want NULL means the template is refused. */
static void
check_mktemp(const char *tmpl, uint64_t n, const char *want)
{
    char *out = NULL;
    int   r = mktemp_format(tmpl, strlen(tmpl), n, &out);

    if (want == NULL) {
        ck_assert_msg(r == -1, "template %s accepted as %s", tmpl, out ? out : "");
        return;
    }
    ck_assert_msg(r == 0, "template %s refused", tmpl);
    ck_assert_str_eq(out, want);
    free(out);
}

START_TEST(mktemp_templates)
{
    check_mktemp("__ws__%d", 7, "__ws__7");
    check_mktemp("sleigh_ride_%04d", 2, "sleigh_ride_0002");
    check_mktemp("__Rws__%010d", 42, "__Rws__0000000042");
    check_mktemp("%x-%%", 255, "ff-%");
    check_mktemp("%X", 255, "FF");
    check_mktemp("%o", 8, "10");
    check_mktemp("a%5s", 12, "a   12");
    check_mktemp("%-4dz", 3, "3   z");
    check_mktemp("%i%%", 1, "1%");
    check_mktemp("%u", 9, "9");
    check_mktemp("%ld", 9, "9");
    check_mktemp("foo", 1, NULL);
    check_mktemp("%d%d", 1, NULL);
    check_mktemp("%q", 1, NULL);
    check_mktemp("%*d", 1, NULL);
    check_mktemp("%(x)d", 1, NULL);
    check_mktemp("%", 1, NULL);
    check_mktemp("%%", 1, NULL);
    check_mktemp("%99999d", 1, NULL);
    /* Found by the server fuzzer: a long run of flags overflowed the spec buffer. */
    check_mktemp("%#0- +#0- +#0- +#0- +#0- +#0- +#0- +#0- +d", 1, NULL);
    check_mktemp("%-+5d", 7, "+7   ");
    /* A NUL byte is neither a flag, a length modifier nor a conversion. */
    {
        char *out = NULL;

        ck_assert_int_eq(mktemp_format("a%\0d", 4, 1, &out), -1);
        ck_assert_int_eq(mktemp_format("a%d\0", 4, 1, &out), 0);
        free(out);
    }
}
END_TEST

NWSTEST_SUITE(server_units)
{
    Suite *s = suite_create("server_units");
    TCase *tc = tcase_create("htab");

    tcase_add_test(tc, htab_put_get_del_many);
    tcase_add_test(tc, htab_key_order);
    tcase_add_test(tc, htab_sorted_order);
    suite_add_tcase(s, tc);
    tc = tcase_create("var");
    tcase_add_checked_fixture(tc, units_setup, units_teardown);
    tcase_add_test(tc, var_fifo_order_and_index);
    tcase_add_test(tc, var_ifetch_only_at_beginning);
    tcase_add_test(tc, var_lifo_and_multi);
    tcase_add_test(tc, var_single_replaces);
    tcase_add_test(tc, var_declare_rules);
    tcase_add_test(tc, barrier_group);
    tcase_add_test(tc, memory_limit_refuses);
    suite_add_tcase(s, tc);
    tc = tcase_create("waiter");
    tcase_add_checked_fixture(tc, units_setup, units_teardown);
    tcase_add_test(tc, waiters_finders_then_oldest_fetcher);
    tcase_add_test(tc, waiters_cancel_consumes_nothing);
    tcase_add_test(tc, waiters_purged_on_delete);
    suite_add_tcase(s, tc);
    tc = tcase_create("mktemp");
    tcase_add_test(tc, mktemp_templates);
    suite_add_tcase(s, tc);
    return s;
}
