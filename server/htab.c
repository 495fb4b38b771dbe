/*
 * htab.c -- hash tables keyed by byte strings.
 *
 * Names come from clients, so the hash is keyed (SipHash-1-3 with a random
 * key chosen at start-up) to keep hash flooding from turning lookups linear.
 * Open addressing with linear probing; deletion shifts the following entries
 * back, so there are no tombstones and a lookup stops at the first hole.
 * The table owns a NUL-terminated copy of each key; values are the caller's.
 */
#include <stdlib.h>
#include <string.h>

#include "server.h"

static uint64_t htab_k0 = 0x0706050403020100ULL, htab_k1 = 0x0f0e0d0c0b0a0908ULL;

#define HTAB_ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))
#define HTAB_ROUND                                                               \
    do {                                                                         \
        v0 += v1;                                                                \
        v1 = HTAB_ROTL(v1, 13);                                                  \
        v1 ^= v0;                                                                \
        v0 = HTAB_ROTL(v0, 32);                                                  \
        v2 += v3;                                                                \
        v3 = HTAB_ROTL(v3, 16);                                                  \
        v3 ^= v2;                                                                \
        v0 += v3;                                                                \
        v3 = HTAB_ROTL(v3, 21);                                                  \
        v3 ^= v0;                                                                \
        v2 += v1;                                                                \
        v1 = HTAB_ROTL(v1, 17);                                                  \
        v1 ^= v2;                                                                \
        v2 = HTAB_ROTL(v2, 32);                                                  \
    } while (0)

/* Sets the hash key; call once at start-up, before any table has entries. */
void
htab_seed(const unsigned char key[16])
{
    memcpy(&htab_k0, key, 8);
    memcpy(&htab_k1, key + 8, 8);
}

/* SipHash-1-3 of the len bytes at p under the process key. */
static uint64_t
htab_hash(const char *p, size_t len)
{
    uint64_t v0 = htab_k0 ^ 0x736f6d6570736575ULL;
    uint64_t v1 = htab_k1 ^ 0x646f72616e646f6dULL;
    uint64_t v2 = htab_k0 ^ 0x6c7967656e657261ULL;
    uint64_t v3 = htab_k1 ^ 0x7465646279746573ULL;
    uint64_t m, b = (uint64_t)len << 56;
    size_t   i, tail = len & 7;

    for (i = 0; i + 8 <= len; i += 8) {
        memcpy(&m, p + i, 8); /* little-endian hosts: the usual byte order */
        v3 ^= m;
        HTAB_ROUND;
        v0 ^= m;
    }
    for (i = 0; i < tail; i++)
        b |= (uint64_t)(unsigned char)p[len - tail + i] << (8 * i);
    v3 ^= b;
    HTAB_ROUND;
    v0 ^= b;
    v2 ^= 0xff;
    HTAB_ROUND;
    HTAB_ROUND;
    HTAB_ROUND;
    return v0 ^ v1 ^ v2 ^ v3;
}

void
htab_init(struct htab *t)
{
    memset(t, 0, sizeof(*t));
}

/* Frees a key, or hands it to listing.c if a listing may still show it. */
static void
htab_key_free(struct htab *t, char *key)
{
    if (t->ht_listed)
        listing_free_name(key);
    else
        free(key);
}

/* Frees the keys and the slots; the values are the caller's. */
void
htab_free(struct htab *t)
{
    size_t i;

    for (i = 0; i < t->ht_cap; i++)
        htab_key_free(t, t->ht_ents[i].h_key);
    free(t->ht_ents);
    htab_init(t);
}

/* Returns the slot holding key, or the empty slot where it would go. */
static struct htab_ent *
htab_slot(struct htab *t, const char *key, size_t len, uint64_t h)
{
    size_t mask = t->ht_cap - 1, i = (size_t)h & mask;

    for (;;) {
        struct htab_ent *e = &t->ht_ents[i];

        if (e->h_key == NULL)
            return e;
        if (e->h_hash == h && e->h_klen == len && memcmp(e->h_key, key, len) == 0)
            return e;
        i = (i + 1) & mask;
    }
}

/* Doubles the table (or makes the first one). */
static void
htab_grow(struct htab *t)
{
    struct htab_ent *old = t->ht_ents;
    size_t           oldcap = t->ht_cap, i;

    t->ht_cap = oldcap ? oldcap * 2 : 8;
    t->ht_ents = xcalloc(t->ht_cap, sizeof(*t->ht_ents));
    for (i = 0; i < oldcap; i++) {
        if (old[i].h_key != NULL)
            *htab_slot(t, old[i].h_key, old[i].h_klen, old[i].h_hash) = old[i];
    }
    free(old);
}

/* Returns the value stored under key, or NULL. */
void *
htab_get(struct htab *t, const char *key, size_t len)
{
    struct htab_ent *e;

    if (t->ht_n == 0)
        return NULL;
    e = htab_slot(t, key, len, htab_hash(key, len));
    return e->h_key != NULL ? e->h_val : NULL;
}

/* Stores val under key, replacing any older value; returns the table's key copy. */
const char *
htab_put(struct htab *t, const char *key, size_t len, void *val)
{
    struct htab_ent *e;
    uint64_t         h = htab_hash(key, len);

    if ((t->ht_n + 1) * 4 > t->ht_cap * 3)
        htab_grow(t);
    e = htab_slot(t, key, len, h);
    if (e->h_key == NULL) {
        e->h_key = xstrndup(key, len);
        e->h_klen = len;
        e->h_hash = h;
        t->ht_n++;
    }
    e->h_val = val;
    return e->h_key;
}

/* Removes key; returns its value, or NULL if it was not there. */
void *
htab_del(struct htab *t, const char *key, size_t len)
{
    struct htab_ent *e;
    size_t           mask, i, j;
    void            *val;

    if (t->ht_n == 0)
        return NULL;
    e = htab_slot(t, key, len, htab_hash(key, len));
    if (e->h_key == NULL)
        return NULL;
    val = e->h_val;
    htab_key_free(t, e->h_key);
    mask = t->ht_cap - 1;
    i = (size_t)(e - t->ht_ents);
    /* Shift back every later entry of the run that may not stay behind the hole. */
    for (j = (i + 1) & mask; t->ht_ents[j].h_key != NULL; j = (j + 1) & mask) {
        size_t home = (size_t)t->ht_ents[j].h_hash & mask;

        if (((j - home) & mask) >= ((j - i) & mask)) {
            t->ht_ents[i] = t->ht_ents[j];
            i = j;
        }
    }
    memset(&t->ht_ents[i], 0, sizeof(t->ht_ents[i]));
    t->ht_n--;
    return val;
}

size_t
htab_count(const struct htab *t)
{
    return t->ht_n;
}

struct htab_ent *
htab_next(struct htab *t, size_t *pos)
{
    while (*pos < t->ht_cap) {
        struct htab_ent *e = &t->ht_ents[(*pos)++];

        if (e->h_key != NULL)
            return e;
    }
    return NULL;
}

/* Orders entries by key bytes, shorter first on a common prefix. */
static int
htab_cmp(const void *a, const void *b)
{
    const struct htab_ent *x = *(struct htab_ent *const *)a;
    const struct htab_ent *y = *(struct htab_ent *const *)b;
    size_t                 n = x->h_klen < y->h_klen ? x->h_klen : y->h_klen;
    int                    c = memcmp(x->h_key, y->h_key, n);

    if (c != 0)
        return c;
    return x->h_klen < y->h_klen ? -1 : x->h_klen > y->h_klen;
}

struct htab_ent **
htab_sorted(struct htab *t, size_t *n)
{
    struct htab_ent **v = xcalloc(t->ht_n, sizeof(*v));
    struct htab_ent  *e;
    size_t            pos = 0, k = 0;

    while ((e = htab_next(t, &pos)) != NULL)
        v[k++] = e;
    qsort(v, k, sizeof(*v), htab_cmp);
    *n = k;
    return v;
}
