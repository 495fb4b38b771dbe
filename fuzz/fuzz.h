/*
 * fuzz.h -- the fuzzing harnesses and the in-memory server they drive.
 *
 * Each harness is a plain function over one input, nwsfuzz_<name>(), that
 * returns 0 and aborts when it finds a broken invariant.  Built with clang's
 * libFuzzer (make fuzz), fuzz/libfuzzer_main.c turns one of them into
 * LLVMFuzzerTestOneInput; linked into the Check binary (make check),
 * tests/check_fuzz.c replays every seed and every regression input through
 * the same function, so neither needs clang.
 *
 * Harnesses:
 *   frame      the wire codec on memory: nwsp_parse_*, nwsp_dict_*, metadata
 *   handshake  the server's handshake and options dictionary, and libnws's
 *              side of it (nws_connect against a loopback peer)
 *   server     bytes into up to three connections of a whole server, no sockets
 *   sleigh     sleigh workspace operations, encoded from a compact script
 *   list       libnws's listing parsers (nws_ws_list_parse, nws_var_list_parse)
 *   reply      libnws's reply reader behind the public calls, over a socketpair
 *   sjson      the sleigh records' JSON reader and writer against jansson
 */
#ifndef NWS_FUZZ_H
#define NWS_FUZZ_H

#include <stddef.h>
#include <stdint.h>

int nwsfuzz_frame(const uint8_t *data, size_t size);
int nwsfuzz_handshake(const uint8_t *data, size_t size);
int nwsfuzz_server(const uint8_t *data, size_t size);
int nwsfuzz_sleigh(const uint8_t *data, size_t size);
int nwsfuzz_list(const uint8_t *data, size_t size);
int nwsfuzz_reply(const uint8_t *data, size_t size);
int nwsfuzz_sjson(const uint8_t *data, size_t size);

/* An invariant the harness checks: abort (a crash for libFuzzer, an error for Check). */
#define FUZZ_ASSERT(cond) ((cond) ? (void)0 : fuzz_fail(#cond, __FILE__, __LINE__))
void fuzz_fail(const char *what, const char *file, int line) __attribute__((noreturn));

/*
 * fuzz_srv.c: one nwsserver in memory.  Connections are the server end of
 * libevent bufferevent pairs; the harness writes client bytes into the other
 * end and throws the replies away.  Nothing touches a socket; spooled values
 * go to a private temp directory.
 */
#define FUZZ_SLOTS 3

#define FUZZ_SRV_SPOOL  0x1 /* values of 128 bytes or more are spooled to files */
#define FUZZ_SRV_SMALL  0x2 /* --max-memory of 4 KiB: refusals */
#define FUZZ_SRV_TINYVAL 0x4 /* --max-value-size of 64 bytes */

/* Sets up srv, its event base and __default; flags: FUZZ_SRV_*. */
void fuzz_srv_begin(unsigned flags);
/* Frees everything and checks that nothing is left over (memory accounting). */
void fuzz_srv_end(void);
/* Writes len bytes from the client of slot (opening a connection if none). */
void fuzz_srv_write(int slot, const void *p, size_t len);
/* The client of slot closes its end (EOF); the slot is free again. */
void fuzz_srv_close(int slot);
/* Fires every pending timer at once, as if their time had come. */
void fuzz_srv_tick(void);
/* Runs the event loop until nothing is left to do. */
void fuzz_srv_run(void);
/* 1 once a deadman connection stopped the server. */
int  fuzz_srv_stopped(void);
/* Bytes the server sent to slot's client since the last call (then forgotten). */
size_t fuzz_srv_replied(int slot);

/* The new-style handshake asking for both metadata options. */
extern const char   fuzz_hs_new[];
extern const size_t fuzz_hs_new_len;
/* fuzz_hs_new with NwsSession "new" too (request headers follow). */
extern const char   fuzz_hs_session[];
extern const size_t fuzz_hs_session_len;

#endif
