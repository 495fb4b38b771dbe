/*
 * check_proto_names.c -- names that would forge listings.  Against a real
 * server: a workspace name, variable name, mktemp template or owner label
 * holding a control character is refused by every command that takes one,
 * so another client's `list vars` / `list wss` can never show a forged
 * line.  Against a fake server sending such a listing (as an older server
 * would): `nws ls` and `nws vars` show the good lines, warn, and exit 0.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "nwstest.h"
#include "ptest.h"
#include "rawc.h"

static struct nwstest_server *nm_srv;

static void
nm_setup(void)
{
    nm_srv = ptest_start(NULL);
}

static void
nm_teardown(void)
{
    ptest_stop(nm_srv);
}

#define NM_BAD_TAB "Bad name: control character 0x09 at byte 4."

START_TEST(forged_variable_refused)
{
    struct rawc       a, b;
    struct rawc_reply r;

    PT_OPEN(&a, nm_srv->port, RAWC_PLAIN);
    PT_OPEN(&b, nm_srv->port, RAWC_PLAIN);
    PT_OK(&a, "use ws", "w", "", "no");
    PT_OK(&b, "use ws", "w", "", "no");
    PT_OK(&b, "store", "w", "real", "1", "v");
    PT_SHORT(&a, 1, NM_BAD_TAB, "store", "w", "evil\t999\t0\t0\tfifo\nresult", "1", "x");
    /* The other client's listing shows its one real variable, nothing forged. */
    PT_LONG(&b, &r, "list vars", "w");
    PT_IS_TEXT(&b, &r, "real\t1\t0\t0\tfifo");
    rawc_reply_free(&r);
    rawc_close(&a);
    rawc_close(&b);
}
END_TEST

START_TEST(every_command_refuses)
{
    struct rawc c;
    const char *bad[] = {"a\tb", "a\nb", "a\rb", "a\x01", "a\x7f"};
    char        why[96];
    size_t      i;

    PT_OPEN(&c, nm_srv->port, RAWC_PLAIN);
    PT_OK(&c, "use ws", "w", "", "no");
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        const char *n = bad[i];

        snprintf(why, sizeof(why), "Bad name: control character 0x%02x at byte 1.",
                 (unsigned char)n[1]);
        PT_SHORT(&c, 1, why, "open ws", n, "1", "no");
        PT_SHORT(&c, 1, why, "use ws", n, "", "no");
        PT_SHORT(&c, 1, why, "delete ws", n);
        PT_SHORT(&c, 1, why, "store", "w", n, "1", "x");
        PT_SHORT(&c, 1, why, "declare var", "w", n, "fifo");
        PT_SHORT(&c, 1, why, "delete var", "w", n);
        PT_LERR(&c, 1, why, "fetch", "w", n);
        PT_LERR(&c, 1, why, "fetchTry", "w", n);
        PT_LERR(&c, 1, why, "find", "w", n);
        PT_LERR(&c, 1, why, "findTry", "w", n);
        PT_LERR(&c, 1, why, "ifetchTry", "w", n, "", "0");
        PT_LERR(&c, 1, why, "ifindTry", "w", n, "", "0");
        PT_LERR(&c, 1, why, "list wss", n);
        PT_LERR(&c, 1, why, "list vars", n);
        PT_SHORT(&c, 1, "Bad owner label: it holds a control character.", "open ws", "o", n,
                 "no");
    }
    PT_LERR(&c, 1, "mktemp: bad template \"t\t%d\".", "mktemp ws", "t\t%d");
    /* Nothing was made on the way. */
    PT_WAIT_WS(&c, "o", 0);
    rawc_close(&c);
}
END_TEST

/* A "%c" template never makes a name with a control character. */
START_TEST(mktemp_skips_control_characters)
{
    struct rawc       c;
    struct rawc_reply r;

    PT_OPEN(&c, nm_srv->port, RAWC_PLAIN);
    PT_LONG(&c, &r, "mktemp ws", "t%c");
    ck_assert_int_eq(r.status, 0);
    ck_assert_uint_ge(r.len, 2);
    ck_assert_msg((unsigned char)r.value[1] >= 0x20 && (unsigned char)r.value[1] != 0x7f,
                  "mktemp made a name with byte 0x%02x", (unsigned char)r.value[1]);
    rawc_reply_free(&r);
    rawc_close(&c);
}
END_TEST

/* ---- the nws CLI against a fake server with odd listing lines ---- */

/* Reads exactly n bytes or exits the fake server. */
static void
nm_fake_read(int fd, void *buf, size_t n)
{
    if (nwstest_read_exact(fd, buf, n) != 0)
        _exit(4);
}

/* Reads one request (no metadata); returns argv[0] in cmd. */
static void
nm_fake_request(int fd, char *cmd, size_t cap)
{
    char     num[21], arg[256];
    unsigned argc, i;
    size_t   len;

    nm_fake_read(fd, num, 4);
    num[4] = '\0';
    argc = (unsigned)strtoul(num, NULL, 10);
    for (i = 0; i < argc; i++) {
        nm_fake_read(fd, num, 20);
        num[20] = '\0';
        len = strtoul(num, NULL, 10);
        if (len >= sizeof(arg))
            _exit(6);
        nm_fake_read(fd, arg, len);
        arg[len] = '\0';
        if (i == 0) {
            if (len >= cap)
                _exit(6);
            memcpy(cmd, arg, len + 1);
        }
    }
}

static void
nm_fake_short(int fd)
{
    if (nwstest_write_all(fd, "0000", 4) != 0)
        _exit(5);
}

/* A long DIRECT_STRING reply, blank cookie. */
static void
nm_fake_text(int fd, const char *s)
{
    char hdr[128];
    int  n;

    n = snprintf(hdr, sizeof(hdr), "0000%020d%20s%020d%020zu", 1, "", 0, strlen(s));
    if (nwstest_write_all(fd, hdr, (size_t)n) != 0 || nwstest_write_all(fd, s, strlen(s)) != 0)
        _exit(5);
}

/* Plays a server whose listings hold names with TAB and LF. */
static void
nm_fake_play(int fd)
{
    char buf[64], cmd[64];

    nm_fake_read(fd, buf, 4);
    if (nwstest_write_all(fd, "P0000000", 8) != 0)
        _exit(5);
    nm_fake_read(fd, buf, 8);
    if (nwstest_write_all(fd, "A000", 4) != 0)
        _exit(5);
    for (;;) {
        nm_fake_request(fd, cmd, sizeof(cmd));
        if (strcmp(cmd, "list wss") == 0)
            nm_fake_text(fd, " __default\t[system]\tTrue\t0\t\n"
                             " a\n"
                             "b\tIPv4Address(TCP, '127.0.0.1', 1) (1)\tFalse\t1\tv\n"
                             " evil\tx\t\tFalse\t0\t\n"
                             " good\t\tFalse\t0\t\n");
        else if (strcmp(cmd, "list vars") == 0)
            nm_fake_text(fd, "a\nb\t1\t0\t0\tfifo\nok\t2\t0\t0\tfifo\nbad\tx\t0\t0\tfifo");
        else if (strcmp(cmd, "use ws") == 0 || strcmp(cmd, "open ws") == 0)
            nm_fake_short(fd);
        else
            _exit(7);
    }
}

/* Runs nws with args against a fake server; its exit code, stdout and stderr. */
static int
nm_run_nws(const char *sub, const char *arg, char *out, size_t ocap, char *err, size_t ecap)
{
    struct sockaddr_in sin;
    socklen_t          sl = sizeof(sin);
    char               nws[1024], port[16];
    int                lfd, fd, one = 1, po[2], pe[2], st;
    pid_t              fake, run;
    ssize_t            n;
    size_t             ol = 0, el = 0;

    lfd = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_int_ge(lfd, 0);
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(bind(lfd, (struct sockaddr *)&sin, sizeof(sin)), 0);
    ck_assert_int_eq(listen(lfd, 4), 0);
    ck_assert_int_eq(getsockname(lfd, (struct sockaddr *)&sin, &sl), 0);
    snprintf(port, sizeof(port), "%d", ntohs(sin.sin_port));
    if ((fake = fork()) == 0) {
        alarm(20);
        if ((fd = accept(lfd, NULL, NULL)) < 0)
            _exit(8);
        nm_fake_play(fd);
        _exit(0);
    }
    close(lfd);
    ck_assert_int_eq(pipe(po), 0);
    ck_assert_int_eq(pipe(pe), 0);
    nwstest_bin("nws", nws, sizeof(nws));
    if ((run = fork()) == 0) {
        dup2(po[1], 1);
        dup2(pe[1], 2);
        close(po[0]);
        close(pe[0]);
        alarm(20);
        if (arg != NULL)
            execl(nws, "nws", "-p", port, sub, arg, (char *)NULL);
        else
            execl(nws, "nws", "-p", port, sub, (char *)NULL);
        _exit(127);
    }
    close(po[1]);
    close(pe[1]);
    while (ol + 1 < ocap && (n = read(po[0], out + ol, ocap - ol - 1)) > 0)
        ol += (size_t)n;
    while (el + 1 < ecap && (n = read(pe[0], err + el, ecap - el - 1)) > 0)
        el += (size_t)n;
    out[ol] = err[el] = '\0';
    close(po[0]);
    close(pe[0]);
    ck_assert_int_eq(waitpid(run, &st, 0), run);
    kill(fake, SIGKILL);
    waitpid(fake, NULL, 0);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

START_TEST(nws_ls_survives_odd_lines)
{
    char out[4096], err[4096];
    int  rc = nm_run_nws("ls", NULL, out, sizeof(out), err, sizeof(err));

    ck_assert_msg(rc == 0, "nws ls exited %d: %s", rc, err);
    ck_assert_str_eq(out, "__default\t[system]\tTrue\t0\t\ngood\t\tFalse\t0\t\n");
    ck_assert_msg(strstr(err, "skipped 3 malformed listing lines") != NULL, "stderr: %s", err);
}
END_TEST

START_TEST(nws_vars_survives_odd_lines)
{
    char out[4096], err[4096];
    int  rc = nm_run_nws("vars", "w", out, sizeof(out), err, sizeof(err));

    ck_assert_msg(rc == 0, "nws vars exited %d: %s", rc, err);
    ck_assert_str_eq(out, "b\t1\t0\t0\tfifo\nok\t2\t0\t0\tfifo\n");
    ck_assert_msg(strstr(err, "skipped 2 malformed listing lines") != NULL, "stderr: %s", err);
}
END_TEST

NWSTEST_SUITE(proto_names)
{
    Suite *s = suite_create("proto_names");
    TCase *tc = tcase_create("server");

    tcase_add_checked_fixture(tc, nm_setup, nm_teardown);
    tcase_add_test(tc, forged_variable_refused);
    tcase_add_test(tc, every_command_refuses);
    tcase_add_test(tc, mktemp_skips_control_characters);
    suite_add_tcase(s, tc);
    tc = tcase_create("cli");
    tcase_add_test(tc, nws_ls_survives_odd_lines);
    tcase_add_test(tc, nws_vars_survives_odd_lines);
    suite_add_tcase(s, tc);
    return s;
}
