/* fuzz_creds.c: libFuzzer target for the stored-credentials text form (decode, encode, decode). */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "auth/creds.h"
#include "core/buf.h"
#include "core/err.h"
#include "fuzz_check.h"

#define TEXT_MAX (64 * 1024)

static bool keys_eq(const struct scram_keys *a, const struct scram_keys *b)
{
    if (a->set != b->set) {
        return false;
    }
    if (!a->set) {
        return true;
    }
    return a->iterations == b->iterations && a->salt_len == b->salt_len &&
           a->key_len == b->key_len && memcmp(a->salt, b->salt, a->salt_len) == 0 &&
           memcmp(a->stored_key, b->stored_key, a->key_len) == 0 &&
           memcmp(a->server_key, b->server_key, a->key_len) == 0;
}

static bool creds_eq(const struct auth_creds *a, const struct auth_creds *b)
{
    if ((a->clear == NULL) != (b->clear == NULL)) {
        return false;
    }
    if (a->clear != NULL && strcmp(a->clear, b->clear) != 0) {
        return false;
    }
    for (int h = 0; h < SCRAM_HASH_COUNT; h++) {
        if (!keys_eq(&a->scram[h], &b->scram[h])) {
            return false;
        }
    }
    return a->secure_required == b->secure_required && a->disabled == b->disabled;
}

static bool is_empty(const struct auth_creds *c)
{
    static const struct auth_creds zero;
    return c->clear == NULL && memcmp(c->scram, zero.scram, sizeof(zero.scram)) == 0 &&
           !c->secure_required && !c->disabled;
}

/* What decode accepted is within the documented limits. */
static void check_decoded(const struct auth_creds *c)
{
    static const size_t key_len[SCRAM_HASH_COUNT] = { 20, 32, 64 };
    FUZZ_CHECK(!c->secure_required && !c->disabled);
    FUZZ_CHECK(c->clear == NULL || strlen(c->clear) <= AUTH_PASSWORD_MAX);
    for (int h = 0; h < SCRAM_HASH_COUNT; h++) {
        const struct scram_keys *k = &c->scram[h];
        if (!k->set) {
            continue;
        }
        FUZZ_CHECK(k->iterations >= 1 && k->iterations <= AUTH_SCRAM_MAX_ITERATIONS);
        FUZZ_CHECK(k->salt_len >= 1 && k->salt_len <= sizeof(k->salt));
        FUZZ_CHECK(k->key_len == key_len[h]);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct auth_creds first;
    struct auth_creds second;
    struct buf text;
    struct buf again;

    int rc = auth_creds_decode((struct strv){ (const char *)data, size }, &first);
    FUZZ_CHECK(rc == 0 || rc == ERR_INVAL);
    if (rc != 0) {
        FUZZ_CHECK(is_empty(&first));
        return 0;
    }
    check_decoded(&first);

    buf_init(&text, TEXT_MAX);
    buf_init(&again, TEXT_MAX);
    FUZZ_CHECK(auth_creds_encode(&first, &text) == 0);
    FUZZ_CHECK(strlen(buf_cstr(&text)) == text.len);
    rc = auth_creds_decode(buf_strv(&text), &second);
    if (rc != 0 || !creds_eq(&first, &second)) {
        fprintf(stderr, "re-decoding \"%s\" gave %d or different credentials\n", buf_cstr(&text),
                rc);
    }
    FUZZ_CHECK(rc == 0);
    FUZZ_CHECK(creds_eq(&first, &second));
    FUZZ_CHECK(auth_creds_encode(&second, &again) == 0);
    FUZZ_CHECK(strcmp(buf_cstr(&again), buf_cstr(&text)) == 0);

    /* A buffer too small for the text: ERR_LIMIT and nothing written. */
    if (text.len > 0) {
        struct buf small;
        buf_init(&small, text.len - 1);
        FUZZ_CHECK(auth_creds_encode(&first, &small) == ERR_LIMIT && small.len == 0);
        buf_cleanup(&small);
    }

    /* Dropping the clear password keeps the keys. */
    auth_creds_strip_clear(&second);
    FUZZ_CHECK(second.clear == NULL);
    for (int h = 0; h < SCRAM_HASH_COUNT; h++) {
        FUZZ_CHECK(keys_eq(&first.scram[h], &second.scram[h]));
    }

    auth_creds_cleanup(&first);
    auth_creds_cleanup(&second);
    FUZZ_CHECK(is_empty(&first) && is_empty(&second));
    buf_cleanup(&text);
    buf_cleanup(&again);
    return 0;
}
