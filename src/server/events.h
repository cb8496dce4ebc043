/* events.h: what happened to each job, and who changed what in the cluster.
 *
 * A job event records one change of a job's life with its cause: {"seq", "time", "job",
 * "team", "user" (the job's owner), "type", "message", ...detail}. Types, lowercase words:
 *   submitted   by (who submitted it)
 *   started     nodes, gpus ([{node, gpus}]), pass (the scheduling pass), incarnation
 *   preempted   by_job (the job it makes room for), reason (reclaim: that job's team takes
 *               back its quota from a borrower; priority: a higher priority class), grace_s
 *   requeued    reason (node_lost, requeue), node, by (a user's gantry requeue), hold
 *   oom, time_limit, failed   reason, node, exit_code, signal
 *   cancelled   by (a user), or reason (dependency_failed)
 *   finished    exit_code (a success)
 *   held, released, updated   by; updated: fields (the names changed)
 *   idle        the GPU helper's fields (gpu_use.h)
 * seq numbers every event of the cluster, in the order they happened (never reused, gaps
 * where a job was purged). Events are kept writes (store.h): stored in the store's job_events
 * table, deleted with their job by retention, and appended to a ring of the latest ones that
 * feeds GET /v1/events?watch=1 (the store may lag the ring by a commit; readers merge both).
 *
 * The audit log records each administrative change: {"seq", "time", "user", "action",
 * "object", "old", "new"} (old or new null when there is none: a creation, a deletion), kept
 * for ever in the store's audit table, visible to admins only. Actions name what changed:
 * team.set, token.create, token.revoke, token.rotate, volume.set, volume.delete,
 * environment.set, environment.delete, user.set, user.delete, node.drain, node.cordon,
 * node.uncordon, node.resume, node.reset, maintenance.create, maintenance.delete; and each
 * access to a running job's inside (attach.h), object the job's id, new {command, node, tty,
 * session} or {port, node, session}: job.exec, job.attach, job.port_forward. */
#ifndef GANTRY_EVENTS_H
#define GANTRY_EVENTS_H

#include <jansson.h>
#include <stdint.h>

#include "server/server.h"

/* The latest events kept in memory for the live stream. */
#define EVENTS_RING 4096

/* Records that j's life changed: type (above), detail (stolen; NULL for none) adds its fields
 * to the event; its "message" (a sentence), when given, replaces the one written here from the
 * type and the other fields. Stored as a kept write and appended to the live stream. Caller
 * holds srv->mu. */
void server_job_event(server_t *srv, const job_t *j, const char *type, json_t *detail);

/* Records an administrative change by user (a name): action (above), object (what it changed:
 * a team's, token's, volume's, user's or node's name), old and new values (stolen; NULL for
 * none; never a secret: a token is named by its id). Stored as a kept write once the change is
 * applied: for a change that is itself a store write, server_audit_enqueue instead (one
 * transaction). May be called with or without srv->mu. */
void server_audit(server_t *srv, const char *user, const char *action, const char *object,
                  json_t *old, json_t *new_value);

/* The same entry for a change the caller commits through the store: queues ops[0..n) (the
 * change) and the audit entry as one client batch (store_enqueue_client), so both are
 * committed or neither, and returns its ticket for the caller's store_wait(). old and
 * new_value are stolen. A batch the store refuses leaves a gap in the audit's numbering. */
uint64_t server_audit_enqueue(server_t *srv, const store_op_t *ops, size_t n, const char *user,
                              const char *action, const char *object, json_t *old,
                              json_t *new_value);

/* After the store is opened: numbering goes on from the last stored event and audit entry.
 * 0, or -1 with err. events_free() accepts a server whose events were never opened. */
int events_open(server_t *srv, gt_error_t *err);
void events_free(server_t *srv);

/* The sentence an event of type with these fields says (new string): what gantry show prints
 * when a stored event has no message. */
char *events_message(const char *type, const json_t *ev);

/* GET /v1/jobs/{id}/events (the caller checked who may see job id; mu NOT held):
 * {"events": [...]} oldest first. */
int api_job_events(server_t *srv, http_req_t *req, http_resp_t *resp, uint64_t id);
/* GET /v1/events?since=SEQ[&limit=N][&job=ID][&watch=1]: the cluster's events after SEQ that
 * the caller may see ({"events": [...], "next": SEQ to ask from next}); watch=1 streams them
 * instead, one JSON object a line (application/x-ndjson), the backlog first, until the client
 * leaves or the server stops. */
int api_events(server_t *srv, http_req_t *req, http_resp_t *resp);
/* GET /v1/audit?since=SEQ[&limit=N]: the audit log (admins only). */
int api_audit(server_t *srv, http_req_t *req, http_resp_t *resp);

#endif
