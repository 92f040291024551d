/* fuzz_jid.c: libFuzzer target for JID parsing, preparation and the textual round trip. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "core/buf.h"
#include "core/err.h"
#include "fuzz_check.h"
#include "jid/jid.h"

#define TEXT_MAX (4 * (JID_PART_MAX + 1))

static bool part_ok(const char *part)
{
    size_t n = strlen(part);
    return n >= 1 && n <= JID_PART_MAX;
}

static void check_prepared(const struct jid *j)
{
    FUZZ_CHECK(j->domain != NULL && part_ok(j->domain));
    FUZZ_CHECK(j->local == NULL || part_ok(j->local));
    FUZZ_CHECK(j->resource == NULL || part_ok(j->resource));
    /* The separators cannot survive preparation of the parts that would make them ambiguous. */
    FUZZ_CHECK(strchr(j->domain, '@') == NULL && strchr(j->domain, '/') == NULL);
    FUZZ_CHECK(j->local == NULL ||
               (strchr(j->local, '@') == NULL && strchr(j->local, '/') == NULL));
}

static void print_jid(const char *what, const struct jid *j)
{
    fprintf(stderr, "%s: local=%s domain=%s resource=%s\n", what, j->local ? j->local : "(none)",
            j->domain ? j->domain : "(none)", j->resource ? j->resource : "(none)");
}

/* Parses `text` again and checks it gives `want` (compared with `full` true: jid_eq). */
static void check_reparse(const struct jid *want, struct strv text, bool full)
{
    struct jid again;
    int rc = jid_parse(&again, text);
    if (rc != 0 || (full ? !jid_eq(want, &again) : !jid_bare_eq(want, &again))) {
        fprintf(stderr, "round trip of \"%.*s\" failed (rc %d)\n", (int)text.len, text.p, rc);
        print_jid("first", want);
        print_jid("again", &again);
    }
    FUZZ_CHECK(rc == 0);
    FUZZ_CHECK(full ? jid_eq(want, &again) : jid_bare_eq(want, &again));
    FUZZ_CHECK(full || again.resource == NULL);
    jid_cleanup(&again);
}

/* Preparing an already prepared part changes nothing. */
static void check_part_stable(int (*prep)(struct strv, struct buf *), const char *part)
{
    struct buf out;
    buf_init(&out, TEXT_MAX);
    int rc = prep(strv_c(part), &out);
    if (rc != 0 || strcmp(buf_cstr(&out), part) != 0) {
        fprintf(stderr, "preparation of \"%s\" not stable: rc %d, \"%s\"\n", part, rc,
                buf_cstr(&out));
    }
    FUZZ_CHECK(rc == 0 && strcmp(buf_cstr(&out), part) == 0);
    buf_cleanup(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct strv text = { (const char *)data, size };
    struct jid j;
    struct buf out;

    /* The single-part preparations on the whole input: no crash, bounded output. */
    buf_init(&out, TEXT_MAX);
    int (*const preps[])(struct strv, struct buf *) = { jid_nodeprep, jid_nameprep,
                                                        jid_resourceprep };
    for (size_t i = 0; i < sizeof(preps) / sizeof(preps[0]); i++) {
        int rc = preps[i](text, &out);
        FUZZ_CHECK(rc == 0 || rc == ERR_INVAL);
        FUZZ_CHECK(rc != 0 || (out.len >= 1 && out.len <= JID_PART_MAX));
        FUZZ_CHECK(rc != 0 || strlen(buf_cstr(&out)) == out.len);
    }

    if (jid_parse(&j, text) != 0) {
        FUZZ_CHECK(j.local == NULL && j.domain == NULL && j.resource == NULL);
        buf_cleanup(&out);
        return 0;
    }
    check_prepared(&j);

    FUZZ_CHECK(jid_full(&j, &out) == 0);
    check_reparse(&j, buf_strv(&out), true);
    FUZZ_CHECK(jid_bare(&j, &out) == 0);
    check_reparse(&j, buf_strv(&out), false);

    check_part_stable(jid_nameprep, j.domain);
    if (j.local != NULL) {
        check_part_stable(jid_nodeprep, j.local);
    }
    if (j.resource != NULL) {
        check_part_stable(jid_resourceprep, j.resource);
    }

    struct jid copy;
    FUZZ_CHECK(jid_copy(&copy, &j) == 0);
    FUZZ_CHECK(jid_eq(&copy, &j) && jid_bare_eq(&copy, &j));
    jid_cleanup(&copy);

    /* A buffer too small for the text reports the limit. */
    struct buf small;
    buf_init(&small, 3);
    int rc = jid_full(&j, &small);
    FUZZ_CHECK(rc == 0 || rc == ERR_LIMIT);
    buf_cleanup(&small);

    jid_cleanup(&j);
    FUZZ_CHECK(j.local == NULL && j.domain == NULL && j.resource == NULL);
    buf_cleanup(&out);
    return 0;
}
