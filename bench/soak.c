/*
 * soak.c -- a bounded soak test of nwsserver: many clients, shared variables,
 * a conservation check, and the server's descriptors and memory watched.
 *
 * usage: soak --server PATH [--seconds N] [--producers N] [--consumers N]
 *             [--others N] [--queues N]
 *
 * Starts PATH on 127.0.0.1 (ports the system picks, no web interface, a
 * private temp directory) and runs, each thread on its own connection:
 *
 *  - producers: store "p:seq:padding" into fifo variable q<p % queues>, seq
 *    counting up from 0, never more than SOAK_WINDOW values ahead of what the
 *    consumers took (so queues, and the server's memory, stay bounded);
 *  - consumers: blocking fetch from q<c % queues> until they get "STOP";
 *  - others: random operations on scratch variables (declare lifo/single/
 *    multi, store, fetch, fetchTry, find, findTry, ifind/ifindTry walks, list
 *    vars, list wss, delete var, mktemp ws and delete ws, findTry on the
 *    queues, which takes nothing) and, now and then, a reconnect.
 *
 * When the time is up the producers stop, every queue gets one "STOP" per
 * consumer reading it, and everyone disconnects.  Checks:
 *
 *  - conservation: every value stored into a queue was fetched exactly once,
 *    and each consumer saw each producer's values in increasing order (the
 *    server hands a fifo's values out in order, so any consumer's share of
 *    one producer's values is increasing);
 *  - the server's descriptors (/proc/PID/fd) and RSS (/proc/PID/status),
 *    sampled every second: after a warm-up (a fifth of the run), fds grow by
 *    at most SOAK_FD_SLACK and RSS by at most SOAK_RSS_SLACK_KB plus a
 *    tenth; once the clients are gone the fd count is back to what it was
 *    before they came;
 *  - no client saw an unexpected error, and the server is still alive.
 *
 * Prints the operation count and the result; exits 0 on PASS, 1 on FAIL.
 * Loopback only, bounded in time (the run plus a drain of at most 60 s).
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "nws.h"
#include "util.h"

#define SOAK_WINDOW       64          /* values a producer may be ahead */
#define SOAK_MAX_SEQ      (1 << 22)   /* per producer: the tally's size */
#define SOAK_FD_SLACK     8
#define SOAK_RSS_SLACK_KB (8 * 1024)
#define SOAK_MAX_THREADS  256
#define SOAK_MAX_SAMPLES  100000
#define SOAK_DRAIN_S      60

struct soak_cfg {
    const char *server;
    int         seconds;
    int         producers;
    int         consumers;
    int         others;
    int         queues;
};

static struct soak_cfg cfg = {NULL, 300, 16, 16, 4, 4};
static int             soak_port;
static pid_t           soak_pid;
static char            soak_tmpdir[64];
static atomic_int      soak_stop;        /* producers and others: time is up */
static atomic_ulong    soak_ops;
static atomic_int      soak_failures;
static atomic_ulong    soak_stored[SOAK_MAX_THREADS];   /* per producer */
static atomic_ulong    soak_consumed[SOAK_MAX_THREADS]; /* per producer */
static uint8_t        *soak_seen[SOAK_MAX_THREADS];     /* per producer: seq -> count */
static pthread_mutex_t soak_seen_lock = PTHREAD_MUTEX_INITIALIZER;

/* Reports a failure once per kind of thread (so a broken server is not 32 lines). */
static void
soak_fail(const char *who, const char *what, const nws_error *err)
{
    if (atomic_fetch_add(&soak_failures, 1) < 20)
        fprintf(stderr, "soak: %s: %s%s%s\n", who, what, err != NULL ? ": " : "",
                err != NULL ? err->text : "");
}

/* A fresh connection with the workspace "soak" opened on it, or NULL. */
static nws_client *
soak_connect(nws_ws **ws, const char *who)
{
    nws_error   err;
    nws_client *c = nws_connect("127.0.0.1", soak_port, 0, &err);

    if (c == NULL) {
        soak_fail(who, "connect", &err);
        return NULL;
    }
    if ((*ws = nws_ws_use(c, "soak", 0, &err)) == NULL) {
        soak_fail(who, "use ws", &err);
        nws_close(c);
        return NULL;
    }
    return c;
}

static void
soak_qname(char *buf, size_t len, int q)
{
    snprintf(buf, len, "q%d", q);
}

/* A producer: numbered values into its queue, within the window. */
static void *
soak_producer(void *arg)
{
    int         id = (int)(intptr_t)arg;
    char        var[16], *val;
    nws_ws     *ws;
    nws_client *c = soak_connect(&ws, "producer");
    nws_error   err;
    unsigned    seed = (unsigned)id * 7919u;
    unsigned long seq = 0;
    size_t      pad, n;

    if (c == NULL)
        return NULL;
    soak_qname(var, sizeof(var), id % cfg.queues);
    val = malloc(70000);
    while (!atomic_load(&soak_stop) && seq < SOAK_MAX_SEQ) {
        if (seq - atomic_load(&soak_consumed[id]) >= SOAK_WINDOW) {
            usleep(500);
            continue;
        }
        /* Mostly small values, now and then a larger one (64 KiB). */
        pad = rand_r(&seed) % 100 == 0 ? 65536 : rand_r(&seed) % 1024;
        n = (size_t)snprintf(val, 64, "%d:%lu:", id, seq);
        memset(val + n, 'a' + (int)(seq % 26), pad);
        if (nws_store_bytes(ws, var, val, n + pad, &err) != 0) {
            soak_fail("producer", "store", &err);
            break;
        }
        atomic_fetch_add(&soak_ops, 1);
        atomic_store(&soak_stored[id], ++seq);
    }
    free(val);
    nws_ws_free(ws);
    nws_close(c);
    return NULL;
}

/* A consumer: blocking fetches until "STOP", checking every value. */
static void *
soak_consumer(void *arg)
{
    int            id = (int)(intptr_t)arg;
    char           var[16];
    nws_ws        *ws;
    nws_client    *c = soak_connect(&ws, "consumer");
    nws_error      err;
    nws_value     *v;
    long          *last = calloc((size_t)cfg.producers, sizeof(long));
    const char    *d;
    int            p;
    unsigned long  seq;

    if (c == NULL || last == NULL)
        return NULL;
    for (p = 0; p < cfg.producers; p++)
        last[p] = -1;
    soak_qname(var, sizeof(var), id % cfg.queues);
    for (;;) {
        if ((v = nws_fetch(ws, var, &err)) == NULL) {
            soak_fail("consumer", "fetch", &err);
            break;
        }
        atomic_fetch_add(&soak_ops, 1);
        d = nws_value_data(v);
        if (nws_value_size(v) == 4 && memcmp(d, "STOP", 4) == 0) {
            nws_value_free(v);
            break;
        }
        if (sscanf(d, "%d:%lu:", &p, &seq) != 2 || p < 0 || p >= cfg.producers ||
            p % cfg.queues != id % cfg.queues || seq >= SOAK_MAX_SEQ) {
            soak_fail("consumer", "a value that no producer stored", NULL);
        } else {
            if ((long)seq <= last[p])
                soak_fail("consumer", "a producer's values out of order", NULL);
            last[p] = (long)seq;
            pthread_mutex_lock(&soak_seen_lock);
            if (soak_seen[p][seq] < 255)
                soak_seen[p][seq]++;
            pthread_mutex_unlock(&soak_seen_lock);
            atomic_fetch_add(&soak_consumed[p], 1);
        }
        nws_value_free(v);
    }
    free(last);
    nws_ws_free(ws);
    nws_close(c);
    return NULL;
}

/* One random operation that takes nothing from the queues; 0, or -1 (reconnect). */
static int
soak_other_op(nws_client *c, nws_ws *ws, unsigned *seed, int id)
{
    static const char *const modes[] = {"lifo", "single", "multi", "fifo"};
    char          var[32], val[64];
    nws_error     err;
    nws_value    *v = NULL;
    nws_iter     *it;
    nws_var_list *vl;
    nws_ws_list  *wl;
    nws_ws       *tmp;
    int           rc = 0, i, k = rand_r(seed) % 4;

    snprintf(var, sizeof(var), "scratch%d_%d", id, k);
    switch (rand_r(seed) % 12) {
    case 0:
        /* A mode other than the variable's is an error reply: fine. */
        nws_declare(ws, var, modes[k], &err);
        break;
    case 1:
    case 2:
        snprintf(val, sizeof(val), "v%u", rand_r(seed));
        if (nws_store_string(ws, var, val, &err) != 0)
            rc = -1;
        break;
    case 3:
        if (nws_fetch_try(ws, var, &v, &err) < 0)
            rc = -1;
        break;
    case 4:
        if (nws_find_try(ws, var, &v, &err) < 0)
            rc = -1;
        break;
    case 5:
        /* find on a queue takes nothing: it may wait for a value, so only try. */
        soak_qname(var, sizeof(var), k % cfg.queues);
        if (nws_find_try(ws, var, &v, &err) < 0)
            rc = -1;
        break;
    case 6:
        if ((it = nws_ifind(ws, var, 0, &err)) == NULL)
            return -1;
        for (i = 0; i < 5 && nws_iter_next(it, &v, &err) == 1; i++) {
            nws_value_free(v);
            v = NULL;
        }
        nws_iter_free(it);
        break;
    case 7:
        if ((vl = nws_list_vars(ws, &err)) == NULL)
            rc = -1;
        nws_var_list_free(vl);
        break;
    case 8:
        if ((wl = nws_list_wss(c, NULL, &err)) == NULL)
            rc = -1;
        nws_ws_list_free(wl);
        break;
    case 9:
        nws_delete_var(ws, var, &err); /* may not exist: an error reply */
        break;
    case 10:
        if ((tmp = nws_ws_mktemp(c, "__soak__%d", 0, &err)) == NULL) {
            rc = -1;
        } else {
            if (nws_ws_delete(c, nws_ws_name(tmp), &err) != 0)
                rc = -1;
            nws_ws_free(tmp);
        }
        break;
    case 11:
        /* A blocking fetch that is sure to be served: store first. */
        snprintf(var, sizeof(var), "own%d", id);
        if (nws_store_string(ws, var, "x", &err) != 0 ||
            (v = nws_fetch(ws, var, &err)) == NULL)
            rc = -1;
        break;
    }
    nws_value_free(v);
    if (rc != 0)
        soak_fail("other", var, &err);
    return rc;
}

/* Random operations on its own connection; reconnects now and then. */
static void *
soak_other(void *arg)
{
    int         id = (int)(intptr_t)arg;
    unsigned    seed = (unsigned)id * 104729u + 1;
    nws_ws     *ws = NULL;
    nws_client *c = NULL;
    char        own[32];

    snprintf(own, sizeof(own), "other%d", id);
    while (!atomic_load(&soak_stop)) {
        if (c == NULL && (c = soak_connect(&ws, own)) == NULL)
            break;
        if (soak_other_op(c, ws, &seed, id) != 0 || rand_r(&seed) % 500 == 0) {
            nws_ws_free(ws);
            nws_close(c);
            c = NULL;
            ws = NULL;
        }
        atomic_fetch_add(&soak_ops, 1);
    }
    nws_ws_free(ws);
    nws_close(c);
    return NULL;
}

/* Descriptors the server holds. */
static int
soak_fds(void)
{
    char           path[64];
    DIR           *d;
    struct dirent *de;
    int            n = 0;

    snprintf(path, sizeof(path), "/proc/%d/fd", (int)soak_pid);
    if ((d = opendir(path)) == NULL)
        return -1;
    while ((de = readdir(d)) != NULL)
        if (de->d_name[0] != '.')
            n++;
    closedir(d);
    return n;
}

/* Prints what each of the server's descriptors is (when the count is off). */
static void
soak_show_fds(void)
{
    char           path[300], target[256];
    DIR           *d;
    struct dirent *de;
    ssize_t        n;

    snprintf(path, sizeof(path), "/proc/%d/fd", (int)soak_pid);
    if ((d = opendir(path)) == NULL)
        return;
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        snprintf(path, sizeof(path), "/proc/%d/fd/%s", (int)soak_pid, de->d_name);
        if ((n = readlink(path, target, sizeof(target) - 1)) < 0)
            continue;
        target[n] = '\0';
        fprintf(stderr, "soak: server fd %s -> %s\n", de->d_name, target);
    }
    closedir(d);
}

/* The server's resident set in KiB. */
static long
soak_rss_kb(void)
{
    char  path[64], line[256];
    FILE *fp;
    long  kb = -1;

    snprintf(path, sizeof(path), "/proc/%d/status", (int)soak_pid);
    if ((fp = fopen(path, "r")) == NULL)
        return -1;
    while (fgets(line, sizeof(line), fp) != NULL)
        if (sscanf(line, "VmRSS: %ld kB", &kb) == 1)
            break;
    fclose(fp);
    return kb;
}

/* Starts the server and reads its port from the ready line; 0, or -1. */
static int
soak_start_server(void)
{
    const char *argv[] = {cfg.server, "--bind", "127.0.0.1", "--port", "0", "--no-web",
                          "--tmpdir", soak_tmpdir, "--log-level", "warn", NULL};
    char        line[256], *p;
    int         pfd[2];
    FILE       *fp;

    snprintf(soak_tmpdir, sizeof(soak_tmpdir), "/tmp/nwssoak.XXXXXX");
    if (mkdtemp(soak_tmpdir) == NULL || pipe(pfd) != 0)
        return -1;
    if ((soak_pid = fork()) < 0)
        return -1;
    if (soak_pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        dup2(pfd[1], 1);
        close(pfd[0]);
        close(pfd[1]);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    close(pfd[1]);
    if ((fp = fdopen(pfd[0], "r")) == NULL)
        return -1;
    while (fgets(line, sizeof(line), fp) != NULL)
        if ((p = strstr(line, " port=")) != NULL) {
            soak_port = atoi(p + 6);
            break;
        }
    fclose(fp);
    return soak_port > 0 ? 0 : -1;
}

/* Stops the server; its exit status must be a clean 0. */
static int
soak_stop_server(void)
{
    int status = -1, i;

    kill(soak_pid, SIGTERM);
    for (i = 0; i < 1000; i++) {
        if (waitpid(soak_pid, &status, WNOHANG) == soak_pid)
            break;
        usleep(10000);
    }
    if (i == 1000) {
        kill(soak_pid, SIGKILL);
        waitpid(soak_pid, &status, 0);
        status = -1;
    }
    rmdir(soak_tmpdir);
    return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}

static void
soak_usage(void)
{
    fprintf(stderr, "usage: soak --server PATH [--seconds N] [--producers N] "
                    "[--consumers N] [--others N] [--queues N]\n");
    exit(2);
}

static void
soak_args(int argc, char **argv)
{
    int i;

    for (i = 1; i < argc; i += 2) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

        if (v == NULL)
            soak_usage();
        if (strcmp(a, "--server") == 0)
            cfg.server = v;
        else if (strcmp(a, "--seconds") == 0)
            cfg.seconds = atoi(v);
        else if (strcmp(a, "--producers") == 0)
            cfg.producers = atoi(v);
        else if (strcmp(a, "--consumers") == 0)
            cfg.consumers = atoi(v);
        else if (strcmp(a, "--others") == 0)
            cfg.others = atoi(v);
        else if (strcmp(a, "--queues") == 0)
            cfg.queues = atoi(v);
        else
            soak_usage();
    }
    if (cfg.server == NULL || cfg.seconds < 1 || cfg.queues < 1 || cfg.producers < 1 ||
        cfg.consumers < cfg.queues || cfg.others < 0 ||
        cfg.producers + cfg.consumers + cfg.others > SOAK_MAX_THREADS)
        soak_usage();
}

int
main(int argc, char **argv)
{
    pthread_t      th[SOAK_MAX_THREADS];
    int            nth = 0, i, p, fd0, fd_warm = -1, fd_max = 0, fd_end, ok = 1;
    long           rss_warm = -1, rss_max = 0, rss_end;
    unsigned long  stored = 0, fetched = 0, dup = 0, missing = 0, seq;
    double         t0, t, warm;
    nws_client    *c;
    nws_ws        *ws;
    nws_error      err;

    soak_args(argc, argv);
    signal(SIGPIPE, SIG_IGN);
    for (p = 0; p < cfg.producers; p++)
        if ((soak_seen[p] = calloc(SOAK_MAX_SEQ, 1)) == NULL)
            return 1;
    if (soak_start_server() != 0) {
        fprintf(stderr, "soak: cannot start %s\n", cfg.server);
        return 1;
    }
    /* The event loop makes its descriptors once it runs: count after a first client. */
    if ((c = nws_connect("127.0.0.1", soak_port, 0, &err)) == NULL) {
        fprintf(stderr, "soak: connect: %s\n", err.text);
        return 1;
    }
    nws_close(c);
    usleep(200000);
    fd0 = soak_fds();
    /* The shared workspace, persistent so that it outlives this connection. */
    if ((c = nws_connect("127.0.0.1", soak_port, 0, &err)) == NULL ||
        (ws = nws_ws_open(c, "soak", NWS_WS_PERSISTENT, &err)) == NULL) {
        fprintf(stderr, "soak: setup: %s\n", err.text);
        return 1;
    }
    for (i = 0; i < cfg.queues; i++) {
        char q[16];

        soak_qname(q, sizeof(q), i);
        if (nws_declare(ws, q, NWS_MODE_FIFO, &err) != 0) {
            fprintf(stderr, "soak: declare: %s\n", err.text);
            return 1;
        }
    }

    t0 = nwsp_mono();
    warm = cfg.seconds / 5.0;
    for (i = 0; i < cfg.consumers; i++)
        pthread_create(&th[nth++], NULL, soak_consumer, (void *)(intptr_t)i);
    for (i = 0; i < cfg.producers; i++)
        pthread_create(&th[nth++], NULL, soak_producer, (void *)(intptr_t)i);
    for (i = 0; i < cfg.others; i++)
        pthread_create(&th[nth++], NULL, soak_other, (void *)(intptr_t)i);

    while ((t = nwsp_mono() - t0) < cfg.seconds) {
        int  fds = soak_fds();
        long rss = soak_rss_kb();

        if (fds < 0 || rss < 0) {
            fprintf(stderr, "soak: the server is gone\n");
            ok = 0;
            break;
        }
        if (t >= warm && fd_warm < 0) {
            fd_warm = fds;
            rss_warm = rss;
        }
        if (fd_warm >= 0) {
            fd_max = fds > fd_max ? fds : fd_max;
            rss_max = rss > rss_max ? rss : rss_max;
        }
        sleep(1);
    }
    fd_end = soak_fds();
    rss_end = soak_rss_kb();
    atomic_store(&soak_stop, 1);

    /* Producers and others finish; then each consumer gets its STOP. */
    for (i = cfg.consumers; i < nth; i++)
        pthread_join(th[i], NULL);
    for (i = 0; i < cfg.consumers; i++) {
        char q[16];

        soak_qname(q, sizeof(q), i % cfg.queues);
        if (nws_store_string(ws, q, "STOP", &err) != 0) {
            fprintf(stderr, "soak: STOP: %s\n", err.text);
            ok = 0;
        }
    }
    for (i = 0; i < cfg.consumers; i++)
        pthread_join(th[i], NULL);
    nws_ws_free(ws);
    nws_close(c);

    for (p = 0; p < cfg.producers; p++) {
        unsigned long n = atomic_load(&soak_stored[p]);

        stored += n;
        for (seq = 0; seq < SOAK_MAX_SEQ; seq++) {
            if (soak_seen[p][seq] > 1)
                dup++;
            if (seq < n && soak_seen[p][seq] == 0)
                missing++;
            if (seq >= n && soak_seen[p][seq] != 0)
                dup++;
            fetched += soak_seen[p][seq];
        }
        free(soak_seen[p]);
    }
    /* Every client is gone: the server should hold what it held before them. */
    for (i = 0; i < 100 && soak_fds() > fd0; i++)
        usleep(50000);
    {
        int fd_after = soak_fds();
        int grew_fd = fd_warm >= 0 && fd_max > fd_warm + SOAK_FD_SLACK;
        int grew_rss =
            rss_warm >= 0 && rss_max > rss_warm + SOAK_RSS_SLACK_KB + rss_warm / 10;
        int alive = kill(soak_pid, 0) == 0;

        if (fd_after != fd0)
            soak_show_fds();
        if (dup != 0 || missing != 0 || fetched != stored || grew_fd || grew_rss ||
            fd_after != fd0 || atomic_load(&soak_failures) != 0 || !alive)
            ok = 0;
        if (soak_stop_server() != 0) {
            fprintf(stderr, "soak: the server did not stop cleanly\n");
            ok = 0;
        }
        printf("soak: %d s, %d producers, %d consumers, %d others on %d fifo queues\n",
               cfg.seconds, cfg.producers, cfg.consumers, cfg.others, cfg.queues);
        printf("soak: %lu operations (%.0f/s)\n", atomic_load(&soak_ops),
               atomic_load(&soak_ops) / (nwsp_mono() - t0));
        printf("soak: conservation: %lu stored, %lu fetched, %lu duplicated, "
               "%lu missing, order %s: %s\n",
               stored, fetched, dup, missing,
               atomic_load(&soak_failures) == 0 ? "kept" : "see errors above",
               dup == 0 && missing == 0 && fetched == stored ? "ok" : "FAILED");
        printf("soak: server fds: %d before clients, %d after warm-up, %d max, "
               "%d at end, %d after clients left: %s\n",
               fd0, fd_warm, fd_max, fd_end, fd_after,
               !grew_fd && fd_after == fd0 ? "flat" : "GREW");
        printf("soak: server RSS: %ld KiB after warm-up, %ld KiB max, "
               "%ld KiB at end: %s\n",
               rss_warm, rss_max, rss_end, grew_rss ? "GREW" : "flat");
        printf("soak: client errors: %d\n", atomic_load(&soak_failures));
        printf("soak: %s\n", ok ? "PASS" : "FAIL");
    }
    return ok ? 0 : 1;
}
