/*
 * config.c -- nwsserver --config FILE: options from a file of lines
 *
 *     # comment
 *     name value
 *     name "value with spaces, \"quotes\" and \\ backslashes"
 *     name 'value taken as written'
 *     flag              (or: flag yes / flag no)
 *
 * where name is any long option of the command line without its dashes.
 * The file is not interpreted here: each line becomes the long option it
 * names (--name=value, or --name for a flag) in a new argument vector,
 * placed before the command line's own arguments, and main()'s one
 * getopt_long loop parses them all.  So every option, those of today and
 * those added later, works in the file with the same checks, and the
 * command line wins because getopt sees it last.
 *
 * The file's own errors (an unknown name, a missing value, bad quoting)
 * are reported here with FILE:LINE.  A value the option itself refuses
 * (bad port, bad size) is reported by main() as on the command line; the
 * exit hook below then adds the FILE:LINE the value came from, which
 * keeps main()'s many per-option error paths untouched.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "server.h"

/* One argument made from the file, and the line it came from. */
struct config_origin {
    const char *arg;
    int         line;
};

static const char           *config_path;
static char                **config_argv; /* the expanded vector getopt reads */
static struct config_origin *config_origins;
static size_t                config_norigins;
static int                   config_parsing;

/* Long options that make no sense in a file. */
static int
config_forbidden(const char *name)
{
    return strcmp(name, "config") == 0 || strcmp(name, "help") == 0 ||
           strcmp(name, "version") == 0;
}

/*
 * main() returned 2 (a bad option) while the options were being parsed:
 * if the option getopt had just taken came from the file, say where.
 */
static void
config_onexit(int status, void *arg)
{
    size_t i;

    (void)arg;
    if (!config_parsing || status != 2 || optind < 1 || config_argv == NULL)
        return;
    for (i = 0; i < config_norigins; i++)
        if (config_origins[i].arg == config_argv[optind - 1])
            fprintf(stderr, "nwsserver: that value comes from %s:%d\n", config_path,
                    config_origins[i].line);
}

/*
 * Splits one line into name and value (NULL: none), in place.  Returns 0
 * (*name NULL for a blank or comment line), or -1 with why set.
 */
static int
config_split(char *s, char **name, char **value, const char **why)
{
    char *v, *w, q;

    *name = *value = NULL;
    s += strspn(s, " \t\r\n");
    if (*s == '\0' || *s == '#')
        return 0;
    *name = s;
    s += strcspn(s, " \t\r\n");
    if (*s != '\0')
        *s++ = '\0';
    s += strspn(s, " \t\r\n");
    if (*s == '\0' || *s == '#')
        return 0;
    if (*s == '"' || *s == '\'') {
        /* Quoted: "..." knows \" and \\, '...' nothing; then only a comment. */
        q = *s++;
        for (v = w = s; *s != q; s++) {
            if (*s == '\0') {
                *why = "unterminated quote";
                return -1;
            }
            if (q == '"' && *s == '\\' && (s[1] == '"' || s[1] == '\\'))
                s++;
            *w++ = *s;
        }
        *w = '\0';
        s++;
        s += strspn(s, " \t\r\n");
        if (*s != '\0' && *s != '#') {
            *why = "text after the closing quote";
            return -1;
        }
        *value = v;
        return 0;
    }
    /* Unquoted: the rest of the line up to a comment (" #"), trimmed. */
    v = s;
    for (w = s; *w != '\0'; w++)
        if (*w == '#' && (w[-1] == ' ' || w[-1] == '\t'))
            break;
    *w = '\0';
    while (w > v && strchr(" \t\r\n", w[-1]) != NULL)
        *--w = '\0';
    *value = v;
    return 0;
}

/* A flag's value: 1 (set), 0 (leave unset), -1 (not a yes or no). */
static int
config_bool(const char *v)
{
    static const char *const yes[] = {"yes", "true", "on", "1"}, *const no[] = {
                                                                     "no", "false", "off",
                                                                     "0"};
    size_t i;

    if (v == NULL)
        return 1;
    for (i = 0; i < 4; i++) {
        if (strcasecmp(v, yes[i]) == 0)
            return 1;
        if (strcasecmp(v, no[i]) == 0)
            return 0;
    }
    return -1;
}

/* Appends one argument made from line to the vector (grown as needed). */
static void
config_push(char ***vec, size_t *n, size_t *cap, char *arg, int line)
{
    if (*n + 1 >= *cap) {
        *cap = *cap ? *cap * 2 : 16;
        *vec = xrealloc(*vec, *cap * sizeof(**vec));
    }
    (*vec)[(*n)++] = arg;
    if (line > 0) {
        config_origins =
            xrealloc(config_origins, (config_norigins + 1) * sizeof(*config_origins));
        config_origins[config_norigins].arg = arg;
        config_origins[config_norigins++].line = line;
    }
}

/* Reads path into vec as long options; 0, or -1 with the error printed. */
static int
config_read(const char *path, const struct option *longopts, char ***vec, size_t *n,
            size_t *cap)
{
    FILE                *fp;
    char                *line = NULL, *name, *value, *arg;
    const char          *why = NULL;
    const struct option *o;
    size_t               linecap = 0;
    int                  lineno = 0, rc = 0, b;

    if ((fp = fopen(path, "re")) == NULL) {
        fprintf(stderr, "nwsserver: cannot read %s: %s\n", path, strerror(errno));
        return -1;
    }
    while (getline(&line, &linecap, fp) != -1) {
        lineno++;
        if (config_split(line, &name, &value, &why) != 0) {
            fprintf(stderr, "nwsserver: %s:%d: %s\n", path, lineno, why);
            rc = -1;
            break;
        }
        if (name == NULL)
            continue;
        for (o = longopts; o->name != NULL; o++)
            if (strcmp(o->name, name) == 0)
                break;
        if (config_forbidden(name)) {
            fprintf(stderr, "nwsserver: %s:%d: %s is not allowed in a file\n", path,
                    lineno, name);
            rc = -1;
            break;
        }
        if (o->name == NULL) {
            fprintf(stderr, "nwsserver: %s:%d: unknown option %s\n", path, lineno, name);
            rc = -1;
            break;
        }
        if (o->has_arg == no_argument) {
            if ((b = config_bool(value)) < 0) {
                fprintf(stderr, "nwsserver: %s:%d: %s takes no value, or yes or no\n",
                        path, lineno, name);
                rc = -1;
                break;
            }
            if (b == 0)
                continue;
            xasprintf(&arg, "--%s", name);
        } else if (value == NULL) {
            if (o->has_arg == required_argument) {
                fprintf(stderr, "nwsserver: %s:%d: %s needs a value\n", path, lineno,
                        name);
                rc = -1;
                break;
            }
            xasprintf(&arg, "--%s", name);
        } else
            xasprintf(&arg, "--%s=%s", name, value);
        config_push(vec, n, cap, arg, lineno);
    }
    if (rc == 0 && ferror(fp)) {
        fprintf(stderr, "nwsserver: cannot read %s: %s\n", path, strerror(errno));
        rc = -1;
    }
    free(line);
    fclose(fp);
    return rc;
}

/*
 * Finds --config FILE (or --config=FILE) in *argv before any "--" and, if
 * there is one, replaces *argv by argv[0], FILE's options, then the other
 * arguments.  Returns 0, or -1 with the error printed (exit status 2).
 * Registers the exit hook that locates a bad value in the file.
 */
int
config_expand(int *argc, char ***argv, const struct option *longopts)
{
    char **in = *argv, **vec = NULL;
    size_t n = 0, cap = 0;
    int    i, at = -1, width = 0;

    for (i = 1; i < *argc && strcmp(in[i], "--") != 0; i++) {
        if (strcmp(in[i], "--config") != 0 && strncmp(in[i], "--config=", 9) != 0)
            continue;
        if (at != -1) {
            fprintf(stderr, "nwsserver: --config given twice\n");
            return -1;
        }
        at = i;
        if (in[i][8] == '=') {
            config_path = in[i] + 9;
            width = 1;
        } else if (i + 1 < *argc) {
            config_path = in[++i];
            width = 2;
        } else {
            fprintf(stderr, "nwsserver: option --config needs a value\n"
                            "Try 'nwsserver --help'.\n");
            return -1;
        }
    }
    if (at == -1)
        return 0;
    config_push(&vec, &n, &cap, in[0], 0);
    if (config_read(config_path, longopts, &vec, &n, &cap) != 0) {
        free(vec);
        return -1;
    }
    for (i = 1; i < *argc; i++)
        if (i < at || i >= at + width)
            config_push(&vec, &n, &cap, in[i], 0);
    vec[n] = NULL;
    config_argv = vec;
    *argv = vec;
    *argc = (int)n;
    config_parsing = 1;
    on_exit(config_onexit, NULL);
    return 0;
}

/* The options are parsed: from now on an exit is not about the file. */
void
config_parsed(void)
{
    config_parsing = 0;
}
