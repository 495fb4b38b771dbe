/*
 * stream.c -- --line-buffer and --ungroup: a job's output printed while it
 * runs, as GNU parallel does.
 *
 * The task names a fifo variable of the sleigh workspace ("stream"); the
 * worker stores each read of the command's stdout or stderr there as one
 * piece, "INDEX FD SEQ ID\n" and the bytes, and waits for our answer (an
 * empty value in "streamack@ID") when a few are unanswered
 * (worker/cmdstream.c): the server, the worker and we each hold a bounded
 * amount whatever the job prints.  We look for pieces between results
 * (nws_fetch_try on the control connection), print them (--line-buffer:
 * whole lines, tagged as parallel does, a job's last partial line at its
 * end; --ungroup: the bytes as they are, untagged as parallel does) and
 * answer.  A result carries stream_id and stream_pieces: its pieces were
 * all stored before it, so we take pieces until we have that many of that
 * attempt, then print what is left of its lines.
 *
 * -k with --line-buffer, as parallel: the first job in input order not
 * printed yet is printed live; the others' pieces go to unlinked temporary
 * files (answered all the same, so they run on), which are printed when
 * the job's turn comes: whole by output.c if it ended by then, else
 * through the line logic before its next pieces, when it becomes first.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sl.h"
#include "util.h"

#define SL_STREAM_VAR      "sleighStream"
#define SL_STREAM_LINE_MAX (1024 * 1024) /* a longer line is printed in parts */
#define SL_STREAM_TURN     64            /* pieces taken per look, then results */
#define SL_STREAM_WAIT_S   30.0          /* for pieces a result says were stored */
#define SL_STREAM_BUSY_S   0.1           /* pieces came this recently: look again soon */

/* A running job's stream state (by batch index). */
struct sl_live {
    char         *id;      /* the attempt its pieces belong to */
    uint64_t      got;     /* pieces of that attempt taken */
    struct sl_buf part[2]; /* --line-buffer: the line begun on stdout, stderr */
    char         *tag;
    int           shown;  /* -v: its command line is printed */
    int           rank;   /* the worker running it */
    size_t        elem;   /* its element */
    int           held;   /* -k --line-buffer: not first: pieces to hfd */
    int           hfd[2]; /* held stdout, stderr (-1: none yet) */
};

struct sl_stream {
    struct sl_live **live; /* by batch index */
    size_t           nlive;
    double           last; /* nwsp_mono() of the last piece */
};

int
sl_stream_setup(struct sl_run *run)
{
    const struct sl_opts *o = run->o;

    /* Files take --results' output. */
    if ((!o->line_buffer && !o->ungroup) || o->results != NULL || o->files)
        return 0;
    run->stream = sl_malloc(sizeof(*run->stream));
    memset(run->stream, 0, sizeof(*run->stream));
    if (json_object_set_new(run->task, "stream", json_string(SL_STREAM_VAR)) != 0 ||
        (o->verbose && json_object_set_new(run->task, "stream_start", json_true()) != 0))
        sl_nomem();
    return 0;
}

static void
sl_live_free(struct sl_live *l)
{
    if (l == NULL)
        return;
    if (l->hfd[0] >= 0)
        close(l->hfd[0]);
    if (l->hfd[1] >= 0)
        close(l->hfd[1]);
    free(l->id);
    free(l->part[0].p);
    free(l->part[1].p);
    free(l->tag);
    free(l);
}

void
sl_stream_round_end(struct sl_run *run)
{
    size_t i;

    if (run->stream == NULL)
        return;
    for (i = 0; i < run->stream->nlive; i++)
        sl_live_free(run->stream->live[i]);
    free(run->stream->live);
    run->stream->live = NULL;
    run->stream->nlive = 0;
}

void
sl_stream_free(struct sl_run *run)
{
    sl_stream_round_end(run);
    free(run->stream);
    run->stream = NULL;
}

/* Writes p[0..n) to fd (1, 2), each line after tag and a tab if tag != NULL. */
static void
sl_stream_write(struct sl_run *run, int fd, const char *p, size_t n, const char *tag)
{
    const char *nl;
    size_t      k;

    if (n == 0 || (fd == 1 && run->broken))
        return;
    sl_progress_clear(run);
    while (n > 0) {
        nl = memchr(p, '\n', n);
        k = nl != NULL ? (size_t)(nl - p) + 1 : n;
        if (tag == NULL)
            k = n;
        if ((tag != NULL && (sl_write_all(fd, tag, strlen(tag)) != 0 ||
                             sl_write_all(fd, "\t", 1) != 0)) ||
            sl_write_all(fd, p, k) != 0) {
            if (fd == 1)
                run->broken = 1;
            return;
        }
        p += k;
        n -= k;
    }
}

/* Prints what l holds of its lines (the job ended, or another attempt began). */
static void
sl_live_flush(struct sl_run *run, struct sl_live *l)
{
    int i;

    for (i = 0; i < 2; i++) {
        sl_stream_write(run, i + 1, l->part[i].p, l->part[i].len, l->tag);
        l->part[i].len = 0;
    }
}

/* The state of batch index bi (made on first use). */
static struct sl_live *
sl_live_get(struct sl_run *run, const size_t *map, size_t nmap, size_t bi, long rank)
{
    struct sl_stream *st = run->stream;
    size_t            n;

    if (bi >= st->nlive) {
        n = st->nlive != 0 ? st->nlive : 64;
        while (n <= bi)
            n *= 2;
        st->live = sl_reallocarray(st->live, n, sizeof(*st->live));
        memset(st->live + st->nlive, 0, (n - st->nlive) * sizeof(*st->live));
        st->nlive = n;
    }
    if (st->live[bi] == NULL) {
        st->live[bi] = sl_malloc(sizeof(struct sl_live));
        memset(st->live[bi], 0, sizeof(struct sl_live));
        st->live[bi]->hfd[0] = st->live[bi]->hfd[1] = -1;
        st->live[bi]->elem = bi < nmap ? map[bi] : SIZE_MAX;
        st->live[bi]->held = run->o->keep_order && run->o->line_buffer &&
                             st->live[bi]->elem != run->next_print;
        if (run->o->line_buffer && bi < nmap)
            st->live[bi]->tag = sl_run_tag(run, map[bi], (int)rank);
    }
    return st->live[bi];
}

/* Keeps n bytes of l's stream fd (1, 2) in its held file; 0, or -1. */
static int
sl_live_hold(struct sl_live *l, int fd, const char *data, size_t n)
{
    const char *dir = getenv("TMPDIR");
    char        path[PATH_MAX];
    int        *h = &l->hfd[fd - 1];

    if (*h < 0) {
        snprintf(path, sizeof(path), "%s/sleigh.out.XXXXXX",
                 dir != NULL && *dir != '\0' ? dir : "/tmp");
        if ((*h = mkostemp(path, O_CLOEXEC)) < 0)
            return -1;
        unlink(path);
    }
    return sl_write_all(*h, data, n);
}

/* Prints n bytes of l's stream fd (1, 2): -u as they are, else whole lines. */
static void
sl_live_data(struct sl_run *run, struct sl_live *l, int fd, const char *data, size_t n)
{
    struct sl_buf *b;
    size_t         keep;
    int            whole = 0;

    if (l->held) {
        if (sl_live_hold(l, fd, data, n) == 0)
            return;
        sl_progress_clear(run);
        sl_warnx("cannot hold a job's output for -k: %s: printed now", strerror(errno));
    }
    if (!run->o->line_buffer) {
        sl_stream_write(run, fd, data, n, NULL); /* -u: as it comes */
        return;
    }
    b = &l->part[fd - 1];
    sl_buf_add(b, data, n);
    /* Whole lines now; the begun one waits (within a bound). */
    for (keep = b->len; keep > 0; keep--)
        if (b->p[keep - 1] == '\n') {
            whole = 1;
            break;
        }
    if (!whole && b->len > SL_STREAM_LINE_MAX)
        keep = b->len;
    if (keep > 0) {
        sl_stream_write(run, fd, b->p, keep, l->tag);
        memmove(b->p, b->p + keep, b->len - keep);
        b->len -= keep;
    }
}

/* -v: prints l's command line (once). */
static void
sl_live_show(struct sl_run *run, struct sl_live *l)
{
    char *cmd;

    if (!run->o->verbose || l->shown || l->elem == SIZE_MAX)
        return;
    cmd = sl_run_cmd(run, l->elem, l->rank);
    sl_stream_write(run, 1, cmd, strlen(cmd), NULL);
    sl_stream_write(run, 1, "\n", 1, NULL);
    free(cmd);
    l->shown = 1;
}

void
sl_stream_head(struct sl_run *run)
{
    struct sl_live *l;
    char            buf[65536];
    ssize_t         n;
    size_t          i;
    int             k;

    if (run->stream == NULL || !run->o->keep_order)
        return;
    for (i = 0; i < run->stream->nlive; i++) {
        l = run->stream->live[i];
        if (l == NULL || !l->held || l->elem != run->next_print)
            continue;
        /* Its turn, still running: what it printed so far, then live. */
        l->held = 0;
        sl_live_show(run, l);
        for (k = 0; k < 2; k++) {
            if (l->hfd[k] < 0)
                continue;
            if (lseek(l->hfd[k], 0, SEEK_SET) == 0)
                while ((n = read(l->hfd[k], buf, sizeof(buf))) > 0 ||
                       (n < 0 && errno == EINTR))
                    if (n > 0)
                        sl_live_data(run, l, k + 1, buf, (size_t)n);
            close(l->hfd[k]);
            l->hfd[k] = -1;
        }
        return;
    }
}

/* Takes one piece, prints it and answers it: 1, 0 when there is none, or -1. */
static int
sl_stream_one(struct sl_run *run, const size_t *map, size_t nmap)
{
    nws_ws            *ws = nws_sleigh_ws(run->s);
    nws_value         *v = NULL;
    nws_error          err;
    const char        *p, *nl, *data;
    char               id[128], ack[160], head[256];
    unsigned long      bi;
    unsigned long long seq;
    int                fd, got, rank = 0;
    size_t             len, n;
    struct sl_live    *l;

    got = nws_fetch_try(ws, SL_STREAM_VAR, &v, &err);
    if (got <= 0) {
        if (got < 0) {
            sl_progress_clear(run);
            sl_warnx("reading the jobs' output: %s",
                     err.text[0] ? err.text : nws_errcode_str(err.code));
        }
        return got;
    }
    p = nws_value_data(v);
    len = nws_value_size(v);
    nl = p != NULL ? memchr(p, '\n', len < sizeof(head) ? len : sizeof(head)) : NULL;
    if (nl != NULL) { /* the header alone, NUL-terminated, for sscanf */
        memcpy(head, p, (size_t)(nl - p));
        head[nl - p] = '\0';
    }
    if (nl == NULL || sscanf(head, "%lu %d %llu %127s", &bi, &fd, &seq, id) != 4 ||
        (fd != 1 && fd != 2)) {
        nws_value_free(v);
        sl_progress_clear(run);
        sl_warnx("a malformed piece of output: dropped");
        return 1;
    }
    sscanf(id, "%d.", &rank);
    data = nl + 1;
    n = len - (size_t)(data - p);
    if (bi >= nmap) {
        sl_progress_clear(run);
        sl_warnx("a piece of output of a job never submitted: dropped");
        goto answer;
    }
    l = sl_live_get(run, map, nmap, bi, rank);
    if (l->id == NULL || strcmp(l->id, id) != 0) {
        /* Another attempt (the first, or a rerun of a lost one). */
        size_t j;

        sl_live_flush(run, l);
        /* Its worker ended the job it ran before (its result is stored, its
         * pieces all taken): that job's last partial lines come first. */
        for (j = 0; j < run->stream->nlive; j++)
            if (run->stream->live[j] != NULL && run->stream->live[j] != l &&
                run->stream->live[j]->rank == rank)
                sl_live_flush(run, run->stream->live[j]);
        l->rank = rank;
        free(l->id);
        l->id = sl_strdup(id);
        l->got = 0;
    }
    l->rank = rank;
    if (!l->held)
        sl_live_show(run, l); /* -v: before its first output */
    l->got++;
    if (n > 0)
        sl_live_data(run, l, fd, data, n);
answer:
    nws_value_free(v);
    snprintf(ack, sizeof(ack), "streamack@%s", id);
    if (nws_store_raw(ws, ack, "", 0, NWS_DESC_BYTES, &err) != 0) {
        sl_progress_clear(run);
        sl_warnx("answering a job's output: %s",
                 err.text[0] ? err.text : nws_errcode_str(err.code));
        return -1;
    }
    return 1;
}

int
sl_stream_poll(struct sl_run *run, const size_t *map, size_t nmap)
{
    int i, got, n = 0;

    if (run->stream == NULL)
        return 0;
    for (i = 0; i < SL_STREAM_TURN; i++) {
        if ((got = sl_stream_one(run, map, nmap)) < 0)
            return -1;
        if (got == 0)
            break;
        n++;
    }
    if (n > 0)
        run->stream->last = nwsp_mono();
    return n;
}

long
sl_stream_wait_ms(const struct sl_run *run, int streamed)
{
    /* A job printing fast has its next pieces stored within a round trip:
     * wait little while pieces flow (the worker stops at a few unanswered),
     * SL_POLL_MS once they stop. */
    if (streamed > 0)
        return 0;
    if (nwsp_mono() - run->stream->last < SL_STREAM_BUSY_S)
        return 1;
    return SL_POLL_MS;
}

int
sl_stream_result(struct sl_run *run, const size_t *map, size_t nmap, size_t bi,
                 const json_t *v, int *outfd, int *errfd)
{
    const char     *id = json_string_value(json_object_get(v, "stream_id"));
    long            want = sl_value_int(v, "stream_pieces", -1);
    double          since = nwsp_mono();
    struct sl_live *l;
    int             got, shown = 0;

    *outfd = *errfd = -1;
    if (run->stream == NULL)
        return 0;
    if (id != NULL && want > 0) {
        for (;;) {
            l = bi < run->stream->nlive ? run->stream->live[bi] : NULL;
            if (l != NULL && l->id != NULL && strcmp(l->id, id) == 0 &&
                l->got >= (uint64_t)want)
                break;
            if ((got = sl_stream_one(run, map, nmap)) < 0)
                return -1;
            if (got == 0) {
                if (nwsp_mono() - since > SL_STREAM_WAIT_S || sl_interrupted) {
                    sl_progress_clear(run);
                    sl_warnx("a job's output is incomplete");
                    break;
                }
                nwsp_sleep_ms(5);
            }
        }
    }
    if (bi < run->stream->nlive && run->stream->live[bi] != NULL) {
        l = run->stream->live[bi];
        shown = l->shown;
        /* -k, not its turn: what it printed goes with its result. */
        *outfd = l->hfd[0];
        *errfd = l->hfd[1];
        l->hfd[0] = l->hfd[1] = -1;
        sl_live_flush(run, l);
        sl_live_free(run->stream->live[bi]);
        run->stream->live[bi] = NULL;
    }
    return shown;
}
