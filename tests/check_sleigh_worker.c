/*
 * check_sleigh_worker.c -- nws-worker itself: command tasks (placeholders,
 * shell quoting, exit status, timeouts, output limits, binary output),
 * output@<rank>, the command line and exit codes, a worker started by
 * hand, and the sleigh examples.  Real server, real processes.
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

static struct nwstest_server sw_srv;
static char                  sw_worker[512];
static char                  sw_module[512];

static void
sw_setup(void)
{
    const char *dir = getenv("NWS_MODULES_DIR");

    ck_assert_int_eq(nwstest_server_start(&sw_srv, NULL), 0);
    nwstest_bin("nws-worker", sw_worker, sizeof(sw_worker));
    snprintf(sw_module, sizeof(sw_module), "%s/sleigh_test.so",
             dir != NULL ? dir : "build/modules");
}

static void
sw_teardown(void)
{
    int n = nwstest_children(getpid(), sw_srv.pid, NULL, 0, 1);

    nwstest_server_stop(&sw_srv);
    ck_assert_msg(n == 0, "%d processes left behind", n);
}

/* A sleigh of n workers with flags. */
static nws_sleigh *
sw_sleigh(int n, unsigned flags)
{
    nws_sleigh_options o;
    nws_error          err;
    nws_sleigh        *s;

    nws_sleigh_options_init(&o);
    o.host = "127.0.0.1";
    o.port = sw_srv.port;
    o.workers = n;
    o.worker_path = sw_worker;
    o.flags = flags;
    o.verbose = getenv("NWSTEST_VERBOSE") != NULL;
    s = nws_sleigh_new(&o, &err);
    ck_assert_msg(s != NULL, "nws_sleigh_new: %s", err.text);
    return s;
}

/* JSON text as a new reference. */
static json_t *
sw_json(const char *text)
{
    json_error_t jerr;
    json_t      *j = json_loads(text, JSON_DECODE_ANY, &jerr);

    ck_assert_msg(j != NULL, "bad JSON in the test: %s (%s)", jerr.text, text);
    return j;
}

/* Runs task (JSON text) over elem_args (JSON text); the results (new). */
static json_t *
sw_run(nws_sleigh *s, const char *task, const char *elem_args)
{
    json_t   *t = sw_json(task), *a = sw_json(elem_args), *r;
    nws_error err;

    r = nws_sleigh_each_elem(s, t, a, NULL, NULL, &err);
    ck_assert_msg(r != NULL, "each_elem: %s", err.text);
    json_decref(t);
    json_decref(a);
    return r;
}

/* The stdout text of result entry i (a value or an error object's value). */
static const char *
sw_stdout(const json_t *r, size_t i)
{
    const json_t *e = json_array_get(r, i);

    if (nws_sleigh_error(e) != NULL)
        e = json_object_get(e, "value");
    return json_string_value(json_object_get(e, "stdout"));
}

/* ---- command tasks ---------------------------------------------------------------- */

/* A task record whose "fixed" is not an array (a task object carrying its
 * own "fixed" key) fails each element with a reason, instead of running it
 * without them. */
START_TEST(fixed_not_an_array_is_an_error)
{
    nws_sleigh *s = sw_sleigh(1, 0);
    json_t     *r;
    const char *why;
    size_t      i;

    r = sw_run(s, "{\"kind\": \"command\", \"argv\": [\"echo\", \"{}\"], \"fixed\": 5}",
               "[[1, 2]]");
    ck_assert_int_eq(json_array_size(r), 2);
    for (i = 0; i < 2; i++) {
        why = nws_sleigh_error(json_array_get(r, i));
        ck_assert_msg(why != NULL && strstr(why, "fixed arguments are not an array"),
                      "element %zu: %s", i, why ? why : "no error");
    }
    json_decref(r);
    nws_sleigh_free(s);
}
END_TEST

START_TEST(command_placeholders)
{
    nws_sleigh *s = sw_sleigh(2, 0);
    json_t     *r, *x;

    r = sw_run(s,
               "{\"kind\": \"command\", \"argv\": [\"echo\", \"{}\", \"{.}\", \"{/}\", "
               "\"{//}\", \"{/.}\", \"{#}\", \"<{1}>\"]}",
               "[[\"a/b/file.tar.gz\", \"plain\"]]");
    ck_assert_str_eq(
        sw_stdout(r, 0),
        "a/b/file.tar.gz a/b/file.tar file.tar.gz a/b file.tar 1 <a/b/file.tar.gz>\n");
    ck_assert_str_eq(sw_stdout(r, 1), "plain plain plain . plain 2 <plain>\n");
    x = json_array_get(r, 0);
    ck_assert_ptr_null(nws_sleigh_error(x));
    ck_assert_int_eq(json_integer_value(json_object_get(x, "status")), 0);
    ck_assert_str_eq(json_string_value(json_object_get(x, "stderr")), "");
    ck_assert(json_is_false(json_object_get(x, "truncated")));
    ck_assert(json_number_value(json_object_get(x, "seconds")) >= 0);
    json_decref(r);

    /* Positional arguments of two vectors; numbers and booleans as text. */
    r = sw_run(s, "{\"kind\": \"command\", \"argv\": [\"echo\", \"{2}-{1}\", \"{}\"]}",
               "[[\"a\", 7], [\"1\", true]]");
    ck_assert_str_eq(sw_stdout(r, 0), "1-a a 1\n");
    ck_assert_str_eq(sw_stdout(r, 1), "true-7 7 true\n");
    json_decref(r);

    /* No placeholder: the arguments become words; {{ }} are literal braces. */
    r = sw_run(s, "{\"kind\": \"command\", \"argv\": [\"printf\", \"%s|{{%s}}|\"]}",
               "[[\"x y\"], [\"z\"]]");
    ck_assert_str_eq(sw_stdout(r, 0), "x y|{z}|");
    json_decref(r);

    /* The environment tells the element number and the rank. */
    r = sw_run(s,
               "{\"kind\": \"command\", \"argv\": [\"sh\", \"-c\", "
               "\"echo $SLEIGH_SEQ:{}\"]}",
               "[[\"p\", \"q\", \"r\"]]");
    ck_assert_str_eq(sw_stdout(r, 2), "3:r\n");
    json_decref(r);
    nws_sleigh_free(s);
}
END_TEST

START_TEST(command_shell_and_quoting)
{
    nws_sleigh *s = sw_sleigh(1, 0);
    const char *argv[] = {"echo {} | tr a-z A-Z; echo \"$0\" >/dev/null", NULL};
    json_t     *task = nws_sleigh_command(argv, NWS_SLEIGH_SHELL), *a, *r;
    nws_error   err;

    ck_assert(json_is_true(json_object_get(task, "shell")));
    a = sw_json("[[\"it's $HOME `x`\"]]");
    r = nws_sleigh_each_elem(s, task, a, NULL, NULL, &err);
    ck_assert_msg(r != NULL, "%s", err.text);
    ck_assert_str_eq(sw_stdout(r, 0), "IT'S $HOME `X`\n");
    json_decref(r);
    json_decref(a);
    json_decref(task);
    ck_assert_ptr_null(nws_sleigh_command(NULL, 0));
    nws_sleigh_free(s);
}
END_TEST

START_TEST(command_failures)
{
    nws_sleigh *s = sw_sleigh(2, 0);
    json_t     *r, *v;
    double      t0;

    r = sw_run(s,
               "{\"kind\": \"command\", \"argv\": [\"sh\", \"-c\", "
               "\"echo out; echo err >&2; exit {}\"]}",
               "[[0, 3]]");
    ck_assert_ptr_null(nws_sleigh_error(json_array_get(r, 0)));
    ck_assert_str_eq(nws_sleigh_error(json_array_get(r, 1)), "exit status 3");
    v = json_object_get(json_array_get(r, 1), "value");
    ck_assert_int_eq(json_integer_value(json_object_get(v, "status")), 3);
    ck_assert_str_eq(json_string_value(json_object_get(v, "stdout")), "out\n");
    ck_assert_str_eq(json_string_value(json_object_get(v, "stderr")), "err\n");
    json_decref(r);

    /* A program that does not exist: status 127 and a reason on stderr. */
    r = sw_run(s, "{\"kind\": \"command\", \"argv\": [\"/nonexistent/prog\"]}", "[[1]]");
    ck_assert_str_eq(nws_sleigh_error(json_array_get(r, 0)), "exit status 127");
    v = json_object_get(json_array_get(r, 0), "value");
    ck_assert_ptr_nonnull(
        strstr(json_string_value(json_object_get(v, "stderr")), "cannot run"));
    json_decref(r);

    /* Killed by a signal, and a timeout (which kills the process group). */
    r = sw_run(s, "{\"kind\": \"command\", \"argv\": [\"sh\", \"-c\", \"kill -9 $$\"]}",
               "[[1]]");
    ck_assert_str_eq(nws_sleigh_error(json_array_get(r, 0)), "killed by signal 9");
    json_decref(r);
    t0 = (double)time(NULL);
    r = sw_run(
        s,
        "{\"kind\": \"command\", \"argv\": [\"sh\", \"-c\", \"sleep 20; echo no\"], "
        "\"timeout\": 0.3}",
        "[[1]]");
    ck_assert_str_eq(nws_sleigh_error(json_array_get(r, 0)), "timed out after 0.3 s");
    ck_assert((double)time(NULL) - t0 < 10);
    json_decref(r);
    nws_sleigh_free(s);
}
END_TEST

START_TEST(command_output_limits)
{
    nws_sleigh *s = sw_sleigh(1, 0);
    json_t     *r, *v;
    char       *out;
    size_t      len;

    /* Output that is not UTF-8 comes base64-encoded. */
    r = sw_run(s,
               "{\"kind\": \"command\", \"argv\": [\"sh\", \"-c\", "
               "\"printf '\\\\377\\\\000a'\"]}",
               "[[0]]");
    v = json_array_get(r, 0);
    ck_assert_msg(json_object_get(v, "stdout") == NULL &&
                      json_object_get(v, "stdout_b64") != NULL,
                  "got %s", json_dumps(r, 0));
    out = nws_sleigh_output(v, "stdout", &len);
    ck_assert_ptr_nonnull(out);
    ck_assert_int_eq(len, 3);
    ck_assert(memcmp(out, "\377\000a", 3) == 0);
    free(out);
    out = nws_sleigh_output(v, "stderr", &len);
    ck_assert(out != NULL && len == 0);
    free(out);
    json_decref(r);

    /* max_output bytes are kept; the rest is drained, so the program finishes. */
    r = sw_run(s,
               "{\"kind\": \"command\", \"argv\": [\"sh\", \"-c\", "
               "\"head -c 3000000 /dev/zero\"], \"max_output\": 1000}",
               "[[0]]");
    v = json_array_get(r, 0);
    ck_assert_ptr_null(nws_sleigh_error(v));
    ck_assert(json_is_true(json_object_get(v, "truncated")));
    out = nws_sleigh_output(v, "stdout", &len);
    ck_assert(out != NULL && len == 1000 && out[999] == '\0');
    free(out);
    json_decref(r);

    /* cwd */
    r = sw_run(
        s, "{\"kind\": \"command\", \"argv\": [\"sh\", \"-c\", \"pwd\"], \"cwd\": \"/\"}",
        "[[0]]");
    ck_assert_str_eq(sw_stdout(r, 0), "/\n");
    json_decref(r);
    nws_sleigh_free(s);
}
END_TEST

/* ---- output@<rank> ----------------------------------------------------------------- */

START_TEST(worker_output_kept)
{
    nws_sleigh *s = sw_sleigh(2, NWS_SLEIGH_OUTPUT);
    json_t *say = nws_sleigh_call(sw_module, "say"),
           *who = nws_sleigh_call(sw_module, "whoami");
    json_t     *args = sw_json("[\"hello there\"]"), *r, *ranks;
    nws_error   err;
    char        var[64], *line = NULL;
    size_t      i;
    int         rc = 0, tries, found;

    r = nws_sleigh_each_worker(s, say, args, &err);
    ck_assert_msg(r != NULL && json_array_size(r) == 2, "say: %s", err.text);
    json_decref(r);
    ranks = nws_sleigh_each_worker(s, who, NULL, &err);
    ck_assert_msg(ranks != NULL && json_array_size(ranks) == 2, "whoami: %s", err.text);
    for (i = 0; i < 2; i++) {
        snprintf(var, sizeof(var), "output@%lld",
                 (long long)json_integer_value(
                     json_object_get(json_array_get(ranks, i), "rank")));
        /* Worker log lines may come first (verbose runs): look for ours. */
        for (tries = 0, found = 0; tries < 300 && !found; tries++) {
            rc = nws_fetch_try_string(nws_sleigh_ws(s), var, &line, &err);
            ck_assert_msg(rc >= 0, "%s: %s", var, err.text);
            if (rc == 0) {
                usleep(10000);
                continue;
            }
            found = strcmp(line, "hello there") == 0;
            free(line);
        }
        ck_assert_msg(found, "no \"hello there\" in %s", var);
    }
    json_decref(ranks);
    json_decref(args);
    json_decref(say);
    json_decref(who);
    nws_sleigh_free(s);
}
END_TEST

/* ---- the worker program -------------------------------------------------- */

/* Runs nws-worker with args (NULL-terminated), output to /dev/null; its exit status. */
static int
sw_worker_run(const char *const *args, pid_t *bg)
{
    char *argv[16];
    int   n = 0, st;
    pid_t pid;

    argv[n++] = sw_worker;
    while (*args != NULL && n < 15)
        argv[n++] = (char *)*args++;
    argv[n] = NULL;
    pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        if (freopen("/dev/null", "w", stdout) == NULL ||
            (getenv("NWSTEST_VERBOSE") == NULL &&
             freopen("/dev/null", "w", stderr) == NULL))
            _exit(99);
        execv(argv[0], argv);
        _exit(127);
    }
    if (bg != NULL) {
        *bg = pid;
        return 0;
    }
    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

START_TEST(worker_command_line)
{
    char  port[16];
    const char *help[] = {"--help", NULL};
    const char *none[] = {NULL};
    const char *badport[] = {"--port", "x", "--workspace", "w", NULL};
    const char *nows[] = {"--host",      "127.0.0.1",  "--port", port,
                          "--workspace", "no such ws", NULL};

    snprintf(port, sizeof(port), "%d", sw_srv.port);
    ck_assert_int_eq(sw_worker_run(help, NULL), 0);
    ck_assert_int_eq(sw_worker_run(none, NULL), 2);
    ck_assert_int_eq(sw_worker_run(badport, NULL), 2);
    ck_assert_int_eq(sw_worker_run(nows, NULL), 3);
}
END_TEST

START_TEST(worker_started_by_hand)
{
    nws_sleigh *s = sw_sleigh(0, 0);
    char        port[16], ws[128];
    const char *args[] = {"--host", "127.0.0.1", "--port", port, "--workspace", ws, NULL};
    json_t     *r;
    nws_error   err;
    pid_t       w1, w2;
    int         st;

    snprintf(port, sizeof(port), "%d", sw_srv.port);
    snprintf(ws, sizeof(ws), "%s", nws_sleigh_ws_name(s));
    sw_worker_run(args, &w1);
    ck_assert_int_eq(nws_sleigh_wait_workers(s, 1, 10, &err), 1);
    r = sw_run(s, "{\"kind\": \"command\", \"argv\": [\"expr\", \"{}\", \"*\", \"2\"]}",
               "[[1, 2, 3]]");
    ck_assert_str_eq(sw_stdout(r, 2), "6\n");
    json_decref(r);
    /* Stopping the sleigh ends the worker cleanly. */
    ck_assert_int_eq(nws_sleigh_stop(s, &err), 0);
    ck_assert_int_eq(waitpid(w1, &st, 0), w1);
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "worker status %d", st);
    nws_sleigh_free(s);

    /* So does the server going away. */
    s = sw_sleigh(0, 0);
    snprintf(ws, sizeof(ws), "%s", nws_sleigh_ws_name(s));
    sw_worker_run(args, &w2);
    ck_assert_int_eq(nws_sleigh_wait_workers(s, 1, 10, &err), 1);
    nwstest_server_stop(&sw_srv);
    ck_assert_int_eq(waitpid(w2, &st, 0), w2);
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "worker status %d", st);
    nws_sleigh_free(s);
    ck_assert_int_eq(nwstest_server_start(&sw_srv, NULL), 0); /* for the teardown */
}
END_TEST

/* ---- the examples -------------------------------------------------------- */

/* Runs example name with args; checks exit 0 and that stdout holds want. */
static void
sw_example(const char *name, const char *a1, const char *a2, const char *a3,
           const char *want)
{
    const char *dir = getenv("NWS_EXAMPLES_DIR");
    char        path[512], port[16], out[4096];
    char       *argv[] = {path, (char *)a1, (char *)a2, (char *)a3, NULL};
    int         pfd[2], st;
    ssize_t     n, got = 0;
    pid_t       pid;

    snprintf(path, sizeof(path), "%s/%s", dir != NULL ? dir : "build/examples", name);
    snprintf(port, sizeof(port), "%d", sw_srv.port);
    ck_assert_msg(access(path, X_OK) == 0, "%s is not built", path);
    ck_assert_int_eq(pipe(pfd), 0);
    pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        setenv("NWS_HOST", "127.0.0.1", 1);
        setenv("NWS_PORT", port, 1);
        setenv("NWS_WORKER", sw_worker, 1);
        dup2(pfd[1], 1);
        close(pfd[0]);
        close(pfd[1]);
        execv(path, argv);
        _exit(127);
    }
    close(pfd[1]);
    while ((n = read(pfd[0], out + got, sizeof(out) - 1 - (size_t)got)) > 0)
        got += n;
    close(pfd[0]);
    out[got] = '\0';
    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "%s: status %d", name, st);
    ck_assert_msg(strstr(out, want) != NULL, "%s printed \"%s\"", name, out);
}

START_TEST(example_cube_and_pi)
{
    sw_example("cube", "2", NULL, NULL, "r[2..4] = 8, 27, 64\n");
    sw_example("cube", NULL, NULL, NULL, "95^3 = 857375");
    sw_example("pi", "20", "20000", "2", "pi is about 3.1");
    sw_example("pi", "20", "20000", "2", "400000 darts inside, 20 tasks)");
}
END_TEST

NWSTEST_SUITE(sleigh_worker)
{
    Suite *s = suite_create("sleigh_worker");
    TCase *tc = tcase_create("commands");

    tcase_add_checked_fixture(tc, sw_setup, sw_teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, command_placeholders);
    tcase_add_test(tc, fixed_not_an_array_is_an_error);
    tcase_add_test(tc, command_shell_and_quoting);
    tcase_add_test(tc, command_failures);
    tcase_add_test(tc, command_output_limits);
    suite_add_tcase(s, tc);

    tc = tcase_create("worker");
    tcase_add_checked_fixture(tc, sw_setup, sw_teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, worker_output_kept);
    tcase_add_test(tc, worker_command_line);
    tcase_add_test(tc, worker_started_by_hand);
    suite_add_tcase(s, tc);

    tc = tcase_create("examples");
    tcase_add_checked_fixture(tc, sw_setup, sw_teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, example_cube_and_pi);
    suite_add_tcase(s, tc);
    return s;
}
