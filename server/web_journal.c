/*
 * web_journal.c -- the journal's figures (--journal, journal_get_stats) as
 * JSON, for the web overview (/api/overview) and "server info" (`nws
 * info`): one object, {"active": false} without a journal.  Times are
 * wall-clock seconds (0: never) with their age in seconds beside them, so
 * that a reader on another clock still sees how long ago.  The directory
 * and the error are display text (web_json_display): whatever bytes they
 * hold, the JSON stays valid and shows them escaped.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "journal.h"
#include "web.h"

static const char *const web_journal_policies[] = {
    [JOURNAL_FSYNC_NO] = "no",
    [JOURNAL_FSYNC_EVERYSEC] = "everysec",
    [JOURNAL_FSYNC_ALWAYS] = "always",
};

/* Sets key to the time t (wall-clock seconds) and key_age to its age; null if never. */
static void
web_journal_time(json_t *o, const char *key, double t, double now)
{
    char age[64];

    snprintf(age, sizeof(age), "%s_age", key);
    json_object_set_new(o, key, t > 0 ? json_real(t) : json_null());
    json_object_set_new(o, age, t > 0 ? json_real(now > t ? now - t : 0) : json_null());
}

json_t *
web_journal_json(void)
{
    struct journal_stats st;
    struct timespec      ts;
    json_t              *o = json_object();
    double               now;

    memset(&st, 0, sizeof(st));
    journal_get_stats(&st);
    json_object_set_new(o, "active", json_boolean(st.active));
    if (!st.active)
        return o;
    clock_gettime(CLOCK_REALTIME, &ts);
    now = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
    json_object_set_new(o, "dir",
                        st.dir != NULL ? web_json_display(st.dir, strlen(st.dir))
                                       : json_null());
    json_object_set_new(
        o, "policy",
        json_string((unsigned)st.policy < 3 ? web_journal_policies[st.policy] : "?"));
    json_object_set_new(o, "bytes", json_integer((json_int_t)st.bytes));
    json_object_set_new(o, "base_bytes", json_integer((json_int_t)st.base_bytes));
    json_object_set_new(o, "records", json_integer((json_int_t)st.records));
    web_journal_time(o, "last_fsync", st.last_fsync, now);
    web_journal_time(o, "last_snapshot", st.last_snapshot, now);
    json_object_set_new(o, "snapshots", json_integer((json_int_t)st.snapshots));
    json_object_set_new(o, "compacting", json_boolean(st.compacting));
    json_object_set_new(o, "failing", json_boolean(st.failing));
    st.error[sizeof(st.error) - 1] = '\0';
    json_object_set_new(o, "error",
                        st.failing ? web_json_display(st.error, strlen(st.error))
                                   : json_null());
    return o;
}
