/*
 * fuzz_handshake.c -- both sides of the handshake and its options dictionary.
 *
 * Input: 1 control byte, then the bytes of the other side.
 *
 *  - Server side: the bytes are what a client sends on a fresh connection
 *    of the in-memory server (fuzz_srv.c), in chunks of (control & 0x1f) + 1
 *    bytes with the loop run between them (control bit 7: all at once), so
 *    the greeting, "R000" and the options dictionary arrive split anywhere.
 *    Whatever follows the handshake is decoded as requests.
 *  - Client side: the same bytes are what a server answers to nws_connect()
 *    ("P000", the advertisement, "A000"/"F000", or an old "2223").  The
 *    client connects over loopback to a listener of this harness, whose
 *    thread writes the bytes, half-closes and reads until the client is
 *    gone, so the client never waits.  Control bit 5 asks for
 *    KillServerOnClose, bit 6 for no metadata.
 *
 * Properties: no crash, no leak, the loop settles, memory accounting is
 * zero afterwards; a refused nws_connect says why with an error code.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fuzz.h"
#include "nws.h"

struct fzh_peer {
    int            lfd;
    const uint8_t *data;
    size_t         len;
};

/* The server side: feed the bytes to one connection in chunks. */
static void
fzh_server(unsigned ctl, const uint8_t *p, size_t n)
{
    size_t chunk = (ctl & 0x80) ? n : (ctl & 0x1f) + 1, k;

    fuzz_srv_begin(0);
    while (n > 0 && !fuzz_srv_stopped()) {
        k = n < chunk ? n : chunk;
        fuzz_srv_write(0, p, k);
        fuzz_srv_run();
        p += k;
        n -= k;
    }
    fuzz_srv_close(0);
    fuzz_srv_run();
    fuzz_srv_end();
}

/* The listener, made once: 127.0.0.1, a port the system picks. */
static int
fzh_listener(int *port)
{
    static int         lfd = -1, lport;
    struct sockaddr_in sin;
    socklen_t          sl = sizeof(sin);

    if (lfd == -1) {
        memset(&sin, 0, sizeof(sin));
        sin.sin_family = AF_INET;
        sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if ((lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1 ||
            bind(lfd, (struct sockaddr *)&sin, sizeof(sin)) != 0 || listen(lfd, 8) != 0 ||
            getsockname(lfd, (struct sockaddr *)&sin, &sl) != 0)
            fuzz_fail("loopback listener", __FILE__, __LINE__);
        lport = ntohs(sin.sin_port);
    }
    *port = lport;
    return lfd;
}

/* The fake server's thread: answer with the input, then wait for the client to go. */
static void *
fzh_peer_main(void *arg)
{
    struct fzh_peer *pe = arg;
    char             buf[4096];
    size_t           off = 0;
    ssize_t          w;
    int              fd;

    if ((fd = accept(pe->lfd, NULL, NULL)) == -1)
        return NULL;
    while (off < pe->len) {
        if ((w = send(fd, pe->data + off, pe->len - off, MSG_NOSIGNAL)) <= 0)
            break;
        off += (size_t)w;
    }
    shutdown(fd, SHUT_WR);
    while (recv(fd, buf, sizeof(buf), 0) > 0)
        ;
    close(fd);
    return NULL;
}

/* The client side: nws_connect_auth() against the input. */
static void
fzh_client(unsigned ctl, const uint8_t *p, size_t n)
{
    struct fzh_peer pe;
    pthread_t       th;
    nws_client     *c;
    nws_error       err;
    unsigned        flags = 0;
    int             port;

    pe.lfd = fzh_listener(&port);
    pe.data = p;
    pe.len = n;
    if (pthread_create(&th, NULL, fzh_peer_main, &pe) != 0)
        fuzz_fail("pthread_create", __FILE__, __LINE__);
    if (ctl & 0x20)
        flags |= NWS_CONNECT_KILL_ON_CLOSE;
    if (ctl & 0x40)
        flags |= NWS_CONNECT_NO_METADATA;
    memset(&err, 0, sizeof(err));
    /* A secret given: an advertised challenge is answered without reading
     * (or making) the user's secret file. */
    c = nws_connect_auth("127.0.0.1", port, flags, "fuzz secret", &err);
    if (c == NULL)
        FUZZ_ASSERT(err.code != NWS_ERR_NONE);
    else
        FUZZ_ASSERT(nws_is_open(c));
    nws_close(c);
    pthread_join(th, NULL);
}

int
nwsfuzz_handshake(const uint8_t *data, size_t size)
{
    if (size < 1 || size > 65536)
        return 0;
    fzh_server(data[0], data + 1, size - 1);
    fzh_client(data[0], data + 1, size - 1);
    return 0;
}
