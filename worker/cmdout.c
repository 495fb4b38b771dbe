/*
 * cmdout.c -- one stream (stdout or stderr) of a command task, captured for
 * its result.
 *
 * Classic tasks keep a stream in memory and put it into the result record
 * as JSON text (or base64), cut at max_output bytes (1 MiB by default).
 * A task with "spill": N (the sleigh CLI sends it) keeps only N bytes in
 * memory; past that the bytes go to an unlinked temporary file, as GNU
 * parallel does, and at the end the whole file is stored as one value of
 * its own into the sleigh workspace (nws_store_fd: read and sent 64 KiB at
 * a time; the server spools a large value to disk).  The record then names
 * that variable instead of holding the bytes, so an output of any size
 * travels raw, without JSON escaping or base64, and neither the worker nor
 * the master ever holds it whole.  With "spill", max_output has no default:
 * only a cap the task sets cuts output.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "sleighp.h"
#include "worker.h"

/* Our own connection for stored outputs (the task connection has requests in flight). */
static nws_client *cmdout_c;
static nws_ws     *cmdout_ws;
static unsigned    cmdout_seq;
static unsigned    cmdout_nonce;

void
cmdout_init(struct cmdout *o, uint64_t max, size_t spill)
{
    memset(o, 0, sizeof(*o));
    o->co_fd = -1;
    o->co_max = max;
    o->co_spill = spill;
}

/* Moves the bytes held in memory to a new temporary file; 0, or -1 (co_why). */
static int
cmdout_to_file(struct cmdout *o)
{
    const char *dir = getenv("TMPDIR");
    char        path[4096];
    size_t      off = 0;
    ssize_t     n;

    snprintf(path, sizeof(path), "%s/nws-worker.out.XXXXXX",
             dir != NULL && *dir != '\0' ? dir : "/tmp");
    if ((o->co_fd = mkostemp(path, O_CLOEXEC)) < 0) {
        snprintf(o->co_why, sizeof(o->co_why), "cannot keep the output: %.60s: %s",
                 path, strerror(errno));
        return -1;
    }
    unlink(path); /* gone with the descriptor, whatever happens to us */
    while (off < o->co_len) {
        n = write(o->co_fd, o->co_buf + off, o->co_len - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            snprintf(o->co_why, sizeof(o->co_why), "cannot keep the output: %s",
                     strerror(errno));
            return -1;
        }
        off += (size_t)n;
    }
    free(o->co_buf);
    o->co_buf = NULL;
    o->co_len = o->co_cap = 0;
    return 0;
}

void
cmdout_add(struct cmdout *o, const char *p, size_t n)
{
    size_t  cap;
    ssize_t k;
    char   *d;

    if (o->co_total + n > o->co_max) {
        n = o->co_max > o->co_total ? (size_t)(o->co_max - o->co_total) : 0;
        o->co_truncated = 1; /* the rest is read and dropped */
    }
    if (n == 0 || o->co_why[0] != '\0')
        return;
    o->co_total += n;
    if (o->co_fd < 0 && o->co_spill > 0 && o->co_len + n > o->co_spill &&
        cmdout_to_file(o) != 0)
        return;
    if (o->co_fd >= 0) {
        while (n > 0) {
            k = write(o->co_fd, p, n);
            if (k < 0 && errno == EINTR)
                continue;
            if (k < 0) {
                snprintf(o->co_why, sizeof(o->co_why), "cannot keep the output: %s",
                         strerror(errno));
                return;
            }
            p += k;
            n -= (size_t)k;
        }
        return;
    }
    if (o->co_len + n + 1 > o->co_cap) {
        cap = o->co_cap ? o->co_cap : 256;
        while (cap < o->co_len + n + 1)
            cap *= 2;
        if ((d = realloc(o->co_buf, cap)) == NULL) {
            snprintf(o->co_why, sizeof(o->co_why), "out of memory");
            return;
        }
        o->co_buf = d;
        o->co_cap = cap;
    }
    memcpy(o->co_buf + o->co_len, p, n);
    o->co_len += n;
}

/* The connection for stored outputs (and --pipe's blocks), made on first use; NULL with err. */
nws_ws *
cmdout_conn(const struct worker *w, nws_error *err)
{
    if (cmdout_ws != NULL && nws_is_open(cmdout_c))
        return cmdout_ws;
    nws_ws_free(cmdout_ws);
    nws_close(cmdout_c);
    cmdout_ws = NULL;
    if ((cmdout_c = nws_connect_auth(w->w_host, w->w_port, 0, w->w_secret, err)) == NULL)
        return NULL;
    if ((cmdout_ws = nws_ws_use(cmdout_c, w->w_ws_name, NWS_WS_NOCREATE, err)) == NULL) {
        nws_close(cmdout_c);
        cmdout_c = NULL;
    }
    return cmdout_ws;
}

int
cmdout_result(struct cmdout *o, const struct worker *w, json_t *res, const char *name,
              char **error)
{
    char      key[32], var[128];
    char     *enc;
    json_t   *s;
    nws_ws   *ws;
    nws_error err = {0};

    if (o->co_why[0] != '\0') {
        *error = strdup(o->co_why);
        return -1;
    }
    if (o->co_fd < 0) {
        /* Small: in the record, as text if it is UTF-8, else as base64. */
        if ((s = json_stringn(o->co_buf != NULL ? o->co_buf : "", o->co_len)) != NULL)
            return json_object_set_new(res, name, s);
        if ((enc = nwsp_b64_encode(o->co_buf, o->co_len)) == NULL)
            return -1;
        snprintf(key, sizeof(key), "%s_b64", name);
        s = json_string(enc);
        free(enc);
        return json_object_set_new(res, key, s);
    }
    /* Large: a value of its own, under a name no other attempt uses. */
    if (cmdout_nonce == 0 && getrandom(&cmdout_nonce, sizeof(cmdout_nonce), 0) < 0)
        cmdout_nonce = (unsigned)getpid();
    snprintf(var, sizeof(var), "cmdout@%ld@%ld@%x@%u.%s", w->w_rank, (long)getpid(),
             cmdout_nonce, ++cmdout_seq, name);
    if (lseek(o->co_fd, 0, SEEK_SET) != 0 || (ws = cmdout_conn(w, &err)) == NULL ||
        nws_store_fd(ws, var, o->co_fd, o->co_total, NWS_DESC_BYTES, &err) != 0) {
        if (asprintf(error, "cannot store the %s (%llu bytes): %s", name,
                     (unsigned long long)o->co_total,
                     err.text[0] != '\0' ? err.text : strerror(errno)) < 0)
            *error = NULL;
        return -1;
    }
    snprintf(key, sizeof(key), "%s_var", name);
    if (json_object_set_new(res, key, json_string(var)) != 0)
        return -1;
    snprintf(key, sizeof(key), "%s_bytes", name);
    return json_object_set_new(res, key, json_integer((json_int_t)o->co_total));
}

void
cmdout_free(struct cmdout *o)
{
    free(o->co_buf);
    o->co_buf = NULL;
    if (o->co_fd >= 0)
        close(o->co_fd);
    o->co_fd = -1;
}

void
cmdout_cleanup(void)
{
    nws_ws_free(cmdout_ws);
    nws_close(cmdout_c);
    cmdout_ws = NULL;
    cmdout_c = NULL;
}
