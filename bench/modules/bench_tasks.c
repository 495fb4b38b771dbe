/*
 * bench_tasks.c -- task functions for bench/sleighbench: a trivial one and a
 * 1 ms sleep, the two workloads the throughput rows compare.
 */
#include <time.h>

#include <nws_task.h>

/* Returns its first argument cubed (an integer): the cheapest useful task. */
NWS_TASK_FN(cube)
{
    json_int_t x = json_integer_value(json_array_get(args, 0));

    (void)ctx;
    return json_integer(x * x * x);
}

/* Sleeps one millisecond and returns its first argument. */
NWS_TASK_FN(sleep1ms)
{
    struct timespec ts = {0, 1000000};

    (void)ctx;
    nanosleep(&ts, NULL);
    return json_incref(json_array_get(args, 0));
}
