/*
 * sshtest.c -- keys, configs and sshd processes for the launch tests.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "sshtest.h"
#include "util.h"

double
sshtest_now(void)
{
    return nwsp_mono();
}

int
sshtest_sh(const char *fmt, ...)
{
    char    cmd[2048];
    va_list ap;
    int     st;

    va_start(ap, fmt);
    vsnprintf(cmd, sizeof(cmd), fmt, ap);
    va_end(ap);
    st = system(cmd);
    return st == -1 ? -1 : WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

int
sshtest_available(char *why, size_t len)
{
    if (geteuid() != 0) {
        /* An unprivileged sshd logs in only its own user, and our configs say root. */
        snprintf(why, len, "needs root (the test's sshd logs in as root)");
        return 0;
    }
    if (access(SSHTEST_SSHD, X_OK) != 0) {
        snprintf(why, len, "%s is not installed (Debian: openssh-server)", SSHTEST_SSHD);
        return 0;
    }
    if (sshtest_sh("command -v ssh-keygen >/dev/null 2>&1") != 0) {
        snprintf(why, len, "ssh-keygen is not installed (Debian: openssh-client)");
        return 0;
    }
    return 1;
}

/* Writes text to path (mode 0600); 0, or -1. */
static int
sshtest_write(const char *path, const char *mode, const char *text)
{
    FILE *fp = fopen(path, mode);

    if (fp == NULL)
        return -1;
    fputs(text, fp);
    return fclose(fp) == 0 ? 0 : -1;
}

int
sshtest_env_make(struct sshtest_env *e)
{
    memset(e, 0, sizeof(*e));
    snprintf(e->dir, sizeof(e->dir), "/tmp/nwstest-ssh.XXXXXX");
    if (mkdtemp(e->dir) == NULL)
        return -1;
    chmod(e->dir, 0755);
    snprintf(e->host_key, sizeof(e->host_key), "%s/host_ed25519", e->dir);
    snprintf(e->user_key, sizeof(e->user_key), "%s/user_ed25519", e->dir);
    snprintf(e->other_key, sizeof(e->other_key), "%s/other_ed25519", e->dir);
    snprintf(e->authorized, sizeof(e->authorized), "%s/authorized_keys", e->dir);
    snprintf(e->known_hosts, sizeof(e->known_hosts), "%s/known_hosts", e->dir);
    snprintf(e->ssh_config, sizeof(e->ssh_config), "%s/ssh_config", e->dir);
    if (sshtest_sh("ssh-keygen -q -t ed25519 -N '' -C nwstest-host -f '%s' </dev/null "
                   ">/dev/null 2>&1",
                   e->host_key) != 0 ||
        sshtest_sh("ssh-keygen -q -t ed25519 -N '' -C nwstest-user -f '%s' </dev/null "
                   ">/dev/null 2>&1",
                   e->user_key) != 0 ||
        sshtest_sh("ssh-keygen -q -t ed25519 -N '' -C nwstest-other -f '%s' </dev/null "
                   ">/dev/null 2>&1",
                   e->other_key) != 0 ||
        sshtest_sh("cp '%s.pub' '%s'", e->user_key, e->authorized) != 0 ||
        sshtest_write(e->known_hosts, "w", "") != 0 ||
        sshtest_write(e->ssh_config, "w", "# written by the nws launch tests\n") != 0)
        return -1;
    /* sshd wants its privilege separation directory. */
    mkdir("/run/sshd", 0755);
    return 0;
}

void
sshtest_env_free(struct sshtest_env *e)
{
    if (e->dir[0] != '\0')
        sshtest_sh("rm -rf '%s'", e->dir);
    e->dir[0] = '\0';
}

int
sshtest_free_port(void)
{
    struct sockaddr_in sin;
    socklen_t          len = sizeof(sin);
    int                fd = socket(AF_INET, SOCK_STREAM, 0), port = -1;

    if (fd < 0)
        return -1;
    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0 &&
        getsockname(fd, (struct sockaddr *)&sin, &len) == 0)
        port = ntohs(sin.sin_port);
    close(fd);
    return port;
}

/* 1 once something accepts TCP connections at addr:port. */
static int
sshtest_answers(const char *addr, int port)
{
    struct sockaddr_in sin;
    int                fd = socket(AF_INET, SOCK_STREAM, 0), ok;

    if (fd < 0)
        return 0;
    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_port = htons((unsigned short)port);
    inet_pton(AF_INET, addr, &sin.sin_addr);
    ok = connect(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0;
    close(fd);
    return ok;
}

int
sshtest_sshd_start(struct sshtest_env *e, struct sshtest_sshd *d, const char *netns,
                   const char *addr, int port)
{
    char   cfg[256], text[2600];
    double deadline;
    int    devnull;

    memset(d, 0, sizeof(*d));
    if (port == 0 && (port = sshtest_free_port()) < 0)
        return -1;
    d->port = port;
    snprintf(d->addr, sizeof(d->addr), "%s", addr ? addr : "127.0.0.1");
    snprintf(d->netns, sizeof(d->netns), "%s", netns ? netns : "");
    snprintf(cfg, sizeof(cfg), "%s/sshd_config.%s.%d", e->dir, d->addr, port);
    snprintf(text, sizeof(text),
             "ListenAddress %s:%d\n"
             "HostKey %s\n"
             "PidFile none\n"
             "AuthorizedKeysFile %s\n"
             "PermitRootLogin prohibit-password\n"
             "PubkeyAuthentication yes\n"
             "PasswordAuthentication no\n"
             "KbdInteractiveAuthentication no\n"
             "UsePAM no\n"
             "StrictModes no\n"
             "AllowTcpForwarding yes\n"
             "MaxStartups 100:30:200\n"
             "PrintMotd no\n"
             "LogLevel ERROR\n"
             "%s",
             d->addr, port, e->host_key, e->authorized, e->sshd_extra);
    if (sshtest_write(cfg, "w", text) != 0)
        return -1;
    if ((d->pid = fork()) < 0)
        return -1;
    if (d->pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if ((devnull = open("/dev/null", O_RDWR)) >= 0) {
            dup2(devnull, 0);
            dup2(devnull, 1);
            if (getenv("NWSTEST_VERBOSE") == NULL)
                dup2(devnull, 2);
        }
        if (netns != NULL)
            execlp("ip", "ip", "netns", "exec", netns, SSHTEST_SSHD, "-D", "-e", "-f",
                   cfg, (char *)NULL);
        else
            execl(SSHTEST_SSHD, SSHTEST_SSHD, "-D", "-e", "-f", cfg, (char *)NULL);
        _exit(127);
    }
    for (deadline = sshtest_now() + 10; sshtest_now() < deadline;) {
        if (sshtest_answers(d->addr, port))
            return 0;
        if (waitpid(d->pid, NULL, WNOHANG) == d->pid) {
            d->pid = 0;
            return -1;
        }
        usleep(20000);
    }
    sshtest_sshd_stop(d);
    return -1;
}

void
sshtest_sshd_stop(struct sshtest_sshd *d)
{
    if (d->pid > 0) {
        kill(d->pid, SIGKILL);
        waitpid(d->pid, NULL, 0);
    }
    d->pid = 0;
}

int
sshtest_known_host(struct sshtest_env *e, const char *addr, int port, const char *key)
{
    char  path[256], pub[1024], line[1200];
    FILE *fp;

    snprintf(path, sizeof(path), "%s.pub", key ? key : e->host_key);
    if ((fp = fopen(path, "r")) == NULL)
        return -1;
    if (fgets(pub, sizeof(pub), fp) == NULL) {
        fclose(fp);
        return -1;
    }
    fclose(fp);
    if (port == 22)
        snprintf(line, sizeof(line), "%s %s", addr, pub);
    else
        snprintf(line, sizeof(line), "[%s]:%d %s", addr, port, pub);
    return sshtest_write(e->known_hosts, "a", line);
}

int
sshtest_config_host(struct sshtest_env *e, const char *alias, const char *addr, int port,
                    const char *identity)
{
    char text[1024];

    snprintf(text, sizeof(text),
             "Host %s\n"
             "  HostName %s\n"
             "  Port %d\n"
             "  User root\n"
             "  IdentityFile %s\n"
             "  UserKnownHostsFile %s\n",
             alias, addr, port, identity ? identity : e->user_key, e->known_hosts);
    return sshtest_write(e->ssh_config, "a", text);
}

int
sshtest_procs(const char *const *words, pid_t *pids, int max)
{
    DIR           *dir = opendir("/proc");
    struct dirent *de;
    char           path[300], buf[4096];
    ssize_t        n, i;
    int            fd, count = 0, k, ok;

    if (dir == NULL)
        return 0;
    while ((de = readdir(dir)) != NULL) {
        if (de->d_name[0] < '1' || de->d_name[0] > '9')
            continue;
        snprintf(path, sizeof(path), "/proc/%s/cmdline", de->d_name);
        if ((fd = open(path, O_RDONLY)) < 0)
            continue;
        n = read(fd, buf, sizeof(buf) - 1);
        close(fd);
        if (n <= 0)
            continue; /* a zombie or a kernel thread */
        for (i = 0; i < n; i++)
            if (buf[i] == '\0')
                buf[i] = ' ';
        buf[n] = '\0';
        for (k = 0, ok = 1; words[k] != NULL && ok; k++)
            ok = strstr(buf, words[k]) != NULL;
        if (!ok || atoi(de->d_name) == getpid())
            continue;
        if (count < max)
            pids[count] = atoi(de->d_name);
        count++;
    }
    closedir(dir);
    return count;
}

int
sshtest_procs_gone(const char *const *words, int ms)
{
    pid_t  pids[64];
    double deadline = sshtest_now() + ms / 1000.0;
    int    n;

    while ((n = sshtest_procs(words, pids, 64)) > 0 && sshtest_now() < deadline)
        usleep(20000);
    return n;
}

/*
 * Removes every network namespace named prefix* (killing what runs there)
 * and every link named prefix*: what a test's hosts left behind.
 */
void
sshtest_netns_cleanup(const char *prefix)
{
    sshtest_sh("for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep '^%s'); "
               "do ip netns pids $ns | xargs -r kill -9; ip netns del $ns; done "
               ">/dev/null 2>&1",
               prefix);
    sshtest_sh("for l in $(ip -o link show 2>/dev/null | awk -F': ' '{print $2}' | "
               "cut -d@ -f1 | grep '^%s'); do ip link del $l; done >/dev/null 2>&1",
               prefix);
}
