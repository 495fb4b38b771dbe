/*
 * check_frame.c -- the wire codec on memory (libnws/frame.c).
 */
#include <stdlib.h>
#include <string.h>

#include "frame.h"
#include "nwstest.h"

START_TEST(parse_u64_forms)
{
    uint64_t v;

    ck_assert_int_eq(nwsp_parse_u64("0005", 4, 9999, &v), 0);
    ck_assert_uint_eq(v, 5);
    ck_assert_int_eq(nwsp_parse_u64("   5", 4, 9999, &v), 0);
    ck_assert_uint_eq(v, 5);
    ck_assert_int_eq(nwsp_parse_u64("5   ", 4, 9999, &v), 0);
    ck_assert_uint_eq(v, 5);
    ck_assert_int_eq(nwsp_parse_u64("18446744073709551615", 20, UINT64_MAX, &v), 0);
    ck_assert_uint_eq(v, UINT64_MAX);
}
END_TEST

START_TEST(parse_u64_rejects)
{
    uint64_t v = 7;

    ck_assert_int_eq(nwsp_parse_u64("    ", 4, 9999, &v), -1);
    ck_assert_int_eq(nwsp_parse_u64("-001", 4, 9999, &v), -1);
    ck_assert_int_eq(nwsp_parse_u64("+001", 4, 9999, &v), -1);
    ck_assert_int_eq(nwsp_parse_u64("00x1", 4, 9999, &v), -1);
    ck_assert_int_eq(nwsp_parse_u64("1 2 ", 4, 9999, &v), -1);
    ck_assert_int_eq(nwsp_parse_u64("18446744073709551616", 20, UINT64_MAX, &v), -1);
    ck_assert_int_eq(nwsp_parse_u64("99999999999999999999", 20, UINT64_MAX, &v), -1);
    ck_assert_int_eq(nwsp_parse_u64("00000000000000001001", 20, 1000, &v), -1);
    ck_assert_uint_eq(v, 7);
}
END_TEST

START_TEST(parse_i64_signs)
{
    int64_t v;

    ck_assert_int_eq(nwsp_parse_i64("-0000000000000000001", 20, &v), 0);
    ck_assert_int_eq(v, -1);
    ck_assert_int_eq(nwsp_parse_i64("5                   ", 20, &v), 0);
    ck_assert_int_eq(v, 5);
    ck_assert_int_eq(nwsp_parse_i64("+16777217", 9, &v), 0);
    ck_assert_int_eq(v, 16777217);
    ck_assert_int_eq(nwsp_parse_i64("-9223372036854775808", 20, &v), 0);
    ck_assert(v == INT64_MIN);
    ck_assert_int_eq(nwsp_parse_i64("9223372036854775808", 19, &v), -1);
    ck_assert_int_eq(nwsp_parse_i64("--1", 3, &v), -1);
    ck_assert_int_eq(nwsp_parse_i64("", 0, &v), -1);
}
END_TEST

START_TEST(put_fields)
{
    char b[21];

    b[20] = '\0';
    nwsp_put_d20(b, 5);
    ck_assert_str_eq(b, "00000000000000000005");
    nwsp_put_i20(b, -1);
    ck_assert_str_eq(b, "-0000000000000000001");
    nwsp_put_i20(b, 16777217);
    ck_assert_str_eq(b, "00000000000016777217");
    nwsp_put_s20(b, "abc", 3);
    ck_assert_str_eq(b, "abc                 ");
    nwsp_put_s20(b, "012345678901234567890123", 24);
    ck_assert_str_eq(b, "01234567890123456789");
    b[4] = '\0';
    nwsp_put_d4(b, 42);
    ck_assert_str_eq(b, "0042");
}
END_TEST

/* The advertisement of section 2.9, byte for byte. */
static const char adv[] = "0004"
                          "0010NwsWebPort00048766"
                          "0018MetadataFromServer0000"
                          "0016MetadataToServer0000"
                          "0017KillServerOnClose0000";

START_TEST(dict_scan_complete_and_partial)
{
    size_t len = sizeof(adv) - 1, i;

    ck_assert_int_eq(nwsp_dict_scan(adv, len, 100, 65536, NULL), (ssize_t)len);
    for (i = 0; i < len; i++)
        ck_assert_int_eq(nwsp_dict_scan(adv, i, 100, 65536, NULL), NWSP_SCAN_MORE);
    ck_assert_int_eq(nwsp_dict_scan("0000", 4, 0, 4, NULL), 4);
}
END_TEST

START_TEST(dict_scan_bad)
{
    const char *why = NULL;

    ck_assert_int_eq(nwsp_dict_scan("00a1", 4, 100, 1000, &why), NWSP_SCAN_BAD);
    ck_assert_ptr_nonnull(why);
    ck_assert_int_eq(nwsp_dict_scan("0001-001", 8, 100, 1000, &why), NWSP_SCAN_BAD);
    ck_assert_int_eq(nwsp_dict_scan("9999", 4, 100, 1000, &why), NWSP_SCAN_BAD);
    ck_assert_str_eq(why, "too many dictionary entries");
    ck_assert_int_eq(nwsp_dict_scan("00019999", 8, 100, 1000, &why), NWSP_SCAN_BAD);
    ck_assert_str_eq(why, "dictionary too large");
}
END_TEST

START_TEST(dict_walk_and_get)
{
    struct nwsp_dict_ent e;
    const char          *v;
    size_t               vlen, pos = 0, n = 0, len = sizeof(adv) - 1;

    ck_assert_uint_eq(nwsp_dict_count(adv, len), 4);
    while (nwsp_dict_next(adv, len, &pos, &e))
        n++;
    ck_assert_uint_eq(n, 4);
    ck_assert_int_eq(nwsp_dict_get(adv, len, "NwsWebPort", &v, &vlen), 1);
    ck_assert_uint_eq(vlen, 4);
    ck_assert(memcmp(v, "8766", 4) == 0);
    ck_assert_int_eq(nwsp_dict_get(adv, len, "nope", &v, &vlen), 0);
    /* A repeated key: the later value wins. */
    ck_assert_int_eq(nwsp_dict_get("00020001k0001a0001k0001b", 24, "k", &v, &vlen), 1);
    ck_assert(v[0] == 'b');
}
END_TEST

START_TEST(build_request)
{
    struct nwsp_buf b = {0};
    /* Section 3.3: storing "hello" into foo/x, 138 bytes. */
    static const char want[] = "0005"
                               "00000000000000000005store"
                               "00000000000000000003foo"
                               "00000000000000000001x"
                               "0000000000000000002000000000000000000001"
                               "00000000000000000005hello";

    ck_assert_int_eq(nwsp_buf_argc(&b, 5), 0);
    nwsp_buf_arg(&b, "store", 5);
    nwsp_buf_arg(&b, "foo", 3);
    nwsp_buf_arg(&b, "x", 1);
    nwsp_buf_arg(&b, "00000000000000000001", 20);
    nwsp_buf_arg(&b, "hello", 5);
    ck_assert_uint_eq(b.len, 138);
    ck_assert(memcmp(b.data, want, 138) == 0);
    nwsp_buf_reset(&b);
    ck_assert_int_eq(nwsp_buf_dict_begin(&b, 1), 0);
    ck_assert_int_eq(nwsp_buf_dict_put(&b, "k", 1, "v", 1), 0);
    ck_assert_int_eq(nwsp_buf_dict_put(&b, "k", 1, "v", 10000), -1);
    ck_assert_int_eq(nwsp_buf_argc(&b, 0), -1);
    ck_assert_int_eq(nwsp_buf_argc(&b, 10000), -1);
    ck_assert_uint_eq(b.len, 14);
    nwsp_buf_free(&b);
}
END_TEST

NWSTEST_SUITE(frame)
{
    Suite *s = suite_create("frame");
    TCase *tc = tcase_create("numbers");

    tcase_add_test(tc, parse_u64_forms);
    tcase_add_test(tc, parse_u64_rejects);
    tcase_add_test(tc, parse_i64_signs);
    tcase_add_test(tc, put_fields);
    suite_add_tcase(s, tc);
    tc = tcase_create("dict");
    tcase_add_test(tc, dict_scan_complete_and_partial);
    tcase_add_test(tc, dict_scan_bad);
    tcase_add_test(tc, dict_walk_and_get);
    suite_add_tcase(s, tc);
    tc = tcase_create("encode");
    tcase_add_test(tc, build_request);
    suite_add_tcase(s, tc);
    return s;
}
