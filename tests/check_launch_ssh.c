/*
 * check_launch_ssh.c -- the ssh launcher against a real OpenSSH server on
 * loopback, the node launcher (nws-worker --count) on its own, the srun
 * launcher with a stand-in srun, and the sleigh command's node options.
 *
 * The fixture starts an nwsserver and an sshd on free ports of 127.0.0.1,
 * with a host key, a user key, authorized_keys, known_hosts and an ssh
 * config made by the test (tests/sshtest.c): aliases nwst-a and nwst-b
 * point at that sshd, so two "nodes" are two sessions to one server.
 * Every test ends by checking that no nws-worker process of its sleigh is
 * left.  Without root or sshd the ssh tests pass after printing "SKIPPED:
 * <reason>" (Check has no skip); CI runs as root and installs
 * openssh-server (.ci/deps test).  node_launcher_stdin needs neither.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "nws.h"
#include "nws_json.h"
#include "nws_sleigh.h"
#include "nwstest.h"
#include "sshtest.h"

static struct nwstest_server ls_srv;
static struct sshtest_env    ls_env;
static struct sshtest_sshd   ls_sshd;
static char                  ls_worker[512];
static char                  ls_module[512];
static int                   ls_skip; /* no sshd here: the test passes, saying so */

/* Prints the skip line once per test and returns 1 if the test must skip. */
static int
ls_skipped(const char *test)
{
    char why[200];

    if (!ls_skip)
        return 0;
    sshtest_available(why, sizeof(why));
    /* START_TEST names the function NAME_fn. */
    printf("SKIPPED: launch_ssh %.*s: %s\n",
           (int)(strlen(test) > 3 ? strlen(test) - 3 : strlen(test)), test, why);
    fflush(stdout);
    return 1;
}

#define LS_SKIP_IF_NEEDED()                                                              \
    do {                                                                                 \
        if (ls_skipped(__func__))                                                        \
            return;                                                                      \
    } while (0)

/* A failed assertion exits the test process: its files go too. */
static void
ls_atexit(void)
{
    sshtest_sshd_stop(&ls_sshd);
    sshtest_env_free(&ls_env);
}

static void
ls_setup(void)
{
    const char *dir = getenv("NWS_MODULES_DIR");
    char        why[200];

    /* Hermetic: no agent, no ~/.ssh of whoever runs the tests. */
    unsetenv("SSH_AUTH_SOCK");
    ck_assert_int_eq(nwstest_server_start(&ls_srv, NULL), 0);
    nwstest_bin("nws-worker", ls_worker, sizeof(ls_worker));
    snprintf(ls_module, sizeof(ls_module), "%s/sleigh_test.so",
             dir != NULL ? dir : "build/modules");
    ls_skip = !sshtest_available(why, sizeof(why));
    if (ls_skip)
        return;
    atexit(ls_atexit);
    ck_assert_int_eq(sshtest_env_make(&ls_env), 0);
    ck_assert_int_eq(sshtest_sshd_start(&ls_env, &ls_sshd, NULL, "127.0.0.1", 0), 0);
    ck_assert_int_eq(sshtest_known_host(&ls_env, "127.0.0.1", ls_sshd.port, NULL), 0);
    ck_assert_int_eq(
        sshtest_config_host(&ls_env, "nwst-a", "127.0.0.1", ls_sshd.port, NULL), 0);
    ck_assert_int_eq(
        sshtest_config_host(&ls_env, "nwst-b", "127.0.0.1", ls_sshd.port, NULL), 0);
}

static void
ls_teardown(void)
{
    sshtest_sshd_stop(&ls_sshd);
    sshtest_env_free(&ls_env);
    nwstest_server_stop(&ls_srv);
}

/* Options for an ssh sleigh on nodes (NULL-terminated) of the test's sshd. */
static void
ls_options(nws_sleigh_options *o, const char *const *nodes)
{
    nws_sleigh_options_init(o);
    o->host = "127.0.0.1";
    o->port = ls_srv.port;
    o->launcher = "ssh";
    o->nodes = nodes;
    o->worker_path = ls_worker;
    o->ssh_config = ls_env.ssh_config;
    o->verbose = getenv("NWSTEST_VERBOSE") != NULL;
    /* Generous: a loaded machine makes sshd slow to fork and answer. */
    o->connect_timeout = 20;
    o->join_timeout = 30;
}

/* The call task fn of the test module (new reference). */
static json_t *
ls_task(const char *fn)
{
    json_t *t = nws_sleigh_call(ls_module, fn);

    ck_assert_ptr_nonnull(t);
    return t;
}

/* [[0, 1, ..., n-1]] (new reference). */
static json_t *
ls_range(long n)
{
    json_t *v = json_array();
    long    i;

    for (i = 0; i < n; i++)
        json_array_append_new(v, json_integer(i));
    return json_pack("[o]", v);
}

/* Runs n cubes on s and checks every result. */
static void
ls_cubes(nws_sleigh *s, long n)
{
    json_t   *task = ls_task("cube"), *args = ls_range(n), *r;
    nws_error err;
    long      i;

    r = nws_sleigh_each_elem(s, task, args, NULL, NULL, &err);
    ck_assert_msg(r != NULL, "each_elem: %s", err.text);
    ck_assert_int_eq(json_array_size(r), n);
    for (i = 0; i < n; i++)
        ck_assert_msg(json_integer_value(json_array_get(r, (size_t)i)) == i * i * i,
                      "r[%ld] wrong", i);
    json_decref(r);
    json_decref(args);
    json_decref(task);
}

/*
 * A command whose stdout passes the spill threshold: the worker stores it in
 * a variable of its own, over a second connection that must authenticate
 * with the secret the worker was given, not with a file of the node's.
 */
static void
ls_spilled_output(nws_sleigh *s)
{
    json_t   *task, *elems, *r, *v;
    nws_error err;
    char     *d;

    task =
        json_loads("{\"kind\": \"command\", \"spill\": 1024, \"argv\": [\"sh\", \"-c\", "
                   "\"head -c 5000 /dev/zero\"]}",
                   0, NULL);
    ck_assert_ptr_nonnull(task);
    elems = json_pack("[[s]]", "x");
    r = nws_sleigh_each_elem(s, task, elems, NULL, NULL, &err);
    ck_assert_msg(r != NULL, "each_elem: %s", err.text);
    ck_assert_int_eq(json_array_size(r), 1);
    v = json_array_get(r, 0);
    ck_assert_msg(nws_sleigh_error(v) == NULL, "%s", nws_sleigh_error(v));
    d = json_dumps(v, 0);
    ck_assert_msg(json_integer_value(json_object_get(v, "stdout_bytes")) == 5000,
                  "the spilled output's record: %s", d);
    free(d);
    json_decref(r);
    json_decref(elems);
    json_decref(task);
}

/* Asserts no nws-worker process of workspace ws is left (within ms). */
static void
ls_no_workers(const char *ws, int ms)
{
    const char *words[] = {"nws-worker", ws, NULL};
    int         n = sshtest_procs_gone(words, ms);

    ck_assert_msg(n == 0, "%d nws-worker processes of %s are left", n, ws);
}

/* The node object called name in a nws_sleigh_nodes array (borrowed), or NULL. */
static json_t *
ls_node(json_t *nodes, const char *name)
{
    json_t *n;
    size_t  i;

    json_array_foreach(nodes, i, n)
    {
        if (strcmp(json_string_value(json_object_get(n, "node")), name) == 0)
            return n;
    }
    return NULL;
}

/* The error of nws_sleigh_new with these options; the sleigh must fail. */
static void
ls_expect_fail(nws_sleigh_options *o, const char *want1, const char *want2)
{
    nws_sleigh *s;
    nws_error   err;

    s = nws_sleigh_new(o, &err);
    if (s != NULL)
        nws_sleigh_free(s);
    ck_assert_msg(s == NULL, "the sleigh started; want an error with \"%s\"", want1);
    ck_assert_msg(strstr(err.text, want1) != NULL && (!want2 || strstr(err.text, want2)),
                  "error \"%s\" lacks \"%s\" / \"%s\"", err.text, want1,
                  want2 ? want2 : "");
}

/* ---- launching ----------------------------------------------------------- */

START_TEST(tunnel_each_elem)
{
    const char        *nodes[] = {"nwst-a:3", NULL};
    nws_sleigh_options o;
    nws_sleigh        *s;
    nws_error          err;
    json_t            *info, *n;
    char               ws[128];

    LS_SKIP_IF_NEEDED();
    ls_options(&o, nodes);
    s = nws_sleigh_new(&o, &err);
    ck_assert_msg(s != NULL, "nws_sleigh_new: %s", err.text);
    snprintf(ws, sizeof(ws), "%s", nws_sleigh_ws_name(s));
    ck_assert_int_eq(nws_sleigh_wait_workers(s, 3, 5, &err), 3);
    ls_cubes(s, 300);
    info = nws_sleigh_nodes(s, &err);
    ck_assert_msg(info != NULL, "nodes: %s", err.text);
    ck_assert_int_eq(json_array_size(info), 1);
    n = ls_node(info, "nwst-a");
    ck_assert_ptr_nonnull(n);
    ck_assert_str_eq(json_string_value(json_object_get(n, "state")), "running");
    ck_assert_int_eq(json_integer_value(json_object_get(n, "workers")), 3);
    ck_assert_int_eq(json_integer_value(json_object_get(n, "running")), 3);
    ck_assert_int_eq(json_array_size(json_object_get(n, "ranks")), 3);
    ck_assert_int_eq(json_array_size(json_object_get(n, "alive")), 3);
    ck_assert_int_eq(json_array_size(json_object_get(n, "registered")), 3);
    json_decref(info);
    ck_assert_int_eq(nws_sleigh_stop(s, &err), 0);
    info = nws_sleigh_nodes(s, &err);
    nws_sleigh_free(s);
    ls_no_workers(ws, 2000);
    json_decref(info);
}
END_TEST

/*
 * Against a server that wants a secret the node cannot find (the ssh
 * session has neither NWS_AUTH_FILE nor that secret in its home), the
 * workers join only if the launcher gave it to them down the channel; it
 * is on no command line and in no environment on the way.
 */
START_TEST(secret_through_the_channel)
{
    static const char     secret[] = "ssh-channel-secret-5be0c2d1";
    const char           *nodes[] = {"nwst-a:2", NULL};
    const char           *extra[] = {"--auth-file", NULL, NULL};
    struct nwstest_server as;
    nws_sleigh_options    o;
    nws_sleigh           *s;
    nws_error             err;
    char                  file[64], ws[128];
    FILE                 *fp;
    int                   fd;
    pid_t                 pid;

    LS_SKIP_IF_NEEDED();
    snprintf(file, sizeof(file), "/tmp/nwstest.secret.XXXXXX");
    ck_assert_int_ge(fd = mkstemp(file), 0);
    ck_assert_ptr_nonnull(fp = fdopen(fd, "w"));
    fprintf(fp, "%s\n", secret);
    fclose(fp);
    extra[1] = file;
    ck_assert_int_eq(nwstest_server_start(&as, extra), 0);
    setenv("NWS_AUTH_FILE", file, 1);
    ls_options(&o, nodes);
    o.port = as.port;
    s = nws_sleigh_new(&o, &err);
    ck_assert_msg(s != NULL, "nws_sleigh_new: %s", err.text);
    snprintf(ws, sizeof(ws), "%s", nws_sleigh_ws_name(s));
    ck_assert_int_eq(nws_sleigh_wait_workers(s, 2, 20, &err), 2);
    pid = nwstest_proc_holding(secret);
    ck_assert_msg(pid == 0, "the secret is visible in /proc/%ld", (long)pid);
    ls_cubes(s, 30);
    ls_spilled_output(s);
    ck_assert_int_eq(nws_sleigh_stop(s, &err), 0);
    nws_sleigh_free(s);
    ls_no_workers(ws, 2000);
    unsetenv("NWS_AUTH_FILE");
    nwstest_server_stop(&as);
    unlink(file);
}
END_TEST

START_TEST(direct_two_nodes)
{
    const char        *nodes[] = {"nwst-a:2,nwst-b", "nwst-b", NULL};
    nws_sleigh_options o;
    nws_sleigh        *s;
    nws_error          err;
    json_t            *info, *task, *r;
    char               ws[128];

    LS_SKIP_IF_NEEDED();
    ls_options(&o, nodes);
    /* Workers reach the server directly: no tunnel. */
    o.remote_host = "127.0.0.1";
    o.remote_port = ls_srv.port;
    s = nws_sleigh_new(&o, &err);
    ck_assert_msg(s != NULL, "nws_sleigh_new: %s", err.text);
    snprintf(ws, sizeof(ws), "%s", nws_sleigh_ws_name(s));
    ck_assert_int_eq(nws_sleigh_wait_workers(s, 4, 5, &err), 4);
    /* eachWorker reaches all four, two per node ("nwst-b" listed twice adds up). */
    task = ls_task("whoami");
    r = nws_sleigh_each_worker(s, task, NULL, &err);
    ck_assert_msg(r != NULL, "each_worker: %s", err.text);
    ck_assert_int_eq(json_array_size(r), 4);
    json_decref(r);
    json_decref(task);
    ls_cubes(s, 200);
    info = nws_sleigh_nodes(s, &err);
    ck_assert_int_eq(json_array_size(info), 2);
    ck_assert_int_eq(
        json_integer_value(json_object_get(ls_node(info, "nwst-a"), "workers")), 2);
    ck_assert_int_eq(
        json_integer_value(json_object_get(ls_node(info, "nwst-b"), "workers")), 2);
    ck_assert_int_eq(
        json_array_size(json_object_get(ls_node(info, "nwst-b"), "registered")), 2);
    json_decref(info);
    nws_sleigh_free(s); /* stops it */
    ls_no_workers(ws, 2000);
}
END_TEST

START_TEST(options_without_config)
{
    const char        *nodes[] = {"root@127.0.0.1:2", NULL};
    nws_sleigh_options o;
    nws_sleigh        *s;
    nws_error          err;
    char               ws[128];

    LS_SKIP_IF_NEEDED();
    /* No ssh config at all: the sleigh's own options say everything. */
    ls_options(&o, nodes);
    o.ssh_config = "";
    o.ssh_port = ls_sshd.port;
    o.ssh_user = "nobody-here"; /* the entry's root@ wins */
    o.ssh_identity = ls_env.user_key;
    o.known_hosts = ls_env.known_hosts;
    s = nws_sleigh_new(&o, &err);
    ck_assert_msg(s != NULL, "%s", err.text);
    snprintf(ws, sizeof(ws), "%s", nws_sleigh_ws_name(s));
    ls_cubes(s, 20);
    nws_sleigh_free(s);
    ls_no_workers(ws, 2000);
    /* And the sleigh's user applies where the entry has none. */
    nodes[0] = "127.0.0.1";
    ls_expect_fail(&o, "node 127.0.0.1: authentication refused for nobody-here", NULL);
}
END_TEST

START_TEST(proxy_command)
{
    const char        *nodes[] = {"nwst-via:2", NULL};
    nws_sleigh_options o;
    nws_sleigh        *s;
    nws_error          err;
    char               text[1024], ws[128];
    FILE              *fp;

    LS_SKIP_IF_NEEDED();
    /*
     * ~/.ssh/config's ProxyCommand (libssh 0.10 runs ProxyJump the same
     * way, as "ssh -W"): the OpenSSH client, with the test's config, hops
     * through nwst-a to the node.
     */
    fp = fopen(ls_env.ssh_config, "a");
    ck_assert_ptr_nonnull(fp);
    snprintf(text, sizeof(text),
             "Host nwst-via\n"
             "  HostName 127.0.0.1\n"
             "  Port %d\n"
             "  User root\n"
             "  IdentityFile %s\n"
             "  UserKnownHostsFile %s\n"
             "  ProxyCommand ssh -F %s -o BatchMode=yes -W %%h:%%p nwst-a\n",
             ls_sshd.port, ls_env.user_key, ls_env.known_hosts, ls_env.ssh_config);
    fputs(text, fp);
    fclose(fp);
    ls_options(&o, nodes);
    s = nws_sleigh_new(&o, &err);
    ck_assert_msg(s != NULL, "via a proxy command: %s", err.text);
    snprintf(ws, sizeof(ws), "%s", nws_sleigh_ws_name(s));
    ls_cubes(s, 40);
    nws_sleigh_free(s);
    ls_no_workers(ws, 2000);
}
END_TEST

START_TEST(host_keys)
{
    const char        *nodes[] = {"nwst-a", NULL};
    nws_sleigh_options o;
    nws_sleigh        *s;
    nws_error          err;
    char               kh[300], line[1200];
    FILE              *fp;

    LS_SKIP_IF_NEEDED();
    /* Strict by default: a host missing from known_hosts is refused. */
    snprintf(kh, sizeof(kh), "%s/known_hosts.empty", ls_env.dir);
    fp = fopen(kh, "w");
    ck_assert_ptr_nonnull(fp);
    fclose(fp);
    ls_options(&o, nodes);
    o.known_hosts = kh;
    ls_expect_fail(&o, "node nwst-a: unknown host key", kh);
    /* Accepting new keys adds it, and the next sleigh is checked against it. */
    o.flags = NWS_SLEIGH_ACCEPT_NEW_HOSTKEYS;
    s = nws_sleigh_new(&o, &err);
    ck_assert_msg(s != NULL, "accept new: %s", err.text);
    nws_sleigh_free(s);
    fp = fopen(kh, "r");
    ck_assert_ptr_nonnull(fp);
    ck_assert_msg(fgets(line, sizeof(line), fp) != NULL, "no key added");
    fclose(fp);
    o.flags = 0;
    s = nws_sleigh_new(&o, &err);
    ck_assert_msg(s != NULL, "known now: %s", err.text);
    nws_sleigh_free(s);
    /* A different key for that host fails, even when accepting new ones. */
    snprintf(kh, sizeof(kh), "%s/known_hosts.other", ls_env.dir);
    snprintf(line, sizeof(line), "cp '%s' '%s.bak' && : > '%s'", ls_env.known_hosts,
             ls_env.known_hosts, ls_env.known_hosts);
    ck_assert_int_eq(sshtest_sh("%s", line), 0);
    ck_assert_int_eq(
        sshtest_known_host(&ls_env, "127.0.0.1", ls_sshd.port, ls_env.other_key), 0);
    ls_options(&o, nodes);
    o.flags = NWS_SLEIGH_ACCEPT_NEW_HOSTKEYS;
    ls_expect_fail(&o, "node nwst-a: HOST KEY CHANGED", NULL);
}
END_TEST

START_TEST(clear_failures)
{
    const char        *refused[] = {"nwst-other", NULL};
    const char        *dead[] = {"nwst-dead:2", NULL};
    const char        *good[] = {"nwst-a", NULL};
    const char        *mute[] = {"nwst-hung", NULL};
    nws_sleigh_options o;
    struct sockaddr_in sin;
    socklen_t          slen = sizeof(sin);
    double             t0;
    int                port = sshtest_free_port(), hung;

    LS_SKIP_IF_NEEDED();
    ck_assert_int_eq(sshtest_config_host(&ls_env, "nwst-other", "127.0.0.1", ls_sshd.port,
                                         ls_env.other_key),
                     0);
    ck_assert_int_eq(sshtest_config_host(&ls_env, "nwst-dead", "127.0.0.1", port, NULL),
                     0);
    /* A key the node does not take. */
    ls_options(&o, refused);
    ls_expect_fail(&o, "node nwst-other: authentication refused for root", "publickey");
    /* Nothing listening. */
    ls_options(&o, dead);
    ls_expect_fail(&o, "node nwst-dead: unreachable", "refused");
    /* No such program on the node. */
    ls_options(&o, good);
    o.worker_path = "/nonexistent/nws-worker";
    ls_expect_fail(&o, "node nwst-a: nws-worker not found on the node",
                   "/nonexistent/nws-worker");
    /* The node cannot reach the server at the address given. */
    ls_options(&o, good);
    o.remote_host = "127.0.0.1";
    o.remote_port = port;
    ls_expect_fail(&o, "node nwst-a: cannot join sleigh", "refused");
    /* An sshd that accepts and never says a word: the handshake gives up in time. */
    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    hung = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_int_eq(bind(hung, (struct sockaddr *)&sin, sizeof(sin)), 0);
    ck_assert_int_eq(listen(hung, 4), 0);
    ck_assert_int_eq(getsockname(hung, (struct sockaddr *)&sin, &slen), 0);
    ck_assert_int_eq(
        sshtest_config_host(&ls_env, "nwst-hung", "127.0.0.1", ntohs(sin.sin_port), NULL),
        0);
    ls_options(&o, mute);
    o.connect_timeout = 1;
    t0 = sshtest_now();
    ls_expect_fail(&o, "node nwst-hung: unreachable", NULL);
    ck_assert_msg(sshtest_now() - t0 < 5, "a mute sshd held the sleigh %.1f s",
                  sshtest_now() - t0);
    close(hung);
}
END_TEST

START_TEST(partial_or_whole)
{
    const char        *nodes[] = {"nwst-a:2", "nwst-dead", NULL};
    nws_sleigh_options o;
    nws_sleigh        *s;
    nws_error          err;
    json_t            *info, *dead;
    char               ws[128];

    LS_SKIP_IF_NEEDED();
    ck_assert_int_eq(
        sshtest_config_host(&ls_env, "nwst-dead", "127.0.0.1", sshtest_free_port(), NULL),
        0);
    ls_options(&o, nodes);
    ls_expect_fail(&o, "node nwst-dead: unreachable", NULL);
    o.flags = NWS_SLEIGH_PARTIAL;
    s = nws_sleigh_new(&o, &err);
    ck_assert_msg(s != NULL, "partial: %s", err.text);
    snprintf(ws, sizeof(ws), "%s", nws_sleigh_ws_name(s));
    ls_cubes(s, 50);
    info = nws_sleigh_nodes(s, &err);
    ck_assert_ptr_nonnull(info);
    dead = ls_node(info, "nwst-dead");
    ck_assert_ptr_nonnull(dead);
    ck_assert_str_eq(json_string_value(json_object_get(dead, "state")), "failed");
    ck_assert_msg(
        strstr(json_string_value(json_object_get(dead, "error")), "unreachable"),
        "error: %s", json_string_value(json_object_get(dead, "error")));
    ck_assert_str_eq(json_string_value(json_object_get(ls_node(info, "nwst-a"), "state")),
                     "running");
    json_decref(info);
    ck_assert_int_eq(nws_sleigh_stop(s, &err), 0);
    info = nws_sleigh_nodes(s, &err);
    ck_assert_str_eq(json_string_value(json_object_get(ls_node(info, "nwst-a"), "state")),
                     "stopped");
    json_decref(info);
    nws_sleigh_free(s);
    ls_no_workers(ws, 2000);
}
END_TEST

START_TEST(restart_and_stop_busy)
{
    const char         *nodes[] = {"nwst-a:2", NULL};
    nws_sleigh_options  o;
    nws_sleigh         *s;
    nws_sleigh_info     info;
    nws_sleigh_pending *p;
    nws_error           err;
    json_t             *task, *args, *r;
    char                ws[128];
    double              t0;
    long                i;

    LS_SKIP_IF_NEEDED();
    ls_options(&o, nodes);
    s = nws_sleigh_new(&o, &err);
    ck_assert_msg(s != NULL, "nws_sleigh_new: %s", err.text);
    snprintf(ws, sizeof(ws), "%s", nws_sleigh_ws_name(s));
    /* A worker that crashes is started again on its node, with its rank. */
    task = ls_task("crash_if");
    args = json_pack("[o]", json_pack("[i,i,i,i,i,i,i,i]", 0, 1, 2, 3, 4, 5, 6, 7));
    json_array_append_new(args, json_pack("[i,i,i,i,i,i,i,i]", 3, 3, 3, 3, 3, 3, 3, 3));
    r = nws_sleigh_each_elem(s, task, args, NULL, NULL, &err);
    ck_assert_msg(r != NULL, "each_elem: %s", err.text);
    for (i = 0; i < 8; i++)
        if (i != 3)
            ck_assert_int_eq(json_integer_value(json_array_get(r, (size_t)i)), i);
    ck_assert_ptr_nonnull(nws_sleigh_error(json_array_get(r, 3)));
    json_decref(r);
    json_decref(args);
    json_decref(task);
    /* The crash is the element's error at once; the node's word of the
     * restart may come a moment later. */
    for (t0 = sshtest_now(); sshtest_now() - t0 < 10; usleep(50000)) {
        ck_assert_int_eq(nws_sleigh_status(s, &info, &err), 0);
        if (info.restarts >= 1)
            break;
    }
    ck_assert_msg(info.restarts >= 1, "no restart (%ld launched)", info.launched);
    ck_assert_int_eq(nws_sleigh_wait_workers(s, 2, 10, &err), 2);
    /* Stop while both workers are busy for a minute: they are ended. */
    task = ls_task("sleep_ms");
    args = json_pack("[[i, i]]", 60000, 60000);
    p = nws_sleigh_each_elem_async(s, task, args, NULL, NULL, &err);
    ck_assert_ptr_nonnull(p);
    usleep(300000); /* both are in their task now */
    nws_sleigh_pending_free(p);
    t0 = sshtest_now();
    nws_sleigh_stop(s, &err);
    ck_assert_msg(sshtest_now() - t0 < 8, "stop took %.1f s", sshtest_now() - t0);
    nws_sleigh_free(s);
    ls_no_workers(ws, 1000);
    json_decref(args);
    json_decref(task);
}
END_TEST

START_TEST(master_killed)
{
    pid_t       master;
    int         pfd[2], st, n;
    char        ws[128] = "";
    const char *words[] = {"nws-worker", ws, NULL};
    pid_t       pids[16];
    ssize_t     len;

    LS_SKIP_IF_NEEDED();
    ck_assert_int_eq(pipe(pfd), 0);
    master = fork();
    ck_assert_int_ge(master, 0);
    if (master == 0) {
        const char         *nodes[] = {"nwst-a:2", NULL};
        nws_sleigh_options  o;
        nws_sleigh         *s;
        nws_error           err;
        json_t             *task, *args;
        nws_sleigh_pending *p;

        close(pfd[0]);
        ls_options(&o, nodes);
        if ((s = nws_sleigh_new(&o, &err)) == NULL)
            _exit(1);
        task = ls_task("sleep_ms");
        args = json_pack("[[i, i]]", 60000, 60000);
        if ((p = nws_sleigh_each_elem_async(s, task, args, NULL, NULL, &err)) == NULL)
            _exit(2);
        if (write(pfd[1], nws_sleigh_ws_name(s), strlen(nws_sleigh_ws_name(s))) < 0)
            _exit(3);
        close(pfd[1]);
        for (;;)
            pause();
    }
    close(pfd[1]);
    len = read(pfd[0], ws, sizeof(ws) - 1);
    close(pfd[0]);
    ck_assert_msg(len > 0, "the master did not start its sleigh");
    ws[len] = '\0';
    /* The node launcher and its two workers run (busy). */
    n = sshtest_procs(words, pids, 16);
    ck_assert_msg(n == 3, "%d processes of %s, want 3", n, ws);
    kill(master, SIGKILL);
    ck_assert_int_eq(waitpid(master, &st, 0), master);
    /* The ssh connection drops, the node launcher sees its input end. */
    n = sshtest_procs_gone(words, 5000);
    ck_assert_msg(n == 0, "%d processes of %s outlived their master", n, ws);
}
END_TEST

/* ---- the node launcher alone --------------------------------------------- */

START_TEST(node_launcher_stdin)
{
    nws_sleigh_options o;
    nws_sleigh        *s;
    nws_error          err;
    int                in[2], out[2], st;
    pid_t              pid;
    char               port[16], buf[4096], ws[128];
    const char        *words[] = {"nws-worker", ws, NULL};
    size_t             len = 0;
    ssize_t            n;
    double             deadline;

    /* No ssh here: the node launcher on a pipe, as a channel would run it. */
    nws_sleigh_options_init(&o);
    o.host = "127.0.0.1";
    o.port = ls_srv.port;
    o.workers = 0;
    s = nws_sleigh_new(&o, &err);
    ck_assert_msg(s != NULL, "%s", err.text);
    snprintf(ws, sizeof(ws), "%s", nws_sleigh_ws_name(s));
    snprintf(port, sizeof(port), "%d", ls_srv.port);
    ck_assert_int_eq(pipe(in), 0);
    ck_assert_int_eq(pipe(out), 0);
    pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        dup2(in[0], 0);
        dup2(out[1], 1);
        close(in[1]);
        close(out[0]);
        execl(ls_worker, ls_worker, "--count", "3", "--watch-stdin", "--host",
              "127.0.0.1", "--port", port, "--workspace", ws, (char *)NULL);
        _exit(127);
    }
    close(in[0]);
    close(out[1]);
    /* It reports its ranks, then each worker it starts. */
    for (deadline = sshtest_now() + 10; sshtest_now() < deadline;) {
        n = read(out[0], buf + len, sizeof(buf) - 1 - len);
        if (n <= 0)
            break;
        len += (size_t)n;
        buf[len] = '\0';
        if (strstr(buf, "nws-node up 2 ") != NULL)
            break;
    }
    ck_assert_msg(strstr(buf, "nws-node ranks 0 1 2\n") != NULL, "reports: %s", buf);
    ck_assert_int_eq(nws_sleigh_wait_workers(s, 3, 5, &err), 3);
    ls_cubes(s, 30);
    /* Its input ends: every worker ends, and so does it. */
    close(in[1]);
    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "status %d", st);
    while ((n = read(out[0], buf + len, sizeof(buf) - 1 - len)) > 0)
        len += (size_t)n;
    buf[len] = '\0';
    close(out[0]);
    ck_assert_msg(strstr(buf, "nws-node stopped\n") != NULL, "reports: %s", buf);
    ck_assert_int_eq(sshtest_procs(words, NULL, 0), 0);
    ck_assert_int_le(nws_sleigh_wait_workers(s, 1, 0, &err), 0);
    nws_sleigh_free(s);
}
END_TEST

/* ---- srun, with a stand-in ----------------------------------------------- */

START_TEST(srun_stand_in)
{
    const char        *nodes[] = {"nodeA:2", "nodeB", NULL};
    nws_sleigh_options o;
    nws_sleigh        *s;
    nws_error          err;
    json_t            *info;
    char               dir[] = "/tmp/nwstest-srun.XXXXXX", path[300], ws[128], log[300];
    FILE              *fp;

    /*
     * No Slurm here: a script in srun's place checks the arguments the
     * launcher gives and runs --ntasks copies of the command after "--" on
     * this machine, logging --nodelist.  What srun itself does is not
     * tested.
     */
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/srun", dir);
    snprintf(log, sizeof(log), "%s/log", dir);
    fp = fopen(path, "w");
    ck_assert_ptr_nonnull(fp);
    fprintf(
        fp,
        "#!/bin/sh\n"
        "n=1\n"
        "while [ $# -gt 0 ]; do\n"
        "  case $1 in\n"
        "    --ntasks=*) n=${1#--ntasks=} ;;\n"
        "    --nodelist=*) echo \"${1#--nodelist=} $n\" >> '%s' ;;\n"
        "    --nodes=1|--kill-on-bad-exit=0|--input=none|--job-name=*|--export=ALL) ;;\n"
        "    --) shift; break ;;\n"
        "    *) echo \"srun: unexpected $1\" >&2; exit 2 ;;\n"
        "  esac\n"
        "  shift\n"
        "done\n"
        "i=0\n"
        "while [ $i -lt $n ]; do \"$@\" & i=$((i+1)); done\n"
        "trap 'kill $(jobs -p) 2>/dev/null' TERM\n"
        "wait\n",
        log);
    fclose(fp);
    chmod(path, 0755);
    setenv("NWS_SRUN", path, 1);
    nws_sleigh_options_init(&o);
    o.host = "127.0.0.1";
    o.port = ls_srv.port;
    o.launcher = "srun";
    o.nodes = nodes;
    o.worker_path = ls_worker;
    /* srun's workers reach the server directly; loopback is refused... */
    ls_expect_fail(&o, "reach the server directly", NULL);
    /* ...unless named as the address the nodes use. */
    o.remote_host = "127.0.0.1";
    s = nws_sleigh_new(&o, &err);
    ck_assert_msg(s != NULL, "srun: %s", err.text);
    snprintf(ws, sizeof(ws), "%s", nws_sleigh_ws_name(s));
    ck_assert_int_eq(nws_sleigh_wait_workers(s, 3, 5, &err), 3);
    ls_cubes(s, 60);
    info = nws_sleigh_nodes(s, &err);
    ck_assert_int_eq(json_array_size(info), 2);
    ck_assert_int_eq(
        json_integer_value(json_object_get(ls_node(info, "nodeA"), "workers")), 2);
    json_decref(info);
    nws_sleigh_free(s);
    ls_no_workers(ws, 3000);
    /* One srun per node, each told its node and its count (in either order). */
    fp = fopen(log, "r");
    ck_assert_ptr_nonnull(fp);
    ck_assert_ptr_nonnull(fgets(path, sizeof(path), fp));
    ck_assert_ptr_nonnull(fgets(path + strlen(path), sizeof(path) - strlen(path), fp));
    ck_assert_msg(strcmp(path, "nodeA 2\nnodeB 1\n") == 0 ||
                      strcmp(path, "nodeB 1\nnodeA 2\n") == 0,
                  "srun was run as: %s", path);
    fclose(fp);
    sshtest_sh("rm -rf '%s'", dir);
}
END_TEST

/* ---- the sleigh command -------------------------------------------------- */

/*
 * Runs sleigh with argv (NULL-terminated) and extra env; its stdout in out.
 * Returns its exit status (its stderr is shown if that is not want).
 */
static int
ls_cli(const char *const *argv, const char *const *env, char *out, size_t len, int want)
{
    char    bin[512], errbuf[2048];
    int     pfd[2], efd[2], st, i;
    pid_t   pid;
    size_t  n = 0, en = 0;
    ssize_t r;

    nwstest_bin("sleigh", bin, sizeof(bin));
    ck_assert_int_eq(pipe(pfd), 0);
    ck_assert_int_eq(pipe(efd), 0);
    pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        alarm(30);
        dup2(pfd[1], 1);
        dup2(efd[1], 2);
        close(pfd[0]);
        close(efd[0]);
        for (i = 0; env != NULL && env[i] != NULL; i++)
            putenv((char *)env[i]);
        execv(bin, (char *const *)argv);
        _exit(127);
    }
    close(pfd[1]);
    close(efd[1]);
    while (n + 1 < len && (r = read(pfd[0], out + n, len - 1 - n)) > 0)
        n += (size_t)r;
    out[n] = '\0';
    while (en + 1 < sizeof(errbuf) &&
           (r = read(efd[0], errbuf + en, sizeof(errbuf) - 1 - en)) > 0)
        en += (size_t)r;
    errbuf[en] = '\0';
    close(pfd[0]);
    close(efd[0]);
    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != want)
        fprintf(stderr, "sleigh said: %s\n", errbuf);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

START_TEST(cli_nodes)
{
    char        server[64], out[4096], nodefile[300];
    const char *argv1[] = {"sleigh",
                           "-S",
                           "nwst-a:2,nwst-b",
                           "--ssh-config",
                           ls_env.ssh_config,
                           "--server",
                           server,
                           "-k",
                           "--",
                           "echo",
                           "x{}",
                           ":::",
                           "1",
                           "2",
                           "3",
                           NULL};
    const char *argv2[] = {"sleigh",
                           "--nodefile",
                           nodefile,
                           "--ssh-config",
                           ls_env.ssh_config,
                           "--server",
                           server,
                           "--remote-server",
                           server,
                           "-k",
                           "-j",
                           "2",
                           "--",
                           "echo",
                           "{}",
                           ":::",
                           "a",
                           "b",
                           NULL};
    const char *argv3[] = {"sleigh",
                           "--ssh-config",
                           ls_env.ssh_config,
                           "--server",
                           server,
                           "-k",
                           "--",
                           "echo",
                           "{}",
                           ":::",
                           "p",
                           "q",
                           NULL};
    const char *argv4[] = {"sleigh",          "-S", "nwst-a", "-j",  "+1", "--ssh-config",
                           ls_env.ssh_config, "--", "true",   ":::", "1",  NULL};
    /* --line-buffer: the output comes in pieces through the tunnel too. */
    const char *argv5[] = {"sleigh",
                           "-S",
                           "nwst-a:2,nwst-b",
                           "--ssh-config",
                           ls_env.ssh_config,
                           "--server",
                           server,
                           "-k",
                           "--lb",
                           "--tag",
                           "--",
                           "echo",
                           "x{}",
                           ":::",
                           "1",
                           "2",
                           "3",
                           NULL};
    char        workerenv[600];
    const char *env[] = {workerenv, NULL};
    const char *slurm[] = {workerenv, "SLURM_JOB_NODELIST=nwst-[1-2]",
                           "SLURM_TASKS_PER_NODE=1(x2)", NULL};
    FILE       *fp;

    LS_SKIP_IF_NEEDED();
    ck_assert_int_eq(
        sshtest_config_host(&ls_env, "nwst-1", "127.0.0.1", ls_sshd.port, NULL), 0);
    ck_assert_int_eq(
        sshtest_config_host(&ls_env, "nwst-2", "127.0.0.1", ls_sshd.port, NULL), 0);
    snprintf(server, sizeof(server), "127.0.0.1:%d", ls_srv.port);
    snprintf(workerenv, sizeof(workerenv), "NWS_WORKER=%s", ls_worker);
    /* -S with the ssh config's aliases, through the tunnel. */
    ck_assert_int_eq(ls_cli(argv1, env, out, sizeof(out), 0), 0);
    ck_assert_str_eq(out, "x1\nx2\nx3\n");
    ck_assert_int_eq(ls_cli(argv5, env, out, sizeof(out), 0), 0);
    ck_assert_str_eq(out, "1\tx1\n2\tx2\n3\tx3\n");
    /* --nodefile, workers reaching the server directly. */
    snprintf(nodefile, sizeof(nodefile), "%s/nodes", ls_env.dir);
    fp = fopen(nodefile, "w");
    ck_assert_ptr_nonnull(fp);
    fputs("# two nodes\nnwst-a 3\nnwst-b slots=2\n", fp);
    fclose(fp);
    ck_assert_int_eq(ls_cli(argv2, env, out, sizeof(out), 0), 0);
    ck_assert_str_eq(out, "a\nb\n");
    /* Inside a Slurm allocation, its nodes by themselves. */
    ck_assert_int_eq(ls_cli(argv3, slurm, out, sizeof(out), 0), 0);
    ck_assert_str_eq(out, "p\nq\n");
    /* -j relative to the cores means nothing for other hosts. */
    ck_assert_int_eq(ls_cli(argv4, env, out, sizeof(out), 255), 255);
}
END_TEST

NWSTEST_SUITE(launch_ssh)
{
    Suite *s = suite_create("launch_ssh");
    TCase *tc = tcase_create("ssh");

    tcase_add_checked_fixture(tc, ls_setup, ls_teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, tunnel_each_elem);
    tcase_add_test(tc, secret_through_the_channel);
    tcase_add_test(tc, direct_two_nodes);
    tcase_add_test(tc, options_without_config);
    tcase_add_test(tc, proxy_command);
    tcase_add_test(tc, host_keys);
    tcase_add_test(tc, clear_failures);
    tcase_add_test(tc, partial_or_whole);
    tcase_add_test(tc, restart_and_stop_busy);
    tcase_add_test(tc, master_killed);
    tcase_add_test(tc, cli_nodes);
    suite_add_tcase(s, tc);

    tc = tcase_create("node_launcher");
    tcase_add_checked_fixture(tc, ls_setup, ls_teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, node_launcher_stdin);
    tcase_add_test(tc, srun_stand_in);
    suite_add_tcase(s, tc);
    return s;
}
