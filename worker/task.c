/*
 * task.c -- running one task record: argument lists, module functions
 * (the nws_task.h ABI), and the result record.
 *
 * Modules are dlopen'd on first use and never closed, so their static
 * state lives as long as the worker; resolved functions are cached by
 * (module, function).  The nws_task_* functions below are exported from
 * the executable (-rdynamic, NWS_API) for the modules to call.
 */
#include <dlfcn.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sleighp.h"
#include "worker.h"

/* A resolved task function. */
struct task_fn {
    char       *tf_module; /* as the task named it ("" for the worker itself) */
    char       *tf_name;
    nws_task_fn tf_fn;
};

static struct task_fn *task_fns;
static size_t          task_nfns;

/* ---- the ABI for modules ----------------------------------------------------- */

json_t *
nws_task_error(nws_task_ctx *ctx, const char *fmt, ...)
{
    va_list ap;

    if (ctx == NULL || ctx->tc_failed)
        return NULL;
    ctx->tc_failed = 1;
    va_start(ap, fmt);
    vsnprintf(ctx->tc_error, sizeof(ctx->tc_error), fmt, ap);
    va_end(ap);
    return NULL;
}

int
nws_task_rank(const nws_task_ctx *ctx)
{
    return ctx != NULL ? (int)ctx->tc_w->w_rank : -1;
}

int
nws_task_workers(const nws_task_ctx *ctx)
{
    return ctx != NULL ? ctx->tc_w->w_workers : -1;
}

long
nws_task_index(const nws_task_ctx *ctx)
{
    return ctx != NULL ? ctx->tc_index : -1;
}

const char *
nws_task_batch(const nws_task_ctx *ctx)
{
    return ctx != NULL ? ctx->tc_batch : NULL;
}

const char *
nws_task_ws_name(const nws_task_ctx *ctx)
{
    return ctx != NULL ? ctx->tc_w->w_ws_name : NULL;
}

nws_ws *
nws_task_ws(nws_task_ctx *ctx, nws_error *err)
{
    struct worker *w;

    if (ctx == NULL)
        return NULL;
    w = ctx->tc_w;
    if (w->w_ws2 != NULL)
        return w->w_ws2;
    if (w->w_c2 == NULL && (w->w_c2 = nws_connect(w->w_host, w->w_port, 0, err)) == NULL)
        return NULL;
    w->w_ws2 = nws_ws_use(w->w_c2, w->w_ws_name, NWS_WS_NOCREATE, err);
    return w->w_ws2;
}

/* ---- modules --------------------------------------------------------------- */

/* dlopen()s module (see nws_sleigh.h for the search); handle, or NULL with why. */
static void *
task_open(const char *module, char *why, size_t len)
{
    const char *path = getenv("NWS_MODULE_PATH"), *p, *e, *msg;
    char        buf[PATH_MAX];
    void       *h;
    int         ext;

    if (module == NULL || *module == '\0')
        return dlopen(NULL, RTLD_NOW);
    if (strchr(module, '/') == NULL && path != NULL) {
        for (p = path; *p != '\0'; p = *e != '\0' ? e + 1 : e) {
            if ((e = strchr(p, ':')) == NULL)
                e = p + strlen(p);
            for (ext = 0; ext < 2 && e > p; ext++) {
                snprintf(buf, sizeof(buf), "%.*s/%s%s", (int)(e - p), p, module,
                         ext ? ".so" : "");
                if (access(buf, R_OK) == 0 && (h = dlopen(buf, RTLD_NOW)) != NULL)
                    return h;
            }
        }
    }
    if ((h = dlopen(module, RTLD_NOW)) != NULL)
        return h;
    msg = dlerror();
    snprintf(why, len, "cannot load module %s: %s", module, msg ? msg : "not found");
    return NULL;
}

/* The function name of module (cached); NULL with why. */
static nws_task_fn
task_resolve(const char *module, const char *name, char *why, size_t len)
{
    struct task_fn *t;
    size_t          i;
    void           *h, *sym;
    nws_task_fn     fn;

    if (module == NULL)
        module = "";
    for (i = 0; i < task_nfns; i++)
        if (strcmp(task_fns[i].tf_name, name) == 0 &&
            strcmp(task_fns[i].tf_module, module) == 0)
            return task_fns[i].tf_fn;
    /* dlopen counts references: opening a module again gives the same handle. */
    if ((h = task_open(module, why, len)) == NULL)
        return NULL;
    dlerror();
    sym = dlsym(h, name);
    if (sym == NULL) {
        snprintf(why, len, "no function %s in module %s", name,
                 *module ? module : "(the worker)");
        return NULL;
    }
    memcpy(&fn, &sym, sizeof(fn)); /* object to function pointer, as POSIX allows */
    if ((t = realloc(task_fns, (task_nfns + 1) * sizeof(*t))) == NULL) {
        snprintf(why, len, "out of memory");
        return NULL;
    }
    task_fns = t;
    t[task_nfns].tf_module = strdup(module);
    t[task_nfns].tf_name = strdup(name);
    t[task_nfns].tf_fn = fn;
    if (t[task_nfns].tf_module == NULL || t[task_nfns].tf_name == NULL) {
        free(t[task_nfns].tf_module);
        free(t[task_nfns].tf_name);
        snprintf(why, len, "out of memory");
        return NULL;
    }
    task_nfns++;
    return fn;
}

void
task_cleanup(struct worker *w)
{
    size_t i;

    for (i = 0; i < task_nfns; i++) {
        free(task_fns[i].tf_module);
        free(task_fns[i].tf_name);
    }
    free(task_fns);
    task_fns = NULL;
    task_nfns = 0;
    nws_ws_free(w->w_ws2);
    nws_close(w->w_c2);
    w->w_ws2 = NULL;
    w->w_c2 = NULL;
}

/* ---- running a task ---------------------------------------------------------- */

/*
 * The final argument list of an element: its own arguments, then the fixed
 * ones, reordered by permute.  A new array, or NULL with why.
 */
static json_t *
task_args(const json_t *own, const json_t *fixed, const json_t *permute, char *why,
          size_t len)
{
    json_t *all, *out, *x;
    size_t  i;

    if (!json_is_array(own)) {
        snprintf(why, len, "malformed task record: an argument list is not an array");
        return NULL;
    }
    if (json_array_size(fixed) == 0 && permute == NULL)
        return json_incref((json_t *)own); /* nothing to add: no copy */
    if ((all = json_copy((json_t *)own)) == NULL ||
        (fixed != NULL && json_array_extend(all, (json_t *)fixed) != 0)) {
        json_decref(all);
        snprintf(why, len, "out of memory");
        return NULL;
    }
    if (permute == NULL)
        return all;
    if ((out = json_array()) == NULL) {
        json_decref(all);
        snprintf(why, len, "out of memory");
        return NULL;
    }
    json_array_foreach(permute, i, x)
    {
        if (!json_is_integer(x) || json_integer_value(x) < 0 ||
            (size_t)json_integer_value(x) >= json_array_size(all)) {
            snprintf(why, len, "arg_permute[%zu] is not one of the %zu arguments", i,
                     json_array_size(all));
            json_decref(out);
            json_decref(all);
            return NULL;
        }
        json_array_append(out, json_array_get(all, (size_t)json_integer_value(x)));
    }
    json_decref(all);
    return out;
}

/* A whole-task error record as a value (new), or NULL. */
static nws_value *
task_fail(struct worker *w, long first, long count, const char *why)
{
    json_t *rec =
        json_pack("{s:I, s:I, s:I, s:s}", "first", (json_int_t)first, "count",
                  (json_int_t)count, "rank", (json_int_t)w->w_rank, "error", why);
    nws_value *v = rec != NULL ? nws_value_from_json(rec, NULL) : NULL;

    json_decref(rec);
    return v;
}

/* Runs one element: a new result entry ({"value"} or {"error"}), or NULL. */
static json_t *
task_element(struct worker *w, const json_t *rec, nws_task_fn fn, const json_t *own,
             long index, const char *batch)
{
    nws_task_ctx ctx;
    json_t      *args, *val = NULL, *ent;
    char        *error = NULL;
    double       t0 = nwsp_sleigh_mono();

    memset(&ctx, 0, sizeof(ctx));
    ctx.tc_w = w;
    ctx.tc_index = index;
    ctx.tc_batch = batch;
    args = task_args(own, json_object_get(rec, "fixed"), json_object_get(rec, "permute"),
                     ctx.tc_error, sizeof(ctx.tc_error));
    if (args == NULL) {
        ctx.tc_failed = 1;
    } else if (fn != NULL) {
        val = fn(args, &ctx);
        if (val == NULL && !ctx.tc_failed)
            nws_task_error(&ctx, "the function returned NULL");
        if (ctx.tc_failed) {
            json_decref(val);
            val = NULL;
        }
    } else {
        val = command_run(w, rec, args, index, &error);
        if (val == NULL && error == NULL)
            error = strdup("out of memory");
    }
    json_decref(args);
    ent = json_object();
    if (ent == NULL) {
        json_decref(val);
        free(error);
        return NULL;
    }
    if (val != NULL)
        json_object_set_new(ent, "value", val);
    if (ctx.tc_failed)
        json_object_set_new(ent, "error", json_string(ctx.tc_error));
    else if (error != NULL)
        json_object_set_new(ent, "error", json_string(error));
    json_object_set_new(ent, "seconds", json_real(nwsp_sleigh_mono() - t0));
    free(error);
    return ent;
}

/*
 * The result record of a task (steals results): {"first", "rank",
 * "results": [...]}, or, for a function task whose elements all
 * succeeded, the compact {"first", "rank", "values": [...], "seconds"}
 * (less to encode and decode per element).  New, or NULL.
 */
static json_t *
task_record(struct worker *w, long first, json_t *results, int compact)
{
    json_t *values, *ent;
    double  secs = 0;
    size_t  i;

    json_array_foreach(results, i, ent)
    {
        if (json_object_get(ent, "error") != NULL)
            compact = 0;
    }
    if (!compact)
        return json_pack("{s:I, s:I, s:o}", "first", (json_int_t)first, "rank",
                         (json_int_t)w->w_rank, "results", results);
    if ((values = json_array()) == NULL) {
        json_decref(results);
        return NULL;
    }
    json_array_foreach(results, i, ent)
    {
        secs += json_real_value(json_object_get(ent, "seconds"));
        if (json_array_append(values, json_object_get(ent, "value")) != 0) {
            json_decref(values);
            json_decref(results);
            return NULL;
        }
    }
    json_decref(results);
    return json_pack("{s:I, s:I, s:o, s:f}", "first", (json_int_t)first, "rank",
                     (json_int_t)w->w_rank, "values", values, "seconds", secs);
}

nws_value *
task_run(struct worker *w, const nws_value *v)
{
    const nws_meta *m = nws_value_meta_get(v);
    const char     *kind, *batch = nws_meta_get(m, "batchId");
    json_t         *rec, *args, *own, *results, *out, *ent;
    nws_task_fn     fn = NULL;
    nws_value      *res;
    long            first = 0, count = 0;
    int             each_worker;
    size_t          i;
    char            why[512];

    nwsp_sleigh_meta_long(m, "nwsFirst", &first);
    nwsp_sleigh_meta_long(m, "nwsCount", &count);
    if ((rec = nwsp_sleigh_decode(v)) == NULL || !json_is_object(rec)) {
        json_decref(rec);
        return task_fail(w, first, count, "malformed task record: not a JSON object");
    }
    if (json_is_integer(json_object_get(rec, "first")))
        first = (long)json_integer_value(json_object_get(rec, "first"));
    args = json_object_get(rec, "args");
    each_worker = json_is_true(json_object_get(rec, "each_worker"));
    kind = json_string_value(json_object_get(rec, "kind"));
    if (batch == NULL)
        batch = json_string_value(json_object_get(rec, "batch"));
    if (!json_is_array(args)) {
        json_decref(rec);
        return task_fail(w, first, count, "malformed task record: no \"args\"");
    }
    if (kind != NULL && strcmp(kind, "call") == 0) {
        const char *fname = json_string_value(json_object_get(rec, "function"));

        if (fname == NULL) {
            res = task_fail(w, first, (long)json_array_size(args),
                            "malformed task record: no \"function\"");
            json_decref(rec);
            return res;
        }
        fn = task_resolve(json_string_value(json_object_get(rec, "module")), fname, why,
                          sizeof(why));
        if (fn == NULL) {
            res = task_fail(w, first, (long)json_array_size(args), why);
            json_decref(rec);
            return res;
        }
    } else if (kind == NULL || strcmp(kind, "command") != 0) {
        snprintf(why, sizeof(why), "unknown task kind %s", kind ? kind : "(none)");
        res = task_fail(w, first, (long)json_array_size(args), why);
        json_decref(rec);
        return res;
    }
    worker_log(w, "batch %s: %s elements %ld..%ld", batch ? batch : "?", kind, first,
               first + (long)json_array_size(args) - 1);
    if ((results = json_array()) == NULL) {
        json_decref(rec);
        return NULL;
    }
    json_array_foreach(args, i, own)
    {
        ent = task_element(w, rec, fn, own, each_worker ? -1 : first + (long)i, batch);
        if (ent == NULL || json_array_append_new(results, ent) != 0) {
            json_decref(results);
            json_decref(rec);
            return NULL;
        }
    }
    out = task_record(w, first, results, fn != NULL);
    json_decref(rec);
    if (out == NULL)
        return NULL;
    res = nws_value_from_json(out, NULL);
    json_decref(out);
    if (res == NULL) /* e.g. a value JSON cannot encode */
        return task_fail(w, first, count, "the result cannot be encoded as JSON");
    return res;
}
