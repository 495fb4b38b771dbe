/*
 * check_main.c -- runs every registered suite in one SRunner.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "nwstest.h"

#define NWSTEST_MAX_SUITES 256

static nwstest_suite_fn nwstest_suites[NWSTEST_MAX_SUITES];
static int              nwstest_nsuites;

void
nwstest_register(nwstest_suite_fn fn)
{
    if (nwstest_nsuites == NWSTEST_MAX_SUITES) {
        fprintf(stderr, "check_main: too many suites\n");
        abort();
    }
    nwstest_suites[nwstest_nsuites++] = fn;
}

static pid_t nwstest_runner;
static char  nwstest_secret_dir[64];

/* In the runner only (tests are forked children): removes the run's secret. */
static void
nwstest_secret_cleanup(void)
{
    char path[128];

    if (getpid() != nwstest_runner || nwstest_secret_dir[0] == '\0')
        return;
    snprintf(path, sizeof(path), "%s/secret", nwstest_secret_dir);
    unlink(path);
    rmdir(nwstest_secret_dir);
}

/*
 * Servers and clients started with the defaults (sleigh's private server,
 * nwsserver run bare) use $NWS_AUTH_FILE, else ~/.nws/secret: point it at a
 * private directory of this run, so no test reads or makes the real one.
 */
static void
nwstest_private_secret(void)
{
    char path[128];

    if (getenv("NWS_AUTH_FILE") != NULL)
        return;
    snprintf(nwstest_secret_dir, sizeof(nwstest_secret_dir), "/tmp/nwstest-auth.XXXXXX");
    if (mkdtemp(nwstest_secret_dir) == NULL) {
        perror("check_main: mkdtemp");
        exit(1);
    }
    snprintf(path, sizeof(path), "%s/secret", nwstest_secret_dir);
    setenv("NWS_AUTH_FILE", path, 1);
    nwstest_runner = getpid();
    atexit(nwstest_secret_cleanup);
}

int
main(void)
{
    SRunner *sr;
    int      i, failed;

    if (nwstest_nsuites == 0) {
        fprintf(stderr, "check_main: no suites registered\n");
        return 1;
    }
    nwstest_private_secret();
    /* libnws reconnects by default; tests that stop a server expect the
     * error at once.  Tests of sessions set their own limit. */
    setenv("NWS_RECONNECT", "0", 0);
    sr = srunner_create(nwstest_suites[0]());
    for (i = 1; i < nwstest_nsuites; i++)
        srunner_add_suite(sr, nwstest_suites[i]());
    srunner_run_all(sr, CK_ENV);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
