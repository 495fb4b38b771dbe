/*
 * check_sleigh_compat_output.c -- the sleigh command beside GNU parallel
 * (Debian's 20221122, run with --will-cite) for the options of jobs and
 * output: each case runs the same arguments with both, each in a scratch
 * directory of its own, and compares what they print, their exit status,
 * their joblogs (the timing columns Starttime and JobRuntime left out) and
 * the files they write (--results trees, --files), byte for byte.  Where
 * the reference is a property rather than bytes (--delay: starts apart,
 * -j 0: every job at once, --load/--memfree: nothing starts), both are
 * held to it.  GNU parallel is a dependency of the test suite (.ci/deps):
 * without it the suite fails rather than pass on sleigh alone.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <regex.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "nwstest.h"
#include "util.h"

#define CO_RUN_TIMEOUT_S 60
#define CO_PARALLEL      "/usr/bin/parallel"

static struct nwstest_server co_srv;
static char                  co_dir[64]; /* the case's scratch root */

/* What one run gave. */
struct co_res {
    int    rc;
    char  *out, *err; /* NUL-terminated */
    size_t outlen;
};

static void
co_setup(void)
{
    ck_assert_int_eq(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
    ck_assert_msg(access(CO_PARALLEL, X_OK) == 0, "GNU parallel is not installed");
    ck_assert_int_eq(nwstest_server_start(&co_srv, NULL), 0);
    snprintf(co_dir, sizeof(co_dir), "/tmp/nwstest.compat.XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(co_dir));
}

static void
co_teardown(void)
{
    char cmd[128];

    nwstest_server_stop(&co_srv);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", co_dir);
    if (system(cmd) != 0)
        fprintf(stderr, "cannot remove %s\n", co_dir);
}

/* The working directory of program which (0 sleigh, 1 parallel): a new path. */
static void
co_wd(int which, char *buf, size_t len)
{
    snprintf(buf, len, "%s/%s", co_dir, which ? "parallel" : "sleigh");
    mkdir(buf, 0777);
}

/*
 * Starts program which (0 sleigh, 1 parallel) with args (NULL-terminated)
 * in its working directory, stdin in, TMPDIR that directory too; its pid,
 * stdout and stderr in temp files *fout, *ferr.
 */
static pid_t
co_start(int which, const char *in, const char *const *args, int *fout, int *ferr)
{
    const char *argv[64];
    char        bin[512], wd[128], port[16];
    int         fin = nwstest_tmpfile(), n = 0, i;
    pid_t       pid;

    *fout = nwstest_tmpfile();
    *ferr = nwstest_tmpfile();
    if (in != NULL)
        ck_assert_int_eq(write(fin, in, strlen(in)), (ssize_t)strlen(in));
    lseek(fin, 0, SEEK_SET);
    if (which) {
        argv[n++] = CO_PARALLEL;
        argv[n++] = "--will-cite";
    } else {
        argv[n++] = nwstest_bin("sleigh", bin, sizeof(bin));
    }
    for (i = 0; args[i] != NULL && n < 63; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    co_wd(which, wd, sizeof(wd));
    snprintf(port, sizeof(port), "%d", co_srv.port);
    pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        if (chdir(wd) != 0)
            _exit(126);
        setenv("NWS_HOST", "127.0.0.1", 1);
        setenv("NWS_PORT", port, 1);
        setenv("TMPDIR", wd, 1);
        setenv("SHELL", "/bin/sh", 1); /* parallel's shell: the one sleigh uses */
        setpgid(0, 0);
        dup2(fin, 0);
        dup2(*fout, 1);
        dup2(*ferr, 2);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    close(fin);
    return pid;
}

/* Waits for pid (at most CO_RUN_TIMEOUT_S) and fills r. */
static void
co_wait(pid_t pid, int fout, int ferr, struct co_res *r)
{
    double start = nwsp_mono();
    pid_t  got;
    int    st = 0;

    while ((got = waitpid(pid, &st, WNOHANG)) == 0 &&
           nwsp_mono() - start < CO_RUN_TIMEOUT_S)
        usleep(10000);
    if (got == 0) {
        kill(-pid, SIGKILL);
        waitpid(pid, &st, 0);
    }
    r->rc = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    r->out = nwstest_slurp(fout, &r->outlen);
    r->err = nwstest_slurp(ferr, NULL);
    close(fout);
    close(ferr);
    ck_assert_msg(got == pid, "ran for more than %d s", CO_RUN_TIMEOUT_S);
}

/* Runs program which with stdin in and the arguments after it (NULL-terminated). */
static void
co_runv(int which, struct co_res *r, const char *in, va_list ap)
{
    const char *args[60];
    int         n = 0, fout = -1, ferr = -1;
    pid_t       pid;

    while (n < 59 && (args[n] = va_arg(ap, const char *)) != NULL)
        n++;
    args[n] = NULL;
    pid = co_start(which, in, args, &fout, &ferr);
    co_wait(pid, fout, ferr, r);
}

static void
co_run(int which, struct co_res *r, const char *in, ...)
{
    va_list ap;

    va_start(ap, in);
    co_runv(which, r, in, ap);
    va_end(ap);
}

static void
co_free(struct co_res *r)
{
    free(r->out);
    free(r->err);
}

/* Asserts two runs printed the same stdout and gave the same exit status. */
static void
co_same(const struct co_res *s, const struct co_res *p, const char *what)
{
    ck_assert_msg(s->rc == p->rc, "%s: sleigh exits %d, parallel %d; stderr %s | %s",
                  what, s->rc, p->rc, s->err, p->err);
    ck_assert_msg(
        s->outlen == p->outlen && memcmp(s->out, p->out, s->outlen) == 0,
        "%s: stdout differs:\n--- sleigh\n%s\n--- parallel\n%s\n--- sleigh's stderr\n%s",
        what, s->out, p->out, s->err);
}

/* Runs the same arguments with both and compares stdout and exit status. */
static void
co_both(const char *what, const char *in, ...)
{
    struct co_res s, p;
    va_list       ap;

    va_start(ap, in);
    co_runv(0, &s, in, ap);
    va_end(ap);
    va_start(ap, in);
    co_runv(1, &p, in, ap);
    va_end(ap);
    co_same(&s, &p, what);
    co_free(&s);
    co_free(&p);
}

/* File name (relative) of program which's directory: its bytes, or NULL. */
static char *
co_file(int which, const char *name)
{
    char  path[512], wd[128];
    int   fd;
    char *text;

    co_wd(which, wd, sizeof(wd));
    snprintf(path, sizeof(path), "%s/%s", wd, name);
    if ((fd = open(path, O_RDONLY)) < 0)
        return NULL;
    text = nwstest_slurp(fd, NULL);
    close(fd);
    return text;
}

/* A joblog without its timing columns (Starttime, JobRuntime): a new string. */
static char *
co_joblog(int which, const char *name)
{
    char *text = co_file(which, name), *out, *o, *p;
    int   col = 0;

    ck_assert_msg(text != NULL, "no joblog %s", name);
    out = o = malloc(strlen(text) + 1);
    ck_assert_ptr_nonnull(out);
    for (p = text; *p != '\0'; p++) {
        if (*p == '\n')
            col = 0;
        else if (*p == '\t')
            col++;
        /* Columns 2 and 3 (0-based) go, with the tab that opens each. */
        if (col == 2 || col == 3)
            continue;
        *o++ = *p;
    }
    *o = '\0';
    free(text);
    return out;
}

/* Asserts both joblogs name are the same but for timing. */
static void
co_same_joblog(const char *name)
{
    char *s = co_joblog(0, name), *p = co_joblog(1, name);

    ck_assert_msg(strcmp(s, p) == 0, "joblog %s differs:\n--- sleigh\n%s--- parallel\n%s",
                  name, s, p);
    free(s);
    free(p);
}

/* A growable string for the listings. */
struct co_buf {
    char  *p;
    size_t len, cap;
};

static void
co_add(struct co_buf *b, const char *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        b->cap = (b->len + n + 1) * 2;
        b->p = realloc(b->p, b->cap);
        ck_assert_ptr_nonnull(b->p);
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static int
co_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Appends the listing of dir (relative to wd) to b: each path, each file's bytes. */
static void
co_tree(const char *wd, const char *dir, struct co_buf *b)
{
    char           path[1200], rel[1024], *names[256], *text;
    DIR           *d;
    struct dirent *e;
    struct stat    st;
    int            n = 0, i, fd;
    size_t         len;

    snprintf(path, sizeof(path), "%s/%s", wd, dir);
    ck_assert_ptr_nonnull(d = opendir(path));
    while ((e = readdir(d)) != NULL && n < 256)
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
            names[n++] = strdup(e->d_name);
    closedir(d);
    qsort(names, (size_t)n, sizeof(names[0]), co_cmp);
    for (i = 0; i < n; i++) {
        snprintf(rel, sizeof(rel), "%s/%s", dir, names[i]);
        snprintf(path, sizeof(path), "%s/%s", wd, rel);
        ck_assert_int_eq(lstat(path, &st), 0);
        co_add(b, rel, strlen(rel));
        if (S_ISDIR(st.st_mode)) {
            co_add(b, "/\n", 2);
            co_tree(wd, rel, b);
        } else {
            ck_assert_int_ge(fd = open(path, O_RDONLY), 0);
            text = nwstest_slurp(fd, &len);
            close(fd);
            co_add(b, " = [", 4);
            co_add(b, text, len);
            co_add(b, "]\n", 2);
            free(text);
        }
        free(names[i]);
    }
}

/* Asserts both programs wrote the same tree dir (names and contents). */
static void
co_same_tree(const char *dir)
{
    struct co_buf s = {0}, p = {0};
    char          wd[128];

    co_wd(0, wd, sizeof(wd));
    co_add(&s, "", 0);
    co_tree(wd, dir, &s);
    co_wd(1, wd, sizeof(wd));
    co_add(&p, "", 0);
    co_tree(wd, dir, &p);
    ck_assert_msg(strcmp(s.p, p.p) == 0,
                  "tree %s differs:\n--- sleigh\n%s--- parallel\n%s", dir, s.p, p.p);
    free(s.p);
    free(p.p);
}

/* ---- --joblog values ------------------------------------------------------- */

/* Exit values, signals (Exitval 0, the signal apart), a command not found, Receive. */
START_TEST(joblog_values)
{
    struct co_res s, p;

    co_run(0, &s, NULL, "-j1", "--joblog", "jl", "kill -{} $$", ":::", "TERM", "KILL",
           "INT", NULL);
    co_run(1, &p, NULL, "-j1", "--joblog", "jl", "kill -{} $$", ":::", "TERM", "KILL",
           "INT", NULL);
    ck_assert_int_eq(s.rc, p.rc);
    co_same_joblog("jl");
    co_free(&s);
    co_free(&p);
    co_run(0, &s, NULL, "-j1", "--joblog", "jl2", "echo {}; echo err{} >&2; exit {#}",
           ":::", "hello", "b", NULL);
    co_run(1, &p, NULL, "-j1", "--joblog", "jl2", "echo {}; echo err{} >&2; exit {#}",
           ":::", "hello", "b", NULL);
    co_same(&s, &p, "exit values");
    co_same_joblog("jl2");
    co_free(&s);
    co_free(&p);
    /* A command that never ran to its end (its worker died under it): -1, no signal. */
    co_run(0, &s, NULL, "-j2", "--joblog", "jl4", "kill -9 $PPID", ":::", "1", NULL);
    ck_assert_int_eq(s.rc, 1);
    {
        char  *jl = co_file(0, "jl4"), *line = strchr(jl, '\n') + 1;
        double start = atof(strchr(line, '\t') + 1 + 2);

        ck_assert_msg(strncmp(line, "1\t:\t", 4) == 0 &&
                          strstr(line, "\t0\t0\t-1\t0\tkill") != NULL,
                      "joblog: %s", jl);
        ck_assert_msg(start > 1e9, "a Unix start time: %s", jl);
        free(jl);
    }
    co_free(&s);
    co_run(0, &s, NULL, "-j1", "--joblog", "jl3", "./nonexistent-command", ":::", "a",
           NULL);
    co_run(1, &p, NULL, "-j1", "--joblog", "jl3", "./nonexistent-command", ":::", "a",
           NULL);
    co_same(&s, &p, "command not found");
    co_same_joblog("jl3");
    co_free(&s);
    co_free(&p);
}
END_TEST

/* --resume, --resume-failed and --joblog +FILE: what runs, the joblog after. */
START_TEST(resume)
{
    int which;

    for (which = 0; which < 2; which++) {
        struct co_res r;

        co_run(which, &r, NULL, "-j1", "--joblog", "jl", "exit {}", ":::", "0", "1", "0",
               "2", NULL);
        ck_assert_int_eq(r.rc, 2);
        co_free(&r);
    }
    co_both("--resume", NULL, "-j1", "--resume", "--joblog", "jl", "echo run {}; exit {}",
            ":::", "0", "1", "0", "2", "0", "3", NULL);
    co_both("--resume-failed", NULL, "-j1", "--resume-failed", "--joblog", "jl",
            "echo run {}; exit 0", ":::", "0", "1", "0", "2", "0", "3", "4", NULL);
    co_both("--resume, all done", NULL, "-j1", "--resume", "--joblog", "jl", "echo",
            ":::", "1", "2", "3", NULL);
    co_both("--joblog +FILE", NULL, "-j1", "--joblog", "+jl", "echo", ":::", "x", NULL);
    co_same_joblog("jl");
    co_both("--resume without a joblog", NULL, "--resume", "echo", ":::", "x", NULL);
}
END_TEST

/* ---- --results ------------------------------------------------------------- */

/* The tree: several sources, / \ tab, an empty argument, . and ..; nothing printed. */
START_TEST(results_tree)
{
    co_both("--results DIR", NULL, "-j1", "--results", "R", "echo {1}-{2}; echo e{2} >&2",
            ":::", "a", "b c", ":::", "x/y", "", "q\\z", "t\tab", NULL);
    co_same_tree("R");
    co_both("--results, . and ..", NULL, "-j1", "--results", "R2", "echo", ":::", "a*b",
            "q'q", "..", ".", NULL);
    co_same_tree("R2");
    co_both("--results DIR/", NULL, "-j1", "--results", "R3/", "echo", ":::", "a", NULL);
    co_same_tree("R3");
    co_both("--results name{}", NULL, "-j1", "--results", "R4/{}.out",
            "echo {}; echo e >&2", ":::", "a", "b/c", NULL);
    co_same_tree("R4");
    co_both("--results {}/", NULL, "-j1", "--results", "R5/{}/", "echo", ":::", "a", "b",
            NULL);
    co_same_tree("R5");
    co_both("--results --files", NULL, "-j1", "-k", "--files", "--results", "R6", "echo",
            ":::", "a", "b", NULL);
    co_same_tree("R6");
    co_both("--results --resume", NULL, "-j1", "--resume", "--results", "R6",
            "echo again {}", ":::", "a", "b", "c", NULL);
    co_same_tree("R6");
}
END_TEST

/* Outputs past 64 KiB travel apart from the result: whole in the files, -k or not. */
START_TEST(results_large)
{
    co_both("--results, large", NULL, "--results", "R", "seq {}; seq {} >&2",
            ":::", "40000", "30000", NULL);
    co_same_tree("R");
    co_both("--results -k, large", NULL, "-k", "-j2", "--results", "R2",
            "sleep 0.$(( {} / 10000 )); seq {}", ":::", "40000", "30000", "20000", NULL);
    co_same_tree("R2");
}
END_TEST

/*
 * text (taken) without its timing values (Starttime and JobRuntime of each
 * record, CSV, TSV or JSON): a new string.  co_untimed: the same for file
 * name of program which.
 */
static char *
co_untimed_text(char *text)
{
    regex_t       re;
    regmatch_t    m[3];
    struct co_buf b = {0};
    const char   *p;

    ck_assert_int_eq(
        regcomp(&re,
                "[0-9]{10}\\.[0-9]+([,\t])[0-9]+\\.[0-9]{3}|\"Starttime\": [0-9.]+, "
                "\"JobRuntime\": [0-9.]+",
                REG_EXTENDED),
        0);
    co_add(&b, "", 0);
    for (p = text; regexec(&re, p, 3, m, 0) == 0; p += m[0].rm_eo) {
        co_add(&b, p, (size_t)m[0].rm_so);
        co_add(&b, "<times>", 7);
    }
    co_add(&b, p, strlen(p));
    regfree(&re);
    free(text);
    return b.p;
}

static char *
co_untimed(int which, const char *name)
{
    char *text = co_file(which, name);

    ck_assert_msg(text != NULL, "no %s", name);
    return co_untimed_text(text);
}

/* --results FILE.csv, .tsv, .json and -.csv: parallel's records, quoting and all. */
START_TEST(results_csv)
{
    static const char *const names[] = {"r.csv", "r.tsv", "r.json"};
    char                    *st, *pt;
    size_t                   i;

    for (i = 0; i < 3; i++) {
        co_both(names[i], NULL, "-k", "--results", names[i],
                "printf '%s\\t\\n' {}; echo e >&2", ":::", "a", "b,\"c", "d e",
                ":::", "1", "t\tab", NULL);
        st = co_untimed(0, names[i]);
        pt = co_untimed(1, names[i]);
        ck_assert_msg(strcmp(st, pt) == 0, "%s differs:\n--- sleigh\n%s--- parallel\n%s",
                      names[i], st, pt);
        free(st);
        free(pt);
    }
    {
        struct co_res sr, pr;

        co_run(0, &sr, NULL, "-k", "--results", "-.csv", "echo", ":::", "x", "y z", NULL);
        co_run(1, &pr, NULL, "-k", "--results", "-.csv", "echo", ":::", "x", "y z", NULL);
        ck_assert_int_eq(sr.rc, pr.rc);
        st = co_untimed_text(sr.out);
        pt = co_untimed_text(pr.out);
        ck_assert_msg(strcmp(st, pt) == 0,
                      "-.csv differs:\n--- sleigh\n%s--- parallel\n%s", st, pt);
        free(st);
        free(pt);
        free(sr.err);
        free(pr.err);
    }
}
END_TEST

/* ---- --files ----------------------------------------------------------------- */

/*
 * Replaces each line's file name (after the tag) by the file's bytes, so
 * that two runs compare whatever the temporary names: a new string.
 */
static char *
co_files_resolved(const struct co_res *r, const char *wd)
{
    struct co_buf b = {0};
    char         *line, *save = NULL, *copy = strdup(r->out), *name, *text;
    size_t        len;
    int           fd;

    co_add(&b, "", 0);
    for (line = strtok_r(copy, "\n", &save); line != NULL;
         line = strtok_r(NULL, "\n", &save)) {
        name = strrchr(line, '\t');
        name = name != NULL ? name + 1 : line;
        ck_assert_msg(strncmp(name, wd, strlen(wd)) == 0 &&
                          strncmp(name + strlen(wd), "/par", 4) == 0 &&
                          strlen(name) == strlen(wd) + 13 &&
                          strcmp(name + strlen(name) - 4, ".par") == 0,
                      "--files printed %s, not $TMPDIR/parXXXXX.par", name);
        co_add(&b, line, (size_t)(name - line));
        ck_assert_int_ge(fd = open(name, O_RDONLY), 0);
        text = nwstest_slurp(fd, &len);
        close(fd);
        co_add(&b, "[", 1);
        co_add(&b, text, len);
        co_add(&b, "]\n", 2);
        free(text);
    }
    free(copy);
    return b.p;
}

START_TEST(files)
{
    struct co_res s, p;
    char          swd[128], pwd[128], *st, *pt;

    co_wd(0, swd, sizeof(swd));
    co_wd(1, pwd, sizeof(pwd));
    co_run(0, &s, NULL, "-j1", "-k", "--files", "--tag", "--joblog", "jl",
           "echo {}; echo e{} >&2", ":::", "a", "b", NULL);
    co_run(1, &p, NULL, "-j1", "-k", "--files", "--tag", "--joblog", "jl",
           "echo {}; echo e{} >&2", ":::", "a", "b", NULL);
    ck_assert_int_eq(s.rc, p.rc);
    ck_assert_str_eq(s.err, p.err); /* stderr is dropped */
    st = co_files_resolved(&s, swd);
    pt = co_files_resolved(&p, pwd);
    ck_assert_str_eq(st, pt);
    co_same_joblog("jl");
    free(st);
    free(pt);
    co_free(&s);
    co_free(&p);
    /* Past 64 KiB, and held back by -k. */
    co_run(0, &s, NULL, "-j2", "-k", "--files", "seq", ":::", "40000", "3", NULL);
    co_run(1, &p, NULL, "-j2", "-k", "--files", "seq", ":::", "40000", "3", NULL);
    ck_assert_int_eq(s.rc, p.rc);
    st = co_files_resolved(&s, swd);
    pt = co_files_resolved(&p, pwd);
    ck_assert(strcmp(st, pt) == 0);
    free(st);
    free(pt);
    co_free(&s);
    co_free(&p);
}
END_TEST

/* ---- --tagstring, --group, --line-buffer, --ungroup ------------------------------ */

START_TEST(tagstring_and_grouping)
{
    co_both("--tagstring", NULL, "-j1", "-k", "--tagstring", "<{}>{#}-{%}",
            "echo {}; echo x", ":::", "a", "b", NULL);
    co_both("--tagstring {1}:{2} {.} {/}", NULL, "-k", "--tagstring", "{1}:{2.}:{2/}",
            "echo", ":::", "a", "b", ":::", "d/c.txt", "e", NULL);
    co_both("--tagstring plain", NULL, "-k", "--tagstring", "T", "printf 'x\\ny'",
            ":::", "1", NULL);
    co_both("--group", NULL, "-j1", "--group", "echo a{}; sleep 0.1; echo b{}",
            ":::", "1", "2", NULL);
    co_both("--line-buffer", NULL, "-j1", "--line-buffer", "echo a{}; echo b{}",
            ":::", "1", "2", NULL);
    co_both("--lb -k", NULL, "-k", "--lb", "echo a{}; echo b{}", ":::", "1", "2", "3",
            NULL);
    co_both("-u", NULL, "-j1", "-u", "echo a{}; echo b{}", ":::", "1", "2", NULL);
    co_both("--ungroup", NULL, "-j1", "--ungroup", "echo a{}", ":::", "1", "2", NULL);
}
END_TEST

/* ---- -j 0 and --delay ---------------------------------------------------------- */

/*
 * -j 0: all 12 jobs run at once.  Each job waits (at most 40 s) until
 * every job has made its file: with fewer at once, they would time out.
 */
START_TEST(jobs_zero)
{
    const char *job =
        "touch f{}; i=0; while [ $(ls f* | wc -l) -lt 12 ] && [ $i -lt 400 ]; "
        "do sleep 0.1; i=$((i+1)); done; [ $i -lt 400 ] && echo ok {}";

    co_both("-j 0", NULL, "-k", "-j", "0", job, ":::", "1", "2", "3", "4", "5", "6", "7",
            "8", "9", "10", "11", "12", NULL);
    co_both("-j0 -k echo", NULL, "-j0", "-k", "echo", ":::", "1", "2", "3", NULL);
}
END_TEST

/* The joblog's start times, in seq order, into t[]; their count. */
static int
co_starts(int which, const char *name, double *t, int max)
{
    char  *text = co_file(which, name), *line, *save = NULL;
    int    n = 0, seq;
    double start;

    ck_assert_ptr_nonnull(text);
    for (line = strtok_r(text, "\n", &save); line != NULL;
         line = strtok_r(NULL, "\n", &save))
        if (sscanf(line, "%d\t%*s\t%lf", &seq, &start) == 2 && seq >= 1 && seq <= max) {
            t[seq - 1] = start;
            n++;
        }
    free(text);
    return n;
}

/* --delay 0.5 with 3 workers: each start at least 0.5 s after the one before. */
START_TEST(delay)
{
    double t[4];
    int    which, i;

    co_both("--delay", NULL, "-k", "-j3", "--delay", "0.5", "--joblog", "jl", "echo",
            ":::", "1", "2", "3", "4", NULL);
    co_both("--delay 0.01m", NULL, "-k", "--delay", "0.01m", "echo", ":::", "1", "2",
            NULL);
    for (which = 0; which < 2; which++) {
        ck_assert_int_eq(co_starts(which, "jl", t, 4), 4);
        for (i = 1; i < 4; i++)
            ck_assert_msg(t[i] - t[i - 1] >= 0.49, "%s: job %d started %.3f s after %d",
                          which ? "parallel" : "sleigh", i + 1, t[i] - t[i - 1], i);
    }
}
END_TEST

/* ---- --memfree, --load -------------------------------------------------------- */

/*
 * Runs args with both for 2 s: neither may print anything or start a job;
 * then both get SIGTERM.
 */
static void
co_never_starts(const char *what, const char *const *args)
{
    int   fout[2], ferr[2], which, st;
    pid_t pid[2];
    char *out;

    for (which = 0; which < 2; which++)
        pid[which] = co_start(which, NULL, args, &fout[which], &ferr[which]);
    usleep(2000000);
    for (which = 0; which < 2; which++) {
        ck_assert_msg(waitpid(pid[which], &st, WNOHANG) == 0, "%s: %s did not wait", what,
                      which ? "parallel" : "sleigh");
        kill(-pid[which], SIGTERM);
        usleep(200000);
        kill(-pid[which], SIGKILL);
        waitpid(pid[which], &st, 0);
        out = nwstest_slurp(fout[which], NULL);
        ck_assert_msg(out[0] == '\0', "%s: %s ran a job: %s", what,
                      which ? "parallel" : "sleigh", out);
        free(out);
        close(fout[which]);
        close(ferr[which]);
    }
}

START_TEST(memfree)
{
    const char *never[] = {"--memfree", "1P", "echo", "started", ":::", "1", NULL};

    co_both("--memfree 1k", NULL, "-k", "--memfree", "1k", "echo", ":::", "1", "2", NULL);
    co_both("--memfree 10m", NULL, "-k", "--memfree", "10m", "echo", ":::", "1", NULL);
    co_never_starts("--memfree 1P", never);
}
END_TEST

/*
 * --load 20 while 40 processes of ours spin: no job starts; once they are
 * gone, the jobs run (both programs count running processes, not the
 * load average).
 */
START_TEST(load)
{
    const char *never[] = {"--load", "20", "echo", "started", ":::", "1", NULL};
    pid_t       spin[40];
    int         i, st;

    co_both("--load 1000", NULL, "-k", "--load", "1000", "echo", ":::", "1", "2", NULL);
    co_both("--load 100%", NULL, "-k", "--load", "100000%", "echo", ":::", "1", NULL);
    for (i = 0; i < 40; i++) {
        if ((spin[i] = fork()) == 0) {
            prctl(PR_SET_PDEATHSIG, SIGKILL);
            for (;;)
                ;
        }
        ck_assert_int_gt(spin[i], 0);
    }
    co_never_starts("--load 20", never);
    for (i = 0; i < 40; i++) {
        kill(spin[i], SIGKILL);
        waitpid(spin[i], &st, 0);
    }
}
END_TEST

/* ---- --eta ------------------------------------------------------------------ */

/*
 * --eta: parallel's header, then ETA lines on stderr ending with none
 * left; with --bar too, the bar keeps a line of its own.
 */
START_TEST(eta)
{
    struct co_res s, p;
    char          head[400], *last;
    long          cores = sysconf(_SC_NPROCESSORS_ONLN);

    co_run(0, &s, NULL, "-k", "-j2", "--eta", "echo", ":::", "1", "2", "3", NULL);
    co_run(1, &p, NULL, "-k", "-j2", "--eta", "echo", ":::", "1", "2", "3", NULL);
    co_same(&s, &p, "--eta");
    snprintf(
        head, sizeof(head),
        "\nComputers / CPU cores / Max jobs to run\n1:local / %ld / 2\n\nComputer:jobs "
        "running/jobs completed/%%of started jobs/Average seconds to complete\n",
        cores);
    ck_assert_msg(strstr(s.err, head) != NULL, "sleigh's --eta header: %s", s.err);
    /*
     * parallel counts the cores its own way (threads or cores), and with
     * jobs this short it prints the rest of its header late or not at all:
     * its first two lines are compared.
     */
    ck_assert_msg(strstr(p.err, "Computers / CPU cores / Max jobs to run\n1:local / ") !=
                      NULL,
                  "parallel's --eta header: %s", p.err);
    ck_assert_ptr_nonnull(last = strstr(s.err, "ETA: 0s Left: 0 AVG: "));
    ck_assert_ptr_nonnull(strstr(last, "local:0/3/100%/"));
    ck_assert_ptr_nonnull(strstr(p.err, "ETA: 0s Left: 0 AVG: "));
    co_free(&s);
    co_free(&p);
    /* With --resume, what ran before is neither left nor counted. */
    {
        int which;

        for (which = 0; which < 2; which++) {
            struct co_res r;

            co_run(which, &r, NULL, "--joblog", "jl", "echo", ":::", "1", "2", NULL);
            co_free(&r);
            co_run(which, &r, NULL, "--eta", "--resume", "--joblog", "jl", "echo",
                   ":::", "1", "2", "3", NULL);
            ck_assert_msg(strstr(r.err, "ETA: 0s Left: 0 AVG: ") != NULL &&
                              strstr(r.err, "local:0/1/100%/") != NULL,
                          "%s: --eta --resume: %s", which ? "parallel" : "sleigh", r.err);
            co_free(&r);
        }
    }
    co_run(0, &s, NULL, "-k", "-j2", "--eta", "--bar", "echo", ":::", "1", "2", "3",
           NULL);
    ck_assert_int_eq(s.rc, 0);
    for (last = s.err; (last = strstr(last, "ETA: ")) != NULL; last++) {
        const char *eol = strpbrk(last, "\r\n");

        ck_assert_msg(eol != NULL && memchr(last, '[', (size_t)(eol - last)) == NULL,
                      "the bar is on the --eta line: %s", s.err);
    }
    ck_assert_ptr_nonnull(strstr(s.err, "sleigh: 3/3 ["));
    co_free(&s);
}
END_TEST

NWSTEST_SUITE(sleigh_compat_output)
{
    Suite *s = suite_create("sleigh_compat_output");
    TCase *tc = tcase_create("compat");

    tcase_add_checked_fixture(tc, co_setup, co_teardown);
    tcase_set_timeout(tc, 150);
    tcase_add_test(tc, joblog_values);
    tcase_add_test(tc, resume);
    tcase_add_test(tc, results_tree);
    tcase_add_test(tc, results_large);
    tcase_add_test(tc, results_csv);
    tcase_add_test(tc, files);
    tcase_add_test(tc, tagstring_and_grouping);
    tcase_add_test(tc, jobs_zero);
    tcase_add_test(tc, delay);
    tcase_add_test(tc, memfree);
    tcase_add_test(tc, load);
    tcase_add_test(tc, eta);
    suite_add_tcase(s, tc);
    return s;
}
