/*
 * listen.c -- the protocol listener: binding, accepting (socket options,
 * --max-clients, the first-byte wait of a TLS port), EMFILE.
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
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <sys/socket.h>
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

/*
 * On a TLS port a socket waits for its first byte before TLS starts: a TLS
 * client's is 0x16, a handshake record.  A plain NWS client's greeting is 4
 * bytes, on which OpenSSL would sit waiting for the rest of a 5-byte record
 * header until the frame timeout; instead it is closed at once, with a log
 * line that says why.
 */
struct tls_wait {
    TAILQ_ENTRY(tls_wait)   tw_link;
    evutil_socket_t         tw_fd;
    struct event           *tw_ev;
    struct sockaddr_storage tw_sa;
};
static TAILQ_HEAD(, tls_wait) tls_waits = TAILQ_HEAD_INITIALIZER(tls_waits);

static void
listen_tls_wait_free(struct tls_wait *tw, int close_fd)
{
    TAILQ_REMOVE(&tls_waits, tw, tw_link);
    event_free(tw->tw_ev);
    if (close_fd)
        evutil_closesocket(tw->tw_fd);
    srv.nconns--;
    free(tw);
}

static void
listen_tls_first_byte(evutil_socket_t fd, short what, void *arg)
{
    struct tls_wait        *tw = arg;
    struct sockaddr_storage sa = tw->tw_sa;
    struct bufferevent     *bev;
    char                    peer[CONN_PEER_MAX];
    unsigned char           b;
    ssize_t                 n;

    conn_peer_format(peer, sizeof(peer), (struct sockaddr *)&sa);
    if (what & EV_TIMEOUT) {
        log_info("%s: no TLS handshake for %d s; closing", peer, srv.cfg.frame_timeout);
        listen_tls_wait_free(tw, 1);
        return;
    }
    if ((n = recv(fd, &b, 1, MSG_PEEK)) == -1 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n <= 0) {
        log_debug("%s: closed before the TLS handshake", peer);
        listen_tls_wait_free(tw, 1);
        return;
    }
    if (b != 0x16) {
        log_info("%s: refused: not a TLS client, and this server requires TLS", peer);
        listen_tls_wait_free(tw, 1);
        return;
    }
    listen_tls_wait_free(tw, 0);
    if ((bev = tls_bufferevent(fd)) == NULL) {
        log_warnx("cannot set up a connection");
        evutil_closesocket(fd);
        return;
    }
    conn_new(bev, (struct sockaddr *)&sa);
}

/* Takes a freshly accepted socket, unless --max-clients are connected already. */
static void
listen_accept(evutil_socket_t fd, struct sockaddr *sa, int salen)
{
    struct timeval   tv = {srv.cfg.frame_timeout, 0};
    struct tls_wait *tw;
    char             peer[CONN_PEER_MAX];
    int              one = 1;

    if (srv.cfg.max_clients != 0 && srv.nconns >= srv.cfg.max_clients) {
        conn_peer_format(peer, sizeof(peer), sa);
        log_warnx("%s: refused: %u connections already (--max-clients)", peer,
                  srv.nconns);
        evutil_closesocket(fd);
        return;
    }
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
    if (srv.cfg.keepalive > 0) {
        /*
         * A peer that vanished without closing (a node powered off, a cable
         * pulled) is noticed within about twice this, not the system's hours:
         * its waiters go, and a sleigh worker's task runs elsewhere.
         */
        int idle = srv.cfg.keepalive, intvl = (srv.cfg.keepalive + 2) / 3, cnt = 3;

        setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof(idle));
        setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof(intvl));
        setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof(cnt));
    }
    evutil_make_socket_nonblocking(fd);
    if (!tls_enabled()) {
        conn_new_socket(fd, sa);
        return;
    }
    tw = xcalloc(1, sizeof(*tw));
    tw->tw_fd = fd;
    memcpy(&tw->tw_sa, sa, (size_t)salen < sizeof(tw->tw_sa) ? (size_t)salen : sizeof(tw->tw_sa));
    if ((tw->tw_ev = event_new(srv.base, fd, EV_READ | EV_PERSIST, listen_tls_first_byte,
                               tw)) == NULL)
        fatalx("cannot set up a connection");
    event_add(tw->tw_ev, srv.cfg.frame_timeout > 0 ? &tv : NULL);
    TAILQ_INSERT_TAIL(&tls_waits, tw, tw_link);
    srv.nconns++;   /* counts for --max-clients already */
}

/* Drops the sockets still waiting for their first byte (server shutdown). */
void
listen_drop_waiting(void)
{
    while (!TAILQ_EMPTY(&tls_waits))
        listen_tls_wait_free(TAILQ_FIRST(&tls_waits), 1);
}

static void
listen_accept_cb(struct evconnlistener *lev, evutil_socket_t fd, struct sockaddr *sa,
                 int salen, void *arg)
{
    (void)lev;
    (void)arg;
    listen_accept(fd, sa, salen);
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
                                    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC,
                                    LISTEN_BACKLOG, fd);
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
