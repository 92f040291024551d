/* test_bind2.c: the XEP-0386 Bind 2 inline-feature registry (xmpp/bind2.h) that stream
 * management and CSI register with: listing, dispatch by namespace, duplicates and the limit. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "core/err.h"
#include "xml/ns.h"
#include "xmpp/bind2.h"

static int calls;
static struct c2s_session *seen_session;

/* What an SM handler would do: answer <enabled/> inside <bound/>. */
static int sm_enable(struct c2s_session *s, const struct xml_node *req, struct buf *bound)
{
    calls++;
    seen_session = s;
    if (strcmp(req->name, "enable") != 0) {
        return ERR_PROTO;
    }
    return buf_append_c(bound, "<enabled xmlns='urn:xmpp:sm:3' id='x' resume='true'/>");
}

static int csi_state(struct c2s_session *s, const struct xml_node *req, struct buf *bound)
{
    (void)s;
    (void)bound;
    calls++;
    return strcmp(req->name, "inactive") == 0 || strcmp(req->name, "active") == 0 ? 0 : ERR_PROTO;
}

static int other(struct c2s_session *s, const struct xml_node *req, struct buf *bound)
{
    (void)s;
    (void)req;
    (void)bound;
    return 0;
}

static void test_registry(void **state)
{
    (void)state;
    /* Carbons are built in, first. */
    assert_int_equal(xstream_bind2_count(), 1);
    assert_string_equal(xstream_bind2_ns(0), NS_CARBONS);
    assert_int_equal(xstream_bind2_register("urn:xmpp:sm:3", sm_enable), 0);
    assert_int_equal(xstream_bind2_register("urn:xmpp:csi:0", csi_state), 0);
    assert_int_equal(xstream_bind2_register("urn:xmpp:sm:3", other), ERR_EXISTS);
    assert_int_equal(xstream_bind2_count(), 3);
    assert_string_equal(xstream_bind2_ns(1), "urn:xmpp:sm:3");
    assert_string_equal(xstream_bind2_ns(2), "urn:xmpp:csi:0");
    assert_null(xstream_bind2_ns(3));

    struct c2s_session *fake = (struct c2s_session *)&calls; /* only passed through */
    struct buf bound;
    buf_init(&bound, 4096);
    struct xml_node *en = xml_node_new("urn:xmpp:sm:3", "enable");
    assert_int_equal(xstream_bind2_run(fake, en, &bound), 0);
    assert_ptr_equal(seen_session, fake);
    assert_string_equal(buf_cstr(&bound), "<enabled xmlns='urn:xmpp:sm:3' id='x' resume='true'/>");
    struct xml_node *ina = xml_node_new("urn:xmpp:csi:0", "inactive");
    assert_int_equal(xstream_bind2_run(fake, ina, &bound), 0);
    struct xml_node *unknown = xml_node_new("urn:example:nope", "enable");
    assert_int_equal(xstream_bind2_run(fake, unknown, &bound), ERR_NOTFOUND);
    assert_int_equal(calls, 2);
    xml_node_unref(en);
    xml_node_unref(ina);
    xml_node_unref(unknown);
    buf_cleanup(&bound);

    /* The table is bounded. */
    static const char *const names[] = { "urn:a", "urn:b", "urn:c", "urn:d", "urn:e", "urn:f" };
    int rc = 0;
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]) && rc == 0; i++) {
        rc = xstream_bind2_register(names[i], other);
    }
    assert_int_equal(rc, ERR_LIMIT);
    assert_int_equal(xstream_bind2_count(), XSTREAM_BIND2_MAX);
}

/* An SM-resumption-like SASL2 inline feature: advertised, sees <authenticate/>, may bind. */
static void sm_advertise(struct buf *out)
{
    buf_append_c(out, "<sm xmlns='urn:xmpp:sm:3'/>");
}

static int sm_resume(struct xstream *st, const struct xml_node *auth, struct buf *out)
{
    (void)st;
    if (xml_node_child(auth, "urn:xmpp:sm:3", "resume") == NULL) {
        return 0;
    }
    buf_append_c(out, "<resumed xmlns='urn:xmpp:sm:3' h='0' previd='p'/>");
    return XSTREAM_SASL2_BOUND;
}

static int failing(struct xstream *st, const struct xml_node *auth, struct buf *out)
{
    (void)st;
    (void)auth;
    (void)out;
    return ERR_PROTO;
}

static int g_after_calls;

static void sm_after(struct xstream *st)
{
    (void)st;
    g_after_calls++;
}

static void test_sasl2_inline(void **state)
{
    (void)state;
    assert_int_equal(xstream_sasl2_inline_register(NULL, failing, NULL), 0);
    assert_int_equal(xstream_sasl2_inline_register(sm_advertise, sm_resume, sm_after), 0);
    struct buf b;
    buf_init(&b, 4096);
    xstream__sasl2_inline_advertise(&b);
    assert_string_equal(buf_cstr(&b), "<sm xmlns='urn:xmpp:sm:3'/>");
    buf_reset(&b);
    struct xml_node *auth = xml_node_new(NS_SASL2, "authenticate");
    /* Nothing asked: the failing handler's error is reported, nothing is bound. */
    assert_int_equal(xstream__sasl2_inline_run(NULL, auth, &b), ERR_PROTO);
    assert_int_equal(b.len, 0);
    struct xml_node *r = xml_node_add_child(auth, "urn:xmpp:sm:3", "resume");
    xml_node_set_attr(r, "previd", "p");
    assert_int_equal(xstream__sasl2_inline_run(NULL, auth, &b), XSTREAM_SASL2_BOUND);
    assert_string_equal(buf_cstr(&b), "<resumed xmlns='urn:xmpp:sm:3' h='0' previd='p'/>");
    /* The after-success hooks: the one registered runs, a NULL one is skipped. */
    xstream__sasl2_inline_after(NULL);
    assert_int_equal(g_after_calls, 1);
    xml_node_unref(auth);
    buf_cleanup(&b);
    for (int i = 2; i < XSTREAM_SASL2_INLINE_MAX; i++) {
        assert_int_equal(xstream_sasl2_inline_register(sm_advertise, sm_resume, NULL), 0);
    }
    assert_int_equal(xstream_sasl2_inline_register(sm_advertise, sm_resume, NULL), ERR_LIMIT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_registry),
        cmocka_unit_test(test_sasl2_inline),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
