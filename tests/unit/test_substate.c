/* test_substate.c: the subscription state machine against RFC 6121 Appendix A, every state and
 * every subscription stanza in both directions. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "im/substate.h"

/* The nine states of Appendix A by name. */
static struct sub_state state_of(const char *name)
{
    struct sub_state s = { 0 };
    if (strncmp(name, "To", 2) == 0) {
        s.sub = SUB_TO;
    } else if (strncmp(name, "From", 4) == 0) {
        s.sub = SUB_FROM;
    } else if (strncmp(name, "Both", 4) == 0) {
        s.sub = SUB_TO | SUB_FROM;
    }
    s.pending_out = strstr(name, "Pending Out") != NULL;
    s.pending_in = strstr(name, "Pending In") != NULL || strstr(name, "Out/In") != NULL;
    return s;
}

struct row {
    const char *from;
    const char *to;
    unsigned must;   /* actions that must be there */
    unsigned mustnt; /* actions that must not */
};

#define R SUB_ROUTE
#define D SUB_DELIVER
#define A SUB_AUTO_SUBSCRIBED

static const char *const states[9] = { "None",
                                       "None + Pending Out",
                                       "None + Pending In",
                                       "None + Pending Out/In",
                                       "To",
                                       "To + Pending In",
                                       "From",
                                       "From + Pending Out",
                                       "Both" };

static void check(enum sub_event ev, const struct row rows[9], const char *what)
{
    for (int i = 0; i < 9; i++) {
        assert_string_equal(rows[i].from, states[i]);
        unsigned act = 0;
        struct sub_state next = sub_step(state_of(rows[i].from), ev, &act);
        if (strcmp(sub_state_name(next), rows[i].to) != 0 || (act & rows[i].must) != rows[i].must ||
            (act & rows[i].mustnt) != 0) {
            fail_msg("%s in %s: got %s (actions %#x), want %s", what, rows[i].from,
                     sub_state_name(next), act, rows[i].to);
        }
    }
}

/* A.2.1 */
static void test_outbound_subscribe(void **unused)
{
    (void)unused;
    static const struct row rows[9] = {
        { "None", "None + Pending Out", R, 0 },
        { "None + Pending Out", "None + Pending Out", R, 0 },
        { "None + Pending In", "None + Pending Out/In", R, 0 },
        { "None + Pending Out/In", "None + Pending Out/In", R, 0 },
        { "To", "To", R, SUB_PUSH },
        { "To + Pending In", "To + Pending In", R, SUB_PUSH },
        { "From", "From + Pending Out", R | SUB_PUSH, 0 },
        { "From + Pending Out", "From + Pending Out", R, SUB_PUSH },
        { "Both", "Both", R, SUB_PUSH },
    };
    check(SUB_OUT_SUBSCRIBE, rows, "outbound subscribe");
}

/* A.2.2 */
static void test_outbound_unsubscribe(void **unused)
{
    (void)unused;
    static const struct row rows[9] = {
        { "None", "None", R, SUB_PUSH },
        { "None + Pending Out", "None", R | SUB_PUSH, 0 },
        { "None + Pending In", "None + Pending In", R, SUB_PUSH },
        { "None + Pending Out/In", "None + Pending In", R | SUB_PUSH, 0 },
        { "To", "None", R | SUB_PUSH, 0 },
        { "To + Pending In", "None + Pending In", R | SUB_PUSH, 0 },
        { "From", "From", R, SUB_PUSH },
        { "From + Pending Out", "From", R | SUB_PUSH, 0 },
        { "Both", "From", R | SUB_PUSH, 0 },
    };
    check(SUB_OUT_UNSUBSCRIBE, rows, "outbound unsubscribe");
}

/* A.2.3 (with §3.4 pre-approval where there is no request to approve) */
static void test_outbound_subscribed(void **unused)
{
    (void)unused;
    static const struct row rows[9] = {
        { "None", "None", SUB_PUSH, R },
        { "None + Pending Out", "None + Pending Out", SUB_PUSH, R },
        { "None + Pending In", "From", R | SUB_PUSH | SUB_SEND_PRESENCE | SUB_DROP_PENDING, 0 },
        { "None + Pending Out/In", "From + Pending Out", R | SUB_PUSH | SUB_SEND_PRESENCE, 0 },
        { "To", "To", SUB_PUSH, R },
        { "To + Pending In", "Both", R | SUB_PUSH | SUB_SEND_PRESENCE, 0 },
        { "From", "From", 0, R | SUB_PUSH },
        { "From + Pending Out", "From + Pending Out", 0, R | SUB_PUSH },
        { "Both", "Both", 0, R | SUB_PUSH },
    };
    check(SUB_OUT_SUBSCRIBED, rows, "outbound subscribed");
}

/* A.2.4 */
static void test_outbound_unsubscribed(void **unused)
{
    (void)unused;
    static const struct row rows[9] = {
        { "None", "None", 0, SUB_PUSH },
        { "None + Pending Out", "None + Pending Out", 0, SUB_PUSH },
        { "None + Pending In", "None", R | SUB_DROP_PENDING, SUB_PUSH },
        { "None + Pending Out/In", "None + Pending Out", R | SUB_DROP_PENDING, 0 },
        { "To", "To", 0, SUB_PUSH },
        { "To + Pending In", "To", R | SUB_DROP_PENDING, SUB_PUSH },
        { "From", "None", R | SUB_PUSH | SUB_SEND_UNAVAILABLE, 0 },
        { "From + Pending Out", "None + Pending Out", R | SUB_PUSH | SUB_SEND_UNAVAILABLE, 0 },
        { "Both", "To", R | SUB_PUSH | SUB_SEND_UNAVAILABLE, 0 },
    };
    check(SUB_OUT_UNSUBSCRIBED, rows, "outbound unsubscribed");
}

/* A.3.1 */
static void test_inbound_subscribe(void **unused)
{
    (void)unused;
    static const struct row rows[9] = {
        { "None", "None + Pending In", D | SUB_STORE_PENDING, A | SUB_PUSH },
        { "None + Pending Out", "None + Pending Out/In", D | SUB_STORE_PENDING, A },
        { "None + Pending In", "None + Pending In", 0, D | A },
        { "None + Pending Out/In", "None + Pending Out/In", 0, D | A },
        { "To", "To + Pending In", D | SUB_STORE_PENDING, A },
        { "To + Pending In", "To + Pending In", 0, D | A },
        { "From", "From", A, D | SUB_PUSH },
        { "From + Pending Out", "From + Pending Out", A, D | SUB_PUSH },
        { "Both", "Both", A, D | SUB_PUSH },
    };
    check(SUB_IN_SUBSCRIBE, rows, "inbound subscribe");
}

/* A.3.2 */
static void test_inbound_unsubscribe(void **unused)
{
    (void)unused;
    static const struct row rows[9] = {
        { "None", "None", 0, D | SUB_PUSH },
        { "None + Pending Out", "None + Pending Out", 0, D | SUB_PUSH },
        { "None + Pending In", "None", D | SUB_DROP_PENDING, SUB_PUSH },
        { "None + Pending Out/In", "None + Pending Out", D | SUB_DROP_PENDING, SUB_PUSH },
        { "To", "To", 0, D | SUB_PUSH },
        { "To + Pending In", "To", D | SUB_DROP_PENDING, SUB_PUSH },
        { "From", "None", D | SUB_PUSH, 0 },
        { "From + Pending Out", "None + Pending Out", D | SUB_PUSH, 0 },
        { "Both", "To", D | SUB_PUSH, 0 },
    };
    check(SUB_IN_UNSUBSCRIBE, rows, "inbound unsubscribe");
}

/* A.3.3 */
static void test_inbound_subscribed(void **unused)
{
    (void)unused;
    static const struct row rows[9] = {
        { "None", "None", 0, D | SUB_PUSH },
        { "None + Pending Out", "To", D | SUB_PUSH, 0 },
        { "None + Pending In", "None + Pending In", 0, D | SUB_PUSH },
        { "None + Pending Out/In", "To + Pending In", D | SUB_PUSH, 0 },
        { "To", "To", 0, D | SUB_PUSH },
        { "To + Pending In", "To + Pending In", 0, D | SUB_PUSH },
        { "From", "From", 0, D | SUB_PUSH },
        { "From + Pending Out", "Both", D | SUB_PUSH, 0 },
        { "Both", "Both", 0, D | SUB_PUSH },
    };
    check(SUB_IN_SUBSCRIBED, rows, "inbound subscribed");
}

/* A.3.4 */
static void test_inbound_unsubscribed(void **unused)
{
    (void)unused;
    static const struct row rows[9] = {
        { "None", "None", 0, D | SUB_PUSH },
        { "None + Pending Out", "None", D | SUB_PUSH, 0 },
        { "None + Pending In", "None + Pending In", 0, D | SUB_PUSH },
        { "None + Pending Out/In", "None + Pending In", D | SUB_PUSH, 0 },
        { "To", "None", D | SUB_PUSH, 0 },
        { "To + Pending In", "None + Pending In", D | SUB_PUSH, 0 },
        { "From", "From", 0, D | SUB_PUSH },
        { "From + Pending Out", "From", D | SUB_PUSH, 0 },
        { "Both", "From", D | SUB_PUSH, 0 },
    };
    check(SUB_IN_UNSUBSCRIBED, rows, "inbound unsubscribed");
}

/* §3.4: a pre-approved contact's request is approved at once, and the approval can be
 * withdrawn without anything being routed. */
static void test_preapproval(void **unused)
{
    (void)unused;
    unsigned act;
    struct sub_state s = sub_step(state_of("None"), SUB_OUT_SUBSCRIBED, &act);
    assert_true(s.approved);
    assert_true(act & SUB_PUSH);
    struct sub_state in = sub_step(s, SUB_IN_SUBSCRIBE, &act);
    assert_string_equal(sub_state_name(in), "From");
    assert_false(in.approved);
    assert_true(act & SUB_AUTO_SUBSCRIBED);
    assert_true(act & SUB_SEND_PRESENCE);
    assert_false(act & SUB_DELIVER);
    struct sub_state cancel = sub_step(s, SUB_OUT_UNSUBSCRIBED, &act);
    assert_false(cancel.approved);
    assert_false(act & SUB_ROUTE);
    assert_true(act & SUB_PUSH);
}

static void test_names_and_events(void **unused)
{
    (void)unused;
    enum sub_event ev;
    assert_true(sub_event_of("subscribe", true, &ev));
    assert_int_equal(ev, SUB_OUT_SUBSCRIBE);
    assert_true(sub_event_of("unsubscribed", false, &ev));
    assert_int_equal(ev, SUB_IN_UNSUBSCRIBED);
    assert_false(sub_event_of("probe", false, &ev));
    assert_false(sub_event_of(NULL, false, &ev));
    assert_string_equal(sub_attr(SUB_TO | SUB_FROM), "both");
    assert_string_equal(sub_attr(SUB_FROM), "from");
    assert_string_equal(sub_attr(0), "none");
    for (int i = 0; i < 9; i++) {
        assert_string_equal(sub_state_name(state_of(states[i])), states[i]);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_outbound_subscribe),  cmocka_unit_test(test_outbound_unsubscribe),
        cmocka_unit_test(test_outbound_subscribed), cmocka_unit_test(test_outbound_unsubscribed),
        cmocka_unit_test(test_inbound_subscribe),   cmocka_unit_test(test_inbound_unsubscribe),
        cmocka_unit_test(test_inbound_subscribed),  cmocka_unit_test(test_inbound_unsubscribed),
        cmocka_unit_test(test_preapproval),         cmocka_unit_test(test_names_and_events),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
