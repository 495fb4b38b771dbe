/*
 * listing.c -- "list wss" and "list vars" replies, produced in bounded
 * pieces (sections 7.7, 7.8; op_list.c runs the commands).
 *
 * A listing may be hundreds of megabytes (200,000 variables with 1000-byte
 * names): built whole it held the event loop for a second and its memory
 * once per client that asked.  Instead the request takes a snapshot (one
 * small record per workspace or variable, pointing at the names, plus the
 * numbers a line shows), computes the reply's exact length from it for the
 * header the protocol puts first, and the connection then appends at most
 * about LISTING_CHUNK bytes (less under small output limits) each time its
 * output has drained (conn.c).
 *
 * The rule for changes while a listing is sent: the listing shows the state
 * when the request ran, byte for byte as if it had been built then.  The
 * numbers are copied into the snapshot; the names are not, so a name freed
 * while any listing is in progress (its workspace or variable deleted) is
 * kept in a graveyard instead (listing_free_name) until the last listing
 * ends.  The snapshot and the graveyard count against --max-memory.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server.h"

#define LISTING_CHUNK (64 * 1024)

/*
 * A table's entries sorted by name, shared: sorting 20,000 names of 1000
 * bytes takes milliseconds, and 60 clients asking at once held the loop for
 * seconds.  A workspace keeps the sorted view of its variables, the server
 * one of its workspaces, until a name is added or removed (ws.c calls
 * listing_forget); every listing meanwhile takes a reference to it.
 */
struct sview_ent {
    const char *se_name;
    size_t      se_len;
    void       *se_val;     /* valid only while the view is current */
};
struct sview {
    unsigned         sv_refs;
    size_t           sv_n;
    uint64_t         sv_mem;
    struct sview_ent sv_e[];
};

struct listing_ent {
    const char          *le_name;
    size_t               le_len;
    /* list vars */
    size_t               le_nvalues;
    unsigned             le_nfetchers, le_nfinders;
    enum var_mode        le_mode;
    /* list wss */
    const char          *le_owner;     /* NULL: none */
    int                  le_persistent, le_owned;
    struct sview        *le_vars;      /* a reference */
    size_t               le_nvars;
};

struct listing {
    int                 l_wss;        /* list wss, else list vars */
    struct listing_ent *l_ents;
    size_t              l_n;
    size_t              l_i;          /* the entry being sent */
    size_t              l_vi;         /* list wss: its next variable name */
    int                 l_head;       /* list wss: its head is sent */
    uint64_t            l_total;      /* the length the header announced */
    uint64_t            l_sent;
    uint64_t            l_mem;        /* the snapshot's bytes */
};

static unsigned      listing_nactive;
static struct sview *listing_wss_view;   /* the workspace table, sorted */
static char   **listing_grave;
static size_t   listing_ngrave, listing_gravecap;
static uint64_t listing_gravemem;

/* Frees a workspace or variable name, or keeps it while listings may show it. */
void
listing_free_name(char *p)
{
    if (p == NULL)
        return;
    if (listing_nactive == 0) {
        free(p);
        return;
    }
    if (listing_ngrave == listing_gravecap) {
        listing_gravecap = listing_gravecap ? 2 * listing_gravecap : 64;
        listing_grave = xrealloc(listing_grave, listing_gravecap * sizeof(*listing_grave));
    }
    listing_grave[listing_ngrave++] = p;
    listing_gravemem += strlen(p) + 1 + sizeof(char *);
    srv.mem_used += strlen(p) + 1 + sizeof(char *);
}

static void
sview_unref(struct sview *v)
{
    if (v == NULL || --v->sv_refs > 0)
        return;
    srv.mem_used -= v->sv_mem;
    free(v);
}

/* The sorted view of t, cached in *cache; a new reference. */
static struct sview *
sview_get(struct htab *t, struct sview **cache)
{
    struct sview *v;
    size_t        n, i;

    if (*cache == NULL) {
        /* The table keeps its keys in order (htab.c's index): no sorting,
         * so no comparing of long names sharing long prefixes. */
        n = htab_count(t);
        v = xmalloc(sizeof(*v) + n * sizeof(v->sv_e[0]));
        v->sv_refs = 1;
        v->sv_n = n;
        v->sv_mem = sizeof(*v) + n * sizeof(v->sv_e[0]);
        for (i = 0; i < n; i++)
            v->sv_e[i].se_name = htab_nth(t, i, &v->sv_e[i].se_len, &v->sv_e[i].se_val);
        srv.mem_used += v->sv_mem;
        *cache = v;
    }
    (*cache)->sv_refs++;
    return *cache;
}

/* A name was added to or removed from the table whose view is *cache. */
void
listing_forget(void **cache)
{
    sview_unref(*cache);
    *cache = NULL;
}

/* The workspace table changed. */
void
listing_forget_wss(void)
{
    sview_unref(listing_wss_view);
    listing_wss_view = NULL;
}

uint64_t
listing_mem(const struct listing *l)
{
    return l != NULL ? l->l_mem : 0;
}

void
listing_free(struct listing *l)
{
    size_t i;

    if (l == NULL)
        return;
    if (l->l_wss) {
        for (i = 0; i < l->l_n; i++)
            sview_unref(l->l_ents[i].le_vars);
    }
    free(l->l_ents);
    free(l);
    if (--listing_nactive > 0)
        return;
    for (i = 0; i < listing_ngrave; i++)
        free(listing_grave[i]);
    free(listing_grave);
    listing_grave = NULL;
    listing_ngrave = listing_gravecap = 0;
    srv.mem_used -= listing_gravemem;
    listing_gravemem = 0;
}

/* Digits of n in decimal (called for every line of a listing: no snprintf). */
static size_t
listing_digits(uint64_t n)
{
    size_t d = 1;

    while (n >= 10) {
        n /= 10;
        d++;
    }
    return d;
}

static struct listing *
listing_new(int wss, size_t n)
{
    struct listing *l = xcalloc(1, sizeof(*l));

    l->l_wss = wss;
    l->l_ents = xcalloc(n, sizeof(*l->l_ents));
    l->l_mem = sizeof(*l) + n * sizeof(*l->l_ents);
    listing_nactive++;
    return l;
}

/* The list wss entry of ws, its line's length added to l_total. */
static void
listing_ws_ent(struct listing *l, struct listing_ent *e, struct conn *c, struct ws *ws)
{
    struct sview *v = sview_get(&ws->ws_vars, (struct sview **)&ws->ws_view);
    size_t        i;

    e->le_name = ws->ws_name;
    e->le_len = ws->ws_namelen;
    e->le_owner = ws->ws_owner;
    e->le_persistent = ws->ws_persistent;
    e->le_owned = conn_owns(c, ws);
    e->le_vars = v;
    e->le_nvars = v->sv_n;
    l->l_total += 1 + e->le_len + 1 + (e->le_owner ? strlen(e->le_owner) : 0) +
                  (e->le_persistent ? 6 : 7) + listing_digits(e->le_nvars) + 1 + 1;
    for (i = 0; i < e->le_nvars; i++)
        l->l_total += v->sv_e[i].se_len + (i > 0);
}

/*
 * Snapshot for list wss: every workspace (name NULL) or the one named.
 * NULL if it would pass --max-memory.
 */
struct listing *
listing_wss(struct conn *c, const char *name, size_t len)
{
    struct sview   *all = NULL;
    struct ws      *one = NULL;
    struct listing *l;
    size_t          n, i;

    if (name != NULL) {
        one = ws_find(name, len);
        n = one != NULL;
    } else {
        n = htab_count(ws_table());
    }
    if (!mem_fits(sizeof(*l) + n * sizeof(struct listing_ent)))
        return NULL;
    if (name == NULL)
        all = sview_get(ws_table(), &listing_wss_view);
    l = listing_new(1, n);
    l->l_n = n;
    for (i = 0; i < n; i++)
        listing_ws_ent(l, &l->l_ents[i], c, one != NULL ? one : all->sv_e[i].se_val);
    sview_unref(all);
    if (n == 0)
        l->l_total = 1;   /* a lone LF */
    return l;
}

/* Snapshot for list vars of ws; NULL if it would pass --max-memory. */
struct listing *
listing_vars(struct ws *ws)
{
    struct sview   *v;
    struct listing *l;
    size_t          n = htab_count(&ws->ws_vars), i, k = 0;

    if (!mem_fits(sizeof(*l) + n * sizeof(struct listing_ent)))
        return NULL;
    v = sview_get(&ws->ws_vars, (struct sview **)&ws->ws_view);
    l = listing_new(0, n);
    for (i = 0; i < n; i++) {
        struct var         *var = v->sv_e[i].se_val;
        struct listing_ent *e = &l->l_ents[k];

        if (var->var_hidden)
            continue;
        e->le_name = v->sv_e[i].se_name;
        e->le_len = v->sv_e[i].se_len;
        e->le_nvalues = var_nvalues(var);
        e->le_nfetchers = var->var_nfetchers;
        e->le_nfinders = var->var_nfinders;
        e->le_mode = var->var_mode;
        l->l_total += (k > 0) + e->le_len + 1 + listing_digits(e->le_nvalues) + 1 +
                      listing_digits(e->le_nfetchers) + 1 + listing_digits(e->le_nfinders) +
                      1 + strlen(var_mode_name(e->le_mode));
        k++;
    }
    sview_unref(v);
    l->l_n = k;
    return l;
}

uint64_t
listing_length(const struct listing *l)
{
    return l->l_total;
}

/* Appends to c's output, counting; 0 or -1 (c was aborted). */
static int
listing_add(struct listing *l, struct conn *c, const char *p, size_t len)
{
    l->l_sent += len;
    return reply_text_add(c, p, len);
}

/* The head of a list wss line: everything before the variable names. */
static int
listing_ws_head(struct listing *l, struct conn *c, const struct listing_ent *e)
{
    char num[32];

    snprintf(num, sizeof(num), "%zu\t", e->le_nvars);
    if (listing_add(l, c, e->le_owned ? ">" : " ", 1) != 0 ||
        listing_add(l, c, e->le_name, e->le_len) != 0 || listing_add(l, c, "\t", 1) != 0 ||
        (e->le_owner != NULL && listing_add(l, c, e->le_owner, strlen(e->le_owner)) != 0) ||
        listing_add(l, c, e->le_persistent ? "\tTrue\t" : "\tFalse\t",
                    e->le_persistent ? 6 : 7) != 0 ||
        listing_add(l, c, num, strlen(num)) != 0)
        return -1;
    return 0;
}

/* Output bytes a listing tops up to: well under the client output limits. */
static size_t
listing_chunk(void)
{
    uint64_t n = LISTING_CHUNK;

    if (srv.cfg.out_soft != 0 && srv.cfg.out_soft / 2 < n)
        n = srv.cfg.out_soft / 2;
    if (srv.cfg.out_hard != 0 && srv.cfg.out_hard / 2 < n)
        n = srv.cfg.out_hard / 2;
    return n < 4096 ? 4096 : (size_t)n;
}

/*
 * Appends the next piece (up to about LISTING_CHUNK bytes in c's output).
 * Returns 1 while more is to come, 0 when the listing is whole, -1 if c was
 * aborted (allocation failure, or a length that did not match).
 */
int
listing_fill(struct listing *l, struct conn *c)
{
    struct evbuffer *out = conn_output(c);
    size_t           chunk = listing_chunk();
    char             line[128];

    if (l->l_wss && l->l_n == 0 && l->l_sent == 0 && listing_add(l, c, "\n", 1) != 0)
        return -1;
    while (l->l_i < l->l_n) {
        const struct listing_ent *e = &l->l_ents[l->l_i];

        if (evbuffer_get_length(out) >= chunk)
            return 1;
        if (!l->l_wss) {
            snprintf(line, sizeof(line), "\t%zu\t%u\t%u\t%s", e->le_nvalues, e->le_nfetchers,
                     e->le_nfinders, var_mode_name(e->le_mode));
            if ((l->l_i > 0 && listing_add(l, c, "\n", 1) != 0) ||
                listing_add(l, c, e->le_name, e->le_len) != 0 ||
                listing_add(l, c, line, strlen(line)) != 0)
                return -1;
            l->l_i++;
            continue;
        }
        if (!l->l_head) {
            if (listing_ws_head(l, c, e) != 0)
                return -1;
            l->l_head = 1;
        }
        while (l->l_vi < e->le_nvars && evbuffer_get_length(out) < chunk) {
            const struct sview_ent *v = &e->le_vars->sv_e[l->l_vi];

            if ((l->l_vi > 0 && listing_add(l, c, ",", 1) != 0) ||
                listing_add(l, c, v->se_name, v->se_len) != 0)
                return -1;
            l->l_vi++;
        }
        if (l->l_vi < e->le_nvars)
            return 1;
        if (listing_add(l, c, "\n", 1) != 0)
            return -1;
        l->l_i++;
        l->l_vi = 0;
        l->l_head = 0;
    }
    if (l->l_sent != l->l_total) {
        log_warnx("listing: %llu bytes announced, %llu made", (unsigned long long)l->l_total,
                  (unsigned long long)l->l_sent);
        conn_abort(c, "a listing did not match its length");
        return -1;
    }
    return 0;
}
