/*
 * check_session_hostile.c -- session inputs no well-behaved client sends
 * (docs/SESSIONS.md sections 1-2, issue 15).
 *
 * A request header that is not 40 digits, a seq past the next one (a gap),
 * an ack beyond what was run or going backwards, a seq the client has
 * acknowledged already: each is a protocol error that closes the connection
 * and leaves the session detached and whole (resumable, its kept reply
 * still there).  A resume of another client's session with a wrong token is
 * a new session that sees nothing of the other one's state, and the server
 * logs the attempt with the peer's address.
 */
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sesst.h"

static struct nwstest_server *ho_srv;

static void
ho_setup(void)
{
    static const char *const extra[] = {"--resume-grace", "120", NULL};

    ho_srv = ptest_start(extra);
}

static void
ho_teardown(void)
{
    ptest_stop(ho_srv);
}

/* Asserts the server closes s's connection soon (whatever it sends before). */
static void
ho_expect_close(int line, struct sesst *s)
{
    struct pollfd p = {.fd = s->c.fd, .events = POLLIN};
    char          buf[4096];
    int           waited = 0;
    ssize_t       n;

    for (;;) {
        ck_assert_msg(waited < PTEST_SOON_MS, "line %d: the connection stays open", line);
        if (poll(&p, 1, 100) == 1) {
            n = read(s->c.fd, buf, sizeof(buf));
            if (n <= 0)
                break;
        }
        waited += 100;
    }
    sesst_drop(s);
}

/*
 * A session with state to lose: `use ws w` (seq 1, acknowledged), and a
 * fetch of the value "held" (seq 2) whose reply was read but not
 * acknowledged, so the server keeps it.  A classic o on w.
 */
static void
ho_begin(int line, struct sesst *s, struct rawc *o, char *reply, size_t *len)
{
    struct rawc_reply r = {0};

    sesst_new(line, s, ho_srv->port);
    sesst_sendv(line, s, "use ws", "w", "", "yes", (const char *)NULL);
    ck_assert_msg(rawc_read_short(&s->c, &r) == 0 && r.status == 0, "line %d: use ws: %s",
                  line, s->c.err);
    SESST_GOT(s);
    ptest_open(line, o, ho_srv->port, RAWC_PLAIN);
    ptest_short(line, o, NULL, 0, NULL, "use ws", "w", "", "no", (const char *)NULL);
    ptest_short(line, o, NULL, 0, NULL, "store", "w", "x", "1", "held",
                (const char *)NULL);
    sesst_sendv(line, s, "fetch", "w", "x", (const char *)NULL);
    *len = sesst_peek_reply(line, s, 1, reply, 256);
    ck_assert_msg(rawc_read(&s->c, reply, *len) == 0, "line %d: %s", line, s->c.err);
}

/*
 * After the protocol error: the session resumes, its kept reply of seq 2
 * comes again, the value was not put back, and seq 3 runs.
 */
static void
ho_still_whole(int line, struct sesst *s, struct rawc *o, const char *reply, size_t len)
{
    struct rawc_reply r = {0};

    sesst_resume(line, s, ho_srv->port, 1);
    ck_assert_int_eq(sesst_send_at(s, 2, 1, "fetch", "w", "x", (const char *)NULL), 0);
    sesst_expect_bytes(line, s, reply, len);
    s->seq = 2;
    SESST_GOT(s);
    ptest_lerr(line, o, 1, "no value available", "fetchTry", "w", "x",
               (const char *)NULL);
    sesst_sendv(line, s, "store", "w", "x", "1", "after", (const char *)NULL);
    ck_assert_msg(rawc_read_short(&s->c, &r) == 0 && r.status == 0,
                  "line %d: seq 3 after the resume: %s", line, s->c.err);
    SESST_GOT(s);
    ptest_value(line, o, "after", "fetchTry", "w", "x", (const char *)NULL);
    rawc_close(o);
    sesst_drop(s);
}

/* Writes a raw 40-byte header and a small request after it. */
static void
ho_raw_header(int line, struct sesst *s, const char *hdr)
{
    const char *argv[] = {"store", "w", "x", "1", "bad"};
    size_t      lens[] = {5, 1, 1, 1, 3};

    ck_assert_int_eq(strlen(hdr), 40);
    rawc_cork(&s->c);
    ck_assert_int_eq(rawc_write(&s->c, hdr, 40), 0);
    ck_assert_int_eq(rawc_send(&s->c, NULL, 0, 5, argv, lens), 0);
    ck_assert_msg(rawc_uncork(&s->c) == 0, "line %d: %s", line, s->c.err);
}

START_TEST(header_with_non_digits)
{
    /* seq 3 and ack 1 are right; one field is not 20 digits. */
    static const char *const bad[] = {
        "00000000000000000003000000000000000000x1",
        "0000000000000000000x00000000000000000001",
        "+000000000000000000300000000000000000001",
        "-0000000000000000003-0000000000000000001",
        "0000000000000000000\n00000000000000000001",
    };
    struct sesst s;
    struct rawc  o;
    char         reply[256];
    size_t       len, i;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ho_begin(__LINE__, &s, &o, reply, &len);
        ho_raw_header(__LINE__, &s, bad[i]);
        ho_expect_close(__LINE__, &s);
        ptest_lerr(__LINE__, &o, 1, "no value available", "fetchTry", "w", "bad",
                   (const char *)NULL);
        ho_still_whole(__LINE__, &s, &o, reply, len);
    }
}
END_TEST

/* seq 1000 when 3 is next: a gap. */
START_TEST(seq_far_ahead)
{
    struct sesst s;
    struct rawc  o;
    char         reply[256];
    size_t       len;

    ho_begin(__LINE__, &s, &o, reply, &len);
    /* ack 1: ack 2 would release the kept reply before the gap is seen. */
    PT_RC(&s.c,
          sesst_send_at(&s, 1000, 1, "store", "w", "y", "1", "gap", (const char *)NULL));
    ho_expect_close(__LINE__, &s);
    PT_NOVAL(&o, "fetchTry", "w", "y");
    ho_still_whole(__LINE__, &s, &o, reply, len);
}
END_TEST

/* ack 50 when 2 was the last run: the kept reply must not be dropped by it. */
START_TEST(ack_beyond_last)
{
    struct sesst s;
    struct rawc  o;
    char         reply[256];
    size_t       len;

    ho_begin(__LINE__, &s, &o, reply, &len);
    PT_RC(&s.c,
          sesst_send_at(&s, 3, 50, "store", "w", "y", "1", "no", (const char *)NULL));
    ho_expect_close(__LINE__, &s);
    PT_NOVAL(&o, "fetchTry", "w", "y");
    ho_still_whole(__LINE__, &s, &o, reply, len);
}
END_TEST

/* An ack going backwards, and a seq the client acknowledged already. */
START_TEST(ack_backwards_and_acked_seq)
{
    struct sesst      s;
    struct rawc       o;
    struct rawc_reply r = {0};
    char              reply[256];
    size_t            len;

    ho_begin(__LINE__, &s, &o, reply, &len);
    /* ack 1 was sent with seq 2; ack 0 now goes backwards. */
    PT_RC(&s.c,
          sesst_send_at(&s, 3, 0, "store", "w", "y", "1", "no", (const char *)NULL));
    ho_expect_close(__LINE__, &s);
    PT_NOVAL(&o, "fetchTry", "w", "y");
    /* seq 1 with ack 1: that reply was acknowledged. */
    sesst_resume(__LINE__, &s, ho_srv->port, 1);
    PT_RC(&s.c, sesst_send_at(&s, 1, 1, "use ws", "w", "", "yes", (const char *)NULL));
    ho_expect_close(__LINE__, &s);
    /* seq 2 with ack 2 acknowledges it and asks for it again: refused too. */
    sesst_resume(__LINE__, &s, ho_srv->port, 1);
    PT_RC(&s.c, sesst_send_at(&s, 2, 2, "fetch", "w", "x", (const char *)NULL));
    ho_expect_close(__LINE__, &s);
    /* The value was acknowledged by that last header (rule 2 before rule 3)
     * or not; either way it is not back in x, and seq 3 runs. */
    PT_NOVAL(&o, "fetchTry", "w", "x");
    sesst_resume(__LINE__, &s, ho_srv->port, 1);
    PT_RC(&s.c,
          sesst_send_at(&s, 3, 2, "store", "w", "x", "1", "ok", (const char *)NULL));
    PT_RC(&s.c, rawc_read_short(&s.c, &r));
    ck_assert_int_eq(r.status, 0);
    PT_VALUE(&o, "ok", "fetchTry", "w", "x");
    rawc_close(&o);
    sesst_drop(&s);
}
END_TEST

/*
 * Another client resumes the victim's id with a wrong token (or the id of a
 * session that never was): a new session, NwsResumed 0, a fresh id, nothing
 * of the victim's state (its kept reply cannot be had: seq 2 on the new
 * session is a gap), the victim's connection untouched and its session still
 * resumable; the server logs the attempt with the peer's address.
 */
START_TEST(wrong_token_leaks_nothing)
{
    static const char *const extra[] = {"--resume-grace", "120", "--log-level", "info",
                                        NULL};
    struct nwstest_server   *srv;
    struct sesst             victim, thief;
    struct rawc_reply        r = {0};
    char                     want[80], tok[33], log[65536];
    int                      fe = nwstest_tmpfile(), saved = dup(2), i;
    ssize_t                  n;

    ck_assert_int_ge(saved, 0);
    dup2(fe, 2);
    srv = ptest_start(extra);
    dup2(saved, 2);
    close(saved);
    sesst_new(__LINE__, &victim, srv->port);
    SESST_SEND(&victim, "open ws", "vw", "1", "no");
    PT_RC(&victim.c, rawc_read_short(&victim.c, &r));
    ck_assert_int_eq(r.status, 0);
    SESST_GOT(&victim);
    SESST_SEND(&victim, "store", "vw", "x", "1", "secret-value");
    PT_RC(&victim.c, rawc_read_short(&victim.c, &r));
    SESST_GOT(&victim);
    SESST_SEND(&victim, "fetch", "vw", "x"); /* seq 3, its reply kept */
    PT_RC(&victim.c, rawc_read_long(&victim.c, &r));
    PT_IS_STR(&victim.c, &r, "secret-value");
    rawc_reply_free(&r);

    for (i = 0; i < 3; i++) {
        memset(&thief, 0, sizeof(thief));
        /* A token off by one digit, all zeros, and an id nobody has. */
        memcpy(tok, victim.tok, sizeof(tok));
        tok[31] = tok[31] == '0' ? '1' : '0';
        if (i == 1)
            memset(tok, '0', 32);
        snprintf(want, sizeof(want), "resume %s %s",
                 i == 2 ? "0123456789abcdef" : victim.id, tok);
        ck_assert_int_eq(sesst_hs(&thief, srv->port, want, NULL), 0);
        ck_assert_msg(!thief.resumed, "a wrong token resumed the session");
        ck_assert_str_ne(thief.id, victim.id);
        ck_assert_str_ne(thief.tok, victim.tok);
        /* The victim's kept reply of seq 3: a gap on the new session. */
        PT_RC(&thief.c,
              sesst_send_at(&thief, 3, 0, "fetch", "vw", "x", (const char *)NULL));
        ho_expect_close(__LINE__, &thief);
    }
    /* The victim's connection was not taken over: it goes on. */
    SESST_SEND(&victim, "store", "vw", "x", "1", "still-mine");
    PT_RC(&victim.c, rawc_read_short(&victim.c, &r));
    ck_assert_int_eq(r.status, 0);
    SESST_GOT(&victim);
    sesst_cut(&victim);
    sesst_resume(__LINE__, &victim, srv->port, 1);
    SESST_SEND(&victim, "fetchTry", "vw", "x");
    PT_RC(&victim.c, rawc_read_long(&victim.c, &r));
    PT_IS_STR(&victim.c, &r, "still-mine");
    rawc_reply_free(&r);
    sesst_drop(&victim);
    ptest_stop(srv);
    n = pread(fe, log, sizeof(log) - 1, 0);
    log[n > 0 ? n : 0] = '\0';
    close(fe);
    /*
     * Logged with the peer's address and the id asked for (the unknown id
     * can only be in the log through the failed resume), never a token.
     */
    {
        const char *p = strstr(log, "0123456789abcdef"), *bol, *eol;

        ck_assert_msg(p != NULL, "the failed resume is not logged:\n%s", log);
        for (bol = p; bol > log && bol[-1] != '\n'; bol--)
            ;
        eol = strchr(p, '\n');
        ck_assert_msg(memmem(bol, eol != NULL ? (size_t)(eol - bol) : strlen(bol),
                             "127.0.0.1", 9) != NULL,
                      "the failed resume's log line lacks the peer: %.*s",
                      (int)(eol != NULL ? eol - bol : (long)strlen(bol)), bol);
    }
    ck_assert_msg(strstr(log, victim.tok) == NULL && strstr(log, tok) == NULL,
                  "a token is in the log:\n%s", log);
}
END_TEST

/*
 * A resume must ask for the metadata options the session began with (its
 * kept replies are framed for them): otherwise F000, and the session stays
 * resumable with the right ones.
 */
START_TEST(resume_with_other_metadata_denied)
{
    static const char *const meta[] = {"MetadataToServer", "1", "MetadataFromServer", "1",
                                       NULL};
    struct sesst             s, t;
    struct rawc_reply        r = {0};
    char                     want[80];

    memset(&s, 0, sizeof(s));
    ck_assert_int_eq(sesst_hs(&s, ho_srv->port, "new", meta), 0);
    PT_RC(&s.c, sesst_send_at(&s, 1, 0, "use ws", "m", "", "yes", (const char *)NULL));
    PT_RC(&s.c, rawc_read_short(&s.c, &r));
    ck_assert_int_eq(r.status, 0);
    rawc_reply_free(&r);
    sesst_cut(&s);
    snprintf(want, sizeof(want), "resume %s %s", s.id, s.tok);
    memset(&t, 0, sizeof(t));
    ck_assert_msg(sesst_hs(&t, ho_srv->port, want, NULL) == 1,
                  "a resume without the session's metadata options was not denied");
    sesst_drop(&t);
    memset(&t, 0, sizeof(t));
    ck_assert_int_eq(sesst_hs(&t, ho_srv->port, want, meta), 0);
    ck_assert_msg(t.resumed && strcmp(t.id, s.id) == 0,
                  "the session was lost by the denial");
    /* Its kept reply of seq 1, with metadata, comes again. */
    PT_RC(&t.c, sesst_send_at(&t, 1, 0, "use ws", "m", "", "yes", (const char *)NULL));
    PT_RC(&t.c, rawc_read_short(&t.c, &r));
    ck_assert_int_eq(r.status, 0);
    rawc_reply_free(&r);
    sesst_drop(&t);
}
END_TEST

/*
 * KillServerOnClose with NwsSession: no session (its close must stop the
 * server at once): A000 alone, requests without the header, and the close
 * stops the server.
 */
START_TEST(deadman_connection_gets_no_session)
{
    static const char *const ask[] = {"NwsSession", "new", "KillServerOnClose", "1",
                                      NULL};
    struct nwstest_server   *srv = ptest_start(NULL);
    struct rawc              c;

    PT_OPEN(&c, srv->port, RAWC_NONE);
    PT_RC(&c, rawc_hs_new(&c, ask));
    PT_OK(&c, "use ws", "d", "", "yes");
    PT_OK(&c, "store", "d", "x", "1", "v");
    PT_VALUE(&c, "v", "fetch", "d", "x");
    rawc_close(&c);
    ck_assert_msg(ptest_wait_exit(srv, PTEST_SOON_MS) >= 0,
                  "the server outlived its KillServerOnClose connection");
    nwstest_server_stop(srv); /* its tmpdir */
}
END_TEST

NWSTEST_SUITE(session_hostile)
{
    Suite *s = suite_create("session_hostile");
    TCase *tc = tcase_create("header");

    tcase_add_checked_fixture(tc, ho_setup, ho_teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, header_with_non_digits);
    tcase_add_test(tc, seq_far_ahead);
    tcase_add_test(tc, ack_beyond_last);
    tcase_add_test(tc, ack_backwards_and_acked_seq);
    tcase_add_test(tc, wrong_token_leaks_nothing);
    tcase_add_test(tc, resume_with_other_metadata_denied);
    tcase_add_test(tc, deadman_connection_gets_no_session);
    suite_add_tcase(s, tc);
    return s;
}
