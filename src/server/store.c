/* store.c: the queue, the committer and its group commit, and the SQL of every write and load,
 * common to every database; the database itself is a backend (store_backend.h). */
#include "server/store.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "server/store_backend.h"

typedef struct batch {
    store_op_t *ops;
    size_t n;
    uint64_t ticket;
    bool client;               /* a client's change: refused as a whole when its commit fails */
    bool barrier;              /* orders against every other batch (see batch_keys) */
    uint64_t *keys;            /* the rows it writes, hashed (see batch_keys) */
    size_t nkeys;
    struct batch *next;
} batch_t;

/* One write connection and the thread that commits on it (store.c's committer: writer 0,
 * on st->db; more on a backend whose `writers` is above 1). */
typedef struct writer {
    struct store *st;
    store_db_t *db;
    int index;
    pthread_t th;
    bool started;
    batch_t *list;             /* its transaction's batches while one is in flight */
    bool barrier;              /* that transaction holds a barrier batch */
    uint64_t *keys;            /* and the rows it writes */
    size_t nkeys, keys_cap;
    bool stale;                /* a commit failed since it last connected: connect anew first */
} writer_t;

typedef struct notify {
    uint64_t ticket;
    void (*fn)(void *);
    void *arg;
    struct notify *next;
} notify_t;

struct store {
    const store_backend_t *be;
    store_db_t *db;
    notify_t *notify;          /* unordered; short (the parked connections) */
    pthread_mutex_t rd_mu;     /* one read transaction at a time on the read connection */
    writer_t *writers;         /* nwriters; writers[0] commits on db */
    int nwriters;
    bool stopping_extra;       /* writers above 0 stop (store_close) */
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
    uint64_t *early;           /* client tickets above done_ticket already committed (another
                                  writer's earlier transaction is still in flight) */
    size_t nearly, early_cap;
    uint64_t last_kept;        /* the last non-client batch's ticket */
    uint64_t *refused;         /* refused client tickets not yet waited for (short) */
    size_t nrefused, refused_cap;
    struct rejected {          /* those of them refused for their own values (a row the
                                  database rejects), with the database's reason; or (unknown)
                                  whose commit's outcome is unknown, with why */
        uint64_t ticket;
        char *why;
        bool unknown;
    } *rejected;
    size_t nrejected, rejected_cap;
    int inject_n, inject_code; /* store_fail_next_commits() */
    bool held;                 /* store_hold() */
    store_stats_t stats;
    /* Leader election (store_lease_*): connections of their own (opened at the first lease
     * call), so that a renewal never waits behind the committer's transaction nor breaks
     * into it. */
    char *where;
    store_db_t *ldb;
    pthread_mutex_t lease_mu;
    uint64_t fence;            /* store_set_fence(): every commit checks the leader's epoch */
    bool fenced;               /* a commit found a newer epoch: nothing is written any more */
    bool outcome_lost;         /* a commit's outcome is unknown: memory may lack what the
                                  store holds (store_outcome_lost) */
    double outcome_lost_at;    /* when (gt_monotonic_s) */
};

/* ---- the backends ---- */

/* The backend whose kind of location `where` is (SQLite, the default, claims the rest). */
static const store_backend_t *backend_for(const char *where)
{
    static const store_backend_t *const all[] = {
        &store_backend_pg, &store_backend_sqlite};
    for (size_t i = 0; i < sizeof(all) / sizeof(*all); i++)
        if (all[i]->claims(where))
            return all[i];
    return &store_backend_sqlite;
}

/* ---- the writes: each op kind's statements, written once for every backend ---- */

/* Up to two statements per kind, run in order; `?` takes the values op_values() gives. */
static const char *const op_sql[STORE_NKINDS][2] = {
    [STORE_JOB_PUT] = {"INSERT INTO jobs (id, team, \"user\", state, doc) VALUES (?,?,?,?,?) "
                       "ON CONFLICT (id) DO UPDATE SET team = excluded.team, "
                       "\"user\" = excluded.\"user\", state = excluded.state, doc = excluded.doc"},
    [STORE_TOKEN_PUT] = {"INSERT INTO tokens (hash, \"user\", role, team, created, expires) "
                         "VALUES (?,?,?,?,?,?) ON CONFLICT (hash) DO UPDATE SET "
                         "\"user\" = excluded.\"user\", role = excluded.role, "
                         "team = excluded.team, created = excluded.created, "
                         "expires = excluded.expires"},
    [STORE_TOKEN_DEL] = {"DELETE FROM tokens WHERE hash = ?"},
    [STORE_USER_PUT] = {"INSERT INTO users (name, doc) VALUES (?,?) ON CONFLICT (name) DO UPDATE "
                        "SET doc = excluded.doc"},
    [STORE_USER_DEL] = {"DELETE FROM users WHERE name = ?"},
    [STORE_NODE_PUT] = {"INSERT INTO nodes (name, epoch, doc) VALUES (?,?,?) ON CONFLICT (name) "
                        "DO UPDATE SET epoch = excluded.epoch, doc = excluded.doc"},
    [STORE_TEAM_PUT] = {"INSERT INTO teams (name, doc) VALUES (?,?) ON CONFLICT (name) DO UPDATE "
                        "SET doc = excluded.doc"},
    [STORE_META_PUT] = {"INSERT INTO meta (key, value) VALUES (?,?) ON CONFLICT (key) DO UPDATE "
                        "SET value = excluded.value"},
    /* its events go with it */
    [STORE_JOB_DELETE] = {"DELETE FROM job_events WHERE job = ?", "DELETE FROM jobs WHERE id = ?"},
    [STORE_NODE_TOKENS_DEL] = {"DELETE FROM tokens WHERE role = 'node' AND \"user\" = ?"},
    [STORE_SETTING_PUT] = {"INSERT INTO settings (kind, name, doc) VALUES (?,?,?) "
                           "ON CONFLICT (kind, name) DO UPDATE SET doc = excluded.doc"},
    [STORE_SETTING_DEL] = {"DELETE FROM settings WHERE kind = ? AND name = ?"},
    [STORE_EVENT_PUT] = {"INSERT INTO job_events (seq, job, type, doc) VALUES (?,?,?,?) "
                         "ON CONFLICT (seq) DO UPDATE SET job = excluded.job, "
                         "type = excluded.type, doc = excluded.doc"},
    [STORE_AUDIT_PUT] = {"INSERT INTO audit (seq, \"user\", action, object, doc) "
                         "VALUES (?,?,?,?,?) ON CONFLICT (seq) DO UPDATE SET "
                         "\"user\" = excluded.\"user\", action = excluded.action, "
                         "object = excluded.object, doc = excluded.doc"},
    [STORE_SERIES_PUT] = {"INSERT INTO series (res, t, doc) VALUES (?,?,?) "
                          "ON CONFLICT (res, t) DO UPDATE SET doc = excluded.doc"},
    [STORE_SERIES_DEL] = {"DELETE FROM series WHERE res = ? AND t >= ? AND t < ?"},
    /* artifacts (server/artifacts.h) */
    [STORE_ARTIFACT_PUT] = {"INSERT INTO artifacts (name, team, doc) VALUES (?,?,?) "
                            "ON CONFLICT (name) DO UPDATE SET team = excluded.team, "
                            "doc = excluded.doc"},
    [STORE_ARTIFACT_VERSION_PUT] = {"INSERT INTO artifact_versions (name, version, digest, doc) "
                                    "VALUES (?,?,?,?) ON CONFLICT (name, version) DO UPDATE "
                                    "SET digest = excluded.digest, doc = excluded.doc"},
    [STORE_ARTIFACT_VERSION_DEL] = {"DELETE FROM artifact_versions WHERE name = ? AND "
                                    "version = ?"},
    [STORE_ARTIFACT_ALIAS_PUT] = {"INSERT INTO artifact_aliases (name, alias, version) "
                                  "VALUES (?,?,?) ON CONFLICT (name, alias) DO UPDATE SET "
                                  "version = excluded.version"},
    [STORE_ARTIFACT_ALIAS_DEL] = {"DELETE FROM artifact_aliases WHERE name = ? AND alias = ?"},
};

#define VI(x) ((store_val_t){STORE_VAL_INT, (int64_t)(x), NULL})
#define VT(x) ((store_val_t){STORE_VAL_TEXT, 0, (x)})

/* The values of op's statement `which` (0 or 1) into v; returns how many. */
static size_t op_values(const store_op_t *op, int which, store_val_t *v)
{
    switch (op->kind) {
    case STORE_JOB_PUT:
        v[0] = VI(op->id), v[1] = VT(op->a), v[2] = VT(op->b), v[3] = VT(op->c), v[4] = VT(op->d);
        return 5;
    case STORE_TOKEN_PUT:
        v[0] = VT(op->a), v[1] = VT(op->b), v[2] = VT(op->c), v[3] = VT(op->d);
        v[4] = VI(op->n), v[5] = VI(op->m);
        return 6;
    case STORE_TOKEN_DEL:
    case STORE_USER_DEL:
    case STORE_NODE_TOKENS_DEL:
        v[0] = VT(op->a);
        return 1;
    case STORE_USER_PUT:
    case STORE_TEAM_PUT:
        v[0] = VT(op->a), v[1] = VT(op->d);
        return 2;
    case STORE_NODE_PUT:
        v[0] = VT(op->a), v[1] = VI(op->n), v[2] = VT(op->d);
        return 3;
    case STORE_META_PUT:
        v[0] = VT(op->a), v[1] = VI(op->n);
        return 2;
    case STORE_JOB_DELETE:
        (void)which;
        v[0] = VI(op->id);
        return 1;
    case STORE_EVENT_PUT:
        v[0] = VI(op->id), v[1] = VI(op->n), v[2] = VT(op->a), v[3] = VT(op->d);
        return 4;
    case STORE_AUDIT_PUT:
        v[0] = VI(op->id), v[1] = VT(op->a), v[2] = VT(op->b), v[3] = VT(op->c), v[4] = VT(op->d);
        return 5;
    case STORE_SETTING_PUT:
        v[0] = VT(op->a), v[1] = VT(op->b), v[2] = VT(op->d);
        return 3;
    case STORE_SETTING_DEL:
        v[0] = VT(op->a), v[1] = VT(op->b);
        return 2;
    case STORE_SERIES_PUT:
        v[0] = VI(op->id), v[1] = VI(op->n), v[2] = VT(op->d);
        return 3;
    case STORE_SERIES_DEL:
        v[0] = VI(op->id), v[1] = VI(op->n), v[2] = VI(op->m);
        return 3;
    case STORE_ARTIFACT_PUT:
        v[0] = VT(op->a), v[1] = VT(op->b), v[2] = VT(op->d);
        return 3;
    case STORE_ARTIFACT_VERSION_PUT:
        v[0] = VT(op->a), v[1] = VI(op->n), v[2] = VT(op->b), v[3] = VT(op->d);
        return 4;
    case STORE_ARTIFACT_VERSION_DEL:
        v[0] = VT(op->a), v[1] = VI(op->n);
        return 2;
    case STORE_ARTIFACT_ALIAS_PUT:
        v[0] = VT(op->a), v[1] = VT(op->b), v[2] = VI(op->n);
        return 3;
    case STORE_ARTIFACT_ALIAS_DEL:
        v[0] = VT(op->a), v[1] = VT(op->b);
        return 2;
    case STORE_NKINDS:
        break;
    }
    return 0;
}

#define MAX_VALUES 16

/* Runs op's statements on db (inside the caller's transaction). 0, or -1 (be->errmsg). */
static int exec_op(const store_backend_t *be, store_db_t *db, const store_op_t *op)
{
    if ((unsigned)op->kind >= STORE_NKINDS || !op_sql[op->kind][0])
        return -1;
    for (int w = 0; w < 2 && op_sql[op->kind][w]; w++) {
        store_val_t v[MAX_VALUES];
        size_t n = op_values(op, w, v);
        if (be->exec(db, op_sql[op->kind][w], v, n) < 0)
            return -1;
    }
    return 0;
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
    free(b->keys);
    free(b);
}

/* ---- which batches may commit at once (several writers) ----
 * A backend with several write connections (PostgreSQL) commits several transactions at once:
 * the database then flushes their commits together (its own group commit across sessions).
 * Batches that write the same rows keep their order: a batch is only sent while no
 * transaction in flight writes any of its rows, and batches are taken from the queue in
 * order, a prefix at a time. A batch's rows are keys: a job's row and its events share one
 * (the job's id), a node's row, the audit log one for all (its entries stay gapless in seq
 * order); every other kind of change (tokens, users, settings, meta, deletions, series,
 * artifacts...) is a barrier: it goes alone, after everything sent before it and before
 * everything after it. So do batches of more than BARRIER_OPS changes (an array
 * submission's), rather than compare their many keys. */
#define BARRIER_OPS 64

static uint64_t key_mix(uint64_t tag, uint64_t v)
{
    uint64_t x = (v ^ (tag << 56)) * 0x9E3779B97F4A7C15ull;
    return x ^ (x >> 29);
}

static uint64_t key_str(uint64_t tag, const char *s)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (; s && *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return key_mix(tag, h);
}

/* b->keys and b->barrier from its ops (a hash collision only orders two batches needlessly). */
static void batch_keys(batch_t *b)
{
    if (b->n > BARRIER_OPS) {
        b->barrier = true;
        return;
    }
    b->keys = xcalloc(b->n ? b->n : 1, sizeof(*b->keys));
    for (size_t i = 0; i < b->n; i++) {
        const store_op_t *op = &b->ops[i];
        switch (op->kind) {
        case STORE_JOB_PUT:
            b->keys[b->nkeys++] = key_mix('j', op->id);
            break;
        case STORE_EVENT_PUT:
            b->keys[b->nkeys++] = key_mix('j', (uint64_t)op->n);
            break;
        case STORE_NODE_PUT:
            b->keys[b->nkeys++] = key_str('n', op->a);
            break;
        case STORE_AUDIT_PUT:
            b->keys[b->nkeys++] = key_mix('a', 0);
            break;
        default:
            b->barrier = true;
            break;
        }
    }
}

/* Whether b must wait for a transaction another writer than w has in flight. Holds mu. */
static bool batch_conflicts(const store_t *st, const writer_t *w, const batch_t *b)
{
    for (int i = 0; i < st->nwriters; i++) {
        const writer_t *o = &st->writers[i];
        if (o == w || !o->list)
            continue;
        if (o->barrier || b->barrier)
            return true;
        for (size_t k = 0; k < b->nkeys; k++)
            for (size_t m = 0; m < o->nkeys; m++)
                if (b->keys[k] == o->keys[m])
                    return true;
    }
    return false;
}

static bool others_in_flight(const store_t *st, const writer_t *w)
{
    for (int i = 0; i < st->nwriters; i++)
        if (&st->writers[i] != w && st->writers[i].list)
            return true;
    return false;
}

/* Moves the longest prefix of the queue that conflicts with no other writer's transaction to
 * w (w->list, its keys). Holds mu. */
static void take_prefix(store_t *st, writer_t *w)
{
    batch_t **tail = &w->list;
    while (*tail)
        tail = &(*tail)->next;
    while (st->head && !batch_conflicts(st, w, st->head)) {
        batch_t *b = st->head;
        st->head = b->next;
        if (!st->head)
            st->tail = NULL;
        b->next = NULL;
        *tail = b;
        tail = &b->next;
        w->barrier |= b->barrier;
        GT_GROW(w->keys, w->keys_cap, w->nkeys + b->nkeys + 1);
        if (b->nkeys) /* a batch without keys may have none allocated: no memcpy from NULL */
            memcpy(w->keys + w->nkeys, b->keys, b->nkeys * sizeof(*b->keys));
        w->nkeys += b->nkeys;
    }
}

/* ---- the committer ---- */

static bool ticket_in(const uint64_t *a, size_t n, uint64_t t)
{
    for (size_t i = 0; i < n; i++)
        if (a[i] == t)
            return true;
    return false;
}

static bool refused_has(const store_t *st, uint64_t t)
{
    return ticket_in(st->refused, st->nrefused, t);
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

/* A client batch refused for its own values: refused, with why (the database's reason). */
static void rejected_add(store_t *st, uint64_t t, const char *why, bool unknown)
{
    refused_add(st, t);
    GT_GROW(st->rejected, st->rejected_cap, st->nrejected + 1);
    st->rejected[st->nrejected++] = (struct rejected){t, xstrdup(why), unknown};
}

/* Its reason (the caller frees it), or NULL when t was not refused for its values nor of
 * unknown outcome; *unknown (may be NULL) says which. */
static char *rejected_take(store_t *st, uint64_t t, bool *unknown)
{
    for (size_t i = 0; i < st->nrejected; i++)
        if (st->rejected[i].ticket == t) {
            char *why = st->rejected[i].why;
            if (unknown)
                *unknown = st->rejected[i].unknown;
            st->rejected[i] = st->rejected[--st->nrejected];
            return why;
        }
    return NULL;
}

/* A client ticket committed ahead of an earlier one (store_wait answers it at once). */
static bool early_has(const store_t *st, uint64_t t)
{
    return ticket_in(st->early, st->nearly, t);
}

/* Every ticket below the oldest one queued or in flight is settled: done_ticket follows it;
 * the early tickets it passes are dropped. Holds mu. */
static void advance_done(store_t *st)
{
    uint64_t low = st->next_ticket + 1;
    if (st->head && st->head->ticket < low)
        low = st->head->ticket;
    for (int i = 0; i < st->nwriters; i++)
        if (st->writers[i].list && st->writers[i].list->ticket < low)
            low = st->writers[i].list->ticket;
    if (low - 1 > st->done_ticket)
        st->done_ticket = low - 1;
    for (size_t i = 0; i < st->nearly;)
        if (st->early[i] <= st->done_ticket)
            st->early[i] = st->early[--st->nearly];
        else
            i++;
}

/* A ticket's fate is known (committed, refused, lost) or, while degraded, not known soon. */
static bool settled(const store_t *st, uint64_t t)
{
    return t <= st->done_ticket || refused_has(st, t) || early_has(st, t) || st->closed ||
           st->degraded;
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

static int epoch_row(void *arg, const store_val_t *cols, size_t ncols, gt_error_t *err)
{
    (void)err;
    if (ncols >= 1 && cols[0].type == STORE_VAL_INT)
        *(int64_t *)arg = cols[0].i;
    return 0;
}

/* In the committer's transaction, before its writes: the fence. One statement, which the
 * database itself refuses when the lease row's epoch is not this server's (store_set_fence):
 * it then sets the NOT NULL epoch to NULL, a constraint violation that fails the whole
 * transaction, so nothing of a deposed leader's commit is ever written, whatever the client
 * does with the answer (on PostgreSQL it goes in the committer's pipeline: no round trip of its
 * own). Being an update, it also locks the row: a takeover's update waits for this
 * transaction, so a new leader reads the store only after the old one's last commit. */
static int fence_check(store_t *st, char *msg, size_t len)
{
    static const char *const fence =
        "UPDATE leader SET epoch = CASE WHEN epoch = ? THEN epoch ELSE NULL END WHERE id = 1";
    (void)msg, (void)len;
    store_val_t v = {STORE_VAL_INT, (int64_t)__atomic_load_n(&st->fence, __ATOMIC_ACQUIRE),
                     NULL};
    return st->be->exec(st->db, fence, &v, 1);
}

/* After a failed commit of a fenced store (rolled back): whether the fence refused it, the
 * lease row holding another epoch. Then msg says so and st->fenced is set; otherwise (the
 * database failed, or cannot be read now) it is a failed commit like any other, retried. */
static void fence_verdict(store_t *st, char *msg, size_t len)
{
    static const char *const read = "SELECT epoch FROM leader WHERE id = 1";
    int64_t epoch = -1;
    gt_error_t err = {0};
    if (st->be->query(st->db, false, read, NULL, 0, epoch_row, &epoch, &err) < 0)
        return;
    uint64_t mine = __atomic_load_n(&st->fence, __ATOMIC_ACQUIRE);
    if (epoch == (int64_t)mine)
        return;
    snprintf(msg, len, "this server is no longer the leader: its epoch is %llu, the store's "
             "%lld", (unsigned long long)mine, (long long)epoch);
    __atomic_store_n(&st->fenced, true, __ATOMIC_RELEASE);
}

/* The batch of list holding statement number `at` (0: the first exec() of the transaction;
 * `skip` statements, the fence's, before the batches'), or NULL. */
static const batch_t *batch_of_statement(const batch_t *list, long at, long skip)
{
    at -= skip;
    for (const batch_t *b = list; at >= 0 && b; b = b->next)
        for (size_t i = 0; i < b->n; i++) {
            if ((unsigned)b->ops[i].kind >= STORE_NKINDS)
                return NULL;
            at -= op_sql[b->ops[i].kind][1] ? 2 : 1;
            if (at < 0)
                return b;
        }
    return NULL;
}

/* One transaction for every batch of list, in order, on db; the fence checked first when
 * fence (writer 0 alone: fence_check runs on st->db; the other writers take nothing once it is
 * set); msg says why when it fails (rolled back), and *bad (may be NULL) the batch with a
 * statement the database refused for its own values (a constraint), if that is why (NULL
 * otherwise: the database failed, or the fence refused the transaction), and *unknown whether
 * its outcome is unknown (the COMMIT's answer lost, and the database could not say since:
 * store_backend.h's outcome_unknown). inject (a backend's result code, 0 for none) fails it
 * after its writes, as a disk that fills up at COMMIT does. */
static bool commit_list(store_t *st, store_db_t *db, bool fence, const batch_t *list, int inject,
                        char *msg, size_t len, const batch_t **bad, bool *unknown)
{
    const store_backend_t *be = st->be;
    long skip = 0;
    if (bad)
        *bad = NULL;
    *unknown = false;
    bool okay = be->begin(db) == 0;
    if (okay && fence && __atomic_load_n(&st->fence, __ATOMIC_ACQUIRE)) {
        skip = 1; /* the fence's statement comes first */
        if (fence_check(st, msg, len) < 0)
            okay = false;
    }
    for (const batch_t *b = list; okay && b; b = b->next)
        for (size_t i = 0; okay && i < b->n; i++)
            okay = exec_op(be, db, &b->ops[i]) == 0;
    if (okay && inject) {
        snprintf(msg, len, "%s (injected)", be->inject_msg(inject));
        okay = false;
    } else if (okay) {
        okay = be->commit(db) == 0;
        *unknown = !okay && be->outcome_unknown && be->outcome_unknown(db);
    }
    if (!okay && !msg[0])
        snprintf(msg, len, "%s", be->errmsg(db));
    if (!okay)
        be->rollback(db);
    if (*unknown)
        return false; /* neither a row's fault nor (as far as anyone can tell) the fence's */
    if (!okay && !inject && bad)
        *bad = batch_of_statement(list, be->bad_statement(db), skip);
    if (!okay && fence && __atomic_load_n(&st->fence, __ATOMIC_ACQUIRE)) {
        fence_verdict(st, msg, len);
        if (__atomic_load_n(&st->fenced, __ATOMIC_ACQUIRE) && bad)
            *bad = NULL; /* deposed: the fence, not a row, is why */
    }
    return okay;
}

/* After a failed commit: every client batch (of list, and queued since) is refused; the
 * others, which memory already reflects, stay queued in ticket order (list's among those
 * queued: another writer may have failed before) to be retried. unknown (else NULL): list's
 * commit has an unknown outcome, why: its client batches are answered so, not "nothing was
 * changed" (those queued since were never sent: refused). Holds mu. */
static void refuse_clients(store_t *st, batch_t *list, const char *unknown)
{
    batch_t *q = st->head;
    st->head = st->tail = NULL;
    while (list || q) {
        batch_t **from = !q || (list && list->ticket < q->ticket) ? &list : &q;
        batch_t *b = *from;
        *from = b->next;
        b->next = NULL;
        if (b->client && unknown && from == &list) {
            rejected_add(st, b->ticket, unknown, true);
            batch_free(b);
        } else if (b->client) {
            refused_add(st, b->ticket);
            batch_free(b);
        } else {
            if (st->tail)
                st->tail->next = b;
            else
                st->head = b;
            st->tail = b;
        }
    }
}

/* After a transaction failed on one client batch's values: bad is refused (with msg), the
 * others of list go back to the queue, in ticket order among those queued since, and commit
 * again without it. Holds mu. */
static void reject_one(store_t *st, batch_t *list, const batch_t *bad, const char *msg)
{
    batch_t *q = st->head;
    st->head = st->tail = NULL;
    while (list || q) {
        batch_t **from = !q || (list && list->ticket < q->ticket) ? &list : &q;
        batch_t *b = *from;
        *from = b->next;
        b->next = NULL;
        if (b == bad) {
            rejected_add(st, b->ticket, msg, false);
            batch_free(b);
            continue;
        }
        if (st->tail)
            st->tail->next = b;
        else
            st->head = b;
        st->tail = b;
    }
}

static size_t count_batches(const batch_t *b)
{
    size_t n = 0;
    for (; b; b = b->next)
        n++;
    return n;
}

/* Whether writer w has something to do now. Writer 0 commits alone while the store is
 * degraded (its retries and probes) or fenced (one transaction at a time, in order); the
 * others only take work while neither is the case. Holds mu. */
static bool writer_ready(store_t *st, writer_t *w)
{
    if (st->held && !st->stopping && !st->stopping_extra)
        return false;
    if (w->index == 0) {
        if (st->degraded || __atomic_load_n(&st->fence, __ATOMIC_ACQUIRE))
            return !others_in_flight(st, w) && (st->head || st->degraded || st->stopping);
        return st->head ? !batch_conflicts(st, w, st->head)
                        : st->stopping && !others_in_flight(st, w);
    }
    if (st->stopping_extra)
        return true;
    return st->head && !st->degraded && !__atomic_load_n(&st->fence, __ATOMIC_ACQUIRE) &&
           !batch_conflicts(st, w, st->head);
}

/* A writer: commits what is queued in one transaction, in ticket order (group commit), as
 * much of it as no other writer's transaction writes too. A failed commit refuses the client
 * batches and retries the rest with a backoff (up to 2 s, writer 0 alone); with nothing left
 * to retry writer 0 probes with a one-row write, so that writes resume by themselves once the
 * disk has room again. */
static void *writer_main(void *arg)
{
    writer_t *w = arg;
    store_t *st = w->st;
    const bool first = w->index == 0;
    double backoff = 0.05;
    size_t logged_kept = 0;
    bool last_try = false; /* stopping: a failed commit is tried once more, then lost */
    pthread_mutex_lock(&st->mu);
    for (;;) {
        while (!writer_ready(st, w))
            pthread_cond_wait(&st->queued, &st->mu);
        if (!first && st->stopping_extra)
            break;
        if (w->stale) {
            /* A commit failed (the database restarted, the network broke): this connection
             * is likely dead too, and would fail a transaction to find out. A new one. */
            pthread_mutex_unlock(&st->mu);
            gt_error_t oerr = {0};
            store_db_t *fresh = NULL;
            bool opened = st->be->open(st->where, &fresh, &oerr) == 0;
            pthread_mutex_lock(&st->mu);
            if (opened) {
                st->be->close(w->db);
                w->db = fresh;
                w->stale = false;
            } else {
                struct timespec ts;
                clock_gettime(CLOCK_REALTIME, &ts);
                ts.tv_sec += 1;
                pthread_cond_timedwait(&st->retry, &st->mu, &ts);
            }
            continue;
        }
        if (first && !st->head && (st->stopping || st->closed))
            break;
        batch_t probe_batch = {0};
        store_op_t probe_op = {.kind = STORE_META_PUT, .a = "store_probe"};
        take_prefix(st, w);
        if (!w->list) { /* degraded with nothing kept: a probe write */
            probe_op.n = (int64_t)time(NULL);
            probe_batch = (batch_t){.ops = &probe_op, .n = 1};
        }
        batch_t *list = w->list;
        int inject = 0;
        if (st->inject_n > 0) {
            st->inject_n--;
            inject = st->inject_code;
        }
        pthread_mutex_unlock(&st->mu);

        char msg[256] = "";
        const batch_t *bad = NULL;
        bool unknown = false;
        double t0 = gt_monotonic_s();
        bool okay = commit_list(st, w->db, first, list ? list : &probe_batch, inject, msg,
                                sizeof(msg), &bad, &unknown);
        double took = gt_monotonic_s() - t0;

        pthread_mutex_lock(&st->mu);
        w->list = NULL;
        w->barrier = false;
        w->nkeys = 0;
        if (okay) {
            st->stats.transactions++;
            st->stats.commit_seconds += took;
            advance_done(st);
            while (list) {
                batch_t *next = list->next;
                if (list->client && list->ticket > st->done_ticket) {
                    GT_GROW(st->early, st->early_cap, st->nearly + 1);
                    st->early[st->nearly++] = list->ticket;
                }
                batch_free(list);
                list = next;
            }
            if (first) {
                if (st->degraded)
                    fprintf(stderr, "gantry server: the store commits again; writes resume.\n");
                st->degraded = false;
                backoff = 0.05;
            }
        } else if (st->fenced) {
            /* Deposed: no batch may ever commit here (the new leader owns the store). */
            st->stats.failed_commits++;
            fprintf(stderr, "gantry server: %s: nothing more is written here.\n", msg);
            snprintf(st->fail_msg, sizeof(st->fail_msg), "%s", msg);
            if (list)
                refuse_clients(st, list, NULL);
            while (st->head) {
                batch_t *next = st->head->next;
                batch_free(st->head);
                st->head = next;
            }
            st->tail = NULL;
            st->closed = true;
            break;
        } else if (bad && bad->client && list) {
            /* One client's batch has a row the database refuses (a constraint): that batch
             * alone is refused, with the database's reason; the others of the transaction,
             * clients' and kept, commit again at once without it. Nothing is wrong with the
             * store: not degraded, no backoff. */
            st->stats.failed_commits++;
            reject_one(st, list, bad, msg);
            advance_done(st);
            okay = true; /* for what follows: no retry of writer 0's, no backoff */
        } else {
            st->stats.failed_commits++;
            for (int i = 1; i < st->nwriters; i++)
                st->writers[i].stale = true;
            bool clients = false;
            for (const batch_t *b = list; b; b = b->next)
                clients |= b->client;
            if (unknown && clients) {
                /* Its clients are told the outcome is unknown (never "nothing was changed":
                 * the database may hold their changes, memory does not); the server reloads
                 * from the store (store_outcome_lost). Its kept batches are retried below, as
                 * after any failure: their upserts write what memory holds, whether or not
                 * this transaction committed. */
                char why[400];
                snprintf(why, sizeof(why), "the store lost the answer to the commit of this "
                         "change (%s)", msg);
                fprintf(stderr, "gantry server: %s: %s.\n", why, "the server reloads its state "
                        "from the store");
                st->outcome_lost = true;
                st->outcome_lost_at = gt_monotonic_s();
                refuse_clients(st, list, why);
            } else if (list) {
                refuse_clients(st, list, NULL);
            }
            advance_done(st);
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
        pthread_cond_broadcast(&st->queued); /* what waited for this transaction's rows */
        notify_t *ready = take_settled(st);
        pthread_mutex_unlock(&st->mu);
        run_notifies(ready);
        pthread_mutex_lock(&st->mu);
        if (!okay && !first)
            continue; /* writer 0 retries, alone */
        if (!okay && st->stopping && !last_try) {
            last_try = true; /* once more at once: the failure may have ended meanwhile */
            continue;
        }
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
    if (first) {
        st->closed = true;
        notify_t *rest = st->notify;
        st->notify = NULL;
        pthread_cond_broadcast(&st->committed);
        pthread_mutex_unlock(&st->mu);
        run_notifies(rest);
    } else {
        pthread_mutex_unlock(&st->mu);
    }
    return NULL;
}

/* ---- opening: where the store is, and what it holds (the backend checks) ---- */

int store_secure_dir(const char *where, gt_error_t *err)
{
    return backend_for(where)->secure(where, err);
}

const char *store_describe(const char *where, char *buf, size_t len)
{
    return backend_for(where)->describe(where, buf, len);
}

bool store_exists(const char *where) { return backend_for(where)->exists(where); }

int store_create(const char *where, const store_op_t *init, size_t n, gt_error_t *err)
{
    const store_backend_t *be = backend_for(where);
    store_db_t *db = NULL;
    if (be->create_begin(where, &db, err) < 0)
        return -1;
    for (size_t i = 0; i < n; i++)
        if (exec_op(be, db, &init[i]) < 0) {
            gt_error_set(err, "store_error", "the job store failed to write its first "
                         "records: %s", be->errmsg(db));
            be->create_end(db, false, NULL);
            errno = EIO;
            return -1;
        }
    return be->create_end(db, true, err);
}

/* How many write connections: one, or GANTRY_STORE_WRITERS (1 to the backend's `writers`) on
 * a backend that takes several (docs/store.md, "Write connections": one groups more clients
 * into each commit, and was the fastest with the machine to itself). */
static int writers_for(const store_backend_t *be)
{
    const char *e = getenv("GANTRY_STORE_WRITERS");
    if (be->writers <= 1 || !e || !*e)
        return 1;
    int n = atoi(e);
    return n < 1 ? 1 : n > be->writers ? be->writers : n;
}

int store_open(const char *where, store_t **out, gt_error_t *err)
{
    const store_backend_t *be = backend_for(where);
    store_db_t *db = NULL;
    if (be->open(where, &db, err) < 0)
        return -1;
    store_t *st = xcalloc(1, sizeof(*st));
    st->be = be;
    st->db = db;
    st->where = xstrdup(where);
    pthread_mutex_init(&st->mu, NULL);
    pthread_mutex_init(&st->rd_mu, NULL);
    pthread_mutex_init(&st->lease_mu, NULL);
    pthread_cond_init(&st->queued, NULL);
    pthread_cond_init(&st->committed, NULL);
    pthread_cond_init(&st->retry, NULL);
    st->nwriters = writers_for(be);
    st->writers = xcalloc((size_t)st->nwriters, sizeof(*st->writers));
    for (int i = 0; i < st->nwriters; i++) {
        writer_t *w = &st->writers[i];
        w->st = st;
        w->index = i;
        w->db = i == 0 ? db : NULL;
        if (i > 0 && be->open(where, &w->db, err) < 0) {
            store_close(st);
            errno = EIO;
            return -1;
        }
    }
    for (int i = 0; i < st->nwriters; i++) {
        writer_t *w = &st->writers[i];
        if (pthread_create(&w->th, NULL, writer_main, w) != 0) {
            gt_error_set(err, "store_error", "cannot start the committer thread");
            store_close(st);
            errno = EIO;
            return -1;
        }
        w->started = true;
        st->started = true;
    }
    *out = st;
    return 0;
}

void store_close(store_t *st)
{
    if (!st)
        return;
    if (st->started) {
        /* The other writers first (each ends its transaction in flight), then writer 0
         * commits what is left. */
        pthread_mutex_lock(&st->mu);
        st->stopping_extra = true;
        pthread_cond_broadcast(&st->queued);
        pthread_mutex_unlock(&st->mu);
        for (int i = 1; i < st->nwriters; i++)
            if (st->writers[i].started)
                pthread_join(st->writers[i].th, NULL);
        pthread_mutex_lock(&st->mu);
        st->stopping = true;
        pthread_cond_broadcast(&st->queued);
        pthread_cond_signal(&st->retry);
        pthread_mutex_unlock(&st->mu);
        if (st->writers[0].started)
            pthread_join(st->writers[0].th, NULL);
    }
    for (int i = 1; i < st->nwriters; i++)
        st->be->close(st->writers[i].db);
    for (int i = 0; i < st->nwriters; i++)
        free(st->writers[i].keys);
    free(st->writers);
    st->be->close(st->db);
    if (st->ldb)
        st->be->close(st->ldb);
    free(st->where);
    pthread_mutex_destroy(&st->mu);
    pthread_mutex_destroy(&st->rd_mu);
    pthread_mutex_destroy(&st->lease_mu);
    pthread_cond_destroy(&st->queued);
    pthread_cond_destroy(&st->committed);
    pthread_cond_destroy(&st->retry);
    /* What never committed: a fenced store's kept batches, or those a failing store still
     * held at the stop (it said so); and notifications nobody will take. */
    for (batch_t *b = st->head, *next; b; b = next) {
        next = b->next;
        batch_free(b);
    }
    for (notify_t *nt = st->notify, *next; nt; nt = next) {
        next = nt->next;
        free(nt);
    }
    free(st->refused);
    for (size_t i = 0; i < st->nrejected; i++)
        free(st->rejected[i].why);
    free(st->rejected);
    free(st->early);
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
    if (st->nwriters > 1)
        batch_keys(b);
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
    if (st->nwriters > 1)
        pthread_cond_broadcast(&st->queued); /* whichever writer is free */
    else
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
        if (st->fenced && refused_take(st, ticket)) {
            free(rejected_take(st, ticket, NULL));
            errno = ESTALE;
            rc = gt_error_set(err, "not_leader", "this server is no longer the leader (%s): "
                              "nothing was changed; ask the leader", st->fail_msg);
            break;
        }
        bool unknown = false;
        char *why = rejected_take(st, ticket, &unknown);
        if (why && unknown) {
            refused_take(st, ticket);
            errno = EIO;
            rc = gt_error_set(err, "store_error", "%s: this change may or may not have been "
                              "saved; ask again with the same Idempotency-Key (the server "
                              "reloads its state from the store meanwhile)", why);
            free(why);
            break;
        }
        if (why) {
            refused_take(st, ticket);
            errno = EINVAL;
            rc = gt_error_set(err, "store_error", "the store refused this change (%s); "
                              "nothing was changed", why);
            free(why);
            break;
        }
        if (refused_take(st, ticket)) {
            errno = EAGAIN;
            rc = gt_error_set(err, "store_error",
                              "the server's store cannot save changes at the moment (%s); "
                              "nothing was changed: retry later, and tell the administrator "
                              "(disk full?)", st->fail_msg);
            break;
        }
        if (ticket <= st->done_ticket || early_has(st, ticket))
            break;
        if (st->fenced) {
            errno = ESTALE;
            rc = gt_error_set(err, "not_leader", "this server is no longer the leader (%s): "
                              "nothing was saved here; ask the leader", st->fail_msg);
            break;
        }
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
    bool d = (ticket <= st->done_ticket || early_has(st, ticket)) && !refused_has(st, ticket);
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

void store_fail_next_commits(store_t *st, int n, int code)
{
    pthread_mutex_lock(&st->mu);
    st->inject_n = n;
    st->inject_code = code;
    pthread_mutex_unlock(&st->mu);
}

void store_hold(store_t *st, bool hold)
{
    pthread_mutex_lock(&st->mu);
    st->held = hold;
    pthread_cond_broadcast(&st->queued);
    pthread_mutex_unlock(&st->mu);
}

void store_get_stats(store_t *st, store_stats_t *out)
{
    pthread_mutex_lock(&st->mu);
    *out = st->stats;
    pthread_mutex_unlock(&st->mu);
}

/* ---- loading ---- */

static const char *txt(const store_val_t *c) { return c->type == STORE_VAL_TEXT ? c->s : NULL; }

typedef int (*job_fn)(void *, uint64_t, const char *, gt_error_t *);
typedef int (*token_fn)(void *, const char *, const char *, const char *, const char *, int64_t,
                        int64_t);
typedef int (*node_fn)(void *, const char *, int64_t, const char *);
typedef int (*team_fn)(void *, const char *, const char *);
typedef int (*series_fn)(void *, int, int64_t, const char *);
typedef int (*meta_fn)(void *, const char *, int64_t);
typedef int (*seq_fn)(void *, uint64_t, const char *, gt_error_t *);

/* Function pointers travel through void * in a small struct to stay within ISO C. */
typedef struct fnbox {
    job_fn job;
    token_fn token;
    node_fn node;
    team_fn named;      /* users, teams, settings: (name, doc) */
    const char *what;   /* "user", "team", "setting": in messages */
    series_fn series;
    meta_fn meta;
    const char *prefix;
    seq_fn seq;
    void *arg;
    bool done;          /* meta: past the prefix */
} fnbox_t;

static int job_row(void *box, const store_val_t *c, size_t n, gt_error_t *err)
{
    fnbox_t *b = box;
    (void)n;
    return b->job(b->arg, (uint64_t)c[0].i, txt(&c[1]), err);
}
static int token_row(void *box, const store_val_t *c, size_t n, gt_error_t *err)
{
    fnbox_t *b = box;
    (void)n;
    if (b->token(b->arg, txt(&c[0]), txt(&c[1]), txt(&c[2]), txt(&c[3]), c[4].i, c[5].i) < 0)
        return gt_error_set(err, "store_error", "a stored token is not valid");
    return 0;
}
static int node_row(void *box, const store_val_t *c, size_t n, gt_error_t *err)
{
    fnbox_t *b = box;
    (void)n;
    if (b->node(b->arg, txt(&c[0]), c[1].i, txt(&c[2])) < 0)
        return gt_error_set(err, "store_error", "stored node %s is not valid", txt(&c[0]));
    return 0;
}
static int named_row(void *box, const store_val_t *c, size_t n, gt_error_t *err)
{
    fnbox_t *b = box;
    (void)n;
    if (b->named(b->arg, txt(&c[0]), txt(&c[1])) < 0)
        return gt_error_set(err, "store_error", "stored %s %s is not valid", b->what,
                            txt(&c[0]));
    return 0;
}
static int series_row(void *box, const store_val_t *c, size_t n, gt_error_t *err)
{
    fnbox_t *b = box;
    (void)n;
    if (b->series(b->arg, (int)c[0].i, c[1].i, txt(&c[2])) < 0)
        return gt_error_set(err, "store_error", "a stored series point (time %lld) is not "
                            "valid", (long long)c[1].i);
    return 0;
}

int store_load_jobs(store_t *st, job_fn fn, void *arg, gt_error_t *err)
{
    fnbox_t box = {.job = fn, .arg = arg};
    return st->be->query(st->db, false, "SELECT id, doc FROM jobs ORDER BY id", NULL, 0, job_row,
                         &box, err);
}
int store_load_tokens(store_t *st, token_fn fn, void *arg, gt_error_t *err)
{
    fnbox_t box = {.token = fn, .arg = arg};
    char sql[256];
    snprintf(sql, sizeof(sql), "SELECT hash, \"user\", role, team, created, expires FROM tokens "
             "ORDER BY %s", st->be->tokens_order);
    return st->be->query(st->db, false, sql, NULL, 0, token_row, &box, err);
}
int store_load_users(store_t *st, team_fn fn, void *arg, gt_error_t *err)
{
    fnbox_t box = {.named = fn, .what = "user", .arg = arg};
    return st->be->query(st->db, false, "SELECT name, doc FROM users ORDER BY name", NULL, 0,
                         named_row, &box, err);
}
int store_load_nodes(store_t *st, node_fn fn, void *arg, gt_error_t *err)
{
    fnbox_t box = {.node = fn, .arg = arg};
    return st->be->query(st->db, false, "SELECT name, epoch, doc FROM nodes ORDER BY name", NULL,
                         0, node_row, &box, err);
}
int store_load_teams(store_t *st, team_fn fn, void *arg, gt_error_t *err)
{
    fnbox_t box = {.named = fn, .what = "team", .arg = arg};
    return st->be->query(st->db, false, "SELECT name, doc FROM teams ORDER BY name", NULL, 0,
                         named_row, &box, err);
}

int store_load_settings(store_t *st, const char *kind, team_fn fn, void *arg, gt_error_t *err)
{
    fnbox_t box = {.named = fn, .what = "setting", .arg = arg};
    store_val_t v[1] = {VT(kind)};
    return st->be->query(st->db, false, "SELECT name, doc FROM settings WHERE kind = ? "
                         "ORDER BY name", v, 1, named_row, &box, err);
}

int store_load_series(store_t *st, series_fn fn, void *arg, gt_error_t *err)
{
    fnbox_t box = {.series = fn, .arg = arg};
    return st->be->query(st->db, false, "SELECT res, t, doc FROM series ORDER BY t, res", NULL,
                         0, series_row, &box, err);
}

/* ---- artifacts ---- */
typedef int (*artver_fn)(void *, const char *, int64_t, const char *);
typedef int (*artalias_fn)(void *, const char *, const char *, int64_t);
typedef struct art_box {
    artver_fn ver;
    artalias_fn alias;
    void *arg;
} art_box_t;

static int artver_row(void *box, const store_val_t *c, size_t n, gt_error_t *err)
{
    art_box_t *b = box;
    (void)n;
    if (b->ver(b->arg, txt(&c[0]), c[1].i, txt(&c[2])) < 0)
        return gt_error_set(err, "store_error", "stored artifact version %s@%lld is not valid",
                            txt(&c[0]), (long long)c[1].i);
    return 0;
}
static int artalias_row(void *box, const store_val_t *c, size_t n, gt_error_t *err)
{
    art_box_t *b = box;
    (void)n;
    if (b->alias(b->arg, txt(&c[0]), txt(&c[1]), c[2].i) < 0)
        return gt_error_set(err, "store_error", "stored artifact alias %s:%s is not valid",
                            txt(&c[0]), txt(&c[1]));
    return 0;
}
int store_load_artifacts(store_t *st, team_fn fn, void *arg, gt_error_t *err)
{
    fnbox_t box = {.named = fn, .what = "artifact", .arg = arg};
    return st->be->query(st->db, false, "SELECT name, doc FROM artifacts ORDER BY name", NULL, 0,
                         named_row, &box, err);
}
int store_load_artifact_versions(store_t *st, artver_fn fn, void *arg, gt_error_t *err)
{
    art_box_t box = {.ver = fn, .arg = arg};
    return st->be->query(st->db, false, "SELECT name, version, doc FROM artifact_versions "
                         "ORDER BY name, version", NULL, 0, artver_row, &box, err);
}
int store_load_artifact_aliases(store_t *st, artalias_fn fn, void *arg, gt_error_t *err)
{
    art_box_t box = {.alias = fn, .arg = arg};
    return st->be->query(st->db, false, "SELECT name, alias, version FROM artifact_aliases "
                         "ORDER BY name, alias", NULL, 0, artalias_row, &box, err);
}

static int one_int(void *arg, const store_val_t *c, size_t n, gt_error_t *err)
{
    (void)err;
    if (n > 0) {
        ((int64_t *)arg)[0] = c[0].i;
        ((int64_t *)arg)[1] = 1;
    }
    return 0;
}

int store_meta_get(store_t *st, const char *key, int64_t dflt, int64_t *out, gt_error_t *err)
{
    int64_t got[2] = {0, 0};
    store_val_t v[1] = {VT(key)};
    if (st->be->query(st->db, false, "SELECT value FROM meta WHERE key = ?", v, 1, one_int, got,
                      err) < 0)
        return -1;
    *out = got[1] ? got[0] : dflt;
    return 0;
}

static int meta_row(void *box, const store_val_t *c, size_t n, gt_error_t *err)
{
    fnbox_t *b = box;
    (void)n;
    const char *key = txt(&c[0]);
    if (b->done || !key || strncmp(key, b->prefix, strlen(b->prefix))) {
        b->done = true; /* past the prefix: the rest is skipped */
        return 0;
    }
    if (b->meta(b->arg, key, c[1].i) < 0) {
        errno = EINVAL;
        return gt_error_set(err, "store_error", "the meta row '%s' cannot be read", key);
    }
    return 0;
}

int store_load_meta(store_t *st, const char *prefix, meta_fn fn, void *arg, gt_error_t *err)
{
    fnbox_t box = {.meta = fn, .prefix = prefix, .arg = arg};
    store_val_t v[1] = {VT(prefix)};
    /* A range on the primary key, not LIKE: prefixes may hold '%' or '_'. */
    return st->be->query(st->db, false, "SELECT key, value FROM meta WHERE key >= ? ORDER BY key",
                         v, 1, meta_row, &box, err);
}

/* ---- events and the audit log, read while the server runs ---- */

static int seq_row(void *box, const store_val_t *c, size_t n, gt_error_t *err)
{
    fnbox_t *b = box;
    (void)n;
    return b->seq(b->arg, (uint64_t)c[0].i, txt(&c[1]), err);
}

static int max_row(void *arg, const store_val_t *c, size_t n, gt_error_t *err)
{
    (void)err;
    *(uint64_t *)arg = n > 0 && c[0].type != STORE_VAL_NULL ? (uint64_t)c[0].i : 0;
    return 0;
}

/* One read transaction: the rows of sql (seq, doc), then MAX(seq) of table, as one snapshot. */
static int read_seq_rows(store_t *st, const char *sql, const char *max_sql, uint64_t job,
                         uint64_t since, size_t limit, seq_fn fn, void *arg, uint64_t *upto,
                         gt_error_t *err)
{
    if (since > INT64_MAX)
        since = INT64_MAX;
    fnbox_t box = {.seq = fn, .arg = arg};
    store_val_t v[3];
    size_t n = 0;
    if (job)
        v[n++] = VI(job);
    v[n++] = VI(since);
    v[n++] = VI(limit ? (int64_t)limit : INT64_MAX);
    uint64_t max = 0;
    pthread_mutex_lock(&st->rd_mu);
    int rc = st->be->read_begin(st->db, err);
    if (rc == 0)
        rc = st->be->query(st->db, true, sql, v, n, seq_row, &box, err);
    if (rc == 0)
        rc = st->be->query(st->db, true, max_sql, NULL, 0, max_row, &max, err);
    st->be->read_end(st->db);
    pthread_mutex_unlock(&st->rd_mu);
    if (rc == 0 && upto)
        *upto = max;
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
    pthread_mutex_lock(&st->rd_mu);
    int rc = st->be->last_seqs(st->db, event, audit, err);
    pthread_mutex_unlock(&st->rd_mu);
    return rc;
}

/* ---- leader election: the lease row (table leader, one row: id 1) ---- */

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

typedef struct lease_row {
    bool found;
    char holder[256], url[1024];
    int64_t epoch, expires;
} lease_row_t;

static int lease_row_fn(void *arg, const store_val_t *c, size_t n, gt_error_t *err)
{
    (void)err;
    lease_row_t *r = arg;
    if (n < 4)
        return 0;
    r->found = true;
    snprintf(r->holder, sizeof(r->holder), "%s", c[0].type == STORE_VAL_TEXT ? c[0].s : "");
    snprintf(r->url, sizeof(r->url), "%s", c[1].type == STORE_VAL_TEXT ? c[1].s : "");
    r->epoch = c[2].i;
    r->expires = c[3].i;
    return 0;
}

/* The lease's own connections, opened at the first call. Caller holds lease_mu. */
static int lease_db(store_t *st, gt_error_t *err)
{
    if (st->ldb)
        return 0;
    return st->be->open(st->where, &st->ldb, err);
}

static int lease_fail(store_t *st, gt_error_t *err, const char *what)
{
    if (!err->msg[0])
        gt_error_set(err, "store_error", "the store's lease cannot be %s: %s", what,
                     st->ldb ? st->be->errmsg(st->ldb) : "no connection");
    if (st->ldb) {
        /* Closed: the next call opens them anew. A lease call runs outside a transaction,
         * where nothing reconnects a connection the database dropped (it restarted, the
         * network failed): without this a standby never saw the database again. */
        st->be->rollback(st->ldb);
        st->be->close(st->ldb);
        st->ldb = NULL;
    }
    errno = EIO;
    return -1;
}

static int epoch_fn(void *arg, const store_val_t *c, size_t n, gt_error_t *err)
{
    (void)err;
    if (n >= 1 && c[0].type == STORE_VAL_INT) {
        int64_t *e = arg;
        e[0] = c[0].i;
        e[1] = 1; /* a row came back */
    }
    return 0;
}

int store_lease_acquire(store_t *st, const char *holder, const char *url, int64_t ttl_ms,
                        uint64_t *epoch, gt_error_t *err)
{
    /* One statement, its own transaction: ours to renew (same holder: the same epoch), or free
     * (run out, or handed back): the next epoch; someone else's, still running: no row. No
     * transaction stays open across a round trip, so a server cut off from the database in
     * the middle of a renewal leaves no lock on the row behind it (a takeover would wait for
     * the database to end that session). In an UPDATE every expression reads the old row. */
    static const char *const take =
        "UPDATE leader SET epoch = CASE WHEN holder = ? THEN epoch ELSE epoch + 1 END, "
        "holder = ?, url = ?, expires = ? WHERE id = 1 AND (holder = ? OR expires <= ?) "
        "RETURNING epoch";
    static const char *const first =
        "INSERT INTO leader (id, holder, url, epoch, expires) VALUES (1, '', '', 0, 0) "
        "ON CONFLICT (id) DO NOTHING";
    gt_error_t e = {0};
    if (!err)
        err = &e;
    pthread_mutex_lock(&st->lease_mu);
    int rc = -1;
    if (lease_db(st, err) < 0)
        goto out;
    for (int round = 0; round < 2; round++) {
        int64_t now = wall_ms(), got[2] = {0, 0};
        store_val_t v[6] = {{STORE_VAL_TEXT, 0, holder}, {STORE_VAL_TEXT, 0, holder},
                            {STORE_VAL_TEXT, 0, url},    {STORE_VAL_INT, now + ttl_ms, NULL},
                            {STORE_VAL_TEXT, 0, holder}, {STORE_VAL_INT, now, NULL}};
        if (st->be->query(st->ldb, false, take, v, 6, epoch_fn, got, err) < 0) {
            lease_fail(st, err, "written");
            goto out;
        }
        if (got[1]) {
            *epoch = (uint64_t)got[0];
            rc = 0;
            goto out;
        }
        lease_row_t r = {0};
        static const char *const read =
            "SELECT holder, url, epoch, expires FROM leader WHERE id = 1";
        if (st->be->query(st->ldb, false, read, NULL, 0, lease_row_fn, &r, err) < 0) {
            lease_fail(st, err, "read");
            goto out;
        }
        if (r.found) {
            *epoch = (uint64_t)r.epoch; /* someone else's, still running */
            rc = 1;
            goto out;
        }
        /* No row at all (a store made before it had one): the row of no lease, then take it. */
        if (st->be->begin(st->ldb) < 0 || st->be->exec(st->ldb, first, NULL, 0) < 0 ||
            st->be->commit(st->ldb) < 0) {
            lease_fail(st, err, "written");
            goto out;
        }
    }
    errno = EIO;
    gt_error_set(err, "store_error", "the store's lease row cannot be made");
out:
    pthread_mutex_unlock(&st->lease_mu);
    return rc;
}

int store_lease_holder(store_t *st, char **holder_url, uint64_t *epoch, gt_error_t *err)
{
    static const char *const read = "SELECT holder, url, epoch, expires FROM leader WHERE id = 1";
    gt_error_t e = {0};
    if (!err)
        err = &e;
    pthread_mutex_lock(&st->lease_mu);
    lease_row_t r = {0};
    *holder_url = NULL;
    *epoch = 0;
    int rc = 0;
    if (lease_db(st, err) < 0 ||
        st->be->query(st->ldb, false, read, NULL, 0, lease_row_fn, &r, err) < 0) {
        rc = lease_fail(st, err, "read");
    } else if (r.found) {
        *epoch = (uint64_t)r.epoch;
        if (r.expires > wall_ms() && r.holder[0])
            *holder_url = xstrdup(r.url);
    }
    pthread_mutex_unlock(&st->lease_mu);
    return rc;
}

int store_lease_release(store_t *st, const char *holder, gt_error_t *err)
{
    static const char *const end = "UPDATE leader SET expires = 0 WHERE id = 1 AND holder = ?";
    gt_error_t e = {0};
    if (!err)
        err = &e;
    pthread_mutex_lock(&st->lease_mu);
    store_val_t v = {STORE_VAL_TEXT, 0, holder};
    int rc = 0;
    if (lease_db(st, err) < 0)
        rc = -1;
    else if (st->be->begin(st->ldb) < 0 || st->be->exec(st->ldb, end, &v, 1) < 0 ||
             st->be->commit(st->ldb) < 0)
        rc = lease_fail(st, err, "handed back");
    pthread_mutex_unlock(&st->lease_mu);
    return rc;
}

void store_set_fence(store_t *st, uint64_t epoch)
{
    __atomic_store_n(&st->fence, epoch, __ATOMIC_RELEASE);
}

double store_outcome_lost(store_t *st)
{
    pthread_mutex_lock(&st->mu);
    double at = st->outcome_lost ? st->outcome_lost_at : 0;
    pthread_mutex_unlock(&st->mu);
    return at;
}

bool store_fenced(store_t *st)
{
    return __atomic_load_n(&st->fenced, __ATOMIC_ACQUIRE);
}
