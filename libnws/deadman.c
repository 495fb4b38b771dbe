/*
 * deadman.c -- nws_deadman(): ask the server to stop when this connection
 * closes.
 *
 * It lives apart from conn.c because it is a request like any other
 * (request.c, reply.c), and conn.c sits below both: request.c and reply.c
 * call into conn.c, never the reverse.
 */
#include "nwsp.h"

/* Sends `deadman` and reads its short reply; 0, or -1. */
int
nws_deadman(nws_client *c, nws_error *err)
{
    nwsp_err_clear(err);
    if (nwsp_conn_check(c, err) != 0 || nwsp_req_begin(c, 1, NULL, err) != 0 ||
        nwsp_req_str(c, "deadman", err) != 0 || nwsp_req_send(c, err) != 0)
        return -1;
    return nwsp_reply_short(c, err);
}
