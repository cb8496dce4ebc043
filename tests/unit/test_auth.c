#include <errno.h>
#include <string.h>

#include "common/sha256.h"
#include "server/auth.h"
#include "tap.h"

int main(void)
{
    char hex[65];
    gt_sha256_hex("", 0, hex);
    is_str(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", "sha256('')");
    gt_sha256_hex("abc", 3, hex);
    is_str(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", "sha256(abc)");
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
    auth_free(a);
    return tap_done();
}
