/*
 * var.c -- variables: a queue of values in a mode, and its waiters.
 *
 * Semantics follow section 6 of the protocol: fifo, lifo, multi (the same
 * as lifo, Q10), single, the special __time and __barrier modes, and unknown
 * (a variable named before any store or declare).  Indexes: fifo and single
 * count every value ever stored (var_base is the index of the oldest still
 * held); lifo and multi always report 0.
 *
 * var_get() never blocks: it answers VAR_BLOCK and the caller parks itself
 * with waiter_park().  var_store() serves waiters first and stores only what
 * no fetcher took, in a vqueue (vqueue.c), which packs small values.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "journal.h"
#include "server.h"

static const char *var_modes[] = {
    [VAR_UNKNOWN] = "unknown", [VAR_FIFO] = "fifo",     [VAR_LIFO] = "lifo",
    [VAR_MULTI] = "multi",     [VAR_SINGLE] = "single", [VAR_TIME] = "__time",
    [VAR_BARRIER] = "__barrier", [VAR_CUSTOM] = "custom",
};

const char *
var_mode_name(enum var_mode m)
{
    return var_modes[m];
}

/* Sets *m from a declarable mode name; -1 for any other text. */
int
var_mode_parse(const char *s, size_t len, enum var_mode *m)
{
    int i;

    for (i = VAR_FIFO; i <= VAR_BARRIER; i++) {  /* "custom" cannot be declared */
        if (strlen(var_modes[i]) == len && memcmp(var_modes[i], s, len) == 0) {
            *m = (enum var_mode)i;
            return 0;
        }
    }
    return -1;
}

/* Makes a fresh 20-digit variable id, as the reference does (random, 0..999999999). */
static void
var_new_id(struct var *var)
{
    char     buf[NWSP_D20_LEN + 1];
    uint64_t r = (((uint64_t)random() << 31) ^ (uint64_t)random()) % 1000000000ULL;

    nwsp_put_d20(buf, r);
    memcpy(var->var_id, buf, NWSP_VARID_LEN);
}

/* Returns a new variable in mode unknown; name points at the table's key. */
struct var *
var_new(struct ws *ws, const char *name, size_t len)
{
    struct var *var = xcalloc(1, sizeof(*var));

    var->var_ws = ws;
    var->var_name = name;
    var->var_namelen = len;
    var->var_mode = VAR_UNKNOWN;
    TAILQ_INIT(&var->var_fetchers);
    TAILQ_INIT(&var->var_finders);
    var_new_id(var);
    return var;
}

/* Purges var: its waiters get "Variable purged.", its values are released. */
void
var_free(struct var *var)
{
    waiter_fail_all(var, "Variable purged.");
    if (var->var_nfetched > 0)
        requeue_var_gone(var);
    vqueue_clear(&var->var_values);
    free(var->var_members);
    free(var);
}

/* Mode rules of section 5.6; 0, or -1 if the mode cannot be set. */
int
var_declare(struct var *var, const char *mode, size_t len)
{
    enum var_mode m;
    const char   *cur = var_modes[var->var_mode];

    if (var->var_mode == VAR_UNKNOWN && var_mode_parse(mode, len, &m) == 0) {
        var->var_mode = m;
        journal_var_declare(var);
        return 0;
    }
    if (strlen(cur) == len && memcmp(cur, mode, len) == 0)
        return 0;
    return -1;
}

/* The value count list vars shows. */
size_t
var_nvalues(const struct var *var)
{
    switch (var->var_mode) {
    case VAR_TIME:
        return 1;
    case VAR_BARRIER:
        return 3;
    case VAR_CUSTOM:
        return var->var_hooks->vh_count(var);
    default:
        return var->var_values.q_len;
    }
}

const struct value *
var_value_at(const struct var *var, size_t i)
{
    if (i >= var->var_values.q_len)
        return NULL;
    return vqueue_peek(&var->var_values, i);
}

/* Index of member who in a barrier group, or -1. */
static ssize_t
var_member(const struct var *var, void *who)
{
    size_t i;

    for (i = 0; i < var->var_nmembers; i++)
        if (var->var_members[i] == who)
            return (ssize_t)i;
    return -1;
}

/* Releases every waiting barrier finder with the text of n. */
static void
var_barrier_release(struct var *var, size_t n)
{
    struct value *v;
    char          buf[32];

    snprintf(buf, sizeof(buf), "%zu", n);
    v = value_new_text(buf, strlen(buf));
    waiter_serve(var, v, 0);
    value_unref(v);
}

/* Removes who from the group (a fetch, or a disconnect: fix of Q12). */
static int
var_barrier_remove(struct var *var, void *who)
{
    ssize_t i = var_member(var, who);
    size_t  before = var->var_nmembers;

    if (i < 0)
        return -1;
    var->var_members[i] = var->var_members[--var->var_nmembers];
    if (var->var_nfinders > 0 && var->var_nfinders >= var->var_nmembers)
        var_barrier_release(var, before);
    return 0;
}

void
var_barrier_leave(struct var *var, void *who)
{
    if (var->var_mode == VAR_BARRIER)
        (void)var_barrier_remove(var, who);
}

int
var_store(struct var *var, struct value *v, void *who, const char **err)
{
    uint64_t index;
    int      held;

    if (var->var_mode == VAR_UNKNOWN)
        var->var_mode = VAR_FIFO;
    switch (var->var_mode) {
    case VAR_TIME:
        value_unref(v);
        *err = "Store is not supported for this variable.";
        return -1;
    case VAR_BARRIER:
        value_unref(v);
        if (var_member(var, who) >= 0) {
            *err = "Client attempting to join barrier group, but is already a member";
            return -1;
        }
        var->var_members = xrealloc(var->var_members,
                                    (var->var_nmembers + 1) * sizeof(*var->var_members));
        var->var_members[var->var_nmembers++] = who;
        return 0;
    case VAR_FIFO:
        index = var->var_base + var->var_values.q_len;
        if (waiter_serve(var, v, index)) {
            var->var_base++;
            journal_taken(var);
        } else {
            vqueue_push(&var->var_values, v);
            journal_store(var, v);
        }
        break;
    case VAR_LIFO:
    case VAR_MULTI:
        if (!waiter_serve(var, v, 0)) {
            vqueue_push(&var->var_values, v);
            journal_store(var, v);
        } else {
            journal_taken(var);
        }
        break;
    case VAR_SINGLE:
        held = var->var_values.q_len > 0;
        index = var->var_base + (held ? 1 : 0);
        if (waiter_serve(var, v, index)) {
            var->var_base++;
            journal_taken(var);
        } else if (held) {
            vqueue_drop_front(&var->var_values);
            vqueue_push(&var->var_values, v);
            var->var_base++;
            journal_store(var, v);
        } else {
            vqueue_push(&var->var_values, v);
            journal_store(var, v);
        }
        break;
    case VAR_UNKNOWN:
    case VAR_CUSTOM:
        break;
    }
    value_unref(v);
    return 0;
}

/* Position p = max(idx + 1 - base, 0) of sections 6.3, without overflow. */
static uint64_t
var_pos(int64_t idx, uint64_t base)
{
    uint64_t next;

    if (idx < 0)
        return 0;
    next = (uint64_t)idx + 1;
    return next > base ? next - base : 0;
}

/* The local time in asctime() layout without its newline. */
static struct value *
var_time_value(void)
{
    char      buf[64];
    time_t    now = time(NULL);
    struct tm tm;
    size_t    n;

    asctime_r(localtime_r(&now, &tm), buf);
    n = strcspn(buf, "\n");
    return value_new_text(buf, n);
}

enum var_res
var_get(struct var *var, int remove, int blocking, int64_t idx, void *who,
        struct var_got *got)
{
    struct vqueue *q = &var->var_values;
    uint64_t       p;
    char           buf[64];

    memset(got, 0, sizeof(*got));
    switch (var->var_mode) {
    case VAR_UNKNOWN:
    case VAR_CUSTOM:
        return VAR_BLOCK;
    case VAR_TIME:
        got->value = var_time_value();
        got->index = idx > 0 ? (uint64_t)idx : 0;
        return VAR_OK;
    case VAR_BARRIER:
        if (!remove && !blocking) {
            /* Anyone may look at the barrier's state (section 6.4). */
            snprintf(buf, sizeof(buf), "%u out of %zu at barrier", var->var_nfinders,
                     var->var_nmembers);
            got->value = value_new_text(buf, strlen(buf));
            return VAR_OK;
        }
        if (var_member(var, who) < 0) {
            got->error = "Client has not joined this barrier group.";
            return VAR_ERR;
        }
        if (remove) {
            var_barrier_remove(var, who);
            got->value = value_new_text("", 0);
            return VAR_OK;
        }
        if (var->var_nfinders + 1 >= var->var_nmembers) {
            var_barrier_release(var, var->var_nmembers);
            snprintf(buf, sizeof(buf), "%zu", var->var_nmembers);
            got->value = value_new_text(buf, strlen(buf));
            return VAR_OK;
        }
        return VAR_BLOCK;
    case VAR_FIFO:
        p = var_pos(idx, var->var_base);
        if (remove) {
            if (p > 0) {
                got->error = "ifetch* only supported at beginning of FIFO";
                return VAR_ERR;
            }
            if (q->q_len == 0)
                return VAR_BLOCK;
            got->value = vqueue_pop_front(q);
            got->index = var->var_base++;
            journal_fetch(var);
            return VAR_OK;
        }
        if (p >= q->q_len)
            return VAR_BLOCK;
        got->value = vqueue_get(q, (size_t)p);
        got->index = var->var_base + p;
        return VAR_OK;
    case VAR_LIFO:
    case VAR_MULTI:
        if (idx >= 0) {
            got->error = remove ? "ifetch* not supported on LIFO"
                                : "ifind* not supported on LIFO";
            return VAR_ERR;
        }
        if (q->q_len == 0)
            return VAR_BLOCK;
        if (remove) {
            got->value = vqueue_pop_back(q);
            journal_fetch(var);
        } else {
            got->value = vqueue_get(q, q->q_len - 1);
        }
        got->index = 0;
        return VAR_OK;
    case VAR_SINGLE:
        p = var_pos(idx, var->var_base);
        if (q->q_len == 0 || p != 0)
            return VAR_BLOCK;
        got->index = var->var_base;
        if (remove) {
            got->value = vqueue_pop_front(q);
            var->var_base++;
            journal_fetch(var);
        } else {
            got->value = vqueue_get(q, 0);
        }
        return VAR_OK;
    }
    return VAR_BLOCK;
}
