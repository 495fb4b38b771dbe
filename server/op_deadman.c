/*
 * op_deadman.c -- "deadman" (section 5.11): closing this connection stops
 * the server, as KillServerOnClose=1 does.
 */
#include "server.h"

static enum cmd_ret
op_deadman_exec(struct request *rq)
{
    conn_set_deadman(rq->rq_conn);
    reply_short(rq->rq_conn, NWSP_STATUS_OK, NULL);
    return CMD_DONE;
}

const struct command op_deadman = {
    .name = "deadman",
    .min_argc = 1,
    .max_argc = 1,
    .exec = op_deadman_exec,
};
