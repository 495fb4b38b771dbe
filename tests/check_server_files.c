/*
 * check_server_files.c -- what nwsserver leaves on disk and small bounds:
 * a --pidfile that is a symbolic link is refused (its target untouched),
 * a pid file is replaced, not written through; the suffix file of a
 * SIGKILLed server is removed by the next server in that tmpdir, while
 * files it cannot prove stale stay; sentinelRefreshPeriod is bounded.
 */
#include <errno.h>
#include <fcntl.h>
#include <dirent.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "nwstest.h"
#include "ptest.h"
#include "rawc.h"
#include "util.h"

static char sf_dir[64];

static void
sf_setup(void)
{
    snprintf(sf_dir, sizeof(sf_dir), "/tmp/nwsfiles.XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(sf_dir));
}

static void
sf_teardown(void)
{
    char cmd[128];

    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", sf_dir);
    ck_assert_int_eq(system(cmd), 0);
}

/* Writes s to path (a new file). */
static void
sf_write(const char *path, const char *s)
{
    FILE *fp = fopen(path, "w");

    ck_assert_ptr_nonnull(fp);
    fputs(s, fp);
    ck_assert_int_eq(fclose(fp), 0);
}

/* The first line of path into buf ("" if unreadable). */
static const char *
sf_read(const char *path, char *buf, size_t cap)
{
    FILE *fp = fopen(path, "r");

    buf[0] = '\0';
    if (fp != NULL) {
        if (fgets(buf, (int)cap, fp) == NULL)
            buf[0] = '\0';
        fclose(fp);
    }
    return buf;
}

START_TEST(pidfile_symlink_refused)
{
    struct nwstest_server s;
    char                  target[128], link[128], buf[64];
    const char           *extra[] = {"--pidfile", link, NULL};

    snprintf(target, sizeof(target), "%s/precious", sf_dir);
    snprintf(link, sizeof(link), "%s/nws.pid", sf_dir);
    sf_write(target, "precious\n");
    ck_assert_int_eq(symlink(target, link), 0);
    if (nwstest_server_start(&s, extra) == 0) {
        usleep(300000);
        nwstest_server_stop(&s);
        ck_abort_msg("a symbolic link as --pidfile was accepted; target now \"%s\"",
                     sf_read(target, buf, sizeof(buf)));
    }
    ck_assert_str_eq(sf_read(target, buf, sizeof(buf)), "precious\n");
}
END_TEST

/* A pid file that exists is replaced by a new file holding the pid. */
START_TEST(pidfile_written_whole)
{
    struct nwstest_server s;
    char                  path[128], buf[64], want[32];
    const char           *extra[] = {"--pidfile", path, NULL};
    struct stat           st;
    int                   i;

    snprintf(path, sizeof(path), "%s/plain.pid", sf_dir);
    sf_write(path, "99999999 and some old text\n");
    ck_assert_int_eq(nwstest_server_start(&s, extra), 0);
    snprintf(want, sizeof(want), "%d\n", (int)s.pid);
    /* It is written just after the ready line. */
    for (i = 0; i < 500 && strcmp(sf_read(path, buf, sizeof(buf)), want) != 0; i++)
        usleep(10000);
    ck_assert_str_eq(sf_read(path, buf, sizeof(buf)), want);
    ck_assert_int_eq(lstat(path, &st), 0);
    ck_assert(S_ISREG(st.st_mode));
    ck_assert_int_eq(nwstest_server_stop(&s), 0);
    ck_assert_int_eq(access(path, F_OK), -1);
}
END_TEST

/* Names of "__nwss*" entries in dir, joined by spaces, into buf; how many. */
static int
sf_suffix_files(const char *dir, char *buf, size_t cap)
{
    DIR           *d = opendir(dir);
    struct dirent *de;
    int            n = 0;

    buf[0] = '\0';
    ck_assert_ptr_nonnull(d);
    while ((de = readdir(d)) != NULL) {
        if (strncmp(de->d_name, "__nwss", 6) != 0)
            continue;
        n++;
        strncat(buf, de->d_name, cap - strlen(buf) - 2);
        strcat(buf, " ");
    }
    closedir(d);
    return n;
}

START_TEST(stale_suffix_file_removed)
{
    struct nwstest_server a, b;
    char                  first[256], path[512], now[512], keep[256];
    const char           *extra[] = {"--tmpdir", sf_dir, NULL};
    pid_t                 dead;
    int                   st, lockfd;

    /* A pid that is surely gone: a child we have reaped. */
    if ((dead = fork()) == 0)
        _exit(0);
    ck_assert_int_eq(waitpid(dead, &st, 0), dead);
    ck_assert_int_eq(nwstest_server_start(&a, extra), 0);
    ck_assert_int_eq(sf_suffix_files(sf_dir, first, sizeof(first)), 1);
    /*
     * Killed and not reaped yet: a zombie, so its pid still looks alive; its
     * lock went with its descriptors, and that is what counts.
     */
    kill(a.pid, SIGKILL);
    first[strcspn(first, " ")] = '\0';
    snprintf(path, sizeof(path), "%s/%s", sf_dir, first);
    ck_assert_int_ge(lockfd = open(path, O_RDONLY), 0);
    for (st = 0; st < 200 && flock(lockfd, LOCK_EX | LOCK_NB) != 0; st++)
        usleep(10000);
    close(lockfd);
    /* Files that must stay: an empty one (a server starting now, or an older
     * version), one locked as a live server's is, and one of another name. */
    snprintf(path, sizeof(path), "%s/__nwssempty1", sf_dir);
    sf_write(path, "");
    snprintf(path, sizeof(path), "%s/__nwsslive01", sf_dir);
    snprintf(keep, sizeof(keep), "%d\n", (int)getpid());
    sf_write(path, keep);
    ck_assert_int_ge(lockfd = open(path, O_RDONLY), 0);
    ck_assert_int_eq(flock(lockfd, LOCK_EX | LOCK_NB), 0);
    snprintf(path, sizeof(path), "%s/other", sf_dir);
    sf_write(path, keep);
    /* And a spool file of a dead server, never unlinked. */
    snprintf(path, sizeof(path), "%s/__nwss%d_abcdef.dat", sf_dir, (int)dead);
    sf_write(path, "spooled bytes");

    ck_assert_int_eq(nwstest_server_start(&b, extra), 0);
    sf_suffix_files(sf_dir, now, sizeof(now));
    ck_assert_msg(strstr(now, first) == NULL, "%sleft by a SIGKILLed server stays: %s",
                  first, now);
    ck_assert_msg(strstr(now, ".dat") == NULL, "a dead server's spool file stays: %s", now);
    ck_assert_msg(strstr(now, "__nwssempty1") != NULL && strstr(now, "__nwsslive01") != NULL,
                  "a file not proved stale was removed: %s", now);
    ck_assert_int_eq(sf_suffix_files(sf_dir, now, sizeof(now)), 3);
    snprintf(path, sizeof(path), "%s/other", sf_dir);
    ck_assert_int_eq(access(path, F_OK), 0);
    /* A live server's file is locked: a third server leaves it alone. */
    {
        struct nwstest_server c;

        ck_assert_int_eq(nwstest_server_start(&c, extra), 0);
        ck_assert_int_eq(sf_suffix_files(sf_dir, now, sizeof(now)), 4);
        ck_assert_int_eq(nwstest_server_stop(&c), 0);
    }
    ck_assert_int_eq(nwstest_server_stop(&b), 0);
    close(lockfd);
    waitpid(a.pid, &st, 0);
    a.pid = 0;
    nwstest_server_stop(&a);
}
END_TEST

/*
 * A sentinel's sentinel_alive fetch is answered at each refresh: with
 * sentinelRefreshPeriod=0.001 it would be answered a thousand times a
 * second, a busy loop for server and sentinel; about once in 0.8 s now.
 */
START_TEST(sentinel_refresh_bounded)
{
    struct nwstest_server *srvp = ptest_start(NULL);
    struct rawc            m, s;
    struct rawc_reply      r;
    char                   ws[128];
    char                  *meta = rawc_dict_new("wstype", "sleigh", "sentinelRefreshPeriod",
                                                "0.001", NULL);
    double                 t0;
    int                    replies = 0;
    double                 el = 0;

    PT_OPEN(&m, srvp->port, RAWC_META);
    PT_LONG_M(&m, meta, &r, "mktemp ws", "sleigh_ride_%04d");
    ck_assert_int_eq(r.status, 0);
    ck_assert(r.len < sizeof(ws));
    memcpy(ws, r.value, r.len);
    ws[r.len] = '\0';
    rawc_reply_free(&r);
    PT_OK(&m, "open ws", ws, "1", "no");
    PT_OPEN(&s, srvp->port, RAWC_META);
    PT_OK(&s, "use ws", ws, "", "no", "no");
    PT_LONG(&s, &r, "fetch", ws, "worker_ids");
    rawc_reply_free(&r);
    t0 = nwsp_mono();
    while (el < 0.8) {
        PT_RC(&s, rawc_sendv(&s, NULL, "fetch", ws, "sentinel_alive", NULL));
        struct pollfd pfd = {.fd = s.fd, .events = POLLIN};

        if (poll(&pfd, 1, (int)((0.8 - el) * 1000) + 1) == 0)
            break;
        PT_RC(&s, rawc_read_long(&s, &r));
        rawc_reply_free(&r);
        replies++;
        el = nwsp_mono() - t0;
    }
    /* One wake-up, two if a late one is followed by one on time; never hundreds. */
    ck_assert_msg(replies <= 3, "the sentinel was woken %d times in 0.8 s", replies);
    free(meta);
    rawc_close(&s);
    rawc_close(&m);
    ptest_stop(srvp);
}
END_TEST

NWSTEST_SUITE(server_files)
{
    Suite *s = suite_create("server_files");
    TCase *tc = tcase_create("files");

    /* Unchecked: the directory goes even when a test fails (one for the case). */
    tcase_add_unchecked_fixture(tc, sf_setup, sf_teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, pidfile_symlink_refused);
    tcase_add_test(tc, pidfile_written_whole);
    tcase_add_test(tc, stale_suffix_file_removed);
    tcase_add_test(tc, sentinel_refresh_bounded);
    suite_add_tcase(s, tc);
    return s;
}
