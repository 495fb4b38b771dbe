/*
 * decode.c -- the request decoder (protocol section 5 framing).
 *
 * Input is decoded by an explicit state machine (memcached's drive_machine):
 * each state needs a known number of bytes, takes them when present, and
 * otherwise returns to the event loop with its position kept in the conn's
 * struct decoder, so a request may arrive in any number of pieces.  Every
 * length is checked against its limit before anything is allocated for it.
 * Bytes of an argument we refuse (too long, over the memory limit) are read
 * and thrown away so the stream stays in step, and the request then gets an
 * error reply instead of running.
 *
 * The decoder calls back into conn.c for what belongs to the connection: the
 * handshake (conn_hs_*), running a whole request (conn_run), refusing one
 * (conn_refuse) and framing errors (conn_proto_error).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "server.h"

void
decode_init(struct decoder *d)
{
    memset(d, 0, sizeof(*d));
    d->d_state = DEC_HS_FIRST;
}

/* Forgets the request being decoded and its argument buffer (conn close). */
void
decode_free(struct decoder *d)
{
    decode_reset(d);
    nwsp_buf_free(&d->d_args);
}

/* Drains what was consumed and opens a window on the first chain (struct cursor: server.h). */
void
cur_sync(struct cursor *k)
{
    struct evbuffer_iovec v;

    if (k->k_used > 0)
        evbuffer_drain(k->k_in, k->k_used);
    k->k_used = 0;
    if (evbuffer_peek(k->k_in, -1, NULL, &v, 1) > 0) {
        k->k_p = v.iov_base;
        k->k_n = v.iov_len;
    } else {
        k->k_p = NULL;
        k->k_n = 0;
    }
}

/* Bytes not consumed yet, in the window or beyond. */
static size_t
cur_avail(const struct cursor *k)
{
    return evbuffer_get_length(k->k_in) - k->k_used;
}

/* Makes want bytes contiguous in the window: 1, or 0 if they have not all come. */
static int
cur_need(struct cursor *k, size_t want)
{
    if (k->k_n >= want)
        return 1;
    if (cur_avail(k) < want)
        return 0;
    cur_sync(k);
    if (k->k_n < want) {
        if (evbuffer_pullup(k->k_in, (ev_ssize_t)want) == NULL) {
            k->k_nomem = 1;   /* conn_process() aborts the conn */
            return 0;
        }
        cur_sync(k);
    }
    return 1;
}

/* Some bytes in the window (none only when nothing is buffered). */
static size_t
cur_some(struct cursor *k)
{
    if (k->k_n == 0 && cur_avail(k) > 0)
        cur_sync(k);
    return k->k_n;
}

static void
cur_take(struct cursor *k, size_t n)
{
    k->k_p += n;
    k->k_n -= n;
    k->k_used += n;
}

/*
 * Scans a dictionary at the cursor.  Returns its length (its bytes at
 * *start, contiguous), 0 if more bytes are needed, or -1 when it is
 * malformed (*why set).
 */
static ssize_t
dec_scan_dict(struct cursor *k, const char **why, const char **start)
{
    size_t  n;
    ssize_t r;

    r = nwsp_dict_scan(k->k_p, k->k_n, NWS_MAX_DICT_ENTRIES, NWS_MAX_DICT_BYTES, why);
    if (r != NWSP_SCAN_MORE || cur_avail(k) == k->k_n) {
        if (r == NWSP_SCAN_MORE && k->k_n >= NWS_MAX_DICT_BYTES) {
            *why = "dictionary too large";
            return -1;
        }
        *start = k->k_p;
        return r;
    }
    /* It goes on past the window: look at up to the limit in one piece. */
    n = cur_avail(k) < NWS_MAX_DICT_BYTES ? cur_avail(k) : NWS_MAX_DICT_BYTES;
    cur_need(k, n);
    r = nwsp_dict_scan(k->k_p, n, NWS_MAX_DICT_ENTRIES, NWS_MAX_DICT_BYTES, why);
    if (r == NWSP_SCAN_MORE && n == NWS_MAX_DICT_BYTES) {
        *why = "dictionary too large";
        return -1;
    }
    *start = k->k_p;
    return r;
}

/*
 * Appends n bytes of the value being stored to its spool file.  On failure
 * the request is refused, its remaining bytes are read and dropped, and the
 * connection closes after the reply: -1.
 */
int
decode_spool(struct conn *c, struct decoder *d, const char *p, size_t n)
{
    int     fd = d->d_value->v_fd;
    ssize_t w;

    while (n > 0) {
        if ((w = write(fd, p, n)) == -1 && errno == EINTR)
            continue;
        if (w <= 0) {
            log_warn("%s: writing a spooled value", conn_peer(c));
            conn_refuse(c, "Failed to read long data from the filesystem.");
            d->d_err_close = 1;
            d->d_state = DEC_REQ_SKIP;
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Forgets the request just finished. */
void
decode_reset(struct decoder *d)
{
    free(d->d_meta);
    d->d_meta = NULL;
    d->d_metalen = 0;
    d->d_argc = d->d_argi = 0;
    d->d_cmd = NULL;
    if (d->d_value != NULL)
        value_settle(d->d_value, d->d_vfill);
    value_unref(d->d_value);
    d->d_value = NULL;
    d->d_vfill = 0;
    free(d->d_err);
    d->d_err = NULL;
    d->d_err_close = 0;
    nwsp_buf_reset(&d->d_args);
    if (d->d_args.cap > NWS_RQ_ARGS_KEEP)
        nwsp_buf_free(&d->d_args);
}

/* Decides where the bytes of argument argi (len long) go. */
static void
dec_arg_begin(struct conn *c, struct decoder *d, uint64_t len)
{
    unsigned i = d->d_argi;
    int      fd;

    d->d_left = len;
    if (i == 0 && len > NWS_MAX_CMD_NAME) {
        conn_refuse(c, "Argument too long.");
        d->d_state = DEC_REQ_SKIP;
    } else if (d->d_cmd != NULL && i == d->d_cmd->value_arg && i != 0 &&
               i + 1 == d->d_argc && d->d_err == NULL) {
        /* The value of a store: straight into its final home. */
        if (srv.cfg.max_value_size != 0 && len > srv.cfg.max_value_size) {
            conn_refuse(c, "Value too large (%llu bytes; the limit is %llu).",
                        (unsigned long long)len,
                        (unsigned long long)srv.cfg.max_value_size);
            d->d_state = DEC_REQ_SKIP;
        } else if (srv.cfg.spool_threshold != 0 && len >= srv.cfg.spool_threshold) {
            if ((fd = value_spool_open()) == -1 ||
                (d->d_value = value_new_spooled(0, d->d_meta, d->d_metalen, len, fd)) ==
                    NULL) {
                if (fd != -1)
                    close(fd);
                conn_refuse(c, "Failed to read long data from the filesystem.");
                d->d_err_close = 1;
                d->d_state = DEC_REQ_SKIP;
            } else {
                d->d_state = DEC_REQ_VALUE;
            }
        } else if ((d->d_value = value_new_incoming(d->d_meta, d->d_metalen, len)) ==
                   NULL) {
            conn_refuse(c, "Server memory limit reached.");
            d->d_state = DEC_REQ_SKIP;
        } else {
            d->d_state = DEC_REQ_VALUE;
        }
    } else if (len > NWS_MAX_ARG) {
        conn_refuse(c, "Argument too long.");
        d->d_state = DEC_REQ_SKIP;
    } else if (i >= NWS_MAX_KEPT_ARGS) {
        d->d_state = DEC_REQ_SKIP; /* the argument count is wrong anyway */
    } else {
        /* At least one byte, so that data is never NULL, even for empty arguments. */
        if (nwsp_buf_reserve(&d->d_args, len > 0 ? (size_t)len : 1) != 0)
            fatal("request buffer");
        d->d_off[i] = d->d_args.len;
        d->d_len[i] = (size_t)len;
        d->d_args.len += (size_t)len;
        d->d_state = DEC_REQ_ARG;
    }
}

/* An argument is complete: the next one, or run the request. */
static enum step
dec_arg_end(struct conn *c, struct decoder *d)
{
    if (d->d_argi == 0 && d->d_err == NULL)
        d->d_cmd = dispatch_lookup(d->d_args.data + d->d_off[0], d->d_len[0]);
    if (++d->d_argi < d->d_argc) {
        d->d_state = DEC_REQ_ARGLEN;
        return STEP_PROGRESS;
    }
    conn_run(c);
    return STEP_REQUEST;
}

/* One step of the decoder; see enum dec_state. */
enum step
decode_step(struct conn *c, struct decoder *d, struct cursor *k)
{
    const char *why = NULL;
    const char *start;
    char        b[4];
    ssize_t     r;
    uint64_t    v;
    size_t      n;

    switch (d->d_state) {
    case DEC_HS_FIRST:
        if (!cur_need(k, 4))
            return STEP_MORE;
        memcpy(b, k->k_p, 4);
        cur_take(k, 4);
        return conn_hs_first(c, b);
    case DEC_HS_REQUEST:
        if (!cur_need(k, 4))
            return STEP_MORE;
        r = memcmp(k->k_p, NWSP_HS_REQUEST, 4);
        cur_take(k, 4);
        if (r != 0)
            return conn_hs_deny(c, "invalid handshake response");
        d->d_state = DEC_HS_OPTIONS;
        return STEP_PROGRESS;
    case DEC_HS_OPTIONS:
        if ((r = dec_scan_dict(k, &why, &start)) == 0)
            return STEP_MORE;
        if (r < 0)
            return conn_hs_deny(c, why);
        conn_hs_options(c, start, (size_t)r);
        cur_take(k, (size_t)r);
        return STEP_PROGRESS;
    case DEC_REQ_SESS:
        /* docs/SESSIONS.md 2: the numbers are checked when the request runs. */
        if (!cur_need(k, 2 * NWSP_D20_LEN))
            return STEP_MORE;
        r = nwsp_parse_u64(k->k_p, NWSP_D20_LEN, UINT64_MAX, &d->d_seq);
        if (r == 0)
            r = nwsp_parse_u64(k->k_p + NWSP_D20_LEN, NWSP_D20_LEN, UINT64_MAX,
                               &d->d_ack);
        cur_take(k, 2 * NWSP_D20_LEN);
        if (r != 0) {
            conn_proto_error(c, "Malformed request: bad session header.");
            return STEP_PROGRESS;
        }
        d->d_state = conn_meta_in(c) ? DEC_REQ_META : DEC_REQ_ARGC;
        return STEP_PROGRESS;
    case DEC_REQ_META:
        if ((r = dec_scan_dict(k, &why, &start)) == 0)
            return STEP_MORE;
        if (r < 0) {
            conn_proto_error(c, "Malformed request: bad metadata dictionary.");
            return STEP_PROGRESS;
        }
        if (nwsp_dict_count(start, (size_t)r) > 0) {
            d->d_meta = xmemdup(start, (size_t)r);
            d->d_metalen = (size_t)r;
        }
        cur_take(k, (size_t)r);
        d->d_state = DEC_REQ_ARGC;
        return STEP_PROGRESS;
    case DEC_REQ_ARGC:
        if (!cur_need(k, NWSP_D4_LEN))
            return STEP_MORE;
        r = nwsp_parse_u64(k->k_p, NWSP_D4_LEN, NWSP_ARGC_MAX, &v);
        cur_take(k, NWSP_D4_LEN);
        if (r != 0) {
            conn_proto_error(c, "Malformed request: bad argument count.");
            return STEP_PROGRESS;
        }
        if (v == 0) {
            conn_proto_error(c, "Received an empty argument list.");
            return STEP_PROGRESS;
        }
        d->d_argc = (unsigned)v;
        d->d_argi = 0;
        d->d_state = DEC_REQ_ARGLEN;
        return STEP_PROGRESS;
    case DEC_REQ_ARGLEN:
        if (!cur_need(k, NWSP_D20_LEN))
            return STEP_MORE;
        r = nwsp_parse_u64(k->k_p, NWSP_D20_LEN, UINT64_MAX, &v);
        cur_take(k, NWSP_D20_LEN);
        if (r != 0) {
            conn_proto_error(c, "Malformed request: bad argument length.");
            return STEP_PROGRESS;
        }
        dec_arg_begin(c, d, v);
        if (v == 0)
            return dec_arg_end(c, d);
        return STEP_PROGRESS;
    case DEC_REQ_ARG:
        if ((n = cur_some(k)) == 0)
            return STEP_MORE;
        if (n > d->d_left)
            n = (size_t)d->d_left;
        memcpy(d->d_args.data + d->d_off[d->d_argi] +
                   (d->d_len[d->d_argi] - (size_t)d->d_left),
               k->k_p, n);
        cur_take(k, n);
        if ((d->d_left -= n) > 0)
            return STEP_PROGRESS;
        return dec_arg_end(c, d);
    case DEC_REQ_VALUE:
        if (d->d_left == 0)
            return dec_arg_end(c, d); /* read straight in by conn_sock_read_value() */
        if ((n = cur_some(k)) == 0)
            return STEP_MORE;
        if (n > d->d_left)
            n = (size_t)d->d_left;
        if (!(d->d_value->v_flags & VALUE_SPOOLED) && value_charge(n) != 0) {
            conn_refuse(c, "Server memory limit reached.");
            d->d_state = DEC_REQ_SKIP; /* drops these bytes and the rest */
            return STEP_PROGRESS;
        }
        if (!(d->d_value->v_flags & VALUE_SPOOLED))
            memcpy(value_data(d->d_value) + d->d_vfill, k->k_p, n);
        else if (decode_spool(c, d, k->k_p, n) != 0)
            return STEP_PROGRESS; /* DEC_REQ_SKIP drops these bytes and the rest */
        cur_take(k, n);
        d->d_vfill += n;
        if ((d->d_left -= n) > 0)
            return STEP_PROGRESS;
        return dec_arg_end(c, d);
    case DEC_REQ_SKIP:
        if (d->d_left > 0) {
            if ((n = cur_some(k)) == 0)
                return STEP_MORE;
            if (n > d->d_left)
                n = (size_t)d->d_left;
            cur_take(k, n);
            if ((d->d_left -= n) > 0)
                return STEP_PROGRESS;
        }
        return dec_arg_end(c, d);
    case DEC_BLOCKED:
        return STEP_MORE;
    }
    return STEP_MORE;
}
