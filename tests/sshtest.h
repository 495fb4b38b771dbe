/*
 * sshtest.h -- real OpenSSH servers for the launch tests
 * (tests/check_launch_*.c).
 *
 * A test environment is a private directory with a host key and a user
 * key made by ssh-keygen, an authorized_keys file, a known_hosts file and
 * an ssh config the tests write, and sshd_config files.  Each sshd runs in
 * the foreground (-D) as a child of the test with PR_SET_PDEATHSIG, on a
 * private port of 127.0.0.1 or on an address inside a network namespace.
 * Nothing here touches ~/.ssh or the system's sshd.
 */
#ifndef SSHTEST_H
#define SSHTEST_H

#include <stddef.h>
#include <sys/types.h>

#define SSHTEST_SSHD "/usr/sbin/sshd"

struct sshtest_env {
    char dir[128];
    char host_key[192]; /* private; .pub next to it */
    char user_key[192];
    char other_key[192]; /* a user key that is not authorized */
    char authorized[192];
    char known_hosts[192];
    char ssh_config[192];
    char sshd_extra[256]; /* more sshd_config lines for the next sshd started */
};

struct sshtest_sshd {
    pid_t pid;
    int   port;
    char  addr[64];
    char  netns[64]; /* "" for this namespace */
};

/*
 * 1 if the ssh tests can run here (root, sshd and ssh-keygen present);
 * else 0 with the reason in why.
 */
int sshtest_available(char *why, size_t len);

/* Makes the directory, the keys and empty files; 0, or -1. */
int sshtest_env_make(struct sshtest_env *e);
/* Removes the directory. */
void sshtest_env_free(struct sshtest_env *e);

/*
 * Starts an sshd listening on addr:port (port 0: a free port of
 * 127.0.0.1), inside network namespace netns if not NULL, and waits until
 * it answers.  0, or -1.
 */
int sshtest_sshd_start(struct sshtest_env *e, struct sshtest_sshd *d, const char *netns,
                       const char *addr, int port);
/* Kills the sshd (and nothing else). */
void sshtest_sshd_stop(struct sshtest_sshd *d);

/* Appends the host key of addr:port to known_hosts (key: a .pub path, NULL: ours). */
int sshtest_known_host(struct sshtest_env *e, const char *addr, int port,
                       const char *key);
/* Appends a Host block for alias to the ssh config (identity NULL: the user key). */
int sshtest_config_host(struct sshtest_env *e, const char *alias, const char *addr,
                        int port, const char *identity);

/* A free TCP port on 127.0.0.1 (bound and released), or -1. */
int sshtest_free_port(void);

/*
 * Fills pids (up to max) with the processes whose command line holds
 * every one of the NULL-terminated words; returns how many.
 */
int sshtest_procs(const char *const *words, pid_t *pids, int max);

/* Waits up to ms for no process to match words; returns how many are left. */
int sshtest_procs_gone(const char *const *words, int ms);

/* Runs a shell command quietly; its exit status, or -1. */
int  sshtest_sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void sshtest_netns_cleanup(const char *prefix);

/* Monotonic seconds. */
double sshtest_now(void);

#endif
