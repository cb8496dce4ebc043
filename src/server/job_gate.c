/* job_gate.c: what keeps a pending job out of the scheduler (server.h: server_job_gate), and
 * the indexes that let a job's end re-examine only the jobs it may release.
 *
 * The rules, in order: held (gantry hold), dependencies (afterok, afterany, afternotok; a job that is an array's id
 * stands for all its tasks), singleton (one queued or running job per name and user), the
 * array throttle (%N: at most N tasks of an array in the scheduler). "Active" below means in
 * the scheduler and not ended (pending there, or running), or cancelled while it ran and still
 * stopping (it holds its resources until server_cancelled_gone): it changes only through
 * server_gate_entered() and server_gate_left(), which server.c calls where in_sched changes.
 *
 * Indexes (memory only; rebuilt from the jobs at a restart):
 * - per array: its task count, active tasks, a hint of its unfinished and failed tasks (kept as
 *   tasks end; checked by a scan of the array only when the hint says every task ended), and a
 *   cursor: the lowest task id that may wait for the throttle (tasks enter in id order);
 * - per (user, name): active jobs (singleton);
 * - the jobs that wait on other jobs, by what they wait on: a dependency not yet met (the job or
 *   array it names), or a singleton's name; not a hold, which only its release lifts. A job's
 *   change looks only at those waiting on it (its id, its array's, its name), and at its
 *   array's cursor: its cost does not grow with the jobs that wait on others. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "server/server.h"

typedef struct gate_array {
    int64_t id;                 /* the array's id; 0: free slot */
    int64_t count;              /* its tasks: ids id .. id + count - 1 */
    int throttle;               /* 0: none */
    int64_t active;
    int64_t unfinished;         /* not ended: never below the truth (see array_outcome) */
    int64_t failed;             /* ended failed or cancelled (or gone) */
    uint64_t cursor;            /* lowest id that may wait for the throttle; 0: none */
    bool loading;               /* its tasks are entering memory (submit_apply) */
} gate_array_t;

struct gate_index {
    gate_array_t *arrays;       /* open addressing on the id, linear probing */
    size_t arrays_cap, narrays;
    json_t *names;              /* "user\nname" -> active jobs */
    json_t *waits;              /* "d:ID" (a job's or an array's id) or "n:user\nname" ->
                                   {"JOBID": true}: the jobs that wait on it (some may no
                                   longer wait: looked at when it changes, then dropped) */
};

static struct gate_index *gate_index(server_t *srv)
{
    if (!srv->gate) {
        srv->gate = xcalloc(1, sizeof(*srv->gate));
        srv->gate->names = json_object();
        srv->gate->waits = json_object();
    }
    return srv->gate;
}

void server_gate_free(server_t *srv)
{
    if (!srv->gate)
        return;
    free(srv->gate->arrays);
    json_decref(srv->gate->names);
    json_decref(srv->gate->waits);
    free(srv->gate);
    srv->gate = NULL;
}

/* ---- arrays ---- */

static gate_array_t *array_slot(struct gate_index *g, int64_t id)
{
    size_t mask = g->arrays_cap - 1, i = (size_t)((uint64_t)id * 0x9E3779B97F4A7C15ULL) & mask;
    while (g->arrays[i].id && g->arrays[i].id != id)
        i = (i + 1) & mask;
    return &g->arrays[i];
}

/* The record of array id (whose task t is known), made on first use: its counts from a scan of
 * its tasks (a restart; a submission makes its own, server_gate_array_loading). */
static gate_array_t *array_rec(server_t *srv, int64_t id)
{
    struct gate_index *g = gate_index(srv);
    if (g->arrays_cap) {
        gate_array_t *a = array_slot(g, id);
        if (a->id)
            return a;
    }
    if ((g->narrays + 1) * 2 > g->arrays_cap) {
        gate_array_t *old = g->arrays;
        size_t oldcap = g->arrays_cap;
        g->arrays_cap = oldcap ? oldcap * 2 : 64;
        g->arrays = xcalloc(g->arrays_cap, sizeof(*g->arrays));
        for (size_t i = 0; i < oldcap; i++)
            if (old[i].id)
                *array_slot(g, old[i].id) = old[i];
        free(old);
    }
    gate_array_t *a = array_slot(g, id);
    *a = (gate_array_t){.id = id};
    g->narrays++;
    /* Any task knows the count and the throttle (an older document without a count: the run
     * of tasks from the id on). */
    job_t *t = server_job(srv, (uint64_t)id);
    int64_t count = t ? t->array_count : 0;
    if (count <= 0) {
        count = 0;
        while ((uint64_t)id + (uint64_t)count < srv->next_id) {
            job_t *k = server_job(srv, (uint64_t)id + (uint64_t)count);
            if (!k || k->array_id != id)
                break;
            count++;
        }
    }
    a->count = count;
    for (int64_t k = 0; k < count; k++) {
        job_t *x = server_job(srv, (uint64_t)(id + k));
        if (x && x->array_id == id) {
            a->throttle = x->array_throttle;
            if (!job_state_terminal(x->state))
                a->unfinished++;
            else if (x->state != JOB_SUCCEEDED)
                a->failed++;
        } else {
            a->failed++; /* purged: its outcome is unknown */
        }
    }
    return a;
}

void server_gate_array_loading(server_t *srv, const job_t *first, bool loading)
{
    gate_array_t *a = array_rec(srv, first->array_id);
    if (loading) {
        a->count = first->array_count;
        a->throttle = first->array_throttle;
        a->unfinished = first->array_count;
        a->failed = 0;
    }
    a->loading = loading;
}

/* Whether every task of array a ended, and whether one failed (or was cancelled, or is gone).
 * The hint decides while it says some are unfinished; at 0 a scan confirms it (a task that left
 * an end state again is counted anew). */
static bool array_outcome(server_t *srv, gate_array_t *a, bool *failed)
{
    *failed = a->failed > 0;
    if (a->loading || a->unfinished > 0)
        return false;
    int64_t unfinished = 0, bad = 0;
    for (int64_t k = 0; k < a->count; k++) {
        job_t *x = server_job(srv, (uint64_t)(a->id + k));
        if (!x || x->array_id != a->id)
            bad++;
        else if (!job_state_terminal(x->state))
            unfinished++;
        else if (x->state != JOB_SUCCEEDED)
            bad++;
    }
    a->unfinished = unfinished;
    a->failed = bad;
    *failed = bad > 0;
    return unfinished == 0;
}

bool server_job_is_array(server_t *srv, const job_t *j)
{
    (void)srv;
    return j && j->array_id >= 0 && (uint64_t)j->array_id == j->id;
}

job_t *server_job_ref(server_t *srv, const char *ref)
{
    uint64_t id;
    int64_t index;
    if (gt_job_ref_parse(ref, &id, &index) < 0)
        return NULL;
    job_t *head = server_job(srv, id);
    if (index < 0)
        return head;
    /* Tasks hold ids id .. id + count - 1, their indices ascending: a binary search that
     * steps over purged tasks (NULL). */
    int64_t count = head && head->array_id == (int64_t)id ? head->array_count : 0;
    if (count <= 0) { /* the first task is gone: any other knows the count */
        for (int64_t k = 1; k < JOB_ARRAY_MAX && id + (uint64_t)k < srv->next_id; k++) {
            job_t *t = server_job(srv, id + (uint64_t)k);
            if (t) {
                count = t->array_id == (int64_t)id ? t->array_count : 0;
                break;
            }
        }
    }
    int64_t lo = 0, hi = count < JOB_ARRAY_MAX ? count : JOB_ARRAY_MAX;
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2, k = mid;
        job_t *t = NULL;
        while (k < hi && !(t = server_job(srv, id + (uint64_t)k)))
            k++;
        if (!t || t->array_id != (int64_t)id) {
            hi = mid;
        } else if (t->array_index == index) {
            return t;
        } else if (t->array_index < index) {
            lo = k + 1;
        } else {
            hi = mid;
        }
    }
    return NULL;
}

/* The job a dependency's "job" names: an id (an array's id: *whole_array set), or a task's
 * reference "N_M". NULL when gone. */
static job_t *dep_job(server_t *srv, const json_t *ref, bool *whole_array)
{
    *whole_array = false;
    uint64_t id = (uint64_t)json_integer_value(ref);
    int64_t index = -1;
    if (json_is_string(ref) && gt_job_ref_parse(json_string_value(ref), &id, &index) < 0)
        return NULL;
    if (index >= 0)
        return server_job_ref(srv, json_string_value(ref));
    job_t *d = server_job(srv, id); /* "N" as N */
    *whole_array = server_job_is_array(srv, d);
    return d;
}

/* The array id or job id a dependency's "job" names (for a quick match against a change). */
static uint64_t dep_id(const json_t *ref)
{
    uint64_t id = 0;
    int64_t index;
    if (json_is_string(ref) && gt_job_ref_parse(json_string_value(ref), &id, &index) < 0)
        return 0;
    return json_is_string(ref) ? id : (uint64_t)json_integer_value(ref);
}

void server_gate_dep_targets(server_t *srv, const json_t *dep, uint64_t *first, uint64_t *n)
{
    bool whole;
    job_t *d = dep_job(srv, json_object_get(dep, "job"), &whole);
    *first = d ? d->id : 0;
    *n = !d ? 0 : whole ? (uint64_t)array_rec(srv, d->array_id)->count : 1;
}

/* ---- active counts ---- */

static void name_key(const job_t *j, gt_buf_t *b)
{
    gt_buf_printf(b, "%s\n%s", j->user ? j->user : "", j->name);
}

static void count_active(server_t *srv, const job_t *j, int delta)
{
    if (j->array_id >= 0)
        array_rec(srv, j->array_id)->active += delta;
    if (j->name) {
        struct gate_index *g = gate_index(srv);
        gt_buf_t k = {0};
        name_key(j, &k);
        json_int_t n = json_integer_value(json_object_get(g->names, k.data)) + delta;
        if (n > 0)
            json_object_set_new(g->names, k.data, json_integer(n));
        else
            json_object_del(g->names, k.data);
        gt_buf_free(&k);
    }
}

void server_gate_entered(server_t *srv, job_t *j) { count_active(srv, j, +1); }

void server_gate_left(server_t *srv, job_t *j, bool was_active, bool ended)
{
    if (was_active)
        count_active(srv, j, -1);
    if (ended && j->array_id >= 0) {
        gate_array_t *a = array_rec(srv, j->array_id);
        if (a->unfinished > 0)
            a->unfinished--;
        if (j->state != JOB_SUCCEEDED)
            a->failed++;
    }
}

/* ---- the rules ---- */

/* Where one dependency stands: 1 met, 0 not yet, -1 never. */
static int dep_state(server_t *srv, const char *type, const json_t *ref)
{
    bool whole, ended, failed;
    job_t *d = dep_job(srv, ref, &whole);
    if (!d) {
        ended = failed = true; /* gone (purged): its outcome is unknown */
    } else if (whole) {
        ended = array_outcome(srv, array_rec(srv, d->array_id), &failed);
    } else {
        ended = job_state_terminal(d->state);
        failed = ended && d->state != JOB_SUCCEEDED;
    }
    if (!strcmp(type, "afterany"))
        return ended ? 1 : 0;
    if (!strcmp(type, "afternotok"))
        return !ended ? 0 : failed ? 1 : -1;
    return failed ? -1 : ended ? 1 : 0; /* afterok: a failed task fails it before the rest end */
}

static gate_t deps_gate(server_t *srv, const job_t *j, gate_why_t *why)
{
    gate_t g = GATE_READY;
    size_t i;
    json_t *v;
    json_array_foreach(j->dependencies, i, v)
    {
        const char *type = json_string_value(json_object_get(v, "type"));
        if (!type)
            type = "afterok";
        int st = dep_state(srv, type, json_object_get(v, "job"));
        if (st < 0) {
            why->reason = "dependency";
            why->message = !strcmp(type, "afternotok")
                               ? "a job in its afternotok dependencies succeeded: it will never "
                                 "start"
                               : "a job in its afterok dependencies failed or was cancelled: it "
                                 "will never start";
            return GATE_NEVER;
        }
        if (st == 0 && g == GATE_READY) {
            g = GATE_WAIT;
            why->reason = "dependency";
            why->message = !strcmp(type, "afterany")
                               ? "it waits for the jobs in its afterany dependencies to end"
                           : !strcmp(type, "afternotok")
                               ? "it waits for the jobs in its afternotok dependencies to end "
                                 "(it starts if one fails)"
                               : "it waits for the jobs in its afterok dependencies to succeed";
        }
    }
    return g;
}

/* held: WAIT until released (gantry release); who held it says who may release it. */
static gate_t held_gate(const job_t *j, gate_why_t *why)
{
    if (!j->held)
        return GATE_READY;
    why->reason = "held";
    why->message = j->held_by_admin ? "held by an admin (see held_by): only an admin may "
                                      "release it (gantry release)"
                                    : "held by its user (see held_by): `gantry release` lets "
                                      "it into the queue";
    return GATE_WAIT;
}

static gate_t singleton_gate(server_t *srv, const job_t *j, gate_why_t *why)
{
    if (!j->singleton || !j->name)
        return GATE_READY;
    gt_buf_t k = {0};
    name_key(j, &k);
    json_int_t n = json_integer_value(json_object_get(gate_index(srv)->names, k.data));
    gt_buf_free(&k);
    if (n <= 0)
        return GATE_READY;
    why->reason = "singleton";
    why->message = "singleton: another job of its name and user is queued or running";
    return GATE_WAIT;
}

static gate_t throttle_gate(server_t *srv, const job_t *j, gate_why_t *why)
{
    if (j->array_id < 0 || j->array_throttle <= 0)
        return GATE_READY;
    if (array_rec(srv, j->array_id)->active < j->array_throttle)
        return GATE_READY;
    why->reason = "array_throttle";
    why->message = "its array's throttle (%N) is reached: it starts when one of its running "
                   "tasks ends";
    return GATE_WAIT;
}

gate_t server_job_gate(server_t *srv, const job_t *j, gate_why_t *why)
{
    gate_why_t none;
    if (!why)
        why = &none;
    if (held_gate(j, why) != GATE_READY)
        return GATE_WAIT;
    gate_t g = deps_gate(srv, j, why);
    if (g == GATE_READY)
        g = singleton_gate(srv, j, why);
    if (g == GATE_READY)
        g = throttle_gate(srv, j, why);
    if (g == GATE_READY && j->kind == JOB_KIND_SERVICE && j->restart_at > server_now()) {
        /* a service's replica that exited waits out its backoff (services.h) */
        why->reason = "restart_backoff";
        why->message = "the replica exited; it restarts once its backoff ends";
        g = GATE_WAIT;
    }
    return g;
}

/* ---- waiting, and re-examining ---- */

static void wait_on(struct gate_index *g, const char *key, uint64_t id)
{
    json_t *set = json_object_get(g->waits, key);
    if (!set)
        json_object_set_new(g->waits, key, set = json_object());
    char k[24];
    snprintf(k, sizeof(k), "%llu", (unsigned long long)id);
    json_object_set_new(set, k, json_true());
}

void server_gate_wait(server_t *srv, job_t *j, const gate_why_t *why)
{
    struct gate_index *g = gate_index(srv);
    if (why->reason && !strcmp(why->reason, "array_throttle")) {
        gate_array_t *a = array_rec(srv, j->array_id);
        if (!a->cursor || j->id < a->cursor)
            a->cursor = j->id;
        return;
    }
    /* Held: no other job's change lets it in, only its release (which enters it again). */
    if (why->reason && !strcmp(why->reason, "held"))
        return;
    /* Each dependency not yet met (one met stays so), and its name while a singleton holds it
     * back (once they let it through, its entry lists it again under what holds it then). */
    size_t i;
    json_t *v;
    json_array_foreach(j->dependencies, i, v)
    {
        const char *type = json_string_value(json_object_get(v, "type"));
        json_t *ref = json_object_get(v, "job");
        if (dep_state(srv, type ? type : "afterok", ref) != 0)
            continue;
        char key[32];
        snprintf(key, sizeof(key), "d:%llu", (unsigned long long)dep_id(ref));
        wait_on(g, key, j->id);
    }
    gate_why_t sw;
    if (singleton_gate(srv, j, &sw) != GATE_READY) {
        gt_buf_t k = {0};
        gt_buf_printf(&k, "n:");
        name_key(j, &k);
        wait_on(g, k.data, j->id);
        gt_buf_free(&k);
    }
}

static int cmp_id(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static uint64_t later(uint64_t a, uint64_t b) { return a > b ? a : b; }

/* Enters j (pending, outside the scheduler) if the gate lets it: server_enter_sched, which
 * cancels it when the gate says never. Returns the store ticket of a change. */
static uint64_t admit(server_t *srv, job_t *j)
{
    gt_error_t err = {0};
    uint64_t t = 0;
    if (server_admit(srv, j, &t, &err) < 0)
        t = later(t, server_finish_job(srv, j, JOB_FAILED, "invalid", err.msg, 0, 0));
    return t;
}

uint64_t server_gate_recheck(server_t *srv, job_t *changed)
{
    struct gate_index *g = gate_index(srv);
    uint64_t t = 0;
    /* Its array's throttle: the next tasks in id order, while there is room. */
    if (changed->array_id >= 0) {
        gate_array_t *a = array_rec(srv, changed->array_id);
        while (a->cursor && a->throttle > 0 && a->active < a->throttle) {
            uint64_t id = a->cursor;
            a->cursor = id + 1 < (uint64_t)(a->id + a->count) ? id + 1 : 0;
            job_t *j = server_job(srv, id);
            if (j && j->state == JOB_PENDING && !j->in_sched)
                t = later(t, admit(srv, j));
        }
    }
    /* The jobs that wait on it, in id order; each key's set is taken out first (admitting one
     * may end others, which look at their own keys, or list it again). */
    gt_buf_t keys[3] = {{0}};
    int nkeys = 0;
    gt_buf_printf(&keys[nkeys++], "d:%llu", (unsigned long long)changed->id);
    if (changed->array_id >= 0 && (uint64_t)changed->array_id != changed->id)
        gt_buf_printf(&keys[nkeys++], "d:%lld", (long long)changed->array_id);
    if (changed->name) {
        gt_buf_printf(&keys[nkeys], "n:");
        name_key(changed, &keys[nkeys++]);
    }
    for (int k = 0; k < nkeys; k++) {
        json_t *set = json_incref(json_object_get(g->waits, keys[k].data));
        if (set)
            json_object_del(g->waits, keys[k].data);
        gt_buf_free(&keys[k]);
        if (!set)
            continue;
        size_t n = 0;
        uint64_t *ids = xcalloc(json_object_size(set) + 1, sizeof(*ids));
        const char *key;
        json_t *v;
        json_object_foreach(set, key, v)
            ids[n++] = strtoull(key, NULL, 10);
        json_decref(set);
        qsort(ids, n, sizeof(*ids), cmp_id);
        for (size_t i = 0; i < n; i++) {
            job_t *j = server_job(srv, ids[i]);
            if (j && j->state == JOB_PENDING && !j->in_sched)
                t = later(t, admit(srv, j));
        }
        free(ids);
    }
    return t;
}

int server_gate_deps_resolve(server_t *srv, const auth_principal_t *who, job_t *j,
                             gt_error_t *err)
{
    size_t i;
    json_t *v;
    json_array_foreach(j->dependencies, i, v)
    {
        json_t *ref = json_object_get(v, "job");
        job_t *d;
        char name[64];
        if (json_is_string(ref)) {
            d = server_job_ref(srv, json_string_value(ref));
            snprintf(name, sizeof(name), "%s", json_string_value(ref));
        } else {
            d = server_job(srv, (uint64_t)json_integer_value(ref));
            snprintf(name, sizeof(name), "%lld", (long long)json_integer_value(ref));
        }
        /* A job the caller may not see is answered as one that does not exist: the answer
         * (and the dependent's fate) must not tell whether another team's job exists. */
        if (!d || !auth_can_see_team(who, d->team)) {
            errno = EINVAL;
            return gt_error_set(err, "invalid_argument", "dependencies: job %s does not exist",
                                name);
        }
        /* A task named by its index stays so (its id would be its array's for the first). */
        if (json_is_string(ref) && !strchr(json_string_value(ref), '_'))
            json_object_set_new(v, "job", json_integer((json_int_t)d->id));
    }
    return 0;
}
