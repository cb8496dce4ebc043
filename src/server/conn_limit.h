/* conn_limit.h: how many HTTP connections the server accepts when --max-connections is not
 * given: as many as its open-file limit leaves, since every connection is a descriptor and a
 * server out of descriptors fails worse than one that refuses a connection (the store, a log
 * file, an artifact cannot be opened; accept() spins on EMFILE).
 *
 * The rule: the soft open-file limit is first raised to the hard one (conn_limit_raise_nofile);
 * then max = limit - CONN_LIMIT_RESERVE (descriptors kept for the store's files, job logs,
 * artifacts, attach sessions, libmicrohttpd's own, and the connections that are answered 503
 * beyond the limit), at most CONN_LIMIT_CAP (memory: a connection's buffers, and a thread per
 * parked long poll); a limit too small for the reserve gives half of it. Each agent holds two
 * connections (its calls and its long poll): the server says at start how many nodes that is. */
#ifndef GANTRY_CONN_LIMIT_H
#define GANTRY_CONN_LIMIT_H

#include <stddef.h>
#include <stdint.h>

#define CONN_LIMIT_RESERVE 320u
#define CONN_LIMIT_CAP 65536u
/* Connections past --max-connections that still get a 503 answer (conn_guard_over); beyond
 * them libmicrohttpd stops accepting. Part of CONN_LIMIT_RESERVE. */
#define CONN_LIMIT_REFUSE_MARGIN 64u

/* Raises the soft RLIMIT_NOFILE to the hard one (at most 1 << 20). *before and *after get the
 * soft limit before and after (equal when it was already the hard one or could not change). */
void conn_limit_raise_nofile(uint64_t *before, uint64_t *after);

/* The default --max-connections for an open-file limit of nofile descriptors (the rule above). */
unsigned conn_limit_default(uint64_t nofile);

/* The line the server logs at start: the limit it uses, why, and room for how many nodes.
 * given: --max-connections was given (max is then the operator's), else the default. A given
 * limit above what nofile leaves is said to be a risk. */
void conn_limit_explain(unsigned max, int given, uint64_t nofile, uint64_t raised_from,
                        char *buf, size_t len);

#endif
