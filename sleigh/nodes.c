/*
 * nodes.c -- node lists: the entry syntax, node files, Slurm host ranges
 * and count lists, and the allocations of batch schedulers (nodes.h).
 *
 * Everything here works on strings and never on the network, so the tests
 * call it directly.  nwsp_nodes_plan is the node policy the library
 * (sleigh.c) and the sleigh command share.  Names are checked as they are
 * added: a host is letters, digits, '.', '-' and '_' (or an IPv6 address),
 * a user the same, so nothing that reaches an ssh configuration lookup or
 * a message can carry white space, quotes or control characters.  Every
 * expansion is bounded (NWSP_NODES_MAX names, NWSP_NODE_MAX_SLOTS per node).
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "nodes.h"
#include "nwsp.h"

#define NODES_ENTRY_MAX 1024 /* bytes of one entry */
#define NODES_FILE_MAX  (4 << 20)

/* Empties nl. */
void
nwsp_nodes_init(struct nwsp_nodes *nl)
{
    memset(nl, 0, sizeof(*nl));
}

/* Frees nl's entries and empties it. */
void
nwsp_nodes_free(struct nwsp_nodes *nl)
{
    size_t i;

    for (i = 0; i < nl->nl_n; i++) {
        free(nl->nl_v[i].nd_host);
        free(nl->nl_v[i].nd_user);
    }
    free(nl->nl_v);
    nwsp_nodes_init(nl);
}

/* 1 if c may appear in a host name or a user name. */
static int
nodes_name_char(int c)
{
    return isalnum((unsigned char)c) || c == '.' || c == '-' || c == '_';
}

/* 1 if s (len bytes) is a usable host name: name characters, or an IPv6 address. */
static int
nodes_host_ok(const char *s, size_t len)
{
    size_t i;
    int    colon;

    if (len == 0 || len > NWSP_NODE_NAME_MAX || s[0] == '-')
        return 0;
    colon = memchr(s, ':', len) != NULL;
    for (i = 0; i < len; i++)
        if (!nodes_name_char(s[i]) && !(colon && (s[i] == ':' || s[i] == '%')))
            return 0;
    /* An address with ':' is IPv6: hex digits, ':', '.', and a %zone. */
    for (i = 0; colon && i < len && s[i] != '%'; i++)
        if (!isxdigit((unsigned char)s[i]) && s[i] != ':' && s[i] != '.')
            return 0;
    return 1;
}

/* Adds slots workers on user@host, merging an entry already listed. */
int
nwsp_nodes_add(struct nwsp_nodes *nl, const char *host, const char *user, long slots,
               nws_error *err)
{
    struct nwsp_node *v;
    size_t            i;

    if (host == NULL || !nodes_host_ok(host, strlen(host))) {
        nwsp_err_set(err, NWS_ERR_INVALID, 0, "bad host name \"%.60s\"",
                     host != NULL ? host : "");
        return -1;
    }
    if (user != NULL) {
        for (i = 0; user[i] != '\0' && nodes_name_char(user[i]); i++)
            ;
        if (i == 0 || user[i] != '\0' || i > NWSP_NODE_NAME_MAX || user[0] == '-') {
            nwsp_err_set(err, NWS_ERR_INVALID, 0, "bad user name \"%.60s\"", user);
            return -1;
        }
    }
    if (slots < 1 || slots > NWSP_NODE_MAX_SLOTS) {
        nwsp_err_set(err, NWS_ERR_INVALID, 0, "%s: want 1 to %d workers, not %ld", host,
                     NWSP_NODE_MAX_SLOTS, slots);
        return -1;
    }
    for (i = 0; i < nl->nl_n; i++) {
        v = &nl->nl_v[i];
        if (strcmp(v->nd_host, host) == 0 &&
            (v->nd_user == NULL ? user == NULL
                                : user != NULL && strcmp(v->nd_user, user) == 0)) {
            if (v->nd_slots + slots > NWSP_NODE_MAX_SLOTS) {
                nwsp_err_set(err, NWS_ERR_INVALID, 0, "%s: more than %d workers", host,
                             NWSP_NODE_MAX_SLOTS);
                return -1;
            }
            v->nd_slots += slots;
            return 0;
        }
    }
    if (nl->nl_n == NWSP_NODES_MAX) {
        nwsp_err_set(err, NWS_ERR_INVALID, 0, "more than %d nodes", NWSP_NODES_MAX);
        return -1;
    }
    if (nl->nl_n == nl->nl_cap) {
        size_t cap = nl->nl_cap ? nl->nl_cap * 2 : 8;

        if ((v = realloc(nl->nl_v, cap * sizeof(*v))) == NULL)
            goto nomem;
        nl->nl_v = v;
        nl->nl_cap = cap;
    }
    v = &nl->nl_v[nl->nl_n];
    memset(v, 0, sizeof(*v));
    if ((v->nd_host = strdup(host)) == NULL ||
        (user != NULL && (v->nd_user = strdup(user)) == NULL)) {
        free(v->nd_host);
        goto nomem;
    }
    v->nd_slots = slots;
    nl->nl_n++;
    return 0;
nomem:
    nwsp_err_set(err, NWS_ERR_NOMEM, 0, "out of memory");
    return -1;
}

/* Parses a count (1 .. NWSP_NODE_MAX_SLOTS) of len bytes; the count, or -1. */
static long
nodes_count(const char *s, size_t len)
{
    long   v = 0;
    size_t i;

    if (len == 0 || len > 6)
        return -1;
    for (i = 0; i < len; i++) {
        if (!isdigit((unsigned char)s[i]))
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v >= 1 && v <= NWSP_NODE_MAX_SLOTS ? v : -1;
}

/* ---- Slurm host ranges --------------------------------------------------- */

void
nwsp_hostlist_free(char **names, size_t n)
{
    size_t i;

    for (i = 0; names != NULL && i < n; i++)
        free(names[i]);
    free(names);
}

/* A growing vector of names. */
struct nodes_vec {
    char **v;
    size_t n, cap;
};

/* Appends a new string of len bytes of s; 0, or -1 (err set). */
static int
nodes_vec_add(struct nodes_vec *nv, const char *s, size_t len, nws_error *err)
{
    char **v;

    if (nv->n == NWSP_NODES_MAX) {
        nwsp_err_set(err, NWS_ERR_INVALID, 0, "a host list makes more than %d names",
                     NWSP_NODES_MAX);
        return -1;
    }
    if (nv->n == nv->cap) {
        size_t cap = nv->cap ? nv->cap * 2 : 8;

        if ((v = realloc(nv->v, cap * sizeof(*v))) == NULL)
            goto nomem;
        nv->v = v;
        nv->cap = cap;
    }
    if ((nv->v[nv->n] = strndup(s, len)) == NULL)
        goto nomem;
    nv->n++;
    return 0;
nomem:
    nwsp_err_set(err, NWS_ERR_NOMEM, 0, "out of memory");
    return -1;
}

/*
 * Expands one name with bracket groups (no top-level comma): every name
 * made of prefix, one value of the first group, and the expansions of the
 * rest, appended to out.  0, or -1.
 */
static int
nodes_expand_one(const char *prefix, size_t plen, const char *rest, struct nodes_vec *out,
                 nws_error *err)
{
    const char *open = strchr(rest, '['), *close, *item, *dash, *end;
    char        buf[NWSP_NODE_NAME_MAX + 2], num[32];
    long        lo, hi, v;
    size_t      len, width;
    char       *ep;

    if (open == NULL) {
        len = strlen(rest);
        if (plen + len > NWSP_NODE_NAME_MAX) {
            nwsp_err_set(err, NWS_ERR_INVALID, 0, "host name too long in a host list");
            return -1;
        }
        memcpy(buf, prefix, plen);
        memcpy(buf + plen, rest, len);
        return nodes_vec_add(out, buf, plen + len, err);
    }
    if ((close = strchr(open, ']')) == NULL || close == open + 1 ||
        memchr(open + 1, '[', (size_t)(close - open - 1)) != NULL) {
        nwsp_err_set(err, NWS_ERR_INVALID, 0, "unbalanced brackets in a host list");
        return -1;
    }
    len = (size_t)(open - rest);
    if (plen + len > NWSP_NODE_NAME_MAX - 8) {
        nwsp_err_set(err, NWS_ERR_INVALID, 0, "host name too long in a host list");
        return -1;
    }
    for (item = open + 1; item < close; item = end + 1) {
        if ((end = memchr(item, ',', (size_t)(close - item))) == NULL)
            end = close;
        dash = memchr(item, '-', (size_t)(end - item));
        if (dash == NULL)
            dash = end;
        width = (size_t)(dash - item);
        if (width == 0 || width > 9 ||
            (dash != end && (end - dash - 1 == 0 || end - dash - 1 > 9)))
            goto bad;
        memcpy(num, item, width);
        num[width] = '\0';
        errno = 0;
        lo = strtol(num, &ep, 10);
        if (*ep != '\0' || !isdigit((unsigned char)num[0]))
            goto bad;
        hi = lo;
        if (dash != end) {
            memcpy(num, dash + 1, (size_t)(end - dash - 1));
            num[end - dash - 1] = '\0';
            hi = strtol(num, &ep, 10);
            if (*ep != '\0' || !isdigit((unsigned char)num[0]) || hi < lo)
                goto bad;
        }
        if (hi - lo >= NWSP_NODES_MAX) {
            nwsp_err_set(err, NWS_ERR_INVALID, 0, "a host list makes more than %d names",
                         NWSP_NODES_MAX);
            return -1;
        }
        for (v = lo; v <= hi; v++) {
            memcpy(buf, prefix, plen);
            memcpy(buf + plen, rest, len);
            snprintf(buf + plen + len, sizeof(buf) - plen - len, "%0*ld", (int)width, v);
            if (nodes_expand_one(buf, strlen(buf), close + 1, out, err) != 0)
                return -1;
        }
    }
    return 0;
bad:
    nwsp_err_set(err, NWS_ERR_INVALID, 0, "bad range \"%.*s\" in a host list",
                 (int)(close - open + 1 > 40 ? 40 : close - open + 1), open);
    return -1;
}

/* Expands a Slurm host list into new strings. */
int
nwsp_hostlist_expand(const char *expr, char ***names, size_t *n, nws_error *err)
{
    struct nodes_vec out = {0};
    const char      *p, *q;
    char            *item;
    int              depth, rc;

    *names = NULL;
    *n = 0;
    for (p = expr; *p != '\0'; p = *q != '\0' ? q + 1 : q) {
        /* The item ends at a comma outside brackets. */
        for (q = p, depth = 0; *q != '\0' && (*q != ',' || depth > 0); q++) {
            if (*q == '[')
                depth++;
            else if (*q == ']')
                depth--;
        }
        if (q == p)
            continue;
        if ((item = strndup(p, (size_t)(q - p))) == NULL) {
            nwsp_err_set(err, NWS_ERR_NOMEM, 0, "out of memory");
            nwsp_hostlist_free(out.v, out.n);
            return -1;
        }
        rc = depth != 0 ? -1 : nodes_expand_one("", 0, item, &out, err);
        if (depth != 0)
            nwsp_err_set(err, NWS_ERR_INVALID, 0, "unbalanced brackets in a host list");
        free(item);
        if (rc != 0) {
            nwsp_hostlist_free(out.v, out.n);
            return -1;
        }
    }
    if (out.n == 0) {
        nwsp_err_set(err, NWS_ERR_INVALID, 0, "empty host list");
        return -1;
    }
    *names = out.v;
    *n = out.n;
    return 0;
}

/* Expands "2(x3),1" into counts. */
int
nwsp_slurm_counts(const char *spec, long **counts, size_t *n, nws_error *err)
{
    const char *p = spec;
    long       *v = NULL, *nv, c, rep;
    size_t      len = 0, cap = 0;
    char       *end;

    *counts = NULL;
    *n = 0;
    while (*p != '\0') {
        if (!isdigit((unsigned char)*p))
            goto bad;
        c = strtol(p, &end, 10);
        rep = 1;
        if (*end == '(') {
            if (end[1] != 'x' || !isdigit((unsigned char)end[2]))
                goto bad;
            rep = strtol(end + 2, &end, 10);
            if (*end != ')')
                goto bad;
            end++;
        }
        if (c < 1 || c > NWSP_NODE_MAX_SLOTS || rep < 1 ||
            rep > NWSP_NODES_MAX - (long)len)
            goto bad;
        if (len + (size_t)rep > cap) {
            cap = len + (size_t)rep + 8;
            if ((nv = realloc(v, cap * sizeof(*v))) == NULL) {
                free(v);
                nwsp_err_set(err, NWS_ERR_NOMEM, 0, "out of memory");
                return -1;
            }
            v = nv;
        }
        while (rep-- > 0)
            v[len++] = c;
        if (*end == ',')
            end++;
        else if (*end != '\0')
            goto bad;
        p = end;
    }
    if (len == 0)
        goto bad;
    *counts = v;
    *n = len;
    return 0;
bad:
    free(v);
    nwsp_err_set(err, NWS_ERR_INVALID, 0, "bad count list \"%.40s\" (want e.g. 2(x3),1)",
                 spec);
    return -1;
}

/* ---- entries and lists --------------------------------------------------- */

/*
 * Adds one entry of len bytes at s: [N/][user@]host[:N], host maybe a
 * range or [IPv6].  count > 0 is a count from outside the entry (node
 * files' second column); what names the source.  0, or -1.
 */
static int
nodes_entry(struct nwsp_nodes *nl, const char *s, size_t len, long count,
            const char *what, nws_error *err)
{
    char        buf[NODES_ENTRY_MAX + 1], *p, *at, *host, *rest, **names;
    const char *user = NULL;
    size_t      i, nnames;
    long        c;
    int         rc = 0, depth;

    if (len > NODES_ENTRY_MAX) {
        nwsp_err_set(err, NWS_ERR_INVALID, 0, "%s: node entry too long", what);
        return -1;
    }
    memcpy(buf, s, len);
    buf[len] = '\0';
    p = buf;
    /* N/host, as GNU parallel writes --sshlogin. */
    for (i = 0; isdigit((unsigned char)p[i]); i++)
        ;
    if (i > 0 && p[i] == '/') {
        if ((c = nodes_count(p, i)) < 0)
            goto badcount;
        if (count > 0)
            goto twocounts;
        count = c;
        p += i + 1;
    }
    if ((at = strchr(p, '@')) != NULL) {
        *at = '\0';
        user = p;
        p = at + 1;
    }
    if (*p == '[') {
        /* [IPv6]:N */
        host = p + 1;
        if ((rest = strchr(host, ']')) == NULL)
            goto badhost;
        *rest++ = '\0';
        if (strchr(host, ':') == NULL)
            goto badhost; /* [1-3] alone is a range without a name */
    } else {
        host = p;
        for (rest = p, depth = 0; *rest != '\0' && (*rest != ':' || depth > 0); rest++) {
            if (*rest == '[')
                depth++;
            else if (*rest == ']')
                depth--;
        }
    }
    if (*rest == ':') {
        *rest++ = '\0';
        if ((c = nodes_count(rest, strlen(rest))) < 0)
            goto badcount;
        if (count > 0)
            goto twocounts;
        count = c;
    } else if (*rest != '\0') {
        goto badhost;
    }
    if (count <= 0)
        count = 1;
    if (*host == '\0')
        goto badhost;
    if (strchr(host, '[') == NULL || strchr(host, ':') != NULL) {
        if (nwsp_nodes_add(nl, host, user, count, err) != 0)
            goto named;
        return 0;
    }
    if (nwsp_hostlist_expand(host, &names, &nnames, err) != 0)
        goto named;
    for (i = 0; i < nnames && rc == 0; i++)
        rc = nwsp_nodes_add(nl, names[i], user, count, err);
    nwsp_hostlist_free(names, nnames);
    if (rc != 0)
        goto named;
    return 0;
badcount:
    nwsp_err_set(err, NWS_ERR_INVALID, 0, "%s: \"%.60s\": want a count from 1 to %d",
                 what, s, NWSP_NODE_MAX_SLOTS);
    return -1;
twocounts:
    nwsp_err_set(err, NWS_ERR_INVALID, 0, "%s: \"%.60s\": two counts", what, s);
    return -1;
badhost:
    nwsp_err_set(err, NWS_ERR_INVALID, 0, "%s: \"%.60s\": bad host", what, s);
    return -1;
named:
    /* Say where: the message of nwsp_nodes_add or the expansion is kept. */
    if (err != NULL && strlen(err->text) + strlen(what) + 3 < sizeof(err->text)) {
        char tmp[400];

        snprintf(tmp, sizeof(tmp), "%.200s: %.159s", what, err->text);
        tmp[sizeof(err->text) - 1] = '\0';
        memcpy(err->text, tmp, sizeof(err->text));
    }
    return -1;
}

/* 1 if c separates entries of a list. */
static int
nodes_sep(int c)
{
    return c == ',' || isspace((unsigned char)c);
}

/* Adds the entries of a list, what naming it in messages; n added entries or -1. */
static long
nodes_list(struct nwsp_nodes *nl, const char *list, const char *what, nws_error *err)
{
    const char *p, *q;
    long        n = 0;
    int         depth;

    for (p = list; *p != '\0';) {
        while (*p != '\0' && nodes_sep(*p))
            p++;
        if (*p == '\0')
            break;
        for (q = p, depth = 0; *q != '\0' && (depth > 0 || !nodes_sep(*q)); q++) {
            if (*q == '[')
                depth++;
            else if (*q == ']')
                depth--;
        }
        if (nodes_entry(nl, p, (size_t)(q - p), 0, what, err) != 0)
            return -1;
        n++;
        p = q;
    }
    return n;
}

/* Adds the entries of list. */
int
nwsp_nodes_parse(struct nwsp_nodes *nl, const char *list, nws_error *err)
{
    long n = nodes_list(nl, list != NULL ? list : "", "node list", err);

    if (n == 0)
        nwsp_err_set(err, NWS_ERR_INVALID, 0, "empty node list");
    return n > 0 ? 0 : -1;
}

/* Splits line (NUL-terminated, modified) into at most max words; the count. */
static size_t
nodes_words(char *line, char **w, size_t max)
{
    size_t n = 0;
    char  *p = line;

    while (*p != '\0') {
        while (isspace((unsigned char)*p))
            p++;
        if (*p == '\0')
            break;
        if (n == max)
            return max + 1;
        w[n++] = p;
        while (*p != '\0' && !isspace((unsigned char)*p))
            p++;
        if (*p != '\0')
            *p++ = '\0';
    }
    return n;
}

/* Copies line lineno (len bytes) of a file into buf without its comment. */
static int
nodes_line(char *buf, size_t size, const char *s, size_t len, const char *what,
           size_t lineno, nws_error *err)
{
    char *hash;

    if (len >= size) {
        nwsp_err_set(err, NWS_ERR_INVALID, 0, "%s:%zu: line too long", what, lineno);
        return -1;
    }
    memcpy(buf, s, len);
    buf[len] = '\0';
    if ((hash = strchr(buf, '#')) != NULL)
        *hash = '\0';
    return 0;
}

/* Adds the entries of a node file's text. */
int
nwsp_nodes_parse_text(struct nwsp_nodes *nl, const char *text, const char *what,
                      nws_error *err)
{
    char        line[NODES_ENTRY_MAX + 1], where[300], *w[4];
    const char *p, *eol;
    size_t      lineno = 0, nw, before = nl->nl_n;
    long        c, total = 0;

    for (p = text; *p != '\0'; p = *eol != '\0' ? eol + 1 : eol) {
        eol = strchr(p, '\n');
        if (eol == NULL)
            eol = p + strlen(p);
        lineno++;
        snprintf(where, sizeof(where), "%.200s:%zu", what, lineno);
        if (nodes_line(line, sizeof(line), p, (size_t)(eol - p), what, lineno, err) != 0)
            return -1;
        nw = nodes_words(line, w, 3);
        if (nw == 0)
            continue;
        c = 0;
        if (nw == 2 && strncmp(w[1], "slots=", 6) == 0)
            c = nodes_count(w[1] + 6, strlen(w[1] + 6));
        else if (nw == 2)
            c = nodes_count(w[1], strlen(w[1]));
        else if (nw == 3 && strncmp(w[1], "slots=", 6) == 0 &&
                 (strncmp(w[2], "max_slots=", 10) == 0 ||
                  strncmp(w[2], "max-slots=", 10) == 0))
            c = nodes_count(w[1] + 6, strlen(w[1] + 6));
        else if (nw != 1)
            c = -1;
        if (c < 0) {
            nwsp_err_set(err, NWS_ERR_INVALID, 0,
                         "%s: want \"host\", \"host:N\" or \"host N\"", where);
            return -1;
        }
        if (nodes_entry(nl, w[0], strlen(w[0]), c, where, err) != 0)
            return -1;
        total++;
    }
    if (total == 0 && nl->nl_n == before) {
        nwsp_err_set(err, NWS_ERR_INVALID, 0, "%s: no nodes", what);
        return -1;
    }
    return 0;
}

/* The contents of path as a new NUL-terminated string, or NULL. */
static char *
nodes_slurp(const char *path, nws_error *err)
{
    FILE  *fp = fopen(path, "re");
    char  *buf = NULL, *nb;
    size_t len = 0, cap = 0, n;

    if (fp == NULL) {
        nwsp_err_set(err, NWS_ERR_IO, 0, "%s: %s", path, strerror(errno));
        return NULL;
    }
    for (;;) {
        if (cap - len < 4096) {
            cap = cap ? cap * 2 : 8192;
            if (cap > NODES_FILE_MAX + 8192 || (nb = realloc(buf, cap)) == NULL) {
                nwsp_err_set(err, NWS_ERR_INVALID, 0, "%s: too large", path);
                goto fail;
            }
            buf = nb;
        }
        n = fread(buf + len, 1, cap - len - 1, fp);
        len += n;
        if (n == 0)
            break;
    }
    if (ferror(fp)) {
        nwsp_err_set(err, NWS_ERR_IO, 0, "%s: %s", path, strerror(errno));
        goto fail;
    }
    fclose(fp);
    buf[len] = '\0';
    if (strlen(buf) != len) {
        nwsp_err_set(err, NWS_ERR_INVALID, 0, "%s: not a text file", path);
        free(buf);
        return NULL;
    }
    return buf;
fail:
    fclose(fp);
    free(buf);
    return NULL;
}

/* Adds the entries of the node file at path. */
int
nwsp_nodes_read_file(struct nwsp_nodes *nl, const char *path, nws_error *err)
{
    char *text = nodes_slurp(path, err);
    int   rc;

    if (text == NULL)
        return -1;
    rc = nwsp_nodes_parse_text(nl, text, path, err);
    free(text);
    return rc;
}

/* ---- batch schedulers ---------------------------------------------------- */

/* Adds Slurm's nodes with their counts. */
int
nwsp_nodes_from_slurm(struct nwsp_nodes *nl, const char *nodelist, const char *tasks,
                      nws_error *err)
{
    char **names;
    long  *counts = NULL;
    size_t nnames, ncounts = 0, i;
    int    rc = 0;

    if (nwsp_hostlist_expand(nodelist, &names, &nnames, err) != 0)
        return -1;
    if (tasks != NULL && *tasks != '\0') {
        if (nwsp_slurm_counts(tasks, &counts, &ncounts, err) != 0) {
            nwsp_hostlist_free(names, nnames);
            return -1;
        }
        if (ncounts != nnames) {
            nwsp_err_set(err, NWS_ERR_INVALID, 0,
                         "Slurm: %zu nodes but %zu task counts (\"%.40s\")", nnames,
                         ncounts, tasks);
            rc = -1;
        }
    }
    for (i = 0; i < nnames && rc == 0; i++)
        rc = nwsp_nodes_add(nl, names[i], NULL, counts != NULL ? counts[i] : 1, err);
    free(counts);
    nwsp_hostlist_free(names, nnames);
    return rc;
}

/*
 * Adds the nodes of an SGE $PE_HOSTFILE's text: "host slots queue
 * processor-range" lines, as sge_pe(5) documents them (start_proc_args,
 * $pe_hostfile); a host comes once per queue it has slots in, and the
 * merge of nwsp_nodes_add sums them.
 */
int
nwsp_nodes_parse_sge(struct nwsp_nodes *nl, const char *text, const char *what,
                     nws_error *err)
{
    char        line[NODES_ENTRY_MAX + 1], *w[8];
    const char *p, *eol;
    size_t      lineno = 0, nw;
    long        c;
    int         any = 0;

    for (p = text; *p != '\0'; p = *eol != '\0' ? eol + 1 : eol) {
        eol = strchr(p, '\n');
        if (eol == NULL)
            eol = p + strlen(p);
        lineno++;
        if (nodes_line(line, sizeof(line), p, (size_t)(eol - p), what, lineno, err) != 0)
            return -1;
        if ((nw = nodes_words(line, w, 6)) == 0)
            continue;
        if (nw < 2 || nw > 6 || (c = nodes_count(w[1], strlen(w[1]))) < 0) {
            nwsp_err_set(err, NWS_ERR_INVALID, 0,
                         "%.100s:%zu: want \"host slots queue processors\"", what,
                         lineno);
            return -1;
        }
        if (nwsp_nodes_add(nl, w[0], NULL, c, err) != 0)
            return -1;
        any = 1;
    }
    if (!any) {
        nwsp_err_set(err, NWS_ERR_INVALID, 0, "%.100s: no nodes", what);
        return -1;
    }
    return 0;
}

/*
 * Adds LSF's "host n host n ..." pairs: $LSB_MCPU_HOSTS, as IBM Spectrum
 * LSF's "Environment variables set for job execution" documents it.
 */
int
nwsp_nodes_from_lsf(struct nwsp_nodes *nl, const char *mcpu_hosts, nws_error *err)
{
    const char *p = mcpu_hosts, *h, *he, *c;
    char        host[NWSP_NODE_NAME_MAX + 1];
    long        n;
    int         any = 0;

    for (;;) {
        while (isspace((unsigned char)*p))
            p++;
        if (*p == '\0')
            break;
        for (h = p, he = p; *he != '\0' && !isspace((unsigned char)*he); he++)
            ;
        for (c = he; isspace((unsigned char)*c); c++)
            ;
        for (p = c; *p != '\0' && !isspace((unsigned char)*p); p++)
            ;
        if ((size_t)(he - h) > NWSP_NODE_NAME_MAX ||
            (n = nodes_count(c, (size_t)(p - c))) < 0) {
            nwsp_err_set(err, NWS_ERR_INVALID, 0,
                         "LSB_MCPU_HOSTS: want \"host count ...\": \"%.40s\"",
                         mcpu_hosts);
            return -1;
        }
        memcpy(host, h, (size_t)(he - h));
        host[he - h] = '\0';
        if (nwsp_nodes_add(nl, host, NULL, n, err) != 0)
            return -1;
        any = 1;
    }
    if (!any) {
        nwsp_err_set(err, NWS_ERR_INVALID, 0, "LSB_MCPU_HOSTS is empty");
        return -1;
    }
    return 0;
}

/* The variable name if set and not empty, else NULL. */
static const char *
nodes_env(nwsp_env_fn env, void *arg, const char *name)
{
    const char *v = env(name, arg);

    return v != NULL && *v != '\0' ? v : NULL;
}

/* Adds the nodes of the allocation the environment describes. */
int
nwsp_nodes_from_env(struct nwsp_nodes *nl, nwsp_env_fn env, void *arg,
                    const char **source, nws_error *err)
{
    const char *v, *tasks;
    char       *text;
    int         rc;

    if (source != NULL)
        *source = NULL;
    if ((v = nodes_env(env, arg, "SLURM_JOB_NODELIST")) != NULL ||
        (v = nodes_env(env, arg, "SLURM_NODELIST")) != NULL) {
        if (source != NULL)
            *source = "Slurm";
        /*
         * Inside a job step (srun sleigh ..., srun ./master), Slurm sets
         * SLURM_TASKS_PER_NODE to the step's tasks ("1" for srun -n1) while
         * the node list stays the job's: the job's own task counts are not
         * in the environment then, its CPUs per node are.
         */
        tasks = nodes_env(env, arg, "SLURM_STEP_ID") != NULL ||
                        nodes_env(env, arg, "SLURM_STEP_NODELIST") != NULL
                    ? NULL
                    : nodes_env(env, arg, "SLURM_TASKS_PER_NODE");
        if (tasks == NULL)
            tasks = nodes_env(env, arg, "SLURM_JOB_CPUS_PER_NODE");
        return nwsp_nodes_from_slurm(nl, v, tasks, err) == 0 ? 1 : -1;
    }
    /*
     * A host per line, once per slot: Torque's Administrator Guide
     * ("Exported batch environment variables") and PBS Professional's
     * User's Guide (PBS_NODEFILE: once per mpiprocs of each chunk).
     */
    if ((v = nodes_env(env, arg, "PBS_NODEFILE")) != NULL) {
        if (source != NULL)
            *source = "PBS";
        return nwsp_nodes_read_file(nl, v, err) == 0 ? 1 : -1;
    }
    if ((v = nodes_env(env, arg, "PE_HOSTFILE")) != NULL) {
        if (source != NULL)
            *source = "SGE";
        if ((text = nodes_slurp(v, err)) == NULL)
            return -1;
        rc = nwsp_nodes_parse_sge(nl, text, v, err);
        free(text);
        return rc == 0 ? 1 : -1;
    }
    if ((v = nodes_env(env, arg, "LSB_MCPU_HOSTS")) != NULL) {
        if (source != NULL)
            *source = "LSF";
        return nwsp_nodes_from_lsf(nl, v, err) == 0 ? 1 : -1;
    }
    /*
     * LSF writes the names of LSB_HOSTS, a line per slot, to this file
     * (IBM Spectrum LSF, "Environment variable reference"): the one to read
     * when a long host list does not fit the environment.
     */
    if ((v = nodes_env(env, arg, "LSB_DJOB_HOSTFILE")) != NULL) {
        if (source != NULL)
            *source = "LSF";
        return nwsp_nodes_read_file(nl, v, err) == 0 ? 1 : -1;
    }
    if ((v = nodes_env(env, arg, "LSB_HOSTS")) != NULL) {
        if (source != NULL)
            *source = "LSF";
        return nodes_list(nl, v, "LSB_HOSTS", err) > 0 ? 1 : -1;
    }
    return 0;
}

/* getenv, for nwsp_nodes_from_env. */
static const char *
nodes_getenv(const char *name, void *arg)
{
    (void)arg;
    return getenv(name);
}

/* Lists, then files, else the allocation: 1, 0 (no nodes), or -1. */
int
nwsp_nodes_plan(struct nwsp_nodes *nl, const char *const *lists, const char *const *files,
                const char **source, const char **bad, nws_error *err)
{
    size_t i;

    if (source != NULL)
        *source = NULL;
    if (bad != NULL)
        *bad = NULL;
    for (i = 0; lists != NULL && lists[i] != NULL; i++) {
        if (nwsp_nodes_parse(nl, lists[i], err) != 0) {
            if (bad != NULL)
                *bad = lists[i];
            return -1;
        }
    }
    for (i = 0; files != NULL && files[i] != NULL; i++) {
        if (nwsp_nodes_read_file(nl, files[i], err) != 0) {
            if (bad != NULL)
                *bad = files[i];
            return -1;
        }
    }
    if (nl->nl_n > 0)
        return 1;
    return nwsp_nodes_from_env(nl, nodes_getenv, NULL, source, err);
}

/* 1 if host is a loopback name or address (or unset). */
static int
nodes_host_is_local(const char *host)
{
    return host == NULL || *host == '\0' || strcmp(host, "localhost") == 0 ||
           strncmp(host, "127.", 4) == 0 || strcmp(host, "::1") == 0;
}

/*
 * 1 if host names this machine: a loopback name, our host name, long or
 * short, or the Slurm node name slurmd runs our job under ($SLURMD_NODENAME,
 * which need not be the host name: NodeHostname may differ).
 */
int
nwsp_host_is_me(const char *host)
{
    const char *slurm = getenv("SLURMD_NODENAME");
    char        me[256], *dot;
    size_t      n;

    if (nodes_host_is_local(host))
        return 1;
    if (slurm != NULL && *slurm != '\0' && strcmp(host, slurm) == 0)
        return 1;
    if (gethostname(me, sizeof(me) - 1) != 0)
        return 0;
    me[sizeof(me) - 1] = '\0';
    if (strcmp(host, me) == 0)
        return 1;
    n = (dot = strchr(me, '.')) != NULL ? (size_t)(dot - me) : strlen(me);
    return strncmp(host, me, n) == 0 && (host[n] == '\0' || host[n] == '.');
}

/* ---- counts and text ----------------------------------------------------- */

/* The sum of the slots. */
long
nwsp_nodes_total(const struct nwsp_nodes *nl)
{
    long   t = 0;
    size_t i;

    for (i = 0; i < nl->nl_n; i++)
        t += nl->nl_v[i].nd_slots;
    return t;
}

/* Spreads n workers over the nodes by turns. */
void
nwsp_nodes_spread(struct nwsp_nodes *nl, long n)
{
    long   total = nwsp_nodes_total(nl), left, round;
    long  *give;
    size_t i, j;

    if (n <= 0 || nl->nl_n == 0 || n == total)
        return;
    if ((give = calloc(nl->nl_n, sizeof(*give))) == NULL)
        return; /* out of memory: the list stays as it was */
    if (n > total) {
        for (i = 0; i < nl->nl_n; i++)
            give[i] = nl->nl_v[i].nd_slots + (n - total) / (long)nl->nl_n;
        left = (n - total) % (long)nl->nl_n;
        for (i = 0; left > 0; i++, left--)
            give[i]++;
    } else {
        /* Round r gives one more worker to every node with more than r slots. */
        for (left = n, round = 0; left > 0; round++)
            for (i = 0; i < nl->nl_n && left > 0; i++)
                if (nl->nl_v[i].nd_slots > round) {
                    give[i]++;
                    left--;
                }
    }
    for (i = 0, j = 0; i < nl->nl_n; i++) {
        if (give[i] == 0) {
            free(nl->nl_v[i].nd_host);
            free(nl->nl_v[i].nd_user);
            continue;
        }
        nl->nl_v[j] = nl->nl_v[i];
        nl->nl_v[j].nd_slots =
            give[i] > NWSP_NODE_MAX_SLOTS ? NWSP_NODE_MAX_SLOTS : give[i];
        j++;
    }
    nl->nl_n = j;
    free(give);
}

/* The list in entry syntax: a new string, or NULL. */
char *
nwsp_nodes_format(const struct nwsp_nodes *nl)
{
    size_t i, len = 1, off = 0;
    char  *s;
    int    n;

    for (i = 0; i < nl->nl_n; i++)
        len += strlen(nl->nl_v[i].nd_host) +
               (nl->nl_v[i].nd_user ? strlen(nl->nl_v[i].nd_user) + 1 : 0) + 12;
    if ((s = malloc(len)) == NULL)
        return NULL;
    s[0] = '\0';
    for (i = 0; i < nl->nl_n; i++) {
        const struct nwsp_node *v = &nl->nl_v[i];
        int                     v6 = strchr(v->nd_host, ':') != NULL;

        n = snprintf(s + off, len - off, "%s%s%s%s%s%s:%ld", i ? "," : "",
                     v->nd_user ? v->nd_user : "", v->nd_user ? "@" : "", v6 ? "[" : "",
                     v->nd_host, v6 ? "]" : "", v->nd_slots);
        if (n < 0 || (size_t)n >= len - off) {
            free(s);
            return NULL;
        }
        off += (size_t)n;
    }
    return s;
}
