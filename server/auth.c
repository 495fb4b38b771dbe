/*
 * auth.c -- the shared secret: on by default, --auth-file, --no-auth.
 *
 * By default the server requires the secret of the user who runs it (the
 * file of libnws/secret.h: $NWS_AUTH_FILE, else ~/.nws/secret, made on first
 * use); --auth-file names another file (which must exist); --no-auth turns
 * the check off for the classic clients, which cannot answer it.
 *
 * With a secret, each connection's advertisement carries its own challenge,
 * NwsAuth = "hmac-sha256:" NONCE, and the handshake must request NwsAuth =
 * hex(HMAC-SHA256(secret, NONCE)): the secret never crosses the wire, and a
 * response is worth nothing for another connection.  The old 4-byte greeting
 * has no options, so such clients are refused.  Every web request must carry
 * the secret itself as the password of HTTP Basic authentication.  The
 * secret is read once at start-up; comparisons take the same time whatever
 * the bytes compared.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "secret.h"
#include "server.h"
#include "util.h"

static char auth_secret[NWSP_SECRET_MAX + 1];
static size_t auth_len;
static char auth_path[4096];

/*
 * Sets up authentication: off with no_auth, else the secret of file (NULL:
 * the user's default file, made if missing).  0, or -1 with a log line.
 */
int
auth_setup(const char *file, int no_auth)
{
    char why[300];

    auth_len = 0;
    if (no_auth) {
        log_warnx("--no-auth: NO AUTHENTICATION.  Anyone who can reach the port can read, "
                  "change and delete every value, and put tasks that sleigh workers run "
                  "with their user's rights; the web interface is open too.  Use it only "
                  "for the classic clients, on a port only trusted users can reach.");
        snprintf(auth_path, sizeof(auth_path), "none");
        return 0;
    }
    if (file != NULL)
        snprintf(auth_path, sizeof(auth_path), "%s", file);
    else if (nwsp_secret_path(auth_path, sizeof(auth_path), NULL, why, sizeof(why)) != 0) {
        log_warnx("authentication: %s", why);
        return -1;
    }
    if (nwsp_secret_read(auth_path, file == NULL, auth_secret, sizeof(auth_secret), why,
                         sizeof(why)) != 0) {
        log_warnx("authentication: %s", why);
        return -1;
    }
    auth_len = strlen(auth_secret);
    log_info("authentication on: clients need the secret of %s", auth_path);
    return 0;
}

int
auth_enabled(void)
{
    return auth_len > 0;
}

/*
 * Logs a refused handshake.  The first one refused for want of the secret
 * is a warning with a hint, since a classic client meeting the default is
 * the likely cause; the others are info, so a client retrying in a loop
 * cannot flood the log.
 */
void
auth_log_refusal(const char *peer, const char *why)
{
    static int warned;

    if (!warned && auth_enabled() && strncmp(why, "authentication", 14) == 0) {
        warned = 1;
        log_warnx("%s: handshake refused: %s (clients need the secret of %s%s)", peer, why,
                  auth_path,
                  strstr(why, "wrong") != NULL
                      ? ""
                      : "; the classic Python, R and Java clients cannot send one: serve "
                        "them with --no-auth");
        return;
    }
    log_info("%s: handshake refused: %s", peer, why);
}

/* Where the secret came from ("none" with --no-auth), for the log. */
const char *
auth_source(void)
{
    return auth_path;
}

/* 1 if the len bytes at p are the secret (the web's Basic password). */
int
auth_check(const char *p, size_t len)
{
    unsigned char diff = len != auth_len;
    size_t        i;

    for (i = 0; i < auth_len; i++)
        diff |= (unsigned char)(auth_secret[i] ^ (i < len ? p[i] : 0));
    return auth_len > 0 && diff == 0;
}

/*
 * Adds the advertisement to out: srv.advert with NwsAuth and a fresh
 * challenge first, the nonce kept in nonce (NWSP_NONCE_HEX + 1 bytes).
 * 0, or -1 (no randomness: the caller refuses the client).
 */
int
auth_advertise(struct evbuffer *out, char *nonce, size_t len)
{
    char     head[4 + 4 + 7 + 4 + sizeof(NWSP_AUTH_SCHEME) + 8];
    int      n;
    unsigned count = 0;
    int      i;

    if (nwsp_nonce_hex(nonce, len) != 0)
        return -1;
    for (i = 0; i < 4; i++)
        count = count * 10 + (unsigned)(srv.advert[i] - '0');
    n = snprintf(head, sizeof(head), "%04u0007NwsAuth%04u%s", (count + 1) % 10000,
                 (unsigned)(sizeof(NWSP_AUTH_SCHEME) - 1 + NWSP_NONCE_HEX),
                 NWSP_AUTH_SCHEME);
    evbuffer_add(out, head, (size_t)n);
    evbuffer_add(out, nonce, NWSP_NONCE_HEX);
    evbuffer_add(out, srv.advert + 4, srv.advert_len - 4);
    return 0;
}

/* 1 if the len bytes at p are the right response to the challenge nonce. */
int
auth_check_response(const char *nonce, const char *p, size_t len)
{
    char want[NWSP_HMAC_HEX + 1];
    int  ok;

    if (auth_len == 0 || len != NWSP_HMAC_HEX ||
        nwsp_hmac_hex(auth_secret, auth_len, nonce, NWSP_NONCE_HEX, want, sizeof(want)) != 0)
        return 0;
    ok = CRYPTO_memcmp(want, p, NWSP_HMAC_HEX) == 0;
    explicit_bzero(want, sizeof(want));
    return ok;
}

/*
 * 1 if header (an HTTP Authorization value) is "Basic base64(user:secret)"
 * with any user name.
 */
int
auth_check_basic(const char *header)
{
    size_t      max = NWSP_SECRET_MAX + 256; /* user name, ':', secret */
    size_t      n, digits;
    char       *out;
    const char *colon;
    int         ok;

    if (header == NULL || strncasecmp(header, "Basic ", 6) != 0)
        return 0;
    header += 6;
    while (*header == ' ')
        header++;
    /* The bound, before anything is decoded: what the digits up to '=' carry. */
    digits = strcspn(header, "=");
    if (digits / 4 * 3 + (digits % 4 == 0 ? 0 : digits % 4 - 1) > max)
        return 0;
    if ((out = nwsp_b64_decode(header, &n)) == NULL)
        return 0;
    ok = (colon = memchr(out, ':', n)) != NULL &&
         auth_check(colon + 1, n - (size_t)(colon + 1 - out));
    explicit_bzero(out, n);
    free(out);
    return ok;
}
