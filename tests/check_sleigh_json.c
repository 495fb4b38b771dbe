/*
 * check_sleigh_json.c -- the sleigh records' own JSON codec
 * (sleigh/sleigh_json.c) against jansson: what it writes jansson reads
 * back equal, what it reads equals what jansson reads, and input it does
 * not take itself still gets jansson's answer.
 */
#include <check.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "frame.h"
#include "nwstest.h"
#include "sleighp.h"

/* Parses text with both readers; both must agree (NULL for both when invalid). */
static void
sj_same(const char *text, size_t len)
{
    json_t *mine = nwsp_sleigh_json_parse(text, len);
    json_t *ref = json_loadb(text, len, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);

    if (ref == NULL) {
        ck_assert_msg(mine == NULL, "accepted invalid JSON: %.*s", (int)len, text);
    } else {
        ck_assert_msg(mine != NULL, "refused valid JSON: %.*s", (int)len, text);
        ck_assert_msg(json_equal(mine, ref), "read differently: %.*s", (int)len, text);
        /* Integers stay integers, reals stay reals. */
        if (json_is_integer(ref) || json_is_real(ref))
            ck_assert_int_eq(json_typeof(mine), json_typeof(ref));
    }
    json_decref(mine);
    json_decref(ref);
}

START_TEST(reads_like_jansson)
{
    static const char *const texts[] = {
        "0", "-0", "7", "-42", "123456789012345678", "-999999999999999999",
        "1234567890123456789",   /* 19 digits: handed to jansson */
        "99999999999999999999",  /* too big for jansson too */
        "1.5", "-0.25e-3", "1E10", "2e+2", "1e400", "0.1", "[1e5, 2.0]",
        "true", "false", "null", "\"\"", "\"abc def\"", "\"a\\nb\"", "\"\\u00e9\\ud83d\\ude00\"",
        "\"caf\xc3\xa9\"", "\"bad \xff utf8\"", "\"tab\there\"",
        "[]", "{}", "[[0],[1],[2]]", " [ 1 , 2 ] ", "{\"a\":1,\"b\":[true,null],\"a\":2}",
        "{\"first\":0,\"args\":[[1,\"x\"],[2,\"y\"]],\"kind\":\"call\"}",
        /* Not JSON: both refuse. */
        "", " ", "[", "]", "[1,]", "[,1]", "{\"a\"}", "{\"a\":}", "{a:1}", "01", "-", "1.",
        ".5", "1e", "+1", "nul", "truex", "[1 2]", "\"open", "1 2", "[1]x", "{\"a\":1,}",
    };
    size_t i;

    for (i = 0; i < sizeof(texts) / sizeof(texts[0]); i++)
        sj_same(texts[i], strlen(texts[i]));
    /* NUL bytes: escaped in a string they are allowed, raw never. */
    sj_same("\"a\\u0000b\"", 10);
    sj_same("\"a\0b\"", 5);
    sj_same("[1]\0", 4);
}
END_TEST

START_TEST(deep_nesting)
{
    char  *text;
    size_t i, depth = 3000; /* past both limits: jansson refuses it */

    text = malloc(2 * depth + 2);
    ck_assert_ptr_nonnull(text);
    for (i = 0; i < depth; i++) {
        text[i] = '[';
        text[depth + 1 + i] = ']';
    }
    text[depth] = '1';
    sj_same(text, 2 * depth + 1);
    sj_same(text + depth - 300, 601); /* past this reader's limit, within jansson's */
    free(text);
}
END_TEST

/* Writes j and checks that jansson reads it back equal, and the text is compact. */
static void
sj_roundtrip(json_t *j)
{
    struct nwsp_buf b = {0};
    json_t         *back;
    char           *ref;

    ck_assert_int_eq(nwsp_sleigh_json_put(&b, j), 0);
    back = json_loadb(b.data, b.len, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
    ck_assert_msg(back != NULL, "jansson cannot read %.*s", (int)b.len, b.data);
    ck_assert_msg(json_equal(back, j), "read back differently: %.*s", (int)b.len, b.data);
    /* Everything but reals is written exactly as jansson writes it. */
    ref = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);
    if (!json_is_real(j))
        ck_assert_msg(strlen(ref) == b.len && memcmp(ref, b.data, b.len) == 0,
                      "%s vs %.*s", ref, (int)b.len, b.data);
    free(ref);
    json_decref(back);
    nwsp_buf_free(&b);
    json_decref(j);
}

START_TEST(writes_what_jansson_reads)
{
    nws_value *v;
    json_t    *obj;

    sj_roundtrip(json_integer(0));
    sj_roundtrip(json_integer(-1));
    sj_roundtrip(json_integer(LLONG_MAX));
    sj_roundtrip(json_integer(LLONG_MIN));
    sj_roundtrip(json_real(0.1));
    sj_roundtrip(json_real(-3.0));
    sj_roundtrip(json_real(1e300));
    sj_roundtrip(json_real(5e-324));
    sj_roundtrip(json_string("plain"));
    sj_roundtrip(json_string("quote \" backslash \\ slash / \b\f\n\r\t \x01\x1f caf\xc3\xa9"));
    sj_roundtrip(json_stringn("nul\0inside", 10));
    sj_roundtrip(json_pack("[n, b, b, [], {}]", 1, 0));
    {
        /* Many integers of every length, both signs, arrays in arrays. */
        json_t    *a = json_array();
        json_int_t x = 1;
        int        k;

        for (k = 0; k < 18; k++, x *= 10) {
            json_array_append_new(a, json_integer(x - 1));
            json_array_append_new(a, json_integer(x));
            json_array_append_new(a, json_integer(-x));
            json_array_append_new(a, json_pack("[I, [], [[]]]", x + 1));
        }
        json_array_append_new(a, json_integer(LLONG_MIN));
        json_array_append_new(a, json_integer(LLONG_MAX));
        sj_roundtrip(a);
    }
    sj_roundtrip(json_pack("{s:[i, f, s], s:{s:n}}", "a", 1, 2.5, "x", "b\n", "c"));
    obj = json_pack("{s:i}", "k", 5);
    v = nwsp_sleigh_encode(obj, NULL);
    json_decref(obj);
    ck_assert_ptr_nonnull(v);
    ck_assert_str_eq(nws_value_str(v), "{\"k\":5}");
    ck_assert_uint_eq(nws_value_desc(v), NWS_DESC_TEXT);
    nws_value_free(v);
}
END_TEST

/* Reads a record's args item by item, as the worker does; checks against jansson. */
static void
sj_items_same(const char *text)
{
    json_t                  *whole = json_loads(text, JSON_DECODE_ANY, NULL), *rec, *a, *x;
    const char              *span, *item;
    size_t                   spanlen, len, i = 0, n;
    struct nwsp_sleigh_items it;

    ck_assert_ptr_nonnull(whole);
    rec = nwsp_sleigh_json_parse_except(text, strlen(text), "args", &span, &spanlen, &n);
    ck_assert_msg(rec != NULL, "refused %s", text);
    ck_assert_uint_eq(n, json_array_size(json_object_get(whole, "args")));
    ck_assert_ptr_null(json_object_get(rec, "args"));
    json_object_del(whole, "args");
    ck_assert(json_equal(rec, whole));
    json_decref(rec);
    json_decref(whole);
    whole = json_loads(text, JSON_DECODE_ANY, NULL);
    a = json_array();
    nwsp_sleigh_items_init(&it, span, spanlen);
    while (nwsp_sleigh_items_next(&it, &item, &len) == 1) {
        if (nwsp_sleigh_json_fill(a, item, len) == 0)
            x = json_incref(a);
        else
            x = json_loadb(item, len, JSON_DECODE_ANY, NULL);
        ck_assert_msg(json_equal(x, json_array_get(json_object_get(whole, "args"), i)),
                      "item %zu of %s", i, text);
        json_decref(x);
        i++;
    }
    ck_assert_uint_eq(i, json_array_size(json_object_get(whole, "args")));
    json_decref(a);
    json_decref(whole);
}

START_TEST(args_one_at_a_time)
{
    const char              *span, *item;
    size_t                   spanlen, len, n;
    struct nwsp_sleigh_items it;
    json_t                  *a = json_array();

    sj_items_same("{\"kind\":\"call\",\"first\":3,\"args\":[[1],[2,\"x\"],[]]}");
    sj_items_same("{ \"args\" : [ [ 1 , [2, {\"a\": \"]\"}] ] , [\"q\\\"]\"] ] , \"b\": null }");
    sj_items_same("{\"args\":[[\"caf\\u00e9\", 1e3], [-0], [true]],\"z\":[]}");
    sj_items_same("{\"args\":[]}");
    sj_items_same("{\"args\":[[\"a\\\\\"],[\"\\\"x\"],[\"]\"]]}"); /* escapes in strings */
    /* Not taken: no args, args not an array, not an object, broken text. */
    ck_assert_ptr_null(nwsp_sleigh_json_parse_except("{\"a\":1}", 7, "args", &span, &spanlen, &n));
    ck_assert_ptr_null(nwsp_sleigh_json_parse_except("{\"args\":5}", 10, "args", &span, &spanlen, &n));
    ck_assert_ptr_null(nwsp_sleigh_json_parse_except("[1]", 3, "args", &span, &spanlen, &n));
    ck_assert_ptr_null(nwsp_sleigh_json_parse_except("{\"args\":[[1]", 12, "args", &span, &spanlen, &n));
    ck_assert_ptr_null(nwsp_sleigh_json_parse_except("{\"args\":[]} x", 14, "args", &span, &spanlen, &n));
    /*
     * The key twice: the first one's items would never be read (nor checked),
     * so the text goes to the whole parse (found by fuzz_sjson: a bad byte in
     * the first one, which jansson refuses, went unnoticed).
     */
    ck_assert_ptr_null(nwsp_sleigh_json_parse_except("{\"args\":[[0]],\"args\":[[1],[2]]}", 31,
                                                     "args", &span, &spanlen, &n));
    /* Malformed item lists end with -1. */
    nwsp_sleigh_items_init(&it, "[[1],]", 6);
    ck_assert_int_eq(nwsp_sleigh_items_next(&it, &item, &len), 1);
    ck_assert_int_eq(nwsp_sleigh_items_next(&it, &item, &len), -1);
    nwsp_sleigh_items_init(&it, "[[1] [2]]", 9);
    ck_assert_int_eq(nwsp_sleigh_items_next(&it, &item, &len), 1);
    ck_assert_int_eq(nwsp_sleigh_items_next(&it, &item, &len), -1);
    nwsp_sleigh_items_init(&it, "[\"open]", 7);
    ck_assert_int_eq(nwsp_sleigh_items_next(&it, &item, &len), -1);
    /* fill takes only arrays it can read itself, and empties a first. */
    ck_assert_int_eq(nwsp_sleigh_json_fill(a, "[1,2]", 5), 0);
    ck_assert_int_eq(nwsp_sleigh_json_fill(a, "[3]", 3), 0);
    ck_assert_uint_eq(json_array_size(a), 1);
    ck_assert_int_eq(nwsp_sleigh_json_fill(a, "5", 1), -1);
    ck_assert_int_eq(nwsp_sleigh_json_fill(a, "[\"a\\nb\"]", 8), -1);
    ck_assert_int_eq(nwsp_sleigh_json_fill(a, "[1 2]", 5), -1);
    json_decref(a);
}
END_TEST

NWSTEST_SUITE(sleigh_json)
{
    Suite *s = suite_create("sleigh_json");
    TCase *tc = tcase_create("codec");

    tcase_add_test(tc, reads_like_jansson);
    tcase_add_test(tc, deep_nesting);
    tcase_add_test(tc, writes_what_jansson_reads);
    tcase_add_test(tc, args_one_at_a_time);
    suite_add_tcase(s, tc);
    return s;
}
