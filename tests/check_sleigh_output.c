/*
 * check_sleigh_output.c -- the sleigh command's job output: any size, any
 * bytes, back whole and exact, without sleigh's memory growing with it;
 * a --max-output cut fails the job.  sleigh runs as a subprocess against a
 * real nwsserver (NWS_HOST/NWS_PORT), its workers real nws-worker
 * processes; what it prints is compared with what the command prints run
 * directly by /bin/sh (and with GNU parallel's output when it is installed).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "nws_sleigh.h"
#include "nwstest.h"
#include "util.h"

#define SOUT_RUN_TIMEOUT_S 60

static struct nwstest_server sout_srv;
static char                  sout_dir[64];
static int                   sout_nofile; /* > 0: the descriptor limit of the next run */

/* What one run gave. */
struct sout_res {
    int    rc;
    char  *out, *err; /* NUL-terminated (out may hold NULs: outlen) */
    size_t outlen;
    long   maxrss_kb; /* peak RSS of the program and the children it waited for */
};

/* Fixture: a subreaper test process, a fresh server and a scratch directory. */
static void
sout_setup(void)
{
    ck_assert_int_eq(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
    ck_assert_int_eq(nwstest_server_start(&sout_srv, NULL), 0);
    snprintf(sout_dir, sizeof(sout_dir), "/tmp/nwstest.sout.XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(sout_dir));
}

/* Fixture teardown. */
static void
sout_teardown(void)
{
    char cmd[128];

    nwstest_server_stop(&sout_srv);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", sout_dir);
    if (system(cmd) != 0)
        fprintf(stderr, "cannot remove %s\n", sout_dir);
}

/*
 * Runs argv (NULL-terminated; argv[0] a path) with stdin holding inlen
 * bytes of in, NWS_HOST/NWS_PORT naming the fixture's server.
 */
static void
sout_exec(struct sout_res *r, const char *in, size_t inlen, char *const *argv)
{
    int fin = nwstest_tmpfile(), fout = nwstest_tmpfile(), ferr = nwstest_tmpfile(),
        st = 0;
    char          port[16];
    double        start = nwsp_mono();
    struct rusage ru;
    pid_t         pid, got;

    if (inlen > 0)
        ck_assert_int_eq(write(fin, in, inlen), (ssize_t)inlen);
    lseek(fin, 0, SEEK_SET);
    snprintf(port, sizeof(port), "%d", sout_srv.port);
    pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        setenv("NWS_HOST", "127.0.0.1", 1);
        setenv("NWS_PORT", port, 1);
        if (sout_nofile > 0) {
            struct rlimit rl = {(rlim_t)sout_nofile, (rlim_t)sout_nofile};

            setrlimit(RLIMIT_NOFILE, &rl);
        }
        dup2(fin, 0);
        dup2(fout, 1);
        dup2(ferr, 2);
        execv(argv[0], argv);
        _exit(127);
    }
    memset(&ru, 0, sizeof(ru));
    while ((got = wait4(pid, &st, WNOHANG, &ru)) == 0 &&
           nwsp_mono() - start < SOUT_RUN_TIMEOUT_S)
        usleep(10000);
    if (got == 0) {
        kill(pid, SIGKILL);
        waitpid(pid, &st, 0);
    }
    r->rc = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    r->maxrss_kb = ru.ru_maxrss;
    r->out = nwstest_slurp(fout, &r->outlen);
    r->err = nwstest_slurp(ferr, NULL);
    close(fin);
    close(fout);
    close(ferr);
    ck_assert_msg(got == pid, "%s ran for more than %d s", argv[0], SOUT_RUN_TIMEOUT_S);
}

/* Runs sleigh ARGS... (NULL-terminated) with stdin in (inlen bytes). */
static void
sout_sleigh(struct sout_res *r, const char *in, size_t inlen, ...)
{
    char   *argv[40], bin[512];
    va_list ap;
    int     n = 1;

    argv[0] = (char *)nwstest_bin("sleigh", bin, sizeof(bin));
    va_start(ap, inlen);
    while (n < 39 && (argv[n] = va_arg(ap, char *)) != NULL)
        n++;
    va_end(ap);
    argv[n] = NULL;
    sout_exec(r, in, inlen, argv);
}

/* Runs /bin/sh -c cmd. */
static void
sout_exec_sh(struct sout_res *r, const char *cmd)
{
    char *argv[4];

    argv[0] = (char *)"/bin/sh";
    argv[1] = (char *)"-c";
    argv[2] = (char *)cmd;
    argv[3] = NULL;
    sout_exec(r, NULL, 0, argv);
}

/* What `sh -c cmd` prints (the reference): new buffer, *len bytes. */
static char *
sout_sh(const char *cmd, size_t *len)
{
    struct sout_res r;

    sout_exec_sh(&r, cmd);
    ck_assert_msg(r.rc == 0, "sh -c %s: %d %s", cmd, r.rc, r.err);
    free(r.err);
    *len = r.outlen;
    return r.out;
}

/* Returns 1 if GNU parallel is installed. */
static int
sout_have_parallel(void)
{
    return system("parallel --version 2>/dev/null | grep -q 'GNU parallel'") == 0;
}

static void
sout_free(struct sout_res *r)
{
    free(r->out);
    free(r->err);
}

/* Asserts that r printed exactly len bytes of want. */
static void
sout_assert_out(const struct sout_res *r, const char *want, size_t len, const char *what)
{
    size_t i;

    for (i = 0; i < r->outlen && i < len && r->out[i] == want[i]; i++)
        ;
    ck_assert_msg(r->outlen == len && i == len,
                  "%s: %zu bytes, want %zu; first difference at byte %zu", what, r->outlen,
                  len, i);
}

/* ---- the example: zcat of a 2 MB text -------------------------------- */

START_TEST(zcat_whole)
{
    struct sout_res r, p;
    char            cmd[256], gz[128], *want;
    size_t          wlen;

    snprintf(gz, sizeof(gz), "%s/big.gz", sout_dir);
    snprintf(cmd, sizeof(cmd), "seq 1 300000 | gzip > '%s'", gz);
    ck_assert_int_eq(system(cmd), 0);
    snprintf(cmd, sizeof(cmd), "zcat '%s'", gz);
    want = sout_sh(cmd, &wlen);
    ck_assert_uint_eq(wlen, 1988895);
    sout_sleigh(&r, NULL, 0, "-k", "zcat", ":::", gz, NULL);
    ck_assert_msg(r.rc == 0, "rc %d: %s", r.rc, r.err);
    sout_assert_out(&r, want, wlen, "sleigh -k zcat");
    ck_assert_str_eq(r.err, "");
    if (sout_have_parallel()) {
        snprintf(cmd, sizeof(cmd), "parallel -k zcat ::: '%s'", gz);
        sout_exec_sh(&p, cmd);
        ck_assert_int_eq(p.rc, 0);
        sout_assert_out(&r, p.out, p.outlen, "sleigh against parallel -k");
        sout_free(&p);
    }
    sout_free(&r);
    free(want);
}
END_TEST

/* ---- tens of MB, text and NUL bytes, with sleigh's memory bounded ------------ */

/*
 * A mechanism check, not a speed check: the peak RSS of sleigh and of the
 * processes it waited for (its workers, their commands) stays far below
 * the output's size, which they all used to hold (and the NUL bytes six
 * times over, as JSON escapes).
 */
START_TEST(large_output_bounded)
{
    static const char *cmds[] = {"seq 1 5000000", "head -c 40000000 /dev/zero"};
    struct sout_res    r, b;
    char              *want;
    size_t             wlen, i = (size_t)_i;

    /* One command per test process (a loop test), and sleigh first: a
     * child's peak RSS starts at ours when it forks (and survives exec),
     * so we must hold nothing large then, nor have freed it (the
     * sanitizer keeps freed memory for a while). */
    /* The same run with a tiny output first: its peak is what a child
     * starts from (our own RSS at fork, the sanitizer's heap), so only the
     * growth over it is the output's. */
    sout_sleigh(&b, NULL, 0, ":::", "echo x", NULL);
    ck_assert_msg(b.rc == 0, "baseline: rc %d: %s", b.rc, b.err);
    sout_sleigh(&r, NULL, 0, ":::", cmds[i], NULL); /* no command: the input is one */
    want = sout_sh(cmds[i], &wlen);
    ck_assert_uint_gt(wlen, 30000000);
    ck_assert_msg(r.rc == 0, "%s: rc %d: %s", cmds[i], r.rc, r.err);
    sout_assert_out(&r, want, wlen, cmds[i]);
    ck_assert_msg((r.maxrss_kb - b.maxrss_kb) * 1024 < (long)(wlen / 2),
                  "%s: peak RSS %ld KiB (%ld KiB with a tiny output) for %zu bytes of "
                  "output", cmds[i], r.maxrss_kb, b.maxrss_kb, wlen);
    sout_free(&b);
    sout_free(&r);
    free(want);
}
END_TEST

/*
 * -k holding a large output back (it goes to a temp file, then out in its
 * turn) and --tag prefixing every line of one (lines straddle the reads).
 */
START_TEST(large_output_held_and_tagged)
{
    struct sout_res r;
    char           *want, *p, line[64];
    size_t          wlen, off;
    long            i;

    want = sout_sh("echo first; seq 1 300000", &wlen);
    sout_sleigh(&r, NULL, 0, "-k", "-j", "2", ":::", "sleep 1; echo first", "seq 1 300000",
                NULL);
    ck_assert_msg(r.rc == 0, "rc %d: %s", r.rc, r.err);
    sout_assert_out(&r, want, wlen, "-k");
    sout_free(&r);
    free(want);

    sout_sleigh(&r, NULL, 0, "--tag", "seq", "1", ":::", "300000", NULL);
    ck_assert_msg(r.rc == 0, "rc %d: %s", r.rc, r.err);
    for (i = 1, off = 0, p = r.out; i <= 300000; i++) {
        snprintf(line, sizeof(line), "300000\t%ld\n", i);
        ck_assert_msg(off + strlen(line) <= r.outlen && memcmp(p + off, line, strlen(line)) == 0,
                      "--tag: line %ld differs", i);
        off += strlen(line);
    }
    ck_assert_uint_eq(off, r.outlen);
    sout_free(&r);
}
END_TEST

/*
 * -k holding more large outputs than sleigh has descriptors for temp
 * files: those that get none wait on the server, and nothing is lost.
 */
START_TEST(held_outputs_past_descriptors)
{
    struct sout_res r;
    char            list[128], line[64], *want;
    size_t          wlen;
    FILE           *fp;
    int             i;

    snprintf(list, sizeof(list), "%s/cmds", sout_dir);
    ck_assert_ptr_nonnull(fp = fopen(list, "w"));
    fprintf(fp, "sleep 1; echo first\n");
    for (i = 0; i < 60; i++)
        fprintf(fp, "seq 1 %d\n", 20000 + i);
    fclose(fp);
    sout_nofile = 40;
    sout_sleigh(&r, NULL, 0, "-k", "-j", "2", "::::", list, NULL);
    sout_nofile = 0;
    ck_assert_msg(r.rc == 0, "rc %d: %s", r.rc, r.err);
    ck_assert_str_eq(r.err, "");
    snprintf(line, sizeof(line), "echo first; for i in $(seq 0 59); do seq 1 $((20000 + i)); done");
    want = sout_sh(line, &wlen);
    sout_assert_out(&r, want, wlen, "60 held outputs");
    sout_free(&r);
    free(want);
}
END_TEST

/* ---- a cap the user sets ------------------------------------------------------- */

START_TEST(max_output_cut_fails)
{
    struct sout_res r;
    char            log[128], *text, *p;
    int             fd, col;

    snprintf(log, sizeof(log), "%s/joblog", sout_dir);
    sout_sleigh(&r, NULL, 0, "--max-output", "1000", "--joblog", log, "head", "-c", "{}",
                "/dev/zero", ":::", "5000", "100", NULL);
    ck_assert_msg(r.rc == 1, "rc %d (one job cut): %s", r.rc, r.err);
    ck_assert_uint_eq(r.outlen, 1100); /* 1000 of the cut one, all 100 of the other */
    ck_assert_msg(strstr(r.err, "head -c 5000 /dev/zero: output cut at --max-output") != NULL, "%s",
                  r.err);
    ck_assert_ptr_null(strstr(r.err, "head -c 100 "));
    sout_free(&r);
    /* The joblog's Exitval says it failed. */
    ck_assert_int_ge(fd = open(log, O_RDONLY), 0);
    text = nwstest_slurp(fd, NULL);
    close(fd);
    p = strstr(text, "\n1\t");
    ck_assert_msg(p != NULL, "%s", text);
    for (col = 0, p++; col < 6; col++)
        p = strchr(p, '\t') + 1;
    ck_assert_msg(strncmp(p, "1\t", 2) == 0, "Exitval: %s", text);
    free(text);
    /* No cap by default: 2 MiB of output is no failure. */
    sout_sleigh(&r, NULL, 0, "head", "-c", "{}", "/dev/zero", ":::", "2097152", NULL);
    ck_assert_int_eq(r.rc, 0);
    ck_assert_uint_eq(r.outlen, 2097152);
    sout_free(&r);
}
END_TEST

/* ---- bytes that are not UTF-8 ---------------------------------------------------- */

START_TEST(non_utf8_in_and_out)
{
    struct sout_res r;
    char           *want, big[128];
    size_t          wlen;

    /* An input line (the example), a fixed word, and output. */
    sout_sleigh(&r, "\xff\n", 2, "echo", NULL);
    ck_assert_msg(r.rc == 0, "rc %d: %s", r.rc, r.err);
    sout_assert_out(&r, "\xff\n", 2, "echo of \\xff");
    sout_free(&r);
    sout_sleigh(&r, "a\xfe" "b\n", 4, "-q", "echo", "x\xfd", NULL);
    ck_assert_msg(r.rc == 0, "rc %d: %s", r.rc, r.err);
    sout_assert_out(&r, "x\xfd a\xfe" "b\n", 7, "fixed and input words");
    sout_free(&r);
    if (sout_have_parallel()) {
        struct sout_res p;

        sout_exec_sh(&p, "printf '\\377\\n' | parallel echo");
        ck_assert_int_eq(p.rc, 0);
        sout_sleigh(&r, "\xff\n", 2, "echo", NULL);
        sout_assert_out(&r, p.out, p.outlen, "against parallel");
        sout_free(&r);
        sout_free(&p);
    }
    /* A large output of bytes that are not UTF-8, through a shell. */
    snprintf(big, sizeof(big), "yes \"$(printf '\\376\\377')\" | head -c 3000000");
    want = sout_sh(big, &wlen);
    ck_assert_uint_eq(wlen, 3000000);
    sout_sleigh(&r, NULL, 0, ":::", big, NULL);
    ck_assert_msg(r.rc == 0, "rc %d: %s", r.rc, r.err);
    sout_assert_out(&r, want, wlen, "3 MB not UTF-8");
    sout_free(&r);
    free(want);
}
END_TEST

/* ---- the same through the Sleigh API ------------------------------------------- */

START_TEST(api_spill_and_bytes)
{
    nws_sleigh_options o;
    nws_sleigh        *s;
    nws_error          err;
    json_t            *task, *elems, *vec, *r, *v;
    char               worker[512], *buf;
    uint64_t           len;
    size_t             n, i;
    int                fd = nwstest_tmpfile();

    nws_sleigh_options_init(&o);
    o.host = "127.0.0.1";
    o.port = sout_srv.port;
    o.workers = 1;
    o.worker_path = nwstest_bin("nws-worker", worker, sizeof(worker));
    s = nws_sleigh_new(&o, &err);
    ck_assert_msg(s != NULL, "nws_sleigh_new: %s", err.text);
    task = json_loads("{\"kind\": \"command\", \"spill\": 65536, \"argv\": [\"sh\", \"-c\", "
                      "\"head -c 200000 /dev/zero; printf %s \\\"$1\\\" >&2\", \"sh\", \"{}\"]}",
                      0, NULL);
    ck_assert_ptr_nonnull(task);
    vec = json_array();
    json_array_append_new(vec, nws_sleigh_bytes("\xfe\xff", 2)); /* not UTF-8 */
    ck_assert(json_is_object(json_array_get(vec, 0)));
    elems = json_array();
    json_array_append_new(elems, vec);
    r = nws_sleigh_each_elem(s, task, elems, NULL, NULL, &err);
    ck_assert_msg(r != NULL, "each_elem: %s", err.text);
    v = json_array_get(r, 0);
    ck_assert_msg(nws_sleigh_error(v) == NULL, "%s", nws_sleigh_error(v));
    /* stdout is stored apart, raw; stderr, small and not UTF-8, is in the record. */
    ck_assert_ptr_null(json_object_get(v, "stdout"));
    ck_assert(json_is_string(json_object_get(v, "stdout_var")));
    ck_assert_int_eq(json_integer_value(json_object_get(v, "stdout_bytes")), 200000);
    buf = nws_sleigh_output(v, "stderr", &n);
    ck_assert(buf != NULL && n == 2 && memcmp(buf, "\xfe\xff", 2) == 0);
    free(buf);
    ck_assert_int_eq(nws_sleigh_output_fd(s, v, "stdout", fd, &len, &err), 0);
    ck_assert_uint_eq(len, 200000);
    buf = nwstest_slurp(fd, &n);
    ck_assert_uint_eq(n, 200000);
    for (i = 0; i < n && buf[i] == '\0'; i++)
        ;
    ck_assert_uint_eq(i, n);
    free(buf);
    /* Fetched once: the variable is gone. */
    ck_assert_int_eq(nws_sleigh_output_fd(s, v, "stdout", fd, &len, &err), -1);
    ck_assert_int_eq(err.code, NWS_ERR_NO_VALUE);
    json_decref(r);
    json_decref(elems);
    json_decref(task);
    close(fd);
    ck_assert_int_eq(nws_sleigh_stop(s, &err), 0);
    nws_sleigh_free(s);
}
END_TEST

NWSTEST_SUITE(sleigh_output)
{
    Suite *s = suite_create("sleigh_output");
    TCase *tc = tcase_create("output");

    tcase_add_checked_fixture(tc, sout_setup, sout_teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, zcat_whole);
    tcase_add_loop_test(tc, large_output_bounded, 0, 2);
    tcase_add_test(tc, large_output_held_and_tagged);
    tcase_add_test(tc, held_outputs_past_descriptors);
    tcase_add_test(tc, max_output_cut_fails);
    tcase_add_test(tc, non_utf8_in_and_out);
    tcase_add_test(tc, api_spill_and_bytes);
    suite_add_tcase(s, tc);
    return s;
}
