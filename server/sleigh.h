/*
 * sleigh.h -- private header of the server's sleigh workspace type, shared
 * by sleigh.c (lifecycle: creation, the join phase, sentinels, worker
 * registration, connections going away, web views), sleigh_vars.c (the
 * special variables: one table, a function per variable and direction) and
 * sleigh_tasks.c (the task queue, requeue, timeouts, batches and their
 * results).  Nothing outside server/sleigh*.c includes it: the rest of the
 * server sees only the "sleigh.c" section of server.h.
 */
#ifndef NWS_SERVER_SLEIGH_H
#define NWS_SERVER_SLEIGH_H

#include "server.h"
#include "session.h"
#include "util.h"

#define SLEIGH_RETRIES      3
#define SLEIGH_DURATION_MS  60000
#define SLEIGH_REFRESH_MS   60000
#define SLEIGH_REFRESH_MIN_MS 1000  /* a shorter sentinelRefreshPeriod only burns CPU */
#define SLEIGH_GRACE_MS     300000
#define SLEIGH_KEEP_MAX     256
#define SLEIGH_HISTORY      16 /* collected batches remembered (counts only) */
/* w_arg of a result waiter whose session is detached: it is not served. */
#define SLEIGH_WAITER_DETACHED 1

enum sleigh_join { JOIN_OPEN, JOIN_JOINING, JOIN_CLOSED };

/* The special variables, in the order of sleigh_vars[] (sleigh_vars.c). */
enum {
    SV_VERSION,
    SV_PLUGIN_VERSION,
    SV_WORKER_COUNT,
    SV_RANK_COUNT,
    SV_JOIN_STATUS,
    SV_STATUS,
    SV_WAIT,
    SV_WORKER_IDS,
    SV_SENTINEL,
    SV_TASK,
    SV_BROADCAST,
    SV_RESULT,
    SV_JOB_STATUS,
    SV_FIXEDARG,
    SV_AGENT,
    SV_SCOREBOARD,
    SV_MAX
};


struct sleigh_batch;

struct sleigh_task {
    TAILQ_ENTRY(sleigh_task) t_link;
    struct value        *t_value;    /* bytes and the storing request's metadata */
    struct sleigh_batch *t_batch;
    unsigned             t_deaths;   /* workers that died running it */
    int                  t_broadcast;
    int                  t_suspect;  /* its worker died holding others too: run alone */
    /* A task with a timeout (metadata nwsTimeout), while it runs: sleigh_timeout_*. */
    struct event        *t_timer;
    struct sleigh       *t_sleigh;
    struct sleigh_worker *t_worker;
    double               t_started;  /* monotonic seconds it was handed out */
    double               t_limit;    /* seconds it may run (every element's), 0: none */
    double               t_elem_limit; /* nwsTimeout: one element's, for the error text */
    int                  t_parsed;   /* t_limit was read from the metadata */
    uint64_t              t_seq;      /* its name in the journal (sleigh_journal.c) */
    struct sleigh_worker *t_runner;   /* the worker running it, NULL while queued */
};
TAILQ_HEAD(task_list, sleigh_task);

struct sleigh_result {
    TAILQ_ENTRY(sleigh_result) r_link;
    struct value *r_value;
};

struct sleigh_batch {
    char    *b_id;
    size_t   b_idlen;
    uint64_t b_queued, b_running, b_done;
    uint64_t b_failed;    /* elements whose result is an error */
    size_t   b_kept;      /* broadcast templates kept for workers joining later */
    int      b_ended;     /* its submitter's record says every task is in */
    int      b_collected; /* every result was taken: only its counts remain */
    char    *b_record;    /* the variable holding that record, or NULL */
    time_t   b_started;   /* when its first task came */
    char     b_what[SLEIGH_WHAT_MAX];   /* its function or command, "" if unknown */
    /*
     * Its elements by index (the nwsFirst of their task): the task while it
     * is queued or running; once its result came, a bit of b_done_bits (an
     * index in decimal below SLEIGH_DONE_BITS_MAX), else an entry
     * SLEIGH_ELEM_DONE.  A task stored again for an index it has, and a
     * result for an index already done, are duplicates: answered OK and
     * dropped (sleigh_elem_*).  A bit an element: a long batch's done set
     * stays small.
     */
    struct htab b_elems;
    uint8_t    *b_done_bits;
    size_t      b_done_cap;  /* bytes */
    uint64_t    b_dups;      /* duplicate tasks and results dropped */
    int         b_restarted; /* it lived through a restart (rebuilt by the replay) */
    TAILQ_HEAD(, sleigh_result) b_results;
    TAILQ_ENTRY(sleigh_batch) b_hist; /* while collected: s_history */
};
TAILQ_HEAD(batch_list, sleigh_batch);

struct sleigh_worker {
    struct conn        *sw_conn;
    long                sw_rank;
    struct task_list    sw_copies;   /* broadcast copies not taken yet */
    struct task_list    sw_running;  /* taken, no result yet; oldest first */
    size_t              sw_nrunning;
    uint64_t            sw_done;
    int                 sw_detached; /* its session waits: no task is handed to it */
    char                sw_sid[SESSION_ID_HEX + 1]; /* its session's id, "" if none */
};

struct sleigh {
    struct ws             *s_ws;
    LIST_ENTRY(sleigh)     s_link;
    enum sleigh_join       s_join;
    int                    s_status_join; /* the join phase was started by status */
    long                   s_max;         /* expected workers, -1 until known */
    long                   s_allocated;   /* ranks handed out by worker_ids fetch */
    long                   s_registered_ever;
    long                   s_duration_ms;
    long                   s_refresh_ms;
    long                   s_grace_ms; /* workerGracePeriod */
    unsigned               s_retries;
    int                    s_shutdown;
    struct event          *s_join_timer;
    struct event          *s_refresh_timer;
    struct event          *s_grace_timer;
    struct task_list       s_tasks;       /* unicast, FIFO */
    size_t                 s_ntasks;      /* unicast + untaken broadcast copies */
    size_t                 s_nresults;
    struct task_list       s_broadcasts;  /* kept for workers that join later */
    struct sleigh_worker **s_workers;
    size_t                 s_nworkers;
    struct conn          **s_sentinels;
    size_t                 s_nsentinels;
    struct htab            s_batches;     /* live batches and s_history */
    struct batch_list      s_history;     /* collected, oldest first */
    size_t                 s_nhistory;
    char                 **s_reap;        /* record variables to delete */
    size_t                 s_nreap;
    struct event          *s_reap_timer;
    unsigned               s_fixedarg;
    struct var            *s_v[SV_MAX];
    /* The journal (sleigh_journal.c). */
    uint64_t         s_seq;   /* the last task name given */
    struct task_list s_lost;  /* replayed broadcast copies: their worker is gone */
    struct htab      s_byseq; /* while replaying: seq -> queued task */
    /* Workers of sessions the journal names: session id -> rank + 1 (as a
     * pointer), bound again once their session is back (sj_rebind). */
    struct htab s_rebind;
};

/* sleigh.c: lifecycle, join phase, sentinels, registration. */
long sleigh_parse_ms(const char *p, size_t len);
long sleigh_parse_long(const char *p, size_t len, int *ok);
int  sleigh_meta(const struct request *, const char *key, const char **val, size_t *len);
struct sleigh_worker *sleigh_worker_of(struct sleigh *, struct conn *);
struct sleigh_worker *sleigh_worker_req(struct sleigh *, struct conn *);
int                   sleigh_is_sentinel(struct sleigh *, struct conn *);
void                  sleigh_start_join(struct sleigh *, long delay_ms, int by_status);
void                  sleigh_check_full(struct sleigh *);
void                  sleigh_close_group(struct sleigh *);
void                  sleigh_shutdown(struct sleigh *);
enum cmd_ret          sleigh_register(struct request *, struct sleigh *, struct value *);
struct sleigh_worker *sleigh_worker_add(struct sleigh *, struct conn *, long rank);

/*
 * sleigh_vars.c: the special variables.  Entry i of sleigh_vars[] is s_v[i]
 * of every sleigh (SV_* above).  A NULL store answers "Store is not
 * supported for this variable."; get is never NULL.
 */
struct sleigh_var {
    const char *name;
    int         hidden; /* listings leave it out unless asked */
    /* v: the stored value; text: its first 31 bytes as a string ("" if spooled) */
    enum cmd_ret (*store)(struct request *, struct sleigh *, struct value *v,
                          const char *text);
    enum cmd_ret (*get)(struct request *, struct sleigh *, struct var *, int remove,
                        int blocking);
};
extern const struct sleigh_var sleigh_vars[SV_MAX];
/* The var.c hooks of every special variable (sleigh_new sets them). */
extern const struct var_hooks sleigh_var_hooks;

/*
 * sleigh_tasks.c: the task queue, requeue, timeouts, batches and results.
 *
 * The requeue rule.  Tasks are never lost while a worker can still run
 * them:
 * - A worker whose connection drops puts its running tasks back at the
 *   front of the queue, in the order it took them (sleigh_worker_lost).
 *   With a session, that happens when the connection is lost (the
 *   session detaches: sleigh_worker_detached), while the worker keeps its
 *   rank, its untaken broadcast copies (a running copy goes back to them)
 *   and its registration until the session ends; a result it sends after
 *   resuming is still accepted once (sleigh_result_elem).
 * - After s_retries deaths (the workspace's "retries" metadata, default
 *   SLEIGH_RETRIES) a task does not go back: it ends as an error result
 *   (metadata nwsNull=1 and nwsError "worker N died running this task").
 * - A dead worker's untaken broadcast copies become such error results at
 *   once: a copy belongs to that worker and nobody else can run it.
 * - A worker that dies holding several tasks (nwsKeep) cannot tell which
 *   killed it: all go back without a death counted, marked suspect, and a
 *   suspect task only ever runs alone, so each later death is charged to
 *   exactly the task that ran and the retry limit keeps its meaning.
 * - A task past its nwsTimeout (times its nwsCount) when its worker dies,
 *   or when its timer fires, fails "timed out after N s" and is not run
 *   again (sleigh_timeout_*).
 * - A fetch of task without nwsKeep=1 puts every task the connection still
 *   runs back first (sleigh_requeue) and hands them to waiting workers.
 * - nwsKeep=1 takes one more task, up to SLEIGH_KEEP_MAX per connection,
 *   never next to a suspect or timed task, nor while another registered
 *   worker waits for one.
 * - With the group closed and no worker left, queued tasks fail at once
 *   (sleigh_fail_orphans).
 */
struct sleigh_batch *sleigh_batch(struct sleigh *, const char *id, size_t len);
/* An element whose result came (the value of b_elems entries). */
extern struct sleigh_task *const SLEIGH_ELEM_DONE;
#define SLEIGH_DONE_BITS_MAX (1u << 26) /* an 8 MiB bitmap at most; past it: b_elems */
int  sleigh_task_first(const struct sleigh_task *, const char **first, size_t *len);
void sleigh_elem_put(struct sleigh_task *);
void sleigh_elem_done(struct sleigh_batch *, const char *first, size_t len);
/* The task of element first, SLEIGH_ELEM_DONE, or NULL when b never had it. */
struct sleigh_task *sleigh_elem_get(struct sleigh_batch *, const char *first, size_t len);
/* Calls fn with each done element's index (decimal text). */
void                 sleigh_elem_foreach_done(const struct sleigh_batch *,
                                              void (*fn)(const char *, size_t, void *), void *arg);
void                 sleigh_elem_clear(struct sleigh_batch *);
void                 sleigh_batch_what(struct sleigh_batch *, const struct value *);
struct sleigh_batch *sleigh_rq_batch(struct sleigh *, const struct request *);
struct sleigh_batch *sleigh_rq_batch_find(struct sleigh *, const struct request *,
                                          const char **id, size_t *len);
struct sleigh_task *sleigh_task_new(struct value *, struct sleigh_batch *, int broadcast);
void                sleigh_task_free(struct sleigh_task *);
void                sleigh_batch_free(struct sleigh_batch *);
void                sleigh_reap_cb(evutil_socket_t fd, short what, void *arg);
int                 sleigh_batch_empty(const struct sleigh_batch *);
void                sleigh_batch_settle(struct sleigh *, struct sleigh_batch *);
void                 sleigh_batch_retire(struct sleigh *, struct sleigh_batch *);
const char         *sleigh_batch_state(const struct sleigh_batch *);
void                sleigh_record_stored(struct sleigh *, struct var *);
int                 sleigh_timeout_has(struct sleigh_task *);
void                sleigh_fail_orphans(struct sleigh *);
struct sleigh_task *sleigh_next_task(struct sleigh *, struct sleigh_worker *);
void                sleigh_requeue(struct sleigh *, struct sleigh_worker *);
void                sleigh_worker_lost(struct sleigh *, struct sleigh_worker *);
void                 sleigh_worker_detached(struct sleigh *, struct sleigh_worker *);
int                 sleigh_other_waits(struct sleigh *, struct conn *);
void                 sleigh_result_resumed(struct sleigh *, struct waiter *);
void                sleigh_dispatch(struct sleigh *);
enum cmd_ret        sleigh_result(struct request *, struct sleigh *, struct value *);
int  sleigh_add_result(struct sleigh *, struct sleigh_batch *, struct value *);
void sleigh_fail_task(struct sleigh *, struct sleigh_task *, long rank, const char *why);
void sleigh_drop_templates(struct sleigh *);

/*
 * sleigh_journal.c: a sleigh's tasks, results and batches in the journal
 * (--journal).  The mutations below call these after they change the state
 * (sj_reserve before, to refuse a mutation the journal cannot take); each
 * is a no-op without a journal and while replaying.  Workers are
 * connections and do not survive a restart: a task that was running is
 * only ever journaled as queued and then done, so on replay it is queued
 * again.
 */
int  sj_reserve(const struct value *, size_t copies);
void sj_batch(struct sleigh *, const struct sleigh_batch *);
void sj_task(struct sleigh *, const struct sleigh_task *);
void sj_bcast(struct sleigh *, const struct sleigh_batch *, const struct value *,
              int kept, const uint64_t *seqs, size_t n);
void sj_done(struct sleigh *, uint64_t seq, uint64_t failed, const struct value *kept);
void sj_take(struct sleigh *, const struct sleigh_batch *);
void sj_result(struct sleigh *, const struct sleigh_batch *, const struct value *);
void sj_end(struct sleigh *, const struct sleigh_batch *);
void sj_drop(struct sleigh *);
void sj_state(struct sleigh *);
void sj_forget(struct sleigh *);
void sj_replayed(struct sleigh *);
void sj_worker(struct sleigh *, const struct sleigh_worker *);
void sj_worker_gone(struct sleigh *, const struct sleigh_worker *);
int  sj_rebind(struct sleigh *, struct conn *);

#endif
