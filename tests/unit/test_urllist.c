/* urllist: several server URLs (GANTRY_SERVER=url1,url2) and which answers send a client on
 * to the next (common/urllist.h). */
#include <errno.h>
#include <string.h>

#include "common/urllist.h"
#include "tap.h"

int main(void)
{
    gt_urllist_t l;
    gt_error_t err = {0};
    is_int(gt_urllist_parse("http://a:1", &l, &err), 0, "one URL");
    is_int(l.n, 1, "one entry");
    is_str(l.urls[0], "http://a:1", "kept as written");
    gt_urllist_free(&l);

    is_int(gt_urllist_parse(" http://a:1/ , b:2,https://c:3", &l, &err), 0, "three URLs");
    is_int(l.n, 3, "three entries");
    is_str(l.urls[0], "http://a:1", "spaces and the trailing / dropped");
    is_str(l.urls[1], "http://b:2", "host:port gains http://");
    is_str(l.urls[2], "https://c:3", "https kept");
    is_int(gt_urllist_find(&l, "http://b:2/v1/jobs?x=1"), 1, "a Location under b is b's");
    is_int(gt_urllist_find(&l, "http://b:2"), 1, "b itself");
    is_int(gt_urllist_find(&l, "http://b:20/v1/jobs"), -1, "b:20 is not b:2");
    is_int(gt_urllist_find(&l, "http://evil:2/"), -1, "a URL outside the list is none");
    is_int(gt_urllist_find(&l, NULL), -1, "no Location");
    gt_urllist_free(&l);

    errno = 0;
    is_int(gt_urllist_parse("http://a:1,,http://b:2", &l, &err), -1, "an empty URL is refused");
    is_int(errno, EINVAL, "EINVAL");
    is_int(l.n, 0, "nothing kept");
    ok(strstr(err.msg, "empty URL") != NULL, "said: %s", err.msg);
    is_int(gt_urllist_parse("", &l, &err), -1, "an empty list is refused");
    is_int(gt_urllist_parse("a:1,", &l, &err), -1, "a trailing comma is an empty URL");

    ok(gt_urllist_not_leader(307, NULL), "307: a standby");
    ok(gt_urllist_not_leader(503, "not_leader"), "503 not_leader: a standby");
    ok(!gt_urllist_not_leader(503, "store_error"), "503 store_error: the leader, failing");
    ok(!gt_urllist_not_leader(503, NULL), "503 without a code: not a standby");
    ok(!gt_urllist_not_leader(200, NULL), "200: the leader");
    ok(!gt_urllist_not_leader(404, "not_leader"), "404: the leader's answer");
    return tap_done();
}
