/* two_ended: an array with room at both ends. Random inserts and removals at every
 * position, checked against a plain array after each step; and the moves are the fewer side's
 * (an entry near the front moves none of the entries after it). */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "sched/two_ended.h"
#include "tap.h"

static struct two_ended A;
static int *items;  /* where two_ended says the entries start */
static size_t n;
static int plain[4096];
static size_t nplain;

static void insert_at(size_t pos, int v)
{
    items = two_ended_open(&A, n, pos, sizeof(*items));
    items[pos] = v;
    n++;
    memmove(&plain[pos + 1], &plain[pos], (nplain - pos) * sizeof(int));
    plain[pos] = v;
    nplain++;
}

static void remove_at(size_t pos)
{
    items = two_ended_close(&A, n, pos, sizeof(*items));
    n--;
    memmove(&plain[pos], &plain[pos + 1], (nplain - pos - 1) * sizeof(int));
    nplain--;
}

static bool same(void)
{
    return n == nplain && (n == 0 || !memcmp(items, plain, n * sizeof(int)));
}

static void test_random(void)
{
    srand(7);
    size_t bad = 0, steps = 0, most = 0;
    for (int round = 0; round < 20000; round++) {
        bool add = n == 0 || (n < 4000 && rand() % 100 < (round < 10000 ? 60 : 40));
        if (add)
            insert_at((size_t)rand() % (n + 1), round);
        else
            remove_at((size_t)rand() % n);
        bad += !same();
        steps++;
        if (n > most)
            most = n;
    }
    ok(bad == 0, "%zu random inserts and removals (up to %zu entries): the same entries in the "
                 "same order as a plain array (%zu steps differed)", steps, most, bad);
    ok(A.off + n <= A.cap, "the entries lie within the buffer (%zu + %zu <= %zu)", A.off, n, A.cap);
    while (n)
        remove_at(0);
    ok(same(), "removed from the front to the last");
    for (int i = 0; i < 100; i++)
        insert_at(n, i);
    for (int i = 0; i < 100; i++)
        insert_at(0, -i);
    ok(same() && n == 200, "appended 100 at the back and 100 at the front");
    size_t m = 30;
    /* the first 30 dropped at once (the caller keeps the rest past them) */
    items = two_ended_drop_front(&A, m, sizeof(*items));
    n -= m;
    memmove(plain, plain + m, (nplain - m) * sizeof(int));
    nplain -= m;
    ok(same(), "two_ended_drop_front drops the first entries");
}

/* An entry removed near the front moves the entries before it, not those after: the address
 * of an entry after it is unchanged. */
static void test_nearer_side(void)
{
    free(A.buf);
    A = (struct two_ended){0};
    n = nplain = 0;
    for (int i = 0; i < 1000; i++)
        insert_at(n, i);
    int *last = &items[n - 1];
    remove_at(10);
    ok(&items[n - 1] == last && *last == 999, "a removal near the front leaves the back in place");
    int *first = &items[0];
    remove_at(n - 10);
    ok(&items[0] == first && same(), "a removal near the back leaves the front in place");
    last = &items[n - 1];
    insert_at(5, -1);
    ok(&items[n - 1] == last && same(), "an insert near the front leaves the back in place");
}

int main(void)
{
    test_random();
    test_nearer_side();
    free(A.buf);
    return tap_done();
}
