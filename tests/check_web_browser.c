/*
 * check_web_browser.c -- runs the end-to-end browser tests (tests/browser/
 * run.js: headless Chromium driven by playwright-core) against a real
 * server, so that `make check` covers what a person sees in the web
 * interface.  The runner gets a bounded time; past it, it is killed and the
 * test fails, so a hung browser cannot hang the suite.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "ptest.h"
#include "rawc.h"

#define WB_LIMIT_S 75   /* the runner stops itself at 50 s */

/* The nodejs of Debian 12 (bookworm, 18.20.4): `make check` installs it on a
 * fresh machine, so the pinned playwright-core must run on it. */
#define WB_DEBIAN_NODE_MAJOR 18

/*
 * Runs tests/browser/run.js against s (with --journal JOURNAL unless NULL;
 * failing: with --journal-failing, the journal's writes are refused;
 * restarted: with --restarted SLEIGH unless NULL).
 */
static void
wb_run_mode(struct nwstest_server *s, const char *journal, int failing,
            const char *restarted, const char *detached)
{
    const char            *src = getenv("NWS_SRC_DIR");
    char                   script[1024], mods[1024], out[1024], port[16], web[16];
    int                    status = -1, i;
    pid_t                  pid;

    if (src == NULL)
        src = ".";
    snprintf(script, sizeof(script), "%s/tests/browser/run.js", src);
    snprintf(mods, sizeof(mods), "%s/tests/browser/node_modules/playwright-core", src);
    snprintf(out, sizeof(out), "%s/tests/out", src);
    snprintf(port, sizeof(port), "%d", s->port);
    snprintf(web, sizeof(web), "%d", s->web_port);
    ck_assert_msg(access(script, R_OK) == 0, "%s is missing", script);
    ck_assert_msg(access(mods, R_OK) == 0,
                  "%s is missing: run `make deps` (npm ci in tests/browser)", mods);
    ck_assert_msg(access("/usr/bin/chromium", X_OK) == 0,
                  "/usr/bin/chromium is missing: run `make deps` (apt-get install chromium)");

    pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        setpgid(0, 0);   /* its own group, so the browser dies with it on timeout */
        if (detached != NULL)
            execlp("node", "node", script, "--port", port, "--web-port", web, "--out",
                   out, "--detached", detached, (char *)NULL);
        else if (restarted != NULL)
            execlp("node", "node", script, "--port", port, "--web-port", web, "--out",
                   out, "--restarted", restarted, (char *)NULL);
        else if (journal != NULL)
            execlp("node", "node", script, "--port", port, "--web-port", web, "--out",
                   out, "--journal", journal, failing ? "--journal-failing" : NULL,
                   (char *)NULL);
        else
            execlp("node", "node", script, "--port", port, "--web-port", web, "--out",
                   out, (char *)NULL);
        fprintf(stderr, "cannot run node: %s\n", strerror(errno));
        _exit(127);
    }
    for (i = 0; i < WB_LIMIT_S * 10; i++) {
        if (waitpid(pid, &status, WNOHANG) == pid)
            break;
        usleep(100 * 1000);
    }
    if (i == WB_LIMIT_S * 10) {
        kill(-pid, SIGKILL);
        waitpid(pid, &status, 0);
        ck_abort_msg("the browser tests did not finish within %d s", WB_LIMIT_S);
    }
    ptest_stop(s);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                  "the browser tests failed (exit status %d): see their output above",
                  WIFEXITED(status) ? WEXITSTATUS(status) : -1);
}

static void
wb_run(struct nwstest_server *s, const char *journal, int failing)
{
    wb_run_mode(s, journal, failing, NULL, NULL);
}

START_TEST(browser_end_to_end)
{
    /* Small values spool, so the page shows spooled values and their downloads. */
    static const char *const args[] = {"--spool-threshold", "4096", NULL};

    wb_run(ptest_start(args), NULL, 0);
}
END_TEST

/*
 * The overview's journal card: "off", then the journal of a server with
 * --journal in a directory whose name needs escaping.
 */
START_TEST(browser_journal)
{
    static const char *args[] = {"--journal", NULL, "--fsync", "always", NULL};
    char               top[64], dir[128], cmd[160];

    if (getenv("NWSTEST_JOURNAL") == NULL) /* then every test server has one */
        wb_run(ptest_start(NULL), "off", 0);
    snprintf(top, sizeof(top), "/tmp/nws-wbj-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(top));
    snprintf(dir, sizeof(dir), "%s/j \"<b>&amp;'", top);
    ck_assert_int_eq(mkdir(dir, 0700), 0);
    args[1] = dir;
    wb_run(ptest_start(args), dir, 0);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", top);
    ck_assert_int_eq(system(cmd), 0);
}
END_TEST

/* Stores 8 KiB values into s until one is refused (the journal's disk is full). */
static void
wb_fill_journal(struct nwstest_server *s)
{
    static char       val[8192];
    struct rawc       c;
    struct rawc_reply r;
    int               i, st = 0;

    memset(val, 'v', sizeof(val) - 1);
    PT_OPEN(&c, s->port, RAWC_PLAIN);
    for (i = 0; i < 10000 && st == 0; i++) {
        PT_RC(&c, rawc_sendv(&c, NULL, "store", "full", "v", "1", val, (char *)NULL));
        PT_RC(&c, rawc_read_short(&c, &r));
        st = r.status;
        rawc_reply_free(&r);
    }
    ck_assert_msg(st != 0, "10000 stores of 8 KiB on a 4 MiB file system, none refused");
    rawc_close(&c);
}

/*
 * A full disk: the journal card says writes are refused, with the error.
 * (Root: a 4 MiB tmpfs is mounted for the journal.)
 */
START_TEST(browser_journal_failing)
{
    static const char     *args[] = {"--journal", NULL, "--fsync", "always", NULL};
    struct nwstest_server *s;
    char                   top[64], dir[128], cmd[300];
    FILE                  *fp;
    static char            buf[65536];

    if (geteuid() != 0) {
        printf("SKIPPED: browser_journal_failing: mounting a small tmpfs needs root\n");
        return;
    }
    snprintf(top, sizeof(top), "/tmp/nws-wbf-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(top));
    snprintf(cmd, sizeof(cmd), "mount -t tmpfs -o size=4m,mode=0700 nws-wbf '%s'", top);
    ck_assert_int_eq(system(cmd), 0);
    snprintf(dir, sizeof(dir), "%s/journal", top);
    args[1] = dir;
    s = ptest_start(args);
    snprintf(cmd, sizeof(cmd), "%s/filler", top);
    ck_assert_ptr_nonnull(fp = fopen(cmd, "w"));
    setvbuf(fp, NULL, _IONBF, 0);
    while (fwrite(buf, 1, sizeof(buf), fp) == sizeof(buf))
        ;
    while (fwrite(buf, 1, 512, fp) == 512)
        ;
    fclose(fp);
    wb_fill_journal(s);
    wb_run(s, dir, 1);
    snprintf(cmd, sizeof(cmd), "umount '%s' && rmdir '%s'", top, top);
    ck_assert_int_eq(system(cmd), 0);
}
END_TEST

/* A task of element first of batch in sleigh ws, as our master stores it. */
static void
wb_task(struct rawc *m, const char *ws, const char *batch, const char *first)
{
    char *meta =
        rawc_dict_new("batchId", batch, "nwsFirst", first, "nwsCount", "1", NULL);

    PT_OK_M(m, meta, "store", ws, "task", "1", "t");
    free(meta);
}

/*
 * A sleigh that lived through kill -9 and a restart on its journal (issue
 * 15): its batch rebuilt from the journal is marked, one made since is not,
 * and the task the master stored again after the restart counts as a
 * dropped duplicate.
 */
START_TEST(browser_restarted)
{
    static const char     *args[] = {"--journal", NULL, "--fsync", "always", NULL};
    struct nwstest_server *s;
    struct rawc            m;
    char                   dir[64], cmd[160];
    char                  *meta = rawc_dict_new("wstype", "sleigh", NULL);
    int                    st;

    snprintf(dir, sizeof(dir), "/tmp/nws-wbr-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    args[1] = dir;
    s = ptest_start(args);
    PT_OPEN(&m, s->port, RAWC_META);
    PT_OK_M(&m, meta, "open ws", "browser_restarted", "1", "yes");
    wb_task(&m, "browser_restarted", "before", "0");
    wb_task(&m, "browser_restarted", "before", "1");
    ck_assert_int_eq(kill(s->pid, SIGKILL), 0);
    ck_assert_int_eq(waitpid(s->pid, &st, 0), s->pid);
    s->pid = 0;
    nwstest_server_stop(s);
    rawc_close(&m);

    s = ptest_start(args);
    PT_OPEN(&m, s->port, RAWC_META);
    PT_OK(&m, "use ws", "browser_restarted", "", "no", "no");
    wb_task(&m, "browser_restarted", "before", "0"); /* re-sent: a duplicate */
    wb_task(&m, "browser_restarted", "after", "0");
    wb_run_mode(s, NULL, 0, "browser_restarted", NULL);
    rawc_close(&m);
    free(meta);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    ck_assert_int_eq(system(cmd), 0);
}
END_TEST

/* Polls "server info" until sessions_detached is want (bounded). */
static void
wb_wait_detached(int port, long want)
{
    struct rawc       c;
    struct rawc_reply r;
    const char       *p;
    long              v = -1;
    int               i;

    for (i = 0; i < 500 && v != want; i++) {
        PT_OPEN(&c, port, RAWC_META);
        PT_RC(&c, rawc_sendv(&c, NULL, "server info", NULL));
        PT_RC(&c, rawc_read_short(&c, &r));
        if (r.meta != NULL && (p = strstr(r.meta, "\"sessions_detached\":")) != NULL)
            v = strtol(p + 20, NULL, 10);
        rawc_reply_free(&r);
        rawc_close(&c);
        if (v != want)
            usleep(20000);
    }
    ck_assert_msg(v == want, "sessions_detached is %ld, not %ld", v, want);
}

/*
 * A session waiting to be resumed (its worker's connection was lost): the
 * overview's sessions card lists it, the sleigh view shows its worker as
 * detached.
 */
START_TEST(browser_sessions)
{
    static const char     *args[] = {"--resume-grace", "120", NULL};
    struct nwstest_server *s = ptest_start(args);
    struct rawc            m, w;
    char                  *meta = rawc_dict_new("wstype", "sleigh", NULL);
    char                   id[sizeof(w.sess_id)];

    PT_OPEN(&m, s->port, RAWC_META);
    PT_OK_M(&m, meta, "open ws", "browser_sessions", "1", "yes");
    ck_assert_msg(rawc_session_new(&w, s->port, RAWC_META) == 0, "session: %s", w.err);
    PT_OK(&w, "use ws", "browser_sessions", "", "no", "no");
    PT_OK(&w, "store", "browser_sessions", "worker_ids", "1", "0");
    memcpy(id, w.sess_id, sizeof(id));
    rawc_close(&w);
    wb_wait_detached(s->port, 1);
    wb_run_mode(s, NULL, 0, NULL, id);
    rawc_close(&m);
    free(meta);
}
END_TEST

/* Whether a package's engines.node (">=N", ">=N.M.P", ">= N") accepts
 * Debian's node major; 0 for a form this check does not know, so that a
 * new pin with such a field is looked at by a person. */
static int
wb_engines_accept(const char *range, int major)
{
    char *end;
    long  n;

    if (strncmp(range, ">=", 2) != 0)
        return 0;
    range += 2;
    while (*range == ' ')
        range++;
    n = strtol(range, &end, 10);
    if (end == range || (*end != '\0' && *end != '.'))
        return 0;
    return n <= major;
}

/* The playwright-core locked in package-lock.json (what npm ci installs)
 * runs on Debian 12's nodejs, and the one in node_modules is that one. */
START_TEST(browser_lock_runs_on_debian_node)
{
    const char  *src = getenv("NWS_SRC_DIR");
    char         path[1024];
    json_error_t jerr;
    json_t      *lock, *pw, *inst;
    const char  *range, *locked, *have;

    if (src == NULL)
        src = ".";
    snprintf(path, sizeof(path), "%s/tests/browser/package-lock.json", src);
    lock = json_load_file(path, 0, &jerr);
    ck_assert_msg(lock != NULL, "%s: %s", path, jerr.text);
    pw = json_object_get(json_object_get(lock, "packages"), "node_modules/playwright-core");
    ck_assert_msg(pw != NULL, "%s locks no playwright-core", path);
    range = json_string_value(json_object_get(json_object_get(pw, "engines"), "node"));
    locked = json_string_value(json_object_get(pw, "version"));
    ck_assert_msg(range != NULL && locked != NULL, "%s: no version or engines.node", path);
    ck_assert_msg(wb_engines_accept(range, WB_DEBIAN_NODE_MAJOR),
                  "playwright-core %s wants node %s; Debian 12 has node %d", locked,
                  range, WB_DEBIAN_NODE_MAJOR);

    snprintf(path, sizeof(path), "%s/tests/browser/node_modules/playwright-core/package.json",
             src);
    inst = json_load_file(path, 0, &jerr);
    ck_assert_msg(inst != NULL, "%s: %s (run make deps-test)", path, jerr.text);
    have = json_string_value(json_object_get(inst, "version"));
    ck_assert_msg(have != NULL && strcmp(have, locked) == 0,
                  "node_modules has playwright-core %s, the lock says %s (run make "
                  "deps-test)", have ? have : "?", locked);
    json_decref(inst);
    json_decref(lock);
}
END_TEST

NWSTEST_SUITE(web_browser)
{
    Suite *s = suite_create("web_browser");
    TCase *tc = tcase_create("chromium");

    tcase_set_timeout(tc, WB_LIMIT_S + 15);
    tcase_add_test(tc, browser_end_to_end);
    tcase_add_test(tc, browser_journal);
    tcase_add_test(tc, browser_journal_failing);
    tcase_add_test(tc, browser_restarted);
    tcase_add_test(tc, browser_sessions);
    suite_add_tcase(s, tc);
    tc = tcase_create("debian_node");
    tcase_add_test(tc, browser_lock_runs_on_debian_node);
    suite_add_tcase(s, tc);
    return s;
}
