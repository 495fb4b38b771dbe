/*
 * op_list.c -- "list wss" and "list vars" (sections 7.7, 7.8), byte for byte.
 *
 * list wss: one LF-terminated line per workspace, sorted by name; every
 * variable counts and is named, hidden or not.  list vars: one line per
 * visible variable, joined by LF with no final LF.  The lines are made by
 * listing.c from a snapshot, a bounded piece per turn of the loop.
 */
#include "server.h"

/* Sends the listing l (the header now, the lines as the output drains). */
static void
op_list_send(struct request *rq, struct listing *l)
{
    if (l == NULL) {
        request_error(rq, NWSP_STATUS_FAIL, "Server memory limit reached.");
        return;
    }
    if (reply_text_begin(rq->rq_conn, listing_length(l)) != 0) {
        listing_free(l);
        return;
    }
    conn_send_listing(rq->rq_conn, l);
}

static enum cmd_ret
op_list_wss_exec(struct request *rq)
{
    if (rq->rq_argc == 2 && rq->rq_len[1] > 0) {
        if (request_name_ok(rq, 1) != 0)
            return CMD_DONE;
        op_list_send(rq, listing_wss(rq->rq_conn, rq->rq_arg[1], rq->rq_len[1]));
    } else {
        op_list_send(rq, listing_wss(rq->rq_conn, NULL, 0));
    }
    return CMD_DONE;
}

static enum cmd_ret
op_list_vars_exec(struct request *rq)
{
    struct ws *ws;

    if ((ws = request_ws(rq, 1)) == NULL)
        return CMD_DONE;
    op_list_send(rq, listing_vars(ws));
    return CMD_DONE;
}

const struct command op_list_wss = {
    .name = "list wss",
    .min_argc = 1,
    .max_argc = 2,
    .long_reply = 1,
    .exec = op_list_wss_exec,
};
const struct command op_list_vars = {
    .name = "list vars",
    .min_argc = 2,
    .max_argc = 2,
    .long_reply = 1,
    .exec = op_list_vars_exec,
};
