/*
 * cmdin.c -- the standard input of a command task for the sleigh command's
 * --pipe and --pipepart: the task record's "stdin_arg" names the element
 * argument that says where the block is.
 *
 *  - A string: the name of a value in the sleigh workspace (the master
 *    stored the block there).  It is copied, streamed (nws_fetch_fd: never
 *    whole in memory), into an unlinked temporary file that becomes the
 *    command's stdin.  The value is read, not taken: the master deletes it
 *    once the element is done, so a retry (or a requeue after this worker
 *    dies) finds it again.  A file, not a pipe fed from here, because this
 *    process also reads the command's stdout and stderr: writing a pipe
 *    the command does not read would block them both.
 *  - An object {"file", "off", "len", "hlen"}: --pipepart with the workers on the
 *    master's machine, the block read in place as GNU parallel does.  A
 *    feeder process of ours copies the range into a pipe (sendfile), so
 *    the command reads exactly the block (after the file's first hlen bytes,
 *    its --header), and nothing is copied to disk.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/sendfile.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sleighp.h"
#include "worker.h"

/* The value var as a rewound unlinked temporary file; -1 with *error. */
static int
cmdin_value(const struct worker *w, const char *var, char **error)
{
    const char *dir = getenv("TMPDIR");
    char        path[4096];
    nws_ws     *ws;
    nws_error   err = {0};
    int         fd, rc = -1;

    snprintf(path, sizeof(path), "%s/nws-worker.in.XXXXXX",
             dir != NULL && *dir != '\0' ? dir : "/tmp");
    if ((fd = mkostemp(path, O_CLOEXEC)) < 0) {
        if (asprintf(error, "cannot keep the stdin block: %s", strerror(errno)) < 0)
            *error = NULL;
        return -1;
    }
    unlink(path);
    if ((ws = cmdout_conn(w, &err)) == NULL ||
        (rc = nws_fetch_fd(ws, var, NWS_OP_FIND_TRY, fd, NULL, NULL, &err)) < 0 ||
        lseek(fd, 0, SEEK_SET) != 0) {
        if (asprintf(error, "cannot read the stdin block %s: %s", var,
                     err.text[0] != '\0' ? err.text : strerror(errno)) < 0)
            *error = NULL;
        close(fd);
        return -1;
    }
    if (rc == 0) {
        if (asprintf(error, "the stdin block %s is gone", var) < 0)
            *error = NULL;
        close(fd);
        return -1;
    }
    return fd;
}

/* A pipe fed with len bytes of path from off by a process of ours; -1 with *error. */
static int
cmdin_range(const char *path, off_t off, size_t len, size_t hlen, pid_t *feeder,
            char **error)
{
    int     p[2], fd;
    pid_t   parent;
    ssize_t n;
    off_t   hoff = 0;

    if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
        if (asprintf(error, "cannot read %s: %s", path, strerror(errno)) < 0)
            *error = NULL;
        return -1;
    }
    parent = getpid();
    if (pipe2(p, O_CLOEXEC) != 0 || (*feeder = fork()) < 0) {
        close(fd);
        *error = strdup("cannot feed the stdin block: out of resources");
        return -1;
    }
    if (*feeder == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent) /* the worker died before the prctl */
            _exit(1);
        signal(SIGPIPE, SIG_DFL); /* the command stopped reading: stop */
        close(p[0]);
        while (hlen > 0) { /* --header: the file's first hlen bytes go first */
            n = sendfile(p[1], fd, &hoff, hlen);
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0)
                _exit(1);
            hlen -= (size_t)n;
        }
        while (len > 0) {
            n = sendfile(p[1], fd, &off, len > (1 << 20) ? 1 << 20 : len);
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0)
                _exit(1);
            len -= (size_t)n;
        }
        _exit(0);
    }
    close(fd);
    close(p[1]);
    return p[0];
}

int
cmdin_open(const struct worker *w, const json_t *arg, pid_t *feeder, char **error)
{
    const char *path = json_string_value(json_object_get(arg, "file"));
    json_t     *off = json_object_get(arg, "off"), *len = json_object_get(arg, "len");
    json_t     *hlen = json_object_get(arg, "hlen");

    *feeder = 0;
    if (json_is_string(arg))
        return cmdin_value(w, json_string_value(arg), error);
    if (path == NULL || !json_is_integer(off) || !json_is_integer(len) ||
        json_integer_value(off) < 0 || json_integer_value(len) < 0) {
        *error = strdup("malformed task record: stdin_arg names no block");
        return -1;
    }
    return cmdin_range(
        path, (off_t)json_integer_value(off), (size_t)json_integer_value(len),
        json_integer_value(hlen) > 0 ? (size_t)json_integer_value(hlen) : 0, feeder,
        error);
}

void
cmdin_done(pid_t feeder)
{
    if (feeder <= 0)
        return;
    kill(feeder, SIGKILL); /* done, or its command ended without reading all */
    while (waitpid(feeder, NULL, 0) < 0 && errno == EINTR)
        ;
}
