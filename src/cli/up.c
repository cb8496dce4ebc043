/* up.c: `gantry up`: a local cluster in one command: a server on the embedded store and N
 * agents with declared GPUs on loopback, all children of this process, all stopped on Ctrl-C
 * (with the jobs they run). */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "agent/client.h"
#include "agent/supervisor.h"
#include "cli/commands.h"
#include "cli/tlsgen.h"
#include "common/util.h"

#define MAX_AGENTS 64

static volatile sig_atomic_t got_signal;
static void on_signal(int sig) { got_signal = sig; }

static pid_t spawn(char *const argv[], const char *log)
{
    pid_t pid = fork();
    if (pid == 0) {
        int fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
        }
        execv("/proc/self/exe", argv);
        _exit(127);
    }
    return pid;
}

static void nap_ms(int ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static void usage(FILE *f)
{
    fprintf(f, "usage: gantry up [--agents N] [--gpus G] [--gpu-type T] [--port P] [--dir DIR] "
               "[--config FILE]\n\n"
               "Starts a local cluster: a server on https://127.0.0.1:P (default 8080) with its "
               "store in\nDIR/server, and N agents (default 2) with G declared GPUs each "
               "(default 8), state in\nDIR/node-<i>. The server's certificate comes from a "
               "local CA in DIR/tls (made once,\nthen reused: clients trust DIR/tls/ca.pem). "
               "Without --config, teams research and product\nshare the GPUs. Ctrl-C stops "
               "them all.\n");
}

int cmd_up(int argc, char **argv)
{
    int64_t nagents = 2, gpus = 8, port = 8080;
    const char *type = "H100-80GB", *dir = "gantry-up", *config = NULL;
    gt_error_t err = {0};
    static const struct option opts[] = {
        {"agents", required_argument, 0, 'a'}, {"gpus", required_argument, 0, 'g'},
        {"gpu-type", required_argument, 0, 't'}, {"port", required_argument, 0, 'p'},
        {"dir", required_argument, 0, 'd'},    {"config", required_argument, 0, 'c'},
        {"help", no_argument, 0, 'h'},         {0, 0, 0, 0}};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "a:g:t:p:d:c:h", opts, NULL)) != -1) {
        switch (c) {
        case 'a':
            if (gt_parse_int64(optarg, 1, MAX_AGENTS, &nagents, &err) < 0)
                goto bad;
            break;
        case 'g':
            if (gt_parse_int64(optarg, 0, 64, &gpus, &err) < 0)
                goto bad;
            break;
        case 'p':
            if (gt_parse_int64(optarg, 1, 65535, &port, &err) < 0)
                goto bad;
            break;
        case 't': type = optarg; break;
        case 'd': dir = optarg; break;
        case 'c': config = optarg; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    char path[4096], url[64], srvdir[4096], tokpath[4200], cfgpath[4200];
    char tlsdir[4200], cafile[4300], certfile[4300], keyfile[4300];
    if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
        fprintf(stderr, "gantry up: cannot create %s: %s\n", dir, strerror(errno));
        return 1;
    }
    /* jobs run in other directories: every path handed to the agents must be absolute */
    static char absdir[2048];
    char *resolved = realpath(dir, NULL);
    if (!resolved || strlen(resolved) >= sizeof(absdir)) {
        fprintf(stderr, "gantry up: cannot resolve %s: %s\n", dir,
                resolved ? "path too long" : strerror(errno));
        free(resolved);
        return 1;
    }
    snprintf(absdir, sizeof(absdir), "%s", resolved);
    free(resolved);
    dir = absdir;
    snprintf(srvdir, sizeof(srvdir), "%s/server", dir);
    snprintf(tokpath, sizeof(tokpath), "%s/admin.token", srvdir);
    snprintf(url, sizeof(url), "https://127.0.0.1:%d", (int)port);
    /* HTTPS even on loopback: a local CA (kept across runs) and a fresh server certificate. */
    snprintf(tlsdir, sizeof(tlsdir), "%s/tls", dir);
    snprintf(cafile, sizeof(cafile), "%s/ca.pem", tlsdir);
    snprintf(certfile, sizeof(certfile), "%s/server.pem", tlsdir);
    snprintf(keyfile, sizeof(keyfile), "%s/server-key.pem", tlsdir);
    if (tlsgen_issue(tlsdir, NULL, 0, &err) < 0) {
        fprintf(stderr, "gantry up: %s\n", err.msg);
        return 1;
    }
    gt_transport_t tp = {.ca_file = cafile};
    if (!config) {
        snprintf(cfgpath, sizeof(cfgpath), "%s/cluster.yaml", dir);
        FILE *f = fopen(cfgpath, "w");
        if (!f) {
            fprintf(stderr, "gantry up: cannot write %s: %s\n", cfgpath, strerror(errno));
            return 1;
        }
        int64_t total = nagents * gpus, half = total / 2;
        fprintf(f, "# written by gantry up\nteams:\n"
                   "  - name: research\n    quota: {gpus: %lld}\n    weight: 1\n"
                   "  - name: product\n    quota: {gpus: %lld}\n    weight: 1\n",
                (long long)half, (long long)(total - half));
        fclose(f);
        config = cfgpath;
    }
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    pid_t pids[MAX_AGENTS + 1];
    int npids = 0, rc = 1;
    char listen[64], portstr[16];
    snprintf(listen, sizeof(listen), "127.0.0.1:%d", (int)port);
    snprintf(portstr, sizeof(portstr), "%d", (int)port);
    snprintf(path, sizeof(path), "%s/server.log", dir);
    char *sargv[] = {"gantry", "server", "--data", srvdir, "--listen", listen, "--config",
                     (char *)config, "--heartbeat", "2", "--tls-cert", certfile, "--tls-key",
                     keyfile, NULL};
    pids[npids++] = spawn(sargv, path);

    /* Ready when the token exists and /healthz answers. */
    client_t *cl = client_new(url, "", &tp, &err);
    bool ready = false;
    for (int i = 0; i < 300 && !got_signal && cl; i++) {
        long st = 0;
        json_t *out = NULL;
        if (access(tokpath, R_OK) == 0 &&
            client_call(cl, "GET", "/healthz", NULL, 1000, &st, &out, NULL) == 0 && st == 200)
            ready = true;
        json_decref(out);
        if (ready)
            break;
        if (waitpid(pids[0], NULL, WNOHANG) == pids[0])
            break;
        nap_ms(50);
    }
    client_free(cl);
    if (!ready) {
        fprintf(stderr, "gantry up: the server did not start; see %s\n", path);
        goto stop;
    }
    char token[128] = "";
    FILE *tf = fopen(tokpath, "r");
    if (!tf || !fgets(token, sizeof(token), tf)) {
        fprintf(stderr, "gantry up: cannot read %s\n", tokpath);
        if (tf)
            fclose(tf);
        goto stop;
    }
    fclose(tf);
    token[strcspn(token, "\n")] = '\0';
    char ckpt[4200];
    snprintf(ckpt, sizeof(ckpt), "%s/checkpoints", dir);
    mkdir(ckpt, 0755);
    const char *user = getenv("USER");
    char gpustr[16];
    snprintf(gpustr, sizeof(gpustr), "%d", (int)gpus);
    for (int i = 0; i < nagents; i++) {
        char name[32], state[4200], log[4200];
        snprintf(name, sizeof(name), "node-%d", i + 1);
        snprintf(state, sizeof(state), "%s/%s", dir, name);
        snprintf(log, sizeof(log), "%s/%s.log", dir, name);
        char *aargv[24];
        int k = 0;
        aargv[k++] = "gantry";
        aargv[k++] = "agent";
        aargv[k++] = "--server";
        aargv[k++] = url;
        aargv[k++] = "--token";
        aargv[k++] = token;
        aargv[k++] = "--ca-file";
        aargv[k++] = cafile;
        aargv[k++] = "--name";
        aargv[k++] = name;
        aargv[k++] = "--gpus";
        aargv[k++] = gpustr;
        aargv[k++] = "--gpu-type";
        aargv[k++] = (char *)type;
        aargv[k++] = "--state-dir";
        aargv[k++] = state;
        aargv[k++] = "--checkpoint-root";
        aargv[k++] = ckpt;
        aargv[k++] = "--no-cgroups";
        /* A local cluster runs every job as the one who started it. */
        if (geteuid() == 0) {
            aargv[k++] = "--allow-root";
            aargv[k++] = "--job-user";
            aargv[k++] = "root";
        } else if (user) {
            aargv[k++] = "--job-user";
            aargv[k++] = (char *)user;
        }
        aargv[k] = NULL;
        pids[npids++] = spawn(aargv, log);
    }
    printf("Gantry is up: a server and %d agents with %d declared %s GPUs each.\n"
           "  API:          %s\n"
           "  admin token:  %s\n"
           "  logs, state:  %s/\n"
           "Try:\n"
           "  export GANTRY_SERVER=%s GANTRY_CA_FILE=%s GANTRY_TOKEN=$(cat %s)\n"
           "  gantry submit --team research --gpus 2 -- nvidia-smi\n"
           "Ctrl-C stops the server, the agents and their jobs.\n",
           (int)nagents, (int)gpus, type, url, tokpath, dir, url, cafile, tokpath);
    fflush(stdout);
    rc = 0;
    while (!got_signal) {
        int st;
        pid_t w = waitpid(-1, &st, 0);
        if (w > 0) {
            fprintf(stderr, "gantry up: %s (pid %d) exited; stopping everything (see %s/).\n",
                    w == pids[0] ? "the server" : "an agent", (int)w, dir);
            for (int i = 0; i < npids; i++)
                if (pids[i] == w)
                    pids[i] = 0;
            rc = 1;
            break;
        }
    }
stop:
    for (int i = npids - 1; i >= 0; i--)
        if (pids[i] > 0)
            kill(pids[i], SIGTERM);
    for (double until = gt_monotonic_s() + 5; gt_monotonic_s() < until;) {
        bool any = false;
        for (int i = 0; i < npids; i++)
            if (pids[i] > 0 && waitpid(pids[i], NULL, WNOHANG) == 0)
                any = true;
            else
                pids[i] = 0;
        if (!any)
            break;
        nap_ms(20);
    }
    for (int i = 0; i < npids; i++)
        if (pids[i] > 0) {
            kill(pids[i], SIGKILL);
            waitpid(pids[i], NULL, 0);
        }
    /* The agents are gone; their jobs' supervisors are not: stop the jobs too. */
    for (int i = 0; i < nagents; i++) {
        char state[4200];
        snprintf(state, sizeof(state), "%s/node-%d", dir, i + 1);
        supervisor_state_t *all = NULL;
        size_t n = 0;
        if (supervisor_list(state, &all, &n, NULL) == 0)
            for (size_t j = 0; j < n; j++)
                supervisor_stop(state, all[j].job_id, all[j].incarnation, "cancelled", SIGTERM,
                                2, NULL);
        free(all);
    }
    if (got_signal)
        printf("\nGantry is down.\n");
    return rc;
bad:
    fprintf(stderr, "gantry up: %s\n", err.msg);
    return 2;
}
