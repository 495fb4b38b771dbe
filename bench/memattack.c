/*
 * memattack.c -- the memory attacks of issue "Trust under attack" item 3,
 * measured: the server's peak RSS and a probe client's latency.
 *
 * usage: memattack --server PATH --attack NAME [--max-memory SIZE]
 *                  [--seconds N] [--scale F] [--rcvbuf N] [-- server options...]
 *
 * Starts PATH on 127.0.0.1 (port 0, no web interface, a private temp
 * directory) with --max-memory SIZE (default 64M), and runs one attack
 * while a probe connection does "store" of a small value then "fetchTry"
 * every 0.1 s, timing each pair:
 *
 *   listing  20,000 empty variables with 1000-byte names, then 60
 *            connections each send one "list wss" and never read
 *   biglist  50,000 such variables (with --max-memory 1G), then one
 *            connection reads "list vars" over and over
 *   names    fetchTry on 200,000 new 1024-byte variable names, then
 *            "open ws" of 50,000 workspaces (run with --max-memory 16M)
 *   findtry  100 connections pipeline findTry of a 4000-byte value (10,000
 *            each) and never read
 *   trickle  17 connections announce a 15 MiB store and send one byte
 *            every 2 s; the probe stores 8 MiB values instead (a refused
 *            probe store is counted as an error)
 *
 * Counts scale with --scale (default 1).  --rcvbuf sets the attackers'
 * SO_RCVBUF: on loopback their receive buffers are this machine's memory
 * too, and filling them is CPU time the server spends before the sockets
 * are full (an attacker elsewhere costs the server only its send buffers).  Prints one line: the attack,
 * the server's RSS before and its peak (VmHWM), the probe's p50, p99 and
 * maximum in ms, and the probe's errors (MEMATTACK_SLOW=1 in the
 * environment also prints each probe over 50 ms).  Loopback only; bounded in time
 * (the setup plus --seconds, default 8) and in traffic.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "util.h"

#define MA_MAX_CONNS 256
#define MA_MAX_PROBES 100000

static char   ma_tmpdir[] = "/tmp/memattack.XXXXXX";
static int    ma_port;
static int    ma_rcvbuf;      /* attackers' SO_RCVBUF (0: the system's) */
static pid_t  ma_pid;
static double ma_scale = 1.0;

static void
ma_die(const char *what)
{
    perror(what);
    if (ma_pid > 0)
        kill(ma_pid, SIGKILL);
    exit(2);
}

/* A growable byte string of requests. */
struct ma_buf {
    char  *p;
    size_t len, cap;
};

static void
ma_add(struct ma_buf *b, const void *p, size_t n)
{
    if (b->len + n > b->cap) {
        b->cap = (b->len + n) * 2;
        if ((b->p = realloc(b->p, b->cap)) == NULL)
            ma_die("realloc");
    }
    memcpy(b->p + b->len, p, n);
    b->len += n;
}

/* Appends a request of argc arguments (lens[i] bytes each). */
static void
ma_req(struct ma_buf *b, int argc, const char *const *argv, const size_t *lens)
{
    char num[32];
    int  i;

    snprintf(num, sizeof(num), "%04d", argc);
    ma_add(b, num, 4);
    for (i = 0; i < argc; i++) {
        size_t n = lens != NULL ? lens[i] : strlen(argv[i]);

        snprintf(num, sizeof(num), "%020zu", n);
        ma_add(b, num, 20);
        ma_add(b, argv[i], n);
    }
}

/* A connection with the old-style handshake (no cookie, no metadata). */
static int
ma_connect(void)
{
    struct sockaddr_in sin;
    char               hs[4];
    int                fd, one = 1;

    if ((fd = socket(AF_INET, SOCK_STREAM, 0)) == -1)
        ma_die("socket");
    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_port = htons((uint16_t)ma_port);
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&sin, sizeof(sin)) != 0)
        ma_die("connect");
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (write(fd, "0000", 4) != 4 || recv(fd, hs, 4, MSG_WAITALL) != 4)
        ma_die("handshake");
    return fd;
}

static void
ma_write_all(int fd, const char *p, size_t n)
{
    ssize_t w;

    while (n > 0) {
        if ((w = write(fd, p, n)) <= 0) {
            if (w < 0 && errno == EINTR)
                continue;
            ma_die("write");
        }
        p += w;
        n -= (size_t)w;
    }
}

static void
ma_read_all(int fd, char *p, size_t n)
{
    ssize_t r;

    while (n > 0) {
        if ((r = read(fd, p, n)) <= 0) {
            if (r < 0 && errno == EINTR)
                continue;
            ma_die("read");
        }
        p += r;
        n -= (size_t)r;
    }
}

/* Reads a short reply: its status. */
static int
ma_short(int fd)
{
    char st[5] = {0};

    ma_read_all(fd, st, 4);
    return atoi(st);
}

/* Reads a long reply (value skipped): its status. */
static int
ma_long(int fd)
{
    char    hdr[45] = {0}, buf[65536];
    size_t  len;
    int     st;

    ma_read_all(fd, hdr, 44);
    st = atoi((char[5]){hdr[0], hdr[1], hdr[2], hdr[3], 0});
    len = (size_t)strtoull(hdr + 24, NULL, 10);
    while (len > 0) {
        size_t k = len < sizeof(buf) ? len : sizeof(buf);

        ma_read_all(fd, buf, k);
        len -= k;
    }
    return st;
}

/* Sends a blob of n requests and reads n replies (long or short). */
static void
ma_pipeline(int fd, struct ma_buf *b, int n, int is_long)
{
    int i;

    ma_write_all(fd, b->p, b->len);
    for (i = 0; i < n; i++)
        (void)(is_long ? ma_long(fd) : ma_short(fd));
    b->len = 0;
}

static long
ma_status_kib(const char *field)
{
    char  path[64], line[256];
    long  kib = 0;
    FILE *fp;

    snprintf(path, sizeof(path), "/proc/%d/status", (int)ma_pid);
    if ((fp = fopen(path, "r")) == NULL)
        return 0;
    while (fgets(line, sizeof(line), fp) != NULL) {
        if (strncmp(line, field, strlen(field)) == 0) {
            kib = strtol(line + strlen(field), NULL, 10);
            break;
        }
    }
    fclose(fp);
    return kib;
}

/* Removes the server's temp directory and what it left there. */
static void
ma_rmdir(void)
{
    char cmd[128];

    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", ma_tmpdir);
    if (system(cmd) != 0)
        fprintf(stderr, "memattack: could not remove %s\n", ma_tmpdir);
}

/* Starts the server; its port goes to ma_port. */
static void
ma_start(const char *path, const char *maxmem, char **extra, int nextra)
{
    const char *argv[64];
    char       *tmpdir = ma_tmpdir, line[512], *p;
    int         pfd[2], argc = 0, i;
    FILE       *fp;

    if (mkdtemp(tmpdir) == NULL)
        ma_die("mkdtemp");
    argv[argc++] = path;
    argv[argc++] = "--port";
    argv[argc++] = "0";
    argv[argc++] = "--no-web";
    argv[argc++] = "--no-auth";     /* it speaks the classic protocol, no handshake secret */
    argv[argc++] = "--tmpdir";
    argv[argc++] = tmpdir;
    argv[argc++] = "--max-memory";
    argv[argc++] = maxmem;
    argv[argc++] = "--log-level";
    argv[argc++] = "error";
    for (i = 0; i < nextra && argc < 62; i++)
        argv[argc++] = extra[i];
    argv[argc] = NULL;
    if (pipe(pfd) != 0)
        ma_die("pipe");
    if ((ma_pid = fork()) == 0) {
        dup2(pfd[1], 1);
        close(pfd[0]);
        execv(path, (char *const *)argv);
        _exit(127);
    }
    close(pfd[1]);
    if ((fp = fdopen(pfd[0], "r")) == NULL)
        ma_die("fdopen");
    while (fgets(line, sizeof(line), fp) != NULL) {
        if ((p = strstr(line, "port=")) != NULL) {
            ma_port = atoi(p + 5);
            break;
        }
    }
    if (ma_port == 0) {
        fprintf(stderr, "memattack: the server did not start\n");
        exit(2);
    }
}

/* The probe: store+fetchTry every 0.1 s, timing each; plus the attack's tick. */
struct ma_probe {
    int    fd;
    size_t vlen;
    char  *val;
    double lat[MA_MAX_PROBES];
    int    n, errors;
};

static void
ma_probe_once(struct ma_probe *pr)
{
    struct ma_buf b = {0};
    const char   *st[] = {"store", "probe", "p", "3", pr->val};
    size_t        lens[] = {5, 5, 1, 1, pr->vlen};
    const char   *ft[] = {"fetchTry", "probe", "p"};
    double        t0 = nwsp_mono();

    ma_req(&b, 5, st, lens);
    ma_req(&b, 3, ft, NULL);
    ma_write_all(pr->fd, b.p, b.len);
    if (ma_short(pr->fd) != 0)
        pr->errors++;
    if (ma_long(pr->fd) != 0)
        pr->errors++;
    if (getenv("MEMATTACK_SLOW") != NULL && nwsp_mono() - t0 > 0.05)
        fprintf(stderr, "slow probe %d: %.1f ms\n", pr->n, (nwsp_mono() - t0) * 1000.0);
    if (pr->n < MA_MAX_PROBES)
        pr->lat[pr->n++] = (nwsp_mono() - t0) * 1000.0;
    free(b.p);
}

static int
ma_cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

/* Writes what it can of each attacker's blob without blocking. */
static void
ma_push(int *fds, struct ma_buf *blobs, size_t *sent, int n)
{
    int     i;
    ssize_t w;

    for (i = 0; i < n; i++) {
        while (sent[i] < blobs[i].len) {
            w = send(fds[i], blobs[i].p + sent[i], blobs[i].len - sent[i], MSG_DONTWAIT);
            if (w <= 0)
                break;
            sent[i] += (size_t)w;
        }
    }
}

static int
ma_scaled(int n)
{
    int k = (int)(n * ma_scale);

    return k < 1 ? 1 : k;
}

/* Declares n empty variables with 1000-byte names in ws, pipelined. */
static void
ma_make_vars(int fd, const char *ws, int n)
{
    struct ma_buf b = {0};
    char          name[1001];
    const char   *a[] = {"declare var", ws, name, "fifo"};
    int           i, k = 0;

    memset(name, 'n', 1000);
    name[1000] = '\0';
    for (i = 0; i < n; i++) {
        snprintf(name + 990, 11, "%010u", (unsigned)i % 1000000000u);
        ma_req(&b, 4, a, NULL);
        if (++k == 1000) {
            ma_pipeline(fd, &b, k, 0);
            k = 0;
        }
    }
    if (k > 0)
        ma_pipeline(fd, &b, k, 0);
    free(b.p);
}

int
main(int argc, char **argv)
{
    static struct ma_probe pr;
    static struct ma_buf   blobs[MA_MAX_CONNS];
    static size_t          sent[MA_MAX_CONNS];
    static int             fds[MA_MAX_CONNS];
    const char            *server = NULL, *attack = NULL, *maxmem = "64M";
    char                 **extra = NULL;
    double                 seconds = 8, t_end, next_probe, next_tick = 0;
    long                   rss0, hwm;
    int                    i, k, nconn = 0, nextra = 0, ctl;
    int                    big_reader = -1;

    signal(SIGPIPE, SIG_IGN);
    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--server") == 0 && i + 1 < argc)
            server = argv[++i];
        else if (strcmp(argv[i], "--attack") == 0 && i + 1 < argc)
            attack = argv[++i];
        else if (strcmp(argv[i], "--max-memory") == 0 && i + 1 < argc)
            maxmem = argv[++i];
        else if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc)
            seconds = atof(argv[++i]);
        else if (strcmp(argv[i], "--rcvbuf") == 0 && i + 1 < argc)
            ma_rcvbuf = atoi(argv[++i]);
        else if (strcmp(argv[i], "--scale") == 0 && i + 1 < argc)
            ma_scale = atof(argv[++i]);
        else if (strcmp(argv[i], "--") == 0) {
            extra = argv + i + 1;
            nextra = argc - i - 1;
            break;
        } else {
            fprintf(stderr, "usage: memattack --server PATH --attack "
                            "listing|biglist|names|findtry|trickle [--max-memory SIZE] "
                            "[--seconds N] [--scale F] [-- server options]\n");
            return 2;
        }
    }
    if (server == NULL || attack == NULL)
        return 2;
    ma_start(server, maxmem, extra, nextra);
    ctl = ma_connect();
    pr.fd = ma_connect();
    pr.vlen = strcmp(attack, "trickle") == 0 ? 8 << 20 : 100;
    if ((pr.val = malloc(pr.vlen)) == NULL)
        ma_die("malloc");
    memset(pr.val, 'p', pr.vlen);
    {
        struct ma_buf b = {0};
        const char   *u[] = {"use ws", "w", "", "no"};
        const char   *p[] = {"use ws", "probe", "", "no"};

        ma_req(&b, 4, u, NULL);
        ma_pipeline(ctl, &b, 1, 0);
        ma_req(&b, 4, p, NULL);
        ma_pipeline(pr.fd, &b, 1, 0);
        free(b.p);
    }

    /* Setup (not measured for latency). */
    if (strcmp(attack, "listing") == 0) {
        ma_make_vars(ctl, "w", ma_scaled(20000));
        nconn = ma_scaled(60);
    } else if (strcmp(attack, "biglist") == 0) {
        ma_make_vars(ctl, "w", ma_scaled(50000));
    } else if (strcmp(attack, "findtry") == 0) {
        struct ma_buf b = {0};
        char          v[4000];
        const char   *st[] = {"store", "w", "v", "3", v};
        size_t        lens[] = {5, 1, 1, 1, sizeof(v)};

        memset(v, 'v', sizeof(v));
        ma_req(&b, 5, st, lens);
        ma_pipeline(ctl, &b, 1, 0);
        free(b.p);
        nconn = ma_scaled(100);
    } else if (strcmp(attack, "trickle") == 0) {
        nconn = ma_scaled(17);
    } else if (strcmp(attack, "names") == 0) {
        nconn = 1;
    } else {
        fprintf(stderr, "memattack: unknown attack %s\n", attack);
        kill(ma_pid, SIGKILL);
        return 2;
    }
    if (nconn > MA_MAX_CONNS)
        nconn = MA_MAX_CONNS;
    rss0 = ma_status_kib("VmRSS:");

    /* The attackers' requests. */
    for (i = 0; i < nconn; i++) {
        const char *u[] = {"use ws", "w", "", "no"};

        fds[i] = ma_connect();
        if (ma_rcvbuf > 0)
            setsockopt(fds[i], SOL_SOCKET, SO_RCVBUF, &ma_rcvbuf, sizeof(ma_rcvbuf));
        ma_req(&blobs[i], 4, u, NULL);
        if (strcmp(attack, "listing") == 0) {
            const char *l[] = {"list wss"};

            ma_req(&blobs[i], 1, l, NULL);
        } else if (strcmp(attack, "findtry") == 0) {
            const char *f[] = {"findTry", "w", "v"};

            for (k = 0; k < ma_scaled(10000); k++)
                ma_req(&blobs[i], 3, f, NULL);
        } else if (strcmp(attack, "trickle") == 0) {
            char        var[32];
            const char *st[] = {"store", "w", var, "3"};
            char        num[32];

            snprintf(var, sizeof(var), "t%d", i);
            ma_add(&blobs[i], "0005", 4);
            for (k = 0; k < 4; k++) {
                snprintf(num, sizeof(num), "%020zu", strlen(st[k]));
                ma_add(&blobs[i], num, 20);
                ma_add(&blobs[i], st[k], strlen(st[k]));
            }
            snprintf(num, sizeof(num), "%020d", 15 << 20);
            ma_add(&blobs[i], num, 20);
            ma_add(&blobs[i], "x", 1);
        } else if (strcmp(attack, "names") == 0) {
            char        name[1025];
            const char *f[] = {"fetchTry", "w", name};
            const char *o[] = {"open ws", name, "me", "no"};

            memset(name, 'n', 1024);
            name[1024] = '\0';
            for (k = 0; k < ma_scaled(200000); k++) {
                snprintf(name + 1014, 11, "%010u", (unsigned)k % 1000000000u);
                ma_req(&blobs[i], 3, f, NULL);
            }
            for (k = 0; k < ma_scaled(50000); k++) {
                snprintf(name + 1014, 11, "%010u", (unsigned)k % 1000000000u);
                ma_req(&blobs[i], 4, o, NULL);
            }
        }
    }
    if (strcmp(attack, "biglist") == 0) {
        big_reader = ma_connect();
        struct ma_buf b = {0};
        const char   *u[] = {"use ws", "w", "", "no"};

        ma_req(&b, 4, u, NULL);
        ma_pipeline(big_reader, &b, 1, 0);
        free(b.p);
    }

    t_end = nwsp_mono() + seconds;
    next_probe = nwsp_mono();
    while (nwsp_mono() < t_end) {
        ma_push(fds, blobs, sent, nconn);
        if (strcmp(attack, "names") == 0 && nconn == 1) {
            /* Read and drop the replies, so the attack is not throttled. */
            char junk[65536];

            while (recv(fds[0], junk, sizeof(junk), MSG_DONTWAIT) > 0)
                ;
        }
        if (strcmp(attack, "trickle") == 0 && nwsp_mono() >= next_tick) {
            for (i = 0; i < nconn; i++)
                if (sent[i] == blobs[i].len)
                    (void)!send(fds[i], "x", 1, MSG_DONTWAIT);
            next_tick = nwsp_mono() + 2;
        }
        if (big_reader >= 0) {
            struct ma_buf b = {0};
            const char   *l[] = {"list vars", "w"};
            struct pollfd p = {big_reader, POLLIN, 0};

            if (next_tick == 0) {
                ma_req(&b, 2, l, NULL);
                ma_write_all(big_reader, b.p, b.len);
                free(b.p);
                next_tick = 1;
            } else if (poll(&p, 1, 0) == 1) {
                ma_long(big_reader);   /* reads the whole listing */
                next_tick = 0;
            }
        }
        if (nwsp_mono() >= next_probe) {
            ma_probe_once(&pr);
            next_probe += 0.1;
        } else {
            usleep(2000);
        }
    }
    hwm = ma_status_kib("VmHWM:");
    qsort(pr.lat, (size_t)pr.n, sizeof(double), ma_cmp);
    printf("%-8s rss_before=%ldMB rss_peak=%ldMB probe_n=%d p50=%.1fms p99=%.1fms "
           "max=%.1fms probe_errors=%d\n",
           attack, rss0 / 1024, hwm / 1024, pr.n, pr.n ? pr.lat[pr.n / 2] : 0.0,
           pr.n ? pr.lat[(int)(pr.n * 0.99)] : 0.0, pr.n ? pr.lat[pr.n - 1] : 0.0, pr.errors);
    kill(ma_pid, SIGTERM);
    waitpid(ma_pid, NULL, 0);
    ma_rmdir();
    return 0;
}
