/*
 * ptest.h -- Check assertions on top of rawc for the protocol suites.
 *
 * Every helper fails the running test (with the caller's line number in the
 * message) when the server deviates from nws-protocol.md; the PT_* macros
 * pass __LINE__ and end the argument list for the variadic helpers.
 *
 * Servers are started through ptest_start(), which keeps them in a static
 * pool: a test that fails half way exits its forked process without running
 * its teardown, so an atexit handler stops whatever is still running.
 */
#ifndef PTEST_H
#define PTEST_H

#include <stddef.h>
#include <stdint.h>

#include "nwstest.h"
#include "rawc.h"

/* Timeout (ms) for anything that must happen "soon". */
#define PTEST_SOON_MS 5000

/* Start a server (extra: NULL-terminated arguments, may be NULL); asserts. */
struct nwstest_server *ptest_start(const char *const *extra);

/* SIGTERM the server and assert that it exited with status 0. */
void ptest_stop(struct nwstest_server *s);

/* Wait up to ms for the server to exit on its own; returns the wait status or -1. */
int ptest_wait_exit(struct nwstest_server *s, int ms);

/* Open and greet a client; asserts. */
void ptest_open(int line, struct rawc *c, int port, enum rawc_kind kind);

/* Assert a rawc call succeeded (rc == 0), showing c->err otherwise. */
void ptest_rc(int line, struct rawc *c, int rc);

/*
 * Send the request (NUL-terminated arguments, NULL at the end) and assert a
 * short reply with status st.  With MetadataFromServer the reply DICT must be
 * exactly {} for a success without why, else exactly {nwsReason: why}.
 */
void ptest_short(int line, struct rawc *c, const char *meta, int st, const char *why,
                 ...);

/* Send the request and read a long reply into r (framing asserted). */
void ptest_long(int line, struct rawc *c, const char *meta, struct rawc_reply *r, ...);

/*
 * Assert r is a successful long reply holding desc and the len bytes val;
 * with MetadataFromServer its DICT must equal meta (NULL means {}).
 */
void ptest_is_value(int line, struct rawc *c, const struct rawc_reply *r, int64_t desc,
                    const void *val, size_t len, const char *meta);

/*
 * Assert r is a long error of section 4.4: status st, D20(0) descriptor,
 * blank cookie, D20(0) length, and {nwsReason: why} with metadata.
 */
void ptest_is_error(int line, struct rawc *c, const struct rawc_reply *r, int st,
                    const char *why);

/* Assert a short reply r: status st and reason why as in ptest_short. */
void ptest_is_short(int line, struct rawc *c, const struct rawc_reply *r, int st,
                    const char *why);

/*
 * Assert r is server-made text (a listing or a mktemp name, section 4.1):
 * status 0, descriptor 1, blank cookie (20 spaces, D20(0)), {} metadata.
 */
void ptest_is_text(int line, struct rawc *c, const struct rawc_reply *r, const char *val);

/* Send a request and check the long reply against a DIRECT_STRING value. */
void ptest_value(int line, struct rawc *c, const char *val, ...);

/* Send a request and check the long reply is an error. */
void ptest_lerr(int line, struct rawc *c, int st, const char *why, ...);

/*
 * The list vars line of var in ws ("" if var is not listed), copied into
 * buf.  c must have opened ws.
 */
char *ptest_varline(int line, struct rawc *c, const char *ws, const char *var, char *buf,
                    size_t cap);

/* Poll list vars until var has nfetch blocked fetchers and nfind finders. */
void ptest_wait_waiters(int line, struct rawc *c, const char *ws, const char *var,
                        int nfetch, int nfind);

/* Poll list wss until workspace ws exists (want 1) or not (want 0). */
void ptest_wait_ws(int line, struct rawc *c, const char *ws, int want);

/*
 * Number of regular files of at least min bytes under dir (recursively);
 * the sizes are added to *total if total is not NULL.  -1 if dir is unreadable.
 */
long ptest_files(const char *dir, long long min, long long *total);

/* Poll until ptest_files(dir, min) == want; returns the last count. */
long ptest_wait_files(const char *dir, long long min, long want);

/*
 * Temp files of a running server of at least min bytes: those under its
 * --tmpdir plus those it holds open there after unlinking them (seen
 * through /proc/<pid>/fd), each counted once; sizes are added to *total.
 * With NWSTEST_JOURNAL, the spooled values' files in the journal DIR too.
 */
long ptest_spool_files(const struct nwstest_server *s, long long min, long long *total);

/* Poll until ptest_spool_files(s, min) == want; returns the last count. */
long ptest_wait_spool(const struct nwstest_server *s, long long min, long want);

/* A 64-bit FNV-1a digest, continued from h (start with PTEST_FNV_INIT). */
#define PTEST_FNV_INIT 0xcbf29ce484222325ULL
uint64_t ptest_fnv(uint64_t h, const void *buf, size_t len);

/* Fill buf with the deterministic test pattern for offset off onwards. */
void ptest_pattern(void *buf, size_t len, uint64_t off);

#define PT_OPEN(c, port, kind) ptest_open(__LINE__, (c), (port), (kind))
#define PT_RC(c, rc)           ptest_rc(__LINE__, (c), (rc))
#define PT_OK(c, ...)                                                                    \
    ptest_short(__LINE__, (c), NULL, 0, NULL, __VA_ARGS__, (const char *)NULL)
#define PT_OK_M(c, meta, ...)                                                            \
    ptest_short(__LINE__, (c), (meta), 0, NULL, __VA_ARGS__, (const char *)NULL)
#define PT_SHORT(c, st, why, ...)                                                        \
    ptest_short(__LINE__, (c), NULL, (st), (why), __VA_ARGS__, (const char *)NULL)
#define PT_SHORT_M(c, meta, st, why, ...)                                                \
    ptest_short(__LINE__, (c), (meta), (st), (why), __VA_ARGS__, (const char *)NULL)
#define PT_LONG(c, r, ...)                                                               \
    ptest_long(__LINE__, (c), NULL, (r), __VA_ARGS__, (const char *)NULL)
#define PT_LONG_M(c, meta, r, ...)                                                       \
    ptest_long(__LINE__, (c), (meta), (r), __VA_ARGS__, (const char *)NULL)
#define PT_VALUE(c, val, ...)                                                            \
    ptest_value(__LINE__, (c), (val), __VA_ARGS__, (const char *)NULL)
#define PT_LERR(c, st, why, ...)                                                         \
    ptest_lerr(__LINE__, (c), (st), (why), __VA_ARGS__, (const char *)NULL)
#define PT_NOVAL(c, ...) PT_LERR((c), 1, "no value available", __VA_ARGS__)
#define PT_IS_VALUE(c, r, desc, val, len, meta)                                          \
    ptest_is_value(__LINE__, (c), (r), (desc), (val), (len), (meta))
#define PT_IS_STR(c, r, val)                                                             \
    ptest_is_value(__LINE__, (c), (r), 1, (val), strlen(val), NULL)
#define PT_IS_TEXT(c, r, val)      ptest_is_text(__LINE__, (c), (r), (val))
#define PT_IS_ERROR(c, r, st, why) ptest_is_error(__LINE__, (c), (r), (st), (why))
#define PT_IS_SHORT(c, r, st, why) ptest_is_short(__LINE__, (c), (r), (st), (why))
#define PT_VARLINE(c, ws, var, buf)                                                      \
    ptest_varline(__LINE__, (c), (ws), (var), (buf), sizeof(buf))
#define PT_WAIT_WAITERS(c, ws, var, nfetch, nfind)                                       \
    ptest_wait_waiters(__LINE__, (c), (ws), (var), (nfetch), (nfind))
#define PT_WAIT_WS(c, ws, want) ptest_wait_ws(__LINE__, (c), (ws), (want))

#endif
