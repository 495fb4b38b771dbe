/*
 * op_delete_var.c -- "delete var" (section 5.7): waiters get "Variable
 * purged."; a variable made again later gets a new id.
 */
#include "server.h"

static enum cmd_ret
op_delete_var_exec(struct request *rq)
{
    struct ws  *ws;
    struct var *var;

    if ((ws = request_ws(rq, 1)) == NULL || request_name_ok(rq, 2) != 0)
        return CMD_DONE;
    var = ws_var_find(ws, rq->rq_arg[2], rq->rq_len[2]);
    if (var == NULL) {
        request_error(rq, NWSP_STATUS_FAIL,
                      "Variable \"%.*s\" does not exist in workspace \"%.*s\".",
                      (int)rq->rq_len[2], rq->rq_arg[2], (int)rq->rq_len[1], rq->rq_arg[1]);
        return CMD_DONE;
    }
    if (var->var_mode == VAR_CUSTOM) {
        request_error(rq, NWSP_STATUS_FAIL, "Cannot delete a sleigh variable.");
        return CMD_DONE;
    }
    ws_var_delete(ws, var);
    reply_short(rq->rq_conn, NWSP_STATUS_OK, NULL);
    return CMD_DONE;
}

const struct command op_delete_var = {
    .name = "delete var",
    .min_argc = 3,
    .max_argc = 3,
    .exec = op_delete_var_exec,
};
