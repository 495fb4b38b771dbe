/*
 * hello.c -- the smallest libnws program: store a string, read it back.
 *
 * The server is $NWS_HOST:$NWS_PORT (default localhost:8765).  The
 * workspace is opened with nws_ws_open, so this connection owns it and the
 * server removes it when the program exits.
 */
#include <stdio.h>
#include <stdlib.h>

#include <nws.h>

/* Stores a greeting, fetches it back and prints it; 0 on success. */
int
main(void)
{
    nws_error   err;
    nws_client *c;
    nws_ws     *ws;
    char       *s;

    if ((c = nws_connect(NULL, 0, 0, &err)) == NULL) {
        fprintf(stderr, "hello: %s\n", err.text);
        return 1;
    }
    if ((ws = nws_ws_open(c, "hello", 0, &err)) == NULL ||
        nws_store_string(ws, "greeting", "Hello, world!", &err) != 0 ||
        (s = nws_fetch_string(ws, "greeting", &err)) == NULL) {
        fprintf(stderr, "hello: %s\n", err.text);
        nws_ws_free(ws);
        nws_close(c);
        return 1;
    }
    printf("%s\n", s);
    free(s);
    nws_ws_free(ws);
    nws_close(c);
    return 0;
}
