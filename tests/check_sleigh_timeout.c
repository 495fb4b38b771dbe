/*
 * check_sleigh_timeout.c -- workers that hang or crash, with a real
 * nwsserver and real nws-worker processes running
 * build/modules/sleighrun_test.so.
 *
 * A stopped (SIGSTOP) or spinning worker: the element gets "timed out
 * after N s", the worker is killed by its owner and replaced, nothing is
 * left behind.  A worker nobody owns (started by hand): the server's own
 * timer ends the element.  A crashing task: the error and the worker log
 * name the signal, and each crash costs one worker, not one per retry.
 */
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "nws.h"
#include "nws_json.h"
#include "nws_sleigh.h"
#include "nwstest.h"

static struct nwstest_server to_srv;
static char                  to_worker[512];
static char                  to_module[512];

static void
to_setup(void)
{
    const char *dir = getenv("NWS_MODULES_DIR");

    ck_assert_int_eq(nwstest_server_start(&to_srv, NULL), 0);
    nwstest_bin("nws-worker", to_worker, sizeof(to_worker));
    snprintf(to_module, sizeof(to_module), "%s/sleighrun_test.so",
             dir != NULL ? dir : "build/modules");
}

static void
to_teardown(void)
{
    int n = nwstest_children(getpid(), to_srv.pid, NULL, 0, 1);

    nwstest_server_stop(&to_srv);
    ck_assert_msg(n == 0, "%d processes left behind", n);
}

/* A sleigh of n local workers on the test server. */
static nws_sleigh *
to_sleigh(int n, int verbose)
{
    nws_sleigh_options o;
    nws_error          err;
    nws_sleigh        *s;

    nws_sleigh_options_init(&o);
    o.host = "127.0.0.1";
    o.port = to_srv.port;
    o.workers = n;
    o.worker_path = to_worker;
    o.verbose = verbose || getenv("NWSTEST_VERBOSE") != NULL;
    s = nws_sleigh_new(&o, &err);
    ck_assert_msg(s != NULL, "nws_sleigh_new: %s", err.text);
    return s;
}

/* The call task fn of the test module with a timeout (0: none); new reference. */
static json_t *
to_task(const char *fn, double timeout)
{
    json_t *t = nws_sleigh_call(to_module, fn);

    ck_assert_ptr_nonnull(t);
    if (timeout > 0)
        ck_assert_int_eq(json_object_set_new(t, "timeout", json_real(timeout)), 0);
    return t;
}

/* [[0, 1, ..., n-1]] (new reference). */
static json_t *
to_range(long n)
{
    json_t *v = json_array();
    long    i;

    for (i = 0; i < n; i++)
        json_array_append_new(v, json_integer(i));
    return json_pack("[o]", v);
}

/*
 * Checks r (n elements): element bad has an error containing want, the
 * others their own index.
 */
static void
to_check(const json_t *r, long n, long bad, const char *want)
{
    const char *e;
    long        i;

    ck_assert_msg(json_is_array(r), "not an array");
    ck_assert_int_eq(json_array_size(r), n);
    for (i = 0; i < n; i++) {
        e = nws_sleigh_error(json_array_get(r, (size_t)i));
        if (i == bad)
            ck_assert_msg(e != NULL && strstr(e, want) != NULL, "element %ld: %s", i,
                          e ? e : "(a value)");
        else
            ck_assert_msg(e == NULL && json_integer_value(json_array_get(r, (size_t)i)) == i,
                          "element %ld: %s", i, e ? e : "(wrong value)");
    }
}

/* Runs fn over 0..n-1 with fixed argument bad and a timeout on a sleigh of 2. */
static void
to_hang_case(const char *fn)
{
    nws_sleigh     *s = to_sleigh(2, 0);
    json_t         *task = to_task(fn, 1.0), *args = to_range(8),
                   *fixed = json_pack("[i]", 3), *r;
    nws_sleigh_info info;
    nws_error       err;

    r = nws_sleigh_each_elem(s, task, args, fixed, NULL, &err);
    ck_assert_msg(r != NULL, "each_elem: %s", err.text);
    to_check(r, 8, 3, "timed out after 1 s");
    json_decref(r);
    /* The hung worker was killed and another one took its place. */
    ck_assert_int_eq(nws_sleigh_wait_workers(s, 2, 20, &err), 2);
    ck_assert_int_eq(nws_sleigh_status(s, &info, &err), 0);
    ck_assert_int_ge(info.restarts, 1);
    /* And both run tasks again. */
    json_decref(fixed);
    fixed = json_pack("[i]", -1);
    r = nws_sleigh_each_elem(s, task, args, fixed, NULL, &err);
    ck_assert_msg(r != NULL, "each_elem: %s", err.text);
    to_check(r, 8, -1, "");
    json_decref(r);
    json_decref(fixed);
    json_decref(args);
    json_decref(task);
    ck_assert_int_eq(nws_sleigh_stop(s, &err), 0);
    nws_sleigh_free(s);
}

/* A worker that stops itself in a function: the element times out. */
START_TEST(stopped_worker_times_out)
{
    to_hang_case("stop_if");
}
END_TEST

/* A function that never returns: the element times out. */
START_TEST(spinning_function_times_out)
{
    to_hang_case("spin_if");
}
END_TEST

/*
 * A worker started by hand (no owner to kill it) stops itself: the
 * server's timer ends the element all the same.
 */
START_TEST(unowned_worker_times_out_on_the_server)
{
    nws_sleigh_options  o;
    nws_sleigh         *s;
    nws_sleigh_pending *p;
    json_t             *task = to_task("stop_if", 1.0), *args = to_range(2),
                       *fixed = json_pack("[i]", 1), *r;
    nws_error           err;
    char                port[16];
    pid_t               pid;
    int                 st;

    nws_sleigh_options_init(&o);
    o.host = "127.0.0.1";
    o.port = to_srv.port;
    o.workers = 0;
    s = nws_sleigh_new(&o, &err);
    ck_assert_msg(s != NULL, "nws_sleigh_new: %s", err.text);
    snprintf(port, sizeof(port), "%d", to_srv.port);
    if ((pid = fork()) == 0) {
        execl(to_worker, to_worker, "--host", "127.0.0.1", "--port", port, "--workspace",
              nws_sleigh_ws_name(s), (char *)NULL);
        _exit(127);
    }
    ck_assert_int_gt(pid, 0);
    ck_assert_int_eq(nws_sleigh_wait_workers(s, 1, 20, &err), 1);
    p = nws_sleigh_each_elem_async(s, task, args, fixed, NULL, &err);
    ck_assert_msg(p != NULL, "each_elem_async: %s", err.text);
    r = nws_sleigh_pending_wait(p, &err);
    ck_assert_msg(r != NULL, "pending_wait: %s", err.text);
    to_check(r, 2, 1, "timed out after 1 s");
    json_decref(r);
    nws_sleigh_pending_free(p);
    kill(pid, SIGKILL);
    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    json_decref(fixed);
    json_decref(args);
    json_decref(task);
    ck_assert_int_eq(nws_sleigh_stop(s, &err), 0);
    nws_sleigh_free(s);
}
END_TEST

/*
 * The node launcher (nws-worker --count, what ssh starts on each node)
 * kills a worker that stopped past its element's timeout and starts it
 * again, so the node keeps its workers.
 */
START_TEST(node_launcher_replaces_a_stopped_worker)
{
    nws_sleigh_options o;
    nws_sleigh        *s;
    json_t            *task = to_task("stop_if", 1.0), *args = to_range(6),
                      *fixed = json_pack("[i]", 2), *r;
    nws_error          err;
    char               port[16], out[8192] = "";
    size_t             len = 0;
    ssize_t            n;
    pid_t              pid;
    int                st, op[2], ip[2], tries;

    nws_sleigh_options_init(&o);
    o.host = "127.0.0.1";
    o.port = to_srv.port;
    o.workers = 0;
    s = nws_sleigh_new(&o, &err);
    ck_assert_msg(s != NULL, "nws_sleigh_new: %s", err.text);
    snprintf(port, sizeof(port), "%d", to_srv.port);
    ck_assert_int_eq(pipe2(op, O_CLOEXEC), 0);
    ck_assert_int_eq(pipe2(ip, O_CLOEXEC), 0);
    if ((pid = fork()) == 0) {
        dup2(ip[0], 0);
        dup2(op[1], 1);
        execl(to_worker, to_worker, "--host", "127.0.0.1", "--port", port, "--workspace",
              nws_sleigh_ws_name(s), "--count", "2", "--watch-stdin", (char *)NULL);
        _exit(127);
    }
    ck_assert_int_gt(pid, 0);
    close(ip[0]);
    close(op[1]);
    ck_assert_int_eq(nws_sleigh_wait_workers(s, 2, 20, &err), 2);
    r = nws_sleigh_each_elem(s, task, args, fixed, NULL, &err);
    ck_assert_msg(r != NULL, "each_elem: %s", err.text);
    to_check(r, 6, 2, "timed out after 1 s");
    json_decref(r);
    /* It says the worker went down of SIGTERM (15) and is started again. */
    fcntl(op[0], F_SETFL, O_NONBLOCK);
    for (tries = 0; tries < 100 && strstr(out, "again signal=15") == NULL; tries++) {
        while ((n = read(op[0], out + len, sizeof(out) - 1 - len)) > 0)
            len += (size_t)n;
        out[len] = '\0';
        if (strstr(out, "again signal=15") == NULL)
            usleep(100000);
    }
    ck_assert_msg(strstr(out, "again signal=15") != NULL, "node launcher said: %s", out);
    close(ip[1]); /* its standard input ends: it ends its workers and exits */
    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    close(op[0]);
    json_decref(fixed);
    json_decref(args);
    json_decref(task);
    ck_assert_int_eq(nws_sleigh_stop(s, &err), 0);
    nws_sleigh_free(s);
}
END_TEST

/* The error and the verbose worker log name the signal of a crash. */
START_TEST(crash_names_the_signal)
{
    char            path[] = "/tmp/nws-crashlog-XXXXXX", buf[65536];
    int             fd = mkstemp(path), saved = dup(2);
    nws_sleigh     *s;
    json_t         *task = to_task("abort_if", 0), *args = to_range(10),
                   *fixed = json_pack("[i]", 4), *r;
    nws_error       err;
    ssize_t         n;

    ck_assert_int_ge(fd, 0);
    ck_assert_int_ge(saved, 0);
    /* The workers' log (verbose) goes to our stderr: a file, for this test. */
    dup2(fd, 2);
    s = to_sleigh(2, 1);
    r = nws_sleigh_each_elem(s, task, args, fixed, NULL, &err);
    ck_assert_int_eq(nws_sleigh_stop(s, &err), 0);
    nws_sleigh_free(s);
    dup2(saved, 2);
    close(saved);
    ck_assert_msg(r != NULL, "each_elem: %s", err.text);
    to_check(r, 10, 4, "killed by SIGABRT");
    json_decref(r);
    n = pread(fd, buf, sizeof(buf) - 1, 0);
    close(fd);
    unlink(path);
    ck_assert_int_ge(n, 0);
    buf[n] = '\0';
    ck_assert_msg(strstr(buf, "killed by SIGABRT running batch") != NULL,
                  "the worker log does not say it: %s", buf);
    json_decref(fixed);
    json_decref(args);
    json_decref(task);
}
END_TEST

/*
 * Every element crashes its worker: each fails at once with the signal
 * named, and costs one worker start, not one per retry.
 */
START_TEST(always_crashing_elements)
{
    nws_sleigh     *s = to_sleigh(2, 0);
    json_t         *task = to_task("crash", 0), *args = to_range(40), *r;
    nws_sleigh_info info;
    nws_error       err;
    const char     *e;
    size_t          i;

    r = nws_sleigh_each_elem(s, task, args, NULL, NULL, &err);
    ck_assert_msg(r != NULL, "each_elem: %s", err.text);
    ck_assert_int_eq(json_array_size(r), 40);
    for (i = 0; i < 40; i++) {
        e = nws_sleigh_error(json_array_get(r, i));
        ck_assert_msg(e != NULL && strcmp(e, "killed by SIGSEGV") == 0, "element %zu: %s",
                      i, e ? e : "(a value)");
    }
    json_decref(r);
    ck_assert_int_eq(nws_sleigh_wait_workers(s, 2, 20, &err), 2);
    ck_assert_int_eq(nws_sleigh_status(s, &info, &err), 0);
    ck_assert_msg(info.restarts == 40, "%ld restarts for 40 crashes", info.restarts);
    json_decref(args);
    json_decref(task);
    ck_assert_int_eq(nws_sleigh_stop(s, &err), 0);
    nws_sleigh_free(s);
}
END_TEST

/* ---- halt policy ------------------------------------------------------------ */

START_TEST(halt_parse)
{
    nws_sleigh_halt h;
    nws_error       err;

    ck_assert_int_eq(nws_sleigh_halt_parse("soon,fail=3", &h, &err), 0);
    ck_assert(h.when == NWS_SLEIGH_HALT_SOON && h.what == NWS_SLEIGH_HALT_FAIL &&
              h.count == 3 && !h.percent);
    ck_assert_int_eq(nws_sleigh_halt_parse("now,fail=1", &h, &err), 0);
    ck_assert(h.when == NWS_SLEIGH_HALT_NOW && h.count == 1);
    ck_assert_int_eq(nws_sleigh_halt_parse("soon,fail=10%", &h, &err), 0);
    ck_assert(h.percent && h.count == 10);
    ck_assert_int_eq(nws_sleigh_halt_parse("now,success=2", &h, &err), 0);
    ck_assert(h.what == NWS_SLEIGH_HALT_SUCCESS);
    ck_assert_int_eq(nws_sleigh_halt_parse("soon,done=50%", &h, &err), 0);
    ck_assert(h.what == NWS_SLEIGH_HALT_DONE && h.percent);
    ck_assert_int_eq(nws_sleigh_halt_parse("2", &h, &err), 0);
    ck_assert(h.when == NWS_SLEIGH_HALT_NOW && h.what == NWS_SLEIGH_HALT_FAIL);
    ck_assert_int_eq(nws_sleigh_halt_parse("-1", &h, &err), 0);
    ck_assert(h.when == NWS_SLEIGH_HALT_SOON && h.what == NWS_SLEIGH_HALT_SUCCESS);
    ck_assert_int_eq(nws_sleigh_halt_parse("never", &h, &err), 0);
    ck_assert(h.when == NWS_SLEIGH_HALT_NEVER);
    ck_assert_int_eq(nws_sleigh_halt_parse("later,fail=1", &h, &err), -1);
    ck_assert_int_eq(err.code, NWS_ERR_INVALID);
    ck_assert_int_eq(nws_sleigh_halt_parse("soon,fail=0", &h, &err), -1);
    ck_assert_int_eq(nws_sleigh_halt_parse("soon,fail=1.5", &h, &err), -1);
    ck_assert_int_eq(nws_sleigh_halt_parse("soon,fail=101%", &h, &err), -1);
    ck_assert_int_eq(nws_sleigh_halt_parse("soon,oops=1", &h, &err), -1);
}
END_TEST

/* Counts the elements of r: values, "odd" errors, halted ones. */
static void
to_count(const json_t *r, size_t *values, size_t *fails, size_t *halted)
{
    const char *e;
    size_t      i;

    *values = *fails = *halted = 0;
    for (i = 0; i < json_array_size(r); i++) {
        e = nws_sleigh_error(json_array_get(r, i));
        if (e == NULL)
            (*values)++;
        else if (strcmp(e, "odd") == 0)
            (*fails)++;
        else if (strcmp(e, NWS_SLEIGH_HALTED) == 0)
            (*halted)++;
        else
            ck_abort_msg("element %zu: %s", i, e);
    }
}

/*
 * soon,fail=3 over 200 elements, every other one failing, one task per
 * worker at a time: it stops after 3 failures plus what was running.
 */
START_TEST(halt_soon_after_failures)
{
    nws_sleigh          *s = to_sleigh(2, 0);
    json_t              *task = to_task("fail_odd", 0), *args = to_range(200), *r;
    nws_sleigh_elem_opts eo;
    nws_sleigh_pending  *p;
    nws_sleigh_progress  pr;
    nws_error            err;
    size_t               values, fails, halted;

    memset(&eo, 0, sizeof(eo));
    eo.load_factor = 1;
    ck_assert_int_eq(nws_sleigh_halt_parse("soon,fail=3", &eo.halt, &err), 0);
    p = nws_sleigh_each_elem_async(s, task, args, NULL, &eo, &err);
    ck_assert_msg(p != NULL, "each_elem_async: %s", err.text);
    r = nws_sleigh_pending_wait(p, &err);
    ck_assert_msg(r != NULL, "pending_wait: %s", err.text);
    ck_assert_int_eq(nws_sleigh_pending_progress(p, &pr, &err), 0);
    ck_assert_int_eq(pr.halted, NWS_SLEIGH_HALT_SOON);
    to_count(r, &values, &fails, &halted);
    ck_assert_int_eq(values + fails + halted, 200);
    /* Three, and those of the two tasks out when the third came. */
    ck_assert_msg(fails >= 3 && fails <= 5, "%zu failures", fails);
    ck_assert_msg(halted >= 190, "%zu halted", halted);
    json_decref(r);
    nws_sleigh_pending_free(p);

    /* Percent: 5% of 200 is 10 failures. */
    ck_assert_int_eq(nws_sleigh_halt_parse("soon,fail=5%", &eo.halt, &err), 0);
    r = nws_sleigh_each_elem(s, task, args, NULL, &eo, &err);
    ck_assert_msg(r != NULL, "each_elem: %s", err.text);
    to_count(r, &values, &fails, &halted);
    ck_assert_msg(fails >= 10 && fails <= 12, "%zu failures", fails);
    ck_assert_int_eq(values + fails + halted, 200);
    json_decref(r);
    json_decref(args);
    json_decref(task);
    ck_assert_int_eq(nws_sleigh_stop(s, &err), 0);
    nws_sleigh_free(s);
}
END_TEST

/* now,fail=1: the batch ends at the first failure, the rest not run. */
START_TEST(halt_now_at_first_failure)
{
    nws_sleigh          *s = to_sleigh(2, 0);
    json_t              *task = to_task("fail_odd", 0), *args = to_range(100), *r;
    nws_sleigh_elem_opts eo;
    nws_error            err;
    size_t               values, fails, halted;

    memset(&eo, 0, sizeof(eo));
    eo.load_factor = 2;
    ck_assert_int_eq(nws_sleigh_halt_parse("now,fail=1", &eo.halt, &err), 0);
    r = nws_sleigh_each_elem(s, task, args, NULL, &eo, &err);
    ck_assert_msg(r != NULL, "each_elem: %s", err.text);
    to_count(r, &values, &fails, &halted);
    ck_assert_int_eq(fails, 1);
    ck_assert_int_eq(values + fails + halted, 100);
    ck_assert_msg(halted >= 90, "%zu halted", halted);
    json_decref(r);
    /* The sleigh goes on: a batch without a halt policy runs everything. */
    memset(&eo, 0, sizeof(eo));
    r = nws_sleigh_each_elem(s, task, args, NULL, &eo, &err);
    ck_assert_msg(r != NULL, "each_elem: %s", err.text);
    to_count(r, &values, &fails, &halted);
    ck_assert(values == 50 && fails == 50 && halted == 0);
    json_decref(r);
    json_decref(args);
    json_decref(task);
    ck_assert_int_eq(nws_sleigh_stop(s, &err), 0);
    nws_sleigh_free(s);
}
END_TEST

NWSTEST_SUITE(sleigh_timeout)
{
    Suite *s = suite_create("sleigh_timeout");
    TCase *tc = tcase_create("timeouts");

    tcase_add_checked_fixture(tc, to_setup, to_teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, stopped_worker_times_out);
    tcase_add_test(tc, spinning_function_times_out);
    tcase_add_test(tc, unowned_worker_times_out_on_the_server);
    tcase_add_test(tc, node_launcher_replaces_a_stopped_worker);
    suite_add_tcase(s, tc);

    tc = tcase_create("crashes");
    tcase_add_checked_fixture(tc, to_setup, to_teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, crash_names_the_signal);
    tcase_add_test(tc, always_crashing_elements);
    suite_add_tcase(s, tc);

    tc = tcase_create("halt");
    tcase_add_checked_fixture(tc, to_setup, to_teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, halt_parse);
    tcase_add_test(tc, halt_soon_after_failures);
    tcase_add_test(tc, halt_now_at_first_failure);
    suite_add_tcase(s, tc);
    return s;
}
