/* invariants.c: what must hold after every event, checked by tests (and debug builds):
 * no GPU over-allocated, node and team accounting (GPUs, CPUs, memory) consistent with the
 * jobs, a CPU-only job holding no GPU, gangs whole,
 * no team above its limit, and no team within its quota left waiting for capacity while
 * another team's reclaimable borrowed jobs could make room for it (checked right after a
 * cycle, when the reasons are fresh). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sched/sched_internal.h"

#define FAIL(...) (snprintf(msg, len, __VA_ARGS__), false)

static bool check_nodes(const sched_t *s, char *msg, size_t len)
{
    int64_t *used = xcalloc((size_t)s->nnodes * SCHED_MAX_GPUS_PER_NODE + 1, sizeof(int64_t));
    int64_t *cpus = xcalloc((size_t)s->nnodes * 2 + 1, sizeof(int64_t)), *mem = cpus + s->nnodes;
    bool ok = true;
    for (int r = 0; r < s->nrunning && ok; r++) {
        const job_t *j = &s->jobs[s->running[r]];
        if (j->nslots != j->nodes && !(j->nodes <= 1 && j->nslots == 1))
            ok = FAIL("job %llu holds %d slots for a gang of %d nodes",
                      (unsigned long long)j->id, j->nslots, j->nodes);
        for (int k = 0; k < j->nslots && ok; k++) {
            const sched_slot_t *sl = &j->slots[k];
            cpus[sl->node] += j->cpus;
            mem[sl->node] += j->mem;
            if (j->gpus == 0 && (sl->gpu_mask || sl->gpu_milli))
                ok = FAIL("CPU-only job %llu holds GPUs 0x%llx of node %s",
                          (unsigned long long)j->id, (unsigned long long)sl->gpu_mask,
                          s->nodes[sl->node].name);
            for (int g = 0; g < SCHED_MAX_GPUS_PER_NODE; g++)
                if (sl->gpu_mask >> g & 1)
                    used[(size_t)sl->node * SCHED_MAX_GPUS_PER_NODE + (size_t)g] += sl->gpu_milli;
            for (int k2 = 0; k2 < k; k2++)
                if (j->slots[k2].node == sl->node)
                    ok = FAIL("job %llu has two slots on node %s", (unsigned long long)j->id,
                              s->nodes[sl->node].name);
        }
    }
    for (int ni = 0; ni < s->nnodes && ok; ni++) {
        const node_t *n = &s->nodes[ni];
        int whole = 0;
        for (int g = 0; g < n->ngpus && ok; g++) {
            int64_t u = used[(size_t)ni * SCHED_MAX_GPUS_PER_NODE + (size_t)g];
            if (u > SCHED_MILLI)
                ok = FAIL("GPU %d of node %s is over-allocated: %lld milli", g, n->name,
                          (long long)u);
            else if (u != SCHED_MILLI - n->gpu_free[g])
                ok = FAIL("GPU %d of node %s: jobs hold %lld milli, the node says %d", g,
                          n->name, (long long)u, SCHED_MILLI - n->gpu_free[g]);
            whole += n->gpu_free[g] == SCHED_MILLI;
        }
        if (ok && n->in_bucket != (n->up && n->schedulable))
            ok = FAIL("node %s is %sin the free index while %s", n->name,
                      n->in_bucket ? "" : "not ", n->up && n->schedulable ? "up and schedulable"
                                                                          : "down or unschedulable");
        if (ok && whole != n->free_whole)
            ok = FAIL("node %s counts %d whole free GPUs, has %d", n->name, n->free_whole, whole);
        if (ok && ((n->cpus && n->cpus_free < 0) || (n->mem && n->mem_free < 0)))
            ok = FAIL("node %s has CPUs or memory over-allocated", n->name);
        if (ok && n->cpus && n->cpus - n->cpus_free != cpus[ni])
            ok = FAIL("node %s: jobs hold %lld milli-CPUs, the node says %lld", n->name,
                      (long long)cpus[ni], (long long)(n->cpus - n->cpus_free));
        if (ok && n->mem && n->mem - n->mem_free != mem[ni])
            ok = FAIL("node %s: jobs hold %lld MiB, the node says %lld", n->name,
                      (long long)mem[ni], (long long)(n->mem - n->mem_free));
    }
    free(used);
    free(cpus);
    return ok;
}

static bool check_teams(const sched_t *s, char *msg, size_t len)
{
    int64_t *alloc = xcalloc((size_t)s->nteams + 1, sizeof(int64_t));
    for (int r = 0; r < s->nrunning; r++) {
        const job_t *j = &s->jobs[s->running[r]];
        for (int t = j->team; t != NIL; t = s->teams[t].parent)
            alloc[t] += j->gpus;
    }
    bool ok = true;
    int64_t total = 0;
    for (int r = 0; r < s->nrunning; r++)
        total += s->jobs[s->running[r]].gpus;
    if (total != s->alloc_milli)
        ok = FAIL("jobs hold %lld milli-GPUs, the scheduler counts %lld", (long long)total,
                  (long long)s->alloc_milli);
    for (int t = 0; t < s->nteams && ok; t++) {
        const team_t *tm = &s->teams[t];
        if (alloc[t] != tm->by_type[0].alloc)
            ok = FAIL("team %s: jobs hold %lld milli-GPUs, the team says %lld", tm->name,
                      (long long)alloc[t], (long long)tm->by_type[0].alloc);
        else if (s->p.quotas && tm->by_type[0].limit >= 0 &&
                 tm->by_type[0].alloc > tm->by_type[0].limit)
            ok = FAIL("team %s holds %lld milli-GPUs, above its limit %lld", tm->name,
                      (long long)tm->by_type[0].alloc, (long long)tm->by_type[0].limit);
    }
    free(alloc);
    return ok;
}

/* Whether team t borrowed already when the last pass began: what it holds less what it
 * started at s->now is above its quota (team_over_quota). What a team holds only grows in a
 * pass, so such a team borrowed at every job's turn in it. (A pass at the same second before
 * the last one counts as the last one's: the answer is then false, the check weaker.) */
static bool borrowed_at_pass_start(const sched_t *s, int team)
{
    int64_t held = s->teams[team].by_type[0].alloc;
    for (int r = 0; r < s->nrunning; r++) {
        const job_t *x = &s->jobs[s->running[r]];
        if (x->team == team && x->start == s->now)
            held -= x->gpus;
    }
    return team_over_quota(s, team, held);
}

/* A team within quota never waits behind borrowers: a single-node job within its team's
 * quota, blocked for capacity or by a reservation (or a preemptor's hold), must not find a
 * node of its type where the free GPUs nobody was promised, CPUs and memory plus those of
 * borrowed jobs of other teams older than the reclaim minimum runtime would hold it. (Gangs
 * are not checked. Before the reclaim minimum runtime, borrowers counted after the minimum
 * runtime, and a job blocked by a reservation was not checked: it did not reclaim.) A team
 * that began to borrow during the pass counts not: at the turns before its starts it was
 * within its quota and nobody could reclaim from it; the next pass may (a random workload of
 * test_sched_skip found this: team t2 started a borrowed job after t3's job within quota had
 * waited for a reservation, and the check, reading t2 as borrowing, failed). */
static bool check_reclaim(const sched_t *s, char *msg, size_t len)
{
    if (!s->p.quotas || !s->p.preemption || s->changed)
        return true; /* reasons are as of the last cycle: only meaningful right after it */
    for (int ti = 0; ti < s->nteams; ti++)
        for (size_t q = 0; q < s->teams[ti].nqueue; q++) {
            const job_t *j = &s->jobs[s->teams[ti].queue[q].job];
            if (j->eval_cycle != s->stats.cycles)
                continue; /* skipped while the cluster was full: it could not reclaim */
            if ((j->reason != SCHED_REASON_CAPACITY && j->reason != SCHED_REASON_RESERVATION) ||
                j->nodes > 1 || j->preempt_deferred ||
                !j->reclaim_in_quota)
                continue;
            int g = job_per_node_gpus_whole(j);
            for (int ni = 0; ni < s->nnodes; ni++) {
                const node_t *n = &s->nodes[ni];
                if (!n->up || !n->schedulable || !node_maint_allows(s, n, j) ||
                    !(j->types >> n->type & 1))
                    continue;
                /* the free GPUs nobody of the pass was promised (a job that would fit but
                 * for a reservation or a hold reclaims too, on other GPUs) */
                int freeable = preempt_usable(s, ni, j, s->now);
                int64_t cpus = n->cpus_free, mem = n->mem_free; /* what j needs there too */
                for (int r = 0; r < s->nrunning; r++) {
                    const job_t *v = &s->jobs[s->running[r]];
                    if (v->state != SCHED_RUNNING || !v->preemptible || v->team == j->team ||
                        s->now - v->start < sched_reclaim_min_runtime(s) || !v->borrowing ||
                        !team_borrowing(s, v->team) || !borrowed_at_pass_start(s, v->team) ||
                        s->classes[v->cls].value > s->classes[j->cls].value)
                        continue;
                    for (int k = 0; k < v->nslots; k++)
                        if (v->slots[k].node == ni) {
                            if (v->slots[k].gpu_milli == SCHED_MILLI)
                                freeable += __builtin_popcountll(v->slots[k].gpu_mask);
                            cpus += v->cpus;
                            mem += v->mem;
                        }
                }
                if (freeable >= g && n->ngpus >= g && (!j->cpus || !n->cpus || cpus >= j->cpus) &&
                    (!j->mem || !n->mem || mem >= j->mem))
                    return FAIL("job %llu of team %s is within quota and waits (%s), "
                                "but node %s has borrowed GPUs it could reclaim",
                                (unsigned long long)j->id, s->teams[ti].name,
                                sched_reason_name(j->reason), n->name);
            }
        }
    return true;
}

/* What an admin took out of scheduling stays out: no job started on a node after it was made
 * unschedulable, and none after a maintenance window was announced on its node unless its time
 * limit (or estimate) ended it by the window's start. */
static bool check_admin(const sched_t *s, char *msg, size_t len)
{
    for (int r = 0; r < s->nrunning; r++) {
        const job_t *j = &s->jobs[s->running[r]];
        for (int k = 0; k < j->nslots; k++) {
            const node_t *n = &s->nodes[j->slots[k].node];
            if (!n->schedulable && j->start_seq > n->unsched_seq)
                return FAIL("job %llu started on node %s after it was made unschedulable",
                            (unsigned long long)j->id, n->name);
            sched_time_t d = job_maint_duration(j);
            for (int w = 0; w < s->nmaint; w++) {
                const struct maint *m = &s->maint[w];
                if (m->added_seq > j->start_seq || m->end <= j->start)
                    continue;
                for (int i = 0; i < m->nnodes; i++)
                    if (m->nodes[i] == j->slots[k].node && (d <= 0 || j->start + d > m->start))
                        return FAIL("job %llu started on node %s at %lld and may run into "
                                    "maintenance '%s' at %lld", (unsigned long long)j->id,
                                    n->name, (long long)j->start, m->name, (long long)m->start);
            }
        }
    }
    return true;
}

/* Each team's queue is sorted by (key, id), each entry carrying its job's key, and holds only
 * pending jobs (outside a pass): what keeps the merge of the team queues monotone (policy.h).
 * Its counts by class, need and CPU-only (what a pass's runs start from) are its entries', and
 * its dur_min, when valid, is a bound below its entries' qentry_backfill_dur. */
bool sched_check_queues(const sched_t *s, char *msg, size_t len)
{
    for (int t = 0; t < s->nteams; t++) {
        const team_t *tm = &s->teams[t];
        int pending[SCHED_MAX_CLASSES] = {0}, cpu[SCHED_MAX_CLASSES] = {0};
        int hist[SCHED_MAX_CLASSES][SCHED_MAX_GPUS_PER_NODE + 1];
        memset(hist, 0, sizeof(hist));
        for (size_t q = 0; q < tm->nqueue; q++) {
            const qentry_t *e = &tm->queue[q];
            pending[e->cls]++;
            hist[e->cls][e->need]++;
            cpu[e->cls] += e->gpus == 0;
        }
        for (int c = 0; c < s->nclasses; c++)
            if (pending[c] != tm->class_pending[c] || cpu[c] != tm->cpu_only[c] ||
                memcmp(hist[c], tm->need_hist[c], sizeof(hist[c])))
                return FAIL("team %s: the counts of its queue's class %d jobs (by need, CPU-only) "
                            "are not its entries' (%d jobs, %d CPU-only; counted %d, %d)",
                            tm->name, c, pending[c], cpu[c], tm->class_pending[c],
                            tm->cpu_only[c]);
        for (size_t q = 0; q < tm->nqueue; q++) {
            const qentry_t *e = &tm->queue[q];
            const job_t *j = &s->jobs[e->job];
            if (tm->dur_min_valid && qentry_backfill_dur(e) < tm->dur_min[e->need])
                return FAIL("team %s: job %llu's planning duration is below the least its "
                            "queue's counts keep for its need %d (dur_min)",
                            tm->name, (unsigned long long)e->id, e->need);
            if (!j->live || j->id != e->id || j->state != SCHED_PENDING || j->key != e->key)
                return FAIL("team %s: queue entry %zu (job %llu) is not its pending job's",
                            tm->name, q, (unsigned long long)e->id);
            if (q && (tm->queue[q - 1].key > e->key ||
                      (tm->queue[q - 1].key == e->key && tm->queue[q - 1].id >= e->id)))
                return FAIL("team %s: queue out of order at job %llu (key %lld after %lld)",
                            tm->name, (unsigned long long)e->id, (long long)e->key,
                            (long long)tm->queue[q - 1].key);
        }
    }
    return true;
}

/* The victim index (victims.c) holds exactly the preemptible jobs in state RUNNING, each once,
 * under its team, with its job's class value, start and borrowing, and under each node it has
 * a slot on (one slot per node: the node lists it once); and each team's summary of it
 * (victim_times.c), while it holds, is what its victims give now. */
static bool check_victims(const sched_t *s, char *msg, size_t len)
{
    int indexed = 0, victims = 0;
    for (int t = 0; t < s->nteams; t++) {
        const team_t *tm = &s->teams[t];
        for (int x = 0; x < tm->nvictims; x++) {
            const victim_t *v = &tm->victims[x];
            const job_t *j = &s->jobs[v->job];
            if (!j->live || j->state != SCHED_RUNNING || !j->preemptible || j->team != t ||
                j->vict_pos != x)
                return FAIL("team %s: victim entry %d (job %llu) is not a preemptible running "
                            "job of the team", tm->name, x, (unsigned long long)j->id);
            const sched_slot_t *sl = &j->slots[0];
            int whole = slot_whole_gpus(sl);
            if (v->nslots != j->nslots || v->node != sl->node || v->whole != whole)
                return FAIL("team %s: victim entry of job %llu says %d slots, the first on node "
                            "%d with %d whole GPUs; the job %d, %d, %d", tm->name,
                            (unsigned long long)j->id, v->nslots, v->node, v->whole, j->nslots,
                            sl->node, whole);
            if (v->start != j->start || v->borrowing != j->borrowing ||
                v->cls_value != s->classes[j->cls].value)
                return FAIL("team %s: victim entry of job %llu says start %lld, borrowing %d, "
                            "class %d; the job %lld, %d, %d", tm->name,
                            (unsigned long long)j->id, (long long)v->start, v->borrowing,
                            v->cls_value, (long long)j->start, j->borrowing,
                            s->classes[j->cls].value);
            indexed++;
        }
        const struct victim_summary *vs = &tm->vsum;
        if (vs->valid && s->now >= vs->at && s->now < vs->until) {
            struct victim_summary now;
            victim_summary_of(s, tm, s->now, &now);
            bool same = now.old_borrowed == vs->old_borrowed && now.take_at == vs->take_at &&
                        now.min_old_class == vs->min_old_class &&
                        now.young_classes == vs->young_classes;
            for (uint32_t m = now.young_classes; same && m; m &= m - 1) {
                int c = __builtin_ctz(m);
                same = now.young_at[c] == vs->young_at[c] &&
                       now.young_move_at[c] == vs->young_move_at[c];
            }
            if (!same)
                return FAIL("team %s: its victim summary of t=%lld is not its victims' now",
                            tm->name, (long long)vs->at);
        }
    }
    for (int r = 0; r < s->nrunning; r++) {
        const job_t *j = &s->jobs[s->running[r]];
        victims += j->state == SCHED_RUNNING && j->preemptible;
    }
    if (indexed != victims)
        return FAIL("the victim index holds %d jobs, %d are preemptible and running", indexed,
                    victims);
    size_t slots = 0, listed = 0;
    for (int t = 0; t < s->nteams; t++)
        for (int x = 0; x < s->teams[t].nvictims; x++) {
            const job_t *j = &s->jobs[s->teams[t].victims[x].job];
            for (int k = 0; k < j->nslots; k++) {
                const node_t *n = &s->nodes[j->slots[k].node];
                size_t found = 0;
                for (size_t i = 0; i < n->nvict; i++)
                    found += n->vict[i] == s->teams[t].victims[x].job;
                if (found != 1)
                    return FAIL("node %s lists victim job %llu %zu times", n->name,
                                (unsigned long long)j->id, found);
                slots++;
            }
        }
    for (int i = 0; i < s->nnodes; i++)
        listed += s->nodes[i].nvict;
    if (listed != slots)
        return FAIL("the nodes list %zu victim slots, the victim index has %zu", listed, slots);
    return true;
}

/* The running jobs by expected end (backfill.c) are sorted, each entry its job's: filed under
 * the end it was filed with, with its slots' count and its first slot's node and whole GPUs. */
static bool check_releases(const sched_t *s, char *msg, size_t len)
{
    for (size_t r = 0; r < s->nreleases; r++) {
        const struct release *rel = &s->releases[r];
        const job_t *j = &s->jobs[rel->job];
        if (!j->live || j->state == SCHED_PENDING || !j->in_releases || j->release_end != rel->end)
            return FAIL("release entry %zu (job %llu) is not a running job's", r,
                        (unsigned long long)j->id);
        const sched_slot_t *sl = &j->slots[0];
        int whole = sl->gpu_milli == SCHED_MILLI ? __builtin_popcountll(sl->gpu_mask) : -1;
        if (rel->nslots != j->nslots || rel->node != sl->node || rel->whole != whole)
            return FAIL("release entry of job %llu says %d slots, the first on node %d with %d "
                        "whole GPUs; the job %d, %d, %d", (unsigned long long)j->id, rel->nslots,
                        rel->node, rel->whole, j->nslots, sl->node, whole);
        if (r && (s->releases[r - 1].end > rel->end ||
                  (s->releases[r - 1].end == rel->end && s->releases[r - 1].job >= rel->job)))
            return FAIL("release entries out of order at job %llu", (unsigned long long)j->id);
    }
    return true;
}

bool sched_check_invariants(const sched_t *s, char *msg, size_t len)
{
    if (len)
        msg[0] = '\0';
    return check_nodes(s, msg, len) && check_teams(s, msg, len) && check_reclaim(s, msg, len) &&
           check_admin(s, msg, len) && sched_check_queues(s, msg, len) &&
           check_victims(s, msg, len) && check_releases(s, msg, len);
}
