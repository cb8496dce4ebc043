/* conn_guard: the budget of request bodies held at once. */
#include "server/conn_guard.h"
#include "tap.h"

int main(void)
{
    conn_guard_t *g = conn_guard_new(30, 60, 1000);
    ok(g != NULL, "a guard with a 1000-byte budget");
    ok(conn_guard_reserve(g, 600), "600 bytes fit");
    ok(conn_guard_reserve(g, 400), "400 more fit (1000 exactly)");
    ok(!conn_guard_reserve(g, 1), "1 more does not");
    conn_guard_stats_t s;
    conn_guard_get_stats(g, &s);
    is_int(s.body_bytes, 1000, "1000 bytes held");
    is_int(s.body_refused, 1, "one refusal counted");
    conn_guard_release(g, 600);
    ok(conn_guard_reserve(g, 500), "after a release, 500 fit again");
    conn_guard_release(g, 500);
    conn_guard_release(g, 400);
    conn_guard_get_stats(g, &s);
    is_int(s.body_bytes, 0, "all released");
    is_int(s.open, 0, "no connection tracked");
    conn_guard_free(g);

    g = conn_guard_new(0, 0, 0);
    ok(conn_guard_reserve(g, (size_t)1 << 40), "budget 0: no limit");
    conn_guard_release(g, (size_t)1 << 40);
    conn_guard_free(g);
    conn_guard_free(NULL);
    return tap_done();
}
