/*
 * json.c -- JSON helpers on jansson (nws_json.h).
 *
 * JSON travels as compact DIRECT_STRING text (descriptor 1), so every
 * classic client reads it as a string.  Ownership is jansson's: returned
 * json_t * are new references; arguments are borrowed except in *_new
 * functions, which steal them even when they fail.
 */
#include <stdlib.h>
#include <string.h>

#include "nws_json.h"
#include "nwsp.h"

#define JSON_DUMP_FLAGS (JSON_COMPACT | JSON_ENCODE_ANY)

/* Returns a new text value holding j as JSON, or NULL. */
nws_value *
nws_value_from_json(const json_t *j, nws_error *err)
{
    nws_value *v;
    char      *s;

    nwsp_err_clear(err);
    if (j == NULL) {
        nwsp_err_set(err, NWS_ERR_INVALID, 0, "NULL JSON value");
        return NULL;
    }
    if ((s = json_dumps(j, JSON_DUMP_FLAGS)) == NULL) {
        nwsp_err_set(err, NWS_ERR_INVALID, 0, "the JSON value cannot be encoded");
        return NULL;
    }
    if ((v = nwsp_value_wrap(s, strlen(s), NWS_DESC_TEXT)) == NULL) {
        free(s);
        nwsp_err_set(err, NWS_ERR_NOMEM, 0, "out of memory");
    }
    return v;
}

/* Decodes v's JSON text: a new reference, or NULL. */
json_t *
nws_value_json(const nws_value *v, nws_error *err)
{
    json_error_t jerr;
    json_t      *j;

    nwsp_err_clear(err);
    if (v == NULL) {
        nwsp_err_set(err, NWS_ERR_INVALID, 0, "NULL value");
        return NULL;
    }
    if (!(v->desc & NWS_DESC_DIRECT_STRING)) {
        nwsp_err_set(err, NWS_ERR_TYPE, 0, "the value is not a string (type descriptor %#x)",
                     (unsigned)v->desc);
        return NULL;
    }
    if ((j = json_loadb(v->data, v->len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr)) == NULL)
        nwsp_err_set(err, NWS_ERR_TYPE, 0, "the value is not JSON: %s (position %d)",
                     jerr.text, jerr.position);
    return j;
}

/* Stores j (borrowed) as JSON text; 0, or -1. */
int
nws_store_json(nws_ws *ws, const char *var, const json_t *j, nws_error *err)
{
    nws_value *v = nws_value_from_json(j, err);

    return v == NULL ? -1 : nws_store_new(ws, var, v, err);
}

/* Stores j as JSON text and drops the reference, also on failure; 0, or -1. */
int
nws_store_json_new(nws_ws *ws, const char *var, json_t *j, nws_error *err)
{
    int rc = nws_store_json(ws, var, j, err);

    json_decref(j);
    return rc;
}

/* Reads var with op as JSON: 1 and a new reference in *out, 0, or -1. */
int
nws_get_json(nws_ws *ws, const char *var, enum nws_op op, json_t **out, nws_error *err)
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
    *out = nws_value_json(v, err);
    nws_value_free(v);
    return *out != NULL ? 1 : -1;
}

/* Blocking fetch of JSON: a new reference, or NULL. */
json_t *
nws_fetch_json(nws_ws *ws, const char *var, nws_error *err)
{
    json_t *j = NULL;

    nws_get_json(ws, var, NWS_OP_FETCH, &j, err);
    return j;
}

/* Blocking find of JSON: a new reference, or NULL. */
json_t *
nws_find_json(nws_ws *ws, const char *var, nws_error *err)
{
    json_t *j = NULL;

    nws_get_json(ws, var, NWS_OP_FIND, &j, err);
    return j;
}

/* fetchTry of JSON: 1 and a new reference, 0, or -1. */
int
nws_fetch_try_json(nws_ws *ws, const char *var, json_t **out, nws_error *err)
{
    return nws_get_json(ws, var, NWS_OP_FETCH_TRY, out, err);
}

/* findTry of JSON: 1 and a new reference, 0, or -1. */
int
nws_find_try_json(nws_ws *ws, const char *var, json_t **out, nws_error *err)
{
    return nws_get_json(ws, var, NWS_OP_FIND_TRY, out, err);
}

/* Returns m as a new JSON object of strings, or NULL on no memory. */
json_t *
nws_meta_to_json(const nws_meta *m)
{
    json_t *o = json_object();
    size_t  i;

    for (i = 0; o != NULL && i < nws_meta_size(m); i++) {
        if (json_object_set_new(o, m->keys[i], json_string(m->vals[i])) != 0) {
            json_decref(o);
            return NULL;
        }
    }
    return o;
}

/* Returns a new dictionary from the JSON object obj (borrowed), or NULL. */
nws_meta *
nws_meta_from_json(const json_t *obj, nws_error *err)
{
    const char *key;
    json_t     *val;
    nws_meta   *m;
    char       *text;
    int         rc;

    nwsp_err_clear(err);
    if (!json_is_object(obj)) {
        nwsp_err_set(err, NWS_ERR_TYPE, 0, "metadata must be a JSON object");
        return NULL;
    }
    if ((m = nws_meta_new()) == NULL) {
        nwsp_err_set(err, NWS_ERR_NOMEM, 0, "out of memory");
        return NULL;
    }
    /* jansson's iteration macro takes a non-const object; it does not modify it. */
    json_object_foreach((json_t *)obj, key, val) {
        if (json_is_string(val)) {
            rc = nws_meta_set(m, key, json_string_value(val), err);
        } else if (json_is_object(val) || json_is_array(val)) {
            nwsp_err_set(err, NWS_ERR_TYPE, 0, "metadata value of \"%.60s\" is not a scalar",
                         key);
            rc = -1;
        } else if ((text = json_dumps(val, JSON_DUMP_FLAGS)) == NULL) {
            nwsp_err_set(err, NWS_ERR_NOMEM, 0, "out of memory");
            rc = -1;
        } else {
            rc = nws_meta_set(m, key, text, err);
            free(text);
        }
        if (rc != 0) {
            nws_meta_free(m);
            return NULL;
        }
    }
    return m;
}
