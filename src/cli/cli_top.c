/* cli_top.c: gantry top, a live view of the cluster in the terminal: nodes with a map of their
 * GPUs (which job holds each), teams (quota, limit, allocated, borrowed), and the queue
 * (running jobs with their elapsed time, pending ones with why they wait), refreshed in place
 * every --interval until Ctrl-C or --iterations frames. Built from the same API calls as the
 * other commands (GET /v1/nodes, /v1/teams, /v1/jobs), so a viewer token is enough.
 *
 * On a terminal each frame is redrawn over the last one (cursor home, each line cleared to its
 * end, the rest of the screen cleared) and the queue is cut to the window's height; written to
 * a pipe or a file, frames follow one another, each after a blank line, without escapes. */
#include <math.h>
#include <stdarg.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "cli/client.h"
#include "cli/commands.h"
#include "cli/joblist.h"
#include "cli/table.h"
#include "common/timefmt.h"

static const char help[] =
    "usage: gantry top [--interval SECONDS] [--iterations N] [--team TEAM]\n\n"
    "A live view of the cluster, refreshed in place: nodes and a map of their GPUs (the job\n"
    "holding each, '.' free), teams (quota, limit, allocated, borrowed GPUs, jobs), and the\n"
    "queue (running jobs with ELAPSED, pending ones with the REASON they wait). Ctrl-C quits.\n"
    "--interval: seconds between frames (default 2, at least 0.1).\n"
    "--iterations: stop after N frames (default: run until Ctrl-C).\n"
    "--team: only this team's jobs in the queue.\n"
    "A viewer token is enough (gantry token create --role viewer).\n";

static volatile sig_atomic_t stop;
static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

typedef struct frame {
    gt_buf_t out;
    bool tty;
} frame_t;

/* Appends one line (printf-style) to the frame; on a terminal, cleared to its end. */
__attribute__((format(printf, 2, 3))) static void line(frame_t *f, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    gt_buf_vprintf(&f->out, fmt, ap);
    va_end(ap);
    gt_buf_printf(&f->out, "%s\n", f->tty ? "\033[K" : "");
}

/* A table into the frame, one line at a time (so that each is cleared to its end). */
static void table_out(frame_t *f, cli_table_t *t)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&buf, &len);
    cli_table_print(t, m);
    fclose(m);
    for (char *p = buf, *nl; p && *p; p = nl + 1) {
        nl = strchr(p, '\n');
        if (!nl)
            nl = p + strlen(p) - 1;
        line(f, "%.*s", (int)(nl - p + (*nl == '\n' ? 0 : 1)), p);
    }
    free(buf);
}

/* GET path into *out; false with the error in err. */
static bool get(const cli_t *c, const char *path, json_t **out, gt_buf_t *err)
{
    gt_error_t e = {0};
    int st = cli_request(c, "GET", path, NULL, NULL, out, &e);
    if (st == 200)
        return true;
    const char *msg = st < 0 ? e.msg
                             : json_string_value(json_object_get(
                                   json_object_get(*out, "error"), "message"));
    gt_buf_printf(err, "GET %s: %s", path, msg ? msg : "request failed");
    json_decref(*out);
    *out = NULL;
    return false;
}

/* node name -> array of GPU cells (job id or "."), from running jobs' placements. */
static json_t *gpu_map(json_t *nodes, json_t *running)
{
    json_t *map = json_object();
    size_t i, k;
    json_t *n, *j;
    json_array_foreach(nodes, i, n)
    {
        json_t *cells = json_array();
        for (json_int_t g = 0; g < json_integer_value(json_object_get(n, "gpus")) && g < 64; g++)
            json_array_append_new(cells, json_string("."));
        json_object_set_new(map, cli_str(n, "name", ""), cells);
    }
    json_array_foreach(running, i, j)
    {
        json_t *p;
        char id[32];
        snprintf(id, sizeof(id), "%lld", (long long)json_integer_value(json_object_get(j, "id")));
        json_array_foreach(json_object_get(j, "placement"), k, p)
        {
            json_t *cells = json_object_get(map, cli_str(p, "node", ""));
            size_t x;
            json_t *g;
            json_array_foreach(json_object_get(p, "gpus"), x, g)
            {
                size_t gi = (size_t)json_integer_value(g);
                if (cells && gi < json_array_size(cells))
                    json_array_set_new(cells, gi, json_string(id));
            }
        }
    }
    return map;
}

static int term_rows(void)
{
    struct winsize w;
    if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &w) == 0 && w.ws_row > 0)
        return w.ws_row;
    return 0;
}

static void draw(const cli_t *c, frame_t *f, const char *team, int frame_no)
{
    gt_buf_t err = {0};
    json_t *nodes_r = NULL, *teams_r = NULL, *run_r = NULL, *pend_r = NULL;
    char path[512], now_s[48];
    char *team_q = team ? cli_escape(team) : NULL;
    double now = (double)time(NULL);
    line(f, "gantry top   %s   %s   frame %d", c->server, gt_time_local(now, now_s,
                                                                      sizeof(now_s)),
         frame_no);
    bool ok = get(c, "/v1/nodes", &nodes_r, &err) && get(c, "/v1/teams", &teams_r, &err);
    snprintf(path, sizeof(path), "/v1/jobs?state=running&limit=1000%s%s",
             team_q ? "&team=" : "", team_q ? team_q : "");
    ok = ok && get(c, path, &run_r, &err);
    snprintf(path, sizeof(path), "/v1/jobs?state=pending&limit=1000%s%s",
             team_q ? "&team=" : "", team_q ? team_q : "");
    ok = ok && get(c, path, &pend_r, &err);
    free(team_q);
    if (!ok) {
        line(f, "%s", "");
        line(f, "cannot read the cluster: %s", err.data ? err.data : "?");
        goto out;
    }
    json_t *nodes = json_object_get(nodes_r, "nodes"), *teams = json_object_get(teams_r, "teams");
    json_t *running = json_object_get(run_r, "jobs"), *pending = json_object_get(pend_r, "jobs");

    /* Summary. */
    int up = 0, down = 0;
    long long gpus = 0, free_g = 0;
    size_t i;
    json_t *n;
    json_array_foreach(nodes, i, n)
    {
        bool is_up = !strcmp(cli_str(n, "state", ""), "up");
        up += is_up;
        down += !is_up;
        if (is_up) {
            gpus += json_integer_value(json_object_get(n, "gpus"));
            free_g += json_integer_value(json_object_get(n, "gpus_free"));
        }
    }
    line(f, "Nodes: %d up, %d down   GPUs of up nodes: %lld total, %lld allocated, %lld free   "
            "Jobs: %lld running, %lld pending",
         up, down, gpus, gpus - free_g, free_g,
         (long long)json_integer_value(json_object_get(run_r, "total")),
         (long long)json_integer_value(json_object_get(pend_r, "total")));
    line(f, "%s", "");

    /* Nodes and their GPUs. */
    json_t *map = gpu_map(nodes, running);
    const char *nh[] = {"NODE", "STATE", "TYPE", "GPUS", "FREE", "UTIL", "GPU MAP (job per GPU)"};
    cli_table_t *t = cli_table_new(7, nh);
    json_array_foreach(nodes, i, n)
    {
        char g[16], fr[16], util[16] = "-";
        gt_buf_t cells = {0};
        snprintf(g, sizeof(g), "%lld", (long long)json_integer_value(json_object_get(n, "gpus")));
        snprintf(fr, sizeof(fr), "%lld",
                 (long long)json_integer_value(json_object_get(n, "gpus_free")));
        double sum = 0;
        int cnt = 0;
        size_t k;
        json_t *s;
        json_array_foreach(json_object_get(n, "gpu_stats"), k, s)
        {
            json_t *u = json_object_get(s, "utilization");
            if (json_is_number(u) && json_number_value(u) >= 0) {
                sum += json_number_value(u);
                cnt++;
            }
        }
        if (cnt)
            snprintf(util, sizeof(util), "%.0f%%", 100 * sum / cnt);
        json_t *cl;
        json_array_foreach(json_object_get(map, cli_str(n, "name", "")), k, cl)
            gt_buf_printf(&cells, "%s%s", k ? " " : "", json_string_value(cl));
        const char *row[] = {cli_str(n, "name", ""), cli_str(n, "state", ""), cli_str(n, "gpu_type", "-"),
                             g, fr, util, cells.data ? cells.data : "-"};
        cli_table_add(t, row);
        gt_buf_free(&cells);
    }
    table_out(f, t);
    cli_table_free(t);
    json_decref(map);
    line(f, "%s", "");

    /* Teams. */
    const char *th[] = {"TEAM", "QUOTA", "LIMIT", "ALLOCATED", "BORROWED", "RUNNING", "PENDING"};
    t = cli_table_new(7, th);
    json_array_foreach(teams, i, n)
    {
        char q[24], l[24], a[24], b[24], r[24], p[24];
        double quota = json_number_value(json_object_get(n, "quota")),
               limit = json_number_value(json_object_get(n, "limit")),
               alloc = json_number_value(json_object_get(n, "allocated"));
        snprintf(q, sizeof(q), "%g", quota);
        snprintf(l, sizeof(l), limit < 0 ? "none" : "%g", limit);
        snprintf(a, sizeof(a), "%g", alloc);
        snprintf(b, sizeof(b), "%g", alloc > quota ? alloc - quota : 0);
        snprintf(r, sizeof(r), "%lld", (long long)json_integer_value(json_object_get(n, "running")));
        snprintf(p, sizeof(p), "%lld", (long long)json_integer_value(json_object_get(n, "pending")));
        const char *row[] = {cli_str(n, "name", ""), q, l, a, b, r, p};
        cli_table_add(t, row);
    }
    table_out(f, t);
    cli_table_free(t);
    line(f, "%s", "");

    /* The queue: running first, then pending, cut to the terminal's height. */
    int rows = f->tty ? term_rows() : 0;
    size_t used = 0;
    for (const char *p = f->out.data; p && *p; p++)
        used += *p == '\n';
    size_t room = rows ? (rows > (int)used + 3 ? (size_t)rows - used - 3 : 1) : 50;
    size_t total = json_array_size(running) + json_array_size(pending), shown = 0;
    const char *qh[] = {"ID", "NAME", "TEAM", "USER", "STATE", "GPUS", "ELAPSED", "REASON"};
    t = cli_table_new(8, qh);
    for (int pass = 0; pass < 2; pass++) {
        json_t *list = pass ? pending : running, *j;
        json_array_foreach(list, i, j)
        {
            if (shown >= room)
                break;
            char id[32], g[32], el[32] = "-";
            snprintf(id, sizeof(id), "%lld", (long long)json_integer_value(json_object_get(j, "id")));
            double st = json_number_value(json_object_get(j, "start_time"));
            if (!pass && st > 0)
                gt_format_elapsed((int64_t)(now - st), el, sizeof(el));
            const char *name = cli_str(j, "name", "");
            const char *row[] = {id, *name ? name : "-", cli_str(j, "team", ""), cli_str(j, "user", ""),
                                 cli_str(j, "state", ""), cli_job_gpus_cell(j, g, sizeof(g)), el,
                                 pass ? cli_str(j, "pending_reason", "-") : ""};
            cli_table_add(t, row);
            shown++;
        }
    }
    table_out(f, t);
    cli_table_free(t);
    if (shown < total)
        line(f, "... and %zu more (gantry queue lists them all)", total - shown);
out:
    json_decref(nodes_r);
    json_decref(teams_r);
    json_decref(run_r);
    json_decref(pend_r);
    gt_buf_free(&err);
}

int cmd_top(int argc, char **argv)
{
    cli_t c;
    if (cli_init(&c, &argc, argv, "top") < 0)
        return 2;
    double interval = 2;
    long iterations = 0;
    const char *team = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            fputs(help, stdout);
            return 0;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "gantry top: %s needs a value\n%s", argv[i], help);
            return 2;
        }
        char *end;
        if (!strcmp(argv[i], "--interval")) {
            interval = strtod(argv[++i], &end);
            if (*end || end == argv[i] || !(interval >= 0.1) || interval > 86400) {
                fprintf(stderr, "gantry top: --interval %s: give seconds, 0.1 or more\n",
                        argv[i]);
                return 2;
            }
        } else if (!strcmp(argv[i], "--iterations") || !strcmp(argv[i], "-n")) {
            iterations = strtol(argv[++i], &end, 10);
            if (*end || end == argv[i] || iterations < 1) {
                fprintf(stderr, "gantry top: --iterations %s: give a count, 1 or more\n",
                        argv[i]);
                return 2;
            }
        } else if (!strcmp(argv[i], "--team")) {
            team = argv[++i];
        } else {
            fprintf(stderr, "gantry top: unknown option %s\n%s", argv[i], help);
            return 2;
        }
    }
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    bool tty = isatty(STDOUT_FILENO);
    if (tty)
        fputs("\033[?25l\033[2J", stdout);   /* hide the cursor, clear once */
    int rc = 0;
    for (long k = 1; !stop && (!iterations || k <= iterations); k++) {
        frame_t f = {.tty = tty};
        draw(&c, &f, team, (int)k);
        if (tty)
            printf("\033[H%s\033[J", f.out.data ? f.out.data : "");
        else
            printf("%s%s", k > 1 ? "\n" : "", f.out.data ? f.out.data : "");
        fflush(stdout);
        if (f.out.data && strstr(f.out.data, "cannot read the cluster:"))
            rc = 1;
        else
            rc = 0;
        gt_buf_free(&f.out);
        if (iterations && k == iterations)
            break;
        /* The refresh period of a display (not a synchronisation); Ctrl-C cuts it short. */
        struct timespec ts = {(time_t)interval,
                              (long)((interval - floor(interval)) * 1e9)};
        while (!stop && nanosleep(&ts, &ts) < 0)
            ;
    }
    if (tty)
        fputs("\033[?25h", stdout);
    return rc;
}
