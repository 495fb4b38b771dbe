/*
 * bulk.c -- pipelined bulk stores: many stores, one round trip.
 *
 * Stores are encoded into one buffer; nws_bulk_flush() writes it while
 * reading replies as they come, so neither side's buffers can fill up and
 * deadlock however large the batch.  Replies come back in request order.
 * Pipelining is an nwsserver extension (design.md): the classic server
 * answers a second request in flight with an error and closes.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "nwsp.h"

struct nws_bulk {
    nws_ws         *ws;
    struct nwsp_buf buf;  /* the encoded requests */
    size_t          n;    /* how many */
    size_t         *offs; /* where each starts in buf */
    size_t          offs_cap;
};

/* Returns a new empty bulk on ws, or NULL. */
nws_bulk *
nws_bulk_new(nws_ws *ws, nws_error *err)
{
    nws_bulk *b;

    nwsp_err_clear(err);
    if (ws == NULL) {
        nwsp_err_set(err, NWS_ERR_INVALID, 0, "NULL workspace handle");
        return NULL;
    }
    if ((b = calloc(1, sizeof(*b))) == NULL) {
        nwsp_err_set(err, NWS_ERR_NOMEM, 0, "out of memory");
        return NULL;
    }
    b->ws = ws;
    return b;
}

/* Frees b and drops what was not flushed; NULL is fine. */
void
nws_bulk_free(nws_bulk *b)
{
    if (b == NULL)
        return;
    nwsp_buf_free(&b->buf);
    free(b->offs);
    free(b);
}

/* Returns the number of queued stores. */
size_t
nws_bulk_count(const nws_bulk *b)
{
    return b == NULL ? 0 : b->n;
}

/* Queues one store; 0, or -1 (the queue is then unchanged). */
static int
bulk_add(nws_bulk *b, const char *var, const void *data, size_t len, uint32_t desc,
         const nws_meta *meta, nws_error *err)
{
    nws_client *c;
    size_t      mark;
    char        d20[NWSP_D20_LEN];
    int         rc;

    if (b == NULL || nwsp_req_name_ok(var, "variable", err) != 0 ||
        (data == NULL && len > 0)) {
        nwsp_err_set(err, NWS_ERR_INVALID, 0, "NULL argument");
        return -1;
    }
    if (len == 0 && !(desc & NWS_DESC_DIRECT_STRING)) {
        nwsp_err_set(err, NWS_ERR_INVALID, 0, "a zero-length value needs DIRECT_STRING");
        return -1;
    }
    c = b->ws->c;
    mark = b->buf.len;
    if (b->n == b->offs_cap) {
        size_t  cap = b->offs_cap ? 2 * b->offs_cap : 256;
        size_t *o = realloc(b->offs, cap * sizeof(*o));

        if (o == NULL) {
            nwsp_err_set(err, NWS_ERR_NOMEM, 0, "out of memory");
            return -1;
        }
        b->offs = o;
        b->offs_cap = cap;
    }
    nwsp_put_d20(d20, desc);
    rc = nwsp_req_head(c, &b->buf, 5, meta, err);
    if (rc == 0 &&
        (nwsp_buf_arg(&b->buf, "store", 5) != 0 ||
         nwsp_buf_arg(&b->buf, b->ws->name, strlen(b->ws->name)) != 0 ||
         nwsp_buf_arg(&b->buf, var, strlen(var)) != 0 ||
         nwsp_buf_arg(&b->buf, d20, sizeof(d20)) != 0 ||
         nwsp_buf_arg(&b->buf, data != NULL ? data : "", len) != 0)) {
        nwsp_err_set(err, NWS_ERR_NOMEM, 0, "out of memory");
        rc = -1;
    }
    if (rc != 0) {
        b->buf.len = mark;
        return -1;
    }
    b->offs[b->n++] = mark;
    return 0;
}

/* Queues a store of v (copied); 0, or -1. */
int
nws_bulk_store(nws_bulk *b, const char *var, const nws_value *v, nws_error *err)
{
    nwsp_err_clear(err);
    if (v == NULL) {
        nwsp_err_set(err, NWS_ERR_INVALID, 0, "NULL value");
        return -1;
    }
    return bulk_add(b, var, v->data, v->len, v->desc, v->meta, err);
}

/* Queues a store of len bytes with descriptor desc; 0, or -1. */
int
nws_bulk_store_raw(nws_bulk *b, const char *var, const void *data, size_t len,
                   uint32_t desc, nws_error *err)
{
    nwsp_err_clear(err);
    return bulk_add(b, var, data, len, desc, NULL, err);
}

/* Reads every whole reply already received; the number read, or -1. */
static long
bulk_read_ready(nws_bulk *b, size_t want, long *nfail, nws_error *err)
{
    struct nwsp_reply r;
    long              got = 0;
    int               rc;

    while ((size_t)got < want) {
        if ((rc = nwsp_reply_header(b->ws->c, 0, 0, &r, err)) < 0)
            return -1;
        if (rc == 0)
            break;
        got++;
        if (r.status != 0) {
            if (*nfail == 0)
                nwsp_reply_error(b->ws->c, &r, err);
            (*nfail)++;
        }
    }
    return got;
}

/*
 * On a session the server keeps every reply until it is acknowledged, and
 * refuses requests past a few thousand unacknowledged ones: a bulk goes
 * out in windows, each taking its headers (and the ack of the replies read
 * so far) when it is staged, with at most BULK_SESS_AHEAD requests
 * unanswered.
 */
#define BULK_SESS_WINDOW 512
#define BULK_SESS_AHEAD  2048

/* Sends every queued store and reads every reply; refusals, or -1. */
long
nws_bulk_flush(nws_bulk *b, nws_error *err)
{
    nws_client   *c;
    struct pollfd pfd;
    size_t        off = 0, replies = 0, next = 0, k, start = 0, end = 0;
    long          nfail = 0, got;
    ssize_t       n;
    int           rc, sess;
    const char   *out = NULL;
    unsigned      rec;

    nwsp_err_clear(err);
    if (b == NULL) {
        nwsp_err_set(err, NWS_ERR_INVALID, 0, "NULL bulk");
        return -1;
    }
    c = b->ws->c;
    if (nwsp_conn_check(c, err) != 0)
        goto fail;
    sess = nwsp_sess_head_len(c) > 0;
    if (!sess) {
        out = b->buf.data;
        end = b->buf.len;
        next = b->n;
    }
    rec = nwsp_sess_recoveries(c);
    while (replies < b->n) {
        if (nwsp_sess_recoveries(c) != rec) {
            /* A reconnect sent everything staged again (the log), and may
             * have taken in replies that poll() will not announce. */
            rec = nwsp_sess_recoveries(c);
            off = end;
            if ((got = bulk_read_ready(b, b->n - replies, &nfail, err)) < 0)
                goto fail;
            replies += (size_t)got;
            /* They may have been the last: poll() would wait for ever. */
            continue;
        }
        if (sess && off == end && next < b->n && next - replies < BULK_SESS_AHEAD) {
            k = b->n - next < BULK_SESS_WINDOW ? b->n - next : BULK_SESS_WINDOW;
            start = b->offs[next];
            end = next + k < b->n ? b->offs[next + k] : b->buf.len;
            if (nwsp_sess_out(c, b->buf.data + start, end - start, &out, err) != 0)
                goto fail;
            off = start;
            next += k;
        }
        pfd.fd = c->fd;
        pfd.events = POLLIN | (off < end ? POLLOUT : 0);
        pfd.revents = 0;
        /* Replies TLS already decrypted are invisible to poll. */
        rc = nwsp_io_pending(c) > 0 ? (pfd.revents = POLLIN, 1)
                                     : poll(&pfd, 1, c->timeout_ms > 0 ? c->timeout_ms : -1);
        if (rc < 0 && errno == EINTR)
            continue;
        if (rc <= 0) {
            nwsp_err_set(err, rc == 0 ? NWS_ERR_TIMEOUT : NWS_ERR_IO, 0, "bulk store: %s",
                         rc == 0 ? "timed out" : strerror(errno));
            nwsp_conn_fail(c);
            goto fail;
        }
        if (pfd.revents & (POLLIN | POLLHUP | POLLERR)) {
            /* Read replies before writing more, so the server never stalls on us. */
            if ((got = bulk_read_ready(b, b->n - replies, &nfail, err)) < 0)
                goto fail;
            replies += (size_t)got;
            if (got == 0 && (pfd.revents & (POLLHUP | POLLERR)) &&
                nwsp_conn_need(c, c->rlen - c->rpos + 1, 1, err) < 0)
                goto fail;
            if (nwsp_sess_recoveries(c) != rec)
                continue;
        }
        if ((pfd.revents & POLLOUT) && off < end) {
            n = nwsp_io_send(c, out + (off - start), end - off, 1);
            if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
                continue;
            if (n < 0 && (rc = nwsp_sess_recover(c, err)) <= 0) {
                if (rc < 0)
                    goto fail;
                continue;
            }
            if (n < 0) {
                nwsp_err_set(err, NWS_ERR_CLOSED, 0, "bulk store: write: %s", strerror(errno));
                nwsp_conn_fail(c);
                goto fail;
            }
            off += (size_t)n;
        }
    }
    nwsp_buf_reset(&b->buf);
    b->n = 0;
    return nfail;
fail:
    nwsp_buf_reset(&b->buf);
    b->n = 0;
    return -1;
}
