/*
 * sleigh_journal.c -- a sleigh workspace's own state in the journal
 * (--journal DIR, server/journal.h): its queued tasks, the results waiting
 * in each batch, the batches' counts and lifecycle.
 *
 * The journal's own records rebuild the workspace (its creation with the
 * wstype=sleigh metadata makes the sleigh, as at first) and its plain
 * variables; the records here, types 64..127, rebuild what the sleigh keeps
 * beside them.  Every record starts with the workspace's name.
 *
 * What is journaled, and what is not:
 * - A task gets a sequence number (t_seq) when it is queued, and the record
 *   SJ_TASK names it; the record SJ_DONE ends it with its result.  Handing
 *   a task to a worker, and a worker giving it back, are not journaled:
 *   workers are connections and do not survive a restart, so a task that
 *   was running when the server died is simply queued again on replay, as
 *   the requeue rule (sleigh.h) does for a worker that dies.  Its count
 *   of worker deaths and its suspect mark are not kept: after a restart it
 *   has its retries afresh (a restart kills no worker by a task's fault).
 * - A server that stops cleanly closes its workers' connections without
 *   failing or requeueing anything (sleigh_conn_gone): the journal still
 *   has their tasks as queued.
 * - Broadcast copies belong to one worker each: a replayed copy whose
 *   result never came cannot run anywhere, so once the replay is over it
 *   ends as an error result, as a dead worker's copies do (sj_replayed).
 *   The kept broadcast templates survive, for workers that join after the
 *   restart.
 * - A worker of a session (docs/SESSIONS.md) is journaled with its
 *   session's id and rank (SJ_WORKER) until it is gone (SJ_GONE: its
 *   session ended): after a restart the worker is bound again, detached,
 *   to the session the journal restored, and the resume finds it
 *   registered with its rank (sj_rebind).  Its running tasks were queued
 *   again by the replay, and a result it brings back for one of them is
 *   accepted once (by element: sleigh_tasks.c).  Its broadcast copies end
 *   as for any worker lost in the restart.  A worker without a session is
 *   a connection and does not survive a restart.
 * - Join state, other ranks and timers are not journaled: a restarted
 *   sleigh is open for workers to join again.  What is kept is whether any worker
 *   ever joined (so workerGracePeriod does not shut down a sleigh that had
 *   workers), whether it was shut down, and the fixedargID counter (so new
 *   names never collide with variables already in the workspace).
 *
 * Records (u8 type, then fields; str is a length and bytes):
 *
 *   SJ_BATCH  ws, batch, started u64, done u64, failed u64, flags u8
 *             (1: ended, 2: collected), record str, what str
 *             -- a batch made or revived, or (snapshot) its counts
 *   SJ_TASK   ws, seq u64, batch, value       -- a task queued
 *   SJ_BCAST  ws, batch, kept u8, n u32, seq u64 * n, value
 *             -- n broadcast copies (their workers' own), and the template
 *             kept for later workers when kept is 1
 *   SJ_DONE   ws, seq u64, failed u64, kept u8 [, value]
 *             -- task seq ended; its result waits in the batch (kept) or
 *             went straight to a waiting fetcher
 *   SJ_RESULT ws, batch, value                -- (snapshot) a waiting result;
 *                                                or one that went back
 *                                                (sj_result)
 *   SJ_TAKE   ws, batch                       -- the batch's oldest result
 *                                                was collected
 *   SJ_END    ws, batch, record str           -- its submitter says every
 *                                                task is in
 *   SJ_DROP   ws                              -- the group closed: the kept
 *                                                templates are dropped
 *   SJ_STATE  ws, flags u8 (1: a worker joined, 2: shut down),
 *             fixedarg u32, seq u64
 *   SJ_ELEMS  ws, batch, index str ... (to the record's end)
 *             -- (snapshot) elements of a live batch whose result came, so
 *             that a duplicate task or result is still known after a
 *             compaction (sleigh_tasks.c, "Elements by index"); the log
 *             itself has them as the SJ_DONE of their tasks
 *   SJ_WORKER ws, session str, rank u64 -- a session's worker registered
 *   SJ_GONE   ws, session str           -- that worker is gone
 *
 * Replay applies them with the functions the live server uses
 * (sleigh_batch, sleigh_task_new, sleigh_batch_settle...), so counts and
 * batch lifetimes come out as they were.  A snapshot (sj_snapshot, in the
 * compaction child) writes SJ_STATE, every batch, the templates, the
 * running tasks (first: they go back to the front), the queue, the copies,
 * the waiting results, the done elements and the workers of sessions.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "journal.h"
#include "sleigh.h"

enum {
    SJ_BATCH = 64,
    SJ_TASK = 65,
    SJ_BCAST = 66,
    SJ_DONE = 67,
    SJ_RESULT = 68,
    SJ_TAKE = 69,
    SJ_END = 70,
    SJ_DROP = 71,
    SJ_STATE = 72,
    SJ_ELEMS = 73,
    SJ_WORKER = 74,
    SJ_GONE = 75,
};

/* Element indexes an SJ_ELEMS record holds at most (a long batch: several). */
#define SJ_ELEMS_MAX 4096

#define SJ_ENDED     1
#define SJ_COLLECTED 2
#define SJ_JOINED    1
#define SJ_SHUTDOWN  2

/* Bytes a record needs beside its value: names and numbers. */
#define SJ_RECORD_ROOM 512

/* 1 while sj_apply runs: what it calls must not journal again. */
static int sj_applying;

/* 1 when mutations are to be journaled now. */
static int
sj_on(void)
{
    return !sj_applying && journal_active() && !journal_replaying();
}

/* Starts a record of type for sleigh s. */
static void
sj_begin(struct jrec *r, uint8_t type, const struct sleigh *s)
{
    jrec_begin(r, type);
    jrec_str(r, s->s_ws->ws_name, s->s_ws->ws_namelen);
}

/* Emits and frees r; -1 when the journal refused it. */
static int
sj_emit(struct jrec *r)
{
    int rc = journal_emit(r);

    jrec_free(r);
    return rc;
}

/*
 * Room for a mutation journaling value v (NULL: none) once, plus copies
 * sequence numbers: 0, or -1 when the journal cannot take it (the caller
 * refuses the mutation with journal_error()).
 */
int
sj_reserve(const struct value *v, size_t copies)
{
    size_t n = SJ_RECORD_ROOM + copies * 8;

    if (!sj_on())
        return 0;
    if (v != NULL)
        n += v->v_metalen + ((v->v_flags & VALUE_SPOOLED) ? 64 : (size_t)v->v_len);
    return journal_reserve(n);
}

/* Appends the fields of SJ_BATCH for b. */
static void
sj_batch_fields(struct jrec *r, const struct sleigh_batch *b)
{
    jrec_str(r, b->b_id, b->b_idlen);
    jrec_u64(r, (uint64_t)b->b_started);
    jrec_u64(r, b->b_done);
    jrec_u64(r, b->b_failed);
    jrec_u8(r, (b->b_ended ? SJ_ENDED : 0) | (b->b_collected ? SJ_COLLECTED : 0));
    jrec_str(r, b->b_record != NULL ? b->b_record : "",
             b->b_record != NULL ? strlen(b->b_record) : 0);
    jrec_str(r, b->b_what, strlen(b->b_what));
}

/* Batch b was made, or lives again. */
void
sj_batch(struct sleigh *s, const struct sleigh_batch *b)
{
    struct jrec r = {0};

    if (!sj_on())
        return;
    sj_begin(&r, SJ_BATCH, s);
    sj_batch_fields(&r, b);
    sj_emit(&r);
}

/* Appends SJ_TASK for t. */
static int
sj_task_emit(struct sleigh *s, const struct sleigh_task *t)
{
    struct jrec r = {0};

    sj_begin(&r, SJ_TASK, s);
    jrec_u64(&r, t->t_seq);
    jrec_str(&r, t->t_batch->b_id, t->t_batch->b_idlen);
    jrec_value(&r, t->t_value);
    return sj_emit(&r);
}

/* Task t was queued. */
void
sj_task(struct sleigh *s, const struct sleigh_task *t)
{
    if (sj_on())
        sj_task_emit(s, t);
}

/* Appends SJ_BCAST. */
static int
sj_bcast_emit(struct sleigh *s, const struct sleigh_batch *b, const struct value *v,
              int kept, const uint64_t *seqs, size_t n)
{
    struct jrec r = {0};
    size_t      i;

    sj_begin(&r, SJ_BCAST, s);
    jrec_str(&r, b->b_id, b->b_idlen);
    jrec_u8(&r, kept ? 1 : 0);
    jrec_u32(&r, (uint32_t)n);
    for (i = 0; i < n; i++)
        jrec_u64(&r, seqs[i]);
    jrec_value(&r, v);
    return sj_emit(&r);
}

/* Broadcast copies of v were made (seqs), and its template kept if kept. */
void
sj_bcast(struct sleigh *s, const struct sleigh_batch *b, const struct value *v, int kept,
         const uint64_t *seqs, size_t n)
{
    if (sj_on() && (n > 0 || kept))
        sj_bcast_emit(s, b, v, kept, seqs, n);
}

/* Task seq ended; its result kept (waiting in the batch), or NULL if delivered. */
void
sj_done(struct sleigh *s, uint64_t seq, uint64_t failed, const struct value *kept)
{
    struct jrec r = {0};

    if (!sj_on())
        return;
    sj_begin(&r, SJ_DONE, s);
    jrec_u64(&r, seq);
    jrec_u64(&r, failed);
    jrec_u8(&r, kept != NULL);
    if (kept != NULL)
        jrec_value(&r, kept);
    sj_emit(&r);
}

/* The oldest result of b was collected. */
void
sj_take(struct sleigh *s, const struct sleigh_batch *b)
{
    struct jrec r = {0};

    if (!sj_on())
        return;
    sj_begin(&r, SJ_TAKE, s);
    jrec_str(&r, b->b_id, b->b_idlen);
    sj_emit(&r);
}

/* A result went back to the end of b (its reply never reached its master). */
void
sj_result(struct sleigh *s, const struct sleigh_batch *b, const struct value *v)
{
    struct jrec r = {0};

    if (!sj_on())
        return;
    sj_begin(&r, SJ_RESULT, s);
    jrec_str(&r, b->b_id, b->b_idlen);
    jrec_value(&r, v);
    sj_emit(&r);
}

/* Batch b's record came: every task of it is in. */
void
sj_end(struct sleigh *s, const struct sleigh_batch *b)
{
    struct jrec r = {0};

    if (!sj_on())
        return;
    sj_begin(&r, SJ_END, s);
    jrec_str(&r, b->b_id, b->b_idlen);
    jrec_str(&r, b->b_record != NULL ? b->b_record : "",
             b->b_record != NULL ? strlen(b->b_record) : 0);
    sj_emit(&r);
}

/* The kept broadcast templates were dropped. */
void
sj_drop(struct sleigh *s)
{
    struct jrec r = {0};

    if (!sj_on())
        return;
    sj_begin(&r, SJ_DROP, s);
    sj_emit(&r);
}

/* Appends SJ_STATE. */
static int
sj_state_emit(struct sleigh *s)
{
    struct jrec r = {0};

    sj_begin(&r, SJ_STATE, s);
    jrec_u8(&r, (s->s_registered_ever > 0 ? SJ_JOINED : 0) |
                    (s->s_shutdown ? SJ_SHUTDOWN : 0));
    jrec_u32(&r, s->s_fixedarg);
    jrec_u64(&r, s->s_seq);
    return sj_emit(&r);
}

/* A worker joined for the first time, the sleigh shut down, or fixedargID moved. */
void
sj_state(struct sleigh *s)
{
    if (sj_on())
        sj_state_emit(s);
}

/* Worker sw (of a session) registered: its rank is kept across a restart. */
void
sj_worker(struct sleigh *s, const struct sleigh_worker *sw)
{
    struct jrec r = {0};

    if (!sj_on() || sw->sw_sid[0] == '\0')
        return;
    sj_begin(&r, SJ_WORKER, s);
    jrec_str(&r, sw->sw_sid, strlen(sw->sw_sid));
    jrec_u64(&r, (uint64_t)sw->sw_rank);
    sj_emit(&r);
}

/* Worker sw (of a session) is gone: its session ended. */
void
sj_worker_gone(struct sleigh *s, const struct sleigh_worker *sw)
{
    struct jrec r = {0};

    if (!sj_on() || sw->sw_sid[0] == '\0')
        return;
    sj_begin(&r, SJ_GONE, s);
    jrec_str(&r, sw->sw_sid, strlen(sw->sw_sid));
    sj_emit(&r);
}

/*
 * c's session is one the journal names a worker of: c becomes that worker
 * again, with its rank, detached until sleigh_conn_resumed.  1 if it did.
 */
int
sj_rebind(struct sleigh *s, struct conn *c)
{
    struct session       *ss = conn_session(c);
    struct sleigh_worker *sw;
    const char           *id;
    void                 *v;
    long                  rank;
    size_t                i;

    if (ss == NULL || (id = session_id(ss)) == NULL ||
        (v = htab_del(&s->s_rebind, id, strlen(id))) == NULL)
        return 0;
    rank = (long)((uintptr_t)v - 1);
    for (i = 0; i < s->s_nworkers; i++)
        if (s->s_workers[i]->sw_rank == rank || s->s_workers[i]->sw_conn == c) {
            log_info("sleigh %s: rank %ld of session %s was taken: it registers again",
                     s->s_ws->ws_name, rank, id);
            return 0;
        }
    sw = sleigh_worker_add(s, c, rank);
    sw->sw_detached = 1;
    if (rank >= s->s_allocated)
        s->s_allocated = rank + 1; /* worker_ids never hands it out again */
    log_info("sleigh %s: worker %ld is back with its session", s->s_ws->ws_name, rank);
    return 1;
}

/* ---- replay ------------------------------------------------------------------ */

/*
 * The replay is over and the journal records again (sleigh_start): the
 * copies whose worker went with the restart end as error results, as a
 * dead worker's copies do; the replay's index of tasks is dropped.
 */
void
sj_replayed(struct sleigh *s)
{
    struct sleigh_task *t;
    struct htab_ent    *e;
    struct session     *ss;
    struct conn        *c;
    size_t              pos = 0, n, i;
    char              **ids;

    htab_free(&s->s_byseq);
    htab_init(&s->s_byseq);
    while ((t = TAILQ_FIRST(&s->s_lost)) != NULL) {
        TAILQ_REMOVE(&s->s_lost, t, t_link);
        t->t_batch->b_queued--;
        sleigh_fail_task(s, t, -1, "its worker was lost when the server restarted");
    }
    /* Workers of restored sessions get their ranks back now, so that nobody
     * registers with one meanwhile; the others' sessions ended. */
    n = htab_count(&s->s_rebind);
    ids = xcalloc(n + 1, sizeof(*ids));
    for (i = 0; i < n && (e = htab_next(&s->s_rebind, &pos)) != NULL; i++)
        ids[i] = xstrndup(e->h_key, e->h_klen);
    for (i = 0; i < n; i++) {
        if ((ss = session_by_id(ids[i])) == NULL)
            htab_del(&s->s_rebind, ids[i], strlen(ids[i]));
        else if ((c = session_conn(ss)) != NULL)
            sj_rebind(s, c);
        free(ids[i]);
    }
    free(ids);
}

/* Frees what the replay left in s (the sleigh goes). */
void
sj_forget(struct sleigh *s)
{
    struct sleigh_task *t;

    while ((t = TAILQ_FIRST(&s->s_lost)) != NULL) {
        TAILQ_REMOVE(&s->s_lost, t, t_link);
        sleigh_task_free(t);
    }
    htab_free(&s->s_byseq);
    htab_free(&s->s_rebind);
}

/* Notes replayed task t under its seq, for the SJ_DONE that may end it. */
static void
sj_index(struct sleigh *s, struct sleigh_task *t)
{
    htab_put(&s->s_byseq, (const char *)&t->t_seq, sizeof(t->t_seq), t);
    if (t->t_seq > s->s_seq)
        s->s_seq = t->t_seq;
}

/* Reads a string field into *p, *len; 0, or -1 with err set. */
static int
sj_str(struct jreader *r, const char **p, size_t *len, char *err, size_t errlen)
{
    *p = jr_str(r, len);
    if (r->bad || *p == NULL) {
        snprintf(err, errlen, "sleigh record: truncated");
        return -1;
    }
    return 0;
}

/* The sleigh a record names (its first field); NULL with err set. */
static struct sleigh *
sj_sleigh(struct jreader *r, char *err, size_t errlen)
{
    const char *name;
    size_t      len;
    struct ws  *ws;

    if (sj_str(r, &name, &len, err, errlen) != 0)
        return NULL;
    if ((ws = ws_find(name, len)) == NULL || ws->ws_sleigh == NULL) {
        snprintf(err, errlen, "sleigh record for %.*s, which is no sleigh workspace",
                 (int)(len > 64 ? 64 : len), name);
        return NULL;
    }
    return ws->ws_sleigh;
}

/* The batch named by the next field, made (or revived) if missing; NULL if bad. */
static struct sleigh_batch *
sj_batch_field(struct sleigh *s, struct jreader *r, char *err, size_t errlen)
{
    const char *id;
    size_t      len;

    if (sj_str(r, &id, &len, err, errlen) != 0)
        return NULL;
    return sleigh_batch(s, id, len);
}

/* The existing batch named by the next field; NULL with err set. */
static struct sleigh_batch *
sj_batch_find(struct sleigh *s, struct jreader *r, char *err, size_t errlen)
{
    const char          *id;
    size_t               len;
    struct sleigh_batch *b;

    if (sj_str(r, &id, &len, err, errlen) != 0)
        return NULL;
    if ((b = htab_get(&s->s_batches, id, len)) == NULL || b->b_collected)
        snprintf(err, errlen, "sleigh record names batch %.*s, which is not live",
                 (int)(len > 64 ? 64 : len), id);
    return b != NULL && !b->b_collected ? b : NULL;
}

/* Keeps result v at the end of batch b. */
static void
sj_keep_result(struct sleigh *s, struct sleigh_batch *b, struct value *v)
{
    struct sleigh_result *res = xcalloc(1, sizeof(*res));

    res->r_value = v;
    TAILQ_INSERT_TAIL(&b->b_results, res, r_link);
    s->s_nresults++;
}

static int
sj_apply_batch(struct sleigh *s, struct jreader *r, char *err, size_t errlen)
{
    struct sleigh_batch *b;
    const char          *rec, *what;
    size_t               reclen, whatlen;
    uint64_t             started, done, failed;
    uint8_t              flags;

    if ((b = sj_batch_field(s, r, err, errlen)) == NULL)
        return -1;
    started = jr_u64(r);
    done = jr_u64(r);
    failed = jr_u64(r);
    flags = jr_u8(r);
    if (sj_str(r, &rec, &reclen, err, errlen) != 0 ||
        sj_str(r, &what, &whatlen, err, errlen) != 0)
        return -1;
    b->b_started = (time_t)started;
    b->b_done = done;
    b->b_failed = failed;
    b->b_ended = (flags & SJ_ENDED) != 0;
    free(b->b_record);
    b->b_record = reclen > 0 ? xstrndup(rec, reclen) : NULL;
    snprintf(b->b_what, sizeof(b->b_what), "%.*s", (int)whatlen, what);
    if ((flags & SJ_COLLECTED) && !b->b_collected)
        sleigh_batch_retire(s, b);
    return 0;
}

static int
sj_apply_task(struct sleigh *s, struct jreader *r, char *err, size_t errlen)
{
    struct sleigh_batch *b;
    struct sleigh_task  *t;
    struct value        *v;
    uint64_t             seq = jr_u64(r);

    if ((b = sj_batch_field(s, r, err, errlen)) == NULL)
        return -1;
    if ((v = jr_value(r)) == NULL) {
        snprintf(err, errlen, "sleigh task record: bad value");
        return -1;
    }
    t = sleigh_task_new(v, b, 0);
    t->t_seq = seq;
    sleigh_batch_what(b, v);
    TAILQ_INSERT_TAIL(&s->s_tasks, t, t_link);
    s->s_ntasks++;
    sleigh_elem_put(t);
    sj_index(s, t);
    return 0;
}

static int
sj_apply_bcast(struct sleigh *s, struct jreader *r, char *err, size_t errlen)
{
    struct sleigh_batch *b;
    struct sleigh_task  *t;
    struct value        *v;
    uint64_t            *seqs;
    uint32_t             n, i;
    uint8_t              kept;

    if ((b = sj_batch_field(s, r, err, errlen)) == NULL)
        return -1;
    kept = jr_u8(r);
    n = jr_u32(r);
    if (r->bad || n > (r->len - r->off) / 8) {
        snprintf(err, errlen, "sleigh broadcast record: truncated");
        return -1;
    }
    seqs = xcalloc(n + 1, sizeof(*seqs));
    for (i = 0; i < n; i++)
        seqs[i] = jr_u64(r);
    if ((v = jr_value(r)) == NULL) {
        free(seqs);
        snprintf(err, errlen, "sleigh broadcast record: bad value");
        return -1;
    }
    sleigh_batch_what(b, v);
    for (i = 0; i < n; i++) {
        t = sleigh_task_new(value_ref(v), b, 1);
        t->t_seq = seqs[i];
        TAILQ_INSERT_TAIL(&s->s_lost, t, t_link);
        sj_index(s, t);
    }
    if (kept) {
        t = xcalloc(1, sizeof(*t));
        t->t_value = value_ref(v);
        t->t_batch = b;
        t->t_broadcast = 1;
        b->b_kept++;
        TAILQ_INSERT_TAIL(&s->s_broadcasts, t, t_link);
    }
    value_unref(v);
    free(seqs);
    return 0;
}

static int
sj_apply_done(struct sleigh *s, struct jreader *r, char *err, size_t errlen)
{
    struct sleigh_task  *t;
    struct sleigh_batch *b;
    struct value        *v = NULL;
    uint64_t             seq = jr_u64(r), failed = jr_u64(r);
    uint8_t              kept = jr_u8(r);

    if (r->bad) {
        snprintf(err, errlen, "sleigh done record: truncated");
        return -1;
    }
    if (kept && (v = jr_value(r)) == NULL) {
        snprintf(err, errlen, "sleigh done record: bad value");
        return -1;
    }
    if ((t = htab_del(&s->s_byseq, (const char *)&seq, sizeof(seq))) == NULL) {
        if (v != NULL)
            value_unref(v);
        snprintf(err, errlen, "sleigh done record for task %llu, which is not queued",
                 (unsigned long long)seq);
        return -1;
    }
    b = t->t_batch;
    if (t->t_broadcast) {
        TAILQ_REMOVE(&s->s_lost, t, t_link);
    } else {
        const char *f;
        size_t      fl;

        TAILQ_REMOVE(&s->s_tasks, t, t_link);
        s->s_ntasks--;
        if (sleigh_task_first(t, &f, &fl))
            sleigh_elem_done(b, f, fl);
    }
    b->b_queued--;
    b->b_done++;
    b->b_failed += failed;
    sleigh_task_free(t);
    if (v != NULL)
        sj_keep_result(s, b, v);
    sleigh_batch_settle(s, b);
    return 0;
}

static int
sj_apply_result(struct sleigh *s, struct jreader *r, char *err, size_t errlen)
{
    struct sleigh_batch *b;
    struct value        *v;

    if ((b = sj_batch_find(s, r, err, errlen)) == NULL)
        return -1;
    if ((v = jr_value(r)) == NULL) {
        snprintf(err, errlen, "sleigh result record: bad value");
        return -1;
    }
    sj_keep_result(s, b, v);
    return 0;
}

static int
sj_apply_take(struct sleigh *s, struct jreader *r, char *err, size_t errlen)
{
    struct sleigh_batch  *b;
    struct sleigh_result *res;

    if ((b = sj_batch_find(s, r, err, errlen)) == NULL)
        return -1;
    if ((res = TAILQ_FIRST(&b->b_results)) == NULL) {
        snprintf(err, errlen, "sleigh take record: batch %.*s holds no result",
                 (int)(b->b_idlen > 64 ? 64 : b->b_idlen), b->b_id);
        return -1;
    }
    TAILQ_REMOVE(&b->b_results, res, r_link);
    s->s_nresults--;
    value_unref(res->r_value);
    free(res);
    sleigh_batch_settle(s, b);
    return 0;
}

static int
sj_apply_end(struct sleigh *s, struct jreader *r, char *err, size_t errlen)
{
    struct sleigh_batch *b;
    const char          *rec;
    size_t               reclen;

    if ((b = sj_batch_field(s, r, err, errlen)) == NULL ||
        sj_str(r, &rec, &reclen, err, errlen) != 0)
        return -1;
    b->b_ended = 1;
    free(b->b_record);
    b->b_record = reclen > 0 ? xstrndup(rec, reclen) : NULL;
    sleigh_batch_settle(s, b);
    return 0;
}

static int
sj_apply_elems(struct sleigh *s, struct jreader *r, char *err, size_t errlen)
{
    struct sleigh_batch *b;
    const char          *f;
    size_t               fl;

    if ((b = sj_batch_find(s, r, err, errlen)) == NULL)
        return -1;
    while (r->off < r->len) {
        if (sj_str(r, &f, &fl, err, errlen) != 0)
            return -1;
        sleigh_elem_done(b, f, fl);
    }
    return 0;
}

static int
sj_apply_worker(struct sleigh *s, struct jreader *r, int gone, char *err, size_t errlen)
{
    const char *id;
    size_t      len;
    uint64_t    rank = 0;

    if (sj_str(r, &id, &len, err, errlen) != 0)
        return -1;
    if (!gone)
        rank = jr_u64(r);
    if (r->bad || len == 0 || len > SESSION_ID_HEX || rank >= 1000000000) {
        snprintf(err, errlen, "sleigh worker record: bad session or rank");
        return -1;
    }
    if (gone)
        htab_del(&s->s_rebind, id, len);
    else
        htab_put(&s->s_rebind, id, len, (void *)(uintptr_t)(rank + 1));
    return 0;
}

static int
sj_apply_state(struct sleigh *s, struct jreader *r, char *err, size_t errlen)
{
    uint8_t  flags = jr_u8(r);
    uint32_t fixedarg = jr_u32(r);
    uint64_t seq = jr_u64(r);

    if (r->bad) {
        snprintf(err, errlen, "sleigh state record: truncated");
        return -1;
    }
    if ((flags & SJ_JOINED) && s->s_registered_ever == 0)
        s->s_registered_ever = 1; /* sleigh_start arms no workerGracePeriod */
    if (flags & SJ_SHUTDOWN)
        sleigh_shutdown(s);
    if (fixedarg > s->s_fixedarg)
        s->s_fixedarg = fixedarg;
    if (seq > s->s_seq)
        s->s_seq = seq;
    return 0;
}

/* Applies one sleigh record during the replay: 0, or -1 with err set. */
static int
sj_apply(uint8_t type, struct jreader *r, char *err, size_t errlen)
{
    struct sleigh *s;
    int            rc;

    if ((s = sj_sleigh(r, err, errlen)) == NULL)
        return -1;
    sj_applying = 1;
    switch (type) {
    case SJ_BATCH:
        rc = sj_apply_batch(s, r, err, errlen);
        break;
    case SJ_TASK:
        rc = sj_apply_task(s, r, err, errlen);
        break;
    case SJ_BCAST:
        rc = sj_apply_bcast(s, r, err, errlen);
        break;
    case SJ_DONE:
        rc = sj_apply_done(s, r, err, errlen);
        break;
    case SJ_RESULT:
        rc = sj_apply_result(s, r, err, errlen);
        break;
    case SJ_TAKE:
        rc = sj_apply_take(s, r, err, errlen);
        break;
    case SJ_END:
        rc = sj_apply_end(s, r, err, errlen);
        break;
    case SJ_DROP:
        sleigh_drop_templates(s);
        rc = 0;
        break;
    case SJ_STATE:
        rc = sj_apply_state(s, r, err, errlen);
        break;
    case SJ_ELEMS:
        rc = sj_apply_elems(s, r, err, errlen);
        break;
    case SJ_WORKER:
    case SJ_GONE:
        rc = sj_apply_worker(s, r, type == SJ_GONE, err, errlen);
        break;
    default:
        snprintf(err, errlen, "unknown sleigh record type %u", type);
        rc = -1;
        break;
    }
    sj_applying = 0;
    if (rc == 0 && r->bad) {
        snprintf(err, errlen, "sleigh record type %u: truncated", type);
        rc = -1;
    }
    return rc;
}

/* ---- snapshot ---------------------------------------------------------------- */

/* Appends SJ_BATCH for b (its counts as they are now). */
static int
sj_snap_batch(struct sleigh *s, const struct sleigh_batch *b)
{
    struct jrec r = {0};

    sj_begin(&r, SJ_BATCH, s);
    sj_batch_fields(&r, b);
    return sj_emit(&r);
}

/* SJ_ELEMS records being written for one batch. */
struct sj_elems {
    struct sleigh             *s;
    const struct sleigh_batch *b;
    struct jrec                r;
    size_t                     n;
    int                        rc;
};

static void
sj_snap_elem(const char *first, size_t len, void *arg)
{
    struct sj_elems *x = arg;

    if (x->n == 0) {
        sj_begin(&x->r, SJ_ELEMS, x->s);
        jrec_str(&x->r, x->b->b_id, x->b->b_idlen);
    }
    jrec_str(&x->r, first, len);
    if (++x->n == SJ_ELEMS_MAX) {
        x->rc |= sj_emit(&x->r);
        x->n = 0;
    }
}

/* Appends SJ_ELEMS records for the elements of live batch b whose result came. */
static int
sj_snap_elems(struct sleigh *s, const struct sleigh_batch *b)
{
    struct sj_elems x = {.s = s, .b = b};

    sleigh_elem_foreach_done(b, sj_snap_elem, &x);
    if (x.n > 0)
        x.rc |= sj_emit(&x.r);
    return x.rc;
}

/* Appends a one-copy SJ_BCAST for each task of list. */
static int
sj_snap_copies(struct sleigh *s, const struct task_list *list)
{
    const struct sleigh_task *t;
    int                       rc = 0;

    TAILQ_FOREACH(t, list, t_link)
    rc |= sj_bcast_emit(s, t->t_batch, t->t_value, 0, &t->t_seq, 1);
    return rc;
}

/*
 * Emits the records rebuilding ws's sleigh state (in the compaction child,
 * after the journal's records of the workspace itself): 0, or -1.
 */
static int
sj_snapshot(struct ws *ws)
{
    struct sleigh        *s = ws->ws_sleigh;
    struct sleigh_batch  *b;
    struct sleigh_task   *t;
    struct sleigh_result *res;
    struct htab_ent      *e;
    struct jrec           r = {0};
    size_t                pos, i;
    int                   rc = 0;

    if (s == NULL)
        return 0;
    rc |= sj_state_emit(s);
    /* Collected batches oldest first, so the history keeps its order. */
    TAILQ_FOREACH(b, &s->s_history, b_hist)
    rc |= sj_snap_batch(s, b);
    pos = 0;
    while ((e = htab_next(&s->s_batches, &pos)) != NULL)
        if (!((struct sleigh_batch *)e->h_val)->b_collected) {
            rc |= sj_snap_batch(s, e->h_val);
            rc |= sj_snap_elems(s, e->h_val);
        }
    TAILQ_FOREACH(t, &s->s_broadcasts, t_link)
    rc |= sj_bcast_emit(s, t->t_batch, t->t_value, 1, NULL, 0);
    /* Running tasks go back to the front of the queue, as if their workers died. */
    for (i = 0; i < s->s_nworkers; i++) {
        TAILQ_FOREACH(t, &s->s_workers[i]->sw_running, t_link)
        rc |= t->t_broadcast ? sj_bcast_emit(s, t->t_batch, t->t_value, 0, &t->t_seq, 1)
                             : sj_task_emit(s, t);
    }
    TAILQ_FOREACH(t, &s->s_tasks, t_link)
    rc |= sj_task_emit(s, t);
    for (i = 0; i < s->s_nworkers; i++)
        rc |= sj_snap_copies(s, &s->s_workers[i]->sw_copies);
    rc |= sj_snap_copies(s, &s->s_lost);
    /* Workers of sessions, bound or waiting for their session to be back. */
    for (i = 0; i < s->s_nworkers; i++)
        if (s->s_workers[i]->sw_sid[0] != '\0') {
            sj_begin(&r, SJ_WORKER, s);
            jrec_str(&r, s->s_workers[i]->sw_sid, strlen(s->s_workers[i]->sw_sid));
            jrec_u64(&r, (uint64_t)s->s_workers[i]->sw_rank);
            rc |= sj_emit(&r);
        }
    pos = 0;
    while ((e = htab_next(&s->s_rebind, &pos)) != NULL) {
        sj_begin(&r, SJ_WORKER, s);
        jrec_str(&r, e->h_key, e->h_klen);
        jrec_u64(&r, (uint64_t)((uintptr_t)e->h_val - 1));
        rc |= sj_emit(&r);
    }
    pos = 0;
    while ((e = htab_next(&s->s_batches, &pos)) != NULL) {
        b = e->h_val;
        TAILQ_FOREACH(res, &b->b_results, r_link)
        {
            sj_begin(&r, SJ_RESULT, s);
            jrec_str(&r, b->b_id, b->b_idlen);
            jrec_value(&r, res->r_value);
            rc |= sj_emit(&r);
        }
    }
    return rc != 0 ? -1 : 0;
}

/*
 * Registered before main() runs, so that the journal knows the sleigh's
 * records whatever the order of start-up (this file is linked in with the
 * rest of the sleigh, which calls it).
 */
__attribute__((constructor)) static void
sj_register(void)
{
    journal_register_sleigh(sj_apply, sj_snapshot);
}
