/*
 * frame.c -- encode and decode the classic NWS wire format on memory.
 *
 * See frame.h for the layouts.  Parsing is strict about what may appear in a
 * numeric field (digits, with spaces around them) and every length is checked
 * against a caller-supplied bound before it is trusted.
 */
#include <stdlib.h>
#include <string.h>

#include "frame.h"

/* Bounds [*s, *e) to the field with surrounding spaces removed. */
static void
frame_trim(const char **s, const char **e)
{
    while (*s < *e && **s == ' ')
        (*s)++;
    while (*e > *s && (*e)[-1] == ' ')
        (*e)--;
}

/*
 * Parses digits in [s, e) into *out; -1 on an empty field, a non-digit or > max.
 * Every request has several zero-padded 20-digit fields: the padding is
 * skipped in a tight loop, and the overflow check compares against limits
 * divided out once, not once per digit (parsing was a sixth of the server's
 * instructions under callgrind).
 */
static int
frame_digits(const char *s, const char *e, uint64_t max, uint64_t *out)
{
    uint64_t v = 0, lim = max / 10;
    unsigned last = (unsigned)(max % 10);

    if (s == e)
        return -1;
    /*
     * Zero padding, most of every D20 field, changes nothing: skip it eight
     * bytes at a time, then byte by byte (keeping the last digit).
     */
    while (e - s > 8) {
        uint64_t w;

        memcpy(&w, s, sizeof(w));
        if (w != UINT64_C(0x3030303030303030))
            break;
        s += 8;
    }
    while (s < e - 1 && *s == '0')
        s++;
    for (; s < e; s++) {
        unsigned d = (unsigned)((unsigned char)*s - '0');

        if (d > 9 || v > lim || (v == lim && d > last))
            return -1;
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}

int
nwsp_parse_u64(const char *p, size_t len, uint64_t max, uint64_t *out)
{
    const char *s = p, *e = p + len;

    frame_trim(&s, &e);
    return frame_digits(s, e, max, out);
}

int
nwsp_parse_i64(const char *p, size_t len, int64_t *out)
{
    const char *s = p, *e = p + len;
    int         neg = 0;
    uint64_t    v;

    frame_trim(&s, &e);
    if (s < e && (*s == '-' || *s == '+')) {
        neg = (*s == '-');
        s++;
    }
    if (frame_digits(s, e, neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX, &v) != 0)
        return -1;
    if (neg)
        *out = v == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)v;
    else
        *out = (int64_t)v;
    return 0;
}

/* Writes v as width zero-padded digits at dst (the caller checked it fits). */
static void
frame_put_digits(char *dst, size_t width, uint64_t v)
{
    size_t i = width;

    /* The significant digits from the right, then the zero padding at once. */
    while (i > 0 && v != 0) {
        dst[--i] = (char)('0' + v % 10);
        v /= 10;
    }
    memset(dst, '0', i);
}

void
nwsp_put_d4(char *dst, unsigned v)
{
    frame_put_digits(dst, NWSP_D4_LEN, v > NWSP_D4_MAX ? NWSP_D4_MAX : v);
}

void
nwsp_put_d20(char *dst, uint64_t v)
{
    /* 2^64 has 20 digits, so every uint64_t fits. */
    frame_put_digits(dst, NWSP_D20_LEN, v);
}

void
nwsp_put_i20(char *dst, int64_t v)
{
    uint64_t mag;

    if (v >= 0) {
        frame_put_digits(dst, NWSP_D20_LEN, (uint64_t)v);
        return;
    }
    mag = v == INT64_MIN ? (uint64_t)INT64_MAX + 1 : (uint64_t)-v;
    dst[0] = '-';
    frame_put_digits(dst + 1, NWSP_D20_LEN - 1, mag);
}

void
nwsp_put_s20(char *dst, const char *s, size_t len)
{
    if (len > NWSP_VARID_LEN)
        len = NWSP_VARID_LEN;
    memcpy(dst, s, len);
    memset(dst + len, ' ', NWSP_VARID_LEN - len);
}

ssize_t
nwsp_dict_scan(const char *buf, size_t avail, size_t max_entries, size_t max_bytes,
               const char **why)
{
    uint64_t n, i, flen;
    size_t   pos = NWSP_D4_LEN;
    int      half;

    if (avail < NWSP_D4_LEN)
        return NWSP_SCAN_MORE;
    if (nwsp_parse_u64(buf, NWSP_D4_LEN, NWSP_D4_MAX, &n) != 0) {
        if (why != NULL)
            *why = "malformed dictionary count";
        return NWSP_SCAN_BAD;
    }
    if (n > max_entries) {
        if (why != NULL)
            *why = "too many dictionary entries";
        return NWSP_SCAN_BAD;
    }
    for (i = 0; i < n; i++) {
        for (half = 0; half < 2; half++) {
            if (avail - pos < NWSP_D4_LEN)
                return NWSP_SCAN_MORE;
            if (nwsp_parse_u64(buf + pos, NWSP_D4_LEN, NWSP_D4_MAX, &flen) != 0) {
                if (why != NULL)
                    *why = "malformed dictionary length";
                return NWSP_SCAN_BAD;
            }
            pos += NWSP_D4_LEN;
            if (pos + flen > max_bytes) {
                if (why != NULL)
                    *why = "dictionary too large";
                return NWSP_SCAN_BAD;
            }
            if (avail - pos < flen)
                return NWSP_SCAN_MORE;
            pos += flen;
        }
    }
    if (pos > max_bytes) {
        if (why != NULL)
            *why = "dictionary too large";
        return NWSP_SCAN_BAD;
    }
    return (ssize_t)pos;
}

size_t
nwsp_dict_count(const char *dict, size_t len)
{
    uint64_t n;

    if (len < NWSP_D4_LEN || nwsp_parse_u64(dict, NWSP_D4_LEN, NWSP_D4_MAX, &n) != 0)
        return 0;
    return (size_t)n;
}

int
nwsp_dict_next(const char *dict, size_t len, size_t *pos, struct nwsp_dict_ent *e)
{
    uint64_t klen, vlen;
    size_t   p = *pos;

    if (p == 0)
        p = NWSP_D4_LEN;
    if (p + NWSP_D4_LEN > len ||
        nwsp_parse_u64(dict + p, NWSP_D4_LEN, NWSP_D4_MAX, &klen) != 0)
        return 0;
    p += NWSP_D4_LEN;
    if (p + klen + NWSP_D4_LEN > len)
        return 0;
    e->key = dict + p;
    e->klen = klen;
    p += klen;
    if (nwsp_parse_u64(dict + p, NWSP_D4_LEN, NWSP_D4_MAX, &vlen) != 0)
        return 0;
    p += NWSP_D4_LEN;
    if (p + vlen > len)
        return 0;
    e->val = dict + p;
    e->vlen = vlen;
    *pos = p + vlen;
    return 1;
}

int
nwsp_dict_get(const char *dict, size_t len, const char *key, const char **val,
              size_t *vlen)
{
    struct nwsp_dict_ent e;
    size_t               pos = 0, klen = strlen(key);
    int                  found = 0;

    while (nwsp_dict_next(dict, len, &pos, &e)) {
        if (e.klen == klen && memcmp(e.key, key, klen) == 0) {
            *val = e.val;
            *vlen = e.vlen;
            found = 1;
        }
    }
    return found;
}

int
nwsp_buf_reserve(struct nwsp_buf *b, size_t more)
{
    size_t cap;
    char  *p;

    if (b->cap - b->len >= more)
        return 0;
    if (more > SIZE_MAX / 2 - b->len)
        return -1;
    cap = b->cap ? b->cap : 256;
    while (cap - b->len < more)
        cap *= 2;
    if ((p = realloc(b->data, cap)) == NULL)
        return -1;
    b->data = p;
    b->cap = cap;
    return 0;
}

int
nwsp_buf_add(struct nwsp_buf *b, const void *p, size_t len)
{
    if (nwsp_buf_reserve(b, len) != 0)
        return -1;
    if (len > 0)
        memcpy(b->data + b->len, p, len);
    b->len += len;
    return 0;
}

void
nwsp_buf_reset(struct nwsp_buf *b)
{
    b->len = 0;
}

void
nwsp_buf_free(struct nwsp_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

int
nwsp_buf_dict_begin(struct nwsp_buf *b, unsigned n)
{
    char d4[NWSP_D4_LEN];

    if (n > NWSP_D4_MAX)
        return -1;
    nwsp_put_d4(d4, n);
    return nwsp_buf_add(b, d4, sizeof(d4));
}

int
nwsp_buf_dict_put(struct nwsp_buf *b, const char *key, size_t klen, const char *val,
                  size_t vlen)
{
    char d4[NWSP_D4_LEN];

    if (klen > NWSP_DICT_FIELD_MAX || vlen > NWSP_DICT_FIELD_MAX)
        return -1;
    if (nwsp_buf_reserve(b, 2 * NWSP_D4_LEN + klen + vlen) != 0)
        return -1;
    nwsp_put_d4(d4, (unsigned)klen);
    nwsp_buf_add(b, d4, sizeof(d4));
    nwsp_buf_add(b, key, klen);
    nwsp_put_d4(d4, (unsigned)vlen);
    nwsp_buf_add(b, d4, sizeof(d4));
    nwsp_buf_add(b, val, vlen);
    return 0;
}

int
nwsp_buf_argc(struct nwsp_buf *b, unsigned argc)
{
    char d4[NWSP_D4_LEN];

    if (argc < 1 || argc > NWSP_ARGC_MAX)
        return -1;
    nwsp_put_d4(d4, argc);
    return nwsp_buf_add(b, d4, sizeof(d4));
}

int
nwsp_buf_arg_header(struct nwsp_buf *b, uint64_t len)
{
    char d20[NWSP_D20_LEN];

    nwsp_put_d20(d20, len);
    return nwsp_buf_add(b, d20, sizeof(d20));
}

int
nwsp_buf_arg(struct nwsp_buf *b, const void *p, size_t len)
{
    if (nwsp_buf_reserve(b, NWSP_D20_LEN + len) != 0)
        return -1;
    nwsp_buf_arg_header(b, len);
    return nwsp_buf_add(b, p, len);
}
