/*
 * check_web_api.c -- the web interface's JSON API and pages over real HTTP
 * (server/web*.c), against real servers on loopback ports the OS picked.
 *
 * A tiny blocking HTTP/1.1 client sends one request per connection
 * (Connection: close) and reads the reply to EOF.  Data goes in through the
 * NWS protocol (rawc), and what the API says is checked against it.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "ptest.h"
#include "util.h"

#define XSS "<script>alert(1)</script>"
#define XSS_KEY "%3Cscript%3Ealert%281%29%3C%2Fscript%3E"

static struct nwstest_server *wt_srv;

struct wt_resp {
    int    status;
    char  *raw;      /* the whole reply, NUL-terminated */
    size_t len;
    char  *body;     /* into raw */
    size_t body_len;
};

static void
wt_setup(void)
{
    wt_srv = ptest_start(NULL);
}

static void
wt_teardown(void)
{
    ptest_stop(wt_srv);
}

static void
wt_free(struct wt_resp *r)
{
    free(r->raw);
    memset(r, 0, sizeof(*r));
}

/*
 * Sends method path with extra header lines (each ending in \r\n, may be
 * NULL) and body, reads the reply to EOF.  Host is 127.0.0.1:port unless the
 * extra headers start with "Host:".  Returns 0, or -1 (no HTTP reply).
 */
static int
wt_http(int port, const char *method, const char *path, const char *hdrs, const char *body,
        size_t blen, struct wt_resp *r)
{
    size_t  cap = 65536, hcap;
    ssize_t n;
    int     fd, hl;
    char   *p, *head;

    memset(r, 0, sizeof(*r));
    if ((fd = nwstest_connect(port, 10)) < 0)
        return -1;
    hcap = strlen(method) + strlen(path) + (hdrs != NULL ? strlen(hdrs) : 0) + 256;
    head = malloc(hcap);
    if (hdrs != NULL && strncasecmp(hdrs, "Host:", 5) == 0)
        hl = snprintf(head, hcap, "%s %s HTTP/1.1\r\n%sConnection: close\r\n", method, path,
                      hdrs);
    else
        hl = snprintf(head, hcap,
                      "%s %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n%sConnection: close\r\n",
                      method, path, port, hdrs != NULL ? hdrs : "");
    if (body != NULL)
        hl += snprintf(head + hl, hcap - (size_t)hl, "Content-Length: %zu\r\n", blen);
    hl += snprintf(head + hl, hcap - (size_t)hl, "\r\n");
    /* The server may refuse early and close: then read what it said. */
    if (nwstest_write_all(fd, head, (size_t)hl) == 0 && body != NULL)
        (void)nwstest_write_all(fd, body, blen);
    free(head);
    r->raw = malloc(cap);
    for (;;) {
        if (r->len + 1 == cap)
            r->raw = realloc(r->raw, cap *= 2);
        n = recv(fd, r->raw + r->len, cap - 1 - r->len, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        r->len += (size_t)n;
    }
    close(fd);
    r->raw[r->len] = '\0';
    if (r->len < 12 || strncmp(r->raw, "HTTP/1.", 7) != 0)
        return -1;
    r->status = atoi(r->raw + 9);
    if ((p = strstr(r->raw, "\r\n\r\n")) != NULL) {
        r->body = p + 4;
        r->body_len = r->len - (size_t)(r->body - r->raw);
    } else {
        r->body = r->raw + r->len;
    }
    return 0;
}

/* GET path; asserts an HTTP reply came. */
static void
wt_get(const char *path, struct wt_resp *r)
{
    ck_assert_msg(wt_http(wt_srv->web_port, "GET", path, NULL, NULL, 0, r) == 0,
                  "no HTTP reply to GET %s", path);
}

/* The value of header name in r (copied into buf), or NULL. */
static const char *
wt_header(const struct wt_resp *r, const char *name, char *buf, size_t cap)
{
    const char *p = strstr(r->raw, "\r\n"), *end = r->body ? r->body : r->raw + r->len;
    size_t      nl = strlen(name), vl;

    while (p != NULL && p + 2 < end) {
        p += 2;
        if (strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
            const char *v = p + nl + 1, *e = strstr(v, "\r\n");

            while (*v == ' ')
                v++;
            vl = e != NULL ? (size_t)(e - v) : strlen(v);
            if (vl >= cap)
                vl = cap - 1;
            memcpy(buf, v, vl);
            buf[vl] = '\0';
            return buf;
        }
        p = strstr(p, "\r\n");
    }
    return NULL;
}

/* The reply's body as JSON (asserted to parse). */
static json_t *
wt_json(const struct wt_resp *r)
{
    json_error_t e;
    json_t      *j = json_loadb(r->body, r->body_len, 0, &e);

    ck_assert_msg(j != NULL, "bad JSON (%s) in: %.300s", e.text, r->body);
    return j;
}

/* GET path, assert status, return the JSON body. */
static json_t *
wt_get_json(const char *path, int status)
{
    struct wt_resp r;
    json_t        *j;

    wt_get(path, &r);
    ck_assert_msg(r.status == status, "GET %s: status %d, expected %d: %.300s", path,
                  r.status, status, r.body);
    j = wt_json(&r);
    wt_free(&r);
    return j;
}

/* The CSRF token embedded in the pages. */
static void
wt_token(char *tok, size_t cap)
{
    struct wt_resp r;
    const char    *p;

    wt_get("/", &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_ptr_nonnull(p = strstr(r.body, "data-csrf=\""));
    p += 11;
    ck_assert_uint_lt(strcspn(p, "\""), cap);
    snprintf(tok, cap, "%.*s", (int)strcspn(p, "\""), p);
    ck_assert_uint_eq(strlen(tok), 32);
    wt_free(&r);
}

/* POST a form with the given token and Origin (either may be NULL). */
static void
wt_post(const char *path, const char *form, const char *tok, const char *origin,
        const char *more, struct wt_resp *r)
{
    char hdrs[1024];

    snprintf(hdrs, sizeof(hdrs),
             "Content-Type: application/x-www-form-urlencoded\r\n%s%s%s%s%s%s%s",
             tok ? "X-NWS-CSRF: " : "", tok ? tok : "", tok ? "\r\n" : "",
             origin ? "Origin: " : "", origin ? origin : "", origin ? "\r\n" : "",
             more ? more : "");
    ck_assert_msg(wt_http(wt_srv->web_port, "POST", path, hdrs, form, strlen(form), r) == 0,
                  "no HTTP reply to POST %s", path);
}

/* POST as our own page does; assert the status. */
static json_t *
wt_action(const char *path, const char *form, int status)
{
    char           tok[64], origin[64];
    struct wt_resp r;
    json_t        *j;

    wt_token(tok, sizeof(tok));
    snprintf(origin, sizeof(origin), "http://127.0.0.1:%d", wt_srv->web_port);
    wt_post(path, form, tok, origin, NULL, &r);
    ck_assert_msg(r.status == status, "POST %s: status %d, expected %d: %.300s", path,
                  r.status, status, r.body);
    j = wt_json(&r);
    wt_free(&r);
    return j;
}

static json_int_t
wt_int(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);

    ck_assert_msg(json_is_integer(v), "no integer %s", key);
    return json_integer_value(v);
}

static const char *
wt_str(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);

    ck_assert_msg(json_is_string(v), "no string %s", key);
    return json_string_value(v);
}

/* The item of a listing whose "name" is name, or NULL. */
static json_t *
wt_item(json_t *list, const char *name)
{
    size_t  i;
    json_t *it;

    json_array_foreach(json_object_get(list, "items"), i, it)
        if (strcmp(wt_str(it, "name"), name) == 0)
            return it;
    return NULL;
}

/* Opens a protocol client that has opened (and owns, persistently) ws. */
static void
wt_client(struct rawc *c, const char *ws)
{
    PT_OPEN(c, wt_srv->port, RAWC_PLAIN);
    PT_OK(c, "open ws", ws, "test", "yes");
}

/* Stores len bytes with descriptor desc. */
static void
wt_store(struct rawc *c, const char *ws, const char *var, int64_t desc, const void *val,
         size_t len)
{
    char              d[32];
    const char       *argv[5] = {"store", ws, var, d, val};
    size_t            lens[5] = {5, strlen(ws), strlen(var), 0, len};
    struct rawc_reply r;

    snprintf(d, sizeof(d), "%020lld", (long long)desc);
    lens[3] = strlen(d);
    PT_RC(c, rawc_send(c, NULL, 0, 5, argv, lens));
    PT_RC(c, rawc_read_short(c, &r));
    ck_assert_int_eq(r.status, 0);
    rawc_reply_free(&r);
}

START_TEST(overview_fields)
{
    struct wt_resp r;
    struct rawc    c;
    char           h[512];
    json_t        *o;

    wt_client(&c, "ov");
    PT_OK(&c, "store", "ov", "x", "00000000000000000001", "hello");
    wt_get("/api/overview", &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(wt_header(&r, "Content-Type", h, sizeof(h)), "application/json");
    ck_assert_str_eq(wt_header(&r, "X-Content-Type-Options", h, sizeof(h)), "nosniff");
    ck_assert_str_eq(wt_header(&r, "Cache-Control", h, sizeof(h)), "no-cache");
    ck_assert_ptr_nonnull(wt_header(&r, "Content-Security-Policy", h, sizeof(h)));
    ck_assert_ptr_nonnull(strstr(h, "default-src 'self'"));
    ck_assert_ptr_null(strstr(h, "unsafe-inline"));
    o = wt_json(&r);
    ck_assert_str_eq(wt_str(o, "version"), NWS_VERSION);
    ck_assert_int_eq(wt_int(o, "workspaces"), 2);   /* __default and ov */
    ck_assert_int_eq(wt_int(o, "values"), 1);
    ck_assert_int_eq(wt_int(o, "variables"), 1);
    ck_assert_int_eq(wt_int(o, "connections"), 1);
    ck_assert_int_ge(wt_int(o, "ops"), 2);
    ck_assert_int_gt(wt_int(o, "memory_used"), 0);
    ck_assert_int_gt(wt_int(o, "memory_limit"), 0);
    ck_assert_int_eq(wt_int(o, "web_port"), wt_srv->web_port);
    ck_assert(json_is_number(json_object_get(o, "ops_per_sec")));
    ck_assert(json_is_number(json_object_get(o, "uptime")));
    json_decref(o);
    wt_free(&r);
    rawc_close(&c);
}
END_TEST

/* The ready line and NwsWebPort carry the real web port; --no-web drops both. */
START_TEST(web_port_advertised)
{
    static const char *const noweb[] = {"--no-web", NULL};
    struct nwstest_server   *s2;
    struct rawc              c;
    const char              *v;
    size_t                   vl;
    char                     buf[16];

    ck_assert_int_gt(wt_srv->web_port, 0);
    ck_assert_int_ne(wt_srv->web_port, wt_srv->port);
    PT_OPEN(&c, wt_srv->port, RAWC_PLAIN);
    ck_assert(rawc_dict_get(c.adv, c.adv_len, "NwsWebPort", &v, &vl));
    snprintf(buf, sizeof(buf), "%d", wt_srv->web_port);
    ck_assert_uint_eq(vl, strlen(buf));
    ck_assert(memcmp(v, buf, vl) == 0);
    rawc_close(&c);

    s2 = ptest_start(noweb);
    ck_assert_int_eq(s2->web_port, 0);
    PT_OPEN(&c, s2->port, RAWC_PLAIN);
    ck_assert(!rawc_dict_get(c.adv, c.adv_len, "NwsWebPort", &v, &vl));
    PT_OK(&c, "open ws", "still", "x", "no");
    rawc_close(&c);
    ptest_stop(s2);
}
END_TEST

START_TEST(workspaces_sort_filter_page)
{
    struct rawc c;
    json_t     *o, *items;

    wt_client(&c, "alpha");
    PT_OK(&c, "open ws", "beta", "test", "no");
    PT_OK(&c, "open ws", "gamma", "test", "yes");
    PT_OK(&c, "store", "beta", "a", "00000000000000000001", "1");
    PT_OK(&c, "store", "beta", "b", "00000000000000000001", "2");
    PT_OK(&c, "store", "beta", "b", "00000000000000000001", "3");
    PT_OK(&c, "store", "gamma", "a", "00000000000000000001", "1");

    o = wt_get_json("/api/workspaces", 200);
    ck_assert_int_eq(wt_int(o, "total"), 4);
    ck_assert_int_eq(wt_int(o, "matched"), 4);
    items = json_object_get(o, "items");
    ck_assert_str_eq(wt_str(json_array_get(items, 0), "name"), "__default");
    ck_assert_str_eq(wt_str(json_array_get(items, 1), "name"), "alpha");
    ck_assert(json_is_true(json_object_get(wt_item(o, "gamma"), "persistent")));
    ck_assert(json_is_false(json_object_get(wt_item(o, "beta"), "persistent")));
    ck_assert_int_eq(wt_int(wt_item(o, "beta"), "vars"), 2);
    ck_assert_int_eq(wt_int(wt_item(o, "beta"), "values"), 3);
    ck_assert_str_eq(wt_str(wt_item(o, "__default"), "owner"), "[system]");
    json_decref(o);

    o = wt_get_json("/api/workspaces?sort=values&order=desc", 200);
    items = json_object_get(o, "items");
    ck_assert_str_eq(wt_str(json_array_get(items, 0), "name"), "beta");
    ck_assert_str_eq(wt_str(json_array_get(items, 1), "name"), "gamma");
    ck_assert_str_eq(wt_str(o, "sort"), "values");
    ck_assert_str_eq(wt_str(o, "order"), "desc");
    json_decref(o);

    o = wt_get_json("/api/workspaces?filter=AM", 200);   /* case ignored */
    ck_assert_int_eq(wt_int(o, "matched"), 1);
    ck_assert_str_eq(wt_str(json_array_get(json_object_get(o, "items"), 0), "name"), "gamma");
    json_decref(o);

    o = wt_get_json("/api/workspaces?offset=1&limit=2", 200);
    items = json_object_get(o, "items");
    ck_assert_uint_eq(json_array_size(items), 2);
    ck_assert_str_eq(wt_str(json_array_get(items, 0), "name"), "alpha");
    ck_assert_str_eq(wt_str(json_array_get(items, 1), "name"), "beta");
    json_decref(o);

    o = wt_get_json("/api/workspaces?limit=100000", 200);    /* capped */
    ck_assert_int_eq(wt_int(o, "limit"), 500);
    json_decref(o);
    rawc_close(&c);
}
END_TEST

/* A workspace's variables: modes, counts, waiters; hidden sleigh variables left out. */
START_TEST(ws_variables)
{
    struct rawc c, f;
    json_t     *o, *v;
    char       *meta = rawc_dict_new("wstype", "sleigh", NULL);
    char        path[256];
    struct rawc_reply r;

    wt_client(&c, "w");
    PT_OK(&c, "declare var", "w", "l", "lifo");
    PT_OK(&c, "declare var", "w", "t", "__time");
    PT_OK(&c, "store", "w", "l", "00000000000000000001", "1");
    PT_OPEN(&f, wt_srv->port, RAWC_PLAIN);
    PT_OK(&f, "use ws", "w", "", "no");
    PT_RC(&f, rawc_sendv(&f, NULL, "fetch", "w", "waited", NULL));
    PT_WAIT_WAITERS(&c, "w", "waited", 1, 0);

    o = wt_get_json("/api/ws?ws=w", 200);
    ck_assert_int_eq(wt_int(o, "vars"), 3);
    ck_assert_str_eq(wt_str(wt_item(o, "l"), "mode"), "lifo");
    ck_assert_int_eq(wt_int(wt_item(o, "l"), "values"), 1);
    ck_assert_str_eq(wt_str(wt_item(o, "t"), "mode"), "__time");
    ck_assert(json_is_true(json_object_get(wt_item(o, "t"), "special")));
    v = wt_item(o, "waited");
    ck_assert_str_eq(wt_str(v, "mode"), "unknown");
    ck_assert_int_eq(wt_int(v, "fetchers"), 1);
    ck_assert_int_eq(wt_int(v, "finders"), 0);
    json_decref(o);
    o = wt_get_json("/api/ws?ws=w&filter=wait", 200);
    ck_assert_int_eq(wt_int(o, "matched"), 1);
    json_decref(o);

    /* A sleigh workspace: the plugin's hidden variables are not listed. */
    rawc_close(&c);
    PT_OPEN(&c, wt_srv->port, RAWC_META);
    PT_LONG_M(&c, meta, &r, "mktemp ws", "sl_%d");
    snprintf(path, sizeof(path), "/api/ws?ws=%s", r.value);
    o = wt_get_json(path, 200);
    ck_assert(json_is_true(json_object_get(o, "sleigh")));
    ck_assert_ptr_nonnull(wt_item(o, "task"));
    ck_assert_ptr_nonnull(wt_item(o, "result"));
    ck_assert_str_eq(wt_str(wt_item(o, "task"), "mode"), "custom");
    ck_assert_ptr_null(wt_item(o, "worker_ids"));
    ck_assert_ptr_null(wt_item(o, "worker registrations"));
    ck_assert_ptr_null(wt_item(o, "version"));
    json_decref(o);
    snprintf(path, sizeof(path), "/api/var?ws=%s&var=worker_ids", r.value);
    json_decref(wt_get_json(path, 404));
    rawc_reply_free(&r);
    json_decref(wt_get_json("/api/ws?ws=nope", 404));
    json_decref(wt_get_json("/api/ws", 400));
    rawc_close(&f);
    rawc_close(&c);
    free(meta);
}
END_TEST

/* Values newest first, paged; text, JSON, binary, truncated; descriptors decoded. */
START_TEST(var_values)
{
    struct rawc c;
    json_t     *o, *items, *v;
    char        big[10000], name[16];
    unsigned char bin[300];
    size_t      i;

    wt_client(&c, "vals");
    for (i = 1; i <= 3; i++) {
        snprintf(name, sizeof(name), "v%zu", i);
        PT_OK(&c, "store", "vals", "x", "00000000000000000001", name);
    }
    o = wt_get_json("/api/var?ws=vals&var=x", 200);
    ck_assert_str_eq(wt_str(o, "mode"), "fifo");
    ck_assert_int_eq(wt_int(o, "values"), 3);
    items = json_object_get(o, "items");
    ck_assert_uint_eq(json_array_size(items), 3);
    ck_assert_str_eq(wt_str(json_array_get(items, 0), "text"), "v3");
    ck_assert_str_eq(wt_str(json_array_get(items, 2), "text"), "v1");
    ck_assert_int_eq(wt_int(json_array_get(items, 0), "index"), 2);
    ck_assert_str_eq(wt_str(json_array_get(items, 0), "render"), "text");
    ck_assert_str_eq(wt_str(json_array_get(items, 0), "kind"), "string");
    ck_assert_str_eq(wt_str(json_array_get(items, 0), "language"), "none");
    json_decref(o);
    o = wt_get_json("/api/var?ws=vals&var=x&offset=1&limit=1", 200);
    items = json_object_get(o, "items");
    ck_assert_uint_eq(json_array_size(items), 1);
    ck_assert_str_eq(wt_str(json_array_get(items, 0), "text"), "v2");
    json_decref(o);

    /* JSON is pretty-printed. */
    PT_OK(&c, "store", "vals", "j", "00000000000000000001", "{\"a\":[1,2],\"b\":\"c\"}");
    o = wt_get_json("/api/var?ws=vals&var=j", 200);
    v = json_array_get(json_object_get(o, "items"), 0);
    ck_assert_str_eq(wt_str(v, "render"), "json");
    ck_assert_ptr_nonnull(strstr(wt_str(v, "text"), "\n  \"a\": [\n    1,"));
    json_decref(o);

    /* Binary (descriptor 3): a hex preview of at most 256 bytes. */
    for (i = 0; i < sizeof(bin); i++)
        bin[i] = (unsigned char)i;
    wt_store(&c, "vals", "b", 3, bin, sizeof(bin));
    o = wt_get_json("/api/var?ws=vals&var=b", 200);
    v = json_array_get(json_object_get(o, "items"), 0);
    ck_assert_str_eq(wt_str(v, "render"), "binary");
    ck_assert(json_is_true(json_object_get(v, "raw")));
    ck_assert_int_eq(wt_int(v, "size"), 300);
    ck_assert_ptr_nonnull(strstr(wt_str(v, "hex"), "00000000  00 01 02 03"));
    ck_assert_ptr_null(strstr(wt_str(v, "hex"), "00000100 "));
    ck_assert(json_is_true(json_object_get(v, "truncated")));
    json_decref(o);

    /* A Python pickle (0x01000000) and R text (0x03000001). */
    wt_store(&c, "vals", "py", 0x01000000, "\x80\x02K\x05.", 5);
    wt_store(&c, "vals", "r", 0x03000001, "from R", 6);
    o = wt_get_json("/api/var?ws=vals&var=py", 200);
    v = json_array_get(json_object_get(o, "items"), 0);
    ck_assert_str_eq(wt_str(v, "language"), "Python");
    ck_assert_str_eq(wt_str(v, "kind"), "serialized");
    ck_assert_str_eq(wt_str(v, "render"), "binary");
    json_decref(o);
    o = wt_get_json("/api/var?ws=vals&var=r", 200);
    v = json_array_get(json_object_get(o, "items"), 0);
    ck_assert_str_eq(wt_str(v, "language"), "R");
    ck_assert_str_eq(wt_str(v, "kind"), "string");
    ck_assert_str_eq(wt_str(v, "text"), "from R");
    json_decref(o);

    /* A long text is cut to the preview, with its size. */
    memset(big, 'a', sizeof(big));
    wt_store(&c, "vals", "big", 1, big, sizeof(big));
    o = wt_get_json("/api/var?ws=vals&var=big", 200);
    v = json_array_get(json_object_get(o, "items"), 0);
    ck_assert_int_eq(wt_int(v, "size"), 10000);
    ck_assert(json_is_true(json_object_get(v, "truncated")));
    ck_assert_uint_eq(strlen(wt_str(v, "text")), 2048);
    json_decref(o);
    o = wt_get_json("/api/var?ws=vals&var=big&preview=100000", 200);
    ck_assert_int_eq(wt_int(o, "preview"), 26214);   /* the reply budget / 20 values */
    json_decref(o);
    json_decref(wt_get_json("/api/var?ws=vals&var=nope", 404));
    rawc_close(&c);
}
END_TEST

/* Paging caps: never more than 100 values in a reply. */
START_TEST(var_paging_cap)
{
    struct rawc c;
    json_t     *o;
    int         i;

    wt_client(&c, "many");
    rawc_cork(&c);
    for (i = 0; i < 150; i++)
        PT_RC(&c, rawc_sendv(&c, NULL, "store", "many", "x", "00000000000000000001", "v",
                             NULL));
    PT_RC(&c, rawc_uncork(&c));
    for (i = 0; i < 150; i++) {
        struct rawc_reply r;

        PT_RC(&c, rawc_read_short(&c, &r));
        ck_assert_int_eq(r.status, 0);
    }
    o = wt_get_json("/api/var?ws=many&var=x&limit=1000", 200);
    ck_assert_int_eq(wt_int(o, "limit"), 100);
    ck_assert_uint_eq(json_array_size(json_object_get(o, "items")), 100);
    ck_assert_int_eq(wt_int(o, "stored"), 150);
    json_decref(o);
    rawc_close(&c);
}
END_TEST

/* A spooled value is described by its size only: its file is never read. */
START_TEST(var_spooled)
{
    static const char *const spool[] = {"--spool-threshold", "100", NULL};
    struct nwstest_server   *s2 = ptest_start(spool);
    struct nwstest_server   *keep = wt_srv;
    struct rawc              c;
    char                     val[500];
    json_t                  *o, *v;

    memset(val, 'z', sizeof(val));
    PT_OPEN(&c, s2->port, RAWC_PLAIN);
    PT_OK(&c, "open ws", "sp", "x", "yes");
    wt_store(&c, "sp", "long", 1, val, sizeof(val));
    wt_srv = s2;
    o = wt_get_json("/api/var?ws=sp&var=long", 200);
    wt_srv = keep;
    v = json_array_get(json_object_get(o, "items"), 0);
    ck_assert_str_eq(wt_str(v, "render"), "spooled");
    ck_assert_int_eq(wt_int(v, "size"), 500);
    ck_assert_ptr_null(json_object_get(v, "text"));
    json_decref(o);
    rawc_close(&c);
    ptest_stop(s2);
}
END_TEST

/* A byte pattern that shows where a piece went missing or moved. */
static void
wt_pattern(unsigned char *p, size_t len)
{
    size_t i;

    for (i = 0; i < len; i++)
        p[i] = (unsigned char)((i * 7 + i / 4096) & 0xff);
}

/*
 * Whole values download as attachments: one in memory, and a spooled one of
 * several pieces streamed from its file; a value fetch-try takes out stays
 * downloadable by its token; the overview shows spooled bytes apart.
 */
START_TEST(download_whole_values)
{
    static const char *const spool[] = {"--spool-threshold", "1000", NULL};
    struct nwstest_server   *s2 = ptest_start(spool);
    struct nwstest_server   *keep = wt_srv;
    enum { BIG = 3 * 1024 * 1024 + 123 };
    unsigned char           *big = malloc(BIG);
    struct rawc              c;
    struct wt_resp           r;
    json_t                  *o;
    char                     path[128];

    ck_assert_ptr_nonnull(big);
    wt_pattern(big, BIG);
    PT_OPEN(&c, s2->port, RAWC_PLAIN);
    PT_OK(&c, "open ws", "dl", "x", "yes");
    wt_store(&c, "dl", "v/a\"b", 1, "hello", 5);
    wt_store(&c, "dl", "v/a\"b", 3, big, BIG);
    wt_srv = s2;

    o = wt_get_json("/api/overview", 200);
    ck_assert_int_eq(wt_int(o, "spooled_bytes"), BIG);
    ck_assert_int_eq(wt_int(o, "spooled_values"), 1);
    json_decref(o);

    /* pos 0 is the newest: the spooled one, streamed whole. */
    wt_get("/api/download?ws=dl&var=v%2Fa%22b&pos=0", &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_ptr_nonnull(strstr(r.raw, "Content-Disposition: attachment; filename=\"v_a_b-0.bin\""));
    ck_assert_ptr_nonnull(strstr(r.raw, "Content-Type: application/octet-stream"));
    ck_assert_uint_eq(r.body_len, BIG);
    ck_assert_int_eq(memcmp(r.body, big, BIG), 0);
    wt_free(&r);
    wt_get("/api/download?ws=dl&var=v%2Fa%22b&pos=1", &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_uint_eq(r.body_len, 5);
    ck_assert_int_eq(memcmp(r.body, "hello", 5), 0);
    wt_free(&r);
    json_decref(wt_get_json("/api/download?ws=dl&var=v%2Fa%22b&pos=2", 404));

    /* fetch-try takes the oldest (hello, whole in the preview), then the spooled one. */
    o = wt_action("/api/fetch-try", "ws=dl&var=v%2Fa%22b", 200);
    ck_assert_ptr_null(json_object_get(o, "taken"));
    json_decref(o);
    o = wt_action("/api/fetch-try", "ws=dl&var=v%2Fa%22b", 200);
    ck_assert_str_eq(wt_str(json_object_get(o, "value"), "render"), "spooled");
    snprintf(path, sizeof(path), "/api/download?taken=%s", wt_str(o, "taken"));
    json_decref(o);
    wt_get(path, &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_uint_eq(r.body_len, BIG);
    ck_assert_int_eq(memcmp(r.body, big, BIG), 0);
    wt_free(&r);
    json_decref(wt_get_json("/api/download?taken=0123456789abcdef0123456789abcdef", 404));
    wt_srv = keep;
    free(big);
    rawc_close(&c);
    ptest_stop(s2);
}
END_TEST

/* The batch of name in a /api/sleigh reply, or NULL. */
static json_t *
wt_batch(json_t *o, const char *name)
{
    json_t *b;
    size_t  i;

    json_array_foreach(json_object_get(o, "batches"), i, b)
        if (strcmp(wt_str(b, "name"), name) == 0)
            return b;
    return NULL;
}

/* A batch shows what it runs (function or command) and when it started. */
START_TEST(sleigh_batch_detail)
{
    struct rawc       m;
    struct rawc_reply r;
    char             *meta = rawc_dict_new("wstype", "sleigh", NULL);
    char             *call = rawc_dict_new("batchId", "bcall", NULL);
    char             *cmd = rawc_dict_new("batchId", "bcmd", NULL);
    char             *raw = rawc_dict_new("batchId", "braw", NULL);
    char              path[256], name[128];
    json_t           *o, *b;
    long long         now = (long long)time(NULL);

    PT_OPEN(&m, wt_srv->port, RAWC_META);
    PT_LONG_M(&m, meta, &r, "mktemp ws", "sb_%d");
    snprintf(name, sizeof(name), "%s", r.value);
    rawc_reply_free(&r);
    PT_OK_M(&m, "0000", "open ws", name, "master", "no");
    PT_OK_M(&m, call, "store", name, "task", "00000000000000000001",
            "{\"kind\":\"call\",\"module\":\"stats\",\"function\":\"mean\",\"first\":0,"
            "\"args\":[[1]]}");
    PT_OK_M(&m, cmd, "store", name, "task", "00000000000000000001",
            "{\"kind\":\"command\",\"argv\":[\"gzip\",\"-9\",\"<b>x\"],\"first\":0,"
            "\"args\":[[]]}");
    PT_OK_M(&m, raw, "store", name, "task", "00000000000000000001", "not json");
    snprintf(path, sizeof(path), "/api/sleigh?ws=%s", name);
    o = wt_get_json(path, 200);
    ck_assert_ptr_nonnull(b = wt_batch(o, "bcall"));
    ck_assert_str_eq(wt_str(b, "what"), "stats.mean");
    ck_assert_int_ge(wt_int(b, "started"), now - 60);
    ck_assert_int_le(wt_int(b, "started"), now + 60);
    ck_assert_ptr_nonnull(b = wt_batch(o, "bcmd"));
    ck_assert_str_eq(wt_str(b, "what"), "gzip -9 <b>x");   /* JSON text; the page escapes */
    ck_assert_ptr_nonnull(b = wt_batch(o, "braw"));
    ck_assert(json_is_null(json_object_get(b, "what")));
    json_decref(o);
    rawc_close(&m);
    free(meta);
    free(call);
    free(cmd);
    free(raw);
}
END_TEST

/* nws-worker's workers show their pid (sent as registration metadata). */
START_TEST(sleigh_worker_pid)
{
    struct rawc       m;
    struct rawc_reply r;
    char             *meta = rawc_dict_new("wstype", "sleigh", NULL);
    char              path[256], name[128], port[16], bin[512];
    json_t           *o, *wk;
    pid_t             pid;
    int               i, st;
    json_int_t        seen = -1;

    PT_OPEN(&m, wt_srv->port, RAWC_META);
    PT_LONG_M(&m, meta, &r, "mktemp ws", "slp_%d");
    snprintf(name, sizeof(name), "%s", r.value);
    rawc_reply_free(&r);
    PT_OK_M(&m, "0000", "open ws", name, "master", "no");
    snprintf(port, sizeof(port), "%d", wt_srv->port);
    nwstest_bin("nws-worker", bin, sizeof(bin));
    pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        if (freopen("/dev/null", "w", stdout) == NULL)
            _exit(99);
        execl(bin, bin, "--host", "127.0.0.1", "--port", port, "--workspace", name,
              (char *)NULL);
        _exit(127);
    }
    snprintf(path, sizeof(path), "/api/sleigh?ws=%s", name);
    for (i = 0; i < 100 && seen == -1; i++) {
        o = wt_get_json(path, 200);
        wk = json_array_get(json_object_get(o, "workers"), 0);
        if (wk != NULL && json_is_integer(json_object_get(wk, "pid")))
            seen = json_integer_value(json_object_get(wk, "pid"));
        json_decref(o);
        if (seen == -1)
            usleep(100 * 1000);
    }
    kill(pid, SIGTERM);
    waitpid(pid, &st, 0);
    ck_assert_int_eq(seen, pid);
    free(meta);
    rawc_close(&m);
}
END_TEST

/* Hostile names are escaped in JSON and HTML; non-UTF-8 bytes round-trip by key. */
START_TEST(escaping)
{
    struct rawc    c;
    struct wt_resp r;
    json_t        *o, *it;
    const char    *argv[5];
    size_t         lens[5];
    struct rawc_reply rr;

    wt_client(&c, XSS);
    PT_OK(&c, "store", XSS, XSS, "00000000000000000001", XSS);
    o = wt_get_json("/api/workspaces?filter=script", 200);
    it = json_array_get(json_object_get(o, "items"), 0);
    ck_assert_str_eq(wt_str(it, "name"), XSS);
    ck_assert_str_eq(wt_str(it, "key"), XSS_KEY);
    json_decref(o);
    o = wt_get_json("/api/var?ws=" XSS_KEY "&var=" XSS_KEY, 200);
    ck_assert_str_eq(wt_str(o, "name"), XSS);
    ck_assert_str_eq(wt_str(json_array_get(json_object_get(o, "items"), 0), "text"), XSS);
    json_decref(o);

    /* The HTML page shows the name in its title and heading, escaped. */
    wt_get("/var?ws=" XSS_KEY "&var=" XSS_KEY, &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_ptr_nonnull(strstr(r.body, "&lt;script&gt;alert(1)&lt;/script&gt;"));
    ck_assert_ptr_null(strstr(r.body, XSS));
    ck_assert_ptr_nonnull(strstr(r.body, "data-ws=\"" XSS_KEY "\""));
    /* Only our own script file: no inline script at all. */
    ck_assert_ptr_nonnull(strstr(r.body, "<script src=\"/static/app.js\" defer></script>"));
    ck_assert_ptr_null(strstr(strstr(r.body, "</script>") + 9, "<script"));
    wt_free(&r);

    /* Names are bytes: invalid UTF-8 is shown as \xNN, addressed exactly by key. */
    argv[0] = "open ws";
    argv[1] = "bad\xff\xfe";
    argv[2] = "o";
    argv[3] = "yes";
    lens[0] = 7;
    lens[1] = 5;
    lens[2] = 1;
    lens[3] = 3;
    PT_RC(&c, rawc_send(&c, NULL, 0, 4, argv, lens));
    PT_RC(&c, rawc_read_short(&c, &rr));
    ck_assert_int_eq(rr.status, 0);
    o = wt_get_json("/api/workspaces?filter=bad", 200);
    it = json_array_get(json_object_get(o, "items"), 0);
    ck_assert_str_eq(wt_str(it, "name"), "bad\\xff\\xfe");
    ck_assert_str_eq(wt_str(it, "key"), "bad%FF%FE");
    json_decref(o);
    o = wt_get_json("/api/ws?ws=bad%FF%FE", 200);
    ck_assert_str_eq(wt_str(o, "key"), "bad%FF%FE");
    json_decref(o);
    json_decref(wt_get_json("/api/ws?ws=bad%ff", 404));
    json_decref(wt_get_json("/api/ws?ws=%zz", 400));
    rawc_close(&c);
}
END_TEST

/* Actions need the token and our own origin; a refused one changes nothing. */
START_TEST(csrf_refused)
{
    struct rawc    c;
    struct wt_resp r;
    char           tok[64], origin[64], host[128];
    json_t        *o;

    wt_client(&c, "cs");
    PT_OK(&c, "store", "cs", "x", "00000000000000000001", "keep me");
    wt_token(tok, sizeof(tok));
    snprintf(origin, sizeof(origin), "http://127.0.0.1:%d", wt_srv->web_port);

    wt_post("/api/delete-var", "ws=cs&var=x", NULL, origin, NULL, &r);
    ck_assert_int_eq(r.status, 403);
    ck_assert_ptr_nonnull(strstr(r.body, "X-NWS-CSRF"));
    wt_free(&r);
    wt_post("/api/delete-var", "ws=cs&var=x", "0123456789abcdef0123456789abcdef", origin, NULL,
            &r);
    ck_assert_int_eq(r.status, 403);
    wt_free(&r);
    wt_post("/api/delete-var", "ws=cs&var=x", tok, "http://evil.example", NULL, &r);
    ck_assert_int_eq(r.status, 403);
    ck_assert_ptr_nonnull(strstr(r.body, "cross-origin"));
    wt_free(&r);
    wt_post("/api/delete-var", "ws=cs&var=x", tok, "null", NULL, &r);
    ck_assert_int_eq(r.status, 403);
    wt_free(&r);
    wt_post("/api/delete-var", "ws=cs&var=x", tok, NULL, "Sec-Fetch-Site: cross-site\r\n", &r);
    ck_assert_int_eq(r.status, 403);
    wt_free(&r);
    /* A DNS-rebinding page: the Host is not ours, even for reading. */
    snprintf(host, sizeof(host), "Host: evil.example:%d\r\n", wt_srv->web_port);
    ck_assert_int_eq(wt_http(wt_srv->web_port, "GET", "/api/overview", host, NULL, 0, &r), 0);
    ck_assert_int_eq(r.status, 403);
    wt_free(&r);
    ck_assert_int_eq(wt_http(wt_srv->web_port, "GET", "/", "Host: 10.1.2.3\r\n", NULL, 0, &r),
                     0);
    ck_assert_int_eq(r.status, 403);
    wt_free(&r);
    ck_assert_int_eq(wt_http(wt_srv->web_port, "GET", "/", "Host: localhost\r\n", NULL, 0, &r),
                     0);
    ck_assert_int_eq(r.status, 200);
    wt_free(&r);

    o = wt_get_json("/api/var?ws=cs&var=x", 200);
    ck_assert_int_eq(wt_int(o, "values"), 1);
    json_decref(o);
    /* The real thing: token and our origin. */
    json_decref(wt_action("/api/delete-var", "ws=cs&var=x", 200));
    json_decref(wt_get_json("/api/var?ws=cs&var=x", 404));
    rawc_close(&c);
}
END_TEST

/* Deleting through the web is the protocol's delete: waiters hear "Variable purged.". */
START_TEST(delete_purges_waiters)
{
    struct rawc c, f1, f2;

    wt_client(&c, "del");
    PT_OPEN(&f1, wt_srv->port, RAWC_META);
    PT_OK(&f1, "use ws", "del", "", "no");
    PT_OPEN(&f2, wt_srv->port, RAWC_META);
    PT_OK(&f2, "use ws", "del", "", "no");
    PT_RC(&f1, rawc_sendv(&f1, "0000", "fetch", "del", "a", NULL));
    PT_RC(&f2, rawc_sendv(&f2, "0000", "find", "del", "b", NULL));
    PT_WAIT_WAITERS(&c, "del", "a", 1, 0);
    PT_WAIT_WAITERS(&c, "del", "b", 0, 1);

    json_decref(wt_action("/api/delete-var", "ws=del&var=a", 200));
    {
        struct rawc_reply r;

        PT_RC(&f1, rawc_read_long(&f1, &r));
        PT_IS_ERROR(&f1, &r, 1, "Variable purged.");
        rawc_reply_free(&r);
    }
    json_decref(wt_action("/api/delete-ws", "ws=del", 200));
    {
        struct rawc_reply r;

        PT_RC(&f2, rawc_read_long(&f2, &r));
        PT_IS_ERROR(&f2, &r, 1, "Variable purged.");
        rawc_reply_free(&r);
    }
    json_decref(wt_get_json("/api/ws?ws=del", 404));
    json_decref(wt_action("/api/delete-ws", "ws=del", 404));
    rawc_close(&f1);
    rawc_close(&f2);
    rawc_close(&c);
}
END_TEST

/* Store and fetch-try from the web, seen through the protocol. */
START_TEST(store_and_fetch_try)
{
    struct rawc       c;
    struct rawc_reply r;
    json_t           *o;
    char             *meta = rawc_dict_new("wstype", "sleigh", NULL);
    char              form[256];

    wt_client(&c, "st");
    json_decref(wt_action("/api/store", "ws=st&var=x&value=first+value%21", 200));
    json_decref(wt_action("/api/store", "ws=st&var=x&value=%00bytes%FF&desc=3", 200));
    PT_VALUE(&c, "first value!", "findTry", "st", "x");
    o = wt_get_json("/api/var?ws=st&var=x", 200);
    ck_assert_int_eq(wt_int(o, "values"), 2);
    ck_assert_int_eq(wt_int(json_array_get(json_object_get(o, "items"), 0), "size"), 7);
    json_decref(o);
    o = wt_action("/api/fetch-try", "ws=st&var=x", 200);   /* fifo: the oldest */
    ck_assert_str_eq(wt_str(json_object_get(o, "value"), "text"), "first value!");
    json_decref(o);
    json_decref(wt_action("/api/fetch-try", "ws=st&var=x", 200));
    json_decref(wt_action("/api/fetch-try", "ws=st&var=x", 404));
    PT_NOVAL(&c, "fetchTry", "st", "x");
    json_decref(wt_action("/api/store", "ws=st&value=x", 400));
    json_decref(wt_action("/api/store", "ws=st&var=y&value=x&desc=abc", 400));
    json_decref(wt_action("/api/store", "ws=none&var=y&value=x", 404));

    /* Sleigh variables need a real worker or master behind them. */
    rawc_close(&c);
    PT_OPEN(&c, wt_srv->port, RAWC_META);
    PT_LONG_M(&c, meta, &r, "mktemp ws", "sl_%d");
    snprintf(form, sizeof(form), "ws=%s&var=task&value=x", r.value);
    json_decref(wt_action("/api/store", form, 409));
    snprintf(form, sizeof(form), "ws=%s&var=task", r.value);
    json_decref(wt_action("/api/delete-var", form, 409));
    rawc_reply_free(&r);
    rawc_close(&c);
    free(meta);
}
END_TEST

/* --web-readonly: everything is shown, nothing can be changed. */
START_TEST(readonly_refuses)
{
    static const char *const ro[] = {"--web-readonly", NULL};
    struct nwstest_server   *keep = wt_srv;
    struct wt_resp           r;
    struct rawc              c;
    char                     tok[64], origin[64];
    json_t                  *o;

    wt_srv = ptest_start(ro);
    wt_client(&c, "ro");
    PT_OK(&c, "store", "ro", "x", "00000000000000000001", "v");
    wt_token(tok, sizeof(tok));
    snprintf(origin, sizeof(origin), "http://127.0.0.1:%d", wt_srv->web_port);
    wt_post("/api/delete-ws", "ws=ro", tok, origin, NULL, &r);
    ck_assert_int_eq(r.status, 403);
    ck_assert_ptr_nonnull(strstr(r.body, "read-only"));
    wt_free(&r);
    wt_post("/api/store", "ws=ro&var=x&value=y", tok, origin, NULL, &r);
    ck_assert_int_eq(r.status, 403);
    wt_free(&r);
    o = wt_get_json("/api/var?ws=ro&var=x", 200);
    ck_assert_int_eq(wt_int(o, "values"), 1);
    json_decref(o);
    o = wt_get_json("/api/overview", 200);
    ck_assert(json_is_true(json_object_get(o, "readonly")));
    json_decref(o);
    wt_get("/ws?ws=ro", &r);
    ck_assert_ptr_nonnull(strstr(r.body, "data-readonly=\"1\""));
    wt_free(&r);
    rawc_close(&c);
    ptest_stop(wt_srv);
    wt_srv = keep;
}
END_TEST

/* Only known paths, only GET and POST. */
START_TEST(paths_and_methods)
{
    static const char *const missing[] = {
        "/nope", "/api/nope", "/static/../api/overview", "/api/overview/", "/static/",
        "/..%2f..%2fetc%2fpasswd", "/static/app.js/x",
    };
    struct wt_resp r;
    char           h[128];
    size_t         i;
    int            port = wt_srv->web_port;

    for (i = 0; i < sizeof(missing) / sizeof(missing[0]); i++) {
        wt_get(missing[i], &r);
        ck_assert_msg(r.status == 404, "%s: %d", missing[i], r.status);
        wt_free(&r);
    }
    wt_get("/static/app.js", &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(wt_header(&r, "Content-Type", h, sizeof(h)),
                     "text/javascript; charset=utf-8");
    wt_free(&r);
    wt_get("/static/app.css", &r);
    ck_assert_int_eq(r.status, 200);
    wt_free(&r);
    ck_assert_int_eq(wt_http(port, "PUT", "/api/overview", NULL, "x", 1, &r), 0);
    ck_assert_int_eq(r.status, 405);
    ck_assert_str_eq(wt_header(&r, "Allow", h, sizeof(h)), "GET");
    wt_free(&r);
    ck_assert_int_eq(wt_http(port, "DELETE", "/ws?ws=x", NULL, NULL, 0, &r), 0);
    ck_assert_int_eq(r.status, 405);
    wt_free(&r);
    ck_assert_int_eq(wt_http(port, "OPTIONS", "/api/store", NULL, NULL, 0, &r), 0);
    ck_assert_int_eq(r.status, 405);
    wt_free(&r);
    ck_assert_int_eq(wt_http(port, "GET", "/api/store?ws=x&var=y&value=z", NULL, NULL, 0, &r),
                     0);
    ck_assert_int_eq(r.status, 405);
    ck_assert_str_eq(wt_header(&r, "Allow", h, sizeof(h)), "POST");
    wt_free(&r);
    ck_assert_int_eq(wt_http(port, "POST", "/api/overview", NULL, "", 0, &r), 0);
    ck_assert_int_eq(r.status, 405);
    wt_free(&r);
    wt_get("/ws", &r);   /* a page that needs a workspace */
    ck_assert_int_eq(r.status, 400);
    wt_free(&r);
}
END_TEST

/* Request sizes are bounded: huge headers and bodies are refused, the server goes on. */
START_TEST(oversized_refused)
{
    size_t         n = 64 * 1024, blen = 3 * 1024 * 1024;
    char          *hdr = malloc(n + 32), *body = malloc(blen), tok[64];
    struct wt_resp r;
    json_t        *o;
    int            rc;

    memcpy(hdr, "X-Big: ", 7);
    memset(hdr + 7, 'a', n);
    memcpy(hdr + 7 + n, "\r\n", 3);
    rc = wt_http(wt_srv->web_port, "GET", "/api/overview", hdr, NULL, 0, &r);
    ck_assert_msg(rc != 0 || (r.status >= 400 && r.status < 500), "big headers: status %d",
                  r.status);
    wt_free(&r);

    wt_token(tok, sizeof(tok));
    memcpy(body, "ws=__default&var=x&value=", 25);
    memset(body + 25, 'b', blen - 25);
    snprintf(hdr, n, "Content-Type: application/x-www-form-urlencoded\r\nX-NWS-CSRF: %s\r\n",
             tok);
    rc = wt_http(wt_srv->web_port, "POST", "/api/store", hdr, body, blen, &r);
    ck_assert_msg(rc != 0 || r.status == 413, "big body: status %d", r.status);
    wt_free(&r);
    o = wt_get_json("/api/ws?ws=__default", 200);
    ck_assert_int_eq(wt_int(o, "vars"), 0);
    json_decref(o);
    free(hdr);
    free(body);
}
END_TEST

/* Many workspaces: the listing is paged, and quick. */
START_TEST(many_workspaces_bounded)
{
    struct rawc c;
    char        name[32];
    json_t     *o;
    double      t0;
    int         i;

    PT_OPEN(&c, wt_srv->port, RAWC_PLAIN);
    rawc_cork(&c);
    for (i = 0; i < 3000; i++) {
        snprintf(name, sizeof(name), "ws%05d", i);
        PT_RC(&c, rawc_sendv(&c, NULL, "use ws", name, "", "no", NULL));
    }
    PT_RC(&c, rawc_uncork(&c));
    for (i = 0; i < 3000; i++) {
        struct rawc_reply r;

        PT_RC(&c, rawc_read_short(&c, &r));
        ck_assert_int_eq(r.status, 0);
    }
    t0 = nwsp_mono();
    o = wt_get_json("/api/workspaces?sort=name&order=desc&limit=50", 200);
    ck_assert_double_lt(nwsp_mono() - t0, 2.0);
    ck_assert_int_eq(wt_int(o, "total"), 3001);
    ck_assert_uint_eq(json_array_size(json_object_get(o, "items")), 50);
    ck_assert_str_eq(wt_str(json_array_get(json_object_get(o, "items"), 0), "name"),
                     "ws02999");
    json_decref(o);
    rawc_close(&c);
}
END_TEST

/*
 * Sends n pipelined requests, "use ws" or "store" into ws, for the names
 * prefix followed by i in five digits, and checks each short reply.
 */
static void
wt_pipeline(struct rawc *c, int n, const char *cmd, const char *ws, const char *prefix)
{
    char name[64];
    int  i;

    rawc_cork(c);
    for (i = 0; i < n; i++) {
        snprintf(name, sizeof(name), "%s%05d", prefix, i);
        if (strcmp(cmd, "use ws") == 0)
            PT_RC(c, rawc_sendv(c, NULL, "use ws", name, "", "no", NULL));
        else
            PT_RC(c, rawc_sendv(c, NULL, "store", ws, name, "00000000000000000001", "v",
                                NULL));
    }
    PT_RC(c, rawc_uncork(c));
    for (i = 0; i < n; i++) {
        struct rawc_reply r;

        PT_RC(c, rawc_read_short(c, &r));
        ck_assert_int_eq(r.status, 0);
    }
}

/* The names of a listing's items, joined by commas. */
static void
wt_names(json_t *o, char *buf, size_t cap)
{
    json_t *items = json_object_get(o, "items"), *it;
    size_t  i, len = 0;

    buf[0] = '\0';
    json_array_foreach(items, i, it)
    {
        len += (size_t)snprintf(buf + len, cap - len, "%s%s", i ? "," : "", wt_str(it, "name"));
        ck_assert_uint_lt(len, cap);
    }
}

/*
 * A workspace of 12,000 variables (more than a listing looks at per
 * request): a page anywhere comes in name order from the table's key order,
 * a cursor (after=) continues right after names are added and removed,
 * and a filter looks at a bounded number of names, saying when it stopped.
 */
START_TEST(ws_paging_big_table)
{
    struct rawc c;
    json_t     *o;
    char        names[4096];

    wt_client(&c, "big");
    wt_pipeline(&c, 12000, "store", "big", "v");
    o = wt_get_json("/api/ws?ws=big&offset=11000&limit=3", 200);
    wt_names(o, names, sizeof(names));
    ck_assert_str_eq(names, "v11000,v11001,v11002");
    ck_assert_int_eq(wt_int(o, "matched"), 12000);
    ck_assert(json_is_true(json_object_get(o, "more")));
    json_decref(o);
    o = wt_get_json("/api/ws?ws=big&offset=11998&limit=5", 200);
    wt_names(o, names, sizeof(names));
    ck_assert_str_eq(names, "v11998,v11999");
    ck_assert(json_is_false(json_object_get(o, "more")));
    json_decref(o);

    /* A cursor: the page after v05000; then v05001 goes and v05001a comes. */
    o = wt_get_json("/api/ws?ws=big&after=v05000&limit=3", 200);
    wt_names(o, names, sizeof(names));
    ck_assert_str_eq(names, "v05001,v05002,v05003");
    json_decref(o);
    PT_OK(&c, "delete var", "big", "v05001");
    PT_OK(&c, "store", "big", "v05001a", "00000000000000000001", "x");
    o = wt_get_json("/api/ws?ws=big&after=v05001&limit=3", 200);
    wt_names(o, names, sizeof(names));
    ck_assert_str_eq(names, "v05001a,v05002,v05003");
    json_decref(o);
    o = wt_get_json("/api/ws?ws=big&after=v05000&limit=2", 200);
    wt_names(o, names, sizeof(names));
    ck_assert_str_eq(names, "v05001a,v05002");
    json_decref(o);

    /* A filter whose matches lie past the names looked at per request. */
    o = wt_get_json("/api/ws?ws=big&filter=v1199", 200);
    ck_assert_uint_eq(json_array_size(json_object_get(o, "items")), 0);
    ck_assert(json_is_null(json_object_get(o, "matched")));
    ck_assert(json_is_true(json_object_get(o, "more")));
    json_decref(o);
    o = wt_get_json("/api/ws?ws=big&filter=v1199&after=v09999&limit=3", 200);
    wt_names(o, names, sizeof(names));
    ck_assert_str_eq(names, "v11990,v11991,v11992");
    json_decref(o);
    /* Counting every value of so many variables is left out, not done. */
    o = wt_get_json("/api/ws?ws=big&limit=1", 200);
    ck_assert(json_is_null(json_object_get(o, "total_values")));
    json_decref(o);
    rawc_close(&c);
}
END_TEST

/*
 * More workspaces than are ever sorted whole: name order both ways from the
 * key order, and another order falls back to name order and says so.
 */
START_TEST(workspaces_paging_big_table)
{
    struct rawc c;
    json_t     *o;
    char        names[4096];

    PT_OPEN(&c, wt_srv->port, RAWC_PLAIN);
    wt_pipeline(&c, 6000, "use ws", NULL, "w");
    o = wt_get_json("/api/workspaces?offset=3001&limit=2", 200);
    wt_names(o, names, sizeof(names));
    ck_assert_str_eq(names, "w03000,w03001");
    ck_assert_int_eq(wt_int(o, "total"), 6001);   /* and __default, first */
    json_decref(o);
    o = wt_get_json("/api/workspaces?order=desc&offset=1&limit=2", 200);
    wt_names(o, names, sizeof(names));
    ck_assert_str_eq(names, "w05998,w05997");
    json_decref(o);
    o = wt_get_json("/api/workspaces?after=w04000&limit=2", 200);
    wt_names(o, names, sizeof(names));
    ck_assert_str_eq(names, "w04001,w04002");
    json_decref(o);
    o = wt_get_json("/api/workspaces?sort=vars&order=desc&limit=2", 200);
    ck_assert_str_eq(wt_str(o, "sort"), "name");
    ck_assert_ptr_nonnull(json_object_get(o, "note"));
    json_decref(o);
    rawc_close(&c);
}
END_TEST

/* Sends len raw bytes as a request; the reply's status, or 0 if none came. */
static int
wt_raw_status(const char *req, size_t len)
{
    char buf[16] = {0};
    int  fd = nwstest_connect(wt_srv->web_port, 5), st = 0;

    ck_assert_int_ge(fd, 0);
    (void)nwstest_write_all(fd, req, len);
    if (nwstest_read_exact(fd, buf, 12) == 0 && strncmp(buf, "HTTP/1.1 ", 9) == 0)
        st = atoi(buf + 9);
    close(fd);
    return st;
}

/*
 * A Host that could mean two things is refused: two Host headers, or one
 * with a NUL byte (evhttp would keep only what comes before it).
 */
START_TEST(host_ambiguous_refused)
{
    static const char two[] = "GET /api/overview HTTP/1.1\r\nHost: localhost\r\n"
                              "Host: evil.example\r\nConnection: close\r\n\r\n";
    static const char nul[] = "GET /api/overview HTTP/1.1\r\nHost: localhost\0.evil.example"
                              "\r\nConnection: close\r\n\r\n";
    static const char ok[] = "GET /api/overview HTTP/1.1\r\nHost: localhost\r\n"
                             "Connection: close\r\n\r\n";
    int st;

    ck_assert_int_eq(wt_raw_status(two, sizeof(two) - 1), 400);
    st = wt_raw_status(nul, sizeof(nul) - 1);
    ck_assert_msg(st == 400 || st == 0, "a Host with a NUL got %d", st);
    ck_assert_int_eq(wt_raw_status(ok, sizeof(ok) - 1), 200);
}
END_TEST

/*
 * The overview counts values a bounded step per request: with more
 * variables than one step looks at, the first answer has no count yet, and
 * a later one has the exact count.
 */
START_TEST(overview_counts_in_steps)
{
    struct rawc c;
    json_t     *o;
    int         i;

    wt_client(&c, "many");
    wt_pipeline(&c, 25000, "store", "many", "v");
    o = wt_get_json("/api/overview", 200);
    ck_assert(json_is_null(json_object_get(o, "values")));
    json_decref(o);
    for (i = 0; i < 3; i++) {
        o = wt_get_json("/api/overview", 200);
        if (json_is_integer(json_object_get(o, "values")))
            break;
        json_decref(o);
    }
    ck_assert_int_lt(i, 3);
    ck_assert_int_eq(wt_int(o, "values"), 25000);
    ck_assert_int_eq(wt_int(o, "variables"), 25000);
    json_decref(o);
    rawc_close(&c);
}
END_TEST

/* Slow or stuck web clients never hold up the protocol port. */
START_TEST(protocol_unaffected_by_web)
{
    struct rawc c;
    int         fds[40], big, i;
    double      t0;
    char        req[128];

    for (i = 0; i < 40; i++) {
        fds[i] = nwstest_connect(wt_srv->web_port, 5);
        ck_assert_int_ge(fds[i], 0);
        /* A request that never ends. */
        ck_assert_int_eq(nwstest_write_all(fds[i], "GET /api/overview HTTP/1.1\r\nHo", 30), 0);
    }
    /* A client that asks for a lot and never reads it. */
    big = nwstest_connect(wt_srv->web_port, 5);
    for (i = 0; i < 50; i++) {
        snprintf(req, sizeof(req),
                 "GET /api/workspaces?limit=500 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
        ck_assert_int_eq(nwstest_write_all(big, req, strlen(req)), 0);
    }
    wt_client(&c, "busy");
    t0 = nwsp_mono();
    for (i = 0; i < 200; i++) {
        PT_OK(&c, "store", "busy", "x", "00000000000000000001", "v");
        PT_VALUE(&c, "v", "fetch", "busy", "x");
    }
    ck_assert_double_lt(nwsp_mono() - t0, 5.0);
    json_decref(wt_get_json("/api/overview", 200));   /* and the web still answers */
    for (i = 0; i < 40; i++)
        close(fds[i]);
    close(big);
    rawc_close(&c);
}
END_TEST

/* The sleigh view: workers, batch counts, throughput; driven by raw protocol. */
START_TEST(sleigh_view)
{
    struct rawc       m, w;
    struct rawc_reply r;
    char             *meta = rawc_dict_new("wstype", "sleigh", NULL);
    char             *bmeta = rawc_dict_new("batchId", "b1", NULL);
    char              path[256], name[128];
    json_t           *o, *b, *wk;
    int               i;

    PT_OPEN(&m, wt_srv->port, RAWC_META);
    PT_LONG_M(&m, meta, &r, "mktemp ws", "sl_%d");
    snprintf(name, sizeof(name), "%s", r.value);
    rawc_reply_free(&r);
    PT_OK_M(&m, "0000", "open ws", name, "master", "no");
    PT_OPEN(&w, wt_srv->port, RAWC_META);
    PT_OK_M(&w, "0000", "use ws", name, "", "no");
    PT_OK_M(&w, "0000", "store", name, "worker_ids", "00000000000000000001", "0");
    PT_OK_M(&w, "0000", "store", name, "worker registrations", "00000000000000000001",
            "{\"rank\":0,\"host\":\"node7\",\"pid\":4242}");
    PT_OK_M(&w, "0000", "store", name, "output@0", "00000000000000000001", "hello out");
    for (i = 0; i < 4; i++)
        PT_OK_M(&m, bmeta, "store", name, "task", "00000000000000000001", "t");

    snprintf(path, sizeof(path), "/api/sleigh?ws=%s", name);
    o = wt_get_json(path, 200);
    ck_assert_str_eq(wt_str(o, "join"), "open");
    ck_assert_uint_eq(json_array_size(json_object_get(o, "workers")), 1);
    wk = json_array_get(json_object_get(o, "workers"), 0);
    ck_assert_int_eq(wt_int(wk, "rank"), 0);
    ck_assert_str_eq(wt_str(wk, "state"), "idle");
    ck_assert_str_eq(wt_str(wk, "host"), "127.0.0.1");
    ck_assert_str_eq(wt_str(wk, "hostname"), "node7");
    ck_assert_int_eq(wt_int(wk, "pid"), 4242);
    ck_assert_str_eq(json_string_value(json_array_get(
                         json_object_get(json_object_get(wk, "output"), "last"), 0)),
                     "hello out");
    b = json_array_get(json_object_get(o, "batches"), 0);
    ck_assert_str_eq(wt_str(b, "name"), "b1");
    ck_assert_int_eq(wt_int(b, "queued"), 4);
    ck_assert_int_eq(wt_int(b, "done"), 0);
    ck_assert(json_is_null(json_object_get(b, "rate")));
    json_decref(o);

    PT_LONG_M(&w, "0000", &r, "fetch", name, "task");
    rawc_reply_free(&r);
    o = wt_get_json(path, 200);
    wk = json_array_get(json_object_get(o, "workers"), 0);
    ck_assert_str_eq(wt_str(wk, "state"), "running");
    ck_assert_str_eq(wt_str(json_object_get(wk, "batch"), "name"), "b1");
    b = json_array_get(json_object_get(o, "batches"), 0);
    ck_assert_int_eq(wt_int(b, "running"), 1);
    ck_assert_int_eq(wt_int(b, "queued"), 3);
    json_decref(o);

    usleep(1100 * 1000);   /* a second of history for the rate */
    PT_OK_M(&w, "0000", "store", name, "result", "00000000000000000001", "r");
    o = wt_get_json(path, 200);
    b = json_array_get(json_object_get(o, "batches"), 0);
    ck_assert_int_eq(wt_int(b, "done"), 1);
    ck_assert_int_eq(wt_int(b, "total"), 4);
    ck_assert(json_is_number(json_object_get(b, "rate")));
    ck_assert(json_real_value(json_object_get(b, "rate")) > 0);
    ck_assert(json_is_number(json_object_get(b, "eta")));
    ck_assert(json_real_value(json_object_get(b, "percent")) == 25.0);
    wk = json_array_get(json_object_get(o, "workers"), 0);
    ck_assert_int_eq(wt_int(wk, "done"), 1);
    ck_assert(json_is_number(json_object_get(wk, "last_seen")));
    json_decref(o);

    o = wt_get_json("/api/overview", 200);
    ck_assert_uint_eq(json_array_size(json_object_get(o, "sleighs")), 1);
    ck_assert_int_eq(wt_int(json_array_get(json_object_get(o, "sleighs"), 0), "done"), 1);
    json_decref(o);
    json_decref(wt_get_json("/api/sleigh?ws=__default", 404));
    rawc_close(&w);
    rawc_close(&m);
    free(meta);
    free(bmeta);
}
END_TEST

NWSTEST_SUITE(web_api)
{
    Suite *s = suite_create("web_api");
    TCase *tc;

    tc = tcase_create("views");
    tcase_add_checked_fixture(tc, wt_setup, wt_teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, overview_fields);
    tcase_add_test(tc, web_port_advertised);
    tcase_add_test(tc, workspaces_sort_filter_page);
    tcase_add_test(tc, ws_variables);
    tcase_add_test(tc, var_values);
    tcase_add_test(tc, var_paging_cap);
    tcase_add_test(tc, var_spooled);
    tcase_add_test(tc, download_whole_values);
    tcase_add_test(tc, sleigh_view);
    tcase_add_test(tc, sleigh_worker_pid);
    tcase_add_test(tc, sleigh_batch_detail);
    suite_add_tcase(s, tc);

    tc = tcase_create("safety");
    tcase_add_checked_fixture(tc, wt_setup, wt_teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, escaping);
    tcase_add_test(tc, csrf_refused);
    tcase_add_test(tc, readonly_refuses);
    tcase_add_test(tc, paths_and_methods);
    tcase_add_test(tc, oversized_refused);
    tcase_add_test(tc, many_workspaces_bounded);
    tcase_add_test(tc, ws_paging_big_table);
    tcase_add_test(tc, host_ambiguous_refused);
    tcase_add_test(tc, workspaces_paging_big_table);
    tcase_add_test(tc, overview_counts_in_steps);
    tcase_add_test(tc, protocol_unaffected_by_web);
    suite_add_tcase(s, tc);

    tc = tcase_create("actions");
    tcase_add_checked_fixture(tc, wt_setup, wt_teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, delete_purges_waiters);
    tcase_add_test(tc, store_and_fetch_try);
    suite_add_tcase(s, tc);
    return s;
}
