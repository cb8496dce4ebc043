/* store.h: the controller's durable state in SQLite (WAL mode) under the data directory.
 *
 * The server keeps its working state in memory and writes every change here; on start it
 * rebuilds memory with the store_load_* functions. Writes go through one committer thread
 * that takes every batch queued since its last transaction and commits them together (group
 * commit): concurrent submissions share one fsync.
 *
 * Writing is two steps so that callers can keep order under their own lock and wait outside it:
 * store_enqueue() copies the operations, queues them and returns a ticket at once;
 * store_wait(ticket) returns 0 once that batch (and every earlier one) is durable. Batches
 * commit in enqueue order. A failed commit is fatal to the store: that wait and every later
 * one return -1 (EIO) with a message; the server then refuses writes rather than lie. */
#ifndef GANTRY_STORE_H
#define GANTRY_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "common/util.h"

typedef struct store store_t;

typedef enum store_op_kind {
    STORE_JOB_PUT,      /* id, a = team, b = user, c = state, d = JSON document, n = idem. */
    STORE_TOKEN_PUT,    /* a = hash, b = user, c = role, d = team (may be NULL) */
    STORE_NODE_PUT,     /* a = name, d = JSON document, n = epoch */
    STORE_TEAM_PUT,     /* a = name, d = JSON document (overrides set at run time) */
    STORE_META_PUT,     /* a = key, n = value */
} store_op_kind_t;

typedef struct store_op {
    store_op_kind_t kind;
    uint64_t id;
    const char *a, *b, *c, *d;
    int64_t n;
} store_op_t;

/* Opens (creating if needed) DIR/gantry.db. Returns 0 and a new store, or -1 with err. */
int store_open(const char *dir, store_t **out, gt_error_t *err);
/* Commits what is queued, stops the committer, closes the database. Accepts NULL. */
void store_close(store_t *st);

/* Loading, before any write: each calls fn once per row in id / name order; fn returns 0 to
 * go on or -1 to stop (store_load_* then returns -1 with fn's err). */
int store_load_jobs(store_t *st, int (*fn)(void *arg, uint64_t id, const char *doc,
                                           gt_error_t *err), void *arg, gt_error_t *err);
int store_load_tokens(store_t *st, int (*fn)(void *arg, const char *hash, const char *user,
                                             const char *role, const char *team),
                      void *arg, gt_error_t *err);
int store_load_nodes(store_t *st, int (*fn)(void *arg, const char *name, int64_t epoch,
                                            const char *doc), void *arg, gt_error_t *err);
int store_load_teams(store_t *st, int (*fn)(void *arg, const char *name, const char *doc),
                     void *arg, gt_error_t *err);
/* A meta value (counters); *out = dflt when absent. */
int store_meta_get(store_t *st, const char *key, int64_t dflt, int64_t *out, gt_error_t *err);

/* Queues ops[0..n) as one batch (strings are copied) and returns its ticket (> 0). */
uint64_t store_enqueue(store_t *st, const store_op_t *ops, size_t n);
/* Blocks until the batch with this ticket is committed: 0, or -1 (EIO) with err. */
int store_wait(store_t *st, uint64_t ticket, gt_error_t *err);

/* Calls fn(arg) once the batch with this ticket is committed (or the store failed, or closes),
 * from the committer thread (or at once, from the caller, if it already is). fn must not block
 * nor call back into the store. */
void store_notify(store_t *st, uint64_t ticket, void (*fn)(void *arg), void *arg);

typedef struct store_stats {
    uint64_t batches, transactions;   /* batches queued; transactions (fsyncs) committed */
} store_stats_t;
void store_get_stats(store_t *st, store_stats_t *out);

#endif
