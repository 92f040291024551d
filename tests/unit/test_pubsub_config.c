/* test_pubsub_config.c: a pubsub node's configuration (src/pubsub/config.c): fields from forms,
 * the stored text and back, and the publish-options preconditions of XEP-0060 §7.1.5. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "core/err.h"
#include "pubsub/pubsub_int.h"
#include "xml/ns.h"
#include "xml/xml.h"

static struct xml_node *parse(const char *text)
{
    struct xml_limits lim = { .max_depth = 100, .max_attrs = 100 };
    struct xml_node *n = xml_parse_element(strv_c(text), NULL, &lim);
    assert_non_null(n);
    return n;
}

static struct xml_node *form(const char *fields)
{
    char text[4096];
    snprintf(text, sizeof(text),
             "<x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE' type='hidden'>"
             "<value>" NS_PUBSUB_PUBLISH_OPTIONS "</value></field>%s</x>",
             fields);
    return parse(text);
}

static void test_defaults_and_apply(void **state)
{
    (void)state;
    struct pubsub_config c;
    pubsub__config_default(&c);
    assert_int_equal(c.access, PUBSUB_ACCESS_PRESENCE);
    assert_int_equal(c.max_items, 1);
    assert_true(c.persist);
    assert_int_equal(pubsub__config_apply(&c, "pubsub#access_model", "open", false), 0);
    assert_int_equal(c.access, PUBSUB_ACCESS_OPEN);
    assert_int_equal(pubsub__config_apply(&c, "pubsub#max_items", "max", false), 0);
    assert_int_equal(c.max_items, PUBSUB_MAX_ITEMS_MAX);
    assert_int_equal(pubsub__config_apply(&c, "pubsub#notification_type", "normal", false), 0);
    assert_true(c.normal);
    /* Bad values and unknown fields are told apart; nothing changes on either. */
    assert_int_equal(pubsub__config_apply(&c, "pubsub#max_items", "-2", false), ERR_INVAL);
    assert_int_equal(pubsub__config_apply(&c, "pubsub#max_items", "", false), ERR_INVAL);
    assert_int_equal(pubsub__config_apply(&c, "pubsub#persist_items", "yes", false), ERR_INVAL);
    assert_int_equal(pubsub__config_apply(&c, "pubsub#access_model", "sometimes", false),
                     ERR_INVAL);
    assert_int_equal(pubsub__config_apply(&c, "pubsub#nope", "1", false), ERR_NOTFOUND);
    assert_int_equal(c.max_items, PUBSUB_MAX_ITEMS_MAX);
    /* A text value may not carry a line break (the stored form is one line per value). */
    assert_int_equal(pubsub__config_apply(&c, "pubsub#title", "a\nb", false), ERR_INVAL);
}

static void test_text_round_trip(void **state)
{
    (void)state;
    struct pubsub_config c, back;
    pubsub__config_default(&c);
    assert_int_equal(pubsub__config_apply(&c, "pubsub#roster_groups_allowed", "Friends", false), 0);
    assert_int_equal(pubsub__config_apply(&c, "pubsub#roster_groups_allowed", "Work", true), 0);
    assert_int_equal(pubsub__config_apply(&c, "pubsub#title", "Tab\there", false), 0);
    assert_int_equal(pubsub__config_apply(&c, "pubsub#access_model", "roster", false), 0);
    assert_int_equal(pubsub__config_apply(&c, "pubsub#max_items", "42", false), 0);
    struct buf t;
    buf_init(&t, 1 << 16);
    pubsub__config_text(&c, &t);
    pubsub__config_parse(&back, buf_cstr(&t));
    assert_string_equal(back.groups, "Friends\nWork\n");
    assert_string_equal(back.title, "Tab\there");
    assert_int_equal(back.access, PUBSUB_ACCESS_ROSTER);
    assert_int_equal(back.max_items, 42);
    assert_memory_equal(&back, &c, sizeof(c));
    buf_cleanup(&t);
    /* Garbage lines are ignored: the defaults stand. */
    pubsub__config_parse(&back, "junk\n\tx\npubsub#max_items\tlots\n");
    pubsub__config_default(&c);
    assert_memory_equal(&back, &c, sizeof(c));
}

static void test_forms_and_preconditions(void **state)
{
    (void)state;
    struct pubsub_config c;
    pubsub__config_default(&c);
    struct xml_node *f = form("<field var='pubsub#persist_items'><value>true</value></field>"
                              "<field var='pubsub#access_model'><value>open</value></field>"
                              "<field var='pubsub#max_items'><value>max</value></field>");
    assert_int_equal(pubsub__config_apply_form(&c, f, true), 0);
    assert_int_equal(c.access, PUBSUB_ACCESS_OPEN);
    assert_true(pubsub__config_meets(&c, f));
    xml_node_unref(f);
    /* "1" meets true; a different model does not; nor does an unknown field or a bad value. */
    f = form("<field var='pubsub#persist_items'><value>1</value></field>");
    assert_true(pubsub__config_meets(&c, f));
    xml_node_unref(f);
    f = form("<field var='pubsub#access_model'><value>whitelist</value></field>");
    assert_false(pubsub__config_meets(&c, f));
    xml_node_unref(f);
    f = form("<field var='pubsub#frobs'><value>1</value></field>");
    assert_false(pubsub__config_meets(&c, f));
    assert_int_equal(pubsub__config_apply_form(&c, f, true), ERR_NOTFOUND);
    assert_int_equal(pubsub__config_apply_form(&c, f, false), 0);
    xml_node_unref(f);
    f = form("<field var='pubsub#max_items'><value>10</value></field>");
    assert_false(pubsub__config_meets(&c, f));
    xml_node_unref(f);
    /* The form sent to owners lists every field with its value. */
    struct xml_node *parent = xml_node_new(NS_PUBSUB_OWNER, "configure");
    pubsub__config_form(&c, parent);
    struct buf out;
    buf_init(&out, 1 << 16);
    assert_int_equal(xml_serialize(&out, parent, NULL), 0);
    assert_non_null(strstr(buf_cstr(&out), "pubsub#send_last_published_item"));
    assert_non_null(strstr(buf_cstr(&out), "<value>max</value>"));
    buf_cleanup(&out);
    xml_node_unref(parent);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults_and_apply),
        cmocka_unit_test(test_text_round_trip),
        cmocka_unit_test(test_forms_and_preconditions),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
