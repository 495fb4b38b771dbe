/*
 * check_slurm.c -- the Sleigh on a real Slurm cluster (tests/slurmtest.c:
 * munged, slurmctld, and four slurmd in network namespaces, each node with
 * its own sshd).  Jobs go through sbatch and salloc as a user's do:
 *
 *  - sbatch_ssh: sleigh -k CMD ::: inputs in a 4-node job takes its nodes
 *    from the allocation, 4 workers each over ssh;
 *  - sbatch_srun: the same with --launcher srun (sbatch: the private
 *    server on the node's NodeAddr; salloc on the login host:
 *    --remote-server), and -j 32 on the 16 CPUs (srun --overcommit);
 *  - one_node_job: a job on one node runs local workers;
 *  - in_a_step: sleigh run as a job step (srun -N1 -n1 sleigh) still takes
 *    the job's nodes, with either launcher;
 *  - api_master: a C master (tests/slurm/master.c, compiled here against
 *    libnws.so) with nodes = NULL inside the job;
 *  - node_lost, node_unplugged: the same master; a node's workers are
 *    killed mid-batch (srun), or its link is cut (ssh): every element still
 *    gets exactly one result;
 *  - scancel_cleans: scancel of a running job leaves no nws process on any
 *    node (/proc), with either launcher.
 *
 * The cluster is started once for the suite (an unchecked fixture, in the
 * runner's process) and stopped after it.  They need root: elsewhere they
 * pass after printing "SKIPPED: <reason>"; CI runs as root with the Slurm
 * packages (.ci/deps test), so they run there.  "MEASURE:" lines give the
 * timings: cluster start, job start to every worker joined, node loss to
 * the requeue of its tasks.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "nwstest.h"
#include "sl.h"
#include "slurmtest.h"

static struct slurmtest sl_c;
static char             sl_why[512];  /* why the tests skip, or "" */
static char             sl_fail[512]; /* why the cluster did not start, or "" */
static char             sl_bin[PATH_MAX], sl_worker[300], sl_sleigh[300];
static char             sl_module[300], sl_master[300];

/* Writes a job script; its path in path. */
static void
sl_script(const char *name, const char *body, char *path, size_t len)
{
    char  text[10000];
    FILE *fp;

    snprintf(path, len, "%s/jobs/%s.sh", sl_c.dir, name);
    snprintf(text, sizeof(text), "#!/bin/sh\n%s\n", body);
    fp = fopen(path, "w");
    ck_assert_ptr_nonnull(fp);
    fputs(text, fp);
    ck_assert_int_eq(fclose(fp), 0);
    chmod(path, 0755);
}

/* The contents of a file (new string; "" if it is not there). */
static char *
sl_read(const char *path)
{
    int   fd = open(path, O_RDONLY | O_CLOEXEC);
    char *s;

    if (fd < 0)
        return strdup("");
    s = nwstest_slurp(fd, NULL);
    close(fd);
    return s;
}

/* Waits up to ms for count processes of word on the nodes; returns the count. */
static int
sl_wait_count(const char *word, int count, int ms)
{
    double deadline = sshtest_now() + ms / 1000.0;
    int    n;

    while ((n = slurmtest_count(&sl_c, word)) != count && sshtest_now() < deadline)
        usleep(50000);
    return n;
}

/*
 * Runs script name (body) with sbatch --wait on the 4 nodes; returns its
 * stdout (new string), stderr in *errtext (new).  Fails if the job did.
 */
static char *
sl_sbatch_n(const char *name, int nodes, const char *body, char **errtext)
{
    char path[512], out[512], err[512];
    int  rc;

    sl_script(name, body, path, sizeof(path));
    snprintf(out, sizeof(out), "%s/jobs/%s.out", sl_c.dir, name);
    snprintf(err, sizeof(err), "%s/jobs/%s.err", sl_c.dir, name);
    rc = sshtest_sh("timeout 120 sbatch --wait --quiet -N %d -t 3 -J %s -D '%s/jobs' "
                    "-o '%s' -e '%s' '%s' >/dev/null 2>&1",
                    nodes, name, sl_c.dir, out, err, path);
    *errtext = sl_read(err);
    ck_assert_msg(rc == 0, "job %s: sbatch exit %d; stderr: %s", name, rc, *errtext);
    /* A finished job leaves no worker behind on any node. */
    ck_assert_msg(sl_wait_count("nws-worker", 0, 10000) == 0,
                  "job %s: %d nws-worker processes are left on the nodes", name,
                  slurmtest_count(&sl_c, "nws-worker"));
    return sl_read(out);
}

/* sl_sbatch_n on every node. */
static char *
sl_sbatch(const char *name, const char *body, char **errtext)
{
    return sl_sbatch_n(name, SLURMTEST_NODES, body, errtext);
}

/* Fixture (once): the cluster, the master program. */
static void
sl_setup(void)
{
    const char *bin = getenv("NWS_BIN_DIR"), *src = getenv("NWS_SRC_DIR");
    const char *mod = getenv("NWS_MODULES_DIR");
    char        lib[PATH_MAX + 8];

    sl_why[0] = sl_fail[0] = '\0';
    if (!slurmtest_available(sl_why, sizeof(sl_why)))
        return;
    if (realpath(bin != NULL ? bin : "build/bin", sl_bin) == NULL) {
        snprintf(sl_fail, sizeof(sl_fail), "no build/bin");
        return;
    }
    snprintf(sl_worker, sizeof(sl_worker), "%.250s/nws-worker", sl_bin);
    snprintf(sl_sleigh, sizeof(sl_sleigh), "%.250s/sleigh", sl_bin);
    snprintf(sl_module, sizeof(sl_module), "%s/sleigh_test.so",
             mod != NULL ? mod : "build/modules");
    if (mod == NULL && realpath("build/modules/sleigh_test.so", lib) != NULL)
        snprintf(sl_module, sizeof(sl_module), "%.290s", lib);
    unsetenv("SSH_AUTH_SOCK");
    if (slurmtest_up(&sl_c, sl_fail, sizeof(sl_fail)) != 0)
        return;
    /* The master, built as a user builds a program against libnws. */
    snprintf(lib, sizeof(lib), "%s/../lib", sl_bin);
    snprintf(sl_master, sizeof(sl_master), "%s/master", sl_c.dir);
    /* make SAN=1 check: a libnws.a built with the sanitizers needs their runtime. */
    if (sshtest_sh(
            "cc -std=c11 -D_GNU_SOURCE -o '%s' '%s/tests/slurm/master.c' -I'%s/include' "
            "'%s/libnws.a' $(pkg-config --cflags --libs jansson libevent openssl "
            "libssh) -lpthread -lm $(nm '%s/libnws.a' 2>/dev/null | grep -q __asan_ "
            "&& echo -fsanitize=address,undefined) >'%s/master.log' 2>&1",
            sl_master, src != NULL ? src : ".", src != NULL ? src : ".", lib, lib,
            sl_c.dir) != 0)
        snprintf(sl_fail, sizeof(sl_fail), "cannot compile tests/slurm/master.c (%s)",
                 sl_c.dir);
    printf("MEASURE: slurm: munged + slurmctld + 4 slurmd (+ sshd) up, nodes idle: "
           "%.3f s\n",
           sl_c.up_s);
    fflush(stdout);
}

static void
sl_teardown(void)
{
    slurmtest_down(&sl_c);
}

/* Prints the skip line and returns 1 when the test cannot run here. */
static int
sl_skipped(const char *test)
{
    if (sl_why[0] == '\0') {
        ck_assert_msg(sl_fail[0] == '\0', "the cluster: %s", sl_fail);
        return 0;
    }
    printf("SKIPPED: slurm %.*s: %s\n",
           (int)(strlen(test) > 3 ? strlen(test) - 3 : strlen(test)), test, sl_why);
    fflush(stdout);
    return 1;
}

#define SL_SKIP_IF_NEEDED()                                                              \
    do {                                                                                 \
        if (sl_skipped(__func__))                                                        \
            return;                                                                      \
    } while (0)

/*
 * Checks sleigh's -k output of 'echo {} $(hostname -I)' over 1..n: every
 * line in order, each from a node's address, and every node used.
 */
static void
sl_check_lines(const char *out, int n)
{
    const char *p = out;
    int         i, k, used[SLURMTEST_NODES] = {0};
    char        want[32], addr[64];

    for (i = 1; i <= n; i++) {
        snprintf(want, sizeof(want), "%d ", i);
        ck_assert_msg(strncmp(p, want, strlen(want)) == 0, "line %d of:\n%s", i, out);
        p += strlen(want);
        ck_assert_int_eq(sscanf(p, "%63s", addr), 1);
        for (k = 0; k < SLURMTEST_NODES && strcmp(addr, sl_c.node_ip[k]) != 0; k++)
            ;
        ck_assert_msg(k < SLURMTEST_NODES, "line %d: %s is no node's address", i, addr);
        used[k]++;
        p = strchr(p, '\n');
        ck_assert_ptr_nonnull(p);
        p++;
    }
    ck_assert_str_eq(p, "");
    for (k = 0; k < SLURMTEST_NODES; k++)
        ck_assert_msg(used[k] > 0, "node %s ran nothing:\n%s", sl_c.node[k], out);
}

/*
 * Seconds from the job's start (the script's first line writes its clock)
 * to the first task's start in sleigh's joblog: sleigh submits tasks once
 * every worker has joined.  *first_out gets that start (wall clock).
 */

/* The wall clock, as date +%s.%N writes it. */
static double
sl_wall(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}
static double
sl_joined_s(const char *t0file, const char *joblog, double *first_out)
{
    char  *t0 = sl_read(t0file), *log = sl_read(joblog), *line;
    double start = atof(t0), first = 0, v;

    /* Seq Host Starttime ...: the third column, seconds since the epoch. */
    for (line = strchr(log, '\n'); line != NULL && line[1] != '\0';
         line = strchr(line + 1, '\n')) {
        if (sscanf(line + 1, "%*s %*s %lf", &v) == 1 && (first == 0 || v < first))
            first = v;
    }
    free(t0);
    free(log);
    ck_assert_msg(start > 0 && first > 0, "no times in %s / %s", t0file, joblog);
    *first_out = first;
    return first - start;
}

START_TEST(sbatch_ssh)
{
    char   body[8192], *out, *err, t0[600], log[600];
    double joined, first, submitted;

    SL_SKIP_IF_NEEDED();
    snprintf(t0, sizeof(t0), "%s/jobs/ssh.t0", sl_c.dir);
    snprintf(log, sizeof(log), "%s/jobs/ssh.joblog", sl_c.dir);
    /* No -S, no --nodefile: the nodes are the allocation's (4 x 4 tasks). */
    snprintf(body, sizeof(body),
             "date +%%s.%%N > '%s'\n"
             "exec '%s' -k --joblog '%s' --ssh-config '%s' --worker '%s' "
             "'sleep 0.2; echo {} $(hostname -I)' ::: $(seq 1 32)",
             t0, sl_sleigh, log, sl_c.ssh.ssh_config, sl_worker);
    submitted = sl_wall();
    out = sl_sbatch("ssh", body, &err);
    sl_check_lines(out, 32);
    joined = sl_joined_s(t0, log, &first);
    printf("MEASURE: slurm sbatch -N4, sleigh --launcher ssh (allocation: 4 nodes x 4): "
           "job start to all 16 workers joined (first task started) %.3f s "
           "(%.3f s from sbatch)\n",
           joined, first - submitted);
    fflush(stdout);
    free(out);
    free(err);
}
END_TEST

START_TEST(sbatch_srun)
{
    char   body[8192], *out, *err, t0[600], log[600], path[600];
    double joined, first, submitted;
    int    rc;

    SL_SKIP_IF_NEEDED();
    snprintf(t0, sizeof(t0), "%s/jobs/srun.t0", sl_c.dir);
    snprintf(log, sizeof(log), "%s/jobs/srun.joblog", sl_c.dir);
    /* The private server must listen where srun's workers reach it: the node's address. */
    snprintf(body, sizeof(body),
             "date +%%s.%%N > '%s'\n"
             "exec '%s' -k --launcher srun --joblog '%s' --worker '%s' "
             "'sleep 0.2; echo {} $(hostname -I)' ::: $(seq 1 32)",
             t0, sl_sleigh, log, sl_worker);
    submitted = sl_wall();
    out = sl_sbatch("srun", body, &err);
    sl_check_lines(out, 32);
    joined = sl_joined_s(t0, log, &first);
    free(out);
    free(err);

    /* The private server's address: the NodeAddr of real scontrol output. */
    {
        char   cmd[128], text[8192] = "", addr[64];
        FILE  *fp;
        size_t n;

        snprintf(cmd, sizeof(cmd), "scontrol -o show node %s", sl_c.node[1]);
        fp = popen(cmd, "r");
        ck_assert_ptr_nonnull(fp);
        n = fread(text, 1, sizeof(text) - 1, fp);
        text[n] = '\0';
        pclose(fp);
        ck_assert_int_eq(sl_slurm_node_addr(text, addr, sizeof(addr)), 0);
        ck_assert_str_eq(addr, sl_c.node_ip[1]);
    }

    /*
     * -j 32 on 16 CPUs: srun refuses such a step ("More processors requested
     * than permitted") unless told to overcommit; ssh would start them.
     */
    snprintf(body, sizeof(body),
             "exec '%s' -j 32 --launcher srun --worker '%s' 'sleep 0.5; echo {%%}' "
             "::: $(seq 1 32) | sort -un | wc -l",
             sl_sleigh, sl_worker);
    out = sl_sbatch("srun_j32", body, &err);
    ck_assert_msg(atoi(out) > SLURMTEST_NODES * SLURMTEST_CPUS,
                  "-j 32: %s distinct ranks ran\nstderr: %s", out, err);
    free(out);
    free(err);

    /* salloc runs sleigh here, on the "login host": the bridge is its address. */
    snprintf(path, sizeof(path), "%s/jobs/salloc.out", sl_c.dir);
    rc =
        sshtest_sh("timeout 120 salloc --quiet -N %d -t 3 '%s' -k --launcher srun "
                   "--remote-server %s --worker '%s' 'sleep 0.2; echo {} $(hostname -I)' "
                   "::: $(seq 1 20) >'%s' 2>'%s.err'",
                   SLURMTEST_NODES, sl_sleigh, sl_c.bridge_ip, sl_worker, path, path);
    out = sl_read(path);
    ck_assert_msg(rc == 0, "salloc: exit %d:\n%s", rc, out);
    sl_check_lines(out, 20);
    free(out);
    printf("MEASURE: slurm sbatch -N4, sleigh --launcher srun: job start to all 16 "
           "workers joined (first task started) %.3f s (%.3f s from sbatch)\n",
           joined, first - submitted);
    fflush(stdout);
}
END_TEST

/*
 * A one-node job: sleigh runs local workers, as many as the job's tasks,
 * though the node's Slurm name (nwsl-n1) is not its host name.  No ssh
 * config is given, so ssh could not even resolve the node's name.
 */
START_TEST(one_node_job)
{
    char body[2048], want[256], *out, *err;

    SL_SKIP_IF_NEEDED();
    /* Its 4 workers, each of them ({%}: the rank + 1) on node 1. */
    snprintf(body, sizeof(body),
             "'%s' --worker '%s' 'sleep 0.3; echo {%%} $(hostname -I)' ::: $(seq 1 8) | "
             "sort -u",
             sl_sleigh, sl_worker);
    out = sl_sbatch_n("one", 1, body, &err);
    snprintf(want, sizeof(want), "1 %s\n2 %s\n3 %s\n4 %s\n", sl_c.node_ip[0],
             sl_c.node_ip[0], sl_c.node_ip[0], sl_c.node_ip[0]);
    ck_assert_msg(strcmp(out, want) == 0, "one-node job:\n%s\nstderr: %s", out, err);
    free(out);
    free(err);
}
END_TEST

/*
 * sleigh run as a job step itself (salloc ... srun -N1 -n1 sleigh): the
 * step's SLURM_TASKS_PER_NODE is "1" while the node list is the job's, and
 * the step holds CPUs the workers' steps need (srun --overlap).
 */
START_TEST(in_a_step)
{
    char        path[600], *out;
    const char *how[] = {"--ssh-config", sl_c.ssh.ssh_config, "--launcher", "srun"};
    int         rc, k;

    SL_SKIP_IF_NEEDED();
    for (k = 0; k < 2; k++) {
        snprintf(path, sizeof(path), "%s/jobs/step%d.out", sl_c.dir, k);
        rc = sshtest_sh(
            "timeout 60 salloc --quiet -N %d -t 3 srun -N1 -n1 '%s' -k %s '%s' "
            "--worker '%s' 'sleep 0.2; echo {} $(hostname -I)' ::: $(seq 1 32) "
            ">'%s' 2>'%s.err'",
            SLURMTEST_NODES, sl_sleigh, how[2 * k], how[2 * k + 1], sl_worker, path,
            path);
        out = sl_read(path);
        ck_assert_msg(rc == 0, "%s in a step: exit %d:\n%s", how[2 * k + 1], rc, out);
        sl_check_lines(out, 32);
        free(out);
    }
}
END_TEST

/*
 * Runs the master in a job (env: more NAME=value words, or ""); its output
 * (new string).  kill_cmd, restore_cmd: see tests/slurm/master.c.
 */
static char *
sl_master_job(const char *name, struct nwstest_server *srv, const char *env,
              const char *launcher, const char *kill_cmd, const char *restore_cmd)
{
    char body[8192], *out, *err;

    snprintf(body, sizeof(body),
             "NWSTEST_SSH_CONFIG='%s' %s exec '%s' %s %d '%s' '%s' %s %s%s%s %s%s%s",
             sl_c.ssh.ssh_config, env, sl_master, sl_c.bridge_ip, srv->port, sl_module,
             sl_worker, launcher, kill_cmd ? "'" : "", kill_cmd ? kill_cmd : "",
             kill_cmd ? "'" : "", restore_cmd ? "'" : "", restore_cmd ? restore_cmd : "",
             restore_cmd ? "'" : "");
    out = sl_sbatch(name, body, &err);
    ck_assert_msg(strstr(out, "\nOK\n") != NULL, "master: %s\nstderr: %s", out, err);
    free(err);
    return out;
}

/* The value of "name value" in the master's output. */
static double
sl_value(const char *out, const char *name)
{
    char        key[64];
    const char *p;

    snprintf(key, sizeof(key), "\n%s ", name);
    p = strstr(out, key);
    if (p == NULL && strncmp(out, key + 1, strlen(key + 1)) == 0)
        p = out - 1;
    ck_assert_msg(p != NULL, "no %s in:\n%s", name, out);
    return atof(p + strlen(key));
}

START_TEST(api_master)
{
    const char           *extra[] = {"--bind", sl_c.bridge_ip, NULL};
    struct nwstest_server srv;
    char                 *out, want[64];
    int                   k;

    SL_SKIP_IF_NEEDED();
    ck_assert_int_eq(nwstest_server_start(&srv, extra), 0);
    out = sl_master_job("api", &srv, "", "srun", NULL, NULL);
    ck_assert_int_eq((int)sl_value(out, "workers"), SLURMTEST_NODES * SLURMTEST_CPUS);
    for (k = 0; k < SLURMTEST_NODES; k++) {
        snprintf(want, sizeof(want), "node %s %d\n", sl_c.node[k], SLURMTEST_CPUS);
        ck_assert_msg(strstr(out, want) != NULL, "no %s in:\n%s", want, out);
    }
    ck_assert_int_eq((int)sl_value(out, "results"), 400);
    printf("MEASURE: slurm sbatch -N4, C master (nodes = NULL, srun): nws_sleigh_new to "
           "all 16 workers joined %.3f s\n",
           sl_value(out, "new_s"));
    fflush(stdout);
    free(out);
    /* The same with the ssh launcher. */
    out = sl_master_job("api_ssh", &srv, "", "ssh", NULL, NULL);
    ck_assert_int_eq((int)sl_value(out, "workers"), SLURMTEST_NODES * SLURMTEST_CPUS);
    printf("MEASURE: slurm sbatch -N4, C master (nodes = NULL, ssh): nws_sleigh_new to "
           "all 16 workers joined %.3f s\n",
           sl_value(out, "new_s"));
    fflush(stdout);
    free(out);
    nwstest_server_stop(&srv);
}
END_TEST

START_TEST(node_lost)
{
    const char           *extra[] = {"--bind", sl_c.bridge_ip, NULL};
    struct nwstest_server srv;
    char                 *out, kill_cmd[512];

    SL_SKIP_IF_NEEDED();
    ck_assert_int_eq(nwstest_server_start(&srv, extra), 0);
    /* Node 4's workers die by SIGKILL, as in an out-of-memory kill or a crash. */
    snprintf(kill_cmd, sizeof(kill_cmd),
             "for p in $(ip netns pids %s); do grep -qa nws-worker /proc/$p/cmdline && "
             "kill -9 $p; done; true",
             sl_c.node[SLURMTEST_NODES - 1]);
    out = sl_master_job("lost", &srv, "", "srun", kill_cmd, NULL);
    ck_assert_int_eq((int)sl_value(out, "results"), 400);
    ck_assert_int_eq((int)sl_value(out, "survivors"), 12);
    printf("MEASURE: slurm, node's 4 srun workers killed mid-batch: the server dropped "
           "them and requeued their tasks %.3f s later\n",
           sl_value(out, "loss_s"));
    fflush(stdout);
    free(out);
    nwstest_server_stop(&srv);
}
END_TEST

/*
 * Submits a long sleigh (sleep FIRST ... FIRST+15, whose command lines hold
 * marker, and sleigh's does not), waits for its 16 commands, cancels it,
 * checks /proc.
 */
static void
sl_cancel(const char *name, const char *launcher_opts, int first, const char *marker)
{
    char        body[8192], path[512], jobid[64] = "", cmd[2048];
    const char *words[] = {"nws-worker", "nwsserver", "sleigh", marker, "srun"};
    double      t0;
    size_t      i;
    FILE       *fp;

    snprintf(body, sizeof(body), "exec '%s' %s --worker '%s' sleep ::: $(seq %d %d)",
             sl_sleigh, launcher_opts, sl_worker, first, first + 15);
    sl_script(name, body, path, sizeof(path));
    snprintf(cmd, sizeof(cmd),
             "sbatch --parsable -N %d -t 3 -J %s -D '%s/jobs' -o '%s/jobs/%s.out' '%s'",
             SLURMTEST_NODES, name, sl_c.dir, sl_c.dir, name, path);
    fp = popen(cmd, "r");
    ck_assert_ptr_nonnull(fp);
    ck_assert_ptr_nonnull(fgets(jobid, sizeof(jobid), fp));
    pclose(fp);
    jobid[strcspn(jobid, ";\n")] = '\0';
    ck_assert_msg(sl_wait_count(marker, 16, 60000) == 16, "%s: %d of 16 commands running",
                  name, slurmtest_count(&sl_c, marker));
    t0 = sshtest_now();
    ck_assert_int_eq(sshtest_sh("scancel %s", jobid), 0);
    /* KillWait=2: SIGTERM, SIGKILL 2 s later; then nothing may be left. */
    for (i = 0; i < sizeof(words) / sizeof(words[0]); i++)
        ck_assert_msg(sl_wait_count(words[i], 0, 15000) == 0,
                      "%s: after scancel, %d \"%s\" processes are left on the nodes",
                      name, slurmtest_count(&sl_c, words[i]), words[i]);
    printf("MEASURE: slurm scancel (%s): nothing of nws left on any node %.3f s later\n",
           name, sshtest_now() - t0);
    fflush(stdout);
}

START_TEST(scancel_cleans)
{
    char opts[600];

    SL_SKIP_IF_NEEDED();
    snprintf(opts, sizeof(opts), "--ssh-config '%s'", sl_c.ssh.ssh_config);
    sl_cancel("cancel_ssh", opts, 301, "sleep 3");
    sl_cancel("cancel_srun", "--launcher srun", 401, "sleep 4");
}
END_TEST

/*
 * Node 4's link is cut mid-batch under the ssh launcher (workers through
 * the ssh tunnels): the master's keepalives notice the silent node, its
 * tasks go to the others.  The link comes back after the batch, well within
 * SlurmdTimeout, so Slurm never marks the node down; its sshd drops the dead
 * session (ClientAliveInterval) and the node's workers end with it.
 */
START_TEST(node_unplugged)
{
    const char           *extra[] = {"--bind", sl_c.bridge_ip, NULL};
    struct nwstest_server srv;
    char                 *out, cut[128], restore[128];
    const char           *node = sl_c.node[SLURMTEST_NODES - 1];

    SL_SKIP_IF_NEEDED();
    ck_assert_int_eq(nwstest_server_start(&srv, extra), 0);
    snprintf(cut, sizeof(cut), "ip -n %s link set eth0 down", node);
    snprintf(restore, sizeof(restore), "ip -n %s link set eth0 up", node);
    out = sl_master_job("unplugged", &srv, "NWSTEST_TUNNEL=1", "ssh", cut, restore);
    ck_assert_int_eq((int)sl_value(out, "results"), 400);
    ck_assert_int_eq((int)sl_value(out, "survivors"), 12);
    ck_assert_msg(sl_wait_count("nws-worker", 0, 15000) == 0,
                  "%d nws-worker processes are left on the nodes",
                  slurmtest_count(&sl_c, "nws-worker"));
    printf("MEASURE: slurm, node's link cut mid-batch (ssh tunnels, keepalive 0.5 s): "
           "its 4 workers dropped and their tasks requeued %.3f s later\n",
           sl_value(out, "loss_s"));
    fflush(stdout);
    free(out);
    nwstest_server_stop(&srv);
}
END_TEST

/* Without a cluster: scontrol -o show node output, as 22.05 prints it. */
START_TEST(node_addr_parse)
{
    char addr[64];

    ck_assert_int_eq(sl_slurm_node_addr("NodeName=n1 Arch=x86_64 CoresPerSocket=1 "
                                        "CPUAlloc=0 CPUTot=4 NodeAddr=10.1.0.7 "
                                        "NodeHostName=n1 Version=22.05.8\n",
                                        addr, sizeof(addr)),
                     0);
    ck_assert_str_eq(addr, "10.1.0.7");
    /* The default NodeAddr is the node's name; only a word's start counts. */
    ck_assert_int_eq(sl_slurm_node_addr("NodeName=n1 XNodeAddr=bad NodeAddr=n1.cluster",
                                        addr, sizeof(addr)),
                     0);
    ck_assert_str_eq(addr, "n1.cluster");
    ck_assert_int_eq(sl_slurm_node_addr("Node n1 not found", addr, sizeof(addr)), -1);
    ck_assert_int_eq(sl_slurm_node_addr("NodeAddr= NodeHostName=n1", addr, sizeof(addr)),
                     -1);
}
END_TEST

NWSTEST_SUITE(slurm)
{
    Suite *s = suite_create("slurm");
    TCase *tc = tcase_create("cluster"), *units = tcase_create("units");

    tcase_add_test(units, node_addr_parse);
    suite_add_tcase(s, units);

    tcase_add_unchecked_fixture(tc, sl_setup, sl_teardown);
    tcase_set_timeout(tc, 180);
    tcase_add_test(tc, sbatch_ssh);
    tcase_add_test(tc, sbatch_srun);
    tcase_add_test(tc, in_a_step);
    tcase_add_test(tc, one_node_job);
    tcase_add_test(tc, api_master);
    tcase_add_test(tc, node_lost);
    tcase_add_test(tc, scancel_cleans);
    tcase_add_test(tc, node_unplugged);
    suite_add_tcase(s, tc);
    return s;
}
