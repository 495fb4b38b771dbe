/*
 * ws.c -- workspace handles: open ws, use ws, mktemp ws, delete ws.
 *
 * A handle is only the connection plus the name (section 15): the server
 * keeps the per-connection name map, and every operation names its
 * workspace.  Freeing a handle sends nothing; to follow a workspace that
 * was deleted and made again (status 100), open or use it again.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "nwsp.h"

/* Returns a new handle for name on c, or NULL on no memory. */
static nws_ws *
ws_handle(nws_client *c, const char *name, size_t len, nws_error *err)
{
    nws_ws *ws = calloc(1, sizeof(*ws));

    if (ws == NULL || (ws->name = malloc(len + 1)) == NULL) {
        free(ws);
        nwsp_err_set(err, NWS_ERR_NOMEM, 0, "out of memory");
        return NULL;
    }
    memcpy(ws->name, name, len);
    ws->name[len] = '\0';
    ws->c = c;
    return ws;
}

/* Sends `open ws` or `use ws` for name and reads the short reply; 0, or -1. */
static int
ws_open_request(nws_client *c, const char *name, int use, unsigned flags, nws_error *err)
{
    char label[32];
    int  nocreate = !!(flags & NWS_WS_NOCREATE);

    /* Like the classic clients: our pid as the owner label, "" for use ws. */
    if (use)
        label[0] = '\0';
    else
        snprintf(label, sizeof(label), "%ld", (long)getpid());
    if (nwsp_req_begin(c, 4 + (unsigned)nocreate, NULL, err) != 0 ||
        nwsp_req_str(c, use ? "use ws" : "open ws", err) != 0 ||
        nwsp_req_str(c, name, err) != 0 || nwsp_req_str(c, label, err) != 0 ||
        nwsp_req_str(c, !use && (flags & NWS_WS_PERSISTENT) ? "yes" : "no", err) != 0 ||
        (nocreate && nwsp_req_str(c, "no", err) != 0) || nwsp_req_send(c, err) != 0)
        return -1;
    return nwsp_reply_short(c, err);
}

/* The shared body of nws_ws_open and nws_ws_use: a new handle, or NULL. */
static nws_ws *
ws_open(nws_client *c, const char *name, int use, unsigned flags, nws_error *err)
{
    nwsp_err_clear(err);
    if (nwsp_conn_check(c, err) != 0 || nwsp_req_name_ok(name, "workspace", err) != 0)
        return NULL;
    if (flags & ~(unsigned)(NWS_WS_NOCREATE | NWS_WS_PERSISTENT)) {
        nwsp_err_set(err, NWS_ERR_INVALID, 0, "unknown workspace flags %#x", flags);
        return NULL;
    }
    if (ws_open_request(c, name, use, flags, err) != 0)
        return NULL;
    return ws_handle(c, name, strlen(name), err);
}

/* `open ws`: a new handle, or NULL. */
nws_ws *
nws_ws_open(nws_client *c, const char *name, unsigned flags, nws_error *err)
{
    return ws_open(c, name, 0, flags, err);
}

/* `use ws`: a new handle, or NULL. */
nws_ws *
nws_ws_use(nws_client *c, const char *name, unsigned flags, nws_error *err)
{
    return ws_open(c, name, 1, flags, err);
}

/* `mktemp ws` (then `open ws` with NWS_WS_OWN): a new handle, or NULL. */
nws_ws *
nws_ws_mktemp(nws_client *c, const char *tmpl, unsigned flags, nws_error *err)
{
    struct nwsp_reply r;
    nws_value        *name;
    nws_ws           *ws;
    int               rc;

    nwsp_err_clear(err);
    if (nwsp_conn_check(c, err) != 0)
        return NULL;
    if (flags & ~(unsigned)(NWS_WS_OWN | NWS_WS_PERSISTENT)) {
        nwsp_err_set(err, NWS_ERR_INVALID, 0, "unknown mktemp flags %#x", flags);
        return NULL;
    }
    if (nwsp_req_begin(c, 2, NULL, err) != 0 || nwsp_req_str(c, "mktemp ws", err) != 0 ||
        nwsp_req_str(c, tmpl != NULL ? tmpl : "__nws__%d", err) != 0 ||
        nwsp_req_send(c, err) != 0 || nwsp_reply_header(c, 1, 1, &r, err) != 1)
        return NULL;
    if ((rc = nwsp_reply_classify(c, &r, 0, err)) != 1)
        return NULL;
    if (!(r.desc & NWS_DESC_DIRECT_STRING) || r.len > 65536) {
        nwsp_err_set(err, NWS_ERR_PROTOCOL, 0, "mktemp ws: the reply is not a name");
        nwsp_conn_fail(c);
        return NULL;
    }
    if ((name = nwsp_reply_value(c, &r, err)) == NULL)
        return NULL;
    ws = ws_handle(c, name->data, name->len, err);
    nws_value_free(name);
    if (ws != NULL && (flags & NWS_WS_OWN) &&
        ws_open_request(c, ws->name, 0, flags & NWS_WS_PERSISTENT, err) != 0) {
        nws_ws_free(ws);
        return NULL;
    }
    return ws;
}

/* Frees the handle (the workspace stays); NULL is fine. */
void
nws_ws_free(nws_ws *ws)
{
    if (ws == NULL)
        return;
    free(ws->name);
    free(ws);
}

/* Returns the workspace name (borrowed). */
const char *
nws_ws_name(const nws_ws *ws)
{
    return ws == NULL ? NULL : ws->name;
}

/* Returns the handle's connection (borrowed). */
nws_client *
nws_ws_client(const nws_ws *ws)
{
    return ws == NULL ? NULL : ws->c;
}

/* `delete ws name`; 0, or -1. */
int
nws_ws_delete(nws_client *c, const char *name, nws_error *err)
{
    nwsp_err_clear(err);
    if (nwsp_conn_check(c, err) != 0 || nwsp_req_name_ok(name, "workspace", err) != 0 ||
        nwsp_req_begin(c, 2, NULL, err) != 0 || nwsp_req_str(c, "delete ws", err) != 0 ||
        nwsp_req_str(c, name, err) != 0 || nwsp_req_send(c, err) != 0)
        return -1;
    return nwsp_reply_short(c, err);
}
