/*
 * nws.h -- libnws, the C client library of NetWorkSpaces.
 *
 * libnws talks the classic NWS wire protocol (shared/docs/nws-protocol.md) to
 * nwsserver or to any classic server.  Layers, bottom up: a connection
 * (nws_client), workspace handles (nws_ws), values (nws_value with their
 * metadata nws_meta), iterators (nws_iter), pipelined bulk stores (nws_bulk)
 * and streaming to and from file descriptors.  JSON helpers built on jansson
 * are in nws_json.h.
 *
 * Errors.  Every call returns 0 / -1, a pointer / NULL, or (for the *_try
 * forms and iterators) 1 = a value, 0 = no value, -1 = error.  Details go in
 * an optional caller-owned nws_error (NULL allowed), cleared on entry; the
 * first error recorded during a call wins.  `status` is the server's status
 * code for NWS_ERR_SERVER and 0 for local errors; `text` holds the server's
 * nwsReason when it sent one.  libnws never prints, exits or aborts.
 *
 * Broken connections.  A dropped connection, a timeout, a reply of the wrong
 * shape or an oversized length leave the byte stream out of step, so the
 * connection is closed and every later call on it fails with
 * NWS_ERR_CLOSED.  Server errors (NWS_ERR_SERVER) leave it usable.
 *
 * Ownership.  An object returned by a constructor (nws_connect, *_new,
 * nws_ws_open/use/mktemp, a fetch/find, a listing, an iterator) belongs to
 * the caller, who frees it with nws_close or the matching *_free (all accept
 * NULL).  Accessors return borrowed pointers that live as long as the
 * object, or, where said, until the next call on the connection.  Arguments
 * are borrowed, except by the store functions whose name ends in _new
 * (nws_store_new, nws_store_json_new), which take over their value even
 * when they fail, as jansson's *_new functions do.
 *
 * Threads.  libnws has no global state.  A connection, and every handle,
 * iterator and bulk made from it, must be used by one thread at a time: the
 * simple rule is one connection per thread.  Blocking calls (nws_fetch,
 * nws_find, blocking iterators) hold their connection until the reply comes,
 * which may be never; use another connection to do anything else meanwhile.
 */
#ifndef NWS_H
#define NWS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define NWS_API __attribute__((visibility("default")))
#if defined(__GNUC__)
#define NWS_WUR __attribute__((warn_unused_result))
#else
#define NWS_WUR
#endif

#define NWS_VERSION_MAJOR 0
#define NWS_VERSION_MINOR 1
#define NWS_VERSION_MICRO 0

#define NWS_DEFAULT_HOST "localhost"
#define NWS_DEFAULT_PORT 8765

/* ---- errors ---------------------------------------------------------- */

enum nws_errcode {
    NWS_ERR_NONE = 0,
    NWS_ERR_SERVER,      /* the server replied with a non-zero status (see status) */
    NWS_ERR_CONNECT,     /* the host could not be resolved or reached */
    NWS_ERR_HANDSHAKE,   /* the server refused the options, or spoke no NWS */
    NWS_ERR_IO,          /* a read or write failed (socket or caller's fd) */
    NWS_ERR_CLOSED,      /* the server closed the connection, or it was closed before */
    NWS_ERR_TIMEOUT,     /* the timeout set with nws_set_timeout passed */
    NWS_ERR_PROTOCOL,    /* a reply of the wrong shape */
    NWS_ERR_TOO_LARGE,   /* a length above a limit (see nws_set_max_value_size) */
    NWS_ERR_NOMEM,       /* out of memory */
    NWS_ERR_INVALID,     /* invalid argument */
    NWS_ERR_TYPE,        /* the value is not of the type asked for (string, JSON) */
    NWS_ERR_UNSUPPORTED, /* this server or connection cannot do it */
    NWS_ERR_NO_VALUE,    /* a blocking call was answered with "no value" */
    NWS_ERR_SESSION      /* the session was lost: the server forgot it (restarted
                            without a journal, grace passed), or a request in flight
                            could not be sent again; the client carries on in a new
                            session when it could reconnect (nws_is_open) */
};

typedef struct nws_error {
    int  code;   /* enum nws_errcode */
    int  status; /* server status; 0 if the error is local */
    char text[160];
} nws_error;

/* Server status codes (nws-protocol.md section 4.3). */
#define NWS_STATUS_OK          0
#define NWS_STATUS_FAIL        1
#define NWS_STATUS_NO_WS       100
#define NWS_STATUS_INTERNAL    2000
#define NWS_STATUS_NOT_OPENED  2001

/* A static name for an error code, e.g. "server error". */
NWS_API const char *nws_errcode_str(int code);

/* ---- metadata -------------------------------------------------------- */

/*
 * A metadata dictionary: text keys and values, each at most 9999 bytes (the
 * wire limit), kept in insertion order; setting a key again replaces it.
 */
typedef struct nws_meta nws_meta;

/* A new, empty dictionary, or NULL when out of memory.  Free with nws_meta_free. */
NWS_API nws_meta *nws_meta_new(void) NWS_WUR;
/* A deep copy of m (NULL gives an empty one), or NULL when out of memory. */
NWS_API nws_meta *nws_meta_copy(const nws_meta *m) NWS_WUR;
NWS_API void      nws_meta_free(nws_meta *m);
/* Sets key to val (both copied); 0, or -1 (too long, out of memory). */
NWS_API int nws_meta_set(nws_meta *m, const char *key, const char *val, nws_error *err);
/* Removes key; returns 1 if it was there, 0 if not. */
NWS_API int nws_meta_remove(nws_meta *m, const char *key);
/* The value of key (borrowed, until m changes), or NULL. */
NWS_API const char *nws_meta_get(const nws_meta *m, const char *key);
/* Number of entries; key and value of entry i (borrowed), NULL past the end. */
NWS_API size_t      nws_meta_size(const nws_meta *m);
NWS_API const char *nws_meta_key(const nws_meta *m, size_t i);
NWS_API const char *nws_meta_value(const nws_meta *m, size_t i);

/* ---- values ---------------------------------------------------------- */

/* Type descriptor bits (section 8.2). */
#define NWS_DESC_DIRECT_STRING 0x00000001u /* raw bytes, not a serialized object */
#define NWS_DESC_BINARY        0x00000002u /* with DIRECT_STRING: R reads a raw vector */
#define NWS_DESC_TEXT          NWS_DESC_DIRECT_STRING
#define NWS_DESC_BYTES         (NWS_DESC_DIRECT_STRING | NWS_DESC_BINARY)
#define NWS_DESC_LANG(d)       (((uint32_t)(d) >> 24) & 0xffu)

/*
 * A value: bytes, a type descriptor and the metadata that travels with it
 * (sent as request metadata by a store; the reply metadata of a fetch).
 * The bytes are always followed by a NUL that is not counted in the size.
 */
typedef struct nws_value nws_value;

/* A value holding a copy of len bytes with descriptor desc, or NULL. */
NWS_API nws_value *nws_value_new(const void *data, size_t len, uint32_t desc,
                                 nws_error *err) NWS_WUR;
/* A text value (descriptor 1, DIRECT_STRING) holding a copy of s, or NULL. */
NWS_API nws_value *nws_value_string(const char *s, nws_error *err) NWS_WUR;
/* A binary value (descriptor 3, DIRECT_STRING|binary), or NULL. */
NWS_API nws_value *nws_value_bytes(const void *data, size_t len, nws_error *err) NWS_WUR;
NWS_API void       nws_value_free(nws_value *v);
/* The bytes (borrowed, NUL-terminated), their count and the descriptor. */
NWS_API const void *nws_value_data(const nws_value *v);
NWS_API size_t      nws_value_size(const nws_value *v);
NWS_API uint32_t    nws_value_desc(const nws_value *v);
/*
 * The bytes as a C string (borrowed), or NULL when the descriptor lacks
 * DIRECT_STRING (a Python pickle, R or Java serialization) or the bytes
 * hold a NUL.
 */
NWS_API const char *nws_value_str(const nws_value *v);
/* The value's metadata (borrowed, mutable, lives with v), or NULL when out of memory. */
NWS_API nws_meta *nws_value_meta(nws_value *v);
/* Read-only view of the metadata, never NULL (an empty dictionary if none). */
NWS_API const nws_meta *nws_value_meta_get(const nws_value *v);

/* ---- connections ----------------------------------------------------- */

typedef struct nws_client nws_client;

/* nws_connect flags. */
#define NWS_CONNECT_NO_METADATA  0x1 /* ask for no metadata, as Python workers do */
#define NWS_CONNECT_KILL_ON_CLOSE 0x2 /* KillServerOnClose=1: the server stops when we close */
#define NWS_CONNECT_TLS          0x4 /* TLS (also when $NWS_TLS or $NWS_TLS_CA is set):
                                        for a server started with --tls-cert */
#define NWS_CONNECT_NO_SESSION                                                           \
    0x8 /* ask for no session: a lost connection is an
                                        error at once, as with a classic server */

/*
 * Connects to host:port and does the new-style handshake, asking for
 * MetadataToServer=1 and MetadataFromServer=1 when the server advertises
 * them; accepts an old server's "2223" (no metadata) and "2222" (no
 * metadata, no iterators).  host NULL or "" means $NWS_HOST, else
 * "localhost"; port 0 means $NWS_PORT, else 8765.  flags: NWS_CONNECT_*.
 * The handshake gives up after 30 s; later calls wait as long as needed.
 * A server that wants a secret (nwsserver's default) sends a challenge;
 * nws_connect answers it with an HMAC keyed with the first line of
 * $NWS_AUTH_FILE, else of ~/.nws/secret (made, mode 600, if missing).  The
 * secret itself is never sent.
 * Returns a new connection (close it with nws_close), or NULL.
 */
NWS_API nws_client *nws_connect(const char *host, int port, unsigned flags,
                                nws_error *err) NWS_WUR;
/*
 * The same with the secret given (borrowed; NULL: the file as above).
 * It is used only to answer a server's challenge (option NwsAuth).
 */
NWS_API nws_client *nws_connect_auth(const char *host, int port, unsigned flags,
                                     const char *secret, nws_error *err) NWS_WUR;
/* Closes the connection and frees it.  Handles made from it must be freed first. */
NWS_API void nws_close(nws_client *c);
/*
 * Sets a send and receive timeout in milliseconds (0 = none, the default:
 * a blocking fetch may wait forever).  A call that times out fails with
 * NWS_ERR_TIMEOUT and closes the connection.  0, or -1.
 */
NWS_API int nws_set_timeout(nws_client *c, int ms, nws_error *err);
/*
 * Sets the largest value a reply may bring into memory (default 256 MiB).
 * A longer reply fails with NWS_ERR_TOO_LARGE and closes the connection;
 * use nws_fetch_fd for large values, which has no such limit.
 */
NWS_API void nws_set_max_value_size(nws_client *c, uint64_t max);
/* What the handshake settled: 1 if metadata flows that way, else 0. */
NWS_API int nws_has_meta_to_server(const nws_client *c);
NWS_API int nws_has_meta_from_server(const nws_client *c);
/* 1 if long replies carry the iteration cookie (not on a "2222" server). */
NWS_API int nws_has_cookie(const nws_client *c);
/*
 * 1 if the server asked for a secret and took our answer: it knows our
 * secret, so it is ours (or trusted with it); 0 for a server that asked for
 * none (--no-auth, a classic server), which anyone may have started.
 */
NWS_API int nws_authenticated(const nws_client *c);
/* The web port the server advertised (NwsWebPort), or 0. */
NWS_API int nws_web_port(const nws_client *c);
/* 1 while the connection is usable, 0 once it was closed by an error. */
NWS_API int nws_is_open(const nws_client *c);
/* The socket (borrowed; for poll() only: do not read or write it), or -1. */
NWS_API int nws_fd(const nws_client *c);
/*
 * Metadata sent with the next request only (copied; NULL clears it).  Needs
 * MetadataToServer, else that request fails with NWS_ERR_UNSUPPORTED.  On
 * a store it is merged over the value's own metadata.  0, or -1.
 */
NWS_API int nws_set_request_meta(nws_client *c, const nws_meta *m, nws_error *err);
/* The metadata of the last reply (borrowed, until the next call on c); never NULL. */
NWS_API const nws_meta *nws_reply_meta(const nws_client *c);
/*
 * Sessions (docs/SESSIONS.md).  nws_connect asks for a session whenever the
 * server offers one (NwsSession), unless NWS_CONNECT_NO_SESSION or
 * NWS_CONNECT_KILL_ON_CLOSE.  On a lost connection (EOF, reset, a failed
 * write) the call in progress reconnects with back-off (50 ms doubling to
 * 1 s), resumes the session, sends again every request whose reply it had
 * not read, and goes on: each is applied once and answered the same.
 * nws_set_reconnect sets how long it tries, in seconds (default 30, or
 * $NWS_RECONNECT; 0: off, a lost connection fails at once as before).
 * Past it the call fails with NWS_ERR_CLOSED; a session the server no
 * longer knows fails it with NWS_ERR_SESSION.  0, or -1.
 */
NWS_API int nws_set_reconnect(nws_client *c, int seconds, nws_error *err);
/* The session's id (16 hex digits, borrowed), or NULL without a session. */
NWS_API const char *nws_session_id(const nws_client *c);
/* Sends `deadman`: the server stops when this connection closes.  0, or -1. */
NWS_API int nws_deadman(nws_client *c, nws_error *err);

/* ---- workspaces ------------------------------------------------------ */

/* A workspace handle: a connection plus a workspace name. */
typedef struct nws_ws nws_ws;

/* nws_ws_open / nws_ws_use / nws_ws_mktemp flags. */
#define NWS_WS_NOCREATE   0x1 /* fail with status 100 if the workspace is missing */
#define NWS_WS_PERSISTENT 0x2 /* open: the workspace outlives its owner's connection */
#define NWS_WS_OWN        0x4 /* mktemp: follow with `open ws`, taking ownership */

/*
 * `open ws`: opens (creating unless NWS_WS_NOCREATE) workspace name and
 * takes ownership if it has no owner; a non-persistent owned workspace is
 * destroyed when this connection closes.  Returns a new handle (free with
 * nws_ws_free; c must outlive it), or NULL.
 */
NWS_API nws_ws *nws_ws_open(nws_client *c, const char *name, unsigned flags,
                            nws_error *err) NWS_WUR;
/* `use ws`: like nws_ws_open but never takes ownership.  New handle, or NULL. */
NWS_API nws_ws *nws_ws_use(nws_client *c, const char *name, unsigned flags,
                           nws_error *err) NWS_WUR;
/*
 * `mktemp ws`: creates a workspace with a unique name made from template
 * (NULL: "__nws__%d"; see section 7.5).  Unowned unless NWS_WS_OWN.
 * Returns a new handle, or NULL.
 */
NWS_API nws_ws *nws_ws_mktemp(nws_client *c, const char *tmpl, unsigned flags,
                              nws_error *err) NWS_WUR;
/* Frees the handle only; the workspace stays on the server. */
NWS_API void nws_ws_free(nws_ws *ws);
/* The workspace's name (borrowed, lives with ws) and its connection (borrowed). */
NWS_API const char *nws_ws_name(const nws_ws *ws);
NWS_API nws_client *nws_ws_client(const nws_ws *ws);
/* `delete ws`: deletes workspace name, owned or not.  0, or -1. */
NWS_API int nws_ws_delete(nws_client *c, const char *name, nws_error *err);

/* ---- variables ------------------------------------------------------- */

#define NWS_MODE_FIFO    "fifo"
#define NWS_MODE_LIFO    "lifo"
#define NWS_MODE_MULTI   "multi"
#define NWS_MODE_SINGLE  "single"
#define NWS_MODE_TIME    "__time"
#define NWS_MODE_BARRIER "__barrier"

/* `declare var`: creates var with mode, or checks an existing one's mode.  0, or -1. */
NWS_API int nws_declare(nws_ws *ws, const char *var, const char *mode, nws_error *err);
/* `delete var`: removes var and its values; blocked clients get an error.  0, or -1. */
NWS_API int nws_delete_var(nws_ws *ws, const char *var, nws_error *err);

/*
 * Stores v (borrowed) with its descriptor and metadata.  A zero-length
 * value needs DIRECT_STRING, since every client reads a zero-length value
 * without it as "no value" (section 8.5).  0, or -1.
 */
NWS_API int nws_store(nws_ws *ws, const char *var, const nws_value *v, nws_error *err);
/* Like nws_store but steals v: it is freed, also on failure. */
NWS_API int nws_store_new(nws_ws *ws, const char *var, nws_value *v, nws_error *err);
/* Stores the text s with descriptor 1, so Python, R and Java read a string. */
NWS_API int nws_store_string(nws_ws *ws, const char *var, const char *s, nws_error *err);
/* Stores len bytes with descriptor 3 (R reads a raw vector, others bytes). */
NWS_API int nws_store_bytes(nws_ws *ws, const char *var, const void *data, size_t len,
                            nws_error *err);
/* Stores len bytes with any descriptor (no metadata).  0, or -1. */
NWS_API int nws_store_raw(nws_ws *ws, const char *var, const void *data, size_t len,
                          uint32_t desc, nws_error *err);

/* The four ways of reading a variable. */
enum nws_op {
    NWS_OP_FETCH = 0, /* take the value; wait for one */
    NWS_OP_FIND,      /* read without taking; wait for one */
    NWS_OP_FETCH_TRY, /* take the value if there is one */
    NWS_OP_FIND_TRY   /* read without taking if there is one */
};

/*
 * Reads var with op.  Returns 1 and sets *out to a new value (its metadata
 * is the reply metadata), 0 when a *_TRY op finds no value, or -1.  A
 * blocking op may wait forever (see nws_set_timeout).
 */
NWS_API int nws_get(nws_ws *ws, const char *var, enum nws_op op, nws_value **out,
                    nws_error *err);
/* Blocking fetch / find: a new value, or NULL. */
NWS_API nws_value *nws_fetch(nws_ws *ws, const char *var, nws_error *err) NWS_WUR;
NWS_API nws_value *nws_find(nws_ws *ws, const char *var, nws_error *err) NWS_WUR;
/* Non-blocking forms: 1 and a new *out, 0 if no value, or -1. */
NWS_API int nws_fetch_try(nws_ws *ws, const char *var, nws_value **out, nws_error *err);
NWS_API int nws_find_try(nws_ws *ws, const char *var, nws_value **out, nws_error *err);

/*
 * String forms: like the above, but the value must be DIRECT_STRING without
 * NUL bytes, else NWS_ERR_TYPE (a fetched value is then already consumed).
 * The string is new: free() it.
 */
NWS_API char *nws_fetch_string(nws_ws *ws, const char *var, nws_error *err) NWS_WUR;
NWS_API char *nws_find_string(nws_ws *ws, const char *var, nws_error *err) NWS_WUR;
NWS_API int   nws_fetch_try_string(nws_ws *ws, const char *var, char **out, nws_error *err);
NWS_API int   nws_find_try_string(nws_ws *ws, const char *var, char **out, nws_error *err);

/* ---- iterators ------------------------------------------------------- */

/*
 * An iterator walks a variable with ifind/ifetch, keeping the cookie
 * (variable id, index) of the last value it received.  On "no value" it
 * keeps the cookie and ends: later calls return 0 without asking the
 * server until nws_iter_restart (resume from the cookie) or nws_iter_reset
 * (start over).  A server error (e.g. "Variable id mismatch." after the
 * variable was deleted and made again) ends it as well.
 */
typedef struct nws_iter nws_iter;

#define NWS_ITER_BLOCK 0x1 /* use ifind/ifetch: wait for the next value */

/* A new iterator (no request is sent yet; free with nws_iter_free), or NULL. */
NWS_API nws_iter *nws_ifind(nws_ws *ws, const char *var, unsigned flags,
                            nws_error *err) NWS_WUR;
NWS_API nws_iter *nws_ifetch(nws_ws *ws, const char *var, unsigned flags,
                             nws_error *err) NWS_WUR;
/* 1 and a new *out, 0 at the end, or -1 (which also ends the iterator). */
NWS_API int  nws_iter_next(nws_iter *it, nws_value **out, nws_error *err);
/* Forget the cookie: the next call starts from the oldest value. */
NWS_API void nws_iter_reset(nws_iter *it);
/* Leave the ended state, keeping the cookie: the next call asks again. */
NWS_API void nws_iter_restart(nws_iter *it);
/* 1 once the iterator ended, else 0. */
NWS_API int  nws_iter_ended(const nws_iter *it);
/* The cookie: variable id (borrowed, "" before the first value) and index. */
NWS_API const char *nws_iter_varid(const nws_iter *it);
NWS_API int64_t     nws_iter_index(const nws_iter *it);
NWS_API void        nws_iter_free(nws_iter *it);

/* ---- listings -------------------------------------------------------- */

/* One line of `list wss` (section 7.7). */
typedef struct nws_ws_info {
    char   *name;
    char   *owner;      /* "" if unowned */
    int     persistent; /* 1 for "True" */
    int     mine;       /* 1 if marked '>': in this connection's owned set */
    size_t  nvars;      /* all variables, hidden ones included */
    char  **vars;       /* nvars_listed names */
    size_t  nvars_listed;
} nws_ws_info;

typedef struct nws_ws_list {
    size_t       count;
    nws_ws_info *items;
    char        *raw; /* the server's text, NUL-terminated */
    size_t       raw_len;
    size_t       skipped; /* nws_list_wss: malformed lines left out */
} nws_ws_list;

/* One line of `list vars` (section 7.8). */
typedef struct nws_var_info {
    char    *name;
    uint64_t values;
    uint64_t fetchers; /* clients blocked in fetch */
    uint64_t finders;  /* clients blocked in find */
    char    *mode;     /* "fifo", "unknown", ... */
} nws_var_info;

typedef struct nws_var_list {
    size_t        count;
    nws_var_info *items;
    char         *raw;
    size_t        raw_len;
    size_t        skipped; /* nws_list_vars: malformed lines left out */
} nws_var_list;

/*
 * `list wss`: every workspace, or only name (non-NULL).  New list, or NULL.
 * A line that does not parse (a name holding TAB or LF, from a server that
 * allows them) is left out and counted in skipped, so one odd workspace
 * hides nothing else; the same for nws_list_vars.  The _parse functions
 * below are strict: any malformed line fails them.
 */
NWS_API nws_ws_list *nws_list_wss(nws_client *c, const char *name, nws_error *err) NWS_WUR;
NWS_API void         nws_ws_list_free(nws_ws_list *l);
/* `list vars` of ws.  New list, or NULL. */
NWS_API nws_var_list *nws_list_vars(nws_ws *ws, nws_error *err) NWS_WUR;
NWS_API void          nws_var_list_free(nws_var_list *l);
/*
 * The server's figures (version, pid, connections, workspaces, variables,
 * values, memory, operations...; those of its web overview) as the text
 * of one JSON object: new, free() it.  An nwsserver extension: another
 * server gives NULL with NWS_ERR_UNSUPPORTED, and the connection stays
 * usable.
 */
NWS_API char *nws_server_info(nws_client *c, nws_error *err) NWS_WUR;
/* Parse listing text (as the server sends it) into a new list, or NULL. */
NWS_API nws_ws_list  *nws_ws_list_parse(const char *text, size_t len, nws_error *err) NWS_WUR;
NWS_API nws_var_list *nws_var_list_parse(const char *text, size_t len,
                                         nws_error *err) NWS_WUR;

/* ---- pipelined bulk stores --------------------------------------------- */

/*
 * A bulk queues stores and sends them all at once: nws_bulk_flush writes
 * every request, then reads every reply, so n stores cost one round trip.
 * This pipelining is an extension of nwsserver: a classic server drops a
 * connection that sends a request before the previous reply.
 */
typedef struct nws_bulk nws_bulk;

/* A new, empty bulk on ws (which must outlive it), or NULL. */
NWS_API nws_bulk *nws_bulk_new(nws_ws *ws, nws_error *err) NWS_WUR;
/*
 * Queues a store of v (borrowed; copied into the request) with v's metadata
 * (and the next-request metadata, if set, on this store only).  0, or -1.
 */
NWS_API int nws_bulk_store(nws_bulk *b, const char *var, const nws_value *v,
                           nws_error *err);
/* Queues a store of len bytes with descriptor desc.  0, or -1. */
NWS_API int nws_bulk_store_raw(nws_bulk *b, const char *var, const void *data, size_t len,
                               uint32_t desc, nws_error *err);
/* Number of queued stores. */
NWS_API size_t nws_bulk_count(const nws_bulk *b);
/*
 * Sends the queued stores and reads their replies; the bulk is then empty.
 * Returns the number of stores the server refused (0 if all succeeded; err
 * describes the first refusal), or -1 when the connection failed (some
 * stores may have been done).
 */
NWS_API long nws_bulk_flush(nws_bulk *b, nws_error *err);
NWS_API void nws_bulk_free(nws_bulk *b);

/* ---- streaming large values -------------------------------------------- */

/*
 * Stores len bytes read from fd (a file, pipe or socket; read from its
 * current position) with descriptor desc, 64 KiB at a time, without
 * holding the value in memory.  If fd ends early the connection is closed
 * (the length is already announced).  0, or -1.
 */
NWS_API int nws_store_fd(nws_ws *ws, const char *var, int fd, uint64_t len, uint32_t desc,
                         nws_error *err);
/*
 * Reads var with op and writes the value's bytes to fd as they arrive, with
 * no size limit.  *desc and *len (may be NULL) get the descriptor and
 * length.  Returns 1, 0 (no value, *_TRY ops), or -1.  If writing to fd
 * fails, the rest of the value is read and dropped, so the connection
 * stays usable, and the call fails with NWS_ERR_IO.
 */
NWS_API int nws_fetch_fd(nws_ws *ws, const char *var, enum nws_op op, int fd,
                         uint32_t *desc, uint64_t *len, nws_error *err);

#ifdef __cplusplus
}
#endif

#endif
