/*
 * cli.h -- what the nws command (libnws/tools/nws.c) shares with its
 * interactive mode (repl.c): the exit statuses, running one command line,
 * and the command table's names and usages for completion.
 */
#ifndef NWS_CLI_H
#define NWS_CLI_H

#include <stddef.h>
#include <stdio.h>

#include "nws.h"

#define CLI_EXIT_OK       0
#define CLI_EXIT_NOTFOUND 1
#define CLI_EXIT_ERROR    2
#define CLI_EXIT_TIMEOUT  3 /* the -t limit passed */

/* nws.c */
int         cli_run(nws_client *c, int argc, char **argv);
const char *cli_cmd_name(size_t i);
const char *cli_cmd_args(const char *name);
void        cli_print_usage(FILE *fp);
nws_client *cli_connect(const char *host, int port, int ms, int *rc);

/* repl.c: the interactive mode; returns the exit status. */
int cli_repl(const char *host, int port, int ms);

#endif
