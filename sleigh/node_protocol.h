/*
 * node_protocol.h -- the line protocol between a node launcher
 * (nws-worker --count N, worker/node.c) and the remote launcher that ran
 * it (sleigh/launch_ssh.c), which reads its standard output.
 *
 * The node launcher takes N ranks from the sleigh, starts N workers with
 * them, and reports on standard output, one line each, every line
 * starting with NWSP_NODE_PREFIX:
 *
 *   nws-node ranks R1 R2 ...          the ranks, before any worker starts
 *   nws-node up RANK PID              a worker started
 *   nws-node down RANK again|final STATUS   it ended (exit=N or signal=N);
 *                                     again: it is started again
 *   nws-node error TEXT               it could not join (then exit 3)
 *   nws-node done | stopped           the last line: every worker ended,
 *                                     or it was told to stop
 *
 * Exit status: 0 when every worker ended with 0 (the sleigh ended) or it
 * was told to stop, 3 (NWSP_WORKER_EXIT_NOJOIN, sleighp.h) if it could
 * not join, else 1.  Lines that are not
 * these (a login banner, a shell's noise) are ignored by the reader.
 * man/nws-worker.1 (--count) documents the same lines for users.
 *
 * NWSP_NODE_PROTOCOL_VERSION is not sent on the wire yet: both ends come
 * from the same build today.  Bump it when a verb or its arguments change,
 * so that a version check can be added when mixed installations matter.
 */
#ifndef NODE_PROTOCOL_H
#define NODE_PROTOCOL_H

#include <stddef.h>

#define NWSP_NODE_PROTOCOL_VERSION 1 /* bump when a verb or its arguments change */

#define NWSP_NODE_PREFIX    "nws-node " /* every line starts so */
#define NWSP_NODE_RANKS_V   "ranks"
#define NWSP_NODE_UP_V      "up"
#define NWSP_NODE_DOWN_V    "down"
#define NWSP_NODE_ERROR_V   "error"
#define NWSP_NODE_DONE_V    "done"
#define NWSP_NODE_STOPPED_V "stopped"
#define NWSP_NODE_AGAIN     "again" /* down: the worker is started again */
#define NWSP_NODE_FINAL     "final" /* down: it is not */

/* The lines nwsp_node_line recognises. */
enum nwsp_node_verb { NWSP_NODE_RANKS, NWSP_NODE_UP, NWSP_NODE_DOWN, NWSP_NODE_ERROR };

/*
 * Reads one line a node launcher wrote on its standard output (without
 * its newline): NWSP_NODE_RANKS (ranks in *ranks, *n of them, a new
 * array), NWSP_NODE_UP (rank, pid), NWSP_NODE_DOWN (rank, *again: it is
 * started again), NWSP_NODE_ERROR (*text points into line), or -1 for a
 * line that is not one of these (done and stopped included: the reader
 * learns the end from the channel).  Defined in launch_ssh.c.
 */
int nwsp_node_line(const char *line, long **ranks, size_t *n, long *rank, long *pid,
                   int *again, const char **text);

#endif
