/*
 * transfer.c -- the worker's end of the sleigh CLI's file transfers
 * (--transferfile, --return, --basefile, --cleanup: GNU parallel's options,
 * the files moving through the nws server instead of rsync over ssh).
 *
 * A command task with "transfer" (man/nws-worker.1) runs each element in a
 * private working directory of this worker:
 *
 *   $TMPDIR/nws-sleigh-<uid>-<workspace>/        the node's (0700)
 *       base/<path>                              basefiles, once per node
 *       w<rank>/                                 this worker's (0700)
 *
 * The master stores each input file as a value of its own in the sleigh
 * workspace and names it in the element's arguments ({"nwsTransfer":
 * {"in": [{"var", "path", "mode"}], "ret": [path, ...]}}, taken out of the
 * arguments before the command is built).  The worker copies the value to
 * <path> under its directory as it arrives (nws_fetch_fd: never whole in
 * memory; the server spools a large one), runs the command there, stores
 * each --return file as a value of its own (nws_store_fd) and lists them in
 * the result ("returned": [{"var", "bytes", "mode"} | {"missing": why}],
 * in the order of "ret"): the master then writes them where it decided
 * itself, so a worker never chooses a path on the master's side.  Input
 * values are read with find (not fetch): a task that goes back to the
 * queue when its worker dies finds its files again; the master deletes
 * them once the element has its result.
 *
 * The first worker of a node to need a basefile fetches it into base/
 * (under a lock), the others wait and find it there; each links it into
 * its own directory.  With "cleanup", an element's input and returned files
 * are removed once done (and their directories when empty), and the end
 * task (each worker once, "transfer": {"end": true}) removes the worker's
 * directory, the basefiles and the node's directory.
 *
 * Paths come checked from the master and are checked again here
 * (nwsp_xfer_check, nwsp_xfer_open: relative, no "..", no symbolic link
 * followed), so a transferred file never lands outside the directory.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sleighp.h"
#include "worker.h"

/* Our own connection for file values (the task connection has requests in flight). */
static nws_client *xfer_c;
static nws_ws     *xfer_ws;
static unsigned    xfer_seq;
static unsigned    xfer_nonce;
static int         xfer_bases_in; /* the basefiles are in our directory */

/* The connection for file values, made on first use; NULL with err. */
static nws_ws *
xfer_conn(const struct worker *w, nws_error *err)
{
    if (xfer_ws != NULL && nws_is_open(xfer_c))
        return xfer_ws;
    nws_ws_free(xfer_ws);
    nws_close(xfer_c);
    xfer_ws = NULL;
    if ((xfer_c = nws_connect_auth(w->w_host, w->w_port, 0, w->w_secret, err)) == NULL)
        return NULL;
    if ((xfer_ws = nws_ws_use(xfer_c, w->w_ws_name, NWS_WS_NOCREATE, err)) == NULL) {
        nws_close(xfer_c);
        xfer_c = NULL;
    }
    return xfer_ws;
}

/*
 * Makes directory path (0700) or takes the one there if it is ours: a
 * real directory (not a link), owned by us, closed to others, so nobody
 * else on the node can read or plant files in it.  0, or -1 with why.
 */
static int
xfer_mkdir(const char *path, char *why, size_t len)
{
    struct stat st;

    if (mkdir(path, 0700) != 0 && errno != EEXIST) {
        snprintf(why, len, "cannot make %s: %s", path, strerror(errno));
        return -1;
    }
    if (lstat(path, &st) != 0 || !S_ISDIR(st.st_mode) || st.st_uid != geteuid() ||
        (st.st_mode & 077) != 0) {
        snprintf(why, len, "%s is not a private directory of ours", path);
        return -1;
    }
    return 0;
}

/* The node's directory of this sleigh into buf (not made). */
static void
xfer_node_dir(const struct worker *w, char *buf, size_t len)
{
    const char *tmp = getenv("TMPDIR");
    char        name[128];
    size_t      i;

    /* A workspace name with '/' or odd bytes still gives one plain name. */
    snprintf(name, sizeof(name), "%s", w->w_ws_name);
    for (i = 0; name[i] != '\0'; i++)
        if (!((name[i] >= 'a' && name[i] <= 'z') || (name[i] >= 'A' && name[i] <= 'Z') ||
              (name[i] >= '0' && name[i] <= '9') || name[i] == '-' || name[i] == '_' ||
              name[i] == '.'))
            name[i] = '_';
    snprintf(buf, len, "%s/nws-sleigh-%ld-%s",
             tmp != NULL && tmp[0] == '/' ? tmp : "/tmp", (long)geteuid(), name);
}

/* Opens a directory we just checked; -1 with why. */
static int
xfer_open_dir(const char *path, char *why, size_t len)
{
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

    if (fd < 0)
        snprintf(why, len, "cannot open %s: %s", path, strerror(errno));
    return fd;
}

/* nftw callback of xfer_rmtree: removes what it is given (depth first, no link followed). */
static int
xfer_rm_one(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    if (type == FTW_DP)
        rmdir(path);
    else
        unlink(path);
    return 0;
}

/* Removes the tree at path, links not followed. */
static void
xfer_rmtree(const char *path)
{
    nftw(path, xfer_rm_one, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
}

/*
 * Copies value var (read with find, never whole in memory) into rel under
 * dirfd, with permission bits mode.  0, or -1 with why.
 */
static int
xfer_fetch(const struct worker *w, const char *var, int dirfd, const char *rel, int mode,
           char *why, size_t len)
{
    nws_error err = {0};
    nws_ws   *ws;
    int       fd, rc;

    /*
     * A new file, never an existing one truncated: the name may be a hard
     * link to the node's copy of a basefile, which other workers share.
     */
    nwsp_xfer_unlink(dirfd, rel);
    if ((fd = nwsp_xfer_open(dirfd, rel, O_WRONLY | O_CREAT | O_EXCL, 0600)) < 0) {
        snprintf(why, len, "cannot make %s: %s", rel, strerror(errno));
        return -1;
    }
    if ((ws = xfer_conn(w, &err)) == NULL)
        rc = -1;
    else if ((rc = nws_fetch_fd(ws, var, NWS_OP_FIND_TRY, fd, NULL, NULL, &err)) == 0)
        snprintf(err.text, sizeof(err.text), "not on the server");
    if (rc == 1 && fchmod(fd, (mode_t)mode & 0777) != 0) {
        snprintf(err.text, sizeof(err.text), "%s", strerror(errno));
        rc = -1;
    }
    if (close(fd) != 0 && rc == 1) {
        snprintf(err.text, sizeof(err.text), "%s", strerror(errno));
        rc = -1;
    }
    if (rc == 1)
        return 0;
    snprintf(why, len, "cannot receive %s: %s", rel, err.text);
    nwsp_xfer_unlink(dirfd, rel);
    return -1;
}

/*
 * Puts the task's basefiles into our directory: each is fetched once per
 * node into base/ (the first worker there does it, holding the lock; the
 * others then find it) and hard-linked here.  0, or -1 with why.
 */
static int
xfer_bases(const struct worker *w, const json_t *bases, const char *node, int dirfd,
           char *why, size_t len)
{
    char        path[PATH_MAX];
    const char *rel, *var;
    struct stat st;
    json_t     *b;
    size_t      i;
    int         lock, basefd, fd, rc = 0;

    if (xfer_bases_in || json_array_size(bases) == 0)
        return 0;
    snprintf(path, sizeof(path), "%s/base", node);
    if (xfer_mkdir(path, why, len) != 0 || (basefd = xfer_open_dir(path, why, len)) < 0)
        return -1;
    snprintf(path, sizeof(path), "%s/base.lock", node);
    if ((lock = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600)) < 0 ||
        flock(lock, LOCK_EX) != 0) {
        snprintf(why, len, "cannot lock %s: %s", path, strerror(errno));
        if (lock >= 0)
            close(lock);
        close(basefd);
        return -1;
    }
    json_array_foreach(bases, i, b)
    {
        rel = json_string_value(json_object_get(b, "path"));
        var = json_string_value(json_object_get(b, "var"));
        if (rel == NULL || var == NULL || nwsp_xfer_check(rel, why, len) != 0) {
            if (rel == NULL || var == NULL)
                snprintf(why, len, "malformed basefile record");
            rc = -1;
            break;
        }
        fd = nwsp_xfer_open(basefd, rel, O_RDONLY, 0);
        if (fd >= 0 && json_is_integer(json_object_get(b, "bytes")) &&
            (fstat(fd, &st) != 0 ||
             st.st_size != (off_t)json_integer_value(json_object_get(b, "bytes")))) {
            /* Cut short: a worker died fetching it.  Fetch it again. */
            close(fd);
            nwsp_xfer_unlink(basefd, rel);
            fd = -1;
        }
        if (fd < 0) {
            if (xfer_fetch(w, var, basefd, rel,
                           (int)json_integer_value(json_object_get(b, "mode")), why,
                           len) != 0) {
                rc = -1;
                break;
            }
            worker_log(w, "basefile %s received for this node", rel);
            fd = nwsp_xfer_open(basefd, rel, O_RDONLY, 0);
        }
        if (fd < 0 || nwsp_xfer_link(fd, dirfd, rel) != 0) {
            snprintf(why, len, "cannot place basefile %s: %s", rel, strerror(errno));
            if (fd >= 0)
                close(fd);
            rc = -1;
            break;
        }
        close(fd);
    }
    flock(lock, LOCK_UN);
    close(lock);
    close(basefd);
    if (rc == 0)
        xfer_bases_in = 1;
    return rc;
}

/* The end task: with cleanup, our directory, the basefiles and the node's directory go. */
static void
xfer_end(const char *node, const char *dir, int cleanup)
{
    char path[PATH_MAX];

    xfer_bases_in = 0;
    if (!cleanup)
        return;
    xfer_rmtree(dir);
    snprintf(path, sizeof(path), "%s/base", node);
    xfer_rmtree(path);
    snprintf(path, sizeof(path), "%s/base.lock", node);
    unlink(path);
    rmdir(node); /* the last worker of the node takes it */
}

void
xfer_job_free(struct xfer_job *j)
{
    if (j->xj_dirfd >= 0)
        close(j->xj_dirfd);
    j->xj_dirfd = -1;
    json_decref(j->xj_args);
    json_decref(j->xj_result);
    j->xj_args = j->xj_result = NULL;
}

int
xfer_prepare(const struct worker *w, const json_t *task, const json_t *args,
             struct xfer_job *j, char **error)
{
    const json_t *tr = json_object_get(task, "transfer"), *a, *f;
    char          node[3072], why[PATH_MAX + 128], what[64];
    const char   *rel, *var;
    size_t        i;

    memset(j, 0, sizeof(*j));
    j->xj_dirfd = -1;
    *error = NULL;
    if (!json_is_object(tr))
        return 0;
    j->xj_on = 1;
    j->xj_cleanup = json_is_true(json_object_get(tr, "cleanup"));
    xfer_node_dir(w, node, sizeof(node));
    snprintf(j->xj_dir, sizeof(j->xj_dir), "%s/w%ld", node, w->w_rank);
    if (json_is_true(json_object_get(tr, "end"))) {
        xfer_end(node, j->xj_dir, j->xj_cleanup);
        j->xj_result =
            json_pack("{s:i, s:s, s:s}", "status", 0, "stdout", "", "stderr", "");
        if (j->xj_result == NULL)
            goto nomem;
        return 0;
    }
    if (xfer_mkdir(node, why, sizeof(why)) != 0 ||
        xfer_mkdir(j->xj_dir, why, sizeof(why)) != 0 ||
        (j->xj_dirfd = xfer_open_dir(j->xj_dir, why, sizeof(why))) < 0 ||
        xfer_bases(w, json_object_get(tr, "base"), node, j->xj_dirfd, why, sizeof(why)) !=
            0)
        goto fail;
    /* The element's own files: its nwsTransfer argument, taken out of the list. */
    if ((j->xj_args = json_array()) == NULL)
        goto nomem;
    json_array_foreach(args, i, a)
    {
        if (json_is_object(a) && (f = json_object_get(a, "nwsTransfer")) != NULL)
            j->xj_desc = f;
        else if (json_array_append(j->xj_args, (json_t *)a) != 0)
            goto nomem;
    }
    if (j->xj_desc == NULL)
        return 0;
    if ((rel = json_string_value(json_object_get(j->xj_desc, "error"))) != NULL) {
        snprintf(why, sizeof(why), "%s", rel); /* the master refused a path */
        goto fail;
    }
    json_array_foreach(json_object_get(j->xj_desc, "in"), i, f)
    {
        rel = json_string_value(json_object_get(f, "path"));
        var = json_string_value(json_object_get(f, "var"));
        if (rel == NULL || var == NULL) {
            snprintf(why, sizeof(why), "malformed transfer record");
            goto fail;
        }
        if (nwsp_xfer_check(rel, what, sizeof(what)) != 0) {
            snprintf(why, sizeof(why), "--transferfile %.1024s: %s", rel, what);
            goto fail;
        }
        if (xfer_fetch(w, var, j->xj_dirfd, rel,
                       (int)json_integer_value(json_object_get(f, "mode")), why,
                       sizeof(why)) != 0)
            goto fail;
    }
    return 0;
nomem:
    snprintf(why, sizeof(why), "out of memory");
fail:
    xfer_job_free(j);
    if ((*error = strdup(why)) == NULL)
        *error = NULL;
    return -1;
}

/*
 * Stores the file rel under j's directory as a new value; its record
 * ({"var", "bytes", "mode"} or {"missing": why}), new, or NULL with *error
 * when the server refused it.
 */
static json_t *
xfer_store(const struct worker *w, struct xfer_job *j, const char *rel, char **error)
{
    char        var[160], why[128];
    struct stat st;
    nws_error   err = {0};
    nws_ws     *ws;
    int         fd;

    if (nwsp_xfer_check(rel, why, sizeof(why)) != 0)
        return json_pack("{s:s}", "missing", why);
    if ((fd = nwsp_xfer_open(j->xj_dirfd, rel, O_RDONLY, 0)) < 0)
        return json_pack("{s:s}", "missing", strerror(errno));
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return json_pack("{s:s}", "missing", "not a regular file");
    }
    if (xfer_nonce == 0 && getrandom(&xfer_nonce, sizeof(xfer_nonce), 0) < 0)
        xfer_nonce = (unsigned)getpid();
    snprintf(var, sizeof(var), "xfer@ret@%ld@%ld@%x@%u", w->w_rank, (long)getpid(),
             xfer_nonce, ++xfer_seq);
    if ((ws = xfer_conn(w, &err)) == NULL ||
        nws_store_fd(ws, var, fd, (uint64_t)st.st_size, NWS_DESC_BYTES, &err) != 0) {
        close(fd);
        if (asprintf(error, "cannot return %s: %s", rel, err.text) < 0)
            *error = NULL;
        return NULL;
    }
    close(fd);
    return json_pack("{s:s, s:I, s:i}", "var", var, "bytes", (json_int_t)st.st_size,
                     "mode", (int)(st.st_mode & 0777));
}

int
xfer_finish(const struct worker *w, struct xfer_job *j, json_t *res, char **error)
{
    json_t     *list, *rec, *f;
    const char *rel;
    size_t      i;

    *error = NULL;
    if (!j->xj_on || j->xj_desc == NULL)
        return 0;
    if ((list = json_array()) == NULL)
        return -1;
    json_array_foreach(json_object_get(j->xj_desc, "ret"), i, f)
    {
        rel = json_string_value(f);
        if ((rec = xfer_store(w, j, rel != NULL ? rel : "", error)) == NULL ||
            json_array_append_new(list, rec) != 0)
            break;
    }
    json_object_set_new(res, "returned", list);
    if (j->xj_cleanup) {
        /* A file both sent and returned is removed once; the second try finds nothing. */
        json_array_foreach(json_object_get(j->xj_desc, "in"), i, f)
        {
            if ((rel = json_string_value(json_object_get(f, "path"))) != NULL)
                nwsp_xfer_unlink(j->xj_dirfd, rel);
        }
        json_array_foreach(json_object_get(j->xj_desc, "ret"), i, f)
        {
            if ((rel = json_string_value(f)) != NULL)
                nwsp_xfer_unlink(j->xj_dirfd, rel);
        }
    }
    return *error != NULL || i < json_array_size(json_object_get(j->xj_desc, "ret")) ? -1
                                                                                     : 0;
}

void
xfer_cleanup(void)
{
    nws_ws_free(xfer_ws);
    nws_close(xfer_c);
    xfer_ws = NULL;
    xfer_c = NULL;
}
