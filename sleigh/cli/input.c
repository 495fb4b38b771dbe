/*
 * input.c -- the sleigh command's input sources: ::: lists, :::: files,
 * -a files and stdin lines read while the run goes, and the element
 * numbering over their product (linked sources go together).
 *
 * Shaping, as GNU parallel does it: a base input is one element of the
 * product (or one stdin line); -N puts N base inputs in one element, -X and
 * -m as many as fit the command line (sl_input_pack), --colsep cuts each
 * input into columns, --header takes each source's first input as its
 * name.  An element's arguments (sl_input_args) are then a list of any
 * length, which the template fills ({} all, {N} the N-th, "" past the end).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <regex.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sl.h"
#include "util.h"

/* Adds a copy of n bytes of s to src. */
static void
sl_src_add(struct sl_src *src, const char *s, size_t n)
{
    char  *p;
    size_t len;

    if (src->cont && src->n > 0 && (len = strlen(src->v[src->n - 1])) > 0 &&
        (src->v[src->n - 1][len - 1] == ' ' || src->v[src->n - 1][len - 1] == '\t')) {
        /* -L: the line before ended in a blank: this one goes on with it. */
        p = sl_reallocarray(src->v[src->n - 1], len + n + 1, 1);
        memcpy(p + len, s, n);
        p[len + n] = '\0';
        src->v[src->n - 1] = p;
        return;
    }
    if (src->n == src->cap) {
        src->cap = src->cap != 0 ? src->cap * 2 : 16;
        src->v = sl_reallocarray(src->v, src->cap, sizeof(*src->v));
    }
    p = sl_malloc(n + 1);
    memcpy(p, s, n);
    p[n] = '\0';
    src->v[src->n++] = p;
}

/* A new empty source at the end of in. */
static struct sl_src *
sl_input_new_src(struct sl_input *in, int linked)
{
    struct sl_src *src;

    in->src = sl_reallocarray(in->src, in->nsrc + 1, sizeof(*in->src));
    src = &in->src[in->nsrc++];
    memset(src, 0, sizeof(*src));
    src->linked = linked && in->nsrc > 1;
    return src;
}

/* Splits n bytes of data at delim into items of src (a last unterminated one too). */
static void
sl_src_split(struct sl_src *src, const char *data, size_t n, char delim)
{
    const char *p = data, *end = data + n, *q;

    while (p < end) {
        if ((q = memchr(p, delim, (size_t)(end - p))) == NULL) {
            sl_src_add(src, p, (size_t)(end - p));
            break;
        }
        sl_src_add(src, p, (size_t)(q - p));
        p = q + 1;
    }
}

/* Reads all of path ("-": stdin) into src; 0, or -1 (message printed). */
static int
sl_src_read_file(struct sl_src *src, const char *path, char delim)
{
    struct sl_buf b = {0};
    char          chunk[65536];
    ssize_t       n;
    int           fd = strcmp(path, "-") == 0 ? 0 : open(path, O_RDONLY | O_CLOEXEC);

    if (fd < 0) {
        sl_warnx("%s: %s", path, strerror(errno));
        return -1;
    }
    for (;;) {
        n = read(fd, chunk, sizeof(chunk));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            sl_warnx("%s: %s", path, strerror(errno));
            if (fd != 0)
                close(fd);
            free(b.p);
            return -1;
        }
        if (n == 0)
            break;
        sl_buf_add(&b, chunk, (size_t)n);
    }
    if (fd != 0)
        close(fd);
    sl_src_split(src, b.p != NULL ? b.p : "", b.len, delim);
    free(b.p);
    return 0;
}

/* Returns 1 if arg separates input sources (and sets *file, *linked). */
static int
sl_is_separator(const char *arg, int *file, int *linked)
{
    *linked = 0;
    *file = 0;
    if (strcmp(arg, ":::") == 0)
        return 1;
    if (strcmp(arg, ":::+") == 0)
        return *linked = 1;
    if (strcmp(arg, "::::") == 0)
        return *file = 1;
    if (strcmp(arg, "::::+") == 0) {
        *file = 1;
        return *linked = 1;
    }
    return 0;
}

/*
 * Collects the command words (argv[first..], up to the first separator,
 * into *ncmd) and the input sources that follow, plus -a files.
 * 0, or -1 (message printed).
 */
int
sl_input_parse(struct sl_input *in, const struct sl_opts *o, int argc, char **argv,
               int first, int *ncmd)
{
    struct sl_src *src = NULL;
    int            i, file = 0, is_file, linked, f, nfiles = 0;

    memset(in, 0, sizeof(*in));
    in->delim = o->delim;
    for (i = first; i < argc && !sl_is_separator(argv[i], &is_file, &linked); i++)
        ;
    *ncmd = i - first;
    if (o->pipe != SL_PIPE_NONE) {
        /* Blocks of stdin (or of the -a file) are the elements: pipe.c. */
        if (i < argc) {
            sl_warnx("--pipe: no ::: or :::: input sources (the input is stdin)");
            return -1;
        }
        in->streaming = 1;
        in->piped = 1;
        sl_input_new_src(in, 0);
        return 0;
    }
    for (f = 0; f < o->narg_files; f++) {
        src = sl_input_new_src(in, 0);
        src->cont = o->lines;
        if (sl_src_read_file(src, o->arg_files[f], o->delim) != 0)
            return -1;
    }
    for (; i < argc; i++) {
        if (sl_is_separator(argv[i], &is_file, &linked)) {
            file = is_file;
            src = sl_input_new_src(in, linked);
            nfiles = 0;
            continue;
        }
        if (!file) {
            sl_src_add(src, argv[i], strlen(argv[i]));
            continue;
        }
        /* Each file after :::: is a source of its own, as in GNU parallel. */
        if (nfiles++ > 0)
            src = sl_input_new_src(in, 0);
        src->cont = o->lines;
        if (sl_src_read_file(src, argv[i], o->delim) != 0)
            return -1;
    }
    if (in->nsrc == 0) {
        in->streaming = 1;
        in->fd = 0;
        sl_input_new_src(in, 0)->cont = o->lines;
    }
    return 0;
}

/* Adds name to the --header names (a copy). */
static void
sl_input_add_name(struct sl_input *in, const char *name, size_t len)
{
    char *p = sl_malloc(len + 1);

    memcpy(p, name, len);
    p[len] = '\0';
    in->names = sl_reallocarray(in->names, in->nnames + 1, sizeof(*in->names));
    in->names[in->nnames++] = p;
}

/*
 * Cuts s at the --colsep regex; calls add(in, column, len) for each
 * column (at least one).
 */
static void
sl_colsep_split(struct sl_input *in, const char *s,
                void (*add)(struct sl_input *, const char *, size_t))
{
    regmatch_t  m;
    const char *p = s;
    int         flags = 0;

    while (*p != '\0' && regexec(in->colsep, p, 1, &m, flags) == 0) {
        if (m.rm_eo == 0)
            break; /* a regex matching nothing cuts nothing */
        add(in, p, (size_t)m.rm_so);
        p += m.rm_eo;
        flags = REG_NOTBOL;
    }
    add(in, p, strlen(p));
}

/* Takes the first input of source i as its --header name(s). */
static void
sl_input_take_header(struct sl_input *in, size_t i)
{
    struct sl_src *src = &in->src[i];

    if (src->n == 0)
        return;
    if (in->colsep_on)
        sl_colsep_split(in, src->v[0], sl_input_add_name);
    else
        sl_input_add_name(in, src->v[0], strlen(src->v[0]));
    free(src->v[0]);
    memmove(src->v, src->v + 1, (src->n - 1) * sizeof(*src->v));
    src->n--;
}

/* Sets in->total, the elements known, from the base inputs known. */
static void
sl_input_recount(struct sl_input *in)
{
    if (in->piped)
        return; /* blocks: counted as they are sent (run.c) */
    if (in->streaming) {
        if (in->header && in->src[0].n > 0) {
            sl_input_take_header(in, 0);
            in->header = 0;
        }
        in->nbase = in->src[0].n;
        if (in->src[0].cont && !in->eof && in->nbase > 0) {
            /* -L: a last line ending in a blank may go on with the next one. */
            const char *last = in->src[0].v[in->nbase - 1];
            size_t      len = strlen(last);

            if (len > 0 && (last[len - 1] == ' ' || last[len - 1] == '\t'))
                in->nbase--;
        }
    }
    if (in->xmode)
        in->total = in->nstarts;
    else if (in->per > 0)
        in->total = in->streaming && !in->eof
                        ? in->nbase / (size_t)in->per
                        : (in->nbase + (size_t)in->per - 1) / (size_t)in->per;
    else
        in->total = in->nbase;
}

/*
 * The POSIX ERE for a --colsep REGEX written for GNU parallel (Perl): the
 * Perl escapes people use there (\t \n \s \S \d \w) become what they
 * mean; the rest is left to regcomp.  New string.
 */
static char *
sl_colsep_regex(const char *perl)
{
    struct sl_buf b = {0};
    const char   *p;

    sl_buf_add(&b, "", 0);
    for (p = perl; *p != '\0'; p++) {
        if (p[0] != '\\' || p[1] == '\0') {
            sl_buf_add(&b, p, 1);
            continue;
        }
        switch (*++p) {
        case 't':
            sl_buf_adds(&b, "\t");
            break;
        case 'n':
            sl_buf_adds(&b, "\n");
            break;
        case 's':
            sl_buf_adds(&b, "[[:space:]]");
            break;
        case 'S':
            sl_buf_adds(&b, "[^[:space:]]");
            break;
        case 'd':
            sl_buf_adds(&b, "[0-9]");
            break;
        case 'w':
            sl_buf_adds(&b, "[[:alnum:]_]");
            break;
        default:
            sl_buf_add(&b, p - 1, 2);
            break;
        }
    }
    return b.p;
}

/*
 * Takes the shaping options (-N, -X/-m, --colsep, --header, --link) from o;
 * before sl_input_plan.  0, or -1 (message printed).
 */
int
sl_input_shape(struct sl_input *in, const struct sl_opts *o)
{
    int  rc;
    char msg[256];

    in->link_all = o->link;
    in->per = o->max_args > 0 ? o->max_args : o->max_args == 0 ? 1 : 0;
    in->noargs = o->max_args == 0; /* -N0: one command per input, without it */
    in->xmode = o->xmode;
    in->header = o->header;
    if (in->piped) {
        in->per = 0;    /* -N counts records per block (pipe.c) */
        in->header = 0; /* so does --header: it goes before every block */
        if (o->xmode || o->colsep != NULL) {
            sl_warnx("--pipe: not with -X, -m or --colsep");
            return -1;
        }
        return 0;
    }
    if (o->colsep != NULL) {
        char *re = sl_colsep_regex(o->colsep);

        in->colsep = sl_malloc(sizeof(regex_t));
        rc = regcomp(in->colsep, re, REG_EXTENDED);
        free(re);
        if (rc != 0) {
            regerror(rc, in->colsep, msg, sizeof(msg));
            sl_warnx("--colsep %s: %s", o->colsep, msg);
            free(in->colsep);
            in->colsep = NULL;
            return -1;
        }
        in->colsep_on = 1;
    }
    if ((in->per > 0 || in->xmode) && in->nsrc > 1) {
        sl_warnx("%s: with one input source only", in->xmode ? "-X/-m" : "-N");
        return -1;
    }
    return 0;
}

/* 1 if an element's argument count varies (the command then goes through a shell). */
int
sl_input_vmode(const struct sl_input *in)
{
    return in->per > 0 || in->xmode || in->colsep_on;
}

/* The source count the template is compiled for: which {N} are placeholders. */
size_t
sl_input_tmpl_nsrc(const struct sl_input *in)
{
    if (in->piped)
        return 0; /* nothing to append: the block is the stdin */
    if (in->colsep_on)
        return SL_NSRC_ANY;
    if (in->per > 0)
        return (size_t)in->per * in->nsrc;
    return in->nsrc;
}

/* Works out the groups of linked sources and the number of elements; 0, or -1. */
int
sl_input_plan(struct sl_input *in)
{
    size_t i, g = 0, total = 1;

    if (in->header && !in->streaming) {
        for (i = 0; i < in->nsrc; i++)
            sl_input_take_header(in, i);
        in->header = 0;
    }
    while (in->streaming && !in->eof &&
           (in->xmode || (in->header && in->src[0].n == 0))) {
        /* -X/-m spread all the inputs over the workers; --header needs its line. */
        if (sl_input_fill(in, -1) != 0)
            break;
        if (sl_interrupted)
            return -1;
    }
    in->group_first = sl_reallocarray(NULL, in->nsrc, sizeof(size_t));
    in->group_len = sl_reallocarray(NULL, in->nsrc, sizeof(size_t));
    for (i = 0; i < in->nsrc; i++) {
        if (i == 0 || (!in->src[i].linked && !in->link_all)) {
            g = in->ngroups++;
            in->group_first[g] = i;
            in->group_len[g] = in->src[i].n;
        }
        /* --link wraps the shorter sources; :::+ stops at the shortest, as GNU
         * parallel 20221122 does. */
        if (in->link_all ? in->src[i].n > in->group_len[g]
                         : in->src[i].n < in->group_len[g])
            in->group_len[g] = in->src[i].n;
    }
    /* A group with an empty source has nothing to wrap around. */
    for (i = 0; i < in->nsrc; i++)
        if (in->src[i].n == 0)
            total = 0;
    for (g = 0; g < in->ngroups && total != 0; g++) {
        if (in->group_len[g] > SIZE_MAX / 2 / total) {
            sl_warnx("too many combinations of inputs");
            return -1;
        }
        total *= in->group_len[g];
    }
    in->nbase = in->streaming ? in->src[0].n : total;
    sl_input_recount(in);
    return 0;
}

/* Appends p to sl_input_args's answer (in->gcap counts them; room doubles). */
static void
sl_input_push_arg(struct sl_input *in, const char *p)
{
    if (in->gcap == 0 || (in->gcap >= 8 && (in->gcap & (in->gcap - 1)) == 0))
        in->gargs =
            sl_reallocarray(in->gargs, in->gcap ? in->gcap * 2 : 8, sizeof(*in->gargs));
    in->gargs[in->gcap++] = p;
}

/* sl_input_args's column adder: the offset of the column in in->cols. */
static void
sl_input_add_col(struct sl_input *in, const char *s, size_t n)
{
    sl_input_push_arg(in, (const char *)(uintptr_t)in->cols.len);
    sl_buf_add(&in->cols, s, n);
    sl_buf_add(&in->cols, "", 1);
}

/*
 * The arguments of element idx: *args gets them (borrowed, valid until the
 * next call), the count is returned.  Without shaping, the inputs of the
 * element's sources.
 */
size_t
sl_input_args(struct sl_input *in, size_t idx, const char *const **args)
{
    size_t       first, end, b, s, n = 0;
    const char **base = sl_reallocarray(NULL, in->nsrc + 1, sizeof(*base));

    if (in->xmode) {
        first = in->starts[idx];
        end = in->starts[idx + 1];
    } else if (in->per > 0) {
        first = idx * (size_t)in->per;
        end = first + (size_t)in->per;
    } else {
        first = idx;
        end = idx + 1;
    }
    if (end > in->nbase)
        end = in->nbase;
    in->gcap = 0;
    in->cols.len = 0;
    for (b = first; b < end; b++) {
        sl_input_elem(in, b, base);
        for (s = 0; s < in->nsrc; s++) {
            if (in->colsep_on) {
                sl_colsep_split(in, base[s], sl_input_add_col);
                continue;
            }
            sl_input_push_arg(in, base[s]);
        }
    }
    n = in->gcap;
    if (in->colsep_on) /* offsets into in->cols, now that it stopped moving */
        for (b = 0; b < n; b++)
            in->gargs[b] = in->cols.p + (uintptr_t)in->gargs[b];
    free(base);
    *args = in->gargs;
    return in->noargs ? 0 : n;
}

/*
 * -X, -m: cuts the base inputs into elements, each as many as fit in a
 * command line of max_chars (its length + 1, as GNU parallel counts).
 * The last command, the one that takes what is left, is then spread over
 * the workers as GNU parallel spreads it: cut into pieces of its inputs
 * divided by jobs, rounded up (so a short input gives every worker some).
 */
int
sl_input_pack(struct sl_input *in, const struct sl_tmpl *t, long jobs, size_t max_chars)
{
    size_t b, len = 0, cost, nsep, count = 0, c0, last, per;
    int    saved_x = in->xmode;

    if (!in->xmode)
        return 0;
    if (jobs < 1)
        jobs = 1;
    nsep = sl_tmpl_nsep(t);
    in->starts = sl_reallocarray(NULL, in->nbase + 1, sizeof(*in->starts));
    in->nstarts = 0;
    /* Lengths of one-input commands, each input as an element of its own. */
    in->xmode = 0;
    in->per = 1;
    c0 = sl_tmpl_len(t, NULL, 0, 0);
    for (b = 0; b < in->nbase; b++) {
        const char *const *a;
        size_t             na = sl_input_args(in, b, &a);

        cost = sl_tmpl_len(t, a, na, 0);
        cost = cost > c0 ? cost - c0 : 0;
        if (count > 0 && len + nsep + cost + 1 > max_chars)
            count = 0;
        if (count == 0) {
            in->starts[in->nstarts++] = b;
            len = c0 + cost;
        } else {
            len += nsep + cost;
        }
        count++;
    }
    if (in->nstarts > 0) {
        /* The last command's inputs, spread over the workers. */
        last = in->starts[--in->nstarts];
        per = (in->nbase - last + (size_t)jobs - 1) / (size_t)jobs;
        for (b = last; b < in->nbase; b += per)
            in->starts[in->nstarts++] = b;
    }
    in->starts[in->nstarts] = in->nbase;
    in->xmode = saved_x;
    in->per = 0;
    sl_input_recount(in);
    return 0;
}

/* Fills in_args[0..nsrc-1] with the inputs of element idx (borrowed). */
void
sl_input_elem(const struct sl_input *in, size_t idx, const char **args)
{
    size_t g, s, gi, end;

    if (in->streaming) {
        args[0] = in->src[0].v[idx];
        return;
    }
    /* Mixed radix, the last group varying fastest. */
    for (g = in->ngroups; g-- > 0;) {
        gi = idx % in->group_len[g];
        idx /= in->group_len[g];
        end = g + 1 < in->ngroups ? in->group_first[g + 1] : in->nsrc;
        for (s = in->group_first[g]; s < end; s++)
            args[s] = in->src[s].v[gi % in->src[s].n];
    }
}

/*
 * Streaming: reads what stdin has (waiting up to wait_ms for something)
 * and adds its complete lines.  Returns 0, or -1 on a read error (the
 * input then counts as finished).
 */
int
sl_input_fill(struct sl_input *in, int wait_ms)
{
    struct pollfd pfd = {.fd = in->fd, .events = POLLIN};
    char          chunk[65536];
    const char   *p, *q, *end;
    ssize_t       n;
    int           rc;

    if (!in->streaming || in->eof || in->piped)
        return 0;
    rc = poll(&pfd, 1, wait_ms);
    if (rc <= 0)
        return 0;
    n = read(in->fd, chunk, sizeof(chunk));
    if (n < 0 && (errno == EINTR || errno == EAGAIN))
        return 0;
    if (n <= 0) {
        in->eof = 1;
        if (in->partial.len > 0)
            sl_src_add(&in->src[0], in->partial.p, in->partial.len);
        free(in->partial.p);
        memset(&in->partial, 0, sizeof(in->partial));
        sl_input_recount(in);
        if (n < 0) {
            sl_warnx("reading stdin: %s", strerror(errno));
            return -1;
        }
        return 0;
    }
    p = chunk;
    end = chunk + n;
    while ((q = memchr(p, in->delim, (size_t)(end - p))) != NULL) {
        if (in->partial.len > 0) {
            sl_buf_add(&in->partial, p, (size_t)(q - p));
            sl_src_add(&in->src[0], in->partial.p, in->partial.len);
            in->partial.len = 0;
        } else {
            sl_src_add(&in->src[0], p, (size_t)(q - p));
        }
        p = q + 1;
    }
    if (p < end)
        sl_buf_add(&in->partial, p, (size_t)(end - p));
    sl_input_recount(in);
    return 0;
}

/* Frees what in holds. */
void
sl_input_free(struct sl_input *in)
{
    size_t i, j;

    for (i = 0; i < in->nsrc; i++) {
        for (j = 0; j < in->src[i].n; j++)
            free(in->src[i].v[j]);
        free(in->src[i].v);
    }
    free(in->src);
    free(in->group_first);
    free(in->group_len);
    free(in->partial.p);
    free(in->starts);
    if (in->colsep != NULL)
        regfree(in->colsep);
    free(in->colsep);
    for (i = 0; i < in->nnames; i++)
        free(in->names[i]);
    free(in->names);
    free(in->gargs);
    free(in->cols.p);
}
/*
 * Streaming input: waits until stdin ended, or has as many lines as
 * workers, or a moment passed after the first line, so a short input does
 * not start more workers than it needs and an empty one starts none.
 */
void
sl_read_ahead(struct sl_input *in, long workers)
{
    double deadline = -1;

    while (in->streaming && !in->piped && !in->eof && in->total < (size_t)workers) {
        if (in->total > 0 && deadline < 0)
            deadline = nwsp_mono() + 0.2;
        if (deadline >= 0 && nwsp_mono() > deadline)
            break;
        sl_input_fill(in, in->total > 0 ? 20 : -1);
        if (sl_interrupted)
            break;
    }
}
