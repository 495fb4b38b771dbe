/*
 * web.h -- what the web interface's files share, and its limits.
 *
 * web.c         the evhttp server: routing, the security checks every request
 *               passes (Host, method, CSRF token, Origin, read-only mode), the
 *               HTML page shells and the reply helpers;
 * web_text.c    query parsing and the escaping of names and value bytes;
 * web_api.c     the JSON views (overview, workspaces, variables, values) and
 *               the actions (delete, fetchTry, store);
 * web_sleigh.c  the sleigh view, with throughput measured between requests;
 * web_download.c whole values as attachments, spooled ones a piece at a time;
 * web_assets.c  the page's script, style sheet and icon, compiled in.
 *
 * Every handler runs on the server's one event loop, so each does bounded
 * work on in-memory state only: listings are paged and capped, previews are
 * cut; a spooled value is read only to download it, one bounded piece per
 * turn of the loop (web_download.c says why that disk I/O is acceptable).
 */
#ifndef NWS_WEB_H
#define NWS_WEB_H

#include <event2/http.h>
#include <jansson.h>

#include "server.h"

/* Limits, in one place. */
#define WEB_MAX_HEADERS     16384          /* request line and headers */
#define WEB_MAX_BODY        (1024 * 1024 + 16384) /* a form: a 1 MiB value, encoded */
#define WEB_TIMEOUT_S       30             /* idle or slow HTTP connections */
#define WEB_MAX_PARAMS      16             /* query or form fields */
#define WEB_LIST_DEFAULT    100            /* workspaces or variables per page */
#define WEB_LIST_MAX        500
#define WEB_VALUES_DEFAULT  20             /* values per page */
#define WEB_VALUES_MAX      100
#define WEB_PREVIEW_DEFAULT 2048           /* bytes of a value shown */
#define WEB_PREVIEW_MAX     65536
#define WEB_PREVIEW_BUDGET  (512 * 1024)   /* preview bytes in one reply */
#define WEB_HEX_MAX         256            /* bytes of a binary value shown as hex */
#define WEB_JSON_MAX        65536          /* longer values are not parsed as JSON */
#define WEB_META_MAX        32             /* metadata entries shown per value */
#define WEB_FILTER_MAX      256
#define WEB_SCAN_MAX        10000          /* names a listing looks at per request */
#define WEB_SORT_MAX        5000           /* workspaces sorted other than by name */
#define WEB_SORT_VARS_MAX   50000          /* ... and variables walked to count values */
#define WEB_COUNT_MAX       10000          /* variables of one workspace walked to count */
#define WEB_CENSUS_STEP     20000          /* variables the overview counts per request */
#define WEB_SLEIGH_BATCHES  100            /* batches listed per sleigh */
#define WEB_SLEIGH_WORKERS  1000           /* workers listed per sleigh */
#define WEB_OUTPUT_LINES    3              /* last output@<rank> values shown */
#define WEB_REG_SCAN        1000           /* "worker registrations" values read */
#define WEB_TRACK_MAX       32             /* sleighs whose throughput is measured */
#define WEB_OPS_WINDOW      10             /* seconds of the ops/s average */
#define WEB_DOWNLOAD_PIECE  (256 * 1024)   /* bytes of a spooled value read per turn */
#define WEB_TAKEN_MAX       8              /* values fetch-try took, kept to download */
#define WEB_TAKEN_S         600            /* ... for this many seconds */

/* Query or form fields, percent-decoded (values may hold any byte). */
struct web_param {
    char  *wp_key;
    char  *wp_val;   /* NUL-terminated copy; wp_len bytes */
    size_t wp_len;
};
struct web_params {
    size_t           n;
    struct web_param p[WEB_MAX_PARAMS];
};

/* web_text.c */
/* Parse "a=b&c=d" (len bytes) into ps (appending); 0, or -1 if malformed. */
int         web_params_parse(struct web_params *, const char *s, size_t len);
void        web_params_free(struct web_params *);
/* The field key, borrowed, or NULL; *len its length. */
const char *web_param(const struct web_params *, const char *key, size_t *len);
/* A decimal field clamped to [min, max]; def when absent or malformed. */
long        web_param_long(const struct web_params *, const char *key, long def, long min,
                           long max);
/*
 * Display text for bytes: valid UTF-8 is kept, every other byte (and NUL)
 * becomes the four characters \xNN.  At most maxin input bytes are read
 * (a character is never cut); *used (may be NULL) says how many.  Returns a
 * new NUL-terminated string.
 */
char       *web_display(const char *s, size_t len, size_t maxin, size_t *used);
/* 1 if all len bytes are UTF-8 text without NUL or other C0 controls but tab/CR/LF. */
int         web_is_text(const char *s, size_t len);
/* Percent-encoding of every byte but [A-Za-z0-9-._~]: a name's exact key. */
char       *web_pct(const char *s, size_t len);
/* A JSON string (new reference) holding web_display() of a name. */
json_t     *web_json_display(const char *s, size_t len);
/* Adds "name" (display) and "key" (exact) for a name to obj. */
void        web_json_name(json_t *obj, const char *s, size_t len);
/* HTML-escaped display text of bytes, appended to out. */
void        web_html(struct evbuffer *out, const char *s, size_t len);

/* web.c */
double web_now(void);          /* monotonic seconds */
double web_uptime(void);
double web_ops_rate(void);     /* requests per second, averaged */
int    web_readonly(void);
/* Sets the security headers and Content-Type of a reply. */
void   web_headers(struct evhttp_request *, const char *type);
/* A streamed reply is (1) or is no longer (0) being sent: the deadline waits. */
void   web_conn_busy(struct evhttp_request *, int busy);
/* Replies: JSON (steals obj; NULL means an allocation failed) or an error. */
void   web_reply_json(struct evhttp_request *, int code, json_t *obj);
void   web_reply_error(struct evhttp_request *, int code, const char *msg);
/* The workspace (or variable) a request names in field key; NULL after replying 400/404. */
struct ws  *web_find_ws(struct evhttp_request *, const struct web_params *);
struct var *web_find_var(struct evhttp_request *, const struct web_params *, struct ws *);

/* web_api.c: each answers the request it is given. */
typedef void (*web_handler)(struct evhttp_request *, const struct web_params *);
void web_api_overview(struct evhttp_request *, const struct web_params *);
void web_api_workspaces(struct evhttp_request *, const struct web_params *);
void web_api_ws(struct evhttp_request *, const struct web_params *);
void web_api_var(struct evhttp_request *, const struct web_params *);
void web_api_delete_var(struct evhttp_request *, const struct web_params *);
void web_api_delete_ws(struct evhttp_request *, const struct web_params *);
void web_api_fetch_try(struct evhttp_request *, const struct web_params *);
void web_api_store(struct evhttp_request *, const struct web_params *);
/* A value as JSON (new reference); pos is its place, newest first. */
json_t *web_value_json(const struct var *, const struct value *, size_t pos, size_t preview);
void    web_census_forget(void);   /* frees the overview's count in progress */
/* Visible (non-hidden) variables of ws and the values they hold. */
void    web_ws_counts(struct ws *, size_t *nvars, uint64_t *nvalues);

/* web_download.c */
void web_api_download(struct evhttp_request *, const struct web_params *);
/* Drops the downloads of a closing connection (their requests go with it). */
void web_download_cancel(struct evhttp_connection *);
/*
 * Keeps a value fetch-try took (a new reference) for WEB_TAKEN_S seconds;
 * returns the token that downloads it (valid until the next call).
 */
const char *web_taken_keep(struct value *, const char *name, size_t len);
void        web_taken_forget(void);

/* web_sleigh.c */
void web_api_sleigh(struct evhttp_request *, const struct web_params *);
/* A short summary of every sleigh workspace, at most max of them (new reference). */
json_t *web_sleighs_json(size_t max);
void    web_sleigh_forget(void);   /* frees the throughput trackers */

/* web_journal.c: the journal's figures (new reference); {"active": false} without one. */
json_t *web_journal_json(void);

/* web_session.c: the sessions and those waiting to be resumed, for the overview. */
json_t *web_sessions_json(void);

/* web_assets.c: files served under /static/. */
struct web_asset {
    const char *wa_path;
    const char *wa_type;
    const char *wa_body;
};
extern const struct web_asset web_assets[];

#endif
