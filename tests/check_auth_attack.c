/*
 * check_auth_attack.c -- "Trust under attack", item 1: another local user
 * must not make a sleigh's workers run anything.
 *
 * The intruder is a child of the test that drops to uid/gid 65534 with no
 * supplementary groups (what setpriv --reuid=65534 --regid=65534
 * --clear-groups does), then does what the issue describes: it reads the
 * port and the workspace from the workers' command lines in /proc, as ps
 * does, connects, does `use ws` and stores a command task with the request
 * metadata of a batch (batchId, nwsFirst, nwsCount) that would write a
 * marker file.  Each test asserts that the intruder was refused at the
 * handshake, that the marker never appeared, that the secret is on no
 * command line and in no environment, and that the sleigh still finished
 * all its inputs.  Every run uses the defaults (no --auth-file, no
 * NWS_AUTH_FILE) with HOME pointing at a private directory, so the secret is
 * $HOME/.nws/secret as it would be for a user.
 *
 * Covered: the sleigh CLI with its private server; the sleigh CLI against
 * an nwsserver started with its defaults; the C Sleigh API against such a
 * server; and the other way round, another user's --no-auth server
 * squatting the default port, which neither the sleigh CLI nor the C API
 * may give workers to when no server was named.  The tests need root (to
 * become another user): without it they pass after printing
 * "SKIPPED: <reason>".
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "nws.h"
#include "nws_sleigh.h"
#include "nwstest.h"
#include "rawc.h"
#include "util.h"

#define ATK_UID 65534

/* The intruder's exit statuses. */
enum {
    ATK_REFUSED = 10,  /* F000 or closed at the handshake: what must happen */
    ATK_STORED = 20,   /* the task was stored: the hole is open */
    ATK_NOWORKER = 2,  /* no worker of the master found (a test problem) */
    ATK_NOPRIV = 4,    /* could not become uid 65534 */
    ATK_NOCONNECT = 3, /* the port did not answer */
    ATK_OTHER = 30     /* past the handshake, but the store failed */
};

static char atk_dir[64];  /* private: home/, the marker, the go file */
static char atk_home[96];
static char atk_marker[128];

/* 1 if the test cannot run here (reason printed), else 0. */
static int
atk_skip(const char *test)
{
    if (geteuid() != 0) {
        printf("SKIPPED: auth_attack %s: not root, so cannot run an intruder as uid %d\n",
               test, ATK_UID);
        fflush(stdout);
        return 1;
    }
    return 0;
}

/* Fixture: a private directory and HOME; the defaults, so no NWS_AUTH_FILE. */
static void
atk_setup(void)
{
    snprintf(atk_dir, sizeof(atk_dir), "/tmp/nwsatk.XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(atk_dir));
    snprintf(atk_home, sizeof(atk_home), "%s/home", atk_dir);
    ck_assert_int_eq(mkdir(atk_home, 0700), 0);
    snprintf(atk_marker, sizeof(atk_marker), "%s/intruder-was-here", atk_dir);
    setenv("HOME", atk_home, 1);
    unsetenv("NWS_AUTH_FILE");
    unsetenv("NWS_HOST");
    unsetenv("NWS_PORT");
}

static void
atk_teardown(void)
{
    char cmd[128];

    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", atk_dir);
    if (system(cmd) != 0)
        fprintf(stderr, "cannot remove %s\n", atk_dir);
}

/* Reads /proc/pid/name (NUL-separated) into buf; its length, or -1. */
static ssize_t
atk_proc_read(long pid, const char *name, char *buf, size_t len)
{
    char    path[64];
    int     fd;
    ssize_t n;

    snprintf(path, sizeof(path), "/proc/%ld/%s", pid, name);
    if ((fd = open(path, O_RDONLY)) < 0)
        return -1;
    n = read(fd, buf, len - 1);
    close(fd);
    if (n >= 0)
        buf[n] = '\0';
    return n;
}

/* The parent pid of pid, or -1. */
static long
atk_ppid(long pid)
{
    char  buf[512], *p;
    long  ppid;

    if (atk_proc_read(pid, "stat", buf, sizeof(buf)) <= 0 || (p = strrchr(buf, ')')) == NULL ||
        sscanf(p + 1, " %*c %ld", &ppid) != 1)
        return -1;
    return ppid;
}

/* 1 if master is pid's parent or grandparent. */
static int
atk_descends(long pid, long master)
{
    long p = atk_ppid(pid);

    return p == master || (p > 1 && atk_ppid(p) == master);
}

/*
 * The intruder's reconnaissance, as ps -eo args shows it: an nws-worker
 * below master with --port P --workspace W.  1 (port, ws filled), or 0.
 */
static int
atk_find_worker(long master, int *port, char *ws, size_t wslen)
{
    DIR           *d = opendir("/proc");
    struct dirent *de;
    char           args[8192], *a, *prev = NULL;
    ssize_t        n;
    long           pid;
    int            found = 0;

    if (d == NULL)
        return 0;
    while (!found && (de = readdir(d)) != NULL) {
        if ((pid = strtol(de->d_name, &a, 10)) <= 0 || *a != '\0' ||
            (n = atk_proc_read(pid, "cmdline", args, sizeof(args))) <= 0 ||
            strstr(args, "nws-worker") == NULL || !atk_descends(pid, master))
            continue;
        *port = 0;
        ws[0] = '\0';
        prev = NULL;
        for (a = args; a < args + n; a += strlen(a) + 1) {
            if (prev != NULL && strcmp(prev, "--port") == 0)
                *port = atoi(a);
            if (prev != NULL && strcmp(prev, "--workspace") == 0)
                snprintf(ws, wslen, "%s", a);
            prev = a;
        }
        found = *port > 0 && ws[0] != '\0';
    }
    closedir(d);
    return found;
}

/* Reads one short reply; its status, or -1. */
static int
atk_status(struct rawc *c)
{
    struct rawc_reply r;
    int               st;

    if (rawc_read_short(c, &r) != 0)
        return -1;
    st = r.status;
    rawc_reply_free(&r);
    return st;
}

/*
 * The intruder, in a forked child: never returns; exits with ATK_*.
 *
 * Its reconnaissance (what ps -eo args shows every user on a stock system)
 * is done before it drops to uid 65534, so that the attack itself still runs
 * where that uid cannot reach /proc or the build tree: fresh-debian's chroot,
 * whose root directory is mode 0700.  The attack (connect, handshake, store)
 * needs no file at all.
 */
static void
atk_intruder(long master)
{
    static const char *const opts[] = {"MetadataToServer", "1", "MetadataFromServer", "1",
                                       NULL};
    struct rawc              c;
    char                     ws[256], task[512], *meta, *none;
    double                   deadline;
    int                      port = 0, rc;

    alarm(60);
    deadline = nwsp_mono() + 40;
    while (!atk_find_worker(master, &port, ws, sizeof(ws))) {
        if (nwsp_mono() > deadline)
            _exit(ATK_NOWORKER);
        usleep(20000);
    }
    if (setgroups(0, NULL) != 0 || setresgid(ATK_UID, ATK_UID, ATK_UID) != 0 ||
        setresuid(ATK_UID, ATK_UID, ATK_UID) != 0 || geteuid() != ATK_UID)
        _exit(ATK_NOPRIV);
    if (rawc_open(&c, port, RAWC_NONE) != 0)
        _exit(ATK_NOCONNECT);
    rc = rawc_hs_new(&c, opts);
    if (rc != 0)
        _exit(ATK_REFUSED);
    none = rawc_dict_new(NULL);
    meta = rawc_dict_new("batchId", "intruder", "nwsFirst", "0", "nwsCount", "1", NULL);
    snprintf(task, sizeof(task),
             "{\"kind\":\"command\",\"argv\":[\"sh\",\"-c\",\"id > %s\"],\"args\":[[\"x\"]]}",
             atk_marker);
    if (rawc_sendv(&c, none, "use ws", ws, "", "no", NULL) != 0 || atk_status(&c) != 0 ||
        rawc_sendv(&c, meta, "store", ws, "task", "1", task, NULL) != 0 ||
        atk_status(&c) != 0)
        _exit(ATK_OTHER);
    _exit(ATK_STORED);
}

/* Forks the intruder against the workers below master; its pid. */
static pid_t
atk_intruder_start(long master)
{
    pid_t pid = fork();

    ck_assert_int_ge(pid, 0);
    if (pid == 0)
        atk_intruder(master);
    return pid;
}

/* Waits for the intruder and asserts it was refused at the handshake. */
static void
atk_intruder_refused(pid_t pid)
{
    int st;

    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    ck_assert_msg(WIFEXITED(st), "the intruder died: wait status %d", st);
    ck_assert_msg(WEXITSTATUS(st) != ATK_NOWORKER && WEXITSTATUS(st) != ATK_NOPRIV &&
                      WEXITSTATUS(st) != ATK_NOCONNECT,
                  "the intruder could not try (status %d): a test problem",
                  WEXITSTATUS(st));
    ck_assert_msg(WEXITSTATUS(st) == ATK_REFUSED,
                  "the intruder got past the handshake (status %d: %s)", WEXITSTATUS(st),
                  WEXITSTATUS(st) == ATK_STORED ? "its task was stored" : "store failed");
}

/* Asserts the intruder's task never ran (no marker file). */
static void
atk_nothing_ran(void)
{
    ck_assert_msg(access(atk_marker, F_OK) != 0, "the intruder's command ran: %s exists",
                  atk_marker);
}

/*
 * Asserts the secret of $HOME/.nws/secret (which must exist) is on no
 * process's command line and in no process's environment.
 */
static void
atk_secret_hidden(void)
{
    char  path[160], secret[128];
    FILE *fp;
    pid_t pid;

    snprintf(path, sizeof(path), "%s/.nws/secret", atk_home);
    ck_assert_ptr_nonnull(fp = fopen(path, "r"));
    ck_assert_ptr_nonnull(fgets(secret, sizeof(secret), fp));
    fclose(fp);
    secret[strcspn(secret, "\n")] = '\0';
    ck_assert_int_eq(strlen(secret), 64);
    pid = nwstest_proc_holding(secret);
    ck_assert_msg(pid == 0, "the secret is on the command line or in the environment "
                            "of pid %ld", (long)pid);
}

/* A TCP port of 127.0.0.1 nothing listens on (bound, then released). */
static int
atk_closed_port(void)
{
    struct sockaddr_in sa;
    socklen_t          sl = sizeof(sa);
    int                fd = socket(AF_INET, SOCK_STREAM, 0), port;

    ck_assert_int_ge(fd, 0);
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
    port = ntohs(sa.sin_port);
    close(fd);
    return port;
}

/*
 * The sleigh: sleigh -j 2 over the inputs 1..40; input 40 waits
 * for the go file, so the sleigh is still running while the intruder
 * tries.  Its standard output goes to out.  Returns its pid.
 */
static pid_t
atk_sleigh_start(int out)
{
    char  bin[512], cmd[256], num[40][12];
    const char *argv[60];
    int         n = 0, i;
    pid_t pid;

    snprintf(cmd, sizeof(cmd),
             "if [ {} = 40 ]; then while [ ! -e %s/go ]; do sleep 0.02; done; fi; echo {}",
             atk_dir);
    argv[n++] = nwstest_bin("sleigh", bin, sizeof(bin));
    argv[n++] = "-j";
    argv[n++] = "2";
    argv[n++] = cmd;
    argv[n++] = ":::";
    for (i = 0; i < 40; i++) {
        snprintf(num[i], sizeof(num[i]), "%d", i + 1);
        argv[n++] = num[i];
    }
    argv[n] = NULL;
    ck_assert_int_ge(pid = fork(), 0);
    if (pid == 0) {
        dup2(out, 1);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    return pid;
}

/* Lets input 40 finish, waits for the sleigh and checks its 40 lines. */
static void
atk_sleigh_finish(pid_t pid, int out)
{
    char        path[128], buf[4096], *line, *save = NULL;
    int         seen[41] = {0}, st = 0, i, v, fd;
    double      deadline = nwsp_mono() + 120;
    struct stat sb;
    ssize_t     n;

    snprintf(path, sizeof(path), "%s/go", atk_dir);
    ck_assert_int_ge(fd = open(path, O_CREAT | O_WRONLY, 0600), 0);
    close(fd);
    while (waitpid(pid, &st, WNOHANG) == 0) {
        if (nwsp_mono() > deadline) {
            kill(pid, SIGKILL);
            waitpid(pid, &st, 0);
            ck_abort_msg("the sleigh did not finish");
        }
        usleep(20000);
    }
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "sleigh: wait status %d", st);
    ck_assert_int_eq(fstat(out, &sb), 0);
    ck_assert_int_lt(sb.st_size, (off_t)sizeof(buf));
    n = pread(out, buf, sizeof(buf) - 1, 0);
    ck_assert_int_eq(n, sb.st_size);
    buf[n] = '\0';
    for (line = strtok_r(buf, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save)) {
        v = atoi(line);
        ck_assert_msg(v >= 1 && v <= 40 && !seen[v], "unexpected output line: %s", line);
        seen[v] = 1;
    }
    for (i = 1; i <= 40; i++)
        ck_assert_msg(seen[i], "input %d has no output", i);
}

/* The sleigh CLI against server port (0: none, so it starts its private one). */
static void
atk_cli(int port)
{
    char  num[16];
    int   out = nwstest_tmpfile();
    pid_t sleigh, intruder;

    snprintf(num, sizeof(num), "%d", port > 0 ? port : atk_closed_port());
    setenv("NWS_HOST", "127.0.0.1", 1);
    setenv("NWS_PORT", num, 1);
    sleigh = atk_sleigh_start(out);
    intruder = atk_intruder_start(sleigh);
    atk_intruder_refused(intruder);
    atk_secret_hidden();
    atk_sleigh_finish(sleigh, out);
    close(out);
    atk_nothing_ran();
}

START_TEST(cli_private_server)
{
    if (atk_skip("cli_private_server"))
        return;
    atk_cli(0);
}
END_TEST

START_TEST(cli_default_server)
{
    struct nwstest_server s;

    if (atk_skip("cli_default_server"))
        return;
    ck_assert_int_eq(nwstest_server_start_defaults(&s, NULL), 0);
    atk_cli(s.port);
    ck_assert_int_eq(nwstest_server_stop(&s), 0);
}
END_TEST

START_TEST(c_master_default_server)
{
    struct nwstest_server s;
    nws_sleigh_options    opt;
    nws_sleigh           *sl;
    nws_error             err;
    json_t               *task, *args, *r;
    char                  module[512];
    const char           *dir = getenv("NWS_MODULES_DIR");
    pid_t                 intruder;

    if (atk_skip("c_master_default_server"))
        return;
    ck_assert_int_eq(nwstest_server_start_defaults(&s, NULL), 0);
    snprintf(module, sizeof(module), "%s/sleigh_test.so", dir != NULL ? dir : "build/modules");
    nws_sleigh_options_init(&opt);
    opt.host = "127.0.0.1";
    opt.port = s.port;
    opt.workers = 2;
    sl = nws_sleigh_new(&opt, &err);
    ck_assert_msg(sl != NULL, "%s", err.text);
    ck_assert_int_eq(nws_sleigh_wait_workers(sl, 2, 30, &err), 2);
    /* Idle workers: a task the intruder stored would be the next they take. */
    intruder = atk_intruder_start((long)getpid());
    atk_intruder_refused(intruder);
    atk_secret_hidden();
    task = nws_sleigh_call(module, "cube");
    args = json_pack("[[i,i,i]]", 1, 2, 3);
    r = nws_sleigh_each_elem(sl, task, args, NULL, NULL, &err);
    ck_assert_msg(r != NULL, "%s", err.text);
    ck_assert_int_eq(json_integer_value(json_array_get(r, 2)), 27);
    json_decref(r);
    json_decref(args);
    json_decref(task);
    ck_assert_int_eq(nws_sleigh_stop(sl, &err), 0);
    nws_sleigh_free(sl);
    ck_assert_int_eq(nwstest_server_stop(&s), 0);
    atk_nothing_ran();
}
END_TEST

/*
 * Starts nwsserver --no-auth on 127.0.0.1:8765 as uid 65534 (drop) or as
 * ourselves: another user squatting the default port of a shared machine.
 * Its pid, or 0 when the port is taken (the caller skips).  Where uid 65534
 * cannot reach the build tree (fresh-debian's chroot, whose root directory
 * is mode 0700), it runs as ourselves: what the client must refuse is a
 * server that never asked for its secret, whoever runs it.
 */
static pid_t
atk_squatter_start(int drop)
{
    struct sockaddr_in sa;
    char               bin[512], dir[128], line[256] = "";
    int                fd, one = 1, p[2], st;
    pid_t              pid;
    FILE              *fp;

    ck_assert_int_ge(fd = socket(AF_INET, SOCK_STREAM, 0), 0);
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    sa.sin_port = htons(NWS_DEFAULT_PORT);
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        close(fd);
        return 0;
    }
    close(fd);
    snprintf(dir, sizeof(dir), "%s/squat", atk_dir);
    ck_assert(mkdir(dir, 0700) == 0 || errno == EEXIST);
    ck_assert_int_eq(chown(dir, ATK_UID, ATK_UID), 0);
    ck_assert_int_eq(chmod(atk_dir, 0711), 0);
    nwstest_bin("nwsserver", bin, sizeof(bin));
    ck_assert_int_eq(pipe(p), 0);
    ck_assert_int_ge(pid = fork(), 0);
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        dup2(p[1], 1);
        close(p[0]);
        close(p[1]);
        if (drop && (setgroups(0, NULL) != 0 || setresgid(ATK_UID, ATK_UID, ATK_UID) != 0 ||
                     setresuid(ATK_UID, ATK_UID, ATK_UID) != 0))
            _exit(126);
        if (drop && (access(bin, X_OK) != 0 || access(dir, W_OK) != 0))
            _exit(125);
        execl(bin, bin, "--no-auth", "--bind", "127.0.0.1", "--port", "8765", "--web-port",
              "0", "--tmpdir", dir, "--log-level", "error", (char *)NULL);
        _exit(127);
    }
    close(p[1]);
    ck_assert_ptr_nonnull(fp = fdopen(p[0], "r"));
    if (fgets(line, sizeof(line), fp) == NULL && drop && waitpid(pid, &st, 0) == pid &&
        WIFEXITED(st) && WEXITSTATUS(st) == 125) {
        fclose(fp);
        printf("auth_attack: uid %d cannot reach %s here: the squatter runs as uid %d\n",
               ATK_UID, bin, (int)getuid());
        fflush(stdout);
        return atk_squatter_start(0);
    }
    ck_assert_msg(strstr(line, " port=8765 ") != NULL, "the squatter did not start");
    fclose(fp);
    return pid;
}

/*
 * Nobody names a server: the sleigh CLI and the C Sleigh API look at
 * localhost:8765, where another user's --no-auth server waits for workers
 * to feed.  The CLI must use a private server instead, the API refuse.
 */
START_TEST(squatter_on_default_port)
{
    nws_sleigh_options opt;
    nws_sleigh        *sl;
    nws_error          err;
    char               bin[512], out[4096], errtxt[4096];
    int                fo = nwstest_tmpfile(), fe = nwstest_tmpfile(), st;
    pid_t              squat, pid;
    ssize_t            n;

    if (atk_skip("squatter_on_default_port"))
        return;
    if ((squat = atk_squatter_start(1)) == 0) {
        printf("SKIPPED: auth_attack squatter_on_default_port: port 8765 is taken\n");
        fflush(stdout);
        return;
    }
    nwstest_bin("sleigh", bin, sizeof(bin));
    ck_assert_int_ge(pid = fork(), 0);
    if (pid == 0) {
        dup2(fo, 1);
        dup2(fe, 2);
        execl(bin, bin, "-j", "2", "echo {}", ":::", "1", "2", "3", (char *)NULL);
        _exit(127);
    }
    alarm(120);
    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    alarm(0);
    n = pread(fe, errtxt, sizeof(errtxt) - 1, 0);
    errtxt[n > 0 ? n : 0] = '\0';
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "sleigh: status %d: %s", st,
                  errtxt);
    ck_assert_msg(strstr(errtxt, "asks for no secret") != NULL, "no warning: %s", errtxt);
    n = pread(fo, out, sizeof(out) - 1, 0);
    out[n > 0 ? n : 0] = '\0';
    /* Each input once, in whatever order they finished. */
    ck_assert_int_eq(strlen(out), 6);
    ck_assert_msg(strstr(out, "1\n") && strstr(out, "2\n") && strstr(out, "3\n"), "%s", out);

    nws_sleigh_options_init(&opt);
    opt.workers = 1;
    sl = nws_sleigh_new(&opt, &err);
    if (sl != NULL) {
        nws_sleigh_stop(sl, NULL);
        nws_sleigh_free(sl);
    }
    ck_assert_msg(sl == NULL, "the C Sleigh API gave workers to the squatter");
    ck_assert_msg(strstr(err.text, "asks for no secret") != NULL, "%s", err.text);
    kill(squat, SIGTERM);
    waitpid(squat, NULL, 0);
    close(fo);
    close(fe);
}
END_TEST

NWSTEST_SUITE(auth_attack)
{
    Suite *s = suite_create("auth_attack");
    TCase *tc = tcase_create("intruder");

    tcase_add_checked_fixture(tc, atk_setup, atk_teardown);
    tcase_set_timeout(tc, 150);
    tcase_add_test(tc, cli_private_server);
    tcase_add_test(tc, cli_default_server);
    tcase_add_test(tc, c_master_default_server);
    tcase_add_test(tc, squatter_on_default_port);
    suite_add_tcase(s, tc);
    return s;
}
