/*
 * check_proto_commands.c -- every command of nws-protocol.md section 5 with
 * its exact reply shape, status codes and nwsReason texts (section 4.4), on
 * cookie, no-cookie and metadata connections.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "frame.h"
#include "ptest.h"

static struct nwstest_server *cmd_srv;

/* Starts a fresh server for each test. */
static void
cmd_setup(void)
{
    cmd_srv = ptest_start(NULL);
}

/* Stops it and checks the clean exit. */
static void
cmd_teardown(void)
{
    ptest_stop(cmd_srv);
}

START_TEST(store_fetch_on_every_connection_kind)
{
    static const enum rawc_kind kinds[] = {RAWC_PLAIN,      RAWC_META,
                                           RAWC_META_TO,    RAWC_META_FROM,
                                           RAWC_OLD_COOKIE, RAWC_OLD_NOCOOKIE};
    struct rawc                 c;
    struct rawc_reply           r;
    size_t                      i;
    char                        ws[16];

    for (i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
        /* A name per connection: each close purges the workspace it owned. */
        snprintf(ws, sizeof(ws), "foo%zu", i);
        PT_OPEN(&c, cmd_srv->port, kinds[i]);
        PT_OK(&c, "open ws", ws, "123", "no");
        PT_OK(&c, "store", ws, "x", "00000000000000000001", "hello");
        PT_LONG(&c, &r, "fetch", ws, "x");
        PT_IS_STR(&c, &r, "hello");
        if (c.cookie)
            ck_assert_str_eq(r.raw_index, "00000000000000000000");
        rawc_reply_free(&r);
        PT_NOVAL(&c, "fetchTry", ws, "x");
        rawc_close(&c);
    }
}
END_TEST

START_TEST(value_metadata_round_trip)
{
    struct rawc       a, b;
    struct rawc_reply r;
    char             *m1 = rawc_dict_new("k", "m1", "batchId", "7", NULL);
    char             *m2 = rawc_dict_new("k", "m2", NULL);

    PT_OPEN(&a, cmd_srv->port, RAWC_META);
    PT_OPEN(&b, cmd_srv->port, RAWC_META_FROM);
    PT_OK(&a, "use ws", "w", "", "no");
    PT_OK(&b, "use ws", "w", "", "no");
    PT_OK_M(&a, m1, "store", "w", "x", "1", "v1");
    PT_OK_M(&a, m2, "store", "w", "x", "1", "v2");
    /* Section 6.6: each value keeps the metadata of its own store. */
    PT_LONG(&b, &r, "findTry", "w", "x");
    PT_IS_VALUE(&b, &r, 1, "v1", 2, m1);
    rawc_reply_free(&r);
    PT_LONG(&b, &r, "fetch", "w", "x");
    PT_IS_VALUE(&b, &r, 1, "v1", 2, m1);
    rawc_reply_free(&r);
    PT_LONG(&a, &r, "fetch", "w", "x");
    PT_IS_VALUE(&a, &r, 1, "v2", 2, m2);
    rawc_reply_free(&r);
    /* A store without metadata gives {} back. */
    PT_OK(&a, "store", "w", "x", "1", "v3");
    PT_LONG(&b, &r, "fetch", "w", "x");
    PT_IS_VALUE(&b, &r, 1, "v3", 2, NULL);
    rawc_reply_free(&r);
    /* single: the metadata of the latest store wins. */
    PT_OK(&a, "declare var", "w", "s", "single");
    PT_OK_M(&a, m1, "store", "w", "s", "1", "a");
    PT_OK_M(&a, m2, "store", "w", "s", "1", "b");
    PT_LONG(&b, &r, "find", "w", "s");
    PT_IS_VALUE(&b, &r, 1, "b", 1, m2);
    rawc_reply_free(&r);
    free(m1);
    free(m2);
    rawc_close(&a);
    rawc_close(&b);
}
END_TEST

START_TEST(large_metadata_dictionaries)
{
    struct nwsp_buf   b = {0};
    struct rawc       c;
    struct rawc_reply r;
    char             *big = malloc(9999), key[16];
    int               i;

    ck_assert_ptr_nonnull(big);
    memset(big, 'm', 9999);
    /* Section 2.4: keys and values up to 9999 bytes, any number of entries. */
    nwsp_buf_dict_begin(&b, 40);
    nwsp_buf_dict_put(&b, "big", 3, big, 9999);
    nwsp_buf_dict_put(&b, big, 9999, "k", 1);
    nwsp_buf_dict_put(&b, "empty", 5, "", 0);
    for (i = 0; i < 37; i++) {
        snprintf(key, sizeof(key), "key%02d", i);
        nwsp_buf_dict_put(&b, key, strlen(key), key, strlen(key));
    }
    nwsp_buf_add(&b, "", 1);
    PT_OPEN(&c, cmd_srv->port, RAWC_META);
    PT_OK_M(&c, b.data, "use ws", "w", "", "no");
    PT_OK_M(&c, b.data, "store", "w", "x", "1", "v");
    PT_LONG(&c, &r, "fetch", "w", "x");
    PT_IS_VALUE(&c, &r, 1, "v", 1, b.data);
    rawc_reply_free(&r);
    nwsp_buf_free(&b);
    free(big);
    rawc_close(&c);
}
END_TEST

/* Stores val with descriptor text desc, fetches it, checks raw_want. */
static void
cmd_desc(struct rawc *c, const char *desc, const char *raw_want, const char *val)
{
    struct rawc_reply r;

    PT_OK(c, "store", "foo", "d", desc, val);
    PT_LONG(c, &r, "fetch", "foo", "d");
    ck_assert_msg(r.status == 0 && strcmp(r.raw_desc, raw_want) == 0,
                  "descriptor \"%s\": expected \"%s\", got \"%s\" (status %d)", desc,
                  raw_want, r.raw_desc, r.status);
    ck_assert_msg(r.len == strlen(val) && memcmp(r.value, val, r.len) == 0, "value");
    rawc_reply_free(&r);
}

START_TEST(type_descriptor_is_echoed)
{
    struct rawc c;

    PT_OPEN(&c, cmd_srv->port, RAWC_PLAIN);
    PT_OK(&c, "use ws", "foo", "", "no");
    /* Section 8: an opaque integer, echoed with %020d. */
    cmd_desc(&c, "00000000000016777217", "00000000000016777217", "py");
    cmd_desc(&c, "00000000000050331651", "00000000000050331651", "r\001raw");
    cmd_desc(&c, "00000000000117440512", "00000000000117440512", "\254\355java");
    cmd_desc(&c, "00000000000016777216", "00000000000016777216", "pickle");
    cmd_desc(&c, "1", "00000000000000000001", "short text");
    cmd_desc(&c, "-1", "-0000000000000000001", "negative");
    cmd_desc(&c, "00000000004278190081", "00000000004278190081", "language 255");
    rawc_close(&c);
}
END_TEST

START_TEST(zero_length_values_are_kept)
{
    struct rawc       c;
    struct rawc_reply r;

    PT_OPEN(&c, cmd_srv->port, RAWC_META);
    PT_OK(&c, "use ws", "foo", "", "no");
    /* Section 8.5: Python's store('v', '') then fetch gives ''. */
    PT_OK(&c, "store", "foo", "v", "00000000000016777217", "");
    PT_OK(&c, "store", "foo", "v", "1", "");
    PT_LONG(&c, &r, "fetch", "foo", "v");
    PT_IS_VALUE(&c, &r, 16777217, "", 0, NULL);
    rawc_reply_free(&r);
    PT_LONG(&c, &r, "fetchTry", "foo", "v");
    PT_IS_VALUE(&c, &r, 1, "", 0, NULL);
    rawc_reply_free(&r);
    PT_NOVAL(&c, "fetchTry", "foo", "v");
    rawc_close(&c);
}
END_TEST

START_TEST(binary_values_and_names)
{
    struct rawc       c;
    struct rawc_reply r;
    char              val[512], ws[3] = {'\200', '\377', ' '};
    const char       *argv[5];
    size_t            lens[5], i;

    for (i = 0; i < sizeof(val); i++)
        val[i] = (char)(i * 7);
    PT_OPEN(&c, cmd_srv->port, RAWC_PLAIN);
    argv[0] = "use ws";
    argv[1] = ws;
    argv[2] = "";
    argv[3] = "no";
    lens[0] = 6;
    lens[1] = sizeof(ws);
    lens[2] = 0;
    lens[3] = 2;
    PT_RC(&c, rawc_send(&c, NULL, 0, 4, argv, lens));
    PT_RC(&c, rawc_read_short(&c, &r));
    PT_IS_SHORT(&c, &r, 0, NULL);
    rawc_reply_free(&r);
    /*
     * Values are opaque bytes (section 1.4); names too, but for control
     * characters, which the server refuses (they forge listing lines).
     */
    argv[0] = "store";
    lens[0] = 5;
    argv[2] = "v\377ar";
    lens[2] = 4;
    argv[3] = "3";
    lens[3] = 1;
    argv[4] = val;
    lens[4] = sizeof(val);
    PT_RC(&c, rawc_send(&c, NULL, 0, 5, argv, lens));
    PT_RC(&c, rawc_read_short(&c, &r));
    PT_IS_SHORT(&c, &r, 0, NULL);
    rawc_reply_free(&r);
    argv[0] = "fetch";
    lens[0] = 5;
    PT_RC(&c, rawc_send(&c, NULL, 0, 3, argv, lens));
    PT_RC(&c, rawc_read_long(&c, &r));
    PT_IS_VALUE(&c, &r, 3, val, sizeof(val), NULL);
    rawc_reply_free(&r);
    rawc_close(&c);
}
END_TEST

START_TEST(empty_variable_name)
{
    struct rawc c;
    char        line[256];

    PT_OPEN(&c, cmd_srv->port, RAWC_PLAIN);
    PT_OK(&c, "use ws", "foo", "", "no");
    PT_OK(&c, "store", "foo", "", "1", "nameless");
    ck_assert_str_eq(PT_VARLINE(&c, "foo", "", line), "\t1\t0\t0\tfifo");
    PT_VALUE(&c, "nameless", "fetch", "foo", "");
    rawc_close(&c);
}
END_TEST

START_TEST(open_and_use_create_flag)
{
    struct rawc       c;
    struct rawc_reply r;

    PT_OPEN(&c, cmd_srv->port, RAWC_META);
    /* Section 5.2: only an absent flag or exactly "yes" creates. */
    PT_SHORT(&c, 100, "No such workspace.", "use ws", "u1", "", "no", "no");
    PT_SHORT(&c, 100, "No such workspace.", "open ws", "o1", "1", "no", "no");
    PT_SHORT(&c, 100, "No such workspace.", "open ws", "o1", "1", "no", "maybe");
    PT_SHORT(&c, 100, "No such workspace.", "use ws", "u1", "", "no", "");
    PT_SHORT(&c, 100, "No such workspace.", "use ws", "u1", "", "no", "YES");
    PT_LONG(&c, &r, "list wss");
    PT_IS_TEXT(&c, &r, " __default\t[system]\tTrue\t0\t\n");
    rawc_reply_free(&r);
    PT_OK(&c, "use ws", "u1", "", "no");
    PT_OK(&c, "use ws", "u2", "", "no", "yes");
    PT_OK(&c, "open ws", "o1", "1", "no", "yes");
    PT_OK(&c, "open ws", "o2", "1", "no");
    PT_LONG(&c, &r, "list wss", "u1");
    PT_IS_TEXT(&c, &r, " u1\t\tFalse\t0\t\n");
    rawc_reply_free(&r);
    PT_LONG(&c, &r, "list wss", "u2");
    PT_IS_TEXT(&c, &r, " u2\t\tFalse\t0\t\n");
    rawc_reply_free(&r);
    /* An existing workspace: create=no is fine. */
    PT_OK(&c, "use ws", "o1", "", "no", "no");
    PT_OK(&c, "open ws", "u1", "1", "no", "no");
    rawc_close(&c);
}
END_TEST

START_TEST(delete_ws_replies)
{
    struct rawc a, b;

    PT_OPEN(&a, cmd_srv->port, RAWC_META);
    PT_OPEN(&b, cmd_srv->port, RAWC_META);
    PT_OK(&a, "open ws", "foo", "1", "no");
    PT_OK(&a, "store", "foo", "x", "1", "v");
    /* Any connection may delete any workspace (section 7.6). */
    PT_OK(&b, "delete ws", "foo");
    PT_SHORT(&b, 1, "Workspace \"foo\" does not exist.", "delete ws", "foo");
    PT_SHORT(&a, 1, "Workspace \"nope\" does not exist.", "delete ws", "nope");
    PT_WAIT_WS(&b, "foo", 0);
    rawc_close(&a);
    rawc_close(&b);
}
END_TEST

START_TEST(declare_var_replies)
{
    struct rawc c;
    char        line[256];

    PT_OPEN(&c, cmd_srv->port, RAWC_META);
    PT_OK(&c, "use ws", "w", "", "no");
    PT_OK(&c, "declare var", "w", "f", "fifo");
    PT_OK(&c, "declare var", "w", "f", "fifo");
    PT_SHORT(&c, 1, "Cannot change variable mode to \"lifo\".", "declare var", "w", "f",
             "lifo");
    PT_SHORT(&c, 1, "Cannot change variable mode to \"single\".", "declare var", "w", "f",
             "single");
    /* A bad mode name: error, and the variable stays, mode unknown (5.6, Q9). */
    PT_SHORT(&c, 1, "Cannot change variable mode to \"bogus\".", "declare var", "w", "b",
             "bogus");
    ck_assert_str_eq(PT_VARLINE(&c, "w", "b", line), "b\t0\t0\t0\tunknown");
    PT_OK(&c, "declare var", "w", "b", "single");
    ck_assert_str_eq(PT_VARLINE(&c, "w", "b", line), "b\t0\t0\t0\tsingle");
    /* A store turns an unknown variable into fifo; fifo cannot become lifo. */
    PT_OK(&c, "store", "w", "s", "1", "x");
    PT_SHORT(&c, 1, "Cannot change variable mode to \"lifo\".", "declare var", "w", "s",
             "lifo");
    PT_OK(&c, "declare var", "w", "s", "fifo");
    ck_assert_str_eq(PT_VARLINE(&c, "w", "s", line), "s\t1\t0\t0\tfifo");
    /* Mode names are exact. */
    PT_SHORT(&c, 1, "Cannot change variable mode to \"FIFO\".", "declare var", "w", "u",
             "FIFO");
    rawc_close(&c);
}
END_TEST

START_TEST(delete_var_replies)
{
    struct rawc c;
    char        line[256];

    PT_OPEN(&c, cmd_srv->port, RAWC_META);
    PT_OK(&c, "use ws", "w", "", "no");
    PT_OK(&c, "store", "w", "x", "1", "v");
    PT_OK(&c, "delete var", "w", "x");
    ck_assert_str_eq(PT_VARLINE(&c, "w", "x", line), "");
    PT_SHORT(&c, 1, "Variable \"x\" does not exist in workspace \"w\".", "delete var",
             "w", "x");
    PT_SHORT(&c, 1, "Variable \"nope\" does not exist in workspace \"w\".", "delete var",
             "w", "nope");
    rawc_close(&c);
}
END_TEST

START_TEST(try_on_empty_exact_bytes)
{
    struct rawc              c;
    char                     buf[123];
    static const char        want[] = "0001"
                                      "0009nwsReason"
                                      "0018no value available"
                                      "0001"
                                      "00000000000000000000"
                                      "                    "
                                      "00000000000000000000"
                                      "00000000000000000000";
    static const char *const ops[] = {"fetchTry", "findTry", NULL};
    int                      i;

    PT_OPEN(&c, cmd_srv->port, RAWC_META);
    PT_OK(&c, "use ws", "foo", "", "no");
    for (i = 0; ops[i] != NULL; i++) {
        PT_RC(&c, rawc_sendv(&c, NULL, ops[i], "foo", "x", NULL));
        c.trace_len = 0;
        PT_RC(&c, rawc_read(&c, buf, sizeof(buf)));
        ck_assert_msg(memcmp(buf, want, sizeof(buf)) == 0, "%s: not the 123 bytes of 4.6",
                      ops[i]);
    }
    PT_RC(&c, rawc_sendv(&c, NULL, "ifindTry", "foo", "x", "                    ",
                         "00000000000000000000", NULL));
    PT_RC(&c, rawc_read(&c, buf, sizeof(buf)));
    ck_assert_msg(memcmp(buf, want, sizeof(buf)) == 0, "ifindTry: not the 123 bytes");
    rawc_close(&c);
}
END_TEST

START_TEST(find_keeps_fetch_takes)
{
    struct rawc c;
    char        line[256];

    PT_OPEN(&c, cmd_srv->port, RAWC_META);
    PT_OK(&c, "use ws", "w", "", "no");
    PT_OK(&c, "store", "w", "x", "1", "a");
    PT_VALUE(&c, "a", "find", "w", "x");
    PT_VALUE(&c, "a", "findTry", "w", "x");
    ck_assert_str_eq(PT_VARLINE(&c, "w", "x", line), "x\t1\t0\t0\tfifo");
    PT_VALUE(&c, "a", "fetch", "w", "x");
    ck_assert_str_eq(PT_VARLINE(&c, "w", "x", line), "x\t0\t0\t0\tfifo");
    PT_NOVAL(&c, "findTry", "w", "x");
    PT_OK(&c, "store", "w", "x", "1", "b");
    PT_VALUE(&c, "b", "fetchTry", "w", "x");
    PT_NOVAL(&c, "fetchTry", "w", "x");
    rawc_close(&c);
}
END_TEST

START_TEST(non_iterated_ops_ignore_extra_arguments)
{
    struct rawc c;

    PT_OPEN(&c, cmd_srv->port, RAWC_META);
    PT_OK(&c, "use ws", "w", "", "no");
    PT_OK(&c, "store", "w", "x", "1", "a");
    PT_OK(&c, "store", "w", "x", "1", "b");
    /* Section 5.9 step 1: varId and index are ignored, even garbage. */
    PT_VALUE(&c, "a", "findTry", "w", "x", "not an id", "not a number");
    PT_VALUE(&c, "a", "find", "w", "x", "junk");
    PT_VALUE(&c, "a", "fetchTry", "w", "x", "junk", "x1");
    PT_VALUE(&c, "b", "fetch", "w", "x", "", "");
    rawc_close(&c);
}
END_TEST

START_TEST(any_command_naming_a_variable_creates_it)
{
    struct rawc       c;
    struct rawc_reply r;

    PT_OPEN(&c, cmd_srv->port, RAWC_META);
    PT_OK(&c, "use ws", "w", "", "no");
    /* Q9: fetchTry/findTry/ifindTry of a missing name leave it behind. */
    PT_NOVAL(&c, "fetchTry", "w", "a");
    PT_NOVAL(&c, "findTry", "w", "b");
    PT_NOVAL(&c, "ifindTry", "w", "c", "", "0");
    PT_NOVAL(&c, "ifetchTry", "w", "d", "                    ", "00000000000000000000");
    PT_LONG(&c, &r, "list vars", "w");
    PT_IS_TEXT(&c, &r,
               "a\t0\t0\t0\tunknown\n"
               "b\t0\t0\t0\tunknown\n"
               "c\t0\t0\t0\tunknown\n"
               "d\t0\t0\t0\tunknown");
    rawc_reply_free(&r);
    rawc_close(&c);
}
END_TEST

START_TEST(unknown_verbs)
{
    static const char *const verbs[] = {"frobnicate", "Fetch",   "store ", "list  wss",
                                        "",           "listwss", "sleigh", NULL};
    struct rawc              c;
    char                     why[64];
    int                      i;

    PT_OPEN(&c, cmd_srv->port, RAWC_META);
    /* Section 5.12: a short error for every unknown name; case matters. */
    for (i = 0; verbs[i] != NULL; i++) {
        snprintf(why, sizeof(why), "Unknown verb \"%s\"", verbs[i]);
        PT_SHORT(&c, 1, why, verbs[i], "w", "x");
    }
    PT_SHORT(&c, 1, "Unknown verb \"nope\"", "nope");
    /* The connection is still in step. */
    PT_OK(&c, "use ws", "w", "", "no");
    rawc_close(&c);

    PT_OPEN(&c, cmd_srv->port, RAWC_OLD_NOCOOKIE);
    PT_SHORT(&c, 1, NULL, "frobnicate");
    PT_OK(&c, "use ws", "w", "", "no");
    rawc_close(&c);
}
END_TEST

START_TEST(not_opened_is_2001_in_the_command_shape)
{
    static const char *const long_ops[] = {"fetch",   "fetchTry", "find",
                                           "findTry", "ifetch",   "ifetchTry",
                                           "ifind",   "ifindTry", NULL};
    struct rawc              a, b;
    const char              *why = "Workspace foo has not been opened.";
    int                      i;

    PT_OPEN(&a, cmd_srv->port, RAWC_META);
    PT_OPEN(&b, cmd_srv->port, RAWC_OLD_NOCOOKIE);
    /* foo exists (another connection made it) but this one never opened it. */
    PT_OK(&b, "open ws", "foo", "1", "no");
    PT_OK(&b, "store", "foo", "x", "1", "v");
    PT_SHORT(&a, 2001, why, "store", "foo", "x", "1", "v");
    PT_SHORT(&a, 2001, why, "declare var", "foo", "x", "fifo");
    PT_SHORT(&a, 2001, why, "delete var", "foo", "x");
    for (i = 0; long_ops[i] != NULL; i++) {
        /* Blocking ops must not block here: the error comes at once. */
        PT_LERR(&a, 2001, why, long_ops[i], "foo", "x");
        PT_LERR(&a, 2001, why, long_ops[i], "foo", "x", "                    ",
                "00000000000000000000");
    }
    PT_LERR(&a, 2001, why, "list vars", "foo");
    PT_LERR(&a, 2001, "Workspace nope has not been opened.", "list vars", "nope");
    /* Nothing was taken. */
    PT_VALUE(&b, "v", "fetch", "foo", "x");
    rawc_close(&a);
    rawc_close(&b);
}
END_TEST

START_TEST(not_opened_on_nocookie_connection)
{
    struct rawc c;
    char        buf[44];

    PT_OPEN(&c, cmd_srv->port, RAWC_OLD_NOCOOKIE);
    PT_RC(&c, rawc_sendv(&c, NULL, "fetch", "foo", "x", NULL));
    c.trace_len = 0;
    PT_RC(&c, rawc_read(&c, buf, sizeof(buf)));
    ck_assert(memcmp(buf,
                     "2001"
                     "00000000000000000000"
                     "00000000000000000000",
                     44) == 0);
    PT_SHORT(&c, 2001, NULL, "store", "foo", "x", "1", "v");
    rawc_close(&c);
}
END_TEST

START_TEST(default_workspace)
{
    struct rawc       c;
    struct rawc_reply r;

    PT_OPEN(&c, cmd_srv->port, RAWC_META);
    /* Section 7.2: __default exists, owner [system], persistent. */
    PT_LONG(&c, &r, "list wss");
    PT_IS_TEXT(&c, &r, " __default\t[system]\tTrue\t0\t\n");
    rawc_reply_free(&r);
    PT_LERR(&c, 2001, "Workspace __default has not been opened.", "list vars",
            "__default");
    PT_OK(&c, "open ws", "__default", "99", "no");
    PT_OK(&c, "store", "__default", "x", "1", "v");
    PT_LONG(&c, &r, "list wss");
    /* open ws puts it in this connection's owned set, owner unchanged. */
    PT_IS_TEXT(&c, &r, ">__default\t[system]\tTrue\t1\tx\n");
    rawc_reply_free(&r);
    rawc_close(&c);
    /* Persistent: the disconnect of a connection that opened it keeps it. */
    PT_OPEN(&c, cmd_srv->port, RAWC_META);
    PT_OK(&c, "use ws", "__default", "", "no");
    PT_VALUE(&c, "v", "fetch", "__default", "x");
    rawc_close(&c);
}
END_TEST

START_TEST(unknown_wstype_is_a_plain_workspace)
{
    struct rawc       c;
    struct rawc_reply r;
    char             *m = rawc_dict_new("wstype", "nosuchtype", NULL);
    char              name[256];

    PT_OPEN(&c, cmd_srv->port, RAWC_META);
    /* Section 7.10 option 1 (Q21 fixed): an unknown wstype is ignored. */
    PT_OK_M(&c, m, "open ws", "typed", "1", "no");
    PT_OK_M(&c, m, "use ws", "typed2", "", "no");
    PT_OK(&c, "store", "typed", "x", "1", "v");
    PT_VALUE(&c, "v", "fetch", "typed", "x");
    PT_LONG(&c, &r, "list vars", "typed2");
    PT_IS_TEXT(&c, &r, "");
    rawc_reply_free(&r);
    PT_LONG_M(&c, m, &r, "mktemp ws", "typed_%d");
    PT_IS_TEXT(&c, &r, NULL);
    ck_assert(r.len < sizeof(name));
    memcpy(name, r.value, r.len);
    name[r.len] = '\0';
    rawc_reply_free(&r);
    PT_OK(&c, "store", name, "x", "1", "w");
    PT_VALUE(&c, "w", "fetch", name, "x");
    free(m);
    rawc_close(&c);
}
END_TEST

START_TEST(lengths_with_spaces_accepted)
{
    static const char spaced[] = "   4"
                                 "                   6use ws"
                                 "3                   foo"
                                 "  0                 "
                                 "00000000000000000002no";
    struct rawc       c;

    PT_OPEN(&c, cmd_srv->port, RAWC_PLAIN);
    /* Section 1.3: a server should accept spaces around a count or length. */
    PT_RC(&c, rawc_write(&c, spaced, sizeof(spaced) - 1));
    {
        struct rawc_reply r;

        PT_RC(&c, rawc_read_short(&c, &r));
        PT_IS_SHORT(&c, &r, 0, NULL);
        rawc_reply_free(&r);
    }
    PT_OK(&c, "store", "foo", "x", "1", "v");
    rawc_close(&c);
}
END_TEST

NWSTEST_SUITE(proto_commands)
{
    Suite *s = suite_create("proto_commands");
    TCase *tc = tcase_create("values");

    tcase_add_checked_fixture(tc, cmd_setup, cmd_teardown);
    tcase_set_timeout(tc, 20);
    tcase_add_test(tc, store_fetch_on_every_connection_kind);
    tcase_add_test(tc, value_metadata_round_trip);
    tcase_add_test(tc, large_metadata_dictionaries);
    tcase_add_test(tc, type_descriptor_is_echoed);
    tcase_add_test(tc, zero_length_values_are_kept);
    tcase_add_test(tc, binary_values_and_names);
    tcase_add_test(tc, empty_variable_name);
    tcase_add_test(tc, find_keeps_fetch_takes);
    tcase_add_test(tc, non_iterated_ops_ignore_extra_arguments);
    tcase_add_test(tc, try_on_empty_exact_bytes);
    suite_add_tcase(s, tc);
    tc = tcase_create("commands");
    tcase_add_checked_fixture(tc, cmd_setup, cmd_teardown);
    tcase_set_timeout(tc, 20);
    tcase_add_test(tc, open_and_use_create_flag);
    tcase_add_test(tc, delete_ws_replies);
    tcase_add_test(tc, declare_var_replies);
    tcase_add_test(tc, delete_var_replies);
    tcase_add_test(tc, any_command_naming_a_variable_creates_it);
    tcase_add_test(tc, unknown_verbs);
    tcase_add_test(tc, not_opened_is_2001_in_the_command_shape);
    tcase_add_test(tc, not_opened_on_nocookie_connection);
    tcase_add_test(tc, default_workspace);
    tcase_add_test(tc, unknown_wstype_is_a_plain_workspace);
    tcase_add_test(tc, lengths_with_spaces_accepted);
    suite_add_tcase(s, tc);
    return s;
}
