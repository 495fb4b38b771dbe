/*
 * pi.c -- a Monte Carlo estimate of pi on a sleigh.
 *
 *     build/examples/pi [tasks [darts-per-task [workers]]]
 *
 * Each task throws darts at the unit square (darts() in
 * build/modules/pi.so) and counts the hits inside the quarter circle;
 * an accumulator adds the counts up as the results arrive, so nothing is
 * kept per element (NWS_SLEIGH_DISCARD).  pi ~= 4 * hits / darts.  Every
 * task has its own seed, so the estimate does not depend on the workers.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <nws_sleigh.h>

struct pi_sum {
    long long hits;
    long      tasks, errors;
};

/* Adds one task's count (called as each result arrives). */
static void
pi_add(const nws_sleigh_result *r, void *arg)
{
    struct pi_sum *sum = arg;

    if (r->error != NULL) {
        fprintf(stderr, "pi: task %zu: %s\n", r->index, r->error);
        sum->errors++;
        return;
    }
    sum->hits += json_integer_value(r->value);
    sum->tasks++;
}

/* The path of module name.so: $NWS_MODULES_DIR, else ../modules from our binary. */
static void
pi_module(const char *name, char *buf, size_t len)
{
    const char *dir = getenv("NWS_MODULES_DIR");
    char        exe[PATH_MAX], *slash;
    ssize_t     n;

    if (dir != NULL && *dir != '\0') {
        snprintf(buf, len, "%s/%s.so", dir, name);
        return;
    }
    n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    exe[n > 0 ? n : 0] = '\0';
    if ((slash = strrchr(exe, '/')) != NULL)
        *slash = '\0';
    snprintf(buf, len, "%s/../modules/%s.so", n > 0 ? exe : ".", name);
}

int
main(int argc, char **argv)
{
    long                 ntasks = argc > 1 ? atol(argv[1]) : 100;
    long                 darts = argc > 2 ? atol(argv[2]) : 100000;
    nws_sleigh_options   opt;
    nws_sleigh_elem_opts eo;
    struct pi_sum        sum = {0, 0, 0};
    nws_sleigh          *s;
    nws_error            err;
    json_t              *task, *seeds, *args, *fixed, *r;
    char                 module[PATH_MAX + 32];
    long                 i;
    double               pi;

    if (ntasks <= 0 || darts <= 0) {
        fprintf(stderr, "usage: pi [tasks [darts-per-task [workers]]]\n");
        return 2;
    }
    nws_sleigh_options_init(&opt);
    if (argc > 3)
        opt.workers = atoi(argv[3]);
    if ((s = nws_sleigh_new(&opt, &err)) == NULL) {
        fprintf(stderr, "pi: %s\n", err.text);
        return 1;
    }
    pi_module("pi", module, sizeof(module));
    task = nws_sleigh_call(module, "darts");
    seeds = json_array();
    for (i = 0; i < ntasks; i++)
        json_array_append_new(seeds, json_integer(i));
    args = json_pack("[o]", seeds);      /* darts(seed, n): seed varies... */
    fixed = json_pack("[I]", (json_int_t)darts); /* ...n is fixed */

    memset(&eo, 0, sizeof(eo));
    eo.accumulate = pi_add;
    eo.accum_arg = &sum;
    eo.flags = NWS_SLEIGH_DISCARD;
    if ((r = nws_sleigh_each_elem(s, task, args, fixed, &eo, &err)) == NULL)
        fprintf(stderr, "pi: %s\n", err.text);
    json_decref(r);
    json_decref(args);
    json_decref(fixed);
    json_decref(task);
    nws_sleigh_free(s);
    if (r == NULL || sum.errors > 0 || sum.tasks != ntasks)
        return 1;
    pi = 4.0 * (double)sum.hits / ((double)ntasks * (double)darts);
    printf("pi is about %.6f (%lld of %lld darts inside, %ld tasks)\n", pi, sum.hits,
           (long long)ntasks * darts, ntasks);
    return 0;
}
