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

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/util.h"

typedef struct store store_t;

typedef enum store_op_kind {
    STORE_JOB_PUT,      /* id, a = team, b = user, c = state, d = JSON document, n = idem. */
    STORE_TOKEN_PUT,    /* a = hash, b = user, c = role, d = team (may be NULL), n = created,
                           m = expires (epoch seconds; 0 = never) */
    STORE_NODE_PUT,     /* a = name, d = JSON document, n = epoch */
    STORE_TEAM_PUT,     /* a = name, d = JSON document (overrides set at run time) */
    STORE_META_PUT,     /* a = key, n = value */
    STORE_JOB_DELETE,   /* id (retention: a finished job is purged) */
    STORE_TOKEN_DEL,    /* a = hash: the token is revoked */
    STORE_USER_PUT,     /* a = name, d = JSON document (the user's mapping, set at run time) */
    STORE_USER_DEL,     /* a = name */
    STORE_NODE_TOKENS_DEL, /* a = node name: deletes its node credentials (role node) */
    STORE_NKINDS
} store_op_kind_t;

/* The schema's version (SQLite's user_version): a store with a higher one is refused. Version 2
 * added the tokens' created and expires columns and the users table; a store of version 1 (or
 * unversioned) is upgraded when opened. */
#define STORE_SCHEMA_VERSION 2

typedef struct store_op {
    store_op_kind_t kind;
    uint64_t id;
    const char *a, *b, *c, *d;
    int64_t n, m;
} store_op_t;

/* Files and modes. DIR is created 0700 if missing; DIR, gantry.db and its -wal and -shm files
 * that exist with group or other permission bits are set to 0700 / 0600 (they hold tokens'
 * hashes and jobs' environments, secrets included), with a line on stderr. -1 with err when
 * DIR cannot be created, or a path is of the wrong type or cannot be changed. */
int store_secure_dir(const char *dir, gt_error_t *err);
/* true when DIR holds a store (gantry.db, or a WAL left without it): not a first start. */
bool store_exists(const char *dir);
/* First start: creates DIR/gantry.db (schema, version, and init[0..n) in one transaction),
 * built as gantry.db.new and renamed, so that a crash leaves either no store or a whole one.
 * -1 (EEXIST) when a store exists: an existing store is never replaced. */
int store_create(const char *dir, const store_op_t *init, size_t n, gt_error_t *err);
/* Opens the existing DIR/gantry.db (store_secure_dir first). Refused, with a message saying
 * what is wrong and what to do, when it is missing, empty, not SQLite, misses a table, or has
 * a newer schema version; an older one is upgraded (in one transaction). Returns 0 and a new
 * store, or -1 with err. */
int store_open(const char *dir, store_t **out, gt_error_t *err);
/* Commits what is queued, stops the committer, closes the database. Accepts NULL. */
void store_close(store_t *st);

/* Loading, before any write: each calls fn once per row in id / name order; fn returns 0 to
 * go on or -1 to stop (store_load_* then returns -1 with fn's err). */
int store_load_jobs(store_t *st, int (*fn)(void *arg, uint64_t id, const char *doc,
                                           gt_error_t *err), void *arg, gt_error_t *err);
int store_load_tokens(store_t *st, int (*fn)(void *arg, const char *hash, const char *user,
                                             const char *role, const char *team,
                                             int64_t created, int64_t expires),
                      void *arg, gt_error_t *err);
int store_load_users(store_t *st, int (*fn)(void *arg, const char *name, const char *doc),
                     void *arg, gt_error_t *err);
int store_load_nodes(store_t *st, int (*fn)(void *arg, const char *name, int64_t epoch,
                                            const char *doc), void *arg, gt_error_t *err);
int store_load_teams(store_t *st, int (*fn)(void *arg, const char *name, const char *doc),
                     void *arg, gt_error_t *err);
/* A meta value (counters); *out = dflt when absent. */
int store_meta_get(store_t *st, const char *key, int64_t dflt, int64_t *out, gt_error_t *err);
/* Calls fn once per meta row whose key starts with prefix, in key order; fn returns 0 to go on
 * or -1 to stop (then -1 with err). */
int store_load_meta(store_t *st, const char *prefix,
                    int (*fn)(void *arg, const char *key, int64_t value), void *arg,
                    gt_error_t *err);

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
