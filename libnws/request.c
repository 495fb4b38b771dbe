/*
 * request.c -- building requests in the connection's write buffer.
 *
 * A request is [DICT] D4(argc) argc * ARG (section 3.1).  The metadata
 * dictionary is present exactly when MetadataToServer was granted, even
 * when empty; the next-request metadata set with nws_set_request_meta is
 * used up by the request that follows, whether it succeeds or not.
 *
 * On a session every request starts with a 40-byte header (seq, ack): it
 * is built here as a placeholder, filled in as the bytes leave
 * (session.c), since only then is the request's place in the stream known.
 */
#include <string.h>

#include "nwsp.h"

/* Appends [DICT] D4(argc) to b; 0, or -1 (b may then hold a partial head). */
int
nwsp_req_head(nws_client *c, struct nwsp_buf *b, unsigned argc, const nws_meta *vmeta,
              nws_error *err)
{
    static const char hold[] = "........................................";
    nws_meta         *merged = NULL;
    size_t            hlen;
    int               rc = 0;

    if (nwsp_conn_check(c, err) != 0)
        return -1;
    if ((hlen = nwsp_sess_head_len(c)) > 0 && nwsp_buf_add(b, hold, hlen) != 0) {
        nwsp_err_set(err, NWS_ERR_NOMEM, 0, "out of memory");
        return -1;
    }
    if (nws_meta_size(vmeta) + nws_meta_size(c->next_meta) > 0) {
        if (!c->meta_to) {
            nwsp_err_set(err, NWS_ERR_UNSUPPORTED, 0,
                         "request metadata needs MetadataToServer, which this "
                         "connection did not get");
            rc = -1;
        } else if ((merged = nws_meta_copy(vmeta)) == NULL ||
                   nwsp_meta_merge(merged, c->next_meta, err) != 0) {
            nwsp_err_set(err, NWS_ERR_NOMEM, 0, "out of memory");
            rc = -1;
        }
    }
    /* Used up even on failure, so a stale dictionary never rides on a later request. */
    nws_meta_free(c->next_meta);
    c->next_meta = NULL;
    if (rc == 0 && c->meta_to && nwsp_meta_encode(merged, b) != 0) {
        nwsp_err_set(err, NWS_ERR_NOMEM, 0, "out of memory");
        rc = -1;
    }
    nws_meta_free(merged);
    if (rc == 0 && nwsp_buf_argc(b, argc) != 0) {
        nwsp_err_set(err, NWS_ERR_NOMEM, 0, "out of memory");
        rc = -1;
    }
    return rc;
}

/* Starts a request of argc arguments in the emptied c->wbuf; 0, or -1. */
int
nwsp_req_begin(nws_client *c, unsigned argc, const nws_meta *vmeta, nws_error *err)
{
    if (nwsp_conn_check(c, err) != 0)
        return -1;
    nwsp_buf_reset(&c->wbuf);
    if (nwsp_req_head(c, &c->wbuf, argc, vmeta, err) != 0) {
        nwsp_buf_reset(&c->wbuf);
        return -1;
    }
    return 0;
}

/* Appends one argument; 0, or -1 on no memory. */
int
nwsp_req_arg(nws_client *c, const void *p, size_t len, nws_error *err)
{
    if (nwsp_buf_arg(&c->wbuf, p, len) != 0) {
        nwsp_err_set(err, NWS_ERR_NOMEM, 0, "out of memory for a %zu-byte argument", len);
        return -1;
    }
    return 0;
}

/* Appends a C string argument; 0, or -1. */
int
nwsp_req_str(nws_client *c, const char *s, nws_error *err)
{
    return nwsp_req_arg(c, s, strlen(s), err);
}

/* Sends the built request and empties the buffer; 0, or -1. */
int
nwsp_req_send(nws_client *c, nws_error *err)
{
    int rc = nwsp_conn_write(c, c->wbuf.data, c->wbuf.len, err);

    nwsp_buf_reset(&c->wbuf);
    return rc;
}

/* Returns 0 if name may be sent, else -1 with NWS_ERR_INVALID. */
int
nwsp_req_name_ok(const char *name, const char *what, nws_error *err)
{
    if (name == NULL) {
        nwsp_err_set(err, NWS_ERR_INVALID, 0, "NULL %s name", what);
        return -1;
    }
    return 0;
}
