/* test_events.c: the store's job_events and audit tables (store_read_events,
 * store_read_audit, a job's events deleted with it), and events.c's numbering and sentences
 * (server_job_event, server_audit, events_message), and server_audit_enqueue's promise: a change
 * and its audit entry are committed together or not at all. */
#include <jansson.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "server/events.h"
#include "server/store.h"
#include "tap.h"

typedef struct rows {
    char seqs[512];
    char docs[4096];
} rows_t;

static int on_row(void *arg, uint64_t seq, const char *doc, gt_error_t *err)
{
    (void)err;
    rows_t *r = arg;
    size_t n = strlen(r->seqs);
    snprintf(r->seqs + n, sizeof(r->seqs) - n, "%s%llu", n ? " " : "", (unsigned long long)seq);
    n = strlen(r->docs);
    snprintf(r->docs + n, sizeof(r->docs) - n, "%s\n", doc);
    return 0;
}

static int stop_row(void *arg, uint64_t seq, const char *doc, gt_error_t *err)
{
    (void)arg, (void)seq, (void)doc;
    return gt_error_set(err, "stop", "stopped at the first row");
}

static void put_event(store_t *st, uint64_t seq, uint64_t job, const char *type)
{
    char doc[128];
    snprintf(doc, sizeof(doc), "{\"seq\":%llu,\"job\":%llu,\"type\":\"%s\"}",
             (unsigned long long)seq, (unsigned long long)job, type);
    store_op_t op = {.kind = STORE_EVENT_PUT, .id = seq, .n = (int64_t)job, .a = type, .d = doc};
    store_wait(st, store_enqueue(st, &op, 1), NULL);
}

static void test_store_events(const char *d)
{
    store_t *st = NULL;
    gt_error_t err = {0};
    is_int(store_open(d, &st, &err), 0, "the store opens: %s", err.msg);
    if (!st)
        return;
    rows_t r = {0};
    uint64_t upto = 99;
    is_int(store_read_events(st, 0, 0, 0, on_row, &r, &upto, &err), 0, "an empty table reads");
    is_str(r.seqs, "", "no events");
    is_int(upto, 0, "upto is 0 when empty");

    put_event(st, 1, 7, "submitted");
    put_event(st, 2, 8, "submitted");
    put_event(st, 3, 7, "started");
    put_event(st, 4, 8, "started");
    put_event(st, 5, 7, "finished");

    memset(&r, 0, sizeof(r));
    is_int(store_read_events(st, 7, 0, 0, on_row, &r, &upto, &err), 0, "job 7's events read");
    is_str(r.seqs, "1 3 5", "job 7: its own events in seq order");
    is_int(upto, 5, "upto: the table's highest seq");
    ok(strstr(r.docs, "\"type\":\"finished\"") != NULL, "the documents come back as stored");

    memset(&r, 0, sizeof(r));
    store_read_events(st, 0, 2, 2, on_row, &r, &upto, &err);
    is_str(r.seqs, "3 4", "every job's, after seq 2, at most 2");
    memset(&r, 0, sizeof(r));
    store_read_events(st, 8, 2, 0, on_row, &r, NULL, &err);
    is_str(r.seqs, "4", "job 8's after seq 2");
    memset(&r, 0, sizeof(r));
    store_read_events(st, 0, INT64_MAX, 1, on_row, &r, &upto, &err);
    is_str(r.seqs, "", "since above every seq: nothing");
    is_int(upto, 5, "but upto still says the highest seq");
    is_int(store_read_events(st, 0, 0, 0, stop_row, NULL, NULL, &err), -1,
           "a callback that stops makes the read fail");
    is_str(err.code, "stop", "with the callback's error");

    /* retention: deleting a job deletes its events, the others' stay */
    store_op_t del = {.kind = STORE_JOB_DELETE, .id = 7};
    is_int(store_wait(st, store_enqueue(st, &del, 1), &err), 0, "job 7 is deleted");
    memset(&r, 0, sizeof(r));
    store_read_events(st, 7, 0, 0, on_row, &r, &upto, &err);
    is_str(r.seqs, "", "and its events with it");
    memset(&r, 0, sizeof(r));
    store_read_events(st, 0, 0, 0, on_row, &r, &upto, &err);
    is_str(r.seqs, "2 4", "job 8's events are kept");
    is_int(upto, 4, "upto follows what is left");

    /* the audit log */
    store_op_t a1 = {.kind = STORE_AUDIT_PUT, .id = 1, .a = "admin", .b = "team.set",
                     .c = "research", .d = "{\"seq\":1,\"old\":null,\"new\":{\"quota\":2}}"};
    store_op_t a2 = {.kind = STORE_AUDIT_PUT, .id = 2, .a = "admin", .b = "token.revoke",
                     .c = "abc", .d = "{\"seq\":2}"};
    store_op_t both[] = {a1, a2};
    is_int(store_wait(st, store_enqueue(st, both, 2), &err), 0, "two audit entries stored");
    memset(&r, 0, sizeof(r));
    is_int(store_read_audit(st, 0, 0, on_row, &r, &upto, &err), 0, "the audit log reads");
    is_str(r.seqs, "1 2", "both entries in order");
    is_int(upto, 2, "upto 2");
    memset(&r, 0, sizeof(r));
    store_read_audit(st, 1, 0, on_row, &r, NULL, &err);
    is_str(r.seqs, "2", "since 1: the second");
    ok(strstr(r.docs, "token.revoke") == NULL && strstr(r.docs, "{\"seq\":2}"),
       "the document as stored");
    store_close(st);
}

/* events.c on a server of its own: only the store and the events are needed. */
static void test_job_events(const char *d)
{
    server_t *srv = calloc(1, sizeof(*srv));
    gt_error_t err = {0};
    is_int(store_open(d, &srv->store, &err), 0, "the store opens again");
    is_int(events_open(srv, &err), 0, "events open: %s", err.msg);
    job_t j = {.id = 9, .team = "research", .user = "alice"};
    server_job_event(srv, &j, "preempted",
                     json_pack("{s:I,s:s,s:I}", "by_job", (json_int_t)12, "reason", "reclaim",
                               "grace_s", (json_int_t)30));
    server_job_event(srv, &j, "failed",
                     json_pack("{s:s,s:s,s:i,s:s}", "reason", "failed", "node", "n3",
                               "exit_code", 3, "message", "the agent's sentence"));
    server_audit(srv, "root", "volume.delete", "scratch", json_pack("{s:s}", "path", "/x"),
                 NULL);
    store_wait(srv->store, store_last_kept(srv->store), &err);
    rows_t r = {0};
    uint64_t upto = 0;
    store_read_events(srv->store, 9, 0, 0, on_row, &r, &upto, &err);
    is_str(r.seqs, "6 7", "numbering goes on above the highest seq ever stored (5, deleted "
                          "with job 7: a seq a reader saw is never reused)");
    json_t *e = json_loads(strchr(r.docs, '{'), JSON_DISABLE_EOF_CHECK, NULL);
    is_str(json_string_value(json_object_get(e, "type")), "preempted", "the first is preempted");
    is_int(json_integer_value(json_object_get(e, "by_job")), 12, "by job 12");
    is_str(json_string_value(json_object_get(e, "team")), "research", "with the job's team");
    is_str(json_string_value(json_object_get(e, "message")),
           "preempted for job 12 (reclaim: its team takes back its quota from this borrower); "
           "it is stopped within 30s and returns to the queue",
           "its sentence says why");
    json_decref(e);
    const char *second = strchr(r.docs, '\n') + 1;
    e = json_loads(second, JSON_DISABLE_EOF_CHECK, NULL);
    is_str(json_string_value(json_object_get(e, "message")),
           "failed on node n3, exit code 3: the agent's sentence",
           "a failure: its node, exit code and the agent's sentence");
    is_str(json_string_value(json_object_get(e, "detail_message")), "the agent's sentence",
           "the caller's message is kept aside");
    json_decref(e);
    memset(&r, 0, sizeof(r));
    store_read_audit(srv->store, 2, 0, on_row, &r, &upto, &err);
    is_str(r.seqs, "3", "the audit entry goes on from 2");
    uint64_t le = 0, la = 0;
    is_int(store_last_seqs(srv->store, &le, &la, &err), 0, "store_last_seqs reads");
    is_int(le, 7, "the last event's seq");
    is_int(la, 3, "the last audit entry's seq");
    e = json_loads(r.docs, JSON_DISABLE_EOF_CHECK, NULL);
    is_str(json_string_value(json_object_get(e, "user")), "root", "who");
    is_str(json_string_value(json_object_get(e, "action")), "volume.delete", "what");
    ok(json_is_null(json_object_get(e, "new")), "new: null (a deletion)");
    is_str(json_string_value(json_object_get(json_object_get(e, "old"), "path")), "/x",
           "old: the value before");
    json_decref(e);
    events_free(srv);
    store_close(srv->store);
    free(srv);
}

/* server_audit_enqueue: the change (here an event row, any write will do) and its audit entry
 * in one transaction. A failed commit refuses both: no audit entry of a change that did not
 * happen, now or after the store recovers (an entry queued as a kept write of its own would be
 * retried and committed then); a commit that succeeds holds both. */
static void test_audit_with_change(const char *d)
{
    server_t *srv = calloc(1, sizeof(*srv));
    gt_error_t err = {0};
    is_int(store_open(d, &srv->store, &err), 0, "the store opens for the audit's atomicity");
    is_int(events_open(srv, &err), 0, "events open: %s", err.msg);
    uint64_t before = 0, la = 0;
    store_last_seqs(srv->store, &before, &la, &err);
    store_op_t change = {.kind = STORE_EVENT_PUT, .id = 901, .n = 90, .a = "updated",
                         .d = "{\"seq\":901,\"job\":90,\"type\":\"updated\"}"};
    store_fail_next_commits(srv->store, 1, SQLITE_FULL);
    uint64_t t = server_audit_enqueue(srv, &change, 1, "root", "team.set", "research", NULL,
                                      json_pack("{s:i}", "quota", 8));
    is_int(store_wait(srv->store, t, &err), -1, "a failed commit refuses the change");
    for (int i = 0; i < 1000 && store_degraded(srv->store); i++) /* 10 s */
        usleep(10000);
    ok(!store_degraded(srv->store), "the store recovers");
    change.id = 902;
    change.d = "{\"seq\":902,\"job\":90,\"type\":\"updated\"}";
    t = server_audit_enqueue(srv, &change, 1, "root", "team.set", "product", NULL,
                             json_pack("{s:i}", "quota", 4));
    is_int(store_wait(srv->store, t, &err), 0, "the next change and its entry commit");
    store_wait(srv->store, store_last_kept(srv->store), &err);
    rows_t r = {0};
    store_read_events(srv->store, 90, 0, 0, on_row, &r, NULL, &err);
    is_str(r.seqs, "902", "the store holds the second change only");
    memset(&r, 0, sizeof(r));
    store_read_audit(srv->store, la, 0, on_row, &r, NULL, &err);
    ok(strstr(r.docs, "\"object\":\"product\"") && !strstr(r.docs, "research"),
       "and the audit log its entry only, not the refused change's: %s", r.docs);
    events_free(srv);
    store_close(srv->store);
    free(srv);
}

static void test_messages(void)
{
    struct {
        const char *type, *json, *want;
    } cases[] = {
        {"submitted", "{\"by\":\"bob\"}", "submitted by bob"},
        {"started", "{\"nodes\":[\"a\",\"b\"],\"pass\":4}", "started on a, b by scheduling pass 4"},
        {"started", "{\"gpus\":[{\"node\":\"a\",\"gpus\":[0,1]}],\"pass\":2}",
         "started on a (GPUs 0,1) by scheduling pass 2"},
        {"preempted", "{\"by_job\":5,\"reason\":\"priority\"}",
         "preempted for job 5 (priority: a higher priority class)"},
        {"requeued", "{\"reason\":\"node_lost\",\"node\":\"n2\"}",
         "returned to the queue: node n2 was lost"},
        {"requeued", "{\"reason\":\"requeue\",\"by\":\"eve\",\"hold\":true}",
         "requeued by eve (held): it is stopped and returns to the queue"},
        {"oom", "{\"node\":\"n1\"}", "killed on node n1: out of memory"},
        {"time_limit", "{\"node\":\"n1\"}", "stopped on node n1: it reached its time limit"},
        {"cancelled", "{\"by\":\"ann\"}", "cancelled by ann"},
        {"cancelled", "{\"reason\":\"dependency_failed\"}", "cancelled (dependency_failed)"},
        {"failed", "{\"reason\":\"node_lost\",\"node\":\"n1\",\"exit_code\":-1}",
         "failed (node_lost) on node n1"},
        {"finished", "{}", "finished (exit code 0)"},
        {"held", "{\"by\":\"ann\"}", "held by ann"},
        {"updated", "{\"by\":\"ann\",\"fields\":[\"gpus\",\"name\"]}", "updated by ann: gpus, name"},
        {"idle", "{\"detail_message\":\"GPUs under 5% for 30m\"}", "idle: GPUs under 5% for 30m"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
        json_t *ev = json_loads(cases[i].json, 0, NULL);
        char *m = events_message(cases[i].type, ev);
        is_str(m, cases[i].want, "%s %s", cases[i].type, cases[i].json);
        free(m);
        json_decref(ev);
    }
}

int main(void)
{
    char d[] = "/tmp/gantry-events-XXXXXX";
    if (!mkdtemp(d))
        return 1;
    gt_error_t err = {0};
    is_int(store_create(d, NULL, 0, &err), 0, "a new store");
    test_store_events(d);
    test_job_events(d);
    test_audit_with_change(d);
    test_messages();
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", d);
    if (system(cmd) != 0)
        return 1;
    return tap_done();
}
