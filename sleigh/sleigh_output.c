/*
 * sleigh_output.c -- command results of any size: arguments that are not
 * UTF-8, and output streams stored as values of their own.
 *
 * A command task with "spill" (nws_sleigh.h) gets a stream longer than
 * that back as a variable of the sleigh workspace named by "<stream>_var"
 * ("<stream>_bytes" long) instead of text in the record.  Its bytes are
 * raw: nws_sleigh_output_fd copies them to a file descriptor as they come
 * from the server (nws_fetch_fd), so no side holds a large output in
 * memory, and deletes the variable.  Streams in the record are written
 * from it, so callers need not tell the two apart.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "nwsp.h"
#include "sleighp.h"

json_t *
nws_sleigh_bytes(const char *p, size_t len)
{
    json_t *s = json_stringn(p != NULL ? p : "", len);
    char   *enc;

    if (s != NULL)
        return s;
    /* Not UTF-8: JSON text cannot carry it, base64 can (command.c decodes it). */
    if ((enc = nwsp_b64_encode(p, len)) == NULL)
        return NULL;
    s = json_pack("{s:s}", "nwsBytes", enc);
    free(enc);
    return s;
}

/* Writes all of p to fd; 0, or -1. */
static int
output_write_all(int fd, const char *p, size_t len)
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

int
nws_sleigh_output_fd(nws_sleigh *s, const json_t *cmd_value, const char *stream, int fd,
                     uint64_t *len, nws_error *err)
{
    char        key[32];
    const char *var;
    char       *buf;
    size_t      n;
    uint64_t    got = 0;
    nws_client *c;
    nws_ws     *ws;
    nws_error   e, e2;
    int         rc;

    nwsp_err_clear(err);
    if (len != NULL)
        *len = 0;
    if (s == NULL || !json_is_object(cmd_value) || stream == NULL || strlen(stream) > 16) {
        nwsp_err_set(err, NWS_ERR_INVALID, 0, "not a command result");
        return -1;
    }
    snprintf(key, sizeof(key), "%s_var", stream);
    if ((var = json_string_value(json_object_get(cmd_value, key))) == NULL) {
        /* In the record (or none at all: nothing to write). */
        if ((buf = nws_sleigh_output(cmd_value, stream, &n)) == NULL)
            return 0;
        rc = fd < 0 ? 0 : output_write_all(fd, buf, n);
        free(buf);
        if (rc != 0) {
            nwsp_err_set(err, NWS_ERR_IO, 0, "write: %s", strerror(errno));
            return -1;
        }
        if (len != NULL)
            *len = n;
        return 0;
    }
    memset(&e, 0, sizeof(e));
    if ((c = nwsp_sleigh_conn_get(s, &ws, &e)) == NULL) {
        nwsp_err_set(err, e.code == NWS_ERR_IO ? NWS_ERR_CONNECT : e.code, e.status, "%s",
                     e.text);
        return -1;
    }
    rc = 1;
    if (fd >= 0) {
        /* Try: the value is there once the result is, so never wait for it. */
        rc = nws_fetch_fd(ws, var, NWS_OP_FETCH_TRY, fd, NULL, &got, &e);
        if (rc == 0)
            nwsp_err_set(&e, NWS_ERR_NO_VALUE, 0, "the stored %s is gone", stream);
        /* NWS_ERR_IO means the caller's fd only: a lost connection says so. */
        if (rc < 0 && e.code == NWS_ERR_IO && !nws_is_open(c))
            e.code = NWS_ERR_CLOSED;
    }
    /* The variable goes whatever happened, so the workspace keeps nothing. */
    memset(&e2, 0, sizeof(e2));
    if (nws_is_open(c) && nws_delete_var(ws, var, &e2) != 0 && rc == 1 &&
        e2.code != NWS_ERR_SERVER) {
        e = e2;
        rc = -1;
    }
    nwsp_sleigh_conn_put(s, c, ws, nws_is_open(c));
    if (len != NULL)
        *len = got;
    if (rc != 1)
        nwsp_err_set(err, e.code, e.status, "%s", e.text);
    return rc == 1 ? 0 : -1;
}
