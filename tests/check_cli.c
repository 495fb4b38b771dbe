/*
 * check_cli.c -- the nws command-line tool run as a subprocess against a
 * real server, the examples (built from examples/, found through $NWS_EXAMPLES_DIR),
 * and the list of symbols libnws.so exports.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "nws.h"
#include "nwstest.h"
#include "ptyproc.h"

static struct nwstest_server cli_srv;

/* What a run of a program gave. */
struct cli_res {
    int    rc;
    char  *out; /* NUL-terminated; outlen bytes */
    size_t outlen;
    char   err[4096];
};

/* Fixture: a fresh server. */
static void
cli_setup(void)
{
    ck_assert_int_eq(nwstest_server_start(&cli_srv, NULL), 0);
}

/* Fixture teardown. */
static void
cli_teardown(void)
{
    nwstest_server_stop(&cli_srv);
}

/* Writes all of p to fd (a file or pipe, where send() does not work); 0, or -1. */
static int
cli_write_all(int fd, const void *p, size_t len)
{
    const char *s = p;
    ssize_t     n;

    while (len > 0) {
        n = write(fd, s, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        s += n;
        len -= (size_t)n;
    }
    return 0;
}

/*
 * Runs argv (argv[0] a path) with stdin from in (inlen bytes; NULL: empty),
 * NWS_HOST/NWS_PORT pointing at the test server, stdout and stderr caught.
 */
static void
cli_exec(const char *in, size_t inlen, char *const *argv, struct cli_res *r)
{
    char   port[16];
    int fin = nwstest_tmpfile(), fout = nwstest_tmpfile(), ferr = nwstest_tmpfile(), st;
    size_t elen;
    char  *e;
    pid_t  pid;

    if (in != NULL)
        ck_assert_int_eq(cli_write_all(fin, in, inlen), 0);
    lseek(fin, 0, SEEK_SET);
    snprintf(port, sizeof(port), "%d", cli_srv.port);
    pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        setenv("NWS_HOST", "127.0.0.1", 1);
        setenv("NWS_PORT", port, 1);
        dup2(fin, 0);
        dup2(fout, 1);
        dup2(ferr, 2);
        execv(argv[0], argv);
        _exit(127);
    }
    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    r->rc = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    r->out = nwstest_slurp(fout, &r->outlen);
    e = nwstest_slurp(ferr, &elen);
    snprintf(r->err, sizeof(r->err), "%s", e);
    free(e);
    close(fin);
    close(fout);
    close(ferr);
}

/* Runs `nws ARGS...` (NULL-terminated) with stdin in; see cli_exec. */
static void
cli_nws(struct cli_res *r, const char *in, size_t inlen, ...)
{
    char   *argv[32], bin[512];
    va_list ap;
    int     n = 0;

    argv[n++] = (char *)nwstest_bin("nws", bin, sizeof(bin));
    va_start(ap, inlen);
    while (n < 31 && (argv[n] = va_arg(ap, char *)) != NULL)
        n++;
    va_end(ap);
    argv[n] = NULL;
    cli_exec(in, inlen, argv, r);
}

/* Runs `nws ARGS...` with no input and checks the exit status and stdout. */
static void
cli_check(int rc, const char *out, ...)
{
    struct cli_res r;
    char          *argv[32], bin[512];
    va_list        ap;
    int            n = 0;

    argv[n++] = (char *)nwstest_bin("nws", bin, sizeof(bin));
    va_start(ap, out);
    while (n < 31 && (argv[n] = va_arg(ap, char *)) != NULL)
        n++;
    va_end(ap);
    argv[n] = NULL;
    cli_exec(NULL, 0, argv, &r);
    ck_assert_msg(r.rc == rc, "nws %s %s: exit %d, wanted %d; stderr: %s", argv[1],
                  argv[2] ? argv[2] : "", r.rc, rc, r.err);
    if (out != NULL)
        ck_assert_msg(strcmp(r.out, out) == 0, "nws %s: stdout \"%s\", wanted \"%s\"",
                      argv[1], r.out, out);
    if (rc == 2)
        ck_assert_msg(strncmp(r.err, "nws: ", 5) == 0 || strncmp(r.err, "usage:", 6) == 0,
                      "no clear message on stderr: \"%s\"", r.err);
    free(r.out);
}

/* A libnws connection and `use ws` handle on the test server. */
static nws_ws *
cli_ws(const char *name, nws_client **c)
{
    nws_error err;
    nws_ws   *ws;

    *c = nws_connect("127.0.0.1", cli_srv.port, 0, &err);
    ck_assert_msg(*c != NULL, "%s", err.text);
    ws = nws_ws_use(*c, name, 0, &err);
    ck_assert_ptr_nonnull(ws);
    return ws;
}

START_TEST(round_trips_and_exit_codes)
{
    cli_check(0, "", "store", "w", "x", "hello", NULL);
    cli_check(0, "hello", "find", "w", "x", NULL);
    cli_check(0, "hello", "find-try", "w", "x", NULL);
    cli_check(0, "hello", "fetch-try", "w", "x", NULL);
    cli_check(1, "", "fetch-try", "w", "x", NULL);
    cli_check(1, "", "find-try", "w", "x", NULL);
    cli_check(1, "", "find-try", "nows", "x", NULL);
    cli_check(0, "", "store", "w", "x", "again", NULL);
    cli_check(0, "again", "fetch", "w", "x", NULL);
    cli_check(0, "", "store", "w", "e", "", NULL); /* an empty string is a value */
    cli_check(0, "", "fetch-try", "w", "e", NULL);
    cli_check(1, "", "fetch-try", "w", "e", NULL);

    cli_check(0, "", "declare", "w", "s", "single", NULL);
    cli_check(0, "", "store", "w", "s", "1", NULL);
    cli_check(0, "", "store", "w", "s", "2", NULL);
    cli_check(0, "2", "find", "w", "s", NULL);
    cli_check(2, "", "declare", "w", "s", "fifo", NULL);
    cli_check(0, "", "rm", "w", "s", NULL);
    cli_check(1, "", "rm", "w", "s", NULL);
    cli_check(1, "", "rm", "nows", "s", NULL);
    cli_check(0, "__default\t[system]\tTrue\t0\t\nw\t\tFalse\t2\te,x\n", "ls", NULL);
    cli_check(0, "e\t0\t0\t0\tfifo\nx\t0\t0\t0\tfifo\n", "vars", "w", NULL);
    cli_check(1, "", "vars", "nows", NULL);
    cli_check(0, "", "rmws", "w", NULL);
    cli_check(1, "", "rmws", "w", NULL);
    cli_check(0, "__default\t[system]\tTrue\t0\t\n", "ls", NULL);
}
END_TEST

START_TEST(usage_errors)
{
    struct cli_res r;

    cli_check(2, "", NULL);
    cli_check(2, "", "frobnicate", NULL);
    cli_check(2, "", "store", "w", "x", NULL);
    cli_check(2, "", "store", "-x", "w", "x", "v", NULL);
    cli_check(2, "", "fetch", "w", NULL);
    cli_check(2, "", "watch", "-n", "0", "w", "x", NULL);
    cli_check(2, "", "-p", "notaport", "ls", NULL);
    /* A refused connection: nobody listens on port 1. */
    cli_nws(&r, NULL, 0, "-h", "127.0.0.1", "-p", "1", "ls", NULL);
    ck_assert_int_eq(r.rc, 2);
    ck_assert_msg(strstr(r.err, "nws: connect:") != NULL, "%s", r.err);
    free(r.out);
}
END_TEST

START_TEST(help_everywhere)
{
    static const char *const cmds[] = {"store", "fetch", "find", "fetch-try", "find-try",
                                       "declare", "rm", "rmws", "ls", "vars", "watch"};
    struct cli_res           r;
    size_t                   i;

    cli_nws(&r, NULL, 0, "--help", NULL);
    ck_assert_int_eq(r.rc, 0);
    for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
        ck_assert_msg(strstr(r.out, cmds[i]) != NULL, "%s missing from --help", cmds[i]);
    free(r.out);
    for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
        cli_nws(&r, NULL, 0, cmds[i], "--help", NULL);
        ck_assert_msg(r.rc == 0, "%s --help: exit %d", cmds[i], r.rc);
        ck_assert(strncmp(r.out, "usage: nws", 10) == 0);
        ck_assert_ptr_nonnull(strstr(r.out, cmds[i]));
        free(r.out);
    }
    /* Help needs no server: it works against a dead port too. */
    cli_nws(&r, NULL, 0, "-p", "1", "store", "a", "--help", NULL);
    ck_assert_int_eq(r.rc, 0);
    free(r.out);
}
END_TEST

START_TEST(binary_stdin)
{
    struct cli_res r;
    char          *data = malloc(300000), cmd[1024], bin[512], path[] = "/tmp/nwstest.in.XXXXXX";
    nws_client    *c;
    nws_ws        *ws;
    nws_value     *v;
    nws_error      err;
    size_t         i;
    int            fd;

    for (i = 0; i < 300000; i++)
        data[i] = (char)(i * 7 % 251); /* NULs and high bytes included */
    /* From a regular file: streamed. */
    cli_nws(&r, data, 300000, "store", "w", "bin", "-", NULL);
    ck_assert_msg(r.rc == 0, "%s", r.err);
    free(r.out);
    cli_nws(&r, NULL, 0, "fetch", "w", "bin", NULL);
    ck_assert_int_eq(r.rc, 0);
    ck_assert_uint_eq(r.outlen, 300000);
    ck_assert(memcmp(r.out, data, 300000) == 0);
    free(r.out);

    /* From a pipe: no length known in advance. */
    fd = mkstemp(path);
    ck_assert_int_eq(cli_write_all(fd, data, 300000), 0);
    close(fd);
    snprintf(cmd, sizeof(cmd), "cat %s | %s -b store w bin -", path,
             nwstest_bin("nws", bin, sizeof(bin)));
    /* -b belongs to store: before the command it is refused. */
    {
        char sh[] = "/bin/sh", dash_c[] = "-c";
        char *argv[] = {sh, dash_c, cmd, NULL};

        cli_exec(NULL, 0, argv, &r);
        ck_assert_int_eq(r.rc, 2);
        free(r.out);
        snprintf(cmd, sizeof(cmd), "cat %s | %s store -b w bin -", path,
                 nwstest_bin("nws", bin, sizeof(bin)));
        cli_exec(NULL, 0, argv, &r);
        ck_assert_msg(r.rc == 0, "%s", r.err);
        free(r.out);
    }
    unlink(path);
    ws = cli_ws("w", &c);
    v = nws_fetch(ws, "bin", &err);
    ck_assert_ptr_nonnull(v);
    ck_assert_uint_eq(nws_value_desc(v), NWS_DESC_BYTES);
    ck_assert_uint_eq(nws_value_size(v), 300000);
    ck_assert(memcmp(nws_value_data(v), data, 300000) == 0);
    nws_value_free(v);
    nws_ws_free(ws);
    nws_close(c);
    free(data);
}
END_TEST

START_TEST(strings_interoperate)
{
    nws_client *c;
    nws_ws     *ws;
    nws_value  *v;
    nws_error   err;

    /* nws stores text as DIRECT_STRING (1): what Python, R and Java read as a string. */
    cli_check(0, "", "store", "w", "s", "from the shell", NULL);
    ws = cli_ws("w", &c);
    v = nws_fetch(ws, "s", &err);
    ck_assert_uint_eq(nws_value_desc(v), NWS_DESC_DIRECT_STRING);
    ck_assert_str_eq(nws_value_str(v), "from the shell");
    nws_value_free(v);
    /* And prints what a Python client stores as a str (0x01000001). */
    ck_assert_int_eq(nws_store_raw(ws, "py", "from python", 11, 0x01000001, &err), 0);
    cli_check(0, "from python", "fetch", "w", "py", NULL);
    nws_ws_free(ws);
    nws_close(c);
}
END_TEST

START_TEST(never_owns)
{
    nws_client  *c;
    nws_ws      *ws;
    nws_ws_list *l;
    nws_error    err;

    cli_check(0, "", "store", "made", "x", "1", NULL);
    ws = cli_ws("t", &c);
    l = nws_list_wss(c, "made", &err);
    ck_assert_uint_eq(l->count, 1);
    ck_assert_str_eq(l->items[0].owner, "");
    nws_ws_list_free(l);
    cli_check(0, "1", "find", "made", "x", NULL); /* still there after nws exited */
    nws_ws_free(ws);
    nws_close(c);
}
END_TEST

START_TEST(watch_follows)
{
    struct cli_res r;
    pid_t          pid;

    cli_check(0, "", "store", "w", "x", "a", NULL);
    cli_check(0, "", "store", "w", "x", "b", NULL);
    pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        /* Store the third value once watch has shown the first two. */
        nws_client *c = nws_connect("127.0.0.1", cli_srv.port, 0, NULL);
        nws_ws     *ws = c ? nws_ws_use(c, "w", 0, NULL) : NULL;
        nws_var_list *l;
        int         i, ok = 0;

        for (i = 0; ws != NULL && i < 500 && !ok; i++) {
            if ((l = nws_list_vars(ws, NULL)) != NULL && l->count == 1 &&
                l->items[0].finders == 1)
                ok = 1;
            nws_var_list_free(l);
            if (!ok)
                usleep(10000);
        }
        _exit(ok && nws_store_string(ws, "x", "c", NULL) == 0 ? 0 : 1);
    }
    cli_nws(&r, NULL, 0, "-t", "20", "watch", "-n", "3", "w", "x", NULL);
    ck_assert_msg(r.rc == 0, "%s", r.err);
    ck_assert_str_eq(r.out, "a\nb\nc\n");
    free(r.out);
    ck_assert_int_eq(waitpid(pid, &r.rc, 0), pid);
    ck_assert(WIFEXITED(r.rc) && WEXITSTATUS(r.rc) == 0);
}
END_TEST

/* ---- examples ---- */

/* Runs example name with args and checks it exits 0 with want in its output. */
static void
cli_example(const char *name, const char *arg1, const char *arg2, const char *want)
{
    struct cli_res r;
    const char    *dir = getenv("NWS_EXAMPLES_DIR");
    char           path[512];
    char          *argv[] = {path, (char *)arg1, (char *)arg2, NULL};

    snprintf(path, sizeof(path), "%s/%s", dir != NULL ? dir : "build/examples", name);
    ck_assert_msg(access(path, X_OK) == 0, "%s is not built", path);
    cli_exec(NULL, 0, argv, &r);
    ck_assert_msg(r.rc == 0, "%s: exit %d: %s", name, r.rc, r.err);
    ck_assert_msg(strstr(r.out, want) != NULL, "%s printed \"%s\"", name, r.out);
    free(r.out);
}

START_TEST(example_hello)
{
    cli_example("hello", NULL, NULL, "Hello, world!\n");
}
END_TEST

START_TEST(example_producer_consumer)
{
    cli_example("producer_consumer", NULL, NULL, "3 consumers squared 20 numbers: sum 2870 (ok)");
    cli_example("producer_consumer", "5", "100", "sum 338350 (ok)");
}
END_TEST

START_TEST(example_ring)
{
    cli_example("ring", NULL, NULL, "token passed 12 times around a ring of 4 processes");
    cli_example("ring", "6", "5", "token passed 30 times");
}
END_TEST

/* ---- exported symbols ---- */

START_TEST(exported_symbols)
{
    const char *dir = getenv("NWS_BIN_DIR");
    char        cmd[1024], line[512], type[8], name[400];
    FILE       *fp;
    int         n = 0;

    snprintf(cmd, sizeof(cmd), "nm -D --defined-only '%s/../lib/libnws.so'",
             dir != NULL ? dir : "build/bin");
    fp = popen(cmd, "r");
    ck_assert_ptr_nonnull(fp);
    while (fgets(line, sizeof(line), fp) != NULL) {
        ck_assert_msg(sscanf(line, "%*s %7s %399s", type, name) == 2, "nm: %s", line);
        ck_assert_msg(strncmp(name, "nws_", 4) == 0, "libnws.so exports %s", name);
        n++;
    }
    ck_assert_int_eq(pclose(fp), 0);
    ck_assert_int_gt(n, 50); /* the whole API is there */
}
END_TEST

/* -t takes fractions of a second, and giving up has its own exit status,
 * 3, not the 2 of any error. */
START_TEST(timeout_fractional_and_own_status)
{
    struct cli_res r;

    cli_check(0, "", "-t", "1.5", "store", "tw", "x", "v", NULL);
    cli_check(0, "v", "-t", "0.5", "fetch", "tw", "x", NULL);
    cli_nws(&r, NULL, 0, "-t", "0.3", "fetch", "tw", "x", NULL); /* nothing comes */
    ck_assert_msg(r.rc == 3, "a timed-out fetch exits %d: %s", r.rc, r.err);
    ck_assert_msg(strstr(r.err, "nws: fetch: ") != NULL, "stderr: %s", r.err);
    free(r.out);
    cli_check(2, "", "-t", "0", "ls", NULL);
    cli_check(2, "", "-t", "1s", "ls", NULL);
    cli_check(2, "", "-t", "-1", "ls", NULL);
}
END_TEST

/* nws info: the server's figures, read from the server itself. */
START_TEST(info_figures)
{
    struct cli_res r;
    char           want[64];

    cli_check(0, "", "store", "iw", "a", "1", NULL);
    cli_check(0, "", "store", "iw", "b", "2", NULL);
    cli_check(0, "", "store", "iw", "b", "3", NULL);
    cli_nws(&r, NULL, 0, "info", NULL);
    ck_assert_msg(r.rc == 0, "nws info: exit %d: %s", r.rc, r.err);
    ck_assert_msg(strncmp(r.out, "version: ", 9) == 0, "%s", r.out);
    snprintf(want, sizeof(want), "\npid: %d\n", (int)cli_srv.pid);
    ck_assert_msg(strstr(r.out, want) != NULL, "no %s in %s", want + 1, r.out);
    /* __default and iw; a and b; three values.  (The connection count is
     * not checked: earlier nws runs may not have been seen leaving yet.) */
    ck_assert_msg(strstr(r.out, "\nworkspaces: 2\n") && strstr(r.out, "\nvariables: 2\n") &&
                      strstr(r.out, "\nvalues: 3\n") && strstr(r.out, "\nconnections: "),
                  "%s", r.out);
    ck_assert_msg(strstr(r.out, "\nmemory_used: ") && strstr(r.out, "\nmemory_limit: "),
                  "%s", r.out);
    free(r.out);
}
END_TEST

/* nws --version and nws-worker --version. */
START_TEST(versions)
{
    struct cli_res r;
    char           bin[512], *argv[] = {bin, (char *)"--version", NULL};

    cli_nws(&r, NULL, 0, "--version", NULL);
    ck_assert_int_eq(r.rc, 0);
    ck_assert_msg(strncmp(r.out, "nws ", 4) == 0 && strchr(r.out, '.') != NULL, "%s", r.out);
    free(r.out);
    nwstest_bin("nws-worker", bin, sizeof(bin));
    cli_exec(NULL, 0, argv, &r);
    ck_assert_int_eq(r.rc, 0);
    ck_assert_msg(strncmp(r.out, "nws-worker ", 11) == 0, "%s", r.out);
    free(r.out);
}
END_TEST

/* nws on a terminal (a pty); argv after the program, NULL-terminated.
 * TERM=dumb: libedit then redraws a changed line whole after a carriage
 * return, which reads as text without a terminal emulator. */
static void
cli_tty(struct ptyproc *p, const char *home, ...)
{
    char       *argv[16], bin[512], port[32], homeenv[300];
    const char *env[] = {"NWS_HOST=127.0.0.1", port, homeenv, "TERM=dumb", NULL};
    va_list     ap;
    int         n = 0;

    argv[n++] = (char *)nwstest_bin("nws", bin, sizeof(bin));
    va_start(ap, home);
    while (n < 15 && (argv[n] = va_arg(ap, char *)) != NULL)
        n++;
    va_end(ap);
    argv[n] = NULL;
    snprintf(port, sizeof(port), "NWS_PORT=%d", cli_srv.port);
    snprintf(homeenv, sizeof(homeenv), "HOME=%s", home ? home : "/nonexistent");
    ck_assert_int_eq(ptyproc_start(p, argv, env), 0);
}

/* For people: a value gets a newline, listings a header row, on a terminal
 * only (pipes get the bytes and rows as before: round_trips_and_exit_codes). */
START_TEST(terminal_output)
{
    struct ptyproc p;

    cli_check(0, "", "store", "tt", "x", "value", NULL);
    cli_tty(&p, NULL, "fetch", "tt", "x", NULL);
    ck_assert_int_eq(ptyproc_wait(&p, 10000), 0);
    ck_assert_msg(strcmp(p.out, "value\r\n") == 0, "fetch on a terminal: \"%s\"", p.out);
    ptyproc_free(&p);
    cli_tty(&p, NULL, "ls", NULL);
    ck_assert_int_eq(ptyproc_wait(&p, 10000), 0);
    ck_assert_msg(strncmp(p.out, "NAME\tOWNER\tPERSISTENT\tVARS\tVARIABLES\r\n", 38) == 0,
                  "ls on a terminal: \"%s\"", p.out);
    ptyproc_free(&p);
    cli_tty(&p, NULL, "vars", "tt", NULL);
    ck_assert_int_eq(ptyproc_wait(&p, 10000), 0);
    ck_assert_msg(strcmp(p.out, "NAME\tVALUES\tFETCHERS\tFINDERS\tMODE\r\n"
                                "x\t0\t0\t0\tfifo\r\n") == 0,
                  "vars on a terminal: \"%s\"", p.out);
    ptyproc_free(&p);
}
END_TEST

/*
 * `nws` alone on a terminal: a prompt; Tab completes commands, workspace and
 * variable names (from the server) and modes; the commands run; history is
 * kept in ~/.nws_history; quit ends it with status 0.
 */
START_TEST(interactive_mode)
{
    struct ptyproc p;
    char           home[] = "/tmp/nwstest.home.XXXXXX", prompt[64], path[300], *hist;
    FILE          *f;
    long           n;

    ck_assert_ptr_nonnull(mkdtemp(home));
    cli_check(0, "", "store", "jobs", "todo", "first", NULL);
    cli_check(0, "", "store", "jobs", "total", "3", NULL);
    cli_check(0, "", "store", "other", "x", "1", NULL);
    snprintf(prompt, sizeof(prompt), "nws 127.0.0.1:%d> ", cli_srv.port);
    cli_tty(&p, home, NULL);
    ck_assert_msg(ptyproc_expect(&p, prompt, 10000), "no prompt: \"%s\"", p.out);
    /* A command name, then a workspace name, completed. */
    ptyproc_send(&p, "fe\t");
    ck_assert_msg(ptyproc_expect(&p, "fetch", 5000), "command not completed: \"%s\"",
                  p.out + p.mark);
    ptyproc_send(&p, "-try jo\t");
    ck_assert_msg(ptyproc_expect(&p, "jobs ", 5000), "workspace not completed: \"%s\"",
                  p.out + p.mark);
    /* Two variables start with "t": Tab adds their common part, a second
     * Tab lists them. */
    ptyproc_send(&p, "t\t");
    ck_assert_msg(ptyproc_expect(&p, "o", 5000), "no common part: \"%s\"", p.out + p.mark);
    ptyproc_send(&p, "\t");
    ck_assert_msg(ptyproc_expect(&p, "todo  total", 5000), "no list: \"%s\"",
                  p.out + p.mark);
    ptyproc_send(&p, "d\t\r");
    ck_assert_msg(ptyproc_expect(&p, "first\r\n", 5000), "fetch-try jobs todo: \"%s\"",
                  p.out + p.mark);
    ck_assert(ptyproc_expect(&p, prompt, 5000));
    /* An error does not end the session. */
    ptyproc_send(&p, "frobnicate\r");
    ck_assert(ptyproc_expect(&p, "unknown command frobnicate", 5000));
    ck_assert(ptyproc_expect(&p, prompt, 5000));
    ptyproc_send(&p, "declare jobs m s\t\r");
    ck_assert(ptyproc_expect(&p, prompt, 5000));
    ptyproc_send(&p, "quit\r");
    ck_assert_int_eq(ptyproc_wait(&p, 10000), 0);
    ptyproc_free(&p);
    cli_check(0, "m\t0\t0\t0\tsingle\ntodo\t0\t0\t0\tfifo\ntotal\t1\t0\t0\tfifo\n", "vars",
              "jobs", NULL);
    /* The history file has the lines, for the next session's up-arrow. */
    snprintf(path, sizeof(path), "%s/.nws_history", home);
    f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    hist = malloc(65536);
    n = (long)fread(hist, 1, 65535, f);
    hist[n > 0 ? n : 0] = '\0';
    fclose(f);
    ck_assert_msg(strstr(hist, "fetch-try\\040jobs\\040todo") != NULL, "history: %s", hist);
    free(hist);
    unlink(path);
    rmdir(home);
}
END_TEST

NWSTEST_SUITE(cli)
{
    Suite *s = suite_create("cli");
    TCase *tc = tcase_create("nws");

    tcase_add_checked_fixture(tc, cli_setup, cli_teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, round_trips_and_exit_codes);
    tcase_add_test(tc, usage_errors);
    tcase_add_test(tc, help_everywhere);
    tcase_add_test(tc, binary_stdin);
    tcase_add_test(tc, strings_interoperate);
    tcase_add_test(tc, never_owns);
    tcase_add_test(tc, watch_follows);
    tcase_add_test(tc, timeout_fractional_and_own_status);
    tcase_add_test(tc, versions);
    tcase_add_test(tc, info_figures);
    suite_add_tcase(s, tc);

    tc = tcase_create("terminal");
    tcase_add_checked_fixture(tc, cli_setup, cli_teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, terminal_output);
    tcase_add_test(tc, interactive_mode);
    suite_add_tcase(s, tc);

    tc = tcase_create("examples");
    tcase_add_checked_fixture(tc, cli_setup, cli_teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, example_hello);
    tcase_add_test(tc, example_producer_consumer);
    tcase_add_test(tc, example_ring);
    suite_add_tcase(s, tc);

    tc = tcase_create("symbols");
    tcase_add_test(tc, exported_symbols);
    suite_add_tcase(s, tc);
    return s;
}
