/*
 * op_list.c -- "list wss" and "list vars" (sections 7.7, 7.8), byte for byte.
 *
 * list wss: one LF-terminated line per workspace, sorted by name; every
 * variable counts and is named, hidden or not.  list vars: one line per
 * visible variable, joined by LF with no final LF.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server.h"

/* Appends, dying only on allocation failure (listings are server-made). */
static void
list_add(struct nwsp_buf *b, const void *p, size_t len)
{
    if (nwsp_buf_add(b, p, len) != 0)
        fatal("listing");
}

/* Appends the list wss line of ws. */
static void
list_ws_line(struct nwsp_buf *b, struct conn *c, struct ws *ws)
{
    struct htab_ent **vars;
    size_t            n, i;
    char              num[32];

    list_add(b, conn_owns(c, ws) ? ">" : " ", 1);
    list_add(b, ws->ws_name, ws->ws_namelen);
    list_add(b, "\t", 1);
    if (ws->ws_owner != NULL)
        list_add(b, ws->ws_owner, strlen(ws->ws_owner));
    list_add(b, ws->ws_persistent ? "\tTrue\t" : "\tFalse\t", ws->ws_persistent ? 6 : 7);
    vars = htab_sorted(&ws->ws_vars, &n);
    snprintf(num, sizeof(num), "%zu\t", n);
    list_add(b, num, strlen(num));
    for (i = 0; i < n; i++) {
        if (i > 0)
            list_add(b, ",", 1);
        list_add(b, vars[i]->h_key, vars[i]->h_klen);
    }
    free(vars);
    list_add(b, "\n", 1);
}

static enum cmd_ret
op_list_wss_exec(struct request *rq)
{
    struct nwsp_buf   b = {0};
    struct htab_ent **all;
    struct ws        *ws;
    size_t            n, i;

    if (rq->rq_argc == 2 && rq->rq_len[1] > 0) {
        if (request_name_ok(rq, 1) != 0)
            return CMD_DONE;
        if ((ws = ws_find(rq->rq_arg[1], rq->rq_len[1])) != NULL)
            list_ws_line(&b, rq->rq_conn, ws);
    } else {
        all = htab_sorted(ws_table(), &n);
        for (i = 0; i < n; i++)
            list_ws_line(&b, rq->rq_conn, all[i]->h_val);
        free(all);
    }
    if (b.len == 0)
        list_add(&b, "\n", 1);
    reply_text(rq->rq_conn, b.data, b.len);
    nwsp_buf_free(&b);
    return CMD_DONE;
}

static enum cmd_ret
op_list_vars_exec(struct request *rq)
{
    struct nwsp_buf   b = {0};
    struct htab_ent **vars;
    struct ws        *ws;
    size_t            n, i;
    char              line[128];

    if ((ws = request_ws(rq, 1)) == NULL)
        return CMD_DONE;
    vars = htab_sorted(&ws->ws_vars, &n);
    for (i = 0; i < n; i++) {
        struct var *var = vars[i]->h_val;

        if (var->var_hidden)
            continue;
        if (b.len > 0)
            list_add(&b, "\n", 1);
        list_add(&b, vars[i]->h_key, vars[i]->h_klen);
        snprintf(line, sizeof(line), "\t%zu\t%u\t%u\t%s", var_nvalues(var),
                 var->var_nfetchers, var->var_nfinders, var_mode_name(var->var_mode));
        list_add(&b, line, strlen(line));
    }
    free(vars);
    reply_text(rq->rq_conn, b.data != NULL ? b.data : "", b.len);
    nwsp_buf_free(&b);
    return CMD_DONE;
}

const struct command op_list_wss = {"list wss", 1, 2, 1, 0, op_list_wss_exec};
const struct command op_list_vars = {"list vars", 2, 2, 1, 0, op_list_vars_exec};
