/* The dashboard's files (src/dashboard/index.html, app.js, style.css), embedded in the
 * binary at build time by src/dashboard/embed.cmake; `fleetup serve` answers GET /,
 * /app.js and /style.css from them (no token needed for these files). */
#ifndef FU_DASHBOARD_ASSETS_H
#define FU_DASHBOARD_ASSETS_H

#include <stddef.h>

typedef struct {
    const char *path;         /* "/", "/index.html", "/app.js", "/style.css" */
    const char *content_type; /* "text/html; charset=utf-8", ... */
    const unsigned char *data;/* len bytes (followed by a NUL not counted in len) */
    size_t len;
    const char *etag;         /* quoted SHA-256 of the content, e.g. "\"3f2a...\"" */
} fu_asset_t;

/* The embedded file served at path ("/" is index.html), or NULL. A query string
 * ("?v=2") after the path is ignored. */
const fu_asset_t *fu_dashboard_asset(const char *path);

#endif
