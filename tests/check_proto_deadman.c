/*
 * check_proto_deadman.c -- server shutdown (nws-protocol.md section 10):
 * the deadman command and KillServerOnClose=1 stop the server with status 0
 * when that connection closes, other clients see their connection drop,
 * and shutdown removes the temp files; SIGTERM does the same.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ptest.h"

/* Asserts the server exits by itself with status 0 and removed its temp files. */
static void
dm_expect_exit(struct nwstest_server *s)
{
    char tmpdir[256];
    int  st;

    snprintf(tmpdir, sizeof(tmpdir), "%s", s->tmpdir);
    st = ptest_wait_exit(s, PTEST_SOON_MS);
    ck_assert_msg(st != -1, "the server did not exit when the deadman connection closed");
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0,
                  "the server's exit was not clean: wait status %d", st);
    ck_assert_msg(ptest_files(tmpdir, 0, NULL) == 0, "files left in %s after shutdown",
                  tmpdir);
    nwstest_server_stop(s); /* removes the temp dir; the process is gone */
}

/* Asserts c gets either "Variable purged." or nothing before its connection drops. */
static void
dm_expect_dropped(struct rawc *c)
{
    struct rawc_reply r;
    char              b;

    if (recv(c->fd, &b, 1, MSG_PEEK) > 0) {
        PT_RC(c, rawc_read_long(c, &r));
        PT_IS_ERROR(c, &r, 1, "Variable purged.");
        rawc_reply_free(&r);
    }
    ck_assert_msg(rawc_expect_eof(c, PTEST_SOON_MS) == 0, "other client: %s", c->err);
}

START_TEST(deadman_command_close_stops_the_server)
{
    static const char *const opts[] = {"--spool-threshold", "1K", NULL};
    struct nwstest_server   *s = ptest_start(opts);
    struct rawc              a, b, w;
    struct rawc_reply        r;
    char                     big[4096];

    memset(big, 'v', sizeof(big));
    PT_OPEN(&a, s->port, RAWC_META);
    PT_OPEN(&b, s->port, RAWC_PLAIN);
    PT_OPEN(&w, s->port, RAWC_META);
    PT_OK(&b, "use ws", "w", "", "no");
    PT_OK(&w, "use ws", "w", "", "no");
    {
        const char *argv[5] = {"store", "w", "big", "1", big};
        size_t      lens[5] = {5, 1, 3, 1, sizeof(big)};

        PT_RC(&b, rawc_send(&b, NULL, 0, 5, argv, lens));
        PT_RC(&b, rawc_read_short(&b, &r));
        PT_IS_SHORT(&b, &r, 0, NULL);
        rawc_reply_free(&r);
    }
    PT_RC(&w, rawc_sendv(&w, NULL, "fetch", "w", "x", NULL));
    PT_WAIT_WAITERS(&b, "w", "x", 1, 0);
    PT_OK(&a, "deadman");
    /* Still serving while the deadman connection lives. */
    PT_NOVAL(&b, "fetchTry", "w", "nothing");
    ck_assert_int_eq(waitpid(s->pid, NULL, WNOHANG), 0);
    rawc_close(&a);
    dm_expect_exit(s);
    ck_assert_msg(rawc_expect_eof(&b, PTEST_SOON_MS) == 0, "idle client: %s", b.err);
    dm_expect_dropped(&w);
    rawc_close(&b);
    rawc_close(&w);
}
END_TEST

START_TEST(kill_server_on_close_option)
{
    static const char *const kill1[] = {"KillServerOnClose", "1", NULL};
    struct nwstest_server   *s = ptest_start(NULL);
    struct rawc              a, b;

    /* R's managed-server deadman: this option only, never a request. */
    PT_OPEN(&a, s->port, RAWC_NONE);
    ck_assert_msg(rawc_hs_new(&a, kill1) == 0, "KillServerOnClose=1 refused: %s", a.err);
    PT_OPEN(&b, s->port, RAWC_META);
    PT_OK(&b, "use ws", "w", "", "no");
    ck_assert_int_eq(waitpid(s->pid, NULL, WNOHANG), 0);
    rawc_close(&a);
    dm_expect_exit(s);
    ck_assert_msg(rawc_expect_eof(&b, PTEST_SOON_MS) == 0, "other client: %s", b.err);
    rawc_close(&b);
}
END_TEST

START_TEST(kill_server_on_close_other_values_do_nothing)
{
    static const char *const kill0[] = {"KillServerOnClose", "0", NULL};
    static const char *const killnone[] = {"KillServerOnClose", "", NULL};
    struct nwstest_server   *s = ptest_start(NULL);
    struct rawc              a, b;

    PT_OPEN(&a, s->port, RAWC_NONE);
    ck_assert_msg(rawc_hs_new(&a, kill0) == 0, "%s", a.err);
    PT_OK(&a, "use ws", "w", "", "no");
    rawc_close(&a);
    PT_OPEN(&a, s->port, RAWC_NONE);
    ck_assert_msg(rawc_hs_new(&a, killnone) == 0, "%s", a.err);
    rawc_close(&a);
    usleep(300000);
    ck_assert_int_eq(waitpid(s->pid, NULL, WNOHANG), 0);
    PT_OPEN(&b, s->port, RAWC_META);
    PT_OK(&b, "use ws", "w", "", "no");
    rawc_close(&b);
    ptest_stop(s);
}
END_TEST

START_TEST(sigterm_shutdown_removes_temp_files)
{
    static const char *const opts[] = {"--spool-threshold", "1K", NULL};
    struct nwstest_server   *s = ptest_start(opts);
    struct rawc              b, w;
    struct rawc_reply        r;
    char                     big[4096];

    memset(big, 'v', sizeof(big));
    PT_OPEN(&b, s->port, RAWC_PLAIN);
    PT_OPEN(&w, s->port, RAWC_PLAIN);
    PT_OK(&b, "open ws", "p", "1", "yes");
    PT_OK(&w, "use ws", "p", "", "no");
    {
        const char *argv[5] = {"store", "p", "big", "1", big};
        size_t      lens[5] = {5, 1, 3, 1, sizeof(big)};

        PT_RC(&b, rawc_send(&b, NULL, 0, 5, argv, lens));
        PT_RC(&b, rawc_read_short(&b, &r));
        PT_IS_SHORT(&b, &r, 0, NULL);
        rawc_reply_free(&r);
    }
    ck_assert_int_ge(ptest_spool_files(s, 4096, NULL), 1);
    PT_RC(&w, rawc_sendv(&w, NULL, "find", "p", "x", NULL));
    PT_WAIT_WAITERS(&b, "p", "x", 0, 1);
    ck_assert_int_eq(kill(s->pid, SIGTERM), 0);
    dm_expect_exit(s);
    dm_expect_dropped(&w);
    ck_assert_msg(rawc_expect_eof(&b, PTEST_SOON_MS) == 0, "idle client: %s", b.err);
    rawc_close(&b);
    rawc_close(&w);
}
END_TEST

NWSTEST_SUITE(proto_deadman)
{
    Suite *s = suite_create("proto_deadman");
    TCase *tc = tcase_create("shutdown");

    tcase_set_timeout(tc, 20);
    tcase_add_test(tc, deadman_command_close_stops_the_server);
    tcase_add_test(tc, kill_server_on_close_option);
    tcase_add_test(tc, kill_server_on_close_other_values_do_nothing);
    tcase_add_test(tc, sigterm_shutdown_removes_temp_files);
    suite_add_tcase(s, tc);
    return s;
}
