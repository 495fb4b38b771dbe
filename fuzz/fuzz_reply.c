/*
 * fuzz_reply.c -- libnws's reply reader, behind its public calls.
 *
 * libnws reads replies from a socket, so the client here is a real
 * nws_client on one end of a socketpair; the input's reply stream is
 * written into the other end, which is then half-closed, so every read
 * ends in data or EOF and nothing can block.  Requests the calls send are
 * read and dropped after each call.
 *
 * Input layout:
 *
 *   flags    1 byte: bit 0 MetadataFromServer, bit 1 cookie, bit 2
 *            MetadataToServer, bit 3 a 16-byte value limit
 *   count    1 byte: k = count % 16 + 1 calls
 *   calls    k bytes: the call (low 4 bits) and its variant (high 4 bits)
 *   stream   the rest: what the "server" answers, read by the calls in turn
 *
 * Properties: no crash or leak whatever the server says; a call that fails
 * leaves an error code; a broken stream closes the connection (every later
 * call fails with NWS_ERR_CLOSED rather than misreading).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fuzz.h"
#include "nwsp.h"

#define FZR_MAX_STREAM 65536

/* Reads and drops whatever the client sent. */
static void
fzr_drain(int fd)
{
    char buf[4096];

    while (recv(fd, buf, sizeof(buf), MSG_DONTWAIT) > 0)
        ;
}

/* A client on fd, as nws_connect would leave it after the handshake. */
static nws_client *
fzr_client(int fd, unsigned flags)
{
    nws_client *c = calloc(1, sizeof(*c));

    FUZZ_ASSERT(c != NULL);
    c->reply_meta = nws_meta_new();
    FUZZ_ASSERT(c->reply_meta != NULL);
    c->fd = fd;
    c->meta_from = (flags & 1) != 0;
    c->cookie = (flags & 2) != 0;
    c->meta_to = (flags & 4) != 0;
    c->max_value = (flags & 8) ? 16 : NWSP_MAX_VALUE_DEFAULT;
    /* The handshake's reads leave a read buffer: no reply is read without one. */
    c->rcap = NWSP_IO_CHUNK;
    c->rbuf = malloc(c->rcap);
    FUZZ_ASSERT(c->rbuf != NULL);
    return c;
}

/* Checks what a call left: an error code when it failed. */
static void
fzr_result(int failed, const nws_error *err)
{
    if (failed)
        FUZZ_ASSERT(err->code != NWS_ERR_NONE);
}

/* One call of the script; its reply comes from the stream. */
static void
fzr_call(nws_client *c, nws_ws *ws, unsigned op, int devnull)
{
    static const enum nws_op ops[] = {NWS_OP_FETCH, NWS_OP_FIND, NWS_OP_FETCH_TRY,
                                      NWS_OP_FIND_TRY};
    unsigned      v = op >> 4;
    nws_error     err;
    nws_value    *val = NULL;
    nws_ws_list  *wl;
    nws_var_list *vl;
    nws_ws       *w;
    nws_iter     *it;
    nws_bulk     *b;
    char         *s = NULL;
    uint32_t      desc;
    uint64_t      len;
    int           rc, i;

    memset(&err, 0, sizeof(err));
    switch (op & 15) {
    case 0:
    case 15:
        wl = nws_list_wss(c, (op & 15) ? "w" : NULL, &err);
        fzr_result(wl == NULL, &err);
        nws_ws_list_free(wl);
        break;
    case 1:
        vl = nws_list_vars(ws, &err);
        fzr_result(vl == NULL, &err);
        nws_var_list_free(vl);
        break;
    case 2:
        rc = nws_get(ws, "v", ops[v & 3], &val, &err);
        fzr_result(rc < 0, &err);
        FUZZ_ASSERT((rc == 1) == (val != NULL));
        nws_value_free(val);
        break;
    case 3:
        fzr_result(nws_store_string(ws, "v", "x", &err) != 0, &err);
        break;
    case 4:
        fzr_result(nws_declare(ws, "v", "fifo", &err) != 0, &err);
        break;
    case 5:
        w = nws_ws_open(c, "w", v & 1 ? NWS_WS_PERSISTENT : 0, &err);
        fzr_result(w == NULL, &err);
        nws_ws_free(w);
        break;
    case 6:
        w = nws_ws_mktemp(c, NULL, v & 1 ? NWS_WS_OWN : 0, &err);
        fzr_result(w == NULL, &err);
        nws_ws_free(w);
        break;
    case 7:
        it = (v & 2) ? nws_ifetch(ws, "v", v & 1, &err) : nws_ifind(ws, "v", v & 1, &err);
        for (i = 0; it != NULL && i < 3; i++) {
            rc = nws_iter_next(it, &val, &err);
            fzr_result(rc < 0, &err);
            nws_value_free(val);
            val = NULL;
            if (rc <= 0)
                break;
        }
        nws_iter_free(it);
        break;
    case 8:
        rc = nws_fetch_fd(ws, "v", ops[v & 3], devnull, &desc, &len, &err);
        fzr_result(rc < 0, &err);
        break;
    case 9:
        if ((b = nws_bulk_new(ws, &err)) == NULL)
            break;
        for (i = 0; i < (int)(v & 3) + 1; i++)
            nws_bulk_store_raw(b, "v", "abc", 3, NWS_DESC_TEXT, &err);
        fzr_result(nws_bulk_flush(b, &err) != 0, &err);
        nws_bulk_free(b);
        break;
    case 10:
        fzr_result(nws_deadman(c, &err) != 0, &err);
        break;
    case 11:
        fzr_result(nws_ws_delete(c, "w", &err) != 0, &err);
        break;
    case 12:
        fzr_result(nws_delete_var(ws, "v", &err) != 0, &err);
        break;
    case 13:
        s = nws_fetch_string(ws, "v", &err);
        fzr_result(s == NULL, &err);
        free(s);
        break;
    case 14:
        rc = nws_find_try_string(ws, "v", &s, &err);
        fzr_result(rc < 0, &err);
        free(s);
        break;
    }
    /* Once broken, always broken: the stream is out of step. */
    if (!nws_is_open(c)) {
        memset(&err, 0, sizeof(err));
        FUZZ_ASSERT(nws_declare(ws, "v", "fifo", &err) == -1);
        FUZZ_ASSERT(err.code == NWS_ERR_CLOSED);
    }
}

int
nwsfuzz_reply(const uint8_t *data, size_t size)
{
    static int     devnull = -1;
    const uint8_t *calls, *stream;
    size_t         k, n, i;
    ssize_t        w;
    int            sv[2];
    nws_client    *c;
    nws_ws        *ws;

    if (size < 2)
        return 0;
    k = data[1] % 16 + 1;
    if (size < 2 + k)
        return 0;
    calls = data + 2;
    stream = calls + k;
    n = size - 2 - k;
    if (n > FZR_MAX_STREAM)
        n = FZR_MAX_STREAM;
    if (devnull == -1 && (devnull = open("/dev/null", O_WRONLY | O_CLOEXEC)) == -1)
        fuzz_fail("open /dev/null", __FILE__, __LINE__);
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
        fuzz_fail("socketpair", __FILE__, __LINE__);
    /* The whole reply stream goes in first; what does not fit is cut. */
    fcntl(sv[1], F_SETFL, O_NONBLOCK);
    for (i = 0; i < n; i += (size_t)w)
        if ((w = send(sv[1], stream + i, n - i, MSG_NOSIGNAL)) <= 0)
            break;
    shutdown(sv[1], SHUT_WR);

    c = fzr_client(sv[0], data[0]);
    ws = calloc(1, sizeof(*ws));
    FUZZ_ASSERT(ws != NULL);
    ws->c = c;
    ws->name = strdup("w");
    FUZZ_ASSERT(ws->name != NULL);
    for (i = 0; i < k; i++) {
        fzr_call(c, ws, calls[i], devnull);
        fzr_drain(sv[1]);
    }
    nws_ws_free(ws);
    nws_close(c);
    close(sv[1]);
    return 0;
}
