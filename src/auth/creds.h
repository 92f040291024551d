/* creds.h: stored account credentials (clear password and SCRAM keys) and their text form. */
#ifndef STARLING_AUTH_CREDS_H
#define STARLING_AUTH_CREDS_H

#include <stdbool.h>
#include <stddef.h>

#include "core/buf.h"

/* The default PBKDF2 iteration count of new SCRAM keys (RFC 7677 asks for at least 4096). The
 * fuzz build lowers it (tests/fuzz/Makefile.fuzz) so that every password change is cheap. */
#ifndef AUTH_SCRAM_ITERATIONS
#define AUTH_SCRAM_ITERATIONS 4096
#endif
/* Limits accepted by auth_creds_decode() and auth_creds_from_password(). */
#define AUTH_SCRAM_MAX_ITERATIONS 10000000u
#define AUTH_PASSWORD_MAX 1023

enum scram_hash { SCRAM_SHA1, SCRAM_SHA256, SCRAM_SHA512, SCRAM_HASH_COUNT };

/* SCRAM verifier of one hash (RFC 5802 section 3): StoredKey = H(ClientKey),
 * ServerKey = HMAC(SaltedPassword, "Server Key"); key_len is the hash size. */
struct scram_keys {
    bool set;
    unsigned iterations;
    unsigned char salt[32];
    size_t salt_len;
    unsigned char stored_key[64];
    unsigned char server_key[64];
    size_t key_len;
};

struct auth_creds {
    /* Clear password (heap, owned), or NULL when the policy keeps SCRAM keys only. */
    char *clear;
    struct scram_keys scram[SCRAM_HASH_COUNT];
    /* Account option "Secure Method Required": no clear-text password mechanisms without TLS. */
    bool secure_required;
    /* Account disabled -> "account-disabled". */
    bool disabled;
};

/* Fills `out` (overwritten, caller's storage) from a password: the clear copy when keep_clear,
 * and SCRAM keys for every hash, each with its own random 16-byte salt and `iterations` rounds of
 * PBKDF2 (0 means AUTH_SCRAM_ITERATIONS). The password is SASLprep'ed (RFC 4013) for the keys
 * when it can be; the clear copy is kept as given. ERR_INVAL for a password longer than
 * AUTH_PASSWORD_MAX or too many iterations, ERR_INTERNAL if OpenSSL fails; `out` is then empty.
 * The two flags are left false. */
int auth_creds_from_password(const char *password, bool keep_clear, unsigned iterations,
                             struct auth_creds *out);
/* Wipes the secrets and frees the clear password; `c` is left empty (reusable). */
void auth_creds_cleanup(struct auth_creds *c);
/* 0 when `password` is the account's password, ERR_AUTH otherwise (also when `c` holds nothing
 * to check against). Uses the clear password when there is one, else the strongest SCRAM key;
 * comparisons are constant-time. */
int auth_creds_verify_password(const struct auth_creds *c, const char *password);
/* Appends the one-line store form, e.g.
 * "clear=<b64>;scram-sha-1=4096:<salt b64>:<stored b64>:<server b64>;scram-sha-256=…" (fields
 * present only when set; the two flags are not encoded). ERR_LIMIT past out's maximum. */
int auth_creds_encode(const struct auth_creds *c, struct buf *out);
/* Parses the form written by auth_creds_encode() into `out` (overwritten; flags false). Empty text
 * gives empty creds. ERR_INVAL on anything else (unknown or repeated field, bad base64, wrong key
 * length, iterations out of range); `out` is then empty. */
int auth_creds_decode(struct strv text, struct auth_creds *out);
/* Drops (and wipes) the clear password, keeping the SCRAM keys. */
void auth_creds_strip_clear(struct auth_creds *c);

#endif
