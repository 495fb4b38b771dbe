/*
 * treerss.c -- runs a command and reports its wall time and the peak
 * resident memory of its whole process tree (the command and everything
 * it starts: for sleigh, its private server, workers and their jobs).
 *
 *   treerss COMMAND [ARG...]
 *   -> wall_s=W tree_peak_kb=T max_proc_kb=M status=S    (on stderr)
 *
 * tree_peak_kb is the largest sum of VmRSS over the tree, sampled every
 * millisecond by walking /proc/PID/task/TID/children from the command
 * down (so short spikes between samples can be missed, and pages shared
 * between processes count once per process).  max_proc_kb is the exact
 * peak of the largest single process the command waited for
 * (ru_maxrss of wait4), as /usr/bin/time -f %M gives it.  The command's
 * stdout and stderr are its own.
 */
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "util.h"

#define TREERSS_MAX_DEPTH 16

static long treerss_page_kb;

/* The resident KiB of pid and of all its descendants (0 if it is gone). */
static long
treerss_sum(pid_t pid, int depth)
{
    char           path[96], buf[4096], *p, *end;
    FILE          *fp;
    DIR           *d;
    struct dirent *e;
    long           size, rss, sum = 0, child;

    snprintf(path, sizeof(path), "/proc/%ld/statm", (long)pid);
    if ((fp = fopen(path, "r")) == NULL)
        return 0;
    if (fscanf(fp, "%ld %ld", &size, &rss) == 2)
        sum = rss * treerss_page_kb;
    fclose(fp);
    if (depth >= TREERSS_MAX_DEPTH)
        return sum;
    /* Children hang off each thread (the sleigh's supervisor thread forks workers). */
    snprintf(path, sizeof(path), "/proc/%ld/task", (long)pid);
    if ((d = opendir(path)) == NULL)
        return sum;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        snprintf(path, sizeof(path), "/proc/%ld/task/%.20s/children", (long)pid, e->d_name);
        if ((fp = fopen(path, "r")) == NULL)
            continue;
        if (fgets(buf, sizeof(buf), fp) != NULL) {
            for (p = buf;; p = end) {
                child = strtol(p, &end, 10);
                if (end == p)
                    break;
                sum += treerss_sum((pid_t)child, depth + 1);
            }
        }
        fclose(fp);
    }
    closedir(d);
    return sum;
}

int
main(int argc, char **argv)
{
    struct rusage ru;
    double        t0;
    long          peak = 0, now;
    pid_t         pid, got;
    int           st = 0;

    if (argc < 2) {
        fprintf(stderr, "usage: treerss COMMAND [ARG...]\n");
        return 2;
    }
    treerss_page_kb = sysconf(_SC_PAGESIZE) / 1024;
    t0 = nwsp_mono();
    if ((pid = fork()) < 0) {
        perror("treerss: fork");
        return 2;
    }
    if (pid == 0) {
        execvp(argv[1], argv + 1);
        perror(argv[1]);
        _exit(127);
    }
    memset(&ru, 0, sizeof(ru));
    while ((got = wait4(pid, &st, WNOHANG, &ru)) == 0) {
        if ((now = treerss_sum(pid, 0)) > peak)
            peak = now;
        usleep(1000);
    }
    fprintf(stderr, "wall_s=%.3f tree_peak_kb=%ld max_proc_kb=%ld status=%d\n",
            nwsp_mono() - t0, peak, (long)ru.ru_maxrss,
            WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
    return got == pid && WIFEXITED(st) ? WEXITSTATUS(st) : 1;
}
