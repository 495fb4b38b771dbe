/*
 * check_util.c -- the shared helpers of libnws/util.h.
 *
 * The size parser's table holds every form one of the three old parsers
 * (nwsserver's, the sleigh CLI's, nwsload's) accepted or refused; the base64
 * vectors are the old hand-written encoder's outputs, so the switch to
 * OpenSSL's EVP blocks is pinned byte for byte.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "nwstest.h"
#include "util.h"
#include "web.h"

/* ---- sizes ------------------------------------------------------------------- */

static const struct {
    const char *s;
    int         ok;
    uint64_t    v;
} size_cases[] = {
    {"0", 1, 0},
    {"5", 1, 5},
    {"0005", 1, 5},
    {"18446744073709551615", 1, UINT64_MAX},
    {"1k", 1, 1024},
    {"1K", 1, 1024},
    {"2m", 1, 2u << 20},
    {"2M", 1, 2u << 20},
    {"3g", 1, 3ull << 30},
    {"3G", 1, 3ull << 30},
    {"1t", 1, 1ull << 40}, /* the server's; new for the sleigh CLI */
    {"1T", 1, 1ull << 40},
    {"1kB", 1, 1024}, /* the server's and nwsload's */
    {"1kb", 1, 1024}, /* the server's */
    {"1KB", 1, 1024},
    {"1MiB", 1, 1u << 20}, /* nwsload's; new for the server and sleigh */
    {"1GiB", 1, 1ull << 30},
    {"16777215T", 1, 16777215ull << 40},
    {"", 0, 0},
    {"k", 0, 0},
    {"B", 0, 0},
    {"-1", 0, 0},
    {"+1", 0, 0},
    {" 1", 0, 0},
    {"1 ", 0, 0},
    {"1B", 0, 0}, /* a suffix letter first: refused by all three */
    {"1iB", 0, 0},
    {"1b", 0, 0},
    {"1 k", 0, 0},
    {"1kk", 0, 0},
    {"1kBB", 0, 0},
    {"1KiBx", 0, 0},
    {"1Kib", 0, 0},
    {"1KIB", 0, 0},
    {"1p", 0, 0},
    {"1x", 0, 0},
    {"1.5k", 0, 0},
    {"0x10", 0, 0},
    {"16777216T", 0, 0}, /* 2^64 */
    {"18446744073709551616", 0, 0},
    {"99999999999999999999999", 0, 0},
};

START_TEST(size_table)
{
    size_t   i;
    uint64_t v;

    for (i = 0; i < sizeof(size_cases) / sizeof(size_cases[0]); i++) {
        v = 77;
        ck_assert_msg(nwsp_parse_size(size_cases[i].s, UINT64_MAX, &v) ==
                          (size_cases[i].ok ? 0 : -1),
                      "\"%s\"", size_cases[i].s);
        if (size_cases[i].ok)
            ck_assert_msg(v == size_cases[i].v, "\"%s\" gave %llu", size_cases[i].s,
                          (unsigned long long)v);
        else
            ck_assert_msg(v == 77, "\"%s\" changed *out", size_cases[i].s);
    }
}
END_TEST

START_TEST(size_max)
{
    uint64_t v = 0;

    ck_assert_int_eq(nwsp_parse_size("1024", 1024, &v), 0);
    ck_assert_uint_eq(v, 1024);
    ck_assert_int_eq(nwsp_parse_size("1k", 1024, &v), 0);
    ck_assert_int_eq(nwsp_parse_size("1025", 1024, &v), -1);
    ck_assert_int_eq(nwsp_parse_size("2k", 1024, &v), -1);
    /* The sleigh CLI's bound. */
    ck_assert_int_eq(nwsp_parse_size("8191P", LONG_MAX, &v), -1);
    ck_assert_int_eq(nwsp_parse_size("8388607T", LONG_MAX, &v), 0);
    ck_assert_uint_eq(v, 8388607ull << 40);
    ck_assert_int_eq(nwsp_parse_size("8388608T", LONG_MAX, &v), -1);
    ck_assert_int_eq(nwsp_parse_size("9223372036854775807", LONG_MAX, &v), 0);
    ck_assert_int_eq(nwsp_parse_size("9223372036854775808", LONG_MAX, &v), -1);
}
END_TEST

/* ---- time -------------------------------------------------------------------- */

START_TEST(ms_conversions)
{
    struct timeval  tv;
    struct timespec ts;

    tv = nwsp_ms_timeval(0);
    ck_assert(tv.tv_sec == 0 && tv.tv_usec == 0);
    tv = nwsp_ms_timeval(999);
    ck_assert(tv.tv_sec == 0 && tv.tv_usec == 999000);
    tv = nwsp_ms_timeval(1500);
    ck_assert(tv.tv_sec == 1 && tv.tv_usec == 500000);
    tv = nwsp_ms_timeval(86400001L);
    ck_assert(tv.tv_sec == 86400 && tv.tv_usec == 1000);
    ts = nwsp_ms_timespec(0);
    ck_assert(ts.tv_sec == 0 && ts.tv_nsec == 0);
    ts = nwsp_ms_timespec(2001);
    ck_assert(ts.tv_sec == 2 && ts.tv_nsec == 1000000);
    ts = nwsp_ms_timespec(999);
    ck_assert(ts.tv_sec == 0 && ts.tv_nsec == 999000000L);
}
END_TEST

START_TEST(mono_clock)
{
    double   a = nwsp_mono(), b;
    uint64_t ma = nwsp_mono_ms(), mb;

    /* Both read the same clock: ms and seconds agree within a second. */
    ck_assert(a > 0 && (double)ma / 1000.0 - a < 1.0 && a - (double)ma / 1000.0 < 1.0);
    nwsp_sleep_ms(20);
    b = nwsp_mono();
    mb = nwsp_mono_ms();
    /* Only lower bounds: the machine may be slow, never faster than time. */
    ck_assert(b - a >= 0.019);
    ck_assert(mb - ma >= 19);
}
END_TEST

/* ---- argv vectors ------------------------------------------------------------ */

START_TEST(vec_build)
{
    char **v = NULL;
    size_t n = 0;
    char   word[] = "two";

    ck_assert_int_eq(nwsp_vec_add(&v, &n, "one"), 0);
    ck_assert_int_eq(nwsp_vec_add(&v, &n, word), 0);
    ck_assert_int_eq(nwsp_vec_add(&v, &n, ""), 0);
    word[0] = 'X'; /* copies, not the caller's buffer */
    ck_assert_uint_eq(n, 3);
    ck_assert_str_eq(v[0], "one");
    ck_assert_str_eq(v[1], "two");
    ck_assert_str_eq(v[2], "");
    ck_assert_ptr_null(v[3]);
    nwsp_vec_free(v);
    nwsp_vec_free(NULL);
}
END_TEST

/* ---- base64 ------------------------------------------------------------------ */

/* What the old encoder (libnws/sleigh_record.c) wrote for bytes 0..255. */
static const char b64_all_bytes[] =
    "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4vMDEyMzQ1Njc4OTo7"
    "PD0+P0BBQkNERUZHSElKS0xNTk9QUVJTVFVWV1hZWltcXV5fYGFiY2RlZmdoaWprbG1ub3BxcnN0dXZ3"
    "eHl6e3x9fn+AgYKDhIWGh4iJiouMjY6PkJGSk5SVlpeYmZqbnJ2en6ChoqOkpaanqKmqq6ytrq+wsbKz"
    "tLW2t7i5uru8vb6/wMHCw8TFxsfIycrLzM3Oz9DR0tPU1dbX2Nna29zd3t/g4eLj5OXm5+jp6uvs7e7v"
    "8PHy8/T19vf4+fr7/P3+/w==";

/* ... and for the first n bytes of ff fe fd 00 3e 3f 80. */
static const char *const b64_prefixes[] = {
    "", "/w==", "//4=", "//79", "//79AA==", "//79AD4=", "//79AD4/", "//79AD4/gA==",
};

START_TEST(b64_old_vectors)
{
    static const unsigned char c[7] = {0xff, 0xfe, 0xfd, 0x00, 0x3e, 0x3f, 0x80};
    unsigned char              all[256];
    char                      *e;
    size_t                     i;

    for (i = 0; i < 256; i++)
        all[i] = (unsigned char)i;
    e = nwsp_b64_encode(all, sizeof(all));
    ck_assert_str_eq(e, b64_all_bytes);
    free(e);
    for (i = 0; i <= 7; i++) {
        e = nwsp_b64_encode(c, i);
        ck_assert_str_eq(e, b64_prefixes[i]);
        free(e);
    }
    e = nwsp_b64_encode("user:s3cret-\xc3\xa9", 14);
    ck_assert_str_eq(e, "dXNlcjpzM2NyZXQtw6k=");
    free(e);
    /* RFC 4648 section 10. */
    e = nwsp_b64_encode("foobar", 6);
    ck_assert_str_eq(e, "Zm9vYmFy");
    free(e);
}
END_TEST

START_TEST(b64_round_trips)
{
    unsigned char in[300];
    char         *e, *d;
    size_t        n, i, len;

    for (i = 0; i < sizeof(in); i++)
        in[i] = (unsigned char)(i * 151 + 7);
    for (n = 0; n <= sizeof(in); n++) {
        e = nwsp_b64_encode(in, n);
        ck_assert_ptr_nonnull(e);
        ck_assert_uint_eq(strlen(e), (n + 2) / 3 * 4);
        d = nwsp_b64_decode(e, &len);
        ck_assert_ptr_nonnull(d);
        ck_assert_uint_eq(len, n);
        ck_assert(memcmp(d, in, n) == 0);
        ck_assert_int_eq(d[n], '\0');
        free(d);
        /* The same without padding. */
        while (strlen(e) > 0 && e[strlen(e) - 1] == '=')
            e[strlen(e) - 1] = '\0';
        d = nwsp_b64_decode(e, &len);
        ck_assert_ptr_nonnull(d);
        ck_assert_uint_eq(len, n);
        ck_assert(memcmp(d, in, n) == 0);
        free(d);
        free(e);
    }
}
END_TEST

START_TEST(b64_decode_contract)
{
    char  *d;
    size_t len = 99;

    d = nwsp_b64_decode("", &len);
    ck_assert_ptr_nonnull(d);
    ck_assert_uint_eq(len, 0);
    ck_assert_int_eq(d[0], '\0');
    free(d);
    d = nwsp_b64_decode("Zg", &len);
    ck_assert_uint_eq(len, 1);
    ck_assert_str_eq(d, "f");
    free(d);
    d = nwsp_b64_decode("Zm8", NULL);
    ck_assert_str_eq(d, "fo");
    free(d);
    /* A lone trailing digit carries no whole byte: dropped, as before. */
    d = nwsp_b64_decode("Zm9vY", &len);
    ck_assert_uint_eq(len, 3);
    ck_assert_str_eq(d, "foo");
    free(d);
    /* Decoding stops at the first '=', as the old decoders did. */
    d = nwsp_b64_decode("Zm8=", &len);
    ck_assert_uint_eq(len, 2);
    free(d);
    d = nwsp_b64_decode("Zm8=!!", &len);
    ck_assert_uint_eq(len, 2);
    ck_assert_str_eq(d, "fo");
    free(d);
    d = nwsp_b64_decode("=Zm8", &len);
    ck_assert_uint_eq(len, 0);
    free(d);
    /* Whitespace and other bytes fail (EVP alone would skip whitespace). */
    ck_assert_ptr_null(nwsp_b64_decode(" Zm8", &len));
    ck_assert_ptr_null(nwsp_b64_decode("Zm8 ", &len));
    ck_assert_ptr_null(nwsp_b64_decode("Zm\n8", &len));
    ck_assert_ptr_null(nwsp_b64_decode("Zm9v\tYmFy", &len));
    ck_assert_ptr_null(nwsp_b64_decode("Zm-8", &len));
    ck_assert_ptr_null(nwsp_b64_decode("Zm_8", &len));
    ck_assert_ptr_null(nwsp_b64_decode("Zm8\x80", &len));
}
END_TEST

/* A value longer than one EVP chunk (3 MiB in, 4 MiB out) crosses the seam. */
START_TEST(b64_large)
{
    size_t         n = (3u << 20) + 5, i, len;
    unsigned char *in = malloc(n);
    char          *e, *d;

    ck_assert_ptr_nonnull(in);
    for (i = 0; i < n; i++)
        in[i] = (unsigned char)(i ^ (i >> 8));
    e = nwsp_b64_encode(in, n);
    ck_assert_ptr_nonnull(e);
    ck_assert_uint_eq(strlen(e), (n + 2) / 3 * 4);
    d = nwsp_b64_decode(e, &len);
    ck_assert_ptr_nonnull(d);
    ck_assert_uint_eq(len, n);
    ck_assert(memcmp(d, in, n) == 0);
    free(d);
    free(e);
    free(in);
}
END_TEST

/* ---- web text (server/web_text.c on libevent) ------------------------------- */

/* A name holding every byte keeps the key it had: [A-Za-z0-9-._~] kept, %XX else. */
START_TEST(web_pct_every_byte)
{
    char          in[256], want[256 * 3 + 1], *o = want, *got;
    unsigned char c;
    int           i;

    for (i = 0; i < 256; i++) {
        c = (unsigned char)i;
        in[i] = (char)c;
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '.' || c == '_' || c == '~')
            *o++ = (char)c;
        else
            o += sprintf(o, "%%%02X", c);
    }
    *o = '\0';
    got = web_pct(in, sizeof(in));
    ck_assert_str_eq(got, want);
    free(got);
    got = web_pct("", 0);
    ck_assert_str_eq(got, "");
    free(got);
}
END_TEST

START_TEST(web_html_escapes)
{
    struct evbuffer  *b = evbuffer_new();
    static const char want[] =
        "&lt;a href=&quot;x&quot;&gt;&amp;&#039;\\xff\\x00\xc3\xa9";
    size_t n;

    web_html(b, "<a href=\"x\">&'\xff\0\xc3\xa9", 18);
    n = evbuffer_get_length(b);
    ck_assert_uint_eq(n, sizeof(want) - 1);
    ck_assert(memcmp(evbuffer_pullup(b, -1), want, n) == 0);
    evbuffer_free(b);
}
END_TEST

NWSTEST_SUITE(util)
{
    Suite *s = suite_create("util");
    TCase *tc = tcase_create("helpers");

    tcase_add_test(tc, size_table);
    tcase_add_test(tc, size_max);
    tcase_add_test(tc, ms_conversions);
    tcase_add_test(tc, mono_clock);
    tcase_add_test(tc, vec_build);
    tcase_add_test(tc, b64_old_vectors);
    tcase_add_test(tc, b64_round_trips);
    tcase_add_test(tc, b64_decode_contract);
    tcase_add_test(tc, b64_large);
    tcase_add_test(tc, web_pct_every_byte);
    tcase_add_test(tc, web_html_escapes);
    suite_add_tcase(s, tc);
    return s;
}
