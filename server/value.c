/*
 * value.c -- stored values: refcounted, in memory or spooled to a file.
 *
 * A value is shared by the variable that holds it and by every reply still
 * sending it, so it is refcounted; the last unref frees it (and closes a
 * spooled value's file, which was unlinked when it was made, so the kernel
 * deletes it then: no temp file outlives its value, which fixes quirk Q11).
 * In-memory bytes are counted in srv.mem_used against --max-memory; a value
 * that would pass the limit is refused (value_new returns NULL), never
 * dropped later.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "journal.h"
#include "server.h"

/* Bytes a value of len in-memory bytes and metalen metadata costs. */
static uint64_t
value_cost(uint64_t len, size_t metalen)
{
    return sizeof(struct value) + metalen + len;
}

uint64_t
value_footprint(const struct value *v)
{
    return value_cost(v->v_flags & VALUE_SPOOLED ? 0 : v->v_len, v->v_metalen);
}

/*
 * Maps memory for a large value.  Faulting in a fresh gigabyte 4 KiB at a time
 * costs seconds on a virtual machine; asking for transparent huge pages cuts
 * that about threefold, and the mapping goes back to the system on free.
 */
static struct value *
value_map(uint64_t cost)
{
    void *p = mmap(NULL, (size_t)cost, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                   -1, 0);

    if (p == MAP_FAILED)
        return NULL;
    (void)madvise(p, (size_t)cost, MADV_HUGEPAGE);
    return p;
}

/* Returns a new value (one reference) with room for len bytes, or NULL. */
struct value *
value_new(int64_t desc, const char *meta, size_t metalen, uint64_t len)
{
    uint64_t      cost = value_cost(len, metalen);
    struct value *v;
    unsigned      flags = 0;

    if (len > SIZE_MAX - sizeof(*v) - metalen)
        return NULL;
    if (srv.cfg.max_memory != 0 && srv.mem_used + cost > srv.cfg.max_memory)
        return NULL;
    if (cost >= VALUE_MAP_MIN) {
        v = value_map(cost);
        flags = VALUE_MAPPED;
    } else {
        v = malloc((size_t)cost);
    }
    if (v == NULL)
        return NULL;
    v->v_refs = 1;
    v->v_flags = flags;
    v->v_desc = desc;
    v->v_len = len;
    v->v_metalen = (uint32_t)metalen;
    v->v_fd = -1;
    v->v_jid = 0;
    if (metalen > 0)
        memcpy(v->v_buf, meta, metalen);
    srv.mem_used += cost;
    return v;
}

/*
 * A value whose len bytes are still to come from a client.  Only its header
 * and metadata are charged now: conn.c charges the bytes as they arrive
 * (value_charge), so a store announced and never sent holds no budget
 * (17 clients announcing 15 MiB each once locked every store out).  One
 * that could not fit even now is refused at once: NULL.
 */
struct value *
value_new_incoming(const char *meta, size_t metalen, uint64_t len)
{
    struct value *v = value_new(0, meta, metalen, len);

    if (v != NULL)
        srv.mem_used -= len;
    return v;
}

/* Charges n more arrived bytes of an incoming value: 0, or -1 past the limit. */
int
value_charge(uint64_t n)
{
    if (!mem_fits(n))
        return -1;
    srv.mem_used += n;
    return 0;
}

/* An incoming value is dropped with only filled bytes charged: make the
 * charge whole so that value_unref() takes back the right amount. */
void
value_settle(struct value *v, uint64_t filled)
{
    if (!(v->v_flags & VALUE_SPOOLED))
        srv.mem_used += v->v_len - filled;
}

/* Returns a value whose bytes live in fd (which it now owns), or NULL. */
struct value *
value_new_spooled(int64_t desc, const char *meta, size_t metalen, uint64_t len, int fd)
{
    uint64_t      cost = value_cost(0, metalen);
    struct value *v;

    if ((v = malloc((size_t)cost)) == NULL)
        return NULL;
    v->v_refs = 1;
    v->v_flags = VALUE_SPOOLED;
    v->v_desc = desc;
    v->v_len = len;
    v->v_metalen = (uint32_t)metalen;
    v->v_fd = fd;
    v->v_jid = journal_spool_claim(fd); /* 0 unless fd is a file in the journal */
    if (metalen > 0)
        memcpy(v->v_buf, meta, metalen);
    srv.mem_used += cost;
    srv.spooled_bytes += len;   /* shown apart by the web interface */
    srv.nspooled++;
    return v;
}

/* Server-made text (listings, names, times): small, so never refused. */
struct value *
value_new_text(const char *s, size_t len)
{
    struct value *v = xmalloc(value_cost(len, 0));

    v->v_refs = 1;
    v->v_flags = 0;
    v->v_desc = NWSP_DESC_DIRECT_STRING;
    v->v_len = len;
    v->v_metalen = 0;
    v->v_fd = -1;
    v->v_jid = 0;
    memcpy(v->v_buf, s, len);
    srv.mem_used += value_cost(len, 0);
    return v;
}

struct value *
value_ref(struct value *v)
{
    v->v_refs++;
    return v;
}

void
value_unref(struct value *v)
{
    if (v == NULL || --v->v_refs > 0)
        return;
    srv.mem_used -= value_footprint(v);
    if (v->v_flags & VALUE_SPOOLED) {
        srv.spooled_bytes -= v->v_len;
        srv.nspooled--;
    }
    if (v->v_fd != -1)
        close(v->v_fd);
    if (v->v_jid != 0)
        journal_spool_release(v->v_jid); /* its file goes once that is durable */
    if (v->v_flags & VALUE_GHOST)
        journal_spool_ghost_gone();
    if (v->v_flags & VALUE_MAPPED)
        munmap(v, (size_t)value_footprint(v));
    else
        free(v);
}

/*
 * Opens an anonymous file in the temp directory for a spooled value.  It has
 * no name from the start (O_TMPFILE) or loses it at once, so it disappears
 * with its last descriptor whatever way the server ends.
 */
int
value_spool_open(void)
{
    char path[1100];
    int  fd;

    if (journal_active()) /* the value's file lives in the journal directory */
        return journal_spool_open();
    fd = open(srv.cfg.tmpdir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (fd != -1)
        return fd;
    /* The pid in the name lets a later server remove it if we die right here. */
    snprintf(path, sizeof(path), "%s/__nwss%d_XXXXXX.dat", srv.cfg.tmpdir, (int)getpid());
    if ((fd = mkostemps(path, 4, O_CLOEXEC)) == -1) {
        log_warn("spool file in %s", srv.cfg.tmpdir);
        return -1;
    }
    unlink(path);
    return fd;
}
