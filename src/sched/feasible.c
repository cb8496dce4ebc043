/* feasible.c: whether a job could ever run, whatever else runs: its team's limits and the
 * cluster's nodes (sched_job_feasible in sched.h). A job that never could is refused at
 * submission with the numbers, instead of waiting forever with a reason. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "sched/sched_internal.h"

#define LIST_MAX 8 /* nodes named in a message; the rest are counted */

/* GPUs in milli as a person writes them: "8", "0.5", "12.5". */
static void gpus_str(int64_t milli, char *buf, size_t len)
{
    if (milli % SCHED_MILLI == 0)
        snprintf(buf, len, "%lld", (long long)(milli / SCHED_MILLI));
    else
        snprintf(buf, len, "%g", (double)milli / SCHED_MILLI);
}

static const char *plural(long long n) { return n == 1 ? "" : "s"; }

/* "team vision" or "team vision's parent research": whose limit it is. */
static void team_str(const sched_t *s, int team, int t, char *buf, size_t len)
{
    if (t == team)
        snprintf(buf, len, "team %s", s->teams[t].name);
    else
        snprintf(buf, len, "team %s's parent %s", s->teams[team].name, s->teams[t].name);
}

static int limits(const sched_t *s, const sched_job_spec_t *sp, uint64_t types, gt_error_t *err)
{
    if (!s->p.quotas)
        return 0;
    char want[32], lim[32], who[160];
    gpus_str(sp->gpus_milli, want, sizeof(want));
    for (int t = sp->team; t != NIL; t = s->teams[t].parent) {
        const team_t *tm = &s->teams[t];
        if (tm->by_type[0].limit >= 0 && sp->gpus_milli > tm->by_type[0].limit) {
            gpus_str(tm->by_type[0].limit, lim, sizeof(lim));
            team_str(s, sp->team, t, who, sizeof(who));
            return gt_error_set(err, "unsatisfiable", "the job asks for %s GPUs; %s may hold "
                                "at most %s (its limit): it could never start", want, who, lim);
        }
    }
    /* Per type: some acceptable type must be allowed by every team up the tree. */
    int first_t = NIL, first_type = NIL;
    for (int ty = 0; ty < s->ntypes; ty++) {
        if (!(types >> ty & 1))
            continue;
        int blocker = NIL;
        for (int t = sp->team; t != NIL && blocker == NIL; t = s->teams[t].parent)
            if (s->teams[t].by_type[QIDX(ty)].limit >= 0 &&
                sp->gpus_milli > s->teams[t].by_type[QIDX(ty)].limit)
                blocker = t;
        if (blocker == NIL)
            return 0;
        if (first_t == NIL) {
            first_t = blocker;
            first_type = ty;
        }
    }
    if (first_t == NIL)
        return 0; /* no acceptable type known yet */
    gpus_str(s->teams[first_t].by_type[QIDX(first_type)].limit, lim, sizeof(lim));
    team_str(s, sp->team, first_t, who, sizeof(who));
    return gt_error_set(err, "unsatisfiable", "the job asks for %s GPUs; %s may hold at most %s "
                        "of type %s (its limit), and no other type the job accepts is allowed "
                        "more: it could never start", want, who, lim,
                        s->type_names[first_type]);
}

/* Appends "node-a 8, node-b 2" (with_gpus) or "node-a, node-b" for the acceptable nodes,
 * at most LIST_MAX of them, then "and N more". */
static void node_list(const sched_t *s, uint64_t types, bool gpu_job, bool with_gpus, char *buf,
                      size_t len)
{
    size_t at = 0;
    int shown = 0, more = 0;
    buf[0] = '\0';
    for (int i = 0; i < s->nnodes; i++) {
        const node_t *n = &s->nodes[i];
        if (!(types >> n->type & 1) || (gpu_job && n->ngpus == 0))
            continue;
        if (shown == LIST_MAX) {
            more++;
            continue;
        }
        int w = with_gpus ? snprintf(buf + at, len - at, "%s%s %d", shown ? ", " : "", n->name,
                                     n->ngpus)
                          : snprintf(buf + at, len - at, "%s%s", shown ? ", " : "", n->name);
        if (w < 0 || (size_t)w >= len - at) {
            buf[at] = '\0';
            more++;
            continue;
        }
        at += (size_t)w;
        shown++;
    }
    if (more)
        snprintf(buf + at, len - at, "%sand %d more", shown ? ", " : "", more);
}

/* "node-a 8, node-b 8": the acceptable nodes with at least per GPUs (LIST_MAX of them). */
static const char *biggest_list(const sched_t *s, uint64_t types, int64_t per, char *buf,
                                size_t len)
{
    size_t at = 0;
    int shown = 0;
    buf[0] = '\0';
    for (int i = 0; i < s->nnodes && shown < LIST_MAX; i++) {
        const node_t *n = &s->nodes[i];
        if (!(types >> n->type & 1) || n->ngpus < per)
            continue;
        int w = snprintf(buf + at, len - at, "%s%s %d", shown ? ", " : "", n->name, n->ngpus);
        if (w < 0 || (size_t)w >= len - at) {
            buf[at] = '\0';
            break;
        }
        at += (size_t)w;
        shown++;
    }
    return buf;
}

int sched_job_feasible(const sched_t *s, const sched_job_spec_t *sp, gt_error_t *err)
{
    errno = ERANGE;
    uint64_t types = sp->gpu_types ? sp->gpu_types : ~0ULL;
    bool gpu_job = sp->gpus_milli > 0;
    if (gpu_job && limits(s, sp, types, err) < 0)
        return -1;
    if (s->nnodes == 0)
        return 0; /* nothing known yet: agents register over time */
    int64_t total = 0; /* whole GPUs on acceptable nodes */
    int nodes = 0, maxg = 0;
    for (int i = 0; i < s->nnodes; i++) {
        const node_t *n = &s->nodes[i];
        if (!(types >> n->type & 1) || (gpu_job && n->ngpus == 0))
            continue;
        nodes++;
        total += n->ngpus;
        if (n->ngpus > maxg)
            maxg = n->ngpus;
    }
    char kind[128] = "", list[512], want[32];
    if (sp->gpu_types) {
        /* "of type H100" or "of types H100 or A100" */
        size_t at = 0;
        int k = 0;
        for (int ty = 0; ty < s->ntypes; ty++)
            if (types >> ty & 1) {
                int w = snprintf(kind + at, sizeof(kind) - at, "%s%s", k ? " or " : "",
                                 s->type_names[ty]);
                if (w < 0 || (size_t)w >= sizeof(kind) - at)
                    break;
                at += (size_t)w;
                k++;
            }
        char tmp[128];
        snprintf(tmp, sizeof(tmp), " of type%s %s", k > 1 ? "s" : "", kind);
        memcpy(kind, tmp, sizeof(kind));
    }
    gpus_str(sp->gpus_milli, want, sizeof(want));
    int64_t whole = sp->gpus_milli < SCHED_MILLI ? (gpu_job ? 1 : 0) : sp->gpus_milli / SCHED_MILLI;
    if (gpu_job && whole > total) {
        node_list(s, types, gpu_job, true, list, sizeof(list));
        return gt_error_set(err, "unsatisfiable", "the job asks for %s GPU%s%s; the cluster has "
                            "%lld (%d node%s%s%s): it could never start", want,
                            plural(sp->gpus_milli == SCHED_MILLI ? 1 : 2), kind, (long long)total,
                            nodes, plural(nodes), nodes ? ": " : "", list);
    }
    if (sp->nodes > nodes) {
        node_list(s, types, gpu_job, gpu_job, list, sizeof(list));
        if (!nodes)
            return gt_error_set(err, "unsatisfiable", "the job asks for %d node%s; the cluster "
                                "has none%s%s: it could never start", sp->nodes,
                                plural(sp->nodes), gpu_job ? " with GPUs" : "", kind);
        return gt_error_set(err, "unsatisfiable", "the job asks for %d nodes; the cluster has "
                            "%d%s%s (%s): it could never start", sp->nodes, nodes,
                            gpu_job ? " with GPUs" : "", kind, list);
    }
    /* A gang needs its nodes each with its share: as many nodes that large. */
    int64_t n = sp->nodes, per = 0;
    if (gpu_job && n == 0 && whole > maxg && maxg > 0) {
        /* Spread as the scheduler would (job_resolve_nodes): the fewest nodes that hold the
         * GPUs evenly. */
        n = (whole + maxg - 1) / maxg;
        while (n < whole && (whole % n || whole / n > maxg))
            n++;
    }
    if (gpu_job && n > 0)
        per = whole / n;
    int big = 0;
    for (int i = 0; per > 0 && i < s->nnodes; i++)
        big += (types >> s->nodes[i].type & 1) && s->nodes[i].ngpus >= per;
    if (per > 0 && big < n) {
        char asked[192], have[640];
        if (sp->nodes > 0)
            snprintf(asked, sizeof(asked), "%lld GPU%s on each of %lld node%s%s",
                     (long long)per, plural(per), (long long)n, plural(n), kind);
        else
            snprintf(asked, sizeof(asked), "%s GPUs%s, more than one node has: spread evenly "
                     "that is %lld on each of %lld nodes", want, kind, (long long)per,
                     (long long)n);
        if (big)
            snprintf(have, sizeof(have), "%d node%s with %lld or more (%s)", big, plural(big),
                     (long long)per, biggest_list(s, types, per, list, sizeof(list)));
        else
            snprintf(have, sizeof(have), "no node with %lld or more", (long long)per);
        return gt_error_set(err, "unsatisfiable", "the job asks for %s; the cluster has %s: it "
                            "could never start", asked, have);
    }
    return 0;
}
