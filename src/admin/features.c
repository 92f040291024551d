/* features.c: the admin op "features": what a domain offers its users and peers, from the
 * server's own disco#info features and the settings that turn protocols on or off (issue 20:
 * "why doesn't my client's file upload work"). */
#include <string.h>

#include "accounts/accounts.h"
#include "admin/features.h"
#include "core/settings.h"
#include "xml/ns.h"

/* Friendly names of the features the server may advertise; others are shown by namespace. */
static const struct {
    const char *ns;
    const char *name;
} known[] = {
    { NS_DISCO_INFO, "Service discovery (XEP-0030)" },
    { NS_DISCO_ITEMS, "Service discovery items (XEP-0030)" },
    { NS_CAPS, "Entity capabilities (XEP-0115)" },
    { NS_PING, "XMPP Ping (XEP-0199)" },
    { NS_VERSION, "Software version (XEP-0092)" },
    { NS_TIME, "Entity time (XEP-0202)" },
    { NS_LAST, "Last activity (XEP-0012)" },
    { NS_PRIVATE, "Private XML storage (XEP-0049)" },
    { NS_VCARD, "vCard (XEP-0054)" },
    { NS_COMMANDS, "Ad-hoc commands (XEP-0050)" },
    { NS_ADMIN, "Service administration (XEP-0133)" },
    { NS_REGISTER, "In-band registration (XEP-0077)" },
    { NS_ROSTER, "Roster (RFC 6121)" },
    { NS_BLOCKING, "Blocking command (XEP-0191)" },
    { NS_CARBONS, "Message carbons (XEP-0280)" },
    { NS_SERVERINFO, "Contact addresses (XEP-0157)" },
    { NS_PARS, "Pre-authenticated roster subscription (XEP-0379/0401)" },
    { NS_MAM, "Message archive (XEP-0313)" },
    { NS_MAM_EXTENDED, "Message archive, extended queries (XEP-0313)" },
    { NS_FULLTEXT, "Full-text archive search (XEP-0431)" },
    { NS_PUBSUB, "Publish-subscribe (XEP-0060)" },
    { NS_PUSH, "Push notifications (XEP-0357)" },
    { NS_EXTDISCO, "External services: STUN/TURN (XEP-0215)" },
    { NS_INVITE, "Invitations (XEP-0401)" },
};

static void add_feature(json_t *out, const char *feature)
{
    const char *name = NULL;
    for (size_t i = 0; i < sizeof(known) / sizeof(known[0]) && name == NULL; i++) {
        if (strcmp(known[i].ns, feature) == 0) {
            name = known[i].name;
        }
    }
    json_array_append_new(out, json_pack("{s:s, s:s?}", "feature", feature, "name", name));
}

static json_t *named(const json_t *namespaces)
{
    json_t *out = json_array();
    size_t i;
    const json_t *ns;
    json_array_foreach(namespaces, i, ns)
    {
        if (json_is_string(ns)) {
            add_feature(out, json_string_value(ns));
        }
    }
    return out;
}

static void add_switch(json_t *list, const char *what, bool on, const char *setting,
                       const char *value)
{
    json_array_append_new(list, json_pack("{s:s, s:b, s:s, s:s}", "what", what, "on", on, "setting",
                                          setting, "value", value));
}

static const char *yes_no(bool on)
{
    return on ? "yes" : "no";
}

/* The server settings behind the protocols clients look for most ("why doesn't my client's
 * file upload work"): each says whether it is on and which setting decides. */
static void server_switches(json_t *list, const struct settings *cfg, const struct domain_cfg *d)
{
    const struct settings_http *h = &cfg->http;
    bool http = h->listener.count > 0;
    char value[64];
    add_switch(list, "Stream management and resumption (XEP-0198)",
               cfg->xmpp.receiving.sm_resume_timeout > 0, "xmpp.receiving.sm_resume_timeout",
               cfg->xmpp.receiving.sm_resume_timeout > 0 ? "resumption on" : "0: no resumption");
    snprintf(value, sizeof(value), "%d s", cfg->xmpp.receiving.fast_token_lifetime);
    add_switch(list, "Fast reconnection tokens (XEP-0484 FAST, with SASL2)",
               cfg->xmpp.receiving.fast_token_lifetime > 0, "xmpp.receiving.fast_token_lifetime",
               value);
    add_switch(list, "Message archive (XEP-0313)", cfg->archive.enabled, "archive.enabled",
               yes_no(cfg->archive.enabled));
    add_switch(list, "WebSocket (RFC 7395) and BOSH (XEP-0206) for web clients", http,
               "http.listener", http ? "has sockets" : "no sockets");
    add_switch(list, "HTTP file upload (XEP-0363)", http, "http.listener",
               http ? "upload service listed in disco#items" : "no sockets: no upload service");
    add_switch(list, "STUN/TURN for calls (XEP-0215)", cfg->services.external[0] != '\0',
               "services.external", cfg->services.external[0] ? "configured" : "none configured");
    add_switch(list, "Multi-user chat (XEP-0045)", d->chat_service[0] != '\0',
               "domain: chat_service", d->chat_service[0] ? d->chat_service : "none");
}

static json_t *switches(const struct domain_cfg *d, const struct settings *cfg)
{
    json_t *list = json_array();
    char methods[512] = "";
    size_t pos = 0;
    for (int i = 0; i < d->n_login_methods && pos < sizeof(methods); i++) {
        pos += (size_t)snprintf(methods + pos, sizeof(methods) - pos, "%s%s", i ? "," : "",
                                d->login_methods[i]);
    }
    add_switch(list, "XMPP logins", d->xmpp_enabled, "domain: xmpp", yes_no(d->xmpp_enabled));
    add_switch(list, "SASL mechanisms", d->n_login_methods > 0, "domain: login_methods", methods);
    add_switch(list, "In-band registration (XEP-0077)", d->auto_signup, "domain: auto_signup",
               d->auto_signup ? (d->signup_invite_only ? "yes, invitation only" : "yes") : "no");
    add_switch(list, "Password change in-band (XEP-0077)", d->allow_modify_password,
               "domain: allow_modify_password", yes_no(d->allow_modify_password));
    add_switch(list, "Account removal in-band (XEP-0077)", d->allow_cancel, "domain: allow_cancel",
               yes_no(d->allow_cancel));
    server_switches(list, cfg, d);
    return list;
}

json_t *admin_features_json(struct store *st, const struct settings *cfg, const char *domain,
                            const json_t *server, const json_t *account)
{
    struct domain_cfg d;
    if (accounts_domain_get(st, domain, &d) != 0) {
        return NULL;
    }
    return json_pack("{s:s, s:o, s:o, s:o}", "domain", d.name, "server", named(server), "account",
                     named(account), "switches", switches(&d, cfg));
}
