/*
 * sleigh_test.c -- task functions for tests/check_sleigh*.c, built into
 * build/modules/sleigh_test.so and run by real nws-worker processes.
 */
#include <signal.h>
#include <stdlib.h>
#include <stdio.h>
#include <time.h>

#include "nws_task.h"
#include "util.h"

/* State an eachWorker task leaves for later tasks of the same worker. */
static json_t *st_state;

/* The integer argument i, or 0. */
static json_int_t
st_int(json_t *args, size_t i)
{
    return json_integer_value(json_array_get(args, i));
}

/* echo(args...) -> the argument list itself. */
NWS_TASK_FN(echo)
{
    (void)ctx;
    return json_copy(args);
}

/* same(args...) -> the very array it was given (task code may keep it). */
NWS_TASK_FN(same)
{
    (void)ctx;
    return json_incref(args);
}

/* cube(x) -> x*x*x. */
NWS_TASK_FN(cube)
{
    json_int_t x;

    if (!json_is_integer(json_array_get(args, 0)))
        return nws_task_error(ctx, "cube: want an integer");
    x = st_int(args, 0);
    return json_integer(x * x * x);
}

/* add(a, b, ...) -> the sum of the integers. */
NWS_TASK_FN(add)
{
    json_int_t sum = 0;
    json_t    *x;
    size_t     i;

    json_array_foreach(args, i, x)
    {
        if (!json_is_integer(x))
            return nws_task_error(ctx, "add: argument %zu is not an integer", i + 1);
        sum += json_integer_value(x);
    }
    return json_integer(sum);
}

/* sleep_ms(ms, [value]) -> value (or ms) after sleeping ms milliseconds. */
NWS_TASK_FN(sleep_ms)
{
    json_int_t ms = st_int(args, 0);

    (void)ctx;
    nwsp_sleep_ms((long)ms);
    if (json_array_size(args) > 1)
        return json_incref(json_array_get(args, 1));
    return json_integer(ms);
}

/* sleep_rank(ms) -> the rank of the worker that slept ms milliseconds. */
NWS_TASK_FN(sleep_rank)
{
    json_int_t ms = st_int(args, 0);

    nwsp_sleep_ms((long)ms);
    return json_integer(nws_task_rank(ctx));
}

/* fail(message) -> always an error. */
NWS_TASK_FN(fail)
{
    const char *msg = json_string_value(json_array_get(args, 0));

    return nws_task_error(ctx, "failed on purpose: %s", msg ? msg : "?");
}

/* fail_if(x, bad) -> x, or an error when x == bad. */
NWS_TASK_FN(fail_if)
{
    if (st_int(args, 0) == st_int(args, 1))
        return nws_task_error(ctx, "element %ld: %lld is bad", nws_task_index(ctx),
                              (long long)st_int(args, 0));
    return json_integer(st_int(args, 0));
}

/* returns_null() -> NULL without saying why. */
NWS_TASK_FN(returns_null)
{
    (void)args;
    (void)ctx;
    return NULL;
}

/* crash_if(x, bad) -> x, or the worker dies of SIGSEGV when x == bad. */
NWS_TASK_FN(crash_if)
{
    (void)ctx;
    if (st_int(args, 0) == st_int(args, 1))
        raise(SIGSEGV);
    return json_integer(st_int(args, 0));
}

/* set_state(v) -> this worker's rank; later tasks here see v. */
NWS_TASK_FN(set_state)
{
    json_decref(st_state);
    st_state = json_incref(json_array_get(args, 0));
    return json_integer(nws_task_rank(ctx));
}

/* get_state(x) -> [state, x], or an error if no state was set on this worker. */
NWS_TASK_FN(get_state)
{
    if (st_state == NULL)
        return nws_task_error(ctx, "no state on worker %d", nws_task_rank(ctx));
    return json_pack("[O, O]", st_state, json_array_get(args, 0));
}

/* whoami() -> {rank, workers, index, batch, ws}. */
NWS_TASK_FN(whoami)
{
    (void)args;
    return json_pack("{s:i, s:i, s:I, s:s, s:s}", "rank", nws_task_rank(ctx), "workers",
                     nws_task_workers(ctx), "index", (json_int_t)nws_task_index(ctx),
                     "batch", nws_task_batch(ctx), "ws", nws_task_ws_name(ctx));
}

/* say(text) -> text, after printing it (for output@<rank>). */
NWS_TASK_FN(say)
{
    (void)ctx;
    printf("%s\n", json_string_value(json_array_get(args, 0)));
    fflush(stdout);
    return json_incref(json_array_get(args, 0));
}

/* peek(var) -> the string the master stored in var of the sleigh workspace. */
NWS_TASK_FN(peek)
{
    nws_error err;
    nws_ws   *ws = nws_task_ws(ctx, &err);
    char     *s;
    json_t   *r;

    if (ws == NULL)
        return nws_task_error(ctx, "no workspace: %s", err.text);
    if ((s = nws_find_string(ws, json_string_value(json_array_get(args, 0)), &err)) ==
        NULL)
        return nws_task_error(ctx, "find: %s", err.text);
    r = json_string(s);
    free(s);
    return r;
}
