/*
 * producer_consumer.c -- one producer, several consumers, one workspace.
 *
 *   producer_consumer [CONSUMERS [TASKS]]      (default 3 consumers, 20 tasks)
 *
 * The producer makes a temporary workspace, forks the consumers (each opens
 * its own connection: a connection must not be shared between processes or
 * threads), stores TASKS numbers in the fifo variable "task", and collects
 * one "result" per task.  A consumer takes tasks with a blocking fetch until
 * it takes the word "stop".  The server is $NWS_HOST:$NWS_PORT.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <nws.h>

/* Prints what failed and exits. */
static void
pc_die(const char *who, const nws_error *err)
{
    fprintf(stderr, "producer_consumer: %s: %s\n", who, err->text);
    exit(1);
}

/* A consumer: squares numbers until told to stop.  Never returns. */
static void
pc_consume(const char *wsname, int id)
{
    nws_error   err;
    nws_client *c = nws_connect(NULL, 0, 0, &err);
    nws_ws     *ws;
    char       *task, result[64];
    long        n;

    if (c == NULL || (ws = nws_ws_use(c, wsname, NWS_WS_NOCREATE, &err)) == NULL)
        pc_die("consumer", &err);
    while ((task = nws_fetch_string(ws, "task", &err)) != NULL) {
        if (strcmp(task, "stop") == 0) {
            free(task);
            break;
        }
        n = strtol(task, NULL, 10);
        snprintf(result, sizeof(result), "%ld %ld %d", n, n * n, id);
        free(task);
        if (nws_store_string(ws, "result", result, &err) != 0)
            pc_die("consumer", &err);
    }
    if (err.code != NWS_ERR_NONE)
        pc_die("consumer", &err);
    nws_ws_free(ws);
    nws_close(c);
    exit(0);
}

/* Runs the producer and forks the consumers; 0 if every result came back right. */
int
main(int argc, char **argv)
{
    int         consumers = argc > 1 ? atoi(argv[1]) : 3;
    int         tasks = argc > 2 ? atoi(argv[2]) : 20;
    nws_error   err;
    nws_client *c;
    nws_ws     *ws;
    long long   sum = 0, want = 0;
    char        buf[32], *r;
    int         i, status, failed = 0;

    if (consumers < 1 || tasks < 1) {
        fprintf(stderr, "usage: producer_consumer [CONSUMERS [TASKS]]\n");
        return 2;
    }
    if ((c = nws_connect(NULL, 0, 0, &err)) == NULL)
        pc_die("connect", &err);
    /* Owned, so the server cleans it up when we exit. */
    if ((ws = nws_ws_mktemp(c, "pc_%d", NWS_WS_OWN, &err)) == NULL)
        pc_die("mktemp", &err);
    fflush(stdout);
    for (i = 0; i < consumers; i++) {
        if (fork() == 0) {
            char name[256];

            /* The parent's connection is not ours to use: drop our copy. */
            snprintf(name, sizeof(name), "%s", nws_ws_name(ws));
            nws_ws_free(ws);
            nws_close(c);
            pc_consume(name, i);
        }
    }
    for (i = 1; i <= tasks; i++) {
        snprintf(buf, sizeof(buf), "%d", i);
        if (nws_store_string(ws, "task", buf, &err) != 0)
            pc_die("store", &err);
        want += (long long)i * i;
    }
    for (i = 0; i < tasks; i++) {
        if ((r = nws_fetch_string(ws, "result", &err)) == NULL)
            pc_die("fetch", &err);
        sum += strtoll(strchr(r, ' ') + 1, NULL, 10);
        free(r);
    }
    for (i = 0; i < consumers; i++)
        if (nws_store_string(ws, "task", "stop", &err) != 0)
            pc_die("store", &err);
    for (i = 0; i < consumers; i++)
        if (wait(&status) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
            failed = 1;
    printf("%d consumers squared %d numbers: sum %lld (%s)\n", consumers, tasks, sum,
           sum == want && !failed ? "ok" : "WRONG");
    nws_ws_free(ws);
    nws_close(c);
    return sum == want && !failed ? 0 : 1;
}
