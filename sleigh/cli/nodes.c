/*
 * nodes.c -- the sleigh command's nodes: where the workers run (-S,
 * --nodefile, a batch allocation, or this machine), --remote-server, the
 * address the nodes reach this machine at, and which node each worker rank
 * landed on (joblog).
 */
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../nodes.h"
#include "sl.h"
#include "util.h"

/*
 * Where the workers run.  Fills nl from -S and --nodefile, else from the
 * batch allocation we run in (unless --launcher local): *remote is then 1.
 * An allocation of this machine alone leaves nl empty and gives its
 * worker count in *local_slots: local workers do.  0, or -1 (said why).
 * Which nodes (lists, files, else the allocation) is nwsp_nodes_plan's
 * rule, the library's too; what is left here is the command's own policy.
 */
int
sl_nodes_plan(const struct sl_opts *o, struct nwsp_nodes *nl, int *remote,
              long *local_slots)
{
    const char *lists[sizeof(o->nodes) / sizeof(o->nodes[0]) + 1];
    const char *files[sizeof(o->nodefiles) / sizeof(o->nodefiles[0]) + 1];
    const char *source = NULL, *bad = NULL;
    nws_error   err;
    int         i, rc;

    *remote = 0;
    *local_slots = 0;
    memset(&err, 0, sizeof(err));
    if (o->launcher != NULL && strcmp(o->launcher, "local") == 0) {
        if (o->nnodes > 0 || o->nnodefiles > 0) {
            sl_warnx("--launcher local starts no workers on other hosts");
            return -1;
        }
        return 0;
    }
    for (i = 0; i < o->nnodes; i++)
        lists[i] = o->nodes[i];
    lists[o->nnodes] = NULL;
    for (i = 0; i < o->nnodefiles; i++)
        files[i] = o->nodefiles[i];
    files[o->nnodefiles] = NULL;
    rc = nwsp_nodes_plan(nl, lists, files, &source, &bad, &err);
    if (rc < 0) {
        for (i = 0; bad != NULL && i < o->nnodes; i++) {
            if (bad == o->nodes[i]) {
                sl_warnx("-S %s: %s", bad, err.text);
                return -1;
            }
        }
        if (bad != NULL)
            sl_warnx("--nodefile: %s", err.text);
        else
            sl_warnx("the %s allocation: %s", source ? source : "batch", err.text);
        return -1;
    }
    if (rc == 0) {
        if (o->launcher != NULL) {
            sl_warnx("--launcher %s: no nodes (give -S or --nodefile)", o->launcher);
            return -1;
        }
        return 0;
    }
    if (source != NULL) {
        /* The nodes are the allocation's. */
        if (nl->nl_n == 1 && nl->nl_v[0].nd_user == NULL && o->launcher == NULL &&
            nwsp_host_is_me(nl->nl_v[0].nd_host)) {
            *local_slots = nl->nl_v[0].nd_slots;
            nwsp_nodes_free(nl);
            return 0;
        }
        if (o->worker_log)
            sl_warnx("workers on the %zu nodes of the %s allocation", nl->nl_n, source);
    }
    *remote = 1;
    return 0;
}

/* Splits --remote-server HOST[:PORT] ([v6]:PORT too) into host and *port (0 if none). */
int
sl_remote_server(const char *spec, char *host, size_t len, int *port)
{
    const char *colon, *end;
    long        v;

    *port = 0;
    if (spec[0] == '[') {
        if ((end = strchr(spec, ']')) == NULL || (size_t)(end - spec) > len)
            return -1;
        snprintf(host, len, "%.*s", (int)(end - spec - 1), spec + 1);
        colon = end[1] == ':' ? end + 1 : NULL;
        if (end[1] != '\0' && colon == NULL)
            return -1;
    } else {
        colon = strchr(spec, ':');
        if (colon != NULL && strchr(colon + 1, ':') != NULL)
            colon = NULL; /* a bare IPv6 address */
        if ((size_t)(colon ? colon - spec : (long)strlen(spec)) >= len)
            return -1;
        snprintf(host, len, "%.*s", (int)(colon ? colon - spec : (long)strlen(spec)), spec);
    }
    if (colon != NULL) {
        if (sl_parse_count(colon + 1, 65535, &v) != 0 || v < 1)
            return -1;
        *port = (int)v;
    }
    return host[0] != '\0' ? 0 : -1;
}

/*
 * The NodeAddr of `scontrol -o show node` output (text): 0 with it in
 * addr, or -1.  "NodeAddr=" only counts at the start of a word.
 */
int
sl_slurm_node_addr(const char *text, char *addr, size_t len)
{
    const char *p, *e;

    for (p = text; (p = strstr(p, "NodeAddr=")) != NULL; p++) {
        if (p != text && p[-1] != ' ' && p[-1] != '\n')
            continue;
        p += strlen("NodeAddr=");
        e = p + strcspn(p, " \t\n");
        if (e == p || (size_t)(e - p) >= len)
            return -1;
        snprintf(addr, len, "%.*s", (int)(e - p), p);
        return 0;
    }
    return -1;
}

/* Runs scontrol -o show node NAME; its output in buf (NUL-ended), or -1. */
static int
sl_scontrol_node(const char *name, char *buf, size_t len)
{
    const char   *scontrol = getenv("NWS_SCONTROL");
    struct pollfd pfd;
    size_t        got = 0;
    ssize_t       n;
    double        deadline = nwsp_mono() + 10;
    pid_t         pid;
    int           fds[2], st, devnull;

    if (pipe2(fds, O_CLOEXEC) != 0)
        return -1;
    if ((pid = fork()) < 0) {
        close(fds[0]);
        close(fds[1]);
        return -1;
    }
    if (pid == 0) {
        devnull = open("/dev/null", O_RDWR);
        dup2(devnull, 0);
        dup2(fds[1], 1);
        dup2(devnull, 2);
        scontrol = scontrol != NULL && *scontrol != '\0' ? scontrol : "scontrol";
        execlp(scontrol, scontrol, "-o", "show", "node", name, (char *)NULL);
        _exit(127);
    }
    close(fds[1]);
    /* A controller that does not answer must not hang the run: 10 s at most. */
    while (got < len - 1) {
        pfd.fd = fds[0];
        pfd.events = POLLIN;
        if (poll(&pfd, 1, (int)((deadline - nwsp_mono()) * 1000) + 1) <= 0 ||
            (n = read(fds[0], buf + got, len - 1 - got)) <= 0)
            break;
        got += (size_t)n;
    }
    buf[got] = '\0';
    close(fds[0]);
    kill(pid, SIGKILL); /* gone already, unless it hung */
    waitpid(pid, &st, 0);
    return got > 0 ? 0 : -1;
}

/*
 * An address of this machine that the nodes of the allocation reach, for
 * a private server they connect to directly (--launcher srun): on a Slurm
 * node (a batch script), the NodeAddr Slurm itself reaches it at; else the
 * first address our host name resolves to that is not loopback.  0, or -1.
 */
int
sl_node_address(char *addr, size_t len)
{
    const char     *node = getenv("SLURMD_NODENAME");
    struct addrinfo hints, *res = NULL, *ai;
    char            out[8192], name[256];
    int             rc = -1;

    if (node != NULL && *node != '\0' && sl_scontrol_node(node, out, sizeof(out)) == 0 &&
        sl_slurm_node_addr(out, addr, len) == 0)
        return 0;
    if (gethostname(name, sizeof(name) - 1) != 0)
        return -1;
    name[sizeof(name) - 1] = '\0';
    memset(&hints, 0, sizeof(hints));
    hints.ai_socktype = SOCK_STREAM;
    if (getaddrinfo(name, NULL, &hints, &res) != 0)
        return -1;
    for (ai = res; ai != NULL && rc != 0; ai = ai->ai_next)
        if (getnameinfo(ai->ai_addr, ai->ai_addrlen, addr, (socklen_t)len, NULL, 0,
                        NI_NUMERICHOST) == 0 &&
            strncmp(addr, "127.", 4) != 0 && strcmp(addr, "::1") != 0)
            rc = 0;
    freeaddrinfo(res);
    return rc;
}

/*
 * {"rank": node} for the launched workers (new), or NULL; says which nodes
 * failed (--partial went on without them).
 */
json_t *
sl_rank_nodes(nws_sleigh *s)
{
    json_t *nodes = nws_sleigh_nodes(s, NULL), *map = json_object(), *node, *r;
    size_t  i, j;
    char    key[24];

    json_array_foreach(nodes, i, node)
    {
        if (strcmp(json_string_value(json_object_get(node, "state")), "failed") == 0)
            sl_warnx("node %s: %s (going on without it)",
                     json_string_value(json_object_get(node, "node")),
                     json_string_value(json_object_get(node, "error")));
        json_array_foreach(json_object_get(node, "ranks"), j, r)
        {
            snprintf(key, sizeof(key), "%lld", (long long)json_integer_value(r));
            json_object_set(map, key, json_object_get(node, "node"));
        }
    }
    json_decref(nodes);
    return map;
}
