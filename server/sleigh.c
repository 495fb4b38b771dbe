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
 *
 * This file holds the lifecycle: creation and freeing, the join phase and
 * its timers, sentinels, worker registration, connections going away and
 * the web views.  The special variables are a table in sleigh_vars.c; the
 * task queue, requeue, timeouts and batches are in sleigh_tasks.c, and the
 * requeue rule is written out in sleigh.h.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "journal.h"
#include "sleigh.h"

/* Standard fifo variables the plugin makes hidden. */
static const char *sleigh_hidden_std[] = {"worker registrations", "bye", "logDebug",
                                          "logError"};

static LIST_HEAD(, sleigh) sleigh_all = LIST_HEAD_INITIALIZER(sleigh_all);

/* Parses a decimal or fractional number of seconds into milliseconds; -1 if bad. */
long
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
long
sleigh_parse_long(const char *p, size_t len, int *ok)
{
    int64_t v;

    *ok = nwsp_parse_i64(p, len, &v) == 0 && v >= -1 && v <= 1000000000;
    return *ok ? (long)v : -1;
}

/* Reads a metadata entry of the request; 1 when present. */
int
sleigh_meta(const struct request *rq, const char *key, const char **val, size_t *len)
{
    if (rq->rq_meta == NULL)
        return 0;
    return nwsp_dict_get(rq->rq_meta, rq->rq_metalen, key, val, len);
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

struct sleigh_worker *
sleigh_worker_of(struct sleigh *s, struct conn *c)
{
    size_t i;

    for (i = 0; i < s->s_nworkers; i++)
        if (s->s_workers[i]->sw_conn == c)
            return s->s_workers[i];
    return NULL;
}

/*
 * The worker c is, for a request c sent: a request proves its session is
 * attached, and a worker the journal names for c's session is bound again
 * now if the resume did not do it yet (sleigh_conn_resumed).
 */
struct sleigh_worker *
sleigh_worker_req(struct sleigh *s, struct conn *c)
{
    struct sleigh_worker *sw = sleigh_worker_of(s, c);

    if (sw == NULL && sj_rebind(s, c))
        sw = sleigh_worker_of(s, c);
    if (sw != NULL)
        sw->sw_detached = 0;
    return sw;
}

int
sleigh_is_sentinel(struct sleigh *s, struct conn *c)
{
    size_t i;

    for (i = 0; i < s->s_nsentinels; i++)
        if (s->s_sentinels[i] == c)
            return 1;
    return 0;
}

/* Starts the join phase, closing the group after delay_ms. */
void
sleigh_start_join(struct sleigh *s, long delay_ms, int by_status)
{
    struct timeval tv = nwsp_ms_timeval(delay_ms);

    if (s->s_join != JOIN_OPEN)
        return;
    s->s_join = JOIN_JOINING;
    s->s_status_join = by_status;
    evtimer_add(s->s_join_timer, &tv);
}

/* Closes the group when every expected worker has registered. */
void
sleigh_check_full(struct sleigh *s)
{
    if (s->s_join != JOIN_CLOSED && s->s_max >= 0 && (long)s->s_nworkers >= s->s_max)
        sleigh_close_group(s);
}

void
sleigh_close_group(struct sleigh *s)
{
    char buf[32];
    long ranks =
        s->s_allocated > (long)s->s_nworkers ? s->s_allocated : (long)s->s_nworkers;

    if (s->s_join == JOIN_CLOSED)
        return;
    s->s_join = JOIN_CLOSED;
    evtimer_del(s->s_join_timer);
    if (s->s_max < 0 || (s->s_status_join && s->s_max > ranks))
        s->s_max = ranks;
    if (!TAILQ_EMPTY(&s->s_broadcasts)) {
        sleigh_drop_templates(s);
        sj_drop(s);
    }
    snprintf(buf, sizeof(buf), "%zu", s->s_nworkers);
    sleigh_wake_all(s->s_v[SV_STATUS], buf);
    sleigh_wake_all(s->s_v[SV_WAIT], buf);
    sleigh_fail_orphans(s);
}

/* The group closed: the broadcast templates kept for later workers go. */
void
sleigh_drop_templates(struct sleigh *s)
{
    struct sleigh_task *t;

    while ((t = TAILQ_FIRST(&s->s_broadcasts)) != NULL) {
        struct sleigh_batch *b = t->t_batch;

        TAILQ_REMOVE(&s->s_broadcasts, t, t_link);
        sleigh_task_free(t);
        b->b_kept--;
        sleigh_batch_settle(s, b); /* no copy can come any more */
    }
}

/* Shutdown: sentinels hear "1", result waiters fail (section 13.5). */
void
sleigh_shutdown(struct sleigh *s)
{
    if (s->s_shutdown)
        return;
    s->s_shutdown = 1;
    sj_state(s);
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

/* Makes s's timers and starts the refresh and (no worker yet) grace periods. */
static void
sleigh_timers(struct sleigh *s)
{
    struct timeval tv;

    s->s_join_timer = evtimer_new(srv.base, sleigh_join_cb, s);
    s->s_refresh_timer = event_new(srv.base, -1, EV_PERSIST, sleigh_refresh_cb, s);
    s->s_grace_timer = evtimer_new(srv.base, sleigh_grace_cb, s);
    s->s_reap_timer = evtimer_new(srv.base, sleigh_reap_cb, s);
    if (s->s_join_timer == NULL || s->s_refresh_timer == NULL ||
        s->s_grace_timer == NULL || s->s_reap_timer == NULL)
        fatalx("sleigh timers");
    tv = nwsp_ms_timeval(s->s_refresh_ms);
    evtimer_add(s->s_refresh_timer, &tv);
    if (s->s_registered_ever == 0) {
        tv = nwsp_ms_timeval(s->s_grace_ms);
        evtimer_add(s->s_grace_timer, &tv);
    }
    if (s->s_nreap > 0)
        event_active(s->s_reap_timer, EV_TIMEOUT, 0);
}

/*
 * The event base exists: the sleighs the journal's replay made before it
 * get their timers, and what the replay left to do is done.
 */
void
sleigh_start(void)
{
    struct sleigh *s;

    LIST_FOREACH(s, &sleigh_all, s_link)
    {
        if (s->s_join_timer != NULL)
            continue;
        sleigh_timers(s);
        sj_replayed(s);
    }
}

struct sleigh *
sleigh_new(struct ws *ws, const char *meta, size_t metalen)
{
    struct sleigh *s = xcalloc(1, sizeof(*s));
    const char    *v;
    size_t         vl, i;
    int            ok;

    s->s_ws = ws;
    s->s_max = -1;
    s->s_duration_ms = SLEIGH_DURATION_MS;
    s->s_retries = SLEIGH_RETRIES;
    s->s_refresh_ms = sleigh_meta_ms(meta, metalen, "sentinelRefreshPeriod",
                                     SLEIGH_REFRESH_MS);
    if (s->s_refresh_ms < SLEIGH_REFRESH_MIN_MS)
        s->s_refresh_ms = SLEIGH_REFRESH_MIN_MS;
    s->s_grace_ms = sleigh_meta_ms(meta, metalen, "workerGracePeriod", SLEIGH_GRACE_MS);
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
    TAILQ_INIT(&s->s_lost);
    htab_init(&s->s_batches);
    htab_init(&s->s_byseq);
    htab_init(&s->s_rebind);
    for (i = 0; i < SV_MAX; i++) {
        struct var *var = ws_var(ws, sleigh_vars[i].name, strlen(sleigh_vars[i].name));

        var->var_mode = VAR_CUSTOM;
        var->var_hooks = &sleigh_var_hooks;
        var->var_hidden = sleigh_vars[i].hidden;
        s->s_v[i] = var;
    }
    for (i = 0; i < sizeof(sleigh_hidden_std) / sizeof(sleigh_hidden_std[0]); i++) {
        struct var *var = ws_var(ws, sleigh_hidden_std[i], strlen(sleigh_hidden_std[i]));

        var->var_mode = VAR_FIFO;
        var->var_hidden = 1;
    }
    LIST_INSERT_HEAD(&sleigh_all, s, s_link);
    if (srv.base != NULL) /* else sleigh_start makes them, after the replay */
        sleigh_timers(s);
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
    sj_forget(s);
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
    if (s->s_join_timer != NULL) { /* none when the replay made and deleted it */
        event_free(s->s_reap_timer);
        event_free(s->s_join_timer);
        event_free(s->s_refresh_timer);
        event_free(s->s_grace_timer);
    }
    free(s->s_workers);
    free(s->s_sentinels);
    free(s);
}

static void sleigh_worker_remove(struct sleigh *, struct sleigh_worker *);

/* The connection went away: requeue or fail its work, drop it everywhere. */
void
sleigh_conn_gone(struct conn *c)
{
    struct sleigh        *s;
    struct sleigh_worker *sw;
    size_t                i;

    /*
     * The server is stopping: its workers' tasks are not theirs to fail or
     * requeue.  With --journal they are queued still (hand-outs are not
     * journaled) and come back so after the restart; failing them now, or
     * the queue with the last worker gone, would journal errors for work
     * nobody failed.  The sleighs are freed with their workspaces.
     */
    if (srv.shutting_down)
        return;
    LIST_FOREACH(s, &sleigh_all, s_link) {
        for (i = 0; i < s->s_nsentinels; i++) {
            if (s->s_sentinels[i] == c) {
                s->s_sentinels[i] = s->s_sentinels[--s->s_nsentinels];
                break;
            }
        }
        if ((sw = sleigh_worker_of(s, c)) == NULL)
            continue;
        log_info("sleigh %s: worker %ld left", s->s_ws->ws_name, sw->sw_rank);
        sleigh_worker_remove(s, sw);
        sleigh_dispatch(s);
        sleigh_fail_orphans(s);
    }
}

/* Worker sw is gone: unregistered, its work requeued or failed (sleigh.h). */
static void
sleigh_worker_remove(struct sleigh *s, struct sleigh_worker *sw)
{
    size_t i;

    for (i = 0; i < s->s_nworkers; i++) {
        if (s->s_workers[i] == sw) {
            s->s_workers[i] = s->s_workers[--s->s_nworkers];
            break;
        }
    }
    sj_worker_gone(s, sw);
    sleigh_worker_lost(s, sw);
    free(sw);
}

/*
 * c's session detached: a worker it carries gives its running tasks back
 * now; a master's result fetch parked there is not served (the result
 * stays in its batch, for another master, or for the resume).
 */
void
sleigh_conn_detached(struct conn *c)
{
    struct sleigh        *s;
    struct sleigh_worker *sw;
    struct waiter        *w = conn_waiter(c);

    if (srv.shutting_down)
        return; /* as in sleigh_conn_gone: the journal keeps them queued */
    LIST_FOREACH(s, &sleigh_all, s_link)
    {
        if (w->w_var != NULL && w->w_var == s->s_v[SV_RESULT])
            w->w_arg = SLEIGH_WAITER_DETACHED;
        if ((sw = sleigh_worker_of(s, c)) == NULL || sw->sw_detached)
            continue;
        log_info(
            "sleigh %s: worker %ld detached (%zu running tasks back), its session waits",
            s->s_ws->ws_name, sw->sw_rank, sw->sw_nrunning);
        sleigh_worker_detached(s, sw);
        sleigh_dispatch(s);
    }
}

/* c's session resumed: a worker it carries is served again. */
void
sleigh_conn_resumed(struct conn *c)
{
    struct sleigh        *s;
    struct sleigh_worker *sw;
    struct waiter        *w = conn_waiter(c);

    LIST_FOREACH(s, &sleigh_all, s_link)
    {
        if (w->w_var != NULL && w->w_var == s->s_v[SV_RESULT] &&
            w->w_arg == SLEIGH_WAITER_DETACHED)
            sleigh_result_resumed(s, w);
        if ((sw = sleigh_worker_of(s, c)) == NULL && sj_rebind(s, c))
            sw = sleigh_worker_of(s, c); /* its registration, from the journal */
        if (sw == NULL || !sw->sw_detached)
            continue;
        sw->sw_detached = 0;
        log_info("sleigh %s: worker %ld resumed", s->s_ws->ws_name, sw->sw_rank);
        sleigh_dispatch(s);
    }
}

/*
 * Makes c worker rank of s (registered now, or bound again after a restart
 * to the session the journal names: sj_rebind); a worker of a session is
 * journaled with its session's id, so that it keeps its rank across a
 * restart of the server.
 */
struct sleigh_worker *
sleigh_worker_add(struct sleigh *s, struct conn *c, long rank)
{
    struct sleigh_worker *sw = xcalloc(1, sizeof(*sw));
    struct session       *ss = conn_session(c);

    sw->sw_conn = c;
    sw->sw_rank = rank;
    TAILQ_INIT(&sw->sw_copies);
    TAILQ_INIT(&sw->sw_running);
    if (ss != NULL)
        snprintf(sw->sw_sid, sizeof(sw->sw_sid), "%s", session_id(ss));
    s->s_workers = xrealloc(s->s_workers, (s->s_nworkers + 1) * sizeof(*s->s_workers));
    s->s_workers[s->s_nworkers++] = sw;
    sj_worker(s, sw);
    return sw;
}

/* Registers the storing connection as worker rank (store to worker_ids). */
enum cmd_ret
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
        if (s->s_workers[i]->sw_rank == rank && s->s_workers[i]->sw_detached &&
            s->s_workers[i]->sw_conn != rq->rq_conn) {
            /*
             * The rank of a worker whose session waits: a new worker with it
             * is its replacement (a worker process that died also leaves its
             * session detached, and its owner starts another with its rank).
             * The old one is gone, as if its session had ended; if it resumes
             * after all, it is told to register again.
             */
            log_info("sleigh %s: worker %ld of a detached session replaced",
                     s->s_ws->ws_name, rank);
            sleigh_worker_remove(s, s->s_workers[i]);
            break;
        }
    }
    for (i = 0; i < s->s_nworkers; i++) {
        if (s->s_workers[i]->sw_rank == rank || s->s_workers[i]->sw_conn == rq->rq_conn) {
            request_error(rq, NWSP_STATUS_FAIL,
                          "Worker registration failed: duplicate worker id.");
            return CMD_DONE;
        }
    }
    TAILQ_FOREACH(t, &s->s_broadcasts, t_link)
    {
        if (sj_reserve(t->t_value, 1) != 0) {
            request_error(rq, NWSP_STATUS_FAIL, "Worker registration failed: %s",
                          journal_error());
            return CMD_DONE;
        }
    }
    sw = sleigh_worker_add(s, rq->rq_conn, rank);
    TAILQ_FOREACH(t, &s->s_broadcasts, t_link) {
        copy = sleigh_task_new(value_ref(t->t_value), t->t_batch, 1);
        copy->t_seq = ++s->s_seq;
        TAILQ_INSERT_TAIL(&sw->sw_copies, copy, t_link);
        s->s_ntasks++;
        sj_bcast(s, t->t_batch, t->t_value, 0, &copy->t_seq, 1);
    }
    if (s->s_registered_ever++ == 0) {
        evtimer_del(s->s_grace_timer);
        sj_state(s);
    }
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
    out->wv_detached = sw->sw_detached;
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
    out->bv_dups = b->b_dups;
    out->bv_restarted = b->b_restarted;
    return 1;
}
