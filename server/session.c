/*
 * session.c -- resumable sessions (docs/SESSIONS.md sections 1-3).
 *
 * A session is a conn object that outlives its socket: conn.c keeps the
 * object (workspace map, owned workspaces, parked waiter, barrier joins)
 * when the transport goes and moves a resuming client's socket into it.
 * This file holds what the conn object does not: the id and the token's
 * hash, the request numbers (last, acked), the replies kept until the
 * client acknowledges them, and the grace timer of a detached session.
 *
 * Kept replies are captured as they are made: reply.c hands every byte of
 * the running request's reply here (session_reply_bytes), and a value by
 * reference (session_reply_value), so a reply sent again is the same bytes
 * and a fetched value is the same value.  Fetched values are noted in the
 * session's own fetched_list (requeue.c), keyed by seq instead of an output
 * offset: an acknowledgement drops them; the end of the session puts back
 * those whose reply was never written whole.
 */
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "journal.h"
#include "server.h"
#include "session.h"
#include "util.h"

/*
 * Kept replies a session may hold.  A client acknowledges with each request,
 * so it holds at most its pipeline's depth; past this many, a client that
 * never acknowledges gets error replies (not kept) instead of more work.
 */
#define SESSION_KEPT_MAX 4096

/*
 * What a session costs while it lives, charged to srv.mem_used: its record
 * and its conn object, buffers and maps (about that much when empty).  A
 * `new` that does not fit in --max-memory is refused (F000), so a client
 * that makes and drops sessions in a loop is bounded by the memory limit.
 */
#define SESSION_COST 2048

int session_disabled;

struct kept {
    struct sess_reply k_r;
    uint64_t k_end; /* output offset where it ends; UINT64_MAX: not in the output */
    TAILQ_ENTRY(kept) k_link;
};

struct session {
    char          s_id[SESSION_ID_HEX + 1];
    unsigned char s_hash[SESSION_HASH_LEN];
    char          s_token[SESSION_TOKEN_HEX + 1]; /* until the handshake's reply */
    struct conn  *s_conn;
    uint64_t      s_last, s_acked;
    uint64_t      s_cur;                /* the request running or parked, 0: none */
    struct kept  *s_cap;                /* the reply of s_cur being captured */
    TAILQ_HEAD(kept_list, kept) s_kept; /* in seq order */
    size_t              s_nkept;
    uint64_t            s_kept_bytes;
    struct fetched_list s_held; /* fetched values of kept replies (f_end: the seq) */
    struct event       *s_ev_grace;
    int                 s_attached;
    int                 s_restored;
    int                 s_replayed; /* rebuilt from the journal, no request since */
    int                 s_rerun;    /* a read runs again beside the hidden park (s_cur) */
    int                 s_live;     /* s_cur's reply is being made: capture it */
    int                 s_resumed;  /* this handshake resumed it (NwsResumed) */
    int                 s_meta_in, s_meta_out;
    double              s_detached_at;
    unsigned            s_resumes;
    TAILQ_ENTRY(session) s_link;
};

static TAILQ_HEAD(, session) sessions = TAILQ_HEAD_INITIALIZER(sessions);
/* id -> session: a resume (thousands of them after a restart) is one lookup. */
static struct htab session_tab;
static size_t      sessions_n, sessions_detached;

/* Journal hooks (session_journal.c).  Weak no-ops until that file provides them. */
__attribute__((weak)) void
journal_session_new(const struct session *s)
{
    (void)s;
}

__attribute__((weak)) void
journal_session_end(const struct session *s)
{
    (void)s;
}

__attribute__((weak)) void
journal_session_reply(const struct session *s, const struct sess_reply *r)
{
    (void)s;
    (void)r;
}

__attribute__((weak)) void
journal_session_ack(const struct session *s, uint64_t ack)
{
    (void)s;
    (void)ack;
}

/* The sleigh's worker rules (sleigh.c): weak no-ops until it provides them. */
__attribute__((weak)) void
sleigh_conn_detached(struct conn *c)
{
    (void)c;
}

__attribute__((weak)) void
sleigh_conn_resumed(struct conn *c)
{
    (void)c;
}

static void
session_hex(char *dst, const unsigned char *src, size_t n)
{
    static const char digits[] = "0123456789abcdef";
    size_t            i;

    for (i = 0; i < n; i++) {
        dst[2 * i] = digits[src[i] >> 4];
        dst[2 * i + 1] = digits[src[i] & 15];
    }
    dst[2 * n] = '\0';
}

static int
session_is_hex(const char *p, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++)
        if (!((p[i] >= '0' && p[i] <= '9') || (p[i] >= 'a' && p[i] <= 'f')))
            return 0;
    return 1;
}

static void
session_hash(const char *token, unsigned char out[SESSION_HASH_LEN])
{
    SHA256((const unsigned char *)token, SESSION_TOKEN_HEX, out);
}

struct session *
session_by_id(const char *id)
{
    return htab_get(&session_tab, id, strlen(id));
}

static struct session *
session_alloc(const char *id)
{
    struct session *s = xcalloc(1, sizeof(*s));

    srv.mem_used += SESSION_COST;

    snprintf(s->s_id, sizeof(s->s_id), "%s", id);
    TAILQ_INIT(&s->s_kept);
    TAILQ_INSERT_TAIL(&sessions, s, s_link);
    htab_put(&session_tab, s->s_id, strlen(s->s_id), s);
    sessions_n++;
    return s;
}

/* A new session for c with a fresh id and token; NULL without random bytes. */
static struct session *
session_create(struct conn *c)
{
    unsigned char   rnd[SESSION_ID_HEX / 2 + SESSION_TOKEN_HEX / 2];
    char            id[SESSION_ID_HEX + 1];
    struct session *s;

    if (!mem_fits(SESSION_COST)) {
        log_warnx("%s: no new session: the memory limit is reached (--max-memory)",
                  conn_peer(c));
        return NULL;
    }
    do {
        if (RAND_bytes(rnd, sizeof(rnd)) != 1)
            return NULL;
        session_hex(id, rnd, SESSION_ID_HEX / 2);
    } while (session_by_id(id) != NULL);
    s = session_alloc(id);
    session_hex(s->s_token, rnd + SESSION_ID_HEX / 2, SESSION_TOKEN_HEX / 2);
    session_hash(s->s_token, s->s_hash);
    OPENSSL_cleanse(rnd, sizeof(rnd));
    s->s_conn = c;
    s->s_attached = 1;
    s->s_meta_in = conn_meta_in(c);
    s->s_meta_out = conn_meta_out(c);
    conn_set_session(c, s);
    journal_session_new(s);
    log_debug("%s: new session %s", conn_peer(c), s->s_id);
    return s;
}

static void
kept_free(struct session *s, struct kept *k)
{
    TAILQ_REMOVE(&s->s_kept, k, k_link);
    s->s_nkept--;
    s->s_kept_bytes -= k->k_r.sr_prelen;
    srv.mem_used -= k->k_r.sr_prelen;
    free(k->k_r.sr_pre);
    value_unref(k->k_r.sr_value);
    free(k);
}

/* Adds k in seq order (the tail but for a request run again), replacing one of its seq. */
static void
kept_insert(struct session *s, struct kept *k)
{
    struct kept *at = TAILQ_LAST(&s->s_kept, kept_list);

    if (at != NULL && at->k_r.sr_seq >= k->k_r.sr_seq) {
        TAILQ_FOREACH(at, &s->s_kept, k_link)
        if (at->k_r.sr_seq >= k->k_r.sr_seq)
            break;
        if (at->k_r.sr_seq == k->k_r.sr_seq) {
            struct kept *next = TAILQ_NEXT(at, k_link);

            kept_free(s, at);
            at = next;
        }
    } else {
        at = NULL; /* past the last one: the tail */
    }
    if (at == NULL)
        TAILQ_INSERT_TAIL(&s->s_kept, k, k_link);
    else
        TAILQ_INSERT_BEFORE(at, k, k_link);
    s->s_nkept++;
    s->s_kept_bytes += k->k_r.sr_prelen;
}

/* Frees s and what it holds; its conn forgets it. */
static void
session_free(struct session *s)
{
    struct kept *k;

    if (s->s_cap != NULL) {
        srv.mem_used -= s->s_cap->k_r.sr_prelen;
        free(s->s_cap->k_r.sr_pre);
        value_unref(s->s_cap->k_r.sr_value);
        free(s->s_cap);
    }
    while ((k = TAILQ_FIRST(&s->s_kept)) != NULL)
        kept_free(s, k);
    requeue_forget(&s->s_held);
    if (s->s_ev_grace != NULL)
        event_free(s->s_ev_grace);
    if (!s->s_attached)
        sessions_detached--;
    if (s->s_conn != NULL)
        conn_set_session(s->s_conn, NULL);
    TAILQ_REMOVE(&sessions, s, s_link);
    htab_del(&session_tab, s->s_id, strlen(s->s_id));
    sessions_n--;
    srv.mem_used -= SESSION_COST;
    OPENSSL_cleanse(s->s_token, sizeof(s->s_token));
    free(s);
}

/* The kept reply of seq, or NULL. */
static struct kept *
session_kept(struct session *s, uint64_t seq)
{
    struct kept *k;

    TAILQ_FOREACH(k, &s->s_kept, k_link)
    {
        if (k->k_r.sr_seq == seq)
            return k;
        if (k->k_r.sr_seq > seq)
            break;
    }
    return NULL;
}

/* Marks the kept replies the transport wrote whole; they leave its output. */
static void
session_settle_written(struct session *s)
{
    uint64_t     done = conn_out_done(s->s_conn);
    struct kept *k;

    TAILQ_FOREACH(k, &s->s_kept, k_link)
    {
        if (k->k_end != UINT64_MAX && k->k_end <= done)
            k->k_r.sr_written = 1;
        k->k_end = UINT64_MAX;
    }
}

/* requeue_move(): where a held value's reply ends in the output, 0 if delivered. */
static uint64_t
session_note_end(uint64_t seq, void *arg)
{
    struct session *s = arg;
    struct kept    *k = session_kept(s, seq);

    if (k == NULL || k->k_r.sr_written)
        return 0;
    return k->k_end;
}

static void
session_grace_cb(evutil_socket_t fd, short what, void *arg)
{
    struct session *s = arg;

    (void)fd;
    (void)what;
    log_info("session %s: not resumed within %d s; ending it", s->s_id,
             journal_opts.resume_grace);
    session_end(s);
}

static void
session_arm_grace(struct session *s)
{
    struct timeval tv = {journal_opts.resume_grace, 0};

    if (s->s_ev_grace == NULL &&
        (s->s_ev_grace = evtimer_new(srv.base, session_grace_cb, s)) == NULL)
        fatalx("cannot arm a session's grace timer");
    evtimer_add(s->s_ev_grace, &tv);
}

/*
 * Ends s as a classic close: its held values whose replies were never
 * written whole go back (as notes of the conn, which put them back when it
 * closes, or not if the current transport writes them first), and the
 * conn closes now (detached) or once its last reply is written.
 */
void
session_end(struct session *s)
{
    struct conn *c = s->s_conn;
    int          attached = s->s_attached;
    uint64_t     done = conn_out_done(c);
    struct kept *k;

    journal_session_end(s);
    TAILQ_FOREACH(k, &s->s_kept, k_link)
    if (k->k_end != UINT64_MAX && k->k_end <= done)
        k->k_r.sr_written = 1;
    requeue_move(&s->s_held, conn_fetched(c), session_note_end, s);
    log_debug("session %s: ended", s->s_id);
    if (attached)
        conn_purge_now(c); /* journaled before the reply leaves */
    session_free(s);
    if (attached)
        conn_set_closing(c);
    else
        conn_release(c);
}

/* "new", or "resume ID TOKEN"; anything else denies the handshake. */
struct conn *
session_handshake(struct conn *c, const char *val, size_t vlen)
{
    static const char resume[] = "resume ";
    char              id[SESSION_ID_HEX + 1], token[SESSION_TOKEN_HEX + 1];
    unsigned char     hash[SESSION_HASH_LEN];
    struct session   *s;
    const size_t      rlen = sizeof(resume) - 1;

    if (vlen == 3 && memcmp(val, "new", 3) == 0) {
        if ((s = session_create(c)) == NULL)
            return NULL;
        return c;
    }
    if (vlen != rlen + SESSION_ID_HEX + 1 + SESSION_TOKEN_HEX ||
        memcmp(val, resume, rlen) != 0 || val[rlen + SESSION_ID_HEX] != ' ' ||
        !session_is_hex(val + rlen, SESSION_ID_HEX) ||
        !session_is_hex(val + rlen + SESSION_ID_HEX + 1, SESSION_TOKEN_HEX)) {
        log_info("%s: malformed %s value", conn_peer(c), SESSION_OPTION);
        return NULL;
    }
    memcpy(id, val + rlen, SESSION_ID_HEX);
    id[SESSION_ID_HEX] = '\0';
    memcpy(token, val + rlen + SESSION_ID_HEX + 1, SESSION_TOKEN_HEX);
    token[SESSION_TOKEN_HEX] = '\0';
    session_hash(token, hash);
    s = session_by_id(id);
    /* Compared in constant time; an unknown id and a wrong token look the same. */
    if (s == NULL || CRYPTO_memcmp(hash, s->s_hash, SESSION_HASH_LEN) != 0) {
        log_info("%s: resume of session %s refused (unknown, ended, or wrong token); "
                 "a new session",
                 conn_peer(c), id);
        OPENSSL_cleanse(token, sizeof(token));
        return session_create(c) != NULL ? c : NULL;
    }
    if (s->s_meta_in != conn_meta_in(c) || s->s_meta_out != conn_meta_out(c)) {
        log_info("%s: resume of session %s with other metadata options; denied",
                 conn_peer(c), id);
        OPENSSL_cleanse(token, sizeof(token));
        return NULL;
    }
    if (s->s_attached) {
        log_info("%s: session %s taken over from %s", conn_peer(c), id,
                 conn_peer(s->s_conn));
        session_settle_written(s);
        conn_detach_transport(s->s_conn);
        sleigh_conn_detached(s->s_conn);
    } else {
        sessions_detached--;
        if (s->s_ev_grace != NULL)
            evtimer_del(s->s_ev_grace);
    }
    s->s_attached = 1;
    s->s_restored = 0;
    s->s_resumed = 1;
    s->s_resumes++;
    memcpy(s->s_token, token, sizeof(token));
    OPENSSL_cleanse(token, sizeof(token));
    log_info("%s: session %s resumed", conn_peer(c), id);
    return s->s_conn;
}

/* The dictionary after A000: NwsSession, NwsResumed, NwsGrace. */
void
session_hs_reply(struct conn *c)
{
    struct session *s = conn_session(c);
    struct nwsp_buf b = {0};
    char            idtok[SESSION_ID_HEX + 1 + SESSION_TOKEN_HEX + 1], grace[16];

    if (s == NULL)
        return;
    snprintf(idtok, sizeof(idtok), "%s %s", s->s_id, s->s_token);
    snprintf(grace, sizeof(grace), "%d", journal_opts.resume_grace);
    if (nwsp_buf_dict_begin(&b, 3) != 0 ||
        nwsp_buf_dict_put(&b, SESSION_OPTION, strlen(SESSION_OPTION), idtok,
                          strlen(idtok)) != 0 ||
        nwsp_buf_dict_put(&b, "NwsResumed", 10, s->s_resumed ? "1" : "0", 1) != 0 ||
        nwsp_buf_dict_put(&b, "NwsGrace", 8, grace, strlen(grace)) != 0 ||
        evbuffer_add(conn_output(c), b.data, b.len) != 0)
        conn_abort(c, "cannot allocate the session's handshake reply");
    OPENSSL_cleanse(idtok, sizeof(idtok));
    if (b.data != NULL)
        OPENSSL_cleanse(b.data, b.len);
    nwsp_buf_free(&b);
    OPENSSL_cleanse(s->s_token, sizeof(s->s_token));
    s->s_resumed = 0;
}

/* The transport is gone: the session waits --resume-grace for its client. */
int
session_detach(struct conn *c)
{
    struct session *s = conn_session(c);

    if (s == NULL || srv.shutting_down)
        return 0;
    session_settle_written(s);
    conn_detach_transport(c);
    s->s_attached = 0;
    s->s_detached_at = nwsp_mono();
    sessions_detached++;
    session_arm_grace(s);
    sleigh_conn_detached(c);
    log_info("%s: session %s detached; it waits %d s to be resumed", conn_peer(c),
             s->s_id, journal_opts.resume_grace);
    return 1;
}

/* The conn is freed (server shutdown): its session goes with it. */
void
session_conn_gone(struct conn *c)
{
    struct session *s = conn_session(c);

    if (s == NULL)
        return;
    /* Held values stay held: with --journal the session and its kept
     * replies come back at the next start (session_journal.c), and a value
     * put back too would be given twice. */
    requeue_forget(&s->s_held);
    s->s_conn = NULL;
    conn_set_session(c, NULL);
    session_free(s);
}

/* Whether a reply of cmd is kept (reads are not: docs/SESSIONS.md 2). */
static int
session_keeps(const struct command *cmd)
{
    return cmd != NULL && cmd != &op_find && cmd != &op_find_try && cmd != &op_ifind &&
           cmd != &op_ifind_try && cmd != &op_list_wss && cmd != &op_list_vars &&
           cmd != &op_server_info && cmd != &op_end_session;
}

/* Sends the kept reply k again. */
static void
session_resend(struct conn *c, struct kept *k)
{
    reply_again(c, k->k_r.sr_pre, k->k_r.sr_prelen, k->k_r.sr_value);
    k->k_end = conn_out_end(c);
}

/* Starts running seq: its reply is captured when kept. */
static void
session_begin(struct session *s, uint64_t seq, const struct command *cmd)
{
    if (s->s_cap != NULL) {
        /* A parked request whose wait was cancelled (an abort) runs again. */
        srv.mem_used -= s->s_cap->k_r.sr_prelen;
        free(s->s_cap->k_r.sr_pre);
        value_unref(s->s_cap->k_r.sr_value);
        free(s->s_cap);
        s->s_cap = NULL;
    }
    s->s_cur = seq;
    s->s_live = 1;
    if (session_keeps(cmd)) {
        s->s_cap = xcalloc(1, sizeof(*s->s_cap));
        s->s_cap->k_r.sr_seq = seq;
        s->s_cap->k_end = UINT64_MAX;
    }
}

int
session_request(struct conn *c, uint64_t seq, uint64_t ack, const struct command *cmd,
                const char **reason)
{
    struct session *s = conn_session(c);
    struct kept    *k;
    uint64_t        next;

    if (s == NULL)
        return 0;
    /* After a restart, reads answered after the last journaled seq may be acknowledged. */
    if (s->s_replayed && ack > s->s_last)
        s->s_last = ack;
    s->s_replayed = 0;
    if (ack < s->s_acked || ack > s->s_last) {
        *reason = "Session: acknowledgement out of range.";
        return -1;
    }
    if (ack > s->s_acked && (k = TAILQ_FIRST(&s->s_kept)) != NULL &&
        k->k_r.sr_seq <= ack) {
        while ((k = TAILQ_FIRST(&s->s_kept)) != NULL && k->k_r.sr_seq <= ack)
            kept_free(s, k);
        requeue_written(&s->s_held, ack);
        journal_session_ack(s, ack);
    }
    s->s_acked = ack;
    if (seq <= ack) {
        *reason = "Session: request number already acknowledged.";
        return -1;
    }
    /*
     * `end session` is the last request a client sends, maybe on a new
     * connection while requests it gave up are parked or were never read:
     * it runs whatever its number, and cancels a parked request first.
     */
    if (cmd == &op_end_session) {
        conn_cancel_park(c);
        return 0;
    }
    next = (s->s_last > ack ? s->s_last : ack) + 1;
    if (seq == next) {
        if (conn_hidden_park(c)) {
            *reason = "Session: a new request before the waiting one was sent again.";
            return -1;
        }
        s->s_last = seq;
        if (s->s_nkept >= SESSION_KEPT_MAX) {
            log_info("%s: session %s holds %d unacknowledged replies; refusing",
                     conn_peer(c), s->s_id, SESSION_KEPT_MAX);
            if (cmd != NULL && cmd->long_reply)
                reply_long_error(c, NWSP_STATUS_FAIL,
                                 "Session: too many unacknowledged replies.");
            else
                reply_short(c, NWSP_STATUS_FAIL,
                            "Session: too many unacknowledged replies.");
            return 1;
        }
        session_begin(s, seq, cmd);
        return 0;
    }
    if (seq > next) {
        *reason = "Session: request number out of sequence.";
        return -1;
    }
    /* A re-sent request: ack < seq <= last. */
    if ((k = session_kept(s, seq)) != NULL) {
        session_resend(c, k);
        return 1;
    }
    if (seq == s->s_cur && conn_hidden_park(c)) {
        conn_repark(c); /* keeps its place among the waiters */
        return 1;
    }
    if (conn_hidden_park(c) && (cmd == &op_find || cmd == &op_ifind)) {
        /* It could block too, and a conn parks one request at a time. */
        reply_long_error(
            c, NWSP_STATUS_FAIL,
            "Session: a blocking read cannot run again while a fetch waits.");
        return 1;
    }
    if (conn_hidden_park(c)) {
        s->s_rerun = 1; /* a read run again, not kept: s_cur stays the parked one */
        return 0;
    }
    session_begin(s, seq, cmd);
    return 0;
}

void
session_reply_bytes(struct conn *c, const void *p, size_t len)
{
    struct session *s = conn_session(c);
    struct kept    *k;

    if (s == NULL || (k = s->s_cap) == NULL || !s->s_live || len == 0)
        return;
    k->k_r.sr_pre = xrealloc(k->k_r.sr_pre, k->k_r.sr_prelen + len);
    memcpy(k->k_r.sr_pre + k->k_r.sr_prelen, p, len);
    k->k_r.sr_prelen += len;
    srv.mem_used += len;
}

void
session_reply_value(struct conn *c, struct value *v)
{
    struct session *s = conn_session(c);

    if (s == NULL || s->s_cap == NULL || !s->s_live || s->s_cap->k_r.sr_value != NULL)
        return;
    s->s_cap->k_r.sr_value = value_ref(v);
}

/*
 * Only the reply of s_cur is captured: while it runs (session_begin to
 * session_reply_done), or parked, while a value or a failure is delivered
 * to it (conn.c turns it on around the delivery); never an error reply of
 * the connection's own, nor a read run again beside a hidden park.
 */
void
session_capture(struct conn *c, int on)
{
    struct session *s = conn_session(c);

    if (s != NULL && s->s_cur != 0)
        s->s_live = on;
}

/* A fetched value went into the running request's reply (conn_note_fetched). */
void
session_note_fetched(struct conn *c, struct var *var, struct value *v, uint64_t index)
{
    struct session *s = conn_session(c);

    requeue_note(&s->s_held, var, v, index, s->s_cur);
}

void
session_reply_done(struct conn *c)
{
    struct session *s = conn_session(c);
    struct kept    *k;

    if (s == NULL)
        return;
    if (s->s_rerun) {
        s->s_rerun = 0;
        return;
    }
    s->s_live = 0;
    s->s_cur = 0;
    if ((k = s->s_cap) == NULL)
        return;
    s->s_cap = NULL;
    k->k_end = conn_out_end(c);
    kept_insert(s, k);
    journal_session_reply(s, &k->k_r);
}

/* Accessors. */
unsigned
session_flags(const struct session *s)
{
    return (s->s_meta_in ? SESSION_F_META_IN : 0) |
           (s->s_meta_out ? SESSION_F_META_OUT : 0);
}

const char *
session_id(const struct session *s)
{
    return s->s_id;
}

const unsigned char *
session_tokhash(const struct session *s)
{
    return s->s_hash;
}

uint64_t
session_last(const struct session *s)
{
    return s->s_last;
}

uint64_t
session_acked(const struct session *s)
{
    return s->s_acked;
}

struct conn *
session_conn(const struct session *s)
{
    return s->s_conn;
}

/* Replay: a detached session on a conn object without transport. */
struct session *
session_restore(const char *id, const unsigned char tokhash[SESSION_HASH_LEN],
                uint64_t last, uint64_t acked, unsigned flags)
{
    struct session *s = session_by_id(id);

    if (s != NULL)
        session_free(s); /* a later record wins */
    s = session_alloc(id);
    memcpy(s->s_hash, tokhash, SESSION_HASH_LEN);
    s->s_last = last;
    s->s_acked = acked;
    s->s_meta_in = (flags & SESSION_F_META_IN) != 0;
    s->s_meta_out = (flags & SESSION_F_META_OUT) != 0;
    s->s_restored = 1;
    s->s_replayed = 1;
    s->s_conn = conn_new_detached(s->s_meta_in, s->s_meta_out);
    conn_set_session(s->s_conn, s);
    sessions_detached++;
    s->s_detached_at = nwsp_mono();
    return s;
}

void
session_restore_reply(struct session *s, uint64_t seq, const char *pre, size_t prelen,
                      struct value *held)
{
    struct kept *k = xcalloc(1, sizeof(*k));

    k->k_r.sr_seq = seq;
    k->k_r.sr_pre = xmemdup(pre, prelen > 0 ? prelen : 1);
    k->k_r.sr_prelen = prelen;
    srv.mem_used += prelen;
    /* Takes the caller's reference.  Whether the reply left before the
     * restart is unknown: it counts as written, so its value never goes
     * back (giving it twice would be worse than the rule of a close). */
    k->k_r.sr_value = held;
    k->k_r.sr_written = 1;
    k->k_end = UINT64_MAX;
    kept_insert(s, k);
}

void
session_start_restored(void)
{
    struct session *s;

    TAILQ_FOREACH(s, &sessions, s_link)
    if (!s->s_attached)
        session_arm_grace(s);
}

void
session_foreach(void (*fn)(struct session *, const struct session_info *, void *),
                void *arg)
{
    struct session     *s;
    struct session_info in;
    struct kept        *k;
    double              now = nwsp_mono();

    TAILQ_FOREACH(s, &sessions, s_link)
    {
        memset(&in, 0, sizeof(in));
        snprintf(in.id, sizeof(in.id), "%s", s->s_id);
        snprintf(in.peer, sizeof(in.peer), "%s", conn_peer(s->s_conn));
        in.attached = s->s_attached;
        in.restored = s->s_restored;
        if (!s->s_attached) {
            in.detached_for = now - s->s_detached_at;
            in.grace_left = journal_opts.resume_grace - in.detached_for;
            if (in.grace_left < 0)
                in.grace_left = 0;
        }
        in.last = s->s_last;
        in.acked = s->s_acked;
        in.nkept = s->s_nkept;
        in.kept_bytes = s->s_kept_bytes;
        TAILQ_FOREACH(k, &s->s_kept, k_link)
        if (k->k_r.sr_value != NULL)
            in.kept_bytes += k->k_r.sr_value->v_len;
        in.resumes = s->s_resumes;
        in.nowned = conn_nowned(s->s_conn);
        fn(s, &in, arg);
    }
}

size_t
session_count(size_t *detached)
{
    if (detached != NULL)
        *detached = sessions_detached;
    return sessions_n;
}

void
session_foreach_reply(struct session *s, void (*fn)(const struct sess_reply *, void *),
                      void           *arg)
{
    struct kept *k;

    TAILQ_FOREACH(k, &s->s_kept, k_link)
    fn(&k->k_r, arg);
}
