/*
 * check_proto_listings.c -- the exact text of list wss (nws-protocol.md
 * section 7.7) and list vars (section 7.8), and their reply shape.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ptest.h"

static struct nwstest_server *ls_srv;

/* Starts a fresh server for each test. */
static void
ls_setup(void)
{
    ls_srv = ptest_start(NULL);
}

/* Stops it and checks the clean exit. */
static void
ls_teardown(void)
{
    ptest_stop(ls_srv);
}

/*
 * The owner field of ws in list wss, minus its " pid <label>" tail: the text
 * the server uses for this connection's peer (its exact form is free, Q25).
 */
static void
ls_peer(struct rawc *c, const char *ws, const char *label, char *peer, size_t cap)
{
    struct rawc_reply r;
    char             *t1, *t2, tail[32];
    size_t            n;

    PT_LONG(c, &r, "list wss", ws);
    t1 = strchr(r.value, '\t');
    ck_assert_msg(t1 != NULL, "list wss %s: no TAB in \"%s\"", ws, r.value);
    t2 = strchr(t1 + 1, '\t');
    ck_assert_msg(t2 != NULL, "list wss %s: one TAB only", ws);
    snprintf(tail, sizeof(tail), " pid %s", label);
    n = (size_t)(t2 - t1 - 1);
    ck_assert_msg(n > strlen(tail) && memcmp(t2 - strlen(tail), tail, strlen(tail)) == 0,
                  "owner of %s does not end with \"%s\": \"%.*s\"", ws, tail, (int)n,
                  t1 + 1);
    n -= strlen(tail);
    ck_assert_msg(n < cap && n > 0, "owner");
    memcpy(peer, t1 + 1, n);
    peer[n] = '\0';
    ck_assert_msg(strstr(peer, "127.0.0.1") != NULL, "peer text \"%s\" lacks the address",
                  peer);
    rawc_reply_free(&r);
}

START_TEST(list_wss_exact_text)
{
    struct rawc       a, o;
    struct rawc_reply r;
    char              peer[200], want[1024], line[300];

    PT_OPEN(&a, ls_srv->port, RAWC_META);
    PT_OPEN(&o, ls_srv->port, RAWC_OLD_COOKIE);
    PT_OK(&a, "open ws", "b", "11", "no");
    PT_OK(&a, "use ws", "a", "", "no");
    PT_OK(&a, "open ws", "B", "12", "yes");
    PT_OK(&a, "store", "b", "z", "1", "1");
    PT_OK(&a, "store", "b", "m", "1", "2");
    PT_OK(&a, "store", "b", "m", "1", "3");
    PT_NOVAL(&a, "fetchTry", "b", "q");
    PT_OK(&a, "store", "B", "k", "1", "4");
    ls_peer(&a, "b", "11", peer, sizeof(peer));
    /* Sorted by bytes: "B" < "__default" < "a" < "b"; vars sorted, comma-joined. */
    snprintf(want, sizeof(want),
             ">B\t%s pid 12\tTrue\t1\tk\n"
             " __default\t[system]\tTrue\t0\t\n"
             " a\t\tFalse\t0\t\n"
             ">b\t%s pid 11\tFalse\t3\tm,q,z\n",
             peer, peer);
    PT_LONG(&a, &r, "list wss");
    PT_IS_TEXT(&a, &r, want);
    rawc_reply_free(&r);
    /* An empty name argument lists everything too. */
    PT_LONG(&a, &r, "list wss", "");
    PT_IS_TEXT(&a, &r, want);
    rawc_reply_free(&r);
    /* Another connection sees no '>' marks. */
    snprintf(want, sizeof(want),
             " B\t%s pid 12\tTrue\t1\tk\n"
             " __default\t[system]\tTrue\t0\t\n"
             " a\t\tFalse\t0\t\n"
             " b\t%s pid 11\tFalse\t3\tm,q,z\n",
             peer, peer);
    PT_LONG(&o, &r, "list wss");
    PT_IS_TEXT(&o, &r, want);
    rawc_reply_free(&r);
    /* One workspace; an unknown name gives a lone LF (Q13). */
    snprintf(line, sizeof(line), " b\t%s pid 11\tFalse\t3\tm,q,z\n", peer);
    PT_LONG(&o, &r, "list wss", "b");
    PT_IS_TEXT(&o, &r, line);
    rawc_reply_free(&r);
    PT_LONG(&o, &r, "list wss", "nope");
    PT_IS_TEXT(&o, &r, "\n");
    rawc_reply_free(&r);
    rawc_close(&a);
    rawc_close(&o);
}
END_TEST

START_TEST(list_vars_exact_text)
{
    struct rawc       c[4];
    struct rawc_reply r;
    int               i;

    for (i = 0; i < 4; i++) {
        PT_OPEN(&c[i], ls_srv->port, i == 3 ? RAWC_OLD_NOCOOKIE : RAWC_META);
        PT_OK(&c[i], "use ws", "w", "", "no");
    }
    /* An empty workspace: a zero-length DIRECT_STRING. */
    PT_LONG(&c[3], &r, "list vars", "w");
    PT_IS_TEXT(&c[3], &r, "");
    rawc_reply_free(&r);
    /* The example of section 7.8. */
    PT_NOVAL(&c[0], "findTry", "w", "nope");
    PT_RC(&c[0], rawc_sendv(&c[0], NULL, "fetch", "w", "q", NULL));
    PT_RC(&c[1], rawc_sendv(&c[1], NULL, "fetch", "w", "q", NULL));
    PT_RC(&c[2], rawc_sendv(&c[2], NULL, "find", "w", "q", NULL));
    PT_OK(&c[3], "store", "w", "x", "1", "v");
    PT_WAIT_WAITERS(&c[3], "w", "q", 2, 1);
    PT_LONG(&c[3], &r, "list vars", "w");
    PT_IS_TEXT(&c[3], &r,
               "nope\t0\t0\t0\tunknown\nq\t0\t2\t1\tunknown\nx\t1\t0\t0\tfifo");
    rawc_reply_free(&r);
    /* Byte order: upper case and '_' before lower case. */
    PT_OK(&c[3], "store", "w", "_u", "1", "v");
    PT_OK(&c[3], "declare var", "w", "Z", "single");
    PT_OK(&c[3], "declare var", "w", "t", "__time");
    PT_OK(&c[3], "store", "w", "x", "1", "v");
    PT_LONG(&c[3], &r, "list vars", "w");
    PT_IS_TEXT(&c[3], &r,
               "Z\t0\t0\t0\tsingle\n_u\t1\t0\t0\tfifo\nnope\t0\t0\t0\tunknown\n"
               "q\t0\t2\t1\tunknown\nt\t1\t0\t0\t__time\nx\t2\t0\t0\tfifo");
    rawc_reply_free(&r);
    for (i = 0; i < 4; i++)
        rawc_close(&c[i]);
}
END_TEST

START_TEST(list_wss_counts_and_names_update)
{
    struct rawc       c;
    struct rawc_reply r;

    PT_OPEN(&c, ls_srv->port, RAWC_META);
    PT_OK(&c, "use ws", "w", "", "no");
    PT_OK(&c, "store", "w", "b", "1", "v");
    PT_OK(&c, "store", "w", "a", "1", "v");
    PT_OK(&c, "declare var", "w", "c", "lifo");
    PT_LONG(&c, &r, "list wss", "w");
    PT_IS_TEXT(&c, &r, " w\t\tFalse\t3\ta,b,c\n");
    rawc_reply_free(&r);
    /* Fetching the last value keeps the variable. */
    PT_VALUE(&c, "v", "fetch", "w", "a");
    PT_OK(&c, "delete var", "w", "b");
    PT_LONG(&c, &r, "list wss", "w");
    PT_IS_TEXT(&c, &r, " w\t\tFalse\t2\ta,c\n");
    rawc_reply_free(&r);
    rawc_close(&c);
}
END_TEST

NWSTEST_SUITE(proto_listings)
{
    Suite *s = suite_create("proto_listings");
    TCase *tc = tcase_create("text");

    tcase_add_checked_fixture(tc, ls_setup, ls_teardown);
    tcase_set_timeout(tc, 20);
    tcase_add_test(tc, list_wss_exact_text);
    tcase_add_test(tc, list_vars_exact_text);
    tcase_add_test(tc, list_wss_counts_and_names_update);
    suite_add_tcase(s, tc);
    return s;
}
