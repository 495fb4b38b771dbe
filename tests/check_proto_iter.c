/*
 * check_proto_iter.c -- iteration cookies (nws-protocol.md sections 5.9,
 * 6.3, 6.7, 6.8): the worked sequence of 6.7, the three client encodings of
 * the first call and of the index, and the per-mode iteration errors.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ptest.h"

#define BLANK_ID "                    "
#define D20_0    "00000000000000000000"

static struct nwstest_server *it_srv;

/* Starts a fresh server for each test. */
static void
it_setup(void)
{
    it_srv = ptest_start(NULL);
}

/* Stops it and checks the clean exit. */
static void
it_teardown(void)
{
    ptest_stop(it_srv);
}

/*
 * Sends op w var id index, expects the DIRECT_STRING val with metadata meta
 * and cookie index idx; copies the returned variable id into out if given.
 */
static void
it_get(int line, struct rawc *c, const char *op, const char *var, const char *id,
       const char *index, const char *val, uint64_t idx, const char *meta, char *out)
{
    struct rawc_reply r;

    ptest_long(line, c, NULL, &r, op, "w", var, id, index, (const char *)NULL);
    ptest_is_value(line, c, &r, 1, val, strlen(val), meta);
    ck_assert_msg(r.index == idx, "line %d: expected cookie index %llu, got \"%s\"", line,
                  (unsigned long long)idx, r.raw_index);
    if (id[0] != '\0' && id[0] != ' ')
        ck_assert_msg(strncmp(r.varid, id, 20) == 0,
                      "line %d: variable id changed: %s -> %s", line, id, r.varid);
    if (out != NULL)
        memcpy(out, r.varid, 21);
    rawc_reply_free(&r);
}

#define IT_GET(c, op, var, id, index, val, idx, out)                                     \
    it_get(__LINE__, (c), (op), (var), (id), (index), (val), (idx), NULL, (out))

/* The D20 text of n. */
static const char *
it_d20(char *buf, uint64_t n)
{
    snprintf(buf, 21, "%020llu", (unsigned long long)n);
    return buf;
}

START_TEST(worked_sequence)
{
    struct rawc       a, b;
    struct rawc_reply r;
    char              id[21], id2[21];
    char             *m1 = rawc_dict_new("k", "m1", NULL);

    PT_OPEN(&a, it_srv->port, RAWC_META);
    PT_OPEN(&b, it_srv->port, RAWC_META);
    PT_OK(&a, "use ws", "w", "", "no");
    PT_OK(&b, "use ws", "w", "", "no");
    /* 1 */
    PT_OK_M(&a, m1, "store", "w", "x", "1", "v1");
    PT_OK(&a, "store", "w", "x", "1", "v2");
    /* 2: first call, blank id. */
    it_get(__LINE__, &a, "ifindTry", "x", BLANK_ID, D20_0, "v1", 0, m1, id);
    /* 3 */
    IT_GET(&a, "ifindTry", "x", id, "00000000000000000000", "v2", 1, NULL);
    /* 4: the end; a long error with a blank cookie. */
    PT_LERR(&a, 1, "no value available", "ifindTry", "w", "x", id,
            "00000000000000000001");
    /* 5 */
    PT_LONG(&b, &r, "fetch", "w", "x");
    PT_IS_VALUE(&b, &r, 1, "v1", 2, m1);
    ck_assert_str_eq(r.varid, id);
    ck_assert_str_eq(r.raw_index, D20_0);
    rawc_reply_free(&r);
    /* 6: blocks. */
    PT_RC(&a, rawc_sendv(&a, NULL, "ifind", "w", "x", id, "00000000000000000001", NULL));
    PT_WAIT_WAITERS(&b, "w", "x", 0, 1);
    ck_assert_msg(rawc_expect_silence(&a, 100) == 0, "%s", a.err);
    /* 7 */
    PT_OK(&b, "store", "w", "x", "1", "v3");
    PT_RC(&a, rawc_read_long(&a, &r));
    PT_IS_VALUE(&a, &r, 1, "v3", 2, NULL);
    ck_assert_str_eq(r.varid, id);
    ck_assert_str_eq(r.raw_index, "00000000000000000002");
    rawc_reply_free(&r);
    /* 8: a new variable has a new id. */
    PT_OK(&b, "delete var", "w", "x");
    PT_OK(&b, "store", "w", "x", "1", "w");
    PT_LERR(&a, 1, "Variable id mismatch.", "ifindTry", "w", "x", id,
            "00000000000000000002");
    /* Resetting the iterator starts over on the new variable. */
    IT_GET(&a, "ifindTry", "x", BLANK_ID, D20_0, "w", 0, id2);
    ck_assert_msg(strcmp(id, id2) != 0, "a re-made variable must get a new id");
    free(m1);
    rawc_close(&a);
    rawc_close(&b);
}
END_TEST

START_TEST(r_style_left_justified_index)
{
    struct rawc c;
    char        id[21];

    PT_OPEN(&c, it_srv->port, RAWC_META);
    PT_OK(&c, "use ws", "w", "", "no");
    PT_OK(&c, "store", "w", "x", "1", "v1");
    PT_OK(&c, "store", "w", "x", "1", "v2");
    PT_OK(&c, "store", "w", "x", "1", "v3");
    /* R sends the index as "%-20d" text and pads the id with spaces. */
    IT_GET(&c, "ifindTry", "x", BLANK_ID, "0                   ", "v1", 0, id);
    IT_GET(&c, "ifindTry", "x", id, "0                   ", "v2", 1, NULL);
    IT_GET(&c, "ifindTry", "x", id, "1                   ", "v3", 2, NULL);
    PT_LERR(&c, 1, "no value available", "ifindTry", "w", "x", id,
            "2                   ");
    rawc_close(&c);
}
END_TEST

START_TEST(java_zero_length_first_id)
{
    struct rawc c;
    char        id[21];

    PT_OPEN(&c, it_srv->port, RAWC_OLD_COOKIE);
    PT_OK(&c, "use ws", "w", "", "no");
    PT_OK(&c, "store", "w", "x", "1", "v1");
    PT_OK(&c, "store", "w", "x", "1", "v2");
    /* Java sends a zero-length varId and D20 index on its first call. */
    IT_GET(&c, "ifindTry", "x", "", D20_0, "v1", 0, id);
    IT_GET(&c, "ifind", "x", id, D20_0, "v2", 1, NULL);
    PT_LERR(&c, 1, NULL, "ifindTry", "w", "x", id, "00000000000000000001");
    rawc_close(&c);
}
END_TEST

START_TEST(blank_id_ignores_the_index)
{
    struct rawc c;

    PT_OPEN(&c, it_srv->port, RAWC_META);
    PT_OK(&c, "use ws", "w", "", "no");
    PT_OK(&c, "store", "w", "x", "1", "v1");
    PT_OK(&c, "store", "w", "x", "1", "v2");
    /* Section 5.9 step 2: with a blank id the index argument is ignored. */
    IT_GET(&c, "ifindTry", "x", BLANK_ID, "00000000000000000001", "v1", 0, NULL);
    IT_GET(&c, "ifindTry", "x", BLANK_ID, "not a number", "v1", 0, NULL);
    IT_GET(&c, "ifindTry", "x", "", "", "v1", 0, NULL);
    IT_GET(&c, "ifetchTry", "x", "  ", "junk", "v1", 0, NULL);
    rawc_close(&c);
}
END_TEST

START_TEST(invalid_index_is_a_long_error)
{
    static const char *const bad[] = {"abc", "12x", "", "1 2", "0x10", NULL};
    struct rawc              c;
    char                     id[21];
    int                      i;

    PT_OPEN(&c, it_srv->port, RAWC_META);
    PT_OK(&c, "use ws", "w", "", "no");
    PT_OK(&c, "store", "w", "x", "1", "v1");
    PT_OK(&c, "store", "w", "x", "1", "v2");
    IT_GET(&c, "ifindTry", "x", BLANK_ID, D20_0, "v1", 0, id);
    /* Q2 fixed by contract: a long error, and the connection stays usable. */
    for (i = 0; bad[i] != NULL; i++) {
        PT_LERR(&c, 1, "Invalid iteration index.", "ifindTry", "w", "x", id, bad[i]);
        PT_LERR(&c, 1, "Invalid iteration index.", "ifind", "w", "x", id, bad[i]);
        PT_LERR(&c, 1, "Invalid iteration index.", "ifetch", "w", "x", id, bad[i]);
    }
    IT_GET(&c, "ifindTry", "x", id, D20_0, "v2", 1, NULL);
    /* Spaces around digits are fine (section 1.3). */
    IT_GET(&c, "ifindTry", "x", id, "   0", "v2", 1, NULL);
    rawc_close(&c);
}
END_TEST

START_TEST(fifo_ifetch_from_the_beginning_only)
{
    struct rawc c;
    char        id[21], d[21];

    PT_OPEN(&c, it_srv->port, RAWC_META);
    PT_OK(&c, "use ws", "w", "", "no");
    PT_OK(&c, "store", "w", "x", "1", "a");
    PT_OK(&c, "store", "w", "x", "1", "b");
    PT_OK(&c, "store", "w", "x", "1", "c");
    IT_GET(&c, "ifetchTry", "x", BLANK_ID, D20_0, "a", 0, id);
    IT_GET(&c, "ifetchTry", "x", id, it_d20(d, 0), "b", 1, NULL);
    /* idx + 1 > head: not at the beginning. */
    PT_LERR(&c, 1, "ifetch* only supported at beginning of FIFO", "ifetchTry", "w", "x",
            id, it_d20(d, 5));
    PT_LERR(&c, 1, "ifetch* only supported at beginning of FIFO", "ifetch", "w", "x", id,
            it_d20(d, 2));
    IT_GET(&c, "ifetch", "x", id, it_d20(d, 1), "c", 2, NULL);
    PT_LERR(&c, 1, "no value available", "ifetchTry", "w", "x", id, it_d20(d, 2));
    /* Checked even when the queue is empty (Q22). */
    PT_LERR(&c, 1, "ifetch* only supported at beginning of FIFO", "ifetchTry", "w", "x",
            id, it_d20(d, 9));
    rawc_close(&c);
}
END_TEST

START_TEST(fifo_ifind_skips_what_others_fetched)
{
    struct rawc a, b;
    char        id[21];

    PT_OPEN(&a, it_srv->port, RAWC_META);
    PT_OPEN(&b, it_srv->port, RAWC_META);
    PT_OK(&a, "use ws", "w", "", "no");
    PT_OK(&b, "use ws", "w", "", "no");
    PT_OK(&a, "store", "w", "x", "1", "a");
    PT_OK(&a, "store", "w", "x", "1", "b");
    PT_OK(&a, "store", "w", "x", "1", "c");
    IT_GET(&a, "ifindTry", "x", BLANK_ID, D20_0, "a", 0, id);
    PT_VALUE(&b, "a", "fetch", "w", "x");
    PT_VALUE(&b, "b", "fetch", "w", "x");
    /* The iterator moves on to the oldest value still queued. */
    IT_GET(&a, "ifindTry", "x", id, D20_0, "c", 2, NULL);
    PT_LERR(&a, 1, "no value available", "ifindTry", "w", "x", id,
            "00000000000000000002");
    rawc_close(&a);
    rawc_close(&b);
}
END_TEST

/* lifo and multi: the first iterated call works, the next ones fail. */
static void
it_stack(const char *mode)
{
    struct rawc c;
    char        id[21];

    PT_OPEN(&c, it_srv->port, RAWC_META);
    PT_OK(&c, "use ws", "w", "", "no");
    PT_OK(&c, "declare var", "w", "s", mode);
    PT_OK(&c, "store", "w", "s", "1", "a");
    PT_OK(&c, "store", "w", "s", "1", "b");
    IT_GET(&c, "ifindTry", "s", BLANK_ID, D20_0, "b", 0, id);
    PT_LERR(&c, 1, "ifind* not supported on LIFO", "ifindTry", "w", "s", id, D20_0);
    PT_LERR(&c, 1, "ifind* not supported on LIFO", "ifind", "w", "s", id, D20_0);
    IT_GET(&c, "ifetchTry", "s", "", D20_0, "b", 0, NULL);
    PT_LERR(&c, 1, "ifetch* not supported on LIFO", "ifetchTry", "w", "s", id, D20_0);
    PT_LERR(&c, 1, "ifetch* not supported on LIFO", "ifetch", "w", "s", id, D20_0);
    PT_VALUE(&c, "a", "fetch", "w", "s");
    rawc_close(&c);
}

START_TEST(lifo_iteration_works_once)
{
    it_stack("lifo");
}
END_TEST

START_TEST(multi_iteration_works_once)
{
    it_stack("multi");
}
END_TEST

START_TEST(single_ifind_sees_each_value_once)
{
    struct rawc c;
    char        id[21];

    PT_OPEN(&c, it_srv->port, RAWC_META);
    PT_OK(&c, "use ws", "w", "", "no");
    PT_OK(&c, "declare var", "w", "s", "single");
    PT_OK(&c, "store", "w", "s", "1", "a");
    IT_GET(&c, "ifindTry", "s", BLANK_ID, D20_0, "a", 0, id);
    PT_LERR(&c, 1, "no value available", "ifindTry", "w", "s", id, D20_0);
    PT_OK(&c, "store", "w", "s", "1", "b");
    IT_GET(&c, "ifindTry", "s", id, D20_0, "b", 1, NULL);
    PT_LERR(&c, 1, "no value available", "ifindTry", "w", "s", id,
            "00000000000000000001");
    IT_GET(&c, "ifetchTry", "s", id, D20_0, "b", 1, NULL);
    PT_LERR(&c, 1, "no value available", "ifetchTry", "w", "s", id,
            "00000000000000000001");
    rawc_close(&c);
}
END_TEST

START_TEST(old_cookie_after_delete_always_mismatches)
{
    struct rawc c;
    char        id[21], line[128];

    PT_OPEN(&c, it_srv->port, RAWC_META);
    PT_OK(&c, "use ws", "w", "", "no");
    PT_OK(&c, "store", "w", "x", "1", "a");
    IT_GET(&c, "ifindTry", "x", BLANK_ID, D20_0, "a", 0, id);
    PT_OK(&c, "delete var", "w", "x");
    /* Section 6.8: the call re-creates x (unknown, new id), then compares. */
    PT_LERR(&c, 1, "Variable id mismatch.", "ifindTry", "w", "x", id, D20_0);
    ck_assert_str_eq(PT_VARLINE(&c, "w", "x", line), "x\t0\t0\t0\tunknown");
    PT_LERR(&c, 1, "Variable id mismatch.", "ifetch", "w", "x", id, D20_0);
    PT_LERR(&c, 1, "Variable id mismatch.", "ifind", "w", "x", "bogus", D20_0);
    rawc_close(&c);
}
END_TEST

START_TEST(variable_ids)
{
    struct rawc c;
    char        idx[21], idy[21], padded[32];

    PT_OPEN(&c, it_srv->port, RAWC_META);
    PT_OK(&c, "use ws", "w", "", "no");
    PT_OK(&c, "store", "w", "x", "1", "a");
    PT_OK(&c, "store", "w", "y", "1", "b");
    IT_GET(&c, "ifindTry", "x", BLANK_ID, D20_0, "a", 0, idx);
    IT_GET(&c, "ifindTry", "y", BLANK_ID, D20_0, "b", 0, idy);
    ck_assert_msg(strcmp(idx, idy) != 0, "two variables share the id %s", idx);
    /* Non-iterated replies carry the same id. */
    {
        struct rawc_reply r;

        PT_LONG(&c, &r, "findTry", "w", "x");
        ck_assert_str_eq(r.varid, idx);
        rawc_reply_free(&r);
    }
    /* The server strips whitespace around a sent id (section 5.9). */
    snprintf(padded, sizeof(padded), "  %s  ", idx);
    PT_OK(&c, "store", "w", "x", "1", "a2");
    IT_GET(&c, "ifindTry", "x", padded, D20_0, "a2", 1, NULL);
    rawc_close(&c);
}
END_TEST

START_TEST(blocking_iterated_ops_wake)
{
    struct rawc       a, b;
    struct rawc_reply r;
    char              id[21];

    PT_OPEN(&a, it_srv->port, RAWC_META);
    PT_OPEN(&b, it_srv->port, RAWC_META);
    PT_OK(&a, "use ws", "w", "", "no");
    PT_OK(&b, "use ws", "w", "", "no");
    PT_OK(&b, "store", "w", "x", "1", "a");
    IT_GET(&a, "ifetch", "x", BLANK_ID, D20_0, "a", 0, id);
    PT_RC(&a, rawc_sendv(&a, NULL, "ifetch", "w", "x", id, D20_0, NULL));
    PT_WAIT_WAITERS(&b, "w", "x", 1, 0);
    PT_OK(&b, "store", "w", "x", "1", "b");
    PT_RC(&a, rawc_read_long(&a, &r));
    PT_IS_VALUE(&a, &r, 1, "b", 1, NULL);
    ck_assert_str_eq(r.varid, id);
    ck_assert_str_eq(r.raw_index, "00000000000000000001");
    rawc_reply_free(&r);
    rawc_close(&a);
    rawc_close(&b);
}
END_TEST

NWSTEST_SUITE(proto_iter)
{
    Suite *s = suite_create("proto_iter");
    TCase *tc = tcase_create("cookies");

    tcase_add_checked_fixture(tc, it_setup, it_teardown);
    tcase_set_timeout(tc, 20);
    tcase_add_test(tc, worked_sequence);
    tcase_add_test(tc, r_style_left_justified_index);
    tcase_add_test(tc, java_zero_length_first_id);
    tcase_add_test(tc, blank_id_ignores_the_index);
    tcase_add_test(tc, invalid_index_is_a_long_error);
    tcase_add_test(tc, variable_ids);
    tcase_add_test(tc, old_cookie_after_delete_always_mismatches);
    tcase_add_test(tc, blocking_iterated_ops_wake);
    suite_add_tcase(s, tc);
    tc = tcase_create("modes");
    tcase_add_checked_fixture(tc, it_setup, it_teardown);
    tcase_set_timeout(tc, 20);
    tcase_add_test(tc, fifo_ifetch_from_the_beginning_only);
    tcase_add_test(tc, fifo_ifind_skips_what_others_fetched);
    tcase_add_test(tc, lifo_iteration_works_once);
    tcase_add_test(tc, multi_iteration_works_once);
    tcase_add_test(tc, single_ifind_sees_each_value_once);
    suite_add_tcase(s, tc);
    return s;
}
