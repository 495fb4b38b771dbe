/*
 * list.c -- `list wss` and `list vars`, parsed into structs (sections 7.7, 7.8).
 *
 * Both listings are tab-separated text.  The parsers are strict about the
 * shape (field counts, numbers, the ' '/'>' mark) and report a malformed
 * listing as NWS_ERR_PROTOCOL; the connection stays usable, since the
 * reply itself was framed correctly.  The raw text is kept as well.  The
 * network calls are lax instead: a name with a TAB or LF (which older
 * servers allowed) breaks its own line only, so that line is skipped and
 * counted rather than failing everyone's listing.
 */
#include <stdlib.h>
#include <string.h>

#include "nwsp.h"

/* Returns a new NUL-terminated copy of [s, s + n), or NULL. */
static char *
list_strndup(const char *s, size_t n)
{
    char *p = malloc(n + 1);

    if (p != NULL) {
        memcpy(p, s, n);
        p[n] = '\0';
    }
    return p;
}

/* Frees the list and everything in it; NULL is fine. */
void
nws_ws_list_free(nws_ws_list *l)
{
    size_t i, j;

    if (l == NULL)
        return;
    for (i = 0; i < l->count; i++) {
        free(l->items[i].name);
        free(l->items[i].owner);
        for (j = 0; j < l->items[i].nvars_listed; j++)
            free(l->items[i].vars[j]);
        free(l->items[i].vars);
    }
    free(l->items);
    free(l->raw);
    free(l);
}

/* Frees the list and everything in it; NULL is fine. */
void
nws_var_list_free(nws_var_list *l)
{
    size_t i;

    if (l == NULL)
        return;
    for (i = 0; i < l->count; i++) {
        free(l->items[i].name);
        free(l->items[i].mode);
    }
    free(l->items);
    free(l->raw);
    free(l);
}

/* Counts the lines of [s, e) (an unterminated last line counts). */
static size_t
list_lines(const char *s, const char *e)
{
    size_t n = 0;

    for (; s < e; n++) {
        const char *nl = memchr(s, '\n', (size_t)(e - s));

        s = nl != NULL ? nl + 1 : e;
    }
    return n;
}

/* Splits the next tab-separated field off [*s, e) into f and flen; 0, or -1 if no tab. */
static int
list_field(const char **s, const char *e, const char **f, size_t *flen)
{
    const char *t = memchr(*s, '\t', (size_t)(e - *s));

    if (t == NULL)
        return -1;
    *f = *s;
    *flen = (size_t)(t - *s);
    *s = t + 1;
    return 0;
}

/* Parses one `list wss` line [s, e) into wi; 0, -1 malformed, -2 no memory. */
static int
list_ws_line(const char *s, const char *e, nws_ws_info *wi)
{
    const char *f, *name, *owner, *per;
    size_t      flen, nlen, olen, plen, n;
    uint64_t    nvars;

    if (s == e || (*s != ' ' && *s != '>'))
        return -1;
    wi->mine = *s++ == '>';
    if (list_field(&s, e, &name, &nlen) != 0 || list_field(&s, e, &owner, &olen) != 0 ||
        list_field(&s, e, &per, &plen) != 0 || list_field(&s, e, &f, &flen) != 0)
        return -1;
    if (nwsp_parse_u64(f, flen, SIZE_MAX, &nvars) != 0)
        return -1;
    if (plen == 4 && memcmp(per, "True", 4) == 0)
        wi->persistent = 1;
    else if (!(plen == 5 && memcmp(per, "False", 5) == 0))
        return -1;
    wi->nvars = (size_t)nvars;
    if ((wi->name = list_strndup(name, nlen)) == NULL ||
        (wi->owner = list_strndup(owner, olen)) == NULL)
        return -2;
    /* The rest is the comma-joined variable list, empty when there are none. */
    if (s == e)
        return 0;
    for (n = 1, f = s; (f = memchr(f, ',', (size_t)(e - f))) != NULL; f++)
        n++;
    if ((wi->vars = calloc(n, sizeof(char *))) == NULL)
        return -2;
    while (wi->nvars_listed < n) {
        const char *c = memchr(s, ',', (size_t)(e - s));

        if (c == NULL)
            c = e;
        if ((wi->vars[wi->nvars_listed] = list_strndup(s, (size_t)(c - s))) == NULL)
            return -2;
        wi->nvars_listed++;
        s = c + 1;
    }
    return 0;
}

/* Parses `list wss` text; a new list, or NULL.  lax: skip malformed lines. */
static nws_ws_list *
list_ws_parse(const char *text, size_t len, int lax, nws_error *err)
{
    const char  *s = text, *e = text + len, *nl;
    nws_ws_list *l;
    size_t       n;
    int          rc;

    nwsp_err_clear(err);
    if (text == NULL && len > 0) {
        nwsp_err_set(err, NWS_ERR_INVALID, 0, "NULL text");
        return NULL;
    }
    if ((l = calloc(1, sizeof(*l))) == NULL || (l->raw = list_strndup(s, len)) == NULL)
        goto nomem;
    l->raw_len = len;
    if (e > s && e[-1] == '\n')
        e--; /* every line ends with LF: drop the last one */
    n = list_lines(s, e);
    if (n > 0 && (l->items = calloc(n, sizeof(*l->items))) == NULL)
        goto nomem;
    for (; s < e; s = nl + 1) {
        if ((nl = memchr(s, '\n', (size_t)(e - s))) == NULL)
            nl = e;
        if (nl == s)
            continue; /* the "\n" of an unknown name */
        rc = list_ws_line(s, nl, &l->items[l->count]);
        if (rc == -1 && lax) {
            /* list_ws_line allocates nothing before it finds a line malformed. */
            memset(&l->items[l->count], 0, sizeof(l->items[0]));
            l->skipped++;
            continue;
        }
        l->count++;
        if (rc == -2)
            goto nomem;
        if (rc != 0) {
            nwsp_err_set(err, NWS_ERR_PROTOCOL, 0, "malformed workspace listing line %zu",
                         l->count);
            nws_ws_list_free(l);
            return NULL;
        }
    }
    return l;
nomem:
    nws_ws_list_free(l);
    nwsp_err_set(err, NWS_ERR_NOMEM, 0, "out of memory");
    return NULL;
}

nws_ws_list *
nws_ws_list_parse(const char *text, size_t len, nws_error *err)
{
    return list_ws_parse(text, len, 0, err);
}

/* Parses one `list vars` line [s, e) into vi; 0, -1 malformed, -2 no memory. */
static int
list_var_line(const char *s, const char *e, nws_var_info *vi)
{
    const char *t[4], *p = e;
    uint64_t   *nums[3] = {&vi->values, &vi->fetchers, &vi->finders};
    int         i;

    /* Split from the right: the four last fields never hold a TAB, a name might. */
    for (i = 3; i >= 0; i--) {
        while (p > s && p[-1] != '\t')
            p--;
        if (p == s)
            return -1;
        t[i] = --p;
    }
    for (i = 0; i < 3; i++)
        if (nwsp_parse_u64(t[i] + 1, (size_t)(t[i + 1] - t[i] - 1), UINT64_MAX, nums[i]) != 0)
            return -1;
    if ((vi->name = list_strndup(s, (size_t)(t[0] - s))) == NULL ||
        (vi->mode = list_strndup(t[3] + 1, (size_t)(e - t[3] - 1))) == NULL)
        return -2;
    return 0;
}

/* Parses `list vars` text; a new list, or NULL.  lax: skip malformed lines. */
static nws_var_list *
list_var_parse(const char *text, size_t len, int lax, nws_error *err)
{
    const char   *s = text, *e = text + len, *nl;
    nws_var_list *l;
    size_t        n;
    int           rc;

    nwsp_err_clear(err);
    if (text == NULL && len > 0) {
        nwsp_err_set(err, NWS_ERR_INVALID, 0, "NULL text");
        return NULL;
    }
    if ((l = calloc(1, sizeof(*l))) == NULL || (l->raw = list_strndup(s, len)) == NULL)
        goto nomem;
    l->raw_len = len;
    if (e > s && e[-1] == '\n')
        e--; /* the reference joins lines without a final LF; accept one anyway */
    n = list_lines(s, e);
    if (n > 0 && (l->items = calloc(n, sizeof(*l->items))) == NULL)
        goto nomem;
    for (; s < e; s = nl + 1) {
        if ((nl = memchr(s, '\n', (size_t)(e - s))) == NULL)
            nl = e;
        rc = list_var_line(s, nl, &l->items[l->count]);
        if (rc == -1 && lax) {
            memset(&l->items[l->count], 0, sizeof(l->items[0]));
            l->skipped++;
            continue;
        }
        l->count++;
        if (rc == -2)
            goto nomem;
        if (rc != 0) {
            nwsp_err_set(err, NWS_ERR_PROTOCOL, 0, "malformed variable listing line %zu",
                         l->count);
            nws_var_list_free(l);
            return NULL;
        }
    }
    return l;
nomem:
    nws_var_list_free(l);
    nwsp_err_set(err, NWS_ERR_NOMEM, 0, "out of memory");
    return NULL;
}

nws_var_list *
nws_var_list_parse(const char *text, size_t len, nws_error *err)
{
    return list_var_parse(text, len, 0, err);
}

/* Sends a listing request (argc args already begun) and reads its text; new value or NULL. */
static nws_value *
list_fetch(nws_client *c, nws_error *err)
{
    struct nwsp_reply r;

    if (nwsp_req_send(c, err) != 0 || nwsp_reply_header(c, 1, 1, &r, err) != 1 ||
        nwsp_reply_classify(c, &r, 0, err) != 1)
        return NULL;
    return nwsp_reply_value(c, &r, err);
}

/* `list wss [name]`: a new parsed list, or NULL. */
nws_ws_list *
nws_list_wss(nws_client *c, const char *name, nws_error *err)
{
    nws_ws_list *l;
    nws_value   *v;

    nwsp_err_clear(err);
    if (nwsp_conn_check(c, err) != 0 || nwsp_req_begin(c, name ? 2 : 1, NULL, err) != 0 ||
        nwsp_req_str(c, "list wss", err) != 0 ||
        (name != NULL && nwsp_req_str(c, name, err) != 0) ||
        (v = list_fetch(c, err)) == NULL)
        return NULL;
    l = list_ws_parse(v->data, v->len, 1, err);
    nws_value_free(v);
    return l;
}

/* `list vars ws`: a new parsed list, or NULL. */
nws_var_list *
nws_list_vars(nws_ws *ws, nws_error *err)
{
    nws_var_list *l;
    nws_value    *v;

    nwsp_err_clear(err);
    if (ws == NULL) {
        nwsp_err_set(err, NWS_ERR_INVALID, 0, "NULL workspace handle");
        return NULL;
    }
    if (nwsp_conn_check(ws->c, err) != 0 || nwsp_req_begin(ws->c, 2, NULL, err) != 0 ||
        nwsp_req_str(ws->c, "list vars", err) != 0 ||
        nwsp_req_str(ws->c, ws->name, err) != 0 || (v = list_fetch(ws->c, err)) == NULL)
        return NULL;
    l = list_var_parse(v->data, v->len, 1, err);
    nws_value_free(v);
    return l;
}
