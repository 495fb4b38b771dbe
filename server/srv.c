/*
 * srv.c -- the server's global state, in a file of its own so that the unit
 * tests can link every module but main.c.
 */
#include "server.h"

struct server srv;
