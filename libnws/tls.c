/*
 * tls.c -- TLS for libnws connections (OpenSSL), and the byte I/O that every
 * other file uses, so a connection reads and writes the same way with or
 * without it.
 *
 * TLS is used when the caller passes NWS_CONNECT_TLS, or $NWS_TLS is set (and
 * not "0"), or $NWS_TLS_CA names a CA file: a server with --tls-cert speaks TLS
 * from the first byte.  The server's certificate must verify against
 * $NWS_TLS_CA (else the system's CAs) and name the host we dialled (DNS name
 * or IP address).  TLS 1.2 is the oldest version accepted.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "nwsp.h"

/* 1 if flags or the environment ask for TLS. */
int
nwsp_tls_wanted(unsigned flags)
{
    const char *e = getenv("NWS_TLS"), *ca = getenv("NWS_TLS_CA");

    return (flags & NWS_CONNECT_TLS) || (e != NULL && e[0] != '\0' && strcmp(e, "0") != 0) ||
           (ca != NULL && ca[0] != '\0');
}

/* Records OpenSSL's last error under what. */
static void
tls_err(const char *what, nws_error *err)
{
    char why[200];

    ERR_error_string_n(ERR_get_error(), why, sizeof(why));
    nwsp_err_set(err, NWS_ERR_HANDSHAKE, 0, "TLS %s: %s", what, why);
}

/* What tls_sigpipe_block changed, for tls_sigpipe_restore. */
struct tls_sigpipe {
    sigset_t old;
    int      pending; /* a SIGPIPE was pending before: not ours to take */
};

/* Blocks SIGPIPE in this thread around a write. */
static void
tls_sigpipe_block(struct tls_sigpipe *sp)
{
    sigset_t pipe, pend;

    sigemptyset(&pipe);
    sigaddset(&pipe, SIGPIPE);
    sigpending(&pend);
    sp->pending = sigismember(&pend, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe, &sp->old);
}

/* Takes the SIGPIPE our write raised, if any, and unblocks it. */
static void
tls_sigpipe_restore(struct tls_sigpipe *sp)
{
    struct timespec zero = {0, 0};
    sigset_t        pipe;
    int             saved = errno;

    sigemptyset(&pipe);
    sigaddset(&pipe, SIGPIPE);
    if (!sp->pending)
        while (sigtimedwait(&pipe, NULL, &zero) < 0 && errno == EINTR)
            ;
    pthread_sigmask(SIG_SETMASK, &sp->old, NULL);
    errno = saved;
}

/* Does the client side of the TLS handshake on c->fd; 0, or -1. */
int
nwsp_tls_start(nws_client *c, const char *host, nws_error *err)
{
    const char        *ca = getenv("NWS_TLS_CA");
    struct tls_sigpipe pipe;
    SSL_CTX           *ctx;
    long               vr;
    int                rc;

    if ((ctx = SSL_CTX_new(TLS_client_method())) == NULL) {
        tls_err("setup", err);
        return -1;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    if ((ca != NULL && ca[0] != '\0' ? SSL_CTX_load_verify_locations(ctx, ca, NULL)
                                      : SSL_CTX_set_default_verify_paths(ctx)) != 1) {
        tls_err(ca != NULL ? "CA file" : "system CAs", err);
        SSL_CTX_free(ctx);
        return -1;
    }
    c->ssl = SSL_new(ctx);
    SSL_CTX_free(ctx); /* the SSL keeps its own reference */
    if (c->ssl == NULL || SSL_set_fd(c->ssl, c->fd) != 1) {
        tls_err("setup", err);
        return -1;
    }
    /* The certificate must name what we dialled: an IP address or a host name. */
    if (!X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(c->ssl), host)) {
        SSL_set_tlsext_host_name(c->ssl, host);
        if (SSL_set1_host(c->ssl, host) != 1) {
            tls_err("host name", err);
            return -1;
        }
    }
    tls_sigpipe_block(&pipe);
    rc = SSL_connect(c->ssl);
    tls_sigpipe_restore(&pipe);
    if (rc != 1) {
        if ((vr = SSL_get_verify_result(c->ssl)) != X509_V_OK)
            nwsp_err_set(err, NWS_ERR_HANDSHAKE, 0, "TLS: the server's certificate: %s",
                         X509_verify_cert_error_string(vr));
        else
            tls_err("handshake", err);
        return -1;
    }
    return 0;
}

void
nwsp_tls_free(nws_client *c)
{
    if (c->ssl != NULL)
        SSL_free(c->ssl);
    c->ssl = NULL;
}

/* Runs one SSL_read/SSL_write result through errno, as send/recv would set it. */
static ssize_t
tls_result(nws_client *c, int n)
{
    switch (SSL_get_error(c->ssl, n)) {
    case SSL_ERROR_NONE:
        return n;
    case SSL_ERROR_ZERO_RETURN:
        return 0;
    case SSL_ERROR_WANT_READ:
    case SSL_ERROR_WANT_WRITE:
        errno = EAGAIN;
        return -1;
    case SSL_ERROR_SYSCALL:
        if (errno == 0 || n == 0)
            return 0; /* the peer closed without close_notify: an EOF */
        return -1;
    default:
        errno = EPROTO;
        return -1;
    }
}

/* Switches fd's O_NONBLOCK on (on = 1) or back; returns the old flags. */
static int
tls_nonblock(int fd, int on, int old)
{
    int fl = on ? fcntl(fd, F_GETFL) : old;

    if (fl != -1)
        (void)fcntl(fd, F_SETFL, on ? fl | O_NONBLOCK : fl);
    return fl;
}

/* send(2) over the connection, TLS or not; dontwait: fail with EAGAIN instead of waiting. */
ssize_t
nwsp_io_send(nws_client *c, const void *p, size_t len, int dontwait)
{
    struct tls_sigpipe pipe;
    ssize_t            n;
    int                fl = 0;

    if (c->ssl == NULL)
        return send(c->fd, p, len, MSG_NOSIGNAL | (dontwait ? MSG_DONTWAIT : 0));
    if (dontwait)
        fl = tls_nonblock(c->fd, 1, 0);
    /* SSL_write uses write(2): a peer gone would kill us with SIGPIPE where
     * send(MSG_NOSIGNAL) fails with EPIPE (and a session reconnects). */
    tls_sigpipe_block(&pipe);
    ERR_clear_error();
    errno = 0;
    n = tls_result(c, SSL_write(c->ssl, p, len > INT32_MAX ? INT32_MAX : (int)len));
    tls_sigpipe_restore(&pipe);
    if (dontwait)
        tls_nonblock(c->fd, 0, fl);
    if (n == 0) {
        errno = EPIPE;
        return -1;
    }
    return n;
}

/* recv(2) over the connection, TLS or not. */
ssize_t
nwsp_io_recv(nws_client *c, void *p, size_t len, int dontwait)
{
    struct tls_sigpipe pipe;
    ssize_t            n;
    int                fl = 0;

    if (c->ssl == NULL)
        return recv(c->fd, p, len, dontwait ? MSG_DONTWAIT : 0);
    if (dontwait && SSL_pending(c->ssl) == 0)
        fl = tls_nonblock(c->fd, 1, 0);
    else
        dontwait = 0;
    tls_sigpipe_block(&pipe); /* SSL_read writes too: alerts, key updates */
    ERR_clear_error();
    errno = 0;
    n = tls_result(c, SSL_read(c->ssl, p, len > INT32_MAX ? INT32_MAX : (int)len));
    tls_sigpipe_restore(&pipe);
    if (dontwait)
        tls_nonblock(c->fd, 0, fl);
    return n;
}

/* Bytes already decrypted and waiting (poll(2) cannot see them). */
int
nwsp_io_pending(const nws_client *c)
{
    return c->ssl != NULL ? SSL_pending(c->ssl) : 0;
}
