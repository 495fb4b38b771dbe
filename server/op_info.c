/*
 * op_info.c -- "server info": the server's figures (those of the web
 * overview) for `nws info`.  An nwsserver extension: classic clients never
 * send it, and the classic server answers it with its usual short error
 * for an unknown verb, so a client can ask any server safely.
 *
 * The reply is short (status 0), with the figures as one JSON object in
 * the reply metadata under nwsServerInfo; so it needs MetadataFromServer,
 * which libnws always asks for.  A reply of the short shape is what makes
 * the question safe: a long reply's extra fields would leave a client of a
 * classic server waiting for bytes that never come.
 */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "server.h"
#include "session.h"
#include "web.h"

#define INFO_KEY "nwsServerInfo"

/* The figures as a new JSON object. */
static json_t *
op_info_json(void)
{
    struct htab_ent *e;
    size_t           pos = 0, nws = 0, nvars = 0, n;
    uint64_t         nvalues = 0, v;
    json_t          *o = json_object();

    while ((e = htab_next(ws_table(), &pos)) != NULL) {
        nws++;
        web_ws_counts(e->h_val, &n, &v);
        nvars += n;
        nvalues += v;
    }
    json_object_set_new(o, "version", json_string(NWS_VERSION));
    json_object_set_new(o, "pid", json_integer((json_int_t)getpid()));
    json_object_set_new(o, "connections", json_integer((json_int_t)srv.nconns));
    {
        size_t detached, nsess = session_count(&detached);

        json_object_set_new(o, "sessions", json_integer((json_int_t)nsess));
        json_object_set_new(o, "sessions_detached", json_integer((json_int_t)detached));
    }
    json_object_set_new(o, "workspaces", json_integer((json_int_t)nws));
    json_object_set_new(o, "variables", json_integer((json_int_t)nvars));
    json_object_set_new(o, "values", json_integer((json_int_t)nvalues));
    json_object_set_new(o, "memory_used", json_integer((json_int_t)srv.mem_used));
    json_object_set_new(o, "memory_limit", json_integer((json_int_t)srv.cfg.max_memory));
    json_object_set_new(o, "spool_threshold",
                        json_integer((json_int_t)srv.cfg.spool_threshold));
    json_object_set_new(o, "max_value_size",
                        json_integer((json_int_t)srv.cfg.max_value_size));
    json_object_set_new(o, "ops", json_integer((json_int_t)srv.nops));
    /* The web interface's clock and rate sampler run only with it. */
    if (!srv.cfg.no_web) {
        json_object_set_new(o, "uptime", json_real(web_uptime()));
        json_object_set_new(o, "ops_per_sec", json_real(web_ops_rate()));
        json_object_set_new(o, "web_port", json_integer(srv.actual_web_port));
    }
    json_object_set_new(o, "journal", web_journal_json());
    return o;
}

static enum cmd_ret
op_info_exec(struct request *rq)
{
    struct conn *c = rq->rq_conn;
    json_t      *o;
    char        *text, head[32];
    size_t       len;

    if (!conn_meta_out(c)) {
        reply_short(c, NWSP_STATUS_FAIL, "server info needs MetadataFromServer");
        return CMD_DONE;
    }
    o = op_info_json();
    text = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(o);
    if (text == NULL || (len = strlen(text)) > NWSP_DICT_FIELD_MAX) {
        free(text);
        reply_short(c, NWSP_STATUS_FAIL, "server info: out of memory");
        return CMD_DONE;
    }
    /* [DICT] = D4(1) D4(klen) key D4(vlen) value, then D4(status). */
    memcpy(head, "0001", 4);
    nwsp_put_d4(head + 4, (unsigned)strlen(INFO_KEY));
    memcpy(head + 8, INFO_KEY, strlen(INFO_KEY));
    nwsp_put_d4(head + 8 + strlen(INFO_KEY), (unsigned)len);
    evbuffer_add(conn_output(c), head, 12 + strlen(INFO_KEY));
    evbuffer_add(conn_output(c), text, len);
    evbuffer_add(conn_output(c), "0000", 4);
    free(text);
    return CMD_DONE;
}

const struct command op_server_info = {
    .name = "server info",
    .min_argc = 1,
    .max_argc = 1,
    .exec = op_info_exec,
};
