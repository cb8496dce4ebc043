/* urllist.h: several server URLs for one cluster ("url1,url2,url3": GANTRY_SERVER, --server,
 * the agent's --server), one leader among them (docs/ha.md), and which answers mean "ask the
 * next one".
 *
 * The CLI and the agent try the URLs in order, starting from the last one that answered as
 * leader. They move to the next when a server cannot be reached, or when it answers as a
 * standby: 307 (Location: the leader's URL) or 503 with error code "not_leader". A standby's
 * Location is only a hint: a client moves to it only when it is one of its own URLs, so a
 * token is never sent to a server the user did not name. */
#ifndef GANTRY_URLLIST_H
#define GANTRY_URLLIST_H

#include <stdbool.h>
#include <stddef.h>

#include "common/util.h"

typedef struct gt_urllist {
    char **urls;   /* "http://host:port" or "https://...", no trailing '/' */
    size_t n;
} gt_urllist_t;

/* Splits s at ',' into out (spaces around each URL dropped; "host:port" gains "http://"; a
 * trailing '/' is dropped). -1 with err (errno EINVAL, out empty) when s is empty or names an
 * empty URL ("a,,b"). Free with gt_urllist_free. */
int gt_urllist_parse(const char *s, gt_urllist_t *out, gt_error_t *err);
void gt_urllist_free(gt_urllist_t *l);

/* true when an answer (HTTP status, the API's error code or NULL) comes from a standby that
 * did not act on the request: the client may send it to another server unchanged. */
bool gt_urllist_not_leader(long status, const char *code);

/* The index in l of the URL that location (a standby's Location header: the leader's URL, a
 * path after it or not) starts with, or -1 when it is none of l's. */
int gt_urllist_find(const gt_urllist_t *l, const char *location);

#endif
