/* node_token.h: the node's own credential (docs/agent-protocol.md, "Node identity"), kept in
 * the agent's state directory as STATE/node.token (mode 0600): {"node": NAME, "token": T}.
 *
 * The agent proposes a credential at its first registration (made and saved here before it is
 * sent, so a lost answer costs nothing: the retry proposes the same one), then uses it for every
 * call, later registrations included; the join token it was started with is the fallback when
 * the server no longer knows the credential. */
#ifndef GANTRY_AGENT_NODE_TOKEN_H
#define GANTRY_AGENT_NODE_TOKEN_H

#include "common/util.h"

/* Reads STATE/node.token. 0 with tok filled when it holds node's credential; 0 with tok = ""
 * when there is none (no file, or another node's: *other, if not NULL, then names it); -1 with
 * err when it cannot be read or parsed. */
int node_token_load(const char *state_dir, const char *node, char tok[68], char other[64],
                    gt_error_t *err);
/* Writes a new random credential ("gt_" + 64 hex digits) into tok. -1 with err. */
int node_token_new(char tok[68], gt_error_t *err);
/* Saves node's credential as STATE/node.token (0600), durably (written aside, fsynced, renamed
 * over the old one). -1 with err. */
int node_token_save(const char *state_dir, const char *node, const char *tok, gt_error_t *err);

#endif
