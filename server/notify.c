/*
 * notify.c -- systemd's readiness notification, without libsystemd.
 *
 * Under Type=notify, systemd passes a datagram socket in $NOTIFY_SOCKET (a
 * path, or an abstract name written with a leading '@') and waits for the
 * text "READY=1" on it.  That is one sendto(): the few lines here spare the
 * server a library dependency for it, and do nothing when the variable is
 * unset.  The protocol: sd_notify(3), "Notes".
 */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "config.h"
#include "server.h"

/*
 * Sends state ("READY=1\nSTATUS=...") to the service manager.  Returns 1
 * when sent, 0 when no manager asked for it, -1 on failure (logged: the
 * manager then times the start out, which says more than we could).
 */
int
notify_send(const char *state)
{
    const char        *path = getenv("NOTIFY_SOCKET");
    struct sockaddr_un sa;
    size_t             len;
    socklen_t          salen;
    ssize_t            r;
    int                fd;

    if (path == NULL || *path == '\0')
        return 0;
    len = strlen(path);
    if ((path[0] != '/' && path[0] != '@') || len >= sizeof(sa.sun_path)) {
        log_warnx("NOTIFY_SOCKET is not a socket address: %s", path);
        return -1;
    }
    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    memcpy(sa.sun_path, path, len);
    if (path[0] == '@')
        sa.sun_path[0] = '\0'; /* an abstract name: its length is exact, no NUL */
    salen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len + (path[0] == '/'));
    if ((fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)) == -1) {
        log_warn("NOTIFY_SOCKET: socket");
        return -1;
    }
    do
        r = sendto(fd, state, strlen(state), MSG_NOSIGNAL, (struct sockaddr *)&sa, salen);
    while (r == -1 && errno == EINTR);
    if (r == -1)
        log_warn("NOTIFY_SOCKET %s", path);
    close(fd);
    return r == -1 ? -1 : 1;
}
