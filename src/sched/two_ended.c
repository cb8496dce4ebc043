/* two_ended.c: an array with room at both ends (two_ended.h). */
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "sched/two_ended.h"

static char *entry(const struct two_ended *a, size_t i, size_t size)
{
    return (char *)a->buf + (a->off + i) * size;
}

/* A new buffer of room for cap entries, the n entries in its middle. */
static void recentre(struct two_ended *a, size_t n, size_t cap, size_t size)
{
    size_t off = (cap - n) / 2;
    char *buf = xmalloc(cap * size);
    if (n)
        memcpy(buf + off * size, entry(a, 0, size), n * size);
    free(a->buf);
    a->buf = buf;
    a->off = off;
    a->cap = cap;
}

void *two_ended_open(struct two_ended *a, size_t n, size_t pos, size_t size)
{
    bool front = pos < n / 2;
    if (front ? a->off == 0 : a->off + n == a->cap) /* (an empty one too: cap 0) */
        recentre(a, n, 2 * n + 16, size); /* (room for n / 2 + 8 more at each end) */
    if (front) {
        a->off--;
        memmove(entry(a, 0, size), entry(a, 1, size), pos * size);
    } else {
        memmove(entry(a, pos + 1, size), entry(a, pos, size), (n - pos) * size);
    }
    return entry(a, 0, size);
}

void *two_ended_close(struct two_ended *a, size_t n, size_t pos, size_t size)
{
    if (pos < n / 2) {
        memmove(entry(a, 1, size), entry(a, 0, size), pos * size);
        a->off++;
    } else {
        memmove(entry(a, pos, size), entry(a, pos + 1, size), (n - pos - 1) * size);
    }
    return entry(a, 0, size);
}

void *two_ended_drop_front(struct two_ended *a, size_t m, size_t size)
{
    a->off += m;
    return entry(a, 0, size);
}
