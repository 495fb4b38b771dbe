/*
 * transfer.c -- the sleigh command's files to and from the workers, with
 * GNU parallel's options: --transferfile FILE (--tf; --transfer is
 * --tf {}), --return FILE, --cleanup, --trc FILE (--transfer --return FILE
 * --cleanup) and --basefile FILE (--bf).
 *
 * parallel moves these files with rsync over ssh; sleigh moves them through
 * the nws server, as values of the sleigh workspace, so they travel
 * wherever the workers reach the server: through the ssh connections
 * (tunnel mode) with nothing else, no scp, no shared file system.  Every
 * file goes as one value streamed in 64 KiB pieces (nws_store_fd,
 * nws_fetch_fd); the server spools a large one to disk, so neither end nor
 * the server holds a file whole in memory.
 *
 *  - An element's --transferfile files are stored before the element is
 *    submitted, as xfer@in@<element>@<attempt>@<k>, and named in a record
 *    added to its arguments ({"nwsTransfer": {"in": [...], "ret": [...]}};
 *    the worker takes it out before it builds the command).  The worker
 *    (worker/transfer.c) copies them into its private directory, runs the
 *    command there, and stores each --return file as a value of its own,
 *    listed in the result; here they are written into the current
 *    directory, under the path this side computed (the worker's answer
 *    only says which value holds the k-th file), then the values are gone.
 *  - --basefile files are stored once before the run (xfer@base@<k>); the
 *    first worker of each node fetches them, the others on the node share
 *    them; with --cleanup an end task on every worker removes them, and
 *    the private directories, once the run is over.
 *
 * Paths, as parallel has them: the path as given is read (or written) on
 * this side; on the worker the part after "/./" is used if there is one
 * (out/./a/b.out comes back from a/b.out into out/a/b.out), else the whole
 * path.  The worker's side of a path must stay inside its directory and
 * the returned file inside ours: an absolute path or one with ".." is
 * refused (the element fails and nothing runs), where parallel would use
 * the same absolute path on both machines; DIR/./NAME sends an absolute
 * file.  A --transferfile that does not exist here is not sent, and the
 * command runs anyway, as with parallel (whose rsync only complains).
 * These options take effect with local workers too (parallel ignores them
 * without -S): the command then runs in a private directory all the same,
 * and the returned files land here as they would from a node.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../sleighp.h"
#include "sl.h"
#include "util.h"

struct sl_xfer {
    struct sl_slot *in, *ret; /* --transferfile and --return templates */
    size_t          nin, nret;
    size_t          nbase;
    nws_client     *c; /* our connection for file values */
    nws_ws         *ws;
    int             cwd; /* where returned files go */
    mode_t          umask;
    unsigned        seq;      /* temporary file names */
    struct sl_buf   path;     /* a filled template */
    const char    **inputs;   /* an element's inputs */
    char            why[512]; /* why an element's files failed */
};

int
sl_xfer_opt(struct sl_opts *o, const char *name, const char *arg)
{
    const char **list = NULL;
    int         *n = NULL;

    if (strcmp(name, "cleanup") == 0) {
        o->xfer_cleanup = 1;
        return 0;
    }
    if (strcmp(name, "transfer") == 0 || strcmp(name, "trc") == 0) {
        if (strcmp(name, "trc") == 0) {
            o->xfer_cleanup = 1;
            if (sl_xfer_opt(o, "return", arg) != 0)
                return -1;
        }
        /* --transfer twice (or with --trc) sends {} once. */
        for (int i = 0; i < o->nxfer_in; i++)
            if (strcmp(o->xfer_in[i], "{}") == 0)
                return 0;
        return sl_xfer_opt(o, "transferfile", "{}");
    }
    if (strcmp(name, "transferfile") == 0) {
        list = o->xfer_in;
        n = &o->nxfer_in;
    } else if (strcmp(name, "return") == 0) {
        list = o->xfer_ret;
        n = &o->nxfer_ret;
    } else {
        list = o->xfer_base;
        n = &o->nxfer_base;
    }
    if (*n == 32) {
        sl_warnx("too many --%s options (32 at most)", name);
        return -1;
    }
    if (*arg == '\0') {
        sl_warnx("--%s: want a file name", name);
        return -1;
    }
    list[(*n)++] = arg;
    return 0;
}

/* Compiles template text into slot (placeholders as in the command). */
static void
sl_xfer_compile(struct sl_slot *slot, const char *text, size_t nsrc)
{
    const char   *p = text, *lit = text;
    struct sl_seg seg;
    size_t        n;

    memset(slot, 0, sizeof(*slot));
    for (;;) {
        n = *p != '\0' ? sl_placeholder(p, nsrc, &seg) : 0;
        if (*p == '\0' || n > 0) {
            slot->segs =
                sl_reallocarray(slot->segs, slot->nsegs + 2, sizeof(*slot->segs));
            if (p > lit) {
                memset(&slot->segs[slot->nsegs], 0, sizeof(seg));
                slot->segs[slot->nsegs].kind = SL_SEG_TEXT;
                slot->segs[slot->nsegs].text = lit;
                slot->segs[slot->nsegs++].len = (size_t)(p - lit);
            }
            if (*p == '\0')
                break;
            slot->segs[slot->nsegs++] = seg;
            p += n;
            lit = p;
            continue;
        }
        p++;
    }
}

/* Fills template slot for element idx into x->path. */
static const char *
sl_xfer_fill(struct sl_run *run, const struct sl_slot *slot, size_t idx)
{
    struct sl_xfer *x = run->xfer;

    sl_input_elem(run->in, idx, x->inputs);
    sl_slot_fill(slot, x->inputs, run->in->nsrc, idx, &x->path);
    return x->path.p;
}

/*
 * The local path of a returned file: the path with its "/./" taken out
 * (out/./a/b -> out/a/b), into buf.  0, or -1 with why if it would not be
 * inside our directory.
 */
static int
sl_xfer_local(const char *path, char *buf, size_t len, char *why, size_t wlen)
{
    const char *mark = strstr(path, "/./");

    if (mark != NULL)
        snprintf(buf, len, "%.*s/%s", (int)(mark - path), path, mark + 3);
    else
        snprintf(buf, len, "%s", path);
    return nwsp_xfer_check(buf, why, wlen);
}

/* Stores file path as value var; its record {"var", "path", "mode"} (new), or NULL. */
static json_t *
sl_xfer_send(struct sl_xfer *x, const char *path, const char *var, const char *rel,
             int *fatal)
{
    struct stat st;
    nws_error   err;
    int         fd;

    *fatal = 0;
    if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
        return NULL;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return NULL; /* a directory is not sent, as rsync without -r does not */
    }
    if (nws_store_fd(x->ws, var, fd, (uint64_t)st.st_size, NWS_DESC_BYTES, &err) != 0) {
        sl_warnx("cannot send %s: %s", path,
                 err.text[0] ? err.text : nws_errcode_str(err.code));
        close(fd);
        *fatal = 1;
        return NULL;
    }
    close(fd);
    return json_pack("{s:s, s:s, s:i, s:I}", "var", var, "path", rel, "mode",
                     (int)(st.st_mode & 0777), "bytes", (json_int_t)st.st_size);
}

int
sl_xfer_init(struct sl_run *run)
{
    const struct sl_opts *o = run->o;
    struct sl_xfer       *x;
    json_t               *tr, *bases, *rec;
    nws_error             err;
    char                  var[64], why[64];
    const char           *rel;
    int                   i, fatal;

    if (o->nxfer_in == 0 && o->nxfer_ret == 0 && o->nxfer_base == 0)
        return 0; /* --cleanup alone does nothing, as in GNU parallel */
    x = sl_malloc(sizeof(*x));
    memset(x, 0, sizeof(*x));
    run->xfer = x;
    x->cwd = -1;
    x->inputs = sl_reallocarray(NULL, run->in->nsrc + 1, sizeof(*x->inputs));
    x->in = sl_reallocarray(NULL, (size_t)o->nxfer_in + 1, sizeof(*x->in));
    x->ret = sl_reallocarray(NULL, (size_t)o->nxfer_ret + 1, sizeof(*x->ret));
    for (i = 0; i < o->nxfer_in; i++)
        sl_xfer_compile(&x->in[x->nin++], o->xfer_in[i], run->in->nsrc);
    for (i = 0; i < o->nxfer_ret; i++)
        sl_xfer_compile(&x->ret[x->nret++], o->xfer_ret[i], run->in->nsrc);
    x->umask = umask(077);
    umask(x->umask);
    if ((x->cwd = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
        sl_warnx("cannot open the current directory: %s", strerror(errno));
        return -1;
    }
    if ((x->c = nwsp_sleigh_conn_get(run->s, &x->ws, &err)) == NULL) {
        sl_warnx("cannot connect for the files: %s",
                 err.text[0] ? err.text : nws_errcode_str(err.code));
        return -1;
    }
    if ((bases = json_array()) == NULL)
        sl_nomem();
    for (i = 0; i < o->nxfer_base; i++) {
        rel = nwsp_xfer_rel(o->xfer_base[i]);
        if (nwsp_xfer_check(rel, why, sizeof(why)) != 0) {
            sl_warnx(
                "--basefile %s: %s (use DIR/./NAME to send an absolute file as NAME)",
                o->xfer_base[i], why);
            json_decref(bases);
            return -1;
        }
        snprintf(var, sizeof(var), "xfer@base@%d", i);
        if ((rec = sl_xfer_send(x, o->xfer_base[i], var, rel, &fatal)) == NULL) {
            if (!fatal)
                sl_warnx("--basefile %s: %s", o->xfer_base[i],
                         errno != 0 ? strerror(errno) : "not a regular file");
            json_decref(bases);
            return -1;
        }
        json_array_append_new(bases, rec);
        x->nbase++;
    }
    tr = json_pack("{s:o, s:b}", "base", bases, "cleanup", o->xfer_cleanup);
    if (tr == NULL || json_object_set_new(run->task, "transfer", tr) != 0)
        sl_nomem();
    return 0;
}

int
sl_xfer_args(struct sl_run *run, size_t idx, long attempt, json_t *args)
{
    struct sl_xfer *x = run->xfer;
    json_t         *in, *ret, *desc, *rec;
    char            var[96], why[64], local[4096];
    const char     *path, *rel;
    size_t          k;
    int             fatal;

    if (x == NULL)
        return 0;
    if ((in = json_array()) == NULL || (ret = json_array()) == NULL)
        sl_nomem();
    desc = json_pack("{s:o, s:o}", "in", in, "ret", ret);
    for (k = 0; k < x->nin; k++) {
        path = sl_xfer_fill(run, &x->in[k], idx);
        rel = nwsp_xfer_rel(path);
        if (nwsp_xfer_check(rel, why, sizeof(why)) != 0) {
            snprintf(x->why, sizeof(x->why),
                     "--transferfile %.256s: %s: not sent (the file must stay inside the "
                     "worker's directory; DIR/./NAME sends NAME)",
                     path, why);
            json_object_set_new(desc, "error", json_string(x->why));
            break;
        }
        snprintf(var, sizeof(var), "xfer@in@%zu@%ld@%zu", idx, attempt, k);
        errno = 0;
        if ((rec = sl_xfer_send(x, path, var, rel, &fatal)) != NULL)
            json_array_append_new(in, rec);
        else if (fatal) {
            json_decref(desc);
            return -1;
        }
    }
    for (k = 0; k < x->nret && json_object_get(desc, "error") == NULL; k++) {
        path = sl_xfer_fill(run, &x->ret[k], idx);
        rel = nwsp_xfer_rel(path);
        if (nwsp_xfer_check(rel, why, sizeof(why)) != 0 ||
            sl_xfer_local(path, local, sizeof(local), why, sizeof(why)) != 0) {
            snprintf(x->why, sizeof(x->why),
                     "--return %.256s: %s: refused (a returned file must stay inside the "
                     "current directory)",
                     path, why);
            json_object_set_new(desc, "error", json_string(x->why));
            break;
        }
        json_array_append_new(ret, json_string(rel));
    }
    if (json_array_append_new(args, json_pack("{s:o}", "nwsTransfer", desc)) != 0)
        sl_nomem();
    return 0;
}

/*
 * Writes value var (a returned file, mode bits mode) to path under our
 * directory: into a temporary file next to it, renamed over it once whole.
 * 0, or -1 with x->why.
 */
static int
sl_xfer_receive(struct sl_xfer *x, const char *var, const char *path, int mode)
{
    char      tmp[4096 + 64];
    nws_error err;
    int       fd, rc;

    snprintf(tmp, sizeof(tmp), "%s.sleigh-%ld-%u", path, (long)getpid(), ++x->seq);
    if ((fd = nwsp_xfer_open(x->cwd, tmp, O_WRONLY | O_CREAT | O_EXCL, 0600)) < 0) {
        snprintf(x->why, sizeof(x->why), "--return: cannot write %.256s: %s", path,
                 strerror(errno));
        nws_delete_var(x->ws, var, &err);
        return -1;
    }
    rc = nws_fetch_fd(x->ws, var, NWS_OP_FETCH_TRY, fd, NULL, NULL, &err);
    if (rc == 0)
        snprintf(err.text, sizeof(err.text), "the file is gone from the server");
    if (rc == 1 && fchmod(fd, (mode_t)mode & 0777 & ~x->umask) != 0) {
        snprintf(err.text, sizeof(err.text), "%s", strerror(errno));
        rc = -1;
    }
    if (close(fd) != 0 && rc == 1) {
        snprintf(err.text, sizeof(err.text), "%s", strerror(errno));
        rc = -1;
    }
    if (rc == 1 && renameat(x->cwd, tmp, x->cwd, path) != 0) {
        snprintf(err.text, sizeof(err.text), "%s", strerror(errno));
        rc = -1;
    }
    if (rc == 1)
        return 0;
    unlinkat(x->cwd, tmp, 0);
    if (nws_is_open(x->c))
        nws_delete_var(x->ws, var, &err);
    snprintf(x->why, sizeof(x->why), "--return: cannot bring back %.256s: %s", path,
             err.text[0] ? err.text : nws_errcode_str(err.code));
    return -1;
}

void
sl_xfer_result(struct sl_run *run, size_t idx, long attempt, nws_sleigh_result *r)
{
    struct sl_xfer *x = run->xfer;
    const json_t   *list, *rec;
    const char     *var, *missing;
    char            name[96], local[4096], why[64];
    nws_error       err;
    size_t          k;
    int             last, failed = 0;

    if (x == NULL)
        return;
    /* The element's inputs: its attempt is over, whoever ran it. */
    for (k = 0; k < x->nin; k++) {
        snprintf(name, sizeof(name), "xfer@in@%zu@%ld@%zu", idx, attempt, k);
        nws_delete_var(x->ws, name, &err);
    }
    /* As run.c decides: a halted element or one run again keeps nothing. */
    last = !(r->error != NULL && strcmp(r->error, NWS_SLEIGH_HALTED) == 0) &&
           !(r->error != NULL && attempt <= run->o->retries);
    list = r->value != NULL ? json_object_get(r->value, "returned") : NULL;
    for (k = 0; k < json_array_size(list) && k < x->nret; k++) {
        rec = json_array_get(list, k);
        var = json_string_value(json_object_get(rec, "var"));
        if (var == NULL) {
            missing = json_string_value(json_object_get(rec, "missing"));
            if (last) {
                sl_progress_clear(run);
                sl_warnx("--return %s: not on the worker: %s",
                         sl_xfer_fill(run, &x->ret[k], idx), missing ? missing : "?");
            }
            continue;
        }
        if (strncmp(var, "xfer@ret@", 9) != 0)
            continue; /* not a name a worker gives: not ours to touch */
        if (!last || failed) {
            nws_delete_var(x->ws, var, &err);
            continue;
        }
        if (sl_xfer_local(sl_xfer_fill(run, &x->ret[k], idx), local, sizeof(local), why,
                          sizeof(why)) != 0 ||
            sl_xfer_receive(x, var, local,
                            (int)json_integer_value(json_object_get(rec, "mode"))) != 0)
            failed = 1;
    }
    if (failed) {
        r->error = x->why; /* the element fails: its files did not all come back */
        sl_progress_clear(run);
        sl_warnx("%s", x->why);
    }
}

int
sl_xfer_end(struct sl_run *run)
{
    struct sl_xfer *x = run->xfer;
    json_t         *task, *res;
    nws_error       err;
    char            var[64];
    size_t          k;
    int             rc = 0;

    if (x == NULL)
        return 0;
    if (run->o->xfer_cleanup && run->s != NULL && !sl_interrupted) {
        /* Every worker once: its directory, the node's basefiles and directory go. */
        task = json_pack("{s:s, s:[s], s:{s:b, s:b}}", "kind", "command", "argv", "true",
                         "transfer", "end", 1, "cleanup", 1);
        if (task == NULL)
            sl_nomem();
        if ((res = nws_sleigh_each_worker(run->s, task, NULL, &err)) == NULL) {
            sl_warnx("--cleanup: %s", err.text[0] ? err.text : nws_errcode_str(err.code));
            rc = -1;
        }
        json_decref(res);
        json_decref(task);
    }
    for (k = 0; x->c != NULL && k < x->nbase; k++) {
        snprintf(var, sizeof(var), "xfer@base@%zu", k);
        nws_delete_var(x->ws, var, &err);
    }
    if (x->c != NULL)
        nwsp_sleigh_conn_put(run->s, x->c, x->ws, nws_is_open(x->c));
    for (k = 0; k < x->nin; k++)
        free(x->in[k].segs);
    for (k = 0; k < x->nret; k++)
        free(x->ret[k].segs);
    free(x->in);
    free(x->ret);
    free(x->inputs);
    free(x->path.p);
    if (x->cwd >= 0)
        close(x->cwd);
    free(x);
    run->xfer = NULL;
    return rc;
}
