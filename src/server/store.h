/* store.h: the controller's durable state, in a database behind a backend (store_backend.h):
 * the embedded SQLite (WAL mode) under the data directory by default, or PostgreSQL
 * (store_pg.c). Functions below that take a DIR take either that directory or a
 * postgresql:// URL (libpq's connection URI): the store's kind follows from it.
 *
 * The server keeps its working state in memory and writes every change here; on start it
 * rebuilds memory with the store_load_* functions. Writes go through a committer thread that
 * takes every batch queued since its last transaction and commits them together (group
 * commit): concurrent submissions share one fsync. On SQLite there is one, and batches commit
 * in enqueue order. On PostgreSQL there may be several (GANTRY_STORE_WRITERS; one by
 * default), each on a connection of its own (store_backend.h's writers): batches that write a common row (a job's
 * row and its events; a node's; the audit log) commit in enqueue order, any other kind of
 * change and any batch of more than 64 changes commits after everything queued before it and
 * before everything after; batches writing different rows may commit in either order
 * (docs/store.md, "Write connections"). With a fence set (below), one commits.
 *
 * Memory and the store never disagree about what was acknowledged. Two kinds of writes:
 * - A client's change (a submission, a cancel, an administrative change) is prepared, queued
 *   with store_enqueue_client(), and applied to memory only once store_wait() says it is
 *   committed (re-checking under the server's lock what may have changed meanwhile). When its
 *   commit fails (disk full, I/O error) the transaction is rolled back, the batch is refused:
 *   the client gets a 503 and memory is untouched. While the store is degraded (below) a
 *   client batch is refused at once.
 * - A change that already happened in the world (a job started on a node, an agent's report of
 *   an exit, a node lost) cannot be undone: memory holds it, store_enqueue() queues it, and a
 *   failed commit keeps the batch and retries it, with a backoff up to 2 s, until it commits.
 *   Meanwhile the store is "degraded": reads go on, store_wait() on a kept batch answers -1
 *   (EAGAIN) at once rather than block, and nothing outside acts on it (the server hands out
 *   tasks, and answers an agent's report, only once everything before is durable).
 * The committer probes with a small write while degraded and nothing is kept, so writes resume
 * by themselves when the disk has room again; no restart. */
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
    STORE_JOB_DELETE,   /* id (retention: a finished job is purged), its events with it */
    STORE_TOKEN_DEL,    /* a = hash: the token is revoked */
    STORE_USER_PUT,     /* a = name, d = JSON document (the user's mapping, set at run time) */
    STORE_USER_DEL,     /* a = name */
    STORE_NODE_TOKENS_DEL, /* a = node name: deletes its node credentials (role node) */
    STORE_SETTING_PUT,  /* a = kind ("volume", "environment"), b = name, d = JSON document
                           (set at run time) */
    STORE_SETTING_DEL,  /* a = kind, b = name */
    STORE_EVENT_PUT,    /* id = seq, n = job id, a = type, d = JSON document (the event) */
    STORE_AUDIT_PUT,    /* id = seq, a = user, b = action, c = object, d = JSON document */
    STORE_SERIES_PUT,   /* id = resolution (0 raw, 1 hourly), n = time (epoch s), d = JSON
                           document of the point (series.c) */
    STORE_SERIES_DEL,   /* id = resolution: deletes its points with n <= time < m */
    /* artifacts (server/artifacts.h) */
    STORE_ARTIFACT_PUT, /* a = name, b = owning team, d = JSON document */
    STORE_ARTIFACT_VERSION_PUT, /* a = name, n = version, b = digest, d = JSON document */
    STORE_ARTIFACT_VERSION_DEL, /* a = name, n = version */
    STORE_ARTIFACT_ALIAS_PUT,   /* a = name, b = alias, n = version */
    STORE_ARTIFACT_ALIAS_DEL,   /* a = name, b = alias */
    STORE_NKINDS
} store_op_kind_t;

/* The schema's version (SQLite's user_version): a store with a higher one is refused. Version 2
 * added the tokens' created and expires columns and the users table, version 3 the settings
 * table (volumes and environments set at run time), version 4 the job_events and audit tables,
 * version 5 the series table (the server's own time series: series.h); an older store is
 * upgraded when opened. */
#define STORE_SCHEMA_VERSION 7
/* Version 6 added the artifacts, artifact_versions and artifact_aliases tables, version 7 the
 * leader table (the lease: below). */

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
/* Where the store is, for messages: "DIR/gantry.db", or "PostgreSQL database NAME on HOST"
 * (never a URL's password). Returns buf. */
const char *store_describe(const char *where, char *buf, size_t len);
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
/* The settings of one kind ("volume", "environment") set at run time, in name order. */
int store_load_settings(store_t *st, const char *kind,
                        int (*fn)(void *arg, const char *name, const char *doc), void *arg,
                        gt_error_t *err);
/* The time series points (series.h), oldest first, raw and hourly mixed in time order. */
int store_load_series(store_t *st, int (*fn)(void *arg, int res, int64_t t, const char *doc),
                      void *arg, gt_error_t *err);
/* Artifacts (server/artifacts.h): every artifact (name order), every version (name, then
 * version order), every alias (name, then alias order). */
int store_load_artifacts(store_t *st, int (*fn)(void *arg, const char *name, const char *doc),
                         void *arg, gt_error_t *err);
int store_load_artifact_versions(store_t *st, int (*fn)(void *arg, const char *name,
                                                        int64_t version, const char *doc),
                                 void *arg, gt_error_t *err);
int store_load_artifact_aliases(store_t *st, int (*fn)(void *arg, const char *name,
                                                       const char *alias, int64_t version),
                                void *arg, gt_error_t *err);
/* A meta value (counters); *out = dflt when absent. */
int store_meta_get(store_t *st, const char *key, int64_t dflt, int64_t *out, gt_error_t *err);
/* Calls fn once per meta row whose key starts with prefix, in key order; fn returns 0 to go on
 * or -1 to stop (then -1 with err). */
int store_load_meta(store_t *st, const char *prefix,
                    int (*fn)(void *arg, const char *key, int64_t value), void *arg,
                    gt_error_t *err);

/* Events and the audit log (server/events.h), read while the server runs: through a read-only
 * connection of their own, so that they see only what is committed and never wait for (nor
 * delay) the committer. Each calls fn(arg, seq, doc) per row in seq order, at most limit rows
 * (0: no limit) with seq > since; job 0 reads every job's events, else job's alone. *upto (may
 * be NULL) gets the highest seq of the table as this read saw it (0 when empty): every event
 * at or below it that is not returned was not asked for, or went with its job. fn returns 0 to
 * go on or -1 to stop (then -1 with fn's err). -1 with err (store_error) when SQLite fails. */
int store_read_events(store_t *st, uint64_t job, uint64_t since, size_t limit,
                      int (*fn)(void *arg, uint64_t seq, const char *doc, gt_error_t *err),
                      void *arg, uint64_t *upto, gt_error_t *err);
int store_read_audit(store_t *st, uint64_t since, size_t limit,
                     int (*fn)(void *arg, uint64_t seq, const char *doc, gt_error_t *err),
                     void *arg, uint64_t *upto, gt_error_t *err);

/* The highest seq ever stored in job_events (*event) and audit (*audit), rows deleted since
 * included (SQLite's AUTOINCREMENT keeps it): numbering goes on above it, never reusing a seq a
 * reader may have seen. 0 when none. 0, or -1 with err. */
int store_last_seqs(store_t *st, uint64_t *event, uint64_t *audit, gt_error_t *err);

/* Queues ops[0..n) (strings are copied) as a kept batch: a change memory already holds; it is
 * retried until it commits. Returns its ticket (> 0). */
uint64_t store_enqueue(store_t *st, const store_op_t *ops, size_t n);
/* Queues a client's change as one batch (strings copied): committed whole or refused whole
 * (refused at once while degraded). Its ticket must be waited for by exactly one store_wait()
 * (after a store_notify() if the caller parks), which tells which. */
uint64_t store_enqueue_client(store_t *st, const store_op_t *ops, size_t n);
/* The same, taking ownership of ops (from xcalloc) and of its strings (from malloc, or NULL):
 * no copy of a large array submission. */
uint64_t store_enqueue_client_owned(store_t *st, store_op_t *ops, size_t n);
/* Blocks until the batch with this ticket (and, for a kept batch, every earlier one; a client
 * batch may be answered as soon as its own transaction committed) is committed: 0. -1 with err
 * (code store_error) and errno EAGAIN when the store is degraded and the batch is not durable
 * (a kept batch: it will be, retry later; a client batch: refused, nothing changed), or EIO
 * when the store closed without committing it. Never blocks through an outage. */
int store_wait(store_t *st, uint64_t ticket, gt_error_t *err);
/* Calls fn(arg) once the batch with this ticket is settled (committed, refused, lost), or the
 * store is degraded, from the committer thread (or at once, from the caller, if it already
 * is); fn then calls store_wait(), which returns at once. fn must not block nor call back into
 * the store. */
void store_notify(store_t *st, uint64_t ticket, void (*fn)(void *arg), void *arg);
/* Non-blocking: whether that batch is committed. */
bool store_durable(store_t *st, uint64_t ticket);
/* Whether the last commit failed (and writes are refused until one succeeds). */
bool store_degraded(store_t *st);
/* The ticket of the last kept batch queued (0 if none): waiting for it waits for every change
 * memory holds so far. */
uint64_t store_last_kept(store_t *st);
/* Fault injection for tests: the next n commit attempts fail, after their writes, with result
 * code `code` (a SQLite one, SQLITE_FULL, SQLITE_IOERR, names it), and are rolled back. */
void store_fail_next_commits(store_t *st, int n, int code);
/* For tests: while held, no transaction starts (batches queue up); once released the next
 * one takes everything queued meanwhile, as a busy committer's does. */
void store_hold(store_t *st, bool hold);

/* ---- leader election (server/leader.h, docs/ha.md) ----
 * Several servers share one store; one leads. The lease is one row (table leader: holder,
 * url, epoch, expires in epoch milliseconds of the servers' clocks, which must be in step).
 * A lease call uses a connection of its own and waits for the committer's transaction at most
 * about a second. */

/* Takes the lease for holder (unique to this server process) at url (where clients and
 * agents reach it) for ttl_ms from now: renewed (same epoch) when holder has it, taken with
 * the next epoch when no one does or its holder's ran out. 0 (leader, *epoch its epoch), 1
 * (another holds it: *epoch theirs), or -1 with err when the store fails. */
int store_lease_acquire(store_t *st, const char *holder, const char *url, int64_t ttl_ms,
                        uint64_t *epoch, gt_error_t *err);
/* The leader's URL (*holder_url, malloc'd; NULL when no lease runs) and the last epoch
 * (0: never led). 0, or -1 with err. */
int store_lease_holder(store_t *st, char **holder_url, uint64_t *epoch, gt_error_t *err);
/* Ends holder's lease now (a clean stop): a standby takes over at its next try. */
int store_lease_release(store_t *st, const char *holder, gt_error_t *err);
/* From now on every commit checks, in its own transaction, that the lease's epoch is still
 * epoch; when it is not, that commit and every later write are refused (store_wait: -1,
 * errno ESTALE, code not_leader) and store_fenced() turns true: the server must step down. */
void store_set_fence(store_t *st, uint64_t epoch);
bool store_fenced(store_t *st);
/* When (gt_monotonic_s; 0: never) a commit carrying clients' changes had an unknown outcome:
 * its COMMIT's answer was lost with the connection and the database could not say since
 * whether it committed (PostgreSQL; never on SQLite). Those clients were answered so
 * (store_wait: -1, errno EIO, code store_error, "may or may not have been saved; ask again
 * with the same Idempotency-Key"); memory may lack what the store holds: the server must
 * reload its state from the store (server.c executes itself again; a leader steps down). */
double store_outcome_lost(store_t *st);

typedef struct store_stats {
    uint64_t batches, transactions;   /* batches queued; transactions (fsyncs) committed */
    uint64_t failed_commits;          /* commit attempts that failed (rolled back) */
    uint64_t refused;                 /* client batches refused */
    double commit_seconds;            /* time the committed transactions took, fsync included */
} store_stats_t;
void store_get_stats(store_t *st, store_stats_t *out);

#endif
