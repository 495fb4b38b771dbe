/*
 * requeue.c -- fetched values whose replies have not reached the client yet.
 *
 * A fetch removes its value from the variable when the request runs, but
 * the reply is written later, perhaps over many seconds for a large value.
 * If the connection closes first (the peer went away, it stopped reading
 * until --write-timeout, an output limit, a TLS error, a protocol error),
 * the value would be lost: nobody has it.  So each fetched value is noted
 * here, holding a reference, with the position in its connection's output
 * where its reply ends.  Once the connection has written that many bytes
 * the note is dropped; when the connection closes, every value whose reply
 * was not written whole goes back where it came from:
 *
 *   fifo           the front of the queue (the notes are undone newest
 *                  first, so several go back in their old order);
 *   lifo, multi    the top;
 *   single         the variable, but only if no value was stored since: a
 *                  newer value wins, as it would have replaced ours.
 *
 * A value going back is offered to the variable's waiters first, as a store
 * would be.  "Written" means handed to the kernel: bytes the kernel took
 * and then could not deliver (the peer vanished after write() returned) are
 * not seen here; SECURITY.md says so.
 *
 * Each conn keeps its notes in reply order (conn.c calls requeue_note,
 * requeue_written and requeue_close); each variable keeps its own so that
 * deleting it can detach them (requeue_var_gone).
 */
#include <stdlib.h>

#include "server.h"

struct fetched {
    TAILQ_ENTRY(fetched) f_conn_link;   /* the connection's notes, in reply order */
    TAILQ_ENTRY(fetched) f_var_link;    /* the variable's notes */
    struct var          *f_var;         /* NULL once the variable is gone */
    struct value        *f_value;       /* a reference */
    uint64_t             f_index;       /* the index the reply carried */
    uint64_t             f_end;         /* output bytes written once the reply is */
};

/* Whether values of this mode are consumed by a fetch and can go back. */
static int
requeue_mode_ok(enum var_mode m)
{
    return m == VAR_FIFO || m == VAR_LIFO || m == VAR_MULTI || m == VAR_SINGLE;
}

void
requeue_note(struct fetched_list *l, struct var *var, struct value *v, uint64_t index,
             uint64_t end)
{
    struct fetched *f;

    if (!requeue_mode_ok(var->var_mode))
        return;
    f = xmalloc(sizeof(*f));
    f->f_var = var;
    f->f_value = value_ref(v);
    f->f_index = index;
    f->f_end = end;
    TAILQ_INSERT_TAIL(l, f, f_conn_link);
    TAILQ_INSERT_TAIL(&var->var_fetched, f, f_var_link);
}

/* Forgets note f of list l (its value reference goes). */
static void
requeue_drop(struct fetched_list *l, struct fetched *f)
{
    TAILQ_REMOVE(l, f, f_conn_link);
    if (f->f_var != NULL)
        TAILQ_REMOVE(&f->f_var->var_fetched, f, f_var_link);
    value_unref(f->f_value);
    free(f);
}

void
requeue_written(struct fetched_list *l, uint64_t written)
{
    struct fetched *f;

    while ((f = TAILQ_FIRST(l)) != NULL && f->f_end <= written)
        requeue_drop(l, f);
}

/* Puts f's value back into its variable (see the rules at the top). */
static void
requeue_put_back(struct fetched *f)
{
    struct var   *var = f->f_var;
    struct value *v = f->f_value;

    switch (var->var_mode) {
    case VAR_FIFO:
        if (var->var_base > 0)
            var->var_base--;
        if (var->var_values.q_len == 0 && waiter_serve(var, v, var->var_base))
            var->var_base++;
        else
            vqueue_push_front(&var->var_values, v);
        break;
    case VAR_LIFO:
    case VAR_MULTI:
        if (!waiter_serve(var, v, 0))
            vqueue_push(&var->var_values, v);
        break;
    case VAR_SINGLE:
        /* Ours was the last value stored and nothing holds its place. */
        if (var->var_values.q_len > 0 || var->var_base != f->f_index + 1)
            break;
        var->var_base = f->f_index;
        if (waiter_serve(var, v, var->var_base))
            var->var_base++;
        else
            vqueue_push(&var->var_values, v);
        break;
    default:
        break;
    }
}

size_t
requeue_close(struct fetched_list *l, uint64_t written)
{
    struct fetched *f;
    size_t          n = 0;

    requeue_written(l, written);
    /* Newest first, so that values going to a fifo's front keep their order. */
    while ((f = TAILQ_LAST(l, fetched_list)) != NULL) {
        if (f->f_var != NULL) {
            requeue_put_back(f);
            n++;
        }
        requeue_drop(l, f);
    }
    return n;
}

void
requeue_forget(struct fetched_list *l)
{
    struct fetched *f;

    while ((f = TAILQ_FIRST(l)) != NULL)
        requeue_drop(l, f);
}

void
requeue_var_gone(struct var *var)
{
    struct fetched *f;

    while ((f = TAILQ_FIRST(&var->var_fetched)) != NULL) {
        TAILQ_REMOVE(&var->var_fetched, f, f_var_link);
        f->f_var = NULL;
    }
}
