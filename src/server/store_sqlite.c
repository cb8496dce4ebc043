/* store_sqlite.c: the embedded store (store_backend.h): DIR/gantry.db in WAL mode, the default.
 *
 * The schema's version is SQLite's user_version; each version's tables are created by
 * `schema` (a new store) and by the migration steps in check_schema (an older one). */
#include "server/store_backend.h"

#include <errno.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct stmt_cache {
    const char *sql; /* the caller's constant: its address is the key */
    sqlite3_stmt *s;
} stmt_cache_t;

struct store_db {
    sqlite3 *db;
    sqlite3 *rdb;            /* read-only connection for events and audit (WAL: committed
                                rows only, no wait on the committer) */
    stmt_cache_t *cache;
    size_t ncache, cache_cap;
    long nexec;              /* exec() calls since begin */
    long bad;                /* the one refused for its values (bad_statement), or -1 */
    char dir[4096], path[4096], tmp[4096]; /* create: where the new store goes, and is built */
};

#define SETTINGS_TABLE                                                                      \
    "CREATE TABLE IF NOT EXISTS settings (kind TEXT NOT NULL, name TEXT NOT NULL,"            \
    "  doc TEXT NOT NULL, PRIMARY KEY (kind, name));"

#define EVENTS_TABLES                                                                      \
    "CREATE TABLE IF NOT EXISTS job_events (seq INTEGER PRIMARY KEY AUTOINCREMENT,"           \
    "  job INTEGER NOT NULL,"                                                                 \
    "  type TEXT NOT NULL, doc TEXT NOT NULL);"                                               \
    "CREATE INDEX IF NOT EXISTS job_events_job ON job_events (job, seq);"                     \
    "CREATE TABLE IF NOT EXISTS audit (seq INTEGER PRIMARY KEY AUTOINCREMENT,"                \
    "  user TEXT NOT NULL,"                                                                   \
    "  action TEXT NOT NULL, object TEXT NOT NULL, doc TEXT NOT NULL);"
#define SERIES_TABLE                                                                        \
    "CREATE TABLE IF NOT EXISTS series (res INTEGER NOT NULL, t INTEGER NOT NULL,"            \
    "  doc TEXT NOT NULL, PRIMARY KEY (res, t));"
/* The leader's lease (store.h, store_lease_acquire): one row, id 1, there from the start so
 * that every taker updates it (never two first inserts). */
#define LEADER_TABLE                                                                        \
    "CREATE TABLE IF NOT EXISTS leader (id INTEGER PRIMARY KEY, holder TEXT NOT NULL,"        \
    "  url TEXT NOT NULL, epoch BIGINT NOT NULL, expires BIGINT NOT NULL);"                   \
    "INSERT INTO leader (id, holder, url, epoch, expires) VALUES (1, '', '', 0, 0) "          \
    "  ON CONFLICT (id) DO NOTHING;"

/* Artifacts (version 6; server/artifacts.h): documents keyed by name; a version's document is
 * rewritten only to hide it. */
#define ARTIFACT_TABLES                                                                     \
    "CREATE TABLE IF NOT EXISTS artifacts (name TEXT PRIMARY KEY, team TEXT NOT NULL,"        \
    "  doc TEXT NOT NULL);"                                                                   \
    "CREATE TABLE IF NOT EXISTS artifact_versions (name TEXT NOT NULL,"                       \
    "  version BIGINT NOT NULL, digest TEXT NOT NULL, doc TEXT NOT NULL,"                     \
    "  PRIMARY KEY (name, version));"                                                         \
    "CREATE TABLE IF NOT EXISTS artifact_aliases (name TEXT NOT NULL, alias TEXT NOT NULL,"   \
    "  version BIGINT NOT NULL, PRIMARY KEY (name, alias));"

static const char *schema =
    "CREATE TABLE IF NOT EXISTS jobs (id INTEGER PRIMARY KEY, team TEXT NOT NULL,"
    "  user TEXT NOT NULL, state TEXT NOT NULL, doc TEXT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS tokens (hash TEXT PRIMARY KEY, user TEXT NOT NULL,"
    "  role TEXT NOT NULL, team TEXT, created INTEGER NOT NULL DEFAULT 0,"
    "  expires INTEGER NOT NULL DEFAULT 0);"
    "CREATE TABLE IF NOT EXISTS nodes (name TEXT PRIMARY KEY, epoch INTEGER NOT NULL,"
    "  doc TEXT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS teams (name TEXT PRIMARY KEY, doc TEXT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS users (name TEXT PRIMARY KEY, doc TEXT NOT NULL);"
    SETTINGS_TABLE
    EVENTS_TABLES SERIES_TABLE ARTIFACT_TABLES LEADER_TABLE;

/* The tables of schema 1; version 2 added users, version 3 settings, version 4 job_events and
 * audit, version 5 series, version 6 the artifacts', version 7 leader (each checked from its
 * version on). */
static const char *const tables[] = {"jobs", "tokens", "nodes", "teams", "meta", "users",
                                     "settings", "job_events", "audit", "series",
                                     "artifacts", "artifact_versions", "artifact_aliases",
                                     "leader"};
/* How many of tables[] a store of that version has. */
static size_t tables_of(int64_t version)
{
    return version < 2 ? 5 : version < 3 ? 6 : version < 4 ? 7 : version < 5 ? 9 :
           version < 6 ? 10 : version < 7 ? 13 : 14;
}

static int db_fail(store_db_t *d, gt_error_t *err, const char *what)
{
    errno = EIO;
    return gt_error_set(err, "store_error", "the job store failed to %s: %s", what,
                        d && d->db ? sqlite3_errmsg(d->db) : "no database");
}

static void db_path(char *buf, size_t len, const char *dir, const char *suffix)
{
    snprintf(buf, len, "%s/gantry.db%s", dir, suffix);
}

static bool sq_claims(const char *where)
{
    (void)where;
    return true; /* a directory: anything no other backend claims */
}

static const char *sq_describe(const char *dir, char *buf, size_t len)
{
    snprintf(buf, len, "%s", dir);
    return buf;
}

/* Takes extra permission bits away from path (mode want); says so on stderr. */
static int tighten(const char *path, bool is_dir, unsigned want, gt_error_t *err)
{
    unsigned old = 0;
    int rc = gt_tighten_mode(path, is_dir, want, &old, err);
    if (rc > 0)
        fprintf(stderr, "gantry server: %s had mode %04o (open to other users); it is now "
                        "%04o.\n", path, old, want);
    if (rc < 0 && err)
        snprintf(err->code, sizeof(err->code), "store_error");
    return rc < 0 ? -1 : 0;
}

static int sq_secure(const char *dir, gt_error_t *err)
{
    if (mkdir(dir, 0700) < 0 && errno != EEXIST)
        return gt_error_set(err, "store_error", "cannot create data directory %s: %s", dir,
                            strerror(errno));
    char path[4096];
    if (tighten(dir, true, 0700, err) < 0)
        return -1;
    static const char *const files[] = {"", "-wal", "-shm"};
    for (size_t i = 0; i < 3; i++) {
        db_path(path, sizeof(path), dir, files[i]);
        if (tighten(path, false, 0600, err) < 0)
            return -1;
    }
    return 0;
}

static bool sq_exists(const char *dir)
{
    char path[4096];
    struct stat sb;
    db_path(path, sizeof(path), dir, "");
    if (lstat(path, &sb) == 0)
        return true;
    db_path(path, sizeof(path), dir, "-wal");
    return lstat(path, &sb) == 0;
}

/* What to do with a store that cannot be used: said once, at the end of each refusal. */
#define STORE_ADVICE                                                                        \
    "the server never replaces an existing store: restore the data directory from a backup, " \
    "or move gantry.db (and gantry.db-wal, gantry.db-shm) away to start a new, empty cluster"

/* Checks that an opened database is a Gantry store this version can use (its schema version
 * and every table); upgrades an older one to the current version. */
static int check_schema(store_db_t *d, const char *path, gt_error_t *err)
{
    sqlite3_stmt *s = NULL;
    int rc = sqlite3_prepare_v2(d->db, "PRAGMA user_version", -1, &s, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(s);
    int64_t version = rc == SQLITE_ROW ? sqlite3_column_int64(s, 0) : -1;
    sqlite3_finalize(s);
    if (rc != SQLITE_ROW) {
        errno = EINVAL;
        return gt_error_set(err, "store_error", "%s is not a readable SQLite database (%s); "
                            STORE_ADVICE, path, sqlite3_errmsg(d->db));
    }
    if (version > STORE_SCHEMA_VERSION) {
        errno = EINVAL;
        return gt_error_set(err, "store_error", "%s has schema version %lld, newer than this "
                            "gantry's (%d): run the gantry that wrote it", path,
                            (long long)version, STORE_SCHEMA_VERSION);
    }
    size_t ntables = tables_of(version);
    for (size_t i = 0; i < ntables; i++) {
        s = NULL;
        rc = sqlite3_prepare_v2(d->db, "SELECT 1 FROM sqlite_master WHERE type = 'table' AND "
                                       "name = ?", -1, &s, NULL);
        if (rc == SQLITE_OK) {
            sqlite3_bind_text(s, 1, tables[i], -1, SQLITE_STATIC);
            rc = sqlite3_step(s);
        }
        sqlite3_finalize(s);
        if (rc == SQLITE_DONE) {
            errno = EINVAL;
            return gt_error_set(err, "store_error", "%s has no '%s' table: it is damaged or "
                                "not a Gantry store; " STORE_ADVICE, path, tables[i]);
        }
        if (rc != SQLITE_ROW) {
            errno = EINVAL;
            return gt_error_set(err, "store_error", "%s cannot be read (%s); " STORE_ADVICE,
                                path, sqlite3_errmsg(d->db));
        }
    }
    if (version < STORE_SCHEMA_VERSION) {
        /* Version 1 (or a store from before versioning, the same tables): tokens gain when
         * they were created and expire, and the users' mappings get their table; version 2:
         * the settings (volumes, environments) set at run time get theirs; version 3: the job
         * events and the audit log theirs; version 4: the time series (series.h) its own;
         * version 5: the artifact registry its tables; version 6: the leader's lease
         * (store_lease_acquire) its own. One
         * transaction: the store is upgraded whole or not at all. */
        char sql[4096];
        snprintf(sql, sizeof(sql), "BEGIN IMMEDIATE;%s" SETTINGS_TABLE EVENTS_TABLES SERIES_TABLE
                 ARTIFACT_TABLES LEADER_TABLE "PRAGMA user_version = %d; COMMIT;", version < 2 ?
                 "ALTER TABLE tokens ADD COLUMN created INTEGER NOT NULL DEFAULT 0;"
                 "ALTER TABLE tokens ADD COLUMN expires INTEGER NOT NULL DEFAULT 0;"
                 "CREATE TABLE IF NOT EXISTS users (name TEXT PRIMARY KEY, doc TEXT NOT NULL);"
                 : "", STORE_SCHEMA_VERSION);
        if (sqlite3_exec(d->db, sql, NULL, NULL, NULL) != SQLITE_OK) {
            int rc = db_fail(d, err, "upgrade its schema");
            sqlite3_exec(d->db, "ROLLBACK", NULL, NULL, NULL);
            return rc;
        }
        if (version < 5)
            fprintf(stderr, "gantry server: %s upgraded from schema version %lld to %d (%s%s%s"
                            "the time series).\n", path, (long long)version,
                    STORE_SCHEMA_VERSION, version < 2 ? "tokens' creation and expiry times, "
                    "users' mappings, " : "", version < 3 ? "settings set at run time, " : "",
                    version < 4 ? "job events and the audit log, " : "");
        if (version < 6) /* version 5: the artifact registry's tables */
            fprintf(stderr, "gantry server: %s upgraded to schema version %d (the artifact "
                            "registry's tables).\n", path, STORE_SCHEMA_VERSION);
        if (version < 7) /* version 6: the leader's lease (store_lease_acquire) */
            fprintf(stderr, "gantry server: %s upgraded to schema version %d (the leader's "
                            "lease).\n", path, STORE_SCHEMA_VERSION);
    }
    return 0;
}

static void sq_close(store_db_t *d)
{
    if (!d)
        return;
    for (size_t i = 0; i < d->ncache; i++)
        sqlite3_finalize(d->cache[i].s);
    free(d->cache);
    sqlite3_close(d->rdb);
    sqlite3_close(d->db);
    free(d);
}

static int sq_create_begin(const char *dir, store_db_t **out, gt_error_t *err)
{
    char path[4096], tmp[4096], journal[4200];
    db_path(path, sizeof(path), dir, "");
    db_path(tmp, sizeof(tmp), dir, ".new");
    snprintf(journal, sizeof(journal), "%s-journal", tmp);
    if (sq_exists(dir)) {
        errno = EEXIST;
        return gt_error_set(err, "store_error", "%s already exists; a store is created only "
                            "where there is none", path);
    }
    /* Built aside and renamed into place: a crash leaves no gantry.db, or a whole one. */
    unlink(tmp);
    unlink(journal);
    store_db_t *d = xcalloc(1, sizeof(*d));
    snprintf(d->dir, sizeof(d->dir), "%s", dir);
    memcpy(d->path, path, sizeof(path));
    memcpy(d->tmp, tmp, sizeof(tmp));
    if (sqlite3_open_v2(tmp, &d->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) !=
        SQLITE_OK) {
        db_fail(d, err, "create its database");
        goto fail;
    }
    char version[64];
    snprintf(version, sizeof(version), "PRAGMA user_version = %d;", STORE_SCHEMA_VERSION);
    if (chmod(tmp, 0600) < 0 ||
        sqlite3_exec(d->db, "PRAGMA synchronous=FULL; BEGIN;", NULL, NULL, NULL) != SQLITE_OK ||
        sqlite3_exec(d->db, schema, NULL, NULL, NULL) != SQLITE_OK ||
        sqlite3_exec(d->db, version, NULL, NULL, NULL) != SQLITE_OK) {
        db_fail(d, err, "create its tables");
        goto fail;
    }
    *out = d;
    return 0;
fail:
    sq_close(d);
    unlink(tmp);
    unlink(journal);
    errno = EIO;
    return -1;
}

static int sq_create_end(store_db_t *d, bool commit, gt_error_t *err)
{
    char path[4096], tmp[4096], journal[4200], dir[4096];
    memcpy(dir, d->dir, sizeof(dir));
    memcpy(path, d->path, sizeof(path));
    memcpy(tmp, d->tmp, sizeof(tmp));
    snprintf(journal, sizeof(journal), "%s-journal", tmp);
    int rc = 0;
    if (commit && sqlite3_exec(d->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
        rc = db_fail(d, err, "commit its first records");
    sq_close(d);
    if (commit && rc == 0 && (rename(tmp, path) < 0 || gt_fsync_dir(dir) < 0))
        rc = gt_error_set(err, "store_error", "cannot put %s in place: %s", path,
                          strerror(errno));
    if (!commit || rc < 0) {
        unlink(tmp);
        unlink(journal);
        errno = EIO;
        return -1;
    }
    return 0;
}

static int sq_open(const char *dir, store_db_t **out, gt_error_t *err)
{
    char path[4096];
    db_path(path, sizeof(path), dir, "");
    struct stat sb;
    if (sq_secure(dir, err) < 0)
        return -1;
    if (stat(path, &sb) < 0) {
        int e = errno;
        gt_error_set(err, "store_error", "%s: %s%s", path, strerror(e),
                     e == ENOENT && sq_exists(dir)
                         ? " (but gantry.db-wal is there: the store is incomplete; " STORE_ADVICE ")"
                         : "");
        errno = e;
        return -1;
    }
    if (sb.st_size == 0) {
        errno = EINVAL;
        return gt_error_set(err, "store_error", "%s is empty (0 bytes): it is not a Gantry "
                            "store; " STORE_ADVICE, path);
    }
    store_db_t *d = xcalloc(1, sizeof(*d));
    /* No SQLITE_OPEN_CREATE: a store that vanished is an error, never a new empty one. */
    if (sqlite3_open_v2(path, &d->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_FULLMUTEX, NULL) !=
        SQLITE_OK) {
        db_fail(d, err, "open");
        goto fail;
    }
    sqlite3_busy_timeout(d->db, 5000);
    if (check_schema(d, path, err) < 0)
        goto fail;
    /* WAL plus synchronous=FULL: a commit is on disk (fsync) when COMMIT returns. */
    if (sqlite3_exec(d->db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;", NULL, NULL,
                     NULL) != SQLITE_OK) {
        db_fail(d, err, "enter WAL mode");
        goto fail;
    }
    /* The WAL and shared-memory files SQLite just made take the database's mode; make sure. */
    if (sq_secure(dir, err) < 0)
        goto fail;
    if (sqlite3_open_v2(path, &d->rdb, SQLITE_OPEN_READONLY | SQLITE_OPEN_FULLMUTEX, NULL) !=
        SQLITE_OK) {
        gt_error_set(err, "store_error", "the job store failed to open %s for reading: %s", path,
                     d->rdb ? sqlite3_errmsg(d->rdb) : "out of memory");
        goto fail;
    }
    sqlite3_busy_timeout(d->rdb, 5000);
    *out = d;
    return 0;
fail:
    sq_close(d);
    errno = EIO;
    return -1;
}

static int sq_begin(store_db_t *d)
{
    d->nexec = 0;
    d->bad = -1;
    return sqlite3_exec(d->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) == SQLITE_OK ? 0 : -1;
}

static int sq_commit(store_db_t *d)
{
    return sqlite3_exec(d->db, "COMMIT", NULL, NULL, NULL) == SQLITE_OK ? 0 : -1;
}

static void sq_rollback(store_db_t *d)
{
    if (!sqlite3_get_autocommit(d->db))
        sqlite3_exec(d->db, "ROLLBACK", NULL, NULL, NULL);
}

static const char *sq_errmsg(store_db_t *d) { return sqlite3_errmsg(d->db); }

static long sq_bad_statement(store_db_t *d) { return d->bad; }

/* Whether a statement's result code is about its own values, not the database's state. */
static bool values_refused(int rc)
{
    switch (rc & 0xff) {
    case SQLITE_CONSTRAINT:
    case SQLITE_MISMATCH:
    case SQLITE_TOOBIG:
    case SQLITE_RANGE:
        return true;
    default:
        return false;
    }
}

static const char *sq_inject_msg(int code) { return sqlite3_errstr(code); }

static void bind_all(sqlite3_stmt *s, const store_val_t *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        int k = (int)i + 1;
        switch (v[i].type) {
        case STORE_VAL_NULL:
            sqlite3_bind_null(s, k);
            break;
        case STORE_VAL_INT:
            sqlite3_bind_int64(s, k, (sqlite3_int64)v[i].i);
            break;
        case STORE_VAL_TEXT:
            if (v[i].s)
                sqlite3_bind_text(s, k, v[i].s, -1, SQLITE_STATIC);
            else
                sqlite3_bind_null(s, k);
            break;
        }
    }
}

/* The write connection's prepared statement for sql (cached by its address). */
static sqlite3_stmt *cached(store_db_t *d, const char *sql)
{
    for (size_t i = 0; i < d->ncache; i++)
        if (d->cache[i].sql == sql)
            return d->cache[i].s;
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(d->db, sql, -1, &s, NULL) != SQLITE_OK)
        return NULL;
    GT_GROW(d->cache, d->cache_cap, d->ncache + 1);
    d->cache[d->ncache++] = (stmt_cache_t){sql, s};
    return s;
}

static int sq_exec(store_db_t *d, const char *sql, const store_val_t *v, size_t n)
{
    sqlite3_stmt *s = cached(d, sql);
    if (!s)
        return -1;
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    bind_all(s, v, n);
    int rc = sqlite3_step(s);
    sqlite3_reset(s);
    long at = d->nexec++;
    if (rc != SQLITE_DONE && values_refused(rc))
        d->bad = at;
    return rc == SQLITE_DONE ? 0 : -1;
}

static int rd_fail(sqlite3 *db, gt_error_t *err, bool reader)
{
    errno = EIO;
    return gt_error_set(err, "store_error", "the job store failed to %s: %s",
                        reader ? "read its events" : "read its tables", sqlite3_errmsg(db));
}

#define MAX_COLS 16

static int sq_query(store_db_t *d, bool reader, const char *sql, const store_val_t *v, size_t n,
                    store_row_fn fn, void *arg, gt_error_t *err)
{
    sqlite3 *db = reader ? d->rdb : d->db;
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK)
        return rd_fail(db, err, reader);
    bind_all(s, v, n);
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        store_val_t cols[MAX_COLS];
        int nc = sqlite3_column_count(s);
        if (nc > MAX_COLS)
            nc = MAX_COLS;
        for (int i = 0; i < nc; i++) {
            switch (sqlite3_column_type(s, i)) {
            case SQLITE_NULL:
                cols[i] = (store_val_t){STORE_VAL_NULL, 0, NULL};
                break;
            case SQLITE_INTEGER:
            case SQLITE_FLOAT:
                cols[i] = (store_val_t){STORE_VAL_INT, sqlite3_column_int64(s, i), NULL};
                break;
            default:
                cols[i] = (store_val_t){STORE_VAL_TEXT, sqlite3_column_int64(s, i),
                                        (const char *)sqlite3_column_text(s, i)};
                break;
            }
        }
        if (fn(arg, cols, (size_t)nc, err) < 0) {
            sqlite3_finalize(s);
            errno = EINVAL;
            return -1;
        }
    }
    sqlite3_finalize(s);
    return rc == SQLITE_DONE ? 0 : rd_fail(db, err, reader);
}

static int sq_read_begin(store_db_t *d, gt_error_t *err)
{
    return sqlite3_exec(d->rdb, "BEGIN", NULL, NULL, NULL) == SQLITE_OK
               ? 0 : rd_fail(d->rdb, err, true);
}

static void sq_read_end(store_db_t *d) { sqlite3_exec(d->rdb, "COMMIT", NULL, NULL, NULL); }

/* SQLite's AUTOINCREMENT keeps the highest seq ever used, rows deleted since included. */
static int sq_last_seqs(store_db_t *d, uint64_t *event, uint64_t *audit, gt_error_t *err)
{
    *event = *audit = 0;
    sqlite3_stmt *s = NULL;
    int rc = sqlite3_prepare_v2(d->rdb, "SELECT name, seq FROM sqlite_sequence WHERE name IN "
                                        "('job_events', 'audit')", -1, &s, NULL);
    while (rc == SQLITE_OK && (rc = sqlite3_step(s)) == SQLITE_ROW) {
        const char *name = (const char *)sqlite3_column_text(s, 0);
        uint64_t v = (uint64_t)sqlite3_column_int64(s, 1);
        *(name && !strcmp(name, "audit") ? audit : event) = v;
        rc = SQLITE_OK;
    }
    sqlite3_finalize(s);
    if (rc != SQLITE_DONE)
        return rd_fail(d->rdb, err, true);
    return 0;
}

const store_backend_t store_backend_sqlite = {
    .name = "sqlite",
    .claims = sq_claims,
    .secure = sq_secure,
    .describe = sq_describe,
    .exists = sq_exists,
    .create_begin = sq_create_begin,
    .create_end = sq_create_end,
    .open = sq_open,
    .close = sq_close,
    .begin = sq_begin,
    .exec = sq_exec,
    .commit = sq_commit,
    .rollback = sq_rollback,
    .errmsg = sq_errmsg,
    .bad_statement = sq_bad_statement,
    .inject_msg = sq_inject_msg,
    .query = sq_query,
    .read_begin = sq_read_begin,
    .read_end = sq_read_end,
    .last_seqs = sq_last_seqs,
    .tokens_order = "rowid",
};
