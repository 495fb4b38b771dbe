/*
 * nodes.h -- node lists for the remote launchers (private to sleigh/, built into
 * libnws.a: the sleigh command and the tests use it from there).
 *
 * A node list is an ordered set of distinct nodes, each with the number of
 * workers to run there (its slots).  Lists come from the API and the
 * command line (nwsp_nodes_parse), from node files (nwsp_nodes_read_file),
 * and from a batch scheduler's environment (nwsp_nodes_from_env).  Adding
 * a node that is already listed (same host, same user) adds its slots, so
 * "a,a,b" is a with 2 workers and b with 1, and the order is the order of
 * first appearance.
 *
 * Syntax of one entry (man sleigh(1), NODES, is the user's reference):
 *
 *   [N/][user@]host[:N]      N workers (default 1); N/ is GNU parallel's form
 *   host N, host slots=N     in node files only (one entry per line)
 *
 * host is a name, an IPv4 address, an IPv6 address in brackets ([::1]:2),
 * or a Slurm-style host range: node[01-04,07] is node01 ... node04 and
 * node07, each with the entry's count.  Entries of a list are separated
 * by commas (outside brackets) or white space.
 *
 * Every function that can fail returns 0/-1 (or a pointer/NULL) and
 * records why in err, naming what it was parsing.
 */
#ifndef NODES_H
#define NODES_H

#include <stddef.h>

#include "nws.h"

#define NWSP_NODE_MAX_SLOTS 100000 /* workers on one node */
#define NWSP_NODES_MAX      65536  /* nodes in one list, and names one range makes */
#define NWSP_NODE_NAME_MAX  255

struct nwsp_node {
    char *nd_host;  /* host name, address or ssh config alias */
    char *nd_user;  /* login from user@host, or NULL */
    long  nd_slots; /* workers to run there, >= 1 */
};

struct nwsp_nodes {
    struct nwsp_node *nl_v;
    size_t            nl_n, nl_cap;
};

/* An empty list. */
void nwsp_nodes_init(struct nwsp_nodes *nl);
/* Frees the entries; the list is empty again. */
void nwsp_nodes_free(struct nwsp_nodes *nl);

/* Adds slots workers on user@host (user may be NULL), merging a listed node. */
int nwsp_nodes_add(struct nwsp_nodes *nl, const char *host, const char *user, long slots,
                   nws_error *err);

/* Adds the entries of list ("a,b:2 4/c d[1-3]").  An empty list is an error. */
int nwsp_nodes_parse(struct nwsp_nodes *nl, const char *list, nws_error *err);

/*
 * Adds the entries of a node file's text: one entry per line, blank lines
 * and #-comments skipped, "host N" and "host slots=N" (Open MPI) accepted
 * besides the list syntax.  what names the file in messages.  A PBS/Torque
 * $PBS_NODEFILE (a host once per slot) is such a file.
 */
int nwsp_nodes_parse_text(struct nwsp_nodes *nl, const char *text, const char *what,
                          nws_error *err);
/* nwsp_nodes_parse_text on the contents of path. */
int nwsp_nodes_read_file(struct nwsp_nodes *nl, const char *path, nws_error *err);

/*
 * Expands a Slurm host list ("a,node[01-04,07],r[1-2]-n[1-2]") into *names
 * (*n new strings; free with nwsp_hostlist_free).  Ranges keep the width
 * of their lower bound (01-10 gives 01 ... 10).
 */
int  nwsp_hostlist_expand(const char *expr, char ***names, size_t *n, nws_error *err);
void nwsp_hostlist_free(char **names, size_t n);

/*
 * Expands a Slurm count list such as SLURM_TASKS_PER_NODE ("2(x3),1" is
 * 2,2,2,1) into *counts (*n entries, free()).
 */
int nwsp_slurm_counts(const char *spec, long **counts, size_t *n, nws_error *err);

/* Slurm: the nodes of nodelist with the counts of tasks (NULL: 1 each). */
int nwsp_nodes_from_slurm(struct nwsp_nodes *nl, const char *nodelist, const char *tasks,
                          nws_error *err);
/* SGE $PE_HOSTFILE text: "host slots queue processors" per line. */
int nwsp_nodes_parse_sge(struct nwsp_nodes *nl, const char *text, const char *what,
                         nws_error *err);
/* LSF $LSB_MCPU_HOSTS: "hostA 4 hostB 2". */
int nwsp_nodes_from_lsf(struct nwsp_nodes *nl, const char *mcpu_hosts, nws_error *err);

/* Reads an environment variable (getenv, or a table in the tests). */
typedef const char *(*nwsp_env_fn)(const char *name, void *arg);

/*
 * Adds the nodes of the batch allocation the environment describes, the
 * first found of: Slurm (SLURM_JOB_NODELIST or SLURM_NODELIST, with
 * SLURM_TASKS_PER_NODE, else SLURM_JOB_CPUS_PER_NODE, else 1 per node;
 * inside a job step, whose SLURM_TASKS_PER_NODE is the step's, the CPUs),
 * PBS/Torque (PBS_NODEFILE), SGE (PE_HOSTFILE), LSF (LSB_MCPU_HOSTS, else
 * LSB_DJOB_HOSTFILE, else LSB_HOSTS).  *source (may be NULL) gets the
 * scheduler's name.  Returns 1 if one was found and its nodes added, 0 if
 * none is there, -1 on error.  tests/data/batch/ has samples of each format
 * and where it is documented.
 */
int nwsp_nodes_from_env(struct nwsp_nodes *nl, nwsp_env_fn env, void *arg,
                        const char **source, nws_error *err);

/*
 * Where remote workers run, the one rule of the library and the sleigh
 * command: the entries of lists (NULL-terminated, may be NULL), then of
 * the node files files (the same), else, when these give no node, the
 * batch allocation of the environment (nwsp_nodes_from_env on getenv).
 * Returns 1 (nodes in nl), 0 (none anywhere), or -1 (err set; *bad names
 * the list or the file that failed, NULL if the allocation did).
 * *source gets the scheduler's name ("Slurm", ...) when the allocation
 * was read, else NULL.  source and bad may be NULL.
 */
int nwsp_nodes_plan(struct nwsp_nodes *nl, const char *const *lists,
                    const char *const *files, const char **source, const char **bad,
                    nws_error *err);

/*
 * 1 if host names this machine: loopback (or unset), our host name long or
 * short, or $SLURMD_NODENAME (the Slurm node our job runs on).
 */
int nwsp_host_is_me(const char *host);

/* The sum of the slots. */
long nwsp_nodes_total(const struct nwsp_nodes *nl);

/*
 * Makes the list run n workers in all: n below the slots fills the nodes
 * by turns (one worker on each node in order, then a second on each node
 * with two slots or more, ...), n above them adds the rest by turns too.
 * Nodes left without a worker leave the list.  n <= 0 changes nothing.
 */
void nwsp_nodes_spread(struct nwsp_nodes *nl, long n);

/* The list in entry syntax ("root@a:2,b:1"): a new string, or NULL. */
char *nwsp_nodes_format(const struct nwsp_nodes *nl);

#endif
