/*
 * check_journal_format.c -- the journal's record format and reader
 * (server/journal_fmt.c, the scan of --journal-check in journal_dir.c)
 * without a server: CRC32C against its published check value, records
 * built and read back field by field, every cut and every flipped byte of
 * a record told apart (a tear, or corruption), and --journal-check on
 * directories made here; then a real server's restart on its journal
 * (journal_restart): kill -9 and restart on the same directory keeps what
 * was stored, not what was fetched, spooled values included.
 */
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "journal.h"
#include "nws.h"
#include "nwstest.h"
#include "ptest.h"
#include "rawc.h"
#include "util.h"

/* A record of type with a u8, a u32, a u64 and a string. */
static void
jf_build(struct jrec *r, uint8_t type, const char *s)
{
    jrec_begin(r, type);
    jrec_u8(r, 7);
    jrec_u32(r, 0xdeadbeef);
    jrec_u64(r, 0x0102030405060708ull);
    jrec_str(r, s, strlen(s));
    jrec_seal(r);
}

START_TEST(crc32c_check_value)
{
    /* The check value of CRC-32C (Castagnoli), as RFC 3720 lists it. */
    ck_assert_uint_eq(journal_crc32c(0, "123456789", 9), 0xE3069283u);
    ck_assert_uint_eq(journal_crc32c(0, "", 0), 0);
    /* Incremental equals one go, across the 8-byte fast path. */
    {
        char     buf[100];
        unsigned i;

        for (i = 0; i < sizeof(buf); i++)
            buf[i] = (char)(i * 37);
        ck_assert_uint_eq(journal_crc32c(journal_crc32c(0, buf, 13), buf + 13, 87),
                          journal_crc32c(0, buf, 100));
    }
}
END_TEST

START_TEST(record_round_trip)
{
    struct jrec    r = {0};
    struct jreader rd;
    size_t         len = 0, slen;
    const char    *s;

    jf_build(&r, 5, "hello");
    ck_assert_int_eq(journal_rec_check(r.buf, r.len, 0, &len), JREC_OK);
    ck_assert_uint_eq(len, r.len);
    ck_assert_uint_eq(r.buf[JOURNAL_HDR - 1], 5);
    rd = (struct jreader){.p = r.buf + JOURNAL_HDR, .len = r.len - JOURNAL_HDR};
    ck_assert_uint_eq(jr_u8(&rd), 7);
    ck_assert_uint_eq(jr_u32(&rd), 0xdeadbeef);
    ck_assert(jr_u64(&rd) == 0x0102030405060708ull);
    s = jr_str(&rd, &slen);
    ck_assert_uint_eq(slen, 5);
    ck_assert(memcmp(s, "hello", 5) == 0);
    ck_assert_int_eq(rd.bad, 0);
    /* Reading past the end marks the reader bad instead of reading on. */
    ck_assert_uint_eq(jr_u32(&rd), 0);
    ck_assert_int_eq(rd.bad, 1);
    /* A string whose length passes the record. */
    rd = (struct jreader){.p = r.buf + JOURNAL_HDR + 13, .len = 6};
    ck_assert_ptr_null(jr_str(&rd, &slen));
    ck_assert_int_eq(rd.bad, 1);
    jrec_free(&r);
}
END_TEST

START_TEST(every_cut_is_torn_every_flip_is_caught)
{
    struct jrec r = {0};
    uint8_t     buf[256];
    size_t      n, i, len;
    int         bit, rc;

    jf_build(&r, 9, "a value of some length");
    ck_assert(r.len < sizeof(buf));
    for (n = 0; n < r.len; n++)
        ck_assert_int_eq(journal_rec_check(r.buf, n, 0, &len), JREC_TORN);
    for (i = 0; i < r.len; i++) {
        for (bit = 0; bit < 8; bit++) {
            memcpy(buf, r.buf, r.len);
            buf[i] ^= (uint8_t)(1 << bit);
            rc = journal_rec_check(buf, r.len, 0, &len);
            /* A damaged header is told from a tear by its own checksum. */
            if (i < JOURNAL_RECHDR)
                ck_assert_msg(rc == JREC_BADHDR, "byte %zu bit %d: %d", i, bit, rc);
            else
                ck_assert_msg(rc == JREC_BAD, "byte %zu bit %d: %d", i, bit, rc);
        }
    }
    jrec_free(&r);
}
END_TEST

/* A journal directory with a manifest and one journal of n records. */
static void
jf_make_dir(char *dir, size_t dlen, int n, size_t *offs)
{
    char        path[512];
    struct jrec r = {0};
    FILE       *fp;
    int         i;
    size_t      off = JOURNAL_MAGIC_LEN;

    snprintf(dir, dlen, "/tmp/nwsjf.XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/MANIFEST", dir);
    ck_assert_ptr_nonnull(fp = fopen(path, "w"));
    fputs("nwsj 1\nbase -\nincr incr.1\n", fp);
    fclose(fp);
    snprintf(path, sizeof(path), "%s/incr.1", dir);
    ck_assert_ptr_nonnull(fp = fopen(path, "w"));
    fwrite(JOURNAL_MAGIC, 1, JOURNAL_MAGIC_LEN, fp);
    for (i = 0; i < n; i++) {
        jf_build(&r, 60, i % 2 ? "odd record" : "even");
        offs[i] = off;
        fwrite(r.buf, 1, r.len, fp);
        off += r.len;
    }
    offs[n] = off;
    fclose(fp);
    jrec_free(&r);
}

static void
jf_rm(const char *dir)
{
    char cmd[600];

    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    ck_assert_int_eq(system(cmd), 0);
}

/* Runs journal_check with stdout silenced (it reports there). */
static int
jf_check(const char *dir, int fix)
{
    int saved = dup(1), null = open("/dev/null", O_WRONLY), rc;

    fflush(stdout);
    dup2(null, 1);
    rc = journal_check(dir, fix);
    fflush(stdout);
    dup2(saved, 1);
    close(saved);
    close(null);
    return rc;
}

static off_t
jf_size(const char *dir, const char *name)
{
    char        path[512];
    struct stat st;

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    ck_assert_int_eq(stat(path, &st), 0);
    return st.st_size;
}

START_TEST(check_tool_tail_middle_and_fix)
{
    char   dir[64], path[512];
    size_t offs[7];
    int    fd;
    off_t  cut;
    char   c;

    jf_make_dir(dir, sizeof(dir), 6, offs);
    ck_assert_int_eq(jf_check(dir, 0), 0);
    snprintf(path, sizeof(path), "%s/incr.1", dir);
    /* Every cut inside the last record: a torn tail, loadable. */
    for (cut = (off_t)offs[6] - 1; cut > (off_t)offs[5]; cut--) {
        ck_assert_int_eq(truncate(path, cut), 0);
        ck_assert_int_eq(jf_check(dir, 0), 0);
    }
    /* A tail the file system extended with zeros past the cut: torn too. */
    ck_assert_int_eq(truncate(path, (off_t)offs[6] + 100), 0);
    ck_assert_int_eq(jf_check(dir, 0), 0);
    /* --fix cuts it at the last good record. */
    ck_assert_int_eq(jf_check(dir, 1), 0);
    ck_assert_int_eq(jf_size(dir, "incr.1"), (off_t)offs[5]);
    jf_rm(dir);

    /* A flipped byte in a middle record: not loadable; --fix cuts there. */
    jf_make_dir(dir, sizeof(dir), 6, offs);
    snprintf(path, sizeof(path), "%s/incr.1", dir);
    ck_assert_int_ge(fd = open(path, O_RDWR), 0);
    ck_assert_int_eq(pread(fd, &c, 1, (off_t)offs[2] + 2), 1);
    c ^= 0x10;
    ck_assert_int_eq(pwrite(fd, &c, 1, (off_t)offs[2] + 2), 1);
    close(fd);
    ck_assert_int_eq(jf_check(dir, 0), 1);
    ck_assert_int_eq(jf_check(dir, 1), 0);
    ck_assert_int_eq(jf_size(dir, "incr.1"), (off_t)offs[2]);
    ck_assert_int_eq(jf_check(dir, 0), 0);
    jf_rm(dir);

    /* No manifest: not a journal. */
    snprintf(dir, sizeof(dir), "/tmp/nwsjf.XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    ck_assert_int_eq(jf_check(dir, 0), 1);
    jf_rm(dir);
}
END_TEST

NWSTEST_SUITE(journal_format)
{
    Suite *s = suite_create("journal_format");
    TCase *tc = tcase_create("format");

    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, crc32c_check_value);
    tcase_add_test(tc, record_round_trip);
    tcase_add_test(tc, every_cut_is_torn_every_flip_is_caught);
    tcase_add_test(tc, check_tool_tail_middle_and_fix);
    suite_add_tcase(s, tc);
    return s;
}

/* ---- a real server restarting on its journal ---- */

static char jr_dir[64];
static char jr_mnt[64]; /* a tmpfs mounted by a test, unmounted in teardown */

static void
jr_setup(void)
{
    snprintf(jr_dir, sizeof(jr_dir), "/tmp/nwsjr.XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(jr_dir));
}

static void
jr_teardown(void)
{
    if (jr_mnt[0] != '\0') {
        umount2(jr_mnt, MNT_DETACH);
        rmdir(jr_mnt);
        jr_mnt[0] = '\0';
    }
    jf_rm(jr_dir);
}

/* Starts a server on jr_dir with the --fsync policy and more arguments. */
static void
jr_start(struct nwstest_server *s, const char *policy, const char *more1,
         const char *more2)
{
    const char *extra[] = {"--journal", jr_dir, "--fsync", policy, "--spool-threshold",
                           "4096",      more1,  more2,     NULL};

    ck_assert_int_eq(nwstest_server_start(s, extra), 0);
}

/* SIGKILL: no shutdown code runs. */
static void
jr_kill9(struct nwstest_server *s)
{
    kill(s->pid, SIGKILL);
    nwstest_server_stop(s);
}

static nws_ws *
jr_ws(nws_client **c, int port, const char *name)
{
    nws_error err;
    nws_ws   *ws;

    *c = nws_connect("127.0.0.1", port, 0, &err);
    ck_assert_msg(*c != NULL, "connect: %s", err.text);
    ws = nws_ws_use(*c, name, 0, &err);
    ck_assert_msg(ws != NULL, "use ws: %s", err.text);
    return ws;
}

/* How many value files DIR holds. */
static int
jr_value_files(void)
{
    DIR           *d = opendir(jr_dir);
    struct dirent *de;
    int            n = 0;

    ck_assert_ptr_nonnull(d);
    while ((de = readdir(d)) != NULL)
        if (de->d_name[0] == 'v' && strstr(de->d_name, ".val") != NULL)
            n++;
    closedir(d);
    return n;
}

static const char *const jr_policies[] = {"always", "everysec", "no"};

START_TEST(kill9_keeps_stored_drops_fetched)
{
    struct nwstest_server s;
    const char           *policy = jr_policies[_i];
    nws_client           *c;
    nws_ws               *ws;
    nws_value            *v;
    nws_error             err;
    char                 *big = malloc(100000), *str;
    size_t                i;

    for (i = 0; i < 100000; i++)
        big[i] = (char)('a' + i % 23);
    jr_start(&s, policy, NULL, NULL);
    ws = jr_ws(&c, s.port, "jr");
    for (i = 0; i < 5; i++) {
        char num[16];

        snprintf(num, sizeof(num), "%zu", i);
        ck_assert_int_eq(nws_store_string(ws, "fifo", num, &err), 0);
    }
    ck_assert_int_eq(nws_declare(ws, "lifo", NWS_MODE_LIFO, &err), 0);
    ck_assert_int_eq(nws_store_string(ws, "lifo", "bottom", &err), 0);
    ck_assert_int_eq(nws_store_string(ws, "lifo", "top", &err), 0);
    ck_assert_int_eq(nws_declare(ws, "single", NWS_MODE_SINGLE, &err), 0);
    ck_assert_int_eq(nws_store_string(ws, "single", "old", &err), 0);
    ck_assert_int_eq(nws_store_string(ws, "single", "new", &err), 0);
    ck_assert_int_eq(nws_store_bytes(ws, "big", big, 100000, &err), 0);
    ck_assert_int_eq(nws_store_bytes(ws, "big", big, 99999, &err), 0);
    ck_assert_int_eq(nws_store_string(ws, "gone", "x", &err), 0);
    ck_assert_int_eq(nws_delete_var(ws, "gone", &err), 0);
    /* Two fetched: gone after the restart. */
    ck_assert_str_eq(str = nws_fetch_string(ws, "fifo", &err), "0");
    free(str);
    ck_assert_str_eq(str = nws_fetch_string(ws, "fifo", &err), "1");
    free(str);
    ck_assert_int_eq(nws_fetch_try(ws, "big", &v, &err), 1);
    ck_assert_uint_eq(nws_value_size(v), 100000);
    nws_value_free(v);
    nws_ws_free(ws);
    nws_close(c);
    /* The second big value's file lives in DIR (the first may still be there
     * until its fetch is synced). */
    ck_assert_int_ge(jr_value_files(), 1);
    jr_kill9(&s);

    jr_start(&s, policy, NULL, NULL);
    ws = jr_ws(&c, s.port, "jr");
    for (i = 2; i < 5; i++) {
        char num[16];

        snprintf(num, sizeof(num), "%zu", i);
        ck_assert_str_eq(str = nws_fetch_string(ws, "fifo", &err), num);
        free(str);
    }
    ck_assert_int_eq(nws_fetch_try(ws, "fifo", &v, &err), 0);
    ck_assert_str_eq(str = nws_fetch_string(ws, "lifo", &err), "top");
    free(str);
    ck_assert_str_eq(str = nws_fetch_string(ws, "single", &err), "new");
    free(str);
    ck_assert_int_eq(nws_fetch_try(ws, "single", &v, &err), 0);
    ck_assert_int_eq(nws_find_try(ws, "gone", &v, &err), 0);
    ck_assert_int_eq(nws_fetch_try(ws, "big", &v, &err), 1);
    ck_assert_uint_eq(nws_value_size(v), 99999);
    ck_assert(memcmp(nws_value_data(v), big, 99999) == 0);
    nws_value_free(v);
    ck_assert_int_eq(nws_fetch_try(ws, "big", &v, &err), 0);
    nws_ws_free(ws);
    nws_close(c);
    /* A clean stop syncs: the consumed value's file is gone, and stays gone. */
    ck_assert_int_eq(nwstest_server_stop(&s), 0);
    ck_assert_int_eq(jr_value_files(), 0);
    jr_start(&s, policy, NULL, NULL);
    ws = jr_ws(&c, s.port, "jr");
    ck_assert_str_eq(str = nws_fetch_string(ws, "lifo", &err), "bottom");
    free(str);
    ck_assert_int_eq(nws_fetch_try(ws, "big", &v, &err), 0);
    nws_ws_free(ws);
    nws_close(c);
    jr_kill9(&s);
    free(big);
}
END_TEST

/* Whether DIR holds a file whose name starts with prefix. */
static int
jr_has(const char *prefix)
{
    DIR           *d = opendir(jr_dir);
    struct dirent *de;
    int            n = 0;

    ck_assert_ptr_nonnull(d);
    while ((de = readdir(d)) != NULL)
        if (strncmp(de->d_name, prefix, strlen(prefix)) == 0)
            n++;
    closedir(d);
    return n;
}

START_TEST(compaction_then_kill9)
{
    struct nwstest_server s;
    nws_client           *c;
    nws_ws               *ws;
    nws_value            *v;
    nws_error             err;
    char                  buf[64], *str;
    int                   i, tries;

    jr_start(&s, "everysec", "--journal-compact-min", "20000");
    ws = jr_ws(&c, s.port, "jc");
    /* Stores and fetches: the journal grows, the live state stays small. */
    for (i = 0; i < 3000; i++) {
        snprintf(buf, sizeof(buf), "value %d", i);
        ck_assert_int_eq(nws_store_string(ws, "q", buf, &err), 0);
        if (i % 3 != 0) {
            ck_assert_ptr_nonnull(str = nws_fetch_string(ws, "q", &err));
            free(str);
        }
    }
    /* The child's snapshot replaces the journal within a few seconds. */
    for (tries = 0; tries < 100 && jr_has("base.") == 0; tries++)
        usleep(100000);
    ck_assert_int_ge(jr_has("base."), 1);
    ck_assert_int_eq(nws_store_string(ws, "q", "after", &err), 0);
    nws_ws_free(ws);
    nws_close(c);
    usleep(300000);
    jr_kill9(&s);

    jr_start(&s, "everysec", NULL, NULL);
    ws = jr_ws(&c, s.port, "jc");
    /* 1000 values are left, in order, then "after". */
    for (i = 0; i < 1000; i++) {
        ck_assert_int_eq(nws_fetch_try_string(ws, "q", &str, &err), 1);
        free(str);
    }
    ck_assert_int_eq(nws_fetch_try_string(ws, "q", &str, &err), 1);
    ck_assert_str_eq(str, "after");
    free(str);
    ck_assert_int_eq(nws_fetch_try(ws, "q", &v, &err), 0);
    nws_ws_free(ws);
    nws_close(c);
    jr_kill9(&s);
}
END_TEST

START_TEST(owned_workspace_waits_resume_grace)
{
    struct nwstest_server s;
    nws_client           *c, *c2;
    nws_ws               *own, *pers, *ws;
    nws_value            *v;
    nws_error             err;

    jr_start(&s, "always", "--resume-grace", "2");
    c = nws_connect("127.0.0.1", s.port, 0, &err);
    ck_assert_ptr_nonnull(c);
    ck_assert_ptr_nonnull(own = nws_ws_open(c, "owned", 0, &err));
    ck_assert_ptr_nonnull(pers = nws_ws_open(c, "kept", NWS_WS_PERSISTENT, &err));
    ck_assert_int_eq(nws_store_string(own, "x", "1", &err), 0);
    ck_assert_int_eq(nws_store_string(pers, "x", "2", &err), 0);
    jr_kill9(&s); /* the owner's connection goes with the server */
    nws_ws_free(own);
    nws_ws_free(pers);
    nws_close(c);

    jr_start(&s, "always", "--resume-grace", "2");
    c2 = nws_connect("127.0.0.1", s.port, 0, &err);
    ck_assert_ptr_nonnull(c2);
    /* Right after the restart the owned workspace is still there... */
    ck_assert_ptr_nonnull(ws = nws_ws_use(c2, "owned", NWS_WS_NOCREATE, &err));
    ck_assert_int_eq(nws_find_try(ws, "x", &v, &err), 1);
    nws_value_free(v);
    nws_ws_free(ws);
    /* ... and after the grace it is purged; the persistent one stays. */
    sleep(3);
    ck_assert_ptr_null(nws_ws_use(c2, "owned", NWS_WS_NOCREATE, &err));
    ck_assert_ptr_nonnull(ws = nws_ws_use(c2, "kept", NWS_WS_NOCREATE, &err));
    ck_assert_int_eq(nws_find_try(ws, "x", &v, &err), 1);
    nws_value_free(v);
    nws_ws_free(ws);
    nws_close(c2);
    jr_kill9(&s);
    /* The purge was journaled too. */
    jr_start(&s, "always", NULL, NULL);
    c2 = nws_connect("127.0.0.1", s.port, 0, &err);
    ck_assert_ptr_null(nws_ws_use(c2, "owned", NWS_WS_NOCREATE, &err));
    nws_close(c2);
    jr_kill9(&s);
}
END_TEST

/* A fetched value whose reply never went out whole comes back, and the
 * journal knows: it is there after a SIGKILL too (requeue.c's record). */
START_TEST(requeued_value_survives_kill9)
{
    struct nwstest_server s;
    struct rawc           c, lazy;
    struct rawc_reply     r;
    size_t                len = 8 << 20;
    char                 *big = malloc(len);
    const char           *argv[5] = {"store", "keep", "big", "1", big};
    size_t                lens[5] = {5, 4, 3, 1, len};
    int                   small = 4096, back = 0;
    struct linger         lg = {1, 0};
    double                end;

    ck_assert_ptr_nonnull(big);
    ptest_pattern(big, len, 0);
    jr_start(&s, "always", NULL, NULL);
    PT_OPEN(&c, s.port, RAWC_PLAIN);
    PT_OK(&c, "use ws", "keep", "", "no");
    PT_RC(&c, rawc_send(&c, NULL, 0, 5, argv, lens));
    PT_RC(&c, rawc_read_short(&c, &r));
    PT_IS_SHORT(&c, &r, 0, NULL);
    PT_OK(&c, "store", "keep", "big", "1", "after");
    PT_OPEN(&lazy, s.port, RAWC_PLAIN);
    setsockopt(lazy.fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
    PT_OK(&lazy, "use ws", "keep", "", "no");
    PT_RC(&lazy, rawc_sendv(&lazy, NULL, "fetch", "keep", "big", NULL));
    end = nwsp_mono() + 10;
    while (!back && nwsp_mono() < end) {
        PT_LONG(&c, &r, "findTry", "keep", "big");
        back = r.status == 0 && r.len == 5;
        rawc_reply_free(&r);
    }
    ck_assert_msg(back, "lazy's fetch never took the value");
    /* A reset: the reply is cut, the value goes back. */
    setsockopt(lazy.fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
    rawc_close(&lazy);
    back = 0;
    end = nwsp_mono() + 10;
    while (!back && nwsp_mono() < end) {
        PT_LONG(&c, &r, "findTry", "keep", "big");
        back = r.status == 0 && r.len == len;
        rawc_reply_free(&r);
        if (!back)
            usleep(50000);
    }
    ck_assert_msg(back, "the cut value did not come back");
    rawc_close(&c);
    jr_kill9(&s);

    jr_start(&s, "always", NULL, NULL);
    PT_OPEN(&c, s.port, RAWC_PLAIN);
    PT_OK(&c, "use ws", "keep", "", "no");
    PT_LONG(&c, &r, "fetchTry", "keep", "big");
    ck_assert_int_eq(r.status, 0);
    ck_assert_uint_eq(r.len, len);
    ck_assert(memcmp(r.value, big, len) == 0);
    rawc_reply_free(&r);
    PT_VALUE(&c, "after", "fetchTry", "keep", "big");
    rawc_close(&c);
    jr_kill9(&s);
    free(big);
}
END_TEST

/* Stores big (8 MiB, spooled) and "after" in keep, then a client with a
 * small receive buffer fetches big and reads nothing: returns that client
 * once the value is taken. */
static void
jr_lazy_fetch(int port, char *big, size_t len, struct rawc *lazy)
{
    struct rawc       c;
    struct rawc_reply r;
    const char       *argv[5] = {"store", "keep", "big", "1", big};
    size_t            lens[5] = {5, 4, 3, 1, len};
    int               small = 4096, taken = 0;
    double            end;

    PT_OPEN(&c, port, RAWC_PLAIN);
    PT_OK(&c, "use ws", "keep", "", "no");
    PT_RC(&c, rawc_send(&c, NULL, 0, 5, argv, lens));
    PT_RC(&c, rawc_read_short(&c, &r));
    PT_IS_SHORT(&c, &r, 0, NULL);
    PT_OK(&c, "store", "keep", "big", "1", "after");
    PT_OPEN(lazy, port, RAWC_PLAIN);
    setsockopt(lazy->fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
    PT_OK(lazy, "use ws", "keep", "", "no");
    PT_RC(lazy, rawc_sendv(lazy, NULL, "fetch", "keep", "big", NULL));
    end = nwsp_mono() + 10;
    while (!taken && nwsp_mono() < end) {
        PT_LONG(&c, &r, "findTry", "keep", "big");
        taken = r.status == 0 && r.len == 5;
        rawc_reply_free(&r);
    }
    ck_assert_msg(taken, "lazy's fetch never took the value");
    rawc_close(&c);
}

/* A clean stop while a fetched value's reply is still going out: the value
 * is put back, so the next start has it. */
START_TEST(shutdown_puts_unsent_fetch_back)
{
    struct nwstest_server s;
    struct rawc           c, lazy;
    struct rawc_reply     r;
    size_t                len = 8 << 20;
    char                 *big = malloc(len);

    ck_assert_ptr_nonnull(big);
    ptest_pattern(big, len, 1);
    jr_start(&s, "everysec", NULL, NULL);
    jr_lazy_fetch(s.port, big, len, &lazy);
    ck_assert_int_eq(nwstest_server_stop(&s), 0);
    rawc_close(&lazy);
    jr_start(&s, "everysec", NULL, NULL);
    PT_OPEN(&c, s.port, RAWC_PLAIN);
    PT_OK(&c, "use ws", "keep", "", "no");
    PT_LONG(&c, &r, "fetchTry", "keep", "big");
    ck_assert_int_eq(r.status, 0);
    ck_assert_uint_eq(r.len, len);
    ck_assert(memcmp(r.value, big, len) == 0);
    rawc_reply_free(&r);
    PT_VALUE(&c, "after", "fetchTry", "keep", "big");
    rawc_close(&c);
    jr_kill9(&s);
    free(big);
}
END_TEST

/* Files of earlier runs that nothing names are removed at start. */
START_TEST(stale_files_removed)
{
    struct nwstest_server s;
    const char *const names[] = {"v999.val", "base.77.tmp", "incr.55", "MANIFEST.tmp"};
    char              path[600];
    size_t            i;
    int               fd;

    jr_start(&s, "everysec", NULL, NULL);
    jr_kill9(&s);
    for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        snprintf(path, sizeof(path), "%s/%s", jr_dir, names[i]);
        ck_assert_int_ge(fd = open(path, O_CREAT | O_WRONLY, 0600), 0);
        ck_assert_int_eq(write(fd, "junk", 4), 4);
        close(fd);
    }
    jr_start(&s, "everysec", NULL, NULL);
    for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        snprintf(path, sizeof(path), "%s/%s", jr_dir, names[i]);
        ck_assert_msg(access(path, F_OK) != 0, "%s is still there", names[i]);
    }
    ck_assert_int_eq(jr_has("MANIFEST"), 1);
    jr_kill9(&s);
}
END_TEST

/* A fetched spooled value's file goes once the fetch is durable, even when
 * no mutation follows (every policy). */
START_TEST(consumed_value_file_removed)
{
    struct nwstest_server s;
    nws_client           *c;
    nws_ws               *ws;
    nws_value            *v;
    nws_error             err;
    char                 *big = calloc(1, 50000);
    int                   tries;

    jr_start(&s, jr_policies[_i], NULL, NULL);
    ws = jr_ws(&c, s.port, "files");
    ck_assert_int_eq(nws_store_bytes(ws, "big", big, 50000, &err), 0);
    ck_assert_int_eq(jr_value_files(), 1);
    ck_assert_int_eq(nws_fetch_try(ws, "big", &v, &err), 1);
    nws_value_free(v);
    /* On a session the fetched value is held for the reply until the next
     * request acknowledges it (docs/SESSIONS.md 2): a read carries the ack. */
    if (nws_session_id(c) != NULL)
        ck_assert_int_eq(nws_find_try(ws, "big", &v, &err), 0);
    for (tries = 0; tries < 30 && jr_value_files() > 0; tries++)
        usleep(100000);
    ck_assert_int_eq(jr_value_files(), 0);
    nws_ws_free(ws);
    nws_close(c);
    jr_kill9(&s);
    free(big);
}
END_TEST

/* --journal-check --fix refuses to cut under a running server (it holds
 * LOCK); a plain check reads on. */
START_TEST(fix_refused_while_server_runs)
{
    struct nwstest_server s;

    jr_start(&s, "everysec", NULL, NULL);
    ck_assert_int_eq(jf_check(jr_dir, 1), 1);
    ck_assert_int_eq(jf_check(jr_dir, 0), 0);
    ck_assert_int_eq(nwstest_server_stop(&s), 0);
    ck_assert_int_eq(jf_check(jr_dir, 1), 0);
}
END_TEST

/* ---- a full disk ---- */

/* One HTTP request to 127.0.0.1:port; the whole reply (new string), or NULL. */
static char *
jd_http(int port, const char *req)
{
    int     fd = nwstest_connect(port, 10);
    char   *buf = malloc(1 << 16);
    size_t  len = 0;
    ssize_t n;

    if (fd < 0 || buf == NULL || nwstest_write_all(fd, req, strlen(req)) != 0) {
        free(buf);
        if (fd >= 0)
            close(fd);
        return NULL;
    }
    while (len < (1 << 16) - 1 && (n = read(fd, buf + len, (1 << 16) - 1 - len)) > 0)
        len += (size_t)n;
    buf[len] = '\0';
    close(fd);
    return buf;
}

/* POSTs form to path of the web interface as its own page does: the reply. */
static char *
jd_post(int web_port, const char *path, const char *form)
{
    char req[2048], tok[64], *page, *p;

    snprintf(req, sizeof(req),
             "GET / HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nConnection: close\r\n\r\n",
             web_port);
    ck_assert_ptr_nonnull(page = jd_http(web_port, req));
    ck_assert_ptr_nonnull(p = strstr(page, "data-csrf=\""));
    snprintf(tok, sizeof(tok), "%.*s", (int)strcspn(p + 11, "\""), p + 11);
    free(page);
    snprintf(req, sizeof(req),
             "POST %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nOrigin: http://127.0.0.1:%d\r\n"
             "X-NWS-CSRF: %s\r\nContent-Type: application/x-www-form-urlencoded\r\n"
             "Content-Length: %zu\r\nConnection: close\r\n\r\n%s",
             path, web_port, web_port, tok, strlen(form), form);
    return jd_http(web_port, req);
}

/* On a full disk the protocol and the web interface refuse mutations
 * before applying them (the journal's space is reserved ahead), reads go on. */
START_TEST(full_disk_refuses_mutations_web_too)
{
    struct nwstest_server s;
    char                 *mnt = jr_mnt, dir[128], kb[1024], *reply;
    const char           *extra[] = {"--journal", dir, NULL};
    nws_client           *c;
    nws_ws               *ws;
    nws_value            *v;
    nws_error             err;
    int                   i, stored = 0;

    snprintf(jr_mnt, sizeof(jr_mnt), "/tmp/nwsjd.XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(jr_mnt));
    if (mount("nwsjd", mnt, "tmpfs", 0, "size=2m") != 0) {
        rmdir(mnt);
        jr_mnt[0] = '\0';
        printf("SKIPPED: full_disk_refuses_mutations_web_too: cannot mount a tmpfs (root "
               "only)\n");
        return;
    }
    snprintf(dir, sizeof(dir), "%s/j", mnt);
    ck_assert_int_eq(nwstest_server_start(&s, extra), 0);
    c = nws_connect("127.0.0.1", s.port, 0, &err);
    ck_assert_ptr_nonnull(c);
    ck_assert_ptr_nonnull(ws = nws_ws_open(c, "full", NWS_WS_PERSISTENT, &err));
    memset(kb, 'k', sizeof(kb));
    for (i = 0; i < 10000; i++) {
        if (nws_store_bytes(ws, "x", kb, sizeof(kb), &err) != 0)
            break;
        stored++;
    }
    ck_assert_int_lt(i, 10000);
    ck_assert_msg(strstr(err.text, "space") != NULL, "refusal: %s", err.text);
    ck_assert_int_gt(stored, 100);
    /* Reads go on; the web interface's mutations are refused too. */
    ck_assert_int_eq(nws_find_try(ws, "x", &v, &err), 1);
    nws_value_free(v);
    reply = jd_post(s.web_port, "/api/store", "ws=full&var=y&value=hello");
    ck_assert_ptr_nonnull(reply);
    ck_assert_msg(strncmp(reply + 9, "507", 3) == 0, "web store: %.200s", reply);
    free(reply);
    reply = jd_post(s.web_port, "/api/fetch-try", "ws=full&var=x");
    ck_assert_ptr_nonnull(reply);
    ck_assert_msg(strncmp(reply + 9, "507", 3) == 0, "web fetch: %.200s", reply);
    free(reply);
    nws_ws_free(ws);
    nws_close(c);
    /* Nothing refused was applied: after a SIGKILL every stored value is back
     * (and with room again, fetches work). */
    jr_kill9(&s);
    ck_assert_int_eq(mount("nwsjd", mnt, "tmpfs", MS_REMOUNT, "size=16m"), 0);
    ck_assert_int_eq(nwstest_server_start(&s, extra), 0);
    c = nws_connect("127.0.0.1", s.port, 0, &err);
    ck_assert_ptr_nonnull(ws = nws_ws_use(c, "full", NWS_WS_NOCREATE, &err));
    for (i = 0; i < stored; i++) {
        ck_assert_msg(nws_fetch_try(ws, "x", &v, &err) == 1, "value %d: %s", i, err.text);
        nws_value_free(v);
    }
    ck_assert_int_eq(nws_fetch_try(ws, "x", &v, &err), 0);
    ck_assert_int_eq(nws_find_try(ws, "y", &v, &err), 0);
    nws_ws_free(ws);
    nws_close(c);
    jr_kill9(&s);
}
END_TEST

/* The size of the incremental journal DIR's MANIFEST names last. */
static off_t
jr_incr_size(void)
{
    char        path[512], *man, *line, *name = NULL;
    int         fd;
    struct stat st;

    snprintf(path, sizeof(path), "%s/MANIFEST", jr_dir);
    ck_assert_int_ge(fd = open(path, O_RDONLY), 0);
    man = nwstest_slurp(fd, NULL);
    close(fd);
    ck_assert_ptr_nonnull(man);
    for (line = strtok(man, "\n"); line != NULL; line = strtok(NULL, "\n"))
        if (strncmp(line, "incr ", 5) == 0)
            name = line + 5;
    ck_assert_ptr_nonnull(name);
    snprintf(path, sizeof(path), "%s/%s", jr_dir, name);
    free(man);
    ck_assert_int_eq(stat(path, &st), 0);
    return st.st_size;
}

/*
 * The journal file is extended ahead of its records (zeros), so that a write
 * never changes its size (bench/results.md: fdatasync costs less); after a
 * SIGKILL the zeros are skipped, not taken for a tear or corruption, and the
 * next records go right after the last one; a clean stop leaves no zeros.
 */
START_TEST(reserved_tail_keeps_size_and_restarts)
{
    struct nwstest_server s;
    nws_client           *c;
    nws_ws               *ws;
    nws_value            *v;
    nws_error             err;
    char                  num[16], *str;
    off_t                 before, after;
    int                   i;

    jr_start(&s, "always", NULL, NULL);
    ws = jr_ws(&c, s.port, "jr");
    ck_assert_int_eq(nws_store_string(ws, "x", "0", &err), 0);
    before = jr_incr_size();
    for (i = 1; i < 200; i++) {
        snprintf(num, sizeof(num), "%d", i);
        ck_assert_int_eq(nws_store_string(ws, "x", num, &err), 0);
    }
    after = jr_incr_size();
    ck_assert_msg(after == before,
                  "the journal's size changed with the writes: %lld, then %lld",
                  (long long)before, (long long)after);
    nws_ws_free(ws);
    nws_close(c);
    jr_kill9(&s);
    ck_assert_int_eq(jf_check(jr_dir, 0), 0);

    /* Twice: the records after the restart must follow the old ones. */
    jr_start(&s, "always", NULL, NULL);
    ws = jr_ws(&c, s.port, "jr");
    ck_assert_int_eq(nws_store_string(ws, "x", "200", &err), 0);
    nws_ws_free(ws);
    nws_close(c);
    jr_kill9(&s);
    ck_assert_int_eq(jf_check(jr_dir, 0), 0);
    jr_start(&s, "always", NULL, NULL);
    ws = jr_ws(&c, s.port, "jr");
    for (i = 0; i <= 200; i++) {
        snprintf(num, sizeof(num), "%d", i);
        ck_assert_str_eq(str = nws_fetch_string(ws, "x", &err), num);
        free(str);
    }
    ck_assert_int_eq(nws_fetch_try(ws, "x", &v, &err), 0);
    ck_assert_int_eq(nws_store_string(ws, "y", "last", &err), 0);
    nws_ws_free(ws);
    nws_close(c);
    /* A clean stop: the file ends with its last record. */
    ck_assert_int_eq(nwstest_server_stop(&s), 0);
    ck_assert_int_lt(jr_incr_size(), before);
    jr_start(&s, "always", NULL, NULL);
    ws = jr_ws(&c, s.port, "jr");
    ck_assert_str_eq(str = nws_fetch_string(ws, "y", &err), "last");
    free(str);
    nws_ws_free(ws);
    nws_close(c);
    jr_kill9(&s);
}
END_TEST

NWSTEST_SUITE(journal_restart)
{
    Suite *s = suite_create("journal_restart");
    TCase *tc = tcase_create("restart");

    tcase_add_checked_fixture(tc, jr_setup, jr_teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_loop_test(tc, kill9_keeps_stored_drops_fetched, 0, 3);
    tcase_add_test(tc, compaction_then_kill9);
    tcase_add_test(tc, owned_workspace_waits_resume_grace);
    tcase_add_test(tc, requeued_value_survives_kill9);
    tcase_add_test(tc, shutdown_puts_unsent_fetch_back);
    tcase_add_test(tc, stale_files_removed);
    tcase_add_loop_test(tc, consumed_value_file_removed, 0, 3);
    tcase_add_test(tc, fix_refused_while_server_runs);
    tcase_add_test(tc, full_disk_refuses_mutations_web_too);
    tcase_add_test(tc, reserved_tail_keeps_size_and_restarts);
    suite_add_tcase(s, tc);
    return s;
}
