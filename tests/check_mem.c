/*
 * check_mem.c -- what --max-memory and --client-output-limit bound
 * (issue "Trust under attack", item 3): names, variables and workspaces
 * count; a store is charged as its bytes arrive, not as announced; a client
 * that does not read is closed past the output limits; a listing of any size
 * still reaches a client that reads, whole and as it was when asked, even
 * when the workspace goes away meanwhile.
 *
 * These test mechanisms, not speed: the figures (RSS, latency) are
 * bench/memattack.c's.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ptest.h"

/* A name of len bytes ending in the number i (distinct for distinct i). */
static const char *
mem_name(char *buf, size_t len, int i)
{
    int n;

    memset(buf, 'n', len);
    n = snprintf(buf + len - 8, 9, "%08u", (unsigned)i % 100000000u);
    (void)n;
    buf[len] = '\0';
    return buf;
}

/* Sends a store of n pattern bytes to ws/var (the reply is left unread). */
static void
mem_store(struct rawc *c, const char *ws, const char *var, size_t n, size_t sent)
{
    const char *a[4] = {"store", ws, var, "3"};
    size_t      lens[4] = {5, strlen(ws), strlen(var), 1};
    char        buf[65536];
    size_t      done, k;

    PT_RC(c, rawc_send_head(c, NULL, 5, a, lens, n));
    for (done = 0; done < sent; done += k) {
        k = sent - done < sizeof(buf) ? sent - done : sizeof(buf);
        ptest_pattern(buf, k, done);
        PT_RC(c, rawc_write(c, buf, k));
    }
}

/* Sends the rest of a store begun with mem_store(c, ..., n, from). */
static void
mem_store_rest(struct rawc *c, size_t n, size_t from)
{
    char   buf[65536];
    size_t done, k;

    for (done = from; done < n; done += k) {
        k = n - done < sizeof(buf) ? n - done : sizeof(buf);
        ptest_pattern(buf, k, done);
        PT_RC(c, rawc_write(c, buf, k));
    }
}

/* Variables made by fetchTry on new 1000-byte names hit the limit. */
START_TEST(names_count_against_max_memory)
{
    static const char *const opts[] = {"--max-memory", "1M", NULL};
    struct nwstest_server   *s = ptest_start(opts);
    struct rawc              c;
    struct rawc_reply        r;
    char                     name[1001];
    int                      i, refused = -1;

    PT_OPEN(&c, s->port, RAWC_PLAIN);
    PT_OK(&c, "open ws", "w", "me", "no");
    /* 1 MB holds well under 1000 such names: before, every one was made. */
    for (i = 0; i < 1500 && refused < 0; i++) {
        PT_LONG(&c, &r, "fetchTry", "w", mem_name(name, 1000, i));
        rawc_reply_free(&r);
        PT_RC(&c, rawc_sendv(&c, NULL, "declare var", "w", mem_name(name, 1000, 100000 + i),
                             "fifo", NULL));
        PT_RC(&c, rawc_read_short(&c, &r));
        if (r.status != 0)
            refused = i;
        rawc_reply_free(&r);
    }
    ck_assert_msg(refused > 100, "refused too early or never (at %d)", refused);
    /* A new workspace does not fit either; the existing names all stay. */
    PT_SHORT(&c, 1, "Server memory limit reached.", "open ws", mem_name(name, 1000, 7),
             "me", "no");
    PT_LERR(&c, 1, "Server memory limit reached.", "fetchTry", "w",
            mem_name(name, 1000, 2000000));
    PT_NOVAL(&c, "fetchTry", "w", mem_name(name, 1000, 0));
    /* Deleting the workspace gives the budget back. */
    PT_OK(&c, "delete ws", "w");
    PT_OK(&c, "open ws", "w2", "me", "no");
    rawc_close(&c);
    ptest_stop(s);
}
END_TEST

/*
 * A store announced and trickled in holds no budget for its missing bytes:
 * another client's store still fits; the trickler is refused only when
 * its bytes, arrived, pass the limit.
 */
START_TEST(trickling_store_does_not_block_others)
{
    static const char *const opts[] = {"--max-memory", "4M", NULL};
    struct nwstest_server   *s = ptest_start(opts);
    struct rawc              a, b;
    struct rawc_reply        r;
    const size_t             big = 3 << 20, other = 2 << 20;
    char                    *want = malloc(other);

    PT_OPEN(&a, s->port, RAWC_PLAIN);
    PT_OPEN(&b, s->port, RAWC_PLAIN);
    PT_OK(&a, "use ws", "w", "", "no");
    PT_OK(&b, "use ws", "w", "", "no");
    /* One write: a request, then the store's head and its first byte; once
     * the request's reply comes, the server has read the head too. */
    rawc_cork(&a);
    PT_RC(&a, rawc_sendv(&a, NULL, "use ws", "w", "", "no", NULL));
    mem_store(&a, "w", "slow", big, 1);
    PT_RC(&a, rawc_uncork(&a));
    PT_RC(&a, rawc_read_short(&a, &r));
    rawc_reply_free(&r);
    mem_store(&b, "w", "x", other, other);
    PT_RC(&b, rawc_read_short(&b, &r));
    PT_IS_SHORT(&b, &r, 0, NULL);
    rawc_reply_free(&r);
    /* The trickler's bytes arrive: 3 MiB more do not fit beside 2 MiB. */
    mem_store_rest(&a, big, 1);
    PT_RC(&a, rawc_read_short(&a, &r));
    PT_IS_SHORT(&a, &r, 1, "Server memory limit reached.");
    rawc_reply_free(&r);
    PT_NOVAL(&a, "fetchTry", "w", "slow");
    PT_LONG(&b, &r, "fetch", "w", "x");
    ptest_pattern(want, other, 0);
    PT_IS_VALUE(&b, &r, 3, want, other, NULL);
    rawc_reply_free(&r);
    free(want);
    rawc_close(&a);
    rawc_close(&b);
    ptest_stop(s);
}
END_TEST

/* Sends n findTry of w/v in one write and returns how many replies came whole. */
static int
mem_flood(struct rawc *c, int n, int read_after_ms)
{
    struct rawc_reply r;
    int               i, got = 0;

    rawc_cork(c);
    for (i = 0; i < n; i++)
        PT_RC(c, rawc_sendv(c, NULL, "findTry", "w", "v", NULL));
    PT_RC(c, rawc_uncork(c));
    if (read_after_ms > 0)
        usleep((useconds_t)read_after_ms * 1000);
    for (i = 0; i < n; i++) {
        if (rawc_read_long(c, &r) != 0) {
            rawc_reply_free(&r);
            break;
        }
        rawc_reply_free(&r);
        got++;
    }
    return got;
}

/* Starts a server with opts and stores the 4000-byte value w/v. */
static struct nwstest_server *
mem_flood_server(const char *const *opts, struct rawc *c)
{
    struct nwstest_server *s = ptest_start(opts);
    struct rawc_reply      r;

    PT_OPEN(c, s->port, RAWC_PLAIN);
    PT_OK(c, "use ws", "w", "", "no");
    mem_store(c, "w", "v", 4000, 4000);
    PT_RC(c, rawc_read_short(c, &r));
    rawc_reply_free(&r);
    return s;
}

/* A client whose unread replies pass the hard limit is closed at once. */
START_TEST(hard_output_limit_closes)
{
    static const char *const opts[] = {"--client-output-limit", "256K,0,0", NULL};
    struct rawc              c, d;
    struct rawc_reply        r;
    struct nwstest_server   *s = mem_flood_server(opts, &c);
    int                      got;

    /* 6000 replies of 4 KB: 24 MB, far past what the sockets hold. */
    got = mem_flood(&c, 6000, 500);
    ck_assert_msg(got < 6000, "all %d replies came: the client was not closed", got);
    rawc_close(&c);
    /* The server goes on. */
    PT_OPEN(&d, s->port, RAWC_PLAIN);
    PT_OK(&d, "use ws", "w", "", "no");
    PT_LONG(&d, &r, "findTry", "w", "v");
    ck_assert_int_eq(r.status, 0);
    rawc_reply_free(&r);
    rawc_close(&d);
    ptest_stop(s);
}
END_TEST

/*
 * The close drops the client's unsent output, the reply of a value it
 * fetched too: those bytes were never written, so the value goes back
 * (server/requeue.c).  The 7 MiB reply does not fit the sockets' buffers.
 */
START_TEST(hard_output_limit_puts_fetched_value_back)
{
    static const char *const opts[] = {"--client-output-limit", "256K,0,0", NULL};
    struct rawc              c, d;
    struct rawc_reply        r;
    struct nwstest_server   *s = mem_flood_server(opts, &c);
    size_t                   len = 7 * 1024 * 1024;
    int                      small = 4096, i;
    char                    *want = malloc(len);

    ck_assert_ptr_nonnull(want);
    PT_OPEN(&d, s->port, RAWC_PLAIN);
    PT_OK(&d, "use ws", "w", "", "no");
    mem_store(&d, "w", "big", len, len);
    PT_RC(&d, rawc_read_short(&d, &r));
    ck_assert_int_eq(r.status, 0);
    rawc_reply_free(&r);
    setsockopt(c.fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
    rawc_cork(&c);
    PT_RC(&c, rawc_sendv(&c, NULL, "fetch", "w", "big", NULL));
    for (i = 0; i < 400; i++)
        PT_RC(&c, rawc_sendv(&c, NULL, "findTry", "w", "v", NULL));
    PT_RC(&c, rawc_uncork(&c));
    for (i = 0; i < 400; i++) {
        PT_LONG(&d, &r, "findTry", "w", "big");
        if (r.status == 0)
            break;
        rawc_reply_free(&r);
        usleep(50000);
    }
    ck_assert_msg(i < 400, "the value cut off by the output limit did not come back");
    ptest_pattern(want, len, 0);
    PT_IS_VALUE(&d, &r, 3, want, len, NULL);
    rawc_reply_free(&r);
    free(want);
    rawc_close(&c);
    rawc_close(&d);
    ptest_stop(s);
}
END_TEST

/* Past the soft limit for its seconds, too; a client that reads is not closed. */
START_TEST(soft_output_limit_closes_after_seconds)
{
    static const char *const opts[] = {"--client-output-limit", "0,256K,1", NULL};
    struct rawc              c, d;
    struct nwstest_server   *s = mem_flood_server(opts, &c);
    int                      got;

    /* Read at once: everything comes, well within the second. */
    got = mem_flood(&c, 1000, 0);
    ck_assert_int_eq(got, 1000);
    got = mem_flood(&c, 6000, 2500);
    ck_assert_msg(got < 6000, "all %d replies came: the client was not closed", got);
    rawc_close(&c);
    PT_OPEN(&d, s->port, RAWC_PLAIN);
    PT_OK(&d, "use ws", "w", "", "no");
    rawc_close(&d);
    ptest_stop(s);
}
END_TEST

/* The resident set of process pid in KiB (0 if unknown). */
static long
mem_rss_kib(pid_t pid)
{
    char  path[64], line[256];
    long  kib = 0;
    FILE *fp;

    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    if ((fp = fopen(path, "r")) == NULL)
        return 0;
    while (fgets(line, sizeof(line), fp) != NULL)
        if (sscanf(line, "VmRSS: %ld", &kib) == 1)
            break;
    fclose(fp);
    return kib;
}

/*
 * Replies nobody reads count against --max-memory: at the limit each
 * client's decoding stops at a small amount of output.  Before, 8 clients
 * pipelining findTry held 8 MiB of replies each.
 */
START_TEST(unread_replies_bounded_by_max_memory)
{
    static const char *const opts[] = {"--max-memory", "2M", "--client-output-limit",
                                       "0,0,0", NULL};
    struct rawc              c[8];
    struct nwstest_server   *s = mem_flood_server(opts, &c[0]);
    long                     base, peak = 0, now;
    int                      i, k, rcv = 4096;

    base = mem_rss_kib(s->pid);
    for (i = 1; i < 8; i++) {
        PT_OPEN(&c[i], s->port, RAWC_PLAIN);
        PT_OK(&c[i], "use ws", "w", "", "no");
    }
    for (i = 0; i < 8; i++) {
        setsockopt(c[i].fd, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof(rcv));
        rawc_cork(&c[i]);
        for (k = 0; k < 4000; k++)
            PT_RC(&c[i], rawc_sendv(&c[i], NULL, "findTry", "w", "v", NULL));
        PT_RC(&c[i], rawc_uncork(&c[i]));
    }
    for (k = 0; k < 40; k++) {
        usleep(50 * 1000);
        if ((now = mem_rss_kib(s->pid)) > peak)
            peak = now;
    }
    /* 2 MiB, plus per client a read, 64 KiB of replies and one reply (the
     * sanitizers' allocator keeps freed memory: no bound on RSS there). */
    if (getenv("ASAN_OPTIONS") == NULL)
        ck_assert_msg(peak - base < 24 * 1024, "RSS grew by %ld KiB under --max-memory 2M",
                      peak - base);
    {
        struct rawc d;   /* the server still answers a new client */

        PT_OPEN(&d, s->port, RAWC_PLAIN);
        PT_OK(&d, "use ws", "w", "", "no");
        rawc_close(&d);
    }
    for (i = 0; i < 8; i++)
        rawc_close(&c[i]);
    ptest_stop(s);
}
END_TEST

/* Declares n variables of 1000-byte names in ws, pipelined. */
static void
mem_declare_many(struct rawc *c, const char *ws, int n)
{
    struct rawc_reply r;
    char              name[1001];
    int               i;

    rawc_cork(c);
    for (i = 0; i < n; i++)
        PT_RC(c, rawc_sendv(c, NULL, "declare var", ws, mem_name(name, 1000, i), "fifo",
                            NULL));
    PT_RC(c, rawc_uncork(c));
    for (i = 0; i < n; i++) {
        PT_RC(c, rawc_read_short(c, &r));
        ck_assert_int_eq(r.status, 0);
        rawc_reply_free(&r);
    }
}

/* Checks a list vars text of n variables 0..n-1 made by mem_declare_many. */
static void
mem_check_vars(const char *text, size_t len, int n)
{
    char        name[1001], line[1100];
    const char *p = text;
    int         i, k;

    for (i = 0; i < n; i++) {
        k = snprintf(line, sizeof(line), "%s%s\t0\t0\t0\tfifo", i > 0 ? "\n" : "",
                     mem_name(name, 1000, i));
        ck_assert_msg((size_t)(p - text) + (size_t)k <= len &&
                          memcmp(p, line, (size_t)k) == 0,
                      "line %d of the listing differs", i);
        p += k;
    }
    ck_assert_uint_eq((size_t)(p - text), len);
}

/*
 * A listing of 3 MB, far over the output limits, reaches a client that
 * reads slowly (after more than the soft limit's second) whole: it is made
 * a piece at a time, never held whole.
 */
START_TEST(listing_over_output_limit_is_whole)
{
    static const char *const opts[] = {"--client-output-limit", "256K,128K,1", NULL};
    struct nwstest_server   *s = ptest_start(opts);
    struct rawc              c;
    struct rawc_reply        r;
    const int                n = 3000;

    PT_OPEN(&c, s->port, RAWC_PLAIN);
    PT_OK(&c, "use ws", "w", "", "no");
    mem_declare_many(&c, "w", n);
    PT_RC(&c, rawc_sendv(&c, NULL, "list vars", "w", NULL));
    sleep(2);
    PT_RC(&c, rawc_read_long(&c, &r));
    ck_assert_int_eq(r.status, 0);
    mem_check_vars(r.value, r.len, n);
    rawc_reply_free(&r);
    /* And the connection goes on with the next request. */
    PT_OK(&c, "use ws", "w", "", "no");
    rawc_close(&c);
    ptest_stop(s);
}
END_TEST

/*
 * A listing shows the state when it was asked for, even if its workspace
 * is deleted while it is being sent (its names are kept until it ends).
 */
START_TEST(listing_survives_deletion)
{
    struct nwstest_server *s = ptest_start(NULL);
    struct rawc            a, b;
    struct rawc_reply      r;
    const int              n = 16000;
    char                   name[1001];

    PT_OPEN(&a, s->port, RAWC_PLAIN);
    PT_OPEN(&b, s->port, RAWC_PLAIN);
    PT_OK(&a, "use ws", "w", "", "no");
    PT_OK(&b, "use ws", "w", "", "no");
    mem_declare_many(&a, "w", n);
    PT_RC(&a, rawc_sendv(&a, NULL, "list vars", "w", NULL));
    PT_RC(&a, rawc_read_long_head(&a, &r));
    /* 16 MB cannot all be in the sockets: the rest is made after this. */
    PT_OK(&b, "delete ws", "w");
    PT_OK(&b, "use ws", "w", "", "no");
    PT_OK(&b, "declare var", "w", mem_name(name, 1000, 0), "lifo");
    r.value = malloc(r.len + 1);
    PT_RC(&a, rawc_read(&a, r.value, r.len));
    mem_check_vars(r.value, r.len, n);
    rawc_reply_free(&r);
    rawc_close(&a);
    rawc_close(&b);
    ptest_stop(s);
}
END_TEST

NWSTEST_SUITE(mem)
{
    Suite *s = suite_create("mem");
    TCase *tc = tcase_create("budget");

    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, names_count_against_max_memory);
    tcase_add_test(tc, trickling_store_does_not_block_others);
    suite_add_tcase(s, tc);
    tc = tcase_create("output");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, hard_output_limit_closes);
    tcase_add_test(tc, hard_output_limit_puts_fetched_value_back);
    tcase_add_test(tc, soft_output_limit_closes_after_seconds);
    tcase_add_test(tc, listing_over_output_limit_is_whole);
    tcase_add_test(tc, unread_replies_bounded_by_max_memory);
    tcase_add_test(tc, listing_survives_deletion);
    suite_add_tcase(s, tc);
    return s;
}
