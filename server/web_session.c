/*
 * web_session.c -- the sessions (docs/SESSIONS.md) for the web overview:
 * how many there are, and those waiting to be resumed (detached: their
 * connection was lost, or the server restarted with --journal), each with
 * its id, last peer, how long it has waited and how long it may still
 * wait, its kept replies and owned workspaces.  The id is shown: alone it
 * grants nothing (a resume needs the token, of which the server keeps only
 * a hash).  At most WEB_SESSIONS_MAX are listed, the longest waiting first
 * of those seen.
 */
#include <stdlib.h>
#include <string.h>

#include "session.h"
#include "web.h"

#define WEB_SESSIONS_MAX 20

struct web_sess_acc {
    json_t *waiting;
    size_t  total, detached;
};

static void
web_session_one(struct session *s, const struct session_info *in, void *arg)
{
    struct web_sess_acc *acc = arg;
    json_t              *o;

    (void)s;
    acc->total++;
    if (in->attached)
        return;
    acc->detached++;
    if (json_array_size(acc->waiting) >= WEB_SESSIONS_MAX)
        return;
    o = json_object();
    json_object_set_new(o, "id", json_string(in->id));
    json_object_set_new(o, "peer", web_json_display(in->peer, strlen(in->peer)));
    /* restored: rebuilt from the journal after a restart, not resumed yet */
    json_object_set_new(o, "restored", json_boolean(in->restored));
    json_object_set_new(o, "detached_for", json_real(in->detached_for));
    json_object_set_new(o, "grace_left", json_real(in->grace_left));
    json_object_set_new(o, "kept", json_integer((json_int_t)in->nkept));
    json_object_set_new(o, "kept_bytes", json_integer((json_int_t)in->kept_bytes));
    json_object_set_new(o, "owned", json_integer((json_int_t)in->nowned));
    json_object_set_new(o, "resumes", json_integer((json_int_t)in->resumes));
    json_array_append_new(acc->waiting, o);
}

/* Longest waiting first. */
static int
web_session_cmp(const void *pa, const void *pb)
{
    double a = json_real_value(json_object_get(*(json_t *const *)pa, "detached_for"));
    double b = json_real_value(json_object_get(*(json_t *const *)pb, "detached_for"));

    return (a < b) - (a > b);
}

json_t *
web_sessions_json(void)
{
    struct web_sess_acc acc = {json_array(), 0, 0};
    json_t             *o = json_object(), *sorted = json_array(), **v;
    size_t              i, n;

    session_foreach(web_session_one, &acc);
    n = json_array_size(acc.waiting);
    v = xcalloc(n > 0 ? n : 1, sizeof(*v));
    for (i = 0; i < n; i++)
        v[i] = json_array_get(acc.waiting, i);
    qsort(v, n, sizeof(*v), web_session_cmp);
    for (i = 0; i < n; i++)
        json_array_append(sorted, v[i]);
    free(v);
    json_decref(acc.waiting);
    json_object_set_new(o, "enabled", json_boolean(!session_disabled));
    json_object_set_new(o, "total", json_integer((json_int_t)acc.total));
    json_object_set_new(o, "detached", json_integer((json_int_t)acc.detached));
    json_object_set_new(o, "waiting", sorted);
    return o;
}
