/*
 * output.c -- the worker's own stdout and stderr, kept in the workspace.
 *
 * As the classic Python worker does with redirectOutput, file descriptors
 * 1 and 2 become a pipe; a thread reads it and stores every line into the
 * fifo variable output@<rank> over a connection of its own (task code
 * printing with printf ends up there).  A line longer than OUTPUT_LINE_MAX
 * is split.  output_stop() closes our ends, and the thread flushes the
 * last partial line before it ends.
 */
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "worker.h"

#define OUTPUT_LINE_MAX 4096

static pthread_t   output_thread;
static int         output_fd = -1; /* read end */
static int         output_running;
static nws_client *output_c;
static nws_ws     *output_ws;
static char        output_var[64];

/* Stores len bytes of one line. */
static void
output_line(const char *p, size_t len)
{
    nws_store_raw(output_ws, output_var, len > 0 ? p : "", len, NWS_DESC_TEXT, NULL);
}

/* The reading thread. */
static void *
output_main(void *arg)
{
    char    buf[OUTPUT_LINE_MAX];
    size_t  have = 0, i, start;
    ssize_t n;

    (void)arg;
    for (;;) {
        n = read(output_fd, buf + have, sizeof(buf) - have);
        if (n <= 0)
            break;
        have += (size_t)n;
        start = 0;
        for (i = 0; i < have; i++) {
            if (buf[i] == '\n') {
                output_line(buf + start, i - start);
                start = i + 1;
            }
        }
        memmove(buf, buf + start, have - start);
        have -= start;
        if (have == sizeof(buf)) {
            output_line(buf, have);
            have = 0;
        }
    }
    if (have > 0)
        output_line(buf, have);
    return NULL;
}

int
output_start(struct worker *w)
{
    nws_error err;
    int       p[2];

    snprintf(output_var, sizeof(output_var), "output@%ld", w->w_rank);
    output_c = nws_connect_auth(w->w_host, w->w_port, 0, w->w_secret, &err);
    if (output_c == NULL ||
        (output_ws = nws_ws_use(output_c, w->w_ws_name, NWS_WS_NOCREATE, &err)) == NULL ||
        nws_declare(output_ws, output_var, NWS_MODE_FIFO, &err) != 0 || pipe(p) != 0) {
        nws_ws_free(output_ws);
        nws_close(output_c);
        output_ws = NULL;
        output_c = NULL;
        return -1;
    }
    fcntl(p[0], F_SETFD, FD_CLOEXEC);
    fflush(NULL);
    if (dup2(p[1], 1) < 0 || dup2(p[1], 2) < 0) {
        close(p[0]);
        close(p[1]);
        return -1;
    }
    close(p[1]);
    setvbuf(stdout, NULL, _IOLBF, 0);
    output_fd = p[0];
    if (pthread_create(&output_thread, NULL, output_main, NULL) != 0)
        return -1;
    output_running = 1;
    return 0;
}

void
output_stop(void)
{
    int devnull;

    if (!output_running)
        return;
    fflush(NULL);
    /* Our ends of the pipe go; the thread sees EOF once every writer is gone. */
    if ((devnull = open("/dev/null", O_WRONLY)) >= 0) {
        dup2(devnull, 1);
        dup2(devnull, 2);
        close(devnull);
    }
    pthread_join(output_thread, NULL);
    output_running = 0;
    close(output_fd);
    nws_ws_free(output_ws);
    nws_close(output_c);
}
