/*
 * sleighrun_test.c -- task functions that hang or crash a worker, for
 * tests/check_sleigh_timeout.c and the crash figures of bench/ (run by
 * real nws-worker processes from build/modules/sleighrun_test.so).
 */
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include "nws_task.h"

/* The integer argument i, or 0. */
static json_int_t
srt_int(json_t *args, size_t i)
{
    return json_integer_value(json_array_get(args, i));
}

/* stop_if(x, bad) -> x, or the worker stops itself (SIGSTOP) when x == bad. */
NWS_TASK_FN(stop_if)
{
    (void)ctx;
    if (srt_int(args, 0) == srt_int(args, 1))
        raise(SIGSTOP);
    return json_integer(srt_int(args, 0));
}

/* spin_if(x, bad) -> x, or never returns (a busy loop) when x == bad. */
NWS_TASK_FN(spin_if)
{
    volatile unsigned long n = 0;

    (void)ctx;
    if (srt_int(args, 0) == srt_int(args, 1))
        for (;;)
            n++;
    return json_integer(srt_int(args, 0));
}

/* crash(x) -> never: the worker dies of SIGSEGV, every time. */
NWS_TASK_FN(crash)
{
    (void)args;
    (void)ctx;
    raise(SIGSEGV);
    return NULL;
}

/* abort_if(x, bad) -> x, or the worker aborts (SIGABRT) when x == bad. */
NWS_TASK_FN(abort_if)
{
    (void)ctx;
    if (srt_int(args, 0) == srt_int(args, 1))
        abort();
    return json_integer(srt_int(args, 0));
}

/* fail_odd(x) -> x, or the error "odd" when x is odd. */
NWS_TASK_FN(fail_odd)
{
    if (srt_int(args, 0) % 2 != 0)
        return nws_task_error(ctx, "odd");
    return json_integer(srt_int(args, 0));
}
