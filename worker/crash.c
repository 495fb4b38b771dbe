/*
 * crash.c -- a task that crashes the worker (SIGSEGV, SIGABRT, ...) gets
 * an error result that names the signal, and the worker's log says so.
 *
 * Before a task runs, crash_arm() encodes the `store result` request that
 * ends it with the error {"first", "count", "rank", "error": "killed by
 * SIGxxx"}, leaving room for the signal's name.  If a fatal signal comes
 * while the task runs, the handler fills the name in and writes the request
 * on the worker's own connection, which is quiet then (every reply of the
 * round was read before the task started; a few store replies may be on
 * their way, and nothing here parses replies).  It then half-closes the
 * connection and reads until the server closes it, so the server takes
 * the store before it sees the connection end, and no reply is left unread
 * (which would turn our close into a reset).  Then the worker dies of the
 * signal as it would have, and its owner starts another one.
 *
 * So a crash is the element's failure, reported at once: the server does
 * not count it as a worker death and does not run the task again (a task
 * that crashed a worker crashes the next one too).  Deaths the worker
 * cannot report (SIGKILL, the machine lost) still go back to the queue up
 * to the sleigh's retry limit.
 *
 * Only async-signal-safe calls in the handler (write, read, poll,
 * shutdown, raise, kill; the text is put together by hand).  It runs on
 * an alternate stack, so a stack overflow is reported too.  Over TLS the
 * request cannot be written from a handler: the crash is only logged, and
 * the server counts a death.
 */
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "frame.h"
#include "nwsp.h"
#include "sleighp.h"
#include "worker.h"

#define CRASH_MARK     "@@nws-crash@@"
#define CRASH_ROOM     40      /* bytes from the mark to the end of the error text */
#define CRASH_DRAIN_MS 2000    /* at most, waiting for the server to take the store */

static const int crash_sigs[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT, SIGTRAP, SIGSYS};

static struct worker        *crash_w;
static struct nwsp_buf       crash_req;   /* the encoded store request */
static struct nwsp_buf       crash_end;   /* `end session` after it, on a session */
static size_t                crash_slot;  /* offset of CRASH_MARK in crash_req */
static volatile sig_atomic_t crash_armed; /* crash_req is whole and for the running task */
static const char           *crash_batch;
static long                  crash_first, crash_count;

/* The signal's name, without "SIG" (a few fatal ones; others by number). */
static const char *
crash_name(int sig)
{
    switch (sig) {
    case SIGSEGV:
        return "SEGV";
    case SIGBUS:
        return "BUS";
    case SIGFPE:
        return "FPE";
    case SIGILL:
        return "ILL";
    case SIGABRT:
        return "ABRT";
    case SIGTRAP:
        return "TRAP";
    case SIGSYS:
        return "SYS";
    case SIGTERM:
        return "TERM";
    case SIGKILL:
        return "KILL";
    default:
        return NULL;
    }
}

/* Appends s to buf (of size cap, at *len), async-signal-safe. */
static void
crash_cat(char *buf, size_t cap, size_t *len, const char *s)
{
    while (*s != '\0' && *len + 1 < cap)
        buf[(*len)++] = *s++;
    buf[*len] = '\0';
}

/* Appends n in decimal. */
static void
crash_cat_long(char *buf, size_t cap, size_t *len, long n)
{
    char   d[24];
    size_t i = sizeof(d) - 1;
    int    neg = n < 0;
    unsigned long u = neg ? 0UL - (unsigned long)n : (unsigned long)n;

    d[i] = '\0';
    do {
        d[--i] = (char)('0' + u % 10);
        u /= 10;
    } while (u != 0 && i > 1);
    if (neg)
        d[--i] = '-';
    crash_cat(buf, cap, len, d + i);
}

/* "SIGSEGV", or "signal N", into buf. */
static void
crash_signame(int sig, char *buf, size_t cap)
{
    const char *n = crash_name(sig);
    size_t      len = 0;

    buf[0] = '\0';
    if (n != NULL) {
        crash_cat(buf, cap, &len, "SIG");
        crash_cat(buf, cap, &len, n);
    } else {
        crash_cat(buf, cap, &len, "signal ");
        crash_cat_long(buf, cap, &len, sig);
    }
}

/* Writes all of p to fd (short writes and EINTR), giving up on other errors. */
static void
crash_write(int fd, const char *p, size_t len)
{
    ssize_t n;

    while (len > 0) {
        n = write(fd, p, len);
        if (n <= 0)
            return;
        p += n;
        len -= (size_t)n;
    }
}

/* Sends the armed request and waits (bounded) for the server to take it. */
static void
crash_report(const char *signame)
{
    struct pollfd pfd;
    char          text[CRASH_ROOM + 1], sink[4096];
    size_t        len = 0, i;
    int           fd = nws_fd(crash_w->w_c), waited = 0;
    ssize_t       n;

    if (fd < 0 || crash_w->w_c->ssl != NULL)
        return;
    crash_cat(text, sizeof(text), &len, "killed by ");
    crash_cat(text, sizeof(text), &len, signame);
    crash_cat(text, sizeof(text), &len, "\"");
    /* The rest of the room: blanks, which JSON allows before the closing brace. */
    for (i = 0; i < CRASH_ROOM; i++)
        crash_req.data[crash_slot + i] = i < len ? text[i] : ' ';
    /* On a session the requests were built with placeholder headers: this
     * write bypasses libnws, so give them their seqs here.  The session
     * ends with the worker, so the server lets its registration go now
     * instead of holding it for the resume grace. */
    if (nwsp_sess_head_len(crash_w->w_c) > 0) {
        nwsp_sess_header(crash_w->w_c, 1, crash_req.data);
        if (crash_end.len > 0)
            nwsp_sess_header(crash_w->w_c, 2, crash_end.data);
    }
    crash_write(fd, crash_req.data, crash_req.len);
    if (nwsp_sess_head_len(crash_w->w_c) > 0 && crash_end.len > 0)
        crash_write(fd, crash_end.data, crash_end.len);
    shutdown(fd, SHUT_WR);
    pfd.fd = fd;
    pfd.events = POLLIN;
    while (waited < CRASH_DRAIN_MS) {
        if (poll(&pfd, 1, 100) == 0) {
            waited += 100;
            continue;
        }
        n = read(fd, sink, sizeof(sink));
        if (n <= 0)
            break; /* the server closed it (or it broke): the store was taken */
    }
}

/* The handler of the fatal signals. */
static void
crash_on_signal(int sig)
{
    char   line[256], signame[24];
    size_t len = 0;
    pid_t  g = command_pgid;

    if (g > 0)
        kill(-g, SIGKILL);
    crash_signame(sig, signame, sizeof(signame));
    crash_cat(line, sizeof(line), &len, "nws-worker[");
    crash_cat_long(line, sizeof(line), &len, crash_w != NULL ? crash_w->w_rank : -1);
    crash_cat(line, sizeof(line), &len, "]: killed by ");
    crash_cat(line, sizeof(line), &len, signame);
    if (crash_armed) {
        crash_cat(line, sizeof(line), &len, " running batch ");
        crash_cat(line, sizeof(line), &len, crash_batch != NULL ? crash_batch : "?");
        crash_cat(line, sizeof(line), &len, " elements ");
        crash_cat_long(line, sizeof(line), &len, crash_first);
        crash_cat(line, sizeof(line), &len, "..");
        crash_cat_long(line, sizeof(line), &len, crash_first + crash_count - 1);
        crash_cat(line, sizeof(line), &len, ": reporting it as the elements' error\n");
    } else {
        crash_cat(line, sizeof(line), &len, " outside a task\n");
    }
    crash_write(2, line, len);
    if (crash_armed) {
        crash_armed = 0;
        crash_report(signame);
    }
    signal(sig, SIG_DFL);
    raise(sig);
}

int
crash_init(struct worker *w)
{
    static char      stack[64 * 1024];
    stack_t          ss;
    struct sigaction sa;
    size_t           i;

    crash_w = w;
    ss.ss_sp = stack;
    ss.ss_size = sizeof(stack);
    ss.ss_flags = 0;
    if (sigaltstack(&ss, NULL) != 0)
        return -1;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = crash_on_signal;
    sa.sa_flags = SA_ONSTACK | SA_NODEFER | SA_RESETHAND;
    sigemptyset(&sa.sa_mask);
    for (i = 0; i < sizeof(crash_sigs) / sizeof(crash_sigs[0]); i++)
        if (sigaction(crash_sigs[i], &sa, NULL) != 0)
            return -1;
    return 0;
}

void
crash_arm(struct worker *w, const nws_value *task, long first, long count,
          const char *batch)
{
    char       text[256];
    nws_value *v;
    nws_error  err;
    char      *data, *mark;
    int        len;

    crash_armed = 0;
    nwsp_buf_reset(&crash_req);
    nwsp_buf_reset(&crash_end);
    memset(&err, 0, sizeof(err));
    if (nwsp_sess_head_len(w->w_c) > 0 &&
        (nwsp_req_head(w->w_c, &crash_end, 1, NULL, &err) != 0 ||
         nwsp_buf_arg(&crash_end, "end session", 11) != 0))
        nwsp_buf_reset(&crash_end);
    len = snprintf(text, sizeof(text),
                   "{\"first\":%ld,\"count\":%ld,\"rank\":%ld,\"error\":\"%s%*s}", first,
                   count, w->w_rank, CRASH_MARK, CRASH_ROOM - (int)strlen(CRASH_MARK), "");
    if (len <= 0 || (size_t)len >= sizeof(text) || (data = strdup(text)) == NULL)
        return;
    if ((v = nwsp_value_wrap(data, (size_t)len, NWS_DESC_TEXT)) == NULL) {
        free(data);
        return;
    }
    memset(&err, 0, sizeof(err));
    if (nwsp_sleigh_put_store(w->w_ws, &crash_req, NWSP_SLEIGH_RESULT, v,
                              nws_value_meta_get(task), &err) == 0 &&
        (mark = memmem(crash_req.data, crash_req.len, CRASH_MARK, strlen(CRASH_MARK))) !=
            NULL) {
        crash_slot = (size_t)(mark - crash_req.data);
        crash_batch = batch;
        crash_first = first;
        crash_count = count;
        crash_armed = 1;
    }
    nws_value_free(v);
}

void
crash_disarm(void)
{
    crash_armed = 0;
}

void
crash_cleanup(void)
{
    crash_armed = 0;
    nwsp_buf_free(&crash_req);
    nwsp_buf_free(&crash_end);
}
