/*
 * util.c -- the sleigh command's small helpers: messages, allocation that
 * dies on failure, writes, a growable string with shell quoting, counts.
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "sl.h"

const char *sl_prog = "sleigh";

/* Prints "sleigh: ..." and a newline to stderr. */
void
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
void
sl_nomem(void)
{
    sl_warnx("out of memory");
    exit(SL_EXIT_ERROR);
}

/* malloc that dies on failure. */
void *
sl_malloc(size_t n)
{
    void *p = malloc(n != 0 ? n : 1);

    if (p == NULL)
        sl_nomem();
    return p;
}

/* realloc of an array of n items of size sz, dying on failure or overflow. */
void *
sl_reallocarray(void *p, size_t n, size_t sz)
{
    if (sz != 0 && n > SIZE_MAX / sz)
        sl_nomem();
    if ((p = realloc(p, n * sz != 0 ? n * sz : 1)) == NULL)
        sl_nomem();
    return p;
}

/* strdup that dies on failure. */
char *
sl_strdup(const char *s)
{
    char *p = strdup(s);

    if (p == NULL)
        sl_nomem();
    return p;
}

/* Writes all of buf to fd; 0, or -1 (errno set). */
int
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
/* Appends n bytes of s. */
void
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
void
sl_buf_adds(struct sl_buf *b, const char *s)
{
    sl_buf_add(b, s, strlen(s));
}

/*
 * Appends n bytes of s single-quoted for /bin/sh, a quote as '"'"' (GNU
 * parallel's spelling, so that --dry-run, -v and the joblog read the same).
 */
static void
sl_buf_add_quoted(struct sl_buf *b, const char *s, size_t n)
{
    size_t i, start = 0;

    sl_buf_add(b, "'", 1);
    for (i = 0; i < n; i++) {
        if (s[i] == '\'') {
            sl_buf_add(b, s + start, i - start);
            sl_buf_add(b, "'\"'\"'", 5);
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
void
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
int
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
