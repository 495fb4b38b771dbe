/*
 * launch.h -- the launcher interface of the Sleigh (private to sleigh/;
 * built into libnws.a and libnws.so with the rest of the Sleigh client).
 *
 * A launcher starts nws-worker processes for one sleigh and looks after
 * them until the sleigh stops.  Each kind is one file exporting one
 * struct nwsp_launcher_ops (launch_local.c: fork/exec on this machine;
 * launch_ssh.c: over ssh on the nodes of a list; launch_srun.c: srun
 * inside a Slurm allocation) and one line in launch.c's table.  Remote
 * launchers start one node launcher per node (nws-worker --count N, see
 * worker/node.c), which starts that node's workers and ends them when its
 * standard input closes.
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
 *  - nothing outlives the master process, even when it is killed;
 *  - the launcher's own threads never block on anything the caller's
 *    thread holds (the caller may be blocked in a fetch whose answer the
 *    launcher's thread carries, as the ssh tunnel does).
 */
#ifndef LAUNCH_H
#define LAUNCH_H

#include <jansson.h>

#include "node_protocol.h"
#include "nodes.h"
#include "nws.h"

/* What every worker of a sleigh is started with (copied by create). */
struct nwsp_launch_spec {
    const char        *host;        /* server, as the master reaches it */
    int                port;
    const char        *ws_name;     /* the sleigh workspace */
    const char        *worker_path; /* nws-worker (remote launchers: on the nodes) */
    const char        *working_dir; /* NULL: the master's (remote: the login directory) */
    const char *const *env;         /* extra NAME=value, NULL-terminated, may be NULL */
    int                verbose;     /* workers' stderr goes to ours (else /dev/null) */
    int                output;      /* workers keep their output in output@<rank> */
    int                restart;     /* start workers again when they die */
    int                total;       /* workers of the sleigh, for $NWS_SLEIGH_WORKERS */
    const char        *secret;      /* the server's secret, when it asked for one:
                                       remote launchers send it to their nodes */

    /* Remote launchers (ops->remote) only. */
    const struct nwsp_nodes *nodes; /* where, and how many workers on each */
    const char *remote_host;  /* workers reach the server at remote_host:remote_port;
                                 NULL: through a tunnel (ssh) */
    int         remote_port;  /* 0: port */
    const char *ssh_user;     /* NULL: the node's user@, else ssh config, else ours */
    int         ssh_port;     /* 0: ssh config, else 22 */
    const char *ssh_config;   /* NULL: ~/.ssh/config and /etc/ssh/ssh_config; "": none */
    const char *ssh_identity; /* one more private key to try, or NULL */
    const char *known_hosts;  /* NULL: the config's, else ~/.ssh/known_hosts */
    int         accept_new;   /* add the keys of unknown hosts to known_hosts */
    int         max_startups; /* ssh handshakes at once (> 0) */
    double      timeout;      /* seconds for a node to connect, log in, start (> 0) */
    double      keepalive;    /* seconds between keepalives; <= 0: none */
    int         partial;      /* go on with the nodes that started */
};

struct nwsp_launch_status {
    long launched; /* processes started, restarts included */
    long restarts;
    long running;  /* alive now */
    long wanted;   /* workers the launcher was asked for, less those of failed nodes */
};

struct nwsp_launcher;

struct nwsp_launcher_ops {
    const char *name;
    int         remote; /* starts workers on spec.nodes: start(l, NULL, n) starts
                           every node's count; worker_path is not checked here */
    /* A new launcher for spec (deep-copied), or NULL. */
    struct nwsp_launcher *(*create)(const struct nwsp_launch_spec *spec, nws_error *err);
    /* Starts n workers on node (NULL: the launcher's default).  0, or -1. */
    int (*start)(struct nwsp_launcher *l, const char *node, int n, nws_error *err);
    /* Fills *st. */
    void (*status)(struct nwsp_launcher *l, struct nwsp_launch_status *st);
    /*
     * The nodes as a new JSON array of {"node", "state", "workers",
     * "running", and where known "ranks", "alive", "error", "exit"}
     * (nws_sleigh_nodes documents them), or NULL (no memory).
     */
    json_t *(*nodes)(struct nwsp_launcher *l);
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

/* launch.c: name looked up on $PATH (or a path, if it has a '/'): new string, or NULL. */
char *nwsp_launch_find_program(const char *name);

/* launch_local.c */
extern const struct nwsp_launcher_ops nwsp_launch_local;
/*
 * Starts one process running argv (NULL-terminated, copied; argv[0] a
 * path) on the local launcher l, standing for tasks workers on node (for
 * status), never restarted: how the srun launcher runs srun.  0, or -1.
 */
int nwsp_local_start_argv(struct nwsp_launcher *l, const char *const *argv,
                          const char *node, int tasks, nws_error *err);

/* launch_ssh.c */
extern const struct nwsp_launcher_ops nwsp_launch_ssh;
/*
 * The command line the ssh launcher runs on a node (its login shell reads
 * it) to start n workers: a new string, or NULL.  server_host/port: where
 * the workers reach the server from there.
 */
char *nwsp_ssh_command(const struct nwsp_launch_spec *spec, const char *server_host,
                       int server_port, long n);
/* nwsp_node_line, the reader of the node launcher's lines: node_protocol.h. */

/* launch_srun.c */
extern const struct nwsp_launcher_ops nwsp_launch_srun;
/*
 * The srun command that starts n workers on node inside a Slurm
 * allocation: a new NULL-terminated vector (free each string and the
 * vector), or NULL.  srun is the program to run (a path); flags add
 * --overcommit and --overlap.
 */
#define NWSP_SRUN_OVERCOMMIT 0x1 /* more workers than the node's CPUs */
#define NWSP_SRUN_OVERLAP    0x2 /* we run inside a step: share its CPUs */
char **nwsp_srun_argv(const struct nwsp_launch_spec *spec, const char *srun,
                      const char *node, long n, int flags);
/*
 * The job's CPUs per node for tasks (SLURM_JOB_CPUS_PER_NODE over
 * SLURM_CPUS_PER_TASK) as node list slots; 0, or -1 (nl empty) if unknown.
 * A node given more workers than that needs srun --overcommit.
 */
int nwsp_srun_cpus(struct nwsp_nodes *nl, const char *nodelist, const char *cpus,
                   const char *cpt);

#endif
