/*
 * meta.c -- nws_meta, the metadata dictionary of requests, replies and values.
 *
 * Entries are kept as two parallel arrays of NUL-terminated copies, in
 * insertion order; a key set twice keeps its first position and its latest
 * value, which is also what a receiver of a repeated key does (section 2.4).
 * Keys and values are limited to 9999 bytes because their length travels
 * as 4 digits.
 */
#include <stdlib.h>
#include <string.h>

#include "nwsp.h"

/* Returns a new empty dictionary, or NULL; the caller frees it. */
nws_meta *
nws_meta_new(void)
{
    return calloc(1, sizeof(nws_meta));
}

/* Frees every entry, keeping m itself. */
void
nwsp_meta_clear(nws_meta *m)
{
    size_t i;

    if (m == NULL)
        return;
    for (i = 0; i < m->count; i++) {
        free(m->keys[i]);
        free(m->vals[i]);
    }
    m->count = 0;
}

/* Frees m and its entries; NULL is fine. */
void
nws_meta_free(nws_meta *m)
{
    if (m == NULL)
        return;
    nwsp_meta_clear(m);
    free(m->keys);
    free(m->vals);
    free(m);
}

/* Returns the index of key in m, or -1. */
static long
meta_find(const nws_meta *m, const char *key, size_t klen)
{
    size_t i;

    if (m == NULL)
        return -1;
    for (i = 0; i < m->count; i++)
        if (strlen(m->keys[i]) == klen && memcmp(m->keys[i], key, klen) == 0)
            return (long)i;
    return -1;
}

/* Sets key to val from counted bytes (copied); 0, or -1 on no memory. */
static int
meta_setn(nws_meta *m, const char *key, size_t klen, const char *val, size_t vlen)
{
    long  i = meta_find(m, key, klen);
    char *v, *k;

    if ((v = malloc(vlen + 1)) == NULL)
        return -1;
    memcpy(v, val, vlen);
    v[vlen] = '\0';
    if (i >= 0) {
        free(m->vals[i]);
        m->vals[i] = v;
        return 0;
    }
    if (m->count == m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 8;
        char **nk, **nv;

        if ((nk = realloc(m->keys, cap * sizeof(*nk))) == NULL) {
            free(v);
            return -1;
        }
        m->keys = nk;
        if ((nv = realloc(m->vals, cap * sizeof(*nv))) == NULL) {
            free(v);
            return -1;
        }
        m->vals = nv;
        m->cap = cap;
    }
    if ((k = malloc(klen + 1)) == NULL) {
        free(v);
        return -1;
    }
    memcpy(k, key, klen);
    k[klen] = '\0';
    m->keys[m->count] = k;
    m->vals[m->count] = v;
    m->count++;
    return 0;
}

/* Sets key to val; 0, or -1 (NULL or over 9999 bytes, or no memory). */
int
nws_meta_set(nws_meta *m, const char *key, const char *val, nws_error *err)
{
    size_t klen, vlen;

    nwsp_err_clear(err);
    if (m == NULL || key == NULL || val == NULL) {
        nwsp_err_set(err, NWS_ERR_INVALID, 0, "metadata: NULL argument");
        return -1;
    }
    klen = strlen(key);
    vlen = strlen(val);
    if (klen > NWSP_DICT_FIELD_MAX || vlen > NWSP_DICT_FIELD_MAX) {
        nwsp_err_set(err, NWS_ERR_TOO_LARGE, 0,
                     "metadata keys and values are limited to 9999 bytes");
        return -1;
    }
    if (meta_setn(m, key, klen, val, vlen) != 0) {
        nwsp_err_set(err, NWS_ERR_NOMEM, 0, "out of memory");
        return -1;
    }
    return 0;
}

/* Removes key; 1 if it was there, else 0. */
int
nws_meta_remove(nws_meta *m, const char *key)
{
    long i;

    if (m == NULL || key == NULL || (i = meta_find(m, key, strlen(key))) < 0)
        return 0;
    free(m->keys[i]);
    free(m->vals[i]);
    memmove(m->keys + i, m->keys + i + 1, (m->count - (size_t)i - 1) * sizeof(char *));
    memmove(m->vals + i, m->vals + i + 1, (m->count - (size_t)i - 1) * sizeof(char *));
    m->count--;
    return 1;
}

/* Returns key's value (borrowed) or NULL. */
const char *
nws_meta_get(const nws_meta *m, const char *key)
{
    long i;

    if (key == NULL || (i = meta_find(m, key, strlen(key))) < 0)
        return NULL;
    return m->vals[i];
}

/* Returns the number of entries (0 for NULL). */
size_t
nws_meta_size(const nws_meta *m)
{
    return m == NULL ? 0 : m->count;
}

/* Returns the key of entry i (borrowed) or NULL. */
const char *
nws_meta_key(const nws_meta *m, size_t i)
{
    return m == NULL || i >= m->count ? NULL : m->keys[i];
}

/* Returns the value of entry i (borrowed) or NULL. */
const char *
nws_meta_value(const nws_meta *m, size_t i)
{
    return m == NULL || i >= m->count ? NULL : m->vals[i];
}

/* Returns a new deep copy of m (empty for NULL), or NULL on no memory. */
nws_meta *
nws_meta_copy(const nws_meta *m)
{
    nws_meta *c = nws_meta_new();

    if (c != NULL && nwsp_meta_merge(c, m, NULL) != 0) {
        nws_meta_free(c);
        return NULL;
    }
    return c;
}

/* Sets every entry of src (may be NULL) into dst; 0, or -1 on no memory. */
int
nwsp_meta_merge(nws_meta *dst, const nws_meta *src, nws_error *err)
{
    size_t i;

    for (i = 0; src != NULL && i < src->count; i++) {
        if (meta_setn(dst, src->keys[i], strlen(src->keys[i]), src->vals[i],
                      strlen(src->vals[i])) != 0) {
            nwsp_err_set(err, NWS_ERR_NOMEM, 0, "out of memory");
            return -1;
        }
    }
    return 0;
}

/* Appends the wire form of m (NULL: "0000"); 0, or -1 on no memory. */
int
nwsp_meta_encode(const nws_meta *m, struct nwsp_buf *b)
{
    size_t i, n = nws_meta_size(m);

    if (n > 9999 || nwsp_buf_dict_begin(b, (unsigned)n) != 0)
        return -1;
    for (i = 0; i < n; i++)
        if (nwsp_buf_dict_put(b, m->keys[i], strlen(m->keys[i]), m->vals[i],
                              strlen(m->vals[i])) != 0)
            return -1;
    return 0;
}

/* Replaces m's entries by those of a scanned wire dictionary; 0, or -1. */
int
nwsp_meta_decode(nws_meta *m, const char *dict, size_t len)
{
    struct nwsp_dict_ent e;
    size_t               pos = 0;

    nwsp_meta_clear(m);
    while (nwsp_dict_next(dict, len, &pos, &e))
        if (meta_setn(m, e.key, e.klen, e.val, e.vlen) != 0)
            return -1;
    return 0;
}
