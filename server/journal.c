/*
 * journal.c -- the journal's writer: records of mutations buffered per turn
 * of the event loop, written (and synced by the policy) before the turn's
 * replies leave; space reserved ahead; spooled values' files in DIR; the
 * hooks the rest of the server calls.  Layout and ordering: journal.h.
 * Replay, the directory, compaction: journal_dir.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "journal.h"
#include "journalp.h"

struct journal_opts journal_opts = {
    .policy = JOURNAL_FSYNC_EVERYSEC,
    .resume_grace = JOURNAL_RESUME_GRACE_DEF,
    .compact_factor = JOURNAL_COMPACT_FACTOR_DEF,
    .compact_min = JOURNAL_COMPACT_MIN_DEF,
};

struct journal j;

/* Wall-clock seconds. */
double
journal_now(void)
{
    struct timeval tv;

    gettimeofday(&tv, NULL);
    return (double)tv.tv_sec + (double)tv.tv_usec / 1e6;
}

int
journal_active(void)
{
    return j.active;
}

int
journal_replaying(void)
{
    return j.replaying;
}

const char *
journal_error(void)
{
    return j.error[0] != '\0' ? j.error : "journal write failed";
}

void
journal_get_stats(struct journal_stats *st)
{
    memset(st, 0, sizeof(*st));
    st->active = j.active;
    st->policy = journal_opts.policy;
    st->dir = journal_opts.dir;
    st->bytes = j.size + j.pend.len;
    st->base_bytes = j.base_bytes;
    st->records = j.records;
    st->last_fsync = j.last_fsync;
    st->last_snapshot = j.last_snapshot;
    st->snapshots = j.snapshots;
    st->compacting = j.child > 0;
    st->failing = j.failing;
    snprintf(st->error, sizeof(st->error), "%s", j.failing ? j.error : "");
}

int
journal_fsync_parse(const char *s, enum journal_fsync *p)
{
    if (strcmp(s, "always") == 0)
        *p = JOURNAL_FSYNC_ALWAYS;
    else if (strcmp(s, "everysec") == 0)
        *p = JOURNAL_FSYNC_EVERYSEC;
    else if (strcmp(s, "no") == 0)
        *p = JOURNAL_FSYNC_NO;
    else
        return -1;
    return 0;
}

/* Enters the failing state: mutations are refused until writing works again. */
static void
journal_fail(const char *what, int err)
{
    if (!j.failing)
        log_warnx(
            "journal: write failed: %s (%s); mutations refused until it works again",
            strerror(err), what);
    j.failing = 1;
    j.retry_at = journal_now() + 1;
    snprintf(j.error, sizeof(j.error), "Journal write failed: %s.", strerror(err));
}

/* Leaves the failing state. */
static void
journal_recover(void)
{
    if (j.failing)
        log_warnx("journal: writes resumed");
    j.failing = 0;
    j.error[0] = '\0';
}

/*
 * Makes sure the journal file has room reserved for need more bytes past
 * what is written and buffered: 0, or -1 (disk full).  Where fallocate is
 * not supported, nothing is reserved and a write may fail later instead.
 */
static int
journal_prealloc(uint64_t need)
{
    uint64_t end = j.size + j.pend.len + need + JOURNAL_SLACK, chunk;
    int      rc;

    if (j.no_prealloc || end <= j.reserved)
        return 0;
    chunk = end - j.reserved;
    if (chunk < JOURNAL_CHUNK)
        chunk = JOURNAL_CHUNK;
    /* The file's size grows with the reservation (zeros the reader skips), so
     * that a write lands inside it: no size change to log per write, and an
     * fdatasync then has less metadata to commit (bench/results.md). */
    rc = fallocate(j.fd, 0, (off_t)j.reserved, (off_t)chunk);
    if (rc == -1 && (errno == EOPNOTSUPP || errno == ENOSYS)) {
        j.no_prealloc = 1;
        return 0;
    }
    if (rc == -1) {
        /* Try just what is needed: a nearly full disk may still hold it. */
        chunk = end - j.reserved;
        if (fallocate(j.fd, 0, (off_t)j.reserved, (off_t)chunk) == -1) {
            journal_fail("reserving journal space", errno);
            return -1;
        }
    }
    j.reserved += chunk;
    return 0;
}

int
journal_prealloc_now(void)
{
    return journal_prealloc(0);
}

int
journal_reserve(size_t n)
{
    if (!j.active || j.replaying)
        return 0;
    if (j.failing) {
        if (journal_now() < j.retry_at)
            return -1;
        j.retry_at = journal_now() + 1;
        if (journal_write_pending() != 0)
            return -1;
    }
    if (journal_prealloc(n) != 0)
        return -1;
    journal_recover();
    return 0;
}

/* Appends n bytes to the turn's buffer. */
static void
journal_buffer(const void *p, size_t n)
{
    size_t cap;

    if (j.pend.len + n > j.pend.cap) {
        cap = j.pend.cap ? j.pend.cap : 64 * 1024;
        while (cap < j.pend.len + n)
            cap *= 2;
        j.pend.p = xrealloc(j.pend.p, cap);
        j.pend.cap = cap;
    }
    memcpy(j.pend.p + j.pend.len, p, n);
    j.pend.len += n;
}

int
journal_emit(struct jrec *r)
{
    jrec_seal(r);
    if (j.sink_fd != -1)
        return journal_sink_write(r->buf, r->len);
    if (!j.active || j.replaying)
        return 0;
    journal_buffer(r->buf, r->len);
    j.records++;
    return 0;
}

/* Writes all of p at off: 0, or -1 with errno. */
int
journal_pwrite_all(int fd, const void *p, size_t n, uint64_t off)
{
    const char *s = p;
    ssize_t     w;

    while (n > 0) {
        w = pwrite(fd, s, n, (off_t)off);
        if (w == -1 && errno == EINTR)
            continue;
        if (w <= 0) {
            if (w == 0)
                errno = ENOSPC;
            return -1;
        }
        s += w;
        n -= (size_t)w;
        off += (uint64_t)w;
    }
    return 0;
}

/*
 * Writes the buffered records at the end of the journal: 0, or -1 (failing;
 * the buffer is kept and the file cut back, so a retry writes the same
 * bytes at the same place and nothing already journaled is touched).
 */
int
journal_write_pending(void)
{
    if (j.pend.len == 0)
        return 0;
    if (journal_pwrite_all(j.fd, j.pend.p, j.pend.len, j.size) != 0) {
        int err = errno;

        if (ftruncate(j.fd, (off_t)j.size) == -1)
            log_warn("journal: cutting back a failed write");
        j.reserved = j.size; /* the cut gave the space back */
        journal_fail("writing the journal", err);
        return -1;
    }
    j.size += j.pend.len;
    j.pend.len = 0;
    j.unsynced = 1;
    if (j.pend.cap > 4 * 1024 * 1024) { /* a large value went by: give it back */
        free(j.pend.p);
        j.pend.p = NULL;
        j.pend.cap = 0;
    }
    return 0;
}

/* Syncs the journal and the value files it refers to; then removes the
 * files whose consumption is now durable. */
void
journal_sync(void)
{
    journal_spool_sync();
    if (j.unsynced) {
        if (fdatasync(j.fd) == -1) {
            journal_fail("syncing the journal", errno);
            return;
        }
        j.unsynced = 0;
        j.last_fsync = journal_now();
    }
    journal_spool_unlink_durable();
}

int
journal_turn_end(void)
{
    if (!j.active)
        return 0;
    session_journal_flush();
    /* Replies wait while their records cannot be written (retried each turn;
     * the timer turns the loop): never a reply before its record. */
    if (j.pend.len > 0 && journal_write_pending() != 0)
        return -1;
    if (journal_opts.policy == JOURNAL_FSYNC_ALWAYS) {
        if (j.unsynced || j.nsync > 0)
            journal_sync();
        if (j.unsynced)
            return -1;
        /* Files whose last value went after its consuming record was synced. */
        journal_spool_unlink_durable();
    } else if (journal_opts.policy == JOURNAL_FSYNC_NO) {
        journal_spool_unlink_durable();
    }
    journal_compact_maybe();
    return 0;
}

void
journal_stopping(void)
{
    j.stopping = 1;
}

/* The everysec timer (also polls a compaction child and the resume grace). */
void
journal_tick(void)
{
    if (!j.active)
        return;
    if (j.failing && j.pend.len > 0 && journal_now() >= j.retry_at) {
        j.retry_at = journal_now() + 1;
        if (journal_write_pending() == 0 && journal_prealloc(0) == 0)
            journal_recover();
    }
    if (journal_opts.policy == JOURNAL_FSYNC_EVERYSEC && (j.unsynced || j.nsync > 0))
        journal_sync();
    else if (j.pend.len == 0 && !j.unsynced)
        journal_spool_unlink_durable(); /* everything recorded is durable */
    journal_compact_poll();
}

/* ---- the hooks ---- */

/* The workspace and variable names that start most records. */
static void
journal_names(struct jrec *r, const struct ws *ws, const char *var, size_t len)
{
    jrec_str(r, ws->ws_name, ws->ws_namelen);
    if (var != NULL)
        jrec_str(r, var, len);
}

/* Whether hooks record now. */
static int
journal_on(void)
{
    return j.active && !j.replaying;
}

/* Whether a variable's changes are journal's to record (not a sleigh's own). */
static int
journal_var_plain(const struct var *var)
{
    return var->var_mode != VAR_CUSTOM && var->var_mode != VAR_TIME &&
           var->var_mode != VAR_BARRIER;
}

void
journal_ws_create(const struct ws *ws, const char *meta, size_t metalen)
{
    if (!journal_on())
        return;
    jrec_begin(&j.rec, J_WS_CREATE);
    journal_names(&j.rec, ws, NULL, 0);
    jrec_u64(&j.rec, ws->ws_id);
    jrec_str(&j.rec, meta, meta != NULL ? metalen : 0);
    journal_emit(&j.rec);
}

void
journal_ws_delete(const struct ws *ws)
{
    if (!journal_on())
        return;
    jrec_begin(&j.rec, J_WS_DELETE);
    journal_names(&j.rec, ws, NULL, 0);
    journal_emit(&j.rec);
}

void
journal_ws_owner(const struct ws *ws)
{
    if (!journal_on())
        return;
    jrec_begin(&j.rec, J_WS_OWNER);
    journal_names(&j.rec, ws, NULL, 0);
    jrec_u8(&j.rec, ws->ws_owner != NULL);
    jrec_str(&j.rec, ws->ws_owner, ws->ws_owner != NULL ? strlen(ws->ws_owner) : 0);
    jrec_u8(&j.rec, (uint8_t)ws->ws_persistent);
    journal_emit(&j.rec);
}

void
journal_var_new(const struct var *var)
{
    if (!journal_on())
        return;
    jrec_begin(&j.rec, J_VAR_NEW);
    journal_names(&j.rec, var->var_ws, var->var_name, var->var_namelen);
    jrec_str(&j.rec, var->var_id, NWSP_VARID_LEN);
    journal_emit(&j.rec);
}

void
journal_var_declare(const struct var *var)
{
    if (!journal_on())
        return;
    jrec_begin(&j.rec, J_VAR_DECLARE);
    journal_names(&j.rec, var->var_ws, var->var_name, var->var_namelen);
    jrec_u8(&j.rec, (uint8_t)var->var_mode);
    journal_emit(&j.rec);
}

void
journal_var_delete(const struct ws *ws, const char *name, size_t len)
{
    if (!journal_on())
        return;
    jrec_begin(&j.rec, J_VAR_DELETE);
    journal_names(&j.rec, ws, name, len);
    journal_emit(&j.rec);
}

void
journal_store(const struct var *var, const struct value *v)
{
    if (!journal_on() || !journal_var_plain(var))
        return;
    jrec_begin(&j.rec, J_STORE);
    journal_names(&j.rec, var->var_ws, var->var_name, var->var_namelen);
    jrec_value(&j.rec, v);
    journal_emit(&j.rec);
}

void
journal_taken(const struct var *var)
{
    if (!journal_on() || !journal_var_plain(var))
        return;
    jrec_begin(&j.rec, J_TAKEN);
    journal_names(&j.rec, var->var_ws, var->var_name, var->var_namelen);
    journal_emit(&j.rec);
}

void
journal_fetch(const struct var *var)
{
    if (!journal_on() || !journal_var_plain(var))
        return;
    jrec_begin(&j.rec, J_FETCH);
    journal_names(&j.rec, var->var_ws, var->var_name, var->var_namelen);
    journal_emit(&j.rec);
}

void
journal_requeue(const struct var *var, const struct value *v, uint64_t index)
{
    if (!journal_on() || !journal_var_plain(var))
        return;
    jrec_begin(&j.rec, J_REQUEUE);
    journal_names(&j.rec, var->var_ws, var->var_name, var->var_namelen);
    jrec_u64(&j.rec, index);
    jrec_value(&j.rec, v);
    journal_emit(&j.rec);
}

/* ---- values ---- */

/*
 * A value: u8 flags (JV_*), its type descriptor (u8 with JV_DESC8, else
 * u64), its metadata (str, only with JV_META), then its bytes inline (str)
 * or, with JV_FILE, the id and length (u64, u64) of its file in DIR.
 */
void
jrec_value(struct jrec *r, const struct value *v)
{
    int     file = (v->v_flags & VALUE_SPOOLED) && v->v_jid != 0;
    int     small = v->v_desc >= 0 && v->v_desc < 256;
    uint8_t flags = (uint8_t)((file ? JV_FILE : 0) | (v->v_metalen > 0 ? JV_META : 0) |
                              (small ? JV_DESC8 : 0));

    /* Small values are the common case: no bytes for what they lack. */
    jrec_u8(r, flags);
    if (small)
        jrec_u8(r, (uint8_t)v->v_desc);
    else
        jrec_u64(r, (uint64_t)v->v_desc);
    if (v->v_metalen > 0)
        jrec_str(r, value_meta(v), v->v_metalen);
    if (file) {
        if (j.sink_fd == -1)
            journal_spool_need_sync(v);
        jrec_u64(r, v->v_jid);
        jrec_u64(r, v->v_len);
    } else if (v->v_flags & VALUE_SPOOLED) {
        /* A spooled value outside DIR (cannot happen with --journal): copy it. */
        char   *buf = xmalloc((size_t)v->v_len + 1);
        ssize_t got = pread(v->v_fd, buf, (size_t)v->v_len, 0);

        jrec_str(r, buf, got > 0 ? (size_t)got : 0);
        free(buf);
    } else {
        jrec_str(r, value_data(v), (size_t)v->v_len);
    }
}

/* Whether the value as stored costs the journal how many bytes (for reserve). */
size_t
journal_value_room(const struct value *v)
{
    if (v == NULL)
        return 0;
    return 64 + v->v_metalen + ((v->v_flags & VALUE_SPOOLED) ? 0 : (size_t)v->v_len);
}

struct value *
jr_value(struct jreader *r)
{
    uint8_t       flags = jr_u8(r);
    int64_t       desc = (flags & JV_DESC8) ? (int64_t)jr_u8(r) : (int64_t)jr_u64(r);
    size_t        metalen = 0, len;
    const char   *meta = (flags & JV_META) ? jr_str(r, &metalen) : NULL;
    const char   *data;
    struct value *v;
    uint64_t      id, vlen;

    if (r->bad || (flags & ~(JV_FILE | JV_META | JV_DESC8)) != 0) {
        r->bad = 1;
        return NULL;
    }
    if (!(flags & JV_FILE)) {
        if ((data = jr_str(r, &len)) == NULL)
            return NULL;
        /* Replay never refuses what was accepted before: no memory limit. */
        v = value_new(desc, meta, metalen, len);
        if (v == NULL) {
            r->bad = 1;
            return NULL;
        }
        if (len > 0)
            memcpy(value_data(v), data, len);
        return v;
    }
    id = jr_u64(r);
    vlen = jr_u64(r);
    if (r->bad || id == 0)
        return NULL;
    return journal_spool_value(id, desc, meta, metalen, vlen);
}

void
journal_register_sleigh(journal_apply_fn apply, journal_snapshot_fn snap)
{
    j.sleigh_apply = apply;
    j.sleigh_snap = snap;
}
