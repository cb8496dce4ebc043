/* metrics_ship.h: the agent ships a job's $GANTRY_METRICS file (STATE/metrics/ID.INC.jsonl,
 * supervisor_metrics_path) to the server, as it ships logs: whole lines, in order, each chunk
 * at its byte offset in the file (POST /v1/agent/metrics, docs/agent-protocol.md). The server
 * knows how much of each run's file it has, so a chunk sent again after an agent restart or a
 * lost answer is not doubled; its answer says where to go on (a restarted agent starts from 0
 * and jumps there at its first answer). */
#ifndef GANTRY_AGENT_METRICS_SHIP_H
#define GANTRY_AGENT_METRICS_SHIP_H

#include <stdbool.h>
#include <stdint.h>

#include "agent/client.h"

#define METRICS_SHIP_CHUNK (64 * 1024)

typedef struct metrics_ship {
    int64_t shipped;     /* bytes of the file the server has */
    bool gone;           /* nothing (more) to ship: the server refused them (kept on the node) */
} metrics_ship_t;

/* What ship_metrics did. */
typedef enum metrics_ship_rc {
    METRICS_SHIPPED,     /* all of the file the server takes now is there */
    METRICS_PENDING,     /* more to send (the server was not reachable, or 16 chunks sent) */
    METRICS_REFUSED,     /* the server does not take them (400, 404): ms->gone is set */
    METRICS_REREGISTER,  /* 401/403: the agent must register again */
} metrics_ship_rc_t;

/* Ships what the file at path gained beyond ms->shipped (at most 16 chunks). final: the run
 * is over; a last line without its newline goes too, and the server is told so. A file that
 * does not exist (an older supervisor) counts as shipped. */
metrics_ship_rc_t metrics_ship(client_t *c, const char *node, const char *path, int64_t job_id,
                               int inc, bool final, metrics_ship_t *ms, gt_error_t *err);

#endif
