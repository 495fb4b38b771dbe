/*
 * ws.c -- workspaces and the global name table.
 *
 * The table maps each external name to its current instance.  An instance
 * has an id from the global counter, so a name deleted and made again is a
 * different instance: connections holding the old id in their map get
 * status 100 until they open the name again (section 7.1, quirk Q8).
 * __default is made at start-up, owned by "[system]" and persistent.
 */
#include <stdlib.h>
#include <string.h>

#include "journal.h"
#include "server.h"

static struct htab ws_names;

struct htab *
ws_table(void)
{
    return &ws_names;
}

/* Makes __default (instance 0). */
void
ws_init(void)
{
    struct ws *ws;

    htab_init(&ws_names);
    ws = ws_create("__default", 9);
    ws->ws_id = 0;
    ws_set_owner(ws, xstrndup("[system]", 8));
    ws->ws_persistent = 1;
}

/* Purges every workspace (server shutdown). */
void
ws_shutdown(void)
{
    struct htab_ent *e;
    size_t           pos = 0;

    while ((e = htab_next(&ws_names, &pos)) != NULL) {
        ws_destroy(e->h_val);
        pos = 0;
    }
    htab_free(&ws_names);
}

struct ws *
ws_find(const char *name, size_t len)
{
    return htab_get(&ws_names, name, len);
}

/* Returns a new, unowned standard workspace under name (which must be free). */
struct ws *
ws_create(const char *name, size_t len)
{
    struct ws *ws = xcalloc(1, sizeof(*ws));

    ws->ws_name = xstrndup(name, len);
    ws->ws_namelen = len;
    ws->ws_id = ++srv.counter;
    htab_init(&ws->ws_vars);
    ws->ws_vars.ht_listed = 1;
    htab_put(&ws_names, name, len, ws);
    listing_forget_wss();
    srv.mem_used += mem_ws_cost(len);
    return ws;
}

/* 1 if a workspace named len bytes fits under --max-memory. */
int
ws_fits(size_t len)
{
    return mem_fits(mem_ws_cost(len));
}

/* Sets the owner text (owned from now on) of a workspace that has none. */
void
ws_set_owner(struct ws *ws, char *owner)
{
    ws->ws_owner = owner;
    srv.mem_used += strlen(owner) + 1;
    journal_ws_owner(ws);
}

/* Returns a new workspace whose type comes from metadata wstype (section 7.10):
 * "sleigh" is native; any other type gives a standard workspace (fix of Q21). */
struct ws *
ws_create_typed(const char *name, size_t len, const char *meta, size_t metalen)
{
    struct ws  *ws = ws_create(name, len);
    const char *type;
    size_t      tlen;

    if (meta != NULL && nwsp_dict_get(meta, metalen, "wstype", &type, &tlen) &&
        tlen == 6 && memcmp(type, "sleigh", 6) == 0) {
        /* Its type comes back from this metadata after a restart (journal). */
        ws->ws_meta = xmemdup(meta, metalen);
        ws->ws_metalen = metalen;
        srv.mem_used += metalen;
        journal_ws_create(ws, meta, metalen); /* before the records sleigh_new makes */
        ws->ws_sleigh = sleigh_new(ws, meta, metalen);
        return ws;
    }
    journal_ws_create(ws, NULL, 0);
    return ws;
}

/* Purges every variable (waiters get "Variable purged.") and frees the name. */
void
ws_destroy(struct ws *ws)
{
    struct htab_ent *e;
    size_t           pos = 0;

    journal_ws_delete(ws);
    srv.mem_used -= mem_ws_cost(ws->ws_namelen);
    srv.mem_used -= ws->ws_metalen;
    free(ws->ws_meta);
    if (ws->ws_owner != NULL)
        srv.mem_used -= strlen(ws->ws_owner) + 1;
    htab_del(&ws_names, ws->ws_name, ws->ws_namelen);
    listing_forget_wss();
    listing_forget(&ws->ws_view);
    while ((e = htab_next(&ws->ws_vars, &pos)) != NULL) {
        srv.mem_used -= mem_var_cost(e->h_klen);
        var_free(e->h_val);
    }
    htab_free(&ws->ws_vars);
    if (ws->ws_sleigh != NULL)
        sleigh_free(ws->ws_sleigh);
    listing_free_name(ws->ws_owner);    /* a listing in progress may show them */
    listing_free_name(ws->ws_name);
    free(ws);
}

struct var *
ws_var_find(struct ws *ws, const char *name, size_t len)
{
    return htab_get(&ws->ws_vars, name, len);
}

/* Returns the variable, creating it in mode unknown if needed (quirk Q9). */
struct var *
ws_var(struct ws *ws, const char *name, size_t len)
{
    struct var *var = htab_get(&ws->ws_vars, name, len);

    if (var != NULL)
        return var;
    var = var_new(ws, name, len);
    /* The variable's name is the table's own copy of the key. */
    var->var_name = htab_put(&ws->ws_vars, name, len, var);
    listing_forget(&ws->ws_view);
    srv.mem_used += mem_var_cost(len);
    journal_var_new(var);
    return var;
}

/* ws_var(), but NULL when a new variable would pass --max-memory. */
struct var *
ws_var_try(struct ws *ws, const char *name, size_t len)
{
    struct var *var = htab_get(&ws->ws_vars, name, len);

    if (var != NULL || !mem_fits(mem_var_cost(len)))
        return var;
    return ws_var(ws, name, len);
}

void
ws_var_delete(struct ws *ws, struct var *var)
{
    journal_var_delete(ws, var->var_name, var->var_namelen);
    srv.mem_used -= mem_var_cost(var->var_namelen);
    listing_forget(&ws->ws_view);
    htab_del(&ws->ws_vars, var->var_name, var->var_namelen);
    var_free(var);
}

/*
 * The connection peer ("host:port") left while owning the persistent ws:
 * if the owner text is that peer's, it gets " (gone)", so listings show
 * that nobody holds the workspace any more (ownership is never handed on).
 */
void
ws_owner_gone(struct ws *ws, const char *peer)
{
    static const char gone[] = " (gone)";
    size_t            n = strlen(peer), len;
    char             *s;

    if (ws->ws_owner == NULL || strncmp(ws->ws_owner, peer, n) != 0 ||
        (ws->ws_owner[n] != '\0' && ws->ws_owner[n] != ' '))
        return;
    len = strlen(ws->ws_owner);
    if (len >= sizeof(gone) - 1 && strcmp(ws->ws_owner + len - (sizeof(gone) - 1), gone) == 0)
        return;
    xasprintf(&s, "%s%s", ws->ws_owner, gone);
    srv.mem_used -= len + 1;
    listing_free_name(ws->ws_owner);    /* a listing in progress may show it */
    ws->ws_owner = NULL;
    ws_set_owner(ws, s);
}
