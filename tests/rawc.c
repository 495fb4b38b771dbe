/*
 * rawc.c -- a strict raw-protocol NWS client for the integration tests.
 *
 * Owns nothing global.  A struct rawc holds one connection and its
 * negotiated flags; the reply readers check every field against the layout
 * of nws-protocol.md section 4.1 (the server writes D4 and D20 fields with
 * %04d / %020d, so only digits are accepted there, and a '-' only in front
 * of a type descriptor) and record the first bytes of the reply in c->trace
 * so that a failure message shows what actually came.
 */
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "frame.h"
#include "secret.h"
#include "nwstest.h"
#include "rawc.h"

/* Records a deviation in c->err, followed by the reply bytes seen so far. */
static int rawc_fail(struct rawc *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int
rawc_fail(struct rawc *c, const char *fmt, ...)
{
    va_list ap;
    char    esc[800];
    size_t  n;

    va_start(ap, fmt);
    vsnprintf(c->err, sizeof(c->err), fmt, ap);
    va_end(ap);
    if (c->trace_len > 0) {
        n = strlen(c->err);
        snprintf(c->err + n, sizeof(c->err) - n, " [reply bytes so far: \"%s\"]",
                 rawc_escape(esc, sizeof(esc), c->trace, c->trace_len));
    }
    return -1;
}

/* Printable form of bytes for failure messages (see rawc.h). */
char *
rawc_escape(char *dst, size_t cap, const void *buf, size_t len)
{
    const unsigned char *p = buf;
    size_t               o = 0, i;

    if (cap == 0)
        return dst;
    for (i = 0; i < len && o + 5 < cap; i++) {
        if (p[i] == '\\') {
            dst[o++] = '\\';
            dst[o++] = '\\';
        } else if (p[i] == '\n') {
            dst[o++] = '\\';
            dst[o++] = 'n';
        } else if (p[i] == '\t') {
            dst[o++] = '\\';
            dst[o++] = 't';
        } else if (p[i] >= 0x20 && p[i] < 0x7f) {
            dst[o++] = (char)p[i];
        } else {
            o += (size_t)snprintf(dst + o, cap - o, "\\x%02x", p[i]);
        }
    }
    if (i < len && o + 4 < cap) {
        memcpy(dst + o, "...", 3);
        o += 3;
    }
    dst[o] = '\0';
    return dst;
}

/* Reads exactly len bytes, keeping the first ones in c->trace. */
int
rawc_read(struct rawc *c, void *buf, size_t len)
{
    char   *p = buf;
    size_t  got = 0, keep;
    ssize_t n;

    while (got < len) {
        n = recv(c->fd, p + got, len - got, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n == 0)
            return rawc_fail(c, "connection closed by the server after %zu of %zu bytes",
                             got, len);
        if (n < 0)
            return rawc_fail(c, "read failed after %zu of %zu bytes: %s", got, len,
                             errno == EAGAIN ? "timeout" : strerror(errno));
        keep = sizeof(c->trace) - c->trace_len;
        if (keep > (size_t)n)
            keep = (size_t)n;
        memcpy(c->trace + c->trace_len, p + got, keep);
        c->trace_len += keep;
        got += (size_t)n;
    }
    return 0;
}

/* Sends bytes, or queues them while the client is corked. */
int
rawc_write(struct rawc *c, const void *buf, size_t len)
{
    if (c->corked) {
        if (c->cork_len + len > c->cork_cap) {
            size_t cap = (c->cork_len + len) * 2;
            char  *p = realloc(c->cork, cap);

            if (p == NULL) {
                snprintf(c->err, sizeof(c->err), "out of memory");
                return -1;
            }
            c->cork = p;
            c->cork_cap = cap;
        }
        memcpy(c->cork + c->cork_len, buf, len);
        c->cork_len += len;
        return 0;
    }
    if (nwstest_write_all(c->fd, buf, len) != 0) {
        snprintf(c->err, sizeof(c->err), "write of %zu bytes failed: %s", len,
                 strerror(errno));
        return -1;
    }
    return 0;
}

/* Starts queueing writes (pipelining). */
void
rawc_cork(struct rawc *c)
{
    c->corked = 1;
    c->cork_len = 0;
}

/* Sends the queued writes in one go. */
int
rawc_uncork(struct rawc *c)
{
    c->corked = 0;
    return rawc_write(c, c->cork, c->cork_len);
}

/* Reads a field of width digits (all '0'-'9') into *out; what names it. */
static int
rawc_read_digits(struct rawc *c, size_t width, const char *what, uint64_t *out, char *raw)
{
    char     f[21];
    size_t   i;
    uint64_t v = 0;

    if (rawc_read(c, f, width) != 0)
        return -1;
    for (i = 0; i < width; i++) {
        if (f[i] < '0' || f[i] > '9')
            return rawc_fail(c, "%s field is not %zu digits", what, width);
        v = v * 10 + (uint64_t)(f[i] - '0');
    }
    if (raw != NULL) {
        memcpy(raw, f, width);
        raw[width] = '\0';
    }
    *out = v;
    return 0;
}

/* Reads a DICT strictly: D4 count, then D4-prefixed keys and values. */
int
rawc_read_dict(struct rawc *c, char **out, size_t *outlen)
{
    struct nwsp_buf b = {0};
    uint64_t        n = 0, i, klen = 0, vlen = 0;
    char            d4[5];

    if (rawc_read_digits(c, 4, "dictionary count", &n, d4) != 0)
        return -1;
    nwsp_buf_add(&b, d4, 4);
    for (i = 0; i < n; i++) {
        if (rawc_read_digits(c, 4, "dictionary key length", &klen, d4) != 0)
            goto bad;
        nwsp_buf_add(&b, d4, 4);
        if (nwsp_buf_reserve(&b, klen) != 0 || rawc_read(c, b.data + b.len, klen) != 0)
            goto bad;
        b.len += klen;
        if (rawc_read_digits(c, 4, "dictionary value length", &vlen, d4) != 0)
            goto bad;
        nwsp_buf_add(&b, d4, 4);
        if (nwsp_buf_reserve(&b, vlen) != 0 || rawc_read(c, b.data + b.len, vlen) != 0)
            goto bad;
        b.len += vlen;
    }
    /* Keep a NUL after the bytes so a dictionary prints as a string. */
    nwsp_buf_add(&b, "", 1);
    b.len--;
    *out = b.data;
    *outlen = b.len;
    return 0;
bad:
    nwsp_buf_free(&b);
    return -1;
}

/* Greets the server with the option set of kind. */
static int
rawc_greet(struct rawc *c, enum rawc_kind kind)
{
    static const char *const both[] = {"MetadataToServer", "1", "MetadataFromServer", "1",
                                       NULL};
    static const char *const to[] = {"MetadataToServer", "1", NULL};
    static const char *const from[] = {"MetadataFromServer", "1", NULL};
    static const char *const none[] = {NULL};
    const char *const       *opts;
    int                      rc;

    switch (kind) {
    case RAWC_NONE:
        return 0;
    case RAWC_OLD_COOKIE:
        return rawc_hs_old(c, "1112");
    case RAWC_OLD_NOCOOKIE:
        return rawc_hs_old(c, "1111");
    case RAWC_META:
        opts = both;
        break;
    case RAWC_META_TO:
        opts = to;
        break;
    case RAWC_META_FROM:
        opts = from;
        break;
    default:
        opts = none;
        break;
    }
    rc = rawc_hs_new(c, opts);
    if (rc == 1)
        return rawc_fail(c, "handshake denied (F000)");
    return rc;
}

/* Connects and greets the server as kind says. */
int
rawc_open(struct rawc *c, int port, enum rawc_kind kind)
{
    memset(c, 0, sizeof(*c));
    c->fd = nwstest_connect(port, 5);
    if (c->fd < 0) {
        snprintf(c->err, sizeof(c->err), "connect to port %d failed: %s", port,
                 strerror(errno));
        return -1;
    }
    return rawc_greet(c, kind);
}

/* Closes the connection and frees the client's buffers. */
void
rawc_close(struct rawc *c)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    free(c->adv);
    c->adv = NULL;
    c->adv_len = 0;
    free(c->cork);
    c->cork = NULL;
    c->cork_len = c->cork_cap = 0;
    c->corked = 0;
}

/* The new-style handshake: 0 on A000, 1 on F000, -1 otherwise. */
int
rawc_hs_new(struct rawc *c, const char *const *opts)
{
    struct nwsp_buf b = {0};
    char            w[4], answer[NWSP_HMAC_HEX + 1];
    const char     *chal;
    size_t          n = 0, i, chal_len;
    int             rc;

    c->trace_len = 0;
    if (rawc_write(c, NWSP_HS_NEW, 4) != 0)
        return -1;
    if (rawc_read(c, w, 4) != 0)
        return -1;
    if (memcmp(w, NWSP_HS_ADVERTISE, 4) != 0)
        return rawc_fail(c, "expected \"P000\" after \"X000\"");
    free(c->adv);
    c->adv = NULL;
    if (rawc_read_dict(c, &c->adv, &c->adv_len) != 0)
        return -1;
    while (opts[n] != NULL)
        n += 2;
    answer[0] = '\0';
    if (c->secret != NULL &&
        nwsp_dict_get(c->adv, c->adv_len, "NwsAuth", &chal, &chal_len) &&
        chal_len == strlen(NWSP_AUTH_SCHEME) + NWSP_NONCE_HEX &&
        nwsp_hmac_hex(c->secret, strlen(c->secret), chal + strlen(NWSP_AUTH_SCHEME),
                      NWSP_NONCE_HEX, answer, sizeof(answer)) != 0)
        return rawc_fail(c, "cannot compute the HMAC");
    nwsp_buf_add(&b, NWSP_HS_REQUEST, 4);
    nwsp_buf_dict_begin(&b, (unsigned)(n / 2) + (answer[0] != '\0'));
    if (answer[0] != '\0')
        nwsp_buf_dict_put(&b, "NwsAuth", 7, answer, strlen(answer));
    for (i = 0; i < n; i += 2)
        nwsp_buf_dict_put(&b, opts[i], strlen(opts[i]), opts[i + 1], strlen(opts[i + 1]));
    rc = rawc_write(c, b.data, b.len);
    nwsp_buf_free(&b);
    if (rc != 0)
        return -1;
    c->trace_len = 0;
    if (rawc_read(c, w, 4) != 0)
        return -1;
    if (memcmp(w, NWSP_HS_DENY, 4) == 0)
        return 1;
    if (memcmp(w, NWSP_HS_ACCEPT, 4) != 0)
        return rawc_fail(c, "expected \"A000\" or \"F000\" after \"R000\"");
    c->cookie = 1;
    for (i = 0; i < n; i += 2) {
        /* Only the exact value "1" turns an option on (section 2.5). */
        if (strcmp(opts[i + 1], "1") != 0)
            continue;
        if (strcmp(opts[i], "MetadataToServer") == 0)
            c->meta_to = 1;
        if (strcmp(opts[i], "MetadataFromServer") == 0)
            c->meta_from = 1;
    }
    return 0;
}

/* The old-style handshake: the word, then "2223". */
int
rawc_hs_old(struct rawc *c, const char *word)
{
    char w[4];

    c->trace_len = 0;
    if (rawc_write(c, word, 4) != 0)
        return -1;
    if (rawc_read(c, w, 4) != 0)
        return -1;
    if (memcmp(w, NWSP_HS_OLD_REPLY, 4) != 0)
        return rawc_fail(c, "expected \"2223\" after \"%.4s\"", word);
    c->cookie = memcmp(word, "0000", 4) != 0 && memcmp(word, "1111", 4) != 0;
    c->meta_to = c->meta_from = 0;
    return 0;
}

/* Encodes key/value pairs as a NUL-terminated DICT string. */
char *
rawc_dict_new(const char *key, ...)
{
    struct nwsp_buf b = {0}, e = {0};
    va_list         ap;
    const char     *k, *v;
    unsigned        n = 0;

    va_start(ap, key);
    for (k = key; k != NULL; k = va_arg(ap, const char *)) {
        v = va_arg(ap, const char *);
        nwsp_buf_dict_put(&e, k, strlen(k), v, strlen(v));
        n++;
    }
    va_end(ap);
    nwsp_buf_dict_begin(&b, n);
    if (e.len > 0)
        nwsp_buf_add(&b, e.data, e.len);
    nwsp_buf_add(&b, "", 1);
    nwsp_buf_free(&e);
    return b.data;
}

/* Looks a key up in a wire-form DICT. */
int
rawc_dict_get(const char *d, size_t len, const char *key, const char **val, size_t *vlen)
{
    return nwsp_dict_get(d, len, key, val, vlen);
}

/* Compares two wire-form DICTs regardless of entry order. */
int
rawc_dict_equal(const char *a, size_t alen, const char *b, size_t blen)
{
    struct nwsp_dict_ent e;
    const char          *v;
    size_t               pos = 0, vlen;
    char                 key[10000];

    if (nwsp_dict_count(a, alen) != nwsp_dict_count(b, blen))
        return 0;
    while (nwsp_dict_next(b, blen, &pos, &e)) {
        memcpy(key, e.key, e.klen);
        key[e.klen] = '\0';
        if (memchr(e.key, '\0', e.klen) != NULL)
            return 0;
        if (!nwsp_dict_get(a, alen, key, &v, &vlen) || vlen != e.vlen ||
            memcmp(v, e.val, vlen) != 0)
            return 0;
    }
    return 1;
}

/* Appends [DICT] D4(argc) and argc-1 or argc arguments of a request to b. */
static int
rawc_build(struct rawc *c, struct nwsp_buf *b, const char *meta, size_t metalen,
           unsigned argc, unsigned nargs, const char *const *argv, const size_t *lens)
{
    unsigned i;

    if (meta != NULL && !c->meta_to) {
        snprintf(c->err, sizeof(c->err), "test bug: metadata on a connection without it");
        return -1;
    }
    if (c->sess_on && !c->sess_nohdr) {
        char hdr[41];

        snprintf(hdr, sizeof(hdr), "%020llu%020llu", (unsigned long long)++c->sess_seq,
                 (unsigned long long)c->sess_ack);
        nwsp_buf_add(b, hdr, 40);
    }
    if (c->meta_to)
        nwsp_buf_add(b, meta != NULL ? meta : "0000", meta != NULL ? metalen : 4);
    /* argc is written raw so that tests may send counts the codec refuses. */
    {
        char d4[5];

        snprintf(d4, sizeof(d4), "%04u", argc % 10000);
        nwsp_buf_add(b, d4, 4);
    }
    for (i = 0; i < nargs; i++)
        if (nwsp_buf_arg(b, argv[i], lens[i]) != 0)
            return -1;
    return 0;
}

/* Sends one request with explicit argument lengths. */
int
rawc_send(struct rawc *c, const char *meta, size_t metalen, unsigned argc,
          const char *const *argv, const size_t *lens)
{
    struct nwsp_buf b = {0};
    int             rc = -1;

    if (rawc_build(c, &b, meta, metalen, argc, argc, argv, lens) == 0)
        rc = rawc_write(c, b.data, b.len);
    nwsp_buf_free(&b);
    return rc;
}

/* Sends one request of NUL-terminated arguments. */
int
rawc_sendv(struct rawc *c, const char *meta, ...)
{
    const char *argv[64];
    size_t      lens[64];
    unsigned    n = 0;
    va_list     ap;
    const char *a;

    va_start(ap, meta);
    while ((a = va_arg(ap, const char *)) != NULL && n < 64) {
        argv[n] = a;
        lens[n] = strlen(a);
        n++;
    }
    va_end(ap);
    return rawc_send(c, meta, meta != NULL ? strlen(meta) : 0, n, argv, lens);
}

/* Sends a request up to the length of its last, streamed argument. */
int
rawc_send_head(struct rawc *c, const char *meta, unsigned argc, const char *const *argv,
               const size_t *lens, uint64_t lastlen)
{
    struct nwsp_buf b = {0};
    int             rc = -1;

    if (rawc_build(c, &b, meta, meta != NULL ? strlen(meta) : 0, argc, argc - 1, argv,
                   lens) == 0 &&
        nwsp_buf_arg_header(&b, lastlen) == 0)
        rc = rawc_write(c, b.data, b.len);
    nwsp_buf_free(&b);
    return rc;
}

/* Reads the [DICT] D4(status) that starts every reply. */
static int
rawc_read_status(struct rawc *c, struct rawc_reply *r)
{
    uint64_t st = 0;

    memset(r, 0, sizeof(*r));
    c->trace_len = 0;
    if (c->meta_from && rawc_read_dict(c, &r->meta, &r->meta_len) != 0)
        return -1;
    if (rawc_read_digits(c, 4, "status", &st, NULL) != 0)
        return -1;
    r->status = (int)st;
    return 0;
}

/* Reads a short reply. */
int
rawc_read_short(struct rawc *c, struct rawc_reply *r)
{
    if (rawc_read_status(c, r) != 0)
        return -1;
    if (c->sess_on)
        c->sess_ack++;
    return 0;
}

/* Reads a long reply up to its value length, checking every field. */
int
rawc_read_long_head(struct rawc *c, struct rawc_reply *r)
{
    char     f[20];
    size_t   i;
    uint64_t v = 0;

    if (rawc_read_status(c, r) != 0)
        return -1;
    r->is_long = 1;
    /* The descriptor is written with %020d: digits, or '-' then digits. */
    if (rawc_read(c, f, 20) != 0)
        return -1;
    for (i = f[0] == '-' ? 1 : 0; i < 20; i++) {
        if (f[i] < '0' || f[i] > '9')
            return rawc_fail(c, "type descriptor field is not %%020d");
        v = v * 10 + (uint64_t)(f[i] - '0');
    }
    memcpy(r->raw_desc, f, 20);
    r->desc = f[0] == '-' ? -(int64_t)v : (int64_t)v;
    if (c->cookie) {
        if (rawc_read(c, r->varid, 20) != 0)
            return -1;
        r->varid[20] = '\0';
        if (rawc_read_digits(c, 20, "cookie index", &r->index, r->raw_index) != 0)
            return -1;
    }
    if (rawc_read_digits(c, 20, "value length", &r->len, NULL) != 0)
        return -1;
    if (c->sess_on)
        c->sess_ack++; /* the caller reads the value before its next request */
    return 0;
}

/* Reads a whole long reply, value included. */
int
rawc_read_long(struct rawc *c, struct rawc_reply *r)
{
    if (rawc_read_long_head(c, r) != 0)
        return -1;
    if (r->len > (uint64_t)1 << 30)
        return rawc_fail(c, "value of %llu bytes is too big to read whole",
                         (unsigned long long)r->len);
    r->value = malloc(r->len + 1);
    if (r->value == NULL)
        return rawc_fail(c, "out of memory");
    if (rawc_read(c, r->value, r->len) != 0)
        return -1;
    r->value[r->len] = '\0';
    return 0;
}

/* Frees what a reply holds. */
void
rawc_reply_free(struct rawc_reply *r)
{
    free(r->meta);
    free(r->value);
    memset(r, 0, sizeof(*r));
}

/* Succeeds only if the server closes without sending anything. */
int
rawc_expect_eof(struct rawc *c, int ms)
{
    struct pollfd pfd = {.fd = c->fd, .events = POLLIN};
    char          buf[256], esc[800];
    ssize_t       n;

    c->trace_len = 0;
    if (poll(&pfd, 1, ms) <= 0) {
        snprintf(c->err, sizeof(c->err), "the server did not close within %d ms", ms);
        return -1;
    }
    n = recv(c->fd, buf, sizeof(buf), MSG_DONTWAIT);
    if (n == 0 || (n < 0 && errno == ECONNRESET))
        return 0;
    if (n < 0) {
        snprintf(c->err, sizeof(c->err), "read failed: %s", strerror(errno));
        return -1;
    }
    snprintf(c->err, sizeof(c->err), "expected the connection to close, got \"%s\"",
             rawc_escape(esc, sizeof(esc), buf, (size_t)n));
    return -1;
}

/* Succeeds only if nothing arrives and the connection stays open. */
int
rawc_expect_silence(struct rawc *c, int ms)
{
    struct pollfd pfd = {.fd = c->fd, .events = POLLIN};
    char          buf[256], esc[800];
    ssize_t       n;

    if (poll(&pfd, 1, ms) == 0)
        return 0;
    n = recv(c->fd, buf, sizeof(buf), MSG_DONTWAIT);
    if (n <= 0)
        snprintf(c->err, sizeof(c->err), "expected silence, the connection closed");
    else
        snprintf(c->err, sizeof(c->err), "expected silence, got \"%s\"",
                 rawc_escape(esc, sizeof(esc), buf, (size_t)n));
    return -1;
}

/* Half-closes the connection. */
int
rawc_shut_write(struct rawc *c)
{
    return shutdown(c->fd, SHUT_WR);
}

/* The options of a new-style kind, then NwsSession=val. */
static int
rawc_session_hs(struct rawc *c, enum rawc_kind kind, const char *val)
{
    const char *opts[8];
    char       *d = NULL;
    size_t      n = 0, dlen, vlen;
    const char *v;
    int         rc;

    if (kind == RAWC_META || kind == RAWC_META_TO) {
        opts[n++] = "MetadataToServer";
        opts[n++] = "1";
    }
    if (kind == RAWC_META || kind == RAWC_META_FROM) {
        opts[n++] = "MetadataFromServer";
        opts[n++] = "1";
    }
    if (kind != RAWC_PLAIN && kind != RAWC_META && kind != RAWC_META_TO &&
        kind != RAWC_META_FROM)
        return rawc_fail(c, "test bug: sessions need a new-style handshake");
    opts[n++] = "NwsSession";
    opts[n++] = val;
    opts[n] = NULL;
    if ((rc = rawc_hs_new(c, opts)) != 0)
        return rc;
    if (rawc_read_dict(c, &d, &dlen) != 0)
        return -1;
    rc = -1;
    if (!rawc_dict_get(d, dlen, "NwsSession", &v, &vlen) || vlen != 16 + 1 + 32 ||
        v[16] != ' ') {
        rawc_fail(c, "no NwsSession \"ID TOKEN\" after A000");
        goto out;
    }
    memcpy(c->sess_id, v, 16);
    c->sess_id[16] = '\0';
    memcpy(c->sess_token, v + 17, 32);
    c->sess_token[32] = '\0';
    if (!rawc_dict_get(d, dlen, "NwsResumed", &v, &vlen) || vlen != 1 ||
        (v[0] != '0' && v[0] != '1')) {
        rawc_fail(c, "no NwsResumed 0 or 1 after A000");
        goto out;
    }
    c->sess_resumed = v[0] == '1';
    if (!rawc_dict_get(d, dlen, "NwsGrace", &v, &vlen) || vlen == 0 || vlen > 9) {
        rawc_fail(c, "no NwsGrace after A000");
        goto out;
    }
    c->sess_grace = atoi(v);
    c->sess_on = 1;
    c->sess_kind = kind;
    if (!c->sess_resumed)
        c->sess_seq = c->sess_ack = 0;
    rc = 0;
out:
    free(d);
    return rc;
}

int
rawc_session_new(struct rawc *c, int port, enum rawc_kind kind)
{
    if (rawc_open(c, port, RAWC_NONE) != 0)
        return -1;
    return rawc_session_hs(c, kind, "new");
}

int
rawc_session_resume_as(struct rawc *c, int port, const char *id, const char *token)
{
    struct rawc old = *c;
    char        val[7 + 16 + 1 + 32 + 1];
    int         rc;

    snprintf(val, sizeof(val), "resume %s %s", id, token);
    if (c->fd >= 0)
        close(c->fd);
    free(c->adv);
    free(c->cork);
    if (rawc_open(c, port, RAWC_NONE) != 0)
        return -1;
    c->secret = old.secret;
    c->sess_seq = old.sess_seq;
    c->sess_ack = old.sess_ack;
    c->sess_nohdr = old.sess_nohdr;
    rc = rawc_session_hs(c, old.sess_kind, val);
    if (rc != 0) {
        /* Refused: the session is still the one c had (for another try). */
        c->sess_kind = old.sess_kind;
        memcpy(c->sess_id, old.sess_id, sizeof(c->sess_id));
        memcpy(c->sess_token, old.sess_token, sizeof(c->sess_token));
    }
    return rc;
}

int
rawc_session_resume(struct rawc *c, int port)
{
    char id[17], token[33];

    memcpy(id, c->sess_id, sizeof(id));
    memcpy(token, c->sess_token, sizeof(token));
    return rawc_session_resume_as(c, port, id, token);
}

void
rawc_session_rewind(struct rawc *c)
{
    c->sess_seq = c->sess_ack;
}
