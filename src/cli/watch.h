/* watch.h: -w/--watch for the CLI's views (gantry queue -w, gantry show -w): the view is
 * printed, then printed again each time it changes (polled about every second); on a terminal
 * the screen is cleared and the view redrawn, on a pipe or file each new view is appended (so
 * a script reads one view after another). Ctrl-C ends it (the default SIGINT). */
#ifndef GANTRY_WATCH_H
#define GANTRY_WATCH_H

#include <stdio.h>

#include "common/util.h"

/* look fetches what the view shows and writes into key what tells a change (not what changes
 * with the clock alone, such as an elapsed time); it returns 0 (keep watching), 1 (the last
 * look: it is printed, then the watch ends, e.g. the job ended) or -1 (failed: the message is
 * on stderr). print prints the last look. */
typedef struct cli_view {
    int (*look)(void *arg, gt_buf_t *key);
    void (*print)(void *arg, FILE *f);
    void *arg;
} cli_view_t;

/* Runs the watch until look says it is the last (returns 0) or fails (returns 1). */
int cli_watch(const cli_view_t *v);

#endif
