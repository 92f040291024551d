/* test_caps.c: the XEP-0115 verification string (services_caps_ver) against the XEP's examples. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "core/err.h"
#include "services/services.h"
#include "xml/ns.h"

static void identity(struct xml_node *q, const char *category, const char *type, const char *lang,
                     const char *name)
{
    struct xml_node *id = xml_node_add_child(q, NULL, "identity");
    xml_node_set_attr(id, "category", category);
    xml_node_set_attr(id, "type", type);
    if (lang) {
        xml_node_set_attr_ns(id, NS_XML, "lang", lang);
    }
    xml_node_set_attr(id, "name", name);
}

static void feature(struct xml_node *q, const char *var)
{
    struct xml_node *f = xml_node_add_child(q, NULL, "feature");
    xml_node_set_attr(f, "var", var);
}

static struct xml_node *field(struct xml_node *x, const char *var, const char *type)
{
    struct xml_node *f = xml_node_add_child(x, NULL, "field");
    xml_node_set_attr(f, "var", var);
    if (type) {
        xml_node_set_attr(f, "type", type);
    }
    return f;
}

static void value(struct xml_node *f, const char *text)
{
    struct xml_node *v = xml_node_add_child(f, NULL, "value");
    xml_node_add_text(v, text, strlen(text));
}

static void expect_ver(const struct xml_node *q, const char *want)
{
    struct buf ver;
    buf_init(&ver, 64);
    assert_int_equal(services_caps_ver(q, &ver), 0);
    assert_string_equal(buf_cstr(&ver), want);
    buf_cleanup(&ver);
}

/* XEP-0115 §5.2, the simple example. */
static void test_simple(void **state)
{
    (void)state;
    struct xml_node *q = xml_node_new(NS_DISCO_INFO, "query");
    identity(q, "client", "pc", NULL, "Exodus 0.9.1");
    feature(q, "http://jabber.org/protocol/caps");
    feature(q, "http://jabber.org/protocol/disco#info");
    feature(q, "http://jabber.org/protocol/disco#items");
    feature(q, "http://jabber.org/protocol/muc");
    expect_ver(q, "QgayPKawpkPSDYmwT/WM94uAlu0=");
    xml_node_unref(q);
}

/* The same set in another order gives the same string (the input is sorted). */
static void test_order(void **state)
{
    (void)state;
    struct xml_node *q = xml_node_new(NS_DISCO_INFO, "query");
    feature(q, "http://jabber.org/protocol/muc");
    feature(q, "http://jabber.org/protocol/disco#items");
    identity(q, "client", "pc", NULL, "Exodus 0.9.1");
    feature(q, "http://jabber.org/protocol/disco#info");
    feature(q, "http://jabber.org/protocol/caps");
    expect_ver(q, "QgayPKawpkPSDYmwT/WM94uAlu0=");
    /* One more feature changes it. */
    feature(q, "urn:xmpp:ping");
    struct buf ver;
    buf_init(&ver, 64);
    assert_int_equal(services_caps_ver(q, &ver), 0);
    assert_string_not_equal(buf_cstr(&ver), "QgayPKawpkPSDYmwT/WM94uAlu0=");
    buf_cleanup(&ver);
    xml_node_unref(q);
}

static struct xml_node *complex_example(void)
{
    struct xml_node *q = xml_node_new(NS_DISCO_INFO, "query");
    identity(q, "client", "pc", "en", "Psi 0.11");
    identity(q, "client", "pc", "el", "\xce\xa8 0.11");
    feature(q, "http://jabber.org/protocol/caps");
    feature(q, "http://jabber.org/protocol/disco#info");
    feature(q, "http://jabber.org/protocol/disco#items");
    feature(q, "http://jabber.org/protocol/muc");
    struct xml_node *x = xml_node_add_child(q, "jabber:x:data", "x");
    xml_node_set_attr(x, "type", "result");
    value(field(x, "FORM_TYPE", "hidden"), "urn:xmpp:dataforms:softwareinfo");
    struct xml_node *ip = field(x, "ip_version", NULL);
    value(ip, "ipv6");
    value(ip, "ipv4");
    value(field(x, "os", NULL), "Mac");
    value(field(x, "os_version", NULL), "10.5.1");
    value(field(x, "software", NULL), "Psi");
    value(field(x, "software_version", NULL), "0.11");
    return q;
}

/* XEP-0115 §5.3, the complex example: languages, two identities, an extended form. */
static void test_complex(void **state)
{
    (void)state;
    struct xml_node *q = complex_example();
    expect_ver(q, "q07IKJEyjvHSyhy//CH0CxmKi8w=");
    xml_node_unref(q);
}

/* §5.4: a form whose FORM_TYPE is not hidden is left out of the string. */
static void test_form_without_hidden_type(void **state)
{
    (void)state;
    struct xml_node *q = complex_example();
    struct xml_node *x = xml_node_add_child(q, "jabber:x:data", "x");
    xml_node_set_attr(x, "type", "result");
    value(field(x, "FORM_TYPE", NULL), "urn:example:visible");
    value(field(x, "extra", NULL), "1");
    expect_ver(q, "q07IKJEyjvHSyhy//CH0CxmKi8w=");
    xml_node_unref(q);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_simple),
        cmocka_unit_test(test_order),
        cmocka_unit_test(test_complex),
        cmocka_unit_test(test_form_without_hidden_type),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
