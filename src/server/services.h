/* services.h: inference services (docs/services.md).
 *
 * A service is a named record (its spec, the replicas it wants, its revision and the previous
 * revision's spec) and a set of replica jobs: ordinary jobs of kind service, each placed by the
 * scheduler like any job of the service's size (quotas, classes, preemption), numbered
 * replica 0..N-1 and tagged with the revision they run. The job machinery does the rest: a
 * replica whose process exits or fails is requeued (the same job, the next incarnation) after
 * a backoff; a lost node or a preemption requeues it like any requeueable job; it has no time
 * limit. A replica the service no longer wants (an earlier revision's once enough others are
 * ready, one above the replicas wanted) ends instead when it exits or its node loses it
 * (services_replica_end_unwanted). This module keeps the records (store: settings of kind
 * "service"), reconciles each service's replicas with what it wants on every turn of the
 * scheduler thread (creating and stopping replica jobs: scale, rolling update one replica at
 * a time, rollback), takes the agents' readiness reports, and serves the endpoint:
 * /v1/services/NAME/... proxied to a ready replica (api_services.c). Caller holds srv->mu
 * unless said otherwise. */
#ifndef GANTRY_SERVICES_H
#define GANTRY_SERVICES_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "server/server.h"

/* The backoff before restart k (1, 2, ...) of a replica that exited: 1 s doubled each time,
 * at most SERVICES_BACKOFF_MAX_S. A replica ready for SERVICES_BACKOFF_RESET_S starts over. */
#define SERVICES_BACKOFF_MAX_S 60.0
#define SERVICES_BACKOFF_RESET_S 30.0
/* A replica leaving the endpoint (replaced, scaled down) is stopped this long after it stopped
 * receiving new requests, so that those in flight finish. */
#define SERVICES_DRAIN_S 1.0
double services_backoff_s(int restarts);
/* Autoscaling decides once per window (on the mean of requests in flight over it), and scales
 * down only after the load stayed low this long. */
#define SERVICES_AUTOSCALE_WINDOW_S 2.0
#define SERVICES_AUTOSCALE_DOWN_S 10.0

/* Creates the (empty) registry; frees it. */
void services_init(server_t *srv);
void services_free(server_t *srv);
/* After the jobs are restored: the stored records, and the replica jobs not ended attached to
 * them. 0, or -1 with err (store). */
int services_load(server_t *srv, gt_error_t *err);

/* ---- submission (api.c): a service's first revision arrives as a submission of kind service,
 * its replicas the jobs first .. first + replicas - 1 ---- */
/* Whether a service of that name exists (or is being created). */
bool services_name_taken(server_t *srv, const char *name);
/* Reserves the name for tmpl's service (tmpl: the parsed, resolved template job) while its
 * submission commits, and returns the record's store document (a new string) to commit with
 * the replica jobs. */
char *services_reserve(server_t *srv, const job_t *tmpl);
/* The submission's commit settled: kept, the service exists with replicas first ..; refused,
 * the name is free again. */
void services_settle(server_t *srv, const char *name, bool keep, uint64_t first, int64_t count);

/* ---- the replicas' lives ---- */
/* Replica j's process on node n ended by itself (exit, failure, liveness): it is requeued
 * after its backoff (its other gang nodes stop their copies), unless its service no longer
 * wants it (services_replica_end_unwanted: it ends). Returns the store ticket. */
uint64_t services_replica_exited(server_t *srv, job_t *j, node_t *n, const char *reason,
                                 int exit_code, int exit_signal, const char *message);
/* Replica j, whose processes on node n are gone (its node lost it, its node's fence stopped
 * it: gone, n's other replicas are gone too; or its process ended: what, with exit_code and
 * exit_signal), is not run again when its service no longer wants it: one leaving the
 * endpoint (replaced or scaled down); one of an earlier revision that is surplus, the current
 * revision's ready replicas and the other earlier-revision replicas still ready (none leaving
 * the endpoint, none on n when gone) already making the replicas wanted (replaced: an old
 * replica goes only as new ones get ready; otherwise it runs again, with its backoff, and the
 * rolling update replaces it later); or one above the replicas wanted while enough others of
 * the current revision remain (scaled down). Such a replica ends cancelled (reason replaced or
 * scaled_down, by service), its GPUs freed at once (its other gang nodes are sent stops);
 * returns true with the store ticket in *ticket. false: the service wants it, nothing done
 * (the caller requeues it). Kept in memory only, the endpoint's drain and the replicas'
 * readiness do not survive a restart of the server; the revision and the replicas wanted do. */
bool services_replica_end_unwanted(server_t *srv, job_t *j, node_t *n, bool gone,
                                   const char *what, int exit_code, int exit_signal,
                                   uint64_t *ticket);
/* An agent's word on replica j (its current incarnation, running on that agent's node): the
 * port it gave it (0: not said) and whether its readiness probe passes. */
void services_replica_probe(server_t *srv, job_t *j, int port, bool ready);
/* A heartbeat's "services" list ([{job_id, incarnation, port, ready}]) from node n. */
void services_heartbeat(server_t *srv, node_t *n, const json_t *list);
/* One turn (the scheduler thread, every 250 ms at most): replicas whose backoff ended enter
 * the scheduler; each service's replicas are reconciled with what it wants (create, stop,
 * replace one at a time). */
void services_tick(server_t *srv);
/* Adds to a job view the service fields a document does not keep: endpoint (host: the
 * request's Host header, or NULL), ready, port. */
void services_annotate(server_t *srv, const job_t *j, json_t *o, const char *host);

/* ---- the endpoint (api_services.c) ---- */
/* Whether url is proxied to a replica (/v1/services/NAME/...): http.c runs it on a thread of
 * its own, since it waits on the replica. Any thread. */
bool services_proxy_path(const char *url);
/* /v1/services[/NAME[/...]]: list, show, PATCH (replicas, spec: a rolling update; rollback),
 * DELETE, and the proxy. Takes mu itself. */
int api_services(server_t *srv, http_req_t *req, http_resp_t *resp, const char *rest);

/* ---- for api_services.c ---- */
typedef struct service service_t;
service_t *services_find(server_t *srv, const char *name);
/* The service's view (GET /v1/services/NAME; replicas listed when detail). */
json_t *services_view(server_t *srv, service_t *s, bool detail, const char *host);
/* All services' views who may see, by name. */
json_t *services_list(server_t *srv, const auth_principal_t *who, const char *host);
const char *services_team(const service_t *s);
/* A client's change of a service (PATCH /v1/services/NAME), durable before it acts: the replicas
 * wanted (-1: unchanged); a new revision from the current spec with spec's fields (a rolling
 * update) or the previous revision's (rollback); autoscaling between as_min and as_max replicas
 * (1 <= min <= max <= 1000) aiming at as_target requests in flight per replica through the
 * endpoint (min = max = 0 turns it off; the replicas wanted are brought into [min, max]). */
typedef struct services_change {
    int replicas;
    const json_t *spec;
    bool rollback;
    bool autoscale;
    int as_min, as_max;
    double as_target;
} services_change_t;
/* Checks c against s (a new revision as a submission by who would be: volumes, partition,
 * class, GPU types, dependencies, feasibility) and queues the service's new record as a
 * client's batch (store_enqueue_client): *ticket, *record (the caller's). Memory is unchanged,
 * and every other change of s (and its delete) is refused (409) until services_change_done.
 * The caller drops srv->mu, store_wait()s the ticket, takes srv->mu again and calls
 * services_change_done. -1 with err (EINVAL, ENOENT: no previous revision; EBUSY: another
 * change is committing), nothing queued. Caller holds srv->mu. */
int services_change(server_t *srv, service_t *s, const services_change_t *c,
                    const auth_principal_t *who, json_t **record, uint64_t *ticket,
                    gt_error_t *err);
/* Ends a change of services_change: when its commit succeeded memory takes record (taken) and
 * the replicas follow on the next turns; otherwise nothing changes. Returns the service. */
service_t *services_change_done(server_t *srv, const char *name, json_t *record, bool committed);
/* Whether a client's change of s is committing. */
bool services_changing(const service_t *s);
/* Deletes the service: every replica stopped, the record removed. Returns the ticket. */
uint64_t services_delete(server_t *srv, service_t *s);
/* Picks up to max ready replicas to try, round robin ("ADDRESS:PORT" into addr[i], 64 bytes
 * each) and counts the request. Returns how many. */
int services_pick(server_t *srv, service_t *s, char (*addr)[64], int max);
/* A request services_pick counted is answered (or failed): one fewer in flight. */
void services_done(server_t *srv, const char *name);

#endif
