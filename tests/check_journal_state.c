/*
 * check_journal_state.c -- everything a workspace holds survives a SIGKILL
 * and a restart on the same --journal DIR, as it was: values in order with
 * their metadata and type descriptors (empty and binary ones too), variable
 * modes, consumed values staying consumed, deleted variables and
 * workspaces staying deleted; and ownership across the restart: an owned
 * workspace waits --resume-grace seconds, then is purged; persistent and
 * unowned ones stay.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "jtest.h"
#include "ptest.h"

static const char *const jr_grace[] = {"--resume-grace", "3", NULL};

/* Stores a value with an explicit descriptor and bytes (binary allowed). */
static void
jr_store_raw(struct rawc *c, const char *var, const char *desc, const char *val,
             size_t len)
{
    const char *const argv[] = {"store", "w", var, desc, val};
    const size_t      lens[] = {5, 1, strlen(var), strlen(desc), len};
    struct rawc_reply r;

    PT_RC(c, rawc_send(c, NULL, 0, 5, argv, lens));
    memset(&r, 0, sizeof(r));
    PT_RC(c, rawc_read_short(c, &r));
    ck_assert_int_eq(r.status, 0);
    rawc_reply_free(&r);
}

START_TEST(state_survives_sigkill)
{
    static struct jsrv s;
    struct rawc        a, o;
    struct rawc_reply  r;
    char              *m1 = rawc_dict_new("k", "m1", "batchId", "7", NULL);
    char              *m2 = rawc_dict_new("k", "m2", NULL);
    static const char  bin[] = {'b', '\0', 'i', '\n', 'n', '\xff'};
    double             t_up;

    ck_assert_int_eq(jsrv_init(&s, NULL, "always"), 0);
    ck_assert_msg(jsrv_start(&s, jr_grace) == 0, "no start (status %d)", s.status);
    PT_OPEN(&a, s.port, RAWC_META);
    PT_OK(&a, "use ws", "w", "", "no");
    /* fifo with metadata; the first value consumed before the crash. */
    PT_OK_M(&a, m1, "store", "w", "x", "1", "v1");
    PT_OK_M(&a, m2, "store", "w", "x", "1", "v2");
    PT_OK(&a, "store", "w", "x", "1", "v3");
    PT_LONG(&a, &r, "fetch", "w", "x");
    PT_IS_VALUE(&a, &r, 1, "v1", 2, m1);
    rawc_reply_free(&r);
    /* lifo, single. */
    PT_OK(&a, "declare var", "w", "l", "lifo");
    PT_OK(&a, "store", "w", "l", "1", "bottom");
    PT_OK(&a, "store", "w", "l", "1", "top");
    PT_OK(&a, "declare var", "w", "s", "single");
    PT_OK(&a, "store", "w", "s", "1", "s1");
    PT_OK_M(&a, m2, "store", "w", "s", "1", "s2");
    /* Descriptors, empty and binary values. */
    jr_store_raw(&a, "t", "12345", "typed", 5);
    jr_store_raw(&a, "z", "1", "", 0);
    jr_store_raw(&a, "b", "1", bin, sizeof(bin));
    /* Deleted things stay deleted. */
    PT_OK(&a, "store", "w", "dv", "1", "gone");
    PT_OK(&a, "delete var", "w", "dv");
    PT_OK(&a, "use ws", "gone", "", "no");
    PT_OK(&a, "store", "gone", "x", "1", "v");
    PT_OK(&a, "delete ws", "gone");
    /* Ownership: owned (purged after the grace) and persistent (kept). */
    PT_OPEN(&o, s.port, RAWC_META);
    PT_OK(&o, "open ws", "owned", "42", "no");
    PT_OK(&o, "store", "owned", "x", "1", "mine");
    PT_OK(&o, "open ws", "pers", "42", "yes");
    PT_OK(&o, "store", "pers", "x", "1", "kept");

    /* The owner is still connected when the server dies (a close would purge). */
    jsrv_kill9(&s);
    rawc_close(&o);
    rawc_close(&a);
    ck_assert_msg(jsrv_start(&s, jr_grace) == 0, "no restart (status %d)", s.status);
    t_up = jtest_now();
    /* Within the grace the owned workspace is there, unowned for now. */
    PT_OPEN(&o, s.port, RAWC_META);
    PT_OK(&o, "use ws", "owned", "", "no", "no");
    PT_LONG(&o, &r, "findTry", "owned", "x");
    PT_IS_VALUE(&o, &r, 1, "mine", 4, NULL);
    rawc_reply_free(&r);
    rawc_close(&o);
    if (jtest_now() - t_up > 2.5)
        printf(
            "journal restart test: the machine is slow, the grace check may be late\n");

    PT_OPEN(&a, s.port, RAWC_META);
    PT_OK(&a, "use ws", "w", "", "no", "no");
    PT_LONG(&a, &r, "fetch", "w", "x");
    PT_IS_VALUE(&a, &r, 1, "v2", 2, m2);
    rawc_reply_free(&r);
    PT_LONG(&a, &r, "fetch", "w", "x");
    PT_IS_VALUE(&a, &r, 1, "v3", 2, NULL);
    rawc_reply_free(&r);
    PT_NOVAL(&a, "fetchTry", "w", "x");
    PT_VALUE(&a, "top", "fetchTry", "w", "l");
    PT_VALUE(&a, "bottom", "fetchTry", "w", "l");
    PT_LONG(&a, &r, "findTry", "w", "s");
    PT_IS_VALUE(&a, &r, 1, "s2", 2, m2);
    rawc_reply_free(&r);
    PT_LONG(&a, &r, "fetchTry", "w", "t");
    PT_IS_VALUE(&a, &r, 12345, "typed", 5, NULL);
    rawc_reply_free(&r);
    PT_LONG(&a, &r, "fetchTry", "w", "z");
    PT_IS_VALUE(&a, &r, 1, "", 0, NULL);
    rawc_reply_free(&r);
    PT_LONG(&a, &r, "fetchTry", "w", "b");
    PT_IS_VALUE(&a, &r, 1, bin, sizeof(bin), NULL);
    rawc_reply_free(&r);
    /* The modes came back too: a second store to s replaces. */
    PT_OK(&a, "store", "w", "s", "1", "s3");
    PT_VALUE(&a, "s3", "fetchTry", "w", "s");
    PT_NOVAL(&a, "fetchTry", "w", "s");
    PT_OK(&a, "store", "w", "l", "1", "l1");
    PT_OK(&a, "store", "w", "l", "1", "l2");
    PT_VALUE(&a, "l2", "fetchTry", "w", "l");
    PT_NOVAL(&a, "fetchTry", "w", "dv");
    PT_SHORT(&a, 100, "No such workspace.", "use ws", "gone", "", "no", "no");
    /* After the grace: the owned workspace is purged, the persistent one kept. */
    while (jtest_now() - t_up < 4.5)
        usleep(100000);
    PT_SHORT(&a, 100, "No such workspace.", "use ws", "owned", "", "no", "no");
    PT_OK(&a, "use ws", "pers", "", "no", "no");
    PT_VALUE(&a, "kept", "findTry", "pers", "x");
    rawc_close(&a);
    free(m1);
    free(m2);
    jsrv_free(&s);
}
END_TEST

NWSTEST_SUITE(journal_state)
{
    Suite *s = suite_create("journal_state");
    TCase *tc = tcase_create("state");

    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, state_survives_sigkill);
    suite_add_tcase(s, tc);
    return s;
}
