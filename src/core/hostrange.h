/* Ansible host patterns: "web[01:40]", strides "[01:40:2]", letters "[a:f]", several
 * ranges in one name, and "host:port" / "[v6addr]:port" suffixes. */
#ifndef FU_HOSTRANGE_H
#define FU_HOSTRANGE_H

#include <stdbool.h>
#include <stddef.h>

typedef int (*fu_hostrange_cb)(void *ud, const char *name, size_t len);

typedef struct {
    const char *msg; /* static text */
    size_t offset;   /* byte offset in the pattern where the problem is */
} fu_hostrange_err_t;

/* Calls cb for every name PATTERN expands to, in order; a non-zero return from cb stops
 * the expansion and is returned. Returns -1 and fills err for a bad pattern, or when it
 * would expand to more than max names (checked before any callback runs). */
int fu_hostrange_expand(const char *pat, size_t len, size_t max, fu_hostrange_cb cb, void *ud,
                        fu_hostrange_err_t *err);
/* Number of names PATTERN expands to, or -1 with err. */
long long fu_hostrange_count(const char *pat, size_t len, fu_hostrange_err_t *err);
bool fu_hostrange_has_range(const char *pat, size_t len);

/* Splits "host:port", "[v6]:port" into host and port (port 0 when absent). Bare IPv6
 * addresses ("fe80::1") have no port. Returns -1 with err for a bad port. */
int fu_hostport_split(const char *s, size_t len, size_t *hostlen, size_t *hostofs,
                      unsigned *port, fu_hostrange_err_t *err);

#endif
