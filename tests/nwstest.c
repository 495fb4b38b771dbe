/*
 * nwstest.c -- starting real servers and talking raw TCP for the tests.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "nwstest.h"

const char *
nwstest_bin(const char *name, char *buf, size_t len)
{
    const char *dir = getenv("NWS_BIN_DIR");

    snprintf(buf, len, "%s/%s", dir != NULL ? dir : "build/bin", name);
    return buf;
}

/*
 * With NWS_TEST_VALGRIND=DIR every server runs under valgrind's memcheck,
 * which writes DIR/vg.<pid>.log and exits 99 on any error or definite or
 * indirect leak (make valgrind checks the logs; ptest_stop the exit code).
 */
static int
nwstest_valgrind_argv(const char **argv, char *logopt, size_t len)
{
    const char *dir = getenv("NWS_TEST_VALGRIND");
    int         argc = 0;

    if (dir == NULL || *dir == '\0')
        return 0;
    snprintf(logopt, len, "--log-file=%s/vg.%%p.log", dir);
    argv[argc++] = "valgrind";
    argv[argc++] = "--quiet";
    argv[argc++] = "--error-exitcode=99";
    argv[argc++] = "--leak-check=full";
    argv[argc++] = "--errors-for-leak-kinds=definite,indirect";
    argv[argc++] = "--show-leak-kinds=definite,indirect";
    argv[argc++] = logopt;
    return argc;
}

/* 1 if extra (NULL-terminated, may be NULL) holds the argument a. */
static int
nwstest_has_arg(const char *const *extra, const char *a)
{
    int i;

    for (i = 0; extra != NULL && extra[i] != NULL; i++)
        if (strcmp(extra[i], a) == 0)
            return 1;
    return 0;
}

static int nwstest_start(struct nwstest_server *s, const char *const *extra, int no_auth);

/* NWSTEST_JOURNAL=1: every server the suites start keeps a journal. */
static int
nwstest_journal_on(void)
{
    const char *e = getenv("NWSTEST_JOURNAL");

    return e != NULL && *e != '\0' && strcmp(e, "0") != 0;
}

int
nwstest_server_start(struct nwstest_server *s, const char *const *extra)
{
    /* The raw-protocol tests speak without a secret unless they choose one. */
    return nwstest_start(s, extra,
                         !nwstest_has_arg(extra, "--auth-file") &&
                             !nwstest_has_arg(extra, "--no-auth"));
}

int
nwstest_server_start_defaults(struct nwstest_server *s, const char *const *extra)
{
    return nwstest_start(s, extra, 0);
}

/* Starts the server; no_auth adds --no-auth. */
static int
nwstest_start(struct nwstest_server *s, const char *const *extra, int no_auth)
{
    char        bin[512], line[512], vglog[512];
    const char *argv[80];
    int         pfd[2], argc = 0, i;
    FILE       *fp;
    char       *p;

    memset(s, 0, sizeof(*s));
    snprintf(s->tmpdir, sizeof(s->tmpdir), "/tmp/nwstest.XXXXXX");
    if (mkdtemp(s->tmpdir) == NULL)
        return -1;
    argc = nwstest_valgrind_argv(argv, vglog, sizeof(vglog));
    argv[argc++] = nwstest_bin("nwsserver", bin, sizeof(bin));
    argv[argc++] = "--bind";
    argv[argc++] = "127.0.0.1";
    argv[argc++] = "--port";
    argv[argc++] = "0";
    argv[argc++] = "--web-port";
    argv[argc++] = "0";
    argv[argc++] = "--tmpdir";
    argv[argc++] = s->tmpdir;
    /*
     * Keep the test output to warnings; a test may ask for more after these.
     * The --no-auth servers the harness adds by itself keep to errors: each
     * would print the warning of --no-auth, hundreds in a run, burying the
     * rest (NWS_TEST_LOG_LEVEL=warn shows it all again).
     */
    argv[argc++] = "--log-level";
    argv[argc++] = getenv("NWS_TEST_LOG_LEVEL") != NULL ? getenv("NWS_TEST_LOG_LEVEL")
                   : no_auth                           ? "error"
                                                       : "warn";
    if (no_auth)
        argv[argc++] = "--no-auth";
    if (nwstest_journal_on() && !nwstest_has_arg(extra, "--journal")) {
        snprintf(s->jdir, sizeof(s->jdir), "/tmp/nwstest.journal.XXXXXX");
        if (mkdtemp(s->jdir) == NULL)
            return -1;
        argv[argc++] = "--journal";
        argv[argc++] = s->jdir;
        if (getenv("NWSTEST_FSYNC") != NULL && *getenv("NWSTEST_FSYNC") != '\0') {
            argv[argc++] = "--fsync";
            argv[argc++] = getenv("NWSTEST_FSYNC");
        }
    }
    for (i = 0; extra != NULL && extra[i] != NULL && argc < 78; i++)
        argv[argc++] = extra[i];
    argv[argc] = NULL;

    if (pipe(pfd) != 0)
        return -1;
    s->pid = fork();
    if (s->pid < 0)
        return -1;
    if (s->pid == 0) {
        /* A test killed on timeout must not leave its server behind. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        dup2(pfd[1], 1);
        close(pfd[0]);
        close(pfd[1]);
        execvp(argv[0], (char *const *)argv);
        _exit(127);
    }
    close(pfd[1]);
    if ((fp = fdopen(pfd[0], "r")) == NULL)
        return -1;
    /* The server prints "nwsserver ready: port=N web-port=M ..." once bound. */
    while (fgets(line, sizeof(line), fp) != NULL) {
        if ((p = strstr(line, " port=")) != NULL) {
            s->port = atoi(p + 6);
            if ((p = strstr(line, "web-port=")) != NULL)
                s->web_port = atoi(p + 9);
            break;
        }
    }
    fclose(fp);
    if (s->port <= 0) {
        nwstest_server_stop(s);
        return -1;
    }
    return 0;
}

int
nwstest_server_stop(struct nwstest_server *s)
{
    int  status = -1, i;
    char cmd[300];
    /* valgrind's leak check at exit takes a while. */
    int  tries = getenv("NWS_TEST_VALGRIND") != NULL ? 3000 : 500;

    if (s->pid > 0) {
        kill(s->pid, SIGTERM);
        for (i = 0; i < tries; i++) {
            if (waitpid(s->pid, &status, WNOHANG) == s->pid)
                break;
            usleep(10000);
        }
        if (i == tries) {
            kill(s->pid, SIGKILL);
            waitpid(s->pid, &status, 0);
            status = -1;
        }
        s->pid = 0;
    }
    if (s->tmpdir[0] != '\0') {
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", s->tmpdir);
        if (system(cmd) != 0)
            status = -1;
        s->tmpdir[0] = '\0';
    }
    if (s->jdir[0] != '\0') {
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", s->jdir);
        if (system(cmd) != 0)
            status = -1;
        s->jdir[0] = '\0';
    }
    return status;
}

int
nwstest_connect(int port, int timeout_s)
{
    struct sockaddr_in sin;
    struct timeval     tv;
    int                fd, one = 1;

    if ((fd = socket(AF_INET, SOCK_STREAM, 0)) < 0)
        return -1;
    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_port = htons((unsigned short)port);
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&sin, sizeof(sin)) != 0) {
        close(fd);
        return -1;
    }
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    tv.tv_sec = timeout_s;
    tv.tv_usec = 0;
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    return fd;
}

int
nwstest_write_all(int fd, const void *buf, size_t len)
{
    const char *p = buf;
    ssize_t     n;

    while (len > 0) {
        n = send(fd, p, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

int
nwstest_read_exact(int fd, void *buf, size_t len)
{
    char   *p = buf;
    ssize_t n;

    while (len > 0) {
        n = recv(fd, p, len, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

int
nwstest_peer_closed(int fd, int timeout_ms)
{
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    char          c;

    for (;;) {
        if (poll(&pfd, 1, timeout_ms) <= 0)
            return 0;
        if (recv(fd, &c, 1, MSG_DONTWAIT) == 0)
            return 1;
        /* Unread reply bytes: keep draining until EOF or the timeout. */
    }
}

/* Reads /proc/pid/name into buf; its length, or -1. */
static ssize_t
nwstest_proc_read(long pid, const char *name, char *buf, size_t len)
{
    char    path[64];
    int     fd;
    ssize_t n;

    snprintf(path, sizeof(path), "/proc/%ld/%s", pid, name);
    if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
        return -1;
    n = read(fd, buf, len);
    close(fd);
    return n;
}

pid_t
nwstest_proc_holding(const char *s)
{
    static const char *const what[] = {"cmdline", "environ"};
    static char              buf[1 << 17];
    DIR                     *d = opendir("/proc");
    struct dirent           *de;
    ssize_t                  n;
    long                     pid, found = 0;
    char                    *end;
    size_t                   i;

    if (d == NULL)
        return 0;
    while (found == 0 && (de = readdir(d)) != NULL) {
        if ((pid = strtol(de->d_name, &end, 10)) <= 0 || *end != '\0')
            continue;
        for (i = 0; i < 2; i++)
            if ((n = nwstest_proc_read(pid, what[i], buf, sizeof(buf))) > 0 &&
                memmem(buf, (size_t)n, s, strlen(s)) != NULL)
                found = pid;
    }
    closedir(d);
    return (pid_t)found;
}

int
nwstest_tmpfile(void)
{
    char path[] = "/tmp/nwstest.out.XXXXXX";
    int  fd = mkstemp(path);

    ck_assert_int_ge(fd, 0);
    unlink(path);
    return fd;
}

char *
nwstest_slurp(int fd, size_t *len)
{
    struct stat st;
    char       *p;

    ck_assert_int_eq(fstat(fd, &st), 0);
    p = malloc((size_t)st.st_size + 1);
    ck_assert_ptr_nonnull(p);
    ck_assert_int_eq(pread(fd, p, (size_t)st.st_size, 0), st.st_size);
    p[st.st_size] = '\0';
    if (len != NULL)
        *len = (size_t)st.st_size;
    return p;
}

int
nwstest_children(pid_t parent, pid_t except, pid_t *pids, int max, int zombies)
{
    DIR           *d = opendir("/proc");
    struct dirent *e;
    char           path[300], buf[512], *p, state;
    FILE          *fp;
    int            n = 0, ppid;
    pid_t          pid;

    ck_assert_ptr_nonnull(d);
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] < '1' || e->d_name[0] > '9')
            continue;
        snprintf(path, sizeof(path), "/proc/%s/stat", e->d_name);
        if ((fp = fopen(path, "r")) == NULL)
            continue;
        pid = (pid_t)atoi(e->d_name);
        if (fgets(buf, sizeof(buf), fp) != NULL && (p = strrchr(buf, ')')) != NULL &&
            sscanf(p + 1, " %c %d", &state, &ppid) == 2 && ppid == parent &&
            pid != except && (zombies || state != 'Z')) {
            if (n < max)
                pids[n] = pid;
            n++;
        }
        fclose(fp);
    }
    closedir(d);
    return n;
}
