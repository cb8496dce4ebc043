/* watch.c: print a view, then again at each change (watch.h). */
#include "cli/watch.h"

#include <signal.h>
#include <stdbool.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/util.h"

#define WATCH_INTERVAL_MS 1000

/* Ctrl-C ends the watch as it ends any command (killed by SIGINT: status 130 in a shell),
 * even where SIGINT was ignored when the CLI started (a script's background job). */
static void on_interrupt(int sig)
{
    signal(sig, SIG_DFL);
    raise(sig);
}

int cli_watch(const cli_view_t *v)
{
    signal(SIGINT, on_interrupt);
    bool tty = isatty(STDOUT_FILENO);
    gt_buf_t last = {0}, key = {0};
    bool first = true;
    int rc = 0;
    for (;;) {
        key.len = 0;
        gt_buf_append(&key, "", 0);
        int r = v->look(v->arg, &key);
        if (r < 0) {
            rc = 1;
            break;
        }
        bool changed = first || key.len != last.len || memcmp(key.data, last.data, key.len);
        if (changed) {
            if (tty)
                fputs("\033[H\033[2J", stdout);
            else if (!first)
                fputc('\n', stdout); /* a blank line between views */
            v->print(v->arg, stdout);
            fflush(stdout);
            last.len = 0;
            gt_buf_append(&last, key.data, key.len);
        }
        first = false;
        if (r == 1)
            break;
        struct timespec ts = {WATCH_INTERVAL_MS / 1000, WATCH_INTERVAL_MS % 1000 * 1000000L};
        nanosleep(&ts, NULL);
    }
    gt_buf_free(&last);
    gt_buf_free(&key);
    return rc;
}
