/* timefmt.c: local ISO 8601 out, ISO 8601 / epoch / relative forms in (timefmt.h). */
#include "common/timefmt.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

const char *gt_time_local(double t, char *buf, size_t len)
{
    struct tm tm;
    time_t s = (time_t)t;
    if (!(t > 0) || !localtime_r(&s, &tm) || !strftime(buf, len, "%Y-%m-%dT%H:%M:%S", &tm))
        snprintf(buf, len, "-");
    return buf;
}

const char *gt_format_elapsed(int64_t s, char *buf, size_t len)
{
    if (s < 0) {
        snprintf(buf, len, "-");
        return buf;
    }
    int64_t d = s / 86400, h = s % 86400 / 3600, m = s % 3600 / 60, sec = s % 60;
    if (d)
        snprintf(buf, len, "%lld-%02lld:%02lld:%02lld", (long long)d, (long long)h, (long long)m,
                 (long long)sec);
    else
        snprintf(buf, len, "%02lld:%02lld:%02lld", (long long)h, (long long)m, (long long)sec);
    return buf;
}

/* n decimal digits at *p as a number (advancing *p); -1 when they are not there. */
static int digits(const char **p, int n)
{
    int v = 0;
    for (int i = 0; i < n; i++, (*p)++) {
        if (!isdigit((unsigned char)**p))
            return -1;
        v = v * 10 + (**p - '0');
    }
    return v;
}

/* ISO 8601 / RFC 3339: 0 and *out, or -1 when s is not of that form (or not a real date). */
static int iso_parse(const char *s, double *out)
{
    const char *p = s;
    struct tm tm = {0};
    int y = digits(&p, 4);
    if (y < 0 || *p++ != '-')
        return -1;
    int mo = digits(&p, 2);
    if (mo < 1 || mo > 12 || *p++ != '-')
        return -1;
    int d = digits(&p, 2);
    if (d < 1 || d > 31)
        return -1;
    int h = 0, mi = 0, sec = 0;
    double frac = 0;
    if (*p == 'T' || *p == 't' || *p == ' ') {
        p++;
        if ((h = digits(&p, 2)) < 0 || h > 23 || *p++ != ':' || (mi = digits(&p, 2)) < 0 ||
            mi > 59)
            return -1;
        if (*p == ':') {
            p++;
            if ((sec = digits(&p, 2)) < 0 || sec > 60)
                return -1;
            if (*p == '.' || *p == ',') {
                const char *f = ++p;
                double scale = 0.1;
                while (isdigit((unsigned char)*p)) {
                    frac += (*p++ - '0') * scale;
                    scale /= 10;
                }
                if (p == f)
                    return -1;
            }
        }
    }
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = sec;
    time_t t;
    if (!*p) { /* no zone: local time */
        tm.tm_isdst = -1;
        struct tm want = tm;
        t = mktime(&tm);
        if (t == (time_t)-1 || tm.tm_mday != want.tm_mday) /* 2026-02-31 */
            return -1;
    } else {
        long off = 0;
        if ((*p == 'Z' || *p == 'z') && !p[1]) {
            p++;
        } else if (*p == '+' || *p == '-') {
            int sign = *p++ == '-' ? -1 : 1;
            int oh = digits(&p, 2), om = 0;
            if (oh < 0 || oh > 23)
                return -1;
            if (*p == ':')
                p++;
            if (*p && ((om = digits(&p, 2)) < 0 || om > 59))
                return -1;
            off = sign * (oh * 3600L + om * 60L);
        }
        if (*p)
            return -1;
        struct tm want = tm;
        t = timegm(&tm);
        if (t == (time_t)-1 || tm.tm_mday != want.tm_mday)
            return -1;
        t -= off;
    }
    *out = (double)t + frac;
    return 0;
}

/* Local midnight days_back days before now. */
static double midnight(double now, int days_back)
{
    time_t t = (time_t)now;
    struct tm tm;
    localtime_r(&t, &tm);
    tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
    tm.tm_mday -= days_back;
    tm.tm_isdst = -1;
    return (double)mktime(&tm);
}

int gt_time_parse(const char *s, double now, double *out, gt_error_t *err)
{
    if (!s || !*s)
        return gt_error_invalid(err, "a time is required, such as 2026-11-30, "
                                     "2026-11-30T17:00, today, 2d (ago) or epoch seconds");
    if (!strcmp(s, "now")) {
        *out = now;
        return 0;
    }
    if (!strcmp(s, "today") || !strcmp(s, "yesterday")) {
        *out = midnight(now, s[0] == 'y');
        return 0;
    }
    /* Epoch seconds: digits, an optional fraction (a year alone is not one: "2026" is taken
     * for a date only with its month and day). */
    char *end;
    if (isdigit((unsigned char)s[0])) {
        errno = 0;
        double v = strtod(s, &end);
        if (!*end && !errno && isfinite(v) && !strpbrk(s, "eExXpP")) {
            *out = v;
            return 0;
        }
    }
    if (iso_parse(s, out) == 0)
        return 0;
    int64_t d;
    gt_error_t e = {0};
    if (gt_parse_duration(s + (*s == '+'), &d, &e) == 0) {
        *out = *s == '+' ? now + (double)d : now - (double)d; /* +2h: from now; 2h: ago */
        return 0;
    }
    return gt_error_invalid(err, "'%s' is not a time: use a local date or time such as "
                                 "2026-11-30 or 2026-11-30T17:00 (RFC 3339 with a zone: "
                                 "2026-11-30T17:00:00Z), today, yesterday, now, a duration "
                                 "ago such as 2d or 90m, one from now such as +2h, or epoch "
                                 "seconds", s);
}
