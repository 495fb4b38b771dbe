/*
 * check_proto_modes.c -- variable modes of nws-protocol.md sections 6.2-6.4:
 * fifo, lifo, multi, single, __time, __barrier and unknown, with the cookie
 * index each one reports.
 */
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ptest.h"

static struct nwstest_server *mode_srv;

/* Starts a fresh server for each test. */
static void
mode_setup(void)
{
    mode_srv = ptest_start(NULL);
}

/* Stops it and checks the clean exit. */
static void
mode_teardown(void)
{
    ptest_stop(mode_srv);
}

/* Sends op ws var, expects val, returns the cookie index and copies the id. */
static uint64_t
mode_get(int line, struct rawc *c, const char *op, const char *var, const char *val,
         char *varid)
{
    struct rawc_reply r;
    uint64_t          idx;

    ptest_long(line, c, NULL, &r, op, "w", var, (const char *)NULL);
    ptest_is_value(line, c, &r, 1, val, strlen(val), NULL);
    idx = r.index;
    if (varid != NULL)
        memcpy(varid, r.varid, 21);
    rawc_reply_free(&r);
    return idx;
}

#define MODE_GET(c, op, var, val, id) mode_get(__LINE__, (c), (op), (var), (val), (id))

START_TEST(fifo_order_and_indexes)
{
    struct rawc c;
    char        id[21], id2[21], line[128];

    PT_OPEN(&c, mode_srv->port, RAWC_PLAIN);
    PT_OK(&c, "use ws", "w", "", "no");
    PT_OK(&c, "declare var", "w", "x", "fifo");
    PT_OK(&c, "store", "w", "x", "1", "a");
    PT_OK(&c, "store", "w", "x", "1", "b");
    PT_OK(&c, "store", "w", "x", "1", "c");
    ck_assert_str_eq(PT_VARLINE(&c, "w", "x", line), "x\t3\t0\t0\tfifo");
    /* Section 6.3: cookie index = position in the variable's history. */
    ck_assert_uint_eq(MODE_GET(&c, "find", "x", "a", id), 0);
    ck_assert_uint_eq(MODE_GET(&c, "fetch", "x", "a", id2), 0);
    ck_assert_str_eq(id, id2);
    ck_assert_uint_eq(MODE_GET(&c, "fetchTry", "x", "b", id2), 1);
    ck_assert_str_eq(id, id2);
    PT_OK(&c, "store", "w", "x", "1", "d");
    ck_assert_uint_eq(MODE_GET(&c, "findTry", "x", "c", NULL), 2);
    ck_assert_uint_eq(MODE_GET(&c, "fetch", "x", "c", NULL), 2);
    ck_assert_uint_eq(MODE_GET(&c, "fetch", "x", "d", NULL), 3);
    ck_assert_str_eq(PT_VARLINE(&c, "w", "x", line), "x\t0\t0\t0\tfifo");
    rawc_close(&c);
}
END_TEST

/* lifo and multi: a stack, cookie index always 0 (Q10). */
static void
mode_stack(const char *mode)
{
    struct rawc c;
    char        line[128], want[128];

    PT_OPEN(&c, mode_srv->port, RAWC_META);
    PT_OK(&c, "use ws", "w", "", "no");
    PT_OK(&c, "declare var", "w", "s", mode);
    PT_OK(&c, "store", "w", "s", "1", "a");
    PT_OK(&c, "store", "w", "s", "1", "b");
    PT_OK(&c, "store", "w", "s", "1", "c");
    snprintf(want, sizeof(want), "s\t3\t0\t0\t%s", mode);
    ck_assert_str_eq(PT_VARLINE(&c, "w", "s", line), want);
    ck_assert_uint_eq(MODE_GET(&c, "find", "s", "c", NULL), 0);
    ck_assert_uint_eq(MODE_GET(&c, "fetch", "s", "c", NULL), 0);
    ck_assert_uint_eq(MODE_GET(&c, "findTry", "s", "b", NULL), 0);
    PT_OK(&c, "store", "w", "s", "1", "d");
    ck_assert_uint_eq(MODE_GET(&c, "fetchTry", "s", "d", NULL), 0);
    ck_assert_uint_eq(MODE_GET(&c, "fetch", "s", "b", NULL), 0);
    ck_assert_uint_eq(MODE_GET(&c, "fetch", "s", "a", NULL), 0);
    PT_NOVAL(&c, "fetchTry", "w", "s");
    snprintf(want, sizeof(want), "s\t0\t0\t0\t%s", mode);
    ck_assert_str_eq(PT_VARLINE(&c, "w", "s", line), want);
    rawc_close(&c);
}

START_TEST(lifo_is_a_stack)
{
    mode_stack("lifo");
}
END_TEST

START_TEST(multi_behaves_like_lifo)
{
    mode_stack("multi");
}
END_TEST

START_TEST(single_holds_the_latest)
{
    struct rawc c;
    char        line[128];

    PT_OPEN(&c, mode_srv->port, RAWC_META);
    PT_OK(&c, "use ws", "w", "", "no");
    PT_OK(&c, "declare var", "w", "s", "single");
    ck_assert_str_eq(PT_VARLINE(&c, "w", "s", line), "s\t0\t0\t0\tsingle");
    PT_OK(&c, "store", "w", "s", "1", "a");
    PT_OK(&c, "store", "w", "s", "1", "b");
    ck_assert_str_eq(PT_VARLINE(&c, "w", "s", line), "s\t1\t0\t0\tsingle");
    /* a held at index 0, b replaced it at index 1. */
    ck_assert_uint_eq(MODE_GET(&c, "find", "s", "b", NULL), 1);
    ck_assert_uint_eq(MODE_GET(&c, "fetch", "s", "b", NULL), 1);
    PT_NOVAL(&c, "fetchTry", "w", "s");
    PT_NOVAL(&c, "findTry", "w", "s");
    ck_assert_str_eq(PT_VARLINE(&c, "w", "s", line), "s\t0\t0\t0\tsingle");
    PT_OK(&c, "store", "w", "s", "1", "c");
    ck_assert_uint_eq(MODE_GET(&c, "findTry", "s", "c", NULL), 2);
    ck_assert_uint_eq(MODE_GET(&c, "fetchTry", "s", "c", NULL), 2);
    rawc_close(&c);
}
END_TEST

/* Asserts r carries an asctime() text without the newline (section 6.3). */
static void
mode_is_time(int line, struct rawc *c, const struct rawc_reply *r)
{
    regex_t re;
    int     ok;

    ck_assert_msg(r->status == 0 && r->desc == 1,
                  "line %d: __time reply: status %d desc %lld", line, r->status,
                  (long long)r->desc);
    ck_assert_int_eq(regcomp(&re,
                             "^(Sun|Mon|Tue|Wed|Thu|Fri|Sat) "
                             "(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) "
                             "[ 123][0-9] [012][0-9]:[0-5][0-9]:[0-6][0-9] [0-9]{4}$",
                             REG_EXTENDED | REG_NOSUB),
                     0);
    ok = r->len == 24 && regexec(&re, r->value, 0, NULL, 0) == 0;
    regfree(&re);
    ck_assert_msg(ok, "line %d: __time value \"%s\" is not in asctime layout", line,
                  r->value);
    if (c->meta_from)
        ck_assert_msg(r->meta_len == 4 && memcmp(r->meta, "0000", 4) == 0,
                      "line %d: __time metadata must be {}", line);
    if (c->cookie)
        ck_assert_msg(r->varid[0] != ' ', "line %d: __time needs a variable id", line);
}

START_TEST(time_mode)
{
    static const char *const ops[] = {"fetch", "fetchTry", "find", "findTry", NULL};
    struct rawc              c;
    struct rawc_reply        r;
    char                     line[128], id[21];
    int                      i;

    PT_OPEN(&c, mode_srv->port, RAWC_META);
    PT_OK(&c, "use ws", "w", "", "no");
    PT_OK(&c, "declare var", "w", "t", "__time");
    for (i = 0; ops[i] != NULL; i++) {
        PT_LONG(&c, &r, ops[i], "w", "t");
        mode_is_time(__LINE__, &c, &r);
        ck_assert_str_eq(r.raw_index, "00000000000000000000");
        memcpy(id, r.varid, sizeof(id));
        rawc_reply_free(&r);
    }
    /* Iterated: the cookie index echoes max(0, idx). */
    PT_LONG(&c, &r, "ifindTry", "w", "t", id, "00000000000000000007");
    mode_is_time(__LINE__, &c, &r);
    ck_assert_str_eq(r.raw_index, "00000000000000000007");
    ck_assert_str_eq(r.varid, id);
    rawc_reply_free(&r);
    PT_LONG(&c, &r, "ifetchTry", "w", "t", "                    ",
            "00000000000000000000");
    mode_is_time(__LINE__, &c, &r);
    ck_assert_str_eq(r.raw_index, "00000000000000000000");
    rawc_reply_free(&r);
    PT_SHORT(&c, 1, "Store is not supported for this variable.", "store", "w", "t", "1",
             "x");
    ck_assert_str_eq(PT_VARLINE(&c, "w", "t", line), "t\t1\t0\t0\t__time");
    PT_SHORT(&c, 1, "Cannot change variable mode to \"fifo\".", "declare var", "w", "t",
             "fifo");
    rawc_close(&c);
}
END_TEST

/* Reads a pending long reply and checks it is the DIRECT_STRING val. */
static void
mode_reply(int line, struct rawc *c, const char *val)
{
    struct rawc_reply r;

    ptest_rc(line, c, rawc_read_long(c, &r));
    ptest_is_value(line, c, &r, 1, val, strlen(val), NULL);
    rawc_reply_free(&r);
}

START_TEST(barrier_join_wait_release)
{
    struct rawc       a, b, o;
    struct rawc_reply r;
    char              line[128];
    const char *dup = "Client attempting to join barrier group, but is already a member";
    const char *notm = "Client has not joined this barrier group.";

    PT_OPEN(&a, mode_srv->port, RAWC_META);
    PT_OPEN(&b, mode_srv->port, RAWC_META);
    PT_OPEN(&o, mode_srv->port, RAWC_META);
    PT_OK(&a, "use ws", "w", "", "no");
    PT_OK(&b, "use ws", "w", "", "no");
    PT_OK(&o, "use ws", "w", "", "no");
    PT_OK(&a, "declare var", "w", "bar", "__barrier");
    /* Section 6.4: a store joins. */
    PT_OK(&a, "store", "w", "bar", "1", "any");
    PT_SHORT(&a, 1, dup, "store", "w", "bar", "1", "any");
    PT_OK(&b, "store", "w", "bar", "1", "any");
    PT_VALUE(&o, "0 out of 2 at barrier", "findTry", "w", "bar");
    PT_LERR(&o, 1, notm, "find", "w", "bar");
    PT_LERR(&o, 1, notm, "fetch", "w", "bar");
    ck_assert_str_eq(PT_VARLINE(&o, "w", "bar", line), "bar\t3\t0\t0\t__barrier");
    /* a waits for b. */
    PT_RC(&a, rawc_sendv(&a, NULL, "find", "w", "bar", NULL));
    PT_WAIT_WAITERS(&o, "w", "bar", 0, 1);
    PT_VALUE(&o, "1 out of 2 at barrier", "findTry", "w", "bar");
    ck_assert_msg(rawc_expect_silence(&a, 100) == 0, "%s", a.err);
    /* b is the last member to arrive: both are released with "2". */
    PT_VALUE(&b, "2", "find", "w", "bar");
    mode_reply(__LINE__, &a, "2");
    /* A fetch leaves the group and gets an empty DIRECT_STRING. */
    PT_LONG(&b, &r, "fetch", "w", "bar");
    PT_IS_VALUE(&b, &r, 1, "", 0, NULL);
    rawc_reply_free(&r);
    PT_LERR(&b, 1, notm, "fetch", "w", "bar");
    PT_VALUE(&o, "0 out of 1 at barrier", "findTry", "w", "bar");
    /* a alone: nobody else to wait for. */
    PT_VALUE(&a, "1", "find", "w", "bar");
    rawc_close(&a);
    rawc_close(&b);
    rawc_close(&o);
}
END_TEST

START_TEST(barrier_released_by_a_leaving_member)
{
    struct rawc       a, b, c;
    struct rawc_reply r;

    PT_OPEN(&a, mode_srv->port, RAWC_META);
    PT_OPEN(&b, mode_srv->port, RAWC_PLAIN);
    PT_OPEN(&c, mode_srv->port, RAWC_META);
    PT_OK(&a, "use ws", "w", "", "no");
    PT_OK(&b, "use ws", "w", "", "no");
    PT_OK(&c, "use ws", "w", "", "no");
    PT_OK(&a, "declare var", "w", "bar", "__barrier");
    PT_OK(&a, "store", "w", "bar", "1", "");
    PT_OK(&b, "store", "w", "bar", "1", "");
    PT_OK(&c, "store", "w", "bar", "1", "");
    PT_RC(&a, rawc_sendv(&a, NULL, "find", "w", "bar", NULL));
    PT_WAIT_WAITERS(&c, "w", "bar", 0, 1);
    PT_RC(&b, rawc_sendv(&b, NULL, "find", "w", "bar", NULL));
    PT_WAIT_WAITERS(&c, "w", "bar", 0, 2);
    /* c leaves: 2 waiting >= 2 members, released with the old count "3". */
    PT_LONG(&c, &r, "fetch", "w", "bar");
    PT_IS_VALUE(&c, &r, 1, "", 0, NULL);
    rawc_reply_free(&r);
    mode_reply(__LINE__, &a, "3");
    mode_reply(__LINE__, &b, "3");
    rawc_close(&a);
    rawc_close(&b);
    rawc_close(&c);
}
END_TEST

START_TEST(barrier_member_removed_on_disconnect)
{
    struct rawc       a, b, o;
    struct rawc_reply r;
    int               i, done = 0;

    PT_OPEN(&a, mode_srv->port, RAWC_META);
    PT_OPEN(&b, mode_srv->port, RAWC_META);
    PT_OPEN(&o, mode_srv->port, RAWC_META);
    PT_OK(&a, "use ws", "w", "", "no");
    PT_OK(&b, "use ws", "w", "", "no");
    PT_OK(&o, "use ws", "w", "", "no");
    PT_OK(&a, "declare var", "w", "bar", "__barrier");
    PT_OK(&a, "store", "w", "bar", "1", "");
    PT_OK(&b, "store", "w", "bar", "1", "");
    PT_VALUE(&o, "0 out of 2 at barrier", "findTry", "w", "bar");
    /* Q12, fixed by contract: a dead member leaves the group. */
    rawc_close(&b);
    for (i = 0; i < PTEST_SOON_MS / 10 && !done; i++) {
        PT_LONG(&o, &r, "findTry", "w", "bar");
        done = r.len == 21 && memcmp(r.value, "0 out of 1 at barrier", 21) == 0;
        rawc_reply_free(&r);
        if (!done)
            usleep(10000);
    }
    ck_assert_msg(done, "the disconnected member is still in the barrier group");
    PT_VALUE(&a, "1", "find", "w", "bar");
    rawc_close(&a);
    rawc_close(&o);
}
END_TEST

START_TEST(unknown_mode_until_declared_or_stored)
{
    struct rawc c;
    char        line[128];

    PT_OPEN(&c, mode_srv->port, RAWC_META);
    PT_OK(&c, "use ws", "w", "", "no");
    PT_NOVAL(&c, "findTry", "w", "u");
    ck_assert_str_eq(PT_VARLINE(&c, "w", "u", line), "u\t0\t0\t0\tunknown");
    PT_OK(&c, "declare var", "w", "u", "lifo");
    ck_assert_str_eq(PT_VARLINE(&c, "w", "u", line), "u\t0\t0\t0\tlifo");
    PT_NOVAL(&c, "fetchTry", "w", "v");
    PT_OK(&c, "store", "w", "v", "1", "x");
    ck_assert_str_eq(PT_VARLINE(&c, "w", "v", line), "v\t1\t0\t0\tfifo");
    rawc_close(&c);
}
END_TEST

NWSTEST_SUITE(proto_modes)
{
    Suite *s = suite_create("proto_modes");
    TCase *tc = tcase_create("queues");

    tcase_add_checked_fixture(tc, mode_setup, mode_teardown);
    tcase_set_timeout(tc, 20);
    tcase_add_test(tc, fifo_order_and_indexes);
    tcase_add_test(tc, lifo_is_a_stack);
    tcase_add_test(tc, multi_behaves_like_lifo);
    tcase_add_test(tc, single_holds_the_latest);
    tcase_add_test(tc, unknown_mode_until_declared_or_stored);
    suite_add_tcase(s, tc);
    tc = tcase_create("special");
    tcase_add_checked_fixture(tc, mode_setup, mode_teardown);
    tcase_set_timeout(tc, 20);
    tcase_add_test(tc, time_mode);
    tcase_add_test(tc, barrier_join_wait_release);
    tcase_add_test(tc, barrier_released_by_a_leaving_member);
    tcase_add_test(tc, barrier_member_removed_on_disconnect);
    suite_add_tcase(s, tc);
    return s;
}
