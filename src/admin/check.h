/* check.h: `starlingctl check` (starlingd --check): the configuration, the data directory, the
 * certificates, the DNS records and the listening ports, one line per finding with its fix. */
#ifndef STARLING_ADMIN_CHECK_H
#define STARLING_ADMIN_CHECK_H

#include <stdbool.h>
#include <stdio.h>

#include "core/settings.h"

struct check_opts {
    const struct settings *cfg; /* the settings file's values (and -o overrides) */
    const char *datadir;
    const char *conf_path;
    const char *db_path;
    bool dns;                /* false (--no-dns): no DNS lookups */
    bool before_first_start; /* set by the check: no database yet */
};

/* The findings of one run; a finding is printed as it is made. */
struct check_report {
    FILE *out;
    int errors;
    int warnings;
};

/* Prints "error: …" / "warning: …" lines, each ending with "Fix: …", then a summary line.
 * Returns the number of errors. */
int admin_check_run(const struct check_opts *o, FILE *out);

/* Internal to the check (check.c, check_dns.c). */
void check__finding(struct check_report *r, bool error, const char *fix, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* The SRV and address records of `domain` (and `service`, its chat service, "" when none):
 * missing or inconsistent ones become findings. `servers`: xmpp.sending.dns_servers. */
void check__dns(struct check_report *r, const struct settings *cfg, const char *domain,
                bool is_service);

#endif
