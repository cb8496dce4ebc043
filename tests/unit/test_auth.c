#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/digest.h"
#include "server/auth.h"
#include "tap.h"

int main(void)
{
    char hex[65];
    gt_sha256_hex("", 0, hex);
    is_str(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", "sha256('')");
    gt_sha256_hex("abc", 3, hex);
    is_str(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", "sha256(abc)");
    ok(gt_sha256_hex_ok(hex), "a digest it writes is well formed");
    ok(!gt_sha256_hex_ok("BA7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
       "upper case is not");
    ok(!gt_sha256_hex_ok("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015a"),
       "63 digits are not");
    ok(!gt_sha256_hex_ok("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad0"),
       "65 digits are not");
    ok(!gt_sha256_hex_ok("ga7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
       "a non-hex digit is not");
    ok(!gt_sha256_hex_ok(NULL) && !gt_sha256_hex_ok(""), "NULL and empty are not");
    const char *l = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    gt_sha256_hex(l, strlen(l), hex);
    is_str(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1",
           "sha256 of a two-block message");

    auth_t *a = auth_new();
    char tok[68], tok2[68], h[65];
    is_int(auth_token_generate(tok), 0, "token generated");
    is_int(strlen(tok), 67, "token is gt_ + 64 hex");
    auth_token_generate(tok2);
    ok(strcmp(tok, tok2) != 0, "two tokens differ");
    auth_token_hash(tok, h);
    gt_error_t err = {0};
    is_int(auth_add(a, h, "alice", AUTH_MEMBER, "research", &err), 0, "member added");
    auth_token_hash(tok2, h);
    errno = 0;
    is_int(auth_add(a, h, "bob", AUTH_MEMBER, NULL, &err), -1, "member without team refused");
    is_int(errno, EINVAL, "EINVAL");
    is_str(err.code, "invalid_argument", "code invalid_argument");

    auth_principal_t p;
    ok(auth_lookup(a, tok, &p), "token found");
    is_str(p.user, "alice", "user");
    is_str(p.team, "research", "team");
    auth_token_hash(tok, h);
    ok(strlen(p.token_id) == 16 && !strncmp(p.token_id, h, 16),
       "token id is the first 16 hex digits of the token's hash");
    ok(!auth_lookup(a, tok2, &p), "unknown token not found");
    ok(!auth_lookup(a, "garbage", &p), "garbage not found");

    auth_role_t r;
    is_int(auth_role_parse("team-admin", &r, &err), 0, "parse team-admin");
    is_int(r, AUTH_TEAM_ADMIN, "team-admin role");
    is_int(auth_role_parse("root", &r, &err), -1, "unknown role refused");

    auth_principal_t member = {.user = "alice", .team = "research", .role = AUTH_MEMBER};
    auth_principal_t tadmin = {.user = "carol", .team = "research", .role = AUTH_TEAM_ADMIN};
    auth_principal_t admin = {.user = "root", .team = "", .role = AUTH_ADMIN};
    auth_principal_t agent = {.user = "node", .team = "", .role = AUTH_AGENT};
    ok(auth_can_use_team(&member, "research"), "member uses own team");
    ok(!auth_can_use_team(&member, "vision"), "member can't use another team");
    ok(!auth_can_use_team(&agent, "research"), "agent can't use a team");
    ok(auth_can_use_team(&admin, "vision"), "admin uses any team");
    ok(auth_can_cancel(&member, "research", "alice"), "member cancels own job");
    ok(!auth_can_cancel(&member, "research", "bob"), "member can't cancel a teammate's job");
    ok(!auth_can_cancel(&member, "vision", "alice"), "member can't cancel in another team");
    ok(auth_can_cancel(&tadmin, "research", "bob"), "team admin cancels in own team");
    ok(!auth_can_cancel(&tadmin, "vision", "bob"), "team admin can't cancel in another team");
    ok(auth_can_admin_team(&tadmin, "research"), "team admin administers own team");
    ok(!auth_can_admin_team(&member, "research"), "member doesn't administer");

    /* Governance: ancestors of the team governed, parent first. */
    const char *under_research[] = {"research"};           /* a sub-team of research */
    const char *deep[] = {"speech", "research", "org"};    /* research/speech/x */
    const char *top[] = {NULL};                            /* a top-level team */
    const char *under_org[] = {"org"};                     /* research itself (under org) */
    ok(auth_can_govern_team(&admin, top, 0), "admin governs a top-level team");
    ok(auth_can_govern_team(&admin, under_org, 1), "admin governs any team");
    ok(auth_can_govern_team(&tadmin, under_research, 1), "team-admin governs a sub-team");
    ok(auth_can_govern_team(&tadmin, deep, 3), "team-admin governs a sub-sub-team");
    ok(!auth_can_govern_team(&tadmin, under_org, 1),
       "team-admin does not govern its own team (its ancestors do not hold it)");
    ok(!auth_can_govern_team(&tadmin, top, 0), "team-admin does not govern a top-level team");
    const char *under_vision[] = {"vision"};
    ok(!auth_can_govern_team(&tadmin, under_vision, 1), "nor another team's sub-team");
    ok(!auth_can_govern_team(&member, under_research, 1), "a member governs nothing");
    auth_principal_t lost = {.user = "x", .team = "", .role = AUTH_TEAM_ADMIN};
    const char *empty[] = {""};
    ok(!auth_can_govern_team(&lost, empty, 1), "a team-admin without a team governs nothing");

    /* Viewers: read-only; a team's viewer sees that team, a cluster-wide one (no team) all. */
    auth_principal_t tviewer = {.user = "v", .team = "research", .role = AUTH_VIEWER};
    auth_principal_t cviewer = {.user = "w", .team = "", .role = AUTH_VIEWER};
    is_int(auth_role_parse("viewer", &r, &err), 0, "parse viewer");
    is_int(r, AUTH_VIEWER, "viewer role");
    is_str(auth_role_name(AUTH_VIEWER), "viewer", "viewer's name");
    ok(auth_can_see_team(&tviewer, "research"), "team viewer sees its team");
    ok(!auth_can_see_team(&tviewer, "vision"), "team viewer doesn't see another team");
    ok(auth_can_see_team(&cviewer, "vision"), "cluster-wide viewer sees every team");
    ok(!auth_can_use_team(&tviewer, "research"), "a viewer can't submit to its team");
    ok(!auth_can_use_team(&cviewer, "research"), "nor a cluster-wide viewer");
    ok(!auth_can_cancel(&tviewer, "research", "v"), "a viewer cancels nothing");
    ok(auth_read_only(&tviewer) && auth_read_only(&cviewer), "viewers are read-only");
    ok(!auth_read_only(&member) && !auth_read_only(&admin), "members and admins are not");
    ok(auth_can_see_team(&member, "research") && !auth_can_see_team(&member, "vision"),
       "a member sees its team only");
    ok(!auth_can_see_team(&agent, "research"), "an agent sees no team");
    is_int(auth_add(a, h, "v", AUTH_VIEWER, NULL, &err), 0, "a viewer token needs no team");

    /* Minting: a team-admin member and viewer tokens of its own team only. */
    ok(auth_can_mint(&admin, AUTH_ADMIN, NULL), "admin mints admin tokens");
    ok(auth_can_mint(&tadmin, AUTH_MEMBER, "research"), "team-admin mints members of its team");
    ok(auth_can_mint(&tadmin, AUTH_VIEWER, "research"), "and viewers of its team");
    ok(!auth_can_mint(&tadmin, AUTH_MEMBER, "vision"), "not members of another team");
    ok(!auth_can_mint(&tadmin, AUTH_MEMBER, NULL), "not members without a team");
    ok(!auth_can_mint(&tadmin, AUTH_VIEWER, NULL), "not cluster-wide viewers");
    ok(!auth_can_mint(&tadmin, AUTH_TEAM_ADMIN, "research"), "not team-admins");
    ok(!auth_can_mint(&tadmin, AUTH_AGENT, NULL), "not agents");
    ok(!auth_can_mint(&member, AUTH_MEMBER, "research"), "a member mints nothing");
    ok(!auth_can_mint(&tviewer, AUTH_VIEWER, "research"), "a viewer mints nothing");

    /* Expiry, ids, listing, revocation. */
    auth_t *b = auth_new();
    char t1[68], t2[68], h1[65], h2[65];
    auth_token_generate(t1);
    auth_token_generate(t2);
    auth_token_hash(t1, h1);
    auth_token_hash(t2, h2);
    is_int(auth_add_token(b, h1, "alice", AUTH_MEMBER, "research", 1000, 2000, &err), 0,
           "a token expiring at 2000");
    is_int(auth_add_token(b, h2, "bob", AUTH_VIEWER, "research", 1000, 0, &err), 0,
           "a token that never expires");
    ok(auth_lookup_at(b, t1, 1999, &p), "valid just before it expires");
    ok(!auth_lookup_at(b, t1, 2000, &p), "refused from the second it expires");
    ok(!auth_lookup_at(b, t1, 5000, &p), "and after");
    ok(auth_lookup_at(b, t2, 1LL << 40, &p), "a token without expiry never expires");
    ok(!auth_lookup(b, t1, &p), "auth_lookup: the wall clock is past 2000");
    size_t n = 0;
    auth_token_info_t *lst = auth_list(b, &n);
    is_int((int)n, 2, "two tokens listed");
    ok(n == 2 && !strncmp(lst[0].id, h1, 16) && lst[0].expires == 2000 && lst[0].created == 1000 &&
           !strcmp(lst[0].user, "alice") && lst[1].role == AUTH_VIEWER,
       "listed with id, user, role, created, expires");
    auth_token_info_t info;
    char got[65];
    char id1[17];
    memcpy(id1, h1, 16);
    id1[16] = 0;
    ok(auth_find(b, id1, &info, got) && !strcmp(got, h1) && !strcmp(info.team, "research"),
       "found by id, with its hash");
    ok(!auth_find(b, "0123456789abcdef", &info, got), "an unknown id is not found");
    ok(!auth_find(b, "short", &info, got), "a malformed id is not found");
    ok(auth_can_manage_token(&tadmin, &lst[0]), "team-admin manages its team's member token");
    auth_token_info_t other = lst[0];
    snprintf(other.team, sizeof(other.team), "vision");
    ok(!auth_can_manage_token(&tadmin, &other), "not another team's");
    other = lst[0];
    other.role = AUTH_TEAM_ADMIN;
    ok(!auth_can_manage_token(&tadmin, &other), "nor a team-admin token of its team");
    auth_principal_t self = member;
    memcpy(self.token_id, lst[0].id, 17);
    ok(auth_can_manage_token(&self, &lst[0]), "anyone manages its own token");
    ok(!auth_can_manage_token(&member, &lst[1]), "a member not another's");
    ok(auth_can_manage_token(&admin, &lst[1]), "an admin every token");
    free(lst);
    is_int(auth_remove(b, h2), 0, "revoke bob's token");
    ok(!auth_lookup_at(b, t2, 1500, &p), "a revoked token is refused at once");
    errno = 0;
    is_int(auth_remove(b, h2), -1, "revoking it twice");
    is_int(errno, ENOENT, "ENOENT");
    is_int(auth_count(b), 1, "one token left");
    auth_free(b);
    /* Node identity: a join token (agent) acts as no node; a node credential as its own. */
    is_int(auth_role_parse("node", &r, &err), 0, "parse node");
    is_int(r, AUTH_NODE, "node role");
    is_str(auth_role_name(AUTH_NODE), "node", "node role name");
    char nt[68], nh[65], nt2[68], nh2[65];
    auth_token_generate(nt);
    auth_token_hash(nt, nh);
    ok(!auth_node_has_credential(a, "n1"), "n1 has no credential yet");
    is_int(auth_add(a, nh, "n1", AUTH_NODE, "research", &err), 0, "node credential for n1");
    ok(auth_node_has_credential(a, "n1"), "n1 has a credential");
    ok(!auth_node_has_credential(a, "n2"), "n2 still has none");
    auth_principal_t np;
    ok(auth_lookup(a, nt, &np), "node credential found");
    is_int(np.role, AUTH_NODE, "with role node");
    is_str(np.user, "n1", "bound to n1");
    is_str(np.team, "", "and no team");
    ok(auth_acts_as_node(&np, "n1"), "n1's credential acts as n1");
    ok(!auth_acts_as_node(&np, "n2"), "n1's credential does not act as n2");
    ok(!auth_acts_as_node(&np, NULL), "nor as no node");
    ok(!auth_acts_as_node(&agent, "node"), "a join token acts as no node, even its user's name");
    ok(auth_acts_as_node(&admin, "n2"), "an admin acts as any node");
    ok(!auth_acts_as_node(&member, "n1"), "a member acts as no node");
    ok(!auth_can_use_team(&np, "research"), "a node credential can't use a team");
    ok(!auth_can_admin_team(&np, "research"), "nor administer one");
    ok(!auth_can_see_team(&np, "research"), "nor see one");
    auth_token_generate(nt2);
    auth_token_hash(nt2, nh2);
    errno = 0;
    is_int(auth_add(a, nh2, "bad name", AUTH_NODE, NULL, &err), -1,
           "a node credential's user must be a node name");
    is_int(errno, EINVAL, "EINVAL");
    is_int(auth_add(a, nh2, "n1", AUTH_NODE, NULL, &err), 0, "a second credential for n1");
    int before = auth_count(a);
    is_int(auth_remove_node(a, "n1"), 2, "node reset removes both of n1's credentials");
    is_int(auth_count(a), before - 2, "and nothing else");
    ok(!auth_lookup(a, nt, &np), "the removed credential is refused");
    ok(!auth_node_has_credential(a, "n1"), "n1 has no credential any more");
    ok(auth_lookup(a, tok, &p), "other tokens still work");
    is_int(auth_remove_node(a, "n1"), 0, "a second reset removes nothing");
    auth_free(a);

    /* Thousands of credentials (2,000 nodes): every one is found through the index as it
     * grows, after removals shift the others, and after a node reset swaps them. */
    enum { MANY = 3000 };
    a = auth_new();
    static char toks[MANY][68];
    char name[32];
    int bad = 0;
    for (int i = 0; i < MANY; i++) {
        auth_token_generate(toks[i]);
        auth_token_hash(toks[i], h);
        snprintf(name, sizeof(name), "node-%d", i);
        bad += auth_add_token(a, h, name, AUTH_NODE, NULL, 0, 0, &err) != 0;
        auth_principal_t q;
        /* the first one, after each growth of the table */
        bad += !auth_lookup(a, toks[0], &q) || strcmp(q.user, "node-0");
    }
    is_int(bad, 0, "3,000 credentials added, the first still found as the table grows");
    bad = 0;
    for (int i = 0; i < MANY; i++) {
        auth_principal_t q;
        snprintf(name, sizeof(name), "node-%d", i);
        bad += !auth_lookup(a, toks[i], &q) || strcmp(q.user, name) || q.role != AUTH_NODE;
    }
    is_int(bad, 0, "each found as its own node");
    auth_token_hash(toks[10], h);
    is_int(auth_remove(a, h), 0, "a revocation in the middle (the rest shift down)");
    is_int(auth_remove_node(a, "node-20"), 1, "a node reset (the last one moves into its place)");
    bad = 0;
    for (int i = 0; i < MANY; i++) {
        auth_principal_t q;
        snprintf(name, sizeof(name), "node-%d", i);
        bool want = i != 10 && i != 20;
        bool got = auth_lookup(a, toks[i], &q);
        bad += got != want || (got && strcmp(q.user, name));
    }
    is_int(bad, 0, "after both, the other 2,998 are found as themselves and the two are refused");
    auth_token_hash(toks[5], h);
    is_int(auth_add_token(a, h, "node-5", AUTH_NODE, NULL, 0, 0, &err), 0,
           "adding a hash again replaces it");
    is_int(auth_count(a), MANY - 2, "without a second entry");
    auth_free(a);
    return tap_done();
}
