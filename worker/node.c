/*
 * node.c -- nws-worker --count N: the node launcher.
 *
 * The remote launchers (sleigh/launch_ssh.c) run one of these on each node,
 * in the foreground of an ssh channel, instead of N separate workers: it
 * takes N ranks from the sleigh (fetch worker_ids, as the classic
 * sentinel did), starts N workers with those ranks, starts again a worker
 * that dies abnormally (with the same rank, so the master knows where each
 * rank runs; not with --no-restart), and reports on standard output, one
 * line each ("nws-node up RANK PID", ...): the verbs, their arguments and
 * order, and the exit status are in sleigh/node_protocol.h, shared with
 * the reader (launch_ssh.c).
 *
 * Nothing outlives it: with --watch-stdin, the end of standard input (the
 * ssh channel closed: the master stopped, died, or lost its connection)
 * ends every worker (SIGTERM, SIGKILL a second later), as do SIGTERM,
 * SIGINT and SIGHUP; workers also get SIGTERM if this process dies
 * (PR_SET_PDEATHSIG), and each worker takes its running command's process
 * group down with it.
 *
 * Timeouts: each worker writes the deadline of the element it runs to a
 * watch pipe (its descriptor 3, worker/watch.c); a worker past it is
 * killed here (SIGTERM with SIGCONT, then SIGKILL) and started again.
 * This is the process that forked it, on its machine, so this works for
 * a worker that is stopped or stuck, where the worker itself cannot act
 * and the master, on another machine, cannot signal it.  A worker that
 * dies after running a task (a crashing task) is started again at once;
 * the back-off is for workers that die before.  Exit status: 0 when every worker ended with 0 (the
 * sleigh ended) or we were told to stop, 3 if it could not join, else 1.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "node_protocol.h"
#include "sleighp.h"
#include "worker.h"

#define NODE_FAST_DEATH_S  1.0 /* a worker that dies sooner counts as failing at once */
#define NODE_FREE_RESTARTS 3   /* fast deaths in a row restarted without delay */
#define NODE_MAX_BACKOFF_S 2.0
#define NODE_TERM_WAIT_S   1.0 /* after SIGTERM, before SIGKILL */
#define NODE_MAX_COUNT     4096

struct node_slot {
    long     ns_rank;
    pid_t    ns_pid; /* > 0 until reaped */
    double   ns_started;
    unsigned ns_fast;       /* fast deaths in a row */
    double   ns_restart_at; /* > 0: start again then */
    int      ns_gone;       /* ended for good */
    int      ns_status;     /* last wait status */
    struct nwsp_watch ns_watch; /* its watch pipe (ww_fd -1: none) */
    double   ns_term_at;    /* > 0: SIGTERM sent for a timeout then */
};

static int                   node_wake[2] = {-1, -1};
static volatile sig_atomic_t node_stop_sig;

/* SIGCHLD and the stop signals only wake the loop. */
static void
node_on_signal(int sig)
{
    int  e = errno;
    char b = 1;

    if (sig != SIGCHLD)
        node_stop_sig = sig;
    if (write(node_wake[1], &b, 1) < 0) {
        /* full: the loop wakes anyway */
    }
    errno = e;
}

/* Writes a report line; -1 when standard output is gone (the master is). */
static int node_say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int
node_say(const char *fmt, ...)
{
    va_list ap;
    int     rc;

    fputs(NWSP_NODE_PREFIX, stdout);
    va_start(ap, fmt);
    rc = vfprintf(stdout, fmt, ap);
    va_end(ap);
    fputc('\n', stdout);
    return rc < 0 || fflush(stdout) != 0 ? -1 : 0;
}

/* Takes n ranks from the sleigh into ranks; 0, or -1 (reported). */
static int
node_ranks(const struct worker *w, long *ranks, int n)
{
    nws_client *c;
    nws_ws     *ws = NULL;
    nws_error   err;
    char       *txt;
    int         i, rc = -1;

    if ((c = nws_connect_auth(w->w_host, w->w_port, 0, w->w_secret, &err)) == NULL ||
        (ws = nws_ws_use(c, w->w_ws_name, NWS_WS_NOCREATE, &err)) == NULL)
        goto out;
    for (i = 0; i < n; i++) {
        if ((txt = nws_fetch_string(ws, "worker_ids", &err)) == NULL)
            goto out;
        ranks[i] = strtol(txt, NULL, 10);
        free(txt);
        if (ranks[i] < 0) {
            snprintf(err.text, sizeof(err.text), "the sleigh takes no more workers");
            goto out;
        }
    }
    rc = 0;
out:
    if (rc != 0) {
        node_say(NWSP_NODE_ERROR_V " cannot join sleigh %s at %s:%d: %s", w->w_ws_name,
                 w->w_host ? w->w_host : "$NWS_HOST", w->w_port, err.text);
        fprintf(stderr, "nws-worker: cannot join sleigh %s: %s\n", w->w_ws_name,
                err.text);
    }
    nws_ws_free(ws);
    nws_close(c);
    return rc;
}

/* Forks and execs one worker of rank, its watch pipe in *ww; its pid, or -1. */
static pid_t
node_spawn(const char **argv, char *rankbuf, size_t ranklen, long rank, int verbose,
           const char *secret, struct nwsp_watch *ww)
{
    sigset_t empty;
    pid_t    parent = getpid(), pid;
    int      devnull, wp[2], sp[2] = {-1, -1}, wfd, sfd = -1, first = 4;

    snprintf(rankbuf, ranklen, "%ld", rank);
    if (ww->ww_fd >= 0)
        close(ww->ww_fd);
    memset(ww, 0, sizeof(*ww));
    ww->ww_fd = -1;
    /* The secret goes through a pipe (argv has --secret-fd 4), never argv or env. */
    if (secret != NULL) {
        if (pipe2(sp, O_CLOEXEC) != 0)
            return -1;
        if (write(sp[1], secret, strlen(secret)) != (ssize_t)strlen(secret) ||
            write(sp[1], "\n", 1) != 1) {
            close(sp[0]);
            close(sp[1]);
            return -1;
        }
        close(sp[1]);
    }
    if (pipe2(wp, O_CLOEXEC) != 0)
        wp[0] = wp[1] = -1;
    if ((pid = fork()) != 0) {
        if (sp[0] >= 0)
            close(sp[0]);
        if (wp[1] >= 0)
            close(wp[1]);
        if (pid > 0 && wp[0] >= 0 && fcntl(wp[0], F_SETFL, O_NONBLOCK) == 0)
            ww->ww_fd = wp[0];
        else if (wp[0] >= 0)
            close(wp[0]);
        return pid;
    }
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != parent)
        _exit(127);
    sigemptyset(&empty);
    sigprocmask(SIG_SETMASK, &empty, NULL);
    signal(SIGPIPE, SIG_DFL);
    signal(SIGCHLD, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    signal(SIGINT, SIG_DFL);
    signal(SIGHUP, SIG_DFL);
    /* Standard output carries our reports: workers never write there. */
    if ((devnull = open("/dev/null", O_RDWR)) >= 0) {
        dup2(devnull, 0);
        dup2(devnull, 1);
        if (!verbose)
            dup2(devnull, 2);
    }
    /*
     * The watch pipe becomes descriptor 3 (argv says --watch-fd 3) and the
     * secret's pipe descriptor 4 (--secret-fd 4). Both are first moved above
     * 9 so that neither dup2 can clobber the other's source.
     */
    if (wp[1] < 0 || (wfd = fcntl(wp[1], F_DUPFD, 10)) < 0)
        _exit(127);
    if (sp[0] >= 0 && (sfd = fcntl(sp[0], F_DUPFD, 10)) < 0)
        _exit(127);
    if (dup2(wfd, 3) != 3)
        _exit(127);
    if (sfd >= 0) {
        if (dup2(sfd, 4) != 4)
            _exit(127);
        first = 5;
    }
    if (close_range((unsigned)first, ~0U, CLOSE_RANGE_CLOEXEC) != 0)
        for (devnull = first; devnull < 1024; devnull++)
            fcntl(devnull, F_SETFD, FD_CLOEXEC);
    execv(argv[0], (char *const *)argv);
    fprintf(stderr, "nws-worker: %s: %s\n", argv[0], strerror(errno));
    _exit(127);
}

/* 1 if a worker that ended with wait status st is started again. */
static int
node_should_restart(int st)
{
    if (WIFSIGNALED(st))
        return 1;
    if (!WIFEXITED(st))
        return 0;
    switch (WEXITSTATUS(st)) {
    case NWSP_WORKER_EXIT_OK:
    case NWSP_WORKER_EXIT_USAGE:
    case NWSP_WORKER_EXIT_NOJOIN:
    case 127:
        return 0;
    default:
        return 1;
    }
}

/* Describes wait status st in buf. */
static const char *
node_status_text(int st, char *buf, size_t len)
{
    if (WIFSIGNALED(st))
        snprintf(buf, len, "signal=%d", WTERMSIG(st));
    else
        snprintf(buf, len, "exit=%d", WIFEXITED(st) ? WEXITSTATUS(st) : -1);
    return buf;
}

/* Reaps what ended; sets *lost when the reports cannot be written. */
static void
node_reap(struct node_slot *s, int n, int stopping, int restart, int *lost)
{
    char  buf[32];
    pid_t pid;
    int   st, i, again;

    while ((pid = waitpid(-1, &st, WNOHANG)) > 0) {
        for (i = 0; i < n && s[i].ns_pid != pid; i++)
            ;
        if (i == n)
            continue;
        s[i].ns_pid = 0;
        s[i].ns_status = st;
        nwsp_watch_read(&s[i].ns_watch); /* what it said last: did it run a task? */
        again = !stopping && restart && node_should_restart(st);
        if (again) {
            double now = nwsp_mono(), delay = 0;

            s[i].ns_fast = now - s[i].ns_started < NODE_FAST_DEATH_S &&
                                   !s[i].ns_watch.ww_took
                               ? s[i].ns_fast + 1
                               : 0;
            if (s[i].ns_fast > NODE_FREE_RESTARTS) {
                unsigned k = s[i].ns_fast - NODE_FREE_RESTARTS;

                delay = 0.05 * (double)(1u << (k > 6 ? 6 : k));
                if (delay > NODE_MAX_BACKOFF_S)
                    delay = NODE_MAX_BACKOFF_S;
            }
            s[i].ns_restart_at = now + delay;
        } else {
            s[i].ns_gone = 1;
        }
        if (node_say(NWSP_NODE_DOWN_V " %ld %s %s", s[i].ns_rank,
                     again ? NWSP_NODE_AGAIN : NWSP_NODE_FINAL,
                     node_status_text(st, buf, sizeof(buf))) != 0)
            *lost = 1;
    }
}

/* Ends every running worker: SIGTERM, then SIGKILL; reaps them all. */
static void
node_kill_all(struct node_slot *s, int n)
{
    double deadline = nwsp_mono() + NODE_TERM_WAIT_S;
    int    i, alive, lost = 0;

    for (i = 0; i < n; i++)
        if (s[i].ns_pid > 0)
            kill(s[i].ns_pid, SIGTERM);
    for (;;) {
        node_reap(s, n, 1, 0, &lost);
        for (i = 0, alive = 0; i < n; i++)
            alive += s[i].ns_pid > 0;
        if (alive == 0)
            return;
        if (nwsp_mono() > deadline)
            break;
        poll(NULL, 0, 10);
    }
    for (i = 0; i < n; i++)
        if (s[i].ns_pid > 0)
            kill(s[i].ns_pid, SIGKILL);
    for (i = 0; i < n; i++) {
        if (s[i].ns_pid > 0) {
            while (waitpid(s[i].ns_pid, NULL, 0) < 0 && errno == EINTR)
                ;
            s[i].ns_pid = 0;
        }
    }
}

/* Runs the node launcher; returns the exit status. */
int
node_main(struct worker *w, int count, int watch_stdin, int output, int restart)
{
    struct node_slot *s;
    struct sigaction  sa;
    struct pollfd    *pfd;
    char              self[PATH_MAX], portbuf[16], rankbuf[32], buf[512];
    const char       *argv[24];
    long             *ranks;
    ssize_t           len;
    double            now, next;
    int               i, a = 0, lost = 0, stdin_open = watch_stdin, running, rc, np;

    if (count < 1 || count > NODE_MAX_COUNT) {
        fprintf(stderr, "nws-worker: --count: want 1 to %d\n", NODE_MAX_COUNT);
        return NWSP_WORKER_EXIT_USAGE;
    }
    if ((len = readlink("/proc/self/exe", self, sizeof(self) - 1)) <= 0) {
        fprintf(stderr, "nws-worker: cannot find my own program: %s\n", strerror(errno));
        return 1;
    }
    self[len] = '\0';
    s = calloc((size_t)count, sizeof(*s));
    ranks = calloc((size_t)count, sizeof(*ranks));
    pfd = calloc((size_t)count + 2, sizeof(*pfd));
    if (s == NULL || ranks == NULL || pfd == NULL ||
        pipe2(node_wake, O_CLOEXEC | O_NONBLOCK) != 0) {
        fprintf(stderr, "nws-worker: out of memory\n");
        return 1;
    }
    signal(SIGPIPE, SIG_IGN);
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = node_on_signal;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGCHLD, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);

    if (node_ranks(w, ranks, count) != 0) {
        free(pfd);
        free(s);
        free(ranks);
        return NWSP_WORKER_EXIT_NOJOIN;
    }
    /* "ranks R1 R2 ...", cut into lines the master can read whole if long. */
    fputs(NWSP_NODE_PREFIX NWSP_NODE_RANKS_V, stdout);
    for (i = 0; i < count; i++)
        printf(" %ld", ranks[i]);
    fputc('\n', stdout);
    if (fflush(stdout) != 0)
        lost = 1;

    argv[a++] = self;
    if (w->w_host != NULL) {
        argv[a++] = "--host";
        argv[a++] = w->w_host;
    }
    if (w->w_port > 0) {
        snprintf(portbuf, sizeof(portbuf), "%d", w->w_port);
        argv[a++] = "--port";
        argv[a++] = portbuf;
    }
    argv[a++] = "--workspace";
    argv[a++] = w->w_ws_name;
    argv[a++] = "--rank";
    argv[a++] = rankbuf;
    if (w->w_verbose)
        argv[a++] = "--verbose";
    if (output)
        argv[a++] = "--output";
    argv[a++] = "--watch-fd";
    argv[a++] = "3";
    if (w->w_secret != NULL) {
        argv[a++] = "--secret-fd";
        argv[a++] = "4";
    }
    argv[a] = NULL;

    for (i = 0; i < count; i++)
        s[i].ns_watch.ww_fd = -1;
    for (i = 0; i < count && !lost; i++) {
        s[i].ns_rank = ranks[i];
        s[i].ns_status = -1;
        s[i].ns_started = nwsp_mono();
        if ((s[i].ns_pid = node_spawn(argv, rankbuf, sizeof(rankbuf), ranks[i],
                                      w->w_verbose, w->w_secret, &s[i].ns_watch)) < 0) {
            s[i].ns_pid = 0;
            s[i].ns_gone = 1;
            node_say(NWSP_NODE_DOWN_V " %ld " NWSP_NODE_FINAL " exit=127", ranks[i]);
            continue;
        }
        if (node_say(NWSP_NODE_UP_V " %ld %ld", ranks[i], (long)s[i].ns_pid) != 0)
            lost = 1;
    }
    free(ranks);

    for (;;) {
        node_reap(s, count, 0, restart, &lost);
        if (node_stop_sig != 0 || lost)
            break;
        now = nwsp_mono();
        next = now + 1.0;
        for (i = 0, running = 0; i < count; i++) {
            if (s[i].ns_pid == 0 && !s[i].ns_gone && s[i].ns_restart_at > 0) {
                if (s[i].ns_restart_at <= now) {
                    s[i].ns_started = now;
                    s[i].ns_restart_at = 0;
                    s[i].ns_term_at = 0;
                    s[i].ns_pid = node_spawn(argv, rankbuf, sizeof(rankbuf), s[i].ns_rank,
                                             w->w_verbose, w->w_secret, &s[i].ns_watch);
                    if (s[i].ns_pid < 0) {
                        s[i].ns_pid = 0;
                        s[i].ns_gone = 1;
                        node_say(NWSP_NODE_DOWN_V " %ld " NWSP_NODE_FINAL " exit=127",
                                 s[i].ns_rank);
                    } else if (node_say(NWSP_NODE_UP_V " %ld %ld", s[i].ns_rank,
                                        (long)s[i].ns_pid) != 0) {
                        lost = 1;
                    }
                } else if (s[i].ns_restart_at < next) {
                    next = s[i].ns_restart_at;
                }
            }
            running += !s[i].ns_gone;
            /* Timeouts: a worker past its element's deadline is killed. */
            if (s[i].ns_pid > 0 && s[i].ns_watch.ww_fd >= 0) {
                if (nwsp_watch_read(&s[i].ns_watch) != 0) {
                    close(s[i].ns_watch.ww_fd);
                    s[i].ns_watch.ww_fd = -1;
                }
                nwsp_watch_enforce(&s[i].ns_watch, s[i].ns_pid, now, &s[i].ns_term_at);
                if (s[i].ns_watch.ww_deadline > 0) {
                    double at = s[i].ns_term_at > 0 ? s[i].ns_term_at + NWSP_TIMEOUT_TERM_S
                                                    : s[i].ns_watch.ww_deadline;

                    if (at < next)
                        next = at > now ? at : now;
                }
            }
        }
        if (running == 0 || lost)
            break;
        pfd[0].fd = node_wake[0];
        pfd[0].events = POLLIN;
        pfd[1].fd = stdin_open ? 0 : -1;
        pfd[1].events = POLLIN;
        for (i = 0, np = 2; i < count; i++) {
            if (s[i].ns_pid > 0 && s[i].ns_watch.ww_fd >= 0) {
                pfd[np].fd = s[i].ns_watch.ww_fd;
                pfd[np++].events = POLLIN;
            }
        }
        if (poll(pfd, (nfds_t)np, (int)((next - now) * 1000) + 1) > 0) {
            while (read(node_wake[0], buf, sizeof(buf)) > 0)
                ;
            if (stdin_open && (pfd[1].revents & (POLLIN | POLLHUP | POLLERR))) {
                /* Anything the master writes is ignored; its end is the signal. */
                len = read(0, buf, sizeof(buf));
                if (len == 0 || (len < 0 && errno != EINTR && errno != EAGAIN))
                    break;
            }
        }
    }
    for (i = 0, running = 0; i < count; i++)
        running += s[i].ns_pid > 0;
    node_kill_all(s, count);
    rc = 0;
    if (running == 0 && node_stop_sig == 0 && !lost) {
        for (i = 0; i < count; i++)
            if (s[i].ns_status == -1 || !WIFEXITED(s[i].ns_status) ||
                WEXITSTATUS(s[i].ns_status) != 0)
                rc = 1;
        node_say(NWSP_NODE_DONE_V);
    } else {
        node_say(NWSP_NODE_STOPPED_V);
    }
    for (i = 0; i < count; i++)
        if (s[i].ns_watch.ww_fd >= 0)
            close(s[i].ns_watch.ww_fd);
    free(pfd);
    free(s);
    return rc;
}
