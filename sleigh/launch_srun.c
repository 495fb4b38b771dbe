/*
 * launch_srun.c -- the srun launcher: workers on the nodes of a Slurm
 * allocation, started by Slurm itself.
 *
 * Inside an allocation (sbatch, salloc), `srun --nodes=1 --ntasks=N
 * --nodelist=NODE nws-worker ...` starts N workers on NODE as a job step,
 * inside the job's cgroups and accounting, without ssh.  One srun per node
 * runs as a child of the local launcher's supervisor thread
 * (nwsp_local_start_argv), which gives us its reaping and
 * PR_SET_PDEATHSIG: if the master dies, srun gets SIGTERM and Slurm ends
 * the step's tasks.  An srun is not restarted (it stands for a whole
 * node); the server gives the tasks of dead workers to the others.
 *
 * The workers reach the server directly, so it must listen on an address
 * the nodes can reach (spec.remote_host, or spec.host if it is not a
 * loopback name).  $NWS_SRUN names another srun program.
 *
 * srun refuses a step with more tasks than the node's CPUs in the job
 * ("More processors requested than permitted"), where ssh would start
 * them: sleigh -j 32 on 16 CPUs.  A node given more workers than its CPUs
 * (SLURM_JOB_CPUS_PER_NODE over SLURM_CPUS_PER_TASK) gets --overcommit,
 * and only such a node: an overcommitted step is given one CPU per node,
 * which would pack the workers of a node that fits onto one core under
 * task/affinity or task/cgroup.
 *
 * A master that runs inside a job step itself (srun sleigh ...) holds CPUs
 * that Slurm 20.11 and later keep from other steps: without --overlap, the
 * workers' steps would wait for them forever.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "launch.h"
#include "nwsp.h"
#include "util.h"

struct srun_launcher {
    struct nwsp_launcher    sr_base;
    struct nwsp_launcher   *sr_local;
    struct nwsp_launch_spec sr_spec; /* strings point into the copies below */
    char                   *sr_srun, *sr_server, *sr_ws, *sr_worker;
    struct nwsp_nodes       sr_nodes;
    struct nwsp_nodes       sr_cpus;    /* the job's CPUs per node for tasks, if known */
    int                     sr_overlap; /* we run inside a job step */
};

/* 1 if host names this machine's loopback only. */
static int
srun_loopback(const char *host)
{
    return host == NULL || strcmp(host, "localhost") == 0 ||
           strncmp(host, "127.", 4) == 0 || strcmp(host, "::1") == 0;
}

/*
 * The CPUs of the job on each node, as tasks of SLURM_CPUS_PER_TASK CPUs
 * (cpt, NULL: 1) can use them, from the node list and
 * SLURM_JOB_CPUS_PER_NODE (cpus: "4(x3),2"), into nl.  0, or -1 if the
 * environment does not say.
 */
int
nwsp_srun_cpus(struct nwsp_nodes *nl, const char *nodelist, const char *cpus,
               const char *cpt)
{
    long   per = cpt != NULL && *cpt != '\0' ? strtol(cpt, NULL, 10) : 1;
    size_t i;

    if (nodelist == NULL || *nodelist == '\0' || cpus == NULL || *cpus == '\0' ||
        per < 1 || nwsp_nodes_from_slurm(nl, nodelist, cpus, NULL) != 0) {
        nwsp_nodes_free(nl);
        return -1;
    }
    for (i = 0; i < nl->nl_n; i++)
        nl->nl_v[i].nd_slots =
            nl->nl_v[i].nd_slots / per > 0 ? nl->nl_v[i].nd_slots / per : 1;
    return 0;
}

/* The srun command for n workers on node (flags: NWSP_SRUN_*). */
char **
nwsp_srun_argv(const struct nwsp_launch_spec *spec, const char *srun, const char *node,
               long n, int flags)
{
    const char *server = spec->remote_host ? spec->remote_host : spec->host;
    int         port =
        spec->remote_host && spec->remote_port > 0 ? spec->remote_port : spec->port;
    char **v = NULL, buf[NWSP_NODE_NAME_MAX + 32];
    size_t k = 0;
    int    rc = 0;

    rc |= nwsp_vec_add(&v, &k, srun);
    rc |= nwsp_vec_add(&v, &k, "--nodes=1");
    snprintf(buf, sizeof(buf), "--ntasks=%ld", n);
    rc |= nwsp_vec_add(&v, &k, buf);
    if (flags & NWSP_SRUN_OVERCOMMIT)
        rc |= nwsp_vec_add(&v, &k, "--overcommit");
    if (flags & NWSP_SRUN_OVERLAP)
        rc |= nwsp_vec_add(&v, &k, "--overlap");
    snprintf(buf, sizeof(buf), "--nodelist=%s", node);
    rc |= nwsp_vec_add(&v, &k, buf);
    /* One worker's death must not end the others: the server gives its task away. */
    rc |= nwsp_vec_add(&v, &k, "--kill-on-bad-exit=0");
    rc |= nwsp_vec_add(&v, &k, "--input=none");
    rc |= nwsp_vec_add(&v, &k, "--job-name=nws-worker");
    rc |= nwsp_vec_add(&v, &k, "--export=ALL");
    if (spec->working_dir != NULL) {
        char *cd;

        if (asprintf(&cd, "--chdir=%s", spec->working_dir) < 0) {
            nwsp_vec_free(v);
            return NULL;
        }
        rc |= nwsp_vec_add(&v, &k, cd);
        free(cd);
    }
    rc |= nwsp_vec_add(&v, &k, "--");
    rc |= nwsp_vec_add(&v, &k, spec->worker_path ? spec->worker_path : "nws-worker");
    rc |= nwsp_vec_add(&v, &k, "--host");
    rc |= nwsp_vec_add(&v, &k, server ? server : "localhost");
    snprintf(buf, sizeof(buf), "%d", port);
    rc |= nwsp_vec_add(&v, &k, "--port");
    rc |= nwsp_vec_add(&v, &k, buf);
    rc |= nwsp_vec_add(&v, &k, "--workspace");
    rc |= nwsp_vec_add(&v, &k, spec->ws_name);
    if (spec->verbose)
        rc |= nwsp_vec_add(&v, &k, "--verbose");
    if (spec->output)
        rc |= nwsp_vec_add(&v, &k, "--output");
    if (rc != 0) {
        nwsp_vec_free(v);
        return NULL;
    }
    return v;
}

static void srun_free(struct nwsp_launcher *l);

/* Makes an srun launcher; NULL on failure. */
static struct nwsp_launcher *
srun_create(const struct nwsp_launch_spec *spec, nws_error *err)
{
    struct srun_launcher   *sr;
    struct nwsp_launch_spec local;
    const char             *name = getenv("NWS_SRUN");
    size_t                  i;

    if (spec->nodes == NULL || spec->nodes->nl_n == 0) {
        nwsp_err_set(err, NWS_ERR_INVALID, 0,
                     "the srun launcher needs nodes (run it inside a Slurm allocation)");
        return NULL;
    }
    if (spec->remote_host == NULL && srun_loopback(spec->host)) {
        nwsp_err_set(err, NWS_ERR_INVALID, 0,
                     "with srun the workers reach the server directly: give an address "
                     "the nodes can reach (remote host), not %s",
                     spec->host ? spec->host : "localhost");
        return NULL;
    }
    if ((sr = calloc(1, sizeof(*sr))) == NULL)
        goto nomem;
    sr->sr_base.ops = &nwsp_launch_srun;
    nwsp_nodes_init(&sr->sr_nodes);
    nwsp_nodes_init(&sr->sr_cpus);
    if (nwsp_srun_cpus(&sr->sr_cpus,
                       getenv("SLURM_JOB_NODELIST") ? getenv("SLURM_JOB_NODELIST")
                                                    : getenv("SLURM_NODELIST"),
                       getenv("SLURM_JOB_CPUS_PER_NODE"),
                       getenv("SLURM_CPUS_PER_TASK")) != 0)
        nwsp_nodes_init(&sr->sr_cpus); /* unknown: srun decides */
    sr->sr_overlap = getenv("SLURM_STEP_ID") != NULL && *getenv("SLURM_STEP_ID") != '\0';
    if ((sr->sr_srun = nwsp_launch_find_program(name ? name : "srun")) == NULL) {
        nwsp_err_set(err, NWS_ERR_INVALID, 0,
                     "%s not found: the srun launcher works inside a Slurm allocation",
                     name ? name : "srun");
        srun_free(&sr->sr_base);
        return NULL;
    }
    sr->sr_spec = *spec;
    sr->sr_server = strdup(spec->remote_host ? spec->remote_host : spec->host);
    sr->sr_ws = strdup(spec->ws_name);
    sr->sr_worker = strdup(spec->worker_path ? spec->worker_path : "nws-worker");
    if (sr->sr_server == NULL || sr->sr_ws == NULL || sr->sr_worker == NULL)
        goto nomem;
    for (i = 0; i < spec->nodes->nl_n; i++)
        if (nwsp_nodes_add(&sr->sr_nodes, spec->nodes->nl_v[i].nd_host, NULL,
                           spec->nodes->nl_v[i].nd_slots, err) != 0)
            goto fail;
    sr->sr_spec.remote_host = sr->sr_server;
    if (spec->remote_host == NULL || sr->sr_spec.remote_port <= 0)
        sr->sr_spec.remote_port = spec->port;
    sr->sr_spec.ws_name = sr->sr_ws;
    sr->sr_spec.worker_path = sr->sr_worker;
    sr->sr_spec.working_dir =
        NULL; /* --chdir would need a copy; srun's default is ours */
    sr->sr_spec.nodes = &sr->sr_nodes;
    sr->sr_spec.host = NULL;
    sr->sr_spec.env = NULL;
    /* The supervisor: srun processes inherit its environment (NWS_SLEIGH_WORKERS, env).
     */
    local = *spec;
    local.restart = 0;
    local.worker_path = "/bin/false"; /* its own argv is never run */
    if ((sr->sr_local = nwsp_launch_local.create(&local, err)) == NULL)
        goto fail;
    return &sr->sr_base;
nomem:
    nwsp_err_set(err, NWS_ERR_NOMEM, 0, "out of memory");
fail:
    if (sr != NULL)
        srun_free(&sr->sr_base);
    return NULL;
}

/* The CPUs node has in the job for tasks, or LONG_MAX if unknown. */
static long
srun_node_cpus(const struct srun_launcher *sr, const char *node)
{
    size_t i;

    for (i = 0; i < sr->sr_cpus.nl_n; i++)
        if (strcmp(sr->sr_cpus.nl_v[i].nd_host, node) == 0)
            return sr->sr_cpus.nl_v[i].nd_slots;
    return LONG_MAX;
}

/* Starts one srun per node (node NULL: all of them; else n workers on node). */
static int
srun_start(struct nwsp_launcher *l, const char *node, int n, nws_error *err)
{
    struct srun_launcher *sr = (struct srun_launcher *)l;
    char                **argv;
    size_t                i;
    int                   rc;

    for (i = 0; i < (node != NULL ? 1 : sr->sr_nodes.nl_n); i++) {
        const char *host = node != NULL ? node : sr->sr_nodes.nl_v[i].nd_host;
        long        count = node != NULL ? n : sr->sr_nodes.nl_v[i].nd_slots;

        if ((argv = nwsp_srun_argv(
                 &sr->sr_spec, sr->sr_srun, host, count,
                 (count > srun_node_cpus(sr, host) ? NWSP_SRUN_OVERCOMMIT : 0) |
                     (sr->sr_overlap ? NWSP_SRUN_OVERLAP : 0))) == NULL) {
            nwsp_err_set(err, NWS_ERR_NOMEM, 0, "out of memory");
            return -1;
        }
        rc = nwsp_local_start_argv(sr->sr_local, (const char *const *)argv, host,
                                   (int)count, err);
        nwsp_vec_free(argv);
        if (rc != 0)
            return -1;
    }
    return 0;
}

static void
srun_status(struct nwsp_launcher *l, struct nwsp_launch_status *st)
{
    struct srun_launcher *sr = (struct srun_launcher *)l;

    sr->sr_local->ops->status(sr->sr_local, st);
}

static json_t *
srun_nodes(struct nwsp_launcher *l)
{
    struct srun_launcher *sr = (struct srun_launcher *)l;

    return sr->sr_local->ops->nodes(sr->sr_local);
}

static int
srun_stop(struct nwsp_launcher *l, int grace_ms)
{
    struct srun_launcher *sr = (struct srun_launcher *)l;

    return sr->sr_local != NULL ? sr->sr_local->ops->stop(sr->sr_local, grace_ms) : 0;
}

static void
srun_free(struct nwsp_launcher *l)
{
    struct srun_launcher *sr = (struct srun_launcher *)l;

    if (sr == NULL)
        return;
    if (sr->sr_local != NULL)
        sr->sr_local->ops->free(sr->sr_local);
    nwsp_nodes_free(&sr->sr_nodes);
    nwsp_nodes_free(&sr->sr_cpus);
    free(sr->sr_srun);
    free(sr->sr_server);
    free(sr->sr_ws);
    free(sr->sr_worker);
    free(sr);
}

const struct nwsp_launcher_ops nwsp_launch_srun = {
    .name = "srun",
    .remote = 1,
    .create = srun_create,
    .start = srun_start,
    .status = srun_status,
    .nodes = srun_nodes,
    .stop = srun_stop,
    .free = srun_free,
};
