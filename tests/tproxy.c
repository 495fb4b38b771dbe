/*
 * tproxy.c -- the test proxy of tproxy.h: one thread, poll(), non-blocking
 * sockets, a buffer per direction of each connection.
 *
 * Only the proxy's thread touches the sockets: the test's thread posts a
 * request (cut, cut one) and waits until the proxy's thread has done it,
 * so a closed descriptor is never polled nor reused under its feet.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tproxy.h"

#define TPROXY_MAX_CONN 256
#define TPROXY_BUF      65536

/* One direction of a connection: bytes read from one side, not yet written. */
struct tproxy_dir {
    char   buf[TPROXY_BUF];
    size_t off, len;
};

struct tproxy_conn {
    int               cfd, sfd; /* client side, server side */
    int               id;       /* accept order */
    int               cport;    /* the client's own port (our peer) */
    struct tproxy_dir up, down;
};

enum tproxy_req_kind {
    TPROXY_REQ_NONE,
    TPROXY_REQ_CUT,
    TPROXY_REQ_PORT,
    TPROXY_REQ_CONN,
    TPROXY_REQ_STOP
};

struct tproxy {
    int       lfd, port, target;
    int       wake[2]; /* the test's thread writes a byte to wake poll() */
    pthread_t thread;

    pthread_mutex_t      mu;
    pthread_cond_t       cv;
    enum tproxy_req_kind req;
    int                  req_arg, req_result, req_done;
    int                  paused;
    uint64_t             up_left, down_left; /* armed cut_after, 0 = off */
    int                  accepted, nopen, cuts;

    struct tproxy_conn *conns[TPROXY_MAX_CONN];
};

/* Makes fd non-blocking. */
static void
tproxy_nonblock(int fd)
{
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
}

/* Writes what d holds to fd, waiting up to ms for room; leaves the rest. */
static void
tproxy_flush(int fd, struct tproxy_dir *d, int ms)
{
    struct pollfd pf = {.fd = fd, .events = POLLOUT};
    ssize_t       n;

    while (d->len > d->off) {
        n = send(fd, d->buf + d->off, d->len - d->off, MSG_NOSIGNAL);
        if (n > 0) {
            d->off += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) && ms > 0 &&
            poll(&pf, 1, ms) == 1)
            continue;
        break;
    }
    d->off = d->len = 0;
}

/* Closes connection slot i (flushing what it holds when flush is set). */
static void
tproxy_close(struct tproxy *p, int i, int flush)
{
    struct tproxy_conn *k = p->conns[i];

    if (flush) {
        tproxy_flush(k->sfd, &k->up, 200);
        tproxy_flush(k->cfd, &k->down, 200);
    }
    close(k->cfd);
    close(k->sfd);
    free(k);
    p->conns[i] = NULL;
    p->nopen--;
}

/* Cuts every connection; how many.  Holds p->mu. */
static int
tproxy_cut_all(struct tproxy *p)
{
    int i, n = 0;

    for (i = 0; i < TPROXY_MAX_CONN; i++)
        if (p->conns[i] != NULL) {
            tproxy_close(p, i, 0);
            n++;
        }
    p->cuts++;
    return n;
}

/* Connects to the target; the fd, or -1. */
static int
tproxy_dial(int port)
{
    struct sockaddr_in a;
    int                fd, one = 1;

    if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
        return -1;
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
        close(fd);
        return -1;
    }
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    tproxy_nonblock(fd);
    return fd;
}

/* Resets fd (RST, not FIN) and closes it: a refused connection. */
static void
tproxy_refuse(int fd)
{
    struct linger l = {.l_onoff = 1, .l_linger = 0};

    setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
    close(fd);
}

/* Accepts one connection and pairs it with one to the target.  Holds p->mu. */
static void
tproxy_accept(struct tproxy *p)
{
    struct sockaddr_in  a;
    socklen_t           alen = sizeof(a);
    struct tproxy_conn *k;
    int                 cfd, sfd, i, one = 1;

    if ((cfd = accept4(p->lfd, (struct sockaddr *)&a, &alen, SOCK_CLOEXEC)) < 0)
        return;
    if (p->paused || (sfd = tproxy_dial(p->target)) < 0) {
        tproxy_refuse(cfd);
        return;
    }
    for (i = 0; i < TPROXY_MAX_CONN && p->conns[i] != NULL; i++)
        ;
    if (i == TPROXY_MAX_CONN || (k = calloc(1, sizeof(*k))) == NULL) {
        tproxy_refuse(cfd);
        close(sfd);
        return;
    }
    setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    tproxy_nonblock(cfd);
    k->cfd = cfd;
    k->sfd = sfd;
    k->id = p->accepted++;
    k->cport = ntohs(a.sin_port);
    p->conns[i] = k;
    p->nopen++;
}

/*
 * Reads from fd into d (empty), applying the armed byte count *left.
 * Returns 1 when data was read, 0 on EOF/error (close), 2 when the armed
 * cut fired (d holds exactly the allowed bytes).
 */
static int
tproxy_read(int fd, struct tproxy_dir *d, uint64_t *left)
{
    ssize_t n = recv(fd, d->buf, sizeof(d->buf), 0);

    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        return 1;
    if (n <= 0)
        return 0;
    d->off = 0;
    d->len = (size_t)n;
    if (*left == 0)
        return 1;
    if ((uint64_t)n >= *left) {
        d->len = (size_t)*left;
        *left = 0;
        return 2;
    }
    *left -= (uint64_t)n;
    return 1;
}

/* Writes what d holds to fd without waiting.  0, or -1 (close). */
static int
tproxy_write(int fd, struct tproxy_dir *d)
{
    ssize_t n = send(fd, d->buf + d->off, d->len - d->off, MSG_NOSIGNAL);

    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        return 0;
    if (n < 0)
        return -1;
    d->off += (size_t)n;
    if (d->off == d->len)
        d->off = d->len = 0;
    return 0;
}

/* Does the posted request.  Holds p->mu. */
static int
tproxy_do_request(struct tproxy *p)
{
    int i, r = 0;

    switch (p->req) {
    case TPROXY_REQ_CUT:
        r = tproxy_cut_all(p);
        break;
    case TPROXY_REQ_PORT:
    case TPROXY_REQ_CONN:
        for (i = 0; i < TPROXY_MAX_CONN; i++)
            if (p->conns[i] != NULL &&
                (p->req == TPROXY_REQ_PORT ? p->conns[i]->cport : p->conns[i]->id) ==
                    p->req_arg) {
                tproxy_close(p, i, 0);
                p->cuts++;
                r = 1;
                break;
            }
        break;
    case TPROXY_REQ_STOP:
    case TPROXY_REQ_NONE:
        break;
    }
    return r;
}

/* One turn of the loop over the conns' events.  Holds p->mu. */
static void
tproxy_events(struct tproxy *p, struct pollfd *pf, int *slot, int n)
{
    struct tproxy_conn *k;
    int                 i, j, rc, fire = 0;

    for (j = 2; j < n; j += 2) {
        i = slot[j];
        if ((k = p->conns[i]) == NULL)
            continue;
        rc = 1;
        /* Client to server. */
        if (pf[j].revents & (POLLIN | POLLHUP | POLLERR)) {
            rc = tproxy_read(k->cfd, &k->up, &p->up_left);
            if (rc == 2) {
                tproxy_flush(k->sfd, &k->up, 1000);
                fire = 1;
            }
        }
        if (rc == 1 && (pf[j + 1].revents & POLLOUT) && tproxy_write(k->sfd, &k->up) != 0)
            rc = 0;
        /* Server to client. */
        if (rc == 1 && (pf[j + 1].revents & (POLLIN | POLLHUP | POLLERR))) {
            rc = tproxy_read(k->sfd, &k->down, &p->down_left);
            if (rc == 2) {
                tproxy_flush(k->cfd, &k->down, 1000);
                fire = 1;
            }
        }
        if (rc == 1 && (pf[j].revents & POLLOUT) && tproxy_write(k->cfd, &k->down) != 0)
            rc = 0;
        if (rc == 0)
            tproxy_close(p, i, 1);
        if (fire)
            break;
    }
    if (fire) {
        p->up_left = p->down_left = 0;
        tproxy_cut_all(p);
    }
}

/* The proxy's thread. */
static void *
tproxy_main(void *arg)
{
    struct tproxy *p = arg;
    struct pollfd  pf[2 + 2 * TPROXY_MAX_CONN];
    int            slot[2 + 2 * TPROXY_MAX_CONN];
    int            i, n, stop = 0;
    char           junk[64];

    while (!stop) {
        pthread_mutex_lock(&p->mu);
        pf[0] = (struct pollfd){.fd = p->wake[0], .events = POLLIN};
        pf[1] = (struct pollfd){.fd = p->lfd, .events = POLLIN};
        n = 2;
        for (i = 0; i < TPROXY_MAX_CONN; i++) {
            struct tproxy_conn *k = p->conns[i];

            if (k == NULL)
                continue;
            /* Read a side only when what it sent before has gone on. */
            pf[n] = (struct pollfd){.fd = k->cfd,
                                    .events = (short)((k->up.len ? 0 : POLLIN) |
                                                      (k->down.len ? POLLOUT : 0))};
            pf[n + 1] = (struct pollfd){.fd = k->sfd,
                                        .events = (short)((k->down.len ? 0 : POLLIN) |
                                                          (k->up.len ? POLLOUT : 0))};
            slot[n] = slot[n + 1] = i;
            n += 2;
        }
        pthread_mutex_unlock(&p->mu);

        if (poll(pf, (nfds_t)n, -1) < 0 && errno != EINTR)
            break;

        pthread_mutex_lock(&p->mu);
        if (pf[0].revents & POLLIN)
            while (read(p->wake[0], junk, sizeof(junk)) > 0)
                ;
        if (p->req != TPROXY_REQ_NONE && !p->req_done) {
            stop = p->req == TPROXY_REQ_STOP;
            p->req_result = tproxy_do_request(p);
            p->req_done = 1;
            pthread_cond_broadcast(&p->cv);
            /* The sockets polled may be gone: poll again. */
            pthread_mutex_unlock(&p->mu);
            continue;
        }
        if (pf[1].revents & POLLIN)
            tproxy_accept(p);
        tproxy_events(p, pf, slot, n);
        pthread_mutex_unlock(&p->mu);
    }
    return NULL;
}

struct tproxy *
tproxy_start(int target_port)
{
    struct tproxy     *p;
    struct sockaddr_in a;
    socklen_t          alen = sizeof(a);

    if ((p = calloc(1, sizeof(*p))) == NULL)
        return NULL;
    p->target = target_port;
    p->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (p->lfd < 0 || bind(p->lfd, (struct sockaddr *)&a, sizeof(a)) != 0 ||
        listen(p->lfd, 64) != 0 ||
        getsockname(p->lfd, (struct sockaddr *)&a, &alen) != 0 ||
        pipe2(p->wake, O_CLOEXEC | O_NONBLOCK) != 0) {
        if (p->lfd >= 0)
            close(p->lfd);
        free(p);
        return NULL;
    }
    tproxy_nonblock(p->lfd);
    p->port = ntohs(a.sin_port);
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    if (pthread_create(&p->thread, NULL, tproxy_main, p) != 0) {
        close(p->lfd);
        close(p->wake[0]);
        close(p->wake[1]);
        free(p);
        return NULL;
    }
    return p;
}

int
tproxy_port(const struct tproxy *p)
{
    return p->port;
}

void
tproxy_set_target(struct tproxy *p, int target_port)
{
    pthread_mutex_lock(&p->mu);
    p->target = target_port;
    pthread_mutex_unlock(&p->mu);
}

/* Posts a request to the proxy's thread and waits for its result. */
static int
tproxy_request(struct tproxy *p, enum tproxy_req_kind kind, int arg)
{
    int r;

    pthread_mutex_lock(&p->mu);
    while (p->req != TPROXY_REQ_NONE)
        pthread_cond_wait(&p->cv, &p->mu);
    p->req = kind;
    p->req_arg = arg;
    p->req_done = 0;
    if (write(p->wake[1], "x", 1) < 0) {
        /* The pipe is full: the thread is awake anyway. */
    }
    while (!p->req_done)
        pthread_cond_wait(&p->cv, &p->mu);
    r = p->req_result;
    p->req = TPROXY_REQ_NONE;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    return r;
}

int
tproxy_cut(struct tproxy *p)
{
    return tproxy_request(p, TPROXY_REQ_CUT, 0);
}

int
tproxy_cut_port(struct tproxy *p, int client_port)
{
    return tproxy_request(p, TPROXY_REQ_PORT, client_port);
}

int
tproxy_cut_conn(struct tproxy *p, int n)
{
    return tproxy_request(p, TPROXY_REQ_CONN, n);
}

void
tproxy_cut_after(struct tproxy *p, uint64_t up, uint64_t down)
{
    pthread_mutex_lock(&p->mu);
    p->up_left = up;
    p->down_left = down;
    pthread_mutex_unlock(&p->mu);
}

void
tproxy_pause(struct tproxy *p)
{
    pthread_mutex_lock(&p->mu);
    p->paused = 1;
    pthread_mutex_unlock(&p->mu);
}

void
tproxy_resume(struct tproxy *p)
{
    pthread_mutex_lock(&p->mu);
    p->paused = 0;
    pthread_mutex_unlock(&p->mu);
}

/* Reads one counter under the lock. */
static int
tproxy_get(struct tproxy *p, const int *field)
{
    int v;

    pthread_mutex_lock(&p->mu);
    v = *field;
    pthread_mutex_unlock(&p->mu);
    return v;
}

int
tproxy_accepted(struct tproxy *p)
{
    return tproxy_get(p, &p->accepted);
}

int
tproxy_open(struct tproxy *p)
{
    return tproxy_get(p, &p->nopen);
}

int
tproxy_cuts(struct tproxy *p)
{
    return tproxy_get(p, &p->cuts);
}

void
tproxy_stop(struct tproxy *p)
{
    int i;

    if (p == NULL)
        return;
    tproxy_request(p, TPROXY_REQ_STOP, 0);
    pthread_join(p->thread, NULL);
    for (i = 0; i < TPROXY_MAX_CONN; i++)
        if (p->conns[i] != NULL)
            tproxy_close(p, i, 0);
    close(p->lfd);
    close(p->wake[0]);
    close(p->wake[1]);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv);
    free(p);
}
