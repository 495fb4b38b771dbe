/*
 * secret.c -- the per-user secret file and the handshake's HMAC (secret.h).
 *
 * Linked into libnws and nwsserver.  Nothing here keeps state: every call
 * reads the file again, so a secret replaced on disk is used from the next
 * connection on.
 *
 * Creation never shows a half-written file: the secret is written to a
 * private temporary file next to the target and then hard-linked to its
 * name, which fails when the name exists; whoever lost that race reads the
 * winner's file instead of its own.
 */
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "secret.h"

#define SECRET_RANDOM_BYTES 32

/* Writes the len bytes at p as lowercase hex and a NUL into out (2 len + 1 bytes). */
static void
secret_hex(const unsigned char *p, size_t len, char *out)
{
    static const char digits[] = "0123456789abcdef";
    size_t            i;

    for (i = 0; i < len; i++) {
        out[2 * i] = digits[p[i] >> 4];
        out[2 * i + 1] = digits[p[i] & 15];
    }
    out[2 * len] = '\0';
}

int
nwsp_secret_path(char *buf, size_t len, int *is_default, char *why, size_t whylen)
{
    const char    *env = getenv("NWS_AUTH_FILE"), *home = getenv("HOME");
    struct passwd *pw;
    int            n;

    if (is_default != NULL)
        *is_default = 0;
    if (env != NULL && *env != '\0') {
        if ((size_t)snprintf(buf, len, "%s", env) >= len) {
            snprintf(why, whylen, "NWS_AUTH_FILE is too long");
            return -1;
        }
        return 0;
    }
    if (home == NULL || *home == '\0')
        home = (pw = getpwuid(geteuid())) != NULL ? pw->pw_dir : NULL;
    if (home == NULL || *home == '\0') {
        snprintf(why, whylen, "no home directory for the secret file: set NWS_AUTH_FILE");
        return -1;
    }
    n = snprintf(buf, len, "%s/%s/%s", home, NWSP_AUTH_DIR, NWSP_AUTH_BASENAME);
    if (n < 0 || (size_t)n >= len) {
        snprintf(why, whylen, "the home directory's name is too long");
        return -1;
    }
    if (is_default != NULL)
        *is_default = 1;
    return 0;
}

/* Makes path's directory (one level, 0700) unless it exists; 0, or -1 with why. */
static int
secret_mkdir(const char *path, char *why, size_t whylen)
{
    char        dir[4096];
    char       *slash;
    struct stat st;

    if ((size_t)snprintf(dir, sizeof(dir), "%s", path) >= sizeof(dir) ||
        (slash = strrchr(dir, '/')) == NULL || slash == dir)
        return 0;
    *slash = '\0';
    if (mkdir(dir, 0700) == 0 || errno == EEXIST) {
        if (lstat(dir, &st) == 0 && S_ISDIR(st.st_mode) && st.st_uid == geteuid())
            return 0;
        snprintf(why, whylen, "%.200s is not a directory of ours", dir);
        return -1;
    }
    snprintf(why, whylen, "cannot make %.200s: %s", dir, strerror(errno));
    return -1;
}

/* Creates path holding a fresh secret unless it exists; 0, or -1 with why. */
static int
secret_create(const char *path, int mkdirs, char *why, size_t whylen)
{
    unsigned char raw[SECRET_RANDOM_BYTES];
    char          text[2 * SECRET_RANDOM_BYTES + 2], tmp[4200];
    int           fd, rc = -1;
    size_t        n;

    if (mkdirs && secret_mkdir(path, why, whylen) != 0)
        return -1;
    if ((size_t)snprintf(tmp, sizeof(tmp), "%s.XXXXXX", path) >= sizeof(tmp)) {
        snprintf(why, whylen, "the secret file's name is too long");
        return -1;
    }
    if (RAND_bytes(raw, sizeof(raw)) != 1) {
        snprintf(why, whylen, "no random bytes for a new secret");
        return -1;
    }
    secret_hex(raw, sizeof(raw), text);
    explicit_bzero(raw, sizeof(raw));
    n = strlen(text);
    text[n++] = '\n';
    /* mkostemp makes the file 0600 and fails if the name exists. */
    if ((fd = mkostemp(tmp, O_CLOEXEC)) < 0) {
        snprintf(why, whylen, "cannot create %.200s: %s", path, strerror(errno));
        goto out;
    }
    if (fchmod(fd, 0600) != 0 || write(fd, text, n) != (ssize_t)n || fsync(fd) != 0) {
        snprintf(why, whylen, "cannot write %.200s: %s", tmp, strerror(errno));
        close(fd);
        unlink(tmp);
        goto out;
    }
    close(fd);
    if (link(tmp, path) != 0 && errno != EEXIST) {
        snprintf(why, whylen, "cannot create %.200s: %s", path, strerror(errno));
        unlink(tmp);
        goto out;
    }
    unlink(tmp);
    rc = 0;
out:
    explicit_bzero(text, sizeof(text));
    return rc;
}

int
nwsp_secret_read(const char *path, int create, char *out, size_t outlen, char *why,
                 size_t whylen)
{
    char        buf[NWSP_SECRET_MAX + 2], dflt[4096];
    struct stat st;
    ssize_t     n;
    size_t      len;
    int         fd, is_default = 0;

    out[0] = '\0';
    if ((fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) < 0 && errno == ENOENT &&
        create) {
        /* Only ~/.nws is ours to make: any other directory is the user's choice. */
        if (nwsp_secret_path(dflt, sizeof(dflt), &is_default, why, whylen) != 0)
            is_default = 0;
        if (secret_create(path, is_default && strcmp(dflt, path) == 0, why, whylen) != 0)
            return -1;
        fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    }
    if (fd < 0) {
        snprintf(why, whylen, "%.200s: %s", path,
                 errno == ELOOP ? "a symbolic link: refused" : strerror(errno));
        return -1;
    }
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        snprintf(why, whylen, "%.200s: not a regular file", path);
        close(fd);
        return -1;
    }
    if (st.st_uid != geteuid()) {
        snprintf(why, whylen, "%.200s belongs to uid %ld, not to us (uid %ld): refused",
                 path, (long)st.st_uid, (long)geteuid());
        close(fd);
        return -1;
    }
    if ((st.st_mode & 077) != 0) {
        snprintf(why, whylen,
                 "%.200s can be read or written by other users: refused (chmod 600 it, "
                 "then make a new secret if others may have seen it)",
                 path);
        close(fd);
        return -1;
    }
    while ((n = read(fd, buf, sizeof(buf) - 1)) < 0 && errno == EINTR)
        ;
    close(fd);
    if (n < 0) {
        snprintf(why, whylen, "%.200s: %s", path, strerror(errno));
        return -1;
    }
    buf[n] = '\0';
    len = strcspn(buf, "\r\n");
    buf[len] = '\0';
    if (len == 0 || len > NWSP_SECRET_MAX || len >= outlen) {
        snprintf(why, whylen, "%.200s: the secret must be one line of 1 to %d bytes", path,
                 NWSP_SECRET_MAX);
        explicit_bzero(buf, sizeof(buf));
        return -1;
    }
    memcpy(out, buf, len + 1);
    explicit_bzero(buf, sizeof(buf));
    return 0;
}

int
nwsp_nonce_hex(char *out, size_t outlen)
{
    unsigned char raw[NWSP_NONCE_HEX / 2];

    if (outlen < NWSP_NONCE_HEX + 1 || RAND_bytes(raw, sizeof(raw)) != 1)
        return -1;
    secret_hex(raw, sizeof(raw), out);
    return 0;
}

int
nwsp_hmac_hex(const char *secret, size_t slen, const char *nonce, size_t nlen, char *out,
              size_t outlen)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int  mdlen = 0;

    if (outlen < NWSP_HMAC_HEX + 1 ||
        HMAC(EVP_sha256(), secret, (int)slen, (const unsigned char *)nonce, nlen, md,
             &mdlen) == NULL ||
        mdlen != NWSP_HMAC_HEX / 2)
        return -1;
    secret_hex(md, mdlen, out);
    explicit_bzero(md, sizeof(md));
    return 0;
}
