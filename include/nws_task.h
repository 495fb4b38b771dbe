/*
 * nws_task.h -- the ABI of task modules that nws-worker(1) runs.
 *
 * A task module is a shared object with functions of type nws_task_fn:
 *
 *     #include <nws_task.h>
 *
 *     NWS_TASK_FN(cube)
 *     {
 *         json_t *x = json_array_get(args, 0);
 *
 *         if (!json_is_integer(x))
 *             return nws_task_error(ctx, "cube: want an integer");
 *         return json_integer(json_integer_value(x) * json_integer_value(x) *
 *                             json_integer_value(x));
 *     }
 *
 * built with `cc -shared -fPIC -o mod.so mod.c $(pkg-config --cflags --libs
 * jansson)` and named in a task as {"kind": "call", "module": ".../mod.so",
 * "function": "cube"} (see nws_sleigh.h).  The worker loads the module the
 * first time a task needs it and never unloads it, so static state set up
 * by an eachWorker task is there for the eachElem tasks that follow on
 * that worker.  Functions run one at a time: a worker is one thread.
 *
 * Ownership, as in jansson: args is a borrowed JSON array (the element's
 * arguments followed by the fixed arguments, permuted if asked); do not
 * keep it past the call without json_incref.  The function returns a new
 * reference (json_null() for "nothing"), which the worker takes over, or
 * NULL for an error, with the reason given through nws_task_error (a NULL
 * without a reason reads "the function returned NULL").  If it returns a
 * value after calling nws_task_error, the error wins and the value is
 * dropped.  A function that crashes takes its worker with it; the server
 * gives the task to another worker, and after the retry limit the element
 * gets an error result.
 *
 * The nws_task_* functions are provided by nws-worker itself (it exports
 * its symbols), so a module does not link libnws.
 */
#ifndef NWS_TASK_H
#define NWS_TASK_H

#include <jansson.h>

#include "nws.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Marks a task function so that dlsym finds it under -fvisibility=hidden. */
#define NWS_TASK NWS_API

/*
 * Declares and starts the definition of task function name, so that
 * -Wmissing-prototypes is satisfied too:  NWS_TASK_FN(cube) { ... }  (the
 * parameters are called args and ctx).
 */
#define NWS_TASK_FN(name)                                                        \
    NWS_TASK json_t *name(json_t *args, nws_task_ctx *ctx);                      \
    NWS_TASK json_t *name(json_t *args, nws_task_ctx *ctx)

/* What the worker knows about the task being run (opaque; valid during the call). */
typedef struct nws_task_ctx nws_task_ctx;

/* A task function: args borrowed, returns a new reference or NULL (error). */
typedef json_t *(*nws_task_fn)(json_t *args, nws_task_ctx *ctx);

/*
 * Records why the task failed (printf format; the first error wins) and
 * returns NULL, so a function can `return nws_task_error(ctx, ...);`.
 */
NWS_API json_t *nws_task_error(nws_task_ctx *ctx, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* This worker's rank in the sleigh. */
NWS_API int nws_task_rank(const nws_task_ctx *ctx);

/* The number of workers the sleigh launched ($NWS_SLEIGH_WORKERS), or -1. */
NWS_API int nws_task_workers(const nws_task_ctx *ctx);

/* The element index being run (0-based), or -1 for an eachWorker task. */
NWS_API long nws_task_index(const nws_task_ctx *ctx);

/* The batch id (borrowed, valid during the call). */
NWS_API const char *nws_task_batch(const nws_task_ctx *ctx);

/* The sleigh workspace's name (borrowed, lives as long as the worker). */
NWS_API const char *nws_task_ws_name(const nws_task_ctx *ctx);

/*
 * A handle on the sleigh workspace over a second connection of the worker
 * (made on first use, kept for the worker's life; borrowed): for data the
 * master stored there, or for results too large for a task result.
 * Returns NULL (err set) if the connection cannot be made.
 */
NWS_API nws_ws *nws_task_ws(nws_task_ctx *ctx, nws_error *err);

#ifdef __cplusplus
}
#endif

#endif
