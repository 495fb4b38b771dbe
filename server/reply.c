/*
 * reply.c -- replies on a connection's output buffer (section 4).
 *
 * Every reply is assembled into one small header on the stack and added in
 * one call.  Value bytes are not copied when they are large: an in-memory
 * value is added by reference (the reply holds a value reference until the
 * bytes are written), a spooled value as a file segment (sendfile).
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "server.h"

/* The header for a reply with reason and metadata, in order; len returned. */
static size_t
reply_meta_reason(char *dst, const char *reason, size_t rlen)
{
    memcpy(dst, "00010009nwsReason", 17);
    nwsp_put_d4(dst + 17, (unsigned)rlen);
    memcpy(dst + 21, reason, rlen);
    return 21 + rlen;
}

/* Adds the metadata dictionary for an error reply when the client wants one. */
static void
reply_error_meta(struct conn *c, const char *reason)
{
    char   buf[32 + NWSP_DICT_FIELD_MAX];
    size_t rlen;

    if (!conn_meta_out(c))
        return;
    if (reason == NULL) {
        evbuffer_add(conn_output(c), "0000", 4);
        return;
    }
    rlen = strlen(reason);
    if (rlen > NWSP_DICT_FIELD_MAX)
        rlen = NWSP_DICT_FIELD_MAX;
    evbuffer_add(conn_output(c), buf, reply_meta_reason(buf, reason, rlen));
}

/* A short reply: [DICT] D4(status). */
void
reply_short(struct conn *c, int status, const char *reason)
{
    char st[NWSP_D4_LEN];

    reply_error_meta(c, status == 0 ? NULL : reason);
    nwsp_put_d4(st, (unsigned)status);
    evbuffer_add(conn_output(c), st, sizeof(st));
}

/* Writes the long-reply header after the metadata; returns its length. */
static size_t
reply_long_header(struct conn *c, char *dst, int status, int64_t desc, const char *varid,
                  uint64_t index, uint64_t len)
{
    char *p = dst;

    nwsp_put_d4(p, (unsigned)status);
    p += NWSP_D4_LEN;
    nwsp_put_i20(p, desc);
    p += NWSP_D20_LEN;
    if (conn_has_cookie(c)) {
        if (varid != NULL)
            memcpy(p, varid, NWSP_VARID_LEN);
        else
            memset(p, ' ', NWSP_VARID_LEN);
        p += NWSP_VARID_LEN;
        nwsp_put_d20(p, index);
        p += NWSP_D20_LEN;
    }
    nwsp_put_d20(p, len);
    p += NWSP_D20_LEN;
    return (size_t)(p - dst);
}

/* A long error: descriptor 0, blank cookie, no value (section 4.4). */
void
reply_long_error(struct conn *c, int status, const char *reason)
{
    char hdr[128];

    reply_error_meta(c, reason);
    evbuffer_add(conn_output(c), hdr, reply_long_header(c, hdr, status, 0, NULL, 0, 0));
}

/* Drops the reference a reply held once its bytes are written. */
static void
reply_value_done(const void *data, size_t len, void *arg)
{
    (void)data;
    (void)len;
    value_unref(arg);
}

/* A value with its stored metadata and the cookie (varid, index). */
void
reply_value(struct conn *c, struct value *v, const char *varid, uint64_t index)
{
    struct evbuffer *out = conn_output(c);
    char             hdr[128 + NWS_COPY_MAX];
    size_t           n;
    int              fd;

    if (conn_meta_out(c)) {
        if (v->v_metalen > 0)
            evbuffer_add(out, value_meta(v), v->v_metalen);
        else
            evbuffer_add(out, "0000", 4);
    }
    n = reply_long_header(c, hdr, 0, v->v_desc, varid, index, v->v_len);
    if (v->v_flags & VALUE_SPOOLED) {
        evbuffer_add(out, hdr, n);
        if (v->v_len == 0)
            return;
        /* The segment owns a duplicate, so the value may go first. */
        if ((fd = dup(v->v_fd)) == -1 || evbuffer_add_file(out, fd, 0, (ev_off_t)v->v_len) != 0)
            fatal("cannot send a spooled value");
    } else if (v->v_len <= NWS_COPY_MAX) {
        memcpy(hdr + n, value_data(v), v->v_len);
        evbuffer_add(out, hdr, n + v->v_len);
    } else {
        evbuffer_add(out, hdr, n);
        value_ref(v);
        evbuffer_add_reference(out, value_data(v), v->v_len, reply_value_done, v);
    }
}

/* Server-made text (DIRECT_STRING, blank cookie, empty metadata). */
void
reply_text(struct conn *c, const char *s, size_t len)
{
    struct evbuffer *out = conn_output(c);
    char             hdr[128];

    if (conn_meta_out(c))
        evbuffer_add(out, "0000", 4);
    evbuffer_add(out, hdr,
                 reply_long_header(c, hdr, 0, NWSP_DESC_DIRECT_STRING, NULL, 0, len));
    evbuffer_add(out, s, len);
}
