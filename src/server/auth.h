/* auth.h: bearer tokens and roles.
 *
 * A token is "gt_" + 64 random hex digits; only its SHA-256 is kept (in memory and in the
 * store). Roles: admin (everything), team-admin (jobs of their team, sub-teams, member and
 * viewer tokens of their team), member (submit to their team, see its queue, cancel their own
 * jobs), agent (a join token: registers a node name that has no credential yet, nothing else),
 * viewer (read-only: what a member of its team sees, or everything when it has no team), node
 * (one node's own credential, bound at its first registration: its user is the node's name and
 * it acts only as that node). A token may expire (its lookups fail from then on) and is
 * revoked by removing it. The table is safe to use from many threads. */
#ifndef GANTRY_AUTH_H
#define GANTRY_AUTH_H

#include <stdbool.h>

#include "common/util.h"

typedef enum auth_role {
    AUTH_ADMIN,
    AUTH_TEAM_ADMIN,
    AUTH_MEMBER,
    AUTH_AGENT,
    AUTH_VIEWER,
    AUTH_NODE,
} auth_role_t;

typedef struct auth_principal {
    char user[64];
    char team[64];        /* "" for admin and agent (and a cluster-wide viewer) */
    auth_role_t role;
    char token_id[17];    /* the token's id: the first 16 hex digits of its hash (not secret;
                             names it in listings, revocation, idempotency scopes) */
    /* A job's own token (server/tracking.h): nonzero job_id; it may only write that run's
     * metrics (api_tracking.c), nothing else. 0 for every other principal. */
    uint64_t job_id;
    int job_inc;
} auth_principal_t;

/* A token as listed: everything but its secret. */
typedef struct auth_token_info {
    char id[17];
    char user[64], team[64];
    auth_role_t role;
    int64_t created, expires;   /* epoch seconds; created 0 = unknown (older stores), expires
                                   0 = never */
} auth_token_info_t;

typedef struct auth auth_t;

auth_t *auth_new(void);
void auth_free(auth_t *a);

/* "admin", "team-admin", "member", "agent", "viewer", "node" <-> role; parse returns -1
 * (EINVAL) with err. */
int auth_role_parse(const char *s, auth_role_t *out, gt_error_t *err);
const char *auth_role_name(auth_role_t r);

/* Writes a new random token into tok[68] (-1 with errno when /dev/urandom fails). */
int auth_token_generate(char tok[68]);
/* SHA-256 of a token as hex. */
void auth_token_hash(const char *token, char hash[65]);

/* Adds a principal under a token hash (replacing one with the same hash). Validates: user
 * non-empty, at most 63 characters; team required for team-admin and member (optional for a
 * viewer: none = cluster-wide). auth_add_token also records when it was created and when it
 * expires (epoch seconds, 0 = never); auth_add is auth_add_token with 0, 0. */
int auth_add(auth_t *a, const char *hash, const char *user, auth_role_t role, const char *team,
             gt_error_t *err);
int auth_add_token(auth_t *a, const char *hash, const char *user, auth_role_t role,
                   const char *team, int64_t created, int64_t expires, gt_error_t *err);
/* Finds the principal of a presented token at time now (epoch seconds): false when unknown,
 * revoked, or expired (expires <= now). auth_lookup asks the wall clock. */
bool auth_lookup_at(auth_t *a, const char *token, int64_t now, auth_principal_t *out);
bool auth_lookup(auth_t *a, const char *token, auth_principal_t *out);
int auth_count(auth_t *a);
/* The token with this id (16 hex digits): its info and hash (either may be NULL). false when
 * none. */
bool auth_find(auth_t *a, const char *id, auth_token_info_t *info, char hash[65]);
/* Removes the token whose hash this is: it fails every lookup from now on. -1 (ENOENT) when
 * there is none. */
int auth_remove(auth_t *a, const char *hash);
/* Every token, in the order added: a new array (free it) of *n entries. */
auth_token_info_t *auth_list(auth_t *a, size_t *n);

/* Authorization predicates. */
bool auth_can_use_team(const auth_principal_t *p, const char *team);   /* submit (no viewer) */
/* See a team's jobs, queue, usage: admin; a cluster-wide viewer; member, team-admin or
 * viewer of that team. */
bool auth_can_see_team(const auth_principal_t *p, const char *team);
/* Read-only roles (viewer): any request but a GET is refused. */
bool auth_read_only(const auth_principal_t *p);
/* Creating a token of role for team: admin any; a team-admin member and viewer tokens of its
 * own team (and only for users the administrator mapped to it: checked by the caller, which
 * holds the users). */
bool auth_can_mint(const auth_principal_t *p, auth_role_t role, const char *team);
/* Listing and revoking a token: admin any; a team-admin the member and viewer tokens of its
 * team; anyone its own token (by id). */
bool auth_can_manage_token(const auth_principal_t *p, const auth_token_info_t *t);
bool auth_can_admin_team(const auth_principal_t *p, const char *team); /* any job of team */
/* Governance of a team (its quota, limit, weight; creating it): ancestors[0..n) are the names
 * of the team's parent, grandparent, ... (for a new team: of the parent it is created under).
 * An admin governs every team; a team-admin only strict sub-teams of its own team (its team is
 * among the ancestors), never its own team (an admin sets that) nor another. */
bool auth_can_govern_team(const auth_principal_t *p, const char *const *ancestors, size_t n);
/* Cancel: admin; team-admin of the job's team; a member for their own jobs in their team. */
bool auth_can_cancel(const auth_principal_t *p, const char *team, const char *user);

/* Node identity (docs/agent-protocol.md). auth_acts_as_node: may p act as node (agent calls
 * naming it)? Admin: any node; a node credential: its own node only; others (join tokens
 * included): none. */
bool auth_acts_as_node(const auth_principal_t *p, const char *node);
/* Whether some node credential is bound to node. */
bool auth_node_has_credential(auth_t *a, const char *node);
/* Removes every node credential bound to node (an admin's `gantry node reset`); returns how
 * many. */
int auth_remove_node(auth_t *a, const char *node);

#endif
