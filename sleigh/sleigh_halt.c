/*
 * sleigh_halt.c -- the halt policy of a batch (nws_sleigh_halt): GNU
 * parallel's --halt syntax, and whether a batch's counts strike it.
 * sleigh_batch.c acts on it (stops submitting, ends the batch).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "nwsp.h"
#include "sleighp.h"

int
nws_sleigh_halt_parse(const char *spec, nws_sleigh_halt *h, nws_error *err)
{
    const char *p, *eq;
    char       *end;
    size_t      wl;
    double      n;

    nwsp_err_clear(err);
    if (spec == NULL || h == NULL) {
        nwsp_err_set(err, NWS_ERR_INVALID, 0, "NULL argument");
        return -1;
    }
    memset(h, 0, sizeof(*h));
    h->count = 1;
    /* The old numeric forms. */
    if (strcmp(spec, "never") == 0 || strcmp(spec, "0") == 0) {
        h->when = NWS_SLEIGH_HALT_NEVER;
        return 0;
    }
    if (strcmp(spec, "1") == 0 || strcmp(spec, "-1") == 0 || strcmp(spec, "2") == 0 ||
        strcmp(spec, "-2") == 0) {
        h->when = spec[strlen(spec) - 1] == '1' ? NWS_SLEIGH_HALT_SOON : NWS_SLEIGH_HALT_NOW;
        h->what = spec[0] == '-' ? NWS_SLEIGH_HALT_SUCCESS : NWS_SLEIGH_HALT_FAIL;
        return 0;
    }
    if (strncmp(spec, "now,", 4) == 0) {
        h->when = NWS_SLEIGH_HALT_NOW;
        p = spec + 4;
    } else if (strncmp(spec, "soon,", 5) == 0) {
        h->when = NWS_SLEIGH_HALT_SOON;
        p = spec + 5;
    } else {
        goto bad;
    }
    if ((eq = strchr(p, '=')) == NULL)
        goto bad;
    wl = (size_t)(eq - p);
    if (wl == 4 && strncmp(p, "fail", 4) == 0)
        h->what = NWS_SLEIGH_HALT_FAIL;
    else if (wl == 7 && strncmp(p, "success", 7) == 0)
        h->what = NWS_SLEIGH_HALT_SUCCESS;
    else if (wl == 4 && strncmp(p, "done", 4) == 0)
        h->what = NWS_SLEIGH_HALT_DONE;
    else
        goto bad;
    errno = 0;
    n = strtod(eq + 1, &end);
    if (errno != 0 || end == eq + 1 || eq[1] == '-' || eq[1] == '+')
        goto bad;
    if (*end == '%') {
        h->percent = 1;
        end++;
    }
    if (*end != '\0' || !(n > 0) || (h->percent && n > 100) ||
        (!h->percent && (n > 1e15 || (double)(long long)n != n)))
        goto bad;
    h->count = n;
    return 0;
bad:
    memset(h, 0, sizeof(*h));
    nwsp_err_set(err, NWS_ERR_INVALID, 0,
                 "halt: want never, or now|soon,fail|success|done=N or =N%%: %s", spec);
    return -1;
}

int
nwsp_sleigh_halt_hit(const nws_sleigh_halt *h, size_t errors, size_t collected,
                     size_t nelems)
{
    size_t n;
    double want;

    if (h->when == NWS_SLEIGH_HALT_NEVER)
        return 0;
    n = h->what == NWS_SLEIGH_HALT_FAIL      ? errors
        : h->what == NWS_SLEIGH_HALT_SUCCESS ? collected - errors
                                             : collected;
    want = h->percent ? h->count * (double)nelems / 100 : h->count;
    if ((double)(long long)want < want)
        want = (double)((long long)want + 1); /* a part of an element is one more */
    if (want < 1)
        want = 1;
    return (double)n >= want;
}
