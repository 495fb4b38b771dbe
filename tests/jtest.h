/*
 * jtest.h -- helpers of the journal suites (tests/check_journal*.c).
 *
 * The journal tests need what nwstest_server_start does not give: a server
 * that keeps its --journal DIR and its port across a SIGKILL and a restart,
 * its log (stderr) kept in a file to look for the journal's log lines, a
 * start that may legitimately fail (a corrupt journal must refuse), and
 * `nwsserver --journal-check` runs with their exit status and output.
 */
#ifndef JTEST_H
#define JTEST_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct rawc;

/* One durable server: dir and port survive jsrv_kill9 and a new jsrv_start. */
struct jsrv {
    pid_t       pid;
    int         port;      /* 0 before the first start: the OS picks, then kept */
    int         status;    /* wait status once it exited */
    char        base[256]; /* private directory holding the three below */
    char        dir[300];  /* the --journal DIR */
    char        tmp[300];  /* the --tmpdir */
    char        log[300];  /* stderr of every start, appended */
    const char *fsync;     /* --fsync policy; NULL: the server's default */
};

/*
 * Make a fresh private directory (under parent, or /tmp when NULL) with an
 * empty journal DIR in it; 0 or -1.
 */
int jsrv_init(struct jsrv *s, const char *parent, const char *fsync);

/*
 * Start nwsserver on s->dir and s->port (the same port again after the
 * first start) with the extra arguments (NULL-terminated, may be NULL).
 * Returns 0 once it printed its ready line, or -1 when it exited first
 * (s->status then holds its wait status: a refusal to start).
 */
int jsrv_start(struct jsrv *s, const char *const *extra);

/* SIGKILL the server and reap it: a crash. */
void jsrv_kill9(struct jsrv *s);

/* SIGTERM, reap; returns the wait status (or -1 if it had to be killed). */
int jsrv_stop(struct jsrv *s);

/* Stop it if running and remove s->base entirely. */
void jsrv_free(struct jsrv *s);

/* Truncate the log (so that later looks see only the next start). */
void jsrv_log_reset(struct jsrv *s);

/* 1 if the log holds needle. */
int jsrv_log_has(struct jsrv *s, const char *needle);

/*
 * The number after the last occurrence of prefix in the log ("journal: cut
 * torn tail at offset " gives N); -1 if the prefix is not there.
 */
long long jsrv_log_num(struct jsrv *s, const char *prefix);

/* The whole log, NUL-terminated (free it). */
char *jsrv_log_text(struct jsrv *s);

/* Its last n bytes (n < 4096), for failure messages: a static buffer. */
const char *jsrv_log_tail(struct jsrv *s, size_t n);

/*
 * Run nwsserver with argv (NULL-terminated, without the program name),
 * its stdout and stderr into out (NUL-terminated, truncated to outlen).
 * Returns its exit code, or -1 if it did not exit normally within 60 s.
 */
int jtest_nwsserver_run(char *out, size_t outlen, const char *const *argv);

/*
 * Open a connection (MetadataFromServer, so replies say why) and `use ws ws`
 * (unowned, kept); 0 or -1.
 */
int jtest_connect_ws(struct rawc *c, int port, const char *ws);

/* Store the string val into ws var; the reply status, or -1 on a broken link. */
int jtest_store(struct rawc *c, const char *ws, const char *var, const char *val);

/* The snapshot that dir's MANIFEST names ("" if none), into buf. */
void jtest_manifest_base(const char *dir, char *buf, size_t len);

/* Stores into ws until dir's MANIFEST names another snapshot than before
 * (a compaction with a tiny threshold ran): 0, or -1 after 10 s. */
int jtest_wait_snapshot(struct rawc *c, const char *dir, const char *ws);

/*
 * fetchTry (fetch = 1) or findTry (0) on ws var.  Returns 1 with the value
 * in buf (NUL-terminated, cut at len), 0 when there is none ("no value
 * available"), -1 on a broken link or any other error reply.
 */
int jtest_get(struct rawc *c, const char *ws, const char *var, int fetch, char *buf,
              size_t len);

/* The regular files under dir (recursively), sorted, into names (free each). */
int jtest_files(const char *dir, char ***names);

/*
 * The regular file under dir whose bytes hold needle (the first one in
 * name order); its offset in *off.  path gets the file's path.  0 or -1.
 */
int jtest_find_bytes(const char *dir, const void *needle, size_t nlen, char *path,
                     size_t plen, long long *off);

/* Copy a directory tree (cp -a); 0 or -1. */
int jtest_copy_dir(const char *from, const char *to);

/* A uniform random double in [0, 1) from a per-thread seed. */
double jtest_rand(unsigned *seed);

/* Monotonic seconds. */
double jtest_now(void);

#endif
