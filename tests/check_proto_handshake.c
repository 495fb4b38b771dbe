/*
 * check_proto_handshake.c -- both handshakes and the option advertisement
 * (nws-protocol.md section 2), checked byte for byte against a live server.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ptest.h"

static struct nwstest_server *hs_srv;

/* Starts a fresh server for each test. */
static void
hs_setup(void)
{
    hs_srv = ptest_start(NULL);
}

/* Stops it and checks the clean exit. */
static void
hs_teardown(void)
{
    ptest_stop(hs_srv);
}

/* Reads exactly strlen(want) bytes and asserts they are want. */
static void
hs_expect_bytes(int line, struct rawc *c, const char *want, size_t len)
{
    char buf[256], e1[800], e2[800];

    c->trace_len = 0;
    ck_assert_msg(len <= sizeof(buf), "test bug");
    ck_assert_msg(rawc_read(c, buf, len) == 0, "line %d: expected \"%s\": %s", line,
                  rawc_escape(e1, sizeof(e1), want, len), c->err);
    ck_assert_msg(memcmp(buf, want, len) == 0, "line %d: expected \"%s\", got \"%s\"",
                  line, rawc_escape(e1, sizeof(e1), want, len),
                  rawc_escape(e2, sizeof(e2), buf, len));
}

#define HS_EXPECT(c, lit) hs_expect_bytes(__LINE__, (c), (lit), sizeof(lit) - 1)
#define HS_WRITE(c, lit)  rawc_write((c), (lit), sizeof(lit) - 1)

/* An advertisement entry must be present with exactly the value want. */
static void
hs_adv_has(struct rawc *c, const char *key, const char *want)
{
    const char *v;
    size_t      vlen;
    char        esc[800];

    ck_assert_msg(rawc_dict_get(c->adv, c->adv_len, key, &v, &vlen) == 1,
                  "advertisement lacks %s: \"%s\"", key,
                  rawc_escape(esc, sizeof(esc), c->adv, c->adv_len));
    ck_assert_msg(vlen == strlen(want) && memcmp(v, want, vlen) == 0,
                  "advertised %s is \"%.*s\", expected \"%s\"", key, (int)vlen, v, want);
}

START_TEST(advertisement)
{
    static const char *const none[] = {NULL};
    struct rawc              c;
    struct rawc_reply        r;
    const char              *v;
    size_t                   vlen;
    char                     port[16];

    PT_OPEN(&c, hs_srv->port, RAWC_NONE);
    ck_assert_msg(rawc_hs_new(&c, none) == 0, "%s", c.err);
    /* Section 2.6: the three options must be there, "" meaning any value. */
    hs_adv_has(&c, "MetadataToServer", "");
    hs_adv_has(&c, "MetadataFromServer", "");
    hs_adv_has(&c, "KillServerOnClose", "");
    /*
     * Section 2.5: the web port, as the ready line says.  Until the web
     * interface exists the server advertises the port it was given (0 here);
     * once it listens, the ready line and NwsWebPort must name its real port.
     */
    ck_assert_msg(rawc_dict_get(c.adv, c.adv_len, "NwsWebPort", &v, &vlen) == 1,
                  "NwsWebPort is not advertised");
    snprintf(port, sizeof(port), "%d", hs_srv->web_port);
    ck_assert_msg(vlen == strlen(port) && memcmp(v, port, vlen) == 0,
                  "NwsWebPort advertised as \"%.*s\" with the ready line saying web-port=%d",
                  (int)vlen, v, hs_srv->web_port);
    /* Section 2.7 and Q14: never advertise SSL. */
    ck_assert_msg(rawc_dict_get(c.adv, c.adv_len, "SSL", &v, &vlen) == 0,
                  "SSL must not be advertised");
    ck_assert_msg(c.cookie && !c.meta_to && !c.meta_from, "flags");
    /* No option requested: replies have a cookie and no dictionary. */
    PT_LONG(&c, &r, "list wss");
    PT_IS_TEXT(&c, &r, " __default\t[system]\tTrue\t0\t\n");
    rawc_reply_free(&r);
    rawc_close(&c);
}
END_TEST

START_TEST(both_metadata_exact_bytes)
{
    struct rawc c;

    PT_OPEN(&c, hs_srv->port, RAWC_META);
    /* Section 3.2: use ws with an empty metadata dict; reply "0000" + "0000". */
    PT_RC(&c, HS_WRITE(&c, "0000"
                           "0004"
                           "00000000000000000006use ws"
                           "00000000000000000003foo"
                           "00000000000000000000"
                           "00000000000000000002no"));
    HS_EXPECT(&c, "00000000");
    PT_RC(&c, HS_WRITE(&c, "00010001k0001v"
                           "0005"
                           "00000000000000000005store"
                           "00000000000000000003foo"
                           "00000000000000000001x"
                           "0000000000000000002000000000000000000001"
                           "00000000000000000005hello"));
    HS_EXPECT(&c, "00000000");
    rawc_close(&c);
}
END_TEST

START_TEST(metadata_to_server_only)
{
    struct rawc c;

    PT_OPEN(&c, hs_srv->port, RAWC_META_TO);
    PT_RC(&c, HS_WRITE(&c, "0000"
                           "0004"
                           "00000000000000000006use ws"
                           "00000000000000000003foo"
                           "00000000000000000000"
                           "00000000000000000002no"));
    HS_EXPECT(&c, "0000");
    /* A second exchange proves no dictionary was hiding after the status. */
    PT_RC(&c, HS_WRITE(&c, "0000"
                           "0003"
                           "00000000000000000008fetchTry"
                           "00000000000000000003foo"
                           "00000000000000000001x"));
    HS_EXPECT(&c, "0001"
                  "00000000000000000000"
                  "                    "
                  "00000000000000000000"
                  "00000000000000000000");
    rawc_close(&c);
}
END_TEST

START_TEST(metadata_from_server_only)
{
    struct rawc c;

    PT_OPEN(&c, hs_srv->port, RAWC_META_FROM);
    PT_RC(&c, HS_WRITE(&c, "0004"
                           "00000000000000000006use ws"
                           "00000000000000000003foo"
                           "00000000000000000000"
                           "00000000000000000002no"));
    HS_EXPECT(&c, "00000000");
    /* Section 4.6, the 123-byte fetchTry error. */
    PT_RC(&c, HS_WRITE(&c, "0003"
                           "00000000000000000008fetchTry"
                           "00000000000000000003foo"
                           "00000000000000000001x"));
    HS_EXPECT(&c, "00010009nwsReason0018no value available"
                  "0001"
                  "00000000000000000000"
                  "                    "
                  "00000000000000000000"
                  "00000000000000000000");
    rawc_close(&c);
}
END_TEST

START_TEST(option_values_other_than_one_leave_it_off)
{
    static const char *const opts[] = {"MetadataFromServer", "0", "MetadataToServer", "",
                                       NULL};
    struct rawc              c;

    PT_OPEN(&c, hs_srv->port, RAWC_NONE);
    ck_assert_msg(rawc_hs_new(&c, opts) == 0, "expected A000: %s", c.err);
    /* Both features stay off: no dictionary either way. */
    PT_RC(&c, HS_WRITE(&c, "0004"
                           "00000000000000000006use ws"
                           "00000000000000000003foo"
                           "00000000000000000000"
                           "00000000000000000002no"));
    HS_EXPECT(&c, "0000");
    PT_RC(&c, HS_WRITE(&c, "0001"
                           "00000000000000000008deadmanX"));
    HS_EXPECT(&c, "0001");
    rawc_close(&c);
}
END_TEST

/* Requests opts and asserts "F000" followed by the server closing. */
static void
hs_denied(int line, const char *const *opts)
{
    struct rawc c;
    int         rc;

    PT_OPEN(&c, hs_srv->port, RAWC_NONE);
    rc = rawc_hs_new(&c, opts);
    ck_assert_msg(rc == 1, "line %d: expected F000 (rc %d): %s", line, rc, c.err);
    ck_assert_msg(rawc_expect_eof(&c, PTEST_SOON_MS) == 0, "line %d: after F000: %s",
                  line, c.err);
    rawc_close(&c);
}

START_TEST(unadvertised_or_disallowed_option_denied)
{
    static const char *const ssl[] = {"SSL", "1", NULL};
    static const char *const bogus[] = {"MetadataToServer", "1", "Bogus", "1", NULL};
    static const char *const webport[] = {"NwsWebPort", "1", NULL};
    const char              *good[3] = {"NwsWebPort", NULL, NULL};
    char                     port[16];
    struct rawc              c;

    hs_denied(__LINE__, ssl);
    hs_denied(__LINE__, bogus);
    /* A non-empty advertised value must be matched exactly (section 2.6). */
    hs_denied(__LINE__, webport);
    snprintf(port, sizeof(port), "%d", hs_srv->web_port);
    good[1] = port;
    PT_OPEN(&c, hs_srv->port, RAWC_NONE);
    ck_assert_msg(rawc_hs_new(&c, good) == 0, "NwsWebPort=%s must be accepted: %s", port,
                  c.err);
    rawc_close(&c);
}
END_TEST

START_TEST(garbage_instead_of_r000)
{
    struct rawc c;
    char        w[4];

    PT_OPEN(&c, hs_srv->port, RAWC_NONE);
    c.trace_len = 0;
    PT_RC(&c, HS_WRITE(&c, "X000"));
    PT_RC(&c, rawc_read(&c, w, 4));
    ck_assert(memcmp(w, "P000", 4) == 0);
    PT_RC(&c, rawc_read_dict(&c, &c.adv, &c.adv_len));
    PT_RC(&c, HS_WRITE(&c, "R00X0000"));
    HS_EXPECT(&c, "F000");
    ck_assert_msg(rawc_expect_eof(&c, PTEST_SOON_MS) == 0, "%s", c.err);
    rawc_close(&c);
}
END_TEST

/* Checks one old-style greeting word and the cookie flag it implies. */
static void
hs_old(const char *word, int cookie)
{
    struct rawc       c;
    struct rawc_reply r;

    PT_OPEN(&c, hs_srv->port, RAWC_NONE);
    ck_assert_msg(rawc_hs_old(&c, word) == 0, "word %s: %s", word, c.err);
    ck_assert_int_eq(c.cookie, cookie);
    PT_OK(&c, "use ws", "foo", "", "no");
    if (cookie) {
        /* 84 bytes: status, D20(0), 20 spaces, D20(0), D20(0). */
        PT_RC(&c, rawc_sendv(&c, NULL, "fetchTry", "foo", word, NULL));
        HS_EXPECT(&c, "0001"
                      "00000000000000000000"
                      "                    "
                      "00000000000000000000"
                      "00000000000000000000");
    } else {
        /* 44 bytes: no cookie on this connection. */
        PT_RC(&c, rawc_sendv(&c, NULL, "fetchTry", "foo", word, NULL));
        HS_EXPECT(&c, "0001"
                      "00000000000000000000"
                      "00000000000000000000");
    }
    PT_OK(&c, "store", "foo", word, "1", "hello");
    PT_LONG(&c, &r, "fetch", "foo", word);
    PT_IS_STR(&c, &r, "hello");
    if (cookie)
        ck_assert_str_eq(r.raw_index, "00000000000000000000");
    rawc_reply_free(&r);
    rawc_close(&c);
}

START_TEST(old_style_words)
{
    hs_old("1112", 1);
    hs_old("abcd", 1);
    hs_old("Y000", 1);
    hs_old("2222", 1);
    hs_old("1111", 0);
    hs_old("0000", 0);
}
END_TEST

START_TEST(old_style_exact_value_reply)
{
    struct rawc c;
    char        buf[89];

    PT_OPEN(&c, hs_srv->port, RAWC_OLD_COOKIE);
    PT_OK(&c, "use ws", "foo", "", "no");
    PT_OK(&c, "store", "foo", "x", "00000000000000000001", "hello");
    PT_RC(&c, rawc_sendv(&c, NULL, "fetch", "foo", "x", NULL));
    /* Section 4.2: 89 bytes with the cookie. */
    c.trace_len = 0;
    PT_RC(&c, rawc_read(&c, buf, 89));
    ck_assert(memcmp(buf, "000000000000000000000001", 24) == 0);
    ck_assert_msg(buf[24] != ' ' && buf[43] != ' ', "variable id must not be blank");
    ck_assert(memcmp(buf + 44,
                     "00000000000000000000"
                     "00000000000000000005hello",
                     45) == 0);
    rawc_close(&c);

    PT_OPEN(&c, hs_srv->port, RAWC_OLD_NOCOOKIE);
    PT_OK(&c, "use ws", "foo", "", "no");
    PT_OK(&c, "store", "foo", "x", "00000000000000000001", "hello");
    PT_RC(&c, rawc_sendv(&c, NULL, "fetch", "foo", "x", NULL));
    /* The same without the two cookie fields: 49 bytes. */
    HS_EXPECT(&c, "0000"
                  "00000000000000000001"
                  "00000000000000000005hello");
    PT_NOVAL(&c, "fetchTry", "foo", "x");
    rawc_close(&c);
}
END_TEST

START_TEST(x_first_byte_is_new_style)
{
    struct rawc c;

    PT_OPEN(&c, hs_srv->port, RAWC_NONE);
    c.trace_len = 0;
    /* Section 2.1: only the first byte "X" matters. */
    PT_RC(&c, HS_WRITE(&c, "Xabc"));
    HS_EXPECT(&c, "P000");
    rawc_close(&c);
}
END_TEST

START_TEST(fragmented_handshake_and_request)
{
    static const char msg[] = "X000";
    static const char req[] = "R0000000"
                              "0001"
                              "00000000000000000008list wss";
    struct rawc       c;
    struct rawc_reply r;
    size_t            i;
    char              w[4];

    PT_OPEN(&c, hs_srv->port, RAWC_NONE);
    c.cookie = 1;
    c.meta_from = c.meta_to = 0;
    /* One byte at a time: the server must buffer partial words and frames. */
    for (i = 0; i < 4; i++) {
        PT_RC(&c, rawc_write(&c, msg + i, 1));
        usleep(2000);
    }
    c.trace_len = 0;
    PT_RC(&c, rawc_read(&c, w, 4));
    ck_assert(memcmp(w, "P000", 4) == 0);
    PT_RC(&c, rawc_read_dict(&c, &c.adv, &c.adv_len));
    for (i = 0; i < sizeof(req) - 1; i++) {
        PT_RC(&c, rawc_write(&c, req + i, 1));
        /* "A000" can only come once the options dictionary is complete. */
        if (i == 7)
            HS_EXPECT(&c, "A000");
        usleep(1000);
    }
    PT_RC(&c, rawc_read_long(&c, &r));
    PT_IS_TEXT(&c, &r, " __default\t[system]\tTrue\t0\t\n");
    rawc_reply_free(&r);
    rawc_close(&c);
}
END_TEST

START_TEST(handshake_and_request_in_one_write)
{
    struct rawc       c;
    struct rawc_reply r;
    char              w[4];

    PT_OPEN(&c, hs_srv->port, RAWC_NONE);
    c.cookie = 1;
    c.meta_from = c.meta_to = 0;
    /* TCP is a stream: a client may send before reading the server's words. */
    PT_RC(&c, HS_WRITE(&c, "X000R0000000"
                           "0001"
                           "00000000000000000008list wss"));
    c.trace_len = 0;
    PT_RC(&c, rawc_read(&c, w, 4));
    ck_assert(memcmp(w, "P000", 4) == 0);
    PT_RC(&c, rawc_read_dict(&c, &c.adv, &c.adv_len));
    HS_EXPECT(&c, "A000");
    PT_RC(&c, rawc_read_long(&c, &r));
    PT_IS_TEXT(&c, &r, " __default\t[system]\tTrue\t0\t\n");
    rawc_reply_free(&r);
    rawc_close(&c);
}
END_TEST

NWSTEST_SUITE(proto_handshake)
{
    Suite *s = suite_create("proto_handshake");
    TCase *tc = tcase_create("new_style");

    tcase_add_checked_fixture(tc, hs_setup, hs_teardown);
    tcase_set_timeout(tc, 20);
    tcase_add_test(tc, advertisement);
    tcase_add_test(tc, both_metadata_exact_bytes);
    tcase_add_test(tc, metadata_to_server_only);
    tcase_add_test(tc, metadata_from_server_only);
    tcase_add_test(tc, option_values_other_than_one_leave_it_off);
    tcase_add_test(tc, unadvertised_or_disallowed_option_denied);
    tcase_add_test(tc, garbage_instead_of_r000);
    tcase_add_test(tc, x_first_byte_is_new_style);
    tcase_add_test(tc, fragmented_handshake_and_request);
    tcase_add_test(tc, handshake_and_request_in_one_write);
    suite_add_tcase(s, tc);
    tc = tcase_create("old_style");
    tcase_add_checked_fixture(tc, hs_setup, hs_teardown);
    tcase_set_timeout(tc, 20);
    tcase_add_test(tc, old_style_words);
    tcase_add_test(tc, old_style_exact_value_reply);
    suite_add_tcase(s, tc);
    return s;
}
