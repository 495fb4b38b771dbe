/*
 * info.c -- nws_server_info(): nwsserver's "server info" extension.
 *
 * The request is a classic one-argument request and the reply is short, so
 * a classic server, which answers an unknown verb with a short error, gives
 * a clean "unsupported" and the connection stays in step.  The figures come
 * in the reply metadata (nwsServerInfo), hence MetadataFromServer.
 */
#include <stdlib.h>
#include <string.h>

#include "nwsp.h"

char *
nws_server_info(nws_client *c, nws_error *err)
{
    struct nwsp_reply r;
    const char       *info, *reason;
    char             *s;

    nwsp_err_clear(err);
    if (nwsp_conn_check(c, err) != 0)
        return NULL;
    if (!c->meta_from) {
        nwsp_err_set(err, NWS_ERR_UNSUPPORTED, 0,
                     "server info needs MetadataFromServer, which this server refused");
        return NULL;
    }
    if (nwsp_req_begin(c, 1, NULL, err) != 0 || nwsp_req_str(c, "server info", err) != 0 ||
        nwsp_req_send(c, err) != 0 || nwsp_reply_header(c, 0, 1, &r, err) != 1)
        return NULL;
    if (r.status != 0) {
        reason = nws_meta_get(c->reply_meta, "nwsReason");
        if (reason != NULL && strncmp(reason, "Unknown verb", 12) == 0)
            nwsp_err_set(err, NWS_ERR_UNSUPPORTED, r.status,
                         "this server has no server info (not nwsserver)");
        else
            nwsp_reply_error(c, &r, err);
        return NULL;
    }
    if ((info = nws_meta_get(c->reply_meta, "nwsServerInfo")) == NULL) {
        nwsp_err_set(err, NWS_ERR_UNSUPPORTED, 0,
                     "this server has no server info (not nwsserver)");
        return NULL;
    }
    if ((s = strdup(info)) == NULL)
        nwsp_err_set(err, NWS_ERR_NOMEM, 0, "out of memory");
    return s;
}
