/* Numeric-aware version comparison, after the "alphanumeric runs" idea of rpmvercmp and
 * dpkg, simplified: no epochs, '~' is an ordinary separator. */
#include "core/version.h"

#include <ctype.h>
#include <regex.h>
#include <stdio.h>
#include <string.h>

static const char *skip_sep(const char *s)
{
    while (*s && !isalnum((unsigned char)*s))
        s++;
    return s;
}

static int cmp_digits(const char **pa, const char **pb)
{
    const char *a = *pa, *b = *pb;
    while (*a == '0')
        a++;
    while (*b == '0')
        b++;
    const char *ea = a, *eb = b;
    while (isdigit((unsigned char)*ea))
        ea++;
    while (isdigit((unsigned char)*eb))
        eb++;
    *pa = ea;
    *pb = eb;
    if (ea - a != eb - b)
        return ea - a < eb - b ? -1 : 1;
    int c = strncmp(a, b, (size_t)(ea - a));
    return c < 0 ? -1 : c > 0;
}

static int cmp_alpha(const char **pa, const char **pb)
{
    const char *a = *pa, *b = *pb;
    while (isalpha((unsigned char)*a) && isalpha((unsigned char)*b)) {
        int ca = tolower((unsigned char)*a), cb = tolower((unsigned char)*b);
        if (ca != cb)
            return ca < cb ? -1 : 1;
        a++, b++;
    }
    int more_a = isalpha((unsigned char)*a), more_b = isalpha((unsigned char)*b);
    *pa = a;
    *pb = b;
    return more_a == more_b ? 0 : more_a ? 1 : -1;
}

int fu_version_cmp(const char *a, const char *b)
{
    for (;;) {
        a = skip_sep(a);
        b = skip_sep(b);
        if (*a == '\0' || *b == '\0')
            return *a ? 1 : *b ? -1 : 0;
        int da = isdigit((unsigned char)*a), db = isdigit((unsigned char)*b);
        if (da != db)
            return da ? 1 : -1; /* a number is newer than a letter run: 2.0 > 2.beta */
        int c = da ? cmp_digits(&a, &b) : cmp_alpha(&a, &b);
        if (c != 0)
            return c;
    }
}

int fu_version_extract(const char *pattern, const char *s, char *out, size_t outlen)
{
    regex_t re;
    if (regcomp(&re, pattern, REG_EXTENDED) != 0)
        return -1;
    regmatch_t m[2];
    int rc = 1;
    if (re.re_nsub >= 1 && regexec(&re, s, 2, m, 0) == 0 && m[1].rm_so >= 0) {
        snprintf(out, outlen, "%.*s", (int)(m[1].rm_eo - m[1].rm_so), s + m[1].rm_so);
        rc = 0;
    } else {
        snprintf(out, outlen, "%s", s);
    }
    regfree(&re);
    return rc;
}
