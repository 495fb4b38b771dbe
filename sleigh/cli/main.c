/*
 * main.c -- the sleigh command: run a command over many inputs on the
 * workers of a Sleigh, the way GNU parallel users expect.
 *
 *   sleigh [OPTIONS] [--] COMMAND [ARG...] [::: INPUT...] [:::+ INPUT...]
 *          [:::: FILE...] ...
 *
 * The parts, in the order a run uses them, each a file of sleigh/cli/ (sl.h
 * declares what they share; util.c has the small helpers):
 *
 *  - options (struct sl_opts, opts.c), parsed with getopt_long up to the
 *    command;
 *  - input sources (struct sl_src, input.c): each `:::` list or `::::`
 *    file is one source, `:::+`/`::::+` link a source to the one before
 *    it; several unlinked sources give their cartesian product, the last
 *    varying fastest, and linked ones go together (stopping at the shorter;
 *    --link: all go together, the shorter wrapping).  -N, -X/-m, --colsep,
 *    --header shape elements out of these (input.c); --pipe cuts stdin
 *    into blocks instead (pipe.c).
 *    With no source, stdin lines are the one source, read while the run
 *    goes;
 *  - the command template (struct sl_tmpl, tmpl.c): the command words
 *    compiled into output words made of slots (text that one element
 *    fills in) and rank markers ({%}, known only on the worker);
 *  - the server (server.c): --server, else $NWS_HOST/$NWS_PORT or
 *    localhost:8765 if something answers there, else a private nwsserver
 *    started for the run on a free loopback port and stopped after it;
 *  - the nodes (nodes.c; -S, --nodefile, else a batch scheduler's
 *    allocation): with some, the workers run there, started over ssh (or
 *    srun), and reach the server through the ssh connections unless
 *    --remote-server says where they find it (sleigh/nodes.c has the list
 *    syntax);
 *  - the run (struct sl_run, run.c): one streaming batch per round; round
 *    0 runs every element, later rounds the elements that failed and may
 *    be retried.  Results are printed as they arrive, or in input order
 *    with -k, each element's stdout then stderr in one piece (output.c).
 *
 * Placeholders are filled here, in the master, not by the worker: the
 * task's argv is "{1}" "{2}" ... naming per-element slot texts (and fixed
 * arguments for words that never change), so what the joblog, -v and
 * --dry-run show is exactly what runs, and {#} stays the input number in
 * retry rounds.  Only {%} is left to the worker, which knows its rank.
 *
 * A command runs without a shell when none of its words has shell syntax
 * in it (or with -q); otherwise its words are joined with spaces, each
 * input single-quoted, and run with /bin/sh -c, as GNU parallel does.
 *
 * Exit status: the number of elements that failed (capped at 101), or 255
 * when sleigh itself fails (bad usage, no server, no workers).  Nothing
 * outlives sleigh: the private server and the workers get SIGKILL when it
 * dies (PR_SET_PDEATHSIG), and the sleigh workspace goes with its
 * connection.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../nodes.h"
#include "nws.h"
#include "nws_sleigh.h"
#include "sl.h"
#include "util.h"
int
main(int argc, char **argv)
{
    struct sl_opts     o;
    struct sl_input    in;
    struct sl_tmpl     t;
    struct sl_server   sv;
    struct sl_run      run;
    struct sl_pipe     pipe;
    nws_sleigh_options so;
    nws_error          err;
    struct nwsp_nodes  nl;
    char              *nodestr = NULL, rhost[256];
    const char        *nodev[2] = {NULL, NULL}, *envv[2] = {NULL, NULL};
    char               reconnect_env[64];
    int                first, ncmd, rc, i, remote, rport = 0, direct;
    long               local_slots, n;
    size_t             s;

    memset(&o, 0, sizeof(o));
    o.delim = '\n';
    o.chunk = 1;
    o.max_output = -1;
    o.max_args = -1;
    if ((rc = sl_parse_opts(argc, argv, &o, &first)) >= 0)
        return rc;
    /*
     * --reconnect: libnws reads $NWS_RECONNECT at every connect, ours and
     * those of the local workers we start (they inherit it); remote
     * workers get it through the launcher's environment below.
     */
    if (o.reconnect != NULL) {
        snprintf(reconnect_env, sizeof(reconnect_env), "NWS_RECONNECT=%s", o.reconnect);
        setenv("NWS_RECONNECT", o.reconnect, 1);
    }
    memset(&run, 0, sizeof(run));
    run.o = &o;
    nwsp_nodes_init(&nl);
    if (sl_nodes_plan(&o, &nl, &remote, &local_slots) != 0) {
        nwsp_nodes_free(&nl);
        return SL_EXIT_ERROR;
    }
    if (o.remote_server != NULL &&
        (!remote || sl_remote_server(o.remote_server, rhost, sizeof(rhost), &rport) != 0)) {
        sl_warnx(remote ? "--remote-server: want HOST[:PORT]: %s"
                        : "--remote-server %s: only with workers on other hosts",
                 o.remote_server);
        nwsp_nodes_free(&nl);
        return SL_EXIT_ERROR;
    }
    if (remote) {
        /* -j N: N workers in all, over the nodes by turns. */
        if (o.jobs != NULL) {
            if (sl_parse_count(o.jobs, 100000, &n) != 0 || n < 1) {
                sl_warnx("-j: with nodes, give the number of workers in all: %s", o.jobs);
                nwsp_nodes_free(&nl);
                return SL_EXIT_ERROR;
            }
            nwsp_nodes_spread(&nl, n);
        }
        run.workers = nwsp_nodes_total(&nl);
    } else if (local_slots > 0 && o.jobs == NULL) {
        run.workers = local_slots; /* the allocation's count for this machine */
    } else if ((run.workers = sl_jobs(o.jobs)) < 0) {
        nwsp_nodes_free(&nl);
        return SL_EXIT_ERROR;
    }
    if (sl_input_parse(&in, &o, argc, argv, first, &ncmd) != 0 ||
        sl_input_shape(&in, &o) != 0 || sl_input_plan(&in) != 0) {
        sl_input_free(&in);
        nwsp_nodes_free(&nl);
        return SL_EXIT_ERROR;
    }
    sl_tmpl_set_names(in.names, in.nnames);
    for (i = first; i < first + ncmd && !sl_input_vmode(&in); i++) {
        /* "{3}" with two sources stays text, but it is more likely a mistake. */
        struct sl_seg seg;
        const char   *p;

        for (p = argv[i]; (p = strchr(p, '{')) != NULL; p++)
            if (p[1] >= '1' && p[1] <= '9' && sl_placeholder(p, SIZE_MAX, &seg) != 0 &&
                sl_placeholder(p, in.nsrc, &seg) == 0)
                sl_warnx("warning: %.*s: there %s only %zu input source%s",
                         (int)(strchr(p, '}') - p + 1), p, in.nsrc == 1 ? "is" : "are",
                         in.nsrc, in.nsrc == 1 ? "" : "s");
    }
    sl_tmpl_compile(&t, argv + first, (size_t)ncmd, sl_input_tmpl_nsrc(&in), o.shell,
                    o.xmode == SL_X_CONTEXT ? SL_V_CONTEXT
                    : sl_input_vmode(&in)   ? SL_V_ANY
                                            : SL_V_FIXED);
    if (o.max_chars > SL_MAX_CHARS_DEFAULT) {
        sl_warnx("warning: -s %ld: at most %d, as GNU parallel", o.max_chars,
                 SL_MAX_CHARS_DEFAULT);
        o.max_chars = SL_MAX_CHARS_DEFAULT;
    }
    sl_input_pack(&in, &t, run.workers,
                  o.max_chars > 0 ? (size_t)o.max_chars : SL_MAX_CHARS_DEFAULT);
    run.in = &in;
    run.t = &t;
    run.slot_bufs = sl_reallocarray(NULL, t.nslots + 1, sizeof(*run.slot_bufs));
    memset(run.slot_bufs, 0, (t.nslots + 1) * sizeof(*run.slot_bufs));
    run.texts = sl_reallocarray(NULL, t.nslots + 1, sizeof(*run.texts));
    if (in.piped) {
        if (ncmd == 0) {
            sl_warnx("--pipe: give a command");
            rc = SL_EXIT_ERROR;
            goto done_input;
        }
        if (sl_pipe_open(&pipe, &o, run.workers) != 0) {
            sl_pipe_close(&pipe); /* what it made before it refused */
            rc = SL_EXIT_ERROR;
            goto done_input;
        }
        sl_tmpl_pipe(&t);
        run.pipe = &pipe;
        if (pipe.part && !remote && sl_pipe_inplace(&pipe, o.arg_files[0]) != 0) {
            rc = SL_EXIT_ERROR;
            goto done_input;
        }
    }
    sl_signals();
    if (in.streaming && isatty(0))
        sl_warnx("reading inputs from the terminal, one per line (end with Ctrl-D)");

    if (o.dry_run) {
        rc = sl_dry_run(&run);
        goto done_input;
    }
    sl_read_ahead(&in, run.workers);
    if (in.piped) {
        /* Empty input: nothing to run, as GNU parallel. */
        if ((rc = sl_pipe_read(&pipe)) < 0) {
            rc = SL_EXIT_ERROR;
            goto done_input;
        }
        in.eof = rc == 0;
    }
    if (sl_interrupted) {
        rc = SL_EXIT_ERROR;
        goto done_input;
    }
    if (in.total == 0 && (!in.streaming || in.eof)) {
        rc = 0; /* nothing to run */
        goto done_input;
    }
    if ((!in.streaming || in.eof) && in.total < (size_t)run.workers) {
        run.workers = (long)in.total;
        if (remote)
            nwsp_nodes_spread(&nl, run.workers);
    }
    if (sl_pace_setup(&run) != 0 || sl_results_setup(&run) != 0 ||
        sl_joblog_open(&run) != 0) {
        rc = SL_EXIT_ERROR;
        goto done_input;
    }
    run.tty = isatty(2);
    run.progress =
        o.progress == SL_PROGRESS_ON || (o.progress == SL_PROGRESS_AUTO && run.tty);

    /*
     * Workers that reach the server directly (--remote-server, and srun's
     * always do) need a private server listening where they find it: the
     * address given, else for srun this node's address as Slurm knows it.
     */
    direct = remote && o.remote_server != NULL;
    if (remote && !direct && o.server == NULL && o.launcher != NULL &&
        strcmp(o.launcher, "srun") == 0) {
        if (sl_node_address(rhost, sizeof(rhost)) != 0) {
            sl_warnx("--launcher srun: the workers connect to the server directly, and "
                     "this machine's address for them is unknown: give --remote-server "
                     "ADDRESS");
            rc = SL_EXIT_ERROR;
            goto done_joblog;
        }
        direct = 1;
        if (o.worker_log)
            sl_warnx("the srun workers reach the server at %s", rhost);
    }
    if (sl_server_find(&sv, &o, direct ? rhost : NULL, rport) != 0) {
        rc = SL_EXIT_ERROR;
        goto done_joblog;
    }
    if (direct && sv.pid > 0)
        rport = sv.port; /* the private server, on the address the nodes reach */
    else if (direct && o.remote_server == NULL)
        direct = 0; /* a server already there: srun's workers use its address */
    nws_sleigh_options_init(&so);
    so.host = sv.host;
    so.port = sv.port;
    so.workers = (int)run.workers;
    so.verbose = o.worker_log;
    if (o.reconnect != NULL) {
        envv[0] = reconnect_env;
        so.env = envv;
    }
    if (remote) {
        if ((nodestr = nwsp_nodes_format(&nl)) == NULL)
            sl_nomem();
        nodev[0] = nodestr;
        so.nodes = nodev;
        so.launcher = o.launcher != NULL ? o.launcher : "ssh";
        so.workers = -1; /* the list has the counts */
        so.worker_path = o.worker;
        so.ssh_user = o.ssh_user;
        so.ssh_port = (int)o.ssh_port;
        so.ssh_config = o.ssh_config;
        so.ssh_identity = o.ssh_identity;
        so.known_hosts = o.known_hosts;
        so.connect_timeout = o.ssh_timeout;
        if (direct) {
            so.remote_host = rhost;
            so.remote_port = rport;
        }
        so.flags |= (o.accept_new ? NWS_SLEIGH_ACCEPT_NEW_HOSTKEYS : 0) |
                    (o.partial ? NWS_SLEIGH_PARTIAL : 0);
    }
    run.s = nws_sleigh_new(&so, &err);
    if (run.s == NULL) {
        if (sl_interrupted)
            sl_warnx("interrupted");
        else
            sl_warnx("cannot start the sleigh on %s:%d: %s%s", sv.host, sv.port,
                     err.text[0] ? err.text : nws_errcode_str(err.code),
                     o.worker_log || strncmp(err.text, "node ", 5) == 0
                         ? "" /* a node's error says it all */
                         : " [--worker-log shows the workers' messages]");
        rc = SL_EXIT_ERROR;
        goto done_server;
    }
    run.started = nwsp_mono();
    if (in.piped && ((run.pipe_c = nws_connect(sv.host, sv.port, 0, &err)) == NULL ||
                     (run.pipe_ws = nws_ws_use(run.pipe_c, nws_sleigh_ws_name(run.s),
                                               NWS_WS_NOCREATE, &err)) == NULL)) {
        sl_warnx("--pipe: a connection for the blocks: %s",
                 err.text[0] ? err.text : nws_errcode_str(err.code));
        rc = SL_EXIT_ERROR;
        goto done_sleigh;
    }
    if (remote)
        run.rank_nodes = sl_rank_nodes(run.s);
    if ((run.task = sl_tmpl_task(&t, &o, &run.fixed)) == NULL ||
        sl_xfer_init(&run) != 0 || sl_stream_setup(&run) != 0 || sl_run_all(&run) != 0)
        rc = SL_EXIT_ERROR;
    else if (run.broken)
        rc = SL_EXIT_ERROR;
    else if (run.halted && o.halt.what == NWS_SLEIGH_HALT_FAIL && !o.halt.percent &&
             o.halt.count == 1)
        rc = run.fail_status; /* as GNU parallel: the failed input's own status */
    else if (o.halt.when != NWS_SLEIGH_HALT_NEVER && o.halt.what == NWS_SLEIGH_HALT_FAIL &&
             o.halt.percent) /* as GNU parallel: the percentage that failed, rounded up */
        rc = (int)((run.failed * 100 + (in.total > 0 ? in.total : 1) - 1) /
                   (in.total > 0 ? in.total : 1));
    else
        rc = run.failed > SL_EXIT_MAX_FAILED ? SL_EXIT_MAX_FAILED : (int)run.failed;
    if (sl_xfer_end(&run) != 0 && rc == 0)
        rc = SL_EXIT_ERROR;
    sl_stream_free(&run);
    json_decref(run.task);
    json_decref(run.fixed);
    json_decref(run.rank_nodes);
done_sleigh:
    nws_ws_free(run.pipe_ws);
    nws_close(run.pipe_c);
    /* Stopping talks to the server first: it is gone, do not wait for it again. */
    if (run.server_gone)
        nws_set_reconnect(nws_ws_client(nws_sleigh_ws(run.s)), 0, &err);
    if (nws_sleigh_stop(run.s, &err) != 0 && rc != SL_EXIT_ERROR && !sl_interrupted)
        sl_warnx("stopping the sleigh: %s",
                 err.text[0] ? err.text : nws_errcode_str(err.code));
    nws_sleigh_free(run.s);
done_server:
    sl_server_stop(&sv);
done_joblog:
    if (run.joblog != NULL && fclose(run.joblog) != 0) {
        sl_warnx("%s: %s", o.joblog, strerror(errno));
        rc = SL_EXIT_ERROR;
    }
done_input:
    sl_results_free(&run);
    for (s = 0; s < t.nslots; s++)
        free(run.slot_bufs[s].p);
    free(run.slot_bufs);
    free(run.texts);
    sl_tmpl_free(&t);
    sl_input_free(&in);
    if (run.pipe != NULL)
        sl_pipe_close(&pipe);
    nwsp_nodes_free(&nl);
    free(nodestr);
    return rc;
}
