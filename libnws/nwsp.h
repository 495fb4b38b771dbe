/*
 * nwsp.h -- private header of libnws: the structures behind the opaque
 * public types and the functions the files of the library share.
 *
 * Every symbol here is nwsp_ and hidden (-fvisibility=hidden); only the
 * NWS_API functions of nws.h leave libnws.so.  One section per file.
 */
#ifndef NWSP_H
#define NWSP_H

#include <stdarg.h>
#include <stdint.h>
#include <sys/types.h>

#include "frame.h"
#include "nws.h"

/* Limits on what a reply may make us allocate. */
#define NWSP_MAX_VALUE_DEFAULT  ((uint64_t)256 << 20)
#define NWSP_REPLY_DICT_MAX     (1u << 20) /* bytes of reply metadata */
#define NWSP_REPLY_DICT_ENTRIES 1000
#define NWSP_ADVERT_MAX         65536 /* bytes of the handshake advertisement */
#define NWSP_IO_CHUNK           65536

/* ---- error.c --------------------------------------------------------- */

/* Clears err (may be NULL) at the start of a public call. */
void nwsp_err_clear(nws_error *err);
/* Records an error unless one is already recorded (the first one wins). */
void nwsp_err_set(nws_error *err, int code, int status, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* ---- meta.c ---------------------------------------------------------- */

struct nws_meta {
    size_t count, cap;
    char **keys;
    char **vals;
};

/* Appends m's entries as a wire dictionary (D4 count, entries).  0, or -1. */
int nwsp_meta_encode(const nws_meta *m, struct nwsp_buf *b);
/* Parses a scanned wire dictionary into m (emptied first).  0, or -1 (no memory). */
int nwsp_meta_decode(nws_meta *m, const char *dict, size_t len);
/* Empties m. */
void nwsp_meta_clear(nws_meta *m);
/* Sets every entry of src into dst.  0, or -1. */
int nwsp_meta_merge(nws_meta *dst, const nws_meta *src, nws_error *err);

/* ---- value.c --------------------------------------------------------- */

struct nws_value {
    char    *data; /* len bytes and a NUL */
    size_t   len;
    uint32_t desc;
    nws_meta *meta; /* NULL until someone asks for or sets metadata */
};

/* A value that takes ownership of data (len bytes, NUL-terminated), or NULL. */
nws_value *nwsp_value_wrap(char *data, size_t len, uint32_t desc);

/* ---- conn.c ---------------------------------------------------------- */

/*
 * The bottom of the three: request.c and reply.c call conn.c, conn.c calls
 * neither (a request of its own, like nws_deadman, lives in its own file).
 */

struct nwsp_sess;

struct nws_client {
    int fd;          /* -1 once closed after an error */
    int meta_to;     /* MetadataToServer=1 was granted */
    int meta_from;   /* MetadataFromServer=1 was granted */
    int cookie;      /* long replies carry S20 varid + D20 index */
    int web_port;
    int timeout_ms;  /* set by nws_set_timeout; 0 = none */
    uint64_t max_value;

    struct nwsp_buf wbuf; /* the request being built */

    char  *rbuf; /* received bytes not yet consumed: [rpos, rlen) */
    size_t rpos, rlen, rcap;

    nws_meta *next_meta;  /* metadata for the next request only */
    nws_meta *reply_meta; /* metadata of the last reply */
    struct ssl_st *ssl;   /* TLS, or NULL */
    char          *secret; /* what answered the server's challenge, or NULL */

    /* Sessions (session.c): what it takes to dial again and resume. */
    struct nwsp_sess *sess; /* NULL: no session (not offered, or not wanted) */
    char             *host;
    int               port;
    unsigned          flags;       /* nws_connect's */
    int               reconnect_s; /* nws_set_reconnect: seconds, 0 = off */
    uint64_t          rx_total;    /* bytes of the reply stream received */
    int               in_hs;       /* in a handshake: no header, no log, no reconnect */
    int               in_recover;  /* reconnecting: a second loss is not chased */
};

/* tls.c: TLS, and the byte I/O every file uses (TLS or not). */
int     nwsp_tls_wanted(unsigned flags);
int     nwsp_tls_start(nws_client *c, const char *host, nws_error *err);
void    nwsp_tls_free(nws_client *c);
ssize_t nwsp_io_send(nws_client *c, const void *p, size_t len, int dontwait);
ssize_t nwsp_io_recv(nws_client *c, void *p, size_t len, int dontwait);
int     nwsp_io_pending(const nws_client *c);

/* conn.c: the secret c answered the server's challenge with (borrowed), or NULL. */
const char *nwsp_conn_secret(const nws_client *c);
/* Marks c broken: closes the socket so every later call fails. */
void nwsp_conn_fail(nws_client *c);
/* 0 if c can be used, else -1 with NWS_ERR_CLOSED/INVALID recorded. */
int nwsp_conn_check(nws_client *c, nws_error *err);
/* Writes all of p; on failure records the error and breaks c.  0, or -1. */
int nwsp_conn_write(nws_client *c, const void *p, size_t len, nws_error *err);
/*
 * Makes at least n unconsumed bytes available at c->rbuf + c->rpos.  With
 * block == 0 it only takes what the socket already has.  Returns 1 when
 * they are there, 0 (block == 0) when not yet, -1 on error (c broken).
 */
int nwsp_conn_need(nws_client *c, size_t n, int block, nws_error *err);
/* Reads exactly len bytes into dst, buffered bytes first.  0, or -1 (c broken). */
int nwsp_conn_read(nws_client *c, void *dst, size_t len, nws_error *err);

/*
 * Dials c->host:c->port again and does the handshake with c->flags,
 * resuming c->sess.  The old socket is closed first.  0, or -1.
 */
int nwsp_conn_redial(nws_client *c, nws_error *err);

/* ---- session.c ------------------------------------------------------- */

#define NWSP_SESS_ID_LEN            16
#define NWSP_SESS_TOKEN_LEN         32
#define NWSP_SESS_RECONNECT_DEFAULT 30 /* seconds */

/* A new session record (no id yet), or NULL; nwsp_sess_free frees it. */
struct nwsp_sess *nwsp_sess_new(void);
void              nwsp_sess_free(struct nwsp_sess *s);
/* $NWS_RECONNECT, else NWSP_SESS_RECONNECT_DEFAULT. */
int nwsp_sess_reconnect_default(void);
/* The header length requests carry on c: 40 with a session, else 0. */
size_t nwsp_sess_head_len(const nws_client *c);
/* The NwsSession value to request: "new", or "resume ID TOKEN". */
void nwsp_sess_request_value(const nws_client *c, char *buf, size_t len);
/* Takes the dictionary after A000: 1 resumed, 0 a new session, -1 malformed. */
int nwsp_sess_accept(nws_client *c, const char *dict, size_t dlen, nws_error *err);
/* The server no longer offers sessions: a resume cannot work. */
void nwsp_sess_gone(nws_client *c);
/*
 * Every outgoing byte on a session goes through here: *out gets the len
 * bytes to send, with each request's placeholder header filled in (seq,
 * ack), and the requests are logged to be sent again.  0, or -1.
 */
int nwsp_sess_out(nws_client *c, const void *p, size_t len, const char **out,
                  nws_error *err);
/*
 * Fills hdr (40 bytes) with the header the request ahead places from now
 * would carry (1: the next), its seq not taken: for requests written raw
 * (worker/crash.c, in a signal handler; only reads memory).  Only when
 * nwsp_sess_head_len(c) > 0.
 */
void nwsp_sess_header(const nws_client *c, unsigned ahead, char *hdr);
/*
 * stream.c: the argument being sent now comes from fd at offset off (a
 * regular file: read again to send it again, not copied), or off < 0 (a
 * pipe: copied only when small, else it cannot be sent again).
 */
void nwsp_sess_source(nws_client *c, int fd, off_t off);
/* reply.c: a reply header of hlen bytes was read; vlen value bytes follow. */
void nwsp_sess_reply_start(nws_client *c, size_t hlen, uint64_t vlen);
/* How many reconnects c has been through. */
unsigned nwsp_sess_recoveries(const nws_client *c);
/*
 * After a lost connection: 0 = reconnected, resumed, unanswered requests
 * sent again (go on); 1 = no session or reconnect off (fail as before);
 * -1 = session lost or server unreachable (err set).
 */
int nwsp_sess_recover(nws_client *c, nws_error *err);
/* nws_close: sends `end session` (errors ignored). */
void nwsp_sess_end(nws_client *c);

/* ---- request.c ------------------------------------------------------- */

/*
 * Starts a request of argc arguments in c->wbuf: the metadata dictionary
 * when MetadataToServer is on (vmeta merged under the next-request
 * metadata, which is used up), then D4(argc).  0, or -1.
 */
int nwsp_req_begin(nws_client *c, unsigned argc, const nws_meta *vmeta, nws_error *err);
/* Appends the head of a request ([DICT] D4(argc)) to b, as nwsp_req_begin does. */
int nwsp_req_head(nws_client *c, struct nwsp_buf *b, unsigned argc, const nws_meta *vmeta,
                  nws_error *err);
/* Appends one argument (D20 length and bytes).  0, or -1. */
int nwsp_req_arg(nws_client *c, const void *p, size_t len, nws_error *err);
/* Appends a NUL-terminated argument.  0, or -1. */
int nwsp_req_str(nws_client *c, const char *s, nws_error *err);
/* Sends c->wbuf and empties it.  0, or -1. */
int nwsp_req_send(nws_client *c, nws_error *err);
/* Checks a name argument: not NULL.  0, or -1 with NWS_ERR_INVALID. */
int nwsp_req_name_ok(const char *name, const char *what, nws_error *err);

/* ---- reply.c --------------------------------------------------------- */

/* The header of a reply, up to (not including) the value bytes. */
struct nwsp_reply {
    int      status;
    int      is_long;
    uint32_t desc;
    char     varid[NWSP_VARID_LEN + 1]; /* trimmed */
    int64_t  index;
    uint64_t len; /* value bytes that follow */
};

/*
 * Reads a reply header: the metadata (into c->reply_meta), the status and,
 * for a long reply, descriptor, cookie and length.  With block == 0 it
 * consumes nothing and returns 0 unless the whole header has arrived.
 * Returns 1, 0 (block == 0 only), or -1 (c broken).
 */
int nwsp_reply_header(nws_client *c, int is_long, int block, struct nwsp_reply *r,
                      nws_error *err);
/*
 * Reads a short reply and turns a non-zero status into NWS_ERR_SERVER with
 * nwsReason.  0, or -1.
 */
int nwsp_reply_short(nws_client *c, nws_error *err);
/* Records the server error of reply r (status, nwsReason). */
void nwsp_reply_error(nws_client *c, const struct nwsp_reply *r, nws_error *err);
/*
 * Classifies a long reply header: 1 = a value follows, 0 = "no value" (a
 * *Try's miss or an iterator's end; the value bytes, if any, are read),
 * -1 = error recorded.  try says whether "no value" is a normal answer.
 */
int nwsp_reply_classify(nws_client *c, const struct nwsp_reply *r, int try,
                        nws_error *err);
/* Reads the r->len value bytes into a new value (limit: c->max_value), or NULL. */
nws_value *nwsp_reply_value(nws_client *c, const struct nwsp_reply *r, nws_error *err);
/* Reads and drops n value bytes.  0, or -1. */
int nwsp_reply_skip(nws_client *c, uint64_t n, nws_error *err);

/* ---- ws.c ------------------------------------------------------------ */

struct nws_ws {
    nws_client *c;
    char       *name;
};

/* ---- var.c ----------------------------------------------------------- */

/* Command names of the eight read operations. */
const char *nwsp_op_name(enum nws_op op, int iter);
/* 1 if op waits for a value. */
int nwsp_op_blocks(enum nws_op op);
/*
 * Sends the store request for ws/var, with value bytes (len of them) only
 * when data is non-NULL (stream.c appends them itself).  0, or -1.
 */
int nwsp_store_begin(nws_ws *ws, const char *var, uint32_t desc, const nws_meta *meta,
                     const void *data, uint64_t len, nws_error *err);
/*
 * Sends a read request (non-iterated when varid is NULL) and reads the
 * reply header.  Returns 1 (value bytes follow: r->len), 0 (no value), -1.
 */
int nwsp_get_begin(nws_ws *ws, const char *var, enum nws_op op, const char *varid,
                   int64_t index, struct nwsp_reply *r, nws_error *err);

#endif
