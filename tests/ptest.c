/*
 * ptest.c -- Check assertions on top of rawc for the protocol suites.
 *
 * Owns the pool of servers started by the running test (one forked test
 * process at a time) and the atexit handler that stops them when a failed
 * assertion ends the process before its teardown.
 */
#include <check.h>
#include <dirent.h>
#include <ftw.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <limits.h>
#include <unistd.h>

#include "ptest.h"

#define PTEST_MAX_SERVERS 8

static struct nwstest_server ptest_servers[PTEST_MAX_SERVERS];
static int                   ptest_atexit_done;

/*
 * Check ends a failed test's process with _exit(), so neither its teardown
 * nor atexit handlers run there.  The server dies with it (PR_SET_PDEATHSIG
 * in nwstest.c) but its --tmpdir would stay; every started server's tmpdir
 * is therefore listed in a file named after the runner process, which
 * sweeps them when it exits.
 */
static pid_t ptest_runner;
static char  ptest_registry[64];

/* In the runner only: removes every listed tmpdir that still exists. */
static void
ptest_sweep(void)
{
    char  line[512], cmd[600];
    FILE *f;

    if (getpid() != ptest_runner || (f = fopen(ptest_registry, "r")) == NULL)
        return;
    while (fgets(line, sizeof(line), f) != NULL) {
        line[strcspn(line, "\n")] = '\0';
        if (strncmp(line, "/tmp/nwstest.", 13) == 0 && strchr(line, '\'') == NULL &&
            access(line, F_OK) == 0) {
            snprintf(cmd, sizeof(cmd), "rm -rf '%s'", line);
            if (system(cmd) != 0)
                fprintf(stderr, "ptest: could not remove %s\n", line);
        }
    }
    fclose(f);
    unlink(ptest_registry);
}

/* Runs before main() in the runner: names the registry, arms the sweep. */
__attribute__((constructor)) static void
ptest_init(void)
{
    ptest_runner = getpid();
    snprintf(ptest_registry, sizeof(ptest_registry), "/tmp/ptest.%d.tmpdirs",
             (int)ptest_runner);
    atexit(ptest_sweep);
}

/* Stops every server still running when the test process exits. */
static void
ptest_cleanup(void)
{
    int i;

    for (i = 0; i < PTEST_MAX_SERVERS; i++)
        if (ptest_servers[i].pid > 0 || ptest_servers[i].tmpdir[0] != '\0')
            nwstest_server_stop(&ptest_servers[i]);
}

/* Starts a server from the pool, registered for cleanup. */
struct nwstest_server *
ptest_start(const char *const *extra)
{
    struct nwstest_server *s = NULL;
    int                    i;

    if (!ptest_atexit_done) {
        atexit(ptest_cleanup);
        ptest_atexit_done = 1;
    }
    for (i = 0; i < PTEST_MAX_SERVERS && s == NULL; i++)
        if (ptest_servers[i].pid == 0 && ptest_servers[i].tmpdir[0] == '\0')
            s = &ptest_servers[i];
    ck_assert_msg(s != NULL, "test bug: too many servers");
    ck_assert_msg(nwstest_server_start(s, extra) == 0,
                  "nwsserver did not start (no \"nwsserver ready: port=\" line)");
    {
        FILE *f = fopen(ptest_registry, "a");

        if (f != NULL) {
            fprintf(f, "%s\n", s->tmpdir);
            fclose(f);
        }
    }
    return s;
}

/* Stops a server and asserts a clean exit 0. */
void
ptest_stop(struct nwstest_server *s)
{
    int st = nwstest_server_stop(s);

    ck_assert_msg(st == 0,
                  "nwsserver did not exit cleanly after SIGTERM: wait status %d "
                  "(exited=%d code=%d signalled=%d signal=%d)",
                  st, st != -1 && WIFEXITED(st), st != -1 ? WEXITSTATUS(st) : -1,
                  st != -1 && WIFSIGNALED(st), st != -1 ? WTERMSIG(st) : -1);
}

/* Waits for a server that should exit by itself. */
int
ptest_wait_exit(struct nwstest_server *s, int ms)
{
    int st, i;

    for (i = 0; i < ms / 10; i++) {
        if (waitpid(s->pid, &st, WNOHANG) == s->pid) {
            s->pid = 0;
            return st;
        }
        usleep(10000);
    }
    return -1;
}

/* Opens a client or fails the test. */
void
ptest_open(int line, struct rawc *c, int port, enum rawc_kind kind)
{
    int rc = rawc_open(c, port, kind);

    ck_assert_msg(rc == 0, "line %d: connecting: %s", line, c->err);
}

/* Fails the test with c->err unless rc is 0. */
void
ptest_rc(int line, struct rawc *c, int rc)
{
    ck_assert_msg(rc == 0, "line %d: %s", line, c->err);
}

/* Sends the NULL-terminated argument list ap. */
static void
ptest_sendva(int line, struct rawc *c, const char *meta, va_list ap)
{
    const char *argv[64];
    size_t      lens[64];
    unsigned    n = 0;
    const char *a;

    while ((a = va_arg(ap, const char *)) != NULL) {
        ck_assert_msg(n < 64, "test bug: too many arguments");
        argv[n] = a;
        lens[n] = strlen(a);
        n++;
    }
    ptest_rc(line, c, rawc_send(c, meta, meta != NULL ? strlen(meta) : 0, n, argv, lens));
}

/* Checks the reply DICT: {} for a success without why, else {nwsReason: why}. */
static void
ptest_check_reason(int line, struct rawc *c, const struct rawc_reply *r, const char *why)
{
    const char *v;
    size_t      vlen;
    char        esc[600];

    if (!c->meta_from) {
        ck_assert_msg(r->meta == NULL, "line %d: test bug", line);
        return;
    }
    if (why == NULL) {
        ck_assert_msg(r->meta_len == 4 && memcmp(r->meta, "0000", 4) == 0,
                      "line %d: expected an empty reply dictionary \"0000\", got \"%s\"",
                      line, rawc_escape(esc, sizeof(esc), r->meta, r->meta_len));
        return;
    }
    ck_assert_msg(rawc_dict_get(r->meta, r->meta_len, "nwsReason", &v, &vlen) == 1 &&
                      vlen == strlen(why) && memcmp(v, why, vlen) == 0 &&
                      r->meta_len == 4 + 4 + 9 + 4 + vlen,
                  "line %d: expected reply dictionary {nwsReason: \"%s\"}, got \"%s\"",
                  line, why, rawc_escape(esc, sizeof(esc), r->meta, r->meta_len));
}

/* Asserts a short reply's status and reason. */
void
ptest_is_short(int line, struct rawc *c, const struct rawc_reply *r, int st,
               const char *why)
{
    ck_assert_msg(r->status == st, "line %d: expected status %04d, got %04d", line, st,
                  r->status);
    ptest_check_reason(line, c, r, why);
}

/* Sends a request and asserts its short reply. */
void
ptest_short(int line, struct rawc *c, const char *meta, int st, const char *why, ...)
{
    struct rawc_reply r;
    va_list           ap;

    va_start(ap, why);
    ptest_sendva(line, c, meta, ap);
    va_end(ap);
    ptest_rc(line, c, rawc_read_short(c, &r));
    ptest_is_short(line, c, &r, st, why);
    rawc_reply_free(&r);
}

/* Sends a request and reads its long reply. */
void
ptest_long(int line, struct rawc *c, const char *meta, struct rawc_reply *r, ...)
{
    va_list ap;

    va_start(ap, r);
    ptest_sendva(line, c, meta, ap);
    va_end(ap);
    ptest_rc(line, c, rawc_read_long(c, r));
}

/* Asserts a long reply carries a stored value. */
void
ptest_is_value(int line, struct rawc *c, const struct rawc_reply *r, int64_t desc,
               const void *val, size_t len, const char *meta)
{
    char esc[600], esc2[600], want[21];

    ck_assert_msg(r->status == 0, "line %d: expected status 0000, got %04d%s%s", line,
                  r->status, r->meta != NULL ? " with metadata " : "",
                  r->meta != NULL ? rawc_escape(esc, sizeof(esc), r->meta, r->meta_len)
                                  : "");
    if (desc >= 0)
        snprintf(want, sizeof(want), "%020lld", (long long)desc);
    else
        snprintf(want, sizeof(want), "-%019lld", -(long long)desc);
    ck_assert_msg(strcmp(r->raw_desc, want) == 0,
                  "line %d: expected type descriptor \"%s\", got \"%s\"", line, want,
                  r->raw_desc);
    ck_assert_msg(r->len == len && memcmp(r->value, val, len) == 0,
                  "line %d: expected value \"%s\" (%zu bytes), got \"%s\" (%llu bytes)",
                  line, rawc_escape(esc, sizeof(esc), val, len), len,
                  rawc_escape(esc2, sizeof(esc2), r->value, r->len),
                  (unsigned long long)r->len);
    if (c->cookie) {
        /* Section 6.7: 20 characters, no leading or trailing spaces. */
        ck_assert_msg(r->varid[0] != ' ' && r->varid[19] != ' ',
                      "line %d: variable id \"%s\" is blank or space-padded", line,
                      r->varid);
    }
    if (c->meta_from) {
        if (meta == NULL)
            meta = "0000";
        ck_assert_msg(rawc_dict_equal(r->meta, r->meta_len, meta, strlen(meta)),
                      "line %d: expected value metadata \"%s\", got \"%s\"", line,
                      rawc_escape(esc, sizeof(esc), meta, strlen(meta)),
                      rawc_escape(esc2, sizeof(esc2), r->meta, r->meta_len));
    }
}

/* Asserts a long reply is an error of section 4.4. */
void
ptest_is_error(int line, struct rawc *c, const struct rawc_reply *r, int st,
               const char *why)
{
    char esc[600];

    ck_assert_msg(r->status == st, "line %d: expected status %04d, got %04d", line, st,
                  r->status);
    ck_assert_msg(strcmp(r->raw_desc, "00000000000000000000") == 0,
                  "line %d: long error: descriptor must be D20(0), got \"%s\"", line,
                  r->raw_desc);
    if (c->cookie) {
        ck_assert_msg(strcmp(r->varid, "                    ") == 0,
                      "line %d: long error: variable id must be 20 spaces, got \"%s\"",
                      line, r->varid);
        ck_assert_msg(strcmp(r->raw_index, "00000000000000000000") == 0,
                      "line %d: long error: index must be D20(0), got \"%s\"", line,
                      r->raw_index);
    }
    ck_assert_msg(r->len == 0, "line %d: long error: length must be 0, got %llu (\"%s\")",
                  line, (unsigned long long)r->len,
                  rawc_escape(esc, sizeof(esc), r->value, r->len));
    ptest_check_reason(line, c, r, why);
}

/* Asserts a long reply is server-made text. */
void
ptest_is_text(int line, struct rawc *c, const struct rawc_reply *r, const char *val)
{
    char esc[800], esc2[800];

    ck_assert_msg(r->status == 0, "line %d: expected status 0000, got %04d", line,
                  r->status);
    ck_assert_msg(strcmp(r->raw_desc, "00000000000000000001") == 0,
                  "line %d: server-made text must have descriptor D20(1), got \"%s\"",
                  line, r->raw_desc);
    if (c->cookie) {
        ck_assert_msg(strcmp(r->varid, "                    ") == 0 &&
                          strcmp(r->raw_index, "00000000000000000000") == 0,
                      "line %d: server-made text must have a blank cookie, got \"%s%s\"",
                      line, r->varid, r->raw_index);
    }
    if (val != NULL)
        ck_assert_msg(r->len == strlen(val) && memcmp(r->value, val, r->len) == 0,
                      "line %d: expected text \"%s\", got \"%s\"", line,
                      rawc_escape(esc, sizeof(esc), val, strlen(val)),
                      rawc_escape(esc2, sizeof(esc2), r->value, r->len));
    ptest_check_reason(line, c, r, NULL);
}

/* Sends a request and asserts a DIRECT_STRING value back. */
void
ptest_value(int line, struct rawc *c, const char *val, ...)
{
    struct rawc_reply r;
    va_list           ap;

    va_start(ap, val);
    ptest_sendva(line, c, NULL, ap);
    va_end(ap);
    ptest_rc(line, c, rawc_read_long(c, &r));
    ptest_is_value(line, c, &r, 1, val, strlen(val), NULL);
    rawc_reply_free(&r);
}

/* Sends a request and asserts a long error back. */
void
ptest_lerr(int line, struct rawc *c, int st, const char *why, ...)
{
    struct rawc_reply r;
    va_list           ap;

    va_start(ap, why);
    ptest_sendva(line, c, NULL, ap);
    va_end(ap);
    ptest_rc(line, c, rawc_read_long(c, &r));
    ptest_is_error(line, c, &r, st, why);
    rawc_reply_free(&r);
}

/* Finds a variable's line in list vars. */
char *
ptest_varline(int line, struct rawc *c, const char *ws, const char *var, char *buf,
              size_t cap)
{
    struct rawc_reply r;
    const char       *p, *e;
    size_t            vl = strlen(var), n;

    ptest_long(line, c, NULL, &r, "list vars", ws, (const char *)NULL);
    ck_assert_msg(r.status == 0 && r.desc == 1,
                  "line %d: list vars %s: status %d desc %lld", line, ws, r.status,
                  (long long)r.desc);
    buf[0] = '\0';
    for (p = r.value; p < r.value + r.len; p = e + 1) {
        e = memchr(p, '\n', (size_t)(r.value + r.len - p));
        if (e == NULL)
            e = r.value + r.len;
        if ((size_t)(e - p) > vl && memcmp(p, var, vl) == 0 && p[vl] == '\t') {
            n = (size_t)(e - p) < cap - 1 ? (size_t)(e - p) : cap - 1;
            memcpy(buf, p, n);
            buf[n] = '\0';
            break;
        }
    }
    rawc_reply_free(&r);
    return buf;
}

/* Polls list vars for a number of blocked clients. */
void
ptest_wait_waiters(int line, struct rawc *c, const char *ws, const char *var, int nfetch,
                   int nfind)
{
    char buf[512];
    int  i, vals, f, g;

    for (i = 0; i < PTEST_SOON_MS / 10; i++) {
        ptest_varline(line, c, ws, var, buf, sizeof(buf));
        if (buf[0] != '\0' &&
            sscanf(buf + strlen(var), "\t%d\t%d\t%d\t", &vals, &f, &g) == 3 &&
            f == nfetch && g == nfind)
            return;
        usleep(10000);
    }
    ck_abort_msg("line %d: %s/%s never had %d fetchers and %d finders; last line \"%s\"",
                 line, ws, var, nfetch, nfind, buf);
}

/* Polls list wss for a workspace to appear or go. */
void
ptest_wait_ws(int line, struct rawc *c, const char *ws, int want)
{
    struct rawc_reply r;
    int               i, have = -1;

    for (i = 0; i < PTEST_SOON_MS / 10; i++) {
        ptest_long(line, c, NULL, &r, "list wss", ws, (const char *)NULL);
        have = !(r.len == 1 && r.value[0] == '\n');
        rawc_reply_free(&r);
        if (have == want)
            return;
        usleep(10000);
    }
    ck_abort_msg("line %d: workspace %s %s", line, ws,
                 want ? "never appeared" : "never went away");
}

/* FNV-1a over a buffer, continued from h. */
uint64_t
ptest_fnv(uint64_t h, const void *buf, size_t len)
{
    const unsigned char *p = buf;
    size_t               i;

    for (i = 0; i < len; i++) {
        h ^= p[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

/* Fills a buffer with the position-dependent test pattern. */
void
ptest_pattern(void *buf, size_t len, uint64_t off)
{
    unsigned char *p = buf;
    size_t         i;

    /* Position-dependent bytes, so a lost, repeated or shifted chunk shows. */
    for (i = 0; i < len; i++) {
        uint64_t x = off + i;

        p[i] = (unsigned char)((x * 2654435761u) >> 13 ^ (x >> 20));
    }
}

/* nftw() takes no user pointer: the walk in progress keeps its state here. */
#define PTEST_MAX_INODES 4096
static long long ptest_walk_min, ptest_walk_total;
static long      ptest_walk_count;
static struct {
    dev_t dev;
    ino_t ino;
} ptest_walk_seen[PTEST_MAX_INODES];
static size_t ptest_walk_nseen;

/* Counts st once if it is a regular file of at least ptest_walk_min bytes. */
static void
ptest_walk_add(const struct stat *st)
{
    size_t i;

    if (!S_ISREG(st->st_mode) || st->st_size < ptest_walk_min)
        return;
    for (i = 0; i < ptest_walk_nseen; i++)
        if (ptest_walk_seen[i].dev == st->st_dev && ptest_walk_seen[i].ino == st->st_ino)
            return;
    if (ptest_walk_nseen < PTEST_MAX_INODES) {
        ptest_walk_seen[ptest_walk_nseen].dev = st->st_dev;
        ptest_walk_seen[ptest_walk_nseen].ino = st->st_ino;
        ptest_walk_nseen++;
    }
    ptest_walk_count++;
    ptest_walk_total += st->st_size;
}

/* Counts one regular file of at least ptest_walk_min bytes. */
static int
ptest_walk(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)path;
    (void)ftw;
    if (flag == FTW_F)
        ptest_walk_add(st);
    return 0;
}

/* Counts regular files of at least min bytes under dir. */
long
ptest_files(const char *dir, long long min, long long *total)
{
    ptest_walk_min = min;
    ptest_walk_total = 0;
    ptest_walk_count = 0;
    ptest_walk_nseen = 0;
    if (nftw(dir, ptest_walk, 16, FTW_PHYS) != 0)
        return -1;
    if (total != NULL)
        *total += ptest_walk_total;
    return ptest_walk_count;
}

/* Polls ptest_files() for a count. */
long
ptest_wait_files(const char *dir, long long min, long want)
{
    long n = -1;
    int  i;

    for (i = 0; i < PTEST_SOON_MS / 10; i++) {
        if ((n = ptest_files(dir, min, NULL)) == want)
            break;
        usleep(10000);
    }
    return n;
}

/* Counts a server's temp files, unlinked open ones included. */
long
ptest_spool_files(const struct nwstest_server *s, long long min, long long *total)
{
    char           fddir[64], path[PATH_MAX + 64], target[PATH_MAX];
    size_t         dl = strlen(s->tmpdir);
    struct dirent *de;
    struct stat    st;
    DIR           *d;
    ssize_t        n;

    if (ptest_files(s->tmpdir, min, NULL) < 0)
        return -1;
    /*
     * With NWSTEST_JOURNAL a spooled value lives in the journal DIR as
     * v<ID>.val (server/journal.h), not in --tmpdir: count those too.
     */
    if (s->jdir[0] != '\0' && (d = opendir(s->jdir)) != NULL) {
        while ((de = readdir(d)) != NULL) {
            n = (ssize_t)strlen(de->d_name);
            snprintf(path, sizeof(path), "%s/%s", s->jdir, de->d_name);
            if (n > 4 && de->d_name[0] == 'v' &&
                strcmp(de->d_name + n - 4, ".val") == 0 && stat(path, &st) == 0)
                ptest_walk_add(&st);
        }
        closedir(d);
    }
    /* Unlinked files still open in the server live on under its fds. */
    snprintf(fddir, sizeof(fddir), "/proc/%d/fd", (int)s->pid);
    if ((d = opendir(fddir)) != NULL) {
        while ((de = readdir(d)) != NULL) {
            snprintf(path, sizeof(path), "%s/%s", fddir, de->d_name);
            n = readlink(path, target, sizeof(target) - 1);
            if (n <= 0)
                continue;
            target[n] = '\0';
            if (strncmp(target, s->tmpdir, dl) == 0 && target[dl] == '/' &&
                stat(path, &st) == 0)
                ptest_walk_add(&st);
        }
        closedir(d);
    }
    if (total != NULL)
        *total += ptest_walk_total;
    return ptest_walk_count;
}

/* Polls ptest_spool_files() for a count. */
long
ptest_wait_spool(const struct nwstest_server *s, long long min, long want)
{
    long n = -1;
    int  i;

    for (i = 0; i < PTEST_SOON_MS / 10; i++) {
        if ((n = ptest_spool_files(s, min, NULL)) == want)
            break;
        usleep(10000);
    }
    return n;
}
