/*
 * check_proto_large.c -- long values (nws-protocol.md section 9): a 100 MiB
 * value streamed in and out intact while other clients keep being served,
 * values spooled to temp files (--spool-threshold) and those files going
 * away with the values (Q11 fixed), and clients dropping mid-transfer.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "ptest.h"
#include "util.h"

#define BIG_SIZE  (100ULL * 1024 * 1024)
#define BIG_CHUNK (256 * 1024)

/* Streams a store of n pattern bytes (from offset off) with descriptor 3; returns the
 * digest. */
static uint64_t
big_store(struct rawc *c, const char *meta, const char *ws, const char *var, uint64_t n,
          uint64_t off)
{
    const char *argv[4] = {"store", ws, var, "3"};
    size_t      lens[4] = {5, strlen(ws), strlen(var), 1};
    char       *buf = malloc(BIG_CHUNK);
    uint64_t    done, h = PTEST_FNV_INIT;
    size_t      k;

    ck_assert_ptr_nonnull(buf);
    PT_RC(c, rawc_send_head(c, meta, 5, argv, lens, n));
    for (done = 0; done < n; done += k) {
        k = n - done < BIG_CHUNK ? (size_t)(n - done) : BIG_CHUNK;
        ptest_pattern(buf, k, off + done);
        h = ptest_fnv(h, buf, k);
        PT_RC(c, rawc_write(c, buf, k));
    }
    free(buf);
    return h;
}

/* Reads a pending long reply's value in chunks; checks its length and returns the digest.
 */
static uint64_t
big_read(int line, struct rawc *c, uint64_t n, const char *meta)
{
    struct rawc_reply r;
    char             *buf = malloc(BIG_CHUNK);
    uint64_t          done, h = PTEST_FNV_INIT;
    size_t            k;
    char              esc[300];

    ck_assert_ptr_nonnull(buf);
    ptest_rc(line, c, rawc_read_long_head(c, &r));
    ck_assert_msg(
        r.status == 0 && r.desc == 3 && r.len == n,
        "line %d: expected status 0, descriptor 3, %llu bytes; got %d, %lld, %llu", line,
        (unsigned long long)n, r.status, (long long)r.desc, (unsigned long long)r.len);
    if (c->meta_from && meta != NULL)
        ck_assert_msg(rawc_dict_equal(r.meta, r.meta_len, meta, strlen(meta)),
                      "line %d: metadata \"%s\"", line,
                      rawc_escape(esc, sizeof(esc), r.meta, r.meta_len));
    for (done = 0; done < n; done += k) {
        k = n - done < BIG_CHUNK ? (size_t)(n - done) : BIG_CHUNK;
        ptest_rc(line, c, rawc_read(c, buf, k));
        c->trace_len = 0;
        h = ptest_fnv(h, buf, k);
    }
    rawc_reply_free(&r);
    free(buf);
    return h;
}

START_TEST(hundred_mib_value)
{
    struct nwstest_server *s = ptest_start(NULL);
    struct rawc            a, b, o;
    struct rawc_reply      r;
    char                  *m = rawc_dict_new("k", "big", NULL);
    uint64_t               want, got;
    long long              t0;

    PT_OPEN(&a, s->port, RAWC_META);
    PT_OPEN(&b, s->port, RAWC_PLAIN);
    PT_OPEN(&o, s->port, RAWC_PLAIN);
    PT_OK(&a, "use ws", "w", "", "no");
    PT_OK(&b, "use ws", "w", "", "no");
    PT_OK(&o, "use ws", "w", "", "no");
    want = big_store(&a, m, "w", "big", BIG_SIZE, 0);
    PT_RC(&a, rawc_read_short(&a, &r));
    PT_IS_SHORT(&a, &r, 0, NULL);
    rawc_reply_free(&r);
    /* Over the default 16 MiB threshold: it lives in a temp file. */
    ck_assert_int_ge(ptest_spool_files(s, (long long)BIG_SIZE, NULL), 1);
    /* b asks for it and reads nothing yet; o must still be served meanwhile. */
    PT_RC(&b, rawc_sendv(&b, NULL, "find", "w", "big", NULL));
    usleep(100000);
    t0 = (long long)nwsp_mono_ms();
    PT_OK(&o, "store", "w", "small", "1", "s");
    PT_VALUE(&o, "s", "fetch", "w", "small");
    ck_assert_msg((long long)nwsp_mono_ms() - t0 < 2000,
                  "a slow reader blocked the server for %lld ms",
                  (long long)nwsp_mono_ms() - t0);
    got = big_read(__LINE__, &b, BIG_SIZE, NULL);
    ck_assert_msg(got == want, "find: the 100 MiB value came back different");
    /* fetch on a metadata connection, then the value is gone. */
    PT_RC(&a, rawc_sendv(&a, NULL, "fetch", "w", "big", NULL));
    got = big_read(__LINE__, &a, BIG_SIZE, m);
    ck_assert_msg(got == want, "fetch: the 100 MiB value came back different");
    PT_NOVAL(&a, "fetchTry", "w", "big");
    ck_assert_msg(ptest_wait_spool(s, (long long)BIG_SIZE, 0) == 0,
                  "the temp file of a fetched value was not deleted");
    free(m);
    rawc_close(&a);
    rawc_close(&b);
    rawc_close(&o);
    ptest_stop(s);
}
END_TEST

START_TEST(spooled_value_handed_to_a_blocked_fetcher)
{
    static const char *const opts[] = {"--spool-threshold", "1K", NULL};
    struct nwstest_server   *s = ptest_start(opts);
    struct rawc              a, b;
    struct rawc_reply        r;
    uint64_t                 want;

    PT_OPEN(&a, s->port, RAWC_META);
    PT_OPEN(&b, s->port, RAWC_META);
    PT_OK(&a, "use ws", "w", "", "no");
    PT_OK(&b, "use ws", "w", "", "no");
    PT_RC(&a, rawc_sendv(&a, NULL, "fetch", "w", "x", NULL));
    PT_WAIT_WAITERS(&b, "w", "x", 1, 0);
    want = big_store(&b, NULL, "w", "x", 64 * 1024, 7);
    PT_RC(&b, rawc_read_short(&b, &r));
    PT_IS_SHORT(&b, &r, 0, NULL);
    rawc_reply_free(&r);
    ck_assert_msg(big_read(__LINE__, &a, 64 * 1024, "0000") == want, "value damaged");
    /* Q11 fixed: no temp file is left behind. */
    ck_assert_msg(ptest_wait_spool(s, 64 * 1024, 0) == 0,
                  "a value handed to a blocked fetcher left its temp file");
    rawc_close(&a);
    rawc_close(&b);
    ptest_stop(s);
}
END_TEST

START_TEST(spooled_values_live_and_die_with_their_variables)
{
    static const char *const opts[] = {"--spool-threshold", "1K", NULL};
    struct nwstest_server   *s = ptest_start(opts);
    struct rawc              a;
    struct rawc_reply        r;
    uint64_t                 want[10];
    char                     meta[64], line[128];
    long long                total = 0;
    int                      i;

    PT_OPEN(&a, s->port, RAWC_META);
    PT_OK(&a, "use ws", "w", "", "no");
    for (i = 0; i < 10; i++) {
        snprintf(meta, sizeof(meta), "00010001i0001%d", i);
        want[i] = big_store(&a, meta, "w", "q", 4096, (uint64_t)i * 4096);
        PT_RC(&a, rawc_read_short(&a, &r));
        PT_IS_SHORT(&a, &r, 0, NULL);
        rawc_reply_free(&r);
    }
    ck_assert_str_eq(PT_VARLINE(&a, "w", "q", line), "q\t10\t0\t0\tfifo");
    ck_assert_int_ge(ptest_spool_files(s, 1024, &total), 1);
    ck_assert_msg(total >= 10 * 4096,
                  "10 values of 4 KiB over a 1 KiB threshold: only "
                  "%lld bytes in temp files",
                  total);
    /* find leaves them, fetch takes them, each with its own metadata. */
    snprintf(meta, sizeof(meta), "00010001i0001%d", 0);
    PT_RC(&a, rawc_sendv(&a, NULL, "find", "w", "q", NULL));
    ck_assert(big_read(__LINE__, &a, 4096, meta) == want[0]);
    for (i = 0; i < 5; i++) {
        snprintf(meta, sizeof(meta), "00010001i0001%d", i);
        PT_RC(&a, rawc_sendv(&a, NULL, "fetch", "w", "q", NULL));
        ck_assert_msg(big_read(__LINE__, &a, 4096, meta) == want[i], "value %d damaged",
                      i);
    }
    /* delete var takes the other five with it. */
    PT_OK(&a, "delete var", "w", "q");
    ck_assert_msg(ptest_wait_spool(s, 1024, 0) == 0, "temp files outlived delete var");
    /* single: a replaced value's file goes; delete ws takes the rest. */
    PT_OK(&a, "declare var", "w", "s", "single");
    for (i = 0; i < 3; i++) {
        want[i] = big_store(&a, NULL, "w", "s", 8192, (uint64_t)i * 8192);
        PT_RC(&a, rawc_read_short(&a, &r));
        PT_IS_SHORT(&a, &r, 0, NULL);
        rawc_reply_free(&r);
    }
    PT_RC(&a, rawc_sendv(&a, NULL, "find", "w", "s", NULL));
    ck_assert(big_read(__LINE__, &a, 8192, "0000") == want[2]);
    ck_assert_msg(ptest_wait_spool(s, 1024, 1) == 1,
                  "a single variable should keep exactly one spooled value");
    big_store(&a, NULL, "w", "t", 2048, 1);
    PT_RC(&a, rawc_read_short(&a, &r));
    PT_IS_SHORT(&a, &r, 0, NULL);
    rawc_reply_free(&r);
    PT_OK(&a, "delete ws", "w");
    ck_assert_msg(ptest_wait_spool(s, 1024, 0) == 0, "temp files outlived delete ws");
    rawc_close(&a);
    ptest_stop(s);
}
END_TEST

START_TEST(client_drops_in_the_middle_of_a_transfer)
{
    static const char *const opts[] = {"--spool-threshold", "1M", NULL};
    struct nwstest_server   *s = ptest_start(opts);
    struct rawc              a, b;
    struct rawc_reply        r;
    uint64_t                 spooled, mem;
    char                     buf[4096];

    PT_OPEN(&a, s->port, RAWC_PLAIN);
    PT_OK(&a, "use ws", "w", "", "no");
    spooled = big_store(&a, NULL, "w", "big", 20ULL * 1024 * 1024, 3);
    PT_RC(&a, rawc_read_short(&a, &r));
    PT_IS_SHORT(&a, &r, 0, NULL);
    rawc_reply_free(&r);
    mem = big_store(&a, NULL, "w", "mid", 512 * 1024, 5);
    PT_RC(&a, rawc_read_short(&a, &r));
    PT_IS_SHORT(&a, &r, 0, NULL);
    rawc_reply_free(&r);
    /* Ask for both, read a little, and go away. */
    PT_RC(&a, rawc_sendv(&a, NULL, "find", "w", "big", NULL));
    PT_RC(&a, rawc_sendv(&a, NULL, "find", "w", "mid", NULL));
    PT_RC(&a, rawc_read(&a, buf, sizeof(buf)));
    rawc_close(&a);
    /* Half a store, then gone. */
    PT_OPEN(&a, s->port, RAWC_PLAIN);
    PT_OK(&a, "use ws", "w", "", "no");
    {
        const char *argv[4] = {"store", "w", "half", "3"};
        size_t      lens[4] = {5, 1, 4, 1};

        PT_RC(&a, rawc_send_head(&a, NULL, 5, argv, lens, 8ULL * 1024 * 1024));
        memset(buf, 'h', sizeof(buf));
        for (int i = 0; i < 256; i++)
            PT_RC(&a, rawc_write(&a, buf, sizeof(buf)));
    }
    rawc_close(&a);
    PT_OPEN(&b, s->port, RAWC_PLAIN);
    PT_OK(&b, "use ws", "w", "", "no");
    PT_RC(&b, rawc_sendv(&b, NULL, "fetch", "w", "big", NULL));
    ck_assert(big_read(__LINE__, &b, 20ULL * 1024 * 1024, NULL) == spooled);
    PT_RC(&b, rawc_sendv(&b, NULL, "fetch", "w", "mid", NULL));
    ck_assert(big_read(__LINE__, &b, 512 * 1024, NULL) == mem);
    PT_NOVAL(&b, "fetchTry", "w", "half");
    ck_assert_msg(ptest_wait_spool(s, 1024 * 1024, 0) == 0,
                  "temp files left after the transfers");
    rawc_close(&b);
    ptest_stop(s);
}
END_TEST

/*
 * A spool file that cannot grow (here RLIMIT_FSIZE of 1 MiB, as a full disk
 * would do): the store is refused with the server's reason, its remaining
 * bytes are read and dropped, that connection closes after the reply, and
 * the server and every other value live on.  Without SIGXFSZ ignored, the
 * kernel would kill the server at the first write past the limit.
 */
START_TEST(spool_write_failure_refuses_the_store)
{
    static const char *const opts[] = {"--spool-threshold", "1K", NULL};
    struct rlimit            old, lim;
    struct nwstest_server   *s;
    struct rawc              a, b;
    struct rawc_reply        r;
    uint64_t                 want;

    ck_assert_int_eq(getrlimit(RLIMIT_FSIZE, &old), 0);
    lim = old;
    lim.rlim_cur = 1024 * 1024;
    ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &lim), 0); /* the server inherits it */
    s = ptest_start(opts);
    ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &old), 0);
    PT_OPEN(&a, s->port, RAWC_META);
    PT_OPEN(&b, s->port, RAWC_META);
    PT_OK(&a, "use ws", "w", "", "no");
    PT_OK(&b, "use ws", "w", "", "no");
    want = big_store(&a, NULL, "w", "small", 64 * 1024, 3); /* spooled, under the limit */
    PT_RC(&a, rawc_read_short(&a, &r));
    PT_IS_SHORT(&a, &r, 0, NULL);
    rawc_reply_free(&r);
    big_store(&b, NULL, "w", "big", 4 * 1024 * 1024, 0);
    PT_RC(&b, rawc_read_short(&b, &r));
    PT_IS_SHORT(&b, &r, 1, "Failed to read long data from the filesystem.");
    rawc_reply_free(&r);
    ck_assert_msg(rawc_expect_eof(&b, 5000) == 0, "not closed after the refusal: %s", b.err);
    rawc_close(&b);
    PT_NOVAL(&a, "findTry", "w", "big");
    PT_RC(&a, rawc_sendv(&a, NULL, "find", "w", "small", NULL));
    ck_assert_msg(big_read(__LINE__, &a, 64 * 1024, "0000") == want, "the other value damaged");
    rawc_close(&a);
    ptest_stop(s);
}
END_TEST

NWSTEST_SUITE(proto_large)
{
    Suite *s = suite_create("proto_large");
    TCase *tc = tcase_create("values");

    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, hundred_mib_value);
    tcase_add_test(tc, spooled_value_handed_to_a_blocked_fetcher);
    tcase_add_test(tc, spooled_values_live_and_die_with_their_variables);
    tcase_add_test(tc, client_drops_in_the_middle_of_a_transfer);
    tcase_add_test(tc, spool_write_failure_refuses_the_store);
    suite_add_tcase(s, tc);
    return s;
}
