/*
 * check_journal_crash.c -- the crash loop: producers and consumers on a
 * durable server that is SIGKILLed at random moments and restarted on the
 * same --journal DIR and port, over and over.
 *
 * Producers store numbered values "p<i>:<seq>" to one fifo variable of an
 * unowned workspace, each value once (a store whose reply was lost is not
 * retried, so duplicates can only come from the server); consumers fetchTry
 * from it.  Every side records what was ACKNOWLEDGED: a store's status 0, a
 * fetch's whole reply.  After the last round the server is restarted once
 * more and the variable drained.  Then, under every --fsync policy (a
 * SIGKILL kills the process, not the machine: what was written before a
 * reply is in the kernel and survives, so everysec and no must keep every
 * acknowledged write here too; what a machine crash can take is measured
 * by bench/journal.sh, row J4):
 *   - every acknowledged store was acknowledged-fetched or is still there;
 *   - nothing was delivered twice (an acknowledged fetch's value is gone);
 *   - each consumer, and the drain, saw every producer's values in order,
 *     and nothing drained is older than a value of its producer that was
 *     acknowledged-fetched (fifo order across crashes);
 *   - a value that vanished (neither fetched with a reply nor drained) was a
 *     store without an acknowledgement or the victim of a fetch whose reply
 *     the crash swallowed, and there are no more of those than fetches cut
 *     by a kill.
 * The test prints the figures of each policy (stores, fetches, kills, cut
 * requests, losses).
 *
 * make check runs a few rounds (CRASH_ROUNDS, default 3 per policy here);
 * `make crash` runs CRASH_ROUNDS=200 and prints the same summary.
 */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "jtest.h"
#include "nwstest.h"
#include "rawc.h"

#define CR_PRODUCERS 3
#define CR_CONSUMERS 2
#define CR_MAXSEQ    (1 << 22) /* values per producer, at most (< 2^24) */
#define CR_MAXGOT    (CR_PRODUCERS * CR_MAXSEQ)
#define CR_WS        "crash"
#define CR_VAR       "q"

enum { ST_NONE, ST_SENT, ST_ACKED };

/* One value a consumer got (or the drain found): 4 bytes, millions of them. */
struct cr_got {
    unsigned p : 8;
    unsigned seq : 24;
};

struct cr_run {
    struct jsrv srv;
    atomic_int  port;
    atomic_int  stop;
    atomic_int  epoch; /* server lives so far */
    /* producers */
    unsigned char *state[CR_PRODUCERS]; /* per seq: ST_* */
    double        *ack_t[CR_PRODUCERS]; /* when the store was acknowledged */
    int            next[CR_PRODUCERS];
    /* consumers: what each fetched, in order */
    struct cr_got *got[CR_CONSUMERS];
    int            ngot[CR_CONSUMERS];
    atomic_int     cut_fetches; /* fetches sent whose reply never came */
    atomic_int     cut_stores;
    atomic_int     refused; /* stores refused with a non-zero status */
    double        *kill_t;  /* when each kill happened */
    int            nkill;
};

struct cr_arg {
    struct cr_run *run;
    int            id;
};

static int
cr_parse(const char *v, int *p, int *seq)
{
    return sscanf(v, "p%d:%d", p, seq) == 2 && *p >= 0 && *p < CR_PRODUCERS &&
                   *seq >= 0 && *seq < CR_MAXSEQ
               ? 0
               : -1;
}

/* (Re)connects until it works or the run stops; 0 or -1. */
static int
cr_connect(struct cr_run *run, struct rawc *c)
{
    while (!atomic_load(&run->stop)) {
        int port = atomic_load(&run->port);

        if (port > 0 && jtest_connect_ws(c, port, CR_WS) == 0)
            return 0;
        rawc_close(c);
        usleep(5000);
    }
    return -1;
}

static void *
cr_producer(void *a)
{
    struct cr_arg *arg = a;
    struct cr_run *run = arg->run;
    struct rawc    c;
    char           val[64];
    int            p = arg->id, st;

    memset(&c, 0, sizeof(c));
    c.fd = -1;
    while (cr_connect(run, &c) == 0) {
        while (!atomic_load(&run->stop) && run->next[p] < CR_MAXSEQ) {
            int seq = run->next[p]++;

            snprintf(val, sizeof(val), "p%d:%d", p, seq);
            run->state[p][seq] = ST_SENT;
            st = jtest_store(&c, CR_WS, CR_VAR, val);
            if (st == 0) {
                run->ack_t[p][seq] = jtest_now();
                run->state[p][seq] = ST_ACKED;
            } else if (st > 0) {
                atomic_fetch_add(&run->refused, 1);
            } else {
                atomic_fetch_add(&run->cut_stores, 1);
                break; /* the server died: never retry this value */
            }
        }
        rawc_close(&c);
        if (run->next[p] >= CR_MAXSEQ)
            break;
    }
    rawc_close(&c);
    return NULL;
}

static void *
cr_consumer(void *a)
{
    struct cr_arg *arg = a;
    struct cr_run *run = arg->run;
    struct rawc    c;
    char           val[64];
    int            k = arg->id, rc, p, seq;

    memset(&c, 0, sizeof(c));
    c.fd = -1;
    while (cr_connect(run, &c) == 0) {
        while (!atomic_load(&run->stop)) {
            rc = jtest_get(&c, CR_WS, CR_VAR, 1, val, sizeof(val));
            if (rc < 0) {
                atomic_fetch_add(&run->cut_fetches, 1);
                break;
            }
            if (rc == 0) {
                usleep(500);
                continue;
            }
            ck_assert_msg(cr_parse(val, &p, &seq) == 0,
                          "fetched a value never stored: %s", val);
            ck_assert_int_lt(run->ngot[k], CR_MAXGOT);
            run->got[k][run->ngot[k]++] = (struct cr_got){(unsigned)p, (unsigned)seq};
        }
        rawc_close(&c);
    }
    rawc_close(&c);
    return NULL;
}

static int
cr_env_int(const char *name, int def)
{
    const char *e = getenv(name);

    return e != NULL && atoi(e) > 0 ? atoi(e) : def;
}

static double
cr_env_double(const char *name, double def)
{
    const char *e = getenv(name);

    return e != NULL && atof(e) > 0 ? atof(e) : def;
}

/* Runs the loop with the policy; checks and prints the figures. */
static void
cr_loop(const char *policy)
{
    static struct cr_run run; /* large: not on the stack */
    struct cr_arg        args[CR_PRODUCERS + CR_CONSUMERS];
    pthread_t            th[CR_PRODUCERS + CR_CONSUMERS];
    int                  rounds = cr_env_int("CRASH_ROUNDS", 3);
    double               maxlife = cr_env_double("CRASH_SECONDS", 0.8);
    unsigned             seed = (unsigned)getpid();
    struct cr_got       *drain;
    int                  ndrain = 0, i, k, p, r, seq;
    unsigned char       *seen[CR_PRODUCERS];
    long                 acked = 0, fetched = 0, vanished_acked = 0, vanished_unacked = 0;
    long                 dup = 0, order = 0, stale = 0, resurrected = 0;
    double               window = 0, t0 = jtest_now();
    int                  ncompact = 0;
    const char          *srvargs[] = {"--journal-compact-min", "1048576", NULL};
    int                  last_fetched[CR_PRODUCERS];
    struct rawc          c;
    char                 val[64];

    memset(&run, 0, sizeof(run));
    /*
     * A small --journal-compact-min keeps compactions coming (every MiB or
     * so of journal), so kills also land in the middle of them.
     */
    if (getenv("CRASH_COMPACT_MIN") != NULL)
        srvargs[1] = getenv("CRASH_COMPACT_MIN");
    ck_assert_int_eq(jsrv_init(&run.srv, "/var/tmp", policy), 0);
    for (p = 0; p < CR_PRODUCERS; p++) {
        run.state[p] = calloc(CR_MAXSEQ, 1);
        run.ack_t[p] = calloc(CR_MAXSEQ, sizeof(double));
        seen[p] = calloc(CR_MAXSEQ, 1);
        ck_assert(run.state[p] && run.ack_t[p] && seen[p]);
    }
    for (k = 0; k < CR_CONSUMERS; k++)
        ck_assert_ptr_nonnull(run.got[k] = calloc(CR_MAXGOT, sizeof(struct cr_got)));
    ck_assert_ptr_nonnull(drain = calloc(CR_MAXGOT, sizeof(struct cr_got)));
    ck_assert_ptr_nonnull(run.kill_t = calloc((size_t)rounds + 1, sizeof(double)));

    ck_assert_msg(jsrv_start(&run.srv, srvargs) == 0, "server did not start (status %d)",
                  run.srv.status);
    atomic_store(&run.port, run.srv.port);
    for (i = 0; i < CR_PRODUCERS + CR_CONSUMERS; i++) {
        args[i].run = &run;
        args[i].id = i < CR_PRODUCERS ? i : i - CR_PRODUCERS;
        ck_assert_int_eq(pthread_create(&th[i], NULL,
                                        i < CR_PRODUCERS ? cr_producer : cr_consumer,
                                        &args[i]),
                         0);
    }
    for (r = 0; r < rounds; r++) {
        /* A life of 50 ms .. maxlife: kills land anywhere, start-up included. */
        usleep((useconds_t)((0.05 + jtest_rand(&seed) * maxlife) * 1e6));
        jsrv_kill9(&run.srv);
        run.kill_t[run.nkill++] = jtest_now();
        usleep((useconds_t)(jtest_rand(&seed) * 50000));
        /* JOURNAL-BUGS 5: an orphaned compaction child may hold the port. */
        for (int t = 0; t < 50 && jsrv_start(&run.srv, srvargs) != 0; t++)
            usleep(100000);
        ck_assert_msg(run.srv.pid > 0,
                      "round %d: the server did not restart on its journal (status %d)",
                      r, run.srv.status);
    }
    /* Let the clients work once more, then stop them and crash a last time. */
    usleep(200000);
    atomic_store(&run.stop, 1);
    for (i = 0; i < CR_PRODUCERS + CR_CONSUMERS; i++)
        pthread_join(th[i], NULL);
    jsrv_kill9(&run.srv);
    run.kill_t[run.nkill++] = jtest_now();
    ck_assert_msg(jsrv_start(&run.srv, srvargs) == 0, "final restart failed (status %d)",
                  run.srv.status);
    memset(&c, 0, sizeof(c));
    ck_assert_int_eq(jtest_connect_ws(&c, run.srv.port, CR_WS), 0);
    for (;;) {
        int rc = jtest_get(&c, CR_WS, CR_VAR, 1, val, sizeof(val));

        ck_assert_int_ge(rc, 0);
        if (rc == 0)
            break;
        ck_assert_msg(cr_parse(val, &p, &seq) == 0, "drained a value never stored: %s",
                      val);
        ck_assert_int_lt(ndrain, CR_MAXGOT);
        drain[ndrain++] = (struct cr_got){(unsigned)p, (unsigned)seq};
    }
    rawc_close(&c);
    ck_assert_int_eq(jsrv_stop(&run.srv), 0);

    /* Count what was delivered and check order per consumer and in the drain. */
    for (p = 0; p < CR_PRODUCERS; p++)
        last_fetched[p] = -1;
    for (k = 0; k < CR_CONSUMERS; k++) {
        int last[CR_PRODUCERS];

        for (p = 0; p < CR_PRODUCERS; p++)
            last[p] = -1;
        for (i = 0; i < run.ngot[k]; i++) {
            struct cr_got *g = &run.got[k][i];

            if (run.state[g->p][g->seq] == ST_NONE)
                ck_abort_msg("consumer %d got p%d:%d, never sent", k, g->p, g->seq);
            if (seen[g->p][g->seq]++)
                dup++;
            if (g->seq <= last[g->p])
                order++;
            last[g->p] = g->seq;
            if (g->seq > last_fetched[g->p])
                last_fetched[g->p] = g->seq;
            fetched++;
        }
    }
    {
        int last[CR_PRODUCERS];

        for (p = 0; p < CR_PRODUCERS; p++)
            last[p] = -1;
        for (i = 0; i < ndrain; i++) {
            struct cr_got *g = &drain[i];

            if (run.state[g->p][g->seq] == ST_NONE)
                ck_abort_msg("drained p%d:%d, never sent", g->p, g->seq);
            if (seen[g->p][g->seq]++) {
                dup++;
                resurrected++;
            }
            if (g->seq <= last[g->p])
                order++;
            last[g->p] = g->seq;
            if (g->seq < last_fetched[g->p])
                stale++;
        }
    }
    /* What vanished, and (everysec) how long before its kill it was acked. */
    for (p = 0; p < CR_PRODUCERS; p++) {
        for (seq = 0; seq < run.next[p]; seq++) {
            if (run.state[p][seq] == ST_ACKED)
                acked++;
            if (seen[p][seq])
                continue;
            if (run.state[p][seq] == ST_ACKED) {
                double t = run.ack_t[p][seq], kt = 0;

                vanished_acked++;
                for (i = 0; i < run.nkill; i++)
                    if (run.kill_t[i] >= t) {
                        kt = run.kill_t[i];
                        break;
                    }
                if (kt - t > window)
                    window = kt - t;
            } else if (run.state[p][seq] == ST_SENT) {
                vanished_unacked++;
            }
        }
    }
    {
        char *log = jsrv_log_text(&run.srv), *q;

        for (q = log; (q = strstr(q, "journal: compaction done")) != NULL; q++)
            ncompact++;
        free(log);
    }
    printf(
        "journal crash loop (--fsync %s): %d kills and %d compactions in %.1f s; %ld "
        "stores acknowledged, "
        "%d refused, %d cut by a kill; %ld fetches acknowledged, %d cut; %d drained "
        "after the last restart; acknowledged stores gone without an acknowledged fetch: "
        "%ld (allowed: one per cut fetch, whose record was written and reply cut); "
        "unacknowledged stores that did not survive: %ld; delivered twice: %ld; out of "
        "order: %ld; older than a fetched one: %ld\n",
        policy, run.nkill, ncompact, jtest_now() - t0, acked, atomic_load(&run.refused),
        atomic_load(&run.cut_stores), fetched, atomic_load(&run.cut_fetches), ndrain,
        vanished_acked, vanished_unacked, dup, order, stale);
    fflush(stdout);
    /* The loop must have done real work across real restarts. */
    ck_assert_int_gt(acked, 100);
    ck_assert_int_gt(fetched, 10);
    ck_assert_int_gt(ndrain + fetched, 0);
    /*
     * A value may vanish without an acknowledged fetch only to a fetch whose
     * reply the kill swallowed (the fetch was journaled, the reply never
     * left): at most one per cut fetch.
     */
    ck_assert_msg(
        vanished_acked <= atomic_load(&run.cut_fetches),
        "--fsync %s: %ld acknowledged stores lost (only %d fetches were cut by a "
        "kill), the oldest acknowledged %.3f s before its kill",
        policy, vanished_acked, atomic_load(&run.cut_fetches), window);
    ck_assert_msg(dup == 0,
                  "--fsync %s: %ld values delivered twice (%ld came back after "
                  "their fetch was acknowledged)",
                  policy, dup, resurrected);
    ck_assert_msg(order == 0, "--fsync %s: %ld values out of their producer's order",
                  policy, order);
    ck_assert_msg(stale == 0,
                  "--fsync %s: %ld values drained after a later one was fetched", policy,
                  stale);
    for (p = 0; p < CR_PRODUCERS; p++) {
        free(run.state[p]);
        free(run.ack_t[p]);
        free(seen[p]);
    }
    for (k = 0; k < CR_CONSUMERS; k++)
        free(run.got[k]);
    free(drain);
    free(run.kill_t);
    jsrv_free(&run.srv);
}

START_TEST(crash_loop_always)
{
    cr_loop("always");
}
END_TEST

START_TEST(crash_loop_everysec)
{
    cr_loop("everysec");
}
END_TEST

START_TEST(crash_loop_no)
{
    cr_loop("no");
}
END_TEST

NWSTEST_SUITE(journal_crash)
{
    Suite *s = suite_create("journal_crash");
    TCase *tc = tcase_create("crash");
    int    rounds = cr_env_int("CRASH_ROUNDS", 3);

    /* A round is a life of at most CRASH_SECONDS plus a restart. */
    tcase_set_timeout(tc, 30 + rounds * (cr_env_double("CRASH_SECONDS", 0.8) + 3));
    tcase_add_test(tc, crash_loop_always);
    tcase_add_test(tc, crash_loop_everysec);
    tcase_add_test(tc, crash_loop_no);
    suite_add_tcase(s, tc);
    return s;
}
