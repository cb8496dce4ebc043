/* job_filter.c: the jobs a request names by its query (server.h: job_filter_t). */
#include <stdio.h>
#include <string.h>

#include "server/server.h"

int job_filter_parse(const http_req_t *req, job_filter_t *f, http_resp_t *resp)
{
    memset(f, 0, sizeof(*f));
    const char *state = http_query(req, "state");
    f->team = http_query(req, "team");
    f->user = http_query(req, "user");
    f->name = http_query(req, "name");
    bool any_state = !state || !*state || !strcmp(state, "all");
    for (int i = 0; i < 5; i++)
        f->states[i] = any_state;
    if (!any_state) {
        char buf[128];
        snprintf(buf, sizeof(buf), "%s", state);
        char *save = NULL;
        for (char *s = strtok_r(buf, ",", &save); s; s = strtok_r(NULL, ",", &save)) {
            job_state_t st;
            if (job_state_parse(s, &st) < 0)
                return http_error(resp, 400, "invalid_argument", "state '%s' is not one of "
                                  "pending, running, succeeded, failed, cancelled", s), -1;
            f->states[st] = true;
        }
    }
    if (f->team && !auth_can_see_team(&req->who, f->team))
        return http_error(resp, 403, "forbidden", "user %s may not see team '%s''s jobs",
                          req->who.user, f->team), -1;
    return 0;
}

bool job_filter_match(const job_filter_t *f, const job_t *j)
{
    return f->states[j->state] && (!f->team || !strcmp(f->team, j->team)) &&
           (!f->user || !strcmp(f->user, j->user)) &&
           (!f->name || (j->name && !strcmp(f->name, j->name)));
}

void job_filter_free(job_filter_t *f) { (void)f; }
