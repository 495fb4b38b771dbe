/*
 * sleigh_vars.c -- the sleigh workspace's special variables (protocol
 * section 13.5): what a store, fetch or find on each of them does.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sleigh.h"

const struct sleigh_var sleigh_vars[SV_MAX] = {
    [SV_VERSION] = {"version", 1},           [SV_PLUGIN_VERSION] = {"plugin_version", 0},
    [SV_WORKER_COUNT] = {"workerCount", 0},  [SV_RANK_COUNT] = {"rankCount", 0},
    [SV_JOIN_STATUS] = {"join_status", 0},   [SV_STATUS] = {"status", 1},
    [SV_WAIT] = {"waitForWorkers", 1},       [SV_WORKER_IDS] = {"worker_ids", 1},
    [SV_SENTINEL] = {"sentinel_alive", 1},   [SV_TASK] = {"task", 0},
    [SV_BROADCAST] = {"broadcast", 1},       [SV_RESULT] = {"result", 0},
    [SV_JOB_STATUS] = {"jobStatus", 1},      [SV_FIXEDARG] = {"fixedargID", 1},
    [SV_AGENT] = {"agentStatus", 0},         [SV_SCOREBOARD] = {"scoreboard", 0},
};

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


size_t
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

enum cmd_ret
sleigh_store(struct request *rq, struct ws *ws, struct var *var)
{
    struct sleigh      *s = ws->ws_sleigh;
    struct value       *v = rq->rq_value;
    struct sleigh_batch *b;
    struct sleigh_task *t;
    enum cmd_ret        ret = CMD_DONE;
    char                buf[32];
    long                n;
    int                 ok;
    size_t              i;

    snprintf(buf, sizeof(buf), "%.*s", (int)(v->v_len < 31 ? v->v_len : 31),
             (v->v_flags & VALUE_SPOOLED) ? "" : value_data(v));
    switch (sleigh_which(s, var)) {
    case SV_WORKER_COUNT:
        n = sleigh_parse_long(buf, strlen(buf), &ok);
        if (!ok || n < 0) {
            request_error(rq, NWSP_STATUS_FAIL, "workerCount must be a number.");
            break;
        }
        s->s_max = n;
        reply_short(rq->rq_conn, NWSP_STATUS_OK, NULL);
        sleigh_check_full(s);
        break;
    case SV_STATUS:
    case SV_WAIT:
        if ((n = sleigh_parse_ms(buf, strlen(buf))) < 0) {
            request_error(rq, NWSP_STATUS_FAIL, "The join duration must be a number.");
            break;
        }
        s->s_duration_ms = n;
        reply_short(rq->rq_conn, NWSP_STATUS_OK, NULL);
        break;
    case SV_WORKER_IDS:
        ret = sleigh_register(rq, s, v);
        break;
    case SV_TASK:
        if (s->s_shutdown) {
            request_error(rq, NWSP_STATUS_SLEIGH_DEAD,
                          "Store failed: sleigh is shutting down.");
            break;
        }
        t = sleigh_task_new(value_ref(v), sleigh_rq_batch(s, rq), 0);
        sleigh_batch_what(t->t_batch, v);
        TAILQ_INSERT_TAIL(&s->s_tasks, t, t_link);
        s->s_ntasks++;
        reply_short(rq->rq_conn, NWSP_STATUS_OK, NULL);
        sleigh_dispatch(s);
        sleigh_fail_orphans(s);
        break;
    case SV_BROADCAST:
        if (s->s_shutdown) {
            request_error(rq, NWSP_STATUS_SLEIGH_DEAD,
                          "Store failed: sleigh is shutting down.");
            break;
        }
        b = sleigh_rq_batch(s, rq);
        sleigh_batch_what(b, v);
        for (i = 0; i < s->s_nworkers; i++) {
            t = sleigh_task_new(value_ref(v), b, 1);
            TAILQ_INSERT_TAIL(&s->s_workers[i]->sw_copies, t, t_link);
            s->s_ntasks++;
        }
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
        break;
    case SV_RESULT:
        ret = sleigh_result(rq, s, v);
        break;
    default:
        request_error(rq, NWSP_STATUS_FAIL, "Store is not supported for this variable.");
        break;
    }
    return ret;
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

/* Text report of the workers (agentStatus, scoreboard). */
static enum cmd_ret
sleigh_report(struct request *rq, struct sleigh *s, struct var *var)
{
    struct nwsp_buf b = {0};
    char            line[160];
    size_t          i;

    snprintf(line, sizeof(line), "join %s, %zu workers, %zu tasks queued%s\n",
             s->s_join == JOIN_OPEN ? "open" : s->s_join == JOIN_JOINING ? "joining" : "closed",
             s->s_nworkers, s->s_ntasks, s->s_shutdown ? ", shutting down" : "");
    nwsp_buf_add(&b, line, strlen(line));
    for (i = 0; i < s->s_nworkers; i++) {
        struct sleigh_worker *sw = s->s_workers[i];

        snprintf(line, sizeof(line), "worker %ld: %s, %llu tasks done\n", sw->sw_rank,
                 sw->sw_nrunning > 0 ? "running" : "idle", (unsigned long long)sw->sw_done);
        nwsp_buf_add(&b, line, strlen(line));
    }
    nwsp_buf_add(&b, "", 1);
    sleigh_reply(rq, var, b.data, NULL);
    nwsp_buf_free(&b);
    return CMD_DONE;
}

enum cmd_ret
sleigh_get(struct request *rq, struct ws *ws, struct var *var, int remove, int blocking)
{
    struct sleigh        *s = ws->ws_sleigh;
    struct conn          *c = rq->rq_conn;
    struct sleigh_worker *sw;
    struct sleigh_task   *t;
    struct sleigh_batch  *b;
    struct sleigh_result *r;
    struct nwsp_buf       meta = {0};
    const char           *mv;
    size_t                ml;
    long                  delay;
    char                  buf[64];
    enum cmd_ret          ret = CMD_DONE;
    int                   requeued;

    switch (sleigh_which(s, var)) {
    case SV_VERSION:
        return sleigh_reply(rq, var, "1", NULL);
    case SV_PLUGIN_VERSION:
        return sleigh_reply(rq, var, "sleigh.plugin: nwsserver " NWS_VERSION, NULL);
    case SV_WORKER_COUNT:
        if (s->s_max < 0)
            s->s_max = s->s_allocated;
        snprintf(buf, sizeof(buf), "%ld", s->s_max);
        sleigh_reply(rq, var, buf, NULL);
        sleigh_check_full(s);
        return CMD_DONE;
    case SV_RANK_COUNT:
        snprintf(buf, sizeof(buf), "%zu", s->s_nworkers);
        return sleigh_reply(rq, var, buf, NULL);
    case SV_JOIN_STATUS:
        return sleigh_reply(rq, var,
                            s->s_join == JOIN_OPEN      ? "open"
                            : s->s_join == JOIN_JOINING ? "joining"
                                                        : "closed",
                            NULL);
    case SV_STATUS:
        if (s->s_join != JOIN_CLOSED) {
            delay = s->s_duration_ms;
            if (sleigh_meta(rq, "delay", &mv, &ml) && sleigh_parse_ms(mv, ml) >= 0)
                delay = sleigh_parse_ms(mv, ml);
            sleigh_start_join(s, delay, 1);
            if (s->s_join != JOIN_CLOSED) {
                conn_block(c, var, remove);
                return CMD_BLOCKED;
            }
        }
        snprintf(buf, sizeof(buf), "%zu", s->s_nworkers);
        return sleigh_reply(rq, var, buf, NULL);
    case SV_WAIT:
        if (s->s_join != JOIN_CLOSED) {
            delay = s->s_duration_ms;
            if (sleigh_meta(rq, "delay", &mv, &ml) && sleigh_parse_ms(mv, ml) >= 0)
                delay = sleigh_parse_ms(mv, ml);
            if (delay > 0) {
                conn_block_timeout(c, var, remove, delay, sleigh_wait_timeout);
                return CMD_BLOCKED;
            }
        }
        snprintf(buf, sizeof(buf), "%zu", s->s_nworkers);
        return sleigh_reply(rq, var, buf, NULL);
    case SV_WORKER_IDS:
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
    case SV_SENTINEL:
        if (s->s_shutdown || !sleigh_is_sentinel(s, c))
            return sleigh_reply(rq, var, "1", NULL);
        return sleigh_park(rq, var, remove, blocking);
    case SV_TASK:
        if (!remove) {
            request_error(rq, NWSP_STATUS_FAIL, "find is not supported on the task queue");
            return CMD_DONE;
        }
        if (s->s_shutdown) {
            request_error(rq, NWSP_STATUS_FAIL, "sleigh is dead");
            return CMD_DONE;
        }
        if ((sw = sleigh_worker_of(s, c)) == NULL)
            return sleigh_park(rq, var, remove, blocking);
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
    case SV_BROADCAST:
        return sleigh_reply(rq, var, "0", NULL);
    case SV_RESULT:
        if (s->s_shutdown) {
            request_error(rq, NWSP_STATUS_FAIL, "sleigh is dead");
            return CMD_DONE;
        }
        b = sleigh_rq_batch_find(s, rq, &mv, &ml);
        if (b != NULL && (r = TAILQ_FIRST(&b->b_results)) != NULL) {
            reply_value(c, r->r_value, var->var_id, 0);
            if (remove) {
                TAILQ_REMOVE(&b->b_results, r, r_link);
                s->s_nresults--;
                value_unref(r->r_value);
                free(r);
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
        return ret;
    case SV_JOB_STATUS: {
        uint64_t q = 0, run = 0, done = 0, failed = 0;

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
    case SV_FIXEDARG: {
        struct var *fv;

        snprintf(buf, sizeof(buf), "#fixedArg%u", ++s->s_fixedarg);
        fv = ws_var(ws, buf, strlen(buf));
        if (fv->var_mode == VAR_UNKNOWN)
            fv->var_mode = VAR_SINGLE;
        fv->var_hidden = 1;
        return sleigh_reply(rq, var, buf, NULL);
    }
    case SV_AGENT:
    case SV_SCOREBOARD:
        return sleigh_report(rq, s, var);
    }
    return ret;
}
