/*
 * secret.h -- the per-user secret file and the handshake's challenge and
 * response, shared by libnws and nwsserver (like frame.h, no sockets).
 *
 * The secret is the first line of a file: $NWS_AUTH_FILE if set, else
 * ~/.nws/secret.  The default file is made on first use (64 hex digits of
 * 32 random bytes, mode 0600 in a 0700 directory), like Erlang's cookie: every
 * program of the user, on every node sharing the home directory, finds the
 * same one.  A file another user owns, or that the group or others may read,
 * is refused, as ssh refuses such a private key.
 *
 * The handshake never carries the secret itself: the server advertises
 * NwsAuth = "hmac-sha256:" NONCE (64 fresh hex digits per connection) and
 * the client requests NwsAuth = hex(HMAC-SHA256(key = secret, data = NONCE)).
 */
#ifndef NWS_SECRET_H
#define NWS_SECRET_H

#include <stddef.h>

#define NWSP_SECRET_MAX    1024 /* bytes of a secret (its first line) */
#define NWSP_NONCE_HEX     64   /* hex digits of a handshake nonce */
#define NWSP_HMAC_HEX      64   /* hex digits of a handshake response */
#define NWSP_AUTH_SCHEME   "hmac-sha256:"
#define NWSP_AUTH_DIR      ".nws"
#define NWSP_AUTH_BASENAME "secret"

/*
 * The path of the user's secret file into buf: $NWS_AUTH_FILE, else
 * $HOME/.nws/secret (the password database's home without $HOME).  *is_default
 * (may be NULL) says which.  0, or -1 with why.
 */
int nwsp_secret_path(char *buf, size_t len, int *is_default, char *why, size_t whylen);

/*
 * Reads the secret of path into out (NUL-terminated, at most
 * NWSP_SECRET_MAX bytes).  With create, a missing file is made (and a
 * missing ~/.nws directory when path is the default one) holding a fresh
 * random secret; two programs creating it at once end up with the same one.
 * Refuses a symbolic link, a file not owned by the effective user, or one
 * the group or others can read.  0, or -1 with why.
 */
int nwsp_secret_read(const char *path, int create, char *out, size_t outlen, char *why,
                     size_t whylen);

/* Fills out with NWSP_NONCE_HEX fresh random hex digits and a NUL; 0, or -1. */
int nwsp_nonce_hex(char *out, size_t outlen);

/*
 * The response to nonce: NWSP_HMAC_HEX lowercase hex digits of
 * HMAC-SHA256(secret, nonce) and a NUL into out.  0, or -1.
 */
int nwsp_hmac_hex(const char *secret, size_t slen, const char *nonce, size_t nlen,
                  char *out, size_t outlen);

#endif
