/*
 * vqueue.c -- the values of one variable, in store order, small ones packed.
 *
 * A variable may hold a million small values (a task queue, a list of
 * results).  As separately allocated refcounted struct values they cost a
 * 64-byte heap chunk and a pointer each for 16 bytes of data; here they cost
 * about their data.  The queue is a ring of blocks, each of one kind:
 *
 *   VQB_REFS   pointers to struct value, each holding one reference: large
 *              values, values with metadata, spooled values, and every value
 *              stored while the queue is short (VQ_PACK_AFTER);
 *   VQB_FIXED  packed values that all have the block's descriptor and its
 *              length: no per-value header at all, and O(1) access;
 *   VQB_VAR    packed values that have the block's descriptor and any length
 *              up to VQ_PACK_MAX, each framed by its length before and after
 *              (1 byte each side below 128 bytes, else 2), so the block can be
 *              walked and popped from either end.
 *
 * Values are appended at the tail (every store) and taken from the head
 * (fifo, single) or the tail (lifo, multi); a store handed to a waiting
 * fetcher never gets here.  A short queue keeps its values unpacked: a value
 * soon fetched would pay a copy in and an allocation out for nothing.
 * Packed values leave as a fresh struct value (vqueue_pop_*, vqueue_get) or
 * as a borrowed scratch copy (vqueue_peek).
 *
 * Invariants: no block in the ring is empty; each block's b_seq is the
 * sequence number of its first live entry and block k+1 starts where block k
 * ends, so position i is found by a binary search on b_seq; the bytes of
 * every block (header and data, and the one spare block kept for reuse) are
 * counted in srv.mem_used, as the values they hold were.
 */
#include <stdlib.h>
#include <string.h>

#include "server.h"

enum vq_kind { VQB_REFS, VQB_FIXED, VQB_VAR };

struct vq_block {
    uint64_t b_seq;     /* sequence number of the first live entry */
    int64_t  b_desc;    /* packed kinds: every entry's type descriptor */
    uint32_t b_size;    /* data bytes allocated */
    uint32_t b_head;    /* offset of the first live entry */
    uint32_t b_tail;    /* offset just past the last entry */
    uint32_t b_count;   /* live entries */
    uint32_t b_kind;    /* enum vq_kind */
    uint32_t b_width;   /* fixed: bytes per entry; refs: a pointer's size */
    char     b_data[];
};

/* A full block is one 8 KiB heap chunk (malloc adds 8 bytes of its own). */
#define VQ_BLOCK_BYTES 8184
#define VQ_DATA_MAX    ((uint32_t)(VQ_BLOCK_BYTES - sizeof(struct vq_block)))
#define VQ_DATA_MIN    64u
#define VQ_SPARE_MAX   256u   /* an emptied block this small is kept for reuse */
#define VQ_RUN_MIN     8u     /* a fixed block shorter than this turns var */
#define VQ_REF_SIZE    ((uint32_t)sizeof(struct value *))

/* vqueue_peek's scratch value (never counted: it holds no stored value). */
static struct value *vq_scratch;

/* Block k of the ring (0 = oldest). */
static struct vq_block *
vq_blk(const struct vqueue *q, size_t k)
{
    return q->q_blocks[(q->q_bhead + k) & (q->q_bcap - 1)];
}

static void
vq_set_blk(struct vqueue *q, size_t k, struct vq_block *b)
{
    q->q_blocks[(q->q_bhead + k) & (q->q_bcap - 1)] = b;
}

/* Bytes a var entry of len data bytes takes, framing included. */
static uint32_t
vq_var_size(size_t len)
{
    return (uint32_t)len + (len < 128 ? 2 : 4);
}

/* Writes a var entry at p; returns its size. */
static uint32_t
vq_var_put(char *p, const char *data, size_t len)
{
    unsigned char *u = (unsigned char *)p;

    if (len < 128) {
        u[0] = (unsigned char)len;
        memcpy(u + 1, data, len);
        u[1 + len] = (unsigned char)len;
        return (uint32_t)len + 2;
    }
    u[0] = (unsigned char)(0x80 | (len >> 8));
    u[1] = (unsigned char)(len & 0xff);
    memcpy(u + 2, data, len);
    u[2 + len] = (unsigned char)(len & 0xff);
    u[3 + len] = (unsigned char)(0x80 | (len >> 8));
    return (uint32_t)len + 4;
}

/* Reads the var entry starting at p: sets *data and *len, returns its size. */
static uint32_t
vq_var_get(const char *p, const char **data, size_t *len)
{
    const unsigned char *u = (const unsigned char *)p;

    if (u[0] & 0x80) {
        *len = ((size_t)(u[0] & 0x7f) << 8) | u[1];
        *data = p + 2;
        return (uint32_t)*len + 4;
    }
    *len = u[0];
    *data = p + 1;
    return (uint32_t)*len + 2;
}

/* The size of the var entry that ends at e. */
static uint32_t
vq_var_before(const char *e)
{
    const unsigned char *u = (const unsigned char *)e;

    if (u[-1] & 0x80)
        return (uint32_t)((((size_t)(u[-1] & 0x7f) << 8) | u[-2]) + 4);
    return (uint32_t)u[-1] + 2;
}

/* 1 if v may be packed: in memory, no metadata, small. */
static int
vq_packable(const struct value *v)
{
    return v->v_metalen == 0 && !(v->v_flags & VALUE_SPOOLED) && v->v_len <= VQ_PACK_MAX;
}

/* Returns an empty block with at least size data bytes (the spare if it fits). */
static struct vq_block *
vq_block_new(struct vqueue *q, enum vq_kind kind, int64_t desc, uint32_t width,
             uint32_t size)
{
    struct vq_block *b = q->q_spare;

    if (b != NULL && b->b_size >= size) {
        q->q_spare = NULL;
    } else {
        b = xmalloc(sizeof(*b) + size);
        b->b_size = size;
        srv.mem_used += sizeof(*b) + size;
    }
    b->b_seq = 0;
    b->b_desc = desc;
    b->b_head = b->b_tail = b->b_count = 0;
    b->b_kind = kind;
    b->b_width = width;
    return b;
}

/* Releases an emptied block: kept as the spare if small, else freed. */
static void
vq_block_free(struct vqueue *q, struct vq_block *b)
{
    if (q->q_spare == NULL && b->b_size <= VQ_SPARE_MAX) {
        q->q_spare = b;
        return;
    }
    srv.mem_used -= sizeof(*b) + b->b_size;
    free(b);
}

/* Appends b to the ring, after the last block's entries. */
static void
vq_ring_push(struct vqueue *q, struct vq_block *b)
{
    struct vq_block **ring;
    size_t            cap, k;

    if (q->q_nblocks > 0) {
        struct vq_block *last = vq_blk(q, q->q_nblocks - 1);

        b->b_seq = last->b_seq + last->b_count;
    }
    if (q->q_nblocks == q->q_bcap) {
        cap = q->q_bcap ? q->q_bcap * 2 : 4;
        ring = xcalloc(cap, sizeof(*ring));
        for (k = 0; k < q->q_nblocks; k++)
            ring[k] = vq_blk(q, k);
        free(q->q_blocks);
        q->q_blocks = ring;
        q->q_bcap = cap;
        q->q_bhead = 0;
    }
    q->q_nblocks++;
    vq_set_blk(q, q->q_nblocks - 1, b);
}

/* After the queue empties: a ring that grew large is freed, as before. */
static void
vq_ring_shrink(struct vqueue *q)
{
    if (q->q_nblocks == 0 && q->q_bcap > 64) {
        free(q->q_blocks);
        q->q_blocks = NULL;
        q->q_bcap = 0;
        q->q_bhead = 0;
    }
}

/*
 * Makes room for need more bytes at the tail of the last block b: in place,
 * by moving its live bytes to the front when that frees at least half of
 * it, or by growing it (doubling, up to VQ_DATA_MAX).  Returns the block
 * (perhaps moved), or NULL if it cannot hold them.
 */
static struct vq_block *
vq_room(struct vqueue *q, struct vq_block *b, uint32_t need)
{
    uint32_t         live = b->b_tail - b->b_head, size;
    struct vq_block *nb;

    if (b->b_count == UINT32_MAX)
        return NULL;
    if (need <= b->b_size - b->b_tail)
        return b;
    if (b->b_head > 0 && live <= b->b_size / 2 && need <= b->b_size - live) {
        memmove(b->b_data, b->b_data + b->b_head, live);
        b->b_head = 0;
        b->b_tail = live;
        return b;
    }
    if (b->b_size >= VQ_DATA_MAX || need > VQ_DATA_MAX - live)
        return NULL;
    for (size = b->b_size * 2; size < live + need; size *= 2)
        ;
    if (size > VQ_DATA_MAX)
        size = VQ_DATA_MAX;
    nb = xmalloc(sizeof(*nb) + size);
    memcpy(nb, b, sizeof(*nb));
    memcpy(nb->b_data, b->b_data + b->b_head, live);
    nb->b_size = size;
    nb->b_head = 0;
    nb->b_tail = live;
    srv.mem_used += size - b->b_size;
    free(b);
    vq_set_blk(q, q->q_nblocks - 1, nb);
    return nb;
}

/* Data bytes for a new block that starts with need bytes, after prev. */
static uint32_t
vq_first_size(const struct vq_block *prev, enum vq_kind kind, int64_t desc, uint32_t width,
              uint32_t need)
{
    uint32_t size = VQ_DATA_MIN;

    /* A long run goes on: start where the last block ended, at full size. */
    if (prev != NULL && prev->b_kind == (uint32_t)kind && prev->b_desc == desc &&
        prev->b_width == width && prev->b_size == VQ_DATA_MAX)
        return VQ_DATA_MAX;
    while (size < need)
        size *= 2;
    return size < VQ_DATA_MAX ? size : VQ_DATA_MAX;
}

/* Appends a new last block and returns it. */
static struct vq_block *
vq_append_block(struct vqueue *q, enum vq_kind kind, int64_t desc, uint32_t width,
                uint32_t need)
{
    struct vq_block *prev = q->q_nblocks > 0 ? vq_blk(q, q->q_nblocks - 1) : NULL;
    struct vq_block *b;

    b = vq_block_new(q, kind, desc, width, vq_first_size(prev, kind, desc, width, need));
    vq_ring_push(q, b);
    return b;
}

/*
 * Rewrites the last block b, a short fixed run, as a var block with room
 * for need more bytes; returns it, or NULL if it would not fit one block.
 */
static struct vq_block *
vq_to_var(struct vqueue *q, struct vq_block *b, uint32_t need)
{
    struct vq_block *nb;
    uint32_t         bytes = b->b_count * vq_var_size(b->b_width) + need, size, i;

    if (bytes > VQ_DATA_MAX)
        return NULL;
    for (size = VQ_DATA_MIN; size < bytes; size *= 2)
        ;
    if (size > VQ_DATA_MAX)
        size = VQ_DATA_MAX;
    nb = xmalloc(sizeof(*nb) + size);
    *nb = *b;
    nb->b_size = size;
    nb->b_kind = VQB_VAR;
    nb->b_width = 0;
    nb->b_head = nb->b_tail = 0;
    for (i = 0; i < b->b_count; i++)
        nb->b_tail += vq_var_put(nb->b_data + nb->b_tail,
                                 b->b_data + b->b_head + (size_t)i * b->b_width, b->b_width);
    srv.mem_used += size;
    srv.mem_used -= b->b_size;
    free(b);
    vq_set_blk(q, q->q_nblocks - 1, nb);
    return nb;
}

/* vqueue_push past its fast path: any block kind, any room. */
static __attribute__((noinline)) void
vq_push_slow(struct vqueue *q, struct value *v)
{
    struct vq_block *b = q->q_nblocks > 0 ? vq_blk(q, q->q_nblocks - 1) : NULL;
    uint32_t         len = (uint32_t)v->v_len, need;

    if (q->q_len < VQ_PACK_AFTER || !vq_packable(v)) {
        if (b == NULL || b->b_kind != VQB_REFS || (b = vq_room(q, b, VQ_REF_SIZE)) == NULL)
            b = vq_append_block(q, VQB_REFS, 0, VQ_REF_SIZE, VQ_REF_SIZE);
        value_ref(v);
        memcpy(b->b_data + b->b_tail, &v, VQ_REF_SIZE);
        b->b_tail += VQ_REF_SIZE;
    } else if (b != NULL && b->b_kind == VQB_FIXED && b->b_desc == v->v_desc &&
               b->b_width == len && (b = vq_room(q, b, len)) != NULL) {
        memcpy(b->b_data + b->b_tail, value_data(v), len);
        b->b_tail += len;
    } else {
        /* Not a fixed run that goes on (b may be NULL now): look again. */
        struct vq_block *last = q->q_nblocks > 0 ? vq_blk(q, q->q_nblocks - 1) : NULL;

        need = vq_var_size(len);
        b = NULL;
        if (last != NULL && last->b_desc == v->v_desc && last->b_kind == VQB_VAR)
            b = vq_room(q, last, need);
        else if (last != NULL && last->b_desc == v->v_desc && last->b_kind == VQB_FIXED &&
                 last->b_width != len && last->b_count < VQ_RUN_MIN)
            b = vq_to_var(q, last, need);
        if (b != NULL) {
            b->b_tail += vq_var_put(b->b_data + b->b_tail, value_data(v), len);
        } else {
            b = vq_append_block(q, VQB_FIXED, v->v_desc, len, len);
            memcpy(b->b_data + b->b_tail, value_data(v), len);
            b->b_tail += len;
        }
    }
    b->b_count++;
    q->q_len++;
}

/* Appends v (borrowed): packed if it may be, else with a new reference. */
void
vqueue_push(struct vqueue *q, struct value *v)
{
    struct vq_block *b;

    /* The common case, kept small: a short queue with room in its last block. */
    if (q->q_len < VQ_PACK_AFTER && q->q_nblocks > 0 &&
        (b = vq_blk(q, q->q_nblocks - 1))->b_kind == VQB_REFS &&
        VQ_REF_SIZE <= b->b_size - b->b_tail) {
        value_ref(v);
        memcpy(b->b_data + b->b_tail, &v, VQ_REF_SIZE);
        b->b_tail += VQ_REF_SIZE;
        b->b_count++;
        q->q_len++;
        return;
    }
    vq_push_slow(q, v);
}

/* Makes room for one more block before the first one of the ring. */
static void
vq_ring_unshift(struct vqueue *q, struct vq_block *b)
{
    struct vq_block **ring;
    size_t            cap, k;

    if (q->q_nblocks == q->q_bcap) {
        cap = q->q_bcap ? q->q_bcap * 2 : 4;
        ring = xcalloc(cap, sizeof(*ring));
        for (k = 0; k < q->q_nblocks; k++)
            ring[k] = vq_blk(q, k);
        free(q->q_blocks);
        q->q_blocks = ring;
        q->q_bcap = cap;
        q->q_bhead = 0;
    }
    q->q_bhead = (q->q_bhead + q->q_bcap - 1) & (q->q_bcap - 1);
    q->q_nblocks++;
    vq_set_blk(q, 0, b);
}

/*
 * Puts v (borrowed) back before the oldest value: a fetched value whose
 * reply never reached its client (requeue.c).  Rare, so simple: it is held
 * unpacked, in the first block if that holds references and has room at
 * its head, else in a new block of its own in front.  Sequence numbers are
 * shifted up first if the first block's would go below 0.
 */
void
vqueue_push_front(struct vqueue *q, struct value *v)
{
    struct vq_block *b = q->q_nblocks > 0 ? vq_blk(q, 0) : NULL;
    size_t           k;

    if (b == NULL) {
        vqueue_push(q, v);
        return;
    }
    if (b->b_seq == 0)
        for (k = 0; k < q->q_nblocks; k++)
            vq_blk(q, k)->b_seq += 1u << 20;
    if (b->b_kind != VQB_REFS || b->b_head < VQ_REF_SIZE) {
        struct vq_block *nb = vq_block_new(q, VQB_REFS, 0, VQ_REF_SIZE, VQ_DATA_MIN);

        /* Filled from its end, so that further values fit in front too. */
        nb->b_head = nb->b_tail = nb->b_size - nb->b_size % VQ_REF_SIZE;
        nb->b_seq = b->b_seq;
        vq_ring_unshift(q, nb);
        b = nb;
    }
    value_ref(v);
    b->b_head -= VQ_REF_SIZE;
    memcpy(b->b_data + b->b_head, &v, VQ_REF_SIZE);
    b->b_seq--;
    b->b_count++;
    q->q_len++;
}

/* The offset of entry j (0 = first live) of block b. */
static uint32_t
vq_offset(const struct vq_block *b, uint32_t j)
{
    const char *d;
    size_t      len;
    uint32_t    off, k;

    if (b->b_kind != VQB_VAR)
        return b->b_head + j * b->b_width;
    if (j < b->b_count / 2) {
        for (off = b->b_head, k = 0; k < j; k++)
            off += vq_var_get(b->b_data + off, &d, &len);
    } else {
        for (off = b->b_tail, k = b->b_count; k > j; k--)
            off -= vq_var_before(b->b_data + off);
    }
    return off;
}

/* The entry at offset off of b: its bytes and length (packed), or its value. */
static struct value *
vq_entry(const struct vq_block *b, uint32_t off, const char **data, size_t *len)
{
    struct value *v;

    switch (b->b_kind) {
    case VQB_REFS:
        memcpy(&v, b->b_data + off, VQ_REF_SIZE);
        return v;
    case VQB_FIXED:
        *data = b->b_data + off;
        *len = b->b_width;
        return NULL;
    default:
        (void)vq_var_get(b->b_data + off, data, len);
        return NULL;
    }
}

/* A new reference to the entry at offset off of b (a fresh value if packed). */
static struct value *
vq_materialize(const struct vq_block *b, uint32_t off)
{
    const char   *data = NULL;
    size_t        len = 0;
    struct value *v = vq_entry(b, off, &data, &len);

    if (v != NULL)
        return value_ref(v);
    v = value_new_text(data, len);
    v->v_desc = b->b_desc;
    return v;
}

/* Finds position i (< q_len): its block and its offset there. */
static struct vq_block *
vq_locate(const struct vqueue *q, size_t i, uint32_t *off)
{
    struct vq_block *b = vq_blk(q, 0), *last;
    uint64_t         seq;
    size_t           lo, hi, mid;

    if (i >= b->b_count) {
        seq = b->b_seq + i;
        last = vq_blk(q, q->q_nblocks - 1);
        if (seq >= last->b_seq) {
            b = last;
        } else {
            /* The block is among 1 .. nblocks-2: the last with b_seq <= seq. */
            lo = 1;
            hi = q->q_nblocks - 2;
            while (lo < hi) {
                mid = lo + (hi - lo + 1) / 2;
                if (vq_blk(q, mid)->b_seq <= seq)
                    lo = mid;
                else
                    hi = mid - 1;
            }
            b = vq_blk(q, lo);
        }
        i = (size_t)(seq - b->b_seq);
    }
    *off = vq_offset(b, (uint32_t)i);
    return b;
}

/* Returns a new reference to the value at position i (0 = oldest; i < q_len). */
struct value *
vqueue_get(const struct vqueue *q, size_t i)
{
    uint32_t         off;
    struct vq_block *b = vq_locate(q, i, &off);

    return vq_materialize(b, off);
}

/*
 * The value at position i (< q_len), borrowed: a stored value, or for a
 * packed one a scratch copy that lives until the next vqueue_peek.  Never
 * take a reference to it.
 */
const struct value *
vqueue_peek(const struct vqueue *q, size_t i)
{
    uint32_t         off;
    struct vq_block *b = vq_locate(q, i, &off);
    const char      *data = NULL;
    size_t           len = 0;
    struct value    *v = vq_entry(b, off, &data, &len);

    if (v != NULL)
        return v;
    if (vq_scratch == NULL)
        vq_scratch = xmalloc(sizeof(*vq_scratch) + VQ_PACK_MAX);
    vq_scratch->v_refs = 1;
    vq_scratch->v_flags = 0;
    vq_scratch->v_desc = b->b_desc;
    vq_scratch->v_len = len;
    vq_scratch->v_metalen = 0;
    vq_scratch->v_fd = -1;
    memcpy(vq_scratch->v_buf, data, len);
    return vq_scratch;
}

/* 1 if the value at position i (< q_len) is packed; for tests. */
int
vqueue_is_packed(const struct vqueue *q, size_t i)
{
    uint32_t off;

    return vq_locate(q, i, &off)->b_kind != VQB_REFS;
}

/* Blocks in the ring; for tests. */
size_t
vqueue_nblocks(const struct vqueue *q)
{
    return q->q_nblocks;
}

/* Takes the first value off: a new reference if want, else it is released. */
static __attribute__((noinline)) struct value *
vq_take_front(struct vqueue *q, int want)
{
    struct vq_block *b = vq_blk(q, 0);
    struct value    *v = NULL;
    const char      *d;
    size_t           len;

    if (b->b_kind == VQB_REFS) {
        memcpy(&v, b->b_data + b->b_head, VQ_REF_SIZE);
        if (!want) {
            value_unref(v);
            v = NULL;
        }
        b->b_head += VQ_REF_SIZE;
    } else {
        if (want)
            v = vq_materialize(b, b->b_head);
        b->b_head += b->b_kind == VQB_FIXED ? b->b_width
                                            : vq_var_get(b->b_data + b->b_head, &d, &len);
    }
    b->b_seq++;
    q->q_len--;
    if (--b->b_count == 0) {
        q->q_bhead = (q->q_bhead + 1) & (q->q_bcap - 1);
        q->q_nblocks--;
        vq_block_free(q, b);
        vq_ring_shrink(q);
    }
    return v;
}

/* Removes the oldest value (q_len > 0) and returns a new reference to it. */
struct value *
vqueue_pop_front(struct vqueue *q)
{
    struct vq_block *b = vq_blk(q, 0);
    struct value    *v;

    /* The common case, kept small: an unpacked value, its block not emptied. */
    if (b->b_kind == VQB_REFS && b->b_count > 1) {
        memcpy(&v, b->b_data + b->b_head, VQ_REF_SIZE);
        b->b_head += VQ_REF_SIZE;
        b->b_seq++;
        b->b_count--;
        q->q_len--;
        return v;
    }
    return vq_take_front(q, 1);
}

/* Removes the oldest value (q_len > 0) without looking at it. */
void
vqueue_drop_front(struct vqueue *q)
{
    (void)vq_take_front(q, 0);
}

/* Removes the newest value (q_len > 0) and returns a new reference to it. */
struct value *
vqueue_pop_back(struct vqueue *q)
{
    struct vq_block *b = vq_blk(q, q->q_nblocks - 1);
    struct value    *v;

    switch (b->b_kind) {
    case VQB_REFS:
        b->b_tail -= VQ_REF_SIZE;
        memcpy(&v, b->b_data + b->b_tail, VQ_REF_SIZE);
        break;
    case VQB_FIXED:
        b->b_tail -= b->b_width;
        v = vq_materialize(b, b->b_tail);
        break;
    default:
        b->b_tail -= vq_var_before(b->b_data + b->b_tail);
        v = vq_materialize(b, b->b_tail);
        break;
    }
    q->q_len--;
    if (--b->b_count == 0) {
        q->q_nblocks--;
        vq_block_free(q, b);
        vq_ring_shrink(q);
    }
    return v;
}

/* Releases every value and block; the queue is empty (and reusable) after. */
void
vqueue_clear(struct vqueue *q)
{
    while (q->q_nblocks > 0) {
        struct vq_block *b = vq_blk(q, 0);
        struct value    *v;
        uint32_t         off;

        if (b->b_kind == VQB_REFS) {
            for (off = b->b_head; off < b->b_tail; off += VQ_REF_SIZE) {
                memcpy(&v, b->b_data + off, VQ_REF_SIZE);
                value_unref(v);
            }
        }
        q->q_bhead = (q->q_bhead + 1) & (q->q_bcap - 1);
        q->q_nblocks--;
        srv.mem_used -= sizeof(*b) + b->b_size;
        free(b);
    }
    if (q->q_spare != NULL) {
        srv.mem_used -= sizeof(*q->q_spare) + q->q_spare->b_size;
        free(q->q_spare);
    }
    free(q->q_blocks);
    memset(q, 0, sizeof(*q));
}
