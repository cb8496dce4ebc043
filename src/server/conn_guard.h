/* conn_guard.h: deadlines for the phases of an HTTP connection and a budget for the request
 * bodies held in memory (a defence against clients that open connections and stay silent or
 * trickle, and against many half-sent bodies).
 *
 * libmicrohttpd's own timeout (MHD_OPTION_CONNECTION_TIMEOUT) counts inactivity only: a client
 * that sends one header byte every few seconds keeps its connection for ever. The guard gives
 * each connection a deadline per phase instead:
 *   CONN_HEADERS  from the connection's start, or the end of its previous request, until its
 *                 whole request header is in (header timeout; it is also the keep-alive limit);
 *   CONN_BODY     from the header until the whole body is in (body timeout);
 *   CONN_HANDLING the server works or waits on the request (long polls, commits, log follows
 *                 are parked here): no deadline.
 * A thread checks the deadlines a few times a second and shuts down (shutdown(2), never close:
 * libmicrohttpd owns the descriptor) the socket of a connection past its deadline, so that
 * libmicrohttpd sees it end and frees it. A connection leaves the table (CLOSED notification)
 * before libmicrohttpd closes its descriptor, and the thread shuts down only sockets still in
 * the table, under the table's lock: it never touches a descriptor reused by another socket. */
#ifndef GANTRY_CONN_GUARD_H
#define GANTRY_CONN_GUARD_H

#include <microhttpd.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct conn_guard conn_guard_t;

typedef enum conn_phase {
    CONN_HEADERS,
    CONN_BODY,
    CONN_HANDLING,
} conn_phase_t;

/* A guard with these deadlines (seconds; 0 = none for that phase) and a budget of body bytes
 * held at once over every connection (0 = none). Starts its thread; NULL (errno) on failure. */
conn_guard_t *conn_guard_new(unsigned header_timeout_s, unsigned body_timeout_s,
                             size_t body_budget);
/* Stops the thread and frees the guard; call after MHD_stop_daemon. Accepts NULL. */
void conn_guard_free(conn_guard_t *g);

/* The MHD_OPTION_NOTIFY_CONNECTION callback (cls = the guard): a started connection enters the
 * table in CONN_HEADERS, a closed one leaves it. */
void conn_guard_notify(void *cls, struct MHD_Connection *c, void **socket_context,
                       enum MHD_ConnectionNotificationCode toe);

/* Moves c to phase p; its deadline restarts now. Unknown connections are ignored. */
void conn_guard_phase(conn_guard_t *g, struct MHD_Connection *c, conn_phase_t p);

/* Reserves n bytes of the body budget: true when they fit (the caller then holds them and
 * releases them with conn_guard_release), false when the budget is spent. */
bool conn_guard_reserve(conn_guard_t *g, size_t n);
void conn_guard_release(conn_guard_t *g, size_t n);

/* Connections beyond max_open open at once (0: no limit) are marked when they start: their
 * first request is answered 503 too_many_connections and the connection closed
 * (conn_guard_over), rather than the socket shut without a word. libmicrohttpd's own limit
 * (MHD_OPTION_CONNECTION_LIMIT) sits above it and closes the rest at once. */
void conn_guard_set_limit(conn_guard_t *g, uint64_t max_open);
/* Whether c started while max_open connections were open already. */
bool conn_guard_over(conn_guard_t *g, struct MHD_Connection *c);

typedef struct conn_guard_stats {
    uint64_t open;               /* connections in the table now */
    uint64_t closed_header;      /* connections shut down for a header deadline, ever */
    uint64_t closed_body;        /* ... for a body deadline */
    uint64_t body_bytes;         /* body bytes reserved now */
    uint64_t body_refused;       /* reservations refused, ever */
    uint64_t refused_over;       /* connections opened beyond max_open, ever */
} conn_guard_stats_t;
void conn_guard_get_stats(conn_guard_t *g, conn_guard_stats_t *out);

#endif
