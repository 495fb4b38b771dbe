/*
 * check_session_inflight.c -- requests in flight at a cut, each kind
 * (docs/SESSIONS.md section 2, issue 15).
 *
 * Every test runs one request on a session connection, waits until its
 * reply is there (so the server has applied it), copies the reply without
 * reading it, and cuts the connection (RST: the unread reply is lost, as
 * with a broken network).  It then resumes the session on a new connection,
 * re-sends the request with the same seq, and asserts:
 *   - the reply is the same bytes as the lost one (a fetched value is the
 *     same value, with the same cookie);
 *   - the request was applied once: another, classic connection sees the
 *     state one application makes.  For requests whose second application
 *     would not show (declare var, delete var, delete ws, open ws), that
 *     connection undoes or redoes the effect between the cut and the resume,
 *     so that running the request again would be visible.
 * Reads (find) are run again by the rules; their reply is still the same.
 */
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "sesst.h"

static struct nwstest_server *if_srv;

#define IF_REPLY_MAX 4096

static void
if_setup(void)
{
    static const char *const extra[] = {"--resume-grace", "120", NULL};

    if_srv = ptest_start(extra);
}

static void
if_teardown(void)
{
    ptest_stop(if_srv);
}

/*
 * A session s that has `use ws w` done (seq 1, acknowledged by the next
 * request), and a classic connection o on w.
 */
static void
if_begin(int line, struct sesst *s, struct rawc *o)
{
    struct rawc_reply r = {0};

    sesst_new(line, s, if_srv->port);
    sesst_sendv(line, s, "use ws", "w", "", "yes", (const char *)NULL);
    ck_assert_msg(rawc_read_short(&s->c, &r) == 0 && r.status == 0,
                  "line %d: use ws on the session: %s", line, s->c.err);
    SESST_GOT(s);
    ptest_open(line, o, if_srv->port, RAWC_PLAIN);
    ptest_short(line, o, NULL, 0, NULL, "use ws", "w", "", "no", (const char *)NULL);
}

/* The reply of the request just sent is there: copy it, then cut. */
static size_t
if_cut_after_reply(int line, struct sesst *s, int is_long, char *buf, size_t cap)
{
    size_t n = sesst_peek_reply(line, s, is_long, buf, cap);

    sesst_cut(s);
    return n;
}

/* Resume s, asserting it was resumed. */
static void
if_resume(int line, struct sesst *s)
{
    sesst_resume(line, s, if_srv->port, 1);
}

/* Asserts var of w holds exactly the values vals (fifo order), taking them. */
static void
if_drain(int line, struct rawc *o, const char *ws, const char *var,
         const char *const *vals)
{
    for (; *vals != NULL; vals++)
        ptest_value(line, o, *vals, "fetchTry", ws, var, (const char *)NULL);
    ptest_lerr(line, o, 1, "no value available", "fetchTry", ws, var, (const char *)NULL);
}

START_TEST(store_applied_once)
{
    struct sesst s;
    struct rawc  o;
    char         first[IF_REPLY_MAX];
    size_t       n;

    if_begin(__LINE__, &s, &o);
    SESST_SEND(&s, "store", "w", "x", "1", "v1");
    n = if_cut_after_reply(__LINE__, &s, 0, first, sizeof(first));
    if_resume(__LINE__, &s);
    PT_RC(&s.c,
          sesst_send_at(&s, 2, 1, "store", "w", "x", "1", "v1", (const char *)NULL));
    SESST_EXPECT(&s, first, n);
    ck_assert_int_eq(memcmp(first, "0000", 4), 0);
    SESST_GOT(&s);
    if_drain(__LINE__, &o, "w", "x", (const char *const[]){"v1", NULL});
    /* The session goes on: its next request is seq 3. */
    SESST_SEND(&s, "store", "w", "x", "1", "v2");
    SESST_EXPECT(&s, "0000", 4);
    if_drain(__LINE__, &o, "w", "x", (const char *const[]){"v2", NULL});
    rawc_close(&o);
    sesst_drop(&s);
}
END_TEST

/* fetch and fetchTry: the value comes again, and only to this client. */
static void
if_fetch_kind(int line, const char *op)
{
    struct sesst s;
    struct rawc  o;
    char         first[IF_REPLY_MAX];
    size_t       n;

    if_begin(line, &s, &o);
    ptest_short(line, &o, NULL, 0, NULL, "store", "w", "x", "1", "a", (const char *)NULL);
    ptest_short(line, &o, NULL, 0, NULL, "store", "w", "x", "1", "b", (const char *)NULL);
    sesst_sendv(line, &s, op, "w", "x", (const char *)NULL);
    n = if_cut_after_reply(line, &s, 1, first, sizeof(first));
    ck_assert_msg(n == 85 && memcmp(first, "0000", 4) == 0 && first[84] == 'a',
                  "line %d: %s's first reply is not the value a", line, op);
    /* Detached: the value is held by the session, not back in x. */
    ptest_value(line, &o, "b", "fetchTry", "w", "x", (const char *)NULL);
    ptest_short(line, &o, NULL, 0, NULL, "store", "w", "x", "1", "c", (const char *)NULL);
    if_resume(line, &s);
    ck_assert_int_eq(sesst_send_at(&s, 2, 1, op, "w", "x", (const char *)NULL), 0);
    sesst_expect_bytes(line, &s, first, n);
    SESST_GOT(&s);
    if_drain(line, &o, "w", "x", (const char *const[]){"c", NULL});
    rawc_close(&o);
    sesst_drop(&s);
}

START_TEST(fetch_value_once)
{
    if_fetch_kind(__LINE__, "fetch");
}
END_TEST

START_TEST(fetchtry_value_once)
{
    if_fetch_kind(__LINE__, "fetchTry");
}
END_TEST

/* A blocking fetch served (by another client's store) just before the cut. */
START_TEST(blocking_fetch_served_before_cut)
{
    struct sesst s;
    struct rawc  o;
    char         first[IF_REPLY_MAX];
    size_t       n;

    if_begin(__LINE__, &s, &o);
    SESST_SEND(&s, "fetch", "w", "x");
    PT_WAIT_WAITERS(&o, "w", "x", 1, 0);
    PT_OK(&o, "store", "w", "x", "1", "late");
    n = if_cut_after_reply(__LINE__, &s, 1, first, sizeof(first));
    ck_assert_int_eq(n, 84 + 4);
    if_resume(__LINE__, &s);
    PT_RC(&s.c, sesst_send_at(&s, 2, 1, "fetch", "w", "x", (const char *)NULL));
    SESST_EXPECT(&s, first, n);
    SESST_GOT(&s);
    /* Not parked again, and the value was given once. */
    PT_WAIT_WAITERS(&o, "w", "x", 0, 0);
    if_drain(__LINE__, &o, "w", "x", (const char *const[]){NULL});
    rawc_close(&o);
    sesst_drop(&s);
}
END_TEST

/*
 * A blocking fetch parked at the cut and served while the session is
 * detached: the value waits in the session for the re-sent request.
 */
START_TEST(blocking_fetch_served_while_detached)
{
    struct sesst      s;
    struct rawc       o;
    struct rawc_reply r = {0};

    if_begin(__LINE__, &s, &o);
    SESST_SEND(&s, "fetch", "w", "x");
    PT_WAIT_WAITERS(&o, "w", "x", 1, 0);
    sesst_cut(&s);
    /* Still a waiter while detached: the store goes to it, not into x. */
    PT_OK(&o, "store", "w", "x", "1", "kept-for-you");
    PT_OK(&o, "store", "w", "x", "1", "second");
    if_resume(__LINE__, &s);
    PT_RC(&s.c, sesst_send_at(&s, 2, 1, "fetch", "w", "x", (const char *)NULL));
    PT_RC(&s.c, rawc_read_long(&s.c, &r));
    PT_IS_STR(&s.c, &r, "kept-for-you");
    rawc_reply_free(&r);
    SESST_GOT(&s);
    if_drain(__LINE__, &o, "w", "x", (const char *const[]){"second", NULL});
    rawc_close(&o);
    sesst_drop(&s);
}
END_TEST

/* find is a read: run again, the same value, nothing taken. */
START_TEST(find_same_reply)
{
    struct sesst s;
    struct rawc  o;
    char         first[IF_REPLY_MAX];
    size_t       n;

    if_begin(__LINE__, &s, &o);
    PT_OK(&o, "store", "w", "x", "1", "seen");
    SESST_SEND(&s, "find", "w", "x");
    n = if_cut_after_reply(__LINE__, &s, 1, first, sizeof(first));
    if_resume(__LINE__, &s);
    PT_RC(&s.c, sesst_send_at(&s, 2, 1, "find", "w", "x", (const char *)NULL));
    SESST_EXPECT(&s, first, n);
    SESST_GOT(&s);
    if_drain(__LINE__, &o, "w", "x", (const char *const[]){"seen", NULL});
    rawc_close(&o);
    sesst_drop(&s);
}
END_TEST

/* ifetch: the same value and cookie again, the next value untouched. */
START_TEST(ifetch_value_once)
{
    struct sesst      s;
    struct rawc       o;
    struct rawc_reply r = {0};
    char              first[IF_REPLY_MAX], vid[21], idx[21];
    size_t            n;

    if_begin(__LINE__, &s, &o);
    PT_OK(&o, "store", "w", "x", "1", "i0");
    PT_OK(&o, "store", "w", "x", "1", "i1");
    SESST_SEND(&s, "ifetch", "w", "x", "                    ", "00000000000000000000");
    n = if_cut_after_reply(__LINE__, &s, 1, first, sizeof(first));
    ck_assert_msg(n == 86 && memcmp(first + 84, "i0", 2) == 0, "first ifetch: not i0");
    if_resume(__LINE__, &s);
    PT_RC(&s.c, sesst_send_at(&s, 2, 1, "ifetch", "w", "x", "                    ",
                              "00000000000000000000", (const char *)NULL));
    SESST_EXPECT(&s, first, n);
    SESST_GOT(&s);
    /* The iteration goes on from the cookie of the reply that came again. */
    memcpy(vid, first + 24, 20);
    vid[20] = '\0';
    memcpy(idx, first + 44, 20);
    idx[20] = '\0';
    SESST_SEND(&s, "ifetch", "w", "x", vid, idx);
    PT_RC(&s.c, rawc_read_long(&s.c, &r));
    PT_IS_STR(&s.c, &r, "i1");
    rawc_reply_free(&r);
    SESST_GOT(&s);
    if_drain(__LINE__, &o, "w", "x", (const char *const[]){NULL});
    rawc_close(&o);
    sesst_drop(&s);
}
END_TEST

/* declare var: deleted by another client meanwhile; the re-send must not make it again. */
START_TEST(declare_var_applied_once)
{
    struct sesst s;
    struct rawc  o;
    char         first[IF_REPLY_MAX], vl[512];
    size_t       n;

    if_begin(__LINE__, &s, &o);
    SESST_SEND(&s, "declare var", "w", "d", "lifo");
    n = if_cut_after_reply(__LINE__, &s, 0, first, sizeof(first));
    ck_assert_int_eq(memcmp(first, "0000", 4), 0);
    ck_assert_str_ne(PT_VARLINE(&o, "w", "d", vl), "");
    PT_OK(&o, "delete var", "w", "d");
    if_resume(__LINE__, &s);
    PT_RC(&s.c,
          sesst_send_at(&s, 2, 1, "declare var", "w", "d", "lifo", (const char *)NULL));
    SESST_EXPECT(&s, first, n);
    SESST_GOT(&s);
    ck_assert_str_eq(PT_VARLINE(&o, "w", "d", vl), "");
    rawc_close(&o);
    sesst_drop(&s);
}
END_TEST

/* delete var: made again by another client meanwhile; the re-send must not delete it. */
START_TEST(delete_var_applied_once)
{
    struct sesst s;
    struct rawc  o;
    char         first[IF_REPLY_MAX];
    size_t       n;

    if_begin(__LINE__, &s, &o);
    PT_OK(&o, "store", "w", "x", "1", "old");
    SESST_SEND(&s, "delete var", "w", "x");
    n = if_cut_after_reply(__LINE__, &s, 0, first, sizeof(first));
    ck_assert_int_eq(memcmp(first, "0000", 4), 0);
    PT_OK(&o, "store", "w", "x", "1", "new");
    if_resume(__LINE__, &s);
    PT_RC(&s.c, sesst_send_at(&s, 2, 1, "delete var", "w", "x", (const char *)NULL));
    SESST_EXPECT(&s, first, n);
    SESST_GOT(&s);
    if_drain(__LINE__, &o, "w", "x", (const char *const[]){"new", NULL});
    rawc_close(&o);
    sesst_drop(&s);
}
END_TEST

/* delete ws: made again meanwhile; the re-send must not delete it again. */
START_TEST(delete_ws_applied_once)
{
    struct sesst s;
    struct rawc  o;
    char         first[IF_REPLY_MAX];
    size_t       n;

    if_begin(__LINE__, &s, &o);
    PT_OK(&o, "use ws", "gone", "", "yes");
    PT_OK(&o, "store", "gone", "x", "1", "old");
    SESST_SEND(&s, "delete ws", "gone");
    n = if_cut_after_reply(__LINE__, &s, 0, first, sizeof(first));
    ck_assert_int_eq(memcmp(first, "0000", 4), 0);
    PT_WAIT_WS(&o, "gone", 0);
    PT_OK(&o, "use ws", "gone", "", "yes");
    PT_OK(&o, "store", "gone", "x", "1", "new");
    if_resume(__LINE__, &s);
    PT_RC(&s.c, sesst_send_at(&s, 2, 1, "delete ws", "gone", (const char *)NULL));
    SESST_EXPECT(&s, first, n);
    SESST_GOT(&s);
    if_drain(__LINE__, &o, "gone", "x", (const char *const[]){"new", NULL});
    rawc_close(&o);
    sesst_drop(&s);
}
END_TEST

/*
 * open ws: the session owns the new workspace (kept while detached);
 * another client deletes it meanwhile; the re-send must not make it again.
 */
START_TEST(open_ws_applied_once)
{
    struct sesst s;
    struct rawc  o;
    char         first[IF_REPLY_MAX];
    size_t       n;

    if_begin(__LINE__, &s, &o);
    SESST_SEND(&s, "open ws", "mine", "77", "no");
    n = if_cut_after_reply(__LINE__, &s, 0, first, sizeof(first));
    ck_assert_int_eq(memcmp(first, "0000", 4), 0);
    /*
     * Detached, not closed: the owned workspace waits for its session.  The
     * pause is no synchronisation: it gives a server that wrongly purges at
     * the cut the time to show it (delete ws below would then fail).
     */
    usleep(200000);
    PT_WAIT_WS(&o, "mine", 1);
    PT_OK(&o, "delete ws", "mine");
    if_resume(__LINE__, &s);
    PT_RC(&s.c,
          sesst_send_at(&s, 2, 1, "open ws", "mine", "77", "no", (const char *)NULL));
    SESST_EXPECT(&s, first, n);
    SESST_GOT(&s);
    PT_WAIT_WS(&o, "mine", 0);
    rawc_close(&o);
    sesst_drop(&s);
}
END_TEST

/* The number of lines of list wss (one per workspace). */
static int
if_count_wss(int line, struct rawc *o)
{
    struct rawc_reply r = {0};
    const char       *p;
    int               n = 0;

    ptest_long(line, o, NULL, &r, "list wss", (const char *)NULL);
    ck_assert_msg(r.status == 0 && r.value != NULL, "line %d: list wss failed", line);
    for (p = r.value; *p != '\0'; p++)
        n += *p == '\n';
    rawc_reply_free(&r);
    return n;
}

/* mktemp ws: the same name again, and one workspace made. */
START_TEST(mktemp_ws_applied_once)
{
    struct sesst s;
    struct rawc  o;
    char         first[IF_REPLY_MAX];
    size_t       n;
    int          before;

    if_begin(__LINE__, &s, &o);
    before = if_count_wss(__LINE__, &o);
    SESST_SEND(&s, "mktemp ws", "tmp_%d");
    n = if_cut_after_reply(__LINE__, &s, 1, first, sizeof(first));
    ck_assert_msg(n > 84 && memcmp(first, "0000", 4) == 0, "mktemp ws failed");
    ck_assert_int_eq(if_count_wss(__LINE__, &o), before + 1);
    if_resume(__LINE__, &s);
    PT_RC(&s.c, sesst_send_at(&s, 2, 1, "mktemp ws", "tmp_%d", (const char *)NULL));
    SESST_EXPECT(&s, first, n);
    SESST_GOT(&s);
    ck_assert_int_eq(if_count_wss(__LINE__, &o), before + 1);
    rawc_close(&o);
    sesst_drop(&s);
}
END_TEST

/*
 * A pipeline in flight at the cut: five stores and a fetch of the first
 * value, all applied, no reply read.  After the resume all six are sent
 * again: each reply comes once, the same, and the variable holds exactly
 * the four values the fetch left (not nine: a store whose kept reply is
 * missed would run again).
 */
START_TEST(pipeline_resent_whole)
{
    static const char *const vals[] = {"p1", "p2", "p3", "p4", "p5"};
    struct sesst             s;
    struct rawc              o;
    struct rawc_reply        r = {0};
    char                     vl[512];
    int                      i, round;

    if_begin(__LINE__, &s, &o);
    for (round = 0; round < 2; round++) {
        /* seq 2..6: the stores, seq 7: a fetch; ack 1 throughout. */
        for (i = 0; i < 5; i++)
            PT_RC(&s.c, sesst_send_at(&s, 2 + (uint64_t)i, 1, "store", "w", "x", "1",
                                      vals[i], (const char *)NULL));
        PT_RC(&s.c, sesst_send_at(&s, 7, 1, "fetch", "w", "x", (const char *)NULL));
        if (round == 0) {
            /* All applied: the fetch's reply is there (replies come in order). */
            char   buf[IF_REPLY_MAX];
            size_t n = 4 * 5 + 84 + 2;

            ck_assert_msg(sesst_peek_reply(__LINE__, &s, 0, buf, sizeof(buf)) == 4,
                          "no reply");
            for (i = 0;
                 i < 2500 && recv(s.c.fd, buf, n, MSG_PEEK | MSG_DONTWAIT) < (ssize_t)n;
                 i++)
                usleep(2000);
            ck_assert_msg(i < 2500, "the pipeline's replies did not all come");
            sesst_cut(&s);
            ck_assert_str_ne(PT_VARLINE(&o, "w", "x", vl), "");
            ck_assert_msg(strncmp(vl, "x\t4\t", 4) == 0, "after the pipeline: %s", vl);
            if_resume(__LINE__, &s);
        }
    }
    for (i = 0; i < 5; i++) {
        PT_RC(&s.c, rawc_read_short(&s.c, &r));
        ck_assert_msg(r.status == 0, "store %d sent again: status %d", i + 2, r.status);
    }
    PT_RC(&s.c, rawc_read_long(&s.c, &r));
    PT_IS_STR(&s.c, &r, "p1");
    rawc_reply_free(&r);
    s.seq = 7;
    SESST_GOT(&s);
    ck_assert_msg(strncmp(PT_VARLINE(&o, "w", "x", vl), "x\t4\t", 4) == 0,
                  "after the pipeline was sent again: %s (stores applied twice?)", vl);
    if_drain(__LINE__, &o, "w", "x", (const char *const[]){"p2", "p3", "p4", "p5", NULL});
    rawc_close(&o);
    sesst_drop(&s);
}
END_TEST

/*
 * The same pipeline, but the client had read the first two stores' replies
 * before the cut: it re-sends seq 4..7 acknowledging 3.  The kept replies
 * of 2 and 3 are dropped, 4..7 come again, the values are stored once.
 */
START_TEST(pipeline_resent_after_partial_ack)
{
    static const char *const vals[] = {"q1", "q2", "q3", "q4", "q5"};
    struct sesst             s;
    struct rawc              o;
    struct rawc_reply        r = {0};
    char                     vl[512], buf[IF_REPLY_MAX];
    size_t                   n = 4 * 5 + 84 + 2;
    int                      i;

    if_begin(__LINE__, &s, &o);
    for (i = 0; i < 5; i++)
        PT_RC(&s.c, sesst_send_at(&s, 2 + (uint64_t)i, 1, "store", "w", "x", "1", vals[i],
                                  (const char *)NULL));
    PT_RC(&s.c, sesst_send_at(&s, 7, 1, "fetch", "w", "x", (const char *)NULL));
    for (i = 0; i < 2500 && recv(s.c.fd, buf, n, MSG_PEEK | MSG_DONTWAIT) < (ssize_t)n;
         i++)
        usleep(2000);
    ck_assert_msg(i < 2500, "the pipeline's replies did not all come");
    for (i = 0; i < 2; i++) {
        PT_RC(&s.c, rawc_read_short(&s.c, &r));
        ck_assert_int_eq(r.status, 0);
    }
    sesst_cut(&s);
    if_resume(__LINE__, &s);
    for (i = 2; i < 5; i++)
        PT_RC(&s.c, sesst_send_at(&s, 2 + (uint64_t)i, 3, "store", "w", "x", "1", vals[i],
                                  (const char *)NULL));
    PT_RC(&s.c, sesst_send_at(&s, 7, 3, "fetch", "w", "x", (const char *)NULL));
    for (i = 2; i < 5; i++) {
        PT_RC(&s.c, rawc_read_short(&s.c, &r));
        ck_assert_msg(r.status == 0, "store %d sent again: status %d", i + 2, r.status);
    }
    PT_RC(&s.c, rawc_read_long(&s.c, &r));
    PT_IS_STR(&s.c, &r, "q1");
    rawc_reply_free(&r);
    s.seq = 7;
    SESST_GOT(&s);
    ck_assert_msg(strncmp(PT_VARLINE(&o, "w", "x", vl), "x\t4\t", 4) == 0,
                  "after the pipeline was sent again: %s (stores applied twice?)", vl);
    if_drain(__LINE__, &o, "w", "x", (const char *const[]){"q2", "q3", "q4", "q5", NULL});
    rawc_close(&o);
    sesst_drop(&s);
}
END_TEST

/*
 * A take-over while the old connection is alive with a blocking fetch
 * parked and a store queued behind it (unread by the server): the old
 * connection is closed, its queued store dropped unrun; re-sent on the new
 * connection, the fetch keeps its place and the store runs once after it.
 */
START_TEST(take_over_with_requests_queued_behind_a_park)
{
    struct sesst      s, t;
    struct rawc       o;
    struct rawc_reply r = {0};
    char              want[80], vl[512];

    if_begin(__LINE__, &s, &o);
    SESST_SEND(&s, "fetch", "w", "x");               /* seq 2: parks */
    SESST_SEND(&s, "store", "w", "y", "1", "after"); /* seq 3: waits behind it */
    PT_WAIT_WAITERS(&o, "w", "x", 1, 0);
    ck_assert_str_eq(PT_VARLINE(&o, "w", "y", vl), "");
    /* The same client on a new connection, the old one still open. */
    memset(&t, 0, sizeof(t));
    snprintf(want, sizeof(want), "resume %s %s", s.id, s.tok);
    ck_assert_int_eq(sesst_hs(&t, if_srv->port, want, NULL), 0);
    ck_assert_msg(t.resumed, "the take-over was not a resume");
    ck_assert_msg(rawc_expect_eof(&s.c, PTEST_SOON_MS) == 0, "old connection: %s",
                  s.c.err);
    sesst_drop(&s);
    /* The store queued on the old connection did not run. */
    ck_assert_str_eq(PT_VARLINE(&o, "w", "y", vl), "");
    PT_RC(&t.c, sesst_send_at(&t, 2, 1, "fetch", "w", "x", (const char *)NULL));
    PT_RC(&t.c,
          sesst_send_at(&t, 3, 1, "store", "w", "y", "1", "after", (const char *)NULL));
    PT_WAIT_WAITERS(&o, "w", "x", 1, 0);
    PT_OK(&o, "store", "w", "x", "1", "served");
    PT_RC(&t.c, rawc_read_long(&t.c, &r));
    PT_IS_STR(&t.c, &r, "served");
    rawc_reply_free(&r);
    PT_RC(&t.c, rawc_read_short(&t.c, &r));
    ck_assert_int_eq(r.status, 0);
    if_drain(__LINE__, &o, "w", "y", (const char *const[]){"after", NULL});
    if_drain(__LINE__, &o, "w", "x", (const char *const[]){NULL});
    rawc_close(&o);
    sesst_drop(&t);
}
END_TEST

NWSTEST_SUITE(session_inflight)
{
    Suite *s = suite_create("session_inflight");
    TCase *tc = tcase_create("values");

    tcase_add_checked_fixture(tc, if_setup, if_teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, store_applied_once);
    tcase_add_test(tc, fetch_value_once);
    tcase_add_test(tc, fetchtry_value_once);
    tcase_add_test(tc, blocking_fetch_served_before_cut);
    tcase_add_test(tc, blocking_fetch_served_while_detached);
    tcase_add_test(tc, find_same_reply);
    tcase_add_test(tc, ifetch_value_once);
    tcase_add_test(tc, pipeline_resent_whole);
    tcase_add_test(tc, pipeline_resent_after_partial_ack);
    tcase_add_test(tc, take_over_with_requests_queued_behind_a_park);
    suite_add_tcase(s, tc);
    tc = tcase_create("names");
    tcase_add_checked_fixture(tc, if_setup, if_teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, declare_var_applied_once);
    tcase_add_test(tc, delete_var_applied_once);
    tcase_add_test(tc, delete_ws_applied_once);
    tcase_add_test(tc, open_ws_applied_once);
    tcase_add_test(tc, mktemp_ws_applied_once);
    suite_add_tcase(s, tc);
    return s;
}
