/*
 * cmdstream.c -- a command's output sent to the master while it runs (the
 * sleigh CLI's --line-buffer and --ungroup).
 *
 * A task with "stream": VAR asks for it.  Each read from the command's
 * stdout or stderr becomes one piece, stored as a value into the fifo
 * variable VAR of the sleigh workspace: a header line
 * "INDEX FD SEQ ID\n" (the element's batch index, 1 or 2, the piece's
 * number from 0, this attempt's name) and then the bytes as read (at most
 * one read buffer).  The master prints pieces as they come and answers
 * each one with an empty value in the fifo variable "streamack@ID".
 * Back-pressure: with CMDSTREAM_INFLIGHT pieces unanswered the worker
 * waits for an answer before it stores the next, and meanwhile does not
 * read the command's pipes, so the command blocks on a full pipe; the
 * server never holds more than CMDSTREAM_INFLIGHT pieces per running job,
 * and neither side holds more than one piece.  At the end the worker waits
 * for every answer (so the master is done with the attempt before the
 * result arrives, and nothing is stored into streamack@ID after it is
 * deleted) and puts "stream_id" and "stream_pieces" into the result: the
 * master knows how many pieces to expect, so none is lost or counted
 * twice, even when a dead worker's attempt left pieces of its own.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "sleighp.h"
#include "worker.h"

/* Our own connection (the task connection has requests in flight). */
static nws_client *cmdstream_c;
static nws_ws     *cmdstream_ws;
static unsigned    cmdstream_nonce, cmdstream_seq;

/* The connection, made on first use; NULL with err. */
static nws_ws *
cmdstream_conn(const struct worker *w, nws_error *err)
{
    if (cmdstream_ws != NULL && nws_is_open(cmdstream_c))
        return cmdstream_ws;
    nws_ws_free(cmdstream_ws);
    nws_close(cmdstream_c);
    cmdstream_ws = NULL;
    if ((cmdstream_c = nws_connect_auth(w->w_host, w->w_port, 0, w->w_secret, err)) ==
        NULL)
        return NULL;
    if ((cmdstream_ws = nws_ws_use(cmdstream_c, w->w_ws_name, NWS_WS_NOCREATE, err)) ==
        NULL) {
        nws_close(cmdstream_c);
        cmdstream_c = NULL;
    }
    return cmdstream_ws;
}

int
cmdstream_init(struct cmdstream *cs, const struct worker *w, const json_t *task,
               long index)
{
    const char *var = json_string_value(json_object_get(task, "stream"));

    memset(cs, 0, sizeof(*cs));
    cs->cs_w = w;
    cs->cs_index = index;
    if (var == NULL || strlen(var) >= sizeof(cs->cs_var))
        return 0;
    cs->cs_on = 1;
    cs->cs_start = json_is_true(json_object_get(task, "stream_start"));
    snprintf(cs->cs_var, sizeof(cs->cs_var), "%s", var);
    if (cmdstream_nonce == 0 &&
        getrandom(&cmdstream_nonce, sizeof(cmdstream_nonce), 0) < 0)
        cmdstream_nonce = (unsigned)getpid();
    snprintf(cs->cs_id, sizeof(cs->cs_id), "%ld.%ld.%x.%u", w->w_rank, (long)getpid(),
             cmdstream_nonce, ++cmdstream_seq);
    snprintf(cs->cs_ack, sizeof(cs->cs_ack), "streamack@%s", cs->cs_id);
    return 1;
}

/* Waits for one answer of the master; 0, or -1 (cs_why). */
static int
cmdstream_wait_ack(struct cmdstream *cs)
{
    nws_error  err = {0};
    nws_ws    *ws = cmdstream_conn(cs->cs_w, &err);
    nws_value *v = ws != NULL ? nws_fetch(ws, cs->cs_ack, &err) : NULL;

    if (v == NULL) {
        snprintf(cs->cs_why, sizeof(cs->cs_why), "cannot stream the output: %.120s",
                 err.text[0] != '\0' ? err.text : nws_errcode_str(err.code));
        return -1;
    }
    nws_value_free(v);
    cs->cs_acked++;
    return 0;
}

/* Sends a piece of n bytes (0: the job started); see cmdstream_add. */
static void
cmdstream_piece(struct cmdstream *cs, int fd, const char *p, size_t n)
{
    char      head[192];
    char     *piece;
    size_t    hl;
    nws_error err = {0};
    nws_ws   *ws;

    if (cs->cs_why[0] != '\0')
        return;
    if (cs->cs_sent - cs->cs_acked >= CMDSTREAM_INFLIGHT && cmdstream_wait_ack(cs) != 0)
        return;
    hl = (size_t)snprintf(head, sizeof(head), "%ld %d %llu %s\n", cs->cs_index, fd,
                          (unsigned long long)cs->cs_sent, cs->cs_id);
    if ((piece = malloc(hl + n)) == NULL) {
        snprintf(cs->cs_why, sizeof(cs->cs_why),
                 "cannot stream the output: out of memory");
        return;
    }
    memcpy(piece, head, hl);
    if (n > 0)
        memcpy(piece + hl, p, n);
    if ((ws = cmdstream_conn(cs->cs_w, &err)) == NULL ||
        nws_store_raw(ws, cs->cs_var, piece, hl + n, NWS_DESC_BYTES, &err) != 0) {
        snprintf(cs->cs_why, sizeof(cs->cs_why), "cannot stream the output: %.120s",
                 err.text[0] != '\0' ? err.text : nws_errcode_str(err.code));
        free(piece);
        return;
    }
    free(piece);
    cs->cs_sent++;
}

void
cmdstream_add(struct cmdstream *cs, int fd, const char *p, size_t n)
{
    if (n > 0)
        cmdstream_piece(cs, fd, p, n);
}

void
cmdstream_started(struct cmdstream *cs)
{
    /* -v: the master prints the command line when the job starts. */
    if (cs->cs_on && cs->cs_start)
        cmdstream_piece(cs, 1, "", 0);
}

int
cmdstream_end(struct cmdstream *cs, json_t *res, char **error)
{
    nws_error err = {0};

    if (!cs->cs_on)
        return 0;
    while (cs->cs_why[0] == '\0' && cs->cs_acked < cs->cs_sent)
        if (cmdstream_wait_ack(cs) != 0)
            break;
    if (cs->cs_why[0] != '\0') {
        *error = strdup(cs->cs_why);
        return -1;
    }
    if (cs->cs_sent > 0 && cmdstream_ws != NULL)
        nws_delete_var(cmdstream_ws, cs->cs_ack, &err);
    if (json_object_set_new(res, "stream_id", json_string(cs->cs_id)) != 0 ||
        json_object_set_new(res, "stream_pieces",
                            json_integer((json_int_t)cs->cs_sent)) != 0)
        return -1;
    return 0;
}

void
cmdstream_cleanup(void)
{
    nws_ws_free(cmdstream_ws);
    nws_close(cmdstream_c);
    cmdstream_ws = NULL;
    cmdstream_c = NULL;
}
