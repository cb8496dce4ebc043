/* lineage.h: jobs that consume and produce artifacts, and what links them (docs/artifacts.md
 * "Jobs" and "Lineage").
 *
 * A job's inputs are resolved at submission to exact versions (imagenet:production becomes
 * imagenet@3 with its digest, recorded on the job), and mounted read-only into it when it
 * starts through the volumes' mounts (a version registered in place on a volume; a job
 * cannot mount one kept only in the blob store). Its outputs live in its output directory on
 * the team's output volume; when the job succeeds, the node that ran its first rank hashes
 * each (agent/artifact_hash.h) and the server registers a new version in place there, whose
 * lineage is the job: id, user, team, command, image and its digest, environment, inputs'
 * versions, start and end. A failed, cancelled or preempted run registers nothing.
 *
 * In-place versions a user names (`gantry artifact push --in-place VOLUME:PATH NAME`) and
 * verification (`gantry artifact verify`) are hashed on a node too: the server queues a "hash"
 * task to a node that is up and keeps the request in memory until the node answers.
 *
 * Every function here is called with srv->mu held unless it says otherwise. */
#ifndef GANTRY_SERVER_LINEAGE_H
#define GANTRY_SERVER_LINEAGE_H

#include <jansson.h>
#include <stdint.h>

#include "server/auth.h"
#include "server/job.h"
#include "server/server.h"

/* At submission: resolves each of j->inputs to a version team j->team may read (adding name,
 * version, digest and location), refusing a version that is not in place on a volume; checks
 * that the team has an output volume when j has outputs, and may write each output artifact.
 * 0, or -1 with err (code invalid_argument, not_found or forbidden: http_status_of_error). */
int lineage_resolve_job(server_t *srv, job_t *j, gt_error_t *err);

/* At start: appends to mounts (the start task's) one read-only mount per input, from its
 * version's volume. -1 with err when a volume was removed since the submission. */
int lineage_input_mounts(server_t *srv, const job_t *j, json_t *mounts, gt_error_t *err);

/* At start, for the job's first rank: the start task's "outputs" ([{artifact, sub_path}]:
 * sub_path beneath output_dir), when the task has an output_dir. */
void lineage_task_outputs(const job_t *j, json_t *task_job);

/* A heartbeat of node n: its "fetching" list ([{job, incarnation, bytes, total}]: jobs whose
 * blob-store inputs it fetches before their start) shown on the jobs ("fetch" in their view,
 * memory only); jobs of its "running" list not in it any more are no longer shown so. (The
 * job event fetching_inputs is recorded when the node asks for an input's manifest.) */
void lineage_note_fetching(server_t *srv, node_t *n, json_t *body);
/* A registration's answer: "volume_paths", the volumes' host paths; the node's heartbeats
 * then say which it has ("volumes"), and a hash is asked of a node that has its volume. */
void lineage_register_answer(server_t *srv, json_t *answer);

/* POST /v1/agent/outputs from node n: the hashes of a job's outputs after its successful exit,
 * kept on the job (memory) until its exit is applied. Fills resp. */
int lineage_agent_outputs(server_t *srv, node_t *n, json_t *body, http_resp_t *resp);

/* The job succeeded (its last rank's exit, at end time end): registers a version of each of
 * its outputs the node hashed, with the job's lineage, and records {version, digest} (or
 * error) on j->outputs. An output without hashes gets an error and a job event. Returns the
 * store ticket of the last write (0: none). */
uint64_t lineage_job_succeeded(server_t *srv, job_t *j, double end);

/* POST /v1/agent/hashes from node n: the answer to a hash task. Fills resp. */
int lineage_agent_hashes(server_t *srv, node_t *n, json_t *body, http_resp_t *resp);

/* The user's routes (lineage.c's own, under /v1/artifacts): POST in-place registration,
 * POST verify, GET a request's state, GET lineage. Returns 1 when rest is not one of them
 * (the caller routes it elsewhere), else 0 with resp filled. Takes mu itself. */
int api_lineage(server_t *srv, http_req_t *req, http_resp_t *resp, const char *rest);

/* Loads the hash requests the store keeps (at server start, after the registry): those still
 * hashing are sent to their node again at its next heartbeat, and wait for it. Without mu. */
int lineage_load(server_t *srv, gt_error_t *err);

void lineage_free(server_t *srv);

#endif
