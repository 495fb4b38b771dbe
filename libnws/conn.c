/*
 * conn.c -- nws_client: the socket, the handshake, raw reads and writes.
 *
 * A connection is strictly blocking and carries one request at a time,
 * except for bulk.c's pipelining.  Received bytes go through a buffer so
 * that replies can be parsed without consuming anything until they are
 * whole (bulk.c reads replies while it is still writing).
 *
 * Invariant: once anything leaves the byte stream out of step (EOF, a read
 * or write error, a timeout, a reply of the wrong shape, a length over a
 * limit), nwsp_conn_fail() closes the socket and fd becomes -1; every later
 * call fails with NWS_ERR_CLOSED instead of misreading the stream.
 */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "nwsp.h"
#include "secret.h"
#include "util.h"

/* The handshake must not hang on a peer that accepts but never speaks NWS. */
#define CONN_HANDSHAKE_TIMEOUT_MS 30000

/* Sets both socket timeouts to ms (0 = none); 0, or -1. */
static int
conn_set_timeouts(int fd, int ms)
{
    struct timeval tv = nwsp_ms_timeval(ms);

    if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) != 0)
        return -1;
    return setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

/* Closes the socket so that every later call fails with NWS_ERR_CLOSED. */
void
nwsp_conn_fail(nws_client *c)
{
    if (c->fd >= 0) {
        close(c->fd);
        c->fd = -1;
    }
    c->rpos = c->rlen = 0;
    nwsp_buf_reset(&c->wbuf);
}

/* Returns 0 if c is open, else -1 with the error recorded. */
int
nwsp_conn_check(nws_client *c, nws_error *err)
{
    if (c == NULL) {
        nwsp_err_set(err, NWS_ERR_INVALID, 0, "NULL connection");
        return -1;
    }
    if (c->fd < 0) {
        nwsp_err_set(err, NWS_ERR_CLOSED, 0, "the connection was closed by an earlier error");
        return -1;
    }
    return 0;
}

/* Records the error of a failed send/recv (errno) and breaks c. */
static void
conn_io_error(nws_client *c, const char *what, nws_error *err)
{
    if (errno == EAGAIN || errno == EWOULDBLOCK)
        nwsp_err_set(err, NWS_ERR_TIMEOUT, 0, "%s: timed out", what);
    else if (errno == EPIPE || errno == ECONNRESET)
        nwsp_err_set(err, NWS_ERR_CLOSED, 0, "%s: connection closed by the server", what);
    else
        nwsp_err_set(err, NWS_ERR_IO, 0, "%s: %s", what, strerror(errno));
    nwsp_conn_fail(c);
}

/*
 * Writes all of p to the socket; 0, or -1 with c broken.  On a session the
 * bytes go through the session's log first, so a lost connection is
 * reconnected and the log sent again (these bytes with it).
 */
int
nwsp_conn_write(nws_client *c, const void *p, size_t len, nws_error *err)
{
    const char *s = p;
    ssize_t     n;
    int         rc;

    if (nwsp_conn_check(c, err) != 0)
        return -1;
    if (nwsp_sess_head_len(c) > 0 && !c->in_hs && nwsp_sess_out(c, p, len, &s, err) != 0)
        return -1;
    while (len > 0) {
        n = nwsp_io_send(c, s, len, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK &&
                (rc = nwsp_sess_recover(c, err)) <= 0)
                return rc;
            conn_io_error(c, "write", err);
            return -1;
        }
        s += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Makes room for n unconsumed bytes in the read buffer; 0, or -1 on no memory. */
static int
conn_room(nws_client *c, size_t n)
{
    size_t cap;
    char  *p;

    if (c->rcap - c->rpos >= n)
        return 0;
    if (c->rpos > 0) {
        memmove(c->rbuf, c->rbuf + c->rpos, c->rlen - c->rpos);
        c->rlen -= c->rpos;
        c->rpos = 0;
        if (c->rcap >= n)
            return 0;
    }
    cap = c->rcap ? c->rcap : NWSP_IO_CHUNK;
    while (cap < n)
        cap *= 2;
    if ((p = realloc(c->rbuf, cap)) == NULL)
        return -1;
    c->rbuf = p;
    c->rcap = cap;
    return 0;
}

/*
 * A read failed (got == 0: EOF, else errno): reconnects when a session
 * can (0: go on), else records the error and breaks c (-1).
 */
static int
conn_read_lost(nws_client *c, ssize_t got, nws_error *err)
{
    int rc;

    if ((got == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) &&
        (rc = nwsp_sess_recover(c, err)) <= 0)
        return rc;
    if (got == 0) {
        nwsp_err_set(err, NWS_ERR_CLOSED, 0, "the server closed the connection");
        nwsp_conn_fail(c);
    } else {
        conn_io_error(c, "read", err);
    }
    return -1;
}

/* Makes n unconsumed bytes available; 1, 0 (block == 0 and not yet), or -1. */
int
nwsp_conn_need(nws_client *c, size_t n, int block, nws_error *err)
{
    ssize_t got;

    if (nwsp_conn_check(c, err) != 0)
        return -1;
again:
    if (c->rlen - c->rpos >= n)
        return 1;
    if (conn_room(c, n) != 0) {
        nwsp_err_set(err, NWS_ERR_NOMEM, 0, "out of memory for a %zu-byte reply", n);
        nwsp_conn_fail(c);
        return -1;
    }
    while (c->rlen - c->rpos < n) {
        got = nwsp_io_recv(c, c->rbuf + c->rlen, c->rcap - c->rlen, !block);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0 && !block && (errno == EAGAIN || errno == EWOULDBLOCK))
            return 0;
        if (got <= 0) {
            if (conn_read_lost(c, got, err) != 0)
                return -1;
            /* Reconnected: the buffer was emptied and refilled from the new socket. */
            goto again;
        }
        c->rlen += (size_t)got;
        c->rx_total += (uint64_t)got;
    }
    return 1;
}

/* Reads exactly len bytes into dst; 0, or -1 with c broken. */
int
nwsp_conn_read(nws_client *c, void *dst, size_t len, nws_error *err)
{
    char   *d = dst;
    size_t  have;
    ssize_t got;

    if (nwsp_conn_check(c, err) != 0)
        return -1;
    for (;;) {
        have = c->rlen - c->rpos;
        if (have > len)
            have = len;
        memcpy(d, c->rbuf + c->rpos, have);
        c->rpos += have;
        d += have;
        len -= have;
        if (len == 0)
            return 0;
        /* Large remainders go straight from the socket to dst: no double copy. */
        got = nwsp_io_recv(c, d, len, 0);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0) {
            if (conn_read_lost(c, got, err) != 0)
                return -1;
            continue;
        }
        c->rx_total += (uint64_t)got;
        d += got;
        len -= (size_t)got;
    }
}

/* Reads the 4-byte handshake word into w; 0, or -1. */
static int
conn_word(nws_client *c, char w[4], nws_error *err)
{
    if (nwsp_conn_need(c, 4, 1, err) != 1)
        return -1;
    memcpy(w, c->rbuf + c->rpos, 4);
    c->rpos += 4;
    return 0;
}

/* 1 if advertised value v (vlen) allows us to request "1". */
static int
conn_allows_one(const char *v, size_t vlen)
{
    return vlen == 0 || (vlen == 1 && v[0] == '1');
}

/*
 * Answers the challenge v (vlen bytes: "hmac-sha256:" NONCE) into answer
 * (NWSP_HMAC_HEX hex digits and a NUL), with secret, or when it is NULL with
 * the user's secret file (secret.h), which is made if missing (its path
 * then goes into src, for messages); the secret is kept on c for the
 * launchers of a sleigh.  Nothing is sent to a server
 * that asks otherwise: the secret itself never goes on the wire.  0, or -1.
 */
static int
conn_auth_response(nws_client *c, const char *v, size_t vlen, const char *secret,
                   char *answer, size_t len, char *src, size_t srclen, nws_error *err)
{
    static const size_t slen = sizeof(NWSP_AUTH_SCHEME) - 1;
    char                path[4096], why[300], buf[NWSP_SECRET_MAX + 1];

    if (vlen != slen + NWSP_NONCE_HEX || memcmp(v, NWSP_AUTH_SCHEME, slen) != 0) {
        nwsp_err_set(err, NWS_ERR_HANDSHAKE, 0,
                     "the server wants a secret in a way we do not speak (not "
                     "\"%s\" NONCE): not sending it",
                     NWSP_AUTH_SCHEME);
        return -1;
    }
    if (secret == NULL) {
        if (nwsp_secret_path(path, sizeof(path), NULL, why, sizeof(why)) != 0 ||
            nwsp_secret_read(path, 1, buf, sizeof(buf), why, sizeof(why)) != 0) {
            nwsp_err_set(err, NWS_ERR_HANDSHAKE, 0,
                         "the server requires authentication: %s", why);
            return -1;
        }
        secret = buf;
        snprintf(src, srclen, "%.200s", path);
    }
    if (secret[0] == '\0') {
        nwsp_err_set(err, NWS_ERR_HANDSHAKE, 0,
                     "the server requires authentication, and the secret is empty");
        return -1;
    }
    free(c->secret);
    if ((c->secret = strdup(secret)) == NULL ||
        nwsp_hmac_hex(secret, strlen(secret), v + slen, NWSP_NONCE_HEX, answer, len) != 0) {
        explicit_bzero(buf, sizeof(buf));
        nwsp_err_set(err, NWS_ERR_NOMEM, 0, "out of memory");
        return -1;
    }
    explicit_bzero(buf, sizeof(buf));
    return 0;
}

/* Reads the session dictionary the server sends after A000.  0, or -1. */
static int
conn_session_answer(nws_client *c, nws_error *err)
{
    const char *why = "";
    ssize_t     n;

    for (;;) {
        n = nwsp_dict_scan(c->rbuf + c->rpos, c->rlen - c->rpos, 100, NWSP_ADVERT_MAX,
                           &why);
        if (n > 0)
            break;
        if (n == NWSP_SCAN_BAD) {
            nwsp_err_set(err, NWS_ERR_HANDSHAKE, 0, "bad session answer: %s", why);
            return -1;
        }
        if (nwsp_conn_need(c, c->rlen - c->rpos + 1, 1, err) != 1)
            return -1;
    }
    if (nwsp_sess_accept(c, c->rbuf + c->rpos, (size_t)n, err) < 0)
        return -1;
    c->rpos += (size_t)n;
    return 0;
}

/*
 * Reads the advertisement after "P000", sends "R000" with the options we
 * want (NwsSession "new" or "resume ..." when c->sess is set and the
 * server offers it), and expects "A000", then the session answer.  0, or -1.
 */
static int
conn_negotiate(nws_client *c, unsigned flags, const char *secret, nws_error *err)
{
    struct nwsp_buf req = {0};
    const char     *why = "", *v;
    size_t          vlen;
    ssize_t         n;
    char            w[4], answer[NWSP_HMAC_HEX + 1], src[256] = "the caller";
    char            sreq[80];
    int             want_to = 0, want_from = 0, rc, auth, want_sess = 0;
    uint64_t        port;

    for (;;) {
        n = nwsp_dict_scan(c->rbuf + c->rpos, c->rlen - c->rpos, 100, NWSP_ADVERT_MAX, &why);
        if (n > 0)
            break;
        if (n == NWSP_SCAN_BAD) {
            nwsp_err_set(err, NWS_ERR_HANDSHAKE, 0, "bad option advertisement: %s", why);
            return -1;
        }
        if (nwsp_conn_need(c, c->rlen - c->rpos + 1, 1, err) != 1)
            return -1;
    }
    if (!(flags & NWS_CONNECT_NO_METADATA)) {
        want_to = nwsp_dict_get(c->rbuf + c->rpos, (size_t)n, "MetadataToServer", &v,
                                &vlen) &&
                  conn_allows_one(v, vlen);
        want_from = nwsp_dict_get(c->rbuf + c->rpos, (size_t)n, "MetadataFromServer", &v,
                                  &vlen) &&
                    conn_allows_one(v, vlen);
    }
    if (flags & NWS_CONNECT_KILL_ON_CLOSE) {
        if (!nwsp_dict_get(c->rbuf + c->rpos, (size_t)n, "KillServerOnClose", &v, &vlen) ||
            !conn_allows_one(v, vlen)) {
            nwsp_err_set(err, NWS_ERR_UNSUPPORTED, 0,
                         "the server does not offer KillServerOnClose");
            return -1;
        }
    }
    /* A server that wants the secret advertises NwsAuth with a challenge. */
    auth = nwsp_dict_get(c->rbuf + c->rpos, (size_t)n, "NwsAuth", &v, &vlen);
    if (auth && conn_auth_response(c, v, vlen, secret, answer, sizeof(answer), src,
                                   sizeof(src), err) != 0)
        return -1;
    if (nwsp_dict_get(c->rbuf + c->rpos, (size_t)n, "NwsWebPort", &v, &vlen) &&
        nwsp_parse_u64(v, vlen, 65535, &port) == 0)
        c->web_port = (int)port;
    if (c->sess != NULL) {
        want_sess = nwsp_dict_get(c->rbuf + c->rpos, (size_t)n, "NwsSession", &v, &vlen);
        if (nws_session_id(c) != NULL) {
            if (!want_sess) {
                nwsp_sess_gone(c);
                nwsp_err_set(err, NWS_ERR_SESSION, 0,
                             "the server no longer offers sessions");
                return -1;
            }
            /* The kept replies were framed for the first connection's options. */
            want_to = c->meta_to;
            want_from = c->meta_from;
        }
        nwsp_sess_request_value(c, sreq, sizeof(sreq));
    }
    c->rpos += (size_t)n;

    rc = nwsp_buf_add(&req, NWSP_HS_REQUEST, 4);
    rc |= nwsp_buf_dict_begin(&req, (unsigned)(want_to + want_from + auth + want_sess +
                                               !!(flags & NWS_CONNECT_KILL_ON_CLOSE)));
    if (want_sess)
        rc |= nwsp_buf_dict_put(&req, "NwsSession", 10, sreq, strlen(sreq));
    if (auth)
        rc |= nwsp_buf_dict_put(&req, "NwsAuth", 7, answer, NWSP_HMAC_HEX);
    if (want_to)
        rc |= nwsp_buf_dict_put(&req, "MetadataToServer", 16, "1", 1);
    if (want_from)
        rc |= nwsp_buf_dict_put(&req, "MetadataFromServer", 18, "1", 1);
    if (flags & NWS_CONNECT_KILL_ON_CLOSE)
        rc |= nwsp_buf_dict_put(&req, "KillServerOnClose", 17, "1", 1);
    if (rc != 0) {
        nwsp_buf_free(&req);
        nwsp_err_set(err, NWS_ERR_NOMEM, 0, "out of memory");
        return -1;
    }
    rc = nwsp_conn_write(c, req.data, req.len, err);
    nwsp_buf_free(&req);
    if (rc != 0 || conn_word(c, w, err) != 0)
        return -1;
    if (memcmp(w, NWSP_HS_ACCEPT, 4) != 0) {
        nwsp_err_set(err, NWS_ERR_HANDSHAKE, 0, "the server %s our options%s%.200s%s",
                     memcmp(w, NWSP_HS_DENY, 4) == 0 ? "refused" : "did not accept",
                     auth ? " (not its secret? ours is from " : "", auth ? src : "",
                     auth ? ")" : "");
        return -1;
    }
    c->meta_to = want_to;
    c->meta_from = want_from;
    c->cookie = 1;
    return want_sess ? conn_session_answer(c, err) : 0;
}

/* Does the handshake of section 2.10 on c; 0, or -1. */
static int
conn_handshake(nws_client *c, unsigned flags, const char *secret, nws_error *err)
{
    char w[4];

    if (nwsp_conn_write(c, NWSP_HS_NEW, 4, err) != 0 || conn_word(c, w, err) != 0)
        return -1;
    if (memcmp(w, NWSP_HS_ADVERTISE, 4) == 0)
        return conn_negotiate(c, flags, secret, err);
    if (memcmp(w, "2223", 4) == 0 || memcmp(w, "2222", 4) == 0) {
        /* A pre-2.0 server: no options, so no metadata and no deadman option. */
        if (flags & NWS_CONNECT_KILL_ON_CLOSE) {
            nwsp_err_set(err, NWS_ERR_UNSUPPORTED, 0,
                         "an old server cannot do KillServerOnClose");
            return -1;
        }
        c->cookie = w[3] == '3';
        return 0;
    }
    nwsp_err_set(err, NWS_ERR_HANDSHAKE, 0, "not an NWS server (handshake reply %02x%02x%02x%02x)",
                 (unsigned char)w[0], (unsigned char)w[1], (unsigned char)w[2],
                 (unsigned char)w[3]);
    return -1;
}

/* Parses $NWS_PORT-style text; the port, or -1. */
static int
conn_parse_port(const char *s)
{
    uint64_t v;

    if (nwsp_parse_u64(s, strlen(s), 65535, &v) != 0 || v == 0)
        return -1;
    return (int)v;
}

/* Connects a TCP socket to host:port; the fd, or -1 with the error recorded. */
static int
conn_dial(const char *host, int port, nws_error *err)
{
    struct addrinfo hints, *res, *ai;
    char            serv[16];
    int             fd = -1, rc, one = 1, saved = 0;

    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    snprintf(serv, sizeof(serv), "%d", port);
    if ((rc = getaddrinfo(host, serv, &hints, &res)) != 0) {
        nwsp_err_set(err, NWS_ERR_CONNECT, 0, "%s: %s", host, gai_strerror(rc));
        return -1;
    }
    for (ai = res; ai != NULL; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0) {
            saved = errno;
            continue;
        }
        while ((rc = connect(fd, ai->ai_addr, ai->ai_addrlen)) != 0 && errno == EINTR)
            ;
        if (rc == 0)
            break;
        saved = errno;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd < 0) {
        nwsp_err_set(err, NWS_ERR_CONNECT, 0, "%s port %d: %s", host, port,
                     strerror(saved));
        return -1;
    }
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
    return fd;
}

/* Returns a new, handshaken connection, or NULL; the caller nws_close()s it. */
nws_client *
nws_connect(const char *host, int port, unsigned flags, nws_error *err)
{
    return nws_connect_auth(host, port, flags, NULL, err);
}

nws_client *
nws_connect_auth(const char *host, int port, unsigned flags, const char *secret,
                 nws_error *err)
{
    nws_client *c;
    const char *env;

    nwsp_err_clear(err);
    if (secret != NULL && strlen(secret) > NWSP_SECRET_MAX) {
        nwsp_err_set(err, NWS_ERR_INVALID, 0, "the secret is longer than %d bytes",
                     NWSP_SECRET_MAX);
        return NULL;
    }
    if (host == NULL || host[0] == '\0')
        host = (env = getenv("NWS_HOST")) != NULL && env[0] != '\0' ? env : NWS_DEFAULT_HOST;
    if (port == 0) {
        port = NWS_DEFAULT_PORT;
        if ((env = getenv("NWS_PORT")) != NULL && env[0] != '\0' &&
            (port = conn_parse_port(env)) < 0) {
            nwsp_err_set(err, NWS_ERR_INVALID, 0, "NWS_PORT is not a port number: %.100s",
                         env);
            return NULL;
        }
    }
    if (port < 1 || port > 65535) {
        nwsp_err_set(err, NWS_ERR_INVALID, 0, "bad port %d", port);
        return NULL;
    }
    if ((c = calloc(1, sizeof(*c))) == NULL ||
        (c->reply_meta = nws_meta_new()) == NULL) {
        free(c);
        nwsp_err_set(err, NWS_ERR_NOMEM, 0, "out of memory");
        return NULL;
    }
    c->max_value = NWSP_MAX_VALUE_DEFAULT;
    c->flags = flags;
    c->port = port;
    c->reconnect_s = nwsp_sess_reconnect_default();
    if ((c->host = strdup(host)) == NULL ||
        (!(flags & (NWS_CONNECT_NO_SESSION | NWS_CONNECT_KILL_ON_CLOSE)) &&
         (c->sess = nwsp_sess_new()) == NULL)) {
        nwsp_err_set(err, NWS_ERR_NOMEM, 0, "out of memory");
        nws_close(c);
        return NULL;
    }
    if ((c->fd = conn_dial(host, port, err)) < 0) {
        nws_close(c);
        return NULL;
    }
    c->in_hs = 1;
    if (conn_set_timeouts(c->fd, CONN_HANDSHAKE_TIMEOUT_MS) != 0 ||
        (nwsp_tls_wanted(flags) && nwsp_tls_start(c, host, err) != 0) ||
        conn_handshake(c, flags, secret, err) != 0 || conn_set_timeouts(c->fd, 0) != 0) {
        nwsp_err_set(err, NWS_ERR_HANDSHAKE, 0, "handshake: %s", strerror(errno));
        nws_close(c);
        return NULL;
    }
    c->in_hs = 0;
    if (nws_session_id(c) == NULL) {
        /* Not offered: a classic connection. */
        nwsp_sess_free(c->sess);
        c->sess = NULL;
    }
    c->rx_total = c->rlen - c->rpos;
    return c;
}

/* Dials again and resumes c's session (session.c's reconnect).  0, or -1. */
int
nwsp_conn_redial(nws_client *c, nws_error *err)
{
    char *secret = NULL;
    int   ms = c->reconnect_s > 0 && c->reconnect_s < CONN_HANDSHAKE_TIMEOUT_MS / 1000
                   ? c->reconnect_s * 1000
                   : CONN_HANDSHAKE_TIMEOUT_MS;
    int   rc;

    nwsp_tls_free(c);
    if (c->fd >= 0)
        close(c->fd);
    c->rpos = c->rlen = 0;
    if ((c->fd = conn_dial(c->host, c->port, err)) < 0)
        return -1;
    /* conn_auth_response replaces c->secret: answer with a copy. */
    if (c->secret != NULL && (secret = strdup(c->secret)) == NULL) {
        nwsp_err_set(err, NWS_ERR_NOMEM, 0, "out of memory");
        rc = -1;
    } else {
        c->in_hs = 1;
        rc =
            conn_set_timeouts(c->fd, ms) != 0 ||
                    (nwsp_tls_wanted(c->flags) && nwsp_tls_start(c, c->host, err) != 0) ||
                    conn_handshake(c, c->flags, secret, err) != 0 ||
                    conn_set_timeouts(c->fd, c->timeout_ms) != 0
                ? -1
                : 0;
        c->in_hs = 0;
    }
    if (secret != NULL) {
        explicit_bzero(secret, strlen(secret));
        free(secret);
    }
    if (rc != 0) {
        nwsp_err_set(err, NWS_ERR_HANDSHAKE, 0, "handshake failed");
        nwsp_tls_free(c);
        close(c->fd);
        c->fd = -1;
    }
    return rc;
}

/* Closes c and frees it; NULL is fine. */
void
nws_close(nws_client *c)
{
    if (c == NULL)
        return;
    nwsp_sess_end(c);
    nwsp_conn_fail(c);
    nwsp_tls_free(c);
    nwsp_sess_free(c->sess);
    free(c->host);
    nwsp_buf_free(&c->wbuf);
    free(c->rbuf);
    nws_meta_free(c->next_meta);
    nws_meta_free(c->reply_meta);
    if (c->secret != NULL) {
        explicit_bzero(c->secret, strlen(c->secret));
        free(c->secret);
    }
    free(c);
}

/* 1 if the server asked for our secret and took the answer. */
int
nws_authenticated(const nws_client *c)
{
    return c != NULL && c->secret != NULL;
}

/* The secret c answered the server's challenge with (borrowed), or NULL. */
const char *
nwsp_conn_secret(const nws_client *c)
{
    return c == NULL ? NULL : c->secret;
}

/* Sets send/receive timeouts; 0, or -1. */
int
nws_set_timeout(nws_client *c, int ms, nws_error *err)
{
    nwsp_err_clear(err);
    if (nwsp_conn_check(c, err) != 0)
        return -1;
    if (ms < 0) {
        nwsp_err_set(err, NWS_ERR_INVALID, 0, "negative timeout");
        return -1;
    }
    if (conn_set_timeouts(c->fd, ms) != 0) {
        nwsp_err_set(err, NWS_ERR_IO, 0, "setsockopt: %s", strerror(errno));
        return -1;
    }
    c->timeout_ms = ms;
    return 0;
}

/* Sets the in-memory value limit (0 restores the default). */
void
nws_set_max_value_size(nws_client *c, uint64_t max)
{
    if (c != NULL)
        c->max_value = max ? max : NWSP_MAX_VALUE_DEFAULT;
}

/* Returns 1 if requests carry metadata. */
int
nws_has_meta_to_server(const nws_client *c)
{
    return c != NULL && c->meta_to;
}

/* Returns 1 if replies carry metadata. */
int
nws_has_meta_from_server(const nws_client *c)
{
    return c != NULL && c->meta_from;
}

/* Returns 1 if long replies carry the iteration cookie. */
int
nws_has_cookie(const nws_client *c)
{
    return c != NULL && c->cookie;
}

/* Returns the advertised web port, or 0. */
int
nws_web_port(const nws_client *c)
{
    return c == NULL ? 0 : c->web_port;
}

/* Returns 1 while c is usable. */
int
nws_is_open(const nws_client *c)
{
    return c != NULL && c->fd >= 0;
}

/* Returns the socket (borrowed), or -1. */
int
nws_fd(const nws_client *c)
{
    return c == NULL ? -1 : c->fd;
}

/* Stores a copy of m for the next request; 0, or -1. */
int
nws_set_request_meta(nws_client *c, const nws_meta *m, nws_error *err)
{
    nws_meta *copy = NULL;

    nwsp_err_clear(err);
    if (c == NULL) {
        nwsp_err_set(err, NWS_ERR_INVALID, 0, "NULL connection");
        return -1;
    }
    if (m != NULL && (copy = nws_meta_copy(m)) == NULL) {
        nwsp_err_set(err, NWS_ERR_NOMEM, 0, "out of memory");
        return -1;
    }
    nws_meta_free(c->next_meta);
    c->next_meta = copy;
    return 0;
}

/* Returns the last reply's metadata (borrowed until the next call on c). */
const nws_meta *
nws_reply_meta(const nws_client *c)
{
    return c == NULL ? NULL : c->reply_meta;
}
