/*
 * rawc.h -- a strict raw-protocol NWS client for the integration tests.
 *
 * Written from shared/docs/nws-protocol.md alone, as an independent client
 * would be: both handshakes (section 2), request framing (section 3) and the
 * exact short and long reply shapes (section 4).  It never resynchronises: a
 * byte out of place is reported, with the bytes read so far, and the caller
 * is expected to fail the test.
 *
 * Every function returns 0 (or a documented positive value) on success and
 * -1 on a deviation, a timeout or EOF; c->err then says what happened.
 * Reply buffers belong to the struct rawc_reply and are freed by
 * rawc_reply_free().
 */
#ifndef RAWC_H
#define RAWC_H

#include <stddef.h>
#include <stdint.h>

/* How rawc_open() greets the server. */
enum rawc_kind {
    RAWC_PLAIN,        /* "X000", requests no option: cookie, no metadata */
    RAWC_META,         /* "X000", MetadataToServer=1 and MetadataFromServer=1 */
    RAWC_META_TO,      /* "X000", MetadataToServer=1 only */
    RAWC_META_FROM,    /* "X000", MetadataFromServer=1 only */
    RAWC_OLD_COOKIE,   /* "1112" (Java): cookie, no metadata */
    RAWC_OLD_NOCOOKIE, /* "1111" (old Python): no cookie, no metadata */
    RAWC_NONE          /* connect only, no handshake */
};

struct rawc {
    int    fd;
    int    cookie;    /* long replies carry S20(varid) D20(index) */
    int    meta_to;   /* every request starts with a DICT */
    int    meta_from; /* every reply starts with a DICT */
    char  *adv;       /* the advertisement DICT of a new-style handshake, wire form */
    size_t adv_len;
    int    corked; /* rawc_write appends to cork instead of sending */
    char  *cork;
    size_t cork_len, cork_cap;
    char   trace[256]; /* the first bytes of the reply being read, for messages */
    size_t trace_len;
    char   err[1024];
    /* Set after rawc_open: rawc_hs_new answers the NwsAuth challenge with it. */
    const char *secret;
    /*
     * Sessions (docs/SESSIONS.md): set by rawc_session_new/resume.  While
     * sess_on, every request starts with D20(seq) D20(ack): seq is
     * ++sess_seq, ack is sess_ack, which each reply read whole counts up
     * (replies come in request order).  Tests may set both, or sess_nohdr
     * to write headers themselves.
     */
    int            sess_on;
    int            sess_nohdr;
    enum rawc_kind sess_kind;
    char           sess_id[17];
    char           sess_token[33];
    int            sess_resumed; /* NwsResumed of the last handshake */
    int            sess_grace;   /* NwsGrace */
    uint64_t       sess_seq, sess_ack;
};

struct rawc_reply {
    int      is_long;
    int      status;
    char    *meta; /* reply DICT in wire form; NULL when metadata is off */
    size_t   meta_len;
    char     raw_desc[21]; /* the D20 descriptor field as received */
    int64_t  desc;
    char     varid[21];     /* the S20 variable id as received; "" without cookie */
    char     raw_index[21]; /* "" without cookie */
    uint64_t index;
    uint64_t len;
    char    *value; /* len bytes plus a NUL; NULL when the value was not read */
};

/* Connect to 127.0.0.1:port and greet the server as kind says; 0 or -1. */
int rawc_open(struct rawc *c, int port, enum rawc_kind kind);

/* Close the connection and free what c holds (safe on a closed client). */
void rawc_close(struct rawc *c);

/*
 * New-style handshake: "X000", read "P000" and the advertisement, send
 * "R000" with the options opts (key, value, ..., NULL), read the answer.
 * Returns 0 on "A000" (the flags of c are then set from opts), 1 on
 * "F000", -1 on anything else.  With c->secret set and an NwsAuth
 * challenge advertised, the answer is sent as one more option, NwsAuth.
 */
int rawc_hs_new(struct rawc *c, const char *const *opts);

/* Old-style handshake with the 4-byte word; expects "2223".  0 or -1. */
int rawc_hs_old(struct rawc *c, const char *word);

/*
 * Encode a dictionary from NULL-terminated key, value pairs into a new
 * NUL-terminated string (keys and values must not contain NUL).  Free it.
 */
char *rawc_dict_new(const char *key, ...);

/* Look key up in a wire-form DICT; 1 and *val, *vlen if present, else 0. */
int rawc_dict_get(const char *d, size_t len, const char *key, const char **val,
                  size_t *vlen);

/* 1 if the two wire-form DICTs hold the same entries, in any order. */
int rawc_dict_equal(const char *a, size_t alen, const char *b, size_t blen);

/*
 * Send one request: the metadata DICT meta (metalen bytes; NULL means "0000",
 * and is required to be NULL when MetadataToServer is off), D4(argc), then
 * each argument.  0 or -1.
 */
int rawc_send(struct rawc *c, const char *meta, size_t metalen, unsigned argc,
              const char *const *argv, const size_t *lens);

/* rawc_send() with NUL-terminated arguments ending at NULL; meta as above. */
int rawc_sendv(struct rawc *c, const char *meta, ...);

/*
 * Send a request whose last argument (lastlen bytes) the caller streams
 * itself afterwards with rawc_write(): everything up to and including
 * D20(lastlen).  argc counts the streamed argument.
 */
int rawc_send_head(struct rawc *c, const char *meta, unsigned argc,
                   const char *const *argv, const size_t *lens, uint64_t lastlen);

/* Write raw bytes (or queue them while corked); 0 or -1. */
int rawc_write(struct rawc *c, const void *buf, size_t len);

/* Queue what is written from now on instead of sending it (pipelining). */
void rawc_cork(struct rawc *c);

/* Send everything queued since rawc_cork() in one write; 0 or -1. */
int rawc_uncork(struct rawc *c);

/* Read a DICT strictly into a new buffer *out (wire form, NUL after it). */
int rawc_read_dict(struct rawc *c, char **out, size_t *outlen);

/* Read [DICT] D4(status): a short reply. */
int rawc_read_short(struct rawc *c, struct rawc_reply *r);

/* Read a whole long reply, value included. */
int rawc_read_long(struct rawc *c, struct rawc_reply *r);

/* Read a long reply up to its value length; the caller reads r->len bytes. */
int rawc_read_long_head(struct rawc *c, struct rawc_reply *r);

/* Read exactly len bytes into buf. */
int rawc_read(struct rawc *c, void *buf, size_t len);

/* Free what a reply holds and zero it. */
void rawc_reply_free(struct rawc_reply *r);

/* 0 if the server closes the connection within ms without sending a byte. */
int rawc_expect_eof(struct rawc *c, int ms);

/* 0 if nothing arrives for ms and the connection stays open. */
int rawc_expect_silence(struct rawc *c, int ms);

/* Half-close: tell the server nothing more will come (shutdown SHUT_WR). */
int rawc_shut_write(struct rawc *c);

/*
 * Connect and greet the server as kind says (a new-style kind), asking for a
 * new session; reads the dictionary after "A000" into c->sess_*.  0, 1 if
 * the handshake was denied, -1 otherwise (also when no session was given).
 */
int rawc_session_new(struct rawc *c, int port, enum rawc_kind kind);

/*
 * Reconnect c (closing its old socket if open) and resume its session with
 * the same options; seq and ack go on.  0 (c->sess_resumed says whether it
 * was resumed: if not, it is a new session and seq, ack restart at 0), 1 if
 * denied, -1 otherwise.
 */
int rawc_session_resume(struct rawc *c, int port);

/* The same with an explicit id and token (hostile tests). */
int rawc_session_resume_as(struct rawc *c, int port, const char *id, const char *token);

/* Send the requests after the acknowledged ones again: the next is ack + 1. */
void rawc_session_rewind(struct rawc *c);

/* Write a printable form of buf (C escapes) into dst; returns dst. */
char *rawc_escape(char *dst, size_t cap, const void *buf, size_t len);

#endif
