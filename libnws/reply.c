/*
 * reply.c -- reading replies: [DICT] D4(status) [D20 desc [S20 D20] D20 len bytes].
 *
 * The header is parsed in place in the connection's read buffer and consumed
 * only once it is whole, so bulk.c can poll for replies without blocking.
 * Every field is checked (digits only, bounded) before it is trusted; a
 * field that fails is a reply of the wrong shape, which breaks the
 * connection because the next reply can no longer be found.
 */
#include <stdlib.h>
#include <string.h>

#include "nwsp.h"

/* Records a protocol error and breaks c; returns -1. */
static int
reply_bad(nws_client *c, const char *what, nws_error *err)
{
    nwsp_err_set(err, NWS_ERR_PROTOCOL, 0, "malformed reply from the server: %s", what);
    nwsp_conn_fail(c);
    return -1;
}

/* Parses the reply header; 1, 0 (block == 0: not whole yet), or -1. */
int
nwsp_reply_header(nws_client *c, int is_long, int block, struct nwsp_reply *r,
                  nws_error *err)
{
    const char *why = "", *p;
    size_t      dlen = 0, hlen;
    ssize_t     n;
    uint64_t    u;
    int64_t     i;
    int         rc;

    memset(r, 0, sizeof(*r));
    r->is_long = is_long;
    if (c->meta_from) {
        for (;;) {
            n = nwsp_dict_scan(c->rbuf + c->rpos, c->rlen - c->rpos, NWSP_REPLY_DICT_ENTRIES,
                               NWSP_REPLY_DICT_MAX, &why);
            if (n > 0)
                break;
            if (n == NWSP_SCAN_BAD)
                return reply_bad(c, why, err);
            if ((rc = nwsp_conn_need(c, c->rlen - c->rpos + 1, block, err)) != 1)
                return rc;
        }
        dlen = (size_t)n;
    }
    hlen = dlen + NWSP_D4_LEN;
    if (is_long)
        hlen += NWSP_D20_LEN + (c->cookie ? NWSP_COOKIE_LEN : 0) + NWSP_D20_LEN;
    if ((rc = nwsp_conn_need(c, hlen, block, err)) != 1)
        return rc;

    p = c->rbuf + c->rpos + dlen;
    if (nwsp_parse_u64(p, NWSP_D4_LEN, NWSP_D4_MAX, &u) != 0)
        return reply_bad(c, "status is not a number", err);
    r->status = (int)u;
    p += NWSP_D4_LEN;
    if (is_long) {
        if (nwsp_parse_i64(p, NWSP_D20_LEN, &i) != 0 || i < INT32_MIN || i > UINT32_MAX)
            return reply_bad(c, "bad type descriptor", err);
        r->desc = (uint32_t)i;
        p += NWSP_D20_LEN;
        if (c->cookie) {
            const char *s = p, *e = p + NWSP_VARID_LEN;

            while (s < e && *s == ' ')
                s++;
            while (e > s && e[-1] == ' ')
                e--;
            memcpy(r->varid, s, (size_t)(e - s));
            r->varid[e - s] = '\0';
            if (memchr(r->varid, '\0', (size_t)(e - s)) != NULL)
                return reply_bad(c, "bad variable id", err);
            p += NWSP_VARID_LEN;
            if (nwsp_parse_i64(p, NWSP_D20_LEN, &r->index) != 0)
                return reply_bad(c, "bad value index", err);
            p += NWSP_D20_LEN;
        }
        if (nwsp_parse_u64(p, NWSP_D20_LEN, UINT64_MAX, &r->len) != 0)
            return reply_bad(c, "bad value length", err);
    }
    if (nwsp_meta_decode(c->reply_meta, c->rbuf + c->rpos, dlen) != 0) {
        nwsp_err_set(err, NWS_ERR_NOMEM, 0, "out of memory");
        nwsp_conn_fail(c);
        return -1;
    }
    nwsp_sess_reply_start(c, hlen, is_long ? r->len : 0);
    c->rpos += hlen;
    return 1;
}

/* Records the server error of r: its status and nwsReason. */
void
nwsp_reply_error(nws_client *c, const struct nwsp_reply *r, nws_error *err)
{
    const char *reason = nws_meta_get(c->reply_meta, "nwsReason");

    if (reason != NULL)
        nwsp_err_set(err, NWS_ERR_SERVER, r->status, "%s", reason);
    else
        nwsp_err_set(err, NWS_ERR_SERVER, r->status, "the server answered status %d",
                     r->status);
}

/* Reads a short reply; 0 for status 0, else -1 with the error recorded. */
int
nwsp_reply_short(nws_client *c, nws_error *err)
{
    struct nwsp_reply r;

    if (nwsp_reply_header(c, 0, 1, &r, err) != 1)
        return -1;
    if (r.status != 0) {
        nwsp_reply_error(c, &r, err);
        return -1;
    }
    return 0;
}

/* Reads and drops n bytes of the stream; 0, or -1. */
int
nwsp_reply_skip(nws_client *c, uint64_t n, nws_error *err)
{
    char   sink[16384];
    size_t k;

    while (n > 0) {
        k = n > sizeof(sink) ? sizeof(sink) : (size_t)n;
        if (nwsp_conn_read(c, sink, k, err) != 0)
            return -1;
        n -= k;
    }
    return 0;
}

/* Classifies a long reply: 1 value follows, 0 no value, -1 error. */
int
nwsp_reply_classify(nws_client *c, const struct nwsp_reply *r, int try, nws_error *err)
{
    const char *reason;
    int         no_value = !(r->desc & NWS_DESC_DIRECT_STRING) && r->len == 0;

    if (r->status == 0) {
        if (!no_value)
            return 1;
        if (try)
            return 0;
        nwsp_err_set(err, NWS_ERR_NO_VALUE, 0, "the server answered with no value");
        return -1;
    }
    if (r->len > 0) {
        /* An error carrying a value: read it so the stream stays in step. */
        if (nwsp_reply_skip(c, r->len, err) != 0)
            return -1;
        nwsp_reply_error(c, r, err);
        return -1;
    }
    /*
     * A *Try's miss is status 1 with "no value available"; without
     * MetadataFromServer there is no reason to tell, and the classic
     * clients read any such reply as "missing" too.
     */
    reason = nws_meta_get(c->reply_meta, "nwsReason");
    if (try && r->status == NWS_STATUS_FAIL && no_value &&
        (reason == NULL || strcmp(reason, "no value available") == 0))
        return 0;
    nwsp_reply_error(c, r, err);
    return -1;
}

/* Reads r->len value bytes into a new value carrying the reply metadata, or NULL. */
nws_value *
nwsp_reply_value(nws_client *c, const struct nwsp_reply *r, nws_error *err)
{
    nws_value *v;
    char      *data;

    if (r->len > c->max_value || r->len >= SIZE_MAX) {
        nwsp_err_set(err, NWS_ERR_TOO_LARGE, 0,
                     "a %llu-byte value is over the limit of %llu bytes",
                     (unsigned long long)r->len, (unsigned long long)c->max_value);
        nwsp_conn_fail(c);
        return NULL;
    }
    if ((data = malloc((size_t)r->len + 1)) == NULL) {
        nwsp_err_set(err, NWS_ERR_NOMEM, 0, "out of memory for a %llu-byte value",
                     (unsigned long long)r->len);
        /* Drop the bytes so that the connection stays usable. */
        nwsp_reply_skip(c, r->len, err);
        return NULL;
    }
    if (nwsp_conn_read(c, data, (size_t)r->len, err) != 0) {
        free(data);
        return NULL;
    }
    data[r->len] = '\0';
    if ((v = nwsp_value_wrap(data, (size_t)r->len, r->desc)) == NULL) {
        free(data);
        nwsp_err_set(err, NWS_ERR_NOMEM, 0, "out of memory");
        return NULL;
    }
    if (nws_meta_size(c->reply_meta) > 0 &&
        (v->meta = nws_meta_copy(c->reply_meta)) == NULL) {
        nws_value_free(v);
        nwsp_err_set(err, NWS_ERR_NOMEM, 0, "out of memory");
        return NULL;
    }
    return v;
}
