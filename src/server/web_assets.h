/* web_assets.h: the dashboard's files (web/ and the charting library), embedded into the
 * binary at build time: scripts/embed-web writes build/gen/web_assets.c from them. Each file
 * is kept as it is and gzip-compressed; api_web.c serves the one the client accepts. */
#ifndef GANTRY_WEB_ASSETS_H
#define GANTRY_WEB_ASSETS_H

#include <stddef.h>

typedef struct web_asset {
    const char *path;              /* URL path: "/", "/ui/app.js" */
    const char *content_type;
    const unsigned char *data;     /* the file */
    size_t len;
    const unsigned char *gz;       /* gzip of it */
    size_t gz_len;
    const char *etag;              /* "\"<sha256 prefix>\"" of data */
} web_asset_t;

extern const web_asset_t web_assets[];
extern const size_t web_nassets;

#endif
