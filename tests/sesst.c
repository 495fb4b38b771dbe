/*
 * sesst.c -- a session client for the session suites: its own handshake
 * (NwsSession requested, the dictionary after A000 read) and the request
 * header written explicitly, so tests choose seq and ack (sesst.h).
 */
#include <check.h>
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "frame.h"
#include "sesst.h"
#include "util.h"

/* Copies the dictionary value of key into dst (cap bytes); 0, or -1 if absent. */
static int
sesst_dict_str(const char *d, size_t dlen, const char *key, char *dst, size_t cap)
{
    const char *v;
    size_t      vlen;

    if (!rawc_dict_get(d, dlen, key, &v, &vlen) || vlen >= cap)
        return -1;
    memcpy(dst, v, vlen);
    dst[vlen] = '\0';
    return 0;
}

int
sesst_hs(struct sesst *s, int port, const char *want, const char *const *extra)
{
    struct nwsp_buf b = {0};
    struct rawc    *c = &s->c;
    char            w[4], *d = NULL, val[64], *sp;
    size_t          dlen, n = 0, i;
    int             rc;

    if (rawc_open(c, port, RAWC_NONE) != 0)
        return -1;
    if (rawc_write(c, NWSP_HS_NEW, 4) != 0 || rawc_read(c, w, 4) != 0)
        return -1;
    if (memcmp(w, NWSP_HS_ADVERTISE, 4) != 0) {
        snprintf(c->err, sizeof(c->err), "expected P000, got %.4s", w);
        return -1;
    }
    if (rawc_read_dict(c, &c->adv, &c->adv_len) != 0)
        return -1;
    while (extra != NULL && extra[n] != NULL)
        n += 2;
    nwsp_buf_add(&b, NWSP_HS_REQUEST, 4);
    nwsp_buf_dict_begin(&b, (unsigned)(n / 2) + 1);
    nwsp_buf_dict_put(&b, "NwsSession", 10, want, strlen(want));
    for (i = 0; i < n; i += 2)
        nwsp_buf_dict_put(&b, extra[i], strlen(extra[i]), extra[i + 1],
                          strlen(extra[i + 1]));
    rc = rawc_write(c, b.data, b.len);
    nwsp_buf_free(&b);
    if (rc != 0 || rawc_read(c, w, 4) != 0)
        return -1;
    if (memcmp(w, NWSP_HS_DENY, 4) == 0)
        return 1;
    if (memcmp(w, NWSP_HS_ACCEPT, 4) != 0) {
        snprintf(c->err, sizeof(c->err), "expected A000 or F000, got %.4s", w);
        return -1;
    }
    c->cookie = 1;
    for (i = 0; i < n; i += 2) {
        if (strcmp(extra[i + 1], "1") != 0)
            continue;
        if (strcmp(extra[i], "MetadataToServer") == 0)
            c->meta_to = 1;
        if (strcmp(extra[i], "MetadataFromServer") == 0)
            c->meta_from = 1;
    }
    if (rawc_read_dict(c, &d, &dlen) != 0)
        return -1;
    rc = -1;
    if (sesst_dict_str(d, dlen, "NwsSession", val, sizeof(val)) != 0 ||
        (sp = strchr(val, ' ')) == NULL || sp - val != 16 || strlen(sp + 1) != 32) {
        snprintf(c->err, sizeof(c->err), "no \"ID TOKEN\" NwsSession after A000");
        goto out;
    }
    memcpy(s->id, val, 16);
    s->id[16] = '\0';
    memcpy(s->tok, sp + 1, 33);
    if (sesst_dict_str(d, dlen, "NwsResumed", val, sizeof(val)) != 0 ||
        (strcmp(val, "0") != 0 && strcmp(val, "1") != 0)) {
        snprintf(c->err, sizeof(c->err), "NwsResumed is not 0 or 1 after A000");
        goto out;
    }
    s->resumed = val[0] == '1';
    if (sesst_dict_str(d, dlen, "NwsGrace", val, sizeof(val)) != 0) {
        snprintf(c->err, sizeof(c->err), "no NwsGrace after A000");
        goto out;
    }
    s->grace = atol(val);
    rc = 0;
out:
    free(d);
    return rc;
}

void
sesst_new(int line, struct sesst *s, int port)
{
    int rc;

    memset(s, 0, sizeof(*s));
    rc = sesst_hs(s, port, "new", NULL);
    ck_assert_msg(rc == 0, "line %d: session handshake: %s", line,
                  rc == 1 ? "F000" : s->c.err);
    ck_assert_msg(!s->resumed, "line %d: a new session says NwsResumed 1", line);
}

void
sesst_resume(int line, struct sesst *s, int port, int want_resumed)
{
    char want[80], id[17];
    int  rc;

    snprintf(want, sizeof(want), "resume %s %s", s->id, s->tok);
    memcpy(id, s->id, sizeof(id));
    rawc_close(&s->c);
    rc = sesst_hs(s, port, want, NULL);
    ck_assert_msg(rc == 0, "line %d: resume handshake: %s", line,
                  rc == 1 ? "F000" : s->c.err);
    ck_assert_msg(s->resumed == want_resumed, "line %d: NwsResumed %d, expected %d", line,
                  s->resumed, want_resumed);
    if (want_resumed)
        ck_assert_msg(strcmp(id, s->id) == 0, "line %d: resumed as %s, not %s", line,
                      s->id, id);
    else
        ck_assert_msg(strcmp(id, s->id) != 0, "line %d: a new session kept the id %s",
                      line, id);
}

/* Writes the header and the request of the NULL-terminated list ap in one write. */
static int
sesst_send_va(struct sesst *s, uint64_t seq, uint64_t ack, va_list ap)
{
    const char *argv[64];
    size_t      lens[64];
    unsigned    n = 0;
    const char *a;
    char        h[40];

    while ((a = va_arg(ap, const char *)) != NULL && n < 64) {
        argv[n] = a;
        lens[n] = strlen(a);
        n++;
    }
    nwsp_put_d20(h, seq);
    nwsp_put_d20(h + 20, ack);
    rawc_cork(&s->c);
    if (rawc_write(&s->c, h, sizeof(h)) != 0 ||
        rawc_send(&s->c, NULL, 0, n, argv, lens) != 0) {
        s->c.corked = 0;
        return -1;
    }
    return rawc_uncork(&s->c);
}

int
sesst_send_at(struct sesst *s, uint64_t seq, uint64_t ack, ...)
{
    va_list ap;
    int     rc;

    va_start(ap, ack);
    rc = sesst_send_va(s, seq, ack, ap);
    va_end(ap);
    return rc;
}

void
sesst_sendv(int line, struct sesst *s, ...)
{
    va_list ap;
    int     rc;

    va_start(ap, s);
    rc = sesst_send_va(s, ++s->seq, s->ack, ap);
    va_end(ap);
    ck_assert_msg(rc == 0, "line %d: sending request %llu: %s", line,
                  (unsigned long long)s->seq, s->c.err);
}

void
sesst_wait_reply(int line, struct sesst *s, int ms)
{
    struct pollfd p = {.fd = s->c.fd, .events = POLLIN};
    int           rc;

    do
        rc = poll(&p, 1, ms);
    while (rc < 0 && errno == EINTR);
    ck_assert_msg(rc == 1, "line %d: no reply within %d ms", line, ms);
}

/* Waits until at least want bytes can be peeked; returns how many were copied. */
static size_t
sesst_peek_at_least(int line, struct sesst *s, char *buf, size_t want)
{
    uint64_t t0 = nwsp_mono_ms();
    ssize_t  r = 0;

    for (;;) {
        r = recv(s->c.fd, buf, want, MSG_PEEK | MSG_DONTWAIT);
        if (r >= 0 && (size_t)r >= want)
            return (size_t)r;
        ck_assert_msg(r != 0, "line %d: connection closed before the reply", line);
        ck_assert_msg(r > 0 || errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR,
                      "line %d: recv: %s", line, strerror(errno));
        ck_assert_msg(nwsp_mono_ms() - t0 < PTEST_SOON_MS,
                      "line %d: %zd of %zu reply bytes within %d ms", line, r, want,
                      PTEST_SOON_MS);
        usleep(2000);
    }
}

size_t
sesst_peek_reply(int line, struct sesst *s, int is_long, char *buf, size_t cap)
{
    size_t   head = is_long ? 4 + 20 + 20 + 20 + 20 : 4;
    uint64_t len = 0;

    ck_assert_msg(cap >= head, "test bug: reply buffer too small");
    ck_assert_msg(s->c.meta_from == 0,
                  "test bug: sesst_peek_reply without metadata only");
    sesst_peek_at_least(line, s, buf, head);
    if (!is_long)
        return head;
    ck_assert_msg(nwsp_parse_u64(buf + head - 20, 20, cap - head, &len) == 0,
                  "line %d: long reply's length field is not digits or too long: %.20s",
                  line, buf + head - 20);
    sesst_peek_at_least(line, s, buf, head + (size_t)len);
    return head + (size_t)len;
}

void
sesst_expect_bytes(int line, struct sesst *s, const char *want, size_t len)
{
    char *got = malloc(len + 1), e1[256], e2[256];

    ck_assert_ptr_nonnull(got);
    ck_assert_msg(rawc_read(&s->c, got, len) == 0, "line %d: reading the reply again: %s",
                  line, s->c.err);
    ck_assert_msg(
        memcmp(got, want, len) == 0,
        "line %d: the reply differs from the first one:\n  first \"%s\"\n  again \"%s\"",
        line, rawc_escape(e1, sizeof(e1), want, len),
        rawc_escape(e2, sizeof(e2), got, len));
    free(got);
}

void
sesst_cut(struct sesst *s)
{
    struct linger l = {.l_onoff = 1, .l_linger = 0};

    if (s->c.fd >= 0)
        setsockopt(s->c.fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
    rawc_close(&s->c);
}

void
sesst_drop(struct sesst *s)
{
    rawc_close(&s->c);
}
