/*
 * util.h -- small helpers shared by every part of the tree.
 *
 * libnws, sleigh/, worker/, nwsserver, the tests and the benchmarks all link
 * libnws.a (or are loaded next to it), so this is the one layer they all
 * depend on.  Nothing here holds state or touches a socket: clocks, time
 * conversions, a size parser, a growable argv and base64.  The time helpers
 * are static inline so that task modules (.so files built on their own)
 * can use them without linking anything.
 */
#ifndef NWS_UTIL_H
#define NWS_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/time.h>
#include <time.h>

/* Seconds on the monotonic clock (never jumps with the wall clock). */
static inline double
nwsp_mono(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Milliseconds on the monotonic clock. */
static inline uint64_t
nwsp_mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* ms milliseconds as a struct timeval (libevent timers, socket timeouts). */
static inline struct timeval
nwsp_ms_timeval(long ms)
{
    struct timeval tv;

    tv.tv_sec = (time_t)(ms / 1000);
    tv.tv_usec = (suseconds_t)((ms % 1000) * 1000);
    return tv;
}

/* ms milliseconds as a struct timespec (nanosleep, deadlines). */
static inline struct timespec
nwsp_ms_timespec(long ms)
{
    struct timespec ts;

    ts.tv_sec = (time_t)(ms / 1000);
    ts.tv_nsec = (long)(ms % 1000) * 1000000L;
    return ts;
}

/* Sleeps ms milliseconds (once: a signal may end it early, as callers expect). */
static inline void
nwsp_sleep_ms(long ms)
{
    struct timespec ts = nwsp_ms_timespec(ms);

    nanosleep(&ts, NULL);
}

/*
 * Parses a byte count: decimal digits, an optional k/m/g/t suffix (any case,
 * powers of 1024), then after a suffix an optional "B", "b" or "iB".  Sets
 * *out and returns 0; -1 (and *out untouched) when malformed or above max.
 */
int nwsp_parse_size(const char *s, uint64_t max, uint64_t *out);

/*
 * Appends a copy of s to the NULL-terminated vector *v of *n entries
 * (*v may be NULL with *n 0); 0, or -1 when out of memory (the vector
 * stays valid and terminated).
 */
int nwsp_vec_add(char ***v, size_t *n, const char *s);

/* Frees a NULL-terminated vector and its strings; NULL is fine. */
void nwsp_vec_free(char **v);

/* Base64 (standard alphabet, padded) of len bytes: a new string, or NULL. */
char *nwsp_b64_encode(const void *p, size_t len);

/*
 * Decodes base64 up to the first '=' (padding optional, anything after the
 * first '=' ignored); any other byte outside the alphabet, whitespace
 * included, fails.  Returns a new NUL-terminated buffer and its length in
 * *len (len may be NULL), or NULL.
 */
char *nwsp_b64_decode(const char *s, size_t *len);

#endif
