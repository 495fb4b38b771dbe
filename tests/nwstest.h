/*
 * nwstest.h -- shared pieces of the Check test suite.
 *
 * Every tests/check_<module>.c defines its suites with NWSTEST_SUITE(); they
 * register themselves before main() runs, and check_main.c runs them all in
 * one SRunner, so `make check` ends with one Check summary line.
 * Narrow a run with CK_RUN_SUITE / CK_RUN_CASE as usual.
 */
#ifndef NWSTEST_H
#define NWSTEST_H

#include <check.h>
#include <stddef.h>
#include <sys/types.h>

typedef Suite *(*nwstest_suite_fn)(void);

void nwstest_register(nwstest_suite_fn fn);

#define NWSTEST_SUITE(name)                                                      \
    static Suite *name##_suite(void);                                           \
    __attribute__((constructor)) static void name##_register(void)              \
    {                                                                            \
        nwstest_register(name##_suite);                                          \
    }                                                                            \
    static Suite *name##_suite(void)

/* A real nwsserver process started for a test, on ports the OS picked. */
struct nwstest_server {
    pid_t pid;
    int   port;
    int   web_port;
    char  tmpdir[256];
    char  jdir[256]; /* NWSTEST_JOURNAL=1: the fresh --journal DIR, removed by stop */
};

/*
 * Start build/bin/nwsserver (found through $NWS_BIN_DIR) on 127.0.0.1 port 0
 * with the given extra arguments (NULL-terminated, may be NULL), and wait
 * for its "ready" line.  A private --tmpdir is made and removed by stop.
 * Returns 0, or -1 (the test should fail).
 */
int nwstest_server_start(struct nwstest_server *s, const char *const *extra);
/*
 * With NWSTEST_JOURNAL=1 in the environment (make check-journal), both
 * start functions also pass `--journal <a fresh directory>` (and
 * `--fsync $NWSTEST_FSYNC` when that is set), unless extra names a
 * --journal of its own: the protocol suites then run on a durable server.
 */
/*
 * Unless extra has --auth-file or --no-auth, nwstest_server_start adds
 * --no-auth, for the raw-protocol tests (and logs only errors, unless
 * NWS_TEST_LOG_LEVEL says otherwise); this one adds nothing, so the
 * server requires the secret of $NWS_AUTH_FILE or ~/.nws/secret, as it does
 * by default.  check_main.c points NWS_AUTH_FILE at a private file of the run.
 */
int nwstest_server_start_defaults(struct nwstest_server *s, const char *const *extra);

/* SIGTERM the server, wait for it, and return its exit status (or -1). */
int nwstest_server_stop(struct nwstest_server *s);

/* Full path of a built program: $NWS_BIN_DIR/name (static buffer per call site). */
const char *nwstest_bin(const char *name, char *buf, size_t len);

/* A TCP connection to 127.0.0.1:port, blocking, with a receive timeout (s). */
int nwstest_connect(int port, int timeout_s);

/* Write all of buf; 0 or -1. */
int nwstest_write_all(int fd, const void *buf, size_t len);

/* Read exactly len bytes; 0, or -1 on EOF/error/timeout. */
int nwstest_read_exact(int fd, void *buf, size_t len);

/* Returns 1 if the peer closed the connection (EOF within timeout_ms), else 0. */
int nwstest_peer_closed(int fd, int timeout_ms);

/*
 * The first process whose command line or environment holds the string s
 * (what another user, or ps e, might read), or 0 if none does.
 */
pid_t nwstest_proc_holding(const char *s);

/* A new unlinked temporary file, open read-write; fails the test if none. */
int nwstest_tmpfile(void);

/*
 * All of fd from its start, in a new NUL-terminated buffer (the caller
 * frees it); *len gets the size unless len is NULL.
 */
char *nwstest_slurp(int fd, size_t *len);

/*
 * The children of parent, except the process except (a test server, or 0),
 * zombies counted only when zombies is set; the first max pids go to pids
 * (which may be NULL when max is 0).  Returns how many.
 */
int nwstest_children(pid_t parent, pid_t except, pid_t *pids, int max, int zombies);

#endif
