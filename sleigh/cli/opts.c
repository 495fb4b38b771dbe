/*
 * opts.c -- the sleigh command's options: the usage text, getopt_long up to
 * the command, and -j's worker count.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sl.h"
#include "util.h"

static int sl_opt_pout(int ch, const char *arg, struct sl_opts *o);

/* The usage text; to stdout for --help, stderr for mistakes. */
static void
sl_usage(FILE *fp)
{
    static const char text[] =
        "usage: sleigh [OPTIONS] [--] COMMAND [ARG...] [::: INPUT...] [:::: FILE...]\n"
        "Runs COMMAND once per input on parallel workers, as GNU parallel does.\n"
        "\n"
        "Each ::: list or :::: file (of lines) is an input source; several give\n"
        "their cartesian product; :::+ and ::::+ link a source to the previous\n"
        "one.  Without any, the lines of stdin are the inputs.\n"
        "Placeholders: {} the input, {1} {2} ... the input of each source, {.}\n"
        "without extension, {/} basename, {//} dirname, {/.} basename without\n"
        "extension (also {1.} {1/} ...), {#} the input number, {%} the worker\n"
        "rank + 1.  Without any, the inputs are appended to the command.\n"
        "\n"
        "  -j, --jobs N          workers: N, +N or -N (more or fewer than the\n"
        "                        cores), N% of the cores (default: one per core)\n"
        "  -k, --keep-order      print the results in input order\n"
        "  -j 0                  as many workers as the machine allows\n"
        "      --delay SECS      wait SECS between two job starts (s m h d)\n"
        "      --load MAX        start no job while MAX (as -j) processes run\n"
        "      --memfree SIZE    start no job while less memory is free\n"
        "      --results DIR     output in DIR/1/ARG/stdout, stderr, seq (or a\n"
        "                        name with placeholders), not on stdout\n"
        "      --files           print the name of a file with each job's stdout\n"
        "      --tagstring STR   prefix output lines with STR (placeholders) and a tab\n"
        "      --group           a job's output whole when it ends (default)\n"
        "      --line-buffer, --lb  a job's output line by line while it runs\n"
        "      -u, --ungroup     a job's output as it comes while it runs\n"
        "      --eta             the estimated time left, on a line of its own\n"
        "      --resume, --resume-failed  skip the inputs the joblog has (that\n"
        "                        succeeded), as GNU parallel\n"
        "      --progress, --bar a progress bar with ETA on stderr (default: if\n"
        "                        stderr is a terminal); --no-progress: never\n"
        "      --joblog [+]FILE  one line per input, as GNU parallel: seq, host,\n"
        "                        start, runtime, exit status, signal, command\n"
        "      --retries N       run a failing input up to N more times\n"
        "      --chunk N         inputs per task (default 1)\n"
        "      --timeout SECS    kill a command running longer (its worker too if\n"
        "                        it hangs); the input fails (Exitval -1)\n"
        "      --halt WHEN,WHY   stop early: now|soon,fail|success|done=N[%]\n"
        "      --max-output SIZE cut a job's stdout, and its stderr, at SIZE\n"
        "                        bytes; the job then fails (default: no limit)\n"
        "      --server HOST:PORT  the nwsserver (default: $NWS_HOST:$NWS_PORT\n"
        "                        if it answers, else a private one)\n"
        "      --reconnect SECS  how long sleigh and its workers try to get a lost\n"
        "                        server back before giving up (default 30, or\n"
        "                        $NWS_RECONNECT; 0: a lost connection ends the run)\n"
        "  -a, --arg-file FILE   an input source read from FILE (as :::: FILE)\n"
        "  -0, --null            inputs are separated by NUL, not newline\n"
        "  -q, --quote           never run the command through a shell\n"
        "      --shell           always run it through /bin/sh -c\n"
        "      --tag             prefix output lines with the input and a tab\n"
        "  -v, --verbose         print each command before its output\n"
        "      --dry-run         print the commands, run nothing\n"
        "      --worker-log      show the workers' own messages on stderr\n"
        "  -S, --nodes LIST      workers on other hosts: [N/][user@]host[:N],...\n"
        "                        (N workers each, default 1; node[01-04] ranges);\n"
        "                        -j N then means N in all.  Without -S and\n"
        "                        --nodefile, a batch allocation's nodes (Slurm,\n"
        "                        PBS, SGE, LSF) are used\n"
        "      --nodefile FILE   the same, a host per line (\"host N\" too)\n"
        "      --launcher NAME   ssh (default with nodes), srun, or local\n"
        "      --remote-server HOST[:PORT]  the nodes reach the server there\n"
        "                        (default: through the ssh connections)\n"
        "      --ssh-user USER, --ssh-port PORT, --ssh-config FILE,\n"
        "      --ssh-identity FILE, --known-hosts FILE  ssh settings\n"
        "      --accept-new-hostkeys  add unknown host keys to known_hosts\n"
        "      --ssh-timeout SECS  for a node to connect and start (30)\n"
        "      --partial         go on with the nodes that started\n"
        "      --worker PATH     nws-worker on the nodes (default: on their PATH)\n"
        "Files to and from the workers, through the server (GNU parallel's):\n"
        "      --transferfile FILE, --tf FILE  send FILE (placeholders filled, e.g.\n"
        "                        {}) to the worker's private directory, where the\n"
        "                        command runs;  --transfer  the same as --tf {}\n"
        "      --return FILE     bring FILE back into this directory after the job\n"
        "      --cleanup         remove sent and returned files on the node\n"
        "      --trc FILE        --transfer --return FILE --cleanup\n"
        "      --basefile FILE, --bf FILE  send FILE once per node for the whole run\n"
        "Input shaping and --pipe (as GNU parallel):\n"
        "      --link            sources go together, the shorter ones wrapping\n"
        "  -C, --colsep REGEX    inputs split into columns {1} {2} ... (POSIX ERE)\n"
        "      --header :        the first input of each source (or its columns)\n"
        "                        names it: {name}; --pipe: before every block\n"
        "  -N N, -n N, -L N      N inputs per command: {1}..{N}, {} all of them\n"
        "  -X, -m                as many inputs per command as fit the command\n"
        "                        line (-X repeats the word around {}); -s N: its\n"
        "                        length (default and most 63664, as parallel)\n"
        "      --pipe            stdin cut into blocks of records, each fed to a\n"
        "                        command's stdin; --block SIZE (1M), --recend STR\n"
        "                        (\\n), --recstart STR, -N RECORDS per block\n"
        "      --pipepart -a FILE  the same, FILE cut in place (no stdin)\n"
        "  -h, --help            this text;  -V, --version  the version\n"
        "\n"
        "Exit status: the number of inputs whose command failed (at most 101),\n"
        "or 255 if sleigh itself failed.\n";

    fputs(text, fp);
}

enum {
    SL_OPT_PROGRESS = 256,
    SL_OPT_NO_PROGRESS,
    /* Jobs and output as GNU parallel (pout). */
    SL_OPT_DELAY,
    SL_OPT_MEMFREE,
    SL_OPT_LOAD,
    SL_OPT_RESULTS,
    SL_OPT_FILES,
    SL_OPT_TAGSTRING,
    SL_OPT_LINE_BUFFER,
    SL_OPT_GROUP,
    SL_OPT_ETA,
    SL_OPT_RESUME,
    SL_OPT_RESUME_FAILED,
    SL_OPT_JOBLOG,
    SL_OPT_RETRIES,
    SL_OPT_CHUNK,
    SL_OPT_TIMEOUT,
    SL_OPT_HALT,
    SL_OPT_MAX_OUTPUT,
    SL_OPT_SERVER,
    SL_OPT_RECONNECT,
    SL_OPT_SHELL,
    SL_OPT_TAG,
    SL_OPT_DRY_RUN,
    SL_OPT_WORKER_LOG,
    SL_OPT_NODEFILE,
    SL_OPT_LAUNCHER,
    SL_OPT_REMOTE_SERVER,
    SL_OPT_SSH_USER,
    SL_OPT_SSH_PORT,
    SL_OPT_SSH_CONFIG,
    SL_OPT_SSH_IDENTITY,
    SL_OPT_KNOWN_HOSTS,
    SL_OPT_ACCEPT_NEW,
    SL_OPT_PARTIAL,
    SL_OPT_SSH_TIMEOUT,
    SL_OPT_WORKER,
    /* Files to and from the workers (transfer.c). */
    SL_OPT_TRANSFERFILE,
    SL_OPT_TRANSFER,
    SL_OPT_RETURN,
    SL_OPT_CLEANUP,
    SL_OPT_TRC,
    SL_OPT_BASEFILE,
    /* Input shaping and --pipe (pin). */
    SL_OPT_LINK,
    SL_OPT_HEADER,
    SL_OPT_PIPE,
    SL_OPT_PIPEPART,
    SL_OPT_BLOCK,
    SL_OPT_RECEND,
    SL_OPT_RECSTART
};

/*
 * A --block size as GNU parallel reads it: a number (fractions too) with
 * k m g t (powers of 1000) or K M G T (powers of 1024).  0, or -1.
 */
static int
sl_parse_block(const char *s, long *out)
{
    static const char sfx[] = "kmgt";
    const char       *p;
    char             *end;
    double            v, mul = 1;

    if (s[0] == '-') {
        /* --pipepart: the file's size / workers / N. */
        if (sl_parse_count(s + 1, 1000000, out) != 0 || *out < 1)
            return -1;
        *out = -*out;
        return 0;
    }
    errno = 0;
    v = strtod(s, &end);
    if (errno != 0 || end == s || !(v > 0))
        return -1;
    if (*end != '\0') {
        if (end[1] != '\0' || (p = strchr(sfx, end[0] | 0x20)) == NULL)
            return -1;
        for (long i = 0; i <= p - sfx; i++)
            mul *= end[0] >= 'a' ? 1000 : 1024;
    }
    v *= mul;
    if (v < 1 || v > (double)((uint64_t)1 << 40))
        return -1;
    *out = (long)v;
    return 0;
}

/*
 * The input shaping and --pipe options (one block, so that other option
 * groups merge apart).  Returns 1 if ch was one of them (0 done, or an
 * exit status in *rc), else 0.
 */
static int
sl_opt_input(int ch, const char *arg, struct sl_opts *o, int *rc)
{
    *rc = -1;
    switch (ch) {
    case SL_OPT_LINK:
        o->link = 1;
        return 1;
    case 'C':
        o->colsep = arg;
        return 1;
    case SL_OPT_HEADER:
        /* ":" the first line, N the first N lines (--pipe); another regex of
         * GNU parallel's is taken as the first line. */
        o->header = 1;
        if (arg[0] >= '1' && arg[0] <= '9' &&
            sl_parse_count(arg, 1000, &o->header_lines) != 0) {
            sl_warnx("--header: want : or a number of lines: %s", arg);
            *rc = SL_EXIT_ERROR;
        }
        return 1;
    case 'N':
    case 'n':
    case 'L':
        if (sl_parse_count(arg, 1000000, &o->max_args) != 0 ||
            (o->max_args < 1 && ch != 'N')) {
            sl_warnx("-%c: want a count from %d to 1000000: %s", ch, ch == 'N' ? 0 : 1,
                     arg);
            *rc = SL_EXIT_ERROR;
        }
        o->lines = ch == 'L';
        return 1;
    case 'X':
        o->xmode = SL_X_CONTEXT;
        return 1;
    case 'm':
        o->xmode = SL_X_MULTI;
        return 1;
    case 's':
        if (sl_parse_count(arg, 100000000, &o->max_chars) != 0 || o->max_chars < 2) {
            sl_warnx("-s: want a command line length: %s", arg);
            *rc = SL_EXIT_ERROR;
        }
        return 1;
    case SL_OPT_PIPE:
        o->pipe = SL_PIPE_STDIN;
        return 1;
    case SL_OPT_PIPEPART:
        o->pipe = SL_PIPE_PART;
        return 1;
    case SL_OPT_BLOCK:
        if (sl_parse_block(arg, &o->block) != 0) {
            sl_warnx("--block: want a size (k m g: 1000s, K M G: 1024s): %s", arg);
            *rc = SL_EXIT_ERROR;
        }
        return 1;
    case SL_OPT_RECEND:
        o->recend = arg;
        return 1;
    case SL_OPT_RECSTART:
        o->recstart = arg;
        return 1;
    default:
        return 0;
    }
}

/*
 * Parses the options; *optind_out gets the index of the command.  Returns
 * -1 to go on, or an exit status (help, version, usage error).
 */
int
sl_parse_opts(int argc, char **argv, struct sl_opts *o, int *optind_out)
{
    static const struct option longopts[] = {
        {"jobs", required_argument, NULL, 'j'},
        {"keep-order", no_argument, NULL, 'k'},
        /* Jobs and output as GNU parallel (pout). */
        {"jl", required_argument, NULL, SL_OPT_JOBLOG},
        {"max-procs", required_argument, NULL, 'j'},
        {"delay", required_argument, NULL, SL_OPT_DELAY},
        {"memfree", required_argument, NULL, SL_OPT_MEMFREE},
        {"load", required_argument, NULL, SL_OPT_LOAD},
        {"results", required_argument, NULL, SL_OPT_RESULTS},
        {"res", required_argument, NULL, SL_OPT_RESULTS},
        {"files", no_argument, NULL, SL_OPT_FILES},
        {"output-as-files", no_argument, NULL, SL_OPT_FILES},
        {"outputasfiles", no_argument, NULL, SL_OPT_FILES},
        {"tagstring", required_argument, NULL, SL_OPT_TAGSTRING},
        {"line-buffer", no_argument, NULL, SL_OPT_LINE_BUFFER},
        {"linebuffer", no_argument, NULL, SL_OPT_LINE_BUFFER},
        {"lb", no_argument, NULL, SL_OPT_LINE_BUFFER},
        {"group", no_argument, NULL, SL_OPT_GROUP},
        {"ungroup", no_argument, NULL, 'u'},
        {"eta", no_argument, NULL, SL_OPT_ETA},
        {"resume", no_argument, NULL, SL_OPT_RESUME},
        {"resume-failed", no_argument, NULL, SL_OPT_RESUME_FAILED},
        {"progress", no_argument, NULL, SL_OPT_PROGRESS},
        {"bar", no_argument, NULL, SL_OPT_PROGRESS},
        {"no-progress", no_argument, NULL, SL_OPT_NO_PROGRESS},
        {"joblog", required_argument, NULL, SL_OPT_JOBLOG},
        {"retries", required_argument, NULL, SL_OPT_RETRIES},
        {"chunk", required_argument, NULL, SL_OPT_CHUNK},
        {"timeout", required_argument, NULL, SL_OPT_TIMEOUT},
        {"halt", required_argument, NULL, SL_OPT_HALT},
        {"halt-on-error", required_argument, NULL, SL_OPT_HALT},
        {"max-output", required_argument, NULL, SL_OPT_MAX_OUTPUT},
        {"server", required_argument, NULL, SL_OPT_SERVER},
        {"reconnect", required_argument, NULL, SL_OPT_RECONNECT},
        {"arg-file", required_argument, NULL, 'a'},
        {"null", no_argument, NULL, '0'},
        {"quote", no_argument, NULL, 'q'},
        {"shell", no_argument, NULL, SL_OPT_SHELL},
        {"tag", no_argument, NULL, SL_OPT_TAG},
        {"verbose", no_argument, NULL, 'v'},
        {"dry-run", no_argument, NULL, SL_OPT_DRY_RUN},
        {"worker-log", no_argument, NULL, SL_OPT_WORKER_LOG},
        {"nodes", required_argument, NULL, 'S'},
        {"sshlogin", required_argument, NULL, 'S'},
        {"nodefile", required_argument, NULL, SL_OPT_NODEFILE},
        {"sshloginfile", required_argument, NULL, SL_OPT_NODEFILE},
        {"launcher", required_argument, NULL, SL_OPT_LAUNCHER},
        {"remote-server", required_argument, NULL, SL_OPT_REMOTE_SERVER},
        {"ssh-user", required_argument, NULL, SL_OPT_SSH_USER},
        {"ssh-port", required_argument, NULL, SL_OPT_SSH_PORT},
        {"ssh-config", required_argument, NULL, SL_OPT_SSH_CONFIG},
        {"ssh-identity", required_argument, NULL, SL_OPT_SSH_IDENTITY},
        {"known-hosts", required_argument, NULL, SL_OPT_KNOWN_HOSTS},
        {"accept-new-hostkeys", no_argument, NULL, SL_OPT_ACCEPT_NEW},
        {"partial", no_argument, NULL, SL_OPT_PARTIAL},
        {"ssh-timeout", required_argument, NULL, SL_OPT_SSH_TIMEOUT},
        {"worker", required_argument, NULL, SL_OPT_WORKER},
        /* Files to and from the workers (transfer.c). */
        {"transferfile", required_argument, NULL, SL_OPT_TRANSFERFILE},
        {"tf", required_argument, NULL, SL_OPT_TRANSFERFILE},
        {"transfer", no_argument, NULL, SL_OPT_TRANSFER},
        {"return", required_argument, NULL, SL_OPT_RETURN},
        {"cleanup", no_argument, NULL, SL_OPT_CLEANUP},
        {"trc", required_argument, NULL, SL_OPT_TRC},
        {"basefile", required_argument, NULL, SL_OPT_BASEFILE},
        {"bf", required_argument, NULL, SL_OPT_BASEFILE},
        {"link", no_argument, NULL, SL_OPT_LINK},
        {"xapply", no_argument, NULL, SL_OPT_LINK},
        {"colsep", required_argument, NULL, 'C'},
        {"header", required_argument, NULL, SL_OPT_HEADER},
        {"max-args", required_argument, NULL, 'n'},
        {"max-replace-args", required_argument, NULL, 'N'},
        {"max-lines", required_argument, NULL, 'L'},
        {"xargs", no_argument, NULL, 'm'},
        {"max-chars", required_argument, NULL, 's'},
        {"pipe", no_argument, NULL, SL_OPT_PIPE},
        {"spreadstdin", no_argument, NULL, SL_OPT_PIPE},
        {"pipepart", no_argument, NULL, SL_OPT_PIPEPART},
        {"pipe-part", no_argument, NULL, SL_OPT_PIPEPART},
        {"block", required_argument, NULL, SL_OPT_BLOCK},
        {"block-size", required_argument, NULL, SL_OPT_BLOCK},
        {"recend", required_argument, NULL, SL_OPT_RECEND},
        {"recstart", required_argument, NULL, SL_OPT_RECSTART},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    char *end;
    int   ch, rc;

    while ((ch = getopt_long(argc, argv, "+j:P:ka:0qvS:hVC:N:n:L:Xms:u", longopts,
                             NULL)) != -1) {
        if (sl_opt_input(ch, optarg, o, &rc)) {
            if (rc >= 0)
                return rc;
            continue;
        }
        switch (ch) {
        case 'j':
        case 'P':
            o->jobs = optarg;
            break;
        case 'k':
            o->keep_order = 1;
            break;
        case SL_OPT_DELAY:
        case SL_OPT_MEMFREE:
        case SL_OPT_LOAD:
        case SL_OPT_RESULTS:
        case SL_OPT_FILES:
        case SL_OPT_TAGSTRING:
        case SL_OPT_LINE_BUFFER:
        case SL_OPT_GROUP:
        case 'u':
        case SL_OPT_ETA:
        case SL_OPT_RESUME:
        case SL_OPT_RESUME_FAILED:
            if (sl_opt_pout(ch, optarg, o) != 0)
                return SL_EXIT_ERROR;
            break;
        case SL_OPT_PROGRESS:
            o->progress = SL_PROGRESS_ON;
            break;
        case SL_OPT_NO_PROGRESS:
            o->progress = SL_PROGRESS_OFF;
            break;
        case SL_OPT_JOBLOG:
            o->joblog = optarg;
            break;
        case SL_OPT_RETRIES:
            if (sl_parse_count(optarg, SL_MAX_RETRIES, &o->retries) != 0) {
                sl_warnx("--retries: want a count from 0 to %d: %s", SL_MAX_RETRIES,
                         optarg);
                return SL_EXIT_ERROR;
            }
            break;
        case SL_OPT_CHUNK:
            if (sl_parse_count(optarg, 1000000, &o->chunk) != 0 || o->chunk < 1) {
                sl_warnx("--chunk: want a count from 1 to 1000000: %s", optarg);
                return SL_EXIT_ERROR;
            }
            break;
        case SL_OPT_HALT: {
            nws_error herr;

            if (nws_sleigh_halt_parse(optarg, &o->halt, &herr) != 0) {
                sl_warnx("--%s", herr.text);
                return SL_EXIT_ERROR;
            }
            o->halt_spec = optarg;
            break;
        }
        case SL_OPT_TIMEOUT:
            errno = 0;
            o->timeout = strtod(optarg, &end);
            if (errno != 0 || end == optarg || *end != '\0' || !(o->timeout > 0) ||
                o->timeout > 1e9) {
                sl_warnx("--timeout: want seconds: %s", optarg);
                return SL_EXIT_ERROR;
            }
            break;
        case SL_OPT_MAX_OUTPUT: {
            uint64_t size;

            if (nwsp_parse_size(optarg, LONG_MAX, &size) != 0) {
                sl_warnx("--max-output: want a size (K, M, G suffixes): %s", optarg);
                return SL_EXIT_ERROR;
            }
            o->max_output = (long)size;
            break;
        }
        case SL_OPT_SERVER:
            o->server = optarg;
            break;
        case SL_OPT_RECONNECT: {
            long secs;

            /* Handed on as text ($NWS_RECONNECT): digits only, so it reads the same. */
            if (sl_parse_count(optarg, 86400, &secs) != 0) {
                sl_warnx("--reconnect: want whole seconds (0: off, at most 86400): %s",
                         optarg);
                return SL_EXIT_ERROR;
            }
            o->reconnect = optarg;
            break;
        }
        case 'a':
            if (o->narg_files == (int)(sizeof(o->arg_files) / sizeof(o->arg_files[0]))) {
                sl_warnx("too many --arg-file options");
                return SL_EXIT_ERROR;
            }
            o->arg_files[o->narg_files++] = optarg;
            break;
        case '0':
            o->delim = '\0';
            break;
        case 'q':
            o->shell = SL_SHELL_NEVER;
            break;
        case SL_OPT_SHELL:
            o->shell = SL_SHELL_ALWAYS;
            break;
        case SL_OPT_TAG:
            o->tag = 1;
            break;
        case 'v':
            o->verbose = 1;
            break;
        case SL_OPT_DRY_RUN:
            o->dry_run = 1;
            break;
        case SL_OPT_WORKER_LOG:
            o->worker_log = 1;
            break;
        case 'S':
            if (o->nnodes == (int)(sizeof(o->nodes) / sizeof(o->nodes[0]))) {
                sl_warnx("too many -S options");
                return SL_EXIT_ERROR;
            }
            o->nodes[o->nnodes++] = optarg;
            break;
        case SL_OPT_NODEFILE:
            if (o->nnodefiles == (int)(sizeof(o->nodefiles) / sizeof(o->nodefiles[0]))) {
                sl_warnx("too many --nodefile options");
                return SL_EXIT_ERROR;
            }
            o->nodefiles[o->nnodefiles++] = optarg;
            break;
        case SL_OPT_LAUNCHER:
            if (strcmp(optarg, "ssh") != 0 && strcmp(optarg, "srun") != 0 &&
                strcmp(optarg, "local") != 0) {
                sl_warnx("--launcher: want ssh, srun or local: %s", optarg);
                return SL_EXIT_ERROR;
            }
            o->launcher = optarg;
            break;
        case SL_OPT_REMOTE_SERVER:
            o->remote_server = optarg;
            break;
        case SL_OPT_SSH_USER:
            o->ssh_user = optarg;
            break;
        case SL_OPT_SSH_PORT:
            if (sl_parse_count(optarg, 65535, &o->ssh_port) != 0 || o->ssh_port < 1) {
                sl_warnx("--ssh-port: want a port: %s", optarg);
                return SL_EXIT_ERROR;
            }
            break;
        case SL_OPT_SSH_CONFIG:
            o->ssh_config = optarg;
            break;
        case SL_OPT_SSH_IDENTITY:
            o->ssh_identity = optarg;
            break;
        case SL_OPT_KNOWN_HOSTS:
            o->known_hosts = optarg;
            break;
        case SL_OPT_ACCEPT_NEW:
            o->accept_new = 1;
            break;
        case SL_OPT_PARTIAL:
            o->partial = 1;
            break;
        case SL_OPT_SSH_TIMEOUT:
            errno = 0;
            o->ssh_timeout = strtod(optarg, &end);
            if (errno != 0 || end == optarg || *end != '\0' || !(o->ssh_timeout > 0) ||
                o->ssh_timeout > 86400) {
                sl_warnx("--ssh-timeout: want seconds: %s", optarg);
                return SL_EXIT_ERROR;
            }
            break;
        case SL_OPT_WORKER:
            o->worker = optarg;
            break;
        /* Files to and from the workers (transfer.c). */
        case SL_OPT_TRANSFERFILE:
        case SL_OPT_TRANSFER:
        case SL_OPT_RETURN:
        case SL_OPT_CLEANUP:
        case SL_OPT_TRC:
        case SL_OPT_BASEFILE:
            if (sl_xfer_opt(o,
                            ch == SL_OPT_TRANSFERFILE ? "transferfile"
                            : ch == SL_OPT_TRANSFER   ? "transfer"
                            : ch == SL_OPT_RETURN     ? "return"
                            : ch == SL_OPT_CLEANUP    ? "cleanup"
                            : ch == SL_OPT_TRC        ? "trc"
                                                      : "basefile",
                            optarg) != 0)
                return SL_EXIT_ERROR;
            break;
        case 'h':
            sl_usage(stdout);
            return 0;
        case 'V':
            printf("sleigh (nws) %s\n", NWS_VERSION);
            return 0;
        default:
            fprintf(stderr, "Try '%s --help'.\n", sl_prog);
            return SL_EXIT_ERROR;
        }
    }
    *optind_out = optind;
    return -1;
}

/*
 * The number of workers -j asks for: N, +N / -N (relative to the cores),
 * N% (of the cores), at least 1.  Returns it, or -1 (message printed).
 */
long
sl_jobs(const char *spec)
{
    long   cores = sysconf(_SC_NPROCESSORS_ONLN), n;
    char   buf[32];
    size_t len;

    if (cores < 1)
        cores = 1;
    if (spec == NULL)
        return cores;
    if (strcmp(spec, "0") == 0)
        return sl_pace_jobs_max(); /* as many as possible, as GNU parallel */
    len = strlen(spec);
    if (len >= sizeof(buf))
        goto bad;
    if (len > 1 && spec[len - 1] == '%') {
        memcpy(buf, spec, len - 1);
        buf[len - 1] = '\0';
        if (sl_parse_count(buf, 100000, &n) != 0)
            goto bad;
        n = cores * n / 100;
    } else if (spec[0] == '+' || spec[0] == '-') {
        if (sl_parse_count(spec + 1, 100000, &n) != 0)
            goto bad;
        n = spec[0] == '+' ? cores + n : cores - n;
    } else if (sl_parse_count(spec, 100000, &n) != 0 || n == 0) {
        goto bad;
    }
    return n < 1 ? 1 : n > 4096 ? 4096 : n;
bad:
    sl_warnx("-j: want N, +N, -N or N%% (N at least 1): %s", spec);
    return -1;
}

/* Jobs and output as GNU parallel (pout): one option; 0, or an exit status. */
static int
sl_opt_pout(int ch, const char *arg, struct sl_opts *o)
{
    double v;

    switch (ch) {
    case SL_OPT_DELAY:
        if (sl_pace_parse_duration(arg, &o->delay) != 0) {
            sl_warnx("--delay: want seconds (s, m, h, d postfixes): %s", arg);
            return SL_EXIT_ERROR;
        }
        return 0;
    case SL_OPT_MEMFREE:
        if (sl_pace_parse_units(arg, &v) != 0 || v >= 1.8e19) {
            sl_warnx("--memfree: want a size (K M G T P, k m g t p): %s", arg);
            return SL_EXIT_ERROR;
        }
        o->memfree = (uint64_t)v;
        return 0;
    case SL_OPT_LOAD:
        o->load = arg;
        return 0;
    case SL_OPT_RESULTS:
        o->results = arg;
        return 0;
    case SL_OPT_FILES:
        o->files = 1;
        return 0;
    case SL_OPT_TAGSTRING:
        o->tagstring = arg;
        return 0;
    case SL_OPT_LINE_BUFFER:
        o->line_buffer = 1;
        o->ungroup = 0;
        return 0;
    case SL_OPT_GROUP:
        o->line_buffer = o->ungroup = 0;
        return 0;
    case 'u':
        o->ungroup = 1;
        o->line_buffer = 0;
        return 0;
    case SL_OPT_ETA:
        o->eta = 1;
        return 0;
    case SL_OPT_RESUME:
        o->resume = 1;
        return 0;
    case SL_OPT_RESUME_FAILED:
        o->resume_failed = 1;
        return 0;
    }
    return SL_EXIT_ERROR;
}
