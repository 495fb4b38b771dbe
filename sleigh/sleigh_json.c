/*
 * sleigh_json.c -- a fast JSON writer and reader for the sleigh's records.
 *
 * Task and result records carry one small JSON value per element, and
 * jansson's own codec spends thousands of instructions on each (its dump
 * formats every integer through snprintf, its parser reads the text one
 * character at a time through a stream callback).  Here the writer covers
 * every json_t (compact output, as JSON_COMPACT | JSON_ENCODE_ANY gives)
 * and the reader covers the common subset: numbers, literals, arrays,
 * objects and strings of printable ASCII without escapes.  Whatever the
 * reader does not take (an escape, a non-ASCII byte, a too-big number,
 * deep nesting, any syntax error) is handed to json_loadb, so the result
 * is always what jansson would give.  Output is plain JSON: classic
 * readers of these records see no difference.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "frame.h"
#include "nwsp.h"
#include "sleighp.h"

#define SJSON_MAX_DEPTH 256 /* deeper input goes to jansson (it allows 2048) */

/* ---- writing ------------------------------------------------------------------ */

/* Appends the decimal text of n; 0, or -1. */
static int
sjson_put_int(struct nwsp_buf *b, json_int_t n)
{
    static const char  pairs[] = "00010203040506070809101112131415161718192021222324"
                                 "25262728293031323334353637383940414243444546474849"
                                 "50515253545556575859606162636465666768697071727374"
                                 "75767778798081828384858687888990919293949596979899";
    char               tmp[24], *p = tmp + sizeof(tmp);
    unsigned long long u = n < 0 ? 0ULL - (unsigned long long)n : (unsigned long long)n;
    size_t             len;

    while (u >= 100) { /* two digits a step */
        p -= 2;
        memcpy(p, pairs + 2 * (u % 100), 2);
        u /= 100;
    }
    if (u >= 10) {
        p -= 2;
        memcpy(p, pairs + 2 * u, 2);
    } else {
        *--p = (char)('0' + u);
    }
    if (n < 0)
        *--p = '-';
    len = (size_t)(tmp + sizeof(tmp) - p);
    if (b->cap - b->len < len && nwsp_buf_reserve(b, len) != 0)
        return -1;
    memcpy(b->data + b->len, p, len);
    b->len += len;
    return 0;
}

/* Appends a real as jansson writes it ("%.17g", with ".0" if it looks integral). */
static int
sjson_put_real(struct nwsp_buf *b, double d)
{
    char tmp[40];
    int  n;

    if (!isfinite(d))
        return -1; /* jansson refuses these too */
    n = snprintf(tmp, sizeof(tmp) - 2, "%.17g", d);
    if (n <= 0 || (size_t)n >= sizeof(tmp) - 2)
        return -1;
    if (strpbrk(tmp, ".eE") == NULL) {
        tmp[n++] = '.';
        tmp[n++] = '0';
    }
    return nwsp_buf_add(b, tmp, (size_t)n);
}

/* Appends a quoted, escaped string of len bytes (NUL bytes allowed). */
static int
sjson_put_str(struct nwsp_buf *b, const char *s, size_t len)
{
    static const char hex[] = "0123456789ABCDEF"; /* as jansson */
    size_t            i, run = 0;
    char              esc[6];
    unsigned char     c;

    if (nwsp_buf_reserve(b, len + 2) != 0)
        return -1;
    b->data[b->len++] = '"';
    for (i = 0; i < len; i++) {
        c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        if (nwsp_buf_add(b, s + run, i - run) != 0)
            return -1;
        run = i + 1;
        esc[0] = '\\';
        switch (c) {
        case '"': esc[1] = '"'; break;
        case '\\': esc[1] = '\\'; break;
        case '\b': esc[1] = 'b'; break;
        case '\f': esc[1] = 'f'; break;
        case '\n': esc[1] = 'n'; break;
        case '\r': esc[1] = 'r'; break;
        case '\t': esc[1] = 't'; break;
        default:
            memcpy(esc + 1, "u00", 3);
            esc[4] = hex[c >> 4];
            esc[5] = hex[c & 15];
            if (nwsp_buf_add(b, esc, 6) != 0)
                return -1;
            continue;
        }
        if (nwsp_buf_add(b, esc, 2) != 0)
            return -1;
    }
    if (nwsp_buf_add(b, s + run, len - run) != 0)
        return -1;
    return nwsp_buf_add(b, "\"", 1);
}

/* Appends the compact JSON text of j; 0, or -1 (out of memory, NaN or infinity). */
int
nwsp_sleigh_json_put(struct nwsp_buf *b, const json_t *j)
{
    const char *key;
    size_t      i, n, klen;
    json_t     *x;
    int         first = 1;

    switch (json_typeof(j)) {
    case JSON_NULL:
        return nwsp_buf_add(b, "null", 4);
    case JSON_TRUE:
        return nwsp_buf_add(b, "true", 4);
    case JSON_FALSE:
        return nwsp_buf_add(b, "false", 5);
    case JSON_INTEGER:
        return sjson_put_int(b, json_integer_value(j));
    case JSON_REAL:
        return sjson_put_real(b, json_real_value(j));
    case JSON_STRING:
        return sjson_put_str(b, json_string_value(j), json_string_length(j));
    case JSON_ARRAY:
        n = json_array_size(j);
        for (i = 0; i < n; i++) {
            if (b->cap == b->len && nwsp_buf_reserve(b, 1) != 0)
                return -1;
            b->data[b->len++] = i == 0 ? '[' : ',';
            x = json_array_get(j, i);
            if ((json_is_integer(x) ? sjson_put_int(b, json_integer_value(x))
                                    : nwsp_sleigh_json_put(b, x)) != 0)
                return -1;
        }
        return n == 0 ? nwsp_buf_add(b, "[]", 2) : nwsp_buf_add(b, "]", 1);
    case JSON_OBJECT:
        if (nwsp_buf_add(b, "{", 1) != 0)
            return -1;
        json_object_keylen_foreach((json_t *)j, key, klen, x)
        {
            if ((!first && nwsp_buf_add(b, ",", 1) != 0) || sjson_put_str(b, key, klen) != 0 ||
                nwsp_buf_add(b, ":", 1) != 0 || nwsp_sleigh_json_put(b, x) != 0)
                return -1;
            first = 0;
        }
        return nwsp_buf_add(b, "}", 1);
    }
    return -1;
}

/* j as a JSON text value (descriptor NWS_DESC_TEXT): new, or NULL. */
nws_value *
nwsp_sleigh_encode(const json_t *j, nws_error *err)
{
    struct nwsp_buf b = {0};
    nws_value      *v;

    if (j == NULL || nwsp_sleigh_json_put(&b, j) != 0 || nwsp_buf_add(&b, "", 1) != 0) {
        nwsp_buf_free(&b);
        /* Out of memory, or a value JSON cannot hold: let jansson say which. */
        return nws_value_from_json(j, err);
    }
    if ((v = nwsp_value_wrap(b.data, b.len - 1, NWS_DESC_TEXT)) == NULL) {
        nwsp_buf_free(&b);
        nwsp_err_set(err, NWS_ERR_NOMEM, 0, "out of memory");
    }
    return v;
}

/* ---- reading ------------------------------------------------------------------ */

struct sjson_in {
    const char *p, *end;
    int         depth;
};

static json_t *sjson_value(struct sjson_in *in);

static void
sjson_ws(struct sjson_in *in)
{
    while (in->p < in->end &&
           (*in->p == ' ' || *in->p == '\n' || *in->p == '\t' || *in->p == '\r'))
        in->p++;
}

/* A string without escapes or non-ASCII bytes at in->p (the opening quote). */
static int
sjson_str(struct sjson_in *in, const char **s, size_t *len)
{
    const char *p = ++in->p;

    while (p < in->end && *p != '"') {
        unsigned char c = (unsigned char)*p;

        if (c < 0x20 || c >= 0x7f || c == '\\')
            return -1;
        p++;
    }
    if (p == in->end)
        return -1;
    *s = in->p;
    *len = (size_t)(p - in->p);
    in->p = p + 1;
    return 0;
}

/* A number: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)? */
static json_t *
sjson_num(struct sjson_in *in)
{
    const char        *p = in->p, *start = p;
    unsigned long long u = 0;
    int                neg = 0, real = 0, digits = 0;
    char               tmp[64], *end;
    double             d;

    if (p < in->end && *p == '-') {
        neg = 1;
        p++;
    }
    if (p < in->end && *p == '0') {
        p++;
        digits = 1;
    } else {
        while (p < in->end && *p >= '0' && *p <= '9') {
            if (digits++ >= 18)
                return NULL; /* may not fit: jansson decides */
            u = u * 10 + (unsigned)(*p++ - '0');
        }
    }
    if (digits == 0)
        return NULL;
    if (p < in->end && *p == '.') {
        real = 1;
        if (++p == in->end || *p < '0' || *p > '9')
            return NULL;
        while (p < in->end && *p >= '0' && *p <= '9')
            p++;
    }
    if (p < in->end && (*p == 'e' || *p == 'E')) {
        real = 1;
        p++;
        if (p < in->end && (*p == '+' || *p == '-'))
            p++;
        if (p == in->end || *p < '0' || *p > '9')
            return NULL;
        while (p < in->end && *p >= '0' && *p <= '9')
            p++;
    }
    in->p = p;
    if (!real)
        return json_integer(neg ? -(json_int_t)u : (json_int_t)u);
    if ((size_t)(p - start) >= sizeof(tmp))
        return NULL;
    memcpy(tmp, start, (size_t)(p - start));
    tmp[p - start] = '\0';
    d = strtod(tmp, &end);
    if (*end != '\0' || !isfinite(d))
        return NULL;
    return json_real(d);
}

static json_t *
sjson_array(struct sjson_in *in)
{
    json_t *a = json_array(), *x;

    in->p++;
    sjson_ws(in);
    if (in->p < in->end && *in->p == ']') {
        in->p++;
        return a;
    }
    while (a != NULL) {
        if ((x = sjson_value(in)) == NULL || json_array_append_new(a, x) != 0)
            break;
        sjson_ws(in);
        if (in->p < in->end && *in->p == ',') {
            in->p++;
            continue;
        }
        if (in->p < in->end && *in->p == ']') {
            in->p++;
            return a;
        }
        break;
    }
    json_decref(a);
    return NULL;
}

static json_t *
sjson_object(struct sjson_in *in)
{
    json_t     *o = json_object(), *x;
    const char *key;
    size_t      klen;

    in->p++;
    sjson_ws(in);
    if (in->p < in->end && *in->p == '}') {
        in->p++;
        return o;
    }
    while (o != NULL) {
        sjson_ws(in);
        if (in->p == in->end || *in->p != '"' || sjson_str(in, &key, &klen) != 0)
            break;
        sjson_ws(in);
        if (in->p == in->end || *in->p++ != ':')
            break;
        if ((x = sjson_value(in)) == NULL || json_object_setn_new_nocheck(o, key, klen, x) != 0)
            break;
        sjson_ws(in);
        if (in->p < in->end && *in->p == ',') {
            in->p++;
            continue;
        }
        if (in->p < in->end && *in->p == '}') {
            in->p++;
            return o;
        }
        break;
    }
    json_decref(o);
    return NULL;
}

/* One value at in->p; NULL if this reader does not take it. */
static json_t *
sjson_value(struct sjson_in *in)
{
    const char *s;
    size_t      len, left;
    json_t     *j = NULL;

    sjson_ws(in);
    if (in->p == in->end)
        return NULL;
    left = (size_t)(in->end - in->p);
    switch (*in->p) {
    case '[':
    case '{':
        if (++in->depth > SJSON_MAX_DEPTH)
            return NULL;
        j = *in->p == '[' ? sjson_array(in) : sjson_object(in);
        in->depth--;
        return j;
    case '"':
        return sjson_str(in, &s, &len) == 0 ? json_stringn_nocheck(s, len) : NULL;
    case 'n':
        if (left >= 4 && memcmp(in->p, "null", 4) == 0) {
            in->p += 4;
            return json_null();
        }
        return NULL;
    case 't':
        if (left >= 4 && memcmp(in->p, "true", 4) == 0) {
            in->p += 4;
            return json_true();
        }
        return NULL;
    case 'f':
        if (left >= 5 && memcmp(in->p, "false", 5) == 0) {
            in->p += 5;
            return json_false();
        }
        return NULL;
    default:
        return sjson_num(in);
    }
}

/*
 * Parses len bytes of JSON text (any value; strings may hold NUL bytes):
 * a new reference, or NULL when the text is not JSON.
 */
json_t *
nwsp_sleigh_json_parse(const char *text, size_t len)
{
    struct sjson_in in = {text, text + len, 0};
    json_t         *j = sjson_value(&in);

    if (j != NULL) {
        sjson_ws(&in);
        if (in.p == in.end)
            return j;
        json_decref(j);
    }
    return json_loadb(text, len, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
}

/* ---- reading a task record's argument lists one at a time --------------------- */

/* Character classes for sjson_skip: 0 is "nothing to do but step over it". */
enum { SK_PLAIN, SK_QUOTE, SK_OPEN, SK_CLOSE, SK_COMMA, SK_SPACE };
static const unsigned char sjson_class[256] = {
    ['"'] = SK_QUOTE, ['['] = SK_OPEN,  ['{'] = SK_OPEN,   [']'] = SK_CLOSE,
    ['}'] = SK_CLOSE, [','] = SK_COMMA, [' '] = SK_SPACE,  ['\n'] = SK_SPACE,
    ['\t'] = SK_SPACE, ['\r'] = SK_SPACE,
};

/*
 * Skips one value at in->p without building it (balanced brackets,
 * strings); 0, or -1.  When items is not NULL and the value is an array,
 * *items is its number of items (commas at its level, plus one).
 */
static int
sjson_skip(struct sjson_in *in, size_t *items)
{
    const unsigned char *p = (const unsigned char *)in->p;
    const unsigned char *end = (const unsigned char *)in->end;
    size_t               commas = 0, n;
    int                  depth = 0, empty;

    if (p >= end)
        return -1;
    if (sjson_class[*p] != SK_OPEN && *p != '"') { /* a number or literal */
        while (p < end && sjson_class[*p] == SK_PLAIN)
            p++;
        if (p == (const unsigned char *)in->p)
            return -1;
        in->p = (const char *)p;
        return 0;
    }
    for (n = 1; p + n < end && sjson_class[p[n]] == SK_SPACE; n++)
        ;
    empty = *p == '[' && p + n < end && p[n] == ']';
    for (;;) {
        while (p < end && sjson_class[*p] == SK_PLAIN)
            p++;
        if (p >= end)
            return -1;
        switch (sjson_class[*p++]) {
        case SK_QUOTE:
            for (; p < end && *p != '"'; p++)
                if (*p == '\\' && ++p == end)
                    return -1;
            if (p >= end)
                return -1;
            p++;
            break;
        case SK_OPEN:
            depth++;
            break;
        case SK_CLOSE:
            if (--depth < 0)
                return -1;
            break;
        case SK_COMMA:
            commas += depth == 1;
            break;
        default:
            break;
        }
        if (depth == 0) {
            if (items != NULL)
                *items = empty ? 0 : commas + 1;
            in->p = (const char *)p;
            return 0;
        }
    }
}

/*
 * Parses a JSON object like nwsp_sleigh_json_parse, but leaves out the
 * value of key skip, which must be an array, and returns where its text is
 * in *span and *spanlen, and how many items it has in *nitems (counted by
 * its commas: a malformed item shows only when it is read).  NULL when
 * this reader cannot (the caller then parses the text whole): not an
 * object, no such key, anything unusual.
 */
json_t *
nwsp_sleigh_json_parse_except(const char *text, size_t len, const char *skip,
                              const char **span, size_t *spanlen, size_t *nitems)
{
    struct sjson_in in = {text, text + len, 1};
    size_t          skiplen = strlen(skip), klen;
    const char     *key, *start;
    json_t         *o, *x;
    int             found = 0;

    sjson_ws(&in);
    if (in.p == in.end || *in.p != '{' || (o = json_object()) == NULL)
        return NULL;
    in.p++;
    sjson_ws(&in);
    if (in.p < in.end && *in.p == '}') {
        json_decref(o);
        return NULL; /* no key at all */
    }
    for (;;) {
        sjson_ws(&in);
        if (in.p == in.end || *in.p != '"' || sjson_str(&in, &key, &klen) != 0)
            break;
        sjson_ws(&in);
        if (in.p == in.end || *in.p++ != ':')
            break;
        sjson_ws(&in);
        if (klen == skiplen && memcmp(key, skip, klen) == 0) {
            /*
             * Twice: the first one's items would never be read, so nothing
             * would check them; let the whole parse judge such a text.
             */
            if (found)
                break;
            start = in.p;
            if (in.p == in.end || *in.p != '[' || sjson_skip(&in, nitems) != 0)
                break;
            *span = start;
            *spanlen = (size_t)(in.p - start);
            found = 1;
        } else if ((x = sjson_value(&in)) == NULL ||
                   json_object_setn_new_nocheck(o, key, klen, x) != 0) {
            break;
        }
        sjson_ws(&in);
        if (in.p < in.end && *in.p == ',') {
            in.p++;
            continue;
        }
        if (in.p < in.end && *in.p == '}') {
            in.p++;
            sjson_ws(&in);
            if (in.p != in.end || !found)
                break;
            return o;
        }
        break;
    }
    json_decref(o);
    return NULL;
}

/* Starts reading the items of the array whose text is span. */
void
nwsp_sleigh_items_init(struct nwsp_sleigh_items *it, const char *span, size_t len)
{
    it->si_p = span;
    it->si_end = span + len;
    it->si_started = 0;
}

/* The next item's text: 1 and *item, *len; 0 after the last; -1 if malformed. */
int
nwsp_sleigh_items_next(struct nwsp_sleigh_items *it, const char **item, size_t *len)
{
    struct sjson_in in = {it->si_p, it->si_end, 0};

    sjson_ws(&in);
    if (!it->si_started) {
        if (in.p == in.end || *in.p++ != '[')
            return -1;
        sjson_ws(&in);
        it->si_started = 1;
        if (in.p < in.end && *in.p == ']') {
            it->si_p = in.p;
            return 0;
        }
    } else if (in.p < in.end && *in.p == ',') {
        in.p++;
        sjson_ws(&in);
    } else if (in.p < in.end && *in.p == ']') {
        it->si_p = in.p;
        return 0;
    } else {
        return -1;
    }
    *item = in.p;
    if (sjson_skip(&in, NULL) != 0)
        return -1;
    *len = (size_t)(in.p - *item);
    it->si_p = in.p;
    return 1;
}

/*
 * Replaces the contents of array a with the values of the array whose text
 * is given: 0, or -1 when this reader does not take it (the caller then uses
 * json_loadb on the text).
 */
int
nwsp_sleigh_json_fill(json_t *a, const char *text, size_t len)
{
    struct sjson_in in = {text, text + len, 1};
    json_t         *x;

    if (json_array_clear(a) != 0 || len == 0 || *in.p != '[')
        return -1;
    in.p++;
    sjson_ws(&in);
    if (in.p < in.end && *in.p == ']') {
        in.p++;
    } else {
        for (;;) {
            if ((x = sjson_value(&in)) == NULL || json_array_append_new(a, x) != 0)
                return -1;
            sjson_ws(&in);
            if (in.p < in.end && *in.p == ',') {
                in.p++;
                continue;
            }
            if (in.p < in.end && *in.p == ']') {
                in.p++;
                break;
            }
            return -1;
        }
    }
    sjson_ws(&in);
    return in.p == in.end ? 0 : -1;
}
