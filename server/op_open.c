/*
 * op_open.c -- "open ws" and "use ws" (sections 5.2, 7.3).
 *
 * Both create a missing workspace unless create is given and is not "yes",
 * and map the name for this connection.  "open ws" also takes ownership of
 * an unowned workspace and always adds it to the connection's owned set, so
 * every opener purges a non-persistent workspace when it leaves (Q7, copied).
 * A workspace made here takes its type from metadata wstype (ws.c).
 */
#include "server.h"

#define OPEN_OWNS 1

/*
 * The owner text: "<peer> pid <label>" when the label is a pid (Python, R,
 * libnws send theirs), "<peer>" for Java's "0" or an empty label, else
 * "<peer> (<label>)".  The reference's "<Twisted repr> (<label>)" is not
 * kept: any readable text is allowed (quirk Q25).
 */
static void
op_open_owner(struct ws *ws, const char *peer, const char *label, size_t len)
{
    char  *owner;
    size_t i;

    for (i = 0; i < len && label[i] >= '0' && label[i] <= '9'; i++)
        ;
    if (len == 0 || (len == 1 && label[0] == '0'))
        xasprintf(&owner, "%s", peer);
    else if (i == len)
        xasprintf(&owner, "%s pid %.*s", peer, (int)len, label);
    else
        xasprintf(&owner, "%s (%.*s)", peer, (int)len, label);
    ws_set_owner(ws, owner);    /* counts it against --max-memory */
}

static enum cmd_ret
op_open_exec(struct request *rq)
{
    struct conn *c = rq->rq_conn;
    struct ws   *ws;
    int          create = rq->rq_argc < 5 || request_arg_is(rq, 4, "yes");

    if (request_name_ok(rq, 1) != 0)
        return CMD_DONE;
    /* The owner label is shown in listings like a name: same rule (it may be empty). */
    if (request_ctl_at(rq->rq_arg[2], rq->rq_len[2]) >= 0) {
        request_error(rq, NWSP_STATUS_FAIL, "Bad owner label: it holds a control character.");
        return CMD_DONE;
    }
    ws = ws_find(rq->rq_arg[1], rq->rq_len[1]);
    if (ws == NULL) {
        if (!create) {
            request_error(rq, NWSP_STATUS_NO_WS, "No such workspace.");
            return CMD_DONE;
        }
        if (!ws_fits(rq->rq_len[1])) {
            request_error(rq, NWSP_STATUS_FAIL, "Server memory limit reached.");
            return CMD_DONE;
        }
        ws = ws_create_typed(rq->rq_arg[1], rq->rq_len[1], rq->rq_meta, rq->rq_metalen);
    }
    conn_map_ws(c, ws);
    if (rq->rq_cmd->flags & OPEN_OWNS) {
        if (ws->ws_owner == NULL) {
            /* Persistence first: the journal records both with the owner. */
            ws->ws_persistent = request_arg_is(rq, 3, "yes");
            op_open_owner(ws, conn_peer(c), rq->rq_arg[2], rq->rq_len[2]);
        }
        conn_own_ws(c, ws);
    }
    reply_short(c, NWSP_STATUS_OK, NULL);
    return CMD_DONE;
}

const struct command op_open_ws = {
    .name = "open ws",
    .min_argc = 4,
    .max_argc = 5,
    .flags = OPEN_OWNS,
    .exec = op_open_exec,
};
const struct command op_use_ws = {
    .name = "use ws",
    .min_argc = 4,
    .max_argc = 5,
    .exec = op_open_exec,
};
