/*
 * journal_spool.c -- spooled values' files in the journal directory.
 *
 * With --journal a large value is spooled to "v<ID>.val" in DIR instead of
 * an unlinked temp file: the file is the value's only copy on disk, and
 * records refer to it by ID (jrec_value), so a gigabyte is written once.
 *
 * Files are counted by inode: values sharing one (a sleigh result dup()s a
 * task's descriptor) share one entry and its reference count.  A file a
 * record refers to is fdatasync'd at the next sync point, before the
 * journal itself (journal_sync), so a durable record never names a file
 * whose bytes are not durable too; a new name in DIR makes DIR be synced.
 * When the last value of a file goes, the file is removed only once the
 * record that consumed it is durable (after the next sync point), and never
 * while a compaction child may be writing a snapshot naming it.
 *
 * Replay opens the files records name.  A record naming a missing file is
 * normal for a value consumed later (its file was removed once that was
 * durable): it makes a "ghost" value, which the later consumption removes.
 * A ghost still held at the end of replay means a lost file: it is dropped
 * with a warning.  A file whose value a fetch consumed may be named again by
 * a later record (a session's kept reply holding the fetched value): it is
 * no longer to be removed then.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "journal.h"
#include "journalp.h"

struct jspool {
    uint64_t js_id;
    uint64_t js_ino;
    unsigned js_refs;
    int      js_syncfd; /* a dup to sync at the next sync point, or -1 */
    int      js_synced;
};

static struct htab jspool_by_id, jspool_by_ino;
static int         jspool_ready;
static uint64_t   *jspool_dead; /* ids to remove once durable */
static size_t      jspool_ndead, jspool_capdead;
static uint64_t   *jspool_sync_ids; /* ids with a js_syncfd */
static size_t      jspool_nsync_ids, jspool_capsync;
static size_t      jspool_nghosts;
static int         jspool_dir_dirty;

static void
jspool_init(void)
{
    if (jspool_ready)
        return;
    htab_init(&jspool_by_id);
    htab_init(&jspool_by_ino);
    jspool_ready = 1;
}

static struct jspool *
jspool_get_id(uint64_t id)
{
    jspool_init();
    return htab_get(&jspool_by_id, (const char *)&id, sizeof(id));
}

static struct jspool *
jspool_get_ino(uint64_t ino)
{
    jspool_init();
    return htab_get(&jspool_by_ino, (const char *)&ino, sizeof(ino));
}

static struct jspool *
jspool_add(uint64_t id, uint64_t ino, int synced)
{
    struct jspool *e = xcalloc(1, sizeof(*e));
    size_t         i;

    /* Replay: a file whose value a fetch consumed is named again by a later
     * record (a session's kept reply holds the fetched value): it lives on. */
    for (i = 0; i < jspool_ndead; i++)
        if (jspool_dead[i] == id)
            jspool_dead[i--] = jspool_dead[--jspool_ndead];

    jspool_init();
    e->js_id = id;
    e->js_ino = ino;
    e->js_syncfd = -1;
    e->js_synced = synced;
    htab_put(&jspool_by_id, (const char *)&e->js_id, sizeof(e->js_id), e);
    htab_put(&jspool_by_ino, (const char *)&e->js_ino, sizeof(e->js_ino), e);
    if (id >= j.spool_next)
        j.spool_next = id + 1;
    return e;
}

/* A value file's name. */
static void
jspool_name(char *buf, size_t len, uint64_t id)
{
    snprintf(buf, len, "v%llu.val", (unsigned long long)id);
}

int
journal_spool_known(uint64_t id)
{
    return jspool_get_id(id) != NULL;
}

int
journal_spool_open(void)
{
    char        name[48];
    struct stat st;
    uint64_t    id;
    int         fd;

    if (!j.active)
        return -1;
    if (j.spool_next == 0)
        j.spool_next = 1;
    id = j.spool_next++;
    jspool_name(name, sizeof(name), id);
    fd = openat(j.dirfd, name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd == -1) {
        log_warn("journal: creating value file %s", name);
        return -1;
    }
    if (fstat(fd, &st) == -1) {
        close(fd);
        unlinkat(j.dirfd, name, 0);
        return -1;
    }
    jspool_add(id, (uint64_t)st.st_ino, 0);
    jspool_dir_dirty = 1;
    return fd;
}

uint64_t
journal_spool_claim(int fd)
{
    struct jspool *e;
    struct stat    st;

    if (!j.active || fd == -1 || fstat(fd, &st) == -1)
        return 0;
    if ((e = jspool_get_ino((uint64_t)st.st_ino)) == NULL)
        return 0;
    e->js_refs++;
    return e->js_id;
}

/* A record names v's file: sync it at the next sync point. */
void
journal_spool_need_sync(const struct value *v)
{
    struct jspool *e = jspool_get_id(v->v_jid);

    if (e == NULL || e->js_synced || e->js_syncfd != -1 || j.replaying)
        return;
    if ((e->js_syncfd = dup(v->v_fd)) == -1)
        return;
    if (jspool_nsync_ids == jspool_capsync) {
        jspool_capsync = jspool_capsync ? 2 * jspool_capsync : 16;
        jspool_sync_ids = xrealloc(jspool_sync_ids, jspool_capsync * sizeof(uint64_t));
    }
    jspool_sync_ids[jspool_nsync_ids++] = e->js_id;
    j.nsync = jspool_nsync_ids;
}

void
journal_spool_release(uint64_t id)
{
    struct jspool *e = jspool_get_id(id);

    if (e == NULL || --e->js_refs > 0)
        return;
    htab_del(&jspool_by_id, (const char *)&e->js_id, sizeof(e->js_id));
    htab_del(&jspool_by_ino, (const char *)&e->js_ino, sizeof(e->js_ino));
    if (e->js_syncfd != -1)
        close(e->js_syncfd); /* its sync id is skipped below */
    free(e);
    /* Freed by a clean stop, not consumed: records may still name the file
     * (a session's held value); the next start removes it if none does. */
    if (j.stopping)
        return;
    if (jspool_ndead == jspool_capdead) {
        jspool_capdead = jspool_capdead ? 2 * jspool_capdead : 16;
        jspool_dead = xrealloc(jspool_dead, jspool_capdead * sizeof(uint64_t));
    }
    jspool_dead[jspool_ndead++] = id;
}

void
journal_spool_sync(void)
{
    struct jspool *e;
    size_t         i;

    for (i = 0; i < jspool_nsync_ids; i++) {
        if ((e = jspool_get_id(jspool_sync_ids[i])) == NULL || e->js_syncfd == -1)
            continue;
        if (fdatasync(e->js_syncfd) == -1)
            log_warn("journal: syncing value file v%llu.val",
                     (unsigned long long)e->js_id);
        close(e->js_syncfd);
        e->js_syncfd = -1;
        e->js_synced = 1;
    }
    jspool_nsync_ids = 0;
    j.nsync = 0;
    if (jspool_dir_dirty) {
        if (fsync(j.dirfd) == -1)
            log_warn("journal: syncing the directory");
        jspool_dir_dirty = 0;
    }
}

void
journal_spool_unlink_durable(void)
{
    char   name[48];
    size_t i;

    if (j.child > 0 || j.replaying)
        return;
    for (i = 0; i < jspool_ndead; i++) {
        jspool_name(name, sizeof(name), jspool_dead[i]);
        if (unlinkat(j.dirfd, name, 0) == -1 && errno != ENOENT)
            log_warn("journal: removing %s", name);
    }
    jspool_ndead = 0;
}

/* Replay: a value whose bytes are file id (a ghost if it is missing). */
struct value *
journal_spool_value(uint64_t id, int64_t desc, const char *meta, size_t metalen,
                    uint64_t len)
{
    char          name[48];
    struct stat   st;
    struct value *v;
    int           fd;

    if (id >= j.spool_next)
        j.spool_next = id + 1;
    jspool_name(name, sizeof(name), id);
    fd = openat(j.dirfd, name, O_RDWR | O_CLOEXEC);
    if (fd != -1 && (fstat(fd, &st) == -1 || (uint64_t)st.st_size < len)) {
        close(fd);
        fd = -1;
    }
    if (fd == -1) {
        v = value_new_spooled(desc, meta, metalen, len, -1);
        if (v != NULL) {
            v->v_flags |= VALUE_GHOST;
            jspool_nghosts++;
        }
        return v;
    }
    if (jspool_get_ino((uint64_t)st.st_ino) == NULL)
        jspool_add(id, (uint64_t)st.st_ino, 1);
    v = value_new_spooled(desc, meta, metalen, len, fd);
    if (v == NULL)
        close(fd);
    return v;
}

/* value.c: a ghost value was freed. */
void
journal_spool_ghost_gone(void)
{
    jspool_nghosts--;
}

size_t
journal_spool_ghosts(void)
{
    return jspool_nghosts;
}

/* Removes the ghosts still held after replay from their variables. */
void
journal_spool_drop_ghosts(void)
{
    struct htab_ent *we, *ve;
    size_t           wpos = 0, vpos, i, n, dropped = 0;

    while ((we = htab_next(ws_table(), &wpos)) != NULL) {
        struct ws *ws = we->h_val;

        vpos = 0;
        while ((ve = htab_next(&ws->ws_vars, &vpos)) != NULL) {
            struct var   *var = ve->h_val;
            struct vqueue keep;

            if (var->var_mode == VAR_CUSTOM || var->var_values.q_len == 0)
                continue;
            memset(&keep, 0, sizeof(keep));
            n = var->var_values.q_len;
            for (i = 0; i < n; i++) {
                struct value *v = vqueue_pop_front(&var->var_values);

                if (v->v_flags & VALUE_GHOST)
                    dropped++;
                else
                    vqueue_push(&keep, v);
                value_unref(v);
            }
            vqueue_clear(&var->var_values);
            var->var_values = keep;
        }
    }
    if (dropped > 0)
        log_warnx("journal: %zu value%s lost: their files are missing from %s", dropped,
                  dropped == 1 ? "" : "s", journal_opts.dir);
}

/* Start-up: whether name is a value file, and its id. */
int
journal_spool_parse(const char *name, uint64_t *id)
{
    char              *end;
    unsigned long long v;

    if (name[0] != 'v' || name[1] < '0' || name[1] > '9')
        return 0;
    v = strtoull(name + 1, &end, 10);
    if (strcmp(end, ".val") != 0)
        return 0;
    *id = v;
    return 1;
}
