/* ht.h: the Hashed Token SASL mechanisms (HT-SHA-256-NONE/-UNIQ/-ENDP/-EXPR, draft-schmaus-kitten-
 * sasl-ht) used by XEP-0484 FAST, the token's form, and the XEP-0474 (SSDP) list string. */
#ifndef STARLING_AUTH_HT_H
#define STARLING_AUTH_HT_H

#include <stdbool.h>
#include <stddef.h>

#include "auth/sasl.h"
#include "core/buf.h"

#define AUTH_HT_MAC_LEN 32 /* SHA-256 */
/* A token: 72 random bytes in base64url, 96 characters. Being longer than SHA-256's block (64
 * bytes), HMAC keys with SHA-256(token) (RFC 2104 §2), so the store keeps that hash only. */
#define AUTH_HT_TOKEN_LEN 96

/* The channel binding of an HT mechanism name: SASL_CB_* or -1 for -NONE; ERR_NOTFOUND when the
 * name is not an HT-SHA-256 mechanism. */
int auth_ht_mech_cb(const char *mech);
/* The HT-SHA-256 names whose binding `p` has (NONE always), strongest first; count written. */
size_t auth_ht_mechs(const struct sasl_params *p, const char **out, size_t max);

/* A new token (NUL-terminated, AUTH_HT_TOKEN_LEN characters, `out` at least one more) and its
 * SHA-256 (the stored form and the HMAC key). */
int auth_ht_token_new(char *out, size_t outlen, unsigned char key[AUTH_HT_MAC_LEN]);
/* Splits the initial response "authcid NUL HMAC" into the name (into `authcid`, NUL-free, at most
 * 1023 bytes) and the 32-byte HMAC. ERR_PROTO when it does not have that form. */
int auth_ht_parse(const unsigned char *in, size_t len, struct buf *authcid,
                  unsigned char mac[AUTH_HT_MAC_LEN]);
/* HMAC-SHA-256(key, label || cb): label "Initiator" (the client's proof) or "Responder" (the
 * server's answer). `key` is the stored SHA-256 of the token. */
int auth_ht_mac(const unsigned char key[AUTH_HT_MAC_LEN], const char *label,
                const struct sasl_cb_data *cb, unsigned char out[AUTH_HT_MAC_LEN]);
/* Whether `mac` is the initiator proof of `key` over `cb` (constant time). */
bool auth_ht_verify(const unsigned char key[AUTH_HT_MAC_LEN], const struct sasl_cb_data *cb,
                    const unsigned char mac[AUTH_HT_MAC_LEN]);

/* XEP-0474: the string whose hash SCRAM sends as "d=": the mechanism names sorted and joined by
 * 0x1E, then (when cb_types is not NULL) 0x1F and the sorted channel-binding types joined by
 * 0x1E. `mechs` is not reordered. */
int auth_ssdp_string(const char *const *mechs, size_t n, const char *const *cb_types, size_t ncb,
                     struct buf *out);

#endif
