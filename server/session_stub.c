/*
 * session_stub.c -- TEMPORARY (branch sessj, until `git merge sess` brings
 * session.c): weak stand-ins so that session_journal.c links.  Removed at
 * the merge; never meant for main.
 */
#include "session.h"

#define SESSION_STUB __attribute__((weak))

SESSION_STUB struct session *
conn_session(const struct conn *c)
{
    (void)c;
    return NULL;
}

SESSION_STUB const char *
session_id(const struct session *s)
{
    (void)s;
    return "";
}

SESSION_STUB const unsigned char *
session_tokhash(const struct session *s)
{
    (void)s;
    return (const unsigned char *)"";
}

SESSION_STUB unsigned
session_flags(const struct session *s)
{
    (void)s;
    return 0;
}

SESSION_STUB uint64_t
session_last(const struct session *s)
{
    (void)s;
    return 0;
}

SESSION_STUB uint64_t
session_acked(const struct session *s)
{
    (void)s;
    return 0;
}

SESSION_STUB struct conn *
session_conn(const struct session *s)
{
    (void)s;
    return NULL;
}

SESSION_STUB struct session *
session_restore(const char *id, const unsigned char tokhash[SESSION_HASH_LEN],
                uint64_t last, uint64_t acked, unsigned flags)
{
    (void)id;
    (void)tokhash;
    (void)last;
    (void)acked;
    (void)flags;
    return NULL;
}

SESSION_STUB void
session_restore_reply(struct session *s, uint64_t seq, const char *pre, size_t prelen,
                      struct value *held)
{
    (void)s;
    (void)seq;
    (void)pre;
    (void)prelen;
    (void)held;
}

SESSION_STUB void
session_start_restored(void)
{
}

SESSION_STUB void
session_foreach(void (*fn)(struct session *, const struct session_info *, void *),
                void *arg)
{
    (void)fn;
    (void)arg;
}

SESSION_STUB void
session_foreach_reply(struct session *s, void (*fn)(const struct sess_reply *, void *),
                      void *arg)
{
    (void)s;
    (void)fn;
    (void)arg;
}
