/*
 * fuzz_srv.c -- a whole nwsserver in memory, for the server and sleigh harnesses.
 *
 * Set up as main.c does (srv.base, the advertisement, ws_init), but every
 * connection is conn_new() on one end of a bufferevent pair whose other end
 * the harness holds: the decoder, the command table, blocking and wakeups
 * across connections and the sleigh type all run, without a socket.  Pairs
 * defer their callbacks, as socket bufferevents effectively do, so no conn
 * callback runs on the stack of another.
 *
 * Time: fuzz_srv_tick() fires every pending timer (frame and write timeouts,
 * fetch time limits, sleigh join, sentinel refresh and grace timers) as if
 * its time had come, so the harnesses reach timeout paths without waiting.
 *
 * fuzz_srv_end() tears everything down as main.c does on SIGTERM and checks
 * the memory accounting: every value byte counted in srv.mem_used must be
 * given back.  Leaks are LeakSanitizer's (or valgrind's) to find.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/bufferevent.h>

#include "fuzz.h"
#include "server.h"

/* "X000", then "R000" and a dictionary asking for both metadata directions. */
const char   fuzz_hs_new[] = "X000R000"
                             "0002"
                             "0016MetadataToServer00011"
                             "0018MetadataFromServer00011";
const size_t fuzz_hs_new_len = sizeof(fuzz_hs_new) - 1;

/* The same asking for a new session too: every request then starts with
 * the 40-byte header (docs/SESSIONS.md). */
const char   fuzz_hs_session[] = "X000R000"
                                 "0003"
                                 "0016MetadataToServer00011"
                                 "0018MetadataFromServer00011"
                                 "0010NwsSession0003new";
const size_t fuzz_hs_session_len = sizeof(fuzz_hs_session) - 1;

#define FUZZ_MAX_TIMERS 512
#define FUZZ_MAX_ROUNDS 10000

static struct bufferevent *fuzz_client[FUZZ_SLOTS];
static size_t              fuzz_replied[FUZZ_SLOTS];
static char                fuzz_tmpdir[64];

void
fuzz_fail(const char *what, const char *file, int line)
{
    fprintf(stderr, "%s:%d: invariant broken: %s\n", file, line, what);
    abort();
}

/* Removes the spool directory (empty: spool files are unlinked when made). */
static void
fuzz_srv_rmdir(void)
{
    rmdir(fuzz_tmpdir);
}

/* A private directory for spooled values, made once per process. */
static const char *
fuzz_srv_tmpdir(void)
{
    if (fuzz_tmpdir[0] == '\0') {
        snprintf(fuzz_tmpdir, sizeof(fuzz_tmpdir), "/tmp/nwsfuzz.XXXXXX");
        if (mkdtemp(fuzz_tmpdir) == NULL)
            fuzz_fail("mkdtemp", __FILE__, __LINE__);
        atexit(fuzz_srv_rmdir);
    }
    return fuzz_tmpdir;
}

/*
 * The advertisement of a server without a web interface.  main.c's
 * build_advert() is static; this is the same dictionary (section 2.5).
 */
static void
fuzz_srv_advert(void)
{
    struct nwsp_buf b = {0};

    if (nwsp_buf_dict_begin(&b, 3) != 0 ||
        nwsp_buf_dict_put(&b, "MetadataFromServer", 18, "", 0) != 0 ||
        nwsp_buf_dict_put(&b, "MetadataToServer", 16, "", 0) != 0 ||
        nwsp_buf_dict_put(&b, "KillServerOnClose", 17, "", 0) != 0)
        fuzz_fail("advertisement", __FILE__, __LINE__);
    srv.advert = b.data;
    srv.advert_len = b.len;
}

void
fuzz_srv_begin(unsigned flags)
{
    static const unsigned char key[16] = "nws fuzz harness";
    static int                 once;

    if (!once) {
        log_init(getenv("NWS_FUZZ_LOG") != NULL ? LOG_LVL_DEBUG : LOG_LVL_ERROR - 1, 0);
        htab_seed(key);
        once = 1;
    }
    srandom(1); /* variable ids: the same input behaves the same */
    memset(&srv, 0, sizeof(srv));
    memset(fuzz_client, 0, sizeof(fuzz_client));
    memset(fuzz_replied, 0, sizeof(fuzz_replied));
    srv.cfg.bind = "127.0.0.1";
    srv.cfg.no_web = 1;
    srv.cfg.tmpdir = fuzz_srv_tmpdir();
    srv.cfg.spool_threshold = (flags & FUZZ_SRV_SPOOL) ? 128 : 0;
    srv.cfg.max_value_size = (flags & FUZZ_SRV_TINYVAL) ? 64 : 8ULL << 30;
    srv.cfg.max_memory = (flags & FUZZ_SRV_SMALL) ? 4096 : 16 << 20;
    srv.cfg.frame_timeout = 60;
    srv.cfg.write_timeout = 120;
    snprintf(srv.suffix, sizeof(srv.suffix), "__nwssFUZZ00");
    if ((srv.base = event_base_new()) == NULL)
        fuzz_fail("event_base_new", __FILE__, __LINE__);
    fuzz_srv_advert();
    ws_init();
}

/* Opens a connection for slot: a pair, the server's end handed to conn_new(). */
static void
fuzz_srv_open(int slot)
{
    struct bufferevent *pair[2];
    struct sockaddr_in  sin;

    if (bufferevent_pair_new(srv.base, BEV_OPT_DEFER_CALLBACKS, pair) != 0)
        fuzz_fail("bufferevent_pair_new", __FILE__, __LINE__);
    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_port = htons((uint16_t)(40000 + slot));
    sin.sin_addr.s_addr = htonl(0x7f000001);
    conn_new(pair[0], (struct sockaddr *)&sin);
    fuzz_client[slot] = pair[1];
    bufferevent_enable(pair[1], EV_READ | EV_WRITE);
}

void
fuzz_srv_write(int slot, const void *p, size_t len)
{
    if (fuzz_client[slot] == NULL)
        fuzz_srv_open(slot);
    bufferevent_write(fuzz_client[slot], p, len);
}

void
fuzz_srv_close(int slot)
{
    if (fuzz_client[slot] == NULL)
        return;
    /* The server's end sees EOF, as after a client's close(). */
    bufferevent_flush(fuzz_client[slot], EV_WRITE, BEV_FINISHED);
    bufferevent_free(fuzz_client[slot]);
    fuzz_client[slot] = NULL;
}

/* Collects pending timers (event_base_foreach_event forbids changing them there). */
struct fuzz_timers {
    struct event *ev[FUZZ_MAX_TIMERS];
    int           n;
};

static int
fuzz_srv_timer(const struct event_base *base, const struct event *ev, void *arg)
{
    struct fuzz_timers *t = arg;

    (void)base;
    if (event_get_fd(ev) == -1 && event_pending(ev, EV_TIMEOUT, NULL) &&
        t->n < FUZZ_MAX_TIMERS)
        t->ev[t->n++] = (struct event *)ev;
    return 0;
}

void
fuzz_srv_tick(void)
{
    struct fuzz_timers t;
    int                i;

    t.n = 0;
    event_base_foreach_event(srv.base, fuzz_srv_timer, &t);
    for (i = 0; i < t.n; i++)
        event_active(t.ev[i], EV_TIMEOUT, 1);
    fuzz_srv_run();
}

/* Counts and drops what the server sent to each client. */
static void
fuzz_srv_drain(void)
{
    struct evbuffer *in;
    int              i;

    for (i = 0; i < FUZZ_SLOTS; i++) {
        if (fuzz_client[i] == NULL)
            continue;
        in = bufferevent_get_input(fuzz_client[i]);
        fuzz_replied[i] += evbuffer_get_length(in);
        evbuffer_drain(in, evbuffer_get_length(in));
    }
}

void
fuzz_srv_run(void)
{
    int rounds = 0;

    do {
        if (event_base_loop(srv.base, EVLOOP_NONBLOCK) == -1)
            fuzz_fail("event_base_loop", __FILE__, __LINE__);
        fuzz_srv_drain();
        /* Never spin for ever: a connection that keeps itself busy is a bug. */
        FUZZ_ASSERT(++rounds < FUZZ_MAX_ROUNDS);
    } while (!srv.shutting_down &&
             (event_base_get_num_events(srv.base, EVENT_BASE_COUNT_ACTIVE) > 0 ||
              conn_work_pending()));
}

int
fuzz_srv_stopped(void)
{
    return srv.shutting_down;
}

size_t
fuzz_srv_replied(int slot)
{
    size_t n = fuzz_replied[slot];

    fuzz_replied[slot] = 0;
    return n;
}

void
fuzz_srv_end(void)
{
    int i;

    /* main.c's shutdown order: connections, then workspaces. */
    conn_shutdown_all();
    ws_shutdown();
    for (i = 0; i < FUZZ_SLOTS; i++) {
        if (fuzz_client[i] != NULL)
            bufferevent_free(fuzz_client[i]);
        fuzz_client[i] = NULL;
    }
    FUZZ_ASSERT(srv.nconns == 0);
    FUZZ_ASSERT(srv.mem_used == 0);
    /*
     * Pairs defer their callbacks, and a deferred callback holds a reference
     * on its bufferevent: let them run, or freeing the base leaks those.
     */
    for (i = 0; i < FUZZ_MAX_ROUNDS &&
                event_base_get_num_events(srv.base, EVENT_BASE_COUNT_ACTIVE) > 0;
         i++)
        event_base_loop(srv.base, EVLOOP_NONBLOCK);
    event_base_free(srv.base);
    srv.base = NULL;
    free(srv.advert);
    srv.advert = NULL;
}
