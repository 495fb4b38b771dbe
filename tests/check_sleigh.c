/*
 * check_sleigh.c -- the Sleigh API with a real nwsserver and real
 * nws-worker processes running build/modules/sleigh_test.so.
 *
 * Every test starts its own server and sleigh and ends by checking that
 * no process it started is left (children of the test in /proc, the
 * server aside).  Fault tolerance kills workers with SIGKILL during a
 * 10,000-element eachElem and checks every element's result arrives
 * exactly once with the right value.
 */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "nws.h"
#include "nws_json.h"
#include "nws_sleigh.h"
#include "nwstest.h"
#include "util.h"

static struct nwstest_server st_srv;
static char                  st_worker[512];
static char                  st_module[512];

/* ---- helpers ---------------------------------------------------------------- */

/* Live children of this test process. */
static int
st_children(pid_t *pids, int max)
{
    return nwstest_children(getpid(), st_srv.pid, pids, max, 1);
}

/* 1 if pid is gone (or a zombie nobody reaped yet). */
static int
st_gone(pid_t pid)
{
    char  path[64], buf[512], *p, state = 'X';
    FILE *fp;

    snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
    if ((fp = fopen(path, "r")) == NULL)
        return 1;
    if (fgets(buf, sizeof(buf), fp) != NULL && (p = strrchr(buf, ')')) != NULL)
        sscanf(p + 1, " %c", &state);
    fclose(fp);
    return state == 'Z' || state == 'X';
}

static void
st_setup(void)
{
    const char *dir = getenv("NWS_MODULES_DIR");

    ck_assert_int_eq(nwstest_server_start(&st_srv, NULL), 0);
    nwstest_bin("nws-worker", st_worker, sizeof(st_worker));
    snprintf(st_module, sizeof(st_module), "%s/sleigh_test.so",
             dir != NULL ? dir : "build/modules");
}

static void
st_teardown(void)
{
    pid_t pids[16];
    int   n = st_children(pids, 16);

    nwstest_server_stop(&st_srv);
    ck_assert_msg(n == 0, "%d processes left behind (first: %ld)", n, (long)pids[0]);
}

/* Options for a sleigh of n local workers on the test server. */
static void
st_options(nws_sleigh_options *o, int n)
{
    nws_sleigh_options_init(o);
    o->host = "127.0.0.1";
    o->port = st_srv.port;
    o->workers = n;
    o->worker_path = st_worker;
    o->verbose = getenv("NWSTEST_VERBOSE") != NULL;
}

/* A sleigh of n workers; fails the test if it cannot be made. */
static nws_sleigh *
st_sleigh(int n, unsigned flags, int retries)
{
    nws_sleigh_options o;
    nws_error          err;
    nws_sleigh        *s;

    st_options(&o, n);
    o.flags = flags;
    o.retries = retries;
    s = nws_sleigh_new(&o, &err);
    ck_assert_msg(s != NULL, "nws_sleigh_new: %s", err.text);
    return s;
}

/* The call task fn of the test module (new reference). */
static json_t *
st_task(const char *fn)
{
    json_t *t = nws_sleigh_call(st_module, fn);

    ck_assert_ptr_nonnull(t);
    return t;
}

/* JSON text as a new reference; fails the test if it does not parse. */
static json_t *
st_json(const char *text)
{
    json_error_t jerr;
    json_t      *j = json_loads(text, JSON_DECODE_ANY, &jerr);

    ck_assert_msg(j != NULL, "bad JSON in the test: %s", jerr.text);
    return j;
}

/* [[0, 1, ..., n-1]] (new reference). */
static json_t *
st_range(long n)
{
    json_t *v = json_array();
    long    i;

    for (i = 0; i < n; i++)
        json_array_append_new(v, json_integer(i));
    return json_pack("[o]", v);
}

/* Checks that r holds i^3 at every i of n. */
static void
st_check_cubes(const json_t *r, long n)
{
    long i;

    ck_assert_msg(json_is_array(r), "not an array");
    ck_assert_int_eq(json_array_size(r), n);
    for (i = 0; i < n; i++)
        ck_assert_msg(json_integer_value(json_array_get(r, (size_t)i)) == i * i * i,
                      "r[%ld] = %s", i,
                      json_dumps(json_array_get(r, (size_t)i), JSON_ENCODE_ANY));
}

/* ---- basic eachElem ------------------------------------------------------------ */

START_TEST(each_elem_order)
{
    nws_sleigh *s = st_sleigh(2, 0, -1);
    json_t     *task = st_task("cube"), *args = st_range(100), *r;
    nws_error   err;

    r = nws_sleigh_each_elem(s, task, args, NULL, NULL, &err);
    ck_assert_msg(r != NULL, "each_elem: %s", err.text);
    st_check_cubes(r, 100);
    ck_assert_int_eq(json_integer_value(json_array_get(r, 2)), 8);
    ck_assert_int_eq(json_integer_value(json_array_get(r, 4)), 64);
    json_decref(r);

    /* An empty vector: no elements, an empty result. */
    json_decref(args);
    args = st_json("[[]]");
    r = nws_sleigh_each_elem(s, task, args, NULL, NULL, &err);
    ck_assert_msg(r != NULL && json_array_size(r) == 0, "empty: %s", err.text);
    json_decref(r);

    /* Bad arguments fail the call, not an element. */
    json_decref(args);
    args = st_json("[[1, 2], [3]]");
    ck_assert_ptr_null(nws_sleigh_each_elem(s, task, args, NULL, NULL, &err));
    ck_assert_int_eq(err.code, NWS_ERR_INVALID);
    json_decref(args);
    /* Fixed arguments that are not an array are refused, not dropped. */
    args = st_json("[[1, 2]]");
    {
        json_t *five = json_integer(5);

        memset(&err, 0, sizeof(err));
        r = nws_sleigh_each_elem(s, task, args, five, NULL, &err);
        ck_assert_msg(r == NULL && err.code == NWS_ERR_INVALID &&
                          strstr(err.text, "fixed") != NULL,
                      "fixed argument 5: %s", r ? "accepted" : err.text);
        json_decref(five);
    }
    json_decref(args);
    args = st_json("[1, 2]");
    ck_assert_ptr_null(nws_sleigh_each_elem(s, task, args, NULL, NULL, &err));
    ck_assert_int_eq(err.code, NWS_ERR_INVALID);
    json_decref(task);
    task = st_json("{\"kind\": \"nope\"}");
    ck_assert_ptr_null(nws_sleigh_each_elem(s, task, args, NULL, NULL, &err));
    ck_assert_int_eq(err.code, NWS_ERR_INVALID);
    json_decref(args);
    json_decref(task);
    ck_assert_int_eq(nws_sleigh_stop(s, &err), 0);
    nws_sleigh_free(s);
}
END_TEST

START_TEST(fixed_args_and_permute)
{
    nws_sleigh          *s = st_sleigh(2, 0, -1);
    json_t              *task = st_task("echo"), *r, *want;
    json_t *args = st_json("[[1, 2, 3], [11, 12, 13]]"), *fixed = st_json("[99]");
    json_t              *perm = st_json("[2, 0, 1]");
    nws_sleigh_elem_opts eo;
    nws_error            err;

    r = nws_sleigh_each_elem(s, task, args, fixed, NULL, &err);
    ck_assert_msg(r != NULL, "each_elem: %s", err.text);
    want = st_json("[[1, 11, 99], [2, 12, 99], [3, 13, 99]]");
    ck_assert_msg(json_equal(r, want), "got %s", json_dumps(r, 0));
    json_decref(r);
    json_decref(want);

    memset(&eo, 0, sizeof(eo));
    eo.arg_permute = perm;
    r = nws_sleigh_each_elem(s, task, args, fixed, &eo, &err);
    ck_assert_msg(r != NULL, "each_elem: %s", err.text);
    want = st_json("[[99, 1, 11], [99, 2, 12], [99, 3, 13]]");
    ck_assert_msg(json_equal(r, want), "got %s", json_dumps(r, 0));
    json_decref(r);
    json_decref(want);

    /* Elements of one chunk, the function keeping its argument list each time
     * (the worker reuses the list between elements only when nobody holds it). */
    json_decref(task);
    task = st_task("same");
    memset(&eo, 0, sizeof(eo));
    eo.chunk = 3;
    r = nws_sleigh_each_elem(s, task, args, NULL, &eo, &err);
    want = st_json("[[1, 11], [2, 12], [3, 13]]");
    ck_assert_msg(r != NULL && json_equal(r, want), "same: %s", r ? json_dumps(r, 0) : err.text);
    json_decref(r);
    json_decref(want);

    /* add(a, b, fixed) with chunks of two. */
    json_decref(task);
    task = st_task("add");
    eo.arg_permute = NULL;
    eo.chunk = 2;
    r = nws_sleigh_each_elem(s, task, args, fixed, &eo, &err);
    want = st_json("[111, 113, 115]");
    ck_assert_msg(r != NULL && json_equal(r, want), "add: %s", err.text);
    json_decref(r);
    json_decref(want);

    /* A permutation past the arguments is refused up front. */
    json_decref(perm);
    perm = st_json("[3]");
    eo.arg_permute = perm;
    ck_assert_ptr_null(nws_sleigh_each_elem(s, task, args, fixed, &eo, &err));
    ck_assert_int_eq(err.code, NWS_ERR_INVALID);

    json_decref(perm);
    json_decref(fixed);
    json_decref(args);
    json_decref(task);
    nws_sleigh_free(s);
}
END_TEST

/* Accumulator state: how often each index was seen and the values. */
struct st_acc {
    long    n;
    int    *seen;
    long    calls, errors, bad_values;
    double  seconds;
    int     max_rank;
};

static void
st_accumulate(const nws_sleigh_result *r, void *arg)
{
    struct st_acc *a = arg;
    long           i = (long)r->index;

    a->calls++;
    if (i < 0 || i >= a->n) {
        a->bad_values++;
        return;
    }
    a->seen[i]++;
    if (r->error != NULL)
        a->errors++;
    else if (json_integer_value(r->value) != i * i * i)
        a->bad_values++;
    if (r->rank > a->max_rank)
        a->max_rank = r->rank;
    a->seconds += r->seconds;
}

static void
st_acc_init(struct st_acc *a, long n)
{
    memset(a, 0, sizeof(*a));
    a->n = n;
    a->seen = calloc((size_t)n, sizeof(int));
    a->max_rank = -1;
}

/* Every index seen exactly once, all values right. */
static void
st_acc_check(const struct st_acc *a)
{
    long i;

    for (i = 0; i < a->n; i++)
        ck_assert_msg(a->seen[i] == 1, "element %ld seen %d times", i, a->seen[i]);
    ck_assert_int_eq(a->calls, a->n);
    ck_assert_int_eq(a->bad_values, 0);
    ck_assert_int_eq(a->errors, 0);
}

/*
 * Short tasks make workers take several per round trip; when long ones
 * follow, no worker may sit on them while the other is idle: of 8 tasks of
 * 150 ms after 300 instant ones, each of the 2 workers runs at least 2
 * (hoarded, one worker ran 7 or 8).  The time is printed, not judged.
 */
START_TEST(long_tasks_after_short_ones_are_shared)
{
    nws_sleigh *s = st_sleigh(2, 0, -1);
    json_t     *task = st_task("sleep_rank"), *ms = json_array(), *args, *r;
    nws_error   err;
    double      t0;
    int         i, round, by[2];

    for (i = 0; i < 308; i++)
        json_array_append_new(ms, json_integer(i < 300 ? 0 : 150));
    args = json_pack("[o]", ms);
    for (round = 0; round < 2; round++) {
        t0 = nwsp_mono();
        r = nws_sleigh_each_elem(s, task, args, NULL, NULL, &err);
        ck_assert_msg(r != NULL, "each_elem: %s", err.text);
        ck_assert_uint_eq(json_array_size(r), 308);
        by[0] = by[1] = 0;
        for (i = 300; i < 308; i++) {
            json_int_t rank = json_integer_value(json_array_get(r, (size_t)i));

            ck_assert_msg(rank == 0 || rank == 1, "element %d: rank %lld", i, (long long)rank);
            by[rank]++;
        }
        json_decref(r);
        printf("long_tasks_after_short_ones_are_shared: round %d, %.2f s, long tasks "
               "%d/%d\n",
               round, nwsp_mono() - t0, by[0], by[1]);
        ck_assert_msg(by[0] >= 2 && by[1] >= 2,
                      "round %d: long tasks ran %d and %d per worker: hoarded", round, by[0],
                      by[1]);
    }
    json_decref(args);
    json_decref(task);
    nws_sleigh_free(s);
}
END_TEST

START_TEST(chunking_and_accumulator)
{
    nws_sleigh          *s = st_sleigh(2, 0, -1);
    json_t              *task = st_task("cube"), *args = st_range(1000), *r;
    nws_sleigh_elem_opts eo;
    nws_sleigh_progress  pr;
    nws_sleigh_pending  *p;
    struct st_acc        acc;
    nws_error            err;

    st_acc_init(&acc, 1000);
    memset(&eo, 0, sizeof(eo));
    eo.chunk = 7;
    eo.accumulate = st_accumulate;
    eo.accum_arg = &acc;
    p = nws_sleigh_each_elem_async(s, task, args, NULL, &eo, &err);
    ck_assert_msg(p != NULL, "async: %s", err.text);
    r = nws_sleigh_pending_wait(p, &err);
    ck_assert_msg(r != NULL, "wait: %s", err.text);
    st_check_cubes(r, 1000);
    st_acc_check(&acc);
    ck_assert_int_ge(acc.max_rank, 0);
    ck_assert_int_eq(nws_sleigh_pending_progress(p, &pr, &err), 0);
    ck_assert_int_eq(pr.elements, 1000);
    ck_assert_int_eq(pr.tasks, 143); /* ceil(1000 / 7) */
    ck_assert_int_eq(pr.submitted, 143);
    ck_assert_int_eq(pr.done, 143);
    ck_assert_int_eq(pr.queued + pr.running, 0);
    ck_assert_int_eq(pr.collected, 1000);
    ck_assert_int_eq(pr.duplicates, 0);
    ck_assert_int_eq(nws_sleigh_pending_check(p, &err), 0);
    json_decref(r);
    nws_sleigh_pending_free(p);
    free(acc.seen);

    /* DISCARD: the accumulator alone sees the results; load factor 1. */
    st_acc_init(&acc, 1000);
    eo.chunk = 3;
    eo.load_factor = 1;
    eo.flags = NWS_SLEIGH_DISCARD;
    r = nws_sleigh_each_elem(s, task, args, NULL, &eo, &err);
    ck_assert_msg(r != NULL && json_array_size(r) == 0, "discard: %s", err.text);
    st_acc_check(&acc);
    json_decref(r);
    free(acc.seen);

    json_decref(args);
    json_decref(task);
    nws_sleigh_free(s);
}
END_TEST

/* ---- pending batches ------------------------------------------------------------ */

START_TEST(pending_check_wait)
{
    nws_sleigh         *s = st_sleigh(2, 0, -1);
    json_t             *task = st_task("sleep_ms"), *r;
    json_t *args = st_json("[[100, 100, 100, 100, 100, 100], [0, 1, 2, 3, 4, 5]]");
    nws_sleigh_pending *p;
    nws_sleigh_progress pr;
    nws_sleigh_result   res;
    nws_error           err;
    long                left;
    int                 i, got = 0, rc;

    p = nws_sleigh_each_elem_async(s, task, args, NULL, NULL, &err);
    ck_assert_msg(p != NULL, "async: %s", err.text);
    ck_assert_ptr_nonnull(nws_sleigh_pending_id(p));
    left = nws_sleigh_pending_check(p, &err);
    ck_assert_msg(left > 0 && left <= 6, "check: %ld (%s)", left, err.text);
    ck_assert_int_eq(nws_sleigh_pending_progress(p, &pr, &err), 0);
    ck_assert_int_eq(pr.elements, 6);
    ck_assert_int_eq(pr.submitted, 6);
    ck_assert_int_le(pr.running, 2);
    ck_assert_int_eq(pr.collected, 0);
    /* Nothing can be done within 0 ms... */
    ck_assert_int_eq(nws_sleigh_pending_next(p, &res, 0, &err), NWS_SLEIGH_TIMEOUT);
    /* ...but results arrive as they are done. */
    for (i = 0; i < 100 && got < 2; i++) {
        rc = nws_sleigh_pending_next(p, &res, 50, &err);
        ck_assert_msg(rc == 1 || rc == NWS_SLEIGH_TIMEOUT, "next: %d %s", rc, err.text);
        if (rc == 1) {
            ck_assert_int_eq(json_integer_value(res.value), (json_int_t)res.index);
            ck_assert_ptr_null(res.error);
            got++;
        }
    }
    ck_assert_int_eq(got, 2);
    r = nws_sleigh_pending_wait(p, &err);
    ck_assert_msg(r != NULL, "wait: %s", err.text);
    ck_assert_msg(json_equal(r, json_array_get(args, 1)), "got %s", json_dumps(r, 0));
    ck_assert_int_eq(nws_sleigh_pending_check(p, &err), 0);
    ck_assert_int_eq(nws_sleigh_pending_next(p, &res, -1, &err), 0);
    json_decref(r);
    nws_sleigh_pending_free(p);
    json_decref(args);
    json_decref(task);
    nws_sleigh_free(s);
}
END_TEST

START_TEST(two_pending_at_once)
{
    nws_sleigh         *s = st_sleigh(2, 0, -1);
    json_t             *cube = st_task("cube"), *echo = st_task("echo");
    json_t *a1 = st_range(300), *a2 = st_json("[[\"x\", \"y\", \"z\"]]"), *r1, *r2;
    nws_sleigh_pending *p1, *p2;
    nws_sleigh_result   res;
    nws_error           err;
    int                 rc1 = 1, rc2 = 1, n1 = 0, n2 = 0, guard = 0;

    p1 = nws_sleigh_each_elem_async(s, cube, a1, NULL, NULL, &err);
    ck_assert_msg(p1 != NULL, "p1: %s", err.text);
    p2 = nws_sleigh_each_elem_async(s, echo, a2, NULL, NULL, &err);
    ck_assert_msg(p2 != NULL, "p2: %s", err.text);
    ck_assert_str_ne(nws_sleigh_pending_id(p1), nws_sleigh_pending_id(p2));
    /* Interleave: each batch sees only its own results. */
    while ((rc1 != 0 || rc2 != 0) && guard++ < 100000) {
        if (rc1 != 0) {
            rc1 = nws_sleigh_pending_next(p1, &res, 10, &err);
            ck_assert_msg(rc1 >= 0, "p1 next: %s", err.text);
            if (rc1 == 1) {
                ck_assert_int_eq(json_integer_value(res.value),
                                 (json_int_t)(res.index * res.index * res.index));
                n1++;
            }
        }
        if (rc2 != 0) {
            rc2 = nws_sleigh_pending_next(p2, &res, 10, &err);
            ck_assert_msg(rc2 >= 0, "p2 next: %s", err.text);
            if (rc2 == 1) {
                ck_assert(json_is_array(res.value));
                n2++;
            }
        }
    }
    ck_assert_int_eq(n1, 300);
    ck_assert_int_eq(n2, 3);
    r1 = nws_sleigh_pending_wait(p1, &err);
    r2 = nws_sleigh_pending_wait(p2, &err);
    st_check_cubes(r1, 300);
    ck_assert_str_eq(json_string_value(json_array_get(json_array_get(r2, 2), 0)), "z");
    json_decref(r1);
    json_decref(r2);
    nws_sleigh_pending_free(p1);
    nws_sleigh_pending_free(p2);
    json_decref(a1);
    json_decref(a2);
    json_decref(cube);
    json_decref(echo);
    nws_sleigh_free(s);
}
END_TEST

START_TEST(streaming_push)
{
    nws_sleigh          *s = st_sleigh(2, 0, -1);
    json_t              *task = st_task("cube"), *r, *one;
    nws_sleigh_elem_opts eo;
    nws_sleigh_pending  *p;
    nws_sleigh_result    res;
    nws_error            err;
    int                  i;

    memset(&eo, 0, sizeof(eo));
    eo.chunk = 4;
    p = nws_sleigh_each_elem_async(s, task, NULL, NULL, &eo, &err);
    ck_assert_msg(p != NULL, "async: %s", err.text);
    /* Nothing outstanding yet: next says so at once instead of waiting. */
    ck_assert_int_eq(nws_sleigh_pending_next(p, &res, -1, &err), NWS_SLEIGH_TIMEOUT);
    ck_assert_ptr_null(nws_sleigh_pending_wait(p, &err));
    /* A partial chunk goes out once nothing else is outstanding. */
    for (i = 0; i < 2; i++) {
        one = json_pack("[i]", i);
        ck_assert_int_eq(nws_sleigh_pending_push(p, one, &err), 0);
        json_decref(one);
    }
    for (i = 0; i < 2; i++) {
        ck_assert_int_eq(nws_sleigh_pending_next(p, &res, 10000, &err), 1);
        ck_assert_int_eq(json_integer_value(res.value),
                         (json_int_t)(res.index * res.index * res.index));
    }
    for (i = 2; i < 50; i++) {
        one = json_pack("[i]", i);
        ck_assert_int_eq(nws_sleigh_pending_push(p, one, &err), 0);
        json_decref(one);
    }
    ck_assert_int_eq(nws_sleigh_pending_end(p, &err), 0);
    one = json_pack("[i]", 50);
    ck_assert_int_eq(nws_sleigh_pending_push(p, one, &err), -1);
    json_decref(one);
    r = nws_sleigh_pending_wait(p, &err);
    ck_assert_msg(r != NULL, "wait: %s", err.text);
    st_check_cubes(r, 50);
    json_decref(r);
    nws_sleigh_pending_free(p);
    json_decref(task);
    nws_sleigh_free(s);
}
END_TEST

START_TEST(reattach_from_another_process)
{
    nws_sleigh         *s = st_sleigh(2, 0, -1);
    json_t             *task = st_task("cube"), *args = st_range(200);
    nws_sleigh_pending *p;
    nws_error           err;
    char                ws[128], id[64];
    pid_t               pid;
    int                 st;

    p = nws_sleigh_each_elem_async(s, task, args, NULL, NULL, &err);
    ck_assert_msg(p != NULL, "async: %s", err.text);
    snprintf(ws, sizeof(ws), "%s", nws_sleigh_ws_name(s));
    snprintf(id, sizeof(id), "%s", nws_sleigh_pending_id(p));
    pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        /* Another master: attach by name, collect the batch by id. */
        nws_sleigh_options  o;
        nws_sleigh         *s2;
        nws_sleigh_pending *p2;
        json_t             *r;
        long                i;
        int                 ok;

        st_options(&o, 0);
        if ((s2 = nws_sleigh_attach(ws, &o, &err)) == NULL)
            _exit(10);
        if ((p2 = nws_sleigh_pending_attach(s2, id, 0, &err)) == NULL)
            _exit(11);
        if ((r = nws_sleigh_pending_wait(p2, &err)) == NULL)
            _exit(12);
        ok = json_array_size(r) == 200;
        for (i = 0; ok && i < 200; i++)
            ok = json_integer_value(json_array_get(r, (size_t)i)) == i * i * i;
        _exit(ok ? 0 : 13);
    }
    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child status %d", st);
    /* The results went to the other process; an unknown batch is refused. */
    ck_assert_ptr_null(nws_sleigh_pending_attach(s, "no-such-batch", 0, &err));
    nws_sleigh_pending_free(p);
    json_decref(args);
    json_decref(task);
    nws_sleigh_free(s);
}
END_TEST

START_TEST(reattach_after_restart)
{
    nws_sleigh         *s = st_sleigh(2, NWS_SLEIGH_PERSISTENT, -1);
    json_t             *task = st_task("sleep_ms"), *args, *r;
    nws_sleigh_options  o;
    nws_sleigh_pending *p;
    nws_error           err;
    char                ws[128], id[64];
    long                i;

    /* 12 tasks of 50 ms on 2 workers: the master goes away half way. */
    args = st_json("[[50, 50, 50, 50, 50, 50, 50, 50, 50, 50, 50, 50],"
                   " [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]]");
    p = nws_sleigh_each_elem_async(s, task, args, NULL, NULL, &err);
    ck_assert_msg(p != NULL, "async: %s", err.text);
    snprintf(ws, sizeof(ws), "%s", nws_sleigh_ws_name(s));
    snprintf(id, sizeof(id), "%s", nws_sleigh_pending_id(p));
    nwsp_sleep_ms(120);
    nws_sleigh_pending_free(p);
    nws_sleigh_free(s); /* persistent: the workspace and the batch stay */
    ck_assert_int_eq(st_children(NULL, 0), 0);

    /* "After a restart": attach with new workers and collect the whole batch. */
    st_options(&o, 2);
    s = nws_sleigh_attach(ws, &o, &err);
    ck_assert_msg(s != NULL, "attach: %s", err.text);
    p = nws_sleigh_pending_attach(s, id, 0, &err);
    ck_assert_msg(p != NULL, "pending_attach: %s", err.text);
    r = nws_sleigh_pending_wait(p, &err);
    ck_assert_msg(r != NULL, "wait: %s", err.text);
    ck_assert_int_eq(json_array_size(r), 12);
    for (i = 0; i < 12; i++)
        ck_assert_msg(json_integer_value(json_array_get(r, (size_t)i)) == i,
                      "r[%ld] = %s", i,
                      json_dumps(json_array_get(r, (size_t)i), JSON_ENCODE_ANY));
    json_decref(r);
    nws_sleigh_pending_free(p);
    ck_assert_int_eq(nws_sleigh_stop(s, &err), 0); /* an attached sleigh can end it too */
    nws_sleigh_free(s);
    json_decref(args);
    json_decref(task);
}
END_TEST

/* ---- eachWorker ----------------------------------------------------------------- */

START_TEST(each_worker_state)
{
    nws_sleigh *s = st_sleigh(2, 0, -1);
    json_t     *set = st_task("set_state"), *get = st_task("get_state");
    json_t     *who = st_task("whoami"), *args = st_range(20), *r, *st, *x;
    nws_error   err;
    size_t      i;

    /* Before any state: every element fails (an error object per element). */
    r = nws_sleigh_each_elem(s, get, args, NULL, NULL, &err);
    ck_assert_msg(r != NULL, "each_elem: %s", err.text);
    ck_assert_ptr_nonnull(nws_sleigh_error(json_array_get(r, 0)));
    json_decref(r);

    st = json_pack("[s]", "S");
    r = nws_sleigh_each_worker(s, set, st, &err);
    ck_assert_msg(r != NULL, "each_worker: %s", err.text);
    ck_assert_int_eq(json_array_size(r), 2);
    /* Rank order: the value is the rank. */
    ck_assert_int_lt(json_integer_value(json_array_get(r, 0)),
                     json_integer_value(json_array_get(r, 1)));
    json_decref(r);

    r = nws_sleigh_each_elem(s, get, args, NULL, NULL, &err);
    ck_assert_msg(r != NULL, "each_elem: %s", err.text);
    json_array_foreach(r, i, x)
    {
        ck_assert_msg(nws_sleigh_error(x) == NULL, "element %zu: %s", i,
                      nws_sleigh_error(x));
        ck_assert_str_eq(json_string_value(json_array_get(x, 0)), "S");
        ck_assert_int_eq(json_integer_value(json_array_get(x, 1)), (json_int_t)i);
    }
    json_decref(r);

    /* What a task knows: rank, worker count, index (-1 for eachWorker), batch, ws. */
    r = nws_sleigh_each_worker(s, who, NULL, &err);
    ck_assert_msg(r != NULL && json_array_size(r) == 2, "whoami: %s", err.text);
    x = json_array_get(r, 0);
    ck_assert_int_eq(json_integer_value(json_object_get(x, "workers")), 2);
    ck_assert_int_eq(json_integer_value(json_object_get(x, "index")), -1);
    ck_assert_str_eq(json_string_value(json_object_get(x, "ws")), nws_sleigh_ws_name(s));
    json_decref(r);

    json_decref(st);
    json_decref(args);
    json_decref(set);
    json_decref(get);
    json_decref(who);
    nws_sleigh_free(s);
}
END_TEST

START_TEST(status_and_workspace_data)
{
    nws_sleigh     *s = st_sleigh(2, 0, -1);
    json_t         *peek = st_task("peek"), *args = st_json("[[\"shared\"]]"), *r;
    nws_sleigh_info info;
    nws_error       err;

    ck_assert_int_eq(nws_sleigh_status(s, &info, &err), 0);
    ck_assert_int_eq(info.workers, 2);
    ck_assert_int_eq(info.closed, 0);
    ck_assert_int_eq(info.launched, 2);
    ck_assert_int_eq(info.running, 2);
    ck_assert_int_eq(nws_sleigh_wait_workers(s, 2, 1, &err), 2);

    /* Data the master stores in the sleigh workspace, read by a task. */
    ck_assert_int_eq(nws_store_string(nws_sleigh_ws(s), "shared", "hello", &err), 0);
    r = nws_sleigh_each_elem(s, peek, args, NULL, NULL, &err);
    ck_assert_msg(r != NULL, "each_elem: %s", err.text);
    ck_assert_str_eq(json_string_value(json_array_get(r, 0)), "hello");
    json_decref(r);

    ck_assert_int_eq(nws_sleigh_close_group(s, &err), 0);
    ck_assert_int_eq(nws_sleigh_status(s, &info, &err), 0);
    ck_assert_int_eq(info.closed, 1);
    json_decref(args);
    json_decref(peek);
    ck_assert_int_eq(nws_sleigh_stop(s, &err), 0);
    ck_assert_int_eq(nws_sleigh_stop(s, &err), 0); /* twice is fine */
    ck_assert_int_eq(nws_sleigh_status(s, &info, &err), -1); /* the workspace is gone */
    nws_sleigh_free(s);
}
END_TEST

/* ---- errors and crashes ---------------------------------------------------------- */

START_TEST(task_errors)
{
    nws_sleigh *s = st_sleigh(2, 0, -1);
    json_t     *task = st_task("fail_if"), *args = st_range(10), *fixed = st_json("[3]");
    json_t     *r, *x;
    const char *e;
    nws_error   err;
    size_t      i;

    r = nws_sleigh_each_elem(s, task, args, fixed, NULL, &err);
    ck_assert_msg(r != NULL, "each_elem: %s", err.text);
    json_array_foreach(r, i, x)
    {
        e = nws_sleigh_error(x);
        if (i == 3) {
            ck_assert_msg(e != NULL && strstr(e, "element 3: 3 is bad") != NULL, "e=%s",
                          e);
            ck_assert_int_ge(json_integer_value(json_object_get(x, "rank")), 0);
        } else {
            ck_assert_msg(e == NULL, "element %zu: %s", i, e);
            ck_assert_int_eq(json_integer_value(x), (json_int_t)i);
        }
    }
    json_decref(r);
    json_decref(task);

    /* NULL without a reason, a missing function, a missing module. */
    task = st_task("returns_null");
    r = nws_sleigh_each_elem(s, task, args, NULL, NULL, &err);
    ck_assert_str_eq(nws_sleigh_error(json_array_get(r, 9)),
                     "the function returned NULL");
    json_decref(r);
    json_decref(task);
    task = st_task("no_such_function");
    r = nws_sleigh_each_elem(s, task, args, NULL, NULL, &err);
    e = nws_sleigh_error(json_array_get(r, 5));
    ck_assert_msg(e != NULL && strstr(e, "no function no_such_function") != NULL, "%s",
                  e);
    json_decref(r);
    json_decref(task);
    task = nws_sleigh_call("/nonexistent/mod.so", "f");
    r = nws_sleigh_each_elem(s, task, args, NULL, NULL, &err);
    e = nws_sleigh_error(json_array_get(r, 0));
    ck_assert_msg(e != NULL && strstr(e, "cannot load module") != NULL, "%s", e);
    json_decref(r);
    json_decref(task);

    json_decref(fixed);
    json_decref(args);
    nws_sleigh_free(s);
}
END_TEST

START_TEST(task_crashes)
{
    nws_sleigh     *s = st_sleigh(2, 0, 2);
    json_t *task = st_task("crash_if"), *args = st_range(20), *fixed = st_json("[4]");
    json_t         *r, *x;
    nws_sleigh_info info;
    nws_error       err;
    const char     *e;
    size_t          i;

    r = nws_sleigh_each_elem(s, task, args, fixed, NULL, &err);
    ck_assert_msg(r != NULL, "each_elem: %s", err.text);
    json_array_foreach(r, i, x)
    {
        e = nws_sleigh_error(x);
        if (i == 4)
            ck_assert_msg(e != NULL && strstr(e, "killed by SIGSEGV") != NULL, "e=%s", e);
        else
            ck_assert_msg(e == NULL && json_integer_value(x) == (json_int_t)i,
                          "element %zu: %s", i, e);
    }
    json_decref(r);
    /* One death (a crash the worker reports is not retried): it was replaced. */
    ck_assert_int_eq(nws_sleigh_wait_workers(s, 2, 10, &err), 2);
    ck_assert_int_eq(nws_sleigh_status(s, &info, &err), 0);
    ck_assert_int_ge(info.restarts, 1);
    ck_assert_int_eq(info.running, 2);

    /* And the sleigh still works. */
    json_decref(task);
    task = st_task("cube");
    r = nws_sleigh_each_elem(s, task, args, NULL, NULL, &err);
    st_check_cubes(r, 20);
    json_decref(r);
    json_decref(fixed);
    json_decref(args);
    json_decref(task);
    nws_sleigh_free(s);
}
END_TEST

/* ---- fault tolerance -------------------------------------------------------------- */

START_TEST(kill_workers_during_each_elem)
{
    nws_sleigh          *s = st_sleigh(2, 0, 1000);
    json_t              *task = st_task("cube"), *args = st_range(10000), *r;
    nws_sleigh_elem_opts eo;
    nws_sleigh_pending  *p;
    nws_sleigh_result    res;
    nws_sleigh_progress  pr;
    nws_sleigh_info      info;
    struct st_acc        acc;
    nws_error            err;
    pid_t                pids[16];
    int                  rc, kills = 0, n, *seen = calloc(10000, sizeof(int));
    double               next_kill = nwsp_mono() + 0.01, t0 = nwsp_mono();
    long                 i;

    srand((unsigned)getpid());
    st_acc_init(&acc, 10000);
    memset(&eo, 0, sizeof(eo));
    eo.chunk = 2;
    eo.accumulate = st_accumulate;
    eo.accum_arg = &acc;
    p = nws_sleigh_each_elem_async(s, task, args, NULL, &eo, &err);
    ck_assert_msg(p != NULL, "async: %s", err.text);
    for (;;) {
        rc = nws_sleigh_pending_next(p, &res, 5, &err);
        ck_assert_msg(rc >= 0, "next: %s", err.text);
        if (rc == 0)
            break;
        if (rc == 1)
            seen[res.index]++;
        if (nwsp_mono() >= next_kill && kills < 12) {
            n = st_children(pids, 16);
            if (n > 0) {
                kill(pids[rand() % (n < 16 ? n : 16)], SIGKILL);
                kills++;
            }
            next_kill = nwsp_mono() + 0.01;
        }
        ck_assert_msg(nwsp_mono() - t0 < 50, "no progress");
    }
    st_acc_check(&acc);
    for (i = 0; i < 10000; i++)
        ck_assert_msg(seen[i] == 1, "next gave element %ld %d times", i, seen[i]);
    r = nws_sleigh_pending_wait(p, &err);
    st_check_cubes(r, 10000);
    ck_assert_int_eq(nws_sleigh_pending_progress(p, &pr, &err), 0);
    ck_assert_int_eq(pr.duplicates, 0);
    ck_assert_int_eq(pr.errors, 0);
    ck_assert_int_eq(pr.done, 5000);
    ck_assert_msg(kills >= 3, "only %d kills happened", kills);
    ck_assert_int_eq(nws_sleigh_status(s, &info, &err), 0);
    ck_assert_msg(info.restarts >= 1, "no restarts after %d kills", kills);
    json_decref(r);
    nws_sleigh_pending_free(p);
    free(seen);
    free(acc.seen);
    json_decref(args);
    json_decref(task);
    nws_sleigh_free(s);
}
END_TEST

/* ---- processes ----------------------------------------------------------- */

START_TEST(no_orphans_when_master_killed)
{
    pid_t master, workers[17];
    int   pfd[2], n = 0, i, st;
    char  buf[256], *p, pidfile[64], cmd[300];
    FILE *fp;

    snprintf(pidfile, sizeof(pidfile), "/tmp/nwstest.cmd.%ld", (long)getpid());
    unlink(pidfile);
    ck_assert_int_eq(pipe(pfd), 0);
    master = fork();
    ck_assert_int_ge(master, 0);
    if (master == 0) {
        nws_sleigh_options o;
        nws_sleigh        *s;
        nws_error          err;
        pid_t              kids[16];
        int                k;
        const char        *argv[] = {cmd, NULL};
        json_t            *task, *args;
        nws_sleigh_pending *pend;

        close(pfd[0]);
        st_options(&o, 2);
        if ((s = nws_sleigh_new(&o, &err)) == NULL)
            _exit(1);
        k = nwstest_children(getpid(), st_srv.pid, kids, 16, 0);
        fp = fdopen(pfd[1], "w");
        for (i = 0; i < k && i < 16; i++)
            fprintf(fp, "%ld\n", (long)kids[i]);
        /* A command that outlives nothing: its pid goes to the test too. */
        /* A command whose own child (not the command) is what the test watches. */
        snprintf(cmd, sizeof(cmd), "sleep 30 & echo $! > {}.tmp; mv {}.tmp {}; wait");
        task = nws_sleigh_command(argv, NWS_SLEIGH_SHELL);
        args = json_pack("[[s]]", pidfile);
        if ((pend = nws_sleigh_each_elem_async(s, task, args, NULL, NULL, &err)) == NULL)
            _exit(2);
        for (i = 0; i < 500 && access(pidfile, R_OK) != 0; i++)
            nwsp_sleep_ms(10);
        fclose(fp);
        for (;;)
            pause();
    }
    close(pfd[1]);
    fp = fdopen(pfd[0], "r");
    while (n < 16 && fgets(buf, sizeof(buf), fp) != NULL)
        workers[n++] = (pid_t)strtol(buf, &p, 10);
    fclose(fp);
    ck_assert_int_eq(n, 2);
    fp = fopen(pidfile, "r");
    ck_assert_msg(fp != NULL, "the command did not start");
    ck_assert_ptr_nonnull(fgets(buf, sizeof(buf), fp));
    fclose(fp);
    unlink(pidfile);
    workers[n++] = (pid_t)strtol(buf, &p, 10); /* the command's child */
    ck_assert(!st_gone(workers[n - 1]));
    kill(master, SIGKILL);
    ck_assert_int_eq(waitpid(master, &st, 0), master);
    for (i = 0; i < n; i++) {
        int tries;

        for (tries = 0; tries < 500 && !st_gone(workers[i]); tries++)
            nwsp_sleep_ms(10);
        ck_assert_msg(st_gone(workers[i]), "process %ld outlived its master",
                      (long)workers[i]);
    }
}
END_TEST

START_TEST(bad_worker_program)
{
    nws_sleigh_options o;
    nws_error          err;

    st_options(&o, 2);
    o.worker_path = "/nonexistent/nws-worker";
    ck_assert_ptr_null(nws_sleigh_new(&o, &err));
    ck_assert_int_eq(err.code, NWS_ERR_INVALID);
    /* A program that runs but never joins: the sleigh notices it exited. */
    o.worker_path = "/bin/true";
    ck_assert_ptr_null(nws_sleigh_new(&o, &err));
    ck_assert_msg(strstr(err.text, "exited before joining") != NULL, "%s", err.text);
}
END_TEST

NWSTEST_SUITE(sleigh)
{
    Suite *s = suite_create("sleigh");
    TCase *tc = tcase_create("each_elem");

    tcase_add_checked_fixture(tc, st_setup, st_teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, each_elem_order);
    tcase_add_test(tc, fixed_args_and_permute);
    tcase_add_test(tc, chunking_and_accumulator);
    tcase_add_test(tc, long_tasks_after_short_ones_are_shared);
    suite_add_tcase(s, tc);

    tc = tcase_create("pending");
    tcase_add_checked_fixture(tc, st_setup, st_teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, pending_check_wait);
    tcase_add_test(tc, two_pending_at_once);
    tcase_add_test(tc, streaming_push);
    tcase_add_test(tc, reattach_from_another_process);
    tcase_add_test(tc, reattach_after_restart);
    suite_add_tcase(s, tc);

    tc = tcase_create("each_worker");
    tcase_add_checked_fixture(tc, st_setup, st_teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, each_worker_state);
    tcase_add_test(tc, status_and_workspace_data);
    suite_add_tcase(s, tc);

    tc = tcase_create("failures");
    tcase_add_checked_fixture(tc, st_setup, st_teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, task_errors);
    tcase_add_test(tc, task_crashes);
    tcase_add_test(tc, bad_worker_program);
    suite_add_tcase(s, tc);

    tc = tcase_create("fault_tolerance");
    tcase_add_checked_fixture(tc, st_setup, st_teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, kill_workers_during_each_elem);
    tcase_add_test(tc, no_orphans_when_master_killed);
    suite_add_tcase(s, tc);
    return s;
}
