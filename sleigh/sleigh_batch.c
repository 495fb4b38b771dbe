/*
 * sleigh_batch.c -- batches: eachElem, eachWorker and pending batches.
 *
 * A batch turns its elements into task records (chunk elements each) and
 * stores them to `task` through pipelined bulk stores on the sleigh's
 * control connection, at most bound tasks ahead of the results collected
 * (the load factor).  Results are collected on a connection of the batch's
 * own, in one of two ways:
 *
 *  - counted: the batch knows how many tasks it submitted, and every task
 *    yields exactly one result (the server turns a lost task into an error
 *    result), so it keeps up to BATCH_WINDOW blocking `fetch result`
 *    requests in flight, never more than the results still owed: no fetch
 *    can wait for ever, and results stream in at one round trip per
 *    window rather than per result; it tops the window up once half of it
 *    is answered, all the new fetches in one write;
 *  - polled (eachWorker, whose copies depend on who is registered, and
 *    attached batches, submitted by someone else): `fetchTry result`, and
 *    when there is none, jobStatus: once nothing of the batch is queued or
 *    running (and its submitter recorded that it was all submitted), every
 *    result is already in the server, so one more fetchTry drains it.
 *
 * Each element gets exactly one result: a second one for the same element
 * (which the server should never produce) is counted and dropped.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "frame.h"
#include "nwsp.h"
#include "sleighp.h"

#define BATCH_WINDOW     32  /* blocking result fetches in flight */
#define BATCH_FLUSH      256 /* task stores per pipelined bulk */
#define BATCH_FLUSH_SIZE 65536 /* bytes of tasks per bulk: workers start early */
#define BATCH_POLL_MAX_S 0.05
#define BATCH_NO_RESULT  "no result (collected elsewhere)"

/* One element result waiting to be handed out by nws_sleigh_pending_next. */
struct batch_ready {
    size_t  br_index;
    json_t *br_value; /* owned reference, or NULL */
    char   *br_error; /* owned, or NULL */
    int     br_rank;
    double  br_seconds;
};

struct nws_sleigh_pending {
    nws_sleigh *p_s;
    char        p_id[64];
    json_t     *p_proto;      /* task record minus first/args */
    char       *p_head;       /* its JSON text without the closing brace */
    size_t      p_headlen;
    int         p_each_worker;
    int         p_attached;
    int         p_polled;     /* collect by polling (see above) */
    int         p_ended;      /* every element is known */
    int         p_finished;   /* every result is in */
    unsigned    p_flags;

    /* Input: vectors (p_vectors) or pushed argument lists (p_pushed). */
    json_t *p_vectors;
    json_t *p_pushed;
    size_t  p_pushed_off;     /* element index of p_pushed[0] */
    size_t  p_nelems;
    size_t  p_next;           /* first element not submitted */
    size_t  p_chunk;
    size_t  p_bound;          /* tasks outstanding at most; 0: no bound */
    size_t  p_submitted;      /* tasks stored */
    size_t  p_tasks_in;       /* result records read */
    int     p_recorded;       /* the batch record is stored */

    /* Results. */
    json_t        *p_results; /* element order; NULL with DISCARD or eachWorker */
    json_t        *p_byrank;  /* eachWorker: [[rank, entry], ...] */
    unsigned char *p_have;
    size_t         p_havecap;
    size_t         p_collected, p_errors, p_dups;
    struct batch_ready *p_ready;
    size_t              p_nready, p_readypos, p_readycap;
    int                 p_handed; /* p_ready[p_readypos - 1] was handed out */
    int                 p_waiting; /* pending_wait collects: no ready queue */

    nws_sleigh_accum_fn p_accum;
    void               *p_accum_arg;

    /* The result connection. */
    nws_client *p_c;
    nws_ws     *p_ws;
    int         p_inflight;   /* blocking fetches sent, replies not read */
    nws_meta   *p_meta;       /* {batchId: id} */
    double      p_poll_s;
    int p_record_seen; /* attached: the submitter's record says all is submitted */

    nws_sleigh_halt p_halt;   /* the halt policy (sleigh_halt.c) */
    int             p_halted; /* it struck: NWS_SLEIGH_HALT_SOON or _NOW */
    char p_state[16];  /* the server's word on the batch (jobStatus nwsBatch), or "" */
    nws_error p_gone;  /* why results can no longer come (code 0: they can) */
};

/* ---- small helpers --------------------------------------------------------- */

/* Records out of memory; returns -1. */
static int
batch_nomem(nws_error *err)
{
    nwsp_err_set(err, NWS_ERR_NOMEM, 0, "out of memory");
    return -1;
}

/* Sleeps s seconds. */
static void
batch_nap(double s)
{
    struct timespec ts;

    if (s <= 0)
        return;
    ts.tv_sec = (time_t)s;
    ts.tv_nsec = (long)((s - (double)ts.tv_sec) * 1e9);
    nanosleep(&ts, NULL);
}

/* Makes sure p_have covers n elements; 0, or -1. */
static int
batch_have_grow(nws_sleigh_pending *p, size_t n, nws_error *err)
{
    unsigned char *h;
    size_t         cap = p->p_havecap ? p->p_havecap : 64;

    if (n <= p->p_havecap)
        return 0;
    while (cap < n)
        cap *= 2;
    if ((h = realloc(p->p_have, cap)) == NULL)
        return batch_nomem(err);
    memset(h + p->p_havecap, 0, cap - p->p_havecap);
    p->p_have = h;
    p->p_havecap = cap;
    return 0;
}

/* A pending batch with a fresh id; NULL on failure. */
static nws_sleigh_pending *
batch_new(nws_sleigh *s, const char *id, nws_error *err)
{
    nws_sleigh_pending *p;

    if (s == NULL) {
        nwsp_err_set(err, NWS_ERR_INVALID, 0, "NULL sleigh");
        return NULL;
    }
    if (s->stopped) {
        nwsp_err_set(err, NWS_ERR_INVALID, 0, "the sleigh was stopped");
        return NULL;
    }
    if ((p = calloc(1, sizeof(*p))) == NULL) {
        batch_nomem(err);
        return NULL;
    }
    p->p_s = s;
    if (id != NULL)
        snprintf(p->p_id, sizeof(p->p_id), "%s", id);
    else
        nwsp_sleigh_batch_id(p->p_id, sizeof(p->p_id), ++s->seq);
    p->p_chunk = 1;
    p->p_poll_s = 0.001;
    if ((p->p_meta = nws_meta_new()) == NULL ||
        nws_meta_set(p->p_meta, "batchId", p->p_id, err) != 0) {
        nws_meta_free(p->p_meta);
        free(p);
        batch_nomem(err);
        return NULL;
    }
    s->npending++;
    return p;
}

/*
 * Puts the task's timeout (its "timeout" key, seconds per element) into
 * the task value's metadata as nwsTimeout, where the server reads it to
 * end a task whose worker hangs (server/sleigh.c).  0, or -1.
 */
static int
batch_meta_timeout(const json_t *proto, nws_meta *m, nws_error *err)
{
    double t = json_number_value(json_object_get(proto, "timeout"));
    char   num[48];

    if (!(t > 0))
        return 0;
    snprintf(num, sizeof(num), "%.3f", t);
    return nws_meta_set(m, "nwsTimeout", num, err);
}

/* Checks a task description; 0, or -1. */
static int
batch_check_task(const json_t *task, nws_error *err)
{
    const char *kind = json_string_value(json_object_get(task, "kind"));

    if (!json_is_object(task) || kind == NULL) {
        nwsp_err_set(err, NWS_ERR_INVALID, 0, "a task is a JSON object with a \"kind\"");
        return -1;
    }
    if (strcmp(kind, "call") == 0) {
        if (!json_is_string(json_object_get(task, "function"))) {
            nwsp_err_set(err, NWS_ERR_INVALID, 0, "a call task needs a \"function\"");
            return -1;
        }
    } else if (strcmp(kind, "command") == 0) {
        if (!json_is_array(json_object_get(task, "argv")) ||
            json_array_size(json_object_get(task, "argv")) == 0) {
            nwsp_err_set(err, NWS_ERR_INVALID, 0, "a command task needs an \"argv\"");
            return -1;
        }
    } else {
        nwsp_err_set(err, NWS_ERR_INVALID, 0, "unknown task kind \"%s\"", kind);
        return -1;
    }
    if (json_object_get(task, "timeout") != NULL &&
        (!json_is_number(json_object_get(task, "timeout")) ||
         !(json_number_value(json_object_get(task, "timeout")) >= 0) ||
         json_number_value(json_object_get(task, "timeout")) > 1e7)) {
        nwsp_err_set(err, NWS_ERR_INVALID, 0, "a task's \"timeout\" is seconds (0 to 1e7)");
        return -1;
    }
    return 0;
}

/*
 * The text every task record of the batch starts with: the prototype's
 * JSON (without "first" and "args", which each record adds) minus its
 * closing brace.  0, or -1.
 */
static int
batch_head(nws_sleigh_pending *p, nws_error *err)
{
    struct nwsp_buf b = {0};
    json_t         *head = json_copy(p->p_proto);

    if (head == NULL)
        return batch_nomem(err);
    json_object_del(head, "first");
    json_object_del(head, "args");
    if (nwsp_sleigh_json_put(&b, head) != 0 || b.len < 2) {
        json_decref(head);
        nwsp_buf_free(&b);
        nwsp_err_set(err, NWS_ERR_INVALID, 0, "the task cannot be encoded as JSON");
        return -1;
    }
    json_decref(head);
    b.len--; /* the closing brace */
    p->p_head = b.data;
    p->p_headlen = b.len;
    return 0;
}

/* The record prototype: task keys plus batch, fixed and permute; 0, or -1. */
static int
batch_proto(nws_sleigh_pending *p, const json_t *task, const json_t *fixed,
            const json_t *permute, nws_error *err)
{
    if ((p->p_proto = json_deep_copy(task)) == NULL ||
        json_object_set_new(p->p_proto, "batch", json_string(p->p_id)) != 0)
        return batch_nomem(err);
    if (fixed != NULL && json_object_set(p->p_proto, "fixed", (json_t *)fixed) != 0)
        return batch_nomem(err);
    if (permute != NULL && json_object_set(p->p_proto, "permute", (json_t *)permute) != 0)
        return batch_nomem(err);
    return batch_head(p, err);
}

/* Opens the result connection if needed; 0, or -1. */
static int
batch_conn(nws_sleigh_pending *p, nws_error *err)
{
    if (p->p_c != NULL)
        return 0;
    p->p_c = nwsp_sleigh_conn_get(p->p_s, &p->p_ws, err);
    return p->p_c != NULL ? 0 : -1;
}

/* ---- submission -------------------------------------------------------------- */

/* Appends the JSON argument list of element i (own arguments only); 0, or -1. */
static int
batch_put_args(nws_sleigh_pending *p, struct nwsp_buf *b, size_t i)
{
    json_t *vec;
    size_t  k;

    if (p->p_pushed != NULL)
        return nwsp_sleigh_json_put(b, json_array_get(p->p_pushed, i - p->p_pushed_off));
    json_array_foreach(p->p_vectors, k, vec)
    {
        if (b->cap - b->len < 2 && nwsp_buf_reserve(b, 2) != 0)
            return -1;
        b->data[b->len++] = k == 0 ? '[' : ',';
        if (nwsp_sleigh_json_put(b, json_array_get(vec, i)) != 0)
            return -1;
    }
    if (b->cap - b->len < 2 && nwsp_buf_reserve(b, 2) != 0)
        return -1;
    if (k == 0)
        b->data[b->len++] = '[';
    b->data[b->len++] = ']';
    return 0;
}

/*
 * A task value for elements [first, first + n); NULL on failure.  The
 * record's text is written directly (the batch's head, then first and
 * args), with no JSON tree built per task.
 */
static nws_value *
batch_task_value(nws_sleigh_pending *p, size_t first, size_t n, nws_error *err)
{
    struct nwsp_buf b = {0};
    nws_value      *v = NULL;
    nws_meta       *m;
    char            num[48];
    size_t          i;
    int             len;

    len = snprintf(num, sizeof(num), ",\"first\":%zu,\"args\":[", first);
    if (nwsp_buf_reserve(&b, p->p_headlen + (size_t)len + n * 8 + 3) != 0 ||
        nwsp_buf_add(&b, p->p_head, p->p_headlen) != 0 ||
        nwsp_buf_add(&b, num, (size_t)len) != 0)
        goto nomem;
    for (i = 0; i < n; i++) {
        if (i > 0 && b.cap == b.len && nwsp_buf_reserve(&b, 1) != 0)
            goto nomem;
        if (i > 0)
            b.data[b.len++] = ',';
        if (batch_put_args(p, &b, first + i) != 0) {
            /* Out of memory, or a number JSON cannot hold (NaN, infinity). */
            nwsp_buf_free(&b);
            nwsp_err_set(err, NWS_ERR_INVALID, 0,
                         "the arguments of element %zu cannot be encoded as JSON", first + i);
            return NULL;
        }
    }
    if (nwsp_buf_add(&b, "]}", 3) != 0) /* and the NUL */
        goto nomem;
    if ((v = nwsp_value_wrap(b.data, b.len - 1, NWS_DESC_TEXT)) == NULL)
        goto nomem;
    b.data = NULL;
    if ((m = nws_value_meta(v)) == NULL || nws_meta_set(m, "batchId", p->p_id, err) != 0)
        goto fail;
    snprintf(num, sizeof(num), "%zu", first);
    if (nws_meta_set(m, "nwsFirst", num, err) != 0)
        goto fail;
    snprintf(num, sizeof(num), "%zu", n);
    if (nws_meta_set(m, "nwsCount", num, err) != 0 ||
        batch_meta_timeout(p->p_proto, m, err) != 0)
        goto fail;
    return v;
nomem:
    nwsp_buf_free(&b);
    batch_nomem(err);
    return NULL;
fail:
    nws_value_free(v);
    batch_nomem(err);
    return NULL;
}

/* Queues the batch record (everything submitted) into bulk b; 0, or -1. */
static int
batch_record(nws_sleigh_pending *p, nws_bulk *b, nws_error *err)
{
    char       var[96];
    json_t    *rec;
    nws_value *v;
    int        rc;

    rec = json_pack("{s:I, s:I, s:I, s:b, s:b}", "elements", (json_int_t)p->p_nelems,
                    "tasks", (json_int_t)p->p_submitted, "chunk", (json_int_t)p->p_chunk,
                    "ended", 1, "each_worker", p->p_each_worker);
    if (rec == NULL)
        return batch_nomem(err);
    v = nws_value_from_json(rec, err);
    json_decref(rec);
    if (v == NULL)
        return -1;
    /* The server ties the record to the batch: both go once it is collected. */
    if (nws_meta_set(nws_value_meta(v), "batchId", p->p_id, err) != 0 ||
        nws_meta_set(nws_value_meta(v), "nwsRecord", "1", err) != 0) {
        nws_value_free(v);
        return -1;
    }
    snprintf(var, sizeof(var), NWSP_SLEIGH_BATCH_FMT, p->p_id);
    rc = nws_bulk_store(b, var, v, err);
    nws_value_free(v);
    if (rc == 0)
        p->p_recorded = 1;
    return rc;
}

/* Flushes b; 0, or -1 (a refused store fails the batch). */
static int
batch_flush(nws_bulk *b, nws_error *err)
{
    long rc;

    if (nws_bulk_count(b) == 0)
        return 0;
    rc = nws_bulk_flush(b, err);
    return rc == 0 ? 0 : -1;
}

/* Drops pushed argument lists that were submitted; 0, or -1. */
static int
batch_compact(nws_sleigh_pending *p, nws_error *err)
{
    size_t  done = p->p_next - p->p_pushed_off, i, n;
    json_t *rest;

    if (p->p_pushed == NULL || done < 1024 || done * 2 < json_array_size(p->p_pushed))
        return 0;
    if ((rest = json_array()) == NULL)
        return batch_nomem(err);
    n = json_array_size(p->p_pushed);
    for (i = done; i < n; i++)
        if (json_array_append(rest, json_array_get(p->p_pushed, i)) != 0) {
            json_decref(rest);
            return batch_nomem(err);
        }
    json_decref(p->p_pushed);
    p->p_pushed = rest;
    p->p_pushed_off = p->p_next;
    return 0;
}

/*
 * Submits what the load factor allows (and the record once all is in).  A
 * streaming batch keeps a partial chunk back for more input, unless
 * partial is set.  0, or -1.
 */
static int
batch_submit_some(nws_sleigh_pending *p, int partial, nws_error *err)
{
    nws_bulk  *b;
    nws_value *v;
    size_t     n, bytes = 0;
    int        rc = 0;

    if (p->p_each_worker || p->p_attached || p->p_recorded || p->p_halted)
        return 0;
    if ((b = nws_bulk_new(p->p_s->ws, err)) == NULL)
        return -1;
    while (p->p_next < p->p_nelems) {
        if (p->p_bound > 0 && p->p_submitted - p->p_tasks_in >= p->p_bound)
            break;
        n = p->p_nelems - p->p_next;
        if (n > p->p_chunk)
            n = p->p_chunk;
        if (!p->p_ended && !partial && n < p->p_chunk)
            break; /* a streaming batch waits for a full chunk */
        if ((v = batch_task_value(p, p->p_next, n, err)) == NULL) {
            rc = -1;
            break;
        }
        rc = nws_bulk_store(b, NWSP_SLEIGH_TASK, v, err);
        bytes += nws_value_size(v);
        nws_value_free(v);
        if (rc != 0)
            break;
        p->p_next += n;
        p->p_submitted++;
        if ((nws_bulk_count(b) >= BATCH_FLUSH || bytes >= BATCH_FLUSH_SIZE) &&
            (rc = batch_flush(b, err)) != 0)
            break;
        if (nws_bulk_count(b) == 0)
            bytes = 0;
    }
    if (rc == 0 && p->p_ended && p->p_next == p->p_nelems)
        rc = batch_record(p, b, err);
    if (rc == 0)
        rc = batch_flush(b, err);
    nws_bulk_free(b);
    if (rc == 0)
        rc = batch_compact(p, err);
    return rc;
}

/* Submits what the load factor allows; 0, or -1. */
static int
batch_submit(nws_sleigh_pending *p, nws_error *err)
{
    return batch_submit_some(p, 0, err);
}

/* ---- taking results -------------------------------------------------------- */

/* Appends a ready entry (takes value and error); 0, or -1. */
static int
batch_ready_add(nws_sleigh_pending *p, size_t index, json_t *value, char *error, int rank,
                double seconds, nws_error *err)
{
    struct batch_ready *r;
    size_t              cap;

    if (p->p_nready == p->p_readycap) {
        cap = p->p_readycap ? p->p_readycap * 2 : 16;
        if ((r = realloc(p->p_ready, cap * sizeof(*r))) == NULL) {
            json_decref(value);
            free(error);
            return batch_nomem(err);
        }
        p->p_ready = r;
        p->p_readycap = cap;
    }
    r = &p->p_ready[p->p_nready++];
    r->br_index = index;
    r->br_value = value;
    r->br_error = error;
    r->br_rank = rank;
    r->br_seconds = seconds;
    return 0;
}

/* The array entry for a result: the value, or an error object (new reference). */
static json_t *
batch_entry(json_t *value, const char *error, int rank)
{
    json_t *e;

    if (error == NULL)
        return json_incref(value != NULL ? value : json_null());
    if ((e = json_pack("{s:s, s:i}", "nwsError", error, "rank", rank)) != NULL &&
        value != NULL)
        json_object_set(e, "value", value);
    return e;
}

/*
 * Files the result of element index (value borrowed, may be NULL; error
 * NULL on success): stores it, calls the accumulator, queues it for
 * pending_next.  A second result for an element is dropped.  0, or -1.
 */
static int
batch_element(nws_sleigh_pending *p, size_t index, json_t *value, const char *error,
              int rank, double seconds, nws_error *err)
{
    nws_sleigh_result r;
    json_t           *entry = NULL, *pair, *it;
    char             *errcopy = NULL;
    size_t            k;

    if (p->p_each_worker) {
        json_array_foreach(p->p_byrank, k, it)
        {
            if (json_integer_value(json_array_get(it, 0)) == rank) {
                p->p_dups++;
                return 0;
            }
        }
    } else {
        if (index >= p->p_nelems || batch_have_grow(p, index + 1, err) != 0) {
            p->p_dups++;
            return index >= p->p_nelems ? 0 : -1;
        }
        if (p->p_have[index]) {
            p->p_dups++;
            return 0;
        }
        p->p_have[index] = 1;
    }
    if ((p->p_results != NULL || p->p_each_worker) &&
        (entry = batch_entry(value, error, rank)) == NULL)
        return batch_nomem(err);
    if (p->p_each_worker) {
        if ((pair = json_pack("[i, o]", rank, entry)) == NULL ||
            json_array_append_new(p->p_byrank, pair) != 0)
            return batch_nomem(err);
    } else if (p->p_results != NULL &&
               json_array_set_new(p->p_results, index, entry) != 0) {
        return batch_nomem(err);
    }
    p->p_collected++;
    if (error != NULL)
        p->p_errors++;
    if (!p->p_halted &&
        nwsp_sleigh_halt_hit(&p->p_halt, p->p_errors, p->p_collected, p->p_nelems))
        p->p_halted = p->p_halt.when; /* no more submitted; pending_next ends it */
    if (p->p_accum != NULL) {
        r.index = index;
        r.value = value;
        r.error = error;
        r.rank = rank;
        r.seconds = seconds;
        p->p_accum(&r, p->p_accum_arg);
    }
    if (p->p_waiting)
        return 0; /* nobody will take it from the ready queue */
    if (error != NULL && (errcopy = strdup(error)) == NULL)
        return batch_nomem(err);
    return batch_ready_add(p, index, value != NULL ? json_incref(value) : NULL, errcopy,
                           rank, seconds, err);
}

/* Files count error results starting at element first. */
static int
batch_fail_range(nws_sleigh_pending *p, long first, long count, const char *why, int rank,
                 nws_error *err)
{
    long k;

    if (p->p_each_worker)
        return batch_element(p, (size_t)(rank < 0 ? 0 : rank), NULL, why, rank, 0, err);
    if (first < 0 || count < 0) {
        p->p_dups++; /* cannot be placed: counted, dropped */
        return 0;
    }
    for (k = 0; k < count; k++)
        if (batch_element(p, (size_t)(first + k), NULL, why, rank, 0, err) != 0)
            return -1;
    return 0;
}

/* Takes one result record (v, consumed); 0, or -1. */
static int
batch_take(nws_sleigh_pending *p, nws_value *v, nws_error *err)
{
    const nws_meta *m = nws_value_meta_get(v);
    const char     *null = nws_meta_get(m, "nwsNull"), *why, *e;
    json_t         *rec, *res, *ent;
    long            first = -1, count = -1, rank = -1;
    size_t          k;
    int             rc = 0;
    double          secs;

    nwsp_sleigh_meta_long(m, "nwsFirst", &first);
    nwsp_sleigh_meta_long(m, "nwsCount", &count);
    nwsp_sleigh_meta_long(m, "nwsWorkerRank", &rank);
    p->p_tasks_in++;
    if (null != NULL && strcmp(null, "1") == 0) {
        why = nws_meta_get(m, "nwsError");
        rc = batch_fail_range(p, first, count, why ? why : "the worker died", (int)rank,
                              err);
        nws_value_free(v);
        return rc;
    }
    rec = nwsp_sleigh_decode(v);
    nws_value_free(v);
    if (!json_is_object(rec)) {
        json_decref(rec);
        return batch_fail_range(p, first, count, "malformed result record", (int)rank,
                                err);
    }
    if (json_is_integer(json_object_get(rec, "first")))
        first = (long)json_integer_value(json_object_get(rec, "first"));
    if ((e = json_string_value(json_object_get(rec, "error"))) != NULL) {
        if (json_is_integer(json_object_get(rec, "count")))
            count = (long)json_integer_value(json_object_get(rec, "count"));
        rc = batch_fail_range(p, first, count, e, (int)rank, err);
        json_decref(rec);
        return rc;
    }
    if ((res = json_object_get(rec, "values")) != NULL && json_is_array(res) &&
        first >= 0) {
        /* The compact form: every element succeeded; the time is the task's. */
        secs = json_number_value(json_object_get(rec, "seconds")) /
               (double)(json_array_size(res) > 0 ? json_array_size(res) : 1);
        json_array_foreach(res, k, ent)
        {
            rc = batch_element(
                p, p->p_each_worker ? (size_t)(rank < 0 ? 0 : rank) : first + k, ent,
                NULL, (int)rank, secs, err);
            if (rc != 0)
                break;
        }
        if (rc == 0 && !p->p_each_worker && count > (long)json_array_size(res))
            rc = batch_fail_range(p, first + (long)json_array_size(res),
                                  count - (long)json_array_size(res),
                                  "no result in the task's record", (int)rank, err);
        json_decref(rec);
        return rc;
    }
    res = json_object_get(rec, "results");
    if (!json_is_array(res) || first < 0) {
        rc = batch_fail_range(p, first, count, "malformed result record", (int)rank, err);
        json_decref(rec);
        return rc;
    }
    json_array_foreach(res, k, ent)
    {
        secs = json_number_value(json_object_get(ent, "seconds"));
        e = json_string_value(json_object_get(ent, "error"));
        if (e == NULL && json_object_get(ent, "value") == NULL)
            e = "malformed result record";
        rc =
            batch_element(p, p->p_each_worker ? (size_t)(rank < 0 ? 0 : rank) : first + k,
                          json_object_get(ent, "value"), e, (int)rank, secs, err);
        if (rc != 0)
            break;
    }
    /* A record with fewer results than its task had elements. */
    if (rc == 0 && !p->p_each_worker && count > (long)json_array_size(res))
        rc = batch_fail_range(p, first + (long)json_array_size(res),
                              count - (long)json_array_size(res),
                              "no result in the task's record", (int)rank, err);
    json_decref(rec);
    return rc;
}

/*
 * Marks the batch finished, giving every element still without a result
 * the error why (NULL: BATCH_NO_RESULT).
 */
static int
batch_finish_why(nws_sleigh_pending *p, const char *why, nws_error *err)
{
    size_t i;

    if (p->p_finished)
        return 0;
    if (!p->p_each_worker) {
        if (batch_have_grow(p, p->p_nelems, err) != 0)
            return -1;
        for (i = 0; i < p->p_nelems; i++)
            if (!p->p_have[i] &&
                batch_element(p, i, NULL, why != NULL ? why : BATCH_NO_RESULT, -1, 0,
                              err) != 0)
                return -1;
    }
    p->p_finished = 1;
    return 0;
}

/* Marks the batch finished, giving every element still without a result an error. */
static int
batch_finish(nws_sleigh_pending *p, nws_error *err)
{
    return batch_finish_why(p, NULL, err);
}

/*
 * The server said (error *why, NWS_ERR_SERVER) that what this pending
 * waits for can no longer come: the batch was collected elsewhere, the
 * sleigh shut down, its workspace was deleted.  Every element without a
 * result gets an error saying so, the batch is finished, and why is kept
 * for pending_wait.  0, or -1 (out of memory).
 */
static int
batch_gone(nws_sleigh_pending *p, const nws_error *why, nws_error *err)
{
    char text[sizeof(why->text) + 16];

    if (p->p_gone.code == 0)
        p->p_gone = *why;
    if (strncmp(why->text, NWSP_SLEIGH_OVER_TEXT, strlen(NWSP_SLEIGH_OVER_TEXT)) == 0)
        return batch_finish_why(p, BATCH_NO_RESULT, err);
    snprintf(text, sizeof(text), "no result: %s", why->text);
    return batch_finish_why(p, text, err);
}

/* 1 when the server no longer has the batch (collected, or never known). */
static int
batch_over(const nws_sleigh_pending *p)
{
    return strcmp(p->p_state, "collected") == 0 || strcmp(p->p_state, "none") == 0;
}

/* jobStatus of the batch: pending count and the reply metadata (copied) in *m. */
static long
batch_job_status(nws_sleigh_pending *p, nws_meta **m, nws_error *err)
{
    nws_value *v = NULL;
    long       n;
    int        rc;

    if (nws_set_request_meta(p->p_s->c, p->p_meta, err) != 0)
        return -1;
    if ((rc = nws_fetch_try(p->p_s->ws, "jobStatus", &v, err)) < 0)
        return -1;
    if (rc == 0) {
        nwsp_err_set(err, NWS_ERR_PROTOCOL, 0, "jobStatus gave no value");
        return -1;
    }
    n = strtol(nws_value_str(v) ? nws_value_str(v) : "0", NULL, 10);
    snprintf(p->p_state, sizeof(p->p_state), "%s",
             nws_meta_get(nws_value_meta_get(v), "nwsBatch")
                 ? nws_meta_get(nws_value_meta_get(v), "nwsBatch")
                 : "");
    if (m != NULL)
        *m = nws_meta_copy(nws_value_meta_get(v));
    nws_value_free(v);
    return n;
}

/* Attached: 1 once the submitter's record says everything was submitted. */
static int
batch_record_seen(nws_sleigh_pending *p, nws_error *err)
{
    char    var[96];
    json_t *rec = NULL;
    int     rc;

    if (p->p_record_seen || p->p_each_worker)
        return 1;
    snprintf(var, sizeof(var), NWSP_SLEIGH_BATCH_FMT, p->p_id);
    if ((rc = nws_find_try_json(p->p_s->ws, var, &rec, err)) < 0)
        return -1;
    if (rc == 1 && json_is_true(json_object_get(rec, "ended")))
        p->p_record_seen = 1;
    json_decref(rec);
    return p->p_record_seen;
}

/* Counted collection: reads one result record; 1, NWS_SLEIGH_TIMEOUT, or -1. */
static int
batch_read_counted(nws_sleigh_pending *p, int timeout_ms, nws_error *err)
{
    size_t     owed = p->p_submitted - p->p_tasks_in, want;
    nws_value *v;
    int        rc;

    if (batch_conn(p, err) != 0)
        return -1;
    want = owed < BATCH_WINDOW ? owed : BATCH_WINDOW;
    /* Top up in groups, with one write: not one write (and one wakeup of the
     * server) per result. */
    if ((size_t)p->p_inflight < want && p->p_inflight <= BATCH_WINDOW / 2) {
        struct nwsp_buf b = {0};
        size_t          n;

        for (n = (size_t)p->p_inflight; n < want; n++) {
            if (nwsp_sleigh_put_get(p->p_ws, &b, NWSP_SLEIGH_RESULT, NWS_OP_FETCH, p->p_meta,
                                    err) != 0) {
                nwsp_buf_free(&b);
                return -1;
            }
        }
        rc = nwsp_sleigh_send_buf(p->p_c, &b, err);
        nwsp_buf_free(&b);
        if (rc != 0)
            return -1;
        p->p_inflight = (int)want;
    }
    rc = nwsp_sleigh_read_value(p->p_c, 0, timeout_ms, &v, err);
    if (rc < 0 && err != NULL && err->code == NWS_ERR_SERVER)
        p->p_inflight--; /* an error reply: it was read */
    if (rc != 1)
        return rc == NWS_SLEIGH_TIMEOUT ? rc : -1;
    p->p_inflight--;
    return batch_take(p, v, err) == 0 ? 1 : -1;
}

/* Polled collection: one result; 1, 0 (finished), NWS_SLEIGH_TIMEOUT, or -1. */
static int
batch_read_polled(nws_sleigh_pending *p, int timeout_ms, nws_error *err)
{
    double     deadline = nwsp_mono() + (timeout_ms > 0 ? timeout_ms / 1e3 : 0);
    double     left;
    nws_value *v;
    long       pending;
    int        rc, seen;

    if (batch_conn(p, err) != 0)
        return -1;
    for (;;) {
        if (nws_set_request_meta(p->p_c, p->p_meta, err) != 0 ||
            (rc = nws_fetch_try(p->p_ws, NWSP_SLEIGH_RESULT, &v, err)) < 0)
            return -1;
        if (rc == 1) {
            p->p_poll_s = 0.001;
            return batch_take(p, v, err) == 0 ? 1 : -1;
        }
        if ((pending = batch_job_status(p, NULL, err)) < 0)
            return -1;
        /* The server's word on the batch, else (older servers) the record's. */
        if (strcmp(p->p_state, "ended") == 0 || batch_over(p))
            seen = 1;
        else if ((seen = batch_record_seen(p, err)) < 0)
            return -1;
        if (seen && pending == 0) {
            /* Nothing queued or running: every result is in the server now. */
            if (nws_set_request_meta(p->p_c, p->p_meta, err) != 0 ||
                (rc = nws_fetch_try(p->p_ws, NWSP_SLEIGH_RESULT, &v, err)) < 0)
                return -1;
            if (rc == 1)
                return batch_take(p, v, err) == 0 ? 1 : -1;
            return batch_finish(p, err) == 0 ? 0 : -1;
        }
        left = deadline - nwsp_mono();
        if (timeout_ms >= 0 && left <= 0)
            return NWS_SLEIGH_TIMEOUT;
        batch_nap(timeout_ms >= 0 && left < p->p_poll_s ? left : p->p_poll_s);
        p->p_poll_s *= 2;
        if (p->p_poll_s > BATCH_POLL_MAX_S)
            p->p_poll_s = BATCH_POLL_MAX_S;
    }
}

/* 1 when every result of a counted batch is in. */
static int
batch_counted_done(const nws_sleigh_pending *p)
{
    return p->p_ended && p->p_next == p->p_nelems && p->p_tasks_in == p->p_submitted;
}

/* Frees the entry handed out last, and the buffer once it is used up. */
static void
batch_ready_release(nws_sleigh_pending *p)
{
    struct batch_ready *r;

    if (p->p_handed) {
        r = &p->p_ready[p->p_readypos - 1];
        json_decref(r->br_value);
        free(r->br_error);
        r->br_value = NULL;
        r->br_error = NULL;
        p->p_handed = 0;
    }
    if (p->p_readypos == p->p_nready)
        p->p_readypos = p->p_nready = 0;
}

/* qsort order of eachWorker [rank, entry] pairs. */
static int
batch_rank_cmp(const void *a, const void *b)
{
    json_int_t ra = json_integer_value(json_array_get(*(json_t *const *)a, 0));
    json_int_t rb = json_integer_value(json_array_get(*(json_t *const *)b, 0));

    return ra < rb ? -1 : ra > rb;
}

/* ---- public: pending batches ----------------------------------------------- */

/* The next result as it arrives: 1, 0 (all taken), NWS_SLEIGH_TIMEOUT, or -1. */
static int
batch_next(nws_sleigh_pending *p, nws_sleigh_result *r, int timeout_ms, nws_error *err)
{
    struct batch_ready *br;
    nws_error           local;
    int                 rc;

    if (err == NULL)
        err = &local; /* the server's errors are looked at below */
    nwsp_err_clear(err);
    if (p == NULL || r == NULL) {
        nwsp_err_set(err, NWS_ERR_INVALID, 0, "NULL argument");
        return -1;
    }
    batch_ready_release(p);
    for (;;) {
        if (p->p_readypos < p->p_nready) {
            br = &p->p_ready[p->p_readypos++];
            p->p_handed = 1;
            r->index = br->br_index;
            r->value = br->br_value;
            r->error = br->br_error;
            r->rank = br->br_rank;
            r->seconds = br->br_seconds;
            return 1;
        }
        if (p->p_finished)
            return 0;
        if (p->p_polled) {
            rc = batch_read_polled(p, timeout_ms, err);
        } else {
            /* Halted: now at once, soon once what was submitted is in. */
            if (p->p_halted == NWS_SLEIGH_HALT_NOW ||
                (p->p_halted && p->p_tasks_in == p->p_submitted)) {
                if (batch_finish_why(p, NWS_SLEIGH_HALTED, err) != 0)
                    return -1;
                continue;
            }
            if (batch_submit(p, err) != 0)
                return -1;
            if (batch_counted_done(p)) {
                if (batch_finish(p, err) != 0)
                    return -1;
                continue; /* hand out what finishing filed */
            }
            /* Nothing out while a partial chunk waits for input: the workers idle, send
             * it. */
            if (p->p_submitted == p->p_tasks_in && p->p_next < p->p_nelems &&
                batch_submit_some(p, 1, err) != 0)
                return -1;
            if (p->p_submitted == p->p_tasks_in)
                return NWS_SLEIGH_TIMEOUT; /* a streaming batch waiting for input */
            rc = batch_read_counted(p, timeout_ms, err);
        }
        if (rc < 0 && err->code == NWS_ERR_SERVER) {
            /* Results that can no longer come become errors: hand them out. */
            nws_error why = *err;

            nwsp_err_clear(err);
            if (batch_gone(p, &why, err) != 0)
                return -1;
            continue;
        }
        if (rc < 0 || rc == NWS_SLEIGH_TIMEOUT)
            return rc;
    }
}

/* The next result (batch_next), a lost session said as the loss of the sleigh. */
int
nws_sleigh_pending_next(nws_sleigh_pending *p, nws_sleigh_result *r, int timeout_ms,
                        nws_error *err)
{
    nws_error local;

    if (err == NULL)
        err = &local; /* batch_next looks at the server's errors */
    return nwsp_sleigh_lost(batch_next(p, r, timeout_ms, err), err);
}

/* Every result in order (a new array), or NULL. */
json_t *
nws_sleigh_pending_wait(nws_sleigh_pending *p, nws_error *err)
{
    nws_sleigh_result r;
    json_t           *out, *pair, **order;
    size_t            i, n;
    int               rc;

    nwsp_err_clear(err);
    if (p == NULL) {
        nwsp_err_set(err, NWS_ERR_INVALID, 0, "NULL pending batch");
        return NULL;
    }
    if (!p->p_ended) {
        nwsp_err_set(err, NWS_ERR_INVALID, 0, "a streaming batch must be ended first");
        return NULL;
    }
    /* What pending_next would hand out from now on is only gathered here. */
    p->p_waiting = 1;
    while ((rc = nws_sleigh_pending_next(p, &r, -1, err)) == 1)
        ;
    p->p_waiting = 0;
    if (rc != 0)
        return NULL;
    /* Some results could not come: the array says which, err says why. */
    if (p->p_gone.code != 0 && err != NULL)
        *err = p->p_gone;
    if (p->p_flags & NWS_SLEIGH_DISCARD)
        return json_array();
    if (!p->p_each_worker)
        return json_incref(p->p_results);
    /* eachWorker: rank order. */
    n = json_array_size(p->p_byrank);
    if ((out = json_array()) == NULL ||
        (order = malloc((n + 1) * sizeof(*order))) == NULL) {
        json_decref(out);
        batch_nomem(err);
        return NULL;
    }
    json_array_foreach(p->p_byrank, i, pair)
    {
        order[i] = pair;
    }
    qsort(order, n, sizeof(*order), batch_rank_cmp);
    for (i = 0; i < n; i++) {
        if (json_array_append(out, json_array_get(order[i], 1)) != 0) {
            free(order);
            json_decref(out);
            batch_nomem(err);
            return NULL;
        }
    }
    free(order);
    return out;
}

/* Tasks not finished (unsubmitted, queued or running), or -1. */
long
nws_sleigh_pending_check(nws_sleigh_pending *p, nws_error *err)
{
    long   pending;
    size_t unsubmitted = 0;

    nwsp_err_clear(err);
    if (p == NULL) {
        nwsp_err_set(err, NWS_ERR_INVALID, 0, "NULL pending batch");
        return -1;
    }
    if (!p->p_polled && batch_submit(p, err) != 0)
        return nwsp_sleigh_lost(-1, err);
    if ((pending = batch_job_status(p, NULL, err)) < 0)
        return nwsp_sleigh_lost(-1, err);
    if (!p->p_polled && p->p_next < p->p_nelems)
        unsubmitted = (p->p_nelems - p->p_next + p->p_chunk - 1) / p->p_chunk;
    return pending + (long)unsubmitted;
}

/* Fills *pr with local and server counts; 0, or -1. */
int
nws_sleigh_pending_progress(nws_sleigh_pending *p, nws_sleigh_progress *pr,
                            nws_error *err)
{
    nws_meta *m = NULL;
    long      n;

    nwsp_err_clear(err);
    if (p == NULL || pr == NULL) {
        nwsp_err_set(err, NWS_ERR_INVALID, 0, "NULL argument");
        return -1;
    }
    memset(pr, 0, sizeof(*pr));
    if (batch_job_status(p, &m, err) < 0)
        return nwsp_sleigh_lost(-1, err);
    pr->elements = p->p_nelems;
    pr->tasks = p->p_ended ? (p->p_nelems + p->p_chunk - 1) / p->p_chunk : p->p_submitted;
    if (p->p_each_worker)
        pr->tasks = p->p_collected;
    pr->submitted = p->p_submitted;
    if (nwsp_sleigh_meta_long(m, "nwsQueued", &n) == 0)
        pr->queued = (size_t)n;
    if (nwsp_sleigh_meta_long(m, "nwsRunning", &n) == 0)
        pr->running = (size_t)n;
    if (nwsp_sleigh_meta_long(m, "nwsDone", &n) == 0)
        pr->done = (size_t)n;
    if (nwsp_sleigh_meta_long(m, "nwsFailed", &n) == 0)
        pr->failed = (size_t)n;
    if (p->p_polled) {
        pr->tasks = pr->queued + pr->running + pr->done;
        pr->submitted = pr->tasks;
    }
    if (p->p_finished && strcmp(p->p_state, "none") == 0) {
        /* Collected long ago: the server forgot it; what this pending saw. */
        pr->done = pr->tasks;
        pr->failed = p->p_errors;
    }
    pr->collected = p->p_collected;
    pr->errors = p->p_errors;
    pr->duplicates = p->p_dups;
    pr->ended = p->p_ended;
    pr->halted = p->p_halted;
    nws_meta_free(m);
    return 0;
}

/* The batch id (borrowed). */
const char *
nws_sleigh_pending_id(const nws_sleigh_pending *p)
{
    return p != NULL ? p->p_id : NULL;
}

/* Adds one element to a streaming batch; 0, or -1. */
int
nws_sleigh_pending_push(nws_sleigh_pending *p, const json_t *args, nws_error *err)
{
    nwsp_err_clear(err);
    if (p == NULL || !json_is_array(args)) {
        nwsp_err_set(err, NWS_ERR_INVALID, 0, "push wants a pending batch and an array");
        return -1;
    }
    if (p->p_pushed == NULL || p->p_ended) {
        nwsp_err_set(err, NWS_ERR_INVALID, 0,
                     p->p_ended ? "the batch was ended" : "not a streaming batch");
        return -1;
    }
    if (p->p_gone.code != 0) {
        /* Its results can no longer come: more elements would be lost too. */
        nwsp_err_set(err, p->p_gone.code, p->p_gone.status, "%s", p->p_gone.text);
        return -1;
    }
    if (json_array_append(p->p_pushed, (json_t *)args) != 0 ||
        (p->p_results != NULL && json_array_append(p->p_results, json_null()) != 0))
        return batch_nomem(err);
    p->p_nelems++;
    if (p->p_nelems - p->p_next < p->p_chunk)
        return 0;
    return nwsp_sleigh_lost(batch_submit(p, err), err);
}

/* Ends a streaming batch (submits the last chunk); 0, or -1. */
int
nws_sleigh_pending_end(nws_sleigh_pending *p, nws_error *err)
{
    nwsp_err_clear(err);
    if (p == NULL || p->p_pushed == NULL) {
        nwsp_err_set(err, NWS_ERR_INVALID, 0, "not a streaming batch");
        return -1;
    }
    p->p_ended = 1;
    return nwsp_sleigh_lost(batch_submit(p, err), err);
}

/* Frees p; results not taken stay in the server. */
void
nws_sleigh_pending_free(nws_sleigh_pending *p)
{
    size_t i;

    if (p == NULL)
        return;
    /* A connection with fetches in flight cannot be reused: close it. */
    nwsp_sleigh_conn_put(p->p_s, p->p_c, p->p_ws, p->p_inflight == 0);
    for (i = 0; i < p->p_nready; i++) {
        json_decref(p->p_ready[i].br_value);
        free(p->p_ready[i].br_error);
    }
    free(p->p_ready);
    free(p->p_have);
    json_decref(p->p_proto);
    free(p->p_head);
    json_decref(p->p_vectors);
    json_decref(p->p_pushed);
    json_decref(p->p_results);
    json_decref(p->p_byrank);
    nws_meta_free(p->p_meta);
    p->p_s->npending--;
    free(p);
}

/* A pending batch collecting batch_id of another master; NULL on failure. */
nws_sleigh_pending *
nws_sleigh_pending_attach(nws_sleigh *s, const char *batch_id, size_t nelems,
                          nws_error *err)
{
    nws_sleigh_pending *p;
    char                var[96];
    json_t             *rec = NULL;
    int                 rc;
    size_t              i;

    nwsp_err_clear(err);
    if (batch_id == NULL || *batch_id == '\0' || strlen(batch_id) >= 64) {
        nwsp_err_set(err, NWS_ERR_INVALID, 0, "bad batch id");
        return NULL;
    }
    if ((p = batch_new(s, batch_id, err)) == NULL)
        return NULL;
    p->p_attached = p->p_polled = p->p_ended = 1;
    /* A collected batch is gone from the server but for its counts: say so
     * rather than wait for results that cannot come. */
    if (batch_job_status(p, NULL, err) < 0)
        goto fail;
    if (strcmp(p->p_state, "collected") == 0) {
        nwsp_err_set(err, NWS_ERR_INVALID, 0, "batch %s was already collected", batch_id);
        goto fail;
    }
    if (strcmp(p->p_state, "none") == 0) {
        nwsp_err_set(err, NWS_ERR_INVALID, 0,
                     "no such batch %s (never submitted, or collected)", batch_id);
        goto fail;
    }
    snprintf(var, sizeof(var), NWSP_SLEIGH_BATCH_FMT, batch_id);
    if ((rc = nws_find_try_json(s->ws, var, &rec, err)) < 0)
        goto fail;
    if (rc == 1) {
        p->p_each_worker = json_is_true(json_object_get(rec, "each_worker"));
        p->p_record_seen = json_is_true(json_object_get(rec, "ended"));
        if (nelems == 0)
            nelems = (size_t)json_integer_value(json_object_get(rec, "elements"));
    } else if (nelems == 0) {
        nwsp_err_set(err, NWS_ERR_INVALID, 0,
                     "batch %s is unknown or still being submitted: give its size",
                     batch_id);
        goto fail;
    }
    json_decref(rec);
    rec = NULL;
    p->p_nelems = nelems;
    if (p->p_each_worker) {
        if ((p->p_byrank = json_array()) == NULL)
            goto nomem;
    } else {
        if ((p->p_results = json_array()) == NULL || batch_have_grow(p, nelems, err) != 0)
            goto nomem;
        for (i = 0; i < nelems; i++)
            if (json_array_append(p->p_results, json_null()) != 0)
                goto nomem;
    }
    return p;
nomem:
    batch_nomem(err);
fail:
    json_decref(rec);
    nws_sleigh_pending_free(p);
    return NULL;
}

/* ---- public: eachElem and eachWorker --------------------------------------- */

/* Checks elem_args and permutation; the element count, or -1. */
static long
batch_check_args(const json_t *elem_args, const json_t *fixed, const json_t *permute,
                 nws_error *err)
{
    size_t  n = 0, i, nargs;
    json_t *vec, *x;

    if (!json_is_array(elem_args) || json_array_size(elem_args) == 0) {
        nwsp_err_set(err, NWS_ERR_INVALID, 0,
                     "element arguments are a non-empty array of arrays");
        return -1;
    }
    json_array_foreach(elem_args, i, vec)
    {
        if (!json_is_array(vec)) {
            nwsp_err_set(err, NWS_ERR_INVALID, 0, "element argument %zu is not an array",
                         i);
            return -1;
        }
        if (i == 0)
            n = json_array_size(vec);
        else if (json_array_size(vec) != n) {
            nwsp_err_set(err, NWS_ERR_INVALID, 0,
                         "element argument vectors differ in length (%zu and %zu)", n,
                         json_array_size(vec));
            return -1;
        }
    }
    if (fixed != NULL && !json_is_array(fixed)) {
        nwsp_err_set(err, NWS_ERR_INVALID, 0, "fixed arguments are an array");
        return -1;
    }
    if (permute != NULL) {
        nargs = json_array_size(elem_args) + json_array_size(fixed);
        if (!json_is_array(permute)) {
            nwsp_err_set(err, NWS_ERR_INVALID, 0, "arg_permute is an array");
            return -1;
        }
        json_array_foreach(permute, i, x)
        {
            if (!json_is_integer(x) || json_integer_value(x) < 0 ||
                (size_t)json_integer_value(x) >= nargs) {
                nwsp_err_set(err, NWS_ERR_INVALID, 0,
                             "arg_permute[%zu] is not a position below %zu", i, nargs);
                return -1;
            }
        }
    }
    return (long)n;
}

/* eachElem, non-blocking: a new pending batch, or NULL. */
nws_sleigh_pending *
nws_sleigh_each_elem_async(nws_sleigh *s, const json_t *task, const json_t *elem_args,
                           const json_t *fixed_args, const nws_sleigh_elem_opts *opts,
                           nws_error *err)
{
    nws_sleigh_elem_opts dflt;
    nws_sleigh_pending  *p;
    long                 n = 0, workers;
    size_t               i;

    nwsp_err_clear(err);
    if (opts == NULL) {
        memset(&dflt, 0, sizeof(dflt));
        opts = &dflt;
    }
    if (batch_check_task(task, err) != 0)
        return NULL;
    if (elem_args != NULL &&
        (n = batch_check_args(elem_args, fixed_args, opts->arg_permute, err)) < 0)
        return NULL;
    if (elem_args == NULL && fixed_args != NULL && !json_is_array(fixed_args)) {
        nwsp_err_set(err, NWS_ERR_INVALID, 0, "fixed arguments are an array");
        return NULL;
    }
    if ((p = batch_new(s, NULL, err)) == NULL) {
        nwsp_sleigh_lost(-1, err);
        return NULL;
    }
    p->p_flags = opts->flags;
    p->p_accum = opts->accumulate;
    p->p_accum_arg = opts->accum_arg;
    p->p_chunk = opts->chunk > 1 ? opts->chunk : 1;
    if (opts->halt.when != NWS_SLEIGH_HALT_NEVER) {
        if ((opts->halt.when != NWS_SLEIGH_HALT_SOON && opts->halt.when != NWS_SLEIGH_HALT_NOW) ||
            opts->halt.what < NWS_SLEIGH_HALT_FAIL || opts->halt.what > NWS_SLEIGH_HALT_DONE ||
            !(opts->halt.count > 0) || (opts->halt.percent && opts->halt.count > 100)) {
            nwsp_err_set(err, NWS_ERR_INVALID, 0, "a bad halt policy");
            goto fail;
        }
        p->p_halt = opts->halt;
    }
    if (batch_proto(p, task, fixed_args, opts->arg_permute, err) != 0)
        goto fail;
    if (!(opts->flags & NWS_SLEIGH_DISCARD) && (p->p_results = json_array()) == NULL)
        goto nomem;
    if (elem_args != NULL) {
        p->p_vectors = json_incref((json_t *)elem_args);
        p->p_nelems = (size_t)n;
        p->p_ended = 1;
        if (batch_have_grow(p, p->p_nelems, err) != 0)
            goto fail;
        for (i = 0; p->p_results != NULL && i < p->p_nelems; i++)
            if (json_array_append(p->p_results, json_null()) != 0)
                goto nomem;
    } else if ((p->p_pushed = json_array()) == NULL) {
        goto nomem;
    }
    if (opts->load_factor > 0) {
        if ((workers = nwsp_sleigh_rank_count(s, err)) < 0)
            goto fail;
        p->p_bound = opts->load_factor * (size_t)(workers > 0 ? workers : 1);
    }
    if (batch_submit(p, err) != 0)
        goto fail;
    return p;
nomem:
    batch_nomem(err);
fail:
    nws_sleigh_pending_free(p);
    nwsp_sleigh_lost(-1, err);
    return NULL;
}

/* eachElem, blocking: the results in element order (new), or NULL. */
json_t *
nws_sleigh_each_elem(nws_sleigh *s, const json_t *task, const json_t *elem_args,
                     const json_t *fixed_args, const nws_sleigh_elem_opts *opts,
                     nws_error *err)
{
    nws_sleigh_pending *p;
    json_t             *res;

    if (elem_args == NULL) {
        nwsp_err_clear(err);
        nwsp_err_set(err, NWS_ERR_INVALID, 0, "NULL element arguments");
        return NULL;
    }
    if ((p = nws_sleigh_each_elem_async(s, task, elem_args, fixed_args, opts, err)) ==
        NULL)
        return NULL;
    res = nws_sleigh_pending_wait(p, err);
    nws_sleigh_pending_free(p);
    return res;
}

/* eachWorker, non-blocking: a new pending batch, or NULL. */
nws_sleigh_pending *
nws_sleigh_each_worker_async(nws_sleigh *s, const json_t *task, const json_t *args,
                             nws_error *err)
{
    nws_sleigh_pending *p;
    json_t             *rec = NULL, *list;
    nws_value          *v = NULL;
    nws_bulk           *b = NULL;
    nws_meta           *m;
    long                rc;

    nwsp_err_clear(err);
    if (batch_check_task(task, err) != 0)
        return NULL;
    if (args != NULL && !json_is_array(args)) {
        nwsp_err_set(err, NWS_ERR_INVALID, 0, "eachWorker arguments are an array");
        return NULL;
    }
    if ((p = batch_new(s, NULL, err)) == NULL) {
        nwsp_sleigh_lost(-1, err);
        return NULL;
    }
    p->p_each_worker = p->p_polled = p->p_ended = 1;
    if (batch_proto(p, task, NULL, NULL, err) != 0 ||
        (p->p_byrank = json_array()) == NULL || (rec = json_copy(p->p_proto)) == NULL)
        goto nomem;
    list = args != NULL ? json_copy((json_t *)args) : json_array();
    if (json_object_set_new(rec, "first", json_integer(0)) != 0 ||
        json_object_set_new(rec, "args", json_pack("[o]", list)) != 0 ||
        json_object_set_new(rec, "each_worker", json_true()) != 0)
        goto nomem;
    if ((v = nws_value_from_json(rec, err)) == NULL)
        goto fail;
    if ((m = nws_value_meta(v)) == NULL ||
        nws_meta_set(m, "batchId", p->p_id, err) != 0 ||
        nws_meta_set(m, "nwsFirst", "0", err) != 0 ||
        nws_meta_set(m, "nwsCount", "1", err) != 0 ||
        batch_meta_timeout(p->p_proto, m, err) != 0)
        goto nomem;
    if ((b = nws_bulk_new(s->ws, err)) == NULL ||
        nws_bulk_store(b, NWSP_SLEIGH_BROADCAST, v, err) != 0 ||
        batch_record(p, b, err) != 0)
        goto fail;
    if ((rc = nws_bulk_flush(b, err)) != 0)
        goto fail;
    nws_bulk_free(b);
    nws_value_free(v);
    json_decref(rec);
    return p;
nomem:
    batch_nomem(err);
fail:
    nws_bulk_free(b);
    nws_value_free(v);
    json_decref(rec);
    nws_sleigh_pending_free(p);
    nwsp_sleigh_lost(-1, err);
    return NULL;
}

/* eachWorker, blocking: the results in rank order (new), or NULL. */
json_t *
nws_sleigh_each_worker(nws_sleigh *s, const json_t *task, const json_t *args,
                       nws_error *err)
{
    nws_sleigh_pending *p;
    json_t             *res;

    if ((p = nws_sleigh_each_worker_async(s, task, args, err)) == NULL)
        return NULL;
    res = nws_sleigh_pending_wait(p, err);
    nws_sleigh_pending_free(p);
    return res;
}
