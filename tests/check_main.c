/*
 * check_main.c -- runs every registered suite in one SRunner.
 */
#include <stdio.h>
#include <stdlib.h>

#include "nwstest.h"

#define NWSTEST_MAX_SUITES 64

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

int
main(void)
{
    SRunner *sr;
    int      i, failed;

    if (nwstest_nsuites == 0) {
        fprintf(stderr, "check_main: no suites registered\n");
        return 1;
    }
    sr = srunner_create(nwstest_suites[0]());
    for (i = 1; i < nwstest_nsuites; i++)
        srunner_add_suite(sr, nwstest_suites[i]());
    srunner_run_all(sr, CK_ENV);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
