/*
 * op_declare_var.c -- "declare var" (section 5.6).  The variable is made
 * even when the mode is refused (Q9), and stays in mode unknown then.
 */
#include "server.h"

static enum cmd_ret
op_declare_var_exec(struct request *rq)
{
    struct ws  *ws;
    struct var *var;

    if ((ws = request_ws(rq, 1)) == NULL || request_name_ok(rq, 2) != 0)
        return CMD_DONE;
    var = ws_var_try(ws, rq->rq_arg[2], rq->rq_len[2]);
    if (var == NULL) {
        request_error(rq, NWSP_STATUS_FAIL, "Server memory limit reached.");
        return CMD_DONE;
    }
    if (var_declare(var, rq->rq_arg[3], rq->rq_len[3]) != 0) {
        request_error(rq, NWSP_STATUS_FAIL, "Cannot change variable mode to \"%.*s\".",
                      (int)(rq->rq_len[3] > 256 ? 256 : rq->rq_len[3]), rq->rq_arg[3]);
        return CMD_DONE;
    }
    reply_short(rq->rq_conn, NWSP_STATUS_OK, NULL);
    return CMD_DONE;
}

const struct command op_declare_var = {
    .name = "declare var",
    .min_argc = 4,
    .max_argc = 4,
    .exec = op_declare_var_exec,
};
