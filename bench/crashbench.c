/*
 * crashbench.c -- how long a batch takes when every element crashes its
 * worker (the "module that crashes on every element" case).
 *
 *   crashbench --module build/modules/sleighrun_test.so [--fn crash] [--n N]
 *              [--workers W]
 *
 * Uses the server $NWS_HOST:$NWS_PORT.  Runs one blocking eachElem of the
 * function over 0..N-1 (default 1000 elements, 2 workers), checks that
 * every element failed with "killed by SIGSEGV", and prints one line of
 * key=value pairs: seconds, errors, the worker restarts it cost.
 * Figures (2 workers, loaded 2-core VM): before the crash reports, 16
 * elements took 49.6 s (four deaths each, with restart back-off); with
 * them, 1000 elements take 1.5 to 3.3 s, one restart per element.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <nws_sleigh.h>
#include "util.h"

int
main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"module", required_argument, NULL, 'm'},
        {"fn", required_argument, NULL, 'f'},
        {"n", required_argument, NULL, 'n'},
        {"workers", required_argument, NULL, 'w'},
        {NULL, 0, NULL, 0},
    };
    const char        *module = NULL, *fn = "crash", *e;
    long               n = 1000, i, wrong = 0;
    int                workers = 2, ch;
    nws_sleigh_options o;
    nws_sleigh_info    info;
    nws_sleigh        *s;
    nws_error          err;
    json_t            *task, *v, *args, *r;
    double             t0, t1;

    while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (ch) {
        case 'm':
            module = optarg;
            break;
        case 'f':
            fn = optarg;
            break;
        case 'n':
            n = strtol(optarg, NULL, 10);
            break;
        case 'w':
            workers = (int)strtol(optarg, NULL, 10);
            break;
        default:
            return 2;
        }
    }
    if (module == NULL || n < 1 || workers < 1) {
        fprintf(stderr, "usage: crashbench --module M.so [--fn F] [--n N] [--workers W]\n");
        return 2;
    }
    nws_sleigh_options_init(&o);
    o.workers = workers;
    if ((s = nws_sleigh_new(&o, &err)) == NULL) {
        fprintf(stderr, "crashbench: %s\n", err.text);
        return 1;
    }
    task = nws_sleigh_call(module, fn);
    v = json_array();
    for (i = 0; i < n; i++)
        json_array_append_new(v, json_integer(i));
    args = json_pack("[o]", v);
    t0 = nwsp_mono();
    r = nws_sleigh_each_elem(s, task, args, NULL, NULL, &err);
    t1 = nwsp_mono();
    if (r == NULL) {
        fprintf(stderr, "crashbench: %s\n", err.text);
        return 1;
    }
    for (i = 0; i < n; i++) {
        e = nws_sleigh_error(json_array_get(r, (size_t)i));
        wrong += e == NULL || strcmp(e, "killed by SIGSEGV") != 0;
    }
    nws_sleigh_status(s, &info, &err);
    printf("crash n=%ld workers=%d seconds=%.2f per_element_ms=%.2f not_named=%ld "
           "restarts=%ld\n",
           n, workers, t1 - t0, (t1 - t0) * 1000 / (double)n, wrong, info.restarts);
    json_decref(r);
    json_decref(args);
    json_decref(task);
    nws_sleigh_stop(s, &err);
    nws_sleigh_free(s);
    return wrong == 0 ? 0 : 1;
}
