/* module.c: the accounts module in the module table: its settings rows (register.*, in-band
 * registration policy) and its memory release (each worker's account cache). */
#include <stddef.h>

#include "accounts/accounts.h"
#include "core/module.h"

static const struct setting accounts_settings[] = {
    { .key = "register.rate_limit",
      .type = SETTING_INT,
      SETTING_FIELD(reg.rate_limit),
      .min = 0,
      .max = 1000000,
      .def = "5",
      .desc = "In-band registrations (XEP-0077) allowed from one remote address per "
              "register.rate_period; 0 = no limit" },
    { .key = "register.rate_period",
      .type = SETTING_INT,
      SETTING_FIELD(reg.rate_period),
      .min = 1,
      .max = 2592000,
      .def = "3600",
      .desc = "Seconds over which the register.*rate_limit settings count" },
    { .key = "register.domain_rate_limit",
      .type = SETTING_INT,
      SETTING_FIELD(reg.domain_rate_limit),
      .min = 0,
      .max = 1000000,
      .def = "100",
      .desc = "In-band registrations allowed on one domain per register.rate_period, from all "
              "addresses together; 0 = no limit" },
    { .key = "register.global_rate_limit",
      .type = SETTING_INT,
      SETTING_FIELD(reg.global_rate_limit),
      .min = 0,
      .max = 1000000,
      .def = "300",
      .desc = "In-band registrations allowed on the whole server per register.rate_period; "
              "0 = no limit" },
    { .key = "register.reserved_names",
      .type = SETTING_STRING,
      SETTING_FIELD(reg.reserved_names),
      .def = "admin*, *admin, root, postmaster, hostmaster, webmaster, abuse, security, "
             "support, noc, info, sales, marketing, help, helpdesk, noreply, no-reply, nobody, "
             "mailer-daemon, system, sysop, operator, moderator, staff, server, xmpp, jabber, "
             "www, ftp, mail",
      .desc = "User names that in-band registration refuses (compared after nodeprep, and by "
              "their UTS #39 skeletons so look-alikes are refused too)",
      .values = "a comma list of names; * matches any run of characters; empty = none" },
    { .key = "register.tombstone_time",
      .type = SETTING_INT,
      SETTING_FIELD(reg.tombstone_time),
      .min = 0,
      .max = 315360000,
      .def = "2592000",
      .desc = "Seconds the name of a deleted account cannot be registered again; 0 = at once" },
    { .key = "register.min_password_length",
      .type = SETTING_INT,
      SETTING_FIELD(reg.min_password_length),
      .min = 1,
      .max = 1024,
      .def = "8",
      .desc = "Shortest password accepted by in-band registration and password change, in "
              "bytes" },
    { .key = "register.invite_lifetime",
      .type = SETTING_INT,
      SETTING_FIELD(reg.invite_lifetime),
      .min = 60,
      .max = 315360000,
      .def = "604800",
      .desc = "Seconds an invitation token (starlingctl invite) stays valid" },
    { .key = NULL },
};

static void accounts_module_release(struct worker_ctx *wc)
{
    (void)wc;
    accounts_cache_release();
}

struct module accounts_module = {
    .name = "accounts",
    .settings = accounts_settings,
    .release_memory = accounts_module_release,
};
