/* victim_times.c: what preemption can do in a pass, and when a running job turning a victim
 * is worth a pass (sched_internal.h: victim_bounds, victim_times_at_end; the wakeup itself is
 * wakeup.c's). Split from cycle.c: the pass calls the first before its merge and the second
 * after it. */
#include "sched/sched_internal.h"

static void earliest(sched_time_t *best, sched_time_t t)
{
    if (t < *best)
        *best = t;
}

/* Team t's victim summary, as of now, into *vs (sched_internal.h: struct victim_summary): a
 * borrowed job turns reclaimable after the reclaim minimum runtime, any job a priority victim
 * after the minimum runtime (sched_reclaim_min_runtime). It holds until one of them crosses
 * one of these, or the victims change (victims.c). */
void victim_summary_of(const sched_t *s, const team_t *t, sched_time_t now,
                       struct victim_summary *vs)
{
    sched_time_t rmin = sched_reclaim_min_runtime(s);
    *vs = (struct victim_summary){.valid = true, .at = now, .until = SCHED_NEVER,
                                  .take_at = SCHED_NEVER, .min_old_class = INT32_MAX};
    for (int x = 0; x < t->nvictims; x++) {
        const victim_t *v = &t->victims[x];
        if (v->borrowing) {
            if (now - v->start >= rmin)
                vs->old_borrowed = true;
            else
                earliest(&vs->take_at, v->start + rmin);
        }
        if (now - v->start < s->p.min_runtime_s) {
            sched_time_t at = v->start + s->p.min_runtime_s;
            int c = s->jobs[v->job].cls;
            if (!(vs->young_classes >> c & 1)) {
                vs->young_classes |= 1u << c;
                vs->young_at[c] = vs->young_move_at[c] = SCHED_NEVER;
            }
            earliest(&vs->young_at[c], at);
            if (v->nslots == 1 && v->whole >= 1)
                earliest(&vs->young_move_at[c], at);
            earliest(&vs->until, at);
        } else if (v->cls_value < vs->min_old_class) {
            vs->min_old_class = v->cls_value;
        }
    }
    earliest(&vs->until, vs->take_at);
}

static void team_victim_summary(const sched_t *s, team_t *t, sched_time_t now)
{
    const struct victim_summary *vs = &t->vsum;
    if (!vs->valid || now < vs->at || now >= vs->until)
        victim_summary_of(s, t, now, &t->vsum);
}

/* (sched_internal.h) What preemption could do at all this pass, and when running jobs turn
 * victims. */
void victim_bounds(sched_t *s, sched_time_t now)
{
    s->min_victim_class = INT32_MAX;
    s->reclaimable = false;
    s->next_victim_at = s->next_take_at = s->next_move_at = SCHED_NEVER;
    /* the victim index (victims.c) holds exactly the preemptible jobs in state RUNNING; each
     * team's is read through its summary (team_victim_summary) */
    for (int ti = 0; ti < s->nteams; ti++) {
        team_t *t = &s->teams[ti];
        if (!t->nvictims)
            continue;
        team_victim_summary(s, t, now);
        const struct victim_summary *vs = &t->vsum;
        bool borrowing = team_borrowing(s, ti);
        /* (the time one turns a victim counts only when a pending job of this pass could take
         * it: a higher class by priority; a job that may be within its quota by reclaim, when
         * its team still borrows (no event, no change: next_take_at), or by moving it
         * (defrag.h: one slot of whole GPUs, and free whole GPUs elsewhere to move it to:
         * next_move_at); these two only when such a job got its turn, known at the pass's
         * end; still_settled asks the same of newcomers) */
        s->reclaimable |= vs->old_borrowed && borrowing;
        if (s->pend_in_quota && borrowing)
            earliest(&s->next_take_at, vs->take_at);
        for (uint32_t m = vs->young_classes; m; m &= m - 1) {
            int c = __builtin_ctz(m);
            if (s->classes[c].value < s->pend_max_class)
                earliest(&s->next_victim_at, vs->young_at[c]);
            else if (s->pend_in_quota)
                earliest(&s->next_move_at, vs->young_move_at[c]);
        }
        if (vs->min_old_class < s->min_victim_class)
            s->min_victim_class = vs->min_old_class;
    }
    /* a job within its quota may also move a job to defragment (defrag.h): any preemptible
     * job past the minimum runtime may be the one, so the passes skip no such job */
    s->reclaimable |= s->p.quotas && s->min_victim_class != INT32_MAX;
}

/* s->room_reclaim[ni] and s->room_move[ni], from node ni's victims (victims.c: its list), once
 * per take_times_by_node (marked with its epoch): the whole GPUs that reclaim could free there
 * (the borrowed jobs of teams still borrowing, whatever their age) and the largest one-slot
 * job a move could take from it (any age). */
static void node_room(sched_t *s, int ni)
{
    node_t *n = &s->nodes[ni];
    if (n->mark_epoch == s->epoch)
        return;
    n->mark_epoch = s->epoch;
    int reclaim = 0, move = 0;
    for (size_t i = 0; i < n->nvict; i++) {
        const job_t *j = &s->jobs[n->vict[i]];
        const victim_t *v = &s->teams[j->team].victims[j->vict_pos];
        if (v->borrowing && team_borrowing(s, j->team))
            reclaim += v->nslots == 1 ? v->whole : job_whole_on(j, ni);
        if (v->nslots == 1 && v->whole > move)
            move = v->whole;
    }
    s->room_reclaim[ni] = reclaim;
    s->room_move[ni] = move;
}

/* Whether node ni could hold the least need of the jobs within quota that got their turn
 * (reclaimer_need, per node), with `more` whole GPUs freed beyond its free ones and all that
 * reclaim could free there. */
static bool node_could_serve(const sched_t *s, int ni, int more)
{
    return s->nodes[ni].free_whole + s->room_reclaim[ni] + more >= s->reclaimer_need;
}

/* At the pass's end, when jobs within quota got their turn: next_take_at and next_move_at
 * again, from the state the pass leaves (no event, no change until the victim's time),
 * counting a victim only on a node where the least need of those jobs could fit once reclaim
 * and one move freed all they could there: elsewhere no such job could take it, and the jobs
 * that got no turn would get none then either (the pass would end at the same place). A
 * victim of several nodes (a gang) always counts. Only the victims younger than a minimum
 * runtime have such a time: a team whose summary shows none is passed over, and the room of
 * only their nodes is counted (at Philly seed0 x 8, two scans of every victim per pass were
 * 7% of the replay). */
static void take_times_by_node(sched_t *s, sched_time_t now)
{
    GT_GROW(s->room_reclaim, s->caproom_reclaim, (size_t)s->nnodes + 1);
    GT_GROW(s->room_move, s->caproom_move, (size_t)s->nnodes + 1);
    s->epoch++; /* (node_room) */
    sched_time_t rmin = sched_reclaim_min_runtime(s);
    bool any_free = s->max_free_whole > 0; /* a move needs whole GPUs free elsewhere */
    s->next_take_at = s->next_move_at = SCHED_NEVER;
    for (int ti = 0; ti < s->nteams; ti++) {
        team_t *t = &s->teams[ti];
        if (!t->nvictims)
            continue;
        team_victim_summary(s, t, now);
        if (!t->vsum.young_classes && t->vsum.take_at == SCHED_NEVER)
            continue; /* none younger than the minimum runtime or the reclaim one */
        bool borrowing = team_borrowing(s, ti);
        for (int x = 0; x < t->nvictims; x++) {
            const victim_t *v = &t->victims[x];
            bool multi = v->nslots > 1;
            bool take = v->borrowing && borrowing && now - v->start < rmin &&
                        v->start + rmin < s->next_take_at;
            bool move = now - v->start < s->p.min_runtime_s &&
                        v->cls_value >= s->pend_max_class && !multi && v->whole >= 1 &&
                        v->start + s->p.min_runtime_s < s->next_move_at;
            if (!take && !move)
                continue;
            node_room(s, v->node);
            if (take && (multi || node_could_serve(s, v->node, any_free ? s->room_move[v->node]
                                                                          : 0)))
                s->next_take_at = v->start + rmin;
            if (move && node_could_serve(s, v->node, v->whole))
                s->next_move_at = v->start + s->p.min_runtime_s;
        }
    }
}

void victim_times_at_end(sched_t *s, sched_time_t now)
{
    /* A pass that decided is followed by another a second later (wakeup.c), sooner than any
     * victim's time (each is after now), and that one sets them again; no pass skipped as
     * settled reads them before (one that decided is not settled). */
    if (s->ndec > 0) {
        s->next_victim_at = s->next_take_at = s->next_move_at = SCHED_NEVER;
        return;
    }
    /* A job turning a victim that only a job within its quota could take (by reclaim or a
     * move) matters only when such a job got its turn in this pass: where none did (the pass
     * ended before them, docs/scheduler.md "When to run a pass"), the same pass later would
     * end there too, unless the victims change what may act: when nothing was reclaimable
     * yet, the jobs within quota were passed over for that, so the time counts. A move
     * matters only with whole GPUs free to move the job to; they are no more until an event,
     * which brings a pass of its own. */
    if (!s->reclaimer_turn && s->reclaimable)
        return;
    if (s->reclaimer_turn && s->pend_in_quota &&
        (s->next_take_at != SCHED_NEVER || s->next_move_at != SCHED_NEVER))
        take_times_by_node(s, now);
    if (s->next_take_at < s->next_victim_at)
        s->next_victim_at = s->next_take_at;
    if (s->max_free_whole > 0 && s->next_move_at < s->next_victim_at)
        s->next_victim_at = s->next_move_at;
}
