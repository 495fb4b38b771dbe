/*
 * sleigh_tasks.c -- the sleigh's task queue, requeue, timeouts, batches and
 * their results.  Tasks stored to `task` wait in s_tasks (broadcast copies
 * in each worker's sw_copies) until a registered worker takes them; they run
 * in sw_running until a result store ends them; the requeue rule (sleigh.h)
 * says what becomes of them when their worker goes.  Results wait in their
 * batch (sleigh_batch) for the master.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "journal.h"
#include "sleigh.h"

/* Returns the batch named id (made if missing). */
struct sleigh_batch *
sleigh_batch(struct sleigh *s, const char *id, size_t len)
{
    struct sleigh_batch *b = htab_get(&s->s_batches, id, len);

    if (b == NULL) {
        b = xcalloc(1, sizeof(*b));
        b->b_id = xstrndup(id, len);
        b->b_idlen = len;
        b->b_started = time(NULL);
        TAILQ_INIT(&b->b_results);
        htab_init(&b->b_elems);
        b->b_restarted = journal_replaying(); /* it lived through a restart */
        htab_put(&s->s_batches, id, len, b);
        sj_batch(s, b);
    } else if (b->b_collected) {
        /* More tasks under a collected batch's id: it lives again. */
        TAILQ_REMOVE(&s->s_history, b, b_hist);
        s->s_nhistory--;
        b->b_collected = 0;
        b->b_ended = 0;
        sj_batch(s, b);
    }
    return b;
}

/*
 * Elements by index.  A task names its first element in its metadata
 * (nwsFirst, with batchId and nwsCount: the master's chunking, fixed for a
 * batch), and our worker's result store carries the same metadata.  That
 * pair is the element's identity across connections and restarts: a task a
 * master stores again (it re-sent a request whose outcome it could not
 * know) is dropped, and so is a second result for an element (a worker that
 * lost its connection while running it sends it late, after the task went
 * to another worker): the first result wins.  Broadcast copies and tasks
 * without nwsFirst (classic masters) are not deduplicated.
 */
static struct sleigh_task sleigh_elem_done_mark;
struct sleigh_task *const SLEIGH_ELEM_DONE = &sleigh_elem_done_mark;

/* The element index task t starts at (its nwsFirst): 1, or 0 when it has none. */
int
sleigh_task_first(const struct sleigh_task *t, const char **first, size_t *len)
{
    if (t->t_broadcast || t->t_value == NULL || t->t_value->v_metalen == 0)
        return 0;
    return nwsp_dict_get(value_meta(t->t_value), t->t_value->v_metalen, "nwsFirst", first,
                         len) &&
           *len > 0;
}

/* Task t is queued: its batch knows its element. */
void
sleigh_elem_put(struct sleigh_task *t)
{
    const char *f;
    size_t      fl;

    if (sleigh_task_first(t, &f, &fl))
        htab_put(&t->t_batch->b_elems, f, fl, t);
}

/* The index first as a bit number: 1, or 0 (not canonical decimal, or too large). */
static int
sleigh_elem_bit(const char *first, size_t len, uint64_t *n)
{
    size_t i;

    if (len == 0 || len > 9 || (len > 1 && first[0] == '0'))
        return 0; /* "07" is not "7": such an index keeps its own entry */
    for (*n = 0, i = 0; i < len; i++) {
        if (first[i] < '0' || first[i] > '9')
            return 0;
        *n = *n * 10 + (uint64_t)(first[i] - '0');
    }
    return *n < SLEIGH_DONE_BITS_MAX;
}

/* The element at index first of batch b has its result. */
void
sleigh_elem_done(struct sleigh_batch *b, const char *first, size_t len)
{
    uint64_t n;
    size_t   cap;

    if (len == 0)
        return;
    if (!sleigh_elem_bit(first, len, &n)) {
        htab_put(&b->b_elems, first, len, SLEIGH_ELEM_DONE);
        return;
    }
    htab_del(&b->b_elems, first, len);
    if (n / 8 >= b->b_done_cap) {
        for (cap = b->b_done_cap ? b->b_done_cap : 64; cap <= n / 8; cap *= 2)
            ;
        b->b_done_bits = xrealloc(b->b_done_bits, cap);
        memset(b->b_done_bits + b->b_done_cap, 0, cap - b->b_done_cap);
        b->b_done_cap = cap;
    }
    b->b_done_bits[n / 8] |= (uint8_t)(1u << (n % 8));
}

struct sleigh_task *
sleigh_elem_get(struct sleigh_batch *b, const char *first, size_t len)
{
    struct sleigh_task *t = htab_get(&b->b_elems, first, len);
    uint64_t            n;

    if (t == NULL && sleigh_elem_bit(first, len, &n) && n / 8 < b->b_done_cap &&
        (b->b_done_bits[n / 8] & (1u << (n % 8))))
        t = SLEIGH_ELEM_DONE;
    return t;
}

void
sleigh_elem_foreach_done(const struct sleigh_batch *b,
                         void (*fn)(const char *, size_t, void *), void *arg)
{
    struct htab_ent *e;
    char             num[24];
    size_t           pos = 0, i;

    /* htab_next only reads; the cast lets a const batch be walked. */
    while ((e = htab_next((struct htab *)&b->b_elems, &pos)) != NULL)
        if (e->h_val == SLEIGH_ELEM_DONE)
            fn(e->h_key, e->h_klen, arg);
    for (i = 0; i < b->b_done_cap * 8; i++)
        if (b->b_done_bits[i / 8] & (1u << (i % 8)))
            fn(num, (size_t)snprintf(num, sizeof(num), "%zu", i), arg);
}

/* Forgets every element of b (it was collected, or goes). */
void
sleigh_elem_clear(struct sleigh_batch *b)
{
    htab_free(&b->b_elems);
    htab_init(&b->b_elems);
    free(b->b_done_bits);
    b->b_done_bits = NULL;
    b->b_done_cap = 0;
}

/*
 * Notes what a batch runs, from its first task (a libnws task: JSON with
 * kind "call" and module/function, or kind "command" and argv), for the
 * web view.  Larger or other values are not parsed: the batch shows no name.
 */
void
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
struct sleigh_batch *
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
struct sleigh_batch *
sleigh_rq_batch_find(struct sleigh *s, const struct request *rq, const char **id,
                     size_t *len)
{
    *id = "";
    *len = 0;
    sleigh_meta(rq, "batchId", id, len);
    return htab_get(&s->s_batches, *id, *len);
}

struct sleigh_task *
sleigh_task_new(struct value *v, struct sleigh_batch *b, int broadcast)
{
    struct sleigh_task *t = xcalloc(1, sizeof(*t));

    t->t_value = v;
    t->t_batch = b;
    t->t_broadcast = broadcast;
    b->b_queued++;
    return t;
}

void
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
    nwsp_buf_dict_begin(&dict, n > NWS_MAX_DICT_ENTRIES ? NWS_MAX_DICT_ENTRIES : n);
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
void
sleigh_batch_free(struct sleigh_batch *b)
{
    struct sleigh_result *r;

    while ((r = TAILQ_FIRST(&b->b_results)) != NULL) {
        TAILQ_REMOVE(&b->b_results, r, r_link);
        value_unref(r->r_value);
        free(r);
    }
    sleigh_elem_clear(b);
    htab_free(&b->b_elems);
    free(b->b_record);
    free(b->b_id);
    free(b);
}

/* Deletes the record variables of collected batches (from a zero timeout, so
 * that no request still holds the variable). */
void
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
    if (s->s_reap_timer != NULL) /* else sleigh_start, after the replay */
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
int
sleigh_batch_empty(const struct sleigh_batch *b)
{
    return b->b_queued == 0 && b->b_running == 0 && b->b_kept == 0 &&
           TAILQ_EMPTY(&b->b_results);
}

/* After b lost a task or a result: fails hopeless waiters, retires b if collected. */
void
sleigh_batch_settle(struct sleigh *s, struct sleigh_batch *b)
{
    if (b->b_collected || b->b_idlen == 0 || !sleigh_batch_empty(b))
        return;
    sleigh_batch_fail_waiters(s, b);
    if (!b->b_ended)
        return; /* its submitter may add tasks yet */
    sleigh_batch_retire(s, b);
}

/* Every result of b was collected: b keeps its counts in the history. */
void
sleigh_batch_retire(struct sleigh *s, struct sleigh_batch *b)
{
    struct sleigh_batch *old;

    b->b_collected = 1;
    /* A late result of a collected batch is a duplicate whatever its index. */
    sleigh_elem_clear(b);
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
const char *
sleigh_batch_state(const struct sleigh_batch *b)
{
    if (b == NULL)
        return "none";
    return b->b_collected ? "collected" : b->b_ended ? "ended" : "open";
}

/*
 * Gives a result of batch b to its waiters (all finders, the oldest
 * fetcher): 0, v is gone; or keeps it: 1, v is the batch's.
 */
int
sleigh_add_result(struct sleigh *s, struct sleigh_batch *b, struct value *v)
{
    struct var           *rv = s->s_v[SV_RESULT];
    struct waiter        *w, *next;
    struct sleigh_result *r;

    /* A waiter of a detached session is skipped: the result stays here, for
     * another master or for its resume (sleigh_result_resumed). */
    for (w = TAILQ_FIRST(&rv->var_finders); w != NULL; w = next) {
        next = TAILQ_NEXT(w, w_link);
        if (w->w_arg != SLEIGH_WAITER_DETACHED && w->w_taglen == b->b_idlen &&
            memcmp(w->w_tag, b->b_id, b->b_idlen) == 0) {
            waiter_cancel(w);
            w->w_deliver(w, v, 0);
        }
    }
    TAILQ_FOREACH(w, &rv->var_fetchers, w_link) {
        if (w->w_arg != SLEIGH_WAITER_DETACHED && w->w_taglen == b->b_idlen &&
            memcmp(w->w_tag, b->b_id, b->b_idlen) == 0) {
            waiter_cancel(w);
            w->w_deliver(w, v, 0);
            value_unref(v);
            sleigh_batch_settle(s, b);
            return 0;
        }
    }
    r = xcalloc(1, sizeof(*r));
    r->r_value = v;
    TAILQ_INSERT_TAIL(&b->b_results, r, r_link);
    s->s_nresults++;
    return 1;
}

/*
 * Result waiter w (parked on s's result variable) is attached again: it is
 * served now if its batch has a result, as its request would have been.
 */
void
sleigh_result_resumed(struct sleigh *s, struct waiter *w)
{
    struct sleigh_batch  *b;
    struct sleigh_result *r;
    struct value         *v;
    int                   fetch = w->w_fetch;

    w->w_arg = 0;
    b = htab_get(&s->s_batches, w->w_tag != NULL ? w->w_tag : "", w->w_taglen);
    if (b == NULL || (r = TAILQ_FIRST(&b->b_results)) == NULL ||
        (fetch && sj_reserve(NULL, 0) != 0))
        return;
    v = value_ref(r->r_value);
    waiter_cancel(w);
    w->w_deliver(w, v, 0);
    if (fetch) {
        TAILQ_REMOVE(&b->b_results, r, r_link);
        s->s_nresults--;
        value_unref(r->r_value);
        free(r);
        sj_take(s, b);
        sleigh_batch_settle(s, b);
    }
    value_unref(v);
}

/*
 * Task t ended with result v (failed: its elements that failed): the
 * counts, v to a waiter or its batch, the journal; frees t.
 */
static void
sleigh_task_done(struct sleigh *s, struct sleigh_task *t, struct value *v,
                 uint64_t failed)
{
    struct sleigh_batch *b = t->t_batch;
    uint64_t             seq = t->t_seq;
    const char          *f;
    size_t               fl;

    b->b_done++;
    b->b_failed += failed;
    if (sleigh_task_first(t, &f, &fl))
        sleigh_elem_done(b, f, fl);
    sleigh_task_free(t);
    if (sleigh_add_result(s, b, v))
        sj_done(s, seq, failed, v);
    else
        sj_done(s, seq, failed, NULL);
}

/* Ends task t with an error result (a dead worker), and frees it. */
void
sleigh_fail_task(struct sleigh *s, struct sleigh_task *t, long rank, const char *why)
{
    struct nwsp_buf b = {0};
    struct value   *v;

    nwsp_buf_dict_begin(&b, 2);
    nwsp_buf_dict_put(&b, "nwsNull", 7, "1", 1);
    nwsp_buf_dict_put(&b, "nwsError", 8, why, strlen(why));
    v = sleigh_result_value(t, NULL, b.data, b.len, rank);
    nwsp_buf_free(&b);
    sleigh_task_done(s, t, v, sleigh_task_elems(t));
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
    t->t_started = nwsp_mono();
    d = t->t_limit + SLEIGH_TIMEOUT_GRACE_S;
    tv.tv_sec = (time_t)d;
    tv.tv_usec = (suseconds_t)((d - (double)tv.tv_sec) * 1e6);
    evtimer_add(t->t_timer, &tv);
}

/* Task t no longer runs (a result, requeued, its worker gone): stops its clock;
 * no worker holds it any more. */
static void
sleigh_timeout_stop(struct sleigh_task *t)
{
    if (t->t_timer != NULL)
        evtimer_del(t->t_timer);
    t->t_worker = NULL;
    t->t_runner = NULL;
}

/*
 * 1 if t has a timeout.  Such a task runs alone on its worker (nwsKeep
 * takes nothing next to it): its clock starts when it is handed out, so
 * it must start running then, and a worker that hangs in it must hold
 * nothing else that would time out with it without having run.
 */
int
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
           nwsp_mono() - t->t_started >= t->t_limit;
}

/* The error text of a timed-out task, into why. */
static void
sleigh_timeout_why(const struct sleigh_task *t, char *why, size_t len)
{
    snprintf(why, len, "timed out after %g s", t->t_elem_limit);
}

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
void
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
struct sleigh_task *
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
    t->t_runner = sw;
    sleigh_timeout_start(s, sw, t);
    return t;
}

/*
 * Puts the running tasks back at the front, in the order they were taken
 * (their worker asked for more without their results).
 */
void
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

/*
 * Worker sw's connection was lost: its running tasks go back or fail by the
 * requeue rule (sleigh.h); a running broadcast copy, which no other worker
 * can run, fails, unless keep_copies (the worker may resume: it waits in
 * its copies again).
 */
static void
sleigh_worker_drop_running(struct sleigh *s, struct sleigh_worker *sw, int keep_copies)
{
    struct sleigh_task *t;
    char                why[96];
    int                 alone;

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
        if (t->t_broadcast && keep_copies) {
            t->t_batch->b_queued++;
            TAILQ_INSERT_HEAD(&sw->sw_copies, t, t_link);
            s->s_ntasks++;
            continue;
        }
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
}

/*
 * Worker sw's session detached (its connection was lost; the session waits
 * for a resume): its running tasks go back at once, as if it had died (a
 * task that kills its worker process must still meet the retry limit),
 * but it stays registered with its rank and copies, and no task is handed
 * to it until it resumes.
 */
void
sleigh_worker_detached(struct sleigh *s, struct sleigh_worker *sw)
{
    sw->sw_detached = 1;
    sleigh_worker_drop_running(s, sw, 1);
}

/*
 * Worker sw is gone (its connection dropped, or its session ended): its
 * running tasks go back or fail and its untaken broadcast copies fail, by
 * the requeue rule (sleigh.h).
 */
void
sleigh_worker_lost(struct sleigh *s, struct sleigh_worker *sw)
{
    struct sleigh_task *t;
    char                why[96];

    sleigh_worker_drop_running(s, sw, 0);
    while ((t = TAILQ_FIRST(&sw->sw_copies)) != NULL) {
        TAILQ_REMOVE(&sw->sw_copies, t, t_link);
        s->s_ntasks--;
        t->t_batch->b_queued--;
        snprintf(why, sizeof(why), "worker %ld left before running this task",
                 sw->sw_rank);
        sleigh_fail_task(s, t, sw->sw_rank, why);
    }
}

/* 1 if a registered worker other than c waits for a task. */
int
sleigh_other_waits(struct sleigh *s, struct conn *c)
{
    struct waiter        *w;
    struct conn          *wc;
    struct sleigh_worker *sw;

    TAILQ_FOREACH(w, &s->s_v[SV_TASK]->var_fetchers, w_link) {
        wc = conn_from_waiter(w);
        if (wc != c && (sw = sleigh_worker_of(s, wc)) != NULL && !sw->sw_detached)
            return 1;
    }
    return 0;
}

/* Serves waiting registered workers while there is work for them. */
void
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
        if (sw->sw_detached)
            continue; /* its reply could not leave: served once it resumes */
        if ((t = sleigh_next_task(s, sw)) == NULL)
            continue;
        waiter_cancel(w);
        w->w_deliver(w, t->t_value, 0);
    }
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

/*
 * A result store naming an element its worker does not hold: the worker
 * lost its connection while running it, and the task went back to the
 * queue or on to another worker.  Returns the element's task (the first
 * result wins), or NULL: *dup set when the element has its result already
 * (*bp its batch), else the store names nothing known.
 */
static struct sleigh_task *
sleigh_result_elem(struct sleigh *s, const struct request *rq, struct sleigh_batch **bp,
                   int *dup)
{
    struct sleigh_batch *b;
    struct sleigh_task  *t;
    const char          *bid, *first;
    size_t               blen, flen;

    *bp = NULL;
    *dup = 0;
    if (!sleigh_meta(rq, "batchId", &bid, &blen) ||
        !sleigh_meta(rq, "nwsFirst", &first, &flen) || flen == 0 ||
        (b = htab_get(&s->s_batches, bid, blen)) == NULL)
        return NULL;
    *bp = b;
    t = b->b_collected ? SLEIGH_ELEM_DONE : sleigh_elem_get(b, first, flen);
    *dup = t == SLEIGH_ELEM_DONE;
    return *dup ? NULL : t;
}

/* Task t (another worker's, or queued) is ended by a result from elsewhere. */
static void
sleigh_elem_take(struct sleigh *s, struct sleigh_task *t)
{
    struct sleigh_worker *o = t->t_runner;

    if (o != NULL) {
        TAILQ_REMOVE(&o->sw_running, t, t_link);
        o->sw_nrunning--;
        t->t_batch->b_running--;
        sleigh_timeout_stop(t);
    } else {
        TAILQ_REMOVE(&s->s_tasks, t, t_link);
        s->s_ntasks--;
        t->t_batch->b_queued--;
    }
}

/* A worker stores the result of a task it runs (or ran: sleigh_result_elem). */
enum cmd_ret
sleigh_result(struct request *rq, struct sleigh *s, struct value *v)
{
    struct sleigh_worker *sw = sleigh_worker_req(s, rq->rq_conn);
    struct sleigh_task   *t = NULL;
    struct sleigh_batch  *b = NULL;
    struct value         *res;
    int                   own = 1, dup = 0;

    if (sw != NULL && (t = sleigh_result_task(sw, rq)) == NULL) {
        t = sleigh_result_elem(s, rq, &b, &dup);
        own = 0;
    }
    if (dup) {
        /* Answered as stored, so the worker goes on; the first result stays. */
        b->b_dups++;
        log_debug("sleigh %s: worker %ld: a duplicate result of batch %.*s dropped",
                  s->s_ws->ws_name, sw->sw_rank, (int)(b->b_idlen > 64 ? 64 : b->b_idlen),
                  b->b_id);
        reply_short(rq->rq_conn, NWSP_STATUS_OK, NULL);
        return CMD_DONE;
    }
    if (sw == NULL || t == NULL) {
        request_error(rq, NWSP_STATUS_FAIL, "No task is running on this connection.");
        return CMD_DONE;
    }
    if (sj_reserve(v, 0) != 0) {
        /* The task stays with its worker; a result it can store later ends it. */
        request_error(rq, NWSP_STATUS_FAIL, "Store failed: %s", journal_error());
        return CMD_DONE;
    }
    if (own) {
        TAILQ_REMOVE(&sw->sw_running, t, t_link);
        sleigh_timeout_stop(t);
        sw->sw_nrunning--;
        t->t_batch->b_running--;
    } else {
        log_info("sleigh %s: worker %ld: a late result accepted", s->s_ws->ws_name,
                 sw->sw_rank);
        sleigh_elem_take(s, t);
    }
    sw->sw_done++;
    res = sleigh_result_value(t, v, rq->rq_meta, rq->rq_metalen, sw->sw_rank);
    reply_short(rq->rq_conn, NWSP_STATUS_OK, NULL);
    sleigh_task_done(s, t, res, sleigh_result_errors(t, rq));
    return CMD_DONE;
}

/*
 * A batch record was stored to var (its value's metadata: nwsRecord=1 and
 * batchId): every task of the batch is in, and var goes with the batch.
 */
void
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
    sj_end(s, b);
    sleigh_batch_settle(s, b); /* collected before its record came */
}
