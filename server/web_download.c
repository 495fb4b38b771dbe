/*
 * web_download.c -- whole values over HTTP, as attachments.
 *
 * GET /api/download?ws=W&var=V&pos=N sends the value at place N (newest
 * first, as /api/var lists them) of a variable, and
 * GET /api/download?taken=T a value a fetch-try took out (kept a while so
 * that taking a value never throws it away unseen; see web_taken_keep).
 *
 * A value in memory is handed to evhttp by reference (no copy): the value
 * is held until evhttp has written it.  A spooled value is read from its
 * file a piece at a time: WEB_DOWNLOAD_PIECE bytes with one pread(), the
 * next piece only once evhttp has written the previous one out.  That is
 * disk I/O on the event loop, which we otherwise never do; it is allowed
 * here because each turn of the loop reads at most one bounded piece from a
 * file the server itself wrote (an unlinked temp file, likely still in the
 * page cache), so a download of gigabytes never holds the loop for long,
 * and memory per download stays at one piece plus the socket's buffer.
 *
 * Every download holds a reference to its value, so deleting or fetching
 * the value meanwhile changes nothing for it.  A download whose connection
 * closes is dropped (web_download_cancel, from web.c's close hook).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/keyvalq_struct.h>

#include "web.h"

#define WEB_DL_COPY_MAX (64 * 1024)   /* in-memory values this small are copied */
_Static_assert(VQ_PACK_MAX <= WEB_DL_COPY_MAX, "packed values must be copied");

/* One spooled value being sent. */
struct web_dl {
    struct evhttp_request    *dl_req;
    struct evhttp_connection *dl_evcon;
    struct value             *dl_value;   /* a reference */
    uint64_t                  dl_off;     /* bytes sent so far */
    LIST_ENTRY(web_dl)        dl_link;
};
static LIST_HEAD(, web_dl) web_dls = LIST_HEAD_INITIALIZER(web_dls);

/* Values fetch-try took out, downloadable for a while by their token. */
static struct web_taken {
    char          wt_token[33];
    struct value *wt_value;   /* a reference, or NULL: a free slot */
    double        wt_until;
    char         *wt_name;    /* the variable's name, for the file name */
    size_t        wt_namelen;
} web_taken[WEB_TAKEN_MAX];

/* 1 if the 32 characters at a and b are equal; in constant time (tokens are secrets). */
static int
web_token_eq(const char *a, const char *b)
{
    unsigned char diff = 0;
    size_t        i;

    for (i = 0; i < 32; i++)
        diff |= (unsigned char)(a[i] ^ b[i]);
    return diff == 0;
}

static void
web_dl_free(struct web_dl *dl)
{
    LIST_REMOVE(dl, dl_link);
    value_unref(dl->dl_value);
    free(dl);
}

void
web_download_cancel(struct evhttp_connection *evcon)
{
    struct web_dl *dl, *next;

    for (dl = LIST_FIRST(&web_dls); dl != NULL; dl = next) {
        next = LIST_NEXT(dl, dl_link);
        if (dl->dl_evcon == evcon)
            web_dl_free(dl);   /* evhttp frees the request itself */
    }
}

/* evbuffer_add_reference's cleanup: evhttp is done with an in-memory value. */
static void
web_dl_unref(const void *data, size_t len, void *arg)
{
    (void)data;
    (void)len;
    value_unref(arg);
}

/* Closes the connection under evhttp: the body cannot be finished. */
static void
web_dl_cut(struct web_dl *dl)
{
    struct bufferevent *bev = evhttp_connection_get_bufferevent(dl->dl_evcon);
    evutil_socket_t     fd = bev != NULL ? bufferevent_getfd(bev) : -1;

    if (fd != -1)
        shutdown(fd, SHUT_RDWR);
}

/*
 * Sends the next piece of a spooled value (evhttp calls this once the
 * previous one is written), or ends the reply.
 */
static void
web_dl_next(struct evhttp_connection *evcon, void *arg)
{
    struct web_dl   *dl = arg;
    uint64_t         left = dl->dl_value->v_len - dl->dl_off;
    size_t           n = left < WEB_DOWNLOAD_PIECE ? (size_t)left : WEB_DOWNLOAD_PIECE;
    struct evbuffer *b;
    struct iovec     iov;
    ssize_t          got;

    (void)evcon;
    if (n == 0) {
        struct evhttp_request *req = dl->dl_req;

        /* Forgotten first: ending the reply may close the connection at once. */
        web_dl_free(dl);
        web_conn_busy(req, 0);
        evhttp_send_reply_end(req);
        return;
    }
    if ((b = evbuffer_new()) == NULL || evbuffer_reserve_space(b, (ev_ssize_t)n, &iov, 1) < 1)
        fatalx("web: out of memory for a download");
    /* One bounded read per turn of the loop: see the top of this file. */
    do
        got = pread(dl->dl_value->v_fd, iov.iov_base, n, (off_t)dl->dl_off);
    while (got == -1 && errno == EINTR);
    if (got <= 0) {
        log_warn("web: reading a spooled value for a download");
        evbuffer_free(b);
        web_dl_cut(dl);   /* the close hook frees dl */
        return;
    }
    iov.iov_len = (size_t)got;
    evbuffer_commit_space(b, &iov, 1);
    dl->dl_off += (uint64_t)got;
    evhttp_send_reply_chunk_with_cb(dl->dl_req, b, web_dl_next, dl);
    evbuffer_free(b);
}

/* A file name for the attachment: the variable's name in safe ASCII, and a suffix. */
static void
web_dl_filename(char *out, size_t cap, const char *name, size_t len, const char *suffix)
{
    size_t i, o = 0;

    for (i = 0; i < len && o + 1 < cap && o < 80; i++) {
        unsigned char c = (unsigned char)name[i];

        out[o++] = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                           (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.'
                       ? (char)c
                       : '_';
    }
    if (o == 0 || out[0] == '.')
        out[o > 0 ? 0 : o++] = 'v';
    out[o] = '\0';
    snprintf(out + o, cap - o, "%s", suffix);
}

/* evhttp has written an in-memory download whole. */
static void
web_dl_sent(struct evhttp_request *req, void *arg)
{
    (void)arg;
    web_conn_busy(req, 0);
}

/* Sends value v (borrowed; the download takes its own reference) as a file. */
static void
web_dl_send(struct evhttp_request *req, struct value *v, const char *fname)
{
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    struct evbuffer  *b;
    struct web_dl    *dl;
    char              len[32], disp[160];

    snprintf(len, sizeof(len), "%llu", (unsigned long long)v->v_len);
    snprintf(disp, sizeof(disp), "attachment; filename=\"%s\"", fname);
    web_headers(req, "application/octet-stream");
    evhttp_add_header(h, "Content-Disposition", disp);
    evhttp_add_header(h, "Content-Length", len);
    if (!(v->v_flags & VALUE_SPOOLED)) {
        if ((b = evbuffer_new()) == NULL)
            fatalx("evbuffer_new");
        /*
         * A small value is copied: it may be the queue's borrowed scratch copy
         * of a packed value (vqueue.c), which the next look at the queue
         * overwrites.  A large one is never packed: evhttp sends it by reference.
         */
        if (v->v_len <= WEB_DL_COPY_MAX)
            evbuffer_add(b, value_data(v), (size_t)v->v_len);
        else
            evbuffer_add_reference(b, value_data(v), (size_t)v->v_len, web_dl_unref,
                                   value_ref(v));
        /* A long value may take a while to send: the request deadline waits. */
        web_conn_busy(req, 1);
        evhttp_request_set_on_complete_cb(req, web_dl_sent, NULL);
        evhttp_send_reply(req, 200, "OK", b);
        evbuffer_free(b);
        return;
    }
    dl = xcalloc(1, sizeof(*dl));
    dl->dl_req = req;
    dl->dl_evcon = evhttp_request_get_connection(req);
    dl->dl_value = value_ref(v);
    LIST_INSERT_HEAD(&web_dls, dl, dl_link);
    web_conn_busy(req, 1);
    evhttp_send_reply_start(req, 200, "OK");
    web_dl_next(dl->dl_evcon, dl);
}

/* Forgets taken values past their time. */
static void
web_taken_expire(void)
{
    double now = web_now();
    size_t i;

    for (i = 0; i < WEB_TAKEN_MAX; i++) {
        if (web_taken[i].wt_value != NULL && web_taken[i].wt_until < now) {
            value_unref(web_taken[i].wt_value);
            free(web_taken[i].wt_name);
            memset(&web_taken[i], 0, sizeof(web_taken[i]));
        }
    }
}

const char *
web_taken_keep(struct value *v, const char *name, size_t len)
{
    unsigned char rnd[16];
    size_t        i, slot = 0;

    web_taken_expire();
    /* A free slot, else the one that expires first. */
    for (i = 0; i < WEB_TAKEN_MAX; i++) {
        if (web_taken[i].wt_value == NULL) {
            slot = i;
            break;
        }
        if (web_taken[i].wt_until < web_taken[slot].wt_until)
            slot = i;
    }
    if (web_taken[slot].wt_value != NULL) {
        value_unref(web_taken[slot].wt_value);
        free(web_taken[slot].wt_name);
    }
    if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
        fatal("getrandom");
    for (i = 0; i < sizeof(rnd); i++)
        snprintf(web_taken[slot].wt_token + 2 * i, 3, "%02x", rnd[i]);
    web_taken[slot].wt_value = value_ref(v);
    web_taken[slot].wt_until = web_now() + WEB_TAKEN_S;
    web_taken[slot].wt_name = xmemdup(name, len);
    web_taken[slot].wt_namelen = len;
    return web_taken[slot].wt_token;
}

void
web_taken_forget(void)
{
    size_t i;

    for (i = 0; i < WEB_TAKEN_MAX; i++) {
        if (web_taken[i].wt_value != NULL) {
            value_unref(web_taken[i].wt_value);
            free(web_taken[i].wt_name);
        }
    }
    memset(web_taken, 0, sizeof(web_taken));
    while (!LIST_EMPTY(&web_dls))
        web_dl_free(LIST_FIRST(&web_dls));
}

void
web_api_download(struct evhttp_request *req, const struct web_params *ps)
{
    const char  *token;
    size_t       tlen, i, n;
    struct ws   *ws;
    struct var  *var;
    struct value *v;
    long         pos;
    char         fname[128], suffix[40];

    if ((token = web_param(ps, "taken", &tlen)) != NULL) {
        web_taken_expire();
        for (i = 0; i < WEB_TAKEN_MAX; i++) {
            if (web_taken[i].wt_value != NULL && tlen == 32 &&
                web_token_eq(web_taken[i].wt_token, token))
                break;
        }
        if (i == WEB_TAKEN_MAX) {
            web_reply_error(req, 404, "no such taken value (they are kept for a while only)");
            return;
        }
        web_dl_filename(fname, sizeof(fname), web_taken[i].wt_name, web_taken[i].wt_namelen,
                        "-taken.bin");
        web_dl_send(req, web_taken[i].wt_value, fname);
        return;
    }
    if ((ws = web_find_ws(req, ps)) == NULL || (var = web_find_var(req, ps, ws)) == NULL)
        return;
    n = var->var_values.q_len;
    pos = web_param_long(ps, "pos", 0, 0, 1L << 40);
    if ((size_t)pos >= n) {
        web_reply_error(req, 404, "no value at that place");
        return;
    }
    /* Newest first, as /api/var lists them; the cast: the download holds a reference. */
    v = (struct value *)var_value_at(var, n - 1 - (size_t)pos);
    snprintf(suffix, sizeof(suffix), "-%ld.bin", pos);
    web_dl_filename(fname, sizeof(fname), var->var_name, var->var_namelen, suffix);
    web_dl_send(req, v, fname);
}
