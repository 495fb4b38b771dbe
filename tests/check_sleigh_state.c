/*
 * check_sleigh_state.c -- what a sleigh keeps of its batches, and what the
 * Sleigh API's blocking calls do when what they wait for cannot come.
 *
 * lifetime: a collected batch leaves nothing in the sleigh workspace but
 * a bounded history of counts: thousands of batches on one sleigh keep the
 * workspace's variables and the server's memory_used flat (set
 * NWSTEST_BATCHES=100000 for the long run, NWSTEST_PROGRESS=1 to print
 * variables, memory_used and the server's RSS every 10,000 batches).
 *
 * gone: pending_next, pending_wait, each_elem and attach return, with the
 * results they can give and an error saying why, when the batch was
 * collected by another process, the workspace was deleted, the sleigh
 * shut down, or no worker is left to run the tasks.
 *
 * failed: the server's failed count (jobStatus, /api/sleigh,
 * nws_sleigh_progress.failed) counts elements whose result is an error.
 *
 * Real server, real nws-worker processes, build/modules/sleigh_test.so.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "nws.h"
#include "nws_json.h"
#include "nws_sleigh.h"
#include "nwstest.h"
#include "util.h"

static struct nwstest_server ss_srv;
static char                  ss_worker[512];
static char                  ss_module[512];

/* ---- helpers ---------------------------------------------------------------- */

static void
ss_setup(void)
{
    const char *dir = getenv("NWS_MODULES_DIR");

    ck_assert_int_eq(nwstest_server_start(&ss_srv, NULL), 0);
    nwstest_bin("nws-worker", ss_worker, sizeof(ss_worker));
    snprintf(ss_module, sizeof(ss_module), "%s/sleigh_test.so",
             dir != NULL ? dir : "build/modules");
}

static void
ss_teardown(void)
{
    int st = nwstest_server_stop(&ss_srv);

    /* A clean exit: under SAN=1 that also means no leak in the server. */
    ck_assert_msg(st == 0, "nwsserver exit status %d", st);
}

/* A sleigh of n local workers on the test server; fails the test if it cannot. */
static nws_sleigh *
ss_sleigh(int n, unsigned flags)
{
    nws_sleigh_options o;
    nws_error          err;
    nws_sleigh        *s;

    nws_sleigh_options_init(&o);
    o.host = "127.0.0.1";
    o.port = ss_srv.port;
    o.workers = n;
    o.worker_path = ss_worker;
    o.verbose = getenv("NWSTEST_VERBOSE") != NULL;
    o.flags = flags;
    s = nws_sleigh_new(&o, &err);
    ck_assert_msg(s != NULL, "nws_sleigh_new: %s", err.text);
    return s;
}

/* Attaches to sleigh workspace ws with no workers of its own. */
static nws_sleigh *
ss_attach(const char *ws)
{
    nws_sleigh_options o;
    nws_error          err;
    nws_sleigh        *s;

    nws_sleigh_options_init(&o);
    o.host = "127.0.0.1";
    o.port = ss_srv.port;
    o.workers = 0;
    s = nws_sleigh_attach(ws, &o, &err);
    ck_assert_msg(s != NULL, "attach: %s", err.text);
    return s;
}

static json_t *
ss_task(const char *fn)
{
    json_t *t = nws_sleigh_call(ss_module, fn);

    ck_assert_ptr_nonnull(t);
    return t;
}

static json_t *
ss_json(const char *text)
{
    json_error_t jerr;
    json_t      *j = json_loads(text, JSON_DECODE_ANY, &jerr);

    ck_assert_msg(j != NULL, "bad JSON in the test: %s", jerr.text);
    return j;
}

/* GET path from the web port: the JSON body (new), or NULL. */
static json_t *
ss_web_json(const char *path)
{
    char    req[512], *buf, *body;
    size_t  len = 0, cap = 1 << 16;
    ssize_t n;
    int     fd = nwstest_connect(ss_srv.web_port, 10);
    json_t *j;

    ck_assert_int_ge(fd, 0);
    snprintf(req, sizeof(req),
             "GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nConnection: close\r\n\r\n", path,
             ss_srv.web_port);
    ck_assert_int_eq(nwstest_write_all(fd, req, strlen(req)), 0);
    buf = malloc(cap);
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
    j = body != NULL ? json_loads(body + 4, 0, NULL) : NULL;
    free(buf);
    return j;
}

/* The server's memory_used (web /api/overview). */
static long long
ss_memory_used(void)
{
    json_t   *o = ss_web_json("/api/overview");
    long long m;

    ck_assert_msg(json_is_object(o), "no /api/overview");
    m = json_integer_value(json_object_get(o, "memory_used"));
    json_decref(o);
    return m;
}

/* The server's resident set in kB (for the long run's report), or -1. */
static long
ss_server_rss(void)
{
    char  path[64], line[256];
    FILE *fp;
    long  kb = -1;

    snprintf(path, sizeof(path), "/proc/%ld/status", (long)ss_srv.pid);
    if ((fp = fopen(path, "r")) == NULL)
        return -1;
    while (fgets(line, sizeof(line), fp) != NULL)
        if (strncmp(line, "VmRSS:", 6) == 0)
            kb = atol(line + 6);
    fclose(fp);
    return kb;
}

/* Variables in workspace ws (`list vars`, hidden ones included), via a fresh connection. */
static long
ss_nvars(const char *ws)
{
    nws_error   err;
    nws_client *c = nws_connect("127.0.0.1", ss_srv.port, 0, &err);
    nws_ws_list *l;
    long         n;

    ck_assert_msg(c != NULL, "connect: %s", err.text);
    l = nws_list_wss(c, ws, &err);
    ck_assert_msg(l != NULL && l->count == 1, "list wss %s: %s", ws, err.text);
    n = (long)l->items[0].nvars;
    nws_ws_list_free(l);
    nws_close(c);
    return n;
}

/* The /api/sleigh batch object of batch id in workspace ws, new, or NULL. */
static json_t *
ss_api_batch(const char *ws, const char *id)
{
    char    path[256];
    json_t *o, *b, *found = NULL;
    size_t  i;

    snprintf(path, sizeof(path), "/api/sleigh?ws=%s", ws);
    o = ss_web_json(path);
    ck_assert_msg(json_is_object(o), "no %s", path);
    json_array_foreach(json_object_get(o, "batches"), i, b)
    {
        if (json_is_string(json_object_get(b, "name")) &&
            strcmp(json_string_value(json_object_get(b, "name")), id) == 0)
            found = json_incref(b);
    }
    json_decref(o);
    return found;
}

/* ---- lifetime: collected batches leave nothing behind ---------------------------- */

START_TEST(collected_batches_leave_nothing)
{
    nws_sleigh *s = ss_sleigh(2, 0);
    json_t     *task = ss_task("cube"), *args, *r;
    nws_error   err;
    const char *env = getenv("NWSTEST_BATCHES");
    long        nbatches = env != NULL ? atol(env) : 3000, i, k;
    long        vars0 = 0, vars1;
    long long   mem0 = 0, mem1;
    char        ws[128];

    ck_assert_int_ge(nbatches, 1100);
    snprintf(ws, sizeof(ws), "%s", nws_sleigh_ws_name(s));
    args = ss_json("[[0, 1, 2, 3, 4, 5, 6, 7, 8, 9]]");
    for (i = 1; i <= nbatches; i++) {
        r = nws_sleigh_each_elem(s, task, args, NULL, NULL, &err);
        ck_assert_msg(r != NULL, "batch %ld: %s", i, err.text);
        for (k = 0; k < 10; k++)
            ck_assert_int_eq(json_integer_value(json_array_get(r, (size_t)k)), k * k * k);
        json_decref(r);
        if (i == 1000) {
            nwsp_sleep_ms(50); /* record deletions run on the server's next turn */
            vars0 = ss_nvars(ws);
            mem0 = ss_memory_used();
        }
        if (getenv("NWSTEST_PROGRESS") != NULL && (i % 10000 == 0 || i == 1000))
            fprintf(stderr, "batch %ld: %ld variables, memory_used %lld, server RSS %ld kB\n",
                    i, ss_nvars(ws), ss_memory_used(), ss_server_rss());
    }
    nwsp_sleep_ms(50);
    vars1 = ss_nvars(ws);
    mem1 = ss_memory_used();
    /* Nothing per batch: the same variables, the same memory (give or take a
     * value in flight somewhere). */
    ck_assert_msg(vars1 == vars0, "variables: %ld after 1,000 batches, %ld after %ld",
                  vars0, vars1, nbatches);
    ck_assert_msg(mem1 <= mem0 + 4096, "memory_used: %lld after 1,000 batches, %lld after %ld",
                  mem0, mem1, nbatches);
    json_decref(args);
    json_decref(task);
    nws_sleigh_free(s);
}
END_TEST

START_TEST(collected_batch_history_and_attach)
{
    nws_sleigh         *s = ss_sleigh(1, 0), *s2;
    json_t             *task = ss_task("cube"), *args = ss_json("[[1, 2, 3]]"), *r, *b;
    nws_sleigh_pending *p;
    nws_sleigh_progress pr;
    nws_error           err;
    char                ws[128], id[64], first[64], var[96];
    int                 i;

    snprintf(ws, sizeof(ws), "%s", nws_sleigh_ws_name(s));
    p = nws_sleigh_each_elem_async(s, task, args, NULL, NULL, &err);
    ck_assert_msg(p != NULL, "async: %s", err.text);
    snprintf(id, sizeof(id), "%s", nws_sleigh_pending_id(p));
    snprintf(first, sizeof(first), "%s", id);
    r = nws_sleigh_pending_wait(p, &err);
    ck_assert_msg(r != NULL, "wait: %s", err.text);
    json_decref(r);
    /* Collected: progress still has the server's counts (the history)... */
    ck_assert_int_eq(nws_sleigh_pending_progress(p, &pr, &err), 0);
    ck_assert_int_eq(pr.done, 3);
    ck_assert_int_eq(pr.queued + pr.running, 0);
    nws_sleigh_pending_free(p);
    /* ...the web UI shows it with its counts... */
    b = ss_api_batch(ws, id);
    ck_assert_msg(b != NULL, "batch %s not in /api/sleigh", id);
    ck_assert_int_eq(json_integer_value(json_object_get(b, "done")), 3);
    json_decref(b);
    /* ...its record variable is gone, and attaching to it says why it cannot. */
    nwsp_sleep_ms(50);
    s2 = ss_attach(ws);
    snprintf(var, sizeof(var), "batch@%s", id);
    ck_assert_int_eq(nws_find_try_string(nws_sleigh_ws(s2), var, &(char *){NULL}, &err), 0);
    ck_assert_ptr_null(nws_sleigh_pending_attach(s2, id, 0, &err));
    ck_assert_msg(strstr(err.text, "already collected") != NULL, "attach: %s", err.text);
    ck_assert_ptr_null(nws_sleigh_pending_attach(s2, id, 3, &err));
    ck_assert_msg(strstr(err.text, "already collected") != NULL, "attach: %s", err.text);
    ck_assert_ptr_null(nws_sleigh_pending_attach(s2, "b1-1-00000000", 3, &err));
    ck_assert_msg(strstr(err.text, "no such batch") != NULL, "attach: %s", err.text);
    /* The history is bounded: 20 more batches push the first one out. */
    for (i = 0; i < 20; i++) {
        r = nws_sleigh_each_elem(s, task, args, NULL, NULL, &err);
        ck_assert_msg(r != NULL, "each_elem: %s", err.text);
        json_decref(r);
    }
    b = ss_api_batch(ws, first);
    ck_assert_ptr_null(b);
    ck_assert_ptr_null(nws_sleigh_pending_attach(s2, first, 3, &err));
    ck_assert_msg(strstr(err.text, "no such batch") != NULL, "attach: %s", err.text);
    nws_sleigh_free(s2);
    json_decref(args);
    json_decref(task);
    nws_sleigh_free(s);
}
END_TEST

START_TEST(every_kind_of_batch_leaves_nothing)
{
    nws_sleigh          *s = ss_sleigh(2, 0);
    json_t              *task = ss_task("cube"), *args = ss_json("[[1, 2, 3, 4, 5, 6, 7]]");
    json_t              *r, *one;
    nws_sleigh_elem_opts eo;
    nws_sleigh_pending  *p;
    nws_error            err;
    char                 ws[128];
    long                 vars0;
    int                  round, i;

    snprintf(ws, sizeof(ws), "%s", nws_sleigh_ws_name(s));
    r = nws_sleigh_each_elem(s, task, args, NULL, NULL, &err);
    ck_assert_msg(r != NULL, "each_elem: %s", err.text);
    json_decref(r);
    nwsp_sleep_ms(50);
    vars0 = ss_nvars(ws);
    for (round = 0; round < 3; round++) {
        /* Chunked under a load factor, kept or discarded... */
        memset(&eo, 0, sizeof(eo));
        eo.chunk = 2;
        eo.load_factor = 1;
        eo.flags = round == 1 ? NWS_SLEIGH_DISCARD : 0;
        r = nws_sleigh_each_elem(s, task, args, NULL, &eo, &err);
        ck_assert_msg(r != NULL, "each_elem: %s", err.text);
        json_decref(r);
        /* ...streamed, read one by one... */
        memset(&eo, 0, sizeof(eo));
        eo.chunk = 3;
        p = nws_sleigh_each_elem_async(s, task, NULL, NULL, &eo, &err);
        ck_assert_msg(p != NULL, "async: %s", err.text);
        for (i = 0; i < 10; i++) {
            one = json_pack("[i]", i);
            ck_assert_int_eq(nws_sleigh_pending_push(p, one, &err), 0);
            json_decref(one);
        }
        ck_assert_int_eq(nws_sleigh_pending_end(p, &err), 0);
        r = nws_sleigh_pending_wait(p, &err);
        ck_assert_msg(r != NULL && json_array_size(r) == 10, "stream: %s", err.text);
        json_decref(r);
        nws_sleigh_pending_free(p);
        /* ...and collected by another pending that attached to it. */
        p = nws_sleigh_each_elem_async(s, task, args, NULL, NULL, &err);
        ck_assert_msg(p != NULL, "async: %s", err.text);
        {
            nws_sleigh         *s2 = ss_attach(ws);
            nws_sleigh_pending *p2 = nws_sleigh_pending_attach(s2, nws_sleigh_pending_id(p),
                                                               0, &err);

            ck_assert_msg(p2 != NULL, "pending_attach: %s", err.text);
            r = nws_sleigh_pending_wait(p2, &err);
            ck_assert_msg(r != NULL && nws_sleigh_error(json_array_get(r, 6)) == NULL,
                          "attached wait: %s", err.text);
            json_decref(r);
            nws_sleigh_pending_free(p2);
            nws_sleigh_free(s2);
        }
        nws_sleigh_pending_free(p);
    }
    nwsp_sleep_ms(50);
    ck_assert_int_eq(ss_nvars(ws), vars0);
    json_decref(args);
    json_decref(task);
    nws_sleigh_free(s);
}
END_TEST

/* ---- gone: blocking calls return when what they wait for cannot come ------------ */

/* Checks that r (n elements) holds, at each i, value want[i] or error text with sub. */
static int
ss_count_errors(const json_t *r, size_t n, const char *sub)
{
    const char *e;
    size_t      i;
    int         errors = 0;

    ck_assert_msg(json_is_array(r) && json_array_size(r) == n, "not an array of %zu", n);
    for (i = 0; i < n; i++) {
        if ((e = nws_sleigh_error(json_array_get(r, i))) != NULL) {
            ck_assert_msg(strstr(e, sub) != NULL, "element %zu: %s", i, e);
            errors++;
        }
    }
    return errors;
}

START_TEST(pending_after_collected_elsewhere)
{
    nws_sleigh         *s = ss_sleigh(2, 0);
    json_t             *task = ss_task("cube"), *args = ss_json("[[0, 1, 2, 3, 4, 5]]"), *r;
    nws_sleigh_pending *p;
    nws_sleigh_result   res;
    nws_error           err;
    char                ws[128], id[64];
    pid_t               pid;
    int                 st, i, rc = -2, got = 0;

    /* A submits and goes on with something else... */
    p = nws_sleigh_each_elem_async(s, task, args, NULL, NULL, &err);
    ck_assert_msg(p != NULL, "async: %s", err.text);
    snprintf(ws, sizeof(ws), "%s", nws_sleigh_ws_name(s));
    snprintf(id, sizeof(id), "%s", nws_sleigh_pending_id(p));
    /* ...while B attaches and collects every result. */
    pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        nws_sleigh         *s2 = ss_attach(ws);
        nws_sleigh_pending *p2 = nws_sleigh_pending_attach(s2, id, 0, &err);
        json_t             *r2 = p2 != NULL ? nws_sleigh_pending_wait(p2, &err) : NULL;
        size_t              k;
        int                 ok = r2 != NULL && json_array_size(r2) == 6;

        for (k = 0; ok && k < 6; k++)
            ok = json_integer_value(json_array_get(r2, k)) == (json_int_t)(k * k * k);
        _exit(ok ? 0 : 1);
    }
    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "B failed: status %d", st);
    /* A's pending_check sees nothing left, and pending_next no longer waits for
     * ever: every element comes back as "collected elsewhere". */
    ck_assert_int_eq(nws_sleigh_pending_check(p, &err), 0);
    for (i = 0; i < 40 && rc != 0; i++) {
        rc = nws_sleigh_pending_next(p, &res, 250, &err);
        ck_assert_msg(rc == 1 || rc == 0, "next: %d (%s)", rc, err.text);
        if (rc == 1) {
            ck_assert_msg(res.error != NULL && strstr(res.error, "collected elsewhere"),
                          "element %zu: %s", res.index, res.error ? res.error : "value");
            got++;
        }
    }
    ck_assert_int_eq(got, 6);
    /* pending_wait gives the array and says why in err. */
    r = nws_sleigh_pending_wait(p, &err);
    ck_assert_msg(r != NULL, "wait: %s", err.text);
    ck_assert_int_eq(ss_count_errors(r, 6, "collected elsewhere"), 6);
    ck_assert_msg(err.code != 0 && strstr(err.text, "collected elsewhere") != NULL,
                  "err: %d %s", err.code, err.text);
    json_decref(r);
    nws_sleigh_pending_free(p);
    json_decref(args);
    json_decref(task);
    nws_sleigh_free(s);
}
END_TEST

START_TEST(wait_when_collected_while_waiting)
{
    nws_sleigh         *s = ss_sleigh(1, 0);
    json_t             *task = ss_task("sleep_ms"), *r;
    json_t             *args = ss_json("[[400, 400, 400, 400], [0, 1, 2, 3]]");
    nws_sleigh_pending *p;
    nws_error           err;
    char                ws[128], id[64];
    pid_t               pid;
    int                 st, errors, theirs;

    /* One worker: results come at 0.4, 0.8, 1.2 and 1.6 s.  B polls from the
     * start and takes the first ones; A starts waiting at 1 s, and its
     * blocking fetches, 4 of them for the 4 results it is owed, take the
     * rest.  A's extra fetches can never be served: the wait must end. */
    p = nws_sleigh_each_elem_async(s, task, args, NULL, NULL, &err);
    ck_assert_msg(p != NULL, "async: %s", err.text);
    snprintf(ws, sizeof(ws), "%s", nws_sleigh_ws_name(s));
    snprintf(id, sizeof(id), "%s", nws_sleigh_pending_id(p));
    pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        nws_sleigh         *s2 = ss_attach(ws);
        nws_sleigh_pending *p2 = nws_sleigh_pending_attach(s2, id, 0, &err);
        json_t             *r2 = p2 != NULL ? nws_sleigh_pending_wait(p2, &err) : NULL;
        size_t              k;
        int                 values = 0;

        if (r2 == NULL || json_array_size(r2) != 4)
            _exit(100);
        for (k = 0; k < 4; k++)
            values += nws_sleigh_error(json_array_get(r2, k)) == NULL;
        _exit(values);
    }
    nwsp_sleep_ms(1000);
    alarm(60); /* a hang fails the test rather than the whole run */
    r = nws_sleigh_pending_wait(p, &err);
    alarm(0);
    ck_assert_msg(r != NULL, "wait: %s", err.text);
    errors = ss_count_errors(r, 4, "collected elsewhere");
    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) <= 4, "B failed: status %d", st);
    theirs = WEXITSTATUS(st);
    /* Every element's value went to exactly one of them. */
    ck_assert_msg(theirs >= 1 && errors == theirs && errors < 4,
                  "B took %d, A lacks %d", theirs, errors);
    json_decref(r);
    nws_sleigh_pending_free(p);
    json_decref(args);
    json_decref(task);
    nws_sleigh_free(s);
}
END_TEST

START_TEST(wait_when_workspace_deleted)
{
    nws_sleigh         *s = ss_sleigh(1, 0);
    json_t             *task = ss_task("sleep_ms"), *r;
    json_t             *args = ss_json("[[10, 20000, 20000], [0, 1, 2]]");
    nws_sleigh_pending *p;
    nws_sleigh_result   res;
    nws_client         *c;
    nws_error           err;
    int                 errors;

    p = nws_sleigh_each_elem_async(s, task, args, NULL, NULL, &err);
    ck_assert_msg(p != NULL, "async: %s", err.text);
    ck_assert_int_eq(nws_sleigh_pending_next(p, &res, 10000, &err), 1);
    ck_assert_int_eq(res.index, 0);
    /* Someone else deletes the sleigh workspace while A waits. */
    c = nws_connect("127.0.0.1", ss_srv.port, 0, &err);
    ck_assert_msg(c != NULL, "connect: %s", err.text);
    ck_assert_int_eq(nws_ws_delete(c, nws_sleigh_ws_name(s), &err), 0);
    nws_close(c);
    alarm(60);
    r = nws_sleigh_pending_wait(p, &err);
    alarm(0);
    ck_assert_msg(r != NULL, "wait: %s", err.text);
    ck_assert_int_eq(json_integer_value(json_array_get(r, 0)), 0); /* kept */
    errors = ss_count_errors(r, 3, "no result: ");
    ck_assert_int_eq(errors, 2);
    ck_assert_int_ne(err.code, 0);
    json_decref(r);
    nws_sleigh_pending_free(p);
    json_decref(args);
    json_decref(task);
    nws_sleigh_free(s);
}
END_TEST

START_TEST(polled_when_workspace_deleted)
{
    nws_sleigh         *s = ss_sleigh(1, 0), *s2;
    json_t             *task = ss_task("sleep_ms"), *r;
    json_t             *args = ss_json("[[20000, 20000], [0, 1]]"), *wargs = ss_json("[20000]");
    nws_sleigh_pending *pw, *pe, *pa;
    nws_client         *c;
    nws_error           err;
    char                ws[128];

    /* Polled collection: an eachWorker batch, and a batch attached from another
     * sleigh handle; the workspace goes while both wait. */
    snprintf(ws, sizeof(ws), "%s", nws_sleigh_ws_name(s));
    pw = nws_sleigh_each_worker_async(s, task, wargs, &err);
    ck_assert_msg(pw != NULL, "each_worker_async: %s", err.text);
    pe = nws_sleigh_each_elem_async(s, task, args, NULL, NULL, &err);
    ck_assert_msg(pe != NULL, "async: %s", err.text);
    s2 = ss_attach(ws);
    pa = nws_sleigh_pending_attach(s2, nws_sleigh_pending_id(pe), 0, &err);
    ck_assert_msg(pa != NULL, "pending_attach: %s", err.text);
    c = nws_connect("127.0.0.1", ss_srv.port, 0, &err);
    ck_assert_msg(c != NULL, "connect: %s", err.text);
    ck_assert_int_eq(nws_ws_delete(c, ws, &err), 0);
    nws_close(c);
    alarm(60);
    r = nws_sleigh_pending_wait(pa, &err);
    ck_assert_msg(r != NULL, "attached wait: %s", err.text);
    ck_assert_int_eq(ss_count_errors(r, 2, "no result: "), 2);
    ck_assert_int_ne(err.code, 0);
    json_decref(r);
    r = nws_sleigh_pending_wait(pw, &err);
    alarm(0);
    ck_assert_msg(r != NULL && json_array_size(r) == 0, "each_worker wait: %s", err.text);
    ck_assert_int_ne(err.code, 0);
    json_decref(r);
    nws_sleigh_pending_free(pa);
    nws_sleigh_pending_free(pw);
    nws_sleigh_pending_free(pe);
    nws_sleigh_free(s2);
    json_decref(wargs);
    json_decref(args);
    json_decref(task);
    nws_sleigh_free(s);
}
END_TEST

START_TEST(wait_after_stop)
{
    nws_sleigh         *s = ss_sleigh(1, 0);
    json_t             *task = ss_task("sleep_ms"), *r;
    json_t             *args = ss_json("[[20000, 20000], [0, 1]]");
    nws_sleigh_pending *p;
    nws_sleigh_result   res;
    nws_error           err;

    p = nws_sleigh_each_elem_async(s, task, args, NULL, NULL, &err);
    ck_assert_msg(p != NULL, "async: %s", err.text);
    ck_assert_int_eq(nws_sleigh_pending_next(p, &res, 0, &err), NWS_SLEIGH_TIMEOUT);
    ck_assert_int_eq(nws_sleigh_stop(s, &err), 0);
    alarm(60);
    r = nws_sleigh_pending_wait(p, &err);
    alarm(0);
    ck_assert_msg(r != NULL, "wait: %s", err.text);
    ck_assert_int_eq(ss_count_errors(r, 2, "no result: "), 2);
    ck_assert_int_ne(err.code, 0);
    json_decref(r);
    nws_sleigh_pending_free(p);
    json_decref(args);
    json_decref(task);
    nws_sleigh_free(s);
}
END_TEST

START_TEST(each_elem_when_sleigh_shuts_down)
{
    nws_sleigh *s = ss_sleigh(1, 0);
    json_t     *task = ss_task("sleep_ms"), *r;
    json_t     *args = ss_json("[[20000, 20000], [0, 1]]");
    nws_error   err;
    pid_t       pid;
    int         st;
    char        ws[128];

    snprintf(ws, sizeof(ws), "%s", nws_sleigh_ws_name(s));
    pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        /* Another process ends the ride while the master blocks in each_elem. */
        nws_client *c;
        nws_ws     *w;

        nwsp_sleep_ms(500);
        if ((c = nws_connect("127.0.0.1", ss_srv.port, 0, &err)) == NULL ||
            (w = nws_ws_use(c, ws, NWS_WS_NOCREATE, &err)) == NULL ||
            nws_store_string(w, "Sleigh ride over", "1", &err) != 0)
            _exit(1);
        _exit(0);
    }
    alarm(60);
    r = nws_sleigh_each_elem(s, task, args, NULL, NULL, &err);
    alarm(0);
    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child status %d", st);
    ck_assert_msg(r != NULL, "each_elem: %s", err.text);
    ck_assert_int_eq(ss_count_errors(r, 2, "sleigh is dead"), 2);
    ck_assert_msg(strstr(err.text, "sleigh is dead") != NULL, "err: %s", err.text);
    json_decref(r);
    json_decref(args);
    json_decref(task);
    nws_sleigh_free(s);
}
END_TEST

START_TEST(no_worker_left_in_closed_group)
{
    nws_sleigh *s = ss_sleigh(1, NWS_SLEIGH_NO_RESTART);
    json_t     *task = ss_task("crash_if"), *r;
    json_t     *args = ss_json("[[0, 1, 2, 3]]"), *fixed = ss_json("[0]");
    nws_error   err;
    int         errors;

    /* The group closes with its one worker; that worker dies on element 0 (a
     * crash, not restarted): nothing can run the rest any more. */
    ck_assert_int_eq(nws_sleigh_close_group(s, &err), 0);
    alarm(60);
    r = nws_sleigh_each_elem(s, task, args, fixed, NULL, &err);
    alarm(0);
    ck_assert_msg(r != NULL, "each_elem: %s", err.text);
    errors = ss_count_errors(r, 4, "");
    ck_assert_int_eq(errors, 4);
    ck_assert_msg(strstr(nws_sleigh_error(json_array_get(r, 3)), "no worker left") != NULL,
                  "element 3: %s", nws_sleigh_error(json_array_get(r, 3)));
    json_decref(r);
    json_decref(fixed);
    json_decref(args);
    json_decref(task);
    nws_sleigh_free(s);
}
END_TEST

/* ---- failed: elements whose result is an error ----------------------------------- */

START_TEST(failed_counts_error_results)
{
    nws_sleigh          *s = ss_sleigh(2, 0);
    json_t              *task = ss_task("fail_if"), *r, *b;
    json_t              *args = ss_json("[[0, 1, 2, 3, 4, 5, 6, 7]]");
    json_t              *fixed = ss_json("[3]");
    nws_sleigh_elem_opts eo;
    nws_sleigh_pending  *p;
    nws_sleigh_progress  pr;
    nws_error            err;
    char                 ws[128], id[64];
    const char          *cmd[] = {"sh", "-c", "exit $0", NULL};
    json_t              *ctask, *cargs;

    snprintf(ws, sizeof(ws), "%s", nws_sleigh_ws_name(s));
    /* One error among 8 function elements, in chunks of 3. */
    memset(&eo, 0, sizeof(eo));
    eo.chunk = 3;
    p = nws_sleigh_each_elem_async(s, task, args, fixed, &eo, &err);
    ck_assert_msg(p != NULL, "async: %s", err.text);
    snprintf(id, sizeof(id), "%s", nws_sleigh_pending_id(p));
    r = nws_sleigh_pending_wait(p, &err);
    ck_assert_msg(r != NULL, "wait: %s", err.text);
    ck_assert_int_eq(ss_count_errors(r, 8, "3 is bad"), 1);
    ck_assert_int_eq(nws_sleigh_pending_progress(p, &pr, &err), 0);
    ck_assert_int_eq(pr.failed, 1);
    ck_assert_int_eq(pr.errors, 1);
    b = ss_api_batch(ws, id);
    ck_assert_msg(b != NULL, "batch %s not in /api/sleigh", id);
    ck_assert_int_eq(json_integer_value(json_object_get(b, "failed")), 1);
    json_decref(b);
    json_decref(r);
    nws_sleigh_pending_free(p);

    /* Commands: 2 of 5 exit non-zero. */
    ctask = nws_sleigh_command(cmd, 0);
    cargs = ss_json("[[\"0\", \"1\", \"0\", \"2\", \"0\"]]");
    p = nws_sleigh_each_elem_async(s, ctask, cargs, NULL, NULL, &err);
    ck_assert_msg(p != NULL, "async: %s", err.text);
    snprintf(id, sizeof(id), "%s", nws_sleigh_pending_id(p));
    r = nws_sleigh_pending_wait(p, &err);
    ck_assert_msg(r != NULL, "wait: %s", err.text);
    ck_assert_int_eq(ss_count_errors(r, 5, "exit status"), 2);
    ck_assert_int_eq(nws_sleigh_pending_progress(p, &pr, &err), 0);
    ck_assert_int_eq(pr.failed, 2);
    b = ss_api_batch(ws, id);
    ck_assert_msg(b != NULL, "batch %s not in /api/sleigh", id);
    ck_assert_int_eq(json_integer_value(json_object_get(b, "failed")), 2);
    ck_assert_int_eq(json_integer_value(json_object_get(b, "done")), 5);
    json_decref(b);
    json_decref(r);
    nws_sleigh_pending_free(p);
    json_decref(ctask);
    json_decref(cargs);

    json_decref(fixed);
    json_decref(args);
    json_decref(task);
    nws_sleigh_free(s);
}
END_TEST

NWSTEST_SUITE(sleigh_state)
{
    Suite *s = suite_create("sleigh_state");
    TCase *tc = tcase_create("lifetime");

    tcase_add_checked_fixture(tc, ss_setup, ss_teardown);
    tcase_set_timeout(tc, 240);
    tcase_add_test(tc, collected_batches_leave_nothing);
    tcase_add_test(tc, collected_batch_history_and_attach);
    tcase_add_test(tc, every_kind_of_batch_leaves_nothing);
    suite_add_tcase(s, tc);

    tc = tcase_create("gone");
    tcase_add_checked_fixture(tc, ss_setup, ss_teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, pending_after_collected_elsewhere);
    tcase_add_test(tc, wait_when_collected_while_waiting);
    tcase_add_test(tc, wait_when_workspace_deleted);
    tcase_add_test(tc, polled_when_workspace_deleted);
    tcase_add_test(tc, wait_after_stop);
    tcase_add_test(tc, each_elem_when_sleigh_shuts_down);
    tcase_add_test(tc, no_worker_left_in_closed_group);
    suite_add_tcase(s, tc);

    tc = tcase_create("failed");
    tcase_add_checked_fixture(tc, ss_setup, ss_teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, failed_counts_error_results);
    suite_add_tcase(s, tc);
    return s;
}
