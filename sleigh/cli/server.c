/*
 * server.c -- the sleigh command's server: --server, $NWS_HOST/$NWS_PORT or
 * the default address if it answers, else a private nwsserver started on a
 * free loopback port for the run and stopped after it.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sl.h"
#include "util.h"

/* Returns 1 if host names this machine's loopback (or is unset). */
static int
sl_host_is_local(const char *host)
{
    return host == NULL || *host == '\0' || strcmp(host, "localhost") == 0 ||
           strncmp(host, "127.", 4) == 0 || strcmp(host, "::1") == 0;
}

/* The nwsserver program: next to this one if it is there, else "nwsserver" (PATH). */
static char *
sl_server_path(void)
{
    char    self[PATH_MAX], *slash, *path;
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);

    if (n > 0) {
        self[n] = '\0';
        if ((slash = strrchr(self, '/')) != NULL) {
            path = sl_malloc((size_t)(slash - self) + sizeof("/nwsserver"));
            memcpy(path, self, (size_t)(slash - self));
            strcpy(path + (slash - self), "/nwsserver");
            if (access(path, X_OK) == 0)
                return path;
            free(path);
        }
    }
    return sl_strdup("nwsserver");
}

/* Stops the private server (SIGTERM, then SIGKILL) and reaps it. */
void
sl_server_stop(struct sl_server *sv)
{
    double deadline;
    int    st;

    if (sv->pid <= 0)
        return;
    kill(sv->pid, SIGTERM);
    deadline = nwsp_mono() + SL_SERVER_STOP_MS / 1000.0;
    while (waitpid(sv->pid, &st, WNOHANG) == 0) {
        if (nwsp_mono() > deadline) {
            kill(sv->pid, SIGKILL);
            waitpid(sv->pid, &st, 0);
            break;
        }
        usleep(5000);
    }
    sv->pid = 0;
    if (sv->ready_fd >= 0)
        close(sv->ready_fd);
    sv->ready_fd = -1;
}

/*
 * Starts a private nwsserver on a free loopback port and reads its ready
 * line.  0, or -1 (message printed, nothing left running).
 */
static int
sl_server_start(struct sl_server *sv, int verbose, const char *bind, int bind_port)
{
    char          tmpl[] = "/tmp/sleigh.err.XXXXXX", line[512], *path, *p, bport[16];
    pid_t         parent = getpid();
    size_t        len = 0;
    double        deadline;
    struct pollfd pfd;
    ssize_t       n;
    int           pfd2[2], errfd, devnull, rc;

    /* Only the ready line sets it: a start that fails must not leave the
     * probed address (perhaps someone else's server) in place. */
    sv->port = 0;
    path = sl_server_path();
    if ((errfd = mkostemp(tmpl, O_CLOEXEC)) < 0) {
        sl_warnx("cannot make a temporary file: %s", strerror(errno));
        free(path);
        return -1;
    }
    unlink(tmpl);
    if (pipe2(pfd2, O_CLOEXEC) != 0) {
        sl_warnx("pipe: %s", strerror(errno));
        close(errfd);
        free(path);
        return -1;
    }
    sv->pid = fork();
    if (sv->pid < 0) {
        sl_warnx("fork: %s", strerror(errno));
        close(errfd);
        close(pfd2[0]);
        close(pfd2[1]);
        free(path);
        return -1;
    }
    if (sv->pid == 0) {
        /* Dies with us, however we die; ^C at the terminal is ours to handle. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(127);
        setpgid(0, 0);
        devnull = open("/dev/null", O_RDWR);
        dup2(devnull, 0);
        dup2(pfd2[1], 1);
        dup2(verbose ? 2 : errfd, 2);
        snprintf(bport, sizeof(bport), "%d", bind != NULL ? bind_port : 0);
        execlp(path, path, "--bind", bind != NULL ? bind : "127.0.0.1", "--port", bport,
               "--web-port", "0", (char *)NULL);
        fprintf(stderr, "cannot run %s: %s\n", path, strerror(errno));
        _exit(127);
    }
    close(pfd2[1]);
    sv->ready_fd = pfd2[0];
    deadline = nwsp_mono() + SL_SERVER_WAIT_MS / 1000.0;
    line[0] = '\0';
    for (;;) {
        pfd.fd = sv->ready_fd;
        pfd.events = POLLIN;
        rc = poll(&pfd, 1, (int)((deadline - nwsp_mono()) * 1000) + 1);
        if (rc < 0 && errno == EINTR)
            continue;
        if (rc <= 0 || nwsp_mono() > deadline) {
            sl_warnx("%s did not start within %d s", path, SL_SERVER_WAIT_MS / 1000);
            break;
        }
        n = read(sv->ready_fd, line + len, sizeof(line) - 1 - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            /* It exited: say why, from what it wrote to stderr. */
            n = pread(errfd, line, sizeof(line) - 1, 0);
            line[n > 0 ? n : 0] = '\0';
            if ((p = strchr(line, '\n')) != NULL)
                *p = '\0';
            sl_warnx("could not start a private nwsserver (%s)%s%s", path,
                     line[0] ? ": " : "", line);
            break;
        }
        len += (size_t)n;
        line[len] = '\0';
        if (strchr(line, '\n') != NULL || len == sizeof(line) - 1) {
            if (strncmp(line, "nwsserver ready:", 16) == 0 &&
                (p = strstr(line, " port=")) != NULL)
                sv->port = atoi(p + 6);
            if (sv->port <= 0)
                sl_warnx("%s: unexpected first line: %s", path, line);
            /* Its web interface shows the run live; a person at a terminal
             * gets its address (--worker-log shows it in the server's log). */
            else if (!verbose && isatty(2) && (p = strstr(line, " web-port=")) != NULL &&
                     atoi(p + 10) > 0)
                sl_warnx("private nwsserver's web interface: http://127.0.0.1:%d/%s",
                         atoi(p + 10),
                         strstr(line, " auth=on") != NULL
                             ? " (password: your nws secret, ~/.nws/secret by default)"
                             : "");
            break;
        }
    }
    close(errfd);
    free(path);
    if (sv->port <= 0) {
        sl_server_stop(sv);
        return -1;
    }
    snprintf(sv->host, sizeof(sv->host), "%s", bind != NULL ? bind : "127.0.0.1");
    return 0;
}

/*
 * Finds the server of the run: --server, else $NWS_HOST/$NWS_PORT or the
 * default if something answers there, else a private one, listening on
 * bind:bind_port when the nodes reach it directly (bind NULL: loopback,
 * a free port).  0, or -1 (message printed).
 */
int
sl_server_find(struct sl_server *sv, const struct sl_opts *o, const char *bind,
               int bind_port)
{
    const char *host = getenv("NWS_HOST"), *port = getenv("NWS_PORT"), *colon;
    nws_client *c;
    nws_error   err;
    long        v;
    int         named, ours;

    memset(sv, 0, sizeof(*sv));
    sv->ready_fd = -1;
    if (o->server != NULL) {
        colon = strrchr(o->server, ':');
        if (colon == NULL || sl_parse_count(colon + 1, 65535, &v) != 0 || v < 1 ||
            (size_t)(colon - o->server) >= sizeof(sv->host)) {
            sl_warnx("--server: want HOST:PORT: %s", o->server);
            return -1;
        }
        snprintf(sv->host, sizeof(sv->host), "%.*s", (int)(colon - o->server), o->server);
        if (sv->host[0] == '\0')
            snprintf(sv->host, sizeof(sv->host), "%s", NWS_DEFAULT_HOST);
        sv->port = (int)v;
        return 0;
    }
    if (port != NULL && *port != '\0' &&
        (sl_parse_count(port, 65535, &v) != 0 || v < 1)) {
        sl_warnx("NWS_PORT: not a port: %s", port);
        return -1;
    }
    snprintf(sv->host, sizeof(sv->host), "%s",
             host != NULL && *host != '\0' ? host : NWS_DEFAULT_HOST);
    sv->port = port != NULL && *port != '\0' ? (int)v : NWS_DEFAULT_PORT;
    named = (host != NULL && *host != '\0') || (port != NULL && *port != '\0');
    if ((c = nws_connect(sv->host, sv->port, 0, &err)) != NULL) {
        ours = nws_authenticated(c);
        nws_close(c);
        /*
         * At the default address, unnamed: a server that asks for no secret
         * may be anyone's (a squatter on a shared machine would get our
         * workers), so it is not used.
         */
        if (ours || named)
            return 0;
        sl_warnx("the server at %s:%d asks for no secret, so anyone may have started it: "
                 "using a private server (--server %s:%d uses it anyway)",
                 sv->host, sv->port, sv->host, sv->port);
        return sl_server_start(sv, o->worker_log, bind, bind_port);
    }
    if (!named && err.code == NWS_ERR_HANDSHAKE) {
        /* Someone else's server (it refused our secret) holds the default port. */
        sl_warnx("the server at %s:%d is not ours (%s): using a private server", sv->host,
                 sv->port, err.text);
        return sl_server_start(sv, o->worker_log, bind, bind_port);
    }
    if (err.code != NWS_ERR_CONNECT || !sl_host_is_local(host)) {
        sl_warnx("cannot reach the server at %s:%d: %s", sv->host, sv->port,
                 err.text[0] ? err.text : nws_errcode_str(err.code));
        return -1;
    }
    return sl_server_start(sv, o->worker_log, bind, bind_port);
}
