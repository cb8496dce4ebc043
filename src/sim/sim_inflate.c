/* sim_inflate.c: the inflation experiment (sim_inflate.h). */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "sim/sim_inflate.h"

#include "model/sched_config.h"

#define INFLATE_WINDOW 0.005 /* FGD's window around a step: +-0.5% of the capacity */

/* splitmix64: small, seeded, the same on every machine */
static uint64_t rng_next(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* uniform in [0, n) without modulo bias */
static size_t rng_below(uint64_t *x, size_t n)
{
    uint64_t lim = UINT64_MAX - UINT64_MAX % n;
    uint64_t r;
    do
        r = rng_next(x);
    while (r >= lim);
    return (size_t)(r % n);
}

static const gt_trace_job_t *member(const gt_trace_t *tr, size_t i)
{
    return i < tr->njobs ? &tr->jobs[i] : &tr->pool[i - tr->njobs];
}

static uint64_t types_of(sched_t *s, const char *list)
{
    if (!list)
        return 0;
    uint64_t m = 0;
    char *dup = xstrdup(list), *save = NULL;
    for (char *t = strtok_r(dup, "|", &save); t; t = strtok_r(NULL, "|", &save)) {
        int type = sched_gpu_type(s, t);
        if (type >= 0)
            m |= 1ULL << type;
    }
    free(dup);
    return m;
}

static void spec_of(sched_t *s, const gt_trace_job_t *tj, int team, int cls, uint64_t id,
                    sched_job_spec_t *sp)
{
    memset(sp, 0, sizeof(*sp));
    sp->id = id;
    sp->team = team;
    sp->prio_class = cls;
    sp->gpus_milli = tj->gpus_milli;
    sp->nodes = tj->nodes > 0 ? tj->nodes : 0;
    sp->gpu_types = types_of(s, tj->gpu_types);
    sp->cpus_milli = tj->cpus_milli;
    sp->memory_mib = tj->memory_mib;
}

int gt_sim_inflate(const gt_config_t *cfg, const gt_trace_t *tr, const gt_inflate_opts_t *o,
                   gt_inflate_result_t *out, gt_error_t *err)
{
    memset(out, 0, sizeof(*out));
    double wall0 = gt_monotonic_s();
    double until = o && o->until > 0 ? o->until : 1.0;
    double step = o && o->step > 0 ? o->step : 0.05;
    size_t population = tr->njobs + tr->npool;
    if (!population) {
        errno = EINVAL;
        return gt_error_set(err, "invalid_argument", "the trace has no tasks to sample from");
    }
    int64_t population_gpus = 0;
    for (size_t i = 0; i < population; i++)
        population_gpus += member(tr, i)->gpus_milli;
    if (population_gpus <= 0) {
        errno = EINVAL;
        return gt_error_set(err, "invalid_argument", "the trace's tasks ask for no GPUs: the "
                            "arrived load would never grow");
    }
    sched_t *s = model_sched_new(cfg, false, err);
    if (!s)
        return -1;
    sched_params_t p = *sched_params(s);
    p.quotas = false;
    p.fairshare = false;
    p.preemption = false;
    sched_set_params(s, &p);
    int rc = -1;
    int64_t cap = sched_capacity_milli(s);
    if (sched_node_count(s) == 0 || cap == 0) {
        errno = EINVAL;
        gt_error_set(err, "invalid_argument",
                     "the cluster has no GPUs: declare nodes under nodes: in the config, or "
                     "give a node list with --nodes");
        goto out;
    }
    int team = sched_team_add(s, "inflation", -1, 1.0, err);
    if (team < 0)
        goto out;
    int cls = sched_class_find(s, cfg->default_class);
    if (cls < 0) {
        errno = EINVAL;
        gt_error_set(err, "invalid_argument", "the default priority class '%s' is not in the "
                     "config's priority_classes", cfg->default_class);
        goto out;
    }
    /* the mix: every task of the population, as FGD's typical pods come from the trace */
    for (size_t i = 0; i < population; i++) {
        sched_job_spec_t sp;
        spec_of(s, member(tr, i), team, cls, 0, &sp);
        if (sched_workload_add(s, &sp, 1.0, err) < 0)
            goto out;
    }
    out->capacity_gpus = (double)cap / SCHED_MILLI;
    out->seed = o ? o->seed : 0;
    out->placement = p.placement;
    out->population = population;
    size_t cap_points = (size_t)(until / step + 1.5);
    out->points = xcalloc(cap_points + 1, sizeof(*out->points));
    uint64_t x = out->seed;
    /* as FGD: the trace's tasks in a seeded random order (each once), then, past them, tasks
       drawn from them at random (with replacement) */
    size_t *order = xmalloc(population * sizeof(size_t));
    for (size_t i = 0; i < population; i++)
        order[i] = i;
    for (size_t i = population - 1; i > 0; i--) {
        size_t k = rng_below(&x, i + 1), t = order[i];
        order[i] = order[k];
        order[k] = t;
    }
    int64_t arrived = 0;
    double failed_gpus = 0, last_progress = wall0;
    int next_k = 1;
    /* FGD's measure: the mean allocation over the arrivals whose arrived load is within
       INFLATE_WINDOW of a step (its analysis rounds the arrived load to whole percents and
       averages each percent's rows); the arrivals go on past the last step until its window
       closes, without counting in tasks and failed */
    double *wsum = xcalloc(cap_points + 1, sizeof(double));
    size_t *wn = xcalloc(cap_points + 1, sizeof(size_t));
    size_t end_tasks = 0, end_failed = 0;
    bool points_done = false;
    for (uint64_t id = 1;; id++) {
        if (points_done &&
            (double)arrived >= (double)cap * (step * (double)out->npoints + INFLATE_WINDOW))
            break;
        size_t pick = id <= population ? order[id - 1] : rng_below(&x, population);
        const gt_trace_job_t *tj = member(tr, pick);
        sched_job_spec_t sp;
        spec_of(s, tj, team, cls, id, &sp);
        sp.submit = (sched_time_t)id;
        gt_error_t e = {0};
        bool placed = false;
        if (sched_job_submit(s, &sp, &e) == 0) {
            size_t nd;
            const sched_decision_t *d = sched_cycle(s, (sched_time_t)id, &nd);
            for (size_t k = 0; k < nd; k++)
                placed |= d[k].action == SCHED_START && d[k].job_id == id;
            if (!placed)
                sched_job_remove(s, id, (sched_time_t)id);
        }
        out->tasks++;
        arrived += tj->gpus_milli;
        if (!placed) {
            out->failed++;
            failed_gpus += (double)tj->gpus_milli / SCHED_MILLI;
        }
        {
            double load = (double)arrived / (double)cap;
            long k = lround(load / step);
            if (k >= 1 && (size_t)k <= cap_points && fabs(load - step * (double)k) < INFLATE_WINDOW - 1e-12) {
                wsum[k] += (double)sched_allocated_milli(s) / (double)cap;
                wn[k]++;
            }
        }
        if (points_done)
            continue;
        while (out->npoints < cap_points &&
               (double)arrived >= (double)cap * step * next_k * (1 - 1e-12)) {
            double load = step * next_k;
            if (load > until + 1e-9)
                break;
            gt_inflate_point_t *pt = &out->points[out->npoints++];
            pt->arrived_load = round(load * 1e6) / 1e6;
            int64_t alloc = sched_allocated_milli(s);
            pt->allocated_ratio = (double)alloc / (double)cap;
            pt->unallocated_gpus = (double)(cap - alloc) / SCHED_MILLI;
            pt->tasks = out->tasks;
            pt->failed = out->failed;
            pt->failed_gpus = failed_gpus;
            next_k++;
        }
        if (step * next_k > until + 1e-9 || out->npoints == cap_points) {
            points_done = true;
            end_tasks = out->tasks;
            end_failed = out->failed;
        }
        if (o && o->progress && (id & 255) == 0 && gt_monotonic_s() - last_progress > 2) {
            fprintf(stderr, "\rsim --inflate: arrived %.1f%%, %zu tasks, %zu failed   ",
                    100.0 * (double)arrived / (double)cap, out->tasks, out->failed);
            last_progress = gt_monotonic_s();
        }
    }
    free(order);
    out->tasks = end_tasks;
    out->failed = end_failed;
    for (size_t i = 0; i < out->npoints; i++) {
        gt_inflate_point_t *pt = &out->points[i];
        /* (a step the arrivals jumped over has no arrival in its window: the point itself) */
        pt->window_allocated_ratio = wn[i + 1] ? wsum[i + 1] / (double)wn[i + 1]
                                               : pt->allocated_ratio;
        pt->window_unallocated_gpus = out->capacity_gpus * (1 - pt->window_allocated_ratio);
        pt->window_arrivals = wn[i + 1];
    }
    free(wsum);
    free(wn);
    if (o && o->progress && gt_monotonic_s() - wall0 > 2)
        fprintf(stderr, "\n");
    out->wall_s = gt_monotonic_s() - wall0;
    rc = 0;
out:
    sched_free(s);
    if (rc < 0)
        gt_inflate_result_free(out);
    return rc;
}

void gt_inflate_result_free(gt_inflate_result_t *r)
{
    if (!r)
        return;
    free(r->points);
    r->points = NULL;
    r->npoints = 0;
}

void gt_inflate_write_json(FILE *f, const gt_inflate_result_t *r, bool timing)
{
    fprintf(f, "{\n  \"placement\": \"%s\",\n  \"seed\": %llu,\n  \"capacity_gpus\": %.0f,\n",
            sched_placement_name(r->placement), (unsigned long long)r->seed, r->capacity_gpus);
    fprintf(f, "  \"population\": %zu,\n  \"tasks\": %zu,\n  \"failed\": %zu,\n", r->population,
            r->tasks, r->failed);
    if (timing)
        fprintf(f, "  \"wall_s\": %.3f,\n", r->wall_s);
    fprintf(f, "  \"inflation\": [");
    for (size_t i = 0; i < r->npoints; i++) {
        const gt_inflate_point_t *p = &r->points[i];
        fprintf(f, "%s\n    {\"arrived_load\": %.2f, \"allocated_ratio\": %.4f, "
                "\"unallocated_gpus\": %.2f, \"tasks\": %zu, \"failed\": %zu, "
                "\"failed_gpus\": %.2f, \"window_allocated_ratio\": %.4f, "
                "\"window_unallocated_gpus\": %.2f, \"window_arrivals\": %zu}",
                i ? "," : "", p->arrived_load, p->allocated_ratio, p->unallocated_gpus,
                p->tasks, p->failed, p->failed_gpus, p->window_allocated_ratio,
                p->window_unallocated_gpus, p->window_arrivals);
    }
    fprintf(f, "\n  ]\n}\n");
}

void gt_inflate_write_table(FILE *f, const gt_inflate_result_t *r, bool timing)
{
    fprintf(f, "Inflation: placement %s, seed %llu, %.0f GPUs, %zu tasks sampled from %zu\n",
            sched_placement_name(r->placement), (unsigned long long)r->seed, r->capacity_gpus,
            r->tasks, r->population);
    fprintf(f, "%8s %10s %12s %8s %8s %14s\n", "ARRIVED", "ALLOCATED", "UNALLOCATED", "TASKS",
            "FAILED", "UNALLOC+-0.5%");
    for (size_t i = 0; i < r->npoints; i++) {
        const gt_inflate_point_t *p = &r->points[i];
        fprintf(f, "%7.0f%% %9.2f%% %12.1f %8zu %8zu %14.1f\n", 100 * p->arrived_load,
                100 * p->allocated_ratio, p->unallocated_gpus, p->tasks, p->failed,
                p->window_unallocated_gpus);
    }
    if (timing)
        fprintf(f, "wall %.2f s\n", r->wall_s);
}

/* ---- the plot ---- */

static void svg_escape(FILE *f, const char *s)
{
    for (; s && *s; s++) {
        if (*s == '<')
            fputs("&lt;", f);
        else if (*s == '>')
            fputs("&gt;", f);
        else if (*s == '&')
            fputs("&amp;", f);
        else if (*s == '"')
            fputs("&quot;", f);
        else
            fputc(*s, f);
    }
}

int gt_inflate_write_svg(const char *path, const char *title, const gt_inflate_series_t *series,
                         size_t nseries, gt_error_t *err)
{
    static const char *const colors[] = {"#1f77b4", "#d62728", "#2ca02c", "#9467bd",
                                         "#ff7f0e", "#8c564b", "#e377c2", "#17becf"};
    FILE *f = fopen(path, "w");
    if (!f)
        return gt_error_set(err, "io_error", "%s: %s", path, strerror(errno));
    double xmax = 100, ymax = 5;
    for (size_t i = 0; i < nseries; i++)
        for (size_t k = 0; k < series[i].n; k++) {
            if (series[i].load[k] > xmax)
                xmax = series[i].load[k];
        }
    /* the interesting part is the top of the load: plot from (xmax - 30)% where the lines
       leave the ideal, y up to the largest unallocated share there */
    double xmin = xmax - 30 > 0 ? xmax - 30 : 0;
    for (size_t i = 0; i < nseries; i++)
        for (size_t k = 0; k < series[i].n; k++)
            if (series[i].load[k] >= xmin && series[i].unalloc_pct[k] > ymax)
                ymax = series[i].unalloc_pct[k];
    ymax = ceil(ymax / 5) * 5;
    const double W = 720, H = 420, L = 70, R = 190, T = 40, B = 60;
    const double pw = W - L - R, ph = H - T - B;
#define X(v) (L + ((v) - xmin) / (xmax - xmin) * pw)
#define Y(v) (T + ph - (v) / ymax * ph)
    fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" "
            "viewBox=\"0 0 %.0f %.0f\" font-family=\"sans-serif\" font-size=\"12\">\n",
            W, H, W, H);
    fprintf(f, "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n");
    fprintf(f, "<text x=\"%.0f\" y=\"22\" font-size=\"14\">", L);
    svg_escape(f, title);
    fprintf(f, "</text>\n");
    for (double gx = ceil(xmin / 5) * 5; gx <= xmax + 1e-9; gx += 5) {
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/>\n",
                X(gx), T, X(gx), T + ph);
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%.0f</text>\n", X(gx),
                T + ph + 16, gx);
    }
    double ystep = ymax > 20 ? 5 : ymax > 10 ? 2 : 1;
    for (double gy = 0; gy <= ymax + 1e-9; gy += ystep) {
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/>\n",
                L, Y(gy), L + pw, Y(gy));
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%.0f</text>\n", L - 6,
                Y(gy) + 4, gy);
    }
    fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"none\" "
            "stroke=\"#444\"/>\n", L, T, pw, ph);
    fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">arrived load (%% of the "
            "cluster's GPUs)</text>\n", L + pw / 2, H - 18);
    fprintf(f, "<text transform=\"translate(18 %.1f) rotate(-90)\" text-anchor=\"middle\">"
            "unallocated GPUs (%% of capacity)</text>\n", T + ph / 2);
    /* the ideal: all that arrived is allocated, clipped to the plot */
    double ix0 = xmin, iy0 = 100 - xmin;
    if (iy0 > ymax)
        ix0 = 100 - ymax, iy0 = ymax;
    fprintf(f, "<polyline fill=\"none\" stroke=\"#888\" stroke-dasharray=\"4 4\" points=\""
            "%.1f,%.1f %.1f,%.1f %.1f,%.1f\"/>\n", X(ix0), Y(iy0), X(100), Y(0), X(xmax), Y(0));
    for (size_t i = 0; i < nseries; i++) {
        const char *c = colors[i % (sizeof(colors) / sizeof(*colors))];
        fprintf(f, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\" points=\"", c);
        bool first = true;
        for (size_t k = 0; k < series[i].n; k++) {
            double xv = series[i].load[k], yv = series[i].unalloc_pct[k];
            if (xv < xmin - 1e-9 || yv > ymax + 1e-9)
                continue;
            fprintf(f, "%s%.1f,%.1f", first ? "" : " ", X(xv), Y(yv));
            first = false;
        }
        fprintf(f, "\"/>\n");
        double ly = T + 14 + 20 * (double)i;
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" "
                "stroke-width=\"2\"/>\n", L + pw + 12, ly, L + pw + 36, ly, c);
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\">", L + pw + 42, ly + 4);
        svg_escape(f, series[i].name);
        fprintf(f, "</text>\n");
    }
    double ly = T + 14 + 20 * (double)nseries;
    fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#888\" "
            "stroke-dasharray=\"4 4\"/>\n", L + pw + 12, ly, L + pw + 36, ly);
    fprintf(f, "<text x=\"%.1f\" y=\"%.1f\">ideal</text>\n", L + pw + 42, ly + 4);
    fprintf(f, "</svg>\n");
#undef X
#undef Y
    if (fclose(f) != 0)
        return gt_error_set(err, "io_error", "%s: %s", path, strerror(errno));
    return 0;
}
