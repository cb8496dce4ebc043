#include "server/leader.h"

#include <arpa/inet.h>
#include <errno.h>
#include <jansson.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/config.h"
#include "server/server.h"
#include "server/store.h"
#include "server/tls.h"

static char **saved_argv;
static char holder[256];

void leader_init(int argc, char **argv)
{
    /* argv is the subcommand's ("server", flags...): the binary's name goes before it. */
    saved_argv = xcalloc((size_t)argc + 2, sizeof(*saved_argv));
    saved_argv[0] = xstrdup("gantry");
    for (int i = 0; i < argc; i++)
        saved_argv[i + 1] = xstrdup(argv[i]);
    char host[128] = "host";
    gethostname(host, sizeof(host) - 1);
    unsigned char rnd[6] = {0};
    FILE *f = fopen("/dev/urandom", "rb");
    if (f) {
        if (fread(rnd, 1, sizeof(rnd), f) != sizeof(rnd))
            memset(rnd, 0, sizeof(rnd));
        fclose(f);
    }
    snprintf(holder, sizeof(holder), "%s:%d:%02x%02x%02x%02x%02x%02x", host, (int)getpid(),
             rnd[0], rnd[1], rnd[2], rnd[3], rnd[4], rnd[5]);
}

const char *leader_holder(void)
{
    return holder;
}

void leader_step_down(const char *why)
{
    fprintf(stderr, "gantry server: stepping down as leader: %s; standing by again.\n", why);
    fflush(stderr);
    if (saved_argv)
        execv("/proc/self/exe", saved_argv);
    fprintf(stderr, "gantry server: cannot execute itself again (%s): exiting 75.\n",
            strerror(errno));
    _exit(75);
}

void leader_restart(const char *why)
{
    fprintf(stderr, "gantry server: %s; executing itself again to load its state from the "
            "store.\n", why);
    fflush(stderr);
    if (saved_argv)
        execv("/proc/self/exe", saved_argv);
    fprintf(stderr, "gantry server: cannot execute itself again (%s): exiting 75.\n",
            strerror(errno));
    _exit(75);
}

char *leader_store_where(const char *store, const char *config, const char *data,
                         gt_error_t *err)
{
    if (store)
        return xstrdup(store);
    gt_config_t *cfg = NULL;
    if (config && gt_config_load(config, &cfg, err) < 0)
        return NULL;
    char *where = xstrdup(cfg && cfg->store ? cfg->store : data);
    gt_config_free(cfg);
    return where;
}

/* ---- standing by ---- */

typedef struct standby {
    pthread_mutex_t mu;
    char *leader;       /* the leader's URL, or NULL while none is known */
    uint64_t epoch;
    const char *advertise;
} standby_t;

static void add_query(gt_buf_t *b, const char *k, const char *v, bool *first)
{
    gt_buf_printf(b, "%c", *first ? '?' : '&');
    *first = false;
    for (const char *s = k; s && *s; s++)
        gt_buf_printf(b, strchr("&=#%+ ?", *s) || (unsigned char)*s < 0x21 ? "%%%02X" : "%c",
                      (unsigned char)*s);
    if (v) {
        gt_buf_printf(b, "=");
        for (const char *s = v; *s; s++)
            gt_buf_printf(b, strchr("&=#%+ ?", *s) || (unsigned char)*s < 0x21 ? "%%%02X" : "%c",
                          (unsigned char)*s);
    }
}

typedef struct qarg {
    gt_buf_t *b;
    bool first;
} qarg_t;

static enum MHD_Result on_arg(void *cls, enum MHD_ValueKind kind, const char *k, const char *v)
{
    (void)kind;
    qarg_t *q = cls;
    add_query(q->b, k, v, &q->first);
    return MHD_YES;
}

static enum MHD_Result standby_answer(void *cls, struct MHD_Connection *c, const char *url,
                                      const char *method, const char *version,
                                      const char *upload, size_t *upload_size, void **ptr)
{
    (void)method, (void)version, (void)upload, (void)upload_size, (void)ptr;
    standby_t *sb = cls;
    pthread_mutex_lock(&sb->mu);
    char *leader = sb->leader ? xstrdup(sb->leader) : NULL;
    uint64_t epoch = sb->epoch;
    pthread_mutex_unlock(&sb->mu);
    json_t *body;
    unsigned status;
    if (!strcmp(url, "/v1/leader")) {
        body = json_pack("{s:s,s:o,s:I,s:s}", "role", "standby", "leader",
                         leader ? json_string(leader) : json_null(), "epoch", (json_int_t)epoch,
                         "server", sb->advertise);
        status = 200;
    } else {
        body = json_pack("{s:{s:s,s:s,s:o}}", "error", "code", "not_leader", "message",
                         leader ? "this server is a standby: send the request to the leader"
                                : "this server is a standby and no leader holds the lease at "
                                  "the moment (a failover is under way): retry shortly",
                         "leader", leader ? json_string(leader) : json_null());
        /* /healthz: unhealthy as a leader, whatever the leader (load balancers' checks) */
        status = leader && strcmp(url, "/healthz") ? 307 : 503;
    }
    char *text = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    struct MHD_Response *r = MHD_create_response_from_buffer(strlen(text), text,
                                                             MHD_RESPMEM_MUST_FREE);
    MHD_add_response_header(r, "Content-Type", "application/json");
    MHD_add_response_header(r, "Cache-Control", "no-store");
    if (status == 307) {
        gt_buf_t loc = {0};
        gt_buf_printf(&loc, "%s%s", leader, url);
        qarg_t q = {&loc, true};
        MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, on_arg, &q);
        MHD_add_response_header(r, "Location", loc.data);
        gt_buf_free(&loc);
    } else if (status == 503) {
        MHD_add_response_header(r, "Retry-After", "1");
    }
    enum MHD_Result ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    free(leader);
    return ret;
}

static struct MHD_Daemon *standby_listen(standby_t *sb, const char *listen, bool tls,
                                         gt_error_t *err)
{
    char host[256];
    const char *colon = strrchr(listen, ':');
    if (!colon || colon == listen || (size_t)(colon - listen) >= sizeof(host)) {
        gt_error_set(err, "invalid_argument", "--listen '%s' must be ADDRESS:PORT", listen);
        return NULL;
    }
    memcpy(host, listen, (size_t)(colon - listen));
    host[colon - listen] = 0;
    int64_t port;
    if (gt_parse_int64(colon + 1, 0, 65535, &port, err) < 0)
        return NULL;
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    if (inet_pton(AF_INET, host, &sa.sin_addr) != 1) {
        gt_error_set(err, "invalid_argument", "--listen address '%s' is not an IPv4 address",
                     host);
        return NULL;
    }
    struct MHD_OptionItem tls_opts[] = {
        {MHD_OPTION_HTTPS_CERT_CALLBACK, 0, server_tls_retrieve()},
        {MHD_OPTION_HTTPS_PRIORITIES, 0, (void *)"NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2"},
        {MHD_OPTION_END, 0, NULL}};
    if (!tls)
        tls_opts[0].option = MHD_OPTION_END;
    struct MHD_Daemon *d = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | (tls ? MHD_USE_TLS : 0), 0, NULL,
        NULL, standby_answer, sb, MHD_OPTION_SOCK_ADDR, &sa, MHD_OPTION_CONNECTION_TIMEOUT,
        10u, MHD_OPTION_CONNECTION_LIMIT, 1000u, MHD_OPTION_ARRAY, tls_opts, MHD_OPTION_END);
    if (!d)
        gt_error_set(err, "unavailable", "cannot listen on %s (port in use?)", listen);
    return d;
}

int leader_wait_turn(const char *data, const char *listen, bool tls, const char *advertise,
                     int64_t lease_ms, const sigset_t *sigs, gt_error_t *err)
{
    if (!store_exists(data))
        return 0; /* the first server makes the store, then takes the lease (leader_start) */
    store_t *st = NULL;
    standby_t sb = {.advertise = advertise};
    pthread_mutex_init(&sb.mu, NULL);
    struct MHD_Daemon *d = NULL;
    int rc = -1;
    bool said = false;
    char last_err[sizeof(((gt_error_t *)0)->msg)] = "";
    char *last_said = NULL;
    /* Listening before the store is first tried: a store that cannot be reached (a leader that
     * stepped down because it lost the database) may hold the first try for as long as the
     * connection takes to fail; meanwhile this server answers as a standby (503 not_leader). */
    if (!(d = standby_listen(&sb, listen, tls, err)))
        goto done;
    for (;;) {
        uint64_t epoch = 0;
        gt_error_t e = {0};
        int got = -1;
        /* A store that cannot be reached (a database cut off) is tried again, standing by. */
        if (!st && store_open(data, &st, &e) < 0)
            st = NULL;
        else
            got = store_lease_acquire(st, holder, advertise, lease_ms, &epoch, &e);
        if (got == 0) {
            fprintf(stderr, "gantry server: this server (%s) takes the lease with epoch %llu: "
                            "it leads.\n", advertise, (unsigned long long)epoch);
            rc = 0;
            break;
        }
        char *url = NULL;
        uint64_t theirs = 0;
        if (got == 1) {
            store_lease_holder(st, &url, &theirs, &e);
            last_err[0] = '\0';
        } else if (strcmp(e.msg, last_err)) { /* once per new trouble, not every try */
            fprintf(stderr, "gantry server: standby: %s%s (retrying).\n",
                    st ? "" : "cannot open the store: ", e.msg);
            snprintf(last_err, sizeof(last_err), "%s", e.msg);
        }
        pthread_mutex_lock(&sb.mu);
        free(sb.leader);
        sb.leader = url;
        sb.epoch = theirs;
        pthread_mutex_unlock(&sb.mu);
        if (!said || (url && (!last_said || strcmp(url, last_said)))) {
            fprintf(stderr, "gantry server: standing by on %s: the leader is %s (epoch %llu).\n",
                    listen, url ? url : "(none right now)", (unsigned long long)theirs);
            free(last_said);
            last_said = url ? xstrdup(url) : NULL;
            said = true;
        }
        /* A fifth of the term between tries: a standby takes over within 1.2 terms. */
        long ns = (long)(lease_ms / 5) * 1000000L;
        struct timespec ts = {ns / 1000000000L, ns % 1000000000L};
        int sig = sigtimedwait(sigs, NULL, &ts);
        if (sig == SIGHUP) {
            gt_error_t te = {0};
            if (tls && server_tls_reload(&te) < 0)
                fprintf(stderr, "gantry server: SIGHUP: the TLS certificate was not reloaded: "
                                "%s.\n", te.msg);
        } else if (sig > 0) {
            fprintf(stderr, "gantry server: signal %d while standing by: stopping.\n", sig);
            rc = 1;
            break;
        }
    }
done:
    if (d)
        MHD_stop_daemon(d);
    store_close(st); /* accepts NULL */
    free(sb.leader);
    free(last_said);
    pthread_mutex_destroy(&sb.mu);
    return rc;
}

/* ---- leading ---- */

struct leader {
    store_t *st;
    char *advertise;
    int64_t lease_ms;
    uint64_t epoch;
    pthread_t renewer, watchdog;
    pthread_mutex_t mu;
    pthread_cond_t wake;
    bool stop;
    double renewed_at;  /* monotonic time a successful renewal started */
};

static bool sleep_until(struct leader *l, double until)
{
    pthread_mutex_lock(&l->mu);
    while (!l->stop) {
        double now = gt_monotonic_s();
        if (now >= until)
            break;
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        double wait = until - now;
        long ns = ts.tv_nsec + (long)((wait - (long)wait) * 1e9);
        ts.tv_sec += (time_t)wait + ns / 1000000000L;
        ts.tv_nsec = ns % 1000000000L;
        pthread_cond_timedwait(&l->wake, &l->mu, &ts);
    }
    bool stop = l->stop;
    pthread_mutex_unlock(&l->mu);
    return stop;
}

static void *renew_main(void *arg)
{
    struct leader *l = arg;
    bool failing = false;
    for (;;) {
        double t0 = gt_monotonic_s();
        uint64_t e = 0;
        gt_error_t err = {0};
        int rc = store_lease_acquire(l->st, holder, l->advertise, l->lease_ms, &e, &err);
        char why[300];
        if (rc == 0 && e == l->epoch) {
            pthread_mutex_lock(&l->mu);
            l->renewed_at = t0;
            pthread_mutex_unlock(&l->mu);
            if (failing)
                fprintf(stderr, "gantry server: the lease is renewed again.\n");
            failing = false;
        } else if (rc >= 0) {
            pthread_mutex_lock(&l->mu);
            bool stop = l->stop;
            pthread_mutex_unlock(&l->mu);
            if (stop)
                break;
            snprintf(why, sizeof(why), "another server holds the lease (epoch %llu, this "
                     "one's %llu)", (unsigned long long)e, (unsigned long long)l->epoch);
            leader_step_down(why);
        } else if (!failing) {
            fprintf(stderr, "gantry server: cannot renew the lease: %s (retrying until it runs "
                            "out).\n", err.msg);
            failing = true;
        }
        if (store_fenced(l->st))
            leader_step_down("a commit found a newer leader epoch in the store");
        if (sleep_until(l, t0 + (double)l->lease_ms / 3000.0))
            break;
    }
    return NULL;
}

/* Steps down when no renewal got through for 90 % of the term, however long the renewal
 * call itself hangs (a database cut off): the lease in the store outlives this by the rest. */
static void *watchdog_main(void *arg)
{
    struct leader *l = arg;
    for (;;) {
        pthread_mutex_lock(&l->mu);
        double last = l->renewed_at;
        pthread_mutex_unlock(&l->mu);
        double limit = last + 0.9 * (double)l->lease_ms / 1000.0;
        if (gt_monotonic_s() >= limit) {
            char why[200];
            snprintf(why, sizeof(why), "the lease could not be renewed for %.1f s (its term: "
                     "%.1f s)", gt_monotonic_s() - last, (double)l->lease_ms / 1000.0);
            leader_step_down(why);
        }
        if (sleep_until(l, gt_monotonic_s() + 0.05))
            break;
    }
    return NULL;
}

int leader_start(server_t *srv, const char *advertise, int64_t lease_ms, gt_error_t *err)
{
    double t0 = gt_monotonic_s();
    uint64_t epoch = 0;
    int rc = store_lease_acquire(srv->store, holder, advertise, lease_ms, &epoch, err);
    if (rc < 0)
        return -1;
    if (rc == 1) {
        errno = EBUSY;
        return gt_error_set(err, "not_leader", "another server holds the store's lease "
                            "(epoch %llu)", (unsigned long long)epoch);
    }
    store_set_fence(srv->store, epoch);
    struct leader *l = xcalloc(1, sizeof(*l));
    l->st = srv->store;
    l->advertise = xstrdup(advertise);
    l->lease_ms = lease_ms;
    l->epoch = epoch;
    l->renewed_at = t0;
    pthread_mutex_init(&l->mu, NULL);
    pthread_cond_init(&l->wake, NULL);
    srv->leader = l;
    srv->leader_epoch = epoch;
    if (pthread_create(&l->renewer, NULL, renew_main, l) != 0 ||
        pthread_create(&l->watchdog, NULL, watchdog_main, l) != 0) {
        fprintf(stderr, "gantry server: cannot start the lease threads\n");
        abort();
    }
    fprintf(stderr, "gantry server: leader with epoch %llu (%s; lease %.1f s, holder %s).\n",
            (unsigned long long)epoch, advertise, (double)lease_ms / 1000.0, holder);
    return 0;
}

void leader_stop(server_t *srv)
{
    struct leader *l = srv ? srv->leader : NULL;
    if (!l)
        return;
    pthread_mutex_lock(&l->mu);
    l->stop = true;
    pthread_cond_broadcast(&l->wake);
    pthread_mutex_unlock(&l->mu);
    pthread_join(l->renewer, NULL);
    pthread_join(l->watchdog, NULL);
    gt_error_t err = {0};
    uint64_t kept = store_last_kept(l->st);
    if (kept && store_wait(l->st, kept, &err) < 0)
        fprintf(stderr, "gantry server: %s\n", err.msg);
    else if (!store_fenced(l->st) && store_lease_release(l->st, holder, &err) == 0)
        fprintf(stderr, "gantry server: the lease (epoch %llu) is handed back: a standby takes "
                        "over now.\n", (unsigned long long)l->epoch);
    srv->leader = NULL;
    pthread_mutex_destroy(&l->mu);
    pthread_cond_destroy(&l->wake);
    free(l->advertise);
    free(l);
}

void *leader_describe(server_t *srv)
{
    struct leader *l = srv->leader;
    return json_pack("{s:s,s:o,s:I,s:o}", "role", "leader", "leader",
                     l ? json_string(l->advertise) : json_null(), "epoch",
                     (json_int_t)srv->leader_epoch, "server",
                     l ? json_string(l->advertise) : json_null());
}
