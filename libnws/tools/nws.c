/*
 * nws.c -- the nws command-line tool, on top of libnws (as redis-cli is to Redis).
 *
 *   nws [-h HOST] [-p PORT] [-t SECONDS] COMMAND ARGS...
 *   nws [-h HOST] [-p PORT] [-t SECONDS]        (on a terminal: interactive)
 *
 * Each command is one entry of cli_cmds[]: name, usage, minimum and maximum
 * argument counts, and the function that runs it.  Workspaces are reached
 * with `use ws`, never `open ws`, so nws never owns a workspace and nothing
 * it creates disappears when it exits.  Exit status: 0 found/done, 1 not
 * found (no value, no such variable or workspace), 2 error, 3 timed out
 * (-t).  On a terminal, values get a newline and listings a header row, as
 * redis-cli formats for people and not for pipes.  The interactive mode
 * (nws-cli/repl.c) runs the same commands through cli_run().
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "nws.h"
#include "nws-cli/cli.h"

struct cli_cmd {
    const char *name;
    const char *args;
    const char *help;
    int         min, max; /* operands after the command's own options */
    int (*run)(nws_client *c, int argc, char **argv);
};

static const char *cli_progname = "nws";

/* Prints "nws: what: error text" to stderr; returns CLI_EXIT_TIMEOUT if
 * the -t time limit passed, else CLI_EXIT_ERROR. */
static int
cli_fail(const char *what, const nws_error *err)
{
    fprintf(stderr, "%s: %s: %s\n", cli_progname, what,
            err->text[0] ? err->text : nws_errcode_str(err->code));
    return err->code == NWS_ERR_TIMEOUT ? CLI_EXIT_TIMEOUT : CLI_EXIT_ERROR;
}

/* Returns 1 if err says that the thing named does not exist. */
static int
cli_is_missing(const nws_error *err)
{
    return err->code == NWS_ERR_SERVER &&
           (err->status == NWS_STATUS_NO_WS || err->status == NWS_STATUS_FAIL);
}

/* Opens ws with `use ws`; a new handle, or NULL after printing why. */
static nws_ws *
cli_use(nws_client *c, const char *name, unsigned flags, int *rc)
{
    nws_error err;
    nws_ws   *ws = nws_ws_use(c, name, flags, &err);

    if (ws == NULL) {
        if (err.code == NWS_ERR_SERVER && err.status == NWS_STATUS_NO_WS) {
            fprintf(stderr, "%s: %s: no such workspace\n", cli_progname, name);
            *rc = CLI_EXIT_NOTFOUND;
        } else {
            *rc = cli_fail(name, &err);
        }
    }
    return ws;
}

/* Reads all of stdin into a new buffer (*len bytes); NULL on failure. */
static char *
cli_slurp(int fd, size_t *len)
{
    size_t  cap = 65536, n = 0;
    char   *buf = malloc(cap), *p;
    ssize_t got;

    while (buf != NULL) {
        if (n == cap) {
            if ((p = realloc(buf, cap * 2)) == NULL)
                break;
            buf = p;
            cap *= 2;
        }
        got = read(fd, buf + n, cap - n);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0)
            break;
        if (got == 0) {
            *len = n;
            return buf;
        }
        n += (size_t)got;
    }
    free(buf);
    return NULL;
}

/* store [-b] WS VAR VALUE: 0 or 2. */
static int
cli_cmd_store(nws_client *c, int argc, char **argv)
{
    uint32_t    desc = NWS_DESC_TEXT;
    nws_error   err;
    nws_ws     *ws;
    struct stat st;
    off_t       pos;
    char       *buf;
    size_t      len;
    int         rc = CLI_EXIT_OK, r;

    if (argc == 4) {
        desc = NWS_DESC_BYTES; /* -b, checked by the caller */
        argv++;
    }
    if ((ws = cli_use(c, argv[0], 0, &rc)) == NULL)
        return rc;
    if (strcmp(argv[2], "-") != 0) {
        r = nws_store_raw(ws, argv[1], argv[2], strlen(argv[2]), desc, &err);
    } else if (fstat(0, &st) == 0 && S_ISREG(st.st_mode) &&
               (pos = lseek(0, 0, SEEK_CUR)) >= 0 && pos <= st.st_size) {
        /* A file: its length is known, so stream it without reading it into memory. */
        r = nws_store_fd(ws, argv[1], 0, (uint64_t)(st.st_size - pos), desc, &err);
    } else if ((buf = cli_slurp(0, &len)) == NULL) {
        fprintf(stderr, "%s: store: reading stdin: %s\n", cli_progname, strerror(errno));
        nws_ws_free(ws);
        return CLI_EXIT_ERROR;
    } else {
        r = nws_store_raw(ws, argv[1], buf, len, desc, &err);
        free(buf);
    }
    if (r != 0)
        rc = cli_fail("store", &err);
    nws_ws_free(ws);
    return rc;
}

/* The fetch/find family: writes the value to stdout; 0, 1 or 2. */
static int
cli_get(nws_client *c, char **argv, enum nws_op op, const char *what)
{
    nws_error err;
    nws_ws   *ws;
    int       rc = CLI_EXIT_OK, r;
    int       try = op == NWS_OP_FETCH_TRY || op == NWS_OP_FIND_TRY;

    /* A blocking read may wait for a workspace that a producer has yet to make. */
    if ((ws = cli_use(c, argv[0], try ? NWS_WS_NOCREATE : 0, &rc)) == NULL)
        return rc;
    fflush(stdout); /* the value goes to fd 1 directly */
    r = nws_fetch_fd(ws, argv[1], op, 1, NULL, NULL, &err);
    if (r < 0)
        rc = cli_fail(what, &err);
    else if (r == 0)
        rc = CLI_EXIT_NOTFOUND;
    else if (isatty(1))
        putchar('\n'); /* raw bytes for pipes; the prompt on its own line for people */
    nws_ws_free(ws);
    return rc;
}

/* fetch WS VAR */
static int
cli_cmd_fetch(nws_client *c, int argc, char **argv)
{
    (void)argc;
    return cli_get(c, argv, NWS_OP_FETCH, "fetch");
}

/* find WS VAR */
static int
cli_cmd_find(nws_client *c, int argc, char **argv)
{
    (void)argc;
    return cli_get(c, argv, NWS_OP_FIND, "find");
}

/* fetch-try WS VAR */
static int
cli_cmd_fetch_try(nws_client *c, int argc, char **argv)
{
    (void)argc;
    return cli_get(c, argv, NWS_OP_FETCH_TRY, "fetch-try");
}

/* find-try WS VAR */
static int
cli_cmd_find_try(nws_client *c, int argc, char **argv)
{
    (void)argc;
    return cli_get(c, argv, NWS_OP_FIND_TRY, "find-try");
}

/* declare WS VAR MODE: 0 or 2. */
static int
cli_cmd_declare(nws_client *c, int argc, char **argv)
{
    nws_error err;
    nws_ws   *ws;
    int       rc = CLI_EXIT_OK;

    (void)argc;
    if ((ws = cli_use(c, argv[0], 0, &rc)) == NULL)
        return rc;
    if (nws_declare(ws, argv[1], argv[2], &err) != 0)
        rc = cli_fail("declare", &err);
    nws_ws_free(ws);
    return rc;
}

/* rm WS VAR: 0, 1 (no such variable or workspace) or 2. */
static int
cli_cmd_rm(nws_client *c, int argc, char **argv)
{
    nws_error err;
    nws_ws   *ws;
    int       rc = CLI_EXIT_OK;

    (void)argc;
    if ((ws = cli_use(c, argv[0], NWS_WS_NOCREATE, &rc)) == NULL)
        return rc;
    if (nws_delete_var(ws, argv[1], &err) != 0) {
        rc = cli_fail("rm", &err);
        if (cli_is_missing(&err))
            rc = CLI_EXIT_NOTFOUND;
    }
    nws_ws_free(ws);
    return rc;
}

/* rmws WS: 0, 1 (no such workspace) or 2. */
static int
cli_cmd_rmws(nws_client *c, int argc, char **argv)
{
    nws_error err;
    int       rc;

    (void)argc;
    if (nws_ws_delete(c, argv[0], &err) == 0)
        return CLI_EXIT_OK;
    rc = cli_fail("rmws", &err);
    return cli_is_missing(&err) ? CLI_EXIT_NOTFOUND : rc;
}

/* ls: one line per workspace: name, owner, persistent, variable count, variables. */
static int
cli_cmd_ls(nws_client *c, int argc, char **argv)
{
    nws_ws_list *l;
    nws_error    err;
    size_t       i, j;

    (void)argc;
    (void)argv;
    if ((l = nws_list_wss(c, NULL, &err)) == NULL)
        return cli_fail("ls", &err);
    if (isatty(1))
        printf("NAME\tOWNER\tPERSISTENT\tVARS\tVARIABLES\n");
    for (i = 0; i < l->count; i++) {
        const nws_ws_info *w = &l->items[i];

        printf("%s\t%s\t%s\t%zu\t", w->name, w->owner, w->persistent ? "True" : "False",
               w->nvars);
        for (j = 0; j < w->nvars_listed; j++)
            printf("%s%s", j ? "," : "", w->vars[j]);
        putchar('\n');
    }
    if (l->skipped > 0)
        fprintf(stderr, "nws: ls: skipped %zu malformed listing line%s\n", l->skipped,
                l->skipped == 1 ? "" : "s");
    nws_ws_list_free(l);
    return CLI_EXIT_OK;
}

/* vars WS: one line per variable: name, values, fetchers, finders, mode. */
static int
cli_cmd_vars(nws_client *c, int argc, char **argv)
{
    nws_var_list *l;
    nws_error     err;
    nws_ws       *ws;
    size_t        i;
    int           rc = CLI_EXIT_OK;

    (void)argc;
    if ((ws = cli_use(c, argv[0], NWS_WS_NOCREATE, &rc)) == NULL)
        return rc;
    if ((l = nws_list_vars(ws, &err)) == NULL) {
        rc = cli_fail("vars", &err);
    } else {
        if (isatty(1))
            printf("NAME\tVALUES\tFETCHERS\tFINDERS\tMODE\n");
        for (i = 0; i < l->count; i++)
            printf("%s\t%llu\t%llu\t%llu\t%s\n", l->items[i].name,
                   (unsigned long long)l->items[i].values,
                   (unsigned long long)l->items[i].fetchers,
                   (unsigned long long)l->items[i].finders, l->items[i].mode);
        if (l->skipped > 0)
            fprintf(stderr, "nws: vars: skipped %zu malformed listing line%s\n", l->skipped,
                    l->skipped == 1 ? "" : "s");
        nws_var_list_free(l);
    }
    nws_ws_free(ws);
    return rc;
}

/* watch [-n COUNT] WS VAR: prints each value, then a newline, as it arrives. */
static int
cli_cmd_watch(nws_client *c, int argc, char **argv)
{
    nws_error  err;
    nws_iter  *it;
    nws_value *v;
    nws_ws    *ws;
    long       count = -1, seen = 0;
    char      *end;
    int        rc = CLI_EXIT_OK;

    if (argc == 4) {
        count = strtol(argv[1], &end, 10);
        if (*end != '\0' || count < 1) {
            fprintf(stderr, "%s: watch: bad count %s\n", cli_progname, argv[1]);
            return CLI_EXIT_ERROR;
        }
        argv += 2;
    }
    if ((ws = cli_use(c, argv[0], 0, &rc)) == NULL)
        return rc;
    if ((it = nws_ifind(ws, argv[1], NWS_ITER_BLOCK, &err)) == NULL) {
        nws_ws_free(ws);
        return cli_fail("watch", &err);
    }
    while (count < 0 || seen < count) {
        if (nws_iter_next(it, &v, &err) != 1) {
            rc = cli_fail("watch", &err);
            break;
        }
        fwrite(nws_value_data(v), 1, nws_value_size(v), stdout);
        putchar('\n');
        fflush(stdout);
        nws_value_free(v);
        seen++;
    }
    nws_iter_free(it);
    nws_ws_free(ws);
    return rc;
}

/*
 * info's journal lines: "journal: off", or "journal: on" and a journal_NAME
 * line per figure; times as UTC with their age ("never" for none).
 */
static void
cli_info_journal(json_t *j)
{
    json_t     *v;
    const char *k;
    char        age[64], when[32];
    time_t      t;
    struct tm   tm;

    if (!json_is_true(json_object_get(j, "active"))) {
        printf("journal: off\n");
        return;
    }
    printf("journal: on\n");
    json_object_foreach(j, k, v)
    {
        if (strcmp(k, "active") == 0 || strstr(k, "_age") != NULL)
            continue;
        snprintf(age, sizeof(age), "%s_age", k);
        if (strncmp(k, "last_", 5) == 0) {
            if (!json_is_number(v)) {
                printf("journal_%s: never\n", k);
                continue;
            }
            t = (time_t)json_number_value(v);
            gmtime_r(&t, &tm);
            strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
            printf("journal_%s: %s (%.1f s ago)\n", k, when,
                   json_number_value(json_object_get(j, age)));
        } else if (json_is_integer(v)) {
            printf("journal_%s: %" JSON_INTEGER_FORMAT "\n", k, json_integer_value(v));
        } else if (json_is_boolean(v)) {
            printf("journal_%s: %s\n", k, json_is_true(v) ? "yes" : "no");
        } else if (json_is_string(v)) {
            printf("journal_%s: %s\n", k, json_string_value(v));
        }
    }
}

/* info: the server's figures, one "name: value" line each (nwsserver only). */
static int
cli_cmd_info(nws_client *c, int argc, char **argv)
{
    nws_error   err;
    json_t     *o, *v;
    const char *k;
    char       *text;

    (void)argc;
    (void)argv;
    if ((text = nws_server_info(c, &err)) == NULL)
        return cli_fail("info", &err);
    o = json_loads(text, 0, NULL);
    free(text);
    if (!json_is_object(o)) {
        json_decref(o);
        fprintf(stderr, "%s: info: the server's figures are not a JSON object\n",
                cli_progname);
        return CLI_EXIT_ERROR;
    }
    json_object_foreach(o, k, v)
    {
        if (strcmp(k, "journal") == 0 && json_is_object(v))
            cli_info_journal(v);
        else if (json_is_integer(v))
            printf("%s: %" JSON_INTEGER_FORMAT "\n", k, json_integer_value(v));
        else if (json_is_real(v))
            printf("%s: %.1f\n", k, json_real_value(v));
        else if (json_is_string(v))
            printf("%s: %s\n", k, json_string_value(v));
    }
    json_decref(o);
    return CLI_EXIT_OK;
}

static const struct cli_cmd cli_cmds[] = {
    {"store", "[-b] WS VAR VALUE",
     "Store VALUE in VAR of workspace WS, as a string (type descriptor 1) that\n"
     "Python, R and Java read as a string; with -b as binary (descriptor 3).\n"
     "VALUE - reads the value from standard input, binary-safe.",
     3, 4, cli_cmd_store},
    {"fetch", "WS VAR",
     "Take a value from VAR, waiting until there is one, and write it to\n"
     "standard output as it is (no newline added).",
     2, 2, cli_cmd_fetch},
    {"find", "WS VAR", "Like fetch, but leave the value in the variable.", 2, 2,
     cli_cmd_find},
    {"fetch-try", "WS VAR",
     "Take a value from VAR if there is one and write it to standard output;\n"
     "exit 1 if there is none.",
     2, 2, cli_cmd_fetch_try},
    {"find-try", "WS VAR", "Like fetch-try, but leave the value in the variable.", 2, 2,
     cli_cmd_find_try},
    {"declare", "WS VAR MODE",
     "Declare VAR with MODE: fifo, lifo, multi or single (also __time,\n"
     "__barrier).  Fails if VAR already has another mode.",
     3, 3, cli_cmd_declare},
    {"rm", "WS VAR", "Delete the variable VAR and its values; exit 1 if there is none.",
     2, 2, cli_cmd_rm},
    {"rmws", "WS", "Delete the workspace WS; exit 1 if there is none.", 1, 1,
     cli_cmd_rmws},
    {"ls", "",
     "List the workspaces, one per line: name, owner, persistent (True/False),\n"
     "number of variables, variable names (comma-separated), separated by tabs.",
     0, 0, cli_cmd_ls},
    {"vars", "WS",
     "List the variables of WS, one per line: name, values, blocked fetchers,\n"
     "blocked finders, mode, separated by tabs.",
     1, 1, cli_cmd_vars},
    {"watch", "[-n COUNT] WS VAR",
     "Print every value of VAR, each followed by a newline, waiting for new\n"
     "ones as they are stored (ifind); stop after COUNT values with -n.",
     2, 4, cli_cmd_watch},
    {"info", "",
     "Print the server's figures, one \"name: value\" line each: version, pid,\n"
     "connections, workspaces, variables, values, memory used and its limit,\n"
     "operations, uptime...; the journal (\"journal: off\", or its directory,\n"
     "fsync policy, size, last fsync and snapshot; nwsserver --journal).\n"
     "(nwsserver only: other servers have no such request.)",
     0, 0, cli_cmd_info},
};

#define CLI_NCMDS (sizeof(cli_cmds) / sizeof(cli_cmds[0]))

/* Prints the general usage to fp. */
static void
cli_usage(FILE *fp)
{
    size_t i;

    fprintf(fp, "usage: nws [-h HOST] [-p PORT] [-t SECONDS] COMMAND ARGS...\n"
                "       nws [-h HOST] [-p PORT] [-t SECONDS]   (interactive, on a terminal)\n"
                "       nws --version | --help\n\n"
                "  -h HOST     server host (default $NWS_HOST, else localhost)\n"
                "  -p PORT     server port (default $NWS_PORT, else 8765)\n"
                "  -t SECONDS  give up on any reply after SECONDS, fractions allowed\n"
                "              (default: wait); exit status 3 when it does\n\n"
                "commands:\n");
    for (i = 0; i < CLI_NCMDS; i++)
        fprintf(fp, "  %-10s %s\n", cli_cmds[i].name, cli_cmds[i].args);
    fprintf(fp, "\n'nws COMMAND --help' describes a command.  Exit status: 0 done or\n"
                "found, 1 not found, 2 error, 3 timed out (-t).\n");
}

/* Prints the usage of one command to fp. */
static void
cli_cmd_usage(FILE *fp, const struct cli_cmd *cmd)
{
    fprintf(fp, "usage: nws [-h HOST] [-p PORT] %s %s\n\n%s\n", cmd->name, cmd->args,
            cmd->help);
}

/* Checks the operands of cmd, its own options included; 1 if they fit. */
static int
cli_args_ok(const struct cli_cmd *cmd, int argc, char **argv)
{
    if (argc < cmd->min || argc > cmd->max)
        return 0;
    if (cmd->run == cli_cmd_store && argc == 4)
        return strcmp(argv[0], "-b") == 0;
    if (cmd->run == cli_cmd_store)
        return strcmp(argv[0], "-b") != 0;
    if (cmd->run == cli_cmd_watch && argc != 2)
        return argc == 4 && strcmp(argv[0], "-n") == 0;
    return 1;
}

/*
 * What can be said of a command line (argv[0] the command) without a
 * server: an unknown command, --help, wrong operands.  The command, with
 * *rc = -1 if it is to run; else NULL with the exit status in *rc.
 */
static const struct cli_cmd *
cli_check_line(int argc, char **argv, int *rc)
{
    const struct cli_cmd *cmd = NULL;
    size_t                i;

    *rc = CLI_EXIT_ERROR;
    for (i = 0; i < CLI_NCMDS; i++)
        if (strcmp(argv[0], cli_cmds[i].name) == 0)
            cmd = &cli_cmds[i];
    if (cmd == NULL) {
        fprintf(stderr, "%s: unknown command %s (try nws --help)\n", cli_progname, argv[0]);
        return NULL;
    }
    for (i = 1; i < (size_t)argc; i++) {
        if (strcmp(argv[i], "--help") == 0) {
            cli_cmd_usage(stdout, cmd);
            *rc = CLI_EXIT_OK;
            return NULL;
        }
    }
    if (!cli_args_ok(cmd, argc - 1, argv + 1)) {
        cli_cmd_usage(stderr, cmd);
        return NULL;
    }
    *rc = -1;
    return cmd;
}

/*
 * Runs one command line (argv[0] the command, then its operands) on c, as
 * the shell form and the interactive mode both do.  The exit status.
 */
int
cli_run(nws_client *c, int argc, char **argv)
{
    const struct cli_cmd *cmd;
    int                   rc;

    if ((cmd = cli_check_line(argc, argv, &rc)) == NULL)
        return rc;
    return cmd->run(c, argc - 1, argv + 1);
}

/* The command names, for completion: the i-th, or NULL past the last. */
const char *
cli_cmd_name(size_t i)
{
    return i < CLI_NCMDS ? cli_cmds[i].name : NULL;
}

/* The usage of command name ("WS VAR VALUE"...), or NULL if unknown. */
const char *
cli_cmd_args(const char *name)
{
    size_t i;

    for (i = 0; i < CLI_NCMDS; i++)
        if (strcmp(name, cli_cmds[i].name) == 0)
            return cli_cmds[i].args;
    return NULL;
}

/* Prints the general usage to fp (the interactive mode's help too). */
void
cli_print_usage(FILE *fp)
{
    cli_usage(fp);
}

/* Connects as the options say, with the -t limit (ms, 0: none); NULL after
 * printing why (*rc set). */
nws_client *
cli_connect(const char *host, int port, int ms, int *rc)
{
    nws_client *c;
    nws_error   err;

    if ((c = nws_connect(host, port, 0, &err)) == NULL) {
        *rc = cli_fail("connect", &err);
        return NULL;
    }
    if (ms > 0 && nws_set_timeout(c, ms, &err) != 0) {
        *rc = cli_fail("timeout", &err);
        nws_close(c);
        return NULL;
    }
    return c;
}

/* Parses the command line, connects, runs one command; the exit status. */
int
main(int argc, char **argv)
{
    const char *host = NULL;
    nws_client *c;
    long        port = 0;
    double      secs = 0;
    char       *end;
    int         opt, rc = CLI_EXIT_OK, ms = 0;

    if (argc > 1 && strcmp(argv[1], "--help") == 0) {
        cli_usage(stdout);
        return CLI_EXIT_OK;
    }
    if (argc > 1 && strcmp(argv[1], "--version") == 0) {
        printf("nws %s\n", NWS_VERSION);
        return CLI_EXIT_OK;
    }
    /* '+': stop at the command, whose arguments may look like options. */
    while ((opt = getopt(argc, argv, "+h:p:t:")) != -1) {
        switch (opt) {
        case 'h':
            host = optarg;
            break;
        case 'p':
            port = strtol(optarg, &end, 10);
            if (*end != '\0' || port < 1 || port > 65535) {
                fprintf(stderr, "%s: bad port %s\n", cli_progname, optarg);
                return CLI_EXIT_ERROR;
            }
            break;
        case 't':
            /* Seconds, fractions too (-t 0.5), down to a millisecond. */
            errno = 0;
            secs = strtod(optarg, &end);
            if (errno != 0 || end == optarg || *end != '\0' || !(secs >= 0.001) ||
                secs > 86400) {
                fprintf(stderr, "%s: bad timeout %s (seconds, 0.001 to 86400)\n",
                        cli_progname, optarg);
                return CLI_EXIT_ERROR;
            }
            ms = (int)(secs * 1000 + 0.5);
            break;
        default:
            cli_usage(stderr);
            return CLI_EXIT_ERROR;
        }
    }
    if (optind >= argc) {
        /* No command: a person at a terminal gets a prompt (as redis-cli). */
        if (isatty(0) && isatty(1))
            return cli_repl(host, (int)port, ms);
        cli_usage(stderr);
        return CLI_EXIT_ERROR;
    }
    /* Help and usage errors need no server. */
    if (cli_check_line(argc - optind, argv + optind, &rc) == NULL)
        return rc;
    if ((c = cli_connect(host, (int)port, ms, &rc)) == NULL)
        return rc;
    rc = cli_run(c, argc - optind, argv + optind);
    nws_close(c);
    if (fflush(stdout) != 0 && rc == CLI_EXIT_OK) {
        fprintf(stderr, "%s: writing output: %s\n", cli_progname, strerror(errno));
        rc = CLI_EXIT_ERROR;
    }
    return rc;
}
