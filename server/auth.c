/*
 * auth.c -- the optional shared secret (--auth-file).
 *
 * With a secret configured, the protocol handshake must request the option
 * NwsAuth with the secret as its value (new-style handshakes only: the old
 * 4-byte greeting has no room for it, so such clients are refused), and every
 * web request must carry it as the password of HTTP Basic authentication.
 * The secret is the first line of the file, read once at start-up.
 * Comparisons take the same time whatever the bytes compared.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "server.h"

#define AUTH_MAX 1024

static char   auth_secret[AUTH_MAX + 1];
static size_t auth_len;

/* Reads the secret from path; 0, or -1 with a log line. */
int
auth_load(const char *path)
{
    FILE       *fp;
    struct stat st;
    char        line[AUTH_MAX + 2];

    if ((fp = fopen(path, "r")) == NULL) {
        log_warn("cannot read the auth file %s", path);
        return -1;
    }
    if (fstat(fileno(fp), &st) == 0 && (st.st_mode & 077) != 0)
        log_warnx("%s can be read by other users: chmod 600 it", path);
    if (fgets(line, sizeof(line), fp) == NULL)
        line[0] = '\0';
    fclose(fp);
    line[strcspn(line, "\r\n")] = '\0';
    auth_len = strlen(line);
    if (auth_len == 0 || auth_len > AUTH_MAX) {
        log_warnx("%s: the secret must be one line of 1 to %d bytes", path, AUTH_MAX);
        auth_len = 0;
        return -1;
    }
    memcpy(auth_secret, line, auth_len + 1);
    explicit_bzero(line, sizeof(line));
    return 0;
}

int
auth_enabled(void)
{
    return auth_len > 0;
}

/* 1 if the len bytes at p are the secret. */
int
auth_check(const char *p, size_t len)
{
    unsigned char diff = len != auth_len;
    size_t        i;

    for (i = 0; i < auth_len; i++)
        diff |= (unsigned char)(auth_secret[i] ^ (i < len ? p[i] : 0));
    return auth_len > 0 && diff == 0;
}

/* The value of one base64 digit, or -1. */
static int
auth_b64(int ch)
{
    static const char digits[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const char *p = ch != 0 ? strchr(digits, ch) : NULL;

    return p != NULL ? (int)(p - digits) : -1;
}

/*
 * 1 if header (an HTTP Authorization value) is "Basic base64(user:secret)"
 * with any user name.
 */
int
auth_check_basic(const char *header)
{
    unsigned char out[3 * (AUTH_MAX + 256) / 4 + 4];
    size_t        n = 0, i;
    unsigned      acc = 0;
    int           bits = 0, v, ok;
    const char   *colon;

    if (header == NULL || strncasecmp(header, "Basic ", 6) != 0)
        return 0;
    header += 6;
    while (*header == ' ')
        header++;
    for (i = 0; header[i] != '\0' && header[i] != '='; i++) {
        if ((v = auth_b64((unsigned char)header[i])) < 0)
            return 0;
        acc = (acc << 6) | (unsigned)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (n == sizeof(out))
                return 0;
            out[n++] = (unsigned char)(acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }
    if ((colon = memchr(out, ':', n)) == NULL)
        return 0;
    ok = auth_check(colon + 1, n - (size_t)((const unsigned char *)colon + 1 - out));
    explicit_bzero(out, sizeof(out));
    return ok;
}
