/*
 * session.c -- the client side of sessions (docs/SESSIONS.md section 5):
 * the request header, the re-send log, and the reconnect that resumes.
 *
 * Requests are built with a 40-byte placeholder in front (request.c) and
 * may be sent in any number of writes, several per write (bulk.c, the
 * sleigh) or one in many (a streamed store).  Every byte sent goes through
 * nwsp_sess_out(), which follows the request grammar (header, [DICT],
 * D4(argc), arguments) to know where each request starts, gives it the
 * next seq and the current ack in place of the placeholder, and copies it
 * into the log, where it stays until its reply has been read.  So the log
 * always holds, in order, every byte the caller meant to send whose reply
 * was not read: after a reconnect, sending the log's tail again is all it
 * takes, whatever the caller was doing.
 *
 * Replies are followed by position: c->rx_total counts the bytes of the
 * reply stream received, so rx_total minus what is still buffered is what
 * the caller consumed.  reply.c calls nwsp_sess_reply_start() for each
 * reply header with the span the reply takes; a reply is read whole once
 * the consumed position passes its end.  After a reconnect the server
 * answers again from the first reply not read whole, and the bytes of it
 * the caller already consumed are dropped, so the caller's reads go on
 * where they were (a kept reply comes back byte for byte; a find is run
 * again, see libnws.3).
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "nwsp.h"
#include "util.h"

#define SESS_HDR_LEN       40
#define SESS_LOG_MAX       ((size_t)64 << 20)  /* bytes of requests kept to send again */
#define SESS_LOG_KEEP      ((size_t)1 << 20)   /* an empty log keeps this much memory */
#define SESS_PIPE_COPY_MAX ((uint64_t)1 << 20) /* a value from a pipe copied to resend */
#define SESS_BACKOFF_MIN   0.05
#define SESS_BACKOFF_MAX   1.0
#define SESS_END_MS        5000 /* nws_close waits this long for `end session` */

/* Where the grammar of the outgoing stream stands. */
enum sess_out_state {
    SO_HDR,    /* the 40-byte header (placeholder in, seq and ack out) */
    SO_DCOUNT, /* D4: metadata entries */
    SO_DLEN,   /* D4: a key's or value's length */
    SO_DBYTES,
    SO_ARGC, /* D4: argument count */
    SO_ALEN, /* D20: an argument's length */
    SO_ABYTES
};

/* A request in the log: its seq and where its bytes start. */
struct sess_ent {
    uint64_t seq;
    size_t   off;
    /* A value streamed from a file is not copied: it is read again. */
    int      hole_fd; /* -1: none */
    off_t    hole_off;
    size_t   hole_at; /* where in the log the value's bytes would be */
    uint64_t hole_len;
};

struct nwsp_sess {
    char  id[NWSP_SESS_ID_LEN + 1];
    char  token[NWSP_SESS_TOKEN_LEN + 1];
    int   grace;
    int   resumed; /* the last handshake resumed the session */
    int   gone;    /* the server stopped offering sessions */
    pid_t owner;   /* the process that connected: only it ends the session */

    uint64_t seq;      /* the highest seq given to a request */
    uint64_t unlogged; /* the highest seq not kept whole in the log */
    /* The reply whose header was read last: its seq and span. */
    uint64_t rd_seq, rd_start, rd_end;
    unsigned recoveries;

    /* The outgoing stream's grammar. */
    enum sess_out_state st;
    uint64_t            left;  /* bytes left in this field */
    uint64_t            items; /* lengths+bytes items left (dict: 2 per entry) */
    char                num[20];
    unsigned            numlen;
    int                 logging; /* this request's bytes go to the log */
    int                 hole;    /* this argument's bytes are the last entry's hole */
    char                hdr[SESS_HDR_LEN];

    char            *log; /* [log_start, log_len): requests not answered */
    size_t           log_start, log_len, log_cap;
    struct sess_ent *ent; /* [ent0, nent) */
    size_t           ent0, nent, entcap;

    char  *stage; /* the patched copy of what nwsp_sess_out was given */
    size_t stage_cap;
};

/* A new session record (no id yet), or NULL. */
struct nwsp_sess *
nwsp_sess_new(void)
{
    struct nwsp_sess *s = calloc(1, sizeof(struct nwsp_sess));

    if (s != NULL)
        s->owner = getpid();
    return s;
}

/* Frees s; NULL is fine. */
void
nwsp_sess_free(struct nwsp_sess *s)
{
    if (s == NULL)
        return;
    explicit_bzero(s->token, sizeof(s->token));
    free(s->log);
    free(s->ent);
    free(s->stage);
    free(s);
}

/* Forgets every request and reply: a new session starts at seq 1. */
static void
sess_reset(nws_client *c)
{
    struct nwsp_sess *s = c->sess;

    s->seq = s->unlogged = s->rd_seq = s->rd_start = s->rd_end = 0;
    s->st = SO_HDR;
    s->left = SESS_HDR_LEN;
    s->items = 0;
    s->numlen = 0;
    s->logging = 0;
    s->log_start = s->log_len = 0;
    s->ent0 = s->nent = 0;
    c->rx_total = c->rlen - c->rpos;
}

/* The bytes of the reply stream the caller has consumed. */
static uint64_t
sess_consumed(const nws_client *c)
{
    return c->rx_total - (c->rlen - c->rpos);
}

/* The highest seq whose reply was read whole. */
static uint64_t
sess_acked(const nws_client *c)
{
    const struct nwsp_sess *s = c->sess;

    if (s->rd_seq == 0)
        return 0;
    return sess_consumed(c) >= s->rd_end ? s->rd_seq : s->rd_seq - 1;
}

/* The header length requests carry on c: 40 with a session, else 0. */
size_t
nwsp_sess_head_len(const nws_client *c)
{
    return c->sess != NULL && c->sess->id[0] != '\0' ? SESS_HDR_LEN : 0;
}

const char *
nws_session_id(const nws_client *c)
{
    return c != NULL && c->sess != NULL && c->sess->id[0] != '\0' ? c->sess->id : NULL;
}

int
nws_set_reconnect(nws_client *c, int seconds, nws_error *err)
{
    nwsp_err_clear(err);
    if (c == NULL || seconds < 0) {
        nwsp_err_set(err, NWS_ERR_INVALID, 0,
                     c == NULL ? "NULL connection" : "negative reconnect limit");
        return -1;
    }
    c->reconnect_s = seconds;
    return 0;
}

/* $NWS_RECONNECT, else the default: seconds to try reconnecting. */
int
nwsp_sess_reconnect_default(void)
{
    const char *env = getenv("NWS_RECONNECT");
    uint64_t    v;

    if (env != NULL && env[0] != '\0' && nwsp_parse_u64(env, strlen(env), 86400, &v) == 0)
        return (int)v;
    return NWSP_SESS_RECONNECT_DEFAULT;
}

/* The value of NwsSession to request: "new", or "resume ID TOKEN". */
void
nwsp_sess_request_value(const nws_client *c, char *buf, size_t len)
{
    const struct nwsp_sess *s = c->sess;

    if (s->id[0] != '\0')
        snprintf(buf, len, "resume %s %s", s->id, s->token);
    else
        snprintf(buf, len, "new");
}

/* 1 if v (vlen) is n lower-case hex digits. */
static int
sess_hex(const char *v, size_t vlen, size_t n)
{
    size_t i;

    if (vlen != n)
        return 0;
    for (i = 0; i < n; i++)
        if (!((v[i] >= '0' && v[i] <= '9') || (v[i] >= 'a' && v[i] <= 'f')))
            return 0;
    return 1;
}

/*
 * Takes the dictionary the server sends after A000 (dict, dlen: scanned).
 * Returns 1 when the session asked for was resumed, 0 when this is a new
 * session (the record is reset to it), -1 on a malformed answer.
 */
int
nwsp_sess_accept(nws_client *c, const char *dict, size_t dlen, nws_error *err)
{
    struct nwsp_sess *s = c->sess;
    const char       *v, *r, *g;
    size_t            vlen, rlen, glen;
    uint64_t          grace = 0;
    int               resumed;

    if (!nwsp_dict_get(dict, dlen, "NwsSession", &v, &vlen) ||
        !nwsp_dict_get(dict, dlen, "NwsResumed", &r, &rlen) || rlen != 1 ||
        (r[0] != '0' && r[0] != '1') ||
        vlen != NWSP_SESS_ID_LEN + 1 + NWSP_SESS_TOKEN_LEN ||
        !sess_hex(v, NWSP_SESS_ID_LEN, NWSP_SESS_ID_LEN) || v[NWSP_SESS_ID_LEN] != ' ' ||
        !sess_hex(v + NWSP_SESS_ID_LEN + 1, NWSP_SESS_TOKEN_LEN, NWSP_SESS_TOKEN_LEN)) {
        nwsp_err_set(err, NWS_ERR_HANDSHAKE, 0,
                     "a malformed session answer from the server");
        return -1;
    }
    if (nwsp_dict_get(dict, dlen, "NwsGrace", &g, &glen))
        nwsp_parse_u64(g, glen, 1u << 30, &grace);
    resumed = r[0] == '1' && s->id[0] != '\0' && memcmp(s->id, v, NWSP_SESS_ID_LEN) == 0;
    memcpy(s->id, v, NWSP_SESS_ID_LEN);
    s->id[NWSP_SESS_ID_LEN] = '\0';
    memcpy(s->token, v + NWSP_SESS_ID_LEN + 1, NWSP_SESS_TOKEN_LEN);
    s->token[NWSP_SESS_TOKEN_LEN] = '\0';
    s->grace = (int)grace;
    s->resumed = resumed;
    if (!resumed)
        sess_reset(c);
    return resumed;
}

/* The server no longer offers sessions: a resume cannot work. */
void
nwsp_sess_gone(nws_client *c)
{
    if (c->sess != NULL)
        c->sess->gone = 1;
}

/* Drops the logged requests whose replies were read; compacts the log. */
static void
sess_trim(nws_client *c)
{
    struct nwsp_sess *s = c->sess;
    uint64_t          acked = sess_acked(c);
    size_t            i;

    while (s->ent0 < s->nent && s->ent[s->ent0].seq <= acked)
        s->ent0++;
    s->log_start = s->ent0 < s->nent ? s->ent[s->ent0].off : s->log_len;
    /* A request being logged has its entry: log_start never passes it. */
    if (s->log_start > 0 && (s->log_start >= s->log_len / 2 || s->ent0 == s->nent)) {
        memmove(s->log, s->log + s->log_start, s->log_len - s->log_start);
        s->log_len -= s->log_start;
        for (i = s->ent0; i < s->nent; i++) {
            s->ent[i].off -= s->log_start;
            if (s->ent[i].hole_fd >= 0)
                s->ent[i].hole_at -= s->log_start;
        }
        s->log_start = 0;
    }
    if (s->log_len == 0 && s->log_cap > SESS_LOG_KEEP) {
        /* A large request was answered: give its memory back. */
        free(s->log);
        s->log = NULL;
        s->log_cap = 0;
    }
    if (s->ent0 > 0) {
        memmove(s->ent, s->ent + s->ent0, (s->nent - s->ent0) * sizeof(*s->ent));
        s->nent -= s->ent0;
        s->ent0 = 0;
    }
}

/* This request cannot be sent again: drop what the log has of it. */
static void
sess_unlog(struct nwsp_sess *s)
{
    if (!s->logging)
        return;
    s->logging = 0;
    s->hole = 0;
    s->unlogged = s->seq;
    s->log_len = s->ent[--s->nent].off;
}

/*
 * stream.c: the bytes of the argument being sent now (a store's value)
 * come from fd, starting at offset off.  A regular file (off >= 0) is read
 * again if they must be sent again, so they are not copied; anything else
 * (off < 0: a pipe) is copied only when small, else the request cannot be
 * sent again.
 */
void
nwsp_sess_source(nws_client *c, int fd, off_t off)
{
    struct nwsp_sess *s = c->sess;
    struct sess_ent  *e;

    if (s == NULL || s->id[0] == '\0' || !s->logging || s->st != SO_ABYTES)
        return;
    if (off < 0) {
        if (s->left > SESS_PIPE_COPY_MAX)
            sess_unlog(s);
        return;
    }
    e = &s->ent[s->nent - 1];
    e->hole_fd = fd;
    e->hole_off = off;
    e->hole_at = s->log_len;
    e->hole_len = 0;
    s->hole = 1;
}

/* Appends n bytes of the current request to the log, or stops logging it. */
static void
sess_log(struct nwsp_sess *s, const char *p, size_t n)
{
    size_t cap;
    char  *q;

    if (!s->logging || n == 0)
        return;
    if (s->log_len - s->log_start + n > SESS_LOG_MAX) {
        /* Too large to keep: this request cannot be sent again. */
        sess_unlog(s);
        return;
    }
    if (s->log_len + n > s->log_cap) {
        cap = s->log_cap ? s->log_cap : 65536;
        while (cap < s->log_len + n)
            cap *= 2;
        if ((q = realloc(s->log, cap)) == NULL) {
            sess_unlog(s);
            return;
        }
        s->log = q;
        s->log_cap = cap;
    }
    memcpy(s->log + s->log_len, p, n);
    s->log_len += n;
}

/* Starts request seq: its header, and its entry in the log if there is room. */
static void
sess_request_start(nws_client *c)
{
    struct nwsp_sess *s = c->sess;
    struct sess_ent  *e;

    sess_trim(c);
    s->seq++;
    nwsp_put_d20(s->hdr, s->seq);
    nwsp_put_d20(s->hdr + NWSP_D20_LEN, sess_acked(c));
    s->logging = 0;
    if (s->nent == s->entcap) {
        size_t cap = s->entcap ? 2 * s->entcap : 64;

        if ((e = realloc(s->ent, cap * sizeof(*e))) == NULL) {
            s->unlogged = s->seq;
            return;
        }
        s->ent = e;
        s->entcap = cap;
    }
    s->ent[s->nent].seq = s->seq;
    s->ent[s->nent].off = s->log_len;
    s->ent[s->nent].hole_fd = -1;
    s->ent[s->nent].hole_len = 0;
    s->nent++;
    s->logging = 1;
}

/* Parses the D4/D20 number collected in s->num; the value. */
static uint64_t
sess_num(const struct nwsp_sess *s)
{
    uint64_t v = 0;

    if (nwsp_parse_u64(s->num, s->numlen, UINT64_MAX, &v) != 0)
        v = 0;
    return v;
}

/* The state after an item (a length and its bytes) ends. */
static void
sess_item_done(nws_client *c)
{
    struct nwsp_sess *s = c->sess;

    s->hole = 0;
    if (s->st == SO_DBYTES || s->st == SO_DLEN) {
        s->st = --s->items > 0 ? SO_DLEN : SO_ARGC;
    } else {
        s->st = --s->items > 0 ? SO_ALEN : SO_HDR;
        if (s->st == SO_HDR)
            s->left = SESS_HDR_LEN;
    }
    s->numlen = 0;
}

/*
 * Walks len outgoing bytes at p through the request grammar: each new
 * request gets its seq and ack in place of the placeholder header, and its
 * bytes are logged.  *out gets the bytes to send (len of them, valid until
 * the next call).  0, or -1 (no memory).
 */
int
nwsp_sess_out(nws_client *c, const void *p, size_t len, const char **out, nws_error *err)
{
    struct nwsp_sess *s = c->sess;
    const char       *in = p;
    char             *o = NULL; /* the copy, made when a header is in these bytes */
    size_t            i = 0, k, width;

    while (i < len) {
        switch (s->st) {
        case SO_HDR:
            if (o == NULL) {
                if (len > s->stage_cap) {
                    if ((o = realloc(s->stage, len)) == NULL) {
                        nwsp_err_set(err, NWS_ERR_NOMEM, 0, "out of memory");
                        return -1;
                    }
                    s->stage = o;
                    s->stage_cap = len;
                }
                o = s->stage;
                memcpy(o, in, len);
                in = o;
            }
            if (s->left == SESS_HDR_LEN)
                sess_request_start(c);
            k = len - i < s->left ? len - i : (size_t)s->left;
            memcpy(o + i, s->hdr + (SESS_HDR_LEN - s->left), k);
            sess_log(s, o + i, k);
            i += k;
            if ((s->left -= k) == 0) {
                s->st = c->meta_to ? SO_DCOUNT : SO_ARGC;
                s->numlen = 0;
            }
            break;
        case SO_DCOUNT:
        case SO_DLEN:
        case SO_ARGC:
        case SO_ALEN:
            width = s->st == SO_ALEN ? NWSP_D20_LEN : NWSP_D4_LEN;
            k = width - s->numlen;
            if (k > len - i)
                k = len - i;
            memcpy(s->num + s->numlen, in + i, k);
            sess_log(s, in + i, k);
            s->numlen += (unsigned)k;
            i += k;
            if (s->numlen < width)
                break;
            if (s->st == SO_DCOUNT) {
                s->items = 2 * sess_num(s);
                s->st = s->items > 0 ? SO_DLEN : SO_ARGC;
                s->numlen = 0;
            } else if (s->st == SO_ARGC) {
                s->items = sess_num(s);
                s->st = s->items > 0 ? SO_ALEN : SO_HDR;
                s->left = SESS_HDR_LEN;
                s->numlen = 0;
            } else {
                s->left = sess_num(s);
                if (s->left == 0)
                    sess_item_done(c);
                else
                    s->st = s->st == SO_DLEN ? SO_DBYTES : SO_ABYTES;
            }
            break;
        case SO_DBYTES:
        case SO_ABYTES:
            k = len - i < s->left ? len - i : (size_t)s->left;
            /* Too large to keep, and not read again from a file: copy none. */
            if (!s->hole && s->logging &&
                s->log_len - s->log_start + s->left > SESS_LOG_MAX)
                sess_unlog(s);
            if (s->hole && s->logging)
                s->ent[s->nent - 1].hole_len += k;
            else
                sess_log(s, in + i, k);
            i += k;
            if ((s->left -= k) == 0)
                sess_item_done(c);
            break;
        }
    }
    *out = in;
    return 0;
}

/*
 * Fills hdr (40 bytes) with the header the request ahead places from now
 * would carry (1: the next one), without taking its seq: for a request written outside libnws's own
 * writes (the worker's crash report, from a signal handler: this only
 * reads memory).
 */
void
nwsp_sess_header(const nws_client *c, unsigned ahead, char *hdr)
{
    nwsp_put_d20(hdr, c->sess->seq + ahead);
    nwsp_put_d20(hdr + NWSP_D20_LEN, sess_acked(c));
}

/* reply.c: a reply header of hlen bytes is read, and vlen value bytes follow. */
void
nwsp_sess_reply_start(nws_client *c, size_t hlen, uint64_t vlen)
{
    struct nwsp_sess *s = c->sess;

    if (s == NULL || s->id[0] == '\0')
        return;
    s->rd_seq++;
    s->rd_start = sess_consumed(c);
    s->rd_end = s->rd_start + hlen + vlen;
}

/* How many reconnects c went through (bulk.c: was everything sent again?). */
unsigned
nwsp_sess_recoveries(const nws_client *c)
{
    return c->sess != NULL ? c->sess->recoveries : 0;
}

/* Closes the socket, keeping everything else (the session goes on). */
static void
sess_drop_socket(nws_client *c)
{
    nwsp_tls_free(c);
    if (c->fd >= 0) {
        close(c->fd);
        c->fd = -1;
    }
}

/*
 * Writes len bytes of p on the new connection, taking in replies meanwhile
 * so that neither side stalls.  0, or -1.
 */
static int
sess_send(nws_client *c, const char *p, size_t len, nws_error *err)
{
    struct pollfd pfd;
    ssize_t       n;
    int           rc;

    while (len > 0) {
        pfd.fd = c->fd;
        pfd.events = POLLIN | POLLOUT;
        pfd.revents = 0;
        rc = poll(&pfd, 1, 1000 * (c->reconnect_s > 0 ? c->reconnect_s : 1));
        if (rc < 0 && errno == EINTR)
            continue;
        if (rc <= 0) {
            nwsp_err_set(err, NWS_ERR_TIMEOUT, 0, "sending requests again: timed out");
            return -1;
        }
        if (pfd.revents & (POLLIN | POLLHUP | POLLERR)) {
            if (c->rcap - c->rlen < NWSP_IO_CHUNK) {
                char *q = realloc(c->rbuf, c->rcap + 2 * NWSP_IO_CHUNK);

                if (q == NULL) {
                    nwsp_err_set(err, NWS_ERR_NOMEM, 0, "out of memory");
                    return -1;
                }
                c->rbuf = q;
                c->rcap += 2 * NWSP_IO_CHUNK;
            }
            n = nwsp_io_recv(c, c->rbuf + c->rlen, c->rcap - c->rlen, 1);
            if (n == 0 ||
                (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
                nwsp_err_set(err, NWS_ERR_CLOSED, 0, "the connection was lost again");
                return -1;
            }
            if (n > 0) {
                c->rlen += (size_t)n;
                c->rx_total += (uint64_t)n;
            }
        }
        if (pfd.revents & POLLOUT) {
            n = nwsp_io_send(c, p, len, 1);
            if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
                nwsp_err_set(err, NWS_ERR_CLOSED, 0, "the connection was lost again");
                return -1;
            }
            if (n > 0) {
                p += n;
                len -= (size_t)n;
            }
        }
    }
    return 0;
}

/* Sends the n bytes of e's hole again, read from its file.  0, or -1. */
static int
sess_send_hole(nws_client *c, const struct sess_ent *e, nws_error *err)
{
    char     buf[NWSP_IO_CHUNK];
    uint64_t done = 0;
    ssize_t  n;
    size_t   k;

    while (done < e->hole_len) {
        k = e->hole_len - done < sizeof(buf) ? (size_t)(e->hole_len - done) : sizeof(buf);
        n = pread(e->hole_fd, buf, k, e->hole_off + (off_t)done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            nwsp_err_set(err, NWS_ERR_SESSION, 0,
                         "the value's file cannot be read again to send it again");
            return -1;
        }
        if (sess_send(c, buf, (size_t)n, err) != 0)
            return -1;
        done += (uint64_t)n;
    }
    return 0;
}

/*
 * Sends the log's requests after acked again, with acked as their ack
 * (holes read again from their files).  0, or -1.
 */
static int
sess_resend(nws_client *c, uint64_t acked, nws_error *err)
{
    struct nwsp_sess *s = c->sess;
    size_t            i, j, end;

    for (i = s->ent0; i < s->nent && s->ent[i].seq <= acked; i++)
        ;
    for (j = i; j < s->nent; j++)
        nwsp_put_d20(s->log + s->ent[j].off + NWSP_D20_LEN, acked);
    for (; i < s->nent; i++) {
        const struct sess_ent *e = &s->ent[i];

        end = i + 1 < s->nent ? s->ent[i + 1].off : s->log_len;
        if (e->hole_fd < 0) {
            if (sess_send(c, s->log + e->off, end - e->off, err) != 0)
                return -1;
            continue;
        }
        if (sess_send(c, s->log + e->off, e->hole_at - e->off, err) != 0 ||
            sess_send_hole(c, e, err) != 0 ||
            sess_send(c, s->log + e->hole_at, end - e->hole_at, err) != 0)
            return -1;
    }
    return 0;
}

/* Reads and drops the skip bytes of a reply the caller had consumed.  0, or -1. */
static int
sess_skip(nws_client *c, uint64_t skip, nws_error *err)
{
    size_t k;

    while (skip > 0) {
        if (nwsp_conn_need(c, 1, 1, err) != 1)
            return -1;
        k = c->rlen - c->rpos;
        if (k > skip)
            k = (size_t)skip;
        c->rpos += k;
        skip -= k;
    }
    return 0;
}

/* Sleeps s seconds. */
static void
sess_sleep(double s)
{
    struct timespec ts;

    if (s <= 0)
        return;
    ts.tv_sec = (time_t)s;
    ts.tv_nsec = (long)((s - (double)ts.tv_sec) * 1e9);
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/*
 * The connection was lost (EOF, reset, a failed write): reconnects with
 * back-off for up to c->reconnect_s seconds, resumes the session, sends
 * again what was not answered and drops what the caller had read of the
 * reply in progress.  Returns 0 when the caller can go on as if nothing
 * happened, 1 when sessions do not apply (the caller fails as before), -1
 * when they do but the session is lost or the server unreachable (err set).
 */
int
nwsp_sess_recover(nws_client *c, nws_error *err)
{
    struct nwsp_sess *s = c->sess;
    nws_error         e = {0};
    uint64_t          consumed, acked, skip;
    double            deadline, delay = SESS_BACKOFF_MIN, left;
    int               rc;

    if (s == NULL || s->id[0] == '\0' || c->reconnect_s <= 0 || c->in_hs || c->in_recover)
        return 1;
    c->in_recover = 1;
    consumed = sess_consumed(c);
    acked = sess_acked(c);
    skip = consumed < s->rd_end ? consumed - s->rd_start : 0;
    sess_drop_socket(c);
    if (s->unlogged > acked) {
        nwsp_err_set(err, NWS_ERR_SESSION, 0,
                     "the connection was lost during a request too large to send "
                     "again (a value over %zu MiB, or over %llu MiB from a pipe)",
                     SESS_LOG_MAX >> 20, (unsigned long long)(SESS_PIPE_COPY_MAX >> 20));
        c->in_recover = 0;
        nwsp_conn_fail(c);
        return -1;
    }
    deadline = nwsp_mono() + c->reconnect_s;
    for (;;) {
        memset(&e, 0, sizeof(e));
        rc = nwsp_conn_redial(c, &e);
        if (rc != 0 && s->gone) {
            nwsp_err_set(err, NWS_ERR_SESSION, 0,
                         "session lost: the server no longer offers sessions");
            c->in_recover = 0;
            nwsp_conn_fail(c);
            return -1;
        }
        if (rc == 0 && !s->resumed) {
            nwsp_err_set(err, NWS_ERR_SESSION, 0,
                         "session lost: the server no longer knows it (restarted "
                         "without --journal, or --resume-grace passed); a new "
                         "session goes on");
            c->rpos = c->rlen = 0;
            c->rx_total = 0;
            c->in_recover = 0;
            return -1;
        }
        if (rc == 0) {
            c->rpos = c->rlen = 0;
            c->rx_total = consumed - skip;
            if (sess_resend(c, acked, &e) == 0 && sess_skip(c, skip, &e) == 0) {
                s->recoveries++;
                c->in_recover = 0;
                return 0;
            }
            sess_drop_socket(c);
        }
        if ((left = deadline - nwsp_mono()) <= 0)
            break;
        sess_sleep(delay < left ? delay : left);
        delay = delay * 2 < SESS_BACKOFF_MAX ? delay * 2 : SESS_BACKOFF_MAX;
    }
    nwsp_err_set(err, NWS_ERR_CLOSED, 0, "server unreachable for %d s (%s)",
                 c->reconnect_s, e.text[0] != '\0' ? e.text : "no answer");
    c->in_recover = 0;
    nwsp_conn_fail(c);
    return -1;
}

/*
 * nws_close: ends the session, so the server frees it now, not after its
 * grace.  A forked child closing its copy of the client must not end its
 * parent's session; a server that does not answer within a few seconds
 * is left to end it at its grace.  With requests unanswered (a pipeline's
 * blocking fetches) the server reads nothing behind the parked one: the
 * socket is dropped and `end session` goes first on a new connection that
 * resumes the session (the server takes it over and runs `end session`
 * whatever its seq, cancelling the parked request).
 */
void
nwsp_sess_end(nws_client *c)
{
    struct timeval tv = nwsp_ms_timeval(SESS_END_MS);
    nws_error      e = {0};
    uint64_t       acked;

    if (c->sess == NULL || c->sess->id[0] == '\0' || c->fd < 0 || c->in_hs ||
        c->sess->owner != getpid())
        return;
    if (c->sess->seq != (acked = sess_acked(c))) {
        shutdown(c->fd, SHUT_RDWR);
        sess_drop_socket(c);
        c->reconnect_s = SESS_END_MS / 1000;
        if (nwsp_conn_redial(c, &e) != 0 || !c->sess->resumed)
            return;
        c->rpos = c->rlen = 0;
        c->rx_total = 0;
        /* Nothing in flight is read any more; the ack stays what was read. */
        c->sess->rd_seq = acked;
        c->sess->rd_start = c->sess->rd_end = 0;
    }
    c->reconnect_s = 0;
    setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    if (nwsp_req_begin(c, 1, NULL, &e) == 0 && nwsp_req_str(c, "end session", &e) == 0 &&
        nwsp_req_send(c, &e) == 0)
        nwsp_reply_short(c, &e);
}
