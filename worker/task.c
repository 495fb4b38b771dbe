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
    if (w->w_c2 == NULL &&
        (w->w_c2 = nws_connect_auth(w->w_host, w->w_port, 0, w->w_secret, err)) == NULL)
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
    /* A "fixed" that is not an array was once dropped without a word. */
    if (fixed != NULL && !json_is_array(fixed)) {
        snprintf(why, len, "malformed task record: the fixed arguments are not an array");
        return NULL;
    }
    if (permute != NULL && !json_is_array(permute)) {
        snprintf(why, len, "malformed task record: arg_permute is not an array");
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

/*
 * Notes on result value v how many of its elements failed (metadata
 * nwsErrors), for the server's failed count; nothing when none did.
 */
static void
task_mark_errors(nws_value *v, size_t nerr)
{
    char num[32];

    if (v == NULL || nerr == 0)
        return;
    snprintf(num, sizeof(num), "%zu", nerr);
    nws_meta_set(nws_value_meta(v), "nwsErrors", num, NULL);
}

/* Copies the failed count of result res onto task's metadata, which the result's
 * store carries. */
void
task_note_errors(nws_value *task, const nws_value *res)
{
    const char *n = nws_meta_get(nws_value_meta_get(res), "nwsErrors");

    if (n != NULL)
        nws_meta_set(nws_value_meta(task), "nwsErrors", n, NULL);
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
    task_mark_errors(v, count > 0 ? (size_t)count : 1);
    return v;
}

/* The outcome of one element. */
struct task_out {
    json_t *to_value; /* owned, or NULL */
    char   *to_error; /* owned, or NULL when the element succeeded */
    double  to_secs;
};

/*
 * Runs one element into *out: a function (fn) or a command (fn NULL).
 * fixed and permute come from the record.  0, or -1 when out of memory.
 */
static int
task_element(struct worker *w, const json_t *rec, nws_task_fn fn, const json_t *fixed,
             const json_t *permute, const json_t *own, long index, const char *batch,
             struct task_out *out)
{
    nws_task_ctx ctx;
    json_t      *args, *val = NULL;
    char        *error = NULL;

    ctx.tc_w = w;
    ctx.tc_index = index;
    ctx.tc_batch = batch;
    ctx.tc_failed = 0;
    ctx.tc_error[0] = '\0';
    args = task_args(own, fixed, permute, ctx.tc_error, sizeof(ctx.tc_error));
    /* Our owner kills us if this element outlives its timeout (watch.c). */
    watch_begin(json_number_value(json_object_get(rec, "timeout")));
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
        if (val == NULL && error == NULL && (error = strdup("out of memory")) == NULL)
            return -1;
    }
    watch_end();
    json_decref(args);
    if (ctx.tc_failed && (error = strdup(ctx.tc_error)) == NULL) {
        json_decref(val);
        return -1;
    }
    out->to_value = val;
    out->to_error = error;
    return 0;
}

/* Frees the outcomes of n elements. */
static void
task_outs_free(struct task_out *outs, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        json_decref(outs[i].to_value);
        free(outs[i].to_error);
    }
    free(outs);
}

/*
 * The result record of a task's n outcomes (the values are moved out):
 * {"first", "rank", "results": [...]}, or, for a function task whose
 * elements all succeeded, the compact {"first", "rank", "values": [...],
 * "seconds"} (less to encode and decode per element).  New, or NULL.
 */
static json_t *
task_record(struct worker *w, long first, struct task_out *outs, size_t n, int compact)
{
    json_t *list, *ent;
    double  secs = 0;
    size_t  i;

    for (i = 0; i < n; i++)
        if (outs[i].to_error != NULL)
            compact = 0;
    if ((list = json_array()) == NULL)
        return NULL;
    for (i = 0; i < n; i++) {
        secs += outs[i].to_secs;
        if (compact) {
            ent = outs[i].to_value;
        } else if ((ent = json_object()) != NULL) {
            if (outs[i].to_value != NULL)
                json_object_set_new(ent, "value", outs[i].to_value);
            if (outs[i].to_error != NULL)
                json_object_set_new(ent, "error", json_string(outs[i].to_error));
            json_object_set_new(ent, "seconds", json_real(outs[i].to_secs));
        } else {
            json_decref(outs[i].to_value);
        }
        outs[i].to_value = NULL;
        if (ent == NULL || json_array_append_new(list, ent) != 0) {
            json_decref(list);
            return NULL;
        }
    }
    if (!compact)
        return json_pack("{s:I, s:I, s:o}", "first", (json_int_t)first, "rank",
                         (json_int_t)w->w_rank, "results", list);
    return json_pack("{s:I, s:I, s:o, s:f}", "first", (json_int_t)first, "rank",
                     (json_int_t)w->w_rank, "values", list, "seconds", secs);
}

/*
 * Decodes a task record.  When it can, the argument lists are left as text
 * (*span, with *n items) to be read one at a time into one reused array
 * (task_own): for short tasks, building an array per element was a third
 * of the worker's time.  Otherwise *span is NULL and the record is whole.
 * A new reference, or NULL.
 */
static json_t *
task_decode(const nws_value *v, const char **span, size_t *spanlen, size_t *n)
{
    json_t *rec;

    *span = NULL;
    *n = 0;
    if ((nws_value_desc(v) & NWS_DESC_DIRECT_STRING) &&
        (rec = nwsp_sleigh_json_parse_except(nws_value_data(v), nws_value_size(v), "args",
                                             span, spanlen, n)) != NULL)
        return rec;
    *span = NULL;
    return nwsp_sleigh_decode(v);
}

/*
 * The next element's own argument list from the text of the record's args:
 * *reuse refilled (made again if task code kept a reference to it), or,
 * for text the fast reader does not take, jansson's reading of it.  A new
 * reference (NULL when the text is not JSON).
 */
static json_t *
task_own(struct nwsp_sleigh_items *it, json_t **reuse)
{
    const char *item;
    size_t      len;

    if (nwsp_sleigh_items_next(it, &item, &len) != 1)
        return NULL; /* cannot happen: the items were counted */
    if (*reuse != NULL && (*reuse)->refcount > 1) {
        json_decref(*reuse); /* someone holds it: leave it to them */
        *reuse = NULL;
    }
    if (*reuse == NULL && (*reuse = json_array()) == NULL)
        return NULL;
    if (nwsp_sleigh_json_fill(*reuse, item, len) == 0)
        return json_incref(*reuse);
    return json_loadb(item, len, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
}

nws_value *
task_run(struct worker *w, const nws_value *v)
{
    const nws_meta *m = nws_value_meta_get(v);
    const char     *kind, *batch = nws_meta_get(m, "batchId");
    json_t         *rec, *args = NULL, *own, *out, *reuse = NULL;
    const json_t   *fixed, *permute;
    struct task_out *outs;
    struct nwsp_sleigh_items it;
    nws_task_fn     fn = NULL;
    nws_value      *res;
    long            first = 0, count = 0;
    int             each_worker;
    size_t          i, n, spanlen = 0, nerr;
    const char     *span;
    double          t0, t1;
    char            why[512];

    nwsp_sleigh_meta_long(m, "nwsFirst", &first);
    nwsp_sleigh_meta_long(m, "nwsCount", &count);
    if ((rec = task_decode(v, &span, &spanlen, &n)) == NULL || !json_is_object(rec)) {
        json_decref(rec);
        return task_fail(w, first, count, "malformed task record: not a JSON object");
    }
    if (json_is_integer(json_object_get(rec, "first")))
        first = (long)json_integer_value(json_object_get(rec, "first"));
    if (span == NULL) {
        args = json_object_get(rec, "args");
        n = json_array_size(args);
    }
    each_worker = json_is_true(json_object_get(rec, "each_worker"));
    kind = json_string_value(json_object_get(rec, "kind"));
    if (batch == NULL)
        batch = json_string_value(json_object_get(rec, "batch"));
    if (span == NULL && !json_is_array(args)) {
        json_decref(rec);
        return task_fail(w, first, count, "malformed task record: no \"args\"");
    }
    if (kind != NULL && strcmp(kind, "call") == 0) {
        const char *fname = json_string_value(json_object_get(rec, "function"));

        if (fname == NULL) {
            res = task_fail(w, first, (long)n,
                            "malformed task record: no \"function\"");
            json_decref(rec);
            return res;
        }
        fn = task_resolve(json_string_value(json_object_get(rec, "module")), fname, why,
                          sizeof(why));
        if (fn == NULL) {
            res = task_fail(w, first, (long)n, why);
            json_decref(rec);
            return res;
        }
    } else if (kind == NULL || strcmp(kind, "command") != 0) {
        snprintf(why, sizeof(why), "unknown task kind %s", kind ? kind : "(none)");
        res = task_fail(w, first, (long)n, why);
        json_decref(rec);
        return res;
    }
    worker_log(w, "batch %s: %s elements %ld..%ld", batch ? batch : "?", kind, first,
               first + (long)n - 1);
    if ((outs = calloc(n > 0 ? n : 1, sizeof(*outs))) == NULL) {
        json_decref(rec);
        return NULL;
    }
    fixed = json_object_get(rec, "fixed");
    permute = json_object_get(rec, "permute");
    if (span != NULL)
        nwsp_sleigh_items_init(&it, span, spanlen);
    crash_arm(w, v, first, (long)n, batch);
    t0 = nwsp_mono();
    for (i = 0; i < n; i++) {
        own = span != NULL ? task_own(&it, &reuse) : json_incref(json_array_get(args, i));
        if (own == NULL) {
            /* Not JSON (the fast reader found its end, jansson refused it). */
            outs[i].to_error = strdup("malformed task record: an argument list is not JSON");
            if (outs[i].to_error == NULL) {
                crash_disarm();
                task_outs_free(outs, i);
                json_decref(reuse);
                json_decref(rec);
                return NULL;
            }
        } else if (task_element(w, rec, fn, fixed, permute, own,
                                each_worker ? -1 : first + (long)i, batch, &outs[i]) != 0) {
            crash_disarm();
            json_decref(own);
            task_outs_free(outs, i);
            json_decref(reuse);
            json_decref(rec);
            return NULL;
        }
        json_decref(own);
        t1 = nwsp_mono();
        outs[i].to_secs = t1 - t0;
        t0 = t1;
    }
    crash_disarm();
    json_decref(reuse);
    for (i = 0, nerr = 0; i < n; i++)
        nerr += outs[i].to_error != NULL;
    out = task_record(w, first, outs, n, fn != NULL);
    task_outs_free(outs, n);
    json_decref(rec);
    if (out == NULL)
        return NULL;
    res = nwsp_sleigh_encode(out, NULL);
    json_decref(out);
    if (res == NULL) /* e.g. a value JSON cannot encode */
        return task_fail(w, first, count, "the result cannot be encoded as JSON");
    task_mark_errors(res, nerr);
    return res;
}
