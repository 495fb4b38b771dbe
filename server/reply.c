/*
 * reply.c -- replies on a connection's output buffer (section 4).
 *
 * Every reply is assembled into one small header on the stack and added in
 * one call.  Value bytes are not copied when they are large: an in-memory
 * value is added by reference (the reply holds a value reference until the
 * bytes are written), a spooled value as a file segment (sendfile).  Such
 * bytes are counted in the connection's struct outacct, so that only the
 * bytes replies copied count as the connection's memory (conn.c).
 *
 * Adding to an output buffer allocates, and may fail: the reply is then
 * cut short, so the connection cannot go on.  reply_add() hands it to
 * conn_abort(), which logs it and closes the connection without sending
 * the partial reply's rest (issue "allocation failure mid-reply": a header
 * announcing 205 MB used to be followed by nothing, the client waiting).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "server.h"
#include "session.h"

/* Adds len bytes to c's output, not kept by its session: 0, or -1 (c is being aborted). */
static int
reply_add_raw(struct conn *c, const void *p, size_t len)
{
    if (conn_aborted(c))
        return -1;
    if (evbuffer_add(conn_output(c), p, len) != 0) {
        conn_abort(c, "cannot allocate a reply");
        return -1;
    }
    return 0;
}

/* The same, and a session keeps them when the reply is kept (session.c). */
static int
reply_add(struct conn *c, const void *p, size_t len)
{
    session_reply_bytes(c, p, len);
    return reply_add_raw(c, p, len);
}

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
        reply_add(c, "0000", 4);
        return;
    }
    rlen = strlen(reason);
    if (rlen > NWSP_DICT_FIELD_MAX)
        rlen = NWSP_DICT_FIELD_MAX;
    reply_add(c, buf, reply_meta_reason(buf, reason, rlen));
}

/* A short reply: [DICT] D4(status). */
void
reply_short(struct conn *c, int status, const char *reason)
{
    char st[NWSP_D4_LEN];

    reply_error_meta(c, status == 0 ? NULL : reason);
    nwsp_put_d4(st, (unsigned)status);
    reply_add(c, st, sizeof(st));
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
    reply_add(c, hdr, reply_long_header(c, hdr, status, 0, NULL, 0, 0));
}

/* A value's bytes in a connection's output, not copied. */
struct reply_ref {
    struct value   *rr_value;
    struct outacct *rr_acct;
};

/* A referenced value's bytes were written (or dropped): let both go. */
static void
reply_ref_done(const void *data, size_t len, void *arg)
{
    struct reply_ref *rr = arg;

    (void)data;
    outacct_sub(rr->rr_acct, len);
    value_unref(rr->rr_value);
    free(rr);
}

/* A spooled value's file segment is done with. */
static void
reply_seg_done(struct evbuffer_file_segment const *seg, int flags, void *arg)
{
    struct reply_ref *rr = arg;

    (void)seg;
    (void)flags;
    outacct_sub(rr->rr_acct, rr->rr_value->v_len);
    value_unref(rr->rr_value);
    free(rr);
}

/* A new reply_ref holding v and an outacct reference, charged len bytes. */
static struct reply_ref *
reply_ref_new(struct conn *c, struct value *v, uint64_t len)
{
    struct reply_ref *rr = xmalloc(sizeof(*rr));

    rr->rr_value = value_ref(v);
    rr->rr_acct = outacct_add(conn_outacct(c), len);
    return rr;
}

/* The bytes of v after its header: copied, by reference, or as a file segment. */
static void
reply_value_bytes(struct conn *c, struct value *v)
{
    struct evbuffer              *out = conn_output(c);
    struct evbuffer_file_segment *seg;
    struct reply_ref             *rr;
    int                           fd, r;

    if (v->v_len == 0 || conn_aborted(c))
        return;
    if (v->v_flags & VALUE_SPOOLED) {
        if ((fd = dup(v->v_fd)) == -1) {
            conn_abort(c, "cannot send a spooled value");
            return;
        }
        seg =
            evbuffer_file_segment_new(fd, 0, (ev_off_t)v->v_len, EVBUF_FS_CLOSE_ON_FREE);
        if (seg == NULL) {
            close(fd);
            conn_abort(c, "cannot send a spooled value");
            return;
        }
        rr = reply_ref_new(c, v, v->v_len);
        evbuffer_file_segment_add_cleanup_cb(seg, reply_seg_done, rr);
        r = evbuffer_add_file_segment(out, seg, 0, (ev_off_t)v->v_len);
        evbuffer_file_segment_free(seg);
        if (r != 0)
            conn_abort(c, "cannot send a spooled value");
    } else if (v->v_len <= NWS_COPY_MAX) {
        reply_add_raw(c, value_data(v), v->v_len);
    } else {
        rr = reply_ref_new(c, v, v->v_len);
        if (evbuffer_add_reference(out, value_data(v), v->v_len, reply_ref_done, rr) !=
            0) {
            reply_ref_done(NULL, v->v_len, rr);
            conn_abort(c, "cannot allocate a reply");
        }
    }
}

/* A kept reply sent again after a resume: the same bytes, the same value. */
void
reply_again(struct conn *c, const char *pre, size_t len, struct value *v)
{
    if (reply_add_raw(c, pre, len) == 0 && v != NULL)
        reply_value_bytes(c, v);
}

/* A value with its stored metadata and the cookie (varid, index). */
void
reply_value(struct conn *c, struct value *v, const char *varid, uint64_t index)
{
    struct evbuffer              *out = conn_output(c);
    struct evbuffer_file_segment *seg;
    struct reply_ref             *rr;
    char                          hdr[128 + NWS_COPY_MAX];
    size_t                        n;
    int                           fd, r;

    if (conn_meta_out(c)) {
        if ((v->v_metalen > 0 ? reply_add(c, value_meta(v), v->v_metalen)
                              : reply_add(c, "0000", 4)) != 0)
            return;
    }
    n = reply_long_header(c, hdr, 0, v->v_desc, varid, index, v->v_len);
    if (conn_session(c) != NULL) {
        /* A session keeps the value by reference, not its bytes. */
        if (reply_add(c, hdr, n) == 0) {
            session_reply_value(c, v);
            reply_value_bytes(c, v);
        }
        return;
    }
    if (v->v_flags & VALUE_SPOOLED) {
        if (reply_add(c, hdr, n) != 0 || v->v_len == 0)
            return;
        /* The segment owns a duplicate, so the value may go first. */
        if ((fd = dup(v->v_fd)) == -1) {
            conn_abort(c, "cannot send a spooled value");
            return;
        }
        seg = evbuffer_file_segment_new(fd, 0, (ev_off_t)v->v_len, EVBUF_FS_CLOSE_ON_FREE);
        if (seg == NULL) {
            close(fd);
            conn_abort(c, "cannot send a spooled value");
            return;
        }
        rr = reply_ref_new(c, v, v->v_len);
        evbuffer_file_segment_add_cleanup_cb(seg, reply_seg_done, rr);
        r = evbuffer_add_file_segment(out, seg, 0, (ev_off_t)v->v_len);
        evbuffer_file_segment_free(seg);   /* the buffer holds it now, or nobody */
        if (r != 0)
            conn_abort(c, "cannot send a spooled value");
    } else if (v->v_len <= NWS_COPY_MAX) {
        memcpy(hdr + n, value_data(v), v->v_len);
        reply_add(c, hdr, n + v->v_len);
    } else {
        if (reply_add(c, hdr, n) != 0)
            return;
        rr = reply_ref_new(c, v, v->v_len);
        if (evbuffer_add_reference(out, value_data(v), v->v_len, reply_ref_done, rr) != 0) {
            reply_ref_done(NULL, v->v_len, rr);
            conn_abort(c, "cannot allocate a reply");
        }
    }
}

/* Starts a server-made text reply of len bytes (DIRECT_STRING, blank cookie,
 * empty metadata): the caller adds the bytes.  0, or -1 if c was aborted. */
int
reply_text_begin(struct conn *c, size_t len)
{
    char hdr[128];

    if (conn_meta_out(c) && reply_add(c, "0000", 4) != 0)
        return -1;
    return reply_add(c, hdr, reply_long_header(c, hdr, 0, NWSP_DESC_DIRECT_STRING, NULL, 0,
                                               len));
}

/* Adds bytes of a text reply begun with reply_text_begin(); 0 or -1. */
int
reply_text_add(struct conn *c, const char *s, size_t len)
{
    return reply_add(c, s, len);
}

/* Server-made text, whole. */
void
reply_text(struct conn *c, const char *s, size_t len)
{
    if (reply_text_begin(c, len) == 0)
        reply_add(c, s, len);
}

/* A new accounting of a connection's referenced output bytes (one reference). */
struct outacct *
outacct_new(void)
{
    struct outacct *a = xcalloc(1, sizeof(*a));

    a->oa_refs = 1;
    return a;
}

/* Counts len more referenced bytes; returns a new reference to a. */
struct outacct *
outacct_add(struct outacct *a, uint64_t len)
{
    a->oa_refs++;
    a->oa_bytes += len;
    return a;
}

/* Those len bytes are gone: drops them and the reference outacct_add() made. */
void
outacct_sub(struct outacct *a, uint64_t len)
{
    a->oa_bytes -= len;
    outacct_unref(a);
}

void
outacct_unref(struct outacct *a)
{
    if (a != NULL && --a->oa_refs == 0)
        free(a);
}
