/* server_main.c: `gantry server`: its flags, then the server's life (server_open, the
 * scheduler thread, the HTTP server, signals: SIGINT/SIGTERM stop, SIGHUP reloads TLS), then a
 * prompt stop and server_close. The state itself is server.c's. */
#include <getopt.h>
#include <microhttpd.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "server/conn_limit.h"
#include "server/leader.h"
#include "server/attach.h"
#include "server/series.h"
#include "server/server.h"
#include "server/tls.h"

/* Stops promptly (well under a second): stop accepting connections and free the port, wake
 * every waiting handler (agents' long polls, log follows) so that it answers now, stop the
 * scheduler before anything else can change (no node is declared lost because its heartbeats
 * went unanswered during shutdown), then stop libmicrohttpd; the caller closes the store, which
 * commits what is queued. */
static void server_stop(server_t *srv, struct MHD_Daemon *mhd, pthread_t *sched_thread)
{
    if (!srv)
        return;
    if (mhd) {
        MHD_socket ls = MHD_quiesce_daemon(mhd);
        if (ls != MHD_INVALID_SOCKET)
            close(ls);
    }
    pthread_mutex_lock(&srv->mu);
    srv->stopping = true;
    pthread_cond_broadcast(&srv->kick);
    pthread_cond_broadcast(&srv->changed);
    for (size_t i = 0; i < srv->nnodes; i++)
        server_node_wake(srv->nodes[i]); /* their long polls answer now */
    pthread_mutex_unlock(&srv->mu);
    if (sched_thread)
        pthread_join(*sched_thread, NULL);
    if (mhd) {
        /* libmicrohttpd refuses to stop with parked connections: answer them first. */
        http_unpark_all(srv);
        attach_shutdown(srv); /* and its upgraded connections */
        MHD_stop_daemon(mhd);
    }
}


/* SIGHUP: read the TLS pair again; a bad new pair keeps the one in use. */
static void reload_tls(server_t *srv)
{
    if (!srv->tls) {
        fprintf(stderr, "gantry server: SIGHUP: nothing to reload (no --tls-cert).\n");
        return;
    }
    gt_error_t err = {0};
    char d[600];
    if (server_tls_reload(&err) < 0)
        fprintf(stderr, "gantry server: SIGHUP: the TLS certificate was not reloaded: %s; "
                "still serving %s.\n", err.msg, server_tls_describe(d, sizeof(d)));
    else
        fprintf(stderr, "gantry server: SIGHUP: new connections get the TLS certificate %s.\n",
                server_tls_describe(d, sizeof(d)));
}

static void server_usage(FILE *f)
{
    fprintf(f, "usage: gantry server [--config FILE] [--data DIR] [--store URL] [--listen ADDR:PORT] "
               "[--heartbeat SECONDS] [--retention D] [--series-interval D] [limits]\n"
               "                     [--tls-cert FILE --tls-key FILE] [--advertise URL [--lease D]]\n\n"
               "Runs the controller: the HTTP API, the job store (SQLite under DIR, default "
               "./gantry-data) and the scheduler.\n"
               "  --config FILE     cluster, teams and policy (YAML); optional\n"
               "  --data DIR        where the store and logs live (created if missing)\n"
               "  --store URL       the store on PostgreSQL instead (postgresql://USER@HOST/DB, "
               "libpq's URI;\n"
               "                    or the config's store:); logs and admin.token stay under "
               "--data\n"
               "  --listen A:P      address to serve on (default 127.0.0.1:8080)\n"
               "  --heartbeat S     seconds between agent heartbeats (default 5). A node holds a "
               "lease of 2\n"
               "                    heartbeats: when it runs out, the node stops its preemptible "
               "and\n"
               "                    checkpointable jobs by itself; the server declares a node "
               "lost (and\n"
               "                    requeues them) after ((3 heartbeats) x 1.01 + 1 s) / 0.99 of "
               "silence\n"
               "                    (16.3 s at 5), its own stalls not counted (docs/agent.md)\n"
               "  --tls-cert FILE   serve HTTPS with this certificate (PEM; the chain may "
               "follow it)\n"
               "  --tls-key FILE    and its private key (PEM, unencrypted, mode 0600); SIGHUP "
               "reads both\n"
               "                    again for new connections (a bad pair keeps the old one)\n"
               "Without TLS, tokens cross the network in clear: serve plain HTTP on loopback "
               "only.\n\n"
               "Several servers on one store (docs/ha.md): one leads, the others stand by and "
               "answer 307 to the leader.\n"
               "  --advertise URL   this server's URL as clients and agents reach it; competes "
               "for the store's lease\n"
               "  --lease D         the leader's lease (default 3s; 500ms to 10m): a standby "
               "takes over within\n"
               "                    about 1.2 x D of the leader's loss; a leader that cannot "
               "renew it steps down\n"
               "                    after 0.9 x D\n\n"
               "Limits against abuse of the API (durations: 30, 30s, 2m; 0 = none):\n"
               "  --max-connections N               open connections in all (default: the "
               "open-file limit less 320, at most 65536;\n"
               "                                    the server raises its soft limit to the "
               "hard one); beyond: 503\n"
               "  --max-connections-per-address N   from one client address, loopback "
               "included (default 256; 0 = none)\n"
               "  --connection-timeout D            an idle connection is closed (default 60s); "
               "parked ones (long polls, log follows) are not idle\n"
               "  --header-timeout D                a whole request header, from connect or "
               "the previous answer (default 30s); also the keep-alive limit\n"
               "  --body-timeout D                  a whole request body, from its header "
               "(default 60s)\n"
               "  --body-memory BYTES               request bodies held at once (default 256Mi;"
               " suffixes Ki, Mi, Gi); beyond it: 503\n"
               "A request without a valid token is answered 401 from its header alone: its body "
               "is never read.\n\n"
               "  --upload-expiry D an artifact upload left unfinished is dropped once no byte "
               "reached it for D\n"
               "                    (default 24h; 0: never): its bytes stop counting against "
               "its team's storage quota\n"
               "  --retention D     finished jobs are purged D after they ended (default 30d, or "
               "the config's retention:;\n"
               "                    0 = kept for ever); their usage stays in /v1/usage, in "
               "aggregate\n"
               "  --series-interval D  one point of the server's own time series (the "
               "dashboard's charts, GET /v1/series)\n"
               "                    every D (default 1m, or the config's series: {interval})\n"
               "\nThe web dashboard is served at / (docs/dashboard.md).\n");
}

/* A duration flag in seconds, 0 to a day. */
static int limit_seconds(const char *flag, const char *v, unsigned *out)
{
    gt_error_t err = {0};
    int64_t s;
    if (gt_parse_duration(v, &s, &err) < 0 || s > 86400) {
        fprintf(stderr, "gantry server: %s: %s\n", flag,
                err.msg[0] ? err.msg : "at most a day (86400 s)");
        return -1;
    }
    *out = (unsigned)s;
    return 0;
}

static int limit_count(const char *flag, const char *v, int64_t min, unsigned *out)
{
    gt_error_t err = {0};
    int64_t n;
    if (gt_parse_int64(v, min, 1000000, &n, &err) < 0) {
        fprintf(stderr, "gantry server: %s: %s\n", flag, err.msg);
        return -1;
    }
    *out = (unsigned)n;
    return 0;
}

/* --lease: "800ms", or a duration ("3s", "1m"), in milliseconds. */
static int lease_arg(const char *v, int64_t *ms, gt_error_t *err)
{
    size_t n = strlen(v);
    if (n > 2 && !strcmp(v + n - 2, "ms")) {
        char num[32];
        snprintf(num, sizeof(num), "%.*s", (int)(n - 2), v);
        return gt_parse_int64(num, 0, 600000, ms, err);
    }
    int64_t s;
    if (gt_parse_duration(v, &s, err) < 0)
        return -1;
    *ms = s > 600 ? 600001 : s * 1000;
    return 0;
}

int cmd_server(int argc, char **argv)
{
    const char *config = NULL, *data = "gantry-data", *listen = "127.0.0.1:8080";
    const char *tls_cert = NULL, *tls_key = NULL, *advertise = NULL, *store = NULL;
    int64_t lease_ms = LEADER_DEFAULT_LEASE_MS;
    int64_t hb = 5, retention = -1, series_interval = 0, upload_expiry = -1;
    int max_conns_given = 0;
    server_limits_t lim = {.max_connections = 0, .per_address = 256,
                           .connection_timeout_s = 60, .header_timeout_s = 30,
                           .body_timeout_s = 60, .body_memory = 256u << 20};
    static const struct option opts[] = {{"config", required_argument, 0, 'c'},
                                         {"tls-cert", required_argument, 0, 'C'},
                                         {"tls-key", required_argument, 0, 'K'},
                                         {"data", required_argument, 0, 'd'},
                                         {"store", required_argument, 0, 's'},
                                         {"listen", required_argument, 0, 'l'},
                                         {"heartbeat", required_argument, 0, 'b'},
                                         {"max-connections", required_argument, 0, 'M'},
                                         {"max-connections-per-address", required_argument, 0,
                                          'A'},
                                         {"connection-timeout", required_argument, 0, 'T'},
                                         {"header-timeout", required_argument, 0, 'H'},
                                         {"body-timeout", required_argument, 0, 'B'},
                                         {"body-memory", required_argument, 0, 'm'},
                                         {"retention", required_argument, 0, 'R'},
                                         {"series-interval", required_argument, 0, 'S'},
                                         {"advertise", required_argument, 0, 'a'},
                                         {"lease", required_argument, 0, 'L'},
                                         {"upload-expiry", required_argument, 0, 'U'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    int c;
    gt_error_t err = {0};
    optind = 1;
    while ((c = getopt_long(argc, argv, "c:d:l:h", opts, NULL)) != -1) {
        switch (c) {
        case 'c': config = optarg; break;
        case 'd': data = optarg; break;
        case 's':
            if (strncmp(optarg, "postgresql://", 13) && strncmp(optarg, "postgres://", 11)) {
                fprintf(stderr, "gantry server: --store: %s is not a postgresql:// URL (leave "
                                "--store out for the embedded SQLite store under --data)\n",
                        optarg);
                return 2;
            }
            store = optarg;
            break;
        case 'l': listen = optarg; break;
        case 'C': tls_cert = optarg; break;
        case 'K': tls_key = optarg; break;
        case 'b':
            if (gt_parse_int64(optarg, 1, 3600, &hb, &err) < 0) {
                fprintf(stderr, "gantry server: --heartbeat: %s\n", err.msg);
                return 2;
            }
            break;
        case 'M':
            if (limit_count("--max-connections", optarg, 1, &lim.max_connections) < 0)
                return 2;
            max_conns_given = 1;
            break;
        case 'A':
            if (limit_count("--max-connections-per-address", optarg, 0, &lim.per_address) < 0)
                return 2;
            break;
        case 'T':
            if (limit_seconds("--connection-timeout", optarg, &lim.connection_timeout_s) < 0)
                return 2;
            break;
        case 'H':
            if (limit_seconds("--header-timeout", optarg, &lim.header_timeout_s) < 0)
                return 2;
            break;
        case 'B':
            if (limit_seconds("--body-timeout", optarg, &lim.body_timeout_s) < 0)
                return 2;
            break;
        case 'R':
            if (gt_parse_duration(optarg, &retention, &err) < 0) {
                fprintf(stderr, "gantry server: --retention: %s\n", err.msg);
                return 2;
            }
            break;
        case 'S':
            if (gt_parse_duration(optarg, &series_interval, &err) < 0 || series_interval < 1) {
                fprintf(stderr, "gantry server: --series-interval: %s\n",
                        err.msg[0] ? err.msg : "at least 1s");
                return 2;
            }
            break;
        case 'm': {
            int64_t mib;
            if (gt_parse_memory_mib(optarg, &mib, &err) < 0 || mib < 1 || mib > 1 << 20) {
                fprintf(stderr, "gantry server: --body-memory: %s\n",
                        err.msg[0] ? err.msg : "from 1Mi to 1Ti");
                return 2;
            }
            lim.body_memory = (size_t)mib << 20;
            break;
        }
        case 'U':
            if (gt_parse_duration(optarg, &upload_expiry, &err) < 0 || upload_expiry < 0) {
                fprintf(stderr, "gantry server: --upload-expiry: %s\n",
                        err.msg[0] ? err.msg : "a duration (24h, 90m; 0: never)");
                return 2;
            }
            break;
        case 'a': advertise = optarg; break;
        case 'L': {
            int64_t ms;
            if (lease_arg(optarg, &ms, &err) < 0 || ms < 500 || ms > 600000) {
                fprintf(stderr, "gantry server: --lease: %s\n",
                        err.msg[0] ? err.msg : "from 500ms to 10m");
                return 2;
            }
            lease_ms = ms;
            break;
        }
        case 'h': server_usage(stdout); return 0;
        default: server_usage(stderr); return 2;
        }
    }
    if (!tls_cert != !tls_key) {
        fprintf(stderr, "gantry server: --tls-cert and --tls-key go together\n");
        return 2;
    }
    if (tls_cert && server_tls_load(tls_cert, tls_key, &err) < 0) {
        fprintf(stderr, "gantry server: cannot serve TLS: %s\n", err.msg);
        return 1;
    }
    /* Connections: as many as the open-file limit leaves, unless told (conn_limit.h). */
    uint64_t nofile_was, nofile;
    conn_limit_raise_nofile(&nofile_was, &nofile);
    if (!max_conns_given)
        lim.max_connections = conn_limit_default(nofile);
    char conns[512];
    conn_limit_explain(lim.max_connections, max_conns_given, nofile, nofile_was, conns,
                       sizeof(conns));
    fprintf(stderr, "gantry server: %s.\n", conns);
    signal(SIGPIPE, SIG_IGN);
    /* Blocked before any thread starts (they inherit the mask); the main thread waits for
     * them below: SIGINT and SIGTERM stop, SIGHUP reloads the TLS pair. */
    sigset_t stop_hup;
    sigemptyset(&stop_hup);
    sigaddset(&stop_hup, SIGINT);
    sigaddset(&stop_hup, SIGTERM);
    sigaddset(&stop_hup, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &stop_hup, NULL);
    struct MHD_Daemon *mhd = NULL;
    pthread_t sched_thread;
    bool sched_started = false;
    int rc = 1;

    server_t *srv = NULL;
    server_opts_t so = {.config = config, .data = data, .store = store, .heartbeat_s = (int)hb,
                        .retention_s = retention, .limits = lim, .tls = tls_cert != NULL,
                        .series_interval_s = series_interval, .advertise = advertise,
                        .lease_ms = lease_ms, .upload_expiry_s = upload_expiry};
    leader_init(argc, argv);
    if (advertise) { /* one of several servers on this store: stand by until it leads */
        /* the store server_open will use: --store, or the config's store:, or data */
        char *where = leader_store_where(store, config, data, &err);
        int w = where ? leader_wait_turn(where, listen, tls_cert != NULL, advertise, lease_ms,
                                         &stop_hup, &err)
                      : -1;
        free(where);
        if (w == 1) {
            rc = 0;
            server_tls_free();
            return 0;
        }
        if (w < 0)
            goto out;
    }
    if (server_open(&so, &srv, &err) < 0) {
        if (!strcmp(err.code, "not_leader")) /* another took the lease meanwhile */
            leader_step_down(err.msg);
        goto out;
    }
    if (pthread_create(&sched_thread, NULL, server_sched_main, srv) != 0) {
        gt_error_set(&err, "internal", "cannot start the scheduler thread");
        goto out;
    }
    sched_started = true;
    if (retention_start(srv, &err) < 0 || series_start(srv, &err) < 0)
        goto out;
    if (http_serve(srv, listen, &mhd, &err) < 0)
        goto out;
    char where[512];
    fprintf(stderr, "gantry server: listening on %s (%s), data in %s, %zu teams, %zu nodes%s%s.\n",
            listen, srv->tls ? "https" : "http", data, srv->nteams, srv->nnodes,
            strcmp(srv->store_where, data) ? ", store in " : "",
            strcmp(srv->store_where, data) ? store_describe(srv->store_where, where,
                                                            sizeof(where)) : "");
    char tlsd[600];
    if (srv->tls)
        fprintf(stderr, "gantry server: TLS certificate %s.\n",
                server_tls_describe(tlsd, sizeof(tlsd)));
    else if (strncmp(listen, "127.", 4))
        fprintf(stderr, "gantry server: warning: plain HTTP on %s: tokens cross the network in "
                "clear; give --tls-cert and --tls-key.\n", listen);
    /* The signals were blocked in every thread since the start: taken here, one at a time. */
    int sig;
    while ((sig = sigwaitinfo(&stop_hup, NULL)) < 0 || sig == SIGHUP)
        if (sig == SIGHUP)
            reload_tls(srv);
    fprintf(stderr, "gantry server: signal %d: stopping.\n", sig);
    rc = 0;
out:
    if (rc)
        fprintf(stderr, "gantry server: %s\n", err.msg[0] ? err.msg : "failed to start");
    server_stop(srv, mhd, sched_started ? &sched_thread : NULL);
    if (!rc)
        fprintf(stderr, "gantry server: stopped; the store is flushed.\n");
    server_close(srv);
    server_tls_free();
    return rc;
}
