/*
 * check_chaos.c -- allocation failure on the server's request paths
 * (issue "Trust under attack", item 9; jansson's test_chaos is the model).
 *
 * A whole server runs in this process (fuzz/fuzz_srv.c: connections are
 * in-memory bufferevent pairs).  A script of requests touching every kind
 * of reply (short, error, values copied and by reference, listings in
 * several pieces, mktemp text) is run once to count libevent's allocations,
 * then once per allocation with that one failing.  Every run must end with
 * the connection either answered in full or closed by the server (logged),
 * never left with a reply cut short, and with the memory accounting back
 * to zero (fuzz_srv_end checks it).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "fuzz.h"
#include "nwstest.h"
#include "server.h"

static long chaos_count;      /* allocations seen since armed */
static long chaos_fail_at;    /* fail this one (1-based); 0: none */
static int  chaos_armed, chaos_failed;

static void *
chaos_malloc(size_t n)
{
    if (chaos_armed && ++chaos_count == chaos_fail_at) {
        chaos_failed = 1;
        return NULL;
    }
    return malloc(n);
}

static void *
chaos_realloc(void *p, size_t n)
{
    if (chaos_armed && ++chaos_count == chaos_fail_at) {
        chaos_failed = 1;
        return NULL;
    }
    return realloc(p, n);
}

static void
chaos_free(void *p)
{
    free(p);
}

/* Appends one request (with the empty metadata dictionary first). */
static void
chaos_req(struct nwsp_buf *b, const char *const *argv, const size_t *lens, unsigned argc)
{
    char     num[32];
    unsigned i;

    nwsp_buf_add(b, "0000", 4);
    snprintf(num, sizeof(num), "%04u", argc);
    nwsp_buf_add(b, num, 4);
    for (i = 0; i < argc; i++) {
        size_t len = lens != NULL ? lens[i] : strlen(argv[i]);

        snprintf(num, sizeof(num), "%020zu", len);
        nwsp_buf_add(b, num, 20);
        nwsp_buf_add(b, argv[i], len);
    }
}

#define CHAOS_REQ(b, ...)                                                           \
    do {                                                                            \
        const char *const a_[] = {__VA_ARGS__};                                     \
        chaos_req((b), a_, NULL, sizeof(a_) / sizeof(a_[0]));                       \
    } while (0)

/* The script: every reply shape, and a listing larger than one piece. */
static void
chaos_script(struct nwsp_buf *b)
{
    static char big[10000], name[1001];
    size_t      lens[5];
    int         i;

    memset(big, 'v', sizeof(big));
    CHAOS_REQ(b, "open ws", "w", "me", "no");
    for (i = 0; i < 300; i++) {
        memset(name, 'n', 1000);
        snprintf(name + 992, 9, "%08u", (unsigned)i % 100000000u);
        CHAOS_REQ(b, "declare var", "w", name, "fifo");
    }
    {
        const char *const a[] = {"store", "w", "small", "3", "hello"};
        chaos_req(b, a, NULL, 5);
    }
    {
        const char *const a[] = {"store", "w", "big", "3", big};

        lens[0] = 5, lens[1] = 1, lens[2] = 3, lens[3] = 1, lens[4] = sizeof(big);
        chaos_req(b, a, lens, 5);
    }
    CHAOS_REQ(b, "list vars", "w");
    CHAOS_REQ(b, "list wss");
    CHAOS_REQ(b, "findTry", "w", "big");
    CHAOS_REQ(b, "findTry", "w", "small");
    CHAOS_REQ(b, "fetchTry", "w", "small");
    CHAOS_REQ(b, "fetchTry", "w", "nothing");
    CHAOS_REQ(b, "mktemp", "t%d");
    CHAOS_REQ(b, "no such verb");
    CHAOS_REQ(b, "list vars", "w");
}

/* One run failing allocation fail_at (0: none); returns the bytes replied. */
static size_t
chaos_run(const struct nwsp_buf *script, long fail_at, int *closed)
{
    size_t replied;

    fuzz_srv_begin(0);
    fuzz_srv_write(0, fuzz_hs_new, fuzz_hs_new_len);
    fuzz_srv_run();
    ck_assert_uint_eq(srv.nconns, 1);
    fuzz_srv_write(0, script->data, script->len);
    fuzz_srv_replied(0);
    chaos_count = 0;
    chaos_fail_at = fail_at;
    chaos_failed = 0;
    chaos_armed = 1;
    fuzz_srv_run();
    chaos_armed = 0;
    fuzz_srv_run();
    replied = fuzz_srv_replied(0);
    *closed = srv.nconns == 0;
    fuzz_srv_end();
    return replied;
}

START_TEST(every_allocation_failure_closes_cleanly)
{
    struct nwsp_buf script = {0};
    size_t          full, got;
    long            total, n;
    int             closed, nclosed = 0;

    event_set_mem_functions(chaos_malloc, chaos_realloc, chaos_free);
    chaos_script(&script);
    full = chaos_run(&script, 0, &closed);
    total = chaos_count;
    ck_assert_msg(!closed && full > 300 * 1000, "the script itself failed");
    ck_assert_msg(total > 10, "only %ld allocations: the hook is not in use", total);
    for (n = 1; n <= total; n++) {
        got = chaos_run(&script, n, &closed);
        ck_assert_msg(chaos_failed, "allocation %ld of %ld never came", n, total);
        if (closed) {
            nclosed++;
            ck_assert_msg(got < full, "allocation %ld: closed after every reply", n);
        } else {
            ck_assert_msg(got == full, "allocation %ld failed: %zu of %zu bytes replied "
                          "and the connection left open", n, got, full);
        }
    }
    ck_assert_msg(nclosed > 0, "no failure closed the connection: none hit a reply");
    nwsp_buf_free(&script);
}
END_TEST

NWSTEST_SUITE(chaos)
{
    Suite *s = suite_create("chaos");
    TCase *tc = tcase_create("alloc");

    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, every_allocation_failure_closes_cleanly);
    suite_add_tcase(s, tc);
    return s;
}
