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
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ptest.h"

#define WB_LIMIT_S 75   /* the runner stops itself at 50 s */

START_TEST(browser_end_to_end)
{
    /* Small values spool, so the page shows spooled values and their downloads. */
    static const char *const args[] = {"--spool-threshold", "4096", NULL};
    struct nwstest_server   *s = ptest_start(args);
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
        execlp("node", "node", script, "--port", port, "--web-port", web, "--out", out,
               (char *)NULL);
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
END_TEST

NWSTEST_SUITE(web_browser)
{
    Suite *s = suite_create("web_browser");
    TCase *tc = tcase_create("chromium");

    tcase_set_timeout(tc, WB_LIMIT_S + 15);
    tcase_add_test(tc, browser_end_to_end);
    suite_add_tcase(s, tc);
    return s;
}
