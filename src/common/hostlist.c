/* hostlist.c: Slurm's hostlist form of node names (see hostlist.h). */
#include "common/hostlist.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"

typedef struct host {
    const char *name;
    size_t plen;              /* prefix length; == strlen(name) when no final digits */
    int width;                /* zero padding of the number (0 = none) */
    unsigned long long num;
    bool numbered;
} host_t;

/* Splits a name into prefix and final number. Numbers too long to hold stay literal. */
static host_t host_parse(const char *name)
{
    host_t h = {.name = name, .plen = strlen(name)};
    if (strpbrk(name, ",[]"))
        return h;
    size_t end = h.plen, d = end;
    while (d > 0 && isdigit((unsigned char)name[d - 1]))
        d--;
    if (d == end || end - d > 18)
        return h;
    h.plen = d;
    h.numbered = true;
    h.num = strtoull(name + d, NULL, 10);
    h.width = name[d] == '0' && end - d > 1 ? (int)(end - d) : 0;
    return h;
}

static int host_cmp(const void *a, const void *b)
{
    const host_t *x = a, *y = b;
    size_t n = x->plen < y->plen ? x->plen : y->plen;
    int c = memcmp(x->name, y->name, n);
    if (c)
        return c;
    if (x->plen != y->plen)
        return x->plen < y->plen ? -1 : 1;
    if (x->numbered != y->numbered)
        return x->numbered ? 1 : -1;
    if (!x->numbered)
        return strcmp(x->name, y->name);
    if (x->width != y->width)
        return x->width < y->width ? -1 : 1;
    return x->num < y->num ? -1 : x->num > y->num;
}

static bool same_group(const host_t *a, const host_t *b)
{
    return a->numbered && b->numbered && a->plen == b->plen && a->width == b->width &&
           !memcmp(a->name, b->name, a->plen);
}

char *gt_hostlist_compress(const char *const *names, size_t n)
{
    host_t *h = xcalloc(n + 1, sizeof(*h));
    for (size_t i = 0; i < n; i++)
        h[i] = host_parse(names[i] ? names[i] : "");
    qsort(h, n, sizeof(*h), host_cmp);
    gt_buf_t b = {0};
    gt_buf_printf(&b, "%s", "");
    for (size_t i = 0; i < n;) {
        if (i > 0)
            gt_buf_printf(&b, ",");
        if (!h[i].numbered) {
            gt_buf_printf(&b, "%s", h[i].name);
            size_t k = i + 1;
            while (k < n && !h[k].numbered && !strcmp(h[k].name, h[i].name))
                k++; /* the same name twice: once */
            i = k;
            continue;
        }
        size_t g = i + 1;
        while (g < n && same_group(&h[i], &h[g]))
            g++;
        bool single = true;
        for (size_t k = i + 1; k < g; k++)
            single &= h[k].num == h[i].num;
        if (single) {
            gt_buf_printf(&b, "%s", h[i].name);
            i = g;
            continue;
        }
        gt_buf_printf(&b, "%.*s[", (int)h[i].plen, h[i].name);
        int w = h[i].width;
        for (size_t k = i; k < g;) {
            unsigned long long lo = h[k].num, hi = lo;
            size_t r = k + 1;
            while (r < g && (h[r].num == hi || h[r].num == hi + 1))
                hi = h[r++].num;
            gt_buf_printf(&b, "%s%0*llu", k > i ? "," : "", w, lo);
            if (hi != lo)
                gt_buf_printf(&b, "-%0*llu", w, hi);
            k = r;
        }
        gt_buf_printf(&b, "]");
        i = g;
    }
    free(h);
    return b.data;
}
