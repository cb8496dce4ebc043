/* job_filter.c: the jobs a request names by its query (server.h: job_filter_t). */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/timefmt.h"
#include "server/server.h"

#define SELECTOR_MAX_TERMS 64

static char *trimmed(const char *s, size_t n)
{
    while (n && isspace((unsigned char)*s))
        s++, n--;
    while (n && isspace((unsigned char)s[n - 1]))
        n--;
    char *r = xmalloc(n + 1);
    memcpy(r, s, n);
    r[n] = 0;
    return r;
}

/* One term of a selector ("k=v", "k==v", "k!=v", "k", "!k") into t; -1 with err. */
static int sel_term(const char *s, size_t n, job_sel_t *t, gt_error_t *err)
{
    char *term = trimmed(s, n);
    const char *hint = "a selector is terms separated by commas: KEY=VALUE, KEY!=VALUE, KEY "
                       "(has the label) or !KEY (has not)";
    char *ne = strstr(term, "!="), *eq = strchr(term, '=');
    memset(t, 0, sizeof(*t));
    if (ne || eq) {
        char *op = ne ? ne : eq;
        size_t oplen = ne ? 2 : eq[1] == '=' ? 2 : 1;
        t->op = ne ? JOB_SEL_NE : JOB_SEL_EQ;
        t->key = trimmed(term, (size_t)(op - term));
        t->value = trimmed(op + oplen, strlen(op + oplen));
    } else if (term[0] == '!') {
        t->op = JOB_SEL_ABSENT;
        t->key = trimmed(term + 1, strlen(term + 1));
    } else {
        t->op = JOB_SEL_EXISTS;
        t->key = xstrdup(term);
    }
    int rc = 0;
    if (!*t->key && !*term)
        rc = gt_error_invalid(err, "selector: an empty term: %s", hint);
    else if (!job_label_key_ok(t->key))
        rc = gt_error_invalid(err, "selector: '%s': '%s' is not a label key ([PREFIX/]NAME, "
                              "NAME 1 to 63 letters, digits, '-', '_' or '.'); %s", term,
                              t->key, hint);
    else if (t->value && (strchr(t->value, '=') || strchr(t->value, '!') ||
                          !job_label_value_ok(t->value)))
        rc = gt_error_invalid(err, "selector: '%s': '%s' is not a label value (0 to 63 "
                              "letters, digits, '-', '_' or '.'); %s", term, t->value, hint);
    free(term);
    if (rc < 0) {
        free(t->key);
        free(t->value);
        memset(t, 0, sizeof(*t));
    }
    return rc;
}

int job_selector_parse(const char *s, job_filter_t *f, gt_error_t *err)
{
    const char *p = s;
    for (;;) {
        const char *comma = strchr(p, ',');
        size_t n = comma ? (size_t)(comma - p) : strlen(p);
        if (f->nsel >= SELECTOR_MAX_TERMS)
            return gt_error_invalid(err, "selector: at most %d terms", SELECTOR_MAX_TERMS);
        job_sel_t t;
        if (sel_term(p, n, &t, err) < 0)
            return -1;
        f->sel = xrealloc(f->sel, (f->nsel + 1) * sizeof(*f->sel));
        f->sel[f->nsel++] = t;
        if (!comma)
            return 0;
        p = comma + 1;
    }
}

static int time_param(const http_req_t *req, const char *key, double *out, bool *has,
                      http_resp_t *resp)
{
    const char *v = http_query(req, key);
    if (!v || !*v)
        return 0;
    gt_error_t err = {0};
    if (gt_time_parse(v, server_now(), out, &err) < 0)
        return http_error(resp, 400, "invalid_argument", "%s: %s", key, err.msg), -1;
    *has = true;
    return 0;
}

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
    if (time_param(req, "since", &f->since, &f->has_since, resp) < 0 ||
        time_param(req, "until", &f->until, &f->has_until, resp) < 0)
        return -1;
    const char *sel = http_query(req, "selector");
    gt_error_t err = {0};
    if (sel && *sel && job_selector_parse(sel, f, &err) < 0) {
        job_filter_free(f);
        return http_error_from(resp, 400, &err), -1;
    }
    return 0;
}

static bool sel_match(const job_sel_t *t, const job_t *j)
{
    const char *v = json_string_value(json_object_get(j->labels, t->key));
    switch (t->op) {
    case JOB_SEL_EQ: return v && !strcmp(v, t->value);
    case JOB_SEL_NE: return !v || strcmp(v, t->value);
    case JOB_SEL_EXISTS: return v != NULL;
    case JOB_SEL_ABSENT: return v == NULL;
    }
    return false;
}

bool job_filter_match(const job_filter_t *f, const job_t *j)
{
    if (!f->states[j->state] || (f->team && strcmp(f->team, j->team)) ||
        (f->user && strcmp(f->user, j->user)) ||
        (f->name && (!j->name || strcmp(f->name, j->name))))
        return false;
    if ((f->has_since || f->has_until) && !(j->end_time > 0))
        return false;
    if ((f->has_since && j->end_time < f->since) || (f->has_until && j->end_time >= f->until))
        return false;
    for (size_t i = 0; i < f->nsel; i++)
        if (!sel_match(&f->sel[i], j))
            return false;
    return true;
}

void job_filter_free(job_filter_t *f)
{
    for (size_t i = 0; i < f->nsel; i++) {
        free(f->sel[i].key);
        free(f->sel[i].value);
    }
    free(f->sel);
    f->sel = NULL;
    f->nsel = 0;
}
