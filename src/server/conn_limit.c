/* conn_limit.c: the default --max-connections from the open-file limit (conn_limit.h). */
#include "server/conn_limit.h"

#include <stdio.h>
#include <sys/resource.h>

void conn_limit_raise_nofile(uint64_t *before, uint64_t *after)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) < 0) {
        *before = *after = 1024;
        return;
    }
    *before = *after = (uint64_t)rl.rlim_cur;
    rlim_t want = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > (rlim_t)1 << 20 ? (rlim_t)1 << 20
                                                                                : rl.rlim_max;
    if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < want) {
        rl.rlim_cur = want;
        if (setrlimit(RLIMIT_NOFILE, &rl) == 0)
            *after = (uint64_t)want;
    }
}

unsigned conn_limit_default(uint64_t nofile)
{
    uint64_t max = nofile >= 2 * CONN_LIMIT_RESERVE ? nofile - CONN_LIMIT_RESERVE : nofile / 2;
    if (max > CONN_LIMIT_CAP)
        max = CONN_LIMIT_CAP;
    return max < 1 ? 1 : (unsigned)max;
}

void conn_limit_explain(unsigned max, int given, uint64_t nofile, uint64_t raised_from,
                        char *buf, size_t len)
{
    char raised[96] = "";
    if (raised_from != nofile)
        snprintf(raised, sizeof(raised), ", raised from %llu to the hard limit",
                 (unsigned long long)raised_from);
    unsigned fits = conn_limit_default(nofile);
    if (given)
        snprintf(buf, len, "at most %u connections (--max-connections); the open-file limit "
                 "is %llu%s%s; each agent holds 2: room for %u nodes", max,
                 (unsigned long long)nofile, raised,
                 max > fits ? ", which leaves descriptors for fewer: raise it (LimitNOFILE= in "
                              "a systemd unit, ulimit -n) or the server may fail to open its "
                              "files under load" : "", max / 2);
    else
        snprintf(buf, len, "at most %u connections (the default: the open-file limit %llu%s, "
                 "less %u descriptors kept for the store, logs and artifacts%s); each agent "
                 "holds 2: room for %u nodes", max, (unsigned long long)nofile, raised,
                 CONN_LIMIT_RESERVE, max == CONN_LIMIT_CAP ? ", at most 65536" : "",
                 max / 2);
}
