/*
 * web_api.c -- the JSON views and actions of the web interface.
 *
 * Views read the server's tables and answer at once, each doing bounded
 * work however large the tables: listings in name order come a page at a
 * time from the tables' key order (htab_rank/htab_nth, O(log n) a row),
 * filters look at a bounded number of names per request, and orders that
 * need every row are served only for tables small enough to look at.
 * Values are described, not dumped: text up to a preview length, JSON
 * pretty-printed when short enough to parse, anything else as a short hex
 * preview; spooled values by their size alone, since reading their files
 * would be disk I/O on the event loop.
 *
 * Actions do what the protocol commands do: deleting a variable or a
 * workspace purges it (its waiters get "Variable purged."), fetch-try takes
 * one value as fetchTry would, store stores as store would.  Sleigh
 * variables, __barrier and __time variables are refused: they need a
 * connection behind the request.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "journal.h"
#include "web.h"

static const char *web_languages[] = {
    "none", "Python", "Matlab", "R", "Perl", "Ruby", "Octave",
    "Java", "C#",     "Objective-C", "Emacs Lisp",
};

/*
 * Counting values walks every variable, so a workspace with more than
 * WEB_COUNT_MAX of them is not walked: its variable count is the table's
 * (hidden ones included) and *nvalues is UINT64_MAX, shown as unknown.
 */
void
web_ws_counts(struct ws *ws, size_t *nvars, uint64_t *nvalues)
{
    struct htab_ent *e;
    struct var      *var;
    size_t           pos = 0;

    *nvars = 0;
    *nvalues = 0;
    if (htab_count(&ws->ws_vars) > WEB_COUNT_MAX) {
        *nvars = htab_count(&ws->ws_vars);
        *nvalues = UINT64_MAX;
        return;
    }
    while ((e = htab_next(&ws->ws_vars, &pos)) != NULL) {
        var = e->h_val;
        if (var->var_hidden)
            continue;
        (*nvars)++;
        *nvalues += var_nvalues(var);
    }
}

/* A count as JSON: null when unknown (UINT64_MAX). */
static json_t *
web_count_json(uint64_t n)
{
    return n == UINT64_MAX ? json_null() : json_integer((json_int_t)n);
}

/*
 * The count of values of the whole server, taken a bounded step at a time:
 * each overview request looks at WEB_CENSUS_STEP variables at most, going
 * on from where the previous one stopped (a workspace name and a rank in
 * it, so names coming and going meanwhile only make the count approximate).
 * The overview shows the last complete count; a server small enough to
 * count in one step is counted afresh at each request.
 */
static struct {
    char    *c_ws;          /* the workspace being counted (a copy), or NULL */
    size_t   c_wslen;
    size_t   c_var;         /* its next variable, by rank */
    int      c_ws_done;     /* c_ws is finished: go on after it */
    uint64_t c_values, c_vars;        /* so far */
    uint64_t c_total, c_total_vars;   /* the last complete count */
    int      c_known;
} web_census;

/* Moves the census cursor to ws (a new copy of its name), at its variable var. */
static void
web_census_at(const char *name, size_t len, size_t var, int done)
{
    if (web_census.c_ws == NULL || web_census.c_wslen != len ||
        memcmp(web_census.c_ws, name, len) != 0) {
        free(web_census.c_ws);
        web_census.c_ws = xmemdup(name, len);
        web_census.c_wslen = len;
    }
    web_census.c_var = var;
    web_census.c_ws_done = done;
}

/* One step of the census; 1 if it completed a count in this step. */
static int
web_census_step(void)
{
    struct htab *t = ws_table();
    size_t       budget = WEB_CENSUS_STEP, i = 0, klen, vlen, n, var;
    const char  *k, *vk;
    void        *val, *vv;

    if (web_census.c_ws != NULL)
        i = htab_rank(t, web_census.c_ws, web_census.c_wslen, web_census.c_ws_done);
    for (; budget > 0; i++) {
        if ((k = htab_nth(t, i, &klen, &val)) == NULL) {
            web_census.c_total = web_census.c_values;
            web_census.c_total_vars = web_census.c_vars;
            web_census.c_known = 1;
            web_census.c_values = web_census.c_vars = 0;
            free(web_census.c_ws);
            web_census.c_ws = NULL;
            return 1;
        }
        /* Resuming in the same workspace, or starting the next one at 0. */
        var = web_census.c_ws != NULL && !web_census.c_ws_done &&
                      klen == web_census.c_wslen && memcmp(k, web_census.c_ws, klen) == 0
                  ? web_census.c_var
                  : 0;
        n = htab_count(&((struct ws *)val)->ws_vars);
        for (; var < n && budget > 0; var++, budget--) {
            if ((vk = htab_nth(&((struct ws *)val)->ws_vars, var, &vlen, &vv)) == NULL ||
                ((struct var *)vv)->var_hidden)
                continue;
            web_census.c_vars++;
            web_census.c_values += var_nvalues(vv);
        }
        web_census_at(k, klen, var, var >= n);
        if (var < n)
            break;
    }
    return 0;
}

void
web_census_forget(void)
{
    free(web_census.c_ws);
    memset(&web_census, 0, sizeof(web_census));
}

void
web_api_overview(struct evhttp_request *req, const struct web_params *ps)
{
    struct htab_ent *e;
    size_t           pos = 0, nws = 0, nvars = 0;
    json_t          *o = json_object();

    (void)ps;
    /* Variables from each table's size (O(workspaces)), hidden ones included... */
    while ((e = htab_next(ws_table(), &pos)) != NULL) {
        nws++;
        nvars += htab_count(&((struct ws *)e->h_val)->ws_vars);
    }
    /* ... unless a census counted them, and the values, without hidden ones. */
    web_census_step();
    if (web_census.c_known)
        nvars = (size_t)web_census.c_total_vars;
    json_object_set_new(o, "version", json_string(NWS_VERSION));
    json_object_set_new(o, "pid", json_integer((json_int_t)getpid()));
    json_object_set_new(o, "uptime", json_real(web_uptime()));
    json_object_set_new(o, "web_port", json_integer(srv.actual_web_port));
    json_object_set_new(o, "readonly", json_boolean(web_readonly()));
    json_object_set_new(o, "connections", json_integer((json_int_t)srv.nconns));
    json_object_set_new(o, "memory_used", json_integer((json_int_t)srv.mem_used));
    json_object_set_new(o, "memory_limit", json_integer((json_int_t)srv.cfg.max_memory));
    json_object_set_new(o, "spooled_bytes", json_integer((json_int_t)srv.spooled_bytes));
    json_object_set_new(o, "spooled_values", json_integer((json_int_t)srv.nspooled));
    json_object_set_new(o, "spool_threshold",
                        json_integer((json_int_t)srv.cfg.spool_threshold));
    json_object_set_new(o, "workspaces", json_integer((json_int_t)nws));
    json_object_set_new(o, "variables", json_integer((json_int_t)nvars));
    json_object_set_new(o, "values", web_census.c_known
                                         ? json_integer((json_int_t)web_census.c_total)
                                         : json_null());
    json_object_set_new(o, "ops", json_integer((json_int_t)srv.nops));
    json_object_set_new(o, "ops_per_sec", json_real(web_ops_rate()));
    json_object_set_new(o, "sleighs", web_sleighs_json(20));
    json_object_set_new(o, "journal", web_journal_json());
    json_object_set_new(o, "sessions", web_sessions_json());
    web_reply_json(req, 200, o);
}

/* A row of the workspace listing. */
struct web_wsrow {
    struct ws *ws;
    size_t     nvars;
    uint64_t   nvalues;
};

enum web_sort { SORT_NAME, SORT_OWNER, SORT_PERSISTENT, SORT_VARS, SORT_VALUES };

static int
web_cmp_bytes(const char *a, size_t al, const char *b, size_t bl)
{
    int c = memcmp(a, b, al < bl ? al : bl);

    return c != 0 ? c : al < bl ? -1 : al > bl;
}

static int
web_cmp_rows(const void *pa, const void *pb, void *arg)
{
    const struct web_wsrow *a = pa, *b = pb;
    int                     key = *(int *)arg, desc = key < 0, c = 0;
    const char             *oa, *ob;

    switch (desc ? -key - 1 : key) {
    case SORT_OWNER:
        oa = a->ws->ws_owner ? a->ws->ws_owner : "";
        ob = b->ws->ws_owner ? b->ws->ws_owner : "";
        c = strcmp(oa, ob);
        break;
    case SORT_PERSISTENT:
        c = (a->ws->ws_persistent > b->ws->ws_persistent) -
            (a->ws->ws_persistent < b->ws->ws_persistent);
        break;
    case SORT_VARS:
        c = (a->nvars > b->nvars) - (a->nvars < b->nvars);
        break;
    case SORT_VALUES:
        c = (a->nvalues > b->nvalues) - (a->nvalues < b->nvalues);
        break;
    }
    if (c == 0)
        c = web_cmp_bytes(a->ws->ws_name, a->ws->ws_namelen, b->ws->ws_name,
                          b->ws->ws_namelen);
    return desc ? -c : c;
}

/* 1 if needle (ASCII case ignored) occurs in hay; an empty needle always does. */
static int
web_contains(const char *hay, size_t hl, const char *needle, size_t nl)
{
    size_t i;

    if (nl == 0)
        return 1;
    for (i = 0; i + nl <= hl; i++)
        if (strncasecmp(hay + i, needle, nl) == 0 && memchr(hay + i, 0, nl) == NULL)
            return 1;
    return 0;
}

/* The filter field: NULL (no filter) or its bytes. */
static const char *
web_filter(const struct web_params *ps, size_t *len)
{
    const char *f = web_param(ps, "filter", len);

    if (f != NULL && *len > WEB_FILTER_MAX)
        *len = WEB_FILTER_MAX;
    if (f == NULL)
        *len = 0;
    return f != NULL ? f : "";
}

/* Restores the max-heap order of h (n rows) from position i downwards. */
static void
web_heap_down(struct web_wsrow *h, size_t n, size_t i, int *key)
{
    struct web_wsrow t;
    size_t           c;

    for (; (c = 2 * i + 1) < n; i = c) {
        if (c + 1 < n && web_cmp_rows(&h[c + 1], &h[c], key) > 0)
            c++;
        if (web_cmp_rows(&h[c], &h[i], key) <= 0)
            break;
        t = h[i];
        h[i] = h[c];
        h[c] = t;
    }
}

/*
 * Keeps the k first rows in sort order seen so far in the max-heap h (*n
 * rows): a page needs only offset + limit of them, so a listing of n
 * workspaces costs O(n log k), not a sort of all of them.
 */
static void
web_heap_offer(struct web_wsrow *h, size_t *n, size_t k, const struct web_wsrow *row,
               int *key)
{
    struct web_wsrow t;
    size_t           i, p;

    if (*n < k) {
        h[i = (*n)++] = *row;
        for (; i > 0 && web_cmp_rows(&h[p = (i - 1) / 2], &h[i], key) < 0; i = p) {
            t = h[i];
            h[i] = h[p];
            h[p] = t;
        }
    } else if (k > 0 && web_cmp_rows(row, &h[0], key) < 0) {
        h[0] = *row;
        web_heap_down(h, *n, 0, key);
    }
}

/* Which entries of a listing are shown: 1 to keep val. */
typedef int (*web_keep_fn)(void *val, const char *filter, size_t flen);

static int
web_keep_ws(void *val, const char *filter, size_t flen)
{
    struct ws *ws = val;

    return web_contains(ws->ws_name, ws->ws_namelen, filter, flen);
}

static int
web_keep_var(void *val, const char *filter, size_t flen)
{
    struct var *var = val;

    return !var->var_hidden && web_contains(var->var_name, var->var_namelen, filter, flen);
}

/* A page of a listing in name order, and what is known of the rest. */
struct web_page {
    void  *wp_items[WEB_LIST_MAX];
    size_t wp_n;
    long   wp_matched;   /* entries kept in all, -1 if not known */
    int    wp_more;      /* kept entries may follow the page */
};

/*
 * Fills pg with the page of table t (in key order) that skips offset kept
 * entries, or starts after the key after (a cursor that stays right while
 * names come and go).  Bounded work whatever the table's size: the start
 * is found in O(log n) by rank, and at most WEB_SCAN_MAX entries are looked
 * at (O(log n) each); past that, the count of matches is left unknown.
 * Without a filter on a large table, offset is a position in the table (so
 * a page there may show fewer rows when hidden entries fall in it).
 */
static void
web_page_scan(struct htab *t, long offset, long limit, const char *after, size_t alen,
              web_keep_fn keep, const char *filter, size_t flen, struct web_page *pg)
{
    size_t n = htab_count(t), i = 0, scanned = 0, found = 0, skip = (size_t)offset;
    size_t klen;
    void  *val;
    int    jump = flen == 0 && n > WEB_SCAN_MAX;

    pg->wp_n = 0;
    if (after != NULL)
        i = htab_rank(t, after, alen, 1);
    if (jump) {
        i = (size_t)offset < n - i ? i + (size_t)offset : n;
        skip = 0;
    }
    for (; i < n && scanned < WEB_SCAN_MAX; i++, scanned++) {
        if (htab_nth(t, i, &klen, &val) == NULL || !keep(val, filter, flen))
            continue;
        found++;
        if (skip > 0) {
            skip--;
            continue;
        }
        if (pg->wp_n < (size_t)limit)
            pg->wp_items[pg->wp_n++] = val;
        else if (jump)
            break;   /* the count is n anyway: stop at the page's end */
    }
    pg->wp_more = i < n || found > (size_t)offset + pg->wp_n;
    if (jump)
        pg->wp_matched = (long)n;
    else if (i >= n && after == NULL)
        pg->wp_matched = (long)found;
    else
        pg->wp_matched = -1;
    if (jump)
        pg->wp_more = i < n;
}

/* The cursor field "after": a key, or NULL. */
static const char *
web_after(const struct web_params *ps, size_t *len)
{
    const char *a = web_param(ps, "after", len);

    return a != NULL && *len <= NWS_MAX_NAME ? a : NULL;
}

/* A row of the workspace listing as JSON. */
static json_t *
web_ws_row(const struct web_wsrow *row, int counted)
{
    struct ws *ws = row->ws;
    json_t    *it = json_object();
    size_t     nvars = row->nvars;
    uint64_t   nvalues = row->nvalues;

    if (!counted)
        web_ws_counts(ws, &nvars, &nvalues);
    web_json_name(it, ws->ws_name, ws->ws_namelen);
    json_object_set_new(it, "owner", ws->ws_owner
                                         ? web_json_display(ws->ws_owner, strlen(ws->ws_owner))
                                         : json_null());
    json_object_set_new(it, "persistent", json_boolean(ws->ws_persistent));
    json_object_set_new(it, "vars", json_integer((json_int_t)nvars));
    json_object_set_new(it, "values", web_count_json(nvalues));
    json_object_set_new(it, "sleigh", json_boolean(ws->ws_sleigh != NULL));
    return it;
}

/*
 * Workspaces, a page at a time.  In name order (the default) the page comes
 * from the table's key order at bounded cost however many there are.  The
 * other orders need every row: they are served while the server holds at
 * most WEB_SORT_MAX workspaces and WEB_SORT_VARS_MAX variables, else the
 * listing falls back to name order and says so ("sort" in the reply).
 */
void
web_api_workspaces(struct evhttp_request *req, const struct web_params *ps)
{
    static const char *keys[] = {"name", "owner", "persistent", "vars", "values"};
    struct htab_ent   *e;
    struct web_wsrow  *rows, row;
    struct web_page   *pg;
    size_t             pos = 0, n = 0, matched = 0, total = htab_count(ws_table()), flen, i, k;
    size_t             allvars = 0, alen;
    const char        *filter = web_filter(ps, &flen), *sort, *order, *after;
    long               offset = web_param_long(ps, "offset", 0, 0, 1L << 40);
    long               limit = web_param_long(ps, "limit", WEB_LIST_DEFAULT, 1, WEB_LIST_MAX);
    int                key = SORT_NAME, counts, sorted = 1;
    json_t            *o, *items;

    sort = web_param(ps, "sort", NULL);
    order = web_param(ps, "order", NULL);
    after = web_after(ps, &alen);
    for (i = 0; sort != NULL && i < sizeof(keys) / sizeof(keys[0]); i++)
        if (strcmp(sort, keys[i]) == 0)
            key = (int)i;
    if (key != SORT_NAME && total <= WEB_SORT_MAX) {
        while ((e = htab_next(ws_table(), &pos)) != NULL)
            allvars += htab_count(&((struct ws *)e->h_val)->ws_vars);
        pos = 0;
    }
    if (key != SORT_NAME && (total > WEB_SORT_MAX || allvars > WEB_SORT_VARS_MAX)) {
        key = SORT_NAME;
        sorted = 0;
    }
    o = json_object();
    items = json_array();
    if (key == SORT_NAME && (order == NULL || strcmp(order, "desc") != 0)) {
        pg = xcalloc(1, sizeof(*pg));
        web_page_scan(ws_table(), offset, limit, after, alen, web_keep_ws, filter, flen, pg);
        for (i = 0; i < pg->wp_n; i++) {
            row.ws = pg->wp_items[i];
            json_array_append_new(items, web_ws_row(&row, 0));
        }
        json_object_set_new(o, "matched", pg->wp_matched < 0 ? json_null()
                                                             : json_integer(pg->wp_matched));
        json_object_set_new(o, "more", json_boolean(pg->wp_more));
        free(pg);
        json_object_set_new(o, "order", json_string("asc"));
    } else if (key == SORT_NAME && total > WEB_SORT_MAX) {
        /* Descending by name on a large table: count back from the end by rank. */
        size_t klen, end = total;
        void  *val;

        if (after != NULL)
            end = htab_rank(ws_table(), after, alen, 0);
        for (i = 0; i < (size_t)limit && (size_t)offset + i < end; i++) {
            if (htab_nth(ws_table(), end - 1 - (size_t)offset - i, &klen, &val) == NULL)
                break;
            row.ws = val;
            json_array_append_new(items, web_ws_row(&row, 0));
        }
        json_object_set_new(o, "matched", json_integer((json_int_t)total));
        json_object_set_new(o, "more", json_boolean((size_t)offset + i < end));
        json_object_set_new(o, "order", json_string("desc"));
        if (flen > 0)
            sorted = 0;   /* no filter on this path: said below */
    } else {
        /* Few enough workspaces to look at each: any order, any filter. */
        counts = key == SORT_VARS || key == SORT_VALUES;
        if (order != NULL && strcmp(order, "desc") == 0)
            key = -key - 1;
        k = (size_t)offset + (size_t)limit < total ? (size_t)offset + (size_t)limit : total;
        rows = xcalloc(k > 0 ? k : 1, sizeof(*rows));
        while ((e = htab_next(ws_table(), &pos)) != NULL) {
            memset(&row, 0, sizeof(row));
            row.ws = e->h_val;
            if (!web_contains(row.ws->ws_name, row.ws->ws_namelen, filter, flen))
                continue;
            matched++;
            if (counts)
                web_ws_counts(row.ws, &row.nvars, &row.nvalues);
            web_heap_offer(rows, &n, k, &row, &key);
        }
        qsort_r(rows, n, sizeof(*rows), web_cmp_rows, &key);
        for (i = (size_t)offset; i < n; i++)
            json_array_append_new(items, web_ws_row(&rows[i], counts));
        free(rows);
        json_object_set_new(o, "matched", json_integer((json_int_t)matched));
        json_object_set_new(o, "more", json_boolean((size_t)offset + (size_t)limit < matched));
        json_object_set_new(o, "order", json_string(key < 0 ? "desc" : "asc"));
    }
    json_object_set_new(o, "total", json_integer((json_int_t)total));
    json_object_set_new(o, "offset", json_integer(offset));
    json_object_set_new(o, "limit", json_integer(limit));
    json_object_set_new(o, "sort", json_string(keys[key < 0 ? -key - 1 : key]));
    if (!sorted)
        json_object_set_new(o, "note", json_string("too many workspaces to sort or filter "
                                                   "this way: shown by name"));
    json_object_set_new(o, "items", items);
    web_reply_json(req, 200, o);
}

/* Describes a variable (without its values) into obj. */
static void
web_var_fields(json_t *obj, const struct var *var)
{
    web_json_name(obj, var->var_name, var->var_namelen);
    json_object_set_new(obj, "mode", json_string(var_mode_name(var->var_mode)));
    json_object_set_new(obj, "values", json_integer((json_int_t)var_nvalues(var)));
    json_object_set_new(obj, "fetchers", json_integer(var->var_nfetchers));
    json_object_set_new(obj, "finders", json_integer(var->var_nfinders));
    /* Sleigh, __time and __barrier variables hold no stored values to list. */
    json_object_set_new(obj, "special",
                        json_boolean(var->var_mode == VAR_CUSTOM ||
                                     var->var_mode == VAR_TIME ||
                                     var->var_mode == VAR_BARRIER));
}

static void
web_ws_fields(json_t *obj, const struct ws *ws)
{
    web_json_name(obj, ws->ws_name, ws->ws_namelen);
    json_object_set_new(obj, "owner", ws->ws_owner
                                          ? web_json_display(ws->ws_owner,
                                                             strlen(ws->ws_owner))
                                          : json_null());
    json_object_set_new(obj, "persistent", json_boolean(ws->ws_persistent));
    json_object_set_new(obj, "sleigh", json_boolean(ws->ws_sleigh != NULL));
}

void
web_api_ws(struct evhttp_request *req, const struct web_params *ps)
{
    struct ws       *ws = web_find_ws(req, ps);
    struct web_page *pg;
    size_t           i, nvars, flen, alen;
    uint64_t         nvalues;
    const char      *filter = web_filter(ps, &flen), *after = web_after(ps, &alen);
    long             offset = web_param_long(ps, "offset", 0, 0, 1L << 40);
    long             limit = web_param_long(ps, "limit", WEB_LIST_DEFAULT, 1, WEB_LIST_MAX);
    json_t          *o, *items, *it;

    if (ws == NULL)
        return;
    o = json_object();
    web_ws_fields(o, ws);
    web_ws_counts(ws, &nvars, &nvalues);
    json_object_set_new(o, "vars", json_integer((json_int_t)nvars));
    json_object_set_new(o, "total_values", web_count_json(nvalues));
    items = json_array();
    pg = xcalloc(1, sizeof(*pg));
    web_page_scan(&ws->ws_vars, offset, limit, after, alen, web_keep_var, filter, flen, pg);
    for (i = 0; i < pg->wp_n; i++) {
        it = json_object();
        web_var_fields(it, pg->wp_items[i]);
        json_array_append_new(items, it);
    }
    json_object_set_new(o, "matched", pg->wp_matched < 0 ? json_null()
                                                         : json_integer(pg->wp_matched));
    json_object_set_new(o, "more", json_boolean(pg->wp_more));
    free(pg);
    json_object_set_new(o, "offset", json_integer(offset));
    json_object_set_new(o, "limit", json_integer(limit));
    json_object_set_new(o, "items", items);
    web_reply_json(req, 200, o);
}

/* A hexdump -C style preview of len bytes. */
static json_t *
web_hex(const unsigned char *p, size_t len)
{
    struct nwsp_buf b = {0};
    char            line[96];
    size_t          off, i, n;
    json_t         *j;

    for (off = 0; off < len; off += 16) {
        n = len - off < 16 ? len - off : 16;
        snprintf(line, sizeof(line), "%08zx ", off);
        nwsp_buf_add(&b, line, strlen(line));
        for (i = 0; i < 16; i++) {
            if (i < n)
                snprintf(line, sizeof(line), "%s%02x", i == 8 ? "  " : " ", p[off + i]);
            else
                snprintf(line, sizeof(line), "%s  ", i == 8 ? "  " : " ");
            nwsp_buf_add(&b, line, strlen(line));
        }
        nwsp_buf_add(&b, "  |", 3);
        for (i = 0; i < n; i++) {
            char c = p[off + i] >= 0x20 && p[off + i] < 0x7f ? (char)p[off + i] : '.';

            nwsp_buf_add(&b, &c, 1);
        }
        nwsp_buf_add(&b, "|\n", 2);
    }
    nwsp_buf_add(&b, "", 1);
    j = json_string(b.data != NULL ? b.data : "");
    nwsp_buf_free(&b);
    return j;
}

/* Pretty-printed JSON of text that is a JSON object or array, else NULL (caller frees). */
static char *
web_pretty_json(const char *s, size_t len)
{
    json_t *j;
    char   *out;
    size_t  i = 0;

    while (i < len && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r'))
        i++;
    if (len > WEB_JSON_MAX || i == len || (s[i] != '{' && s[i] != '['))
        return NULL;
    if ((j = json_loadb(s, len, 0, NULL)) == NULL)
        return NULL;
    out = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(j);
    return out;
}

/* Sets text (display, cut to preview) and truncated on obj. */
static void
web_text_fields(json_t *obj, const char *s, size_t len, size_t preview)
{
    size_t used;
    char  *d = web_display(s, len, preview, &used);

    json_object_set_new(obj, "text", json_string(d));
    json_object_set_new(obj, "truncated", json_boolean(used < len));
    free(d);
}

json_t *
web_value_json(const struct var *var, const struct value *v, size_t pos, size_t preview)
{
    json_t               *o = json_object(), *meta;
    int64_t               desc = v->v_desc;
    unsigned              lang = (unsigned)((uint64_t)desc >> NWSP_DESC_LANG_SHIFT) & 0xff;
    const char           *data = value_data(v);
    size_t                len = (size_t)v->v_len, m, mpos = 0, nmeta = 0, i;
    struct nwsp_dict_ent  e;
    char                 *pretty, other[32];

    json_object_set_new(o, "pos", json_integer((json_int_t)pos));
    if (var != NULL && (var->var_mode == VAR_FIFO || var->var_mode == VAR_SINGLE))
        json_object_set_new(o, "index", json_integer((json_int_t)(
                                            var->var_base + var->var_values.q_len - 1 - pos)));
    json_object_set_new(o, "size", json_integer((json_int_t)v->v_len));
    json_object_set_new(o, "desc", json_integer(desc));
    if (lang < sizeof(web_languages) / sizeof(web_languages[0])) {
        json_object_set_new(o, "language", json_string(web_languages[lang]));
    } else {
        snprintf(other, sizeof(other), "unknown (%u)", lang);
        json_object_set_new(o, "language", json_string(other));
    }
    json_object_set_new(o, "lang_id", json_integer(lang));
    json_object_set_new(o, "kind", json_string(desc & NWSP_DESC_DIRECT_STRING ? "string"
                                                                             : "serialized"));
    json_object_set_new(o, "raw", json_boolean((desc & NWSP_DESC_DIRECT_STRING) &&
                                               (desc & NWSP_DESC_BINARY)));
    if (v->v_flags & VALUE_SPOOLED) {
        /* Its bytes are in a file: reading them here would block the loop. */
        json_object_set_new(o, "render", json_string("spooled"));
    } else if (!(desc & NWSP_DESC_DIRECT_STRING) && len == 0) {
        json_object_set_new(o, "render", json_string("none"));   /* section 8.5 */
    } else if (desc & NWSP_DESC_DIRECT_STRING) {
        /* Is the previewed part text?  Back off to a character boundary first. */
        m = len < preview ? len : preview;
        for (i = 0; i < 3 && m < len && m > 0 && ((unsigned char)data[m] & 0xc0) == 0x80; i++)
            m--;
        if (web_is_text(data, m)) {
            if ((pretty = web_pretty_json(data, len)) != NULL) {
                json_object_set_new(o, "render", json_string("json"));
                web_text_fields(o, pretty, strlen(pretty), preview);
                free(pretty);
            } else {
                json_object_set_new(o, "render", json_string("text"));
                web_text_fields(o, data, len, preview);
            }
        } else {
            json_object_set_new(o, "render", json_string("binary"));
        }
    } else {
        json_object_set_new(o, "render", json_string("binary"));
    }
    if (strcmp(json_string_value(json_object_get(o, "render")), "binary") == 0) {
        json_object_set_new(o, "hex", web_hex((const unsigned char *)data,
                                              len < WEB_HEX_MAX ? len : WEB_HEX_MAX));
        json_object_set_new(o, "truncated", json_boolean(len > WEB_HEX_MAX));
    }
    if (v->v_metalen > 0) {
        meta = json_object();
        while (nwsp_dict_next(value_meta(v), v->v_metalen, &mpos, &e)) {
            char *k;

            if (nmeta++ == WEB_META_MAX)
                break;
            k = web_display(e.key, e.klen, e.klen, NULL);
            json_object_set_new(meta, k, web_json_display(e.val, e.vlen < 256 ? e.vlen : 256));
            free(k);
        }
        json_object_set_new(o, "meta", meta);
    }
    return o;
}

void
web_api_var(struct evhttp_request *req, const struct web_params *ps)
{
    struct ws  *ws = web_find_ws(req, ps);
    struct var *var;
    long        offset = web_param_long(ps, "offset", 0, 0, 1L << 40);
    long        limit = web_param_long(ps, "limit", WEB_VALUES_DEFAULT, 1, WEB_VALUES_MAX);
    long        preview = web_param_long(ps, "preview", WEB_PREVIEW_DEFAULT, 16,
                                         WEB_PREVIEW_MAX);
    size_t      n, i;
    json_t     *o, *wso, *items;

    if (ws == NULL || (var = web_find_var(req, ps, ws)) == NULL)
        return;
    /* Keep a page's previews within the reply budget. */
    if (preview * limit > WEB_PREVIEW_BUDGET)
        preview = WEB_PREVIEW_BUDGET / limit;
    o = json_object();
    wso = json_object();
    web_ws_fields(wso, ws);
    json_object_set_new(o, "ws", wso);
    web_var_fields(o, var);
    n = var->var_values.q_len;
    json_object_set_new(o, "stored", json_integer((json_int_t)n));
    json_object_set_new(o, "offset", json_integer(offset));
    json_object_set_new(o, "limit", json_integer(limit));
    json_object_set_new(o, "preview", json_integer(preview));
    items = json_array();
    /* Newest first: the last value in the queue is the newest for every mode. */
    for (i = (size_t)offset; i < n && i < (size_t)offset + (size_t)limit; i++)
        json_array_append_new(items, web_value_json(var, var_value_at(var, n - 1 - i), i,
                                                     (size_t)preview));
    json_object_set_new(o, "items", items);
    web_reply_json(req, 200, o);
}

/* Refuses actions on variables that need a connection; 1 if refused (replied). */
static int
web_var_refused(struct evhttp_request *req, const struct var *var)
{
    if (var->var_mode == VAR_CUSTOM) {
        web_reply_error(req, 409, "this is a sleigh variable: only workers and masters "
                                  "use it");
        return 1;
    }
    if (var->var_mode == VAR_BARRIER || var->var_mode == VAR_TIME) {
        web_reply_error(req, 409, "not for __barrier or __time variables");
        return 1;
    }
    return 0;
}

/* Logs an action with the names as display text (no raw bytes in the log). */
static void
web_log(const char *what, const char *var, size_t varlen, const struct ws *ws)
{
    char *w = web_display(ws->ws_name, ws->ws_namelen, 200, NULL);
    char *v = var != NULL ? web_display(var, varlen, 200, NULL) : NULL;

    log_info("web: %s %s%s%s", what, v != NULL ? v : "", v != NULL ? " in " : "", w);
    free(v);
    free(w);
}

/* With --journal: -1 (replied 507) when the journal cannot take n more bytes. */
static int
web_journal_room(struct evhttp_request *req, size_t n)
{
    if (journal_reserve(n) == 0)
        return 0;
    web_reply_error(req, 507, journal_error());
    return -1;
}

void
web_api_delete_var(struct evhttp_request *req, const struct web_params *ps)
{
    struct ws  *ws = web_find_ws(req, ps);
    struct var *var;

    if (ws == NULL || (var = web_find_var(req, ps, ws)) == NULL)
        return;
    if (var->var_mode == VAR_CUSTOM) {
        web_reply_error(req, 409, "Cannot delete a sleigh variable.");
        return;
    }
    if (web_journal_room(req, 256 + var->var_namelen + ws->ws_namelen) != 0)
        return;
    web_log("deleting variable", var->var_name, var->var_namelen, ws);
    ws_var_delete(ws, var);
    web_reply_json(req, 200, json_pack("{s:b}", "ok", 1));
}

void
web_api_delete_ws(struct evhttp_request *req, const struct web_params *ps)
{
    struct ws *ws = web_find_ws(req, ps);

    if (ws == NULL || web_journal_room(req, 256 + ws->ws_namelen) != 0)
        return;
    web_log("deleting workspace", NULL, 0, ws);
    ws_destroy(ws);
    web_reply_json(req, 200, json_pack("{s:b}", "ok", 1));
}

void
web_api_fetch_try(struct evhttp_request *req, const struct web_params *ps)
{
    struct ws     *ws = web_find_ws(req, ps);
    struct var    *var;
    struct var_got got;
    json_t        *o, *vj;

    if (ws == NULL || (var = web_find_var(req, ps, ws)) == NULL ||
        web_var_refused(req, var) ||
        web_journal_room(req, 256 + var->var_namelen + ws->ws_namelen) != 0)
        return;
    switch (var_get(var, 1, 0, -1, NULL, &got)) {
    case VAR_OK:
        o = json_object();
        json_object_set_new(o, "ok", json_true());
        vj = web_value_json(NULL, got.value, 0, WEB_PREVIEW_DEFAULT);
        json_object_set_new(o, "value", vj);
        /*
         * What the preview cannot show (a spooled value, or past its length)
         * stays downloadable a while, so taking a value never loses it unseen.
         */
        if ((got.value->v_flags & VALUE_SPOOLED) || json_is_true(json_object_get(vj, "truncated")))
            json_object_set_new(o, "taken", json_string(web_taken_keep(got.value, var->var_name,
                                                                       var->var_namelen)));
        value_unref(got.value);
        web_reply_json(req, 200, o);
        return;
    case VAR_ERR:
        web_reply_error(req, 409, got.error);
        return;
    case VAR_BLOCK:
        break;
    }
    web_reply_error(req, 404, "no value available");
}

void
web_api_store(struct evhttp_request *req, const struct web_params *ps)
{
    struct ws    *ws = web_find_ws(req, ps);
    struct var   *var;
    struct value *v;
    const char   *name, *val, *d, *err = NULL;
    size_t        nlen, vlen, dlen;
    int64_t       desc = NWSP_DESC_DIRECT_STRING;

    if (ws == NULL)
        return;
    name = web_param(ps, "var", &nlen);
    val = web_param(ps, "value", &vlen);
    if (name == NULL || val == NULL || nlen > NWS_MAX_NAME) {
        web_reply_error(req, 400, name == NULL || val == NULL ? "var and value are needed"
                                                              : "var too long");
        return;
    }
    /* The protocol's rule for names (dispatch.c): no control characters,
     * which would forge lines of everyone's listings. */
    if (request_ctl_at(name, nlen) >= 0) {
        web_reply_error(req, 400, "var has a control character");
        return;
    }
    if ((d = web_param(ps, "desc", &dlen)) != NULL && dlen > 0 &&
        nwsp_parse_i64(d, dlen, &desc) != 0) {
        web_reply_error(req, 400, "desc must be a number");
        return;
    }
    if ((var = ws_var_find(ws, name, nlen)) != NULL && var->var_hidden) {
        web_reply_error(req, 404, "no such variable");
        return;
    }
    if (var != NULL && web_var_refused(req, var))
        return;
    if (vlen > srv.cfg.max_value_size) {
        web_reply_error(req, 413, "value longer than --max-value-size");
        return;
    }
    if (web_journal_room(req, 512 + vlen + nlen + ws->ws_namelen) != 0)
        return;
    if ((v = value_new(desc, NULL, 0, vlen)) == NULL) {
        web_reply_error(req, 507, "Store failed: over the server's memory limit.");
        return;
    }
    memcpy(value_data(v), val, vlen);
    if (var == NULL)
        var = ws_var(ws, name, nlen);
    if (var_store(var, v, NULL, &err) != 0) {
        web_reply_error(req, 409, err);
        return;
    }
    if (ws->ws_sleigh != NULL)
        sleigh_stored(ws, var);
    web_reply_json(req, 200, json_pack("{s:b,s:I}", "ok", 1, "values",
                                       (json_int_t)var_nvalues(var)));
}
