/*
 * check_launch_nodes.c -- node lists and the launchers' command lines,
 * without any network: the nwsp_ functions of sleigh/nodes.c,
 * sleigh/launch_ssh.c and sleigh/launch_srun.c (the test links libnws.a,
 * so the hidden symbols are there).
 *
 * Every input format has its case: entries and lists (--nodes, the API),
 * node files (--nodefile, PBS_NODEFILE), Slurm host ranges and task
 * counts, SGE's PE_HOSTFILE, LSF's LSB_MCPU_HOSTS, and which scheduler
 * wins when the environment names several; the shared node policy
 * (nwsp_nodes_plan: lists, files, else the allocation) and nwsp_host_is_me.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "launch.h"
#include "nodes.h"
#include "nwstest.h"

/* The list in entry syntax, for comparing (static buffer). */
static const char *
ln_fmt(const struct nwsp_nodes *nl)
{
    static char buf[4096];
    char       *s = nwsp_nodes_format(nl);

    ck_assert_ptr_nonnull(s);
    snprintf(buf, sizeof(buf), "%s", s);
    free(s);
    return buf;
}

/* Parses list and checks the result (want NULL: must fail, err containing why). */
static void
ln_parse(const char *list, const char *want, const char *why)
{
    struct nwsp_nodes nl;
    nws_error         err = {0};
    int               rc;

    nwsp_nodes_init(&nl);
    rc = nwsp_nodes_parse(&nl, list, &err);
    if (want != NULL) {
        ck_assert_msg(rc == 0, "\"%s\": %s", list, err.text);
        ck_assert_str_eq(ln_fmt(&nl), want);
    } else {
        ck_assert_msg(rc == -1, "\"%s\" parsed as %s", list, ln_fmt(&nl));
        ck_assert_msg(strstr(err.text, why) != NULL, "\"%s\": error \"%s\" lacks \"%s\"",
                      list, err.text, why);
    }
    nwsp_nodes_free(&nl);
}

START_TEST(entries)
{
    ln_parse("a", "a:1", NULL);
    ln_parse("a:4", "a:4", NULL);
    ln_parse("4/a", "a:4", NULL); /* GNU parallel's --sshlogin */
    ln_parse("bob@a:2", "bob@a:2", NULL);
    ln_parse("2/bob@a.example.org", "bob@a.example.org:2", NULL);
    ln_parse("10.0.0.7:8", "10.0.0.7:8", NULL);
    ln_parse("[::1]:3", "[::1]:3", NULL);
    ln_parse("[fe80::1%eth0]", "[fe80::1%eth0]:1", NULL);
    ln_parse("a,b c\td\n", "a:1,b:1,c:1,d:1", NULL); /* commas and white space */
    ln_parse(" a, ,b ,", "a:1,b:1", NULL);
    ln_parse("a,a,b,a:2", "a:4,b:1", NULL);   /* a node listed again adds up */
    ln_parse("bob@a,a", "bob@a:1,a:1", NULL); /* another user: another session */
    ln_parse("node[01-03]:2", "node01:2,node02:2,node03:2", NULL);
    ln_parse("r[1-2]-n[1-2],x", "r1-n1:1,r1-n2:1,r2-n1:1,r2-n2:1,x:1", NULL);
    ln_parse("n[8-11,2]", "n8:1,n9:1,n10:1,n11:1,n2:1", NULL);
}
END_TEST

START_TEST(entry_errors)
{
    ln_parse("", NULL, "empty node list");
    ln_parse(" , ,", NULL, "empty node list");
    ln_parse("a:0", NULL, "want a count from 1");
    ln_parse("a:x", NULL, "want a count");
    ln_parse("a:", NULL, "want a count");
    ln_parse("a:1000001", NULL, "want a count");
    ln_parse("a:1:2", NULL, "want a count");
    ln_parse("0/a", NULL, "want a count");
    ln_parse("2/a:3", NULL, "two counts");
    ln_parse(":3", NULL, "bad host");
    ln_parse("a!b", NULL, "bad host name");
    ln_parse("-oProxyCommand=x", NULL, "bad host name");
    ln_parse("@a", NULL, "bad user name");
    ln_parse("bob@", NULL, "bad host");
    ln_parse("a'b@c", NULL, "bad user name");
    ln_parse("[::1", NULL, "bad host");
    ln_parse("[1-3]", NULL, "bad host");
    ln_parse("n[3-1]", NULL, "bad range");
    ln_parse("n[1-", NULL, "unbalanced");
    ln_parse("n[]", NULL, "unbalanced");
    ln_parse("n[a-b]", NULL, "bad range");
    ln_parse("n[0-99999]", NULL, "more than");
}
END_TEST

/* Expands a Slurm host list and compares the names joined by commas. */
static void
ln_hostlist(const char *expr, const char *want)
{
    char    **names, buf[4096] = "";
    size_t    n, i;
    nws_error err = {0};
    int       rc = nwsp_hostlist_expand(expr, &names, &n, &err);

    if (want == NULL) {
        ck_assert_msg(rc == -1, "\"%s\" expanded", expr);
        return;
    }
    ck_assert_msg(rc == 0, "\"%s\": %s", expr, err.text);
    for (i = 0; i < n; i++) {
        strcat(buf, i ? "," : "");
        strcat(buf, names[i]);
    }
    nwsp_hostlist_free(names, n);
    ck_assert_str_eq(buf, want);
}

START_TEST(slurm_hostlists)
{
    ln_hostlist("node[01-04,07]", "node01,node02,node03,node04,node07");
    ln_hostlist("a,b[8-11]", "a,b8,b9,b10,b11");
    ln_hostlist("gpu[1-2],cpu[001-002]", "gpu1,gpu2,cpu001,cpu002");
    ln_hostlist("rack[1-2]-n[01-02]", "rack1-n01,rack1-n02,rack2-n01,rack2-n02");
    ln_hostlist("n7", "n7");
    ln_hostlist("n[5]", "n5");
    ln_hostlist("", NULL);
    ln_hostlist("n[", NULL);
    ln_hostlist("n[1-2", NULL);
    ln_hostlist("n]", NULL);
    ln_hostlist("n[2-1]", NULL);
    ln_hostlist("n[1,,2]", NULL);
    ln_hostlist("n[0-70000]", NULL);
    ln_hostlist("a[0-300]b[0-300]", NULL); /* 90601 names */
}
END_TEST

/* Expands a Slurm count list and compares the counts joined by commas. */
static void
ln_counts(const char *spec, const char *want)
{
    long     *c;
    size_t    n, i;
    char      buf[512] = "", num[32];
    nws_error err = {0};
    int       rc = nwsp_slurm_counts(spec, &c, &n, &err);

    if (want == NULL) {
        ck_assert_msg(rc == -1, "\"%s\" expanded", spec);
        ck_assert_msg(strstr(err.text, "bad count list") != NULL, "%s", err.text);
        return;
    }
    ck_assert_msg(rc == 0, "\"%s\": %s", spec, err.text);
    for (i = 0; i < n; i++) {
        snprintf(num, sizeof(num), "%s%ld", i ? "," : "", c[i]);
        strcat(buf, num);
    }
    free(c);
    ck_assert_str_eq(buf, want);
}

START_TEST(slurm_counts)
{
    struct nwsp_nodes nl;
    nws_error         err = {0};

    ln_counts("2(x3),1", "2,2,2,1");
    ln_counts("4", "4");
    ln_counts("1(x2),3,2(x1)", "1,1,3,2");
    ln_counts("16(x2)", "16,16");
    ln_counts("", NULL);
    ln_counts("2(x)", NULL);
    ln_counts("(x3)", NULL);
    ln_counts("2(3)", NULL);
    ln_counts("0", NULL);
    ln_counts("2,,1", NULL);
    ln_counts("2(x3", NULL);
    ln_counts("2 ", NULL);
    nwsp_nodes_init(&nl);
    ck_assert_int_eq(nwsp_nodes_from_slurm(&nl, "node[1-3]", "2(x2),1", &err), 0);
    ck_assert_str_eq(ln_fmt(&nl), "node1:2,node2:2,node3:1");
    nwsp_nodes_free(&nl);
    ck_assert_int_eq(nwsp_nodes_from_slurm(&nl, "node[1-3]", NULL, &err), 0);
    ck_assert_str_eq(ln_fmt(&nl), "node1:1,node2:1,node3:1");
    nwsp_nodes_free(&nl);
    ck_assert_int_eq(nwsp_nodes_from_slurm(&nl, "node[1-3]", "2(x2)", &err), -1);
    ck_assert_msg(strstr(err.text, "3 nodes but 2 task counts") != NULL, "%s", err.text);
    nwsp_nodes_free(&nl);
}
END_TEST

/* Parses node file text (want NULL: must fail with why in the error). */
static void
ln_file(const char *text, const char *want, const char *why)
{
    struct nwsp_nodes nl;
    nws_error         err = {0};
    int               rc;

    nwsp_nodes_init(&nl);
    rc = nwsp_nodes_parse_text(&nl, text, "nodes", &err);
    if (want != NULL) {
        ck_assert_msg(rc == 0, "%s", err.text);
        ck_assert_str_eq(ln_fmt(&nl), want);
    } else {
        ck_assert_msg(rc == -1, "parsed as %s", ln_fmt(&nl));
        ck_assert_msg(strstr(err.text, why) != NULL, "error \"%s\" lacks \"%s\"",
                      err.text, why);
    }
    nwsp_nodes_free(&nl);
}

START_TEST(node_files)
{
    struct nwsp_nodes nl;
    nws_error         err = {0};
    char              path[] = "/tmp/nwstest-nodes.XXXXXX";
    int               fd;

    ln_file("# the nodes\n\nh1\nh1\nh2 4\nh3:2  # two\n2/h4\nh5 slots=3 max_slots=8\n"
            "bob@h6\n",
            "h1:2,h2:4,h3:2,h4:2,h5:3,bob@h6:1", NULL);
    ln_file("n[01-02] 3\n", "n01:3,n02:3", NULL);
    ln_file("h1\r\nh2 2\r\n", "h1:1,h2:2", NULL); /* written on Windows */
    ln_file("h1\nh2 x\n", NULL, "nodes:2: want");
    ln_file("h1 2 3\n", NULL, "nodes:1: want");
    ln_file("h1:2 3\n", NULL, "two counts");
    ln_file("# nothing\n\n", NULL, "no nodes");
    /* PBS/Torque: $PBS_NODEFILE lists a host once per slot. */
    fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, "n1\nn1\nn2\nn1\n", 12), 12);
    close(fd);
    nwsp_nodes_init(&nl);
    ck_assert_int_eq(nwsp_nodes_read_file(&nl, path, &err), 0);
    ck_assert_str_eq(ln_fmt(&nl), "n1:3,n2:1");
    nwsp_nodes_free(&nl);
    unlink(path);
    ck_assert_int_eq(nwsp_nodes_read_file(&nl, path, &err), -1);
    ck_assert_msg(strstr(err.text, "No such file") != NULL, "%s", err.text);
}
END_TEST

START_TEST(sge_and_lsf)
{
    struct nwsp_nodes nl;
    nws_error         err = {0};

    nwsp_nodes_init(&nl);
    ck_assert_int_eq(nwsp_nodes_parse_sge(&nl,
                                          "n1.cluster 4 all.q@n1.cluster UNDEFINED\n"
                                          "n2.cluster 2 all.q@n2.cluster <NULL>\n",
                                          "pe_hostfile", &err),
                     0);
    ck_assert_str_eq(ln_fmt(&nl), "n1.cluster:4,n2.cluster:2");
    nwsp_nodes_free(&nl);
    ck_assert_int_eq(nwsp_nodes_parse_sge(&nl, "n1 x all.q UNDEFINED\n", "pe", &err), -1);
    ck_assert_msg(strstr(err.text, "pe:1") != NULL, "%s", err.text);
    nwsp_nodes_free(&nl);
    ck_assert_int_eq(nwsp_nodes_from_lsf(&nl, "hostA 4 hostB 2", &err), 0);
    ck_assert_str_eq(ln_fmt(&nl), "hostA:4,hostB:2");
    nwsp_nodes_free(&nl);
    ck_assert_int_eq(nwsp_nodes_from_lsf(&nl, "hostA", &err), -1);
    nwsp_nodes_free(&nl);
    ck_assert_int_eq(nwsp_nodes_from_lsf(&nl, "hostA x", &err), -1);
    nwsp_nodes_free(&nl);
}
END_TEST

/* A fake environment: NULL-terminated NAME=value pairs. */
static const char *
ln_env(const char *name, void *arg)
{
    const char *const *v = arg;
    size_t             len = strlen(name);

    for (; *v != NULL; v++)
        if (strncmp(*v, name, len) == 0 && (*v)[len] == '=')
            return *v + len + 1;
    return NULL;
}

/* The nodes the environment env gives (want NULL: none). */
static void
ln_from_env(const char *const *env, const char *want, const char *source)
{
    struct nwsp_nodes nl;
    nws_error         err = {0};
    const char       *src = NULL;
    int               rc;

    nwsp_nodes_init(&nl);
    rc = nwsp_nodes_from_env(&nl, ln_env, (void *)env, &src, &err);
    if (want == NULL) {
        ck_assert_int_eq(rc, 0);
    } else {
        ck_assert_msg(rc == 1, "%s", err.text);
        ck_assert_str_eq(ln_fmt(&nl), want);
        ck_assert_str_eq(src, source);
    }
    nwsp_nodes_free(&nl);
}

START_TEST(schedulers)
{
    char        pbs[] = "/tmp/nwstest-pbs.XXXXXX", sge[] = "/tmp/nwstest-sge.XXXXXX";
    char        pbsvar[64], sgevar[64];
    int         fd;
    const char *none[] = {"HOME=/root", "SLURM_JOB_NODELIST=", NULL};
    const char *slurm[] = {"SLURM_JOB_NODELIST=c[1-2]", "SLURM_TASKS_PER_NODE=3(x2)",
                           pbsvar, NULL};
    const char *slurm_cpus[] = {"SLURM_NODELIST=c[1-2]", "SLURM_JOB_CPUS_PER_NODE=8,4",
                                NULL};
    const char *pbs_env[] = {pbsvar, sgevar, NULL};
    const char *sge_env[] = {sgevar, "LSB_MCPU_HOSTS=x 1", NULL};
    const char *lsf[] = {"LSB_MCPU_HOSTS=hostA 4 hostB 2", "LSB_HOSTS=z", NULL};
    const char *lsf_hosts[] = {"LSB_HOSTS=h1 h1 h2", NULL};
    const char *bad[] = {"SLURM_JOB_NODELIST=c[1-2]", "SLURM_TASKS_PER_NODE=1", NULL};
    /* What Slurm 22.05 sets in the step of salloc -N4 srun -N1 -n1 (check_slurm.c). */
    const char       *step[] = {"SLURM_JOB_NODELIST=nwsl-n[1-4]",
                                "SLURM_NODELIST=nwsl-n[1-4]",
                                "SLURM_TASKS_PER_NODE=1",
                                "SLURM_JOB_CPUS_PER_NODE=4(x4)",
                                "SLURM_STEP_NODELIST=nwsl-n1",
                                "SLURM_STEP_TASKS_PER_NODE=1",
                                "SLURM_STEP_ID=0",
                                "SLURM_NTASKS=1",
                                NULL};
    struct nwsp_nodes nl;
    nws_error         err = {0};

    fd = mkstemp(pbs);
    ck_assert_int_eq(write(fd, "p1\np1\np2\n", 9), 9);
    close(fd);
    fd = mkstemp(sge);
    ck_assert_int_eq(write(fd, "s1 2 q@s1 UNDEFINED\n", 20), 20);
    close(fd);
    snprintf(pbsvar, sizeof(pbsvar), "PBS_NODEFILE=%s", pbs);
    snprintf(sgevar, sizeof(sgevar), "PE_HOSTFILE=%s", sge);
    ln_from_env(none, NULL, NULL);
    ln_from_env(slurm, "c1:3,c2:3", "Slurm"); /* Slurm first */
    ln_from_env(slurm_cpus, "c1:8,c2:4", "Slurm");
    ln_from_env(pbs_env, "p1:2,p2:1", "PBS");
    ln_from_env(sge_env, "s1:2", "SGE");
    ln_from_env(lsf, "hostA:4,hostB:2", "LSF");
    ln_from_env(lsf_hosts, "h1:2,h2:1", "LSF");
    ln_from_env(step, "nwsl-n1:4,nwsl-n2:4,nwsl-n3:4,nwsl-n4:4", "Slurm");
    nwsp_nodes_init(&nl);
    ck_assert_int_eq(nwsp_nodes_from_env(&nl, ln_env, (void *)bad, NULL, &err), -1);
    ck_assert_msg(strstr(err.text, "2 nodes but 1 task counts") != NULL, "%s", err.text);
    nwsp_nodes_free(&nl);
    unlink(pbs);
    unlink(sge);
}
END_TEST

/*
 * The node files and variables of PBS, Grid Engine and LSF as those
 * schedulers write them (tests/data/batch/README.md: the samples and where
 * each format is documented).
 */
START_TEST(batch_samples)
{
    const char *src = getenv("NWS_SRC_DIR");
    char        dir[400], pbs1[600], pbs2[600], sge[600], lsf[600], mcpu[600];
    char       *text;
    int         fd;
    const char *torque_env[] = {pbs1, NULL}, *pbspro_env[] = {pbs2, NULL};
    const char *sge_env[] = {sge, NULL}, *djob_env[] = {lsf, "LSB_HOSTS=", NULL};
    const char *mcpu_env[] = {mcpu, lsf, NULL};

    snprintf(dir, sizeof(dir), "%s/tests/data/batch", src != NULL ? src : ".");
    snprintf(pbs1, sizeof(pbs1), "PBS_NODEFILE=%s/pbs_nodefile.torque", dir);
    snprintf(pbs2, sizeof(pbs2), "PBS_NODEFILE=%s/pbs_nodefile.pbspro", dir);
    snprintf(sge, sizeof(sge), "PE_HOSTFILE=%s/pe_hostfile.sge", dir);
    snprintf(lsf, sizeof(lsf), "LSB_DJOB_HOSTFILE=%s/lsb_djob_hostfile.lsf", dir);
    snprintf(mcpu, sizeof(mcpu), "%s/lsb_mcpu_hosts.lsf", dir);
    fd = open(mcpu, O_RDONLY);
    ck_assert_int_ge(fd, 0);
    text = nwstest_slurp(fd, NULL);
    close(fd);
    text[strcspn(text, "\n")] = '\0';
    snprintf(mcpu, sizeof(mcpu), "LSB_MCPU_HOSTS=%s", text);
    free(text);

    /* nodes=2:ppn=4+1:ppn=2 */
    ln_from_env(torque_env, "n001:4,n002:4,n003:2", "PBS");
    /* select=3:ncpus=4:mpiprocs=2 */
    ln_from_env(pbspro_env,
                "cn17.hpc.example.org:2,cn18.hpc.example.org:2,cn21.hpc.example.org:2",
                "PBS");
    /* -pe mpi 10 over all.q and long.q: node05's two lines add up. */
    ln_from_env(sge_env, "node05.cluster:6,node09.cluster:4", "SGE");
    /* -n 6 -R span[ptile=4]: the file alone, and with LSB_MCPU_HOSTS (which wins). */
    ln_from_env(djob_env, "hpc-a12:4,hpc-b03:2", "LSF");
    ln_from_env(mcpu_env, "hpc-a12:4,hpc-b03:2", "LSF");
}
END_TEST

/* Clears every variable nwsp_nodes_from_env reads (tests run forked). */
static void
ln_no_allocation(void)
{
    static const char *const vars[] = {
        "SLURM_JOB_NODELIST",      "SLURM_NODELIST",     "SLURM_TASKS_PER_NODE",
        "SLURM_JOB_CPUS_PER_NODE", "PBS_NODEFILE",       "PE_HOSTFILE",
        "LSB_MCPU_HOSTS",          "LSB_HOSTS",          "LSB_DJOB_HOSTFILE",
        "SLURM_STEP_ID",           "SLURM_STEP_NODELIST"};
    size_t i;

    for (i = 0; i < sizeof(vars) / sizeof(vars[0]); i++)
        unsetenv(vars[i]);
}

/* The shared node policy: lists, then files, else the allocation (getenv). */
START_TEST(plan)
{
    struct nwsp_nodes nl;
    nws_error         err = {0};
    char              path[] = "/tmp/nwstest-plan.XXXXXX";
    const char       *lists[] = {"a,b:2", "c", NULL}, *badlist[] = {"a", "b!", NULL};
    const char       *files[] = {path, NULL}, *nofile[] = {"/nonexistent/nodes", NULL};
    const char       *source, *bad;
    int               fd;

    ln_no_allocation();
    fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, "h1 2\n", 5), 5);
    close(fd);
    nwsp_nodes_init(&nl);

    /* Nothing anywhere: 0, and nothing named. */
    source = bad = "x";
    ck_assert_int_eq(nwsp_nodes_plan(&nl, NULL, NULL, &source, &bad, &err), 0);
    ck_assert_ptr_null(source);
    ck_assert_ptr_null(bad);
    ck_assert_uint_eq(nl.nl_n, 0);

    /* Lists then files, in order. */
    ck_assert_int_eq(nwsp_nodes_plan(&nl, lists, files, &source, &bad, &err), 1);
    ck_assert_str_eq(ln_fmt(&nl), "a:1,b:2,c:1,h1:2");
    ck_assert_ptr_null(source);
    nwsp_nodes_free(&nl);

    /* A failing list or file is named by *bad (the caller's own pointer). */
    ck_assert_int_eq(nwsp_nodes_plan(&nl, badlist, files, &source, &bad, &err), -1);
    ck_assert_ptr_eq(bad, badlist[1]);
    ck_assert_msg(strstr(err.text, "bad host name") != NULL, "%s", err.text);
    nwsp_nodes_free(&nl);
    memset(&err, 0, sizeof(err)); /* the first error set is kept */
    ck_assert_int_eq(nwsp_nodes_plan(&nl, lists, nofile, &source, &bad, &err), -1);
    ck_assert_ptr_eq(bad, nofile[0]);
    ck_assert_msg(strstr(err.text, "No such file") != NULL, "%s", err.text);
    nwsp_nodes_free(&nl);

    /* No list: the allocation, read through getenv. */
    setenv("SLURM_JOB_NODELIST", "c[1-2]", 1);
    setenv("SLURM_TASKS_PER_NODE", "2(x2)", 1);
    ck_assert_int_eq(nwsp_nodes_plan(&nl, NULL, NULL, &source, &bad, &err), 1);
    ck_assert_str_eq(ln_fmt(&nl), "c1:2,c2:2");
    ck_assert_str_eq(source, "Slurm");
    nwsp_nodes_free(&nl);
    /* A list wins over the allocation. */
    ck_assert_int_eq(nwsp_nodes_plan(&nl, lists + 1, NULL, &source, &bad, &err), 1);
    ck_assert_str_eq(ln_fmt(&nl), "c:1");
    ck_assert_ptr_null(source);
    nwsp_nodes_free(&nl);
    /* A broken allocation: -1, *bad NULL, *source says whose. */
    setenv("SLURM_TASKS_PER_NODE", "1", 1);
    memset(&err, 0, sizeof(err));
    bad = "x";
    ck_assert_int_eq(nwsp_nodes_plan(&nl, NULL, NULL, &source, &bad, &err), -1);
    ck_assert_ptr_null(bad);
    ck_assert_str_eq(source, "Slurm");
    ck_assert_msg(strstr(err.text, "2 nodes but 1 task counts") != NULL, "%s", err.text);
    /* source and bad may be NULL. */
    ck_assert_int_eq(nwsp_nodes_plan(&nl, NULL, NULL, NULL, NULL, &err), -1);
    nwsp_nodes_free(&nl);
    unlink(path);
}
END_TEST

/* This machine: loopback names, our host name long or short; nothing else. */
START_TEST(host_is_me)
{
    char   me[256], buf[300];
    size_t n;

    ck_assert_int_eq(nwsp_host_is_me(NULL), 1);
    ck_assert_int_eq(nwsp_host_is_me(""), 1);
    ck_assert_int_eq(nwsp_host_is_me("localhost"), 1);
    ck_assert_int_eq(nwsp_host_is_me("127.0.0.1"), 1);
    ck_assert_int_eq(nwsp_host_is_me("127.1.2.3"), 1);
    ck_assert_int_eq(nwsp_host_is_me("::1"), 1);
    ck_assert_int_eq(nwsp_host_is_me("no-such-host.invalid"), 0);
    ck_assert_int_eq(gethostname(me, sizeof(me) - 1), 0);
    me[sizeof(me) - 1] = '\0';
    n = strcspn(me, ".");
    ck_assert_int_eq(nwsp_host_is_me(me), 1);
    snprintf(buf, sizeof(buf), "%.*s", (int)n, me);
    ck_assert_int_eq(nwsp_host_is_me(buf), 1); /* the short name */
    snprintf(buf, sizeof(buf), "%.*s.some.domain", (int)n, me);
    ck_assert_int_eq(nwsp_host_is_me(buf), 1); /* the short name, another domain */
    snprintf(buf, sizeof(buf), "%.*sx", (int)n, me);
    ck_assert_int_eq(nwsp_host_is_me(buf), 0); /* a longer name */
    snprintf(buf, sizeof(buf), "x%s", me);
    ck_assert_int_eq(nwsp_host_is_me(buf), 0);
    /* Inside a Slurm job: the node name slurmd gave it, whatever the host name. */
    ck_assert_int_eq(nwsp_host_is_me("nwsl-n7"), 0);
    setenv("SLURMD_NODENAME", "nwsl-n7", 1);
    ck_assert_int_eq(nwsp_host_is_me("nwsl-n7"), 1);
    ck_assert_int_eq(nwsp_host_is_me("nwsl-n8"), 0);
    unsetenv("SLURMD_NODENAME");
}
END_TEST

START_TEST(spread)
{
    struct nwsp_nodes nl;
    nws_error         err = {0};
    static const struct {
        long        n;
        const char *want;
    } cases[] = {
        {3, "a:1,b:1,c:1"}, {5, "a:2,b:2,c:1"},  {6, "a:3,b:2,c:1"},  {7, "a:4,b:2,c:1"},
        {2, "a:1,b:1"},     {1, "a:1"},          {10, "a:5,b:3,c:2"}, {8, "a:5,b:2,c:1"},
        {0, "a:4,b:2,c:1"}, {-1, "a:4,b:2,c:1"},
    };
    size_t i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        nwsp_nodes_init(&nl);
        ck_assert_int_eq(nwsp_nodes_parse(&nl, "a:4,b:2,c", &err), 0);
        nwsp_nodes_spread(&nl, cases[i].n);
        ck_assert_msg(strcmp(ln_fmt(&nl), cases[i].want) == 0, "spread %ld: %s, want %s",
                      cases[i].n, ln_fmt(&nl), cases[i].want);
        ck_assert_int_eq(nwsp_nodes_total(&nl), cases[i].n > 0 ? cases[i].n : 7);
        nwsp_nodes_free(&nl);
    }
}
END_TEST

/* ---- command lines ------------------------------------------------------- */

START_TEST(ssh_command)
{
    const char             *env[] = {"A=b c", "Q='x'", "NOVALUE", "=bad", NULL};
    struct nwsp_launch_spec spec;
    char                   *cmd, line[4096], out[4096] = "";
    FILE                   *fp;

    memset(&spec, 0, sizeof(spec));
    spec.ws_name = "ws'x";
    spec.worker_path = "/bin/echo";
    spec.working_dir = "/";
    spec.env = env;
    spec.total = 5;
    spec.verbose = 1;
    spec.restart = 1;
    cmd = nwsp_ssh_command(&spec, "127.0.0.1", 4000, 3);
    ck_assert_ptr_nonnull(cmd);
    ck_assert_str_eq(cmd, "cd '/' && exec env 'NWS_SLEIGH_WORKERS=5' 'A=b c' "
                          "'Q='\\''x'\\''' '/bin/echo' --count 3 --watch-stdin --host "
                          "'127.0.0.1' --port 4000 --workspace 'ws'\\''x' --verbose");
    /* What a shell makes of it: echo prints the node launcher's arguments. */
    snprintf(line, sizeof(line), "/bin/sh -c \"$NWSTEST_CMD\"");
    setenv("NWSTEST_CMD", cmd, 1);
    fp = popen(line, "r");
    ck_assert_ptr_nonnull(fp);
    ck_assert_ptr_nonnull(fgets(out, sizeof(out), fp));
    pclose(fp);
    ck_assert_str_eq(out, "--count 3 --watch-stdin --host 127.0.0.1 --port 4000 "
                          "--workspace ws'x --verbose\n");
    free(cmd);
    spec.working_dir = NULL;
    spec.env = NULL;
    spec.verbose = 0;
    spec.output = 1;
    spec.restart = 0;
    cmd = nwsp_ssh_command(&spec, "10.1.2.3", 8765, 16);
    ck_assert_str_eq(cmd, "exec env 'NWS_SLEIGH_WORKERS=5' '/bin/echo' --count 16 "
                          "--watch-stdin --host '10.1.2.3' --port 8765 --workspace "
                          "'ws'\\''x' --output --no-restart");
    free(cmd);
}
END_TEST

START_TEST(node_lines)
{
    long       *ranks = NULL, rank = -1, pid = -1;
    size_t      n = 0;
    int         again = -1;
    const char *text = NULL;

    /* node_protocol.h's names spell the lines of version 1 exactly. */
    ck_assert_int_eq(NWSP_NODE_PROTOCOL_VERSION, 1);
    ck_assert_str_eq(NWSP_NODE_PREFIX NWSP_NODE_RANKS_V, "nws-node ranks");
    ck_assert_str_eq(NWSP_NODE_PREFIX NWSP_NODE_UP_V, "nws-node up");
    ck_assert_str_eq(NWSP_NODE_PREFIX NWSP_NODE_DOWN_V " 1 " NWSP_NODE_AGAIN,
                     "nws-node down 1 again");
    ck_assert_str_eq(NWSP_NODE_PREFIX NWSP_NODE_DOWN_V " 1 " NWSP_NODE_FINAL,
                     "nws-node down 1 final");
    ck_assert_str_eq(NWSP_NODE_PREFIX NWSP_NODE_ERROR_V, "nws-node error");
    ck_assert_str_eq(NWSP_NODE_PREFIX NWSP_NODE_DONE_V, "nws-node done");
    ck_assert_str_eq(NWSP_NODE_PREFIX NWSP_NODE_STOPPED_V, "nws-node stopped");

    ck_assert_int_eq(
        nwsp_node_line("nws-node ranks 4 5 17", &ranks, &n, &rank, &pid, &again, &text),
        NWSP_NODE_RANKS);
    ck_assert_int_eq(n, 3);
    ck_assert_int_eq(ranks[2], 17);
    free(ranks);
    ck_assert_int_eq(
        nwsp_node_line("nws-node up 5 1234", &ranks, &n, &rank, &pid, &again, &text),
        NWSP_NODE_UP);
    ck_assert_int_eq(rank, 5);
    ck_assert_int_eq(pid, 1234);
    ck_assert_int_eq(nwsp_node_line("nws-node down 5 again signal=9", &ranks, &n, &rank,
                                    &pid, &again, &text),
                     NWSP_NODE_DOWN);
    ck_assert_int_eq(again, 1);
    ck_assert_int_eq(nwsp_node_line("nws-node down 4 final exit=0", &ranks, &n, &rank,
                                    &pid, &again, &text),
                     NWSP_NODE_DOWN);
    ck_assert_int_eq(again, 0);
    ck_assert_int_eq(nwsp_node_line("nws-node error cannot join: refused", &ranks, &n,
                                    &rank, &pid, &again, &text),
                     NWSP_NODE_ERROR);
    ck_assert_str_eq(text, "cannot join: refused");
    ck_assert_int_eq(
        nwsp_node_line("nws-node ranks", &ranks, &n, &rank, &pid, &again, &text), -1);
    ck_assert_int_eq(
        nwsp_node_line("nws-node ranks 1 x", &ranks, &n, &rank, &pid, &again, &text), -1);
    ck_assert_int_eq(
        nwsp_node_line("nws-node ranks -1", &ranks, &n, &rank, &pid, &again, &text), -1);
    ck_assert_int_eq(
        nwsp_node_line("nws-node up 5", &ranks, &n, &rank, &pid, &again, &text), -1);
    ck_assert_int_eq(nwsp_node_line("nws-node down 5 maybe exit=0", &ranks, &n, &rank,
                                    &pid, &again, &text),
                     -1);
    ck_assert_int_eq(nwsp_node_line("hello", &ranks, &n, &rank, &pid, &again, &text), -1);
    ck_assert_int_eq(
        nwsp_node_line("nws-node done", &ranks, &n, &rank, &pid, &again, &text), -1);
}
END_TEST

START_TEST(srun_command)
{
    struct nwsp_launch_spec spec;
    char                  **v, buf[2048] = "";
    size_t                  i;

    memset(&spec, 0, sizeof(spec));
    spec.host = "127.0.0.1";
    spec.port = 8765;
    spec.remote_host = "head.cluster";
    spec.remote_port = 9000;
    spec.ws_name = "sleigh_ride_0001";
    spec.worker_path = "/opt/nws/bin/nws-worker";
    spec.working_dir = "/scratch/run 1";
    spec.output = 1;
    v = nwsp_srun_argv(&spec, "/usr/bin/srun", "node07", 16, 0);
    ck_assert_ptr_nonnull(v);
    for (i = 0; v[i] != NULL; i++) {
        strcat(buf, i ? "|" : "");
        strcat(buf, v[i]);
        free(v[i]);
    }
    free(v);
    ck_assert_str_eq(buf,
                     "/usr/bin/srun|--nodes=1|--ntasks=16|--nodelist=node07|"
                     "--kill-on-bad-exit=0|--input=none|--job-name=nws-worker|"
                     "--export=ALL|--chdir=/scratch/run 1|--|/opt/nws/bin/nws-worker|"
                     "--host|head.cluster|--port|9000|--workspace|sleigh_ride_0001|"
                     "--output");
    /* More workers than the node's CPUs: srun refuses the step without --overcommit. */
    v = nwsp_srun_argv(&spec, "/usr/bin/srun", "node07", 16,
                       NWSP_SRUN_OVERCOMMIT | NWSP_SRUN_OVERLAP);
    ck_assert_ptr_nonnull(v);
    ck_assert_str_eq(v[2], "--ntasks=16");
    ck_assert_str_eq(v[3], "--overcommit");
    ck_assert_str_eq(v[4], "--overlap");
    for (i = 0; v[i] != NULL; i++)
        free(v[i]);
    free(v);
}
END_TEST

/* The job's CPUs per node, as real Slurm 22.05 sets them (tests/check_slurm.c). */
START_TEST(srun_cpus)
{
    struct nwsp_nodes nl;

    nwsp_nodes_init(&nl);
    /* sbatch -N3 -n5 on 4-CPU nodes: SLURM_JOB_CPUS_PER_NODE=4(x3). */
    ck_assert_int_eq(nwsp_srun_cpus(&nl, "nwsl-n[1-3]", "4(x3)", NULL), 0);
    ck_assert_int_eq(nl.nl_n, 3);
    ck_assert_str_eq(nl.nl_v[2].nd_host, "nwsl-n3");
    ck_assert_int_eq(nl.nl_v[2].nd_slots, 4);
    nwsp_nodes_free(&nl);
    /* sbatch -N4 -c 2: tasks of 2 CPUs each. */
    ck_assert_int_eq(nwsp_srun_cpus(&nl, "a,b[1-2]", "8,4(x2)", "2"), 0);
    ck_assert_int_eq(nl.nl_v[0].nd_slots, 4);
    ck_assert_int_eq(nl.nl_v[1].nd_slots, 2);
    nwsp_nodes_free(&nl);
    /* -c larger than a node's CPUs still leaves one task's room. */
    ck_assert_int_eq(nwsp_srun_cpus(&nl, "a", "2", "4"), 0);
    ck_assert_int_eq(nl.nl_v[0].nd_slots, 1);
    nwsp_nodes_free(&nl);
    /* Outside a job, or a bad value: unknown. */
    ck_assert_int_eq(nwsp_srun_cpus(&nl, NULL, "4", NULL), -1);
    ck_assert_int_eq(nwsp_srun_cpus(&nl, "a", NULL, NULL), -1);
    ck_assert_int_eq(nwsp_srun_cpus(&nl, "a", "4", "0"), -1);
    ck_assert_int_eq(nl.nl_n, 0);
}
END_TEST

NWSTEST_SUITE(launch_nodes)
{
    Suite *s = suite_create("launch_nodes");
    TCase *tc = tcase_create("lists");

    tcase_set_timeout(tc, 10);
    tcase_add_test(tc, entries);
    tcase_add_test(tc, entry_errors);
    tcase_add_test(tc, slurm_hostlists);
    tcase_add_test(tc, slurm_counts);
    tcase_add_test(tc, node_files);
    tcase_add_test(tc, sge_and_lsf);
    tcase_add_test(tc, schedulers);
    tcase_add_test(tc, batch_samples);
    tcase_add_test(tc, spread);
    tcase_add_test(tc, plan);
    tcase_add_test(tc, host_is_me);
    tcase_add_test(tc, srun_cpus);
    suite_add_tcase(s, tc);

    tc = tcase_create("commands");
    tcase_set_timeout(tc, 10);
    tcase_add_test(tc, ssh_command);
    tcase_add_test(tc, node_lines);
    tcase_add_test(tc, srun_command);
    suite_add_tcase(s, tc);
    return s;
}
