/*
 * sleigh_watch.c -- the owner's side of a worker's watch pipe: reading
 * the worker's deadline (worker/watch.c writes it) and killing a worker
 * whose element ran past it.  Used by the local launcher's supervisor
 * thread and by the node launcher (nws-worker --count), the processes
 * that fork workers: only they can end a worker that is stopped or stuck,
 * and start another in its place.
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sleighp.h"

/* Takes one complete message line (NUL-terminated, no newline). */
static void
watch_line(struct nwsp_watch *ww, const char *line)
{
    char  *end;
    double d;

    if (strcmp(line, "e") == 0) {
        ww->ww_deadline = 0;
        return;
    }
    if (line[0] != 't' || line[1] != ' ')
        return; /* not ours: ignored */
    d = strtod(line + 2, &end);
    if (end == line + 2 || *end != '\0' || !(d >= 0))
        return;
    ww->ww_deadline = d;
    ww->ww_took = 1;
}

int
nwsp_watch_read(struct nwsp_watch *ww)
{
    char    buf[512];
    ssize_t n;
    size_t  i;

    if (ww->ww_fd < 0)
        return 1;
    for (;;) {
        n = read(ww->ww_fd, buf, sizeof(buf));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : 1;
        if (n == 0)
            return 1;
        for (i = 0; i < (size_t)n; i++) {
            if (buf[i] == '\n') {
                ww->ww_line[ww->ww_len] = '\0';
                watch_line(ww, ww->ww_line);
                ww->ww_len = 0;
            } else if (ww->ww_len < sizeof(ww->ww_line) - 1) {
                ww->ww_line[ww->ww_len++] = buf[i];
            }
        }
    }
}

int
nwsp_watch_enforce(struct nwsp_watch *ww, pid_t pid, double now, double *term_at)
{
    union sigval sv;

    if (pid <= 0 || ww->ww_deadline <= 0 || now < ww->ww_deadline)
        return 0;
    if (*term_at == 0) {
        /* Queued with a mark, so the worker can log why it is ending. */
        sv.sival_int = NWSP_TIMEOUT_SIGVAL;
        if (sigqueue(pid, SIGTERM, sv) != 0)
            kill(pid, SIGTERM);
        kill(pid, SIGCONT);
        *term_at = now;
        return 1;
    }
    if (now - *term_at >= NWSP_TIMEOUT_TERM_S) {
        kill(pid, SIGKILL);
        ww->ww_deadline = 0; /* once is enough: it cannot outlive SIGKILL */
        return 1;
    }
    return 0;
}
