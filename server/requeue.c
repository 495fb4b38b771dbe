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
 * would be (a finder iterating with ifind may then see its index again).  "Written" means handed to the kernel: bytes the kernel took
 * and then could not deliver (the peer vanished after write() returned) are
 * not seen here; SECURITY.md says so.
 *
 * Output bytes dropped unwritten (a buffer discarded before a close) must
 * not be counted as written, or their values are not put back: conn.c
 * counts what write()/sendfile() took, and for a bufferevent what left its
 * output buffer, which only writing does.
 *
 * Each conn keeps its notes in reply order in a ring (struct fetched_list,
 * no allocation per fetch once it has grown); conn.c calls requeue_note,
 * requeue_written and requeue_close.  A variable only counts its notes:
 * when one with notes is deleted, the non-empty rings are searched and
 * their notes detached (requeue_var_gone), a rare event.
 */
#include <stdlib.h>

#include "journal.h"
#include "server.h"

struct fetched {
    struct var   *f_var;       /* NULL once the variable is gone */
    struct value *f_value;     /* a reference */
    uint64_t      f_index;     /* the index the reply carried */
    uint64_t      f_end;       /* output bytes written once the reply is */
};

/* The rings that hold notes. */
static TAILQ_HEAD(, fetched_list) requeue_lists = TAILQ_HEAD_INITIALIZER(requeue_lists);

/* Whether values of this mode are consumed by a fetch and can go back. */
static int
requeue_mode_ok(enum var_mode m)
{
    return m == VAR_FIFO || m == VAR_LIFO || m == VAR_MULTI || m == VAR_SINGLE;
}

/* Note i (0 = oldest) of l. */
static struct fetched *
requeue_at(struct fetched_list *l, size_t i)
{
    return &l->fl_ring[(l->fl_head + i) & (l->fl_cap - 1)];
}

void
requeue_note(struct fetched_list *l, struct var *var, struct value *v, uint64_t index,
             uint64_t end)
{
    struct fetched *f, *ring;
    size_t          i, cap;

    if (!requeue_mode_ok(var->var_mode) &&
        !(var->var_mode == VAR_CUSTOM && var->var_hooks != NULL &&
          var->var_hooks->vh_put_back != NULL))
        return;
    if (l->fl_n == l->fl_cap) {
        cap = l->fl_cap ? l->fl_cap * 2 : 8;
        ring = xcalloc(cap, sizeof(*ring));
        for (i = 0; i < l->fl_n; i++)
            ring[i] = *requeue_at(l, i);
        free(l->fl_ring);
        l->fl_ring = ring;
        l->fl_cap = cap;
        l->fl_head = 0;
    }
    if (l->fl_n++ == 0)
        TAILQ_INSERT_TAIL(&requeue_lists, l, fl_link);
    f = requeue_at(l, l->fl_n - 1);
    f->f_var = var;
    f->f_value = value_ref(v);
    f->f_index = index;
    f->f_end = end;
    var->var_nfetched++;
}

/* Forgets the oldest note of l (its value reference goes). */
static void
requeue_drop_first(struct fetched_list *l)
{
    struct fetched *f = requeue_at(l, 0);

    if (f->f_var != NULL)
        f->f_var->var_nfetched--;
    value_unref(f->f_value);
    l->fl_head = (l->fl_head + 1) & (l->fl_cap - 1);
    if (--l->fl_n == 0)
        TAILQ_REMOVE(&requeue_lists, l, fl_link);
}

void
requeue_written(struct fetched_list *l, uint64_t written)
{
    while (l->fl_n > 0 && requeue_at(l, 0)->f_end <= written)
        requeue_drop_first(l);
}

/*
 * Puts v (fetched at index) back into var (see the rules at the top).  The
 * journal records it, and when a waiting fetcher takes it at once, that
 * fetch too: replay (which has no waiters) then ends in the same state.
 */
void
requeue_put_back_value(struct var *var, struct value *v, uint64_t index)
{
    if (var->var_mode == VAR_CUSTOM) {
        /* Its owner takes it back, and journals that itself (a sleigh result). */
        if (var->var_hooks != NULL && var->var_hooks->vh_put_back != NULL)
            var->var_hooks->vh_put_back(var, v);
        return;
    }
    if (var->var_mode == VAR_SINGLE &&
        (var->var_values.q_len > 0 || var->var_base != index + 1))
        return; /* a newer value holds its place */
    journal_requeue(var, v, index);
    switch (var->var_mode) {
    case VAR_FIFO:
        if (var->var_base > 0)
            var->var_base--;
        if (var->var_values.q_len == 0 && waiter_serve(var, v, var->var_base)) {
            var->var_base++;
            journal_fetch(var);
        } else {
            vqueue_push_front(&var->var_values, v);
        }
        break;
    case VAR_LIFO:
    case VAR_MULTI:
        if (!waiter_serve(var, v, 0))
            vqueue_push(&var->var_values, v);
        else
            journal_fetch(var);
        break;
    case VAR_SINGLE:
        /* Ours was the last value stored and nothing holds its place. */
        var->var_base = index;
        if (waiter_serve(var, v, var->var_base)) {
            var->var_base++;
            journal_fetch(var);
        } else {
            vqueue_push(&var->var_values, v);
        }
        break;
    default:
        break;
    }
}

static void
requeue_put_back(struct fetched *f)
{
    requeue_put_back_value(f->f_var, f->f_value, f->f_index);
}

size_t
requeue_close(struct fetched_list *l, uint64_t written)
{
    struct fetched *f;
    size_t          n = 0;

    requeue_written(l, written);
    /* Newest first, so that values going to a fifo's front keep their order. */
    while (l->fl_n > 0) {
        f = requeue_at(l, l->fl_n - 1);
        if (f->f_var != NULL) {
            f->f_var->var_nfetched--;
            requeue_put_back(f);
            n++;
        }
        value_unref(f->f_value);
        if (--l->fl_n == 0)
            TAILQ_REMOVE(&requeue_lists, l, fl_link);
    }
    requeue_forget(l);
    return n;
}

void
requeue_forget(struct fetched_list *l)
{
    while (l->fl_n > 0)
        requeue_drop_first(l);
    free(l->fl_ring);
    l->fl_ring = NULL;
    l->fl_head = l->fl_cap = 0;
}

void
requeue_var_gone(struct var *var)
{
    struct fetched_list *l;
    struct fetched      *f;
    size_t               i;

    TAILQ_FOREACH(l, &requeue_lists, fl_link) {
        for (i = 0; i < l->fl_n && var->var_nfetched > 0; i++) {
            f = requeue_at(l, i);
            if (f->f_var == var) {
                f->f_var = NULL;
                var->var_nfetched--;
            }
        }
    }
}

/*
 * Sessions (session.c) note fetched values by request number, dropped by
 * acknowledgements; when a session ends they become its conn's notes by
 * output offset (end() says where each reply ends, 0 if it was delivered),
 * so a classic close puts back what was never written whole.
 */
void
requeue_move(struct fetched_list *from, struct fetched_list *to,
             uint64_t (*end)(uint64_t, void *), void        *arg)
{
    struct fetched *f;
    uint64_t        e;

    while (from->fl_n > 0) {
        f = requeue_at(from, 0);
        e = end(f->f_end, arg);
        if (e != 0 && f->f_var != NULL)
            requeue_note(to, f->f_var, f->f_value, f->f_index, e);
        requeue_drop_first(from);
    }
    requeue_forget(from);
}
