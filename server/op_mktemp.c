/*
 * op_mktemp.c -- "mktemp ws" (sections 5.3, 7.5).
 *
 * A name is the template formatted with one number, as Python's "%" does
 * with a single int, followed by the server suffix.  Numbers come from the
 * global counter shared with workspace ids, so names are unique but not
 * consecutive.  The workspace is mapped for this connection but unowned.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server.h"

#define MKTEMP_TRIES 1000
#define MKTEMP_FLAGS 5 /* flag characters in one conversion: more is refused */

/* 1 if ch is one of set's characters (strchr would also match the NUL byte). */
static int
mktemp_in(const char *set, char ch)
{
    return ch != '\0' && strchr(set, ch) != NULL;
}

/*
 * Formats tmpl (len bytes) with n into a new string *out: exactly one
 * conversion among d i u o x X s r c e E f F g G, with flags, width and
 * precision; "%%" is a literal percent.  Returns 0, or -1 if the template is
 * bad (no conversion, several, '*' widths, mapping keys, unknown letters).
 */
int
mktemp_format(const char *tmpl, size_t len, uint64_t n, char **out)
{
    struct nwsp_buf b = {0};
    char            spec[40], conv = 0, piece[512];
    size_t          i = 0, k, start;
    int             nconv = 0, w;

    while (i < len) {
        if (tmpl[i] != '%') {
            if (nwsp_buf_add(&b, &tmpl[i++], 1) != 0)
                goto bad;
            continue;
        }
        if (i + 1 < len && tmpl[i + 1] == '%') {
            if (nwsp_buf_add(&b, "%", 1) != 0)
                goto bad;
            i += 2;
            continue;
        }
        /* One conversion: % [flags] [width] [.precision] [length] letter. */
        start = i++;
        for (k = 0; i < len && mktemp_in("#0- +", tmpl[i]); i++)
            if (++k > MKTEMP_FLAGS)
                goto bad;
        for (k = 0; i < len && tmpl[i] >= '0' && tmpl[i] <= '9'; i++)
            if (++k > 3)
                goto bad;
        if (i < len && tmpl[i] == '.') {
            for (i++, k = 0; i < len && tmpl[i] >= '0' && tmpl[i] <= '9'; i++)
                if (++k > 3)
                    goto bad;
        }
        while (i < len && mktemp_in("hlL", tmpl[i]))
            i++;
        if (i >= len || !mktemp_in("diuoxXsrceEfFgG", tmpl[i]) || ++nconv > 1)
            goto bad;
        conv = tmpl[i++];
        /* spec = the flags, width and precision, then our own length and letter. */
        k = 0;
        spec[k++] = '%';
        for (size_t j = start + 1; j < i - 1; j++)
            if (!mktemp_in("hlL", tmpl[j]))
                spec[k++] = tmpl[j];
        spec[k] = '\0';
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
        switch (conv) {
        case 'd': case 'i': case 'u':
            /* Signed, as Python formats an int: flags such as '+' apply. */
            strcat(spec, "lld");
            w = snprintf(piece, sizeof(piece), spec, (long long)n);
            break;
        case 'o': case 'x': case 'X':
            spec[k] = 'l';
            spec[k + 1] = 'l';
            spec[k + 2] = conv;
            spec[k + 3] = '\0';
            w = snprintf(piece, sizeof(piece), spec, (unsigned long long)n);
            break;
        case 's': case 'r': {
            char num[32];

            snprintf(num, sizeof(num), "%llu", (unsigned long long)n);
            strcat(spec, "s");
            w = snprintf(piece, sizeof(piece), spec, num);
            break;
        }
        case 'c':
            if (n > 255)
                goto bad;
            strcat(spec, "c");
            w = snprintf(piece, sizeof(piece), spec, (int)n);
            break;
        default:
            spec[k] = conv;
            spec[k + 1] = '\0';
            w = snprintf(piece, sizeof(piece), spec, (double)n);
            break;
        }
#pragma GCC diagnostic pop
        if (w < 0 || (size_t)w >= sizeof(piece) || nwsp_buf_add(&b, piece, (size_t)w) != 0)
            goto bad;
    }
    if (nconv != 1 || nwsp_buf_add(&b, "", 1) != 0)
        goto bad;
    *out = b.data;
    return 0;
bad:
    nwsp_buf_free(&b);
    return -1;
}

static enum cmd_ret
op_mktemp_exec(struct request *rq)
{
    const char *tmpl = rq->rq_argc == 2 ? rq->rq_arg[1] : "__ws__%d";
    size_t      tlen = rq->rq_argc == 2 ? rq->rq_len[1] : 8, nlen;
    int         shown = (int)(tlen > 256 ? 256 : tlen), i;
    char       *base, *name;
    struct ws  *ws;

    if (request_ctl_at(tmpl, tlen) >= 0) {
        request_error(rq, NWSP_STATUS_FAIL, "mktemp: bad template \"%.*s\".", shown, tmpl);
        return CMD_DONE;
    }
    for (i = 0; i < MKTEMP_TRIES; i++) {
        if (mktemp_format(tmpl, tlen, ++srv.counter, &base) != 0) {
            request_error(rq, NWSP_STATUS_FAIL, "mktemp: bad template \"%.*s\".", shown,
                          tmpl);
            return CMD_DONE;
        }
        nlen = (size_t)xasprintf(&name, "%s%s", base, srv.suffix);
        free(base);
        if (nlen > NWS_MAX_NAME) {
            free(name);
            request_error(rq, NWSP_STATUS_FAIL, "Name too long (at most %d bytes).",
                          NWS_MAX_NAME);
            return CMD_DONE;
        }
        /* A %c conversion may make a control character: try the next number. */
        if (request_ctl_at(name, nlen) < 0 && ws_find(name, nlen) == NULL) {
            if (!ws_fits(nlen)) {
                free(name);
                request_error(rq, NWSP_STATUS_FAIL, "Server memory limit reached.");
                return CMD_DONE;
            }
            ws = ws_create_typed(name, nlen, rq->rq_meta, rq->rq_metalen);
            conn_map_ws(rq->rq_conn, ws);
            reply_text(rq->rq_conn, name, nlen);
            free(name);
            return CMD_DONE;
        }
        free(name);
    }
    request_error(rq, NWSP_STATUS_FAIL,
                  "mktemp: failed to generate unique name using \"%.*s\".", shown, tmpl);
    return CMD_DONE;
}

const struct command op_mktemp_ws = {
    .name = "mktemp ws",
    .min_argc = 1,
    .max_argc = 2,
    .long_reply = 1,
    .exec = op_mktemp_exec,
};
