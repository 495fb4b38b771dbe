/*
 * session_journal.c -- sessions in the journal (--journal DIR; docs/SESSIONS.md
 * section 4, issue 15): their records (types 40..47, journalp.h), the
 * sessions rebuilt from them at start, and their part of a snapshot.
 *
 * What is journaled: a session's creation (id, the SHA-256 of its token,
 * its flags), its end, every kept reply of a mutation (the reply's bytes
 * and its held value: inline, or a spooled value by reference to its file,
 * and the session's ack then), an acknowledgement that released kept
 * replies (its own record only when no reply of the session carries it in
 * the same turn of the loop: session_journal_flush), and every change of its
 * workspace map and owned set (J_SESS_MAP), so that after a restart the
 * session's names resolve as before and its owned workspaces are purged
 * when the session ends, not when a grace timer for an owner that cannot
 * come back fires (journal_dir.c skips the workspaces a session owns).
 *
 * What is not: reads (their replies are not kept: a re-sent read runs
 * again), a parked blocking fetch or find (not a mutation yet: the re-sent
 * request parks again), acknowledgements that release nothing.  So a
 * restored session's `last` is the highest seq journaled (a kept reply or
 * an ack), and its client may have acknowledged reads past it.
 *
 * Replay collects the records into a table of its own (a session's records
 * are spread over the chain, and an ack drops replies an earlier record
 * kept), and only at its end (session_journal_replay_done) rebuilds each
 * surviving session with session_restore*() and its map: by then every
 * workspace the map names exists again.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "journal.h"
#include "journalp.h"
#include "session.h"

/* A kept reply read back. */
struct sesj_reply {
    uint64_t      sr_seq;
    char         *sr_pre;
    size_t        sr_prelen;
    struct value *sr_value; /* one reference, or NULL */
};

/* A workspace-map entry read back. */
struct sesj_map {
    uint64_t sm_id;
    unsigned sm_how; /* SESSION_MAP_* */
};

/* A session read back from the journal. */
struct sesj_rec {
    char               sj_id[SESSION_ID_HEX + 1];
    unsigned char      sj_tokhash[SESSION_HASH_LEN];
    uint32_t           sj_flags;
    uint64_t           sj_last, sj_acked;
    struct sesj_reply *sj_replies; /* in seq order */
    size_t             sj_nreplies, sj_capreplies;
    struct htab        sj_map; /* ws name -> struct sesj_map */
};

static struct htab sesj_table; /* id -> struct sesj_rec, during replay only */
static int         sesj_table_ready;

/* Acks of this turn not journaled yet: a reply of the same session carries
 * them, else session_journal_flush() writes them before the turn's records
 * leave (an ack may release a value file, removed only once it is durable). */
struct sesj_ack {
    char     sa_id[SESSION_ID_HEX + 1];
    uint64_t sa_ack;
};
static struct sesj_ack *sesj_acks;
static size_t           sesj_nacks, sesj_capacks;

/* Whether records are written now (not while replaying: they are the source). */
static int
sesj_on(void)
{
    return journal_active() && !journal_replaying();
}

/* Starts a record of type for session s. */
static void
sesj_begin(struct jrec *r, uint8_t type, const struct session *s)
{
    jrec_begin(r, type);
    jrec_str(r, session_id(s), SESSION_ID_HEX);
}

/* Emits r (the journal's scratch record, kept for the next one). */
static void
sesj_emit(struct jrec *r)
{
    journal_emit(r);
}

/* The J_SESS_NEW record of s as it is now (creation, or a snapshot). */
static void
sesj_new_fields(struct jrec *r, const struct session *s)
{
    sesj_begin(r, J_SESS_NEW, s);
    jrec_str(r, session_tokhash(s), SESSION_HASH_LEN);
    jrec_u32(r, session_flags(s));
    jrec_u64(r, session_last(s));
    jrec_u64(r, session_acked(s));
}

/* The J_SESS_REPLY record of a kept reply (with the session's ack: most
 * acks ride on the next reply instead of a record of their own). */
static void
sesj_reply_fields(struct jrec *r, const struct session *s, const struct sess_reply *sr)
{
    sesj_begin(r, J_SESS_REPLY, s);
    jrec_u64(r, sr->sr_seq);
    jrec_u64(r, session_acked(s));
    jrec_str(r, sr->sr_pre, sr->sr_prelen);
    jrec_u8(r, sr->sr_value != NULL);
    if (sr->sr_value != NULL)
        jrec_value(r, sr->sr_value);
}

/* Forgets the deferred ack of s (a record of s carries it, or it ended). */
static void
sesj_ack_drop(const struct session *s)
{
    size_t i;

    for (i = 0; i < sesj_nacks; i++)
        if (memcmp(sesj_acks[i].sa_id, session_id(s), SESSION_ID_HEX) == 0) {
            sesj_acks[i] = sesj_acks[--sesj_nacks];
            return;
        }
}

void
session_journal_flush(void)
{
    struct jrec *r = &j.rec;
    size_t       i;

    for (i = 0; i < sesj_nacks && sesj_on(); i++) {
        jrec_begin(r, J_SESS_ACK);
        jrec_str(r, sesj_acks[i].sa_id, SESSION_ID_HEX);
        jrec_u64(r, sesj_acks[i].sa_ack);
        sesj_emit(r);
    }
    sesj_nacks = 0;
}

void
journal_session_new(const struct session *s)
{
    struct jrec *r = &j.rec;

    if (!sesj_on())
        return;
    sesj_new_fields(r, s);
    sesj_emit(r);
}

void
journal_session_end(const struct session *s)
{
    struct jrec *r = &j.rec;

    if (!sesj_on())
        return;
    sesj_ack_drop(s);
    sesj_begin(r, J_SESS_END, s);
    sesj_emit(r);
}

void
journal_session_reply(const struct session *s, const struct sess_reply *sr)
{
    struct jrec *r = &j.rec;

    if (!sesj_on())
        return;
    /* The mutation reserved its own room; a held value needs its bytes again
     * (a spooled one only its reference).  Refused room only means the write
     * may fail later, and then the reply waits for it (journal_turn_end). */
    if (sr->sr_value != NULL)
        (void)journal_reserve(journal_value_room(sr->sr_value) + sr->sr_prelen);
    sesj_ack_drop(s);
    sesj_reply_fields(r, s, sr);
    sesj_emit(r);
}

void
journal_session_ack(const struct session *s, uint64_t ack)
{
    size_t i;

    if (!sesj_on())
        return;
    for (i = 0; i < sesj_nacks; i++)
        if (memcmp(sesj_acks[i].sa_id, session_id(s), SESSION_ID_HEX) == 0)
            break;
    if (i == sesj_nacks) {
        if (sesj_nacks == sesj_capacks) {
            sesj_capacks = sesj_capacks ? 2 * sesj_capacks : 16;
            sesj_acks = xrealloc(sesj_acks, sesj_capacks * sizeof(*sesj_acks));
        }
        memcpy(sesj_acks[i].sa_id, session_id(s), SESSION_ID_HEX + 1);
        sesj_nacks++;
    }
    sesj_acks[i].sa_ack = ack;
}

void
journal_session_map(const struct session *s, const char *name, size_t len, uint64_t id,
                    unsigned how)
{
    struct jrec *r = &j.rec;

    if (!sesj_on())
        return;
    sesj_begin(r, J_SESS_MAP, s);
    jrec_str(r, name, len);
    jrec_u64(r, id);
    jrec_u8(r, (uint8_t)how);
    sesj_emit(r);
}

/* ---- replay ---- */

/* Drops the kept replies of rec with seq <= ack. */
static void
sesj_rec_drop_upto(struct sesj_rec *rec, uint64_t ack)
{
    size_t i, n = 0;

    for (i = 0; i < rec->sj_nreplies; i++) {
        struct sesj_reply *sr = &rec->sj_replies[i];

        if (sr->sr_seq <= ack) {
            free(sr->sr_pre);
            if (sr->sr_value != NULL)
                value_unref(sr->sr_value);
        } else {
            rec->sj_replies[n++] = *sr;
        }
    }
    rec->sj_nreplies = n;
}

/* Frees rec (its held values go: their files are removed once durable). */
static void
sesj_rec_free(struct sesj_rec *rec)
{
    struct htab_ent *e;
    size_t           pos = 0;

    sesj_rec_drop_upto(rec, UINT64_MAX);
    free(rec->sj_replies);
    while ((e = htab_next(&rec->sj_map, &pos)) != NULL)
        free(e->h_val);
    htab_free(&rec->sj_map);
    free(rec);
}

/* The session a record names (NULL: unknown, the record is skipped). */
static struct sesj_rec *
sesj_rec_find(struct jreader *r, const char **id)
{
    size_t len;

    *id = jr_str(r, &len);
    if (*id == NULL || len != SESSION_ID_HEX || !sesj_table_ready)
        return NULL;
    return htab_get(&sesj_table, *id, len);
}

/* An ack read back: the kept replies it covers go. */
static void
sesj_rec_ack(struct sesj_rec *rec, uint64_t ack)
{
    if (ack <= rec->sj_acked)
        return;
    rec->sj_acked = ack;
    if (ack > rec->sj_last)
        rec->sj_last = ack;
    sesj_rec_drop_upto(rec, ack);
}

/* J_SESS_REPLY: the ack it carries, then the reply (a later one of the same
 * seq replaces it). */
static int
sesj_apply_reply(struct sesj_rec *rec, struct jreader *r)
{
    uint64_t      seq = jr_u64(r), ack = jr_u64(r);
    size_t        prelen;
    const char   *pre = jr_str(r, &prelen);
    uint8_t       has = jr_u8(r);
    struct value *v = NULL;
    size_t        i;

    if (r->bad)
        return -1;
    if (has && (v = jr_value(r)) == NULL)
        return -1;
    if (rec != NULL)
        sesj_rec_ack(rec, ack);
    if (rec == NULL || seq <= rec->sj_acked) {
        if (v != NULL)
            value_unref(v);
        return 0;
    }
    if (seq > rec->sj_last)
        rec->sj_last = seq;
    for (i = 0; i < rec->sj_nreplies && rec->sj_replies[i].sr_seq < seq; i++)
        ;
    if (i < rec->sj_nreplies && rec->sj_replies[i].sr_seq == seq) {
        free(rec->sj_replies[i].sr_pre);
        if (rec->sj_replies[i].sr_value != NULL)
            value_unref(rec->sj_replies[i].sr_value);
    } else {
        if (rec->sj_nreplies == rec->sj_capreplies) {
            rec->sj_capreplies = rec->sj_capreplies ? 2 * rec->sj_capreplies : 4;
            rec->sj_replies =
                xrealloc(rec->sj_replies, rec->sj_capreplies * sizeof(*rec->sj_replies));
        }
        memmove(&rec->sj_replies[i + 1], &rec->sj_replies[i],
                (rec->sj_nreplies - i) * sizeof(*rec->sj_replies));
        rec->sj_nreplies++;
    }
    rec->sj_replies[i].sr_seq = seq;
    rec->sj_replies[i].sr_pre = xmemdup(pre, prelen > 0 ? prelen : 1);
    rec->sj_replies[i].sr_prelen = prelen;
    rec->sj_replies[i].sr_value = v;
    return 0;
}

/* J_SESS_MAP: the entry's new state (how 0: gone). */
static int
sesj_apply_map(struct sesj_rec *rec, struct jreader *r)
{
    size_t           len;
    const char      *name = jr_str(r, &len);
    uint64_t         id = jr_u64(r);
    uint8_t          how = jr_u8(r);
    struct sesj_map *m;

    if (r->bad)
        return -1;
    if (rec == NULL)
        return 0;
    m = htab_get(&rec->sj_map, name, len);
    if (how == 0) {
        if (m != NULL) {
            htab_del(&rec->sj_map, name, len);
            free(m);
        }
        return 0;
    }
    if (m == NULL) {
        m = xcalloc(1, sizeof(*m));
        htab_put(&rec->sj_map, name, len, m);
    }
    m->sm_id = id;
    m->sm_how = how & (SESSION_MAP_MAPPED | SESSION_MAP_OWNED);
    return 0;
}

int
session_journal_apply(uint8_t type, struct jreader *r, char *err, size_t errlen)
{
    struct sesj_rec *rec;
    const char      *id, *hash;
    size_t           hlen;
    uint64_t         u;
    int              rc = 0;

    if (!sesj_table_ready) {
        htab_init(&sesj_table);
        sesj_table_ready = 1;
    }
    rec = sesj_rec_find(r, &id);
    if (id == NULL) {
        snprintf(err, errlen, "session record %u without an id", type);
        return -1;
    }
    switch (type) {
    case J_SESS_NEW:
        hash = jr_str(r, &hlen);
        if (r->bad || hlen != SESSION_HASH_LEN)
            break;
        if (rec != NULL) { /* cannot happen: ids are never reused; the last wins */
            htab_del(&sesj_table, id, SESSION_ID_HEX);
            sesj_rec_free(rec);
        }
        rec = xcalloc(1, sizeof(*rec));
        memcpy(rec->sj_id, id, SESSION_ID_HEX);
        memcpy(rec->sj_tokhash, hash, SESSION_HASH_LEN);
        rec->sj_flags = jr_u32(r);
        rec->sj_last = jr_u64(r);
        rec->sj_acked = jr_u64(r);
        htab_init(&rec->sj_map);
        htab_put(&sesj_table, rec->sj_id, SESSION_ID_HEX, rec);
        return r->bad ? -1 : 0;
    case J_SESS_END:
        if (rec != NULL) {
            htab_del(&sesj_table, id, SESSION_ID_HEX);
            sesj_rec_free(rec);
        }
        return 0;
    case J_SESS_REPLY:
        rc = sesj_apply_reply(rec, r);
        if (rc == 0)
            return 0;
        break;
    case J_SESS_ACK:
        u = jr_u64(r);
        if (r->bad)
            break;
        if (rec != NULL)
            sesj_rec_ack(rec, u);
        return 0;
    case J_SESS_MAP:
        if (sesj_apply_map(rec, r) == 0)
            return 0;
        break;
    default:
        snprintf(err, errlen, "unknown session record type %u", type);
        return -1;
    }
    snprintf(err, errlen, "session record type %u does not decode", type);
    return -1;
}

/* Rebuilds one session read back: its kept replies, then its map. */
static void
sesj_restore(struct sesj_rec *rec)
{
    struct session  *s;
    struct conn     *c;
    struct htab_ent *e;
    size_t           i, pos = 0, lost = 0, nmap = 0;

    s = session_restore(rec->sj_id, rec->sj_tokhash, rec->sj_last, rec->sj_acked,
                        rec->sj_flags);
    if (s == NULL) {
        log_warnx("journal: session %s could not be restored", rec->sj_id);
        return;
    }
    for (i = 0; i < rec->sj_nreplies; i++) {
        struct sesj_reply *sr = &rec->sj_replies[i];

        /* A held value whose file is gone cannot be sent again: drop the
         * reply, so that a re-sent request runs again rather than answering
         * with half a reply. */
        if (sr->sr_value != NULL && (sr->sr_value->v_flags & VALUE_GHOST)) {
            lost++;
            continue;
        }
        /* It copies pre and takes our reference to the value. */
        session_restore_reply(s, sr->sr_seq, sr->sr_pre, sr->sr_prelen, sr->sr_value);
        sr->sr_value = NULL;
    }
    if (lost > 0)
        log_warnx("journal: session %s: %zu kept repl%s lost: their value files are "
                  "missing from %s",
                  rec->sj_id, lost, lost == 1 ? "y" : "ies", journal_opts.dir);
    c = session_conn(s);
    while ((e = htab_next(&rec->sj_map, &pos)) != NULL) {
        struct sesj_map *m = e->h_val;
        struct ws       *ws = ws_find(e->h_key, e->h_klen);

        /* A workspace deleted (or made anew) since is not this entry's. */
        if (ws == NULL || ws->ws_id != m->sm_id)
            continue;
        if (m->sm_how & SESSION_MAP_MAPPED)
            conn_map_ws(c, ws);
        if (m->sm_how & SESSION_MAP_OWNED)
            conn_own_ws(c, ws);
        nmap++;
    }
    log_info("journal: session %s restored (last %llu, acked %llu, %zu kept repl%s, "
             "%zu workspace%s)",
             rec->sj_id, (unsigned long long)rec->sj_last,
             (unsigned long long)rec->sj_acked, rec->sj_nreplies - lost,
             rec->sj_nreplies - lost == 1 ? "y" : "ies", nmap, nmap == 1 ? "" : "s");
}

void
session_journal_replay_done(void)
{
    struct htab_ent *e;
    size_t           pos = 0, n = 0;

    if (!sesj_table_ready)
        return;
    while ((e = htab_next(&sesj_table, &pos)) != NULL) {
        sesj_restore(e->h_val);
        sesj_rec_free(e->h_val);
        n++;
    }
    htab_free(&sesj_table);
    sesj_table_ready = 0;
    if (n > 0)
        log_info("journal: %zu session%s waiting to be resumed", n, n == 1 ? "" : "s");
}

/* ---- snapshot (in the compaction child) ---- */

struct sesj_snap {
    const struct session *ss_s;
    int                   ss_rc;
};

/* One kept reply of the session being written. */
static void
sesj_snap_reply(const struct sess_reply *sr, void *arg)
{
    struct sesj_snap *ss = arg;
    struct jrec       r = {0};

    sesj_reply_fields(&r, ss->ss_s, sr);
    ss->ss_rc |= journal_emit(&r);
    jrec_free(&r);
}

/* One entry of its workspace map or owned set. */
static void
sesj_snap_map(const char *name, size_t len, uint64_t id, unsigned how, void *arg)
{
    struct sesj_snap *ss = arg;
    struct jrec       r = {0};

    sesj_begin(&r, J_SESS_MAP, ss->ss_s);
    jrec_str(&r, name, len);
    jrec_u64(&r, id);
    jrec_u8(&r, (uint8_t)how);
    ss->ss_rc |= journal_emit(&r);
    jrec_free(&r);
}

/* One session: its J_SESS_NEW (with last and acked), replies, map. */
static void
sesj_snap_session(struct session *s, const struct session_info *info, void *arg)
{
    int             *rc = arg;
    struct sesj_snap ss = {s, 0};
    struct jrec      r = {0};

    (void)info;
    sesj_new_fields(&r, s);
    ss.ss_rc |= journal_emit(&r);
    jrec_free(&r);
    session_foreach_reply(s, sesj_snap_reply, &ss);
    conn_foreach_ws(session_conn(s), sesj_snap_map, &ss);
    *rc |= ss.ss_rc;
}

int
session_journal_snapshot(void)
{
    int rc = 0;

    session_foreach(sesj_snap_session, &rc);
    return rc != 0 ? -1 : 0;
}

/* ---- owned workspaces ---- */

struct sesj_owns {
    const struct ws *so_ws;
    int              so_owned;
};

/* Whether session s owns the workspace looked for. */
static void
sesj_owns_one(struct session *s, const struct session_info *info, void *arg)
{
    struct sesj_owns *so = arg;

    (void)info;
    if (!so->so_owned && conn_owns(session_conn(s), so->so_ws))
        so->so_owned = 1;
}

int
session_journal_owns(const struct ws *ws)
{
    struct sesj_owns so = {ws, 0};

    session_foreach(sesj_owns_one, &so);
    return so.so_owned;
}
