/*
 * tls.c -- TLS for the protocol port and the web interface
 * (--tls-cert, --tls-key), through libevent's OpenSSL bufferevents.
 *
 * When configured, every connection speaks TLS from its first byte, on both
 * ports: the classic clients cannot speak TLS at all, so there is nothing to
 * negotiate in the clear, and a secret sent at the handshake (--auth-file)
 * never crosses the network unencrypted.  TLS 1.2 is the oldest version
 * accepted.
 */
#include <openssl/err.h>
#include <openssl/ssl.h>

#include <event2/bufferevent_ssl.h>

#include "server.h"

static SSL_CTX *tls_ctx;

/* Loads the certificate chain and key; 0, or -1 with a log line. */
int
tls_init(const char *cert, const char *key)
{
    char why[256];

    if ((tls_ctx = SSL_CTX_new(TLS_server_method())) == NULL)
        goto fail;
    SSL_CTX_set_min_proto_version(tls_ctx, TLS1_2_VERSION);
    SSL_CTX_set_options(tls_ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
    if (SSL_CTX_use_certificate_chain_file(tls_ctx, cert) != 1 ||
        SSL_CTX_use_PrivateKey_file(tls_ctx, key, SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_check_private_key(tls_ctx) != 1)
        goto fail;
    return 0;
fail:
    ERR_error_string_n(ERR_get_error(), why, sizeof(why));
    log_warnx("TLS with %s and %s: %s", cert, key, why);
    if (tls_ctx != NULL)
        SSL_CTX_free(tls_ctx);
    tls_ctx = NULL;
    return -1;
}

int
tls_enabled(void)
{
    return tls_ctx != NULL;
}

/* A bufferevent doing the server side of TLS on fd (which it owns), or NULL. */
struct bufferevent *
tls_bufferevent(evutil_socket_t fd)
{
    struct bufferevent *bev;
    SSL                *ssl = SSL_new(tls_ctx);

    if (ssl == NULL)
        return NULL;
    bev = bufferevent_openssl_socket_new(srv.base, fd, ssl, BUFFEREVENT_SSL_ACCEPTING,
                                         BEV_OPT_CLOSE_ON_FREE);
    if (bev != NULL)
        bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
    return bev;
}

/* The reason of the last TLS failure on bev, for a log line. */
const char *
tls_error(struct bufferevent *bev)
{
    static char   why[256];
    unsigned long e = bufferevent_get_openssl_error(bev);

    if (e == 0)
        return "connection closed";
    ERR_error_string_n(e, why, sizeof(why));
    return why;
}

void
tls_shutdown(void)
{
    if (tls_ctx != NULL)
        SSL_CTX_free(tls_ctx);
    tls_ctx = NULL;
}
