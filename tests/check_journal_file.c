/*
 * check_journal_file.c -- a journal cut at every byte offset of its last
 * records, and corrupted in the middle.
 *
 * A server stores values JTM-<i>-... (one per variable v<i>, in order) and is
 * killed; the test finds the journal file by the values' bytes (the journal
 * layout is journal.h's business, not ours: a value of a few bytes is
 * journaled inline, so its bytes are in the incremental journal, in order).
 * Then on copies of that directory:
 *   - cut: the file is truncated at each offset of the last three records:
 *     `--journal-check DIR` exits 0 on every such cut; on each offset of the
 *     last two the server must start, hold exactly a prefix v1..vj of the
 *     values (every value whose record is whole before the cut, none that
 *     is cut), say `journal: cut torn tail at offset N` when the cut falls
 *     inside a value; on every third offset it must also take a new store
 *     after the cut and come back with all of that after another kill (the
 *     cut was made for good: no second cut).
 *   - corrupt: each byte of the region of a middle record is flipped in
 *     turn; `--journal-check DIR` must exit 1 on every one.  For a few of
 *     them the server must refuse to start (`journal: corrupt record at
 *     offset N`), start with --journal-ignore-corrupt holding the values
 *     before it, and after `--journal-check DIR --fix` load plainly.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "jtest.h"
#include "nwstest.h"
#include "rawc.h"

#define JF_K  6 /* values stored */
#define JF_WS "jf"

/* The journal under test: where each value's bytes are. */
struct jf {
    struct jsrv srv;
    char        pristine[400]; /* copy of the journal DIR after the stores */
    char        jpath[400];    /* the journal file, inside srv.dir */
    char        rel[400];      /* its path relative to srv.dir */
    long long   m[JF_K + 1];   /* offset of value i (1-based) */
    size_t      vlen[JF_K + 1];
    long long   size;
    char        val[JF_K + 1][64];
};

static const char *const jf_nocompact[] = {"--journal-compact-min", "1073741824", NULL};

/* Stores the values, kills the server, locates them in the journal. */
static void
jf_setup(struct jf *f)
{
    struct rawc c;
    struct stat st;
    char        path[400], *buf;
    int         i, fd;
    long long   off;

    memset(f, 0, sizeof(*f));
    ck_assert_int_eq(jsrv_init(&f->srv, NULL, "always"), 0);
    ck_assert_msg(jsrv_start(&f->srv, jf_nocompact) == 0, "no start (status %d)",
                  f->srv.status);
    ck_assert_int_eq(jtest_connect_ws(&c, f->srv.port, JF_WS), 0);
    for (i = 1; i <= JF_K; i++) {
        char var[16];

        snprintf(f->val[i], sizeof(f->val[i]), "JTM-%d-%08x", i,
                 0x5eed0000u + (unsigned)i);
        f->vlen[i] = strlen(f->val[i]);
        snprintf(var, sizeof(var), "v%d", i);
        ck_assert_int_eq(jtest_store(&c, JF_WS, var, f->val[i]), 0);
    }
    rawc_close(&c);
    jsrv_kill9(&f->srv);

    ck_assert_msg(jtest_find_bytes(f->srv.dir, f->val[JF_K], f->vlen[JF_K], f->jpath,
                                   sizeof(f->jpath), &off) == 0,
                  "the last value's bytes are in no file under %s", f->srv.dir);
    snprintf(f->rel, sizeof(f->rel), "%s", f->jpath + strlen(f->srv.dir) + 1);
    ck_assert_int_ge(fd = open(f->jpath, O_RDONLY), 0);
    buf = nwstest_slurp(fd, NULL);
    ck_assert_int_eq(fstat(fd, &st), 0);
    close(fd);
    /* The server reserves space ahead as zeros after its last record (the
     * reader skips them): the journal proper ends at its last non-zero byte
     * (a record ends with a value's bytes here, never with a zero). */
    f->size = st.st_size;
    while (f->size > 0 && buf[f->size - 1] == 0)
        f->size--;
    ck_assert_int_eq(truncate(f->jpath, f->size), 0);
    for (i = 1; i <= JF_K; i++) {
        char *hit = memmem(buf, (size_t)st.st_size, f->val[i], f->vlen[i]);

        ck_assert_msg(hit != NULL, "value %d is not in %s", i, f->jpath);
        f->m[i] = hit - buf;
        if (i > 1)
            ck_assert_int_gt(f->m[i], f->m[i - 1]);
    }
    free(buf);
    snprintf(path, sizeof(path), "%s/pristine", f->srv.base);
    snprintf(f->pristine, sizeof(f->pristine), "%s", path);
    ck_assert_int_eq(jtest_copy_dir(f->srv.dir, f->pristine), 0);
}

/* Puts the pristine journal back, cut at len bytes (-1: whole). */
static void
jf_restore(struct jf *f, long long len)
{
    ck_assert_int_eq(jtest_copy_dir(f->pristine, f->srv.dir), 0);
    if (len >= 0)
        ck_assert_int_eq(truncate(f->jpath, len), 0);
}

/* Flips one byte of the journal file. */
static void
jf_flip(struct jf *f, long long at)
{
    int           fd = open(f->jpath, O_RDWR);
    unsigned char b;

    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(pread(fd, &b, 1, at), 1);
    b ^= 0xff;
    ck_assert_int_eq(pwrite(fd, &b, 1, at), 1);
    close(fd);
}

/*
 * The values the running server holds must be v1..vj exactly (right bytes,
 * no gap); returns j.
 */
static int
jf_prefix(struct jf *f, const char *what)
{
    struct rawc c;
    char        got[128], var[16];
    int         i, j = 0, rc;

    ck_assert_int_eq(jtest_connect_ws(&c, f->srv.port, JF_WS), 0);
    for (i = 1; i <= JF_K; i++) {
        snprintf(var, sizeof(var), "v%d", i);
        rc = jtest_get(&c, JF_WS, var, 0, got, sizeof(got));
        ck_assert_int_ge(rc, 0);
        if (rc == 1) {
            ck_assert_msg(strcmp(got, f->val[i]) == 0, "%s: v%d holds '%s', not '%s'",
                          what, i, got, f->val[i]);
            ck_assert_msg(j == i - 1, "%s: v%d is there but v%d is not", what, i, j + 1);
            j = i;
        }
    }
    rawc_close(&c);
    return j;
}

static int
jf_check(struct jf *f, int fix, char *out, size_t outlen)
{
    const char *argv[] = {"--journal-check", f->srv.dir, fix ? "--fix" : NULL, NULL};

    return jtest_nwsserver_run(out, outlen, argv);
}

START_TEST(cut_every_offset_of_the_tail)
{
    static struct jf f;
    char             what[128], out[4096];
    long long        c, from, from2, n;
    int              j, i, starts = 0;
    struct rawc      cl;

    jf_setup(&f);
    /* From inside the third value before the end (its record's head too). */
    from = f.m[JF_K - 2] - 24 > 0 ? f.m[JF_K - 2] - 24 : 0;
    from2 = f.m[JF_K - 1] - 24 > from ? f.m[JF_K - 1] - 24 : from;
    for (c = from; c <= f.size; c++) {
        snprintf(what, sizeof(what), "journal cut at %lld of %lld", c, f.size);
        jf_restore(&f, c);
        ck_assert_msg(jf_check(&f, 0, out, sizeof(out)) == 0,
                      "%s: --journal-check does not call it loadable: %s", what, out);
        /* The server itself on the last two records (a start is dearer). */
        if (c < from2)
            continue;
        jf_restore(&f, c);
        jsrv_log_reset(&f.srv);
        ck_assert_msg(jsrv_start(&f.srv, jf_nocompact) == 0,
                      "%s: the server refused to start (status %d)", what, f.srv.status);
        starts++;
        j = jf_prefix(&f, what);
        for (i = 1; i <= JF_K; i++) {
            if (c < f.m[i] + (long long)f.vlen[i])
                ck_assert_msg(j < i, "%s: v%d loaded from a cut record", what, i);
            if (i < JF_K && c >= f.m[i + 1])
                ck_assert_msg(j >= i, "%s: v%d lost though its record is whole", what, i);
        }
        if (c == f.size)
            ck_assert_int_eq(j, JF_K);
        n = jsrv_log_num(&f.srv, "journal: cut torn tail at offset ");
        if (c == f.size)
            ck_assert_msg(n < 0, "%s: a whole journal was cut at %lld", what, n);
        for (i = 1; i <= JF_K; i++)
            if (c > f.m[i] && c < f.m[i] + (long long)f.vlen[i])
                ck_assert_msg(n >= 0, "%s: cut inside v%d without the log line", what, i);
        if (n >= 0) {
            ck_assert_msg(n <= c, "%s: cut at %lld, past the end", what, n);
            if (j > 0)
                ck_assert_msg(n >= f.m[j] + (long long)f.vlen[j],
                              "%s: cut at %lld, inside v%d which was loaded", what, n, j);
        }
        /* It goes on from there, and the cut holds after another crash. */
        if ((c - from2) % 3 != 0 && c != f.size) {
            jsrv_kill9(&f.srv);
            continue;
        }
        ck_assert_int_eq(jtest_connect_ws(&cl, f.srv.port, JF_WS), 0);
        ck_assert_int_eq(jtest_store(&cl, JF_WS, "after", "after-the-cut"), 0);
        rawc_close(&cl);
        jsrv_kill9(&f.srv);
        jsrv_log_reset(&f.srv);
        ck_assert_msg(jsrv_start(&f.srv, jf_nocompact) == 0,
                      "%s: no restart after writing past the cut (status %d)", what,
                      f.srv.status);
        starts++;
        ck_assert_msg(!jsrv_log_has(&f.srv, "journal: cut torn tail"),
                      "%s: a second cut after the first", what);
        ck_assert_msg(!jsrv_log_has(&f.srv, "journal: corrupt record"),
                      "%s: corrupt after writing past the cut", what);
        ck_assert_int_eq(jf_prefix(&f, what), j);
        {
            char got[64];

            ck_assert_int_eq(jtest_connect_ws(&cl, f.srv.port, JF_WS), 0);
            ck_assert_msg(jtest_get(&cl, JF_WS, "after", 0, got, sizeof(got)) == 1,
                          "%s: the store after the cut was lost", what);
            ck_assert_str_eq(got, "after-the-cut");
            rawc_close(&cl);
        }
        jsrv_kill9(&f.srv);
    }
    printf(
        "journal cut test: %lld offsets checked (%lld..%lld of a %lld-byte journal), the "
        "server started on %lld of them, %d starts\n",
        f.size - from + 1, from, f.size, f.size, f.size - from2 + 1, starts);
    jsrv_free(&f.srv);
}
END_TEST

/*
 * With byte b damaged, the values kept (v1..vj) are those of the records
 * before the damaged one: every value whose next value starts at or before
 * b (its record ended before b), and none whose own bytes reach past b.
 */
static void
jf_expect_before(struct jf *f, long long b, int j, const char *what)
{
    int i;

    for (i = 1; i <= JF_K; i++) {
        if (i < JF_K && f->m[i + 1] <= b)
            ck_assert_msg(j >= i, "%s: v%d lost though its record is before the damage",
                          what, i);
        if (f->m[i] + (long long)f->vlen[i] > b)
            ck_assert_msg(j < i, "%s: v%d kept though the damage is in or before it",
                          what, i);
    }
}

START_TEST(corrupt_middle_record_refused)
{
    static struct jf f;
    char             what[128], out[4096];
    long long        b, from, to, n;
    int              rc, j, tried = 0;

    jf_setup(&f);
    /* Everything between the end of v2 and the start of v4: v3's record whole. */
    from = f.m[2] + (long long)f.vlen[2];
    to = f.m[4];
    for (b = from; b < to; b++) {
        jf_restore(&f, -1);
        jf_flip(&f, b);
        rc = jf_check(&f, 0, out, sizeof(out));
        ck_assert_msg(
            rc == 1,
            "byte %lld of %s flipped (a middle record): --journal-check exited %d, "
            "not 1: %s",
            b, f.rel, rc, out);
        tried++;
    }
    /* The server, on three of them: in v3's bytes, just before, just after. */
    {
        long long at[3] = {f.m[3] + 2, f.m[3] - 1, f.m[3] + (long long)f.vlen[3]};
        int       k;

        for (k = 0; k < 3; k++) {
            b = at[k];
            snprintf(what, sizeof(what), "byte %lld flipped", b);
            jf_restore(&f, -1);
            jf_flip(&f, b);
            jsrv_log_reset(&f.srv);
            ck_assert_msg(jsrv_start(&f.srv, jf_nocompact) != 0,
                          "%s: the server started on a corrupt journal", what);
            ck_assert(WIFEXITED(f.srv.status) && WEXITSTATUS(f.srv.status) != 0);
            n = jsrv_log_num(&f.srv, "journal: corrupt record at offset ");
            ck_assert_msg(n >= 0 && n <= b, "%s: log says offset %lld", what, n);
            ck_assert_msg(n >= f.m[2], "%s: corrupt offset %lld before v2's record", what,
                          n);
            /* Told to, it starts with what came before the corrupt record. */
            {
                const char *ign[] = {"--journal-compact-min", "1073741824",
                                     "--journal-ignore-corrupt", NULL};

                jsrv_log_reset(&f.srv);
                ck_assert_msg(jsrv_start(&f.srv, ign) == 0,
                              "%s: --journal-ignore-corrupt did not start", what);
                ck_assert(jsrv_log_has(&f.srv, "journal: corrupt record at offset"));
                j = jf_prefix(&f, what);
                jf_expect_before(&f, b, j, what);
                jsrv_kill9(&f.srv);
            }
            /* --fix cuts at the last good record: then it loads plainly. */
            jf_restore(&f, -1);
            jf_flip(&f, b);
            rc = jf_check(&f, 1, out, sizeof(out));
            ck_assert_msg(rc == 0, "%s: --journal-check --fix exited %d: %s", what, rc,
                          out);
            rc = jf_check(&f, 0, out, sizeof(out));
            ck_assert_msg(rc == 0, "%s: still not loadable after --fix: %s", what, out);
            jsrv_log_reset(&f.srv);
            ck_assert_msg(jsrv_start(&f.srv, jf_nocompact) == 0,
                          "%s: no start after --fix (status %d)", what, f.srv.status);
            j = jf_prefix(&f, what);
            jf_expect_before(&f, b, j, what);
            jsrv_kill9(&f.srv);
        }
    }
    /* And the untouched journal checks clean. */
    jf_restore(&f, -1);
    ck_assert_int_eq(jf_check(&f, 0, out, sizeof(out)), 0);
    printf("journal corruption test: %d bytes of a middle record flipped one by one, "
           "each refused\n",
           tried);
    jsrv_free(&f.srv);
}
END_TEST

/* How many files under dir hold needle. */
static int
jf_files_holding(const char *dir, const char *needle)
{
    char **names;
    int    n = jtest_files(dir, &names), i, hits = 0;

    for (i = 0; i < n; i++) {
        int    fd = open(names[i], O_RDONLY);
        size_t len;
        char  *buf;

        if (fd >= 0) {
            buf = nwstest_slurp(fd, &len);
            hits += memmem(buf, len, needle, strlen(needle)) != NULL;
            free(buf);
            close(fd);
        }
        free(names[i]);
    }
    free(names);
    return n < 0 ? 0 : hits;
}

/*
 * DIR is private (0700, files 0600, even under umask 0), and a spooled value
 * lives in DIR once: in its own file, not copied into the journal, and it
 * comes back after a SIGKILL with nothing left behind in --tmpdir.
 */
START_TEST(dir_private_and_spooled_value_once)
{
    static struct jsrv s;
    static char        big[8193], got[8300];
    const char        *args[] = {"--spool-threshold", "4096", "--journal-compact-min",
                                 "1073741824", NULL};
    struct rawc        c;
    struct stat        st;
    char             **names;
    int                n, i;

    ck_assert_int_eq(jsrv_init(&s, NULL, "always"), 0);
    ck_assert_int_eq(rmdir(s.dir), 0); /* the server makes it */
    umask(0);
    memset(big, 'S', sizeof(big) - 1);
    memcpy(big, "SPOOLED-VALUE-", 14);
    ck_assert_msg(jsrv_start(&s, args) == 0, "no start (status %d)", s.status);
    ck_assert_int_eq(jtest_connect_ws(&c, s.port, JF_WS), 0);
    ck_assert_int_eq(jtest_store(&c, JF_WS, "big", big), 0);
    ck_assert_int_eq(jtest_store(&c, JF_WS, "small", "small-one"), 0);
    rawc_close(&c);
    jsrv_kill9(&s);
    ck_assert_int_eq(stat(s.dir, &st), 0);
    ck_assert_msg((st.st_mode & 0777) == 0700, "DIR made with mode %o",
                  st.st_mode & 0777);
    n = jtest_files(s.dir, &names);
    ck_assert_int_gt(n, 0);
    for (i = 0; i < n; i++) {
        ck_assert_int_eq(stat(names[i], &st), 0);
        ck_assert_msg((st.st_mode & 077) == 0, "%s has mode %o", names[i],
                      st.st_mode & 0777);
        free(names[i]);
    }
    free(names);
    ck_assert_msg(jf_files_holding(s.dir, "SPOOLED-VALUE-") == 1,
                  "the spooled value's bytes are in %d files of DIR, not one",
                  jf_files_holding(s.dir, "SPOOLED-VALUE-"));
    ck_assert_msg(jf_files_holding(s.dir, "small-one") == 1,
                  "the small value is not journaled");
    ck_assert_msg(jsrv_start(&s, args) == 0, "no restart (status %d)", s.status);
    ck_assert_int_eq(jtest_connect_ws(&c, s.port, JF_WS), 0);
    ck_assert_int_eq(jtest_get(&c, JF_WS, "big", 1, got, sizeof(got)), 1);
    ck_assert_msg(strcmp(got, big) == 0, "the spooled value came back different");
    rawc_close(&c);
    ck_assert_int_eq(jsrv_stop(&s), 0);
    /* Its file goes once its consumption is durable (and compacted). */
    n = jtest_files(s.tmp, &names);
    for (i = 0; i < n; i++)
        free(names[i]);
    free(names);
    ck_assert_msg(n == 0, "%d files left in --tmpdir", n);
    jsrv_free(&s);
}
END_TEST

/* Two servers never share DIR: the second refuses to start (SECURITY.md). */
START_TEST(second_server_on_dir_refused)
{
    static struct jsrv a, b;

    ck_assert_int_eq(jsrv_init(&a, NULL, "always"), 0);
    ck_assert_msg(jsrv_start(&a, NULL) == 0, "no start (status %d)", a.status);
    ck_assert_int_eq(jsrv_init(&b, NULL, "always"), 0);
    snprintf(b.dir, sizeof(b.dir), "%s", a.dir);
    ck_assert_msg(jsrv_start(&b, NULL) != 0, "a second server started on the same DIR");
    ck_assert(WIFEXITED(b.status) && WEXITSTATUS(b.status) != 0);
    /* Once the first is gone (even by SIGKILL), DIR is free again. */
    jsrv_kill9(&a);
    ck_assert_msg(jsrv_start(&b, NULL) == 0, "DIR still locked after its server died: %s",
                  jsrv_log_tail(&b, 400));
    jsrv_free(&b);
    jsrv_free(&a);
}
END_TEST

NWSTEST_SUITE(journal_file)
{
    Suite *s = suite_create("journal_file");
    TCase *tc = tcase_create("file");

    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, cut_every_offset_of_the_tail);
    tcase_add_test(tc, corrupt_middle_record_refused);
    tcase_add_test(tc, dir_private_and_spooled_value_once);
    tcase_add_test(tc, second_server_on_dir_refused);
    suite_add_tcase(s, tc);
    return s;
}
