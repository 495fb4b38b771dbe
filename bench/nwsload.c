/*
 * nwsload.c -- the load generator of the nws benchmarks.
 *
 * One program drives nwsserver (classic NWS protocol: new-style handshake,
 * no metadata) and redis-server (RESP) with the same connection model, so
 * that their figures can be put side by side:
 *
 *   rr        C connections, each repeating one batch: D stores, wait for the
 *             D replies, then D fetches, wait for the D replies (D is
 *             --pipeline; D = 1 is strict request/reply).  NWS: store/fetch
 *             on a fifo variable; Redis: LPUSH/RPOP on a list.  One epoll
 *             loop per thread drives all of that thread's connections.
 *   pingpong  two connections pass a token through two variables with a
 *             blocking fetch (Redis: BLPOP/LPUSH).
 *   fill N    store N values into one variable, report the server's memory.
 *   large S   store then fetch one value of S bytes, generated and
 *             checksummed on the fly; a plain loopback socket copy of the
 *             same bytes is measured in-process as the reference.
 *   conns N   open N connections (handshake done, then idle), optionally
 *             park a blocking fetch on each (--blocked), and report the
 *             server's RSS growth per connection and per blocked fetcher.
 *
 * A "pair" is one store plus one fetch.  Every mode prints exactly one line
 * of key=value pairs on stdout; diagnostics go to stderr.
 *
 * Safety: only 127.0.0.0/8 addresses are accepted.  Every loop is bounded by
 * a duration, an operation count or a socket timeout, and alarm() ends the
 * process if everything else fails.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include "frame.h"
#include "util.h"

#define LOAD_MAX_THREADS   16
#define LOAD_MAX_CONNS     20000
#define LOAD_MAX_IDLE      100000              /* conns mode: connections held */
#define LOAD_MAX_PIPELINE  4096
#define LOAD_MAX_BATCHMEM  ((size_t)512 << 20) /* all prebuilt batches together */
#define LOAD_IO_TIMEOUT    10                  /* seconds, blocking socket calls */
#define LOAD_LARGE_TIMEOUT 120                 /* seconds, one call in large mode */
#define LOAD_GRACE_NS      (5ull * 1000000000ull) /* drain time after the deadline */
#define LOAD_RBUF          65536
#define LOAD_CHUNK         ((size_t)1 << 20) /* large mode: unit of generation */
#define LOAD_FILL_DEPTH    256               /* fill mode: default pipeline depth */
#define LOAD_SAMPLE_NS     10000000L         /* RSS sampling period: 10 ms */
#define LOAD_NS            1000000000ull

enum load_proto { LOAD_NWS, LOAD_REDIS };
enum load_mode { LOAD_RR, LOAD_PINGPONG, LOAD_FILL, LOAD_LARGE, LOAD_CONNS };

/* Command line. */
struct load_opts {
    enum load_proto proto;
    enum load_mode  mode;
    struct in_addr  addr;
    const char     *host;
    int             port;
    int             conns;
    int             threads;   /* 0: choose */
    uint64_t        size;      /* value bytes: rr, pingpong, fill */
    int             pipeline;  /* 0: mode default */
    double          duration;  /* seconds of measurement */
    double          warmup;    /* seconds before measurement; < 0: mode default */
    uint64_t        ops;       /* rr: pairs; pingpong: round trips; 0: by time */
    uint64_t        count;     /* fill: values */
    uint64_t        large;     /* large: bytes */
    const char     *ws;
    long            server_pid;
    int             timeout;   /* hard limit in seconds; 0: mode default */
    int             shared_var;
    int             loopback;  /* large: also measure a plain socket copy */
    uint64_t        nconns;    /* conns: connections to hold open */
    int             blocked;   /* conns: then park a blocking fetch on each */
    int             keep;      /* large: store only, leave it (a restart loads it) */
    int             fetch_only; /* large: fetch what --keep left, no store */
};

static struct load_opts opts = {
    .proto = LOAD_NWS,
    .mode = LOAD_RR,
    .host = "127.0.0.1",
    .port = 0,
    .conns = 1,
    .size = 16,
    .duration = 3.0,
    .warmup = -1.0,
    .ws = "nwsload",
    .loopback = 1,
};

static const char *load_proto_names[] = {"nws", "redis"};

/* Prints a message and exits with status 2. */
static void load_fatal(const char *fmt, ...)
    __attribute__((format(printf, 1, 2), noreturn));

static void
load_fatal(const char *fmt, ...)
{
    va_list ap;

    fputs("nwsload: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(2);
}

/* Prints a warning on stderr. */
static void load_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void
load_warnx(const char *fmt, ...)
{
    va_list ap;

    fputs("nwsload: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

/* Returns the monotonic clock in nanoseconds. */
static uint64_t
load_now(void)
{
    return (uint64_t)(nwsp_mono() * (double)LOAD_NS);
}

/* Returns nanoseconds as seconds. */
static double
load_secs(uint64_t ns)
{
    return (double)ns / 1e9;
}

/* Allocates or dies: the generator has no use for a half-built run. */
static void *
load_calloc(size_t n, size_t size)
{
    void *p = calloc(n, size);

    if (p == NULL)
        load_fatal("out of memory");
    return p;
}

/* Appends to b or dies. */
static void
load_add(struct nwsp_buf *b, const void *p, size_t len)
{
    if (nwsp_buf_add(b, p, len) != 0)
        load_fatal("out of memory");
}

/* Appends a formatted string to b or dies. */
static void load_addf(struct nwsp_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
load_addf(struct nwsp_buf *b, const char *fmt, ...)
{
    char    tmp[128];
    va_list ap;
    int     n;

    va_start(ap, fmt);
    n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof(tmp))
        load_fatal("internal: formatted field too long");
    load_add(b, tmp, (size_t)n);
}

/*
 * Latency histogram: log-linear buckets of nanoseconds, 32 per power of two
 * (about 3% resolution), so that threads can merge theirs by addition.
 */
#define HIST_SUB_BITS 5
#define HIST_SUB      (1u << HIST_SUB_BITS)
#define HIST_BUCKETS  (HIST_SUB + 44 * HIST_SUB)

struct load_hist {
    uint64_t n[HIST_BUCKETS];
    uint64_t count;
    uint64_t max;
};

/* Returns the bucket of v nanoseconds. */
static unsigned
hist_index(uint64_t v)
{
    unsigned msb, shift, idx;

    if (v < HIST_SUB)
        return (unsigned)v;
    msb = 63u - (unsigned)__builtin_clzll(v);
    shift = msb - HIST_SUB_BITS;
    idx = HIST_SUB + shift * HIST_SUB + (unsigned)((v >> shift) - HIST_SUB);
    return idx < HIST_BUCKETS ? idx : HIST_BUCKETS - 1;
}

/* Returns the middle of bucket idx in nanoseconds. */
static double
hist_value(unsigned idx)
{
    unsigned shift, sub;

    if (idx < HIST_SUB)
        return idx;
    shift = (idx - HIST_SUB) / HIST_SUB;
    sub = (idx - HIST_SUB) % HIST_SUB;
    return (double)((uint64_t)(HIST_SUB + sub) << shift) + (double)(1ull << shift) / 2.0;
}

/* Records one sample of v nanoseconds. */
static void
hist_add(struct load_hist *h, uint64_t v)
{
    h->n[hist_index(v)]++;
    h->count++;
    if (v > h->max)
        h->max = v;
}

/* Adds the samples of src to dst. */
static void
hist_merge(struct load_hist *dst, const struct load_hist *src)
{
    unsigned i;

    for (i = 0; i < HIST_BUCKETS; i++)
        dst->n[i] += src->n[i];
    dst->count += src->count;
    if (src->max > dst->max)
        dst->max = src->max;
}

/* Returns the q-quantile (0 < q <= 1) in microseconds; 0 without samples. */
static double
hist_quantile_us(const struct load_hist *h, double q)
{
    uint64_t rank, seen = 0;
    unsigned i;
    double   v;

    if (h->count == 0)
        return 0.0;
    rank = (uint64_t)(q * (double)h->count + 0.999999);
    if (rank < 1)
        rank = 1;
    for (i = 0; i < HIST_BUCKETS; i++) {
        seen += h->n[i];
        if (seen >= rank)
            break;
    }
    v = hist_value(i < HIST_BUCKETS ? i : HIST_BUCKETS - 1);
    if (v > (double)h->max)
        v = (double)h->max;
    return v / 1e3;
}

/* Prints the latency fields of h (microseconds) on f. */
static void
hist_print(FILE *f, const struct load_hist *h)
{
    fprintf(f, " lat_p50_us=%.1f lat_p90_us=%.1f lat_p99_us=%.1f lat_p999_us=%.1f"
               " lat_max_us=%.1f",
            hist_quantile_us(h, 0.50), hist_quantile_us(h, 0.90), hist_quantile_us(h, 0.99),
            hist_quantile_us(h, 0.999), (double)h->max / 1e3);
}

/*
 * Reply parser.  Fed any slice of the byte stream, it consumes at most one
 * reply and says when that reply is complete.  Value bytes are passed over,
 * never stored, so a reply of any size needs no memory.
 */
enum reply_kind {
    REPLY_NWS_SHORT, /* D4 status */
    REPLY_NWS_LONG,  /* D4 status, D20 desc, S20 varid, D20 index, D20 len, bytes */
    REPLY_RESP,      /* one RESP value, arrays included */
};

#define NWS_LONG_HDR (NWSP_D4_LEN + NWSP_D20_LEN + NWSP_COOKIE_LEN + NWSP_D20_LEN)

struct load_reply {
    enum reply_kind kind;
    int             done;
    int             in_value; /* passing over value bytes */
    char            hdr[128]; /* NWS header, or one RESP line */
    size_t          hlen;
    uint64_t        skip;     /* value bytes (RESP: plus CRLF) still to pass over */
    int64_t         pending;  /* RESP: values still to read */
    int             status;   /* 0: success; else the NWS status, or 1 */
    int64_t         vlen;     /* length of the (last) value; -1: none */
};

/* Prepares r for the next reply of the given kind. */
static void
reply_init(struct load_reply *r, enum reply_kind kind)
{
    r->kind = kind;
    r->done = 0;
    r->in_value = 0;
    r->hlen = 0;
    r->skip = 0;
    r->pending = 1;
    r->status = 0;
    r->vlen = -1;
}

/* Parses the complete NWS header in r->hdr; returns 0 or -1 on bad framing. */
static int
reply_nws_header(struct load_reply *r)
{
    uint64_t st, len;

    if (nwsp_parse_u64(r->hdr, NWSP_D4_LEN, 9999, &st) != 0)
        return -1;
    r->status = (int)st;
    if (r->kind == REPLY_NWS_SHORT) {
        r->done = 1;
        return 0;
    }
    if (nwsp_parse_u64(r->hdr + NWS_LONG_HDR - NWSP_D20_LEN, NWSP_D20_LEN, INT64_MAX,
                       &len) != 0)
        return -1;
    r->vlen = (int64_t)len;
    r->skip = len;
    if (len == 0)
        r->done = 1;
    else
        r->in_value = 1;
    return 0;
}

/* Handles one complete RESP line in r->hdr (CRLF stripped); 0 or -1. */
static int
reply_resp_line(struct load_reply *r)
{
    char     *end;
    long long n = 0;

    r->hdr[r->hlen] = '\0';
    if (r->hlen == 0)
        return -1;
    if (r->hdr[0] == '$' || r->hdr[0] == '*' || r->hdr[0] == ':') {
        errno = 0;
        n = strtoll(r->hdr + 1, &end, 10);
        if (errno != 0 || end == r->hdr + 1 || *end != '\0')
            return -1;
    }
    r->pending--;
    switch (r->hdr[0]) {
    case '+':
    case ':':
        break;
    case '-':
        r->status = 1;
        break;
    case '$':
        if (n < 0) {
            r->status = 1; /* nil: nothing to pop */
            r->vlen = -1;
            break;
        }
        r->vlen = n;
        r->skip = (uint64_t)n + 2;
        r->in_value = 1;
        r->pending++; /* the bulk is done when its bytes are */
        return 0;
    case '*':
        if (n < 0)
            r->status = 1;
        else if (n > 1000000)
            return -1;
        else
            r->pending += n;
        break;
    default:
        return -1;
    }
    if (r->pending == 0)
        r->done = 1;
    return 0;
}

/*
 * Feeds n bytes at p to r.  Returns the number consumed (stops at the end
 * of the reply, r->done is then set), or -1 on a framing error.
 */
static ssize_t
reply_feed(struct load_reply *r, const char *p, size_t n)
{
    size_t used = 0;

    while (used < n && !r->done) {
        if (r->in_value) {
            size_t take = n - used;

            if (take > r->skip)
                take = (size_t)r->skip;
            r->skip -= take;
            used += take;
            if (r->skip == 0) {
                r->in_value = 0;
                if (r->kind != REPLY_RESP) {
                    r->done = 1;
                } else {
                    r->hlen = 0;
                    if (--r->pending == 0)
                        r->done = 1;
                }
            }
            continue;
        }
        if (r->kind != REPLY_RESP) {
            size_t need = (r->kind == REPLY_NWS_SHORT ? NWSP_D4_LEN : NWS_LONG_HDR) - r->hlen;
            size_t take = n - used < need ? n - used : need;

            memcpy(r->hdr + r->hlen, p + used, take);
            r->hlen += take;
            used += take;
            if (take == need && reply_nws_header(r) != 0)
                return -1;
            continue;
        }
        /* RESP: collect one line. */
        {
            const char *nl = memchr(p + used, '\n', n - used);
            size_t      take = nl != NULL ? (size_t)(nl - (p + used)) + 1 : n - used;

            if (r->hlen + take >= sizeof(r->hdr))
                return -1;
            memcpy(r->hdr + r->hlen, p + used, take);
            r->hlen += take;
            used += take;
            if (nl == NULL)
                continue;
            if (r->hlen < 2 || r->hdr[r->hlen - 2] != '\r')
                return -1;
            r->hlen -= 2;
            if (reply_resp_line(r) != 0)
                return -1;
            r->hlen = 0;
        }
    }
    return (ssize_t)used;
}

/* Requests.  All are built once, before the clock starts. */

/* Appends a RESP command of argc arguments. */
static void
req_resp(struct nwsp_buf *b, int argc, const char *const *argv, const size_t *lens)
{
    int i;

    load_addf(b, "*%d\r\n", argc);
    for (i = 0; i < argc; i++) {
        load_addf(b, "$%zu\r\n", lens[i]);
        load_add(b, argv[i], lens[i]);
        load_add(b, "\r\n", 2);
    }
}

/* Appends one NWS request made of C strings (argv[0] is the command). */
static void
req_nws(struct nwsp_buf *b, int argc, const char *const *argv, const size_t *lens)
{
    int i;

    if (nwsp_buf_argc(b, (unsigned)argc) != 0)
        load_fatal("out of memory");
    for (i = 0; i < argc; i++)
        if (nwsp_buf_arg(b, argv[i], lens[i]) != 0)
            load_fatal("out of memory");
}

/* Type descriptor of the values we store: DIRECT_STRING | binary (section 8.4). */
static void
req_desc(char desc[NWSP_D20_LEN])
{
    nwsp_put_d20(desc, NWSP_DESC_DIRECT_STRING | NWSP_DESC_BINARY);
}

/* Appends a store (NWS) or LPUSH (Redis) of val to key. */
static void
req_store(struct nwsp_buf *b, const char *key, const char *val, size_t len)
{
    char desc[NWSP_D20_LEN];

    if (opts.proto == LOAD_NWS) {
        const char *argv[] = {"store", opts.ws, key, desc, val};
        size_t      lens[] = {5, strlen(opts.ws), strlen(key), NWSP_D20_LEN, len};

        req_desc(desc);
        req_nws(b, 5, argv, lens);
    } else {
        const char *argv[] = {"LPUSH", key, val};
        size_t      lens[] = {5, strlen(key), len};

        req_resp(b, 3, argv, lens);
    }
}

/* Appends a fetch (NWS, blocking) or RPOP (Redis) of key. */
static void
req_fetch(struct nwsp_buf *b, const char *key)
{
    if (opts.proto == LOAD_NWS) {
        const char *argv[] = {"fetch", opts.ws, key};
        size_t      lens[] = {5, strlen(opts.ws), strlen(key)};

        req_nws(b, 3, argv, lens);
    } else {
        const char *argv[] = {"RPOP", key};
        size_t      lens[] = {4, strlen(key)};

        req_resp(b, 2, argv, lens);
    }
}

/* Appends a BLPOP with a timeout: the Redis side of a blocking fetch. */
static void
req_blpop(struct nwsp_buf *b, const char *key)
{
    const char *argv[] = {"BLPOP", key, "10"};
    size_t      lens[] = {5, strlen(key), 2};

    req_resp(b, 3, argv, lens);
}

/* Appends a request that removes key: `delete var` or DEL. */
static void
req_delete(struct nwsp_buf *b, const char *key)
{
    if (opts.proto == LOAD_NWS) {
        const char *argv[] = {"delete var", opts.ws, key};
        size_t      lens[] = {10, strlen(opts.ws), strlen(key)};

        req_nws(b, 3, argv, lens);
    } else {
        const char *argv[] = {"DEL", key};
        size_t      lens[] = {3, strlen(key)};

        req_resp(b, 2, argv, lens);
    }
}

/* Returns the reply kind of req_store's request. */
static enum reply_kind
kind_store(void)
{
    return opts.proto == LOAD_NWS ? REPLY_NWS_SHORT : REPLY_RESP;
}

/* Returns the reply kind of req_fetch's (and req_blpop's) request. */
static enum reply_kind
kind_fetch(void)
{
    return opts.proto == LOAD_NWS ? REPLY_NWS_LONG : REPLY_RESP;
}

/* Writes the variable (key) name of connection id into dst. */
static void
load_key(char *dst, size_t size, const char *what, int id)
{
    if (opts.proto == LOAD_NWS)
        snprintf(dst, size, "%s%ld_%d", what, (long)getpid(), id);
    else
        snprintf(dst, size, "nwsload:%s:%ld:%d", what, (long)getpid(), id);
}

/*
 * Blocking sockets (setup, pingpong, fill, large).  A small input buffer
 * keeps what was read past a reply; all calls time out.
 */
struct load_sock {
    int    fd;
    size_t off, len;
    char   buf[16384];
};

/* Sets send and receive timeouts of fd to secs seconds. */
static void
sock_timeouts(int fd, int secs)
{
    struct timeval tv = {.tv_sec = secs, .tv_usec = 0};

    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

/* Returns a socket connected to the server (with timeouts), or -1. */
static int
sock_connect(int port)
{
    struct sockaddr_in sin;
    int                fd, one = 1;

    fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd == -1)
        return -1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    sock_timeouts(fd, LOAD_IO_TIMEOUT);
    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_addr = opts.addr;
    sin.sin_port = htons((uint16_t)port);
    if (connect(fd, (struct sockaddr *)&sin, sizeof(sin)) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* Sends all n bytes; returns 0 or -1 (error, timeout, peer gone). */
static int
sock_send_all(int fd, const void *p, size_t n)
{
    const char *c = p;

    while (n > 0) {
        ssize_t k = send(fd, c, n, MSG_NOSIGNAL);

        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return -1;
        c += k;
        n -= (size_t)k;
    }
    return 0;
}

/* Refills s->buf; returns bytes read, or -1 on error, timeout or EOF. */
static ssize_t
sock_fill(struct load_sock *s)
{
    ssize_t k;

    if (s->off == s->len)
        s->off = s->len = 0;
    if (s->len == sizeof(s->buf)) {
        memmove(s->buf, s->buf + s->off, s->len - s->off);
        s->len -= s->off;
        s->off = 0;
    }
    do
        k = recv(s->fd, s->buf + s->len, sizeof(s->buf) - s->len, 0);
    while (k < 0 && errno == EINTR);
    if (k <= 0)
        return -1;
    s->len += (size_t)k;
    return k;
}

/* Reads exactly n bytes into dst (large reads bypass the buffer); 0 or -1. */
static int
sock_read_exact(struct load_sock *s, void *dst, size_t n)
{
    char  *d = dst;
    size_t have = s->len - s->off;

    if (have > n)
        have = n;
    memcpy(d, s->buf + s->off, have);
    s->off += have;
    d += have;
    n -= have;
    while (n > 0) {
        ssize_t k = recv(s->fd, d, n, 0);

        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return -1;
        d += k;
        n -= (size_t)k;
    }
    return 0;
}

/* Reads one whole reply of the given kind into r; 0 or -1 (I/O or framing). */
static int
sock_reply(struct load_sock *s, struct load_reply *r, enum reply_kind kind)
{
    reply_init(r, kind);
    for (;;) {
        if (s->off < s->len) {
            ssize_t k = reply_feed(r, s->buf + s->off, s->len - s->off);

            if (k < 0)
                return -1;
            s->off += (size_t)k;
            if (r->done)
                return 0;
        }
        if (sock_fill(s) < 0)
            return -1;
    }
}

/* Reads one RESP line (without CRLF) into dst; 0 or -1. */
static int
sock_resp_line(struct load_sock *s, char *dst, size_t size)
{
    size_t n = 0;

    for (;;) {
        while (s->off < s->len) {
            char c = s->buf[s->off++];

            if (c == '\n') {
                if (n == 0 || dst[n - 1] != '\r')
                    return -1;
                dst[n - 1] = '\0';
                return 0;
            }
            if (n + 1 >= size)
                return -1;
            dst[n++] = c;
        }
        if (sock_fill(s) < 0)
            return -1;
    }
}

/*
 * Opens a connection ready for requests: for NWS the new-style handshake
 * with no options, then `use ws`.  Returns 0, or -1 with a warning.
 */
static int
sock_open(struct load_sock *s)
{
    struct nwsp_buf   b = {0};
    struct load_reply r;
    char              w[4];
    const char       *why = "?";
    ssize_t           dl;

    s->off = s->len = 0;
    s->fd = sock_connect(opts.port);
    if (s->fd == -1) {
        load_warnx("connect to %s:%d: %s", opts.host, opts.port, strerror(errno));
        return -1;
    }
    if (opts.proto == LOAD_REDIS)
        return 0;
    if (sock_send_all(s->fd, NWSP_HS_NEW, 4) != 0 || sock_read_exact(s, w, 4) != 0)
        goto fail_io;
    if (memcmp(w, NWSP_HS_ADVERTISE, 4) != 0) {
        load_warnx("handshake: got \"%.4s\", expected \"P000\"", w);
        goto fail;
    }
    for (;;) { /* the advertised options: read and ignored */
        dl = nwsp_dict_scan(s->buf + s->off, s->len - s->off, 256, sizeof(s->buf) / 2,
                            &why);
        if (dl > 0)
            break;
        if (dl == NWSP_SCAN_BAD) {
            load_warnx("handshake: bad options dictionary: %s", why);
            goto fail;
        }
        if (sock_fill(s) < 0)
            goto fail_io;
    }
    s->off += (size_t)dl;
    load_add(&b, NWSP_HS_REQUEST, 4);
    if (nwsp_buf_dict_begin(&b, 0) != 0)
        load_fatal("out of memory");
    if (sock_send_all(s->fd, b.data, b.len) != 0 || sock_read_exact(s, w, 4) != 0)
        goto fail_io;
    if (memcmp(w, NWSP_HS_ACCEPT, 4) != 0) {
        load_warnx("handshake: got \"%.4s\", expected \"A000\"", w);
        goto fail;
    }
    nwsp_buf_reset(&b);
    {
        const char *argv[] = {"use ws", opts.ws, "", "no"};
        size_t      lens[] = {6, strlen(opts.ws), 0, 2};

        req_nws(&b, 4, argv, lens);
    }
    if (sock_send_all(s->fd, b.data, b.len) != 0 ||
        sock_reply(s, &r, REPLY_NWS_SHORT) != 0)
        goto fail_io;
    if (r.status != 0) {
        load_warnx("use ws %s: status %d", opts.ws, r.status);
        goto fail;
    }
    nwsp_buf_free(&b);
    return 0;
fail_io:
    load_warnx("handshake: %s", errno != 0 ? strerror(errno) : "connection closed");
fail:
    nwsp_buf_free(&b);
    close(s->fd);
    s->fd = -1;
    return -1;
}

/* Sends the request in b and reads its reply; 0 if it succeeded, else -1. */
static int
sock_call(struct load_sock *s, const struct nwsp_buf *b, enum reply_kind kind,
          struct load_reply *r)
{
    if (sock_send_all(s->fd, b->data, b->len) != 0 || sock_reply(s, r, kind) != 0)
        return -1;
    return r->status == 0 ? 0 : -1;
}

/*
 * Server memory: /proc/<pid>/status, and a thread that samples VmRSS every
 * 10 ms to catch the peak of one phase.
 */

/* Returns the kB value of field key ("VmRSS") of pid, or -1. */
static long
proc_status_kb(long pid, const char *key)
{
    char  path[64], line[256];
    FILE *f;
    long  v = -1;
    size_t klen = strlen(key);

    if (pid <= 0)
        return -1;
    snprintf(path, sizeof(path), "/proc/%ld/status", pid);
    f = fopen(path, "r");
    if (f == NULL)
        return -1;
    while (fgets(line, sizeof(line), f) != NULL) {
        if (strncmp(line, key, klen) == 0 && line[klen] == ':') {
            v = strtol(line + klen + 1, NULL, 10);
            break;
        }
    }
    fclose(f);
    return v;
}

/*
 * CPU seconds (user + system) of pid so far, from /proc/<pid>/stat; -1 if
 * unknown.  The counters tick 100 times a second: over a 2 s run at half a
 * CPU that is about 1% of resolution.
 */
static double
proc_cpu_secs(long pid)
{
    char               path[64], buf[1024], *p;
    unsigned long long ut, st;
    size_t             n;
    FILE              *f;

    if (pid <= 0)
        return -1;
    snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
    if ((f = fopen(path, "r")) == NULL)
        return -1;
    n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    /* Fields 14 and 15, counted after the parenthesised command name. */
    if ((p = strrchr(buf, ')')) == NULL ||
        sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
        return -1;
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

/* This process's CPU seconds (every thread), user + system. */
static double
self_cpu_secs(void)
{
    struct rusage ru;

    if (getrusage(RUSAGE_SELF, &ru) != 0)
        return -1;
    return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

/* Sleeps until the monotonic time t (load_now's clock). */
static void
sleep_until(uint64_t t)
{
    uint64_t now;

    while ((now = load_now()) < t) {
        uint64_t        d = t - now;
        struct timespec ts = {(time_t)(d / 1000000000u), (long)(d % 1000000000u)};

        nanosleep(&ts, NULL);
    }
}

struct load_sampler {
    pthread_t   tid;
    atomic_int  stop;
    atomic_long peak_kb;
    int         running;
};

/* Sampler thread: keeps the highest VmRSS seen until told to stop. */
static void *
sampler_main(void *arg)
{
    struct load_sampler *sm = arg;
    struct timespec      ts = {.tv_sec = 0, .tv_nsec = LOAD_SAMPLE_NS};

    while (!atomic_load(&sm->stop)) {
        long kb = proc_status_kb(opts.server_pid, "VmRSS");

        if (kb > atomic_load(&sm->peak_kb))
            atomic_store(&sm->peak_kb, kb);
        nanosleep(&ts, NULL);
    }
    return NULL;
}

/* Starts sampling the server's RSS (no-op without --server-pid). */
static void
sampler_start(struct load_sampler *sm)
{
    atomic_store(&sm->stop, 0);
    atomic_store(&sm->peak_kb, proc_status_kb(opts.server_pid, "VmRSS"));
    sm->running = opts.server_pid > 0 &&
                  pthread_create(&sm->tid, NULL, sampler_main, sm) == 0;
}

/* Stops sampling; returns the peak VmRSS in kB, or -1 if unknown. */
static long
sampler_stop(struct load_sampler *sm)
{
    long kb;

    if (sm->running) {
        atomic_store(&sm->stop, 1);
        pthread_join(sm->tid, NULL);
        sm->running = 0;
    }
    kb = proc_status_kb(opts.server_pid, "VmRSS");
    if (kb > atomic_load(&sm->peak_kb))
        atomic_store(&sm->peak_kb, kb);
    return atomic_load(&sm->peak_kb);
}

/* Returns Redis's INFO memory used_memory in bytes, or -1. */
static long long
redis_used_memory(struct load_sock *s)
{
    struct nwsp_buf b = {0};
    const char     *argv[] = {"INFO", "memory"};
    size_t          lens[] = {4, 6};
    char            line[64], *text, *p;
    long long       n, v = -1;

    req_resp(&b, 2, argv, lens);
    if (sock_send_all(s->fd, b.data, b.len) != 0 || sock_resp_line(s, line, sizeof(line)))
        goto out;
    if (line[0] != '$' || (n = strtoll(line + 1, NULL, 10)) < 0 || n > 1000000)
        goto out;
    text = load_calloc(1, (size_t)n + 3);
    if (sock_read_exact(s, text, (size_t)n + 2) == 0) {
        text[n] = '\0';
        p = strstr(text, "used_memory:");
        if (p != NULL)
            v = strtoll(p + 12, NULL, 10);
    }
    free(text);
out:
    nwsp_buf_free(&b);
    return v;
}

/* Fills a value of len bytes with printable text. */
static char *
load_value(size_t len)
{
    static const char digits[] = "0123456789abcdefghijklmnopqrstuvwxyz";
    char             *v = load_calloc(1, len + 1);
    size_t            i;

    for (i = 0; i < len; i++)
        v[i] = digits[i % (sizeof(digits) - 1)];
    return v;
}

/*
 * rr mode.  Each connection is a small state machine driven by its thread's
 * epoll loop: STORE (batch of D stores written, D replies due), FETCH (the
 * same for D fetches), IDLE (finished), DEAD (failed, closed).
 */
enum conn_phase { CONN_STORE, CONN_FETCH, CONN_IDLE, CONN_DEAD };

struct load_thread;

struct load_conn {
    int                 fd;
    struct load_thread *th;
    struct nwsp_buf     sbatch;  /* D store requests */
    struct nwsp_buf     fbatch;  /* D fetch requests */
    struct nwsp_buf    *out;     /* batch being written; NULL when all written */
    size_t              woff;    /* bytes of *out already written */
    enum conn_phase     phase;
    int                 left;    /* replies still due in this phase */
    int                 epout;   /* EPOLLOUT is registered */
    uint64_t            t0;      /* start of the current batch */
    struct load_reply   rep;
};

struct load_thread {
    pthread_t          tid;
    int                ep;
    struct load_conn **conns;
    int                nconns;
    int                active;  /* connections not IDLE or DEAD */
    struct load_hist   hist;
    uint64_t           pairs;   /* counted: completed within the window */
    uint64_t           errors;
    uint64_t           unfinished;
    uint64_t           last;    /* time of the last counted completion */
    char               rbuf[LOAD_RBUF];
};

/* The measurement window, shared read-only by the threads. */
static uint64_t        rr_measure; /* counting starts */
static uint64_t        rr_deadline; /* no batch starts after this */
static atomic_uint_fast64_t rr_claimed; /* pairs handed out (with --ops) */

/* Sets the epoll interest of c: always input, output while a batch is unwritten. */
static int
conn_interest(struct load_conn *c, int want_out)
{
    struct epoll_event ev;

    if (c->epout == want_out)
        return 0;
    memset(&ev, 0, sizeof(ev));
    ev.events = EPOLLIN | (want_out ? EPOLLOUT : 0);
    ev.data.ptr = c;
    if (epoll_ctl(c->th->ep, EPOLL_CTL_MOD, c->fd, &ev) != 0)
        return -1;
    c->epout = want_out;
    return 0;
}

/* Closes c after a failure. */
static void
conn_fail(struct load_conn *c, const char *why)
{
    if (c->phase == CONN_DEAD)
        return;
    if (c->th->errors == 0)
        load_warnx("connection failed: %s", why);
    c->th->errors++;
    if (c->phase != CONN_IDLE)
        c->th->active--;
    c->phase = CONN_DEAD;
    close(c->fd);
    c->fd = -1;
}

/* Writes what it can of the current batch; registers for output if blocked. */
static void
conn_flush(struct load_conn *c)
{
    while (c->out != NULL && c->woff < c->out->len) {
        ssize_t k = send(c->fd, c->out->data + c->woff, c->out->len - c->woff, MSG_NOSIGNAL);

        if (k > 0) {
            c->woff += (size_t)k;
            continue;
        }
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            if (conn_interest(c, 1) != 0)
                conn_fail(c, "epoll_ctl");
            return;
        }
        conn_fail(c, k < 0 ? strerror(errno) : "send returned 0");
        return;
    }
    c->out = NULL;
    if (conn_interest(c, 0) != 0)
        conn_fail(c, "epoll_ctl");
}

/* Starts a phase: writes batch b, then expects its replies. */
static void
conn_phase(struct load_conn *c, enum conn_phase ph, struct nwsp_buf *b)
{
    c->phase = ph;
    c->left = opts.pipeline;
    c->out = b;
    c->woff = 0;
    reply_init(&c->rep, ph == CONN_STORE ? kind_store() : kind_fetch());
    conn_flush(c);
}

/* Starts the next batch of c, or makes it idle when the run is over. */
static void
conn_next(struct load_conn *c, uint64_t now)
{
    int go = now < rr_deadline;

    if (go && opts.ops > 0)
        go = atomic_fetch_add(&rr_claimed, (uint64_t)opts.pipeline) < opts.ops;
    if (!go) {
        c->phase = CONN_IDLE;
        c->th->active--;
        return;
    }
    c->t0 = now;
    conn_phase(c, CONN_STORE, &c->sbatch);
}

/* Handles one complete reply on c. */
static void
conn_replied(struct load_conn *c)
{
    struct load_thread *th = c->th;
    uint64_t            now;

    if (c->rep.status != 0) {
        char why[64];

        snprintf(why, sizeof(why), "%s failed, status %d",
                 c->phase == CONN_STORE ? "store" : "fetch", c->rep.status);
        conn_fail(c, why);
        return;
    }
    if (c->phase == CONN_FETCH && c->rep.vlen != (int64_t)opts.size) {
        conn_fail(c, "fetched value has the wrong length");
        return;
    }
    if (--c->left > 0) {
        reply_init(&c->rep, c->rep.kind);
        return;
    }
    if (c->phase == CONN_STORE) {
        conn_phase(c, CONN_FETCH, &c->fbatch);
        return;
    }
    now = load_now();
    if (now >= rr_measure && now <= rr_deadline) {
        th->pairs += (uint64_t)opts.pipeline;
        hist_add(&th->hist, now - c->t0);
        if (now > th->last)
            th->last = now;
    }
    conn_next(c, now);
}

/* Reads what c has to say and parses it. */
static void
conn_read(struct load_conn *c)
{
    struct load_thread *th = c->th;
    ssize_t             n, off = 0;

    n = recv(c->fd, th->rbuf, sizeof(th->rbuf), 0);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        return;
    if (n <= 0) {
        conn_fail(c, n == 0 ? "server closed the connection" : strerror(errno));
        return;
    }
    while (off < n) {
        ssize_t k;

        if (c->phase != CONN_STORE && c->phase != CONN_FETCH) {
            conn_fail(c, "unexpected bytes from the server");
            return;
        }
        k = reply_feed(&c->rep, th->rbuf + off, (size_t)(n - off));
        if (k < 0) {
            conn_fail(c, "bad reply framing");
            return;
        }
        off += k;
        if (c->rep.done) {
            conn_replied(c);
            if (c->phase == CONN_DEAD)
                return;
        }
    }
}

/* Thread body: drives its connections until all are idle or the grace ends. */
static void *
rr_thread(void *arg)
{
    struct load_thread *th = arg;
    struct epoll_event  evs[256];
    uint64_t            now = load_now();
    int                 i;

    for (i = 0; i < th->nconns; i++)
        conn_next(th->conns[i], now);
    while (th->active > 0) {
        int n;

        if (load_now() > rr_deadline + LOAD_GRACE_NS) {
            for (i = 0; i < th->nconns; i++) {
                struct load_conn *c = th->conns[i];

                if (c->phase == CONN_STORE || c->phase == CONN_FETCH) {
                    th->unfinished++;
                    close(c->fd);
                    c->fd = -1;
                    c->phase = CONN_DEAD;
                }
            }
            break;
        }
        n = epoll_wait(th->ep, evs, 256, 100);
        if (n < 0 && errno != EINTR) {
            load_warnx("epoll_wait: %s", strerror(errno));
            th->errors++;
            break;
        }
        for (i = 0; i < n; i++) {
            struct load_conn *c = evs[i].data.ptr;

            if (c->phase == CONN_DEAD)
                continue;
            if (evs[i].events & EPOLLOUT)
                conn_flush(c);
            if (c->phase != CONN_DEAD && (evs[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP)))
                conn_read(c);
        }
    }
    return NULL;
}

/* rr mode: returns the exit status. */
static int
run_rr(void)
{
    struct load_thread *ths;
    struct load_conn   *conns;
    struct load_hist   *hist;
    char               *val = load_value(opts.size);
    uint64_t            pairs = 0, errors = 0, unfinished = 0, last = 0, t_start;
    double              elapsed, srv_cpu0 = -1, srv_cpu1 = -1, cli_cpu0 = -1, cli_cpu1 = -1;
    size_t              per_conn;
    int                 i, j, nth = opts.threads;

    if (nth == 0)
        nth = opts.conns < 2 ? 1 : 2;
    if (nth > opts.conns)
        nth = opts.conns;
    per_conn = (size_t)opts.pipeline * ((size_t)opts.size + 256);
    if (per_conn * (size_t)(opts.shared_var ? 1 : opts.conns) > LOAD_MAX_BATCHMEM)
        load_fatal("conns * pipeline * size is too large (limit %zu MiB of requests)",
                   LOAD_MAX_BATCHMEM >> 20);
    ths = load_calloc((size_t)nth, sizeof(*ths));
    conns = load_calloc((size_t)opts.conns, sizeof(*conns));
    hist = load_calloc(1, sizeof(*hist));
    for (i = 0; i < nth; i++) {
        ths[i].ep = epoll_create1(EPOLL_CLOEXEC);
        if (ths[i].ep == -1)
            load_fatal("epoll_create1: %s", strerror(errno));
        ths[i].conns = load_calloc((size_t)opts.conns / (size_t)nth + 1, sizeof(void *));
    }
    for (i = 0; i < opts.conns; i++) {
        struct load_conn  *c = &conns[i];
        struct load_sock  *s = load_calloc(1, sizeof(*s));
        struct epoll_event ev;
        char               key[96];

        if (sock_open(s) != 0)
            load_fatal("connection %d of %d could not be opened", i + 1, opts.conns);
        if (s->off != s->len)
            load_fatal("server sent bytes nobody asked for");
        c->fd = s->fd;
        free(s);
        load_key(key, sizeof(key), "v", opts.shared_var ? 0 : i);
        if (opts.shared_var && i > 0) {
            load_add(&c->sbatch, conns[0].sbatch.data, conns[0].sbatch.len);
            load_add(&c->fbatch, conns[0].fbatch.data, conns[0].fbatch.len);
        } else {
            for (j = 0; j < opts.pipeline; j++) {
                req_store(&c->sbatch, key, val, (size_t)opts.size);
                req_fetch(&c->fbatch, key);
            }
        }
        if (fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) | O_NONBLOCK) != 0)
            load_fatal("fcntl: %s", strerror(errno));
        c->th = &ths[i % nth];
        c->th->conns[c->th->nconns++] = c;
        c->th->active++;
        memset(&ev, 0, sizeof(ev));
        ev.events = EPOLLIN;
        ev.data.ptr = c;
        if (epoll_ctl(c->th->ep, EPOLL_CTL_ADD, c->fd, &ev) != 0)
            load_fatal("epoll_ctl: %s", strerror(errno));
    }
    t_start = load_now();
    rr_measure = t_start + (uint64_t)(opts.warmup * 1e9);
    rr_deadline = rr_measure + (uint64_t)(opts.duration * 1e9);
    for (i = 0; i < nth; i++)
        if (pthread_create(&ths[i].tid, NULL, rr_thread, &ths[i]) != 0)
            load_fatal("pthread_create failed");
    /*
     * The CPU both sides spend in the measured window, per pair: a figure
     * that does not depend on where the scheduler put the threads.
     */
    if (opts.ops == 0) {
        sleep_until(rr_measure);
        srv_cpu0 = proc_cpu_secs(opts.server_pid);
        cli_cpu0 = self_cpu_secs();
        sleep_until(rr_deadline);
        srv_cpu1 = proc_cpu_secs(opts.server_pid);
        cli_cpu1 = self_cpu_secs();
    }
    for (i = 0; i < nth; i++) {
        pthread_join(ths[i].tid, NULL);
        pairs += ths[i].pairs;
        errors += ths[i].errors;
        unfinished += ths[i].unfinished;
        if (ths[i].last > last)
            last = ths[i].last;
        hist_merge(hist, &ths[i].hist);
        close(ths[i].ep);
        free(ths[i].conns);
    }
    /* With --ops the run may end before the deadline: divide by what it took. */
    if (opts.ops > 0 && last > rr_measure && last < rr_deadline)
        elapsed = load_secs(last - rr_measure);
    else
        elapsed = load_secs(rr_deadline - rr_measure);
    printf("nwsload proto=%s mode=rr conns=%d threads=%d size=%" PRIu64 " pipeline=%d"
           " var=%s seconds=%.3f pairs=%" PRIu64 " pairs_per_s=%.0f ops_per_s=%.0f",
           load_proto_names[opts.proto], opts.conns, nth, opts.size, opts.pipeline,
           opts.shared_var ? "shared" : "per-conn", elapsed, pairs,
           elapsed > 0 ? (double)pairs / elapsed : 0.0,
           elapsed > 0 ? 2.0 * (double)pairs / elapsed : 0.0);
    hist_print(stdout, hist);
    if (pairs > 0 && cli_cpu0 >= 0 && cli_cpu1 >= 0)
        printf(" client_cpu_us_per_pair=%.2f", (cli_cpu1 - cli_cpu0) * 1e6 / (double)pairs);
    if (pairs > 0 && srv_cpu0 >= 0 && srv_cpu1 >= 0)
        printf(" server_cpu_us_per_pair=%.2f", (srv_cpu1 - srv_cpu0) * 1e6 / (double)pairs);
    printf(" lat_of=batch errors=%" PRIu64 " unfinished=%" PRIu64 "\n", errors, unfinished);
    for (i = 0; i < opts.conns; i++) {
        if (conns[i].fd != -1)
            close(conns[i].fd);
        nwsp_buf_free(&conns[i].sbatch);
        nwsp_buf_free(&conns[i].fbatch);
    }
    free(conns);
    free(ths);
    free(hist);
    free(val);
    return errors == 0 && pairs > 0 ? 0 : 1;
}

/*
 * pingpong mode.  A (main thread): store a, fetch b.  B (second thread):
 * fetch a, store b.  Each fetch blocks in the server until the other side's
 * store.  A ends B with a token of a different length.
 */
struct load_pp {
    struct load_sock a, b;
    char             key_a[96], key_b[96];
    const char      *val;
    int              b_failed;
};

/* Thread B: hands every token it gets on a back through b. */
static void *
pp_b_main(void *arg)
{
    struct load_pp   *pp = arg;
    struct nwsp_buf   get = {0}, put = {0};
    struct load_reply r;
    uint64_t          rounds = 0;

    if (opts.proto == LOAD_NWS)
        req_fetch(&get, pp->key_a);
    else
        req_blpop(&get, pp->key_a);
    req_store(&put, pp->key_b, pp->val, (size_t)opts.size);
    /* Bounded: A stops us with its final token; a silent A times us out. */
    for (;;) {
        if (sock_call(&pp->b, &get, kind_fetch(), &r) != 0) {
            pp->b_failed = 1;
            break;
        }
        if (r.vlen != (int64_t)opts.size)
            break; /* the stop token */
        if (sock_call(&pp->b, &put, kind_store(), &r) != 0) {
            pp->b_failed = 1;
            break;
        }
        rounds++;
    }
    nwsp_buf_free(&get);
    nwsp_buf_free(&put);
    return NULL;
}

/* pingpong mode: returns the exit status. */
static int
run_pingpong(void)
{
    struct load_pp    pp;
    struct load_hist *hist = load_calloc(1, sizeof(*hist));
    struct nwsp_buf   put = {0}, get = {0}, stop = {0};
    struct load_reply r;
    pthread_t         tid;
    uint64_t          t_start, t_measure, t_deadline, now, t0, rounds = 0, last = 0;
    uint64_t          errors = 0, total = 0;
    double            elapsed;
    char             *stopval = load_value((size_t)opts.size + 1);

    memset(&pp, 0, sizeof(pp));
    pp.val = load_value((size_t)opts.size);
    load_key(pp.key_a, sizeof(pp.key_a), "ppa", 0);
    load_key(pp.key_b, sizeof(pp.key_b), "ppb", 0);
    if (sock_open(&pp.a) != 0 || sock_open(&pp.b) != 0)
        load_fatal("could not open the two connections");
    req_store(&put, pp.key_a, pp.val, (size_t)opts.size);
    req_store(&stop, pp.key_a, stopval, (size_t)opts.size + 1);
    if (opts.proto == LOAD_NWS)
        req_fetch(&get, pp.key_b);
    else
        req_blpop(&get, pp.key_b);
    if (pthread_create(&tid, NULL, pp_b_main, &pp) != 0)
        load_fatal("pthread_create failed");
    t_start = load_now();
    t_measure = t_start + (uint64_t)(opts.warmup * 1e9);
    t_deadline = t_measure + (uint64_t)(opts.duration * 1e9);
    for (now = t_start; now < t_deadline && (opts.ops == 0 || total < opts.ops);) {
        t0 = now;
        if (sock_call(&pp.a, &put, kind_store(), &r) != 0 ||
            sock_call(&pp.a, &get, kind_fetch(), &r) != 0 || r.vlen != (int64_t)opts.size) {
            load_warnx("pingpong: round trip failed");
            errors++;
            break;
        }
        now = load_now();
        total++;
        if (now >= t_measure && now <= t_deadline) {
            rounds++;
            hist_add(hist, now - t0);
            last = now;
        }
    }
    if (sock_call(&pp.a, &stop, kind_store(), &r) != 0)
        errors++;
    pthread_join(tid, NULL);
    if (pp.b_failed) {
        load_warnx("pingpong: the second client failed");
        errors++;
    }
    if (opts.ops > 0 && last > t_measure && last < t_deadline)
        elapsed = load_secs(last - t_measure);
    else
        elapsed = load_secs(t_deadline - t_measure);
    printf("nwsload proto=%s mode=pingpong size=%" PRIu64
           " seconds=%.3f roundtrips=%" PRIu64 " roundtrips_per_s=%.0f",
           load_proto_names[opts.proto], opts.size, elapsed, rounds,
           elapsed > 0 ? (double)rounds / elapsed : 0.0);
    hist_print(stdout, hist);
    printf(" lat_of=roundtrip errors=%" PRIu64 "\n", errors);
    close(pp.a.fd);
    close(pp.b.fd);
    nwsp_buf_free(&put);
    nwsp_buf_free(&get);
    nwsp_buf_free(&stop);
    free(stopval);
    free((char *)pp.val);
    free(hist);
    return errors == 0 && rounds > 0 ? 0 : 1;
}

/*
 * fill mode: store opts.count values into one variable over one connection,
 * pipelined (replies read after each batch), and report the server's memory
 * before, at the peak and after; then delete the variable and report again.
 */
static int
run_fill(void)
{
    struct load_sock   *s = load_calloc(1, sizeof(*s));
    struct load_sampler sm;
    struct nwsp_buf     batch = {0}, del = {0};
    struct load_reply   r;
    char                key[96];
    char               *val = load_value((size_t)opts.size);
    size_t              reqlen;
    uint64_t            done = 0, t0, t1;
    long                rss0, rss1, rss2, hwm1, peak;
    long long           used0 = -1, used1 = -1, used2 = -1;
    int                 i, errors = 0;
    double              secs;
    struct timespec     settle = {.tv_sec = 0, .tv_nsec = 200000000L};

    memset(&sm, 0, sizeof(sm));
    if (sock_open(s) != 0)
        load_fatal("could not open the connection");
    load_key(key, sizeof(key), "fill", 0);
    req_store(&batch, key, val, (size_t)opts.size);
    reqlen = batch.len;
    for (i = 1; i < opts.pipeline; i++)
        req_store(&batch, key, val, (size_t)opts.size);
    rss0 = proc_status_kb(opts.server_pid, "VmRSS");
    if (opts.proto == LOAD_REDIS)
        used0 = redis_used_memory(s);
    sampler_start(&sm);
    t0 = load_now();
    while (done < opts.count) { /* bounded by count; each call by timeouts */
        uint64_t k = opts.count - done < (uint64_t)opts.pipeline ? opts.count - done
                                                                 : (uint64_t)opts.pipeline;
        uint64_t j;

        if (sock_send_all(s->fd, batch.data, (size_t)k * reqlen) != 0) {
            load_warnx("fill: send failed after %" PRIu64 " values", done);
            errors++;
            break;
        }
        for (j = 0; j < k; j++) {
            if (sock_reply(s, &r, kind_store()) != 0 || r.status != 0) {
                load_warnx("fill: store %" PRIu64 " failed", done + j + 1);
                errors++;
                break;
            }
        }
        if (errors > 0)
            break;
        done += k;
    }
    t1 = load_now();
    peak = sampler_stop(&sm);
    rss1 = proc_status_kb(opts.server_pid, "VmRSS");
    hwm1 = proc_status_kb(opts.server_pid, "VmHWM");
    if (opts.proto == LOAD_REDIS)
        used1 = redis_used_memory(s);
    req_delete(&del, key);
    /* --keep: the values stay for a restart to load (bench/journal.sh). */
    if (!opts.keep &&
        sock_call(s, &del, opts.proto == LOAD_NWS ? REPLY_NWS_SHORT : REPLY_RESP, &r) !=
            0) {
        load_warnx("fill: deleting the variable failed");
        errors++;
    }
    nanosleep(&settle, NULL);
    rss2 = proc_status_kb(opts.server_pid, "VmRSS");
    if (opts.proto == LOAD_REDIS)
        used2 = redis_used_memory(s);
    secs = load_secs(t1 - t0);
    printf("nwsload proto=%s mode=fill count=%" PRIu64 " size=%" PRIu64
           " pipeline=%d stored=%" PRIu64 " seconds=%.3f stores_per_s=%.0f"
           " rss_before_kb=%ld rss_full_kb=%ld rss_peak_kb=%ld hwm_kb=%ld"
           " rss_after_delete_kb=%ld bytes_per_value=%.1f",
           load_proto_names[opts.proto], opts.count, opts.size, opts.pipeline, done, secs,
           secs > 0 ? (double)done / secs : 0.0, rss0, rss1, peak, hwm1, rss2,
           rss0 >= 0 && done > 0 ? (double)(rss1 - rss0) * 1024.0 / (double)done : -1.0);
    if (opts.proto == LOAD_REDIS)
        printf(" used_memory_before=%lld used_memory_full=%lld used_memory_after_delete=%lld"
               " used_memory_per_value=%.1f",
               used0, used1, used2,
               used0 >= 0 && used1 >= 0 && done > 0 ? (double)(used1 - used0) / (double)done
                                                     : -1.0);
    printf(" errors=%d\n", errors);
    close(s->fd);
    free(s);
    free(val);
    nwsp_buf_free(&batch);
    nwsp_buf_free(&del);
    return errors == 0 ? 0 : 1;
}

/*
 * conns mode: hold opts.nconns connections open, each handshaken (NWS: `use
 * ws` done) and then idle, and read the server's RSS growth; with --blocked,
 * then send each one a blocking fetch (BLPOP for Redis) on a variable of its
 * own that nobody stores to, and read the growth again.  Only the fds are
 * kept: one load_sock is reused for every handshake.
 */

/* Raises RLIMIT_NOFILE to at least want descriptors (up to the hard limit). */
static void
conns_raise_nofile(rlim_t want)
{
    struct rlimit rl;

    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return;
    if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < want) {
        rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > want ? want : rl.rlim_max;
        (void)setrlimit(RLIMIT_NOFILE, &rl);
    }
}

/* Returns the server's VmRSS in kB after letting it settle for 300 ms. */
static long
conns_rss_settled(void)
{
    struct timespec settle = {.tv_sec = 0, .tv_nsec = 300000000L};

    nanosleep(&settle, NULL);
    return proc_status_kb(opts.server_pid, "VmRSS");
}

/* conns mode: returns the exit status. */
static int
run_conns(void)
{
    struct load_sock *s = load_calloc(1, sizeof(*s));
    struct load_sock *ctl = NULL;
    int              *fds = load_calloc((size_t)opts.nconns, sizeof(*fds));
    struct nwsp_buf   b = {0};
    char              key[96];
    uint64_t          n = 0, nb = 0, i, t0, t1;
    long              rss0, rss1, rss2 = -1;
    long long         used0 = -1, used1 = -1, used2 = -1;
    int               errors = 0;

    conns_raise_nofile((rlim_t)opts.nconns + 64);
    if (opts.proto == LOAD_REDIS) { /* INFO goes over a connection of its own */
        ctl = load_calloc(1, sizeof(*ctl));
        if (sock_open(ctl) != 0)
            load_fatal("could not open the control connection");
        used0 = redis_used_memory(ctl);
    }
    rss0 = conns_rss_settled();
    t0 = load_now();
    for (n = 0; n < opts.nconns; n++) { /* bounded by nconns; each call by timeouts */
        if (sock_open(s) != 0) {
            load_warnx("conns: connection %" PRIu64 " failed", n + 1);
            errors++;
            break;
        }
        if (s->off != s->len) {
            load_warnx("conns: unexpected bytes after the handshake");
            close(s->fd);
            errors++;
            break;
        }
        fds[n] = s->fd;
    }
    t1 = load_now();
    rss1 = conns_rss_settled();
    if (ctl != NULL)
        used1 = redis_used_memory(ctl);
    if (opts.blocked && errors == 0) {
        for (i = 0; i < n; i++) {
            nwsp_buf_reset(&b);
            load_key(key, sizeof(key), "blk", (int)i);
            if (opts.proto == LOAD_NWS) {
                req_fetch(&b, key);
            } else {
                const char *argv[] = {"BLPOP", key, "0"};
                size_t      lens[] = {5, strlen(key), 1};

                req_resp(&b, 3, argv, lens);
            }
            if (sock_send_all(fds[i], b.data, b.len) != 0) {
                load_warnx("conns: blocking fetch %" PRIu64 " failed", i + 1);
                errors++;
                break;
            }
            nb++;
        }
        rss2 = conns_rss_settled();
        if (ctl != NULL)
            used2 = redis_used_memory(ctl);
    }
    for (i = 0; i < n; i++)
        close(fds[i]);
    printf("nwsload proto=%s mode=conns conns=%" PRIu64 " opened=%" PRIu64
           " blocked=%" PRIu64 " open_s=%.3f rss_before_kb=%ld rss_idle_kb=%ld"
           " rss_blocked_kb=%ld bytes_per_idle_conn=%.0f bytes_per_blocked=%.0f",
           load_proto_names[opts.proto], opts.nconns, n, nb, load_secs(t1 - t0), rss0, rss1,
           rss2, rss0 >= 0 && rss1 >= 0 && n > 0 ? (double)(rss1 - rss0) * 1024.0 / (double)n
                                                 : -1.0,
           rss1 >= 0 && rss2 >= 0 && nb > 0 ? (double)(rss2 - rss1) * 1024.0 / (double)nb
                                            : -1.0);
    if (ctl != NULL) {
        printf(" used_memory_per_idle_conn=%.0f used_memory_per_blocked=%.0f",
               used0 >= 0 && used1 >= 0 && n > 0 ? (double)(used1 - used0) / (double)n : -1.0,
               used1 >= 0 && used2 >= 0 && nb > 0 ? (double)(used2 - used1) / (double)nb
                                                  : -1.0);
        close(ctl->fd);
        free(ctl);
    }
    printf(" errors=%d\n", errors);
    nwsp_buf_free(&b);
    free(fds);
    free(s);
    return errors == 0 ? 0 : 1;
}

/*
 * large mode.  The value is generated chunk by chunk (1 MiB of fixed random
 * bytes, each chunk stamped with its index) and checksummed as it goes; the
 * receiver checksums chunk-aligned buffers, so both sums cover the same words.
 */
struct load_sum {
    uint64_t a, b;
};

/* Adds n bytes (n % 8 == 0 except at the very end) to a Fletcher-style sum. */
static void
sum_update(struct load_sum *s, const unsigned char *p, size_t n)
{
    uint64_t a = s->a, b = s->b, w;
    size_t   i;

    for (i = 0; i + 8 <= n; i += 8) {
        memcpy(&w, p + i, 8);
        a += w;
        b += a;
    }
    if (i < n) {
        w = 0;
        memcpy(&w, p + i, n - i);
        a += w;
        b += a;
    }
    s->a = a;
    s->b = b;
}

/* Returns the digest of s. */
static uint64_t
sum_digest(const struct load_sum *s)
{
    return s->b ^ (s->a * 0x9e3779b97f4a7c15ull);
}

/* The generator: one chunk buffer, restamped for every chunk. */
struct load_gen {
    unsigned char  *chunk;
    uint64_t        total, sent;
    struct load_sum sum;
};

/* Prepares a generator of total bytes. */
static void
gen_init(struct load_gen *g, uint64_t total)
{
    uint64_t x = 0x2545f4914f6cdd1dull;
    size_t   i;

    memset(g, 0, sizeof(*g));
    g->chunk = load_calloc(1, LOAD_CHUNK);
    for (i = 0; i + 8 <= LOAD_CHUNK; i += 8) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        memcpy(g->chunk + i, &x, 8);
    }
    g->total = total;
}

/* Sends the whole value to fd, chunk by chunk; 0 or -1. */
static int
gen_send(struct load_gen *g, int fd)
{
    uint64_t idx = 0;

    while (g->sent < g->total) { /* bounded by total; each send by its timeout */
        size_t n = g->total - g->sent < LOAD_CHUNK ? (size_t)(g->total - g->sent) : LOAD_CHUNK;

        memcpy(g->chunk, &idx, n < 8 ? n : 8);
        sum_update(&g->sum, g->chunk, n);
        if (sock_send_all(fd, g->chunk, n) != 0)
            return -1;
        g->sent += n;
        idx++;
    }
    return 0;
}

/* Receives total bytes on s into chunk-aligned buffers, summing them; 0 or -1. */
static int
recv_sum(struct load_sock *s, uint64_t total, struct load_sum *sum)
{
    unsigned char *buf = load_calloc(1, LOAD_CHUNK);
    uint64_t       got = 0;
    int            rc = 0;

    while (got < total) {
        size_t n = total - got < LOAD_CHUNK ? (size_t)(total - got) : LOAD_CHUNK;

        if (sock_read_exact(s, buf, n) != 0) {
            rc = -1;
            break;
        }
        sum_update(sum, buf, n);
        got += n;
    }
    free(buf);
    return rc;
}

struct load_lb {
    int             fd;
    uint64_t        total;
    int             failed;
};

/* Loopback sender thread. */
static void *
lb_send_main(void *arg)
{
    struct load_lb *lb = arg;
    struct load_gen g;

    gen_init(&g, lb->total);
    lb->failed = gen_send(&g, lb->fd) != 0;
    shutdown(lb->fd, SHUT_WR);
    free(g.chunk);
    return NULL;
}

/* Measures a plain 127.0.0.1 socket copy of total bytes; returns seconds or -1. */
static double
loopback_copy(uint64_t total, uint64_t expect)
{
    struct sockaddr_in sin;
    socklen_t          slen = sizeof(sin);
    struct load_lb     lb = {.fd = -1, .total = total};
    struct load_sock  *s = load_calloc(1, sizeof(*s));
    struct load_sum    sum = {0, 0};
    pthread_t          tid;
    int                ls, one = 1;
    uint64_t           t0, t1;
    double             secs = -1.0;

    s->fd = -1;
    ls = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (ls == -1 || bind(ls, (struct sockaddr *)&sin, sizeof(sin)) != 0 ||
        listen(ls, 1) != 0 || getsockname(ls, (struct sockaddr *)&sin, &slen) != 0) {
        load_warnx("loopback: %s", strerror(errno));
        goto out;
    }
    lb.fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (lb.fd == -1)
        goto out;
    setsockopt(lb.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    sock_timeouts(lb.fd, LOAD_LARGE_TIMEOUT);
    if (connect(lb.fd, (struct sockaddr *)&sin, sizeof(sin)) != 0)
        goto out;
    s->fd = accept(ls, NULL, NULL);
    if (s->fd == -1)
        goto out;
    sock_timeouts(s->fd, LOAD_LARGE_TIMEOUT);
    t0 = load_now();
    if (pthread_create(&tid, NULL, lb_send_main, &lb) != 0)
        goto out;
    if (recv_sum(s, total, &sum) != 0)
        load_warnx("loopback: receive failed");
    t1 = load_now();
    pthread_join(tid, NULL);
    if (!lb.failed && sum_digest(&sum) == expect)
        secs = load_secs(t1 - t0);
    else
        load_warnx("loopback: copy failed or checksum mismatch");
out:
    if (s->fd != -1)
        close(s->fd);
    if (lb.fd != -1)
        close(lb.fd);
    if (ls != -1)
        close(ls);
    free(s);
    return secs;
}

/* large mode: returns the exit status. */
static int
run_large(void)
{
    struct load_sock   *s = load_calloc(1, sizeof(*s));
    struct load_sampler sm;
    struct load_gen     g;
    struct load_sum     rsum = {0, 0};
    struct load_reply   r;
    struct nwsp_buf     hdr = {0}, get = {0};
    char                key[96], desc[NWSP_D20_LEN], line[64];
    uint64_t            t0, t1, t2, t3, vlen = 0;
    long                rss0, rss_store, rss_mid, rss_fetch, rss_end;
    double              lb = -1.0, store_s, fetch_s;
    int                 errors = 0, ok = 0;

    memset(&sm, 0, sizeof(sm));
    if (sock_open(s) != 0)
        load_fatal("could not open the connection");
    sock_timeouts(s->fd, LOAD_LARGE_TIMEOUT);
    load_key(key, sizeof(key), "large", 0);
    /* --keep and --fetch-only are two processes: a name without the pid. */
    if (opts.keep || opts.fetch_only)
        snprintf(key, sizeof(key), "%s",
                 opts.proto == LOAD_NWS ? "largekept" : "nwsload:largekept");
    gen_init(&g, opts.large);
    /* The request header; the value's bytes follow from the generator. */
    if (opts.proto == LOAD_NWS) {
        const char *argv[] = {"store", opts.ws, key, desc};
        size_t      lens[] = {5, strlen(opts.ws), strlen(key), NWSP_D20_LEN};

        req_desc(desc);
        if (nwsp_buf_argc(&hdr, 5) != 0)
            load_fatal("out of memory");
        for (int i = 0; i < 4; i++)
            if (nwsp_buf_arg(&hdr, argv[i], lens[i]) != 0)
                load_fatal("out of memory");
        if (nwsp_buf_arg_header(&hdr, opts.large) != 0)
            load_fatal("out of memory");
    } else {
        load_addf(&hdr, "*3\r\n$5\r\nLPUSH\r\n$%zu\r\n%s\r\n$%" PRIu64 "\r\n", strlen(key),
                  key, opts.large);
    }
    req_fetch(&get, key);
    rss0 = proc_status_kb(opts.server_pid, "VmRSS");

    sampler_start(&sm);
    t0 = load_now();
    if (opts.fetch_only) {
        /* The journal rows: the value a --keep run left before a restart. */
    } else if (sock_send_all(s->fd, hdr.data, hdr.len) != 0 || gen_send(&g, s->fd) != 0 ||
               (opts.proto == LOAD_REDIS && sock_send_all(s->fd, "\r\n", 2) != 0) ||
               sock_reply(s, &r, kind_store()) != 0 || r.status != 0) {
        load_warnx("large: store failed (%s)", errno ? strerror(errno) : "error reply");
        errors++;
    }
    t1 = load_now();
    rss_store = sampler_stop(&sm);
    rss_mid = proc_status_kb(opts.server_pid, "VmRSS");

    sampler_start(&sm);
    t2 = load_now();
    if (errors == 0 && !opts.keep) {
        if (sock_send_all(s->fd, get.data, get.len) != 0) {
            errors++;
        } else if (opts.proto == LOAD_NWS) {
            char     h[NWS_LONG_HDR];
            uint64_t st;

            if (sock_read_exact(s, h, sizeof(h)) != 0 ||
                nwsp_parse_u64(h, NWSP_D4_LEN, 9999, &st) != 0 || st != 0 ||
                nwsp_parse_u64(h + NWS_LONG_HDR - NWSP_D20_LEN, NWSP_D20_LEN, INT64_MAX,
                               &vlen) != 0)
                errors++;
        } else {
            long long n;

            if (sock_resp_line(s, line, sizeof(line)) != 0 || line[0] != '$' ||
                (n = strtoll(line + 1, NULL, 10)) < 0)
                errors++;
            else
                vlen = (uint64_t)n;
        }
        if (errors == 0 && vlen != opts.large) {
            load_warnx("large: fetched %" PRIu64 " bytes, stored %" PRIu64, vlen, opts.large);
            errors++;
        }
        if (errors == 0 && recv_sum(s, vlen, &rsum) != 0)
            errors++;
        if (errors == 0 && opts.proto == LOAD_REDIS && sock_read_exact(s, line, 2) != 0)
            errors++;
        if (errors > 0)
            load_warnx("large: fetch failed");
    }
    t3 = load_now();
    rss_fetch = sampler_stop(&sm);
    rss_end = proc_status_kb(opts.server_pid, "VmRSS");
    /* fetch_only: the generator never ran; compare fetch_digest with the keep run. */
    ok = errors == 0 &&
         (opts.keep || opts.fetch_only || sum_digest(&rsum) == sum_digest(&g.sum));
    if (errors == 0 && !ok) {
        load_warnx("large: checksum mismatch");
        errors++;
    }
    close(s->fd);
    if (opts.loopback)
        lb = loopback_copy(opts.large, sum_digest(&g.sum));
    store_s = load_secs(t1 - t0);
    fetch_s = load_secs(t3 - t2);
    printf("nwsload proto=%s mode=large size=%" PRIu64 " store_s=%.3f store_GBps=%.3f"
           " fetch_s=%.3f fetch_GBps=%.3f checksum=%s digest=%016" PRIx64
           " rss_before_kb=%ld rss_peak_store_kb=%ld rss_stored_kb=%ld"
           " rss_peak_fetch_kb=%ld rss_after_kb=%ld loopback_s=%.3f loopback_GBps=%.3f"
           " fetch_digest=%016" PRIx64 " errors=%d\n",
           load_proto_names[opts.proto], opts.large, store_s,
           errors ? 0.0 : (double)opts.large / store_s / 1e9, fetch_s,
           errors ? 0.0 : (double)opts.large / fetch_s / 1e9, ok ? "ok" : "bad",
           sum_digest(&g.sum), rss0, rss_store, rss_mid, rss_fetch, rss_end, lb,
           lb > 0 ? (double)opts.large / lb / 1e9 : 0.0, sum_digest(&rsum), errors);
    free(g.chunk);
    free(s);
    nwsp_buf_free(&hdr);
    nwsp_buf_free(&get);
    return errors == 0 ? 0 : 1;
}

/* Parses a byte count with an optional binary suffix (k, m, g, t; "KiB" etc.). */
static uint64_t
parse_size(const char *arg, const char *what)
{
    uint64_t v;

    if (nwsp_parse_size(arg, UINT64_MAX, &v) != 0)
        load_fatal("%s: not a size (or too large): %s", what, arg);
    return v;
}

/* Parses an integer in [lo, hi]. */
static long
parse_int(const char *arg, long lo, long hi, const char *what)
{
    char *end;
    long  v;

    errno = 0;
    v = strtol(arg, &end, 10);
    if (errno != 0 || end == arg || *end != '\0' || v < lo || v > hi)
        load_fatal("%s: expected an integer in [%ld, %ld]: %s", what, lo, hi, arg);
    return v;
}

/* Parses a number of seconds in [lo, hi]. */
static double
parse_secs(const char *arg, double lo, double hi, const char *what)
{
    char  *end;
    double v;

    errno = 0;
    v = strtod(arg, &end);
    if (errno != 0 || end == arg || *end != '\0' || !(v >= lo && v <= hi))
        load_fatal("%s: expected seconds in [%g, %g]: %s", what, lo, hi, arg);
    return v;
}

/* Prints the usage text on f. */
static void
usage(FILE *f)
{
    fputs("usage: nwsload --port N [options]\n"
          "  --proto nws|redis     protocol of the server (default nws)\n"
          "  --host 127.0.0.1      server address; loopback (127.0.0.0/8) only\n"
          "  --port N              server port\n"
          "  --mode rr             store+fetch round trips (default)\n"
          "  --mode pingpong       two clients pass a token with blocking fetch\n"
          "  --mode fill N         store N values in one variable, report server memory\n"
          "  --mode large SIZE     store and fetch one SIZE-byte value, GB/s\n"
          "  --mode conns N        hold N idle connections, report server memory\n"
          "  --blocked             conns: then park a blocking fetch on each\n"
          "  --conns C             rr: connections (default 1)\n"
          "  --threads T           rr: event-loop threads (default min(2, C))\n"
          "  --size B              value size, e.g. 16, 1K (default 16)\n"
          "  --pipeline D          D stores then D fetches per batch (default 1;\n"
          "                        fill: 256)\n"
          "  --duration S          measured seconds (default 3)\n"
          "  --warmup S            unmeasured seconds first (default 0.3; 0 with --ops)\n"
          "  --ops N               stop after N pairs (pingpong: round trips)\n"
          "  --shared-var          rr: all connections use one variable\n"
          "  --ws NAME             NWS workspace (default nwsload)\n"
          "  --server-pid P        read the server's RSS from /proc/P/status\n"
          "  --no-loopback         large: skip the plain socket reference copy\n"
          "  --keep                large: store only and leave the value there;\n"
          "                        fill: do not delete the values at the end\n"
          "  --fetch-only          large: only fetch the value a --keep run left\n"
          "  --timeout S           hard limit for the whole run (default: by mode)\n"
          "Prints one line of key=value pairs.  A pair is one store plus one fetch.\n",
          f);
}

/* Takes the argument that follows --mode fill/large (as "fill N" or "fill=N"). */
static const char *
mode_arg(int argc, char **argv, const char *eq)
{
    if (eq != NULL)
        return eq + 1;
    if (optind < argc && argv[optind][0] != '-')
        return argv[optind++];
    load_fatal("--mode needs a value after it, e.g. --mode fill 1000000");
}

/* Parses the command line into opts. */
static void
parse_args(int argc, char **argv)
{
    enum { O_PROTO = 256, O_HOST, O_PORT, O_MODE, O_CONNS, O_THREADS, O_SIZE,
           O_PIPELINE, O_DURATION, O_WARMUP, O_OPS, O_SHARED, O_WS, O_PID, O_NOLB,
           O_TIMEOUT, O_BLOCKED, O_HELP };
    enum { O_KEEP = 512, O_FETCH_ONLY };
    static const struct option lopts[] = {
        {"proto", required_argument, NULL, O_PROTO},
        {"keep", no_argument, NULL, O_KEEP},
        {"fetch-only", no_argument, NULL, O_FETCH_ONLY},
        {"host", required_argument, NULL, O_HOST},
        {"port", required_argument, NULL, O_PORT},
        {"mode", required_argument, NULL, O_MODE},
        {"conns", required_argument, NULL, O_CONNS},
        {"threads", required_argument, NULL, O_THREADS},
        {"size", required_argument, NULL, O_SIZE},
        {"pipeline", required_argument, NULL, O_PIPELINE},
        {"duration", required_argument, NULL, O_DURATION},
        {"warmup", required_argument, NULL, O_WARMUP},
        {"ops", required_argument, NULL, O_OPS},
        {"shared-var", no_argument, NULL, O_SHARED},
        {"ws", required_argument, NULL, O_WS},
        {"server-pid", required_argument, NULL, O_PID},
        {"no-loopback", no_argument, NULL, O_NOLB},
        {"timeout", required_argument, NULL, O_TIMEOUT},
        {"blocked", no_argument, NULL, O_BLOCKED},
        {"help", no_argument, NULL, O_HELP},
        {NULL, 0, NULL, 0},
    };
    int ch, duration_set = 0;

    while ((ch = getopt_long(argc, argv, "+", lopts, NULL)) != -1) {
        switch (ch) {
        case O_PROTO:
            if (strcmp(optarg, "nws") == 0)
                opts.proto = LOAD_NWS;
            else if (strcmp(optarg, "redis") == 0 || strcmp(optarg, "resp") == 0)
                opts.proto = LOAD_REDIS;
            else
                load_fatal("--proto: nws or redis, not %s", optarg);
            break;
        case O_HOST:
            opts.host = optarg;
            break;
        case O_PORT:
            opts.port = (int)parse_int(optarg, 1, 65535, "--port");
            break;
        case O_MODE: {
            const char *eq = strchr(optarg, '=');
            size_t      n = eq != NULL ? (size_t)(eq - optarg) : strlen(optarg);

            if (n == 2 && strncmp(optarg, "rr", 2) == 0) {
                opts.mode = LOAD_RR;
            } else if (n == 8 && strncmp(optarg, "pingpong", 8) == 0) {
                opts.mode = LOAD_PINGPONG;
            } else if (n == 4 && strncmp(optarg, "fill", 4) == 0) {
                opts.mode = LOAD_FILL;
                opts.count = parse_size(mode_arg(argc, argv, eq), "--mode fill");
            } else if (n == 5 && strncmp(optarg, "large", 5) == 0) {
                opts.mode = LOAD_LARGE;
                opts.large = parse_size(mode_arg(argc, argv, eq), "--mode large");
            } else if (n == 5 && strncmp(optarg, "conns", 5) == 0) {
                opts.mode = LOAD_CONNS;
                opts.nconns = parse_size(mode_arg(argc, argv, eq), "--mode conns");
            } else {
                load_fatal("--mode: rr, pingpong, fill N, large SIZE or conns N, not %s",
                           optarg);
            }
            break;
        }
        case O_CONNS:
            opts.conns = (int)parse_int(optarg, 1, LOAD_MAX_CONNS, "--conns");
            break;
        case O_THREADS:
            opts.threads = (int)parse_int(optarg, 1, LOAD_MAX_THREADS, "--threads");
            break;
        case O_SIZE:
            opts.size = parse_size(optarg, "--size");
            break;
        case O_PIPELINE:
            opts.pipeline = (int)parse_int(optarg, 1, LOAD_MAX_PIPELINE, "--pipeline");
            break;
        case O_DURATION:
            duration_set = 1;
            opts.duration = parse_secs(optarg, 0.01, 3600, "--duration");
            break;
        case O_WARMUP:
            opts.warmup = parse_secs(optarg, 0, 3600, "--warmup");
            break;
        case O_OPS:
            opts.ops = parse_size(optarg, "--ops");
            break;
        case O_SHARED:
            opts.shared_var = 1;
            break;
        case O_WS:
            opts.ws = optarg;
            break;
        case O_PID:
            opts.server_pid = parse_int(optarg, 1, 0x7fffffff, "--server-pid");
            break;
        case O_NOLB:
            opts.loopback = 0;
            break;
        case O_TIMEOUT:
            opts.timeout = (int)parse_int(optarg, 1, 86400, "--timeout");
            break;
        case O_BLOCKED:
            opts.blocked = 1;
            break;
        case O_KEEP:
            opts.keep = 1;
            break;
        case O_FETCH_ONLY:
            opts.fetch_only = 1;
            break;
        case O_HELP:
            usage(stdout);
            exit(0);
        default:
            usage(stderr);
            exit(2);
        }
    }
    if (optind != argc)
        load_fatal("unexpected argument: %s", argv[optind]);
    if (opts.port == 0)
        load_fatal("--port is required (see --help)");
    if (inet_pton(AF_INET, opts.host, &opts.addr) != 1 ||
        (ntohl(opts.addr.s_addr) >> 24) != 127)
        load_fatal("--host must be a loopback IPv4 address (127.0.0.0/8), not %s",
                   opts.host);
    if (opts.size > (64u << 20) && opts.mode != LOAD_LARGE)
        load_fatal("--size above 64 MiB: use --mode large");
    if (opts.mode == LOAD_LARGE && opts.large == 0)
        load_fatal("--mode large needs a size above 0");
    if (opts.mode == LOAD_FILL && opts.count == 0)
        load_fatal("--mode fill needs a count above 0");
    if (opts.mode == LOAD_CONNS && (opts.nconns == 0 || opts.nconns > LOAD_MAX_IDLE))
        load_fatal("--mode conns needs a count in [1, %d]", LOAD_MAX_IDLE);
    if (opts.pipeline == 0)
        opts.pipeline = opts.mode == LOAD_FILL ? LOAD_FILL_DEPTH : 1;
    if (opts.warmup < 0)
        opts.warmup = opts.ops > 0 ? 0.0 : 0.3;
    if (opts.ops > 0 && !duration_set)
        opts.duration = 600; /* --ops alone: the count ends the run */
    if (opts.timeout == 0) {
        double t = opts.warmup + opts.duration + 60;

        if (opts.mode == LOAD_FILL || opts.mode == LOAD_LARGE || opts.mode == LOAD_CONNS)
            t = 900;
        opts.timeout = (int)t;
    }
}

int
main(int argc, char **argv)
{
    int rc;

    setvbuf(stdout, NULL, _IOLBF, 0);
    parse_args(argc, argv);
    signal(SIGPIPE, SIG_IGN);
    /* The last line of defence: whatever hangs, the process ends. */
    alarm((unsigned)opts.timeout);
    switch (opts.mode) {
    case LOAD_RR:
        rc = run_rr();
        break;
    case LOAD_PINGPONG:
        rc = run_pingpong();
        break;
    case LOAD_FILL:
        rc = run_fill();
        break;
    case LOAD_CONNS:
        rc = run_conns();
        break;
    default:
        rc = run_large();
        break;
    }
    return rc;
}
