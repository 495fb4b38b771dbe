/*
 * waiter.c -- requests parked on a variable (blocking fetch and find).
 *
 * A waiter is embedded in its owner (a connection, or a test's struct) and
 * sits on one of its variable's two lists: fetchers (served strictly first
 * come, first served) or finders.  When a value arrives, every finder gets it,
 * then the oldest fetcher, which consumes it (section 6.5).  Delivering only
 * queues a reply on the owner's output; the owner resumes its own input from
 * a deferred event, so nothing here re-enters request processing.
 */
#include "server.h"

/* Puts w on var's fetcher or finder list. */
void
waiter_park(struct waiter *w, struct var *var, int fetch)
{
    w->w_var = var;
    w->w_fetch = fetch;
    if (fetch) {
        TAILQ_INSERT_TAIL(&var->var_fetchers, w, w_link);
        var->var_nfetchers++;
    } else {
        TAILQ_INSERT_TAIL(&var->var_finders, w, w_link);
        var->var_nfinders++;
    }
}

/* Takes w off its list, if it is on one; nothing is consumed. */
void
waiter_cancel(struct waiter *w)
{
    struct var *var = w->w_var;

    if (var == NULL)
        return;
    if (w->w_fetch) {
        TAILQ_REMOVE(&var->var_fetchers, w, w_link);
        var->var_nfetchers--;
    } else {
        TAILQ_REMOVE(&var->var_finders, w, w_link);
        var->var_nfinders--;
    }
    w->w_var = NULL;
}

/*
 * Hands v (borrowed) with its index to every finder, then to the oldest
 * fetcher.  Returns 1 if a fetcher consumed it, 0 if it is still to be stored.
 */
int
waiter_serve(struct var *var, struct value *v, uint64_t index)
{
    struct waiter *w;

    while ((w = TAILQ_FIRST(&var->var_finders)) != NULL) {
        waiter_cancel(w);
        w->w_deliver(w, v, index);
    }
    /* A fetcher whose connection turns out closed is skipped: it would lose v. */
    while ((w = TAILQ_FIRST(&var->var_fetchers)) != NULL) {
        waiter_cancel(w);
        if (w->w_gone != NULL && w->w_gone(w))
            continue;
        w->w_deliver(w, v, index);
        return 1;
    }
    return 0;
}

/* Fails every waiter of var, finders and fetchers alike, with reason. */
void
waiter_fail_all(struct var *var, const char *reason)
{
    struct waiter *w;

    while ((w = TAILQ_FIRST(&var->var_finders)) != NULL) {
        waiter_cancel(w);
        w->w_fail(w, reason);
    }
    while ((w = TAILQ_FIRST(&var->var_fetchers)) != NULL) {
        waiter_cancel(w);
        w->w_fail(w, reason);
    }
}
