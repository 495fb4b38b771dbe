/*
 * nodes.c -- the sleigh command's nodes: where the workers run (-S,
 * --nodefile, a batch allocation, or this machine), --remote-server, and
 * which node each worker rank landed on (joblog).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../nodes.h"
#include "sl.h"

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
