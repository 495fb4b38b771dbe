/*
 * check_sleigh_compat_input.c -- the sleigh command's input options side
 * by side with GNU parallel (the `parallel` binary, Debian's 20221122):
 * each case runs the same arguments and stdin through both and wants the
 * same stdout, byte for byte, and the same exit status.  -k where order
 * matters; -j given where parallel's spreading depends on it (-X, -m,
 * --pipepart).  Options: --link and :::+ / ::::+, --colsep, --header :,
 * -N/-n/-L, -X/-m/-s, --pipe (--block, --recend, --recstart, -N) and
 * --pipepart.
 */
#include <check.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "nwstest.h"
#include "sshtest.h"
#include "util.h"

#define SCI_RUN_TIMEOUT_S 60

static struct nwstest_server sci_srv;
static int  sci_quiet; /* sleigh's errors are expected: do not show them */
static char sci_dir[] = "/tmp/nws-compat-input.XXXXXX";

/* Fixture: a subreaper, a server for sleigh, a directory for input files. */
static void
sci_setup(void)
{
    ck_assert_int_eq(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
    ck_assert_int_eq(nwstest_server_start(&sci_srv, NULL), 0);
    strcpy(sci_dir, "/tmp/nws-compat-input.XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(sci_dir));
}

static void
sci_teardown(void)
{
    char cmd[128];

    nwstest_server_stop(&sci_srv);
    snprintf(cmd, sizeof(cmd), "rm -rf %s", sci_dir);
    ck_assert_int_eq(system(cmd), 0);
}

/* Writes text to a file of the fixture's directory; its path (static buffer per slot). */
static const char *
sci_file(int slot, const char *name, const char *text, size_t len)
{
    static char paths[4][256];
    int         fd;

    snprintf(paths[slot], sizeof(paths[slot]), "%s/%s", sci_dir, name);
    fd = open(paths[slot], O_WRONLY | O_CREAT | O_TRUNC, 0600);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, text, len), (ssize_t)len); /* a regular file: whole */
    close(fd);
    return paths[slot];
}

/* sci_file with a string. */
static const char *
sci_text(int slot, const char *name, const char *text)
{
    return sci_file(slot, name, text, strlen(text));
}

/* seq 1 n as text (new). */
static char *
sci_seq(long n, size_t *len)
{
    char  *s = malloc((size_t)n * 8 + 1);
    size_t off = 0;
    long   i;

    ck_assert_ptr_nonnull(s);
    for (i = 1; i <= n; i++)
        off += (size_t)sprintf(s + off, "%ld\n", i);
    *len = off;
    return s;
}

/*
 * Runs prog (sleigh: ours; else GNU parallel, --will-cite) with args,
 * stdin from the file in (NULL: /dev/null).  Its stdout (new) and *rc.
 */
static char *
sci_exec(int sleigh, const char *in, const char *const *args, int *rc, size_t *outlen)
{
    char   bin[512], portbuf[16], *argv[80];
    int    fout = nwstest_tmpfile(), ferr = nwstest_tmpfile(), st, n = 0, fin;
    double start = nwsp_mono();
    pid_t  pid, got;
    char  *out, *err;

    if (sleigh) {
        argv[n++] = (char *)nwstest_bin("sleigh", bin, sizeof(bin));
    } else {
        argv[n++] = (char *)"parallel";
        argv[n++] = (char *)"--will-cite";
    }
    for (; *args != NULL && n < 79; args++)
        argv[n++] = (char *)*args;
    argv[n] = NULL;
    snprintf(portbuf, sizeof(portbuf), "%d", sci_srv.port);
    pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        setenv("NWS_HOST", "127.0.0.1", 1);
        setenv("NWS_PORT", portbuf, 1);
        if ((fin = open(in != NULL ? in : "/dev/null", O_RDONLY)) < 0)
            _exit(126);
        dup2(fin, 0);
        dup2(fout, 1);
        dup2(ferr, 2);
        execvp(argv[0], argv);
        _exit(127);
    }
    while ((got = waitpid(pid, &st, WNOHANG)) == 0 &&
           nwsp_mono() - start < SCI_RUN_TIMEOUT_S)
        usleep(10000);
    if (got == 0) {
        kill(pid, SIGKILL);
        waitpid(pid, &st, 0);
    }
    *rc = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    out = nwstest_slurp(fout, outlen);
    err = nwstest_slurp(ferr, NULL);
    close(fout);
    close(ferr);
    ck_assert_msg(got == pid, "%s %s ran for more than %d s", argv[0], argv[1],
                  SCI_RUN_TIMEOUT_S);
    ck_assert_msg(*rc != 127, "cannot run %s (is GNU parallel installed?)", argv[0]);
    if (sleigh && err[0] != '\0' && *rc == 255 && !sci_quiet)
        fprintf(stderr, "sleigh said: %s", err);
    free(err);
    return out;
}

/* Shows the first difference of a and b (for the failure message). */
static size_t
sci_first_diff(const char *a, size_t alen, const char *b, size_t blen)
{
    size_t i;

    for (i = 0; i < alen && i < blen && a[i] == b[i]; i++)
        ;
    return i;
}

/*
 * Runs ARGS... (NULL-terminated) through sleigh and GNU parallel with
 * stdin from the file in; asserts equal stdout and exit status.  Returns
 * the common stdout's length, so a case can check it is not empty.
 */
static size_t
sci_same(const char *in, ...)
{
    char   *args[70], *ours, *theirs;
    va_list ap;
    int     n = 0, rc1, rc2;
    size_t  l1, l2, d;

    va_start(ap, in);
    while (n < 69 && (args[n] = va_arg(ap, char *)) != NULL)
        n++;
    va_end(ap);
    args[n] = NULL;
    ours = sci_exec(1, in, (const char *const *)args, &rc1, &l1);
    theirs = sci_exec(0, in, (const char *const *)args, &rc2, &l2);
    d = sci_first_diff(ours, l1, theirs, l2);
    ck_assert_msg(l1 == l2 && d == l1,
                  "%s %s %s ...: stdout differs at byte %zu (%zu vs %zu bytes):\n"
                  "sleigh:   [%.200s]\nparallel: [%.200s]",
                  args[0], args[1], n > 2 ? args[2] : "", d, l1, l2,
                  ours + (d > 40 ? d - 40 : 0), theirs + (d > 40 ? d - 40 : 0));
    ck_assert_msg(rc1 == rc2, "%s %s ...: exit status %d, parallel's %d", args[0],
                  args[1], rc1, rc2);
    free(ours);
    free(theirs);
    return l1;
}

START_TEST(link_sources)
{
    const char *f1 = sci_text(0, "f1", "a\nb\nc\n"), *f2 = sci_text(1, "f2", "1\n2\n");

    /* --link wraps the shorter source; :::+ and ::::+ stop at it. */
    ck_assert_uint_gt(sci_same(NULL, "-k", "--link", "echo", ":::", "a", "b", "c",
                               ":::", "1", "2", NULL),
                      0);
    sci_same(NULL, "-k", "echo", ":::", "a", "b", "c", ":::+", "1", "2", NULL);
    sci_same(NULL, "-k", "echo", ":::", "a", "b", ":::+", "1", "2", "3", ":::", "x", "y",
             NULL);
    sci_same(NULL, "-k", "echo", "{2}-{1}", "::::", f1, "::::+", f2, NULL);
    sci_same(NULL, "-k", "--link", "echo", "{2}-{1}", "::::", f1, "::::", f2, NULL);
}
END_TEST

START_TEST(colsep)
{
    const char *tsv = sci_text(0, "t.tsv", "a\tb\nc\td\te\n");
    const char *csv = sci_text(1, "c.csv", "1,,2\n3,4\n5\n");

    ck_assert_uint_gt(
        sci_same(NULL, "-k", "--colsep", "\\t", "echo", "{2}", "{1}", "::::", tsv, NULL),
        0);
    sci_same(NULL, "-k", "--colsep", "\\t", "echo", "::::", tsv, NULL);
    sci_same(NULL, "-k", "-C", ",", "echo", "{1}-{2}-{3}", "::::", csv, NULL);
    sci_same(NULL, "-k", "--colsep", ",+", "echo", "{2}", "::::", csv, NULL);
    /* From stdin. */
    sci_same(csv, "-k", "--colsep", ",", "echo", "{3}{1}", NULL);
}
END_TEST

START_TEST(header)
{
    const char *t = sci_text(0, "h.txt", "x y\n1 2\n3 4\n");
    const char *c = sci_text(1, "h.csv", "name,n\nfoo,1\nbar,2\n");

    ck_assert_uint_gt(
        sci_same(t, "-k", "--header", ":", "--colsep", " ", "echo", "{y}-{x}", NULL), 0);
    sci_same(NULL, "-k", "--header", ":", "echo", "{f1}", "{f2}", ":::", "f1", "a", "b",
             ":::", "f2", "1", "2", NULL);
    sci_same(NULL, "-k", "--header", ":", "--colsep", ",", "echo", "{n}:{name}",
             "::::", c, NULL);
    sci_same(t, "-k", "--header", ":", "echo", NULL);
}
END_TEST

/* A quote in an input: the dry run shows it quoted as parallel quotes it. */
START_TEST(quoting)
{
    ck_assert_uint_gt(sci_same(NULL, "-k", "--dry-run", "echo", ":::", "q'q", "a b",
                               "x'y z", "plain", NULL),
                      0);
    sci_same(NULL, "-k", "echo", ":::", "q'q", "x'y z", NULL);
}
END_TEST

START_TEST(max_args)
{
    const char *blank = sci_text(0, "blank", "a b \nc \nd\ne\tx\t\nf\n");

    ck_assert_uint_gt(
        sci_same(NULL, "-k", "-N2", "echo", ":::", "a", "b", "c", "d", "e", NULL), 0);
    sci_same(NULL, "-k", "-N2", "echo", "{1}-{2}", ":::", "a", "b", "c", NULL);
    sci_same(NULL, "-k", "-N3", "echo", "{#}", "{}", ":::", "a", "b c", "d", "e", NULL);
    sci_same(NULL, "-k", "-n2", "echo", ":::", "a", "b", "c", NULL);
    sci_same(NULL, "-k", "-N0", "echo", "x", ":::", "a", "b", NULL);
    sci_same(NULL, "-k", "-L2", "echo", ":::", "a", "b", "c", NULL);
    /* -L: a line ending in a blank goes on with the next one (stdin and files). */
    sci_same(blank, "-k", "-L2", "-q", "printf", "<%s>\\n", NULL);
    sci_same(blank, "-k", "-L1", "echo", NULL);
    sci_same(NULL, "-k", "-L2", "echo", "{2}-{1}", "::::", blank, NULL);
    sci_same(NULL, "-k", "-q", "-N2", "printf", "<%s>\\n", ":::", "a", "b c", "d", NULL);
}
END_TEST

START_TEST(xargs)
{
    size_t      len, biglen;
    char       *seq = sci_seq(100, &len), *big = sci_seq(100000, &biglen);
    const char *in = sci_file(0, "seq100", seq, len);
    const char *bigin = sci_file(1, "seq100k", big, biglen);

    /* As many as fit, spread over the job slots as parallel spreads them. */
    ck_assert_uint_gt(
        sci_same(NULL, "-k", "-j1", "-X", "echo", "x{}y", ":::", "1", "2", "3", NULL), 0);
    sci_same(NULL, "-k", "-j2", "-X", "echo", "pre{}post", ":::", "a", "b", "c", NULL);
    sci_same(NULL, "-k", "-j2", "-m", "echo", "pre{}post", ":::", "a", "b", "c", NULL);
    sci_same(NULL, "-k", "-j3", "-m", "echo", ":::", "1", "2", "3", "4", "5", "6", "7",
             NULL);
    sci_same(in, "-k", "-j4", "-X", "echo", NULL);
    /* -s: the command line's length. */
    sci_same(in, "-k", "-j1", "-s", "30", "-m", "echo", NULL);
    sci_same(in, "-k", "-j1", "-s", "40", "-X", "echo", "<{}>", NULL);
    /* The default length (parallel's), the last command spread over the workers. */
    sci_same(bigin, "-k", "-j1", "-X", "echo", NULL);
    sci_same(bigin, "-k", "-j2", "-m", "echo", "a{}b", NULL);
    sci_same(bigin, "-k", "-j3", "-s", "1000", "-X", "echo", "x{}y", NULL);
    free(seq);
    free(big);
}
END_TEST

START_TEST(pipe_blocks)
{
    size_t      len;
    char       *seq = sci_seq(20000, &len);
    const char *in = sci_file(0, "seq", seq, len);
    const char *rs = sci_text(1, "rs", "a\n>x\nb\n>y\nc\nd\n>z\ne\n");
    const char *csv = sci_text(2, "csv", "h1,h2\n1,2\n3,4\n5,6\n7,8\n");

    ck_assert_uint_gt(sci_same(in, "-k", "--pipe", "--block", "1000", "wc", "-c", NULL),
                      0);
    sci_same(in, "-k", "--pipe", "--block", "10k", "md5sum", NULL);
    sci_same(in, "-k", "--pipe", "--block", "10K", "wc", "-l", NULL);
    sci_same(in, "-k", "--pipe", "wc", "-l", NULL);
    sci_same(in, "-k", "--pipe", "-N", "777", "md5sum", NULL);
    sci_same(in, "-k", "--pipe", "--block", "5k", "--recend", "0\\n", "md5sum", NULL);
    sci_same(in, "-k", "--pipe", "--block", "5k", "--recstart", "1", "md5sum", NULL);
    /* Records longer than a block: the block grows as parallel's does. */
    sci_same(in, "-k", "--pipe", "--block", "2k", "--recstart", "1", "--recend", "\\n",
             "wc", "-c", NULL);
    sci_same(rs, "-k", "--pipe", "--recstart", ">", "--block", "3", "cat; echo ---",
             NULL);
    /* {#} is the block's number (a command that reads its stdin: parallel counts
     * one that does not as failing, or not, as SIGPIPE falls). */
    sci_same(in, "-k", "--pipe", "--block", "3k", "cat >/dev/null; echo {#}", NULL);
    /* --header: taken off first, then before every block. */
    sci_same(csv, "-k", "--pipe", "--header", ":", "--block", "8", "cat; echo --", NULL);
    sci_same(csv, "-k", "--pipe", "--header", "2", "-N1", "cat; echo --", NULL);
    /* Empty stdin: nothing runs. */
    sci_same(NULL, "-k", "--pipe", "wc", "-l", NULL);
    free(seq);
}
END_TEST

START_TEST(pipepart)
{
    size_t      len;
    char       *seq = sci_seq(30000, &len);
    const char *in = sci_file(0, "seq", seq, len);
    const char *rs = sci_text(1, "rs", "a\n>x\nb\n>y\nc\nd\n>z\ne\n");

    ck_assert_uint_gt(
        sci_same(NULL, "-k", "-j2", "--pipepart", "-a", in, "wc", "-c", NULL), 0);
    sci_same(NULL, "-k", "-j3", "--pipepart", "-a", in, "md5sum", NULL);
    sci_same(NULL, "-k", "--pipepart", "-a", in, "--block", "10k", "md5sum", NULL);
    sci_same(NULL, "-k", "-j2", "--pipepart", "-a", in, "--block", "-3", "wc", "-l",
             NULL);
    sci_same(NULL, "-k", "--pipepart", "-a", rs, "--recstart", ">", "--block", "3",
             "cat; echo ---", NULL);
    sci_same(NULL, "-k", "--pipepart", "-a", rs, "--header", ":", "--block", "5",
             "cat; echo ---", NULL);
    free(seq);
}
END_TEST

/* What sleigh refuses, with a message, where parallel would do something else. */
START_TEST(refusals)
{
    const char *f = sci_text(0, "f", "1\n2\n");
    const char *bad[][8] = {
        {"--pipe", "-a", f, "wc", "-l", NULL}, /* parallel 20221122 runs nothing */
        {"--pipe", "wc", ":::", "a", NULL},
        {"--pipe", "--recend", "", "--recstart", "", "wc", NULL},
        {"-X", "echo", ":::", "a", ":::", "b", NULL},
        {"-N2", "echo", ":::", "a", ":::", "b", NULL},
        {"--colsep", "(", "echo", ":::", "a", NULL},
        {"--block", "-2", "--pipe", "wc", NULL},
    };
    size_t i, len;
    int    rc;
    char  *out;

    sci_quiet = 1;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        out = sci_exec(1, NULL, bad[i], &rc, &len);
        ck_assert_msg(rc == 255 && len == 0, "sleigh %s %s ...: status %d, %zu bytes out",
                      bad[i][0], bad[i][1], rc, len);
        free(out);
    }
}
END_TEST

/*
 * --pipe streams: 256 MB through sleigh from a pipe (a child writing lines
 * of 64 bytes) with wc -l per block; every line counted, and sleigh's own
 * peak RSS (wait4) stays far below the input's size: it holds a block at
 * a time, not the input.
 */
START_TEST(pipe_memory_bounded)
{
    const long    lines = 4 * 1024 * 1024; /* of 64 bytes: 256 MiB */
    char          bin[512], portbuf[16], line[64], *out, *p, *end;
    int           in[2], fout = nwstest_tmpfile(), st;
    long          i, total = 0;
    struct rusage ru;
    pid_t         gen, pid;

    memset(line, 'x', sizeof(line) - 1);
    line[sizeof(line) - 1] = '\n';
    ck_assert_int_eq(pipe(in), 0);
    gen = fork();
    ck_assert_int_ge(gen, 0);
    if (gen == 0) {
        close(in[0]);
        for (i = 0; i < lines; i++)
            if (write(in[1], line, sizeof(line)) != (ssize_t)sizeof(line))
                _exit(1);
        _exit(0);
    }
    close(in[1]);
    snprintf(portbuf, sizeof(portbuf), "%d", sci_srv.port);
    pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        setenv("NWS_HOST", "127.0.0.1", 1);
        setenv("NWS_PORT", portbuf, 1);
        dup2(in[0], 0);
        dup2(fout, 1);
        execl(nwstest_bin("sleigh", bin, sizeof(bin)), "sleigh", "--pipe", "--block",
              "4M", "wc", "-l", (char *)NULL);
        _exit(127);
    }
    close(in[0]);
    ck_assert_int_eq(wait4(pid, &st, 0, &ru), pid);
    waitpid(gen, NULL, 0);
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "sleigh --pipe failed");
    out = nwstest_slurp(fout, NULL);
    close(fout);
    for (p = out; *p != '\0'; p = end) {
        total += strtol(p, &end, 10);
        if (end == p)
            break;
    }
    free(out);
    ck_assert_int_eq(total, lines);
    /* (Not under the sanitizers: their allocator keeps freed memory.) */
    if (getenv("ASAN_OPTIONS") == NULL)
        ck_assert_msg(ru.ru_maxrss < 64 * 1024, "sleigh's peak RSS was %ld KiB for 256 MiB",
                      ru.ru_maxrss);
}
END_TEST

/* The "remote" case: a real sshd on loopback as two nodes (tests/sshtest.c). */
static struct sshtest_env  sci_env;
static struct sshtest_sshd sci_sshd;
static int                 sci_ssh_ok;

static void
sci_ssh_atexit(void)
{
    sshtest_sshd_stop(&sci_sshd);
    sshtest_env_free(&sci_env);
}

static void
sci_ssh_setup(void)
{
    char why[200];

    unsetenv("SSH_AUTH_SOCK");
    sci_setup();
    if (!(sci_ssh_ok = sshtest_available(why, sizeof(why))))
        return;
    atexit(sci_ssh_atexit);
    ck_assert_int_eq(sshtest_env_make(&sci_env), 0);
    ck_assert_int_eq(sshtest_sshd_start(&sci_env, &sci_sshd, NULL, "127.0.0.1", 0), 0);
    ck_assert_int_eq(sshtest_known_host(&sci_env, "127.0.0.1", sci_sshd.port, NULL), 0);
    ck_assert_int_eq(
        sshtest_config_host(&sci_env, "nwst-a", "127.0.0.1", sci_sshd.port, NULL), 0);
}

static void
sci_ssh_teardown(void)
{
    sshtest_sshd_stop(&sci_sshd);
    sshtest_env_free(&sci_env);
    sci_teardown();
}

/*
 * --pipe with the workers on a node over ssh: the blocks reach them through
 * the server (and the ssh tunnel), as values; the output is GNU parallel's
 * local one, byte for byte.
 */
START_TEST(pipe_remote_workers)
{
    size_t      len, l1, l2;
    char       *seq = sci_seq(50000, &len), *ours, *theirs, worker[512], wenv[600];
    const char *in = sci_file(0, "seq", seq, len);
    const char *a1[] = {"-S",     "nwst-a:2", "--ssh-config", sci_env.ssh_config, "-k",
                        "--pipe", "--block",  "20k",          "md5sum",           NULL};
    const char *a2[] = {"-k", "--pipe", "--block", "20k", "md5sum", NULL};
    const char *a3[] = {"-S",       "nwst-a:2",   "--ssh-config", sci_env.ssh_config,
                        "-k",       "--pipepart", "-a",           in,
                        "--header", ":",          "--block",      "30k",
                        "md5sum",   NULL};
    const char *a4[] = {"-k", "--pipepart", "-a",  in,       "--header",
                        ":",  "--block",    "30k", "md5sum", NULL};
    int         rc1, rc2;

    if (!sci_ssh_ok) {
        char why[200];

        sshtest_available(why, sizeof(why));
        printf("SKIPPED: sleigh_compat_input pipe_remote_workers: %s\n", why);
        free(seq);
        return;
    }
    snprintf(wenv, sizeof(wenv), "%s", nwstest_bin("nws-worker", worker, sizeof(worker)));
    setenv("NWS_WORKER", wenv, 1);
    ours = sci_exec(1, in, a1, &rc1, &l1);
    theirs = sci_exec(0, in, a2, &rc2, &l2);
    ck_assert_int_eq(rc1, 0);
    ck_assert_int_eq(rc2, 0);
    ck_assert_uint_gt(l2, 0);
    ck_assert_msg(l1 == l2 && memcmp(ours, theirs, l1) == 0,
                  "--pipe on a node: [%.300s] vs parallel's [%.300s]", ours, theirs);
    free(ours);
    free(theirs);
    ours = sci_exec(1, NULL, a3, &rc1, &l1);
    theirs = sci_exec(0, NULL, a4, &rc2, &l2);
    ck_assert_int_eq(rc1, 0);
    ck_assert_msg(l1 == l2 && memcmp(ours, theirs, l1) == 0,
                  "--pipepart on a node: [%.300s] vs parallel's [%.300s]", ours, theirs);
    free(ours);
    free(theirs);
    free(seq);
}
END_TEST

NWSTEST_SUITE(sleigh_compat_input)
{
    Suite *s = suite_create("sleigh_compat_input");
    TCase *tc = tcase_create("vs_gnu_parallel");

    tcase_add_checked_fixture(tc, sci_setup, sci_teardown);
    tcase_set_timeout(tc, 240);
    tcase_add_test(tc, link_sources);
    tcase_add_test(tc, colsep);
    tcase_add_test(tc, header);
    tcase_add_test(tc, quoting);
    tcase_add_test(tc, max_args);
    tcase_add_test(tc, xargs);
    tcase_add_test(tc, pipe_blocks);
    tcase_add_test(tc, pipepart);
    tcase_add_test(tc, pipe_memory_bounded);
    tcase_add_test(tc, refusals);
    suite_add_tcase(s, tc);

    tc = tcase_create("remote");
    tcase_add_checked_fixture(tc, sci_ssh_setup, sci_ssh_teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, pipe_remote_workers);
    suite_add_tcase(s, tc);
    return s;
}
