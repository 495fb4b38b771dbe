/*
 * output.c -- the sleigh command's output: each job's stdout and stderr in
 * one piece, now or in input order (-k), tagged (--tag), of any size
 * (streams stored apart come straight from the server or a temp file), and
 * the progress bar on stderr.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "sl.h"
#include "util.h"

/* Erases the progress bar (and the --eta line) if it is on screen. */
void
sl_progress_clear(struct sl_run *run)
{
    if (run->bar_shown) {
        /* Not a terminal: end the line instead, so output starts on its own. */
        if (!run->tty)
            fputs("\n", stderr);
        else if (run->bar_shown == 2)
            fputs("\r\033[K\033[1A\r\033[K", stderr);
        else
            fputs("\r\033[K", stderr);
        fflush(stderr);
        run->bar_shown = 0;
    }
}

/*
 * --eta: GNU parallel's line, "ETA: 12s Left: 40 AVG: 0.30s  local:4/60/100%/0.3s"
 * (seconds left, inputs not finished, wall seconds per finished input, and
 * for the machine: running/finished/share of the starts/seconds per input).
 * Its header comes once, before the first line, as parallel prints it.
 */
static void
sl_eta_line(struct sl_run *run, double elapsed, char *buf, size_t len)
{
    size_t total = run->in->total - run->skipped, /* --resume: done before */
        left = total > run->done ? total - run->done : 0;
    double avg = run->done > 0 ? elapsed / (double)run->done : 0;
    long   cores = sysconf(_SC_NPROCESSORS_ONLN);

    if (!run->eta_shown) {
        fprintf(stderr,
                "\nComputers / CPU cores / Max jobs to run\n1:%s / %ld / "
                "%ld\n\nComputer:jobs "
                "running/jobs completed/%%of started jobs/Average seconds to complete\n",
                run->rank_nodes != NULL ? "sleigh" : "local", cores > 0 ? cores : 1,
                run->workers);
        run->eta_shown = 1;
    }
    snprintf(buf, len, "ETA: %.0fs Left: %zu AVG: %.2fs  %s:%zu/%zu/100%%/%.1fs ",
             avg * (double)left, left, avg, run->rank_nodes != NULL ? "sleigh" : "local",
             run->running_est, run->done, avg);
}

/* Draws the progress bar and/or the --eta line (at most every SL_PROGRESS_S unless force). */
void
sl_progress_draw(struct sl_run *run, int force)
{
    struct winsize ws;
    double         now = nwsp_mono(), elapsed = now - run->started, rate, eta;
    size_t         total = run->in->total - run->skipped, width = 80, barw, fill, i;
    int            known = !run->in->streaming || run->in->eof;
    char           head[160], tail[96], bar[512], etaline[160];

    if ((!run->progress && !run->o->eta) ||
        (!force && now - run->last_draw < SL_PROGRESS_S))
        return;
    run->last_draw = now;
    if (run->o->eta) {
        sl_eta_line(run, elapsed, etaline, sizeof(etaline));
        if (run->tty && run->bar_shown == 2)
            fputs("\033[1A", stderr); /* back to the --eta line */
        fprintf(stderr, "\r%s%s", etaline, run->tty ? "\033[K" : "");
        run->bar_shown = 1;
        if (!run->progress) {
            fflush(stderr);
            return;
        }
        fputs("\n", stderr); /* the bar on a line of its own */
        run->bar_shown = 2;
    }
    if (ioctl(2, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 20)
        width = ws.ws_col;
    rate = elapsed > 0 ? (double)run->done / elapsed : 0;
    snprintf(head, sizeof(head), "%zu/%zu%s", run->done, total, known ? "" : "+");
    if (run->failed > 0)
        snprintf(head + strlen(head), sizeof(head) - strlen(head), " (%zu failed)",
                 run->failed);
    if (known && total > 0 && rate > 0 && run->done <= total) {
        eta = (double)(total - run->done) / rate;
        snprintf(tail, sizeof(tail), " %3zu%% %.1f/s ETA %ld:%02ld:%02ld",
                 run->done * 100 / total, rate, (long)eta / 3600, (long)eta / 60 % 60,
                 (long)eta % 60);
    } else if (known && total > 0) {
        snprintf(tail, sizeof(tail), " %3zu%% %.1f/s ETA -:--:--",
                 run->done * 100 / total, rate);
    } else {
        snprintf(tail, sizeof(tail), " %.1f/s", rate);
    }
    barw = width > strlen(head) + strlen(tail) + 12
               ? width - strlen(head) - strlen(tail) - 12
               : 0;
    if (barw > sizeof(bar) - 3)
        barw = sizeof(bar) - 3;
    fill = known && total > 0 ? barw * run->done / total : 0;
    bar[0] = '\0';
    if (barw > 0) {
        bar[0] = '[';
        for (i = 0; i < barw; i++)
            bar[1 + i] = i < fill ? '=' : i == fill ? '>' : ' ';
        bar[1 + barw] = ']';
        bar[2 + barw] = '\0';
    }
    /* On a terminal, erase what a longer line left; elsewhere no escapes. */
    fprintf(stderr, "\r%s: %s %s%s%s", sl_prog, head, bar, tail,
            run->tty ? "\033[K" : "");
    fflush(stderr);
    if (run->bar_shown == 0)
        run->bar_shown = 1;
}

/* Writes len bytes to fd, each line prefixed with tag and a tab if tag != NULL. */
static int
sl_emit(int fd, const char *p, size_t len, const char *tag)
{
    const char *nl;
    size_t      n;

    if (tag == NULL)
        return sl_write_all(fd, p, len);
    while (len > 0) {
        nl = memchr(p, '\n', len);
        n = nl != NULL ? (size_t)(nl - p) + 1 : len;
        if (sl_write_all(fd, tag, strlen(tag)) != 0 || sl_write_all(fd, "\t", 1) != 0 ||
            sl_write_all(fd, p, n) != 0)
            return -1;
        p += n;
        len -= n;
    }
    return 0;
}

/* ---- output of any size ------------------------------------------------------
 *
 * The task asks for "spill": a job's stream longer than SL_SPILL bytes is
 * stored by the worker as a value of its own, raw bytes, and the result
 * only names it.  Such a stream is copied from the server straight to our
 * stdout or stderr as it arrives (nws_sleigh_output_fd); when -k must hold
 * the job back, or --tag must prefix its lines, it goes to an unlinked
 * temporary file first, as GNU parallel does.  Either way sleigh's memory
 * does not grow with the output, and the bytes come back exactly.
 */

/* Returns 1 if stream ("stdout", "stderr") of result v is stored apart. */
int
sl_stream_apart(const json_t *v, const char *stream)
{
    char key[32];

    snprintf(key, sizeof(key), "%s_var", stream);
    return json_is_string(json_object_get(v, key));
}

/* The length of a stream of v stored apart, or 0. */
size_t
sl_stream_bytes(const json_t *v, const char *stream)
{
    char          key[32];
    const json_t *n;

    snprintf(key, sizeof(key), "%s_bytes", stream);
    n = json_object_get(v, key);
    return json_is_integer(n) && json_integer_value(n) > 0 ? (size_t)json_integer_value(n)
                                                           : 0;
}

/*
 * Moves a stream of v stored apart from the server into a new unlinked
 * temporary file.  Its descriptor; -1 with keep when no file could be made
 * (the stream stays on the server, nothing printed); else -2, with a
 * message (the output is lost, the run goes on).
 */
static int
sl_stream_to_file(struct sl_run *run, const json_t *v, const char *stream, int keep)
{
    const char *dir = getenv("TMPDIR");
    char        path[PATH_MAX];
    nws_error   err;
    int         fd;

    snprintf(path, sizeof(path), "%s/sleigh.out.XXXXXX",
             dir != NULL && *dir != '\0' ? dir : "/tmp");
    if ((fd = mkostemp(path, O_CLOEXEC)) < 0) {
        if (keep)
            return -1;
        sl_progress_clear(run);
        sl_warnx("cannot keep a job's %s: %s: %s", stream, path, strerror(errno));
        nws_sleigh_output_fd(run->s, v, stream, -1, NULL, NULL);
        return -2;
    }
    unlink(path);
    if (nws_sleigh_output_fd(run->s, v, stream, fd, NULL, &err) != 0) {
        sl_progress_clear(run);
        sl_warnx("cannot keep a job's %s: %s", stream,
                 err.text[0] ? err.text : nws_errcode_str(err.code));
        close(fd);
        return -2;
    }
    return fd;
}

/* Deletes the streams of result v stored apart (an attempt to be retried). */
void
sl_stream_drop(struct sl_run *run, const json_t *v)
{
    if (v != NULL && sl_stream_apart(v, "stdout"))
        nws_sleigh_output_fd(run->s, v, "stdout", -1, NULL, NULL);
    if (v != NULL && sl_stream_apart(v, "stderr"))
        nws_sleigh_output_fd(run->s, v, "stderr", -1, NULL, NULL);
}

/* Copies what file in holds to fd, each line prefixed as sl_emit does; 0, or -1. */
static int
sl_emit_file(int fd, int in, const char *tag)
{
    char        buf[65536];
    const char *p, *nl;
    ssize_t     n;
    size_t      k, left;
    int         line_start = 1;

    if (lseek(in, 0, SEEK_SET) != 0)
        return -1;
    for (;;) {
        n = read(in, buf, sizeof(buf));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return n < 0 ? -1 : 0;
        if (tag == NULL) {
            if (sl_write_all(fd, buf, (size_t)n) != 0)
                return -1;
            continue;
        }
        /* A line may straddle two reads: the tag goes only where one starts. */
        for (p = buf, left = (size_t)n; left > 0; p += k, left -= k) {
            nl = memchr(p, '\n', left);
            k = nl != NULL ? (size_t)(nl - p) + 1 : left;
            if (line_start && (sl_write_all(fd, tag, strlen(tag)) != 0 ||
                               sl_write_all(fd, "\t", 1) != 0))
                return -1;
            if (sl_write_all(fd, p, k) != 0)
                return -1;
            line_start = nl != NULL;
        }
    }
}

/*
 * -k: moves d's streams stored apart into temporary files now, so that
 * the server does not keep them while the job waits for its turn.  One
 * that cannot have a file (out of descriptors: very many jobs held) waits
 * on the server instead.
 */
static void
sl_stream_hold(struct sl_run *run, struct sl_done *d)
{
    if (d->val == NULL)
        return;
    if (sl_stream_apart(d->val, "stdout"))
        d->outfd = sl_stream_to_file(run, d->val, "stdout", 1);
    if (sl_stream_apart(d->val, "stderr"))
        d->errfd = sl_stream_to_file(run, d->val, "stderr", 1);
}

/*
 * Writes one stream of d (which: 1 stdout, 2 stderr) to fd, each line
 * prefixed with tag if it is not NULL: the part stored apart (from the
 * server or a temp file), then the part in memory.  fd -1: the stream is
 * dropped.  Returns -1 if writing to fd failed (the rest is dropped), else 0.
 */
static int
sl_write_stream(struct sl_run *run, struct sl_done *d, int which, int fd, const char *tag)
{
    const char *name = which == 1 ? "stdout" : "stderr";
    int         tmp = which == 1 ? d->outfd : d->errfd, gone = fd < 0;
    const char *mem = which == 1 ? d->out : d->err;
    size_t      len = which == 1 ? d->outlen : d->errlen;
    nws_error   err;
    int         rc = 0;

    if (tmp == -1 && d->val != NULL && sl_stream_apart(d->val, name)) {
        if (gone) {
            nws_sleigh_output_fd(run->s, d->val, name, -1, NULL, NULL);
        } else if (tag != NULL) {
            tmp = sl_stream_to_file(run, d->val, name, 0);
        } else if (nws_sleigh_output_fd(run->s, d->val, name, fd, NULL, &err) != 0) {
            if (err.code == NWS_ERR_IO)
                rc = -1;
            else
                sl_warnx("a job's %s is lost: %s", name,
                         err.text[0] ? err.text : nws_errcode_str(err.code));
        }
    }
    if (tmp >= 0) {
        if (!gone && rc == 0 && sl_emit_file(fd, tmp, tag) != 0)
            rc = -1;
        close(tmp);
        if (which == 1)
            d->outfd = -1;
        else
            d->errfd = -1;
    }
    if (!gone && rc == 0 && len > 0 && sl_emit(fd, mem, len, tag) != 0)
        rc = -1;
    return rc;
}

/* Prints one stream of d to fd (1: stdout, 2: stderr); as sl_write_stream. */
static int
sl_print_stream(struct sl_run *run, struct sl_done *d, int fd)
{
    return sl_write_stream(run, d, fd, fd == 1 && run->broken ? -1 : fd, d->tag);
}

/* Writes d's stream which (1, 2) to file fd (--results, --files); 0, or -1. */
int
sl_save_stream(struct sl_run *run, struct sl_done *d, int which, int fd)
{
    return sl_write_stream(run, d, which, fd, NULL);
}

/* Frees d. */
static void
sl_done_free(struct sl_done *d)
{
    json_decref(d->val);
    free(d->out);
    free(d->err);
    free(d->cmd);
    free(d->tag);
    free(d->rdir);
    free(d->rec);
    free(d);
}

/* Prints an element's command (-v), stdout and stderr, and frees d. */
void
sl_print(struct sl_run *run, struct sl_done *d)
{
    sl_progress_clear(run);
    if (!run->broken && d->cmd != NULL &&
        (sl_write_all(1, d->cmd, strlen(d->cmd)) != 0 || sl_write_all(1, "\n", 1) != 0))
        run->broken = 1;
    if (run->o->results != NULL || run->o->files) {
        /* The output goes to files; --files prints their names instead. */
        if (sl_results_write(run, d) != 0)
            run->broken = 1;
        sl_done_free(d);
        return;
    }
    if (sl_print_stream(run, d, 1) != 0)
        run->broken = 1;
    sl_print_stream(run, d, 2);
    sl_done_free(d);
}

/* Hands d (element idx) to the output: now, or when its turn comes (-k). */
void
sl_output(struct sl_run *run, size_t idx, struct sl_done *d)
{
    size_t n;

    if (!run->o->keep_order) {
        sl_print(run, d);
        return;
    }
    if (idx >= run->nheld) {
        n = run->nheld != 0 ? run->nheld : 64;
        while (n <= idx)
            n *= 2;
        run->held = sl_reallocarray(run->held, n, sizeof(*run->held));
        memset(run->held + run->nheld, 0, (n - run->nheld) * sizeof(*run->held));
        run->nheld = n;
    }
    if (idx != run->next_print)
        sl_stream_hold(run, d);
    run->held[idx] = d;
    while (run->next_print < run->nheld && run->held[run->next_print] != NULL) {
        sl_print(run, run->held[run->next_print]);
        run->held[run->next_print++] = NULL;
    }
    sl_stream_head(run); /* --line-buffer: the next in order may be running */
}

/* Replaces tabs and newlines by spaces (a joblog line stays one line). */
void
sl_one_line(char *s)
{
    for (; *s != '\0'; s++)
        if (*s == '\t' || *s == '\n' || *s == '\r')
            *s = ' ';
}

/* An integer member of a command result, or dflt. */
long
sl_value_int(const json_t *v, const char *key, long dflt)
{
    const json_t *m = json_object_get(v, key);

    return json_is_number(m) ? (long)json_number_value(m) : dflt;
}
