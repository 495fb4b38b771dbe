/*
 * check_libnws_fake.c -- libnws against a fake server: what a real server
 * never does (garbage, oversized lengths, dropped connections, old
 * handshakes) and the exact bytes libnws sends.
 *
 * Each test forks a tiny server that accepts one connection on a loopback
 * port and plays a script: tests/data/fake/<case>/script (the format is in
 * tests/data/fake/README.md).  The script checks what it receives and exits
 * non-zero on any surprise, so both sides of the conversation are tested;
 * the client side of each test is C, here.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "nws.h"
#include "nwstest.h"
#include "util.h"

struct fake {
    pid_t pid;
    int   port;
};

/* A received request: up to 16 arguments and the metadata dictionary's entries. */
struct fake_req {
    int    argc;
    char  *argv[16];
    size_t argl[16];
    int    nmeta;
    char   meta[8][2][64];
};

/* ---- scripts: parsed in the test process, played in the fake server ---- */

enum fake_verb {
    FV_HS,         /* hs plain|meta: a canned handshake (meta: requests carry a dict) */
    FV_RECV,       /* recv BYTES: read exactly these bytes */
    FV_REQUEST,    /* request: read one request, whatever it is */
    FV_EXPECT,     /* expect CMD [CHECK...]: read one request and check it */
    FV_SEND,       /* send BYTES */
    FV_SEND_FILE,  /* send-file FILE: its bytes (read when the script is loaded) */
    FV_WAIT_CLOSE, /* wait-close: until the client hangs up (5 s at most) */
    FV_DRAIN,      /* drain: read and drop everything until EOF */
    FV_REPEAT,     /* repeat N: the lines up to the matching end, N times */
    FV_END,
};

/* One check of an expect: argc=N, nmeta=N, argI=BYTES or metaI=KEY=VALUE. */
enum fake_check_kind { FC_ARGC, FC_NMETA, FC_ARG, FC_META };

#define FAKE_MAX_CHECKS    8
#define FAKE_MAX_DEPTH     4    /* repeats inside repeats */
#define FAKE_CLOSE_WAIT_MS 5000 /* wait-close: how long the client may take to hang up */

struct fake_check {
    enum fake_check_kind k;
    long                 n;   /* the number, or the argument or entry index */
    char                *val; /* FC_ARG, FC_META: the bytes */
    size_t               len;
};

struct fake_cmd {
    enum fake_verb    verb;
    int               line;
    char             *bytes; /* recv, send, send-file: the bytes; expect: the command */
    size_t            len;
    long              n; /* hs: 1 for meta; repeat: the count */
    int               nchecks;
    struct fake_check checks[FAKE_MAX_CHECKS];
};

struct fake_script {
    char            name[64];
    struct fake_cmd cmds[64];
    int             n;
};

/* The fake server's state, for its error messages. */
static const struct fake_script *fake_playing;
static int                       fake_line;

/* Child side: dies with code (3: the peer did not send what was expected;
 * 4: short read; 5: write failed; 6, 7: a request out of bounds). */
static void
fake_die(int code)
{
    fprintf(stderr, "fake server %s, script line %d: exit %d\n",
            fake_playing ? fake_playing->name : "?", fake_line, code);
    _exit(code);
}

/* Child side: reads exactly n bytes or dies. */
static void
fake_read(int fd, void *buf, size_t n)
{
    if (nwstest_read_exact(fd, buf, n) != 0)
        fake_die(4);
}

/* Child side: reads len bytes and dies unless they equal want. */
static void
fake_expect(int fd, const char *want, size_t len)
{
    char *got = malloc(len + 1);

    fake_read(fd, got, len);
    if (memcmp(got, want, len) != 0)
        fake_die(3);
    free(got);
}

/* Child side: writes s or dies. */
static void
fake_send(int fd, const char *s, size_t len)
{
    if (nwstest_write_all(fd, s, len) != 0)
        fake_die(5);
}

#define FAKE_SEND(fd, lit)   fake_send(fd, lit, sizeof(lit) - 1)
#define FAKE_EXPECT(fd, lit) fake_expect(fd, lit, sizeof(lit) - 1)

/* Child side: reads a decimal field of n digits. */
static unsigned long long
fake_num(int fd, size_t n)
{
    char buf[21];

    fake_read(fd, buf, n);
    buf[n] = '\0';
    return strtoull(buf, NULL, 10);
}

/* Child side: reads one request (with a metadata dictionary if meta). */
static void
fake_request(int fd, int meta, struct fake_req *r)
{
    unsigned long long n, i, k, v;

    memset(r, 0, sizeof(*r));
    if (meta) {
        n = fake_num(fd, 4);
        for (i = 0; i < n; i++) {
            k = fake_num(fd, 4);
            if (k >= 64 || i >= 8)
                fake_die(6);
            fake_read(fd, r->meta[i][0], k);
            v = fake_num(fd, 4);
            if (v >= 64)
                fake_die(6);
            fake_read(fd, r->meta[i][1], v);
        }
        r->nmeta = (int)n;
    }
    r->argc = (int)fake_num(fd, 4);
    if (r->argc < 1 || r->argc > 16)
        fake_die(7);
    for (i = 0; i < (unsigned long long)r->argc; i++) {
        r->argl[i] = fake_num(fd, 20);
        r->argv[i] = calloc(1, r->argl[i] + 1);
        fake_read(fd, r->argv[i], r->argl[i]);
    }
}

static void
fake_request_free(struct fake_req *r)
{
    int i;

    for (i = 0; i < r->argc; i++)
        free(r->argv[i]);
}

/* Child side: the handshake with an empty advertisement, so no metadata. */
static void
fake_hs_plain(int fd)
{
    FAKE_EXPECT(fd, "X000");
    FAKE_SEND(fd, "P0000000");
    FAKE_EXPECT(fd, "R0000000");
    FAKE_SEND(fd, "A000");
}

/* Child side: the handshake of section 2.9, metadata both ways. */
static void
fake_hs_meta(int fd)
{
    FAKE_EXPECT(fd, "X000");
    FAKE_SEND(fd, "P000"
                  "0004"
                  "0010NwsWebPort00044242"
                  "0018MetadataFromServer0000"
                  "0016MetadataToServer0000"
                  "0017KillServerOnClose0000");
    FAKE_EXPECT(fd, "R000"
                    "0002"
                    "0016MetadataToServer00011"
                    "0018MetadataFromServer00011");
    FAKE_SEND(fd, "A000");
}

/* Child side: dies unless request r passes expect command c's checks. */
static void
fake_check(const struct fake_cmd *c, const struct fake_req *r)
{
    const struct fake_check *k;
    const char              *want, *eq;
    char                     pid[32];
    size_t                   wlen;
    int                      i;

    if (strlen(r->argv[0]) != c->len || memcmp(r->argv[0], c->bytes, c->len) != 0)
        fake_die(3);
    for (i = 0; i < c->nchecks; i++) {
        k = &c->checks[i];
        want = k->val;
        wlen = k->len;
        if (want != NULL && strcmp(want, "{client-pid}") == 0) {
            snprintf(pid, sizeof(pid), "%ld", (long)getppid()); /* the test process */
            want = pid;
            wlen = strlen(pid);
        }
        switch (k->k) {
        case FC_ARGC:
            if (r->argc != k->n)
                fake_die(3);
            break;
        case FC_NMETA:
            if (r->nmeta != k->n)
                fake_die(3);
            break;
        case FC_ARG:
            if (k->n >= r->argc || r->argl[k->n] != wlen ||
                memcmp(r->argv[k->n], want, wlen) != 0)
                fake_die(3);
            break;
        case FC_META:
            eq = memchr(want, '=', wlen);
            if (k->n >= r->nmeta || eq == NULL ||
                strlen(r->meta[k->n][0]) != (size_t)(eq - want) ||
                memcmp(r->meta[k->n][0], want, (size_t)(eq - want)) != 0 ||
                strlen(r->meta[k->n][1]) != wlen - (size_t)(eq - want) - 1 ||
                memcmp(r->meta[k->n][1], eq + 1, wlen - (size_t)(eq - want) - 1) != 0)
                fake_die(3);
            break;
        }
    }
}

/* Child side: plays script s on connection fd. */
static void
fake_play(int fd, const struct fake_script *s)
{
    struct {
        int  at;
        long left;
    } stack[FAKE_MAX_DEPTH];
    const struct fake_cmd *c;
    struct fake_req        r;
    char                   buf[4096];
    int                    pc = 0, sp = 0, meta = 0;

    fake_playing = s;
    while (pc < s->n) {
        c = &s->cmds[pc++];
        fake_line = c->line;
        switch (c->verb) {
        case FV_HS:
            meta = (int)c->n;
            if (meta)
                fake_hs_meta(fd);
            else
                fake_hs_plain(fd);
            break;
        case FV_RECV:
            fake_expect(fd, c->bytes, c->len);
            break;
        case FV_REQUEST:
        case FV_EXPECT:
            fake_request(fd, meta, &r);
            if (c->verb == FV_EXPECT)
                fake_check(c, &r);
            fake_request_free(&r);
            break;
        case FV_SEND:
        case FV_SEND_FILE:
            fake_send(fd, c->bytes, c->len);
            break;
        case FV_WAIT_CLOSE:
            nwstest_peer_closed(fd, FAKE_CLOSE_WAIT_MS);
            break;
        case FV_DRAIN:
            while (read(fd, buf, sizeof(buf)) > 0)
                ;
            break;
        case FV_REPEAT:
            stack[sp].at = pc;
            stack[sp++].left = c->n;
            break;
        case FV_END:
            if (--stack[sp - 1].left > 0)
                pc = stack[sp - 1].at;
            else
                sp--;
            break;
        }
    }
}

/* Parent side: the directory of case name, under $NWS_SRC_DIR. */
static void
fake_case_dir(char *buf, size_t len, const char *name)
{
    const char *src = getenv("NWS_SRC_DIR");

    snprintf(buf, len, "%s/tests/data/fake/%s", src != NULL ? src : ".", name);
}

/* Parent side: the next token of *p (a run of non-blanks, with "quoted"
 * parts that may hold blanks), unquoted with C escapes (\xHH takes at most
 * two digits) into a new buffer; NULL at the end of the line, or with *why
 * set on an error. */
static char *
fake_token(const char **p, size_t *len, const char **why)
{
    const char *s = *p;
    char       *out, *o;
    int         q = 0, i, v;

    *why = NULL;
    while (*s == ' ' || *s == '\t')
        s++;
    if (*s == '\0') {
        *p = s;
        return NULL;
    }
    o = out = malloc(strlen(s) + 1);
    for (; *s != '\0' && (q || (*s != ' ' && *s != '\t')); s++) {
        if (*s == '"') {
            q = !q;
            continue;
        }
        if (!q || *s != '\\') {
            *o++ = *s;
            continue;
        }
        switch (*++s) {
        case 'n':
            *o++ = '\n';
            break;
        case 'r':
            *o++ = '\r';
            break;
        case 't':
            *o++ = '\t';
            break;
        case '\\':
            *o++ = '\\';
            break;
        case '"':
            *o++ = '"';
            break;
        case 'x':
            for (i = 0, v = 0; i < 2 && isxdigit((unsigned char)s[1]); i++, s++)
                v = v * 16 + (isdigit((unsigned char)s[1]) ? s[1] - '0'
                                                           : (s[1] | 0x20) - 'a' + 10);
            if (i == 0)
                *why = "\\x without a hex digit";
            *o++ = (char)v;
            break;
        default:
            if (*s < '0' || *s > '7') {
                *why = "unknown escape";
                break;
            }
            for (i = 0, v = 0; i < 3 && *s >= '0' && *s <= '7'; i++, s++)
                v = v * 8 + (*s - '0');
            s--;
            *o++ = (char)v;
        }
        if (*why != NULL)
            break;
    }
    if (q && *why == NULL)
        *why = "unterminated string";
    *p = s;
    *len = (size_t)(o - out);
    *o = '\0';
    if (*why != NULL) {
        free(out);
        return NULL;
    }
    return out;
}

/* Parent side: the rest of line p as one byte string (its tokens joined, as
 * C joins adjacent literals); NULL with *why set on an error. */
static char *
fake_bytes(const char *p, size_t *len, const char **why)
{
    char  *all = malloc(1), *t;
    size_t n = 0, tl;

    while ((t = fake_token(&p, &tl, why)) != NULL) {
        all = realloc(all, n + tl + 1);
        memcpy(all + n, t, tl);
        n += tl;
        free(t);
    }
    if (*why != NULL) {
        free(all);
        return NULL;
    }
    all[n] = '\0';
    *len = n;
    return all;
}

/* Parent side: the checks of an expect line (after its command). */
static const char *
fake_checks(const char *p, struct fake_cmd *c)
{
    struct fake_check *k;
    const char        *why;
    char              *t, *eq, *end;
    size_t             tl;

    while ((t = fake_token(&p, &tl, &why)) != NULL) {
        if (c->nchecks == FAKE_MAX_CHECKS) {
            free(t);
            return "too many checks";
        }
        k = &c->checks[c->nchecks++];
        if ((eq = memchr(t, '=', tl)) == NULL) {
            free(t);
            return "a check is NAME=VALUE";
        }
        *eq = '\0';
        if (strcmp(t, "argc") == 0 || strcmp(t, "nmeta") == 0) {
            k->k = t[0] == 'a' ? FC_ARGC : FC_NMETA;
            k->n = strtol(eq + 1, &end, 10);
            if (*end != '\0' || end == eq + 1) {
                free(t);
                return "argc= and nmeta= take a number";
            }
        } else if (strncmp(t, "arg", 3) == 0 || strncmp(t, "meta", 4) == 0) {
            k->k = t[0] == 'a' ? FC_ARG : FC_META;
            k->n = strtol(t + (t[0] == 'a' ? 3 : 4), &end, 10);
            if (*end != '\0' || k->n < 0 || k->n > 15) {
                free(t);
                return "argI= and metaI= take an index 0..15";
            }
            k->len = tl - (size_t)(eq + 1 - t);
            k->val = malloc(k->len + 1);
            memcpy(k->val, eq + 1, k->len + 1);
        } else {
            free(t);
            return "unknown check (argc=, nmeta=, argI=, metaI=)";
        }
        free(t);
    }
    return why;
}

/* Parent side: reads file name of the case's directory dir into c. */
static const char *
fake_load_file(const char *dir, const char *name, struct fake_cmd *c)
{
    char  path[1024];
    FILE *fp;
    long  n;

    if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, name) >= sizeof(path) ||
        (fp = fopen(path, "rb")) == NULL)
        return "cannot open the file";
    if (fseek(fp, 0, SEEK_END) != 0 || (n = ftell(fp)) < 0 ||
        fseek(fp, 0, SEEK_SET) != 0) {
        fclose(fp);
        return "cannot size the file";
    }
    c->bytes = malloc((size_t)n + 1);
    c->len = fread(c->bytes, 1, (size_t)n, fp);
    fclose(fp);
    return c->len == (size_t)n ? NULL : "short read of the file";
}

/* Parent side: one logical line (continuations joined) into s; NULL or why not. */
static const char *
fake_parse_line(struct fake_script *s, const char *dir, char *line, int lineno,
                int *depth)
{
    struct fake_cmd *c;
    const char      *p = line, *why = NULL;
    char            *verb, *arg, *end;
    size_t           vl, al;

    if ((verb = fake_token(&p, &vl, &why)) == NULL)
        return why;
    if ((size_t)s->n == sizeof(s->cmds) / sizeof(s->cmds[0])) {
        free(verb);
        return "too many lines";
    }
    c = &s->cmds[s->n++];
    memset(c, 0, sizeof(*c));
    c->line = lineno;
    if (strcmp(verb, "hs") == 0) {
        c->verb = FV_HS;
        arg = fake_token(&p, &al, &why);
        if (arg == NULL || (strcmp(arg, "plain") != 0 && strcmp(arg, "meta") != 0))
            why = "hs plain or hs meta";
        else
            c->n = strcmp(arg, "meta") == 0;
        free(arg);
    } else if (strcmp(verb, "recv") == 0 || strcmp(verb, "send") == 0) {
        c->verb = verb[0] == 'r' ? FV_RECV : FV_SEND;
        if ((c->bytes = fake_bytes(p, &c->len, &why)) != NULL && c->len == 0)
            why = "recv and send need bytes";
        p = "";
    } else if (strcmp(verb, "send-file") == 0) {
        c->verb = FV_SEND_FILE;
        if ((arg = fake_token(&p, &al, &why)) == NULL)
            why = "send-file FILE";
        else
            why = fake_load_file(dir, arg, c);
        free(arg);
    } else if (strcmp(verb, "expect") == 0) {
        c->verb = FV_EXPECT;
        if ((c->bytes = fake_token(&p, &c->len, &why)) == NULL)
            why = "expect COMMAND [CHECK...]";
        else
            why = fake_checks(p, c);
        p = "";
    } else if (strcmp(verb, "request") == 0) {
        c->verb = FV_REQUEST;
    } else if (strcmp(verb, "wait-close") == 0) {
        c->verb = FV_WAIT_CLOSE;
    } else if (strcmp(verb, "drain") == 0) {
        c->verb = FV_DRAIN;
    } else if (strcmp(verb, "repeat") == 0) {
        c->verb = FV_REPEAT;
        arg = fake_token(&p, &al, &why);
        c->n = arg != NULL ? strtol(arg, &end, 10) : 0;
        if (arg == NULL || *end != '\0' || c->n < 1)
            why = "repeat N (N >= 1)";
        else if (++*depth > FAKE_MAX_DEPTH)
            why = "repeats nested too deep";
        free(arg);
    } else if (strcmp(verb, "end") == 0) {
        c->verb = FV_END;
        if (--*depth < 0)
            why = "end without repeat";
    } else {
        why = "unknown verb";
    }
    free(verb);
    if (why == NULL && fake_token(&p, &al, &why) != NULL)
        why = "extra words at the end of the line";
    return why;
}

/* Parent side: loads tests/data/fake/<name>/script; fails the test on any
 * error in it.  Lines starting with a blank continue the line before (for
 * byte strings written over several lines); # starts a comment line. */
static void
fake_load(struct fake_script *s, const char *name)
{
    char        dir[1024], path[1100], raw[1024], *line = NULL;
    size_t      len = 0;
    FILE       *fp;
    int         lineno = 0, first = 0, depth = 0;
    const char *why = NULL;

    memset(s, 0, sizeof(*s));
    snprintf(s->name, sizeof(s->name), "%s", name);
    fake_case_dir(dir, sizeof(dir), name);
    snprintf(path, sizeof(path), "%s/script", dir);
    fp = fopen(path, "r");
    ck_assert_msg(fp != NULL, "%s: %s (NWS_SRC_DIR unset?)", path, strerror(errno));
    for (;;) {
        int eof = fgets(raw, sizeof(raw), fp) == NULL;

        if (!eof) {
            lineno++;
            raw[strcspn(raw, "\n")] = '\0';
            if (raw[0] == '#')
                continue;
            if ((raw[0] == ' ' || raw[0] == '\t') && line != NULL) {
                line = realloc(line, len + strlen(raw) + 2);
                len += (size_t)sprintf(line + len, " %s", raw);
                continue;
            }
        }
        if (line != NULL) {
            why = fake_parse_line(s, dir, line, first, &depth);
            free(line);
            line = NULL;
            ck_assert_msg(why == NULL, "%s:%d: %s", path, first, why);
        }
        if (eof)
            break;
        line = strdup(raw);
        len = strlen(raw);
        first = lineno;
    }
    fclose(fp);
    ck_assert_msg(depth == 0, "%s: repeat without end", path);
    ck_assert_msg(s->n > 0, "%s: empty script", path);
}

/* Starts a fake server playing the script of case name on its first
 * connection; 0, or -1. */
static int
fake_start(struct fake *f, const char *name)
{
    static struct fake_script script; /* the child's copy is its own */
    struct sockaddr_in        sin;
    socklen_t                 sl = sizeof(sin);
    int                       lfd, fd, one = 1;

    fake_load(&script, name);
    if ((lfd = socket(AF_INET, SOCK_STREAM, 0)) < 0)
        return -1;
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(lfd, (struct sockaddr *)&sin, sizeof(sin)) != 0 || listen(lfd, 4) != 0 ||
        getsockname(lfd, (struct sockaddr *)&sin, &sl) != 0) {
        close(lfd);
        return -1;
    }
    f->port = ntohs(sin.sin_port);
    if ((f->pid = fork()) < 0)
        return -1;
    if (f->pid == 0) {
        alarm(20); /* never outlive a broken test */
        if ((fd = accept(lfd, NULL, NULL)) < 0)
            _exit(8);
        close(lfd);
        fake_play(fd, &script);
        close(fd);
        _exit(0);
    }
    close(lfd);
    return 0;
}

/* Waits for the fake server; its exit status (0: it saw what it expected). */
static int
fake_wait(struct fake *f)
{
    int st;

    if (waitpid(f->pid, &st, 0) != f->pid)
        return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* Connects to the fake server; fails the test if that does not work. */
static nws_client *
fake_connect(struct fake *f)
{
    nws_error   err;
    nws_client *c = nws_connect("127.0.0.1", f->port, 0, &err);

    ck_assert_msg(c != NULL, "connect: %s", err.text);
    return c;
}

/* ---- connecting ---- */

START_TEST(refused)
{
    struct sockaddr_in sin;
    socklen_t          sl = sizeof(sin);
    nws_error          err;
    int                fd = socket(AF_INET, SOCK_STREAM, 0);

    /* A port that was just bound and released: nobody listens there. */
    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
    ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sin, &sl), 0);
    close(fd);
    ck_assert_ptr_null(nws_connect("127.0.0.1", ntohs(sin.sin_port), 0, &err));
    ck_assert_int_eq(err.code, NWS_ERR_CONNECT);
    ck_assert_int_eq(err.status, 0);
    ck_assert(strstr(err.text, "refused") != NULL);
    /* A NULL error pointer is allowed everywhere. */
    ck_assert_ptr_null(nws_connect("127.0.0.1", ntohs(sin.sin_port), 0, NULL));
}
END_TEST

START_TEST(bad_port_env)
{
    nws_error err;

    setenv("NWS_PORT", "http", 1);
    ck_assert_ptr_null(nws_connect(NULL, 0, 0, &err));
    ck_assert_int_eq(err.code, NWS_ERR_INVALID);
    unsetenv("NWS_PORT");
    ck_assert_ptr_null(nws_connect("127.0.0.1", 70000, 0, &err));
    ck_assert_int_eq(err.code, NWS_ERR_INVALID);
}
END_TEST

START_TEST(not_nws)
{
    struct fake f;
    nws_error   err;

    ck_assert_int_eq(fake_start(&f, "not_nws"), 0);
    ck_assert_ptr_null(nws_connect("127.0.0.1", f.port, 0, &err));
    ck_assert_int_eq(err.code, NWS_ERR_HANDSHAKE);
    ck_assert_int_eq(fake_wait(&f), 0);
}
END_TEST

START_TEST(denied)
{
    struct fake f;
    nws_error   err;

    ck_assert_int_eq(fake_start(&f, "denied"), 0);
    ck_assert_ptr_null(nws_connect("127.0.0.1", f.port, 0, &err));
    ck_assert_int_eq(err.code, NWS_ERR_HANDSHAKE);
    ck_assert(strstr(err.text, "refused") != NULL);
    ck_assert_int_eq(fake_wait(&f), 0);
}
END_TEST

START_TEST(bad_advert)
{
    struct fake f;
    nws_error   err;

    ck_assert_int_eq(fake_start(&f, "bad_advert"), 0);
    ck_assert_ptr_null(nws_connect("127.0.0.1", f.port, 0, &err));
    ck_assert_int_eq(err.code, NWS_ERR_HANDSHAKE);
    ck_assert_int_eq(fake_wait(&f), 0);
}
END_TEST

/* Parent side: a handle on workspace "w" (scripts answer its `use ws` with 0000). */
static nws_ws *
fake_ws(nws_client *c)
{
    nws_error err;
    nws_ws   *ws = nws_ws_use(c, "w", 0, &err);

    ck_assert_msg(ws != NULL, "use ws: %s", err.text);
    return ws;
}

START_TEST(old_server_2223)
{
    struct fake f;
    nws_client *c;
    nws_ws     *ws;
    nws_value  *v;
    nws_iter   *it;
    nws_error   err;

    ck_assert_int_eq(fake_start(&f, "old_server_2223"), 0);
    c = fake_connect(&f);
    ck_assert_int_eq(nws_has_meta_to_server(c), 0);
    ck_assert_int_eq(nws_has_meta_from_server(c), 0);
    ck_assert_int_eq(nws_has_cookie(c), 1);
    ws = fake_ws(c);
    ck_assert_int_eq(nws_fetch_try(ws, "x", &v, &err), 1);
    ck_assert_str_eq(nws_value_str(v), "hi");
    nws_value_free(v);
    /* Without metadata a status-1 "no value" reply ends the iterator. */
    it = nws_ifind(ws, "x", 0, &err);
    ck_assert_ptr_nonnull(it);
    ck_assert_int_eq(nws_iter_next(it, &v, &err), 0);
    ck_assert_int_eq(nws_iter_ended(it), 1);
    ck_assert_int_eq(nws_iter_next(it, &v, &err), 0); /* no request: the fake has none left */
    nws_iter_free(it);
    nws_ws_free(ws);
    nws_close(c);
    ck_assert_int_eq(fake_wait(&f), 0);
}
END_TEST

START_TEST(old_server_2222)
{
    struct fake f;
    nws_client *c;
    nws_ws     *ws;
    nws_value  *v;
    nws_error   err;

    ck_assert_int_eq(fake_start(&f, "old_server_2222"), 0);
    c = fake_connect(&f);
    ck_assert_int_eq(nws_has_cookie(c), 0);
    ws = fake_ws(c);
    v = nws_find(ws, "x", &err);
    ck_assert_ptr_nonnull(v);
    ck_assert_uint_eq(nws_value_size(v), 3);
    ck_assert_uint_eq(nws_value_desc(v), NWS_DESC_BYTES);
    ck_assert(memcmp(nws_value_data(v), "a\0b", 3) == 0);
    ck_assert_ptr_null(nws_value_str(v)); /* holds a NUL */
    nws_value_free(v);
    ck_assert_ptr_null(nws_ifind(ws, "x", 0, &err));
    ck_assert_int_eq(err.code, NWS_ERR_UNSUPPORTED);
    nws_ws_free(ws);
    nws_close(c);
    ck_assert_int_eq(fake_wait(&f), 0);
}
END_TEST

/* ---- exact request bytes ---- */

START_TEST(exact_bytes)
{
    struct fake f;
    nws_client *c;
    nws_ws     *ws;
    nws_error   err;

    ck_assert_int_eq(fake_start(&f, "exact_bytes"), 0);
    c = fake_connect(&f);
    ws = nws_ws_use(c, "foo", 0, &err);
    ck_assert_ptr_nonnull(ws);
    ck_assert_int_eq(nws_store_string(ws, "x", "hello", &err), 0);
    ck_assert_int_eq(err.code, NWS_ERR_NONE);
    ck_assert_ptr_null(nws_ws_open(c, "bar", NWS_WS_NOCREATE | NWS_WS_PERSISTENT, &err));
    ck_assert_int_eq(err.code, NWS_ERR_SERVER);
    ck_assert_int_eq(err.status, NWS_STATUS_NO_WS);
    ck_assert_int_eq(nws_is_open(c), 1);
    nws_ws_free(ws);
    nws_close(c);
    ck_assert_int_eq(fake_wait(&f), 0);
}
END_TEST

START_TEST(metadata_both_ways)
{
    struct fake f;
    nws_client *c;
    nws_ws     *ws, *tmp;
    nws_value  *v;
    nws_meta   *m;
    nws_error   err;

    ck_assert_int_eq(fake_start(&f, "metadata_both_ways"), 0);
    c = fake_connect(&f);
    ck_assert_int_eq(nws_has_meta_to_server(c), 1);
    ck_assert_int_eq(nws_has_meta_from_server(c), 1);
    ck_assert_int_eq(nws_web_port(c), 4242);
    ws = nws_ws_use(c, "foo", 0, &err);
    ck_assert_ptr_nonnull(ws);

    v = nws_value_string("x", &err);
    ck_assert_int_eq(nws_meta_set(nws_value_meta(v), "k", "v1", &err), 0);
    m = nws_meta_new();
    ck_assert_int_eq(nws_meta_set(m, "k", "v2", &err), 0);
    ck_assert_int_eq(nws_meta_set(m, "batchId", "7", &err), 0);
    ck_assert_int_eq(nws_set_request_meta(c, m, &err), 0);
    nws_meta_free(m);
    ck_assert_int_eq(nws_store(ws, "x", v, &err), -1);
    ck_assert_int_eq(err.code, NWS_ERR_SERVER);
    ck_assert_int_eq(err.status, 1);
    ck_assert_str_eq(err.text, "Store refused.");
    ck_assert_int_eq(nws_is_open(c), 1);
    nws_value_free(v);

    ck_assert_int_eq(nws_fetch_try(ws, "x", &v, &err), 1);
    ck_assert_str_eq(nws_value_str(v), "hi");
    ck_assert_str_eq(nws_meta_get(nws_value_meta_get(v), "k"), "m");
    ck_assert_str_eq(nws_meta_get(nws_reply_meta(c), "k"), "m");
    nws_value_free(v);

    ck_assert_int_eq(nws_find_try(ws, "x", &v, &err), 0);
    ck_assert_ptr_null(v);
    ck_assert_int_eq(err.code, NWS_ERR_NONE);
    ck_assert_int_eq(nws_find_try(ws, "x", &v, &err), -1);
    ck_assert_int_eq(err.code, NWS_ERR_SERVER);
    ck_assert_str_eq(err.text, "Variable id mismatch.");

    m = nws_meta_new();
    ck_assert_int_eq(nws_meta_set(m, "wstype", "sleigh", &err), 0);
    ck_assert_int_eq(nws_set_request_meta(c, m, &err), 0);
    nws_meta_free(m);
    tmp = nws_ws_mktemp(c, "t%d", NWS_WS_OWN, &err);
    ck_assert_msg(tmp != NULL, "%s", err.text);
    ck_assert_str_eq(nws_ws_name(tmp), "t7__nwssab");
    ck_assert_ptr_eq(nws_ws_client(tmp), c);
    nws_ws_free(tmp);
    nws_ws_free(ws);
    nws_close(c);
    ck_assert_int_eq(fake_wait(&f), 0);
}
END_TEST

/* nws_server_info on a server without it: NWS_ERR_UNSUPPORTED, no hang,
 * and the connection goes on. */
START_TEST(server_info_on_a_classic_server)
{
    struct fake f;
    nws_client *c;
    nws_error   err;

    ck_assert_int_eq(fake_start(&f, "server_info_on_a_classic_server"), 0);
    c = fake_connect(&f);
    ck_assert_ptr_null(nws_server_info(c, &err));
    ck_assert_int_eq(err.code, NWS_ERR_UNSUPPORTED);
    ck_assert_int_eq(nws_is_open(c), 1);
    ck_assert_int_eq(nws_ws_delete(c, "w", &err), 0);
    nws_close(c);
    ck_assert_int_eq(fake_wait(&f), 0);
}
END_TEST

START_TEST(meta_limits)
{
    nws_meta *m = nws_meta_new();
    nws_meta *copy;
    nws_error err;
    char     *big = malloc(10001);

    memset(big, 'a', 10000);
    big[10000] = '\0';
    ck_assert_int_eq(nws_meta_set(m, "k", big, &err), -1);
    ck_assert_int_eq(err.code, NWS_ERR_TOO_LARGE);
    big[9999] = '\0';
    ck_assert_int_eq(nws_meta_set(m, "k", big, &err), 0);
    ck_assert_int_eq(nws_meta_set(m, "j", "1", &err), 0);
    ck_assert_int_eq(nws_meta_set(m, "k", "2", &err), 0); /* replaces, keeps its place */
    ck_assert_uint_eq(nws_meta_size(m), 2);
    ck_assert_str_eq(nws_meta_key(m, 0), "k");
    ck_assert_str_eq(nws_meta_value(m, 0), "2");
    ck_assert_ptr_null(nws_meta_key(m, 2));
    copy = nws_meta_copy(m);
    ck_assert_int_eq(nws_meta_remove(m, "k"), 1);
    ck_assert_int_eq(nws_meta_remove(m, "k"), 0);
    ck_assert_ptr_null(nws_meta_get(m, "k"));
    ck_assert_str_eq(nws_meta_get(copy, "k"), "2");
    ck_assert_int_eq(nws_meta_set(NULL, "k", "v", &err), -1);
    ck_assert_int_eq(err.code, NWS_ERR_INVALID);
    nws_meta_free(m);
    nws_meta_free(copy);
    nws_meta_free(NULL);
    free(big);
}
END_TEST

/* ---- broken replies ---- */

START_TEST(garbage_reply)
{
    struct fake f;
    nws_client *c;
    nws_error   err;

    ck_assert_int_eq(fake_start(&f, "garbage_reply"), 0);
    c = fake_connect(&f);
    ck_assert_ptr_null(nws_ws_use(c, "w", 0, &err));
    ck_assert_int_eq(err.code, NWS_ERR_PROTOCOL);
    ck_assert_int_eq(nws_is_open(c), 0);
    ck_assert_int_eq(nws_ws_delete(c, "w", &err), -1);
    ck_assert_int_eq(err.code, NWS_ERR_CLOSED);
    nws_close(c);
    ck_assert_int_eq(fake_wait(&f), 0);
}
END_TEST

START_TEST(oversized_length)
{
    struct fake f;
    nws_client *c;
    nws_ws     *ws;
    nws_value  *v;
    nws_error   err;

    ck_assert_int_eq(fake_start(&f, "oversized_length"), 0);
    c = fake_connect(&f);
    ws = fake_ws(c);
    ck_assert_int_eq(nws_fetch_try(ws, "x", &v, &err), -1);
    ck_assert_int_eq(err.code, NWS_ERR_TOO_LARGE);
    ck_assert_ptr_null(v);
    ck_assert_int_eq(nws_is_open(c), 0);
    nws_ws_free(ws);
    nws_close(c);
    ck_assert_int_eq(fake_wait(&f), 0);
}
END_TEST

START_TEST(unparsable_length)
{
    struct fake f;
    nws_client *c;
    nws_ws     *ws;
    nws_value  *v;
    nws_error   err;

    ck_assert_int_eq(fake_start(&f, "unparsable_length"), 0);
    c = fake_connect(&f);
    ws = fake_ws(c);
    ck_assert_int_eq(nws_find_try(ws, "x", &v, &err), -1);
    ck_assert_int_eq(err.code, NWS_ERR_PROTOCOL);
    ck_assert_int_eq(nws_is_open(c), 0);
    nws_ws_free(ws);
    nws_close(c);
    ck_assert_int_eq(fake_wait(&f), 0);
}
END_TEST

START_TEST(over_value_limit)
{
    struct fake f;
    nws_client *c;
    nws_ws     *ws;
    nws_error   err;

    ck_assert_int_eq(fake_start(&f, "over_value_limit"), 0);
    c = fake_connect(&f);
    nws_set_max_value_size(c, 1000);
    ws = fake_ws(c);
    ck_assert_ptr_null(nws_fetch(ws, "x", &err));
    ck_assert_int_eq(err.code, NWS_ERR_TOO_LARGE);
    nws_ws_free(ws);
    nws_close(c);
    ck_assert_int_eq(fake_wait(&f), 0);
}
END_TEST

START_TEST(dropped_mid_reply)
{
    struct fake f;
    nws_client *c;
    nws_ws     *ws;
    nws_error   err;

    ck_assert_int_eq(fake_start(&f, "dropped_mid_reply"), 0);
    c = fake_connect(&f);
    ws = fake_ws(c);
    ck_assert_ptr_null(nws_fetch(ws, "x", &err));
    ck_assert_int_eq(err.code, NWS_ERR_CLOSED);
    ck_assert_int_eq(nws_is_open(c), 0);
    nws_ws_free(ws);
    nws_close(c);
    ck_assert_int_eq(fake_wait(&f), 0);
}
END_TEST

START_TEST(bad_reply_dict)
{
    struct fake f;
    nws_client *c;
    nws_error   err;

    ck_assert_int_eq(fake_start(&f, "bad_reply_dict"), 0);
    c = fake_connect(&f);
    ck_assert_int_eq(nws_ws_delete(c, "w", &err), -1);
    ck_assert_int_eq(err.code, NWS_ERR_PROTOCOL);
    nws_close(c);
    ck_assert_int_eq(fake_wait(&f), 0);
}
END_TEST

START_TEST(status_with_value)
{
    struct fake f;
    nws_client *c;
    nws_ws     *ws;
    nws_value  *v;
    nws_error   err;

    ck_assert_int_eq(fake_start(&f, "status_with_value"), 0);
    c = fake_connect(&f);
    ws = fake_ws(c);
    ck_assert_int_eq(nws_find_try(ws, "x", &v, &err), -1);
    ck_assert_int_eq(err.code, NWS_ERR_SERVER);
    ck_assert_int_eq(err.status, 2000);
    ck_assert_int_eq(nws_is_open(c), 1); /* the value was read: still in step */
    /* Status 0 with descriptor 0 and length 0 is "no value" (section 8.5). */
    ck_assert_ptr_null(nws_fetch(ws, "x", &err));
    ck_assert_int_eq(err.code, NWS_ERR_NO_VALUE);
    ck_assert_int_eq(nws_declare(ws, "x", NWS_MODE_FIFO, &err), 0);
    nws_ws_free(ws);
    nws_close(c);
    ck_assert_int_eq(fake_wait(&f), 0);
}
END_TEST

START_TEST(timeout)
{
    struct fake f;
    nws_client *c;
    nws_ws     *ws;
    nws_error   err;
    double      secs;

    ck_assert_int_eq(fake_start(&f, "timeout"), 0);
    c = fake_connect(&f);
    ws = fake_ws(c);
    ck_assert_int_eq(nws_set_timeout(c, 200, &err), 0);
    secs = nwsp_mono();
    ck_assert_ptr_null(nws_fetch(ws, "x", &err));
    secs = nwsp_mono() - secs;
    ck_assert_int_eq(err.code, NWS_ERR_TIMEOUT);
    ck_assert_msg(secs > 0.15 && secs < 3, "timed out after %.2f s", secs);
    ck_assert_int_eq(nws_is_open(c), 0);
    nws_ws_free(ws);
    nws_close(c);
    ck_assert_int_eq(fake_wait(&f), 0);
}
END_TEST

/* The stores of bulk_one_round_trip/script (its repeat counts add up to it). */
#define FAKE_BULK_N 500

START_TEST(bulk_one_round_trip)
{
    struct fake f;
    nws_client *c;
    nws_ws     *ws;
    nws_bulk   *b;
    nws_error   err;
    char        val[32];
    int         i;

    ck_assert_int_eq(fake_start(&f, "bulk_one_round_trip"), 0);
    c = fake_connect(&f);
    ws = fake_ws(c);
    b = nws_bulk_new(ws, &err);
    ck_assert_ptr_nonnull(b);
    for (i = 0; i < FAKE_BULK_N; i++) {
        snprintf(val, sizeof(val), "%d", i);
        ck_assert_int_eq(nws_bulk_store_raw(b, i % 2 ? "odd" : "even", val, strlen(val),
                                            NWS_DESC_TEXT, &err),
                         0);
    }
    ck_assert_int_eq(nws_bulk_store_raw(b, "x", NULL, 0, 0, &err), -1);
    ck_assert_int_eq(err.code, NWS_ERR_INVALID);
    ck_assert_uint_eq(nws_bulk_count(b), FAKE_BULK_N);
    ck_assert_int_eq(nws_bulk_flush(b, &err), 1);
    ck_assert_int_eq(err.code, NWS_ERR_SERVER);
    ck_assert_uint_eq(nws_bulk_count(b), 0);
    ck_assert_int_eq(nws_is_open(c), 1);
    nws_bulk_free(b);
    nws_ws_free(ws);
    nws_close(c);
    ck_assert_int_eq(fake_wait(&f), 0);
}
END_TEST

START_TEST(store_fd_short_source)
{
    struct fake f;
    nws_client *c;
    nws_ws     *ws;
    nws_error   err;
    int         p[2];

    ck_assert_int_eq(fake_start(&f, "store_fd_short_source"), 0);
    c = fake_connect(&f);
    ws = fake_ws(c);
    ck_assert_int_eq(pipe(p), 0);
    ck_assert_int_eq(write(p[1], "0123456789", 10), 10);
    close(p[1]);
    ck_assert_int_eq(nws_store_fd(ws, "x", p[0], 100, NWS_DESC_BYTES, &err), -1);
    ck_assert_int_eq(err.code, NWS_ERR_IO);
    ck_assert(strstr(err.text, "10 of 100") != NULL);
    ck_assert_int_eq(nws_is_open(c), 0);
    close(p[0]);
    nws_ws_free(ws);
    nws_close(c);
    ck_assert_int_eq(fake_wait(&f), 0);
}
END_TEST

START_TEST(invalid_arguments)
{
    nws_error  err;
    nws_value *v;

    ck_assert_int_eq(nws_store_string(NULL, "x", "y", &err), -1);
    ck_assert_int_eq(err.code, NWS_ERR_INVALID);
    ck_assert_int_eq(nws_fetch_try(NULL, "x", &v, &err), -1);
    ck_assert_int_eq(err.code, NWS_ERR_INVALID);
    ck_assert_ptr_null(nws_ws_use(NULL, "x", 0, &err));
    ck_assert_int_eq(err.code, NWS_ERR_INVALID);
    ck_assert_ptr_null(nws_value_new(NULL, 3, 1, &err));
    ck_assert_int_eq(err.code, NWS_ERR_INVALID);
    ck_assert_str_eq(nws_errcode_str(NWS_ERR_TOO_LARGE), "too large");
    ck_assert_str_eq(nws_errcode_str(12345), "unknown error");
    /* Every free function takes NULL. */
    nws_close(NULL);
    nws_ws_free(NULL);
    nws_value_free(NULL);
    nws_iter_free(NULL);
    nws_bulk_free(NULL);
    nws_ws_list_free(NULL);
    nws_var_list_free(NULL);
}
END_TEST

START_TEST(values)
{
    nws_error  err;
    nws_value *v = nws_value_bytes("a\0b", 3, &err);

    ck_assert_uint_eq(nws_value_desc(v), 3);
    ck_assert_uint_eq(nws_value_size(v), 3);
    ck_assert_ptr_null(nws_value_str(v));
    ck_assert_uint_eq(nws_meta_size(nws_value_meta_get(v)), 0);
    nws_value_free(v);
    v = nws_value_new("pickle", 6, 0x01000000, &err);
    ck_assert_ptr_null(nws_value_str(v)); /* not DIRECT_STRING */
    ck_assert_uint_eq(NWS_DESC_LANG(nws_value_desc(v)), 1);
    nws_value_free(v);
    v = nws_value_string("", &err);
    ck_assert_str_eq(nws_value_str(v), "");
    ck_assert_uint_eq(nws_value_desc(v), NWS_DESC_TEXT);
    nws_value_free(v);
}
END_TEST

START_TEST(listing_parsers)
{
    static const char wss[] = " __default\t[system]\tTrue\t0\t\n"
                              ">foo\tIPv4Address(TCP, '127.0.0.1', 40001) (123)\tFalse\t2\tnope,x\n";
    static const char vars[] = "nope\t0\t0\t0\tunknown\nq\t0\t2\t1\tunknown\nx\t1\t0\t0\tfifo";
    nws_ws_list      *wl;
    nws_var_list     *vl;
    nws_error         err;

    wl = nws_ws_list_parse(wss, sizeof(wss) - 1, &err);
    ck_assert_ptr_nonnull(wl);
    ck_assert_uint_eq(wl->count, 2);
    ck_assert_str_eq(wl->items[0].name, "__default");
    ck_assert_str_eq(wl->items[0].owner, "[system]");
    ck_assert_int_eq(wl->items[0].persistent, 1);
    ck_assert_int_eq(wl->items[0].mine, 0);
    ck_assert_uint_eq(wl->items[0].nvars_listed, 0);
    ck_assert_int_eq(wl->items[1].mine, 1);
    ck_assert_int_eq(wl->items[1].persistent, 0);
    ck_assert_uint_eq(wl->items[1].nvars, 2);
    ck_assert_uint_eq(wl->items[1].nvars_listed, 2);
    ck_assert_str_eq(wl->items[1].vars[1], "x");
    ck_assert_str_eq(wl->raw, wss);
    nws_ws_list_free(wl);

    wl = nws_ws_list_parse("\n", 1, &err); /* an unknown name */
    ck_assert_uint_eq(wl->count, 0);
    nws_ws_list_free(wl);
    ck_assert_ptr_null(nws_ws_list_parse("?foo\t\tTrue\t0\t\n", 15, &err));
    ck_assert_int_eq(err.code, NWS_ERR_PROTOCOL);
    ck_assert_ptr_null(nws_ws_list_parse(" foo\t\tyes\t0\t\n", 14, &err));
    ck_assert_ptr_null(nws_ws_list_parse(" foo\t\tTrue\tx\t\n", 14, &err));

    vl = nws_var_list_parse(vars, sizeof(vars) - 1, &err);
    ck_assert_ptr_nonnull(vl);
    ck_assert_uint_eq(vl->count, 3);
    ck_assert_str_eq(vl->items[1].name, "q");
    ck_assert_uint_eq(vl->items[1].fetchers, 2);
    ck_assert_uint_eq(vl->items[1].finders, 1);
    ck_assert_str_eq(vl->items[2].mode, "fifo");
    ck_assert_uint_eq(vl->items[2].values, 1);
    nws_var_list_free(vl);
    vl = nws_var_list_parse("", 0, &err);
    ck_assert_uint_eq(vl->count, 0);
    nws_var_list_free(vl);
    ck_assert_ptr_null(nws_var_list_parse("x\t1\t0\tfifo", 10, &err));
    ck_assert_int_eq(err.code, NWS_ERR_PROTOCOL);
}
END_TEST

NWSTEST_SUITE(libnws_fake)
{
    Suite *s = suite_create("libnws_fake");
    TCase *tc = tcase_create("connect");

    tcase_add_test(tc, refused);
    tcase_add_test(tc, bad_port_env);
    tcase_add_test(tc, not_nws);
    tcase_add_test(tc, denied);
    tcase_add_test(tc, bad_advert);
    tcase_add_test(tc, old_server_2223);
    tcase_add_test(tc, old_server_2222);
    suite_add_tcase(s, tc);

    tc = tcase_create("wire");
    tcase_add_test(tc, exact_bytes);
    tcase_add_test(tc, metadata_both_ways);
    tcase_add_test(tc, server_info_on_a_classic_server);
    tcase_add_test(tc, bulk_one_round_trip);
    suite_add_tcase(s, tc);

    tc = tcase_create("broken");
    tcase_add_test(tc, garbage_reply);
    tcase_add_test(tc, oversized_length);
    tcase_add_test(tc, unparsable_length);
    tcase_add_test(tc, over_value_limit);
    tcase_add_test(tc, dropped_mid_reply);
    tcase_add_test(tc, bad_reply_dict);
    tcase_add_test(tc, status_with_value);
    tcase_add_test(tc, timeout);
    tcase_add_test(tc, store_fd_short_source);
    suite_add_tcase(s, tc);

    tc = tcase_create("local");
    tcase_add_test(tc, meta_limits);
    tcase_add_test(tc, invalid_arguments);
    tcase_add_test(tc, values);
    tcase_add_test(tc, listing_parsers);
    suite_add_tcase(s, tc);
    return s;
}
