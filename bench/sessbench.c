/*
 * sessbench.c -- what a session costs per operation (issue 15).
 *
 * One connection repeats store+fetch pairs on one fifo variable for a
 * fixed time: D stores written at once, their D replies read, then D
 * fetches, their D replies read (D = --pipeline; 1 is strict request and
 * reply).  With --session the handshake asks for NwsSession `new` and every
 * request carries the 40-byte header of docs/SESSIONS.md (seq, ack), so the
 * server keeps every mutation's reply until the next batch acknowledges it;
 * without it the connection is classic.  Run against a server with sessions
 * on and one with --no-sessions (bench/sessions.sh does), the rows say what
 * the header, the kept replies and the bookkeeping cost.
 *
 * --libnws measures the same strict pairs through libnws (nws_store_bytes,
 * nws_fetch), with a session (the default) or NWS_CONNECT_NO_SESSION: the
 * client's side of the cost too (the request header, the re-send log).
 *
 * With --server-pid, the server's CPU time per pair (from /proc) is
 * reported too, and the client's own always: on a shared, loaded machine
 * CPU per pair varies far less than pairs per second.
 *
 * Prints one line of key=value pairs; diagnostics on stderr.  Only
 * 127.0.0.1 is used, and the run is bounded by --seconds and alarm().
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "frame.h"
#include "nws.h"
#include "util.h"

#define SB_MAX_PIPELINE 4096
#define SB_VALUE_MAX    65536

static int      sb_fd = -1;
static int      sb_session;     /* --session: header before every request */
static uint64_t sb_seq, sb_ack; /* the last seq sent, the last reply read */
static char     sb_in[1 << 16]; /* buffered input */
static size_t   sb_in_off, sb_in_len;

/* Prints why and exits 1. */
static void __attribute__((noreturn, format(printf, 1, 2))) sb_fatal(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    fputs("sessbench: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(1);
}

/* Reads exactly len bytes (buffered). */
static void
sb_read(void *dst, size_t len)
{
    char   *d = dst;
    ssize_t r;

    while (len > 0) {
        if (sb_in_off == sb_in_len) {
            r = read(sb_fd, sb_in, sizeof(sb_in));
            if (r <= 0)
                sb_fatal("read: %s", r == 0 ? "connection closed" : strerror(errno));
            sb_in_off = 0;
            sb_in_len = (size_t)r;
        }
        r = (ssize_t)(sb_in_len - sb_in_off < len ? sb_in_len - sb_in_off : len);
        memcpy(d, sb_in + sb_in_off, (size_t)r);
        sb_in_off += (size_t)r;
        d += r;
        len -= (size_t)r;
    }
}

static void
sb_write(const void *p, size_t len)
{
    const char *s = p;
    ssize_t     w;

    while (len > 0) {
        w = write(sb_fd, s, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            sb_fatal("write: %s", strerror(errno));
        s += w;
        len -= (size_t)w;
    }
}

/* Reads a dictionary (D4 n, then D4 klen key D4 vlen value each) into a new buffer. */
static char *
sb_read_dict(size_t *outlen)
{
    struct nwsp_buf b = {0};
    char            d4[4];
    uint64_t        n, k, i, j;

    sb_read(d4, 4);
    nwsp_buf_add(&b, d4, 4);
    if (nwsp_parse_u64(d4, 4, 9999, &n) != 0)
        sb_fatal("bad dictionary count");
    for (i = 0; i < n * 2; i++) {
        sb_read(d4, 4);
        nwsp_buf_add(&b, d4, 4);
        if (nwsp_parse_u64(d4, 4, 9999, &k) != 0)
            sb_fatal("bad dictionary length");
        for (j = 0; j < k; j++) {
            char ch;

            sb_read(&ch, 1);
            nwsp_buf_add(&b, &ch, 1);
        }
    }
    *outlen = b.len;
    return b.data;
}

/* Connects and runs the new-style handshake, asking for a session if told to. */
static void
sb_connect(int port)
{
    struct sockaddr_in sin;
    struct nwsp_buf    b = {0};
    char               w[4], *d;
    const char        *v;
    size_t             dlen, vlen;
    int                one = 1;

    if ((sb_fd = socket(AF_INET, SOCK_STREAM, 0)) < 0)
        sb_fatal("socket: %s", strerror(errno));
    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_port = htons((uint16_t)port);
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(sb_fd, (struct sockaddr *)&sin, sizeof(sin)) != 0)
        sb_fatal("connect to port %d: %s", port, strerror(errno));
    setsockopt(sb_fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    sb_write(NWSP_HS_NEW, 4);
    sb_read(w, 4);
    if (memcmp(w, NWSP_HS_ADVERTISE, 4) != 0)
        sb_fatal("handshake: expected P000");
    d = sb_read_dict(&dlen);
    if (sb_session && !nwsp_dict_get(d, dlen, "NwsSession", &v, &vlen))
        sb_fatal("the server does not advertise NwsSession (--no-sessions?)");
    if (nwsp_dict_get(d, dlen, "NwsAuth", &v, &vlen))
        sb_fatal("the server wants a secret: start it with --no-auth");
    free(d);
    nwsp_buf_add(&b, NWSP_HS_REQUEST, 4);
    nwsp_buf_dict_begin(&b, sb_session ? 1 : 0);
    if (sb_session)
        nwsp_buf_dict_put(&b, "NwsSession", 10, "new", 3);
    sb_write(b.data, b.len);
    nwsp_buf_free(&b);
    sb_read(w, 4);
    if (memcmp(w, NWSP_HS_ACCEPT, 4) != 0)
        sb_fatal("handshake: expected A000, got %.4s", w);
    if (sb_session) {
        d = sb_read_dict(&dlen);
        if (!nwsp_dict_get(d, dlen, "NwsSession", &v, &vlen) || vlen != 16 + 1 + 32)
            sb_fatal("no session in the dictionary after A000");
        free(d);
    }
}

/* Appends one request (header first on a session) of argc arguments. */
static void
sb_request(struct nwsp_buf *b, unsigned argc, const char *const *argv, const size_t *lens)
{
    unsigned i;

    if (sb_session) {
        char h[40];

        nwsp_put_d20(h, ++sb_seq);
        nwsp_put_d20(h + 20, sb_ack);
        nwsp_buf_add(b, h, 40);
    }
    nwsp_buf_argc(b, argc);
    for (i = 0; i < argc; i++)
        nwsp_buf_arg(b, argv[i], lens[i]);
}

/* Reads a short reply and checks status 0. */
static void
sb_short(void)
{
    char st[4];

    sb_read(st, 4);
    if (memcmp(st, "0000", 4) != 0)
        sb_fatal("request failed: status %.4s", st);
}

/* Reads a long reply (cookie on: new-style handshake) of a value of len bytes. */
static void
sb_long(size_t len)
{
    char     head[4 + 20 + 20 + 20 + 20], val[SB_VALUE_MAX];
    uint64_t got;

    sb_read(head, sizeof(head));
    if (memcmp(head, "0000", 4) != 0)
        sb_fatal("fetch failed: status %.4s", head);
    if (nwsp_parse_u64(head + 64, 20, SB_VALUE_MAX, &got) != 0 || got != len)
        sb_fatal("fetch: unexpected value length");
    sb_read(val, len);
}

/* CPU seconds (user + system) of process pid so far, from /proc; -1 if unknown. */
static double
sb_proc_cpu(long pid)
{
    char   path[64], buf[1024], *p;
    FILE  *f;
    size_t n;
    double ut, st;

    snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
    if ((f = fopen(path, "r")) == NULL)
        return -1;
    n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    /* After the command name in parentheses: fields 3.. ; utime is 14, stime 15. */
    if ((p = strrchr(buf, ')')) == NULL ||
        sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lf %lf", &ut, &st) !=
            2)
        return -1;
    return (ut + st) / (double)sysconf(_SC_CLK_TCK);
}

/* CPU seconds of this process so far. */
static double
sb_self_cpu(void)
{
    struct rusage ru;

    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

/* The key=value line of a run. */
static void
sb_print(const char *mode, int depth, size_t size, uint64_t pairs, uint64_t t0,
         uint64_t t1, double scpu, double ccpu)
{
    double secs = (double)(t1 > t0 ? t1 - t0 : 1) / 1000;

    printf("mode=%s pipeline=%d size=%zu pairs=%" PRIu64 " seconds=%.2f pairs_per_s=%.0f",
           mode, depth, size, pairs, secs, (double)pairs / secs);
    if (scpu >= 0 && pairs > 0)
        printf(" server_us_per_pair=%.2f", scpu * 1e6 / (double)pairs);
    if (pairs > 0)
        printf(" client_us_per_pair=%.2f", ccpu * 1e6 / (double)pairs);
    printf("\n");
}

/* --libnws: strict pairs through the library; returns pairs done by deadline. */
static uint64_t
sb_libnws(int port, const char *val, size_t size, uint64_t deadline)
{
    nws_error   err;
    nws_client *c;
    nws_ws     *ws;
    nws_value  *v;
    uint64_t    pairs = 0;

    c = nws_connect("127.0.0.1", port, sb_session ? 0 : NWS_CONNECT_NO_SESSION, &err);
    if (c == NULL)
        sb_fatal("nws_connect: %s", err.text);
    if (sb_session && nws_session_id(c) == NULL)
        sb_fatal("libnws got no session (--no-sessions?)");
    if ((ws = nws_ws_use(c, "sessbench", 0, &err)) == NULL)
        sb_fatal("nws_ws_use: %s", err.text);
    do {
        if (nws_store_bytes(ws, "x", val, size, &err) != 0)
            sb_fatal("nws_store_bytes: %s", err.text);
        if ((v = nws_fetch(ws, "x", &err)) == NULL)
            sb_fatal("nws_fetch: %s", err.text);
        nws_value_free(v);
        pairs++;
    } while (nwsp_mono_ms() < deadline);
    nws_ws_free(ws);
    nws_close(c);
    return pairs;
}

int
main(int argc, char **argv)
{
    static const struct option longopts[] = {{"port", required_argument, NULL, 'p'},
                                             {"pipeline", required_argument, NULL, 'D'},
                                             {"seconds", required_argument, NULL, 's'},
                                             {"size", required_argument, NULL, 'z'},
                                             {"session", no_argument, NULL, 'S'},
                                             {"libnws", no_argument, NULL, 'L'},
                                             {"server-pid", required_argument, NULL, 'P'},
                                             {NULL, 0, NULL, 0}};
    struct nwsp_buf            stores = {0}, fetches = {0}, use = {0};
    int                        port = 0, depth = 1, ch, i, lib = 0;
    long                       spid = 0;
    double                     s0, c0;
    double                     seconds = 3;
    size_t                     size = 16;
    char                       val[SB_VALUE_MAX];
    uint64_t                   pairs = 0, t0, t1, deadline;

    while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (ch) {
        case 'p':
            port = atoi(optarg);
            break;
        case 'D':
            depth = atoi(optarg);
            break;
        case 's':
            seconds = atof(optarg);
            break;
        case 'z':
            size = (size_t)atol(optarg);
            break;
        case 'S':
            sb_session = 1;
            break;
        case 'L':
            lib = 1;
            break;
        case 'P':
            spid = atol(optarg);
            break;
        default:
            fprintf(stderr, "usage: sessbench --port N [--pipeline D] [--seconds S] "
                            "[--size BYTES] [--session] [--libnws] [--server-pid PID]\n");
            return 2;
        }
    }
    if (port <= 0 || depth < 1 || depth > SB_MAX_PIPELINE || seconds <= 0 ||
        seconds > 600 || size < 1 || size > SB_VALUE_MAX)
        sb_fatal("bad arguments (see --help)");
    alarm((unsigned)seconds + 60);
    memset(val, 'v', size);
    if (lib) {
        if (depth != 1)
            sb_fatal("--libnws runs strict pairs only (--pipeline 1)");
        s0 = spid > 0 ? sb_proc_cpu(spid) : -1;
        c0 = sb_self_cpu();
        t0 = nwsp_mono_ms();
        pairs = sb_libnws(port, val, size, t0 + (uint64_t)(seconds * 1000));
        t1 = nwsp_mono_ms();
        sb_print(sb_session ? "libnws-session" : "libnws-classic", 1, size, pairs, t0, t1,
                 s0 >= 0 ? sb_proc_cpu(spid) - s0 : -1, sb_self_cpu() - c0);
        return 0;
    }
    sb_connect(port);
    {
        const char *a[] = {"use ws", "sessbench", "", "no"};
        size_t      l[] = {6, 9, 0, 2};

        sb_request(&use, 4, a, l);
        sb_write(use.data, use.len);
        sb_short();
        sb_ack = sb_seq;
    }
    s0 = spid > 0 ? sb_proc_cpu(spid) : -1;
    c0 = sb_self_cpu();
    t0 = nwsp_mono_ms();
    deadline = t0 + (uint64_t)(seconds * 1000);
    do {
        const char *sa[] = {"store", "sessbench", "x", "1", val};
        size_t      sl[] = {5, 9, 1, 1, size};
        const char *fa[] = {"fetch", "sessbench", "x"};
        size_t      fl[] = {5, 9, 1};

        /* Built anew each batch: on a session every request has its own seq. */
        nwsp_buf_reset(&stores);
        nwsp_buf_reset(&fetches);
        for (i = 0; i < depth; i++)
            sb_request(&stores, 5, sa, sl);
        sb_write(stores.data, stores.len);
        for (i = 0; i < depth; i++)
            sb_short();
        sb_ack = sb_seq;
        for (i = 0; i < depth; i++)
            sb_request(&fetches, 3, fa, fl);
        sb_write(fetches.data, fetches.len);
        for (i = 0; i < depth; i++)
            sb_long(size);
        sb_ack = sb_seq;
        pairs += (uint64_t)depth;
    } while ((t1 = nwsp_mono_ms()) < deadline);
    sb_print(sb_session ? "session" : "classic", depth, size, pairs, t0, t1,
             s0 >= 0 ? sb_proc_cpu(spid) - s0 : -1, sb_self_cpu() - c0);
    nwsp_buf_free(&stores);
    nwsp_buf_free(&fetches);
    nwsp_buf_free(&use);
    close(sb_fd);
    return 0;
}
