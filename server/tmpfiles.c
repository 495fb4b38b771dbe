/*
 * tmpfiles.c -- the files nwsserver leaves in the file system: the mktemp
 * suffix file in its temp directory (section 7.5) and the --pidfile.
 *
 * Stale files.  A server killed by SIGKILL (or a crash) cannot remove its
 * suffix file "__nwssXXXXXX".  So a server marks its own: it holds an
 * exclusive flock on the file for its whole life and writes its pid in it
 * once the lock is held (it unlinks the file before it lets go).  At
 * start-up, each "__nwss*" file in the temp directory that belongs to this
 * user, is a plain file, carries a pid and is not locked is one whose
 * server is gone, and is removed.  The lock, not the pid, decides: it holds
 * across pid namespaces sharing /tmp, and a killed server's pid may still
 * look alive (a zombie not reaped yet) or be reused.  A file without a pid
 * (a server just starting, or an older version's) is left alone.  Spool
 * files normally have no name at all (O_TMPFILE); the fallback's, named
 * "__nwss<pid>_XXXXXX.dat" and unlinked at once, are removed when their
 * pid is gone.
 *
 * The pid file is written as a new file beside the target and renamed over
 * it, so a symbolic link planted at that path is replaced, never followed;
 * a pid file path that already is a symbolic link is refused outright.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "server.h"

#define TMPFILES_PREFIX "__nwss"

static int tmpfiles_suffix_fd = -1;

/* Parses a decimal pid at p, up to end (a NUL, LF or '_'); 0 if there is none. */
static pid_t
tmpfiles_pid(const char *p)
{
    char *end;
    long  v;

    if (*p < '1' || *p > '9')
        return 0;
    errno = 0;
    v = strtol(p, &end, 10);
    if (errno != 0 || v <= 0 || v > 0x3fffffff || (*end != '\0' && *end != '\n' && *end != '_'))
        return 0;
    return (pid_t)v;
}

/* Whether no process has this pid (a live one owned by another user counts as live). */
static int
tmpfiles_pid_gone(pid_t pid)
{
    return pid > 0 && kill(pid, 0) == -1 && errno == ESRCH;
}

/* Removes dir/name if it is a stale file of a dead nwsserver of this user; 1 if so. */
static int
tmpfiles_clean_one(int dfd, const char *name)
{
    struct stat st;
    char        buf[32];
    ssize_t     n;
    size_t      len = strlen(name);
    int         fd, stale = 0;

    if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(st.st_mode) ||
        st.st_uid != getuid())
        return 0;
    if (len > 4 && strcmp(name + len - 4, ".dat") == 0) {
        /* A spool file whose unlink never came: its name carries the pid. */
        stale = tmpfiles_pid_gone(tmpfiles_pid(name + strlen(TMPFILES_PREFIX)));
    } else if ((fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) != -1) {
        if (flock(fd, LOCK_EX | LOCK_NB) == 0 && (n = read(fd, buf, sizeof(buf) - 1)) > 0) {
            buf[n] = '\0';
            stale = tmpfiles_pid(buf) > 0;
        }
        close(fd);
    }
    if (stale && unlinkat(dfd, name, 0) == 0) {
        log_info("removed %s/%s, left by an nwsserver that is gone", srv.cfg.tmpdir, name);
        return 1;
    }
    return 0;
}

size_t
tmpfiles_clean_stale(void)
{
    struct dirent *de;
    DIR           *d;
    size_t         n = 0;

    if ((d = opendir(srv.cfg.tmpdir)) == NULL)
        return 0;
    while ((de = readdir(d)) != NULL)
        if (strncmp(de->d_name, TMPFILES_PREFIX, strlen(TMPFILES_PREFIX)) == 0)
            n += (size_t)tmpfiles_clean_one(dirfd(d), de->d_name);
    closedir(d);
    return n;
}

void
tmpfiles_make_suffix(void)
{
    snprintf(srv.suffix_path, sizeof(srv.suffix_path), "%s/" TMPFILES_PREFIX "XXXXXX",
             srv.cfg.tmpdir);
    if ((tmpfiles_suffix_fd = mkostemp(srv.suffix_path, O_CLOEXEC)) == -1)
        fatal("cannot create a file in %s", srv.cfg.tmpdir);
    if (flock(tmpfiles_suffix_fd, LOCK_EX | LOCK_NB) != 0)
        fatal("cannot lock %s", srv.suffix_path);
    tmpfiles_mark();
    snprintf(srv.suffix, sizeof(srv.suffix), "%s", strrchr(srv.suffix_path, '/') + 1);
}

void
tmpfiles_mark(void)
{
    char buf[32];
    int  n = snprintf(buf, sizeof(buf), "%d\n", (int)getpid());

    if (tmpfiles_suffix_fd == -1)
        return;
    if (ftruncate(tmpfiles_suffix_fd, 0) != 0 ||
        pwrite(tmpfiles_suffix_fd, buf, (size_t)n, 0) != (ssize_t)n)
        log_warn("writing %s", srv.suffix_path);
}

void
tmpfiles_remove_suffix(void)
{
    unlink(srv.suffix_path);
    if (tmpfiles_suffix_fd != -1)
        close(tmpfiles_suffix_fd);
    tmpfiles_suffix_fd = -1;
}

int
tmpfiles_check_pidfile(const char *path)
{
    struct stat st;

    if (lstat(path, &st) == 0 && S_ISLNK(st.st_mode)) {
        log_warnx("--pidfile %s is a symbolic link: refusing to write through it", path);
        return -1;
    }
    return 0;
}

int
tmpfiles_write_pidfile(const char *path)
{
    char tmp[4096], buf[32];
    int  fd, n, ok;

    if (tmpfiles_check_pidfile(path) != 0)
        return -1;
    if ((size_t)snprintf(tmp, sizeof(tmp), "%s.XXXXXX", path) >= sizeof(tmp)) {
        log_warnx("--pidfile %s: path too long", path);
        return -1;
    }
    /* mkostemp creates with O_EXCL: it never opens an existing file or link. */
    if ((fd = mkostemp(tmp, O_CLOEXEC)) == -1) {
        log_warn("--pidfile %s", path);
        return -1;
    }
    n = snprintf(buf, sizeof(buf), "%d\n", (int)getpid());
    ok = fchmod(fd, 0644) == 0 && write(fd, buf, (size_t)n) == (ssize_t)n;
    if (close(fd) != 0)
        ok = 0;
    if (!ok || rename(tmp, path) != 0) {
        log_warn("--pidfile %s", path);
        unlink(tmp);
        return -1;
    }
    return 0;
}
