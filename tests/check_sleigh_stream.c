/*
 * check_sleigh_stream.c -- sleigh --line-buffer and -u print a job's output
 * while it runs, as GNU parallel (Debian's 20221122) does.
 *
 * Proof by waiting, not by timing: a job prints, then waits for a file
 * that the test makes only once it has read that output on sleigh's
 * stdout (or stderr); output held to the job's end never comes, and the
 * test fails when its bound runs out.  Jobs that take turns through
 * sleigh's own output file give an interleaving that does not depend on
 * speed, compared byte for byte with GNU parallel's.  A job printing
 * 200 MB goes through with sleigh, its worker and the server (under a
 * small --max-memory) each staying small.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "nwstest.h"
#include "util.h"

#define ST_TIMEOUT_S  30 /* a run, start to end */
#define ST_SEE_S      15 /* for output a running job printed (its own wait is 20 s) */
#define ST_PARALLEL   "/usr/bin/parallel"
#define ST_BIG        200000000L /* bytes the large job prints */
#define ST_RSS_MAX_KB (64 * 1024)

static struct nwstest_server st_srv;
static char                  st_dir[64];

static void
st_setup(void)
{
    const char *extra[] = {"--max-memory", "16M", NULL};

    ck_assert_int_eq(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
    ck_assert_int_eq(nwstest_server_start(&st_srv, extra), 0);
    snprintf(st_dir, sizeof(st_dir), "/tmp/nwstest.stream.XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(st_dir));
}

static void
st_teardown(void)
{
    char cmd[128];

    nwstest_server_stop(&st_srv);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", st_dir);
    if (system(cmd) != 0)
        fprintf(stderr, "cannot remove %s\n", st_dir);
}

/*
 * Starts sleigh (or parallel) with args in st_dir; its stdout and stderr
 * to descriptors out and err (-1: a pipe each, read ends in *pout, *perr).
 */
static pid_t
st_start(int parallel, const char *const *args, int out, int err, int *pout, int *perr)
{
    const char *argv[40];
    char        bin[512], port[16];
    int         po[2] = {-1, -1}, pe[2] = {-1, -1}, n = 0, i;
    pid_t       pid;

    if (out < 0)
        ck_assert_int_eq(pipe2(po, O_CLOEXEC), 0);
    if (err < 0)
        ck_assert_int_eq(pipe2(pe, O_CLOEXEC), 0);
    if (parallel) {
        argv[n++] = ST_PARALLEL;
        argv[n++] = "--will-cite";
    } else {
        argv[n++] = nwstest_bin("sleigh", bin, sizeof(bin));
    }
    for (i = 0; args[i] != NULL && n < 39; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    snprintf(port, sizeof(port), "%d", st_srv.port);
    pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        int devnull = open("/dev/null", O_RDONLY);

        if (chdir(st_dir) != 0)
            _exit(126);
        setenv("NWS_HOST", "127.0.0.1", 1);
        setenv("NWS_PORT", port, 1);
        setenv("TMPDIR", st_dir, 1);
        setenv("SHELL", "/bin/sh", 1);
        setpgid(0, 0);
        dup2(devnull, 0);
        dup2(out >= 0 ? out : po[1], 1);
        dup2(err >= 0 ? err : pe[1], 2);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    if (out < 0) {
        close(po[1]);
        *pout = po[0];
    }
    if (err < 0) {
        close(pe[1]);
        *perr = pe[0];
    }
    return pid;
}

/*
 * Reads fd onto *buf (*len bytes, NUL-terminated) until it holds needle
 * (1), or until EOF or seconds pass (0).  needle NULL: until EOF (1).
 */
static int
st_read_until(int fd, char **buf, size_t *len, const char *needle, double seconds)
{
    double        start = nwsp_mono();
    struct pollfd p = {.fd = fd, .events = POLLIN};
    char          chunk[4096];
    ssize_t       n;

    for (;;) {
        if (needle != NULL && *buf != NULL && strstr(*buf, needle) != NULL)
            return 1;
        if (nwsp_mono() - start > seconds)
            return 0;
        if (poll(&p, 1, 100) <= 0)
            continue;
        n = read(fd, chunk, sizeof(chunk));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return needle == NULL;
        *buf = realloc(*buf, *len + (size_t)n + 1);
        ck_assert_ptr_nonnull(*buf);
        memcpy(*buf + *len, chunk, (size_t)n);
        *len += (size_t)n;
        (*buf)[*len] = '\0';
    }
}

/* Waits for pid (bounded: killed after ST_TIMEOUT_S); its exit status. */
static int
st_wait(pid_t pid, struct rusage *ru)
{
    double start = nwsp_mono();
    pid_t  got;
    int    st = 0;

    while ((got = wait4(pid, &st, WNOHANG, ru)) == 0 &&
           nwsp_mono() - start < ST_TIMEOUT_S)
        usleep(10000);
    if (got == 0) {
        kill(-pid, SIGKILL);
        wait4(pid, &st, 0, ru);
    }
    ck_assert_msg(got == pid, "ran for more than %d s", ST_TIMEOUT_S);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/*
 * Runs sleigh with opt (and opt2 if not NULL) over one job that prints
 * "start1" + end1 on stdout and "err1\n" on stderr, then waits (20 s at
 * most) for a file: the file is made only once seen1 was read on stdout
 * and seen2 on stderr (NULL: not looked for).  Then the whole output must
 * be want.
 */
static void
st_live(const char *opt, const char *opt2, const char *end1, const char *seen1,
        const char *seen2, const char *want)
{
    char        go[128], cmd[512];
    char       *out = NULL, *err = NULL;
    size_t      outlen = 0, errlen = 0;
    int         fo = -1, fe = -1, rc;
    const char *args[12];
    int         n = 0;
    pid_t       pid;

    snprintf(go, sizeof(go), "%s/go%s", st_dir, opt);
    snprintf(cmd, sizeof(cmd),
             "printf 'start{}%s'; echo err{} >&2; i=0; while [ ! -e %s ] && "
             "[ $i -lt 400 ]; do sleep 0.05; i=$((i+1)); done; echo end{}",
             end1, go);
    args[n++] = "-j1";
    args[n++] = opt;
    if (opt2 != NULL)
        args[n++] = opt2;
    args[n++] = cmd;
    args[n++] = ":::";
    args[n++] = "1";
    args[n] = NULL;
    pid = st_start(0, args, -1, -1, &fo, &fe);
    ck_assert_msg(st_read_until(fo, &out, &outlen, seen1, ST_SEE_S),
                  "%s: \"%s\" not printed while the job runs (stdout so far: %s)", opt,
                  seen1, out != NULL ? out : "");
    if (seen2 != NULL)
        ck_assert_msg(st_read_until(fe, &err, &errlen, seen2, ST_SEE_S),
                      "%s: \"%s\" not on stderr while the job runs (so far: %s)", opt,
                      seen2, err != NULL ? err : "");
    close(open(go, O_WRONLY | O_CREAT, 0644));
    st_read_until(fo, &out, &outlen, NULL, ST_TIMEOUT_S);
    st_read_until(fe, &err, &errlen, NULL, ST_TIMEOUT_S);
    rc = st_wait(pid, NULL);
    ck_assert_msg(rc == 0, "%s: exit %d, stderr %s", opt, rc, err != NULL ? err : "");
    ck_assert_msg(out != NULL && strcmp(out, want) == 0, "%s: printed \"%s\", not \"%s\"",
                  opt, out != NULL ? out : "", want);
    close(fo);
    close(fe);
    free(out);
    free(err);
}

START_TEST(line_buffer_live)
{
    st_live("--line-buffer", NULL, "\\n", "start1\n", "err1\n", "start1\nend1\n");
    st_live("--lb", "--tag", "\\n", "1\tstart1\n", "1\terr1\n", "1\tstart1\n1\tend1\n");
    /* -k: the first job in order is printed live. */
    st_live("--lb", "-k", "\\n", "start1\n", "err1\n", "start1\nend1\n");
}
END_TEST

START_TEST(ungroup_live)
{
    /* -u: bytes as they come, a line not finished too. */
    st_live("-u", NULL, "", "start1", "err1\n", "start1end1\n");
    st_live("--ungroup", NULL, "", "start1", NULL, "start1end1\n");
}
END_TEST

/*
 * Runs args (NULL-terminated) with sleigh and with parallel in st_dir,
 * stdout to the file "out" (which jobs may read), and compares stdout,
 * stderr and the exit status byte for byte.
 */
static int
st_cmp_line(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorts the lines of text in place (the order of jobs started at once varies). */
static void
st_sort_lines(char *text)
{
    char  *lines[64], *copy = strdup(text), *p, *save = NULL;
    size_t n = 0, i;

    ck_assert_ptr_nonnull(copy);
    for (p = strtok_r(copy, "\n", &save); p != NULL && n < 64;
         p = strtok_r(NULL, "\n", &save))
        lines[n++] = p;
    qsort(lines, n, sizeof(*lines), st_cmp_line);
    text[0] = '\0';
    for (i = 0; i < n; i++) {
        strcat(text, lines[i]);
        strcat(text, "\n");
    }
    free(copy);
}

static void
st_compare_as(const char *what, const char *const *args, int sorted)
{
    char  outp[128], errp[128];
    char *res[2][2];
    int   which, fo, fe, rc[2];
    pid_t pid;

    for (which = 0; which < 2; which++) {
        snprintf(outp, sizeof(outp), "%s/out", st_dir);
        snprintf(errp, sizeof(errp), "%s/err", st_dir);
        fo = open(outp, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0644);
        fe = open(errp, O_RDWR | O_CREAT | O_TRUNC, 0644);
        ck_assert_int_ge(fo, 0);
        ck_assert_int_ge(fe, 0);
        pid = st_start(which, args, fo, fe, NULL, NULL);
        rc[which] = st_wait(pid, NULL);
        close(fo);
        close(fe);
        fo = open(outp, O_RDONLY);
        fe = open(errp, O_RDONLY);
        res[which][0] = nwstest_slurp(fo, NULL);
        res[which][1] = nwstest_slurp(fe, NULL);
        close(fo);
        close(fe);
        if (sorted)
            st_sort_lines(res[which][0]);
    }
    ck_assert_msg(rc[0] == rc[1], "%s: sleigh exits %d, parallel %d (stderr %s | %s)",
                  what, rc[0], rc[1], res[0][1], res[1][1]);
    ck_assert_msg(strcmp(res[0][0], res[1][0]) == 0,
                  "%s: stdout differs:\n--- sleigh\n%s\n--- parallel\n%s", what,
                  res[0][0], res[1][0]);
    ck_assert_msg(strcmp(res[0][1], res[1][1]) == 0,
                  "%s: stderr differs:\n--- sleigh\n%s\n--- parallel\n%s", what,
                  res[0][1], res[1][1]);
    for (which = 0; which < 2; which++) {
        free(res[which][0]);
        free(res[which][1]);
    }
}

static void
st_compare(const char *what, const char *const *args)
{
    st_compare_as(what, args, 0);
}

/*
 * Two jobs at once taking turns through what the run has printed so far
 * (the file "out": sleigh's or parallel's stdout), so the order does not
 * depend on speed: job 1 prints a line, job 2 answers with two lines, job 1
 * ends a line it began before (and leaves a last one unfinished), job 2
 * ends after job 1 did.  Both programs run with o1, o2, o3 (NULL: none).
 */
static void
st_turns(const char *o1, const char *o2, const char *o3)
{
    static const char script[] =
        "w() { i=0; while ! grep -q \"$1\" out 2>/dev/null; do sleep 0.02; i=$((i+1)); "
        "[ $i -gt 1000 ] && exit 9; done; }\n"
        "if [ \"$1\" = 1 ]; then echo a1; w a2; printf b1; w c2; printf ' x\\nlast1'; "
        "echo e1 >&2; fi\n"
        "if [ \"$1\" = 2 ]; then w a1; printf 'a2\\nc2\\n'; w last1; printf tail2; fi\n";
    char        path[128], what[128];
    const char *args[12];
    int         n = 0, f;

    snprintf(path, sizeof(path), "%s/turns.sh", st_dir);
    f = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0755);
    ck_assert_int_ge(f, 0);
    ck_assert_int_eq(write(f, script, strlen(script)), (ssize_t)strlen(script));
    close(f);
    args[n++] = "-j2";
    args[n++] = o1;
    if (o2 != NULL)
        args[n++] = o2;
    if (o3 != NULL)
        args[n++] = o3;
    args[n++] = path;
    args[n++] = ":::";
    args[n++] = "1";
    args[n++] = "2";
    args[n] = NULL;
    snprintf(what, sizeof(what), "%s %s %s", o1, o2 != NULL ? o2 : "",
             o3 != NULL ? o3 : "");
    st_compare(what, args);
}

START_TEST(interleaved_as_parallel)
{
    ck_assert_msg(access(ST_PARALLEL, X_OK) == 0, "GNU parallel is not installed");
    st_turns("--line-buffer", NULL, NULL);
    st_turns("--lb", "--tag", NULL);
    st_turns("--lb", "--tagstring", "<{}>");
    st_turns("-u", NULL, NULL);
}
END_TEST

/*
 * -k --line-buffer: the first job's lines as they come, the others' held
 * (to a file) until their turn; the end result is in input order.
 */
START_TEST(keep_order_as_parallel)
{
    const char *tagged[] = {
        "-j3", "-k", "--lb", "--tag", "sleep 0.{}; echo a{}; printf b{}; echo e{} >&2",
        ":::", "3",  "1",    "2",     NULL};
    const char *verbose[] = {
        "-j3", "-k", "--lb", "-v", "echo a{}; sleep 0.{}; printf b{}",
        ":::", "2",  "1",    NULL};

    ck_assert_msg(access(ST_PARALLEL, X_OK) == 0, "GNU parallel is not installed");
    st_compare("-k --lb --tag", tagged);
    st_compare("-k --lb -v", verbose);
}
END_TEST

/* -v: the command line as the job starts, before any output (one job at a time). */
START_TEST(verbose_as_parallel)
{
    const char *lb[] = {"-j1", "-v", "--lb", "echo a{}; echo b{} >&2; printf c{}",
                        ":::", "1",  "2",    NULL};
    const char *u[] = {"-j1", "-v", "-u", "printf a{}", ":::", "1", "2", NULL};

    ck_assert_msg(access(ST_PARALLEL, X_OK) == 0, "GNU parallel is not installed");
    st_compare("-v --lb", lb);
    st_compare("-v -u", u);
}
END_TEST

/*
 * -v with two jobs at once: each waits until the other's command line is
 * out, so both must be printed as the jobs start (the order of the two
 * starts varies: lines compared sorted).
 */
START_TEST(verbose_at_start)
{
    static const char script[] =
        "o=$((3-$1)); i=0; while ! grep -q \"v.sh $o\" out 2>/dev/null; do sleep 0.02; "
        "i=$((i+1)); "
        "[ $i -gt 1000 ] && exit 9; done; [ $1 = 1 ] && echo a1; exit 0\n";
    char        path[128];
    const char *lb[] = {"-j2", "-v", "--lb", path, ":::", "1", "2", NULL};
    int         f;

    ck_assert_msg(access(ST_PARALLEL, X_OK) == 0, "GNU parallel is not installed");
    snprintf(path, sizeof(path), "%s/v.sh", st_dir);
    f = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0755);
    ck_assert_int_ge(f, 0);
    ck_assert_int_eq(write(f, script, strlen(script)), (ssize_t)strlen(script));
    close(f);
    st_compare_as("-v --lb, two at once", lb, 1);
}
END_TEST

/* The VmHWM of process pid in KiB, or -1. */
static long
st_hwm_kb(pid_t pid)
{
    char  path[64], line[256];
    long  kb = -1;
    FILE *f;

    snprintf(path, sizeof(path), "/proc/%ld/status", (long)pid);
    if ((f = fopen(path, "r")) == NULL)
        return -1;
    while (fgets(line, sizeof(line), f) != NULL)
        if (sscanf(line, "VmHWM: %ld kB", &kb) == 1)
            break;
    fclose(f);
    return kb;
}

/*
 * 200 MB of lines from one job with --line-buffer: every byte arrives,
 * while sleigh and its worker (the largest of them: wait4's peak) stay
 * under 64 MiB and the server under its --max-memory of 16M takes it
 * (a store past the limit would fail the job).
 */
/* Runs sleigh with args, counting what it prints; checks it and the bounds. */
static void
st_large(const char *what, const char *const *args, long want_bytes, long want_lines)
{
    struct rusage ru;
    char          chunk[65536], *err;
    long          bytes = 0, lines = 0, srv0 = st_hwm_kb(st_srv.pid), srv1;
    int           fo = -1, fe = nwstest_tmpfile(), rc, i;
    ssize_t       n;
    pid_t         pid;
    double        t0 = nwsp_mono();

    memset(&ru, 0, sizeof(ru));
    pid = st_start(0, args, -1, fe, &fo, NULL);
    while ((n = read(fo, chunk, sizeof(chunk))) > 0 || (n < 0 && errno == EINTR)) {
        for (i = 0; i < n; i++)
            lines += chunk[i] == '\n';
        bytes += n > 0 ? n : 0;
        if (nwsp_mono() - t0 > ST_TIMEOUT_S * 3)
            break;
    }
    close(fo);
    rc = st_wait(pid, &ru);
    err = nwstest_slurp(fe, NULL);
    close(fe);
    srv1 = st_hwm_kb(st_srv.pid);
    fprintf(
        stderr,
        "large_bounded %s: %ld bytes in %.2f s; peak RSS sleigh/worker %ld KiB; server "
        "VmHWM %ld -> %ld KiB\n",
        what, bytes, nwsp_mono() - t0, ru.ru_maxrss, srv0, srv1);
    ck_assert_msg(rc == 0, "%s: exit %d: %s", what, rc, err);
    ck_assert_int_eq(bytes, want_bytes);
    ck_assert_int_eq(lines, want_lines);
    /* (Not under the sanitizers: their allocator keeps freed memory.) */
    if (getenv("ASAN_OPTIONS") == NULL) {
        ck_assert_msg(ru.ru_maxrss < ST_RSS_MAX_KB, "%s: sleigh or its worker grew to %ld KiB",
                      what, ru.ru_maxrss);
        ck_assert_msg(srv1 < srv0 + 16 * 1024, "%s: the server grew from %ld to %ld KiB",
                      what, srv0, srv1);
    }
    free(err);
}

START_TEST(large_bounded)
{
    const char *live[] = {
        "-j1",
        "--line-buffer",
        "true {}; yes 0123456789012345678901234567890123456789012345678 | "
        "head -c 200000000",
        ":::",
        "1",
        NULL};
    /* -k: job 2's 100 MB held (in a file) until job 1, which waits for it, ends. */
    const char *held[] = {
        "-j2",
        "-k",
        "--line-buffer",
        "if [ {} = 1 ]; then i=0; while [ ! -e big2 ] && [ $i -lt 1200 ]; do sleep 0.05; "
        "i=$((i+1)); done; echo first; else yes "
        "0123456789012345678901234567890123456789012345678 | head -c 100000000; touch "
        "big2; fi",
        ":::",
        "1",
        "2",
        NULL};

    st_large("--lb", live, ST_BIG, ST_BIG / 50);
    st_large("-k --lb", held, 6 + ST_BIG / 2, 1 + ST_BIG / 100);
}
END_TEST

NWSTEST_SUITE(sleigh_stream)
{
    Suite *s = suite_create("sleigh_stream");
    TCase *tc = tcase_create("stream");

    tcase_add_checked_fixture(tc, st_setup, st_teardown);
    tcase_set_timeout(tc, 150);
    tcase_add_test(tc, line_buffer_live);
    tcase_add_test(tc, ungroup_live);
    tcase_add_test(tc, interleaved_as_parallel);
    tcase_add_test(tc, verbose_as_parallel);
    tcase_add_test(tc, keep_order_as_parallel);
    tcase_add_test(tc, verbose_at_start);
    tcase_add_test(tc, large_bounded);
    suite_add_tcase(s, tc);
    return s;
}
