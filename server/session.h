/*
 * session.h -- resumable sessions (docs/SESSIONS.md, issue 15): the
 * contract between session.c (the sessions themselves: handshake option,
 * request header, kept replies, detach/resume/expiry), session_journal.c
 * (their records in the journal, replay, snapshot) and the web UI.
 *
 * A session's state is its conn object (conn.c): the workspace map, owned
 * workspaces, the parked waiter, barrier joins, a sleigh worker's
 * registration all live there already.  A session keeps that conn object
 * alive without a transport while detached ("session = a conn that outlives
 * its socket"); a resume moves the new socket into it.
 */
#ifndef NWS_SERVER_SESSION_H
#define NWS_SERVER_SESSION_H

#include <stddef.h>
#include <stdint.h>

#include "server.h"

#define SESSION_ID_HEX    16 /* lower-case hex digits of an id */
#define SESSION_TOKEN_HEX 32 /* ... of a token (128 random bits) */
#define SESSION_HASH_LEN  32 /* SHA-256 of the token's hex text */
#define SESSION_HDR_LEN   40 /* D20(seq) D20(ack) before each request */
#define SESSION_OPTION    "NwsSession"

/* A reply kept until the client acknowledges it. */
struct sess_reply {
    uint64_t      sr_seq;
    char         *sr_pre;     /* the reply's bytes, or those before the value */
    size_t        sr_prelen;
    struct value *sr_value;   /* held: a value sent after sr_pre, or NULL */
    int           sr_written; /* written whole at least once (counts as delivered) */
};

struct session;

/* ---- session.c ------------------------------------------------------ */

/* --no-sessions: not advertised, never granted. */
extern int session_disabled;

/* Options checked in conn_hs_options(): value of NwsSession requested.
 * Fills c's session (new or resumed, possibly another conn object: the
 * returned conn is the one to go on with; c is then freed by conn.c).
 * NULL: deny the handshake (logged). */
struct conn *session_handshake(struct conn *c, const char *val, size_t vlen);

/* The dictionary sent after A000 (NwsSession, NwsResumed, NwsGrace). */
void session_hs_reply(struct conn *c);

/* The session c carries, or NULL (a classic connection). */
struct session *conn_session(const struct conn *c);

/* The transport of a session conn is gone: detach (1), or 0 when the
 * conn must be freed as before (no session, or the session ended). */
int session_detach(struct conn *c);

/* A request header was read: apply the rules of docs/SESSIONS.md 2.
 * Returns 0: run the request; 1: answered or parked already, skip it;
 * -1: protocol error (reason set). */
int session_request(struct conn *c, uint64_t seq, uint64_t ack, const struct command *cmd,
                    const char **reason);

/* Reply capture: every reply of a kept request goes through these (reply.c). */
void session_reply_bytes(struct conn *c, const void *p, size_t len);
void session_reply_value(struct conn *c, struct value *v);
void session_reply_done(struct conn *c); /* the request's reply is whole */
/* Capture on or off for the running or parked request's reply (session.c). */
void session_capture(struct conn *c, int on);

/* `end session`: ends c's session now, as a close of a classic connection. */
void session_end(struct session *s);

/* Accessors for the journal and the web. */
const char *session_id(const struct session *s);
const unsigned char *session_tokhash(const struct session *s);
uint64_t session_last(const struct session *s);
uint64_t session_acked(const struct session *s);
struct conn *session_conn(const struct session *s);

/* Replay (session_journal.c): a detached session rebuilt from the journal,
 * with its grace timer started by session_start_restored(). */
struct session *session_restore(const char *id, const unsigned char tokhash[SESSION_HASH_LEN],
                                uint64_t last, uint64_t acked, unsigned flags);
/* session_restore_reply() copies pre and takes the reference to held (the
 * reply counts as written: its value never goes back). */
void session_restore_reply(struct session *s, uint64_t seq, const char *pre, size_t prelen,
                           struct value *held);
/* The flags session_restore() takes back (for J_SESS_NEW). */
#define SESSION_F_META_IN  0x1
#define SESSION_F_META_OUT 0x2
unsigned        session_flags(const struct session *s);
struct session *session_by_id(const char *id);
void session_start_restored(void);

/* Iteration for the journal's snapshot and the web UI. */
struct session_info {
    char     id[SESSION_ID_HEX + 1];
    char     peer[CONN_PEER_MAX];
    int      attached;
    int      restored;        /* rebuilt from the journal, not resumed yet */
    double   detached_for;    /* seconds, 0 while attached */
    double   grace_left;      /* seconds before it ends, while detached */
    uint64_t last, acked;
    size_t   nkept;           /* kept replies */
    uint64_t kept_bytes;      /* their bytes, held values included */
    unsigned resumes;         /* times resumed */
    size_t   nowned;          /* owned workspaces */
};
void session_foreach(void (*fn)(struct session *, const struct session_info *, void *),
                     void *arg);
size_t session_count(size_t *detached);
/* Kept replies of s in seq order, for the snapshot. */
void session_foreach_reply(struct session *s,
                           void (*fn)(const struct sess_reply *, void *), void *arg);

/* Also session.c, for conn.c: the conn is freed for good (shutdown): its
 * session goes too.  A fetched value of the running request's reply. */
void session_conn_gone(struct conn *c);
void session_note_fetched(struct conn *c, struct var *var, struct value *v,
                          uint64_t index);

/* sleigh.c (weak no-ops in session.c until it has them): a worker's
 * transport went (its running tasks go back), or came back. */
void sleigh_conn_detached(struct conn *c);
void sleigh_conn_resumed(struct conn *c);

/* op_session.c: `end session`. */
extern const struct command op_end_session;

/* ---- session_journal.c ----------------------------------------------- */

/* Record types 40..47 (journalp.h numbering; plain records are 1..39). */
void journal_session_new(const struct session *s);
void journal_session_end(const struct session *s);
/* A kept reply of a mutation: journaled before the reply leaves. */
void journal_session_reply(const struct session *s, const struct sess_reply *r);
/* An acknowledgement released a held value: journal it (at most once a turn). */
void journal_session_ack(const struct session *s, uint64_t ack);
/* A session's workspace map or owned set changed (conn.c): name now maps to
 * instance id with how (SESSION_MAP_* bits; 0: no longer there). */
#define SESSION_MAP_MAPPED 0x1 /* in its workspace map */
#define SESSION_MAP_OWNED  0x2 /* in its owned set (purged when it ends) */
void journal_session_map(const struct session *s, const char *name, size_t len,
                         uint64_t id, unsigned how);

#endif
