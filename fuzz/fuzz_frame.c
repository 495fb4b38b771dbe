/*
 * fuzz_frame.c -- the wire codec on memory (libnws/frame.c, libnws/meta.c).
 *
 * Input: 1 byte choosing the scan limits, then bytes decoded as what the
 * server and libnws decode: numeric fields (D4, D20, signed), a dictionary
 * scanned incrementally, walked and looked up, and decoded into nws_meta.
 * Beyond "no crash", the properties the decoders' callers rely on:
 *
 *  - a parsed number is within its bound and survives a round trip through
 *    nwsp_put_d20 / nwsp_put_i20;
 *  - nwsp_dict_scan never claims more bytes than it was given, respects
 *    max_bytes, and says "more" (never "bad") for every prefix of a
 *    dictionary it accepts;
 *  - nwsp_dict_next yields exactly nwsp_dict_count entries of an accepted
 *    dictionary, all inside it, and nwsp_dict_get finds each key's last value;
 *  - decoding into nws_meta and encoding again gives a dictionary that
 *    scans, with no more entries than the original.
 */
#include <string.h>

#include "fuzz.h"
#include "nwsp.h"

/* Numeric fields: bounds and round trips. */
static void
fzf_numbers(const char *p, size_t n)
{
    char     d20[NWSP_D20_LEN];
    uint64_t u, u2, max;
    int64_t  i, i2;
    size_t   len;

    for (len = 0; len <= n && len <= 24; len += 4) {
        max = len > 0 ? (uint64_t)(unsigned char)p[0] * 1000 : UINT64_MAX;
        if (nwsp_parse_u64(p, len, max, &u) == 0) {
            FUZZ_ASSERT(u <= max);
            nwsp_put_d20(d20, u);
            FUZZ_ASSERT(nwsp_parse_u64(d20, sizeof(d20), UINT64_MAX, &u2) == 0);
            FUZZ_ASSERT(u2 == u);
        }
        if (nwsp_parse_i64(p, len, &i) == 0) {
            nwsp_put_i20(d20, i);
            /* "%020d" of INT64_MIN needs 20 digits after the sign: it is cut. */
            if (i != INT64_MIN && i > -1000000000000000000LL)
                FUZZ_ASSERT(nwsp_parse_i64(d20, sizeof(d20), &i2) == 0 && i2 == i);
        }
    }
    if (n >= NWSP_D4_LEN && nwsp_parse_u64(p, NWSP_D4_LEN, 9999, &u) == 0) {
        char d4[NWSP_D4_LEN];

        nwsp_put_d4(d4, (unsigned)u);
        FUZZ_ASSERT(nwsp_parse_u64(d4, sizeof(d4), 9999, &u2) == 0 && u2 == u);
    }
}

/* An accepted dictionary of len bytes: walk, look up, decode, encode. */
static void
fzf_dict(const char *d, size_t len)
{
    struct nwsp_dict_ent e, f;
    struct nwsp_buf      b = {0};
    size_t               pos = 0, n = 0, pos2, prev = 0;
    const char          *v, *why;
    size_t               vlen;
    char                 key[NWSP_DICT_FIELD_MAX + 1];
    nws_meta            *m;
    ssize_t              r;

    while (nwsp_dict_next(d, len, &pos, &e)) {
        FUZZ_ASSERT(pos > prev && pos <= len);
        FUZZ_ASSERT(e.key >= d && e.key + e.klen <= d + len);
        FUZZ_ASSERT(e.val >= d && e.val + e.vlen <= d + len);
        prev = pos;
        n++;
        /* nwsp_dict_get takes C strings: only keys without a NUL. */
        if (memchr(e.key, '\0', e.klen) == NULL) {
            memcpy(key, e.key, e.klen);
            key[e.klen] = '\0';
            FUZZ_ASSERT(nwsp_dict_get(d, len, key, &v, &vlen) == 1);
            /* The last entry with this key wins. */
            pos2 = pos;
            while (nwsp_dict_next(d, len, &pos2, &f))
                if (f.klen == e.klen && memcmp(f.key, e.key, e.klen) == 0)
                    e = f;
            FUZZ_ASSERT(v == e.val && vlen == e.vlen);
        }
    }
    FUZZ_ASSERT(n == nwsp_dict_count(d, len));
    FUZZ_ASSERT(pos == 0 ? len == NWSP_D4_LEN : pos == len);

    if ((m = nws_meta_new()) == NULL)
        return;
    if (nwsp_meta_decode(m, d, len) == 0) {
        FUZZ_ASSERT(nws_meta_size(m) <= n);
        if (nwsp_meta_encode(m, &b) == 0) {
            r = nwsp_dict_scan(b.data, b.len, 9999, SIZE_MAX, &why);
            FUZZ_ASSERT(r == (ssize_t)b.len);
            FUZZ_ASSERT(nwsp_dict_count(b.data, b.len) == nws_meta_size(m));
        }
    }
    nwsp_buf_free(&b);
    nws_meta_free(m);
}

int
nwsfuzz_frame(const uint8_t *data, size_t size)
{
    const char *p = (const char *)data + 1, *why;
    size_t      n, max_entries, max_bytes, cut;
    ssize_t     r, r2;

    if (size < 1)
        return 0;
    n = size - 1;
    fzf_numbers(p, n);

    /* Limits: the server's, libnws's, or small ones the input can reach. */
    switch (data[0] & 3) {
    case 0:
        max_entries = 9999, max_bytes = 256 * 1024;
        break;
    case 1:
        max_entries = 1000, max_bytes = 1 << 20;
        break;
    case 2:
        max_entries = 100, max_bytes = 65536;
        break;
    default:
        max_entries = data[0] >> 4, max_bytes = (size_t)data[0] * 4;
        break;
    }
    why = NULL;
    r = nwsp_dict_scan(p, n, max_entries, max_bytes, &why);
    FUZZ_ASSERT(r >= NWSP_SCAN_BAD && r <= (ssize_t)n);
    FUZZ_ASSERT(r != NWSP_SCAN_BAD || why != NULL);
    if (r > 0) {
        FUZZ_ASSERT((size_t)r <= max_bytes);
        FUZZ_ASSERT(nwsp_dict_count(p, (size_t)r) <= max_entries);
        /* Every prefix is "more", whichever way it is cut. */
        for (cut = 0; cut < (size_t)r; cut += 1 + cut / 3) {
            r2 = nwsp_dict_scan(p, cut, max_entries, max_bytes, NULL);
            FUZZ_ASSERT(r2 == NWSP_SCAN_MORE);
        }
        fzf_dict(p, (size_t)r);
    }
    return 0;
}
