/* cli_interactive.c: gantry run -it, gantry exec, gantry port-forward (docs/interactive.md):
 * a terminal, a command or a TCP port inside a job, through the server (common/upgrade.h for
 * the connection, common/ttywire.h for the frames). */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "cli/client.h"
#include "cli/commands.h"
#include "common/ttywire.h"
#include "common/upgrade.h"

#define ATTACH_PROTO "gantry-attach"

static int sig_pipe[2] = {-1, -1};
static struct termios saved_tio;
static bool raw_mode;

static void on_signal(int sig)
{
    int e = errno;
    unsigned char b = (unsigned char)sig;
    if (sig_pipe[1] >= 0)
        (void)!write(sig_pipe[1], &b, 1);
    errno = e;
}

static void restore_tty(void)
{
    if (raw_mode) {
        tcsetattr(0, TCSAFLUSH, &saved_tio);
        raw_mode = false;
    }
}

static gt_transport_t transport_of(const cli_t *c)
{
    return (gt_transport_t){.ca_file = c->ca_file[0] ? c->ca_file : NULL,
                            .allow_plaintext = c->allow_plaintext};
}

static void winsize(int *rows, int *cols)
{
    struct winsize ws = {0};
    if (ioctl(0, TIOCGWINSZ, &ws) == 0 && ws.ws_row && ws.ws_col) {
        *rows = ws.ws_row;
        *cols = ws.ws_col;
    } else {
        *rows = 24;
        *cols = 80;
    }
}

static bool write_all(int fd, const char *d, size_t n)
{
    while (n) {
        ssize_t w = write(fd, d, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return false;
        d += w;
        n -= (size_t)w;
    }
    return true;
}

/* Opens the upgraded connection to path with body; prints the refusal. NULL on failure
 * (*rc: the command's exit status). */
static gt_upgrade_t *open_stream(const cli_t *c, const char *cmd, const char *path,
                                 json_t *body, int *rc)
{
    gt_transport_t tp = transport_of(c);
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    gt_upgrade_t *u = NULL;
    long status = 0;
    json_t *answer = NULL;
    gt_error_t err = {0};
    int r = gt_upgrade_open(c->server, path, c->token, &tp, ATTACH_PROTO, text, 15000, &u,
                            &status, &answer, &err);
    free(text);
    if (r < 0) {
        fprintf(stderr, "gantry %s: %s\n", cmd, err.msg);
        *rc = 1;
        return NULL;
    }
    if (r > 0) {
        cli_print_error(cmd, (int)status, answer);
        json_decref(answer);
        *rc = 1;
        return NULL;
    }
    return u;
}

/* Relays the terminal (or stdin, stdout, stderr) and the stream of job's session until the
 * command's status comes; returns it (255 when the connection was lost first: a session that
 * outlives its client, whose id the server sent, is then named for gantry attach). */
static int attach_loop(gt_upgrade_t *u, bool tty, bool with_stdin, const char *job)
{
    char sid[33] = "";
    if (pipe2(sig_pipe, O_CLOEXEC | O_NONBLOCK) < 0)
        return 255;
    struct sigaction sa = {.sa_handler = on_signal};
    sigemptyset(&sa.sa_mask);
    int sigs[] = {SIGWINCH, SIGINT, SIGTERM, SIGHUP, SIGQUIT};
    for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
        sigaction(sigs[i], &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    if (tty && isatty(0) && tcgetattr(0, &saved_tio) == 0) {
        struct termios raw = saved_tio;
        cfmakeraw(&raw);
        /* TCSADRAIN, not TCSAFLUSH: what was typed while the job waited goes to it */
        if (tcsetattr(0, TCSADRAIN, &raw) == 0) {
            raw_mode = true;
            atexit(restore_tty);
        }
    }
    tty_reader_t rd = {0};
    bool in_open = with_stdin;
    int status = -1;
    char buf[16384];
    while (status < 0) {
        struct pollfd p[3] = {{.fd = gt_upgrade_fd(u), .events = POLLIN},
                              {.fd = in_open ? 0 : -1, .events = POLLIN},
                              {.fd = sig_pipe[0], .events = POLLIN}};
        if (!gt_upgrade_pending(u) && poll(p, 3, -1) < 0 && errno != EINTR)
            break;
        if (p[2].revents) {
            unsigned char s;
            while (read(sig_pipe[0], &s, 1) == 1) {
                if (s == SIGWINCH) {
                    int rows, cols;
                    winsize(&rows, &cols);
                    unsigned char w[4] = {(unsigned char)(rows >> 8), (unsigned char)rows,
                                          (unsigned char)(cols >> 8), (unsigned char)cols};
                    tty_frame_send(u, TTY_WINCH, w, 4);
                } else {
                    tty_frame_send(u, TTY_SIGNAL, &s, 1);
                }
            }
        }
        if (in_open && p[1].revents) {
            ssize_t r = read(0, buf, sizeof(buf));
            if (r > 0) {
                if (tty_frame_send(u, TTY_IN, buf, (size_t)r) < 0)
                    break;
            } else if (r == 0 || errno != EINTR) {
                in_open = false;
                tty_frame_send(u, TTY_EOF, NULL, 0);
            }
        }
        if (gt_upgrade_pending(u) || p[0].revents) {
            bool gone = tty_reader_drain(&rd, u) < 0;
            char type;
            const char *d;
            size_t n;
            while (status < 0 && tty_reader_next(&rd, &type, &d, &n) > 0) {
                if (type == TTY_OUT)
                    write_all(1, d, n);
                else if (type == TTY_ERR || type == TTY_MSG)
                    write_all(2, d, n);
                else if (type == TTY_EXIT && n == 4)
                    status = (unsigned char)d[3];
                else if (type == TTY_SESSION && n < sizeof(sid))
                    snprintf(sid, sizeof(sid), "%.*s", (int)n, d);
            }
            if (gone && status < 0)
                break;
        }
    }
    tty_reader_free(&rd);
    restore_tty();
    if (status < 0 && sid[0]) {
        fprintf(stderr, "gantry: the connection to the session was lost; unless the server went "
                        "down, its command runs on, detached: gantry attach %s --exec %s\n", job, sid);
        return 255;
    }
    if (status < 0) {
        fprintf(stderr, "gantry: the connection to the session was lost\n");
        return 255;
    }
    return status;
}

/* The fields of an attach request: command (may be NULL), tty, the terminal's size and TERM. */
static json_t *attach_body(json_t *command, bool tty)
{
    json_t *b = json_object();
    if (command)
        json_object_set(b, "command", command);
    json_object_set_new(b, "tty", json_boolean(tty));
    if (tty) {
        int rows, cols;
        winsize(&rows, &cols);
        json_object_set_new(b, "rows", json_integer(rows));
        json_object_set_new(b, "cols", json_integer(cols));
        const char *term = getenv("TERM");
        if (term && *term && strlen(term) < 64)
            json_object_set_new(b, "term", json_string(term));
    }
    return b;
}

static const char exec_help[] =
    "usage: gantry exec JOB [-i] [-t] -- COMMAND [ARGS...]\n"
    "Runs COMMAND inside running job JOB, as `kubectl exec` does: in its cgroup, as its Unix\n"
    "user, in its namespaces or container, with its environment; through the server (the\n"
    "node need not be reachable from here). Exits with the command's status.\n"
    "  -i, --stdin   send this terminal's input to the command\n"
    "  -t, --tty     a pseudo-terminal on the node (raw mode here; window size and signals\n"
    "                follow); -it for a shell\n"
    "With -t the command outlives this client: if its connection drops (or this process is\n"
    "killed), the command runs on, detached, and `gantry attach JOB --exec ID` takes it back\n"
    "(ID: printed here when the connection drops; gantry attach JOB --list). A detached one\n"
    "ends with the job or after its class's session_idle_timeout without input. Without -t\n"
    "the command ends with this client (it is hung up).\n"
    "Only the job's team and admins may; every exec is in the audit log (gantry audit).\n";

int cmd_exec(int argc, char **argv)
{
    cli_t c;
    if (cli_init(&c, &argc, argv, "exec") < 0)
        return 2;
    static const struct option opts[] = {{"stdin", no_argument, 0, 'i'},
                                         {"tty", no_argument, 0, 't'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    bool in = false, tty = false;
    int o;
    optind = 1;
    while ((o = getopt_long(argc, argv, "+ith", opts, NULL)) != -1) {
        switch (o) {
        case 'i': in = true; break;
        case 't': tty = true; break;
        case 'h': printf("%s", exec_help); return 0;
        default: fprintf(stderr, "%s", exec_help); return 2;
        }
    }
    if (optind < argc && !strcmp(argv[optind], "--"))
        optind++;
    if (optind >= argc) {
        fprintf(stderr, "%s", exec_help);
        return 2;
    }
    char ref[48];
    if (cli_job_ref("exec", argv[optind++], ref, sizeof(ref)) < 0)
        return 2;
    if (optind < argc && !strcmp(argv[optind], "--"))
        optind++;
    if (optind >= argc) {
        fprintf(stderr, "gantry exec: give the command to run after --\n");
        return 2;
    }
    json_t *cmd = json_array();
    for (int i = optind; i < argc; i++)
        json_array_append_new(cmd, json_string(argv[i]));
    json_t *body = attach_body(cmd, tty);
    json_decref(cmd);
    char path[128];
    snprintf(path, sizeof(path), "/v1/jobs/%s/attach", ref);
    int rc = 1;
    gt_upgrade_t *u = open_stream(&c, "exec", path, body, &rc);
    json_decref(body);
    if (!u)
        return rc;
    rc = attach_loop(u, tty, in || tty, ref);
    gt_upgrade_close(u);
    return rc;
}

/* ---- gantry attach ---- */

static const char attach_help[] =
    "usage: gantry attach JOB [--exec ID]\n"
    "       gantry attach JOB --list\n"
    "Attaches this terminal to the session of interactive job JOB (gantry run -it) whose\n"
    "client left (its connection dropped): its command ran on meanwhile; what it wrote is\n"
    "shown first. A client still attached to it is detached (this one takes it over). A job\n"
    "whose session never started gets one. Within the job's idle timeout: a detached session\n"
    "has no input, and the job ends after its class's session_idle_timeout while its GPUs are\n"
    "idle. Exits with the command's status.\n"
    "  --exec ID   the session of `gantry exec -it JOB` with this id (its first 8 or more\n"
    "              digits) instead: any job's; it ends after the class's session_idle_timeout\n"
    "              detached without input (the job goes on)\n"
    "  --list      the job's sessions open now: their ids, who opened them, detached or not\n";

/* gantry attach JOB --list: GET /v1/jobs/JOB/sessions as a table. */
static int list_sessions(const cli_t *c, const char *ref)
{
    char path[128];
    snprintf(path, sizeof(path), "/v1/jobs/%s/sessions", ref);
    json_t *o = NULL;
    gt_error_t err = {0};
    int st = cli_request(c, "GET", path, NULL, NULL, &o, &err);
    if (st != 200)
        return cli_fail_request("attach", st, o, &err);
    json_t *list = json_object_get(o, "sessions");
    printf("%-32s  %-7s  %-8s  %-12s  %6s  %s\n", "SESSION", "MODE", "STATE", "USER", "IDLE",
           "COMMAND");
    size_t i;
    json_t *v;
    json_array_foreach(list, i, v)
    {
        gt_buf_t cmd = {0};
        size_t k;
        json_t *w;
        json_array_foreach(json_object_get(v, "command"), k, w)
        {
            if (k)
                gt_buf_append(&cmd, " ", 1);
            const char *a = json_string_value(w);
            gt_buf_append(&cmd, a, strlen(a));
        }
        gt_buf_append(&cmd, "", 1);
        printf("%-32s  %-7s  %-8s  %-12s  %5llds  %s\n",
               json_string_value(json_object_get(v, "id")),
               json_string_value(json_object_get(v, "mode")),
               json_string_value(json_object_get(v, "state")),
               json_string_value(json_object_get(v, "user")),
               (long long)json_integer_value(json_object_get(v, "idle_s")), cmd.data);
        gt_buf_free(&cmd);
    }
    json_decref(o);
    return 0;
}

int cmd_attach(int argc, char **argv)
{
    cli_t c;
    if (cli_init(&c, &argc, argv, "attach") < 0)
        return 2;
    static const struct option opts[] = {{"exec", required_argument, 0, 'x'},
                                         {"list", no_argument, 0, 'l'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    const char *want = NULL;
    bool list = false;
    int o;
    optind = 1;
    while ((o = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (o) {
        case 'x': want = optarg; break;
        case 'l': list = true; break;
        case 'h': printf("%s", attach_help); return 0;
        default: fprintf(stderr, "%s", attach_help); return 2;
        }
    }
    if (optind != argc - 1 || (want && list)) {
        fprintf(stderr, "%s", attach_help);
        return 2;
    }
    char ref[48];
    if (cli_job_ref("attach", argv[optind], ref, sizeof(ref)) < 0)
        return 2;
    if (list)
        return list_sessions(&c, ref);
    bool tty = isatty(0);
    json_t *body = attach_body(NULL, tty);
    if (want)
        json_object_set_new(body, "session", json_string(want));
    char path[128];
    snprintf(path, sizeof(path), "/v1/jobs/%s/attach", ref);
    int rc = 1;
    gt_upgrade_t *u = open_stream(&c, "attach", path, body, &rc);
    json_decref(body);
    if (!u)
        return rc;
    rc = attach_loop(u, tty, true, ref);
    gt_upgrade_close(u);
    return rc;
}

/* ---- gantry run ---- */

static const char run_help[] =
    "usage: gantry run [-i] [-t] [--gpus N] [OPTIONS] -- COMMAND [ARGS...]\n"
    "Submits an interactive job (kind: interactive) and, like `srun --pty`, waits in the queue\n"
    "(its reason shown), then attaches this terminal to COMMAND on the node through the\n"
    "server. The job ends when COMMAND exits (its status is gantry run's), at its time limit,\n"
    "or after its class's session_idle_timeout without input while its GPUs are idle; it\n"
    "holds its GPUs only while it lives. Ctrl-C while it waits cancels it.\n"
    "  -i, --stdin            send this terminal's input     -t, --tty  a pseudo-terminal\n"
    "  -g, --gpus N           GPUs (default 0)     --gpu-type T   acceptable GPU type\n"
    "  -c, --cpus N           CPUs                 -m, --memory SIZE   memory (64Gi)\n"
    "      --time T           time limit (4h, 90m) -p, --class CLASS   priority class\n"
    "      --team TEAM        team                 -n, --name NAME     job name\n"
    "  -e, --env K=V          environment (repeatable)\n"
    "      --image IMG        run in a container of this OCI image (docker://, oci:, ...)\n"
    "      --network none|host  none: a network namespace of its own (loopback only)\n";

/* The job's state; prints its pending reason when it changes. 0 pending, 1 running, -1 it
 * ended or cannot be read (printed). */
static int job_phase(const cli_t *c, const char *id, char *last, size_t lastlen)
{
    char path[96];
    snprintf(path, sizeof(path), "/v1/jobs/%s", id);
    json_t *o = NULL;
    gt_error_t err = {0};
    int st = cli_request(c, "GET", path, NULL, NULL, &o, &err);
    if (st != 200) {
        cli_fail_request("run", st, o, &err);
        return -1;
    }
    const char *state = json_string_value(json_object_get(o, "state"));
    int rc = 0;
    if (state && !strcmp(state, "running")) {
        rc = 1;
    } else if (state && strcmp(state, "pending")) {
        const char *why = json_string_value(json_object_get(o, "end_message"));
        fprintf(stderr, "gantry run: job %s ended before it started: %s%s%s\n", id, state,
                why ? ": " : "", why ? why : "");
        rc = -1;
    } else {
        const char *r = json_string_value(json_object_get(o, "pending_reason"));
        const char *m = json_string_value(json_object_get(o, "pending_message"));
        char now[512];
        snprintf(now, sizeof(now), "%s%s%s", r ? r : "queued", m ? ": " : "", m ? m : "");
        if (strcmp(now, last)) {
            fprintf(stderr, "gantry run: job %s is waiting: %s\n", id, now);
            snprintf(last, lastlen, "%s", now);
        }
    }
    json_decref(o);
    return rc;
}

static void cancel_job(const cli_t *c, const char *id)
{
    char path[96];
    snprintf(path, sizeof(path), "/v1/jobs/%s", id);
    json_t *o = NULL;
    gt_error_t err = {0};
    cli_request(c, "DELETE", path, NULL, NULL, &o, &err);
    json_decref(o);
}

static volatile sig_atomic_t interrupted;
static void on_interrupt(int sig) { interrupted = sig; }

int cmd_run(int argc, char **argv)
{
    cli_t c;
    if (cli_init(&c, &argc, argv, "run") < 0)
        return 2;
    static const struct option opts[] = {
        {"stdin", no_argument, 0, 'i'},          {"tty", no_argument, 0, 't'},
        {"gpus", required_argument, 0, 'g'},     {"gpu-type", required_argument, 0, 'T'},
        {"cpus", required_argument, 0, 'c'},     {"memory", required_argument, 0, 'm'},
        {"time", required_argument, 0, 'L'},     {"class", required_argument, 0, 'p'},
        {"team", required_argument, 0, 'A'},     {"name", required_argument, 0, 'n'},
        {"env", required_argument, 0, 'e'},      {"help", no_argument, 0, 'h'},
        {"image", required_argument, 0, 'I'},    {"network", required_argument, 0, 'N'},
        {0, 0, 0, 0}};
    json_t *job = json_pack("{s:s}", "kind", "interactive");
    bool in = false, tty = false;
    int o, rc = 2;
    optind = 1;
    while ((o = getopt_long(argc, argv, "+itg:c:m:p:n:e:h", opts, NULL)) != -1) {
        switch (o) {
        case 'i': in = true; break;
        case 't': tty = true; break;
        case 'g': json_object_set_new(job, "gpus", json_string(optarg)); break;
        case 'T': {
            json_t *a = json_object_get(job, "gpu_type");
            if (!a)
                json_object_set_new(job, "gpu_type", a = json_array());
            json_array_append_new(a, json_string(optarg));
            break;
        }
        case 'c': json_object_set_new(job, "cpus", json_string(optarg)); break;
        case 'm': json_object_set_new(job, "memory", json_string(optarg)); break;
        case 'L': json_object_set_new(job, "time_limit", json_string(optarg)); break;
        case 'p': json_object_set_new(job, "priority_class", json_string(optarg)); break;
        case 'A': json_object_set_new(job, "team", json_string(optarg)); break;
        case 'n': json_object_set_new(job, "name", json_string(optarg)); break;
        case 'I': json_object_set_new(job, "image", json_string(optarg)); break;
        case 'N': json_object_set_new(job, "network", json_string(optarg)); break;
        case 'e':
            if (cli_env_arg(job, optarg) < 0) {
                fprintf(stderr, "gantry run: --env '%s' must be NAME=VALUE\n", optarg);
                goto out;
            }
            break;
        case 'h': printf("%s", run_help); rc = 0; goto out;
        default: fprintf(stderr, "%s", run_help); goto out;
        }
    }
    if (optind < argc && !strcmp(argv[optind], "--"))
        optind++;
    if (optind >= argc) {
        fprintf(stderr, "gantry run: give the command after --, such as gantry run -it -- "
                        "bash\n");
        goto out;
    }
    if (!json_object_get(job, "gpus"))
        json_object_set_new(job, "gpus", json_integer(0));
    json_t *cmd = json_array();
    for (int i = optind; i < argc; i++)
        json_array_append_new(cmd, json_string(argv[i]));
    json_object_set_new(job, "command", cmd);
    if (!json_object_get(job, "name"))
        json_object_set_new(job, "name", json_string("interactive"));
    json_t *resp = NULL;
    gt_error_t err = {0};
    int st = cli_request(&c, "POST", "/v1/jobs", job, NULL, &resp, &err);
    if (st != 200 && st != 201) {
        rc = cli_fail_request("run", st, resp, &err);
        goto out;
    }
    char id[32];
    snprintf(id, sizeof(id), "%lld", (long long)json_integer_value(json_object_get(resp, "id")));
    json_decref(resp);
    /* Wait for it to run: the first looks come quickly (an idle cluster starts it within a
     * scheduling pass), then every 250 ms at most. Ctrl-C cancels it. */
    struct sigaction sa = {.sa_handler = on_interrupt};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    char last[512] = "";
    double wait_s = 0.002;
    int phase;
    while ((phase = job_phase(&c, id, last, sizeof(last))) == 0 && !interrupted) {
        struct timespec ts = {0, (long)(wait_s * 1e9)};
        nanosleep(&ts, NULL);
        wait_s = wait_s * 1.5 > 0.25 ? 0.25 : wait_s * 1.5;
    }
    if (interrupted) {
        cancel_job(&c, id);
        fprintf(stderr, "gantry run: interrupted: job %s cancelled\n", id);
        rc = 130;
        goto out;
    }
    if (phase < 0) {
        rc = 1;
        goto out;
    }
    char path[96];
    snprintf(path, sizeof(path), "/v1/jobs/%s/attach", id);
    json_t *body = attach_body(NULL, tty);
    gt_upgrade_t *u = open_stream(&c, "run", path, body, &rc);
    json_decref(body);
    if (!u) {
        cancel_job(&c, id);
        goto out;
    }
    rc = attach_loop(u, tty, in || tty, id);
    gt_upgrade_close(u);
out:
    json_decref(job);
    return rc;
}

/* ---- gantry port-forward ---- */

static const char pf_help[] =
    "usage: gantry port-forward JOB [LOCAL:]REMOTE\n"
    "Listens on 127.0.0.1:LOCAL (default: REMOTE) and forwards each connection to port REMOTE\n"
    "on loopback inside running job JOB (its network namespace), through the server, as\n"
    "`kubectl port-forward` does: for notebooks and TensorBoard. Runs until interrupted.\n"
    "Only the job's team and admins may; each connection is in the audit log.\n";

static int parse_port(const char *s)
{
    char *end;
    long v = strtol(s, &end, 10);
    return (*s && !*end && v >= 0 && v <= 65535) ? (int)v : -1;
}

int cmd_port_forward(int argc, char **argv)
{
    cli_t c;
    if (cli_init(&c, &argc, argv, "port-forward") < 0)
        return 2;
    if (argc > 1 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
        printf("%s", pf_help);
        return 0;
    }
    if (argc != 3) {
        fprintf(stderr, "%s", pf_help);
        return 2;
    }
    char ref[48];
    if (cli_job_ref("port-forward", argv[1], ref, sizeof(ref)) < 0)
        return 2;
    const char *colon = strchr(argv[2], ':');
    int local, remote;
    if (colon) {
        char l[16];
        snprintf(l, sizeof(l), "%.*s", (int)(colon - argv[2]), argv[2]);
        local = parse_port(l);
        remote = parse_port(colon + 1);
    } else {
        local = remote = parse_port(argv[2]);
    }
    if (local < 0 || remote < 1) {
        fprintf(stderr, "gantry port-forward: '%s' must be LOCAL:REMOTE or PORT (ports from 1 "
                        "to 65535; LOCAL 0 picks a free one)\n", argv[2]);
        return 2;
    }
    char path[128];
    snprintf(path, sizeof(path), "/v1/jobs/%s/port-forward", ref);
    json_t *body = json_pack("{s:i}", "port", remote);
    /* Asked once without the upgrade: the server says whether this job may be reached (426:
     * yes) before anything listens here. */
    json_t *resp = NULL;
    gt_error_t err = {0};
    int st = cli_request(&c, "POST", path, body, NULL, &resp, &err);
    if (st != 426) {
        json_decref(body);
        return cli_fail_request("port-forward", st, resp, &err);
    }
    json_decref(resp);
    int ls = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)local),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t sl = sizeof(sa);
    if (ls < 0 || bind(ls, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(ls, 64) < 0 ||
        getsockname(ls, (struct sockaddr *)&sa, &sl) < 0) {
        fprintf(stderr, "gantry port-forward: cannot listen on 127.0.0.1:%d: %s\n", local,
                strerror(errno));
        json_decref(body);
        return 1;
    }
    printf("Forwarding from 127.0.0.1:%d -> job %s port %d\n", ntohs(sa.sin_port), ref, remote);
    fflush(stdout);
    signal(SIGCHLD, SIG_IGN); /* connections' processes reap themselves */
    signal(SIGPIPE, SIG_IGN);
    for (;;) {
        int cs = accept4(ls, NULL, NULL, SOCK_CLOEXEC);
        if (cs < 0) {
            if (errno == EINTR)
                continue;
            fprintf(stderr, "gantry port-forward: accept: %s\n", strerror(errno));
            break;
        }
        pid_t p = fork();
        if (p == 0) {
            close(ls);
            int rc = 1;
            gt_upgrade_t *u = open_stream(&c, "port-forward", path, body, &rc);
            if (!u)
                _exit(rc);
            /* Raw bytes both ways until both sides closed. */
            char buf[32768];
            bool up_open = true, cs_open = true;
            while (up_open && cs_open) {
                struct pollfd q[2] = {{.fd = gt_upgrade_fd(u), .events = POLLIN},
                                      {.fd = cs, .events = POLLIN}};
                if (!gt_upgrade_pending(u) && poll(q, 2, -1) < 0 && errno != EINTR)
                    break;
                if (gt_upgrade_pending(u) || q[0].revents) {
                    for (;;) {
                        ssize_t r = gt_upgrade_recv(u, buf, sizeof(buf));
                        if (r > 0) {
                            if (!write_all(cs, buf, (size_t)r))
                                cs_open = false;
                            continue;
                        }
                        if (!(r < 0 && errno == EAGAIN))
                            up_open = false;
                        break;
                    }
                }
                if (q[1].revents) {
                    ssize_t r = read(cs, buf, sizeof(buf));
                    if (r > 0) {
                        if (gt_upgrade_send(u, buf, (size_t)r) < 0)
                            up_open = false;
                    } else if (r == 0 || errno != EINTR) {
                        cs_open = false;
                    }
                }
            }
            gt_upgrade_close(u);
            close(cs);
            _exit(0);
        }
        close(cs);
    }
    json_decref(body);
    return 1;
}
