/*
 * sesst.h -- a session client for the session suites (docs/SESSIONS.md),
 * written from the contract alone on top of rawc's plain I/O.
 *
 * It does its own handshake and writes the 40-byte request header itself,
 * with whatever seq and ack the test asks for, so that tests can re-send a
 * request with its old seq after a cut, and send hostile headers (non-digits,
 * gaps, acks beyond what was run) that a well-behaved client never would.
 * Replies are read with rawc (rawc_read_short, rawc_read_long) and checked
 * with ptest's assertions.  Every function asserts (fails the test) unless it
 * says it returns a result.
 */
#ifndef SESST_H
#define SESST_H

#include <stdint.h>

#include "ptest.h"

struct sesst {
    struct rawc c;
    char        id[17];  /* the session's id, 16 hex digits */
    char        tok[33]; /* its resume token, 32 hex digits */
    int         resumed; /* NwsResumed of the last handshake */
    long        grace;   /* NwsGrace */
    uint64_t    seq;     /* the last seq sent */
    uint64_t    ack;     /* the ack sent with the next request */
};

/*
 * Handshake on a new connection to port asking NwsSession = want ("new", or
 * "resume ID TOKEN"); extra options (key, value, ..., NULL) may be NULL.
 * Returns 0 on A000 (id, tok, resumed, grace filled from the dictionary
 * after it), 1 on F000, -1 on anything else (s->c.err says what).
 */
int sesst_hs(struct sesst *s, int port, const char *want, const char *const *extra);

/* A new session (asserts A000 and NwsResumed 0); seq and ack start at 0. */
void sesst_new(int line, struct sesst *s, int port);

/*
 * Resume s's session on a new connection (the old one must be closed or
 * cut); asserts A000 and NwsResumed == want_resumed.  seq and ack are kept:
 * the caller re-sends what it wants.
 */
void sesst_resume(int line, struct sesst *s, int port, int want_resumed);

/* Write the header D20(seq) D20(ack) and the request (NUL-terminated args, NULL). */
int sesst_send_at(struct sesst *s, uint64_t seq, uint64_t ack, ...);

/* The next request: seq = ++s->seq, ack = s->ack.  Asserts the write. */
void sesst_sendv(int line, struct sesst *s, ...);

/* After a reply was read whole: acknowledge it with the next request. */
#define SESST_GOT(s) ((s)->ack = (s)->seq)

/* Wait until reply bytes are waiting unread on s's socket (at most ms); asserts. */
void sesst_wait_reply(int line, struct sesst *s, int ms);

/*
 * Wait until the whole next reply is waiting on s's socket and copy it into
 * buf (cap bytes) WITHOUT reading it (MSG_PEEK): a short reply (4 bytes) or,
 * with is_long, a long one (cookie on, no metadata).  Returns its length;
 * asserts it came within PTEST_SOON_MS.  The reply stays unread, so a cut
 * after this loses it, as a broken network would.
 */
size_t sesst_peek_reply(int line, struct sesst *s, int is_long, char *buf, size_t cap);

/* Read len bytes and assert they are exactly want (the same reply again). */
void sesst_expect_bytes(int line, struct sesst *s, const char *want, size_t len);

/*
 * Cut the connection as a broken network would: an abortive close (RST),
 * unread reply bytes dropped.  The id, token, seq and ack stay in s.
 */
void sesst_cut(struct sesst *s);

/* Close the connection without a word (FIN); the same otherwise. */
void sesst_drop(struct sesst *s);

#define SESST_NEW(s, port)       sesst_new(__LINE__, (s), (port))
#define SESST_RESUME(s, port, r) sesst_resume(__LINE__, (s), (port), (r))
#define SESST_SEND(s, ...)       sesst_sendv(__LINE__, (s), __VA_ARGS__, (const char *)NULL)
#define SESST_WAIT_REPLY(s)      sesst_wait_reply(__LINE__, (s), PTEST_SOON_MS)
#define SESST_PEEK(s, l, b)      sesst_peek_reply(__LINE__, (s), (l), (b), sizeof(b))
#define SESST_EXPECT(s, b, n)    sesst_expect_bytes(__LINE__, (s), (b), (n))

#endif
