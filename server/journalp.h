/*
 * journalp.h -- the journal's private state, shared by journal.c (writer,
 * hooks), journal_spool.c (value files in DIR) and journal_dir.c (the
 * directory, replay, compaction, the check tool).
 */
#ifndef NWS_JOURNALP_H
#define NWS_JOURNALP_H

#include <sys/types.h>

#include "journal.h"
#include "session.h"

/* Record types of plain workspaces (1..39): fields in journal.c's hooks. */
enum {
    J_WS_CREATE = 1, /* ws, u64 id, str meta */
    J_WS_DELETE,     /* ws */
    J_WS_OWNER,      /* ws, u8 has, str owner, u8 persistent */
    J_VAR_NEW,       /* ws, var, str id */
    J_VAR_DECLARE,   /* ws, var, u8 mode */
    J_VAR_DELETE,    /* ws, var */
    J_STORE,         /* ws, var, value: as a store does */
    J_TAKEN,         /* ws, var: a store went straight to a fetcher */
    J_FETCH,         /* ws, var: a fetch removed the value it would */
    J_REQUEUE,       /* ws, var, u64 index, value: requeue.c put it back */
    J_VAR_STATE,     /* snapshot: ws, var, str id, u8 mode, u64 base */
    J_VALUE,         /* snapshot: ws, var, value appended as is */
    J_COUNTER,       /* snapshot: u64 srv.counter */
};

/*
 * Record types of sessions (40..47, server/session_journal.c; SESSIONS.md 4).
 * Every record starts with the session's id (16 hex digits, str).
 */
enum {
    J_SESS_NEW = 40, /* id, tokhash (32 bytes, str), u32 flags, u64 last, u64 acked */
    J_SESS_END,      /* id: ended (end session, expiry): forgotten */
    J_SESS_REPLY,    /* id, u64 seq, u64 ack, str pre, u8 has value [, value]: a kept
                        reply, and the session's ack when it was made */
    J_SESS_ACK,      /* id, u64 ack: kept replies up to ack are dropped */
    J_SESS_MAP,      /* id, ws, u64 instance id, u8 how (SESSION_MAP_*; 0: forgotten) */
};

/* jrec_value's flags. */
#define JV_FILE  0x1 /* the bytes are a file in DIR */
#define JV_META  0x2 /* metadata follows */
#define JV_DESC8 0x4 /* the type descriptor is one byte */

#define JOURNAL_CHUNK      (8ull * 1024 * 1024) /* space reserved at a time */
#define JOURNAL_SLACK      (256 * 1024) /* kept free for records that cannot be refused */
#define JOURNAL_INLINE_MAX (64ull * 1024 * 1024) /* larger values are spooled */

struct journal {
    int      active;
    int      replaying;
    int      dirfd;
    int      lockfd;
    int      fd;       /* the incremental journal being appended */
    uint64_t seq;      /* the last number used for base.N / incr.N */
    char     incr[32]; /* its name */
    char     base[32]; /* the snapshot's name, "" if none */
    char incr_old[32]; /* while compacting: the journal the child's snapshot replaces */
    uint64_t size;     /* bytes written to fd */
    uint64_t reserved; /* bytes of fd allocated (fallocate) */
    int      no_prealloc;
    int      stopping; /* journal_stopping(): values freed now were not consumed */
    struct {
        uint8_t *p;
        size_t   len, cap;
    } pend;               /* records of this turn, not written yet */
    int         unsynced; /* written, not fdatasync'd */
    struct jrec rec;      /* scratch for the hooks */
    int         failing;
    double      retry_at;
    char        error[128];
    uint64_t    records;
    uint64_t    base_bytes;
    double      last_fsync, last_snapshot;
    uint64_t    snapshots;
    /* compaction */
    pid_t    child;
    uint64_t child_seq;
    double   child_started;
    int      sink_fd; /* in the child: the snapshot being written, else -1 */
    struct {
        uint8_t *p;
        size_t   len;
    } sinkbuf;
    /* spool files: see journal_spool.c */
    size_t   nsync;      /* files written and not synced yet */
    uint64_t spool_next; /* the next file id */
    /* the sleigh type's records */
    journal_apply_fn    sleigh_apply;
    journal_snapshot_fn sleigh_snap;
    struct event       *tick_ev;
    struct event       *grace_ev;
};
extern struct journal j;

double journal_now(void);
int    journal_write_pending(void);
void   journal_sync(void);
void   journal_tick(void);
int    journal_pwrite_all(int fd, const void *p, size_t n, uint64_t off);

int journal_prealloc_now(void);

/* journal_spool.c */
void          journal_spool_need_sync(const struct value *);
int           journal_spool_parse(const char *name, uint64_t *id);
struct value *journal_spool_value(uint64_t id, int64_t desc, const char *meta,
                                  size_t metalen, uint64_t len);
void          journal_spool_sync(void);
void          journal_spool_unlink_durable(void);
int           journal_spool_known(uint64_t id);
size_t        journal_spool_ghosts(void);
void          journal_spool_drop_ghosts(void);

/* journal_dir.c */
int  journal_sink_write(const void *p, size_t n);
void journal_compact_maybe(void);
void journal_compact_poll(void);

/* session_journal.c: replay of records 40..47, the sessions rebuilt at its
 * end, their snapshot, and whether a restored session owns a workspace. */
int  session_journal_apply(uint8_t type, struct jreader *, char *err, size_t errlen);
void session_journal_replay_done(void);
int  session_journal_snapshot(void);
void session_journal_flush(void); /* acks deferred in this turn: their records */
int  session_journal_owns(const struct ws *);

#endif
