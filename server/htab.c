/*
 * htab.c -- hash tables keyed by byte strings.
 *
 * Names come from clients, so the hash is keyed (SipHash-1-3 with a random
 * key chosen at start-up) to keep hash flooding from turning lookups linear.
 * Open addressing with linear probing; deletion shifts the following entries
 * back, so there are no tombstones and a lookup stops at the first hole.
 * The table owns a NUL-terminated copy of each key; values are the caller's.
 *
 * Beside the slots, every key is also in a treap ordered by key bytes
 * (shorter first on a common prefix), each node knowing its subtree's size:
 * ordered paging (the web interface over 100,000s of names) costs O(log n)
 * a row, and a put or delete pays O(log n) to keep it.  Priorities are
 * random, so client-chosen names cannot unbalance it.
 */
#include <stdlib.h>
#include <string.h>

#include "server.h"

static uint64_t htab_k0 = 0x0706050403020100ULL, htab_k1 = 0x0f0e0d0c0b0a0908ULL;
static uint64_t htab_rng = 0x9e3779b97f4a7c15ULL;   /* treap priorities */

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
    htab_rng = (htab_k0 ^ (htab_k1 << 1)) | 1;   /* xorshift needs a nonzero state */
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

struct htab_node {
    const char       *n_key;   /* the slot's key copy */
    size_t            n_klen;
    void             *n_val;
    uint64_t          n_prio;
    size_t            n_size;  /* nodes in this subtree */
    struct htab_node *n_left, *n_right;
};

static uint64_t
htab_random(void)
{
    htab_rng ^= htab_rng << 13;
    htab_rng ^= htab_rng >> 7;
    htab_rng ^= htab_rng << 17;
    return htab_rng;
}

/* <0, 0, >0 as a sorts before, with or after b. */
static int
htab_keycmp(const char *a, size_t al, const char *b, size_t bl)
{
    int c = memcmp(a, b, al < bl ? al : bl);

    return c != 0 ? c : al < bl ? -1 : al > bl;
}

static size_t
htab_size(const struct htab_node *n)
{
    return n != NULL ? n->n_size : 0;
}

static void
htab_fix(struct htab_node *n)
{
    n->n_size = 1 + htab_size(n->n_left) + htab_size(n->n_right);
}

/* Splits n into keys before key (or up to it, inclusive) and the rest. */
static void
htab_split(struct htab_node *n, const char *key, size_t len, int inclusive,
           struct htab_node **l, struct htab_node **r)
{
    int c;

    if (n == NULL) {
        *l = *r = NULL;
        return;
    }
    c = htab_keycmp(n->n_key, n->n_klen, key, len);
    if (c < 0 || (inclusive && c == 0)) {
        htab_split(n->n_right, key, len, inclusive, &n->n_right, r);
        *l = n;
    } else {
        htab_split(n->n_left, key, len, inclusive, l, &n->n_left);
        *r = n;
    }
    htab_fix(n);
}

/* Joins l and r, every key of l sorting before every key of r. */
static struct htab_node *
htab_merge(struct htab_node *l, struct htab_node *r)
{
    if (l == NULL)
        return r;
    if (r == NULL)
        return l;
    if (l->n_prio > r->n_prio) {
        l->n_right = htab_merge(l->n_right, r);
        htab_fix(l);
        return l;
    }
    r->n_left = htab_merge(l, r->n_left);
    htab_fix(r);
    return r;
}

static void
htab_tree_free(struct htab_node *n)
{
    if (n == NULL)
        return;
    htab_tree_free(n->n_left);
    htab_tree_free(n->n_right);
    free(n);
}

size_t
htab_rank(const struct htab *t, const char *key, size_t len, int inclusive)
{
    const struct htab_node *n = t->ht_root;
    size_t                  rank = 0;
    int                     c;

    while (n != NULL) {
        c = htab_keycmp(n->n_key, n->n_klen, key, len);
        if (c < 0 || (inclusive && c == 0)) {
            rank += htab_size(n->n_left) + 1;
            n = n->n_right;
        } else {
            n = n->n_left;
        }
    }
    return rank;
}

const char *
htab_nth(const struct htab *t, size_t i, size_t *len, void **val)
{
    const struct htab_node *n = t->ht_root;

    while (n != NULL) {
        size_t l = htab_size(n->n_left);

        if (i < l) {
            n = n->n_left;
        } else if (i == l) {
            *len = n->n_klen;
            if (val != NULL)
                *val = n->n_val;
            return n->n_key;
        } else {
            i -= l + 1;
            n = n->n_right;
        }
    }
    return NULL;
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
    htab_tree_free(t->ht_root);
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
        struct htab_node *n = xcalloc(1, sizeof(*n)), *l, *r;

        e->h_key = xstrndup(key, len);
        e->h_klen = len;
        e->h_hash = h;
        e->h_node = n;
        t->ht_n++;
        n->n_key = e->h_key;
        n->n_klen = len;
        n->n_prio = htab_random();
        n->n_size = 1;
        htab_split(t->ht_root, key, len, 0, &l, &r);
        t->ht_root = htab_merge(htab_merge(l, n), r);
    }
    e->h_val = val;
    e->h_node->n_val = val;
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
    {
        struct htab_node *l, *m, *r;

        htab_split(t->ht_root, key, len, 0, &l, &m);
        htab_split(m, key, len, 1, &m, &r);   /* m: this key's node alone */
        free(m);
        t->ht_root = htab_merge(l, r);
    }
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
