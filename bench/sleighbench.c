/*
 * sleighbench.c -- task throughput of a sleigh, and its recovery from a
 * killed worker, for bench/run.sh.
 *
 *   sleighbench --module M.so --fn cube|sleep1ms --n N [--chunk C] [--workers W]
 *   sleighbench --module M.so --kill --n N [--workers W]
 *
 * Uses the server $NWS_HOST:$NWS_PORT.  Prints one line of key=value pairs.
 * The first form times one blocking eachElem over 0..N-1 and checks every
 * result; --kill runs a 1 ms task over N elements, SIGKILLs one worker
 * mid-batch and reports how long until the sleigh has its full worker count
 * again, and that every element still came back exactly once.
 */
#include <dirent.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <nws_sleigh.h>
#include "util.h"

/* A pid of one of our nws-worker children (any thread's), or -1. */
static pid_t
bench_worker_pid(void)
{
    DIR           *d = opendir("/proc/self/task");
    struct dirent *e;
    char           path[320], cmd[256];
    pid_t          found = -1;

    while (d != NULL && found == -1 && (e = readdir(d)) != NULL) {
        FILE *fp;
        long  pid;

        if (e->d_name[0] == '.')
            continue;
        snprintf(path, sizeof(path), "/proc/self/task/%s/children", e->d_name);
        if ((fp = fopen(path, "r")) == NULL)
            continue;
        while (found == -1 && fscanf(fp, "%ld", &pid) == 1) {
            FILE  *cf;
            size_t n = 0;

            snprintf(path, sizeof(path), "/proc/%ld/cmdline", pid);
            if ((cf = fopen(path, "r")) != NULL) {
                n = fread(cmd, 1, sizeof(cmd) - 1, cf);
                fclose(cf);
            }
            cmd[n] = '\0';
            if (strstr(cmd, "nws-worker") != NULL)
                found = (pid_t)pid;
        }
        fclose(fp);
    }
    if (d != NULL)
        closedir(d);
    return found;
}

/* Checks r[i] == expect(i) for every i; returns the number of bad elements. */
static long
bench_check(const json_t *r, long n, int cube)
{
    long i, bad = 0;

    if (!json_is_array(r) || (long)json_array_size(r) != n)
        return n;
    for (i = 0; i < n; i++) {
        json_int_t want = cube ? (json_int_t)i * i * i : (json_int_t)i;

        if (json_integer_value(json_array_get(r, (size_t)i)) != want)
            bad++;
    }
    return bad;
}

int
main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"module", required_argument, NULL, 'm'}, {"fn", required_argument, NULL, 'f'},
        {"n", required_argument, NULL, 'n'},      {"chunk", required_argument, NULL, 'c'},
        {"workers", required_argument, NULL, 'w'}, {"kill", no_argument, NULL, 'k'},
        {NULL, 0, NULL, 0},
    };
    const char          *module = NULL, *fn = "cube";
    long                 n = 10000, chunk = 1, i, bad;
    int                  workers = 2, kill_one = 0, ch;
    nws_sleigh_options   opt;
    nws_sleigh_elem_opts eo;
    nws_sleigh          *s;
    nws_error            err;
    json_t              *task, *xs, *args, *r;
    double               t0, t1;

    while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (ch) {
        case 'm': module = optarg; break;
        case 'f': fn = optarg; break;
        case 'n': n = atol(optarg); break;
        case 'c': chunk = atol(optarg); break;
        case 'w': workers = atoi(optarg); break;
        case 'k': kill_one = 1; break;
        default:
            fprintf(stderr, "usage: sleighbench --module M.so [--fn F] [--n N] "
                            "[--chunk C] [--workers W] [--kill]\n");
            return 2;
        }
    }
    if (module == NULL || n <= 0) {
        fprintf(stderr, "sleighbench: --module and a positive --n are needed\n");
        return 2;
    }
    if (kill_one)
        fn = "sleep1ms";
    nws_sleigh_options_init(&opt);
    opt.workers = workers;
    if ((s = nws_sleigh_new(&opt, &err)) == NULL) {
        fprintf(stderr, "sleighbench: %s\n", err.text);
        return 1;
    }
    task = nws_sleigh_call(module, fn);
    xs = json_array();
    for (i = 0; i < n; i++)
        json_array_append_new(xs, json_integer(i));
    args = json_pack("[o]", xs);
    memset(&eo, 0, sizeof(eo));
    eo.chunk = (size_t)chunk;

    if (!kill_one) {
        t0 = nwsp_mono();
        r = nws_sleigh_each_elem(s, task, args, NULL, &eo, &err);
        t1 = nwsp_mono();
        if (r == NULL) {
            fprintf(stderr, "sleighbench: %s\n", err.text);
            return 1;
        }
        bad = bench_check(r, n, strcmp(fn, "cube") == 0);
        printf("sleighbench fn=%s n=%ld chunk=%ld workers=%d seconds=%.3f tasks_per_s=%.0f "
               "elems_per_s=%.0f bad=%ld\n",
               fn, n, chunk, workers, t1 - t0, (double)((n + chunk - 1) / chunk) / (t1 - t0),
               (double)n / (t1 - t0), bad);
    } else {
        nws_sleigh_pending *p;
        nws_sleigh_info     info;
        pid_t               victim;
        double              tk = 0, tb = 0;

        t0 = nwsp_mono();
        if ((p = nws_sleigh_each_elem_async(s, task, args, NULL, &eo, &err)) == NULL) {
            fprintf(stderr, "sleighbench: %s\n", err.text);
            return 1;
        }
        usleep(300000);
        if ((victim = bench_worker_pid()) <= 0 || kill(victim, SIGKILL) != 0) {
            fprintf(stderr, "sleighbench: no worker to kill\n");
            return 1;
        }
        tk = nwsp_mono();
        /* Back to full strength: a replacement registered after the kill. */
        do {
            usleep(1000);
            if (nws_sleigh_status(s, &info, &err) != 0)
                return 1;
        } while ((info.restarts < 1 || info.workers < workers) && nwsp_mono() - tk < 30);
        tb = nwsp_mono();
        r = nws_sleigh_pending_wait(p, &err);
        t1 = nwsp_mono();
        if (r == NULL) {
            fprintf(stderr, "sleighbench: %s\n", err.text);
            return 1;
        }
        bad = bench_check(r, n, 0);
        printf("sleighbench kill n=%ld workers=%d seconds=%.3f recovery_ms=%.1f restarts=%ld "
               "bad=%ld\n",
               n, workers, t1 - t0, (tb - tk) * 1000, info.restarts, bad);
        nws_sleigh_pending_free(p);
    }
    json_decref(r);
    json_decref(args);
    json_decref(task);
    nws_sleigh_stop(s, NULL);
    nws_sleigh_free(s);
    return bad == 0 ? 0 : 1;
}
