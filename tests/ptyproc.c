/*
 * ptyproc.c -- see ptyproc.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "ptyproc.h"
#include "util.h"

int
ptyproc_start(struct ptyproc *p, char *const argv[], const char *const *env)
{
    struct winsize ws = {.ws_row = 24, .ws_col = 80};
    const char    *slave;
    int            s;

    memset(p, 0, sizeof(*p));
    p->status = -1;
    p->pid = -1;
    if ((p->fd = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC)) < 0)
        return -1;
    if (grantpt(p->fd) != 0 || unlockpt(p->fd) != 0 || (slave = ptsname(p->fd)) == NULL)
        goto fail;
    p->cap = 4096;
    if ((p->out = malloc(p->cap)) == NULL)
        goto fail;
    p->out[0] = '\0';
    if ((p->pid = fork()) < 0)
        goto fail;
    if (p->pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        setsid();
        if ((s = open(slave, O_RDWR)) < 0) /* becomes the controlling terminal */
            _exit(126);
        ioctl(s, TIOCSWINSZ, &ws);
        dup2(s, 0);
        dup2(s, 1);
        dup2(s, 2);
        if (s > 2)
            close(s);
        for (; env != NULL && *env != NULL; env++) {
            const char *eq = strchr(*env, '=');

            if (eq == NULL) {
                unsetenv(*env);
            } else {
                char *name = strndup(*env, (size_t)(eq - *env));

                setenv(name, eq + 1, 1);
                free(name);
            }
        }
        execv(argv[0], argv);
        _exit(127);
    }
    return 0;
fail:
    close(p->fd);
    free(p->out);
    p->out = NULL;
    return -1;
}

/* Reads what is there within ms; 1 if something came, 0 if not, -1 at EOF. */
static int
ptyproc_read(struct ptyproc *p, int ms)
{
    struct pollfd pfd = {.fd = p->fd, .events = POLLIN};
    ssize_t       n;

    if (poll(&pfd, 1, ms) <= 0)
        return 0;
    if (p->cap - p->len < 4097) {
        char *q = realloc(p->out, p->cap * 2);

        if (q == NULL)
            return -1;
        p->out = q;
        p->cap *= 2;
    }
    char    raw[4096];
    ssize_t i;

    n = read(p->fd, raw, sizeof(raw));
    if (n <= 0) /* EIO once the last slave fd is closed */
        return -1;
    /* Terminal control sequences (ESC [ ... final byte, ESC x) are dropped,
     * so that text redrawn by a line editor reads as the person sees it. */
    for (i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)raw[i];

        if (p->esc == 1) {
            p->esc = ch == '[' ? 2 : 0;
        } else if (p->esc == 2) {
            if (ch >= 0x40 && ch <= 0x7e)
                p->esc = 0;
        } else if (ch == 0x1b) {
            p->esc = 1;
        } else if (ch != 0x07) {
            p->out[p->len++] = (char)ch;
        }
    }
    p->out[p->len] = '\0';
    return 1;
}

int
ptyproc_expect(struct ptyproc *p, const char *needle, int ms)
{
    long long end = (long long)nwsp_mono_ms() + ms;
    char     *at;

    for (;;) {
        if ((at = strstr(p->out + p->mark, needle)) != NULL) {
            p->mark = (size_t)(at - p->out) + strlen(needle);
            return 1;
        }
        if ((long long)nwsp_mono_ms() >= end ||
            ptyproc_read(p, (int)(end - (long long)nwsp_mono_ms())) < 0) {
            at = strstr(p->out + p->mark, needle);
            if (at != NULL)
                p->mark = (size_t)(at - p->out) + strlen(needle);
            return at != NULL;
        }
    }
}

int
ptyproc_send(struct ptyproc *p, const char *s)
{
    size_t  len = strlen(s);
    ssize_t n;

    while (len > 0) {
        n = write(p->fd, s, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        s += n;
        len -= (size_t)n;
    }
    return 0;
}

int
ptyproc_wait(struct ptyproc *p, int ms)
{
    long long end = (long long)nwsp_mono_ms() + ms;
    int       st;

    while (p->status == -1) {
        if (waitpid(p->pid, &st, WNOHANG) == p->pid) {
            p->status = st;
            while (ptyproc_read(p, 0) > 0) /* what it wrote last */
                ;
            break;
        }
        if ((long long)nwsp_mono_ms() >= end)
            return -1;
        if (ptyproc_read(p, 20) < 0)
            usleep(10000);
    }
    return WIFEXITED(p->status) ? WEXITSTATUS(p->status) : 128 + WTERMSIG(p->status);
}

void
ptyproc_free(struct ptyproc *p)
{
    if (p->pid > 0 && p->status == -1) {
        kill(p->pid, SIGKILL);
        waitpid(p->pid, NULL, 0);
    }
    if (p->fd >= 0)
        close(p->fd);
    free(p->out);
    p->out = NULL;
    p->fd = -1;
}
