/*
 * input.c -- the sleigh command's input sources: ::: lists, :::: files,
 * -a files and stdin lines read while the run goes, and the element
 * numbering over their product (linked sources go together).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
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
    char *p;

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
    for (f = 0; f < o->narg_files; f++)
        if (sl_src_read_file(sl_input_new_src(in, 0), o->arg_files[f], o->delim) != 0)
            return -1;
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
        if (sl_src_read_file(src, argv[i], o->delim) != 0)
            return -1;
    }
    if (in->nsrc == 0) {
        in->streaming = 1;
        in->fd = 0;
        sl_input_new_src(in, 0);
    }
    return 0;
}

/* Works out the groups of linked sources and the number of elements; 0, or -1. */
int
sl_input_plan(struct sl_input *in)
{
    size_t i, g = 0, total = 1;

    in->group_first = sl_reallocarray(NULL, in->nsrc, sizeof(size_t));
    in->group_len = sl_reallocarray(NULL, in->nsrc, sizeof(size_t));
    for (i = 0; i < in->nsrc; i++) {
        if (i == 0 || !in->src[i].linked) {
            g = in->ngroups++;
            in->group_first[g] = i;
            in->group_len[g] = 0;
        }
        if (in->src[i].n > in->group_len[g])
            in->group_len[g] = in->src[i].n;
    }
    /* A linked group with an empty source has nothing to wrap around. */
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
    in->total = in->streaming ? in->src[0].n : total;
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

    if (!in->streaming || in->eof)
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
        in->total = in->src[0].n;
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
    in->total = in->src[0].n;
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

    while (in->streaming && !in->eof && in->total < (size_t)workers) {
        if (in->total > 0 && deadline < 0)
            deadline = nwsp_mono() + 0.2;
        if (deadline >= 0 && nwsp_mono() > deadline)
            break;
        sl_input_fill(in, in->total > 0 ? 20 : -1);
        if (sl_interrupted)
            break;
    }
}
