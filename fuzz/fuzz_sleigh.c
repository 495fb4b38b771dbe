/*
 * fuzz_sleigh.c -- the sleigh workspace operations, from a compact script.
 *
 * Random bytes rarely spell a registered worker fetching a task, so this
 * harness encodes well-formed requests itself and lets the input choose
 * which, on which connection, with which small numbers.  Every connection
 * does the new-style handshake with metadata; slot 0 opens workspace "s"
 * with wstype=sleigh, the others use it.
 *
 * Input layout:
 *
 *   flags    1 byte: FUZZ_SRV_* in bits 0-2; bits 3-4 choose rankCount
 *            (none, 1, 2, 3); bit 5 retries=0; bit 6 short grace period
 *   records  op = 1 byte: slot = (op & 3) % 3, command = (op >> 2) % 32,
 *            then 1 argument byte a (worker rank, batch, value, delay...).
 *            Command 31 is raw: a is a length, and that many bytes follow.
 *
 * Each record runs the loop afterwards unless a's top bit is set, so
 * requests of several connections can also be handled in one pass.
 */
#include <stdio.h>
#include <string.h>

#include "fuzz.h"
#include "frame.h"

#define FZS_MAX_META 3

struct fzs_meta {
    const char *key[FZS_MAX_META];
    const char *val[FZS_MAX_META];
    int         n;
};

static void
fzs_meta_add(struct fzs_meta *m, const char *key, const char *val)
{
    if (m->n < FZS_MAX_META) {
        m->key[m->n] = key;
        m->val[m->n] = val;
        m->n++;
    }
}

/* Sends one request: the metadata dictionary, then argc arguments (NUL-terminated). */
static void
fzs_send(int slot, const struct fzs_meta *m, int argc, const char *const *argv)
{
    struct nwsp_buf b = {0};
    int             i, n = m != NULL ? m->n : 0;

    nwsp_buf_dict_begin(&b, (unsigned)n);
    for (i = 0; i < n; i++)
        nwsp_buf_dict_put(&b, m->key[i], strlen(m->key[i]), m->val[i], strlen(m->val[i]));
    nwsp_buf_argc(&b, (unsigned)argc);
    for (i = 0; i < argc; i++)
        nwsp_buf_arg(&b, argv[i], strlen(argv[i]));
    fuzz_srv_write(slot, b.data, b.len);
    nwsp_buf_free(&b);
}

/* store s var value, with metadata m (may be NULL). */
static void
fzs_store(int slot, const struct fzs_meta *m, const char *var, const char *value)
{
    const char *argv[] = {"store", "s", var, "1", value};

    fzs_send(slot, m, 5, argv);
}

/* cmd s var: fetch, fetchTry, find, findTry. */
static void
fzs_get(int slot, const struct fzs_meta *m, const char *cmd, const char *var)
{
    const char *argv[] = {cmd, "s", var};

    fzs_send(slot, m, 3, argv);
}

/* A new connection for slot: handshake, then open (slot 0) or use the workspace. */
static void
fzs_open(int slot, unsigned flags)
{
    struct fzs_meta m = {{0}, {0}, 0};
    const char     *argv[] = {slot == 0 ? "open ws" : "use ws", "s", "fuzz", "no"};
    static const char *const ranks[] = {NULL, "1", "2", "3"};

    fuzz_srv_write(slot, fuzz_hs_new, fuzz_hs_new_len);
    fzs_meta_add(&m, "wstype", "sleigh");
    if (ranks[(flags >> 3) & 3] != NULL)
        fzs_meta_add(&m, "rankCount", ranks[(flags >> 3) & 3]);
    if (flags & 0x20)
        fzs_meta_add(&m, "retries", "0");
    else if (flags & 0x40)
        fzs_meta_add(&m, "workerGracePeriod", "0.001");
    fzs_send(slot, &m, 4, argv);
}

/* Runs one command of the script. */
static void
fzs_command(int slot, unsigned cmd, unsigned a)
{
    static const char *const specials[] = {"join_status", "rankCount",   "version",
                                           "plugin_version", "agentStatus", "scoreboard",
                                           "workerCount", "broadcast"};
    static const char *const deletable[] = {"task", "result", "worker_ids", "status",
                                            "sentinel_alive", "worker registrations",
                                            "#fixedArg1", "plain"};
    static const char *const delays[] = {"0", "0.001", "1", "x"};
    struct fzs_meta m = {{0}, {0}, 0};
    char            num[16], batch[16], val[300];
    const char     *argv[4];

    snprintf(num, sizeof(num), "%u", a % 8);
    snprintf(batch, sizeof(batch), "b%u", (a >> 3) % 4);
    switch (cmd) {
    case 0:
        fzs_store(slot, NULL, "worker_ids", num);
        break;
    case 1:
        fzs_get(slot, NULL, "fetch", "worker_ids");
        break;
    case 2:
        fzs_get(slot, NULL, a & 1 ? "find" : "findTry", "worker_ids");
        break;
    case 3:
        fzs_meta_add(&m, "batchId", batch);
        snprintf(val, sizeof(val), "task %u", a);
        fzs_store(slot, &m, "task", val);
        break;
    case 4:
        fzs_get(slot, NULL, "fetch", "task");
        break;
    case 5:
        fzs_get(slot, NULL, a & 1 ? "fetchTry" : "findTry", "task");
        break;
    case 6:
        if (a & 1)
            fzs_meta_add(&m, "nwsError", "it failed");
        if (a & 2)
            fzs_meta_add(&m, "batchId", "mine");
        snprintf(val, sizeof(val), "result %u", a);
        fzs_store(slot, &m, "result", val);
        break;
    case 7:
        fzs_meta_add(&m, "batchId", batch);
        fzs_get(slot, &m, "fetch", "result");
        break;
    case 8:
        fzs_meta_add(&m, "batchId", batch);
        fzs_get(slot, &m, a & 1 ? "fetchTry" : "findTry", "result");
        break;
    case 9:
        fzs_meta_add(&m, "batchId", batch);
        fzs_get(slot, &m, "find", "result");
        break;
    case 10:
        fzs_meta_add(&m, "batchId", batch);
        snprintf(val, sizeof(val), "everyone %u", a);
        fzs_store(slot, &m, "broadcast", val);
        break;
    case 11:
        if (a & 4)
            fzs_meta_add(&m, "delay", delays[a % 4]);
        fzs_get(slot, &m, a & 8 ? "find" : "fetch", "status");
        break;
    case 12:
        if (a & 4)
            fzs_meta_add(&m, "delay", delays[a % 4]);
        fzs_get(slot, &m, a & 8 ? "find" : "fetch", "waitForWorkers");
        break;
    case 13:
        snprintf(val, sizeof(val), "%d", (int)(a % 6) - 1);
        fzs_store(slot, NULL, "workerCount", val);
        break;
    case 14:
        fzs_get(slot, NULL, "find", "workerCount");
        break;
    case 15:
        fzs_get(slot, NULL, a & 1 ? "fetchTry" : "fetch", "sentinel_alive");
        break;
    case 16:
        if (a & 1)
            fzs_meta_add(&m, "all", "1");
        else
            fzs_meta_add(&m, "batchId", batch);
        fzs_get(slot, &m, "find", "jobStatus");
        break;
    case 17:
        fzs_get(slot, NULL, "fetch", "fixedargID");
        break;
    case 18:
        fzs_get(slot, NULL, a & 1 ? "find" : "fetch", specials[a % 8]);
        break;
    case 19:
        fzs_store(slot, NULL, "Sleigh ride over", "1");
        break;
    case 20:
        fzs_store(slot, NULL, a & 1 ? "status" : "waitForWorkers", delays[a % 4]);
        break;
    case 21:
        fzs_store(slot, NULL, specials[a % 8], num);
        break;
    case 22:
        argv[0] = "delete var";
        argv[1] = "s";
        argv[2] = deletable[a % 8];
        fzs_send(slot, NULL, 3, argv);
        break;
    case 23:
        argv[0] = "delete ws";
        argv[1] = "s";
        fzs_send(slot, NULL, 2, argv);
        break;
    case 24:
        fuzz_srv_close(slot);
        break;
    case 25:
        fuzz_srv_tick();
        break;
    case 26:
        argv[0] = "list vars";
        argv[1] = "s";
        fzs_send(slot, NULL, 2, argv);
        break;
    case 27:
        argv[0] = "declare var";
        argv[1] = "s";
        argv[2] = a & 1 ? "task" : "plain";
        argv[3] = a & 2 ? "fifo" : "single";
        fzs_send(slot, NULL, 4, argv);
        break;
    case 28: {
        const char *iv[] = {a & 1 ? "ifind" : "ifetchTry", "s", a & 2 ? "result" : "task",
                            "                    ", "0"};

        fzs_send(slot, NULL, 5, iv);
        break;
    }
    case 29:
        /* A large task: spooled when the server spools at 128 bytes. */
        memset(val, 'x', sizeof(val) - 1);
        val[sizeof(val) - 1] = '\0';
        fzs_meta_add(&m, "batchId", batch);
        fzs_store(slot, &m, a & 1 ? "task" : "result", val);
        break;
    case 30:
        argv[0] = "open ws";
        argv[1] = "s";
        argv[2] = "again";
        argv[3] = a & 1 ? "yes" : "no";
        fzs_meta_add(&m, "wstype", "sleigh");
        fzs_send(slot, &m, 4, argv);
        break;
    }
}

int
nwsfuzz_sleigh(const uint8_t *data, size_t size)
{
    const uint8_t *p = data, *e = data + size;
    int            open[FUZZ_SLOTS] = {0}, slot;
    unsigned       flags, cmd, a;

    if (size < 1 || size > 1 << 20)
        return 0;
    flags = *p++;
    fuzz_srv_begin(flags & 7);
    fzs_open(0, flags); /* first, so that "s" is a sleigh workspace */
    open[0] = 1;
    while (p + 1 < e && !fuzz_srv_stopped()) {
        slot = (*p & 3) % FUZZ_SLOTS;
        cmd = (*p++ >> 2) % 32;
        a = *p++;
        if (cmd == 24) {
            fuzz_srv_close(slot);
            open[slot] = 0;
            fuzz_srv_run();
            continue;
        }
        if (!open[slot]) {
            fzs_open(slot, flags);
            open[slot] = 1;
        }
        if (cmd == 31) {
            size_t len = a <= (size_t)(e - p) ? a : (size_t)(e - p);

            fuzz_srv_write(slot, p, len);
            p += len;
        } else {
            fzs_command(slot, cmd, a);
        }
        if (!(a & 0x80))
            fuzz_srv_run();
    }
    fuzz_srv_run();
    fuzz_srv_end();
    return 0;
}
