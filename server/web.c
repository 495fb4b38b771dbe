/*
 * web.c -- the web interface: an evhttp server on the server's event base.
 *
 * Every request passes, in this order: a Host check (only names that can
 * mean this server, so a DNS-rebinding page cannot read or act), a route
 * lookup on the exact path (no file system behind any path, so nothing to
 * traverse), the method (GET for pages, files and views, POST for actions,
 * 405 for anything else), and for POST: read-only mode, the per-server
 * CSRF token in the X-NWS-CSRF header, and Origin/Sec-Fetch-Site, which must
 * say the request comes from our own pages.  A cross-site form cannot set
 * the header, and a cross-site script cannot read the token.
 *
 * Pages are small HTML shells: the title and breadcrumbs are rendered here,
 * escaped; the script (web_assets.c) fills the rest from the JSON API and
 * polls it for live updates.  Every reply carries a Content-Security-Policy
 * that allows only our own script and style sheet, nosniff and no-cache.
 * evhttp bounds header and body sizes and drops idle connections.
 *
 * Connections are counted and bounded here, because evhttp (2.1) has no cap
 * and its idle timer restarts on every byte: at --web-max-clients the
 * listener stops accepting (new clients wait in the kernel's backlog, using
 * no descriptor of ours), so the web port can never take the descriptors
 * the protocol port needs.  Each connection also has a deadline, armed when
 * it opens and again after each request: a client that has not sent a whole
 * request by then (a slowloris sending a header line now and then) is shut
 * down.  evhttp creates each connection's bufferevent through our bevcb; the
 * connection object itself is learnt one step later (see web_conn_setup).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include <sys/socket.h>

#include <event2/bufferevent.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>

#include "util.h"
#include "web.h"

#define WEB_CSP                                                                        \
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "  \
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "     \
    "frame-ancestors 'none'"

enum web_kind { WEB_PAGE, WEB_ASSET, WEB_GET, WEB_POST };

struct web_route {
    const char   *wr_path;
    enum web_kind wr_kind;
    const char   *wr_page;    /* pages: the name the script dispatches on */
    web_handler   wr_fn;      /* views and actions */
};

static const struct web_route web_routes[] = {
    {"/", WEB_PAGE, "overview", NULL},
    {"/workspaces", WEB_PAGE, "workspaces", NULL},
    {"/ws", WEB_PAGE, "ws", NULL},
    {"/var", WEB_PAGE, "var", NULL},
    {"/sleigh", WEB_PAGE, "sleigh", NULL},
    {"/static/app.js", WEB_ASSET, NULL, NULL},
    {"/static/app.css", WEB_ASSET, NULL, NULL},
    {"/static/icon.svg", WEB_ASSET, NULL, NULL},
    {"/api/overview", WEB_GET, NULL, web_api_overview},
    {"/api/workspaces", WEB_GET, NULL, web_api_workspaces},
    {"/api/ws", WEB_GET, NULL, web_api_ws},
    {"/api/var", WEB_GET, NULL, web_api_var},
    {"/api/sleigh", WEB_GET, NULL, web_api_sleigh},
    {"/api/delete-var", WEB_POST, NULL, web_api_delete_var},
    {"/api/delete-ws", WEB_POST, NULL, web_api_delete_ws},
    {"/api/fetch-try", WEB_POST, NULL, web_api_fetch_try},
    {"/api/download", WEB_GET, NULL, web_api_download},
    {"/api/store", WEB_POST, NULL, web_api_store},
};

static struct evhttp  *web_http;
static struct evconnlistener *web_lev;
static struct event   *web_tick;       /* every second: sample the request counter */
static struct event   *web_retry;      /* re-enable accepting after EMFILE */
static char            web_token[33];  /* the CSRF token, hex */
static double          web_started;
static int             web_loopback;   /* bound to a loopback address */
static char            web_hostname[256];
static int             web_lev_full;   /* accepting paused: web_max_clients reached */

/* One web connection, from its bufferevent's creation to evhttp's close. */
struct web_conn {
    struct bufferevent       *wc_bev;
    struct evhttp_connection *wc_evcon;    /* NULL until web_conn_setup ran */
    struct event             *wc_timer;    /* setup, then the request deadline */
    int                       wc_busy;     /* a streamed reply is being sent */
    int                       wc_nul;      /* a NUL byte came: refuse, then close */
    struct evbuffer_cb_entry *wc_incb;     /* web_input_cb on the input buffer */
    LIST_ENTRY(web_conn)      wc_link;
};
static LIST_HEAD(, web_conn) web_conns = LIST_HEAD_INITIALIZER(web_conns);
static unsigned              web_nconns;

static void             web_conn_arm(struct web_conn *);
static struct web_conn *web_conn_of(struct evhttp_request *);

/* Request counter samples, one a second, for the ops/s average. */
static struct {
    double   at;
    uint64_t ops;
} web_ops[WEB_OPS_WINDOW + 1];
static unsigned web_ops_n, web_ops_head;

double
web_now(void)
{
    return nwsp_mono();
}

double
web_uptime(void)
{
    return web_now() - web_started;
}

int
web_readonly(void)
{
    return srv.cfg.web_readonly;
}

static void
web_tick_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
    web_ops_head = (web_ops_head + 1) % (WEB_OPS_WINDOW + 1);
    web_ops[web_ops_head].at = web_now();
    web_ops[web_ops_head].ops = srv.nops;
    if (web_ops_n < WEB_OPS_WINDOW + 1)
        web_ops_n++;
}

/* Requests per second since the oldest sample (up to WEB_OPS_WINDOW s ago). */
double
web_ops_rate(void)
{
    unsigned oldest = (web_ops_head + WEB_OPS_WINDOW + 2 - web_ops_n) % (WEB_OPS_WINDOW + 1);
    double   dt;

    if (web_ops_n == 0)
        return 0;
    dt = web_now() - web_ops[oldest].at;
    return dt < 0.5 ? 0 : (double)(srv.nops - web_ops[oldest].ops) / dt;
}

/* The security headers every reply of ours carries. */
void
web_headers(struct evhttp_request *req, const char *type)
{
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);

    evhttp_add_header(h, "Content-Type", type);
    evhttp_add_header(h, "Content-Security-Policy", WEB_CSP);
    evhttp_add_header(h, "X-Content-Type-Options", "nosniff");
    evhttp_add_header(h, "X-Frame-Options", "DENY");
    evhttp_add_header(h, "Referrer-Policy", "no-referrer");
    evhttp_add_header(h, "Cross-Origin-Resource-Policy", "same-origin");
    evhttp_add_header(h, "Cross-Origin-Opener-Policy", "same-origin");
    evhttp_add_header(h, "Cache-Control", "no-cache");
}

static void
web_send(struct evhttp_request *req, int code, const char *type, struct evbuffer *body)
{
    web_headers(req, type);
    evhttp_send_reply(req, code, NULL, body);
}

void
web_reply_json(struct evhttp_request *req, int code, json_t *obj)
{
    struct evbuffer *b;
    char            *s;

    if (obj == NULL || (s = json_dumps(obj, JSON_COMPACT)) == NULL) {
        json_decref(obj);
        web_reply_error(req, 500, "out of memory");
        return;
    }
    json_decref(obj);
    if ((b = evbuffer_new()) == NULL)
        fatalx("evbuffer_new");
    evbuffer_add(b, s, strlen(s));
    evbuffer_add(b, "\n", 1);
    free(s);
    web_send(req, code, "application/json", b);
    evbuffer_free(b);
}

void
web_reply_error(struct evhttp_request *req, int code, const char *msg)
{
    struct evbuffer *b = evbuffer_new();
    json_t          *j = json_pack("{s:s?}", "error", msg);
    char            *s = j != NULL ? json_dumps(j, JSON_COMPACT) : NULL;

    if (b == NULL)
        fatalx("evbuffer_new");
    if (s != NULL)
        evbuffer_add(b, s, strlen(s));
    else
        evbuffer_add_printf(b, "{\"error\":\"out of memory\"}");
    evbuffer_add(b, "\n", 1);
    free(s);
    json_decref(j);
    web_send(req, code, "application/json", b);
    evbuffer_free(b);
}

/* A plain-text error for paths outside /api/. */
static void
web_reply_text(struct evhttp_request *req, int code, const char *msg)
{
    struct evbuffer *b = evbuffer_new();

    if (b == NULL)
        fatalx("evbuffer_new");
    evbuffer_add_printf(b, "%s\n", msg);
    web_send(req, code, "text/plain; charset=utf-8", b);
    evbuffer_free(b);
}

/* Field key as a name: NULL after replying 400 when missing or too long. */
static const char *
web_name_param(struct evhttp_request *req, const struct web_params *ps, const char *key,
               size_t *len)
{
    const char *v = web_param(ps, key, len);
    char        msg[64];

    if (v == NULL || *len > NWS_MAX_NAME) {
        snprintf(msg, sizeof(msg), v == NULL ? "missing field %s" : "%s too long", key);
        web_reply_error(req, 400, msg);
        return NULL;
    }
    return v;
}

struct ws *
web_find_ws(struct evhttp_request *req, const struct web_params *ps)
{
    const char *name;
    size_t      len;
    struct ws  *ws;

    if ((name = web_name_param(req, ps, "ws", &len)) == NULL)
        return NULL;
    if ((ws = ws_find(name, len)) == NULL)
        web_reply_error(req, 404, "no such workspace");
    return ws;
}

struct var *
web_find_var(struct evhttp_request *req, const struct web_params *ps, struct ws *ws)
{
    const char *name;
    size_t      len;
    struct var *var;

    if ((name = web_name_param(req, ps, "var", &len)) == NULL)
        return NULL;
    /* Hidden variables are left out of the web interface (section 7.9). */
    if ((var = ws_var_find(ws, name, len)) == NULL || var->var_hidden) {
        web_reply_error(req, 404, "no such variable");
        return NULL;
    }
    return var;
}

/* 1 if host (a Host header or URI host, port stripped) names this server. */
static int
web_host_name_ok(const char *host, size_t len)
{
    char            buf[300];
    unsigned char   addr[16];
    size_t          hl = strlen(web_hostname);

    if (len == 0 || len >= sizeof(buf))
        return 0;
    memcpy(buf, host, len);
    buf[len] = '\0';
    if (strcasecmp(buf, "localhost") == 0 || strcmp(buf, "::1") == 0)
        return 1;
    if (inet_pton(AF_INET, buf, addr) == 1) {
        if (addr[0] == 127)
            return 1;
        return !web_loopback;
    }
    if (inet_pton(AF_INET6, buf, addr) == 1)
        return !web_loopback;
    if (web_loopback)
        return 0;
    /* Served beyond loopback: our own host name, short or qualified. */
    if (strcasecmp(buf, srv.cfg.web_bind) == 0)
        return 1;
    return hl > 0 && strncasecmp(buf, web_hostname, hl) == 0 &&
           (buf[hl] == '\0' || buf[hl] == '.');
}

/* Strips ":port" (and the brackets of an IPv6 literal) from a Host header. */
static int
web_host_ok(const char *h)
{
    const char *end, *colon;

    if (h == NULL)
        return 0;
    if (h[0] == '[') {
        if ((end = strchr(h, ']')) == NULL || (end[1] != '\0' && end[1] != ':'))
            return 0;
        return web_host_name_ok(h + 1, (size_t)(end - h - 1));
    }
    colon = strchr(h, ':');
    if (colon != NULL && strchr(colon + 1, ':') != NULL)
        return 0;   /* an unbracketed IPv6 address is not a valid Host */
    return web_host_name_ok(h, colon != NULL ? (size_t)(colon - h) : strlen(h));
}

/* How many Host headers a request has: more than one is ambiguous, refused. */
static int
web_host_count(const struct evkeyvalq *h)
{
    const struct evkeyval *kv;
    int                    n = 0;

    TAILQ_FOREACH(kv, h, next)
        if (strcasecmp(kv->key, "Host") == 0)
            n++;
    return n;
}

/* Compares in constant time. */
static int
web_token_ok(const char *t)
{
    unsigned char diff = 0;
    size_t        i;

    if (t == NULL || strlen(t) != sizeof(web_token) - 1)
        return 0;
    for (i = 0; i < sizeof(web_token) - 1; i++)
        diff |= (unsigned char)(t[i] ^ web_token[i]);
    return diff == 0;
}

/*
 * The checks an action must pass; NULL, or why it is refused (403).
 * Browsers send Origin on every POST; other clients may leave it out, but
 * must then still send the token, which only our pages can read.
 */
static const char *
web_post_refused(struct evhttp_request *req)
{
    struct evkeyvalq *h = evhttp_request_get_input_headers(req);
    const char       *origin = evhttp_find_header(h, "Origin");
    const char       *host = evhttp_find_header(h, "Host");
    const char       *site = evhttp_find_header(h, "Sec-Fetch-Site");
    const char       *scheme = tls_enabled() ? "https://" : "http://";
    size_t            sl = strlen(scheme);

    if (web_readonly())
        return "the web interface is read-only (--web-readonly)";
    if (!web_token_ok(evhttp_find_header(h, "X-NWS-CSRF")))
        return "missing or wrong X-NWS-CSRF token";
    if (origin != NULL && (host == NULL || strncasecmp(origin, scheme, sl) != 0 ||
                           strcasecmp(origin + sl, host) != 0))
        return "cross-origin request refused";
    if (site != NULL && strcmp(site, "same-origin") != 0 && strcmp(site, "none") != 0)
        return "cross-site request refused";
    return NULL;
}

/* The HTML shell of a page: title and breadcrumbs here, the rest by script. */
static void
web_page(struct evhttp_request *req, const struct web_params *ps, const char *page)
{
    struct evbuffer *b;
    const char      *ws, *var;
    size_t           wslen = 0, varlen = 0;
    char            *wskey = NULL, *varkey = NULL;
    int              need_ws = strcmp(page, "ws") == 0 || strcmp(page, "var") == 0 ||
                  strcmp(page, "sleigh") == 0;

    ws = web_param(ps, "ws", &wslen);
    var = web_param(ps, "var", &varlen);
    if ((need_ws && ws == NULL) || (strcmp(page, "var") == 0 && var == NULL)) {
        web_reply_text(req, 400, "Bad request: a workspace (ws=) and for /var a variable "
                                 "(var=) are needed.");
        return;
    }
    if (wslen > NWS_MAX_NAME || varlen > NWS_MAX_NAME) {
        web_reply_text(req, 400, "Bad request: name too long.");
        return;
    }
    if ((b = evbuffer_new()) == NULL)
        fatalx("evbuffer_new");
    if (ws != NULL)
        wskey = web_pct(ws, wslen);
    if (var != NULL)
        varkey = web_pct(var, varlen);
    evbuffer_add_printf(b,
                        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
                        "<meta name=\"viewport\" content=\"width=device-width, "
                        "initial-scale=1\">\n<title>");
    if (strcmp(page, "overview") == 0) {
        evbuffer_add_printf(b, "Overview");
    } else if (strcmp(page, "workspaces") == 0) {
        evbuffer_add_printf(b, "Workspaces");
    } else if (strcmp(page, "var") == 0) {
        web_html(b, var, varlen);
        evbuffer_add_printf(b, " in ");
        web_html(b, ws, wslen);
    } else {
        web_html(b, ws, wslen);
    }
    evbuffer_add_printf(b,
                        " &middot; nwsserver</title>\n"
                        "<link rel=\"stylesheet\" href=\"/static/app.css\">\n"
                        "<link rel=\"icon\" href=\"/static/icon.svg\" type=\"image/svg+xml\">\n"
                        "<script src=\"/static/app.js\" defer></script>\n</head>\n"
                        "<body data-page=\"%s\" data-ws=\"%s\" data-var=\"%s\" "
                        "data-csrf=\"%s\" data-readonly=\"%d\">\n"
                        "<header class=\"top\"><a class=\"brand\" href=\"/\">nws</a>"
                        "<nav><a href=\"/\" data-nav=\"overview\">Overview</a>"
                        "<a href=\"/workspaces\" data-nav=\"workspaces\">Workspaces</a></nav>"
                        "<span id=\"live\" class=\"live\"></span></header>\n<main>\n"
                        "<nav class=\"crumbs\">",
                        page, wskey ? wskey : "", varkey ? varkey : "", web_token,
                        web_readonly());
    if (ws != NULL) {
        evbuffer_add_printf(b, "<a href=\"/workspaces\">Workspaces</a> / ");
        if (var != NULL || strcmp(page, "sleigh") == 0) {
            evbuffer_add_printf(b, "<a href=\"/ws?ws=%s\">", wskey);
            web_html(b, ws, wslen);
            evbuffer_add_printf(b, "</a> / ");
        }
    }
    evbuffer_add_printf(b, "</nav>\n<h1 id=\"title\">");
    if (strcmp(page, "overview") == 0) {
        evbuffer_add_printf(b, "nwsserver %s", NWS_VERSION);
    } else if (strcmp(page, "workspaces") == 0) {
        evbuffer_add_printf(b, "Workspaces");
    } else {
        evbuffer_add_printf(b, "<span class=\"kind\">%s</span> <span class=\"name\">",
                            strcmp(page, "var") == 0      ? "Variable"
                            : strcmp(page, "sleigh") == 0 ? "Sleigh"
                                                          : "Workspace");
        if (strcmp(page, "var") == 0)
            web_html(b, var, varlen);
        else
            web_html(b, ws, wslen);
        evbuffer_add_printf(b, "</span>");
    }
    evbuffer_add_printf(b, "</h1>\n<div id=\"app\"><noscript><p>These pages need "
                           "JavaScript. The same data is in the JSON API: "
                           "<a href=\"/api/overview\">/api/overview</a>.</p></noscript>"
                           "</div>\n</main>\n<footer>nwsserver %s</footer>\n</body>\n</html>\n",
                        NWS_VERSION);
    free(wskey);
    free(varkey);
    web_send(req, 200, "text/html; charset=utf-8", b);
    evbuffer_free(b);
}

static void
web_asset(struct evhttp_request *req, const char *path)
{
    const struct web_asset *a;
    struct evbuffer        *b;

    for (a = web_assets; a->wa_path != NULL; a++)
        if (strcmp(a->wa_path, path) == 0)
            break;
    if (a->wa_path == NULL) {
        web_reply_text(req, 404, "Not found.");
        return;
    }
    if ((b = evbuffer_new()) == NULL)
        fatalx("evbuffer_new");
    evbuffer_add_reference(b, a->wa_body, strlen(a->wa_body), NULL, NULL);
    web_send(req, 200, a->wa_type, b);
    evbuffer_free(b);
}

static void
web_request_cb(struct evhttp_request *req, void *arg)
{
    enum evhttp_cmd_type     cmd = evhttp_request_get_command(req);
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
    struct evkeyvalq        *in = evhttp_request_get_input_headers(req);
    const struct web_route  *r = NULL;
    struct web_params        ps = {0};
    const char              *path, *query, *why, *ct;
    struct evbuffer         *body;
    size_t                   i, blen;
    int                      is_api;
    struct web_conn         *wc;

    (void)arg;
    /* A whole request came: the deadline now runs for the next one. */
    if ((wc = web_conn_of(req)) != NULL)
        web_conn_arm(wc);
    path = uri != NULL ? evhttp_uri_get_path(uri) : NULL;
    if (path == NULL || *path == '\0')
        path = "/";
    is_api = strncmp(path, "/api/", 5) == 0;
    /* One Host, no NUL anywhere (evhttp would have cut a header at it). */
    if ((wc != NULL && wc->wc_nul) || web_host_count(in) > 1) {
        web_reply_text(req, 400, "Bad request: a NUL byte or more than one Host header.");
        return;
    }
    /* The Host must name this server (and so must an absolute URI's host). */
    if (!web_host_ok(evhttp_find_header(in, "Host")) ||
        (uri != NULL && evhttp_uri_get_host(uri) != NULL &&
         !web_host_name_ok(evhttp_uri_get_host(uri), strlen(evhttp_uri_get_host(uri))))) {
        web_reply_text(req, 403, "Forbidden: unknown Host.");
        return;
    }
    /* Unless --no-auth, the secret is the password of HTTP Basic authentication. */
    if (auth_enabled() && !auth_check_basic(evhttp_find_header(in, "Authorization"))) {
        evhttp_add_header(evhttp_request_get_output_headers(req), "WWW-Authenticate",
                          "Basic realm=\"nwsserver\", charset=\"UTF-8\"");
        if (is_api)
            web_reply_error(req, 401, "authentication required");
        else
            web_reply_text(req, 401, "Authentication required: any user name, and the "
                                     "server's secret (the first line of its secret "
                                     "file, ~/.nws/secret by default) as password.");
        return;
    }
    for (i = 0; i < sizeof(web_routes) / sizeof(web_routes[0]); i++) {
        if (strcmp(web_routes[i].wr_path, path) == 0) {
            r = &web_routes[i];
            break;
        }
    }
    if (r == NULL) {
        if (is_api)
            web_reply_error(req, 404, "no such endpoint");
        else
            web_reply_text(req, 404, "Not found.");
        return;
    }
    if ((cmd != EVHTTP_REQ_GET && cmd != EVHTTP_REQ_POST) ||
        (cmd == EVHTTP_REQ_POST) != (r->wr_kind == WEB_POST)) {
        evhttp_add_header(evhttp_request_get_output_headers(req), "Allow",
                          r->wr_kind == WEB_POST ? "POST" : "GET");
        web_reply_error(req, 405, "method not allowed");
        return;
    }
    if (r->wr_kind == WEB_ASSET) {
        web_asset(req, path);
        return;
    }
    query = uri != NULL ? evhttp_uri_get_query(uri) : NULL;
    if (query != NULL && web_params_parse(&ps, query, strlen(query)) != 0) {
        web_params_free(&ps);
        web_reply_error(req, 400, "malformed query");
        return;
    }
    if (r->wr_kind == WEB_POST) {
        if ((why = web_post_refused(req)) != NULL) {
            web_params_free(&ps);
            web_reply_error(req, 403, why);
            return;
        }
        body = evhttp_request_get_input_buffer(req);
        blen = evbuffer_get_length(body);
        ct = evhttp_find_header(in, "Content-Type");
        if (blen > 0 && (ct == NULL || strncasecmp(ct, "application/x-www-form-urlencoded",
                                                   33) != 0)) {
            web_params_free(&ps);
            web_reply_error(req, 415, "send application/x-www-form-urlencoded");
            return;
        }
        if (blen > 0 &&
            web_params_parse(&ps, (const char *)evbuffer_pullup(body, -1), blen) != 0) {
            web_params_free(&ps);
            web_reply_error(req, 400, "malformed form");
            return;
        }
    }
    if (r->wr_kind == WEB_PAGE)
        web_page(req, &ps, r->wr_page);
    else
        r->wr_fn(req, &ps);
    web_params_free(&ps);
}

/* Accepting resumes when below the cap and not pausing after EMFILE. */
static void
web_accept_update(void)
{
    if (web_lev == NULL)
        return;
    if (web_nconns >= srv.cfg.web_max_clients) {
        if (!web_lev_full)
            log_info("web: %u connections (--web-max-clients): new ones wait", web_nconns);
        web_lev_full = 1;
        evconnlistener_disable(web_lev);
    } else if (web_lev_full) {
        web_lev_full = 0;
        if (!evtimer_pending(web_retry, NULL))
            evconnlistener_enable(web_lev);
    }
}

/* Closes a connection's socket under evhttp, which then frees it on its own. */
static void
web_conn_cut(struct web_conn *wc)
{
    evutil_socket_t fd = bufferevent_getfd(wc->wc_bev);

    if (fd != -1)
        shutdown(fd, SHUT_RDWR);
}

/* evhttp is freeing the connection: forget it. */
static void
web_conn_closed(struct evhttp_connection *evcon, void *arg)
{
    struct web_conn *wc = arg;

    evhttp_connection_set_closecb(evcon, NULL, NULL);   /* called once only */
    evbuffer_remove_cb_entry(bufferevent_get_input(wc->wc_bev), wc->wc_incb);
    web_download_cancel(evcon);
    LIST_REMOVE(wc, wc_link);
    event_free(wc->wc_timer);
    free(wc);
    web_nconns--;
    web_accept_update();
}

/* (Re)starts the connection's whole-request deadline. */
static void
web_conn_arm(struct web_conn *wc)
{
    struct timeval tv = {srv.cfg.web_request_timeout, 0};

    evtimer_add(wc->wc_timer, &tv);
}

/*
 * The connection's timer: first run (made active by web_bevcb, so it runs
 * in the same turn of the loop, before any byte can be read) learns the
 * evhttp connection, which is the bufferevent's callback argument once evhttp
 * has set it up, and hooks its close; later runs are the deadline.
 */
static void
web_conn_timer_cb(evutil_socket_t fd, short what, void *arg)
{
    struct web_conn *wc = arg;
    void            *cbarg = NULL;

    (void)fd;
    (void)what;
    if (wc->wc_evcon == NULL) {
        bufferevent_getcb(wc->wc_bev, NULL, NULL, NULL, &cbarg);
        /* What evhttp 2.0 to 2.2 do; checked, since no API promises it. */
        if (cbarg == NULL || evhttp_connection_get_bufferevent(cbarg) != wc->wc_bev)
            fatalx("web: cannot find the evhttp connection of a bufferevent");
        wc->wc_evcon = cbarg;
        evhttp_connection_set_closecb(wc->wc_evcon, web_conn_closed, wc);
        web_conn_arm(wc);
        /* Past the cap (accepted in the same batch as the one that reached it). */
        if (web_nconns > srv.cfg.web_max_clients)
            web_conn_cut(wc);
        return;
    }
    if (wc->wc_busy) {
        web_conn_arm(wc);   /* sending a long reply: evhttp's write timeout watches */
        return;
    }
    log_info("web: a connection sent no whole request in %d s "
             "(--web-request-timeout): closed", srv.cfg.web_request_timeout);
    web_conn_cut(wc);
}

/* The tracked connection behind a request, or NULL. */
static struct web_conn *
web_conn_of(struct evhttp_request *req)
{
    struct evhttp_connection *evcon = evhttp_request_get_connection(req);
    struct web_conn          *wc;

    LIST_FOREACH(wc, &web_conns, wc_link)
        if (wc->wc_evcon == evcon)
            return wc;
    return NULL;
}

void
web_conn_busy(struct evhttp_request *req, int busy)
{
    struct web_conn *wc = web_conn_of(req);

    if (wc != NULL) {
        wc->wc_busy = busy;
        if (!busy)
            web_conn_arm(wc);
    }
}

/*
 * Sees every byte a web client sends, before evhttp parses it: a NUL has
 * no place in a request (bodies are urlencoded forms) and evhttp would cut
 * a header at it, so that "Host: localhost\0.evil" passed for localhost.
 */
static void
web_input_cb(struct evbuffer *buf, const struct evbuffer_cb_info *info, void *arg)
{
    struct web_conn     *wc = arg;
    struct evbuffer_ptr  p;
    size_t               len = evbuffer_get_length(buf);

    if (info->n_added == 0 || wc->wc_nul || info->n_added > len)
        return;
    if (evbuffer_ptr_set(buf, &p, len - info->n_added, EVBUFFER_PTR_SET) != 0)
        return;
    if (evbuffer_search(buf, "", 1, &p).pos != -1) {
        wc->wc_nul = 1;
        log_info("web: a request with a NUL byte: refused");
        web_conn_cut(wc);
    }
}

/*
 * Makes each new connection's bufferevent (evhttp sets its socket later);
 * with --tls-cert every web connection is HTTPS.  Counts the connection.
 */
static struct bufferevent *
web_bevcb(struct event_base *base, void *arg)
{
    struct web_conn *wc = xcalloc(1, sizeof(*wc));

    (void)arg;
    wc->wc_bev = tls_enabled() ? tls_bufferevent(-1)
                               : bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
    if (wc->wc_bev == NULL || (wc->wc_timer = evtimer_new(base, web_conn_timer_cb, wc)) == NULL)
        fatalx("web: cannot set up a connection");
    wc->wc_incb = evbuffer_add_cb(bufferevent_get_input(wc->wc_bev), web_input_cb, wc);
    if (wc->wc_incb == NULL)
        fatalx("web: cannot watch a connection's input");
    LIST_INSERT_HEAD(&web_conns, wc, wc_link);
    web_nconns++;
    event_active(wc->wc_timer, EV_TIMEOUT, 0);
    web_accept_update();
    return wc->wc_bev;
}

static void
web_retry_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
    if (!web_lev_full)
        evconnlistener_enable(web_lev);
}

/* Out of descriptors: refuse one waiting client cleanly, then pause briefly. */
static void
web_accept_error_cb(struct evconnlistener *lev, void *arg)
{
    struct timeval tv = {0, LISTEN_BACKOFF_US};
    int            err = errno;

    (void)arg;
    if (err == EMFILE || err == ENFILE)
        listen_refuse(evconnlistener_get_fd(lev), "web: accept");
    else
        log_warn("web: accept");
    if (err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM) {
        evconnlistener_disable(lev);
        evtimer_add(web_retry, &tv);
    }
}

/* 1 if fd is bound to a loopback address. */
static int
web_is_loopback(int fd)
{
    struct sockaddr_storage ss;
    socklen_t               len = sizeof(ss);

    if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0)
        return 0;
    if (ss.ss_family == AF_INET)
        return (ntohl(((struct sockaddr_in *)&ss)->sin_addr.s_addr) >> 24) == 127;
    if (ss.ss_family == AF_INET6)
        return IN6_IS_ADDR_LOOPBACK(&((struct sockaddr_in6 *)&ss)->sin6_addr);
    return 0;
}

int
web_start(int fd)
{
    struct evhttp_bound_socket *bound;
    unsigned char               rnd[16];
    struct timeval              sec = {1, 0};
    size_t                      i;

    if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
        fatal("getrandom");
    for (i = 0; i < sizeof(rnd); i++)
        snprintf(web_token + 2 * i, 3, "%02x", rnd[i]);
    if (gethostname(web_hostname, sizeof(web_hostname) - 1) != 0)
        web_hostname[0] = '\0';
    web_loopback = web_is_loopback(fd);
    evutil_make_socket_nonblocking(fd);
    if ((web_http = evhttp_new(srv.base)) == NULL)
        return -1;
    evhttp_set_max_headers_size(web_http, WEB_MAX_HEADERS);
    evhttp_set_max_body_size(web_http, WEB_MAX_BODY);
    evhttp_set_timeout(web_http, WEB_TIMEOUT_S);
    /* Every method reaches us, so that we answer 405 (evhttp would say 501). */
    evhttp_set_allowed_methods(web_http, EVHTTP_REQ_GET | EVHTTP_REQ_POST |
                                             EVHTTP_REQ_HEAD | EVHTTP_REQ_PUT |
                                             EVHTTP_REQ_DELETE | EVHTTP_REQ_OPTIONS |
                                             EVHTTP_REQ_TRACE | EVHTTP_REQ_CONNECT |
                                             EVHTTP_REQ_PATCH);
    evhttp_set_gencb(web_http, web_request_cb, NULL);
    evhttp_set_bevcb(web_http, web_bevcb, NULL);
    if ((bound = evhttp_accept_socket_with_handle(web_http, fd)) == NULL) {
        evhttp_free(web_http);
        web_http = NULL;
        return -1;
    }
    web_lev = evhttp_bound_socket_get_listener(bound);
    evconnlistener_set_error_cb(web_lev, web_accept_error_cb);
    web_retry = evtimer_new(srv.base, web_retry_cb, NULL);
    web_tick = event_new(srv.base, -1, EV_PERSIST, web_tick_cb, NULL);
    if (web_retry == NULL || web_tick == NULL)
        fatalx("web timers");
    evtimer_add(web_tick, &sec);
    web_started = web_now();
    web_tick_cb(-1, 0, NULL);
    log_info("web interface on %s port %d%s", srv.cfg.web_bind, srv.actual_web_port,
             web_readonly() ? " (read-only)" : "");
    return 0;
}

void
web_stop(void)
{
    struct web_conn *wc;

    web_lev = NULL;   /* evhttp_free frees it; closing connections must not touch it */
    if (web_http != NULL)
        evhttp_free(web_http);
    while ((wc = LIST_FIRST(&web_conns)) != NULL) {   /* any not set up yet */
        LIST_REMOVE(wc, wc_link);
        event_free(wc->wc_timer);
        free(wc);
    }
    web_nconns = 0;
    if (web_tick != NULL)
        event_free(web_tick);
    if (web_retry != NULL)
        event_free(web_retry);
    web_sleigh_forget();
    web_taken_forget();
    web_census_forget();
    web_http = NULL;
    web_lev = NULL;
    web_lev_full = 0;
    web_tick = NULL;
    web_retry = NULL;
}
