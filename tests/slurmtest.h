/*
 * slurmtest.h -- a real Slurm cluster on one machine for tests/check_slurm.c.
 *
 * One munged (its own key, socket, state and log under a temporary
 * directory), one slurmctld in this network namespace on a bridge, and
 * SLURMTEST_NODES compute nodes: each a network namespace (ip netns) named
 * like its Slurm node (nwsl-n1 ...) with a veth on the bridge, its own
 * slurmd (-N NAME, its own spool directory, pid and log files through
 * slurm.conf's %n) and its own sshd, so that both launchers of the Sleigh
 * reach it.  The namespaces share this machine's file system and process
 * table, as nodes sharing a home directory over NFS would share the files.
 *
 * slurm.conf keeps Slurm away from what a test machine lacks: no cgroups
 * (proctrack/linuxproc, task/none, jobacct_gather/none), no accounting
 * database, no systemd, SlurmUser root.  slurmd 22.05 still loads a cgroup
 * plugin at start and refuses to run without a cgroup v1 "systemd"
 * hierarchy or a usable v2 one; each slurmd therefore runs in the private
 * mount namespace `ip netns exec` gives it, over a tmpfs on /sys/fs/cgroup
 * holding a named, empty v1 hierarchy of its own (nothing of the
 * machine's cgroups is touched).
 *
 * Names start with "nwsl-" (the launch tests clean up "nwst-" ones, so
 * neither removes the other's); a lock file serializes concurrent runs, and
 * every start first removes what a killed run left.  The daemons die with
 * the process that started them (PR_SET_PDEATHSIG).
 */
#ifndef SLURMTEST_H
#define SLURMTEST_H

#include <stddef.h>
#include <sys/types.h>

#include "sshtest.h"

#define SLURMTEST_NODES 4
#define SLURMTEST_CPUS  4 /* CPUs each node claims: 4 workers per node */

struct slurmtest {
    char                dir[128]; /* everything: slurm.conf, munge, state, spool, logs */
    char                conf[192];
    char                bridge_ip[32]; /* slurmctld, and this namespace's address */
    char                node_ip[SLURMTEST_NODES][32];
    char                node[SLURMTEST_NODES][24]; /* node = namespace = ssh alias */
    int                 net;                       /* 10.214.<net>.0/24 */
    pid_t               munged, ctld, slurmd[SLURMTEST_NODES];
    struct sshtest_env  ssh;
    struct sshtest_sshd sshd[SLURMTEST_NODES];
    pid_t               owner; /* the process that started it: only it tears down */
    double              up_s;  /* seconds to start the cluster */
};

/* 1 if a cluster can run here (root, ip netns, the Slurm and munge daemons, sshd). */
int slurmtest_available(char *why, size_t len);

/*
 * Starts the whole cluster and waits until its nodes are idle; sets
 * SLURM_CONF in our environment so sbatch, salloc, srun and scancel (and
 * the jobs, which inherit it) use it.  0, or -1 with why.
 */
int slurmtest_up(struct slurmtest *c, char *why, size_t len);
/* Stops everything and removes what it made (only in the process that started it). */
void slurmtest_down(struct slurmtest *c);
/* Removes every nwsl-* namespace and link (with what runs there). */
void slurmtest_cleanup(void);

/*
 * Kills the processes running in node i's namespace (0-based) whose
 * command line has word; returns how many.
 */
int slurmtest_kill_in_node(const struct slurmtest *c, int i, const char *word);
/* Counts the processes running on the nodes whose command line holds word. */
int slurmtest_count(const struct slurmtest *c, const char *word);

#endif
