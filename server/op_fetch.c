/*
 * op_fetch.c -- fetch, fetchTry, find, findTry and their iterated forms
 * (section 5.9): one handler, three properties per command.
 *
 * Iterated forms take a cookie (variable id, index).  A blank id (20 spaces
 * from Python and R, zero bytes from Java) means "from the start" and the
 * index is ignored; otherwise the index may be zero-padded (Python, Java) or
 * left-justified and space-padded (R).
 */
#include <string.h>

#include "server.h"

#define FETCH_REMOVE 0x1
#define FETCH_BLOCK  0x2
#define FETCH_ITER   0x4

static enum cmd_ret
op_fetch_exec(struct request *rq)
{
    struct conn   *c = rq->rq_conn;
    int            flags = rq->rq_cmd->flags;
    struct ws     *ws;
    struct var    *var;
    struct var_got got;
    const char    *vid = NULL;
    size_t         vidlen = 0;
    int64_t        idx = -1;

    if ((ws = request_ws(rq, 1)) == NULL || request_name_ok(rq, 2) != 0)
        return CMD_DONE;
    if ((flags & FETCH_ITER) && rq->rq_argc >= 4) {
        vid = rq->rq_arg[3];
        vidlen = rq->rq_len[3];
        while (vidlen > 0 && vid[0] == ' ') {
            vid++;
            vidlen--;
        }
        while (vidlen > 0 && vid[vidlen - 1] == ' ')
            vidlen--;
        if (vidlen > 0 &&
            (rq->rq_argc < 5 || nwsp_parse_i64(rq->rq_arg[4], rq->rq_len[4], &idx) != 0)) {
            request_error(rq, NWSP_STATUS_FAIL, "Invalid iteration index.");
            return CMD_DONE;
        }
    }
    var = ws_var_try(ws, rq->rq_arg[2], rq->rq_len[2]);
    if (var == NULL) {
        request_error(rq, NWSP_STATUS_FAIL, "Server memory limit reached.");
        return CMD_DONE;
    }
    if (vidlen > 0 && (vidlen != NWSP_VARID_LEN || memcmp(vid, var->var_id, vidlen) != 0)) {
        request_error(rq, NWSP_STATUS_FAIL, "Variable id mismatch.");
        return CMD_DONE;
    }
    if (var->var_hooks != NULL)
        return var->var_hooks->vh_get(rq, ws, var, flags & FETCH_REMOVE,
                                      flags & FETCH_BLOCK);
    switch (var_get(var, flags & FETCH_REMOVE, flags & FETCH_BLOCK, idx, c, &got)) {
    case VAR_OK:
        reply_value(c, got.value, var->var_id, got.index);
        if (flags & FETCH_REMOVE)
            conn_note_fetched(c, var, got.value, got.index);
        value_unref(got.value);
        return CMD_DONE;
    case VAR_ERR:
        request_error(rq, NWSP_STATUS_FAIL, "%s", got.error);
        return CMD_DONE;
    case VAR_BLOCK:
        break;
    }
    if (!(flags & FETCH_BLOCK)) {
        request_error(rq, NWSP_STATUS_FAIL, "no value available");
        return CMD_DONE;
    }
    conn_block(c, var, flags & FETCH_REMOVE);
    return CMD_BLOCKED;
}

#define FETCH_CMD(sym, nm, fl)                                                           \
    const struct command sym = {.name = nm,                                              \
                                .min_argc = 3,                                           \
                                .max_argc = 5,                                           \
                                .long_reply = 1,                                         \
                                .flags = fl,                                             \
                                .exec = op_fetch_exec}

FETCH_CMD(op_fetch, "fetch", FETCH_REMOVE | FETCH_BLOCK);
FETCH_CMD(op_fetch_try, "fetchTry", FETCH_REMOVE);
FETCH_CMD(op_find, "find", FETCH_BLOCK);
FETCH_CMD(op_find_try, "findTry", 0);
FETCH_CMD(op_ifetch, "ifetch", FETCH_REMOVE | FETCH_BLOCK | FETCH_ITER);
FETCH_CMD(op_ifetch_try, "ifetchTry", FETCH_REMOVE | FETCH_ITER);
FETCH_CMD(op_ifind, "ifind", FETCH_BLOCK | FETCH_ITER);
FETCH_CMD(op_ifind_try, "ifindTry", FETCH_ITER);
