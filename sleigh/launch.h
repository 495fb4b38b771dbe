/*
 * launch.h -- the launcher interface of the Sleigh (private to libnws).
 *
 * A launcher starts nws-worker processes for one sleigh and looks after
 * them until the sleigh stops.  Each kind is one file exporting one
 * struct nwsp_launcher_ops (launch_local.c: fork/exec on this machine; an
 * ssh launcher goes next to it) and one line in launch.c's table.
 *
 * Contract of every launcher:
 *  - start() returns once the processes exist (or failed to start);
 *    joining the workspace is the workers' business, and the sleigh waits
 *    for them through the server;
 *  - a worker that dies abnormally (a signal, an exit status other than
 *    those in sleighp.h) is started again unless spec.restart is 0 or the
 *    launcher is stopping;
 *  - stop() leaves nothing running: it waits up to grace_ms for the workers
 *    to leave by themselves (the sleigh deletes its workspace first), then
 *    kills them and reaps every one;
 *  - nothing outlives the master process, even when it is killed.
 */
#ifndef LAUNCH_H
#define LAUNCH_H

#include "nws.h"

/* What every worker of a sleigh is started with (copied by create). */
struct nwsp_launch_spec {
    const char        *host;        /* server, as the workers should reach it */
    int                port;
    const char        *ws_name;     /* the sleigh workspace */
    const char        *worker_path; /* nws-worker */
    const char        *working_dir; /* NULL: the master's */
    const char *const *env;         /* extra NAME=value, NULL-terminated, may be NULL */
    int                verbose;     /* workers' stderr goes to ours (else /dev/null) */
    int                output;      /* workers keep their output in output@<rank> */
    int                restart;     /* start workers again when they die */
    int                total;       /* workers of the sleigh, for $NWS_SLEIGH_WORKERS */
};

struct nwsp_launch_status {
    long launched; /* processes started, restarts included */
    long restarts;
    long running;  /* alive now */
};

struct nwsp_launcher;

struct nwsp_launcher_ops {
    const char *name;
    /* A new launcher for spec (deep-copied), or NULL. */
    struct nwsp_launcher *(*create)(const struct nwsp_launch_spec *spec, nws_error *err);
    /* Starts n workers on node (NULL: the launcher's default).  0, or -1. */
    int (*start)(struct nwsp_launcher *l, const char *node, int n, nws_error *err);
    /* Fills *st. */
    void (*status)(struct nwsp_launcher *l, struct nwsp_launch_status *st);
    /* Ends every worker (see above); returns how many had to be killed. */
    int (*stop)(struct nwsp_launcher *l, int grace_ms);
    /* Stops (grace 0) if needed and frees l. */
    void (*free)(struct nwsp_launcher *l);
};

/* Every launcher starts with this. */
struct nwsp_launcher {
    const struct nwsp_launcher_ops *ops;
};

/* launch.c: the launcher called name (NULL: "local"), or NULL. */
const struct nwsp_launcher_ops *nwsp_launcher_find(const char *name);
/*
 * launch.c: the worker program to run: given (a path, or a name looked up
 * on $PATH), else $NWS_WORKER, else nws-worker next to this program or in
 * ../bin, else on $PATH.  A new string (free()), or NULL.
 */
char *nwsp_launch_worker_path(const char *given, nws_error *err);

/* launch_local.c */
extern const struct nwsp_launcher_ops nwsp_launch_local;

#endif
