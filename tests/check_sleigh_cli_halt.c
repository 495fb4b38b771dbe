/*
 * check_sleigh_cli_halt.c -- the sleigh CLI's --timeout with a hung
 * worker, and --halt, against a real server and real workers; where GNU
 * parallel is installed, its exit status and joblog for the same run are
 * the reference.
 */
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "nwstest.h"
#include "util.h"

#define HC_RUN_TIMEOUT_S 40

static struct nwstest_server hc_srv;

struct hc_res {
    int   rc;
    char *out; /* NUL-terminated, free() */
    char *err;
};

static void
hc_setup(void)
{
    ck_assert_int_eq(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
    ck_assert_int_eq(nwstest_server_start(&hc_srv, NULL), 0);
}

static void
hc_teardown(void)
{
    int st, tries;

    nwstest_server_stop(&hc_srv);
    /*
     * Anything left would be a child of ours (subreaper): reap what ended
     * (a killed command's orphans end up here), and none may still run.
     */
    for (tries = 0; tries < 300 && waitpid(-1, &st, WNOHANG) >= 0; tries++)
        usleep(10000);
    ck_assert_msg(waitpid(-1, &st, WNOHANG) < 0, "a process was left behind");
}

/* Runs prog (a path) with args (NULL-terminated) on the fixture's server. */
static void
hc_exec(struct hc_res *r, const char *prog, const char *const *args)
{
    const char *argv[64];
    char        port[16];
    int         fout = nwstest_tmpfile(), ferr = nwstest_tmpfile(), st = 0, n;
    double      start = nwsp_mono();
    pid_t  pid, got;

    argv[0] = prog;
    for (n = 1; n < 63 && args[n - 1] != NULL; n++)
        argv[n] = args[n - 1];
    argv[n] = NULL;
    snprintf(port, sizeof(port), "%d", hc_srv.port);
    if ((pid = fork()) == 0) {
        setenv("NWS_HOST", "127.0.0.1", 1);
        setenv("NWS_PORT", port, 1);
        dup2(fout, 1);
        dup2(ferr, 2);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    ck_assert_int_gt(pid, 0);
    while ((got = waitpid(pid, &st, WNOHANG)) == 0 &&
           nwsp_mono() - start < HC_RUN_TIMEOUT_S)
        usleep(10000);
    if (got == 0) {
        kill(pid, SIGKILL);
        waitpid(pid, &st, 0);
    }
    r->rc = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    r->out = nwstest_slurp(fout, NULL);
    r->err = nwstest_slurp(ferr, NULL);
    close(fout);
    close(ferr);
    ck_assert_msg(got == pid, "%s ran for more than %d s; stderr: %s", prog,
                  HC_RUN_TIMEOUT_S, r->err);
}

/* Runs sleigh ARGS... (NULL-terminated). */
static void
hc_sleigh(struct hc_res *r, ...)
{
    const char *args[60];
    char        bin[512];
    va_list     ap;
    int         n = 0;

    va_start(ap, r);
    while (n < 59 && (args[n] = va_arg(ap, const char *)) != NULL)
        n++;
    va_end(ap);
    args[n] = NULL;
    hc_exec(r, nwstest_bin("sleigh", bin, sizeof(bin)), args);
}

/* Runs GNU parallel with the same ARGS if it is installed; 0 if it is not. */
static int
hc_parallel(struct hc_res *r, ...)
{
    const char *args[60];
    va_list     ap;
    int         n = 0;

    if (access("/usr/bin/parallel", X_OK) != 0)
        return 0;
    va_start(ap, r);
    while (n < 59 && (args[n] = va_arg(ap, const char *)) != NULL)
        n++;
    va_end(ap);
    args[n] = NULL;
    hc_exec(r, "/usr/bin/parallel", args);
    return 1;
}

static void
hc_free(struct hc_res *r)
{
    free(r->out);
    free(r->err);
}

/* The joblog line of input seq (tab-separated fields into f[9]); 1 if found. */
static int
hc_joblog_line(const char *log, int seq, char f[9][256])
{
    const char *line = log, *nl;
    char        buf[200], *p, *tab;
    int         i;

    for (; *line != '\0'; line = nl + 1) {
        if ((nl = strchr(line, '\n')) == NULL)
            nl = line + strlen(line);
        snprintf(buf, sizeof(buf), "%.*s", (int)(nl - line), line);
        if (atoi(buf) == seq) {
            for (i = 0, p = buf; i < 9; i++) {
                tab = strchr(p, '\t');
                if (tab != NULL)
                    *tab = '\0';
                snprintf(f[i], 256, "%s", p);
                p = tab != NULL ? tab + 1 : p + strlen(p);
            }
            return 1;
        }
        if (*nl == '\0')
            break;
    }
    return 0;
}

/*
 * The run: a worker stops (SIGSTOP, here by the command of input
 * 3, its child) and --timeout is given.  The run ends, input 3 failed with
 * a message, the joblog logs it as GNU parallel logs a timeout (Exitval
 * -1 and a signal), the others ran.
 */
START_TEST(timeout_with_a_stopped_worker)
{
    struct hc_res r;
    char          log[] = "/tmp/nwstest.halt.jl.XXXXXX", f[9][256], *text;
    int           fd = mkstemp(log), i;

    ck_assert_int_ge(fd, 0);
    hc_sleigh(&r, "-j", "2", "-k", "--timeout", "2", "--joblog", log,
              "sleep 0.05; if [ {} = 3 ]; then kill -STOP $PPID; fi; echo {}", ":::", "1",
              "2", "3", "4", "5", "6", "7", "8", NULL);
    text = nwstest_slurp(fd, NULL);
    close(fd);
    unlink(log);
    ck_assert_msg(r.rc == 1, "rc %d, stderr %s", r.rc, r.err);
    ck_assert_str_eq(r.out, "1\n2\n4\n5\n6\n7\n8\n");
    ck_assert_msg(strstr(r.err, "timed out after 2 s") != NULL, "stderr: %s", r.err);
    ck_assert_msg(hc_joblog_line(text, 3, f), "joblog: %s", text);
    ck_assert_str_eq(f[6], "-1");
    ck_assert_msg(atoi(f[7]) == SIGTERM || atoi(f[7]) == SIGKILL, "signal %s", f[7]);
    for (i = 1; i <= 8; i++) {
        if (i == 3)
            continue;
        ck_assert_msg(hc_joblog_line(text, i, f) && strcmp(f[6], "0") == 0 &&
                          strcmp(f[7], "0") == 0,
                      "input %d: %s", i, text);
    }
    free(text);
    hc_free(&r);
}
END_TEST

/* A command past --timeout: joblog Exitval -1 and a signal, as GNU parallel. */
START_TEST(timeout_joblog_as_parallel)
{
    struct hc_res r, g;
    char          log[] = "/tmp/nwstest.halt.jl.XXXXXX", f[9][256], *text;
    int           fd = mkstemp(log);

    ck_assert_int_ge(fd, 0);
    hc_sleigh(&r, "--timeout", "1", "--joblog", log, "sleep", ":::", "10", "0.1", NULL);
    text = nwstest_slurp(fd, NULL);
    ck_assert_msg(hc_joblog_line(text, 1, f), "joblog: %s", text);
    ck_assert_str_eq(f[6], "-1");
    ck_assert_int_ne(atoi(f[7]), 0);
    ck_assert_int_eq(r.rc, 1);
    ck_assert_msg(strstr(r.err, "timed out after 1 s") != NULL, "stderr: %s", r.err);
    free(text);
    if (hc_parallel(&g, "--timeout", "1", "--joblog", log, "sleep", ":::", "10", "0.1",
                    NULL)) {
        text = nwstest_slurp(fd, NULL);
        ck_assert_msg(hc_joblog_line(text, 1, f), "parallel's joblog: %s", text);
        ck_assert_str_eq(f[6], "-1");
        ck_assert_int_eq(g.rc, r.rc);
        free(text);
        hc_free(&g);
    }
    close(fd);
    unlink(log);
    hc_free(&r);
}
END_TEST

/* --halt: the exit status GNU parallel gives for the same run. */
static void
hc_halt_case(const char *halt, const char *jobs, int want, const char *const *inputs)
{
    struct hc_res r, g;
    const char   *args[40] = {NULL};
    int           n = 0, i;

    args[n++] = "-j";
    args[n++] = jobs;
    args[n++] = "--halt";
    args[n++] = halt;
    args[n++] = "sh -c \"exit {}\"";
    args[n++] = ":::";
    for (i = 0; inputs[i] != NULL; i++)
        args[n++] = inputs[i];
    args[n] = NULL;
    hc_sleigh(&r, args[0], args[1], args[2], args[3], args[4], args[5], args[6], args[7],
              args[8], args[9], args[10], args[11], args[12], args[13], args[14], args[15],
              NULL);
    ck_assert_msg(r.rc == want, "--halt %s: rc %d, want %d; stderr %s", halt, r.rc, want,
                  r.err);
    if (hc_parallel(&g, args[0], args[1], args[2], args[3], args[4], args[5], args[6],
                    args[7], args[8], args[9], args[10], args[11], args[12], args[13],
                    args[14], args[15], NULL)) {
        ck_assert_msg(g.rc == r.rc, "--halt %s: parallel gives %d, sleigh %d", halt, g.rc,
                      r.rc);
        hc_free(&g);
    }
    hc_free(&r);
}

START_TEST(halt_exit_status)
{
    static const char *const one[] = {"0", "3", "0", "0", "0", "0", NULL};
    static const char *const two[] = {"0", "1", "1", "0", "0", "0", "0", "0", "0", "0", NULL};
    static const char *const many[] = {"1", "2", "1", "1", "1", "1", "1", "1", "1", "1", NULL};
    static const char *const third[] = {"0", "1", "1", "0", "0", "0", NULL};

    /* fail=1: the failed input's own status. */
    hc_halt_case("soon,fail=1", "1", 3, one);
    hc_halt_case("now,fail=1", "1", 3, one);
    /* fail=N%: the percentage that failed. */
    hc_halt_case("soon,fail=30%", "1", 20, two);
    hc_halt_case("soon,fail=50%", "1", 34, third);
    /* fail=N: the number that failed, N with one job at a time. */
    hc_halt_case("soon,fail=3", "1", 3, many);
}
END_TEST

/* --halt soon: what is not run is said, and not run. */
START_TEST(halt_stops_early)
{
    struct hc_res r;

    hc_sleigh(&r, "-j", "1", "--halt", "soon,fail=2", "echo {}; exit {}", ":::", "0", "1",
              "2", "0", "0", "0", "0", NULL);
    ck_assert_int_eq(r.rc, 2);
    ck_assert_str_eq(r.out, "0\n1\n2\n");
    ck_assert_msg(strstr(r.err, "4 inputs not run") != NULL, "stderr: %s", r.err);
    hc_free(&r);
    hc_sleigh(&r, "--halt", "sometime", "echo", ":::", "1", NULL);
    ck_assert_int_eq(r.rc, 255);
    ck_assert_msg(strstr(r.err, "--halt") != NULL, "stderr: %s", r.err);
    hc_free(&r);
}
END_TEST

NWSTEST_SUITE(sleigh_cli_halt)
{
    Suite *s = suite_create("sleigh_cli_halt");
    TCase *tc = tcase_create("timeout");

    tcase_add_checked_fixture(tc, hc_setup, hc_teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, timeout_with_a_stopped_worker);
    tcase_add_test(tc, timeout_joblog_as_parallel);
    suite_add_tcase(s, tc);

    tc = tcase_create("halt");
    tcase_add_checked_fixture(tc, hc_setup, hc_teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, halt_exit_status);
    tcase_add_test(tc, halt_stops_early);
    suite_add_tcase(s, tc);
    return s;
}
