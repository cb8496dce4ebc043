#include "server/auth.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/digest.h"

typedef struct entry {
    char hash[65];
    auth_principal_t p;
    int64_t created, expires;
} entry_t;

struct auth {
    pthread_rwlock_t lock;
    entry_t *v;
    size_t n, cap;
    /* v's positions + 1 by token hash (open addressing, 0 = empty, at least twice n): every
     * request looks its token up, and 2,000 nodes are 2,000 credentials. Rebuilt when an
     * entry leaves (rare: a revocation, a node reset). */
    size_t *idx;
    size_t idx_cap;
};

static size_t idx_slot(const auth_t *a, const char *hash)
{
    uint64_t h = 0; /* a SHA-256 in hex: its first 16 digits are as good as any hash */
    for (int i = 0; i < 16 && hash[i]; i++)
        h = h << 4 | (uint64_t)(hash[i] <= '9' ? hash[i] - '0' : (hash[i] | 0x20) - 'a' + 10);
    return (size_t)h & (a->idx_cap - 1);
}

static void idx_put(auth_t *a, size_t pos)
{
    size_t i = idx_slot(a, a->v[pos].hash);
    while (a->idx[i])
        i = (i + 1) & (a->idx_cap - 1);
    a->idx[i] = pos + 1;
}

/* Rebuilds the index of v[0..n-1] (its size grown to hold them). Caller holds the lock. */
static void idx_rebuild(auth_t *a)
{
    size_t cap = a->idx_cap ? a->idx_cap : 64;
    while (a->n * 2 > cap)
        cap *= 2;
    if (cap != a->idx_cap) {
        free(a->idx);
        a->idx = xcalloc(cap, sizeof(*a->idx));
        a->idx_cap = cap;
    } else {
        memset(a->idx, 0, cap * sizeof(*a->idx));
    }
    for (size_t k = 0; k < a->n; k++)
        idx_put(a, k);
}

/* The position of the entry with this hash, or a->n. Caller holds the lock. */
static size_t idx_find(const auth_t *a, const char *hash)
{
    if (!a->idx_cap)
        return a->n;
    for (size_t i = idx_slot(a, hash);; i = (i + 1) & (a->idx_cap - 1)) {
        size_t p = a->idx[i];
        if (!p)
            return a->n;
        if (!strcmp(a->v[p - 1].hash, hash))
            return p - 1;
    }
}

static const char *role_names[] = {"admin", "team-admin", "member", "agent", "viewer", "node"};
#define NROLES ((int)(sizeof(role_names) / sizeof(role_names[0])))

auth_t *auth_new(void)
{
    auth_t *a = xcalloc(1, sizeof(*a));
    pthread_rwlock_init(&a->lock, NULL);
    return a;
}

void auth_free(auth_t *a)
{
    if (!a)
        return;
    pthread_rwlock_destroy(&a->lock);
    free(a->v);
    free(a->idx);
    free(a);
}

int auth_role_parse(const char *s, auth_role_t *out, gt_error_t *err)
{
    for (int i = 0; i < NROLES; i++)
        if (s && !strcmp(s, role_names[i])) {
            *out = (auth_role_t)i;
            return 0;
        }
    errno = EINVAL;
    return gt_error_set(err, "invalid_argument",
                        "role '%s' is not known: use admin, team-admin, member, viewer, agent "
                        "or node",
                        s ? s : "");
}

const char *auth_role_name(auth_role_t r)
{
    return (unsigned)r < (unsigned)NROLES ? role_names[r] : "unknown";
}

int auth_token_generate(char tok[68])
{
    unsigned char raw[32];
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t got = read(fd, raw, sizeof(raw));
    close(fd);
    if (got != (ssize_t)sizeof(raw)) {
        errno = EIO;
        return -1;
    }
    memcpy(tok, "gt_", 3);
    for (int i = 0; i < 32; i++)
        snprintf(tok + 3 + 2 * i, 3, "%02x", raw[i]);
    return 0;
}

void auth_token_hash(const char *token, char hash[65])
{
    gt_sha256_hex(token, strlen(token), hash);
}

int auth_add(auth_t *a, const char *hash, const char *user, auth_role_t role, const char *team,
             gt_error_t *err)
{
    return auth_add_token(a, hash, user, role, team, 0, 0, err);
}

int auth_add_token(auth_t *a, const char *hash, const char *user, auth_role_t role,
                   const char *team, int64_t created, int64_t expires, gt_error_t *err)
{
    errno = EINVAL;
    if (!user || !*user || strlen(user) > 63)
        return gt_error_set(err, "invalid_argument", "a token needs a user name of 1 to 63 "
                                                     "characters");
    if ((role == AUTH_TEAM_ADMIN || role == AUTH_MEMBER) && (!team || !*team))
        return gt_error_set(err, "invalid_argument",
                            "a %s token needs a team: pass --team TEAM", auth_role_name(role));
    if (role == AUTH_NODE && gt_node_name_check(user, err) < 0)
        return -1; /* a node credential's user is its node's name */
    if (team && strlen(team) > 63)
        return gt_error_set(err, "invalid_argument", "team name is too long");
    if (!hash || strlen(hash) != 64)
        return gt_error_set(err, "invalid_argument", "token hash is not valid");
    entry_t e = {0};
    memcpy(e.hash, hash, 65);
    snprintf(e.p.user, sizeof(e.p.user), "%s", user);
    snprintf(e.p.team, sizeof(e.p.team), "%s",
             team && role != AUTH_ADMIN && role != AUTH_NODE ? team : "");
    e.p.role = role;
    memcpy(e.p.token_id, hash, 16);
    e.p.token_id[16] = 0;
    e.created = created;
    e.expires = expires > 0 ? expires : 0;
    pthread_rwlock_wrlock(&a->lock);
    size_t i = idx_find(a, hash);
    if (i == a->n) {
        GT_GROW(a->v, a->cap, a->n + 1);
        a->n++;
        a->v[i] = e;
        if (a->n * 2 > a->idx_cap)
            idx_rebuild(a);
        else
            idx_put(a, i);
    } else {
        a->v[i] = e;
    }
    pthread_rwlock_unlock(&a->lock);
    return 0;
}

bool auth_lookup_at(auth_t *a, const char *token, int64_t now, auth_principal_t *out)
{
    if (!token || strncmp(token, "gt_", 3) != 0)
        return false;
    char hash[65];
    auth_token_hash(token, hash);
    bool found = false;
    pthread_rwlock_rdlock(&a->lock);
    size_t i = idx_find(a, hash);
    if (i < a->n && !(a->v[i].expires && a->v[i].expires <= now)) { /* expired: as if unknown */
        *out = a->v[i].p;
        found = true;
    }
    pthread_rwlock_unlock(&a->lock);
    return found;
}

bool auth_lookup(auth_t *a, const char *token, auth_principal_t *out)
{
    return auth_lookup_at(a, token, (int64_t)time(NULL), out);
}

static void entry_info(const entry_t *e, auth_token_info_t *out)
{
    memset(out, 0, sizeof(*out));
    memcpy(out->id, e->p.token_id, sizeof(out->id));
    memcpy(out->user, e->p.user, sizeof(out->user));
    memcpy(out->team, e->p.team, sizeof(out->team));
    out->role = e->p.role;
    out->created = e->created;
    out->expires = e->expires;
}

bool auth_find(auth_t *a, const char *id, auth_token_info_t *info, char hash[65])
{
    bool found = false;
    if (!id || strlen(id) != 16)
        return false;
    pthread_rwlock_rdlock(&a->lock);
    for (size_t i = 0; i < a->n && !found; i++)
        if (!strcmp(a->v[i].p.token_id, id)) {
            if (info)
                entry_info(&a->v[i], info);
            if (hash)
                memcpy(hash, a->v[i].hash, 65);
            found = true;
        }
    pthread_rwlock_unlock(&a->lock);
    return found;
}

int auth_remove(auth_t *a, const char *hash)
{
    int rc = -1;
    pthread_rwlock_wrlock(&a->lock);
    for (size_t i = 0; i < a->n; i++)
        if (!strcmp(a->v[i].hash, hash)) {
            /* Keep the order (listings): shift the rest down. */
            memmove(&a->v[i], &a->v[i + 1], (a->n - i - 1) * sizeof(*a->v));
            a->n--;
            idx_rebuild(a);
            rc = 0;
            break;
        }
    pthread_rwlock_unlock(&a->lock);
    if (rc < 0)
        errno = ENOENT;
    return rc;
}

auth_token_info_t *auth_list(auth_t *a, size_t *n)
{
    pthread_rwlock_rdlock(&a->lock);
    auth_token_info_t *v = xcalloc(a->n ? a->n : 1, sizeof(*v));
    for (size_t i = 0; i < a->n; i++)
        entry_info(&a->v[i], &v[i]);
    *n = a->n;
    pthread_rwlock_unlock(&a->lock);
    return v;
}

int auth_count(auth_t *a)
{
    pthread_rwlock_rdlock(&a->lock);
    int n = (int)a->n;
    pthread_rwlock_unlock(&a->lock);
    return n;
}

bool auth_can_use_team(const auth_principal_t *p, const char *team)
{
    if (p->role == AUTH_ADMIN)
        return true;
    if (p->role != AUTH_TEAM_ADMIN && p->role != AUTH_MEMBER)
        return false;
    return team && !strcmp(p->team, team);
}

bool auth_can_see_team(const auth_principal_t *p, const char *team)
{
    if (p->role == AUTH_VIEWER && !p->team[0])
        return true;
    if (p->role == AUTH_VIEWER)
        return team && !strcmp(p->team, team);
    return auth_can_use_team(p, team);
}

bool auth_read_only(const auth_principal_t *p)
{
    return p->role == AUTH_VIEWER;
}

bool auth_can_mint(const auth_principal_t *p, auth_role_t role, const char *team)
{
    if (p->role == AUTH_ADMIN)
        return true;
    return p->role == AUTH_TEAM_ADMIN && (role == AUTH_MEMBER || role == AUTH_VIEWER) &&
           p->team[0] && team && !strcmp(team, p->team);
}

bool auth_can_manage_token(const auth_principal_t *p, const auth_token_info_t *t)
{
    if (p->role == AUTH_ADMIN || !strcmp(p->token_id, t->id))
        return true;
    return p->role == AUTH_TEAM_ADMIN && (t->role == AUTH_MEMBER || t->role == AUTH_VIEWER) &&
           p->team[0] && !strcmp(t->team, p->team);
}

bool auth_can_admin_team(const auth_principal_t *p, const char *team)
{
    return p->role == AUTH_ADMIN ||
           (p->role == AUTH_TEAM_ADMIN && team && !strcmp(p->team, team));
}

bool auth_can_govern_team(const auth_principal_t *p, const char *const *ancestors, size_t n)
{
    if (p->role == AUTH_ADMIN)
        return true;
    if (p->role != AUTH_TEAM_ADMIN || !p->team[0])
        return false;
    for (size_t i = 0; i < n; i++)
        if (ancestors[i] && !strcmp(ancestors[i], p->team))
            return true;
    return false;
}

bool auth_can_cancel(const auth_principal_t *p, const char *team, const char *user)
{
    if (auth_can_admin_team(p, team))
        return true;
    return p->role == AUTH_MEMBER && team && !strcmp(p->team, team) && user &&
           !strcmp(p->user, user);
}

bool auth_acts_as_node(const auth_principal_t *p, const char *node)
{
    if (p->role == AUTH_ADMIN)
        return true;
    return p->role == AUTH_NODE && node && !strcmp(p->user, node);
}

bool auth_node_has_credential(auth_t *a, const char *node)
{
    bool found = false;
    pthread_rwlock_rdlock(&a->lock);
    for (size_t i = 0; i < a->n && !found; i++)
        found = a->v[i].p.role == AUTH_NODE && !strcmp(a->v[i].p.user, node);
    pthread_rwlock_unlock(&a->lock);
    return found;
}

int auth_remove_node(auth_t *a, const char *node)
{
    int removed = 0;
    pthread_rwlock_wrlock(&a->lock);
    for (size_t i = 0; i < a->n;) {
        if (a->v[i].p.role == AUTH_NODE && !strcmp(a->v[i].p.user, node)) {
            a->v[i] = a->v[--a->n];
            removed++;
            continue;
        }
        i++;
    }
    if (removed)
        idx_rebuild(a);
    pthread_rwlock_unlock(&a->lock);
    return removed;
}
