/*
 * pipe.c -- the sleigh command's --pipe and --pipepart: stdin (or a file)
 * cut into blocks of whole records, each block the stdin of one command.
 *
 * Where the cuts fall is GNU parallel's (20221122) rule, so that a command
 * that summarises its block (wc -l) prints what parallel's would:
 *
 *  - --pipe: fill the buffer (what the last block left over first) up to
 *    a multiple of --block bytes, cut at the last record boundary in it;
 *    with none, the block size grows for good (x 1.3 + 1, rounded up)
 *    and more is read.  -N R: R records a block, whatever their size.
 *  - --pipepart: from a block's start s, the cut is the first boundary
 *    whose record end begins at or after s + --block (default: the file's
 *    size / workers / 10, + 1; --block -N: / N): the file is never read
 *    whole, only around the cuts.
 *
 * A record boundary is where --recend (default "\n") ends and --recstart
 * (default "") begins; with only --recstart given, --recend is "".
 * --header (its first line, or N lines) is taken off the input first and
 * goes before every block.
 *
 * A block travels through the nws server as a value of its own
 * ("sleigh.stdin.N", bytes, spooled to disk by the server when large),
 * stored on a connection of our own before its element is submitted; the
 * element names it ("stdin_arg" in the task record), the worker copies it
 * to a temporary file that becomes the command's stdin, and the variable
 * is deleted once the element is finished for good (a retry finds it
 * still there).  --pipepart with every worker on this machine skips the
 * server: the element names its range of the file, and the worker reads
 * it in place, as GNU parallel's jobs do.  The master holds at most one block (--pipe) or none
 * (--pipepart, sent from the file): memory stays bounded whatever the
 * input's size, and the run's window bounds what waits on the server.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sl.h"

#define SL_PIPE_BLOCK_DEFAULT (1024 * 1024) /* --block: GNU parallel's 1M */
#define SL_PIPE_CHUNK         65536

/* Turns the \n \t \r \0 \\ escapes GNU parallel takes in --recend/--recstart into bytes. */
static char *
sl_pipe_unescape(const char *s, size_t *len)
{
    char  *out = sl_malloc(strlen(s) + 1);
    size_t n = 0;

    for (; *s != '\0'; s++) {
        if (s[0] != '\\' || s[1] == '\0') {
            out[n++] = *s;
            continue;
        }
        switch (*++s) {
        case 'n':
            out[n++] = '\n';
            break;
        case 't':
            out[n++] = '\t';
            break;
        case 'r':
            out[n++] = '\r';
            break;
        case '0':
            out[n++] = '\0';
            break;
        case '\\':
            out[n++] = '\\';
            break;
        default:
            out[n++] = '\\';
            out[n++] = *s;
            break;
        }
    }
    out[n] = '\0';
    *len = n;
    return out;
}

/* 1 if a record boundary is at c in p[0..n) (the record end before, the start after). */
static int
sl_pipe_is_cut(const struct sl_pipe *pp, const char *p, size_t n, size_t c)
{
    return c >= pp->lend && c + pp->lstart <= n &&
           memcmp(p + c - pp->lend, pp->recend, pp->lend) == 0 &&
           memcmp(p + c, pp->recstart, pp->lstart) == 0;
}

/* The last record boundary in p[0..n) after its first byte, or 0. */
static size_t
sl_pipe_last_cut(const struct sl_pipe *pp, const char *p, size_t n)
{
    const char *q;
    size_t      c = n;

    while (c > 0) {
        if (pp->lend > 0) {
            /* Boundaries follow the last byte of a record end. */
            if ((q = memrchr(p, pp->recend[pp->lend - 1], c)) == NULL)
                return 0;
            c = (size_t)(q - p) + 1;
        } else {
            if ((q = memrchr(p, pp->recstart[0], c < n ? c + 1 : n)) == NULL)
                return 0;
            c = (size_t)(q - p);
            if (c == 0)
                return 0;
        }
        if (sl_pipe_is_cut(pp, p, n, c))
            return c;
        c--;
    }
    return 0;
}

/* The first record boundary c in p[0..n) with c >= from and c > 0, or 0. */
static size_t
sl_pipe_next_cut(const struct sl_pipe *pp, const char *p, size_t n, size_t from)
{
    const char *q;
    size_t      c = from > 0 ? from : 1;

    while (c <= n) {
        if (pp->lend > 0) {
            if (c - 1 >= n ||
                (q = memchr(p + c - 1, pp->recend[pp->lend - 1], n - (c - 1))) == NULL)
                return 0;
            c = (size_t)(q - p) + 1;
        } else {
            if (c >= n || (q = memchr(p + c, pp->recstart[0], n - c)) == NULL)
                return 0;
            c = (size_t)(q - p);
        }
        if (sl_pipe_is_cut(pp, p, n, c))
            return c;
        c++;
    }
    return 0;
}

/*
 * Sets pp up from the options: stdin (--pipe) or file, opened (--pipepart).
 * 0, or -1 (message printed).
 */
int
sl_pipe_open(struct sl_pipe *pp, const struct sl_opts *o, long workers)
{
    struct stat st;

    memset(pp, 0, sizeof(*pp));
    pp->fd = -1;
    pp->part = o->pipe == SL_PIPE_PART;
    pp->block = o->block > 0 ? (size_t)o->block : SL_PIPE_BLOCK_DEFAULT;
    if (o->block < 0 && !pp->part) {
        sl_warnx("--block -N: only with --pipepart");
        return -1;
    }
    pp->nrec = o->max_args > 0 ? (size_t)o->max_args : 0;
    pp->hlines = o->header ? (o->header_lines > 0 ? o->header_lines : 1) : 0;
    pp->recstart = sl_pipe_unescape(o->recstart != NULL ? o->recstart : "", &pp->lstart);
    pp->recend = sl_pipe_unescape(o->recend != NULL     ? o->recend
                                  : o->recstart != NULL ? ""
                                                        : "\\n",
                                  &pp->lend);
    if (pp->lend == 0 && pp->lstart == 0) {
        sl_warnx("--recend and --recstart cannot both be empty");
        return -1;
    }
    if (!pp->part && o->narg_files == 0) {
        pp->fd = 0;
        return 0;
    }
    if (!pp->part) {
        /* GNU parallel 20221122 reads nothing and runs nothing then. */
        sl_warnx("--pipe -a FILE: give --pipepart -a FILE, or < FILE");
        return -1;
    }
    if (o->narg_files != 1) {
        sl_warnx("--pipepart: give the file with one -a FILE");
        return -1;
    }
    if ((pp->fd = open(o->arg_files[0], O_RDONLY | O_CLOEXEC)) < 0 ||
        fstat(pp->fd, &st) != 0) {
        sl_warnx("%s: %s", o->arg_files[0], strerror(errno));
        return -1;
    }
    if (!S_ISREG(st.st_mode)) {
        sl_warnx("--pipepart: %s is not a regular file", o->arg_files[0]);
        return -1;
    }
    pp->fsize = (uint64_t)st.st_size;
    if (o->block <= 0) /* so that each worker gets 10 blocks (or -N) */
        pp->block = 1 + (size_t)(pp->fsize / (uint64_t)(workers > 0 ? workers : 1) /
                                 (uint64_t)(o->block < 0 ? -o->block : 10));
    return 0;
}

/* --pipe: reads until the buffer holds want bytes past pp->start, or the end. 0, or -1. */
static int
sl_pipe_fill(struct sl_pipe *pp, size_t want)
{
    ssize_t n;
    size_t  room;

    if (pp->start > 0 && pp->start >= pp->buf.len / 2) {
        /* Keep the buffer at about a block: drop what was sent. */
        memmove(pp->buf.p, pp->buf.p + pp->start, pp->buf.len - pp->start);
        pp->buf.len -= pp->start;
        pp->start = 0;
    }
    while (!pp->eof && pp->buf.len - pp->start < want) {
        room = want - (pp->buf.len - pp->start);
        if (room > SL_PIPE_CHUNK * 16)
            room = SL_PIPE_CHUNK * 16;
        if (pp->buf.len + room + 1 > pp->buf.cap) {
            pp->buf.cap = pp->buf.len + room + 1;
            pp->buf.p = sl_reallocarray(pp->buf.p, pp->buf.cap, 1);
        }
        n = read(pp->fd, pp->buf.p + pp->buf.len, room);
        if (n < 0 && errno == EINTR) {
            if (sl_interrupted)
                return -1;
            continue;
        }
        if (n < 0) {
            sl_warnx("reading stdin: %s", strerror(errno));
            return -1;
        }
        if (n == 0)
            pp->eof = 1;
        pp->buf.len += (size_t)n;
        pp->bytes_in += (uint64_t)n;
    }
    return 0;
}

/*
 * The length of the header (hlines lines) at the start of p[0..n), or 0
 * if it is not all there.
 */
static size_t
sl_pipe_header_len(const struct sl_pipe *pp, const char *p, size_t n)
{
    const char *q = p;
    long        k;

    if (n == 0) /* p may be NULL then: memchr must not see it */
        return 0;
    for (k = 0; k < pp->hlines; k++) {
        if ((q = memchr(q, '\n', n - (size_t)(q - p))) == NULL)
            return 0;
        q++;
    }
    return (size_t)(q - p);
}

/*
 * --pipe --header: takes the first hlines lines off the input, as GNU
 * parallel does (reading a block at a time until they are in); every
 * block is sent after them.  0, or -1.
 */
static int
sl_pipe_take_header(struct sl_pipe *pp)
{
    size_t h = 0;

    pp->hdone = 1;
    sl_buf_add(&pp->hdr, "", 0);
    if (pp->part) {
        char    buf[SL_PIPE_CHUNK];
        ssize_t n;

        /* --pipepart: from the file; the blocks start after it. */
        for (;;) {
            n = pread(pp->fd, buf, sizeof(buf), (off_t)pp->hdr.len);
            if (n < 0 && errno == EINTR)
                continue;
            if (n < 0) {
                sl_warnx("--pipepart: %s", strerror(errno));
                return -1;
            }
            sl_buf_add(&pp->hdr, buf, (size_t)n);
            if (n == 0 || (h = sl_pipe_header_len(pp, pp->hdr.p, pp->hdr.len)) > 0)
                break;
        }
        pp->hdr.len = h;
        pp->off = h;
        return 0;
    }
    while ((h = sl_pipe_header_len(pp, pp->buf.p + pp->start, pp->buf.len - pp->start)) ==
               0 &&
           !pp->eof)
        if (sl_pipe_fill(pp, pp->buf.len - pp->start + pp->block) != 0)
            return -1;
    sl_buf_add(&pp->hdr, pp->buf.p + pp->start, h);
    pp->start += h;
    return 0;
}

/*
 * --pipe: finds the next block in the buffer (pp->blen).  As GNU parallel
 * reads: up to the next multiple of the block size, then the cut at the
 * last boundary of all that is held; none: the block size grows for good
 * (x 1.3 + 1).  At the end of stdin, all that is left is one block.
 * 1, 0 at the end, or -1.
 */
static int
sl_pipe_read_stream(struct sl_pipe *pp)
{
    size_t c = 0, k, from, have;

    if (pp->nrec > 0) {
        /* R records: boundaries counted from the block's start, reading as needed. */
        for (k = 0, from = 1; k < pp->nrec;) {
            c = sl_pipe_next_cut(pp, pp->buf.p + pp->start, pp->buf.len - pp->start,
                                 from);
            if (c == 0) {
                if (pp->eof)
                    break;
                have = pp->buf.len - pp->start;
                if (sl_pipe_fill(pp, have + pp->block - have % pp->block) != 0)
                    return -1;
                continue;
            }
            k++;
            from = c + 1;
        }
        c = k < pp->nrec ? pp->buf.len - pp->start : from - 1;
    } else {
        for (;;) {
            have = pp->buf.len - pp->start;
            if (!pp->eof && sl_pipe_fill(pp, have + pp->block - have % pp->block) != 0)
                return -1;
            have = pp->buf.len - pp->start;
            if (pp->eof) {
                c = have; /* the rest */
                break;
            }
            if ((c = sl_pipe_last_cut(pp, pp->buf.p + pp->start, have)) > 0)
                break;
            /* A record longer than a block: as parallel, a bigger block from now on. */
            pp->block = (size_t)ceil((double)pp->block * 1.3 + 1);
        }
    }
    pp->blen = c;
    return c > 0;
}

/*
 * --pipepart: the block starting at pp->off: pp->blen bytes, the cut found
 * by reading the file around off + block only.  1, 0 at the end, or -1.
 */
static int
sl_pipe_read_part(struct sl_pipe *pp)
{
    uint64_t from = pp->off + pp->block, at;
    size_t   c, back = pp->lend;
    ssize_t  n;

    if (pp->off >= pp->fsize)
        return 0;
    if (from >= pp->fsize) {
        pp->blen = (size_t)(pp->fsize - pp->off);
        return 1;
    }
    /* Look from just before from (the record end may start there) onwards. */
    at = from - (back < from - pp->off ? back : from - pp->off);
    pp->buf.len = 0;
    for (;;) {
        if (pp->buf.len + SL_PIPE_CHUNK + 1 > pp->buf.cap) {
            pp->buf.cap = pp->buf.len + SL_PIPE_CHUNK + 1;
            pp->buf.p = sl_reallocarray(pp->buf.p, pp->buf.cap, 1);
        }
        n = pread(pp->fd, pp->buf.p + pp->buf.len, SL_PIPE_CHUNK,
                  (off_t)(at + pp->buf.len));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            sl_warnx("--pipepart: %s", strerror(errno));
            return -1;
        }
        pp->buf.len += (size_t)n;
        c = sl_pipe_next_cut(pp, pp->buf.p, pp->buf.len, (size_t)(from - at) + pp->lend);
        if (c > 0) {
            pp->blen = (size_t)(at + c - pp->off);
            return 1;
        }
        if (n == 0) {
            pp->blen = (size_t)(pp->fsize - pp->off); /* no boundary: the rest */
            return 1;
        }
    }
}

/* Reads len bytes of fd at off into p; 0, or -1 (errno; EIO at the end of the file). */
static int
sl_pread_all(int fd, char *p, size_t len, uint64_t off)
{
    ssize_t n;

    while (len > 0) {
        n = pread(fd, p, len, (off_t)off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            if (n == 0)
                errno = EIO;
            return -1;
        }
        p += n;
        len -= (size_t)n;
        off += (uint64_t)n;
    }
    return 0;
}

/* Finds the next block (not yet sent).  1, 0 at the end of the input, or -1. */
int
sl_pipe_read(struct sl_pipe *pp)
{
    int rc;

    if (pp->ready)
        return 1;
    if (pp->hlines > 0 && !pp->hdone && sl_pipe_take_header(pp) != 0)
        return -1;
    rc = pp->part ? sl_pipe_read_part(pp) : sl_pipe_read_stream(pp);
    if (rc == 1)
        pp->ready = 1;
    else if (rc == 0)
        pp->done = 1;
    return rc;
}

/* The name of block idx's variable. */
void
sl_pipe_var(size_t idx, char *buf, size_t len)
{
    snprintf(buf, len, "sleigh.stdin.%zu", idx);
}

/*
 * Stores the block found by sl_pipe_read as element idx's stdin on ws;
 * 0, or -1 (message printed).
 */
int
sl_pipe_store(struct sl_pipe *pp, nws_ws *ws, size_t idx)
{
    char      var[64];
    nws_error err;
    int       rc;

    sl_pipe_var(idx, var, sizeof(var));
    if (pp->path != NULL) {
        /* In place: the worker reads the range itself. */
        if (idx + 1 > pp->nranges) {
            pp->ranges = sl_reallocarray(pp->ranges, (idx + 1) * 2, sizeof(*pp->ranges));
            pp->nranges = idx + 1;
        }
        pp->ranges[idx * 2] = pp->off;
        pp->ranges[idx * 2 + 1] = pp->blen;
        pp->off += pp->blen;
        rc = 0;
    } else if (pp->part && pp->hdr.len == 0) {
        rc = lseek(pp->fd, (off_t)pp->off, SEEK_SET) < 0
                 ? -1
                 : nws_store_fd(ws, var, pp->fd, pp->blen, NWS_DESC_BYTES, &err);
        pp->off += pp->blen;
    } else if (pp->hdr.len == 0) {
        rc =
            nws_store_raw(ws, var, pp->buf.p + pp->start, pp->blen, NWS_DESC_BYTES, &err);
        pp->start += pp->blen;
    } else {
        /* --header: the header, then the block, as one value (a block in memory). */
        struct sl_buf v = {0};

        sl_buf_add(&v, pp->hdr.p, pp->hdr.len);
        if (pp->part) {
            v.p = sl_reallocarray(v.p, v.len + pp->blen + 1, 1);
            v.cap = v.len + pp->blen + 1;
            if (sl_pread_all(pp->fd, v.p + v.len, pp->blen, pp->off) != 0) {
                sl_warnx("--pipepart: %s", strerror(errno));
                free(v.p);
                return -1;
            }
            v.len += pp->blen;
            pp->off += pp->blen;
        } else {
            sl_buf_add(&v, pp->buf.p + pp->start, pp->blen);
            pp->start += pp->blen;
        }
        rc = nws_store_raw(ws, var, v.p, v.len, NWS_DESC_BYTES, &err);
        free(v.p);
    }
    pp->ready = 0;
    pp->sent += pp->blen;
    if (rc != 0)
        sl_warnx("storing a block: %s",
                 err.text[0] ? err.text : nws_errcode_str(err.code));
    return rc;
}

/*
 * --pipepart with every worker on this machine: blocks are read in place
 * by the workers (cmdin.c) instead of travelling through the server, as
 * GNU parallel's jobs read their part of the file.  0, or -1.
 */
int
sl_pipe_inplace(struct sl_pipe *pp, const char *file)
{
    if ((pp->path = realpath(file, NULL)) == NULL) {
        sl_warnx("%s: %s", file, strerror(errno));
        return -1;
    }
    return 0;
}

/* The stdin argument of element idx (new): its value's name, or its range of the file. */
json_t *
sl_pipe_arg(const struct sl_pipe *pp, size_t idx)
{
    char    var[64];
    json_t *a;

    if (pp->path == NULL) {
        sl_pipe_var(idx, var, sizeof(var));
        a = json_string(var);
    } else {
        a = json_pack("{s:s, s:I, s:I, s:I}", "file", pp->path, "off",
                      (json_int_t)pp->ranges[idx * 2], "len",
                      (json_int_t)pp->ranges[idx * 2 + 1], "hlen",
                      (json_int_t)pp->hdr.len); /* --header: the file's first bytes */
    }
    if (a == NULL)
        sl_nomem();
    return a;
}

/* Drops the block found by sl_pipe_read without sending it (--dry-run). */
void
sl_pipe_skip(struct sl_pipe *pp)
{
    if (pp->part)
        pp->off += pp->blen;
    else
        pp->start += pp->blen;
    pp->ready = 0;
}

/* Frees what pp holds. */
void
sl_pipe_close(struct sl_pipe *pp)
{
    if (pp->fd > 0)
        close(pp->fd);
    free(pp->buf.p);
    free(pp->recend);
    free(pp->recstart);
    free(pp->path);
    free(pp->ranges);
    free(pp->hdr.p);
    memset(pp, 0, sizeof(*pp));
    pp->fd = -1;
}
