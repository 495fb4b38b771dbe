/*
 * web_sleigh.c -- the sleigh view of the web interface.
 *
 * The sleigh's own state (sleigh.c, through its read-only views) gives the
 * workers and each batch's queued, running, done and failed counts.  Rates
 * need history the sleigh does not keep, so this file keeps it: a tracker
 * per watched sleigh samples each batch's done count at most once a second,
 * when the view is requested, and the throughput is the slope over the last
 * 30 seconds of samples; the ETA divides what is left by it.  A worker's
 * "last seen" is the last time its done count or running state was seen to
 * change.  Trackers are few (WEB_TRACK_MAX, least recently used dropped)
 * and go when nobody has asked for them for five minutes.
 *
 * Workers' host and port come from their connections; a pid (and a host
 * name) from the "worker registrations" variable when its values are JSON
 * objects with a rank.  Each worker's output is its output@<rank> variable.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "web.h"

#define WEB_HIST        32      /* samples per batch */
#define WEB_RATE_WINDOW 30.0    /* seconds of samples the rate is taken over */
#define WEB_TRACK_IDLE  300.0   /* drop a tracker nobody asked for this long */

struct web_hist {
    double   h_at[WEB_HIST];
    uint64_t h_done[WEB_HIST];
    unsigned h_n, h_head;
};

struct web_seen {
    uint64_t s_done;
    int      s_running;
    double   s_at;          /* 0: no change seen yet */
};

struct web_track {
    LIST_ENTRY(web_track) t_link;
    uint64_t    t_wsid;
    double      t_used;
    double      t_sampled;  /* 0: never */
    struct htab t_batches;  /* batch id -> struct web_hist */
    struct htab t_workers;  /* rank, as text -> struct web_seen */
};

static LIST_HEAD(, web_track) web_tracks = LIST_HEAD_INITIALIZER(web_tracks);
static size_t web_ntracks;

static void
web_htab_free_vals(struct htab *t)
{
    struct htab_ent *e;
    size_t           pos = 0;

    while ((e = htab_next(t, &pos)) != NULL)
        free(e->h_val);
    htab_free(t);
}

static void
web_track_free(struct web_track *t)
{
    LIST_REMOVE(t, t_link);
    web_ntracks--;
    web_htab_free_vals(&t->t_batches);
    web_htab_free_vals(&t->t_workers);
    free(t);
}

void
web_sleigh_forget(void)
{
    while (!LIST_EMPTY(&web_tracks))
        web_track_free(LIST_FIRST(&web_tracks));
}

/* The tracker of ws (made if missing); stale ones are dropped on the way. */
static struct web_track *
web_track_get(const struct ws *ws, double now)
{
    struct web_track *t, *next, *lru = NULL, *found = NULL;

    for (t = LIST_FIRST(&web_tracks); t != NULL; t = next) {
        next = LIST_NEXT(t, t_link);
        if (t->t_wsid == ws->ws_id) {
            found = t;
        } else if (now - t->t_used > WEB_TRACK_IDLE) {
            web_track_free(t);
            continue;
        } else if (lru == NULL || t->t_used < lru->t_used) {
            lru = t;
        }
    }
    if (found == NULL) {
        if (web_ntracks >= WEB_TRACK_MAX && lru != NULL)
            web_track_free(lru);
        found = xcalloc(1, sizeof(*found));
        found->t_wsid = ws->ws_id;
        htab_init(&found->t_batches);
        htab_init(&found->t_workers);
        LIST_INSERT_HEAD(&web_tracks, found, t_link);
        web_ntracks++;
    }
    found->t_used = now;
    return found;
}

static void
web_hist_push(struct web_hist *h, double now, uint64_t done)
{
    h->h_head = (h->h_head + 1) % WEB_HIST;
    h->h_at[h->h_head] = now;
    h->h_done[h->h_head] = done;
    if (h->h_n < WEB_HIST)
        h->h_n++;
}

/* Tasks per second over the recent samples; -1 while unknown. */
static double
web_hist_rate(const struct web_hist *h, double now, uint64_t done)
{
    unsigned k, i;

    for (k = h->h_n; k-- > 0;) {
        i = (h->h_head + WEB_HIST - k) % WEB_HIST;   /* k samples before the newest */
        if (now - h->h_at[i] <= WEB_RATE_WINDOW) {
            if (now - h->h_at[i] < 1.0 || done < h->h_done[i])
                return -1;
            return (double)(done - h->h_done[i]) / (now - h->h_at[i]);
        }
    }
    return -1;
}

static int
web_cmp_workers(const void *pa, const void *pb)
{
    const struct sleigh_worker_view *a = pa, *b = pb;

    return (a->wv_rank > b->wv_rank) - (a->wv_rank < b->wv_rank);
}

/* Unfinished batches first, then by id. */
static int
web_cmp_batches(const void *pa, const void *pb)
{
    const struct sleigh_batch_view *a = pa, *b = pb;
    int ua = a->bv_queued + a->bv_running > 0, ub = b->bv_queued + b->bv_running > 0, c;

    if (ua != ub)
        return ub - ua;
    c = memcmp(a->bv_id, b->bv_id, a->bv_idlen < b->bv_idlen ? a->bv_idlen : b->bv_idlen);
    return c != 0 ? c : (a->bv_idlen > b->bv_idlen) - (a->bv_idlen < b->bv_idlen);
}

/* Host and port from a peer text "10.0.0.2:5000" or "[::1]:5000" (conn.c). */
static void
web_peer_fields(json_t *o, const char *peer)
{
    const char *colon = strrchr(peer, ':');
    size_t      hl;

    json_object_set_new(o, "peer", json_string(peer));
    if (colon == NULL || colon == peer)
        return;
    hl = (size_t)(colon - peer);
    if (peer[0] == '[' && hl >= 2 && peer[hl - 1] == ']')
        json_object_set_new(o, "host", json_stringn(peer + 1, hl - 2));
    else
        json_object_set_new(o, "host", json_stringn(peer, hl));
    json_object_set_new(o, "port", json_integer(atoi(colon + 1)));
}

/* The last values of a worker's output@<rank> variable, oldest first. */
static json_t *
web_worker_output(struct ws *ws, long rank)
{
    char        name[48];
    struct var *var;
    size_t      n, i;
    json_t     *o, *lines;

    snprintf(name, sizeof(name), "output@%ld", rank);
    if ((var = ws_var_find(ws, name, strlen(name))) == NULL || var->var_hidden)
        return json_null();
    o = json_object();
    web_json_name(o, var->var_name, var->var_namelen);
    n = var->var_values.q_len;
    json_object_set_new(o, "count", json_integer((json_int_t)n));
    lines = json_array();
    for (i = n > WEB_OUTPUT_LINES ? n - WEB_OUTPUT_LINES : 0; i < n; i++) {
        const struct value *v = var_value_at(var, i);

        if (v->v_flags & VALUE_SPOOLED)
            json_array_append_new(lines, json_string("(a spooled value)"));
        else
            json_array_append_new(lines, web_json_display(value_data(v),
                                                           v->v_len < 300 ? v->v_len : 300));
    }
    json_object_set_new(o, "last", lines);
    return o;
}

/* Sets pid and hostname on the worker of rank r in workers (borrowed values). */
static void
web_worker_ids(json_t *workers, json_int_t r, json_t *pid, json_t *host)
{
    size_t  w;
    json_t *wo;

    json_array_foreach(workers, w, wo) {
        if (json_integer_value(json_object_get(wo, "rank")) != r)
            continue;
        if (json_is_integer(pid))
            json_object_set(wo, "pid", pid);
        if (json_is_string(host))
            json_object_set(wo, "hostname", host);
    }
}

/*
 * Adds pid and host to workers from "worker registrations": values that are
 * JSON objects with a rank, pid and host, or (nws-worker) the rank as text
 * with pid and host in the value's metadata.
 */
static void
web_registrations(struct ws *ws, json_t *workers)
{
    struct var          *var = ws_var_find(ws, "worker registrations", 20);
    struct nwsp_dict_ent e;
    size_t               n, i, mpos;
    json_t              *j, *pid, *host;
    int64_t              rank, p;

    if (var == NULL)
        return;
    n = var->var_values.q_len;
    for (i = n > WEB_REG_SCAN ? n - WEB_REG_SCAN : 0; i < n; i++) {
        const struct value *v = var_value_at(var, i);

        if ((v->v_flags & VALUE_SPOOLED) || v->v_len > 4096 || v->v_len == 0)
            continue;
        if (value_data(v)[0] == '{') {
            if ((j = json_loadb(value_data(v), (size_t)v->v_len, 0, NULL)) == NULL)
                continue;
            if (json_is_integer(json_object_get(j, "rank")))
                web_worker_ids(workers, json_integer_value(json_object_get(j, "rank")),
                               json_object_get(j, "pid"), json_object_get(j, "host"));
            json_decref(j);
            continue;
        }
        if (v->v_len > 20 || nwsp_parse_i64(value_data(v), (size_t)v->v_len, &rank) != 0)
            continue;
        pid = host = NULL;
        mpos = 0;
        while (nwsp_dict_next(value_meta(v), v->v_metalen, &mpos, &e)) {
            if (e.klen == 3 && memcmp(e.key, "pid", 3) == 0 && pid == NULL &&
                e.vlen <= 20 && nwsp_parse_i64(e.val, e.vlen, &p) == 0 && p > 0)
                pid = json_integer(p);
            else if (e.klen == 4 && memcmp(e.key, "host", 4) == 0 && host == NULL)
                host = web_json_display(e.val, e.vlen < 256 ? e.vlen : 256);
        }
        web_worker_ids(workers, rank, pid, host);
        json_decref(pid);
        json_decref(host);
    }
}

/* The last few values of the sleigh's logError variable. */
static json_t *
web_errors(struct ws *ws)
{
    struct var *var = ws_var_find(ws, "logError", 8);
    size_t      n, i;
    json_t     *o = json_object(), *last = json_array();

    n = var != NULL ? var->var_values.q_len : 0;
    for (i = n > WEB_OUTPUT_LINES ? n - WEB_OUTPUT_LINES : 0; i < n; i++) {
        const struct value *v = var_value_at(var, i);

        if (!(v->v_flags & VALUE_SPOOLED))
            json_array_append_new(last, web_json_display(value_data(v),
                                                         v->v_len < 300 ? v->v_len : 300));
    }
    json_object_set_new(o, "count", json_integer((json_int_t)n));
    json_object_set_new(o, "last", last);
    return o;
}

/* JSON numbers or null. */
static json_t *
web_num_or_null(double d)
{
    return d < 0 ? json_null() : json_real(d);
}

static json_t *
web_workers_json(struct ws *ws, const struct sleigh *s, struct web_track *t, int sample,
                 double now)
{
    struct sleigh_view         sv;
    struct sleigh_worker_view *wv;
    struct web_seen           *seen;
    json_t                    *arr = json_array(), *o;
    char                       rk[32];
    size_t                     i, n;

    sleigh_view(s, &sv);
    n = sv.sv_nworkers;
    wv = xcalloc(n > 0 ? n : 1, sizeof(*wv));
    for (i = 0; i < n; i++)
        sleigh_worker_view(s, i, &wv[i]);
    qsort(wv, n, sizeof(*wv), web_cmp_workers);
    for (i = 0; i < n; i++) {
        snprintf(rk, sizeof(rk), "%ld", wv[i].wv_rank);
        if ((seen = htab_get(&t->t_workers, rk, strlen(rk))) == NULL) {
            seen = xcalloc(1, sizeof(*seen));
            seen->s_done = wv[i].wv_done;
            seen->s_running = wv[i].wv_running;
            htab_put(&t->t_workers, rk, strlen(rk), seen);
        } else if (sample &&
                   (seen->s_done != wv[i].wv_done || seen->s_running != wv[i].wv_running)) {
            seen->s_done = wv[i].wv_done;
            seen->s_running = wv[i].wv_running;
            seen->s_at = now;
        }
        if (i >= WEB_SLEIGH_WORKERS)
            continue;
        o = json_object();
        json_object_set_new(o, "rank", json_integer(wv[i].wv_rank));
        /* detached: its connection was lost, its session waits to be resumed */
        json_object_set_new(o, "state",
                            json_string(wv[i].wv_detached  ? "detached"
                                        : wv[i].wv_running ? "running"
                                                           : "idle"));
        if (wv[i].wv_running) {
            json_t *b = json_object();

            web_json_name(b, wv[i].wv_batch, wv[i].wv_batchlen);
            json_object_set_new(o, "batch", b);
        }
        json_object_set_new(o, "done", json_integer((json_int_t)wv[i].wv_done));
        json_object_set_new(o, "broadcast_waiting", json_integer((json_int_t)wv[i].wv_copies));
        web_peer_fields(o, conn_peer(wv[i].wv_conn));
        json_object_set_new(o, "last_seen", seen->s_at > 0 ? json_real(now - seen->s_at)
                                                           : json_null());
        json_object_set_new(o, "output", web_worker_output(ws, wv[i].wv_rank));
        json_array_append_new(arr, o);
    }
    free(wv);
    web_registrations(ws, arr);
    return arr;
}

void
web_api_sleigh(struct evhttp_request *req, const struct web_params *ps)
{
    struct ws                *ws = web_find_ws(req, ps);
    const struct sleigh      *s;
    struct sleigh_view        sv;
    struct sleigh_batch_view *bv;
    struct web_track         *t;
    struct web_hist          *h;
    size_t                    pos = 0, n = 0, i;
    uint64_t                  q = 0, run = 0, done = 0, failed = 0;
    double                    now = web_now(), rate, total_rate = 0;
    int                       sample, rate_known = 0;
    json_t                   *o, *batches, *b;

    if (ws == NULL)
        return;
    if ((s = ws->ws_sleigh) == NULL) {
        web_reply_error(req, 404, "not a sleigh workspace");
        return;
    }
    t = web_track_get(ws, now);
    sample = t->t_sampled == 0 || now - t->t_sampled >= 1.0;
    if (sample)
        t->t_sampled = now;
    sleigh_view(s, &sv);
    o = json_object();
    web_json_name(o, ws->ws_name, ws->ws_namelen);
    json_object_set_new(o, "join", json_string(sv.sv_join));
    json_object_set_new(o, "shutdown", json_boolean(sv.sv_shutdown));
    json_object_set_new(o, "expected_workers", sv.sv_expected < 0
                                                   ? json_null()
                                                   : json_integer(sv.sv_expected));
    json_object_set_new(o, "ranks_allocated", json_integer(sv.sv_allocated));
    json_object_set_new(o, "tasks_queued", json_integer((json_int_t)sv.sv_ntasks));
    json_object_set_new(o, "results_waiting", json_integer((json_int_t)sv.sv_nresults));
    json_object_set_new(o, "workers", web_workers_json(ws, s, t, sample, now));

    bv = xcalloc(sv.sv_nbatches > 0 ? sv.sv_nbatches : 1, sizeof(*bv));
    while (n < sv.sv_nbatches && sleigh_batch_view(s, &pos, &bv[n]))
        n++;
    qsort(bv, n, sizeof(*bv), web_cmp_batches);
    batches = json_array();
    for (i = 0; i < n; i++) {
        uint64_t left = bv[i].bv_queued + bv[i].bv_running;
        uint64_t total = left + bv[i].bv_done;

        q += bv[i].bv_queued;
        run += bv[i].bv_running;
        done += bv[i].bv_done;
        failed += bv[i].bv_failed;
        if ((h = htab_get(&t->t_batches, bv[i].bv_id, bv[i].bv_idlen)) == NULL) {
            h = xcalloc(1, sizeof(*h));
            htab_put(&t->t_batches, bv[i].bv_id, bv[i].bv_idlen, h);
            web_hist_push(h, now, bv[i].bv_done);
        } else if (sample) {
            web_hist_push(h, now, bv[i].bv_done);
        }
        rate = web_hist_rate(h, now, bv[i].bv_done);
        if (rate >= 0) {
            total_rate += rate;
            rate_known = 1;
        }
        if (i >= WEB_SLEIGH_BATCHES)
            continue;
        b = json_object();
        web_json_name(b, bv[i].bv_id, bv[i].bv_idlen);
        json_object_set_new(b, "queued", json_integer((json_int_t)bv[i].bv_queued));
        json_object_set_new(b, "running", json_integer((json_int_t)bv[i].bv_running));
        json_object_set_new(b, "done", json_integer((json_int_t)bv[i].bv_done));
        json_object_set_new(b, "failed", json_integer((json_int_t)bv[i].bv_failed));
        /* What it runs (escaped like every name) and when it began (Unix seconds). */
        json_object_set_new(b, "what", bv[i].bv_what != NULL && bv[i].bv_what[0] != '\0'
                                           ? web_json_display(bv[i].bv_what,
                                                              strlen(bv[i].bv_what))
                                           : json_null());
        json_object_set_new(b, "started", json_integer((json_int_t)bv[i].bv_started));
        /* It lived through a restart of the server (rebuilt from the journal). */
        json_object_set_new(b, "restarted", json_boolean(bv[i].bv_restarted));
        json_object_set_new(b, "duplicates", json_integer((json_int_t)bv[i].bv_dups));
        json_object_set_new(b, "total", json_integer((json_int_t)total));
        json_object_set_new(b, "percent", json_real(total > 0 ? 100.0 * (double)bv[i].bv_done /
                                                                    (double)total
                                                              : 100.0));
        json_object_set_new(b, "rate", web_num_or_null(rate));
        json_object_set_new(b, "eta", left == 0  ? json_real(0)
                                      : rate > 0 ? json_real((double)left / rate)
                                                 : json_null());
        json_array_append_new(batches, b);
    }
    free(bv);
    json_object_set_new(o, "batches_total", json_integer((json_int_t)n));
    json_object_set_new(o, "batches", batches);
    json_object_set_new(o, "totals", json_pack("{s:I,s:I,s:I,s:I,s:o}", "queued",
                                               (json_int_t)q, "running", (json_int_t)run,
                                               "done", (json_int_t)done, "failed",
                                               (json_int_t)failed, "rate",
                                               rate_known ? json_real(total_rate)
                                                          : json_null()));
    json_object_set_new(o, "errors", web_errors(ws));
    web_reply_json(req, 200, o);
}

json_t *
web_sleighs_json(size_t max)
{
    struct htab_ent          *e;
    struct sleigh_view        sv;
    struct sleigh_batch_view  bv;
    struct sleigh_worker_view wv;
    size_t                    pos = 0, bpos, i, detached;
    json_t                   *arr = json_array(), *o;

    while ((e = htab_next(ws_table(), &pos)) != NULL && json_array_size(arr) < max) {
        struct ws *ws = e->h_val;
        uint64_t   q = 0, run = 0, done = 0, failed = 0, restarted = 0;

        if (ws->ws_sleigh == NULL)
            continue;
        sleigh_view(ws->ws_sleigh, &sv);
        bpos = 0;
        while (sleigh_batch_view(ws->ws_sleigh, &bpos, &bv)) {
            q += bv.bv_queued;
            run += bv.bv_running;
            done += bv.bv_done;
            failed += bv.bv_failed;
            restarted += bv.bv_restarted != 0;
        }
        for (i = detached = 0; sleigh_worker_view(ws->ws_sleigh, i, &wv) == 0; i++)
            detached += wv.wv_detached != 0;
        o = json_object();
        web_json_name(o, ws->ws_name, ws->ws_namelen);
        json_object_set_new(o, "join", json_string(sv.sv_join));
        json_object_set_new(o, "workers", json_integer((json_int_t)sv.sv_nworkers));
        json_object_set_new(o, "queued", json_integer((json_int_t)q));
        json_object_set_new(o, "running", json_integer((json_int_t)run));
        json_object_set_new(o, "done", json_integer((json_int_t)done));
        json_object_set_new(o, "failed", json_integer((json_int_t)failed));
        /* Batches that lived through a restart; workers whose session waits. */
        json_object_set_new(o, "restarted", json_integer((json_int_t)restarted));
        json_object_set_new(o, "detached", json_integer((json_int_t)detached));
        json_array_append_new(arr, o);
    }
    return arr;
}
