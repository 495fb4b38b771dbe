/*
 * iter.c -- ifind/ifetch iterators (section 6.7).
 *
 * An iterator keeps the cookie (variable id, index) of the last value it
 * received and sends it back with the next request; before the first value
 * the id is blank.  "No value" and errors end it without touching the
 * cookie, as the Python client does, so nws_iter_restart() resumes where it
 * stopped and nws_iter_reset() starts over (on a re-made variable too).
 */
#include <stdlib.h>
#include <string.h>

#include "nwsp.h"

struct nws_iter {
    nws_ws     *ws;
    char       *var;
    enum nws_op op;
    char        varid[NWSP_VARID_LEN + 1]; /* "" before the first value */
    int64_t     index;
    int         ended;
};

/* Returns a new iterator of var with op, or NULL. */
static nws_iter *
iter_new(nws_ws *ws, const char *var, enum nws_op op, nws_error *err)
{
    nws_iter *it;

    nwsp_err_clear(err);
    if (ws == NULL || nwsp_req_name_ok(var, "variable", err) != 0) {
        nwsp_err_set(err, NWS_ERR_INVALID, 0, "NULL workspace handle");
        return NULL;
    }
    if (!ws->c->cookie) {
        nwsp_err_set(err, NWS_ERR_UNSUPPORTED, 0,
                     "this server sends no iteration cookie (\"2222\" handshake)");
        return NULL;
    }
    if ((it = calloc(1, sizeof(*it))) == NULL || (it->var = strdup(var)) == NULL) {
        free(it);
        nwsp_err_set(err, NWS_ERR_NOMEM, 0, "out of memory");
        return NULL;
    }
    it->ws = ws;
    it->op = op;
    return it;
}

/* ifind iterator (ifindTry unless NWS_ITER_BLOCK): new, or NULL. */
nws_iter *
nws_ifind(nws_ws *ws, const char *var, unsigned flags, nws_error *err)
{
    return iter_new(ws, var, (flags & NWS_ITER_BLOCK) ? NWS_OP_FIND : NWS_OP_FIND_TRY, err);
}

/* ifetch iterator (ifetchTry unless NWS_ITER_BLOCK): new, or NULL. */
nws_iter *
nws_ifetch(nws_ws *ws, const char *var, unsigned flags, nws_error *err)
{
    return iter_new(ws, var, (flags & NWS_ITER_BLOCK) ? NWS_OP_FETCH : NWS_OP_FETCH_TRY,
                    err);
}

/* The next value: 1 and a new *out, 0 at the end, or -1 (the iterator ends). */
int
nws_iter_next(nws_iter *it, nws_value **out, nws_error *err)
{
    struct nwsp_reply r;
    nws_value        *v;
    int               rc;

    nwsp_err_clear(err);
    if (it == NULL || out == NULL) {
        nwsp_err_set(err, NWS_ERR_INVALID, 0, "NULL argument");
        return -1;
    }
    *out = NULL;
    if (it->ended)
        return 0;
    rc = nwsp_get_begin(it->ws, it->var, it->op, it->varid, it->varid[0] ? it->index : 0,
                        &r, err);
    if (rc == 1 && (v = nwsp_reply_value(it->ws->c, &r, err)) != NULL) {
        memcpy(it->varid, r.varid, sizeof(it->varid));
        it->index = r.index;
        *out = v;
        return 1;
    }
    it->ended = 1;
    return rc == 0 ? 0 : -1;
}

/* Forgets the cookie and the ended state. */
void
nws_iter_reset(nws_iter *it)
{
    if (it == NULL)
        return;
    it->varid[0] = '\0';
    it->index = 0;
    it->ended = 0;
}

/* Leaves the ended state, keeping the cookie. */
void
nws_iter_restart(nws_iter *it)
{
    if (it != NULL)
        it->ended = 0;
}

/* Returns 1 once the iterator ended. */
int
nws_iter_ended(const nws_iter *it)
{
    return it == NULL || it->ended;
}

/* Returns the cookie's variable id (borrowed). */
const char *
nws_iter_varid(const nws_iter *it)
{
    return it == NULL ? NULL : it->varid;
}

/* Returns the cookie's index. */
int64_t
nws_iter_index(const nws_iter *it)
{
    return it == NULL ? 0 : it->index;
}

/* Frees the iterator; NULL is fine. */
void
nws_iter_free(nws_iter *it)
{
    if (it == NULL)
        return;
    free(it->var);
    free(it);
}
