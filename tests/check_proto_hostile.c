/*
 * check_proto_hostile.c -- hostile input: the corpus in
 * tests/data/frames/invalid (format in its README.md), plus aborted and
 * reset connections.  After every hostile act the server must still hold a
 * value another client stored before, and still serve new clients.
 */
#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ptest.h"

#define HOS_SENTINEL "intact sentinel value"

/* One parsed expect file. */
struct hos_expect {
    char hs[8];
    int  ok;
    char outcome[16];
    int  status;
    char reason[512];
};

/* Records a case failure in err; always returns -1. */
static int hos_fail(char *err, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
hos_fail(char *err, size_t cap, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(err, cap, fmt, ap);
    va_end(ap);
    return -1;
}

/* Reads a whole file into a new buffer; NULL on error. */
static char *
hos_slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    long  n;

    if (f == NULL)
        return NULL;
    if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0 &&
        (buf = malloc((size_t)n + 1)) != NULL) {
        if (fread(buf, 1, (size_t)n, f) != (size_t)n) {
            free(buf);
            buf = NULL;
        } else {
            buf[n] = '\0';
            *len = (size_t)n;
        }
    }
    fclose(f);
    return buf;
}

/* Parses an expect line; 0 or -1. */
static int
hos_parse(const char *text, struct hos_expect *e)
{
    char        line[1024], *tok, *save = NULL, *rest;
    const char *nl = strchr(text, '\n');
    size_t      n = nl != NULL ? (size_t)(nl - text) : strlen(text);

    memset(e, 0, sizeof(*e));
    e->status = -1;
    if (n >= sizeof(line))
        return -1;
    memcpy(line, text, n);
    line[n] = '\0';
    if ((tok = strtok_r(line, " ", &save)) == NULL)
        return -1;
    snprintf(e->hs, sizeof(e->hs), "%s", tok);
    if ((tok = strtok_r(NULL, " ", &save)) == NULL)
        return -1;
    if (strncmp(tok, "ok=", 3) == 0) {
        e->ok = atoi(tok + 3);
        if ((tok = strtok_r(NULL, " ", &save)) == NULL)
            return -1;
    }
    snprintf(e->outcome, sizeof(e->outcome), "%s", tok);
    if ((tok = strtok_r(NULL, " ", &save)) != NULL) {
        e->status = atoi(tok);
        rest = save;
        if (rest != NULL)
            snprintf(e->reason, sizeof(e->reason), "%s", rest);
    }
    return 0;
}

/* Checks the nwsReason of a reply against e->reason (exact, or a prefix with "..."). */
static int
hos_reason(struct rawc *c, const struct rawc_reply *r, const struct hos_expect *e,
           char *err, size_t cap)
{
    const char *v;
    size_t      vlen, want = strlen(e->reason);
    int         prefix = want >= 3 && strcmp(e->reason + want - 3, "...") == 0;
    char        esc[600];

    if (!c->meta_from || e->reason[0] == '\0')
        return 0;
    if (prefix)
        want -= 3;
    if (rawc_dict_get(r->meta, r->meta_len, "nwsReason", &v, &vlen) != 1 ||
        (prefix ? vlen < want : vlen != want) || memcmp(v, e->reason, want) != 0)
        return hos_fail(err, cap, "expected nwsReason \"%s\", got dictionary \"%s\"",
                        e->reason, rawc_escape(esc, sizeof(esc), r->meta, r->meta_len));
    return 0;
}

/* After a reply that keeps the connection, proves the stream is still in step. */
static int
hos_still_usable(struct rawc *c, char *err, size_t cap)
{
    struct rawc_reply r;

    if (rawc_sendv(c, NULL, "list wss", "sentinel", NULL) != 0 ||
        rawc_read_long(c, &r) != 0)
        return hos_fail(err, cap, "connection not usable after the reply: %s", c->err);
    if (r.status != 0 || r.desc != 1 || r.len == 0 || r.value[0] == '\n') {
        rawc_reply_free(&r);
        return hos_fail(err, cap, "follow-up list wss failed (status %d)", r.status);
    }
    rawc_reply_free(&r);
    if (rawc_expect_silence(c, 50) != 0)
        return hos_fail(err, cap, "after the follow-up: %s", c->err);
    return 0;
}

/* Reads the server's side of the handshake named by e->hs. */
static int
hos_handshake(struct rawc *c, const struct hos_expect *e, const char *input, char *err,
              size_t cap)
{
    char   w[4], *adv = NULL;
    size_t alen;

    if (strcmp(e->hs, "old") == 0) {
        c->cookie = memcmp(input, "0000", 4) != 0 && memcmp(input, "1111", 4) != 0;
        if (rawc_read(c, w, 4) != 0 || memcmp(w, "2223", 4) != 0)
            return hos_fail(err, cap, "expected \"2223\": %s", c->err);
        return 0;
    }
    if (rawc_read(c, w, 4) != 0 || memcmp(w, "P000", 4) != 0)
        return hos_fail(err, cap, "expected \"P000\": %s", c->err);
    if (rawc_read_dict(c, &adv, &alen) != 0)
        return hos_fail(err, cap, "advertisement: %s", c->err);
    free(adv);
    if (strcmp(e->hs, "adv") == 0)
        return 0;
    if (strcmp(e->hs, "new") != 0)
        return hos_fail(err, cap, "bad expect: handshake \"%s\"", e->hs);
    if (rawc_read(c, w, 4) != 0 || memcmp(w, "A000", 4) != 0)
        return hos_fail(err, cap, "expected \"A000\": %s", c->err);
    c->cookie = c->meta_to = c->meta_from = 1;
    return 0;
}

/* Checks the outcome named by e; the handshake and ok replies are read. */
static int
hos_outcome(struct rawc *c, const struct hos_expect *e, char *err, size_t cap)
{
    struct rawc_reply r;
    char              w[4];
    const char       *o = e->outcome;
    int               rc;

    if (strcmp(o, "close") == 0 || strcmp(o, "eof-close") == 0) {
        if (rawc_expect_eof(c, PTEST_SOON_MS) != 0)
            return hos_fail(err, cap, "%s", c->err);
        return 0;
    }
    if (strcmp(o, "deny") == 0 || strcmp(o, "deny-or-close") == 0) {
        struct pollfd pfd = {.fd = c->fd, .events = POLLIN};
        ssize_t       n;

        if (poll(&pfd, 1, PTEST_SOON_MS) <= 0)
            return hos_fail(err, cap, "neither F000 nor a close within %d ms",
                            PTEST_SOON_MS);
        n = recv(c->fd, w, 1, MSG_PEEK);
        if (n <= 0 && strcmp(o, "deny-or-close") == 0)
            return 0;
        if (rawc_read(c, w, 4) != 0 || memcmp(w, "F000", 4) != 0)
            return hos_fail(err, cap, "expected \"F000\": %s", c->err);
        if (rawc_expect_eof(c, PTEST_SOON_MS) != 0)
            return hos_fail(err, cap, "after F000: %s", c->err);
        return 0;
    }
    if (strcmp(o, "reply-close") == 0 || strcmp(o, "reply") == 0) {
        if (rawc_read_short(c, &r) != 0)
            return hos_fail(err, cap, "expected a short reply: %s", c->err);
        rc = r.status == e->status ? hos_reason(c, &r, e, err, cap)
                                   : hos_fail(err, cap, "expected status %04d, got %04d",
                                              e->status, r.status);
        rawc_reply_free(&r);
        if (rc != 0)
            return rc;
        if (strcmp(o, "reply") == 0)
            return hos_still_usable(c, err, cap);
        if (rawc_expect_eof(c, PTEST_SOON_MS) != 0)
            return hos_fail(err, cap, "after the reply: %s", c->err);
        return 0;
    }
    if (strcmp(o, "reply-long") == 0) {
        if (rawc_read_long(c, &r) != 0)
            return hos_fail(err, cap, "expected a long reply: %s", c->err);
        if (r.status != e->status)
            rc =
                hos_fail(err, cap, "expected status %04d, got %04d", e->status, r.status);
        else if (strcmp(r.raw_desc, "00000000000000000000") != 0 || r.len != 0 ||
                 (c->cookie && (strcmp(r.varid, "                    ") != 0 ||
                                strcmp(r.raw_index, "00000000000000000000") != 0)))
            rc = hos_fail(err, cap, "not a long error: desc \"%s\" id \"%s\" len %llu",
                          r.raw_desc, r.varid, (unsigned long long)r.len);
        else
            rc = hos_reason(c, &r, e, err, cap);
        rawc_reply_free(&r);
        return rc != 0 ? rc : hos_still_usable(c, err, cap);
    }
    return hos_fail(err, cap, "bad expect: outcome \"%s\"", o);
}

/* Runs one corpus case against port; 0, or -1 with err set. */
static int
hos_case(int port, const char *dir, char *err, size_t cap)
{
    struct hos_expect e;
    struct rawc       c;
    char              path[1400], *input, *exp;
    size_t            ilen, elen;
    int               rc = -1, i;

    snprintf(path, sizeof(path), "%s/expect", dir);
    if ((exp = hos_slurp(path, &elen)) == NULL)
        return hos_fail(err, cap, "cannot read %s", path);
    rc = hos_parse(exp, &e);
    free(exp);
    if (rc != 0)
        return hos_fail(err, cap, "cannot parse %s", path);
    snprintf(path, sizeof(path), "%s/input", dir);
    if ((input = hos_slurp(path, &ilen)) == NULL || ilen < 4) {
        free(input);
        return hos_fail(err, cap, "cannot read %s", path);
    }
    if (rawc_open(&c, port, RAWC_NONE) != 0) {
        free(input);
        return hos_fail(err, cap, "%s", c.err);
    }
    /* A server that closes early may refuse the rest: that is judged below. */
    (void)nwstest_write_all(c.fd, input, ilen);
    if (strcmp(e.outcome, "eof-close") == 0 || strcmp(e.outcome, "deny-or-close") == 0)
        rawc_shut_write(&c);
    rc = hos_handshake(&c, &e, input, err, cap);
    for (i = 0; rc == 0 && i < e.ok; i++) {
        struct rawc_reply r;

        if (rawc_read_short(&c, &r) != 0)
            rc = hos_fail(err, cap, "setup reply %d: %s", i, c.err);
        else if (r.status != 0)
            rc = hos_fail(err, cap, "setup reply %d: status %04d", i, r.status);
        rawc_reply_free(&r);
    }
    if (rc == 0)
        rc = hos_outcome(&c, &e, err, cap);
    rawc_close(&c);
    free(input);
    return rc;
}

/* Opens the sentinel holder: it owns "sentinel" and stored the value there. */
static void
hos_sentinel_open(struct rawc *h, int port)
{
    PT_OPEN(h, port, RAWC_META);
    PT_OK(h, "open ws", "sentinel", "1", "no");
    PT_OK(h, "store", "sentinel", "s", "1", HOS_SENTINEL);
}

/* Checks the holder and a fresh client both still see the sentinel; 0 or -1. */
static int
hos_sentinel_ok(struct rawc *h, int port, char *err, size_t cap)
{
    struct rawc       v;
    struct rawc_reply r = {0};
    int               ok;

    if (rawc_sendv(h, NULL, "findTry", "sentinel", "s", NULL) != 0 ||
        rawc_read_long(h, &r) != 0)
        return hos_fail(err, cap, "sentinel holder lost: %s", h->err);
    ok = r.status == 0 && r.len == strlen(HOS_SENTINEL) &&
         memcmp(r.value, HOS_SENTINEL, r.len) == 0;
    rawc_reply_free(&r);
    if (!ok)
        return hos_fail(err, cap, "the sentinel value changed");
    if (rawc_open(&v, port, RAWC_PLAIN) != 0)
        return hos_fail(err, cap, "the server no longer accepts: %s", v.err);
    ok = rawc_sendv(&v, NULL, "use ws", "sentinel", "", "no", NULL) == 0 &&
         rawc_read_short(&v, &r) == 0 && r.status == 0;
    ok = ok && rawc_sendv(&v, NULL, "findTry", "sentinel", "s", NULL) == 0 &&
         rawc_read_long(&v, &r) == 0 && r.status == 0 && r.len == strlen(HOS_SENTINEL);
    rawc_reply_free(&r);
    rawc_close(&v);
    if (!ok)
        return hos_fail(err, cap, "a new client cannot read the sentinel: %s", v.err);
    return 0;
}

/* Orders directory names. */
static int
hos_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

START_TEST(invalid_frames_corpus)
{
    const char            *src = getenv("NWS_SRC_DIR");
    char                   dir[1024], cdir[1300], err[1024], *names[512];
    static char            report[16384];
    struct nwstest_server *s;
    struct rawc            h;
    struct dirent         *de;
    DIR                   *d;
    size_t                 n = 0, i, off = 0;
    int                    failed = 0, st;

    snprintf(dir, sizeof(dir), "%s/tests/data/frames/invalid", src != NULL ? src : ".");
    d = opendir(dir);
    ck_assert_msg(d != NULL, "cannot open %s (set NWS_SRC_DIR to the source root)", dir);
    while ((de = readdir(d)) != NULL && n < 512) {
        snprintf(cdir, sizeof(cdir), "%s/%s/input", dir, de->d_name);
        if (de->d_name[0] != '.' && access(cdir, R_OK) == 0)
            names[n++] = strdup(de->d_name);
    }
    closedir(d);
    ck_assert_msg(n >= 30, "only %zu cases in %s", n, dir);
    qsort(names, n, sizeof(names[0]), hos_cmp);

    s = ptest_start(NULL);
    hos_sentinel_open(&h, s->port);
    for (i = 0; i < n; i++) {
        snprintf(cdir, sizeof(cdir), "%s/%s", dir, names[i]);
        err[0] = '\0';
        if (hos_case(s->port, cdir, err, sizeof(err)) != 0 ||
            hos_sentinel_ok(&h, s->port, err, sizeof(err)) != 0) {
            failed++;
            fprintf(stderr, "proto_hostile: case %s: %s\n", names[i], err);
            if (off < sizeof(report) - 1)
                off += (size_t)snprintf(report + off, sizeof(report) - off,
                                        "\n  %s: %.300s", names[i], err);
            /* A dead server is restarted so the other cases still run. */
            if (waitpid(s->pid, &st, WNOHANG) == s->pid) {
                s->pid = 0;
                if (off < sizeof(report) - 1)
                    off += (size_t)snprintf(report + off, sizeof(report) - off,
                                            " [server died, wait status %d]", st);
                nwstest_server_stop(s);
                s = ptest_start(NULL);
                rawc_close(&h);
                hos_sentinel_open(&h, s->port);
            } else if (hos_sentinel_ok(&h, s->port, err, sizeof(err)) != 0) {
                rawc_close(&h);
                hos_sentinel_open(&h, s->port);
            }
        }
        free(names[i]);
    }
    rawc_close(&h);
    ptest_stop(s);
    ck_assert_msg(failed == 0, "%d of %zu hostile cases failed:%s", failed, n, report);
}
END_TEST

START_TEST(aborted_and_reset_connections)
{
    static const char *const partial[] = {
        "X",        "X00",           "X000",
        "X000R0",   "X000R0000001",  "1112",
        "11120002", "1112000200000", "X000R00000000001000000000000000000",
        NULL};
    struct nwstest_server *s = ptest_start(NULL);
    struct rawc            h, c;
    struct linger          lg = {.l_onoff = 1, .l_linger = 0};
    char                   err[1024];
    int                    i, k;

    hos_sentinel_open(&h, s->port);
    for (k = 0; k < 2; k++) {
        for (i = 0; partial[i] != NULL; i++) {
            PT_OPEN(&c, s->port, RAWC_NONE);
            PT_RC(&c, rawc_write(&c, partial[i], strlen(partial[i])));
            /* Half the time a reset (RST) instead of a close (FIN). */
            if (k == 1)
                setsockopt(c.fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
            rawc_close(&c);
        }
    }
    /* A blocked client that resets leaves no waiter behind. */
    PT_OPEN(&c, s->port, RAWC_META);
    PT_OK(&c, "use ws", "sentinel", "", "no");
    PT_RC(&c, rawc_sendv(&c, NULL, "fetch", "sentinel", "q", NULL));
    PT_WAIT_WAITERS(&h, "sentinel", "q", 1, 0);
    setsockopt(c.fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
    rawc_close(&c);
    PT_WAIT_WAITERS(&h, "sentinel", "q", 0, 0);
    PT_OK(&h, "store", "sentinel", "q", "1", "kept");
    PT_VALUE(&h, "kept", "findTry", "sentinel", "q");
    /* A client that resets in the middle of a request. */
    PT_OPEN(&c, s->port, RAWC_PLAIN);
    {
        static const char part[] = "0005"
                                   "00000000000000000005store"
                                   "0000000000000000000";

        PT_RC(&c, rawc_write(&c, part, sizeof(part) - 1));
    }
    setsockopt(c.fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
    rawc_close(&c);
    ck_assert_msg(hos_sentinel_ok(&h, s->port, err, sizeof(err)) == 0, "%s", err);
    rawc_close(&h);
    ptest_stop(s);
}
END_TEST

START_TEST(many_idle_connections)
{
    enum { N = 200 };
    struct nwstest_server *s = ptest_start(NULL);
    static struct rawc     c[N];
    struct rawc            h;
    char                   err[1024];
    int                    i;

    hos_sentinel_open(&h, s->port);
    for (i = 0; i < N; i++)
        PT_OPEN(&c[i], s->port, i % 3 == 0 ? RAWC_OLD_COOKIE : RAWC_PLAIN);
    for (i = 0; i < N; i += 7) {
        PT_OK(&c[i], "use ws", "sentinel", "", "no");
        PT_VALUE(&c[i], HOS_SENTINEL, "findTry", "sentinel", "s");
    }
    for (i = 0; i < N; i++)
        rawc_close(&c[i]);
    ck_assert_msg(hos_sentinel_ok(&h, s->port, err, sizeof(err)) == 0, "%s", err);
    rawc_close(&h);
    ptest_stop(s);
}
END_TEST

NWSTEST_SUITE(proto_hostile)
{
    Suite *s = suite_create("proto_hostile");
    TCase *tc = tcase_create("corpus");

    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, invalid_frames_corpus);
    suite_add_tcase(s, tc);
    tc = tcase_create("connections");
    tcase_set_timeout(tc, 20);
    tcase_add_test(tc, aborted_and_reset_connections);
    tcase_add_test(tc, many_idle_connections);
    suite_add_tcase(s, tc);
    return s;
}
