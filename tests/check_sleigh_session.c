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

#include "jtest.h"
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
 * An index that is not canonical decimal ("07", a huge one) is an element
 * of its own, deduplicated all the same (kept by name, not in the bitmap).
 */
START_TEST(odd_indexes_deduplicated)
{
    struct nwstest_server *s = ss_start(0);
    struct rawc            m, w;

    ss_master(&m, s->port, 1);
    ss_task(&m, "B", "7", "t7");
    ss_task(&m, "B", "07", "t07");
    ss_task(&m, "B", "99999999999", "tbig");
    ss_task(&m, "B", "07", "t07");
    ss_job(&m, "B", "3", "0", "0");
    ss_worker(&w, s->port, "0");
    ss_take(&w, "t7");
    ss_result(&w, "B", "7", "r7");
    ss_take(&w, "t07");
    ss_result(&w, "B", "07", "r07");
    ss_take(&w, "tbig");
    ss_result(&w, "B", "99999999999", "rbig");
    ss_task(&m, "B", "07", "t07");
    ss_task(&m, "B", "99999999999", "tbig");
    ss_task(&m, "B", "7", "t7");
    ss_result(&w, "B", "07", "again"); /* answered OK, dropped */
    PT_NOVAL(&w, "fetchTry", SS_WS, "task");
    ss_job(&m, "B", "0", "0", "3");
    ss_collect(&m, "B", "r7", "0");
    ss_collect(&m, "B", "r07", "0");
    ss_collect(&m, "B", "rbig", "0");
    ss_collect(&m, "B", NULL, NULL);
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

/* A figure of "server info" (through a classic connection), or -1. */
static long
ss_info(int port, const char *key)
{
    struct rawc       c;
    struct rawc_reply r;
    char              pat[64];
    const char       *p;
    long              v = -1;

    PT_OPEN(&c, port, RAWC_META);
    PT_RC(&c, rawc_sendv(&c, NULL, "server info", NULL));
    PT_RC(&c, rawc_read_short(&c, &r));
    snprintf(pat, sizeof(pat), "\"%s\":", key);
    if (r.meta != NULL && (p = strstr(r.meta, pat)) != NULL)
        v = strtol(p + strlen(pat), NULL, 10);
    rawc_reply_free(&r);
    rawc_close(&c);
    return v;
}

/* Polls "server info" until key is want (bounded). */
static void
ss_wait_info(int port, const char *key, long want)
{
    long v = -1;
    int  i;

    for (i = 0; i < 500 && (v = ss_info(port, key)) != want; i++)
        usleep(20000);
    ck_assert_msg(v == want, "server info %s is %ld, not %ld", key, v, want);
}

/* A worker with a session, registered as rank. */
static void
ss_sworker(struct rawc *w, int port, const char *rank)
{
    ck_assert_msg(rawc_session_new(w, port, RAWC_META) == 0, "session: %s", w->err);
    PT_OK(w, "use ws", SS_WS, "", "no", "no");
    PT_OK(w, "store", SS_WS, "worker_ids", "1", rank);
}

/* The reply of a blocking fetch sent earlier: the task want, within bounds. */
static void
ss_read_task(struct rawc *w, const char *want)
{
    struct rawc_reply r;

    PT_RC(w, rawc_read_long(w, &r));
    ck_assert_int_eq(r.status, 0);
    ck_assert_str_eq(r.value, want);
    rawc_reply_free(&r);
}

/*
 * A worker with a session loses its connection while it runs element 0:
 * the task goes to the waiting worker at once (not after the resume grace),
 * the lost worker keeps its rank, and when it resumes, the result it
 * brings is accepted once: the other worker's is a duplicate.
 */
START_TEST(detached_worker_task_requeued)
{
    static const char *const extra[] = {"--resume-grace", "60", NULL};
    struct nwstest_server   *s = ptest_start(extra);
    struct rawc              m, w0, w1;

    ss_master(&m, s->port, 1);
    ss_sworker(&w0, s->port, "0");
    ss_worker(&w1, s->port, "1");
    ss_task(&m, "B", "0", "t0");
    ss_take(&w0, "t0");
    PT_RC(&w1, rawc_sendv(&w1, NULL, "fetch", SS_WS, "task", NULL));
    PT_WAIT_WAITERS(&m, SS_WS, "task", 1, 0);
    rawc_close(&w0);
    ss_wait_info(s->port, "sessions_detached", 1);
    ss_read_task(&w1, "t0"); /* at once: the grace is 60 s */
    ss_job(&m, "B", "0", "1", "0");
    /* rankCount and the scoreboard leave the detached worker out (it may
     * be dead) ... */
    PT_VALUE(&m, "1", "find", SS_WS, "rankCount");
    {
        struct rawc_reply r;

        PT_LONG(&m, &r, "find", SS_WS, "scoreboard");
        ck_assert_int_eq(r.status, 0);
        ck_assert_msg(strstr(r.value, "detached worker 0 (its session waits)") != NULL &&
                          strstr(r.value, "worker 0:") == NULL &&
                          strstr(r.value, "worker 1:"),
                      "scoreboard: %s", r.value);
        rawc_reply_free(&r);
    }

    ck_assert_msg(rawc_session_resume(&w0, s->port) == 0, "resume: %s", w0.err);
    ck_assert_int_eq(w0.sess_resumed, 1);
    /* ... but it kept its registration and rank: resumed, it counts again. */
    PT_VALUE(&m, "2", "find", SS_WS, "rankCount");
    ss_result(&w0, "B", "0", "late");
    ss_job(&m, "B", "0", "0", "1");
    ss_result(&w1, "B", "0", "second"); /* a duplicate: answered OK, dropped */
    ss_collect(&m, "B", "late", "0");
    ss_collect(&m, "B", NULL, NULL);
    /* The resumed worker is served again. */
    ss_task(&m, "B", "1", "t1");
    ss_take(&w0, "t1");
    ss_result(&w0, "B", "1", "r1");
    ss_collect(&m, "B", "r1", "0");
    ss_job(&m, "B", "0", "0", "2");
    rawc_close(&w0);
    rawc_close(&w1);
    rawc_close(&m);
    ptest_stop(s);
}
END_TEST

/*
 * A worker process that dies leaves its session detached too: a new worker
 * registering with its rank replaces it (its owner started it).  The old
 * session, should it resume after all, is told to register again.
 */
START_TEST(detached_worker_replaced)
{
    static const char *const extra[] = {"--resume-grace", "60", NULL};
    struct nwstest_server   *s = ptest_start(extra);
    struct rawc              m, w0, w0b;
    struct rawc_reply        r;

    ss_master(&m, s->port, 1);
    ss_sworker(&w0, s->port, "0");
    ss_task(&m, "B", "0", "t0");
    ss_take(&w0, "t0");
    rawc_close(&w0);
    ss_wait_info(s->port, "sessions_detached", 1);
    ss_sworker(&w0b, s->port, "0"); /* accepted: it replaces the detached one */
    PT_VALUE(&m, "1", "find", SS_WS, "rankCount");
    ss_take(&w0b, "t0");
    ss_result(&w0b, "B", "0", "r0");
    ck_assert_msg(rawc_session_resume(&w0, s->port) == 0, "resume: %s", w0.err);
    ck_assert_int_eq(w0.sess_resumed, 1);
    PT_LONG(&w0, &r, "fetch", SS_WS, "task");
    PT_IS_ERROR(&w0, &r, 1, "Not a registered worker: register again (store worker_ids)");
    rawc_reply_free(&r);
    ss_collect(&m, "B", "r0", "0");
    ss_collect(&m, "B", NULL, NULL);
    rawc_close(&w0);
    rawc_close(&w0b);
    rawc_close(&m);
    ptest_stop(s);
}
END_TEST

/*
 * A master's session detaches while its fetch of a result waits: the
 * result is not handed to it (its reply could not leave, and the master
 * may never come back) but stays in its batch, for another master or for
 * the resume, which gets it.
 */
START_TEST(detached_master_gets_no_result)
{
    static const char *const extra[] = {"--resume-grace", "60", NULL};
    struct nwstest_server   *s = ptest_start(extra);
    struct rawc              m, sm, w;
    struct rawc_reply        r;
    char                    *meta = rawc_dict_new("batchId", "B", NULL);

    ss_master(&m, s->port, 1);
    ss_worker(&w, s->port, "0");
    ck_assert_msg(rawc_session_new(&sm, s->port, RAWC_META) == 0, "session: %s", sm.err);
    PT_OK(&sm, "use ws", SS_WS, "", "no", "no");
    ss_task(&m, "B", "0", "t0");
    ss_task(&m, "B", "1", "t1");
    PT_RC(&sm, rawc_sendv(&sm, meta, "fetch", SS_WS, "result", NULL));
    PT_WAIT_WAITERS(&m, SS_WS, "result", 1, 0);
    rawc_close(&sm);
    ss_wait_info(s->port, "sessions_detached", 1);
    ss_take(&w, "t0");
    ss_result(&w, "B", "0", "r0");
    ss_take(&w, "t1");
    ss_result(&w, "B", "1", "r1");
    /* Both wait in the batch: another master takes one. */
    ss_collect(&m, "B", "r0", "0");
    /* The resumed master's fetch (sent again: it kept its place) gets the other. */
    ck_assert_msg(rawc_session_resume(&sm, s->port) == 0, "resume: %s", sm.err);
    ck_assert_int_eq(sm.sess_resumed, 1);
    rawc_session_rewind(&sm);
    PT_RC(&sm, rawc_sendv(&sm, meta, "fetch", SS_WS, "result", NULL));
    PT_RC(&sm, rawc_read_long(&sm, &r));
    ck_assert_int_eq(r.status, 0);
    ck_assert_str_eq(r.value, "r1");
    rawc_reply_free(&r);
    ss_collect(&m, "B", NULL, NULL);
    ss_job(&m, "B", "0", "0", "2");
    free(meta);
    rawc_close(&sm);
    rawc_close(&w);
    rawc_close(&m);
    ptest_stop(s);
}
END_TEST

#define SS_BIG (24u << 20) /* more than the sockets between server and master hold */

/*
 * A result handed to a master whose reply was not written whole when its
 * connection was lost, and whose session then ends (never resumed): the
 * result goes back to its batch instead of being lost.
 */
START_TEST(result_of_a_lost_master_goes_back)
{
    static const char *const extra[] = {"--resume-grace", "1", NULL};
    struct nwstest_server   *s = ptest_start(extra);
    struct rawc              m, sm, w;
    struct rawc_reply        r;
    char                    *meta = rawc_dict_new("batchId", "B", NULL);
    char                    *big = malloc(SS_BIG + 1);
    char *rmeta = rawc_dict_new("batchId", "B", "nwsFirst", "0", "nwsCount", "1", NULL);

    ck_assert_ptr_nonnull(big);
    memset(big, 'r', SS_BIG);
    big[SS_BIG] = '\0';
    ss_master(&m, s->port, 1);
    ss_worker(&w, s->port, "0");
    ck_assert_msg(rawc_session_new(&sm, s->port, RAWC_META) == 0, "session: %s", sm.err);
    PT_OK(&sm, "use ws", SS_WS, "", "no", "no");
    ss_task(&m, "B", "0", "t0");
    PT_RC(&sm, rawc_sendv(&sm, meta, "fetch", SS_WS, "result", NULL));
    PT_WAIT_WAITERS(&m, SS_WS, "result", 1, 0);
    ss_take(&w, "t0");
    PT_OK_M(&w, rmeta, "store", SS_WS, "result", "1",
            big); /* to sm, which reads nothing */
    PT_WAIT_WAITERS(&m, SS_WS, "result", 0, 0);
    rawc_close(&sm);                      /* its reply was not written whole */
    ss_wait_info(s->port, "sessions", 0); /* detached, then its grace is over */
    PT_LONG_M(&m, meta, &r, "fetchTry", SS_WS, "result");
    ck_assert_int_eq(r.status, 0);
    ck_assert_uint_eq(r.len, SS_BIG);
    rawc_reply_free(&r);
    ss_collect(&m, "B", NULL, NULL);
    free(rmeta);
    free(big);
    free(meta);
    rawc_close(&w);
    rawc_close(&m);
    ptest_stop(s);
}
END_TEST

/*
 * A detached worker is handed no task: its reply could not leave.  Its
 * parked fetch is served once it resumes.
 */
START_TEST(detached_worker_gets_no_task)
{
    static const char *const extra[] = {"--resume-grace", "60", NULL};
    struct nwstest_server   *s = ptest_start(extra);
    struct rawc              m, w0;

    ss_master(&m, s->port, 1);
    ss_sworker(&w0, s->port, "0");
    PT_RC(&w0, rawc_sendv(&w0, NULL, "fetch", SS_WS, "task", NULL));
    PT_WAIT_WAITERS(&m, SS_WS, "task", 1, 0);
    rawc_close(&w0);
    ss_wait_info(s->port, "sessions_detached", 1);
    ss_task(&m, "B", "0", "t0");
    ss_job(&m, "B", "1", "0", "0");
    ck_assert_msg(rawc_session_resume(&w0, s->port) == 0, "resume: %s", w0.err);
    ck_assert_int_eq(w0.sess_resumed, 1);
    rawc_session_rewind(&w0); /* the fetch again: it keeps its place */
    PT_RC(&w0, rawc_sendv(&w0, NULL, "fetch", SS_WS, "task", NULL));
    ss_read_task(&w0, "t0");
    ss_job(&m, "B", "0", "1", "0");
    ss_result(&w0, "B", "0", "r0");
    ss_collect(&m, "B", "r0", "0");
    rawc_close(&w0);
    rawc_close(&m);
    ptest_stop(s);
}
END_TEST

/*
 * A session connection that is no registered worker gets a clear error
 * for a task (classic connections still wait, as in the plugin).
 */
START_TEST(unregistered_session_gets_an_error)
{
    struct nwstest_server *s = ss_start(0);
    struct rawc            m, w;
    struct rawc_reply      r;

    ss_master(&m, s->port, 1);
    ss_task(&m, "B", "0", "t0");
    ck_assert_msg(rawc_session_new(&w, s->port, RAWC_META) == 0, "session: %s", w.err);
    PT_OK(&w, "use ws", SS_WS, "", "no", "no");
    PT_LONG(&w, &r, "fetch", SS_WS, "task");
    PT_IS_ERROR(&w, &r, 1, "Not a registered worker: register again (store worker_ids)");
    rawc_reply_free(&r);
    PT_OK(&w, "store", SS_WS, "worker_ids", "1", "0");
    ss_take(&w, "t0");
    rawc_close(&w);
    rawc_close(&m);
    ptest_stop(s);
}
END_TEST

/* Waits for a new snapshot, nudging the journal past its tiny threshold. */
static void
ss_wait_snapshot(struct rawc *m)
{
    ck_assert_msg(jtest_wait_snapshot(m, ss_dir, SS_WS) == 0,
                  "no compaction within 10 s");
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

/*
 * A worker's rank across kill -9 and a restart on the same journal: its
 * session is restored, and resuming finds it registered with its rank; the
 * task it ran at the crash was queued again, and the result it brings back
 * ends it once.
 */
static void
ss_rank_restart(int compact)
{
    static const char     *args[] = {"--journal",
                                     NULL,
                                     "--fsync",
                                     "always",
                                     "--resume-grace",
                                     "60",
                                     "--journal-compact-min",
                                     "1",
                                     "--journal-compact-factor",
                                     "1",
                                     NULL};
    struct nwstest_server *s;
    struct rawc            m, w, x;

    args[1] = ss_dir;
    args[6] = compact ? "--journal-compact-min" : NULL;
    s = ptest_start(args);
    ss_master(&m, s->port, 1);
    ss_sworker(&w, s->port, "3");
    ss_task(&m, "B", "0", "t0");
    ss_task(&m, "B", "1", "t1");
    ss_take(&w, "t0");
    if (compact) { /* the second snapshot holds the worker: SJ_WORKER */
        ss_wait_snapshot(&m);
        ss_wait_snapshot(&m);
    }
    args[6] = NULL;
    ss_crash(s);
    rawc_close(&m);

    s = ptest_start(args);
    ck_assert_msg(rawc_session_resume(&w, s->port) == 0, "resume: %s", w.err);
    ck_assert_int_eq(w.sess_resumed, 1);
    ss_master(&m, s->port, 0);
    PT_VALUE(&m, "1", "find", SS_WS, "rankCount");
    PT_OPEN(&x, s->port, RAWC_META);
    PT_OK(&x, "use ws", SS_WS, "", "no", "no");
    PT_SHORT(&x, 1, "Worker registration failed: duplicate worker id.", "store", SS_WS,
             "worker_ids", "1", "3");
    rawc_close(&x);
    ss_job(&m, "B", "2", "0", "0"); /* t0 was running at the crash */
    ss_result(&w, "B", "0", "r0");
    ss_job(&m, "B", "1", "0", "1");
    ss_take(&w, "t1");
    ss_result(&w, "B", "1", "r1");
    ss_collect(&m, "B", "r0", "3");
    ss_collect(&m, "B", "r1", "3");
    ss_collect(&m, "B", NULL, NULL);
    rawc_close(&w);
    rawc_close(&m);
    ptest_stop(s);
}

START_TEST(worker_rank_kept_across_restart)
{
    ss_rank_restart(0);
}
END_TEST

START_TEST(worker_rank_kept_across_restart_after_compaction)
{
    ss_rank_restart(1);
}
END_TEST

NWSTEST_SUITE(sleigh_session)
{
    Suite *s = suite_create("sleigh_session");
    TCase *tc = tcase_create("dedup");

    tcase_add_checked_fixture(tc, ss_setup, ss_teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, duplicate_task_queued_once);
    tcase_add_test(tc, odd_indexes_deduplicated);
    tcase_add_test(tc, late_result_accepted_once);
    tcase_add_test(tc, late_result_ends_queued_task);
    tcase_add_test(tc, duplicates_across_kill9);
    tcase_add_test(tc, duplicates_across_kill9_after_compaction);
    suite_add_tcase(s, tc);
    tc = tcase_create("session");
    tcase_add_checked_fixture(tc, ss_setup, ss_teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, detached_worker_task_requeued);
    tcase_add_test(tc, detached_worker_gets_no_task);
    tcase_add_test(tc, detached_worker_replaced);
    tcase_add_test(tc, detached_master_gets_no_result);
    tcase_add_test(tc, result_of_a_lost_master_goes_back);
    tcase_add_test(tc, unregistered_session_gets_an_error);
    tcase_add_test(tc, worker_rank_kept_across_restart);
    tcase_add_test(tc, worker_rank_kept_across_restart_after_compaction);
    suite_add_tcase(s, tc);
    return s;
}
