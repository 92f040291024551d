/* contact.c: XEP-0157 contact addresses, published as a data form in the server's disco#info
 * (XEP-0128) from the server.contact.* settings. */
#include <string.h>

#include "core/server.h"
#include "services/services_int.h"
#include "xml/ns.h"


/* Appends one value per URI of a comma list (blanks around the URIs ignored). */
static void add_uris(struct xml_node *field, const char *list)
{
    const char *p = list;
    while (*p) {
        while (*p == ' ' || *p == '\t' || *p == ',') {
            p++;
        }
        const char *start = p;
        while (*p && *p != ',') {
            p++;
        }
        const char *end = p;
        while (end > start && (end[-1] == ' ' || end[-1] == '\t')) {
            end--;
        }
        if (end > start) {
            struct xml_node *v = xml_node_add_child(field, NULL, "value");
            xml_node_add_text(v, start, (size_t)(end - start));
        }
    }
}

static void contact_form(struct xml_node *query)
{
    struct worker_ctx *wc = worker_ctx();
    if (wc == NULL) {
        return;
    }
    const struct settings *cfg = wc->cfg;
    const struct {
        const char *var;
        const char *list;
    } fields[] = {
        { "abuse-addresses", cfg->server.contact.abuse },
        { "admin-addresses", cfg->server.contact.admin },
        { "feedback-addresses", cfg->server.contact.feedback },
        { "sales-addresses", cfg->server.contact.sales },
        { "security-addresses", cfg->server.contact.security },
        { "status-addresses", cfg->server.contact.status },
        { "support-addresses", cfg->server.contact.support },
    };
    bool any = false;
    for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
        any = any || fields[i].list[0] != '\0';
    }
    if (!any) {
        /* §2: the form is published only when there is an address to give. */
        return;
    }
    struct xml_node *x = services__form_add(query, "result", NS_SERVERINFO);
    for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
        if (fields[i].list[0] != '\0') {
            /* XEP-0157 §3: every address field is typed list-multi. */
            struct xml_node *f = services__field_add(x, fields[i].var, "list-multi", NULL, NULL);
            add_uris(f, fields[i].list);
        }
    }
}

const struct service service_contact = {
    .name = "contact",
    .info_forms = contact_form,
};
