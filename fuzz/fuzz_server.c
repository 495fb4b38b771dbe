/*
 * fuzz_server.c -- the whole server command path: bytes into connections.
 *
 * Input layout:
 *
 *   flags                 1 byte: FUZZ_SRV_* in bits 0-2; bit 3 set: every
 *                         new connection starts with fuzz_hs_new (so the
 *                         fuzzer spends its bytes on requests); bits 3 and
 *                         4 set: with fuzz_hs_session instead (a session:
 *                         its request headers, kept replies, detach on
 *                         close, expiry on a timer tick)
 *   records, each         op = 1 byte: slot = (op & 3) % 3, kind = op >> 2:
 *     kind 0-31 even      write: 1 length byte L, then L bytes, then run
 *     kind 0-31 odd       write: the same, without running the loop, so
 *                         several connections' bytes are handled together
 *     kind 60             the client of slot closes (EOF), then run
 *     kind 61             fire every pending timer, then run
 *     other kinds         run the loop
 *
 * Up to three connections at once make blocking and wakeups across
 * connections reachable: a fetch parked on one slot served by a store on
 * another, a workspace purged under a waiter, a sleigh worker dying.
 * Invariants: the loop always settles, the server's memory accounting
 * returns to zero after shutdown, and the sanitizers see no error or leak.
 */
#include <string.h>

#include "fuzz.h"

/* Writes for slot, opening its connection with the handshake when asked. */
static void
fuzz_server_send(int slot, const uint8_t *p, size_t len, int handshake, int open[])
{
    if (!open[slot]) {
        open[slot] = 1;
        if (handshake == 2)
            fuzz_srv_write(slot, fuzz_hs_session, fuzz_hs_session_len);
        else if (handshake)
            fuzz_srv_write(slot, fuzz_hs_new, fuzz_hs_new_len);
    }
    if (len > 0)
        fuzz_srv_write(slot, p, len);
}

int
nwsfuzz_server(const uint8_t *data, size_t size)
{
    const uint8_t *p = data, *e = data + size;
    int            open[FUZZ_SLOTS] = {0}, handshake, slot;
    unsigned       kind;
    size_t         len;

    if (size < 1 || size > 1 << 20)
        return 0;
    fuzz_srv_begin(p[0] & 7);
    handshake = (p[0] & 8) == 0 ? 0 : (p[0] & 16) != 0 ? 2 : 1;
    p++;
    while (p < e && !fuzz_srv_stopped()) {
        slot = (*p & 3) % FUZZ_SLOTS;
        kind = *p++ >> 2;
        if (kind < 32) {
            len = p < e ? *p++ : 0;
            if (len > (size_t)(e - p))
                len = (size_t)(e - p);
            fuzz_server_send(slot, p, len, handshake, open);
            p += len;
            if (kind % 2 == 0)
                fuzz_srv_run();
        } else if (kind == 60) {
            fuzz_srv_close(slot);
            open[slot] = 0;
            fuzz_srv_run();
        } else if (kind == 61) {
            fuzz_srv_tick();
        } else {
            fuzz_srv_run();
        }
    }
    fuzz_srv_run();
    fuzz_srv_end();
    return 0;
}
