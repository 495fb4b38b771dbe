/*
 * xmalloc.c -- allocation for small internal objects.
 *
 * A failure here means the process cannot go on (tmux's policy): it is only
 * used for bookkeeping, never for sizes a client chose.  Client-sized memory
 * (values) goes through value.c, which refuses instead of dying.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server.h"

void *
xmalloc(size_t n)
{
    void *p = malloc(n == 0 ? 1 : n);

    if (p == NULL)
        fatal("xmalloc %zu bytes", n);
    return p;
}

void *
xcalloc(size_t n, size_t size)
{
    void *p = calloc(n == 0 ? 1 : n, size == 0 ? 1 : size);

    if (p == NULL)
        fatal("xcalloc %zu x %zu bytes", n, size);
    return p;
}

void *
xrealloc(void *old, size_t n)
{
    void *p = realloc(old, n == 0 ? 1 : n);

    if (p == NULL)
        fatal("xrealloc %zu bytes", n);
    return p;
}

/* Returns a NUL-terminated copy of the len bytes at s. */
char *
xstrndup(const char *s, size_t len)
{
    char *p = xmalloc(len + 1);

    memcpy(p, s, len);
    p[len] = '\0';
    return p;
}

void *
xmemdup(const void *s, size_t len)
{
    void *p = xmalloc(len);

    memcpy(p, s, len);
    return p;
}

int
xasprintf(char **out, const char *fmt, ...)
{
    va_list ap;
    int     n;

    va_start(ap, fmt);
    n = vasprintf(out, fmt, ap);
    va_end(ap);
    if (n < 0)
        fatal("xasprintf");
    return n;
}
