/*
 * check_vqueue.c -- the packed value queue (server/vqueue.c) without sockets:
 * pushes and pops at both ends across block boundaries, packed and unpacked
 * values mixed, positional access, descriptor and length changes, huge
 * counts, memory accounting; then the variable modes on top of it.  A plain
 * array is the model every operation is checked against.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "nwstest.h"
#include "server.h"

/*
 * Check records every passing ck_assert (a write each); the loops below make
 * millions of checks, so they complain only when one fails.
 */
#define EXPECT(c)                                                                  \
    do {                                                                           \
        if (!(c))                                                                  \
            ck_abort_msg("%s:%d: expected %s", __FILE__, __LINE__, #c);            \
    } while (0)

/* One value of the model: what the queue must give back. */
struct mv {
    int64_t  desc;
    uint32_t len;
    int      meta;      /* stored with metadata: never packed */
    int      spooled;   /* spooled: never packed */
    unsigned seed;      /* the bytes are a function of seed */
};

/* The model: values [head, tail) of an array big enough for every push. */
struct model {
    struct mv *m_v;
    size_t     m_head, m_tail;
};

static void
vq_setup(void)
{
    memset(&srv, 0, sizeof(srv));
    srv.cfg.max_memory = 0;
}

static void
vq_teardown(void)
{
    ck_assert_uint_eq(srv.mem_used, 0);
}

static char
byte_of(unsigned seed, size_t i)
{
    return (char)((seed * 31u + (unsigned)i * 7u) & 0xff);
}

/* A value for m (one reference). */
static struct value *
make_value(const struct mv *m)
{
    struct value *v;
    size_t        i;
    int           fd;

    if (m->spooled) {
        fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
        EXPECT(fd >= 0);
        v = value_new_spooled(m->desc, NULL, 0, m->len, fd);
        EXPECT(v != NULL);
        return v;
    }
    v = value_new(m->desc, m->meta ? "0001a0001b" : NULL, m->meta ? 10 : 0, m->len);
    EXPECT(v != NULL);
    for (i = 0; i < m->len; i++)
        value_data(v)[i] = byte_of(m->seed, i);
    return v;
}

/* Checks that v is what m describes. */
static void
check_value(const struct value *v, const struct mv *m)
{
    size_t i;

    EXPECT(v != NULL);
    EXPECT(v->v_desc == m->desc);
    EXPECT(v->v_len == m->len);
    EXPECT(v->v_metalen == (m->meta ? 10u : 0u));
    EXPECT(!!(v->v_flags & VALUE_SPOOLED) == m->spooled);
    if (m->spooled)
        return;
    for (i = 0; i < m->len; i++)
        EXPECT(value_data(v)[i] == byte_of(m->seed, i));
}

static void
model_init(struct model *md, size_t cap)
{
    md->m_v = calloc(cap, sizeof(*md->m_v));
    EXPECT(md->m_v != NULL);
    md->m_head = md->m_tail = 0;
}

static void
push(struct vqueue *q, struct model *md, struct mv m)
{
    struct value *v = make_value(&m);

    vqueue_push(q, v);
    value_unref(v);
    md->m_v[md->m_tail++] = m;
    EXPECT(q->q_len == md->m_tail - md->m_head);
}

static void
pop_front(struct vqueue *q, struct model *md)
{
    struct value *v = vqueue_pop_front(q);

    check_value(v, &md->m_v[md->m_head++]);
    value_unref(v);
    EXPECT(q->q_len == md->m_tail - md->m_head);
}

static void
pop_back(struct vqueue *q, struct model *md)
{
    struct value *v = vqueue_pop_back(q);

    check_value(v, &md->m_v[--md->m_tail]);
    value_unref(v);
    EXPECT(q->q_len == md->m_tail - md->m_head);
}

/* Checks position i through both vqueue_get and vqueue_peek. */
static void
check_at(const struct vqueue *q, const struct model *md, size_t i)
{
    struct value *v = vqueue_get(q, i);

    check_value(v, &md->m_v[md->m_head + i]);
    value_unref(v);
    check_value(vqueue_peek(q, i), &md->m_v[md->m_head + i]);
}

static void
check_all(const struct vqueue *q, const struct model *md)
{
    size_t i;

    EXPECT(q->q_len == md->m_tail - md->m_head);
    for (i = 0; i < q->q_len; i++)
        check_at(q, md, i);
}

static struct mv
mv16(unsigned seed)
{
    struct mv m = {NWSP_DESC_DIRECT_STRING, 16, 0, 0, seed};

    return m;
}

START_TEST(fifo_many_small_values_are_packed)
{
    struct vqueue q;
    struct model  md;
    size_t        i, n = 5000;

    memset(&q, 0, sizeof(q));
    model_init(&md, n);
    for (i = 0; i < n; i++)
        push(&q, &md, mv16((unsigned)i));
    /* The first few stay unpacked (a short queue), the rest are packed. */
    ck_assert_int_eq(vqueue_is_packed(&q, 0), 0);
    ck_assert_int_eq(vqueue_is_packed(&q, VQ_PACK_AFTER - 1), 0);
    ck_assert_int_eq(vqueue_is_packed(&q, VQ_PACK_AFTER), 1);
    ck_assert_int_eq(vqueue_is_packed(&q, n - 1), 1);
    /* About 500 values of 16 bytes in a block of 8 KiB. */
    ck_assert_uint_le(vqueue_nblocks(&q), n / 400 + 2);
    ck_assert_uint_le(srv.mem_used, n * 17 + 2 * 8192);
    check_all(&q, &md);
    for (i = 0; i < n; i++)
        pop_front(&q, &md);
    ck_assert_uint_eq(vqueue_nblocks(&q), 0);
    vqueue_clear(&q);
    free(md.m_v);
}
END_TEST

START_TEST(lifo_pops_across_blocks)
{
    struct vqueue q;
    struct model  md;
    size_t        i, n = 3000;

    memset(&q, 0, sizeof(q));
    model_init(&md, 2 * n);
    for (i = 0; i < n; i++)
        push(&q, &md, mv16((unsigned)i));
    for (i = 0; i < n / 2; i++)
        pop_back(&q, &md);
    check_all(&q, &md);
    for (i = 0; i < n / 2; i++)
        push(&q, &md, mv16((unsigned)(i + 7777)));
    check_all(&q, &md);
    while (q.q_len > 0)
        pop_back(&q, &md);
    ck_assert_uint_eq(vqueue_nblocks(&q), 0);
    vqueue_clear(&q);
    free(md.m_v);
}
END_TEST

START_TEST(lengths_and_descriptors_change)
{
    struct vqueue q;
    struct model  md;
    size_t        i, n = 4000;
    struct mv     m;

    memset(&q, 0, sizeof(q));
    model_init(&md, n);
    for (i = 0; i < n; i++) {
        m = mv16((unsigned)i);
        if (i < 1000)
            m.len = (uint32_t)(i % 40);            /* every length differs: var blocks */
        else if (i < 2000)
            m.len = (uint32_t)((i / 100) % 3) * 200;   /* runs, some of 0 and 2-byte frames */
        else if (i < 3000)
            m.desc = (int64_t)(i / 7);             /* descriptor runs of 7 */
        else
            m.len = (uint32_t)(i % 2 ? VQ_PACK_MAX : 127 + i % 3);   /* frame edges */
        push(&q, &md, m);
    }
    check_all(&q, &md);
    /* Take from both ends alternately, checking the middle as it shrinks. */
    for (i = 0; q.q_len > 0; i++) {
        if (i % 2)
            pop_front(&q, &md);
        else
            pop_back(&q, &md);
        if (i % 97 == 0 && q.q_len > 0)
            check_at(&q, &md, q.q_len / 2);
    }
    vqueue_clear(&q);
    free(md.m_v);
}
END_TEST

START_TEST(mixed_packed_and_unpacked)
{
    struct vqueue q;
    struct model  md;
    size_t        i, n = 3000;
    struct mv     m;

    memset(&q, 0, sizeof(q));
    model_init(&md, n);
    for (i = 0; i < n; i++) {
        m = mv16((unsigned)i);
        if (i % 5 == 0)
            m.meta = 1;
        else if (i % 11 == 0)
            m.spooled = 1;
        else if (i % 13 == 0)
            m.len = VQ_PACK_MAX + 1 + (uint32_t)i % 3000;
        push(&q, &md, m);
    }
    check_all(&q, &md);
    /* Packed: small values without metadata, once the queue is not short. */
    for (i = 0; i < n; i++)
        EXPECT(vqueue_is_packed(&q, i) ==
               (i >= VQ_PACK_AFTER && i % 5 != 0 && i % 11 != 0 && i % 13 != 0));
    for (i = 0; i < n / 3; i++)
        pop_front(&q, &md);
    for (i = 0; i < n / 3; i++)
        pop_back(&q, &md);
    check_all(&q, &md);
    /* Unpacked values the queue still holds are released by clear. */
    vqueue_clear(&q);
    ck_assert_uint_eq(q.q_len, 0);
    free(md.m_v);
}
END_TEST

/* A seeded mix of every operation, checked against the model. */
START_TEST(random_operations)
{
    struct vqueue q;
    struct model  md;
    size_t        i, n = 60000;
    unsigned      r = 12345u + (unsigned)_i;
    struct mv     m;

    memset(&q, 0, sizeof(q));
    model_init(&md, n);
    for (i = 0; i < n; i++) {
        unsigned op;

        r = r * 1103515245u + 12345u;
        op = (r >> 16) % 100;
        if (op < 55 || q.q_len == 0) {
            m = mv16((unsigned)i);
            switch ((r >> 8) % 8) {
            case 0: m.len = (r >> 4) % 300; break;
            case 1: m.desc = (r >> 20) % 3; break;
            case 2: m.meta = (r >> 12) % 4 == 0; break;
            case 3: m.len = 0; break;
            default: break;
            }
            push(&q, &md, m);
        } else if (op < 75) {
            pop_front(&q, &md);
        } else if (op < 95) {
            pop_back(&q, &md);
        } else {
            check_at(&q, &md, (r >> 3) % q.q_len);
        }
    }
    check_all(&q, &md);
    vqueue_clear(&q);
    free(md.m_v);
}
END_TEST

START_TEST(huge_counts)
{
    struct vqueue q;
    struct model  md;
    size_t        i, n = 1000000, zeros = 500000;
    uint64_t      before;
    struct mv     m;

    memset(&q, 0, sizeof(q));
    model_init(&md, n + zeros);
    for (i = 0; i < n; i++)
        push(&q, &md, mv16((unsigned)i));
    /* Packed: close to the 16 data bytes a value, not 72. */
    ck_assert_uint_le(srv.mem_used, n * 165 / 10);
    before = srv.mem_used;
    m = mv16(0);
    m.len = 0;
    for (i = 0; i < zeros; i++)
        push(&q, &md, m);
    /* Empty values of one descriptor cost nothing. */
    ck_assert_uint_le(srv.mem_used - before, 8192);
    for (i = 0; i < 2000; i++)
        check_at(&q, &md, (i * 7919u) % q.q_len);
    check_at(&q, &md, q.q_len - 1);
    for (i = 0; i < n / 2; i++)
        pop_front(&q, &md);
    for (i = 0; i < zeros + 10; i++)
        pop_back(&q, &md);
    for (i = 0; i < 1000; i++)
        check_at(&q, &md, (i * 104729u) % q.q_len);
    vqueue_clear(&q);
    free(md.m_v);
}
END_TEST

/* A short fifo (store, then fetch) keeps reusing one small block. */
START_TEST(short_queue_reuses_its_block)
{
    struct vqueue q;
    struct model  md;
    size_t        i;
    uint64_t      used;

    memset(&q, 0, sizeof(q));
    model_init(&md, 2000);
    push(&q, &md, mv16(1));
    pop_front(&q, &md);
    used = srv.mem_used;
    for (i = 0; i < 999; i++) {
        push(&q, &md, mv16((unsigned)i));
        pop_front(&q, &md);
        ck_assert_uint_eq(srv.mem_used, used);
    }
    vqueue_clear(&q);
    free(md.m_v);
}
END_TEST

/* Variables on top: modes, iteration indices and listings over packed values. */
static struct value *
txt(const char *s)
{
    struct value *v = value_new(NWSP_DESC_DIRECT_STRING, NULL, 0, strlen(s));

    ck_assert_ptr_nonnull(v);
    memcpy(value_data(v), s, strlen(s));
    return v;
}

static void
got_is(struct var *var, int remove, int64_t idx, const char *want, uint64_t want_index)
{
    struct var_got got;

    ck_assert_int_eq(var_get(var, remove, 0, idx, NULL, &got), VAR_OK);
    ck_assert_uint_eq(got.value->v_len, strlen(want));
    ck_assert_int_eq(memcmp(value_data(got.value), want, strlen(want)), 0);
    ck_assert_uint_eq(got.index, want_index);
    value_unref(got.value);
}

START_TEST(var_modes_over_packed_values)
{
    struct ws     *ws;
    struct var    *fifo, *lifo;
    const char    *err;
    char           buf[32];
    int            i;
    struct var_got got;

    ws_init();
    ws = ws_create("t", 1);
    fifo = ws_var(ws, "f", 1);
    lifo = ws_var(ws, "l", 1);
    ck_assert_int_eq(var_declare(lifo, "lifo", 4), 0);
    for (i = 0; i < 2000; i++) {
        snprintf(buf, sizeof(buf), "v%d", i);
        ck_assert_int_eq(var_store(fifo, txt(buf), NULL, &err), 0);
        ck_assert_int_eq(var_store(lifo, txt(buf), NULL, &err), 0);
    }
    ck_assert_int_eq(vqueue_is_packed(&fifo->var_values, 1999), 1);
    /* ifind walks the fifo by index; the web listing sees the same values. */
    got_is(fifo, 0, -1, "v0", 0);
    got_is(fifo, 0, 1000, "v1001", 1001);
    snprintf(buf, sizeof(buf), "%.*s", (int)var_value_at(fifo, 1500)->v_len,
             value_data(var_value_at(fifo, 1500)));
    ck_assert_str_eq(buf, "v1500");
    ck_assert_ptr_null(var_value_at(fifo, 2000));
    for (i = 0; i < 1200; i++) {
        snprintf(buf, sizeof(buf), "v%d", i);
        got_is(fifo, 1, -1, buf, (uint64_t)i);
    }
    got_is(fifo, 0, 1500, "v1501", 1501);
    ck_assert_int_eq(var_get(fifo, 0, 0, 1999, NULL, &got), VAR_BLOCK);
    got_is(lifo, 0, -1, "v1999", 0);
    for (i = 1999; i >= 1000; i--) {
        snprintf(buf, sizeof(buf), "v%d", i);
        got_is(lifo, 1, -1, buf, 0);
    }
    ck_assert_uint_eq(var_nvalues(lifo), 1000);
    /* Purging releases packed blocks and unpacked values alike. */
    ws_var_delete(ws, lifo);
    ws_shutdown();
}
END_TEST

/* A waiting fetcher takes the value itself: nothing is queued or packed. */
struct grab {
    struct waiter w;
    struct value *v;
};

static void
grab_deliver(struct waiter *w, struct value *v, uint64_t index)
{
    (void)index;
    ((struct grab *)w)->v = value_ref(v);
}

static void
grab_fail(struct waiter *w, const char *reason)
{
    (void)w;
    (void)reason;
}

START_TEST(waiting_fetcher_gets_the_stored_value)
{
    struct ws    *ws;
    struct var   *var;
    struct grab   g;
    struct value *v;
    const char   *err;
    int           i;

    ws_init();
    ws = ws_create("t", 1);
    var = ws_var(ws, "x", 1);
    for (i = 0; i < 20; i++)
        var_store(var, txt("0123456789abcdef"), NULL, &err);
    while (var_nvalues(var) > 0) {
        struct var_got got;

        ck_assert_int_eq(var_get(var, 1, 1, -1, NULL, &got), VAR_OK);
        value_unref(got.value);
    }
    memset(&g, 0, sizeof(g));
    g.w.w_deliver = grab_deliver;
    g.w.w_fail = grab_fail;
    waiter_park(&g.w, var, 1);
    v = txt("direct");
    value_ref(v);
    var_store(var, v, NULL, &err);
    ck_assert_ptr_eq(g.v, v);
    ck_assert_uint_eq(var_nvalues(var), 0);
    ck_assert_uint_eq(var->var_base, 21);
    value_unref(g.v);
    value_unref(v);
    ws_shutdown();
}
END_TEST

NWSTEST_SUITE(vqueue)
{
    Suite *s = suite_create("vqueue");
    TCase *tc = tcase_create("queue");

    tcase_add_checked_fixture(tc, vq_setup, vq_teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, fifo_many_small_values_are_packed);
    tcase_add_test(tc, lifo_pops_across_blocks);
    tcase_add_test(tc, lengths_and_descriptors_change);
    tcase_add_test(tc, mixed_packed_and_unpacked);
    tcase_add_loop_test(tc, random_operations, 0, 4);
    tcase_add_test(tc, huge_counts);
    tcase_add_test(tc, short_queue_reuses_its_block);
    suite_add_tcase(s, tc);
    tc = tcase_create("var");
    tcase_add_checked_fixture(tc, vq_setup, vq_teardown);
    tcase_add_test(tc, var_modes_over_packed_values);
    tcase_add_test(tc, waiting_fetcher_gets_the_stored_value);
    suite_add_tcase(s, tc);
    return s;
}
