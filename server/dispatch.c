/*
 * dispatch.c -- the command table and what every command shares.
 *
 * Each op_*.c file exports one struct command (the fetch family exports
 * eight that share one handler).  dispatch() checks the argument count so a
 * handler can index its arguments freely; a wrong count gets an error in the
 * command's own reply shape (fix of Q2).  Exactly one reply per request.
 */
#include <stdio.h>
#include <string.h>

#include "journal.h"
#include "server.h"
#include "session.h"

static const struct command *const dispatch_table[] = {
    &op_store,      &op_fetch,      &op_fetch_try, &op_find,        &op_find_try,
    &op_ifetch,     &op_ifetch_try, &op_ifind,     &op_ifind_try,   &op_open_ws,
    &op_use_ws,     &op_mktemp_ws,  &op_delete_ws, &op_list_wss,    &op_declare_var,
    &op_delete_var, &op_list_vars,  &op_deadman,   &op_server_info, &op_end_session,
};

/* Returns the command named by the len bytes at name, or NULL. */
const struct command *
dispatch_lookup(const char *name, size_t len)
{
    size_t i;

    for (i = 0; i < sizeof(dispatch_table) / sizeof(dispatch_table[0]); i++) {
        const struct command *cmd = dispatch_table[i];

        if (strlen(cmd->name) == len && memcmp(cmd->name, name, len) == 0)
            return cmd;
    }
    return NULL;
}

/* Whether a command may change the state (and so needs journal space first). */
static int
dispatch_mutates(const struct command *cmd)
{
    return cmd != &op_find && cmd != &op_find_try && cmd != &op_ifind &&
           cmd != &op_ifind_try && cmd != &op_list_wss && cmd != &op_list_vars &&
           cmd != &op_deadman && cmd != &op_server_info && cmd != &op_end_session;
}

/*
 * With --journal, a mutation is refused before anything changes when the
 * journal cannot take its record (disk full, a failed write); reads go on.
 */
static int
dispatch_journal_room(struct request *rq)
{
    size_t   n = 256 + rq->rq_metalen;
    unsigned i;

    if (!journal_active() || !dispatch_mutates(rq->rq_cmd))
        return 0;
    /* Opening a workspace that exists changes nothing unless it takes ownership. */
    if ((rq->rq_cmd == &op_use_ws || rq->rq_cmd == &op_open_ws) && rq->rq_argc >= 2) {
        struct ws *ws = ws_find(rq->rq_arg[1], rq->rq_len[1]);

        if (ws != NULL && (rq->rq_cmd == &op_use_ws || ws->ws_owner != NULL))
            return 0;
    }
    for (i = 0; i < rq->rq_argc; i++)
        n += rq->rq_len[i];
    if (rq->rq_value != NULL)
        n += 2 * journal_value_room(rq->rq_value);
    if (journal_reserve(n) == 0)
        return 0;
    request_error(rq, NWSP_STATUS_FAIL, "%s", journal_error());
    return -1;
}

enum cmd_ret
dispatch(struct request *rq)
{
    const struct command *cmd = rq->rq_cmd;

    if (rq->rq_argc < cmd->min_argc || rq->rq_argc > cmd->max_argc) {
        request_error(rq, NWSP_STATUS_FAIL, "Wrong number of arguments for \"%s\".",
                      cmd->name);
        return CMD_DONE;
    }
    if (dispatch_journal_room(rq) != 0)
        return CMD_DONE;
    return cmd->exec(rq);
}

void
request_error(struct request *rq, int status, const char *fmt, ...)
{
    char    reason[NWSP_DICT_FIELD_MAX + 1];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(reason, sizeof(reason), fmt, ap);
    va_end(ap);
    if (rq->rq_cmd->long_reply)
        reply_long_error(rq->rq_conn, status, reason);
    else
        reply_short(rq->rq_conn, status, reason);
}

int
request_arg_is(const struct request *rq, unsigned i, const char *s)
{
    return rq->rq_len[i] == strlen(s) && memcmp(rq->rq_arg[i], s, rq->rq_len[i]) == 0;
}

/* Offset of the first control character (below 0x20, or 0x7f) in [p, p + len), or -1. */
ssize_t
request_ctl_at(const char *p, size_t len)
{
    size_t i;

    for (i = 0; i < len; i++)
        if ((unsigned char)p[i] < 0x20 || (unsigned char)p[i] == 0x7f)
            return (ssize_t)i;
    return -1;
}

/*
 * Refuses a name that is too long, or that holds a control character: a
 * TAB or LF in a name would forge lines and fields in other clients'
 * listings (sections 7.7, 7.8), and no client needs one.
 */
int
request_name_ok(struct request *rq, unsigned i)
{
    ssize_t at;

    if (rq->rq_len[i] > NWS_MAX_NAME) {
        request_error(rq, NWSP_STATUS_FAIL, "Name too long (at most %d bytes).", NWS_MAX_NAME);
        return -1;
    }
    if ((at = request_ctl_at(rq->rq_arg[i], rq->rq_len[i])) < 0)
        return 0;
    request_error(rq, NWSP_STATUS_FAIL, "Bad name: control character 0x%02x at byte %zd.",
                  (unsigned char)rq->rq_arg[i][at], at);
    return -1;
}

/* Resolves argument i through the connection's map; NULL after an error reply. */
struct ws *
request_ws(struct request *rq, unsigned i)
{
    struct ws *ws = NULL;
    int        status;

    if (request_name_ok(rq, i) != 0)
        return NULL;
    status = conn_resolve_ws(rq->rq_conn, rq->rq_arg[i], rq->rq_len[i], &ws);
    if (status == NWSP_STATUS_NOT_OPENED) {
        request_error(rq, status, "Workspace %.*s has not been opened.", (int)rq->rq_len[i],
                      rq->rq_arg[i]);
        return NULL;
    }
    if (status != 0) {
        request_error(rq, status, "No such workspace.");
        return NULL;
    }
    return ws;
}
