/*
 * sleigh_record.c -- building and reading the sleigh's JSON records: task
 * descriptions, error objects of result arrays, command output, batch ids.
 *
 * Record layouts are in sleighp.h and man/nws-worker.1.  Everything here
 * works on memory only, so the worker uses it too.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "nwsp.h"
#include "sleighp.h"

/* A call task: {"kind": "call", "module": m, "function": f}; new reference, or NULL. */
json_t *
nws_sleigh_call(const char *module, const char *function)
{
    if (function == NULL)
        return NULL;
    return json_pack("{s:s, s:s*, s:s}", "kind", "call", "module", module, "function",
                     function);
}

/* A command task: {"kind": "command", "argv": [...]}; new reference, or NULL. */
json_t *
nws_sleigh_command(const char *const *argv, unsigned flags)
{
    json_t *task, *av;
    size_t  i;

    if (argv == NULL || argv[0] == NULL || (flags & ~(unsigned)NWS_SLEIGH_SHELL))
        return NULL;
    if ((av = json_array()) == NULL)
        return NULL;
    for (i = 0; argv[i] != NULL; i++) {
        if (json_array_append_new(av, json_string(argv[i])) != 0) {
            json_decref(av);
            return NULL;
        }
    }
    task = json_pack("{s:s, s:o}", "kind", "command", "argv", av);
    if (task != NULL && (flags & NWS_SLEIGH_SHELL) &&
        json_object_set_new(task, "shell", json_true()) != 0) {
        json_decref(task);
        return NULL;
    }
    return task;
}

/* The error text of a result array entry, or NULL for a value. */
const char *
nws_sleigh_error(const json_t *elem)
{
    if (!json_is_object(elem))
        return NULL;
    return json_string_value(json_object_get(elem, "nwsError"));
}

/* One stream of a command result as bytes: new buffer, or NULL. */
char *
nws_sleigh_output(const json_t *cmd_value, const char *stream, size_t *len)
{
    char        key[32];
    const char *s;
    json_t     *j;
    char       *out;
    size_t      n;

    if (len != NULL)
        *len = 0;
    if (!json_is_object(cmd_value) || stream == NULL || strlen(stream) > 16)
        return NULL;
    if ((j = json_object_get(cmd_value, stream)) != NULL && json_is_string(j)) {
        n = json_string_length(j);
        if ((out = malloc(n + 1)) == NULL)
            return NULL;
        memcpy(out, json_string_value(j), n);
        out[n] = '\0';
        if (len != NULL)
            *len = n;
        return out;
    }
    snprintf(key, sizeof(key), "%s_b64", stream);
    if ((s = json_string_value(json_object_get(cmd_value, key))) == NULL)
        return NULL;
    return nwsp_b64_decode(s, len);
}

/* Decodes a record (strings may hold NUL): a new reference, or NULL. */
json_t *
nwsp_sleigh_decode(const nws_value *v)
{
    if (v == NULL || !(nws_value_desc(v) & NWS_DESC_DIRECT_STRING))
        return NULL;
    return nwsp_sleigh_json_parse(nws_value_data(v), nws_value_size(v));
}

/* Parses metadata entry key as a decimal long; 0, or -1. */
int
nwsp_sleigh_meta_long(const nws_meta *m, const char *key, long *out)
{
    const char *v = nws_meta_get(m, key);
    char       *end;
    long        n;

    if (v == NULL || *v == '\0')
        return -1;
    errno = 0;
    n = strtol(v, &end, 10);
    if (errno != 0 || *end != '\0')
        return -1;
    *out = n;
    return 0;
}

/*
 * A batch id: "b<seq>-<pid>-<8 random hex digits>".  The sequence number
 * and pid make it unique within a master, the random part across masters
 * and restarts; it is short and needs no quoting anywhere.
 */
void
nwsp_sleigh_batch_id(char *buf, size_t len, unsigned seq)
{
    unsigned rnd = 0;

    if (getrandom(&rnd, sizeof(rnd), GRND_NONBLOCK) != (ssize_t)sizeof(rnd)) {
        struct timespec ts;

        clock_gettime(CLOCK_REALTIME, &ts);
        rnd = (unsigned)ts.tv_nsec ^ ((unsigned)ts.tv_sec << 12) ^ (unsigned)getpid();
    }
    snprintf(buf, len, "b%u-%ld-%08x", seq, (long)getpid(), rnd);
}

/* Seconds since the epoch. */
double
nwsp_sleigh_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}
