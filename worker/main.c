/*
 * main.c -- nws-worker: join a sleigh workspace, take tasks, run them,
 * store results, until the sleigh ends.
 *
 * The loop keeps exactly one `fetch task` in flight: after a task it sends
 * `store result` and the next `fetch task` together (the server answers
 * in order), so a task costs one round trip.  Every way the sleigh can
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

#include "sleighp.h"
#include "worker.h"

/* Results up to this size ride with the next fetch; larger ones are checked first. */
#define WORKER_PIPELINE_MAX 65536
#define WORKER_REGISTER_TRIES 50

static void
worker_usage(FILE *fp)
{
    fprintf(fp,
            "usage: nws-worker [--host HOST] [--port PORT] --workspace NAME [--rank N]\n"
            "                  [--verbose] [--output] [--count N [--watch-stdin]\n"
            "                  [--no-restart]]\n"
            "Joins the sleigh workspace NAME on the NWS server and runs its tasks until\n"
            "the sleigh ends.  Defaults come from NWS_HOST, NWS_PORT, NWS_SLEIGH_WS and\n"
            "NWS_SLEIGH_RANK.  With --count N, runs N workers instead and looks after\n"
            "them (--watch-stdin: until standard input closes).  See nws-worker(1).\n");
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
worker_on_signal(int sig)
{
    pid_t g = command_pgid;

    if (g > 0)
        kill(-g, SIGKILL);
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

/* Sleeps ms milliseconds. */
static void
worker_nap(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

    nanosleep(&ts, NULL);
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
        if (nws_store_string(w->w_ws, "worker_ids", buf, err) == 0)
            return 0;
        /* A worker of the same rank that just died may not be gone yet. */
        if (err->code != NWS_ERR_SERVER || strstr(err->text, "duplicate") == NULL ||
            i == WORKER_REGISTER_TRIES)
            return -1;
        worker_nap(100);
    }
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

/* The task loop; returns the exit code. */
static int
worker_loop(struct worker *w)
{
    nws_value *task = NULL, *res = NULL;
    nws_error  err = {0};
    long       done = 0;
    int        rc;

    /* The nwsp_ calls below record errors but, unlike the public API, do not
     * clear err first: clear it before each step. */
    if (nwsp_sleigh_send_get(w->w_ws, NWSP_SLEIGH_TASK, NWS_OP_FETCH, NULL, &err) != 0)
        goto over;
    for (;;) {
        memset(&err, 0, sizeof(err));
        if ((rc = nwsp_sleigh_read_value(w->w_c, 0, -1, &task, &err)) != 1)
            goto over;
        if ((res = task_run(w, task)) == NULL) {
            fprintf(stderr, "nws-worker: out of memory\n");
            nws_value_free(task);
            return 1;
        }
        done++;
        if (nws_value_size(res) > WORKER_PIPELINE_MAX) {
            /* A large result may be refused (memory limit): check before moving on. */
            if (nwsp_sleigh_send_store(w->w_ws, NWSP_SLEIGH_RESULT, res, &err) != 0)
                goto over_free;
            if (nwsp_sleigh_read_short(w->w_c, &err) != 0) {
                char why[sizeof(err.text)];

                memcpy(why, err.text, sizeof(why));
                if (err.code != NWS_ERR_SERVER || worker_store_refused(w, task, why, &err) != 0)
                    goto over_free;
            }
            if (nwsp_sleigh_send_get(w->w_ws, NWSP_SLEIGH_TASK, NWS_OP_FETCH, NULL,
                                     &err) != 0)
                goto over_free;
        } else {
            if (nwsp_sleigh_send_store(w->w_ws, NWSP_SLEIGH_RESULT, res, &err) != 0 ||
                nwsp_sleigh_send_get(w->w_ws, NWSP_SLEIGH_TASK, NWS_OP_FETCH, NULL,
                                     &err) != 0)
                goto over_free;
            if (nwsp_sleigh_read_short(w->w_c, &err) != 0) {
                if (err.code != NWS_ERR_SERVER)
                    goto over_free;
                worker_log(w, "result refused: %s", err.text);
                memset(&err, 0, sizeof(err));
            }
        }
        nws_value_free(res);
        nws_value_free(task);
        task = NULL;
    }
over_free:
    nws_value_free(res);
    nws_value_free(task);
over:
    worker_log(w, "leaving after %ld tasks: %s", done, err.text);
    if (worker_sleigh_over(&err))
        return NWSP_WORKER_EXIT_OK;
    fprintf(stderr, "nws-worker: %s (%s)\n", err.text, nws_errcode_str(err.code));
    return 1;
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
        {"help", no_argument, NULL, 'H'},
        {NULL, 0, NULL, 0},
    };
    struct worker w;
    nws_error     err;
    const char   *e;
    char         *end;
    int           ch, output = 0, rc, count = 0, watch = 0, restart = 1;

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
        case 'H':
            worker_usage(stdout);
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
    if (count > 0)
        return node_main(&w, count, watch, output, restart); /* ranks: from the sleigh */
    signal(SIGPIPE, SIG_IGN);
    signal(SIGTERM, worker_on_signal);
    signal(SIGINT, worker_on_signal);
    signal(SIGHUP, worker_on_signal);

    if ((w.w_c = nws_connect(w.w_host, w.w_port, 0, &err)) == NULL ||
        (w.w_ws = nws_ws_use(w.w_c, w.w_ws_name, NWS_WS_NOCREATE, &err)) == NULL ||
        worker_join(&w, &err) != 0) {
        fprintf(stderr, "nws-worker: cannot join sleigh %s: %s\n", w.w_ws_name, err.text);
        nws_ws_free(w.w_ws);
        nws_close(w.w_c);
        return NWSP_WORKER_EXIT_NOJOIN;
    }
    worker_log(&w, "joined %s (pid %ld)", w.w_ws_name, (long)getpid());
    if (output && output_start(&w) != 0)
        worker_log(&w, "cannot keep output in output@%ld", w.w_rank);
    rc = worker_loop(&w);
    if (output)
        output_stop();
    task_cleanup(&w);
    nws_ws_free(w.w_ws);
    nws_close(w.w_c);
    return rc;
}
