/*
 * tproxy.h -- a real TCP proxy for tests: cut a client's connection to the
 * server without touching either of them.
 *
 * A thread of the test process listens on 127.0.0.1 (a port the OS picks)
 * and forwards every connection it accepts to 127.0.0.1:target.  The test
 * then breaks things on purpose: tproxy_cut() closes every connection it
 * carries now (both sides see EOF, as on a dead link), tproxy_pause() makes
 * it refuse new ones (accepted and reset at once: a client sees its
 * handshake fail, as when the server is down), and tproxy_cut_after() arms
 * a cut at an exact byte of the stream, so a test can cut inside a request
 * or a reply.  Connections are numbered in accept order from 0.
 *
 * Every function is safe to call from the test's thread while the proxy's
 * thread runs; a cut has happened when tproxy_cut() returns.
 */
#ifndef TPROXY_H
#define TPROXY_H

#include <stdint.h>

struct tproxy;

/* Starts a proxy to 127.0.0.1:target_port; the proxy, or NULL. */
struct tproxy *tproxy_start(int target_port);
/* The port the proxy listens on (give it to the client). */
int tproxy_port(const struct tproxy *p);
/* Points new connections at another port (a server restarted elsewhere). */
void tproxy_set_target(struct tproxy *p, int target_port);
/* Closes every connection carried now; returns how many were closed. */
int tproxy_cut(struct tproxy *p);
/*
 * Closes the connection whose client side is bound to local port
 * client_port (getsockname() of the client's socket: nws_fd()), if the
 * proxy carries it.  1 if it was cut, 0 if not found.
 */
int tproxy_cut_port(struct tproxy *p, int client_port);
/* Closes connection number n (accept order) if it is still open: 1, or 0. */
int tproxy_cut_conn(struct tproxy *p, int n);
/*
 * Arms a one-shot cut: the next time any connection has forwarded up more
 * bytes towards the server (or down more bytes towards the client) since
 * this call, exactly that many bytes are passed on, then every connection
 * is cut.  0 for a direction means "not armed".  A new call re-arms.
 */
void tproxy_cut_after(struct tproxy *p, uint64_t up, uint64_t down);
/* Refuses (accepts and resets) new connections until tproxy_resume(). */
void tproxy_pause(struct tproxy *p);
void tproxy_resume(struct tproxy *p);
/* Connections accepted so far (refused ones not counted), and open now. */
int tproxy_accepted(struct tproxy *p);
int tproxy_open(struct tproxy *p);
/* Cuts: by tproxy_cut*() or an armed tproxy_cut_after() that fired. */
int tproxy_cuts(struct tproxy *p);
/* Stops the thread, closes everything, frees p.  NULL is fine. */
void tproxy_stop(struct tproxy *p);

#endif
