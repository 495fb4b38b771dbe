/*
 * util.c -- the shared helpers of util.h that are not inline.
 *
 * base64 runs on OpenSSL's EVP_EncodeBlock/EVP_DecodeBlock (every binary
 * links libcrypto already); the wrappers keep our contract on top: lengths
 * beyond an int, optional padding, no whitespace, a NUL-terminated result.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "util.h"

/* Input bytes per EVP_EncodeBlock call: a multiple of 3, far below INT_MAX. */
#define UTIL_B64_CHUNK (3u << 20)

int
nwsp_parse_size(const char *s, uint64_t max, uint64_t *out)
{
    char              *end;
    unsigned long long v;
    unsigned           shift = 0;

    if (*s < '0' || *s > '9')
        return -1;
    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno != 0)
        return -1;
    switch (*end) {
    case 'k':
    case 'K':
        shift = 10;
        break;
    case 'm':
    case 'M':
        shift = 20;
        break;
    case 'g':
    case 'G':
        shift = 30;
        break;
    case 't':
    case 'T':
        shift = 40;
        break;
    }
    if (shift != 0) {
        end++;
        if (*end == 'B' || *end == 'b')
            end++;
        else if (end[0] == 'i' && end[1] == 'B')
            end += 2;
    }
    if (*end != '\0' || v > (UINT64_MAX >> shift) || ((uint64_t)v << shift) > max)
        return -1;
    *out = (uint64_t)v << shift;
    return 0;
}

int
nwsp_vec_add(char ***v, size_t *n, const char *s)
{
    char **nv = realloc(*v, (*n + 2) * sizeof(**v));

    if (nv == NULL)
        return -1;
    *v = nv;
    if ((nv[*n] = strdup(s)) == NULL)
        return -1;
    nv[++*n] = NULL;
    return 0;
}

void
nwsp_vec_free(char **v)
{
    size_t i;

    for (i = 0; v != NULL && v[i] != NULL; i++)
        free(v[i]);
    free(v);
}

char *
nwsp_b64_encode(const void *p, size_t len)
{
    const unsigned char *in = p;
    char                *out;
    size_t               o = 0, k;

    if (len > (SIZE_MAX - 4) / 4 * 3 || (out = malloc((len + 2) / 3 * 4 + 1)) == NULL)
        return NULL;
    out[0] = '\0';
    while (len > 0) {
        k = len < UTIL_B64_CHUNK ? len : UTIL_B64_CHUNK;
        o += (size_t)EVP_EncodeBlock((unsigned char *)out + o, in, (int)k);
        in += k;
        len -= k;
    }
    out[o] = '\0';
    return out;
}

/* 1 if c is a digit of the standard base64 alphabet. */
static int
util_b64_digit(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           c == '+' || c == '/';
}

char *
nwsp_b64_decode(const char *s, size_t *len)
{
    size_t         n, i, whole, o = 0, k;
    unsigned char *out;
    unsigned char  tail[4];
    unsigned char  three[3];

    /* Our contract, checked before EVP (which would skip whitespace). */
    for (n = 0; s[n] != '\0' && s[n] != '='; n++)
        if (!util_b64_digit((unsigned char)s[n]))
            return NULL;
    if ((out = malloc(n / 4 * 3 + 4)) == NULL)
        return NULL;
    whole = n / 4 * 4;
    for (i = 0; i < whole; i += k) {
        k = whole - i < UTIL_B64_CHUNK / 3 * 4 ? whole - i : UTIL_B64_CHUNK / 3 * 4;
        if (EVP_DecodeBlock(out + o, (const unsigned char *)s + i, (int)k) < 0) {
            free(out);
            return NULL;
        }
        o += k / 4 * 3;
    }
    /* 2 or 3 trailing digits carry 1 or 2 bytes; a lone digit carries none. */
    if (n - whole >= 2) {
        memcpy(tail, "AAAA", 4);
        memcpy(tail, s + whole, n - whole);
        if (EVP_DecodeBlock(three, tail, 4) < 0) {
            free(out);
            return NULL;
        }
        memcpy(out + o, three, n - whole - 1);
        o += n - whole - 1;
        /* The caller may be decoding a secret (auth Basic): leave no copy. */
        explicit_bzero(tail, sizeof(tail));
        explicit_bzero(three, sizeof(three));
    }
    out[o] = '\0';
    if (len != NULL)
        *len = o;
    return (char *)out;
}
