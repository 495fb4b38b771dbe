/*
 * op_delete_ws.c -- "delete ws" (section 5.4): any connection may delete any
 * workspace; its waiters get "Variable purged."; other connections keep their
 * stale mapping and get status 100 until they open the name again.
 */
#include "server.h"

static enum cmd_ret
op_delete_ws_exec(struct request *rq)
{
    struct ws *ws;

    if (request_name_ok(rq, 1) != 0)
        return CMD_DONE;
    if ((ws = ws_find(rq->rq_arg[1], rq->rq_len[1])) == NULL) {
        request_error(rq, NWSP_STATUS_FAIL, "Workspace \"%.*s\" does not exist.",
                      (int)rq->rq_len[1], rq->rq_arg[1]);
        return CMD_DONE;
    }
    ws_destroy(ws);
    conn_forget_ws(rq->rq_conn, rq->rq_arg[1], rq->rq_len[1]);
    reply_short(rq->rq_conn, NWSP_STATUS_OK, NULL);
    return CMD_DONE;
}

const struct command op_delete_ws = {
    .name = "delete ws",
    .min_argc = 2,
    .max_argc = 2,
    .exec = op_delete_ws_exec,
};
