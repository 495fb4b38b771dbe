/*
 * check_sleigh_transfer.c -- the sleigh command's files to and from the
 * workers (--transferfile/--transfer, --return, --cleanup, --trc,
 * --basefile), moved through the nws server.
 *
 * tcase "local": workers on this machine, with their own $TMPDIR (the
 * "node"), the command in a private directory there: files go and come
 * back byte for byte, a path that would leave either directory is refused
 * (.., absolute, a symbolic link made by the command), --cleanup leaves
 * the node empty, and a file larger than the memory the server may use
 * goes through whole while neither sleigh nor the worker grows with it.
 *
 * tcase "netns": the four network-namespace hosts of the launch tests
 * (check_launch_netns.c has the scheme: same lock, same nwst- names), an
 * sshd each, workers started over ssh and reaching sleigh's private
 * server through the ssh connections only (tunnel mode): 100 files of
 * 1 MB in, each copied back and its checksum taken on the node, all equal,
 * every host used, and nothing left in any host's $TMPDIR after --cleanup.
 * It needs root (namespaces) and sshd; elsewhere it prints "SKIPPED:".
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "nwstest.h"
#include "sleighp.h"
#include "sshtest.h"
#include "util.h"

#define ST_RUN_TIMEOUT_S 90

static struct nwstest_server st_srv;
static char                  st_dir[128];  /* the master's directory */
static char                  st_node[160]; /* the local workers' $TMPDIR */

/* What one run of sleigh gave. */
struct st_res {
    int   rc;
    char *out, *err;
    long  maxrss_kb; /* sleigh's peak resident size */
};

/* Runs a shell command; asserts it succeeded. */
static void st_sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void
st_sh(const char *fmt, ...)
{
    char    cmd[4096];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(cmd, sizeof(cmd), fmt, ap);
    va_end(ap);
    ck_assert_msg(system(cmd) == 0, "failed: %s", cmd);
}

/* The first line of what a shell command prints (new), or "". */
static char *st_sh_out(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *
st_sh_out(const char *fmt, ...)
{
    char    cmd[4096], line[4096] = "";
    va_list ap;
    FILE   *fp;

    va_start(ap, fmt);
    vsnprintf(cmd, sizeof(cmd), fmt, ap);
    va_end(ap);
    fp = popen(cmd, "r");
    ck_assert_ptr_nonnull(fp);
    if (fgets(line, sizeof(line), fp) == NULL)
        line[0] = '\0';
    pclose(fp);
    line[strcspn(line, "\n")] = '\0';
    return strdup(line);
}

/*
 * Runs sleigh ARGS (NULL-terminated) in st_dir, with $TMPDIR st_node, against
 * the server on port (0: none, so sleigh starts a private one).
 */
static void
st_run(struct st_res *r, int port, char *const *args)
{
    char          bin[512], portbuf[16], *argv[80];
    int           fout = nwstest_tmpfile(), ferr = nwstest_tmpfile(), st = 0, n = 0;
    double        start = nwsp_mono();
    struct rusage ru;
    pid_t         pid, got;

    argv[n++] = (char *)nwstest_bin("sleigh", bin, sizeof(bin));
    while (n < 79 && args[n - 1] != NULL) {
        argv[n] = args[n - 1];
        n++;
    }
    argv[n] = NULL;
    snprintf(portbuf, sizeof(portbuf), "%d", port);
    pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        if (chdir(st_dir) != 0)
            _exit(126);
        if (port > 0) {
            setenv("NWS_HOST", "127.0.0.1", 1);
            setenv("NWS_PORT", portbuf, 1);
        } else {
            unsetenv("NWS_HOST");
            setenv("NWS_PORT", "1", 1); /* nothing there: a private server */
        }
        setenv("TMPDIR", st_node, 1);
        dup2(fout, 1);
        dup2(ferr, 2);
        execv(argv[0], argv);
        _exit(127);
    }
    memset(&ru, 0, sizeof(ru));
    while ((got = wait4(pid, &st, WNOHANG, &ru)) == 0 &&
           nwsp_mono() - start < ST_RUN_TIMEOUT_S)
        usleep(20000);
    if (got == 0) {
        kill(pid, SIGKILL);
        wait4(pid, &st, 0, &ru);
    }
    r->rc = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    r->maxrss_kb = ru.ru_maxrss;
    r->out = nwstest_slurp(fout, NULL);
    r->err = nwstest_slurp(ferr, NULL);
    close(fout);
    close(ferr);
    ck_assert_msg(got == pid, "sleigh ran for more than %d s", ST_RUN_TIMEOUT_S);
}

/* Runs sleigh ARGS... (NULL-terminated) against the fixture's server. */
static void
st_sleigh(struct st_res *r, ...)
{
    char   *args[80];
    va_list ap;
    int     n = 0;

    va_start(ap, r);
    while (n < 79 && (args[n] = va_arg(ap, char *)) != NULL)
        n++;
    va_end(ap);
    args[n] = NULL;
    st_run(r, st_srv.port, args);
}

static void
st_free(struct st_res *r)
{
    free(r->out);
    free(r->err);
}

/* Writes len bytes of pseudo-random data (seeded) to path under st_dir. */
static void
st_make_file(const char *rel, size_t len, unsigned seed)
{
    char     path[512], buf[65536];
    size_t   i, n;
    uint32_t x = seed * 2654435761u + 1;
    int      fd;

    snprintf(path, sizeof(path), "%s/%s", st_dir, rel);
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ck_assert_int_ge(fd, 0);
    while (len > 0) {
        n = len < sizeof(buf) ? len : sizeof(buf);
        for (i = 0; i < n; i++) {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            buf[i] = (char)x;
        }
        ck_assert_int_eq(write(fd, buf, n), (ssize_t)n);
        len -= n;
    }
    close(fd);
}

/* 1 if the two files under st_dir hold the same bytes. */
static int
st_same(const char *a, const char *b)
{
    char cmd[1024];

    snprintf(cmd, sizeof(cmd), "cmp -s '%s/%s' '%s/%s'", st_dir, a, st_dir, b);
    return system(cmd) == 0;
}

/* Entries in directory path (recursively), or -1 if it does not exist. */
static int
st_entries(const char *path)
{
    struct stat st;
    char       *n;
    int         k;

    if (stat(path, &st) != 0)
        return -1;
    n = st_sh_out("find '%s' -mindepth 1 | wc -l", path);
    k = atoi(n);
    free(n);
    return k;
}

static void
st_setup(void)
{
    const char *extra[] = {"--spool-threshold", "256K", "--max-memory", "24M", NULL};

    ck_assert_int_eq(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
    snprintf(st_dir, sizeof(st_dir), "/tmp/nwstest-xfer.XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(st_dir));
    snprintf(st_node, sizeof(st_node), "%s.node", st_dir);
    ck_assert_int_eq(mkdir(st_node, 0755), 0);
    ck_assert_int_eq(nwstest_server_start(&st_srv, extra), 0);
}

static void
st_teardown(void)
{
    nwstest_server_stop(&st_srv);
    st_sh("rm -rf '%s' '%s'", st_dir, st_node);
}

START_TEST(path_rules)
{
    static const struct {
        const char *path, *placed; /* placed NULL: refused */
    } cases[] = {
        {"a", "a"},
        {"in/deep/f.txt", "in/deep/f.txt"},
        {"./a", "./a"},
        {"a//b", "a//b"},
        {"/data/./in/a", "in/a"},
        {"out/./x/y.o", "x/y.o"},
        {"a..b/c..", "a..b/c.."},
        {"/etc/passwd", NULL},
        {"../up", NULL},
        {"in/../../up", NULL},
        {"in/..", NULL},
        {"/data/./../up", NULL},
        {"", NULL},
        {"dir/", NULL},
        {"dir/.", NULL},
        {".", NULL},
    };
    char   why[64];
    size_t i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *rel = nwsp_xfer_rel(cases[i].path);
        int         rc = nwsp_xfer_check(rel, why, sizeof(why));

        if (cases[i].placed != NULL) {
            ck_assert_msg(rc == 0, "%s refused: %s", cases[i].path, why);
            ck_assert_str_eq(rel, cases[i].placed);
        } else {
            ck_assert_msg(rc != 0, "%s taken as %s", cases[i].path, rel);
        }
    }
}
END_TEST

START_TEST(trc_basefile_local)
{
    struct st_res r;
    char          name[64], back[80], *sum, *line;
    int           i;

    st_sh("mkdir -p '%s/in/deep' && printf '#!/bin/sh\\ncp \"$1\" \"$1.back\" && "
          "md5sum < \"$1\" > \"$1.sum\" && pwd >> \"$1.sum\" && stat -c %%%%a . >> "
          "\"$1.sum\"\\n'"
          " > '%s/tool.sh' && chmod 755 '%s/tool.sh'",
          st_dir, st_dir, st_dir);
    for (i = 0; i < 12; i++) {
        snprintf(name, sizeof(name), "in/%sf%02d", i % 3 == 0 ? "deep/" : "", i);
        st_make_file(name, 100000 + (size_t)i * 50000,
                     (unsigned)i + 1); /* past the spool threshold too */
    }
    st_sh("cd '%s' && ls in/f* in/deep/f* > list", st_dir);
    st_sleigh(&r, "-j", "3", "--bf", "tool.sh", "--trc", "{}.back", "--return", "{}.sum",
              "-a", "list", "./tool.sh", NULL);
    ck_assert_msg(r.rc == 0, "rc %d: %s", r.rc, r.err);
    for (i = 0; i < 12; i++) {
        snprintf(name, sizeof(name), "in/%sf%02d", i % 3 == 0 ? "deep/" : "", i);
        snprintf(back, sizeof(back), "%s.back", name);
        ck_assert_msg(st_same(name, back), "%s came back different", name);
        /* The checksum taken on the node, its private directory (0700) under $TMPDIR. */
        sum = st_sh_out("md5sum < '%s/%s'", st_dir, name);
        line = st_sh_out("head -1 '%s/%s.sum'", st_dir, name);
        ck_assert_str_eq(line, sum);
        free(line);
        free(sum);
        line = st_sh_out("sed -n 2p '%s/%s.sum'", st_dir, name);
        ck_assert_msg(strncmp(line, st_node, strlen(st_node)) == 0 &&
                          strstr(line, "/nws-sleigh-") != NULL,
                      "ran in %s", line);
        free(line);
        line = st_sh_out("sed -n 3p '%s/%s.sum'", st_dir, name);
        ck_assert_str_eq(line, "700");
        free(line);
    }
    ck_assert_int_eq(st_entries(st_node), 0); /* --cleanup: nothing left on the "node" */
    st_free(&r);

    /* Without --cleanup the files stay on the node: --cleanup is what removed them. */
    st_sleigh(&r, "-j", "1", "--transfer", "--return", "{}.back", "cp", "{}", "{}.back",
              ":::", "in/f01", NULL);
    ck_assert_msg(r.rc == 0, "rc %d: %s", r.rc, r.err);
    ck_assert_int_eq(st_entries(st_node), 5); /* node dir, w0, in, in/f01, in/f01.back */
    st_free(&r);
}
END_TEST

/*
 * An input file with the name of a basefile replaces the link to the node's
 * copy in that worker's directory, as it would replace the basefile under
 * parallel; it must not write through the link into the node's copy, which
 * the node's other workers share.
 */
START_TEST(input_named_as_a_basefile)
{
    struct st_res r;
    char         *base;

    st_sh("mkdir -p '%s/in' && printf BASE > '%s/base.txt' && printf INPUT > "
          "'%s/in/base.txt' "
          "&& printf x > '%s/x1'",
          st_dir, st_dir, st_dir, st_dir);
    st_sleigh(&r, "-j", "1", "-k", "--bf", "base.txt", "--transferfile", "{}",
              "cat base.txt; echo; : {}", ":::", "x1", "in/./base.txt", NULL);
    ck_assert_msg(r.rc == 0, "rc %d: %s", r.rc, r.err);
    ck_assert_str_eq(r.out, "BASE\nINPUT\n");
    st_free(&r);
    base = st_sh_out("cat '%s'/*/base/base.txt", st_node);
    ck_assert_str_eq(base, "BASE");
    free(base);
}
END_TEST

START_TEST(paths_refused)
{
    struct st_res r;
    char          path[512], *host;
    struct stat   st;

    st_make_file("a", 10, 1);
    /* ".." and absolute returns: the element fails, its command never runs. */
    st_sleigh(&r, "-j", "1", "--cleanup", "--return", "../escaped{}", "touch",
              "../escaped{}", ":::", "1", NULL);
    ck_assert_int_eq(r.rc, 1);
    ck_assert_ptr_nonnull(strstr(r.err, "\"..\""));
    snprintf(path, sizeof(path), "%s/../escaped1", st_dir);
    ck_assert_int_ne(stat(path, &st), 0);
    st_free(&r);
    st_sleigh(&r, "-j", "1", "--cleanup", "--return", "/tmp/nwstest-xfer-abs{}", "true",
              ":::", "1", NULL);
    ck_assert_int_eq(r.rc, 1);
    ck_assert_ptr_nonnull(strstr(r.err, "absolute"));
    st_free(&r);
    /* An absolute transfer is refused; DIR/./NAME sends it as NAME. */
    st_sleigh(&r, "-j", "1", "--cleanup", "--tf", "{}", "cat", "{}",
              ":::", "/etc/hostname", NULL);
    ck_assert_int_eq(r.rc, 1);
    ck_assert_ptr_nonnull(strstr(r.err, "absolute"));
    st_free(&r);
    st_sleigh(&r, "-j", "1", "--tf", "/etc/./{}", "--cleanup", "cat", "{}",
              ":::", "hostname", NULL);
    ck_assert_msg(r.rc == 0, "rc %d: %s", r.rc, r.err);
    host = st_sh_out("cat /etc/hostname");
    ck_assert_ptr_nonnull(strstr(r.out, host));
    free(host);
    st_free(&r);
    /* A link the command makes does not lead the return out of its directory. */
    st_sleigh(&r, "-j", "1", "--return", "link/{}", "--cleanup", "ln", "-s", "/etc",
              "link", ":::", "hostname", NULL);
    ck_assert_ptr_nonnull(strstr(r.err, "not on the worker"));
    snprintf(path, sizeof(path), "%s/link/hostname", st_dir);
    ck_assert_int_ne(stat(path, &st), 0);
    st_free(&r);
    ck_assert_int_eq(st_entries(st_node), 0);
}
END_TEST

START_TEST(retried_input_sent_again)
{
    struct st_res r;
    char          cmd[512];

    /* The first attempt fails after writing a wrong result; the second gets the file anew. */
    st_make_file("r", 300000, 3);
    snprintf(
        cmd, sizeof(cmd),
        "if [ -e %s/tried ]; then cp {} {}.out; else touch %s/tried; echo bad > {}.out; "
        "rm {}; exit 1; fi",
        st_dir, st_dir);
    st_sleigh(&r, "-j", "1", "--retries", "1", "--trc", "{}.out", cmd, ":::", "r", NULL);
    ck_assert_msg(r.rc == 0, "rc %d: %s", r.rc, r.err);
    ck_assert(st_same("r", "r.out"));
    ck_assert_int_eq(st_entries(st_node), 0);
    st_free(&r);
}
END_TEST

START_TEST(large_file_streamed)
{
    struct st_res r;
    char         *hwm;

    /* 40 MB through a server allowed 24 MB: it can only go spooled, in pieces. */
    st_make_file("big", 40u << 20, 7);
    st_sleigh(&r, "-j", "1", "--trc", "{}.back", "--return", "hwm",
              "cp {} {}.back; grep VmHWM /proc/$PPID/status | tr -dc 0-9 > hwm",
              ":::", "big", NULL);
    ck_assert_msg(r.rc == 0, "rc %d: %s", r.rc, r.err);
    ck_assert(st_same("big", "big.back"));
    hwm = st_sh_out("cat '%s/hwm'", st_dir);
    /* Neither the worker (before the command ran) nor sleigh held it whole. */
    /* (Not under the sanitizers: their allocator keeps freed memory.) */
    if (getenv("ASAN_OPTIONS") == NULL) {
        ck_assert_msg(atol(hwm) > 0 && atol(hwm) < 24 * 1024, "worker peak %s kB", hwm);
        ck_assert_msg(r.maxrss_kb > 0 && r.maxrss_kb < 24 * 1024, "sleigh peak %ld kB",
                      r.maxrss_kb);
    }
    free(hwm);
    st_free(&r);
}
END_TEST

/* ---- across network-namespace hosts ---------------------------------------- */

#define STN_LOCK  "/tmp/nwstest-netns.lock" /* the launch tests' */
#define STN_HOSTS 4

static struct sshtest_env  stn_env;
static struct sshtest_sshd stn_sshd[STN_HOSTS];
static int                 stn_net;
static char                stn_why[256];
static int                 stn_lock_fd = -1;
static int                 stn_atexit;

/* Removes every namespace and link named nwst-* (and what runs there). */
static void
stn_cleanup(void)
{
    int i;

    for (i = 0; i < STN_HOSTS; i++)
        sshtest_sshd_stop(&stn_sshd[i]);
    sshtest_netns_cleanup("nwst-");
}

static void
stn_setup(void)
{
    double deadline;
    int    x;

    unsetenv("SSH_AUTH_SOCK");
    memset(stn_sshd, 0, sizeof(stn_sshd));
    memset(&st_srv, 0, sizeof(st_srv));
    stn_why[0] = '\0';
    ck_assert_int_eq(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
    snprintf(st_dir, sizeof(st_dir), "/tmp/nwstest-xfer.XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(st_dir));
    snprintf(st_node, sizeof(st_node), "%s.node", st_dir);
    ck_assert_int_eq(mkdir(st_node, 0755), 0);
    if (geteuid() != 0) {
        snprintf(stn_why, sizeof(stn_why), "needs root for network namespaces");
        return;
    }
    if (!sshtest_available(stn_why, sizeof(stn_why)))
        return;
    if (sshtest_sh("ip netns list >/dev/null 2>&1") != 0) {
        snprintf(stn_why, sizeof(stn_why), "ip netns does not work here (iproute2?)");
        return;
    }
    /* The launch tests' lock: one run at a time makes nwst- namespaces. */
    stn_lock_fd = open(STN_LOCK, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    ck_assert_int_ge(stn_lock_fd, 0);
    deadline = sshtest_now() + 120;
    while (flock(stn_lock_fd, LOCK_EX | LOCK_NB) != 0) {
        ck_assert_msg(sshtest_now() < deadline, "another test run holds %s", STN_LOCK);
        usleep(100000);
    }
    if (!stn_atexit) {
        atexit(stn_cleanup);
        stn_atexit = 1;
    }
    stn_cleanup();
    for (x = 77, stn_net = -1; x < 250 && stn_net < 0; x++)
        if (sshtest_sh("ip -4 -o addr show | grep -q ' 10\\.213\\.%d\\.' || "
                       "ip -4 route show | grep -q '^10\\.213\\.%d\\.'",
                       x, x) != 0)
            stn_net = x;
    ck_assert_msg(stn_net > 0, "no free /24 in 10.213.0.0/16");
    ck_assert_int_eq(sshtest_env_make(&stn_env), 0);
}

static void
stn_teardown(void)
{
    if (stn_why[0] == '\0') {
        stn_cleanup();
        sshtest_env_free(&stn_env);
    }
    if (stn_lock_fd >= 0) {
        close(stn_lock_fd); /* the lock goes with it */
        stn_lock_fd = -1;
    }
    st_sh("rm -rf '%s' '%s'", st_dir, st_node);
}

/* Hosts nwst-h1..4 on a bridge, an sshd each, in the ssh config. */
static void
stn_hosts_up(void)
{
    char addr[32], alias[32];
    int  i;

    ck_assert_int_eq(
        sshtest_sh("ip link add nwst-br type bridge && ip link set nwst-br up "
                   "&& ip addr add 10.213.%d.1/24 dev nwst-br",
                   stn_net),
        0);
    for (i = 1; i <= STN_HOSTS; i++) {
        snprintf(addr, sizeof(addr), "10.213.%d.%d", stn_net, 10 + i);
        ck_assert_msg(
            sshtest_sh("ip netns add nwst-h%d && ip -n nwst-h%d link set lo up && "
                       "ip link add nwst-v%d type veth peer name eth0 netns "
                       "nwst-h%d && ip link set nwst-v%d master nwst-br up && "
                       "ip -n nwst-h%d addr add %s/24 dev eth0 && "
                       "ip -n nwst-h%d link set eth0 up",
                       i, i, i, i, i, i, addr, i) == 0,
            "cannot make host %d", i);
        snprintf(alias, sizeof(alias), "nwst-h%d", i);
        ck_assert_msg(sshtest_sshd_start(&stn_env, &stn_sshd[i - 1], alias, addr, 22) ==
                          0,
                      "no sshd on %s", alias);
        ck_assert_int_eq(sshtest_known_host(&stn_env, addr, 22, NULL), 0);
        ck_assert_int_eq(sshtest_config_host(&stn_env, alias, addr, 22, NULL), 0);
    }
}

START_TEST(netns_100_files)
{
    struct st_res r;
    char          wrapper[512], worker[512], name[64], *line, *sum;
    char          nodes[128];
    double        t0, t1;
    int           i, hosts = 0;

    if (stn_why[0] != '\0') {
        printf("SKIPPED: sleigh_transfer netns_100_files: %s\n", stn_why);
        fflush(stdout);
        return;
    }
    stn_hosts_up();
    /*
     * The hosts share this file system: each worker gets a $TMPDIR of its
     * host's own (by the address sshd answered on), which the test then
     * finds empty.  The master's files are elsewhere, and the command reads
     * only the copy in its private directory.
     */
    snprintf(wrapper, sizeof(wrapper), "%s/worker.sh", st_node);
    st_sh("printf '#!/bin/sh\\nd=%s/$(echo $SSH_CONNECTION | cut -d\" \" -f3)\\n"
          "mkdir -p $d && TMPDIR=$d exec %s \"$@\"\\n' > '%s' && chmod 755 '%s'",
          st_node, nwstest_bin("nws-worker", worker, sizeof(worker)), wrapper, wrapper);
    st_sh("mkdir -p '%s/in'", st_dir);
    for (i = 0; i < 100; i++) {
        snprintf(name, sizeof(name), "in/f%03d", i);
        st_make_file(name, 1u << 20, (unsigned)i + 100);
    }
    st_sh("cd '%s' && ls in/f* > list", st_dir);
    snprintf(nodes, sizeof(nodes), "nwst-h1:2,nwst-h2:2,nwst-h3:2,nwst-h4:2");
    /* st_srv is zeroed: sleigh's private server, which the workers reach through ssh. */
    t0 = sshtest_now();
    st_sh("echo base > '%s/base.txt'", st_dir);
    st_sleigh(&r, "-S", nodes, "--ssh-config", stn_env.ssh_config, "--worker", wrapper,
              "--bf", "base.txt", "--trc", "{}.back", "--return", "{}.sum", "-a", "list",
              "cp {} {}.back && md5sum < {} > {}.sum && pwd >> {}.sum && "
              "stat -c %i base.txt >> {}.sum",
              NULL);
    t1 = sshtest_now();
    ck_assert_msg(r.rc == 0, "rc %d: %s", r.rc, r.err);
    for (i = 0; i < 100; i++) {
        snprintf(name, sizeof(name), "in/f%03d", i);
        sum = st_sh_out("md5sum < '%s/%s'", st_dir, name);
        line = st_sh_out("cd '%s' && md5sum < %s.back", st_dir, name);
        ck_assert_msg(strcmp(sum, line) == 0, "%s.back differs", name);
        free(line);
        line = st_sh_out("head -1 '%s/%s.sum'", st_dir, name);
        ck_assert_msg(strcmp(sum, line) == 0, "%s: the node saw %s", name, line);
        free(line);
        free(sum);
    }
    /* Every host ran some, each in its own $TMPDIR, and none kept anything. */
    for (i = 1; i <= STN_HOSTS; i++) {
        char hostdir[256], *cnt;

        snprintf(hostdir, sizeof(hostdir), "%s/10.213.%d.%d", st_node, stn_net, 10 + i);
        cnt = st_sh_out("cat '%s'/in/*.sum | grep -c '^%s/nws-sleigh-'", st_dir, hostdir);
        if (atoi(cnt) > 0)
            hosts++;
        free(cnt);
        /* The basefile came once to the host: its workers all had the same file. */
        cnt =
            st_sh_out("cat '%s'/in/*.sum | paste - - - | grep '	%s/nws-sleigh-' | "
                      "cut -f3 | sort -u | wc -l",
                      st_dir, hostdir);
        ck_assert_msg(atoi(cnt) == 1, "%s: %s copies of the basefile", hostdir, cnt);
        free(cnt);
        ck_assert_msg(st_entries(hostdir) == 0, "%s keeps %d entries", hostdir,
                      st_entries(hostdir));
    }
    ck_assert_int_eq(hosts, STN_HOSTS);
    printf("MEASURE: sleigh --trc, 100 files of 1 MB to 4 hosts x 2 workers through ssh "
           "tunnels and back: %.3f s (ssh start-up included)\n",
           t1 - t0);
    fflush(stdout);
    st_free(&r);
}
END_TEST

NWSTEST_SUITE(sleigh_transfer)
{
    Suite *s = suite_create("sleigh_transfer");
    TCase *tc = tcase_create("local");

    tcase_add_checked_fixture(tc, st_setup, st_teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, path_rules);
    tcase_add_test(tc, trc_basefile_local);
    tcase_add_test(tc, paths_refused);
    tcase_add_test(tc, input_named_as_a_basefile);
    tcase_add_test(tc, retried_input_sent_again);
    tcase_add_test(tc, large_file_streamed);
    suite_add_tcase(s, tc);
    tc = tcase_create("netns");
    tcase_add_checked_fixture(tc, stn_setup, stn_teardown);
    tcase_set_timeout(tc, 180);
    tcase_add_test(tc, netns_100_files);
    suite_add_tcase(s, tc);
    return s;
}
