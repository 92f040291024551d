/* test_jid.c: JID parsing, preparation and comparison. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "core/err.h"
#include "jid/jid.h"

#include <stdio.h>
#include <stdlib.h>
#include <stringprep.h>

/* Parses `in` and checks that its full form is `want`. */
static void expect_full(const char *in, const char *want)
{
    struct jid j;
    struct buf b;
    buf_init(&b, 8192);
    int rc = jid_parse(&j, strv_c(in));
    if (rc != 0) {
        fail_msg("jid_parse(\"%s\") failed: %d", in, rc);
    }
    assert_int_equal(jid_full(&j, &b), 0);
    assert_string_equal(buf_cstr(&b), want);
    jid_cleanup(&j);
    buf_cleanup(&b);
}

static void expect_invalid(const char *in)
{
    struct jid j;
    int rc = jid_parse(&j, strv_c(in));
    if (rc != ERR_INVAL) {
        fail_msg("jid_parse(\"%s\") gave %d, expected ERR_INVAL", in, rc);
    }
    assert_null(j.local);
    assert_null(j.domain);
    assert_null(j.resource);
}

static void test_parts(void **state)
{
    (void)state;
    struct jid j;
    assert_int_equal(jid_parse(&j, STRV("juliet@example.com/balcony")), 0);
    assert_string_equal(j.local, "juliet");
    assert_string_equal(j.domain, "example.com");
    assert_string_equal(j.resource, "balcony");
    jid_cleanup(&j);
    assert_null(j.domain);

    assert_int_equal(jid_parse(&j, STRV("example.com")), 0);
    assert_null(j.local);
    assert_string_equal(j.domain, "example.com");
    assert_null(j.resource);
    jid_cleanup(&j);

    assert_int_equal(jid_parse(&j, STRV("example.com/foo")), 0);
    assert_null(j.local);
    assert_string_equal(j.resource, "foo");
    jid_cleanup(&j);

    /* The resource is everything after the first slash, '@' and '/' included. */
    assert_int_equal(jid_parse(&j, STRV("juliet@example.com/foo@bar/baz")), 0);
    assert_string_equal(j.local, "juliet");
    assert_string_equal(j.domain, "example.com");
    assert_string_equal(j.resource, "foo@bar/baz");
    jid_cleanup(&j);

    assert_int_equal(jid_parse(&j, STRV("example.com/user@host")), 0);
    assert_null(j.local);
    assert_string_equal(j.domain, "example.com");
    assert_string_equal(j.resource, "user@host");
    jid_cleanup(&j);

    /* A view need not be NUL-terminated. */
    const char *s = "a@b.cXYZ";
    assert_int_equal(jid_parse(&j, (struct strv){ s, 5 }), 0);
    assert_string_equal(j.local, "a");
    assert_string_equal(j.domain, "b.c");
    jid_cleanup(&j);
}

static void test_valid(void **state)
{
    (void)state;
    expect_full("localhost", "localhost");
    expect_full("a@b", "a@b");
    expect_full("user@127.0.0.1", "user@127.0.0.1");
    expect_full("user@[::1]/r", "user@[::1]/r");
    expect_full("user@[2001:DB8:0:0:0:0:0:1]", "user@[2001:db8::1]");
    expect_full("user@example.com.", "user@example.com");
    expect_full("example.com./r", "example.com/r");
    expect_full("_xmpp.under_score.test", "_xmpp.under_score.test");
    expect_full("a-b@x-y.example", "a-b@x-y.example");
    expect_full("juliet@example.com/ ", "juliet@example.com/ ");
}

static void test_case(void **state)
{
    (void)state;
    expect_full("User@Example.COM", "user@example.com");
    expect_full("User@Example.COM/Res Ource", "user@example.com/Res Ource");
    /* Unicode case folding and NFKC. */
    expect_full("\xC3\x91"
                "and\xC3\xBA@\xC3\x89XAMPLE.com",
                "\xC3\xB1"
                "and\xC3\xBA@\xC3\xA9xample.com");
    /* Fullwidth "ＡＢ" becomes "ab" in the node, but stays (NFKC only) in the resource. */
    expect_full("\xEF\xBC\xA1\xEF\xBC\xA2@x/\xEF\xBC\xA1", "ab@x/A");
    /* U+00AD SOFT HYPHEN is mapped to nothing. */
    expect_full("a\xC2\xAD"
                "b@x",
                "ab@x");
    /* Emoji (unassigned in Unicode 3.2) are accepted in the resource. */
    expect_full("a@x/\xF0\x9F\x98\x80", "a@x/\xF0\x9F\x98\x80");

    struct jid a, b;
    assert_int_equal(jid_parse(&a, STRV("Romeo@Montague.LIT/Orchard")), 0);
    assert_int_equal(jid_parse(&b, STRV("romeo@montague.lit/orchard")), 0);
    assert_true(jid_bare_eq(&a, &b));
    assert_false(jid_eq(&a, &b));
    jid_cleanup(&b);
    assert_int_equal(jid_parse(&b, STRV("ROMEO@montague.lit/Orchard")), 0);
    assert_true(jid_eq(&a, &b));
    jid_cleanup(&b);
    assert_int_equal(jid_parse(&b, STRV("montague.lit/Orchard")), 0);
    assert_false(jid_bare_eq(&a, &b));
    assert_false(jid_eq(&a, &b));
    jid_cleanup(&b);
    jid_cleanup(&a);
}

static void test_invalid(void **state)
{
    (void)state;
    expect_invalid("");
    expect_invalid("@d");
    expect_invalid("u@");
    expect_invalid("d/");
    expect_invalid("u@d/");
    expect_invalid("/r");
    expect_invalid("u@/r");
    expect_invalid("@");
    expect_invalid("a@b@c");
    expect_invalid(".");
    expect_invalid("a..b");
    expect_invalid(".a");
    expect_invalid("a b.com");
    expect_invalid("a<b.com");
    expect_invalid("u@[::1");
    expect_invalid("u@[not-ip]");
    expect_invalid("u@[]");
    /* Characters prohibited in the localpart. */
    const char *bad_node[] = { "a\"b@x",
                               "a&b@x",
                               "a'b@x",
                               "a:b@x",
                               "a<b@x",
                               "a>b@x",
                               "a b@x",
                               "a\tb@x",
                               "a\x7f"
                               "b@x",
                               NULL };
    for (int i = 0; bad_node[i] != NULL; i++) {
        expect_invalid(bad_node[i]);
    }
    /* Invalid UTF-8: stray continuation, overlong '/', surrogate, truncated sequence. */
    expect_invalid("a\x80@x");
    expect_invalid("a\xC0\xAF@x");
    expect_invalid("a\xED\xA0\x80@x");
    expect_invalid("a@x/\xE2\x82");
    /* An embedded NUL. */
    struct jid j;
    assert_int_equal(jid_parse(&j, (struct strv){ "a\0b@x", 5 }), ERR_INVAL);
    /* Bidi: mixing right-to-left and left-to-right characters in the node. */
    expect_invalid("\xD7\x90"
                   "a@x");
}

static void test_lengths(void **state)
{
    (void)state;
    char text[4200];
    struct jid j;

    /* A localpart of exactly 1023 bytes is valid, 1024 is not. */
    memset(text, 'a', 1023);
    memcpy(text + 1023, "@x", 3);
    assert_int_equal(jid_parse(&j, strv_c(text)), 0);
    assert_int_equal(strlen(j.local), 1023);
    jid_cleanup(&j);
    memset(text, 'a', 1024);
    memcpy(text + 1024, "@x", 3);
    assert_int_equal(jid_parse(&j, strv_c(text)), ERR_INVAL);

    /* Resource: 1023 ok, 1024 not; also 4100 bytes (larger than the prep buffer). */
    memcpy(text, "x/", 2);
    memset(text + 2, 'R', 1023);
    text[1025] = '\0';
    assert_int_equal(jid_parse(&j, strv_c(text)), 0);
    jid_cleanup(&j);
    memset(text + 2, 'R', 1024);
    text[1026] = '\0';
    assert_int_equal(jid_parse(&j, strv_c(text)), ERR_INVAL);
    memset(text + 2, 'R', 4100);
    text[4102] = '\0';
    assert_int_equal(jid_parse(&j, strv_c(text)), ERR_INVAL);

    /* A domain label longer than 63 bytes. */
    memset(text, 'd', 64);
    memcpy(text + 64, ".com", 5);
    assert_int_equal(jid_parse(&j, strv_c(text)), ERR_INVAL);
    memset(text, 'd', 63);
    memcpy(text + 63, ".com", 5);
    assert_int_equal(jid_parse(&j, strv_c(text)), 0);
    jid_cleanup(&j);

    /* A 1023-byte localpart made of 3-byte characters that NFKC keeps as they are:
     * 341 x U+4E00 = 1023 bytes ok, 342 = 1026 bytes too long. */
    size_t n = 0;
    for (int i = 0; i < 342; i++) {
        memcpy(text + n, "\xE4\xB8\x80", 3);
        n += 3;
    }
    memcpy(text + n, "@x", 3);
    assert_int_equal(jid_parse(&j, strv_c(text)), ERR_INVAL);
    memmove(text + 1023, text + 1026, 3);
    assert_int_equal(jid_parse(&j, strv_c(text)), 0);
    jid_cleanup(&j);
}

static void test_prep_functions(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b, 4096);
    assert_int_equal(jid_nodeprep(STRV("Alice"), &b), 0);
    assert_string_equal(buf_cstr(&b), "alice");
    /* The output is replaced, not appended to. */
    assert_int_equal(jid_nodeprep(STRV("BOB"), &b), 0);
    assert_string_equal(buf_cstr(&b), "bob");
    assert_int_equal(jid_nodeprep(STRV("a@b"), &b), ERR_INVAL);
    assert_int_equal(jid_nodeprep(STRV("a/b"), &b), ERR_INVAL);
    assert_int_equal(jid_nodeprep(STRV(""), &b), ERR_INVAL);

    assert_int_equal(jid_nameprep(STRV("LocalHost."), &b), 0);
    assert_string_equal(buf_cstr(&b), "localhost");
    assert_int_equal(jid_nameprep(STRV("[::FFFF:127.0.0.1]"), &b), 0);
    assert_string_equal(buf_cstr(&b), "[::ffff:127.0.0.1]");
    assert_int_equal(jid_nameprep(STRV("B\xC3\xBC"
                                       "cher.DE"),
                                  &b),
                     0);
    assert_string_equal(buf_cstr(&b), "b\xC3\xBC"
                                      "cher.de");
    assert_int_equal(jid_nameprep(STRV("bad host"), &b), ERR_INVAL);
    assert_int_equal(jid_nameprep(STRV("a@b"), &b), ERR_INVAL);

    assert_int_equal(jid_resourceprep(STRV("Home Office"), &b), 0);
    assert_string_equal(buf_cstr(&b), "Home Office");
    assert_int_equal(jid_resourceprep(STRV(""), &b), ERR_INVAL);

    /* ERR_LIMIT past the buffer's maximum. */
    struct buf small;
    buf_init(&small, 3);
    assert_int_equal(jid_nodeprep(STRV("abcd"), &small), ERR_LIMIT);
    assert_int_equal(jid_nodeprep(STRV("abc"), &small), 0);
    assert_string_equal(buf_cstr(&small), "abc");
    buf_cleanup(&small);
    buf_cleanup(&b);
}

static void test_copy_bare(void **state)
{
    (void)state;
    struct jid a, c;
    struct buf b;
    buf_init(&b, 4096);
    assert_int_equal(jid_parse(&a, STRV("u@d/r")), 0);
    assert_int_equal(jid_copy(&c, &a), 0);
    assert_true(jid_eq(&a, &c));
    assert_ptr_not_equal(a.local, c.local);
    jid_cleanup(&a);
    assert_int_equal(jid_bare(&c, &b), 0);
    assert_string_equal(buf_cstr(&b), "u@d");
    assert_int_equal(jid_full(&c, &b), 0);
    assert_string_equal(buf_cstr(&b), "u@d/r");
    jid_cleanup(&c);

    assert_int_equal(jid_parse(&a, STRV("d/r")), 0);
    assert_int_equal(jid_copy(&c, &a), 0);
    assert_null(c.local);
    assert_int_equal(jid_bare(&c, &b), 0);
    assert_string_equal(buf_cstr(&b), "d");
    jid_cleanup(&a);
    jid_cleanup(&c);
    jid_cleanup(&c);
    buf_cleanup(&b);
}

/* The ASCII fast path of jid.c must prepare exactly as libidn does: every printable character
 * alone and many random strings, for the three profiles. */
static void check_profile(const char *in, const Stringprep_profile *profile,
                          int (*fn)(struct strv, struct buf *))
{
    char ref[1024];
    snprintf(ref, sizeof(ref), "%s", in);
    bool ref_ok = stringprep(ref, sizeof(ref), 0, profile) == STRINGPREP_OK && ref[0] != '\0';
    struct buf out;
    buf_init(&out, 4096);
    int rc = fn(strv_c(in), &out);
    if (ref_ok != (rc == 0) || (ref_ok && strcmp(ref, buf_cstr(&out)) != 0)) {
        fail_msg("\"%s\": libidn %s \"%s\", jid.c %s \"%s\"", in, ref_ok ? "ok" : "refuses",
                 ref_ok ? ref : "", rc == 0 ? "ok" : "refuses", buf_cstr(&out));
    }
    buf_cleanup(&out);
}

static void check_all_profiles(const char *s)
{
    check_profile(s, stringprep_xmpp_nodeprep, jid_nodeprep);
    check_profile(s, stringprep_xmpp_resourceprep, jid_resourceprep);
}

static void test_ascii_matches_libidn(void **state)
{
    (void)state;
    char s[64];
    for (int c = 0x20; c <= 0x7e; c++) {
        snprintf(s, sizeof(s), "a%cB", c);
        check_all_profiles(s);
    }
    srand(7);
    for (int n = 0; n < 20000; n++) {
        int len = 1 + rand() % 24;
        for (int i = 0; i < len; i++) {
            s[i] = (char)(0x20 + rand() % 95);
        }
        s[len] = '\0';
        check_all_profiles(s);
    }
}

static void test_bare_text(void **state)
{
    (void)state;
    struct jid a;
    assert_int_equal(jid_parse(&a, STRV("User@Example.COM/res")), 0);
    assert_true(jid_bare_is(&a, "user@example.com"));
    assert_false(jid_bare_is(&a, "user@example.co"));
    assert_false(jid_bare_is(&a, "user@example.comm"));
    assert_false(jid_bare_is(&a, "use@example.com"));
    assert_false(jid_bare_is(&a, "user"));
    assert_false(jid_bare_is(&a, "user@example.com/res"));
    /* The hash from the parts is the hash of the printed bare JID. */
    assert_true(jid_bare_hash(&a) == jid_text_hash("user@example.com"));
    assert_true(jid_text_hash("user@example.com") != jid_text_hash("user@example.org"));
    jid_cleanup(&a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parts),     cmocka_unit_test(test_valid),
        cmocka_unit_test(test_case),      cmocka_unit_test(test_invalid),
        cmocka_unit_test(test_lengths),   cmocka_unit_test(test_prep_functions),
        cmocka_unit_test(test_copy_bare), cmocka_unit_test(test_ascii_matches_libidn),
        cmocka_unit_test(test_bare_text),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
