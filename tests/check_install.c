/*
 * check_install.c -- `make install` as a user does it, then the C examples
 * of README.md built the way README.md says, through pkg-config only.
 *
 * The examples and their command lines are read from README.md itself, so
 * the file cannot drift from what works:
 *   - a ```c block whose first line is a comment naming a file, "/ * demo.c * /"
 *     or "/ * mod.c: COMMAND * /", is written to that file, and COMMAND (if
 *     any) builds it;
 *   - the ```sh block after "<!-- example: build -->" holds the `cc` lines
 *     that build demo.c, shared and with libnws.a linked in; the latter is
 *     also used for main.c (the Sleigh example), which pulls in libssh.
 * The install goes to a scratch PREFIX, and once to a DESTDIR (staged, with
 * pkg-config's sysroot pointing into it).  The programs then run against a
 * real nwsserver; main.c starts the installed nws-worker.
 *
 * `make install` runs in $NWS_SRC_DIR on the build directory the suite runs
 * from ($NWS_BIN_DIR/..), where everything is already built, so it only
 * copies files.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ptest.h"

#define INST_LIMIT_S 120 /* one command: make install, cc, or a program run */
#define INST_MAX_CMDS 8

/* What README.md gives: the example sources and their build lines. */
struct inst_readme {
    char *build[INST_MAX_CMDS]; /* the `cc` lines of the build block */
    int   nbuild;
    char *cmd[INST_MAX_CMDS]; /* the commands in the first-line comments */
    int   ncmd;
    int   nfiles;
};

static char inst_dir[256];

/* Fixture: a scratch directory, removed afterwards. */
static void
inst_setup(void)
{
    snprintf(inst_dir, sizeof(inst_dir), "/tmp/nwstest.install.XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(inst_dir));
}

/* Fixture teardown. */
static void
inst_teardown(void)
{
    char cmd[512];

    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", inst_dir);
    if (system(cmd) != 0)
        fprintf(stderr, "check_install: could not remove %s\n", inst_dir);
}

/* A new string: the printf-style format filled in. */
static char *
inst_fmt(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static char *
inst_fmt(const char *fmt, ...)
{
    va_list ap;
    char   *s;

    va_start(ap, fmt);
    ck_assert_int_ge(vasprintf(&s, fmt, ap), 0);
    va_end(ap);
    return s;
}

/* The whole of a file as a new NUL-terminated string (NULL if unreadable). */
static char *
inst_slurp(const char *path)
{
    FILE  *f = fopen(path, "r");
    char  *p = NULL;
    size_t n = 0, cap = 0, r;

    if (f == NULL)
        return NULL;
    do {
        if (cap - n < 4096) {
            cap = cap * 2 + 8192;
            p = realloc(p, cap);
            ck_assert_ptr_nonnull(p);
        }
        r = fread(p + n, 1, cap - n - 1, f);
        n += r;
    } while (r > 0);
    fclose(f);
    p[n] = '\0';
    return p;
}

/* Writes s to path; asserts. */
static void
inst_write(const char *path, const char *s)
{
    FILE *f = fopen(path, "w");

    ck_assert_msg(f != NULL, "%s: %s", path, strerror(errno));
    ck_assert_int_eq(fputs(s, f) >= 0, 1);
    ck_assert_int_eq(fclose(f), 0);
}

/*
 * Runs `sh -c cmd` in dir with the environment changes env ("NAME=value"
 * to set, "NAME" to unset; NULL-terminated), stdout and stderr into *out (a
 * new string), within INST_LIMIT_S.  Returns the exit status, 128+signal,
 * or -1 on timeout.
 */
static int
inst_sh(const char *dir, const char *const *env, const char *cmd, char **out)
{
    char  log[512];
    int   fd, st = 0, i;
    pid_t pid;

    snprintf(log, sizeof(log), "%s/sh.log", inst_dir);
    fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    ck_assert_int_ge(fd, 0);
    pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        setpgid(0, 0); /* a timeout kills the whole group */
        for (; env != NULL && *env != NULL; env++) {
            const char *eq = strchr(*env, '=');

            if (eq == NULL) {
                unsetenv(*env);
            } else {
                char *name = strndup(*env, (size_t)(eq - *env));

                setenv(name, eq + 1, 1);
            }
        }
        dup2(fd, 1);
        dup2(fd, 2);
        if (chdir(dir) != 0)
            _exit(126);
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    close(fd);
    for (i = 0; i < INST_LIMIT_S * 20; i++) {
        if (waitpid(pid, &st, WNOHANG) == pid)
            break;
        usleep(50 * 1000);
    }
    if (i == INST_LIMIT_S * 20) {
        kill(-pid, SIGKILL);
        waitpid(pid, &st, 0);
        st = -1;
    }
    *out = inst_slurp(log);
    ck_assert_ptr_nonnull(*out);
    if (st == -1)
        return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* inst_sh that must succeed; returns its output (a new string). */
static char *
inst_ok(const char *dir, const char *const *env, const char *cmd)
{
    char *out;
    int   rc = inst_sh(dir, env, cmd, &out);

    ck_assert_msg(rc == 0, "`%s` failed (%d):\n%s", cmd, rc, out);
    return out;
}

/* A new copy of s with every from replaced by to. */
static char *
inst_replace(const char *s, const char *from, const char *to)
{
    size_t      nf = strlen(from), nt = strlen(to), n = 0;
    const char *p;
    char       *r, *w;

    for (p = s; (p = strstr(p, from)) != NULL; p += nf)
        n++;
    r = malloc(strlen(s) + n * nt + 1);
    ck_assert_ptr_nonnull(r);
    for (w = r; (p = strstr(s, from)) != NULL; s = p + nf) {
        memcpy(w, s, (size_t)(p - s));
        w += p - s;
        memcpy(w, to, nt);
        w += nt;
    }
    strcpy(w, s);
    return r;
}

/*
 * Reads README.md: writes each named C example into wdir (main.c with its
 * module path pointing at wdir/mod.so) and collects the build lines.
 */
static void
inst_readme_load(const char *wdir, struct inst_readme *rd)
{
    const char *src = getenv("NWS_SRC_DIR");
    char       *path, *text, *line, *save = NULL, *block = NULL, *name = NULL;
    size_t      blen = 0;
    int         in_c = 0, in_build = 0, want_build = 0, first = 0;

    memset(rd, 0, sizeof(*rd));
    path = inst_fmt("%s/README.md", src ? src : ".");
    text = inst_slurp(path);
    ck_assert_msg(text != NULL, "%s: %s", path, strerror(errno));
    for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        if (in_c) {
            if (strcmp(line, "```") == 0) {
                in_c = 0;
                if (name != NULL) {
                    char *file = inst_fmt("%s/%s", wdir, name), *fixed;

                    if (strcmp(name, "main.c") == 0) {
                        char *mod = inst_fmt("%s/mod.so", wdir);

                        ck_assert_msg(strstr(block, "/abs/path/mod.so") != NULL,
                                      "README's main.c no longer loads /abs/path/mod.so");
                        fixed = inst_replace(block, "/abs/path/mod.so", mod);
                        free(mod);
                    } else {
                        fixed = strdup(block);
                    }
                    inst_write(file, fixed);
                    free(fixed);
                    free(file);
                    rd->nfiles++;
                }
                free(block);
                free(name);
                block = name = NULL;
                continue;
            }
            if (first) {
                /* "/ * name.c * /" or "/ * name.c: command * /" */
                size_t n = strlen(line);

                first = 0;
                if (strncmp(line, "/* ", 3) == 0 && n > 6 &&
                    strcmp(line + n - 3, " */") == 0) {
                    char *body = strndup(line + 3, n - 6), *colon;

                    colon = strstr(body, ": ");
                    if (colon != NULL) {
                        *colon = '\0';
                        ck_assert_int_lt(rd->ncmd, INST_MAX_CMDS);
                        rd->cmd[rd->ncmd++] = strdup(colon + 2);
                    }
                    if (strchr(body, ' ') == NULL && strstr(body, ".c") != NULL)
                        name = strdup(body);
                    free(body);
                }
            }
            block = realloc(block, blen + strlen(line) + 2);
            ck_assert_ptr_nonnull(block);
            strcpy(block + blen, line);
            blen += strlen(line);
            block[blen++] = '\n';
            block[blen] = '\0';
        } else if (in_build) {
            if (strcmp(line, "```") == 0)
                in_build = 0;
            else if (strncmp(line, "cc ", 3) == 0) {
                ck_assert_int_lt(rd->nbuild, INST_MAX_CMDS);
                rd->build[rd->nbuild++] = strdup(line);
            }
        } else if (strcmp(line, "```c") == 0) {
            in_c = first = 1;
            blen = 0;
            block = strdup("");
        } else if (strcmp(line, "<!-- example: build -->") == 0) {
            want_build = 1;
        } else if (want_build && strcmp(line, "```sh") == 0) {
            want_build = 0;
            in_build = 1;
        }
    }
    free(text);
    free(path);
    ck_assert_msg(rd->nfiles >= 3, "README.md: %d named C examples, want demo.c, mod.c "
                  "and main.c", rd->nfiles);
    ck_assert_msg(rd->nbuild == 2, "README.md: %d cc lines after <!-- example: build -->, "
                  "want 2 (shared, static)", rd->nbuild);
    ck_assert_msg(strstr(rd->build[0], "-o demo") && strstr(rd->build[1], "-o demo"),
                  "README.md's build lines do not build demo");
}

/* Frees what inst_readme_load kept. */
static void
inst_readme_free(struct inst_readme *rd)
{
    int i;

    for (i = 0; i < rd->nbuild; i++)
        free(rd->build[i]);
    for (i = 0; i < rd->ncmd; i++)
        free(rd->cmd[i]);
}

/* Whether the suite runs on the sanitizer build (make SAN=1 check). */
static int
inst_san(void)
{
    const char *bin = getenv("NWS_BIN_DIR");

    return bin != NULL && strstr(bin, "/build-san/") != NULL;
}

/*
 * make install with the given variables (a string of NAME=value words),
 * from $NWS_SRC_DIR, on the build directory of this run.
 */
static void
inst_make_install(const char *vars)
{
    const char       *src = getenv("NWS_SRC_DIR"), *bin = getenv("NWS_BIN_DIR");
    const char *const env[] = {"MAKEFLAGS", "MFLAGS", "MAKELEVEL", NULL};
    char             *b, *cmd, *out;

    ck_assert_msg(src != NULL && bin != NULL, "run through make check (NWS_SRC_DIR)");
    b = strdup(bin);
    *strrchr(b, '/') = '\0'; /* .../build/bin -> .../build */
    cmd = inst_fmt("make --no-print-directory install B='%s' %s %s", b,
                   inst_san() ? "SAN=1" : "", vars);
    out = inst_ok(src, env, cmd);
    free(out);
    free(cmd);
    free(b);
}

/*
 * Checks the installed libnws.pc (pcdir) names prefix and nothing of
 * stage (the DESTDIR, or NULL), and that jansson is a public requirement.
 */
static void
inst_check_pc(const char *pcdir, const char *prefix, const char *stage)
{
    char *path = inst_fmt("%s/libnws.pc", pcdir), *pc = inst_slurp(path);
    char *want = inst_fmt("prefix=%s\n", prefix);

    ck_assert_msg(pc != NULL, "%s is missing", path);
    ck_assert_msg(strncmp(pc, want, strlen(want)) == 0, "%s does not start with %s:\n%s",
                  path, want, pc);
    if (stage != NULL)
        ck_assert_msg(strstr(pc, stage) == NULL, "%s names the DESTDIR %s:\n%s", path,
                      stage, pc);
    ck_assert_msg(strstr(pc, "\nRequires: jansson") != NULL,
                  "%s: jansson is not in Requires (nws_json.h uses its types):\n%s", path,
                  pc);
    free(want);
    free(pc);
    free(path);
}

/*
 * Builds README's examples in wdir with the environment env (pkg-config
 * pointing at the install, the installed bin first on PATH), then runs
 * them against a real server: shared ones with LD_LIBRARY_PATH at libdir,
 * the static ones without.
 */
static void
inst_build_and_run(const char *wdir, const char *libdir, const char *path_env,
                   const char *pc_env, const char *sysroot_env, int sleigh)
{
    struct inst_readme     rd;
    struct nwstest_server *srv;
    char                  *out, *cmd, *port, *ldp, *asan;
    int                    i;

    inst_readme_load(wdir, &rd);
    {
        const char *const env[] = {path_env, pc_env, sysroot_env, NULL};

        free(inst_ok(wdir, env, rd.build[0]));
        if (sleigh) {
            /* mod.so and main from their comments, then main with libnws.a
             * linked in, by README's static line. */
            for (i = 0; i < rd.ncmd; i++)
                free(inst_ok(wdir, env, rd.cmd[i]));
            cmd = inst_replace(rd.build[1], "demo", "main-static");
            out = inst_replace(cmd, "main-static.c", "main.c");
            free(inst_ok(wdir, env, out));
            free(out);
            free(cmd);
        }
    }
    /* The static programs do not need libnws.so. */
    out = inst_ok(wdir, NULL, "readelf -d demo");
    ck_assert_msg(strstr(out, "libnws.so") != NULL, "demo is not linked with libnws.so");
    free(out);
    cmd = inst_replace(rd.build[1], "-o demo", "-o demo-static");
    {
        const char *const env[] = {path_env, pc_env, sysroot_env, NULL};

        free(inst_ok(wdir, env, cmd));
    }
    free(cmd);
    out = inst_ok(wdir, NULL, "readelf -d demo-static");
    ck_assert_msg(strstr(out, "libnws.so") == NULL,
                  "demo-static needs libnws.so:\n%s", out);
    free(out);

    srv = ptest_start(NULL);
    port = inst_fmt("NWS_PORT=%d", srv->port);
    ldp = inst_fmt("LD_LIBRARY_PATH=%s", libdir);
    /* README's main.c leaks its result on purpose of brevity. */
    asan = strdup("ASAN_OPTIONS=detect_leaks=0");
    {
        const char *const shared[] = {"NWS_HOST=127.0.0.1", port, ldp, path_env, asan, NULL};
        const char *const stat[] = {"NWS_HOST=127.0.0.1", port, "LD_LIBRARY_PATH",
                                    path_env, asan, NULL};

        out = inst_ok(wdir, shared, "./demo");
        ck_assert_msg(strcmp(out, "hello\n") == 0, "demo printed %s", out);
        free(out);
        out = inst_ok(wdir, stat, "./demo-static");
        ck_assert_msg(strcmp(out, "hello\n") == 0, "demo-static printed %s", out);
        free(out);
        if (sleigh) {
            out = inst_ok(wdir, shared, "./main");
            ck_assert_msg(strstr(out, "[1, 8, 27, 64]") != NULL, "main printed %s", out);
            free(out);
            out = inst_ok(wdir, stat, "./main-static");
            ck_assert_msg(strstr(out, "[1, 8, 27, 64]") != NULL, "main-static printed %s",
                          out);
            free(out);
        }
    }
    ptest_stop(srv);
    free(asan);
    free(ldp);
    free(port);
    inst_readme_free(&rd);
}

/*
 * Under the sanitizer build libnws.a needs the sanitizer runtimes: a `cc`
 * first on PATH adds the flags, so README's lines stay as they are.
 * Returns the PATH setting for the commands.
 */
static char *
inst_path(const char *bindir)
{
    const char *path = getenv("PATH");

    if (inst_san()) {
        char *wrap = inst_fmt("%s/sancc", inst_dir), *cc = inst_fmt("%s/cc", wrap);

        ck_assert_int_eq(mkdir(wrap, 0700), 0);
        inst_write(cc, "#!/bin/sh\nexec /usr/bin/cc -fsanitize=address,undefined \"$@\"\n");
        ck_assert_int_eq(chmod(cc, 0700), 0);
        path = inst_fmt("PATH=%s:%s:%s", wrap, bindir, path ? path : "/usr/bin:/bin");
        free(cc);
        free(wrap);
        return (char *)path;
    }
    return inst_fmt("PATH=%s:%s", bindir, path ? path : "/usr/bin:/bin");
}

/* make install PREFIX=tmp: libnws.pc names that prefix; README's examples
 * build (shared and static) and run, the Sleigh one with the installed worker. */
START_TEST(install_prefix_readme_examples)
{
    char *prefix = inst_fmt("%s/p", inst_dir), *wdir = inst_fmt("%s/w", inst_dir);
    char *vars = inst_fmt("PREFIX='%s'", prefix), *pcdir = inst_fmt("%s/lib/pkgconfig", prefix);
    char *libdir = inst_fmt("%s/lib", prefix), *bindir = inst_fmt("%s/bin", prefix);
    char *pc_env = inst_fmt("PKG_CONFIG_PATH=%s", pcdir), *path_env = inst_path(bindir);

    ck_assert_int_eq(mkdir(wdir, 0700), 0);
    inst_make_install(vars);
    inst_check_pc(pcdir, prefix, NULL);
    inst_build_and_run(wdir, libdir, path_env, pc_env, "PKG_CONFIG_SYSROOT_DIR", 1);
    free(path_env);
    free(pc_env);
    free(bindir);
    free(libdir);
    free(pcdir);
    free(vars);
    free(wdir);
    free(prefix);
}
END_TEST

/* make install DESTDIR=stage PREFIX=/opt/nws: the staged libnws.pc names
 * /opt/nws, never the stage; with pkg-config's sysroot at the stage,
 * README's demo builds and runs. */
START_TEST(install_destdir_staged)
{
    char *stage = inst_fmt("%s/stage", inst_dir), *wdir = inst_fmt("%s/w", inst_dir);
    char *vars = inst_fmt("DESTDIR='%s' PREFIX=/opt/nws", stage);
    char *pcdir = inst_fmt("%s/opt/nws/lib/pkgconfig", stage);
    char *libdir = inst_fmt("%s/opt/nws/lib", stage), *bindir = inst_fmt("%s/opt/nws/bin", stage);
    char *pc_env = inst_fmt("PKG_CONFIG_PATH=%s", pcdir), *path_env = inst_path(bindir);
    char *root_env = inst_fmt("PKG_CONFIG_SYSROOT_DIR=%s", stage);

    ck_assert_int_eq(mkdir(wdir, 0700), 0);
    inst_make_install(vars);
    inst_check_pc(pcdir, "/opt/nws", stage);
    inst_build_and_run(wdir, libdir, path_env, pc_env, root_env, 0);
    free(root_env);
    free(path_env);
    free(pc_env);
    free(bindir);
    free(libdir);
    free(pcdir);
    free(vars);
    free(wdir);
    free(stage);
}
END_TEST

/*
 * The targets that run apt-get come after deps, never beside it: with
 * make -j2 check, deps (for all) and deps-test ran at once and the second
 * apt-get failed on apt's lock on a fresh machine.  Read from make's own
 * database of the Makefile (-p), running nothing (-n, -q).
 */
START_TEST(deps_targets_serialized)
{
    const char       *src = getenv("NWS_SRC_DIR");
    const char *const env[] = {"MAKEFLAGS", "MFLAGS", "MAKELEVEL", NULL};
    char             *out;

    ck_assert_msg(src != NULL, "run through make check (NWS_SRC_DIR)");
    inst_sh(src, env, "make -pnq deps-test", &out); /* -q: exit 1, out of date */
    ck_assert_msg(strstr(out, "\ndeps-test: deps\n") != NULL,
                  "deps-test does not depend on deps");
    ck_assert_msg(strstr(out, "\ndeps-bench: deps\n") != NULL,
                  "deps-bench does not depend on deps");
    free(out);
}
END_TEST

NWSTEST_SUITE(install)
{
    Suite *s = suite_create("install");
    TCase *tc = tcase_create("readme");

    tcase_add_checked_fixture(tc, inst_setup, inst_teardown);
    tcase_set_timeout(tc, 4 * INST_LIMIT_S);
    tcase_add_test(tc, install_prefix_readme_examples);
    tcase_add_test(tc, install_destdir_staged);
    suite_add_tcase(s, tc);
    tc = tcase_create("deps");
    tcase_add_checked_fixture(tc, inst_setup, inst_teardown);
    tcase_add_test(tc, deps_targets_serialized);
    suite_add_tcase(s, tc);
    return s;
}
