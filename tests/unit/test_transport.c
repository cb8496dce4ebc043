/* The client transport's rules (common/transport.h): which addresses count as loopback, which
 * URLs may carry a token, where the CA and the allowance come from. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/transport.h"
#include "tap.h"

int main(void)
{
    ok(gt_transport_is_loopback("127.0.0.1"), "127.0.0.1 is loopback");
    ok(gt_transport_is_loopback("127.8.9.10"), "all of 127/8 is loopback");
    ok(gt_transport_is_loopback("::1"), "::1 is loopback");
    ok(gt_transport_is_loopback("[::1]"), "[::1] (URL form) is loopback");
    ok(gt_transport_is_loopback("::ffff:127.0.0.1"), "v4-mapped 127.0.0.1 is loopback");
    ok(!gt_transport_is_loopback("10.0.0.1"), "10.0.0.1 is not");
    ok(!gt_transport_is_loopback("128.0.0.1"), "128.0.0.1 is not");
    ok(!gt_transport_is_loopback("0.0.0.0"), "0.0.0.0 is not");
    ok(!gt_transport_is_loopback("::ffff:10.0.0.1"), "v4-mapped 10.0.0.1 is not");
    ok(!gt_transport_is_loopback("::2"), "::2 is not");
    ok(!gt_transport_is_loopback("localhost"), "a name is not a literal loopback address");

    gt_transport_t none = {0}, allow = {.allow_plaintext = true};
    gt_error_t err = {0};
    ok(gt_transport_check("http://127.0.0.1:8080", &none, &err) == 0, "http to 127.0.0.1: ok");
    ok(gt_transport_check("http://[::1]:8080", &none, &err) == 0, "http to [::1]: ok");
    ok(gt_transport_check("http://localhost:8080", &none, &err) == 0,
       "http to localhost (resolves to loopback): ok");
    errno = 0;
    ok(gt_transport_check("http://10.1.2.3:8080", &none, &err) == -1 && errno == EPERM,
       "http to 10.1.2.3: refused with EPERM");
    is_str(err.code, "plaintext_refused", "code plaintext_refused");
    ok(strstr(err.msg, "10.1.2.3") && strstr(err.msg, "--allow-plaintext") &&
           strstr(err.msg, "GANTRY_ALLOW_PLAINTEXT=1") && strstr(err.msg, "https://"),
       "the message names the address and both fixes: %s", err.msg);
    ok(gt_transport_check("HTTP://10.1.2.3:8080", &none, &err) == -1,
       "the scheme's case does not matter");
    ok(gt_transport_check("http://10.1.2.3:8080", &allow, &err) == 0,
       "allowed explicitly: ok");
    ok(gt_transport_check("https://10.1.2.3:8080", &none, &err) == 0,
       "https to 10.1.2.3: ok (verified when used)");
    errno = 0;
    ok(gt_transport_check("ftp://127.0.0.1/", &none, &err) == -1 && errno == EINVAL,
       "ftp:// refused with EINVAL");
    ok(gt_transport_check("127.0.0.1:8080", &none, &err) == -1, "no scheme: refused");
    gt_transport_t badca = {.ca_file = "/nonexistent/ca.pem"};
    ok(gt_transport_check("https://127.0.0.1:8080", &badca, &err) == -1 &&
           strstr(err.msg, "/nonexistent/ca.pem"),
       "a CA file that cannot be read: refused, named: %s", err.msg);

    gt_transport_t env = {0};
    setenv("GANTRY_CA_FILE", "/etc/ca.pem", 1);
    setenv("GANTRY_ALLOW_PLAINTEXT", "1", 1);
    gt_transport_from_env(&env);
    is_str(env.ca_file, "/etc/ca.pem", "GANTRY_CA_FILE is read");
    ok(env.allow_plaintext, "GANTRY_ALLOW_PLAINTEXT=1 allows");
    gt_transport_t flag = {.ca_file = "/flag.pem"};
    gt_transport_from_env(&flag);
    is_str(flag.ca_file, "/flag.pem", "a flag's CA file wins over the environment");
    setenv("GANTRY_ALLOW_PLAINTEXT", "0", 1);
    gt_transport_t zero = {0};
    gt_transport_from_env(&zero);
    ok(!zero.allow_plaintext, "GANTRY_ALLOW_PLAINTEXT=0 does not allow");
    return tap_done();
}
