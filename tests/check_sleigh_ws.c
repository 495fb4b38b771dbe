/*
 * check_sleigh_ws.c -- the server's sleigh workspaces, over the raw protocol.
 *
 * Each test plays master, workers and sentinels with raw connections against
 * a real server: registration, dispatch only to registered workers, results
 * kept per batch, jobStatus counts, the join phase, shutdown, and what the
 * classic plugin lacked: a dead worker's task is run again elsewhere, or
 * after the retry limit becomes an nwsNull error result; its broadcast
 * copies become error results at once; waiters of dead connections are
 * dropped (Q26).  And our worker's extension: nwsKeep takes several tasks
 * at once, results find their task by metadata, and a worker that dies
 * holding several charges none of them.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "nwstest.h"
#include "ptest.h"
#include "rawc.h"

static struct nwstest_server *sw_srv;

static void
sw_setup(void)
{
    sw_srv = ptest_start(NULL);
}

static void
sw_teardown(void)
{
    ptest_stop(sw_srv);
}

/* Makes a sleigh workspace with mktemp and opens it as its owner; name in buf. */
static void
sw_make(struct rawc *m, const char *extra_key, const char *extra_val, char *buf, size_t len)
{
    struct rawc_reply r;
    char             *meta = rawc_dict_new("wstype", "sleigh", extra_key, extra_val, NULL);

    PT_OPEN(m, sw_srv->port, RAWC_META);
    PT_LONG_M(m, meta, &r, "mktemp ws", "sleigh_ride_%04d");
    ck_assert_int_eq(r.status, 0);
    ck_assert(r.len < len);
    memcpy(buf, r.value, r.len);
    buf[r.len] = '\0';
    rawc_reply_free(&r);
    free(meta);
    PT_OK(m, "open ws", buf, "1", "no");
}

/* A worker connection registered as rank (no metadata, as classic workers). */
static void
sw_worker(struct rawc *w, const char *ws, const char *rank)
{
    PT_OPEN(w, sw_srv->port, RAWC_PLAIN);
    PT_OK(w, "use ws", ws, "", "no", "no");
    PT_OK(w, "store", ws, "worker_ids", "1", rank);
}

/* Stores a task of batch into ws. */
static void
sw_task(struct rawc *m, const char *ws, const char *batch, const char *val)
{
    char *meta = rawc_dict_new("batchId", batch, NULL);

    PT_OK_M(m, meta, "store", ws, "task", "1", val);
    free(meta);
}

/* Fetches a result of batch (blocking) and checks its value and rank. */
static void
sw_result(struct rawc *m, const char *ws, const char *batch, const char *val,
          const char *rank)
{
    struct rawc_reply r;
    char             *meta = rawc_dict_new("batchId", batch, NULL);
    const char       *v;
    size_t            vl;

    PT_LONG_M(m, meta, &r, "fetch", ws, "result");
    ck_assert_int_eq(r.status, 0);
    if (val != NULL)
        ck_assert_str_eq(r.value, val);
    ck_assert_int_eq(rawc_dict_get(r.meta, r.meta_len, "batchId", &v, &vl), 1);
    ck_assert(vl == strlen(batch) && memcmp(v, batch, vl) == 0);
    if (rank != NULL) {
        ck_assert_int_eq(rawc_dict_get(r.meta, r.meta_len, "nwsWorkerRank", &v, &vl), 1);
        ck_assert(vl == strlen(rank) && memcmp(v, rank, vl) == 0);
    }
    rawc_reply_free(&r);
    free(meta);
}

/* jobStatus of batch: checks the pending count and the detailed counts. */
static void
sw_job(struct rawc *m, const char *ws, const char *batch, const char *pending,
       const char *queued, const char *running, const char *done, const char *failed)
{
    struct rawc_reply r;
    char             *meta = rawc_dict_new("batchId", batch, NULL);
    const char       *keys[] = {"nwsQueued", "nwsRunning", "nwsDone", "nwsFailed"};
    const char       *want[] = {queued, running, done, failed};
    const char       *v;
    size_t            vl, i;

    PT_LONG_M(m, meta, &r, "fetchTry", ws, "jobStatus");
    ck_assert_int_eq(r.status, 0);
    ck_assert_str_eq(r.value, pending);
    for (i = 0; i < 4; i++) {
        ck_assert_int_eq(rawc_dict_get(r.meta, r.meta_len, keys[i], &v, &vl), 1);
        ck_assert_msg(vl == strlen(want[i]) && memcmp(v, want[i], vl) == 0,
                      "%s: got %.*s, want %s", keys[i], (int)vl, v, want[i]);
    }
    rawc_reply_free(&r);
    free(meta);
}

START_TEST(registration_and_listing)
{
    struct rawc m, w0, w1;
    char        ws[128], line[256];
    struct rawc_reply r;

    sw_make(&m, NULL, NULL, ws, sizeof(ws));
    /* The classic masters look for this to choose plugin mode (section 13.1). */
    PT_VALUE(&m, "1", "findTry", ws, "version");
    PT_VALUE(&m, "open", "find", ws, "join_status");
    sw_worker(&w0, ws, "0");
    PT_OPEN(&w1, sw_srv->port, RAWC_META);
    PT_OK(&w1, "use ws", ws, "", "no", "no");
    PT_SHORT(&w1, 1, "Worker registration failed: duplicate worker id.", "store", ws,
             "worker_ids", "1", "0");
    PT_SHORT(&w1, 1, "Worker registration failed: bad worker id.", "store", ws,
             "worker_ids", "1", "x");
    PT_OK(&w1, "store", ws, "worker_ids", "1", "1");
    PT_VALUE(&m, "2", "find", ws, "rankCount");
    /* Special variables are listed in mode custom; hidden ones are not. */
    ck_assert_str_eq(PT_VARLINE(&m, ws, "task", line), "task\t0\t0\t0\tcustom");
    ck_assert_str_eq(PT_VARLINE(&m, ws, "result", line), "result\t0\t0\t0\tcustom");
    PT_LONG(&m, &r, "list vars", ws);
    ck_assert_ptr_null(strstr(r.value, "worker_ids"));
    ck_assert_ptr_null(strstr(r.value, "\nversion\t"));
    ck_assert_ptr_nonnull(strstr(r.value, "\nplugin_version\t"));
    rawc_reply_free(&r);
    PT_SHORT(&m, 1, "Store is not supported for this variable.", "store", ws, "version",
             "1", "2");
    PT_SHORT(&m, 1, "Cannot delete a sleigh variable.", "delete var", ws, "task");
    rawc_close(&w0);
    rawc_close(&w1);
    rawc_close(&m);
}
END_TEST

START_TEST(tasks_only_to_registered_workers)
{
    struct rawc       m, w, stranger;
    struct rawc_reply r;
    char              ws[128], line[256];

    sw_make(&m, NULL, NULL, ws, sizeof(ws));
    PT_OPEN(&stranger, sw_srv->port, RAWC_META);
    PT_OK(&stranger, "use ws", ws, "", "no", "no");
    PT_RC(&stranger, rawc_sendv(&stranger, NULL, "fetch", ws, "task", NULL));
    sw_worker(&w, ws, "0");
    PT_RC(&w, rawc_sendv(&w, NULL, "fetch", ws, "task", NULL));
    PT_WAIT_WAITERS(&m, ws, "task", 2, 0);
    sw_task(&m, ws, "b1", "t1");
    PT_RC(&w, rawc_read_long(&w, &r));
    PT_IS_VALUE(&w, &r, 1, "t1", 2, NULL);
    rawc_reply_free(&r);
    /* The unregistered connection still waits, and the task is not queued twice. */
    ck_assert_int_eq(rawc_expect_silence(&stranger, 200), 0);
    ck_assert_str_eq(PT_VARLINE(&m, ws, "task", line), "task\t0\t1\t0\tcustom");
    PT_LERR(&m, 1, "find is not supported on the task queue", "find", ws, "task");
    PT_SHORT(&m, 1, "No task is running on this connection.", "store", ws, "result", "1",
             "x");
    rawc_close(&stranger);
    rawc_close(&w);
    rawc_close(&m);
}
END_TEST

START_TEST(results_per_batch_and_job_status)
{
    struct rawc       m, w;
    struct rawc_reply r;
    char              ws[128];
    char             *b2 = rawc_dict_new("batchId", "b2", NULL);

    sw_make(&m, NULL, NULL, ws, sizeof(ws));
    sw_worker(&w, ws, "3");
    sw_task(&m, ws, "b1", "a");
    sw_task(&m, ws, "b2", "b");
    sw_task(&m, ws, "b1", "c");
    sw_job(&m, ws, "b1", "2", "2", "0", "0", "0");
    /* Results of b2 are not visible to a b1 fetcher, and the reverse. */
    PT_VALUE(&w, "a", "fetch", ws, "task");
    sw_job(&m, ws, "b1", "2", "1", "1", "0", "0");
    PT_OK(&w, "store", ws, "result", "1", "A");
    PT_VALUE(&w, "b", "fetch", ws, "task");
    PT_OK(&w, "store", ws, "result", "1", "B");
    PT_LONG_M(&m, b2, &r, "fetchTry", ws, "result");
    ck_assert_int_eq(r.status, 0);
    ck_assert_str_eq(r.value, "B");
    rawc_reply_free(&r);
    PT_LONG_M(&m, b2, &r, "fetchTry", ws, "result");
    PT_IS_ERROR(&m, &r, 1, "no value available");
    rawc_reply_free(&r);
    sw_result(&m, ws, "b1", "A", "3");
    sw_job(&m, ws, "b1", "1", "1", "0", "1", "0");
    PT_VALUE(&w, "c", "fetch", ws, "task");
    PT_OK(&w, "store", ws, "result", "1", "C");
    sw_result(&m, ws, "b1", "C", "3");
    sw_job(&m, ws, "b1", "0", "0", "0", "2", "0");
    /* An id nobody stored to: all zero, and nothing is waiting there. */
    sw_job(&m, ws, "nope", "0", "0", "0", "0", "0");
    PT_NOVAL(&m, "fetchTry", ws, "result");
    free(b2);
    rawc_close(&w);
    rawc_close(&m);
}
END_TEST

START_TEST(dead_worker_task_runs_elsewhere)
{
    struct rawc m, w0, w1;
    char        ws[128];

    sw_make(&m, NULL, NULL, ws, sizeof(ws));
    sw_worker(&w0, ws, "0");
    sw_worker(&w1, ws, "1");
    sw_task(&m, ws, "b", "only");
    PT_VALUE(&w0, "only", "fetch", ws, "task");
    /* w1 waits; w0 dies holding the task: w1 gets it, nothing is lost. */
    PT_RC(&w1, rawc_sendv(&w1, NULL, "fetch", ws, "task", NULL));
    PT_WAIT_WAITERS(&m, ws, "task", 1, 0);
    rawc_close(&w0);
    {
        struct rawc_reply r;

        PT_RC(&w1, rawc_read_long(&w1, &r));
        PT_IS_VALUE(&w1, &r, 1, "only", 4, NULL);
        rawc_reply_free(&r);
    }
    PT_OK(&w1, "store", ws, "result", "1", "done");
    sw_result(&m, ws, "b", "done", "1");
    sw_job(&m, ws, "b", "0", "0", "0", "1", "0");
    rawc_close(&w1);
    rawc_close(&m);
}
END_TEST

START_TEST(retry_limit_gives_error_result)
{
    struct rawc       m, w;
    struct rawc_reply r;
    char              ws[128];
    char             *b = rawc_dict_new("batchId", "b", NULL);
    const char       *v;
    size_t            vl;

    sw_make(&m, "retries", "1", ws, sizeof(ws));
    sw_task(&m, ws, "b", "poison");
    sw_worker(&w, ws, "0");
    PT_VALUE(&w, "poison", "fetch", ws, "task");
    rawc_close(&w); /* first death: the task is queued again */
    sw_job(&m, ws, "b", "1", "1", "0", "0", "0");
    sw_worker(&w, ws, "1");
    PT_VALUE(&w, "poison", "fetch", ws, "task");
    rawc_close(&w); /* second death: past the limit */
    PT_LONG_M(&m, b, &r, "fetch", ws, "result");
    ck_assert_int_eq(r.status, 0);
    ck_assert_uint_eq(r.len, 0);
    ck_assert_int_eq(rawc_dict_get(r.meta, r.meta_len, "nwsNull", &v, &vl), 1);
    ck_assert(vl == 1 && v[0] == '1');
    ck_assert_int_eq(rawc_dict_get(r.meta, r.meta_len, "nwsError", &v, &vl), 1);
    ck_assert(vl > 0);
    rawc_reply_free(&r);
    sw_job(&m, ws, "b", "0", "0", "0", "1", "1");
    free(b);
    rawc_close(&m);
}
END_TEST

START_TEST(broadcast_copies)
{
    struct rawc       m, w0, w1;
    struct rawc_reply r;
    char              ws[128];
    char             *b = rawc_dict_new("batchId", "init", NULL);
    int               i, nnull = 0, nok = 0;
    const char       *v;
    size_t            vl;

    sw_make(&m, NULL, NULL, ws, sizeof(ws));
    sw_worker(&w0, ws, "0");
    sw_worker(&w1, ws, "1");
    PT_OK_M(&m, b, "store", ws, "broadcast", "1", "setup");
    PT_VALUE(&m, "joining", "find", ws, "join_status");
    /* w0 runs its copy; w1 leaves without taking its copy. */
    PT_VALUE(&w0, "setup", "fetch", ws, "task");
    PT_OK(&w0, "store", ws, "result", "1", "ok");
    rawc_close(&w1);
    for (i = 0; i < 2; i++) {
        PT_LONG_M(&m, b, &r, "fetch", ws, "result");
        ck_assert_int_eq(r.status, 0);
        if (rawc_dict_get(r.meta, r.meta_len, "nwsNull", &v, &vl) == 1)
            nnull++;
        else if (strcmp(r.value, "ok") == 0)
            nok++;
        rawc_reply_free(&r);
    }
    ck_assert_int_eq(nok, 1);
    ck_assert_int_eq(nnull, 1);
    free(b);
    rawc_close(&w0);
    rawc_close(&m);
}
END_TEST

START_TEST(join_phase_and_sentinels)
{
    struct rawc       m, s, w0, w1;
    struct rawc_reply r;
    char              ws[128];
    char             *delay = rawc_dict_new("delay", "0.2", NULL);
    const char       *v;
    size_t            vl;

    sw_make(&m, NULL, NULL, ws, sizeof(ws));
    PT_OK(&m, "store", ws, "workerCount", "1", "2");
    /* A sentinel allocates ranks; metadata allocated=1. */
    PT_OPEN(&s, sw_srv->port, RAWC_META);
    PT_OK(&s, "use ws", ws, "", "no", "no");
    PT_LONG(&s, &r, "fetch", ws, "worker_ids");
    ck_assert_str_eq(r.value, "0");
    ck_assert_int_eq(rawc_dict_get(r.meta, r.meta_len, "allocated", &v, &vl), 1);
    ck_assert(vl == 1 && v[0] == '1');
    rawc_reply_free(&r);
    PT_LONG(&s, &r, "fetch", ws, "worker_ids");
    ck_assert_str_eq(r.value, "1");
    rawc_reply_free(&r);
    PT_LONG(&s, &r, "fetch", ws, "worker_ids");
    ck_assert_str_eq(r.value, "-1"); /* the group is full */
    rawc_reply_free(&r);
    PT_LONG(&s, &r, "find", ws, "worker_ids");
    ck_assert_str_eq(r.value, "2");
    ck_assert_int_eq(rawc_dict_get(r.meta, r.meta_len, "allocated", &v, &vl), 1);
    ck_assert(vl == 1 && v[0] == '0');
    rawc_reply_free(&r);
    /* waitForWorkers gives up after its delay with the registered count. */
    sw_worker(&w0, ws, "0");
    PT_LONG_M(&m, delay, &r, "fetch", ws, "waitForWorkers");
    PT_IS_STR(&m, &r, "1");
    rawc_reply_free(&r);
    /* The last expected worker closes the group and wakes status waiters. */
    PT_RC(&m, rawc_sendv(&m, NULL, "find", ws, "status", NULL));
    sw_worker(&w1, ws, "1");
    PT_RC(&m, rawc_read_long(&m, &r));
    PT_IS_STR(&m, &r, "2");
    rawc_reply_free(&r);
    PT_VALUE(&m, "closed", "find", ws, "join_status");
    {
        struct rawc late;

        PT_OPEN(&late, sw_srv->port, RAWC_META);
        PT_OK(&late, "use ws", ws, "", "no", "no");
        PT_SHORT(&late, 1, "Worker registration failed: group closed.", "store", ws,
                 "worker_ids", "1", "2");
        rawc_close(&late);
    }
    /* Shutdown: the sentinel hears "1"; task stores fail with 5001. */
    PT_RC(&s, rawc_sendv(&s, NULL, "fetch", ws, "sentinel_alive", NULL));
    ck_assert_int_eq(rawc_expect_silence(&s, 100), 0);
    PT_RC(&w0, rawc_sendv(&w0, NULL, "fetch", ws, "task", NULL));
    PT_WAIT_WAITERS(&m, ws, "task", 1, 0);
    PT_OK(&m, "store", ws, "Sleigh ride over", "1", "1");
    PT_RC(&s, rawc_read_long(&s, &r));
    ck_assert_str_eq(r.value, "1");
    rawc_reply_free(&r);
    PT_SHORT(&m, 5001, "Store failed: sleigh is shutting down.", "store", ws, "task", "1",
             "late");
    PT_LERR(&m, 1, "sleigh is dead", "fetch", ws, "result");
    PT_LERR(&w1, 1, "sleigh is dead", "fetch", ws, "task");
    /* A worker already waiting is not woken by shutdown; delete ws ends its wait. */
    ck_assert_int_eq(rawc_expect_silence(&w0, 100), 0);
    PT_OK(&m, "delete ws", ws);
    PT_RC(&w0, rawc_read_long(&w0, &r));
    PT_IS_ERROR(&w0, &r, 1, "Variable purged.");
    rawc_reply_free(&r);
    free(delay);
    rawc_close(&w0);
    rawc_close(&w1);
    rawc_close(&s);
    rawc_close(&m);
}
END_TEST

START_TEST(owner_disconnect_purges_and_frees_workers)
{
    struct rawc       m, w, o;
    struct rawc_reply r;
    char              ws[128];

    sw_make(&m, NULL, NULL, ws, sizeof(ws));
    sw_worker(&w, ws, "0");
    PT_RC(&w, rawc_sendv(&w, NULL, "fetch", ws, "task", NULL));
    PT_OPEN(&o, sw_srv->port, RAWC_META);
    PT_WAIT_WAITERS(&m, ws, "task", 1, 0);
    /* The master dies: its non-persistent sleigh goes, and the worker is told. */
    rawc_close(&m);
    PT_RC(&w, rawc_read_long(&w, &r));
    PT_IS_ERROR(&w, &r, 1, "Variable purged.");
    rawc_reply_free(&r);
    PT_WAIT_WS(&o, ws, 0);
    rawc_close(&w);
    rawc_close(&o);
}
END_TEST

/* A worker connection with metadata (as nws-worker), registered as rank. */
static void
sw_worker_meta(struct rawc *w, const char *ws, const char *rank)
{
    PT_OPEN(w, sw_srv->port, RAWC_META);
    PT_OK(w, "use ws", ws, "", "no", "no");
    PT_OK(w, "store", ws, "worker_ids", "1", rank);
}

/* Stores a task of batch into ws with metadata nwsFirst=first. */
static void
sw_task_first(struct rawc *m, const char *ws, const char *batch, const char *first,
              const char *val)
{
    char *meta = rawc_dict_new("batchId", batch, "nwsFirst", first, NULL);

    PT_OK_M(m, meta, "store", ws, "task", "1", val);
    free(meta);
}

/* Fetches a result of batch; checks value and nwsFirst (NULL val: an nwsNull one). */
static void
sw_result_first(struct rawc *m, const char *ws, const char *batch, const char *val,
                const char *first)
{
    struct rawc_reply r;
    char             *meta = rawc_dict_new("batchId", batch, NULL);
    const char       *v;
    size_t            vl;

    PT_LONG_M(m, meta, &r, "fetch", ws, "result");
    ck_assert_int_eq(r.status, 0);
    if (val != NULL)
        ck_assert_str_eq(r.value, val);
    else
        ck_assert_int_eq(rawc_dict_get(r.meta, r.meta_len, "nwsNull", &v, &vl), 1);
    ck_assert_int_eq(rawc_dict_get(r.meta, r.meta_len, "nwsFirst", &v, &vl), 1);
    ck_assert_msg(vl == strlen(first) && memcmp(v, first, vl) == 0, "nwsFirst %.*s, want %s",
                  (int)vl, v, first);
    rawc_reply_free(&r);
    free(meta);
}

/* op on task with request metadata meta: want's value, or "no value" when NULL. */
static void
sw_take(struct rawc *w, const char *meta, const char *op, const char *ws, const char *want)
{
    struct rawc_reply r;

    PT_LONG_M(w, meta, &r, op, ws, "task");
    if (want != NULL) {
        ck_assert_msg(r.status == 0, "%s task: status %d, want %s", op, r.status, want);
        ck_assert_str_eq(r.value, want);
    } else {
        PT_IS_ERROR(w, &r, 1, "no value available");
    }
    rawc_reply_free(&r);
}

START_TEST(keep_takes_several_tasks)
{
    struct rawc m, w;
    char        ws[128];
    char       *keep = rawc_dict_new("nwsKeep", "1", NULL);
    char       *which = rawc_dict_new("batchId", "b", "nwsFirst", "1", NULL);

    sw_make(&m, NULL, NULL, ws, sizeof(ws));
    sw_worker_meta(&w, ws, "0");
    sw_task_first(&m, ws, "b", "0", "t0");
    sw_task_first(&m, ws, "b", "1", "t1");
    sw_task_first(&m, ws, "b", "2", "t2");
    sw_take(&w, NULL, "fetch", ws, "t0");
    sw_take(&w, keep, "fetchTry", ws, "t1");
    sw_job(&m, ws, "b", "3", "1", "2", "0", "0");
    sw_take(&w, keep, "fetchTry", ws, "t2");
    sw_take(&w, keep, "fetchTry", ws, NULL); /* the queue is empty */
    sw_job(&m, ws, "b", "3", "0", "3", "0", "0");
    /* A store naming its task ends that one; one naming none ends the oldest. */
    PT_OK_M(&w, which, "store", ws, "result", "1", "R1");
    PT_OK(&w, "store", ws, "result", "1", "R0");
    sw_result_first(&m, ws, "b", "R1", "1");
    sw_result_first(&m, ws, "b", "R0", "0");
    sw_job(&m, ws, "b", "1", "0", "1", "2", "0");
    /* A fetch without nwsKeep, as classic workers send: t2 goes back first. */
    sw_take(&w, NULL, "fetch", ws, "t2");
    sw_job(&m, ws, "b", "1", "0", "1", "2", "0");
    PT_OK(&w, "store", ws, "result", "1", "R2");
    sw_result_first(&m, ws, "b", "R2", "2");
    sw_job(&m, ws, "b", "0", "0", "0", "3", "0");
    free(keep);
    free(which);
    rawc_close(&w);
    rawc_close(&m);
}
END_TEST

START_TEST(death_holding_several_charges_none)
{
    struct rawc m, w;
    char        ws[128];
    char       *keep = rawc_dict_new("nwsKeep", "1", NULL);

    /* No retries: a death charged to a task fails it at once. */
    sw_make(&m, "retries", "0", ws, sizeof(ws));
    sw_task_first(&m, ws, "b", "0", "a");
    sw_task_first(&m, ws, "b", "1", "poison");
    sw_task_first(&m, ws, "b", "2", "c");
    sw_worker_meta(&w, ws, "0");
    sw_take(&w, NULL, "fetch", ws, "a");
    sw_take(&w, keep, "fetchTry", ws, "poison");
    rawc_close(&w); /* which of the two killed it is unknown: neither is charged */
    sw_job(&m, ws, "b", "3", "3", "0", "0", "0");
    sw_worker_meta(&w, ws, "1");
    /* Suspects run alone: nothing is taken next to one. */
    sw_take(&w, NULL, "fetch", ws, "a");
    sw_take(&w, keep, "fetchTry", ws, NULL);
    PT_OK(&w, "store", ws, "result", "1", "A");
    sw_take(&w, NULL, "fetch", ws, "poison");
    sw_take(&w, keep, "fetchTry", ws, NULL);
    rawc_close(&w); /* it ran alone: this death is charged, past the limit */
    sw_result_first(&m, ws, "b", "A", "0");
    sw_result_first(&m, ws, "b", NULL, "1");
    sw_worker_meta(&w, ws, "2");
    sw_take(&w, NULL, "fetch", ws, "c");
    PT_OK(&w, "store", ws, "result", "1", "C");
    sw_result_first(&m, ws, "b", "C", "2");
    sw_job(&m, ws, "b", "0", "0", "0", "3", "1");
    free(keep);
    rawc_close(&w);
    rawc_close(&m);
}
END_TEST

NWSTEST_SUITE(sleigh_ws)
{
    Suite *s = suite_create("sleigh_ws");
    TCase *tc = tcase_create("plugin");

    tcase_add_checked_fixture(tc, sw_setup, sw_teardown);
    tcase_set_timeout(tc, 20);
    tcase_add_test(tc, registration_and_listing);
    tcase_add_test(tc, tasks_only_to_registered_workers);
    tcase_add_test(tc, results_per_batch_and_job_status);
    tcase_add_test(tc, join_phase_and_sentinels);
    suite_add_tcase(s, tc);
    tc = tcase_create("fault_tolerance");
    tcase_add_checked_fixture(tc, sw_setup, sw_teardown);
    tcase_set_timeout(tc, 20);
    tcase_add_test(tc, dead_worker_task_runs_elsewhere);
    tcase_add_test(tc, retry_limit_gives_error_result);
    tcase_add_test(tc, broadcast_copies);
    tcase_add_test(tc, owner_disconnect_purges_and_frees_workers);
    tcase_add_test(tc, keep_takes_several_tasks);
    tcase_add_test(tc, death_holding_several_charges_none);
    suite_add_tcase(s, tc);
    return s;
}
