#include "agent/node_token.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

static void token_path(gt_buf_t *b, const char *state_dir, const char *suffix)
{
    gt_buf_printf(b, "%s/node.token%s", state_dir, suffix);
}

int node_token_load(const char *state_dir, const char *node, char tok[68], char other[64],
                    gt_error_t *err)
{
    tok[0] = '\0';
    if (other)
        other[0] = '\0';
    gt_buf_t path = {0};
    token_path(&path, state_dir, "");
    size_t len = 0;
    char *text = gt_read_file(path.data, &len, err);
    if (!text) {
        int rc = errno == ENOENT ? 0 : -1;
        gt_buf_free(&path);
        return rc;
    }
    json_t *o = json_loadb(text, len, 0, NULL);
    free(text);
    const char *n = json_string_value(json_object_get(o, "node"));
    const char *t = json_string_value(json_object_get(o, "token"));
    int rc = 0;
    if (!n || !t || strlen(t) != 67 || strncmp(t, "gt_", 3)) {
        errno = EINVAL;
        rc = gt_error_set(err, "invalid_argument", "%s is not a node credential: remove it to "
                          "register again with the join token", path.data);
    } else if (strcmp(n, node)) {
        if (other)
            snprintf(other, 64, "%s", n);
    } else {
        snprintf(tok, 68, "%s", t);
    }
    json_decref(o);
    gt_buf_free(&path);
    return rc;
}

int node_token_new(char tok[68], gt_error_t *err)
{
    unsigned char raw[32];
    if (getrandom(raw, sizeof(raw), 0) != (ssize_t)sizeof(raw))
        return gt_error_set(err, "internal", "cannot make a node credential: getrandom: %s",
                            strerror(errno));
    memcpy(tok, "gt_", 3);
    for (int i = 0; i < 32; i++)
        snprintf(tok + 3 + 2 * i, 3, "%02x", raw[i]);
    return 0;
}

int node_token_save(const char *state_dir, const char *node, const char *tok, gt_error_t *err)
{
    gt_buf_t path = {0}, text = {0};
    token_path(&path, state_dir, "");
    json_t *o = json_pack("{s:s,s:s}", "node", node, "token", tok);
    char *js = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    gt_buf_printf(&text, "%s\n", js);
    free(js);
    gt_error_t e = {0};
    int rc = gt_write_file_atomic(path.data, text.data, text.len, 0600, &e);
    if (rc < 0)
        gt_error_set(err, "internal", "cannot save the node credential: %s", e.msg);
    gt_buf_free(&text);
    gt_buf_free(&path);
    return rc;
}
