/*
 * check_sleigh_journal.c -- a sleigh workspace survives kill -9 of its
 * server with --journal: restarted on the same DIR, the server holds the
 * queued tasks (the one running on a worker at the crash queued again),
 * the results not collected yet, and the batches' counts; a broadcast copy
 * whose worker went with the crash ends as an error result, and the kept
 * broadcast template goes to a worker that joins after the restart.  Once
 * from the journal alone, once from a compaction's snapshot plus the
 * journal after it.
 *
 * Raw protocol against a real server (a master, classic workers), SIGKILL,
 * a second real server on the same DIR.  And the same as a user of the
 * Sleigh API sees it: a batch half done by real nws-worker processes when
 * the server is killed; after the restart another process attaches to the
 * sleigh and the batch, new workers finish it, and every element has its
 * result but the ones collected before the crash.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "nws.h"
#include "nws_json.h"
#include "nws_sleigh.h"
#include "jtest.h"
#include "nwstest.h"
#include "ptest.h"
#include "rawc.h"
#include "util.h"

#define SJ_WS "sj_ride"

static char sjt_dir[256];

static void
sjt_setup(void)
{
    snprintf(sjt_dir, sizeof(sjt_dir), "/tmp/nws-sj-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(sjt_dir));
}

static void
sjt_teardown(void)
{
    char cmd[300];

    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", sjt_dir);
    ck_assert_int_eq(system(cmd), 0);
}

/* A server on the journal DIR (compact: compaction at every chance). */
static struct nwstest_server *
sjt_start(int compact)
{
    static const char *plain[] = {"--journal", NULL, "--fsync", "always", NULL};
    static const char *often[] = {"--journal",
                                  NULL,
                                  "--fsync",
                                  "always",
                                  "--journal-compact-min",
                                  "1",
                                  "--journal-compact-factor",
                                  "1",
                                  NULL};

    plain[1] = sjt_dir;
    often[1] = sjt_dir;
    return ptest_start(compact ? often : plain);
}

/* kill -9, as a crash: nothing of the server runs after it. */
static void
sjt_crash(struct nwstest_server *s)
{
    int st;

    ck_assert_int_eq(kill(s->pid, SIGKILL), 0);
    ck_assert_int_eq(waitpid(s->pid, &st, 0), s->pid);
    ck_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
    s->pid = 0;
    nwstest_server_stop(s); /* removes its --tmpdir only */
}

/* A store of val to var with metadata batchId batch. */
static void
sjt_store(struct rawc *m, const char *var, const char *batch, const char *val)
{
    char *meta = rawc_dict_new("batchId", batch, NULL);

    PT_OK_M(m, meta, "store", SJ_WS, var, "1", val);
    free(meta);
}

/* A worker connection registered as rank. */
static void
sjt_worker(struct rawc *w, int port, const char *rank)
{
    PT_OPEN(w, port, RAWC_PLAIN);
    PT_OK(w, "use ws", SJ_WS, "", "no", "no");
    PT_OK(w, "store", SJ_WS, "worker_ids", "1", rank);
}

/* The worker takes its next task, which must be want. */
static void
sjt_take(struct rawc *w, const char *want)
{
    struct rawc_reply r;

    PT_LONG(w, &r, "fetch", SJ_WS, "task");
    ck_assert_int_eq(r.status, 0);
    ck_assert_str_eq(r.value, want);
    rawc_reply_free(&r);
}

/* The next result of batch (fetchTry): want, or NULL for none; 1 if it is an error result. */
static int
sjt_result(struct rawc *m, const char *batch, const char *want)
{
    struct rawc_reply r;
    char             *meta = rawc_dict_new("batchId", batch, NULL);
    const char       *v;
    size_t            vl;
    int               err;

    PT_LONG_M(m, meta, &r, "fetchTry", SJ_WS, "result");
    free(meta);
    if (want == NULL) {
        ck_assert_msg(r.status != 0, "batch %s: a result is left: %s", batch, r.value);
        rawc_reply_free(&r);
        return 0;
    }
    ck_assert_msg(r.status == 0, "batch %s: no result, want %s", batch, want);
    ck_assert_str_eq(r.value, want);
    ck_assert_int_eq(rawc_dict_get(r.meta, r.meta_len, "batchId", &v, &vl), 1);
    ck_assert(vl == strlen(batch) && memcmp(v, batch, vl) == 0);
    err = rawc_dict_get(r.meta, r.meta_len, "nwsError", &v, &vl);
    if (err)
        ck_assert_msg(vl > 0 && memmem(v, vl, "restart", 7) != NULL, "error result: %.*s",
                      (int)vl, v);
    rawc_reply_free(&r);
    return err;
}

/* jobStatus of batch: queued, running, done and failed. */
static void
sjt_job(struct rawc *m, const char *batch, const char *queued, const char *running,
        const char *done, const char *failed)
{
    struct rawc_reply r;
    char             *meta = rawc_dict_new("batchId", batch, NULL);
    const char       *keys[] = {"nwsQueued", "nwsRunning", "nwsDone", "nwsFailed"};
    const char       *want[] = {queued, running, done, failed};
    const char       *v;
    size_t            vl, i;

    PT_LONG_M(m, meta, &r, "fetchTry", SJ_WS, "jobStatus");
    ck_assert_int_eq(r.status, 0);
    for (i = 0; i < 4; i++) {
        ck_assert_int_eq(rawc_dict_get(r.meta, r.meta_len, keys[i], &v, &vl), 1);
        ck_assert_msg(vl == strlen(want[i]) && memcmp(v, want[i], vl) == 0,
                      "batch %s %s: got %.*s, want %s", batch, keys[i], (int)vl, v,
                      want[i]);
    }
    rawc_reply_free(&r);
    free(meta);
}

/*
 * Before the crash: batch A (a0..a4) and B (b0, b1) queued; worker 0 ran
 * a0 and a1 and runs a2; ra0 was collected, ra1 waits; a broadcast (C)
 * made a copy for worker 0, not taken yet, and a template.
 */
static void
sjt_before(int port, struct rawc *m, struct rawc *w)
{
    char *meta = rawc_dict_new("wstype", "sleigh", NULL);
    char  val[16];
    int   i;

    PT_OPEN(m, port, RAWC_META);
    PT_OK_M(m, meta, "open ws", SJ_WS, "1", "yes");
    free(meta);
    for (i = 0; i < 5; i++) {
        snprintf(val, sizeof(val), "a%d", i);
        sjt_store(m, "task", "A", val);
    }
    sjt_store(m, "task", "B", "b0");
    sjt_store(m, "task", "B", "b1");
    sjt_worker(w, port, "0");
    sjt_take(w, "a0");
    PT_OK(w, "store", SJ_WS, "result", "1", "ra0");
    sjt_take(w, "a1");
    PT_OK(w, "store", SJ_WS, "result", "1", "ra1");
    sjt_take(w, "a2");
    ck_assert_int_eq(sjt_result(m, "A", "ra0"), 0);
    sjt_store(m, "broadcast", "C", "bc");
    sjt_job(m, "A", "2", "1", "2", "0");
    sjt_job(m, "B", "2", "0", "0", "0");
    sjt_job(m, "C", "1", "0", "0", "0");
}

/*
 * After the restart: everything of sjt_before is there, and runs to the
 * end (closed: the group had closed, so the broadcast template is gone).
 */
static void
sjt_after(int port, int closed)
{
    static const char *const all_tasks[] = {"bc", "a2", "a3", "a4", "b0", "b1"};
    static const char *const all_batch[] = {"C", "A", "A", "A", "B", "B"};
    const char *const       *tasks = all_tasks + (closed ? 1 : 0);
    const char *const       *batch = all_batch + (closed ? 1 : 0);
    size_t                   ntasks = 6 - (closed ? 1 : 0);
    struct rawc              m, w;
    char                     res[16];
    size_t                   i;

    PT_OPEN(&m, port, RAWC_META);
    PT_OK(&m, "use ws", SJ_WS, "", "no", "no");
    /* a2 was running at the crash: queued again.  C's copy went with its worker. */
    sjt_job(&m, "A", "3", "0", "2", "0");
    sjt_job(&m, "B", "2", "0", "0", "0");
    sjt_job(&m, "C", "0", "0", "1", "1");
    ck_assert_int_eq(sjt_result(&m, "C", ""), 1);
    ck_assert_int_eq(sjt_result(&m, "A", "ra1"), 0);
    sjt_result(&m, "A", NULL);

    /* A new worker gets the kept broadcast first, then the queue in order. */
    sjt_worker(&w, port, "0");
    for (i = 0; i < ntasks; i++) {
        sjt_take(&w, tasks[i]);
        snprintf(res, sizeof(res), "r%s", tasks[i]);
        PT_OK(&w, "store", SJ_WS, "result", "1", res);
    }
    PT_NOVAL(&w, "fetchTry", SJ_WS, "task");
    for (i = 0; i < ntasks; i++) {
        snprintf(res, sizeof(res), "r%s", tasks[i]);
        ck_assert_int_eq(sjt_result(&m, batch[i], res), 0);
    }
    sjt_result(&m, "A", NULL);
    sjt_result(&m, "B", NULL);
    sjt_job(&m, "A", "0", "0", "5", "0");
    sjt_job(&m, "B", "0", "0", "2", "0");
    sjt_job(&m, "C", "0", "0", closed ? "1" : "2", "1");
    rawc_close(&w);
    rawc_close(&m);
}

START_TEST(survives_kill9)
{
    struct nwstest_server *s = sjt_start(0);
    struct rawc            m, w;

    sjt_before(s->port, &m, &w);
    sjt_crash(s);
    rawc_close(&w);
    rawc_close(&m);
    s = sjt_start(0);
    sjt_after(s->port, 0);
    ptest_stop(s);
}
END_TEST

/*
 * A clean stop (SIGTERM, an upgrade) with the group closed: the server
 * closing its connections is not the workers dying, so nothing is failed
 * for it; after the restart the tasks are queued as after a crash.
 */
START_TEST(survives_clean_restart)
{
    struct nwstest_server *s = sjt_start(0);
    struct rawc            m, w;

    sjt_before(s->port, &m, &w);
    PT_OK(&m, "store", SJ_WS, "workerCount", "1", "1"); /* full: the group closes */
    PT_VALUE(&m, "closed", "find", SJ_WS, "join_status");
    ptest_stop(s);
    rawc_close(&w);
    rawc_close(&m);
    s = sjt_start(0);
    sjt_after(s->port, 1);
    ptest_stop(s);
}
END_TEST

/*
 * Spooled tasks and results (past --spool-threshold: files in the journal
 * directory, referred to by their records): a queued one and a waiting
 * result come back whole after kill -9, once each.
 */
START_TEST(spooled_survive_kill9)
{
    static const char *args[] = {"--journal", NULL, "--spool-threshold", "1024", NULL};
    struct nwstest_server *s;
    struct rawc            m, w;
    char                   t[3000], u[3000], res[4000], *meta;

    memset(t, 't', sizeof(t) - 1);
    t[sizeof(t) - 1] = '\0';
    memset(u, 'u', sizeof(u) - 1);
    u[sizeof(u) - 1] = '\0';
    memset(res, 'r', sizeof(res) - 1);
    res[sizeof(res) - 1] = '\0';
    args[1] = sjt_dir;
    s = ptest_start(args);
    PT_OPEN(&m, s->port, RAWC_META);
    meta = rawc_dict_new("wstype", "sleigh", NULL);
    PT_OK_M(&m, meta, "open ws", SJ_WS, "1", "yes");
    free(meta);
    sjt_store(&m, "task", "S", t);
    sjt_store(&m, "task", "S", u);
    sjt_worker(&w, s->port, "0");
    sjt_take(&w, t);
    PT_OK(&w, "store", SJ_WS, "result", "1", res);
    sjt_crash(s);
    rawc_close(&w);
    rawc_close(&m);

    s = ptest_start(args);
    PT_OPEN(&m, s->port, RAWC_META);
    PT_OK(&m, "use ws", SJ_WS, "", "no", "no");
    sjt_job(&m, "S", "1", "0", "1", "0");
    ck_assert_int_eq(sjt_result(&m, "S", res), 0);
    sjt_result(&m, "S", NULL);
    sjt_worker(&w, s->port, "0");
    sjt_take(&w, u);
    PT_OK(&w, "store", SJ_WS, "result", "1", "done");
    PT_NOVAL(&w, "fetchTry", SJ_WS, "task");
    ck_assert_int_eq(sjt_result(&m, "S", "done"), 0);
    rawc_close(&w);
    rawc_close(&m);
    ptest_stop(s);
}
END_TEST

/* Waits for a new snapshot, nudging the journal past its tiny threshold. */
static void
sjt_wait_snapshot(struct rawc *m)
{
    ck_assert_msg(jtest_wait_snapshot(m, sjt_dir, SJ_WS) == 0,
                  "no compaction within 10 s");
}

START_TEST(survives_kill9_after_compaction)
{
    struct nwstest_server *s = sjt_start(1);
    struct rawc            m, w;

    sjt_before(s->port, &m, &w);
    /* Two snapshots: the second forked after every record of sjt_before. */
    sjt_wait_snapshot(&m);
    sjt_wait_snapshot(&m);
    sjt_crash(s);
    rawc_close(&w);
    rawc_close(&m);
    s = sjt_start(0);
    sjt_after(s->port, 0);
    ptest_stop(s);
}
END_TEST

/* jobStatus of batch as one line: state, queued, running, done, failed; into buf. */
static void
sjt_job_line(struct rawc *m, const char *batch, char *buf, size_t len)
{
    struct rawc_reply r;
    char             *meta = rawc_dict_new("batchId", batch, NULL);
    const char *keys[] = {"nwsBatch", "nwsQueued", "nwsRunning", "nwsDone", "nwsFailed"};
    const char *v;
    size_t      vl, i, n = 0;

    PT_LONG_M(m, meta, &r, "fetchTry", SJ_WS, "jobStatus");
    ck_assert_int_eq(r.status, 0);
    for (i = 0; i < 5; i++) {
        ck_assert_int_eq(rawc_dict_get(r.meta, r.meta_len, keys[i], &v, &vl), 1);
        n += (size_t)snprintf(buf + n, len - n, "%s%.*s", i ? " " : "", (int)vl, v);
    }
    rawc_reply_free(&r);
    free(meta);
}

#define SJ_BATCHES 24

/*
 * Every batch's jobStatus and the workspace's variables, as one text: what
 * must be the same after the restart.
 */
static char *
sjt_state(struct rawc *m)
{
    struct rawc_reply r;
    char              id[16], line[128], *out = calloc(1, 65536);
    size_t            n = 0;
    int               i;

    ck_assert_ptr_nonnull(out);
    for (i = 0; i < SJ_BATCHES; i++) {
        snprintf(id, sizeof(id), "h%02d", i);
        sjt_job_line(m, id, line, sizeof(line));
        n += (size_t)snprintf(out + n, 65536 - n, "%s: %s\n", id, line);
    }
    PT_LONG(m, &r, "list vars", SJ_WS);
    ck_assert_int_eq(r.status, 0);
    /* Names and modes only: the counts of waiters differ with the connections. */
    n += (size_t)snprintf(out + n, 65536 - n, "vars:\n%s\n", r.value);
    rawc_reply_free(&r);
    return out;
}

/*
 * A long-lived sleigh: batches come, are run, end with their submitter's
 * record and are collected, so only the last 16 keep their counts and
 * their record variables are deleted; the last batch is ended but not
 * collected.  After kill -9 and a restart, every batch's status and the
 * workspace's variables are what they were.
 */
START_TEST(history_survives_kill9)
{
    struct nwstest_server *s = sjt_start(0);
    struct rawc            m, w;
    char                   id[16], rec[32], *meta, *before, *after;
    int                    i, k;

    sjt_before(s->port, &m, &w);
    /* The worker holds a2: give it back, so the batches below run in order. */
    PT_OK(&w, "store", SJ_WS, "result", "1", "ra2");
    for (i = 0; i < SJ_BATCHES; i++) {
        snprintf(id, sizeof(id), "h%02d", i);
        snprintf(rec, sizeof(rec), "%sa", id);
        sjt_store(&m, "task", id, rec);
        snprintf(rec, sizeof(rec), "%sb", id);
        sjt_store(&m, "task", id, rec);
    }
    /* Its broadcast copy bc, the queue a3, a4, b0, b1, then two tasks per batch. */
    for (k = 0; k < 5 + 2 * SJ_BATCHES; k++) {
        struct rawc_reply r;

        PT_LONG(&w, &r, "fetch", SJ_WS, "task");
        ck_assert_int_eq(r.status, 0);
        snprintf(rec, sizeof(rec), "r%s", r.value);
        rawc_reply_free(&r);
        PT_OK(&w, "store", SJ_WS, "result", "1", rec);
    }
    for (i = 0; i < SJ_BATCHES; i++) {
        snprintf(id, sizeof(id), "h%02d", i);
        snprintf(rec, sizeof(rec), "record %s", id);
        meta = rawc_dict_new("nwsRecord", "1", "batchId", id, NULL);
        PT_OK_M(&m, meta, "store", SJ_WS, rec, "1", "{}");
        free(meta);
        if (i == SJ_BATCHES - 1)
            break; /* its results stay */
        snprintf(rec, sizeof(rec), "r%sa", id);
        ck_assert_int_eq(sjt_result(&m, id, rec), 0);
        snprintf(rec, sizeof(rec), "r%sb", id);
        ck_assert_int_eq(sjt_result(&m, id, rec), 0);
    }
    before = sjt_state(&m);
    ck_assert_msg(
        strstr(before, "h00: none") != NULL && strstr(before, "h22: collected") &&
            strstr(before, "h23: ended 0 0 2 0") && !strstr(before, "record h22"),
        "the state before the crash is not the one this test means:\n%s", before);
    sjt_crash(s);
    rawc_close(&w);
    rawc_close(&m);

    s = sjt_start(0);
    PT_OPEN(&m, s->port, RAWC_META);
    PT_OK(&m, "use ws", SJ_WS, "", "no", "no");
    after = sjt_state(&m);
    ck_assert_msg(strcmp(before, after) == 0, "before the crash:\n%s\nafter:\n%s", before,
                  after);
    free(before);
    free(after);
    rawc_close(&m);
    ptest_stop(s);
}
END_TEST

#define SJ_ELEMS 20

/* Options for the Sleigh API on port: n local nws-worker processes. */
static void
sjt_options(nws_sleigh_options *o, int port, int n)
{
    static char worker[512];

    nwstest_bin("nws-worker", worker, sizeof(worker));
    nws_sleigh_options_init(o);
    o->host = "127.0.0.1";
    o->port = port;
    o->workers = n;
    o->worker_path = worker;
    o->verbose = getenv("NWSTEST_VERBOSE") != NULL;
}

START_TEST(api_batch_survives_kill9)
{
    const char            *mods = getenv("NWS_MODULES_DIR");
    struct nwstest_server *s = sjt_start(0);
    nws_sleigh_options     o;
    nws_sleigh            *sl;
    nws_sleigh_pending    *p;
    nws_sleigh_result      r;
    nws_error              err;
    json_t                *task, *args, *ms, *ids, *res, *e;
    char                   module[512], ws[128], batch[128];
    int                    taken[SJ_ELEMS] = {0}, i, n;

    snprintf(module, sizeof(module), "%s/sleigh_test.so",
             mods != NULL ? mods : "build/modules");
    task = nws_sleigh_call(module, "sleep_ms");
    ms = json_array();
    ids = json_array();
    /* Three quick elements, then slow ones: nothing but the three is done
     * by the time the master has taken them and let go of the batch. */
    for (i = 0; i < SJ_ELEMS; i++) {
        json_array_append_new(ms, json_integer(i < 3 ? 20 : 2000));
        json_array_append_new(ids, json_integer(i));
    }
    args = json_pack("[oo]", ms, ids);

    sjt_options(&o, s->port, 2);
    o.flags = NWS_SLEIGH_PERSISTENT;
    sl = nws_sleigh_new(&o, &err);
    ck_assert_msg(sl != NULL, "nws_sleigh_new: %s", err.text);
    p = nws_sleigh_each_elem_async(sl, task, args, NULL, NULL, &err);
    ck_assert_msg(p != NULL, "each_elem_async: %s", err.text);
    snprintf(ws, sizeof(ws), "%s", nws_sleigh_ws_name(sl));
    snprintf(batch, sizeof(batch), "%s", nws_sleigh_pending_id(p));
    for (n = 0; n < 3; n++) {
        ck_assert_int_eq(nws_sleigh_pending_next(p, &r, 20000, &err), 1);
        ck_assert_int_eq(json_integer_value(r.value), (json_int_t)r.index);
        taken[r.index] = 1;
    }
    /* Its fetches in flight go with its connection: from now on results
     * stay in the server.  Some slow ones are done at the crash, some run,
     * the rest are queued. */
    nws_sleigh_pending_free(p);
    usleep(2500 * 1000);
    sjt_crash(s);
    nws_sleigh_free(sl); /* its workers lost the server and exit */

    s = sjt_start(0);
    sjt_options(&o, s->port, 4);
    sl = nws_sleigh_attach(ws, &o, &err);
    ck_assert_msg(sl != NULL, "attach %s after the restart: %s", ws, err.text);
    p = nws_sleigh_pending_attach(sl, batch, 0, &err);
    ck_assert_msg(p != NULL, "attach batch %s after the restart: %s", batch, err.text);
    res = nws_sleigh_pending_wait(p, &err);
    ck_assert_msg(res != NULL, "pending_wait: %s", err.text);
    ck_assert_int_eq(json_array_size(res), SJ_ELEMS);
    for (i = 0; i < SJ_ELEMS; i++) {
        e = json_array_get(res, (size_t)i);
        if (taken[i])
            ck_assert_msg(nws_sleigh_error(e) != NULL,
                          "element %d, collected before the crash, came again", i);
        else
            ck_assert_msg(nws_sleigh_error(e) == NULL && json_integer_value(e) == i,
                          "element %d: %s", i,
                          nws_sleigh_error(e) ? nws_sleigh_error(e) : "a wrong value");
    }
    json_decref(res);
    nws_sleigh_pending_free(p);
    ck_assert_int_eq(nws_sleigh_stop(sl, &err), 0);
    nws_sleigh_free(sl);
    json_decref(args);
    json_decref(task);
    ptest_stop(s);
}
END_TEST

#define SJ_LOOP_ELEMS  300
#define SJ_LOOP_CRASHS 4

/*
 * The server killed -9 again and again under a running batch: each time a
 * new master attaches and new workers join.  No element's result is ever
 * handed out twice (a task done before a crash never runs again), and the
 * last master gets every element's result but those handed to the masters
 * before it, including what their fetches in flight took when they died
 * (at most the library's 32 per master).
 */
START_TEST(api_crash_loop)
{
    const char            *mods = getenv("NWS_MODULES_DIR");
    struct nwstest_server *s = sjt_start(0);
    nws_sleigh_options     o;
    nws_sleigh            *sl;
    nws_sleigh_pending    *p;
    nws_sleigh_result      r;
    nws_error              err;
    json_t                *task, *args, *ms, *ids, *res, *e;
    char                   module[512], ws[128], batch[128];
    int                    seen[SJ_LOOP_ELEMS] = {0}, cycle, i, rc, lost = 0, got = 0;
    double                 until;

    snprintf(module, sizeof(module), "%s/sleigh_test.so",
             mods != NULL ? mods : "build/modules");
    task = nws_sleigh_call(module, "sleep_ms");
    ms = json_array();
    ids = json_array();
    for (i = 0; i < SJ_LOOP_ELEMS; i++) {
        json_array_append_new(ms, json_integer(50));
        json_array_append_new(ids, json_integer(i));
    }
    args = json_pack("[oo]", ms, ids);
    srandom((unsigned)getpid());
    for (cycle = 0; cycle <= SJ_LOOP_CRASHS; cycle++) {
        sjt_options(&o, s->port, 3);
        if (cycle == 0) {
            o.flags = NWS_SLEIGH_PERSISTENT;
            sl = nws_sleigh_new(&o, &err);
            ck_assert_msg(sl != NULL, "nws_sleigh_new: %s", err.text);
            p = nws_sleigh_each_elem_async(sl, task, args, NULL, NULL, &err);
            ck_assert_msg(p != NULL, "each_elem_async: %s", err.text);
            snprintf(ws, sizeof(ws), "%s", nws_sleigh_ws_name(sl));
            snprintf(batch, sizeof(batch), "%s", nws_sleigh_pending_id(p));
        } else {
            sl = nws_sleigh_attach(ws, &o, &err);
            ck_assert_msg(sl != NULL, "cycle %d: attach: %s", cycle, err.text);
            p = nws_sleigh_pending_attach(sl, batch, SJ_LOOP_ELEMS, &err);
            ck_assert_msg(p != NULL, "cycle %d: attach batch: %s", cycle, err.text);
        }
        if (cycle == SJ_LOOP_CRASHS)
            break;
        /* Take results for a while, then the crash. */
        until = nwsp_mono() + 0.2 + (double)(random() % 400) / 1000;
        while (nwsp_mono() < until &&
               (rc = nws_sleigh_pending_next(p, &r, 50, &err)) != 0) {
            ck_assert_msg(rc == 1 || rc == NWS_SLEIGH_TIMEOUT, "cycle %d: %s", cycle,
                          err.text);
            if (rc != 1 || r.error != NULL)
                continue;
            ck_assert_int_eq(json_integer_value(r.value), (json_int_t)r.index);
            seen[r.index]++;
            got++;
        }
        sjt_crash(s);
        nws_sleigh_pending_free(p);
        nws_sleigh_free(sl);
        s = sjt_start(0);
    }
    res = nws_sleigh_pending_wait(p, &err);
    ck_assert_msg(res != NULL, "pending_wait: %s", err.text);
    for (i = 0; i < SJ_LOOP_ELEMS; i++) {
        e = json_array_get(res, (size_t)i);
        if (nws_sleigh_error(e) != NULL) {
            ck_assert_msg(strstr(nws_sleigh_error(e), "collected elsewhere") != NULL,
                          "element %d: %s", i, nws_sleigh_error(e));
            lost += seen[i] == 0;
            continue;
        }
        ck_assert_int_eq(json_integer_value(e), i);
        seen[i]++;
    }
    for (i = 0; i < SJ_LOOP_ELEMS; i++)
        ck_assert_msg(seen[i] <= 1, "element %d: its result came %d times", i, seen[i]);
    printf("api_crash_loop: %d results taken before %d crashes, %d went with the fetches "
           "of dead masters\n",
           got, SJ_LOOP_CRASHS, lost);
    ck_assert_msg(lost <= 32 * SJ_LOOP_CRASHS,
                  "%d results went to no master (taken before the crashes: %d)", lost,
                  got);
    json_decref(res);
    nws_sleigh_pending_free(p);
    ck_assert_int_eq(nws_sleigh_stop(sl, &err), 0);
    nws_sleigh_free(sl);
    json_decref(args);
    json_decref(task);
    ptest_stop(s);
}
END_TEST

NWSTEST_SUITE(sleigh_journal)
{
    Suite *s = suite_create("sleigh_journal");
    TCase *tc = tcase_create("restart");

    tcase_add_checked_fixture(tc, sjt_setup, sjt_teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, survives_kill9);
    tcase_add_test(tc, survives_kill9_after_compaction);
    tcase_add_test(tc, history_survives_kill9);
    tcase_add_test(tc, survives_clean_restart);
    tcase_add_test(tc, spooled_survive_kill9);
    suite_add_tcase(s, tc);
    tc = tcase_create("api");
    tcase_add_checked_fixture(tc, sjt_setup, sjt_teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, api_batch_survives_kill9);
    tcase_add_test(tc, api_crash_loop);
    suite_add_tcase(s, tc);
    return s;
}
