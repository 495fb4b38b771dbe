/*
 * worker.h -- nws-worker, the generic sleigh worker: shared declarations.
 *
 * main.c joins the sleigh and loops fetch task / run / store result;
 * task.c runs a task record (the nws_task.h ABI, module loading);
 * command.c runs command tasks; output.c copies the worker's own
 * stdout/stderr lines into output@<rank>; node.c is the node launcher
 * (--count N) that the remote launchers start on each node.
 */
#ifndef WORKER_H
#define WORKER_H

#include <jansson.h>
#include <signal.h>
#include <stdint.h>

#include "nws.h"
#include "nws_json.h"
#include "nws_task.h"

struct worker {
    const char *w_host;
    int         w_port;
    const char *w_secret;  /* from --secret-fd, or NULL: the user's secret file */
    const char *w_ws_name;
    long        w_rank;
    int         w_workers; /* $NWS_SLEIGH_WORKERS, or -1 */
    int         w_verbose;
    int         w_keep;    /* may take several short tasks at once (nwsKeep) */
    nws_client *w_c;       /* tasks and results */
    nws_ws     *w_ws;
    nws_client *w_c2;      /* for task code (nws_task_ws), made on first use */
    nws_ws     *w_ws2;
};

struct nws_task_ctx {
    struct worker *tc_w;
    long           tc_index;
    const char    *tc_batch;
    int            tc_failed;
    char           tc_error[1024];
};

/* main.c: logs a line to stderr when verbose. */
void worker_log(const struct worker *w, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/*
 * task.c: runs the task in v (its metadata: batchId, nwsFirst, nwsCount)
 * and returns the result record as a new value, or NULL when out of memory.
 */
nws_value *task_run(struct worker *w, const nws_value *v);
/* Copies the failed-element count of result res (nwsErrors) onto task's metadata. */
void task_note_errors(nws_value *task, const nws_value *res);
/* task.c: closes the task connection and forgets loaded modules' symbols. */
void task_cleanup(struct worker *w);

/* command.c: process group of the command running now, or 0 (for signal handlers). */
extern volatile sig_atomic_t command_pgid;

/*
 * command.c: runs a command task for one element (args: its final argument
 * list; index -1 for eachWorker).  Returns the result object (new) and
 * sets *error to a new string (free()) when the element failed, or
 * returns NULL with *error set when the command could not be built.
 */
json_t *command_run(const struct worker *w, const json_t *task, const json_t *args,
                    long index, char **error);

/* cmdout.c: one stream of a command, in memory or spilled to a temp file. */
/* cmdout.c: the worker's own connection for values apart from tasks; NULL with err. */
nws_ws *cmdout_conn(const struct worker *w, nws_error *err);

/*
 * cmdin.c: --pipe: a command's stdin from its element's stdin argument (a
 * value's name, or a range of a local file).  Returns a descriptor for the
 * command's stdin, *feeder set to a process feeding it (or 0), or -1 with
 * *error set.  cmdin_done reaps the feeder.
 */
int  cmdin_open(const struct worker *w, const json_t *arg, pid_t *feeder, char **error);
void cmdin_done(pid_t feeder);

struct cmdout {
    char    *co_buf; /* in memory (up to co_spill bytes when spilling) */
    size_t   co_len, co_cap;
    int      co_fd;        /* the temporary file once spilled, or -1 */
    uint64_t co_total;     /* bytes kept */
    uint64_t co_max;       /* bytes kept at most */
    size_t   co_spill;     /* past this many bytes, to the file; 0: never */
    int      co_truncated; /* bytes past co_max were dropped */
    char     co_why[160];  /* why keeping failed, or "" */
};
void cmdout_init(struct cmdout *o, uint64_t max, size_t spill);
/* Keeps n more bytes (those past the cap are dropped). */
void cmdout_add(struct cmdout *o, const char *p, size_t n);
/*
 * Puts the stream into the result res as name (text), name_b64, or, when
 * spilled, stores it as a value of its own and sets name_var and
 * name_bytes.  0, or -1 with *error (new, may be NULL when out of memory).
 */
int cmdout_result(struct cmdout *o, const struct worker *w, json_t *res, const char *name,
                  char **error);
void cmdout_free(struct cmdout *o);
/* Closes the connection used for stored outputs. */
void cmdout_cleanup(void);

/*
 * cmdstream.c: a command's output sent to the master while it runs (task
 * "stream": VAR; the sleigh CLI's --line-buffer, --ungroup).  cmdstream_init
 * returns 1 if the task asks for it (0: it does not); cmdstream_add sends
 * n bytes read from fd (1, 2) as one piece, first waiting while
 * CMDSTREAM_INFLIGHT pieces are unanswered (on failure cs_why is set and
 * the rest is dropped); cmdstream_started sends an empty piece when the
 * task asks ("stream_start", for -v); cmdstream_end waits for every answer and puts
 * stream_id and stream_pieces into res: 0, or -1 with *error (new, may be
 * NULL when out of memory).
 */
#define CMDSTREAM_INFLIGHT 4
struct cmdstream {
    const struct worker *cs_w;
    int                  cs_on;
    int                  cs_start; /* an empty piece when the command starts */
    long                 cs_index;
    char                 cs_var[128]; /* the fifo the master reads */
    char                 cs_id[80];   /* this attempt */
    char                 cs_ack[112]; /* streamack@ID */
    uint64_t             cs_sent, cs_acked;
    char                 cs_why[160]; /* why streaming failed, or "" */
};
int  cmdstream_init(struct cmdstream *cs, const struct worker *w, const json_t *task,
                    long index);
void cmdstream_add(struct cmdstream *cs, int fd, const char *p, size_t n);
void cmdstream_started(struct cmdstream *cs);
int  cmdstream_end(struct cmdstream *cs, json_t *res, char **error);
/* Closes the connection used for streams. */
void cmdstream_cleanup(void);

/*
 * node.c: nws-worker --count N, the node launcher: takes count ranks,
 * runs that many workers (restarting those that die), reports on stdout,
 * and ends them all when stdin closes (watch_stdin) or on a stop signal.
 * Returns the exit status.
 */
int node_main(struct worker *w, int count, int watch_stdin, int output, int restart);

/*
 * output.c: sends our stdout and stderr, line by line, to output@<rank>
 * over a connection of its own (a thread).  0, or -1.
 */
int  output_start(struct worker *w);
/* Flushes what is left and stops the thread. */
void output_stop(void);

/*
 * watch.c: the pipe to the process that owns this worker (--watch-fd):
 * watch_start takes fd (< 0: none), 0 or -1; watch_begin says an element
 * with timeout seconds (0: none) starts, watch_end that it ended.
 */
int  watch_start(int fd);
void watch_begin(double timeout);
void watch_end(void);

/*
 * crash.c: crash_init installs the handler of fatal signals (0, or -1);
 * crash_arm prepares the error result of the task v about to run
 * (elements first..first+count-1), crash_disarm forgets it once the task
 * ended; crash_cleanup frees what arming kept.
 */
int  crash_init(struct worker *w);
void crash_arm(struct worker *w, const nws_value *v, long first, long count,
               const char *batch);
void crash_disarm(void);
void crash_cleanup(void);

/*
 * transfer.c: the files of a command task with "transfer" (the sleigh CLI's
 * --transferfile, --return, --basefile, --cleanup).  xfer_prepare makes the
 * worker's private directory and receives the element's files (and the
 * basefiles, once); the command then runs in xj_dir with xj_args (the
 * arguments without the transfer record).  0 (xj_on: 0 if the task moves
 * no files; xj_result: the result of the end task, which runs nothing),
 * or -1 with *error (new; the element fails, nothing ran).  xfer_finish
 * stores the --return files and puts "returned" into res, then cleans up:
 * 0, or -1 with *error (new, may be NULL when out of memory).
 */
struct xfer_job {
    int           xj_on;
    int           xj_cleanup;
    char          xj_dir[4096];
    int           xj_dirfd;
    const json_t *xj_desc;   /* the element's nwsTransfer record (in the caller's args) */
    json_t       *xj_args;   /* the arguments without it (new) */
    json_t       *xj_result; /* the end task's result (new) */
};
int  xfer_prepare(const struct worker *w, const json_t *task, const json_t *args,
                  struct xfer_job *j, char **error);
int  xfer_finish(const struct worker *w, struct xfer_job *j, json_t *res, char **error);
void xfer_job_free(struct xfer_job *j);
/* Closes the connection used for files. */
void xfer_cleanup(void);

#endif
