/* Version strings as vendors write them ("2.10", "U46 v2.10 (03/01/2024)", "2.10.0-1",
 * "5.2.1 build 17"), compared numerically where they hold numbers. */
#ifndef FU_VERSION_H
#define FU_VERSION_H

#include <stddef.h>

/* <0, 0, >0 as a is older than, the same as, or newer than b. Runs of digits compare as
 * numbers (2.10 > 2.9), runs of letters case-insensitively, separators only split;
 * a version that is a prefix of the other is older (2.10 < 2.10.1). */
int fu_version_cmp(const char *a, const char *b);

/* Applies an extended regex whose first group is the version ("v([0-9.]+)") to s and
 * copies the match into out. Returns 0, 1 when the pattern does not match (out = s),
 * or -1 when the pattern does not compile. */
int fu_version_extract(const char *pattern, const char *s, char *out, size_t outlen);

#endif
