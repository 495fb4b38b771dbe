/*
 * journal_dir.c -- the journal directory: the manifest, replay at start,
 * stale files, the resume grace of owned workspaces, compaction in a forked
 * child, and --journal-check.  The layout and its crash rules: journal.h.
 * Sessions' records are session_journal.c's; a workspace a restored session
 * owns waits for that session, not for the grace timer here.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "journal.h"
#include "journalp.h"

#define JDIR_MAX_INCR 8 /* journals in a chain (a compaction that failed adds one) */

/* The manifest: a snapshot (or none) and the journals replayed after it. */
struct jmanifest {
    char base[32]; /* "" if none */
    char incr[JDIR_MAX_INCR][32];
    int  nincr;
};
static struct jmanifest jdir_man;
static char             jdir_child_base[32];
static int              jdir_child_nincr;   /* journals the child's snapshot replaces */
static double           jdir_compact_after; /* no compaction before (after a failure) */

/* Why journal_open refused (for the one line fatalx prints at any log level). */
static char jdir_why[512] = "see the log above";

const char *
journal_open_error(void)
{
    return jdir_why;
}

/* Where replay stopped at a bad record (ignore-corrupt): the file index and offset. */
static int      jdir_stop_file = -1;
static uint64_t jdir_stop_off;

/* ---- the manifest ---- */

/* Reads DIR's manifest: 1, 0 if there is none, -1 if it is unreadable. */
static int
jdir_read_manifest(int dirfd, struct jmanifest *m)
{
    char    buf[2048], *line, *save = NULL;
    int     fd;
    ssize_t n;

    memset(m, 0, sizeof(*m));
    if ((fd = openat(dirfd, "MANIFEST", O_RDONLY | O_CLOEXEC)) == -1)
        return errno == ENOENT ? 0 : -1;
    n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0)
        return -1;
    buf[n] = '\0';
    line = strtok_r(buf, "\n", &save);
    if (line == NULL || strcmp(line, "nwsj 1") != 0)
        return -1;
    while ((line = strtok_r(NULL, "\n", &save)) != NULL) {
        if (strncmp(line, "base ", 5) == 0 && strlen(line + 5) < sizeof(m->base)) {
            if (strcmp(line + 5, "-") != 0)
                snprintf(m->base, sizeof(m->base), "%s", line + 5);
        } else if (strncmp(line, "incr ", 5) == 0 && strlen(line + 5) < 32 &&
                   m->nincr < JDIR_MAX_INCR) {
            snprintf(m->incr[m->nincr++], 32, "%s", line + 5);
        } else {
            return -1;
        }
    }
    return m->nincr > 0 ? 1 : -1;
}

/* Replaces the manifest atomically (temp file, fsync, rename, fsync DIR): 0 or -1. */
static int
jdir_write_manifest(int dirfd, const struct jmanifest *m)
{
    char buf[2048];
    int  fd, n, i, rc;

    n = snprintf(buf, sizeof(buf), "nwsj 1\nbase %s\n", m->base[0] ? m->base : "-");
    for (i = 0; i < m->nincr; i++)
        n += snprintf(buf + n, sizeof(buf) - (size_t)n, "incr %s\n", m->incr[i]);
    fd = openat(dirfd, "MANIFEST.tmp", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd == -1)
        return -1;
    rc = journal_pwrite_all(fd, buf, (size_t)n, 0) == 0 && fsync(fd) == 0 ? 0 : -1;
    close(fd);
    if (rc != 0 || renameat(dirfd, "MANIFEST.tmp", dirfd, "MANIFEST") != 0 ||
        fsync(dirfd) != 0) {
        unlinkat(dirfd, "MANIFEST.tmp", 0);
        return -1;
    }
    return 0;
}

/* The number in "incr.N" / "base.N", or 0. */
static uint64_t
jdir_seq_of(const char *name)
{
    const char *dot = strchr(name, '.');

    return dot != NULL ? strtoull(dot + 1, NULL, 10) : 0;
}

/* Creates an empty journal file (the magic only), synced: its fd, or -1. */
static int
jdir_new_file(int dirfd, const char *name)
{
    int fd = openat(dirfd, name, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

    if (fd == -1)
        return -1;
    if (journal_pwrite_all(fd, JOURNAL_MAGIC, JOURNAL_MAGIC_LEN, 0) != 0 ||
        fdatasync(fd) != 0) {
        close(fd);
        unlinkat(dirfd, name, 0);
        return -1;
    }
    return fd;
}

/* ---- scanning a file ---- */

enum jscan { JSCAN_OK, JSCAN_TORN, JSCAN_CORRUPT };

/*
 * Where the run of zero bytes that ends the file starts (size if none): a
 * crash of the machine can leave a file longer than what reached the disk,
 * the rest read as zeros.
 */
static size_t
jdir_zero_tail(const uint8_t *p, size_t size)
{
    while (size > 0 && p[size - 1] == 0)
        size--;
    return size;
}

/*
 * Walks the records of buf[0..size): calls apply (if not NULL) on each good
 * one; *end is where the good records end.  A record running past the end,
 * or a bad one that is the file's last (what follows its header, or its
 * end, is only zeros or nothing), is a torn tail; any other bad record is
 * corruption.
 */
static enum jscan
jdir_scan(const uint8_t *buf, size_t size, uint64_t *end, uint64_t *nrec,
          int (*apply)(const uint8_t *, size_t, uint64_t, void *), void *arg)
{
    size_t off = JOURNAL_MAGIC_LEN, len = 0, zeros = jdir_zero_tail(buf, size);
    int    rc;

    *nrec = 0;
    if (size < JOURNAL_MAGIC_LEN) {
        *end = 0;
        return memcmp(buf, JOURNAL_MAGIC, size) == 0 ? JSCAN_TORN : JSCAN_CORRUPT;
    }
    if (memcmp(buf, JOURNAL_MAGIC, JOURNAL_MAGIC_LEN) != 0) {
        *end = 0;
        return JSCAN_CORRUPT;
    }
    while (off < size) {
        /* Only zeros from a record boundary on: space the writer reserved
         * ahead (journal_prealloc extends the file) and never filled. */
        if (zeros <= off)
            break;
        rc = journal_rec_check(buf, size, off, &len);
        if (rc == JREC_TORN) {
            *end = off;
            return JSCAN_TORN;
        }
        if (rc == JREC_BADHDR || rc == JREC_BAD) {
            *end = off;
            if (zeros <= off + JOURNAL_RECHDR || (rc == JREC_BAD && zeros <= off + len))
                return JSCAN_TORN;
            return JSCAN_CORRUPT;
        }
        if (apply != NULL &&
            apply(buf + off + JOURNAL_RECHDR, len - JOURNAL_RECHDR, off, arg) != 0) {
            *end = off;
            return JSCAN_CORRUPT;
        }
        (*nrec)++;
        off += len;
    }
    *end = off;
    return JSCAN_OK;
}

/* Maps a whole file read-only (NULL with *size 0 for an empty one): 0 or -1. */
static int
jdir_map(int dirfd, const char *name, const uint8_t **p, size_t *size)
{
    struct stat st;
    int         fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC);
    void       *m;

    *p = NULL;
    *size = 0;
    if (fd == -1)
        return -1;
    if (fstat(fd, &st) == -1) {
        close(fd);
        return -1;
    }
    if (st.st_size > 0) {
        m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (m == MAP_FAILED) {
            close(fd);
            return -1;
        }
        (void)madvise(m, (size_t)st.st_size, MADV_SEQUENTIAL);
        *p = m;
        *size = (size_t)st.st_size;
    }
    close(fd);
    return 0;
}

/* ---- applying records ---- */

/* The workspace a record names (NULL if none: the record is skipped). */
static struct ws *
jdir_ws(struct jreader *r)
{
    size_t      len;
    const char *name = jr_str(r, &len);

    return name != NULL ? ws_find(name, len) : NULL;
}

/* The variable a record names, made if needed. */
static struct var *
jdir_var(struct jreader *r, struct ws *ws)
{
    size_t      len;
    const char *name = jr_str(r, &len);

    return name != NULL && ws != NULL ? ws_var(ws, name, len) : NULL;
}

/* Replaces a workspace's owner text. */
static void
jdir_set_owner(struct ws *ws, const char *owner, size_t len, int has)
{
    if (ws->ws_owner != NULL) {
        srv.mem_used -= strlen(ws->ws_owner) + 1;
        listing_free_name(ws->ws_owner);
        ws->ws_owner = NULL;
    }
    if (has)
        ws_set_owner(ws, xstrndup(owner, len));
}

/* Applies one plain record: 0, or -1 with err. */
static int
jdir_apply_plain(uint8_t type, struct jreader *r, char *err, size_t errlen)
{
    struct ws     *ws;
    struct var    *var;
    struct value  *v;
    struct var_got got;
    const char    *s, *e = NULL;
    size_t         len;
    uint64_t       u;
    uint8_t        b;

    switch (type) {
    case J_WS_CREATE:
        s = jr_str(r, &len);
        u = jr_u64(r);
        {
            size_t      mlen;
            const char *meta = jr_str(r, &mlen);

            if (r->bad)
                break;
            if ((ws = ws_find(s, len)) == NULL) {
                ws = ws_create_typed(s, len, mlen ? meta : NULL, mlen);
                ws->ws_id = u;
            }
        }
        if (u > srv.counter)
            srv.counter = u;
        return r->bad ? -1 : 0;
    case J_WS_DELETE:
        if ((ws = jdir_ws(r)) != NULL && ws->ws_id != 0)
            ws_destroy(ws);
        return r->bad ? -1 : 0;
    case J_WS_OWNER:
        ws = jdir_ws(r);
        b = jr_u8(r);
        s = jr_str(r, &len);
        u = jr_u8(r);
        if (r->bad)
            break;
        if (ws != NULL) {
            jdir_set_owner(ws, s, len, b);
            ws->ws_persistent = (int)u;
        }
        return 0;
    case J_VAR_NEW:
        ws = jdir_ws(r);
        var = jdir_var(r, ws);
        s = jr_str(r, &len);
        if (var != NULL && !r->bad && len == NWSP_VARID_LEN)
            memcpy(var->var_id, s, len);
        return r->bad ? -1 : 0;
    case J_VAR_DECLARE:
        ws = jdir_ws(r);
        var = jdir_var(r, ws);
        b = jr_u8(r);
        if (var != NULL && !r->bad && b <= VAR_BARRIER && var->var_mode != VAR_CUSTOM)
            var->var_mode = (enum var_mode)b;
        return r->bad ? -1 : 0;
    case J_VAR_DELETE:
        ws = jdir_ws(r);
        s = jr_str(r, &len);
        if (ws != NULL && s != NULL && (var = ws_var_find(ws, s, len)) != NULL &&
            var->var_mode != VAR_CUSTOM)
            ws_var_delete(ws, var);
        return r->bad ? -1 : 0;
    case J_STORE:
    case J_VALUE:
        ws = jdir_ws(r);
        var = jdir_var(r, ws);
        if ((v = jr_value(r)) == NULL)
            break;
        if (var == NULL || var->var_mode == VAR_CUSTOM) {
            value_unref(v);
            return 0;
        }
        if (type == J_VALUE) {
            vqueue_push(&var->var_values, v);
            value_unref(v);
        } else if (var_store(var, v, NULL, &e) != 0) {
            snprintf(err, errlen, "store: %s", e);
            return -1;
        }
        return 0;
    case J_TAKEN:
        ws = jdir_ws(r);
        var = jdir_var(r, ws);
        if (var == NULL)
            return r->bad ? -1 : 0;
        if (var->var_mode == VAR_UNKNOWN)
            var->var_mode = VAR_FIFO;
        if (var->var_mode == VAR_FIFO || var->var_mode == VAR_SINGLE)
            var->var_base++;
        return 0;
    case J_FETCH:
        ws = jdir_ws(r);
        var = jdir_var(r, ws);
        if (var != NULL && var_get(var, 1, 0, -1, NULL, &got) == VAR_OK)
            value_unref(got.value);
        return r->bad ? -1 : 0;
    case J_REQUEUE:
        ws = jdir_ws(r);
        var = jdir_var(r, ws);
        u = jr_u64(r);
        if ((v = jr_value(r)) == NULL)
            break;
        if (var != NULL)
            requeue_put_back_value(var, v, u);
        value_unref(v);
        return 0;
    case J_VAR_STATE:
        ws = jdir_ws(r);
        var = jdir_var(r, ws);
        s = jr_str(r, &len);
        b = jr_u8(r);
        u = jr_u64(r);
        if (r->bad)
            break;
        if (var != NULL && var->var_mode != VAR_CUSTOM) {
            if (len == NWSP_VARID_LEN)
                memcpy(var->var_id, s, len);
            if (b <= VAR_BARRIER)
                var->var_mode = (enum var_mode)b;
            var->var_base = u;
        }
        return 0;
    case J_COUNTER:
        u = jr_u64(r);
        if (u > srv.counter)
            srv.counter = u;
        u = jr_u64(r);
        if (u > j.spool_next)
            j.spool_next = u;
        return r->bad ? -1 : 0;
    default:
        snprintf(err, errlen, "unknown record type %u", type);
        return -1;
    }
    snprintf(err, errlen, "record type %u does not decode", type);
    return -1;
}

/* The file being replayed, for messages. */
static const char *jdir_replay_name;
/* The last file replayed and where its records end (zeros may follow). */
static char     jdir_replay_last[32];
static uint64_t jdir_replay_end;

/* Applies one record during replay (a record that does not apply is logged, not fatal). */
static int
jdir_apply(const uint8_t *p, size_t n, uint64_t off, void *arg)
{
    struct jreader r = {.p = p + 1, .len = n - 1, .off = 0, .bad = 0};
    char           err[160] = "";
    int            rc;

    (void)arg;
    if (p[0] >= 64 && p[0] < 128) {
        if (j.sleigh_apply == NULL) {
            log_warnx("journal: %s offset %llu: a sleigh record, but no sleigh support",
                      jdir_replay_name, (unsigned long long)off);
            return 0;
        }
        rc = j.sleigh_apply(p[0], &r, err, sizeof(err));
    } else if (p[0] >= J_SESS_NEW && p[0] < J_SESS_NEW + 8) {
        rc = session_journal_apply(p[0], &r, err, sizeof(err));
    } else {
        rc = jdir_apply_plain(p[0], &r, err, sizeof(err));
    }
    if (rc != 0)
        log_warnx("journal: %s offset %llu: record not applied: %s", jdir_replay_name,
                  (unsigned long long)off, err[0] ? err : "bad record");
    return 0;
}

/*
 * Replays one file.  last: the journal appended to from now on (a torn
 * tail is cut).  Returns 0, 1 if replay must stop here (a corrupt record,
 * ignored: nothing after it is replayed), -1 to refuse to start.
 */
static int
jdir_replay_file(const char *name, int idx, int last)
{
    const uint8_t *buf;
    size_t         size;
    uint64_t       end, nrec;
    enum jscan     rc;
    int            fd;

    if (jdir_map(j.dirfd, name, &buf, &size) != 0) {
        log_warn("journal: cannot read %s/%s", journal_opts.dir, name);
        return -1;
    }
    jdir_replay_name = name;
    rc = jdir_scan(buf != NULL ? buf : (const uint8_t *)"", size, &end, &nrec, jdir_apply,
                   NULL);
    if (buf != NULL)
        munmap((void *)buf, size);
    jdir_replay_end = end;
    snprintf(jdir_replay_last, sizeof(jdir_replay_last), "%s", name);
    log_info("journal: %s: %llu records replayed", name, (unsigned long long)nrec);
    if (rc == JSCAN_TORN && (last || idx > 0)) {
        log_warnx("journal: cut torn tail at offset %llu (%s/%s, %llu bytes dropped)",
                  (unsigned long long)end, journal_opts.dir, name,
                  (unsigned long long)(size - end));
        if ((fd = openat(j.dirfd, name, O_RDWR | O_CLOEXEC)) == -1 ||
            ftruncate(fd, (off_t)(end < JOURNAL_MAGIC_LEN ? 0 : end)) != 0 ||
            (end < JOURNAL_MAGIC_LEN &&
             journal_pwrite_all(fd, JOURNAL_MAGIC, JOURNAL_MAGIC_LEN, 0) != 0)) {
            log_warn("journal: cutting %s", name);
            if (fd != -1)
                close(fd);
            return -1;
        }
        fdatasync(fd);
        close(fd);
        return 0;
    }
    if (rc == JSCAN_OK)
        return 0;
    log_warnx("journal: corrupt record at offset %llu (%s/%s)", (unsigned long long)end,
              journal_opts.dir, name);
    if (!journal_opts.ignore_corrupt) {
        snprintf(jdir_why, sizeof(jdir_why),
                 "corrupt record at offset %llu of %s; nwsserver --journal-check %s "
                 "--fix cuts "
                 "there, --journal-ignore-corrupt starts dropping the records from it on",
                 (unsigned long long)end, name, journal_opts.dir);
        log_warnx("journal: refusing to start: the records after it cannot be trusted; "
                  "nwsserver --journal-check %s --fix cuts there, "
                  "--journal-ignore-corrupt starts dropping them",
                  journal_opts.dir);
        return -1;
    }
    log_warnx("journal: --journal-ignore-corrupt: DROPPING every record from offset %llu "
              "of %s on",
              (unsigned long long)end, name);
    jdir_stop_file = idx;
    jdir_stop_off = end;
    return 1;
}

/* Cuts the file at the first corrupt record (ignore-corrupt) and drops later ones. */
static int
jdir_cut_corrupt(void)
{
    const char *name;
    int         fd, rc;

    name = jdir_stop_file == 0 && jdir_man.base[0]
               ? jdir_man.base
               : jdir_man.incr[jdir_stop_file - (jdir_man.base[0] ? 1 : 0)];
    if ((fd = openat(j.dirfd, name, O_RDWR | O_CLOEXEC)) == -1)
        return -1;
    rc = ftruncate(fd, (off_t)(jdir_stop_off < JOURNAL_MAGIC_LEN ? 0 : jdir_stop_off));
    if (rc == 0 && jdir_stop_off < JOURNAL_MAGIC_LEN)
        rc = journal_pwrite_all(fd, JOURNAL_MAGIC, JOURNAL_MAGIC_LEN, 0);
    fdatasync(fd);
    close(fd);
    /* Journals after the cut one are no longer part of the state. */
    jdir_man.nincr = jdir_stop_file - (jdir_man.base[0] ? 1 : 0) + 1;
    if (jdir_man.nincr < 0)
        jdir_man.nincr = 0;
    return rc;
}

/* ---- start ---- */

/* Removes what the manifest and the live values do not name. */
static void
jdir_clean_stale(void)
{
    DIR           *d;
    struct dirent *de;
    uint64_t       id;
    int            i, keep, fd = dup(j.dirfd);
    size_t         n = 0;

    if (fd == -1 || (d = fdopendir(fd)) == NULL) {
        if (fd != -1)
            close(fd);
        return;
    }
    while ((de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0 ||
            strcmp(de->d_name, "MANIFEST") == 0 || strcmp(de->d_name, "LOCK") == 0)
            continue;
        keep = strcmp(de->d_name, jdir_man.base) == 0;
        for (i = 0; i < jdir_man.nincr && !keep; i++)
            keep = strcmp(de->d_name, jdir_man.incr[i]) == 0;
        if (!keep && journal_spool_parse(de->d_name, &id)) {
            keep = journal_spool_known(id);
            if (id >= j.spool_next)
                j.spool_next = id + 1; /* never reuse a number a record may name */
        }
        if (keep)
            continue;
        if (unlinkat(j.dirfd, de->d_name, 0) == 0)
            n++;
        else
            log_warn("journal: removing stale %s", de->d_name);
    }
    closedir(d);
    if (n > 0) {
        log_info("journal: %zu stale file%s of earlier runs removed from %s", n,
                 n == 1 ? "" : "s", journal_opts.dir);
        fsync(j.dirfd);
    }
}

/* Owned workspaces restored from the journal whose owner did not come back. */
struct jgrace {
    char    *jg_name;
    size_t   jg_len;
    uint64_t jg_id;
};
static struct jgrace *jdir_grace;
static size_t         jdir_ngrace;

static void
jdir_grace_cb(evutil_socket_t fd, short what, void *arg)
{
    struct ws *ws;
    size_t     i, n = 0;

    (void)fd;
    (void)what;
    (void)arg;
    for (i = 0; i < jdir_ngrace; i++) {
        ws = ws_find(jdir_grace[i].jg_name, jdir_grace[i].jg_len);
        if (ws != NULL && ws->ws_id == jdir_grace[i].jg_id && !ws->ws_persistent &&
            journal_reserve(64) == 0) {
            ws_destroy(ws);
            n++;
        }
        free(jdir_grace[i].jg_name);
    }
    free(jdir_grace);
    jdir_grace = NULL;
    jdir_ngrace = 0;
    if (n > 0)
        log_info("journal: %zu owned workspace%s purged: the owner did not come back "
                 "within --resume-grace %d s",
                 n, n == 1 ? "" : "s", journal_opts.resume_grace);
}

/* Notes the owned, non-persistent workspaces replay restored and arms their purge. */
static void
jdir_grace_arm(void)
{
    struct htab_ent *e;
    size_t           pos = 0;
    struct timeval   tv = {journal_opts.resume_grace, 0};

    while ((e = htab_next(ws_table(), &pos)) != NULL) {
        struct ws *ws = e->h_val;

        if (ws->ws_owner == NULL || ws->ws_persistent || ws->ws_id == 0)
            continue;
        /* A restored session owns it: purged when that session ends (resumed
         * in time or not: session.c's grace), not by this timer. */
        if (session_journal_owns(ws))
            continue;
        jdir_grace = xrealloc(jdir_grace, (jdir_ngrace + 1) * sizeof(*jdir_grace));
        jdir_grace[jdir_ngrace].jg_name = xstrndup(ws->ws_name, ws->ws_namelen);
        jdir_grace[jdir_ngrace].jg_len = ws->ws_namelen;
        jdir_grace[jdir_ngrace].jg_id = ws->ws_id;
        jdir_ngrace++;
    }
    if (jdir_ngrace == 0)
        return;
    log_info("journal: %zu owned workspace%s restored; purged in %d s unless the owner "
             "comes back",
             jdir_ngrace, jdir_ngrace == 1 ? "" : "s", journal_opts.resume_grace);
    j.grace_ev = evtimer_new(srv.base, jdir_grace_cb, NULL);
    if (j.grace_ev == NULL || evtimer_add(j.grace_ev, &tv) != 0)
        fatalx("journal: cannot arm the resume grace timer");
}

static void
jdir_tick_cb(evutil_socket_t fd, short what, void *arg)
{
    static double last;
    double        now = journal_now();

    (void)fd;
    (void)what;
    (void)arg;
    if (now - last >= 0.99 || j.child > 0 || j.failing) {
        if (now - last >= 0.99)
            last = now;
        journal_tick();
    }
}

int
journal_open(void)
{
    const char *dir = journal_opts.dir;
    uint64_t    saved_max = srv.cfg.max_memory;
    struct stat st;
    int         i, rc, fd, fresh;
    int         nfiles;

    {
        /* The sleigh type registered itself before main (sleigh_journal.c). */
        journal_apply_fn    apply = j.sleigh_apply;
        journal_snapshot_fn snap = j.sleigh_snap;

        memset(&j, 0, sizeof(j));
        j.sleigh_apply = apply;
        j.sleigh_snap = snap;
    }
    j.sink_fd = -1;
    j.fd = -1;
    j.spool_next = 1;
    if (dir == NULL)
        return 0;
    if (mkdir(dir, 0700) == -1 && errno != EEXIST) {
        log_warn("journal: cannot make %s", dir);
        return -1;
    }
    if ((j.dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1) {
        log_warn("journal: cannot open %s", dir);
        return -1;
    }
    if ((j.lockfd = openat(j.dirfd, "LOCK", O_RDWR | O_CREAT | O_CLOEXEC, 0600)) == -1 ||
        flock(j.lockfd, LOCK_EX | LOCK_NB) == -1) {
        log_warn("journal: %s is in use by another nwsserver (its LOCK is held)", dir);
        snprintf(jdir_why, sizeof(jdir_why),
                 "in use by another nwsserver (its LOCK is held)");
        return -1;
    }
    if ((rc = jdir_read_manifest(j.dirfd, &jdir_man)) < 0) {
        log_warnx("journal: %s/MANIFEST is unreadable: refusing to start", dir);
        snprintf(jdir_why, sizeof(jdir_why), "its MANIFEST is unreadable");
        return -1;
    }
    fresh = rc == 0;
    j.active = 1;
    j.replaying = 1;
    srv.cfg.max_memory = 0; /* what was accepted before is never refused now */
    nfiles = (jdir_man.base[0] ? 1 : 0) + jdir_man.nincr;
    for (i = 0; !fresh && i < nfiles; i++) {
        const char *name = i == 0 && jdir_man.base[0]
                               ? jdir_man.base
                               : jdir_man.incr[i - (jdir_man.base[0] ? 1 : 0)];

        if (jdir_seq_of(name) > j.seq)
            j.seq = jdir_seq_of(name);
        rc = jdir_replay_file(name, i, i == nfiles - 1);
        if (rc < 0) {
            j.active = 0;
            srv.cfg.max_memory = saved_max;
            return -1;
        }
        if (rc > 0)
            break;
    }
    for (i = 0; i < jdir_man.nincr; i++)
        if (jdir_seq_of(jdir_man.incr[i]) > j.seq)
            j.seq = jdir_seq_of(jdir_man.incr[i]);
    if (jdir_man.base[0] && jdir_seq_of(jdir_man.base) > j.seq)
        j.seq = jdir_seq_of(jdir_man.base);
    /* Sessions last: the workspaces their maps name exist now; the values
     * their kept replies hold are theirs before ghosts are counted. */
    session_journal_replay_done();
    j.replaying = 0;
    srv.cfg.max_memory = saved_max;
    if (journal_spool_ghosts() > 0)
        journal_spool_drop_ghosts();
    if (jdir_stop_file >= 0 && jdir_cut_corrupt() != 0) {
        log_warn("journal: cutting the corrupt file");
        return -1;
    }
    /* Append to the last journal, or start one (fresh, or after a cut). */
    if (fresh || jdir_stop_file >= 0 || jdir_man.nincr == 0) {
        if (jdir_man.nincr >= JDIR_MAX_INCR)
            jdir_man.nincr = JDIR_MAX_INCR - 1;
        snprintf(jdir_man.incr[jdir_man.nincr], 32, "incr.%llu",
                 (unsigned long long)++j.seq);
        if ((fd = jdir_new_file(j.dirfd, jdir_man.incr[jdir_man.nincr])) == -1) {
            log_warn("journal: cannot create %s/%s", dir, jdir_man.incr[jdir_man.nincr]);
            return -1;
        }
        close(fd);
        jdir_man.nincr++;
        if (jdir_write_manifest(j.dirfd, &jdir_man) != 0) {
            log_warn("journal: cannot write %s/MANIFEST", dir);
            return -1;
        }
    }
    snprintf(j.incr, sizeof(j.incr), "%s", jdir_man.incr[jdir_man.nincr - 1]);
    snprintf(j.base, sizeof(j.base), "%s", jdir_man.base);
    if ((j.fd = openat(j.dirfd, j.incr, O_RDWR | O_CLOEXEC)) == -1 ||
        fstat(j.fd, &st) == -1) {
        log_warn("journal: cannot open %s/%s", dir, j.incr);
        return -1;
    }
    /* The file may run past its records: zeros reserved ahead (journal_prealloc). */
    j.size = j.reserved = (uint64_t)st.st_size;
    if (strcmp(jdir_replay_last, j.incr) == 0 && jdir_replay_end >= JOURNAL_MAGIC_LEN &&
        jdir_replay_end < j.size)
        j.size = jdir_replay_end;
    if (jdir_man.base[0] && fstatat(j.dirfd, jdir_man.base, &st, 0) == 0)
        j.base_bytes = (uint64_t)st.st_size;
    jdir_clean_stale();
    if (journal_reserve(0) != 0)
        log_warnx("journal: no space to reserve in %s: mutations refused until there is",
                  dir);
    if (srv.cfg.spool_threshold == 0 || srv.cfg.spool_threshold > JOURNAL_INLINE_MAX)
        srv.cfg.spool_threshold = JOURNAL_INLINE_MAX; /* records stay reasonable */
    log_info("journal: %s, fsync %s, %llu bytes of journal after a %llu-byte snapshot",
             dir,
             journal_opts.policy == JOURNAL_FSYNC_ALWAYS     ? "always"
             : journal_opts.policy == JOURNAL_FSYNC_EVERYSEC ? "everysec"
                                                             : "no",
             (unsigned long long)j.size, (unsigned long long)j.base_bytes);
    return 0;
}

/* With the event base made: the timers (sync, compaction, resume grace). */
void
journal_start(void)
{
    struct timeval tv = {0, 100000};

    if (!j.active)
        return;
    j.tick_ev = event_new(srv.base, -1, EV_PERSIST, jdir_tick_cb, NULL);
    if (j.tick_ev == NULL || event_add(j.tick_ev, &tv) != 0)
        fatalx("journal: cannot arm its timer");
    jdir_grace_arm();
    session_start_restored();
}

void
journal_close(void)
{
    int status;

    if (!j.active)
        return;
    session_journal_flush();
    journal_write_pending();
    journal_sync();
    /* A clean stop leaves no reserved zeros behind (a crash does: skipped). */
    if (!j.failing && j.size < j.reserved && ftruncate(j.fd, (off_t)j.size) == 0)
        j.reserved = j.size;
    if (j.child > 0) {
        /* The snapshot is abandoned: the manifest's chain still holds everything. */
        kill(j.child, SIGKILL);
        waitpid(j.child, &status, 0);
        j.child = 0;
    }
    journal_spool_unlink_durable();
    if (j.tick_ev != NULL)
        event_free(j.tick_ev);
    if (j.grace_ev != NULL)
        event_free(j.grace_ev);
    j.tick_ev = j.grace_ev = NULL;
    close(j.fd);
    j.fd = -1;
    j.active = 0;
    jrec_free(&j.rec);
    free(j.pend.p);
    j.pend.p = NULL;
    j.pend.len = j.pend.cap = 0;
}

/* ---- compaction ---- */

/* In the child: buffered writes of the snapshot. */
int
journal_sink_write(const void *p, size_t n)
{
    static uint64_t off;

    if (j.sinkbuf.p == NULL) {
        j.sinkbuf.p = xmalloc(1024 * 1024);
        off = 0;
    }
    if (j.sinkbuf.len + n > 1024 * 1024 || p == NULL) {
        if (journal_pwrite_all(j.sink_fd, j.sinkbuf.p, j.sinkbuf.len, off) != 0)
            return -1;
        off += j.sinkbuf.len;
        j.sinkbuf.len = 0;
    }
    if (p == NULL)
        return 0;
    if (n > 1024 * 1024) {
        if (journal_pwrite_all(j.sink_fd, p, n, off) != 0)
            return -1;
        off += n;
        return 0;
    }
    memcpy(j.sinkbuf.p + j.sinkbuf.len, p, n);
    j.sinkbuf.len += n;
    return 0;
}

/* Emits the records rebuilding the whole state (to the sink): 0 or -1. */
static int
jdir_snapshot(void)
{
    struct htab_ent *we, *ve;
    size_t           wpos = 0, vpos, i;
    struct jrec      r = {0};
    int              rc = 0;

    if (journal_sink_write(JOURNAL_MAGIC, JOURNAL_MAGIC_LEN) != 0)
        return -1;
    while (rc == 0 && (we = htab_next(ws_table(), &wpos)) != NULL) {
        struct ws *ws = we->h_val;

        if (ws->ws_id != 0) {
            jrec_begin(&r, J_WS_CREATE);
            jrec_str(&r, ws->ws_name, ws->ws_namelen);
            jrec_u64(&r, ws->ws_id);
            jrec_str(&r, ws->ws_meta, ws->ws_meta != NULL ? ws->ws_metalen : 0);
            rc |= journal_emit(&r);
            jrec_begin(&r, J_WS_OWNER);
            jrec_str(&r, ws->ws_name, ws->ws_namelen);
            jrec_u8(&r, ws->ws_owner != NULL);
            jrec_str(&r, ws->ws_owner, ws->ws_owner != NULL ? strlen(ws->ws_owner) : 0);
            jrec_u8(&r, (uint8_t)ws->ws_persistent);
            rc |= journal_emit(&r);
        }
        vpos = 0;
        while (rc == 0 && (ve = htab_next(&ws->ws_vars, &vpos)) != NULL) {
            struct var *var = ve->h_val;

            if (var->var_mode == VAR_CUSTOM)
                continue;
            jrec_begin(&r, J_VAR_STATE);
            jrec_str(&r, ws->ws_name, ws->ws_namelen);
            jrec_str(&r, var->var_name, var->var_namelen);
            jrec_str(&r, var->var_id, NWSP_VARID_LEN);
            jrec_u8(&r, (uint8_t)var->var_mode);
            jrec_u64(&r, var->var_base);
            rc |= journal_emit(&r);
            for (i = 0; rc == 0 && i < var->var_values.q_len; i++) {
                jrec_begin(&r, J_VALUE);
                jrec_str(&r, ws->ws_name, ws->ws_namelen);
                jrec_str(&r, var->var_name, var->var_namelen);
                jrec_value(&r, vqueue_peek(&var->var_values, i));
                rc |= journal_emit(&r);
            }
        }
        if (rc == 0 && ws->ws_sleigh != NULL && j.sleigh_snap != NULL)
            rc |= j.sleigh_snap(ws);
    }
    /* After the workspaces: replay rebuilds sessions at its end anyway. */
    if (rc == 0)
        rc |= session_journal_snapshot();
    jrec_begin(&r, J_COUNTER);
    jrec_u64(&r, srv.counter);
    jrec_u64(&r, j.spool_next);
    rc |= journal_emit(&r);
    jrec_free(&r);
    if (rc == 0)
        rc = journal_sink_write(NULL, 0);
    return rc;
}

/*
 * The child needs none of the parent's sockets; holding the listener and the
 * clients' connections would keep the port busy and the clients waiting for
 * an EOF after the parent is killed, until the snapshot is written.  Files
 * (the journal directory, value files) stay open; 0, 1 and 2 too, so that a
 * file opened later never takes their numbers.
 */
static void
jdir_child_close_sockets(void)
{
    DIR           *d = opendir("/proc/self/fd");
    struct dirent *e;
    struct stat    st;
    int            fd;

    if (d == NULL)
        return;
    while ((e = readdir(d)) != NULL) {
        fd = atoi(e->d_name);
        if (fd > 2 && fd != dirfd(d) && fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode))
            close(fd);
    }
    closedir(d);
}

/* The child: writes base.N.tmp and exits 0 once it is synced. */
static void __attribute__((noreturn)) jdir_child(const char *tmp)
{
    (void)prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() == 1)
        _exit(1);
    signal(SIGTERM, SIG_DFL);
    signal(SIGINT, SIG_DFL);
    close(j.lockfd);
    jdir_child_close_sockets();
    j.sink_fd = openat(j.dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (j.sink_fd == -1)
        _exit(2);
    if (jdir_snapshot() != 0 || fdatasync(j.sink_fd) != 0)
        _exit(3);
    _exit(0);
}

void
journal_compact_maybe(void)
{
    char             newincr[32], tmp[48];
    uint64_t         bseq;
    int              fd;
    pid_t            pid;
    struct jmanifest m;

    if (j.child > 0 || j.failing || j.size < journal_opts.compact_min ||
        (double)j.size < journal_opts.compact_factor * (double)j.base_bytes ||
        journal_now() < jdir_compact_after || jdir_man.nincr >= JDIR_MAX_INCR)
        return;
    jdir_compact_after = journal_now() + 1;
    /* 1. A new journal, named in the manifest's chain before anything goes to it. */
    snprintf(newincr, sizeof(newincr), "incr.%llu", (unsigned long long)(j.seq + 1));
    bseq = j.seq + 2;
    if ((fd = jdir_new_file(j.dirfd, newincr)) == -1) {
        log_warn("journal: compaction: cannot create %s", newincr);
        jdir_compact_after = journal_now() + 10;
        return;
    }
    m = jdir_man;
    snprintf(m.incr[m.nincr++], 32, "%s", newincr);
    if (jdir_write_manifest(j.dirfd, &m) != 0) {
        log_warn("journal: compaction: cannot write the manifest");
        close(fd);
        unlinkat(j.dirfd, newincr, 0);
        jdir_compact_after = journal_now() + 10;
        return;
    }
    j.seq += 2;
    /* The old journal is whole on disk before it stops growing (--fsync no: the kernel's). */
    if (j.unsynced && journal_opts.policy != JOURNAL_FSYNC_NO && fdatasync(j.fd) == 0)
        j.unsynced = 0;
    snprintf(tmp, sizeof(tmp), "base.%llu.tmp", (unsigned long long)bseq);
    pid = fork();
    if (pid == 0)
        jdir_child(tmp);
    jdir_man = m;
    close(j.fd);
    j.fd = fd;
    snprintf(j.incr, sizeof(j.incr), "%s", newincr);
    j.size = j.reserved = JOURNAL_MAGIC_LEN;
    j.unsynced = 0;
    if (pid == -1) {
        log_warn("journal: compaction: fork");
        jdir_compact_after = journal_now() + 10;
        return;
    }
    j.child = pid;
    j.child_started = journal_now();
    snprintf(jdir_child_base, sizeof(jdir_child_base), "base.%llu",
             (unsigned long long)bseq);
    jdir_child_nincr = m.nincr - 1;
    (void)journal_prealloc_now();
    log_info("journal: compaction started (pid %d)", (int)pid);
}

void
journal_compact_poll(void)
{
    char             tmp[48];
    struct jmanifest m;
    struct stat      st;
    int              status, i;
    pid_t            pid;

    if (j.child <= 0 || (pid = waitpid(j.child, &status, WNOHANG)) == 0)
        return;
    j.child = 0;
    snprintf(tmp, sizeof(tmp), "%s.tmp", jdir_child_base);
    if (pid < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0 ||
        renameat(j.dirfd, tmp, j.dirfd, jdir_child_base) != 0) {
        log_warnx("journal: compaction failed (child status %d); tried again later",
                  status);
        unlinkat(j.dirfd, tmp, 0);
        jdir_compact_after = journal_now() + 10;
        return;
    }
    memset(&m, 0, sizeof(m));
    snprintf(m.base, sizeof(m.base), "%s", jdir_child_base);
    for (i = jdir_child_nincr; i < jdir_man.nincr; i++)
        snprintf(m.incr[m.nincr++], 32, "%s", jdir_man.incr[i]);
    if (jdir_write_manifest(j.dirfd, &m) != 0) {
        log_warn("journal: compaction: cannot write the manifest; tried again later");
        unlinkat(j.dirfd, jdir_child_base, 0);
        jdir_compact_after = journal_now() + 10;
        return;
    }
    /* The old snapshot and journals are no longer named: remove them. */
    if (jdir_man.base[0])
        unlinkat(j.dirfd, jdir_man.base, 0);
    for (i = 0; i < jdir_child_nincr; i++)
        unlinkat(j.dirfd, jdir_man.incr[i], 0);
    jdir_man = m;
    snprintf(j.base, sizeof(j.base), "%s", m.base);
    j.base_bytes = fstatat(j.dirfd, m.base, &st, 0) == 0 ? (uint64_t)st.st_size : 0;
    j.snapshots++;
    j.last_snapshot = journal_now();
    log_info("journal: compaction done: %s, %llu bytes, in %.3f s", m.base,
             (unsigned long long)j.base_bytes, j.last_snapshot - j.child_started);
}

/* ---- --journal-check ---- */

int
journal_check(const char *dir, int fix)
{
    struct jmanifest m;
    const uint8_t   *buf;
    size_t           size;
    uint64_t         end, nrec;
    enum jscan       rc;
    int              dirfd, i, nfiles, bad = 0, fd, lockfd = -1;

    if ((dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1) {
        fprintf(stderr, "journal-check: %s: %s\n", dir, strerror(errno));
        return 1;
    }
    if (jdir_read_manifest(dirfd, &m) != 1) {
        fprintf(stderr,
                "journal-check: %s: no readable MANIFEST: not a journal directory\n",
                dir);
        close(dirfd);
        return 1;
    }
    /* Cutting under a running server would tear its journal: it holds LOCK. */
    if (fix &&
        ((lockfd = openat(dirfd, "LOCK", O_RDWR | O_CREAT | O_CLOEXEC, 0600)) == -1 ||
         flock(lockfd, LOCK_EX | LOCK_NB) == -1)) {
        fprintf(stderr,
                "journal-check: %s is in use by a running nwsserver: stop it first\n",
                dir);
        if (lockfd != -1)
            close(lockfd);
        close(dirfd);
        return 1;
    }
    nfiles = (m.base[0] ? 1 : 0) + m.nincr;
    for (i = 0; i < nfiles; i++) {
        const char *name = i == 0 && m.base[0] ? m.base : m.incr[i - (m.base[0] ? 1 : 0)];

        if (jdir_map(dirfd, name, &buf, &size) != 0) {
            printf("%s: cannot read: %s\n", name, strerror(errno));
            bad = 1;
            break;
        }
        rc = jdir_scan(buf != NULL ? buf : (const uint8_t *)"", size, &end, &nrec, NULL,
                       NULL);
        if (buf != NULL)
            munmap((void *)buf, size);
        printf("%s: %llu records, %llu bytes", name, (unsigned long long)nrec,
               (unsigned long long)(rc == JSCAN_OK ? end : size));
        if (rc == JSCAN_OK) {
            if (end < size)
                printf(" (and %llu bytes reserved ahead, zeros)",
                       (unsigned long long)(size - end));
            printf(": ok\n");
            continue;
        }
        if (rc == JSCAN_TORN)
            printf(": torn tail at offset %llu (%llu bytes): %s\n",
                   (unsigned long long)end, (unsigned long long)(size - end),
                   fix ? "cut" : "loadable, the server cuts it");
        else
            printf(": corrupt record at offset %llu%s\n", (unsigned long long)end,
                   fix ? ": cut there, and every later journal dropped" : "");
        if (fix) {
            if ((fd = openat(dirfd, name, O_RDWR | O_CLOEXEC)) == -1 ||
                ftruncate(fd, (off_t)(end < JOURNAL_MAGIC_LEN ? 0 : end)) != 0 ||
                (end < JOURNAL_MAGIC_LEN &&
                 journal_pwrite_all(fd, JOURNAL_MAGIC, JOURNAL_MAGIC_LEN, 0) != 0) ||
                fsync(fd) != 0) {
                printf("%s: cannot cut: %s\n", name, strerror(errno));
                bad = 1;
            }
            if (fd != -1)
                close(fd);
            if (rc == JSCAN_CORRUPT && i < nfiles - 1) {
                m.nincr = i - (m.base[0] ? 1 : 0) + 1;
                if (m.nincr <= 0) { /* the snapshot was cut: a new empty journal */
                    m.nincr = 0;
                    snprintf(m.incr[0], 32, "incr.%llu",
                             (unsigned long long)(jdir_seq_of(m.incr[nfiles - 2]) + 1));
                    if ((fd = jdir_new_file(dirfd, m.incr[0])) != -1) {
                        close(fd);
                        m.nincr = 1;
                    }
                }
                if (m.nincr == 0 || jdir_write_manifest(dirfd, &m) != 0) {
                    printf("cannot rewrite the manifest: %s\n", strerror(errno));
                    bad = 1;
                }
                break;
            }
        } else if (rc == JSCAN_CORRUPT) {
            bad = 1;
        }
    }
    if (lockfd != -1)
        close(lockfd);
    close(dirfd);
    printf("%s: %s\n", dir,
           bad ? "NOT loadable (--fix cuts at the first bad record)" : "loadable");
    return bad ? 1 : 0;
}
