/* SHA-256 of a file, for checking baseline packages against their fleet-file hash. */
#ifndef FU_SHA256_H
#define FU_SHA256_H

#include <stddef.h>

/* Writes 64 lowercase hex digits and a NUL to hex. Returns 0, or -1 with a reason in err. */
int fu_sha256_file(const char *path, char hex[65], char *err, size_t errlen);

#endif
