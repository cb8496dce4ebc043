/* leader.h: one leader among several `gantry server` processes sharing one store (docs/ha.md).
 *
 * A server started with --advertise URL competes for the store's lease (store.h's
 * store_lease_*). Until it holds it, it stands by: it loads nothing and answers every request
 * with 307 to the leader's URL (Location; 503 with error code "not_leader" while no leader is
 * known), with GET /v1/leader saying who leads. Once it holds the lease it opens the server as
 * a lone one would (the whole state from the store), fences the store with its epoch (every
 * commit checks it: a deposed leader can never commit) and renews the lease every third of
 * its term. It steps down, by executing itself again (it then stands by), when a renewal finds
 * another holder, when a commit finds a newer epoch, or when it could not renew for 90 % of
 * the term: so a leader cut off from the store stops acting before another can take over. A
 * clean stop hands the lease back at once. */
#ifndef GANTRY_LEADER_H
#define GANTRY_LEADER_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/util.h"

struct server;

/* The lease term when --lease is not given, in milliseconds. */
#define LEADER_DEFAULT_LEASE_MS 3000

/* Keeps argv (`gantry server`'s own: argv[0] is "server"; for leader_step_down) and makes this process's
 * holder name ("host:pid:random", unique to this run). Call once at start. */
void leader_init(int argc, char **argv);
/* This process's holder name. */
const char *leader_holder(void);

/* The store a server started with these flags uses (as server_open chooses it): --store
 * (store), else the config's store: (the file at config, when given), else the SQLite store
 * under data. A new string; NULL with err when the config cannot be read. */
char *leader_store_where(const char *store, const char *config, const char *data,
                         gt_error_t *err);

/* Stands by until this server holds the lease of the store in data: serves standby answers on
 * listen (HTTPS when tls) meanwhile, and takes the signals in sigs (SIGHUP: reload TLS).
 * Returns 0 (leader: the standby listener is closed), 1 (a stop signal came), or -1 with err.
 * A data directory without a store returns 0 at once: the first server makes it. */
int leader_wait_turn(const char *data, const char *listen, bool tls, const char *advertise,
                     int64_t lease_ms, const sigset_t *sigs, gt_error_t *err);

/* After srv's store is open, before it is read: takes (or renews) the lease, fences the
 * store with its epoch (srv->leader_epoch), and starts renewing it. -1 with err (code
 * not_leader) when another server holds it. */
int leader_start(struct server *srv, const char *advertise, int64_t lease_ms, gt_error_t *err);
/* A clean stop: stops renewing and, once every change is committed, ends the lease so that a
 * standby takes over at once. Accepts a server without a lease. */
void leader_stop(struct server *srv);
/* The leader's answer to GET /v1/leader (a new object). */
void *leader_describe(struct server *srv);

/* Steps down: says why on stderr and executes this server again (it stands by); exits 75 if
 * that fails. Never returns. */
void leader_step_down(const char *why) __attribute__((noreturn));
/* A server alone on its store (no --advertise) whose memory may disagree with the store
 * (store_outcome_lost): says why on stderr and executes itself again, which loads its state
 * from the store; exits 75 if that fails. Never returns. */
void leader_restart(const char *why) __attribute__((noreturn));

#endif
