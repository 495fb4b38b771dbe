/*
 * journal.h -- the durable state of nwsserver (--journal DIR): issue 14.
 *
 * DIR holds:
 *
 *   MANIFEST        "nwsj 1\nbase <name>\nincr <name>\n...": the snapshot
 *                   ("-": none) and the incremental journals replayed after
 *                   it, in order (more than one while a compaction runs, or
 *                   after one failed); the last is appended to.  Replaced by
 *                   a temp file renamed over it, then DIR is fsync'd, so a
 *                   crash leaves either the old or the new manifest.
 *   base.<N>        a snapshot: records rebuilding the whole state.
 *   incr.<N>        the incremental journal: records of every mutation since
 *                   the snapshot, appended.
 *   v<ID>.val       a spooled value's bytes (exactly the value); records refer
 *                   to it by ID and never copy it.  Removed once the value is
 *                   gone and its consumption durable.
 *   LOCK            flock'd by the running server.
 *
 * Anything else there (temp files, journals and snapshots the manifest does
 * not name, value files no record refers to) is stale and removed at start.
 *
 * Records (journalp.h lists the types) name workspaces and variables by
 * name and carry values whole: J_STORE, J_FETCH (the value a fetch in
 * that mode takes), J_TAKEN (a store handed straight to a waiting fetcher),
 * J_REQUEUE (requeue.c put a fetched value back), workspace create/delete/
 * owner, variable new/declare/delete; a snapshot has J_VAR_STATE and
 * J_VALUE instead.  Replay applies them with the live code paths (no
 * waiters exist then), so it ends in the state that was acknowledged.
 * A value is inline up to 64 MiB (larger ones are always spooled to a
 * file with --journal).
 *
 * Both kinds of file are an 8-byte header "NWSJ\0\0\0\1" then records:
 *
 *   u32 len | u32 crc32c(type..end) | u32 crc32c(the 8 bytes before) | u8 type | payload
 *
 * (little endian); len counts the type byte and the payload.  The header
 * has its own checksum so that a damaged length is told from a tear: a
 * tail shorter than a header, or a valid header whose record runs past the
 * end of the file, is a torn tail (a crash mid-write): cut, with a log
 * line.  A header with a bad checksum (unless only zeros follow: a tail
 * the file system extended but never filled), or a record with a bad
 * checksum that is not the file's last, is corruption: the server refuses
 * to start (unless --journal-ignore-corrupt) since the records after it
 * cannot be trusted.  A bad checksum on the very last record, ending
 * exactly at the end of the file, is a torn write too.
 *
 * Ordering: mutations append records to an in-memory buffer; at the end of
 * each turn of the event loop journal_turn_end() writes the buffer (and with
 * --fsync always fdatasync's it, once for the whole turn) BEFORE the turn's
 * replies are flushed (conn_flush_pending; a closing or paused conn's too),
 * so no reply of a mutation leaves before its record.  Not yet over TLS:
 * libevent's TLS bufferevent writes a reply as soon as it is queued.
 * With everysec a timer fdatasync's once a second; with no, the kernel does.
 *
 * Space: the journal file is extended ahead in chunks (fallocate, growing
 * its size: zeros after the last record, so that a write never changes the
 * file's size and an fdatasync has no size to commit; the reader stops at
 * a record boundary followed by zeros only, and a clean stop cuts them),
 * and a mutation first asks journal_reserve() for room: when
 * the disk is full it is refused before anything is changed, and a write
 * into reserved space cannot fail with ENOSPC.  Reserving is retried later
 * so writes resume when space returns.
 *
 * Compaction: when the journal passes --journal-compact-factor times the
 * last snapshot (and --journal-compact-min bytes), the parent makes a new
 * incremental file, adds it to the manifest's chain (old snapshot, old
 * journal, new journal), forks, and goes on appending to the new file; the
 * child (which dies with the parent) writes the state as of the fork into
 * base.<N>.tmp, syncs it and exits; on its success the parent renames it,
 * writes the manifest naming the new snapshot and the new journal only,
 * then removes the old files.  A crash at any point finds one of the two
 * manifests with every file it names whole.  Value files are not removed
 * while a child runs (its snapshot may name them).
 */
#ifndef NWS_JOURNAL_H
#define NWS_JOURNAL_H

#include <stddef.h>
#include <stdint.h>

#include "server.h"

enum journal_fsync { JOURNAL_FSYNC_NO, JOURNAL_FSYNC_EVERYSEC, JOURNAL_FSYNC_ALWAYS };

struct journal_stats {
    int                active;
    enum journal_fsync policy;
    const char        *dir;
    uint64_t           bytes;         /* the incremental journal's size */
    uint64_t           base_bytes;    /* the last snapshot's size */
    uint64_t           records;       /* records written since start */
    double             last_fsync;    /* wall-clock seconds, 0: never */
    double             last_snapshot; /* wall-clock seconds, 0: never */
    uint64_t           snapshots;     /* compactions done since start */
    int                compacting;    /* a child is writing a snapshot now */
    int                failing;       /* mutations refused: the last write failed */
    char               error[128];    /* why, when failing */
};
void journal_get_stats(struct journal_stats *);
int  journal_active(void);

/* Options (main.c sets them before journal_open). */
struct journal_opts {
    const char        *dir; /* NULL: no journal */
    enum journal_fsync policy;
    int                ignore_corrupt;
    int                resume_grace; /* seconds */
    double             compact_factor;
    uint64_t           compact_min; /* bytes */
};
#define JOURNAL_COMPACT_FACTOR_DEF 2.0
#define JOURNAL_COMPACT_MIN_DEF    (64ull * 1024 * 1024)
#define JOURNAL_RESUME_GRACE_DEF   60
extern struct journal_opts journal_opts;
/* "always", "everysec", "no": 0, or -1. */
int journal_fsync_parse(const char *, enum journal_fsync *);
/* Opens (creating) DIR, replays it into the workspaces (after ws_init),
 * cleans stale files: 0, or -1 (logged: do not start). */
int journal_open(void);
/* Why journal_open refused, in a few words. */
const char *journal_open_error(void);
/* With srv.base made (after any daemon fork): the journal's timers. */
void journal_start(void);
/* The turn of the event loop ends: write (and sync) before replies leave.
 * -1: the records could not be written (synced): hold the replies. */
int journal_turn_end(void);
/* Clean shutdown, first step (before the conns go): values freed from now
 * on are not consumed, their files stay (a session's kept reply still names
 * its held value's file).  Then journal_close(). */
void journal_stopping(void);
/* Clean shutdown: write, sync and close. */
void journal_close(void);
/* --journal-check DIR [--fix]: the exit status (0 loadable, 1 not). */
int journal_check(const char *dir, int fix);

/* A record: a type byte and fields appended by these. */
struct jrec {
    uint8_t *buf;
    size_t   len, cap;
};
void jrec_begin(struct jrec *, uint8_t type);
void jrec_u8(struct jrec *, uint8_t);
void jrec_u32(struct jrec *, uint32_t);
void jrec_u64(struct jrec *, uint64_t);
void jrec_str(struct jrec *, const void *, size_t);
/* bytes inline, or a reference to its file in DIR */
void jrec_value(struct jrec *, const struct value *);
/* Before applying a mutation: -1 when the journal cannot take N more bytes
 * (disk full, failed write): refuse the mutation with journal_error(). */
int journal_reserve(size_t n);
/* The journal bytes a record holding v takes (its bytes unless it is spooled). */
size_t      journal_value_room(const struct value *);
const char *journal_error(void);
/* Append a finished record to the current sink (the journal; the snapshot
 * file inside a compaction child); frees nothing; -1 on failure. */
int  journal_emit(struct jrec *);
void jrec_free(struct jrec *);

/* Reading during replay. */
struct jreader {
    const uint8_t *p;
    size_t         len, off;
    int            bad;
};
uint8_t       jr_u8(struct jreader *);
uint32_t      jr_u32(struct jreader *);
uint64_t      jr_u64(struct jreader *);
const void   *jr_str(struct jreader *, size_t *len);
struct value *jr_value(struct jreader *); /* NULL + r->bad on error */

/*
 * Record types 1..39 belong to journal (plain workspaces), 40..47 to
 * sessions (server/session_journal.c), 64..127 to the sleigh workspace
 * type (server/sleigh_journal.c).
 */
typedef int (*journal_apply_fn)(uint8_t type, struct jreader *, char *err, size_t errlen);
typedef int (*journal_snapshot_fn)(
    struct ws *); /* emit records rebuilding ws's typed state */
void journal_register_sleigh(journal_apply_fn apply, journal_snapshot_fn snap);

/* 1 while replaying: mutations then must not be journaled again. */
int journal_replaying(void);

/*
 * Hooks called by ws.c, var.c, requeue.c, conn.c, value.c (no-ops without
 * --journal or while replaying).  Each builds one record and emits it.
 */
void journal_ws_create(const struct ws *, const char *meta, size_t metalen);
void journal_ws_delete(const struct ws *);
void journal_ws_owner(const struct ws *);     /* owner text changed */
void journal_var_new(const struct var *);     /* a variable was made */
void journal_var_declare(const struct var *); /* its mode was set */
void journal_var_delete(const struct ws *, const char *name, size_t len);
void journal_store(const struct var *, const struct value *);
void journal_taken(const struct var *); /* a store went to a fetcher */
void journal_fetch(const struct var *); /* a fetch removed a value */
void journal_requeue(const struct var *, const struct value *, uint64_t index);

/* Spooled values in DIR: an fd for a new spool file (-1: use tmpdir). */
int journal_spool_open(void);
/* The value was made from fd: remember its file id (value.c). */
uint64_t journal_spool_claim(int fd);
/* A spooled value with a file id is freed: remove its file once durable. */
void journal_spool_release(uint64_t id);
/* A value of replay whose file was missing (VALUE_GHOST) is freed. */
void journal_spool_ghost_gone(void);

/* Format helpers shared with the check tool and tests (journal_fmt.c). */
uint32_t journal_crc32c(uint32_t crc, const void *, size_t);
uint32_t journal_le32(const uint8_t *);
void     jrec_seal(struct jrec *); /* fill the length and checksum */
enum { JREC_OK, JREC_TORN, JREC_BAD, JREC_BADHDR };
int journal_rec_check(const uint8_t *buf, size_t size, size_t off, size_t *reclen);
#define JOURNAL_MAGIC     "NWSJ\0\0\0\1"
#define JOURNAL_MAGIC_LEN 8
#define JOURNAL_RECHDR    12         /* len, crc, header crc */
#define JOURNAL_HDR       13         /* ... and the type */
#define JOURNAL_MAX_REC   (1u << 31) /* larger values are spooled with --journal */

#endif
