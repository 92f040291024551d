/* legacy.h: the digest check of legacy jabber:iq:auth (XEP-0078). */
#ifndef STARLING_AUTH_LEGACY_H
#define STARLING_AUTH_LEGACY_H

#include "auth/creds.h"

/* 0 when `digest_hex` is hex(SHA1(stream_id + password)) for the account's clear password (hex
 * compared case-insensitively, in constant time); ERR_AUTH when it is not; ERR_INVAL when
 * `digest_hex` is not 40 hex digits; ERR_NOTFOUND when `c` has no clear password (the digest
 * method cannot work for this account and should not be offered). */
int auth_legacy_digest_verify(const struct auth_creds *c, const char *stream_id,
                              const char *digest_hex);

#endif
