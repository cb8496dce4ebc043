/* conn_limit: the default --max-connections from the open-file limit, and what is said. */
#include <string.h>

#include "server/conn_limit.h"
#include "tap.h"

int main(void)
{
    is_int(conn_limit_default(20000), 19680, "20,000 descriptors: 19,680 connections");
    is_int(conn_limit_default(8192), 7872, "8,192: 7,872 (2,000 nodes leave 3,872 for users)");
    is_int(conn_limit_default(1024), 704, "1,024 (a shell's usual soft limit): 704");
    is_int(conn_limit_default(640), 320, "640: exactly the reserve left");
    is_int(conn_limit_default(500), 250, "500, too few for the reserve: half");
    is_int(conn_limit_default(1), 1, "1: at least one connection");
    is_int(conn_limit_default(1u << 20), CONN_LIMIT_CAP, "1,048,576: capped at 65,536");
    char b[512];
    conn_limit_explain(19680, 0, 20000, 1024, b, sizeof(b));
    ok(strstr(b, "at most 19680 connections (the default: the open-file limit 20000, raised "
                 "from 1024") && strstr(b, "room for 9840 nodes"),
       "the default is explained: %s", b);
    conn_limit_explain(30000, 1, 20000, 20000, b, sizeof(b));
    ok(strstr(b, "(--max-connections)") && strstr(b, "raise it") && !strstr(b, "raised from"),
       "a given limit above what the descriptors allow is said to be a risk: %s", b);
    conn_limit_explain(4000, 1, 20000, 20000, b, sizeof(b));
    ok(!strstr(b, "raise it") && strstr(b, "room for 2000 nodes"), "one within them is not: %s",
       b);
    return tap_done();
}
