/* cli_identity.c: who may act: gantry token create | list | revoke | rotate, and gantry user
 * set | list | show | delete (the administrator's mapping of users to teams and Unix
 * accounts). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/client.h"
#include "cli/commands.h"
#include "cli/table.h"
#include "common/timefmt.h"

/* Sends one request, prints the error on failure; 0 with *resp on one of the ok statuses. */
static int call(cli_t *c, const char *cmd, const char *meth, const char *path, json_t *body,
                int ok1, int ok2, json_t **resp)
{
    gt_error_t err = {0};
    int st = cli_request(c, meth, path, body, NULL, resp, &err);
    if (st == ok1 || st == ok2)
        return 0;
    if (st < 0)
        fprintf(stderr, "gantry %s: %s\n", cmd, err.msg);
    else
        cli_print_error(cmd, st, *resp);
    json_decref(*resp);
    *resp = NULL;
    return -1;
}

static void print_as(cli_t *c, json_t *v, void (*table)(json_t *rows), json_t *rows)
{
    if (c->output == CLI_JSON)
        cli_print_json(v);
    else if (c->output == CLI_YAML)
        cli_print_yaml(v);
    else
        table(rows);
}

/* An epoch time in local ISO 8601, or "-" (null) / "never". */
static void when(json_t *v, const char *none, char *buf, size_t len)
{
    if (!json_is_integer(v)) {
        snprintf(buf, len, "%s", none);
        return;
    }
    gt_time_local((double)json_integer_value(v), buf, len);
}

static void tokens_table(json_t *rows)
{
    static const char *hdr[] = {"ID", "USER", "ROLE", "TEAM", "CREATED", "EXPIRES"};
    cli_table_t *tb = cli_table_new(6, hdr);
    size_t i;
    json_t *t;
    json_array_foreach(rows, i, t)
    {
        char created[32], expires[48];
        when(json_object_get(t, "created"), "-", created, sizeof(created));
        when(json_object_get(t, "expires"), "never", expires, sizeof(expires));
        if (json_is_true(json_object_get(t, "expired")))
            strncat(expires, " (expired)", sizeof(expires) - strlen(expires) - 1);
        const char *cells[] = {cli_str(t, "id", ""),   cli_str(t, "user", ""), cli_str(t, "role", ""),
                               cli_str(t, "team", "-"), created,             expires};
        cli_table_add(tb, cells);
    }
    cli_table_print(tb, stdout);
    cli_table_free(tb);
}

static const char *token_help =
    "usage: gantry token create --user NAME --role admin|team-admin|member|viewer|agent|node\n"
    "                           [--team TEAM] [--expires 30d]\n"
    "       gantry token list\n"
    "       gantry token revoke ID...\n"
    "       gantry token rotate\n\n"
    "create prints a new API token (shown once; the server keeps only its hash). An admin\n"
    "creates any token; a team-admin member and viewer tokens of its team, for users an admin\n"
    "mapped to it (gantry user set). A viewer token without --team sees the whole cluster.\n"
    "An agent token is a join token: it registers nodes that have no credential yet; each\n"
    "node then acts with its own (role node, user = the node's name; gantry node reset NAME).\n"
    "--expires: the token is refused after that long (30d, 12h; default never).\n"
    "list shows the tokens the caller may manage (ids, never secrets); revoke refuses a token\n"
    "at once; rotate replaces the caller's own token with a new one printed here (the old one\n"
    "is revoked; when it was the one in the server's admin.token, that file is rewritten).\n";

static int token_create(cli_t *c, int argc, char **argv)
{
    json_t *body = json_object();
    for (int i = 2; i < argc; i++) {
        if (i + 1 >= argc || strncmp(argv[i], "--", 2) ||
            (strcmp(argv[i], "--user") && strcmp(argv[i], "--role") &&
             strcmp(argv[i], "--team") && strcmp(argv[i], "--expires"))) {
            fprintf(stderr, "gantry token: bad option %s\n%s", argv[i], token_help);
            json_decref(body);
            return 2;
        }
        json_object_set_new(body, argv[i] + 2, json_string(argv[i + 1]));
        i++;
    }
    json_t *resp = NULL;
    int rc = call(c, "token", "POST", "/v1/tokens", body, 201, 201, &resp);
    json_decref(body);
    if (rc < 0)
        return 1;
    if (c->output == CLI_JSON)
        cli_print_json(resp);
    else if (c->output == CLI_YAML)
        cli_print_yaml(resp);
    else
        printf("%s\n", json_string_value(json_object_get(resp, "token")));
    json_decref(resp);
    return 0;
}

int cmd_token(int argc, char **argv)
{
    cli_t c;
    if (cli_init(&c, &argc, argv, "token") < 0)
        return 2;
    const char *sub = argc > 1 ? argv[1] : "";
    if (!strcmp(sub, "--help") || !strcmp(sub, "help")) {
        fputs(token_help, stdout);
        return 0;
    }
    if (!strcmp(sub, "create"))
        return token_create(&c, argc, argv);
    json_t *resp = NULL;
    if (!strcmp(sub, "list") && argc == 2) {
        if (call(&c, "token", "GET", "/v1/tokens", NULL, 200, 200, &resp) < 0)
            return 1;
        json_t *rows = json_object_get(resp, "tokens");
        print_as(&c, rows, tokens_table, rows);
        json_decref(resp);
        return 0;
    }
    if (!strcmp(sub, "revoke") && argc > 2) {
        int rc = 0;
        for (int i = 2; i < argc; i++) {
            char path[256];
            char *id = cli_escape(argv[i]);
            snprintf(path, sizeof(path), "/v1/tokens/%.64s", id);
            free(id);
            if (call(&c, "token", "DELETE", path, NULL, 200, 200, &resp) < 0) {
                rc = 1;
                continue;
            }
            printf("Revoked token %s (%s, user %s).\n", cli_str(resp, "id", argv[i]),
                   cli_str(resp, "role", "?"), cli_str(resp, "user", "?"));
            json_decref(resp);
        }
        return rc;
    }
    if (!strcmp(sub, "rotate") && argc == 2) {
        if (call(&c, "token", "POST", "/v1/tokens/rotate", NULL, 201, 201, &resp) < 0)
            return 1;
        if (c.output == CLI_JSON)
            cli_print_json(resp);
        else if (c.output == CLI_YAML)
            cli_print_yaml(resp);
        else {
            printf("%s\n", json_string_value(json_object_get(resp, "token")));
            fprintf(stderr, "gantry token: token %s is revoked; use the new one above%s.\n",
                    cli_str(resp, "revoked", "?"),
                    json_is_true(json_object_get(resp, "admin_token_file"))
                        ? " (the server's admin.token holds it)"
                        : "");
        }
        json_decref(resp);
        return 0;
    }
    fputs(token_help, stderr);
    return 2;
}

static void users_table(json_t *rows)
{
    static const char *hdr[] = {"USER", "UNIX_USER", "TEAM", "SYSTEM", "SOURCE"};
    cli_table_t *t = cli_table_new(5, hdr);
    size_t i;
    json_t *u;
    json_array_foreach(rows, i, u)
    {
        const char *cells[] = {
            cli_str(u, "name", ""), cli_str(u, "unix_user", ""), cli_str(u, "team", "-"),
            json_is_true(json_object_get(u, "allow_system_account")) ? "allowed" : "no",
            cli_str(u, "source", "")};
        cli_table_add(t, cells);
    }
    cli_table_print(t, stdout);
    cli_table_free(t);
}

static const char *user_help =
    "usage: gantry user set NAME [--unix ACCOUNT] [--team TEAM] [--allow-system-account]\n"
    "       gantry user list\n"
    "       gantry user show NAME\n"
    "       gantry user delete NAME\n\n"
    "The administrator's mapping of Gantry users (a token's user) to the Unix account their\n"
    "jobs run as (default: the user's own name) and to a team (whose team-admin may then\n"
    "create tokens for them). Jobs never run as root or a system account (uid below 1000)\n"
    "unless --allow-system-account is given for their user (and, for root, the agent runs\n"
    "with --allow-root). set replaces the whole mapping; delete removes one set here (the\n"
    "configuration's users: apply again). A team-admin may list its team's users.\n";

int cmd_user(int argc, char **argv)
{
    cli_t c;
    if (cli_init(&c, &argc, argv, "user") < 0)
        return 2;
    const char *sub = argc > 1 ? argv[1] : "";
    if (!strcmp(sub, "--help") || !strcmp(sub, "help")) {
        fputs(user_help, stdout);
        return 0;
    }
    json_t *resp = NULL;
    if (!strcmp(sub, "list") && argc == 2) {
        if (call(&c, "user", "GET", "/v1/users", NULL, 200, 200, &resp) < 0)
            return 1;
        json_t *rows = json_object_get(resp, "users");
        print_as(&c, rows, users_table, rows);
        json_decref(resp);
        return 0;
    }
    if (argc < 3 || (strcmp(sub, "set") && strcmp(sub, "show") && strcmp(sub, "delete"))) {
        fputs(user_help, stderr);
        return 2;
    }
    char path[256];
    char *name = cli_escape(argv[2]);
    snprintf(path, sizeof(path), "/v1/users/%.200s", name);
    free(name);
    json_t *body = NULL;
    const char *meth = !strcmp(sub, "set") ? "PUT" : !strcmp(sub, "show") ? "GET" : "DELETE";
    if (!strcmp(sub, "set")) {
        body = json_object();
        for (int i = 3; i < argc; i++) {
            if (!strcmp(argv[i], "--allow-system-account")) {
                json_object_set_new(body, "allow_system_account", json_true());
                continue;
            }
            if (i + 1 < argc && (!strcmp(argv[i], "--unix") || !strcmp(argv[i], "--team"))) {
                json_object_set_new(body, !strcmp(argv[i], "--unix") ? "unix_user" : "team",
                                    json_string(argv[i + 1]));
                i++;
                continue;
            }
            fprintf(stderr, "gantry user: bad option %s\n%s", argv[i], user_help);
            json_decref(body);
            return 2;
        }
    } else if (argc != 3) {
        fputs(user_help, stderr);
        return 2;
    }
    int rc = call(&c, "user", meth, path, body, 200, 201, &resp);
    json_decref(body);
    if (rc < 0)
        return 1;
    if (json_is_true(json_object_get(resp, "deleted")))
        printf("User %s is no longer mapped.\n", argv[2]);
    else {
        json_t *rows = json_pack("[O]", resp);
        print_as(&c, resp, users_table, rows);
        json_decref(rows);
    }
    json_decref(resp);
    return 0;
}
