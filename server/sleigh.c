/*
 * sleigh.c -- the sleigh workspace type, native in the server.
 *
 * A workspace made with metadata wstype=sleigh gets the special variables of
 * the classic sleigh plugin (protocol section 13.5): worker registration
 * through worker_ids, a task queue served only to registered workers,
 * broadcast copies for eachWorker, results kept per batchId, jobStatus, the
 * join phase (open, joining, closed) behind workerCount/status/
 * waitForWorkers, and the sentinel keep-alive.  Special variables are real
 * variables in mode "custom" so listings show them; their waiters park on
 * those variables' lists like any other.
 *
 * Beyond the plugin: the server knows which worker runs which task.  When a
 * worker's connection drops, its running tasks go back to the front of the
 * queue, or after s_retries deaths become error results (metadata
 * nwsNull=1, nwsError); its untaken broadcast copies become such results at
 * once, so a master never waits for a worker that is gone.  Waiters of dead
 * connections are dropped with them (quirk Q26).  jobStatus also reports
 * queued, running, done and failed counts in its metadata.
 *
 * Several tasks per worker (our nws-worker only): a fetch or fetchTry of
 * `task` with request metadata nwsKeep=1 takes one more task while the
 * worker still runs the ones it has; each result store then ends the oldest
 * of them (the worker stores results in the order it took the tasks), or
 * the one its batchId and nwsFirst metadata name (sleigh_result_task).  A
 * fetch without nwsKeep, the only kind classic workers send, puts every
 * task the connection still runs back first, as before.  At most
 * SLEIGH_KEEP_MAX tasks run on one connection; a fetchTry past that finds
 * nothing, and so does one that would take from the shared queue while
 * another registered worker waits for a task: extra tasks never starve an
 * idle worker.  A fetch without nwsKeep that puts tasks back hands them to
 * waiting workers at once.  When a worker dies holding several tasks,
 * nobody knows which one killed it: they all go back without a death
 * counted, marked suspect, and a suspect task is only ever run alone
 * (nwsKeep takes nothing next to one), so each death is charged to exactly
 * the task that was running and the retry limit means what it did.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "server.h"

#define SLEIGH_RETRIES      3
#define SLEIGH_DURATION_MS  60000
#define SLEIGH_REFRESH_MS   60000
#define SLEIGH_REFRESH_MIN_MS 1000  /* a shorter sentinelRefreshPeriod only burns CPU */
#define SLEIGH_GRACE_MS     300000
#define SLEIGH_KEEP_MAX     256
#define SLEIGH_HISTORY      16 /* collected batches remembered (counts only) */

enum sleigh_join { JOIN_OPEN, JOIN_JOINING, JOIN_CLOSED };

/* The special variables, in the order of sleigh_specials[]. */
enum {
    SV_VERSION,
    SV_PLUGIN_VERSION,
    SV_WORKER_COUNT,
    SV_RANK_COUNT,
    SV_JOIN_STATUS,
    SV_STATUS,
    SV_WAIT,
    SV_WORKER_IDS,
    SV_SENTINEL,
    SV_TASK,
    SV_BROADCAST,
    SV_RESULT,
    SV_JOB_STATUS,
    SV_FIXEDARG,
    SV_AGENT,
    SV_SCOREBOARD,
    SV_MAX
};

static const struct {
    const char *name;
    int         hidden;
} sleigh_specials[SV_MAX] = {
    [SV_VERSION] = {"version", 1},           [SV_PLUGIN_VERSION] = {"plugin_version", 0},
    [SV_WORKER_COUNT] = {"workerCount", 0},  [SV_RANK_COUNT] = {"rankCount", 0},
    [SV_JOIN_STATUS] = {"join_status", 0},   [SV_STATUS] = {"status", 1},
    [SV_WAIT] = {"waitForWorkers", 1},       [SV_WORKER_IDS] = {"worker_ids", 1},
    [SV_SENTINEL] = {"sentinel_alive", 1},   [SV_TASK] = {"task", 0},
    [SV_BROADCAST] = {"broadcast", 1},       [SV_RESULT] = {"result", 0},
    [SV_JOB_STATUS] = {"jobStatus", 1},      [SV_FIXEDARG] = {"fixedargID", 1},
    [SV_AGENT] = {"agentStatus", 0},         [SV_SCOREBOARD] = {"scoreboard", 0},
};

/* Standard fifo variables the plugin makes hidden. */
static const char *sleigh_hidden_std[] = {"worker registrations", "bye", "logDebug",
                                          "logError"};

struct sleigh_batch;

struct sleigh_task {
    TAILQ_ENTRY(sleigh_task) t_link;
    struct value        *t_value;    /* bytes and the storing request's metadata */
    struct sleigh_batch *t_batch;
    unsigned             t_deaths;   /* workers that died running it */
    int                  t_broadcast;
    int                  t_suspect;  /* its worker died holding others too: run alone */
    /* A task with a timeout (metadata nwsTimeout), while it runs: sleigh_timeout_*. */
    struct event        *t_timer;
    struct sleigh       *t_sleigh;
    struct sleigh_worker *t_worker;
    double               t_started;  /* monotonic seconds it was handed out */
    double               t_limit;    /* seconds it may run (every element's), 0: none */
    double               t_elem_limit; /* nwsTimeout: one element's, for the error text */
    int                  t_parsed;   /* t_limit was read from the metadata */
};
TAILQ_HEAD(task_list, sleigh_task);

struct sleigh_result {
    TAILQ_ENTRY(sleigh_result) r_link;
    struct value *r_value;
};

struct sleigh_batch {
    char    *b_id;
    size_t   b_idlen;
    uint64_t b_queued, b_running, b_done;
    uint64_t b_failed;    /* elements whose result is an error */
    size_t   b_kept;      /* broadcast templates kept for workers joining later */
    int      b_ended;     /* its submitter's record says every task is in */
    int      b_collected; /* every result was taken: only its counts remain */
    char    *b_record;    /* the variable holding that record, or NULL */
    time_t   b_started;   /* when its first task came */
    char     b_what[SLEIGH_WHAT_MAX];   /* its function or command, "" if unknown */
    TAILQ_HEAD(, sleigh_result) b_results;
    TAILQ_ENTRY(sleigh_batch) b_hist; /* while collected: s_history */
};
TAILQ_HEAD(batch_list, sleigh_batch);

struct sleigh_worker {
    struct conn        *sw_conn;
    long                sw_rank;
    struct task_list    sw_copies;   /* broadcast copies not taken yet */
    struct task_list    sw_running;  /* taken, no result yet; oldest first */
    size_t              sw_nrunning;
    uint64_t            sw_done;
};

struct sleigh {
    struct ws             *s_ws;
    LIST_ENTRY(sleigh)     s_link;
    enum sleigh_join       s_join;
    int                    s_status_join; /* the join phase was started by status */
    long                   s_max;         /* expected workers, -1 until known */
    long                   s_allocated;   /* ranks handed out by worker_ids fetch */
    long                   s_registered_ever;
    long                   s_duration_ms;
    long                   s_refresh_ms;
    unsigned               s_retries;
    int                    s_shutdown;
    struct event          *s_join_timer;
    struct event          *s_refresh_timer;
    struct event          *s_grace_timer;
    struct task_list       s_tasks;       /* unicast, FIFO */
    size_t                 s_ntasks;      /* unicast + untaken broadcast copies */
    size_t                 s_nresults;
    struct task_list       s_broadcasts;  /* kept for workers that join later */
    struct sleigh_worker **s_workers;
    size_t                 s_nworkers;
    struct conn          **s_sentinels;
    size_t                 s_nsentinels;
    struct htab            s_batches;     /* live batches and s_history */
    struct batch_list      s_history;     /* collected, oldest first */
    size_t                 s_nhistory;
    char                 **s_reap;        /* record variables to delete */
    size_t                 s_nreap;
    struct event          *s_reap_timer;
    unsigned               s_fixedarg;
    struct var            *s_v[SV_MAX];
};

static LIST_HEAD(, sleigh) sleigh_all = LIST_HEAD_INITIALIZER(sleigh_all);

static void sleigh_close_group(struct sleigh *);
static void sleigh_batch_settle(struct sleigh *, struct sleigh_batch *);

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

/* Parses a decimal or fractional number of seconds into milliseconds; -1 if bad. */
static long
sleigh_parse_ms(const char *p, size_t len)
{
    char   buf[32], *end;
    double d;

    if (len == 0 || len >= sizeof(buf))
        return -1;
    memcpy(buf, p, len);
    buf[len] = '\0';
    d = strtod(buf, &end);
    while (*end == ' ')
        end++;
    if (*end != '\0' || !(d >= 0) || d > 1e7)
        return -1;
    return (long)(d * 1000);
}

/* Parses an integer from len bytes; -1 with *ok = 0 when malformed. */
static long
sleigh_parse_long(const char *p, size_t len, int *ok)
{
    int64_t v;

    *ok = nwsp_parse_i64(p, len, &v) == 0 && v >= -1 && v <= 1000000000;
    return *ok ? (long)v : -1;
}

/* Reads a metadata entry of the request; 1 when present. */
static int
sleigh_meta(const struct request *rq, const char *key, const char **val, size_t *len)
{
    if (rq->rq_meta == NULL)
        return 0;
    return nwsp_dict_get(rq->rq_meta, rq->rq_metalen, key, val, len);
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

/* Hands text to every waiter parked on var. */
static void
sleigh_wake_all(struct var *var, const char *text)
{
    struct waiter *w;
    struct value  *v = value_new_text(text, strlen(text));

    while ((w = TAILQ_FIRST(&var->var_finders)) != NULL ||
           (w = TAILQ_FIRST(&var->var_fetchers)) != NULL) {
        waiter_cancel(w);
        w->w_deliver(w, v, 0);
    }
    value_unref(v);
}

/* Returns the batch named id (made if missing). */
static struct sleigh_batch *
sleigh_batch(struct sleigh *s, const char *id, size_t len)
{
    struct sleigh_batch *b = htab_get(&s->s_batches, id, len);

    if (b == NULL) {
        b = xcalloc(1, sizeof(*b));
        b->b_id = xstrndup(id, len);
        b->b_idlen = len;
        b->b_started = time(NULL);
        TAILQ_INIT(&b->b_results);
        htab_put(&s->s_batches, id, len, b);
    } else if (b->b_collected) {
        /* More tasks under a collected batch's id: it lives again. */
        TAILQ_REMOVE(&s->s_history, b, b_hist);
        s->s_nhistory--;
        b->b_collected = 0;
        b->b_ended = 0;
    }
    return b;
}

/*
 * Notes what a batch runs, from its first task (a libnws task: JSON with
 * kind "call" and module/function, or kind "command" and argv), for the
 * web view.  Larger or other values are not parsed: the batch shows no name.
 */
static void
sleigh_batch_what(struct sleigh_batch *b, const struct value *v)
{
    json_t     *j, *x;
    const char *kind, *mod, *fn;
    size_t      i, n = 0;

    if (b->b_what[0] != '\0' || (v->v_flags & VALUE_SPOOLED) || v->v_len > 65536 ||
        v->v_len == 0 || value_data(v)[0] != '{' ||
        (j = json_loadb(value_data(v), (size_t)v->v_len, 0, NULL)) == NULL)
        return;
    kind = json_string_value(json_object_get(j, "kind"));
    if (kind != NULL && strcmp(kind, "call") == 0 &&
        (fn = json_string_value(json_object_get(j, "function"))) != NULL) {
        mod = json_string_value(json_object_get(j, "module"));
        snprintf(b->b_what, sizeof(b->b_what), "%s%s%s", mod != NULL ? mod : "",
                 mod != NULL ? "." : "", fn);
    } else if (kind != NULL && strcmp(kind, "command") == 0) {
        json_array_foreach(json_object_get(j, "argv"), i, x) {
            if (json_is_string(x) && n + 1 < sizeof(b->b_what))
                n += (size_t)snprintf(b->b_what + n, sizeof(b->b_what) - n, "%s%s",
                                      i > 0 ? " " : "", json_string_value(x));
        }
    }
    json_decref(j);
}

/* The batch a request names through metadata batchId ("" when none), made if missing. */
static struct sleigh_batch *
sleigh_rq_batch(struct sleigh *s, const struct request *rq)
{
    const char *id = "";
    size_t      len = 0;

    sleigh_meta(rq, "batchId", &id, &len);
    return sleigh_batch(s, id, len);
}

/*
 * The batch a reading request names, or NULL: reads never make batches, so
 * probing ids (jobStatus, fetchTry result) leaves nothing behind.
 */
static struct sleigh_batch *
sleigh_rq_batch_find(struct sleigh *s, const struct request *rq, const char **id,
                     size_t *len)
{
    *id = "";
    *len = 0;
    sleigh_meta(rq, "batchId", id, len);
    return htab_get(&s->s_batches, *id, *len);
}

static struct sleigh_worker *
sleigh_worker_of(struct sleigh *s, struct conn *c)
{
    size_t i;

    for (i = 0; i < s->s_nworkers; i++)
        if (s->s_workers[i]->sw_conn == c)
            return s->s_workers[i];
    return NULL;
}

static int
sleigh_is_sentinel(struct sleigh *s, struct conn *c)
{
    size_t i;

    for (i = 0; i < s->s_nsentinels; i++)
        if (s->s_sentinels[i] == c)
            return 1;
    return 0;
}

static struct sleigh_task *
sleigh_task_new(struct value *v, struct sleigh_batch *b, int broadcast)
{
    struct sleigh_task *t = xcalloc(1, sizeof(*t));

    t->t_value = v;
    t->t_batch = b;
    t->t_broadcast = broadcast;
    b->b_queued++;
    return t;
}

static void
sleigh_task_free(struct sleigh_task *t)
{
    if (t->t_timer != NULL)
        event_free(t->t_timer);
    value_unref(t->t_value);
    free(t);
}

/* Copies a metadata dictionary into b, leaving out the keys in skip[]. */
static unsigned
sleigh_meta_copy(struct nwsp_buf *b, const char *dict, size_t len, const char *const *skip)
{
    struct nwsp_dict_ent e;
    size_t               pos = 0;
    unsigned             n = 0, i;

    if (dict == NULL)
        return 0;
    while (nwsp_dict_next(dict, len, &pos, &e)) {
        for (i = 0; skip[i] != NULL; i++)
            if (strlen(skip[i]) == e.klen && memcmp(skip[i], e.key, e.klen) == 0)
                break;
        if (skip[i] == NULL && nwsp_buf_dict_put(b, e.key, e.klen, e.val, e.vlen) == 0)
            n++;
    }
    return n;
}

/*
 * A result value for task t: the bytes of src (may be NULL: an empty error
 * result), metadata = the task's, updated with extra (the worker's store
 * metadata or error keys), plus batchId and nwsWorkerRank.
 */
static struct value *
sleigh_result_value(struct sleigh_task *t, struct value *src, const char *extra,
                    size_t extralen, long rank)
{
    static const char *const skip_task[] = {"batchId", "nwsWorkerRank", NULL};
    struct nwsp_buf          b = {0}, dict = {0};
    char                     rankbuf[24];
    unsigned                 n = 0;
    struct value            *v;
    const char              *k;
    size_t                   kl;
    const char              *task_meta = t->t_value->v_metalen ? value_meta(t->t_value) : NULL;
    struct nwsp_dict_ent     e;
    size_t                   pos = 0;

    /* Task keys the extra dictionary does not override, then extra's keys. */
    if (task_meta != NULL) {
        while (nwsp_dict_next(task_meta, t->t_value->v_metalen, &pos, &e)) {
            if ((e.klen == 7 && memcmp(e.key, "batchId", 7) == 0) ||
                (e.klen == 13 && memcmp(e.key, "nwsWorkerRank", 13) == 0))
                continue;
            if (extra != NULL) {
                char key[NWSP_DICT_FIELD_MAX + 1];

                memcpy(key, e.key, e.klen);
                key[e.klen] = '\0';
                if (nwsp_dict_get(extra, extralen, key, &k, &kl))
                    continue;
            }
            if (nwsp_buf_dict_put(&b, e.key, e.klen, e.val, e.vlen) == 0)
                n++;
        }
    }
    n += sleigh_meta_copy(&b, extra, extralen, skip_task);
    nwsp_buf_dict_put(&b, "batchId", 7, t->t_batch->b_id, t->t_batch->b_idlen);
    snprintf(rankbuf, sizeof(rankbuf), "%ld", rank);
    nwsp_buf_dict_put(&b, "nwsWorkerRank", 13, rankbuf, strlen(rankbuf));
    n += 2;
    nwsp_buf_dict_begin(&dict, n > 9999 ? 9999 : n);
    nwsp_buf_add(&dict, b.data, b.len);
    nwsp_buf_free(&b);

    if (src != NULL && (src->v_flags & VALUE_SPOOLED)) {
        int fd = dup(src->v_fd);

        v = fd == -1 ? NULL : value_new_spooled(src->v_desc, dict.data, dict.len,
                                                src->v_len, fd);
    } else {
        uint64_t len = src != NULL ? src->v_len : 0;

        v = value_new(src != NULL ? src->v_desc : NWSP_DESC_DIRECT_STRING, dict.data,
                      dict.len, len);
        if (v == NULL) /* results are never dropped, even past the limit */
            v = value_new_text("", 0);
        else if (len > 0)
            memcpy(value_data(v), value_data(src), (size_t)len);
    }
    nwsp_buf_free(&dict);
    if (v == NULL)
        fatal("cannot keep a result");
    return v;
}

/*
 * Batch lifetime.  A batch exists from its first task on.  Once its
 * submitter's record says every task is in (a store with request
 * metadata nwsRecord=1 and batchId, sleigh_stored) and nothing of it is
 * queued, running, kept for later workers or waiting to be taken, every
 * result was collected: the batch keeps only its counts, in s_history
 * (the last SLEIGH_HISTORY of them, for jobStatus, attach and the web
 * UI), and its record variable is deleted, so a long-lived sleigh does
 * not grow with the batches it served.  Any batch (named, record or not)
 * with nothing queued, running, kept or left fails its result waiters at
 * once: what they wait for was taken elsewhere and can never come.
 */

/* Frees a batch and the results it still holds. */
static void
sleigh_batch_free(struct sleigh_batch *b)
{
    struct sleigh_result *r;

    while ((r = TAILQ_FIRST(&b->b_results)) != NULL) {
        TAILQ_REMOVE(&b->b_results, r, r_link);
        value_unref(r->r_value);
        free(r);
    }
    free(b->b_record);
    free(b->b_id);
    free(b);
}

/* Deletes the record variables of collected batches (from a zero timeout, so
 * that no request still holds the variable). */
static void
sleigh_reap_cb(evutil_socket_t fd, short what, void *arg)
{
    struct sleigh *s = arg;
    struct var    *var;
    size_t         i;

    (void)fd;
    (void)what;
    for (i = 0; i < s->s_nreap; i++) {
        var = ws_var_find(s->s_ws, s->s_reap[i], strlen(s->s_reap[i]));
        if (var != NULL && var->var_mode != VAR_CUSTOM)
            ws_var_delete(s->s_ws, var);
        free(s->s_reap[i]);
    }
    free(s->s_reap);
    s->s_reap = NULL;
    s->s_nreap = 0;
}

/* Queues the deletion of b's record variable, if it has one. */
static void
sleigh_reap_record(struct sleigh *s, struct sleigh_batch *b)
{
    if (b->b_record == NULL)
        return;
    s->s_reap = xrealloc(s->s_reap, (s->s_nreap + 1) * sizeof(*s->s_reap));
    s->s_reap[s->s_nreap++] = b->b_record;
    b->b_record = NULL;
    event_active(s->s_reap_timer, EV_TIMEOUT, 0);
}

/* Fails the result waiters of batch b: nothing more can come for them. */
static void
sleigh_batch_fail_waiters(struct sleigh *s, struct sleigh_batch *b)
{
    struct var    *rv = s->s_v[SV_RESULT];
    struct waiter *w, *next;
    char           why[160];
    int            pass;

    snprintf(why, sizeof(why), NWSP_SLEIGH_OVER_TEXT " batch %.*s has no result left"
             " (collected elsewhere)", (int)(b->b_idlen > 64 ? 64 : b->b_idlen), b->b_id);
    for (pass = 0; pass < 2; pass++) {
        for (w = TAILQ_FIRST(pass ? &rv->var_fetchers : &rv->var_finders); w != NULL;
             w = next) {
            next = TAILQ_NEXT(w, w_link);
            if (w->w_taglen == b->b_idlen && memcmp(w->w_tag, b->b_id, b->b_idlen) == 0) {
                waiter_cancel(w);
                w->w_fail(w, why);
            }
        }
    }
}

/* 1 when batch b can give no more results: nothing queued, running, kept or left. */
static int
sleigh_batch_empty(const struct sleigh_batch *b)
{
    return b->b_queued == 0 && b->b_running == 0 && b->b_kept == 0 &&
           TAILQ_EMPTY(&b->b_results);
}

/* After b lost a task or a result: fails hopeless waiters, retires b if collected. */
static void
sleigh_batch_settle(struct sleigh *s, struct sleigh_batch *b)
{
    struct sleigh_batch *old;

    if (b->b_collected || b->b_idlen == 0 || !sleigh_batch_empty(b))
        return;
    sleigh_batch_fail_waiters(s, b);
    if (!b->b_ended)
        return; /* its submitter may add tasks yet */
    b->b_collected = 1;
    sleigh_reap_record(s, b);
    TAILQ_INSERT_TAIL(&s->s_history, b, b_hist);
    if (++s->s_nhistory > SLEIGH_HISTORY) {
        old = TAILQ_FIRST(&s->s_history);
        TAILQ_REMOVE(&s->s_history, old, b_hist);
        s->s_nhistory--;
        htab_del(&s->s_batches, old->b_id, old->b_idlen);
        sleigh_reap_record(s, old);
        sleigh_batch_free(old);
    }
}

/* The elements task t runs (its nwsCount metadata; 1 when unknown). */
static uint64_t
sleigh_task_elems(const struct sleigh_task *t)
{
    const char *v;
    size_t      vl;
    int64_t     n;

    if (t->t_broadcast || t->t_value->v_metalen == 0 ||
        !nwsp_dict_get(value_meta(t->t_value), t->t_value->v_metalen, "nwsCount", &v,
                       &vl) ||
        nwsp_parse_i64(v, vl, &n) != 0 || n < 1)
        return 1;
    return (uint64_t)n;
}

/*
 * Elements of task t a result store reports as errors: its request
 * metadata nwsErrors (nws-worker sends it), at most the task's elements;
 * 0 when absent (classic workers).
 */
static uint64_t
sleigh_result_errors(const struct sleigh_task *t, const struct request *rq)
{
    const char *v;
    size_t      vl;
    int64_t     n;

    if (!sleigh_meta(rq, "nwsErrors", &v, &vl) || nwsp_parse_i64(v, vl, &n) != 0 || n < 1)
        return 0;
    return (uint64_t)n < sleigh_task_elems(t) ? (uint64_t)n : sleigh_task_elems(t);
}

/* What jobStatus says of a batch: "none", "open", "ended" or "collected". */
static const char *
sleigh_batch_state(const struct sleigh_batch *b)
{
    if (b == NULL)
        return "none";
    return b->b_collected ? "collected" : b->b_ended ? "ended" : "open";
}

/* Gives a result of batch b to its waiters (all finders, the oldest fetcher) or keeps it. */
static void
sleigh_add_result(struct sleigh *s, struct sleigh_batch *b, struct value *v)
{
    struct var           *rv = s->s_v[SV_RESULT];
    struct waiter        *w, *next;
    struct sleigh_result *r;

    for (w = TAILQ_FIRST(&rv->var_finders); w != NULL; w = next) {
        next = TAILQ_NEXT(w, w_link);
        if (w->w_taglen == b->b_idlen && memcmp(w->w_tag, b->b_id, b->b_idlen) == 0) {
            waiter_cancel(w);
            w->w_deliver(w, v, 0);
        }
    }
    TAILQ_FOREACH(w, &rv->var_fetchers, w_link) {
        if (w->w_taglen == b->b_idlen && memcmp(w->w_tag, b->b_id, b->b_idlen) == 0) {
            waiter_cancel(w);
            w->w_deliver(w, v, 0);
            value_unref(v);
            sleigh_batch_settle(s, b);
            return;
        }
    }
    r = xcalloc(1, sizeof(*r));
    r->r_value = v;
    TAILQ_INSERT_TAIL(&b->b_results, r, r_link);
    s->s_nresults++;
}

/* Ends task t with an error result (a dead worker), and frees it. */
static void
sleigh_fail_task(struct sleigh *s, struct sleigh_task *t, long rank, const char *why)
{
    struct nwsp_buf b = {0};
    struct value   *v;

    nwsp_buf_dict_begin(&b, 2);
    nwsp_buf_dict_put(&b, "nwsNull", 7, "1", 1);
    nwsp_buf_dict_put(&b, "nwsError", 8, why, strlen(why));
    v = sleigh_result_value(t, NULL, b.data, b.len, rank);
    nwsp_buf_free(&b);
    t->t_batch->b_failed += sleigh_task_elems(t);
    t->t_batch->b_done++;
    sleigh_add_result(s, t->t_batch, v);
    sleigh_task_free(t);
}

/*
 * Timeouts.  The master puts nwsTimeout (seconds per element) on a task
 * whose elements have a timeout.  The worker's owner kills a worker whose
 * element runs past it (worker/watch.c), and the worker ends a command
 * itself; this timer is what makes the batch go on when neither happens
 * (a worker started by hand and stopped, an owner on a lost node): once
 * the task ran its count of timeouts plus a grace, it ends with the error
 * "timed out after N s" and its worker no longer holds it (a late result
 * is refused).  A timed-out task is not run again here: it is the
 * element's failure, as in GNU parallel; the caller may retry it.
 */
#define SLEIGH_TIMEOUT_GRACE_S 2.0

/* Monotonic seconds. */
static double
sleigh_mono(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Reads the task's nwsTimeout and nwsCount into t_limit (once). */
static void
sleigh_timeout_parse(struct sleigh_task *t)
{
    const char *v;
    size_t      vl;
    long        ms, count = 1;
    int         ok;

    if (t->t_parsed)
        return;
    t->t_parsed = 1;
    if (t->t_value->v_metalen == 0 ||
        !nwsp_dict_get(value_meta(t->t_value), t->t_value->v_metalen, "nwsTimeout", &v, &vl))
        return;
    if ((ms = sleigh_parse_ms(v, vl)) <= 0)
        return;
    if (nwsp_dict_get(value_meta(t->t_value), t->t_value->v_metalen, "nwsCount", &v, &vl)) {
        count = sleigh_parse_long(v, vl, &ok);
        if (!ok || count < 1)
            count = 1;
    }
    t->t_elem_limit = (double)ms / 1000;
    t->t_limit = t->t_elem_limit * (double)count;
}

static void sleigh_timeout_cb(evutil_socket_t fd, short what, void *arg);

/* Task t was handed to worker sw: starts its clock (if it has a timeout). */
static void
sleigh_timeout_start(struct sleigh *s, struct sleigh_worker *sw, struct sleigh_task *t)
{
    struct timeval tv;
    double         d;

    sleigh_timeout_parse(t);
    if (t->t_limit <= 0)
        return;
    if (t->t_timer == NULL && (t->t_timer = evtimer_new(srv.base, sleigh_timeout_cb, t)) == NULL)
        fatalx("sleigh timeout timer");
    t->t_sleigh = s;
    t->t_worker = sw;
    t->t_started = sleigh_mono();
    d = t->t_limit + SLEIGH_TIMEOUT_GRACE_S;
    tv.tv_sec = (time_t)d;
    tv.tv_usec = (suseconds_t)((d - (double)tv.tv_sec) * 1e6);
    evtimer_add(t->t_timer, &tv);
}

/* Task t no longer runs (a result, requeued, its worker gone): stops its clock. */
static void
sleigh_timeout_stop(struct sleigh_task *t)
{
    if (t->t_timer != NULL)
        evtimer_del(t->t_timer);
    t->t_worker = NULL;
}

/*
 * 1 if t has a timeout.  Such a task runs alone on its worker (nwsKeep
 * takes nothing next to it): its clock starts when it is handed out, so
 * it must start running then, and a worker that hangs in it must hold
 * nothing else that would time out with it without having run.
 */
static int
sleigh_timeout_has(struct sleigh_task *t)
{
    if (t == NULL)
        return 0;
    sleigh_timeout_parse(t);
    return t->t_limit > 0;
}

/* 1 if t ran at least its time (its worker ending now is its timeout). */
static int
sleigh_timeout_passed(const struct sleigh_task *t)
{
    return t->t_limit > 0 && t->t_worker != NULL &&
           sleigh_mono() - t->t_started >= t->t_limit;
}

/* The error text of a timed-out task, into why. */
static void
sleigh_timeout_why(const struct sleigh_task *t, char *why, size_t len)
{
    snprintf(why, len, "timed out after %g s", t->t_elem_limit);
}

static void sleigh_fail_task(struct sleigh *s, struct sleigh_task *t, long rank,
                             const char *why);

/* A running task's time is up: it fails, and its worker holds it no more. */
static void
sleigh_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
    struct sleigh_task   *t = arg;
    struct sleigh_worker *sw = t->t_worker;
    struct sleigh        *s = t->t_sleigh;
    char                  why[96];

    (void)fd;
    (void)what;
    if (sw == NULL)
        return;
    TAILQ_REMOVE(&sw->sw_running, t, t_link);
    sw->sw_nrunning--;
    t->t_batch->b_running--;
    sleigh_timeout_why(t, why, sizeof(why));
    log_info("sleigh %s: worker %ld: a task %s", s->s_ws->ws_name, sw->sw_rank, why);
    sleigh_timeout_stop(t);
    sleigh_fail_task(s, t, sw->sw_rank, why);
}

/*
 * With the group closed and no worker registered, no worker can ever come
 * to run the queued tasks: they end as error results now, so masters
 * waiting for them get an answer rather than wait for ever.
 */
static void
sleigh_fail_orphans(struct sleigh *s)
{
    struct sleigh_task *t;

    if (s->s_join != JOIN_CLOSED || s->s_nworkers > 0)
        return;
    while ((t = TAILQ_FIRST(&s->s_tasks)) != NULL) {
        TAILQ_REMOVE(&s->s_tasks, t, t_link);
        s->s_ntasks--;
        t->t_batch->b_queued--;
        sleigh_fail_task(s, t, -1, "no worker left to run this task (the group is closed)");
    }
}

/* Takes the next task for worker: its broadcast copies first, then the queue. */
static struct sleigh_task *
sleigh_next_task(struct sleigh *s, struct sleigh_worker *sw)
{
    struct sleigh_task *t;

    if ((t = TAILQ_FIRST(&sw->sw_copies)) != NULL)
        TAILQ_REMOVE(&sw->sw_copies, t, t_link);
    else if ((t = TAILQ_FIRST(&s->s_tasks)) != NULL)
        TAILQ_REMOVE(&s->s_tasks, t, t_link);
    else
        return NULL;
    s->s_ntasks--;
    t->t_batch->b_queued--;
    t->t_batch->b_running++;
    TAILQ_INSERT_TAIL(&sw->sw_running, t, t_link);
    sw->sw_nrunning++;
    sleigh_timeout_start(s, sw, t);
    return t;
}

/*
 * Puts the running tasks back at the front, in the order they were taken
 * (their worker asked for more without their results).
 */
static void
sleigh_requeue(struct sleigh *s, struct sleigh_worker *sw)
{
    struct sleigh_task *t;

    while ((t = TAILQ_LAST(&sw->sw_running, task_list)) != NULL) {
        TAILQ_REMOVE(&sw->sw_running, t, t_link);
        sleigh_timeout_stop(t);
        sw->sw_nrunning--;
        t->t_batch->b_running--;
        t->t_batch->b_queued++;
        if (t->t_broadcast)
            TAILQ_INSERT_HEAD(&sw->sw_copies, t, t_link);
        else
            TAILQ_INSERT_HEAD(&s->s_tasks, t, t_link);
        s->s_ntasks++;
    }
}

/* 1 if a registered worker other than c waits for a task. */
static int
sleigh_other_waits(struct sleigh *s, struct conn *c)
{
    struct waiter *w;
    struct conn   *wc;

    TAILQ_FOREACH(w, &s->s_v[SV_TASK]->var_fetchers, w_link) {
        wc = conn_from_waiter(w);
        if (wc != c && sleigh_worker_of(s, wc) != NULL)
            return 1;
    }
    return 0;
}

/* Serves waiting registered workers while there is work for them. */
static void
sleigh_dispatch(struct sleigh *s)
{
    struct var           *tv = s->s_v[SV_TASK];
    struct waiter        *w, *next;
    struct sleigh_worker *sw;
    struct sleigh_task   *t;

    for (w = TAILQ_FIRST(&tv->var_fetchers); w != NULL && s->s_ntasks > 0; w = next) {
        next = TAILQ_NEXT(w, w_link);
        if ((sw = sleigh_worker_of(s, conn_from_waiter(w))) == NULL)
            continue; /* not registered: waits for ever, as in the plugin */
        if ((t = sleigh_next_task(s, sw)) == NULL)
            continue;
        waiter_cancel(w);
        w->w_deliver(w, t->t_value, 0);
    }
}

/* Starts the join phase, closing the group after delay_ms. */
static void
sleigh_start_join(struct sleigh *s, long delay_ms, int by_status)
{
    struct timeval tv;

    if (s->s_join != JOIN_OPEN)
        return;
    s->s_join = JOIN_JOINING;
    s->s_status_join = by_status;
    tv.tv_sec = delay_ms / 1000;
    tv.tv_usec = (delay_ms % 1000) * 1000;
    evtimer_add(s->s_join_timer, &tv);
}

/* Closes the group when every expected worker has registered. */
static void
sleigh_check_full(struct sleigh *s)
{
    if (s->s_join != JOIN_CLOSED && s->s_max >= 0 && (long)s->s_nworkers >= s->s_max)
        sleigh_close_group(s);
}

static void
sleigh_close_group(struct sleigh *s)
{
    char                buf[32];
    long                ranks = s->s_allocated > (long)s->s_nworkers ? s->s_allocated
                                                                     : (long)s->s_nworkers;
    struct sleigh_task *t;

    if (s->s_join == JOIN_CLOSED)
        return;
    s->s_join = JOIN_CLOSED;
    evtimer_del(s->s_join_timer);
    if (s->s_max < 0 || (s->s_status_join && s->s_max > ranks))
        s->s_max = ranks;
    while ((t = TAILQ_FIRST(&s->s_broadcasts)) != NULL) {
        struct sleigh_batch *b = t->t_batch;

        TAILQ_REMOVE(&s->s_broadcasts, t, t_link);
        sleigh_task_free(t);
        b->b_kept--;
        sleigh_batch_settle(s, b); /* no copy can come any more */
    }
    snprintf(buf, sizeof(buf), "%zu", s->s_nworkers);
    sleigh_wake_all(s->s_v[SV_STATUS], buf);
    sleigh_wake_all(s->s_v[SV_WAIT], buf);
    sleigh_fail_orphans(s);
}

/* Shutdown: sentinels hear "1", result waiters fail (section 13.5). */
static void
sleigh_shutdown(struct sleigh *s)
{
    if (s->s_shutdown)
        return;
    s->s_shutdown = 1;
    log_debug("sleigh %s: shutting down", s->s_ws->ws_name);
    sleigh_wake_all(s->s_v[SV_SENTINEL], "1");
    waiter_fail_all(s->s_v[SV_RESULT], "sleigh is dead");
}

static void
sleigh_join_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    sleigh_close_group(arg);
}

static void
sleigh_refresh_cb(evutil_socket_t fd, short what, void *arg)
{
    struct sleigh *s = arg;

    (void)fd;
    (void)what;
    sleigh_wake_all(s->s_v[SV_SENTINEL], s->s_shutdown ? "1" : "0");
}

static void
sleigh_grace_cb(evutil_socket_t fd, short what, void *arg)
{
    struct sleigh *s = arg;

    (void)fd;
    (void)what;
    if (s->s_registered_ever == 0) {
        log_info("sleigh %s: no worker joined within the grace period", s->s_ws->ws_name);
        sleigh_shutdown(s);
    }
}

/* Reads a duration from creation metadata (seconds); def when absent or bad. */
static long
sleigh_meta_ms(const char *meta, size_t len, const char *key, long def)
{
    const char *v;
    size_t      vl;
    long        ms;

    if (meta == NULL || !nwsp_dict_get(meta, len, key, &v, &vl))
        return def;
    ms = sleigh_parse_ms(v, vl);
    return ms > 0 ? ms : def;
}

struct sleigh *
sleigh_new(struct ws *ws, const char *meta, size_t metalen)
{
    struct sleigh *s = xcalloc(1, sizeof(*s));
    struct timeval tv;
    const char    *v;
    size_t         vl, i;
    long           grace;
    int            ok;

    s->s_ws = ws;
    s->s_max = -1;
    s->s_duration_ms = SLEIGH_DURATION_MS;
    s->s_retries = SLEIGH_RETRIES;
    s->s_refresh_ms = sleigh_meta_ms(meta, metalen, "sentinelRefreshPeriod",
                                     SLEIGH_REFRESH_MS);
    if (s->s_refresh_ms < SLEIGH_REFRESH_MIN_MS)
        s->s_refresh_ms = SLEIGH_REFRESH_MIN_MS;
    grace = sleigh_meta_ms(meta, metalen, "workerGracePeriod", SLEIGH_GRACE_MS);
    if (meta != NULL && nwsp_dict_get(meta, metalen, "rankCount", &v, &vl)) {
        long n = sleigh_parse_long(v, vl, &ok);

        if (ok && n > 0)
            s->s_max = n;
    }
    if (meta != NULL && nwsp_dict_get(meta, metalen, "retries", &v, &vl)) {
        long n = sleigh_parse_long(v, vl, &ok);

        if (ok && n >= 0)
            s->s_retries = (unsigned)n;
    }
    TAILQ_INIT(&s->s_tasks);
    TAILQ_INIT(&s->s_broadcasts);
    TAILQ_INIT(&s->s_history);
    htab_init(&s->s_batches);
    for (i = 0; i < SV_MAX; i++) {
        struct var *var = ws_var(ws, sleigh_specials[i].name, strlen(sleigh_specials[i].name));

        var->var_mode = VAR_CUSTOM;
        var->var_hidden = sleigh_specials[i].hidden;
        s->s_v[i] = var;
    }
    for (i = 0; i < sizeof(sleigh_hidden_std) / sizeof(sleigh_hidden_std[0]); i++) {
        struct var *var = ws_var(ws, sleigh_hidden_std[i], strlen(sleigh_hidden_std[i]));

        var->var_mode = VAR_FIFO;
        var->var_hidden = 1;
    }
    s->s_join_timer = evtimer_new(srv.base, sleigh_join_cb, s);
    s->s_refresh_timer = event_new(srv.base, -1, EV_PERSIST, sleigh_refresh_cb, s);
    s->s_grace_timer = evtimer_new(srv.base, sleigh_grace_cb, s);
    s->s_reap_timer = evtimer_new(srv.base, sleigh_reap_cb, s);
    if (s->s_join_timer == NULL || s->s_refresh_timer == NULL || s->s_grace_timer == NULL ||
        s->s_reap_timer == NULL)
        fatalx("sleigh timers");
    tv.tv_sec = s->s_refresh_ms / 1000;
    tv.tv_usec = (s->s_refresh_ms % 1000) * 1000;
    evtimer_add(s->s_refresh_timer, &tv);
    tv.tv_sec = grace / 1000;
    tv.tv_usec = (grace % 1000) * 1000;
    evtimer_add(s->s_grace_timer, &tv);
    LIST_INSERT_HEAD(&sleigh_all, s, s_link);
    log_debug("sleigh workspace %s created", ws->ws_name);
    return s;
}

/* Frees the sleigh state; the workspace already purged its variables. */
void
sleigh_free(struct sleigh *s)
{
    struct sleigh_task   *t;
    struct htab_ent      *e;
    size_t                pos = 0, i;

    LIST_REMOVE(s, s_link);
    while ((t = TAILQ_FIRST(&s->s_tasks)) != NULL) {
        TAILQ_REMOVE(&s->s_tasks, t, t_link);
        sleigh_task_free(t);
    }
    while ((t = TAILQ_FIRST(&s->s_broadcasts)) != NULL) {
        TAILQ_REMOVE(&s->s_broadcasts, t, t_link);
        sleigh_task_free(t);
    }
    for (i = 0; i < s->s_nworkers; i++) {
        struct sleigh_worker *sw = s->s_workers[i];

        while ((t = TAILQ_FIRST(&sw->sw_copies)) != NULL) {
            TAILQ_REMOVE(&sw->sw_copies, t, t_link);
            sleigh_task_free(t);
        }
        while ((t = TAILQ_FIRST(&sw->sw_running)) != NULL) {
            TAILQ_REMOVE(&sw->sw_running, t, t_link);
            sleigh_task_free(t);
        }
        free(sw);
    }
    while ((e = htab_next(&s->s_batches, &pos)) != NULL)
        sleigh_batch_free(e->h_val);
    htab_free(&s->s_batches);
    for (i = 0; i < s->s_nreap; i++)
        free(s->s_reap[i]);
    free(s->s_reap);
    event_free(s->s_reap_timer);
    event_free(s->s_join_timer);
    event_free(s->s_refresh_timer);
    event_free(s->s_grace_timer);
    free(s->s_workers);
    free(s->s_sentinels);
    free(s);
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

/* The connection went away: requeue or fail its work, drop it everywhere. */
void
sleigh_conn_gone(struct conn *c)
{
    struct sleigh        *s;
    struct sleigh_worker *sw;
    struct sleigh_task   *t;
    char                  why[96];
    size_t                i;
    int                   alone;

    LIST_FOREACH(s, &sleigh_all, s_link) {
        for (i = 0; i < s->s_nsentinels; i++) {
            if (s->s_sentinels[i] == c) {
                s->s_sentinels[i] = s->s_sentinels[--s->s_nsentinels];
                break;
            }
        }
        if ((sw = sleigh_worker_of(s, c)) == NULL)
            continue;
        for (i = 0; i < s->s_nworkers; i++) {
            if (s->s_workers[i] == sw) {
                s->s_workers[i] = s->s_workers[--s->s_nworkers];
                break;
            }
        }
        log_info("sleigh %s: worker %ld left", s->s_ws->ws_name, sw->sw_rank);
        /* Newest first, each to the front: the queue keeps their order. */
        alone = sw->sw_nrunning == 1;
        while ((t = TAILQ_LAST(&sw->sw_running, task_list)) != NULL) {
            TAILQ_REMOVE(&sw->sw_running, t, t_link);
            sw->sw_nrunning--;
            t->t_batch->b_running--;
            if (sleigh_timeout_passed(t)) {
                /* Its owner killed it for running past the timeout. */
                sleigh_timeout_why(t, why, sizeof(why));
                sleigh_timeout_stop(t);
                sleigh_fail_task(s, t, sw->sw_rank, why);
                continue;
            }
            sleigh_timeout_stop(t);
            if (!t->t_broadcast && !alone)
                t->t_suspect = 1; /* which of them killed it is unknown */
            if (!t->t_broadcast && (!alone || ++t->t_deaths <= s->s_retries)) {
                t->t_batch->b_queued++;
                TAILQ_INSERT_HEAD(&s->s_tasks, t, t_link);
                s->s_ntasks++;
            } else {
                snprintf(why, sizeof(why), "worker %ld died running this task", sw->sw_rank);
                sleigh_fail_task(s, t, sw->sw_rank, why);
            }
        }
        while ((t = TAILQ_FIRST(&sw->sw_copies)) != NULL) {
            TAILQ_REMOVE(&sw->sw_copies, t, t_link);
            s->s_ntasks--;
            t->t_batch->b_queued--;
            snprintf(why, sizeof(why), "worker %ld left before running this task",
                     sw->sw_rank);
            sleigh_fail_task(s, t, sw->sw_rank, why);
        }
        free(sw);
        sleigh_dispatch(s);
        sleigh_fail_orphans(s);
    }
}

/* Registers the storing connection as worker rank (store to worker_ids). */
static enum cmd_ret
sleigh_register(struct request *rq, struct sleigh *s, struct value *v)
{
    struct sleigh_worker *sw;
    struct sleigh_task   *t, *copy;
    struct var           *reg;
    const char           *err = NULL;
    char                  buf[32];
    long                  rank;
    int                   ok;
    size_t                i;

    snprintf(buf, sizeof(buf), "%.*s", (int)(v->v_len < 31 ? v->v_len : 31),
             (v->v_flags & VALUE_SPOOLED) ? "" : value_data(v));
    rank = sleigh_parse_long(buf, strlen(buf), &ok);
    if (!ok || rank < 0) {
        request_error(rq, NWSP_STATUS_FAIL, "Worker registration failed: bad worker id.");
        return CMD_DONE;
    }
    if (s->s_join == JOIN_CLOSED) {
        request_error(rq, NWSP_STATUS_FAIL, "Worker registration failed: group closed.");
        return CMD_DONE;
    }
    for (i = 0; i < s->s_nworkers; i++) {
        if (s->s_workers[i]->sw_rank == rank || s->s_workers[i]->sw_conn == rq->rq_conn) {
            request_error(rq, NWSP_STATUS_FAIL,
                          "Worker registration failed: duplicate worker id.");
            return CMD_DONE;
        }
    }
    sw = xcalloc(1, sizeof(*sw));
    sw->sw_conn = rq->rq_conn;
    sw->sw_rank = rank;
    TAILQ_INIT(&sw->sw_copies);
    TAILQ_INIT(&sw->sw_running);
    TAILQ_FOREACH(t, &s->s_broadcasts, t_link) {
        copy = sleigh_task_new(value_ref(t->t_value), t->t_batch, 1);
        TAILQ_INSERT_TAIL(&sw->sw_copies, copy, t_link);
        s->s_ntasks++;
    }
    s->s_workers = xrealloc(s->s_workers, (s->s_nworkers + 1) * sizeof(*s->s_workers));
    s->s_workers[s->s_nworkers++] = sw;
    if (s->s_registered_ever++ == 0)
        evtimer_del(s->s_grace_timer);
    reg = ws_var(s->s_ws, "worker registrations", 20);
    var_store(reg, value_ref(v), rq->rq_conn, &err);
    log_info("sleigh %s: worker %ld joined (%zu registered)", s->s_ws->ws_name, rank,
             s->s_nworkers);
    reply_short(rq->rq_conn, NWSP_STATUS_OK, NULL);
    sleigh_check_full(s);
    sleigh_dispatch(s);
    return CMD_DONE;
}

/*
 * The running task a result store ends: the oldest, or, when the worker
 * runs several, the oldest whose batchId and nwsFirst match the store's
 * request metadata (our worker sends its task's), so that a store refused
 * on the way in (memory limit) never hands later results to the wrong task.
 * A store naming a task the worker no longer holds (it timed out) ends
 * none: NULL, unless the worker's tasks carry no nwsFirst (classic masters).
 */
static struct sleigh_task *
sleigh_result_task(struct sleigh_worker *sw, const struct request *rq)
{
    struct sleigh_task *t, *head = TAILQ_FIRST(&sw->sw_running);
    const char         *bid, *first, *tf;
    size_t              blen, flen, tflen;

    if (head == NULL || !sleigh_meta(rq, "batchId", &bid, &blen) ||
        !sleigh_meta(rq, "nwsFirst", &first, &flen))
        return head;
    TAILQ_FOREACH(t, &sw->sw_running, t_link) {
        if (t->t_batch->b_idlen == blen && memcmp(t->t_batch->b_id, bid, blen) == 0 &&
            t->t_value->v_metalen > 0 &&
            nwsp_dict_get(value_meta(t->t_value), t->t_value->v_metalen, "nwsFirst", &tf,
                          &tflen) &&
            tflen == flen && memcmp(tf, first, flen) == 0)
            return t;
    }
    /* A task the store names but the worker no longer holds (it timed out). */
    return head->t_value->v_metalen > 0 &&
                   nwsp_dict_get(value_meta(head->t_value), head->t_value->v_metalen,
                                 "nwsFirst", &tf, &tflen)
               ? NULL
               : head;
}

/* A worker stores the result of a task it runs. */
static enum cmd_ret
sleigh_result(struct request *rq, struct sleigh *s, struct value *v)
{
    struct sleigh_worker *sw = sleigh_worker_of(s, rq->rq_conn);
    struct sleigh_task   *t;
    struct value         *res;

    if (sw == NULL || (t = sleigh_result_task(sw, rq)) == NULL) {
        request_error(rq, NWSP_STATUS_FAIL, "No task is running on this connection.");
        return CMD_DONE;
    }
    TAILQ_REMOVE(&sw->sw_running, t, t_link);
    sleigh_timeout_stop(t);
    sw->sw_nrunning--;
    sw->sw_done++;
    res = sleigh_result_value(t, v, rq->rq_meta, rq->rq_metalen, sw->sw_rank);
    t->t_batch->b_running--;
    t->t_batch->b_done++;
    t->t_batch->b_failed += sleigh_result_errors(t, rq);
    reply_short(rq->rq_conn, NWSP_STATUS_OK, NULL);
    sleigh_add_result(s, t->t_batch, res);
    sleigh_task_free(t);
    return CMD_DONE;
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

/*
 * A batch record was stored to var (its value's metadata: nwsRecord=1 and
 * batchId): every task of the batch is in, and var goes with the batch.
 */
static void
sleigh_record_stored(struct sleigh *s, struct var *var)
{
    const struct value  *v;
    struct sleigh_batch *b;
    const char          *id, *flag;
    size_t               idlen, flaglen;

    if (var->var_mode == VAR_CUSTOM || var_nvalues(var) == 0)
        return;
    v = var_value_at(var, var_nvalues(var) - 1);
    if (v == NULL || v->v_metalen == 0 ||
        !nwsp_dict_get(value_meta(v), v->v_metalen, "nwsRecord", &flag, &flaglen) ||
        flaglen != 1 || flag[0] != '1' ||
        !nwsp_dict_get(value_meta(v), v->v_metalen, "batchId", &id, &idlen) || idlen == 0)
        return;
    b = sleigh_batch(s, id, idlen);
    b->b_ended = 1;
    free(b->b_record);
    b->b_record = xstrndup(var->var_name, var->var_namelen);
    sleigh_batch_settle(s, b); /* collected before its record came */
}

/*
 * A standard variable was stored to: "Sleigh ride over" starts shutdown;
 * a batch record ends its batch's submission.
 */
void
sleigh_stored(struct ws *ws, struct var *var)
{
    if (var->var_namelen == 16 && memcmp(var->var_name, "Sleigh ride over", 16) == 0)
        sleigh_shutdown(ws->ws_sleigh);
    else
        sleigh_record_stored(ws->ws_sleigh, var);
}

/*
 * Read-only views for the web interface (web_sleigh.c).  They copy numbers
 * and lend pointers into the sleigh; nothing here changes any state.
 */
void
sleigh_view(const struct sleigh *s, struct sleigh_view *out)
{
    memset(out, 0, sizeof(*out));
    out->sv_join = s->s_join == JOIN_OPEN      ? "open"
                   : s->s_join == JOIN_JOINING ? "joining"
                                               : "closed";
    out->sv_shutdown = s->s_shutdown;
    out->sv_expected = s->s_max;
    out->sv_allocated = s->s_allocated;
    out->sv_nworkers = s->s_nworkers;
    out->sv_ntasks = s->s_ntasks;
    out->sv_nresults = s->s_nresults;
    out->sv_nbatches = htab_count(&s->s_batches);
}

/* Worker i of the registered workers; 0, or -1 past the end. */
int
sleigh_worker_view(const struct sleigh *s, size_t i, struct sleigh_worker_view *out)
{
    const struct sleigh_worker *sw;
    const struct sleigh_task   *t;

    memset(out, 0, sizeof(*out));
    if (i >= s->s_nworkers)
        return -1;
    sw = s->s_workers[i];
    out->wv_rank = sw->sw_rank;
    out->wv_conn = sw->sw_conn;
    out->wv_done = sw->sw_done;
    if ((t = TAILQ_FIRST(&sw->sw_running)) != NULL) {
        out->wv_running = 1;
        out->wv_batch = t->t_batch->b_id;
        out->wv_batchlen = t->t_batch->b_idlen;
    }
    TAILQ_FOREACH(t, &sw->sw_copies, t_link)
        out->wv_copies++;
    return 0;
}

/* The next batch after *pos; 1 when one was returned, 0 at the end. */
int
sleigh_batch_view(const struct sleigh *s, size_t *pos, struct sleigh_batch_view *out)
{
    /* htab_next only reads; the cast lets a const sleigh be viewed. */
    struct htab_ent           *e = htab_next((struct htab *)&s->s_batches, pos);
    const struct sleigh_batch *b;

    memset(out, 0, sizeof(*out));
    if (e == NULL)
        return 0;
    b = e->h_val;
    out->bv_id = b->b_id;
    out->bv_idlen = b->b_idlen;
    out->bv_queued = b->b_queued;
    out->bv_running = b->b_running;
    out->bv_done = b->b_done;
    out->bv_failed = b->b_failed;
    out->bv_started = b->b_started;
    out->bv_what = b->b_what;
    return 1;
}
