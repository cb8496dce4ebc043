#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "server/store.h"
#include "server/store_backend.h"
#include "tap.h"

static store_t *st;

static void *writer(void *arg)
{
    long base = (long)arg;
    for (int i = 0; i < 100; i++) {
        store_op_t op = {.kind = STORE_JOB_PUT, .id = (uint64_t)(base + i), .a = "research",
                         .b = "alice", .c = "pending", .d = "{\"x\":1}"};
        uint64_t t = store_enqueue(st, &op, 1);
        if (store_wait(st, t, NULL) < 0)
            return (void *)1;
    }
    return NULL;
}

static int count;
static uint64_t last_id;
static int ordered = 1;
static int on_job(void *arg, uint64_t id, const char *doc, gt_error_t *err)
{
    (void)arg;
    (void)err;
    if (id <= last_id)
        ordered = 0;
    last_id = id;
    count++;
    if (id == 5 && strcmp(doc, "{\"x\":2}") != 0)
        ordered = 0;
    return 0;
}

static int ntok, ntok_all, ntok_timed;
static int on_token(void *arg, const char *h, const char *u, const char *r, const char *t,
                    int64_t created, int64_t expires)
{
    (void)arg;
    ntok_all++;
    ntok += !strcmp(h, "h1") && !strcmp(u, "alice") && !strcmp(r, "member") && t == NULL;
    ntok_timed += !strcmp(h, "h3") && created == 1700000000 && expires == 1800000000 &&
                  t && !strcmp(t, "research");
    return 0;
}

static char users_seen[256];
static int on_user(void *arg, const char *name, const char *doc)
{
    (void)arg;
    snprintf(users_seen + strlen(users_seen), sizeof(users_seen) - strlen(users_seen), "%s=%s;",
             name, doc);
    return 0;
}

static void sh(const char *fmt, const char *dir)
{
    char cmd[1024];
    snprintf(cmd, sizeof(cmd), fmt, dir, dir, dir);
    if (system(cmd) != 0)
        diag("command failed: %s", cmd);
}

static void notified(void *arg) { (*(int *)arg)++; }

static unsigned mode_of(const char *dir, const char *name)
{
    char p[512];
    struct stat sb;
    snprintf(p, sizeof(p), "%s%s", dir, name);
    return stat(p, &sb) == 0 ? (unsigned)(sb.st_mode & 07777) : 01000;
}

/* Files and directory found open to others are set owner-only when the store opens. */
static void check_modes(const char *dir)
{
    gt_error_t err = {0};
    sh("chmod 0755 %s && chmod 0644 %s/gantry.db", dir);
    is_int(store_open(dir, &st, &err), 0, "store opens with loose modes");
    is_int(mode_of(dir, ""), 0700, "data directory set to 0700");
    is_int(mode_of(dir, "/gantry.db"), 0600, "gantry.db set to 0600");
    is_int(mode_of(dir, "/gantry.db-wal"), 0600, "gantry.db-wal is 0600");
    store_close(st);
}

/* A store that exists but can't be used is refused with what is wrong, never replaced. */
static void check_damaged(void)
{
    gt_error_t err = {0};
    char d[] = "/tmp/gantry-store-dmg-XXXXXX";
    if (!mkdtemp(d))
        return;
    sh(": > %s/gantry.db", d);
    is_int(store_open(d, &st, &err), -1, "a zero-byte gantry.db is refused");
    ok(strstr(err.msg, "empty (0 bytes)") != NULL, "it says it is empty: %s", err.msg);
    ok(strstr(err.msg, "never replaces") != NULL, "and what to do");
    is_int(mode_of(d, "/gantry.db") != 01000, 1, "the file is still there");
    ok(store_exists(d), "a zero-byte gantry.db is a store that exists (no first start)");

    sh("echo 'not a database, just text that is long enough to be a header' > %s/gantry.db", d);
    is_int(store_open(d, &st, &err), -1, "a file that is not SQLite is refused");
    ok(strstr(err.msg, "not a readable SQLite database") != NULL, "it says so: %s", err.msg);

    sh("rm -f %s/gantry.db", d);
    is_int(store_create(d, NULL, 0, &err), 0, "a fresh store");
    sh("sqlite3 %s/gantry.db 'DROP TABLE tokens'", d);
    is_int(store_open(d, &st, &err), -1, "a store without its tokens table is refused");
    ok(strstr(err.msg, "no 'tokens' table") != NULL, "it names the table: %s", err.msg);

    sh("rm -f %s/gantry.db && sqlite3 %s/gantry.db 'PRAGMA user_version = 99; "
       "CREATE TABLE t (x)'", d);
    is_int(store_open(d, &st, &err), -1, "a newer schema version is refused");
    ok(strstr(err.msg, "schema version 99") != NULL, "it gives the version: %s", err.msg);

    /* A store from before versioning (user_version 0, every table) is upgraded in place. */
    sh("rm -f %s/gantry.db && sqlite3 %s/gantry.db \"CREATE TABLE jobs (id INTEGER PRIMARY KEY, "
       "team TEXT NOT NULL, user TEXT NOT NULL, state TEXT NOT NULL, doc TEXT NOT NULL); "
       "CREATE TABLE tokens (hash TEXT PRIMARY KEY, user TEXT NOT NULL, role TEXT NOT NULL, "
       "team TEXT); CREATE TABLE nodes (name TEXT PRIMARY KEY, epoch INTEGER NOT NULL, doc "
       "TEXT NOT NULL); CREATE TABLE teams (name TEXT PRIMARY KEY, doc TEXT NOT NULL); "
       "CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);\"", d);
    is_int(store_open(d, &st, &err), 0, "an unversioned store of the same tables opens");
    store_close(st);
    char cmd[512];
    snprintf(cmd, sizeof(cmd), "sqlite3 %s/gantry.db 'PRAGMA user_version' | grep -qx 7", d);
    is_int(system(cmd), 0, "and is upgraded to version 7");
    snprintf(cmd, sizeof(cmd), "sqlite3 %s/gantry.db 'SELECT count(created + expires) FROM "
             "tokens; SELECT count(*) FROM users; SELECT count(*) FROM settings; "
             "SELECT count(*) FROM job_events; SELECT count(*) FROM audit; "
             "SELECT count(*) FROM series; SELECT count(*) FROM leader' >/dev/null 2>&1", d);
    is_int(system(cmd), 0, "version 7: tokens have created and expires, users, settings, "
                           "job_events, audit, series and leader their tables");

    /* A store of version 2 (no settings table) is upgraded to 7, its rows kept. */
    sh("rm -f %s/gantry.db*", d);
    is_int(store_create(d, NULL, 0, &err), 0, "a fresh store");
    sh("sqlite3 %s/gantry.db \"DROP TABLE settings; DROP TABLE job_events; DROP TABLE audit; "
       "DROP TABLE series; INSERT INTO users VALUES ('u', '{}'); PRAGMA user_version = 2\"", d);
    int opened = store_open(d, &st, &err);
    is_int(opened, 0, "a store of version 2 opens");
    store_op_t put = {.kind = STORE_SETTING_PUT, .a = "volume", .b = "v", .d = "{}"};
    gt_error_t werr = {0};
    if (opened == 0) {
        is_int(store_wait(st, store_enqueue_client(st, &put, 1), &werr), 0,
               "and takes a setting: %s", werr.msg);
        store_close(st);
    }
    snprintf(cmd, sizeof(cmd), "sqlite3 %s/gantry.db 'PRAGMA user_version' | grep -qx 7", d);
    is_int(system(cmd), 0, "version 2 is upgraded to version 7");
    snprintf(cmd, sizeof(cmd), "sqlite3 %s/gantry.db \"SELECT kind || name FROM settings; "
             "SELECT name FROM users\" | tr '\\n' ' ' | grep -qx 'volumev u '", d);
    is_int(system(cmd), 0, "the setting is stored and the users' rows are kept");

    /* A store of version 4 (no series table) is upgraded to 5; a point is stored and read. */
    sh("rm -f %s/gantry.db*", d);
    is_int(store_create(d, NULL, 0, &err), 0, "a fresh store");
    sh("sqlite3 %s/gantry.db \"DROP TABLE series; PRAGMA user_version = 4\"", d);
    opened = store_open(d, &st, &err);
    is_int(opened, 0, "a store of version 4 opens: %s", err.msg);
    if (opened == 0) {
        store_op_t pt = {.kind = STORE_SERIES_PUT, .id = 0, .n = 1700000000, .d = "{\"a\":1}"};
        is_int(store_wait(st, store_enqueue(st, &pt, 1), &werr), 0, "and takes a series point");
        store_close(st);
    }
    snprintf(cmd, sizeof(cmd), "sqlite3 %s/gantry.db \"SELECT res || ' ' || t || ' ' || doc "
             "FROM series\" | grep -qx '0 1700000000 {\"a\":1}'", d);
    is_int(system(cmd), 0, "version 4 is upgraded: the point is in the series table");

    sh("rm -f %s/gantry.db* && touch %s/gantry.db-wal", d);
    ok(store_exists(d), "a WAL without its database is not a first start");
    is_int(store_open(d, &st, &err), -1, "and is refused");
    ok(strstr(err.msg, "incomplete") != NULL, "as incomplete: %s", err.msg);
    sh("rm -rf %s", d);
}

static int has_id_found;
static uint64_t has_id_want;
static int find_id(void *arg, uint64_t id, const char *doc, gt_error_t *err)
{
    (void)arg;
    (void)doc;
    (void)err;
    has_id_found |= id == has_id_want;
    return 0;
}
static int stored(store_t *s, uint64_t id)
{
    has_id_found = 0;
    has_id_want = id;
    store_load_jobs(s, find_id, NULL, NULL);
    return has_id_found;
}

static int wait_until_durable(store_t *s, uint64_t t)
{
    for (int i = 0; i < 1000; i++) { /* 10 s: backoff is at most 2 s */
        if (store_durable(s, t))
            return 0;
        usleep(10000);
    }
    return -1;
}

static uint64_t put(store_t *s, uint64_t id, bool client)
{
    store_op_t op = {.kind = STORE_JOB_PUT, .id = id, .a = "t", .b = "u", .c = "pending",
                     .d = "{}"};
    return client ? store_enqueue_client(s, &op, 1) : store_enqueue(s, &op, 1);
}

/* Fault injection: a failed commit (disk full, I/O error) refuses a client's change whole and
 * changes nothing; a kept change is retried until it commits; writes resume by themselves. */
static bool on_pg; /* the checks run on PostgreSQL (GANTRY_TEST_PG) */

static void check_failed_commits(const char *dir)
{
    gt_error_t err = {0};
    store_stats_t s0, s1;
    is_int(store_open(dir, &st, &err), 0, "store opens for fault injection");
    store_get_stats(st, &s0);

    store_fail_next_commits(st, 1, SQLITE_FULL);
    uint64_t t = put(st, 9001, true);
    errno = 0;
    is_int(store_wait(st, t, &err), -1, "disk full: a client's change is refused");
    is_int(errno, EAGAIN, "EAGAIN");
    ok(strstr(err.msg, "nothing was changed") &&
       strstr(err.msg, on_pg ? "simulated failure (code 13)" : "database or disk is full"),
       "the message says nothing changed and why: %s", err.msg);
    ok(!stored(st, 9001), "the refused change is not in the store");
    for (int i = 0; i < 1000 && store_degraded(st); i++) /* 10 s */
        usleep(10000);
    ok(!store_degraded(st), "with nothing kept to retry, the store probes and is no longer "
                            "degraded (no restart, no new write)");
    is_int(wait_until_durable(st, put(st, 9002, false)), 0, "writes resume");
    t = put(st, 9003, true);
    is_int(store_wait(st, t, &err), 0, "a client's change commits again");
    ok(stored(st, 9003), "and is stored");

    /* A kept change (memory already holds it) survives failed commits and is retried. */
    store_fail_next_commits(st, 1000000, SQLITE_IOERR);
    uint64_t k = put(st, 9004, false);
    for (int i = 0; i < 500 && !store_degraded(st); i++)
        usleep(10000);
    ok(store_degraded(st), "I/O error: the store is degraded");
    errno = 0;
    is_int(store_wait(st, k, &err), -1, "waiting on a kept change answers at once while "
                                        "degraded");
    is_int(errno, EAGAIN, "EAGAIN");
    ok(strstr(err.msg, "kept and will be saved") &&
       strstr(err.msg, on_pg ? "simulated failure (code 10)" : "disk I/O error"),
       "it says it is kept, and why: %s", err.msg);
    /* While degraded, a client's change is refused at once, without waiting. */
    uint64_t c = put(st, 9005, true);
    is_int(store_wait(st, c, &err), -1, "degraded: a client's change is refused at once");
    store_fail_next_commits(st, 0, 0); /* the disk has room again */
    is_int(wait_until_durable(st, k), 0, "the kept change commits once the disk has room");
    ok(stored(st, 9004), "the kept change is stored");
    ok(!stored(st, 9005), "the refused one is not");
    store_get_stats(st, &s1);
    ok(s1.failed_commits - s0.failed_commits >= 2, "failed commits counted (%llu)",
       (unsigned long long)(s1.failed_commits - s0.failed_commits));
    is_int(s1.refused - s0.refused, 2, "two client batches refused");

    /* A client batch and a kept one queued together: the failure refuses only the client's. */
    store_fail_next_commits(st, 1, SQLITE_FULL);
    c = put(st, 9006, true);
    k = put(st, 9007, false);
    is_int(store_wait(st, c, &err), -1, "the client's batch of a failed transaction is refused");
    is_int(wait_until_durable(st, k), 0, "the kept batch of it commits on a retry");
    ok(!stored(st, 9006) && stored(st, 9007), "the store holds exactly the kept one");

    /* A statement the database rejects (a NOT NULL column left NULL) fails its transaction:
     * the client batch is refused whole, its other rows with it, and writes go on. */
    for (int i = 0; i < 1000 && store_degraded(st); i++)
        usleep(10000);
    store_op_t bad[] = {
        {.kind = STORE_JOB_PUT, .id = 9010, .a = "t", .b = "u", .c = "pending", .d = "{}"},
        {.kind = STORE_JOB_PUT, .id = 9011, .a = NULL, .b = "u", .c = "pending",
         .d = "{\"env\":{\"TOKEN\":\"hunter2\"}}"},
    };
    is_int(store_wait(st, store_enqueue_client(st, bad, 2), &err), -1, "a batch with a row "
           "the database rejects is refused");
    ok(strstr(err.msg, on_pg ? "null value" : "NOT NULL") != NULL, "the database's reason: %s",
       err.msg);
    ok(!strstr(err.msg, "hunter2"), "the message quotes no row (a job's secrets)");
    ok(!stored(st, 9010) && !stored(st, 9011), "none of its rows is stored");
    for (int i = 0; i < 1000 && store_degraded(st); i++)
        usleep(10000);
    is_int(store_wait(st, put(st, 9012, true), &err), 0, "the next client's change commits: %s",
           err.msg);

    /* Notifications fire for a refused ticket (http parks on them). */
    store_fail_next_commits(st, 1000000, SQLITE_FULL);
    put(st, 9008, false);
    for (int i = 0; i < 500 && !store_degraded(st); i++)
        usleep(10000);
    int fired = 0;
    store_notify(st, put(st, 9009, false), notified, &fired);
    is_int(fired, 1, "degraded: a notification on a kept change fires at once");
    store_fail_next_commits(st, 0, 0);
    store_close(st);
    is_int(store_open(dir, &st, &err), 0, "reopens");
    ok(stored(st, 9008) && stored(st, 9009), "kept changes queued while degraded are committed "
                                             "by close");
    store_close(st);
}

/* Group commit: one transaction carries several clients' batches. When one of them holds a
 * row the database rejects (a NOT NULL column left NULL), the transaction fails; that batch
 * alone is refused, with the database's reason, and the others (clients' and kept) commit
 * without it, at once: the store is not degraded. */
static void check_bad_row_in_group(const char *dir)
{
    gt_error_t err = {0};
    store_stats_t s0, s1;
    is_int(store_open(dir, &st, &err), 0, "store opens (a bad row among a group's batches)");
    store_hold(st, true); /* the batches below queue up: the next transaction takes them all */
    store_op_t bad[] = {
        {.kind = STORE_JOB_PUT, .id = 9202, .a = "t", .b = "u", .c = "pending", .d = "{}"},
        {.kind = STORE_JOB_PUT, .id = 9203, .a = NULL, .b = "u", .c = "pending",
         .d = "{\"env\":{\"TOKEN\":\"hunter2\"}}"},
    };
    uint64_t c1 = put(st, 9201, true);
    uint64_t c2 = store_enqueue_client(st, bad, 2);
    uint64_t c3 = put(st, 9204, true);
    uint64_t k = put(st, 9205, false);
    uint64_t c4 = put(st, 9206, true);
    store_get_stats(st, &s0);
    store_hold(st, false);
    is_int(store_wait(st, c1, &err), 0, "the batch before the bad one commits: %s", err.msg);
    memset(&err, 0, sizeof(err));
    errno = 0;
    is_int(store_wait(st, c2, &err), -1, "the batch with the rejected row is refused");
    is_int(errno, EINVAL, "EINVAL: its values, not the store");
    ok(strstr(err.msg, on_pg ? "null value" : "NOT NULL") && strstr(err.msg, "nothing was "
       "changed") && !strstr(err.msg, "hunter2"), "with the database's reason, no row quoted: %s",
       err.msg);
    memset(&err, 0, sizeof(err));
    is_int(store_wait(st, c3, &err), 0, "the batch after it commits: %s", err.msg);
    is_int(store_wait(st, c4, &err), 0, "and the next: %s", err.msg);
    is_int(wait_until_durable(st, k), 0, "the kept batch among them commits");
    ok(stored(st, 9201) && stored(st, 9204) && stored(st, 9205) && stored(st, 9206),
       "the good batches' rows are stored");
    ok(!stored(st, 9202) && !stored(st, 9203), "none of the refused batch's rows is");
    ok(!store_degraded(st), "the store is not degraded");
    store_get_stats(st, &s1);
    is_int(s1.failed_commits - s0.failed_commits, 1, "one transaction failed");
    is_int(s1.transactions - s0.transactions, 1, "the others committed in one more");
    is_int(s1.refused - s0.refused, 1, "one batch refused");
    store_close(st);
}

/* What every backend must do alike: create once, never over; group commit of concurrent
 * writers; later batches win; tokens, users, meta; reopening finds it all. */
static void check_common(const char *dir)
{
    gt_error_t err = {0};
    count = 0, last_id = 0, ordered = 1, ntok = ntok_all = ntok_timed = 0;
    users_seen[0] = '\0';
    is_int(store_open(dir, &st, &err), -1, "no store yet: open refuses (it never creates)");
    ok(!store_exists(dir), "an empty directory holds no store");
    is_int(store_create(dir, NULL, 0, &err), 0, "first start creates the store: %s", err.msg);
    ok(store_exists(dir), "now it does");
    is_int(store_create(dir, NULL, 0, &err), -1, "an existing store is never created over");
    is_int(errno, EEXIST, "EEXIST");
    st = NULL;
    is_int(store_open(dir, &st, &err), 0, "store opens");
    if (!st)
        return; /* the rest writes through it */

    pthread_t th[8];
    for (long i = 0; i < 8; i++)
        pthread_create(&th[i], NULL, writer, (void *)(1000 * (i + 1)));
    int bad = 0;
    for (int i = 0; i < 8; i++) {
        void *r;
        pthread_join(th[i], &r);
        bad += r != NULL;
    }
    is_int(bad, 0, "800 concurrent writes committed");
    store_stats_t s;
    store_get_stats(st, &s);
    is_int(s.batches, 800, "800 batches");
    ok(s.transactions <= s.batches, "group commit: %llu transactions for 800 batches",
       (unsigned long long)s.transactions);

    /* Later batches win: the same id written twice keeps the second. */
    store_op_t ops[3] = {
        {.kind = STORE_JOB_PUT, .id = 5, .a = "t", .b = "u", .c = "pending", .d = "{\"x\":1}"},
        {.kind = STORE_JOB_PUT, .id = 5, .a = "t", .b = "u", .c = "running", .d = "{\"x\":2}"},
        {.kind = STORE_META_PUT, .a = "next_id", .n = 42},
    };
    uint64_t t1 = store_enqueue(st, ops, 3);
    store_op_t tk = {.kind = STORE_TOKEN_PUT, .a = "h1", .b = "alice", .c = "member"};
    uint64_t t2 = store_enqueue(st, &tk, 1);
    ok(t2 > t1, "tickets increase");
    is_int(store_wait(st, t2, &err), 0, "later ticket waits for both");
    /* Tokens keep when they were created and expire; a revoked one is deleted. Users'
     * mappings are documents by name. */
    store_op_t more[] = {
        {.kind = STORE_TOKEN_PUT, .a = "h2", .b = "bob", .c = "member", .d = "research"},
        {.kind = STORE_TOKEN_PUT, .a = "h3", .b = "carol", .c = "viewer", .d = "research",
         .n = 1700000000, .m = 1800000000},
        {.kind = STORE_TOKEN_DEL, .a = "h2"},
        {.kind = STORE_USER_PUT, .a = "alice", .d = "{\"unix_user\":\"alice\"}"},
        {.kind = STORE_USER_PUT, .a = "bob", .d = "{\"unix_user\":\"bob\"}"},
        {.kind = STORE_USER_DEL, .a = "bob"},
    };
    is_int(store_wait(st, store_enqueue(st, more, 6), &err), 0, "tokens and users written");
    store_close(st);

    is_int(store_open(dir, &st, &err), 0, "store reopens");
    is_int(store_load_jobs(st, on_job, NULL, &err), 0, "jobs load");
    is_int(count, 801, "every job is there after reopening");
    ok(ordered, "jobs load in id order with their last document");
    is_int(store_load_tokens(st, on_token, NULL, &err), 0, "tokens load");
    is_int(ntok, 1, "token row intact");
    is_int(ntok_timed, 1, "a token's created and expires times are kept");
    is_int(ntok_all, 2, "a deleted (revoked) token is gone");
    is_int(store_load_users(st, on_user, NULL, &err), 0, "users load");
    is_str(users_seen, "alice={\"unix_user\":\"alice\"};", "a user's mapping is kept, a deleted one gone");
    int64_t v;
    is_int(store_meta_get(st, "next_id", 0, &v, &err), 0, "meta read");
    is_int(v, 42, "meta value");
    store_meta_get(st, "absent", 7, &v, &err);
    is_int(v, 7, "meta default");
    store_close(st);
}

/* Events and audit entries: read back in seq order; the highest seq ever stored outlives
 * the rows a purge deletes (numbering never reuses a seq a reader may have seen). */
static int nseen;
static uint64_t seq_sum;
static int on_seq(void *arg, uint64_t seq, const char *doc, gt_error_t *err)
{
    (void)arg, (void)err;
    nseen++;
    seq_sum += seq;
    if (seq == 12 && strcmp(doc, "{\"e\":12}"))
        nseen = -1000;
    return 0;
}

static void check_seqs(const char *dir)
{
    gt_error_t err = {0};
    is_int(store_open(dir, &st, &err), 0, "store opens for events: %s", err.msg);
    store_op_t ev[] = {
        {.kind = STORE_JOB_PUT, .id = 77, .a = "t", .b = "u", .c = "done", .d = "{}"},
        {.kind = STORE_EVENT_PUT, .id = 11, .n = 77, .a = "submitted", .d = "{\"e\":11}"},
        {.kind = STORE_EVENT_PUT, .id = 12, .n = 77, .a = "started", .d = "{\"e\":12}"},
        {.kind = STORE_EVENT_PUT, .id = 13, .n = 78, .a = "submitted", .d = "{\"e\":13}"},
        {.kind = STORE_AUDIT_PUT, .id = 5, .a = "alice", .b = "submit", .c = "job 77",
         .d = "{\"a\":5}"},
    };
    is_int(store_wait(st, store_enqueue(st, ev, 5), &err), 0, "events and an audit entry "
           "written");
    uint64_t upto = 0;
    nseen = 0, seq_sum = 0;
    is_int(store_read_events(st, 77, 0, 0, on_seq, NULL, &upto, &err), 0, "job 77's events "
           "read: %s", err.msg);
    is_int(nseen, 2, "job 77 has two events, the second with its document");
    is_int(upto, 13, "upto is the table's highest seq");
    nseen = 0, seq_sum = 0;
    is_int(store_read_events(st, 0, 11, 1, on_seq, NULL, &upto, &err), 0, "paged read");
    ok(nseen == 1 && seq_sum == 12, "since 11, limit 1: seq 12 alone (%d rows, sum %llu)",
       nseen, (unsigned long long)seq_sum);
    store_op_t purge[] = {{.kind = STORE_JOB_DELETE, .id = 77},
                          {.kind = STORE_JOB_DELETE, .id = 78}};
    is_int(store_wait(st, store_enqueue(st, purge, 2), &err), 0, "jobs purged");
    nseen = 0;
    is_int(store_read_events(st, 0, 0, 0, on_seq, NULL, &upto, &err), 0, "events read");
    is_int(nseen, 0, "a purged job's events went with it");
    uint64_t le = 0, la = 0;
    is_int(store_last_seqs(st, &le, &la, &err), 0, "last seqs read: %s", err.msg);
    is_int(le, 13, "the highest event seq outlives the purge of its rows");
    is_int(la, 5, "the highest audit seq");
    nseen = 0;
    is_int(store_read_audit(st, 0, 0, on_seq, NULL, &upto, &err), 0, "audit read");
    ok(nseen == 1 && upto == 5, "one audit entry, upto 5");
    store_close(st);
}

/* The backend contract store.c and the lease rely on: a read inside the thread's own write
 * transaction sees that transaction's writes; a rolled-back one leaves nothing; a failed
 * statement fails the commit. */
static int meta_val(void *arg, const store_val_t *c, size_t n, gt_error_t *err)
{
    (void)err;
    if (n >= 1 && c[0].type == STORE_VAL_INT)
        *(int64_t *)arg = c[0].i;
    return 0;
}

static void check_backend(const store_backend_t *be, const char *where)
{
    static const char *const put_sql = "INSERT INTO meta (key, value) VALUES (?, ?) "
                                       "ON CONFLICT (key) DO UPDATE SET value = excluded.value";
    static const char *const get_sql = "SELECT value FROM meta WHERE key = ?";
    static const char *const bad_sql = "INSERT INTO meta (key, value) VALUES (?, NULL)";
    gt_error_t err = {0};
    store_db_t *db = NULL;
    is_int(be->open(where, &db, &err), 0, "%s: the backend opens: %s", be->name, err.msg);
    if (!db)
        return;
    store_val_t k = {STORE_VAL_TEXT, 0, "in_tx"}, kv[2] = {k, {STORE_VAL_INT, 41, NULL}};
    int64_t got = -1;
    is_int(be->begin(db), 0, "%s: begin", be->name);
    is_int(be->exec(db, put_sql, kv, 2), 0, "%s: a write", be->name);
    is_int(be->query(db, false, get_sql, &k, 1, meta_val, &got, &err), 0, "%s: a read in the "
           "same transaction: %s", be->name, err.msg);
    is_int(got, 41, "%s: sees the transaction's own write", be->name);
    kv[1].i = 42;
    is_int(be->exec(db, put_sql, kv, 2), 0, "%s: a write after the read", be->name);
    is_int(be->commit(db), 0, "%s: commits: %s", be->name, be->errmsg(db));
    got = -1;
    be->query(db, false, get_sql, &k, 1, meta_val, &got, &err);
    is_int(got, 42, "%s: the write after the read is committed too", be->name);
    is_int(be->begin(db), 0, "%s: begin", be->name);
    kv[1].i = 43;
    be->exec(db, put_sql, kv, 2);
    be->rollback(db);
    got = -1;
    be->query(db, false, get_sql, &k, 1, meta_val, &got, &err);
    is_int(got, 42, "%s: a rolled-back write leaves nothing", be->name);
    is_int(be->begin(db), 0, "%s: begin", be->name);
    kv[1].i = 44;
    be->exec(db, put_sql, kv, 2);
    store_val_t k2 = {STORE_VAL_TEXT, 0, "bad"};
    int bad = be->exec(db, bad_sql, &k2, 1);
    if (bad == 0) /* a pipelined statement fails at the read or the commit */
        bad = be->query(db, false, get_sql, &k, 1, meta_val, &got, &err);
    if (bad == 0)
        bad = be->commit(db);
    else
        be->rollback(db);
    is_int(bad, -1, "%s: a NOT NULL violation fails the transaction", be->name);
    got = -1;
    be->query(db, false, get_sql, &k, 1, meta_val, &got, &err);
    is_int(got, 42, "%s: and nothing of it is committed", be->name);
    be->close(db);
}

/* ---- several writers (PostgreSQL commits on several connections at once) ----
 * Whatever the number of writers: changes to one row commit in the order they were queued
 * (the last one queued is the one stored), a barrier kind (a token's put then its deletion)
 * never overtakes what was queued before it, and a ticket store_wait() says is committed is
 * in the store at that moment. Each thread's changes race the other threads', so that
 * several transactions are in flight at once. */
static pthread_mutex_t order_mu = PTHREAD_MUTEX_INITIALIZER;
static int64_t order_next;   /* the value of the last job-1000000 document queued */
static int order_round;
static int order_bad;        /* a client ticket acknowledged before its row was stored */

static int doc_row(void *arg, uint64_t id, const char *doc, gt_error_t *err)
{
    (void)err;
    int64_t *want = arg;
    if ((int64_t)id == want[0])
        want[1] = strtoll(strchr(doc, ':') ? strchr(doc, ':') + 1 : "-1", NULL, 10);
    return 0;
}

/* The value stored in job id's document {"v":N}; -1 when absent. */
static int64_t stored_v(store_t *s, uint64_t id)
{
    int64_t got[2] = {(int64_t)id, -1};
    store_load_jobs(s, doc_row, got, NULL);
    return got[1];
}

static int count_seq(void *arg, uint64_t seq, const char *doc, gt_error_t *err)
{
    (void)seq, (void)doc, (void)err;
    (*(int *)arg)++;
    return 0;
}

static void *order_writer(void *arg)
{
    long me = (long)arg;
    for (int i = 0; i < 60; i++) {
        /* one row, written by every thread in turn: queued in order_next order, after a
         * varying number of the thread's own rows in the same batch (so that a transaction
         * queued later may reach that row first, were they let run at once) */
        char doc[64];
        store_op_t ops[9];
        size_t n = (size_t)((i + me) % 8);
        for (size_t k = 0; k < n; k++)
            ops[k] = (store_op_t){.kind = STORE_JOB_PUT, .a = "t", .b = "u", .c = "pending",
                                  .d = "{\"v\":0}",
                                  .id = 3000000 + (uint64_t)(me * 10000 + i * 10) + k};
        pthread_mutex_lock(&order_mu);
        snprintf(doc, sizeof(doc), "{\"v\":%lld}", (long long)++order_next);
        ops[n] = (store_op_t){.kind = STORE_JOB_PUT, .id = 1000000 + (uint64_t)order_round,
                              .a = "t", .b = "u", .c = "pending", .d = doc};
        store_enqueue(st, ops, n + 1);
        pthread_mutex_unlock(&order_mu);
        /* a client's own job and its event: acknowledged, the event is there to read (on
         * the read connection, which sees committed rows only) */
        uint64_t id = 2000000 + (uint64_t)(me * 1000 + i) + (uint64_t)order_round * 100000;
        store_op_t mine[2] = {
            {.kind = STORE_JOB_PUT, .id = id, .a = "t", .b = "u", .c = "pending",
             .d = "{\"v\":7}"},
            {.kind = STORE_EVENT_PUT, .id = id, .n = (int64_t)id, .a = "submitted", .d = "{}"},
        };
        uint64_t t = store_enqueue_client(st, mine, 2);
        if (store_wait(st, t, NULL) < 0)
            return (void *)1;
        int seen = 0;
        if (store_read_events(st, id, 0, 0, count_seq, &seen, NULL, NULL) < 0 || seen != 1)
            __atomic_add_fetch(&order_bad, 1, __ATOMIC_RELAXED);
    }
    return NULL;
}

/* A token put, then its deletion, each a batch of its own (barriers). */
static void *token_writer(void *arg)
{
    long me = (long)arg;
    for (int i = 0; i < 60; i++) {
        char hash[32];
        snprintf(hash, sizeof(hash), "o%ld-%d", me, i);
        store_op_t tk = {.kind = STORE_TOKEN_PUT, .a = hash, .b = "u", .c = "member"};
        store_enqueue(st, &tk, 1);
        store_op_t del = {.kind = STORE_TOKEN_DEL, .a = hash};
        store_enqueue(st, &del, 1);
        store_op_t job = {.kind = STORE_JOB_PUT, .id = 4000000 + (uint64_t)(me * 1000 + i),
                          .a = "t", .b = "u", .c = "pending", .d = "{}"};
        if (store_wait(st, store_enqueue_client(st, &job, 1), NULL) < 0)
            return (void *)1;
    }
    return NULL;
}

static int ntok_left;
static int count_tokens(void *arg, const char *h, const char *u, const char *r, const char *t,
                        int64_t created, int64_t expires)
{
    (void)arg, (void)u, (void)r, (void)t, (void)created, (void)expires;
    ntok_left += h[0] == 'o';
    return 0;
}

static void check_writers(const char *where)
{
    gt_error_t err = {0};
    is_int(store_open(where, &st, &err), 0, "store opens for concurrent writers: %s", err.msg);
    if (!st)
        return;
    int bad_rounds = 0, failed = 0;
    order_bad = 0;
    for (order_round = 0; order_round < 8; order_round++) {
        pthread_t th[6];
        for (long i = 0; i < 6; i++)
            pthread_create(&th[i], NULL, order_writer, (void *)i);
        for (int i = 0; i < 6; i++) {
            void *r;
            pthread_join(th[i], &r);
            failed += r != NULL;
        }
        store_op_t meta = {.kind = STORE_META_PUT, .a = "order_round", .n = order_round};
        if (store_wait(st, store_enqueue(st, &meta, 1), &err) < 0)
            failed++;
        int64_t v = stored_v(st, 1000000 + (uint64_t)order_round);
        if (v != order_next) {
            diag("round %d: job %d holds v %lld, the last queued was %lld", order_round,
                 1000000 + order_round, (long long)v, (long long)order_next);
            bad_rounds++;
        }
    }
    is_int(failed, 0, "every change committed");
    is_int(bad_rounds, 0, "one row's changes commit in the order they were queued (the last "
                          "one queued is stored), 8 rounds of 6 racing threads");
    is_int(order_bad, 0, "a client's change acknowledged is in the store when acknowledged");
    pthread_t th[6];
    for (long i = 0; i < 6; i++)
        pthread_create(&th[i], NULL, token_writer, (void *)i);
    for (int i = 0; i < 6; i++) {
        void *r;
        pthread_join(th[i], &r);
        failed += r != NULL;
    }
    store_op_t meta = {.kind = STORE_META_PUT, .a = "order_round", .n = 99};
    is_int(store_wait(st, store_enqueue(st, &meta, 1), &err) - failed, 0, "tokens written");
    ntok_left = 0;
    store_load_tokens(st, count_tokens, NULL, &err);
    is_int(ntok_left, 0, "a token's deletion never overtakes its put (360 pairs)");
    store_stats_t s;
    store_get_stats(st, &s);
    diag("%llu batches in %llu transactions", (unsigned long long)s.batches,
         (unsigned long long)s.transactions);
    store_close(st);
}

/* ---- PostgreSQL (tests/pg/start; make test exports GANTRY_TEST_PG) ---- */

static void skip(const char *why)
{
    tap_n++;
    printf("ok %d # skip %s\n", tap_n, why);
}

/* A new, empty database on the test server; its URL in out. */
static int pg_newdb(const char *base, const char *name, char *out, size_t len)
{
    char cmd[1024];
    const char *root = getenv("GANTRY_ROOT");
    snprintf(cmd, sizeof(cmd), "%s/tests/pg/newdb '%s' %s", root ? root : ".", base, name);
    FILE *f = popen(cmd, "r");
    if (!f || !fgets(out, (int)len, f)) {
        if (f)
            pclose(f);
        return -1;
    }
    out[strcspn(out, "\n")] = '\0';
    return pclose(f) == 0 ? 0 : -1;
}

static int psql(const char *url, const char *sql)
{
    char cmd[2048];
    snprintf(cmd, sizeof(cmd), "PGOPTIONS='-c client_min_messages=warning' psql -X -q "
             "-v ON_ERROR_STOP=1 '%s' -c \"%s\" >/dev/null", url, sql);
    return system(cmd);
}

static void pg_newer_and_damaged(const char *base)
{
    char url[1024];
    gt_error_t err = {0};
    if (pg_newdb(base, "gantry_unit_dmg", url, sizeof(url)) < 0) {
        ok(0, "a database for the damage checks");
        return;
    }
    is_int(store_create(url, NULL, 0, &err), 0, "a fresh PostgreSQL store: %s", err.msg);
    is_int(psql(url, "UPDATE gantry_schema SET version = 99"), 0, "its version set to 99");
    errno = 0;
    is_int(store_open(url, &st, &err), -1, "a newer schema version is refused");
    ok(strstr(err.msg, "schema version 99, newer than this gantry's") != NULL, "and says so: %s",
       err.msg);
    is_int(errno, EINVAL, "EINVAL");
    ok(store_exists(url), "a refused store still exists (no first start over it)");
    char sql[256];
    snprintf(sql, sizeof(sql), "UPDATE gantry_schema SET version = %d; DROP TABLE tokens",
             STORE_SCHEMA_VERSION);
    is_int(psql(url, sql), 0, "the tokens table dropped");
    is_int(store_open(url, &st, &err), -1, "a store without its tokens table is refused");
    ok(strstr(err.msg, "no 'tokens' table") != NULL, "and says which: %s", err.msg);

    /* A store of version 4 (no series table) is upgraded, its rows kept. */
    if (pg_newdb(base, "gantry_unit_dmg", url, sizeof(url)) < 0)
        return;
    store_op_t tok = {.kind = STORE_TOKEN_PUT, .a = "h9", .b = "root", .c = "admin"};
    is_int(store_create(url, &tok, 1, &err), 0, "a fresh store with a token");
    is_int(psql(url, "DROP TABLE series; UPDATE gantry_schema SET version = 4"), 0,
           "made a store of version 4");
    st = NULL;
    is_int(store_open(url, &st, &err), 0, "a store of version 4 opens: %s", err.msg);
    if (!st)
        return;
    store_op_t pt = {.kind = STORE_SERIES_PUT, .id = 0, .n = 1700000000, .d = "{\"a\":1}"};
    is_int(store_wait(st, store_enqueue(st, &pt, 1), &err), 0, "and takes a series point");
    ntok_all = 0;
    store_load_tokens(st, on_token, NULL, &err);
    is_int(ntok_all, 1, "its token is kept");
    store_close(st);
    char cmd[1200];
    snprintf(cmd, sizeof(cmd), "psql -X -At '%s' -c 'SELECT version FROM gantry_schema' | "
             "grep -qx %d", url, STORE_SCHEMA_VERSION);
    is_int(system(cmd), 0, "its version is now the current one (%d)", STORE_SCHEMA_VERSION);

    /* An empty database is no store; a database of other tables is none either. */
    if (pg_newdb(base, "gantry_unit_dmg", url, sizeof(url)) < 0)
        return;
    is_int(psql(url, "CREATE TABLE other (x INTEGER)"), 0, "a database of another program");
    ok(!store_exists(url), "holds no Gantry store");
    is_int(store_open(url, &st, &err), -1, "open refuses it (it never creates)");
    ok(strstr(err.msg, "holds no Gantry store") != NULL, "and says so: %s", err.msg);
}

/* The connection to PostgreSQL is cut (the database restarted, the network failed): commits
 * fail, the store is degraded, a kept change is retried on a new connection and commits. */
static void pg_reconnect(const char *base)
{
    char url[1024];
    gt_error_t err = {0};
    if (pg_newdb(base, "gantry_unit_conn", url, sizeof(url)) < 0) {
        ok(0, "a database for the reconnect checks");
        return;
    }
    is_int(store_create(url, NULL, 0, &err), 0, "a fresh store");
    is_int(store_open(url, &st, &err), 0, "opens: %s", err.msg);
    if (!st)
        return;
    is_int(store_wait(st, put(st, 1, true), &err), 0, "a first write commits");
    is_int(psql(base, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE "
                      "datname = 'gantry_unit_conn' AND pid <> pg_backend_pid()"), 0,
           "the store's connections are cut");
    uint64_t k = put(st, 2, false);
    is_int(wait_until_durable(st, k), 0, "a kept change commits on a new connection");
    ok(stored(st, 2), "and is stored");
    is_int(store_wait(st, put(st, 3, true), &err), 0, "a client's change commits again: %s",
           err.msg);
    store_close(st);
    is_int(store_open(url, &st, &err), 0, "reopens");
    ok(stored(st, 1) && stored(st, 2) && stored(st, 3), "every acknowledged change is there");
    store_close(st);
}

/* A transaction a server leaves open (it stopped, or was cut off, mid-commit) ends by itself
 * and releases its row locks: another server's writes (a standby taking the lease) go on. */
static void pg_idle_tx(const char *base)
{
    char url[1024], cmd[2048];
    gt_error_t err = {0};
    if (pg_newdb(base, "gantry_unit_idle", url, sizeof(url)) < 0) {
        ok(0, "a database for the idle transaction check");
        return;
    }
    store_op_t m = {.kind = STORE_META_PUT, .a = "row", .n = 1};
    is_int(store_create(url, &m, 1, &err), 0, "a fresh store with a meta row");
    store_db_t *db = NULL;
    is_int(store_backend_pg.open(url, &db, &err), 0, "a connection: %s", err.msg);
    if (!db)
        return;
    static const char *const touch = "UPDATE meta SET value = value + 1 WHERE key = 'row'";
    static const char *const read = "SELECT value FROM meta WHERE key = 'row'";
    int64_t v = 0;
    ok(store_backend_pg.begin(db) == 0 && store_backend_pg.exec(db, touch, NULL, 0) == 0 &&
       store_backend_pg.query(db, false, read, NULL, 0, meta_val, &v, &err) == 0 && v == 2,
       "a transaction holds the row's lock and stays open");
    /* another session waits 1 s at a time for the lock, for 30 s at most */
    snprintf(cmd, sizeof(cmd), "for i in $(seq 30); do PGOPTIONS='-c lock_timeout=1s' psql -X -q "
             "'%s' -c \"UPDATE meta SET value = 100 WHERE key = 'row'\" >/dev/null 2>&1 && "
             "exit 0; done; exit 1", url);
    time_t t0 = time(NULL);
    is_int(system(cmd), 0, "another session gets the lock once the open transaction ends");
    ok(time(NULL) - t0 <= 20, "within its idle timeout (10 s), not when TCP notices (%lld s)",
       (long long)(time(NULL) - t0));
    ok(store_backend_pg.commit(db) < 0, "the abandoned transaction does not commit");
    store_backend_pg.close(db);
}

/* The first line psql prints for sql on url (-At), in out; -1 when it fails. */
static int psql_line(const char *url, const char *sql, char *out, size_t len)
{
    char cmd[2048];
    snprintf(cmd, sizeof(cmd), "PGOPTIONS='-c client_min_messages=warning' psql -X -At "
             "-v ON_ERROR_STOP=1 '%s' -c \"%s\" 2>/dev/null", url, sql);
    FILE *f = popen(cmd, "r");
    out[0] = '\0';
    if (!f)
        return -1;
    if (!fgets(out, (int)len, f))
        out[0] = '\0';
    out[strcspn(out, "\n")] = '\0';
    return pclose(f) == 0 ? 0 : -1;
}

struct lost_wait {
    uint64_t ticket;
    int rc, err_no;
    char msg[sizeof(((gt_error_t *)0)->msg)];
    int done; /* __atomic */
};

static void *lost_waiter(void *arg)
{
    struct lost_wait *w = arg;
    gt_error_t err = {0};
    errno = 0;
    w->rc = store_wait(st, w->ticket, &err);
    w->err_no = errno;
    snprintf(w->msg, sizeof(w->msg), "%s", err.msg);
    __atomic_store_n(&w->done, 1, __ATOMIC_RELEASE);
    return NULL;
}

/* A COMMIT whose answer is lost after it committed: the database waits for a synchronous
 * standby that does not exist ('nobody'), so each commit, already durable, waits there; its
 * backend is ended meanwhile (the client gets no answer). The store must ask PostgreSQL
 * (pg_xact_status) and report the change committed, as it is: never "nothing was changed". */
static void pg_lost_commit(const char *base)
{
    char url[1024], line[256];
    gt_error_t err = {0};
    if (pg_newdb(base, "gantry_unit_lost", url, sizeof(url)) < 0) {
        ok(0, "a database for the lost commit checks");
        return;
    }
    is_int(store_create(url, NULL, 0, &err), 0, "a fresh store");
    is_int(store_open(url, &st, &err), 0, "opens: %s", err.msg);
    if (!st)
        return;
    is_int(store_wait(st, put(st, 1, true), &err), 0, "a first write commits");
    is_int(psql(base, "ALTER SYSTEM SET synchronous_standby_names = 'nobody'"), 0,
           "commits now wait for a synchronous standby that never answers");
    is_int(psql(base, "SELECT pg_reload_conf()"), 0, "reloaded");
    /* The setting reaches the commits once the checkpointer has read it: until one waits, a
     * new client change each time (those before commit at once). 60 s at most. */
    struct lost_wait w = {0};
    uint64_t id = 100;
    bool cut = false;
    time_t t0 = time(NULL);
    for (; !cut && time(NULL) - t0 < 60; id++) {
        w = (struct lost_wait){.ticket = put(st, id, true)};
        pthread_t th;
        if (pthread_create(&th, NULL, lost_waiter, &w) != 0)
            break;
        while (!__atomic_load_n(&w.done, __ATOMIC_ACQUIRE) && time(NULL) - t0 < 60) {
            if (psql_line(base, "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                                "WHERE datname = 'gantry_unit_lost' AND wait_event = 'SyncRep'",
                          line, sizeof(line)) == 0 && atoi(line) > 0) {
                cut = true;
                break;
            }
            usleep(20000);
        }
        pthread_join(th, NULL);
    }
    id--;
    is_int(psql(base, "ALTER SYSTEM RESET synchronous_standby_names"), 0, "the setting reset");
    is_int(psql(base, "SELECT pg_reload_conf()"), 0, "reloaded");
    ok(cut, "a commit waited for the standby and its backend was ended (job %llu)",
       (unsigned long long)id);
    is_int(w.rc, 0, "the change whose COMMIT answer was lost is reported committed: %s", w.msg);
    ok(!strstr(w.msg, "nothing was changed"), "never 'nothing was changed'");
    ok(stored(st, id), "and the store holds it");
    ok(store_outcome_lost(st) == 0, "its outcome was learned: no reload needed");
    is_int(store_wait(st, put(st, 2, true), &err), 0, "writes go on: %s", err.msg);
    store_close(st);
    st = NULL;

    /* A transaction whose backend is ended before its COMMIT ran: the server said so (FATAL
     * 57P01, its own answer): rolled back, a failure like any other, not an unknown one. */
    store_db_t *db = NULL;
    is_int(store_backend_pg.open(url, &db, &err), 0, "a connection: %s", err.msg);
    if (!db)
        return;
    static const char *const slow = "SELECT pg_sleep(30)";
    static const char *const ins = "INSERT INTO meta (key, value) VALUES ('aborted', 1)";
    char cmd[2048];
    snprintf(cmd, sizeof(cmd), "for i in $(seq 600); do n=$(PGOPTIONS='-c client_min_messages="
             "warning' psql -X -At '%s' -c \"SELECT count(pg_terminate_backend(pid)) FROM "
             "pg_stat_activity WHERE datname = 'gantry_unit_lost' AND wait_event = 'PgSleep'\"); "
             "[ \"$n\" -gt 0 ] 2>/dev/null && exit 0; sleep 0.05; done; exit 1", base);
    FILE *killer = popen(cmd, "r");
    ok(store_backend_pg.begin(db) == 0 && store_backend_pg.exec(db, ins, NULL, 0) == 0 &&
       store_backend_pg.exec(db, slow, NULL, 0) == 0, "a transaction sent");
    ok(store_backend_pg.commit(db) < 0, "its backend ended before the COMMIT: it fails (%s)",
       store_backend_pg.errmsg(db));
    ok(!store_backend_pg.outcome_unknown(db), "and its outcome is known: rolled back");
    ok(killer && pclose(killer) == 0, "the backend was ended while it slept");
    store_backend_pg.close(db);
    is_int(psql_line(url, "SELECT count(*) FROM meta WHERE key = 'aborted'", line,
                     sizeof(line)), 0, "read back");
    is_str(line, "0", "the database holds none of it");
}

static void check_pg(void)
{
    const char *base = getenv("GANTRY_TEST_PG");
    if (!base || !*base) {
        const char *why = getenv("GANTRY_TEST_PG_WHY");
        char msg[512];
        snprintf(msg, sizeof(msg), "no PostgreSQL (%s)", why && *why ? why
                 : "GANTRY_TEST_PG is not set: make test starts one with tests/pg/with");
        const char *ci = getenv("CI");
        if (ci && !strcmp(ci, "true"))
            ok(0, "PostgreSQL is required under CI: %s", msg);
        else
            skip(msg);
        return;
    }
    on_pg = true;
    char url[1024];
    if (pg_newdb(base, "gantry_unit", url, sizeof(url)) < 0) {
        ok(0, "a database on the test PostgreSQL (%s)", base);
        return;
    }
    diag("PostgreSQL: %s", url);
    check_common(url);
    check_failed_commits(url);
    check_bad_row_in_group(url);
    check_seqs(url);
    check_writers(url);
    check_backend(&store_backend_pg, url);
    pg_newer_and_damaged(base);
    pg_reconnect(base);
    pg_idle_tx(base);
    pg_lost_commit(base);
    on_pg = false;
}

int main(void)
{
    char dir[] = "/tmp/gantry-store-XXXXXX";
    ok(mkdtemp(dir) != NULL, "temp dir");
    gt_error_t err = {0};
    check_common(dir);
    check_modes(dir);
    check_failed_commits(dir);
    check_bad_row_in_group(dir);
    check_seqs(dir);
    check_writers(dir);
    check_backend(&store_backend_sqlite, dir);
    check_damaged();
    check_pg();

    errno = 0;
    is_int(store_open("/proc/nonexistent/x", &st, &err), -1, "bad directory refused");
    is_str(err.code, "store_error", "store_error code");
    char cmd[256];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    if (system(cmd) != 0)
        diag("could not remove %s", dir);
    return tap_done();
}
