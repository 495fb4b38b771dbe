/*
 * check_launch_netns.c -- a sleigh across several hosts on one machine.
 *
 * Each "host" is a network namespace (ip netns) with its own sshd, joined
 * to a bridge in this namespace by a veth pair, on a private /24 of
 * 10.213.0.0/16 that the test picks unused.  nwsserver listens on the
 * bridge's address.  The tests launch 4 hosts x 4 workers over ssh, run
 * batches across them, then take a host away in the middle of a batch
 * (its processes killed, or its link brought down) and check that every
 * element still gets exactly one result, from the other hosts.  They print
 * "MEASURE:" lines: start-up time of the 4 x 4 sleigh, and how long the
 * sleigh takes to notice a lost host.
 *
 * They need root (namespaces, links) and sshd: elsewhere they pass after
 * printing "SKIPPED: <reason>"; CI runs as root, so they run there.  All
 * names start with "nwst-"; a lock file serializes concurrent runs, every
 * run first removes what an earlier (killed) run left, and teardown and
 * exit (a failed assertion exits the test process) remove everything.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "nws.h"
#include "nws_json.h"
#include "nws_sleigh.h"
#include "nwstest.h"
#include "sshtest.h"

#define LN_LOCK      "/tmp/nwstest-netns.lock"
#define LN_MAX_HOSTS 4

static struct nwstest_server ln_srv;
static struct sshtest_env    ln_env;
static struct sshtest_sshd   ln_sshd[LN_MAX_HOSTS];
static int                   ln_nhosts;
static int                   ln_net; /* 10.213.<ln_net>.0/24 */
static char                  ln_bridge_ip[32];
static char                  ln_worker[512];
static char                  ln_module[512];
static char                  ln_why[256]; /* why the tests skip, or "" */
static int                   ln_lock_fd = -1;
static int                   ln_cleanup_set;

/* Removes every namespace and link named nwst-* (and kills what runs there). */
static void
ln_cleanup(void)
{
    int i;

    for (i = 0; i < LN_MAX_HOSTS; i++)
        sshtest_sshd_stop(&ln_sshd[i]);
    sshtest_netns_cleanup("nwst-");
}

/* Takes the lock that serializes the namespace tests of concurrent runs. */
static void
ln_lock(void)
{
    double deadline = sshtest_now() + 60;

    ln_lock_fd = open(LN_LOCK, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    ck_assert_int_ge(ln_lock_fd, 0);
    while (flock(ln_lock_fd, LOCK_EX | LOCK_NB) != 0) {
        ck_assert_msg(sshtest_now() < deadline, "another test run holds %s", LN_LOCK);
        usleep(100000);
    }
}

/* Picks a /24 of 10.213.0.0/16 that no address or route here uses; 0, or -1. */
static int
ln_pick_net(void)
{
    int x;

    for (x = 77; x < 250; x++)
        if (sshtest_sh("ip -4 -o addr show | grep -q ' 10\\.213\\.%d\\.' || "
                       "ip -4 route show | grep -q '^10\\.213\\.%d\\.'",
                       x, x) != 0)
            return x;
    return -1;
}

/* Fixture: decides whether the tests can run here, and cleans up before them. */
static void
ln_setup(void)
{
    const char *dir = getenv("NWS_MODULES_DIR");

    unsetenv("SSH_AUTH_SOCK");
    memset(ln_sshd, 0, sizeof(ln_sshd));
    ln_nhosts = 0;
    ln_why[0] = '\0';
    nwstest_bin("nws-worker", ln_worker, sizeof(ln_worker));
    snprintf(ln_module, sizeof(ln_module), "%s/sleigh_test.so",
             dir != NULL ? dir : "build/modules");
    if (geteuid() != 0) {
        snprintf(ln_why, sizeof(ln_why), "needs root for network namespaces");
        return;
    }
    if (!sshtest_available(ln_why, sizeof(ln_why)))
        return;
    if (sshtest_sh("ip netns list >/dev/null 2>&1") != 0) {
        snprintf(ln_why, sizeof(ln_why), "ip netns does not work here (iproute2?)");
        return;
    }
    ln_lock();
    if (!ln_cleanup_set) {
        atexit(ln_cleanup);
        ln_cleanup_set = 1;
    }
    ln_cleanup(); /* whatever an earlier run left */
    if (sshtest_sh("ip netns add nwst-probe >/dev/null 2>&1 && "
                   "ip netns del nwst-probe >/dev/null 2>&1") != 0) {
        snprintf(ln_why, sizeof(ln_why), "cannot make network namespaces here");
        return;
    }
    ck_assert_int_eq(sshtest_env_make(&ln_env), 0);
}

static void
ln_teardown(void)
{
    if (ln_why[0] != '\0')
        return;
    nwstest_server_stop(&ln_srv);
    ln_cleanup();
    sshtest_env_free(&ln_env);
}

/* Prints the skip line and returns 1 when the test cannot run here. */
static int
ln_skipped(const char *test)
{
    if (ln_why[0] == '\0')
        return 0;
    /* START_TEST names the function NAME_fn. */
    printf("SKIPPED: launch_netns %.*s: %s\n",
           (int)(strlen(test) > 3 ? strlen(test) - 3 : strlen(test)), test, ln_why);
    fflush(stdout);
    return 1;
}

#define LN_SKIP_IF_NEEDED()                                                              \
    do {                                                                                 \
        if (ln_skipped(__func__))                                                        \
            return;                                                                      \
    } while (0)

/* The address of host i (1-based). */
static const char *
ln_addr(int i, char *buf, size_t len)
{
    snprintf(buf, len, "10.213.%d.%d", ln_net, 10 + i);
    return buf;
}

/*
 * Makes n hosts nwst-h1 ... on a bridge, an sshd in each (sshd_extra:
 * more sshd_config lines), the nwsserver on the bridge's address, and the
 * ssh config and known_hosts for them.
 */
static void
ln_hosts_up(int n, const char *sshd_extra)
{
    const char *extra[] = {"--bind", ln_bridge_ip, NULL};
    char        addr[32], alias[32];
    int         i;

    ck_assert_int_le(n, LN_MAX_HOSTS);
    ln_net = ln_pick_net();
    ck_assert_msg(ln_net > 0, "no free /24 in 10.213.0.0/16");
    snprintf(ln_bridge_ip, sizeof(ln_bridge_ip), "10.213.%d.1", ln_net);
    ck_assert_int_eq(
        sshtest_sh("ip link add nwst-br type bridge && ip link set nwst-br up "
                   "&& ip addr add %s/24 dev nwst-br",
                   ln_bridge_ip),
        0);
    snprintf(ln_env.sshd_extra, sizeof(ln_env.sshd_extra), "%s", sshd_extra);
    for (i = 1; i <= n; i++) {
        ln_addr(i, addr, sizeof(addr));
        ck_assert_msg(
            sshtest_sh("ip netns add nwst-h%d && ip -n nwst-h%d link set lo up && "
                       "ip link add nwst-v%d type veth peer name eth0 netns "
                       "nwst-h%d && ip link set nwst-v%d master nwst-br up && "
                       "ip -n nwst-h%d addr add %s/24 dev eth0 && "
                       "ip -n nwst-h%d link set eth0 up",
                       i, i, i, i, i, i, addr, i) == 0,
            "cannot make host %d", i);
        snprintf(alias, sizeof(alias), "nwst-h%d", i);
        ck_assert_msg(sshtest_sshd_start(&ln_env, &ln_sshd[i - 1], alias, addr, 22) == 0,
                      "no sshd on %s", alias);
        ck_assert_int_eq(sshtest_known_host(&ln_env, addr, 22, NULL), 0);
        ck_assert_int_eq(sshtest_config_host(&ln_env, alias, addr, 22, NULL), 0);
    }
    ln_nhosts = n;
    ck_assert_int_eq(nwstest_server_start(&ln_srv, extra), 0);
}

/* Options for a sleigh on nodes; direct: workers reach the server's address. */
static void
ln_options(nws_sleigh_options *o, const char *const *nodes, int direct)
{
    nws_sleigh_options_init(o);
    o->host = ln_bridge_ip;
    o->port = ln_srv.port;
    o->launcher = "ssh";
    o->nodes = nodes;
    o->worker_path = ln_worker;
    o->ssh_config = ln_env.ssh_config;
    o->verbose = getenv("NWSTEST_VERBOSE") != NULL;
    o->connect_timeout = 20;
    o->join_timeout = 30;
    if (direct)
        o->remote_host = ln_bridge_ip;
}

/* Asserts no nws-worker process of workspace ws is left, in any namespace. */
static void
ln_no_workers(const char *ws, int ms)
{
    const char *words[] = {"nws-worker", ws, NULL};
    int         n = sshtest_procs_gone(words, ms);

    ck_assert_msg(n == 0, "%d nws-worker processes of %s are left", n, ws);
}

/* The ranks the node called name runs (a new array), from nws_sleigh_nodes. */
static json_t *
ln_ranks_of(nws_sleigh *s, const char *name)
{
    nws_error err;
    json_t   *nodes = nws_sleigh_nodes(s, &err), *n, *r = NULL;
    size_t    i;

    ck_assert_msg(nodes != NULL, "nodes: %s", err.text);
    json_array_foreach(nodes, i, n)
    {
        if (strcmp(json_string_value(json_object_get(n, "node")), name) == 0)
            r = json_incref(json_object_get(n, "ranks"));
    }
    json_decref(nodes);
    ck_assert_ptr_nonnull(r);
    return r;
}

/* 1 if rank is in the array ranks. */
static int
ln_has_rank(const json_t *ranks, int rank)
{
    json_t *r;
    size_t  i;

    json_array_foreach(ranks, i, r)
    {
        if (json_integer_value(r) == rank)
            return 1;
    }
    return 0;
}

/* Registered workers now. */
static long
ln_workers(nws_sleigh *s)
{
    nws_sleigh_info info;
    nws_error       err;

    ck_assert_msg(nws_sleigh_status(s, &info, &err) == 0, "status: %s", err.text);
    return info.workers;
}

/*
 * Runs n sleep tasks (ms each, value = element index) over s; after after
 * results, calls take_away() and measures how long until the server counts
 * only survivors workers.  Checks that every element has exactly one
 * result, its own index, and that no result collected well after the loss
 * was noticed came from a rank in lost (results the lost workers stored
 * before may still be collected just after).  Returns the seconds to
 * notice.
 */
static double
ln_batch_with_loss(nws_sleigh *s, long n, int ms, long after, void (*take_away)(void),
                   const json_t *lost, long survivors)
{
    json_t             *task = nws_sleigh_call(ln_module, "sleep_ms"), *args, *v0, *v1;
    nws_sleigh_pending *p;
    nws_sleigh_result   r;
    nws_error           err;
    unsigned char      *seen = calloc((size_t)n, 1);
    double              t_gone = 0, noticed = -1;
    long                i, got = 0;
    int                 rc;

    v0 = json_array();
    v1 = json_array();
    for (i = 0; i < n; i++) {
        json_array_append_new(v0, json_integer(ms));
        json_array_append_new(v1, json_integer(i));
    }
    args = json_pack("[o, o]", v0, v1);
    p = nws_sleigh_each_elem_async(s, task, args, NULL, NULL, &err);
    ck_assert_msg(p != NULL, "each_elem: %s", err.text);
    for (;;) {
        rc = nws_sleigh_pending_next(p, &r, 20, &err);
        ck_assert_msg(rc >= 0, "next: %s", err.text);
        if (rc == 0)
            break;
        if (rc == 1) {
            ck_assert_msg(r.error == NULL, "element %zu failed: %s", r.index, r.error);
            ck_assert_int_lt(r.index, n);
            ck_assert_msg(!seen[r.index], "element %zu came twice", r.index);
            seen[r.index] = 1;
            ck_assert_int_eq(json_integer_value(r.value), (long)r.index);
            ck_assert_msg(noticed < 0 || sshtest_now() < t_gone + noticed + 0.5 ||
                              !ln_has_rank(lost, r.rank),
                          "element %zu came from rank %d of the lost host", r.index,
                          r.rank);
            if (++got == after) {
                take_away();
                t_gone = sshtest_now();
            }
        }
        if (t_gone > 0 && noticed < 0 && ln_workers(s) <= survivors)
            noticed = sshtest_now() - t_gone;
    }
    ck_assert_int_eq(got, n);
    ck_assert_msg(noticed >= 0, "the server never dropped the lost workers");
    nws_sleigh_pending_free(p);
    json_decref(args);
    json_decref(task);
    free(seen);
    return noticed;
}

/* Kills everything that runs on host 2: sshd, node launcher, workers. */
static void
ln_kill_host2(void)
{
    sshtest_sh("ip netns pids nwst-h2 | xargs -r kill -9");
}

/* Unplugs host 2: its processes live on, cut off. */
static void
ln_unplug_host2(void)
{
    sshtest_sh("ip link set nwst-v2 down");
}

START_TEST(four_hosts)
{
    const char *nodes[] = {"nwst-h1:4", "nwst-h2:4", "nwst-h3:4", "nwst-h4:4", NULL};
    nws_sleigh_options o;
    nws_sleigh        *s;
    nws_error          err;
    json_t            *task, *args, *r, *lost, *info, *h;
    char               ws[128];
    double             t0, t_tunnel, t_direct, noticed;
    size_t             i;

    LN_SKIP_IF_NEEDED();
    ln_hosts_up(4, "");
    /* Through the ssh connections: time to all 16 registered. */
    ln_options(&o, nodes, 0);
    t0 = sshtest_now();
    s = nws_sleigh_new(&o, &err);
    t_tunnel = sshtest_now() - t0;
    ck_assert_msg(s != NULL, "tunnel: %s", err.text);
    ck_assert_int_eq(ln_workers(s), 16);
    snprintf(ws, sizeof(ws), "%s", nws_sleigh_ws_name(s));
    task = nws_sleigh_call(ln_module, "whoami");
    r = nws_sleigh_each_worker(s, task, NULL, &err);
    ck_assert_msg(r != NULL, "each_worker: %s", err.text);
    ck_assert_int_eq(json_array_size(r), 16);
    json_decref(r);
    json_decref(task);
    nws_sleigh_free(s);
    ln_no_workers(ws, 3000);

    /* Straight to the server's address, and host 2 dies in the middle of a batch. */
    ln_options(&o, nodes, 1);
    t0 = sshtest_now();
    s = nws_sleigh_new(&o, &err);
    t_direct = sshtest_now() - t0;
    ck_assert_msg(s != NULL, "direct: %s", err.text);
    snprintf(ws, sizeof(ws), "%s", nws_sleigh_ws_name(s));
    ck_assert_int_eq(ln_workers(s), 16);
    lost = ln_ranks_of(s, "nwst-h2");
    ck_assert_int_eq(json_array_size(lost), 4);
    noticed = ln_batch_with_loss(s, 800, 30, 200, ln_kill_host2, lost, 12);
    info = nws_sleigh_nodes(s, &err);
    ck_assert_ptr_nonnull(info);
    json_array_foreach(info, i, h)
    {
        const char *name = json_string_value(json_object_get(h, "node"));
        const char *state = json_string_value(json_object_get(h, "state"));

        if (strcmp(name, "nwst-h2") == 0) {
            ck_assert_str_eq(state, "lost");
            ck_assert_msg(strstr(json_string_value(json_object_get(h, "error")),
                                 "connection lost") != NULL,
                          "%s", json_string_value(json_object_get(h, "error")));
            ck_assert_int_eq(json_array_size(json_object_get(h, "registered")), 0);
        } else {
            ck_assert_str_eq(state, "running");
            ck_assert_int_eq(json_array_size(json_object_get(h, "registered")), 4);
        }
    }
    json_decref(info);
    /* The sleigh goes on with the 12 left. */
    task = nws_sleigh_call(ln_module, "cube");
    args = json_pack("[[i, i, i]]", 1, 2, 3);
    r = nws_sleigh_each_elem(s, task, args, NULL, NULL, &err);
    ck_assert_msg(r != NULL, "after the loss: %s", err.text);
    json_decref(r);
    json_decref(args);
    json_decref(task);
    json_decref(lost);
    nws_sleigh_free(s);
    ln_no_workers(ws, 3000);
    printf("MEASURE: 4 hosts x 4 workers, nws_sleigh_new to all 16 registered: "
           "%.3f s through ssh tunnels, %.3f s direct\n",
           t_tunnel, t_direct);
    printf("MEASURE: host killed mid-batch (direct): server dropped its 4 workers "
           "and requeued their tasks %.3f s later\n",
           noticed);
    fflush(stdout);
}
END_TEST

START_TEST(host_unplugged)
{
    const char        *nodes[] = {"nwst-h1:2", "nwst-h2:2", "nwst-h3:2", NULL};
    nws_sleigh_options o;
    nws_sleigh        *s;
    nws_error          err;
    json_t            *lost, *info, *h;
    char               ws[128];
    double             noticed;
    size_t             i;

    LN_SKIP_IF_NEEDED();
    /* sshd on the nodes gives up on a silent client too, so nothing stays there. */
    ln_hosts_up(3, "ClientAliveInterval 1\nClientAliveCountMax 2\n");
    ln_options(&o, nodes, 0);
    o.keepalive = 0.5;
    s = nws_sleigh_new(&o, &err);
    ck_assert_msg(s != NULL, "%s", err.text);
    snprintf(ws, sizeof(ws), "%s", nws_sleigh_ws_name(s));
    lost = ln_ranks_of(s, "nwst-h2");
    /* Through the tunnel the server sees nothing: the master's keepalives notice. */
    noticed = ln_batch_with_loss(s, 300, 40, 60, ln_unplug_host2, lost, 4);
    info = nws_sleigh_nodes(s, &err);
    json_array_foreach(info, i, h)
    {
        if (strcmp(json_string_value(json_object_get(h, "node")), "nwst-h2") == 0) {
            ck_assert_str_eq(json_string_value(json_object_get(h, "state")), "lost");
            ck_assert_msg(strstr(json_string_value(json_object_get(h, "error")),
                                 "no answer") != NULL,
                          "%s", json_string_value(json_object_get(h, "error")));
        }
    }
    json_decref(info);
    json_decref(lost);
    nws_sleigh_free(s);
    /* Host 2's sshd drops the silent session; its workers end with it. */
    ln_no_workers(ws, 10000);
    printf("MEASURE: host unplugged mid-batch (tunnel, keepalive 0.5 s): its 2 workers "
           "dropped and their tasks requeued %.3f s later\n",
           noticed);
    fflush(stdout);
}
END_TEST

NWSTEST_SUITE(launch_netns)
{
    Suite *s = suite_create("launch_netns");
    TCase *tc = tcase_create("hosts");

    tcase_add_checked_fixture(tc, ln_setup, ln_teardown);
    tcase_set_timeout(tc, 90);
    tcase_add_test(tc, four_hosts);
    tcase_add_test(tc, host_unplugged);
    suite_add_tcase(s, tc);
    return s;
}
