/* sqlite_im.c: the store's "im" area (see store_int.h). */
#include "store/store_int.h"

static const char *const migrations[] = {
    NULL,
};

const struct store_area store_area_im = {
    .name = "im",
    .migrations = migrations,
    .count = 0,
};
