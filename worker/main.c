/*
 * main.c -- nws-worker: join a sleigh workspace, take tasks, run them,
 * store results, until the sleigh ends.
 *
 * The loop keeps one blocking `fetch task` in flight: after its tasks it
 * sends their `store result`s and the next `fetch task` together (the
 * server answers in order), so a round costs one round trip; when tasks
 * are short it also takes more per round (worker_hold).  Every way the sleigh can
 * end (workspace deleted or purged, "sleigh is dead", the server gone)
 * makes that fetch fail, and the worker exits 0.  Exit codes: 0 the
 * sleigh ended, 1 an unexpected error, 2 bad usage, 3 could not join
 * (launchers do not restart a worker that exits 0, 2 or 3).
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "frame.h"
#include "secret.h"
#include "sleighp.h"
#include "worker.h"

/* Results up to this size ride with the next fetch; larger ones are checked first. */
#define WORKER_PIPELINE_MAX 65536
#define WORKER_SEND_MAX     (256 * 1024) /* requests sent in one write at most */
#define WORKER_HOLD_MAX     32           /* tasks taken per round trip at most */
#define WORKER_HOLD_BUDGET  0.001        /* seconds of short tasks one may hold */
#define WORKER_REGISTER_TRIES 50
#define WORKER_REJOIN         (-2) /* worker_loop: the session was lost, join again */
#define WORKER_REJOIN_MAX     100  /* rejoins at most (a server losing all sessions) */

static void
worker_usage(FILE *fp)
{
    fprintf(fp,
            "usage: nws-worker [--host HOST] [--port PORT] --workspace NAME [--rank N]\n"
            "                  [--verbose] [--output] [--count N [--watch-stdin]\n"
            "                  [--no-restart]] [--secret-fd FD] [--watch-fd FD]\n"
            "       nws-worker --version | --help\n"
            "Joins the sleigh workspace NAME on the NWS server and runs its tasks until\n"
            "the sleigh ends.  Defaults come from NWS_HOST, NWS_PORT, NWS_SLEIGH_WS and\n"
            "NWS_SLEIGH_RANK.  With --count N, runs N workers instead and looks after\n"
            "them (--watch-stdin: until standard input closes).  A server's secret\n"
            "comes from the first line read on FD, else NWS_AUTH_FILE or ~/.nws/secret.\n"
            "See nws-worker(1).\n");
}

void
worker_log(const struct worker *w, const char *fmt, ...)
{
    va_list ap;

    if (!w->w_verbose)
        return;
    fprintf(stderr, "nws-worker[%ld]: ", w->w_rank);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

/*
 * SIGTERM (from a launcher, or the master's death through PDEATHSIG) and
 * SIGINT/SIGHUP: take the running command's process group down too, then
 * die of the signal.
 */
static void
worker_on_signal(int sig, siginfo_t *si, void *uc)
{
    static const char timed_out[] =
        "nws-worker: killed by SIGTERM: the element ran past its timeout\n";
    pid_t g = command_pgid;

    (void)uc;
    if (g > 0)
        kill(-g, SIGKILL);
    /* The owner marks the SIGTERM of a timeout (sleighp.h): say so in the log. */
    if (sig == SIGTERM && si != NULL && si->si_code == SI_QUEUE &&
        si->si_value.sival_int == NWSP_TIMEOUT_SIGVAL &&
        write(2, timed_out, sizeof(timed_out) - 1) < 0) {
        /* nowhere to say it */
    }
    signal(sig, SIG_DFL);
    raise(sig);
}

/* 1 if err means the sleigh (or the server) is gone, so a clean exit. */
static int
worker_sleigh_over(const nws_error *err)
{
    return err->code == NWS_ERR_SERVER || err->code == NWS_ERR_CLOSED ||
           err->code == NWS_ERR_IO;
}

/*
 * 1 if err says libnws tried to reconnect for its whole limit
 * (nws_set_reconnect, $NWS_RECONNECT) and the server never came back: not
 * the sleigh ending, so the worker says so, and exits as one that could not
 * reach its sleigh (launchers do not restart it: the server is not there).
 */
static int
worker_server_unreachable(const nws_error *err)
{
    return err->code == NWS_ERR_CLOSED && strstr(err->text, "unreachable") != NULL;
}

/*
 * Stores rank into worker_ids, with our pid and host name as metadata: the
 * server keeps both in "worker registrations", where the web view finds
 * them.  0, or -1.
 */
static int
worker_register(struct worker *w, const char *rank, nws_error *err)
{
    nws_value *v = nws_value_string(rank, err);
    nws_meta  *m = v != NULL ? nws_value_meta(v) : NULL;
    char       pid[32], host[256];

    if (m == NULL) {
        nws_value_free(v);
        return -1;
    }
    snprintf(pid, sizeof(pid), "%ld", (long)getpid());
    if (gethostname(host, sizeof(host)) != 0)
        host[0] = '\0';
    host[sizeof(host) - 1] = '\0';
    if (nws_meta_set(m, "pid", pid, err) != 0 ||
        (host[0] != '\0' && nws_meta_set(m, "host", host, err) != 0)) {
        nws_value_free(v);
        return -1;
    }
    if (nws_store_new(w->w_ws, "worker_ids", v, err) == 0)
        return 0;
    if (err->code != NWS_ERR_UNSUPPORTED)
        return -1;
    /* A server that takes no request metadata: register without pid and host. */
    memset(err, 0, sizeof(*err));
    return nws_store_string(w->w_ws, "worker_ids", rank, err);
}

/* Gets a rank (if none was given) and registers; 0, or -1. */
static int
worker_join(struct worker *w, nws_error *err)
{
    char *txt, buf[32];
    int   i;

    if (w->w_rank < 0) {
        /* A fresh rank from the server, as a sentinel would get it. */
        if ((txt = nws_fetch_string(w->w_ws, "worker_ids", err)) == NULL)
            return -1;
        w->w_rank = strtol(txt, NULL, 10);
        free(txt);
        if (w->w_rank < 0) {
            fprintf(stderr, "nws-worker: the sleigh takes no more workers\n");
            return -1;
        }
    }
    snprintf(buf, sizeof(buf), "%ld", w->w_rank);
    for (i = 0;; i++) {
        if (worker_register(w, buf, err) == 0)
            return 0;
        /* A worker of the same rank that just died may not be gone yet. */
        if (err->code != NWS_ERR_SERVER || strstr(err->text, "duplicate") == NULL ||
            i == WORKER_REGISTER_TRIES)
            return -1;
        nwsp_sleep_ms(100);
    }
}

/*
 * The session was lost (the server restarted without its journal, or did
 * not hear from us for its --resume-grace): the server ended our
 * registration and put our tasks back.  Join again on a new connection,
 * with the same rank if the server lets us have it, else with a new one.
 * 0, or -1 (err set; NWS_ERR_SERVER "no workspace" means the sleigh is gone).
 */
static int
worker_rejoin(struct worker *w, nws_error *err)
{
    nws_ws_free(w->w_ws);
    nws_close(w->w_c);
    w->w_ws = NULL;
    if ((w->w_c = nws_connect_auth(w->w_host, w->w_port, 0, w->w_secret, err)) == NULL ||
        (w->w_ws = nws_ws_use(w->w_c, w->w_ws_name, NWS_WS_NOCREATE, err)) == NULL)
        return -1;
    if (worker_join(w, err) == 0)
        return 0;
    if (err->code != NWS_ERR_SERVER)
        return -1;
    /* Our rank is another worker's now, or the group took no more: a new one. */
    worker_log(w, "rank %ld refused (%s): asking for a new one", w->w_rank, err->text);
    w->w_rank = -1;
    memset(err, 0, sizeof(*err));
    return worker_join(w, err);
}

/* Stores a replacement error result after a result store was refused; 0, or -1. */
static int
worker_store_refused(struct worker *w, const nws_value *task, const char *why,
                     nws_error *err)
{
    const nws_meta *m = nws_value_meta_get(task);
    long            first = 0, count = 0;
    char            text[256];
    json_t         *rec;

    nwsp_sleigh_meta_long(m, "nwsFirst", &first);
    nwsp_sleigh_meta_long(m, "nwsCount", &count);
    snprintf(text, sizeof(text), "the result could not be stored: %s", why);
    rec = json_pack("{s:I, s:I, s:I, s:s}", "first", (json_int_t)first, "count",
                    (json_int_t)count, "rank", (json_int_t)w->w_rank, "error", text);
    return nws_store_json_new(w->w_ws, NWSP_SLEIGH_RESULT, rec, err);
}

/* Reads the short replies of n result stores sent earlier; 0, or -1 (err set). */
static int
worker_read_stores(struct worker *w, int n, nws_error *err)
{
    for (; n > 0; n--) {
        if (nwsp_sleigh_read_short(w->w_c, err) != 0) {
            if (err->code != NWS_ERR_SERVER)
                return -1;
            /* Its task stays running, and the next fetch puts it back. */
            worker_log(w, "result refused: %s", err->text);
            memset(err, 0, sizeof(*err));
        }
    }
    return 0;
}

/*
 * How many tasks to take in the next round trip: one, unless recent tasks
 * were short, and then no more than WORKER_HOLD_BUDGET seconds of them, so
 * a worker never sits on work another one could start (avg: seconds per
 * task, moving average; < 0 when unknown).
 */
static int
worker_hold(const struct worker *w, double avg)
{
    double n;

    if (!w->w_keep || avg < 0)
        return 1;
    n = avg > 0 ? WORKER_HOLD_BUDGET / avg : WORKER_HOLD_MAX;
    return n >= WORKER_HOLD_MAX ? WORKER_HOLD_MAX : n < 1 ? 1 : (int)n;
}

/*
 * The task loop; returns the exit code.  A round trip sends the results of
 * the tasks in hand, one blocking `fetch task` and, when tasks are short,
 * fetchTry requests with metadata nwsKeep=1 for more (the server keeps them
 * all as running on this worker), in one write.  Each result store carries
 * its task's metadata, which tells the server which task it ends.
 */
static int
worker_loop(struct worker *w)
{
    nws_value      *tasks[WORKER_HOLD_MAX], *res = NULL, *v;
    struct nwsp_buf out = {0};
    nws_meta       *keep = NULL;
    nws_error       err = {0};
    long            done = 0;
    int             rc, i, j, ntasks = 0, ntries = 0, hold = 1, stores = 0;
    double          avg = -1, t0, dt, started;

    if (w->w_keep && ((keep = nws_meta_new()) == NULL ||
                      nws_meta_set(keep, "nwsKeep", "1", NULL) != 0)) {
        nws_meta_free(keep);
        keep = NULL;
        w->w_keep = 0;
    }
    /* The nwsp_ calls below record errors but, unlike the public API, do not
     * clear err first: clear it before each step. */
    if (nwsp_sleigh_put_get(w->w_ws, &out, NWSP_SLEIGH_TASK, NWS_OP_FETCH, NULL, &err) != 0 ||
        nwsp_sleigh_send_buf(w->w_c, &out, &err) != 0)
        goto over;
    for (;;) {
        memset(&err, 0, sizeof(err));
        if ((rc = nwsp_sleigh_read_value(w->w_c, 0, -1, &tasks[0], &err)) != 1)
            goto over;
        ntasks = 1;
        for (i = 0; i < ntries; i++) {
            if ((rc = nwsp_sleigh_read_value(w->w_c, 1, -1, &v, &err)) < 0)
                goto over;
            if (rc == 1)
                tasks[ntasks++] = v;
        }
        ntries = 0;
        started = nwsp_mono();
        for (i = 0; i < ntasks; i++) {
            if (i > 0 && nwsp_mono() - started > 2 * WORKER_HOLD_BUDGET) {
                /* These turned out long: give the rest back (below), so that
                 * other workers can start them now. */
                for (j = i; j < ntasks; j++)
                    nws_value_free(tasks[j]);
                ntasks = i;
                worker_log(w, "giving back tasks: these are long");
                break;
            }
            t0 = nwsp_mono();
            if ((res = task_run(w, tasks[i])) == NULL) {
                fprintf(stderr, "nws-worker: out of memory\n");
                rc = 1;
                goto fail;
            }
            dt = nwsp_mono() - t0;
            avg = avg < 0 ? dt : (avg + dt) / 2;
            done++;
            task_note_errors(tasks[i], res); /* the store says how many failed */
            if (nwsp_sleigh_put_store(w->w_ws, &out, NWSP_SLEIGH_RESULT, res,
                                      nws_value_meta_get(tasks[i]), &err) != 0)
                goto over;
            stores++;
            if (nws_value_size(res) > WORKER_PIPELINE_MAX) {
                /* A large result may be refused (memory limit): check before moving on. */
                if (nwsp_sleigh_send_buf(w->w_c, &out, &err) != 0 ||
                    worker_read_stores(w, stores - 1, &err) != 0)
                    goto over;
                stores = 0;
                if (nwsp_sleigh_read_short(w->w_c, &err) != 0) {
                    char why[sizeof(err.text)];

                    memcpy(why, err.text, sizeof(why));
                    if (err.code != NWS_ERR_SERVER ||
                        worker_store_refused(w, tasks[i], why, &err) != 0)
                        goto over;
                }
            } else if (out.len > WORKER_SEND_MAX &&
                       nwsp_sleigh_send_buf(w->w_c, &out, &err) != 0) {
                goto over;
            }
            nws_value_free(res);
            res = NULL;
        }
        hold = worker_hold(w, avg);
        /* A fetch without nwsKeep: whatever we still hold goes back first. */
        if (nwsp_sleigh_put_get(w->w_ws, &out, NWSP_SLEIGH_TASK, NWS_OP_FETCH, NULL, &err) !=
            0)
            goto over;
        for (; ntries < hold - 1; ntries++)
            if (nwsp_sleigh_put_get(w->w_ws, &out, NWSP_SLEIGH_TASK, NWS_OP_FETCH_TRY, keep,
                                    &err) != 0)
                goto over;
        if (nwsp_sleigh_send_buf(w->w_c, &out, &err) != 0 ||
            worker_read_stores(w, stores, &err) != 0)
            goto over;
        stores = 0;
        for (i = 0; i < ntasks; i++)
            nws_value_free(tasks[i]);
        ntasks = 0;
    }
over:
    rc = -1;
fail:
    nws_value_free(res);
    for (i = 0; i < ntasks; i++)
        nws_value_free(tasks[i]);
    nwsp_buf_free(&out);
    nws_meta_free(keep);
    if (rc == 1)
        return 1;
    worker_log(w, "leaving after %ld tasks: %s", done, err.text);
    if (err.code == NWS_ERR_SESSION ||
        (err.code == NWS_ERR_SERVER &&
         strstr(err.text, NWSP_SLEIGH_UNREGISTERED_TEXT) != NULL)) {
        /* What we held went back with the session (or the registration,
         * which the server could not bind again after a restart): join
         * again (main). */
        fprintf(stderr, "nws-worker[%ld]: %s: joining the sleigh again\n", w->w_rank,
                err.text[0] ? err.text : "session lost");
        return WORKER_REJOIN;
    }
    if (worker_server_unreachable(&err)) {
        fprintf(stderr, "nws-worker[%ld]: leaving: %s\n", w->w_rank, err.text);
        return NWSP_WORKER_EXIT_NOJOIN;
    }
    if (worker_sleigh_over(&err))
        return NWSP_WORKER_EXIT_OK;
    fprintf(stderr, "nws-worker: %s (%s)\n", err.text, nws_errcode_str(err.code));
    return 1;
}

/*
 * Reads the secret, one line, from fd (closed after, unless it is standard
 * input, which a node launcher goes on watching).  Byte by byte: nothing
 * after the line is consumed.  0, or -1 (reported).
 */
static int
worker_read_secret(int fd, char *buf, size_t len)
{
    size_t  n = 0;
    ssize_t r;
    char    ch;

    for (;;) {
        while ((r = read(fd, &ch, 1)) < 0 && errno == EINTR)
            ;
        if (r <= 0 || ch == '\n' || n == len - 1)
            break;
        if (ch != '\r')
            buf[n++] = ch;
    }
    buf[n] = '\0';
    if (fd != 0)
        close(fd);
    if (r != 1 || ch != '\n' || n == 0) {
        explicit_bzero(buf, len);
        fprintf(stderr, "nws-worker: --secret-fd %d: no secret line\n", fd);
        return -1;
    }
    return 0;
}

int
main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"host", required_argument, NULL, 'h'},
        {"port", required_argument, NULL, 'p'},
        {"workspace", required_argument, NULL, 'w'},
        {"rank", required_argument, NULL, 'r'},
        {"verbose", no_argument, NULL, 'v'},
        {"output", no_argument, NULL, 'o'},
        {"count", required_argument, NULL, 'c'},
        {"watch-stdin", no_argument, NULL, 'W'},
        {"no-restart", no_argument, NULL, 'N'},
        {"secret-fd", required_argument, NULL, 'S'},
        {"watch-fd", required_argument, NULL, 'F'},
        {"help", no_argument, NULL, 'H'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    struct worker w;
    nws_error     err;
    const char   *e;
    char         *end;
    int           ch, output = 0, rc, count = 0, watch = 0, restart = 1, secret_fd = -1;
    int              watch_fd = -1, i;
    static char   secret[NWSP_SECRET_MAX + 2];
    struct sigaction sa;

    memset(&w, 0, sizeof(w));
    w.w_rank = -1;
    w.w_workers = -1;
    w.w_ws_name = getenv("NWS_SLEIGH_WS");
    if ((e = getenv("NWS_SLEIGH_RANK")) != NULL && *e != '\0')
        w.w_rank = strtol(e, NULL, 10);
    if ((e = getenv("NWS_SLEIGH_WORKERS")) != NULL && *e != '\0')
        w.w_workers = (int)strtol(e, NULL, 10);
    while ((ch = getopt_long(argc, argv, "h:p:w:r:vo", opts, NULL)) != -1) {
        switch (ch) {
        case 'h':
            w.w_host = optarg;
            break;
        case 'p':
            w.w_port = (int)strtol(optarg, &end, 10);
            if (*end != '\0' || w.w_port <= 0 || w.w_port > 65535) {
                fprintf(stderr, "nws-worker: bad port %s\n", optarg);
                return NWSP_WORKER_EXIT_USAGE;
            }
            break;
        case 'w':
            w.w_ws_name = optarg;
            break;
        case 'r':
            w.w_rank = strtol(optarg, &end, 10);
            if (*end != '\0' || w.w_rank < 0) {
                fprintf(stderr, "nws-worker: bad rank %s\n", optarg);
                return NWSP_WORKER_EXIT_USAGE;
            }
            break;
        case 'v':
            w.w_verbose = 1;
            break;
        case 'o':
            output = 1;
            break;
        case 'c':
            count = (int)strtol(optarg, &end, 10);
            if (*end != '\0' || count < 1) {
                fprintf(stderr, "nws-worker: bad count %s\n", optarg);
                return NWSP_WORKER_EXIT_USAGE;
            }
            break;
        case 'W':
            watch = 1;
            break;
        case 'N':
            restart = 0;
            break;
        case 'S':
            secret_fd = (int)strtol(optarg, &end, 10);
            if (*end != '\0' || secret_fd < 0) {
                fprintf(stderr, "nws-worker: bad descriptor %s\n", optarg);
                return NWSP_WORKER_EXIT_USAGE;
            }
            break;
        case 'F':
            watch_fd = (int)strtol(optarg, &end, 10);
            if (*end != '\0' || watch_fd < 0) {
                fprintf(stderr, "nws-worker: bad watch fd %s\n", optarg);
                return NWSP_WORKER_EXIT_USAGE;
            }
            break;
        case 'H':
            worker_usage(stdout);
            return 0;
        case 'V':
            printf("nws-worker %s\n", NWS_VERSION);
            return 0;
        default:
            worker_usage(stderr);
            return NWSP_WORKER_EXIT_USAGE;
        }
    }
    if (optind != argc || w.w_ws_name == NULL || *w.w_ws_name == '\0' ||
        (watch && count == 0)) {
        worker_usage(stderr);
        return NWSP_WORKER_EXIT_USAGE;
    }
    if (secret_fd >= 0) {
        if (worker_read_secret(secret_fd, secret, sizeof(secret)) != 0)
            return NWSP_WORKER_EXIT_NOJOIN;
        w.w_secret = secret;
    }
    if (count > 0)
        return node_main(&w, count, watch, output, restart); /* ranks: from the sleigh */
    signal(SIGPIPE, SIG_IGN);
    memset(&sa, 0, sizeof(sa));
    sa.sa_sigaction = worker_on_signal;
    sa.sa_flags = SA_SIGINFO;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    if (watch_start(watch_fd) != 0)
        watch_fd = -1; /* not a pipe we can use: no owner to tell */

    if ((w.w_c = nws_connect_auth(w.w_host, w.w_port, 0, w.w_secret, &err)) == NULL ||
        (w.w_ws = nws_ws_use(w.w_c, w.w_ws_name, NWS_WS_NOCREATE, &err)) == NULL ||
        worker_join(&w, &err) != 0) {
        fprintf(stderr, "nws-worker: cannot join sleigh %s: %s\n", w.w_ws_name, err.text);
        nws_ws_free(w.w_ws);
        nws_close(w.w_c);
        return NWSP_WORKER_EXIT_NOJOIN;
    }
    worker_log(&w, "joined %s (pid %ld)", w.w_ws_name, (long)getpid());
    if (crash_init(&w) != 0)
        worker_log(&w, "cannot catch crashes: they will count as deaths");
    w.w_keep = nws_has_meta_to_server(w.w_c) && getenv("NWS_WORKER_NO_HOLD") == NULL;
    if (output && output_start(&w) != 0)
        worker_log(&w, "cannot keep output in output@%ld", w.w_rank);
    for (i = 0; (rc = worker_loop(&w)) == WORKER_REJOIN; i++) {
        if (i == WORKER_REJOIN_MAX || worker_rejoin(&w, &err) != 0) {
            fprintf(stderr, "nws-worker: cannot join sleigh %s again: %s\n", w.w_ws_name,
                    i == WORKER_REJOIN_MAX ? "lost its session too often" : err.text);
            rc = worker_server_unreachable(&err) ? NWSP_WORKER_EXIT_NOJOIN
                 : worker_sleigh_over(&err)      ? NWSP_WORKER_EXIT_OK
                                                 : 1;
            break;
        }
        worker_log(&w, "joined %s again as rank %ld", w.w_ws_name, w.w_rank);
    }
    if (output)
        output_stop();
    task_cleanup(&w);
    crash_cleanup();
    cmdout_cleanup();
    cmdstream_cleanup();
    xfer_cleanup();
    nws_ws_free(w.w_ws);
    nws_close(w.w_c);
    return rc;
}
