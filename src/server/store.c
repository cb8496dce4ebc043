#include "server/store.h"

#include <errno.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

typedef struct batch {
    store_op_t *ops;
    size_t n;
    uint64_t ticket;
    bool client;               /* a client's change: refused as a whole when its commit fails */
    struct batch *next;
} batch_t;

typedef struct notify {
    uint64_t ticket;
    void (*fn)(void *);
    void *arg;
    struct notify *next;
} notify_t;

struct store {
    notify_t *notify;          /* unordered; short (the parked connections) */
    sqlite3 *db;
    sqlite3_stmt *put[STORE_NKINDS];   /* one prepared statement per op kind */
    sqlite3_stmt *del_events;  /* STORE_JOB_DELETE's second statement: the job's events */
    sqlite3 *rdb;              /* read-only connection for events and audit (WAL: committed
                                  rows only, no wait on the committer) */
    pthread_mutex_t rd_mu;     /* one read transaction at a time on rdb */
    pthread_t committer;
    bool started, stopping;
    bool degraded;             /* the last commit failed; its kept batches are being retried */
    bool closed;               /* closed with batches it could not commit (they are lost) */
    char fail_msg[256];        /* why the last commit failed */
    pthread_mutex_t mu;
    pthread_cond_t queued;     /* committer waits for work */
    pthread_cond_t committed;  /* writers wait for their ticket */
    pthread_cond_t retry;      /* committer waits out its backoff (close wakes it) */
    batch_t *head, *tail;      /* in ticket order */
    uint64_t next_ticket;
    uint64_t done_ticket;      /* every batch up to here is committed or refused */
    uint64_t last_kept;        /* the last non-client batch's ticket */
    uint64_t *refused;         /* refused client tickets not yet waited for (short) */
    size_t nrefused, refused_cap;
    int inject_n, inject_code; /* store_fail_next_commits() */
    store_stats_t stats;
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
    EVENTS_TABLES SERIES_TABLE;

static const char *put_sql[STORE_NKINDS] = {
    [STORE_JOB_PUT] = "INSERT OR REPLACE INTO jobs (id, team, user, state, doc) VALUES (?,?,?,?,?)",
    [STORE_TOKEN_PUT] = "INSERT OR REPLACE INTO tokens (hash, user, role, team, created, expires) "
                        "VALUES (?,?,?,?,?,?)",
    [STORE_TOKEN_DEL] = "DELETE FROM tokens WHERE hash = ?",
    [STORE_USER_PUT] = "INSERT OR REPLACE INTO users (name, doc) VALUES (?,?)",
    [STORE_USER_DEL] = "DELETE FROM users WHERE name = ?",
    [STORE_NODE_PUT] = "INSERT OR REPLACE INTO nodes (name, epoch, doc) VALUES (?,?,?)",
    [STORE_TEAM_PUT] = "INSERT OR REPLACE INTO teams (name, doc) VALUES (?,?)",
    [STORE_META_PUT] = "INSERT OR REPLACE INTO meta (key, value) VALUES (?,?)",
    [STORE_JOB_DELETE] = "DELETE FROM jobs WHERE id = ?",
    [STORE_NODE_TOKENS_DEL] = "DELETE FROM tokens WHERE role = 'node' AND user = ?",
    [STORE_SETTING_PUT] = "INSERT OR REPLACE INTO settings (kind, name, doc) VALUES (?,?,?)",
    [STORE_SETTING_DEL] = "DELETE FROM settings WHERE kind = ? AND name = ?",
    [STORE_EVENT_PUT] = "INSERT OR REPLACE INTO job_events (seq, job, type, doc) VALUES (?,?,?,?)",
    [STORE_AUDIT_PUT] = "INSERT OR REPLACE INTO audit (seq, user, action, object, doc) "
                        "VALUES (?,?,?,?,?)",
    [STORE_SERIES_PUT] = "INSERT OR REPLACE INTO series (res, t, doc) VALUES (?,?,?)",
    [STORE_SERIES_DEL] = "DELETE FROM series WHERE res = ? AND t >= ? AND t < ?",
};
static const char *del_events_sql = "DELETE FROM job_events WHERE job = ?";

static int db_fail(store_t *st, gt_error_t *err, const char *what)
{
    errno = EIO;
    return gt_error_set(err, "store_error", "the job store failed to %s: %s", what,
                        st && st->db ? sqlite3_errmsg(st->db) : "no database");
}

static char *dup_or_null(const char *s) { return s ? xstrdup(s) : NULL; }

static void batch_free(batch_t *b)
{
    if (!b)
        return;
    for (size_t i = 0; i < b->n; i++) {
        free((char *)b->ops[i].a);
        free((char *)b->ops[i].b);
        free((char *)b->ops[i].c);
        free((char *)b->ops[i].d);
    }
    free(b->ops);
    free(b);
}

static int bind_text(sqlite3_stmt *s, int i, const char *v)
{
    return v ? sqlite3_bind_text(s, i, v, -1, SQLITE_STATIC) : sqlite3_bind_null(s, i);
}

static int exec_op(store_t *st, const store_op_t *op)
{
    sqlite3_stmt *s = st->put[op->kind];
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    switch (op->kind) {
    case STORE_JOB_PUT:
        sqlite3_bind_int64(s, 1, (sqlite3_int64)op->id);
        bind_text(s, 2, op->a);
        bind_text(s, 3, op->b);
        bind_text(s, 4, op->c);
        bind_text(s, 5, op->d);
        break;
    case STORE_TOKEN_PUT:
        bind_text(s, 1, op->a);
        bind_text(s, 2, op->b);
        bind_text(s, 3, op->c);
        bind_text(s, 4, op->d);
        sqlite3_bind_int64(s, 5, op->n);
        sqlite3_bind_int64(s, 6, op->m);
        break;
    case STORE_TOKEN_DEL:
    case STORE_USER_DEL:
        bind_text(s, 1, op->a);
        break;
    case STORE_USER_PUT:
        bind_text(s, 1, op->a);
        bind_text(s, 2, op->d);
        break;
    case STORE_NODE_PUT:
        bind_text(s, 1, op->a);
        sqlite3_bind_int64(s, 2, op->n);
        bind_text(s, 3, op->d);
        break;
    case STORE_TEAM_PUT:
        bind_text(s, 1, op->a);
        bind_text(s, 2, op->d);
        break;
    case STORE_META_PUT:
        bind_text(s, 1, op->a);
        sqlite3_bind_int64(s, 2, op->n);
        break;
    case STORE_JOB_DELETE:
        sqlite3_bind_int64(s, 1, (sqlite3_int64)op->id);
        if (st->del_events) { /* its events go with it */
            sqlite3_reset(st->del_events);
            sqlite3_bind_int64(st->del_events, 1, (sqlite3_int64)op->id);
            int rc = sqlite3_step(st->del_events);
            sqlite3_reset(st->del_events);
            if (rc != SQLITE_DONE)
                return -1;
        }
        break;
    case STORE_EVENT_PUT:
        sqlite3_bind_int64(s, 1, (sqlite3_int64)op->id);
        sqlite3_bind_int64(s, 2, op->n);
        bind_text(s, 3, op->a);
        bind_text(s, 4, op->d);
        break;
    case STORE_AUDIT_PUT:
        sqlite3_bind_int64(s, 1, (sqlite3_int64)op->id);
        bind_text(s, 2, op->a);
        bind_text(s, 3, op->b);
        bind_text(s, 4, op->c);
        bind_text(s, 5, op->d);
        break;
    case STORE_NODE_TOKENS_DEL:
        bind_text(s, 1, op->a);
        break;
    case STORE_SETTING_PUT:
        bind_text(s, 1, op->a);
        bind_text(s, 2, op->b);
        bind_text(s, 3, op->d);
        break;
    case STORE_SETTING_DEL:
        bind_text(s, 1, op->a);
        bind_text(s, 2, op->b);
        break;
    case STORE_SERIES_PUT:
        sqlite3_bind_int64(s, 1, (sqlite3_int64)op->id);
        sqlite3_bind_int64(s, 2, op->n);
        bind_text(s, 3, op->d);
        break;
    case STORE_SERIES_DEL:
        sqlite3_bind_int64(s, 1, (sqlite3_int64)op->id);
        sqlite3_bind_int64(s, 2, op->n);
        sqlite3_bind_int64(s, 3, op->m);
        break;
    case STORE_NKINDS:
        return -1;
    }
    int rc = sqlite3_step(s);
    sqlite3_reset(s);
    return rc == SQLITE_DONE ? 0 : -1;
}

/* ---- the committer ---- */

static bool refused_has(const store_t *st, uint64_t t)
{
    for (size_t i = 0; i < st->nrefused; i++)
        if (st->refused[i] == t)
            return true;
    return false;
}

static void refused_add(store_t *st, uint64_t t)
{
    GT_GROW(st->refused, st->refused_cap, st->nrefused + 1);
    st->refused[st->nrefused++] = t;
    st->stats.refused++;
}

static bool refused_take(store_t *st, uint64_t t)
{
    for (size_t i = 0; i < st->nrefused; i++)
        if (st->refused[i] == t) {
            st->refused[i] = st->refused[--st->nrefused];
            return true;
        }
    return false;
}

/* A ticket's fate is known (committed, refused, lost) or, while degraded, not known soon. */
static bool settled(const store_t *st, uint64_t t)
{
    return t <= st->done_ticket || refused_has(st, t) || st->closed || st->degraded;
}

/* Unlinks the notifications whose ticket is settled and returns them. Caller holds mu. */
static notify_t *take_settled(store_t *st)
{
    notify_t *ready = NULL, **pp = &st->notify;
    while (*pp) {
        notify_t *nt = *pp;
        if (settled(st, nt->ticket)) {
            *pp = nt->next;
            nt->next = ready;
            ready = nt;
        } else {
            pp = &nt->next;
        }
    }
    return ready;
}

static void run_notifies(notify_t *ready)
{
    while (ready) {
        notify_t *next = ready->next;
        ready->fn(ready->arg);
        free(ready);
        ready = next;
    }
}

/* One transaction for every batch of list, in order; msg says why when it fails (rolled
 * back). inject (a SQLite result code, 0 for none) fails it after its writes, as a disk
 * that fills up at COMMIT does. */
static bool commit_list(store_t *st, const batch_t *list, int inject, char *msg, size_t len)
{
    bool okay = sqlite3_exec(st->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) == SQLITE_OK;
    for (const batch_t *b = list; okay && b; b = b->next)
        for (size_t i = 0; okay && i < b->n; i++)
            okay = exec_op(st, &b->ops[i]) == 0;
    if (okay && inject) {
        snprintf(msg, len, "%s (injected)", sqlite3_errstr(inject));
        okay = false;
    } else if (okay) {
        okay = sqlite3_exec(st->db, "COMMIT", NULL, NULL, NULL) == SQLITE_OK;
    }
    if (!okay && !msg[0])
        snprintf(msg, len, "%s", sqlite3_errmsg(st->db));
    if (!okay && !sqlite3_get_autocommit(st->db))
        sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
    return okay;
}

/* After a failed commit: every client batch (of list, and queued since) is refused; the
 * others, which memory already reflects, stay queued in order to be retried. Holds mu. */
static void refuse_clients(store_t *st, batch_t *list)
{
    if (st->head) {
        batch_t *end = list;
        while (end->next)
            end = end->next;
        end->next = st->head;
    }
    st->head = st->tail = NULL;
    while (list) {
        batch_t *next = list->next;
        list->next = NULL;
        if (list->client) {
            refused_add(st, list->ticket);
            batch_free(list);
        } else {
            if (st->tail)
                st->tail->next = list;
            else
                st->head = list;
            st->tail = list;
        }
        list = next;
    }
}

static size_t count_batches(const batch_t *b)
{
    size_t n = 0;
    for (; b; b = b->next)
        n++;
    return n;
}

/* Commits every queued batch in one transaction, in ticket order (group commit). A failed
 * commit refuses the client batches and retries the rest with a backoff (up to 2 s); with
 * nothing left to retry it probes with a one-row write, so that writes resume by themselves
 * once the disk has room again. */
static void *committer_main(void *arg)
{
    store_t *st = arg;
    double backoff = 0.05;
    size_t logged_kept = 0;
    pthread_mutex_lock(&st->mu);
    for (;;) {
        while (!st->head && !st->stopping && !st->degraded)
            pthread_cond_wait(&st->queued, &st->mu);
        if (!st->head && (st->stopping || st->closed))
            break;
        batch_t *list = st->head, probe_batch = {0};
        store_op_t probe_op = {.kind = STORE_META_PUT, .a = "store_probe"};
        st->head = st->tail = NULL;
        if (!list) { /* degraded with nothing kept: a probe write */
            probe_op.n = (int64_t)time(NULL);
            probe_batch = (batch_t){.ops = &probe_op, .n = 1};
        }
        int inject = 0;
        if (st->inject_n > 0) {
            st->inject_n--;
            inject = st->inject_code;
        }
        pthread_mutex_unlock(&st->mu);

        char msg[256] = "";
        bool okay = commit_list(st, list ? list : &probe_batch, inject, msg, sizeof(msg));
        uint64_t last = 0;
        for (batch_t *b = list; b; b = b->next)
            last = b->ticket;

        pthread_mutex_lock(&st->mu);
        if (okay) {
            while (list) {
                batch_t *next = list->next;
                batch_free(list);
                list = next;
            }
            if (st->degraded)
                fprintf(stderr, "gantry server: the store commits again; writes resume.\n");
            st->degraded = false;
            backoff = 0.05;
            st->stats.transactions++;
            if (last)
                st->done_ticket = last;
        } else {
            st->stats.failed_commits++;
            if (list)
                refuse_clients(st, list);
            size_t kept = count_batches(st->head);
            if (!st->degraded || strcmp(st->fail_msg, msg) || kept != logged_kept)
                fprintf(stderr, "gantry server: the store cannot commit (%s): client writes are "
                                "refused (503); changes already made (batches kept: %zu) are "
                                "retried until it can.\n", msg, kept);
            logged_kept = kept;
            st->degraded = true;
            snprintf(st->fail_msg, sizeof(st->fail_msg), "%s", msg);
        }
        pthread_cond_broadcast(&st->committed);
        notify_t *ready = take_settled(st);
        pthread_mutex_unlock(&st->mu);
        run_notifies(ready);
        pthread_mutex_lock(&st->mu);
        if (!okay && st->stopping) {
            size_t lost = count_batches(st->head);
            if (lost)
                fprintf(stderr, "gantry server: stopping with %zu changes the store could not "
                                "commit (%s): they are lost.\n", lost, st->fail_msg);
            while (st->head) {
                batch_t *next = st->head->next;
                batch_free(st->head);
                st->head = next;
            }
            st->tail = NULL;
            st->closed = true;
            pthread_cond_broadcast(&st->committed);
            break;
        }
        if (!okay) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            long ns = ts.tv_nsec + (long)(backoff * 1e9);
            ts.tv_sec += ns / 1000000000L;
            ts.tv_nsec = ns % 1000000000L;
            pthread_cond_timedwait(&st->retry, &st->mu, &ts);
            backoff = backoff * 2 > 2.0 ? 2.0 : backoff * 2;
        }
    }
    st->closed = true;
    notify_t *rest = st->notify;
    st->notify = NULL;
    pthread_cond_broadcast(&st->committed);
    pthread_mutex_unlock(&st->mu);
    run_notifies(rest);
    return NULL;
}

/* ---- opening: the files, their modes, and what they hold ---- */

/* The tables of schema 1; version 2 added users, version 3 settings, version 4 job_events and
 * audit, version 5 series (each checked from its version on). */
static const char *const tables[] = {"jobs", "tokens", "nodes", "teams", "meta", "users",
                                     "settings", "job_events", "audit", "series"};
/* How many of tables[] a store of that version has. */
static size_t tables_of(int64_t version)
{
    return version < 2 ? 5 : version < 3 ? 6 : version < 4 ? 7 : version < 5 ? 9 : 10;
}

static void db_path(char *buf, size_t len, const char *dir, const char *suffix)
{
    snprintf(buf, len, "%s/gantry.db%s", dir, suffix);
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

int store_secure_dir(const char *dir, gt_error_t *err)
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

bool store_exists(const char *dir)
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
 * and every table); upgrades an unversioned store or one of version 1 to version 2. */
static int check_schema(store_t *st, const char *path, gt_error_t *err)
{
    sqlite3_stmt *s = NULL;
    int rc = sqlite3_prepare_v2(st->db, "PRAGMA user_version", -1, &s, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(s);
    int64_t version = rc == SQLITE_ROW ? sqlite3_column_int64(s, 0) : -1;
    sqlite3_finalize(s);
    if (rc != SQLITE_ROW) {
        errno = EINVAL;
        return gt_error_set(err, "store_error", "%s is not a readable SQLite database (%s); "
                            STORE_ADVICE, path, sqlite3_errmsg(st->db));
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
        rc = sqlite3_prepare_v2(st->db, "SELECT 1 FROM sqlite_master WHERE type = 'table' AND "
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
                                path, sqlite3_errmsg(st->db));
        }
    }
    if (version < STORE_SCHEMA_VERSION) {
        /* Version 1 (or a store from before versioning, the same tables): tokens gain when
         * they were created and expire, and the users' mappings get their table; version 2:
         * the settings (volumes, environments) set at run time get theirs; version 3: the job
         * events and the audit log theirs; version 4: the time series (series.h) its own. One
         * transaction: the store is upgraded whole or not at all. */
        char sql[2048];
        snprintf(sql, sizeof(sql), "BEGIN IMMEDIATE;%s" SETTINGS_TABLE EVENTS_TABLES SERIES_TABLE
                 "PRAGMA user_version = %d; COMMIT;", version < 2 ?
                 "ALTER TABLE tokens ADD COLUMN created INTEGER NOT NULL DEFAULT 0;"
                 "ALTER TABLE tokens ADD COLUMN expires INTEGER NOT NULL DEFAULT 0;"
                 "CREATE TABLE IF NOT EXISTS users (name TEXT PRIMARY KEY, doc TEXT NOT NULL);"
                 : "", STORE_SCHEMA_VERSION);
        if (sqlite3_exec(st->db, sql, NULL, NULL, NULL) != SQLITE_OK) {
            int rc = db_fail(st, err, "upgrade its schema");
            sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
            return rc;
        }
        fprintf(stderr, "gantry server: %s upgraded from schema version %lld to %d (%s%s%s"
                        "the time series).\n", path, (long long)version,
                STORE_SCHEMA_VERSION, version < 2 ? "tokens' creation and expiry times, "
                "users' mappings, " : "", version < 3 ? "settings set at run time, " : "",
                version < 4 ? "job events and the audit log, " : "");
    }
    return 0;
}

int store_create(const char *dir, const store_op_t *init, size_t n, gt_error_t *err)
{
    char path[4096], tmp[4096], journal[4200];
    db_path(path, sizeof(path), dir, "");
    db_path(tmp, sizeof(tmp), dir, ".new");
    snprintf(journal, sizeof(journal), "%s-journal", tmp);
    if (store_exists(dir)) {
        errno = EEXIST;
        return gt_error_set(err, "store_error", "%s already exists; a store is created only "
                            "where there is none", path);
    }
    /* Built aside and renamed into place: a crash leaves no gantry.db, or a whole one. */
    unlink(tmp);
    unlink(journal);
    store_t tmpst = {0};
    int rc = -1;
    if (sqlite3_open_v2(tmp, &tmpst.db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) !=
        SQLITE_OK) {
        db_fail(&tmpst, err, "create its database");
        goto out;
    }
    char version[64];
    snprintf(version, sizeof(version), "PRAGMA user_version = %d;", STORE_SCHEMA_VERSION);
    if (chmod(tmp, 0600) < 0 ||
        sqlite3_exec(tmpst.db, "PRAGMA synchronous=FULL; BEGIN;", NULL, NULL, NULL) != SQLITE_OK ||
        sqlite3_exec(tmpst.db, schema, NULL, NULL, NULL) != SQLITE_OK ||
        sqlite3_exec(tmpst.db, version, NULL, NULL, NULL) != SQLITE_OK) {
        db_fail(&tmpst, err, "create its tables");
        goto out;
    }
    for (int k = 0; k < STORE_NKINDS; k++)
        if (sqlite3_prepare_v2(tmpst.db, put_sql[k], -1, &tmpst.put[k], NULL) != SQLITE_OK) {
            db_fail(&tmpst, err, "prepare its statements");
            goto out;
        }
    for (size_t i = 0; i < n; i++)
        if (exec_op(&tmpst, &init[i]) < 0) {
            db_fail(&tmpst, err, "write its first records");
            goto out;
        }
    if (sqlite3_exec(tmpst.db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
        db_fail(&tmpst, err, "commit its first records");
        goto out;
    }
    rc = 0;
out:
    for (int k = 0; k < STORE_NKINDS; k++)
        sqlite3_finalize(tmpst.put[k]);
    sqlite3_close(tmpst.db);
    if (rc == 0 && (rename(tmp, path) < 0 || gt_fsync_dir(dir) < 0))
        rc = gt_error_set(err, "store_error", "cannot put %s in place: %s", path,
                          strerror(errno));
    if (rc < 0) {
        unlink(tmp);
        unlink(journal);
        errno = EIO;
    }
    return rc;
}

int store_open(const char *dir, store_t **out, gt_error_t *err)
{
    char path[4096];
    db_path(path, sizeof(path), dir, "");
    struct stat sb;
    if (store_secure_dir(dir, err) < 0)
        return -1;
    if (stat(path, &sb) < 0) {
        int e = errno;
        gt_error_set(err, "store_error", "%s: %s%s", path, strerror(e),
                     e == ENOENT && store_exists(dir)
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
    store_t *st = xcalloc(1, sizeof(*st));
    pthread_mutex_init(&st->mu, NULL);
    pthread_mutex_init(&st->rd_mu, NULL);
    pthread_cond_init(&st->queued, NULL);
    pthread_cond_init(&st->committed, NULL);
    pthread_cond_init(&st->retry, NULL);
    /* No SQLITE_OPEN_CREATE: a store that vanished is an error, never a new empty one. */
    if (sqlite3_open_v2(path, &st->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_FULLMUTEX, NULL) !=
        SQLITE_OK) {
        db_fail(st, err, "open");
        goto fail;
    }
    sqlite3_busy_timeout(st->db, 5000);
    if (check_schema(st, path, err) < 0)
        goto fail;
    /* WAL plus synchronous=FULL: a commit is on disk (fsync) when COMMIT returns. */
    if (sqlite3_exec(st->db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;", NULL, NULL,
                     NULL) != SQLITE_OK) {
        db_fail(st, err, "enter WAL mode");
        goto fail;
    }
    /* The WAL and shared-memory files SQLite just made take the database's mode; make sure. */
    if (store_secure_dir(dir, err) < 0)
        goto fail;
    for (int k = 0; k < STORE_NKINDS; k++)
        if (sqlite3_prepare_v2(st->db, put_sql[k], -1, &st->put[k], NULL) != SQLITE_OK) {
            db_fail(st, err, "prepare its statements");
            goto fail;
        }
    if (sqlite3_prepare_v2(st->db, del_events_sql, -1, &st->del_events, NULL) != SQLITE_OK) {
        db_fail(st, err, "prepare its statements");
        goto fail;
    }
    if (sqlite3_open_v2(path, &st->rdb, SQLITE_OPEN_READONLY | SQLITE_OPEN_FULLMUTEX, NULL) !=
        SQLITE_OK) {
        gt_error_set(err, "store_error", "the job store failed to open %s for reading: %s", path,
                     st->rdb ? sqlite3_errmsg(st->rdb) : "out of memory");
        goto fail;
    }
    sqlite3_busy_timeout(st->rdb, 5000);
    if (pthread_create(&st->committer, NULL, committer_main, st) != 0) {
        gt_error_set(err, "store_error", "cannot start the committer thread");
        goto fail;
    }
    st->started = true;
    *out = st;
    return 0;
fail:
    store_close(st);
    errno = EIO;
    return -1;
}

void store_close(store_t *st)
{
    if (!st)
        return;
    if (st->started) {
        pthread_mutex_lock(&st->mu);
        st->stopping = true;
        pthread_cond_signal(&st->queued);
        pthread_cond_signal(&st->retry);
        pthread_mutex_unlock(&st->mu);
        pthread_join(st->committer, NULL);
    }
    for (int k = 0; k < STORE_NKINDS; k++)
        sqlite3_finalize(st->put[k]);
    sqlite3_finalize(st->del_events);
    sqlite3_close(st->rdb);
    sqlite3_close(st->db);
    pthread_mutex_destroy(&st->mu);
    pthread_mutex_destroy(&st->rd_mu);
    pthread_cond_destroy(&st->queued);
    pthread_cond_destroy(&st->committed);
    pthread_cond_destroy(&st->retry);
    free(st->refused);
    free(st);
}

static uint64_t enqueue(store_t *st, store_op_t *ops, size_t n, bool client, bool take)
{
    batch_t *b = xcalloc(1, sizeof(*b));
    b->n = n;
    b->client = client;
    if (take) {
        b->ops = ops;
    } else {
        b->ops = xcalloc(n ? n : 1, sizeof(*b->ops));
        for (size_t i = 0; i < n; i++) {
            b->ops[i] = ops[i];
            b->ops[i].a = dup_or_null(ops[i].a);
            b->ops[i].b = dup_or_null(ops[i].b);
            b->ops[i].c = dup_or_null(ops[i].c);
            b->ops[i].d = dup_or_null(ops[i].d);
        }
    }
    pthread_mutex_lock(&st->mu);
    uint64_t ticket = b->ticket = ++st->next_ticket;
    st->stats.batches++;
    if (client && (st->degraded || st->closed || st->stopping)) {
        /* Refused at once: it would wait behind kept batches for as long as the disk is full. */
        refused_add(st, ticket);
        pthread_mutex_unlock(&st->mu);
        batch_free(b);
        return ticket;
    }
    if (!client)
        st->last_kept = ticket;
    if (st->tail)
        st->tail->next = b;
    else
        st->head = b;
    st->tail = b;
    pthread_cond_signal(&st->queued);
    pthread_mutex_unlock(&st->mu);
    return ticket; /* not b->ticket: the committer may have freed b already */
}

uint64_t store_enqueue(store_t *st, const store_op_t *ops, size_t n)
{
    return enqueue(st, (store_op_t *)ops, n, false, false);
}

uint64_t store_enqueue_client(store_t *st, const store_op_t *ops, size_t n)
{
    return enqueue(st, (store_op_t *)ops, n, true, false);
}

uint64_t store_enqueue_client_owned(store_t *st, store_op_t *ops, size_t n)
{
    return enqueue(st, ops, n, true, true);
}

void store_notify(store_t *st, uint64_t ticket, void (*fn)(void *arg), void *arg)
{
    pthread_mutex_lock(&st->mu);
    if (settled(st, ticket)) {
        pthread_mutex_unlock(&st->mu);
        fn(arg);
        return;
    }
    notify_t *nt = xcalloc(1, sizeof(*nt));
    *nt = (notify_t){ticket, fn, arg, st->notify};
    st->notify = nt;
    pthread_mutex_unlock(&st->mu);
}

int store_wait(store_t *st, uint64_t ticket, gt_error_t *err)
{
    pthread_mutex_lock(&st->mu);
    int rc = 0;
    for (;;) {
        if (refused_take(st, ticket)) {
            errno = EAGAIN;
            rc = gt_error_set(err, "store_error",
                              "the server's store cannot save changes at the moment (%s); "
                              "nothing was changed: retry later, and tell the administrator "
                              "(disk full?)", st->fail_msg);
            break;
        }
        if (ticket <= st->done_ticket)
            break;
        if (st->closed) {
            errno = EIO;
            rc = gt_error_set(err, "store_error", "the server stopped before this change was "
                              "saved (%s)", st->fail_msg[0] ? st->fail_msg : "closing");
            break;
        }
        if (st->degraded) {
            errno = EAGAIN;
            rc = gt_error_set(err, "store_error",
                              "the server's store cannot save changes at the moment (%s); "
                              "this one is kept and will be saved when it can: retry later",
                              st->fail_msg);
            break;
        }
        pthread_cond_wait(&st->committed, &st->mu);
    }
    pthread_mutex_unlock(&st->mu);
    return rc;
}

bool store_durable(store_t *st, uint64_t ticket)
{
    pthread_mutex_lock(&st->mu);
    bool d = ticket <= st->done_ticket && !refused_has(st, ticket);
    pthread_mutex_unlock(&st->mu);
    return d;
}

bool store_degraded(store_t *st)
{
    pthread_mutex_lock(&st->mu);
    bool d = st->degraded;
    pthread_mutex_unlock(&st->mu);
    return d;
}

uint64_t store_last_kept(store_t *st)
{
    pthread_mutex_lock(&st->mu);
    uint64_t t = st->last_kept;
    pthread_mutex_unlock(&st->mu);
    return t;
}

void store_fail_next_commits(store_t *st, int n, int sqlite_code)
{
    pthread_mutex_lock(&st->mu);
    st->inject_n = n;
    st->inject_code = sqlite_code;
    pthread_mutex_unlock(&st->mu);
}

void store_get_stats(store_t *st, store_stats_t *out)
{
    pthread_mutex_lock(&st->mu);
    *out = st->stats;
    pthread_mutex_unlock(&st->mu);
}

/* ---- loading ---- */

static const char *col(sqlite3_stmt *s, int i) { return (const char *)sqlite3_column_text(s, i); }

static int load(store_t *st, const char *sql, gt_error_t *err,
                int (*row)(sqlite3_stmt *s, void *fn, void *arg, gt_error_t *err), void *fn,
                void *arg)
{
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(st->db, sql, -1, &s, NULL) != SQLITE_OK)
        return db_fail(st, err, "read its tables");
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW)
        if (row(s, fn, arg, err) < 0) {
            sqlite3_finalize(s);
            return -1;
        }
    sqlite3_finalize(s);
    return rc == SQLITE_DONE ? 0 : db_fail(st, err, "read its tables");
}

typedef int (*job_fn)(void *, uint64_t, const char *, gt_error_t *);
typedef int (*token_fn)(void *, const char *, const char *, const char *, const char *, int64_t,
                        int64_t);
typedef int (*node_fn)(void *, const char *, int64_t, const char *);
typedef int (*team_fn)(void *, const char *, const char *);

/* Function pointers travel through void * in a small struct to stay within ISO C. */
typedef struct fnbox {
    job_fn job;
    token_fn token;
    node_fn node;
    team_fn team;
    team_fn user;
} fnbox_t;

static int job_row(sqlite3_stmt *s, void *fn, void *arg, gt_error_t *err)
{
    return ((fnbox_t *)fn)->job(arg, (uint64_t)sqlite3_column_int64(s, 0), col(s, 1), err);
}
static int token_row(sqlite3_stmt *s, void *fn, void *arg, gt_error_t *err)
{
    if (((fnbox_t *)fn)->token(arg, col(s, 0), col(s, 1), col(s, 2), col(s, 3),
                               sqlite3_column_int64(s, 4), sqlite3_column_int64(s, 5)) < 0)
        return gt_error_set(err, "store_error", "a stored token is not valid");
    return 0;
}
static int node_row(sqlite3_stmt *s, void *fn, void *arg, gt_error_t *err)
{
    if (((fnbox_t *)fn)->node(arg, col(s, 0), sqlite3_column_int64(s, 1), col(s, 2)) < 0)
        return gt_error_set(err, "store_error", "stored node %s is not valid", col(s, 0));
    return 0;
}
static int team_row(sqlite3_stmt *s, void *fn, void *arg, gt_error_t *err)
{
    if (((fnbox_t *)fn)->team(arg, col(s, 0), col(s, 1)) < 0)
        return gt_error_set(err, "store_error", "stored team %s is not valid", col(s, 0));
    return 0;
}

static int user_row(sqlite3_stmt *s, void *fn, void *arg, gt_error_t *err)
{
    if (((fnbox_t *)fn)->user(arg, col(s, 0), col(s, 1)) < 0)
        return gt_error_set(err, "store_error", "stored user %s is not valid", col(s, 0));
    return 0;
}

int store_load_jobs(store_t *st, job_fn fn, void *arg, gt_error_t *err)
{
    fnbox_t box = {.job = fn};
    return load(st, "SELECT id, doc FROM jobs ORDER BY id", err, job_row, &box, arg);
}
int store_load_tokens(store_t *st, token_fn fn, void *arg, gt_error_t *err)
{
    fnbox_t box = {.token = fn};
    return load(st, "SELECT hash, user, role, team, created, expires FROM tokens ORDER BY "
                    "rowid", err, token_row, &box, arg);
}
int store_load_users(store_t *st, team_fn fn, void *arg, gt_error_t *err)
{
    fnbox_t box = {.user = fn};
    return load(st, "SELECT name, doc FROM users ORDER BY name", err, user_row, &box, arg);
}
int store_load_nodes(store_t *st, node_fn fn, void *arg, gt_error_t *err)
{
    fnbox_t box = {.node = fn};
    return load(st, "SELECT name, epoch, doc FROM nodes ORDER BY name", err, node_row, &box,
                arg);
}
int store_load_teams(store_t *st, team_fn fn, void *arg, gt_error_t *err)
{
    fnbox_t box = {.team = fn};
    return load(st, "SELECT name, doc FROM teams ORDER BY name", err, team_row, &box, arg);
}

static int setting_row(sqlite3_stmt *s, void *fn, void *arg, gt_error_t *err)
{
    if (((fnbox_t *)fn)->user(arg, col(s, 0), col(s, 1)) < 0)
        return gt_error_set(err, "store_error", "stored setting %s is not valid", col(s, 0));
    return 0;
}

int store_load_settings(store_t *st, const char *kind, team_fn fn, void *arg, gt_error_t *err)
{
    fnbox_t box = {.user = fn};
    char sql[160];
    /* kind is one of the server's own words, never a client's */
    for (const char *p = kind; *p; p++)
        if (!(*p >= 'a' && *p <= 'z'))
            return gt_error_set(err, "internal", "bad setting kind");
    snprintf(sql, sizeof(sql), "SELECT name, doc FROM settings WHERE kind = '%s' ORDER BY name",
             kind);
    return load(st, sql, err, setting_row, &box, arg);
}

typedef int (*series_fn)(void *, int, int64_t, const char *);
typedef struct series_box {
    series_fn fn;
} series_box_t;

static int series_row(sqlite3_stmt *s, void *fn, void *arg, gt_error_t *err)
{
    if (((series_box_t *)fn)->fn(arg, sqlite3_column_int(s, 0), sqlite3_column_int64(s, 1),
                                 col(s, 2)) < 0)
        return gt_error_set(err, "store_error", "a stored series point (time %lld) is not "
                            "valid", (long long)sqlite3_column_int64(s, 1));
    return 0;
}

int store_load_series(store_t *st, series_fn fn, void *arg, gt_error_t *err)
{
    series_box_t box = {.fn = fn};
    return load(st, "SELECT res, t, doc FROM series ORDER BY t, res", err, series_row, &box,
                arg);
}

int store_meta_get(store_t *st, const char *key, int64_t dflt, int64_t *out, gt_error_t *err)
{
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(st->db, "SELECT value FROM meta WHERE key = ?", -1, &s, NULL) !=
        SQLITE_OK)
        return db_fail(st, err, "read its meta table");
    sqlite3_bind_text(s, 1, key, -1, SQLITE_STATIC);
    int rc = sqlite3_step(s);
    *out = rc == SQLITE_ROW ? sqlite3_column_int64(s, 0) : dflt;
    sqlite3_finalize(s);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : db_fail(st, err, "read its meta table");
}

int store_load_meta(store_t *st, const char *prefix,
                    int (*fn)(void *arg, const char *key, int64_t value), void *arg,
                    gt_error_t *err)
{
    sqlite3_stmt *s = NULL;
    /* A range on the primary key, not LIKE: prefixes may hold '%' or '_'. */
    if (sqlite3_prepare_v2(st->db, "SELECT key, value FROM meta WHERE key >= ? ORDER BY key", -1,
                           &s, NULL) != SQLITE_OK)
        return db_fail(st, err, "read its meta table");
    sqlite3_bind_text(s, 1, prefix, -1, SQLITE_STATIC);
    size_t plen = strlen(prefix);
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        const char *key = (const char *)sqlite3_column_text(s, 0);
        if (!key || strncmp(key, prefix, plen)) {
            rc = SQLITE_DONE;
            break;
        }
        if (fn(arg, key, sqlite3_column_int64(s, 1)) < 0) {
            gt_error_set(err, "store_error", "the meta row '%s' cannot be read", key);
            sqlite3_finalize(s); /* frees key */
            errno = EINVAL;
            return -1;
        }
    }
    sqlite3_finalize(s);
    return rc == SQLITE_DONE ? 0 : db_fail(st, err, "read its meta table");
}

/* ---- events and the audit log, read while the server runs ---- */

typedef int (*seq_fn)(void *, uint64_t, const char *, gt_error_t *);

static int rd_fail(store_t *st, gt_error_t *err)
{
    errno = EIO;
    return gt_error_set(err, "store_error", "the job store failed to read its events: %s",
                        sqlite3_errmsg(st->rdb));
}

/* One read transaction: the rows of sql (seq, doc), then MAX(seq) of table, as one snapshot. */
static int read_seq_rows(store_t *st, const char *sql, const char *max_sql, uint64_t job,
                         uint64_t since, size_t limit, seq_fn fn, void *arg, uint64_t *upto,
                         gt_error_t *err)
{
    if (since > INT64_MAX)
        since = INT64_MAX;
    pthread_mutex_lock(&st->rd_mu);
    sqlite3_stmt *s = NULL, *m = NULL;
    int rc = -1, step = SQLITE_ERROR;
    if (sqlite3_exec(st->rdb, "BEGIN", NULL, NULL, NULL) != SQLITE_OK) {
        rd_fail(st, err);
        goto out;
    }
    if (sqlite3_prepare_v2(st->rdb, sql, -1, &s, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(st->rdb, max_sql, -1, &m, NULL) != SQLITE_OK) {
        rd_fail(st, err);
        goto out;
    }
    int i = 1;
    if (job)
        sqlite3_bind_int64(s, i++, (sqlite3_int64)job);
    sqlite3_bind_int64(s, i++, (sqlite3_int64)since);
    sqlite3_bind_int64(s, i, limit ? (sqlite3_int64)limit : -1);
    while ((step = sqlite3_step(s)) == SQLITE_ROW)
        if (fn(arg, (uint64_t)sqlite3_column_int64(s, 0), col(s, 1), err) < 0)
            goto out;
    if (step != SQLITE_DONE) {
        rd_fail(st, err);
        goto out;
    }
    if (sqlite3_step(m) != SQLITE_ROW) {
        rd_fail(st, err);
        goto out;
    }
    if (upto)
        *upto = (uint64_t)sqlite3_column_int64(m, 0); /* NULL (empty) reads as 0 */
    rc = 0;
out:
    sqlite3_finalize(s);
    sqlite3_finalize(m);
    sqlite3_exec(st->rdb, "COMMIT", NULL, NULL, NULL);
    pthread_mutex_unlock(&st->rd_mu);
    return rc;
}

int store_read_events(store_t *st, uint64_t job, uint64_t since, size_t limit, seq_fn fn,
                      void *arg, uint64_t *upto, gt_error_t *err)
{
    return read_seq_rows(st, job ? "SELECT seq, doc FROM job_events WHERE job = ? AND seq > ? "
                                   "ORDER BY seq LIMIT ?"
                                 : "SELECT seq, doc FROM job_events WHERE seq > ? ORDER BY seq "
                                   "LIMIT ?",
                         "SELECT MAX(seq) FROM job_events", job, since, limit, fn, arg, upto,
                         err);
}

int store_read_audit(store_t *st, uint64_t since, size_t limit, seq_fn fn, void *arg,
                     uint64_t *upto, gt_error_t *err)
{
    return read_seq_rows(st, "SELECT seq, doc FROM audit WHERE seq > ? ORDER BY seq LIMIT ?",
                         "SELECT MAX(seq) FROM audit", 0, since, limit, fn, arg, upto, err);
}

int store_last_seqs(store_t *st, uint64_t *event, uint64_t *audit, gt_error_t *err)
{
    *event = *audit = 0;
    pthread_mutex_lock(&st->rd_mu);
    sqlite3_stmt *s = NULL;
    int rc = sqlite3_prepare_v2(st->rdb, "SELECT name, seq FROM sqlite_sequence WHERE name IN "
                                         "('job_events', 'audit')", -1, &s, NULL);
    while (rc == SQLITE_OK && (rc = sqlite3_step(s)) == SQLITE_ROW) {
        const char *name = col(s, 0);
        uint64_t v = (uint64_t)sqlite3_column_int64(s, 1);
        *(name && !strcmp(name, "audit") ? audit : event) = v;
        rc = SQLITE_OK;
    }
    sqlite3_finalize(s);
    if (rc != SQLITE_DONE)
        rd_fail(st, err);
    pthread_mutex_unlock(&st->rd_mu);
    return rc == SQLITE_DONE ? 0 : -1;
}
