/*
 * sleigh_vars.c -- the sleigh workspace's special variables (protocol
 * section 13.5): what a store, fetch or find on each of them does.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "journal.h"
#include "sleigh.h"

/* Which special variable var is, or -1. */
static int
sleigh_which(const struct sleigh *s, const struct var *var)
{
    int i;

    for (i = 0; i < SV_MAX; i++)
        if (s->s_v[i] == var)
            return i;
    return -1;
}

/* A text value carrying the metadata dictionary in b (may be NULL). */
static struct value *
sleigh_text(const char *text, const struct nwsp_buf *meta)
{
    size_t        len = strlen(text);
    struct value *v = value_new(NWSP_DESC_DIRECT_STRING, meta ? meta->data : NULL,
                                meta ? meta->len : 0, len);

    if (v == NULL) /* past the memory limit: server-made text is never refused */
        v = value_new_text(text, len);
    else
        memcpy(value_data(v), text, len);
    return v;
}

/* Replies text (with optional metadata) to the running request. */
static enum cmd_ret
sleigh_reply(struct request *rq, struct var *var, const char *text,
             const struct nwsp_buf *meta)
{
    struct value *v = sleigh_text(text, meta);

    reply_value(rq->rq_conn, v, var->var_id, 0);
    value_unref(v);
    return CMD_DONE;
}

/* The value count listings show: tasks queued, results kept, else 1. */
static size_t
sleigh_count(const struct var *var)
{
    struct sleigh *s = var->var_ws->ws_sleigh;

    if (s == NULL)
        return 0;
    if (var == s->s_v[SV_TASK])
        return s->s_ntasks;
    if (var == s->s_v[SV_RESULT])
        return s->s_nresults;
    return 1;
}

/* A timed waitForWorkers ran out: answer with the registered count. */
static void
sleigh_wait_timeout(struct conn *c, struct var *var)
{
    struct sleigh *s = var->var_ws->ws_sleigh;
    char           buf[32];
    struct value  *v;

    snprintf(buf, sizeof(buf), "%zu", s->s_nworkers);
    v = value_new_text(buf, strlen(buf));
    conn_waiter(c)->w_deliver(conn_waiter(c), v, 0);
    value_unref(v);
}

/* Parks the request (or answers "no value available" for the Try forms). */
static enum cmd_ret
sleigh_park(struct request *rq, struct var *var, int remove, int blocking)
{
    if (!blocking) {
        request_error(rq, NWSP_STATUS_FAIL, "no value available");
        return CMD_DONE;
    }
    conn_block(rq->rq_conn, var, remove);
    return CMD_BLOCKED;
}

/* Appends "key=value" metadata for jobStatus. */
static void
sleigh_put_num(struct nwsp_buf *b, const char *key, uint64_t n)
{
    char num[32];

    snprintf(num, sizeof(num), "%llu", (unsigned long long)n);
    nwsp_buf_dict_put(b, key, strlen(key), num, strlen(num));
}

/* The join delay a status or waitForWorkers request asks for (metadata delay). */
static long
sleigh_rq_delay(struct request *rq, const struct sleigh *s)
{
    const char *mv;
    size_t      ml;
    long        delay;

    delay = s->s_duration_ms;
    if (sleigh_meta(rq, "delay", &mv, &ml) && sleigh_parse_ms(mv, ml) >= 0)
        delay = sleigh_parse_ms(mv, ml);
    return delay;
}

/* version: the plugin protocol's version. */
static enum cmd_ret
sv_version_get(struct request *rq, struct sleigh *s, struct var *var, int remove,
               int blocking)
{
    (void)s;
    (void)remove;
    (void)blocking;
    return sleigh_reply(rq, var, "1", NULL);
}

/* plugin_version: who serves the sleigh. */
static enum cmd_ret
sv_plugin_version_get(struct request *rq, struct sleigh *s, struct var *var, int remove,
                      int blocking)
{
    (void)s;
    (void)remove;
    (void)blocking;
    return sleigh_reply(rq, var, "sleigh.plugin: nwsserver " NWS_VERSION, NULL);
}

/* workerCount: the expected workers (the ranks handed out until set). */
static enum cmd_ret
sv_worker_count_get(struct request *rq, struct sleigh *s, struct var *var, int remove,
                    int blocking)
{
    char buf[64];

    (void)remove;
    (void)blocking;
    if (s->s_max < 0)
        s->s_max = s->s_allocated;
    snprintf(buf, sizeof(buf), "%ld", s->s_max);
    sleigh_reply(rq, var, buf, NULL);
    sleigh_check_full(s);
    return CMD_DONE;
}

static enum cmd_ret
sv_worker_count_store(struct request *rq, struct sleigh *s, struct value *v,
                      const char *buf)
{
    long n;
    int  ok;

    (void)v;
    n = sleigh_parse_long(buf, strlen(buf), &ok);
    if (!ok || n < 0) {
        request_error(rq, NWSP_STATUS_FAIL, "workerCount must be a number.");
        return CMD_DONE;
    }
    s->s_max = n;
    reply_short(rq->rq_conn, NWSP_STATUS_OK, NULL);
    sleigh_check_full(s);
    return CMD_DONE;
}

/*
 * rankCount: the registered workers that can work now.  A worker whose
 * session is detached is left out: it may be a process that died (its
 * socket closed as a cut one does), and its owner may have started
 * another, with another rank, in its place.
 */
static enum cmd_ret
sv_rank_count_get(struct request *rq, struct sleigh *s, struct var *var, int remove,
                  int blocking)
{
    char   buf[64];
    size_t i, n = 0;

    (void)remove;
    (void)blocking;
    for (i = 0; i < s->s_nworkers; i++)
        n += !s->s_workers[i]->sw_detached;
    snprintf(buf, sizeof(buf), "%zu", n);
    return sleigh_reply(rq, var, buf, NULL);
}

/* join_status: the join phase. */
static enum cmd_ret
sv_join_status_get(struct request *rq, struct sleigh *s, struct var *var, int remove,
                   int blocking)
{
    (void)remove;
    (void)blocking;
    return sleigh_reply(rq, var,
                        s->s_join == JOIN_OPEN      ? "open"
                        : s->s_join == JOIN_JOINING ? "joining"
                                                    : "closed",
                        NULL);
}

/* status: starts the join phase and waits for its end; the registered count. */
static enum cmd_ret
sv_status_get(struct request *rq, struct sleigh *s, struct var *var, int remove,
              int blocking)
{
    char buf[64];

    (void)blocking;
    if (s->s_join != JOIN_CLOSED) {
        sleigh_start_join(s, sleigh_rq_delay(rq, s), 1);
        if (s->s_join != JOIN_CLOSED) {
            conn_block(rq->rq_conn, var, remove);
            return CMD_BLOCKED;
        }
    }
    snprintf(buf, sizeof(buf), "%zu", s->s_nworkers);
    return sleigh_reply(rq, var, buf, NULL);
}

/* status and waitForWorkers: a store sets the join duration. */
static enum cmd_ret
sv_status_store(struct request *rq, struct sleigh *s, struct value *v, const char *buf)
{
    long n;

    (void)v;
    if ((n = sleigh_parse_ms(buf, strlen(buf))) < 0) {
        request_error(rq, NWSP_STATUS_FAIL, "The join duration must be a number.");
        return CMD_DONE;
    }
    s->s_duration_ms = n;
    reply_short(rq->rq_conn, NWSP_STATUS_OK, NULL);
    return CMD_DONE;
}

/* waitForWorkers: waits for the group to close, at most the delay; the registered count. */
static enum cmd_ret
sv_wait_get(struct request *rq, struct sleigh *s, struct var *var, int remove,
            int blocking)
{
    char buf[64];
    long delay;

    (void)blocking;
    if (s->s_join != JOIN_CLOSED) {
        delay = sleigh_rq_delay(rq, s);
        if (delay > 0) {
            conn_block_timeout(rq->rq_conn, var, remove, delay, sleigh_wait_timeout);
            return CMD_BLOCKED;
        }
    }
    snprintf(buf, sizeof(buf), "%zu", s->s_nworkers);
    return sleigh_reply(rq, var, buf, NULL);
}

/* worker_ids: a fetch hands out a rank (-1 once closed or full), a find tells the next. */
static enum cmd_ret
sv_worker_ids_get(struct request *rq, struct sleigh *s, struct var *var, int remove,
                  int blocking)
{
    struct conn    *c = rq->rq_conn;
    struct nwsp_buf meta = {0};
    char            buf[64];

    (void)blocking;
    nwsp_buf_dict_begin(&meta, 1);
    if (remove) {
        if (s->s_join == JOIN_CLOSED || (s->s_max >= 0 && s->s_allocated >= s->s_max)) {
            snprintf(buf, sizeof(buf), "-1");
        } else {
            snprintf(buf, sizeof(buf), "%ld", s->s_allocated++);
            if (!sleigh_is_sentinel(s, c)) {
                s->s_sentinels = xrealloc(s->s_sentinels, (s->s_nsentinels + 1) *
                                                              sizeof(*s->s_sentinels));
                s->s_sentinels[s->s_nsentinels++] = c;
            }
        }
        nwsp_buf_dict_put(&meta, "allocated", 9, "1", 1);
    } else {
        snprintf(buf, sizeof(buf), "%ld", s->s_allocated);
        nwsp_buf_dict_put(&meta, "allocated", 9, "0", 1);
    }
    sleigh_reply(rq, var, buf, &meta);
    nwsp_buf_free(&meta);
    return CMD_DONE;
}

/* worker_ids: a store registers the storing connection (sleigh.c). */
static enum cmd_ret
sv_worker_ids_store(struct request *rq, struct sleigh *s, struct value *v,
                    const char *buf)
{
    (void)buf;
    return sleigh_register(rq, s, v);
}

/* sentinel_alive: "1" at once unless a live sentinel waits for the next refresh. */
static enum cmd_ret
sv_sentinel_get(struct request *rq, struct sleigh *s, struct var *var, int remove,
                int blocking)
{
    if (s->s_shutdown || !sleigh_is_sentinel(s, rq->rq_conn))
        return sleigh_reply(rq, var, "1", NULL);
    return sleigh_park(rq, var, remove, blocking);
}

/* task: a registered worker takes its next task (requeue rule: sleigh.h). */
static enum cmd_ret
sv_task_get(struct request *rq, struct sleigh *s, struct var *var, int remove,
            int blocking)
{
    struct conn          *c = rq->rq_conn;
    struct sleigh_worker *sw;
    struct sleigh_task   *t;
    const char           *mv;
    size_t                ml;
    int                   requeued;

    if (!remove) {
        request_error(rq, NWSP_STATUS_FAIL, "find is not supported on the task queue");
        return CMD_DONE;
    }
    if (s->s_shutdown) {
        request_error(rq, NWSP_STATUS_FAIL, "sleigh is dead");
        return CMD_DONE;
    }
    if ((sw = sleigh_worker_req(s, c)) == NULL) {
        if (conn_session(c) != NULL) {
            /* A session's worker acts on this (it registers again); a classic
             * connection waits, as in the plugin. */
            request_error(rq, NWSP_STATUS_FAIL,
                          NWSP_SLEIGH_UNREGISTERED_TEXT
                          " register again (store worker_ids)");
            return CMD_DONE;
        }
        return sleigh_park(rq, var, remove, blocking);
    }
    requeued = 0;
    if (sw->sw_nrunning > 0) {
        if (!sleigh_meta(rq, "nwsKeep", &mv, &ml) || ml != 1 || mv[0] != '1') {
            sleigh_requeue(s, sw); /* it asked for more without a result */
            requeued = 1;
        } else if (sw->sw_nrunning >= SLEIGH_KEEP_MAX ||
                   TAILQ_FIRST(&sw->sw_running)->t_suspect ||
                   sleigh_timeout_has(TAILQ_FIRST(&sw->sw_running)) ||
                   (TAILQ_EMPTY(&sw->sw_copies) &&
                    sleigh_timeout_has(TAILQ_FIRST(&s->s_tasks))) ||
                   (TAILQ_EMPTY(&sw->sw_copies) &&
                    (((t = TAILQ_FIRST(&s->s_tasks)) != NULL && t->t_suspect) ||
                     sleigh_other_waits(s, c)))) {
            /* Nothing next to a suspect, nor what an idle worker could run. */
            return sleigh_park(rq, var, remove, 0);
        }
    }
    if ((t = sleigh_next_task(s, sw)) == NULL)
        return sleigh_park(rq, var, remove, blocking);
    reply_value(c, t->t_value, var->var_id, 0);
    if (requeued)
        sleigh_dispatch(s); /* what it gave back, to workers waiting */
    return CMD_DONE;
}

/* task: a master submits a task (metadata batchId names its batch). */
static enum cmd_ret
sv_task_store(struct request *rq, struct sleigh *s, struct value *v, const char *buf)
{
    struct sleigh_task  *t;
    struct sleigh_batch *b;
    const char          *id, *first;
    size_t               idlen, flen;

    (void)buf;
    if (s->s_shutdown) {
        request_error(rq, NWSP_STATUS_SLEIGH_DEAD,
                      "Store failed: sleigh is shutting down.");
        return CMD_DONE;
    }
    if ((b = sleigh_rq_batch_find(s, rq, &id, &idlen)) != NULL && !b->b_collected &&
        sleigh_meta(rq, "nwsFirst", &first, &flen) && flen > 0 &&
        sleigh_elem_get(b, first, flen) != NULL) {
        /* Stored again (a master re-sending after a cut or a restart): the
         * element is queued, running or done already (sleigh_tasks.c). */
        b->b_dups++;
        log_debug("sleigh %s: a duplicate task of batch %.*s dropped", s->s_ws->ws_name,
                  (int)(idlen > 64 ? 64 : idlen), id);
        reply_short(rq->rq_conn, NWSP_STATUS_OK, NULL);
        return CMD_DONE;
    }
    if (sj_reserve(v, 1) != 0) {
        request_error(rq, NWSP_STATUS_FAIL, "Store failed: %s", journal_error());
        return CMD_DONE;
    }
    t = sleigh_task_new(value_ref(v), sleigh_rq_batch(s, rq), 0);
    t->t_seq = ++s->s_seq;
    sleigh_batch_what(t->t_batch, v);
    TAILQ_INSERT_TAIL(&s->s_tasks, t, t_link);
    s->s_ntasks++;
    sleigh_elem_put(t);
    sj_task(s, t);
    reply_short(rq->rq_conn, NWSP_STATUS_OK, NULL);
    sleigh_dispatch(s);
    sleigh_fail_orphans(s);
    return CMD_DONE;
}

/* broadcast: reads as "0". */
static enum cmd_ret
sv_broadcast_get(struct request *rq, struct sleigh *s, struct var *var, int remove,
                 int blocking)
{
    (void)s;
    (void)remove;
    (void)blocking;
    return sleigh_reply(rq, var, "0", NULL);
}

/* broadcast: a copy of the task for every worker, now and until the group closes. */
static enum cmd_ret
sv_broadcast_store(struct request *rq, struct sleigh *s, struct value *v, const char *buf)
{
    struct sleigh_batch *b;
    struct sleigh_task  *t;
    uint64_t            *seqs;
    size_t               i;

    (void)buf;
    if (s->s_shutdown) {
        request_error(rq, NWSP_STATUS_SLEIGH_DEAD,
                      "Store failed: sleigh is shutting down.");
        return CMD_DONE;
    }
    if (sj_reserve(v, s->s_nworkers) != 0) {
        request_error(rq, NWSP_STATUS_FAIL, "Store failed: %s", journal_error());
        return CMD_DONE;
    }
    b = sleigh_rq_batch(s, rq);
    sleigh_batch_what(b, v);
    seqs = xcalloc(s->s_nworkers + 1, sizeof(*seqs));
    for (i = 0; i < s->s_nworkers; i++) {
        t = sleigh_task_new(value_ref(v), b, 1);
        t->t_seq = seqs[i] = ++s->s_seq;
        TAILQ_INSERT_TAIL(&s->s_workers[i]->sw_copies, t, t_link);
        s->s_ntasks++;
    }
    sj_bcast(s, b, v, s->s_join != JOIN_CLOSED, seqs, s->s_nworkers);
    free(seqs);
    if (s->s_join != JOIN_CLOSED) {
        /* Kept for workers that register before the group closes. */
        t = xcalloc(1, sizeof(*t));
        t->t_value = value_ref(v);
        t->t_batch = b;
        t->t_broadcast = 1;
        b->b_kept++;
        TAILQ_INSERT_TAIL(&s->s_broadcasts, t, t_link);
    }
    reply_short(rq->rq_conn, NWSP_STATUS_OK, NULL);
    sleigh_start_join(s, s->s_duration_ms, 0);
    sleigh_dispatch(s);
    return CMD_DONE;
}

/* result: the next result of the batch the request names. */
static enum cmd_ret
sv_result_get(struct request *rq, struct sleigh *s, struct var *var, int remove,
              int blocking)
{
    struct conn          *c = rq->rq_conn;
    struct sleigh_batch  *b;
    struct sleigh_result *r;
    const char           *mv;
    size_t                ml;
    enum cmd_ret          ret;

    if (s->s_shutdown) {
        request_error(rq, NWSP_STATUS_FAIL, "sleigh is dead");
        return CMD_DONE;
    }
    b = sleigh_rq_batch_find(s, rq, &mv, &ml);
    if (b != NULL && (r = TAILQ_FIRST(&b->b_results)) != NULL) {
        if (remove && sj_reserve(NULL, 0) != 0) {
            /* Taking it is a change the journal must hold. */
            request_error(rq, NWSP_STATUS_FAIL, "Fetch failed: %s", journal_error());
            return CMD_DONE;
        }
        reply_value(c, r->r_value, var->var_id, 0);
        if (remove) {
            /* Until its reply is written (or, on a session, acknowledged):
             * a reply lost with the client puts it back (sleigh_result_back). */
            conn_note_fetched(c, var, r->r_value, 0);
            TAILQ_REMOVE(&b->b_results, r, r_link);
            s->s_nresults--;
            value_unref(r->r_value);
            free(r);
            sj_take(s, b);
            sleigh_batch_settle(s, b);
        }
        return CMD_DONE;
    }
    if (!blocking)
        return sleigh_park(rq, var, remove, blocking);
    if (ml > 0 && (b == NULL || b->b_collected || sleigh_batch_empty(b))) {
        /* Never submitted, or taken elsewhere: waiting would be for ever. */
        request_error(rq, NWSP_STATUS_FAIL,
                      b == NULL ? NWSP_SLEIGH_OVER_TEXT " no such batch %.*s"
                                : NWSP_SLEIGH_OVER_TEXT " batch %.*s has no result"
                                                        " left (collected elsewhere)",
                      (int)(ml > 64 ? 64 : ml), mv);
        return CMD_DONE;
    }
    ret = sleigh_park(rq, var, remove, blocking);
    conn_waiter(c)->w_tag = xstrndup(mv, ml);
    conn_waiter(c)->w_taglen = ml;
    conn_waiter(c)->w_arg = 0; /* attached: it is served */
    return ret;
}

/* result: a worker stores the result of a task it runs (sleigh_tasks.c). */
static enum cmd_ret
sv_result_store(struct request *rq, struct sleigh *s, struct value *v, const char *buf)
{
    (void)buf;
    return sleigh_result(rq, s, v);
}

/* jobStatus: a batch's (or with metadata all=1, every batch's) counts. */
static enum cmd_ret
sv_job_status_get(struct request *rq, struct sleigh *s, struct var *var, int remove,
                  int blocking)
{
    struct sleigh_batch *b;
    struct nwsp_buf      meta = {0};
    const char          *mv;
    size_t               ml;
    char                 buf[64];
    uint64_t             q = 0, run = 0, done = 0, failed = 0;

    (void)remove;
    (void)blocking;
    b = NULL;
    if (sleigh_meta(rq, "all", &mv, &ml) && ml == 1 && mv[0] == '1') {
        struct htab_ent *e;
        size_t           pos = 0;

        while ((e = htab_next(&s->s_batches, &pos)) != NULL) {
            b = e->h_val;
            q += b->b_queued;
            run += b->b_running;
            done += b->b_done;
            failed += b->b_failed;
        }
        b = NULL; /* no one batch's state */
    } else if ((b = sleigh_rq_batch_find(s, rq, &mv, &ml)) != NULL) {
        q = b->b_queued;
        run = b->b_running;
        done = b->b_done;
        failed = b->b_failed;
    }
    nwsp_buf_dict_begin(&meta, 6);
    mv = sleigh_batch_state(b);
    nwsp_buf_dict_put(&meta, "nwsBatch", 8, mv, strlen(mv));
    sleigh_put_num(&meta, "nwsPending", q + run);
    sleigh_put_num(&meta, "nwsRunning", run);
    sleigh_put_num(&meta, "nwsQueued", q);
    sleigh_put_num(&meta, "nwsDone", done);
    sleigh_put_num(&meta, "nwsFailed", failed);
    snprintf(buf, sizeof(buf), "%llu", (unsigned long long)(q + run));
    sleigh_reply(rq, var, buf, &meta);
    nwsp_buf_free(&meta);
    return CMD_DONE;
}

/* fixedargID: the name of a new hidden single variable for a fixed argument. */
static enum cmd_ret
sv_fixedarg_get(struct request *rq, struct sleigh *s, struct var *var, int remove,
                int blocking)
{
    struct var *fv;
    char        buf[64];

    (void)remove;
    (void)blocking;
    snprintf(buf, sizeof(buf), "#fixedArg%u", ++s->s_fixedarg);
    sj_state(s); /* a later name must not be one given before a restart */
    fv = ws_var(s->s_ws, buf, strlen(buf));
    if (fv->var_mode == VAR_UNKNOWN)
        fv->var_mode = VAR_SINGLE;
    fv->var_hidden = 1;
    return sleigh_reply(rq, var, buf, NULL);
}

/* agentStatus and scoreboard: a text report of the workers. */
static enum cmd_ret
sv_report_get(struct request *rq, struct sleigh *s, struct var *var, int remove,
              int blocking)
{
    struct nwsp_buf b = {0};
    char            line[160];
    size_t          i, detached = 0;

    (void)remove;
    (void)blocking;
    for (i = 0; i < s->s_nworkers; i++)
        detached += s->s_workers[i]->sw_detached != 0;
    snprintf(line, sizeof(line), "join %s, %zu workers, %zu tasks queued%s\n",
             s->s_join == JOIN_OPEN      ? "open"
             : s->s_join == JOIN_JOINING ? "joining"
                                         : "closed",
             s->s_nworkers - detached, s->s_ntasks,
             s->s_shutdown ? ", shutting down" : "");
    nwsp_buf_add(&b, line, strlen(line));
    for (i = 0; i < s->s_nworkers; i++) {
        struct sleigh_worker *sw = s->s_workers[i];

        /* A detached one is not "worker R:", the line readers count (as
         * rankCount leaves it out): it may be a process that died. */
        if (sw->sw_detached)
            snprintf(line, sizeof(line),
                     "detached worker %ld (its session waits), %llu tasks done\n",
                     sw->sw_rank, (unsigned long long)sw->sw_done);
        else
            snprintf(line, sizeof(line), "worker %ld: %s, %llu tasks done\n", sw->sw_rank,
                     sw->sw_nrunning > 0 ? "running" : "idle",
                     (unsigned long long)sw->sw_done);
        nwsp_buf_add(&b, line, strlen(line));
    }
    nwsp_buf_add(&b, "", 1);
    sleigh_reply(rq, var, b.data, NULL);
    nwsp_buf_free(&b);
    return CMD_DONE;
}

/*
 * The special variables (tmux's cmd_entry style): entry i is s_v[i] of every
 * sleigh.  hidden: listings leave it out unless asked (as the plugin did).
 */
const struct sleigh_var sleigh_vars[SV_MAX] = {
    [SV_VERSION] = {.name = "version", .hidden = 1, .get = sv_version_get},
    [SV_PLUGIN_VERSION] = {.name = "plugin_version", .get = sv_plugin_version_get},
    [SV_WORKER_COUNT] = {.name = "workerCount",
                         .store = sv_worker_count_store,
                         .get = sv_worker_count_get},
    [SV_RANK_COUNT] = {.name = "rankCount", .get = sv_rank_count_get},
    [SV_JOIN_STATUS] = {.name = "join_status", .get = sv_join_status_get},
    [SV_STATUS] = {.name = "status",
                   .hidden = 1,
                   .store = sv_status_store,
                   .get = sv_status_get},
    [SV_WAIT] = {.name = "waitForWorkers",
                 .hidden = 1,
                 .store = sv_status_store,
                 .get = sv_wait_get},
    [SV_WORKER_IDS] = {.name = "worker_ids",
                       .hidden = 1,
                       .store = sv_worker_ids_store,
                       .get = sv_worker_ids_get},
    [SV_SENTINEL] = {.name = "sentinel_alive", .hidden = 1, .get = sv_sentinel_get},
    [SV_TASK] = {.name = "task", .store = sv_task_store, .get = sv_task_get},
    [SV_BROADCAST] = {.name = "broadcast",
                      .hidden = 1,
                      .store = sv_broadcast_store,
                      .get = sv_broadcast_get},
    [SV_RESULT] = {.name = "result", .store = sv_result_store, .get = sv_result_get},
    [SV_JOB_STATUS] = {.name = "jobStatus", .hidden = 1, .get = sv_job_status_get},
    [SV_FIXEDARG] = {.name = "fixedargID", .hidden = 1, .get = sv_fixedarg_get},
    [SV_AGENT] = {.name = "agentStatus", .get = sv_report_get},
    [SV_SCOREBOARD] = {.name = "scoreboard", .get = sv_report_get},
};

/* A store to special variable var: its table entry's store, or the refusal. */
static enum cmd_ret
sleigh_store(struct request *rq, struct ws *ws, struct var *var)
{
    struct sleigh *s = ws->ws_sleigh;
    struct value  *v = rq->rq_value;
    char           buf[32];
    int            i;

    snprintf(buf, sizeof(buf), "%.*s", (int)(v->v_len < 31 ? v->v_len : 31),
             (v->v_flags & VALUE_SPOOLED) ? "" : value_data(v));
    if ((i = sleigh_which(s, var)) < 0 || sleigh_vars[i].store == NULL) {
        request_error(rq, NWSP_STATUS_FAIL, "Store is not supported for this variable.");
        return CMD_DONE;
    }
    return sleigh_vars[i].store(rq, s, v, buf);
}

/* A fetch (remove) or find on special variable var: its table entry's get. */
static enum cmd_ret
sleigh_get(struct request *rq, struct ws *ws, struct var *var, int remove, int blocking)
{
    struct sleigh *s = ws->ws_sleigh;
    int            i;

    if ((i = sleigh_which(s, var)) < 0)
        return CMD_DONE;
    return sleigh_vars[i].get(rq, s, var, remove, blocking);
}

/*
 * A result fetched by a master whose reply never reached it (its
 * connection closed first, or its session ended without acknowledging
 * it): back to its batch (made again if it was retired meanwhile), and to
 * a waiting master.  Other special variables give nothing back.
 */
static void
sleigh_put_back(struct var *var, struct value *v)
{
    struct sleigh       *s = var->var_ws->ws_sleigh;
    struct sleigh_batch *b;
    const char          *id = "";
    size_t               len = 0;

    if (s == NULL || var != s->s_v[SV_RESULT] || s->s_shutdown)
        return;
    if (v->v_metalen > 0)
        nwsp_dict_get(value_meta(v), v->v_metalen, "batchId", &id, &len);
    b = sleigh_batch(s, id, len);
    log_info("sleigh %s: a result of batch %.*s went back (its reply never reached its "
             "master)",
             s->s_ws->ws_name, (int)(len > 64 ? 64 : len), id);
    if (sleigh_add_result(s, b, value_ref(v)))
        sj_result(s, b, v);
}

const struct var_hooks sleigh_var_hooks = {
    .vh_store = sleigh_store,
    .vh_get = sleigh_get,
    .vh_count = sleigh_count,
    .vh_put_back = sleigh_put_back,
};
