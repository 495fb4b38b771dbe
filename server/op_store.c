/*
 * op_store.c -- "store" (section 5.8).  The value was read by conn.c straight
 * into its final place (memory or a spool file); here it gets its type
 * descriptor and goes to the variable, which hands it to waiters first.
 */
#include "server.h"

static enum cmd_ret
op_store_exec(struct request *rq)
{
    struct ws    *ws;
    struct var   *var;
    struct value *v;
    const char   *err = NULL;
    int64_t       desc;

    if ((ws = request_ws(rq, 1)) == NULL || request_name_ok(rq, 2) != 0)
        return CMD_DONE;
    if (nwsp_parse_i64(rq->rq_arg[3], rq->rq_len[3], &desc) != 0) {
        request_error(rq, NWSP_STATUS_FAIL, "Invalid type descriptor.");
        return CMD_DONE;
    }
    var = ws_var_try(ws, rq->rq_arg[2], rq->rq_len[2]);
    if (var == NULL) {
        request_error(rq, NWSP_STATUS_FAIL, "Server memory limit reached.");
        return CMD_DONE;
    }
    if (var->var_hooks != NULL) {
        rq->rq_value->v_desc = desc;
        return var->var_hooks->vh_store(rq, ws, var);
    }
    v = rq->rq_value;
    rq->rq_value = NULL;
    v->v_desc = desc;
    if (var->var_mode == VAR_BARRIER)
        conn_joined_barrier(rq->rq_conn);
    if (var_store(var, v, rq->rq_conn, &err) != 0) {
        request_error(rq, NWSP_STATUS_FAIL, "%s", err);
        return CMD_DONE;
    }
    reply_short(rq->rq_conn, NWSP_STATUS_OK, NULL);
    if (ws->ws_sleigh != NULL)
        sleigh_stored(ws, var);
    return CMD_DONE;
}

const struct command op_store = {
    .name = "store",
    .min_argc = 5,
    .max_argc = 5,
    .value_arg = 4,
    .exec = op_store_exec,
};
