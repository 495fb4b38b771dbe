/*
 * jtest.c -- durable servers, their logs and journal files for the journal
 * suites (see jtest.h).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "jtest.h"
#include "nwstest.h"
#include "rawc.h"

int
jsrv_init(struct jsrv *s, const char *parent, const char *fsync)
{
    memset(s, 0, sizeof(*s));
    snprintf(s->base, sizeof(s->base), "%s/jtest.XXXXXX",
             parent != NULL ? parent : "/tmp");
    if (mkdtemp(s->base) == NULL)
        return -1;
    snprintf(s->dir, sizeof(s->dir), "%s/journal", s->base);
    snprintf(s->tmp, sizeof(s->tmp), "%s/tmp", s->base);
    snprintf(s->log, sizeof(s->log), "%s/server.log", s->base);
    s->fsync = fsync;
    /* The journal keeps every value: its directory is private (SECURITY.md). */
    if (mkdir(s->dir, 0700) != 0 || mkdir(s->tmp, 0700) != 0)
        return -1;
    return 0;
}

/* How many times needle is in s's log. */
static int
jsrv_log_count(struct jsrv *s, const char *needle)
{
    char       *t = jsrv_log_text(s);
    const char *p = t;
    int         n = 0;

    while ((p = strstr(p, needle)) != NULL) {
        n++;
        p += strlen(needle);
    }
    free(t);
    return n;
}

static int jsrv_start_once(struct jsrv *s, const char *const *extra);

/*
 * Starts the server; a restart on the same port is tried again for up to
 * 5 s while the port is still taken: by what the killed server leaves
 * dying (its compaction child, torn down after a SIGKILL, slowly under
 * ASan) or by another program on the machine that took the free port in
 * between.  Any other refusal is the test's to see at once.
 */
int
jsrv_start(struct jsrv *s, const char *const *extra)
{
    const char *busy = "Address already in use";
    int         tries, before;

    for (tries = 0;; tries++) {
        before = jsrv_log_count(s, busy);
        if (jsrv_start_once(s, extra) == 0)
            return 0;
        if (s->port == 0 || tries == 50 || jsrv_log_count(s, busy) == before)
            return -1;
        usleep(100 * 1000);
    }
}

static int
jsrv_start_once(struct jsrv *s, const char *const *extra)
{
    char        bin[512], port[16], line[512], *p;
    const char *argv[64];
    int         argc = 0, pfd[2], logfd, i;
    FILE       *fp;

    argv[argc++] = nwstest_bin("nwsserver", bin, sizeof(bin));
    snprintf(port, sizeof(port), "%d", s->port);
    argv[argc++] = "--bind";
    argv[argc++] = "127.0.0.1";
    argv[argc++] = "--port";
    argv[argc++] = port;
    argv[argc++] = "--web-port";
    argv[argc++] = "0";
    argv[argc++] = "--no-auth";
    argv[argc++] = "--tmpdir";
    argv[argc++] = s->tmp;
    argv[argc++] = "--log-level";
    argv[argc++] = "info";
    argv[argc++] = "--journal";
    argv[argc++] = s->dir;
    if (s->fsync != NULL) {
        argv[argc++] = "--fsync";
        argv[argc++] = s->fsync;
    }
    for (i = 0; extra != NULL && extra[i] != NULL && argc < 62; i++)
        argv[argc++] = extra[i];
    argv[argc] = NULL;

    if ((logfd = open(s->log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600)) < 0)
        return -1;
    if (pipe(pfd) != 0) {
        close(logfd);
        return -1;
    }
    s->status = 0;
    s->pid = fork();
    if (s->pid < 0)
        return -1;
    if (s->pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        dup2(pfd[1], 1);
        dup2(logfd, 2);
        close(pfd[0]);
        close(pfd[1]);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    close(pfd[1]);
    close(logfd);
    if ((fp = fdopen(pfd[0], "r")) == NULL)
        return -1;
    while (fgets(line, sizeof(line), fp) != NULL) {
        if ((p = strstr(line, " port=")) != NULL) {
            s->port = atoi(p + 6);
            fclose(fp);
            return 0;
        }
    }
    /* EOF before the ready line: it refused to start (or died). */
    fclose(fp);
    waitpid(s->pid, &s->status, 0);
    s->pid = 0;
    return -1;
}

void
jsrv_kill9(struct jsrv *s)
{
    if (s->pid > 0) {
        kill(s->pid, SIGKILL);
        waitpid(s->pid, &s->status, 0);
        s->pid = 0;
    }
}

int
jsrv_stop(struct jsrv *s)
{
    int i;

    if (s->pid <= 0)
        return -1;
    kill(s->pid, SIGTERM);
    for (i = 0; i < 1000; i++) {
        if (waitpid(s->pid, &s->status, WNOHANG) == s->pid) {
            s->pid = 0;
            return s->status;
        }
        usleep(10000);
    }
    jsrv_kill9(s);
    return -1;
}

void
jsrv_free(struct jsrv *s)
{
    char cmd[400];

    jsrv_kill9(s);
    if (s->base[0] != '\0' && getenv("JTEST_KEEP") == NULL) {
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", s->base);
        if (system(cmd) != 0)
            fprintf(stderr, "jtest: could not remove %s\n", s->base);
    }
    s->base[0] = '\0';
}

void
jsrv_log_reset(struct jsrv *s)
{
    if (truncate(s->log, 0) != 0 && errno != ENOENT)
        fprintf(stderr, "jtest: truncate %s: %s\n", s->log, strerror(errno));
}

char *
jsrv_log_text(struct jsrv *s)
{
    int   fd = open(s->log, O_RDONLY | O_CLOEXEC);
    char *t;

    if (fd < 0)
        return strdup("");
    t = nwstest_slurp(fd, NULL);
    close(fd);
    return t;
}

const char *
jsrv_log_tail(struct jsrv *s, size_t n)
{
    static char buf[4096];
    char       *t = jsrv_log_text(s);
    size_t      len = strlen(t);

    if (n >= sizeof(buf))
        n = sizeof(buf) - 1;
    snprintf(buf, sizeof(buf), "%s", len > n ? t + len - n : t);
    free(t);
    return buf;
}

int
jsrv_log_has(struct jsrv *s, const char *needle)
{
    char *t = jsrv_log_text(s);
    int   has = strstr(t, needle) != NULL;

    free(t);
    return has;
}

long long
jsrv_log_num(struct jsrv *s, const char *prefix)
{
    char     *t = jsrv_log_text(s), *p, *last = NULL;
    long long n = -1;

    for (p = t; (p = strstr(p, prefix)) != NULL; p++)
        last = p;
    if (last != NULL)
        n = strtoll(last + strlen(prefix), NULL, 10);
    free(t);
    return n;
}

int
jtest_nwsserver_run(char *out, size_t outlen, const char *const *argv)
{
    char          bin[512];
    const char   *av[64];
    int           pfd[2], argc = 0, i, status;
    size_t        got = 0;
    ssize_t       n;
    pid_t         pid;
    struct pollfd pp;
    double        end = jtest_now() + 60;

    av[argc++] = nwstest_bin("nwsserver", bin, sizeof(bin));
    for (i = 0; argv[i] != NULL && argc < 62; i++)
        av[argc++] = argv[i];
    av[argc] = NULL;
    if (pipe(pfd) != 0)
        return -1;
    if ((pid = fork()) < 0)
        return -1;
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        dup2(pfd[1], 1);
        dup2(pfd[1], 2);
        close(pfd[0]);
        close(pfd[1]);
        execv(av[0], (char *const *)av);
        _exit(127);
    }
    close(pfd[1]);
    pp.fd = pfd[0];
    pp.events = POLLIN;
    for (;;) {
        if (jtest_now() > end) {
            kill(pid, SIGKILL);
            break;
        }
        if (poll(&pp, 1, 1000) <= 0)
            continue;
        char tmp[4096];

        if ((n = read(pfd[0], tmp, sizeof(tmp))) <= 0)
            break;
        if (got + 1 < outlen) {
            size_t k = (size_t)n < outlen - 1 - got ? (size_t)n : outlen - 1 - got;

            memcpy(out + got, tmp, k);
            got += k;
        }
    }
    out[got] = '\0';
    close(pfd[0]);
    if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
        return -1;
    return WEXITSTATUS(status);
}

int
jtest_connect_ws(struct rawc *c, int port, const char *ws)
{
    struct rawc_reply r;

    /* Replies carry their reason: "no value" is told from a refusal by it. */
    if (rawc_open(c, port, RAWC_META_FROM) != 0)
        return -1;
    if (rawc_sendv(c, NULL, "use ws", ws, "", "no", NULL) != 0 ||
        rawc_read_short(c, &r) != 0 || r.status != 0) {
        rawc_reply_free(&r);
        return -1;
    }
    rawc_reply_free(&r);
    return 0;
}

int
jtest_store(struct rawc *c, const char *ws, const char *var, const char *val)
{
    struct rawc_reply r;
    int               st;

    memset(&r, 0, sizeof(r));
    if (rawc_sendv(c, NULL, "store", ws, var, "1", val, NULL) != 0 ||
        rawc_read_short(c, &r) != 0) {
        rawc_reply_free(&r);
        return -1;
    }
    st = r.status;
    rawc_reply_free(&r);
    return st;
}

int
jtest_get(struct rawc *c, const char *ws, const char *var, int fetch, char *buf,
          size_t len)
{
    struct rawc_reply r;
    int               rc;

    memset(&r, 0, sizeof(r));
    if (rawc_sendv(c, NULL, fetch ? "fetchTry" : "findTry", ws, var, NULL) != 0 ||
        rawc_read_long(c, &r) != 0) {
        rawc_reply_free(&r);
        return -1;
    }
    if (r.status != 0) {
        const char *why;
        size_t      wl;

        rc = r.meta != NULL &&
                     rawc_dict_get(r.meta, r.meta_len, "nwsReason", &why, &wl) &&
                     wl == 18 && memcmp(why, "no value available", 18) == 0
                 ? 0
                 : -1;
    } else if ((r.desc & 1) == 0 && r.len == 0)
        rc = 0; /* no value (section 8.5) */
    else {
        size_t k = r.len < len - 1 ? (size_t)r.len : len - 1;

        memcpy(buf, r.value, k);
        buf[k] = '\0';
        rc = 1;
    }
    rawc_reply_free(&r);
    return rc;
}

static int
jtest_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Appends the regular files under dir to *v (n, cap). */
static void
jtest_walk(const char *dir, char ***v, int *n, int *cap)
{
    DIR           *d = opendir(dir);
    struct dirent *e;
    struct stat    st;
    char           path[1024];

    if (d == NULL)
        return;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        if (lstat(path, &st) != 0)
            continue;
        if (S_ISDIR(st.st_mode)) {
            jtest_walk(path, v, n, cap);
        } else if (S_ISREG(st.st_mode)) {
            if (*n == *cap) {
                *cap = *cap ? *cap * 2 : 16;
                *v = realloc(*v, (size_t)*cap * sizeof(**v));
            }
            (*v)[(*n)++] = strdup(path);
        }
    }
    closedir(d);
}

int
jtest_files(const char *dir, char ***names)
{
    int n = 0, cap = 0;

    *names = NULL;
    jtest_walk(dir, names, &n, &cap);
    if (n > 0)
        qsort(*names, (size_t)n, sizeof(**names), jtest_cmp);
    return n;
}

int
jtest_find_bytes(const char *dir, const void *needle, size_t nlen, char *path,
                 size_t plen, long long *off)
{
    char      **names;
    int         n = jtest_files(dir, &names), i, found = -1;
    struct stat st;

    for (i = 0; i < n; i++) {
        int   fd = open(names[i], O_RDONLY | O_CLOEXEC);
        void *m;
        char *hit;

        if (found == 0 || fd < 0 || fstat(fd, &st) != 0 || st.st_size == 0) {
            if (fd >= 0)
                close(fd);
            continue;
        }
        m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
        close(fd);
        if (m == MAP_FAILED)
            continue;
        if ((hit = memmem(m, (size_t)st.st_size, needle, nlen)) != NULL) {
            snprintf(path, plen, "%s", names[i]);
            *off = hit - (char *)m;
            found = 0;
        }
        munmap(m, (size_t)st.st_size);
    }
    for (i = 0; i < n; i++)
        free(names[i]);
    free(names);
    return found;
}

int
jtest_copy_dir(const char *from, const char *to)
{
    char cmd[1024];

    snprintf(cmd, sizeof(cmd), "rm -rf '%s' && cp -a '%s' '%s'", to, from, to);
    return system(cmd) == 0 ? 0 : -1;
}

double
jtest_rand(unsigned *seed)
{
    return (double)rand_r(seed) / ((double)RAND_MAX + 1.0);
}

double
jtest_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void
jtest_manifest_base(const char *dir, char *buf, size_t len)
{
    char  path[600], line[256];
    FILE *fp;

    buf[0] = '\0';
    snprintf(path, sizeof(path), "%s/MANIFEST", dir);
    if ((fp = fopen(path, "r")) == NULL)
        return;
    while (fgets(line, sizeof(line), fp) != NULL)
        if (strncmp(line, "base ", 5) == 0 && strcmp(line, "base -\n") != 0)
            snprintf(buf, len, "%s", line + 5);
    fclose(fp);
}

int
jtest_wait_snapshot(struct rawc *c, const char *dir, const char *ws)
{
    char before[256], now[256];
    int  i;

    jtest_manifest_base(dir, before, sizeof(before));
    for (i = 0; i < 1000; i++) {
        /* A mutation, so the journal grows past the (tiny) threshold. */
        if (jtest_store(c, ws, "nudge", "x") != 0)
            return -1;
        jtest_manifest_base(dir, now, sizeof(now));
        if (now[0] != '\0' && strcmp(now, before) != 0)
            return 0;
        usleep(10000);
    }
    return -1;
}
