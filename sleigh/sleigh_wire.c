/*
 * sleigh_wire.c -- split requests for the sleigh: send now, read the reply
 * later.
 *
 * The worker pipelines `store result` with the next `fetch task`, and a
 * master keeps several blocking `fetch result` requests in flight while it
 * polls with a timeout.  Both rely on nwsserver answering requests in
 * order (a pipelining extension, design.md); a classic server does not
 * have sleigh workspaces of this kind anyway.  Replies are parsed with the
 * same reply.c code as every other call, so the checks are the same.
 */
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <time.h>

#include "frame.h"
#include "nwsp.h"
#include "sleighp.h"

/* Sends a read request with metadata; 0, or -1. */
int
nwsp_sleigh_send_get(nws_ws *ws, const char *var, enum nws_op op, const nws_meta *meta,
                     nws_error *err)
{
    nws_client *c;

    if (ws == NULL || var == NULL) {
        nwsp_err_set(err, NWS_ERR_INVALID, 0, "NULL argument");
        return -1;
    }
    c = ws->c;
    if (nwsp_req_begin(c, 3, meta, err) != 0 ||
        nwsp_req_str(c, nwsp_op_name(op, 0), err) != 0 ||
        nwsp_req_str(c, ws->name, err) != 0 || nwsp_req_str(c, var, err) != 0)
        return -1;
    return nwsp_req_send(c, err);
}

/* Sends a store request of v; 0, or -1. */
int
nwsp_sleigh_send_store(nws_ws *ws, const char *var, const nws_value *v, nws_error *err)
{
    if (v == NULL) {
        nwsp_err_set(err, NWS_ERR_INVALID, 0, "NULL value");
        return -1;
    }
    return nwsp_store_begin(ws, var, v->desc, v->meta, v->data, v->len, err);
}

/* Appends a read request with metadata to b; 0, or -1. */
int
nwsp_sleigh_put_get(nws_ws *ws, struct nwsp_buf *b, const char *var, enum nws_op op,
                    const nws_meta *meta, nws_error *err)
{
    const char *name;

    if (ws == NULL || var == NULL) {
        nwsp_err_set(err, NWS_ERR_INVALID, 0, "NULL argument");
        return -1;
    }
    if (nwsp_req_head(ws->c, b, 3, meta, err) != 0)
        return -1;
    name = nwsp_op_name(op, 0);
    if (nwsp_buf_arg(b, name, strlen(name)) != 0 ||
        nwsp_buf_arg(b, ws->name, strlen(ws->name)) != 0 ||
        nwsp_buf_arg(b, var, strlen(var)) != 0) {
        nwsp_err_set(err, NWS_ERR_NOMEM, 0, "out of memory");
        return -1;
    }
    return 0;
}

/*
 * Appends a store request of v to b, with request metadata meta, or v's
 * own when meta is NULL; 0, or -1.
 */
int
nwsp_sleigh_put_store(nws_ws *ws, struct nwsp_buf *b, const char *var, const nws_value *v,
                      const nws_meta *meta, nws_error *err)
{
    char d20[NWSP_D20_LEN];

    if (ws == NULL || var == NULL || v == NULL) {
        nwsp_err_set(err, NWS_ERR_INVALID, 0, "NULL argument");
        return -1;
    }
    if (v->len == 0 && !(v->desc & NWS_DESC_DIRECT_STRING)) {
        nwsp_err_set(err, NWS_ERR_INVALID, 0, "a zero-length value needs DIRECT_STRING");
        return -1;
    }
    nwsp_put_d20(d20, v->desc);
    if (nwsp_req_head(ws->c, b, 5, meta != NULL ? meta : v->meta, err) != 0)
        return -1;
    if (nwsp_buf_arg(b, "store", 5) != 0 || nwsp_buf_arg(b, ws->name, strlen(ws->name)) != 0 ||
        nwsp_buf_arg(b, var, strlen(var)) != 0 || nwsp_buf_arg(b, d20, sizeof(d20)) != 0 ||
        nwsp_buf_arg(b, v->data != NULL ? v->data : "", v->len) != 0) {
        nwsp_err_set(err, NWS_ERR_NOMEM, 0, "out of memory");
        return -1;
    }
    return 0;
}

/* Sends the requests in b with one write and empties it; 0, or -1. */
int
nwsp_sleigh_send_buf(nws_client *c, struct nwsp_buf *b, nws_error *err)
{
    int rc = b->len > 0 ? nwsp_conn_write(c, b->data, b->len, err) : 0;

    nwsp_buf_reset(b);
    return rc;
}

/* Reads a short reply; 0, or -1. */
int
nwsp_sleigh_read_short(nws_client *c, nws_error *err)
{
    return nwsp_reply_short(c, err);
}

/* Milliseconds left until deadline (monotonic seconds), at least 0. */
static int
wire_left_ms(double deadline)
{
    double left = deadline - nwsp_mono();

    return left <= 0 ? 0 : (int)(left * 1000) + 1;
}

/* Reads a long reply: 1 and *out, 0, NWS_SLEIGH_TIMEOUT, or -1. */
int
nwsp_sleigh_read_value(nws_client *c, int try, int timeout_ms, nws_value **out,
                       nws_error *err)
{
    struct nwsp_reply r;
    struct pollfd     pfd;
    double            deadline = nwsp_mono() + (timeout_ms > 0 ? timeout_ms : 0) / 1e3;
    int               rc;

    *out = NULL;
    if (nwsp_conn_check(c, err) != 0)
        return -1;
    for (;;) {
        if ((rc = nwsp_reply_header(c, 1, 0, &r, err)) < 0)
            return -1;
        if (rc == 1)
            break;
        pfd.fd = c->fd;
        pfd.events = POLLIN;
        pfd.revents = 0;
        rc = poll(&pfd, 1, timeout_ms < 0 ? -1 : wire_left_ms(deadline));
        if (rc < 0 && errno == EINTR)
            continue;
        if (rc < 0) {
            nwsp_err_set(err, NWS_ERR_IO, 0, "poll: %s", strerror(errno));
            nwsp_conn_fail(c);
            return -1;
        }
        if (rc == 0)
            return NWS_SLEIGH_TIMEOUT;
        /* Readable (or closed): take what is there; EOF breaks c with an error. */
        if (nwsp_conn_need(c, c->rlen - c->rpos + 1, 1, err) < 0)
            return -1;
    }
    if ((rc = nwsp_reply_classify(c, &r, try, err)) != 1)
        return rc;
    if ((*out = nwsp_reply_value(c, &r, err)) == NULL)
        return -1;
    return 1;
}
