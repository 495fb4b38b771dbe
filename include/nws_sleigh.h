/*
 * nws_sleigh.h -- the Sleigh API of libnws: run a task over many inputs on
 * many worker processes, with the results back in order.
 *
 * A sleigh is a workspace of type sleigh on an nwsserver (protocol section
 * 13.5) plus the workers that joined it: nws-worker(1) processes started by
 * the sleigh (one per core by default) or by hand.  The master (this API)
 * stores task records into the workspace; the server hands them to the
 * workers, keeps the results per batch, and puts back the task of a worker
 * that dies, so a batch always completes: every element gets exactly one
 * result, a value or an error.
 *
 * Tasks.  C cannot ship closures, so a task names code the workers can find,
 * described by a JSON object (build it with nws_sleigh_call or
 * nws_sleigh_command, or by hand):
 *
 *   {"kind": "call", "module": "/path/mod.so", "function": "cube"}
 *       calls the function (see nws_task.h) with the element's argument
 *       list; the module is loaded on first use and stays loaded.  A module
 *       name without '/' is looked up in the workers' $NWS_MODULE_PATH,
 *       then by dlopen(3) itself.  Optional key "timeout": seconds per
 *       element (see Timeouts).
 *   {"kind": "command", "argv": ["gzip", "-9", "{}"]}
 *       runs a program (no shell) with placeholders filled from the
 *       element's arguments: {} all arguments joined by spaces, {1} {2} ...
 *       one argument, {.} {/} {//} {/.} (and {1.} ...) without extension,
 *       basename, dirname, basename without extension, {#} the element
 *       number (index + 1), {%} the worker rank + 1, {{ and }} literal
 *       braces.  With no placeholder at all, the arguments are appended as
 *       words.  Optional keys: "shell": true (run argv joined by spaces with
 *       /bin/sh -c, arguments single-quoted), "timeout": seconds (then
 *       SIGKILL), "max_output": bytes kept per stream (default 1 MiB),
 *       "cwd": directory, "spill": bytes (see below).  The value of an
 *       element is an object {"status": exit status (128+N if killed by
 *       signal N), "signal": N, "stdout": text, "stderr": text,
 *       "truncated": bool, "seconds": run time, "start": Unix time};
 *       output that is not UTF-8 comes as "stdout_b64"/"stderr_b64"
 *       instead (see nws_sleigh_output).  A non-zero status also sets the
 *       element's error ("exit status 2").  An argument that is not UTF-8
 *       travels as {"nwsBytes": base64} (nws_sleigh_bytes).
 *       With "spill": N, output is never cut unless "max_output" is given,
 *       and then a cut output sets the element's error ("output cut at M
 *       bytes (max_output)"); a stream longer than N bytes is stored raw
 *       as a value of its own in the sleigh workspace, and the result has
 *       "stdout_var"/"stderr_var" (its variable) and "stdout_bytes"/
 *       "stderr_bytes" instead of the text: nws_sleigh_output_fd copies it
 *       out (and deletes it) without holding it in memory.
 *
 * Timeouts.  A task with "timeout" (either kind) gives each element that
 * many seconds.  A command past it is killed by its worker (the result
 * says "timed out after N s" and keeps the output so far).  A function
 * cannot be stopped from inside its worker, nor can a worker that is
 * stopped (SIGSTOP) or stuck: the process that started the worker (the
 * local launcher's supervisor, or the node launcher nws-worker --count
 * on an ssh or srun node) kills it half a second past the deadline,
 * which its worker tells it through a pipe, and starts another one; the
 * server ends the task with the error "timed out after N s" (and ends it
 * by itself two seconds past the deadline if nobody killed the worker,
 * e.g. one started by hand).  A timed-out element is not run again.  A
 * task with a timeout runs alone on its worker (no short tasks taken
 * next to it), so its clock starts when it starts.
 *
 * Crashes.  A task that kills its worker with a fatal signal (SIGSEGV,
 * SIGBUS, SIGFPE, SIGILL, SIGABRT, SIGTRAP, SIGSYS) fails at once with
 * the error "killed by SIGSEGV" (the worker reports it before it dies,
 * and logs it), and is not run again: it would crash the next worker
 * too.  The worker is replaced at once.  A worker that dies without a
 * word (SIGKILL, its machine lost) has its task run again, up to the
 * retries option, then the error "worker N died running this task".
 *
 * Arguments.  eachElem gets element arguments as a JSON array of vectors
 * (arrays of equal length) and fixed arguments as a JSON array: element i
 * runs with the i-th item of every vector followed by the fixed arguments,
 * so elements [[1,2,3],[11,12,13]] with fixed [99] run f(1,11,99),
 * f(2,12,99), f(3,13,99).  arg_permute reorders that final list: position
 * j gets argument arg_permute[j] (0-based).
 *
 * Results.  A blocking call returns a JSON array in element order (rank
 * order for eachWorker).  An element that failed (the function set an
 * error, the command exited non-zero, the worker died running it more
 * often than the retry limit) holds an error object instead of its value:
 *   {"nwsError": "text", "rank": R, "value": V}
 * ("value" only when there is one, e.g. a command's output); test with
 * nws_sleigh_error().  The key "nwsError" is reserved for this.
 *
 * Batches.  Every eachElem/eachWorker call is a batch with its own printable
 * id (nws_sleigh_pending_id), unique across masters and restarts.  Several
 * batches may run at once.  A non-blocking call returns a pending batch
 * that can be checked, waited for, or read result by result; another
 * process can collect a batch by attaching to the sleigh by workspace name
 * (nws_sleigh_attach, nws_sleigh_pending_attach).
 *
 * Processes.  Local workers are children of a supervisor thread of the
 * master: a worker that dies of a signal (a crashing task, SIGKILL) is
 * started again, so the sleigh does not run out of workers.  Nothing
 * outlives the master: the sleigh workspace is owned by the master's
 * connection, so the server deletes it when the master dies, which ends
 * every worker's wait for a task; local workers also get SIGKILL when the
 * master dies (PR_SET_PDEATHSIG).  nws_sleigh_stop deletes the workspace
 * and reaps every local worker.
 *
 * Other machines.  With a list of nodes (the nodes option, or the
 * allocation of a batch scheduler: Slurm, PBS/Torque, SGE, LSF), the "ssh"
 * launcher logs in to each distinct node once (libssh, as ~/.ssh/config,
 * the agent and known_hosts say) and runs one node launcher there
 * (nws-worker --count N), which starts that node's workers and ends them
 * when the ssh connection closes: at stop, when the master dies, or when
 * the connection is lost.  Workers reach the server through a reverse
 * tunnel in that connection (the default: the server may listen on
 * loopback only), or directly at remote_host.  Inside a Slurm allocation,
 * the "srun" launcher starts them with srun instead (directly only).
 * libnws(3), LAUNCHING, says which to use when.
 *
 * Connections.  The sleigh keeps one connection for control and task
 * submission, and one more per pending batch that is collecting results
 * (taken from a small pool), because a blocking fetch ties up its
 * connection.  A sleigh, its pending batches and the handles they return
 * must be used by one thread at a time.
 *
 * Ownership follows jansson and nws.h: returned json_t * are new
 * references, json_t * arguments are borrowed, results handed to callbacks
 * are borrowed for the duration of the call.  Errors go to an optional
 * nws_error (first error wins); nothing prints, exits or aborts.
 */
#ifndef NWS_SLEIGH_H
#define NWS_SLEIGH_H

#include <jansson.h>
#include <stddef.h>

#include "nws.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct nws_sleigh         nws_sleigh;
typedef struct nws_sleigh_pending nws_sleigh_pending;

/* ---- creating and stopping -------------------------------------------- */

/* nws_sleigh_options.flags */
#define NWS_SLEIGH_PERSISTENT 0x1 /* the workspace outlives the master's connection,
                                     so a restarted master can attach and collect */
#define NWS_SLEIGH_OUTPUT     0x2 /* workers keep their stdout/stderr lines in the
                                     workspace, fifo variable output@<rank> */
#define NWS_SLEIGH_NO_RESTART 0x4 /* do not restart local workers that die */
#define NWS_SLEIGH_PARTIAL    0x8 /* remote launchers: go on with the nodes that
                                     started (else one failed node fails the sleigh) */
#define NWS_SLEIGH_ACCEPT_NEW_HOSTKEYS 0x10 /* ssh: add the keys of hosts not in
                                     known_hosts to it (a changed key still fails) */

typedef struct nws_sleigh_options {
    const char *host; /* server; NULL: $NWS_HOST, else localhost */
    int         port; /* 0: $NWS_PORT, else 8765 */
    /*
     * Workers to launch: -1 one per online core (the default), 0 none
     * (workers join by hand: nws-worker --workspace NAME).  With nodes:
     * -1 as many as the node list says, N > 0 N in all, spread over the
     * nodes by turns.
     */
    int workers;
    /*
     * The launcher: "local" (fork/exec on this machine), "ssh" or "srun";
     * NULL: "ssh" if nodes is given, else "local".
     */
    const char        *launcher;
    /*
     * Nodes for "ssh" and "srun": NULL-terminated entries, each
     * [N/][user@]host[:N] (N workers, default 1; a host listed twice adds
     * up) or a list of them separated by commas; host may be an ssh config
     * alias, [IPv6], or a range such as node[01-04,07].  NULL: the batch
     * scheduler's allocation ($SLURM_JOB_NODELIST, $PBS_NODEFILE,
     * $PE_HOSTFILE, $LSB_MCPU_HOSTS).
     */
    const char *const *nodes;
    const char        *worker_path;  /* NULL: $NWS_WORKER, else nws-worker next to this
                                        program (or in ../bin), else on $PATH; remote
                                        launchers run it (default nws-worker) on the
                                        nodes, unchecked here */
    const char        *working_dir;  /* workers' working directory; NULL: ours (ssh:
                                        the login directory) */
    const char *const *env;          /* NULL-terminated "NAME=value" added to the
                                        workers' environment (ours is inherited) */
    int                verbose;      /* 1: workers log to our stderr; 0: to /dev/null */
    int                retries;      /* a task whose worker dies is retried this often,
                                        then fails; -1: the server's default (3) */
    double             join_timeout; /* seconds to wait for launched workers to join
                                        (default 30); 0: do not wait */
    const char        *ws_template;  /* workspace name template, "sleigh_ride_%04d" */
    unsigned           flags;        /* NWS_SLEIGH_* above */

    /* ---- remote workers: launchers "ssh" and "srun" -------------------------- */
    const char *remote_host;     /* workers reach the server at remote_host:remote_port;
                                    NULL: ssh carries their connections to host:port
                                    (a reverse tunnel); srun needs an address */
    int         remote_port;     /* 0: port */
    const char *ssh_user;        /* NULL: the entry's user@, else ~/.ssh/config, else
                                    ours */
    int         ssh_port;        /* 0: ~/.ssh/config, else 22 */
    const char *ssh_config;      /* NULL: ~/.ssh/config then /etc/ssh/ssh_config;
                                    "": none */
    const char *ssh_identity;    /* one more private key file to try, or NULL */
    const char *known_hosts;     /* NULL: the config's UserKnownHostsFile, else
                                    ~/.ssh/known_hosts (checked strictly unless
                                    NWS_SLEIGH_ACCEPT_NEW_HOSTKEYS) */
    int         max_startups;    /* ssh handshakes at once; 0: 8 */
    double      connect_timeout; /* seconds for a node to connect, log in and start
                                    its workers; 0: 30 */
    double      keepalive;       /* seconds between ssh keepalives; a node silent for
                                    3 of them is lost (its workers' tasks go to
                                    others); 0: 5; < 0: none */
} nws_sleigh_options;

/* Fills opt with the defaults (always call it first: fields may be added). */
NWS_API void nws_sleigh_options_init(nws_sleigh_options *opt);

/*
 * Connects, makes a sleigh workspace (owned by this connection), launches
 * the workers and waits until they joined (opt->join_timeout).  opt NULL
 * means the defaults.  Returns a new sleigh (nws_sleigh_free), or NULL.
 */
NWS_API nws_sleigh *nws_sleigh_new(const nws_sleigh_options *opt, nws_error *err) NWS_WUR;

/*
 * Attaches to the existing sleigh workspace ws_name (with `use ws`: this
 * does not own it), e.g. from another process to collect a batch.
 * opt->workers more local workers are launched to join it (-1: one per
 * core); opt NULL means the defaults with no workers.  Returns a new
 * sleigh, or NULL.
 */
NWS_API nws_sleigh *nws_sleigh_attach(const char *ws_name, const nws_sleigh_options *opt,
                                      nws_error *err) NWS_WUR;

/*
 * Stops the sleigh: deletes its workspace on the server (so every worker's
 * wait for a task fails and it exits; the elements of pending batches
 * still without a result get the error "no result: ..."), then waits
 * for the local workers, killing those that do not exit within a few
 * seconds, and reaps them all.  0, or -1 (the workers are reaped anyway).
 */
NWS_API int nws_sleigh_stop(nws_sleigh *s, nws_error *err);

/*
 * Frees the sleigh.  A sleigh made by nws_sleigh_new and not stopped is
 * stopped first, unless NWS_SLEIGH_PERSISTENT: then only the local
 * workers are stopped and the workspace stays for a later attach.  An
 * attached sleigh leaves the workspace alone.  Pending batches must be
 * freed first.  NULL is fine.
 */
NWS_API void nws_sleigh_free(nws_sleigh *s);

/* The workspace name (borrowed, lives with s). */
NWS_API const char *nws_sleigh_ws_name(const nws_sleigh *s);

/*
 * The handle on the sleigh workspace over the control connection
 * (borrowed): store shared data there for tasks (nws_task_ws) to read.
 * Do not block on it (no nws_fetch of a variable that may stay empty).
 */
NWS_API nws_ws *nws_sleigh_ws(nws_sleigh *s);

typedef struct nws_sleigh_info {
    long workers;  /* registered live workers (the server's rankCount) */
    int  closed;   /* 1 once the group is closed: no worker can join */
    long launched; /* worker processes this sleigh started, restarts included */
    long restarts; /* of which restarts of workers that died */
    long running;  /* local worker processes alive now */
} nws_sleigh_info;

/* Fills *info (a round trip).  0, or -1. */
NWS_API int nws_sleigh_status(nws_sleigh *s, nws_sleigh_info *info, nws_error *err);

/*
 * Where the workers run: a new JSON array (a round trip), one object per
 * node, or NULL:
 *   "node"        the node as listed ("localhost" for local workers)
 *   "state"       "connecting", "starting", "running", "failed" (it never
 *                 started), "exited" (its workers ended by themselves),
 *                 "lost" (its connection broke or went silent), "stopped"
 *   "workers"     workers asked for there
 *   "running"     worker processes running there now, as its launcher says
 *   "ranks"       the ranks started there (remote launchers)
 *   "alive"       of those, the ranks whose process runs
 *   "registered"  of those, the ranks registered with the server now
 *   "error"       why it failed, was lost or exited badly (when it did)
 *   "exit"        the exit status of its node launcher (once known)
 * An attached sleigh without launched workers gives an empty array.
 */
NWS_API json_t *nws_sleigh_nodes(nws_sleigh *s, nws_error *err) NWS_WUR;

/*
 * Waits until at least n workers are registered, or timeout seconds.
 * Returns the number registered (maybe fewer than n), or -1.
 */
NWS_API long nws_sleigh_wait_workers(nws_sleigh *s, long n, double timeout,
                                     nws_error *err);

/*
 * Closes the group: no worker can join any more (restarted workers
 * included, so crashed local workers are not replaced).  The group is
 * open by default and stays open; eachWorker tasks are replayed to
 * workers that join later.  0, or -1.
 */
NWS_API int nws_sleigh_close_group(nws_sleigh *s, nws_error *err);

/* ---- tasks ---------------------------------------------------------------- */

/* A task that calls function in module (see nws_task.h): new reference, or NULL. */
NWS_API json_t *nws_sleigh_call(const char *module, const char *function) NWS_WUR;

#define NWS_SLEIGH_SHELL 0x1 /* nws_sleigh_command: run through /bin/sh -c */

/* A command task (argv NULL-terminated, see above): new reference, or NULL. */
NWS_API json_t *nws_sleigh_command(const char *const *argv, unsigned flags) NWS_WUR;

/* ---- results --------------------------------------------------------------- */

/* One element's result, as handed to an accumulator or by pending_next. */
typedef struct nws_sleigh_result {
    size_t      index;   /* element index, 0-based (eachWorker: the rank) */
    json_t     *value;   /* borrowed; NULL if the element has no value */
    const char *error;   /* NULL on success, else why it failed */
    int         rank;    /* rank of the worker that ran it, -1 if unknown */
    double      seconds; /* time the worker spent on the element (a chunk of
                            function calls that all succeeded: its average) */
} nws_sleigh_result;

/* Called once per element as its result arrives, in arrival order. */
typedef void (*nws_sleigh_accum_fn)(const nws_sleigh_result *r, void *arg);

/* The error text of a result array entry (borrowed), or NULL if it is a value. */
NWS_API const char *nws_sleigh_error(const json_t *elem);

/*
 * The bytes of a command result's stream ("stdout" or "stderr"), decoding
 * the _b64 form: a new NUL-terminated buffer (free()) with *len bytes, or
 * NULL (no such stream, or out of memory).
 */
NWS_API char *nws_sleigh_output(const json_t *cmd_value, const char *stream, size_t *len);

/*
 * Writes the bytes of a command result's stream ("stdout" or "stderr") to
 * fd: from the record, or, for a stream stored as a value of its own (a
 * task with "spill"), from the server as they arrive, without holding it
 * in memory; the stored value's variable is then deleted.  fd -1: write
 * nothing, only delete.  *len (may be NULL) gets the bytes written.  0, or
 * -1: NWS_ERR_IO only for a write error on fd (the stored value is gone all
 * the same); a lost server is NWS_ERR_CONNECT or NWS_ERR_CLOSED.
 */
NWS_API int nws_sleigh_output_fd(nws_sleigh *s, const json_t *cmd_value, const char *stream,
                                 int fd, uint64_t *len, nws_error *err);

/*
 * A command argument made of len bytes (any bytes but NUL): a JSON string
 * if they are UTF-8, else {"nwsBytes": base64} (JSON text cannot carry
 * other bytes), which the worker passes to the program as those bytes.
 * New reference, or NULL.
 */
NWS_API json_t *nws_sleigh_bytes(const char *p, size_t len);

/* ---- eachElem and eachWorker -------------------------------------------- */

/* nws_sleigh_elem_opts.flags */
#define NWS_SLEIGH_DISCARD 0x1 /* keep no results (an accumulator sees them); the
                                  returned array is empty */

/*
 * Halting a batch early, as GNU parallel's --halt: once count results of
 * the kind what have come (or count percent of the batch's elements; of
 * the elements pushed so far for a streaming batch not ended yet), the
 * batch halts.  NWS_SLEIGH_HALT_SOON: no more tasks are submitted, the
 * tasks already submitted finish (with a load factor, about those
 * running), and the elements never submitted get the error
 * NWS_SLEIGH_HALTED.  NWS_SLEIGH_HALT_NOW: the batch ends at once, every
 * element without a result getting that error; tasks already on the
 * workers run to their end, and their results are dropped.
 */
enum { NWS_SLEIGH_HALT_NEVER = 0, NWS_SLEIGH_HALT_SOON = 1, NWS_SLEIGH_HALT_NOW = 2 };
enum { NWS_SLEIGH_HALT_FAIL = 0, NWS_SLEIGH_HALT_SUCCESS = 1, NWS_SLEIGH_HALT_DONE = 2 };

typedef struct nws_sleigh_halt {
    int    when;    /* NWS_SLEIGH_HALT_NEVER (0, the default), _SOON or _NOW */
    int    what;    /* the results that count: _FAIL (errors), _SUCCESS (values),
                       _DONE (both) */
    double count;   /* how many (>= 1), or a percentage (0 < count <= 100) */
    int    percent; /* 1: count is a percentage of the elements */
} nws_sleigh_halt;

/* The error of the elements a halted batch did not run. */
#define NWS_SLEIGH_HALTED "not run: the batch halted"

/*
 * Parses GNU parallel's --halt syntax into *h: "never", "now|soon,
 * fail|success|done=N" or "...=N%", or the old forms 0 (never), 1
 * (soon,fail=1), 2 (now,fail=1), -1 (soon,success=1), -2 (now,success=1).
 * 0, or -1 (NWS_ERR_INVALID, the text says what is wrong).
 */
NWS_API int nws_sleigh_halt_parse(const char *spec, nws_sleigh_halt *h, nws_error *err);

typedef struct nws_sleigh_elem_opts {
    const json_t       *arg_permute; /* JSON array of 0-based positions, or NULL */
    size_t              chunk;       /* elements per task; 0 or 1: one */
    size_t              load_factor; /* at most load_factor tasks per worker queued or
                                        running at once; 0: submit everything */
    nws_sleigh_accum_fn accumulate;  /* NULL, or called for each result */
    void               *accum_arg;
    unsigned            flags;       /* NWS_SLEIGH_DISCARD */
    nws_sleigh_halt     halt;        /* when to stop early; all 0: never */
} nws_sleigh_elem_opts;

/*
 * eachElem, blocking: runs task over the elements (elem_args: array of
 * equal-length arrays; fixed_args: array, or NULL; opts may be NULL) and
 * returns the results in element order (a new array), or NULL.  Element
 * failures are error objects in the array, not a failure of the call.
 */
NWS_API json_t *nws_sleigh_each_elem(nws_sleigh *s, const json_t *task,
                                     const json_t *elem_args, const json_t *fixed_args,
                                     const nws_sleigh_elem_opts *opts,
                                     nws_error *err) NWS_WUR;

/*
 * eachElem, non-blocking: submits the tasks (up to the load factor) and
 * returns a pending batch (free with nws_sleigh_pending_free), or NULL.
 * elem_args NULL opens a streaming batch: add elements one at a time with
 * nws_sleigh_pending_push, then nws_sleigh_pending_end.
 */
NWS_API nws_sleigh_pending *nws_sleigh_each_elem_async(nws_sleigh *s, const json_t *task,
                                                       const json_t *elem_args,
                                                       const json_t *fixed_args,
                                                       const nws_sleigh_elem_opts *opts,
                                                       nws_error *err) NWS_WUR;

/*
 * eachWorker, blocking: runs task once on every registered worker with
 * the argument list args (array, or NULL for none) and returns the results
 * in rank order (a new array), or NULL.  State the function keeps in its
 * module stays for later tasks on that worker.
 */
NWS_API json_t *nws_sleigh_each_worker(nws_sleigh *s, const json_t *task,
                                       const json_t *args, nws_error *err) NWS_WUR;

/* eachWorker, non-blocking; result indexes are ranks.  New pending, or NULL. */
NWS_API nws_sleigh_pending *nws_sleigh_each_worker_async(nws_sleigh *s,
                                                         const json_t *task,
                                                         const json_t *args,
                                                         nws_error *err) NWS_WUR;

/* ---- pending batches ------------------------------------------------------ */

/* The batch id (printable, borrowed, lives with p). */
NWS_API const char *nws_sleigh_pending_id(const nws_sleigh_pending *p);

/*
 * Streaming batches: adds one element whose own arguments are args (an
 * array; the fixed arguments follow), submitting tasks as the load factor
 * allows.  0, or -1.
 */
NWS_API int nws_sleigh_pending_push(nws_sleigh_pending *p, const json_t *args,
                                    nws_error *err);
/* No more elements will be pushed (submits the last partial chunk).  0, or -1. */
NWS_API int nws_sleigh_pending_end(nws_sleigh_pending *p, nws_error *err);

/*
 * Tasks not finished yet: not yet submitted, or queued or running on the
 * server (one round trip; tops up submission under a load factor).
 * Returns the count (0: every result is in the server), or -1.
 */
NWS_API long nws_sleigh_pending_check(nws_sleigh_pending *p, nws_error *err);

typedef struct nws_sleigh_progress {
    size_t elements;   /* elements of the batch (so far, for a streaming batch) */
    size_t tasks;      /* tasks made of them */
    size_t submitted;  /* tasks stored into the sleigh */
    size_t queued;     /* tasks waiting for a worker (server) */
    size_t running;    /* tasks on a worker now (server) */
    size_t done;       /* tasks finished, failed ones included (server) */
    size_t failed;     /* elements whose result is an error: the task set an
                          error, the command failed, the worker died (server) */
    size_t collected;  /* elements whose result this pending has taken */
    size_t errors;     /* of which errors */
    size_t duplicates; /* results dropped because their element had one already */
    int    ended;      /* 1 once every element is known */
    int    halted;     /* the halt policy struck: NWS_SLEIGH_HALT_SOON or _NOW, else 0 */
} nws_sleigh_progress;

/* Fills *pr (one round trip for the server's counts).  0, or -1. */
NWS_API int nws_sleigh_pending_progress(nws_sleigh_pending *p, nws_sleigh_progress *pr,
                                        nws_error *err);

#define NWS_SLEIGH_TIMEOUT 2 /* nws_sleigh_pending_next: nothing arrived in time */

/*
 * The next result as it arrives (any order): 1 and *r filled (its
 * pointers live until the next call on p), 0 when every element's result
 * was taken, NWS_SLEIGH_TIMEOUT when nothing came within timeout_ms (-1:
 * wait as long as needed; 0: only look) or a streaming batch has nothing
 * outstanding before nws_sleigh_pending_end, or -1.  The accumulator, if
 * any, sees each result first.
 */
NWS_API int nws_sleigh_pending_next(nws_sleigh_pending *p, nws_sleigh_result *r,
                                    int timeout_ms, nws_error *err);

/*
 * Waits for every result and returns them all in element order (rank order
 * for eachWorker), including those already taken by pending_next: a new
 * array (empty with NWS_SLEIGH_DISCARD), or NULL.  A streaming batch must
 * be ended first.
 *
 * Never waits for what cannot come: when the batch was collected by
 * another process, the workspace was deleted, the sleigh shut down or no
 * worker is left in a closed group, the elements still missing get error
 * entries saying so ("no result (collected elsewhere)", "no result: WHY",
 * ...), the array is returned, and err is filled with the reason as well
 * (err->code != 0 although the call returned an array).  pending_next
 * hands those errors out as results, then returns 0.
 */
NWS_API json_t *nws_sleigh_pending_wait(nws_sleigh_pending *p, nws_error *err) NWS_WUR;

/*
 * Attaches to batch batch_id of s, which another master (or an earlier
 * run) submitted, to collect its results.  nelems: the number of
 * elements, or 0 to read it from the record the submitter keeps in the
 * workspace.  Results taken by someone else before do not come again:
 * once the server has nothing left for the batch, those elements get the
 * error "no result (collected elsewhere)".  A batch whose results were all
 * collected is gone from the server (but for its counts, kept for the
 * last 16): attaching to it fails with "batch ID was already collected",
 * or "no such batch" (never submitted, or collected longer ago).  New
 * pending, or NULL.
 */
NWS_API nws_sleigh_pending *nws_sleigh_pending_attach(nws_sleigh *s, const char *batch_id,
                                                      size_t nelems,
                                                      nws_error *err) NWS_WUR;

/*
 * Frees p.  Results not taken yet stay in the server under the batch id;
 * tasks not submitted yet are dropped.  NULL is fine.
 */
NWS_API void nws_sleigh_pending_free(nws_sleigh_pending *p);

#ifdef __cplusplus
}
#endif

#endif
