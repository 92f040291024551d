/* test_sm.c: XEP-0198 counter arithmetic (xmpp/sm.h): acknowledgements across the 2^32
 * wrap-around, acknowledgements beyond what was sent, and the parsing of 'h'. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "xmpp/sm.h"

static void test_plain_acks(void **state)
{
    (void)state;
    uint32_t n = 99;
    assert_true(sm_h_covers(0, 0, 0, &n));
    assert_int_equal(n, 0);
    assert_true(sm_h_covers(10, 5, 12, &n));
    assert_int_equal(n, 2);
    assert_true(sm_h_covers(10, 5, 15, &n));
    assert_int_equal(n, 5);
    assert_false(sm_h_covers(10, 5, 16, &n)); /* more than was sent */
    assert_false(sm_h_covers(10, 5, 9, &n));  /* going back is more than 2^32 - 6 ahead */
}

static void test_wrap_around(void **state)
{
    (void)state;
    uint32_t n = 0;
    /* Acked up to 2^32 - 3, five sent since: the valid values are 2^32 - 3 .. 1. */
    uint32_t acked = UINT32_MAX - 2;
    assert_true(sm_h_covers(acked, 5, UINT32_MAX, &n));
    assert_int_equal(n, 2);
    assert_true(sm_h_covers(acked, 5, 0, &n));
    assert_int_equal(n, 3);
    assert_true(sm_h_covers(acked, 5, 2, &n));
    assert_int_equal(n, 5);
    assert_false(sm_h_covers(acked, 5, 3, &n));
    assert_false(sm_h_covers(acked, 5, UINT32_MAX - 3, &n));
    /* The whole range in flight. */
    assert_true(sm_h_covers(1, UINT32_MAX, 0, &n));
    assert_int_equal(n, UINT32_MAX);
}

static void test_parse(void **state)
{
    (void)state;
    uint32_t h = 7;
    assert_true(sm_h_parse("0", &h));
    assert_int_equal(h, 0);
    assert_true(sm_h_parse("4294967295", &h));
    assert_int_equal(h, UINT32_MAX);
    assert_false(sm_h_parse("4294967296", &h));
    assert_false(sm_h_parse("12345678901", &h));
    assert_false(sm_h_parse("", &h));
    assert_false(sm_h_parse(NULL, &h));
    assert_false(sm_h_parse("-1", &h));
    assert_false(sm_h_parse("1a", &h));
    assert_false(sm_h_parse(" 1", &h));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plain_acks),
        cmocka_unit_test(test_wrap_around),
        cmocka_unit_test(test_parse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
