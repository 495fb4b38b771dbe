/*
 * check_man.c -- every man page under man/ renders cleanly.
 *
 * Each page goes through groff (the mdoc macros, UTF-8, the 78-column
 * line length man(1) uses on an 80-column terminal) with every warning on
 * (-ww); any warning fails.  groff does not warn about mdoc macros that
 * quote in the wrong place, so the rendered text is checked too:
 *   - quotes made by Ql/Sq (‘ ’) and Dq (“ ”) are never nested nor left
 *     open, which catches an enclosure that swallowed the next one;
 *   - no two ASCII double quotes in a row, which is what a Qq inside a
 *     Brq leaves behind ("text"");
 * and in the source, each literal example line (.Dl, .D1, or inside
 * .Bd -literal) has its shell single quotes paired.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "nwstest.h"

/* The whole of a file as a new NUL-terminated string (NULL if unreadable). */
static char *
man_slurp(const char *path)
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

/* The line number (1-based) of position at in text. */
static int
man_lineno(const char *text, const char *at)
{
    int n = 1;

    for (; text < at; text++)
        n += *text == '\n';
    return n;
}

/*
 * Checks that the pairs open/close (UTF-8 strings) in the rendered text
 * neither nest nor stay open; appends a complaint to bad and returns 1 if
 * they do.
 */
static int
man_pairs(const char *page, const char *text, const char *open, const char *close,
          char *bad, size_t cap)
{
    size_t      no = strlen(open), nc = strlen(close);
    const char *p, *opened = NULL;

    for (p = text; *p != '\0'; p++) {
        if (strncmp(p, open, no) == 0) {
            if (opened != NULL)
                goto nested;
            opened = p;
        } else if (strncmp(p, close, nc) == 0) {
            if (opened == NULL)
                goto nested;
            opened = NULL;
        }
    }
    if (opened == NULL)
        return 0;
    p = opened;
nested:
    snprintf(bad + strlen(bad), cap - strlen(bad),
             "%s: rendered line %d: %s%s nested or unpaired\n", page,
             man_lineno(text, p), open, close);
    return 1;
}

/*
 * Checks the single quotes of each literal example line of the source;
 * appends complaints to bad, returns how many.
 */
static int
man_literal_quotes(const char *page, char *src, char *bad, size_t cap)
{
    char *line, *save = NULL;
    int   lit = 0, n = 0;

    for (line = strtok_r(src, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        int         q = 0, example;
        const char *c;

        if (strncmp(line, ".Bd", 3) == 0 && strstr(line, "-literal") != NULL) {
            lit = 1;
            continue;
        }
        if (strncmp(line, ".Ed", 3) == 0) {
            lit = 0;
            continue;
        }
        example = lit || strncmp(line, ".Dl ", 4) == 0 || strncmp(line, ".D1 ", 4) == 0;
        if (!example)
            continue;
        for (c = line; *c != '\0'; c++)
            q += *c == '\'' && (c == line || c[-1] != '\\');
        if (q % 2 != 0) {
            snprintf(bad + strlen(bad), cap - strlen(bad),
                     "%s: example line with an unpaired ': %s\n", page, line);
            n++;
        }
    }
    return n;
}

/* Every page under $NWS_SRC_DIR/man: no groff warning, no broken quoting. */
START_TEST(man_pages_render_clean)
{
    const char    *srcdir = getenv("NWS_SRC_DIR");
    char           dir[1024], path[1280], cmd[4096], out[] = "/tmp/nwstest.man.XXXXXX";
    char           bad[8192] = "";
    struct dirent *de;
    DIR           *d;
    int            pages = 0, fd, st;

    snprintf(dir, sizeof(dir), "%s/man", srcdir ? srcdir : ".");
    ck_assert_msg(system("command -v groff >/dev/null") == 0,
                  "groff is missing: run make deps-test (groff-base)");
    fd = mkstemp(out);
    ck_assert_int_ge(fd, 0);
    close(fd);
    d = opendir(dir);
    ck_assert_msg(d != NULL, "%s: %s", dir, strerror(errno));
    while ((de = readdir(d)) != NULL) {
        const char *dot = strrchr(de->d_name, '.');
        char       *text, *src;

        if (dot == NULL || dot[1] < '1' || dot[1] > '9' || dot[2] != '\0')
            continue;
        pages++;
        snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
        /* The warnings go to stdout (2>&1 >file): they are what we read. */
        snprintf(cmd, sizeof(cmd),
                 "LC_ALL=C.UTF-8 groff -mandoc -Tutf8 -ww -rLL=78n -rLT=78n -P-cbou "
                 "'%s' 2>&1 >'%s'",
                 path, out);
        {
            FILE  *p = popen(cmd, "r");
            char   line[1024];
            size_t len;

            ck_assert_ptr_nonnull(p);
            while (fgets(line, sizeof(line), p) != NULL) {
                len = strlen(bad);
                snprintf(bad + len, sizeof(bad) - len, "%s: groff: %s", de->d_name, line);
            }
            st = pclose(p);
            ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "groff failed on %s",
                          path);
        }
        text = man_slurp(out);
        ck_assert_ptr_nonnull(text);
        man_pairs(de->d_name, text, "\u2018", "\u2019", bad, sizeof(bad));
        man_pairs(de->d_name, text, "\u201c", "\u201d", bad, sizeof(bad));
        if (strstr(text, "\"\"") != NULL) {
            size_t len = strlen(bad);

            snprintf(bad + len, sizeof(bad) - len,
                     "%s: rendered line %d: two double quotes in a row (Qq misplaced?)\n",
                     de->d_name, man_lineno(text, strstr(text, "\"\"")));
        }
        free(text);
        src = man_slurp(path);
        ck_assert_ptr_nonnull(src);
        man_literal_quotes(de->d_name, src, bad, sizeof(bad));
        free(src);
    }
    closedir(d);
    unlink(out);
    ck_assert_msg(pages >= 5, "only %d man pages under %s", pages, dir);
    ck_assert_msg(bad[0] == '\0', "man pages with broken markup:\n%s", bad);
}
END_TEST

NWSTEST_SUITE(man)
{
    Suite *s = suite_create("man");
    TCase *tc = tcase_create("render");

    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, man_pages_render_clean);
    suite_add_tcase(s, tc);
    return s;
}
