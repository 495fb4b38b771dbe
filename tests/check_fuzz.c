/*
 * check_fuzz.c -- replays the fuzzers' seeds and regression inputs.
 *
 * The harnesses of fuzz/ are plain functions linked into this binary, so
 * `make check` runs every file of fuzz/corpus/<harness>/ (the committed
 * seeds) and of tests/data/fuzz-regressions/<harness>/ (inputs that once
 * crashed or broke an invariant) through the same code libFuzzer runs, with
 * gcc and without clang.  A harness aborts on a broken invariant; the
 * sanitizer build (make SAN=1 check) and make valgrind also catch memory
 * errors and leaks.  Set NWS_FUZZ_VERBOSE=1 to see which input runs.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "nwstest.h"

typedef int (*fuzz_fn)(const uint8_t *, size_t);

/* Runs every regular file of dir (relative to the source tree) through fn; the count. */
static int
replay_dir(const char *rel, const char *harness, fuzz_fn fn)
{
    const char    *src = getenv("NWS_SRC_DIR");
    char           dir[1024], path[2048];
    struct dirent *de;
    DIR           *d;
    FILE          *fp;
    uint8_t       *buf;
    long           len;
    int            n = 0;

    snprintf(dir, sizeof(dir), "%s/%s/%s", src != NULL ? src : ".", rel, harness);
    if ((d = opendir(dir)) == NULL)
        return 0;
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.' || strcmp(de->d_name, "README.md") == 0)
            continue;
        snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
        if ((fp = fopen(path, "rb")) == NULL)
            continue;
        fseek(fp, 0, SEEK_END);
        len = ftell(fp);
        rewind(fp);
        buf = malloc(len > 0 ? (size_t)len : 1);
        ck_assert_ptr_nonnull(buf);
        ck_assert_int_eq(fread(buf, 1, (size_t)len, fp), (size_t)len);
        fclose(fp);
        if (getenv("NWS_FUZZ_VERBOSE") != NULL)
            fprintf(stderr, "fuzz replay: %s\n", path);
        ck_assert_int_eq(fn(buf, (size_t)len), 0);
        free(buf);
        n++;
    }
    closedir(d);
    return n;
}

/* Every seed (there must be some) and every regression input of harness. */
static void
replay(const char *harness, fuzz_fn fn)
{
    int seeds = replay_dir("fuzz/corpus", harness, fn);

    ck_assert_msg(seeds > 0, "no seeds in fuzz/corpus/%s (NWS_SRC_DIR unset?)", harness);
    replay_dir("tests/data/fuzz-regressions", harness, fn);
}

START_TEST(frame)
{
    replay("frame", nwsfuzz_frame);
}
END_TEST

START_TEST(handshake)
{
    replay("handshake", nwsfuzz_handshake);
}
END_TEST

START_TEST(server)
{
    replay("server", nwsfuzz_server);
}
END_TEST

START_TEST(sleigh)
{
    replay("sleigh", nwsfuzz_sleigh);
}
END_TEST

START_TEST(list)
{
    replay("list", nwsfuzz_list);
}
END_TEST

START_TEST(reply)
{
    replay("reply", nwsfuzz_reply);
}
END_TEST

START_TEST(sjson)
{
    replay("sjson", nwsfuzz_sjson);
}
END_TEST

NWSTEST_SUITE(fuzz_replay)
{
    Suite *s = suite_create("fuzz_replay");
    TCase *tc = tcase_create("replay");

    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, frame);
    tcase_add_test(tc, handshake);
    tcase_add_test(tc, server);
    tcase_add_test(tc, sleigh);
    tcase_add_test(tc, list);
    tcase_add_test(tc, reply);
    tcase_add_test(tc, sjson);
    suite_add_tcase(s, tc);
    return s;
}
