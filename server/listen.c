/*
 * listen.c -- the protocol listener.
 *
 * The socket is bound before the server daemonizes (so a busy port is
 * reported to the person starting it) and handed to libevent afterwards.
 *
 * Running out of descriptors (EMFILE) must not leave clients hanging in the
 * backlog, nor spin the loop on a readable socket that cannot be accepted
 * from.  One descriptor (on /dev/null) is held in reserve: on EMFILE it is
 * closed, the waiting connection is accepted and closed at once, so its
 * client sees the refusal, and the reserve is opened again.  Then the
 * listener pauses briefly.  The web listener (web.c) does the same.
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <event2/listener.h>

#include "server.h"

static struct evconnlistener *listen_lev;
static struct event          *listen_retry;
static int                    listen_spare = -1;   /* the reserve descriptor */

/* Opens the reserve descriptor if it is not held; 0 or -1. */
int
listen_reserve(void)
{
    if (listen_spare == -1)
        listen_spare = open("/dev/null", O_RDONLY | O_CLOEXEC);
    return listen_spare == -1 ? -1 : 0;
}

/*
 * After EMFILE on listening socket lfd: uses the reserve descriptor to take
 * the waiting connections (up to LISTEN_REFUSE_MAX) and close each at once,
 * so their clients see the connection closed, not a hang.  Returns how many
 * were refused so.
 */
int
listen_refuse(evutil_socket_t lfd, const char *what)
{
    int fd, refused = 0;

    if (listen_spare == -1 && listen_reserve() != 0)
        return 0;
    close(listen_spare);
    listen_spare = -1;
    while (refused < LISTEN_REFUSE_MAX && (fd = accept(lfd, NULL, NULL)) != -1) {
        close(fd);
        refused++;
    }
    if (listen_reserve() != 0)
        log_warn("cannot reopen the reserve descriptor");
    if (refused > 0)
        log_warnx("%s: out of descriptors: %d new connection%s closed", what, refused,
                  refused == 1 ? " was" : "s were");
    return refused;
}

/* Binds addr:port (port 0: any free port); returns the socket, *bound_port set. */
int
listen_bind(const char *addr, int port, int *bound_port)
{
    struct addrinfo  hints, *res, *ai;
    struct sockaddr_storage ss;
    socklen_t        sslen = sizeof(ss);
    char             portstr[16];
    int              fd = -1, one = 1, rc;

    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    snprintf(portstr, sizeof(portstr), "%d", port);
    if ((rc = getaddrinfo(addr, portstr, &hints, &res)) != 0) {
        log_warnx("cannot resolve bind address %s: %s", addr, gai_strerror(rc));
        return -1;
    }
    for (ai = res; ai != NULL; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd == -1)
            continue;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, LISTEN_BACKLOG) == 0)
            break;
        log_warn("cannot listen on %s port %d", addr, port);
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd == -1)
        return -1;
    if (getsockname(fd, (struct sockaddr *)&ss, &sslen) == 0) {
        if (ss.ss_family == AF_INET)
            *bound_port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
        else
            *bound_port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    }
    return fd;
}

static void
listen_accept_cb(struct evconnlistener *lev, evutil_socket_t fd, struct sockaddr *sa,
                 int salen, void *arg)
{
    (void)lev;
    (void)arg;
    conn_accept(fd, sa, salen);
}

static void
listen_retry_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
    evconnlistener_enable(listen_lev);
}

static void
listen_error_cb(struct evconnlistener *lev, void *arg)
{
    struct timeval tv = {0, LISTEN_BACKOFF_US};
    int            err = errno;

    (void)arg;
    if (err == EMFILE || err == ENFILE) {
        /* Refuse cleanly, then pause: progress without a busy loop. */
        listen_refuse(evconnlistener_get_fd(lev), "accept");
        evconnlistener_disable(lev);
        evtimer_add(listen_retry, &tv);
    } else if (err == ENOBUFS || err == ENOMEM) {
        log_warn("accept");
        evconnlistener_disable(lev);
        evtimer_add(listen_retry, &tv);
    } else {
        log_warn("accept");
    }
}

/* Starts accepting on fd (from listen_bind); 0 or -1. */
int
listen_start(int fd)
{
    evutil_make_socket_nonblocking(fd);
    listen_lev = evconnlistener_new(srv.base, listen_accept_cb, NULL,
                                    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, LISTEN_BACKLOG, fd);
    if (listen_lev == NULL)
        return -1;
    evconnlistener_set_error_cb(listen_lev, listen_error_cb);
    listen_retry = evtimer_new(srv.base, listen_retry_cb, NULL);
    if (listen_reserve() != 0)
        log_warn("cannot open a reserve descriptor");
    return 0;
}

void
listen_stop(void)
{
    if (listen_lev != NULL)
        evconnlistener_free(listen_lev);
    if (listen_retry != NULL)
        event_free(listen_retry);
    listen_lev = NULL;
    listen_retry = NULL;
    if (listen_spare != -1)
        close(listen_spare);
    listen_spare = -1;
}
