/*
 * restart_test.c -- the task function of tests/check_sleigh_restart.c,
 * built into build/modules/restart_test.so and run by real nws-worker
 * processes while their server is killed and restarted under them.
 *
 * Each run of an element leaves one line in a log file ("<index> <start
 * time>"), so the test counts runs (an element run twice shows twice) and
 * sees when work went on again after a restart, without asking the server
 * it is testing.
 */
#include <fcntl.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include "nws_task.h"
#include "util.h"

/*
 * log_run(index, path, ms) -> index: appends "<index> <CLOCK_REALTIME
 * seconds>\n" to path (one write, O_APPEND: the lines of several workers
 * never mix), then sleeps ms milliseconds.
 */
NWS_TASK_FN(log_run)
{
    json_int_t      i = json_integer_value(json_array_get(args, 0));
    const char     *path = json_string_value(json_array_get(args, 1));
    json_int_t      ms = json_integer_value(json_array_get(args, 2));
    struct timespec ts;
    char            line[64];
    int             fd, n;

    if (path == NULL)
        return nws_task_error(ctx, "log_run: want (index, path, ms)");
    clock_gettime(CLOCK_REALTIME, &ts);
    n = snprintf(line, sizeof(line), "%lld %lld.%06ld\n", (long long)i,
                 (long long)ts.tv_sec, ts.tv_nsec / 1000);
    if ((fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600)) < 0)
        return nws_task_error(ctx, "log_run: cannot open %s", path);
    if (write(fd, line, (size_t)n) != n) {
        close(fd);
        return nws_task_error(ctx, "log_run: cannot write %s", path);
    }
    close(fd);
    if (ms > 0)
        nwsp_sleep_ms((long)ms);
    return json_integer(i);
}
