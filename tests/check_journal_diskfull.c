/*
 * check_journal_diskfull.c -- the journal on a full disk (a small tmpfs).
 *
 * Root only (mount -t tmpfs); prints SKIPPED otherwise.  The journal DIR
 * and the server's --tmpdir live on a tmpfs of a few MiB with a ballast
 * file that the test removes to give space back.
 *   during_writes      store 1 KiB values until one is refused: the refusal
 *                      is a clear error (non-zero status, a reason naming
 *                      the journal or the space, `No space left on device` in
 *                      the log); reads go on; a fetch is either refused or,
 *                      if acknowledged, stays done; after the ballast goes,
 *                      writes resume by themselves; after a SIGKILL and a
 *                      restart every acknowledged value is there, in order.
 *   during_compaction  compaction keeps being triggered (small
 *                      --journal-compact-min) while the tmpfs is filled to
 *                      the brim: the server stays up, the failed snapshot
 *                      leaves the state loadable, and once space returns a
 *                      compaction completes and nothing acknowledged is lost.
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "jtest.h"
#include "nwstest.h"
#include "rawc.h"

#define DF_WS  "df"
#define DF_MAX 20000

struct df {
    char        mnt[64];
    char        ballast[128];
    struct jsrv srv;
};

/* Mounts a tmpfs of size bytes; 0, or 1 when not root (skip). */
static int
df_mount(struct df *d, const char *size)
{
    char opts[64];

    if (geteuid() != 0) {
        printf("SKIPPED: journal disk-full tests need root (mount -t tmpfs)\n");
        return 1;
    }
    /*
     * A mount namespace of this test process (and the servers it forks): a
     * test that fails half way leaves no tmpfs mounted behind it.
     */
    ck_assert_msg(unshare(CLONE_NEWNS) == 0, "unshare: %s", strerror(errno));
    ck_assert_int_eq(mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL), 0);
    snprintf(d->mnt, sizeof(d->mnt), "/tmp/jtest-full.XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(d->mnt));
    snprintf(opts, sizeof(opts), "size=%s,mode=0700", size);
    ck_assert_msg(mount("jtest", d->mnt, "tmpfs", 0, opts) == 0, "mount tmpfs: %s",
                  strerror(errno));
    return 0;
}

/* jsrv_init on the tmpfs, but the log outside it: a full disk must not eat it. */
static void
df_srv_init(struct df *d, const char *fsync)
{
    int fd;

    ck_assert_int_eq(jsrv_init(&d->srv, d->mnt, fsync), 0);
    snprintf(d->srv.log, sizeof(d->srv.log), "/tmp/jtest-full-log.XXXXXX");
    ck_assert_int_ge(fd = mkstemp(d->srv.log), 0);
    close(fd);
}

static void
df_umount(struct df *d)
{
    unlink(d->srv.log);
    jsrv_free(&d->srv);
    umount2(d->mnt, MNT_DETACH);
    rmdir(d->mnt);
}

/* Writes a ballast file of n bytes (or as much as fits when n is 0). */
static long
df_ballast(struct df *d, long n)
{
    char buf[4096];
    long done = 0;
    int  fd;

    memset(buf, 'B', sizeof(buf));
    snprintf(d->ballast, sizeof(d->ballast), "%s/ballast", d->mnt);
    ck_assert_int_ge(fd = open(d->ballast, O_WRONLY | O_CREAT | O_APPEND, 0600), 0);
    while (n == 0 || done < n) {
        ssize_t w = write(fd, buf, n == 0 || n - done > 4096 ? 4096 : (size_t)(n - done));

        if (w <= 0)
            break;
        done += w;
    }
    close(fd);
    return done;
}

static void
df_value(char *buf, size_t len, int i)
{
    int n = snprintf(buf, len, "df:%d:", i);

    memset(buf + n, 'x', len - 1 - (size_t)n);
    buf[len - 1] = '\0';
}

/* The reason of a refused store, over a metadata connection. */
static void
df_refusal(int port, char *why, size_t len)
{
    struct rawc       c;
    struct rawc_reply r;
    const char       *v;
    size_t            vl;
    char              val[1025];

    why[0] = '\0';
    df_value(val, sizeof(val), -1);
    ck_assert_int_eq(rawc_open(&c, port, RAWC_META), 0);
    memset(&r, 0, sizeof(r));
    ck_assert_int_eq(rawc_sendv(&c, "0000", "use ws", DF_WS, "", "no", NULL), 0);
    ck_assert_int_eq(rawc_read_short(&c, &r), 0);
    rawc_reply_free(&r);
    ck_assert_int_eq(rawc_sendv(&c, "0000", "store", DF_WS, "refused", "1", val, NULL),
                     0);
    ck_assert_int_eq(rawc_read_short(&c, &r), 0);
    ck_assert_msg(r.status != 0, "a store on the full disk was acknowledged");
    if (r.meta != NULL && rawc_dict_get(r.meta, r.meta_len, "nwsReason", &v, &vl))
        snprintf(why, len, "%.*s", (int)vl, v);
    rawc_reply_free(&r);
    rawc_close(&c);
}

START_TEST(during_writes)
{
    static struct df d;
    struct rawc      c;
    char             val[1025], got[1100], why[256];
    int              i, n = 0, rc, refused = 0, fetched_first = 0, st;
    double           end;

    if (df_mount(&d, "3m") != 0)
        return;
    df_ballast(&d, 1 << 20);
    df_srv_init(&d, "always");
    {
        const char *args[] = {"--journal-compact-min", "1073741824", NULL};

        ck_assert_int_eq(jsrv_start(&d.srv, args), 0);
    }
    ck_assert_int_eq(jtest_connect_ws(&c, d.srv.port, DF_WS), 0);
    for (i = 0; i < DF_MAX; i++) {
        df_value(val, sizeof(val), n);
        st = jtest_store(&c, DF_WS, "v", val);
        ck_assert_msg(st >= 0, "the link broke at store %d on a full disk", n);
        if (st != 0) {
            refused = 1;
            break;
        }
        n++;
    }
    ck_assert_msg(refused, "%d stores of 1 KiB on a 3 MiB tmpfs, none refused", n);
    ck_assert_int_gt(n, 100);
    /* A clear error. */
    df_refusal(d.srv.port, why, sizeof(why));
    ck_assert_msg(strcasestr(why, "journal") != NULL || strcasestr(why, "space") != NULL,
                  "the refusal's reason says neither journal nor space: '%s'", why);
    ck_assert_msg(jsrv_log_has(&d.srv, "No space left on device"),
                  "the log does not say the disk is full");
    /* Reads go on. */
    ck_assert_int_eq(jtest_get(&c, DF_WS, "v", 0, got, sizeof(got)), 1);
    df_value(val, sizeof(val), 0);
    ck_assert_str_eq(got, val);
    /* A fetch consumes: refused, or done for good. */
    rc = jtest_get(&c, DF_WS, "v", 1, got, sizeof(got));
    if (rc == 1) {
        ck_assert_str_eq(got, val);
        fetched_first = 1;
    } else {
        ck_assert_int_eq(rc, -1); /* an error reply; the link stays */
        rawc_close(&c);
        ck_assert_int_eq(jtest_connect_ws(&c, d.srv.port, DF_WS), 0);
    }
    /* Space returns: writes resume by themselves (within 10 s). */
    ck_assert_int_eq(unlink(d.ballast), 0);
    end = jtest_now() + 10;
    for (;;) {
        df_value(val, sizeof(val), n);
        st = jtest_store(&c, DF_WS, "v", val);
        ck_assert_int_ge(st, 0);
        if (st == 0) {
            n++;
            break;
        }
        ck_assert_msg(jtest_now() < end, "writes did not resume after space came back");
        usleep(50000);
    }
    for (i = 0; i < 20; i++) {
        df_value(val, sizeof(val), n);
        ck_assert_int_eq(jtest_store(&c, DF_WS, "v", val), 0);
        n++;
    }
    rawc_close(&c);
    /* Nothing journaled was damaged: all of it after a crash. */
    jsrv_kill9(&d.srv);
    jsrv_log_reset(&d.srv);
    {
        const char *args[] = {"--journal-compact-min", "1073741824", NULL};

        ck_assert_msg(jsrv_start(&d.srv, args) == 0,
                      "no restart after the disk was full");
    }
    ck_assert(!jsrv_log_has(&d.srv, "journal: corrupt record"));
    ck_assert_int_eq(jtest_connect_ws(&c, d.srv.port, DF_WS), 0);
    for (i = fetched_first; i < n; i++) {
        df_value(val, sizeof(val), i);
        ck_assert_msg(jtest_get(&c, DF_WS, "v", 1, got, sizeof(got)) == 1,
                      "value %d of %d lost after the disk was full", i, n);
        ck_assert_msg(strcmp(got, val) == 0, "value %d: '%.12s'", i, got);
    }
    ck_assert_int_eq(jtest_get(&c, DF_WS, "v", 1, got, sizeof(got)), 0);
    rawc_close(&c);
    printf(
        "journal disk full during writes: %d values of 1 KiB acknowledged, refused while "
        "full ('%s'), resumed after space returned, all back after a SIGKILL\n",
        n, why);
    df_umount(&d);
}
END_TEST

/* The first child of pid (a compaction child), or 0. */
static pid_t
df_child(pid_t pid)
{
    char  path[96];
    FILE *fp;
    int   c = 0;

    snprintf(path, sizeof(path), "/proc/%d/task/%d/children", (int)pid, (int)pid);
    if ((fp = fopen(path, "r")) == NULL)
        return 0;
    if (fscanf(fp, "%d", &c) != 1)
        c = 0;
    fclose(fp);
    return (pid_t)c;
}

/* A client storing and fetching 1 KiB values until told to stop. */
struct df_churn {
    int        port;
    atomic_int stop, pairs, refused;
    pthread_t  th;
};

static void *
df_churn_main(void *a)
{
    struct df_churn *ch = a;
    struct rawc      c;
    char             val[1025], got[1100];
    int              k = 0, st;

    if (jtest_connect_ws(&c, ch->port, DF_WS) != 0)
        return NULL;
    while (!atomic_load(&ch->stop)) {
        df_value(val, sizeof(val), 100000 + k++);
        if ((st = jtest_store(&c, DF_WS, "churn", val)) < 0)
            break;
        if (st != 0) {
            atomic_fetch_add(&ch->refused, 1);
            usleep(1000);
            continue;
        }
        if (jtest_get(&c, DF_WS, "churn", 1, got, sizeof(got)) != 1)
            break;
        atomic_fetch_add(&ch->pairs, 1);
    }
    rawc_close(&c);
    return NULL;
}

/*
 * Compaction keeps being due under a churn; the moment its child appears,
 * the rest of the disk is taken (one fallocate), so the snapshot cannot be
 * written while the journal itself still has its reserved room.
 */
START_TEST(during_compaction)
{
    static struct df d;
    struct df_churn  ch;
    struct rawc      c;
    char             val[1025], got[1100];
    int              i, n = 0, fd, caught = 0;
    const char *args[] = {"--journal-compact-min", "131072", "--journal-compact-factor",
                          "2", NULL};
    double      end;
    pid_t       child = 0;

    if (df_mount(&d, "64m") != 0)
        return;
    df_srv_init(&d, "always");
    ck_assert_int_eq(jsrv_start(&d.srv, args), 0);
    ck_assert_int_eq(jtest_connect_ws(&c, d.srv.port, DF_WS), 0);
    /* A live state of about 1 MiB, kept. */
    for (i = 0; i < 1000; i++) {
        df_value(val, sizeof(val), n);
        ck_assert_int_eq(jtest_store(&c, DF_WS, "keep", val), 0);
        n++;
    }
    memset(&ch, 0, sizeof(ch));
    ch.port = d.srv.port;
    ck_assert_int_eq(pthread_create(&ch.th, NULL, df_churn_main, &ch), 0);
    /* Wait for a compaction child that works on the whole live state. */
    end = jtest_now() + 30;
    while (jtest_now() < end) {
        if ((child = df_child(d.srv.pid)) > 0 && atomic_load(&ch.pairs) > 300)
            break;
        child = 0;
        usleep(200);
    }
    ck_assert_msg(child > 0, "no compaction child in 30 s: %s",
                  jsrv_log_tail(&d.srv, 600));
    snprintf(d.ballast, sizeof(d.ballast), "%s/ballast", d.mnt);
    ck_assert_int_ge(fd = open(d.ballast, O_WRONLY | O_CREAT, 0600), 0);
    {
        /* Everything free, at once: big pieces, then smaller ones. */
        static const long piece[] = {1 << 20, 65536, 4096};
        long              off = 0;
        int               k;

        for (k = 0; k < 3; k++)
            while (fallocate(fd, 0, off, piece[k]) == 0)
                off += piece[k];
        ck_assert_int_gt(off, 0);
    }
    close(fd);
    caught = kill(child, 0) == 0;
    /* The child ends (failing); the server serves on. */
    end = jtest_now() + 20;
    while (kill(child, 0) == 0 && df_child(d.srv.pid) == child) {
        ck_assert_msg(jtest_now() < end, "the compaction child hangs on the full disk");
        usleep(1000);
    }
    usleep(300000);
    ck_assert_msg(kill(d.srv.pid, 0) == 0, "the server died with the disk full");
    atomic_store(&ch.stop, 1);
    pthread_join(ch.th, NULL);
    ck_assert_msg(jsrv_log_has(&d.srv, "No space left on device"),
                  "nothing failed for want of space: %s", jsrv_log_tail(&d.srv, 3000));
    /* Reads go on (on a connection opened before; during_writes tries a new one). */
    ck_assert_int_eq(jtest_get(&c, DF_WS, "keep", 0, got, sizeof(got)), 1);
    rawc_close(&c);
    /* The state is loadable even now: a crash while full. */
    jsrv_kill9(&d.srv);
    jsrv_log_reset(&d.srv);
    ck_assert_msg(jsrv_start(&d.srv, args) == 0,
                  "no restart after a crash on a full disk: %s",
                  jsrv_log_tail(&d.srv, 800));
    ck_assert(!jsrv_log_has(&d.srv, "journal: corrupt record"));
    /* Space returns: writes resume and a compaction completes. */
    ck_assert_int_eq(unlink(d.ballast), 0);
    memset(&ch, 0, sizeof(ch));
    ch.port = d.srv.port;
    ck_assert_int_eq(pthread_create(&ch.th, NULL, df_churn_main, &ch), 0);
    end = jtest_now() + 30;
    while (!jsrv_log_has(&d.srv, "journal: compaction done")) {
        ck_assert_msg(jtest_now() < end,
                      "no compaction completed after space came back: %s",
                      jsrv_log_tail(&d.srv, 800));
        usleep(20000);
    }
    atomic_store(&ch.stop, 1);
    pthread_join(ch.th, NULL);
    ck_assert_int_gt(atomic_load(&ch.pairs), 0);
    jsrv_kill9(&d.srv);
    ck_assert_int_eq(jsrv_start(&d.srv, args), 0);
    ck_assert_int_eq(jtest_connect_ws(&c, d.srv.port, DF_WS), 0);
    for (i = 0; i < n; i++) {
        df_value(val, sizeof(val), i);
        ck_assert_msg(jtest_get(&c, DF_WS, "keep", 1, got, sizeof(got)) == 1,
                      "kept value %d of %d lost", i, n);
        ck_assert_str_eq(got, val);
    }
    ck_assert_int_eq(jtest_get(&c, DF_WS, "keep", 1, got, sizeof(got)), 0);
    rawc_close(&c);
    printf(
        "journal disk full during compaction: the disk filled while the compaction child "
        "ran (%s); the server served on, loaded after a SIGKILL on the full disk, and "
        "compacted once space returned; %d kept values intact\n",
        caught ? "caught alive" : "it had just ended", n);
    df_umount(&d);
}
END_TEST

NWSTEST_SUITE(journal_diskfull)
{
    Suite *s = suite_create("journal_diskfull");
    TCase *tc = tcase_create("diskfull");

    tcase_set_timeout(tc, 90);
    tcase_add_test(tc, during_writes);
    tcase_add_test(tc, during_compaction);
    suite_add_tcase(s, tc);
    return s;
}
