/*
 * repl.c -- nws's interactive mode: `nws` with no command, on a terminal.
 *
 * A prompt naming the server, line editing and history from libedit
 * (Debian's libedit, its native histedit.h interface; history is kept in
 * ~/.nws_history), and Tab completion of command names, workspace names,
 * variable names and modes, as redis-cli completes its commands.  The
 * editing is libedit's; what is ours is what to complete: the usage text
 * of each command ("[-b] WS VAR VALUE") says what the word under the
 * cursor names, and the names come from the server (list wss, list vars).
 *
 * Each line is split into words by libedit's tokenizer (shell-like quotes)
 * and run by cli_run(), exactly as the shell form runs it.  A command that
 * fails on the connection (an error, a -t timeout, which closes it) leaves
 * the connection to be made again for the next line, so one lost
 * connection does not end the session.  ^D, `quit` or `exit` end it.
 */
#include <errno.h>
#include <histedit.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wchar.h>

#include "cli.h"

#define REPL_HISTORY   1000
#define REPL_MAX_WORDS 64
#define REPL_MAX_CANDS 4096

/* The session: the connection (NULL until needed) and how to make it. */
struct repl {
    const char *host;
    int         port;
    int         ms;
    nws_client *c;
    char        prompt[300];
};

/* The session's connection, made if there is none; NULL after printing why. */
static nws_client *
repl_conn(struct repl *r)
{
    int rc;

    if (r->c == NULL)
        r->c = cli_connect(r->host, r->port, r->ms, &rc);
    return r->c;
}

/* The prompt: "nws HOST:PORT> ". */
static char *
repl_prompt(EditLine *el)
{
    struct repl *r;

    el_get(el, EL_CLIENTDATA, &r);
    return r->prompt;
}

/* Candidates for completion, with the prefix being completed. */
struct repl_cands {
    char  *item[REPL_MAX_CANDS];
    size_t n;
};

/* Adds s to cs if it starts with prefix (a copy; silently full). */
static void
repl_cand(struct repl_cands *cs, const char *s, const char *prefix)
{
    if (strncmp(s, prefix, strlen(prefix)) != 0 || cs->n == REPL_MAX_CANDS)
        return;
    if ((cs->item[cs->n] = strdup(s)) != NULL)
        cs->n++;
}

/* The workspaces whose names start with prefix. */
static void
repl_cands_ws(struct repl *r, struct repl_cands *cs, const char *prefix)
{
    nws_ws_list *l;
    nws_error    err;
    size_t       i;

    if (repl_conn(r) == NULL || (l = nws_list_wss(r->c, NULL, &err)) == NULL)
        return;
    for (i = 0; i < l->count; i++)
        repl_cand(cs, l->items[i].name, prefix);
    nws_ws_list_free(l);
}

/* The variables of workspace ws whose names start with prefix. */
static void
repl_cands_var(struct repl *r, struct repl_cands *cs, const char *ws, const char *prefix)
{
    nws_var_list *l;
    nws_error     err;
    nws_ws       *h;
    size_t        i;

    if (repl_conn(r) == NULL || (h = nws_ws_use(r->c, ws, NWS_WS_NOCREATE, &err)) == NULL)
        return;
    if ((l = nws_list_vars(h, &err)) != NULL) {
        for (i = 0; i < l->count; i++)
            repl_cand(cs, l->items[i].name, prefix);
        nws_var_list_free(l);
    }
    nws_ws_free(h);
}

/*
 * What the operand at position k (0: the first after the command) of cmd
 * names, from the command's usage text: "WS", "VAR", "MODE", ... or NULL.
 * Bracketed options ("[-b]", "[-n COUNT]") are skipped, as the caller
 * skips the typed options.
 */
static const char *
repl_operand(const char *cmd, int k, char *buf, size_t cap)
{
    const char *args = cli_cmd_args(cmd), *p, *e;
    int         depth = 0;

    if (args == NULL)
        return NULL;
    for (p = args; *p != '\0'; p = e) {
        while (*p == ' ')
            p++;
        for (e = p; *e != '\0' && *e != ' '; e++) {
            if (*e == '[')
                depth++;
            else if (*e == ']')
                depth--;
        }
        if (e == p || p[0] == '[' || depth > 0 || e[-1] == ']')
            continue;
        if (k-- == 0) {
            snprintf(buf, cap, "%.*s", (int)(e - p), p);
            return buf;
        }
    }
    return NULL;
}

/* Frees the candidates. */
static void
repl_cands_free(struct repl_cands *cs)
{
    size_t i;

    for (i = 0; i < cs->n; i++)
        free(cs->item[i]);
    cs->n = 0;
}

/* Compares two candidates, for sorting. */
static int
repl_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/*
 * Tab: completes the word before the cursor.  One candidate: the rest of
 * it and a space; several: their common part, and if that adds nothing,
 * the list of them under the line.
 */
static unsigned char
repl_complete(EditLine *el, int ch)
{
    const LineInfo   *li = el_line(el);
    struct repl      *r;
    struct repl_cands cs = {0};
    char              line[1024], *words[REPL_MAX_WORDS], *p, *prefix, kind[16];
    const char       *what;
    size_t            len = (size_t)(li->cursor - li->buffer), common, i, j;
    int               n = 0, k;
    unsigned char     ret = CC_REFRESH;

    (void)ch;
    el_get(el, EL_CLIENTDATA, &r);
    if (len >= sizeof(line))
        return CC_ERROR;
    memcpy(line, li->buffer, len);
    line[len] = '\0';
    /* The words before the cursor; the last one (maybe empty) is completed. */
    for (p = strtok(line, " \t"); p != NULL && n < REPL_MAX_WORDS - 1; p = strtok(NULL, " \t"))
        words[n++] = p;
    if (len == 0 || line[len - 1] == ' ' || line[len - 1] == '\t' || n == 0)
        words[n++] = (char *)"";
    prefix = words[n - 1];
    if (n == 1) {
        for (i = 0; cli_cmd_name(i) != NULL; i++)
            repl_cand(&cs, cli_cmd_name(i), prefix);
        repl_cand(&cs, "help", prefix);
        repl_cand(&cs, "quit", prefix);
    } else {
        /* The operand's position, typed options (-b, -n COUNT) left out. */
        for (k = 0, i = 1; i < (size_t)n - 1; i++) {
            if (words[i][0] == '-')
                i += strcmp(words[i], "-n") == 0;
            else
                k++;
        }
        what = repl_operand(words[0], k, kind, sizeof(kind));
        if (what != NULL && strcmp(what, "WS") == 0)
            repl_cands_ws(r, &cs, prefix);
        else if (what != NULL && strcmp(what, "VAR") == 0 && k >= 1) {
            /* The workspace is the operand before. */
            for (i = 1, j = 0; i < (size_t)n - 1; i++) {
                if (words[i][0] == '-')
                    i += strcmp(words[i], "-n") == 0;
                else if (j++ == (size_t)k - 1)
                    break;
            }
            if (i < (size_t)n - 1)
                repl_cands_var(r, &cs, words[i], prefix);
        } else if (what != NULL && strcmp(what, "MODE") == 0) {
            static const char *const modes[] = {"fifo", "lifo", "multi", "single"};

            for (i = 0; i < sizeof(modes) / sizeof(modes[0]); i++)
                repl_cand(&cs, modes[i], prefix);
        }
    }
    if (cs.n == 0)
        return CC_ERROR;
    qsort(cs.item, cs.n, sizeof(cs.item[0]), repl_cmp);
    for (common = strlen(cs.item[0]), i = 1; i < cs.n; i++)
        for (j = 0; j < common; j++)
            if (cs.item[i][j] != cs.item[0][j]) {
                common = j;
                break;
            }
    if (cs.n == 1) {
        char tail[1100];

        snprintf(tail, sizeof(tail), "%s ", cs.item[0] + strlen(prefix));
        if (el_insertstr(el, tail) != 0)
            ret = CC_ERROR;
    } else if (common > strlen(prefix)) {
        cs.item[0][common] = '\0';
        if (el_insertstr(el, cs.item[0] + strlen(prefix)) != 0)
            ret = CC_ERROR;
    } else {
        fputc('\n', stdout);
        for (i = 0; i < cs.n; i++)
            printf("%s%s", i ? "  " : "", cs.item[i]);
        fputc('\n', stdout);
        fflush(stdout);
        ret = CC_REDISPLAY;
    }
    repl_cands_free(&cs);
    return ret;
}

/* The history file: ~/.nws_history, or NULL without a home. */
static char *
repl_histfile(void)
{
    const char *home = getenv("HOME");
    char       *path;

    if (home == NULL || *home == '\0' || asprintf(&path, "%s/.nws_history", home) < 0)
        return NULL;
    return path;
}

int
cli_repl(const char *host, int port, int ms)
{
    struct repl r = {.host = host, .port = port, .ms = ms};
    const char *h = host ? host : getenv("NWS_HOST"), *p = getenv("NWS_PORT"), *line;
    EditLine   *el;
    History    *hist;
    HistEvent   ev;
    Tokenizer  *tok;
    char       *histfile = repl_histfile();
    const char **argv;
    int          argc, count, rc = CLI_EXIT_OK;

    if (h == NULL || *h == '\0')
        h = "localhost";
    if (port > 0)
        snprintf(r.prompt, sizeof(r.prompt), "nws %s:%d> ", h, port);
    else
        snprintf(r.prompt, sizeof(r.prompt), "nws %s:%s> ", h, p && *p ? p : "8765");
    /* Connect first, so a wrong address is said at once. */
    if (repl_conn(&r) == NULL)
        return CLI_EXIT_ERROR;
    if ((el = el_init("nws", stdin, stdout, stderr)) == NULL ||
        (hist = history_init()) == NULL || (tok = tok_init(NULL)) == NULL) {
        fprintf(stderr, "nws: cannot set up line editing\n");
        return CLI_EXIT_ERROR;
    }
    history(hist, &ev, H_SETSIZE, REPL_HISTORY);
    history(hist, &ev, H_SETUNIQUE, 1);
    if (histfile != NULL)
        history(hist, &ev, H_LOAD, histfile);
    el_set(el, EL_CLIENTDATA, &r);
    el_set(el, EL_PROMPT, repl_prompt);
    el_set(el, EL_EDITOR, "emacs");
    el_set(el, EL_HIST, history, hist);
    /* The wide form: el_set's narrow EL_ADDFN keeps wide copies of the
     * name and help that el_end never frees (LeakSanitizer sees them). */
    el_wset(el, EL_ADDFN, L"nws-complete", L"complete a command or a name", repl_complete);
    el_set(el, EL_BIND, "^I", "nws-complete", NULL);
    el_source(el, NULL); /* the user's ~/.editrc, as other libedit programs */
    while ((line = el_gets(el, &count)) != NULL && count > 0) {
        if (tok_str(tok, line, &argc, &argv) != 0) {
            fprintf(stderr, "nws: unmatched quote\n");
            tok_reset(tok);
            continue;
        }
        if (argc > 0) {
            char *entry = strndup(line, strcspn(line, "\n"));

            if (entry != NULL)
                history(hist, &ev, H_ENTER, entry);
            free(entry);
            if (strcmp(argv[0], "quit") == 0 || strcmp(argv[0], "exit") == 0) {
                tok_reset(tok);
                break;
            }
            if (strcmp(argv[0], "help") == 0) {
                cli_print_usage(stdout);
                printf("\nHere: COMMAND ARGS... runs a command; Tab completes; quit "
                       "or ^D ends.\n");
            } else if (repl_conn(&r) != NULL) {
                rc = cli_run(r.c, argc, (char **)argv);
                fflush(stdout);
                if (rc == CLI_EXIT_ERROR || rc == CLI_EXIT_TIMEOUT) {
                    /* It may have been the connection: a new one next time. */
                    nws_close(r.c);
                    r.c = NULL;
                }
            }
        }
        tok_reset(tok);
    }
    if (line == NULL)
        fputc('\n', stdout); /* ^D: leave the shell's prompt on a line of its own */
    if (histfile != NULL)
        history(hist, &ev, H_SAVE, histfile);
    free(histfile);
    tok_end(tok);
    history_end(hist);
    el_end(el);
    nws_close(r.c);
    return CLI_EXIT_OK;
}
