/*
 * stream.c -- values streamed between a file descriptor and the server.
 *
 * Neither direction holds more than one 64 KiB chunk of the value in
 * memory (section 9.4), so the only limit on a value's size is the
 * server's.  A store announces its length before the bytes, so a source
 * that ends early leaves the stream unrecoverable: the connection is then
 * closed.  A fetch whose destination fails keeps reading (and dropping)
 * the value, so the connection stays in step.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "nwsp.h"

/* The offset of a regular file fd, or -1 (a pipe, a socket, a device). */
static off_t
stream_offset(int fd)
{
    struct stat st;

    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))
        return -1;
    return lseek(fd, 0, SEEK_CUR);
}

/* Stores len bytes read from fd; 0, or -1. */
int
nws_store_fd(nws_ws *ws, const char *var, int fd, uint64_t len, uint32_t desc,
             nws_error *err)
{
    uint64_t left = len;
    char    *chunk;
    ssize_t  n;

    nwsp_err_clear(err);
    if (fd < 0) {
        nwsp_err_set(err, NWS_ERR_INVALID, 0, "bad file descriptor");
        return -1;
    }
    if ((chunk = malloc(NWSP_IO_CHUNK)) == NULL) {
        nwsp_err_set(err, NWS_ERR_NOMEM, 0, "out of memory");
        return -1;
    }
    if (nwsp_store_begin(ws, var, desc, NULL, NULL, len, err) != 0)
        goto fail;
    /* On a session: read the value again from a regular file if it must be
     * sent again, rather than keep a copy of it. */
    if (nwsp_sess_head_len(ws->c) > 0)
        nwsp_sess_source(ws->c, fd, stream_offset(fd));
    while (left > 0) {
        n = read(fd, chunk, left > NWSP_IO_CHUNK ? NWSP_IO_CHUNK : (size_t)left);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            if (n == 0)
                nwsp_err_set(err, NWS_ERR_IO, 0,
                             "the source ended after %llu of %llu bytes",
                             (unsigned long long)(len - left), (unsigned long long)len);
            else
                nwsp_err_set(err, NWS_ERR_IO, 0, "read: %s", strerror(errno));
            /* The server waits for bytes we cannot send: give up the connection. */
            nwsp_conn_fail(ws->c);
            goto fail;
        }
        if (nwsp_conn_write(ws->c, chunk, (size_t)n, err) != 0)
            goto fail;
        left -= (uint64_t)n;
    }
    free(chunk);
    return nwsp_reply_short(ws->c, err);
fail:
    free(chunk);
    return -1;
}

/* Writes all of p to fd; 0, or -1 with errno set. */
static int
stream_write_all(int fd, const char *p, size_t len)
{
    ssize_t n;

    while (len > 0) {
        n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Reads var with op into fd: 1, 0 (no value), or -1. */
int
nws_fetch_fd(nws_ws *ws, const char *var, enum nws_op op, int fd, uint32_t *desc,
             uint64_t *len, nws_error *err)
{
    struct nwsp_reply r;
    uint64_t          left;
    size_t            k;
    char             *chunk;
    int               rc, failed = 0;

    nwsp_err_clear(err);
    if (fd < 0) {
        nwsp_err_set(err, NWS_ERR_INVALID, 0, "bad file descriptor");
        return -1;
    }
    if ((chunk = malloc(NWSP_IO_CHUNK)) == NULL) {
        nwsp_err_set(err, NWS_ERR_NOMEM, 0, "out of memory");
        return -1;
    }
    if ((rc = nwsp_get_begin(ws, var, op, NULL, 0, &r, err)) != 1) {
        free(chunk);
        return rc;
    }
    if (desc != NULL)
        *desc = r.desc;
    if (len != NULL)
        *len = r.len;
    for (left = r.len; left > 0; left -= k) {
        k = left > NWSP_IO_CHUNK ? NWSP_IO_CHUNK : (size_t)left;
        if (nwsp_conn_read(ws->c, chunk, k, err) != 0) {
            free(chunk);
            return -1;
        }
        if (!failed && stream_write_all(fd, chunk, k) != 0) {
            nwsp_err_set(err, NWS_ERR_IO, 0, "write: %s", strerror(errno));
            failed = 1;
        }
    }
    free(chunk);
    return failed ? -1 : 1;
}
