/*
 * check_server_cli.c -- nwsserver's command line: options, environment,
 * the ready line, --r-startup, --daemon with --pidfile, signals, and the
 * errors a person starting it should see.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "nws.h"
#include "nwstest.h"

/* Runs nwsserver with argv (NULL-terminated, argv[0] ignored) and env additions;
 * collects stdout into out and stderr into err; returns the exit status or -1. */
static int
srvcli_run(const char *const *args, const char *env, char *out, size_t outlen, char *err,
           size_t errlen)
{
    char        bin[512];
    const char *argv[32];
    int         po[2], pe[2], status, i, n;
    pid_t       pid;
    ssize_t     r;
    size_t      ol = 0, el = 0;

    argv[0] = nwstest_bin("nwsserver", bin, sizeof(bin));
    for (i = 0; args[i] != NULL && i < 30; i++)
        argv[i + 1] = args[i];
    argv[i + 1] = NULL;
    if (pipe(po) != 0 || pipe(pe) != 0)
        return -1;
    if ((pid = fork()) == 0) {
        dup2(po[1], 1);
        dup2(pe[1], 2);
        close(po[0]);
        close(pe[0]);
        close(po[1]);
        close(pe[1]);
        if (env != NULL)
            putenv((char *)env);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    close(po[1]);
    close(pe[1]);
    for (n = 0; n < 2; n++) {
        int fd = n == 0 ? po[0] : pe[0];

        while ((r = read(fd, n == 0 ? out + ol : err + el,
                         (n == 0 ? outlen - ol : errlen - el) - 1)) > 0) {
            if (n == 0)
                ol += (size_t)r;
            else
                el += (size_t)r;
        }
        close(fd);
    }
    out[ol] = '\0';
    err[el] = '\0';
    if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
        return -1;
    return WEXITSTATUS(status);
}

START_TEST(version_help_and_usage_errors)
{
    char out[8192], err[8192];
    const char *version[] = {"--version", NULL};
    const char *help[] = {"--help", NULL};
    const char *bad[] = {"--no-such-option", NULL};
    const char *badport[] = {"--port", "70000", NULL};
    const char *badsize[] = {"--max-memory", "12Q", NULL};
    const char *extra[] = {"stray", NULL};

    ck_assert_int_eq(srvcli_run(version, NULL, out, sizeof(out), err, sizeof(err)), 0);
    ck_assert_msg(strncmp(out, "nwsserver ", 10) == 0, "version: %s", out);
    ck_assert_int_eq(srvcli_run(help, NULL, out, sizeof(out), err, sizeof(err)), 0);
    ck_assert_ptr_nonnull(strstr(out, "--bind ADDR"));
    ck_assert_ptr_nonnull(strstr(out, "--max-memory"));
    ck_assert_int_eq(srvcli_run(bad, NULL, out, sizeof(out), err, sizeof(err)), 2);
    ck_assert_int_eq(srvcli_run(badport, NULL, out, sizeof(out), err, sizeof(err)), 2);
    ck_assert_ptr_nonnull(strstr(err, "bad port"));
    ck_assert_int_eq(srvcli_run(badsize, NULL, out, sizeof(out), err, sizeof(err)), 2);
    ck_assert_ptr_nonnull(strstr(err, "bad size"));
    ck_assert_int_eq(srvcli_run(extra, NULL, out, sizeof(out), err, sizeof(err)), 2);
}
END_TEST

/* Counts the lines of s. */
static int
srvcli_lines(const char *s)
{
    int n = 0;

    for (; *s != '\0'; s++)
        n += *s == '\n';
    return n;
}

/* A bad command line gets one line saying what is wrong, named "nwsserver:"
 * (not by its path, as getopt does), and a pointer to --help: not the help. */
START_TEST(bad_option_is_one_line)
{
    char        out[8192], err[8192];
    const char *bad[] = {"--no-such-option", NULL};
    const char *badshort[] = {"-x", NULL};
    const char *noarg[] = {"--port", NULL};
    const char *extra[] = {"stray", NULL};
    const char *const *cases[] = {bad, badshort, noarg, extra};
    const char *want[] = {"nwsserver: unknown option --no-such-option\n",
                          "nwsserver: unknown option -x\n",
                          "nwsserver: option --port needs a value\n",
                          "nwsserver: unexpected argument stray\n"};
    size_t      i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        ck_assert_int_eq(srvcli_run(cases[i], NULL, out, sizeof(out), err, sizeof(err)), 2);
        ck_assert_msg(srvcli_lines(err) == 2 && strncmp(err, want[i], strlen(want[i])) == 0 &&
                          strstr(err, "Try 'nwsserver --help'.\n") != NULL,
                      "stderr for %s:\n%s", cases[i][0], err);
        ck_assert_str_eq(out, "");
    }
}
END_TEST

/* With its web port taken the server still serves, and says plainly that it
 * has no web interface: web-port=unavailable, not web-port=0 ("any"). */
START_TEST(web_port_taken_said_plainly)
{
    struct sockaddr_in sin;
    socklen_t          len = sizeof(sin);
    char               bin[512], line[256], web[16], err[8192];
    int                po[2], pe[2], status, lfd = socket(AF_INET, SOCK_STREAM, 0), fd;
    ssize_t            n;
    size_t             el = 0;
    pid_t              pid;
    FILE              *fp;
    const char        *argv[] = {nwstest_bin("nwsserver", bin, sizeof(bin)), "--port", "0",
                                 "--web-port", web, NULL};

    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(bind(lfd, (struct sockaddr *)&sin, sizeof(sin)), 0);
    ck_assert_int_eq(listen(lfd, 1), 0);
    ck_assert_int_eq(getsockname(lfd, (struct sockaddr *)&sin, &len), 0);
    snprintf(web, sizeof(web), "%d", ntohs(sin.sin_port));
    ck_assert_int_eq(pipe(po), 0);
    ck_assert_int_eq(pipe(pe), 0);
    if ((pid = fork()) == 0) {
        dup2(po[1], 1);
        dup2(pe[1], 2);
        close(po[0]);
        close(pe[0]);
        close(po[1]);
        close(pe[1]);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    close(po[1]);
    close(pe[1]);
    fp = fdopen(po[0], "r");
    ck_assert_ptr_nonnull(fgets(line, sizeof(line), fp));
    ck_assert_msg(strstr(line, " web-port=unavailable ") != NULL, "ready line: %s", line);
    fd = nwstest_connect(atoi(strstr(line, " port=") + 6), 5);
    ck_assert_int_ge(fd, 0); /* the protocol port serves */
    close(fd);
    kill(pid, SIGTERM);
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    fclose(fp);
    while ((n = read(pe[0], err + el, sizeof(err) - 1 - el)) > 0)
        el += (size_t)n;
    err[el] = '\0';
    close(pe[0]);
    close(lfd);
    ck_assert_msg(strstr(err, "WITHOUT the web interface") != NULL, "stderr: %s", err);
    ck_assert_msg(strstr(err, web) != NULL, "stderr does not name port %s: %s", web, err);
}
END_TEST

START_TEST(port_in_use_is_a_clear_error)
{
    struct nwstest_server s;
    char                  out[8192], err[8192], port[16];
    const char           *args[] = {"--port", port, "--web-port", "0", NULL};

    ck_assert_int_eq(nwstest_server_start(&s, NULL), 0);
    snprintf(port, sizeof(port), "%d", s.port);
    ck_assert_int_eq(srvcli_run(args, NULL, out, sizeof(out), err, sizeof(err)), 1);
    ck_assert_msg(strstr(err, "cannot listen") != NULL, "stderr: %s", err);
    ck_assert_int_eq(nwstest_server_stop(&s), 0);
}
END_TEST

/*
 * The classic environment variables choose the ports when no flag does.
 * Both are 0 ("pick a free one"): a port chosen by the test and released
 * before the server binds it could be taken by anyone meanwhile (the flake
 * this replaced).  Ignored variables would mean the defaults, 8765 and 8766,
 * so the ready line's ports must be others, and the protocol port must
 * answer.
 */
START_TEST(environment_is_honoured)
{
    char        bin[512], line[256];
    const char *p;
    int         pfd[2], status, port, web, fd;
    pid_t       pid;
    FILE       *fp;
    const char *argv[] = {nwstest_bin("nwsserver", bin, sizeof(bin)), NULL};

    ck_assert_int_eq(pipe(pfd), 0);
    if ((pid = fork()) == 0) {
        dup2(pfd[1], 1);
        close(pfd[0]);
        close(pfd[1]);
        putenv((char *)"NWS_SERVER_PORT=0");
        putenv((char *)"NWS_WEB_PORT=0");
        putenv((char *)"NWS_INTERFACE=127.0.0.1");
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    close(pfd[1]);
    fp = fdopen(pfd[0], "r");
    ck_assert_ptr_nonnull(fgets(line, sizeof(line), fp));
    fclose(fp);
    ck_assert_msg((p = strstr(line, " port=")) != NULL &&
                      sscanf(p, " port=%d", &port) == 1,
                  "ready line: %s", line);
    ck_assert_msg((p = strstr(line, " web-port=")) != NULL &&
                      sscanf(p, " web-port=%d", &web) == 1,
                  "ready line: %s", line);
    ck_assert_msg(strstr(line, " bind=127.0.0.1 ") != NULL, "ready line: %s", line);
    ck_assert_msg(port > 0 && port != NWS_DEFAULT_PORT, "ready line: %s", line);
    ck_assert_msg(web > 0 && web != 8766 && web != port, "ready line: %s", line);
    ck_assert_int_ge(fd = nwstest_connect(port, 5), 0);
    close(fd);
    kill(pid, SIGTERM);
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}
END_TEST

START_TEST(r_startup_prints_four_lines)
{
    char        bin[512], line[4][64];
    int         pfd[2], status, i;
    pid_t       pid;
    FILE       *fp;
    const char *argv[] = {nwstest_bin("nwsserver", bin, sizeof(bin)), "--r-startup",
                          "--port", "0", "--web-port", "0", NULL};

    ck_assert_int_eq(pipe(pfd), 0);
    if ((pid = fork()) == 0) {
        dup2(pfd[1], 1);
        close(pfd[0]);
        close(pfd[1]);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    close(pfd[1]);
    fp = fdopen(pfd[0], "r");
    for (i = 0; i < 4; i++)
        ck_assert_ptr_nonnull(fgets(line[i], sizeof(line[i]), fp));
    /* Then standard output is closed, as R's startServer() expects. */
    ck_assert_int_eq(fgetc(fp), EOF);
    fclose(fp);
    ck_assert_int_gt(atoi(line[0]), 0);
    ck_assert_int_eq(atoi(line[2]), (int)pid);
    ck_assert_str_eq(line[3], "127.0.0.1\n");
    i = nwstest_connect(atoi(line[0]), 5);
    ck_assert_int_ge(i, 0);
    close(i);
    kill(pid, SIGINT);
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}
END_TEST

START_TEST(daemon_with_pidfile)
{
    char        out[8192], err[8192], dir[] = "/tmp/nwsdaemon.XXXXXX", pidfile[256];
    char        portstr[16];
    const char *args[] = {"--daemon", "--port", "0", "--web-port", "0", "--pidfile",
                          pidfile, "--tmpdir", dir, NULL};
    FILE       *fp;
    int         pid = 0, i, fd;
    char       *p;
    struct stat st;

    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(pidfile, sizeof(pidfile), "%s/nws.pid", dir);
    /* The parent prints the ready line and exits; the daemon goes on. */
    ck_assert_int_eq(srvcli_run(args, NULL, out, sizeof(out), err, sizeof(err)), 0);
    ck_assert_ptr_nonnull(p = strstr(out, " port="));
    snprintf(portstr, sizeof(portstr), "%d", atoi(p + 6));
    /* The pid file is there once the parent is gone, and the ready line's
     * pid is the daemon's (it once was the parent's: the daemon's minus 1). */
    ck_assert_ptr_nonnull(fp = fopen(pidfile, "r"));
    if (fscanf(fp, "%d", &pid) != 1)
        pid = 0;
    fclose(fp);
    ck_assert_int_gt(pid, 0);
    ck_assert_ptr_nonnull(p = strstr(out, " pid="));
    ck_assert_msg(atoi(p + 5) == pid, "ready line says %s, the pid file %d", out, pid);
    ck_assert_int_eq(kill(pid, 0), 0);
    fd = nwstest_connect(atoi(portstr), 5);
    ck_assert_int_ge(fd, 0);
    close(fd);
    ck_assert_int_eq(kill(pid, SIGTERM), 0);
    for (i = 0; i < 300 && kill(pid, 0) == 0; i++)
        usleep(10000);
    ck_assert_msg(kill(pid, 0) == -1 && errno == ESRCH, "daemon still running");
    /* Clean shutdown removed the pid file and the mktemp suffix file. */
    ck_assert_int_eq(stat(pidfile, &st), -1);
    ck_assert_int_eq(rmdir(dir), 0);
}
END_TEST

NWSTEST_SUITE(server_cli)
{
    Suite *s = suite_create("server_cli");
    TCase *tc = tcase_create("options");

    tcase_set_timeout(tc, 20);
    tcase_add_test(tc, version_help_and_usage_errors);
    tcase_add_test(tc, bad_option_is_one_line);
    tcase_add_test(tc, web_port_taken_said_plainly);
    tcase_add_test(tc, port_in_use_is_a_clear_error);
    tcase_add_test(tc, environment_is_honoured);
    tcase_add_test(tc, r_startup_prints_four_lines);
    tcase_add_test(tc, daemon_with_pidfile);
    suite_add_tcase(s, tc);
    return s;
}
