/* store_backend.h: the databases behind store.h (internal to src/server/store*.c).
 *
 * store.c owns what every database shares: the queue, the committer and its group commit, the
 * degraded mode, and the SQL of each write (store_op_t) and of each load. A backend owns one
 * kind of database: its location, connections, schema and migrations, transactions, and how
 * a statement is prepared, bound and run. One file per backend: store_sqlite.c (the embedded
 * default, a file under the data directory), store_pg.c (PostgreSQL, a postgresql:// URL).
 *
 * The SQL store.c passes is written once for every backend: `?` placeholders (a backend that
 * numbers them translates), types INTEGER/BIGINT/TEXT, `INSERT ... ON CONFLICT (...) DO
 * UPDATE` for upserts, the column `user` quoted ("user": PostgreSQL reserves the word), no
 * function one database lacks. The tables themselves (CREATE TABLE, each migration step) are
 * each backend's own, since column types and sequences differ. */
#ifndef GANTRY_STORE_BACKEND_H
#define GANTRY_STORE_BACKEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/util.h"
#include "server/store.h"

/* One open store: a backend's connections (opaque to store.c). */
typedef struct store_db store_db_t;

typedef enum store_val_type { STORE_VAL_NULL = 0, STORE_VAL_INT, STORE_VAL_TEXT } store_val_type_t;

/* A value bound to a `?` or read from a column. Text read from a row lives until the row
 * callback returns. */
typedef struct store_val {
    store_val_type_t type;
    int64_t i;
    const char *s;
} store_val_t;

/* Called once per row with its columns; returns 0 to go on, -1 to stop (with err set). */
typedef int (*store_row_fn)(void *arg, const store_val_t *cols, size_t ncols, gt_error_t *err);

typedef struct store_backend {
    const char *name; /* "sqlite", "postgresql": in messages */
    /* Whether `where` names a store of this kind (a URL scheme; SQLite takes the rest). */
    bool (*claims)(const char *where);
    /* store_secure_dir(), store_exists() for this kind (see store.h). */
    int (*secure)(const char *where, gt_error_t *err);
    /* store_describe() for this kind (see store.h). */
    const char *(*describe)(const char *where, char *buf, size_t len);
    bool (*exists)(const char *where);
    /* A new store at the current schema version, left inside its first transaction: store.c
     * writes the first records with exec(), then create_end() commits and puts the store in
     * place (commit true), or throws it away (false). create_end closes db in both cases.
     * -1 (EEXIST) with err when a store exists there. */
    int (*create_begin)(const char *where, store_db_t **out, gt_error_t *err);
    int (*create_end)(store_db_t *db, bool commit, gt_error_t *err);
    /* Opens an existing store: refused (-1 with err saying what to do) when missing, not a
     * Gantry store, or of a newer schema version than STORE_SCHEMA_VERSION; an older one is
     * upgraded in one transaction. Also opens the read connection (read_begin). */
    int (*open)(const char *where, store_db_t **out, gt_error_t *err);
    void (*close)(store_db_t *db); /* accepts NULL */

    /* Writes, on the write connection (one thread at a time: the committer, or create). */
    int (*begin)(store_db_t *db);
    /* Runs one statement. sql must be a string constant: its address keys the backend's
     * cache of prepared statements. 0, or -1 (errmsg says why). */
    int (*exec)(store_db_t *db, const char *sql, const store_val_t *v, size_t n);
    int (*commit)(store_db_t *db);
    void (*rollback)(store_db_t *db); /* harmless outside a transaction */
    /* The last error on the write connection, for messages. */
    const char *(*errmsg)(store_db_t *db);
    /* After a failed transaction (before the next begin): which statement the database
     * refused for its own values (a constraint, such as a NOT NULL column left NULL; a value
     * the column cannot hold), as its place among the exec() calls since begin (0: the
     * first); -1 when the failure was the database's (I/O, a full disk, a lost connection, a
     * lock, the commit itself) or is not known. store.c then refuses that statement's batch
     * alone and commits the others of the transaction again, without it. */
    long (*bad_statement)(store_db_t *db);
    /* After a failed commit() (before the next begin): whether its outcome is unknown: the
     * COMMIT was sent, its answer was lost with the connection, and the database could not
     * say afterwards (within a few seconds of trying) whether the transaction committed. A
     * commit() whose answer was lost but that the database then says committed returns 0; one
     * it says aborted fails as any other. NULL: never unknown (SQLite: a commit's result is
     * the library call's own, never lost on the way). */
    bool (*outcome_unknown)(store_db_t *db);
    /* Words for an injected failure (store_fail_next_commits' code). */
    const char *(*inject_msg)(int code);

    /* Reads. query() on the write connection (loading; or inside the calling thread's own
     * transaction, between begin and commit: it then sees that transaction's writes so far),
     * or on the read connection (reader true: committed rows only, never waiting for the
     * committer), between read_begin() and read_end() when several queries must see one
     * snapshot. -1 with err (store_error) when the database fails, or with the row callback's
     * err; a failed query inside a transaction fails its commit. */
    int (*query)(store_db_t *db, bool reader, const char *sql, const store_val_t *v, size_t n,
                 store_row_fn fn, void *arg, gt_error_t *err);
    int (*read_begin)(store_db_t *db, gt_error_t *err);
    void (*read_end)(store_db_t *db);
    /* store_last_seqs() (see store.h), on the read connection. */
    int (*last_seqs)(store_db_t *db, uint64_t *event, uint64_t *audit, gt_error_t *err);
    /* "ORDER BY" terms that list tokens in the order they were stored. */
    const char *tokens_order;
    /* The most write connections store.c may commit on at once (0 or 1: one; more on a
     * database that flushes concurrent sessions' commits together, PostgreSQL). One by
     * default; GANTRY_STORE_WRITERS=N asks for more, up to this. Each is an open() of its
     * own, with a thread of store.c's. Transactions on different connections never write the
     * same rows (store.c orders those), so the database's commit order between them is free. */
    int writers;
} store_backend_t;

extern const store_backend_t store_backend_sqlite;
extern const store_backend_t store_backend_pg;

#endif
