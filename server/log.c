/*
 * log.c -- logging for nwsserver: stderr in the foreground, syslog as a daemon.
 *
 * log_warn appends strerror(errno), log_warnx does not; fatal/fatalx log and
 * exit(1).  libevent's own messages are routed to log_debug/log_warnx.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <syslog.h>
#include <time.h>

#include "server.h"

static int log_lvl = LOG_LVL_INFO;
static int log_syslog;

/* Routes libevent's messages through our levels. */
static void
log_event_cb(int severity, const char *msg)
{
    if (severity >= EVENT_LOG_WARN)
        log_warnx("libevent: %s", msg);
    else
        log_debug("libevent: %s", msg);
}

/* Sets the level and the destination. */
void
log_init(int level, int use_syslog)
{
    log_lvl = level;
    log_syslog = use_syslog;
    if (use_syslog)
        openlog("nwsserver", LOG_PID | LOG_NDELAY, LOG_DAEMON);
    event_set_log_callback(log_event_cb);
}

/* Returns the level named by s, or -1. */
int
log_level_parse(const char *s)
{
    static const char *names[] = {"error", "warn", "info", "debug"};
    int                i;

    for (i = 0; i < 4; i++)
        if (strcasecmp(s, names[i]) == 0)
            return i;
    return -1;
}

static void log_vwrite(int, int, const char *, va_list) __attribute__((format(printf, 3, 0)));

/* Writes one message at level lvl, with errno's text if err != 0. */
static void
log_vwrite(int lvl, int err, const char *fmt, va_list ap)
{
    static const int prio[] = {LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG};
    static const char *tag[] = {"error", "warning", "info", "debug"};
    char             msg[1024];
    size_t           n;

    if (lvl > log_lvl)
        return;
    vsnprintf(msg, sizeof(msg), fmt, ap);
    if (err != 0) {
        n = strlen(msg);
        snprintf(msg + n, sizeof(msg) - n, ": %s", strerror(err));
    }
    if (log_syslog) {
        syslog(prio[lvl], "%s", msg);
    } else {
        char      ts[32];
        time_t    now = time(NULL);
        struct tm tm;

        strftime(ts, sizeof(ts), "%Y-%m-%d %H:%M:%S", localtime_r(&now, &tm));
        fprintf(stderr, "%s nwsserver %s: %s\n", ts, tag[lvl], msg);
    }
}

void
log_warn(const char *fmt, ...)
{
    va_list ap;
    int     err = errno;

    va_start(ap, fmt);
    log_vwrite(LOG_LVL_WARN, err, fmt, ap);
    va_end(ap);
}

void
log_warnx(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    log_vwrite(LOG_LVL_WARN, 0, fmt, ap);
    va_end(ap);
}

void
log_info(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    log_vwrite(LOG_LVL_INFO, 0, fmt, ap);
    va_end(ap);
}

void
log_debug(const char *fmt, ...)
{
    va_list ap;

    if (log_lvl < LOG_LVL_DEBUG)
        return;
    va_start(ap, fmt);
    log_vwrite(LOG_LVL_DEBUG, 0, fmt, ap);
    va_end(ap);
}

void
fatal(const char *fmt, ...)
{
    va_list ap;
    int     err = errno;

    va_start(ap, fmt);
    log_vwrite(LOG_LVL_ERROR, err, fmt, ap);
    va_end(ap);
    exit(1);
}

void
fatalx(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    log_vwrite(LOG_LVL_ERROR, 0, fmt, ap);
    va_end(ap);
    exit(1);
}
