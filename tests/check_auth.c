/*
 * check_auth.c -- the shared secret (nwsserver --auth-file, and the default
 * ~/.nws/secret): the handshake refuses clients that cannot answer its
 * challenge, old-style greetings are refused, a refused handshake changes
 * nothing, libnws answers from NWS_AUTH_FILE, ~/.nws/secret or the caller
 * and never sends the secret itself, sleigh workers inherit it, and the web
 * interface asks for it (HTTP Basic).
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "nws.h"
#include "nws_sleigh.h"
#include "nwstest.h"
#include "ptest.h"
#include "rawc.h"
#include "secret.h"

static struct nwstest_server *au_srv;
static char                   au_file[64];

static void
au_setup(void)
{
    const char *extra[] = {"--auth-file", au_file, NULL};
    FILE       *fp;
    int         fd;

    snprintf(au_file, sizeof(au_file), "/tmp/nwsauth.XXXXXX");
    ck_assert_int_ge(fd = mkstemp(au_file), 0);
    ck_assert_ptr_nonnull(fp = fdopen(fd, "w"));
    fputs("correct horse battery\n", fp);
    fclose(fp);
    au_srv = ptest_start(extra);
}

static void
au_teardown(void)
{
    ptest_stop(au_srv);
    unlink(au_file);
}

/* 1 if the advertisement of c carries a fresh "hmac-sha256:" NONCE challenge. */
static int
au_challenge(const struct rawc *c, char *nonce, size_t len)
{
    const char *v;
    size_t      vl, i;

    if (!rawc_dict_get(c->adv, c->adv_len, "NwsAuth", &v, &vl) || vl != 12 + 64 ||
        memcmp(v, "hmac-sha256:", 12) != 0)
        return 0;
    for (i = 12; i < vl; i++)
        if (strchr("0123456789abcdef", v[i]) == NULL)
            return 0;
    snprintf(nonce, len, "%.*s", 64, v + 12);
    return 1;
}

START_TEST(handshake_needs_the_secret)
{
    static const char *const none[] = {NULL};
    static const char *const plain[] = {"NwsAuth", "correct horse battery", NULL};
    struct rawc              c;
    char                     nonce1[65], nonce2[65];

    PT_OPEN(&c, au_srv->port, RAWC_NONE);
    ck_assert_int_eq(rawc_hs_new(&c, none), 1); /* 1: denied with F000 */
    ck_assert_msg(au_challenge(&c, nonce1, sizeof(nonce1)), "no NwsAuth challenge");
    rawc_close(&c);
    /* The secret itself is not an answer: it never needs to cross the wire. */
    PT_OPEN(&c, au_srv->port, RAWC_NONE);
    ck_assert_int_eq(rawc_hs_new(&c, plain), 1);
    ck_assert_msg(au_challenge(&c, nonce2, sizeof(nonce2)), "no NwsAuth challenge");
    ck_assert_msg(strcmp(nonce1, nonce2) != 0, "the same challenge twice: %s", nonce1);
    rawc_close(&c);
    PT_OPEN(&c, au_srv->port, RAWC_NONE);
    c.secret = "correct horse";
    ck_assert_int_eq(rawc_hs_new(&c, none), 1);
    rawc_close(&c);
    PT_OPEN(&c, au_srv->port, RAWC_NONE);
    c.secret = "correct horse battery";
    ck_assert_msg(rawc_hs_new(&c, none) == 0, "%s", c.err);
    PT_OK(&c, "use ws", "w", "", "no");
    PT_OK(&c, "store", "w", "x", "1", "in");
    PT_VALUE(&c, "in", "fetch", "w", "x");
    rawc_close(&c);
    /* The old 4-byte greeting has no room for a secret: closed, no "2223". */
    PT_OPEN(&c, au_srv->port, RAWC_NONE);
    PT_RC(&c, rawc_write(&c, "1112", 4));
    ck_assert_msg(rawc_expect_eof(&c, 3000) == 0, "%s", c.err);
    rawc_close(&c);
}
END_TEST

/*
 * Item 2 of "Trust under attack": a handshake refused for want of the
 * secret asked for KillServerOnClose; its close must not stop the server.
 */
START_TEST(refused_handshake_changes_nothing)
{
    static const char *const kill1[] = {"KillServerOnClose", "1", NULL};
    static const char *const kill_meta[] = {"MetadataToServer", "1", "KillServerOnClose",
                                            "1", NULL};
    struct rawc              ok, bad;

    PT_OPEN(&ok, au_srv->port, RAWC_NONE);
    ok.secret = "correct horse battery";
    ck_assert_msg(rawc_hs_new(&ok, (const char *const[]){NULL}) == 0, "%s", ok.err);
    PT_OK(&ok, "use ws", "w", "", "no");
    PT_OK(&ok, "store", "w", "keep", "1", "still here");
    /* No NwsAuth at all, then a wrong answer, each asking to kill the server. */
    PT_OPEN(&bad, au_srv->port, RAWC_NONE);
    ck_assert_int_eq(rawc_hs_new(&bad, kill1), 1);
    rawc_close(&bad);
    PT_OPEN(&bad, au_srv->port, RAWC_NONE);
    bad.secret = "not the secret";
    ck_assert_int_eq(rawc_hs_new(&bad, kill_meta), 1);
    rawc_close(&bad);
    /* A stopping server exits within milliseconds of the close: give it 1 s. */
    ck_assert_int_eq(ptest_wait_exit(au_srv, 1000), -1);
    PT_VALUE(&ok, "still here", "fetch", "w", "keep");
    rawc_close(&ok);
    PT_OPEN(&ok, au_srv->port, RAWC_NONE);
    ok.secret = "correct horse battery";
    ck_assert_msg(rawc_hs_new(&ok, (const char *const[]){NULL}) == 0, "%s", ok.err);
    rawc_close(&ok);
}
END_TEST

START_TEST(libnws_answers_the_challenge)
{
    nws_client *c;
    nws_error   err;
    char        home[64], path[128];
    struct stat st;

    /* No NWS_AUTH_FILE: the default file, made in a private HOME, is not the server's. */
    snprintf(home, sizeof(home), "/tmp/nwsauth-home.XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(home));
    setenv("HOME", home, 1);
    unsetenv("NWS_AUTH_FILE");
    c = nws_connect("127.0.0.1", au_srv->port, 0, &err);
    ck_assert_ptr_null(c);
    ck_assert_int_eq(err.code, NWS_ERR_HANDSHAKE);
    ck_assert_msg(strstr(err.text, "refused") != NULL, "%s", err.text);
    snprintf(path, sizeof(path), "%s/.nws", home);
    ck_assert_int_eq(stat(path, &st), 0);
    ck_assert_int_eq(st.st_mode & 0777, 0700);
    snprintf(path, sizeof(path), "%s/.nws/secret", home);
    ck_assert_int_eq(stat(path, &st), 0);
    ck_assert_int_eq(st.st_mode & 0777, 0600);
    ck_assert_int_eq(st.st_size, 65);
    c = nws_connect_auth("127.0.0.1", au_srv->port, 0, "nope", &err);
    ck_assert_ptr_null(c);
    ck_assert_msg(strstr(err.text, "refused") != NULL, "%s", err.text);
    c = nws_connect_auth("127.0.0.1", au_srv->port, 0, "correct horse battery", &err);
    ck_assert_msg(c != NULL, "%s", err.text);
    nws_close(c);
    setenv("NWS_AUTH_FILE", au_file, 1);
    c = nws_connect("127.0.0.1", au_srv->port, 0, &err);
    ck_assert_msg(c != NULL, "%s", err.text);
    nws_close(c);
    /* A secret file others may read is refused, as ssh refuses such a key. */
    chmod(au_file, 0644);
    c = nws_connect("127.0.0.1", au_srv->port, 0, &err);
    ck_assert_ptr_null(c);
    ck_assert_msg(strstr(err.text, "other users") != NULL, "%s", err.text);
    chmod(au_file, 0600);
    unlink(path);
    snprintf(path, sizeof(path), "%s/.nws", home);
    rmdir(path);
    rmdir(home);
}
END_TEST

/*
 * A fake server on a loopback port: advertises adv (a wire dictionary),
 * records what the client sends after "X000" into got, then refuses.
 * Returns the number of bytes recorded.
 */
static size_t
au_fake_server(const char *adv, size_t advlen, const char *secret, char *got, size_t len)
{
    struct sockaddr_in sa;
    socklen_t          sl = sizeof(sa);
    nws_client        *c;
    nws_error          err;
    int                lfd, fd, p[2], port;
    size_t             n = 0;
    ssize_t            r;
    pid_t              pid;

    ck_assert_int_ge(lfd = socket(AF_INET, SOCK_STREAM, 0), 0);
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    ck_assert_int_eq(listen(lfd, 1), 0);
    ck_assert_int_eq(getsockname(lfd, (struct sockaddr *)&sa, &sl), 0);
    port = ntohs(sa.sin_port);
    ck_assert_int_eq(pipe(p), 0);
    ck_assert_int_ge(pid = fork(), 0);
    if (pid == 0) {
        char buf[4096];

        close(p[0]);
        alarm(20);
        if ((fd = accept(lfd, NULL, NULL)) < 0 || read(fd, buf, 4) != 4 ||
            write(fd, "P000", 4) != 4 || write(fd, adv, advlen) != (ssize_t)advlen)
            _exit(1);
        /* Whatever the client answers, until it gives up. */
        while ((r = read(fd, buf, sizeof(buf))) > 0) {
            if (write(p[1], buf, (size_t)r) != r)
                _exit(1);
            if (r >= 4 && memcmp(buf, "R000", 4) == 0 && write(fd, "F000", 4) != 4)
                _exit(1);
        }
        _exit(0);
    }
    close(p[1]);
    close(lfd);
    c = nws_connect_auth("127.0.0.1", port, 0, secret, &err);
    ck_assert_ptr_null(c);
    while (n < len - 1 && (r = read(p[0], got + n, len - 1 - n)) > 0)
        n += (size_t)r;
    got[n] = '\0';
    close(p[0]);
    waitpid(pid, NULL, 0);
    return n;
}

/* 1 if the n bytes at p contain s. */
static int
au_contains(const char *p, size_t n, const char *s)
{
    return memmem(p, n, s, strlen(s)) != NULL;
}

START_TEST(libnws_never_sends_the_secret)
{
    static const char old_style[] = "0001" "0007NwsAuth" "0000";
    static const char challenge[] =
        "0001" "0007NwsAuth" "0076hmac-sha256:"
        "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
    char   got[8192];
    size_t n;

    /* A port squatter that asks for the secret itself gets nothing. */
    n = au_fake_server(old_style, sizeof(old_style) - 1, "correct horse battery", got,
                       sizeof(got));
    ck_assert_msg(!au_contains(got, n, "correct horse"), "the secret was sent");
    /* One that sets its own challenge gets an HMAC, never the secret. */
    n = au_fake_server(challenge, sizeof(challenge) - 1, "correct horse battery", got,
                       sizeof(got));
    ck_assert_msg(n > 4 && memcmp(got, "R000", 4) == 0, "no request (%zu bytes)", n);
    ck_assert_msg(!au_contains(got, n, "correct horse"), "the secret was sent");
    ck_assert_msg(au_contains(got, n, "NwsAuth0064"), "no answer: %.*s", (int)n, got);
}
END_TEST

START_TEST(sleigh_workers_inherit_the_secret)
{
    nws_sleigh_options opt;
    nws_sleigh        *s;
    nws_error          err;
    json_t            *task, *args, *r;
    char               module[512];
    const char        *dir = getenv("NWS_MODULES_DIR");

    snprintf(module, sizeof(module), "%s/sleigh_test.so", dir != NULL ? dir : "build/modules");
    setenv("NWS_AUTH_FILE", au_file, 1);
    nws_sleigh_options_init(&opt);
    opt.host = "127.0.0.1";
    opt.port = au_srv->port;
    opt.workers = 2;
    s = nws_sleigh_new(&opt, &err);
    ck_assert_msg(s != NULL, "%s", err.text);
    task = nws_sleigh_call(module, "cube");
    args = json_pack("[[i,i,i]]", 1, 2, 3);
    r = nws_sleigh_each_elem(s, task, args, NULL, NULL, &err);
    ck_assert_msg(r != NULL, "%s", err.text);
    ck_assert_int_eq(json_integer_value(json_array_get(r, 2)), 27);
    json_decref(r);
    json_decref(args);
    json_decref(task);
    ck_assert_int_eq(nws_sleigh_stop(s, &err), 0);
    nws_sleigh_free(s);
    unsetenv("NWS_AUTH_FILE");
}
END_TEST

/* GET path on the web port with an optional Authorization header; the status. */
static int
au_http(const char *path, const char *authorization)
{
    char buf[4096];
    int  fd = nwstest_connect(au_srv->web_port, 5), n, status = -1;

    ck_assert_int_ge(fd, 0);
    n = snprintf(buf, sizeof(buf), "GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n%s%s%s"
                                   "Connection: close\r\n\r\n",
                 path, au_srv->web_port, authorization ? "Authorization: " : "",
                 authorization ? authorization : "", authorization ? "\r\n" : "");
    ck_assert_int_eq(nwstest_write_all(fd, buf, (size_t)n), 0);
    n = (int)read(fd, buf, sizeof(buf) - 1);
    if (n > 0) {
        buf[n] = '\0';
        if (sscanf(buf, "HTTP/1.%*d %d", &status) != 1)
            status = -1;
        if (status == 401)
            ck_assert_ptr_nonnull(strstr(buf, "WWW-Authenticate: Basic"));
    }
    close(fd);
    return status;
}

START_TEST(web_asks_for_the_secret)
{
    /* base64("any:correct horse battery") and base64("any:wrong") */
    ck_assert_int_eq(au_http("/api/overview", NULL), 401);
    ck_assert_int_eq(au_http("/", NULL), 401);
    ck_assert_int_eq(au_http("/api/overview", "Basic YW55Ondyb25n"), 401);
    ck_assert_int_eq(au_http("/api/overview", "Basic YW55OmNvcnJlY3QgaG9yc2UgYmF0dGVyeQ=="),
                     200);
}
END_TEST

/* ---- the secret file (libnws/secret.c) and the server's defaults --------- */

static char sf_dir[64];

static void
sf_setup(void)
{
    snprintf(sf_dir, sizeof(sf_dir), "/tmp/nwssecret.XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(sf_dir));
    setenv("HOME", sf_dir, 1);
    unsetenv("NWS_AUTH_FILE");
}

static void
sf_teardown(void)
{
    char cmd[128];

    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", sf_dir);
    ck_assert_int_eq(system(cmd), 0);
}

/* Programs that start at once and all make the missing file agree on one secret. */
START_TEST(concurrent_creation_agrees)
{
    enum { N = 8 };
    char           path[128], why[300], mine[NWSP_SECRET_MAX + 1], got[N][80];
    int            p[N][2], i, st, is_default;
    pid_t          pid[N];
    struct stat    sb;
    DIR           *d;
    struct dirent *de;
    ssize_t        n;

    ck_assert_int_eq(nwsp_secret_path(path, sizeof(path), &is_default, why, sizeof(why)), 0);
    ck_assert_int_eq(is_default, 1);
    ck_assert_msg(strncmp(path, sf_dir, strlen(sf_dir)) == 0 &&
                      strcmp(path + strlen(sf_dir), "/.nws/secret") == 0,
                  "%s", path);
    for (i = 0; i < N; i++) {
        ck_assert_int_eq(pipe(p[i]), 0);
        ck_assert_int_ge(pid[i] = fork(), 0);
        if (pid[i] == 0) {
            if (nwsp_secret_read(path, 1, mine, sizeof(mine), why, sizeof(why)) != 0)
                _exit(1);
            _exit(write(p[i][1], mine, strlen(mine)) == (ssize_t)strlen(mine) ? 0 : 1);
        }
        close(p[i][1]);
    }
    for (i = 0; i < N; i++) {
        ck_assert_int_eq(waitpid(pid[i], &st, 0), pid[i]);
        ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "reader %d failed", i);
        n = read(p[i][0], got[i], sizeof(got[i]) - 1);
        close(p[i][0]);
        ck_assert_int_eq(n, 64);
        got[i][n] = '\0';
        ck_assert_str_eq(got[i], got[0]);
    }
    ck_assert_int_eq(stat(path, &sb), 0);
    ck_assert_int_eq(sb.st_mode & 0777, 0600);
    ck_assert_int_eq(sb.st_size, 65);
    /* No temporary file is left next to it. */
    *strrchr(path, '/') = '\0';
    ck_assert_int_eq(stat(path, &sb), 0);
    ck_assert_int_eq(sb.st_mode & 0777, 0700);
    ck_assert_ptr_nonnull(d = opendir(path));
    while ((de = readdir(d)) != NULL)
        ck_assert_msg(strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0 ||
                          strcmp(de->d_name, "secret") == 0,
                      "left behind: %s", de->d_name);
    closedir(d);
}
END_TEST

/* Reads path as a secret file and asserts it is refused with a text holding want. */
static void
sf_refused(const char *path, const char *want)
{
    char why[300], out[NWSP_SECRET_MAX + 1];

    ck_assert_int_eq(nwsp_secret_read(path, 0, out, sizeof(out), why, sizeof(why)), -1);
    ck_assert_msg(strstr(why, want) != NULL, "%s: \"%s\" lacks \"%s\"", path, why, want);
}

/* Like ssh with a private key: a file others could read or replace is refused. */
START_TEST(unsafe_files_refused)
{
    char  path[128], link[128], why[300], out[NWSP_SECRET_MAX + 1];
    FILE *fp;

    snprintf(path, sizeof(path), "%s/s", sf_dir);
    ck_assert_ptr_nonnull(fp = fopen(path, "w"));
    fputs("a secret\n", fp);
    fclose(fp);
    ck_assert_int_eq(chmod(path, 0600), 0);
    ck_assert_int_eq(nwsp_secret_read(path, 0, out, sizeof(out), why, sizeof(why)), 0);
    ck_assert_str_eq(out, "a secret");
    ck_assert_int_eq(chmod(path, 0640), 0);
    sf_refused(path, "other users");
    ck_assert_int_eq(chmod(path, 0602), 0);
    sf_refused(path, "other users");
    ck_assert_int_eq(chmod(path, 0600), 0);
    snprintf(link, sizeof(link), "%s/l", sf_dir);
    ck_assert_int_eq(symlink(path, link), 0);
    sf_refused(link, "symbolic link");
    if (geteuid() == 0) {
        ck_assert_int_eq(chown(path, 65534, 65534), 0);
        sf_refused(path, "belongs to uid 65534");
        ck_assert_int_eq(chown(path, 0, 0), 0);
    }
    ck_assert_ptr_nonnull(fp = fopen(path, "w"));
    fclose(fp);
    sf_refused(path, "one line");
    /* Without create, a missing file is an error, not a new secret. */
    snprintf(path, sizeof(path), "%s/missing", sf_dir);
    sf_refused(path, "No such file");
}
END_TEST

/*
 * nwsserver with its defaults requires the secret of ~/.nws/secret (made on
 * first use), refuses to start on an unsafe one, and --no-auth serves the
 * classic clients (old-style greeting, no NwsAuth advertised).
 */
START_TEST(server_defaults)
{
    struct nwstest_server    s;
    const char *const        noauth[] = {"--no-auth", NULL};
    static const char *const none[] = {NULL};
    struct rawc              c;
    char                     path[128], secret[80];
    const char              *v;
    size_t                   vl;
    FILE                    *fp;
    nws_client              *nc;
    nws_error                err;

    ck_assert_int_eq(nwstest_server_start_defaults(&s, NULL), 0);
    snprintf(path, sizeof(path), "%s/.nws/secret", sf_dir);
    ck_assert_ptr_nonnull(fp = fopen(path, "r"));
    ck_assert_ptr_nonnull(fgets(secret, sizeof(secret), fp));
    fclose(fp);
    secret[strcspn(secret, "\n")] = '\0';
    PT_OPEN(&c, s.port, RAWC_NONE);
    ck_assert_int_eq(rawc_hs_new(&c, none), 1);
    rawc_close(&c);
    PT_OPEN(&c, s.port, RAWC_NONE);
    c.secret = secret;
    ck_assert_msg(rawc_hs_new(&c, none) == 0, "%s", c.err);
    rawc_close(&c);
    nc = nws_connect("127.0.0.1", s.port, 0, &err); /* same HOME: same file */
    ck_assert_msg(nc != NULL, "%s", err.text);
    nws_close(nc);
    ck_assert_int_eq(nwstest_server_stop(&s), 0);

    ck_assert_int_eq(chmod(path, 0644), 0);
    ck_assert_int_eq(nwstest_server_start_defaults(&s, NULL), -1);
    ck_assert_int_eq(chmod(path, 0600), 0);

    ck_assert_int_eq(nwstest_server_start_defaults(&s, noauth), 0);
    PT_OPEN(&c, s.port, RAWC_NONE);
    ck_assert_msg(rawc_hs_new(&c, none) == 0, "%s", c.err);
    ck_assert_int_eq(rawc_dict_get(c.adv, c.adv_len, "NwsAuth", &v, &vl), 0);
    rawc_close(&c);
    PT_OPEN(&c, s.port, RAWC_OLD_COOKIE); /* "1112", as the Java client */
    PT_OK(&c, "use ws", "w", "", "no");
    rawc_close(&c);
    ck_assert_int_eq(nwstest_server_stop(&s), 0);
}
END_TEST

/*
 * Runs nwsserver with arg (NULL: nothing more) on free ports; its ready line
 * into line and what it logged before it into err; then stops it.  The
 * exit status when it did not start, else 0.
 */
static int
sf_ready(const char *arg, const char *arg2, char *line, size_t len, char *err,
         size_t errlen)
{
    char    bin[512];
    int     po[2], pe[2], st;
    pid_t   pid;
    FILE   *fp;
    ssize_t n;

    nwstest_bin("nwsserver", bin, sizeof(bin));
    ck_assert_int_eq(pipe(po), 0);
    ck_assert_int_eq(pipe(pe), 0);
    ck_assert_int_ge(pid = fork(), 0);
    if (pid == 0) {
        dup2(po[1], 1);
        dup2(pe[1], 2);
        close(po[0]);
        close(pe[0]);
        execl(bin, bin, "--bind", "127.0.0.1", "--port", "0", "--web-port", "0", "--tmpdir",
              sf_dir, arg, arg2, (char *)NULL);
        _exit(127);
    }
    close(po[1]);
    close(pe[1]);
    ck_assert_ptr_nonnull(fp = fdopen(po[0], "r"));
    line[0] = '\0';
    if (fgets(line, (int)len, fp) != NULL)
        kill(pid, SIGTERM);
    fclose(fp);
    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    n = read(pe[0], err, errlen - 1);
    err[n > 0 ? n : 0] = '\0';
    close(pe[0]);
    return line[0] != '\0' ? 0 : WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* The ready line and the log say which mode is on; contradictions are refused. */
START_TEST(modes_announced)
{
    char line[512], err[4096];

    ck_assert_int_eq(sf_ready(NULL, NULL, line, sizeof(line), err, sizeof(err)), 0);
    ck_assert_msg(strstr(line, " auth=on\n") != NULL, "%s", line);
    ck_assert_int_eq(sf_ready("--no-auth", NULL, line, sizeof(line), err, sizeof(err)), 0);
    ck_assert_msg(strstr(line, " auth=off\n") != NULL, "%s", line);
    ck_assert_msg(strstr(err, "NO AUTHENTICATION") != NULL, "no warning: %s", err);
    ck_assert_int_eq(sf_ready("--no-auth", "--auth-file=/dev/null", line, sizeof(line), err,
                              sizeof(err)),
                     1);
    ck_assert_msg(strstr(err, "exclude each other") != NULL, "%s", err);
    ck_assert_int_eq(sf_ready("--auth-file=/nonexistent/secret", NULL, line, sizeof(line),
                              err, sizeof(err)),
                     1);
    ck_assert_msg(strstr(err, "No such file") != NULL, "%s", err);
}
END_TEST

NWSTEST_SUITE(auth)
{
    Suite *s = suite_create("auth");
    TCase *tc = tcase_create("shared_secret");

    tcase_add_checked_fixture(tc, au_setup, au_teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, handshake_needs_the_secret);
    tcase_add_test(tc, refused_handshake_changes_nothing);
    tcase_add_test(tc, libnws_answers_the_challenge);
    tcase_add_test(tc, libnws_never_sends_the_secret);
    tcase_add_test(tc, sleigh_workers_inherit_the_secret);
    tcase_add_test(tc, web_asks_for_the_secret);
    suite_add_tcase(s, tc);
    tc = tcase_create("secret_file");
    tcase_add_checked_fixture(tc, sf_setup, sf_teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, concurrent_creation_agrees);
    tcase_add_test(tc, unsafe_files_refused);
    tcase_add_test(tc, server_defaults);
    tcase_add_test(tc, modes_announced);
    suite_add_tcase(s, tc);
    return s;
}
