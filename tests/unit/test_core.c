/* test_core.c: unit tests of core's small helpers (UTF-8 decoding, XEP-0082 stamps, err_set,
 * the intrusive list). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "core/buf.h"
#include "core/err.h"
#include "core/list.h"
#include "core/stamp.h"
#include "core/utf8.h"

static size_t decode(const char *s, size_t len, unsigned *cp)
{
    return utf8_decode((const unsigned char *)s, len, cp);
}

static void test_utf8_decode(void **state)
{
    (void)state;
    unsigned cp = 0;
    assert_int_equal(decode("A", 1, &cp), 1);
    assert_int_equal(cp, 'A');
    assert_int_equal(decode("\xC3\xA9", 2, &cp), 2); /* é */
    assert_int_equal(cp, 0xE9);
    assert_int_equal(decode("\xE2\x82\xAC", 3, &cp), 3); /* € */
    assert_int_equal(cp, 0x20AC);
    assert_int_equal(decode("\xF0\x9F\x98\x80", 4, &cp), 4); /* U+1F600 */
    assert_int_equal(cp, 0x1F600);
    assert_int_equal(decode("\xF4\x8F\xBF\xBF", 4, &cp), 4); /* U+10FFFF */
    assert_int_equal(cp, 0x10FFFF);
    assert_int_equal(decode("\xEF\xBF\xBF", 3, NULL), 3); /* U+FFFF is a scalar value */
}

static void test_utf8_decode_rejects(void **state)
{
    (void)state;
    assert_int_equal(decode("\xC0\x80", 2, NULL), 0);         /* overlong NUL */
    assert_int_equal(decode("\xC1\xBF", 2, NULL), 0);         /* overlong */
    assert_int_equal(decode("\xE0\x9F\xBF", 3, NULL), 0);     /* overlong 3-byte */
    assert_int_equal(decode("\xF0\x8F\xBF\xBF", 4, NULL), 0); /* overlong 4-byte */
    assert_int_equal(decode("\xED\xA0\x80", 3, NULL), 0);     /* surrogate D800 */
    assert_int_equal(decode("\xF4\x90\x80\x80", 4, NULL), 0); /* past U+10FFFF */
    assert_int_equal(decode("\xF5\x80\x80\x80", 4, NULL), 0);
    assert_int_equal(decode("\x80", 1, NULL), 0); /* lone continuation */
    assert_int_equal(decode("\xC3", 1, NULL), 0); /* cut short */
    assert_int_equal(decode("\xE2\x82", 2, NULL), 0);
    assert_int_equal(decode("\xC3\x28", 2, NULL), 0); /* bad continuation */
}

static void test_utf8_valid(void **state)
{
    (void)state;
    assert_true(utf8_valid(STRV("")));
    assert_true(utf8_valid(STRV("juliet@example.com")));
    assert_true(utf8_valid(STRV("caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80")));
    assert_false(utf8_valid((struct strv){ "a\0b", 3 })); /* NUL */
    assert_false(utf8_valid(STRV("caf\xC3")));
    assert_false(utf8_valid(STRV("\xED\xBF\xBF")));
    assert_false(utf8_valid(STRV("\xFF")));
}

static void test_strv_trim(void **state)
{
    (void)state;
    assert_true(strv_eq_c(strv_trim(strv_c(" \t a b\t ")), "a b"));
    assert_true(strv_eq_c(strv_trim(strv_c("ab")), "ab"));
    assert_int_equal(strv_trim(strv_c(" \t ")).len, 0);
    assert_int_equal(strv_trim(STRV_NULL).len, 0);
}

static void test_stamp(void **state)
{
    (void)state;
    char out[STAMP_MAX];
    assert_string_equal(stamp_format(1710074348, out, sizeof(out)), "2024-03-10T12:39:08Z");
    assert_string_equal(stamp_format(0, out, sizeof(out)), "1970-01-01T00:00:00Z");
    char small[8] = "x";
    stamp_format(0, small, sizeof(small));
    assert_string_equal(small, ""); /* too small: empty, never a cut stamp */
}

static void test_err_set(void **state)
{
    (void)state;
    char err[16] = "";
    err_set(err, sizeof(err), "%s %d", "bad", 42);
    assert_string_equal(err, "bad 42");
    err_set(err, sizeof(err), "%s", "a message longer than the buffer");
    assert_int_equal(strlen(err), sizeof(err) - 1);
    err_set(NULL, 0, "%s", "ignored");
    err_set(err, 0, "%s", "ignored");
    assert_int_equal(strlen(err), sizeof(err) - 1);
}

struct item {
    int v;
    struct item *prev, *next;
};

static void expect_list(const struct item *head, const int *want, size_t n)
{
    size_t i = 0;
    const struct item *prev = NULL;
    for (const struct item *it = head; it != NULL; it = it->next, i++) {
        assert_true(i < n);
        assert_int_equal(it->v, want[i]);
        assert_ptr_equal(it->prev, prev);
        prev = it;
    }
    assert_int_equal(i, n);
}

static void test_list(void **state)
{
    (void)state;
    struct item a = { .v = 1 }, b = { .v = 2 }, c = { .v = 3 };
    struct item *head = NULL;
    LIST_PUSH(head, &a);
    LIST_PUSH(head, &b);
    LIST_PUSH(head, &c);
    expect_list(head, (const int[]){ 3, 2, 1 }, 3);
    LIST_UNLINK(head, &b); /* middle */
    expect_list(head, (const int[]){ 3, 1 }, 2);
    assert_null(b.prev);
    assert_null(b.next);
    LIST_UNLINK(head, &c); /* first */
    expect_list(head, (const int[]){ 1 }, 1);
    LIST_UNLINK(head, &a); /* last and only */
    assert_null(head);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_utf8_decode), cmocka_unit_test(test_utf8_decode_rejects),
        cmocka_unit_test(test_utf8_valid),  cmocka_unit_test(test_stamp),
        cmocka_unit_test(test_strv_trim),   cmocka_unit_test(test_err_set),
        cmocka_unit_test(test_list),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
