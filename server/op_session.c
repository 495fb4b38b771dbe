/*
 * op_session.c -- "end session" (docs/SESSIONS.md 3): the session ends now,
 * as a classic connection's close would end it, and the connection closes
 * once the reply is written.  nws_close() sends it, so that a client that
 * leaves on purpose does not leave a detached session waiting.
 */
#include "server.h"
#include "session.h"

static enum cmd_ret
op_end_session_exec(struct request *rq)
{
    struct session *s = conn_session(rq->rq_conn);

    if (s == NULL) {
        reply_short(rq->rq_conn, NWSP_STATUS_FAIL, "This connection carries no session.");
        return CMD_DONE;
    }
    reply_short(rq->rq_conn, NWSP_STATUS_OK, NULL);
    session_end(s);
    return CMD_DONE;
}

const struct command op_end_session = {
    .name = "end session",
    .min_argc = 1,
    .max_argc = 1,
    .exec = op_end_session_exec,
};
