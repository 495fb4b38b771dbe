/*
 * launch.c -- the table of launchers, and finding programs (the worker,
 * srun).
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "launch.h"
#include "nwsp.h"

/* Every launcher the Sleigh knows; a new kind is one more line. */
static const struct nwsp_launcher_ops *const launch_table[] = {
    &nwsp_launch_local,
    &nwsp_launch_ssh,
    &nwsp_launch_srun,
};

/* Returns the launcher called name (NULL: local), or NULL. */
const struct nwsp_launcher_ops *
nwsp_launcher_find(const char *name)
{
    size_t i;

    if (name == NULL || *name == '\0')
        name = "local";
    for (i = 0; i < sizeof(launch_table) / sizeof(launch_table[0]); i++)
        if (strcmp(launch_table[i]->name, name) == 0)
            return launch_table[i];
    return NULL;
}

/* A copy of path if it names an executable file, else NULL. */
static char *
launch_try(const char *path)
{
    return access(path, X_OK) == 0 ? strdup(path) : NULL;
}

/* Looks name up in $PATH: a new string, or NULL. */
static char *
launch_search_path(const char *name)
{
    const char *path = getenv("PATH"), *p, *e;
    char        buf[PATH_MAX];
    char       *found;

    if (path == NULL)
        path = "/usr/local/bin:/usr/bin:/bin";
    for (p = path; *p != '\0'; p = *e != '\0' ? e + 1 : e) {
        e = strchr(p, ':');
        if (e == NULL)
            e = p + strlen(p);
        if (e == p)
            continue;
        if ((size_t)snprintf(buf, sizeof(buf), "%.*s/%s", (int)(e - p), p, name) >=
            sizeof(buf))
            continue;
        if ((found = launch_try(buf)) != NULL)
            return found;
    }
    return NULL;
}

/* A program by name ($PATH) or path: a new string, or NULL. */
char *
nwsp_launch_find_program(const char *name)
{
    if (name == NULL || *name == '\0')
        return NULL;
    return strchr(name, '/') != NULL ? launch_try(name) : launch_search_path(name);
}

/* The worker program: a new string, or NULL (err set). */
char *
nwsp_launch_worker_path(const char *given, nws_error *err)
{
    const char *env = getenv("NWS_WORKER");
    char        exe[PATH_MAX], buf[PATH_MAX + 32], *slash, *found;
    ssize_t     n;

    if (given == NULL || *given == '\0')
        given = env != NULL && *env != '\0' ? env : NULL;
    if (given != NULL) {
        found =
            strchr(given, '/') != NULL ? launch_try(given) : launch_search_path(given);
        if (found == NULL)
            nwsp_err_set(err, NWS_ERR_INVALID, 0, "worker program %s: not executable",
                         given);
        return found;
    }
    if ((n = readlink("/proc/self/exe", exe, sizeof(exe) - 1)) > 0) {
        exe[n] = '\0';
        if ((slash = strrchr(exe, '/')) != NULL) {
            *slash = '\0';
            snprintf(buf, sizeof(buf), "%s/nws-worker", exe);
            if ((found = launch_try(buf)) != NULL)
                return found;
            snprintf(buf, sizeof(buf), "%s/../bin/nws-worker", exe);
            if ((found = launch_try(buf)) != NULL)
                return found;
        }
    }
    if ((found = launch_search_path("nws-worker")) == NULL)
        nwsp_err_set(err, NWS_ERR_INVALID, 0,
                     "nws-worker not found (set $NWS_WORKER or the worker_path option)");
    return found;
}
