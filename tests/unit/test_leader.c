/* leader: the store's lease (store_lease_*) and its fence (store_set_fence): one leader per
 * epoch, a new epoch only once the lease ran out or was handed back, and no commit of a
 * deposed leader (server/leader.h, docs/ha.md). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "server/store.h"
#include "tap.h"

static void nap_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static int njobs;
static int on_job(void *arg, uint64_t id, const char *doc, gt_error_t *err)
{
    (void)arg, (void)id, (void)doc, (void)err;
    njobs++;
    return 0;
}

/* The election and the fence on the store at d (a SQLite directory, or a PostgreSQL URL of an
 * empty database). */
static void check_leader(const char *d)
{
    gt_error_t err = {0};
    is_int(store_create(d, NULL, 0, &err), 0, "a store");
    store_t *a = NULL, *b = NULL;
    is_int(store_open(d, &a, &err), 0, "server A opens it");
    is_int(store_open(d, &b, &err), 0, "server B opens it too");

    char *url = (char *)"x";
    uint64_t ea = 0, eb = 0;
    is_int(store_lease_holder(a, &url, &ea, &err), 0, "who leads a new store");
    ok(url == NULL, "no one");
    is_int(ea, 0, "epoch 0: never led");

    is_int(store_lease_acquire(a, "A", "http://a", 400, &ea, &err), 0, "A takes the lease");
    is_int(ea, 1, "epoch 1");
    is_int(store_lease_acquire(b, "B", "http://b", 400, &eb, &err), 1, "B cannot: A holds it");
    is_int(eb, 1, "B is told A's epoch");
    is_int(store_lease_holder(b, &url, &eb, &err), 0, "B asks who leads");
    is_str(url, "http://a", "A, at its URL");
    free(url);
    is_int(store_lease_acquire(a, "A", "http://a", 400, &ea, &err), 0, "A renews");
    is_int(ea, 1, "with the same epoch");

    /* A's commits carry its epoch. */
    store_set_fence(a, ea);
    store_op_t op = {.kind = STORE_JOB_PUT, .id = 1, .a = "t", .b = "u", .c = "pending",
                     .d = "{}"};
    is_int(store_wait(a, store_enqueue_client(a, &op, 1), &err), 0, "A commits job 1 (%s)",
           err.msg);

    /* A stops renewing: once its term ran out B takes over with the next epoch. */
    is_int(store_lease_acquire(b, "B", "http://b", 400, &eb, &err), 1, "not before the term");
    nap_ms(500);
    is_int(store_lease_acquire(b, "B", "http://b", 400, &eb, &err), 0, "B takes the lease "
           "after A's term");
    is_int(eb, 2, "epoch 2");
    /* A minute's term from here: what follows (two more servers' groups) must not outlast
     * B's 400 ms on a loaded machine, or A's renewal below would take the lease back. */
    is_int(store_lease_acquire(b, "B", "http://b", 60000, &eb, &err), 0, "B renews");
    is_int(eb, 2, "  its epoch unchanged");
    store_set_fence(b, eb);

    /* A, deposed, commits no group either: its committer's next transaction carries several
     * clients' batches and a kept one; the fence refuses it whole, every client is told
     * not_leader, none is acknowledged. A2, another server that still believes in epoch 1,
     * the same with a row the database rejects among them (a NOT NULL column left NULL):
     * not_leader for that one too, and for the others (never committed without it). */
    store_t *a2 = NULL;
    is_int(store_open(d, &a2, &err), 0, "server A2 opens the store");
    store_set_fence(a2, ea);
    store_op_t grp[] = {
        {.kind = STORE_JOB_PUT, .id = 5, .a = "t", .b = "u", .c = "pending", .d = "{}"},
        {.kind = STORE_JOB_PUT, .id = 6, .a = "t", .b = "u", .c = "pending", .d = "{}"},
        {.kind = STORE_JOB_PUT, .id = 7, .a = "t", .b = "u", .c = "pending", .d = "{}"},
        {.kind = STORE_JOB_PUT, .id = 8, .a = "t", .b = "u", .c = "pending", .d = "{}"},
    };
    for (int round = 0; round < 2; round++) {
        store_t *s = round ? a2 : a;
        for (int i = 0; i < 4; i++)
            grp[i].id = (uint64_t)(5 + 4 * round + i);
        grp[1].a = round ? NULL : "t";
        store_hold(s, true);
        uint64_t g[4] = {store_enqueue_client(s, &grp[0], 1), store_enqueue_client(s, &grp[1], 1),
                         store_enqueue_client(s, &grp[2], 1), store_enqueue(s, &grp[3], 1)};
        store_hold(s, false);
        int refused = 0, stale = 0;
        for (int i = 0; i < 4; i++) {
            memset(&err, 0, sizeof(err));
            errno = 0;
            refused += store_wait(s, g[i], &err) < 0;
            stale += errno == ESTALE && !strcmp(err.code, "not_leader");
        }
        is_int(refused, 4, "a deposed leader's group%s: every batch refused",
               round ? " with a bad row" : "");
        is_int(stale, 4, "each told not_leader (ESTALE)");
        ok(store_fenced(s), "%s knows it is fenced", round ? "A2" : "A");
    }
    store_close(a2);

    /* A, deposed, can never commit again: neither a client's change nor a kept one. */
    op.id = 2;
    errno = 0;
    memset(&err, 0, sizeof(err));
    is_int(store_wait(a, store_enqueue_client(a, &op, 1), &err), -1, "A's next commit is "
           "refused");
    is_int(errno, ESTALE, "ESTALE");
    is_str(err.code, "not_leader", "code not_leader");
    ok(store_fenced(a), "A knows it is fenced");
    op.id = 3;
    memset(&err, 0, sizeof(err));
    is_int(store_wait(a, store_enqueue(a, &op, 1), &err), -1, "a kept change of A's too");
    is_str(err.code, "not_leader", "code not_leader");
    is_int(store_lease_acquire(a, "A", "http://a", 400, &ea, &err), 1, "A's renewal finds B");
    is_int(ea, 2, "at epoch 2");

    op.id = 4;
    is_int(store_wait(b, store_enqueue_client(b, &op, 1), &err), 0, "B commits job 4");
    ok(!store_fenced(b), "B is not fenced");

    /* B hands the lease back (a clean stop): the next taker need not wait for the term. */
    is_int(store_lease_release(b, "B", &err), 0, "B hands the lease back");
    is_int(store_lease_release(a, "A", &err), 0, "a release by a non-holder is a no-op");
    char *u2 = NULL;
    store_lease_holder(a, &u2, &ea, &err);
    ok(u2 == NULL, "no one leads now");
    store_t *c = NULL;
    is_int(store_open(d, &c, &err), 0, "server C opens the store");
    uint64_t ec = 0;
    is_int(store_lease_acquire(c, "C", "http://c", 400, &ec, &err), 0, "C takes it at once");
    is_int(ec, 3, "epoch 3: never reused, never backwards");
    store_close(a);
    store_close(b);

    njobs = 0;
    is_int(store_load_jobs(c, on_job, NULL, &err), 0, "C loads the jobs");
    is_int(njobs, 2, "jobs 1 (A's, epoch 1) and 4 (B's): none of A's after it was deposed "
           "(its groups' 5-12 neither)");
    store_close(c);
}

/* A new, empty database on the test PostgreSQL (tests/pg/newdb); its URL in out. */
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

/* The database drops every connection (it restarted, the network failed): the lease's own
 * connection comes back by itself, for the leader's renewals and for a standby's looks. */
static void pg_dropped(const char *base, const char *url)
{
    gt_error_t err = {0};
    store_t *a = NULL, *b = NULL;
    is_int(store_open(url, &a, &err), 0, "PostgreSQL: A opens the store again");
    is_int(store_open(url, &b, &err), 0, "B too");
    if (!a || !b)
        return;
    uint64_t ea = 0, eb = 0;
    nap_ms(500); /* C's term (400 ms) runs out */
    is_int(store_lease_acquire(a, "A2", "http://a", 60000, &ea, &err), 0, "A takes the lease "
           "(a new holder once C's ran out): %s", err.msg);
    char *u = NULL;
    is_int(store_lease_holder(b, &u, &eb, &err), 0, "B looks");
    free(u);
    char cmd[1400];
    snprintf(cmd, sizeof(cmd), "PGOPTIONS='-c client_min_messages=warning' psql -X -q '%s' -c "
             "\"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = "
             "'gantry_unit_leader' AND pid <> pg_backend_pid()\" >/dev/null", base);
    is_int(system(cmd), 0, "every connection to the database is dropped");
    int renewed = -1, looked = -1;
    for (int i = 0; i < 3 && renewed != 0; i++)
        renewed = store_lease_acquire(a, "A2", "http://a", 60000, &ea, &err);
    is_int(renewed, 0, "A renews again within three tries (%s)", err.msg);
    for (int i = 0; i < 3 && looked != 0; i++) {
        u = NULL;
        looked = store_lease_holder(b, &u, &eb, &err);
        if (looked == 0)
            is_str(u, "http://a", "B sees A lead again");
        free(u);
    }
    is_int(looked, 0, "B reads the lease again within three tries (%s)", err.msg);
    is_int(store_lease_acquire(b, "B2", "http://b", 60000, &eb, &err), 1, "and cannot take it");
    store_close(a);
    store_close(b);
}

int main(void)
{
    char d[] = "/tmp/gantry-leader-XXXXXX";
    if (!mkdtemp(d))
        return 1;
    diag("SQLite: %s", d);
    check_leader(d);
    char cmd[1200];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", d);
    if (system(cmd) != 0)
        diag("could not remove %s", d);

    /* The same on PostgreSQL (tests/pg/with exports GANTRY_TEST_PG), where the fence is one
     * statement in the committer's pipeline that the database refuses for a stale epoch. */
    const char *base = getenv("GANTRY_TEST_PG");
    const char *ci = getenv("CI");
    char url[1024];
    if (!base || !*base) {
        const char *why = getenv("GANTRY_TEST_PG_WHY");
        if (ci && !strcmp(ci, "true"))
            ok(0, "PostgreSQL is required under CI: %s", why ? why : "GANTRY_TEST_PG is not set");
        else
            printf("ok %d # skip no PostgreSQL (%s)\n", ++tap_n,
                   why && *why ? why : "GANTRY_TEST_PG is not set: make unit starts one");
    } else if (pg_newdb(base, "gantry_unit_leader", url, sizeof(url)) < 0) {
        ok(0, "a database on the test PostgreSQL (%s)", base);
    } else {
        diag("PostgreSQL: %s", url);
        check_leader(url);
        pg_dropped(base, url);
        snprintf(cmd, sizeof(cmd), "PGOPTIONS='-c client_min_messages=warning' psql -X -q '%s' "
                 "-c 'DROP DATABASE IF EXISTS gantry_unit_leader WITH (FORCE)' >/dev/null 2>&1",
                 base);
        if (system(cmd) != 0)
            diag("could not drop gantry_unit_leader");
    }
    return tap_done();
}
