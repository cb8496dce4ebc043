/* timefmt.h: times as a person reads and writes them.
 *
 * Out: local ISO 8601 ("2026-11-30T17:26:35", the form sacct prints), one function for every
 * command that shows a time; elapsed times as sacct's [D-]HH:MM:SS. JSON and YAML keep epoch
 * numbers.
 * In: ISO 8601 / RFC 3339 dates and times ("2026-11-30", "2026-11-30T17:26",
 * "2026-11-30 17:26:35", "2026-11-30T17:26:35.25Z", "...+02:00"; local time when no zone is
 * given), epoch seconds ("1764500000", "1764500000.5"), "now", "today" and "yesterday" (local
 * midnight), a duration ago ("2d", "90m", "1h30m": gt_parse_duration's forms), or one from
 * now ("+2h", "+1d"). */
#ifndef GANTRY_TIMEFMT_H
#define GANTRY_TIMEFMT_H

#include <stddef.h>
#include <stdint.h>

#include "common/util.h"

/* Writes epoch time t as local ISO 8601 to the second into buf and returns buf; "-" when t is
 * not above 0 (never happened). */
const char *gt_time_local(double t, char *buf, size_t len);
/* Writes a duration in seconds as [D-]HH:MM:SS (sacct's Elapsed) and returns buf; "-" when
 * s < 0. */
const char *gt_format_elapsed(int64_t s, char *buf, size_t len);
/* Reads s (the forms above) as epoch seconds in *out; relative forms count from now. 0, or -1
 * (EINVAL) with a message in err that lists the accepted forms. */
int gt_time_parse(const char *s, double now, double *out, gt_error_t *err);

#endif
