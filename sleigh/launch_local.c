/*
 * launch_local.c -- the local launcher: nws-worker processes on this machine.
 *
 * A supervisor thread owns the worker processes: it forks every one of
 * them (so PR_SET_PDEATHSIG, which follows the thread that forked, ends
 * them if the master dies), reaps them with waitpid(pid, WNOHANG) every
 * few milliseconds (a library must not take SIGCHLD from its program, nor
 * reap children that are not its own), and starts again a worker that died
 * abnormally, backing off when one keeps dying at once.  The caller's
 * thread only asks, under lc_mu, and waits on lc_cv.
 *
 * Each worker gets the writing end of a watch pipe as its descriptor 3
 * (--watch-fd 3; worker/watch.c has the messages).  Through it the
 * supervisor learns the deadline of the element the worker runs, and
 * kills a worker past it (SIGTERM with SIGCONT, so that a stopped worker
 * ends too, then SIGKILL): the only way to end a worker that is stopped
 * or stuck in a function, since such a worker runs none of its own code.
 * The server ends the task itself with "timed out after N s"; the worker
 * is started again like any that died of a signal.  The pipe also tells
 * whether a worker got as far as running a task: one that dies after
 * that (a crashing task) is started again at once, while the back-off is
 * for workers that die before, i.e. cannot start at all.  Its end of
 * file wakes the supervisor as soon as the worker dies.
 *
 * Invariants: lc_w[i].pid > 0 exactly while that process has not been
 * reaped; only the supervisor thread forks and reaps, until it is joined.
 *
 * A slot normally runs lc_argv, one worker.  The srun launcher uses this
 * supervisor too (nwsp_local_start_argv): its slots run their own argv (an
 * srun standing for several workers on one node) and are never restarted.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "launch.h"
#include "nwsp.h"
#include "sleighp.h"

#define LOCAL_TICK_MS      10   /* how often the supervisor reaps */
#define LOCAL_FAST_DEATH_S 1.0  /* a worker that dies sooner counts as failing at once */
#define LOCAL_FREE_RESTARTS 3   /* fast deaths in a row restarted without delay */
#define LOCAL_MAX_BACKOFF_S 2.0
#define LOCAL_TERM_WAIT_MS 1000 /* after SIGTERM, before SIGKILL */

extern char **environ;

struct local_worker {
    pid_t    lw_pid;        /* > 0 until reaped */
    double   lw_started;    /* monotonic seconds */
    unsigned lw_fast;       /* fast deaths in a row */
    double   lw_restart_at; /* > 0: start again then */
    int      lw_gone;       /* ended for good */
    char   **lw_argv;       /* NULL: lc_argv; else owned, and never restarted */
    char    *lw_node;       /* NULL: localhost; else owned */
    int      lw_tasks;      /* workers the process stands for (lw_argv), else 1 */
    int      lw_status;     /* wait status once gone, -1 unknown */
    struct nwsp_watch lw_watch; /* the worker's watch pipe (ww_fd -1: none) */
    double   lw_term_at;    /* > 0: SIGTERM sent for a timeout then */
};

struct local_launcher {
    struct nwsp_launcher lc_base;
    char               **lc_argv;
    char               **lc_envp;
    char                *lc_cwd;
    int                  lc_verbose;
    int                  lc_restart;
    pid_t                lc_master;  /* our pid, for the child's parent check */
    int                  lc_maxfd;

    pthread_t            lc_thread;
    int                  lc_running; /* the thread was created and not joined */
    pthread_mutex_t      lc_mu;
    pthread_cond_t       lc_cv;
    int                  lc_wake[2]; /* a byte wakes the supervisor */

    struct local_worker *lc_w;
    size_t               lc_nw, lc_cap;
    size_t               lc_want;     /* start slots [lc_nw, lc_want) */
    unsigned             lc_gen;      /* bumped after each start request is served */
    int                  lc_errno;    /* of the last failed start */
    int                  lc_stopping; /* no more restarts */
    int                  lc_quit;     /* the thread must return */
    long                 lc_launched, lc_restarts;
    struct pollfd       *lc_pfd;      /* the supervisor's poll set */
    size_t               lc_npfd;
};

/* Sets NAME=value in vector v (replacing NAME=...); 0, or -1. */
static int
local_env_set(char ***v, size_t *n, const char *entry)
{
    const char *eq = strchr(entry, '=');
    size_t      klen, i;
    char       *copy;

    if (eq == NULL)
        return 0; /* not NAME=value: ignored */
    klen = (size_t)(eq - entry) + 1;
    for (i = 0; i < *n; i++) {
        if (strncmp((*v)[i], entry, klen) == 0) {
            if ((copy = strdup(entry)) == NULL)
                return -1;
            free((*v)[i]);
            (*v)[i] = copy;
            return 0;
        }
    }
    return nwsp_vec_add(v, n, entry);
}

/* Wakes the supervisor thread. */
static void
local_wake(struct local_launcher *lc)
{
    char b = 1;

    if (write(lc->lc_wake[1], &b, 1) < 0) {
        /* The pipe is full: the thread will wake anyway. */
    }
}

/*
 * Forks and execs one worker (supervisor thread, lc_mu held).  Returns the
 * pid, or -1 with lc_errno set.  The child does only async-signal-safe
 * things before execve.
 */
static pid_t
local_spawn(struct local_launcher *lc, char **argv, int watch_w)
{
    sigset_t empty;
    int      ep[2], e = 0, devnull, fd, keep = 3;
    pid_t    pid;
    ssize_t  n;

    if (pipe2(ep, O_CLOEXEC) != 0) {
        lc->lc_errno = errno;
        return -1;
    }
    sigemptyset(&empty);
    if ((pid = fork()) < 0) {
        lc->lc_errno = errno;
        close(ep[0]);
        close(ep[1]);
        return -1;
    }
    if (pid == 0) {
        /*
         * Die with the master (this thread), even if it died a moment ago.
         * SIGTERM, so the worker can take the command it runs (and that
         * command's children) down with it; a worker that will not die gets
         * SIGKILL from stop().
         */
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        if (getppid() != lc->lc_master)
            _exit(127);
        sigprocmask(SIG_SETMASK, &empty, NULL);
        signal(SIGPIPE, SIG_DFL);
        signal(SIGINT, SIG_DFL);
        signal(SIGTERM, SIG_DFL);
        signal(SIGHUP, SIG_DFL);
        signal(SIGCHLD, SIG_DFL);
        if ((devnull = open("/dev/null", O_RDWR)) >= 0) {
            dup2(devnull, 0);
            if (!lc->lc_verbose) {
                dup2(devnull, 1);
                dup2(devnull, 2);
            }
        }
        if (watch_w >= 0) {
            /* The watch pipe becomes descriptor 3; the error pipe moves out of its way. */
            if ((fd = fcntl(ep[1], F_DUPFD_CLOEXEC, 4)) < 0)
                _exit(127);
            ep[1] = fd;
            if ((fd = fcntl(watch_w, F_DUPFD, 4)) < 0 || dup2(fd, 3) != 3)
                _exit(127);
            keep = 4;
        }
        /* No descriptor of the master may live on in a worker (its server socket!). */
        if (close_range((unsigned)keep, ~0U, CLOSE_RANGE_CLOEXEC) != 0)
            for (fd = keep; fd < lc->lc_maxfd; fd++)
                fcntl(fd, F_SETFD, FD_CLOEXEC);
        if (lc->lc_cwd != NULL && chdir(lc->lc_cwd) != 0) {
            e = errno;
        } else {
            execve(argv[0], argv, lc->lc_envp);
            e = errno;
        }
        if (write(ep[1], &e, sizeof(e)) < 0)
            _exit(127);
        _exit(127);
    }
    close(ep[1]);
    do
        n = read(ep[0], &e, sizeof(e));
    while (n < 0 && errno == EINTR);
    close(ep[0]);
    if (n == (ssize_t)sizeof(e)) {
        /* exec failed: the child has exited; reap it here. */
        while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
            ;
        lc->lc_errno = e;
        return -1;
    }
    return pid;
}

/*
 * Starts slot w (a worker of lc_argv, with a watch pipe; or its own argv
 * without one).  The pid, or -1 with lc_errno set.
 */
static pid_t
local_spawn_slot(struct local_launcher *lc, struct local_worker *w)
{
    int   wp[2] = {-1, -1};
    pid_t pid;

    if (w->lw_watch.ww_fd >= 0)
        close(w->lw_watch.ww_fd);
    memset(&w->lw_watch, 0, sizeof(w->lw_watch));
    w->lw_watch.ww_fd = -1;
    w->lw_term_at = 0;
    if (w->lw_argv == NULL && pipe2(wp, O_CLOEXEC) != 0) {
        lc->lc_errno = errno;
        return -1;
    }
    pid = local_spawn(lc, w->lw_argv != NULL ? w->lw_argv : lc->lc_argv, wp[1]);
    if (wp[1] >= 0)
        close(wp[1]);
    if (pid < 0) {
        if (wp[0] >= 0)
            close(wp[0]);
        return -1;
    }
    if (wp[0] >= 0 && fcntl(wp[0], F_SETFL, O_NONBLOCK) == 0)
        w->lw_watch.ww_fd = wp[0];
    else if (wp[0] >= 0)
        close(wp[0]);
    return pid;
}

/* Workers slot w stands for. */
static int
local_tasks(const struct local_worker *w)
{
    return w->lw_argv != NULL ? w->lw_tasks : 1;
}

/* 1 if a worker that ended with status st should be started again. */
static int
local_should_restart(struct local_launcher *lc, const struct local_worker *w, int st)
{
    if (!lc->lc_restart || lc->lc_stopping || w->lw_argv != NULL)
        return 0;
    if (WIFSIGNALED(st))
        return 1;
    if (WIFEXITED(st)) {
        switch (WEXITSTATUS(st)) {
        case NWSP_WORKER_EXIT_OK:
        case NWSP_WORKER_EXIT_USAGE:
        case NWSP_WORKER_EXIT_NOJOIN:
        case 127: /* could not be executed */
            return 0;
        default:
            return 1;
        }
    }
    return 0;
}

/* One pass of the supervisor: starts, reaps, restarts (lc_mu held). */
static void
local_pass(struct local_launcher *lc)
{
    struct local_worker *w;
    double               now = nwsp_mono(), delay;
    int                  st, changed = 0;
    size_t               i;
    pid_t                pid;

    while (lc->lc_nw < lc->lc_want) {
        /* local_request prepared the slot. */
        w = &lc->lc_w[lc->lc_nw];
        w->lw_watch.ww_fd = -1;
        if ((pid = local_spawn_slot(lc, w)) < 0) {
            for (i = lc->lc_nw; i < lc->lc_want; i++) {
                nwsp_vec_free(lc->lc_w[i].lw_argv);
                free(lc->lc_w[i].lw_node);
            }
            lc->lc_want = lc->lc_nw;
            break;
        }
        w->lw_pid = pid;
        w->lw_started = now;
        lc->lc_launched += local_tasks(w);
        lc->lc_nw++;
    }
    if (lc->lc_gen & 1) { /* a start request is waiting for its answer */
        lc->lc_gen++;
        changed = 1;
    }
    for (i = 0; i < lc->lc_nw; i++) {
        w = &lc->lc_w[i];
        if (w->lw_pid > 0 && w->lw_watch.ww_fd >= 0) {
            if (nwsp_watch_read(&w->lw_watch) != 0) {
                close(w->lw_watch.ww_fd); /* it died, or closed it: no more news */
                w->lw_watch.ww_fd = -1;
            }
            nwsp_watch_enforce(&w->lw_watch, w->lw_pid, now, &w->lw_term_at);
        }
        pid = w->lw_pid > 0 ? waitpid(w->lw_pid, &st, WNOHANG) : 0;
        if (pid < 0 && errno == ECHILD) {
            /* The program ignores SIGCHLD: reaped already, status unknown. */
            w->lw_pid = 0;
            w->lw_gone = 1;
            changed = 1;
            continue;
        }
        if (pid > 0 && pid == w->lw_pid) {
            w->lw_pid = 0;
            w->lw_status = st;
            changed = 1;
            if (!local_should_restart(lc, w, st)) {
                w->lw_gone = 1;
                continue;
            }
            /* A worker that ran a task died of it (or of its timeout): no back-off. */
            w->lw_fast = now - w->lw_started < LOCAL_FAST_DEATH_S && !w->lw_watch.ww_took
                             ? w->lw_fast + 1
                             : 0;
            delay = 0;
            if (w->lw_fast > LOCAL_FREE_RESTARTS) {
                delay = 0.05 * (double)(1u << (w->lw_fast - LOCAL_FREE_RESTARTS > 6
                                                   ? 6
                                                   : w->lw_fast - LOCAL_FREE_RESTARTS));
                if (delay > LOCAL_MAX_BACKOFF_S)
                    delay = LOCAL_MAX_BACKOFF_S;
            }
            w->lw_restart_at = now + delay;
        }
        if (w->lw_pid == 0 && !w->lw_gone && w->lw_restart_at > 0 &&
            w->lw_restart_at <= now) {
            if (lc->lc_stopping) {
                w->lw_gone = 1;
                continue;
            }
            if ((pid = local_spawn_slot(lc, w)) > 0) {
                w->lw_pid = pid;
                w->lw_started = now;
                w->lw_restart_at = 0;
                lc->lc_launched++;
                lc->lc_restarts++;
            } else {
                w->lw_restart_at = now + LOCAL_MAX_BACKOFF_S;
            }
            changed = 1;
        }
    }
    if (changed)
        pthread_cond_broadcast(&lc->lc_cv);
}

/* The supervisor thread. */
static void *
local_main(void *arg)
{
    struct local_launcher *lc = arg;
    struct pollfd          one = {.fd = lc->lc_wake[0], .events = POLLIN}, *pfd;
    char                   buf[64];
    size_t                 n, i;

    pthread_mutex_lock(&lc->lc_mu);
    while (!lc->lc_quit) {
        local_pass(lc);
        /* The wake pipe and the watch pipes (a worker's news, or its death). */
        pfd = &one;
        n = 1;
        if (lc->lc_npfd < lc->lc_nw + 1) {
            struct pollfd *np = realloc(lc->lc_pfd, (lc->lc_nw + 1) * sizeof(*np));

            if (np != NULL) {
                lc->lc_pfd = np;
                lc->lc_npfd = lc->lc_nw + 1;
            }
        }
        if (lc->lc_npfd >= lc->lc_nw + 1) {
            pfd = lc->lc_pfd;
            pfd[0] = one;
            for (i = 0; i < lc->lc_nw; i++) {
                if (lc->lc_w[i].lw_pid > 0 && lc->lc_w[i].lw_watch.ww_fd >= 0) {
                    pfd[n].fd = lc->lc_w[i].lw_watch.ww_fd;
                    pfd[n++].events = POLLIN;
                }
            }
        }
        pthread_mutex_unlock(&lc->lc_mu);
        if (poll(pfd, n, LOCAL_TICK_MS) > 0 && (pfd[0].revents & POLLIN))
            while (read(lc->lc_wake[0], buf, sizeof(buf)) > 0)
                ;
        pthread_mutex_lock(&lc->lc_mu);
    }
    local_pass(lc); /* a last reap */
    pthread_mutex_unlock(&lc->lc_mu);
    return NULL;
}

static void local_free(struct nwsp_launcher *l);

/* Makes a local launcher and its supervisor thread; NULL on failure. */
static struct nwsp_launcher *
local_create(const struct nwsp_launch_spec *spec, nws_error *err)
{
    struct local_launcher *lc;
    sigset_t               all, old;
    char                   num[32], *e;
    size_t                 n = 0, i;
    long                   maxfd;
    int                    rc;

    if ((lc = calloc(1, sizeof(*lc))) == NULL)
        goto nomem;
    lc->lc_base.ops = &nwsp_launch_local;
    lc->lc_wake[0] = lc->lc_wake[1] = -1;
    pthread_mutex_init(&lc->lc_mu, NULL);
    pthread_cond_init(&lc->lc_cv, NULL);
    lc->lc_verbose = spec->verbose;
    lc->lc_restart = spec->restart;
    lc->lc_master = getpid();
    maxfd = sysconf(_SC_OPEN_MAX);
    lc->lc_maxfd = maxfd > 0 && maxfd < 65536 ? (int)maxfd : 65536;
    if (spec->working_dir != NULL && (lc->lc_cwd = strdup(spec->working_dir)) == NULL)
        goto nomem;

    snprintf(num, sizeof(num), "%d", spec->port);
    if (nwsp_vec_add(&lc->lc_argv, &n, spec->worker_path) != 0 ||
        nwsp_vec_add(&lc->lc_argv, &n, "--host") != 0 ||
        nwsp_vec_add(&lc->lc_argv, &n, spec->host) != 0 ||
        nwsp_vec_add(&lc->lc_argv, &n, "--port") != 0 ||
        nwsp_vec_add(&lc->lc_argv, &n, num) != 0 ||
        nwsp_vec_add(&lc->lc_argv, &n, "--workspace") != 0 ||
        nwsp_vec_add(&lc->lc_argv, &n, spec->ws_name) != 0 ||
        (spec->verbose && nwsp_vec_add(&lc->lc_argv, &n, "--verbose") != 0) ||
        (spec->output && nwsp_vec_add(&lc->lc_argv, &n, "--output") != 0) ||
        nwsp_vec_add(&lc->lc_argv, &n, "--watch-fd") != 0 ||
        nwsp_vec_add(&lc->lc_argv, &n, "3") != 0)
        goto nomem;

    n = 0;
    if (nwsp_vec_add(&lc->lc_envp, &n, "NWS_SLEIGH_WORKERS=0") != 0)
        goto nomem;
    for (i = 0; environ != NULL && environ[i] != NULL; i++)
        if (local_env_set(&lc->lc_envp, &n, environ[i]) != 0)
            goto nomem;
    for (i = 0; spec->env != NULL && spec->env[i] != NULL; i++)
        if (local_env_set(&lc->lc_envp, &n, spec->env[i]) != 0)
            goto nomem;
    if (asprintf(&e, "NWS_SLEIGH_WORKERS=%d", spec->total) < 0)
        goto nomem;
    rc = local_env_set(&lc->lc_envp, &n, e);
    free(e);
    if (rc != 0)
        goto nomem;

    if (pipe2(lc->lc_wake, O_CLOEXEC | O_NONBLOCK) != 0) {
        nwsp_err_set(err, NWS_ERR_IO, 0, "pipe: %s", strerror(errno));
        local_free(&lc->lc_base);
        return NULL;
    }
    /* The supervisor takes no signals: they belong to the program's threads. */
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    rc = pthread_create(&lc->lc_thread, NULL, local_main, lc);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
        nwsp_err_set(err, NWS_ERR_IO, 0, "cannot start the supervisor thread: %s",
                     strerror(rc));
        local_free(&lc->lc_base);
        return NULL;
    }
    lc->lc_running = 1;
    return &lc->lc_base;
nomem:
    nwsp_err_set(err, NWS_ERR_NOMEM, 0, "out of memory");
    if (lc != NULL)
        local_free(&lc->lc_base);
    return NULL;
}

/*
 * Asks the supervisor to start n more slots, running argv (NULL: lc_argv,
 * one worker each; else one process standing for tasks workers on node),
 * and waits for it; 0, or -1.
 */
static int
local_request(struct local_launcher *lc, const char *const *argv, const char *node,
              int n, int tasks, nws_error *err)
{
    struct local_worker *nw;
    unsigned             gen;
    size_t               before, i, k, cnt;
    int                  rc = 0;

    pthread_mutex_lock(&lc->lc_mu);
    if (lc->lc_stopping) {
        pthread_mutex_unlock(&lc->lc_mu);
        nwsp_err_set(err, NWS_ERR_INVALID, 0, "the launcher is stopping");
        return -1;
    }
    if (lc->lc_nw + (size_t)n > lc->lc_cap) {
        nw = realloc(lc->lc_w, (lc->lc_nw + (size_t)n) * sizeof(*nw));
        if (nw == NULL)
            goto nomem;
        lc->lc_w = nw;
        lc->lc_cap = lc->lc_nw + (size_t)n;
    }
    before = lc->lc_nw;
    for (i = before; i < before + (size_t)n; i++) {
        nw = &lc->lc_w[i];
        memset(nw, 0, sizeof(*nw));
        nw->lw_status = -1;
        if (argv == NULL)
            continue;
        nw->lw_tasks = tasks;
        for (k = 0, cnt = 0; argv[k] != NULL; k++)
            if (nwsp_vec_add(&nw->lw_argv, &cnt, argv[k]) != 0)
                break;
        if (argv[k] != NULL || (nw->lw_node = strdup(node)) == NULL) {
            for (k = before; k <= i; k++) {
                nwsp_vec_free(lc->lc_w[k].lw_argv);
                free(lc->lc_w[k].lw_node);
            }
            goto nomem;
        }
    }
    lc->lc_want = lc->lc_nw + (size_t)n;
    lc->lc_errno = 0;
    gen = ++lc->lc_gen; /* odd: a request is waiting */
    local_wake(lc);
    while (lc->lc_gen == gen)
        pthread_cond_wait(&lc->lc_cv, &lc->lc_mu);
    if (lc->lc_nw < before + (size_t)n) {
        nwsp_err_set(err, NWS_ERR_IO, 0, "cannot run %s: %s",
                     argv != NULL ? argv[0] : lc->lc_argv[0],
                     strerror(lc->lc_errno ? lc->lc_errno : EAGAIN));
        rc = -1;
    }
    pthread_mutex_unlock(&lc->lc_mu);
    return rc;
nomem:
    pthread_mutex_unlock(&lc->lc_mu);
    nwsp_err_set(err, NWS_ERR_NOMEM, 0, "out of memory");
    return -1;
}

/* Asks the supervisor to start n more workers and waits for it; 0, or -1. */
static int
local_start(struct nwsp_launcher *l, const char *node, int n, nws_error *err)
{
    if (node != NULL && strcmp(node, "localhost") != 0) {
        nwsp_err_set(err, NWS_ERR_INVALID, 0, "the local launcher cannot start on %s",
                     node);
        return -1;
    }
    if (n <= 0)
        return 0;
    return local_request((struct local_launcher *)l, NULL, NULL, n, 1, err);
}

/* Starts one never-restarted process running argv, standing for tasks workers. */
int
nwsp_local_start_argv(struct nwsp_launcher *l, const char *const *argv, const char *node,
                      int tasks, nws_error *err)
{
    if (l == NULL || l->ops != &nwsp_launch_local || argv == NULL || argv[0] == NULL ||
        node == NULL || tasks < 1) {
        nwsp_err_set(err, NWS_ERR_INVALID, 0, "bad arguments to start a command");
        return -1;
    }
    return local_request((struct local_launcher *)l, argv, node, 1, tasks, err);
}

/* Fills *st. */
static void
local_status(struct nwsp_launcher *l, struct nwsp_launch_status *st)
{
    struct local_launcher *lc = (struct local_launcher *)l;
    size_t                 i;

    pthread_mutex_lock(&lc->lc_mu);
    st->launched = lc->lc_launched;
    st->restarts = lc->lc_restarts;
    st->running = 0;
    st->wanted = 0;
    for (i = 0; i < lc->lc_nw; i++) {
        st->running += lc->lc_w[i].lw_pid > 0 ? local_tasks(&lc->lc_w[i]) : 0;
        st->wanted += local_tasks(&lc->lc_w[i]);
    }
    pthread_mutex_unlock(&lc->lc_mu);
}

/* The slots grouped by node, as nws_sleigh_nodes reports them: new, or NULL. */
static json_t *
local_nodes(struct nwsp_launcher *l)
{
    struct local_launcher *lc = (struct local_launcher *)l;
    json_t                *arr = json_array(), *o;
    const char            *name;
    size_t                 i, j;
    long                   workers, running;
    int                    seen, st;

    if (arr == NULL)
        return NULL;
    pthread_mutex_lock(&lc->lc_mu);
    for (i = 0; i < lc->lc_nw; i++) {
        name = lc->lc_w[i].lw_node ? lc->lc_w[i].lw_node : "localhost";
        for (j = 0, seen = 0; j < i && !seen; j++)
            seen = strcmp(lc->lc_w[j].lw_node ? lc->lc_w[j].lw_node : "localhost",
                          name) == 0;
        if (seen)
            continue;
        workers = running = 0;
        st = -1;
        for (j = i; j < lc->lc_nw; j++) {
            if (strcmp(lc->lc_w[j].lw_node ? lc->lc_w[j].lw_node : "localhost", name) != 0)
                continue;
            workers += local_tasks(&lc->lc_w[j]);
            running += lc->lc_w[j].lw_pid > 0 ? local_tasks(&lc->lc_w[j]) : 0;
            if (lc->lc_w[j].lw_argv != NULL && lc->lc_w[j].lw_gone)
                st = lc->lc_w[j].lw_status;
        }
        o = json_pack("{s:s, s:s, s:I, s:I}", "node", name, "state",
                      running > 0 ? "running" : lc->lc_stopping ? "stopped" : "exited",
                      "workers", (json_int_t)workers, "running", (json_int_t)running);
        if (o != NULL && st != -1 && WIFEXITED(st))
            json_object_set_new(o, "exit", json_integer(WEXITSTATUS(st)));
        if (o == NULL || json_array_append_new(arr, o) != 0) {
            json_decref(arr);
            arr = NULL;
            break;
        }
    }
    pthread_mutex_unlock(&lc->lc_mu);
    return arr;
}

/* Waits on lc_cv until no worker runs or ms pass (lc_mu held); 1 if none runs. */
static int
local_wait_all(struct local_launcher *lc, int ms)
{
    struct timespec ts, d = nwsp_ms_timespec(ms);
    size_t          i;
    int             alive;

    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += d.tv_sec;
    ts.tv_nsec += d.tv_nsec;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    for (;;) {
        alive = 0;
        for (i = 0; i < lc->lc_nw; i++)
            alive += lc->lc_w[i].lw_pid > 0;
        if (alive == 0)
            return 1;
        if (pthread_cond_timedwait(&lc->lc_cv, &lc->lc_mu, &ts) == ETIMEDOUT) {
            for (i = 0, alive = 0; i < lc->lc_nw; i++)
                alive += lc->lc_w[i].lw_pid > 0;
            return alive == 0;
        }
    }
}

/* Sends sig to every live worker (lc_mu held); returns how many. */
static int
local_kill_all(struct local_launcher *lc, int sig)
{
    size_t i;
    int    n = 0;

    for (i = 0; i < lc->lc_nw; i++) {
        if (lc->lc_w[i].lw_pid > 0) {
            kill(lc->lc_w[i].lw_pid, sig);
            n++;
        }
    }
    return n;
}

/* Ends every worker and the supervisor; returns how many had to be killed. */
static int
local_stop(struct nwsp_launcher *l, int grace_ms)
{
    struct local_launcher *lc = (struct local_launcher *)l;
    size_t                 i;
    int                    killed = 0;

    if (!lc->lc_running)
        return 0;
    pthread_mutex_lock(&lc->lc_mu);
    lc->lc_stopping = 1;
    for (i = 0; i < lc->lc_nw; i++)
        if (lc->lc_w[i].lw_pid == 0)
            lc->lc_w[i].lw_gone = 1;
    if (!local_wait_all(lc, grace_ms > 0 ? grace_ms : 1)) {
        killed = local_kill_all(lc, SIGTERM);
        if (!local_wait_all(lc, LOCAL_TERM_WAIT_MS)) {
            local_kill_all(lc, SIGKILL);
            local_wait_all(lc, 10000);
        }
    }
    lc->lc_quit = 1;
    local_wake(lc);
    pthread_mutex_unlock(&lc->lc_mu);
    pthread_join(lc->lc_thread, NULL);
    lc->lc_running = 0;
    /* Whatever the thread could not reap (it should have): do it here. */
    for (i = 0; i < lc->lc_nw; i++) {
        if (lc->lc_w[i].lw_pid > 0) {
            kill(lc->lc_w[i].lw_pid, SIGKILL);
            while (waitpid(lc->lc_w[i].lw_pid, NULL, 0) < 0 && errno == EINTR)
                ;
            lc->lc_w[i].lw_pid = 0;
        }
    }
    return killed;
}

/* Stops if needed and frees. */
static void
local_free(struct nwsp_launcher *l)
{
    struct local_launcher *lc = (struct local_launcher *)l;
    size_t                 i;

    if (lc == NULL)
        return;
    local_stop(l, 0);
    if (lc->lc_wake[0] >= 0)
        close(lc->lc_wake[0]);
    if (lc->lc_wake[1] >= 0)
        close(lc->lc_wake[1]);
    pthread_mutex_destroy(&lc->lc_mu);
    pthread_cond_destroy(&lc->lc_cv);
    for (i = 0; i < lc->lc_nw; i++) {
        nwsp_vec_free(lc->lc_w[i].lw_argv);
        free(lc->lc_w[i].lw_node);
        if (lc->lc_w[i].lw_watch.ww_fd >= 0)
            close(lc->lc_w[i].lw_watch.ww_fd);
    }
    free(lc->lc_pfd);
    nwsp_vec_free(lc->lc_argv);
    nwsp_vec_free(lc->lc_envp);
    free(lc->lc_cwd);
    free(lc->lc_w);
    free(lc);
}

const struct nwsp_launcher_ops nwsp_launch_local = {
    .name = "local",
    .create = local_create,
    .start = local_start,
    .status = local_status,
    .nodes = local_nodes,
    .stop = local_stop,
    .free = local_free,
};
