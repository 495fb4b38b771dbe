/*
 * ring.c -- a ring of processes passing a token through a workspace.
 *
 *   ring [PROCESSES [LAPS]]        (default 4 processes, 3 laps)
 *
 * Process i waits for the token in variable "slot<i>" (a blocking fetch),
 * adds one, and stores it in "slot<i+1>", wrapping around.  Process 0 puts
 * the token in first and reads it back at the end: after LAPS laps it has
 * been passed PROCESSES * LAPS times.  Every process has its own connection.
 * The server is $NWS_HOST:$NWS_PORT.
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <nws.h>

/* Prints what failed and exits. */
static void
ring_die(const char *who, const nws_error *err)
{
    fprintf(stderr, "ring: %s: %s\n", who, err->text);
    exit(1);
}

/* Passes the token `laps` times from slot<me> to the next slot. */
static void
ring_member(const char *wsname, int me, int n, int laps)
{
    nws_error   err;
    nws_client *c = nws_connect(NULL, 0, 0, &err);
    nws_ws     *ws;
    char        in[32], out[32], *tok;
    int         lap;

    if (c == NULL || (ws = nws_ws_use(c, wsname, NWS_WS_NOCREATE, &err)) == NULL)
        ring_die("member", &err);
    snprintf(in, sizeof(in), "slot%d", me);
    snprintf(out, sizeof(out), "slot%d", (me + 1) % n);
    for (lap = 0; lap < laps; lap++) {
        char next[32];

        if ((tok = nws_fetch_string(ws, in, &err)) == NULL)
            ring_die(in, &err);
        snprintf(next, sizeof(next), "%ld", strtol(tok, NULL, 10) + 1);
        free(tok);
        if (nws_store_string(ws, out, next, &err) != 0)
            ring_die(out, &err);
    }
    nws_ws_free(ws);
    nws_close(c);
}

/* Forks the ring, starts the token and checks its count; 0 on success. */
int
main(int argc, char **argv)
{
    int         n = argc > 1 ? atoi(argv[1]) : 4;
    int         laps = argc > 2 ? atoi(argv[2]) : 3;
    nws_error   err;
    nws_client *c;
    nws_ws     *ws;
    char       *tok;
    int         i, status, failed = 0;
    long        hops;

    if (n < 2 || laps < 1) {
        fprintf(stderr, "usage: ring [PROCESSES [LAPS]]\n");
        return 2;
    }
    if ((c = nws_connect(NULL, 0, 0, &err)) == NULL)
        ring_die("connect", &err);
    if ((ws = nws_ws_mktemp(c, "ring_%d", NWS_WS_OWN, &err)) == NULL)
        ring_die("mktemp", &err);
    fflush(stdout);
    for (i = 1; i < n; i++) {
        if (fork() == 0) {
            char name[256];

            /* The parent's connection is not ours to use: drop our copy. */
            snprintf(name, sizeof(name), "%s", nws_ws_name(ws));
            nws_ws_free(ws);
            nws_close(c);
            ring_member(name, i, n, laps);
            exit(0);
        }
    }
    /* Process 0 starts the token; its own member loop uses a second connection. */
    if (nws_store_string(ws, "slot0", "0", &err) != 0)
        ring_die("start", &err);
    ring_member(nws_ws_name(ws), 0, n, laps);
    if ((tok = nws_fetch_string(ws, "slot0", &err)) == NULL)
        ring_die("finish", &err);
    hops = strtol(tok, NULL, 10);
    free(tok);
    for (i = 1; i < n; i++)
        if (wait(&status) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
            failed = 1;
    printf("token passed %ld times around a ring of %d processes (%d laps)\n", hops, n,
           laps);
    nws_ws_free(ws);
    nws_close(c);
    return hops == (long)n * laps && !failed ? 0 : 1;
}
