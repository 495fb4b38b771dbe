/*
 * var.c -- variables: declare var, delete var, store, and the fetch/find
 * family with its Try forms and string helpers.
 *
 * The eight read commands share one request shape (section 5.9) and one
 * reply shape; nwsp_get_begin() sends any of them and leaves the value
 * bytes unread, so that nws_get() can read them into memory and stream.c
 * can copy them to a file descriptor.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nwsp.h"

/* Values up to this size are copied into the request so it leaves in one write. */
#define VAR_INLINE_MAX 65536

/* Returns the command name of op, iterated or not (static text). */
const char *
nwsp_op_name(enum nws_op op, int iter)
{
    static const char *const names[2][4] = {
        {"fetch", "find", "fetchTry", "findTry"},
        {"ifetch", "ifind", "ifetchTry", "ifindTry"},
    };

    return names[!!iter][(unsigned)op & 3];
}

/* Returns 1 for the ops that wait for a value. */
int
nwsp_op_blocks(enum nws_op op)
{
    return op == NWS_OP_FETCH || op == NWS_OP_FIND;
}

/* Checks the handle and a variable name; 0, or -1. */
static int
var_check(nws_ws *ws, const char *var, nws_error *err)
{
    if (ws == NULL) {
        nwsp_err_set(err, NWS_ERR_INVALID, 0, "NULL workspace handle");
        return -1;
    }
    if (nwsp_conn_check(ws->c, err) != 0)
        return -1;
    return nwsp_req_name_ok(var, "variable", err);
}

/* `declare var`; 0, or -1. */
int
nws_declare(nws_ws *ws, const char *var, const char *mode, nws_error *err)
{
    nwsp_err_clear(err);
    if (var_check(ws, var, err) != 0 || nwsp_req_name_ok(mode, "mode", err) != 0 ||
        nwsp_req_begin(ws->c, 4, NULL, err) != 0 ||
        nwsp_req_str(ws->c, "declare var", err) != 0 ||
        nwsp_req_str(ws->c, ws->name, err) != 0 || nwsp_req_str(ws->c, var, err) != 0 ||
        nwsp_req_str(ws->c, mode, err) != 0 || nwsp_req_send(ws->c, err) != 0)
        return -1;
    return nwsp_reply_short(ws->c, err);
}

/* `delete var`; 0, or -1. */
int
nws_delete_var(nws_ws *ws, const char *var, nws_error *err)
{
    nwsp_err_clear(err);
    if (var_check(ws, var, err) != 0 || nwsp_req_begin(ws->c, 3, NULL, err) != 0 ||
        nwsp_req_str(ws->c, "delete var", err) != 0 ||
        nwsp_req_str(ws->c, ws->name, err) != 0 || nwsp_req_str(ws->c, var, err) != 0 ||
        nwsp_req_send(ws->c, err) != 0)
        return -1;
    return nwsp_reply_short(ws->c, err);
}

/* Sends a store request; the value bytes too when data is non-NULL.  0, or -1. */
int
nwsp_store_begin(nws_ws *ws, const char *var, uint32_t desc, const nws_meta *meta,
                 const void *data, uint64_t len, nws_error *err)
{
    nws_client *c;
    char        d20[NWSP_D20_LEN];

    if (var_check(ws, var, err) != 0)
        return -1;
    if (len == 0 && !(desc & NWS_DESC_DIRECT_STRING)) {
        nwsp_err_set(err, NWS_ERR_INVALID, 0,
                     "a zero-length value needs DIRECT_STRING: without it every client "
                     "reads \"no value\"");
        return -1;
    }
    c = ws->c;
    nwsp_put_d20(d20, desc);
    if (nwsp_req_begin(c, 5, meta, err) != 0 || nwsp_req_str(c, "store", err) != 0 ||
        nwsp_req_str(c, ws->name, err) != 0 || nwsp_req_str(c, var, err) != 0 ||
        nwsp_req_arg(c, d20, sizeof(d20), err) != 0)
        return -1;
    if (data != NULL && len <= VAR_INLINE_MAX)
        return nwsp_req_arg(c, data, (size_t)len, err) != 0 ? -1 : nwsp_req_send(c, err);
    if (nwsp_buf_arg_header(&c->wbuf, len) != 0) {
        nwsp_err_set(err, NWS_ERR_NOMEM, 0, "out of memory");
        return -1;
    }
    if (nwsp_req_send(c, err) != 0)
        return -1;
    /* A large value goes straight from the caller's memory: no copy. */
    return data != NULL ? nwsp_conn_write(c, data, (size_t)len, err) : 0;
}

/* Stores v (borrowed); 0, or -1. */
int
nws_store(nws_ws *ws, const char *var, const nws_value *v, nws_error *err)
{
    nwsp_err_clear(err);
    if (v == NULL) {
        nwsp_err_set(err, NWS_ERR_INVALID, 0, "NULL value");
        return -1;
    }
    if (nwsp_store_begin(ws, var, v->desc, v->meta, v->data, v->len, err) != 0)
        return -1;
    return nwsp_reply_short(ws->c, err);
}

/* Stores v and frees it, also on failure; 0, or -1. */
int
nws_store_new(nws_ws *ws, const char *var, nws_value *v, nws_error *err)
{
    int rc = nws_store(ws, var, v, err);

    nws_value_free(v);
    return rc;
}

/* Stores len bytes with descriptor desc; 0, or -1. */
int
nws_store_raw(nws_ws *ws, const char *var, const void *data, size_t len, uint32_t desc,
              nws_error *err)
{
    nwsp_err_clear(err);
    if (data == NULL && len > 0) {
        nwsp_err_set(err, NWS_ERR_INVALID, 0, "NULL data");
        return -1;
    }
    if (nwsp_store_begin(ws, var, desc, NULL, data != NULL ? data : "", len, err) != 0)
        return -1;
    return nwsp_reply_short(ws->c, err);
}

/* Stores text s with descriptor 1; 0, or -1. */
int
nws_store_string(nws_ws *ws, const char *var, const char *s, nws_error *err)
{
    if (s == NULL) {
        nwsp_err_clear(err);
        nwsp_err_set(err, NWS_ERR_INVALID, 0, "NULL string");
        return -1;
    }
    return nws_store_raw(ws, var, s, strlen(s), NWS_DESC_TEXT, err);
}

/* Stores bytes with descriptor 3; 0, or -1. */
int
nws_store_bytes(nws_ws *ws, const char *var, const void *data, size_t len, nws_error *err)
{
    return nws_store_raw(ws, var, data, len, NWS_DESC_BYTES, err);
}

/* Sends a read op and reads the reply header; 1 (bytes follow), 0 (no value), -1. */
int
nwsp_get_begin(nws_ws *ws, const char *var, enum nws_op op, const char *varid,
               int64_t index, struct nwsp_reply *r, nws_error *err)
{
    nws_client *c;
    char        f20[NWSP_D20_LEN];

    if (var_check(ws, var, err) != 0)
        return -1;
    if ((unsigned)op > NWS_OP_FIND_TRY) {
        nwsp_err_set(err, NWS_ERR_INVALID, 0, "unknown operation %d", (int)op);
        return -1;
    }
    c = ws->c;
    if (nwsp_req_begin(c, varid != NULL ? 5 : 3, NULL, err) != 0 ||
        nwsp_req_str(c, nwsp_op_name(op, varid != NULL), err) != 0 ||
        nwsp_req_str(c, ws->name, err) != 0 || nwsp_req_str(c, var, err) != 0)
        return -1;
    if (varid != NULL) {
        nwsp_put_s20(f20, varid, strlen(varid));
        if (nwsp_req_arg(c, f20, sizeof(f20), err) != 0)
            return -1;
        nwsp_put_i20(f20, index);
        if (nwsp_req_arg(c, f20, sizeof(f20), err) != 0)
            return -1;
    }
    if (nwsp_req_send(c, err) != 0 || nwsp_reply_header(c, 1, 1, r, err) != 1)
        return -1;
    return nwsp_reply_classify(c, r, !nwsp_op_blocks(op), err);
}

/* Reads var with op: 1 and a new *out, 0 if no value, or -1. */
int
nws_get(nws_ws *ws, const char *var, enum nws_op op, nws_value **out, nws_error *err)
{
    struct nwsp_reply r;
    int               rc;

    nwsp_err_clear(err);
    if (out == NULL) {
        nwsp_err_set(err, NWS_ERR_INVALID, 0, "NULL result pointer");
        return -1;
    }
    *out = NULL;
    if ((rc = nwsp_get_begin(ws, var, op, NULL, 0, &r, err)) != 1)
        return rc;
    if ((*out = nwsp_reply_value(ws->c, &r, err)) == NULL)
        return -1;
    return 1;
}

/* Blocking fetch: a new value, or NULL. */
nws_value *
nws_fetch(nws_ws *ws, const char *var, nws_error *err)
{
    nws_value *v = NULL;

    nws_get(ws, var, NWS_OP_FETCH, &v, err);
    return v;
}

/* Blocking find: a new value, or NULL. */
nws_value *
nws_find(nws_ws *ws, const char *var, nws_error *err)
{
    nws_value *v = NULL;

    nws_get(ws, var, NWS_OP_FIND, &v, err);
    return v;
}

/* fetchTry: 1 and a new *out, 0, or -1. */
int
nws_fetch_try(nws_ws *ws, const char *var, nws_value **out, nws_error *err)
{
    return nws_get(ws, var, NWS_OP_FETCH_TRY, out, err);
}

/* findTry: 1 and a new *out, 0, or -1. */
int
nws_find_try(nws_ws *ws, const char *var, nws_value **out, nws_error *err)
{
    return nws_get(ws, var, NWS_OP_FIND_TRY, out, err);
}

/* Reads var with op as a string: 1 and a new *out (free()), 0, or -1. */
static int
var_get_string(nws_ws *ws, const char *var, enum nws_op op, char **out, nws_error *err)
{
    nws_value *v = NULL;
    int        rc;

    if (out == NULL) {
        nwsp_err_clear(err);
        nwsp_err_set(err, NWS_ERR_INVALID, 0, "NULL result pointer");
        return -1;
    }
    *out = NULL;
    if ((rc = nws_get(ws, var, op, &v, err)) != 1)
        return rc;
    if (nws_value_str(v) == NULL) {
        nwsp_err_set(err, NWS_ERR_TYPE, 0,
                     !(v->desc & NWS_DESC_DIRECT_STRING)
                         ? "the value is not a string (type descriptor %#x)"
                         : "the string holds a NUL byte (type descriptor %#x)",
                     (unsigned)v->desc);
        nws_value_free(v);
        return -1;
    }
    /* Hand over the bytes themselves: they are already NUL-terminated. */
    *out = v->data;
    v->data = NULL;
    nws_value_free(v);
    return 1;
}

/* Blocking fetch of a string: new (free()), or NULL. */
char *
nws_fetch_string(nws_ws *ws, const char *var, nws_error *err)
{
    char *s = NULL;

    var_get_string(ws, var, NWS_OP_FETCH, &s, err);
    return s;
}

/* Blocking find of a string: new (free()), or NULL. */
char *
nws_find_string(nws_ws *ws, const char *var, nws_error *err)
{
    char *s = NULL;

    var_get_string(ws, var, NWS_OP_FIND, &s, err);
    return s;
}

/* fetchTry of a string: 1 and a new *out, 0, or -1. */
int
nws_fetch_try_string(nws_ws *ws, const char *var, char **out, nws_error *err)
{
    return var_get_string(ws, var, NWS_OP_FETCH_TRY, out, err);
}

/* findTry of a string: 1 and a new *out, 0, or -1. */
int
nws_find_try_string(nws_ws *ws, const char *var, char **out, nws_error *err)
{
    return var_get_string(ws, var, NWS_OP_FIND_TRY, out, err);
}
