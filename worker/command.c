/*
 * command.c -- command tasks: fill the placeholders, run the program
 * without a shell (unless the task asks for one), capture its output.
 *
 * Placeholders (nws_sleigh.h): {} all arguments joined by spaces, {N} the
 * N-th (1-based), with the modifiers . (no extension), / (basename), //
 * (dirname), /. (basename, no extension); {#} element number, {%} rank+1;
 * {{ and }} are literal braces.  With no placeholder, the arguments are
 * appended as words.  Each stream keeps at most max_output bytes (the rest
 * is read and dropped, so the program never blocks on a full pipe); with
 * "spill" a stream may be of any size (cmdout.c); with "stream" the output
 * goes to the master while the program runs (cmdstream.c).  The
 * program runs in a process group of its own, so a timeout kills its
 * children too; it gets SIGKILL if the worker dies, and the worker's
 * SIGTERM handler (main.c) kills its whole group through command_pgid.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sleighp.h"
#include "worker.h"

extern char **environ;

volatile sig_atomic_t command_pgid;

/* A growable string. */
struct cmd_buf {
    char  *data;
    size_t len, cap;
    int    failed;
};

static void
cmd_add(struct cmd_buf *b, const char *p, size_t n)
{
    char  *d;
    size_t cap;

    if (b->failed)
        return;
    if (b->len + n + 1 > b->cap) {
        cap = b->cap ? b->cap : 64;
        while (cap < b->len + n + 1)
            cap *= 2;
        if ((d = realloc(b->data, cap)) == NULL) {
            b->failed = 1;
            return;
        }
        b->data = d;
        b->cap = cap;
    }
    memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
}

static void
cmd_adds(struct cmd_buf *b, const char *s)
{
    cmd_add(b, s, strlen(s));
}

/* Adds s single-quoted for /bin/sh. */
static void
cmd_add_quoted(struct cmd_buf *b, const char *s, size_t n)
{
    size_t i;

    cmd_add(b, "'", 1);
    for (i = 0; i < n; i++) {
        if (s[i] == '\'')
            cmd_adds(b, "'\\''");
        else
            cmd_add(b, &s[i], 1);
    }
    cmd_add(b, "'", 1);
}

/*
 * An argument as text: strings as they are, {"nwsBytes": base64} as those
 * bytes (an argument that is not UTF-8: nws_sleigh_bytes), anything else as
 * JSON.  New, or NULL.
 */
static char *
cmd_arg_text(const json_t *a)
{
    const char *b64;
    size_t      len;

    if (json_is_string(a))
        return strdup(json_string_value(a));
    if (json_is_object(a) && json_object_size(a) == 1 &&
        (b64 = json_string_value(json_object_get(a, "nwsBytes"))) != NULL)
        return nwsp_b64_decode(b64, &len);
    return json_dumps(a, JSON_COMPACT | JSON_ENCODE_ANY);
}

/* Applies a modifier ("", ".", "/", "//", "/.") to s[0..n); adds the part to b. */
static void
cmd_modify(struct cmd_buf *b, const char *s, size_t n, const char *mod, int quote)
{
    const char *base = s, *end = s + n, *p, *dot = NULL;

    for (p = s; p < end; p++)
        if (*p == '/')
            base = p + 1;
    if (strcmp(mod, "//") == 0) {
        if (base == s) {
            s = ".";
            end = s + 1;
        } else {
            end = base - 1 > s ? base - 1 : base;
        }
    } else {
        if (mod[0] == '/')
            s = base;
        if (strchr(mod, '.') != NULL) {
            for (p = base; p < end; p++)
                if (*p == '.' && p > base)
                    dot = p;
            if (dot != NULL)
                end = dot;
        }
    }
    if (quote)
        cmd_add_quoted(b, s, (size_t)(end - s));
    else
        cmd_add(b, s, (size_t)(end - s));
}

/*
 * Expands the placeholders of word into b.  args: the texts (n of them),
 * joined: all of them joined by spaces.  Returns how many placeholders
 * were replaced.
 */
static int
cmd_expand(struct cmd_buf *b, const char *word, char **args, size_t n, const char *joined,
           long index, long rank, int quote)
{
    const char *p = word, *close;
    char        mod[4], num[32];
    size_t      ml;
    long        k;
    char       *end;
    int         found = 0;

    while (*p != '\0') {
        if (p[0] == '{' && p[1] == '{') {
            cmd_add(b, "{", 1);
            p += 2;
            continue;
        }
        if (p[0] == '}' && p[1] == '}') {
            cmd_add(b, "}", 1);
            p += 2;
            continue;
        }
        if (*p != '{' || (close = strchr(p, '}')) == NULL) {
            cmd_add(b, p, 1);
            p++;
            continue;
        }
        /* {#} {%} */
        if (close == p + 2 && (p[1] == '#' || p[1] == '%')) {
            snprintf(num, sizeof(num), "%ld", p[1] == '#' ? index + 1 : rank + 1);
            cmd_adds(b, num);
            p = close + 1;
            found++;
            continue;
        }
        /* {[N][mod]} */
        k = 0;
        end = (char *)p + 1;
        if (p[1] >= '1' && p[1] <= '9')
            k = strtol(p + 1, &end, 10);
        ml = (size_t)(close - end);
        if (ml < sizeof(mod)) {
            memcpy(mod, end, ml);
            mod[ml] = '\0';
        }
        if (ml >= sizeof(mod) ||
            (strcmp(mod, "") != 0 && strcmp(mod, ".") != 0 && strcmp(mod, "/") != 0 &&
             strcmp(mod, "//") != 0 && strcmp(mod, "/.") != 0) ||
            (k > 0 && (size_t)k > n)) {
            cmd_add(b, p, 1); /* not a placeholder, or no such argument: literal */
            p++;
            continue;
        }
        if (k > 0)
            cmd_modify(b, args[k - 1], strlen(args[k - 1]), mod, quote);
        else
            cmd_modify(b, joined, strlen(joined), mod, quote);
        p = close + 1;
        found++;
    }
    return found;
}

/* The argv of the element (new, NULL-terminated), or NULL with *error. */
static char **
cmd_argv(const json_t *task, const json_t *args, long index, long rank, char **error)
{
    const json_t  *tmpl = json_object_get(task, "argv");
    int            shell = json_is_true(json_object_get(task, "shell"));
    size_t         n = json_array_size(args), i, nw = json_array_size(tmpl), na = 0;
    char         **texts = calloc(n + 1, sizeof(*texts)), **argv = NULL;
    struct cmd_buf joined = {0}, line = {0}, word;
    int            found = 0;

    if (texts == NULL)
        goto nomem;
    for (i = 0; i < n; i++) {
        if ((texts[i] = cmd_arg_text(json_array_get(args, i))) == NULL)
            goto nomem;
        if (i > 0)
            cmd_add(&joined, " ", 1);
        cmd_adds(&joined, texts[i]);
    }
    cmd_adds(&joined, "");
    if (joined.failed || (argv = calloc(nw + n + 4, sizeof(*argv))) == NULL)
        goto nomem;
    for (i = 0; i < nw; i++) {
        const char *t = json_string_value(json_array_get(tmpl, i));

        if (t == NULL) {
            *error = strdup("malformed task record: argv holds a non-string");
            goto fail;
        }
        memset(&word, 0, sizeof(word));
        cmd_adds(&word, "");
        found += cmd_expand(&word, t, texts, n, joined.data, index, rank, shell);
        if (word.failed) {
            free(word.data);
            goto nomem;
        }
        argv[na++] = word.data;
    }
    if (found == 0) {
        for (i = 0; i < n; i++) {
            if (shell) {
                memset(&word, 0, sizeof(word));
                cmd_add_quoted(&word, texts[i], strlen(texts[i]));
                if (word.failed) {
                    free(word.data);
                    goto nomem;
                }
                argv[na++] = word.data;
            } else if ((argv[na++] = strdup(texts[i])) == NULL) {
                goto nomem;
            }
        }
    }
    if (shell) {
        for (i = 0; i < na; i++) {
            if (i > 0)
                cmd_add(&line, " ", 1);
            cmd_adds(&line, argv[i]);
        }
        if (line.failed)
            goto nomem;
        nwsp_vec_free(argv);
        if ((argv = calloc(4, sizeof(*argv))) == NULL ||
            (argv[0] = strdup("/bin/sh")) == NULL || (argv[1] = strdup("-c")) == NULL)
            goto nomem;
        argv[2] = line.data;
        line.data = NULL;
    }
    nwsp_vec_free(texts);
    free(joined.data);
    return argv;
nomem:
    *error = strdup("out of memory");
fail:
    nwsp_vec_free(texts);
    nwsp_vec_free(argv);
    free(joined.data);
    free(line.data);
    return NULL;
}

/* The environment of the program: ours plus SLEIGH_SEQ and SLEIGH_RANK.  New, or NULL. */
static char **
cmd_envp(long index, long rank)
{
    size_t n = 0, i, k = 0;
    char **envp;

    while (environ != NULL && environ[n] != NULL)
        n++;
    if ((envp = calloc(n + 3, sizeof(*envp))) == NULL)
        return NULL;
    for (i = 0; i < n; i++) {
        if (strncmp(environ[i], "SLEIGH_SEQ=", 11) == 0 ||
            strncmp(environ[i], "SLEIGH_RANK=", 12) == 0)
            continue;
        if ((envp[k++] = strdup(environ[i])) == NULL)
            goto fail;
    }
    if (asprintf(&envp[k++], "SLEIGH_SEQ=%ld", index + 1) < 0) {
        envp[--k] = NULL;
        goto fail;
    }
    if (asprintf(&envp[k++], "SLEIGH_RANK=%ld", rank) < 0) {
        envp[--k] = NULL;
        goto fail;
    }
    return envp;
fail:
    nwsp_vec_free(envp);
    return NULL;
}

/* Runs the element in directory cwd (NULL: the task's "cwd", else ours): command_run. */
static json_t *
cmd_run_in(const struct worker *w, const json_t *task, const json_t *args, long index,
           const char *dir, char **error)
{
    struct cmdout  out, err;
    struct cmdstream cs;
    struct pollfd  pfd[2];
    char         **argv, **envp, buf[65536], msg[160];
    const char *cwd = dir != NULL ? dir : json_string_value(json_object_get(task, "cwd"));
    json_t        *jmax = json_object_get(task, "max_output"), *res;
    json_t        *jspill = json_object_get(task, "spill");
    double         timeout = json_number_value(json_object_get(task, "timeout"));
    double         start = nwsp_sleigh_now(), t0 = nwsp_mono(), left;
    uint64_t       max = NWSP_SLEIGH_MAX_OUTPUT;
    size_t         spill = 0;
    int            po[2], pe[2], open_fds, st = 0, timed_out = 0, i, rc, devnull, capped = 0;
    int            stdin_fd = -1;
    pid_t          feeder = 0;
    pid_t          pid, parent;
    ssize_t        n;

    *error = NULL;
    if (json_is_integer(jspill) && json_integer_value(jspill) > 0) {
        spill = (size_t)json_integer_value(jspill);
        max = UINT64_MAX; /* streams of any size, unless the task sets a cap */
    }
    if (json_is_integer(jmax) && json_integer_value(jmax) >= 0) {
        max = (uint64_t)json_integer_value(jmax);
        capped = spill > 0;
    }
    if ((argv = cmd_argv(task, args, index, w->w_rank, error)) == NULL)
        return NULL;
    if (json_is_integer(json_object_get(task, "stdin_arg"))) {
        /* --pipe: the element names the value that is the command's stdin. */
        json_int_t k = json_integer_value(json_object_get(task, "stdin_arg"));

        if (k < 1 || (size_t)k > json_array_size(args)) {
            nwsp_vec_free(argv);
            *error = strdup("malformed task record: stdin_arg names no argument");
            return NULL;
        }
        if ((stdin_fd = cmdin_open(w, json_array_get(args, (size_t)(k - 1)), &feeder,
                                   error)) < 0) {
            nwsp_vec_free(argv);
            return NULL;
        }
    }
    if ((envp = cmd_envp(index, w->w_rank)) == NULL || pipe2(po, O_CLOEXEC) != 0) {
        nwsp_vec_free(argv);
        nwsp_vec_free(envp);
        if (stdin_fd >= 0)
            close(stdin_fd);
        cmdin_done(feeder);
        *error = strdup("cannot start the command: out of resources");
        return NULL;
    }
    if (pipe2(pe, O_CLOEXEC) != 0) {
        close(po[0]);
        close(po[1]);
        nwsp_vec_free(argv);
        nwsp_vec_free(envp);
        if (stdin_fd >= 0)
            close(stdin_fd);
        cmdin_done(feeder);
        *error = strdup("cannot start the command: out of resources");
        return NULL;
    }
    fflush(NULL);
    parent = getpid();
    if ((pid = fork()) == 0) {
        setpgid(0, 0);
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        /* A worker killed between the fork and the prctl sent no signal:
         * its command would outlive it, out of reach of a scheduler that
         * tracks the process tree (scancel left such a sleep behind). */
        if (getppid() != parent)
            _exit(127);
        signal(SIGPIPE, SIG_DFL);
        if (stdin_fd >= 0)
            dup2(stdin_fd, 0);
        else if ((devnull = open("/dev/null", O_RDONLY)) >= 0)
            dup2(devnull, 0);
        dup2(po[1], 1);
        dup2(pe[1], 2);
        if (cwd != NULL && chdir(cwd) != 0) {
            snprintf(msg, sizeof(msg), "sleigh: cannot change to %s\n", cwd);
            if (write(2, msg, strlen(msg)) < 0)
                _exit(127);
            _exit(127);
        }
        execvpe(argv[0], argv, envp);
        snprintf(msg, sizeof(msg), "sleigh: cannot run %s: %s\n", argv[0],
                 strerror(errno));
        if (write(2, msg, strlen(msg)) < 0)
            _exit(127);
        _exit(127);
    }
    if (pid > 0) {
        setpgid(pid, pid); /* as the child does: no window without its own group */
        command_pgid = pid;
    }
    close(po[1]);
    close(pe[1]);
    if (stdin_fd >= 0)
        close(stdin_fd);
    nwsp_vec_free(argv);
    nwsp_vec_free(envp);
    if (pid < 0) {
        close(po[0]);
        close(pe[0]);
        cmdin_done(feeder);
        *error = strdup("cannot start the command: fork failed");
        return NULL;
    }
    cmdout_init(&out, max, spill);
    cmdout_init(&err, max, spill);
    cmdstream_init(&cs, w, task, index);
    cmdstream_started(&cs);
    pfd[0].fd = po[0];
    pfd[1].fd = pe[0];
    open_fds = 2;
    while (open_fds > 0) {
        int wait_ms = -1;

        if (timeout > 0) {
            left = timeout - (nwsp_mono() - t0);
            if (left <= 0) {
                kill(-pid, SIGKILL);
                kill(pid, SIGKILL);
                timed_out = 1;
                break;
            }
            wait_ms = (int)(left * 1000) + 1;
        }
        for (i = 0; i < 2; i++)
            pfd[i].events = pfd[i].fd >= 0 ? POLLIN : 0;
        rc = poll(pfd, 2, wait_ms);
        if (rc < 0 && errno == EINTR)
            continue;
        if (rc < 0)
            break;
        for (i = 0; i < 2; i++) {
            struct cmdout *b = i == 0 ? &out : &err;

            if (pfd[i].fd < 0 || !(pfd[i].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            n = read(pfd[i].fd, buf, sizeof(buf));
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0) {
                close(pfd[i].fd);
                pfd[i].fd = -1;
                open_fds--;
                continue;
            }
            if (cs.cs_on) {
                /* Sent now, within the cap; counted as kept (truncated) alike. */
                size_t k = (size_t)n;

                if (b->co_total + k > b->co_max) {
                    k = b->co_max > b->co_total ? (size_t)(b->co_max - b->co_total) : 0;
                    b->co_truncated = 1;
                }
                b->co_total += k;
                cmdstream_add(&cs, i + 1, buf, k);
                continue;
            }
            cmdout_add(b, buf, (size_t)n); /* past the cap: read and dropped */
        }
    }
    for (i = 0; i < 2; i++)
        if (pfd[i].fd >= 0)
            close(pfd[i].fd);
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    command_pgid = 0;
    cmdin_done(feeder);
    if ((res = json_object()) == NULL) {
        cmdout_free(&out);
        cmdout_free(&err);
        *error = strdup("out of memory");
        return NULL;
    }
    if (WIFSIGNALED(st)) {
        json_object_set_new(res, "status", json_integer(128 + WTERMSIG(st)));
        json_object_set_new(res, "signal", json_integer(WTERMSIG(st)));
    } else {
        json_object_set_new(res, "status", json_integer(WEXITSTATUS(st)));
    }
    if (cmdout_result(&out, w, res, "stdout", error) != 0 ||
        cmdout_result(&err, w, res, "stderr", error) != 0 ||
        cmdstream_end(&cs, res, error) != 0) {
        json_decref(res);
        cmdout_free(&out);
        cmdout_free(&err);
        if (*error == NULL)
            *error = strdup("out of memory");
        return NULL;
    }
    json_object_set_new(res, "truncated",
                        json_boolean(out.co_truncated || err.co_truncated));
    json_object_set_new(res, "seconds", json_real(nwsp_mono() - t0));
    json_object_set_new(res, "start", json_real(start));
    cmdout_free(&out);
    cmdout_free(&err);
    if (timed_out)
        snprintf(msg, sizeof(msg), "timed out after %g s", timeout);
    else if (WIFSIGNALED(st))
        snprintf(msg, sizeof(msg), "killed by signal %d", WTERMSIG(st));
    else if (WEXITSTATUS(st) != 0)
        snprintf(msg, sizeof(msg), "exit status %d", WEXITSTATUS(st));
    else if (capped && (out.co_truncated || err.co_truncated))
        /* A cap the task set cut the output: what came back is not the output. */
        snprintf(msg, sizeof(msg), "output cut at %llu bytes (max_output)",
                 (unsigned long long)max);
    else
        msg[0] = '\0';
    if (msg[0] != '\0' && (*error = strdup(msg)) == NULL)
        *error = NULL;
    return res;
}

json_t *
command_run(const struct worker *w, const json_t *task, const json_t *args, long index,
            char **error)
{
    struct xfer_job xj;
    json_t         *res;
    char           *why = NULL;

    /* Files to and from the master (transfer.c): the command runs among them. */
    if (xfer_prepare(w, task, args, &xj, error) != 0)
        return NULL;
    if (!xj.xj_on)
        return cmd_run_in(w, task, args, index, NULL, error);
    if (xj.xj_result != NULL) {
        res = xj.xj_result; /* the end task: nothing to run */
        xj.xj_result = NULL;
        xfer_job_free(&xj);
        return res;
    }
    res = cmd_run_in(w, task, xj.xj_args, index, xj.xj_dir, error);
    if (res != NULL && xfer_finish(w, &xj, res, &why) != 0) {
        /* A file that could not go back fails the element, whatever it did. */
        free(*error);
        *error = why != NULL ? why : strdup("cannot return the files: out of memory");
    }
    xfer_job_free(&xj);
    return res;
}
