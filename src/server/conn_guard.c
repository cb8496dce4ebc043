/* conn_guard.c: per-phase deadlines of HTTP connections and the body budget (conn_guard.h). */
#include "server/conn_guard.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>

#include "common/util.h"

typedef struct guarded {
    struct guarded *prev, *next;
    int fd;
    conn_phase_t phase;
    double deadline;         /* monotonic seconds; 0 = none */
    bool shut;               /* shut down already: counted once */
    bool over;               /* opened beyond the limit: its request is refused (503) */
} guarded_t;

struct conn_guard {
    pthread_mutex_t mu;
    pthread_cond_t stop_cond;
    bool stopping;
    pthread_t thread;
    double timeout[3];       /* per phase; 0 = none */
    guarded_t *head;
    size_t budget;
    uint64_t max_open;       /* conn_guard_set_limit (0: none) */
    conn_guard_stats_t stats;
};

static double deadline_for(conn_guard_t *g, conn_phase_t p)
{
    return g->timeout[p] > 0 ? gt_monotonic_s() + g->timeout[p] : 0;
}

static void *reaper_main(void *arg)
{
    conn_guard_t *g = arg;
    pthread_mutex_lock(&g->mu);
    while (!g->stopping) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 200 * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&g->stop_cond, &g->mu, &ts);
        if (g->stopping)
            break;
        double now = gt_monotonic_s();
        unsigned nh = 0, nb = 0;
        for (guarded_t *e = g->head; e; e = e->next) {
            if (e->shut || e->deadline <= 0 || now < e->deadline || e->phase == CONN_HANDLING)
                continue;
            /* Still in the table, so the descriptor is still this connection's. */
            shutdown(e->fd, SHUT_RDWR);
            e->shut = true;
            if (e->phase == CONN_HEADERS)
                nh++;
            else
                nb++;
        }
        g->stats.closed_header += nh;
        g->stats.closed_body += nb;
        if (nh || nb) {
            pthread_mutex_unlock(&g->mu);
            /* One line per pass, not per connection: an attack must not flood the log. */
            fprintf(stderr, "gantry server: closed %u connection(s) that sent no whole request "
                            "header within %.0f s and %u that sent no whole body within %.0f "
                            "s.\n", nh, g->timeout[CONN_HEADERS], nb, g->timeout[CONN_BODY]);
            pthread_mutex_lock(&g->mu);
        }
    }
    pthread_mutex_unlock(&g->mu);
    return NULL;
}

conn_guard_t *conn_guard_new(unsigned header_timeout_s, unsigned body_timeout_s,
                             size_t body_budget)
{
    conn_guard_t *g = xcalloc(1, sizeof(*g));
    pthread_mutex_init(&g->mu, NULL);
    pthread_cond_init(&g->stop_cond, NULL);
    g->timeout[CONN_HEADERS] = header_timeout_s;
    g->timeout[CONN_BODY] = body_timeout_s;
    g->timeout[CONN_HANDLING] = 0;
    g->budget = body_budget;
    int rc = pthread_create(&g->thread, NULL, reaper_main, g);
    if (rc != 0) {
        pthread_cond_destroy(&g->stop_cond);
        pthread_mutex_destroy(&g->mu);
        free(g);
        errno = rc;
        return NULL;
    }
    return g;
}

void conn_guard_free(conn_guard_t *g)
{
    if (!g)
        return;
    pthread_mutex_lock(&g->mu);
    g->stopping = true;
    pthread_cond_broadcast(&g->stop_cond);
    pthread_mutex_unlock(&g->mu);
    pthread_join(g->thread, NULL);
    while (g->head) { /* none after MHD_stop_daemon; freed anyway */
        guarded_t *e = g->head;
        g->head = e->next;
        free(e);
    }
    pthread_cond_destroy(&g->stop_cond);
    pthread_mutex_destroy(&g->mu);
    free(g);
}

void conn_guard_notify(void *cls, struct MHD_Connection *c, void **socket_context,
                       enum MHD_ConnectionNotificationCode toe)
{
    conn_guard_t *g = cls;
    if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
        guarded_t *e = xcalloc(1, sizeof(*e));
        e->fd = ci ? ci->connect_fd : -1;
        e->phase = CONN_HEADERS;
        pthread_mutex_lock(&g->mu);
        e->deadline = e->fd >= 0 ? deadline_for(g, CONN_HEADERS) : 0;
        e->next = g->head;
        if (g->head)
            g->head->prev = e;
        g->head = e;
        g->stats.open++;
        e->over = g->max_open && g->stats.open > g->max_open;
        if (e->over)
            g->stats.refused_over++;
        pthread_mutex_unlock(&g->mu);
        *socket_context = e;
        return;
    }
    guarded_t *e = *socket_context;
    if (!e)
        return;
    pthread_mutex_lock(&g->mu);
    if (e->prev)
        e->prev->next = e->next;
    else
        g->head = e->next;
    if (e->next)
        e->next->prev = e->prev;
    g->stats.open--;
    pthread_mutex_unlock(&g->mu);
    free(e);
    *socket_context = NULL;
}

void conn_guard_phase(conn_guard_t *g, struct MHD_Connection *c, conn_phase_t p)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    guarded_t *e = ci ? ci->socket_context : NULL;
    if (!e)
        return;
    pthread_mutex_lock(&g->mu);
    e->phase = p;
    e->deadline = e->fd >= 0 ? deadline_for(g, p) : 0;
    pthread_mutex_unlock(&g->mu);
}

bool conn_guard_reserve(conn_guard_t *g, size_t n)
{
    pthread_mutex_lock(&g->mu);
    bool fits = !g->budget || (g->stats.body_bytes + n <= g->budget);
    if (fits)
        g->stats.body_bytes += n;
    else
        g->stats.body_refused++;
    pthread_mutex_unlock(&g->mu);
    return fits;
}

void conn_guard_release(conn_guard_t *g, size_t n)
{
    pthread_mutex_lock(&g->mu);
    if (g->stats.body_bytes < n) { /* an invariant, always checked */
        fprintf(stderr, "gantry server: %s:%d: body budget released twice (%llu < %zu).\n",
                __FILE__, __LINE__, (unsigned long long)g->stats.body_bytes, n);
        abort();
    }
    g->stats.body_bytes -= n;
    pthread_mutex_unlock(&g->mu);
}

void conn_guard_get_stats(conn_guard_t *g, conn_guard_stats_t *out)
{
    pthread_mutex_lock(&g->mu);
    *out = g->stats;
    pthread_mutex_unlock(&g->mu);
}

void conn_guard_set_limit(conn_guard_t *g, uint64_t max_open)
{
    pthread_mutex_lock(&g->mu);
    g->max_open = max_open;
    pthread_mutex_unlock(&g->mu);
}

bool conn_guard_over(conn_guard_t *g, struct MHD_Connection *c)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    const guarded_t *e = ci ? ci->socket_context : NULL;
    pthread_mutex_lock(&g->mu);
    bool over = e && e->over;
    pthread_mutex_unlock(&g->mu);
    return over;
}
