/*
 * run.c -- the sleigh command's run: one streaming batch per round (round 0
 * every element, later rounds the failures to retry), feeding inputs within
 * a window, collecting results, --halt, signals, and --dry-run.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "sl.h"
#include "util.h"

volatile sig_atomic_t sl_interrupted;

/* SIGINT, SIGTERM, SIGHUP: stop at the next look. */
static void
sl_on_signal(int sig)
{
    sl_interrupted = sig;
}

/* Fills run->texts with the slot texts of element idx. */
static void
sl_run_fill(struct sl_run *run, size_t idx)
{
    const char *const *args;
    size_t             i, nargs = sl_input_args(run->in, idx, &args);

    for (i = 0; i < run->t->nslots; i++) {
        if (run->t->slots[i].fixed) {
            run->texts[i] = run->t->slots[i].text;
            continue;
        }
        sl_slot_fill(&run->t->slots[i], args, nargs, idx, &run->slot_bufs[i]);
        run->texts[i] = run->slot_bufs[i].p;
    }
}

/* The inputs of element idx joined by spaces (for --tag); new string. */
static char *
sl_run_inputs(struct sl_run *run, size_t idx)
{
    const char *const *args;
    struct sl_buf      b = {0};
    size_t             i, nargs = sl_input_args(run->in, idx, &args);

    sl_buf_add(&b, "", 0);
    for (i = 0; i < nargs; i++) {
        if (i > 0)
            sl_buf_add(&b, " ", 1);
        sl_buf_adds(&b, args[i]);
    }
    return b.p;
}

/* Element idx's command line as rank runs it (-v); new string. */
char *
sl_run_cmd(struct sl_run *run, size_t idx, int rank)
{
    struct sl_buf cmd = {0};

    sl_run_fill(run, idx);
    sl_tmpl_display(run->t, run->texts, rank, &cmd);
    return cmd.p != NULL ? cmd.p : sl_strdup("");
}

/* Element idx's tag (--tagstring, --tag) as rank ran it; new, or NULL: none. */
char *
sl_run_tag(struct sl_run *run, size_t idx, int rank)
{
    if (run->o->tagstring != NULL)
        return sl_results_tag(run, idx, rank);
    if (run->o->tag)
        return sl_run_inputs(run, idx);
    return NULL;
}

/*
 * An element finished for good (its last attempt): logs it, counts it
 * and passes its output on.  r is the result of that attempt.
 */
static void
sl_finish(struct sl_run *run, size_t idx, const nws_sleigh_result *r, int shown,
          const int *sfd)
{
    struct sl_done *d = sl_malloc(sizeof(*d));
    struct sl_buf   cmd = {0}, msg = {0};
    const json_t   *v = r->value;
    long            status = -1, sig = 0;
    double          start, secs;
    int             timed_out = r->error != NULL && strncmp(r->error, "timed out", 9) == 0;

    memset(d, 0, sizeof(*d));
    d->outfd = sfd[0]; /* -k --line-buffer: what it printed, held (or -1) */
    d->errfd = sfd[1];
    if (v != NULL && json_is_object(v)) {
        d->out = nws_sleigh_output(v, "stdout", &d->outlen);
        d->err = nws_sleigh_output(v, "stderr", &d->errlen);
        if (sl_stream_apart(v, "stdout") || sl_stream_apart(v, "stderr"))
            d->val = json_incref((json_t *)v);
        status = sl_value_int(v, "status", -1);
        sig = sl_value_int(v, "signal", 0);
    }
    sl_run_fill(run, idx);
    sl_tmpl_display(run->t, run->texts, r->rank, &cmd);
    if (timed_out) {
        /* As GNU parallel logs a job it killed for its timeout. */
        status = -1;
        if (sig == 0)
            sig = SIGTERM;
    }
    if (r->error != NULL && (v == NULL || !json_is_object(v) || sig != 0 || timed_out ||
                             run->o->halt.when != NWS_SLEIGH_HALT_NEVER)) {
        /* Killed, timed out, or no output at all (a worker died): say why. */
        sl_buf_add(&msg, d->err != NULL ? d->err : "", d->errlen);
        sl_buf_adds(&msg, sl_prog);
        sl_buf_adds(&msg, ": ");
        sl_buf_adds(&msg, cmd.p);
        sl_buf_adds(&msg, ": ");
        sl_buf_adds(&msg, r->error);
        sl_buf_adds(&msg, "\n");
        free(d->err);
        d->err = msg.p;
        d->errlen = msg.len;
    } else if (v != NULL && json_is_true(json_object_get(v, "truncated"))) {
        sl_buf_add(&msg, d->err != NULL ? d->err : "", d->errlen);
        sl_buf_adds(&msg, sl_prog);
        sl_buf_adds(&msg, ": ");
        sl_buf_adds(&msg, cmd.p);
        if (r->error != NULL)
            sl_buf_adds(&msg, ": output cut at --max-output; the job failed\n");
        else
            sl_buf_adds(&msg, ": output truncated (see --max-output)\n");
        free(d->err);
        d->err = msg.p;
        d->errlen = msg.len;
    }
    if (run->joblog != NULL || run->o->results != NULL) {
        char        rk[24];
        const char *host;
        long        exitval;

        start = v != NULL && json_is_number(json_object_get(v, "start"))
                    ? json_number_value(json_object_get(v, "start"))
                    : 0;
        secs = v != NULL && json_is_number(json_object_get(v, "seconds"))
                   ? json_number_value(json_object_get(v, "seconds"))
                   : r->seconds;
        if (start == 0) {
            /*
             * Its worker died (or was killed for the timeout) with the times
             * it knew: it ran its timeout, or as long as the server saw it run.
             */
            struct timespec ts;

            clock_gettime(CLOCK_REALTIME, &ts);
            if (timed_out)
                secs = run->o->timeout;
            start = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9 - secs;
        }
        snprintf(rk, sizeof(rk), "%d", r->rank);
        host = json_string_value(json_object_get(run->rank_nodes, rk));
        /* As parallel: killed by a signal is Exitval 0 and the signal; a
         * timeout is -1 and the signal; no result at all (the command never
         * ran, or its worker died) is -1. */
        exitval = sig != 0 && !timed_out            ? 0
                  : status == 0 && r->error != NULL ? 1
                                                    : status;
        /* --results FILE.csv/.tsv/.json: the record, but its output (as is). */
        sl_results_record(run, d, idx, host, start, secs,
                          d->outlen + sl_stream_bytes(v, "stdout"), exitval, sig, cmd.p);
        if (run->joblog != NULL) {
            sl_one_line(cmd.p);
            sl_joblog_line(run, idx, host, start, secs,
                           d->outlen + sl_stream_bytes(v, "stdout"), exitval, sig, cmd.p);
        }
    }
    if (run->o->verbose && !shown)
        d->cmd = sl_strdup(cmd.p);
    d->tag = sl_run_tag(run, idx, r->rank);
    sl_results_name(run, idx, r->rank, d);
    free(cmd.p);
    run->done++;
    if (r->error != NULL && run->failed++ == 0)
        run->fail_status = status > 0 && status < SL_EXIT_ERROR ? (int)status : 1;
    sl_output(run, idx, d);
}

/* The JSON argument list of element idx (its varying slots): any bytes (nws_sleigh_bytes). */
static json_t *
sl_run_args(struct sl_run *run, size_t idx)
{
    json_t *a = json_array(), *s;
    size_t  i;

    if (a == NULL)
        sl_nomem();
    sl_run_fill(run, idx);
    for (i = 0; i < run->t->nslots; i++) {
        if (run->t->slots[i].fixed)
            continue;
        if ((s = nws_sleigh_bytes(run->texts[i], run->slot_bufs[i].len)) == NULL ||
            json_array_append_new(a, s) != 0)
            sl_nomem();
    }
    if (run->t->stdin_arg > 0 &&
        json_array_append_new(a, sl_pipe_arg(run->pipe, idx)) != 0)
        sl_nomem();
    return a;
}

/* Notes element idx for the next round. */
static void
sl_run_retry_later(struct sl_run *run, size_t idx)
{
    if (run->nretry == run->cap_retry) {
        run->cap_retry = run->cap_retry != 0 ? run->cap_retry * 2 : 16;
        run->retry = sl_reallocarray(run->retry, run->cap_retry, sizeof(*run->retry));
    }
    run->retry[run->nretry++] = idx;
}

/*
 * Says why talking to the server failed (what: during what).  libnws has
 * already tried to get the server back for --reconnect seconds (resuming
 * our session, re-sending what was in flight); past that the run cannot go
 * on, and the user should know it was the server, not the jobs.
 */
static void
sl_run_lost(struct sl_run *run, const char *what, const nws_error *err)
{
    sl_progress_clear(run);
    if (err->code == NWS_ERR_CLOSED && strstr(err->text, "unreachable") != NULL) {
        run->server_gone = 1;
        sl_warnx("%s: %s: giving up (--reconnect); stopping the workers, the inputs not "
                 "printed did not finish",
                 what, err->text);
        return;
    }
    sl_warnx("%s: %s", what, err->text[0] ? err->text : nws_errcode_str(err->code));
}

/*
 * Looks at the workers after a quiet spell.  Returns 0 while there are
 * some, -1 when none is left (message printed).
 */
static int
sl_run_health(struct sl_run *run)
{
    nws_sleigh_info info;
    nws_error       err;

    if (nws_sleigh_status(run->s, &info, &err) != 0) {
        sl_run_lost(run, "lost the server", &err);
        return -1;
    }
    if (info.workers == 0 && info.running == 0) {
        sl_progress_clear(run);
        sl_warnx("no workers left (--worker-log shows why)");
        return -1;
    }
    return 0;
}

/*
 * One round: elements list[0..n-1] (list NULL: round 0, every input as it
 * comes), attempt number attempt (1 for the first).  Failures that may be
 * retried go to run->retry.  0, or -1 (message printed, or interrupted).
 *
 * pushed counts the elements taken from the round's list; map[0..nmap-1]
 * maps batch indexes to elements for those submitted, so nmap - collected
 * is what the workers still owe.
 */
static int
sl_run_round(struct sl_run *run, const size_t *list, size_t n, long attempt)
{
    nws_sleigh_elem_opts eo;
    nws_sleigh_pending  *p;
    nws_sleigh_result    r;
    nws_error            err;
    size_t              *map = NULL, nmap = 0, capmap = 0, pushed = 0, collected = 0, idx;
    size_t               window;
    double               quiet_since = nwsp_mono();
    int                  ended = 0, rc = -1, more, got, streamed, shown, sfd[2];
    long                 pace_ms = 0, wait_ms;
    json_t              *args;

    memset(&eo, 0, sizeof(eo));
    eo.chunk = (size_t)run->o->chunk;
    eo.flags = NWS_SLEIGH_DISCARD;
    eo.halt = run->o->halt;
    if (eo.halt.when != NWS_SLEIGH_HALT_NEVER)
        eo.load_factor = 1; /* soon: only what runs finishes, as in GNU parallel */
    /* Enough queued to keep every worker busy, not the whole input at once. */
    window = (size_t)run->workers * eo.chunk * 4 + eo.chunk;
    if (window < 64)
        window = 64;
    if (run->xfer != NULL) /* a queued input holds its files on the server: fewer */
        window = (size_t)run->workers * eo.chunk * 2;
    if (run->pipe != NULL) /* blocks wait on the server: a few per worker */
        window = (size_t)run->workers * 2 + 1;
    p = nws_sleigh_each_elem_async(run->s, run->task, NULL, run->fixed, &eo, &err);
    if (p == NULL) {
        sl_run_lost(run, "cannot start the batch", &err);
        return -1;
    }
    for (;;) {
        if (sl_interrupted || run->broken)
            goto out;
        /* --line-buffer, -u: what the running jobs printed so far. */
        if ((streamed = sl_stream_poll(run, map, nmap)) < 0)
            goto out;
        /* Feed: push what input there is, up to the window. */
        pace_ms = 0;
        for (;;) {
            if (list == NULL && run->pipe != NULL && !run->in->eof && !ended &&
                pushed == run->in->total && nmap - collected < window && !run->halted) {
                /* --pipe: the next block goes to the server before its element. */
                got = sl_pipe_read(run->pipe);
                if (got < 0)
                    goto out;
                if (got == 0)
                    run->in->eof = 1;
                else if (sl_pipe_store(run->pipe, run->pipe_ws, run->in->total) != 0)
                    goto out;
                else
                    run->in->total++;
            }
            more = list != NULL ? pushed < n : pushed < run->in->total;
            if (ended || !more || nmap - collected >= window || run->halted)
                break;
            idx = list != NULL ? list[pushed] : pushed;
            if (list == NULL && sl_resume_skip(run, idx)) {
                pushed++; /* --resume: done in an earlier run */
                run->skipped++;
                continue;
            }
            /* Paced starts: only to a free worker (a task pushed is a task
             * started), and when pace.c says. */
            if (sl_pace_active(run) &&
                (nmap - collected >= (size_t)run->workers * eo.chunk ||
                 (pace_ms = sl_pace_wait_ms(run)) > 0))
                break;
            pushed++;
            sl_pace_started(run);
            args = sl_run_args(run, idx);
            if (sl_xfer_args(run, idx, attempt, args) != 0) { /* its files first */
                json_decref(args);
                goto out;
            }
            if (nmap == capmap) {
                capmap = capmap != 0 ? capmap * 2 : 256;
                map = sl_reallocarray(map, capmap, sizeof(*map));
            }
            map[nmap++] = idx;
            got = nws_sleigh_pending_push(p, args, &err);
            json_decref(args);
            if (got != 0) {
                sl_run_lost(run, "submitting", &err);
                goto out;
            }
        }
        if (list != NULL)
            more = pushed < n;
        else
            more = pushed < run->in->total || (run->in->streaming && !run->in->eof);
        if (!ended && !more) {
            if (nws_sleigh_pending_end(p, &err) != 0) {
                sl_run_lost(run, "submitting", &err);
                goto out;
            }
            ended = 1;
        }
        /* Collect. */
        wait_ms = ended || !run->in->streaming || run->in->eof ? SL_IDLE_MS : SL_POLL_MS;
        if (pace_ms > 0 && pace_ms < wait_ms)
            wait_ms = pace_ms; /* the next start is due sooner */
        if (run->stream != NULL && nmap > collected)
            wait_ms = sl_stream_wait_ms(run, streamed); /* look for output again soon */
        got = nws_sleigh_pending_next(p, &r, (int)wait_ms, &err);
        if (got == 0)
            break;
        if (got < 0) {
            sl_run_lost(run, "collecting results", &err);
            goto out;
        }
        if (got == 1) {
            quiet_since = nwsp_mono();
            collected++;
            if (r.index >= nmap) {
                sl_warnx("a result for an element never submitted (%zu)", r.index);
                goto out;
            }
            idx = map[r.index];
            /* Its output printed so far: the rest of it first. */
            shown = sl_stream_result(run, map, nmap, r.index, r.value, &sfd[0], &sfd[1]);
            if (shown < 0)
                goto out;
            sl_xfer_result(run, idx, attempt, &r); /* its files, before its output */
            if (r.error != NULL && strcmp(r.error, NWS_SLEIGH_HALTED) == 0) {
                run->halted = 1; /* not run: neither done nor failed */
                run->not_run++;
            } else if (r.error != NULL && attempt <= run->o->retries) {
                sl_stream_drop(run, r.value); /* this attempt's output is not shown */
                sl_run_retry_later(run, idx);
            } else {
                sl_finish(run, idx, &r, shown, sfd);
                sfd[0] = sfd[1] = -1;
                if (run->pipe != NULL && run->pipe->path == NULL) {
                    /* Its block is not needed any more (a retry would have used it). */
                    char      var[64];
                    nws_error derr;

                    sl_pipe_var(idx, var, sizeof(var));
                    nws_delete_var(run->pipe_ws, var, &derr);
                }
            }
            if (sfd[0] >= 0) /* held output of an attempt not shown */
                close(sfd[0]);
            if (sfd[1] >= 0)
                close(sfd[1]);
        } else {
            if (pace_ms > 0 && nmap == collected)
                nwsp_sleep_ms(
                    pace_ms); /* nothing out to wait for: until the next start */
            /* Nothing came: wait a little for stdin instead. */
            if (list == NULL && run->in->streaming && !run->in->eof &&
                run->in->total - pushed < SL_READ_AHEAD)
                sl_input_fill(run->in, SL_POLL_MS);
            /* Tasks out but no result for a while: are there workers at all? */
            if (nmap == collected) {
                quiet_since = nwsp_mono();
            } else if (nwsp_mono() - quiet_since > SL_HEALTH_S) {
                if (sl_run_health(run) != 0)
                    goto out;
                quiet_since = nwsp_mono();
            }
        }
        /* Read what stdin has without waiting, within the read-ahead. */
        while (list == NULL && run->in->streaming && !run->in->eof &&
               run->in->total - pushed < SL_READ_AHEAD) {
            idx = run->in->total;
            sl_input_fill(run->in, 0);
            if (run->in->total == idx)
                break;
        }
        run->running_est = nmap - collected < (size_t)run->workers ? nmap - collected
                                                                   : (size_t)run->workers;
        sl_progress_draw(run, 0);
    }
    rc = 0;
    if (run->halted) /* inputs never pushed are not run either */
        run->not_run += list != NULL ? n - pushed : run->in->total - pushed;
out:
    sl_stream_round_end(run);
    nws_sleigh_pending_free(p);
    free(map);
    return rc;
}

/* Installs the signal handlers of a run (no SA_RESTART: waits end early). */
void
sl_signals(void)
{
    struct sigaction sa;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = sl_on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, NULL);
}

/*
 * Runs every element over the sleigh, in rounds while there are failures
 * to retry.  0, or -1 (a failure of sleigh itself).
 */
int
sl_run_all(struct sl_run *run)
{
    size_t *list = NULL, n = 0;
    long    attempt;
    int     rc = 0;

    for (attempt = 1; rc == 0; attempt++) {
        rc = sl_run_round(run, list, n, attempt);
        free(list);
        list = run->retry;
        n = run->nretry;
        run->retry = NULL;
        run->nretry = run->cap_retry = 0;
        if (run->halted)
            run->not_run += n; /* failed once, not retried after a halt */
        if (n == 0 || run->halted)
            break;
    }
    free(list);
    if (run->halted) {
        sl_progress_clear(run);
        sl_warnx("--halt %s: stopped after %zu failed of %zu run; %zu input%s not run",
                 run->o->halt_spec, run->failed, run->done, run->not_run,
                 run->not_run == 1 ? "" : "s");
    }
    /* What -k still holds can only be there after a failure: print it anyway. */
    while (run->o->keep_order && run->next_print < run->nheld) {
        if (run->held[run->next_print] != NULL)
            sl_print(run, run->held[run->next_print]);
        run->held[run->next_print++] = NULL;
    }
    free(run->held);
    if (run->progress || run->o->eta) {
        run->running_est = 0;
        if (rc == 0 && !sl_interrupted)
            sl_progress_draw(run, 1);
        if (run->o->eta && !run->progress && run->bar_shown) {
            /* As parallel: the last --eta line stays. */
            fputs("\n", stderr);
            run->bar_shown = 0;
        }
        sl_progress_clear(run);
    }
    if (sl_interrupted) {
        sl_warnx("interrupted");
        return -1;
    }
    return rc;
}

/* --dry-run: prints each element's command line. */
int
sl_dry_run(struct sl_run *run)
{
    struct sl_buf cmd = {0};
    size_t        idx;

    for (idx = 0;; idx++) {
        if (run->pipe != NULL) {
            /* --pipe: a command per block, the blocks read and dropped. */
            if (sl_pipe_read(run->pipe) <= 0)
                break;
            sl_pipe_skip(run->pipe);
            run->in->total = idx + 1;
        }
        while (run->in->streaming && !run->in->eof && idx >= run->in->total)
            sl_input_fill(run->in, -1);
        if (idx >= run->in->total)
            break;
        sl_run_fill(run, idx);
        sl_tmpl_display(run->t, run->texts, -1, &cmd);
        if (sl_write_all(1, cmd.p, cmd.len) != 0 || sl_write_all(1, "\n", 1) != 0)
            break;
    }
    free(cmd.p);
    return 0;
}
