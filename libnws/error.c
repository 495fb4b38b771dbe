/*
 * error.c -- the nws_error rules: cleared on entry to each public call, the
 * first error recorded wins, nothing is allocated on the error path.
 */
#include <stdio.h>
#include <string.h>

#include "nwsp.h"

/* Resets err to "no error"; err may be NULL. */
void
nwsp_err_clear(nws_error *err)
{
    if (err == NULL)
        return;
    err->code = NWS_ERR_NONE;
    err->status = 0;
    err->text[0] = '\0';
}

/* Fills err unless it already holds an error, so the root cause survives. */
void
nwsp_err_set(nws_error *err, int code, int status, const char *fmt, ...)
{
    va_list ap;

    if (err == NULL || err->code != NWS_ERR_NONE)
        return;
    err->code = code;
    err->status = status;
    va_start(ap, fmt);
    vsnprintf(err->text, sizeof(err->text), fmt, ap);
    va_end(ap);
}

/* Returns a static name for code; never NULL. */
const char *
nws_errcode_str(int code)
{
    switch (code) {
    case NWS_ERR_NONE:
        return "no error";
    case NWS_ERR_SERVER:
        return "server error";
    case NWS_ERR_CONNECT:
        return "cannot connect";
    case NWS_ERR_HANDSHAKE:
        return "handshake failed";
    case NWS_ERR_IO:
        return "I/O error";
    case NWS_ERR_CLOSED:
        return "connection closed";
    case NWS_ERR_TIMEOUT:
        return "timed out";
    case NWS_ERR_PROTOCOL:
        return "protocol error";
    case NWS_ERR_TOO_LARGE:
        return "too large";
    case NWS_ERR_NOMEM:
        return "out of memory";
    case NWS_ERR_INVALID:
        return "invalid argument";
    case NWS_ERR_TYPE:
        return "wrong value type";
    case NWS_ERR_UNSUPPORTED:
        return "not supported";
    case NWS_ERR_NO_VALUE:
        return "no value";
    case NWS_ERR_SESSION:
        return "session lost";
    }
    return "unknown error";
}
