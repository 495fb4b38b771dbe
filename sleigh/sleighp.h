/*
 * sleighp.h -- private header of the Sleigh client (sleigh/), shared with
 * nws-worker (which links libnws.a, where the Sleigh's objects are built,
 * and so may use these hidden nwsp_ functions).
 *
 * Records (JSON text, descriptor 1; man/nws-worker.1 documents them):
 *
 *   task    {"kind": "call"|"command", <task keys>, "batch": ID,
 *            "first": F, "args": [[...], ...], "fixed": [...],
 *            "permute": [...], "each_worker": true}
 *           stored to `task` (or `broadcast`) with metadata batchId=ID,
 *           nwsFirst=F, nwsCount=len(args).
 *   result  {"first": F, "rank": R, "results": [{"value": V, "seconds": S}
 *            | {"error": TEXT, ["value": V,] "seconds": S}, ...]},
 *           or {"first": F, "rank": R, "values": [V, ...], "seconds": S}
 *           when every element of a function task succeeded, or, when
 *           the whole task failed, {"first": F, "count": N, "rank": R,
 *           "error": TEXT}.
 *   batch   {"elements": N, "tasks": T, "chunk": C, "ended": bool,
 *            "each_worker": bool} in variable `batch@ID` (single), for
 *           nws_sleigh_pending_attach.
 */
#ifndef SLEIGHP_H
#define SLEIGHP_H

#include <jansson.h>
#include <sys/types.h>

#include "nws.h"
#include "nws_json.h"
#include "nws_sleigh.h"
#include "util.h" /* clocks, base64, argv vectors */

/* Names in the sleigh workspace. */
#define NWSP_SLEIGH_TASK      "task"
#define NWSP_SLEIGH_BROADCAST "broadcast"
#define NWSP_SLEIGH_RESULT    "result"
#define NWSP_SLEIGH_BATCH_FMT "batch@%s"

/* Exit codes of nws-worker that tell a launcher not to start it again. */
#define NWSP_WORKER_EXIT_OK      0 /* the sleigh ended */
#define NWSP_WORKER_EXIT_USAGE   2 /* bad arguments */
#define NWSP_WORKER_EXIT_NOJOIN  3 /* could not reach or join the sleigh */

/* Default bytes of a command's stdout (and of its stderr) kept in a result. */
#define NWSP_SLEIGH_MAX_OUTPUT (1u << 20)

/* ---- sleigh_wire.c: requests sent now, replies read later ---------------- */

/* Sends a read op on ws/var with request metadata meta (may be NULL).  0, or -1. */
int nwsp_sleigh_send_get(nws_ws *ws, const char *var, enum nws_op op,
                         const nws_meta *meta, nws_error *err);
/* Sends a store of v (its metadata rides along).  0, or -1. */
int nwsp_sleigh_send_store(nws_ws *ws, const char *var, const nws_value *v,
                           nws_error *err);
/*
 * The same requests appended to a buffer, to send several with one write
 * (nwsp_sleigh_send_buf, which empties it).  A store carries request
 * metadata meta, or v's own when meta is NULL.  0, or -1.
 */
struct nwsp_buf;
int nwsp_sleigh_put_get(nws_ws *ws, struct nwsp_buf *b, const char *var, enum nws_op op,
                        const nws_meta *meta, nws_error *err);
int nwsp_sleigh_put_store(nws_ws *ws, struct nwsp_buf *b, const char *var,
                          const nws_value *v, const nws_meta *meta, nws_error *err);
int nwsp_sleigh_send_buf(nws_client *c, struct nwsp_buf *b, nws_error *err);
/* Reads the short reply of a store.  0, or -1. */
int nwsp_sleigh_read_short(nws_client *c, nws_error *err);
/*
 * Reads the long reply of a read op sent earlier, waiting up to timeout_ms
 * (-1: for ever) for its header.  Returns 1 and a new *out, 0 (a Try op
 * found nothing; try != 0), NWS_SLEIGH_TIMEOUT (nothing consumed), or -1.
 */
int nwsp_sleigh_read_value(nws_client *c, int try, int timeout_ms, nws_value **out,
                           nws_error *err);

/* ---- sleigh_record.c -------------------------------------------------------- */

/* Decodes a record's JSON (strings may hold NUL bytes): new reference, or NULL. */
json_t *nwsp_sleigh_decode(const nws_value *v);
/* Parses the decimal metadata entry key of m into *out; 0, or -1 if absent or bad. */
int nwsp_sleigh_meta_long(const nws_meta *m, const char *key, long *out);
/* Writes a fresh, printable, unique batch id into buf (at least 48 bytes). */
void nwsp_sleigh_batch_id(char *buf, size_t len, unsigned seq);
/* Seconds since the epoch (the monotonic clock is nwsp_mono, util.h). */
double nwsp_sleigh_now(void);

/* ---- sleigh_json.c: the records' JSON, without jansson's slow codec ------- */

/* Appends the compact JSON text of j to b; 0, or -1 (no memory, NaN, infinity). */
int nwsp_sleigh_json_put(struct nwsp_buf *b, const json_t *j);
/* j as a JSON text value (descriptor NWS_DESC_TEXT): new, or NULL. */
nws_value *nwsp_sleigh_encode(const json_t *j, nws_error *err);
/* Parses JSON text (any value, NUL bytes allowed in strings): new reference, or NULL. */
json_t *nwsp_sleigh_json_parse(const char *text, size_t len);
/*
 * Parses an object but leaves out key skip (an array), whose text goes to
 * *span, its item count to *nitems: new reference, or NULL when it cannot
 * (parse the text whole then).
 */
json_t *nwsp_sleigh_json_parse_except(const char *text, size_t len, const char *skip,
                                      const char **span, size_t *spanlen, size_t *nitems);
/* The items of an array's text, one at a time, without building them. */
struct nwsp_sleigh_items {
    const char *si_p, *si_end;
    int         si_started;
};
void nwsp_sleigh_items_init(struct nwsp_sleigh_items *it, const char *span, size_t len);
/* 1 and the next item's text, 0 after the last, -1 if malformed. */
int nwsp_sleigh_items_next(struct nwsp_sleigh_items *it, const char **item, size_t *len);
/* Replaces a's contents with the values of an array's text; 0, or -1 (use json_loadb). */
int nwsp_sleigh_json_fill(json_t *a, const char *text, size_t len);

/* ---- sleigh.c --------------------------------------------------------------- */

struct nwsp_launcher;

struct nws_sleigh {
    nws_client           *c;       /* control: submission, status, jobStatus */
    nws_ws               *ws;
    char                 *host;
    int                   port;
    int                   owner;   /* made by nws_sleigh_new: open ws owns it */
    int                   persistent;
    int                   stopped;
    unsigned              seq;     /* batch counter */
    long                  launched_workers;
    struct nwsp_launcher *launcher;
    nws_client           *pool[4]; /* idle result connections (`use ws` done) */
    size_t                npool;
    size_t                npending;
};

/* A connection with the workspace in use, from the pool or new; NULL. */
nws_client *nwsp_sleigh_conn_get(nws_sleigh *s, nws_ws **ws, nws_error *err);
/* Gives a connection back (idle, nothing in flight), or closes it. */
void nwsp_sleigh_conn_put(nws_sleigh *s, nws_client *c, nws_ws *ws, int reusable);
/* Registered workers (rankCount), or -1. */
long nwsp_sleigh_rank_count(nws_sleigh *s, nws_error *err);
/*
 * A call of the master failed: when libnws lost a session (NWS_ERR_SESSION),
 * says what that means for the sleigh (its workspace and results are gone).
 * Returns rc, so that `return nwsp_sleigh_lost(rc, err);` ends a public call.
 */
int nwsp_sleigh_lost(int rc, nws_error *err);

/* ---- sleigh_watch.c: a worker's messages to the process that owns it ------ */

/*
 * Seconds the owner of a worker (local launcher, node launcher) waits past
 * an element's timeout before it kills the worker: a worker that is alive
 * ends a command itself at the timeout and reports it with its output.
 */
#define NWSP_TIMEOUT_GRACE_S 0.5
/* After the SIGTERM of a timeout, seconds until SIGKILL. */
#define NWSP_TIMEOUT_TERM_S 1.0
/* The si_value.sival_int of the SIGTERM an owner queues at a timeout. */
#define NWSP_TIMEOUT_SIGVAL 0x6e777374

/*
 * The reading end of a worker's watch pipe (worker/watch.c has the
 * messages).  ww_deadline: the monotonic second after which the worker
 * is to be killed, 0 for none; ww_took: it ran a task once.
 */
struct nwsp_watch {
    int    ww_fd;       /* -1: none */
    char   ww_line[64];
    size_t ww_len;
    double ww_deadline;
    int    ww_took;
};

/* Reads what the pipe has (non-blocking); 1 at end of file or error, else 0. */
int nwsp_watch_read(struct nwsp_watch *ww);
/*
 * Acts on a watched worker's deadline at monotonic time now: SIGTERM (with
 * SIGCONT, so a stopped worker takes it) once the deadline passed, SIGKILL
 * NWSP_TIMEOUT_TERM_S later.  *term_at: 0, or when SIGTERM was sent.
 * Returns 1 when a signal was sent now.
 */
int nwsp_watch_enforce(struct nwsp_watch *ww, pid_t pid, double now, double *term_at);

/* ---- sleigh_halt.c ---------------------------------------------------------- */

/*
 * 1 if a batch with these counts (errors among collected results; nelems
 * elements) is to halt under h, else 0.
 */
int nwsp_sleigh_halt_hit(const nws_sleigh_halt *h, size_t errors, size_t collected,
                         size_t nelems);

/* ---- sleigh_xfer.c: file paths of the sleigh CLI's file transfers ---------- */

/*
 * The part of a transfer path that is placed under the receiving
 * directory: what follows the first "/./" (GNU parallel's rsync rule), or
 * the whole path.
 */
const char *nwsp_xfer_rel(const char *path);
/*
 * 0 if rel may be placed under a directory without leaving it: not empty,
 * not absolute, no ".." component, no empty component at the end (a
 * directory).  Else -1 with the reason in why.
 */
int nwsp_xfer_check(const char *rel, char *why, size_t len);
/*
 * Opens rel (checked) under directory dirfd, walking it one component at a
 * time without following symbolic links, so nothing outside dirfd is ever
 * reached.  With O_CREAT in flags, missing directories are made (0700).
 * Returns the descriptor, or -1 with errno.
 */
int nwsp_xfer_open(int dirfd, const char *rel, int flags, mode_t mode);
/*
 * Removes rel under dirfd (no link followed), then its parent directories
 * up to dirfd while they are empty.  0, or -1 with errno.
 */
int nwsp_xfer_unlink(int dirfd, const char *rel);
/*
 * Makes rel under dirfd (missing directories made, no link followed) a
 * hard link to the open file fd; an existing rel is left as it is.  0, or
 * -1 with errno.
 */
int nwsp_xfer_link(int fd, int dirfd, const char *rel);

#endif
