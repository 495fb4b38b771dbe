/*
 * mem.c -- what counts against --max-memory, beside values (value.c).
 *
 * Everything the server holds for its clients is charged to srv.mem_used:
 * values and their metadata (value.c, vqueue.c), workspaces and variables
 * with their names (ws.c, var.c), and each connection's unparsed input,
 * pending reply bytes and listing snapshots (conn.c, list.c).  Costs are
 * estimates of the heap they take, table slots included, not exact malloc
 * figures: what matters is that an attacker cannot hold memory the budget
 * does not see.  Something that would pass the limit is refused with the
 * protocol's error reply; what is already held is never dropped.
 */
#include <string.h>

#include "server.h"

/* 1 if n more bytes fit under --max-memory (always, without a limit). */
int
mem_fits(uint64_t n)
{
    return srv.cfg.max_memory == 0 || (srv.mem_used <= srv.cfg.max_memory &&
                                       n <= srv.cfg.max_memory - srv.mem_used);
}

/* 1 while the server holds more than --max-memory (buffers then stay small). */
int
mem_tight(void)
{
    return srv.cfg.max_memory != 0 && srv.mem_used >= srv.cfg.max_memory;
}

/* A name kept as a table key: the string and about two slots of the table. */
uint64_t
mem_name_cost(size_t len)
{
    return len + 1 + 2 * sizeof(struct htab_ent);
}

/* A workspace named len bytes (its own copy of the name and the table's). */
uint64_t
mem_ws_cost(size_t len)
{
    return sizeof(struct ws) + (len + 1) + mem_name_cost(len);
}

/* A variable named len bytes. */
uint64_t
mem_var_cost(size_t len)
{
    return sizeof(struct var) + mem_name_cost(len);
}
