/* sqlite_services.c: the store's "services" area (see store_int.h). */
#include "store/store_int.h"

static const char *const migrations[] = {
    NULL,
};

const struct store_area store_area_services = {
    .name = "services",
    .migrations = migrations,
    .count = 0,
};
