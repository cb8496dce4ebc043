/* store_pg.c: the store on PostgreSQL (store_backend.h), chosen by a postgresql:// URL
 * (`gantry server --store URL`, or the config's store:).
 *
 * The schema's version is the one row of gantry_schema; pg_steps[] holds every version's
 * migration, in order: a new store runs them all, an older one those above its version, in
 * one transaction (PostgreSQL's DDL is transactional) under a lock on gantry_schema, so that
 * two servers opening one database at once migrate it once. Text keys are COLLATE "C": names
 * sort byte by byte, as in SQLite, and store_load_meta's prefix range holds.
 *
 * A transaction of the committer is sent as one pipeline (libpq's pipeline mode): BEGIN, every
 * statement, COMMIT, then the results are read. A batch costs one round trip, not one per
 * row. A lost connection is reset at the next transaction; meanwhile commits fail and the
 * store is degraded (store.h), as with a full disk.
 *
 * A COMMIT whose answer is lost with the connection (the backend killed after its commit
 * record reached the WAL, the primary dying then) may have committed: the pipeline's first
 * statement after BEGIN takes the transaction's id (pg_current_xact_id()), and after such a
 * loss the connection is made again and pg_xact_status() says what became of it: committed
 * (commit() returns 0), aborted (it fails), or, when the database cannot say within
 * STATUS_TRIES, unknown (outcome_unknown: store.c tells the clients so and the server
 * reloads its state from the store). */
#include "server/store_backend.h"

#include <errno.h>
#include <inttypes.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Type oids of the integer columns (pg_type.h is server-side only). */
#define INT8OID 20
#define INT2OID 21
#define INT4OID 23

#define SYNC_EVERY 256 /* statements between syncs of a long pipeline (no full socket buffers) */
#define MAX_PARAMS 16
#define STATUS_TRIES 6 /* pg_xact_status asked this many times, 0.1 s doubling between: ~3 s */

/* What exec() a command sent into the pipeline is, when it is no exec(): */
#define CMD_OTHER -1   /* BEGIN, a prepare */
#define CMD_XID -2     /* SELECT pg_current_xact_id() */
#define CMD_COMMIT -3

typedef struct sql_cache {
    const char *sql; /* the caller's constant: its address is the key */
    char *text;      /* translated to $n placeholders */
    bool prepared;   /* as statement "g<index>" on the write connection */
} sql_cache_t;

struct store_db {
    pthread_mutex_t mu;  /* the write connection: held from begin to commit or rollback */
    bool in_tx;          /* begin() took mu */
    pthread_t owner;     /* the thread that did (its reads inside the transaction) */
    bool unprepare;      /* a pipeline failed: its prepares may or may not have run */
    PGconn *conn;        /* writes, and loading */
    PGconn *rconn;       /* reads of events and audit: committed rows only */
    sql_cache_t *cache;
    size_t ncache, cache_cap;
    bool piped;          /* a pipeline is open (begin .. commit/rollback) */
    size_t pending;      /* statements sent since the last sync, their results unread */
    bool failed;         /* a statement of this pipeline failed */
    char msg[512];       /* why the last write failed */
    /* Which exec() each command sent since the last sync is (-1: BEGIN, a prepare, COMMIT),
     * to name the statement that failed for its values (bad_statement) as results come in. */
    long *cmd;
    size_t ncmd, cmd_cap, got;
    long nexec;          /* exec() calls since begin */
    long bad;            /* the one refused for its values, or -1 */
    char xid[32];        /* the transaction's id (pg_current_xact_id), once its answer came */
    bool commit_sent;    /* the COMMIT went into the pipeline */
    bool lost;           /* the connection broke while this pipeline's results were read */
    bool answered_error; /* the server itself answered a command of it with an error */
    bool unknown;        /* the commit's outcome is unknown (outcome_unknown) */
};

/* ---- the schema: one step per version ----
 * A new version (store.h's STORE_SCHEMA_VERSION) gets its step here as in store_sqlite.c,
 * and its tables in pg_tables; without one, creating or upgrading a store on PostgreSQL is
 * refused (test_store fails on it) rather than leaving the tables out. */

static const char *const pg_steps[STORE_SCHEMA_VERSION + 1] = {
    [1] = "CREATE TABLE jobs (id BIGINT PRIMARY KEY, team TEXT NOT NULL, \"user\" TEXT NOT NULL,"
          "  state TEXT NOT NULL, doc TEXT NOT NULL);"
          "CREATE TABLE tokens (hash TEXT COLLATE \"C\" PRIMARY KEY, \"user\" TEXT NOT NULL,"
          "  role TEXT NOT NULL, team TEXT, created BIGINT NOT NULL DEFAULT 0,"
          "  expires BIGINT NOT NULL DEFAULT 0);"
          "CREATE TABLE nodes (name TEXT COLLATE \"C\" PRIMARY KEY, epoch BIGINT NOT NULL,"
          "  doc TEXT NOT NULL);"
          "CREATE TABLE teams (name TEXT COLLATE \"C\" PRIMARY KEY, doc TEXT NOT NULL);"
          "CREATE TABLE meta (key TEXT COLLATE \"C\" PRIMARY KEY, value BIGINT NOT NULL);",
    [2] = "CREATE TABLE users (name TEXT COLLATE \"C\" PRIMARY KEY, doc TEXT NOT NULL);",
    [3] = "CREATE TABLE settings (kind TEXT COLLATE \"C\" NOT NULL, name TEXT COLLATE \"C\" "
          "  NOT NULL, doc TEXT NOT NULL, PRIMARY KEY (kind, name));",
    /* Events and audit entries are numbered by the server (events.h); seq_high keeps the
     * highest seq of rows deleted since (store_last_seqs: numbering never reuses a seq). */
    [4] = "CREATE TABLE job_events (seq BIGINT PRIMARY KEY, job BIGINT NOT NULL,"
          "  type TEXT NOT NULL, doc TEXT NOT NULL);"
          "CREATE INDEX job_events_job ON job_events (job, seq);"
          "CREATE TABLE audit (seq BIGINT PRIMARY KEY, \"user\" TEXT NOT NULL,"
          "  action TEXT NOT NULL, object TEXT NOT NULL, doc TEXT NOT NULL);"
          "CREATE TABLE seq_high (name TEXT COLLATE \"C\" PRIMARY KEY, seq BIGINT NOT NULL);"
          "CREATE FUNCTION gantry_seq_high() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
          "  INSERT INTO seq_high (name, seq) SELECT TG_TABLE_NAME, MAX(seq) FROM gone"
          "    HAVING MAX(seq) IS NOT NULL"
          "  ON CONFLICT (name) DO UPDATE SET seq = GREATEST(seq_high.seq, excluded.seq);"
          "  RETURN NULL; END $$;"
          "CREATE TRIGGER job_events_seq_high AFTER DELETE ON job_events"
          "  REFERENCING OLD TABLE AS gone FOR EACH STATEMENT EXECUTE FUNCTION gantry_seq_high();"
          "CREATE TRIGGER audit_seq_high AFTER DELETE ON audit"
          "  REFERENCING OLD TABLE AS gone FOR EACH STATEMENT EXECUTE FUNCTION gantry_seq_high();",
    [5] = "CREATE TABLE IF NOT EXISTS series (res INTEGER NOT NULL, t BIGINT NOT NULL, doc TEXT NOT NULL,"
          "  PRIMARY KEY (res, t));",
    /* the artifact registry (server/artifacts.h), as store_sqlite.c's ARTIFACT_TABLES */
    [6] = "CREATE TABLE IF NOT EXISTS artifacts (name TEXT COLLATE \"C\" PRIMARY KEY, team TEXT NOT NULL,"
          "  doc TEXT NOT NULL);"
          "CREATE TABLE IF NOT EXISTS artifact_versions (name TEXT COLLATE \"C\" NOT NULL,"
          "  version BIGINT NOT NULL, digest TEXT NOT NULL, doc TEXT NOT NULL,"
          "  PRIMARY KEY (name, version));"
          "CREATE TABLE IF NOT EXISTS artifact_aliases (name TEXT COLLATE \"C\" NOT NULL,"
          "  alias TEXT COLLATE \"C\" NOT NULL, version BIGINT NOT NULL,"
          "  PRIMARY KEY (name, alias));",
    /* the leader's lease (store_lease_acquire), as store_sqlite.c's LEADER_TABLE: one row */
    [7] = "CREATE TABLE IF NOT EXISTS leader (id INTEGER PRIMARY KEY, holder TEXT NOT NULL,"
          "  url TEXT NOT NULL, epoch BIGINT NOT NULL, expires BIGINT NOT NULL);"
          "INSERT INTO leader (id, holder, url, epoch, expires) VALUES (1, '', '', 0, 0)"
          "  ON CONFLICT (id) DO NOTHING;",
};

/* The tables each version has (a store missing one is damaged); from version `since` on. */
static const struct {
    const char *name;
    int since;
} pg_tables[] = {{"jobs", 1},     {"tokens", 1},     {"nodes", 1}, {"teams", 1},
                 {"meta", 1},     {"users", 2},      {"settings", 3}, {"job_events", 4},
                 {"audit", 4},    {"seq_high", 4},   {"series", 5},
                 {"artifacts", 6}, {"artifact_versions", 6}, {"artifact_aliases", 6},
                 {"leader", 7}};

/* ---- connections and messages ---- */

static bool pg_claims(const char *where)
{
    return !strncmp(where, "postgresql://", 13) || !strncmp(where, "postgres://", 11);
}

static int pg_secure(const char *where, gt_error_t *err)
{
    (void)where, (void)err;
    return 0; /* the database's own access control applies; no files of ours */
}

/* libpq's message, on one line. */
static const char *pgmsg(PGconn *c, char *buf, size_t len)
{
    snprintf(buf, len, "%s", c ? PQerrorMessage(c) : "out of memory");
    for (char *p = buf; *p; p++)
        if (*p == '\n')
            *p = *(p + 1) ? ' ' : '\0';
    return buf;
}

/* Which database, for messages: never the URL itself (it may hold a password). */
static const char *describe(PGconn *c, char *buf, size_t len)
{
    const char *host = c ? PQhost(c) : NULL;
    snprintf(buf, len, "PostgreSQL database %s on %s", c && PQdb(c) ? PQdb(c) : "?",
             host && *host ? host : "the default socket");
    return buf;
}

static void no_notice(void *arg, const char *msg) { (void)arg, (void)msg; }

/* Each session's settings, after every (re)connection: notices (CREATE's) are not for the
 * log; a transaction left open by a server that stopped or was cut off ends within 10 s,
 * releasing its row locks (the lease's row among them: a standby can take over); a lock is
 * waited for 2 s at most (a commit or a lease call then fails, and is tried again). */
static void session_setup(PGconn *c)
{
    PQsetNoticeProcessor(c, no_notice, NULL);
    PGresult *r = PQexec(c, "SET idle_in_transaction_session_timeout = '10s';"
                            "SET lock_timeout = '2s'");
    PQclear(r);
}

static PGconn *connect_db(const char *where, gt_error_t *err)
{
    PGconn *c = PQconnectdb(where);
    if (!c || PQstatus(c) != CONNECTION_OK) {
        char m[512], d[256];
        gt_error_set(err, "store_error", "cannot connect to the store (%s): %s",
                     describe(c, d, sizeof(d)), pgmsg(c, m, sizeof(m)));
        PQfinish(c);
        errno = EIO;
        return NULL;
    }
    session_setup(c);
    return c;
}

/* Runs sql (no parameters, maybe several statements); -1 with err naming `what`. */
static int run(PGconn *c, const char *sql, const char *what, gt_error_t *err)
{
    PGresult *r = PQexec(c, sql);
    ExecStatusType s = PQresultStatus(r);
    PQclear(r);
    if (s == PGRES_COMMAND_OK || s == PGRES_TUPLES_OK)
        return 0;
    char m[512];
    errno = EIO;
    return gt_error_set(err, "store_error", "the job store failed to %s: %s", what,
                        pgmsg(c, m, sizeof(m)));
}

/* `?` -> `$1`, `$2`... outside quoted strings and names. Caller frees. */
static char *translate_sql(const char *sql)
{
    size_t len = strlen(sql), nq = 0;
    for (size_t i = 0; i < len; i++)
        nq += sql[i] == '?';
    char *out = xcalloc(len + nq * 8 + 1, 1);
    char quote = 0;
    size_t k = 0, n = 0;
    for (size_t i = 0; i < len; i++) {
        char ch = sql[i];
        if (quote) {
            if (ch == quote)
                quote = 0;
        } else if (ch == '\'' || ch == '"') {
            quote = ch;
        } else if (ch == '?') {
            k += (size_t)sprintf(out + k, "$%zu", ++n);
            continue;
        }
        out[k++] = ch;
    }
    out[k] = '\0';
    return out;
}

static const char *describe_where(const char *where, char *buf, size_t len)
{
    /* a URL without its user info (user:password@) */
    const char *at = strchr(where, '@'), *scheme = strstr(where, "://");
    if (at && scheme && at > scheme)
        snprintf(buf, len, "%.*s%s", (int)(scheme + 3 - where), where, at + 1);
    else
        snprintf(buf, len, "%s", where);
    char *q = strchr(buf, '?');
    if (q && strstr(q, "password"))
        *q = '\0';
    return buf;
}

/* The "?" parameters as libpq's text values; nums holds the integers' digits. */
static void to_params(const store_val_t *v, size_t n, const char **vals, char (*nums)[24])
{
    for (size_t i = 0; i < n && i < MAX_PARAMS; i++) {
        vals[i] = NULL;
        if (v[i].type == STORE_VAL_INT) {
            snprintf(nums[i], sizeof(nums[i]), "%" PRId64, v[i].i);
            vals[i] = nums[i];
        } else if (v[i].type == STORE_VAL_TEXT) {
            vals[i] = v[i].s;
        }
    }
}

static sql_cache_t *cached(store_db_t *d, const char *sql, size_t *index)
{
    for (size_t i = 0; i < d->ncache; i++)
        if (d->cache[i].sql == sql) {
            *index = i;
            return &d->cache[i];
        }
    GT_GROW(d->cache, d->cache_cap, d->ncache + 1);
    d->cache[d->ncache] = (sql_cache_t){sql, translate_sql(sql), false};
    *index = d->ncache;
    return &d->cache[d->ncache++];
}

/* A failed statement's message: its primary line only. The DETAIL may quote the failing row
 * (a job's document, its environment's secrets included): never into a client's answer nor
 * the log. */
static const char *result_msg(const PGresult *r)
{
    const char *m = PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY);
    if (!m && !PQresultErrorField(r, PG_DIAG_SQLSTATE) && *PQresultErrorMessage(r))
        m = PQresultErrorMessage(r); /* libpq's own (a lost connection): no row in it */
    return m ? m : PQresultStatus(r) == PGRES_FATAL_ERROR ? "the statement failed" : "";
}

static void set_msg(store_db_t *d, const char *m)
{
    if (!d->failed || !d->msg[0])
        snprintf(d->msg, sizeof(d->msg), "%s", m);
    for (char *p = d->msg; *p; p++)
        if (*p == '\n')
            *p = *(p + 1) ? ' ' : '\0';
    d->failed = true;
}

/* Records the command just sent: exec() number `which`, or -1. */
static void sent(store_db_t *d, long which)
{
    GT_GROW(d->cmd, d->cmd_cap, d->ncmd + 1);
    d->cmd[d->ncmd++] = which;
}

/* Whether a failed statement's SQLSTATE is about its own values (class 22: data exception,
 * 23: integrity constraint, 54: program limit, a row too large) rather than the database's
 * state (a full disk, I/O, a lost connection, a lock's timeout, a conflict). */
static bool values_refused(const PGresult *r)
{
    const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
    return state && (!strncmp(state, "22", 2) || !strncmp(state, "23", 2) ||
                     !strncmp(state, "54", 2));
}

/* Reads the results of what was sent, through the sync after it. -1 when any failed. */
static int drain(store_db_t *d)
{
    int nulls = 0;
    for (;;) {
        PGresult *r = PQgetResult(d->conn);
        if (!r) {
            if (PQstatus(d->conn) != CONNECTION_OK || ++nulls > 2) {
                char m[512];
                d->lost = true;
                set_msg(d, pgmsg(d->conn, m, sizeof(m)));
                if (!d->msg[0])
                    snprintf(d->msg, sizeof(d->msg), "the connection to PostgreSQL was lost");
                d->pending = 0;
                d->ncmd = d->got = 0;
                return -1;
            }
            continue;
        }
        nulls = 0;
        ExecStatusType s = PQresultStatus(r);
        if (s == PGRES_PIPELINE_SYNC) {
            PQclear(r);
            break;
        }
        long which = d->got < d->ncmd ? d->cmd[d->got] : CMD_OTHER;
        d->got++;
        if (which == CMD_XID && s == PGRES_TUPLES_OK && PQntuples(r) == 1 &&
            !PQgetisnull(r, 0, 0))
            snprintf(d->xid, sizeof(d->xid), "%s", PQgetvalue(r, 0, 0));
        if (s == PGRES_FATAL_ERROR && PQresultErrorField(r, PG_DIAG_SQLSTATE))
            d->answered_error = true; /* the server's own answer: the transaction aborted */
        if (s == PGRES_FATAL_ERROR && !d->failed && which >= 0 && values_refused(r))
            d->bad = which;
        if (s == PGRES_FATAL_ERROR || s == PGRES_NONFATAL_ERROR || s == PGRES_BAD_RESPONSE)
            set_msg(d, result_msg(r));
        else if (s == PGRES_PIPELINE_ABORTED)
            d->failed = true;
        PQclear(r);
    }
    d->pending = 0;
    d->ncmd = d->got = 0;
    return d->failed ? -1 : 0;
}

/* Ends the pipeline: syncs, reads every result, leaves pipeline mode. */
static int pipe_end(store_db_t *d)
{
    int rc = 0;
    if (!d->piped)
        return 0;
    if (!PQpipelineSync(d->conn)) {
        char m[512];
        set_msg(d, pgmsg(d->conn, m, sizeof(m)));
        rc = -1;
    } else if (drain(d) < 0) {
        rc = -1;
    }
    if (PQstatus(d->conn) != CONNECTION_OK)
        d->lost = true;
    if (PQpipelineStatus(d->conn) != PQ_PIPELINE_OFF && !PQexitPipelineMode(d->conn)) {
        /* results still unread: the connection is in no state to go on; start anew */
        d->lost = true;
        PQreset(d->conn);
        session_setup(d->conn);
        d->unprepare = true;
        rc = -1;
    }
    d->piped = false;
    if (rc < 0)
        d->unprepare = true;
    return rc;
}

static void tx_end(store_db_t *d)
{
    if (PQstatus(d->conn) == CONNECTION_OK && PQtransactionStatus(d->conn) != PQTRANS_IDLE) {
        PGresult *r = PQexec(d->conn, "ROLLBACK");
        PQclear(r);
    }
    if (d->in_tx) {
        d->in_tx = false;
        pthread_mutex_unlock(&d->mu);
    }
}

/* Sends one statement into the pipeline (prepared once per connection). */
static int pipe_send(store_db_t *d, const char *sql, const store_val_t *v, size_t n)
{
    const char *vals[MAX_PARAMS];
    char nums[MAX_PARAMS][24];
    if (n > MAX_PARAMS) {
        set_msg(d, "too many parameters");
        return -1;
    }
    to_params(v, n, vals, nums);
    size_t idx;
    sql_cache_t *e = cached(d, sql, &idx);
    char name[32];
    snprintf(name, sizeof(name), "g%zu", idx);
    int ok = 1;
    if (!e->prepared) {
        ok = PQsendPrepare(d->conn, name, e->text, (int)n, NULL);
        e->prepared = ok;
        d->pending++;
        if (ok)
            sent(d, CMD_OTHER);
    }
    if (ok)
        ok = PQsendQueryPrepared(d->conn, name, (int)n, vals, NULL, NULL, 0);
    if (ok)
        sent(d, d->nexec);
    d->nexec++;
    if (!ok) {
        char m[512];
        set_msg(d, pgmsg(d->conn, m, sizeof(m)));
        return -1;
    }
    if (++d->pending >= SYNC_EVERY) {
        /* a long batch: read what came back so far, so that neither side's buffers fill */
        if (!PQpipelineSync(d->conn) || drain(d) < 0) {
            char m[512];
            if (!d->failed)
                set_msg(d, pgmsg(d->conn, m, sizeof(m)));
            return -1;
        }
    }
    return 0;
}

static int pg_begin(store_db_t *d)
{
    pthread_mutex_lock(&d->mu);
    d->in_tx = true;
    d->owner = pthread_self();
    d->failed = false;
    d->msg[0] = '\0';
    d->pending = 0;
    d->ncmd = d->got = 0;
    d->nexec = 0;
    d->bad = -1;
    d->xid[0] = '\0';
    d->commit_sent = d->lost = d->answered_error = d->unknown = false;
    /* What the server sent since the last transaction: a connection it closed meanwhile (it
     * restarted, the backend was ended) shows here, before this transaction is sent into it
     * (its outcome would be unknown otherwise). */
    if (PQstatus(d->conn) == CONNECTION_OK)
        PQconsumeInput(d->conn);
    if (PQstatus(d->conn) != CONNECTION_OK) {
        PQreset(d->conn); /* lost (the database restarted, the network failed): once per try */
        d->unprepare = true;
        if (PQstatus(d->conn) != CONNECTION_OK) {
            char m[512];
            set_msg(d, pgmsg(d->conn, m, sizeof(m)));
            tx_end(d);
            return -1;
        }
        session_setup(d->conn);
    }
    if (d->unprepare) {
        PGresult *r = PQexec(d->conn, "DEALLOCATE ALL");
        bool ok = PQresultStatus(r) == PGRES_COMMAND_OK;
        PQclear(r);
        if (!ok) {
            char m[512];
            set_msg(d, pgmsg(d->conn, m, sizeof(m)));
            tx_end(d);
            return -1;
        }
        for (size_t i = 0; i < d->ncache; i++)
            d->cache[i].prepared = false;
        d->unprepare = false;
    }
    if (!PQenterPipelineMode(d->conn) ||
        !PQsendQueryParams(d->conn, "BEGIN", 0, NULL, NULL, NULL, NULL, 0) ||
        (sent(d, CMD_OTHER), !PQsendQueryParams(d->conn, "SELECT pg_current_xact_id()::text", 0,
                                                NULL, NULL, NULL, NULL, 0))) {
        char m[512];
        set_msg(d, pgmsg(d->conn, m, sizeof(m)));
        d->piped = PQpipelineStatus(d->conn) != PQ_PIPELINE_OFF;
        pipe_end(d);
        tx_end(d);
        return -1;
    }
    d->piped = true;
    d->pending = 2;
    sent(d, CMD_XID);
    return 0;
}

static int pg_exec(store_db_t *d, const char *sql, const store_val_t *v, size_t n)
{
    if (d->piped)
        return pipe_send(d, sql, v, n);
    /* outside the committer's pipeline: create's first records */
    const char *vals[MAX_PARAMS];
    char nums[MAX_PARAMS][24];
    if (n > MAX_PARAMS)
        return -1;
    to_params(v, n, vals, nums);
    size_t idx;
    sql_cache_t *e = cached(d, sql, &idx);
    PGresult *r = PQexecParams(d->conn, e->text, (int)n, NULL, vals, NULL, NULL, 0);
    bool ok = PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK;
    if (!ok)
        set_msg(d, result_msg(r));
    PQclear(r);
    return ok ? 0 : -1;
}

static void pause_s(double s)
{
    struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
    nanosleep(&ts, NULL);
}

/* pg_xact_status of the transaction d->xid, on the write connection made again: "committed",
 * "aborted", or NULL when the database cannot say within STATUS_TRIES (unreachable, or the
 * transaction still in progress on the old backend). */
static const char *xact_status(store_db_t *d)
{
    static const char *const sql = "SELECT pg_xact_status($1::xid8)";
    const char *vals[1] = {d->xid};
    double wait = 0.1;
    for (int i = 0; i < STATUS_TRIES; i++) {
        if (i > 0) {
            pause_s(wait);
            wait *= 2;
        }
        if (PQstatus(d->conn) != CONNECTION_OK) {
            PQreset(d->conn);
            d->unprepare = true;
            if (PQstatus(d->conn) != CONNECTION_OK)
                continue;
            session_setup(d->conn);
        }
        if (PQpipelineStatus(d->conn) != PQ_PIPELINE_OFF && !PQexitPipelineMode(d->conn)) {
            PQreset(d->conn);
            d->unprepare = true;
            continue;
        }
        PGresult *r = PQexecParams(d->conn, sql, 1, NULL, vals, NULL, NULL, 0);
        const char *st = NULL;
        if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1 && !PQgetisnull(r, 0, 0)) {
            const char *v = PQgetvalue(r, 0, 0);
            st = !strcmp(v, "committed") ? "committed" : !strcmp(v, "aborted") ? "aborted" : NULL;
        }
        PQclear(r);
        if (st)
            return st;
    }
    return NULL;
}

/* After a commit that failed with the connection lost once its COMMIT was sent: what became
 * of the transaction. 0: it committed; -1: it did not (d->unknown when nobody can say). */
static int lost_commit(store_db_t *d)
{
    if (d->answered_error)
        return -1; /* the server refused a command of it: rolled back */
    const char *st = d->xid[0] ? xact_status(d) : NULL;
    if (st && !strcmp(st, "committed")) {
        fprintf(stderr, "gantry server: the answer to a COMMIT was lost (%.200s); PostgreSQL "
                "says transaction %s committed: acknowledged.\n", d->msg, d->xid);
        d->failed = false;
        d->msg[0] = '\0';
        return 0;
    }
    if (!st) {
        d->unknown = true;
        char m[200];
        size_t k = strnlen(d->msg, sizeof(m) - 1);
        memcpy(m, d->msg, k);
        m[k] = '\0';
        snprintf(d->msg, sizeof(d->msg), "the answer to its COMMIT was lost (%s) and %s",
                 m[0] ? m : "the connection broke",
                 d->xid[0] ? "PostgreSQL could not be asked what became of it"
                           : "its transaction's id never came back");
    }
    return -1;
}

static int pg_commit(store_db_t *d)
{
    int rc = 0;
    if (d->piped) {
        if (!PQsendQueryParams(d->conn, "COMMIT", 0, NULL, NULL, NULL, NULL, 0)) {
            char m[512];
            set_msg(d, pgmsg(d->conn, m, sizeof(m)));
            rc = -1;
        } else {
            sent(d, CMD_COMMIT);
            d->commit_sent = true;
        }
        d->pending++;
        if (pipe_end(d) < 0)
            rc = -1;
        if (rc < 0 && d->commit_sent && d->lost)
            rc = lost_commit(d);
    } else if (PQtransactionStatus(d->conn) == PQTRANS_INERROR) {
        set_msg(d, "a statement of the transaction failed");
        rc = -1;
    } else {
        /* a COMMIT of a failed transaction answers ROLLBACK without an error */
        PGresult *r = PQexec(d->conn, "COMMIT");
        if (PQresultStatus(r) != PGRES_COMMAND_OK || strcmp(PQcmdStatus(r), "COMMIT")) {
            char m[512];
            set_msg(d, PQresultStatus(r) == PGRES_COMMAND_OK ? "the transaction was rolled back"
                                                             : pgmsg(d->conn, m, sizeof(m)));
            rc = -1;
        }
        PQclear(r);
    }
    /* a COMMIT of a failed transaction answers ROLLBACK without an error */
    if (rc == 0 && PQtransactionStatus(d->conn) != PQTRANS_IDLE) {
        set_msg(d, "the transaction was rolled back");
        rc = -1;
    }
    if (rc == 0 && d->failed)
        rc = -1;
    tx_end(d);
    return rc;
}

static void pg_rollback(store_db_t *d)
{
    if (!d->in_tx)
        return;
    pipe_end(d);
    tx_end(d);
}

static long pg_bad_statement(store_db_t *d) { return d->bad; }

static bool pg_outcome_unknown(store_db_t *d) { return d->unknown; }

static const char *pg_errmsg(store_db_t *d)
{
    return d->msg[0] ? d->msg : "PostgreSQL failed";
}

static const char *pg_inject_msg(int code)
{
    static char buf[64];
    snprintf(buf, sizeof(buf), "simulated failure (code %d)", code);
    return buf;
}

/* Rows of sql, one at a time (single-row mode: a large table is never held whole). */
static int query_conn(PGconn *c, const char *sql, const store_val_t *v, size_t n,
                      store_row_fn fn, void *arg, const char *what, gt_error_t *err)
{
    const char *vals[MAX_PARAMS];
    char nums[MAX_PARAMS][24];
    if (n > MAX_PARAMS)
        return gt_error_set(err, "internal", "too many parameters");
    to_params(v, n, vals, nums);
    char *text = translate_sql(sql);
    int rc = 0;
    bool stopped = false, failed = false;
    char m[512] = "";
    if (!PQsendQueryParams(c, text, (int)n, NULL, vals, NULL, NULL, 0)) {
        free(text);
        errno = EIO;
        return gt_error_set(err, "store_error", "the job store failed to %s: %s", what,
                            pgmsg(c, m, sizeof(m)));
    }
    free(text);
    PQsetSingleRowMode(c);
    PGresult *r;
    while ((r = PQgetResult(c))) {
        ExecStatusType s = PQresultStatus(r);
        if (s == PGRES_SINGLE_TUPLE && !stopped && !failed) {
            store_val_t cols[MAX_PARAMS];
            int nc = PQnfields(r);
            if (nc > MAX_PARAMS)
                nc = MAX_PARAMS;
            for (int i = 0; i < nc; i++) {
                if (PQgetisnull(r, 0, i)) {
                    cols[i] = (store_val_t){STORE_VAL_NULL, 0, NULL};
                    continue;
                }
                const char *s0 = PQgetvalue(r, 0, i);
                Oid t = PQftype(r, i);
                bool num = t == INT8OID || t == INT4OID || t == INT2OID;
                cols[i] = (store_val_t){num ? STORE_VAL_INT : STORE_VAL_TEXT,
                                        strtoll(s0, NULL, 10), num ? NULL : s0};
            }
            if (fn(arg, cols, (size_t)nc, err) < 0) {
                stopped = true; /* the rest is read and dropped */
                rc = -1;
            }
        } else if (s != PGRES_SINGLE_TUPLE && s != PGRES_TUPLES_OK && s != PGRES_COMMAND_OK &&
                   !failed) {
            failed = true;
            snprintf(m, sizeof(m), "%s", result_msg(r));
        }
        PQclear(r);
    }
    if (failed && !stopped) {
        for (char *p = m; *p; p++)
            if (*p == '\n')
                *p = *(p + 1) ? ' ' : '\0';
        errno = EIO;
        return gt_error_set(err, "store_error", "the job store failed to %s: %s", what, m);
    }
    if (rc < 0)
        errno = EINVAL;
    return rc;
}

/* On the write connection, inside this thread's transaction too: the statements sent so far
 * run first (the pipeline is synced and read), the read sees them, and the pipeline goes on. */
static int pg_query(store_db_t *d, bool reader, const char *sql, const store_val_t *v, size_t n,
                    store_row_fn fn, void *arg, gt_error_t *err)
{
    if (reader)
        return query_conn(d->rconn, sql, v, n, fn, arg, "read its events", err);
    bool mine = d->in_tx && pthread_equal(d->owner, pthread_self());
    if (!mine)
        pthread_mutex_lock(&d->mu);
    int rc = 0;
    if (mine && d->piped) {
        rc = pipe_end(d);
        if (rc < 0) {
            errno = EIO;
            gt_error_set(err, "store_error", "the job store failed to write: %s", pg_errmsg(d));
        }
    }
    if (rc == 0)
        rc = query_conn(d->conn, sql, v, n, fn, arg, "read its tables", err);
    if (rc == 0 && mine && PQenterPipelineMode(d->conn))
        d->piped = true; /* else the next statements go one by one */
    if (!mine)
        pthread_mutex_unlock(&d->mu);
    return rc;
}

static int pg_read_begin(store_db_t *d, gt_error_t *err)
{
    if (PQstatus(d->rconn) != CONNECTION_OK) {
        PQreset(d->rconn);
        session_setup(d->rconn);
    }
    return run(d->rconn, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", "read its events",
               err);
}

static void pg_read_end(store_db_t *d)
{
    PGresult *r = PQexec(d->rconn, PQtransactionStatus(d->rconn) == PQTRANS_INERROR
                                       ? "ROLLBACK" : "COMMIT");
    PQclear(r);
}

static int seqs_row(void *arg, const store_val_t *c, size_t n, gt_error_t *err)
{
    (void)err;
    uint64_t **out = arg;
    if (n >= 2) {
        *out[0] = (uint64_t)c[0].i;
        *out[1] = (uint64_t)c[1].i;
    }
    return 0;
}

static int pg_last_seqs(store_db_t *d, uint64_t *event, uint64_t *audit, gt_error_t *err)
{
    *event = *audit = 0;
    uint64_t *out[2] = {event, audit};
    if (PQstatus(d->rconn) != CONNECTION_OK) {
        PQreset(d->rconn);
        session_setup(d->rconn);
    }
    return query_conn(d->rconn,
                      "SELECT GREATEST(COALESCE((SELECT MAX(seq) FROM job_events), 0),"
                      "  COALESCE((SELECT seq FROM seq_high WHERE name = 'job_events'), 0)),"
                      " GREATEST(COALESCE((SELECT MAX(seq) FROM audit), 0),"
                      "  COALESCE((SELECT seq FROM seq_high WHERE name = 'audit'), 0))",
                      NULL, 0, seqs_row, out, "read its events", err);
}

/* ---- creating, opening, checking the schema ---- */

/* Held for the transaction that creates or migrates: one server at a time does. */
#define SCHEMA_LOCK "SELECT pg_advisory_xact_lock(7305849217)"

static int exists_row(void *arg, const store_val_t *c, size_t n, gt_error_t *err)
{
    (void)err;
    *(bool *)arg = n > 0 && c[0].type == STORE_VAL_TEXT && c[0].s && !strcmp(c[0].s, "true");
    return 0;
}

/* Whether the table exists in the connection's search path. */
static int has_table(PGconn *c, const char *name, bool *yes, gt_error_t *err)
{
    store_val_t v[1] = {{STORE_VAL_TEXT, 0, name}};
    *yes = false;
    return query_conn(c, "SELECT (to_regclass(?) IS NOT NULL)::text", v, 1, exists_row, yes,
                      "read its tables", err);
}

static bool pg_exists(const char *where)
{
    gt_error_t err = {0};
    PGconn *c = connect_db(where, &err);
    if (!c)
        return true; /* unknown: not a first start (store_open then says what is wrong) */
    bool schema = false, jobs = false;
    int rc = has_table(c, "gantry_schema", &schema, &err);
    if (rc == 0)
        rc = has_table(c, "jobs", &jobs, &err);
    PQfinish(c);
    return rc < 0 || schema || jobs;
}

static void pg_close(store_db_t *d)
{
    if (!d)
        return;
    PQfinish(d->conn);
    PQfinish(d->rconn);
    for (size_t i = 0; i < d->ncache; i++)
        free(d->cache[i].text);
    free(d->cache);
    free(d->cmd);
    pthread_mutex_destroy(&d->mu);
    free(d);
}

static store_db_t *db_new(PGconn *c)
{
    store_db_t *d = xcalloc(1, sizeof(*d));
    pthread_mutex_init(&d->mu, NULL);
    d->conn = c;
    return d;
}

/* The migration steps above version `from`, and the version recorded (inside the caller's
 * transaction). */
static int migrate(PGconn *c, int64_t from, gt_error_t *err)
{
    for (int64_t v = from + 1; v <= STORE_SCHEMA_VERSION; v++) {
        char what[64];
        snprintf(what, sizeof(what), "create the tables of schema version %lld", (long long)v);
        if (!pg_steps[v]) { /* a version added to SQLite's schema alone: never a store half made */
            errno = EINVAL;
            return gt_error_set(err, "internal", "this gantry has no PostgreSQL step for schema "
                                "version %lld (src/server/store_pg.c, pg_steps)", (long long)v);
        }
        if (run(c, pg_steps[v], what, err) < 0)
            return -1;
    }
    char sql[96];
    snprintf(sql, sizeof(sql), "UPDATE gantry_schema SET version = %d", STORE_SCHEMA_VERSION);
    return run(c, sql, "record its schema version", err);
}

static int pg_create_begin(const char *where, store_db_t **out, gt_error_t *err)
{
    PGconn *c = connect_db(where, err);
    if (!c)
        return -1;
    bool schema = false, jobs = false;
    char d[256];
    if (run(c, "BEGIN", "begin", err) < 0 || run(c, SCHEMA_LOCK, "lock its schema", err) < 0 ||
        has_table(c, "gantry_schema", &schema, err) < 0 || has_table(c, "jobs", &jobs, err) < 0)
        goto fail;
    if (schema || jobs) {
        gt_error_set(err, "store_error", "%s already holds a store; a store is created only "
                     "where there is none", describe(c, d, sizeof(d)));
        PQfinish(c);
        errno = EEXIST;
        return -1;
    }
    if (run(c, "CREATE TABLE gantry_schema (version INTEGER NOT NULL);"
               "INSERT INTO gantry_schema (version) VALUES (0)", "create its tables", err) < 0 ||
        migrate(c, 0, err) < 0)
        goto fail;
    *out = db_new(c);
    return 0;
fail:
    PQfinish(c);
    errno = EIO;
    return -1;
}

static int pg_create_end(store_db_t *d, bool commit, gt_error_t *err)
{
    int rc = commit ? run(d->conn, "COMMIT", "commit its first records", err) : -1;
    pg_close(d);
    if (rc < 0)
        errno = EIO;
    return rc;
}

static int version_row(void *arg, const store_val_t *c, size_t n, gt_error_t *err)
{
    (void)err;
    if (n > 0 && c[0].type == STORE_VAL_INT)
        *(int64_t *)arg = c[0].i;
    return 0;
}

/* What to do with a store that cannot be used. */
#define PG_ADVICE                                                                           \
    "the server never replaces an existing store: restore the database from a backup, or "  \
    "point --store at an empty database to start a new, empty cluster"

static int check_schema(PGconn *c, const char *where, gt_error_t *err)
{
    char d[256], loc[512];
    describe(c, d, sizeof(d));
    describe_where(where, loc, sizeof(loc));
    bool schema = false;
    int64_t version = -1;
    if (run(c, "BEGIN", "begin", err) < 0 || run(c, SCHEMA_LOCK, "lock its schema", err) < 0 ||
        has_table(c, "gantry_schema", &schema, err) < 0)
        return -1;
    if (!schema) {
        errno = EINVAL;
        return gt_error_set(err, "store_error", "%s (%s) holds no Gantry store (no "
                            "gantry_schema table); " PG_ADVICE, d, loc);
    }
    if (query_conn(c, "SELECT version FROM gantry_schema", NULL, 0, version_row, &version,
                   "read its schema version", err) < 0)
        return -1;
    if (version < 0) {
        errno = EINVAL;
        return gt_error_set(err, "store_error", "%s has no schema version: it is damaged or "
                            "not a Gantry store; " PG_ADVICE, d);
    }
    if (version > STORE_SCHEMA_VERSION) {
        errno = EINVAL;
        return gt_error_set(err, "store_error", "%s has schema version %lld, newer than this "
                            "gantry's (%d): run the gantry that wrote it", d,
                            (long long)version, STORE_SCHEMA_VERSION);
    }
    for (size_t i = 0; i < sizeof(pg_tables) / sizeof(*pg_tables); i++) {
        if (pg_tables[i].since > version)
            continue;
        bool yes = false;
        if (has_table(c, pg_tables[i].name, &yes, err) < 0)
            return -1;
        if (!yes) {
            errno = EINVAL;
            return gt_error_set(err, "store_error", "%s has no '%s' table: it is damaged or "
                                "not a Gantry store; " PG_ADVICE, d, pg_tables[i].name);
        }
    }
    if (version < STORE_SCHEMA_VERSION) {
        if (migrate(c, version, err) < 0)
            return -1;
        fprintf(stderr, "gantry server: %s upgraded from schema version %lld to %d.\n", d,
                (long long)version, STORE_SCHEMA_VERSION);
    }
    return run(c, "COMMIT", "commit its schema", err);
}

static int pg_open(const char *where, store_db_t **out, gt_error_t *err)
{
    PGconn *c = connect_db(where, err);
    if (!c)
        return -1;
    store_db_t *d = db_new(c);
    if (check_schema(c, where, err) < 0)
        goto fail;
    if (!(d->rconn = connect_db(where, err)))
        goto fail;
    *out = d;
    return 0;
fail:;
    int e = errno == EINVAL ? EINVAL : EIO;
    pg_close(d);
    errno = e;
    return -1;
}

const store_backend_t store_backend_pg = {
    .name = "postgresql",
    .claims = pg_claims,
    .secure = pg_secure,
    .describe = describe_where,
    .exists = pg_exists,
    .create_begin = pg_create_begin,
    .create_end = pg_create_end,
    .open = pg_open,
    .close = pg_close,
    .begin = pg_begin,
    .exec = pg_exec,
    .commit = pg_commit,
    .rollback = pg_rollback,
    .errmsg = pg_errmsg,
    .bad_statement = pg_bad_statement,
    .outcome_unknown = pg_outcome_unknown,
    .inject_msg = pg_inject_msg,
    .query = pg_query,
    .read_begin = pg_read_begin,
    .read_end = pg_read_end,
    .last_seqs = pg_last_seqs,
    .tokens_order = "created, hash",
    .writers = 16,
};
