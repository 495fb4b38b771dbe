/*
 * check_sleigh_restart.c -- issue 15's headline: a batch survives its
 * server.  A 2,000-element batch on 4 workers against a server with
 * --journal (--fsync everysec) on a fixed port and DIR; the server is
 * killed -9 three times during the run and started again on the same port
 * and DIR after 0.5 to 2 s.  Sessions (docs/SESSIONS.md) carry the master
 * and the workers through: every element's result comes exactly once and
 * in order, and nothing hangs.
 *
 *  - cli_rides_through: `sleigh -k --server HOST:PORT` with 4 local workers;
 *  - api_rides_through: the C API (a pending batch, waited for whole, then
 *    eachWorker: the ranks are the same after the restarts);
 *  - cli_server_gone / api_server_gone: the server killed and not started
 *    again: past --reconnect (NWS_RECONNECT) the master and the workers stop
 *    with a clear error in bounded time, and no process is left.
 *
 * The restart harness: the run's master (a sleigh process, or a thread of
 * the test) goes on by itself; the test's main thread watches progress in
 * a log the task writes ("<index> <start time>", one line per run of an
 * element, tests/modules/restart_test.c and a shell script for the CLI)
 * and kills the server when a quarter, a half and three quarters of the
 * elements have started.  The main thread does the restarts: the server's
 * PR_SET_PDEATHSIG is tied to the thread that forked it.
 *
 * Figures (printed, and by `make bench-restart`): for each restart the
 * time the server was down (our choice) and the time lost (from the kill
 * until an element started again after the restart), the elements run
 * twice (the log's lines beyond one per element: the tasks running or held
 * when the server died and run again), and the results duplicated (a
 * result the master was given twice: must be 0).  RESTART_ELEMS and
 * RESTART_KILLS change the size for the bench.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "jtest.h"
#include "nws.h"
#include "nws_json.h"
#include "nws_sleigh.h"
#include "nwstest.h"
#include "tproxy.h"
#include "util.h"

#define RS_ELEMS     2000
#define RS_WORKERS   4
#define RS_KILLS     3
#define RS_MAXKILLS  16
#define RS_BOUND_S   240 /* a run, restarts included, ends within this */
#define RS_GONE_S    60  /* with the server gone: everything stopped within this */
#define RS_STALL_S   60  /* no element started for this long: the run hangs */
#define RS_RECONNECT "4" /* --reconnect / NWS_RECONNECT of the server_gone tests */

/* One run under restarts. */
struct rs_run {
    struct jsrv srv;
    char        log[320]; /* the task's log: one line per run of an element */
    char        mark[64]; /* RS_MARK=<unique> in the environment of everything we start */
    int         nelems;
    int         nkills; /* wanted */
    int         kills;  /* done */
    double      kill_t[RS_MAXKILLS], ready_t[RS_MAXKILLS], resume_t[RS_MAXKILLS];
    atomic_int  finished;   /* the master is done (the thread, or the process exited) */
    pid_t       cli;        /* the sleigh process, while it runs */
    int         cli_status; /* its wait status once it exited */
    unsigned    seed;
};

/* Server arguments: RS_DEBUG=1 in the environment logs at debug level (to look into a hang). */
static const char *const *
rs_server_args(void)
{
    static const char *const debug[] = {"--log-level", "debug", NULL};

    return getenv("RS_DEBUG") != NULL ? debug : NULL;
}

/*
 * Elements and kills: the defaults, or the bench's environment.  reconnect:
 * $NWS_RECONNECT for the master and the workers (check_main.c turns
 * reconnecting off for the other suites).
 */
static void
rs_init(struct rs_run *run, const char *reconnect)
{
    const char *e;

    setenv("NWS_RECONNECT", reconnect, 1);
    memset(run, 0, sizeof(*run));
    run->nelems = RS_ELEMS;
    run->nkills = RS_KILLS;
    if ((e = getenv("RESTART_ELEMS")) != NULL && atoi(e) >= 100)
        run->nelems = atoi(e);
    if ((e = getenv("RESTART_KILLS")) != NULL && atoi(e) >= 0 && atoi(e) <= RS_MAXKILLS)
        run->nkills = atoi(e);
    run->seed = (unsigned)getpid() ^ (unsigned)time(NULL);
    /* Everything left behind by a failed run is reparented to us. */
    ck_assert_int_eq(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
    ck_assert_int_eq(jsrv_init(&run->srv, NULL, "everysec"), 0);
    snprintf(run->log, sizeof(run->log), "%s/runs.log", run->srv.base);
    snprintf(run->mark, sizeof(run->mark), "RS_MARK=rs%ld_%u", (long)getpid(), run->seed);
    ck_assert_int_eq(putenv(run->mark), 0);
    ck_assert_msg(jsrv_start(&run->srv, rs_server_args()) == 0,
                  "the server did not start: %s", jsrv_log_tail(&run->srv, 1000));
}

/* Monotonic time is not shared with the workers: the log has wall-clock time. */
static double
rs_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* 1 once the master is done: its thread said so, or the sleigh process exited. */
static int
rs_finished(struct rs_run *run)
{
    if (run->cli > 0 && waitpid(run->cli, &run->cli_status, WNOHANG) == run->cli) {
        run->cli = 0;
        atomic_store(&run->finished, 1);
    }
    return atomic_load(&run->finished);
}

/* Lines in the log so far (runs of elements started). */
static long
rs_started(const struct rs_run *run)
{
    char    buf[65536];
    long    n = 0;
    int     fd = open(run->log, O_RDONLY | O_CLOEXEC);
    ssize_t r, i;

    if (fd < 0)
        return 0;
    while ((r = read(fd, buf, sizeof(buf))) > 0)
        for (i = 0; i < r; i++)
            n += buf[i] == '\n';
    close(fd);
    return n;
}

/* Starts the server again on its port and DIR (a compaction child of the
 * killed one may still hold the port for a moment: JOURNAL-BUGS 5). */
static void
rs_restart(struct rs_run *run)
{
    int t;

    for (t = 0; t < 100 && jsrv_start(&run->srv, rs_server_args()) != 0; t++)
        usleep(100000);
    ck_assert_msg(run->srv.pid > 0, "the server did not start again: %s",
                  jsrv_log_tail(&run->srv, 1000));
}

/*
 * The killer: when (k+1)/(nkills+1) of the elements have started, kill -9,
 * wait 0.5 to 2 s, start again on the same port and DIR.  Returns when
 * every kill is done, or the master finished first (a failure: the batch
 * must live through all of them).
 */
static void
rs_kill_loop(struct rs_run *run)
{
    double deadline = nwsp_mono() + RS_BOUND_S;
    int    k;

    for (k = 0; k < run->nkills; k++) {
        long   want = (long)run->nelems * (k + 1) / (run->nkills + 1);
        double down;

        long   seen = -1, now;
        double since = nwsp_mono();

        /* Not a speed target: a run that starts no element for RS_STALL_S hangs. */
        while ((now = rs_started(run)) < want && !rs_finished(run) &&
               nwsp_mono() - since < RS_STALL_S && nwsp_mono() < deadline) {
            if (now != seen) {
                seen = now;
                since = nwsp_mono();
            }
            usleep(2000);
        }
        if (rs_finished(run))
            return; /* the test says why (the master's error first), rs_check_kills after */
        ck_assert_msg(nwsp_mono() - since < RS_STALL_S && nwsp_mono() < deadline,
                      "the run hangs: no element started for %d s after %ld of %d (%d "
                      "kills done)",
                      RS_STALL_S, rs_started(run), run->nelems, k);
        run->kill_t[k] = rs_now();
        jsrv_kill9(&run->srv);
        down = 0.5 + 1.5 * jtest_rand(&run->seed);
        usleep((useconds_t)(down * 1e6));
        rs_restart(run);
        run->ready_t[k] = rs_now();
        run->kills++;
    }
}

/* Every kill was done while the batch ran. */
static void
rs_check_kills(const struct rs_run *run)
{
    ck_assert_msg(run->kills == run->nkills,
                  "the batch ended after %d of %d kills: too short to ride through them",
                  run->kills, run->nkills);
}

/*
 * Reads the log: every element ran at least once (index in range), the
 * count of runs beyond one per element, and for each restart the first
 * start after the server was ready again.  Returns the elements run twice.
 */
static long
rs_check_log(struct rs_run *run)
{
    FILE  *fp = fopen(run->log, "r");
    int   *runs = calloc((size_t)run->nelems, sizeof(int));
    long   idx, twice = 0;
    double t;
    int    i, k, never = -1;

    ck_assert_ptr_nonnull(fp);
    ck_assert_ptr_nonnull(runs);
    for (k = 0; k < run->kills; k++)
        run->resume_t[k] = 0;
    while (fscanf(fp, "%ld %lf", &idx, &t) == 2) {
        ck_assert_msg(idx >= 0 && idx < run->nelems, "the log names element %ld", idx);
        runs[idx]++;
        for (k = 0; k < run->kills; k++)
            if (t >= run->ready_t[k] && (run->resume_t[k] == 0 || t < run->resume_t[k]))
                run->resume_t[k] = t;
    }
    fclose(fp);
    for (i = 0; i < run->nelems; i++) {
        if (runs[i] == 0 && never < 0)
            never = i;
        if (runs[i] > 1)
            twice += runs[i] - 1;
    }
    free(runs);
    ck_assert_msg(never < 0, "element %d never ran", never);
    return twice;
}

/* Prints the figures of a run (name: the test). */
static void
rs_figures(struct rs_run *run, const char *name, double seconds, long twice, long dups)
{
    double lost = 0;
    int    k;

    for (k = 0; k < run->kills; k++) {
        double l = run->resume_t[k] > 0 ? run->resume_t[k] - run->kill_t[k] : -1;

        printf("%s: restart %d: down %.2f s, time lost %.2f s (recovery %.2f s after the "
               "server was back)\n",
               name, k + 1, run->ready_t[k] - run->kill_t[k], l,
               l >= 0 ? run->resume_t[k] - run->ready_t[k] : -1);
        lost += l;
    }
    printf(
        "%s: %d elements, %d workers, %d kills in %.1f s; time lost per restart %.2f s "
        "(mean); elements run twice %ld; results duplicated %ld\n",
        name, run->nelems, RS_WORKERS, run->kills, seconds,
        run->kills > 0 ? lost / run->kills : 0, twice, dups);
    fflush(stdout);
}

/* The parent of pid (from /proc), or -1. */
static pid_t
rs_ppid(pid_t pid)
{
    char  path[64], buf[512], *p;
    FILE *fp;
    int   ppid = -1;

    snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
    if ((fp = fopen(path, "r")) == NULL)
        return -1;
    if (fgets(buf, sizeof(buf), fp) == NULL || (p = strrchr(buf, ')')) == NULL ||
        sscanf(p + 2, "%*c %d", &ppid) != 1)
        ppid = -1;
    fclose(fp);
    return (pid_t)ppid;
}

/*
 * A live process started under our mark (workers, commands, a sleigh),
 * the server and its compaction children aside (they were started with
 * it too), or 0.
 */
static pid_t
rs_marked(const struct rs_run *run)
{
    static char    buf[1 << 17];
    DIR           *d = opendir("/proc");
    struct dirent *de;
    char           path[64], state[512], *end, *p;
    long           pid;
    pid_t          found = 0;
    ssize_t        n;
    int            fd;

    if (d == NULL)
        return 0;
    while (found == 0 && (de = readdir(d)) != NULL) {
        if ((pid = strtol(de->d_name, &end, 10)) <= 0 || *end != '\0' ||
            pid == run->srv.pid ||
            (run->srv.pid > 0 && rs_ppid((pid_t)pid) == run->srv.pid))
            continue;
        snprintf(path, sizeof(path), "/proc/%ld/environ", pid);
        if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
            continue;
        n = read(fd, buf, sizeof(buf));
        close(fd);
        if (n <= 0 || memmem(buf, (size_t)n, run->mark, strlen(run->mark)) == NULL)
            continue;
        /* A zombie has exited: only its parent's wait is missing. */
        snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
        if ((fd = open(path, O_RDONLY | O_CLOEXEC)) >= 0) {
            n = read(fd, state, sizeof(state) - 1);
            close(fd);
            state[n > 0 ? n : 0] = '\0';
            if ((p = strrchr(state, ')')) != NULL && p[1] == ' ' && p[2] == 'Z')
                continue;
        }
        found = (pid_t)pid;
    }
    closedir(d);
    return found;
}

/* Waits until no process carries our mark (workers, commands), up to s seconds. */
static pid_t
rs_leftover(const struct rs_run *run, double s)
{
    double until = nwsp_mono() + s;
    pid_t  p;

    /* What was reparented to us (a subreaper) and exited stays a zombie: not counted. */
    while ((p = rs_marked(run)) != 0 && nwsp_mono() < until)
        usleep(20000);
    return p;
}

/* Stops the server and removes the run's directory. */
static void
rs_free(struct rs_run *run)
{
    jsrv_free(&run->srv);
}

/* ---- through the CLI ------------------------------------------------------ */

/* Writes the job script: logs its start, prints its input. */
static void
rs_script(const struct rs_run *run, char *path, size_t len)
{
    FILE *fp;

    snprintf(path, len, "%s/job.sh", run->srv.base);
    ck_assert_ptr_nonnull(fp = fopen(path, "w"));
    fprintf(fp,
            "#!/bin/bash\nprintf '%%s %%s\\n' \"$1\" \"$EPOCHREALTIME\" >> '%s'\n"
            "printf '%%s\\n' \"$1\"\n",
            run->log);
    ck_assert_int_eq(fclose(fp), 0);
    ck_assert_int_eq(chmod(path, 0755), 0);
}

/* The output files of a sleigh process. */
struct rs_cli {
    int out, err;
};

/* Starts sleigh -k -j 4 --server ... [extra] SCRIPT ::: 0 .. nelems-1. */
static void
rs_cli_start(struct rs_run *run, struct rs_cli *cli, const char *const *extra)
{
    char         bin[512], script[400], server[64], **nums;
    const char **argv;
    int          n = 0, i;

    rs_script(run, script, sizeof(script));
    snprintf(server, sizeof(server), "127.0.0.1:%d", run->srv.port);
    argv = calloc((size_t)run->nelems + 32, sizeof(char *));
    nums = calloc((size_t)run->nelems, sizeof(char *));
    ck_assert(argv != NULL && nums != NULL);
    argv[n++] = nwstest_bin("sleigh", bin, sizeof(bin));
    argv[n++] = "-k";
    argv[n++] = "-j";
    argv[n++] = "4";
    argv[n++] = "--server";
    argv[n++] = server;
    for (i = 0; extra != NULL && extra[i] != NULL; i++)
        argv[n++] = extra[i];
    argv[n++] = script;
    argv[n++] = ":::";
    for (i = 0; i < run->nelems; i++) {
        ck_assert_int_ge(asprintf(&nums[i], "%d", i), 0);
        argv[n++] = nums[i];
    }
    argv[n] = NULL;
    cli->out = nwstest_tmpfile();
    cli->err = nwstest_tmpfile();
    run->cli = fork();
    ck_assert_int_ge(run->cli, 0);
    if (run->cli == 0) {
        /* A failed test leaves nothing: sleigh takes its workers down with it. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        dup2(cli->out, 1);
        dup2(cli->err, 2);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    for (i = 0; i < run->nelems; i++)
        free(nums[i]);
    free(nums);
    free((void *)argv);
}

/* Waits for the sleigh process up to s seconds (stall: or until no element started for
 * RS_STALL_S); kills it past that. */
static void
rs_cli_wait(struct rs_run *run, double s, int stall, const char *what)
{
    double until = nwsp_mono() + s, since = nwsp_mono();
    long   seen = -1, now;

    while (!rs_finished(run) && nwsp_mono() < until &&
           (!stall || nwsp_mono() - since < RS_STALL_S)) {
        if (stall && (now = rs_started(run)) != seen) {
            seen = now;
            since = nwsp_mono();
        }
        usleep(10000);
    }
    if (run->cli > 0) {
        kill(run->cli, SIGKILL);
        waitpid(run->cli, &run->cli_status, 0);
        run->cli = 0;
        ck_abort_msg("sleigh %s: %s", what,
                     stall && nwsp_mono() - since >= RS_STALL_S
                         ? "it hangs (no element started for a minute)"
                         : "it ran past its bound");
    }
}

START_TEST(cli_rides_through)
{
    struct rs_run run;
    struct rs_cli cli;
    char         *out, *err, *p, *nl;
    double        t0;
    long          twice, dups = 0;
    int           i;

    rs_init(&run, "60");
    t0 = nwsp_mono();
    rs_cli_start(&run, &cli, NULL);
    rs_kill_loop(&run);
    rs_cli_wait(&run, RS_BOUND_S, 1, "under restarts");
    out = nwstest_slurp(cli.out, NULL);
    err = nwstest_slurp(cli.err, NULL);
    ck_assert_msg(WIFEXITED(run.cli_status) && WEXITSTATUS(run.cli_status) == 0,
                  "sleigh exited with status %d: %s", run.cli_status, err);
    /* Whole and in order: exactly 0..N-1, one a line. */
    for (i = 0, p = out; i < run.nelems; i++, p = nl + 1) {
        ck_assert_msg((nl = strchr(p, '\n')) != NULL, "output ends after %d lines", i);
        *nl = '\0';
        if (atoi(p) < i)
            dups++;
        ck_assert_msg(strtol(p, NULL, 10) == i && *p != '\0',
                      "line %d of the output is '%s' (stderr: %s)", i + 1, p, err);
    }
    ck_assert_msg(*p == '\0', "output goes on past %d lines: %.80s", run.nelems, p);
    rs_check_kills(&run);
    twice = rs_check_log(&run);
    rs_figures(&run, "cli_rides_through", nwsp_mono() - t0, twice, dups);
    ck_assert_int_eq(rs_leftover(&run, 10), 0);
    free(out);
    free(err);
    close(cli.out);
    close(cli.err);
    rs_free(&run);
}
END_TEST

START_TEST(cli_server_gone)
{
    static const char *extra[] = {"--reconnect", RS_RECONNECT, NULL};
    struct rs_run      run;
    struct rs_cli      cli;
    char              *err;
    double             t0;
    pid_t              left;

    rs_init(&run, "60");
    rs_cli_start(&run, &cli, extra);
    while (rs_started(&run) < run.nelems / 5 && !rs_finished(&run))
        usleep(2000);
    ck_assert_msg(!rs_finished(&run), "sleigh ended before the server went");
    jsrv_kill9(&run.srv);
    t0 = nwsp_mono();
    rs_cli_wait(&run, RS_GONE_S, 0, "with its server gone");
    err = nwstest_slurp(cli.err, NULL);
    printf(
        "cli_server_gone: sleigh stopped %.1f s after the server went (--reconnect %s): "
        "%s",
        nwsp_mono() - t0, RS_RECONNECT, err);
    ck_assert_msg(!WIFEXITED(run.cli_status) || WEXITSTATUS(run.cli_status) != 0,
                  "sleigh exited 0 without its server");
    ck_assert_msg(WIFEXITED(run.cli_status), "sleigh died of signal %d",
                  WTERMSIG(run.cli_status));
    ck_assert_msg(strstr(err, "unreachable") != NULL,
                  "sleigh does not say why it stopped: %s", err);
    left = rs_leftover(&run, 10);
    ck_assert_msg(left == 0, "process %ld is left running", (long)left);
    free(err);
    close(cli.out);
    close(cli.err);
    rs_free(&run);
}
END_TEST

/* ---- through the C API ------------------------------------------------------ */

struct rs_master {
    struct rs_run *run;
    char           mods[400]; /* the directory of the task modules */
    int            ms;        /* each element's time */
    json_t        *result;    /* the batch's results, or NULL */
    json_t        *ranks;     /* eachWorker after the batch, or NULL */
    nws_error      err;
    long           dups; /* results the master was given twice (and dropped) */
    double         seconds;
    int            failed_at; /* 0, 1 the batch, 2 eachWorker */
    int            port;      /* where the master connects (the server, or a proxy) */
    int            workers;   /* launched by the sleigh (0: the test starts them) */
    char           ws[128];   /* the sleigh's workspace, once ws_ready */
    atomic_int     ws_ready;
};

/* Options for the Sleigh API on port: n local nws-worker processes. */
static void
rs_options(nws_sleigh_options *o, int port, int n)
{
    static char worker[512];

    nwstest_bin("nws-worker", worker, sizeof(worker));
    nws_sleigh_options_init(o);
    o->host = "127.0.0.1";
    o->port = port;
    o->workers = n;
    o->worker_path = worker;
    o->verbose = getenv("NWSTEST_VERBOSE") != NULL;
}

/*
 * The master: a pending batch of log_run over 0..N-1, waited for whole
 * (the user's nws_sleigh_each_elem is the same calls), then eachWorker.
 */
static void *
rs_master_main(void *arg)
{
    struct rs_master   *m = arg;
    nws_sleigh_options  o;
    nws_sleigh         *sl;
    nws_sleigh_pending *p;
    nws_sleigh_progress pr;
    json_t             *task, *idx, *elems, *fixed;
    char                module[512];
    double              t0 = nwsp_mono();
    int                 i;

    rs_options(&o, m->port, m->workers);
    if ((sl = nws_sleigh_new(&o, &m->err)) == NULL) {
        m->failed_at = 1;
        atomic_store(&m->run->finished, 1);
        return NULL;
    }
    snprintf(m->ws, sizeof(m->ws), "%s", nws_sleigh_ws_name(sl));
    atomic_store(&m->ws_ready, 1);
    snprintf(module, sizeof(module), "%s/restart_test.so", m->mods);
    task = nws_sleigh_call(module, "log_run");
    idx = json_array();
    for (i = 0; i < m->run->nelems; i++)
        json_array_append_new(idx, json_integer(i));
    elems = json_pack("[o]", idx);
    fixed = json_pack("[si]", m->run->log, m->ms);
    p = nws_sleigh_each_elem_async(sl, task, elems, fixed, NULL, &m->err);
    if (p != NULL && (m->result = nws_sleigh_pending_wait(p, &m->err)) != NULL &&
        nws_sleigh_pending_progress(p, &pr, &m->err) == 0)
        m->dups = (long)pr.duplicates;
    else
        m->failed_at = 1;
    nws_sleigh_pending_free(p);
    m->seconds = nwsp_mono() - t0;
    json_decref(task);
    json_decref(elems);
    json_decref(fixed);
    /* A worker that joined again may still be on its way: eachWorker goes to those there. */
    if (m->failed_at == 0 &&
        nws_sleigh_wait_workers(sl, RS_WORKERS, 60, &m->err) < RS_WORKERS) {
        if (m->err.code == 0)
            snprintf(m->err.text, sizeof(m->err.text), "fewer than %d workers registered",
                     RS_WORKERS);
        m->failed_at = 2;
    }
    if (m->failed_at == 0) {
        /* The same workers, registered once each: one task per rank. */
        snprintf(module, sizeof(module), "%s/sleigh_test.so", m->mods);
        task = nws_sleigh_call(module, "whoami");
        if ((m->ranks = nws_sleigh_each_worker(sl, task, NULL, &m->err)) == NULL)
            m->failed_at = 2;
        json_decref(task);
    }
    atomic_store(&m->run->finished, 1);
    nws_sleigh_free(sl);
    return NULL;
}

static void
rs_master_init(struct rs_master *m, struct rs_run *run, int ms)
{
    const char *mods = getenv("NWS_MODULES_DIR");

    memset(m, 0, sizeof(*m));
    m->run = run;
    m->ms = ms;
    m->port = run->srv.port;
    m->workers = RS_WORKERS;
    snprintf(m->mods, sizeof(m->mods), "%s", mods != NULL ? mods : "build/modules");
}

/* Joins the master thread, up to s seconds (a hang fails the test). */
static void
rs_master_join(pthread_t th, struct rs_run *run, double s)
{
    double until = nwsp_mono() + s;

    while (!atomic_load(&run->finished) && nwsp_mono() < until)
        usleep(10000);
    ck_assert_msg(atomic_load(&run->finished), "the master is still running after %.0f s",
                  s);
    ck_assert_int_eq(pthread_join(th, NULL), 0);
}

/*
 * The master's batch came whole: every element's own result, once, in
 * order, none given twice; eachWorker found the RS_WORKERS workers, one per
 * rank 0..RS_WORKERS-1 (none lost, none registered twice).
 */
static void
rs_check_master(struct rs_master *m)
{
    int     seen[RS_WORKERS] = {0};
    size_t  i;
    json_t *e;

    ck_assert_msg(m->failed_at == 0, "%s failed: %s (%s)",
                  m->failed_at == 1 ? "the batch" : "eachWorker", m->err.text,
                  nws_errcode_str(m->err.code));
    ck_assert_int_eq(json_array_size(m->result), (size_t)m->run->nelems);
    for (i = 0; i < json_array_size(m->result); i++) {
        e = json_array_get(m->result, i);
        ck_assert_msg(
            nws_sleigh_error(e) == NULL && json_integer_value(e) == (json_int_t)i,
            "element %zu: %s", i,
            nws_sleigh_error(e) != NULL ? nws_sleigh_error(e) : "a wrong value");
    }
    ck_assert_int_eq(json_array_size(m->ranks), RS_WORKERS);
    for (i = 0; i < RS_WORKERS; i++) {
        json_int_t r =
            json_integer_value(json_object_get(json_array_get(m->ranks, i), "rank"));

        ck_assert_msg(r >= 0 && r < RS_WORKERS && !seen[r]++, "eachWorker: rank %lld",
                      (long long)r);
    }
    ck_assert_msg(m->dups == 0, "%ld results came twice", m->dups);
}

START_TEST(api_rides_through)
{
    struct rs_run    run;
    struct rs_master m;
    pthread_t        th;
    long             twice;

    rs_init(&run, "60");
    rs_master_init(&m, &run, 3);
    ck_assert_int_eq(pthread_create(&th, NULL, rs_master_main, &m), 0);
    rs_kill_loop(&run);
    rs_master_join(th, &run, RS_BOUND_S);
    rs_check_master(&m);
    rs_check_kills(&run);
    twice = rs_check_log(&run);
    rs_figures(&run, "api_rides_through", m.seconds, twice, m.dups);
    json_decref(m.result);
    json_decref(m.ranks);
    ck_assert_int_eq(rs_leftover(&run, 10), 0);
    rs_free(&run);
}
END_TEST

/* ---- through a proxy: connections cut, no restart ------------------------------ */

/* Starts an nws-worker process for the master's sleigh, connecting to port. */
static pid_t
rs_worker(struct rs_master *m, int port)
{
    char  bin[512], portbuf[16];
    pid_t pid;

    while (!atomic_load(&m->ws_ready) && !atomic_load(&m->run->finished))
        usleep(5000);
    ck_assert_msg(atomic_load(&m->ws_ready), "no sleigh: %s", m->err.text);
    nwstest_bin("nws-worker", bin, sizeof(bin));
    snprintf(portbuf, sizeof(portbuf), "%d", port);
    pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getenv("NWSTEST_VERBOSE") == NULL) {
            int fd = open("/dev/null", O_WRONLY);

            dup2(fd, 2);
        }
        execl(bin, bin, "--host", "127.0.0.1", "--port", portbuf, "--workspace", m->ws,
              (char *)NULL);
        _exit(127);
    }
    return pid;
}

/* Waits for the workers started by hand to leave (the sleigh was stopped). */
static void
rs_workers_wait(pid_t *pids, int n)
{
    double until = nwsp_mono() + 30;
    int    i, st, left;

    do {
        for (i = 0, left = 0; i < n; i++) {
            if (pids[i] > 0 && waitpid(pids[i], &st, WNOHANG) == pids[i])
                pids[i] = 0;
            left += pids[i] > 0;
        }
        if (left > 0)
            usleep(10000);
    } while (left > 0 && nwsp_mono() < until);
    for (i = 0; i < n; i++)
        if (pids[i] > 0) {
            kill(pids[i], SIGKILL);
            waitpid(pids[i], &st, 0);
        }
    ck_assert_msg(left == 0, "%d workers did not leave with their sleigh", left);
}

/* Waits until frac of the elements started (the batch going on meanwhile). */
static void
rs_wait_started(struct rs_run *run, double frac, const char *before)
{
    double until = nwsp_mono() + RS_BOUND_S;

    while (rs_started(run) < (long)(run->nelems * frac) && !rs_finished(run) &&
           nwsp_mono() < until)
        usleep(2000);
    ck_assert_msg(!rs_finished(run), "the batch ended before %s", before);
    ck_assert_msg(nwsp_mono() < until, "%s: only %ld elements started in %d s", before,
                  rs_started(run), RS_BOUND_S);
}

/*
 * A proxy between the master and the server, another between worker 0 and
 * the server: the master's connections are cut at a third of the batch,
 * worker 0's at two thirds.  The batch goes on as if nothing happened.
 */
START_TEST(proxy_cuts)
{
    struct rs_run    run;
    struct rs_master m;
    struct tproxy   *pm, *pw;
    pthread_t        th;
    pid_t            pids[RS_WORKERS];
    long             twice;
    int              i, cuts;

    rs_init(&run, "60");
    ck_assert_ptr_nonnull(pm = tproxy_start(run.srv.port));
    ck_assert_ptr_nonnull(pw = tproxy_start(run.srv.port));
    rs_master_init(&m, &run, 3);
    m.port = tproxy_port(pm);
    m.workers = 0;
    ck_assert_int_eq(pthread_create(&th, NULL, rs_master_main, &m), 0);
    for (i = 0; i < RS_WORKERS; i++)
        pids[i] = rs_worker(&m, i == 0 ? tproxy_port(pw) : run.srv.port);
    rs_wait_started(&run, 1.0 / 3, "the master's cut");
    ck_assert_int_gt(cuts = tproxy_cut(pm), 0);
    printf("proxy_cuts: cut the master's %d connections at %ld elements started\n", cuts,
           rs_started(&run));
    rs_wait_started(&run, 2.0 / 3, "the worker's cut");
    ck_assert_int_eq(tproxy_cut(pw), 1);
    printf("proxy_cuts: cut worker 0's connection at %ld elements started\n",
           rs_started(&run));
    rs_master_join(th, &run, RS_BOUND_S);
    twice = rs_check_log(&run);
    rs_figures(&run, "proxy_cuts", m.seconds, twice, m.dups);
    rs_check_master(&m);
    rs_workers_wait(pids, RS_WORKERS);
    json_decref(m.result);
    json_decref(m.ranks);
    tproxy_stop(pm);
    tproxy_stop(pw);
    rs_free(&run);
}
END_TEST

/*
 * A worker kept from the server past --resume-grace: the server ends its
 * session (its tasks go back, its registration ends); when the worker gets
 * through again libnws says NWS_ERR_SESSION, and the worker joins again,
 * with its rank.  Every element still comes once.
 */
START_TEST(worker_session_lost)
{
    static const char *grace[] = {"--resume-grace", "1", NULL};
    struct rs_run      run;
    struct rs_master   m;
    struct tproxy     *pw;
    pthread_t          th;
    pid_t              pids[RS_WORKERS];
    long               twice;
    int                i;

    rs_init(&run, "60");
    jsrv_kill9(&run.srv); /* again with a short grace */
    ck_assert_int_eq(jsrv_start(&run.srv, grace), 0);
    ck_assert_ptr_nonnull(pw = tproxy_start(run.srv.port));
    rs_master_init(&m, &run, 3);
    m.workers = 0;
    ck_assert_int_eq(pthread_create(&th, NULL, rs_master_main, &m), 0);
    for (i = 0; i < RS_WORKERS; i++)
        pids[i] = rs_worker(&m, i == 0 ? tproxy_port(pw) : run.srv.port);
    rs_wait_started(&run, 1.0 / 3, "worker 0 was cut off");
    tproxy_pause(pw);
    ck_assert_int_eq(tproxy_cut(pw), 1);
    usleep(3000 * 1000); /* three times the grace: its session is over */
    tproxy_resume(pw);
    rs_master_join(th, &run, RS_BOUND_S);
    twice = rs_check_log(&run);
    rs_figures(&run, "worker_session_lost", m.seconds, twice, m.dups);
    rs_check_master(&m);
    ck_assert_msg(tproxy_accepted(pw) >= 2, "worker 0 never came back");
    rs_workers_wait(pids, RS_WORKERS);
    json_decref(m.result);
    json_decref(m.ranks);
    tproxy_stop(pw);
    rs_free(&run);
}
END_TEST

/*
 * The master kept from the server past --resume-grace: its session ends,
 * and with it the sleigh it owned.  The wait fails, NWS_ERR_SESSION, with
 * words that say the sleigh is gone; the workers leave.
 */
START_TEST(master_session_lost)
{
    static const char *grace[] = {"--resume-grace", "1", NULL};
    struct rs_run      run;
    struct rs_master   m;
    struct tproxy     *pm;
    pthread_t          th;

    rs_init(&run, "60");
    jsrv_kill9(&run.srv);
    ck_assert_int_eq(jsrv_start(&run.srv, grace), 0);
    ck_assert_ptr_nonnull(pm = tproxy_start(run.srv.port));
    rs_master_init(&m, &run, 3);
    m.port = tproxy_port(pm);
    ck_assert_int_eq(pthread_create(&th, NULL, rs_master_main, &m), 0);
    rs_wait_started(&run, 0.2, "the master was cut off");
    tproxy_pause(pm);
    ck_assert_int_gt(tproxy_cut(pm), 0);
    usleep(3000 * 1000);
    tproxy_resume(pm);
    rs_master_join(th, &run, RS_BOUND_S);
    printf("master_session_lost: %s (%s)\n", m.err.text, nws_errcode_str(m.err.code));
    ck_assert_int_eq(m.failed_at, 1);
    ck_assert_int_eq(m.err.code, NWS_ERR_SESSION);
    ck_assert_msg(strstr(m.err.text, "sleigh is gone") != NULL, "not a clear error: %s",
                  m.err.text);
    ck_assert_int_eq(rs_leftover(&run, 30), 0);
    tproxy_stop(pm);
    rs_free(&run);
}
END_TEST

/*
 * The server killed and not started again: the master's wait fails with a
 * clear error once NWS_RECONNECT seconds have passed, and the workers stop
 * by themselves (before the master lets go of them), nothing left.
 */
START_TEST(api_server_gone)
{
    struct rs_run    run;
    struct rs_master m;
    pthread_t        th;
    double           t0, until;
    int              left;

    rs_init(&run, RS_RECONNECT);
    rs_master_init(&m, &run, 3);
    ck_assert_int_eq(pthread_create(&th, NULL, rs_master_main, &m), 0);
    while (rs_started(&run) < run.nelems / 5 && !atomic_load(&run.finished))
        usleep(2000);
    ck_assert_msg(!atomic_load(&run.finished), "the batch ended before the server went");
    jsrv_kill9(&run.srv);
    t0 = nwsp_mono();
    /* The workers go first: the master is still blocked in its wait. */
    until = t0 + RS_GONE_S;
    while ((left = nwstest_children(getpid(), 0, NULL, 0, 0)) > 0 && nwsp_mono() < until)
        usleep(20000);
    printf("api_server_gone: the workers stopped %.1f s after the server went "
           "(NWS_RECONNECT=%s)\n",
           nwsp_mono() - t0, RS_RECONNECT);
    ck_assert_msg(left == 0, "%d workers still run %d s after the server went", left,
                  RS_GONE_S);
    rs_master_join(th, &run, RS_GONE_S);
    printf("api_server_gone: the master stopped %.1f s after the server went: %s (%s)\n",
           nwsp_mono() - t0, m.err.text, nws_errcode_str(m.err.code));
    ck_assert_int_eq(m.failed_at, 1);
    ck_assert_ptr_null(m.result);
    ck_assert_msg(m.err.code == NWS_ERR_CLOSED &&
                      strstr(m.err.text, "unreachable") != NULL,
                  "not a clear error: %s (%s)", m.err.text, nws_errcode_str(m.err.code));
    ck_assert_int_eq(rs_leftover(&run, 10), 0);
    rs_free(&run);
}
END_TEST

NWSTEST_SUITE(sleigh_restart)
{
    Suite *s = suite_create("sleigh_restart");
    TCase *tc = tcase_create("restart_cli");

    /* One case each, so that make bench-restart (and a reader) can run one. */
    tcase_set_timeout(tc, RS_BOUND_S + 30);
    tcase_add_test(tc, cli_rides_through);
    suite_add_tcase(s, tc);
    tc = tcase_create("restart_api");
    tcase_set_timeout(tc, RS_BOUND_S + 30);
    tcase_add_test(tc, api_rides_through);
    suite_add_tcase(s, tc);
    tc = tcase_create("proxy");
    tcase_set_timeout(tc, RS_BOUND_S + 30);
    tcase_add_test(tc, proxy_cuts);
    tcase_add_test(tc, worker_session_lost);
    tcase_add_test(tc, master_session_lost);
    suite_add_tcase(s, tc);
    tc = tcase_create("gone");
    tcase_set_timeout(tc, 2 * RS_GONE_S + 30);
    tcase_add_test(tc, cli_server_gone);
    tcase_add_test(tc, api_server_gone);
    suite_add_tcase(s, tc);
    return s;
}
