/*
 * journal.c -- the journal's writer and state (see journal.h).  Stubs for
 * now: the contract's names, so that other files can build on them.
 */
#include <string.h>

#include "journal.h"

struct journal_opts journal_opts = {
    .policy = JOURNAL_FSYNC_EVERYSEC,
    .resume_grace = JOURNAL_RESUME_GRACE_DEF,
    .compact_factor = JOURNAL_COMPACT_FACTOR_DEF,
    .compact_min = JOURNAL_COMPACT_MIN_DEF,
};

void journal_get_stats(struct journal_stats *st) { memset(st, 0, sizeof(*st)); }
int journal_active(void) { return 0; }
int journal_fsync_parse(const char *s, enum journal_fsync *p)
{
    if (strcmp(s, "always") == 0) *p = JOURNAL_FSYNC_ALWAYS;
    else if (strcmp(s, "everysec") == 0) *p = JOURNAL_FSYNC_EVERYSEC;
    else if (strcmp(s, "no") == 0) *p = JOURNAL_FSYNC_NO;
    else return -1;
    return 0;
}
int journal_open(void) { return 0; }
void journal_turn_end(void) {}
void journal_close(void) {}
int journal_check(const char *dir, int fix) { (void)dir; (void)fix; return 0; }
void jrec_value(struct jrec *r, const struct value *v) { (void)r; (void)v; }
int journal_reserve(size_t n) { (void)n; return 0; }
const char *journal_error(void) { return ""; }
int journal_emit(struct jrec *r) { (void)r; return 0; }
struct value *jr_value(struct jreader *r) { r->bad = 1; return NULL; }
void journal_register_sleigh(journal_apply_fn a, journal_snapshot_fn s) { (void)a; (void)s; }
int journal_replaying(void) { return 0; }
