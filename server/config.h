/*
 * config.h -- nwsserver --config FILE (config.c) and the systemd readiness
 * notification (notify.c).  Private to the server; kept out of server.h so
 * the options' owners can grow that header without meeting this one.
 */
#ifndef NWS_SERVER_CONFIG_H
#define NWS_SERVER_CONFIG_H

#include <getopt.h>

/* config.c */
int  config_expand(int *argc, char ***argv, const struct option *longopts);
void config_parsed(void);

/* notify.c */
int notify_send(const char *state);

#endif
