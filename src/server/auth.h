/* auth.h: bearer tokens and roles.
 *
 * A token is "gt_" + 64 random hex digits; only its SHA-256 is kept (in memory and in the
 * store). Roles: admin (everything), team-admin (quotas and jobs of their team), member (submit
 * to their team, see its queue, cancel their own jobs), agent (node endpoints only).
 * The table is safe to use from many threads. */
#ifndef GANTRY_AUTH_H
#define GANTRY_AUTH_H

#include <stdbool.h>

#include "common/util.h"

typedef enum auth_role {
    AUTH_ADMIN,
    AUTH_TEAM_ADMIN,
    AUTH_MEMBER,
    AUTH_AGENT,
} auth_role_t;

typedef struct auth_principal {
    char user[64];
    char team[64];        /* "" for admin and agent */
    auth_role_t role;
    char token_id[17];    /* the token's id: the first 16 hex digits of its hash (not secret;
                             names it in listings, revocation, idempotency scopes) */
} auth_principal_t;

typedef struct auth auth_t;

auth_t *auth_new(void);
void auth_free(auth_t *a);

/* "admin", "team-admin", "member", "agent" <-> role; parse returns -1 (EINVAL) with err. */
int auth_role_parse(const char *s, auth_role_t *out, gt_error_t *err);
const char *auth_role_name(auth_role_t r);

/* Writes a new random token into tok[68] (-1 with errno when /dev/urandom fails). */
int auth_token_generate(char tok[68]);
/* SHA-256 of a token as hex. */
void auth_token_hash(const char *token, char hash[65]);

/* Adds a principal under a token hash (replacing one with the same hash). Validates: user
 * non-empty, at most 63 characters; team required for team-admin and member. */
int auth_add(auth_t *a, const char *hash, const char *user, auth_role_t role, const char *team,
             gt_error_t *err);
/* Finds the principal of a presented token. false when unknown. */
bool auth_lookup(auth_t *a, const char *token, auth_principal_t *out);
int auth_count(auth_t *a);

/* Authorization predicates. */
bool auth_can_use_team(const auth_principal_t *p, const char *team);   /* submit, see queue */
bool auth_can_admin_team(const auth_principal_t *p, const char *team); /* any job of team */
/* Governance of a team (its quota, limit, weight; creating it): ancestors[0..n) are the names
 * of the team's parent, grandparent, ... (for a new team: of the parent it is created under).
 * An admin governs every team; a team-admin only strict sub-teams of its own team (its team is
 * among the ancestors), never its own team (an admin sets that) nor another. */
bool auth_can_govern_team(const auth_principal_t *p, const char *const *ancestors, size_t n);
/* Cancel: admin; team-admin of the job's team; a member for their own jobs in their team. */
bool auth_can_cancel(const auth_principal_t *p, const char *team, const char *user);

#endif
