/* sched_internal.h: the scheduler's model, shared by the files of src/sched only.
 * Arrays and indexes, not pointer webs: nodes, jobs and teams live in arrays and refer to each
 * other by index, so a pass over 10,000 nodes stays in cache. */
#ifndef GANTRY_SCHED_INTERNAL_H
#define GANTRY_SCHED_INTERNAL_H

#include "sched/policy.h"
#include "sched/sched.h"
#include "sched/two_ended.h"

#define NIL (-1)
#define QIDX(type) ((type) + 1)   /* index into per-type arrays; 0 = all types together */
#define NQ (SCHED_MAX_GPU_TYPES + 1)

typedef struct node {
    char *name;
    int type;
    int ngpus;
    int free_whole;                               /* GPUs with nothing allocated */
    int partial;                                  /* GPUs partly allocated (fractions) */
    int64_t cpus, cpus_free, mem, mem_free;
    uint32_t features;                            /* SCHED_FEATURE_* offered */
    int block, spine, leaf;                       /* interned topology paths */
    bool up;
    bool schedulable;                             /* false: drained or cordoned. The free
                                                     index holds a node only when up and
                                                     schedulable */
    uint64_t unsched_seq;                         /* s->seq when it became unschedulable */
    sched_time_t maint_from;                      /* earliest window on it not yet ended
                                                     (maint_refresh), or SCHED_NEVER */
    int bprev, bnext;                             /* free-GPU bucket list */
    int pprev, pnext;                             /* list of nodes with partial GPUs */
    bool in_bucket, in_partial;
    int njobs;
    int *vict;                                    /* the victim index's jobs with a slot here
                                                     (victims.c), in no order */
    size_t nvict, capvict;
    /* per cycle: a reservation for a blocked job (backfill) */
    uint32_t resv_epoch;
    int resv_gpus;
    sched_time_t resv_start;                       /* a job ending by then may use it */
    uint64_t resv_job;
    /* placement fgd: its fragmentation for the mix, valid while frag_ok and frag_gen equals
       s->frag_gen (policy_fgd.c) */
    bool frag_ok;
    uint32_t frag_gen;
    double frag_val;
    /* per search: scratch values stamped with an epoch */
    uint32_t mark_epoch;
    int64_t mark_val;
    int mark_list;
    int mark_most;                                 /* (defrag.c: the most whole GPUs of a job
                                                      it could move from here) */
    /* per GPU, last: the bounds and searches of a pass read the fields above */
    uint16_t gpu_free[SCHED_MAX_GPUS_PER_NODE];   /* milli-GPUs free on each GPU */
    uint8_t nvgroup[SCHED_MAX_GPUS_PER_NODE];
} node_t;

/* A pending job as its team's queue keeps it: what ordering needs, without touching the job. */
typedef struct qentry {
    int job;
    int cls;
    int nodes_asked;
    int need;                                      /* whole GPUs per node (0 = a fraction,
                                                      or none: a CPU-only job) */
    int64_t gpus;                                  /* 0 = a CPU-only job */
    sched_key_t key;                               /* its order key (policy.h): the queue is
                                                      sorted by (key, id) */
    uint64_t id;
    sched_time_t dur;                              /* its planning duration (0: unknown) */
    bool nominated;                                /* it holds nodes for its preemption */
    bool seen;                                     /* a pass evaluated it since it was queued */
    bool one_node;                                 /* whole GPUs on one node, any GPU type, no
                                                      features asked: where it cannot start
                                                      only for reservations, it waits with
                                                      reason "reservation" when it asks no CPUs
                                                      or memory ("plain"), or when some node
                                                      could hold those it asks but for the
                                                      reservations (cycle.c,
                                                      fits_only_reserved) */
    int64_t cpus, mem;                             /* per node, as its job asks (copied here:
                                                      the skip rules read no job record) */
} qentry_t;

/* A running job that preemption may take: preemptible and in state RUNNING (not yet told to
 * stop). Its team keeps these in a compact array (victims.c), so that a preemption search
 * and the bounds of a pass read them without touching the jobs. */
typedef struct victim {
    int job;
    int cls_value;                                 /* its class's value */
    sched_time_t start;
    bool borrowing;                                /* it started above its team's quota */
    int nslots;                                    /* its slots (fixed while it runs) */
    int node, whole;                               /* its first slot's node and whole GPUs */
} victim_t;

typedef struct team {
    /* (the fields a pass reads of every team come first, together: at Philly seed0 x 8 a pass
     * reads 120 teams; the per-class and per-need arrays, large, come last) */
    char *name;
    int parent;
    double weight;
    double usage;                                  /* decayed GPU-seconds, as of usage_at
                                                      (team_usage) */
    bool typed_quota;
    bool qsum_valid;                               /* (else team_qsum_refresh rebuilds qsum
                                                      and qmin_need) */
    bool dur_min_valid;                            /* (else team_dur_min_refresh rebuilds
                                                      dur_min) */
    bool stale_queue;                              /* holds jobs started during a pass */
    int pending, running;
    int need_top;                                  /* the largest need it ever queued: above
                                                      it need_hist is 0 */
    int nvictims;
    struct qentry *queue;                          /* pending jobs by (key, id), in queue_room */
    size_t nqueue;
    struct victim *victims;                        /* its preemptible running jobs (victims.c) */
    size_t capvictims;
    int64_t *qsum;                                 /* qsum[i]: the GPUs of queue entries
                                                      [0, i), i <= nqueue, when qsum_valid */
    uint8_t *qmin_need;                            /* qmin_need[i]: the least need of entries
                                                      [i, nqueue) (SCHED_MAX_GPUS_PER_NODE at
                                                      nqueue) */
    size_t capqsum, capqmin_need;
    int *stale;                                    /* the jobs started during a pass that the
                                                      queue still holds (job indexes), for
                                                      sched_compact_queues */
    size_t nstale, capstale;
    struct two_ended queue_room;                   /* (two_ended.h) */
    struct team_gpus {                             /* milli-GPUs by type (QIDX; [0]: all
                                                      types together), side by side: a pass
                                                      reads the three of [0] for every team */
        int64_t quota, limit;                      /* limit -1 = none */
        int64_t alloc;                             /* held now, children included */
    } by_type[NQ];
    int class_pending[SCHED_MAX_CLASSES];          /* its queue's jobs of each class */
    int cpu_only[SCHED_MAX_CLASSES];               /* ... of them CPU-only (gpus 0) */
    struct victim_summary {                        /* what victim_bounds reads of them, as of
                                                      time `at` and until `until` (by then one
                                                      of them crosses a minimum runtime), when
                                                      valid (victim_times.c) */
        bool valid;
        sched_time_t at, until;
        bool old_borrowed;                         /* a borrowed one past the reclaim minimum */
        sched_time_t take_at;                      /* ... the first to pass it */
        int min_old_class;                         /* the least class value past the minimum
                                                      runtime (INT32_MAX: none) */
        uint32_t young_classes;                    /* classes with one not yet past it: */
        sched_time_t young_at[SCHED_MAX_CLASSES];  /* ... the first to pass it, by class */
        sched_time_t young_move_at[SCHED_MAX_CLASSES]; /* ... of those with one slot of whole
                                                      GPUs (a move could take it) */
    } vsum;
    sched_time_t dur_min[SCHED_MAX_GPUS_PER_NODE + 1]; /* by qentry.need, a bound below each
                                                      of its entries' qentry_backfill_dur
                                                      (any class), when dur_min_valid */
    int need_hist[SCHED_MAX_CLASSES][SCHED_MAX_GPUS_PER_NODE + 1]; /* by qentry.need, of the
                                                      queue's jobs of each class */
} team_t;

typedef struct pclass {
    char *name;
    int value;
    bool preemptible;
    int order;                                     /* enum sched_order, or -1: the cluster's */
} pclass_t;

typedef struct job {
    uint64_t id;
    bool live;
    int team, cls;
    int64_t gpus;                                  /* total milli-GPUs */
    int nodes_asked;                               /* 0 = derive */
    int nodes;                                     /* resolved gang size */
    uint64_t types;                                /* acceptable types; all bits if any */
    int64_t cpus, mem;                             /* per node */
    uint32_t features;                             /* SCHED_FEATURE_* needed */
    sched_time_t submit, time_limit, estimate;
    sched_time_t start, last_ckpt, stop_deadline;
    sched_key_t key;                               /* its order key while pending (policy.h) */
    sched_time_t queued_at;                        /* when it last joined its team's queue */
    double attained_gpu_s;                         /* GPU-seconds of service over its ended runs */
    sched_time_t kept_s;                           /* seconds of work its ended runs kept (a
                                                      checkpointable job's; 0 for others) */
    uint64_t start_seq;                            /* s->seq when it started (0: restored) */
    bool preemptible, checkpointable, borrowing;
    sched_job_state_t state;
    sched_reason_t reason;
    sched_time_t est_start;
    uint64_t blocked_by;
    int alloc_type;                                /* GPU type it runs on */
    sched_slot_t *slots;
    int nslots;
    size_t capslots;
    int run_pos;                                   /* index in s->running, or NIL */
    int vict_pos;                                  /* index in its team's victims, or NIL */
    int *targets;                                  /* nominated nodes while victims stop */
    int ntargets;
    size_t captargets;
    sched_time_t release_end;                      /* its key in s->releases */
    bool in_releases;
    uint64_t eval_cycle;                           /* the pass that last evaluated it */
    bool preempt_deferred;                         /* no preemption try this pass (cap) */
    int victims_pending;                           /* preemptor: victims not yet stopped */
    uint64_t preempt_for;                          /* victim: the job it makes room for */
    int reclaims;                                  /* times it was reclaimed from borrowing */
    sched_time_t borrow_after;                     /* it may borrow again from then on */
    bool reclaim_in_quota;                         /* its last evaluation let it reclaim */
} job_t;

typedef struct order_entry {
    int job;
    int need;                                      /* whole GPUs per node (0 = a fraction) */
    bool cpu_only;                                 /* no GPU: fits wherever CPUs and memory do */
    int cls_value;
    int in_quota;                                  /* 1 when within its team's quota */
    int over_limit;                                /* 1 when it would put its team over limit */
    double share;                                  /* fair-share key: lower goes first */
    sched_key_t key;                               /* the job's order key (policy.h) */
    uint64_t id;
    sched_time_t dur;                              /* its planning duration (0: unknown) */
    bool nominated;                                /* it holds nodes for its preemption */
    qentry_t *qe;                                  /* its queue entry (fixed during a pass) */
} order_entry_t;

typedef struct fail_shape {
    uint64_t types;
    uint32_t features;
    int64_t per_node, cpus, mem;
    int nodes;
    sched_time_t end;
    sched_time_t mend;                             /* its end for maintenance windows */
    sched_reason_t reason;
} fail_shape_t;

/* A request shape of the workload mix (policy_fgd.c). */
typedef struct fgd_shape {
    int milli;                                     /* per GPU: 1..1000; 0 = CPU-only */
    int count;                                     /* GPUs per node */
    int64_t cpus, mem;                             /* per node; 0 = none */
    uint64_t types;                                /* acceptable GPU types; 0 = any */
    double weight;
} fgd_shape_t;

#define FAIL_CACHE 32

struct sched {
    sched_params_t p;
    const sched_policy_t *place_policy;            /* of p.placement (policy.c) */
    char *type_names[SCHED_MAX_GPU_TYPES];
    int ntypes;
    int type_max_gpus[SCHED_MAX_GPU_TYPES];        /* largest node of each type */
    int64_t type_max_cpus[SCHED_MAX_GPU_TYPES], type_max_mem[SCHED_MAX_GPU_TYPES];
    int64_t type_free_whole[SCHED_MAX_GPU_TYPES];  /* whole free GPUs on up nodes */
    int max_gpus;
    int type_nodes[SCHED_MAX_GPU_TYPES];            /* nodes of each type */
    /* nodes of each type that offer each feature, and the largest of them (for no_runtime) */
    struct feature_stat {
        int nodes, max_gpus;
        int64_t max_cpus, max_mem;
    } feat[SCHED_MAX_GPU_TYPES][SCHED_MAX_FEATURES];
    bool changed;                                  /* events since the last cycle */
    bool loosened;                                 /* capacity freed or rules changed since */
    bool settled;                                  /* the last pass found nobody able to act */
    bool capacity_wait;                            /* the last pass left a job waiting for GPUs */
    uint64_t fifo_blocker;                         /* without backfill: the job all wait behind */
    bool in_pass;                                  /* team queues are being merged: started
                                                      jobs leave them after the pass */
    sched_time_t next_victim_at;                   /* when a running job turns a victim some
                                                      pending job could take (cycle.c) */
    sched_time_t next_take_at, next_move_at;       /* when one turns a job that a job within
                                                      its quota could reclaim, or move to
                                                      defragment: these count in next_victim_at
                                                      only when such a job got its turn in the
                                                      pass, and a move only when whole GPUs are
                                                      free at its end (cycle.c) */
    bool reclaimer_turn;                           /* a job that may reclaim got its turn in
                                                      the pass (evaluate) */
    int reclaimer_need;                            /* the least whole GPUs per node such a job
                                                      asked */
    int *room_reclaim, *room_move;                 /* per node, at a pass's end: what reclaim
                                                      could free there (borrowed jobs of teams
                                                      still borrowing) and the largest one-slot
                                                      job a move could take (victim_times.c) */
    size_t caproom_reclaim, caproom_move;
    struct reach {                                 /* what a reclaim try could free on
                                                      one node, at most (reach_any) */
        int *room;                                 /* per node, the victims' whole GPUs */
        int *resv;                                 /* the nodes with room reserved then */
        size_t caproom, capresv, nresv;
        int best_free;                             /* the most free + room over the others */
        int best_any;                              /* ... over every node, room or not (a
                                                      gang) */
        uint64_t cycle, charges;                   /* as of this pass and s->charges */
    } reach;                                       /* (preempt.c) */
    struct fit_any {                               /* cycle.c, fits_somewhere: per count g of
                                                      whole GPUs, the free CPUs and memory of
                                                      two up nodes with at least g free (the
                                                      one with the most free CPUs, [0], and the
                                                      one with the most free memory, [1]; -1:
                                                      none; untracked: INT64_MAX) */
        int64_t cpus[2][SCHED_MAX_GPUS_PER_NODE + 1], mem[2][SCHED_MAX_GPUS_PER_NODE + 1];
        uint64_t cycle, charges;                   /* as of this pass and s->charges */
    } fit_any;
    bool hold_dropped;                             /* the pass took a nomination back: what its
                                                      holds kept from the jobs before it is
                                                      free for the next pass (wakeup.c) */
    int pend_max_class;                            /* the last full pass's pending jobs: the
                                                      highest class value among them */
    bool pend_in_quota;                            /* and whether one may be within its quota */
    sched_time_t next_backoff_at;                  /* when a reclaimed job may borrow again */
    int *arrivals;                                 /* jobs submitted since the last pass */
    size_t narrivals, caparrivals;

    pclass_t *classes;
    int nclasses;
    size_t capclasses;
    team_t *teams;
    int nteams;
    size_t capteams;

    node_t *nodes;
    int nnodes;
    size_t capnodes;
    int bucket[SCHED_MAX_GPU_TYPES][SCHED_MAX_GPUS_PER_NODE + 1];
    int partial_head[SCHED_MAX_GPU_TYPES];
    char **topo_names;                             /* interned topology paths */
    int *node_names, *topo_map;                    /* name -> index, open addressing */
    size_t node_names_cap, topo_map_cap;
    int ntopo;
    size_t captopo;

    job_t *jobs;
    int njobs;
    size_t capjobs;
    int *free_jobs;
    int nfree_jobs;
    size_t capfree_jobs;
    int *id_table;                                 /* open addressing: id -> job index */
    size_t id_cap, id_used;
    int *running;                                  /* running and preempting job indexes */
    int nrunning;
    size_t caprunning;
    size_t npending;

    sched_time_t now, usage_at;
    uint32_t epoch, resv_epoch;
    int *resv_nodes;                               /* the nodes reserved in this pass (backfill;
                                                      holds are not listed) */
    size_t nresv_nodes, capresv_nodes;
    sched_decision_t *dec;
    size_t ndec, capdec;
    struct order_run {                             /* one team's pending jobs of one class */
        int team, cls, cls_value;
        size_t q;                                  /* next position in the team's queue */
        int64_t cum;                               /* GPUs of the team's jobs before it */
        int64_t inq;                               /* the team's GPUs now plus those of its
                                                      jobs before it within quota */
        double share0, share_per_milli;            /* fair-share key = share0 + cum * this */
        order_entry_t head;                        /* its next job in scheduling order */
        int need_top;                              /* its team's need_top: hist (last) is
                                                      copied and read up to it */
        int min_need;                              /* the least of them
                                                      (SCHED_MAX_GPUS_PER_NODE: none) */
        int cpu_only;                              /* CPU-only jobs among them */
        int nominated;                             /* nominated preemptors among them */
        int sh_first;                              /* its entries taken ahead of their turn
                                                      (cycle.c, run_skip_ahead): the first not
                                                      yet reached, in s->shadow; -1: none */
        bool listed;                               /* in shadow_runs */
        size_t rest_pos;                           /* its rest passed over at once (cycle.c,
                                                      run_pass_over_rest): the first entry of
                                                      it not yet reached... */
        int64_t rest_cum, rest_inq;                /* ... cum and inq before it, whether it
                                                      is within quota ... */
        bool rest_in_quota;
        bool resting;                              /* ... and whether such an entry is left:
                                                      its needs count in hist until reached */
        bool rest_jump;                            /* ... none of it within quota: reached by
                                                      search (cycle.c, rest_reach_before),
                                                      min_need from its team's qmin_need */
        int64_t rest_base;                         /* ... cum less its team's qsum, there */
        struct run_key {                           /* a run's head's order, compact (cycle.c) */
            uint64_t k0;                           /* class (high first), then within quota;
                                                      UINT64_MAX: the run is done */
            double share;
            sched_key_t key;
            uint64_t id;
        } floor;                                   /* the largest key taken from the run so
                                                      far (KEY_FIRST before any): its key in the
                                                      merge is never below it (run_key_set) */
        struct run_key rest_key;                   /* ... and its place in the merge */
        int hist[SCHED_MAX_GPUS_PER_NODE + 1];     /* needs of its jobs not yet seen (last:
                                                      read up to need_top alone) */
    } *runs;
    size_t capruns;
    size_t can_act_hint;                           /* the run anyone_left_can_act (cycle.c)
                                                      found able to act last */
    struct shadow_entry {                          /* an entry taken ahead of its turn */
        struct run_key key;                        /* its place in the merge's order */
        int need, next;                            /* next: the run's next one, or -1 */
        bool in_quota, waits;                      /* waits: not over its team's limit */
    } *shadow;
    size_t nshadow, capshadow;
    int *shadow_runs;                              /* the runs that took entries ahead in the
                                                      pass (some may have reached them all) */
    size_t nshadow_runs, capshadow_runs;
    int *rest_runs;                                /* the runs whose rest the pass passed over
                                                      at once and has not reached to its end */
    size_t nrest_runs, caprest_runs;
    order_entry_t cur;                             /* the entry being looked at */
    struct run_key cur_key;                        /* the key the merge took it at */
    struct run_key *run_keys;                      /* each run's head's key */
    size_t capkeys;
    int *run_tree;                                 /* the merge's loser tree over the runs:
                                                      [0] the winner, [1..) the losers */
    size_t nruns, ntree, captree;                  /* runs in the pass; leaves (a power of 2) */
    size_t nlive;                                  /* runs not done */
    int *scratch;                                  /* node index lists for searches */
    size_t capscratch;
    struct {                                       /* preempt_for's lists, kept between tries */
        struct victim_entry *ent;
        int *touched;
        size_t capent, captouched;
    } pscratch;
    /* The pass's failures by shape (cycle.c), each a ring: once full, a new entry replaces the
     * oldest (the *_ring counts entries made this pass), so what a pass remembers depends on
     * the pass alone, not on how many passes ran before it. */
    fail_shape_t fails[FAIL_CACHE];
    int nfails, fails_ring;
    struct preempt_fail {
        fail_shape_t shape;
        int cls_value, team;
        bool in_quota;
    } pfails[FAIL_CACHE];
    int npfails, pfails_ring;
    struct reclaim_fail {                          /* a try of a job within its quota (team
                                                      without typed quota) that found no room:
                                                      any such job's try alike (cycle.c,
                                                      reclaim_known_hopeless) */
        fail_shape_t shape;                        /* end: where reserved GPUs stop being
                                                      usable to it (preempt_usable) */
        int cls_value;
        uint64_t charges;                          /* s->charges then */
    } rfails[FAIL_CACHE];
    int nrfails, rfails_ring;
    uint64_t charges;                              /* jobs given GPUs so far (started or moved:
                                                      jobs.c, slot_charge) */
    struct defrag_fail {                           /* defrag.c: its last failure in a pass */
        uint64_t cycle;                            /* the pass (stats.cycles); 0: none */
        int g, cls_value;
        uint64_t types;
        uint32_t features;
        int64_t cpus, mem;
    } defrag_fail;
    int min_victim_class;                          /* lowest class of running preemptibles */
    bool reclaimable;                              /* some borrowed job could be reclaimed,
                                                      or some job moved (defrag.h) */
    int *nominated;                                /* pending jobs holding preemption targets */
    int nnominated;
    size_t capnominated;
    int64_t free_milli;                            /* GPU capacity free on up nodes */
    int64_t alloc_milli;                           /* GPUs held by all jobs (the root teams'
                                                      by_type[0].alloc summed: slot_charge) */
    int max_free_whole;                            /* most whole GPUs free on one node (bound) */
    /* backfill: running jobs by expected end, kept sorted (release_track) */
    struct release {
        sched_time_t end;
        int job;
        int nslots;                                /* its slots (fixed while it runs) */
        int node, whole;                           /* its first slot's node and whole GPUs
                                                      (-1: a fraction, which frees none) */
    } *releases;                                   /* in release_room */
    size_t nreleases;
    struct two_ended release_room;                 /* (two_ended.h) */
    uint64_t releases_version;                     /* changes whenever the list does */
    struct projection {                            /* backfill.c: the walk over the releases,
                                                      shared by a pass's reservations while
                                                      the nodes and the list stand */
        bool valid;
        uint32_t resv_epoch;                       /* the pass it belongs to ... */
        uint64_t charges, releases_version;        /* ... and what it was walked from */
        size_t walked;                             /* releases walked */
        uint32_t stamp;                            /* (nodes with proj_stamp[ni] == stamp hold
                                                      their projection in proj[ni]) */
        struct crossing {                          /* where a node first holds g whole GPUs */
            int node;
            int rel;                               /* the release (an index) that gave them */
        } *cross[SCHED_MAX_GPUS_PER_NODE + 1];
        size_t ncross[SCHED_MAX_GPUS_PER_NODE + 1], capcross[SCHED_MAX_GPUS_PER_NODE + 1];
    } proj;
    int *proj_gpus;                                /* by node: free whole GPUs plus those the
                                                      walked releases gave it */
    uint32_t *proj_stamp;
    size_t capproj_gpus, capproj_stamp;
    /* maintenance windows (maint.c) */
    struct maint {
        char *name;
        sched_time_t start, end;
        int *nodes;
        int nnodes;
        uint64_t added_seq;                        /* s->seq when it was added */
    } *maint;
    int nmaint;
    size_t capmaint;
    bool maint_dirty;                              /* windows changed: maint_from is stale */
    sched_time_t maint_next;                       /* the next end of a window (maint_from
                                                      changes then) */
    bool maint_ignore;                             /* a probe: would it fit without windows? */
    bool maint_any;                                /* some node has a window not yet ended */
    int *unsched;                                  /* the nodes not schedulable (few) */
    int nunsched;
    size_t capunsched;
    uint64_t seq;                                  /* counts starts, cordons and windows, to
                                                      order them for the invariants */
    sched_stats_t stats;
    /* placement fgd (policy_fgd.c): the workload mix and the shapes that count */
    fgd_shape_t *mix, *typical;
    size_t nmix, capmix, ntypical, captypical;
    bool mix_declared, mix_dirty;
    uint32_t frag_gen;
    double mix_cpu_per_milli, mix_mem_per_milli;   /* the mix's GPU shapes: CPUs (milli) and
                                                      memory (MiB) per milli-GPU */
};

/* Whether node n offers every feature job j needs: the placement's one test of features. */
static inline bool node_has_features(const node_t *n, const job_t *j)
{
    return (n->features & j->features) == j->features;
}

/* The hard duration of j for maintenance windows: its time limit, else its estimate; 0 when
 * neither is known. */
static inline sched_time_t job_maint_duration(const job_t *j)
{
    return j->time_limit > 0 ? j->time_limit : j->estimate;
}

/* Whether node n's maintenance windows let j start there at s->now: it ends by the first
 * window's start (maint.c keeps n->maint_from). */
static inline bool node_maint_allows(const sched_t *s, const node_t *n, const job_t *j)
{
    if (n->maint_from == SCHED_NEVER || s->maint_ignore)
        return true;
    sched_time_t d = job_maint_duration(j);
    return d > 0 && s->now + d <= n->maint_from;
}

/* maint.c: recomputes each node's maint_from when the windows changed or one ended. */
void maint_refresh(sched_t *s, sched_time_t now);
void maint_free(sched_t *s);
/* Whether an unschedulable (drained, cordoned) up node could hold j, were it empty and
 * schedulable: j then waits with reason drained rather than capacity. */
bool drained_could_hold(const sched_t *s, const job_t *j, uint64_t types);

/* sched.c */
job_t *sched_job_by_id(const sched_t *s, uint64_t id);
int sched_job_index(const sched_t *s, uint64_t id);
sched_time_t job_plan_duration(const job_t *j);
/* How long queue entry e would run, as the test of a job that fits only on reserved GPUs
 * reads it (cycle.c, fits_only_reserved: it cannot start now when it would still run when the
 * reservation starts): 0 for an entry no pass has evaluated yet (the test never holds),
 * SCHED_NEVER for an unknown duration (it would run past every reservation), else its
 * planning duration. */
static inline sched_time_t qentry_backfill_dur(const qentry_t *e)
{
    return !e->seen ? 0 : e->dur > 0 ? e->dur : SCHED_NEVER;
}
/* Makes t->dur_min its queue's least qentry_backfill_dur by need, when it is not valid. */
void team_dur_min_refresh(team_t *t);
/* Makes t->qsum and t->qmin_need its queue's, when they are not valid. */
void team_qsum_refresh(team_t *t);
/* A pass evaluated queue entry e of team t (e->seen): its qentry_backfill_dur grew. */
void qentry_mark_seen(team_t *t, qentry_t *e);
int job_resolve_nodes(const sched_t *s, job_t *j);
bool team_limit_allows(const sched_t *s, int team, int type, int64_t need);
bool team_within_quota(const sched_t *s, int team, uint64_t types, int64_t need);
/* Whether team `team` holding `held` milli-GPUs would be above its quota (with typed quotas,
 * their sum and the untyped one); team_borrowing: with what it holds now. */
bool team_over_quota(const sched_t *s, int team, int64_t held);
bool team_borrowing(const sched_t *s, int team);
/* victim_times.c. victim_bounds, before a pass's merge: the lowest class among possible
 * victims (min_victim_class), whether any borrowed job could be reclaimed (reclaimable), and
 * the times at which running jobs turn victims some pending job of the pass could take
 * (next_victim_at: by priority; next_take_at, next_move_at: by a job within its quota).
 * victim_times_at_end, after it: folds next_take_at and next_move_at into next_victim_at only
 * where they can matter (a job within quota got its turn, on a node that could serve it, with
 * whole GPUs free for a move), and after a pass that decided leaves them all to the next. */
void victim_bounds(sched_t *s, sched_time_t now);
/* Team t's victims summarized as of now (struct victim_summary; victim_bounds keeps each
 * team's while it holds). */
void victim_summary_of(const sched_t *s, const team_t *t, sched_time_t now,
                       struct victim_summary *vs);
void victim_times_at_end(sched_t *s, sched_time_t now);
/* Fair-share usage. A team's stored usage is as of s->usage_at, and changes only when an
 * allocation does (a start, an end: sched_accrue_usage brings every team to that time first),
 * never because a pass ran: so it does not depend on when passes ran, and a pass that decides
 * nothing changes no later decision through it. A pass reads a team's usage at its own time:
 * team_usage(t, decay, gain) with sched_usage_factors(s, now, ...). */
void sched_accrue_usage(sched_t *s, sched_time_t now);
void sched_usage_factors(const sched_t *s, sched_time_t now, double *decay, double *gain);
static inline double team_usage(const team_t *t, double decay, double gain)
{
    return t->usage * decay + (double)t->by_type[0].alloc / SCHED_MILLI * gain;
}
void job_start(sched_t *s, int ji, sched_time_t now);
void job_release(sched_t *s, int ji, sched_time_t now);
/* Drops from the team queues the jobs that started during the pass. */
void sched_compact_queues(sched_t *s);

/* nodes.c: the free-GPU index and allocation on nodes */
void node_index_insert(sched_t *s, int ni);
void node_index_remove(sched_t *s, int ni);
/* Usable whole GPUs on node ni for job j (ending at end), respecting this cycle's
 * reservations and holds, except the hold for j itself. */
int node_usable(const sched_t *s, int ni, sched_time_t end, const struct job *j);
bool node_fits_cpu_mem(const node_t *n, int64_t cpus, int64_t mem);
/* Chooses g whole GPUs on the node, NVLink domains together; returns the mask. */
uint64_t node_choose_gpus(const node_t *n, int g);
void node_take(sched_t *s, int ni, const sched_slot_t *slot, int64_t cpus, int64_t mem);
void node_give(sched_t *s, int ni, const sched_slot_t *slot, int64_t cpus, int64_t mem);

/* place.c: find slots for a job now; fills j->slots and returns true, or false. */
bool place_find(sched_t *s, job_t *j, uint64_t types, sched_time_t end);

/* policy_fgd.c (placement fgd; whole GPUs and CPU-only jobs through policy_fgd's node score):
 * a fraction of a GPU placed (fills j->slots); the shapes submitted jobs add to the mix; the
 * fragmentation of a node state for shapes (for tests: type, free milli-GPUs per GPU, free CPUs
 * and memory, -1 = not tracked). */
bool fgd_place_fraction(sched_t *s, job_t *j, uint64_t types, sched_time_t end);
void fgd_observe(sched_t *s, const sched_job_spec_t *spec);
double fgd_state_frag(const sched_t *s, const fgd_shape_t *shapes, size_t nshapes, int type,
                      const int *free, int ngpus, int64_t cpus_free, int64_t mem_free);
void fgd_free(sched_t *s);

/* victims.c: the victim index (team_t.victims). A job enters when it starts (if preemptible)
 * and leaves when it is told to stop or ends; both calls are no-ops when nothing changes. */
void victims_add(sched_t *s, int ji);
void victims_remove(sched_t *s, int ji);

/* backfill.c */
void backfill_reset(sched_t *s);
void backfill_reserve(sched_t *s, job_t *j, uint64_t types, sched_time_t now);
/* Files a running or preempting job under its expected end (or takes it out). */
void release_track(sched_t *s, int ji);
void release_untrack(sched_t *s, int ji);

/* preempt.c: picks victims for j; issues PREEMPT decisions; true when it did. */
/* in_quota: j may reclaim (cycle.c: its queue entry is within its team's quota, and so is
 * what its team holds now plus j). */
bool preempt_for(sched_t *s, int ji, uint64_t types, bool in_quota, sched_time_t now);
void sched_decide(sched_t *s, sched_action_t a, uint64_t job, uint64_t for_id);
/* Holds the nodes nominated by j's preemption (its targets) in this pass: what its victims
 * free, and the free GPUs it counted there, go to j only. */
void preempt_hold_targets(sched_t *s, job_t *j);
/* The whole GPUs of node ni that j may count on once its victims there stop: the free ones
 * not promised to another job of this pass (a hold for another preemptor, a reservation j
 * would run into if it started after the grace period). */
int preempt_usable(const sched_t *s, int ni, const job_t *j, sched_time_t now);
/* Where the GPUs reserved on a node stop being usable to j in a preemption try at now: its end
 * there if it started after the grace period (reserved GPUs it would free again before the
 * reservation starts), SCHED_NEVER for an unknown duration. */
static inline sched_time_t preempt_end(const sched_t *s, const job_t *j, sched_time_t now)
{
    sched_time_t dur = job_plan_duration(j);
    return dur > 0 ? now + s->p.grace_s + dur : SCHED_NEVER;
}
/* Whether a reclaim try for job j could reach g whole GPUs per node on some node: its GPUs
 * free to j (preempt_usable) plus the whole GPUs there of the jobs reclaim may take, at most:
 * the borrowed jobs past the reclaim minimum runtime of the teams that borrow. Taken at the
 * first ask into s->reach and kept while no job is given GPUs (s->charges): until then no
 * team starts to borrow, no job turns a victim (the pass's clock stands), preemptions take
 * victims away and reservations and holds take free GPUs. A node not reserved then counts all
 * its free GPUs (best_free); one reserved then is asked each time. For a gang, any node
 * counts, with or without such jobs: it may take nodes free enough already (best_any); so
 * does it for a job that asks CPUs or memory (it may free them on a node with GPUs enough,
 * from jobs holding fractions of GPUs). false: the try would find nothing. */
bool reach_any(sched_t *s, const job_t *j, int g);
/* The most whole GPUs on one node, free or held by jobs reclaim may take there now (best_any
 * above). A move (defrag.c) adds at most a moved job's GPUs to them: at Philly seed0 x 4 that
 * bound left 9,557 of the 20,073 scans of the victim index, with the same decisions. */
int reach_most(sched_t *s);
/* qsort_r order of victims (indexes into s->jobs; ctx is s): lowest class first, then the
 * cheapest by policy_victim_cost, then by id (a total order). preempt.c and defrag.c. */
int sched_victim_cmp(const void *a, const void *b, void *ctx);
/* Nominates nodes for j (its victims' nodes), or drops its nomination (n = 0). */
void job_set_targets(sched_t *s, int ji, const int *nodes, int n);

/* A CPU-only job (gpus 0): it holds no GPU, counts nothing against GPU quotas and limits, and
 * fits on any up node (of an acceptable type) with the CPUs and memory it asks. */
static inline bool job_cpu_only(const job_t *j)
{
    return j->gpus == 0;
}

/* How long a borrowed job is safe from quota reclaim (sched.h: reclaim_min_runtime_s):
 * as set, or min_runtime_s when -1, and never more than the grace period. */
static inline sched_time_t sched_reclaim_min_runtime(const sched_t *s)
{
    return sched_params_reclaim_min_runtime(&s->p);
}

/* Whole GPUs per node: 0 for a CPU-only job, 1 for a fraction of one GPU. */
static inline int job_per_node_gpus_whole(const job_t *j)
{
    if (job_cpu_only(j))
        return 0;
    int64_t per = j->gpus / j->nodes;
    return per < SCHED_MILLI ? 1 : (int)(per / SCHED_MILLI);
}

/* The whole GPUs a slot holds: its GPUs when it takes each whole, 0 for a fraction of one. */
static inline int slot_whole_gpus(const sched_slot_t *sl)
{
    return sl->gpu_milli == SCHED_MILLI ? __builtin_popcountll(sl->gpu_mask) : 0;
}

/* The whole GPUs job j holds on node ni (its slot there, if any). */
static inline int job_whole_on(const job_t *j, int ni)
{
    int whole = 0;
    for (int k = 0; k < j->nslots; k++)
        if (j->slots[k].node == ni)
            whole += slot_whole_gpus(&j->slots[k]);
    return whole;
}

/* Adds the whole GPUs victim v holds on each of its nodes to per_node[node] (a one-slot
 * victim's are in its entry: no job record is read). */
static inline void victim_add_whole(const sched_t *s, const victim_t *v, int *per_node)
{
    if (v->nslots == 1) {
        per_node[v->node] += v->whole;
        return;
    }
    const job_t *j = &s->jobs[v->job];
    for (int k = 0; k < j->nslots; k++)
        per_node[j->slots[k].node] += slot_whole_gpus(&j->slots[k]);
}

#endif
