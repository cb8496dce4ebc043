/* sim_cmd.c: `gantry sim`, the command line of the simulator. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/commands.h"
#include "sim/sim.h"
#include "sim/sim_inflate.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: gantry sim --config CLUSTER.yaml --trace TRACE [options]\n\n"
            "Replays a job trace through Gantry's scheduler on the cluster of the config and\n"
            "reports utilization, waits, completion times, fairness and preemptions.\n\n"
            "  --config FILE          cluster, teams, priority classes, scheduler policy (YAML)\n"
            "  --trace FILE           the jobs\n"
            "  --trace-format F       csv (default), alibaba-openb, slurm-sacct\n"
            "  --nodes FILE           take the nodes from a node list instead of the config\n"
            "  --nodes-format F       alibaba-openb\n"
            "  -o, --output F         table (default) or json\n"
            "  --no-timing            leave out wall-clock figures (for byte-identical output)\n"
            "  --no-fairshare         FIFO inside a priority tier\n"
            "  --no-quotas            ignore quotas and limits\n"
            "  --no-backfill          the first blocked job blocks those behind it\n"
            "  --no-preemption        never preempt\n"
            "  --reservations N       backfill reservations\n"
            "  --policy P             config (default: the config's policy with the flags above)\n"
            "                         or fifo: the honest baseline, one queue by submission\n"
            "                         time (one tier), no fair share, quotas, backfill or\n"
            "                         preemption\n"
            "  --checkpoint-every D   jobs checkpoint every D of a run (90s, 10m, 1h); a\n"
            "                         preempted job loses the work since (default: none lost)\n"
            "  --jobs-out FILE        also write one CSV line per job to FILE (id,team,class,\n"
            "                         gpus,submit,first_start,last_start,end,wait_s,jct_s,\n"
            "                         preemptions,lost_gpu_s)\n"
            "  --order O              the order inside a team's share: fifo, las or srtf\n"
            "  --placement P          how nodes are chosen: bestfit or fgd (fragmentation-aware)\n"
            "  --starts-out FILE      a line per job start: TIME ID NODE:GPU,GPU... (gang: a\n"
            "                         NODE:GPUS per node), in the order the scheduler decided\n"
            "  -q, --quiet            no progress line on stderr\n\n"
            "The inflation experiment (FGD, USENIX ATC'23): the trace's tasks in a seeded order,\n"
            "then drawn at random, arrive on the empty cluster and never end; reports the GPUs\n"
            "allocated and left unallocated at each 5%% of arrived load.\n"
            "  --inflate              run it instead of the replay\n"
            "  --seed N               the draw (default 0)\n"
            "  --inflate-to R         stop at this arrived load (default 1.0, at most 2)\n"
            "  --plot FILE.svg        also draw unallocated GPUs against arrived load\n");
}

int cmd_sim(int argc, char **argv)
{
    enum { O_FORMAT = 256, O_NODES, O_NODES_FORMAT, O_NO_TIMING, O_NO_FS, O_NO_QUOTAS,
           O_NO_BACKFILL, O_NO_PREEMPT, O_RESV, O_POLICY, O_JOBS_OUT, O_CKPT,
           O_ORDER, O_PLACEMENT, O_INFLATE, O_SEED, O_INFLATE_TO, O_PLOT, O_STARTS_OUT };
    static const struct option opts[] = {
        {"config", required_argument, 0, 'c'},   {"trace", required_argument, 0, 't'},
        {"trace-format", required_argument, 0, O_FORMAT},
        {"nodes", required_argument, 0, O_NODES},
        {"nodes-format", required_argument, 0, O_NODES_FORMAT},
        {"output", required_argument, 0, 'o'},   {"no-timing", no_argument, 0, O_NO_TIMING},
        {"no-fairshare", no_argument, 0, O_NO_FS}, {"no-quotas", no_argument, 0, O_NO_QUOTAS},
        {"no-backfill", no_argument, 0, O_NO_BACKFILL},
        {"no-preemption", no_argument, 0, O_NO_PREEMPT},
        {"reservations", required_argument, 0, O_RESV},
        {"policy", required_argument, 0, O_POLICY},
        {"jobs-out", required_argument, 0, O_JOBS_OUT},
        {"checkpoint-every", required_argument, 0, O_CKPT},
        {"order", required_argument, 0, O_ORDER},
        {"placement", required_argument, 0, O_PLACEMENT},
        {"inflate", no_argument, 0, O_INFLATE},  {"seed", required_argument, 0, O_SEED},
        {"inflate-to", required_argument, 0, O_INFLATE_TO},
        {"plot", required_argument, 0, O_PLOT},
        {"starts-out", required_argument, 0, O_STARTS_OUT},
        {"quiet", no_argument, 0, 'q'},         {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0},
    };
    const char *config = NULL, *trace = NULL, *format = NULL, *nodes = NULL, *nodes_format = NULL,
               *output = "table", *order = NULL, *placement = NULL, *starts_out = NULL;
    bool timing = true, quiet = false, no_fs = false, no_q = false, no_bf = false, no_pe = false;
    int64_t resv = -1, ckpt = 0, seed = 0;
    bool inflate = false;
    double inflate_to = 1.0;
    const char *plot = NULL;
    const char *jobs_out = NULL;
    bool fifo = false;
    gt_error_t err = {0};
    int c;
    optind = 1;
    argv[0] = "gantry sim"; /* getopt's messages name the command */
    while ((c = getopt_long(argc, argv, "c:t:o:qh", opts, NULL)) != -1) {
        switch (c) {
        case 'c': config = optarg; break;
        case 't': trace = optarg; break;
        case O_FORMAT: format = optarg; break;
        case O_NODES: nodes = optarg; break;
        case O_NODES_FORMAT: nodes_format = optarg; break;
        case 'o': output = optarg; break;
        case O_NO_TIMING: timing = false; break;
        case O_NO_FS: no_fs = true; break;
        case O_NO_QUOTAS: no_q = true; break;
        case O_NO_BACKFILL: no_bf = true; break;
        case O_NO_PREEMPT: no_pe = true; break;
        case O_RESV:
            if (gt_parse_int64(optarg, 0, 10000, &resv, &err) < 0) {
                fprintf(stderr, "gantry sim: --reservations: %s\n", err.msg);
                return 2;
            }
            break;
        case O_POLICY:
            if (strcmp(optarg, "fifo") && strcmp(optarg, "config")) {
                fprintf(stderr, "gantry sim: --policy takes fifo or config, not '%s'\n", optarg);
                return 2;
            }
            fifo = !strcmp(optarg, "fifo");
            break;
        case O_JOBS_OUT: jobs_out = optarg; break;
        case O_CKPT:
            if (gt_parse_duration(optarg, &ckpt, &err) < 0 || ckpt <= 0) {
                fprintf(stderr, "gantry sim: --checkpoint-every: %s\n",
                        err.msg[0] ? err.msg : "give a duration above 0 (90s, 10m, 1h)");
                return 2;
            }
            break;
        case O_ORDER: order = optarg; break;
        case O_PLACEMENT: placement = optarg; break;
        case O_INFLATE: inflate = true; break;
        case O_SEED:
            if (gt_parse_int64(optarg, 0, INT64_MAX, &seed, &err) < 0) {
                fprintf(stderr, "gantry sim: --seed: %s\n", err.msg);
                return 2;
            }
            break;
        case O_INFLATE_TO: {
            char *end = NULL;
            inflate_to = strtod(optarg, &end);
            if (!end || *end || !(inflate_to >= 0.05 && inflate_to <= 2)) {
                fprintf(stderr, "gantry sim: --inflate-to: '%s' is not a load from 0.05 to 2 "
                        "(1.0 = the cluster's GPUs)\n", optarg);
                return 2;
            }
            break;
        }
        case O_PLOT: plot = optarg; break;
        case O_STARTS_OUT: starts_out = optarg; break;
        case 'q': quiet = true; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (!config || !trace || optind < argc || (strcmp(output, "json") && strcmp(output, "table"))) {
        fprintf(stderr, "gantry sim: %s\n",
                optind < argc ? "unexpected argument"
                : (!config || !trace) ? "--config and --trace are required"
                                      : "-o takes json or table");
        usage(stderr);
        return 2;
    }
    if ((format && strcmp(format, "csv") && strcmp(format, "alibaba-openb") &&
         strcmp(format, "slurm-sacct")) ||
        (nodes_format && strcmp(nodes_format, "alibaba-openb"))) {
        fprintf(stderr, "gantry sim: unknown %s '%s'\n",
                nodes_format && strcmp(nodes_format, "alibaba-openb") ? "--nodes-format"
                                                                      : "--trace-format",
                nodes_format && strcmp(nodes_format, "alibaba-openb") ? nodes_format : format);
        usage(stderr);
        return 2;
    }
    gt_config_t *cfg = NULL;
    gt_trace_t *tr = NULL;
    gt_sim_result_t res = {0};
    int rc = 1;
    if (gt_config_load(config, &cfg, &err) < 0) {
        fprintf(stderr, "gantry sim: %s\n", err.msg);
        goto out;
    }
    if (nodes && gt_nodes_load(nodes, nodes_format, cfg, &err) < 0) {
        fprintf(stderr, "gantry sim: %s\n", err.msg);
        goto out;
    }
    if (gt_trace_load(trace, format, &tr, &err) < 0) {
        fprintf(stderr, "gantry sim: %s\n", err.msg);
        goto out;
    }
    /* the flags win over the file's scheduler: section (plain values: src/model applies them) */
    if (no_fs)
        cfg->sched.fairshare = 0;
    if (no_q)
        cfg->sched.quotas = 0;
    if (no_bf)
        cfg->sched.backfill = 0;
    if (no_pe)
        cfg->sched.preemption = 0;
    if (resv >= 0)
        cfg->sched.reservations = (int)resv;
    if (order) { /* the bridge checks the name */
        free(cfg->sched.order);
        cfg->sched.order = xstrdup(order);
        cfg->sched.order_line = 0;
    }
    if (placement) {
        free(cfg->sched.placement);
        cfg->sched.placement = xstrdup(placement);
        cfg->sched.placement_line = 0;
    }
    if (inflate && (fifo || jobs_out || ckpt)) {
        fprintf(stderr, "gantry sim: --inflate takes no --policy, --jobs-out or "
                "--checkpoint-every (its tasks never end)\n");
        goto out;
    }
    if (inflate) {
        gt_inflate_opts_t io = {.seed = (uint64_t)seed, .until = inflate_to,
                                .progress = !quiet && isatty(STDERR_FILENO)};
        gt_inflate_result_t ir;
        if (gt_sim_inflate(cfg, tr, &io, &ir, &err) < 0) {
            fprintf(stderr, "gantry sim: %s\n", err.msg);
            goto out;
        }
        if (!strcmp(output, "json"))
            gt_inflate_write_json(stdout, &ir, timing);
        else
            gt_inflate_write_table(stdout, &ir, timing);
        if (plot) {
            double *x = xcalloc(ir.npoints + 1, sizeof(double));
            double *y = xcalloc(ir.npoints + 1, sizeof(double));
            for (size_t i = 0; i < ir.npoints; i++) {
                x[i] = 100 * ir.points[i].arrived_load;
                y[i] = 100 * (1 - ir.points[i].allocated_ratio);
            }
            char name[64], title[160];
            snprintf(name, sizeof(name), "%s (seed %lld)", sched_placement_name(ir.placement),
                     (long long)seed);
            snprintf(title, sizeof(title), "Inflation: %.0f GPUs, %zu tasks drawn from %s",
                     ir.capacity_gpus, ir.tasks, trace);
            gt_inflate_series_t se = {name, x, y, ir.npoints};
            int prc = gt_inflate_write_svg(plot, title, &se, 1, &err);
            free(x);
            free(y);
            if (prc < 0) {
                fprintf(stderr, "gantry sim: --plot: %s\n", err.msg);
                gt_inflate_result_free(&ir);
                goto out;
            }
        }
        gt_inflate_result_free(&ir);
        rc = 0;
        goto out;
    }
    if (plot || seed) {
        fprintf(stderr, "gantry sim: --plot and --seed go with --inflate\n");
        goto out;
    }
    gt_sim_opts_t so = {.progress = !quiet && isatty(STDERR_FILENO), .fifo = fifo,
                        .checkpoint_every_s = ckpt, .jobs = jobs_out != NULL};
    FILE *jf = NULL;
    if (starts_out && !(so.starts_out = fopen(starts_out, "w"))) {
        fprintf(stderr, "gantry sim: --starts-out %s: %s\n", starts_out, strerror(errno));
        goto out;
    }
    /* opened before the run: a path that cannot be written fails at once, not after it */
    if (jobs_out && !(jf = fopen(jobs_out, "w"))) {
        fprintf(stderr, "gantry sim: --jobs-out: cannot write %s: %s\n", jobs_out,
                strerror(errno));
        if (so.starts_out)
            fclose(so.starts_out);
        goto out;
    }
    int sim_rc = gt_sim_run(cfg, tr, &so, &res, &err);
    if (so.starts_out && fclose(so.starts_out) != 0 && sim_rc == 0) {
        fprintf(stderr, "gantry sim: --starts-out %s: %s\n", starts_out, strerror(errno));
        sim_rc = -1;
        err.msg[0] = 0;
    }
    if (sim_rc < 0) {
        if (err.msg[0])
            fprintf(stderr, "gantry sim: %s\n", err.msg);
        if (jf) {
            fclose(jf);
            unlink(jobs_out);
        }
        goto out;
    }
    if (jf) {
        gt_sim_write_jobs_csv(jf, &res);
        if (fclose(jf) != 0) {
            fprintf(stderr, "gantry sim: --jobs-out: cannot write %s: %s\n", jobs_out,
                    strerror(errno));
            goto out;
        }
    }
    if (!strcmp(output, "json"))
        gt_sim_write_json(stdout, &res, timing);
    else
        gt_sim_write_table(stdout, &res, timing);
    rc = 0;
out:
    gt_sim_result_free(&res);
    gt_trace_free(tr);
    gt_config_free(cfg);
    return rc;
}
