/*
 * value.c -- nws_value: bytes, a type descriptor and metadata.
 *
 * The bytes are always followed by a NUL that the size does not count, so a
 * DIRECT_STRING value can be read as a C string without a copy.  Metadata is
 * made on first use: most values never carry any.
 */
#include <stdlib.h>
#include <string.h>

#include "nwsp.h"

/* An empty dictionary for values without metadata: read-only, so sharing it is safe. */
static const nws_meta value_no_meta;

/* Returns a value owning data (len bytes + NUL), or NULL (data is then not freed). */
nws_value *
nwsp_value_wrap(char *data, size_t len, uint32_t desc)
{
    nws_value *v = calloc(1, sizeof(*v));

    if (v == NULL)
        return NULL;
    v->data = data;
    v->len = len;
    v->desc = desc;
    return v;
}

/* Returns a new value holding a copy of data, or NULL. */
nws_value *
nws_value_new(const void *data, size_t len, uint32_t desc, nws_error *err)
{
    nws_value *v;
    char      *p;

    nwsp_err_clear(err);
    if (data == NULL && len > 0) {
        nwsp_err_set(err, NWS_ERR_INVALID, 0, "value: NULL data");
        return NULL;
    }
    if (len == SIZE_MAX || (p = malloc(len + 1)) == NULL) {
        nwsp_err_set(err, NWS_ERR_NOMEM, 0, "out of memory for a %zu-byte value", len);
        return NULL;
    }
    if (len > 0)
        memcpy(p, data, len);
    p[len] = '\0';
    if ((v = nwsp_value_wrap(p, len, desc)) == NULL) {
        free(p);
        nwsp_err_set(err, NWS_ERR_NOMEM, 0, "out of memory");
    }
    return v;
}

/* Returns a new DIRECT_STRING value copying s, or NULL. */
nws_value *
nws_value_string(const char *s, nws_error *err)
{
    if (s == NULL) {
        nwsp_err_clear(err);
        nwsp_err_set(err, NWS_ERR_INVALID, 0, "value: NULL string");
        return NULL;
    }
    return nws_value_new(s, strlen(s), NWS_DESC_TEXT, err);
}

/* Returns a new DIRECT_STRING|binary value copying data, or NULL. */
nws_value *
nws_value_bytes(const void *data, size_t len, nws_error *err)
{
    return nws_value_new(data, len, NWS_DESC_BYTES, err);
}

/* Frees v, its bytes and metadata; NULL is fine. */
void
nws_value_free(nws_value *v)
{
    if (v == NULL)
        return;
    free(v->data);
    nws_meta_free(v->meta);
    free(v);
}

/* Returns the bytes (borrowed, NUL-terminated). */
const void *
nws_value_data(const nws_value *v)
{
    return v == NULL ? NULL : v->data;
}

/* Returns the number of bytes. */
size_t
nws_value_size(const nws_value *v)
{
    return v == NULL ? 0 : v->len;
}

/* Returns the type descriptor. */
uint32_t
nws_value_desc(const nws_value *v)
{
    return v == NULL ? 0 : v->desc;
}

/* Returns the bytes as a C string (borrowed), or NULL if not plain text. */
const char *
nws_value_str(const nws_value *v)
{
    if (v == NULL || !(v->desc & NWS_DESC_DIRECT_STRING))
        return NULL;
    if (memchr(v->data, '\0', v->len) != NULL)
        return NULL;
    return v->data;
}

/* Returns v's own metadata (borrowed, made on first use), or NULL. */
nws_meta *
nws_value_meta(nws_value *v)
{
    if (v == NULL)
        return NULL;
    if (v->meta == NULL)
        v->meta = nws_meta_new();
    return v->meta;
}

/* Returns v's metadata read-only (borrowed), never NULL. */
const nws_meta *
nws_value_meta_get(const nws_value *v)
{
    return v == NULL || v->meta == NULL ? &value_no_meta : v->meta;
}
