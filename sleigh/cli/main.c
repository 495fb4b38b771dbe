/*
 * sleigh.c -- the sleigh command: run a command over many inputs on the
 * workers of a Sleigh, the way GNU parallel users expect.
 *
 *   sleigh [OPTIONS] [--] COMMAND [ARG...] [::: INPUT...] [:::+ INPUT...]
 *          [:::: FILE...] ...
 *
 * The parts, in the order a run uses them:
 *
 *  - options (struct sl_opts), parsed with getopt_long up to the command;
 *  - input sources (struct sl_src): each `:::` list or `::::` file is one
 *    source, `:::+`/`::::+` link a source to the one before it; several
 *    unlinked sources give their cartesian product, the last varying
 *    fastest, and linked ones go together (the shorter ones wrap).  With
 *    no source, stdin lines are the one source, read while the run goes;
 *  - the command template (struct sl_tmpl): the command words compiled
 *    into output words made of slots (text that one element fills in) and
 *    rank markers ({%}, known only on the worker);
 *  - the server: --server, else $NWS_HOST/$NWS_PORT or localhost:8765 if
 *    something answers there, else a private nwsserver started for the
 *    run on a free loopback port and stopped after it;
 *  - the nodes (-S, --nodefile, else a batch scheduler's allocation):
 *    with some, the workers run there, started over ssh (or srun), and
 *    reach the server through the ssh connections unless --remote-server
 *    says where they find it (sleigh/nodes.c has the list syntax);
 *  - the run (struct sl_run): one streaming batch per round; round 0 runs
 *    every element, later rounds the elements that failed and may be
 *    retried.  Results are printed as they arrive, or in input order with
 *    -k, each element's stdout then stderr in one piece.
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
#include <fcntl.h>
#include <getopt.h>
#include <jansson.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../nodes.h"
#include "nws.h"
#include "nws_sleigh.h"

#define SL_EXIT_MAX_FAILED 101
#define SL_EXIT_ERROR      255
#define SL_MAX_RETRIES     1000
#define SL_READ_AHEAD      10000 /* stdin lines read beyond those submitted */
#define SL_SERVER_WAIT_MS  10000 /* for the private server's ready line */
#define SL_SERVER_STOP_MS  3000
#define SL_POLL_MS         20  /* a wait while stdin may still bring input */
#define SL_IDLE_MS         250 /* a wait for results when all input is in */
#define SL_HEALTH_S        2.0 /* look at the workers after this long without results */
#define SL_PROGRESS_S      0.2
#define SL_SPILL           65536 /* a job's stream past this travels as a value of its own */

static const char *sl_prog = "sleigh";

/* ---- small helpers ----------------------------------------------------------- */

static void sl_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void sl_nomem(void) __attribute__((noreturn));

/* Prints "sleigh: ..." and a newline to stderr. */
static void
sl_warnx(const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "%s: ", sl_prog);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

/* Out of memory: nothing sensible is left to do (children die with us). */
static void
sl_nomem(void)
{
    sl_warnx("out of memory");
    exit(SL_EXIT_ERROR);
}

/* malloc that dies on failure. */
static void *
sl_malloc(size_t n)
{
    void *p = malloc(n != 0 ? n : 1);

    if (p == NULL)
        sl_nomem();
    return p;
}

/* realloc of an array of n items of size sz, dying on failure or overflow. */
static void *
sl_reallocarray(void *p, size_t n, size_t sz)
{
    if (sz != 0 && n > SIZE_MAX / sz)
        sl_nomem();
    if ((p = realloc(p, n * sz != 0 ? n * sz : 1)) == NULL)
        sl_nomem();
    return p;
}

/* strdup that dies on failure. */
static char *
sl_strdup(const char *s)
{
    char *p = strdup(s);

    if (p == NULL)
        sl_nomem();
    return p;
}

/* Seconds on a monotonic clock. */
static double
sl_mono(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Writes all of buf to fd; 0, or -1 (errno set). */
static int
sl_write_all(int fd, const char *buf, size_t len)
{
    ssize_t n;

    while (len > 0) {
        n = write(fd, buf, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

/* A growable byte string, always NUL-terminated once anything was added. */
struct sl_buf {
    char  *p;
    size_t len, cap;
};

/* Appends n bytes of s. */
static void
sl_buf_add(struct sl_buf *b, const char *s, size_t n)
{
    size_t cap = b->cap != 0 ? b->cap : 64;

    while (cap < b->len + n + 1) {
        if (cap > SIZE_MAX / 2)
            sl_nomem();
        cap *= 2;
    }
    if (cap != b->cap) {
        b->p = sl_reallocarray(b->p, cap, 1);
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

/* Appends the string s. */
static void
sl_buf_adds(struct sl_buf *b, const char *s)
{
    sl_buf_add(b, s, strlen(s));
}

/* Appends n bytes of s single-quoted for /bin/sh ('\'' for a quote). */
static void
sl_buf_add_quoted(struct sl_buf *b, const char *s, size_t n)
{
    size_t i, start = 0;

    sl_buf_add(b, "'", 1);
    for (i = 0; i < n; i++) {
        if (s[i] == '\'') {
            sl_buf_add(b, s + start, i - start);
            sl_buf_add(b, "'\\''", 4);
            start = i + 1;
        }
    }
    sl_buf_add(b, s + start, n - start);
    sl_buf_add(b, "'", 1);
}

/* Returns 1 if n bytes of s are one shell word as they are (nothing to quote). */
static int
sl_shell_safe(const char *s, size_t n)
{
    static const char safe[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                               "0123456789_@%+:,./-";
    size_t            i;

    if (n == 0)
        return 0;
    for (i = 0; i < n; i++)
        if (s[i] == '\0' || strchr(safe, s[i]) == NULL)
            return 0;
    return 1;
}

/* Appends s, quoted for the shell only if it needs it (for display). */
static void
sl_buf_add_word(struct sl_buf *b, const char *s, size_t n)
{
    if (sl_shell_safe(s, n))
        sl_buf_add(b, s, n);
    else
        sl_buf_add_quoted(b, s, n);
}

/*
 * Parses a count: decimal digits only, at most max.  Returns 0 and *out,
 * or -1.
 */
static int
sl_parse_count(const char *s, long max, long *out)
{
    char *end;
    long  v;

    if (*s < '0' || *s > '9')
        return -1;
    errno = 0;
    v = strtol(s, &end, 10);
    if (errno != 0 || *end != '\0' || v > max)
        return -1;
    *out = v;
    return 0;
}

/* Parses a size with an optional K, M or G suffix (powers of 1024); 0, or -1. */
static int
sl_parse_size(const char *s, long *out)
{
    char         *end;
    unsigned long v;
    int           shift = 0;

    if (*s < '0' || *s > '9')
        return -1;
    errno = 0;
    v = strtoul(s, &end, 10);
    if (errno != 0)
        return -1;
    if (*end == 'k' || *end == 'K')
        shift = 10;
    else if (*end == 'm' || *end == 'M')
        shift = 20;
    else if (*end == 'g' || *end == 'G')
        shift = 30;
    if (shift != 0)
        end++;
    if (*end != '\0' || v > (unsigned long)(LONG_MAX >> shift))
        return -1;
    *out = (long)(v << shift);
    return 0;
}

/* ---- options ----------------------------------------------------------------- */

enum sl_shell_mode { SL_SHELL_AUTO, SL_SHELL_NEVER, SL_SHELL_ALWAYS };
enum sl_progress_mode { SL_PROGRESS_AUTO, SL_PROGRESS_ON, SL_PROGRESS_OFF };

struct sl_opts {
    const char *jobs; /* -j as given; NULL: one per core */
    int         keep_order;
    int         progress; /* enum sl_progress_mode */
    const char *joblog;
    long        retries;
    long        chunk;
    double      timeout; /* seconds per command; 0: none */
    const char *halt_spec; /* --halt as given */
    nws_sleigh_halt halt;
    long        max_output;
    const char *server; /* HOST:PORT */
    char        delim;  /* '\n', or '\0' with -0 */
    int         shell;  /* enum sl_shell_mode */
    int         tag;
    int         verbose; /* print each command before its output */
    int         dry_run;
    int         worker_log;
    /* Workers on other machines. */
    const char *nodes[64];      /* -S lists */
    int         nnodes;
    const char *nodefiles[16];  /* --nodefile */
    int         nnodefiles;
    const char *launcher;       /* --launcher */
    const char *remote_server;  /* --remote-server HOST[:PORT] */
    const char *ssh_user;
    long        ssh_port;
    const char *ssh_config;
    const char *ssh_identity;
    const char *known_hosts;
    int         accept_new;
    int         partial;
    double      ssh_timeout;    /* --ssh-timeout: seconds per node to start; 0: 30 */
    const char *worker;         /* --worker: nws-worker on the nodes */
    const char *arg_files[64];
    int         narg_files;
};

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
        "      --progress, --bar a progress bar with ETA on stderr (default: if\n"
        "                        stderr is a terminal); --no-progress: never\n"
        "      --joblog FILE     one line per input: seq, host/rank, start,\n"
        "                        runtime, exit status, signal, command\n"
        "      --retries N       run a failing input up to N more times\n"
        "      --chunk N         inputs per task (default 1)\n"
        "      --timeout SECS    kill a command running longer (its worker too if\n"
        "                        it hangs); the input fails (Exitval -1)\n"
        "      --halt WHEN,WHY   stop early: now|soon,fail|success|done=N[%]\n"
        "      --max-output SIZE cut a job's stdout, and its stderr, at SIZE\n"
        "                        bytes; the job then fails (default: no limit)\n"
        "      --server HOST:PORT  the nwsserver (default: $NWS_HOST:$NWS_PORT\n"
        "                        if it answers, else a private one)\n"
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
        "  -h, --help            this text;  -V, --version  the version\n"
        "\n"
        "Exit status: the number of inputs whose command failed (at most 101),\n"
        "or 255 if sleigh itself failed.\n";

    fputs(text, fp);
}

enum {
    SL_OPT_PROGRESS = 256,
    SL_OPT_NO_PROGRESS,
    SL_OPT_JOBLOG,
    SL_OPT_RETRIES,
    SL_OPT_CHUNK,
    SL_OPT_TIMEOUT,
    SL_OPT_HALT,
    SL_OPT_MAX_OUTPUT,
    SL_OPT_SERVER,
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
    SL_OPT_WORKER
};

/*
 * Parses the options; *optind_out gets the index of the command.  Returns
 * -1 to go on, or an exit status (help, version, usage error).
 */
static int
sl_parse_opts(int argc, char **argv, struct sl_opts *o, int *optind_out)
{
    static const struct option longopts[] = {
        {"jobs", required_argument, NULL, 'j'},
        {"keep-order", no_argument, NULL, 'k'},
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
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    char *end;
    int   ch;

    while ((ch = getopt_long(argc, argv, "+j:P:ka:0qvS:hV", longopts, NULL)) != -1) {
        switch (ch) {
        case 'j':
        case 'P':
            o->jobs = optarg;
            break;
        case 'k':
            o->keep_order = 1;
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
        case SL_OPT_MAX_OUTPUT:
            if (sl_parse_size(optarg, &o->max_output) != 0) {
                sl_warnx("--max-output: want a size (K, M, G suffixes): %s", optarg);
                return SL_EXIT_ERROR;
            }
            break;
        case SL_OPT_SERVER:
            o->server = optarg;
            break;
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
static long
sl_jobs(const char *spec)
{
    long   cores = sysconf(_SC_NPROCESSORS_ONLN), n;
    char   buf[32];
    size_t len;

    if (cores < 1)
        cores = 1;
    if (spec == NULL)
        return cores;
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

/* ---- input sources ----------------------------------------------------------- */

struct sl_src {
    char **v;
    size_t n, cap;
    int    linked; /* goes with the previous source (:::+), not across it */
};

struct sl_input {
    struct sl_src *src;
    size_t         nsrc;
    /* Groups of linked sources: the product runs over these. */
    size_t       *group_first; /* first source of each group */
    size_t       *group_len;   /* elements of each group (its longest source) */
    size_t        ngroups;
    size_t        total;     /* elements; for stdin, lines read so far */
    int           streaming; /* stdin lines, read as the run goes */
    int           eof;       /* streaming: stdin is finished */
    int           fd;        /* streaming: 0 */
    char          delim;
    struct sl_buf partial; /* streaming: the line being read */
};

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
static int
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
static int
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
static void
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
static int
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
static void
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

/* ---- the command template ---------------------------------------------------- */

/*
 * A command word is parsed into segments: literal text and placeholders.
 * Compiling gives output words, each a sequence of pieces: a slot (a text
 * made of segments, filled per element) or the rank marker.  The structure
 * is the same for every element; only slot texts change.
 */
enum sl_seg_kind { SL_SEG_TEXT, SL_SEG_INPUT, SL_SEG_SEQ, SL_SEG_RANK };
enum sl_mod { SL_MOD_NONE, SL_MOD_NOEXT, SL_MOD_BASE, SL_MOD_DIR, SL_MOD_BASE_NOEXT };

struct sl_seg {
    int         kind; /* enum sl_seg_kind */
    const char *text; /* SL_SEG_TEXT: borrowed from argv or static */
    size_t      len;
    size_t      src;   /* SL_SEG_INPUT: 0 all inputs, else the 1-based source */
    int         mod;   /* enum sl_mod */
    int         quote; /* single-quote the input (shell mode) */
    int         raw;   /* the input as shell text, unquoted (no command given) */
};

struct sl_slot {
    struct sl_seg *segs;
    size_t         nsegs;
    int            fixed; /* no input in it: the same for every element */
    char          *text;  /* fixed: its text */
    size_t         argno; /* 1-based position in the task's argument list */
};

#define SL_PIECE_RANK SIZE_MAX

struct sl_oword {
    size_t *pieces; /* slot indexes, or SL_PIECE_RANK */
    size_t  npieces;
};

struct sl_tmpl {
    struct sl_oword *words;
    size_t           nwords;
    struct sl_slot  *slots;
    size_t           nslots;
    size_t           nvar;  /* slots that vary: the element's arguments */
    int              shell; /* run as /bin/sh -c WORD2 */
};

/*
 * Matches a placeholder at p ("{...}"): returns its length and fills
 * *seg, or 0 if p does not start one.  nsrc: sources there are, for {N}.
 */
static size_t
sl_placeholder(const char *p, size_t nsrc, struct sl_seg *seg)
{
    static const struct {
        const char *name;
        int         mod;
    } mods[] = {{"", SL_MOD_NONE},
                {".", SL_MOD_NOEXT},
                {"/", SL_MOD_BASE},
                {"//", SL_MOD_DIR},
                {"/.", SL_MOD_BASE_NOEXT}};
    const char *q = p + 1, *close;
    size_t      n = 0, i;

    if (*p != '{' || (close = strchr(p, '}')) == NULL)
        return 0;
    memset(seg, 0, sizeof(*seg));
    if (close == p + 2 && (p[1] == '#' || p[1] == '%')) {
        seg->kind = p[1] == '#' ? SL_SEG_SEQ : SL_SEG_RANK;
        return 3;
    }
    if (*q >= '1' && *q <= '9') {
        while (*q >= '0' && *q <= '9') {
            if (n > 100000)
                return 0;
            n = n * 10 + (size_t)(*q - '0');
            q++;
        }
        if (n > nsrc)
            return 0; /* no such source: literal text, as GNU parallel does */
    }
    for (i = 0; i < sizeof(mods) / sizeof(mods[0]); i++) {
        if ((size_t)(close - q) == strlen(mods[i].name) &&
            strncmp(q, mods[i].name, (size_t)(close - q)) == 0) {
            seg->kind = SL_SEG_INPUT;
            seg->src = n;
            seg->mod = mods[i].mod;
            return (size_t)(close - p) + 1;
        }
    }
    return 0;
}

/* Parses word into *segs (a new array, *nsegs); returns how many placeholders it has. */
static size_t
sl_word_parse(const char *word, size_t nsrc, struct sl_seg **segs, size_t *nsegs)
{
    const char   *p = word, *lit = word;
    struct sl_seg seg;
    size_t        n, found = 0;

    *segs = NULL;
    *nsegs = 0;
    while (*p != '\0') {
        if ((n = sl_placeholder(p, nsrc, &seg)) == 0) {
            p++;
            continue;
        }
        *segs = sl_reallocarray(*segs, *nsegs + 2, sizeof(**segs));
        if (p > lit) {
            memset(&(*segs)[*nsegs], 0, sizeof(**segs));
            (*segs)[*nsegs].kind = SL_SEG_TEXT;
            (*segs)[*nsegs].text = lit;
            (*segs)[(*nsegs)++].len = (size_t)(p - lit);
        }
        (*segs)[(*nsegs)++] = seg;
        found++;
        p += n;
        lit = p;
    }
    if (p > lit || *nsegs == 0) {
        *segs = sl_reallocarray(*segs, *nsegs + 1, sizeof(**segs));
        memset(&(*segs)[*nsegs], 0, sizeof(**segs));
        (*segs)[*nsegs].kind = SL_SEG_TEXT;
        (*segs)[*nsegs].text = lit;
        (*segs)[(*nsegs)++].len = (size_t)(p - lit);
    }
    return found;
}

/*
 * Returns 1 if the literal text of word (placeholders aside) has shell
 * syntax, so that /bin/sh would not see it as the one word it is.
 */
static int
sl_word_needs_shell(const char *word, size_t nsrc, int first)
{
    struct sl_seg seg;
    const char   *p;
    size_t        n;

    if (strcmp(word, "!") == 0 || strcmp(word, "{") == 0 || strcmp(word, "}") == 0)
        return 1;
    for (p = word; *p != '\0'; p++) {
        if ((n = sl_placeholder(p, nsrc, &seg)) != 0) {
            p += n - 1;
            continue;
        }
        if (strchr(" \t\n|&;<>()$`\\\"'*?[]#~", *p) != NULL || (first && *p == '='))
            return 1;
    }
    return 0;
}

/* Adds an empty output word to t; returns it. */
static struct sl_oword *
sl_tmpl_word(struct sl_tmpl *t)
{
    t->words = sl_reallocarray(t->words, t->nwords + 1, sizeof(*t->words));
    memset(&t->words[t->nwords], 0, sizeof(*t->words));
    return &t->words[t->nwords++];
}

/* Adds piece (a slot index or SL_PIECE_RANK) to w. */
static void
sl_oword_add(struct sl_oword *w, size_t piece)
{
    w->pieces = sl_reallocarray(w->pieces, w->npieces + 1, sizeof(*w->pieces));
    w->pieces[w->npieces++] = piece;
}

/* Adds seg to the slot that w is filling, opening one if its last piece is not a slot. */
static void
sl_tmpl_add_seg(struct sl_tmpl *t, struct sl_oword *w, const struct sl_seg *seg)
{
    struct sl_slot *slot;

    if (seg->kind == SL_SEG_RANK) {
        sl_oword_add(w, SL_PIECE_RANK);
        return;
    }
    if (w->npieces == 0 || w->pieces[w->npieces - 1] == SL_PIECE_RANK) {
        t->slots = sl_reallocarray(t->slots, t->nslots + 1, sizeof(*t->slots));
        memset(&t->slots[t->nslots], 0, sizeof(*t->slots));
        sl_oword_add(w, t->nslots++);
    }
    slot = &t->slots[w->pieces[w->npieces - 1]];
    slot->segs = sl_reallocarray(slot->segs, slot->nsegs + 1, sizeof(*slot->segs));
    slot->segs[slot->nsegs++] = *seg;
}

/* Adds the literal s to the slot w is filling. */
static void
sl_tmpl_add_text(struct sl_tmpl *t, struct sl_oword *w, const char *s)
{
    struct sl_seg seg = {.kind = SL_SEG_TEXT, .text = s, .len = strlen(s)};

    sl_tmpl_add_seg(t, w, &seg);
}

/* Adds an input segment for source src (0: all) to the slot w is filling. */
static void
sl_tmpl_add_input(struct sl_tmpl *t, struct sl_oword *w, size_t src, int mod, int quote,
                  int raw)
{
    struct sl_seg seg = {
        .kind = SL_SEG_INPUT, .src = src, .mod = mod, .quote = quote, .raw = raw};

    sl_tmpl_add_seg(t, w, &seg);
}

/*
 * Compiles the command words cmd[0..ncmd-1] for nsrc input sources.
 * shell_mode: enum sl_shell_mode.  Fills *t.
 */
static void
sl_tmpl_compile(struct sl_tmpl *t, char **cmd, size_t ncmd, size_t nsrc, int shell_mode)
{
    struct sl_seg  **segs = sl_reallocarray(NULL, ncmd + 1, sizeof(*segs));
    size_t          *nsegs = sl_reallocarray(NULL, ncmd + 1, sizeof(*nsegs));
    size_t           i, j, s, found = 0, argno;
    struct sl_oword *w;
    struct sl_seg    seg;
    struct sl_buf    b;

    memset(t, 0, sizeof(*t));
    for (i = 0; i < ncmd; i++)
        found += sl_word_parse(cmd[i], nsrc, &segs[i], &nsegs[i]);
    t->shell = ncmd == 0 || shell_mode == SL_SHELL_ALWAYS;
    for (i = 0; shell_mode == SL_SHELL_AUTO && i < ncmd; i++)
        t->shell |= sl_word_needs_shell(cmd[i], nsrc, i == 0);

    if (t->shell) {
        sl_tmpl_add_text(t, sl_tmpl_word(t), "/bin/sh");
        sl_tmpl_add_text(t, sl_tmpl_word(t), "-c");
        w = sl_tmpl_word(t);
        if (ncmd == 0) {
            /* No command: the inputs are the command lines, as GNU parallel does. */
            sl_tmpl_add_input(t, w, 0, SL_MOD_NONE, 0, 1);
        }
        for (i = 0; i < ncmd; i++) {
            if (i > 0)
                sl_tmpl_add_text(t, w, " ");
            for (j = 0; j < nsegs[i]; j++) {
                seg = segs[i][j];
                seg.quote = seg.kind == SL_SEG_INPUT;
                sl_tmpl_add_seg(t, w, &seg);
            }
        }
        for (s = 1; ncmd > 0 && found == 0 && s <= nsrc; s++) {
            sl_tmpl_add_text(t, w, " ");
            sl_tmpl_add_input(t, w, s, SL_MOD_NONE, 1, 0);
        }
    } else {
        for (i = 0; i < ncmd; i++) {
            if (nsegs[i] == 1 && segs[i][0].kind == SL_SEG_INPUT && segs[i][0].src == 0) {
                /* A word that is only {} (or {.} ...) gives one word per source. */
                for (s = 1; s <= nsrc; s++)
                    sl_tmpl_add_input(t, sl_tmpl_word(t), s, segs[i][0].mod, 0, 0);
                continue;
            }
            w = sl_tmpl_word(t);
            for (j = 0; j < nsegs[i]; j++)
                sl_tmpl_add_seg(t, w, &segs[i][j]);
        }
        for (s = 1; found == 0 && s <= nsrc; s++)
            sl_tmpl_add_input(t, sl_tmpl_word(t), s, SL_MOD_NONE, 0, 0);
    }
    for (i = 0; i < ncmd; i++)
        free(segs[i]);
    free(segs);
    free(nsegs);

    /* Number the slots: varying ones first (element arguments), then fixed ones. */
    for (i = 0; i < t->nslots; i++) {
        t->slots[i].fixed = 1;
        for (j = 0; j < t->slots[i].nsegs; j++)
            if (t->slots[i].segs[j].kind != SL_SEG_TEXT)
                t->slots[i].fixed = 0;
        if (!t->slots[i].fixed)
            t->slots[i].argno = ++t->nvar;
    }
    argno = t->nvar;
    for (i = 0; i < t->nslots; i++) {
        if (!t->slots[i].fixed)
            continue;
        t->slots[i].argno = ++argno;
        memset(&b, 0, sizeof(b));
        sl_buf_add(&b, "", 0);
        for (j = 0; j < t->slots[i].nsegs; j++)
            sl_buf_add(&b, t->slots[i].segs[j].text, t->slots[i].segs[j].len);
        t->slots[i].text = b.p;
    }
}

/* Frees what t holds. */
static void
sl_tmpl_free(struct sl_tmpl *t)
{
    size_t i;

    for (i = 0; i < t->nwords; i++)
        free(t->words[i].pieces);
    free(t->words);
    for (i = 0; i < t->nslots; i++) {
        free(t->slots[i].segs);
        free(t->slots[i].text);
    }
    free(t->slots);
}

/* The part of s (n bytes) that modifier mod keeps: *start, *len. */
static void
sl_modify(const char *s, size_t n, int mod, const char **start, size_t *len)
{
    const char *slash = NULL, *dot = NULL, *p;

    for (p = s; p < s + n; p++) {
        if (*p == '/')
            slash = p;
        else if (*p == '.')
            dot = p;
    }
    if (dot != NULL && slash != NULL && dot < slash)
        dot = NULL;
    *start = s;
    *len = n;
    switch (mod) {
    case SL_MOD_NOEXT:
        if (dot != NULL)
            *len = (size_t)(dot - s);
        break;
    case SL_MOD_BASE:
    case SL_MOD_BASE_NOEXT:
        if (slash != NULL) {
            *start = slash + 1;
            *len = (size_t)(s + n - *start);
        }
        if (mod == SL_MOD_BASE_NOEXT && dot != NULL)
            *len = (size_t)(dot - *start);
        break;
    case SL_MOD_DIR:
        if (slash == NULL) {
            *start = ".";
            *len = 1;
        } else {
            *len = slash == s ? 1 : (size_t)(slash - s);
        }
        break;
    default:
        break;
    }
}

/* Appends input s of an element to b as seg says (modifier, quoting). */
static void
sl_seg_add_input(struct sl_buf *b, const struct sl_seg *seg, const char *s)
{
    const char *start;
    size_t      len;

    sl_modify(s, strlen(s), seg->mod, &start, &len);
    if (seg->quote)
        sl_buf_add_word(b, start, len);
    else
        sl_buf_add(b, start, len);
}

/*
 * Fills b with slot's text for element idx (0-based) whose inputs are
 * args[0..nsrc-1].
 */
static void
sl_slot_fill(const struct sl_slot *slot, const char *const *args, size_t nsrc, size_t idx,
             struct sl_buf *b)
{
    const struct sl_seg *seg;
    char                 num[32];
    size_t               i, s;

    b->len = 0;
    sl_buf_add(b, "", 0);
    for (i = 0; i < slot->nsegs; i++) {
        seg = &slot->segs[i];
        switch (seg->kind) {
        case SL_SEG_TEXT:
            sl_buf_add(b, seg->text, seg->len);
            break;
        case SL_SEG_SEQ:
            snprintf(num, sizeof(num), "%zu", idx + 1);
            sl_buf_adds(b, num);
            break;
        case SL_SEG_INPUT:
            if (seg->src > 0) {
                sl_seg_add_input(b, seg, args[seg->src - 1]);
                break;
            }
            for (s = 0; s < nsrc; s++) {
                if (s > 0)
                    sl_buf_add(b, " ", 1);
                if (seg->raw)
                    sl_buf_adds(b, args[s]);
                else
                    sl_seg_add_input(b, seg, args[s]);
            }
            break;
        default:
            break;
        }
    }
}

/*
 * The command line of an element as a person reads it (joblog, -v,
 * --dry-run): texts[i] is the text of slot i, rank the worker's (-1:
 * unknown, shown as {%}).  Fills b.
 */
static void
sl_tmpl_display(const struct sl_tmpl *t, char *const *texts, int rank, struct sl_buf *b)
{
    struct sl_buf word = {0};
    char          num[32];
    size_t        i, j, piece;

    b->len = 0;
    sl_buf_add(b, "", 0);
    for (i = t->shell ? 2 : 0; i < t->nwords; i++) {
        word.len = 0;
        sl_buf_add(&word, "", 0);
        for (j = 0; j < t->words[i].npieces; j++) {
            piece = t->words[i].pieces[j];
            if (piece != SL_PIECE_RANK) {
                sl_buf_adds(&word, texts[piece]);
            } else if (rank >= 0) {
                snprintf(num, sizeof(num), "%d", rank + 1);
                sl_buf_adds(&word, num);
            } else {
                sl_buf_adds(&word, "{%}");
            }
        }
        if (i > (t->shell ? 2u : 0u))
            sl_buf_add(b, " ", 1);
        if (t->shell)
            sl_buf_add(b, word.p, word.len);
        else
            sl_buf_add_word(b, word.p, word.len);
    }
    free(word.p);
}

/*
 * The task record: argv of "{N}" (slot N's text) and "{%}" pieces, plus
 * timeout, output limit and spill size.  A new reference, *fixed getting
 * the fixed arguments (new).
 */
static json_t *
sl_tmpl_task(const struct sl_tmpl *t, const struct sl_opts *o, json_t **fixed)
{
    const char  **argv = sl_reallocarray(NULL, t->nwords + 1, sizeof(*argv));
    struct sl_buf b = {0};
    char        **words = sl_reallocarray(NULL, t->nwords + 1, sizeof(*words));
    char          num[32];
    size_t        i, j, piece;
    json_t       *task, *s;

    for (i = 0; i < t->nwords; i++) {
        b.len = 0;
        sl_buf_add(&b, "", 0);
        for (j = 0; j < t->words[i].npieces; j++) {
            piece = t->words[i].pieces[j];
            if (piece == SL_PIECE_RANK) {
                sl_buf_adds(&b, "{%}");
            } else {
                snprintf(num, sizeof(num), "{%zu}", t->slots[piece].argno);
                sl_buf_adds(&b, num);
            }
        }
        words[i] = sl_strdup(b.p);
        argv[i] = words[i];
    }
    argv[t->nwords] = NULL;
    free(b.p);
    if ((task = nws_sleigh_command(argv, 0)) == NULL)
        sl_nomem();
    for (i = 0; i < t->nwords; i++)
        free(words[i]);
    free(words);
    free(argv);
    if (o->timeout > 0 &&
        json_object_set_new(task, "timeout", json_real(o->timeout)) != 0)
        sl_nomem();
    /* Output of any size, streamed (sl_stream_*): see the output section. */
    if (json_object_set_new(task, "spill", json_integer(SL_SPILL)) != 0)
        sl_nomem();
    if (o->max_output >= 0 &&
        json_object_set_new(task, "max_output", json_integer(o->max_output)) != 0)
        sl_nomem();
    if ((*fixed = json_array()) == NULL)
        sl_nomem();
    for (i = 0; i < t->nslots; i++) {
        if (!t->slots[i].fixed)
            continue;
        /* Any bytes: nws_sleigh_bytes wraps those that are not UTF-8. */
        if ((s = nws_sleigh_bytes(t->slots[i].text, strlen(t->slots[i].text))) == NULL ||
            json_array_append_new(*fixed, s) != 0)
            sl_nomem();
    }
    return task;
}

/* ---- the server -------------------------------------------------------------- */

struct sl_server {
    char  host[256];
    int   port;
    pid_t pid;      /* a private nwsserver we started, or 0 */
    int   ready_fd; /* its stdout, kept open until it stops */
};

/* Returns 1 if host names this machine's loopback (or is unset). */
static int
sl_host_is_local(const char *host)
{
    return host == NULL || *host == '\0' || strcmp(host, "localhost") == 0 ||
           strncmp(host, "127.", 4) == 0 || strcmp(host, "::1") == 0;
}

/* The nwsserver program: next to this one if it is there, else "nwsserver" (PATH). */
static char *
sl_server_path(void)
{
    char    self[PATH_MAX], *slash, *path;
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);

    if (n > 0) {
        self[n] = '\0';
        if ((slash = strrchr(self, '/')) != NULL) {
            path = sl_malloc((size_t)(slash - self) + sizeof("/nwsserver"));
            memcpy(path, self, (size_t)(slash - self));
            strcpy(path + (slash - self), "/nwsserver");
            if (access(path, X_OK) == 0)
                return path;
            free(path);
        }
    }
    return sl_strdup("nwsserver");
}

/* Stops the private server (SIGTERM, then SIGKILL) and reaps it. */
static void
sl_server_stop(struct sl_server *sv)
{
    double deadline;
    int    st;

    if (sv->pid <= 0)
        return;
    kill(sv->pid, SIGTERM);
    deadline = sl_mono() + SL_SERVER_STOP_MS / 1000.0;
    while (waitpid(sv->pid, &st, WNOHANG) == 0) {
        if (sl_mono() > deadline) {
            kill(sv->pid, SIGKILL);
            waitpid(sv->pid, &st, 0);
            break;
        }
        usleep(5000);
    }
    sv->pid = 0;
    if (sv->ready_fd >= 0)
        close(sv->ready_fd);
    sv->ready_fd = -1;
}

/*
 * Starts a private nwsserver on a free loopback port and reads its ready
 * line.  0, or -1 (message printed, nothing left running).
 */
static int
sl_server_start(struct sl_server *sv, int verbose)
{
    char          tmpl[] = "/tmp/sleigh.err.XXXXXX", line[512], *path, *p;
    pid_t         parent = getpid();
    size_t        len = 0;
    double        deadline;
    struct pollfd pfd;
    ssize_t       n;
    int           pfd2[2], errfd, devnull, rc;

    /* Only the ready line sets it: a start that fails must not leave the
     * probed address (perhaps someone else's server) in place. */
    sv->port = 0;
    path = sl_server_path();
    if ((errfd = mkostemp(tmpl, O_CLOEXEC)) < 0) {
        sl_warnx("cannot make a temporary file: %s", strerror(errno));
        free(path);
        return -1;
    }
    unlink(tmpl);
    if (pipe2(pfd2, O_CLOEXEC) != 0) {
        sl_warnx("pipe: %s", strerror(errno));
        close(errfd);
        free(path);
        return -1;
    }
    sv->pid = fork();
    if (sv->pid < 0) {
        sl_warnx("fork: %s", strerror(errno));
        close(errfd);
        close(pfd2[0]);
        close(pfd2[1]);
        free(path);
        return -1;
    }
    if (sv->pid == 0) {
        /* Dies with us, however we die; ^C at the terminal is ours to handle. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(127);
        setpgid(0, 0);
        devnull = open("/dev/null", O_RDWR);
        dup2(devnull, 0);
        dup2(pfd2[1], 1);
        dup2(verbose ? 2 : errfd, 2);
        execlp(path, path, "--bind", "127.0.0.1", "--port", "0", "--web-port", "0",
               (char *)NULL);
        fprintf(stderr, "cannot run %s: %s\n", path, strerror(errno));
        _exit(127);
    }
    close(pfd2[1]);
    sv->ready_fd = pfd2[0];
    deadline = sl_mono() + SL_SERVER_WAIT_MS / 1000.0;
    line[0] = '\0';
    for (;;) {
        pfd.fd = sv->ready_fd;
        pfd.events = POLLIN;
        rc = poll(&pfd, 1, (int)((deadline - sl_mono()) * 1000) + 1);
        if (rc < 0 && errno == EINTR)
            continue;
        if (rc <= 0 || sl_mono() > deadline) {
            sl_warnx("%s did not start within %d s", path, SL_SERVER_WAIT_MS / 1000);
            break;
        }
        n = read(sv->ready_fd, line + len, sizeof(line) - 1 - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            /* It exited: say why, from what it wrote to stderr. */
            n = pread(errfd, line, sizeof(line) - 1, 0);
            line[n > 0 ? n : 0] = '\0';
            if ((p = strchr(line, '\n')) != NULL)
                *p = '\0';
            sl_warnx("could not start a private nwsserver (%s)%s%s", path,
                     line[0] ? ": " : "", line);
            break;
        }
        len += (size_t)n;
        line[len] = '\0';
        if (strchr(line, '\n') != NULL || len == sizeof(line) - 1) {
            if (strncmp(line, "nwsserver ready:", 16) == 0 &&
                (p = strstr(line, " port=")) != NULL)
                sv->port = atoi(p + 6);
            if (sv->port <= 0)
                sl_warnx("%s: unexpected first line: %s", path, line);
            /* Its web interface shows the run live; a person at a terminal
             * gets its address (--worker-log shows it in the server's log). */
            else if (!verbose && isatty(2) && (p = strstr(line, " web-port=")) != NULL &&
                     atoi(p + 10) > 0)
                sl_warnx("private nwsserver's web interface: http://127.0.0.1:%d/%s",
                         atoi(p + 10),
                         strstr(line, " auth=on") != NULL
                             ? " (password: your nws secret, ~/.nws/secret by default)"
                             : "");
            break;
        }
    }
    close(errfd);
    free(path);
    if (sv->port <= 0) {
        sl_server_stop(sv);
        return -1;
    }
    snprintf(sv->host, sizeof(sv->host), "127.0.0.1");
    return 0;
}

/*
 * Finds the server of the run: --server, else $NWS_HOST/$NWS_PORT or the
 * default if something answers there, else a private one.  0, or -1
 * (message printed).
 */
static int
sl_server_find(struct sl_server *sv, const struct sl_opts *o)
{
    const char *host = getenv("NWS_HOST"), *port = getenv("NWS_PORT"), *colon;
    nws_client *c;
    nws_error   err;
    long        v;
    int         named, ours;

    memset(sv, 0, sizeof(*sv));
    sv->ready_fd = -1;
    if (o->server != NULL) {
        colon = strrchr(o->server, ':');
        if (colon == NULL || sl_parse_count(colon + 1, 65535, &v) != 0 || v < 1 ||
            (size_t)(colon - o->server) >= sizeof(sv->host)) {
            sl_warnx("--server: want HOST:PORT: %s", o->server);
            return -1;
        }
        snprintf(sv->host, sizeof(sv->host), "%.*s", (int)(colon - o->server), o->server);
        if (sv->host[0] == '\0')
            snprintf(sv->host, sizeof(sv->host), "%s", NWS_DEFAULT_HOST);
        sv->port = (int)v;
        return 0;
    }
    if (port != NULL && *port != '\0' &&
        (sl_parse_count(port, 65535, &v) != 0 || v < 1)) {
        sl_warnx("NWS_PORT: not a port: %s", port);
        return -1;
    }
    snprintf(sv->host, sizeof(sv->host), "%s",
             host != NULL && *host != '\0' ? host : NWS_DEFAULT_HOST);
    sv->port = port != NULL && *port != '\0' ? (int)v : NWS_DEFAULT_PORT;
    named = (host != NULL && *host != '\0') || (port != NULL && *port != '\0');
    if ((c = nws_connect(sv->host, sv->port, 0, &err)) != NULL) {
        ours = nws_authenticated(c);
        nws_close(c);
        /*
         * At the default address, unnamed: a server that asks for no secret
         * may be anyone's (a squatter on a shared machine would get our
         * workers), so it is not used.
         */
        if (ours || named)
            return 0;
        sl_warnx("the server at %s:%d asks for no secret, so anyone may have started it: "
                 "using a private server (--server %s:%d uses it anyway)",
                 sv->host, sv->port, sv->host, sv->port);
        return sl_server_start(sv, o->worker_log);
    }
    if (!named && err.code == NWS_ERR_HANDSHAKE) {
        /* Someone else's server (it refused our secret) holds the default port. */
        sl_warnx("the server at %s:%d is not ours (%s): using a private server", sv->host,
                 sv->port, err.text);
        return sl_server_start(sv, o->worker_log);
    }
    if (err.code != NWS_ERR_CONNECT || !sl_host_is_local(host)) {
        sl_warnx("cannot reach the server at %s:%d: %s", sv->host, sv->port,
                 err.text[0] ? err.text : nws_errcode_str(err.code));
        return -1;
    }
    return sl_server_start(sv, o->worker_log);
}

/* ---- the nodes ---------------------------------------------------------------- */

/* getenv, for nwsp_nodes_from_env. */
static const char *
sl_getenv(const char *name, void *arg)
{
    (void)arg;
    return getenv(name);
}

/* 1 if host names this machine: a loopback name, or our host name, long or short. */
static int
sl_host_is_me(const char *host)
{
    char   me[256], *dot;
    size_t n;

    if (sl_host_is_local(host))
        return 1;
    if (gethostname(me, sizeof(me) - 1) != 0)
        return 0;
    me[sizeof(me) - 1] = '\0';
    if (strcmp(host, me) == 0)
        return 1;
    n = (dot = strchr(me, '.')) != NULL ? (size_t)(dot - me) : strlen(me);
    return strncmp(host, me, n) == 0 && (host[n] == '\0' || host[n] == '.');
}

/*
 * Where the workers run.  Fills nl from -S and --nodefile, else from the
 * batch allocation we run in (unless --launcher local): *remote is then 1.
 * An allocation of this machine alone leaves nl empty and gives its
 * worker count in *local_slots: local workers do.  0, or -1 (said why).
 */
static int
sl_nodes_plan(const struct sl_opts *o, struct nwsp_nodes *nl, int *remote,
              long *local_slots)
{
    const char *source = NULL;
    nws_error   err;
    int         i, rc;

    *remote = 0;
    *local_slots = 0;
    memset(&err, 0, sizeof(err));
    if (o->launcher != NULL && strcmp(o->launcher, "local") == 0) {
        if (o->nnodes > 0 || o->nnodefiles > 0) {
            sl_warnx("--launcher local starts no workers on other hosts");
            return -1;
        }
        return 0;
    }
    for (i = 0; i < o->nnodes; i++) {
        if (nwsp_nodes_parse(nl, o->nodes[i], &err) != 0) {
            sl_warnx("-S %s: %s", o->nodes[i], err.text);
            return -1;
        }
    }
    for (i = 0; i < o->nnodefiles; i++) {
        if (nwsp_nodes_read_file(nl, o->nodefiles[i], &err) != 0) {
            sl_warnx("--nodefile: %s", err.text);
            return -1;
        }
    }
    if (nl->nl_n == 0) {
        rc = nwsp_nodes_from_env(nl, sl_getenv, NULL, &source, &err);
        if (rc < 0) {
            sl_warnx("the %s allocation: %s", source ? source : "batch", err.text);
            return -1;
        }
        if (rc == 0) {
            if (o->launcher != NULL) {
                sl_warnx("--launcher %s: no nodes (give -S or --nodefile)", o->launcher);
                return -1;
            }
            return 0;
        }
        if (nl->nl_n == 1 && nl->nl_v[0].nd_user == NULL && o->launcher == NULL &&
            sl_host_is_me(nl->nl_v[0].nd_host)) {
            *local_slots = nl->nl_v[0].nd_slots;
            nwsp_nodes_free(nl);
            return 0;
        }
        if (o->worker_log)
            sl_warnx("workers on the %zu nodes of the %s allocation", nl->nl_n, source);
    }
    *remote = 1;
    return 0;
}

/* Splits --remote-server HOST[:PORT] ([v6]:PORT too) into host and *port (0 if none). */
static int
sl_remote_server(const char *spec, char *host, size_t len, int *port)
{
    const char *colon, *end;
    long        v;

    *port = 0;
    if (spec[0] == '[') {
        if ((end = strchr(spec, ']')) == NULL || (size_t)(end - spec) > len)
            return -1;
        snprintf(host, len, "%.*s", (int)(end - spec - 1), spec + 1);
        colon = end[1] == ':' ? end + 1 : NULL;
        if (end[1] != '\0' && colon == NULL)
            return -1;
    } else {
        colon = strchr(spec, ':');
        if (colon != NULL && strchr(colon + 1, ':') != NULL)
            colon = NULL; /* a bare IPv6 address */
        if ((size_t)(colon ? colon - spec : (long)strlen(spec)) >= len)
            return -1;
        snprintf(host, len, "%.*s", (int)(colon ? colon - spec : (long)strlen(spec)), spec);
    }
    if (colon != NULL) {
        if (sl_parse_count(colon + 1, 65535, &v) != 0 || v < 1)
            return -1;
        *port = (int)v;
    }
    return host[0] != '\0' ? 0 : -1;
}

/*
 * {"rank": node} for the launched workers (new), or NULL; says which nodes
 * failed (--partial went on without them).
 */
static json_t *
sl_rank_nodes(nws_sleigh *s)
{
    json_t *nodes = nws_sleigh_nodes(s, NULL), *map = json_object(), *node, *r;
    size_t  i, j;
    char    key[24];

    json_array_foreach(nodes, i, node)
    {
        if (strcmp(json_string_value(json_object_get(node, "state")), "failed") == 0)
            sl_warnx("node %s: %s (going on without it)",
                     json_string_value(json_object_get(node, "node")),
                     json_string_value(json_object_get(node, "error")));
        json_array_foreach(json_object_get(node, "ranks"), j, r)
        {
            snprintf(key, sizeof(key), "%lld", (long long)json_integer_value(r));
            json_object_set(map, key, json_object_get(node, "node"));
        }
    }
    json_decref(nodes);
    return map;
}

/* ---- the run ----------------------------------------------------------------- */

/* One element's outcome, kept until it can be printed (-k). */
struct sl_done {
    char  *out, *err; /* new buffers (NULL: none) */
    size_t outlen, errlen;
    json_t *val;       /* the result, while a stream of it is still on the server */
    int     outfd, errfd; /* -k: a stream moved to a temp file; -1 none, -2 lost */
    char  *cmd; /* -v: the command line */
    char  *tag; /* --tag: the inputs */
};

struct sl_run {
    struct sl_opts  *o;
    struct sl_input *in;
    struct sl_tmpl  *t;
    nws_sleigh      *s;
    json_t          *task, *fixed;
    long             workers;
    char             hostname[256];
    FILE            *joblog;
    json_t          *rank_nodes; /* remote workers: {"rank": node} for the joblog */

    /* Element bookkeeping. */
    size_t           done;   /* elements finished for good */
    size_t           failed; /* of which failed */
    int              halted; /* --halt struck: no more inputs run */
    size_t           not_run; /* inputs --halt left out */
    int              fail_status; /* exit status of the first failed input (--halt) */
    struct sl_done **held;   /* -k: finished, not printed yet (by element) */
    size_t           nheld;
    size_t           next_print;
    size_t          *retry; /* elements to run again in the next round */
    size_t           nretry, cap_retry;

    /* Slot texts of the element at hand. */
    struct sl_buf *slot_bufs;
    char         **texts;

    /* Progress bar. */
    int    progress;
    int    tty; /* stderr is a terminal */
    int    bar_shown;
    double started, last_draw;
    int    broken; /* stdout is gone */
};

static volatile sig_atomic_t sl_interrupted;

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
    const char **args = sl_reallocarray(NULL, run->in->nsrc + 1, sizeof(*args));
    size_t       i;

    sl_input_elem(run->in, idx, args);
    for (i = 0; i < run->t->nslots; i++) {
        if (run->t->slots[i].fixed) {
            run->texts[i] = run->t->slots[i].text;
            continue;
        }
        sl_slot_fill(&run->t->slots[i], args, run->in->nsrc, idx, &run->slot_bufs[i]);
        run->texts[i] = run->slot_bufs[i].p;
    }
    free(args);
}

/* The inputs of element idx joined by spaces (for --tag); new string. */
static char *
sl_run_inputs(struct sl_run *run, size_t idx)
{
    const char  **args = sl_reallocarray(NULL, run->in->nsrc + 1, sizeof(*args));
    struct sl_buf b = {0};
    size_t        i;

    sl_input_elem(run->in, idx, args);
    sl_buf_add(&b, "", 0);
    for (i = 0; i < run->in->nsrc; i++) {
        if (i > 0)
            sl_buf_add(&b, " ", 1);
        sl_buf_adds(&b, args[i]);
    }
    free(args);
    return b.p;
}

/* Erases the progress bar if it is on screen. */
static void
sl_progress_clear(struct sl_run *run)
{
    if (run->bar_shown) {
        /* Not a terminal: end the line instead, so output starts on its own. */
        fputs(run->tty ? "\r\033[K" : "\n", stderr);
        fflush(stderr);
        run->bar_shown = 0;
    }
}

/* Draws the progress bar (at most every SL_PROGRESS_S unless force). */
static void
sl_progress_draw(struct sl_run *run, int force)
{
    struct winsize ws;
    double         now = sl_mono(), elapsed = now - run->started, rate, eta;
    size_t         total = run->in->total, width = 80, barw, fill, i;
    int            known = !run->in->streaming || run->in->eof;
    char           head[160], tail[96], bar[512];

    if (!run->progress || (!force && now - run->last_draw < SL_PROGRESS_S))
        return;
    run->last_draw = now;
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
static int
sl_stream_apart(const json_t *v, const char *stream)
{
    char key[32];

    snprintf(key, sizeof(key), "%s_var", stream);
    return json_is_string(json_object_get(v, key));
}

/* The length of a stream of v stored apart, or 0. */
static size_t
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
static void
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
 * Prints one stream of d to fd (1: stdout, 2: stderr): the part stored
 * apart (from the server or a temp file), then the part in memory.
 * Returns -1 if writing to fd failed (the rest is dropped), else 0.
 */
static int
sl_print_stream(struct sl_run *run, struct sl_done *d, int fd)
{
    const char *name = fd == 1 ? "stdout" : "stderr";
    int         tmp = fd == 1 ? d->outfd : d->errfd, gone = fd == 1 && run->broken;
    const char *mem = fd == 1 ? d->out : d->err;
    size_t      len = fd == 1 ? d->outlen : d->errlen;
    nws_error   err;
    int         rc = 0;

    if (tmp == -1 && d->val != NULL && sl_stream_apart(d->val, name)) {
        if (gone) {
            nws_sleigh_output_fd(run->s, d->val, name, -1, NULL, NULL);
        } else if (d->tag != NULL) {
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
        if (!gone && rc == 0 && sl_emit_file(fd, tmp, d->tag) != 0)
            rc = -1;
        close(tmp);
        if (fd == 1)
            d->outfd = -1;
        else
            d->errfd = -1;
    }
    if (!gone && rc == 0 && len > 0 && sl_emit(fd, mem, len, d->tag) != 0)
        rc = -1;
    return rc;
}

/* Prints an element's command (-v), stdout and stderr, and frees d. */
static void
sl_print(struct sl_run *run, struct sl_done *d)
{
    sl_progress_clear(run);
    if (!run->broken && d->cmd != NULL &&
        (sl_write_all(1, d->cmd, strlen(d->cmd)) != 0 || sl_write_all(1, "\n", 1) != 0))
        run->broken = 1;
    if (sl_print_stream(run, d, 1) != 0)
        run->broken = 1;
    sl_print_stream(run, d, 2);
    json_decref(d->val);
    free(d->out);
    free(d->err);
    free(d->cmd);
    free(d->tag);
    free(d);
}

/* Hands d (element idx) to the output: now, or when its turn comes (-k). */
static void
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
}

/* Replaces tabs and newlines by spaces (a joblog line stays one line). */
static void
sl_one_line(char *s)
{
    for (; *s != '\0'; s++)
        if (*s == '\t' || *s == '\n' || *s == '\r')
            *s = ' ';
}

/* An integer member of a command result, or dflt. */
static long
sl_value_int(const json_t *v, const char *key, long dflt)
{
    const json_t *m = json_object_get(v, key);

    return json_is_number(m) ? (long)json_number_value(m) : dflt;
}

/*
 * An element finished for good (its last attempt): logs it, counts it
 * and passes its output on.  r is the result of that attempt.
 */
static void
sl_finish(struct sl_run *run, size_t idx, const nws_sleigh_result *r)
{
    struct sl_done *d = sl_malloc(sizeof(*d));
    struct sl_buf   cmd = {0}, msg = {0};
    const json_t   *v = r->value;
    long            status = -1, sig = 0;
    double          start, secs;
    int             timed_out = r->error != NULL && strncmp(r->error, "timed out", 9) == 0;

    memset(d, 0, sizeof(*d));
    d->outfd = d->errfd = -1;
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
    if (run->joblog != NULL) {
        char        rk[24];
        const char *host;

        start = v != NULL && json_is_number(json_object_get(v, "start"))
                    ? json_number_value(json_object_get(v, "start"))
                    : 0;
        secs = v != NULL && json_is_number(json_object_get(v, "seconds"))
                   ? json_number_value(json_object_get(v, "seconds"))
                   : r->seconds;
        if (timed_out && start == 0) {
            /* Its worker was killed, with the times it knew: it ran its timeout. */
            struct timespec ts;

            clock_gettime(CLOCK_REALTIME, &ts);
            secs = run->o->timeout;
            start = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9 - secs;
        }
        sl_one_line(cmd.p);
        snprintf(rk, sizeof(rk), "%d", r->rank);
        host = json_string_value(json_object_get(run->rank_nodes, rk));
        fprintf(run->joblog, "%zu\t%s/%d\t%.3f\t%.3f\t0\t%zu\t%ld\t%ld\t%s\n", idx + 1,
                host ? host : run->hostname, r->rank, start, secs,
                d->outlen + d->errlen + sl_stream_bytes(v, "stdout") +
                    sl_stream_bytes(v, "stderr"),
                status == 0 && r->error != NULL ? 1 : status, sig, cmd.p);
        fflush(run->joblog);
    }
    if (run->o->verbose)
        d->cmd = sl_strdup(cmd.p);
    if (run->o->tag)
        d->tag = sl_run_inputs(run, idx);
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
 * Looks at the workers after a quiet spell.  Returns 0 while there are
 * some, -1 when none is left (message printed).
 */
static int
sl_run_health(struct sl_run *run)
{
    nws_sleigh_info info;
    nws_error       err;

    if (nws_sleigh_status(run->s, &info, &err) != 0) {
        sl_progress_clear(run);
        sl_warnx("lost the server: %s",
                 err.text[0] ? err.text : nws_errcode_str(err.code));
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
    double               quiet_since = sl_mono();
    int                  ended = 0, rc = -1, more, got;
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
    p = nws_sleigh_each_elem_async(run->s, run->task, NULL, run->fixed, &eo, &err);
    if (p == NULL) {
        sl_warnx("cannot start the batch: %s",
                 err.text[0] ? err.text : nws_errcode_str(err.code));
        return -1;
    }
    for (;;) {
        if (sl_interrupted || run->broken)
            goto out;
        /* Feed: push what input there is, up to the window. */
        for (;;) {
            more = list != NULL ? pushed < n : pushed < run->in->total;
            if (ended || !more || nmap - collected >= window || run->halted)
                break;
            idx = list != NULL ? list[pushed] : pushed;
            pushed++;
            args = sl_run_args(run, idx);
            if (nmap == capmap) {
                capmap = capmap != 0 ? capmap * 2 : 256;
                map = sl_reallocarray(map, capmap, sizeof(*map));
            }
            map[nmap++] = idx;
            got = nws_sleigh_pending_push(p, args, &err);
            json_decref(args);
            if (got != 0) {
                sl_progress_clear(run);
                sl_warnx("submitting: %s",
                         err.text[0] ? err.text : nws_errcode_str(err.code));
                goto out;
            }
        }
        if (list != NULL)
            more = pushed < n;
        else
            more = pushed < run->in->total || (run->in->streaming && !run->in->eof);
        if (!ended && !more) {
            if (nws_sleigh_pending_end(p, &err) != 0) {
                sl_progress_clear(run);
                sl_warnx("submitting: %s",
                         err.text[0] ? err.text : nws_errcode_str(err.code));
                goto out;
            }
            ended = 1;
        }
        /* Collect. */
        got = nws_sleigh_pending_next(
            p, &r, ended || !run->in->streaming || run->in->eof ? SL_IDLE_MS : SL_POLL_MS,
            &err);
        if (got == 0)
            break;
        if (got < 0) {
            sl_progress_clear(run);
            sl_warnx("collecting results: %s",
                     err.text[0] ? err.text : nws_errcode_str(err.code));
            goto out;
        }
        if (got == 1) {
            quiet_since = sl_mono();
            collected++;
            if (r.index >= nmap) {
                sl_warnx("a result for an element never submitted (%zu)", r.index);
                goto out;
            }
            idx = map[r.index];
            if (r.error != NULL && strcmp(r.error, NWS_SLEIGH_HALTED) == 0) {
                run->halted = 1; /* not run: neither done nor failed */
                run->not_run++;
            } else if (r.error != NULL && attempt <= run->o->retries) {
                sl_stream_drop(run, r.value); /* this attempt's output is not shown */
                sl_run_retry_later(run, idx);
            } else {
                sl_finish(run, idx, &r);
            }
        } else {
            /* Nothing came: wait a little for stdin instead. */
            if (list == NULL && run->in->streaming && !run->in->eof &&
                run->in->total - pushed < SL_READ_AHEAD)
                sl_input_fill(run->in, SL_POLL_MS);
            /* Tasks out but no result for a while: are there workers at all? */
            if (nmap == collected) {
                quiet_since = sl_mono();
            } else if (sl_mono() - quiet_since > SL_HEALTH_S) {
                if (sl_run_health(run) != 0)
                    goto out;
                quiet_since = sl_mono();
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
        sl_progress_draw(run, 0);
    }
    rc = 0;
    if (run->halted) /* inputs never pushed are not run either */
        run->not_run += list != NULL ? n - pushed : run->in->total - pushed;
out:
    nws_sleigh_pending_free(p);
    free(map);
    return rc;
}

/* Installs the signal handlers of a run (no SA_RESTART: waits end early). */
static void
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
static int
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
    if (run->progress) {
        if (rc == 0 && !sl_interrupted)
            sl_progress_draw(run, 1);
        sl_progress_clear(run);
    }
    if (sl_interrupted) {
        sl_warnx("interrupted");
        return -1;
    }
    return rc;
}

/* --dry-run: prints each element's command line. */
static int
sl_dry_run(struct sl_run *run)
{
    struct sl_buf cmd = {0};
    size_t        idx;

    for (idx = 0;; idx++) {
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

/*
 * Streaming input: waits until stdin ended, or has as many lines as
 * workers, or a moment passed after the first line, so a short input does
 * not start more workers than it needs and an empty one starts none.
 */
static void
sl_read_ahead(struct sl_input *in, long workers)
{
    double deadline = -1;

    while (in->streaming && !in->eof && in->total < (size_t)workers) {
        if (in->total > 0 && deadline < 0)
            deadline = sl_mono() + 0.2;
        if (deadline >= 0 && sl_mono() > deadline)
            break;
        sl_input_fill(in, in->total > 0 ? 20 : -1);
        if (sl_interrupted)
            break;
    }
}

int
main(int argc, char **argv)
{
    struct sl_opts     o;
    struct sl_input    in;
    struct sl_tmpl     t;
    struct sl_server   sv;
    struct sl_run      run;
    nws_sleigh_options so;
    nws_error          err;
    struct nwsp_nodes  nl;
    char              *nodestr = NULL, rhost[256];
    const char        *nodev[2] = {NULL, NULL};
    int                first, ncmd, rc, i, remote, rport = 0;
    long               local_slots, n;
    size_t             s;

    memset(&o, 0, sizeof(o));
    o.delim = '\n';
    o.chunk = 1;
    o.max_output = -1;
    if ((rc = sl_parse_opts(argc, argv, &o, &first)) >= 0)
        return rc;
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
        sl_input_plan(&in) != 0) {
        sl_input_free(&in);
        nwsp_nodes_free(&nl);
        return SL_EXIT_ERROR;
    }
    for (i = first; i < first + ncmd; i++) {
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
    sl_tmpl_compile(&t, argv + first, (size_t)ncmd, in.nsrc, o.shell);
    run.in = &in;
    run.t = &t;
    run.slot_bufs = sl_reallocarray(NULL, t.nslots + 1, sizeof(*run.slot_bufs));
    memset(run.slot_bufs, 0, (t.nslots + 1) * sizeof(*run.slot_bufs));
    run.texts = sl_reallocarray(NULL, t.nslots + 1, sizeof(*run.texts));
    sl_signals();
    if (in.streaming && isatty(0))
        sl_warnx("reading inputs from the terminal, one per line (end with Ctrl-D)");

    if (o.dry_run) {
        rc = sl_dry_run(&run);
        goto done_input;
    }
    sl_read_ahead(&in, run.workers);
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
    if (o.joblog != NULL) {
        if ((run.joblog = fopen(o.joblog, "we")) == NULL) {
            sl_warnx("%s: %s", o.joblog, strerror(errno));
            rc = SL_EXIT_ERROR;
            goto done_input;
        }
        fputs(
            "Seq\tHost\tStarttime\tJobRuntime\tSend\tReceive\tExitval\tSignal\tCommand\n",
            run.joblog);
        fflush(run.joblog);
    }
    if (gethostname(run.hostname, sizeof(run.hostname) - 1) != 0)
        snprintf(run.hostname, sizeof(run.hostname), "localhost");
    run.tty = isatty(2);
    run.progress =
        o.progress == SL_PROGRESS_ON || (o.progress == SL_PROGRESS_AUTO && run.tty);

    if (sl_server_find(&sv, &o) != 0) {
        rc = SL_EXIT_ERROR;
        goto done_joblog;
    }
    if (o.remote_server != NULL && sv.pid > 0) {
        sl_warnx("--remote-server: the private server listens on loopback only: run "
                 "nwsserver --bind ADDRESS and give --server");
        rc = SL_EXIT_ERROR;
        goto done_server;
    }
    nws_sleigh_options_init(&so);
    so.host = sv.host;
    so.port = sv.port;
    so.workers = (int)run.workers;
    so.verbose = o.worker_log;
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
        if (o.remote_server != NULL) {
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
    run.started = sl_mono();
    if (remote)
        run.rank_nodes = sl_rank_nodes(run.s);
    if ((run.task = sl_tmpl_task(&t, &o, &run.fixed)) == NULL || sl_run_all(&run) != 0)
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
    json_decref(run.task);
    json_decref(run.fixed);
    json_decref(run.rank_nodes);
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
    for (s = 0; s < t.nslots; s++)
        free(run.slot_bufs[s].p);
    free(run.slot_bufs);
    free(run.texts);
    sl_tmpl_free(&t);
    sl_input_free(&in);
    nwsp_nodes_free(&nl);
    free(nodestr);
    return rc;
}
