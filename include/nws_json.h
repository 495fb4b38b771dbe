/*
 * nws_json.h -- JSON helpers of libnws, on jansson.
 *
 * Kept apart from nws.h so that programs that do not use JSON need not see
 * jansson.h.  JSON is stored as DIRECT_STRING text (descriptor 1), compact,
 * so Python, R and Java clients read it as a string and can parse it.
 *
 * Ownership follows jansson: a returned json_t * is a new reference (the
 * caller json_decref()s it); json_t * arguments are borrowed, except in
 * functions whose name ends in _new, which steal the reference, also when
 * they fail (so nws_store_json_new(ws, "x", json_integer(1), &err) needs no
 * temporary and leaks nothing).
 */
#ifndef NWS_JSON_H
#define NWS_JSON_H

#include <jansson.h>

#include "nws.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Stores j (borrowed) as compact JSON text with descriptor 1.  0, or -1. */
NWS_API int nws_store_json(nws_ws *ws, const char *var, const json_t *j, nws_error *err);
/* Like nws_store_json but steals j, also on failure (j NULL fails cleanly). */
NWS_API int nws_store_json_new(nws_ws *ws, const char *var, json_t *j, nws_error *err);

/*
 * Reads var with op and decodes its JSON.  Returns 1 and sets *out to a new
 * reference, 0 when a *_TRY op finds no value, or -1 (NWS_ERR_TYPE when the
 * value is not DIRECT_STRING JSON; a fetched value is then consumed).
 */
NWS_API int nws_get_json(nws_ws *ws, const char *var, enum nws_op op, json_t **out,
                         nws_error *err);
/* Blocking forms: a new reference, or NULL. */
NWS_API json_t *nws_fetch_json(nws_ws *ws, const char *var, nws_error *err) NWS_WUR;
NWS_API json_t *nws_find_json(nws_ws *ws, const char *var, nws_error *err) NWS_WUR;
/* Non-blocking forms: 1 and a new reference in *out, 0 if no value, or -1. */
NWS_API int nws_fetch_try_json(nws_ws *ws, const char *var, json_t **out, nws_error *err);
NWS_API int nws_find_try_json(nws_ws *ws, const char *var, json_t **out, nws_error *err);

/* Decodes a value's JSON text: a new reference, or NULL (NWS_ERR_TYPE). */
NWS_API json_t *nws_value_json(const nws_value *v, nws_error *err) NWS_WUR;
/* A new text value holding j (borrowed) as compact JSON, or NULL. */
NWS_API nws_value *nws_value_from_json(const json_t *j, nws_error *err) NWS_WUR;

/* Metadata as a JSON object of strings: a new reference, or NULL. */
NWS_API json_t *nws_meta_to_json(const nws_meta *m) NWS_WUR;
/*
 * A new dictionary from a JSON object (borrowed) whose values are strings
 * (numbers, booleans and null are written as JSON text), or NULL.
 */
NWS_API nws_meta *nws_meta_from_json(const json_t *obj, nws_error *err) NWS_WUR;

#ifdef __cplusplus
}
#endif

#endif
