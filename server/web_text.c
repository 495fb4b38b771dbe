/*
 * web_text.c -- the web interface's text handling: query and form fields,
 * and the escaping of names and value bytes.
 *
 * Workspace and variable names are arbitrary bytes.  Each is shown as
 * display text (UTF-8 kept, any other byte written \xNN, so the result is
 * always valid UTF-8 for JSON) and addressed by its key, the percent-encoding
 * of every byte, which round-trips exactly through a URL or a form.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "web.h"

static int
web_hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Percent-decodes len bytes ('+' is a space) into a new string; NULL if malformed. */
static char *
web_unescape(const char *s, size_t len, size_t *outlen)
{
    char  *out = xmalloc(len + 1);
    size_t i, n = 0;
    int    hi, lo;

    for (i = 0; i < len; i++) {
        if (s[i] == '+') {
            out[n++] = ' ';
        } else if (s[i] == '%') {
            if (i + 2 >= len) {
                free(out);
                return NULL;
            }
            if ((hi = web_hexval((unsigned char)s[i + 1])) < 0 ||
                (lo = web_hexval((unsigned char)s[i + 2])) < 0) {
                free(out);
                return NULL;
            }
            out[n++] = (char)(hi << 4 | lo);
            i += 2;
        } else {
            out[n++] = s[i];
        }
    }
    out[n] = '\0';
    *outlen = n;
    return out;
}

int
web_params_parse(struct web_params *ps, const char *s, size_t len)
{
    const char *end = s + len, *amp, *eq;
    size_t      klen;
    char       *key;

    while (s < end) {
        if ((amp = memchr(s, '&', (size_t)(end - s))) == NULL)
            amp = end;
        if (amp > s) {
            if (ps->n == WEB_MAX_PARAMS)
                return -1;
            if ((eq = memchr(s, '=', (size_t)(amp - s))) == NULL)
                eq = amp;
            key = web_unescape(s, (size_t)(eq - s), &klen);
            if (key == NULL || strlen(key) != klen) {
                free(key);
                return -1;
            }
            ps->p[ps->n].wp_key = key;
            ps->p[ps->n].wp_val =
                web_unescape(eq < amp ? eq + 1 : amp, eq < amp ? (size_t)(amp - eq - 1) : 0,
                             &ps->p[ps->n].wp_len);
            if (ps->p[ps->n].wp_val == NULL) {
                free(key);
                return -1;
            }
            ps->n++;
        }
        s = amp + 1;
    }
    return 0;
}

void
web_params_free(struct web_params *ps)
{
    size_t i;

    for (i = 0; i < ps->n; i++) {
        free(ps->p[i].wp_key);
        free(ps->p[i].wp_val);
    }
    ps->n = 0;
}

const char *
web_param(const struct web_params *ps, const char *key, size_t *len)
{
    size_t i;

    for (i = 0; i < ps->n; i++) {
        if (strcmp(ps->p[i].wp_key, key) == 0) {
            if (len != NULL)
                *len = ps->p[i].wp_len;
            return ps->p[i].wp_val;
        }
    }
    return NULL;
}

long
web_param_long(const struct web_params *ps, const char *key, long def, long min, long max)
{
    const char *v = web_param(ps, key, NULL);
    char       *end;
    long        n;

    if (v == NULL || *v == '\0')
        return def;
    n = strtol(v, &end, 10);
    if (*end != '\0')
        return def;
    return n < min ? min : n > max ? max : n;
}

/* Length of the valid UTF-8 character at s (1-4), or 0 if the bytes are not one. */
static size_t
web_utf8_char(const unsigned char *s, size_t avail)
{
    size_t   n, i;
    uint32_t cp;

    if (s[0] < 0x80)
        return 1;
    if (s[0] >= 0xc2 && s[0] <= 0xdf) {
        n = 2;
        cp = s[0] & 0x1f;
    } else if (s[0] >= 0xe0 && s[0] <= 0xef) {
        n = 3;
        cp = s[0] & 0x0f;
    } else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
        n = 4;
        cp = s[0] & 0x07;
    } else {
        return 0;
    }
    if (avail < n)
        return 0;
    for (i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = cp << 6 | (s[i] & 0x3f);
    }
    if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
        (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return n;
}

char *
web_display(const char *s, size_t len, size_t maxin, size_t *used)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t               i = 0, n, lim = len < maxin ? len : maxin;
    struct nwsp_buf      b = {0};
    char                 hex[8];

    while (i < lim) {
        n = p[i] == 0 ? 0 : web_utf8_char(p + i, len - i);
        if (n > 0 && i + n > lim)
            break;  /* never cut a character in two */
        if (n == 0) {
            snprintf(hex, sizeof(hex), "\\x%02x", p[i]);
            nwsp_buf_add(&b, hex, 4);
            i++;
        } else {
            nwsp_buf_add(&b, p + i, n);
            i += n;
        }
    }
    if (used != NULL)
        *used = i;
    if (nwsp_buf_add(&b, "", 1) != 0)
        fatalx("web_display");
    return b.data;
}

int
web_is_text(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t               i = 0, n;

    while (i < len) {
        if (p[i] < 0x20 && p[i] != '\t' && p[i] != '\n' && p[i] != '\r')
            return 0;
        if (p[i] == 0x7f || (n = web_utf8_char(p + i, len - i)) == 0)
            return 0;
        i += n;
    }
    return 1;
}

char *
web_pct(const char *s, size_t len)
{
    /* libevent keeps the same unreserved set and writes uppercase hex. */
    char *out = evhttp_uriencode(s, (ev_ssize_t)len, 0);

    if (out == NULL)
        fatalx("web_pct");
    return out;
}

json_t *
web_json_display(const char *s, size_t len)
{
    char   *d = web_display(s, len, len, NULL);
    json_t *j = json_string(d);

    free(d);
    return j;
}

void
web_json_name(json_t *obj, const char *s, size_t len)
{
    char *key = web_pct(s, len);

    json_object_set_new(obj, "name", web_json_display(s, len));
    json_object_set_new(obj, "key", json_string(key));
    free(key);
}

void
web_html(struct evbuffer *out, const char *s, size_t len)
{
    /* web_display() is the strict part (no NUL, no invalid UTF-8 left). */
    char *d = web_display(s, len, len, NULL);
    char *h = evhttp_htmlescape(d);

    if (h == NULL)
        fatalx("web_html");
    evbuffer_add(out, h, strlen(h));
    free(h);
    free(d);
}
