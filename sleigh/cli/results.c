/*
 * results.c -- where GNU parallel users expect a job's output and record:
 * --results (parallel's tree DIR/1/<arg>/2/<arg>/{seq,stdout,stderr}, a
 * name made from placeholders, or one CSV, TSV or JSON file of records),
 * --files (each job's stdout in a temporary
 * file whose name is printed), --tagstring, the joblog's lines with the
 * values parallel writes, and --resume / --resume-failed from an earlier
 * joblog (or --results tree).
 *
 * What GNU parallel 20221122 (Debian's) does, measured, where its manual
 * says less: --results DIR prints nothing on stdout (the output is in the
 * files only); --files drops stderr; in DIR's tree an argument has \ as
 * \\, a tab as \t and / as \_, and nothing else is changed (an empty
 * argument or "." or ".." is used as it is, as a path would be); a name
 * with placeholders is not escaped at all.  The seq file holds the number
 * without a newline.  The joblog's Receive is the bytes of stdout alone.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "sl.h"
#include "util.h"

/* A directory name's longest component on the file systems we meet. */
#define SL_RES_NAME_MAX 255

static int sl_res_write_record(struct sl_run *run, struct sl_done *d);

/*
 * Compiles text with placeholders ({} {1} {.} {#} {%} ...) into a slot;
 * returns NULL if text has none (a plain string).  nsrc: input sources.
 */
static struct sl_slot *
sl_res_compile(const char *text, size_t nsrc)
{
    struct sl_slot *slot = sl_malloc(sizeof(*slot));
    struct sl_seg   seg;
    const char     *p = text, *lit = text;
    size_t          n, found = 0;

    memset(slot, 0, sizeof(*slot));
    while (*p != '\0') {
        if ((n = sl_placeholder(p, nsrc, &seg)) == 0) {
            p++;
            continue;
        }
        slot->segs = sl_reallocarray(slot->segs, slot->nsegs + 2, sizeof(*slot->segs));
        if (p > lit) {
            memset(&slot->segs[slot->nsegs], 0, sizeof(seg));
            slot->segs[slot->nsegs].kind = SL_SEG_TEXT;
            slot->segs[slot->nsegs].text = lit;
            slot->segs[slot->nsegs++].len = (size_t)(p - lit);
        }
        slot->segs[slot->nsegs++] = seg;
        found++;
        p += n;
        lit = p;
    }
    slot->segs = sl_reallocarray(slot->segs, slot->nsegs + 1, sizeof(*slot->segs));
    memset(&slot->segs[slot->nsegs], 0, sizeof(seg));
    slot->segs[slot->nsegs].kind = SL_SEG_TEXT;
    slot->segs[slot->nsegs].text = lit;
    slot->segs[slot->nsegs++].len = (size_t)(p - lit);
    if (found == 0) {
        free(slot->segs);
        free(slot);
        return NULL;
    }
    return slot;
}

/* Frees a slot of sl_res_compile. */
static void
sl_res_slot_free(struct sl_slot *slot)
{
    if (slot != NULL)
        free(slot->segs);
    free(slot);
}

/* Fills slot for element idx run by rank (-1: unknown) into b (new text). */
static void
sl_res_fill(struct sl_run *run, const struct sl_slot *slot, size_t idx, int rank,
            struct sl_buf *b)
{
    const char   **args = sl_reallocarray(NULL, run->in->nsrc + 1, sizeof(*args));
    struct sl_slot one;
    struct sl_buf  piece = {0};
    char           num[32];
    size_t         i;

    sl_input_elem(run->in, idx, args);
    b->len = 0;
    sl_buf_add(b, "", 0);
    for (i = 0; i < slot->nsegs; i++) {
        if (slot->segs[i].kind == SL_SEG_RANK) {
            /* {%}: the worker's slot number, as parallel's job slot. */
            snprintf(num, sizeof(num), "%d", rank >= 0 ? rank + 1 : 1);
            sl_buf_adds(b, num);
            continue;
        }
        memset(&one, 0, sizeof(one));
        one.segs = &slot->segs[i];
        one.nsegs = 1;
        sl_slot_fill(&one, args, run->in->nsrc, idx, &piece);
        sl_buf_add(b, piece.p, piece.len);
    }
    free(piece.p);
    free(args);
}

/* 'c', 't' or 'j' if name ends in .csv, .tsv or .json (any case), else 0. */
static int
sl_res_format(const char *name)
{
    size_t len = strlen(name);

    if (len >= 4 && strcasecmp(name + len - 4, ".csv") == 0)
        return 'c';
    if (len >= 4 && strcasecmp(name + len - 4, ".tsv") == 0)
        return 't';
    if (len >= 5 && strcasecmp(name + len - 5, ".json") == 0)
        return 'j';
    return 0;
}

/* Opens the --results file (-.csv, -.tsv, -.json: stdout); 0, or -1 (message printed). */
static int
sl_res_open(struct sl_run *run)
{
    const char *name = run->o->results;

    if (strcmp(name, "-.csv") == 0 || strcmp(name, "-.tsv") == 0 ||
        strcmp(name, "-.json") == 0)
        run->resfp = fdopen(dup(1), "w");
    else
        run->resfp = fopen(name, "we");
    if (run->resfp == NULL) {
        sl_warnx("cannot open the results file %s: %s", name, strerror(errno));
        return -1;
    }
    return 0;
}

/*
 * Appends field s (n bytes) to b as parallel writes a CSV/TSV field: in
 * double quotes, quotes doubled, when it has a quote, white space, the
 * separator or a NUL; as it is otherwise.
 */
static void
sl_res_csv(struct sl_buf *b, const char *s, size_t n, char sep)
{
    size_t i;
    int    quote = 0;

    for (i = 0; i < n && !quote; i++)
        quote = s[i] == '"' || s[i] == sep || s[i] == '\0' || s[i] == ' ' ||
                (s[i] >= '\t' && s[i] <= '\r');
    if (!quote) {
        sl_buf_add(b, s, n);
        return;
    }
    sl_buf_add(b, "\"", 1);
    for (i = 0; i < n; i++) {
        if (s[i] == '"')
            sl_buf_add(b, "\"", 1);
        sl_buf_add(b, s + i, 1);
    }
    sl_buf_add(b, "\"", 1);
}

/* Appends s (n bytes) to b as parallel quotes a JSON string (without the quotes). */
static void
sl_res_json(struct sl_buf *b, const char *s, size_t n)
{
    char   u[8];
    size_t i;

    for (i = 0; i < n; i++) {
        if (s[i] == '\\' || s[i] == '"') {
            sl_buf_add(b, "\\", 1);
            sl_buf_add(b, s + i, 1);
        } else if ((unsigned char)s[i] < 32) {
            snprintf(u, sizeof(u), "\\u%04x", (unsigned)(unsigned char)s[i]);
            sl_buf_adds(b, u);
        } else {
            sl_buf_add(b, s + i, 1);
        }
    }
}

/* Compiles --tagstring and --results; 0, or -1 (message printed). */
int
sl_results_setup(struct sl_run *run)
{
    const struct sl_opts *o = run->o;

    if (o->tagstring != NULL) {
        run->tagslot = sl_res_compile(o->tagstring, run->in->nsrc);
        if (run->tagslot == NULL) {
            /* No placeholder: the string itself. */
            run->tagslot = sl_malloc(sizeof(*run->tagslot));
            memset(run->tagslot, 0, sizeof(*run->tagslot));
            run->tagslot->segs = sl_malloc(sizeof(*run->tagslot->segs));
            memset(run->tagslot->segs, 0, sizeof(*run->tagslot->segs));
            run->tagslot->segs[0].kind = SL_SEG_TEXT;
            run->tagslot->segs[0].text = o->tagstring;
            run->tagslot->segs[0].len = strlen(o->tagstring);
            run->tagslot->nsegs = 1;
        }
    }
    if (o->results != NULL) {
        if (o->results[0] == '\0') {
            sl_warnx("--results: want a directory or a name");
            return -1;
        }
        if ((run->res_fmt = sl_res_format(o->results)) != 0)
            return sl_res_open(run);
        run->resslot = sl_res_compile(o->results, run->in->nsrc);
    }
    return 0;
}

/* Frees what sl_results_setup made and the --resume bitmap. */
void
sl_results_free(struct sl_run *run)
{
    if (run->resfp != NULL && fclose(run->resfp) != 0)
        sl_warnx("%s: %s", run->o->results, strerror(errno));
    run->resfp = NULL;
    sl_res_slot_free(run->tagslot);
    sl_res_slot_free(run->resslot);
    free(run->skip);
    run->tagslot = run->resslot = NULL;
    run->skip = NULL;
}

/* The --tagstring text of element idx run by rank: a new string. */
char *
sl_results_tag(struct sl_run *run, size_t idx, int rank)
{
    struct sl_buf b = {0};

    sl_res_fill(run, run->tagslot, idx, rank, &b);
    return b.p;
}

/* Appends s to b as parallel writes an argument as a directory name. */
static void
sl_res_escape(struct sl_buf *b, const char *s, size_t max)
{
    size_t start = b->len;

    for (; *s != '\0'; s++) {
        if (*s == '\\')
            sl_buf_adds(b, "\\\\");
        else if (*s == '\t')
            sl_buf_adds(b, "\\t");
        else if (*s == '/')
            sl_buf_adds(b, "\\_");
        else
            sl_buf_add(b, s, 1);
    }
    if (max > 0 && b->len - start > max) {
        b->len = start + max;
        b->p[b->len] = '\0';
    }
}

/*
 * The name of element idx's results: for a plain DIR the directory
 * DIR/1/<arg1>/2/<arg2>.../ (ending in /), else the template filled in.
 * max > 0 cuts each argument to max bytes.  A new string.
 */
static char *
sl_res_path(struct sl_run *run, size_t idx, int rank, size_t max)
{
    const char  **args;
    struct sl_buf b = {0};
    char          num[32];
    size_t        i;

    if (run->resslot != NULL) {
        sl_res_fill(run, run->resslot, idx, rank, &b);
        return b.p;
    }
    args = sl_reallocarray(NULL, run->in->nsrc + 1, sizeof(*args));
    sl_input_elem(run->in, idx, args);
    sl_buf_adds(&b, run->o->results);
    for (i = 0; i < run->in->nsrc; i++) {
        snprintf(num, sizeof(num), "/%zu/", i + 1);
        sl_buf_adds(&b, num);
        sl_res_escape(&b, args[i], max);
    }
    sl_buf_adds(&b, "/");
    free(args);
    return b.p;
}

/* mkdir -p of the directories in path up to its last '/'; 0, or -1 (errno). */
static int
sl_res_mkpath(const char *path)
{
    char  *copy = sl_strdup(path), *p;
    size_t len = strlen(copy);

    while (len > 0 && copy[len - 1] != '/')
        len--;
    copy[len] = '\0';
    for (p = copy + 1; *p != '\0'; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(copy, 0777) != 0 && errno != EEXIST) {
            free(copy);
            return -1;
        }
        *p = '/';
    }
    free(copy);
    return 0;
}

/* Element idx's results name (run by rank), its directories made before the output comes. */
void
sl_results_name(struct sl_run *run, size_t idx, int rank, struct sl_done *d)
{
    d->idx = idx;
    if (run->o->results == NULL || run->res_fmt != 0)
        return;
    d->rdir = sl_res_path(run, idx, rank, 0);
    if (sl_res_mkpath(d->rdir) != 0 && errno == ENAMETOOLONG && run->resslot == NULL) {
        /* As parallel: an argument too long for a directory name is cut. */
        free(d->rdir);
        d->rdir = sl_res_path(run, idx, rank, SL_RES_NAME_MAX);
        sl_res_mkpath(d->rdir);
    }
}

/* Creates file path (truncated); its descriptor, or -1 (message printed). */
static int
sl_res_create(const char *path)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);

    if (fd < 0)
        sl_warnx("cannot write to %s: %s", path, strerror(errno));
    return fd;
}

/*
 * --files: a new file $TMPDIR/parXXXXX.par as parallel names them; its
 * descriptor (path filled), or -1 (message printed).
 */
static int
sl_res_tmpfile(char *path, size_t len)
{
    static const char chars[] =
        "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    const char     *dir = getenv("TMPDIR");
    struct timespec ts;
    unsigned        seed;
    int             fd, tries, i;
    char            name[6];

    clock_gettime(CLOCK_REALTIME, &ts);
    seed = (unsigned)ts.tv_nsec ^ (unsigned)getpid() << 16;
    for (tries = 0; tries < 1000; tries++) {
        for (i = 0; i < 5; i++)
            name[i] = chars[rand_r(&seed) % (sizeof(chars) - 1)];
        name[5] = '\0';
        snprintf(path, len, "%s/par%s.par", dir != NULL && *dir != '\0' ? dir : "/tmp",
                 name);
        fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (fd >= 0 || errno != EEXIST)
            break;
    }
    if (fd < 0)
        sl_warnx("cannot make a file for --files: %s: %s", path, strerror(errno));
    return fd;
}

/* Writes the text s to file path; 0, or -1 (message printed). */
static int
sl_res_put(const char *path, const char *s)
{
    int fd = sl_res_create(path), rc;

    if (fd < 0)
        return -1;
    rc = sl_write_all(fd, s, strlen(s));
    if (close(fd) != 0 || rc != 0) {
        sl_warnx("cannot write to %s: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

/* Writes stream which of d to a new file path; 0, or -1 (message printed). */
static int
sl_res_save(struct sl_run *run, struct sl_done *d, int which, const char *path)
{
    int fd = sl_res_create(path), rc;

    if (fd < 0) {
        sl_save_stream(run, d, which, -1);
        return -1;
    }
    rc = sl_save_stream(run, d, which, fd);
    if (close(fd) != 0 || rc != 0) {
        sl_warnx("cannot write to %s: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

/*
 * --results / --files: writes d's output to its files and prints what
 * parallel prints (--files: the name of the file holding stdout, after
 * the tag).  Returns -1 if stdout is gone, else 0 (a file that could not
 * be written is said on stderr, and the run goes on).
 */
int
sl_results_write(struct sl_run *run, struct sl_done *d)
{
    struct sl_buf out = {0}, err = {0}, seq = {0};
    char          num[32], tmp[PATH_MAX];
    int           fd, rc = 0;

    if (run->res_fmt != 0) {
        /* As parallel: the output is in the file, nothing printed but it. */
        return sl_res_write_record(run, d) != 0 && strncmp(run->o->results, "-.", 2) == 0
                   ? -1
                   : 0;
    }
    snprintf(num, sizeof(num), "%zu", d->idx + 1);
    if (d->rdir != NULL) {
        size_t len = strlen(d->rdir);

        sl_buf_adds(&out, d->rdir);
        sl_buf_adds(&err, d->rdir);
        sl_buf_adds(&seq, d->rdir);
        if (len > 0 && d->rdir[len - 1] == '/') {
            sl_buf_adds(&out, "stdout");
            sl_buf_adds(&err, "stderr");
            sl_buf_adds(&seq, "seq");
        } else {
            sl_buf_adds(&err, ".err");
            sl_buf_adds(&seq, ".seq");
        }
        sl_res_put(seq.p, num);
        sl_res_save(run, d, 1, out.p);
        sl_res_save(run, d, 2, err.p);
    } else {
        /* --files alone: stdout in a temporary file, stderr dropped. */
        if ((fd = sl_res_tmpfile(tmp, sizeof(tmp))) >= 0) {
            if (sl_save_stream(run, d, 1, fd) != 0 || close(fd) != 0)
                sl_warnx("cannot write to %s: %s", tmp, strerror(errno));
            sl_buf_adds(&out, tmp);
        } else {
            sl_save_stream(run, d, 1, -1);
        }
        sl_save_stream(run, d, 2, -1);
    }
    if (run->o->files && out.p != NULL && !run->broken) {
        if (d->tag != NULL && (sl_write_all(1, d->tag, strlen(d->tag)) != 0 ||
                               sl_write_all(1, "\t", 1) != 0))
            rc = -1;
        if (rc == 0 && (sl_write_all(1, out.p, out.len) != 0 || sl_write_all(1, "\n", 1)))
            rc = -1;
    }
    free(out.p);
    free(err.p);
    free(seq.p);
    return rc;
}

/*
 * --results FILE.csv/.tsv/.json: element idx's record as parallel writes
 * it, up to its output (kept in d->rec until the output is written).
 */
void
sl_results_record(struct sl_run *run, struct sl_done *d, size_t idx, const char *host,
                  double start, double secs, size_t received, long exitval, long sig,
                  const char *cmd)
{
    const char  **args;
    struct sl_buf b = {0};
    char          num[160], sep = run->res_fmt == 't' ? '\t' : ',';
    size_t        i;

    if (run->res_fmt == 0)
        return;
    args = sl_reallocarray(NULL, run->in->nsrc + 1, sizeof(*args));
    sl_input_elem(run->in, idx, args);
    sl_buf_add(&b, "", 0);
    if (host == NULL)
        host = ":";
    if (run->res_fmt == 'j') {
        snprintf(num, sizeof(num), "{ \"Seq\": %zu, \"Host\": \"", idx + 1);
        sl_buf_adds(&b, num);
        sl_res_json(&b, host, strlen(host));
        snprintf(num, sizeof(num),
                 "\", \"Starttime\": %.3f, \"JobRuntime\": %.3f, \"Send\": 0, "
                 "\"Receive\": %zu, \"Exitval\": %ld, \"Signal\": %ld, \"Command\": \"",
                 start, secs, received, exitval, sig);
        sl_buf_adds(&b, num);
        sl_res_json(&b, cmd, strlen(cmd));
        sl_buf_adds(&b, "\", \"V\": [ ");
        for (i = 0; i < run->in->nsrc; i++) {
            sl_buf_adds(&b, i > 0 ? ",\"" : "\"");
            sl_res_json(&b, args[i], strlen(args[i]));
            sl_buf_adds(&b, "\"");
        }
        sl_buf_adds(&b, " ], ");
    } else {
        snprintf(num, sizeof(num), "%zu", idx + 1);
        sl_buf_adds(&b, num);
        sl_buf_add(&b, &sep, 1);
        sl_res_csv(&b, host, strlen(host), sep);
        snprintf(num, sizeof(num), "%c%.3f%c%.3f%c0%c%zu%c%ld%c%ld%c", sep, start, sep,
                 secs, sep, sep, received, sep, exitval, sep, sig, sep);
        sl_buf_adds(&b, num);
        sl_res_csv(&b, cmd, strlen(cmd), sep);
        for (i = 0; i < run->in->nsrc; i++) {
            sl_buf_add(&b, &sep, 1);
            sl_res_csv(&b, args[i], strlen(args[i]), sep);
        }
        sl_buf_add(&b, &sep, 1);
    }
    free(args);
    d->rec = b.p;
}

/* Stream which (1, 2) of d, whole, in a new buffer (*len bytes); NULL on failure. */
static char *
sl_res_slurp(struct sl_run *run, struct sl_done *d, int which, size_t *len)
{
    const char *dir = getenv("TMPDIR");
    char        path[PATH_MAX], *p;
    struct stat st;
    int         fd;
    ssize_t     n;
    size_t      got = 0;

    snprintf(path, sizeof(path), "%s/sleigh.res.XXXXXX",
             dir != NULL && *dir != '\0' ? dir : "/tmp");
    if ((fd = mkostemp(path, O_CLOEXEC)) < 0) {
        sl_warnx("cannot keep a job's output: %s: %s", path, strerror(errno));
        sl_save_stream(run, d, which, -1);
        return NULL;
    }
    unlink(path);
    if (sl_save_stream(run, d, which, fd) != 0 || fstat(fd, &st) != 0 ||
        lseek(fd, 0, SEEK_SET) != 0) {
        close(fd);
        return NULL;
    }
    p = sl_malloc((size_t)st.st_size + 1);
    while (got < (size_t)st.st_size &&
           (n = read(fd, p + got, (size_t)st.st_size - got)) > 0)
        got += (size_t)n;
    close(fd);
    p[got] = '\0';
    *len = got;
    return p;
}

/* Writes d's record, its output included, to the --results file; 0, or -1. */
static int
sl_res_write_record(struct sl_run *run, struct sl_done *d)
{
    struct sl_buf b = {0};
    char         *out, *err, sep = run->res_fmt == 't' ? '\t' : ',';
    size_t        outlen = 0, errlen = 0, i;
    int           rc;

    out = sl_res_slurp(run, d, 1, &outlen);
    err = sl_res_slurp(run, d, 2, &errlen);
    sl_buf_add(&b, "", 0);
    if (run->res_rows++ == 0 && run->res_fmt != 'j') {
        /* parallel's header (V1, V2 ...: one per input source) */
        static const char *const cols[] = {"Seq",        "Host",   "Starttime",
                                           "JobRuntime", "Send",   "Receive",
                                           "Exitval",    "Signal", "Command"};
        char                     v[32];

        for (i = 0; i < sizeof(cols) / sizeof(cols[0]); i++) {
            sl_buf_adds(&b, cols[i]);
            sl_buf_add(&b, &sep, 1);
        }
        for (i = 0; i < run->in->nsrc; i++) {
            snprintf(v, sizeof(v), "V%zu%c", i + 1, sep);
            sl_buf_adds(&b, v);
        }
        sl_buf_adds(&b, "Stdout");
        sl_buf_add(&b, &sep, 1);
        sl_buf_adds(&b, "Stderr\n");
    }
    sl_buf_adds(&b, d->rec != NULL ? d->rec : "");
    if (run->res_fmt == 'j') {
        sl_buf_adds(&b, "\"Stdout\": \"");
        sl_res_json(&b, out != NULL ? out : "", outlen);
        sl_buf_adds(&b, "\", \"Stderr\": \"");
        sl_res_json(&b, err != NULL ? err : "", errlen);
        sl_buf_adds(&b, "\" }\n");
    } else {
        sl_res_csv(&b, out != NULL ? out : "", outlen, sep);
        sl_buf_add(&b, &sep, 1);
        sl_res_csv(&b, err != NULL ? err : "", errlen, sep);
        sl_buf_adds(&b, "\n");
    }
    rc = fwrite(b.p, 1, b.len, run->resfp) == b.len && fflush(run->resfp) == 0 ? 0 : -1;
    if (rc != 0)
        sl_warnx("%s: %s", run->o->results, strerror(errno));
    free(b.p);
    free(out);
    free(err);
    return rc;
}

/* ---- the joblog ------------------------------------------------------------ */

/* Marks element seq - 1 as done in an earlier run. */
static void
sl_resume_mark(struct sl_run *run, unsigned long seq)
{
    size_t idx = seq - 1, n;

    if (seq == 0 || seq > 100000000UL)
        return;
    if (idx >= run->nskip) {
        n = run->nskip != 0 ? run->nskip : 1024;
        while (n <= idx)
            n *= 2;
        run->skip = sl_reallocarray(run->skip, n / 8, 1);
        memset(run->skip + run->nskip / 8, 0, (n - run->nskip) / 8);
        run->nskip = n;
    }
    run->skip[idx / 8] |= (unsigned char)(1u << (idx % 8));
}

/*
 * Reads an earlier joblog for --resume (every Seq in it is done) or
 * --resume-failed (a Seq is done if a line of it has Exitval 0 and
 * Signal 0).  Returns 1 if it had a header (append to it), 0 if there was
 * no such file or it was empty, -1 on a line parallel would refuse
 * (message printed).
 */
static int
sl_resume_read(struct sl_run *run, const char *path)
{
    FILE         *fp = fopen(path, "re");
    char         *line = NULL, *p, *f[9];
    size_t        cap = 0;
    ssize_t       len;
    int           header = 0, nf, ok;
    unsigned long seq;
    char         *end;

    if (fp == NULL)
        return 0;
    while ((len = getline(&line, &cap, fp)) > 0) {
        if (line[len - 1] == '\n')
            line[--len] = '\0';
        if (!header) {
            header = 1; /* the first line is the header, whatever it says */
            continue;
        }
        /* Seq, Host, then six numbers, then the command (tab-separated). */
        for (nf = 0, p = line; nf < 9 && p != NULL; nf++) {
            f[nf] = p;
            if ((p = strchr(p, '\t')) != NULL && nf < 8)
                *p++ = '\0';
        }
        ok = nf >= 8 && f[0][0] >= '0' && f[0][0] <= '9';
        seq = ok ? strtoul(f[0], &end, 10) : 0;
        ok = ok && *end == '\0';
        for (int i = 2; ok && i < 8; i++) {
            f[i] += strspn(f[i], " "); /* JobRuntime is right-aligned */
            ok = f[i][0] != '\0' && strspn(f[i], "-0123456789.") == strlen(f[i]);
        }
        if (!ok) {
            sl_warnx("Format of '%s' is wrong: %s", path, line);
            free(line);
            fclose(fp);
            return -1;
        }
        if (!run->o->resume_failed ||
            (strcmp(f[6], "0") == 0 && strcmp(f[7], "0") == 0 && nf == 9))
            sl_resume_mark(run, seq);
    }
    free(line);
    fclose(fp);
    return header;
}

/*
 * Opens --joblog (FILE, +FILE to append, - for stdout) as parallel does,
 * reading it first for --resume / --resume-failed.  0, or -1 (message
 * printed).
 */
int
sl_joblog_open(struct sl_run *run)
{
    const char *path = run->o->joblog;
    int         append = 0, had;

    if ((run->o->resume || run->o->resume_failed) && path == NULL &&
        run->o->results == NULL) {
        sl_warnx("--resume and --resume-failed require --joblog or --results");
        return -1;
    }
    if (path == NULL)
        return 0;
    if (path[0] == '+') {
        path++;
        append = 1;
    }
    if (run->o->resume || run->o->resume_failed) {
        if ((had = sl_resume_read(run, path)) < 0)
            return -1;
        append |= had;
    }
    if (strcmp(path, "-") == 0 && !append)
        run->joblog = fdopen(dup(1), "w");
    else
        run->joblog = fopen(path, append ? "ae" : "we");
    if (run->joblog == NULL) {
        sl_warnx("%s: %s", path, strerror(errno));
        return -1;
    }
    if (!append) {
        fputs(
            "Seq\tHost\tStarttime\tJobRuntime\tSend\tReceive\tExitval\tSignal\tCommand\n",
            run->joblog);
        fflush(run->joblog);
    }
    return 0;
}

/* 1 if --resume leaves element idx out: done in the joblog, or its results are there. */
int
sl_resume_skip(const struct sl_run *run, size_t idx)
{
    struct stat   st;
    struct sl_buf b = {0};
    char         *name;
    int           done;

    if (!run->o->resume && !run->o->resume_failed)
        return 0;
    if (idx < run->nskip && (run->skip[idx / 8] >> (idx % 8) & 1))
        return 1;
    if (run->o->results == NULL || !run->o->resume || run->res_fmt != 0)
        return 0;
    /* --resume --results: its output is there already (as parallel looks). */
    name = sl_res_path((struct sl_run *)run, idx, -1, 0);
    sl_buf_adds(&b, name);
    sl_buf_adds(&b, "stdout");
    done = stat(b.p, &st) == 0 || (stat(name, &st) == 0 && S_ISREG(st.st_mode));
    free(b.p);
    free(name);
    return done;
}

/*
 * One joblog line with the values GNU parallel writes: Host ":" for this
 * machine (else the node), JobRuntime in a 10-wide column, Send 0, Receive
 * the bytes of stdout, and a job killed by a signal as Exitval 0 with the
 * signal in its own column.
 */
void
sl_joblog_line(struct sl_run *run, size_t idx, const char *host, double start,
               double secs, size_t received, long status, long sig, const char *cmd)
{
    fprintf(run->joblog, "%zu\t%s\t%.3f\t%10.3f\t0\t%zu\t%ld\t%ld\t%s\n", idx + 1,
            host != NULL ? host : ":", start, secs, received, status, sig, cmd);
    fflush(run->joblog);
}
