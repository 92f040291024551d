/* delay.c: XEP-0203 delayed-delivery stamps on stanzas. */
#include "core/stamp.h"
#include "xml/ns.h"
#include "xml/xml.h"

struct xml_node *xml_node_add_delay(struct xml_node *el, const char *from, time_t when)
{
    char stamp[STAMP_MAX];
    struct xml_node *d = xml_node_add_child(el, NS_DELAY, "delay");
    if (from != NULL) {
        xml_node_set_attr(d, "from", from);
    }
    xml_node_set_attr(d, "stamp", stamp_format(when, stamp, sizeof(stamp)));
    return d;
}
