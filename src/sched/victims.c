/* victims.c: the victim index. Each team keeps its preemptible running jobs (state RUNNING:
 * a job told to stop is no victim any more) in a compact array of what preemption asks of
 * them (class, start, borrowing, its first slot's node and whole GPUs), kept as jobs start,
 * are told to stop and end; and each node lists the same jobs that have a slot on it (node_t
 * vict), so that what the victims of a few nodes give costs those nodes' alone
 * (victim_times.c). A preemption
 * search (preempt.c) reads only the teams that can lose jobs to it, and the bounds of a pass
 * (cycle.c) read these entries, never the job records: at Philly seed0 x 4 the scans of every
 * running job's record were a third of the replay (perf). The order inside a team's array is
 * of no meaning (an entry removed takes the last one's place): every reader chooses by keys
 * with a total order. sched_check_invariants checks the index against the running jobs. */
#include "sched/sched_internal.h"

void victims_add(sched_t *s, int ji)
{
    job_t *j = &s->jobs[ji];
    if (!j->preemptible || j->state != SCHED_RUNNING || j->vict_pos != NIL)
        return;
    team_t *t = &s->teams[j->team];
    t->vsum.valid = false;
    GT_GROW(t->victims, t->capvictims, (size_t)t->nvictims + 1);
    j->vict_pos = t->nvictims;
    const sched_slot_t *sl = &j->slots[0];
    int whole = slot_whole_gpus(sl);
    t->victims[t->nvictims++] = (victim_t){ji,        s->classes[j->cls].value,
                                           j->start,  j->borrowing,
                                           j->nslots, sl->node,
                                           whole};
    for (int k = 0; k < j->nslots; k++) {
        node_t *n = &s->nodes[j->slots[k].node];
        GT_GROW(n->vict, n->capvict, n->nvict + 1);
        n->vict[n->nvict++] = ji;
    }
}

void victims_remove(sched_t *s, int ji)
{
    job_t *j = &s->jobs[ji];
    if (j->vict_pos == NIL)
        return;
    team_t *t = &s->teams[j->team];
    t->vsum.valid = false;
    victim_t last = t->victims[--t->nvictims];
    if (last.job != ji) {
        t->victims[j->vict_pos] = last;
        s->jobs[last.job].vict_pos = j->vict_pos;
    }
    j->vict_pos = NIL;
    for (int k = 0; k < j->nslots; k++) {
        node_t *n = &s->nodes[j->slots[k].node];
        for (size_t i = 0; i < n->nvict; i++)
            if (n->vict[i] == ji) {
                n->vict[i] = n->vict[--n->nvict];
                break;
            }
    }
}
