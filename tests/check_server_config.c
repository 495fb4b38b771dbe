/*
 * check_server_config.c -- nwsserver --config FILE (server/config.c) and
 * its readiness notification (server/notify.c), on real server processes:
 * the file's options take effect, quoting and comments, flags, the command
 * line winning over the file, errors naming FILE:LINE, and READY=1 sent to
 * $NOTIFY_SOCKET as systemd's Type=notify expects.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "nwstest.h"

/* A private directory per test, removed (one level) at the end. */
static char srvconf_dir[256];

static void
srvconf_setup(void)
{
    snprintf(srvconf_dir, sizeof(srvconf_dir), "/tmp/nwsconf.XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(srvconf_dir));
}

static void
srvconf_teardown(void)
{
    char           path[600];
    DIR           *d = opendir(srvconf_dir);
    struct dirent *e;

    while (d != NULL && (e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        snprintf(path, sizeof(path), "%s/%s", srvconf_dir, e->d_name);
        unlink(path);
    }
    if (d != NULL)
        closedir(d);
    rmdir(srvconf_dir);
}

/* Writes text to srvconf_dir/name, with mode; the path goes to path. */
static void
srvconf_write(const char *name, const char *text, mode_t mode, char *path, size_t len)
{
    int fd;

    snprintf(path, len, "%s/%s", srvconf_dir, name);
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
}

/*
 * Runs nwsserver with args (NULL-terminated) and env (NULL or "NAME=value"),
 * reads its first line of output into line ("" if it printed none), then
 * stops it with SIGTERM if it still runs.  stderr goes to err.  Returns the
 * exit status: 0 after a clean stop, 2 for a refused configuration.
 */
static int
srvconf_run(const char *const *args, const char *env, char *line, size_t linelen,
            char *err, size_t errlen)
{
    char        bin[512], *text;
    const char *argv[32];
    int         po[2], efd = nwstest_tmpfile(), status, i;
    pid_t       pid;
    FILE       *fp;

    argv[0] = nwstest_bin("nwsserver", bin, sizeof(bin));
    for (i = 0; args[i] != NULL && i < 30; i++)
        argv[i + 1] = args[i];
    argv[i + 1] = NULL;
    ck_assert_int_eq(pipe(po), 0);
    if ((pid = fork()) == 0) {
        dup2(po[1], 1);
        dup2(efd, 2);
        close(po[0]);
        close(po[1]);
        if (env != NULL)
            putenv((char *)env);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    close(po[1]);
    fp = fdopen(po[0], "r");
    line[0] = '\0';
    if (fgets(line, (int)linelen, fp) == NULL)
        line[0] = '\0';
    if (line[0] != '\0')
        kill(pid, SIGTERM);
    fclose(fp);
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    text = nwstest_slurp(efd, NULL);
    snprintf(err, errlen, "%s", text);
    free(text);
    close(efd);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* Is there a file whose name starts with prefix in dir? */
static int
srvconf_has_file(const char *dir, const char *prefix)
{
    DIR           *d = opendir(dir);
    struct dirent *e;
    int            found = 0;

    while (d != NULL && (e = readdir(d)) != NULL)
        found |= strncmp(e->d_name, prefix, strlen(prefix)) == 0;
    if (d != NULL)
        closedir(d);
    return found;
}

/*
 * Every kind of line: comments (whole and after a value), blank lines, a
 * quoted path with a space, flags bare and with yes/no, sizes, paths.
 * Each option is seen in effect: the ready line, the secret file used,
 * the spool directory holding the server's suffix file.
 */
START_TEST(file_options_take_effect)
{
    char        conf[400], secret[400], text[2048], line[512], err[8192];
    const char *args[] = {"--config", conf, NULL};

    srvconf_write("my secret", "0123456789abcdef0123456789abcdef\n", 0600, secret,
                  sizeof(secret));
    snprintf(text, sizeof(text),
             "# nwsserver test configuration\n"
             "\n"
             "   # an indented comment\n"
             "port 0\n"
             "bind 127.0.0.1   # a comment after a value\n"
             "no-web\n"
             "web-readonly no\n"
             "tmpdir '%s'\n"
             "auth-file \"%s\"\n"
             "max-value-size 1K\n"
             "log-level\twarn\n",
             srvconf_dir, secret);
    srvconf_write("nws.conf", text, 0644, conf, sizeof(conf));
    ck_assert_int_eq(srvconf_run(args, NULL, line, sizeof(line), err, sizeof(err)), 0);
    ck_assert_msg(strncmp(line, "nwsserver ready: port=", 22) == 0 &&
                      strstr(line, " web-port=off ") != NULL &&
                      strstr(line, " bind=127.0.0.1 ") != NULL &&
                      strstr(line, " auth=on") != NULL,
                  "ready line: %s\nstderr: %s", line, err);
    /* The file's log level (warn) hides the info lines of start-up. */
    ck_assert_msg(strstr(err, "listening on") == NULL, "stderr: %s", err);
}
END_TEST

/* The tmpdir of the file is where the server keeps its suffix file. */
START_TEST(file_tmpdir_is_used)
{
    char conf[400], text[1024], line[512];

    snprintf(text, sizeof(text), "port 0\nno-web yes\ntmpdir %s\nlog-level error\n",
             srvconf_dir);
    srvconf_write("nws.conf", text, 0644, conf, sizeof(conf));
    /* The suffix file exists while the server runs: look before stopping it. */
    {
        char        bin[512];
        const char *argv[] = {nwstest_bin("nwsserver", bin, sizeof(bin)), "--no-auth",
                              "--config", conf, NULL};
        int         po[2], status, seen;
        pid_t       pid;
        FILE       *fp;

        ck_assert_int_eq(pipe(po), 0);
        if ((pid = fork()) == 0) {
            dup2(po[1], 1);
            close(po[0]);
            execv(argv[0], (char *const *)argv);
            _exit(127);
        }
        close(po[1]);
        fp = fdopen(po[0], "r");
        ck_assert_ptr_nonnull(fgets(line, sizeof(line), fp));
        seen = srvconf_has_file(srvconf_dir, "__nwss");
        kill(pid, SIGTERM);
        fclose(fp);
        waitpid(pid, &status, 0);
        ck_assert_msg(seen, "no suffix file in %s (ready: %s)", srvconf_dir, line);
    }
}
END_TEST

/* The command line wins over the file, wherever --config stands in it. */
START_TEST(command_line_wins)
{
    char        conf[400], opt[420], line[512], err[8192];
    const char *before[] = {"--config", conf, "--bind", "127.0.0.1", NULL};
    const char *after[] = {"--bind", "127.0.0.1", opt, NULL};

    srvconf_write(
        "nws.conf",
        "port 0\nweb-port 0\nbind 127.0.0.2\nno-auth\nlog-level error\nno-web\n", 0644,
        conf, sizeof(conf));
    ck_assert_int_eq(srvconf_run(before, NULL, line, sizeof(line), err, sizeof(err)), 0);
    ck_assert_msg(strstr(line, " bind=127.0.0.1 ") != NULL, "ready: %s\n%s", line, err);
    snprintf(opt, sizeof(opt), "--config=%s", conf);
    ck_assert_int_eq(srvconf_run(after, NULL, line, sizeof(line), err, sizeof(err)), 0);
    ck_assert_msg(strstr(line, " bind=127.0.0.1 ") != NULL, "ready: %s\n%s", line, err);
    /* And without a command-line --bind, the file's address is used. */
    {
        const char *only[] = {"--config", conf, NULL};

        ck_assert_int_eq(srvconf_run(only, NULL, line, sizeof(line), err, sizeof(err)),
                         0);
        ck_assert_msg(strstr(line, " bind=127.0.0.2 ") != NULL, "ready: %s\n%s", line,
                      err);
    }
}
END_TEST

/* Each error of the file names the file and the line, exit status 2. */
START_TEST(errors_name_file_and_line)
{
    static const struct {
        const char *text, *want;
    } cases[] = {
        {"port 0\n\nnosuch 1\n", ":3: unknown option nosuch"},
        {"# c\nport\n", ":2: port needs a value"},
        {"no-web maybe\n", ":1: no-web takes no value, or yes or no"},
        {"tmpdir \"/tmp\n", ":1: unterminated quote"},
        {"tmpdir \"/tmp\" x\n", ":1: text after the closing quote"},
        {"port 0\nconfig /etc/other.conf\n", ":2: config is not allowed in a file"},
        {"help\n", ":1: help is not allowed in a file"},
        /* A value the option refuses: main's message, then where it came from. */
        {"log-level error\n\n\nport 70000\n", "bad port: 70000"},
        {"no-web\nmax-memory 12Q\n", "bad size: 12Q"},
    };
    static const char *const where[] = {NULL, NULL, NULL,   NULL,  NULL,
                                        NULL, NULL, ":4\n", ":2\n"};
    char                     conf[400], line[512], err[8192], want[600];
    const char              *args[] = {"--config", conf, NULL};
    size_t                   i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        srvconf_write("bad.conf", cases[i].text, 0644, conf, sizeof(conf));
        ck_assert_int_eq(srvconf_run(args, NULL, line, sizeof(line), err, sizeof(err)),
                         2);
        ck_assert_str_eq(line, "");
        if (where[i] == NULL)
            snprintf(want, sizeof(want), "nwsserver: %s%s\n", conf, cases[i].want);
        else
            snprintf(want, sizeof(want), "nwsserver: %s\n", cases[i].want);
        ck_assert_msg(strstr(err, want) != NULL, "case %zu: want %s, got:\n%s", i, want,
                      err);
        if (where[i] != NULL) {
            snprintf(want, sizeof(want), "that value comes from %s%s", conf, where[i]);
            ck_assert_msg(strstr(err, want) != NULL, "case %zu: want %s, got:\n%s", i,
                          want, err);
        }
    }
    /* A bad value on the command line is not blamed on the file. */
    {
        const char *cl[] = {"--config", conf, "--port", "70000", NULL};

        srvconf_write("ok.conf", "no-web\n", 0644, conf, sizeof(conf));
        ck_assert_int_eq(srvconf_run(cl, NULL, line, sizeof(line), err, sizeof(err)), 2);
        ck_assert_msg(strstr(err, "bad port: 70000") != NULL &&
                          strstr(err, "comes from") == NULL,
                      "stderr: %s", err);
    }
    /* A file that cannot be read, a --config without a file, two of them. */
    {
        const char *missing[] = {"--config", "/nonexistent/nws.conf", NULL};
        const char *novalue[] = {"--config", NULL};
        const char *twice[] = {"--config", conf, "--config", conf, NULL};

        ck_assert_int_eq(srvconf_run(missing, NULL, line, sizeof(line), err, sizeof(err)),
                         2);
        ck_assert_ptr_nonnull(strstr(err, "cannot read /nonexistent/nws.conf"));
        ck_assert_int_eq(srvconf_run(novalue, NULL, line, sizeof(line), err, sizeof(err)),
                         2);
        ck_assert_ptr_nonnull(strstr(err, "option --config needs a value"));
        ck_assert_int_eq(srvconf_run(twice, NULL, line, sizeof(line), err, sizeof(err)),
                         2);
        ck_assert_ptr_nonnull(strstr(err, "--config given twice"));
    }
}
END_TEST

/*
 * The packaged example file is accepted as it ships, but for its secret's
 * path (made by the package) pointed at a file of the test.
 */
START_TEST(example_file_is_valid)
{
    char        example[600], conf[400], secret[400], line[512], err[8192], *text, *at;
    const char *src = getenv("NWS_SRC_DIR");
    const char *args[] = {"--config", conf,       "--port",    "0", "--web-port",
                          "0",        "--tmpdir", srvconf_dir, NULL};
    FILE       *out;
    int         fd;

    snprintf(example, sizeof(example), "%s/etc/nwsserver.conf", src != NULL ? src : ".");
    ck_assert_int_ge(fd = open(example, O_RDONLY), 0);
    text = nwstest_slurp(fd, NULL);
    close(fd);
    ck_assert_ptr_nonnull(at = strstr(text, "\nauth-file /etc/nws/secret\n"));
    srvconf_write("secret", "0123456789abcdef0123456789abcdef\n", 0600, secret,
                  sizeof(secret));
    snprintf(conf, sizeof(conf), "%s/example.conf", srvconf_dir);
    ck_assert_ptr_nonnull(out = fopen(conf, "w"));
    fprintf(out, "%.*s\nauth-file %s\n%s", (int)(at - text), text, secret,
            at + strlen("\nauth-file /etc/nws/secret\n"));
    fclose(out);
    free(text);
    ck_assert_int_eq(srvconf_run(args, NULL, line, sizeof(line), err, sizeof(err)), 0);
    ck_assert_msg(strncmp(line, "nwsserver ready:", 16) == 0 && strstr(line, "auth=on"),
                  "ready: %s\n%s", line, err);
}
END_TEST

/* Receives one datagram on fd within a few seconds into buf; its length or -1. */
static ssize_t
srvconf_recv(int fd, char *buf, size_t len)
{
    struct timeval tv = {10, 0};
    ssize_t        n;

    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    n = recv(fd, buf, len - 1, 0);
    buf[n > 0 ? n : 0] = '\0';
    return n;
}

/*
 * Type=notify: with $NOTIFY_SOCKET set (a path, or an abstract '@' name)
 * the server sends READY=1 with its pid once it listens.
 */
START_TEST(notify_socket_gets_ready)
{
    struct sockaddr_un sa;
    char               env[300], line[512], err[8192], msg[512], want[64];
    const char *args[] = {"--port",    "0",           "--no-web", "--no-auth", "--tmpdir",
                          srvconf_dir, "--log-level", "error",    NULL};
    int         fd, pass;

    for (pass = 0; pass < 2; pass++) {
        memset(&sa, 0, sizeof(sa));
        sa.sun_family = AF_UNIX;
        if (pass == 0) {
            ck_assert_int_lt(strlen(srvconf_dir) + 8, sizeof(sa.sun_path));
            memcpy(sa.sun_path, srvconf_dir, strlen(srvconf_dir));
            memcpy(sa.sun_path + strlen(srvconf_dir), "/notify", 7);
        } else
            snprintf(sa.sun_path + 1, sizeof(sa.sun_path) - 1, "nwstest-notify-%d",
                     (int)getpid());
        fd = socket(AF_UNIX, SOCK_DGRAM, 0);
        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa,
                              pass == 0
                                  ? sizeof(sa)
                                  : (socklen_t)(offsetof(struct sockaddr_un, sun_path) +
                                                1 + strlen(sa.sun_path + 1))),
                         0);
        snprintf(env, sizeof(env), "NOTIFY_SOCKET=%s%s", pass == 0 ? "" : "@",
                 sa.sun_path + pass);
        ck_assert_int_eq(srvconf_run(args, env, line, sizeof(line), err, sizeof(err)), 0);
        ck_assert_msg(srvconf_recv(fd, msg, sizeof(msg)) > 0, "no notification (%s)",
                      env);
        ck_assert_msg(strncmp(msg, "READY=1\n", 8) == 0, "got %s", msg);
        /* MAINPID is the pid of the ready line. */
        snprintf(want, sizeof(want), "MAINPID=%d\n", atoi(strstr(line, " pid=") + 5));
        ck_assert_msg(strstr(msg, want) != NULL, "got %s, want %s", msg, want);
        close(fd);
        if (pass == 0)
            unlink(sa.sun_path);
    }
}
END_TEST

NWSTEST_SUITE(server_config)
{
    Suite *s = suite_create("server_config");
    TCase *tc = tcase_create("config");

    tcase_set_timeout(tc, 30);
    tcase_add_checked_fixture(tc, srvconf_setup, srvconf_teardown);
    tcase_add_test(tc, file_options_take_effect);
    tcase_add_test(tc, file_tmpdir_is_used);
    tcase_add_test(tc, command_line_wins);
    tcase_add_test(tc, errors_name_file_and_line);
    tcase_add_test(tc, example_file_is_valid);
    tcase_add_test(tc, notify_socket_gets_ready);
    suite_add_tcase(s, tc);
    return s;
}
