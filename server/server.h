/*
 * server.h -- the private header of nwsserver: one section per file.
 *
 * The server is one thread around one libevent event_base.  Shared state:
 * workspaces (ws.c) hold variables (var.c) which hold refcounted values
 * (value.c) and two waiter lists (waiter.c).  A connection (conn.c) decodes
 * requests incrementally, hands each whole request to dispatch.c, which
 * calls one op_*.c entry; replies are built by reply.c.  Nothing here ever
 * blocks: a fetch that cannot be served parks its connection as a waiter.
 */
#ifndef NWS_SERVER_H
#define NWS_SERVER_H

#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <event2/event.h>
#include <event2/bufferevent.h>
#include <event2/buffer.h>

#include "frame.h"

/* Limits: named here, in one place. */
#define NWS_MAX_NAME        1024      /* a workspace or variable name */
#define NWS_MAX_ARG         65536     /* any argument but a store value */
#define NWS_MAX_CMD_NAME    64        /* longer than any command name */
#define NWS_MAX_DICT_BYTES  (256 * 1024)
#define NWS_MAX_DICT_ENTRIES 9999
#define NWS_MAX_KEPT_ARGS   6         /* arguments kept per request; more are skipped */
#define NWS_READ_HIGH       (4 * 1024 * 1024)   /* stop reading a conn past this input */
#define NWS_OUT_HIGH        (8 * 1024 * 1024)   /* stop parsing a conn past this output */
#define NWS_READ_TIGHT      (64 * 1024)  /* ... past this input when memory is full */
#define NWS_OUT_TIGHT       (64 * 1024)  /* ... past this copied output when memory is full */
#define NWS_OUT_HARD_DEF    (16 * 1024 * 1024)  /* --client-output-limit defaults */
#define NWS_OUT_SOFT_DEF    (4 * 1024 * 1024)
#define NWS_OUT_SOFT_SECS_DEF 30
#define NWS_REQS_PER_EVENT  64        /* fairness: requests per callback */
#define NWS_OUT_PER_EVENT   (256 * 1024) /* ... and bytes of replies per callback */
#define NWS_RUNS_PER_TURN   64        /* past so many, more work waits for the next turn */
#define NWS_MAX_SINGLE_READ  (64 * 1024)  /* bytes read per event and connection */
#define NWS_MAX_SINGLE_WRITE (1024 * 1024) /* bytes written per event and connection */
#define NWS_WRITE_PER_TURN  (8 * 1024 * 1024) /* ... until a turn wrote this much, then */
#define NWS_WRITE_MIN       (64 * 1024)        /* ... this much */
#define NWS_COPY_MAX        4096      /* smaller values are copied into replies */
#define NWS_VALUE_LOWAT_MIN  (1024 * 1024)   /* values this large use SO_RCVLOWAT... */
#define NWS_VALUE_LOWAT      (256 * 1024)    /* ... of this many bytes */
#define NWS_VALUE_READ_CHUNK (1024 * 1024)   /* one read of a value's bytes */
#define NWS_VALUE_READ_BUDGET (4 * 1024 * 1024) /* value bytes per event and connection */
#define NWS_RQ_ARGS_KEEP      (256 * 1024) /* argument buffer kept between requests */

/* Defaults (main.c; the port is nws.h's NWS_DEFAULT_PORT, the clients' default):
   plain literals, as usage() prints them through CFG_STR. */
#define CFG_DEFAULT_WEB_PORT            8766
#define CFG_DEFAULT_BIND                "127.0.0.1"
#define CFG_DEFAULT_WEB_BIND            "127.0.0.1"
#define CFG_DEFAULT_TMPDIR              "/tmp"
#define CFG_DEFAULT_SPOOL_MIB           16  /* --spool-threshold, MiB */
#define CFG_DEFAULT_MAX_VALUE_GIB       8   /* --max-value-size, GiB */
#define CFG_DEFAULT_FRAME_TIMEOUT       60  /* seconds */
#define CFG_DEFAULT_WRITE_TIMEOUT       120 /* seconds */
#define CFG_DEFAULT_KEEPALIVE           30  /* seconds */
#define CFG_DEFAULT_WEB_MAX_CLIENTS     64
#define CFG_DEFAULT_WEB_REQUEST_TIMEOUT 20 /* seconds */
#define CFG_STR_(x)                     #x
#define CFG_STR(x)                      CFG_STR_(x)

/* Runtime configuration (main.c). */
struct config {
    const char *bind;
    int         port;
    int         web_port;
    const char *web_bind;             /* web interface address (default loopback) */
    int         web_readonly;         /* refuse the web interface's actions */
    int         no_web;               /* no web interface at all */
    unsigned    web_max_clients;      /* web connections at once; more wait in the backlog */
    int         web_request_timeout;  /* s for a web request to arrive whole */
    const char *tmpdir;
    uint64_t    spool_threshold;      /* 0: never spool */
    uint64_t    max_value_size;
    uint64_t    max_memory;
    uint64_t    out_hard;             /* copied reply bytes that close a client; 0: none */
    uint64_t    out_soft;             /* ... if held for out_soft_secs; 0: none */
    int         out_soft_secs;
    const char *pidfile;
    int         daemon;
    int         log_level;
    int         r_startup;
    unsigned    max_clients;          /* 0: no limit */
    int         frame_timeout;        /* s without a byte of a half-sent request */
    int         write_timeout;        /* s without progress writing replies */
    int         keepalive;            /* s of TCP silence before probing a peer; 0: system */
    const char *auth_file;            /* the shared secret; NULL: the user's default */
    int         no_auth;              /* --no-auth: no secret at all */
    const char *tls_cert;             /* PEM chain; with tls_key, TLS on both ports */
    const char *tls_key;
};

/* The server's global state (main.c). */
struct server {
    struct config      cfg;
    struct event_base *base;
    char               suffix[32];    /* mktemp server suffix, "__nwssXXXXXX" */
    char               suffix_path[1024];
    uint64_t           mem_used;      /* bytes held for clients: see mem.c */
    uint64_t           spooled_bytes; /* bytes of spooled values (on disk, not in mem_used) */
    uint64_t           nspooled;      /* spooled values held */
    uint64_t           counter;       /* workspace instance ids and mktemp numbers */
    unsigned           nconns;
    uint64_t           nops;
    char              *advert;        /* the encoded advertisement dictionary */
    size_t             advert_len;
    int                actual_web_port;
    int                shutting_down;
};
extern struct server srv;

/* log.c */
#define LOG_LVL_ERROR 0
#define LOG_LVL_WARN  1
#define LOG_LVL_INFO  2
#define LOG_LVL_DEBUG 3
void log_init(int level, int use_syslog);
int  log_level_parse(const char *s);
void log_warn(const char *, ...) __attribute__((format(printf, 1, 2)));
void log_warnx(const char *, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *, ...) __attribute__((format(printf, 1, 2)));
void fatal(const char *, ...) __attribute__((format(printf, 1, 2), noreturn));
void fatalx(const char *, ...) __attribute__((format(printf, 1, 2), noreturn));

/* xmalloc.c: small internal allocations; failure is fatal (tmux's policy). */
void *xmalloc(size_t);
void *xcalloc(size_t, size_t);
void *xrealloc(void *, size_t);
char *xstrndup(const char *, size_t);
void *xmemdup(const void *, size_t);
int   xasprintf(char **, const char *, ...) __attribute__((format(printf, 2, 3)));

/* mem.c: what counts against --max-memory (srv.mem_used). */
int      mem_fits(uint64_t n);
int      mem_tight(void);
uint64_t mem_name_cost(size_t len);
uint64_t mem_ws_cost(size_t len);
uint64_t mem_var_cost(size_t len);

/* htab.c: a hash table keyed by byte strings (keyed SipHash, linear probing). */
struct htab_node;
struct htab_ent {
    uint64_t h_hash;
    char    *h_key;   /* owned copy, NUL-terminated for convenience */
    size_t   h_klen;
    void    *h_val;
    struct htab_node *h_node;   /* the entry in the key order */
};
struct htab {
    struct htab_ent *ht_ents;
    size_t           ht_cap;  /* power of two, or 0 */
    size_t           ht_n;
    struct htab_node *ht_root;  /* every key in byte order (a treap with sizes) */
    int              ht_listed;   /* keys may be in a listing: listing_free_name() */
};
void   htab_seed(const unsigned char key[16]);
void   htab_init(struct htab *);
void   htab_free(struct htab *);
void  *htab_get(struct htab *, const char *, size_t);
const char *htab_put(struct htab *, const char *, size_t, void *);
void  *htab_del(struct htab *, const char *, size_t);
size_t htab_count(const struct htab *);
/* Entries sorted by key (byte order); the caller frees the array. */
struct htab_ent **htab_sorted(struct htab *, size_t *);
/* Iterate: *pos starts at 0; returns the next entry or NULL. */
struct htab_ent *htab_next(struct htab *, size_t *);
/*
 * The key order, kept up to date on every put and delete, so that a page of
 * a large table costs O(log n) a row instead of a sort: htab_rank() is how
 * many keys sort before key (also key itself when inclusive), htab_nth()
 * the i-th key (from 0) and its value (both borrowed), or NULL past the end.
 */
size_t      htab_rank(const struct htab *, const char *key, size_t len, int inclusive);
const char *htab_nth(const struct htab *, size_t i, size_t *len, void **val);

/* value.c: refcounted values, in memory or spooled to an unlinked temp file. */
#define VALUE_SPOOLED 0x1
#define VALUE_MAPPED  0x2               /* memory from mmap (large values) */
#define VALUE_GHOST   0x4 /* journal replay: its file is gone (journal_spool.c) */
#define VALUE_MAP_MIN (4 * 1024 * 1024)
struct value {
    unsigned v_refs;
    unsigned v_flags;
    int64_t  v_desc;      /* type descriptor, opaque to the server */
    uint64_t v_len;       /* value bytes */
    uint32_t v_metalen;   /* stored request metadata: a raw DICT, 0 if none */
    int      v_fd;        /* spooled values: the temp file, else -1 */
    uint64_t v_jid;       /* --journal: its file's id in the journal directory, else 0 */
    char     v_buf[];     /* metadata, then the value bytes when in memory */
};
#define value_meta(v) ((v)->v_buf)
#define value_data(v) ((v)->v_buf + (v)->v_metalen)
/* A value with room for len bytes (filled later); NULL past the memory limit. */
struct value *value_new(int64_t desc, const char *meta, size_t metalen, uint64_t len);
/* A value still to arrive: its bytes are charged by value_charge() as they come. */
struct value *value_new_incoming(const char *meta, size_t metalen, uint64_t len);
int           value_charge(uint64_t n);
void          value_settle(struct value *, uint64_t filled);
/* A spooled value backed by fd (owned); NULL on allocation failure. */
struct value *value_new_spooled(int64_t desc, const char *meta, size_t metalen,
                                uint64_t len, int fd);
/* A server-made DIRECT_STRING value holding a copy of s (never refused). */
struct value *value_new_text(const char *s, size_t len);
struct value *value_ref(struct value *);
void          value_unref(struct value *);
uint64_t      value_footprint(const struct value *);
/* Open an unlinked temp file in the configured tmpdir; -1 on failure. */
int           value_spool_open(void);

/*
 * vqueue.c: a variable's values in store order; small ones packed into
 * blocks (values of at most VQ_PACK_MAX bytes without metadata, once the
 * queue holds VQ_PACK_AFTER values).  Zeroed memory is an empty queue.
 */
#define VQ_PACK_MAX   1024
#define VQ_PACK_AFTER 64
struct vq_block;
struct vqueue {
    struct vq_block **q_blocks;  /* a ring of blocks, oldest first */
    size_t            q_bhead;
    size_t            q_nblocks;
    size_t            q_bcap;    /* power of two, or 0 */
    size_t            q_len;     /* values held */
    struct vq_block  *q_spare;   /* an emptied small block kept for reuse */
};
/* Appends v (borrowed: packed as a copy, or held with a new reference). */
void          vqueue_push(struct vqueue *, struct value *v);
/* Puts v (borrowed) back before the oldest value. */
void          vqueue_push_front(struct vqueue *, struct value *v);
/* These need q_len > 0; they return a new reference (a fresh value if packed). */
struct value *vqueue_pop_front(struct vqueue *);
struct value *vqueue_pop_back(struct vqueue *);
void          vqueue_drop_front(struct vqueue *);
/* Position i < q_len (0 = oldest): a new reference. */
struct value *vqueue_get(const struct vqueue *, size_t i);
/* Position i < q_len, borrowed: packed values are a scratch copy that lives
 * until the next vqueue_peek; never take a reference to it. */
const struct value *vqueue_peek(const struct vqueue *, size_t i);
void          vqueue_clear(struct vqueue *);
int           vqueue_is_packed(const struct vqueue *, size_t i);   /* for tests */
size_t        vqueue_nblocks(const struct vqueue *);               /* for tests */

/* waiter.c: a request parked on a variable until a value arrives. */
struct var;
struct waiter;
typedef void (*waiter_deliver_fn)(struct waiter *, struct value *, uint64_t index);
typedef void (*waiter_fail_fn)(struct waiter *, const char *reason);
struct waiter {
    TAILQ_ENTRY(waiter) w_link;
    struct var         *w_var;       /* NULL when not parked */
    int                 w_fetch;     /* 1: fetcher list, 0: finder list */
    waiter_deliver_fn   w_deliver;
    waiter_fail_fn      w_fail;
    int               (*w_gone)(struct waiter *);  /* optional: 1 if the owner is dead */
    char               *w_tag;       /* sleigh: the batch a result waiter wants */
    size_t              w_taglen;
    int64_t             w_arg;       /* sleigh: per-variable state */
};
TAILQ_HEAD(waiter_list, waiter);
void waiter_park(struct waiter *, struct var *, int fetch);
void waiter_cancel(struct waiter *);
/* Serve a new value: all finders, then the oldest fetcher whose owner is not
 * gone (w_gone); 1 if it was consumed. */
int  waiter_serve(struct var *, struct value *, uint64_t index);
/* Fail every waiter of var with reason (e.g. "Variable purged."). */
void waiter_fail_all(struct var *, const char *reason);

/*
 * requeue.c: fetched values noted until their replies are written; those a
 * closing connection did not write whole go back to their variables.
 */
struct fetched;
struct fetched_list {                   /* zeroed: empty */
    struct fetched *fl_ring;            /* in reply order, from fl_head */
    size_t          fl_head, fl_n, fl_cap;   /* fl_cap: a power of two, or 0 */
    TAILQ_ENTRY(fetched_list) fl_link;  /* on the list of non-empty ones */
};
/* Notes v (fetched from var with index) whose reply ends at output byte end. */
void   requeue_note(struct fetched_list *, struct var *, struct value *v, uint64_t index,
                    uint64_t end);
/* The connection has written this many bytes: drop the notes done with. */
void   requeue_written(struct fetched_list *, uint64_t written);
/* The connection closes: put back what was not written; returns how many. */
size_t requeue_close(struct fetched_list *, uint64_t written);
/* The same without putting anything back (server shutdown). */
void   requeue_forget(struct fetched_list *);
/* Moves every note of from to to, its end now end(old end, arg); 0 drops it. */
void requeue_move(struct fetched_list *from, struct fetched_list *to,
                  uint64_t (*end)(uint64_t, void *), void        *arg);
/* Puts v (borrowed), fetched at index, back into var by the rules of requeue.c. */
void requeue_put_back_value(struct var *, struct value *v, uint64_t index);
/* var is being freed: its notes no longer point at it. */
void   requeue_var_gone(struct var *);

/* var.c: variables and their modes (section 6 of the protocol). */
enum var_mode {
    VAR_UNKNOWN,
    VAR_FIFO,
    VAR_LIFO,
    VAR_MULTI,
    VAR_SINGLE,
    VAR_TIME,
    VAR_BARRIER,
    VAR_CUSTOM, /* behaviour set by its owner through var_hooks (sleigh.c) */
};
struct ws;
struct var {
    struct ws          *var_ws;
    const char         *var_name;   /* the key in ws_vars */
    size_t              var_namelen;
    enum var_mode       var_mode;
    int                 var_hidden;
    char                var_id[NWSP_VARID_LEN];
    uint64_t            var_base;   /* fifo: head index; single: index of held value */
    struct vqueue       var_values;
    struct waiter_list  var_fetchers;
    struct waiter_list  var_finders;
    unsigned            var_nfetchers;
    unsigned            var_nfinders;
    void              **var_members; /* __barrier: member connections */
    unsigned            var_nfetched; /* fetched values not written yet (requeue.c) */
    size_t              var_nmembers;
    /* VAR_CUSTOM: what store, fetch/find and listings do (NULL: a plain
     * mode); struct var_hooks is defined after the command table below. */
    const struct var_hooks *var_hooks;
};
/* Result of var_get(). */
enum var_res { VAR_OK, VAR_BLOCK, VAR_ERR };
struct var_got {
    struct value *value;    /* a new reference on VAR_OK */
    uint64_t      index;
    const char   *error;    /* static text on VAR_ERR */
};
struct var   *var_new(struct ws *, const char *name, size_t len);
void          var_free(struct var *);   /* fails waiters, drops values */
const char   *var_mode_name(enum var_mode);
int           var_mode_parse(const char *, size_t, enum var_mode *);
int           var_declare(struct var *, const char *mode, size_t len);
size_t        var_nvalues(const struct var *);
/* Store (steals v, also on failure); 0, or -1 with *err set. */
int           var_store(struct var *, struct value *v, void *who, const char **err);
/* Fetch (remove) or find; idx is -1 or the client's iteration index. */
enum var_res  var_get(struct var *, int remove, int blocking, int64_t idx, void *who,
                      struct var_got *);
/* A connection went away: drop it from a __barrier group. */
void          var_barrier_leave(struct var *, void *who);
/* Value at queue position i (0 = oldest), borrowed until the next call or change
 * of var (a packed value is a scratch copy); for the web UI and tests. */
const struct value *var_value_at(const struct var *, size_t i);

/* ws.c: workspaces and the global name table. */
struct ws {
    char       *ws_name;
    size_t      ws_namelen;
    uint64_t    ws_id;          /* instance id: a re-made name gets a new one */
    char       *ws_owner;       /* NULL: unowned */
    int         ws_persistent;
    struct htab ws_vars;        /* name -> struct var */
    struct sleigh *ws_sleigh;   /* a sleigh workspace (wstype=sleigh), else NULL */
    void       *ws_view;        /* listing.c: its variables sorted, or NULL */
    char          *ws_meta; /* a typed ws's creation metadata (journal snapshots) */
    size_t         ws_metalen;
};
void       ws_init(void);
void       ws_shutdown(void);
struct ws *ws_find(const char *name, size_t len);
struct ws *ws_create(const char *name, size_t len);
/* Create with the request's metadata: wstype=sleigh makes a sleigh workspace. */
struct ws *ws_create_typed(const char *name, size_t len, const char *meta, size_t metalen);
void       ws_destroy(struct ws *);     /* purges every variable */
int        ws_fits(size_t namelen);    /* a new workspace fits under --max-memory */
void       ws_set_owner(struct ws *, char *owner);   /* owner: owned from now on */
void       ws_owner_gone(struct ws *ws, const char *peer);
struct var *ws_var(struct ws *, const char *name, size_t len);   /* get or create */
/* Get or create, but NULL if a new variable would pass --max-memory. */
struct var *ws_var_try(struct ws *, const char *name, size_t len);
struct var *ws_var_find(struct ws *, const char *name, size_t len);
void       ws_var_delete(struct ws *, struct var *);
struct htab *ws_table(void);

/* decode.c: the request decoder (section 5 framing). */
struct conn;
enum dec_state {
    DEC_HS_FIRST,   /* the 4-byte greeting */
    DEC_HS_REQUEST, /* new-style: "R000" */
    DEC_HS_OPTIONS, /* new-style: the requested options dictionary */
    DEC_REQ_SESS,   /* a session's request header: D20(seq) D20(ack) (session.c) */
    DEC_REQ_META,   /* a request's metadata dictionary */
    DEC_REQ_ARGC,   /* D4 argument count */
    DEC_REQ_ARGLEN, /* D20 length of the next argument */
    DEC_REQ_ARG,    /* bytes of a kept argument */
    DEC_REQ_VALUE,  /* bytes of a store value, into memory or a spool file */
    DEC_REQ_SKIP,   /* bytes of an argument being thrown away */
    DEC_BLOCKED,    /* the current request waits on a variable */
};
/* What a decoding step achieved. */
enum step { STEP_MORE, STEP_PROGRESS, STEP_REQUEST };
/*
 * The decoder reads through a cursor: a contiguous window at the head of the
 * input (one evbuffer chain, usually holding many small requests), consumed
 * by moving a pointer and drained from the evbuffer once, when the window is
 * used up or decoding stops.  Only a field split between chains is pulled up
 * into one piece.
 */
struct cursor {
    struct evbuffer *k_in;
    const char      *k_p;     /* unconsumed bytes of the window */
    size_t           k_n;
    size_t           k_used;  /* consumed, not drained yet */
    int              k_nomem; /* a pullup failed: the conn is aborted */
};
/* A connection's decoding state, kept between reads (Redis keeps its query state in the client). */
struct decoder {
    enum dec_state  d_state;   /* what the next bytes are */
    char           *d_meta;    /* the request's metadata DICT, or NULL if empty */
    size_t          d_metalen; /* ... its length */
    unsigned        d_argc;    /* arguments the request announced */
    unsigned        d_argi;    /* the argument being read */
    uint64_t        d_left;    /* bytes still to come of this argument */
    struct nwsp_buf d_args;    /* kept arguments, back to back */
    size_t          d_off[NWS_MAX_KEPT_ARGS]; /* where kept argument i starts in d_args */
    size_t          d_len[NWS_MAX_KEPT_ARGS]; /* ... and its length */
    const struct command *d_cmd; /* the command, once argument 0 is in (NULL: unknown) */
    struct value         *d_value;     /* a store value being read straight into place */
    uint64_t              d_vfill;     /* ... bytes of it read so far */
    char                 *d_err;       /* refuse the request with this text */
    int                   d_err_close; /* ... and close once the refusal is written */
    uint64_t d_seq, d_ack;             /* the session header of the request (session.c) */
};
void decode_init(struct decoder *);
void decode_reset(struct decoder *); /* after a request, or when it is dropped */
void decode_free(struct decoder *);
/* One step on c's input through k: STEP_MORE needs more bytes. */
enum step decode_step(struct conn *c, struct decoder *, struct cursor *k);
/* Appends n bytes of the store value to its spool file; -1: refused, rest skipped. */
int decode_spool(struct conn *c, struct decoder *, const char *p, size_t n);
/* Drains what k consumed and opens a window on the input's first chain. */
void cur_sync(struct cursor *k);
/* conn.c, called back by the decoder. */
void conn_run(struct conn *); /* a whole request: run it */
void conn_refuse(struct conn *, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void      conn_proto_error(struct conn *, const char *reason);
enum step conn_hs_first(struct conn *, const char *b); /* the 4 greeting bytes */
enum step conn_hs_deny(struct conn *, const char *why);
enum step conn_hs_options(struct conn *, const char *dict, size_t len);

/* conn.c: one client connection. */
struct conn;
#define CONN_PEER_MAX 96 /* "host:port" of a peer, NUL included */
struct conn *conn_new(struct bufferevent *, struct sockaddr *);
/* A connection on a plain TCP socket (listen.c hands it over). */
struct conn *conn_new_socket(evutil_socket_t fd, struct sockaddr *sa);
/* "host:port" ("[v6]:port") of sa into buf, for logs and owner texts. */
void           conn_peer_format(char *buf, size_t len, const struct sockaddr *sa);
void        conn_shutdown_all(void);
void        conn_flush_pending(void);
int         conn_work_pending(void);
int         conn_has_cookie(const struct conn *);
int         conn_meta_out(const struct conn *);
const char *conn_peer(const struct conn *);
struct waiter *conn_waiter(struct conn *);
void        conn_set_deadman(struct conn *);
/* The connection's workspace name map and owned set (section 7.1, 7.4). */
void        conn_map_ws(struct conn *, struct ws *);
void        conn_own_ws(struct conn *, struct ws *);
void        conn_forget_ws(struct conn *, const char *name, size_t len);
int         conn_owns(struct conn *, const struct ws *);
/* Leave c's barriers and purge its owned workspaces now (end session). */
void conn_purge_now(struct conn *c);
/* Every name in c's map (and owned but not mapped): its instance id and
 * SESSION_MAP_* bits (session_journal.c's snapshot). */
void conn_foreach_ws(struct conn *c,
                     void (*fn)(const char *name, size_t len, uint64_t id, unsigned how,
                                void *arg),
                     void *arg);
/* Resolve a workspace name through the map: 0, or a status (2001, 100). */
int         conn_resolve_ws(struct conn *, const char *, size_t, struct ws **);
void        conn_joined_barrier(struct conn *);
/* Park the running request on var until a value arrives (fetch: consume it). */
void        conn_block(struct conn *, struct var *, int fetch);
/* The same, but after timeout_ms (>= 0) call on_timeout, which must reply. */
typedef void (*conn_timeout_fn)(struct conn *, struct var *);
void        conn_block_timeout(struct conn *, struct var *, int fetch, long timeout_ms,
                               conn_timeout_fn on_timeout);
/* Reply to a parked request and unpark it (for timeouts and sleigh wakeups). */
struct conn *conn_from_waiter(struct waiter *);
struct var *conn_blocked_var(struct conn *);
/* The reply to a fetch of v (index) from var was just queued (requeue.c). */
void        conn_note_fetched(struct conn *, struct var *, struct value *v, uint64_t index);

struct evbuffer *conn_output(struct conn *);

/* Sessions (session.c): a conn that outlives its transport. */
struct session;
int  conn_meta_in(const struct conn *);
void conn_set_session(struct conn *, struct session *);
/* Drops c's socket (and unread input, unwritten output); c lives on detached. */
void conn_detach_transport(struct conn *);
/* A conn object without transport (a session restored from the journal). */
struct conn *conn_new_detached(int meta_in, int meta_out);
/* Output bytes written so far; where the output now ends (UINT64_MAX: never written). */
uint64_t             conn_out_done(const struct conn *);
uint64_t             conn_out_end(struct conn *);
struct fetched_list *conn_fetched(struct conn *);
/* Close once the output is written (attached), or free now (detached, from a timer). */
void conn_set_closing(struct conn *);
void conn_cancel_park(struct conn *);
void conn_release(struct conn *);
/* A parked request whose client has not sent it again since a resume. */
int    conn_hidden_park(const struct conn *);
void   conn_repark(struct conn *);
size_t conn_nowned(struct conn *);

/* Abort c: log why, drop its output, close it soon (allocation failure, limits). */
void        conn_abort(struct conn *, const char *why);
int         conn_aborted(const struct conn *);
struct outacct *conn_outacct(struct conn *);

/* reply.c: replies on a connection's output. */
void reply_short(struct conn *, int status, const char *reason);
void reply_long_error(struct conn *, int status, const char *reason);
void reply_value(struct conn *, struct value *, const char *varid, uint64_t index);
void reply_text(struct conn *, const char *s, size_t len);
/* A kept reply sent again: its bytes, then the held value's (session.c). */
void reply_again(struct conn *, const char *pre, size_t len, struct value *v);
int  reply_text_begin(struct conn *, size_t len);
int  reply_text_add(struct conn *, const char *s, size_t len);
/*
 * Bytes a connection's output holds without a copy (values by reference,
 * spooled values as file segments): refcounted, since an output buffer may
 * outlive its connection (a bufferevent frees it later).
 */
struct outacct {
    unsigned oa_refs;
    uint64_t oa_bytes;
};
struct outacct *outacct_new(void);
struct outacct *outacct_add(struct outacct *, uint64_t len);
void            outacct_sub(struct outacct *, uint64_t len);
void            outacct_unref(struct outacct *);

/* listing.c: list wss / list vars replies in bounded pieces. */
struct listing;
struct listing *listing_wss(struct conn *, const char *name, size_t len);
struct listing *listing_vars(struct ws *);
uint64_t        listing_length(const struct listing *);
int             listing_fill(struct listing *, struct conn *);
uint64_t        listing_mem(const struct listing *);
void            listing_free(struct listing *);
void            listing_free_name(char *);
void            listing_forget(void **view);   /* a table's names changed */
void            listing_forget_wss(void);
/* conn.c: c sends l after the reply header already written (takes l). */
void            conn_send_listing(struct conn *, struct listing *l);

/* dispatch.c: the command table. */
struct request {
    struct conn  *rq_conn;
    const struct command *rq_cmd;
    unsigned      rq_argc;
    const char   *rq_arg[NWS_MAX_KEPT_ARGS];
    size_t        rq_len[NWS_MAX_KEPT_ARGS];
    const char   *rq_meta;      /* raw DICT or NULL */
    size_t        rq_metalen;
    struct value *rq_value;     /* store: the value (owned by the request) */
};
enum cmd_ret { CMD_DONE, CMD_BLOCKED };
struct command {
    const char  *name;
    unsigned     min_argc;
    unsigned     max_argc;
    int          long_reply;
    int          flags;          /* op-specific */
    unsigned     value_arg;      /* argument index carrying a store value read
                                    straight into place (0: none); it must be
                                    the last argument of the request */
    enum cmd_ret (*exec)(struct request *);
};
const struct command *dispatch_lookup(const char *name, size_t len);
enum cmd_ret  dispatch(struct request *);
/* An error reply in the command's shape. */
void          request_error(struct request *, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Resolve argument i as a workspace; on failure the error is replied and NULL returned. */
struct ws    *request_ws(struct request *, unsigned i);
/* Check argument i as a name; -1 (error replied) if too long or with a control character. */
int           request_name_ok(struct request *, unsigned i);
/* Offset of the first control character (< 0x20, 0x7f) in p, or -1. */
ssize_t       request_ctl_at(const char *p, size_t len);
int           request_arg_is(const struct request *, unsigned i, const char *s);

/* op_*.c: one command-table entry each (or a family). */
extern const struct command op_open_ws, op_use_ws, op_mktemp_ws, op_delete_ws,
    op_list_wss, op_declare_var, op_delete_var, op_store, op_list_vars, op_deadman;
extern const struct command op_server_info; /* an nwsserver extension (op_info.c) */
extern const struct command op_fetch, op_fetch_try, op_find, op_find_try, op_ifetch,
    op_ifetch_try, op_ifind, op_ifind_try;
/* op_mktemp.c: format a mktemp template with n; 0, or -1 if the template is bad. */
int mktemp_format(const char *tmpl, size_t len, uint64_t n, char **out);

/*
 * var.c hooks: a VAR_CUSTOM variable's behaviour, set by its owner (sleigh.c
 * sets them on a sleigh's special variables), so var.c and the op_*.c
 * files never call the owner by name.  store and get answer the request
 * (or park it); count is the value count listings show.
 */
struct var_hooks {
    enum cmd_ret (*vh_store)(struct request *, struct ws *, struct var *);
    enum cmd_ret (*vh_get)(struct request *, struct ws *, struct var *, int remove,
                           int block);
    size_t (*vh_count)(const struct var *);
    /* A value fetched from var whose reply never reached its client goes
     * back (requeue.c); NULL: it cannot (it is dropped). */
    void (*vh_put_back)(struct var *, struct value *);
};

/* sleigh.c: the sleigh workspace type (protocol section 13.5 and beyond). */
struct sleigh;
struct sleigh *sleigh_new(struct ws *, const char *meta, size_t metalen);
void           sleigh_free(struct sleigh *);
/* A store to a standard variable of a sleigh workspace happened. */
void           sleigh_stored(struct ws *, struct var *);
void           sleigh_conn_gone(struct conn *);
/*
 * Sessions (session.c calls these): c's transport is gone but its session
 * waits to be resumed, and a worker it carries keeps its registration and
 * rank while its running tasks go back at once; c has a transport again
 * (a resume): it is served again.  The worker is gone (sleigh_conn_gone)
 * only when the session ends.
 */
void sleigh_conn_detached(struct conn *);
void sleigh_conn_resumed(struct conn *);
/* srv.base is made: timers of the sleighs the journal's replay made before it. */
void sleigh_start(void);
/*
 * Read-only views for the web interface: plain numbers and borrowed
 * pointers, valid until the sleigh next changes (use them at once).
 */
struct sleigh_view {
    const char *sv_join;        /* "open", "joining" or "closed" */
    int         sv_shutdown;    /* the ride is over */
    long        sv_expected;    /* workerCount: -1 until known */
    long        sv_allocated;   /* ranks handed out through worker_ids */
    size_t      sv_nworkers;    /* registered and connected */
    size_t      sv_ntasks;      /* queued, untaken broadcast copies included */
    size_t      sv_nresults;    /* results not fetched yet */
    size_t      sv_nbatches;
};
struct sleigh_worker_view {
    long          wv_rank;
    struct conn  *wv_conn;
    int           wv_running;   /* 1: a task is out */
    const char   *wv_batch;     /* that task's batch id (NULL if idle) */
    size_t        wv_batchlen;
    uint64_t      wv_done;      /* results stored */
    size_t        wv_copies;    /* broadcast copies it has not taken */
    int           wv_detached;  /* its session waits to be resumed */
};
#define SLEIGH_WHAT_MAX 160
struct sleigh_batch_view {
    const char *bv_id;
    size_t      bv_idlen;
    uint64_t    bv_queued, bv_running, bv_done, bv_failed;
    time_t      bv_started;   /* when its first task came */
    const char *bv_what;      /* its function or command ("" if unknown), borrowed */
    uint64_t    bv_dups;      /* duplicate tasks and results dropped */
    int         bv_restarted; /* it lived through a restart of the server */
};
void sleigh_view(const struct sleigh *, struct sleigh_view *);
/* Worker i (0 <= i < sv_nworkers); 0, or -1 past the end. */
int  sleigh_worker_view(const struct sleigh *, size_t i, struct sleigh_worker_view *);
/* Iterate the batches: *pos starts at 0; 1 while one is returned, then 0. */
int  sleigh_batch_view(const struct sleigh *, size_t *pos, struct sleigh_batch_view *);

/* web.c: the web interface (evhttp on the same event base; see web.h). */
/* Starts serving HTTP on fd, a socket from listen_bind(); 0 or -1. */
int  web_start(int fd);
void web_stop(void);

/* auth.c: the shared secret (default, --auth-file, --no-auth). */
int         auth_setup(const char *file, int no_auth);
int         auth_enabled(void);
const char *auth_source(void);
void        auth_log_refusal(const char *peer, const char *why);
int         auth_check(const char *p, size_t len);
int         auth_advertise(struct evbuffer *out, char *nonce, size_t len);
int         auth_check_response(const char *nonce, const char *p, size_t len);
int auth_check_basic(const char *authorization);

/* tls.c: TLS from the first byte on both ports (--tls-cert, --tls-key). */
int                 tls_init(const char *cert, const char *key);
int                 tls_enabled(void);
struct bufferevent *tls_bufferevent(evutil_socket_t fd);
const char         *tls_error(struct bufferevent *);
void                tls_shutdown(void);

/* tmpfiles.c: the suffix file (locked, with our pid) and the pid file. */
/* Removes "__nwss*" files of dead servers of this user from the tmpdir; how many. */
size_t tmpfiles_clean_stale(void);
void   tmpfiles_make_suffix(void);
/* Writes the current pid into the suffix file (again after daemon()). */
void   tmpfiles_mark(void);
void   tmpfiles_remove_suffix(void);
/* -1 (logged) if the pid file path is a symbolic link. */
int    tmpfiles_check_pidfile(const char *path);
/* A new file renamed over path (never through a symbolic link); 0 or -1. */
int    tmpfiles_write_pidfile(const char *path);

/* listen.c */
int  listen_bind(const char *addr, int port, int *bound_port);
int  listen_start(int fd);
void listen_stop(void);
void listen_drop_waiting(void); /* TLS sockets before their first byte (shutdown) */
/* The EMFILE reserve descriptor shared by both listeners (see listen.c). */
#define LISTEN_BACKOFF_US 100000      /* pause of a listener out of descriptors */
#define LISTEN_REFUSE_MAX 64          /* connections refused per pause */
#define LISTEN_BACKLOG    511 /* listen(2) backlog of both ports (capped at somaxconn) */
int  listen_reserve(void);
int  listen_refuse(evutil_socket_t lfd, const char *what);

#endif
