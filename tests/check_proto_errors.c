/*
 * check_proto_errors.c -- error replies that need big or generated inputs or
 * server options: names over 1024 bytes, arguments over 64 KiB, bad type
 * descriptors, wrong argument counts, --max-value-size and --max-memory
 * (the lead's contract on top of nws-protocol.md sections 4.4, 5.12, 9.3).
 * Smaller hostile frames live in tests/data/frames/invalid (check_proto_hostile.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ptest.h"

#define ERR_NAME_MAX 1024
#define ERR_ARG_MAX  65536

static struct nwstest_server *err_srv;

/* Starts a fresh server with default options. */
static void
err_setup(void)
{
    err_srv = ptest_start(NULL);
}

/* Stops it and checks the clean exit. */
static void
err_teardown(void)
{
    ptest_stop(err_srv);
}

/* A new NUL-terminated string of n copies of ch. */
static char *
err_fill(size_t n, char ch)
{
    char *s = malloc(n + 1);

    ck_assert_ptr_nonnull(s);
    memset(s, ch, n);
    s[n] = '\0';
    return s;
}

START_TEST(names_over_1024_bytes)
{
    struct rawc       c;
    struct rawc_reply r;
    char             *n1025 = err_fill(ERR_NAME_MAX + 1, 'n');
    char             *n1024 = err_fill(ERR_NAME_MAX, 'm');
    const char       *why = "Name too long (at most 1024 bytes).";
    char              want[ERR_NAME_MAX + 64];

    PT_OPEN(&c, err_srv->port, RAWC_META);
    PT_SHORT(&c, 1, why, "open ws", n1025, "1", "no");
    PT_SHORT(&c, 1, why, "use ws", n1025, "", "no");
    PT_SHORT(&c, 1, why, "delete ws", n1025);
    PT_LERR(&c, 1, why, "list wss", n1025);
    PT_LERR(&c, 1, why, "list vars", n1025);
    PT_SHORT(&c, 1, why, "store", n1025, "x", "1", "v");
    /* 1024 bytes is fine. */
    PT_OK(&c, "use ws", n1024, "", "no");
    PT_OK(&c, "store", n1024, n1024, "1", "v");
    PT_VALUE(&c, "v", "findTry", n1024, n1024);
    PT_OK(&c, "use ws", "w", "", "no");
    PT_SHORT(&c, 1, why, "store", "w", n1025, "1", "v");
    PT_SHORT(&c, 1, why, "declare var", "w", n1025, "fifo");
    PT_SHORT(&c, 1, why, "delete var", "w", n1025);
    PT_LERR(&c, 1, why, "fetchTry", "w", n1025);
    PT_LERR(&c, 1, why, "fetch", "w", n1025);
    PT_LERR(&c, 1, why, "find", "w", n1025);
    PT_LERR(&c, 1, why, "ifindTry", "w", n1025, "", "0");
    /* No variable was made by the refused requests. */
    PT_LONG(&c, &r, "list vars", "w");
    PT_IS_TEXT(&c, &r, "");
    rawc_reply_free(&r);
    snprintf(want, sizeof(want), "%s\t1\t0\t0\tfifo", n1024);
    PT_LONG(&c, &r, "list vars", n1024);
    PT_IS_TEXT(&c, &r, want);
    rawc_reply_free(&r);
    free(n1025);
    free(n1024);
    rawc_close(&c);
}
END_TEST

START_TEST(arguments_over_64k_are_swallowed)
{
    struct rawc c;
    char       *big = err_fill(ERR_ARG_MAX + 1, 'a');
    char       *max = err_fill(ERR_ARG_MAX, 'b');
    const char *why = "Argument too long.";

    PT_OPEN(&c, err_srv->port, RAWC_META);
    PT_OK(&c, "use ws", "w", "", "no");
    /* Contract: read and discarded, status 1, in the command's shape. */
    PT_SHORT(&c, 1, why, "open ws", "o", big, "no");
    PT_SHORT(&c, 1, why, "store", "w", "x", big, "v");
    PT_SHORT(&c, 1, why, "store", "w", big, "1", "v");
    PT_LERR(&c, 1, why, "fetchTry", "w", big);
    PT_LERR(&c, 1, why, "ifindTry", "w", "x", big, "0");
    PT_LERR(&c, 1, why, "ifindTry", "w", "x", "", big);
    PT_LERR(&c, 1, why, "list wss", big);
    PT_LERR(&c, 1, why, "mktemp ws", big);
    PT_LERR(&c, 1, why, "list vars", big);
    /* A command name that long: nobody knows the shape, so short. */
    PT_SHORT(&c, 1, why, big, "w");
    /* Exactly 64 KiB is not too long for an owner label. */
    PT_OK(&c, "open ws", "o", max, "no");
    PT_NOVAL(&c, "fetchTry", "w", "x");
    PT_NOVAL(&c, "fetchTry", "o", "x");
    free(big);
    free(max);
    rawc_close(&c);
}
END_TEST

START_TEST(invalid_type_descriptors)
{
    static const char *const bad[] = {"abc", "", "1.5", "0x10", "1e3", "--1", "1-", NULL};
    struct rawc              c;
    struct rawc_reply        r;
    int                      i;

    PT_OPEN(&c, err_srv->port, RAWC_META);
    PT_OK(&c, "use ws", "w", "", "no");
    for (i = 0; bad[i] != NULL; i++)
        PT_SHORT(&c, 1, "Invalid type descriptor.", "store", "w", "x", bad[i], "v");
    PT_NOVAL(&c, "fetchTry", "w", "x");
    /* Spaces around the number are accepted, as int() does. */
    PT_OK(&c, "store", "w", "x", " 5 ", "v");
    PT_LONG(&c, &r, "fetch", "w", "x");
    PT_IS_VALUE(&c, &r, 5, "v", 1, NULL);
    rawc_reply_free(&r);
    rawc_close(&c);
}
END_TEST

/* Sends the first argc of argv (a request with the wrong count). */
static void
err_send(struct rawc *c, unsigned argc, const char *const *argv)
{
    size_t   lens[16];
    unsigned i;

    for (i = 0; i < argc; i++)
        lens[i] = strlen(argv[i]);
    PT_RC(c, rawc_send(c, NULL, 0, argc, argv, lens));
}

START_TEST(wrong_argument_counts_in_every_shape)
{
    static const struct {
        int         is_long;
        unsigned    argc;
        const char *argv[7];
    } cases[] = {
        {0, 3, {"open ws", "w", "1"}},
        {0, 6, {"open ws", "w", "1", "no", "yes", "x"}},
        {0, 3, {"use ws", "w", ""}},
        {1, 3, {"mktemp ws", "a%d", "b"}},
        {0, 1, {"delete ws"}},
        {0, 3, {"delete ws", "w", "x"}},
        {1, 3, {"list wss", "w", "x"}},
        {0, 3, {"declare var", "w", "x"}},
        {0, 5, {"declare var", "w", "x", "fifo", "x"}},
        {0, 2, {"delete var", "w"}},
        {0, 4, {"delete var", "w", "x", "y"}},
        {0, 4, {"store", "w", "x", "1"}},
        {0, 6, {"store", "w", "x", "1", "v", "v"}},
        {1, 2, {"fetch", "w"}},
        {1, 6, {"fetch", "w", "x", "", "0", "z"}},
        {1, 2, {"fetchTry", "w"}},
        {1, 2, {"find", "w"}},
        {1, 6, {"findTry", "w", "x", "", "0", "z"}},
        {1, 2, {"ifetch", "w"}},
        {1, 6, {"ifetchTry", "w", "x", "", "0", "z"}},
        {1, 2, {"ifind", "w"}},
        {1, 6, {"ifindTry", "w", "x", "", "0", "z"}},
        {1, 1, {"list vars"}},
        {1, 3, {"list vars", "w", "x"}},
        {0, 2, {"deadman", "x"}},
    };
    static const enum rawc_kind kinds[] = {RAWC_META, RAWC_OLD_NOCOOKIE, RAWC_OLD_COOKIE};
    struct rawc                 c;
    struct rawc_reply           r;
    char                        why[96];
    size_t                      i, k;

    for (k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
        PT_OPEN(&c, err_srv->port, kinds[k]);
        PT_OK(&c, "use ws", "w", "", "no");
        PT_OK(&c, "store", "w", "x", "1", "v");
        for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
            snprintf(why, sizeof(why), "Wrong number of arguments for \"%s\".",
                     cases[i].argv[0]);
            err_send(&c, cases[i].argc, cases[i].argv);
            if (cases[i].is_long) {
                PT_RC(&c, rawc_read_long(&c, &r));
                PT_IS_ERROR(&c, &r, 1, why);
            } else {
                PT_RC(&c, rawc_read_short(&c, &r));
                PT_IS_SHORT(&c, &r, 1, why);
                rawc_reply_free(&r);
            }
            rawc_reply_free(&r);
        }
        /* Nothing ran: the value is still there, the workspace too. */
        PT_VALUE(&c, "v", "findTry", "w", "x");
        rawc_close(&c);
    }
    /* "deadman x" did not make a deadman: the server still serves. */
    PT_OPEN(&c, err_srv->port, RAWC_META);
    PT_OK(&c, "use ws", "w", "", "no");
    PT_VALUE(&c, "v", "fetch", "w", "x");
    rawc_close(&c);
}
END_TEST

/* Streams a store of n pattern bytes (offset off) into ws/var. */
static void
err_store_pattern(struct rawc *c, const char *var, size_t n, uint64_t off)
{
    static const char *const argv[] = {"store", "w", NULL, "3"};
    const char              *a[4] = {argv[0], argv[1], var, argv[3]};
    size_t                   lens[4] = {5, 1, strlen(var), 1};
    char                     buf[65536];
    size_t                   done, k;

    PT_RC(c, rawc_send_head(c, NULL, 5, a, lens, n));
    for (done = 0; done < n; done += k) {
        k = n - done < sizeof(buf) ? n - done : sizeof(buf);
        ptest_pattern(buf, k, off + done);
        PT_RC(c, rawc_write(c, buf, k));
    }
}

/* Asserts the short reply pending on c is status 1 with a reason starting prefix. */
static void
err_short_prefix(int line, struct rawc *c, const char *prefix)
{
    struct rawc_reply r;
    const char       *v;
    size_t            vlen;

    ptest_rc(line, c, rawc_read_short(c, &r));
    ck_assert_msg(r.status == 1, "line %d: expected status 0001, got %04d", line,
                  r.status);
    ck_assert_msg(rawc_dict_get(r.meta, r.meta_len, "nwsReason", &v, &vlen) == 1 &&
                      vlen >= strlen(prefix) && memcmp(v, prefix, strlen(prefix)) == 0,
                  "line %d: nwsReason should start with \"%s\": \"%s\"", line, prefix,
                  r.meta);
    rawc_reply_free(&r);
}

START_TEST(max_value_size)
{
    static const char *const opts[] = {"--max-value-size", "1K", NULL};
    struct nwstest_server   *s = ptest_start(opts);
    struct rawc              a, b;
    struct rawc_reply        r;
    char                     buf[1024];

    PT_OPEN(&a, s->port, RAWC_META);
    PT_OPEN(&b, s->port, RAWC_META);
    PT_OK(&a, "use ws", "w", "", "no");
    PT_OK(&b, "use ws", "w", "", "no");
    err_store_pattern(&a, "x", 1025, 0);
    err_short_prefix(__LINE__, &a, "Value too large");
    /* A 10 MB value is swallowed whole and the stream stays in step. */
    err_store_pattern(&a, "x", 10 * 1000 * 1000, 0);
    err_short_prefix(__LINE__, &a, "Value too large");
    PT_NOVAL(&a, "fetchTry", "w", "x");
    /* Nothing reaches a blocked fetcher either. */
    PT_RC(&b, rawc_sendv(&b, NULL, "fetch", "w", "x", NULL));
    PT_WAIT_WAITERS(&a, "w", "x", 1, 0);
    err_store_pattern(&a, "x", 2048, 0);
    err_short_prefix(__LINE__, &a, "Value too large");
    ck_assert_msg(rawc_expect_silence(&b, 150) == 0, "%s", b.err);
    /* 1 KiB exactly is allowed. */
    err_store_pattern(&a, "x", 1024, 0);
    PT_RC(&a, rawc_read_short(&a, &r));
    PT_IS_SHORT(&a, &r, 0, NULL);
    rawc_reply_free(&r);
    PT_RC(&b, rawc_read_long(&b, &r));
    ptest_pattern(buf, sizeof(buf), 0);
    PT_IS_VALUE(&b, &r, 3, buf, sizeof(buf), NULL);
    rawc_reply_free(&r);
    rawc_close(&a);
    rawc_close(&b);
    ptest_stop(s);
}
END_TEST

START_TEST(max_memory)
{
    static const char *const opts[] = {"--max-memory", "1M", NULL};
    struct nwstest_server   *s = ptest_start(opts);
    struct rawc              c;
    struct rawc_reply        r;
    const size_t             sz = 64 * 1024;
    char                    *want = malloc(sz);
    int                      n, i, full = 0;

    PT_OPEN(&c, s->port, RAWC_META);
    PT_OK(&c, "use ws", "w", "", "no");
    for (n = 0; n < 64 && !full; n++) {
        err_store_pattern(&c, "x", sz, (uint64_t)n * sz);
        PT_RC(&c, rawc_read_short(&c, &r));
        if (r.status != 0) {
            PT_IS_SHORT(&c, &r, 1, "Server memory limit reached.");
            rawc_reply_free(&r);
            full = 1;
            n--;
        }
        rawc_reply_free(&r);
    }
    ck_assert_msg(full, "64 stores of 64 KiB never hit --max-memory 1M");
    ck_assert_msg(n >= 4, "the limit came after only %d stores of 64 KiB", n);
    /* Nothing already stored was dropped, in order and intact. */
    for (i = 0; i < n; i++) {
        PT_LONG(&c, &r, "fetch", "w", "x");
        ptest_pattern(want, sz, (uint64_t)i * sz);
        PT_IS_VALUE(&c, &r, 3, want, sz, NULL);
        rawc_reply_free(&r);
    }
    PT_NOVAL(&c, "fetchTry", "w", "x");
    /* Fetched values free their memory: storing works again. */
    err_store_pattern(&c, "x", sz, 0);
    PT_RC(&c, rawc_read_short(&c, &r));
    PT_IS_SHORT(&c, &r, 0, NULL);
    rawc_reply_free(&r);
    free(want);
    rawc_close(&c);
    ptest_stop(s);
}
END_TEST

NWSTEST_SUITE(proto_errors)
{
    Suite *s = suite_create("proto_errors");
    TCase *tc = tcase_create("arguments");

    tcase_add_checked_fixture(tc, err_setup, err_teardown);
    tcase_set_timeout(tc, 20);
    tcase_add_test(tc, names_over_1024_bytes);
    tcase_add_test(tc, arguments_over_64k_are_swallowed);
    tcase_add_test(tc, invalid_type_descriptors);
    tcase_add_test(tc, wrong_argument_counts_in_every_shape);
    suite_add_tcase(s, tc);
    tc = tcase_create("limits");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, max_value_size);
    tcase_add_test(tc, max_memory);
    suite_add_tcase(s, tc);
    return s;
}
