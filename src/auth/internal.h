/* internal.h: what the files of the auth module share (not part of its public API). */
#ifndef STARLING_AUTH_INTERNAL_H
#define STARLING_AUTH_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

#include "auth/creds.h"
#include "auth/sasl.h"
#include "core/buf.h"

#define AUTH__MAX_NAME 1023   /* longest authcid, authzid or password accepted from a client */
#define SASL__MAX_INPUT 16384 /* longest client message accepted by sasl_step() */

/* ---- crypto helpers (creds.c) ---- */

/* Digest size of a SCRAM hash, and its name ("SHA-1", "SHA-256", "SHA-512"). */
size_t auth__scram_hash_len(enum scram_hash h);
const char *auth__scram_hash_name(enum scram_hash h);
/* out = HMAC_h(key, data), auth__scram_hash_len(h) bytes. ERR_INTERNAL if OpenSSL fails. */
int auth__hmac(enum scram_hash h, const void *key, size_t key_len, const void *data, size_t len,
               unsigned char *out);
/* out = H_h(data). */
int auth__hash(enum scram_hash h, const void *data, size_t len, unsigned char *out);
/* Fills `out` with the SCRAM keys of `password` (SASLprep'ed when it can be) for one hash and the
 * given salt (at most 32 bytes) and iterations. */
int auth__scram_keys_compute(enum scram_hash h, const char *password, const unsigned char *salt,
                             size_t salt_len, unsigned iterations, struct scram_keys *out);
/* SASLprep (RFC 4013, stored-string rules relaxed to query rules) of a password; a heap copy of
 * the input when it cannot be prepared. The caller wipes and frees it. */
char *auth__saslprep(const char *password);
/* Wipes and frees a heap string (NULL is fine). */
void auth__free_secret(char *s);

/* ---- SASL sessions (sasl.c) ---- */

enum sasl__family {
    SASL__SCRAM,
    SASL__PLAIN,
    SASL__LOGIN,
    SASL__CRAM_MD5,
    SASL__DIGEST_MD5,
    SASL__EXTERNAL,
};

struct sasl_mech_ops {
    /* One step of the mechanism; `in` is NUL-free only if the mechanism checks it. */
    int (*step)(struct sasl_session *s, struct strv in, bool has_data, struct buf *out);
    /* Frees s->data (may be NULL). */
    void (*cleanup)(struct sasl_session *s);
};

struct sasl_mech {
    const char *name;
    enum sasl__family family;
    enum scram_hash hash; /* SCRAM only */
    bool plus;            /* SCRAM only: the -PLUS variant */
    const struct sasl_mech_ops *ops;
};

struct sasl_session {
    const struct sasl_mech *mech;
    const struct sasl_params *params;
    const char *failure; /* static condition name, set once */
    enum sasl_fail_kind fail_kind;
    bool cb_type_unoffered; /* the failure: a binding type the link does not offer */
    char fail_reason[160];
    bool done;
    char *username;
    char *authzid;
    int stage;  /* mechanism-specific step counter */
    void *data; /* mechanism-specific state */
};

/* Records the failure condition and returns `code`. The kind follows from the condition
 * ("not-authorized": credentials, "malformed-request": malformed, else other). */
int sasl__fail(struct sasl_session *s, const char *condition, int code);
/* The same with the kind and a reason for the log (copied; may be NULL). */
int sasl__fail_why(struct sasl_session *s, const char *condition, int code,
                   enum sasl_fail_kind kind, const char *why);
/* Removes "@<params->domain>" (case-insensitive) from `name` in place. Returns false when the
 * name has an '@' with another domain. */
bool sasl__strip_domain(const struct sasl_session *s, char *name);
/* Looks the (stripped) user up: 0 with `out` filled, ERR_NOTFOUND, or another negative code
 * for which the temporary failure has been recorded already. */
int sasl__lookup(struct sasl_session *s, const char *username, struct auth_creds *out);
/* Checks a clear-text password of `authcid` (PLAIN, LOGIN) and on success sets s->username. */
int sasl__verify_plaintext(struct sasl_session *s, const char *authcid, const char *password);

extern const struct sasl_mech_ops sasl__scram_ops;
extern const struct sasl_mech_ops sasl__plain_ops;
extern const struct sasl_mech_ops sasl__login_ops;
extern const struct sasl_mech_ops sasl__external_ops;
extern const struct sasl_mech_ops sasl__cram_md5_ops;
extern const struct sasl_mech_ops sasl__digest_md5_ops;

/* ---- SCRAM (scram.c) ---- */

/* Sets the secret keying the fake salts of unknown users. */
void sasl__scram_set_secret(const unsigned char *key, size_t len);
/* Test hook: the server nonce part of the next SCRAM sessions (NULL: random again). */
void sasl__scram_test_set_nonce(const char *nonce);

/* ---- GNU SASL (gsasl_mechs.c) ---- */

int sasl__gsasl_init(void);
void sasl__gsasl_cleanup(void);
/* Whether the GNU SASL context is up and supports the server side of `family`. */
bool sasl__gsasl_supports(enum sasl__family family);

#endif
