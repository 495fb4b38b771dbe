/*
 * check_sleigh_cli.c -- the sleigh command run as a subprocess: against a
 * real nwsserver named by NWS_HOST/NWS_PORT, and with no server at all, so
 * that it starts a private one.
 *
 * Each test process makes itself a child subreaper (PR_SET_CHILD_SUBREAPER),
 * so anything sleigh leaves behind (its private server, workers, commands)
 * is reparented to the test instead of init, and the tests check that
 * nothing but the fixture's server is left once sleigh has exited.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "nwstest.h"
#include "ptyproc.h"
#include "util.h"

#define SCLI_RUN_TIMEOUT_S 25

static struct nwstest_server scli_srv;

/* What one run of sleigh gave. */
struct scli_res {
    int    rc;
    char  *out; /* NUL-terminated, free() */
    char  *err;
    double seconds;
};

/* Fixture: a subreaper test process and a fresh server. */
static void
scli_setup(void)
{
    ck_assert_int_eq(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
    ck_assert_int_eq(nwstest_server_start(&scli_srv, NULL), 0);
}

/* Fixture teardown. */
static void
scli_teardown(void)
{
    nwstest_server_stop(&scli_srv);
}

/* Fixture for tests with no server: only the subreaper. */
static void
scli_setup_bare(void)
{
    ck_assert_int_eq(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
    memset(&scli_srv, 0, sizeof(scli_srv));
}

/*
 * Runs sleigh with argv (NULL-terminated, without the program) and stdin
 * in (NULL: empty).  port > 0: NWS_HOST/NWS_PORT name 127.0.0.1:port;
 * port < 0: NWS_HOST unset and NWS_PORT = -port (a closed port, so sleigh
 * starts its own server).  Fails the test if it runs too long.
 */
static void
scli_exec(struct scli_res *r, const char *in, int port, char *const *args)
{
    char   bin[512], portbuf[16], *argv[200];
    int fin = nwstest_tmpfile(), fout = nwstest_tmpfile(), ferr = nwstest_tmpfile(), st,
        n = 0;
    double start = nwsp_mono();
    pid_t  pid, got;

    argv[n++] = (char *)nwstest_bin("sleigh", bin, sizeof(bin));
    while (n < 199 && args[n - 1] != NULL) {
        argv[n] = args[n - 1];
        n++;
    }
    argv[n] = NULL;
    if (in != NULL)
        ck_assert_int_eq(write(fin, in, strlen(in)), (ssize_t)strlen(in));
    lseek(fin, 0, SEEK_SET);
    snprintf(portbuf, sizeof(portbuf), "%d", port > 0 ? port : -port);
    pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        if (port > 0)
            setenv("NWS_HOST", "127.0.0.1", 1);
        else
            unsetenv("NWS_HOST");
        setenv("NWS_PORT", portbuf, 1);
        dup2(fin, 0);
        dup2(fout, 1);
        dup2(ferr, 2);
        execv(argv[0], argv);
        _exit(127);
    }
    while ((got = waitpid(pid, &st, WNOHANG)) == 0 &&
           nwsp_mono() - start < SCLI_RUN_TIMEOUT_S)
        usleep(10000);
    if (got == 0) {
        kill(pid, SIGKILL);
        waitpid(pid, &st, 0);
    }
    r->seconds = nwsp_mono() - start;
    r->rc = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    r->out = nwstest_slurp(fout, NULL);
    r->err = nwstest_slurp(ferr, NULL);
    close(fin);
    close(fout);
    close(ferr);
    ck_assert_msg(got == pid, "sleigh %s ran for more than %d s", argv[1],
                  SCLI_RUN_TIMEOUT_S);
}

/* Runs sleigh ARGS... (NULL-terminated) against the fixture's server, stdin in. */
static void
scli_run(struct scli_res *r, const char *in, ...)
{
    char   *args[60];
    va_list ap;
    int     n = 0;

    va_start(ap, in);
    while (n < 59 && (args[n] = va_arg(ap, char *)) != NULL)
        n++;
    va_end(ap);
    args[n] = NULL;
    scli_exec(r, in, scli_srv.port, args);
}

/* Frees what a run gave. */
static void
scli_free(struct scli_res *r)
{
    free(r->out);
    free(r->err);
}

/* The parent of process pid (from /proc), or -1. */
static int
scli_ppid(int pid)
{
    char  path[64], buf[512], *p;
    FILE *fp;
    int   ppid = -1;

    snprintf(path, sizeof(path), "/proc/%d/stat", pid);
    if ((fp = fopen(path, "r")) == NULL)
        return -1;
    if (fgets(buf, sizeof(buf), fp) == NULL || (p = strrchr(buf, ')')) == NULL ||
        sscanf(p + 2, "%*c %d", &ppid) != 1)
        ppid = -1;
    fclose(fp);
    return ppid;
}

/* The number of processes descending from root (root excluded). */
static int
scli_descendants(int root)
{
    DIR           *d;
    struct dirent *e;
    int            n = 0, pid, up, depth;

    ck_assert_ptr_nonnull(d = opendir("/proc"));
    while ((e = readdir(d)) != NULL) {
        if ((pid = atoi(e->d_name)) <= 0 || pid == root)
            continue;
        for (up = scli_ppid(pid), depth = 0; up > 1 && depth < 64; depth++) {
            if (up == root) {
                n++;
                break;
            }
            up = scli_ppid(up);
        }
    }
    closedir(d);
    return n;
}

/*
 * Reaps and counts processes left over: children of this (subreaper)
 * process other than the fixture's server, waiting up to 3 s for them to
 * go (they get SIGKILL from the kernel when their parent dies).
 */
static int
scli_leftovers(void)
{
    double         deadline = nwsp_mono() + 3;
    DIR           *d;
    struct dirent *e;
    int            n, pid;

    for (;;) {
        while (waitpid(-1, NULL, WNOHANG) > 0)
            ;
        n = 0;
        ck_assert_ptr_nonnull(d = opendir("/proc"));
        while ((e = readdir(d)) != NULL) {
            if ((pid = atoi(e->d_name)) > 0 && pid != scli_srv.pid &&
                scli_ppid(pid) == (int)getpid())
                n++;
        }
        closedir(d);
        if (n == 0 || nwsp_mono() > deadline)
            return n;
        usleep(20000);
    }
}

/* Counts the lines of s equal to line. */
static int
scli_count_line(const char *s, const char *line)
{
    size_t len = strlen(line);
    int    n = 0;

    while (*s != '\0') {
        if (strncmp(s, line, len) == 0 && (s[len] == '\n' || s[len] == '\0'))
            n++;
        s = strchr(s, '\n');
        if (s == NULL)
            break;
        s++;
    }
    return n;
}

/* A port on 127.0.0.1 that nothing listens on (bound, then closed). */
static int
scli_closed_port(void)
{
    struct sockaddr_in sin;
    socklen_t          len = sizeof(sin);
    int                fd = socket(AF_INET, SOCK_STREAM, 0), port;

    ck_assert_int_ge(fd, 0);
    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
    ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
    port = ntohs(sin.sin_port);
    close(fd);
    return port;
}

/* ---- without running anything ------------------------------------------------ */

START_TEST(help_version_usage)
{
    struct scli_res r;

    scli_run(&r, NULL, "--help", NULL);
    ck_assert_int_eq(r.rc, 0);
    ck_assert(strncmp(r.out, "usage: sleigh", 13) == 0);
    ck_assert_ptr_nonnull(strstr(r.out, "--joblog"));
    scli_free(&r);
    scli_run(&r, NULL, "--version", NULL);
    ck_assert_int_eq(r.rc, 0);
    ck_assert_ptr_nonnull(strstr(r.out, "sleigh"));
    scli_free(&r);
    /* The tool's own errors exit 255, with a word on stderr. */
    scli_run(&r, NULL, "--frobnicate", "--", "true", NULL);
    ck_assert_int_eq(r.rc, 255);
    scli_free(&r);
    scli_run(&r, NULL, "-j", "x", "true", ":::", "a", NULL); /* -j 0: as many as can be */
    ck_assert_int_eq(r.rc, 255);
    ck_assert_ptr_nonnull(strstr(r.err, "sleigh: -j"));
    scli_free(&r);
    scli_run(&r, NULL, "--retries", "x", "true", ":::", "a", NULL);
    ck_assert_int_eq(r.rc, 255);
    scli_free(&r);
    /* A bad node list is refused before anything starts (check_launch_ssh.c runs good ones). */
    scli_run(&r, NULL, "--nodes", "a,b:0", "true", ":::", "a", NULL);
    ck_assert_int_eq(r.rc, 255);
    ck_assert_ptr_nonnull(strstr(r.err, "-S a,b:0: node list: \"b:0\": want a count"));
    scli_free(&r);
    scli_run(&r, NULL, "true", "::::", "/nonexistent/inputs", NULL);
    ck_assert_int_eq(r.rc, 255);
    ck_assert_ptr_nonnull(strstr(r.err, "/nonexistent/inputs"));
    scli_free(&r);
    /* No input at all: nothing to run, and no worker is started for it. */
    scli_run(&r, "", "echo", NULL);
    ck_assert_int_eq(r.rc, 0);
    ck_assert_str_eq(r.out, "");
    scli_free(&r);
    ck_assert_int_eq(scli_leftovers(), 0);
}
END_TEST

START_TEST(dry_run_placeholders)
{
    struct scli_res r;

    scli_run(&r, NULL, "--dry-run", "--", "gzip", "-9", ":::", "a.log", "b c.log", NULL);
    ck_assert_int_eq(r.rc, 0);
    ck_assert_str_eq(r.out, "gzip -9 a.log\ngzip -9 'b c.log'\n");
    scli_free(&r);
    /* Two sources: the cartesian product, the last one varying fastest. */
    scli_run(&r, NULL, "--dry-run", "echo", "{1}-{2}", "{}", ":::", "a", "b", ":::", "1",
             "2", NULL);
    ck_assert_str_eq(r.out, "echo a-1 a 1\necho a-2 a 2\necho b-1 b 1\necho b-2 b 2\n");
    scli_free(&r);
    /* :::+ links a source to the previous one, stopping at the shorter (as GNU
     * parallel 20221122); --link wraps the shorter instead. */
    scli_run(&r, NULL, "--dry-run", "echo", ":::", "a", "b", "c", ":::+", "1", "2", NULL);
    ck_assert_str_eq(r.out, "echo a 1\necho b 2\n");
    scli_free(&r);
    scli_run(&r, NULL, "--dry-run", "--link", "echo", ":::", "a", "b", "c", ":::", "1",
             "2", NULL);
    ck_assert_str_eq(r.out, "echo a 1\necho b 2\necho c 1\n");
    scli_free(&r);
    scli_run(&r, "d/x.tar.gz\ny.c\n", "--dry-run", "echo", "{.}", "{/}", "{//}", "{/.}",
             "{#}", NULL);
    ck_assert_str_eq(r.out, "echo d/x.tar x.tar.gz d x.tar 1\necho y y.c . y 2\n");
    scli_free(&r);
    /* Shell syntax in the command: /bin/sh -c, with the inputs quoted. */
    scli_run(&r, NULL, "--dry-run", "echo {} | wc -c", ":::", "it's", NULL);
    ck_assert_str_eq(r.out, "echo 'it'\"'\"'s' | wc -c\n");
    scli_free(&r);
    scli_run(&r, NULL, "--dry-run", "echo {} > {.}.out", ":::", "a.txt", NULL);
    ck_assert_str_eq(r.out, "echo a.txt > a.out\n");
    scli_free(&r);
    /* No command: the inputs are the command lines. */
    scli_run(&r, NULL, "--dry-run", ":::", "echo hi", NULL);
    ck_assert_str_eq(r.out, "echo hi\n");
    scli_free(&r);
}
END_TEST

/* ---- running commands -------------------------------------------------------- */

START_TEST(inputs_from_arguments)
{
    struct scli_res r;

    scli_run(&r, NULL, "-j", "2", "--", "echo", "x", ":::", "a", "b", "c", NULL);
    ck_assert_msg(r.rc == 0, "exit %d: %s", r.rc, r.err);
    ck_assert_int_eq(strlen(r.out), 12);
    ck_assert_int_eq(scli_count_line(r.out, "x a"), 1);
    ck_assert_int_eq(scli_count_line(r.out, "x b"), 1);
    ck_assert_int_eq(scli_count_line(r.out, "x c"), 1);
    ck_assert_str_eq(r.err, "");
    scli_free(&r);
    ck_assert_int_eq(scli_leftovers(), 0);
}
END_TEST

START_TEST(inputs_from_stdin)
{
    struct scli_res r;
    char            in[4000], want[8000];
    size_t          i, n = 0, w = 0;

    scli_run(&r, "x\ny\nlast without newline", "-j", "2", "-k", "--", "echo", "in:{}",
             NULL);
    ck_assert_msg(r.rc == 0, "exit %d: %s", r.rc, r.err);
    ck_assert_str_eq(r.out, "in:x\nin:y\nin:last without newline\n");
    scli_free(&r);
    /* More lines than fit in one read of the window, chunked, in order. */
    for (i = 1; i <= 300; i++) {
        n += (size_t)snprintf(in + n, sizeof(in) - n, "%zu\n", i);
        w += (size_t)snprintf(want + w, sizeof(want) - w, "=%zu:\n", i);
    }
    scli_run(&r, in, "-j", "2", "-k", "--chunk", "7", "--", "echo", "={}:", NULL);
    ck_assert_msg(r.rc == 0, "exit %d: %s", r.rc, r.err);
    ck_assert_msg(strcmp(r.out, want) == 0, "out of order, or missing");
    scli_free(&r);
    ck_assert_int_eq(scli_leftovers(), 0);
}
END_TEST

START_TEST(two_sources)
{
    struct scli_res r;

    scli_run(&r, NULL, "-j", "2", "-k", "echo", "{2}{1}", "[{}]", ":::", "a", "b",
             ":::", "1", "2", NULL);
    ck_assert_msg(r.rc == 0, "exit %d: %s", r.rc, r.err);
    ck_assert_str_eq(r.out, "1a [a 1]\n2a [a 2]\n1b [b 1]\n2b [b 2]\n");
    scli_free(&r);
    /* {} alone is one word per source; no placeholder appends the inputs. */
    scli_run(&r, NULL, "-j", "2", "-k", "-q", "printf", "%s|", "{}", ":::", "a b",
             ":::", "1", NULL);
    ck_assert_str_eq(r.out, "a b|1|");
    scli_free(&r);
    scli_run(&r, NULL, "-j", "2", "-k", "printf", "%s:", ":::", "a b", ":::", "1", NULL);
    ck_assert_str_eq(r.out, "a b:1:");
    scli_free(&r);
    ck_assert_int_eq(scli_leftovers(), 0);
}
END_TEST

START_TEST(keep_order)
{
    struct scli_res r;

    /* Later inputs finish first: -k prints in input order anyway... */
    scli_run(&r, NULL, "-j", "3", "-k", "sleep {}; echo {}", ":::", "1.2", "0.6", "0",
             NULL);
    ck_assert_msg(r.rc == 0, "exit %d: %s", r.rc, r.err);
    ck_assert_str_eq(r.out, "1.2\n0.6\n0\n");
    scli_free(&r);
    /* ... and without -k, as they finish (-q: no shell, sh gets its own script). */
    scli_run(&r, NULL, "-j", "3", "-q", "sh", "-c", "sleep $0; echo $0", "{}",
             ":::", "1.2", "0.6", "0", NULL);
    ck_assert_msg(r.rc == 0, "exit %d: %s", r.rc, r.err);
    ck_assert_str_eq(r.out, "0\n0.6\n1.2\n");
    scli_free(&r);
    ck_assert_int_eq(scli_leftovers(), 0);
}
END_TEST

START_TEST(exit_status_counts_failures)
{
    struct scli_res r;
    char           *args[140], buf[16];
    int             i, n = 0;
    char            nums[130][16];

    scli_run(&r, NULL, "-j", "2", "-q", "sh", "-c", "echo $0; exit $0", ":::", "0", "1",
             "2", "0", "3", NULL);
    ck_assert_int_eq(r.rc, 3);
    for (i = 0; i < 4; i++) {
        snprintf(buf, sizeof(buf), "%d", i);
        ck_assert_int_eq(scli_count_line(r.out, buf), i == 0 ? 2 : 1);
    }
    scli_free(&r);
    /* The count is capped at 101. */
    args[n++] = (char *)"-j";
    args[n++] = (char *)"2";
    args[n++] = (char *)"false";
    args[n++] = (char *)":::";
    for (i = 0; i < 120; i++) {
        snprintf(nums[i], sizeof(nums[i]), "%d", i);
        args[n++] = nums[i];
    }
    args[n] = NULL;
    scli_exec(&r, NULL, scli_srv.port, args);
    ck_assert_int_eq(r.rc, 101);
    scli_free(&r);
    /* A program that does not exist fails its elements, not sleigh. */
    scli_run(&r, NULL, "-j", "2", "/nonexistent/program", ":::", "a", "b", NULL);
    ck_assert_int_eq(r.rc, 2);
    scli_free(&r);
    ck_assert_int_eq(scli_leftovers(), 0);
}
END_TEST

START_TEST(retries)
{
    struct scli_res r;
    char            dir[] = "/tmp/nwstest.scli.XXXXXX", script[600], cmd[700];

    ck_assert_ptr_nonnull(mkdtemp(dir));
    /* Fails the first time for each input (no marker yet), succeeds the second. */
    snprintf(script, sizeof(script),
             "if [ -e %s/$0 ]; then echo ok $0; else touch %s/$0; echo first $0; "
             "echo oops $0 >&2; exit 1; fi",
             dir, dir);
    scli_run(&r, NULL, "-j", "2", "-k", "--retries", "1", "-q", "sh", "-c", script, "{}",
             ":::", "a", "b", "c", NULL);
    ck_assert_msg(r.rc == 0, "exit %d: %s", r.rc, r.err);
    /* Only the last attempt's output is shown. */
    ck_assert_str_eq(r.out, "ok a\nok b\nok c\n");
    ck_assert_str_eq(r.err, "");
    scli_free(&r);
    /* Without retries they fail once each. */
    scli_run(&r, NULL, "-j", "2", "-k", "-q", "sh", "-c", script, "{}", ":::", "d", "e",
             NULL);
    ck_assert_int_eq(r.rc, 2);
    ck_assert_str_eq(r.out, "first d\nfirst e\n");
    ck_assert_str_eq(r.err, "oops d\noops e\n");
    scli_free(&r);
    /* Retries run out: still failed. */
    scli_run(&r, NULL, "-j", "2", "--retries", "2", "false", ":::", "x", NULL);
    ck_assert_int_eq(r.rc, 1);
    scli_free(&r);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    ck_assert_int_eq(system(cmd), 0);
    ck_assert_int_eq(scli_leftovers(), 0);
}
END_TEST

START_TEST(joblog)
{
    struct scli_res r;
    char            path[] = "/tmp/nwstest.scli.log.XXXXXX", line[1024], f[9][256];
    FILE           *fp;
    int             fd, n = 0, seq, seen = 0;

    ck_assert_int_ge(fd = mkstemp(path), 0);
    close(fd);
    scli_run(&r, NULL, "-j", "2", "--joblog", path, "-q", "sh", "-c", "echo out; exit $0",
             ":::", "0", "3", NULL);
    ck_assert_int_eq(r.rc, 1);
    scli_free(&r);
    ck_assert_ptr_nonnull(fp = fopen(path, "r"));
    ck_assert_ptr_nonnull(fgets(line, sizeof(line), fp));
    ck_assert_str_eq(
        line,
        "Seq\tHost\tStarttime\tJobRuntime\tSend\tReceive\tExitval\tSignal\tCommand\n");
    while (fgets(line, sizeof(line), fp) != NULL) {
        n++;
        ck_assert_msg(sscanf(line,
                             "%255[^\t]\t%255[^\t]\t%255[^\t]\t%255[^\t]\t%255[^\t]\t"
                             "%255[^\t]\t%255[^\t]\t%255[^\t]\t%255[^\n]",
                             f[0], f[1], f[2], f[3], f[4], f[5], f[6], f[7], f[8]) == 9,
                      "joblog line: %s", line);
        seq = atoi(f[0]);
        ck_assert(seq == 1 || seq == 2);
        seen |= seq;
        ck_assert_str_eq(f[1], ":"); /* this machine, as GNU parallel writes it */
        ck_assert(atof(f[2]) > 1e9);              /* a Unix time */
        ck_assert(atof(f[3]) >= 0 && atof(f[3]) < 20);
        ck_assert_str_eq(f[5], "4"); /* "out\n" */
        ck_assert_str_eq(f[6], seq == 1 ? "0" : "3");
        ck_assert_str_eq(f[7], "0");
        ck_assert_str_eq(f[8], seq == 1 ? "sh -c 'echo out; exit $0' 0"
                                        : "sh -c 'echo out; exit $0' 3");
    }
    fclose(fp);
    unlink(path);
    ck_assert_int_eq(n, 2);
    ck_assert_int_eq(seen, 3);
}
END_TEST

START_TEST(output_grouped)
{
    struct scli_res r;
    const char     *p;
    char            want[64];
    int             i, j;

    /* Four commands writing at once, a line at a time: each one's lines stay together. */
    scli_run(&r, NULL, "-j", "4", "-q", "sh", "-c",
             "for i in 1 2 3 4; do echo $0-$i; echo $0-e$i >&2; sleep 0.05; done", "{}",
             ":::", "a", "b", "c", "d", NULL);
    ck_assert_msg(r.rc == 0, "exit %d: %s", r.rc, r.err);
    ck_assert_int_eq(strlen(r.out), 4 * 4 * 4);
    ck_assert_int_eq(strlen(r.err), 4 * 4 * 5);
    for (p = r.out, i = 0; i < 4; i++) {
        for (j = 1; j <= 4; j++) {
            snprintf(want, sizeof(want), "%c-%d\n", p[0], j);
            ck_assert_msg(strncmp(p + (j - 1) * 4, want, 4) == 0, "interleaved: %s",
                          r.out);
        }
        p += 16;
    }
    for (p = r.err, i = 0; i < 4; i++) {
        for (j = 1; j <= 4; j++) {
            snprintf(want, sizeof(want), "%c-e%d\n", p[0], j);
            ck_assert_msg(strncmp(p + (j - 1) * 5, want, 5) == 0, "interleaved: %s",
                          r.err);
        }
        p += 20;
    }
    scli_free(&r);
    /* --tag and -v. */
    scli_run(&r, NULL, "-j", "2", "-k", "--tag", "-v", "-q", "printf", "%s\\n",
             ":::", "x", "y z", NULL);
    ck_assert_int_eq(r.rc, 0);
    ck_assert_str_eq(r.out, "printf '%s\\n' x\nx\tx\nprintf '%s\\n' 'y z'\ny z\ty z\n");
    scli_free(&r);
    ck_assert_int_eq(scli_leftovers(), 0);
}
END_TEST

START_TEST(progress_bar)
{
    struct scli_res r;

    scli_run(&r, NULL, "-j", "2", "--progress", "true", ":::", "1", "2", "3", NULL);
    ck_assert_int_eq(r.rc, 0);
    ck_assert_msg(strstr(r.err, "3/3") != NULL && strstr(r.err, "100%") != NULL, "%s",
                  r.err);
    scli_free(&r);
    /* Not a terminal: no bar unless asked. */
    scli_run(&r, NULL, "-j", "2", "true", ":::", "1", NULL);
    ck_assert_str_eq(r.err, "");
    scli_free(&r);
}
END_TEST

START_TEST(named_server_must_answer)
{
    struct scli_res r;
    char            where[64];

    snprintf(where, sizeof(where), "127.0.0.1:%d", scli_closed_port());
    scli_run(&r, NULL, "--server", where, "true", ":::", "a", NULL);
    ck_assert_int_eq(r.rc, 255);
    ck_assert_msg(strstr(r.err, "sleigh: ") != NULL, "%s", r.err);
    scli_free(&r);
    /* --server wins over NWS_PORT. */
    snprintf(where, sizeof(where), "127.0.0.1:%d", scli_srv.port);
    {
        char *args[] = {(char *)"--server", where,         (char *)"-j", (char *)"1",
                        (char *)"echo",     (char *)":::", (char *)"ok", NULL};

        scli_exec(&r, NULL, -scli_closed_port(), args);
    }
    ck_assert_msg(r.rc == 0, "exit %d: %s", r.rc, r.err);
    ck_assert_str_eq(r.out, "ok\n");
    scli_free(&r);
    ck_assert_int_eq(scli_leftovers(), 0);
}
END_TEST

START_TEST(private_server)
{
    struct scli_res r;
    char           *args[] = {(char *)"-j",  (char *)"2",   (char *)"-k",  (char *)"echo",
                              (char *)":::", (char *)"one", (char *)"two", NULL};

    /* Nothing answers on NWS_PORT: sleigh runs its own server, then stops it. */
    scli_exec(&r, NULL, -scli_closed_port(), args);
    ck_assert_msg(r.rc == 0, "exit %d: %s", r.rc, r.err);
    ck_assert_str_eq(r.out, "one\ntwo\n");
    ck_assert_str_eq(r.err, "");
    scli_free(&r);
    ck_assert_int_eq(scli_leftovers(), 0);
}
END_TEST

/* On a terminal, sleigh says where its private server's web interface is
 * (before, only --worker-log showed it, in the server's log). */
START_TEST(private_server_web_address_on_tty)
{
    struct ptyproc pp;
    char           bin[512], portenv[32], req[96], reply[64];
    char          *argv[] = {bin, (char *)"-j", (char *)"1", (char *)"sleep", (char *)":::",
                             (char *)"30", NULL};
    const char    *env[] = {"NWS_HOST", portenv, NULL};
    int            web, fd;
    ssize_t        n;

    nwstest_bin("sleigh", bin, sizeof(bin));
    snprintf(portenv, sizeof(portenv), "NWS_PORT=%d", scli_closed_port());
    ck_assert_int_eq(ptyproc_start(&pp, argv, env), 0);
    ck_assert_msg(ptyproc_expect(&pp, "web interface: http://127.0.0.1:", 20000),
                  "no web address on the terminal (%zu bytes of output)", pp.len);
    web = atoi(pp.out + pp.mark);
    ck_assert_int_gt(web, 0);
    /* It is the live server's. */
    snprintf(req, sizeof(req), "GET / HTTP/1.0\r\nHost: 127.0.0.1:%d\r\n\r\n", web);
    fd = nwstest_connect(web, 5);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(nwstest_write_all(fd, req, strlen(req)), 0);
    n = read(fd, reply, sizeof(reply) - 1);
    ck_assert_int_gt(n, 0);
    reply[n] = '\0';
    /* The page itself, or the server asking for its secret (auth on). */
    ck_assert_msg(strncmp(reply, "HTTP/1.", 7) == 0 &&
                      (strstr(reply, " 200 ") != NULL || strstr(reply, " 401 ") != NULL),
                  "web reply: %s", reply);
    close(fd);
    ptyproc_send(&pp, "\003"); /* ^C: the run stops, its server with it */
    ck_assert_int_ge(ptyproc_wait(&pp, 20000), 0);
    ptyproc_free(&pp);
    ck_assert_int_eq(scli_leftovers(), 0);
}
END_TEST

START_TEST(killed_leaves_nothing)
{
    char   bin[512], portbuf[16];
    double deadline;
    pid_t  pid;
    int    st, n;

    /* SIGKILL in the middle of a run: its server, workers and commands go too. */
    snprintf(portbuf, sizeof(portbuf), "%d", scli_closed_port());
    pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        unsetenv("NWS_HOST");
        setenv("NWS_PORT", portbuf, 1);
        freopen("/dev/null", "w", stdout);
        execl(nwstest_bin("sleigh", bin, sizeof(bin)), "sleigh", "-j", "2", "sleep",
              ":::", "30", "30", (char *)NULL);
        _exit(127);
    }
    /* Wait for the private server, two workers and their two sleeps. */
    deadline = nwsp_mono() + 10;
    while ((n = scli_descendants(pid)) < 5 && nwsp_mono() < deadline)
        usleep(20000);
    ck_assert_msg(n >= 5, "only %d processes under sleigh", n);
    kill(pid, SIGKILL);
    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    ck_assert_int_eq(scli_leftovers(), 0);
}
END_TEST

NWSTEST_SUITE(sleigh_cli)
{
    Suite *s = suite_create("sleigh_cli");
    TCase *tc = tcase_create("server");

    tcase_add_checked_fixture(tc, scli_setup, scli_teardown);
    tcase_set_timeout(tc, 40);
    tcase_add_test(tc, help_version_usage);
    tcase_add_test(tc, dry_run_placeholders);
    tcase_add_test(tc, inputs_from_arguments);
    tcase_add_test(tc, inputs_from_stdin);
    tcase_add_test(tc, two_sources);
    tcase_add_test(tc, keep_order);
    tcase_add_test(tc, exit_status_counts_failures);
    tcase_add_test(tc, retries);
    tcase_add_test(tc, joblog);
    tcase_add_test(tc, output_grouped);
    tcase_add_test(tc, progress_bar);
    tcase_add_test(tc, named_server_must_answer);
    suite_add_tcase(s, tc);

    tc = tcase_create("private");
    tcase_add_checked_fixture(tc, scli_setup_bare, NULL);
    tcase_set_timeout(tc, 40);
    tcase_add_test(tc, private_server);
    tcase_add_test(tc, private_server_web_address_on_tty);
    tcase_add_test(tc, killed_leaves_nothing);
    suite_add_tcase(s, tc);
    return s;
}
