/* fuzz_sasl.c: libFuzzer target for every SASL mechanism's server side and strict base64. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "auth/creds.h"
#include "auth/internal.h"
#include "auth/sasl.h"
#include "core/buf.h"
#include "core/err.h"
#include "fuzz_check.h"

/* Input layout: one flags byte, then up to three client messages separated by MSG_SEP (the last
 * one takes the rest, separators included). Every mechanism sasl_mechs_offered() lists under the
 * link the flags describe is run over the same messages. */
enum {
    F_TLS = 1 << 0,             /* the link is encrypted */
    F_CB = 1 << 1,              /* channel-binding data is known (with F_TLS: -PLUS offered) */
    F_SECURE_REQUIRED = 1 << 2, /* the account refuses clear-text mechanisms without TLS */
    F_DISABLED = 1 << 3,        /* the account is disabled */
    F_CLEAR_ONLY = 1 << 4,      /* the store keeps the clear password only */
    F_SCRAM_ONLY = 1 << 5,      /* the store keeps the SCRAM keys only */
    F_NO_INITIAL = 1 << 6,      /* the client sends no initial response: an extra first step */
    F_STORE_DOWN = 1 << 7,      /* every lookup fails temporarily */
};
#define MSG_SEP 0x1e
#define MAX_MSGS 3

/* The fixed account: "user" with password "pencil". SCRAM keys use a fixed salt and few PBKDF2
 * rounds, and the server nonce is fixed, so seeds can hold complete successful exchanges. */
#define FUZZ_DOMAIN "example.com"
#define FUZZ_USER "user"
#define FUZZ_PASSWORD "pencil"
#define FUZZ_SALT "starling-fuzz-16"
#define FUZZ_ITERATIONS 64
#define FUZZ_SERVER_NONCE "fuzzserverNONCE"

static struct auth_creds base_creds;
static bool trace; /* FUZZ_SASL_TRACE set: each step's result on stderr */
static unsigned char cb_bytes[SASL_CB_COUNT][32];

static int get_cb(void *ud, enum sasl_cb_type t, struct sasl_cb_data *out)
{
    (void)ud;
    *out = (struct sasl_cb_data){ cb_bytes[t], sizeof(cb_bytes[t]) };
    return 0;
}

struct lookup {
    uint8_t flags;
    unsigned calls;
};

static int get_creds(void *ud, const char *username, struct auth_creds *out)
{
    struct lookup *lk = ud;
    lk->calls++;
    FUZZ_CHECK(username != NULL);
    if (lk->flags & F_STORE_DOWN) {
        return ERR_STORE;
    }
    if (strcasecmp(username, FUZZ_USER) != 0) {
        return ERR_NOTFOUND;
    }
    *out = base_creds;
    out->clear = NULL;
    if (base_creds.clear != NULL && !(lk->flags & F_SCRAM_ONLY)) {
        out->clear = xstrdup(base_creds.clear);
    }
    if (lk->flags & F_CLEAR_ONLY) {
        memset(out->scram, 0, sizeof(out->scram));
    }
    out->secure_required = (lk->flags & F_SECURE_REQUIRED) != 0;
    out->disabled = (lk->flags & F_DISABLED) != 0;
    return 0;
}

static bool known_failure(const char *cond)
{
    static const char *const conds[] = { "not-authorized",   "malformed-request",
                                         "invalid-authzid",  "encryption-required",
                                         "account-disabled", "temporary-auth-failure" };
    for (size_t i = 0; i < sizeof(conds) / sizeof(conds[0]); i++) {
        if (strcmp(cond, conds[i]) == 0) {
            return true;
        }
    }
    return false;
}

/* What the session may conclude, whatever the client sent. */
static void check_done(const struct sasl_mech *m, const struct sasl_params *p,
                       const struct lookup *lk, struct sasl_session *s)
{
    const char *user = sasl_session_username(s);
    FUZZ_CHECK(user != NULL);
    FUZZ_CHECK(sasl_session_failure(s) == NULL);
    /* Only the one account exists, and only a lookup can have found it. */
    FUZZ_CHECK(strcasecmp(user, FUZZ_USER) == 0);
    FUZZ_CHECK(lk->calls > 0);
    FUZZ_CHECK(!(lk->flags & (F_DISABLED | F_STORE_DOWN)));
    FUZZ_CHECK(!(sasl_mech_is_plaintext(m) && (lk->flags & F_SECURE_REQUIRED) && !p->tls));
}

static void check_failed(struct sasl_session *s, int rc)
{
    const char *cond = sasl_session_failure(s);
    FUZZ_CHECK(rc == ERR_AUTH || rc == ERR_PROTO || rc == ERR_LIMIT || rc == ERR_STORE ||
               rc == ERR_INTERNAL);
    FUZZ_CHECK(cond != NULL && known_failure(cond));
    FUZZ_CHECK(sasl_session_username(s) == NULL);
    FUZZ_CHECK(rc != ERR_STORE || strcmp(cond, "temporary-auth-failure") == 0);
}

/* Splits the messages off `in`. */
static size_t split(const uint8_t *in, size_t len, const uint8_t **msg, size_t *mlen)
{
    size_t n = 0;
    size_t start = 0;
    for (size_t i = 0; i < len && n < MAX_MSGS - 1; i++) {
        if (in[i] == MSG_SEP) {
            msg[n] = in + start;
            mlen[n] = i - start;
            n++;
            start = i + 1;
        }
    }
    msg[n] = in + start;
    mlen[n] = len - start;
    return n + 1;
}

static void run_mech(const char *name, const struct sasl_params *p, struct lookup *lk,
                     const uint8_t **msg, const size_t *mlen, size_t nmsg)
{
    const struct sasl_mech *m = sasl_mech_find(name);
    FUZZ_CHECK(m != NULL && strcmp(sasl_mech_name(m), name) == 0);
    struct sasl_session *s = sasl_session_new(m, p);
    struct buf out;
    buf_init(&out, 8192);
    lk->calls = 0;

    int rc = SASL_CONTINUE;
    size_t i = 0;
    if (lk->flags & F_NO_INITIAL) {
        rc = sasl_step(s, NULL, 0, false, &out);
    }
    for (; i < nmsg && rc == SASL_CONTINUE; i++) {
        buf_reset(&out);
        rc = sasl_step(s, msg[i], mlen[i], true, &out);
        FUZZ_CHECK(rc != SASL_CONTINUE || sasl_session_username(s) == NULL);
        if (trace) {
            fprintf(stderr, "%s step %zu: %d %s [%s]\n", name, i, rc,
                    sasl_session_failure(s) ? sasl_session_failure(s) : "", buf_cstr(&out));
        }
    }
    if (rc == SASL_DONE) {
        check_done(m, p, lk, s);
    } else if (rc < 0) {
        check_failed(s, rc);
    } else {
        FUZZ_CHECK(rc == SASL_CONTINUE && sasl_session_failure(s) == NULL);
    }
    if (rc != SASL_CONTINUE) {
        /* Nothing comes after the end but a failure. */
        FUZZ_CHECK(sasl_step(s, (const unsigned char *)"x", 1, true, &out) == ERR_PROTO);
        FUZZ_CHECK(sasl_session_failure(s) != NULL);
    }
    sasl_session_free(s);
    buf_cleanup(&out);
}

/* Strict base64: what decodes is canonical, and encoding round-trips. */
static void fuzz_b64(const uint8_t *data, size_t size)
{
    struct buf dec;
    struct buf enc;
    buf_init(&dec, 1 << 20);
    buf_init(&enc, 1 << 20);
    int rc = sasl_b64_decode((struct strv){ (const char *)data, size }, &dec);
    FUZZ_CHECK(rc == 0 || rc == ERR_INVAL);
    if (rc == 0) {
        size_t pad = 0;
        while (pad < 2 && pad < size && data[size - 1 - pad] == '=') {
            pad++;
        }
        FUZZ_CHECK(size % 4 == 0 && dec.len == size / 4 * 3 - pad);
        FUZZ_CHECK(sasl_b64_encode((const unsigned char *)dec.p, dec.len, &enc) == 0);
        FUZZ_CHECK(enc.len == size && (size == 0 || memcmp(enc.p, data, size) == 0));

        /* Too small an output buffer: ERR_LIMIT, not an overflow. */
        if (dec.len > 1) {
            struct buf small;
            buf_init(&small, dec.len - 1);
            FUZZ_CHECK(sasl_b64_decode((struct strv){ (const char *)data, size }, &small) ==
                       ERR_LIMIT);
            buf_cleanup(&small);
        }
    }
    buf_reset(&enc);
    buf_reset(&dec);
    FUZZ_CHECK(sasl_b64_encode(data, size, &enc) == 0);
    FUZZ_CHECK(enc.len == (size + 2) / 3 * 4);
    FUZZ_CHECK(sasl_b64_decode(buf_strv(&enc), &dec) == 0);
    FUZZ_CHECK(dec.len == size && (size == 0 || memcmp(dec.p, data, size) == 0));
    buf_cleanup(&dec);
    buf_cleanup(&enc);
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    if (sasl_global_init() != 0) {
        fprintf(stderr, "sasl_global_init failed\n");
        abort();
    }
    static const unsigned char secret[] = "fuzz-fake-salt-secret";
    sasl_set_fake_salt_secret(secret, sizeof(secret) - 1);
    sasl__scram_test_set_nonce(FUZZ_SERVER_NONCE);
    trace = getenv("FUZZ_SASL_TRACE") != NULL;
    if (auth_creds_from_password(FUZZ_PASSWORD, true, FUZZ_ITERATIONS, &base_creds) != 0) {
        fprintf(stderr, "auth_creds_from_password failed\n");
        abort();
    }
    /* Replace the random salts by a fixed one (the keys are recomputed for it). */
    for (int h = 0; h < SCRAM_HASH_COUNT; h++) {
        if (auth__scram_keys_compute((enum scram_hash)h, FUZZ_PASSWORD,
                                     (const unsigned char *)FUZZ_SALT, strlen(FUZZ_SALT),
                                     FUZZ_ITERATIONS, &base_creds.scram[h]) != 0) {
            fprintf(stderr, "auth__scram_keys_compute failed\n");
            abort();
        }
    }
    for (int t = 0; t < SASL_CB_COUNT; t++) {
        for (size_t i = 0; i < sizeof(cb_bytes[t]); i++) {
            cb_bytes[t][i] = (unsigned char)(0x40 + 16 * t + i);
        }
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_b64(data, size);
    if (size < 1) {
        return 0;
    }
    struct lookup lk = { .flags = data[0] };
    static const char *const cert_ids[] = { FUZZ_USER "@" FUZZ_DOMAIN, NULL };
    struct sasl_params p = {
        .domain = FUZZ_DOMAIN,
        .tls = (lk.flags & F_TLS) != 0,
        .cert_ids = cert_ids,
        .get_creds = get_creds,
        .ud = &lk,
    };
    if (lk.flags & F_CB) {
        p.cb_types = (1u << SASL_CB_COUNT) - 1;
        p.get_cb = get_cb;
    }
    const struct sasl_policy pol = { NULL, true };

    const uint8_t *msg[MAX_MSGS];
    size_t mlen[MAX_MSGS];
    size_t nmsg = split(data + 1, size - 1, msg, mlen);

    const char *names[32];
    size_t count = sasl_mechs_offered(&pol, &p, names, sizeof(names) / sizeof(names[0]));
    FUZZ_CHECK(count > 0);
    for (size_t i = 0; i < count; i++) {
        FUZZ_CHECK(sasl_mech_allowed(&pol, &p, names[i]));
        run_mech(names[i], &p, &lk, msg, mlen, nmsg);
    }
    return 0;
}
