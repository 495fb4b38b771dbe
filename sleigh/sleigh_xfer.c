/*
 * sleigh_xfer.c -- the paths of the sleigh CLI's file transfers (--transfer,
 * --return, --basefile), shared by both ends: the master checks a path
 * before it sends or writes a file, and nws-worker checks it again before
 * it places one, since neither end trusts what the other sent.  A path is
 * always relative to a directory held open (the worker's private directory,
 * the master's current one) and walked one component at a time with
 * O_NOFOLLOW, so neither "..", an absolute path nor a symbolic link on the
 * way can lead out of it.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sleighp.h"

const char *
nwsp_xfer_rel(const char *path)
{
    const char *p = strstr(path, "/./");

    return p != NULL ? p + 3 : path;
}

int
nwsp_xfer_check(const char *rel, char *why, size_t len)
{
    const char *p = rel, *end;
    size_t      n;

    if (*rel == '\0') {
        snprintf(why, len, "an empty path");
        return -1;
    }
    if (*rel == '/') {
        snprintf(why, len, "an absolute path");
        return -1;
    }
    if (strlen(rel) >= PATH_MAX) {
        snprintf(why, len, "a path too long");
        return -1;
    }
    for (;;) {
        end = strchr(p, '/');
        n = end != NULL ? (size_t)(end - p) : strlen(p);
        if (n == 2 && p[0] == '.' && p[1] == '.') {
            snprintf(why, len, "a path with \"..\" in it");
            return -1;
        }
        if (end == NULL)
            break;
        p = end + 1;
    }
    n = strlen(rel);
    if (rel[n - 1] == '/' || (n == 1 && rel[0] == '.') ||
        (n >= 2 && rel[n - 1] == '.' && rel[n - 2] == '/')) {
        snprintf(why, len, "a directory, not a file");
        return -1;
    }
    return 0;
}

/*
 * Opens the directory holding the last component of rel under dirfd
 * (making missing ones if create); *last gets that component.  A new
 * descriptor, or -1 with errno.
 */
static int
nwsp_xfer_parent(int dirfd, const char *rel, int create, char *last)
{
    char        comp[NAME_MAX + 1];
    const char *p = rel, *end;
    size_t      n;
    int         fd = dup(dirfd), next;

    if (fd < 0)
        return -1;
    for (;;) {
        end = strchr(p, '/');
        n = end != NULL ? (size_t)(end - p) : strlen(p);
        if (n > NAME_MAX) {
            close(fd);
            errno = ENAMETOOLONG;
            return -1;
        }
        memcpy(comp, p, n);
        comp[n] = '\0';
        if (end == NULL) {
            memcpy(last, comp, n + 1);
            return fd;
        }
        p = end + 1;
        if (n == 0 || strcmp(comp, ".") == 0)
            continue;
        next = openat(fd, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (next < 0 && errno == ENOENT && create) {
            if (mkdirat(fd, comp, 0777) != 0 && errno != EEXIST) {
                close(fd);
                return -1;
            }
            next = openat(fd, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        }
        close(fd);
        if (next < 0)
            return -1;
        fd = next;
    }
}

int
nwsp_xfer_open(int dirfd, const char *rel, int flags, mode_t mode)
{
    char why[64], last[NAME_MAX + 1];
    int  dfd, fd, e;

    if (nwsp_xfer_check(rel, why, sizeof(why)) != 0) {
        errno = EINVAL;
        return -1;
    }
    if ((dfd = nwsp_xfer_parent(dirfd, rel, (flags & O_CREAT) != 0, last)) < 0)
        return -1;
    fd = openat(dfd, last, flags | O_NOFOLLOW | O_CLOEXEC, mode);
    e = errno;
    close(dfd);
    errno = e;
    return fd;
}

int
nwsp_xfer_unlink(int dirfd, const char *rel)
{
    char why[64], last[NAME_MAX + 1], dir[PATH_MAX], *slash;
    int  dfd, rc;

    if (nwsp_xfer_check(rel, why, sizeof(why)) != 0) {
        errno = EINVAL;
        return -1;
    }
    if ((dfd = nwsp_xfer_parent(dirfd, rel, 0, last)) < 0)
        return -1;
    rc = unlinkat(dfd, last, 0);
    close(dfd);
    if (rc != 0)
        return -1;
    /* The directories the file was in go too once empty, as in GNU parallel. */
    snprintf(dir, sizeof(dir), "%s", rel);
    while ((slash = strrchr(dir, '/')) != NULL) {
        *slash = '\0';
        if (dir[0] == '\0' || strcmp(dir, ".") == 0)
            break;
        if ((dfd = nwsp_xfer_parent(dirfd, dir, 0, last)) < 0)
            break;
        rc = unlinkat(dfd, last, AT_REMOVEDIR);
        close(dfd);
        if (rc != 0)
            break;
    }
    return 0;
}

int
nwsp_xfer_link(int fd, int dirfd, const char *rel)
{
    char proc[64], why[64], last[NAME_MAX + 1];
    int  dfd, rc, e;

    if (nwsp_xfer_check(rel, why, sizeof(why)) != 0) {
        errno = EINVAL;
        return -1;
    }
    if ((dfd = nwsp_xfer_parent(dirfd, rel, 1, last)) < 0)
        return -1;
    /* linkat(AT_EMPTY_PATH) needs a capability; the /proc name does not. */
    snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
    rc = linkat(AT_FDCWD, proc, dfd, last, AT_SYMLINK_FOLLOW);
    e = errno;
    close(dfd);
    if (rc != 0 && e == EEXIST)
        return 0;
    errno = e;
    return rc;
}
