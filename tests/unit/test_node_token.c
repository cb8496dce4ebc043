/* The node's credential in its state directory (src/agent/node_token.c). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/node_token.h"
#include "tap.h"

int main(void)
{
    char dir[] = "/tmp/gantry-test-node-token.XXXXXX";
    if (!mkdtemp(dir)) {
        ok(0, "mkdtemp");
        return tap_done();
    }
    gt_error_t err = {0};
    char tok[68], tok2[68], other[64];
    is_int(node_token_load(dir, "n1", tok, other, &err), 0, "no file: no credential, no error");
    is_str(tok, "", "tok is empty");
    is_str(other, "", "other is empty");

    is_int(node_token_new(tok, &err), 0, "a new credential");
    is_int(strlen(tok), 67, "gt_ + 64 hex digits");
    ok(!strncmp(tok, "gt_", 3), "starts with gt_");
    bool hex = true;
    for (int i = 3; i < 67; i++)
        hex &= (tok[i] >= '0' && tok[i] <= '9') || (tok[i] >= 'a' && tok[i] <= 'f');
    ok(hex, "lower-case hex (as the server checks a proposal)");
    node_token_new(tok2, &err);
    ok(strcmp(tok, tok2) != 0, "two credentials differ");

    is_int(node_token_save(dir, "n1", tok, &err), 0, "saved");
    char path[256];
    snprintf(path, sizeof(path), "%s/node.token", dir);
    struct stat sb;
    is_int(stat(path, &sb), 0, "STATE/node.token exists");
    is_int(sb.st_mode & 0777, 0600, "mode 0600");
    snprintf(path, sizeof(path), "%s/node.token.tmp", dir);
    ok(access(path, F_OK) != 0, "no temporary file left");

    char back[68];
    is_int(node_token_load(dir, "n1", back, other, &err), 0, "loaded");
    is_str(back, tok, "the same credential");
    is_int(node_token_load(dir, "n2", back, other, &err), 0, "another node's name: no error");
    is_str(back, "", "but no credential for n2");
    is_str(other, "n1", "and it says whose it is");

    is_int(node_token_save(dir, "n1", tok2, &err), 0, "saved over");
    node_token_load(dir, "n1", back, other, &err);
    is_str(back, tok2, "the new one replaced the old one");

    snprintf(path, sizeof(path), "%s/node.token", dir);
    FILE *f = fopen(path, "w");
    fputs("{\"node\":\"n1\",\"token\":\"short\"}\n", f);
    fclose(f);
    errno = 0;
    is_int(node_token_load(dir, "n1", back, other, &err), -1, "a damaged file is an error");
    is_int(errno, EINVAL, "EINVAL");
    ok(strstr(err.msg, "remove it") != NULL, "saying what to do: %s", err.msg);
    chmod(path, 0);
    if (geteuid() != 0) {
        errno = 0;
        is_int(node_token_load(dir, "n1", back, other, &err), -1, "an unreadable file is an error");
    }
    unlink(path);
    rmdir(dir);
    return tap_done();
}
