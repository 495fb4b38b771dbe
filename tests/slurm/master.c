/*
 * master.c -- a Sleigh master as a user writes one, run inside a Slurm job
 * by tests/check_slurm.c (which compiles it against the built libnws.so).
 *
 *   master HOST PORT MODULE WORKER LAUNCHER [KILL-COMMAND [RESTORE-COMMAND]]
 *
 * It makes a sleigh with nodes = NULL, so the workers go where the job's
 * allocation says (SLURM_JOB_NODELIST, SLURM_TASKS_PER_NODE), started by
 * LAUNCHER ("srun" or "ssh").  Then it runs N sleep tasks; with a
 * KILL-COMMAND it runs that command (through sh) after a quarter of the
 * results, and measures how long until the server counts the survivors
 * only; RESTORE-COMMAND runs after the batch.  With $NWSTEST_TUNNEL the
 * ssh workers reach the server through the ssh connections (keepalives
 * every 0.5 s notice a silent node), else directly.  Every element must come back exactly once, with its own value.
 * It prints "name value" lines, then "OK"; anything else is a failure.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "nws.h"
#include "nws_json.h"
#include "nws_sleigh.h"

#define N_TASKS 400
#define TASK_MS 40

static double
now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int
fail(const char *what, const nws_error *err)
{
    printf("FAIL %s: %s\n", what, err != NULL ? err->text : "");
    return 1;
}

static long
workers(nws_sleigh *s)
{
    nws_sleigh_info info;
    nws_error       err;

    return nws_sleigh_status(s, &info, &err) == 0 ? info.workers : -1;
}

int
main(int argc, char **argv)
{
    nws_sleigh_options  o;
    nws_sleigh         *s;
    nws_sleigh_pending *p;
    nws_sleigh_result   r;
    nws_error           err;
    json_t             *task, *args, *v0, *v1, *nodes, *n;
    unsigned char       seen[N_TASKS] = {0};
    double              t0 = now(), t_new, t_gone = 0, noticed = -1;
    long                i, got = 0, total;
    size_t              k;
    int                 rc;

    if (argc < 6) {
        fprintf(stderr,
                "usage: master HOST PORT MODULE WORKER LAUNCHER [KILL [RESTORE]]\n");
        return 2;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    nws_sleigh_options_init(&o);
    o.host = argv[1];
    o.port = atoi(argv[2]);
    o.launcher = argv[5];
    o.nodes = NULL; /* the allocation's */
    o.worker_path = argv[4];
    o.remote_host = getenv("NWSTEST_TUNNEL") != NULL ? NULL : argv[1];
    o.keepalive = 0.5;
    o.ssh_config = getenv("NWSTEST_SSH_CONFIG");
    o.join_timeout = 60;
    o.connect_timeout = 30;
    if ((s = nws_sleigh_new(&o, &err)) == NULL)
        return fail("nws_sleigh_new", &err);
    t_new = now() - t0;
    total = workers(s);
    printf("workers %ld\nnew_s %.3f\n", total, t_new);
    if ((nodes = nws_sleigh_nodes(s, &err)) == NULL)
        return fail("nodes", &err);
    json_array_foreach(nodes, k, n)
    {
        printf("node %s %lld\n", json_string_value(json_object_get(n, "node")),
               (long long)json_integer_value(json_object_get(n, "workers")));
    }
    json_decref(nodes);

    task = nws_sleigh_call(argv[3], "sleep_ms");
    v0 = json_array();
    v1 = json_array();
    for (i = 0; i < N_TASKS; i++) {
        json_array_append_new(v0, json_integer(TASK_MS));
        json_array_append_new(v1, json_integer(i));
    }
    args = json_pack("[o, o]", v0, v1);
    if ((p = nws_sleigh_each_elem_async(s, task, args, NULL, NULL, &err)) == NULL)
        return fail("each_elem", &err);
    for (;;) {
        if ((rc = nws_sleigh_pending_next(p, &r, 20, &err)) < 0)
            return fail("pending_next", &err);
        if (rc == 0)
            break;
        if (rc == 1) {
            if (r.error != NULL || r.index >= N_TASKS || seen[r.index] ||
                json_integer_value(r.value) != (long)r.index) {
                printf("FAIL element %zu: %s%s\n", r.index, r.error ? r.error : "",
                       r.index < N_TASKS && seen[r.index] ? "came twice" : "");
                return 1;
            }
            seen[r.index] = 1;
            if (++got == N_TASKS / 4 && argc > 6) {
                /* From before the command: an upper bound, its own run time included. */
                t_gone = now();
                if (system(argv[6]) != 0)
                    return fail("the kill command failed", NULL);
            }
        }
        if (t_gone > 0 && noticed < 0 && workers(s) <= total - total / 4)
            noticed = now() - t_gone;
    }
    if (argc > 7 && system(argv[7]) != 0)
        return fail("the restore command failed", NULL);
    if (got != N_TASKS)
        return fail("not every element came back", NULL);
    printf("results %ld\n", got);
    if (argc > 6) {
        if (noticed < 0)
            return fail("the server never dropped the lost workers", NULL);
        printf("survivors %ld\nloss_s %.3f\n", workers(s), noticed);
    }
    nws_sleigh_pending_free(p);
    json_decref(args);
    json_decref(task);
    if (nws_sleigh_stop(s, &err) != 0)
        return fail("stop", &err);
    nws_sleigh_free(s);
    printf("OK\n");
    return 0;
}
