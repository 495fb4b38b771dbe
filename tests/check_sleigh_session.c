/*
 * check_sleigh_session.c -- the server's sleigh when connections and the
 * server itself come and go (issue 15): elements are known by batch and
 * index (the task's batchId and nwsFirst), so a task stored twice is queued
 * once, and a result that comes late, after its task went to another
 * worker, is accepted once: the first result wins, a later one is answered
 * OK and dropped.  Also across kill -9 and a restart on the same journal,
 * from the log and from a compaction's snapshot.
 *
 * Raw protocol against real servers: a master and workers that send the
 * metadata our master and nws-worker send (batchId, nwsFirst, nwsCount).
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "nwstest.h"
#include "ptest.h"
#include "rawc.h"

#define SS_WS "ss_ride"

static char ss_dir[256];

static void
ss_setup(void)
{
    snprintf(ss_dir, sizeof(ss_dir), "/tmp/nws-ss-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(ss_dir));
}

static void
ss_teardown(void)
{
    char cmd[300];

    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", ss_dir);
    ck_assert_int_eq(system(cmd), 0);
}

/* A server: journal 0 none, 1 on ss_dir, 2 on ss_dir compacting at every chance. */
static struct nwstest_server *
ss_start(int journal)
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

    plain[1] = ss_dir;
    often[1] = ss_dir;
    return ptest_start(journal == 0 ? NULL : journal == 1 ? plain : often);
}

/* kill -9, as a crash. */
static void
ss_crash(struct nwstest_server *s)
{
    int st;

    ck_assert_int_eq(kill(s->pid, SIGKILL), 0);
    ck_assert_int_eq(waitpid(s->pid, &st, 0), s->pid);
    s->pid = 0;
    nwstest_server_stop(s);
}

/* The master: opens (makes) the sleigh workspace SS_WS. */
static void
ss_master(struct rawc *m, int port, int make)
{
    char *meta = rawc_dict_new("wstype", "sleigh", NULL);

    PT_OPEN(m, port, RAWC_META);
    if (make)
        PT_OK_M(m, meta, "open ws", SS_WS, "1", "yes");
    else
        PT_OK(m, "use ws", SS_WS, "", "no", "no");
    free(meta);
}

/* A worker connection registered as rank. */
static void
ss_worker(struct rawc *w, int port, const char *rank)
{
    PT_OPEN(w, port, RAWC_META);
    PT_OK(w, "use ws", SS_WS, "", "no", "no");
    PT_OK(w, "store", SS_WS, "worker_ids", "1", rank);
}

/* The master stores the task of element first of batch (one element a task). */
static void
ss_task(struct rawc *m, const char *batch, const char *first, const char *val)
{
    char *meta =
        rawc_dict_new("batchId", batch, "nwsFirst", first, "nwsCount", "1", NULL);

    PT_OK_M(m, meta, "store", SS_WS, "task", "1", val);
    free(meta);
}

/* The worker takes its next task (blocking), which must be want. */
static void
ss_take(struct rawc *w, const char *want)
{
    struct rawc_reply r;

    PT_LONG(w, &r, "fetch", SS_WS, "task");
    ck_assert_int_eq(r.status, 0);
    ck_assert_str_eq(r.value, want);
    rawc_reply_free(&r);
}

/* The worker stores the result of element first of batch, as nws-worker does. */
static void
ss_result(struct rawc *w, const char *batch, const char *first, const char *val)
{
    char *meta =
        rawc_dict_new("batchId", batch, "nwsFirst", first, "nwsCount", "1", NULL);

    PT_OK_M(w, meta, "store", SS_WS, "result", "1", val);
    free(meta);
}

/* The master's next result of batch (fetchTry): want, with rank; NULL: none left. */
static void
ss_collect(struct rawc *m, const char *batch, const char *want, const char *rank)
{
    struct rawc_reply r;
    char             *meta = rawc_dict_new("batchId", batch, NULL);
    const char       *v;
    size_t            vl;

    PT_LONG_M(m, meta, &r, "fetchTry", SS_WS, "result");
    free(meta);
    if (want == NULL) {
        ck_assert_msg(r.status != 0, "batch %s: a result is left: %s", batch, r.value);
        rawc_reply_free(&r);
        return;
    }
    ck_assert_msg(r.status == 0, "batch %s: no result, want %s", batch, want);
    ck_assert_str_eq(r.value, want);
    if (rank != NULL) {
        ck_assert_int_eq(rawc_dict_get(r.meta, r.meta_len, "nwsWorkerRank", &v, &vl), 1);
        ck_assert_msg(vl == strlen(rank) && memcmp(v, rank, vl) == 0,
                      "rank %.*s, want %s", (int)vl, v, rank);
    }
    rawc_reply_free(&r);
}

/* jobStatus of batch: queued, running, done. */
static void
ss_job(struct rawc *m, const char *batch, const char *queued, const char *running,
       const char *done)
{
    struct rawc_reply r;
    char             *meta = rawc_dict_new("batchId", batch, NULL);
    const char       *keys[] = {"nwsQueued", "nwsRunning", "nwsDone"};
    const char       *want[] = {queued, running, done};
    const char       *v;
    size_t            vl, i;

    PT_LONG_M(m, meta, &r, "fetchTry", SS_WS, "jobStatus");
    ck_assert_int_eq(r.status, 0);
    for (i = 0; i < 3; i++) {
        ck_assert_int_eq(rawc_dict_get(r.meta, r.meta_len, keys[i], &v, &vl), 1);
        ck_assert_msg(vl == strlen(want[i]) && memcmp(v, want[i], vl) == 0,
                      "batch %s %s: got %.*s, want %s", batch, keys[i], (int)vl, v,
                      want[i]);
    }
    rawc_reply_free(&r);
    free(meta);
}

/* A task stored twice for the same element is queued once. */
START_TEST(duplicate_task_queued_once)
{
    struct nwstest_server *s = ss_start(0);
    struct rawc            m, w;

    ss_master(&m, s->port, 1);
    ss_task(&m, "B", "0", "t0");
    ss_task(&m, "B", "1", "t1");
    ss_task(&m, "B", "0", "t0"); /* queued: dropped */
    ss_job(&m, "B", "2", "0", "0");
    ss_worker(&w, s->port, "0");
    ss_take(&w, "t0");
    ss_task(&m, "B", "0", "t0"); /* running: dropped */
    ss_result(&w, "B", "0", "r0");
    ss_task(&m, "B", "0", "t0"); /* done: dropped */
    ss_take(&w, "t1");
    ss_result(&w, "B", "1", "r1");
    PT_NOVAL(&w, "fetchTry", SS_WS, "task");
    ss_job(&m, "B", "0", "0", "2");
    ss_collect(&m, "B", "r0", "0");
    ss_collect(&m, "B", "r1", "0");
    ss_collect(&m, "B", NULL, NULL);
    /* Another batch's element 0 is another element. */
    ss_task(&m, "C", "0", "c0");
    ss_job(&m, "C", "1", "0", "0");
    rawc_close(&w);
    rawc_close(&m);
    ptest_stop(s);
}
END_TEST

/*
 * Worker 0 loses its connection running element 0; the task goes to worker
 * 1.  Worker 0 comes back (registered again on a new connection) and sends
 * the result it had: accepted, it ends the task worker 1 runs.  Worker 1's
 * result then is a duplicate: answered OK, dropped.  One result, counted
 * once.
 */
START_TEST(late_result_accepted_once)
{
    struct nwstest_server *s = ss_start(0);
    struct rawc            m, w0, w1, w0b;
    struct rawc_reply      r;

    ss_master(&m, s->port, 1);
    ss_worker(&w0, s->port, "0");
    ss_worker(&w1, s->port, "1");
    ss_task(&m, "B", "0", "t0");
    ss_take(&w0, "t0");
    PT_RC(&w1, rawc_sendv(&w1, NULL, "fetch", SS_WS, "task", NULL));
    PT_WAIT_WAITERS(&m, SS_WS, "task", 1, 0);
    rawc_close(&w0);
    PT_RC(&w1, rawc_read_long(&w1, &r));
    ck_assert_int_eq(r.status, 0);
    ck_assert_str_eq(r.value, "t0");
    rawc_reply_free(&r);
    ss_job(&m, "B", "0", "1", "0");

    ss_worker(&w0b, s->port, "0");
    ss_result(&w0b, "B", "0", "late");
    ss_job(&m, "B", "0", "0", "1");
    ss_result(&w1, "B", "0", "second"); /* answered OK, dropped */
    ss_job(&m, "B", "0", "0", "1");
    ss_result(&w0b, "B", "0", "third");
    ss_collect(&m, "B", "late", "0");
    ss_collect(&m, "B", NULL, NULL);
    /* Both workers go on: the next task goes to whoever asks. */
    ss_task(&m, "B", "1", "t1");
    ss_take(&w1, "t1");
    ss_result(&w1, "B", "1", "r1");
    ss_collect(&m, "B", "r1", "1");
    ss_job(&m, "B", "0", "0", "2");
    rawc_close(&w0b);
    rawc_close(&w1);
    rawc_close(&m);
    ptest_stop(s);
}
END_TEST

/* A late result for an element still queued (nobody took it again) ends it. */
START_TEST(late_result_ends_queued_task)
{
    struct nwstest_server *s = ss_start(0);
    struct rawc            m, w0, w0b;

    ss_master(&m, s->port, 1);
    ss_worker(&w0, s->port, "0");
    ss_task(&m, "B", "0", "t0");
    ss_task(&m, "B", "1", "t1");
    ss_take(&w0, "t0");
    rawc_close(&w0);
    ss_worker(&w0b, s->port, "0");
    ss_result(&w0b, "B", "0", "late");
    ss_job(&m, "B", "1", "0", "1");
    ss_take(&w0b, "t1"); /* t0 is not handed out again */
    ss_result(&w0b, "B", "1", "r1");
    PT_NOVAL(&w0b, "fetchTry", SS_WS, "task");
    ss_collect(&m, "B", "late", "0");
    ss_collect(&m, "B", "r1", "0");
    ss_collect(&m, "B", NULL, NULL);
    rawc_close(&w0b);
    rawc_close(&m);
    ptest_stop(s);
}
END_TEST

/* The snapshot the MANIFEST names ("" if none), into buf. */
static void
ss_base(char *buf, size_t len)
{
    char  path[300], line[256];
    FILE *fp;

    buf[0] = '\0';
    snprintf(path, sizeof(path), "%s/MANIFEST", ss_dir);
    if ((fp = fopen(path, "r")) == NULL)
        return;
    while (fgets(line, sizeof(line), fp) != NULL)
        if (strncmp(line, "base ", 5) == 0 && strcmp(line, "base -\n") != 0)
            snprintf(buf, len, "%s", line + 5);
    fclose(fp);
}

/* Waits for a new snapshot, nudging the journal past its tiny threshold. */
static void
ss_wait_snapshot(struct rawc *m)
{
    char before[256], now[256];
    int  i;

    ss_base(before, sizeof(before));
    for (i = 0; i < 1000; i++) {
        PT_OK(m, "store", SS_WS, "nudge", "1", "x");
        ss_base(now, sizeof(now));
        if (now[0] != '\0' && strcmp(now, before) != 0)
            return;
        usleep(10000);
    }
    ck_abort_msg("no compaction within 10 s (MANIFEST base: %s)", now);
}

/*
 * Across kill -9 and a restart on the same journal: a master re-sending its
 * tasks (it could not know which stores were applied) queues none twice,
 * and a worker re-sending a result of an element done before the crash
 * adds nothing; the element running at the crash, queued again, takes the
 * result its worker brings back once.
 */
static void
ss_restart(int compact)
{
    struct nwstest_server *s = ss_start(compact ? 2 : 1);
    struct rawc            m, w;

    ss_master(&m, s->port, 1);
    ss_task(&m, "B", "0", "t0");
    ss_task(&m, "B", "1", "t1");
    ss_task(&m, "B", "2", "t2");
    ss_worker(&w, s->port, "0");
    ss_take(&w, "t0");
    ss_result(&w, "B", "0", "r0");
    ss_take(&w, "t1");
    ss_collect(&m, "B", "r0", "0");
    if (compact) {
        ss_wait_snapshot(&m);
        ss_wait_snapshot(&m);
    }
    ss_crash(s);
    rawc_close(&w);
    rawc_close(&m);

    s = ss_start(1);
    ss_master(&m, s->port, 0);
    ss_job(&m, "B", "2", "0", "1"); /* t1 was running: queued again */
    ss_task(&m, "B", "0", "t0");
    ss_task(&m, "B", "1", "t1");
    ss_task(&m, "B", "2", "t2");
    ss_job(&m, "B", "2", "0", "1");
    ss_worker(&w, s->port, "0");
    ss_result(&w, "B", "0", "r0 again"); /* done before the crash: dropped */
    ss_result(&w, "B", "1", "r1");       /* running at the crash: ends it */
    ss_job(&m, "B", "1", "0", "2");
    ss_take(&w, "t2");
    ss_result(&w, "B", "2", "r2");
    PT_NOVAL(&w, "fetchTry", SS_WS, "task");
    ss_collect(&m, "B", "r1", "0");
    ss_collect(&m, "B", "r2", "0");
    ss_collect(&m, "B", NULL, NULL);
    ss_job(&m, "B", "0", "0", "3");
    rawc_close(&w);
    rawc_close(&m);
    ptest_stop(s);
}

START_TEST(duplicates_across_kill9)
{
    ss_restart(0);
}
END_TEST

START_TEST(duplicates_across_kill9_after_compaction)
{
    ss_restart(1);
}
END_TEST

NWSTEST_SUITE(sleigh_session)
{
    Suite *s = suite_create("sleigh_session");
    TCase *tc = tcase_create("dedup");

    tcase_add_checked_fixture(tc, ss_setup, ss_teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, duplicate_task_queued_once);
    tcase_add_test(tc, late_result_accepted_once);
    tcase_add_test(tc, late_result_ends_queued_task);
    tcase_add_test(tc, duplicates_across_kill9);
    tcase_add_test(tc, duplicates_across_kill9_after_compaction);
    suite_add_tcase(s, tc);
    return s;
}
