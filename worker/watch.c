/*
 * watch.c -- what the worker tells the process that owns it (the local
 * launcher's supervisor thread, or the node launcher nws-worker --count)
 * through the pipe it was given (--watch-fd N).
 *
 * Why: a task's timeout cannot be enforced by the worker alone.  A worker
 * that is stopped (SIGSTOP), or stuck in a function that never returns,
 * runs none of its own code, so only another process can end it.  The
 * owner forks the worker, so it can kill it and start another one; it
 * only needs to know the deadline of the element running now.  The
 * owner also learns that the worker got as far as running a task, so a
 * worker that dies running one (a crashing task) is restarted at once,
 * without the back-off meant for workers that cannot start at all.
 *
 * The messages, one line each, written with one write(2) so that they
 * never interleave:
 *   "t D"  an element started; D is the CLOCK_MONOTONIC second (the clock
 *          every process of the machine shares) after which the owner
 *          kills this worker (SIGTERM, then SIGKILL), or 0 for none.
 *   "e"    the element ended: no deadline any more.
 * An element without a timeout sends nothing, except "t 0" once, for the
 * first task the worker ever ran.  The pipe is non-blocking: if it is
 * full (an owner that does not read), the message is dropped and the
 * worker carries on.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "sleighp.h"
#include "worker.h"

static int watch_fd = -1;
static int watch_said_task; /* "t" was written once */
static int watch_armed;     /* a deadline was written and not yet taken back */

/* Writes one message line; errors are ignored (see above). */
static void
watch_say(const char *line, size_t len)
{
    ssize_t n;

    do
        n = write(watch_fd, line, len);
    while (n < 0 && errno == EINTR);
}

int
watch_start(int fd)
{
    int fl;

    if (fd < 0)
        return 0;
    if ((fl = fcntl(fd, F_GETFL)) < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) != 0 ||
        fcntl(fd, F_SETFD, FD_CLOEXEC) != 0)
        return -1;
    watch_fd = fd;
    return 0;
}

void
watch_begin(double timeout)
{
    char line[64];
    int  len;

    if (watch_fd < 0)
        return;
    if (timeout > 0) {
        len = snprintf(line, sizeof(line), "t %.3f\n",
                       nwsp_mono() + timeout + NWSP_TIMEOUT_GRACE_S);
        watch_say(line, (size_t)len);
        watch_armed = 1;
    } else if (!watch_said_task) {
        watch_say("t 0\n", 4);
    }
    watch_said_task = 1;
}

void
watch_end(void)
{
    if (watch_fd < 0 || !watch_armed)
        return;
    watch_say("e\n", 2);
    watch_armed = 0;
}
