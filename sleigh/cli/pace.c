/*
 * pace.c -- when the next job may start, with GNU parallel's options: -j 0
 * (as many workers as the machine allows), --delay (seconds between two
 * job starts), --load (no start while too many processes run) and
 * --memfree (no start while too little memory is free).
 *
 * A job starts when a worker fetches its task, so run.c paces the pushes:
 * with any of these options it keeps at most one task per idle worker on
 * the server (a task pushed is a task started), and asks here before each
 * push.  The load and the free memory are the master's machine's, measured
 * as parallel 20221122 measures them on Linux: the threads running or
 * waiting for the disk (parallel runs `ps axH -o state` and counts D, O and
 * R, kernel threads aside; sleigh leaves itself out too), and
 * MemFree + Buffers + Cached + SwapCached of /proc/meminfo.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "sl.h"
#include "util.h"

#define SL_PACE_CHECK_MS  100        /* a new look at the load or memory after this */
#define SL_PACE_JOBS_MAX  4096       /* -j 0's ceiling whatever the limits say */
#define SL_PACE_WORKERS_S 30.0       /* --delay waits this long at most for the workers */
#define SL_PF_KTHREAD     0x00200000 /* /proc/PID/stat flags: a kernel thread */

/*
 * A duration as parallel takes it: seconds, or floats postfixed with s, m,
 * h, d, added up ("1d3.5h16.6m4s").  0, or -1.
 */
int
sl_pace_parse_duration(const char *s, double *out)
{
    double total = 0, v;
    char  *end;

    if (*s == '\0')
        return -1;
    while (*s != '\0') {
        if (!isdigit((unsigned char)*s) && *s != '.')
            return -1;
        errno = 0;
        v = strtod(s, &end);
        if (errno != 0 || end == s || !isfinite(v))
            return -1;
        switch (*end) {
        case '\0':
            break;
        case 's':
            end++;
            break;
        case 'm':
            v *= 60;
            end++;
            break;
        case 'h':
            v *= 3600;
            end++;
            break;
        case 'd':
            v *= 86400;
            end++;
            break;
        default:
            return -1;
        }
        total += v;
        s = end;
    }
    if (total > 1e9)
        return -1;
    *out = total;
    return 0;
}

/*
 * A size as parallel takes it: a float postfixed with K M G T P (powers of
 * 1024) or k m g t p (powers of 1000).  0, or -1.
 */
int
sl_pace_parse_units(const char *s, double *out)
{
    static const char big[] = "KMGTP", small[] = "kmgtp";
    const char       *u;
    double            v;
    char             *end;
    int               i, n;

    if (!isdigit((unsigned char)*s) && *s != '.')
        return -1;
    errno = 0;
    v = strtod(s, &end);
    if (errno != 0 || end == s || !isfinite(v) || v < 0)
        return -1;
    if (*end != '\0') {
        if (end[1] != '\0')
            return -1;
        if ((u = strchr(big, *end)) != NULL)
            for (n = (int)(u - big) + 1, i = 0; i < n; i++)
                v *= 1024;
        else if ((u = strchr(small, *end)) != NULL)
            for (n = (int)(u - small) + 1, i = 0; i < n; i++)
                v *= 1000;
        else
            return -1;
    }
    *out = v;
    return 0;
}

/*
 * -j 0: as many workers as the machine allows.  Each worker is a process
 * holding a connection (and the private server a descriptor for it), so
 * the limits on processes and descriptors bound it, and so does
 * SL_PACE_JOBS_MAX.
 */
long
sl_pace_jobs_max(void)
{
    struct rlimit rl;
    long          n = SL_PACE_JOBS_MAX;

    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
        (long)(rl.rlim_cur / 4) < n)
        n = (long)(rl.rlim_cur / 4);
    if (getrlimit(RLIMIT_NPROC, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
        (long)(rl.rlim_cur / 2) < n)
        n = (long)(rl.rlim_cur / 2);
    return n < 1 ? 1 : n;
}

/* The threads running or in disk wait, kernel threads and sleigh aside; -1 if unknown. */
static long
sl_pace_load(void)
{
    DIR           *proc = opendir("/proc"), *task;
    struct dirent *pe, *te;
    char           path[600], buf[1024], *p, state;
    unsigned long  flags;
    long           n = 0, self = (long)getpid();
    FILE          *fp;
    int            i;

    if (proc == NULL)
        return -1;
    while ((pe = readdir(proc)) != NULL) {
        if (!isdigit((unsigned char)pe->d_name[0]) || atol(pe->d_name) == self)
            continue;
        snprintf(path, sizeof(path), "/proc/%s/task", pe->d_name);
        if ((task = opendir(path)) == NULL)
            continue;
        while ((te = readdir(task)) != NULL) {
            if (!isdigit((unsigned char)te->d_name[0]))
                continue;
            snprintf(path, sizeof(path), "/proc/%s/task/%s/stat", pe->d_name, te->d_name);
            if ((fp = fopen(path, "re")) == NULL)
                continue;
            p = fgets(buf, sizeof(buf), fp) != NULL ? strrchr(buf, ')') : NULL;
            fclose(fp);
            /* ") S ppid pgrp session tty tpgid flags" */
            if (p == NULL || p[1] != ' ')
                continue;
            state = p[2];
            for (p += 3, i = 0; i < 5 && p != NULL; i++)
                p = strchr(p + 1, ' ');
            flags = p != NULL ? strtoul(p + 1, NULL, 10) : 0;
            if ((state == 'R' || state == 'D' || state == 'O') &&
                !(flags & SL_PF_KTHREAD))
                n++;
        }
        closedir(task);
    }
    closedir(proc);
    return n;
}

/* Free memory as parallel counts it, in bytes; -1 if unknown. */
static double
sl_pace_memfree(void)
{
    FILE  *fp = fopen("/proc/meminfo", "re");
    char   line[256], key[64];
    double kb, sum = 0;
    int    seen = 0;

    if (fp == NULL)
        return -1;
    while (fgets(line, sizeof(line), fp) != NULL) {
        if (sscanf(line, "%63[^:]: %lf", key, &kb) != 2)
            continue;
        if (strcmp(key, "MemFree") == 0 || strcmp(key, "Buffers") == 0 ||
            strcmp(key, "Cached") == 0 || strcmp(key, "SwapCached") == 0) {
            sum += kb * 1024;
            seen++;
        }
    }
    fclose(fp);
    return seen > 0 ? sum : -1;
}

/* --load's limit, with -j's syntax (N, N%, +N, -N of the cores; 0 is 0.01). */
int
sl_pace_setup(struct sl_run *run)
{
    const char *spec = run->o->load;
    long        cores = sysconf(_SC_NPROCESSORS_ONLN);
    double      v;
    size_t      len;
    char        buf[64];

    if (spec == NULL)
        return 0;
    if (cores < 1)
        cores = 1;
    len = strlen(spec);
    if (len == 0 || len >= sizeof(buf))
        goto bad;
    memcpy(buf, spec, len + 1);
    if (buf[len - 1] == '%') {
        buf[len - 1] = '\0';
        if (sl_pace_parse_units(buf, &v) != 0)
            goto bad;
        v = (double)cores * v / 100;
    } else if (buf[0] == '+' || buf[0] == '-') {
        if (sl_pace_parse_units(buf + 1, &v) != 0)
            goto bad;
        v = buf[0] == '+' ? (double)cores + v : (double)cores - v;
    } else if (sl_pace_parse_units(buf, &v) != 0) {
        goto bad;
    }
    run->load_max = v > 0 ? v : 0.01;
    return 0;
bad:
    sl_warnx("--load: want N, N%%, +N or -N: %s", spec);
    return -1;
}

/* 1 if job starts are paced (--delay, --load, --memfree). */
int
sl_pace_active(const struct sl_run *run)
{
    return run->o->delay > 0 || run->o->load != NULL || run->o->memfree > 0;
}

/*
 * 0 if a job may start now; else the milliseconds to wait before asking
 * again (the rest of --delay, or a while for the load or memory).
 */
long
sl_pace_wait_ms(struct sl_run *run)
{
    double          now = nwsp_mono(), left, mem;
    long            load;
    nws_sleigh_info info;

    if (run->o->delay > 0 && !run->pace_ready) {
        /*
         * A task pushed before its worker is up would wait in the queue,
         * and several could then start together: the first start waits
         * for every worker.
         */
        if (now - run->started < SL_PACE_WORKERS_S &&
            nws_sleigh_status(run->s, &info, NULL) == 0 && info.workers < run->workers &&
            !info.closed)
            return SL_PACE_CHECK_MS / 2;
        run->pace_ready = 1;
    }
    if (run->o->delay > 0 && run->last_start > 0 &&
        (left = run->last_start + run->o->delay - now) > 0)
        return (long)(left * 1000) + 1;
    if (run->load_max > 0 &&
        ((load = sl_pace_load()) < 0 || (double)load >= run->load_max))
        return SL_PACE_CHECK_MS;
    if (run->o->memfree > 0 &&
        ((mem = sl_pace_memfree()) < 0 || mem < (double)run->o->memfree))
        return SL_PACE_CHECK_MS;
    return 0;
}

/* A job was just handed out. */
void
sl_pace_started(struct sl_run *run)
{
    run->last_start = nwsp_mono();
}
