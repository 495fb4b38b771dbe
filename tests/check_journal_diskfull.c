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
#include <signal.h>
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

static void
df_umount(struct df *d)
{
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
    ck_assert_int_eq(jsrv_init(&d.srv, d.mnt, "always"), 0);
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

START_TEST(during_compaction)
{
    static struct df d;
    struct rawc      c;
    char             val[1025], got[1100], *log;
    int              i, n = 0, fetched = 0, st, rc, refusals = 0, done_full = 0;
    const char *args[] = {"--journal-compact-min", "131072", "--journal-compact-factor",
                          "2", NULL};
    double      end;

    if (df_mount(&d, "4m") != 0)
        return;
    ck_assert_int_eq(jsrv_init(&d.srv, d.mnt, "always"), 0);
    ck_assert_int_eq(jsrv_start(&d.srv, args), 0);
    ck_assert_int_eq(jtest_connect_ws(&c, d.srv.port, DF_WS), 0);
    /* A live state of about 600 KiB, kept. */
    for (i = 0; i < 600; i++) {
        df_value(val, sizeof(val), n);
        ck_assert_int_eq(jtest_store(&c, DF_WS, "keep", val), 0);
        n++;
    }
    /* Fill the disk nearly to the brim, then churn: compactions are due. */
    df_ballast(&d, 0);
    {
        struct stat st0;

        /* Leave about 64 KiB: room for the journal's tail, not a snapshot. */
        ck_assert_int_eq(stat(d.ballast, &st0), 0);
        ck_assert_int_eq(truncate(d.ballast, st0.st_size - 65536), 0);
    }
    log = jsrv_log_text(&d.srv);
    for (i = 0; i < 3000; i++) {
        df_value(val, sizeof(val), 100000 + i);
        st = jtest_store(&c, DF_WS, "churn", val);
        ck_assert_msg(st >= 0, "the link broke at churn %d (server died?)", i);
        if (st != 0) {
            refusals++;
            continue;
        }
        rc = jtest_get(&c, DF_WS, "churn", 1, got, sizeof(got));
        ck_assert_msg(rc >= 0 || kill(d.srv.pid, 0) == 0, "the server died at churn %d",
                      i);
        if (rc < 0) {
            rawc_close(&c);
            ck_assert_int_eq(jtest_connect_ws(&c, d.srv.port, DF_WS), 0);
        }
        fetched += rc == 1;
    }
    free(log);
    ck_assert_msg(kill(d.srv.pid, 0) == 0, "the server died with the disk full");
    done_full = jsrv_log_has(&d.srv, "No space left on device");
    ck_assert_msg(done_full, "the disk never got full enough to fail anything");
    /* The state is loadable even now: a crash while full. */
    rawc_close(&c);
    jsrv_kill9(&d.srv);
    jsrv_log_reset(&d.srv);
    ck_assert_msg(jsrv_start(&d.srv, args) == 0,
                  "no restart after a crash on a full disk");
    ck_assert(!jsrv_log_has(&d.srv, "journal: corrupt record"));
    /* Space returns: a compaction completes, writes resume. */
    ck_assert_int_eq(unlink(d.ballast), 0);
    ck_assert_int_eq(jtest_connect_ws(&c, d.srv.port, DF_WS), 0);
    end = jtest_now() + 20;
    while (!jsrv_log_has(&d.srv, "journal: compaction done")) {
        df_value(val, sizeof(val), 200000);
        st = jtest_store(&c, DF_WS, "churn2", val);
        ck_assert_int_ge(st, 0);
        if (st == 0)
            ck_assert_int_eq(jtest_get(&c, DF_WS, "churn2", 1, got, sizeof(got)), 1);
        ck_assert_msg(jtest_now() < end, "no compaction completed after space came back");
    }
    rawc_close(&c);
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
    printf("journal disk full during compaction: %d churn pairs, %d stores refused while "
           "full; a compaction completed once space returned; %d kept values intact\n",
           fetched, refusals, n);
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
