/*
 * sleigh.c -- nws_sleigh: creating, attaching, status and stopping.
 *
 * A sleigh made by nws_sleigh_new owns its workspace through the control
 * connection (`open ws`, not persistent unless asked), so the server
 * deletes it, and with it every worker's wait for a task, the moment the
 * master's process ends, however it ends.  The workspace is made with
 * creation metadata that keeps it alive without workers
 * (workerGracePeriod) and a join duration so long that the group stays
 * open: workers that restart after a crash can join again, and get the
 * eachWorker tasks replayed.  The batch machinery is in sleigh_batch.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "launch.h"
#include "nodes.h"
#include "nwsp.h"
#include "sleighp.h"

#define SLEIGH_TEMPLATE      "sleigh_ride_%04d"
#define SLEIGH_FOREVER       "10000000" /* seconds: the longest the server accepts */
#define SLEIGH_JOIN_TIMEOUT  30.0
#define SLEIGH_STOP_GRACE_MS 1000
#define SLEIGH_MAX_STARTUPS  8    /* ssh handshakes at once (sshd's MaxStartups is 10) */
#define SLEIGH_SSH_TIMEOUT   30.0
#define SLEIGH_KEEPALIVE     5.0
#define SLEIGH_MAX_REMOTE    1000000 /* workers of one remote launch */

/* Fills opt with the defaults. */
void
nws_sleigh_options_init(nws_sleigh_options *opt)
{
    if (opt == NULL)
        return;
    memset(opt, 0, sizeof(*opt));
    opt->workers = -1;
    opt->retries = -1;
    opt->join_timeout = SLEIGH_JOIN_TIMEOUT;
}

/* Connects and allocates the sleigh; NULL on failure. */
static nws_sleigh *
sleigh_alloc(const nws_sleigh_options *opt, nws_error *err)
{
    const char *host = opt->host;
    nws_sleigh *s = calloc(1, sizeof(*s));
    char       *end;
    int         named;

    if (s == NULL) {
        nwsp_err_set(err, NWS_ERR_NOMEM, 0, "out of memory");
        return NULL;
    }
    if (host == NULL || *host == '\0')
        host = getenv("NWS_HOST");
    named = (host != NULL && *host != '\0') || opt->port > 0 ||
            (getenv("NWS_PORT") != NULL && *getenv("NWS_PORT") != '\0');
    if (host == NULL || *host == '\0')
        host = NWS_DEFAULT_HOST;
    s->port = opt->port;
    if (s->port <= 0 && getenv("NWS_PORT") != NULL)
        s->port = (int)strtol(getenv("NWS_PORT"), &end, 10);
    if (s->port <= 0)
        s->port = NWS_DEFAULT_PORT;
    if ((s->host = strdup(host)) == NULL) {
        free(s);
        nwsp_err_set(err, NWS_ERR_NOMEM, 0, "out of memory");
        return NULL;
    }
    if ((s->c = nws_connect(s->host, s->port, 0, err)) == NULL) {
        free(s->host);
        free(s);
        return NULL;
    }
    /*
     * Nobody named the server: on a shared machine anyone may have started
     * one on the default port, and workers take tasks from whoever can
     * store them.  Only a server that knows our secret is ours.
     */
    if (!named && !nws_authenticated(s->c)) {
        nwsp_err_set(err, NWS_ERR_HANDSHAKE, 0,
                     "the server at %s:%d asks for no secret, so anyone may have started "
                     "it: not giving it workers (name it, by host, port, NWS_HOST or "
                     "NWS_PORT, to use it anyway)",
                     s->host, s->port);
        nws_close(s->c);
        free(s->host);
        free(s);
        return NULL;
    }
    if (!nws_has_meta_to_server(s->c)) {
        nwsp_err_set(err, NWS_ERR_UNSUPPORTED, 0,
                     "the server does not take request metadata: no sleigh workspaces");
        nws_close(s->c);
        free(s->host);
        free(s);
        return NULL;
    }
    return s;
}

/* Registered workers (find rankCount), or -1. */
long
nwsp_sleigh_rank_count(nws_sleigh *s, nws_error *err)
{
    char *txt = nws_find_string(s->ws, "rankCount", err);
    long  n;

    if (txt == NULL)
        return -1;
    n = strtol(txt, NULL, 10);
    free(txt);
    return n;
}

/*
 * libnws rides a master through lost connections and restarts of a server
 * with --journal by itself (docs/SESSIONS.md); NWS_ERR_SESSION is the case
 * it cannot: the server no longer knows the session, so it ended it as a
 * disconnect, and a sleigh that its connection owned is purged.  The
 * library's "session lost" alone would not tell a user that.
 */
int
nwsp_sleigh_lost(int rc, nws_error *err)
{
    static const char why[] = "the sleigh is gone";
    int               status;

    if (rc >= 0 || err == NULL || err->code != NWS_ERR_SESSION ||
        strncmp(err->text, why, sizeof(why) - 1) == 0)
        return rc;
    /* nws_error holds 160 bytes: this says it all, libnws's text adds nothing. */
    status = err->status;
    nwsp_err_clear(err);
    nwsp_err_set(err, NWS_ERR_SESSION, status,
                 "%s: the server lost this master's session (restarted without "
                 "--journal, or out of touch past --resume-grace)",
                 why);
    return rc;
}

/* The launcher opt asks for, or NULL (err set). */
static const struct nwsp_launcher_ops *
sleigh_launcher(const nws_sleigh_options *opt, nws_error *err)
{
    const char                     *name = opt->launcher;
    const struct nwsp_launcher_ops *ops;

    if (name == NULL || *name == '\0')
        name = opt->nodes != NULL && opt->nodes[0] != NULL ? "ssh" : "local";
    if ((ops = nwsp_launcher_find(name)) == NULL)
        nwsp_err_set(err, NWS_ERR_INVALID, 0, "unknown launcher %s", name);
    return ops;
}

/*
 * The nodes of a remote launch: opt->nodes, else the batch scheduler's
 * allocation, with opt->workers > 0 spread over them.  0, or -1.
 */
static int
sleigh_nodes(const nws_sleigh_options *opt, struct nwsp_nodes *nl, nws_error *err)
{
    int rc;

    if ((rc = nwsp_nodes_plan(nl, opt->nodes, NULL, NULL, NULL, err)) < 0)
        return -1;
    if (rc == 0) {
        nwsp_err_set(err, NWS_ERR_INVALID, 0,
                     "no nodes: give a node list, or run inside a batch allocation");
        return -1;
    }
    if (opt->workers > 0)
        nwsp_nodes_spread(nl, opt->workers);
    if (nwsp_nodes_total(nl) > SLEIGH_MAX_REMOTE) {
        nwsp_err_set(err, NWS_ERR_INVALID, 0, "more than %d workers on the nodes",
                     SLEIGH_MAX_REMOTE);
        return -1;
    }
    return 0;
}

/*
 * Starts n workers with the launcher ops (on nodes, for a remote one) and
 * waits until at least want workers are registered (fewer if nodes failed
 * and NWS_SLEIGH_PARTIAL lets the sleigh go on without them).  0, or -1.
 */
static int
sleigh_launch(nws_sleigh *s, const nws_sleigh_options *opt,
              const struct nwsp_launcher_ops *ops, const struct nwsp_nodes *nodes, int n,
              long want, nws_error *err)
{
    struct nwsp_launch_spec   spec;
    struct nwsp_launch_status st;
    double                    deadline;
    char                     *path;
    const char               *w;
    long                      have, base = want - n;
    int                       nap = 2;

    if (ops->remote) {
        /* A program on the nodes: nothing to check here. */
        w = opt->worker_path ? opt->worker_path : getenv("NWS_WORKER");
        path = strdup(w != NULL && *w != '\0' ? w : "nws-worker");
        if (path == NULL) {
            nwsp_err_set(err, NWS_ERR_NOMEM, 0, "out of memory");
            return -1;
        }
    } else if ((path = nwsp_launch_worker_path(opt->worker_path, err)) == NULL) {
        return -1;
    }
    memset(&spec, 0, sizeof(spec));
    spec.host = s->host;
    spec.port = s->port;
    spec.ws_name = nws_ws_name(s->ws);
    spec.worker_path = path;
    spec.working_dir = opt->working_dir;
    spec.env = opt->env;
    spec.verbose = opt->verbose;
    spec.output = !!(opt->flags & NWS_SLEIGH_OUTPUT);
    spec.restart = !(opt->flags & NWS_SLEIGH_NO_RESTART);
    spec.total = n;
    spec.secret = nwsp_conn_secret(s->c);
    spec.nodes = nodes;
    spec.remote_host = opt->remote_host;
    spec.remote_port = opt->remote_port;
    spec.ssh_user = opt->ssh_user;
    spec.ssh_port = opt->ssh_port;
    spec.ssh_config = opt->ssh_config;
    spec.ssh_identity = opt->ssh_identity;
    spec.known_hosts = opt->known_hosts;
    spec.accept_new = !!(opt->flags & NWS_SLEIGH_ACCEPT_NEW_HOSTKEYS);
    spec.partial = !!(opt->flags & NWS_SLEIGH_PARTIAL);
    spec.max_startups = opt->max_startups > 0 ? opt->max_startups : SLEIGH_MAX_STARTUPS;
    spec.timeout = opt->connect_timeout > 0 ? opt->connect_timeout : SLEIGH_SSH_TIMEOUT;
    spec.keepalive = opt->keepalive == 0 ? SLEIGH_KEEPALIVE : opt->keepalive;
    s->launcher = ops->create(&spec, err);
    free(path);
    if (s->launcher == NULL)
        return -1;
    if (ops->start(s->launcher, NULL, n, err) != 0)
        return -1;
    s->launched_workers = n;
    /* Nodes that failed (NWS_SLEIGH_PARTIAL) have no workers to wait for. */
    ops->status(s->launcher, &st);
    if (st.wanted < n)
        want = base + st.wanted;
    if (opt->join_timeout <= 0)
        return 0;
    deadline = nwsp_mono() + opt->join_timeout;
    for (;;) {
        if ((have = nwsp_sleigh_rank_count(s, err)) < 0)
            return -1;
        if (have >= want)
            return 0;
        ops->status(s->launcher, &st);
        if (st.running == 0) {
            nwsp_err_set(err, NWS_ERR_IO, 0,
                         "the workers exited before joining (%ld of %ld joined; the "
                         "verbose option shows why)",
                         have, want);
            return -1;
        }
        if (nwsp_mono() > deadline) {
            nwsp_err_set(err, NWS_ERR_TIMEOUT, 0,
                         "only %ld of %ld workers joined within %.0f s", have, want,
                         opt->join_timeout);
            return -1;
        }
        nwsp_sleep_ms(nap);
        if (nap < 50)
            nap *= 2;
    }
}

/* The number of workers opt asks for (-1: one per online core). */
static int
sleigh_nworkers(const nws_sleigh_options *opt, int dflt)
{
    long n = opt->workers;

    if (n == -1 && dflt < 0) {
        n = sysconf(_SC_NPROCESSORS_ONLN);
        if (n < 1)
            n = 1;
    } else if (n < 0) {
        n = dflt < 0 ? 1 : dflt;
    }
    return n > 4096 ? 4096 : (int)n;
}

/* Makes a sleigh workspace, launches its workers; a new sleigh, or NULL. */
nws_sleigh *
nws_sleigh_new(const nws_sleigh_options *opt, nws_error *err)
{
    const struct nwsp_launcher_ops *ops;
    struct nwsp_nodes               nodes;
    nws_sleigh_options              dflt;
    nws_sleigh                     *s;
    nws_meta                       *meta;
    char                           *version = NULL, num[32];
    int                             rc, n;

    nwsp_err_clear(err);
    if (opt == NULL) {
        nws_sleigh_options_init(&dflt);
        opt = &dflt;
    }
    nwsp_nodes_init(&nodes);
    /* Bad node lists and unknown launchers fail before anything is made. */
    if ((ops = sleigh_launcher(opt, err)) == NULL)
        return NULL;
    if (ops->remote && opt->workers != 0 && sleigh_nodes(opt, &nodes, err) != 0) {
        nwsp_nodes_free(&nodes);
        return NULL;
    }
    if ((s = sleigh_alloc(opt, err)) == NULL) {
        nwsp_nodes_free(&nodes);
        return NULL;
    }
    s->owner = 1;
    s->persistent = !!(opt->flags & NWS_SLEIGH_PERSISTENT);
    if ((meta = nws_meta_new()) == NULL) {
        nwsp_err_set(err, NWS_ERR_NOMEM, 0, "out of memory");
        goto fail;
    }
    snprintf(num, sizeof(num), "%d", opt->retries);
    rc = nws_meta_set(meta, "wstype", "sleigh", err) != 0 ||
         nws_meta_set(meta, "workerGracePeriod", SLEIGH_FOREVER, err) != 0 ||
         (opt->retries >= 0 && nws_meta_set(meta, "retries", num, err) != 0) ||
         nws_set_request_meta(s->c, meta, err) != 0;
    nws_meta_free(meta);
    if (rc)
        goto fail;
    s->ws = nws_ws_mktemp(s->c, opt->ws_template ? opt->ws_template : SLEIGH_TEMPLATE,
                          NWS_WS_OWN | (s->persistent ? NWS_WS_PERSISTENT : 0), err);
    if (s->ws == NULL)
        goto fail;
    rc = nws_find_try_string(s->ws, "version", &version, err);
    if (rc < 0)
        goto fail;
    if (rc == 0 || strcmp(version, "1") != 0) {
        free(version);
        nwsp_err_set(err, NWS_ERR_UNSUPPORTED, 0,
                     "the server has no sleigh workspaces (wstype=sleigh)");
        goto fail;
    }
    free(version);
    /* The join phase an eachWorker starts must not close the group: keep it open. */
    if (nws_store_string(s->ws, "waitForWorkers", SLEIGH_FOREVER, err) != 0)
        goto fail;
    n = ops->remote ? (int)nwsp_nodes_total(&nodes) : sleigh_nworkers(opt, -1);
    if (n > 0 && sleigh_launch(s, opt, ops, &nodes, n, n, err) != 0)
        goto fail;
    nwsp_nodes_free(&nodes);
    return s;
fail:
    nwsp_nodes_free(&nodes);
    nws_sleigh_stop(s, NULL);
    nws_sleigh_free(s);
    return NULL;
}

/* Attaches to sleigh workspace ws_name; a new sleigh, or NULL. */
nws_sleigh *
nws_sleigh_attach(const char *ws_name, const nws_sleigh_options *opt, nws_error *err)
{
    const struct nwsp_launcher_ops *ops;
    struct nwsp_nodes               nodes;
    nws_sleigh_options              dflt;
    nws_sleigh                     *s;
    char                           *version = NULL;
    long                            have;
    int                             rc, n;

    nwsp_err_clear(err);
    if (ws_name == NULL) {
        nwsp_err_set(err, NWS_ERR_INVALID, 0, "NULL workspace name");
        return NULL;
    }
    if (opt == NULL) {
        nws_sleigh_options_init(&dflt);
        dflt.workers = 0;
        opt = &dflt;
    }
    nwsp_nodes_init(&nodes);
    if ((ops = sleigh_launcher(opt, err)) == NULL)
        return NULL;
    if (ops->remote && opt->workers != 0 && sleigh_nodes(opt, &nodes, err) != 0) {
        nwsp_nodes_free(&nodes);
        return NULL;
    }
    if ((s = sleigh_alloc(opt, err)) == NULL) {
        nwsp_nodes_free(&nodes);
        return NULL;
    }
    if ((s->ws = nws_ws_use(s->c, ws_name, NWS_WS_NOCREATE, err)) == NULL)
        goto fail;
    rc = nws_find_try_string(s->ws, "version", &version, err);
    if (rc <= 0 || strcmp(version, "1") != 0) {
        free(version);
        if (rc >= 0)
            nwsp_err_set(err, NWS_ERR_INVALID, 0, "%s is not a sleigh workspace",
                         ws_name);
        goto fail;
    }
    free(version);
    n = ops->remote ? (int)nwsp_nodes_total(&nodes) : sleigh_nworkers(opt, 0);
    if (n > 0) {
        if ((have = nwsp_sleigh_rank_count(s, err)) < 0 ||
            sleigh_launch(s, opt, ops, &nodes, n, have + n, err) != 0)
            goto fail;
    }
    nwsp_nodes_free(&nodes);
    return s;
fail:
    nwsp_nodes_free(&nodes);
    nws_sleigh_free(s);
    return NULL;
}

/* Stops the launched workers (grace_ms for them to leave by themselves). */
static void
sleigh_stop_workers(nws_sleigh *s, int grace_ms)
{
    if (s->launcher != NULL)
        s->launcher->ops->stop(s->launcher, grace_ms);
}

/* Deletes the workspace and ends the workers; 0, or -1. */
int
nws_sleigh_stop(nws_sleigh *s, nws_error *err)
{
    int rc = 0;

    nwsp_err_clear(err);
    if (s == NULL) {
        nwsp_err_set(err, NWS_ERR_INVALID, 0, "NULL sleigh");
        return -1;
    }
    if (s->stopped)
        return 0;
    s->stopped = 1;
    if (s->ws != NULL && nws_is_open(s->c))
        rc = nws_ws_delete(s->c, nws_ws_name(s->ws), err);
    /* Workers see their fetch fail and leave; those busy in a task get killed. */
    sleigh_stop_workers(s, rc == 0 ? SLEIGH_STOP_GRACE_MS : 0);
    return rc;
}

/* Frees the sleigh (stopping it first if it is ours and not persistent). */
void
nws_sleigh_free(nws_sleigh *s)
{
    size_t i;

    if (s == NULL)
        return;
    if (!s->stopped && s->owner && !s->persistent)
        nws_sleigh_stop(s, NULL);
    /* Workspace kept: the workers would wait for ever, so they go now. */
    sleigh_stop_workers(s, 0);
    if (s->launcher != NULL)
        s->launcher->ops->free(s->launcher);
    for (i = 0; i < s->npool; i++)
        nws_close(s->pool[i]);
    nws_ws_free(s->ws);
    nws_close(s->c);
    free(s->host);
    free(s);
}

/* The workspace name. */
const char *
nws_sleigh_ws_name(const nws_sleigh *s)
{
    return s != NULL && s->ws != NULL ? nws_ws_name(s->ws) : NULL;
}

/* The control handle. */
nws_ws *
nws_sleigh_ws(nws_sleigh *s)
{
    return s != NULL ? s->ws : NULL;
}

/* Worker counts and the group state; 0, or -1. */
int
nws_sleigh_status(nws_sleigh *s, nws_sleigh_info *info, nws_error *err)
{
    struct nwsp_launch_status st = {0, 0, 0, 0};
    char                     *join;

    nwsp_err_clear(err);
    if (s == NULL || info == NULL) {
        nwsp_err_set(err, NWS_ERR_INVALID, 0, "NULL argument");
        return -1;
    }
    memset(info, 0, sizeof(*info));
    if ((info->workers = nwsp_sleigh_rank_count(s, err)) < 0)
        return nwsp_sleigh_lost(-1, err);
    if ((join = nws_find_string(s->ws, "join_status", err)) == NULL)
        return nwsp_sleigh_lost(-1, err);
    info->closed = strcmp(join, "closed") == 0;
    free(join);
    if (s->launcher != NULL)
        s->launcher->ops->status(s->launcher, &st);
    info->launched = st.launched;
    info->restarts = st.restarts;
    info->running = st.running;
    return 0;
}

/* Fills *set (sorted) with the ranks the scoreboard lists; their count, or -1. */
static long
sleigh_registered(nws_sleigh *s, long **set, nws_error *err)
{
    char  *board = nws_find_string(s->ws, "scoreboard", err), *p, *end;
    long  *v = NULL, *nv, r;
    size_t n = 0, cap = 0;

    *set = NULL;
    if (board == NULL)
        return -1;
    /* Lines "worker R: idle, N tasks done" after a summary line. */
    for (p = board; (p = strstr(p, "worker ")) != NULL; p = end) {
        r = strtol(p + 7, &end, 10);
        if (end == p + 7 || *end != ':')
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 32;
            if ((nv = realloc(v, cap * sizeof(*v))) == NULL) {
                free(v);
                free(board);
                nwsp_err_set(err, NWS_ERR_NOMEM, 0, "out of memory");
                return -1;
            }
            v = nv;
        }
        v[n++] = r;
    }
    free(board);
    *set = v;
    return (long)n;
}

/* The nodes and ranks of the launched workers (new JSON array), or NULL. */
json_t *
nws_sleigh_nodes(nws_sleigh *s, nws_error *err)
{
    json_t *arr, *node, *ranks, *reg, *r;
    long   *set, nset, k;
    size_t  i, j;

    nwsp_err_clear(err);
    if (s == NULL) {
        nwsp_err_set(err, NWS_ERR_INVALID, 0, "NULL sleigh");
        return NULL;
    }
    /* A stopped sleigh has no workspace to ask: nobody is registered. */
    set = NULL;
    nset = 0;
    if (!s->stopped && (nset = sleigh_registered(s, &set, err)) < 0)
        return NULL;
    arr = s->launcher != NULL && s->launcher->ops->nodes != NULL
              ? s->launcher->ops->nodes(s->launcher)
              : json_array();
    json_array_foreach(arr, i, node)
    {
        if (!json_is_array(ranks = json_object_get(node, "ranks")))
            continue;
        if ((reg = json_array()) == NULL)
            break;
        json_array_foreach(ranks, j, r)
        {
            for (k = 0; k < nset && set[k] != json_integer_value(r); k++)
                ;
            if (k < nset)
                json_array_append_new(reg, json_integer(set[k]));
        }
        json_object_set_new(node, "registered", reg);
    }
    free(set);
    if (arr == NULL)
        nwsp_err_set(err, NWS_ERR_NOMEM, 0, "out of memory");
    return arr;
}

/* Waits for n registered workers or timeout seconds; the count, or -1. */
long
nws_sleigh_wait_workers(nws_sleigh *s, long n, double timeout, nws_error *err)
{
    double deadline = nwsp_mono() + (timeout > 0 ? timeout : 0);
    long   have;
    int    nap = 2;

    nwsp_err_clear(err);
    if (s == NULL) {
        nwsp_err_set(err, NWS_ERR_INVALID, 0, "NULL sleigh");
        return -1;
    }
    for (;;) {
        if ((have = nwsp_sleigh_rank_count(s, err)) < 0 || have >= n ||
            nwsp_mono() >= deadline)
            return have;
        nwsp_sleep_ms(nap);
        if (nap < 50)
            nap *= 2;
    }
}

/* Closes the group at the current worker count; 0, or -1. */
int
nws_sleigh_close_group(nws_sleigh *s, nws_error *err)
{
    char  num[32], *join;
    long  have;
    int   i, closed = 0;

    nwsp_err_clear(err);
    if (s == NULL) {
        nwsp_err_set(err, NWS_ERR_INVALID, 0, "NULL sleigh");
        return -1;
    }
    /* The server closes once the registered count reaches workerCount; a
     * worker may leave between our two requests, so look and try again. */
    for (i = 0; i < 20 && !closed; i++) {
        if ((have = nwsp_sleigh_rank_count(s, err)) < 0)
            return -1;
        snprintf(num, sizeof(num), "%ld", have);
        if (nws_store_string(s->ws, "workerCount", num, err) != 0 ||
            (join = nws_find_string(s->ws, "join_status", err)) == NULL)
            return -1;
        closed = strcmp(join, "closed") == 0;
        free(join);
    }
    if (!closed) {
        nwsp_err_set(err, NWS_ERR_IO, 0, "the group did not close");
        return -1;
    }
    return 0;
}

/* A connection using the workspace: pooled or new; NULL on failure. */
nws_client *
nwsp_sleigh_conn_get(nws_sleigh *s, nws_ws **ws, nws_error *err)
{
    nws_client *c;

    *ws = NULL;
    if (s->npool > 0) {
        c = s->pool[--s->npool];
    } else if ((c = nws_connect(s->host, s->port, 0, err)) == NULL) {
        return NULL;
    }
    if ((*ws = nws_ws_use(c, nws_ws_name(s->ws), NWS_WS_NOCREATE, err)) == NULL) {
        nws_close(c);
        return NULL;
    }
    return c;
}

/* Returns an idle connection to the pool, or closes it. */
void
nwsp_sleigh_conn_put(nws_sleigh *s, nws_client *c, nws_ws *ws, int reusable)
{
    nws_ws_free(ws);
    if (c == NULL)
        return;
    if (reusable && nws_is_open(c) && s->npool < sizeof(s->pool) / sizeof(s->pool[0]))
        s->pool[s->npool++] = c;
    else
        nws_close(c);
}
