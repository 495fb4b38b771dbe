/*
 * check_libnws.c -- libnws against a real nwsserver, one fresh server per test.
 *
 * Covers every call group: connecting and the handshake flags, workspaces
 * and ownership, variables in every mode, blocking across two connections
 * (a forked child with its own connection), iterators, listings, metadata,
 * JSON, bulk stores, streaming (100 MB) and connection failures.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "nws.h"
#include "nws_json.h"
#include "nwstest.h"
#include "util.h"

static struct nwstest_server lt_srv;
static nws_client           *lt_c;
static nws_ws               *lt_ws;

/* Connects to the test server; fails the test if that does not work. */
static nws_client *
lt_connect(unsigned flags)
{
    nws_error   err;
    nws_client *c = nws_connect("127.0.0.1", lt_srv.port, flags, &err);

    ck_assert_msg(c != NULL, "connect: %s", err.text);
    return c;
}

/* Fixture: a server, a connection, and workspace "t" opened with `use ws`. */
static void
lt_setup_args(const char *const *extra)
{
    nws_error err;

    ck_assert_int_eq(nwstest_server_start(&lt_srv, extra), 0);
    lt_c = lt_connect(0);
    lt_ws = nws_ws_use(lt_c, "t", 0, &err);
    ck_assert_msg(lt_ws != NULL, "use ws: %s", err.text);
}

/* Fixture setup with default server options. */
static void
lt_setup(void)
{
    lt_setup_args(NULL);
}

/* Fixture setup with a 1000-byte value limit on the server. */
static void
lt_setup_small(void)
{
    static const char *const extra[] = {"--max-value-size", "1000", NULL};

    lt_setup_args(extra);
}

/* Fixture teardown. */
static void
lt_teardown(void)
{
    nws_ws_free(lt_ws);
    nws_close(lt_c);
    lt_ws = NULL;
    lt_c = NULL;
    nwstest_server_stop(&lt_srv);
}

/* Writes all of p to fd (a file or pipe, where send() does not work); 0, or -1. */
static int
lt_write_all(int fd, const void *p, size_t len)
{
    const char *s = p;
    ssize_t     n;

    while (len > 0) {
        n = write(fd, s, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        s += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Fetches var with op as a string and checks it equals want. */
static void
lt_expect(nws_ws *ws, const char *var, enum nws_op op, const char *want)
{
    nws_error  err;
    nws_value *v = NULL;
    int        rc = nws_get(ws, var, op, &v, &err);

    ck_assert_msg(rc == 1, "%s: rc %d: %s", var, rc, err.text);
    ck_assert_str_eq(nws_value_str(v), want);
    nws_value_free(v);
}

/* Copies the list vars line of var into *out (mode into mode); fails the test if absent. */
static void
lt_var(nws_ws *ws, const char *var, nws_var_info *out, char *mode, size_t mlen)
{
    nws_error     err;
    nws_var_list *l = nws_list_vars(ws, &err);
    size_t        i;
    int           found = 0;

    ck_assert_msg(l != NULL, "list vars: %s", err.text);
    for (i = 0; i < l->count && !found; i++) {
        if (strcmp(l->items[i].name, var) == 0) {
            *out = l->items[i];
            snprintf(mode, mlen, "%s", l->items[i].mode);
            found = 1;
        }
    }
    ck_assert_msg(found, "no variable %s in %s", var, l->raw);
    out->name = NULL;
    out->mode = NULL;
    nws_var_list_free(l);
}

/* The number of values var holds, from list vars. */
static uint64_t
lt_values(nws_ws *ws, const char *var)
{
    nws_var_info vi;
    char         mode[32];

    lt_var(ws, var, &vi, mode, sizeof(mode));
    return vi.values;
}

/* Checks var's mode, from list vars. */
static void
lt_mode(nws_ws *ws, const char *var, const char *want)
{
    nws_var_info vi;
    char         mode[32];

    lt_var(ws, var, &vi, mode, sizeof(mode));
    ck_assert_str_eq(mode, want);
}

/*
 * Forks a child that connects on its own, waits until var has `fetchers`
 * blocked fetchers and `finders` blocked finders, then stores val.  The
 * child exits 0 if it saw that many waiters.
 */
static pid_t
lt_store_when_blocked(const char *var, int fetchers, int finders, const char *val)
{
    pid_t pid = fork();

    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        nws_client   *c = nws_connect("127.0.0.1", lt_srv.port, 0, NULL);
        nws_ws       *ws = c ? nws_ws_use(c, "t", 0, NULL) : NULL;
        nws_var_list *l;
        size_t        i;
        int           tries, seen = 0;

        alarm(20);
        for (tries = 0; ws != NULL && tries < 500 && !seen; tries++) {
            if ((l = nws_list_vars(ws, NULL)) == NULL)
                _exit(3);
            for (i = 0; i < l->count; i++)
                if (strcmp(l->items[i].name, var) == 0 &&
                    l->items[i].fetchers == (uint64_t)fetchers &&
                    l->items[i].finders == (uint64_t)finders)
                    seen = 1;
            nws_var_list_free(l);
            if (!seen)
                usleep(10000);
        }
        if (val != NULL && (ws == NULL || nws_store_string(ws, var, val, NULL) != 0))
            _exit(4);
        nws_ws_free(ws);
        nws_close(c);
        _exit(seen ? 0 : 5);
    }
    return pid;
}

/* Waits for a child; returns its exit status. */
static int
lt_wait(pid_t pid)
{
    int st;

    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* ---- connections ---- */

START_TEST(connect_env_defaults)
{
    char        port[16];
    nws_client *c;
    nws_error   err;

    snprintf(port, sizeof(port), "%d", lt_srv.port);
    setenv("NWS_HOST", "127.0.0.1", 1);
    setenv("NWS_PORT", port, 1);
    c = nws_connect(NULL, 0, 0, &err);
    ck_assert_msg(c != NULL, "%s", err.text);
    ck_assert_int_eq(nws_has_meta_to_server(c), 1);
    ck_assert_int_eq(nws_has_meta_from_server(c), 1);
    ck_assert_int_eq(nws_has_cookie(c), 1);
    ck_assert_int_eq(nws_is_open(c), 1);
    ck_assert_int_ge(nws_fd(c), 0);
    if (nws_web_port(c) != 0 && lt_srv.web_port != 0)
        ck_assert_int_eq(nws_web_port(c), lt_srv.web_port);
    nws_close(c);
    unsetenv("NWS_HOST");
    unsetenv("NWS_PORT");
}
END_TEST

START_TEST(connect_no_metadata)
{
    nws_client *c = lt_connect(NWS_CONNECT_NO_METADATA);
    nws_meta   *m = nws_meta_new();
    nws_error   err;
    nws_ws     *ws;
    nws_value  *v;

    ck_assert_int_eq(nws_has_meta_to_server(c), 0);
    ck_assert_int_eq(nws_has_meta_from_server(c), 0);
    ws = nws_ws_use(c, "t", 0, &err);
    ck_assert_ptr_nonnull(ws);
    ck_assert_int_eq(nws_store_string(ws, "x", "plain", &err), 0);
    lt_expect(ws, "x", NWS_OP_FETCH_TRY, "plain");
    /* Without MetadataFromServer a miss is still a miss, not an error. */
    ck_assert_int_eq(nws_fetch_try(ws, "x", &v, &err), 0);
    /* Metadata cannot be sent on this connection: say so instead of dropping it. */
    ck_assert_int_eq(nws_meta_set(m, "k", "v", &err), 0);
    ck_assert_int_eq(nws_set_request_meta(c, m, &err), 0);
    ck_assert_int_eq(nws_store_string(ws, "x", "y", &err), -1);
    ck_assert_int_eq(err.code, NWS_ERR_UNSUPPORTED);
    ck_assert_int_eq(nws_store_string(ws, "x", "y", &err), 0); /* used up */
    /* Server errors come as a bare status. */
    ck_assert_int_eq(nws_declare(ws, "x", NWS_MODE_LIFO, &err), -1);
    ck_assert_int_eq(err.code, NWS_ERR_SERVER);
    ck_assert_int_eq(err.status, 1);
    nws_meta_free(m);
    nws_ws_free(ws);
    nws_close(c);
}
END_TEST

/* Waits up to 5 s for the test server to exit; returns 1 if it did. */
static int
lt_server_exited(void)
{
    int i, st;

    for (i = 0; i < 500; i++) {
        if (waitpid(lt_srv.pid, &st, WNOHANG) == lt_srv.pid) {
            lt_srv.pid = 0;
            return 1;
        }
        usleep(10000);
    }
    return 0;
}

START_TEST(deadman_command)
{
    nws_client *c = lt_connect(0);
    nws_error   err;

    ck_assert_int_eq(nws_deadman(c, &err), 0);
    ck_assert_int_eq(nws_is_open(lt_c), 1);
    nws_close(c);
    ck_assert_msg(lt_server_exited(), "the server outlived its deadman connection");
}
END_TEST

START_TEST(deadman_option)
{
    nws_client *c = lt_connect(NWS_CONNECT_KILL_ON_CLOSE);

    nws_close(c);
    ck_assert_msg(lt_server_exited(), "KillServerOnClose did not stop the server");
}
END_TEST

/* ---- workspaces ---- */

/* The list wss entry of name on c, copied into *out; 1 if found. */
static int
lt_ws_info(nws_client *c, const char *name, nws_ws_info *out, char *owner, size_t olen)
{
    nws_error    err;
    nws_ws_list *l = nws_list_wss(c, name, &err);
    int          found = 0;

    ck_assert_msg(l != NULL, "list wss: %s", err.text);
    if (l->count == 1 && strcmp(l->items[0].name, name) == 0) {
        *out = l->items[0];
        snprintf(owner, olen, "%s", l->items[0].owner);
        found = 1;
    }
    ck_assert_uint_le(l->count, 1);
    nws_ws_list_free(l);
    return found;
}

START_TEST(open_use_ownership)
{
    nws_client *c2 = lt_connect(0);
    nws_ws_info wi;
    nws_error   err;
    nws_ws     *a, *p, *u;
    char        owner[256], label[32];
    int         i, gone = 0;

    a = nws_ws_open(c2, "owned", 0, &err);
    ck_assert_msg(a != NULL, "%s", err.text);
    p = nws_ws_open(c2, "kept", NWS_WS_PERSISTENT, &err);
    ck_assert_ptr_nonnull(p);
    u = nws_ws_use(c2, "used", 0, &err);
    ck_assert_ptr_nonnull(u);
    ck_assert_str_eq(nws_ws_name(a), "owned");

    ck_assert(lt_ws_info(c2, "owned", &wi, owner, sizeof(owner)));
    ck_assert_int_eq(wi.mine, 1);
    ck_assert_int_eq(wi.persistent, 0);
    /* Readable owner text (Q25): "127.0.0.1:PORT pid PID", not Twisted's repr. */
    snprintf(label, sizeof(label), " pid %ld", (long)getpid());
    ck_assert_msg(strncmp(owner, "127.0.0.1:", 10) == 0 && atoi(owner + 10) > 0 &&
                      strlen(owner) > strlen(label) &&
                      strcmp(owner + strlen(owner) - strlen(label), label) == 0 &&
                      strchr(owner, '(') == NULL,
                  "owner text %s, want 127.0.0.1:PORT%s", owner, label);
    ck_assert(lt_ws_info(lt_c, "owned", &wi, owner, sizeof(owner)));
    ck_assert_int_eq(wi.mine, 0); /* the mark is per connection */
    ck_assert(lt_ws_info(c2, "kept", &wi, owner, sizeof(owner)));
    ck_assert_int_eq(wi.persistent, 1);
    ck_assert(lt_ws_info(c2, "used", &wi, owner, sizeof(owner)));
    ck_assert_int_eq(wi.mine, 0);
    ck_assert_str_eq(owner, "");

    ck_assert_int_eq(nws_store_string(a, "v", "1", &err), 0);
    nws_ws_free(a);
    nws_ws_free(p);
    nws_ws_free(u);
    nws_close(c2);
    /* The owner left: its non-persistent workspace goes, the others stay. */
    for (i = 0; i < 200 && !gone; i++) {
        gone = !lt_ws_info(lt_c, "owned", &wi, owner, sizeof(owner));
        if (!gone)
            usleep(10000);
    }
    ck_assert_msg(gone, "owned workspace survived its owner");
    /* The persistent one stays, and its owner text says the owner is gone. */
    ck_assert(lt_ws_info(lt_c, "kept", &wi, owner, sizeof(owner)));
    ck_assert_msg(strstr(owner, label) != NULL && strlen(owner) > 7 &&
                      strcmp(owner + strlen(owner) - 7, " (gone)") == 0,
                  "owner of a persistent workspace after its owner left: %s", owner);
    ck_assert(lt_ws_info(lt_c, "used", &wi, owner, sizeof(owner)));
    ck_assert(!lt_ws_info(lt_c, "nonesuch", &wi, owner, sizeof(owner)));
}
END_TEST

START_TEST(nocreate_mktemp_delete)
{
    nws_client *c2 = lt_connect(0);
    nws_error   err;
    nws_ws     *w, *w2, *again;

    ck_assert_ptr_null(nws_ws_use(lt_c, "missing", NWS_WS_NOCREATE, &err));
    ck_assert_int_eq(err.code, NWS_ERR_SERVER);
    ck_assert_int_eq(err.status, NWS_STATUS_NO_WS);
    ck_assert_ptr_null(nws_ws_open(lt_c, "missing", NWS_WS_NOCREATE, &err));
    ck_assert_int_eq(err.status, NWS_STATUS_NO_WS);
    ck_assert_ptr_null(nws_ws_use(lt_c, "x", 0x100, &err));
    ck_assert_int_eq(err.code, NWS_ERR_INVALID);

    w = nws_ws_mktemp(lt_c, NULL, 0, &err);
    ck_assert_msg(w != NULL, "%s", err.text);
    ck_assert_msg(strncmp(nws_ws_name(w), "__nws__", 7) == 0, "%s", nws_ws_name(w));
    w2 = nws_ws_mktemp(lt_c, "job_%04d", NWS_WS_OWN, &err);
    ck_assert_ptr_nonnull(w2);
    ck_assert_str_ne(nws_ws_name(w), nws_ws_name(w2));
    ck_assert_ptr_null(nws_ws_mktemp(lt_c, "no conversion", 0, &err));
    ck_assert_int_eq(err.code, NWS_ERR_SERVER);
    ck_assert_int_eq(err.status, 1);
    ck_assert_int_eq(nws_is_open(lt_c), 1);

    /* Another connection deletes w: our mapping now gives 100 until we use it again. */
    ck_assert_int_eq(nws_store_string(w, "v", "1", &err), 0);
    ck_assert_int_eq(nws_ws_delete(c2, nws_ws_name(w), &err), 0);
    ck_assert_int_eq(nws_store_string(w, "v", "1", &err), -1);
    ck_assert_int_eq(err.status, NWS_STATUS_NO_WS);
    again = nws_ws_use(lt_c, nws_ws_name(w), 0, &err);
    ck_assert_ptr_nonnull(again);
    ck_assert_int_eq(nws_store_string(again, "v", "1", &err), 0);
    ck_assert_int_eq(nws_ws_delete(lt_c, nws_ws_name(w), &err), 0);
    ck_assert_int_eq(nws_ws_delete(lt_c, nws_ws_name(w), &err), -1);
    ck_assert_int_eq(err.code, NWS_ERR_SERVER);
    ck_assert_int_eq(err.status, 1);
    ck_assert_ptr_nonnull(strstr(err.text, "does not exist"));
    nws_ws_free(again);
    nws_ws_free(w);
    nws_ws_free(w2);
    nws_close(c2);
}
END_TEST

/* ---- variables ---- */

START_TEST(store_fetch_find_try)
{
    nws_error  err;
    nws_value *v;
    char      *s;

    ck_assert_int_eq(nws_fetch_try(lt_ws, "x", &v, &err), 0);
    ck_assert_ptr_null(v);
    ck_assert_int_eq(err.code, NWS_ERR_NONE);
    ck_assert_int_eq(nws_find_try(lt_ws, "x", &v, &err), 0);
    ck_assert_int_eq(nws_store_string(lt_ws, "x", "one", &err), 0);
    ck_assert_int_eq(nws_store_string(lt_ws, "x", "two", &err), 0);
    lt_expect(lt_ws, "x", NWS_OP_FIND, "one");
    lt_expect(lt_ws, "x", NWS_OP_FIND_TRY, "one");
    lt_expect(lt_ws, "x", NWS_OP_FETCH, "one");
    ck_assert_int_eq(nws_find_try_string(lt_ws, "x", &s, &err), 1);
    ck_assert_str_eq(s, "two");
    free(s);
    ck_assert_int_eq(nws_fetch_try_string(lt_ws, "x", &s, &err), 1);
    ck_assert_str_eq(s, "two");
    free(s);
    ck_assert_int_eq(nws_fetch_try_string(lt_ws, "x", &s, &err), 0);
    ck_assert_ptr_null(s);
    ck_assert_int_eq(nws_store_string(lt_ws, "x", "three", &err), 0);
    s = nws_find_string(lt_ws, "x", &err);
    ck_assert_str_eq(s, "three");
    free(s);
    s = nws_fetch_string(lt_ws, "x", &err);
    ck_assert_str_eq(s, "three");
    free(s);
    v = nws_value_string("four", &err);
    ck_assert_int_eq(nws_store_new(lt_ws, "x", v, &err), 0);
    v = nws_fetch(lt_ws, "x", &err);
    ck_assert_str_eq(nws_value_str(v), "four");
    nws_value_free(v);
    v = nws_value_string("five", &err);
    ck_assert_int_eq(nws_store(lt_ws, "x", v, &err), 0);
    nws_value_free(v);
    v = nws_find(lt_ws, "x", &err);
    ck_assert_str_eq(nws_value_str(v), "five");
    nws_value_free(v);
    ck_assert_int_eq(nws_store_new(lt_ws, "x", NULL, &err), -1);
    ck_assert_int_eq(err.code, NWS_ERR_INVALID);
}
END_TEST

START_TEST(descriptors_and_empty_values)
{
    nws_error  err;
    nws_value *v;
    char      *s;
    uint8_t    bin[256];
    int        i;

    for (i = 0; i < 256; i++)
        bin[i] = (uint8_t)i;
    ck_assert_int_eq(nws_store_bytes(lt_ws, "b", bin, sizeof(bin), &err), 0);
    v = nws_fetch(lt_ws, "b", &err);
    ck_assert_uint_eq(nws_value_desc(v), 3);
    ck_assert_uint_eq(nws_value_size(v), 256);
    ck_assert(memcmp(nws_value_data(v), bin, 256) == 0);
    nws_value_free(v);

    /* A Python str keeps its descriptor; a C string is descriptor 1. */
    ck_assert_int_eq(nws_store_raw(lt_ws, "p", "py", 2, 0x01000001, &err), 0);
    v = nws_fetch(lt_ws, "p", &err);
    ck_assert_uint_eq(nws_value_desc(v), 0x01000001);
    ck_assert_str_eq(nws_value_str(v), "py");
    nws_value_free(v);
    ck_assert_int_eq(nws_store_string(lt_ws, "p", "c", &err), 0);
    v = nws_fetch(lt_ws, "p", &err);
    ck_assert_uint_eq(nws_value_desc(v), NWS_DESC_TEXT);
    nws_value_free(v);

    /* An empty string is a value, not "no value" (section 8.5). */
    ck_assert_int_eq(nws_store_string(lt_ws, "e", "", &err), 0);
    ck_assert_int_eq(nws_fetch_try_string(lt_ws, "e", &s, &err), 1);
    ck_assert_str_eq(s, "");
    free(s);
    ck_assert_int_eq(nws_fetch_try_string(lt_ws, "e", &s, &err), 0);
    ck_assert_int_eq(nws_store_raw(lt_ws, "e", "", 0, 0x03000000, &err), -1);
    ck_assert_int_eq(err.code, NWS_ERR_INVALID);
    ck_assert_int_eq(nws_is_open(lt_c), 1);

    /* fetch_string refuses a serialized object; the value is consumed. */
    ck_assert_int_eq(nws_store_raw(lt_ws, "r", "X\n", 2, 0x03000000, &err), 0);
    ck_assert_ptr_null(nws_fetch_string(lt_ws, "r", &err));
    ck_assert_int_eq(err.code, NWS_ERR_TYPE);
    ck_assert_int_eq(nws_fetch_try(lt_ws, "r", &v, &err), 0);
    ck_assert_int_eq(nws_store_bytes(lt_ws, "r", "a\0b", 3, &err), 0);
    ck_assert_int_eq(nws_find_try_string(lt_ws, "r", &s, &err), -1);
    ck_assert_int_eq(err.code, NWS_ERR_TYPE);
}
END_TEST

START_TEST(modes)
{
    nws_value    *v;
    nws_error     err;
    const char   *names[] = {NWS_MODE_FIFO, NWS_MODE_LIFO, NWS_MODE_MULTI, NWS_MODE_SINGLE};
    const char   *first[] = {"1", "3", "3", "3"};
    int           i;

    for (i = 0; i < 4; i++) {
        ck_assert_int_eq(nws_declare(lt_ws, names[i], names[i], &err), 0);
        ck_assert_int_eq(nws_declare(lt_ws, names[i], names[i], &err), 0); /* again: fine */
        ck_assert_int_eq(nws_store_string(lt_ws, names[i], "1", &err), 0);
        ck_assert_int_eq(nws_store_string(lt_ws, names[i], "2", &err), 0);
        ck_assert_int_eq(nws_store_string(lt_ws, names[i], "3", &err), 0);
        lt_mode(lt_ws, names[i], names[i]);
        ck_assert_uint_eq(lt_values(lt_ws, names[i]), i == 3 ? 1 : 3);
        lt_expect(lt_ws, names[i], NWS_OP_FIND, first[i]);
        lt_expect(lt_ws, names[i], NWS_OP_FETCH, first[i]);
    }
    lt_expect(lt_ws, "fifo", NWS_OP_FETCH, "2");
    lt_expect(lt_ws, "lifo", NWS_OP_FETCH, "2");
    lt_expect(lt_ws, "multi", NWS_OP_FETCH, "2");
    ck_assert_int_eq(nws_fetch_try(lt_ws, "single", &v, &err), 0);

    /* A mode never changes once set, and an unknown one is refused. */
    ck_assert_int_eq(nws_declare(lt_ws, "fifo", NWS_MODE_LIFO, &err), -1);
    ck_assert_int_eq(err.code, NWS_ERR_SERVER);
    ck_assert_int_eq(err.status, 1);
    ck_assert_str_eq(err.text, "Cannot change variable mode to \"lifo\".");
    ck_assert_int_eq(nws_declare(lt_ws, "odd", "random", &err), -1);
    ck_assert_int_eq(err.status, 1);
    /* The first store makes an unknown variable fifo. */
    ck_assert_int_eq(nws_store_string(lt_ws, "plain", "p", &err), 0);
    lt_mode(lt_ws, "plain", "fifo");
}
END_TEST

START_TEST(time_mode)
{
    nws_error err;
    char     *s;

    ck_assert_int_eq(nws_declare(lt_ws, "now", NWS_MODE_TIME, &err), 0);
    s = nws_find_string(lt_ws, "now", &err);
    ck_assert_msg(s != NULL, "%s", err.text);
    ck_assert_uint_eq(strlen(s), 24); /* asctime() without its newline */
    free(s);
    ck_assert_int_eq(nws_fetch_try_string(lt_ws, "now", &s, &err), 1);
    free(s);
    ck_assert_int_eq(nws_store_string(lt_ws, "now", "x", &err), -1);
    ck_assert_int_eq(err.code, NWS_ERR_SERVER);
    ck_assert_int_eq(nws_is_open(lt_c), 1);
}
END_TEST

START_TEST(barrier_mode)
{
    nws_error err;
    char     *s;

    ck_assert_int_eq(nws_declare(lt_ws, "bar", NWS_MODE_BARRIER, &err), 0);
    ck_assert_int_eq(nws_store_string(lt_ws, "bar", "join", &err), 0); /* join */
    ck_assert_int_eq(nws_store_string(lt_ws, "bar", "join", &err), -1); /* twice */
    ck_assert_int_eq(err.status, 1);
    ck_assert_int_eq(nws_find_try_string(lt_ws, "bar", &s, &err), 1);
    ck_assert_str_eq(s, "0 out of 1 at barrier");
    free(s);
    /* The only member arriving at the barrier passes it at once. */
    s = nws_find_string(lt_ws, "bar", &err);
    ck_assert_msg(s != NULL, "%s", err.text);
    ck_assert_str_eq(s, "1");
    free(s);
    ck_assert_int_eq(nws_fetch_try_string(lt_ws, "bar", &s, &err), 1); /* leave */
    ck_assert_str_eq(s, "");
    free(s);
    ck_assert_int_eq(nws_fetch_try_string(lt_ws, "bar", &s, &err), -1);
    ck_assert_str_eq(err.text, "Client has not joined this barrier group.");
}
END_TEST

START_TEST(delete_var)
{
    nws_error  err;
    nws_value *v;

    ck_assert_int_eq(nws_store_string(lt_ws, "d", "1", &err), 0);
    ck_assert_int_eq(nws_delete_var(lt_ws, "d", &err), 0);
    ck_assert_int_eq(nws_find_try(lt_ws, "d", &v, &err), 0);
    ck_assert_int_eq(nws_delete_var(lt_ws, "never", &err), -1);
    ck_assert_int_eq(err.code, NWS_ERR_SERVER);
    ck_assert_int_eq(err.status, 1);
    ck_assert_ptr_nonnull(strstr(err.text, "does not exist"));
}
END_TEST

/* ---- blocking across connections ---- */

START_TEST(blocking_fetch_two_connections)
{
    nws_error  err;
    nws_value *v;
    pid_t      pid;
    double     t0;

    t0 = nwsp_mono();
    pid = lt_store_when_blocked("q", 1, 0, "late");
    v = nws_fetch(lt_ws, "q", &err);
    ck_assert_msg(v != NULL, "%s", err.text);
    ck_assert_str_eq(nws_value_str(v), "late");
    nws_value_free(v);
    ck_assert_int_eq(lt_wait(pid), 0); /* it saw our fetch blocked */
    ck_assert(nwsp_mono() - t0 < 10);
    /* The value went to the blocked fetcher: nothing is left. */
    ck_assert_int_eq(nws_find_try(lt_ws, "q", &v, &err), 0);
}
END_TEST

START_TEST(blocking_find_two_connections)
{
    nws_error  err;
    nws_value *v;
    pid_t      pid;

    pid = lt_store_when_blocked("q", 0, 1, "seen");
    v = nws_find(lt_ws, "q", &err);
    ck_assert_msg(v != NULL, "%s", err.text);
    ck_assert_str_eq(nws_value_str(v), "seen");
    nws_value_free(v);
    ck_assert_int_eq(lt_wait(pid), 0);
    lt_expect(lt_ws, "q", NWS_OP_FETCH_TRY, "seen"); /* a find leaves it there */
}
END_TEST

START_TEST(blocked_fetch_purged)
{
    nws_error err;
    pid_t     pid = fork();

    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        pid_t w = lt_store_when_blocked("q", 1, 0, NULL);
        nws_client *c = nws_connect("127.0.0.1", lt_srv.port, 0, NULL);
        nws_ws     *ws = c ? nws_ws_use(c, "t", 0, NULL) : NULL;
        int         st;

        waitpid(w, &st, 0);
        _exit(ws != NULL && nws_delete_var(ws, "q", NULL) == 0 ? 0 : 1);
    }
    ck_assert_ptr_null(nws_fetch(lt_ws, "q", &err));
    ck_assert_int_eq(err.code, NWS_ERR_SERVER);
    ck_assert_int_eq(err.status, 1);
    ck_assert_str_eq(err.text, "Variable purged.");
    ck_assert_int_eq(nws_is_open(lt_c), 1);
    ck_assert_int_eq(lt_wait(pid), 0);
}
END_TEST

/* ---- iterators ---- */

START_TEST(ifind_walk_restart_reset)
{
    nws_error  err;
    nws_value *v;
    nws_iter  *it;

    v = nws_value_string("v1", &err);
    ck_assert_int_eq(nws_meta_set(nws_value_meta(v), "k", "m1", &err), 0);
    ck_assert_int_eq(nws_store_new(lt_ws, "x", v, &err), 0);
    ck_assert_int_eq(nws_store_string(lt_ws, "x", "v2", &err), 0);
    it = nws_ifind(lt_ws, "x", 0, &err);
    ck_assert_ptr_nonnull(it);
    ck_assert_str_eq(nws_iter_varid(it), "");
    ck_assert_int_eq(nws_iter_next(it, &v, &err), 1);
    ck_assert_str_eq(nws_value_str(v), "v1");
    ck_assert_str_eq(nws_meta_get(nws_value_meta_get(v), "k"), "m1");
    ck_assert_int_eq(nws_iter_index(it), 0);
    ck_assert_uint_gt(strlen(nws_iter_varid(it)), 0);
    nws_value_free(v);
    ck_assert_int_eq(nws_iter_next(it, &v, &err), 1);
    ck_assert_str_eq(nws_value_str(v), "v2");
    ck_assert_int_eq(nws_iter_index(it), 1);
    nws_value_free(v);
    ck_assert_int_eq(nws_iter_next(it, &v, &err), 0);
    ck_assert_int_eq(nws_iter_ended(it), 1);
    /* Ended stays ended, even when a value arrives, until restart. */
    ck_assert_int_eq(nws_store_string(lt_ws, "x", "v3", &err), 0);
    ck_assert_int_eq(nws_iter_next(it, &v, &err), 0);
    nws_iter_restart(it);
    ck_assert_int_eq(nws_iter_next(it, &v, &err), 1);
    ck_assert_str_eq(nws_value_str(v), "v3");
    nws_value_free(v);
    /* Another client's fetch skips the iterator forward; reset starts over. */
    lt_expect(lt_ws, "x", NWS_OP_FETCH, "v1");
    nws_iter_reset(it);
    ck_assert_str_eq(nws_iter_varid(it), "");
    ck_assert_int_eq(nws_iter_next(it, &v, &err), 1);
    ck_assert_str_eq(nws_value_str(v), "v2");
    nws_value_free(v);
    /* The finds left every value in place. */
    ck_assert_uint_eq(lt_values(lt_ws, "x"), 2);
    nws_iter_free(it);
}
END_TEST

START_TEST(ifetch_consumes)
{
    nws_error  err;
    nws_value *v;
    nws_iter  *it;
    char       val[16];
    int        i;

    for (i = 0; i < 5; i++) {
        snprintf(val, sizeof(val), "%d", i);
        ck_assert_int_eq(nws_store_string(lt_ws, "x", val, &err), 0);
    }
    it = nws_ifetch(lt_ws, "x", 0, &err);
    for (i = 0; i < 5; i++) {
        snprintf(val, sizeof(val), "%d", i);
        ck_assert_int_eq(nws_iter_next(it, &v, &err), 1);
        ck_assert_str_eq(nws_value_str(v), val);
        ck_assert_int_eq(nws_iter_index(it), i);
        nws_value_free(v);
    }
    ck_assert_int_eq(nws_iter_next(it, &v, &err), 0);
    ck_assert_int_eq(nws_find_try(lt_ws, "x", &v, &err), 0);
    nws_iter_free(it);
}
END_TEST

START_TEST(iter_id_mismatch)
{
    nws_error  err;
    nws_value *v;
    nws_iter  *it;

    ck_assert_int_eq(nws_store_string(lt_ws, "x", "old", &err), 0);
    it = nws_ifind(lt_ws, "x", 0, &err);
    ck_assert_int_eq(nws_iter_next(it, &v, &err), 1);
    nws_value_free(v);
    ck_assert_int_eq(nws_delete_var(lt_ws, "x", &err), 0);
    ck_assert_int_eq(nws_store_string(lt_ws, "x", "new", &err), 0);
    ck_assert_int_eq(nws_iter_next(it, &v, &err), -1);
    ck_assert_int_eq(err.code, NWS_ERR_SERVER);
    ck_assert_str_eq(err.text, "Variable id mismatch.");
    ck_assert_int_eq(nws_iter_ended(it), 1);
    ck_assert_int_eq(nws_iter_next(it, &v, &err), 0);
    nws_iter_reset(it);
    ck_assert_int_eq(nws_iter_next(it, &v, &err), 1);
    ck_assert_str_eq(nws_value_str(v), "new");
    nws_value_free(v);
    nws_iter_free(it);
}
END_TEST

START_TEST(iter_lifo_and_single)
{
    nws_error  err;
    nws_value *v;
    nws_iter  *it;

    ck_assert_int_eq(nws_declare(lt_ws, "l", NWS_MODE_LIFO, &err), 0);
    ck_assert_int_eq(nws_store_string(lt_ws, "l", "a", &err), 0);
    ck_assert_int_eq(nws_store_string(lt_ws, "l", "b", &err), 0);
    it = nws_ifind(lt_ws, "l", 0, &err);
    ck_assert_int_eq(nws_iter_next(it, &v, &err), 1);
    ck_assert_str_eq(nws_value_str(v), "b");
    nws_value_free(v);
    ck_assert_int_eq(nws_iter_next(it, &v, &err), -1);
    ck_assert_int_eq(err.status, 1);
    ck_assert_ptr_nonnull(strstr(err.text, "not supported on LIFO"));
    nws_iter_free(it);

    /* ifind on a single variable returns each new value once. */
    ck_assert_int_eq(nws_declare(lt_ws, "s", NWS_MODE_SINGLE, &err), 0);
    ck_assert_int_eq(nws_store_string(lt_ws, "s", "1", &err), 0);
    it = nws_ifind(lt_ws, "s", 0, &err);
    ck_assert_int_eq(nws_iter_next(it, &v, &err), 1);
    ck_assert_str_eq(nws_value_str(v), "1");
    nws_value_free(v);
    ck_assert_int_eq(nws_iter_next(it, &v, &err), 0);
    ck_assert_int_eq(nws_store_string(lt_ws, "s", "2", &err), 0);
    nws_iter_restart(it);
    ck_assert_int_eq(nws_iter_next(it, &v, &err), 1);
    ck_assert_str_eq(nws_value_str(v), "2");
    nws_value_free(v);
    nws_iter_free(it);
}
END_TEST

START_TEST(iter_blocking)
{
    nws_error  err;
    nws_value *v;
    nws_iter  *it;
    pid_t      pid;

    ck_assert_int_eq(nws_store_string(lt_ws, "w", "first", &err), 0);
    it = nws_ifind(lt_ws, "w", NWS_ITER_BLOCK, &err);
    ck_assert_int_eq(nws_iter_next(it, &v, &err), 1);
    ck_assert_str_eq(nws_value_str(v), "first");
    nws_value_free(v);
    pid = lt_store_when_blocked("w", 0, 1, "second");
    ck_assert_int_eq(nws_iter_next(it, &v, &err), 1);
    ck_assert_str_eq(nws_value_str(v), "second");
    ck_assert_int_eq(nws_iter_index(it), 1);
    nws_value_free(v);
    ck_assert_int_eq(lt_wait(pid), 0);
    nws_iter_free(it);
}
END_TEST

/* ---- listings ---- */

START_TEST(listings)
{
    nws_ws_list  *wl;
    nws_var_list *vl;
    nws_error     err;
    nws_value    *v;
    size_t        i;
    int           found = 0;

    vl = nws_list_vars(lt_ws, &err);
    ck_assert_ptr_nonnull(vl);
    ck_assert_uint_eq(vl->count, 0);
    ck_assert_uint_eq(vl->raw_len, 0);
    nws_var_list_free(vl);
    ck_assert_int_eq(nws_store_string(lt_ws, "b", "1", &err), 0);
    ck_assert_int_eq(nws_store_string(lt_ws, "b", "2", &err), 0);
    ck_assert_int_eq(nws_declare(lt_ws, "a", NWS_MODE_SINGLE, &err), 0);
    ck_assert_int_eq(nws_find_try(lt_ws, "c", &v, &err), 0); /* makes c (Q9) */
    vl = nws_list_vars(lt_ws, &err);
    ck_assert_uint_eq(vl->count, 3);
    ck_assert_str_eq(vl->items[0].name, "a");
    ck_assert_str_eq(vl->items[0].mode, "single");
    ck_assert_str_eq(vl->items[1].name, "b");
    ck_assert_uint_eq(vl->items[1].values, 2);
    ck_assert_str_eq(vl->items[1].mode, "fifo");
    ck_assert_str_eq(vl->items[2].mode, "unknown");
    ck_assert_str_eq(vl->raw, "a\t0\t0\t0\tsingle\nb\t2\t0\t0\tfifo\nc\t0\t0\t0\tunknown");
    nws_var_list_free(vl);

    wl = nws_list_wss(lt_c, NULL, &err);
    ck_assert_ptr_nonnull(wl);
    for (i = 0; i < wl->count; i++) {
        if (strcmp(wl->items[i].name, "t") == 0) {
            found = 1;
            ck_assert_uint_eq(wl->items[i].nvars, 3);
            ck_assert_uint_eq(wl->items[i].nvars_listed, 3);
            ck_assert_str_eq(wl->items[i].vars[2], "c");
        }
        if (i > 0)
            ck_assert(strcmp(wl->items[i - 1].name, wl->items[i].name) < 0);
    }
    ck_assert(found);
    ck_assert(wl->raw_len > 0 && wl->raw[wl->raw_len - 1] == '\n');
    nws_ws_list_free(wl);
    wl = nws_list_wss(lt_c, "nonesuch", &err);
    ck_assert_ptr_nonnull(wl);
    ck_assert_uint_eq(wl->count, 0);
    nws_ws_list_free(wl);
}
END_TEST

/* ---- metadata ---- */

START_TEST(metadata_round_trip)
{
    nws_error  err;
    nws_value *v;
    nws_meta  *m = nws_meta_new();

    v = nws_value_string("task", &err);
    ck_assert_int_eq(nws_meta_set(nws_value_meta(v), "batchId", "42", &err), 0);
    ck_assert_int_eq(nws_meta_set(nws_value_meta(v), "from", "value", &err), 0);
    ck_assert_int_eq(nws_meta_set(m, "from", "request", &err), 0);
    ck_assert_int_eq(nws_set_request_meta(lt_c, m, &err), 0);
    ck_assert_int_eq(nws_store_new(lt_ws, "x", v, &err), 0);
    ck_assert_uint_eq(nws_meta_size(nws_reply_meta(lt_c)), 0);
    v = nws_find(lt_ws, "x", &err);
    ck_assert_str_eq(nws_meta_get(nws_value_meta_get(v), "batchId"), "42");
    ck_assert_str_eq(nws_meta_get(nws_value_meta_get(v), "from"), "request");
    ck_assert_str_eq(nws_meta_get(nws_reply_meta(lt_c), "batchId"), "42");
    nws_value_free(v);
    /* A value stored without metadata comes back without. */
    ck_assert_int_eq(nws_store_string(lt_ws, "y", "bare", &err), 0);
    v = nws_fetch(lt_ws, "y", &err);
    ck_assert_uint_eq(nws_meta_size(nws_value_meta_get(v)), 0);
    nws_value_free(v);
    /* Errors carry nwsReason. */
    ck_assert_int_eq(nws_fetch_try(lt_ws, "y", &v, &err), 0);
    ck_assert_str_eq(nws_meta_get(nws_reply_meta(lt_c), "nwsReason"), "no value available");
    nws_meta_free(m);
}
END_TEST

/* ---- JSON ---- */

START_TEST(json_helpers)
{
    nws_error  err;
    json_t    *j, *got;
    nws_value *v;
    nws_meta  *m;
    char      *s;

    j = json_pack("{s:i, s:[s, f], s:n}", "n", 7, "list", "a", 1.5, "none");
    ck_assert_int_eq(nws_store_json(lt_ws, "j", j, &err), 0);
    ck_assert_int_eq(j->refcount, 1); /* borrowed */
    got = nws_find_json(lt_ws, "j", &err);
    ck_assert_msg(got != NULL, "%s", err.text);
    ck_assert(json_equal(j, got));
    json_decref(got);
    /* Stored as compact DIRECT_STRING text that any client reads. */
    s = nws_fetch_string(lt_ws, "j", &err);
    got = json_loads(s, 0, NULL);
    ck_assert(json_equal(j, got));
    ck_assert_ptr_null(strchr(s, ' '));
    json_decref(got);
    free(s);
    json_decref(j);

    ck_assert_int_eq(nws_store_json_new(lt_ws, "j", json_integer(5), &err), 0);
    ck_assert_int_eq(nws_store_json_new(lt_ws, "j", json_string("s"), &err), 0);
    ck_assert_int_eq(nws_store_json_new(lt_ws, "j", NULL, &err), -1);
    ck_assert_int_eq(err.code, NWS_ERR_INVALID);
    ck_assert_int_eq(nws_find_try_json(lt_ws, "j", &got, &err), 1);
    ck_assert_int_eq(json_integer_value(got), 5);
    json_decref(got);
    ck_assert_int_eq(nws_fetch_try_json(lt_ws, "j", &got, &err), 1);
    json_decref(got);
    got = nws_fetch_json(lt_ws, "j", &err);
    ck_assert_str_eq(json_string_value(got), "s");
    json_decref(got);
    ck_assert_int_eq(nws_fetch_try_json(lt_ws, "j", &got, &err), 0);
    ck_assert_ptr_null(got);

    /* Strings holding NUL survive the round trip (jansson escapes them). */
    ck_assert_int_eq(nws_store_json_new(lt_ws, "j", json_stringn("a\0b", 3), &err), 0);
    got = nws_fetch_json(lt_ws, "j", &err);
    ck_assert_msg(got != NULL, "%s", err.text);
    ck_assert_uint_eq(json_string_length(got), 3);
    ck_assert(memcmp(json_string_value(got), "a\0b", 3) == 0);
    json_decref(got);

    ck_assert_int_eq(nws_store_string(lt_ws, "j", "not json", &err), 0);
    ck_assert_int_eq(nws_get_json(lt_ws, "j", NWS_OP_FIND, &got, &err), -1);
    ck_assert_int_eq(err.code, NWS_ERR_TYPE);
    ck_assert_int_eq(nws_is_open(lt_c), 1);

    v = nws_value_from_json(json_true(), &err);
    ck_assert_str_eq(nws_value_str(v), "true");
    got = nws_value_json(v, &err);
    ck_assert(json_is_true(got));
    nws_value_free(v);

    j = json_pack("{s:s, s:i, s:b}", "wstype", "sleigh", "n", 3, "ok", 1);
    m = nws_meta_from_json(j, &err);
    ck_assert_ptr_nonnull(m);
    ck_assert_str_eq(nws_meta_get(m, "wstype"), "sleigh");
    ck_assert_str_eq(nws_meta_get(m, "n"), "3");
    ck_assert_str_eq(nws_meta_get(m, "ok"), "true");
    json_decref(j);
    j = nws_meta_to_json(m);
    ck_assert_str_eq(json_string_value(json_object_get(j, "n")), "3");
    json_decref(j);
    nws_meta_free(m);
    ck_assert_ptr_null(nws_meta_from_json(got, &err)); /* not an object */
    ck_assert_int_eq(err.code, NWS_ERR_TYPE);
}
END_TEST

/* ---- bulk ---- */

START_TEST(bulk_stores)
{
    nws_error  err;
    nws_bulk  *b = nws_bulk_new(lt_ws, &err);
    nws_value *v;
    char       val[16];
    int        i;

    for (i = 0; i < 2000; i++) {
        snprintf(val, sizeof(val), "%d", i);
        ck_assert_int_eq(nws_bulk_store_raw(b, "q", val, strlen(val), NWS_DESC_TEXT, &err),
                         0);
    }
    v = nws_value_string("tagged", &err);
    ck_assert_int_eq(nws_meta_set(nws_value_meta(v), "batchId", "9", &err), 0);
    ck_assert_int_eq(nws_bulk_store(b, "tag", v, &err), 0);
    nws_value_free(v);
    ck_assert_int_eq(nws_bulk_flush(b, &err), 0);
    ck_assert_int_eq(err.code, NWS_ERR_NONE);
    ck_assert_uint_eq(lt_values(lt_ws, "q"), 2000);
    for (i = 0; i < 2000; i++) {
        snprintf(val, sizeof(val), "%d", i);
        lt_expect(lt_ws, "q", NWS_OP_FETCH_TRY, val); /* in order */
    }
    v = nws_fetch(lt_ws, "tag", &err);
    ck_assert_str_eq(nws_meta_get(nws_value_meta_get(v), "batchId"), "9");
    nws_value_free(v);

    /* A refused store is counted; the others still happen. */
    ck_assert_int_eq(nws_declare(lt_ws, "clock", NWS_MODE_TIME, &err), 0);
    ck_assert_int_eq(nws_bulk_store_raw(b, "q", "a", 1, 1, &err), 0);
    ck_assert_int_eq(nws_bulk_store_raw(b, "clock", "x", 1, 1, &err), 0);
    ck_assert_int_eq(nws_bulk_store_raw(b, "q", "b", 1, 1, &err), 0);
    ck_assert_int_eq(nws_bulk_flush(b, &err), 1);
    ck_assert_int_eq(err.code, NWS_ERR_SERVER);
    ck_assert_uint_eq(lt_values(lt_ws, "q"), 2);
    ck_assert_int_eq(nws_bulk_flush(b, &err), 0); /* empty */
    nws_bulk_free(b);
}
END_TEST

START_TEST(bulk_large_batch)
{
    nws_error err;
    nws_bulk *b = nws_bulk_new(lt_ws, &err);
    char      val[1024];
    int       i;

    /* 40 MB of requests: far more than any socket buffer, so both sides must flow. */
    memset(val, 'z', sizeof(val));
    for (i = 0; i < 40000; i++)
        ck_assert_int_eq(nws_bulk_store_raw(b, "big", val, sizeof(val), NWS_DESC_BYTES, &err),
                         0);
    ck_assert_int_eq(nws_bulk_flush(b, &err), 0);
    ck_assert_uint_eq(lt_values(lt_ws, "big"), 40000);
    nws_bulk_free(b);
}
END_TEST

/* ---- streaming ---- */

#define LT_BIG ((uint64_t)100 << 20)

/* Fills buf with the bytes of the test stream from offset *state on. */
static void
lt_gen(uint64_t *state, unsigned char *buf, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        *state = *state * 6364136223846793005ULL + 1442695040888963407ULL;
        buf[i] = (unsigned char)(*state >> 56);
    }
}

/* FNV-1a over n bytes, continuing from h. */
static uint64_t
lt_fnv(uint64_t h, const unsigned char *p, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++)
        h = (h ^ p[i]) * 1099511628211ULL;
    return h;
}

/* Peak resident size of this process in KiB. */
static long
lt_maxrss(void)
{
    struct rusage ru;

    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss;
}

START_TEST(stream_100mb)
{
    unsigned char *buf = malloc(65536);
    uint64_t       st = 1, h_src = 14695981039346656037ULL, h_dst = h_src, len = 0, left;
    nws_error      err;
    uint32_t       desc = 0;
    char           path[] = "/tmp/nwstest.big.XXXXXX";
    long           rss0;
    ssize_t        n;
    pid_t          pid;
    int            p[2], fd;

    /* The generator runs in a child and writes into a pipe: no size is known up front. */
    ck_assert_int_eq(pipe(p), 0);
    pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        close(p[0]);
        for (left = LT_BIG; left > 0; left -= (uint64_t)n) {
            n = left > 65536 ? 65536 : (ssize_t)left;
            lt_gen(&st, buf, (size_t)n);
            if (lt_write_all(p[1], buf, (size_t)n) != 0)
                _exit(1);
        }
        _exit(0);
    }
    close(p[1]);
    rss0 = lt_maxrss();
    ck_assert_msg(nws_store_fd(lt_ws, "big", p[0], LT_BIG, NWS_DESC_BYTES, &err) == 0, "%s",
                  err.text);
    close(p[0]);
    ck_assert_int_eq(lt_wait(pid), 0);

    fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    unlink(path);
    ck_assert_msg(nws_fetch_fd(lt_ws, "big", NWS_OP_FETCH, fd, &desc, &len, &err) == 1, "%s",
                  err.text);
    ck_assert_uint_eq(len, LT_BIG);
    ck_assert_uint_eq(desc, NWS_DESC_BYTES);
    /* Neither direction held the value: the peak grew far less than 100 MB. */
    ck_assert_msg(lt_maxrss() - rss0 < 32 * 1024, "peak RSS grew by %ld KiB",
                  lt_maxrss() - rss0);

    st = 1;
    ck_assert_int_eq(lseek(fd, 0, SEEK_SET), 0);
    for (left = LT_BIG; left > 0; left -= (uint64_t)n) {
        n = read(fd, buf, 65536);
        ck_assert_int_gt(n, 0);
        h_dst = lt_fnv(h_dst, buf, (size_t)n);
        lt_gen(&st, buf, (size_t)n);
        h_src = lt_fnv(h_src, buf, (size_t)n);
    }
    ck_assert_int_eq(read(fd, buf, 1), 0);
    ck_assert(h_src == h_dst);
    close(fd);
    free(buf);
    ck_assert_int_eq(nws_fetch_fd(lt_ws, "big", NWS_OP_FETCH_TRY, 1, NULL, NULL, &err), 0);
}
END_TEST

START_TEST(stream_small_and_bad_fd)
{
    nws_error err;
    char      path[] = "/tmp/nwstest.small.XXXXXX", back[16];
    int       fd = mkstemp(path), ro;

    ck_assert_int_ge(fd, 0);
    unlink(path);
    ck_assert_int_eq(write(fd, "0123456789", 10), 10);
    ck_assert_int_eq(lseek(fd, 3, SEEK_SET), 3);
    ck_assert_int_eq(nws_store_fd(lt_ws, "s", fd, 7, NWS_DESC_TEXT, &err), 0);
    lt_expect(lt_ws, "s", NWS_OP_FIND, "3456789");
    ck_assert_int_eq(ftruncate(fd, 0), 0);
    ck_assert_int_eq(lseek(fd, 0, SEEK_SET), 0);
    ck_assert_int_eq(nws_fetch_fd(lt_ws, "s", NWS_OP_FIND_TRY, fd, NULL, NULL, &err), 1);
    ck_assert_int_eq(pread(fd, back, sizeof(back), 0), 7);
    ck_assert(memcmp(back, "3456789", 7) == 0);
    close(fd);

    /* A destination that cannot be written: the value is drained, the connection lives. */
    ro = open("/dev/null", O_RDONLY);
    ck_assert_int_eq(nws_fetch_fd(lt_ws, "s", NWS_OP_FETCH, ro, NULL, NULL, &err), -1);
    ck_assert_int_eq(err.code, NWS_ERR_IO);
    close(ro);
    ck_assert_int_eq(nws_is_open(lt_c), 1);
    ck_assert_int_eq(nws_store_string(lt_ws, "s", "after", &err), 0);
    lt_expect(lt_ws, "s", NWS_OP_FETCH, "after");
}
END_TEST

/* ---- failures ---- */

START_TEST(server_killed_mid_request)
{
    nws_error err;
    pid_t     pid, server = lt_srv.pid;

    pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        /* Wait for our fetch to block, then kill the server under it. */
        pid_t w = lt_store_when_blocked("q", 1, 0, NULL);
        int   st;

        waitpid(w, &st, 0);
        kill(server, SIGKILL);
        _exit(0);
    }
    ck_assert_ptr_null(nws_fetch(lt_ws, "q", &err));
    ck_assert_int_eq(err.code, NWS_ERR_CLOSED);
    ck_assert_int_eq(nws_is_open(lt_c), 0);
    ck_assert_int_eq(nws_store_string(lt_ws, "q", "x", &err), -1);
    ck_assert_int_eq(err.code, NWS_ERR_CLOSED);
    ck_assert_int_eq(lt_wait(pid), 0);
}
END_TEST

START_TEST(server_limits)
{
    nws_error err;
    char      big[2000], name[1100];

    memset(big, 'b', sizeof(big));
    ck_assert_int_eq(nws_store_bytes(lt_ws, "x", big, 1000, &err), 0);
    ck_assert_int_eq(nws_store_bytes(lt_ws, "x", big, sizeof(big), &err), -1);
    ck_assert_int_eq(err.code, NWS_ERR_SERVER);
    ck_assert_msg(strncmp(err.text, "Value too large", 15) == 0, "%s", err.text);

    if (nws_is_open(lt_c)) {
        memset(name, 'n', 1025);
        name[1025] = '\0';
        ck_assert_int_eq(nws_store_string(lt_ws, name, "v", &err), -1);
        ck_assert_int_eq(err.code, NWS_ERR_SERVER);
        ck_assert_int_eq(err.status, 1);
        ck_assert_str_eq(err.text, "Name too long (at most 1024 bytes).");
    }
}
END_TEST

START_TEST(name_too_long)
{
    nws_error err;
    char      name[1100];

    memset(name, 'n', 1025);
    name[1025] = '\0';
    ck_assert_int_eq(nws_store_string(lt_ws, name, "v", &err), -1);
    ck_assert_int_eq(err.code, NWS_ERR_SERVER);
    ck_assert_int_eq(err.status, 1);
    ck_assert_str_eq(err.text, "Name too long (at most 1024 bytes).");
    ck_assert_int_eq(nws_is_open(lt_c), 1);
    name[1024] = '\0';
    ck_assert_int_eq(nws_store_string(lt_ws, name, "v", &err), 0);
}
END_TEST

NWSTEST_SUITE(libnws)
{
    Suite *s = suite_create("libnws");
    TCase *tc;

    tc = tcase_create("connect");
    tcase_add_checked_fixture(tc, lt_setup, lt_teardown);
    tcase_add_test(tc, connect_env_defaults);
    tcase_add_test(tc, connect_no_metadata);
    tcase_add_test(tc, deadman_command);
    tcase_add_test(tc, deadman_option);
    suite_add_tcase(s, tc);

    tc = tcase_create("workspaces");
    tcase_add_checked_fixture(tc, lt_setup, lt_teardown);
    tcase_add_test(tc, open_use_ownership);
    tcase_add_test(tc, nocreate_mktemp_delete);
    suite_add_tcase(s, tc);

    tc = tcase_create("variables");
    tcase_add_checked_fixture(tc, lt_setup, lt_teardown);
    tcase_add_test(tc, store_fetch_find_try);
    tcase_add_test(tc, descriptors_and_empty_values);
    tcase_add_test(tc, modes);
    tcase_add_test(tc, time_mode);
    tcase_add_test(tc, barrier_mode);
    tcase_add_test(tc, delete_var);
    suite_add_tcase(s, tc);

    tc = tcase_create("blocking");
    tcase_add_checked_fixture(tc, lt_setup, lt_teardown);
    tcase_add_test(tc, blocking_fetch_two_connections);
    tcase_add_test(tc, blocking_find_two_connections);
    tcase_add_test(tc, blocked_fetch_purged);
    suite_add_tcase(s, tc);

    tc = tcase_create("iterators");
    tcase_add_checked_fixture(tc, lt_setup, lt_teardown);
    tcase_add_test(tc, ifind_walk_restart_reset);
    tcase_add_test(tc, ifetch_consumes);
    tcase_add_test(tc, iter_id_mismatch);
    tcase_add_test(tc, iter_lifo_and_single);
    tcase_add_test(tc, iter_blocking);
    suite_add_tcase(s, tc);

    tc = tcase_create("listings_meta_json");
    tcase_add_checked_fixture(tc, lt_setup, lt_teardown);
    tcase_add_test(tc, listings);
    tcase_add_test(tc, metadata_round_trip);
    tcase_add_test(tc, json_helpers);
    suite_add_tcase(s, tc);

    tc = tcase_create("bulk_stream");
    tcase_add_checked_fixture(tc, lt_setup, lt_teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, bulk_stores);
    tcase_add_test(tc, bulk_large_batch);
    tcase_add_test(tc, stream_100mb);
    tcase_add_test(tc, stream_small_and_bad_fd);
    suite_add_tcase(s, tc);

    tc = tcase_create("failures");
    tcase_add_checked_fixture(tc, lt_setup, lt_teardown);
    tcase_add_test(tc, server_killed_mid_request);
    tcase_add_test(tc, name_too_long);
    suite_add_tcase(s, tc);

    tc = tcase_create("server_limits");
    tcase_add_checked_fixture(tc, lt_setup_small, lt_teardown);
    tcase_add_test(tc, server_limits);
    suite_add_tcase(s, tc);
    return s;
}
