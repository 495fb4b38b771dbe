/*
 * conn.c -- one client connection: handshake, running requests, lifetime.
 *
 * Input is decoded by decode.c's state machine, its position kept in c_dec.
 *
 * Requests run one at a time, in order.  A request that blocks parks the conn
 * on a variable (state DEC_BLOCKED) and the requests behind it wait in the
 * input buffer (pipelining, an extension); reading goes on up to a high-water
 * mark so a peer that closes is still noticed.  Delivering to a blocked conn
 * only queues its reply and schedules c_ev_resume: nothing re-enters the
 * decoder of another connection.  Every path that adds to a conn's output
 * thus ends in conn_process() on that conn, which puts a socket conn on the
 * list of those whose replies are written when the loop's turn ends
 * (conn_flush_pending).
 *
 * A conn is freed only from the top of one of its own callbacks, or from
 * conn_flush_pending() between two turns of the loop.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/ioctl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "journal.h"
#include "secret.h"
#include "server.h"
#include "session.h"
#include "util.h"

struct conn {
    /*
     * Transport: a plain TCP socket is driven directly (c_fd, c_in, c_out and
     * two events); TLS and the fuzzing harness's in-memory pairs go through a
     * bufferevent (c_bev).  Exactly one of the two is set up.
     */
    struct bufferevent *c_bev;
    evutil_socket_t     c_fd;
    struct evbuffer    *c_in;
    struct evbuffer    *c_out;
    struct event       *c_ev_read;    /* persistent; deleted past NWS_READ_HIGH */
    struct event       *c_ev_write;   /* added only while output is left over */
    struct event       *c_ev_closed;  /* EV_CLOSED, added while c_ev_read is not */
    int                 c_reading;    /* c_ev_read is added */
    int                 c_read_timed; /* ... with the frame timeout */
    int                 c_writing;    /* c_ev_write is added */
    int                 c_lowat;      /* SO_RCVLOWAT set for a large value, or 0 */
    int                 c_dirty;      /* on conn_dirty */
    TAILQ_ENTRY(conn)   c_dirty_link;
    struct event       *c_ev_resume;  /* deferred: continue decoding */
    TAILQ_ENTRY(conn)   c_link;
    char                c_peer[CONN_PEER_MAX];
    int                 c_cookie;     /* long replies carry the 40-byte cookie */
    int                 c_meta_in;    /* MetadataToServer */
    int                 c_meta_out;   /* MetadataFromServer */
    int                 c_deadman;    /* closing stops the server */
    char                c_nonce[NWSP_NONCE_HEX + 1]; /* this handshake's challenge */
    int                 c_closing;    /* flush the output, then close */
    int                 c_paused;     /* output too large: decode later */
    int                 c_dead;       /* the peer is known gone: free, run nothing */
    uint64_t            c_out_done;   /* output bytes written (handed to the kernel) */
    struct fetched_list c_fetched;    /* fetched values in unwritten replies */
    unsigned            c_barriers;   /* __barrier groups joined */
    struct htab         c_map;        /* ws name -> instance id + 1 */
    struct htab         c_owned;      /* ws name -> instance id + 1 */
    struct waiter       c_waiter;
    struct var         *c_blocked_var;
    struct event       *c_ev_timeout;  /* a parked request's time limit */
    conn_timeout_fn     c_on_timeout;

    struct decoder c_dec; /* the request being decoded (decode.c) */

    /* Memory (mem.c): what this conn holds is charged to srv.mem_used. */
    uint64_t            c_mem;        /* bytes charged now (conn_mem_sync) */
    struct outacct     *c_acct;       /* output bytes not copied (reply.c) */
    int                 c_aborted;    /* conn_abort(): close, send nothing more */
    struct event       *c_ev_soft;    /* fires when over the soft output limit too long */
    int                 c_soft;       /* c_ev_soft is added */
    struct listing     *c_list;       /* a listing being sent (listing.c) */
    struct event       *c_ev_next;    /* zero timer: its next piece */

    /* Sessions (session.c): the conn outlives its transport. */
    struct session  *c_session;  /* NULL: a classic connection */
    int              c_detached; /* no transport: waits to be resumed */
    int              c_hidden;   /* parked, its request not sent again since a resume */
    int              c_reblock;  /* the re-sent parked request: park again */
    struct conn     *c_adopt;    /* a resume: move this transport into that conn */
    struct evbuffer *c_sink;     /* replies nobody reads (a hidden park's) */
};

static TAILQ_HEAD(, conn) conn_all = TAILQ_HEAD_INITIALIZER(conn_all);
/* How often a conn watched for its peer's close (c_ev_closed) is also probed for a reset. */
static const struct timeval conn_watch_period = {2, 0};
/* Socket conns with replies to write at the end of this turn of the loop. */
static TAILQ_HEAD(, conn) conn_dirty = TAILQ_HEAD_INITIALIZER(conn_dirty);

static void conn_process(struct conn *);
static void conn_free(struct conn *, int purge);
static void conn_timeouts(struct conn *);
static void conn_sock_finish(struct conn *);
static void conn_drained(struct conn *);
static void conn_resume_next(struct conn *);
static void conn_bev_watch(struct conn *, int on);
static void conn_adopt(struct conn *dst, struct conn *src);
static void conn_sock_read_cb(evutil_socket_t, short, void *);
static void conn_sock_write_cb(evutil_socket_t, short, void *);
static void conn_sock_closed_cb(evutil_socket_t, short, void *);

int
conn_has_cookie(const struct conn *c)
{
    return c->c_cookie;
}

int
conn_meta_out(const struct conn *c)
{
    return c->c_meta_out;
}

const char *
conn_peer(const struct conn *c)
{
    return c->c_peer;
}

struct waiter *
conn_waiter(struct conn *c)
{
    return &c->c_waiter;
}

struct outacct *
conn_outacct(struct conn *c)
{
    return c->c_acct;
}

int
conn_aborted(const struct conn *c)
{
    return c->c_aborted;
}

struct evbuffer *
conn_output(struct conn *c)
{
    if (c->c_sink != NULL)
        return c->c_sink;
    return c->c_bev != NULL ? bufferevent_get_output(c->c_bev) : c->c_out;
}

int
conn_meta_in(const struct conn *c)
{
    return c->c_meta_in;
}

struct session *
conn_session(const struct conn *c)
{
    return c->c_session;
}

void
conn_set_session(struct conn *c, struct session *s)
{
    c->c_session = s;
}

uint64_t
conn_out_done(const struct conn *c)
{
    return c->c_out_done;
}

/* Where c's output ends now, in bytes ever written; UINT64_MAX if it is never written. */
uint64_t
conn_out_end(struct conn *c)
{
    if (c->c_detached || c->c_sink != NULL)
        return UINT64_MAX;
    return c->c_out_done + evbuffer_get_length(conn_output(c));
}

struct fetched_list *
conn_fetched(struct conn *c)
{
    return &c->c_fetched;
}

void
conn_set_closing(struct conn *c)
{
    c->c_closing = 1;
}

int
conn_hidden_park(const struct conn *c)
{
    return c->c_hidden;
}

/* The parked request was sent again: the conn waits in it as before the cut. */
void
conn_repark(struct conn *c)
{
    c->c_hidden = 0;
    c->c_reblock = 1;
}

size_t
conn_nowned(struct conn *c)
{
    return htab_count(&c->c_owned);
}

/* Where the next request starts: the session header, metadata, or the count. */
static enum dec_state
conn_req_state(const struct conn *c)
{
    if (c->c_session != NULL)
        return DEC_REQ_SESS;
    return c->c_meta_in ? DEC_REQ_META : DEC_REQ_ARGC;
}

static struct evbuffer *
conn_input(struct conn *c)
{
    return c->c_bev != NULL ? bufferevent_get_input(c->c_bev) : c->c_in;
}

void
conn_set_deadman(struct conn *c)
{
    c->c_deadman = 1;
}

void
conn_joined_barrier(struct conn *c)
{
    c->c_barriers++;
}

/* Map values are instance ids plus one, so that __default's 0 is not NULL. */
static void *
conn_id_val(uint64_t id)
{
    return (void *)(uintptr_t)(id + 1);
}

/* How name is in c's map and owned set (SESSION_MAP_* bits), and its instance id. */
static unsigned
conn_ws_how(struct conn *c, const char *name, size_t len, uint64_t *id)
{
    void    *m = htab_get(&c->c_map, name, len), *o = htab_get(&c->c_owned, name, len);
    unsigned how = 0;

    *id = 0;
    if (m != NULL) {
        how |= SESSION_MAP_MAPPED;
        *id = (uint64_t)(uintptr_t)m - 1;
    }
    if (o != NULL && (m == NULL || o == m)) {
        how |= SESSION_MAP_OWNED;
        *id = (uint64_t)(uintptr_t)o - 1;
    }
    return how;
}

/* Whether c's map and owned set are journaled (a session's, with --journal). */
static int
conn_journals_ws(struct conn *c)
{
    return conn_session(c) != NULL && journal_active();
}

/* A session's map or owned set changed: journal it, so that a restart
 * rebuilds them (session_journal.c).  before: conn_ws_how() before it. */
static void
conn_journal_ws(struct conn *c, const char *name, size_t len, unsigned before,
                uint64_t idbefore)
{
    uint64_t id;
    unsigned how = conn_ws_how(c, name, len, &id);

    if (how != before || id != idbefore)
        journal_session_map(conn_session(c), name, len, id, how);
}

void
conn_map_ws(struct conn *c, struct ws *ws)
{
    uint64_t id = 0;
    int      js = conn_journals_ws(c);
    unsigned how = js ? conn_ws_how(c, ws->ws_name, ws->ws_namelen, &id) : 0;

    htab_put(&c->c_map, ws->ws_name, ws->ws_namelen, conn_id_val(ws->ws_id));
    if (js)
        conn_journal_ws(c, ws->ws_name, ws->ws_namelen, how, id);
}

void
conn_own_ws(struct conn *c, struct ws *ws)
{
    uint64_t id = 0;
    int      js = conn_journals_ws(c);
    unsigned how = js ? conn_ws_how(c, ws->ws_name, ws->ws_namelen, &id) : 0;

    htab_put(&c->c_owned, ws->ws_name, ws->ws_namelen, conn_id_val(ws->ws_id));
    if (js)
        conn_journal_ws(c, ws->ws_name, ws->ws_namelen, how, id);
}

void
conn_forget_ws(struct conn *c, const char *name, size_t len)
{
    uint64_t id = 0;
    int      js = conn_journals_ws(c);
    unsigned how = js ? conn_ws_how(c, name, len, &id) : 0;

    htab_del(&c->c_map, name, len);
    htab_del(&c->c_owned, name, len);
    if (js)
        conn_journal_ws(c, name, len, how, id);
}

void
conn_foreach_ws(struct conn *c,
                void (*fn)(const char *name, size_t len, uint64_t id, unsigned how,
                           void *arg),
                void *arg)
{
    struct htab_ent *e;
    size_t           pos = 0;
    uint64_t         id;
    unsigned         how;

    while ((e = htab_next(&c->c_map, &pos)) != NULL) {
        how = conn_ws_how(c, e->h_key, e->h_klen, &id);
        fn(e->h_key, e->h_klen, id, how, arg);
    }
    /* Owned but no longer mapped under that name (or mapped to another instance). */
    pos = 0;
    while ((e = htab_next(&c->c_owned, &pos)) != NULL) {
        void *m = htab_get(&c->c_map, e->h_key, e->h_klen);

        if (m == NULL)
            fn(e->h_key, e->h_klen, (uint64_t)(uintptr_t)e->h_val - 1, SESSION_MAP_OWNED,
               arg);
    }
}

int
conn_owns(struct conn *c, const struct ws *ws)
{
    return htab_get(&c->c_owned, ws->ws_name, ws->ws_namelen) == conn_id_val(ws->ws_id);
}

/* Resolves name through this connection's map (section 7.1): 0, 2001 or 100. */
int
conn_resolve_ws(struct conn *c, const char *name, size_t len, struct ws **out)
{
    void      *id = htab_get(&c->c_map, name, len);
    struct ws *ws;

    if (id == NULL)
        return NWSP_STATUS_NOT_OPENED;
    ws = ws_find(name, len);
    if (ws == NULL || conn_id_val(ws->ws_id) != id)
        return NWSP_STATUS_NO_WS;
    *out = ws;
    return 0;
}

/*
 * Bytes written to sockets in this turn of the loop.  Writing into a
 * hundred sockets whose peers do not read fills their kernel buffers,
 * megabytes each: a turn that did it all at once held every other client
 * for a second.  Past NWS_WRITE_PER_TURN, a conn writes NWS_WRITE_MIN.
 */
static size_t conn_turn_written;
static unsigned conn_turn_runs;   /* conn_process() calls in this turn */

/* Conns with a zero timer pending (conn_resume_next). */
static unsigned conn_nnext;

static void
conn_next_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    conn_nnext--;
    conn_process(arg);
}

/*
 * Schedules more work for the loop's next turn: a zero timer, which runs
 * after the replies of this turn are written and the sockets polled again.
 * event_active would run in this same turn: a hundred busy clients (their
 * next 64 requests, a listing's next piece) made one turn last for seconds
 * while every reply made in it, other clients' too, waited for its end.
 */
static void
conn_resume_next(struct conn *c)
{
    struct timeval now = {0, 0};

    if (c->c_ev_next == NULL &&
        (c->c_ev_next = evtimer_new(srv.base, conn_next_cb, c)) == NULL) {
        event_active(c->c_ev_resume, EV_TIMEOUT, 0);   /* out of memory: this turn */
        return;
    }
    if (evtimer_pending(c->c_ev_next, NULL))
        return;
    if (evtimer_add(c->c_ev_next, &now) != 0) {
        event_active(c->c_ev_resume, EV_TIMEOUT, 0);
        return;
    }
    conn_nnext++;
}

/* 1 while some conn has work waiting for the next turn (the fuzzing harness). */
int
conn_work_pending(void)
{
    return conn_nnext > 0;
}

/* Schedules more decoding from the event loop (never from a caller's stack). */
static void
conn_resume_later(struct conn *c)
{
    if (c->c_ev_resume != NULL)
        event_active(c->c_ev_resume, EV_TIMEOUT, 0);
}

struct conn *
conn_from_waiter(struct waiter *w)
{
    return (struct conn *)((char *)w - offsetof(struct conn, c_waiter));
}

struct var *
conn_blocked_var(struct conn *c)
{
    return c->c_blocked_var;
}

/*
 * Memory and output limits.  What a conn holds (unparsed input, the bytes
 * its pending replies copied, its request's kept arguments, a listing's
 * snapshot) is charged to srv.mem_used by conn_mem_sync(), called wherever
 * those change: the end of conn_process() and every flush.  Output that
 * only references a stored value or a spool file costs nothing more, so it
 * is left out (struct outacct).
 *
 * Limits, after Redis's client-output-buffer-limit: past the hard limit a
 * conn is closed at once; past the soft limit for out_soft_secs seconds in
 * a row, too.  A conn stops decoding past NWS_OUT_HIGH of output, and past
 * NWS_OUT_TIGHT when memory is tight (conn_tight); it stops reading past
 * NWS_READ_HIGH of input, and past NWS_READ_TIGHT when tight (unless it
 * needs more of a metadata dictionary, which is decoded whole).  So a full
 * server holds at most about NWS_READ_TIGHT + NWS_OUT_TIGHT + one reply
 * per conn beyond the limit.
 */
static uint64_t
conn_out_copied(struct conn *c)
{
    size_t len = evbuffer_get_length(conn_output(c));

    return len > c->c_acct->oa_bytes ? len - c->c_acct->oa_bytes : 0;
}

/* Bytes all conns hold (their part of srv.mem_used). */
static uint64_t conn_mem_all;

/* Charges srv.mem_used with what c holds now. */
static void
conn_mem_sync(struct conn *c)
{
    uint64_t now = evbuffer_get_length(conn_input(c)) + conn_out_copied(c) +
                   c->c_dec.d_args.cap + c->c_dec.d_metalen + listing_mem(c->c_list);

    srv.mem_used = srv.mem_used - c->c_mem + now;
    conn_mem_all = conn_mem_all - c->c_mem + now;
    c->c_mem = now;
}

/*
 * Buffers are kept small once the server is at --max-memory, or once the
 * conns' buffers alone hold a quarter of it: clients that do not read
 * cannot take the whole budget from the values of those who do.
 */
static int
conn_tight(void)
{
    return mem_tight() ||
           (srv.cfg.max_memory != 0 && conn_mem_all >= srv.cfg.max_memory / 4);
}

void
conn_abort(struct conn *c, const char *why)
{
    struct evbuffer *out = conn_output(c);

    if (c->c_aborted)
        return;
    log_warnx("%s: %s; closing", c->c_peer, why);
    c->c_aborted = 1;   /* first: the drain below must not count as written */
    c->c_closing = 1;
    waiter_cancel(&c->c_waiter);
    /* Dropped unwritten: values fetched into it go back on close (requeue.c). */
    evbuffer_drain(out, evbuffer_get_length(out));
    conn_resume_later(c);
}

static void
conn_soft_cb(evutil_socket_t fd, short what, void *arg)
{
    struct conn *c = arg;

    (void)fd;
    (void)what;
    c->c_soft = 0;
    if (conn_out_copied(c) > srv.cfg.out_soft)
        conn_abort(c, "replies over the soft output limit for too long "
                      "(--client-output-limit)");
}

/* Syncs c's memory and applies the output limits (c may be aborted). */
static void
conn_limits(struct conn *c)
{
    struct timeval tv = {srv.cfg.out_soft_secs, 0};
    uint64_t       out;

    conn_mem_sync(c);
    if (c->c_aborted)
        return;
    out = conn_out_copied(c);
    if (srv.cfg.out_hard != 0 && out > srv.cfg.out_hard) {
        conn_abort(c, "replies over the hard output limit (--client-output-limit)");
        return;
    }
    if (srv.cfg.out_soft != 0 && out > srv.cfg.out_soft) {
        if (c->c_soft)
            return;
        if (c->c_ev_soft == NULL &&
            (c->c_ev_soft = evtimer_new(srv.base, conn_soft_cb, c)) == NULL) {
            conn_abort(c, "cannot allocate its output limit timer");
            return;
        }
        evtimer_add(c->c_ev_soft, &tv);
        c->c_soft = 1;
    } else if (c->c_soft) {
        evtimer_del(c->c_ev_soft);
        c->c_soft = 0;
    }
}

/* Whether c must stop decoding until its output drains. */
static int
conn_out_full(struct conn *c)
{
    return evbuffer_get_length(conn_output(c)) > NWS_OUT_HIGH ||
           (conn_tight() && conn_out_copied(c) > NWS_OUT_TIGHT);
}

/* Whether c may read more input now. */
static int
conn_in_room(struct conn *c)
{
    size_t in = evbuffer_get_length(conn_input(c));

    if (in >= NWS_READ_HIGH)
        return 0;
    if (in < NWS_READ_TIGHT || !conn_tight())
        return 1;
    return (c->c_dec.d_state == DEC_REQ_META || c->c_dec.d_state == DEC_HS_OPTIONS) &&
           in < NWS_MAX_DICT_BYTES + NWS_READ_TIGHT;
}

void
conn_send_listing(struct conn *c, struct listing *l)
{
    c->c_list = l;
}

/* The parked request is answered: forget its state, go on with the next one. */
static void
conn_unpark(struct conn *c)
{
    session_reply_done(c);
    c->c_blocked_var = NULL;
    free(c->c_waiter.w_tag);
    c->c_waiter.w_tag = NULL;
    c->c_waiter.w_taglen = 0;
    if (c->c_ev_timeout != NULL)
        evtimer_del(c->c_ev_timeout);
    if (c->c_hidden) {
        /* Its reply is kept for the re-send; the decoder is elsewhere. */
        c->c_hidden = 0;
        return;
    }
    conn_bev_watch(c, 0);
    c->c_dec.d_state = conn_req_state(c);
    conn_resume_later(c);
}

/* A hidden park's reply goes to the session's kept reply, not the output. */
static int
conn_sink_begin(struct conn *c)
{
    if (!c->c_hidden || c->c_sink != NULL)
        return 0;
    if ((c->c_sink = evbuffer_new()) == NULL)
        fatalx("cannot allocate a buffer");
    return 1;
}

static void
conn_sink_end(struct conn *c, int began)
{
    if (!began)
        return;
    evbuffer_free(c->c_sink);
    c->c_sink = NULL;
}

/* A parked request got its value: reply and go on with the next request. */
static void
conn_waiter_deliver(struct waiter *w, struct value *v, uint64_t index)
{
    struct conn *c = conn_from_waiter(w);
    int          sunk = conn_sink_begin(c);

    session_capture(c, 1);
    reply_value(c, v, c->c_blocked_var->var_id, index);
    if (w->w_fetch)
        conn_note_fetched(c, c->c_blocked_var, v, index);
    conn_unpark(c);
    conn_sink_end(c, sunk);
}

/* Whether the peer closed or reset its end (unread input or not): one poll(). */
static int
conn_peer_gone(struct conn *c)
{
    struct pollfd pfd;

    pfd.fd = c->c_bev != NULL ? bufferevent_getfd(c->c_bev) : c->c_fd;
    pfd.events = POLLRDHUP;
    pfd.revents = 0;
    return pfd.fd >= 0 && poll(&pfd, 1, 0) == 1 &&
           (pfd.revents & (POLLRDHUP | POLLHUP | POLLERR));
}

/*
 * Checked before a parked fetch is handed a value: a peer that closed (or
 * reset) its end would take the value with it, so it gets nothing, and the
 * conn is freed from its own callback with its unread requests.
 */
static int
conn_waiter_gone(struct waiter *w)
{
    struct conn *c = conn_from_waiter(w);

    /* A session's reply is kept, and sent again when it resumes. */
    if (c->c_session != NULL)
        return 0;
    if (!c->c_dead && !conn_peer_gone(c))
        return 0;
    if (!c->c_dead)
        log_info("%s: closed by peer while waiting in a fetch; dropping its requests",
                 c->c_peer);
    c->c_dead = 1;
    conn_resume_later(c);
    return 1;
}

/* Notes a fetched value until its reply, which ends the output now, is written. */
void
conn_note_fetched(struct conn *c, struct var *var, struct value *v, uint64_t index)
{
    if (c->c_session != NULL) {
        session_note_fetched(c, var, v, index); /* held until acknowledged */
        return;
    }
    /* An aborted conn dropped its output (the reply too): it is never written. */
    requeue_note(&c->c_fetched, var, v, index,
                 c->c_aborted ? UINT64_MAX
                              : c->c_out_done + evbuffer_get_length(conn_output(c)));
}

/* A parked request failed (its variable was purged). */
static void
conn_waiter_fail(struct waiter *w, const char *reason)
{
    struct conn *c = conn_from_waiter(w);
    int          sunk = conn_sink_begin(c);

    session_capture(c, 1);
    reply_long_error(c, NWSP_STATUS_FAIL, reason);
    conn_unpark(c);
    conn_sink_end(c, sunk);
}

/* Parks the current request on var (called by the fetch family). */
void
conn_block(struct conn *c, struct var *var, int fetch)
{
    c->c_blocked_var = var;
    waiter_park(&c->c_waiter, var, fetch);
    c->c_dec.d_state = DEC_BLOCKED;
    conn_bev_watch(c, 1);
}

/* The time limit of a parked request passed: its owner replies. */
static void
conn_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
    struct conn *c = arg;

    (void)fd;
    (void)what;
    if (c->c_dec.d_state != DEC_BLOCKED && !c->c_hidden)
        return;
    waiter_cancel(&c->c_waiter);
    c->c_on_timeout(c, c->c_blocked_var);
}

void
conn_block_timeout(struct conn *c, struct var *var, int fetch, long timeout_ms,
                   conn_timeout_fn on_timeout)
{
    struct timeval tv = nwsp_ms_timeval(timeout_ms);

    conn_block(c, var, fetch);
    if (c->c_ev_timeout == NULL && (c->c_ev_timeout = evtimer_new(srv.base, conn_timeout_cb,
                                                                  c)) == NULL)
        fatalx("evtimer_new");
    c->c_on_timeout = on_timeout;
    evtimer_add(c->c_ev_timeout, &tv);
}

/* A framing error: a short error reply, then close once it is written. */
void
conn_proto_error(struct conn *c, const char *reason)
{
    log_info("%s: %s; closing", c->c_peer, reason);
    reply_short(c, NWSP_STATUS_FAIL, reason);
    c->c_closing = 1;
}

/* Refuses the request being decoded; the first reason wins. */
void
conn_refuse(struct conn *c, const char *fmt, ...)
{
    va_list ap;

    if (c->c_dec.d_err != NULL)
        return;
    va_start(ap, fmt);
    if (vasprintf(&c->c_dec.d_err, fmt, ap) < 0)
        fatal("vasprintf");
    va_end(ap);
}

/* Runs a complete request and gets ready for the next. */
void
conn_run(struct conn *c)
{
    struct request rq;
    enum cmd_ret   ret = CMD_DONE;
    unsigned       i;

    srv.nops++;
    if (c->c_session != NULL) {
        const char *why = "Session: bad request header.";
        int r = session_request(c, c->c_dec.d_seq, c->c_dec.d_ack, c->c_dec.d_cmd, &why);

        if (r != 0) {
            /* Answered again, parked again, refused, or a protocol error. */
            decode_reset(&c->c_dec);
            if (r < 0)
                conn_proto_error(c, why);
            c->c_dec.d_state = c->c_reblock ? DEC_BLOCKED : conn_req_state(c);
            if (c->c_reblock)
                conn_bev_watch(c, 1);
            c->c_reblock = 0;
            return;
        }
    }
    if (c->c_dec.d_err != NULL) {
        if (c->c_dec.d_cmd != NULL && c->c_dec.d_cmd->long_reply)
            reply_long_error(c, NWSP_STATUS_FAIL, c->c_dec.d_err);
        else
            reply_short(c, NWSP_STATUS_FAIL, c->c_dec.d_err);
        if (c->c_dec.d_err_close)
            c->c_closing = 1;
    } else if (c->c_dec.d_cmd == NULL) {
        char reason[NWS_MAX_CMD_NAME + 32];

        snprintf(reason, sizeof(reason), "Unknown verb \"%.*s\"", (int)c->c_dec.d_len[0],
                 c->c_dec.d_args.data + c->c_dec.d_off[0]);
        reply_short(c, NWSP_STATUS_FAIL, reason);
    } else {
        memset(&rq, 0, sizeof(rq));
        rq.rq_conn = c;
        rq.rq_cmd = c->c_dec.d_cmd;
        rq.rq_argc = c->c_dec.d_argc;
        for (i = 0; i < c->c_dec.d_argc && i < NWS_MAX_KEPT_ARGS; i++) {
            rq.rq_arg[i] = c->c_dec.d_args.data + c->c_dec.d_off[i];
            rq.rq_len[i] = c->c_dec.d_len[i];
        }
        rq.rq_meta = c->c_dec.d_meta;
        rq.rq_metalen = c->c_dec.d_metalen;
        rq.rq_value = c->c_dec.d_value;
        c->c_dec.d_value = NULL;
        ret = dispatch(&rq);
        value_unref(rq.rq_value);   /* NULL if the command took it */
    }
    decode_reset(&c->c_dec);
    if (ret != CMD_BLOCKED) {
        session_reply_done(c);
        c->c_dec.d_state = conn_req_state(c);
    } else {
        session_capture(c, 0); /* on again when its answer comes */
    }
}

/* The first 4 bytes choose the handshake (section 2.1). */
enum step
conn_hs_first(struct conn *c, const char *b)
{
    if (b[0] == 'X') {
        c->c_cookie = 1;
        evbuffer_add(conn_output(c), NWSP_HS_ADVERTISE, 4);
        if (!auth_enabled())
            evbuffer_add(conn_output(c), srv.advert, srv.advert_len);
        else if (auth_advertise(conn_output(c), c->c_nonce, sizeof(c->c_nonce)) != 0)
            return conn_hs_deny(c, "no random bytes for a challenge");
        c->c_dec.d_state = DEC_HS_REQUEST;
        return STEP_PROGRESS;
    }
    if (auth_enabled()) {
        /* The old greeting has no options, so no room for the secret. */
        auth_log_refusal(c->c_peer, "authentication required: old-style handshake");
        c->c_closing = 1;
        return STEP_PROGRESS;
    }
    c->c_cookie = !(memcmp(b, "0000", 4) == 0 || memcmp(b, "1111", 4) == 0);
    evbuffer_add(conn_output(c), NWSP_HS_OLD_REPLY, 4);
    c->c_dec.d_state = DEC_REQ_ARGC;
    return STEP_PROGRESS;
}

/* Denies the handshake: "F000", then close (section 2.3, Q6). */
enum step
conn_hs_deny(struct conn *c, const char *why)
{
    auth_log_refusal(c->c_peer, why);
    evbuffer_add(conn_output(c), NWSP_HS_DENY, 4);
    c->c_closing = 1;
    return STEP_PROGRESS;
}

/*
 * Checks the requested options against the advertisement (section 2.6).
 * Options are only noted while checking and take effect once the whole
 * request passed, the secret included: a refused handshake changes nothing
 * (a KillServerOnClose of a client without the secret must not stop the
 * server when it closes).
 */
enum step
conn_hs_options(struct conn *c, const char *dict, size_t len)
{
    struct nwsp_dict_ent e;
    size_t               pos = 0;
    const char          *adv;
    size_t               advlen;
    char                 key[64];
    int                  authed = 0, meta_in = 0, meta_out = 0, deadman = 0;
    const char          *sess = NULL;
    size_t               sesslen = 0;
    struct conn         *sc;

    while (nwsp_dict_next(dict, len, &pos, &e)) {
        if (e.klen >= sizeof(key))
            return conn_hs_deny(c, "unknown option requested");
        memcpy(key, e.key, e.klen);
        key[e.klen] = '\0';
        if (strcmp(key, "NwsAuth") == 0) {
            if (!auth_enabled())
                return conn_hs_deny(c, "unknown option requested");
            if (!auth_check_response(c->c_nonce, e.val, e.vlen))
                return conn_hs_deny(c, "authentication failed: wrong response");
            authed = 1;
            continue;
        }
        if (!nwsp_dict_get(srv.advert, srv.advert_len, key, &adv, &advlen))
            return conn_hs_deny(c, "unknown option requested");
        if (advlen != 0 && (advlen != e.vlen || memcmp(adv, e.val, advlen) != 0))
            return conn_hs_deny(c, "option value not allowed");
        if (strcmp(key, SESSION_OPTION) == 0) {
            sess = e.val;
            sesslen = e.vlen;
            continue;
        }
        if (e.vlen == 1 && e.val[0] == '1') {
            if (strcmp(key, "MetadataToServer") == 0)
                meta_in = 1;
            else if (strcmp(key, "MetadataFromServer") == 0)
                meta_out = 1;
            else if (strcmp(key, "KillServerOnClose") == 0)
                deadman = 1;
        }
    }
    if (auth_enabled() && !authed)
        return conn_hs_deny(c, "authentication required: no NwsAuth option");
    c->c_meta_in = meta_in;
    c->c_meta_out = meta_out;
    c->c_deadman = deadman;
    /* A KillServerOnClose conn gets no session: its close must stop the server. */
    if (sess != NULL && !deadman && !session_disabled) {
        if ((sc = session_handshake(c, sess, sesslen)) == NULL)
            return conn_hs_deny(c, "session refused");
        evbuffer_add(conn_output(c), NWSP_HS_ACCEPT, 4);
        if (sc != c) {
            /* A resume: conn_process() moves this socket into sc. */
            c->c_adopt = sc;
            c->c_closing = 1;
            return STEP_PROGRESS;
        }
        session_hs_reply(c);
        c->c_dec.d_state = conn_req_state(c);
        return STEP_PROGRESS;
    }
    evbuffer_add(conn_output(c), NWSP_HS_ACCEPT, 4);
    c->c_dec.d_state = conn_req_state(c);
    return STEP_PROGRESS;
}

/*
 * Whether a request is half received: then the frame timeout runs.  A
 * greeting counts too; a client between requests, parked in a blocking
 * fetch, or whose requests wait for it to read its output (c_paused), is not.
 */
static int
conn_partial(struct conn *c)
{
    return c->c_dec.d_state == DEC_HS_FIRST || c->c_dec.d_state == DEC_HS_REQUEST ||
           c->c_dec.d_state == DEC_HS_OPTIONS ||
           (c->c_dec.d_state != DEC_BLOCKED && !c->c_paused &&
            (c->c_dec.d_state != conn_req_state(c) ||
             evbuffer_get_length(conn_input(c)) > 0));
}

/*
 * A socket conn reads while its input holds less than NWS_READ_HIGH (a
 * blocked conn too, so that a close is noticed), with the frame timeout when
 * timed.  The read event is persistent: libevent restarts its timer each time
 * it fires, so the limit is on silence, not on the whole request.
 */
static void
conn_sock_arm(struct conn *c, int timed)
{
    struct timeval rtv = {srv.cfg.frame_timeout, 0};
    int            want = !c->c_closing && conn_in_room(c);

    if (!want) {
        if (c->c_reading)
            event_del(c->c_ev_read);
        c->c_reading = c->c_read_timed = 0;
        /* Not reading, so a close would not be seen: watch for it alone. */
        if (c->c_ev_closed != NULL && !c->c_closing)
            event_add(c->c_ev_closed, &conn_watch_period);
        return;
    }
    if (c->c_ev_closed != NULL && !c->c_reading)
        event_del(c->c_ev_closed);
    if (c->c_reading && timed == c->c_read_timed)
        return;
    if (c->c_reading && !timed)
        event_remove_timer(c->c_ev_read);
    else
        event_add(c->c_ev_read, timed ? &rtv : NULL);
    c->c_reading = 1;
    c->c_read_timed = timed;
}

/*
 * Arms the timeouts that fit c's state: --frame-timeout seconds without a
 * byte of a half received request (conn_partial), and --write-timeout
 * seconds without progress writing replies, which means the peer stopped
 * reading (only counted while output is pending).
 */
static void
conn_timeouts(struct conn *c)
{
    struct timeval rtv = {srv.cfg.frame_timeout, 0}, wtv = {srv.cfg.write_timeout, 0};
    int            timed = srv.cfg.frame_timeout > 0 && conn_partial(c);

    if (c->c_bev == NULL) {
        conn_sock_arm(c, timed);
        return;
    }
    bufferevent_setwatermark(c->c_bev, EV_READ, 0,
                             conn_tight() ? NWS_READ_TIGHT : NWS_READ_HIGH);
    bufferevent_set_timeouts(c->c_bev, timed ? &rtv : NULL,
                             srv.cfg.write_timeout > 0 ? &wtv : NULL);
}

/*
 * While a large value arrives, the kernel is asked not to report the socket
 * readable for less than NWS_VALUE_LOWAT bytes (never more than are still to
 * come), so each wakeup moves a large piece instead of a few KiB.
 */
static void
conn_sock_lowat(struct conn *c)
{
    int want = 0;

    if (c->c_dec.d_state == DEC_REQ_VALUE &&
        c->c_dec.d_value->v_len >= NWS_VALUE_LOWAT_MIN)
        want = c->c_dec.d_left < NWS_VALUE_LOWAT ? (int)c->c_dec.d_left : NWS_VALUE_LOWAT;
    if (want == c->c_lowat)
        return;
    c->c_lowat = want;
    want = want > 0 ? want : 1;
    if (setsockopt(c->c_fd, SOL_SOCKET, SO_RCVLOWAT, &want, sizeof(want)) == -1)
        log_debug("%s: SO_RCVLOWAT: %s", c->c_peer, strerror(errno));
}

/*
 * Writes what a socket conn's output holds, up to NWS_MAX_SINGLE_WRITE (file
 * segments of spooled values go out with sendfile); the write event is
 * added only for what the socket did not take.  -1 if the peer is gone.
 */
static int
conn_sock_flush(struct conn *c)
{
    struct timeval wtv = {srv.cfg.write_timeout, 0};
    size_t         len = evbuffer_get_length(c->c_out);

    if (len > 0) {
        ssize_t w, most = NWS_MAX_SINGLE_WRITE;

        /* Once this turn has written its share, each conn writes a little. */
        if (conn_turn_written >= NWS_WRITE_PER_TURN)
            most = NWS_WRITE_MIN;
        if ((w = evbuffer_write_atmost(c->c_out, c->c_fd, most)) < 0 && errno != EAGAIN &&
            errno != EWOULDBLOCK && errno != EINTR)
            return -1;
        if (w > 0)
            conn_turn_written += (size_t)w;
        c->c_out_done += len - evbuffer_get_length(c->c_out);
        len = evbuffer_get_length(c->c_out);
        if (c->c_fetched.fl_n > 0)
            requeue_written(&c->c_fetched, c->c_out_done);
    }
    if (len > 0 && !c->c_writing) {
        event_add(c->c_ev_write, srv.cfg.write_timeout > 0 ? &wtv : NULL);
        c->c_writing = 1;
    } else if (len == 0 && c->c_writing) {
        event_del(c->c_ev_write);
        c->c_writing = 0;
    }
    return 0;
}

/*
 * Decodes and runs what the input holds, within the per-event budget; a
 * socket conn's replies are then written at the end of the loop's turn, all
 * of them in one system call.  May free c: callers return straight after.
 */
static void
conn_process(struct conn *c)
{
    struct cursor k;
    int           budget = NWS_REQS_PER_EVENT;
    enum step     s;
    size_t        out0;

    if (c->c_detached)
        return; /* nothing to read, nobody to write to */
    out0 = evbuffer_get_length(conn_output(c));
    if (c->c_aborted || c->c_dead) {
        conn_free(c, 1);
        return;
    }
    conn_turn_runs++;
    k.k_in = conn_input(c);
    k.k_used = 0;
    k.k_nomem = 0;
    cur_sync(&k);
    while (!c->c_closing && c->c_dec.d_state != DEC_BLOCKED) {
        if (c->c_list != NULL) {
            /* A listing goes out a piece at a time, before the next request. */
            int r = listing_fill(c->c_list, c);

            if (r == 1) {
                c->c_paused = 1;  /* the output's drain brings the next piece */
                break;
            }
            listing_free(c->c_list);
            c->c_list = NULL;
            if (r < 0)
                break;
        }
        if (conn_out_full(c)) {
            c->c_paused = 1;  /* the output's drain resumes us */
            break;
        }
        s = decode_step(c, &c->c_dec, &k);
        if (s == STEP_MORE)
            break;
        /* Fairness: so many requests, or replies of so many bytes, per event. */
        if (s == STEP_REQUEST &&
            (--budget == 0 || evbuffer_get_length(conn_output(c)) > out0 + NWS_OUT_PER_EVENT)) {
            /* A busy turn ends before this conn goes on: see conn_resume_next. */
            if (conn_turn_runs > NWS_RUNS_PER_TURN)
                conn_resume_next(c);
            else
                conn_resume_later(c);
            break;
        }
    }
    if (k.k_used > 0)
        evbuffer_drain(k.k_in, k.k_used);
    if (c->c_adopt != NULL) {
        if (!c->c_aborted && !k.k_nomem) {
            conn_adopt(c->c_adopt, c);
            return;
        }
        session_detach(c->c_adopt); /* no transport after all: it waits again */
        c->c_adopt = NULL;
    }
    if (k.k_nomem)
        conn_abort(c, "cannot allocate memory for its input");
    conn_limits(c);
    if (c->c_aborted) {
        conn_free(c, 1);
        return;
    }
    if (c->c_bev != NULL) {
        if (c->c_closing) {
            bufferevent_disable(c->c_bev, EV_READ);
            if (evbuffer_get_length(conn_output(c)) == 0)
                conn_free(c, 1);
            return;
        }
        conn_timeouts(c);
        return;
    }
    conn_timeouts(c);
    conn_sock_lowat(c);
    /* With a journal the replies of a closing conn (`end session`'s) or of a
     * paused one (a pipeline filled its output) wait for the turn's records
     * too: conn_flush_pending writes them after journal_turn_end. */
    if (!journal_active() && (c->c_paused || c->c_closing)) {
        conn_sock_finish(c);
    } else if (!c->c_dirty &&
               (c->c_closing || c->c_paused || evbuffer_get_length(c->c_out) > 0)) {
        c->c_dirty = 1;
        TAILQ_INSERT_TAIL(&conn_dirty, c, c_dirty_link);
    }
}

/*
 * Writes a socket conn's output, then finishes a close or a pause if it all
 * went.  May free c.
 */
static void
conn_sock_finish(struct conn *c)
{
    if (c->c_dead) {
        conn_free(c, 1);    /* its output would be lost: the values in it go back */
        return;
    }
    if (conn_sock_flush(c) != 0) {
        log_debug("%s: connection error: %s", c->c_peer, strerror(errno));
        conn_free(c, 1);
        return;
    }
    conn_limits(c);
    if (evbuffer_get_length(c->c_out) == 0)
        conn_drained(c);
}

/*
 * Writes the replies made in one turn of the event loop (main.c calls it
 * after each): every connection read in the turn has run its requests
 * first, so the peers are woken in one burst at the end instead of one by
 * one in the middle of the turn (Redis writes in its beforeSleep for the
 * same reason).  Called from the top of the loop: it may free conns.
 */
void
conn_flush_pending(void)
{
    struct conn *c;

    while ((c = TAILQ_FIRST(&conn_dirty)) != NULL) {
        TAILQ_REMOVE(&conn_dirty, c, c_dirty_link);
        c->c_dirty = 0;
        conn_sock_finish(c);
    }
    conn_turn_written = 0;
    conn_turn_runs = 0;
}

/* The output drained: finish a close, or go on decoding after a pause. May free c. */
static void
conn_drained(struct conn *c)
{
    if (c->c_closing) {
        conn_free(c, 1);
    } else if (c->c_paused && c->c_list != NULL) {
        c->c_paused = 0;
        conn_resume_next(c);   /* a listing's next piece */
    } else if (c->c_paused) {
        c->c_paused = 0;
        conn_resume_later(c);
    }
}

/* Reads what a socket conn has, up to NWS_MAX_SINGLE_READ: 1, or 0 at EOF, -1 on error. */
static int
conn_sock_read(struct conn *c)
{
    static char scratch[NWS_MAX_SINGLE_READ];
    ssize_t     n;

    if ((n = read(c->c_fd, scratch, sizeof(scratch))) > 0) {
        if (evbuffer_add(c->c_in, scratch, (size_t)n) != 0)
            conn_abort(c, "cannot allocate memory for its input");
        return 1;
    }
    if (n == 0)
        return 0;
    return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? 1 : -1;
}

/*
 * A store's value is arriving and nothing else is buffered: its bytes go
 * straight into the value's memory (a spooled value's through one large
 * buffer into its file) in large reads, up to NWS_VALUE_READ_BUDGET per
 * event so that other connections get their turn.  Returns as
 * conn_sock_read().
 */
static int
conn_sock_read_value(struct conn *c)
{
    static char   spool_buf[NWS_VALUE_READ_CHUNK];
    struct value *v = c->c_dec.d_value;
    size_t        budget = NWS_VALUE_READ_BUDGET, n;
    ssize_t       r;
    char         *dst;

    while (c->c_dec.d_left > 0 && budget > 0) {
        n = c->c_dec.d_left < budget ? (size_t)c->c_dec.d_left : budget;
        if (n > NWS_VALUE_READ_CHUNK)
            n = NWS_VALUE_READ_CHUNK;
        dst = (v->v_flags & VALUE_SPOOLED) ? spool_buf : value_data(v) + c->c_dec.d_vfill;
        if (!(v->v_flags & VALUE_SPOOLED) && value_charge(n) != 0) {
            conn_refuse(c, "Server memory limit reached.");
            c->c_dec.d_state = DEC_REQ_SKIP; /* the rest is read and dropped */
            return 1;
        }
        r = read(c->c_fd, dst, n);
        if (!(v->v_flags & VALUE_SPOOLED))
            srv.mem_used -= n - (r > 0 ? (size_t)r : 0);   /* charge what came */
        if (r == 0)
            return 0;
        if (r < 0)
            return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? 1 : -1;
        c->c_dec.d_left -= (size_t)r;
        c->c_dec.d_vfill += (size_t)r;
        budget -= (size_t)r;
        if ((v->v_flags & VALUE_SPOOLED) &&
            decode_spool(c, &c->c_dec, dst, (size_t)r) != 0)
            return 1;   /* the rest is read and dropped */
        if ((size_t)r < n)
            break;  /* the socket is drained */
    }
    return 1;
}

/*
 * With SO_RCVLOWAT set, a slow peer's bytes may sit below the mark for the
 * whole frame timeout: they are progress all the same, not silence.
 */
static int
conn_sock_trickle(struct conn *c, evutil_socket_t fd)
{
    int n;

    return c->c_lowat > 0 && ioctl(fd, FIONREAD, &n) == 0 && n > 0;
}

static void
conn_sock_read_cb(evutil_socket_t fd, short what, void *arg)
{
    struct conn *c = arg;
    int          r;

    if ((what & EV_TIMEOUT) && !conn_sock_trickle(c, fd)) {
        log_info("%s: no byte of its unfinished request for %d s; closing", c->c_peer,
                 srv.cfg.frame_timeout);
        conn_free(c, 1);
        return;
    }
    if (c->c_dec.d_state == DEC_REQ_VALUE && evbuffer_get_length(c->c_in) == 0)
        r = conn_sock_read_value(c);
    else
        r = conn_sock_read(c);
    if (r <= 0) {
        if (r == 0)
            log_debug("%s: closed by peer", c->c_peer);
        else
            log_debug("%s: connection error: %s", c->c_peer, strerror(errno));
        conn_free(c, 1);
        return;
    }
    conn_process(c);
}

/*
 * The peer closed while its input was not being read (past NWS_READ_HIGH).
 * Parked in a fetch, or paused until it reads its replies, the conn would
 * wait forever, and a value would be handed to nobody: it is dropped now
 * with the requests it queued, unrun.  A conn still decoding goes on: its
 * input drains, reading resumes and meets the end of file as usual (the
 * watch is added again if it parks first).
 */
static void
conn_sock_closed_cb(evutil_socket_t fd, short what, void *arg)
{
    struct conn *c = arg;

    (void)fd;
    /* A reset shows as an error, which libevent reports to EV_READ and
     * EV_WRITE events only: the watch's period looks for it. */
    if ((what & EV_TIMEOUT) && !conn_peer_gone(c))
        return;
    if (c->c_dec.d_state != DEC_BLOCKED && !c->c_paused) {
        event_del(c->c_ev_closed);
        return;
    }
    log_info("%s: closed by peer; dropping %zu bytes of requests not run", c->c_peer,
             evbuffer_get_length(conn_input(c)));
    conn_free(c, 1);
}

/*
 * A TLS conn parked in a fetch stops reading at its watermark like a socket
 * conn, and the bufferevent would not see a close behind the unread bytes:
 * while parked, its socket is watched for the close alone (EV_CLOSED).
 */
static void
conn_bev_watch(struct conn *c, int on)
{
    evutil_socket_t fd;

    if (c->c_bev == NULL)
        return;
    if (!on) {
        if (c->c_ev_closed != NULL)
            event_del(c->c_ev_closed);
        return;
    }
    if (c->c_ev_closed == NULL) {
        if (!(event_base_get_features(srv.base) & EV_FEATURE_EARLY_CLOSE) ||
            (fd = bufferevent_getfd(c->c_bev)) < 0)
            return;
        if ((c->c_ev_closed = event_new(srv.base, fd, EV_CLOSED | EV_PERSIST,
                                        conn_sock_closed_cb, c)) == NULL)
            fatalx("cannot watch a connection");
    }
    event_add(c->c_ev_closed, &conn_watch_period);
}

static void
conn_sock_write_cb(evutil_socket_t fd, short what, void *arg)
{
    struct conn *c = arg;

    (void)fd;
    if (what & EV_TIMEOUT) {
        log_info("%s: did not read its replies for %d s; closing", c->c_peer,
                 srv.cfg.write_timeout);
        conn_free(c, 1);
        return;
    }
    if (conn_sock_flush(c) != 0) {
        log_debug("%s: connection error: %s", c->c_peer, strerror(errno));
        conn_free(c, 1);
        return;
    }
    conn_limits(c);
    if (evbuffer_get_length(c->c_out) == 0)
        conn_drained(c);
}

/* A bufferevent conn's output drained: count what was written (requeue.c). */
static void
conn_bev_out_cb(struct evbuffer *buf, const struct evbuffer_cb_info *info, void *arg)
{
    struct conn *c = arg;

    (void)buf;
    /* conn_abort() drops the output: those bytes were not written. */
    if (info->n_deleted == 0 || c->c_aborted)
        return;
    c->c_out_done += info->n_deleted;
    if (c->c_fetched.fl_n > 0)
        requeue_written(&c->c_fetched, c->c_out_done);
}

static void
conn_read_cb(struct bufferevent *bev, void *arg)
{
    (void)bev;
    conn_process(arg);
}

static void
conn_resume_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    conn_process(arg);
}

static void
conn_write_cb(struct bufferevent *bev, void *arg)
{
    (void)bev;
    conn_limits(arg);
    conn_drained(arg);
}

static void
conn_event_cb(struct bufferevent *bev, short what, void *arg)
{
    struct conn *c = arg;

    (void)bev;
    if (what == BEV_EVENT_CONNECTED)
        return; /* a TLS handshake completed */
    if ((what & BEV_EVENT_TIMEOUT) && (what & BEV_EVENT_READING))
        log_info("%s: no byte of its unfinished request for %d s; closing", c->c_peer,
                 srv.cfg.frame_timeout);
    else if (what & BEV_EVENT_TIMEOUT)
        log_info("%s: did not read its replies for %d s; closing", c->c_peer,
                 srv.cfg.write_timeout);
    else if (what & BEV_EVENT_EOF)
        log_debug("%s: closed by peer", c->c_peer);
    else if ((what & BEV_EVENT_ERROR) && tls_enabled())
        log_info("%s: connection error: %s", c->c_peer, tls_error(c->c_bev));
    else if (what & BEV_EVENT_ERROR)
        log_debug("%s: connection error: %s", c->c_peer,
                  evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
    conn_free(c, 1);
}

/* Leaves every __barrier group c joined (fix of Q12). */
static void
conn_leave_barriers(struct conn *c)
{
    struct htab_ent *we, *ve;
    size_t           wpos = 0, vpos;

    while ((we = htab_next(ws_table(), &wpos)) != NULL) {
        struct ws *ws = we->h_val;

        vpos = 0;
        while ((ve = htab_next(&ws->ws_vars, &vpos)) != NULL)
            var_barrier_leave(ve->h_val, c);
    }
}

/* Purges the non-persistent workspaces c opened (section 7.4, co-owners: Q7);
 * a persistent one stays, its owner text marked gone if c was that owner. */
static void
conn_purge_owned(struct conn *c)
{
    struct htab_ent *e;
    struct ws       *ws;
    size_t           pos = 0;

    while ((e = htab_next(&c->c_owned, &pos)) != NULL) {
        ws = ws_find(e->h_key, e->h_klen);
        if (ws != NULL && conn_id_val(ws->ws_id) == e->h_val && !ws->ws_persistent) {
            log_debug("%s: purging workspace %s", c->c_peer, ws->ws_name);
            ws_destroy(ws);
        } else if (ws != NULL && conn_id_val(ws->ws_id) == e->h_val) {
            ws_owner_gone(ws, c->c_peer);
        }
    }
}

/*
 * `end session` on an attached conn: what its close would drop goes now,
 * in the request's turn, so that the records of the purge are journaled
 * before the reply leaves (the conn itself closes once the reply is out).
 */
void
conn_purge_now(struct conn *c)
{
    if (c->c_barriers > 0)
        conn_leave_barriers(c);
    c->c_barriers = 0;
    conn_purge_owned(c);
    htab_free(&c->c_owned);
    htab_init(&c->c_owned);
}

/* Closes and frees c; purge: also drop what it owned (not at shutdown). */
static void
conn_free(struct conn *c, int purge)
{
    size_t n;

    /* A session's conn loses its transport only, and waits to be resumed. */
    if (purge && c->c_session != NULL && !c->c_deadman && session_detach(c))
        return;
    session_conn_gone(c);
    waiter_cancel(&c->c_waiter);
    free(c->c_waiter.w_tag);
    /* Every way a conn closes ends here: values its replies did not carry whole go back
     * (at shutdown too when the journal keeps them for the next start). */
    if ((purge || journal_active()) &&
        (n = requeue_close(&c->c_fetched, c->c_out_done)) > 0)
        log_info("%s: %zu fetched value%s not sent whole put back", c->c_peer, n,
                 n == 1 ? "" : "s");
    requeue_forget(&c->c_fetched);
    if (c->c_dirty)
        TAILQ_REMOVE(&conn_dirty, c, c_dirty_link);
    if (c->c_ev_timeout != NULL)
        event_free(c->c_ev_timeout);
    if (c->c_ev_soft != NULL)
        event_free(c->c_ev_soft);
    if (c->c_ev_next != NULL) {
        if (evtimer_pending(c->c_ev_next, NULL))
            conn_nnext--;
        event_free(c->c_ev_next);
    }
    listing_free(c->c_list);
    c->c_list = NULL;
    sleigh_conn_gone(c);
    if (purge) {
        if (c->c_barriers > 0)
            conn_leave_barriers(c);
        conn_purge_owned(c);
    }
    decode_free(&c->c_dec);
    htab_free(&c->c_map);
    htab_free(&c->c_owned);
    if (c->c_ev_closed != NULL)
        event_free(c->c_ev_closed);     /* before the socket closes */
    if (c->c_bev != NULL) {
        bufferevent_free(c->c_bev);
    } else {
        if (c->c_ev_read != NULL)
            event_free(c->c_ev_read);
        if (c->c_ev_write != NULL)
            event_free(c->c_ev_write);
        if (c->c_in != NULL)
            evbuffer_free(c->c_in);
        if (c->c_out != NULL)
            evbuffer_free(c->c_out); /* drops the values its replies referenced */
        if (c->c_fd >= 0)
            evutil_closesocket(c->c_fd);
    }
    if (c->c_ev_resume != NULL)
        event_free(c->c_ev_resume);
    outacct_unref(c->c_acct);   /* after the output buffer: its cleanups use it */
    srv.mem_used -= c->c_mem;
    conn_mem_all -= c->c_mem;
    TAILQ_REMOVE(&conn_all, c, c_link);
    if (!c->c_detached)
        srv.nconns--;
    if (c->c_deadman && !srv.shutting_down) {
        log_info("%s: deadman connection closed; shutting down", c->c_peer);
        srv.shutting_down = 1;
        event_base_loopexit(srv.base, NULL);
    }
    free(c);
}

/*
 * Formats the peer as "host:port" ("[v6]:port" for IPv6), for logs and
 * owner texts.  The reference server showed Twisted's repr here
 * ("IPv4Address(TCP, '127.0.0.1', 51966)"); any readable text will do
 * (quirk Q25), and this one reads like the rest of the tools.
 */
void
conn_peer_format(char *buf, size_t len, const struct sockaddr *sa)
{
    char host[INET6_ADDRSTRLEN] = "?";
    int  port = 0;

    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *sin = (const struct sockaddr_in *)sa;

        inet_ntop(AF_INET, &sin->sin_addr, host, sizeof(host));
        port = ntohs(sin->sin_port);
        snprintf(buf, len, "%s:%d", host, port);
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)sa;

        inet_ntop(AF_INET6, &sin6->sin6_addr, host, sizeof(host));
        port = ntohs(sin6->sin6_port);
        snprintf(buf, len, "[%s]:%d", host, port);
    } else {
        snprintf(buf, len, "local");
    }
}

/* The part of a new connection common to both transports. */
static struct conn *
conn_alloc(struct sockaddr *sa)
{
    struct conn *c = xcalloc(1, sizeof(*c));

    conn_peer_format(c->c_peer, sizeof(c->c_peer), sa);
    c->c_fd = -1;
    decode_init(&c->c_dec);
    c->c_waiter.w_deliver = conn_waiter_deliver;
    c->c_waiter.w_fail = conn_waiter_fail;
    c->c_waiter.w_gone = conn_waiter_gone;
    htab_init(&c->c_map);
    htab_init(&c->c_owned);
    c->c_acct = outacct_new();
    /* A session restored from the journal is made before the event base. */
    if (srv.base != NULL &&
        (c->c_ev_resume = event_new(srv.base, -1, 0, conn_resume_cb, c)) == NULL)
        fatalx("cannot set up a connection");
    TAILQ_INSERT_TAIL(&conn_all, c, c_link);
    srv.nconns++;
    log_debug("%s: connected", c->c_peer);
    return c;
}

/*
 * Makes a connection around bev (which it then owns), peer sa.  The server
 * passes TLS bufferevents; the fuzzing harness passes one end of an
 * in-memory pair, so the whole decoder runs without sockets.
 */
struct conn *
conn_new(struct bufferevent *bev, struct sockaddr *sa)
{
    struct conn *c = conn_alloc(sa);

    c->c_bev = bev;
    bufferevent_setcb(c->c_bev, conn_read_cb, conn_write_cb, conn_event_cb, c);
    bufferevent_setwatermark(c->c_bev, EV_READ, 0, NWS_READ_HIGH);
    if (evbuffer_add_cb(bufferevent_get_output(c->c_bev), conn_bev_out_cb, c) == NULL)
        fatalx("cannot set up a connection");
    /* libevent reads 16 KiB per event by default: too little for large values. */
    bufferevent_set_max_single_read(c->c_bev, NWS_MAX_SINGLE_READ);
    bufferevent_set_max_single_write(c->c_bev, NWS_MAX_SINGLE_WRITE);
    conn_timeouts(c);
    bufferevent_enable(c->c_bev, EV_READ | EV_WRITE);
    return c;
}

/*
 * Makes a connection on a plain TCP socket (owned from now on).  It is
 * driven without a bufferevent: a bufferevent asks the kernel how much is
 * readable before each read, re-arms its write event for every reply and
 * runs its buffer callbacks on every drain, which made 7 system calls per
 * request where reading, running what was read and writing the replies
 * when the loop's turn ends takes 3 (epoll_wait, read, writev).
 */
struct conn *
conn_new_socket(evutil_socket_t fd, struct sockaddr *sa)
{
    struct conn *c = conn_alloc(sa);

    c->c_fd = fd;
    if ((c->c_in = evbuffer_new()) == NULL || (c->c_out = evbuffer_new()) == NULL ||
        (c->c_ev_read = event_new(srv.base, fd, EV_READ | EV_PERSIST, conn_sock_read_cb,
                                  c)) == NULL ||
        (c->c_ev_write = event_new(srv.base, fd, EV_WRITE | EV_PERSIST, conn_sock_write_cb,
                                   c)) == NULL)
        fatalx("cannot set up a connection");
    /* EV_CLOSED is EPOLLRDHUP: a peer's close seen without reading its bytes. */
    if ((event_base_get_features(srv.base) & EV_FEATURE_EARLY_CLOSE) &&
        (c->c_ev_closed = event_new(srv.base, fd, EV_CLOSED | EV_PERSIST, conn_sock_closed_cb,
                                    c)) == NULL)
        fatalx("cannot set up a connection");
    /* Lets file segments (spooled values) go out with sendfile, not mmap. */
    evbuffer_set_flags(c->c_out, EVBUFFER_FLAG_DRAINS_TO_FD);
    conn_timeouts(c);
    return c;
}

/* Drops every connection (server shutdown); workspaces are purged after. */
void
conn_shutdown_all(void)
{
    struct conn *c;

    srv.shutting_down = 1;
    while ((c = TAILQ_FIRST(&conn_all)) != NULL)
        conn_free(c, 0);
    listen_drop_waiting();
}

/* The session ends: its parked request (hidden or not) waits no more, unanswered. */
void
conn_cancel_park(struct conn *c)
{
    if (c->c_blocked_var == NULL)
        return;
    waiter_cancel(&c->c_waiter);
    c->c_blocked_var = NULL;
    c->c_hidden = 0;
    if (c->c_ev_timeout != NULL)
        evtimer_del(c->c_ev_timeout);
}

/* Frees c now (a detached session's end, from its grace timer). */
void
conn_release(struct conn *c)
{
    conn_free(c, 1);
}

/*
 * Drops c's transport and keeps the rest (sessions: the conn outlives its
 * socket).  Unread requests and unwritten replies go: the client sends its
 * unanswered requests again, and the kept replies answer them.  A parked
 * request stays parked ("hidden" until the client sends it again); its
 * reply, if a value comes first, is kept but not sent.
 */
void
conn_detach_transport(struct conn *c)
{
    if (c->c_dirty) {
        TAILQ_REMOVE(&conn_dirty, c, c_dirty_link);
        c->c_dirty = 0;
    }
    if (c->c_soft) {
        evtimer_del(c->c_ev_soft);
        c->c_soft = 0;
    }
    if (c->c_ev_next != NULL && evtimer_pending(c->c_ev_next, NULL)) {
        evtimer_del(c->c_ev_next);
        conn_nnext--;
    }
    if (c->c_ev_resume != NULL)
        event_del(c->c_ev_resume);
    listing_free(c->c_list);
    c->c_list = NULL;
    if (c->c_ev_closed != NULL) {
        event_free(c->c_ev_closed);
        c->c_ev_closed = NULL;
    }
    if (c->c_bev != NULL) {
        /* Its unwritten output goes: not to be counted as written. */
        evbuffer_remove_cb(bufferevent_get_output(c->c_bev), conn_bev_out_cb, c);
        bufferevent_free(c->c_bev);
        c->c_bev = NULL;
    } else {
        if (c->c_ev_read != NULL)
            event_free(c->c_ev_read);
        if (c->c_ev_write != NULL)
            event_free(c->c_ev_write);
        if (c->c_in != NULL)
            evbuffer_free(c->c_in);
        if (c->c_out != NULL)
            evbuffer_free(c->c_out);
        if (c->c_fd >= 0)
            evutil_closesocket(c->c_fd);
    }
    c->c_ev_read = c->c_ev_write = NULL;
    c->c_fd = -1;
    c->c_reading = c->c_read_timed = c->c_writing = c->c_lowat = 0;
    if ((c->c_in = evbuffer_new()) == NULL || (c->c_out = evbuffer_new()) == NULL)
        fatalx("cannot allocate a buffer");
    if (c->c_dec.d_state == DEC_BLOCKED || c->c_hidden)
        c->c_hidden = c->c_waiter.w_var != NULL;
    if (!c->c_hidden && c->c_blocked_var != NULL) {
        /* Its wait was cancelled (an abort): the re-sent request runs again. */
        c->c_blocked_var = NULL;
        if (c->c_ev_timeout != NULL)
            evtimer_del(c->c_ev_timeout);
    }
    decode_reset(&c->c_dec);
    c->c_dec.d_state = conn_req_state(c);
    c->c_closing = c->c_paused = c->c_dead = c->c_aborted = c->c_reblock = 0;
    c->c_adopt = NULL;
    if (!c->c_detached)
        srv.nconns--;
    c->c_detached = 1;
    conn_mem_sync(c);
}

/*
 * A resume: src's transport (its handshake just answered with A000) moves
 * into dst, the session's detached conn, and src is freed.  Called from
 * the end of conn_process(src), its input drained up to the handshake's end.
 */
static void
conn_adopt(struct conn *dst, struct conn *src)
{
    struct evbuffer *out;

    evbuffer_free(dst->c_in);
    evbuffer_free(dst->c_out);
    dst->c_in = dst->c_out = NULL;
    memcpy(dst->c_peer, src->c_peer, sizeof(dst->c_peer));
    dst->c_cookie = src->c_cookie;
    if (src->c_bev != NULL) {
        dst->c_bev = src->c_bev;
        src->c_bev = NULL;
        out = bufferevent_get_output(dst->c_bev);
        evbuffer_remove_cb(out, conn_bev_out_cb, src);
        if (evbuffer_add_cb(out, conn_bev_out_cb, dst) == NULL)
            fatalx("cannot set up a connection");
        bufferevent_setcb(dst->c_bev, conn_read_cb, conn_write_cb, conn_event_cb, dst);
    } else {
        dst->c_fd = src->c_fd;
        dst->c_in = src->c_in;
        dst->c_out = src->c_out;
        src->c_fd = -1;
        src->c_in = src->c_out = NULL;
        event_free(src->c_ev_read);
        event_free(src->c_ev_write);
        src->c_ev_read = src->c_ev_write = NULL;
        src->c_reading = src->c_writing = 0;
        if (src->c_ev_closed != NULL) {
            event_free(src->c_ev_closed);
            src->c_ev_closed = NULL;
        }
        if ((dst->c_ev_read = event_new(srv.base, dst->c_fd, EV_READ | EV_PERSIST,
                                        conn_sock_read_cb, dst)) == NULL ||
            (dst->c_ev_write = event_new(srv.base, dst->c_fd, EV_WRITE | EV_PERSIST,
                                         conn_sock_write_cb, dst)) == NULL)
            fatalx("cannot set up a connection");
        if ((event_base_get_features(srv.base) & EV_FEATURE_EARLY_CLOSE) &&
            (dst->c_ev_closed = event_new(srv.base, dst->c_fd, EV_CLOSED | EV_PERSIST,
                                          conn_sock_closed_cb, dst)) == NULL)
            fatalx("cannot set up a connection");
    }
    if (dst->c_ev_resume == NULL &&
        (dst->c_ev_resume = event_new(srv.base, -1, 0, conn_resume_cb, dst)) == NULL)
        fatalx("cannot set up a connection");
    dst->c_detached = 0;
    srv.nconns++;
    src->c_closing = 0;
    conn_free(src, 0);
    session_hs_reply(dst);
    sleigh_conn_resumed(dst);
    conn_timeouts(dst);
    conn_process(dst);
}

/* A conn object with no transport: a session rebuilt from the journal. */
struct conn *
conn_new_detached(int meta_in, int meta_out)
{
    struct sockaddr sa;
    struct conn    *c;

    memset(&sa, 0, sizeof(sa));
    sa.sa_family = AF_UNSPEC;
    c = conn_alloc(&sa);
    snprintf(c->c_peer, sizeof(c->c_peer), "restored");
    if ((c->c_in = evbuffer_new()) == NULL || (c->c_out = evbuffer_new()) == NULL)
        fatalx("cannot allocate a buffer");
    c->c_cookie = 1;
    c->c_meta_in = meta_in;
    c->c_meta_out = meta_out;
    c->c_detached = 1;
    srv.nconns--;
    c->c_dec.d_state = DEC_REQ_SESS;
    return c;
}
