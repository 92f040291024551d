/* store_upload.h: the store's "upload" area: XEP-0363 upload slots (the files themselves live
 * under DATADIR/upload/, src/web/upload.c). */
#ifndef STARLING_STORE_STORE_UPLOAD_H
#define STARLING_STORE_STORE_UPLOAD_H

#include "store/store.h"

/* One slot. Times are Unix seconds; `secret` is the PUT's bearer token. */
struct store_upload_slot {
    char token[64];
    char domain[256];
    char name[256];
    char filename[256];
    char ctype[128];
    char secret[64];
    long long size;
    long long expires;
    int done; /* the file was put */
};

/* A new slot of the account `name`@`domain`; ERR_NOTFOUND when the account does not exist. */
int store_upload_add(struct store *st, const struct store_upload_slot *s);
/* The slot of `token`; ERR_NOTFOUND when none. */
int store_upload_get(struct store *st, const char *token, struct store_upload_slot *out);
/* Marks the slot's file as stored. */
int store_upload_done(struct store *st, const char *token);
/* Bytes of the account's slots that have not expired at `now` (its quota use) into *used. */
int store_upload_used(struct store *st, const char *domain, const char *name, long long now,
                      long long *used);
/* The tokens of slots expired at `now` (at most `max`); `fn` may delete them. */
typedef int store_upload_token_fn(void *ud, const char *token);
int store_upload_expired(struct store *st, long long now, int max, store_upload_token_fn *fn,
                         void *ud);
/* Whether `token` has a slot (1) or not (0), or an error code. */
int store_upload_exists(struct store *st, const char *token);
int store_upload_delete(struct store *st, const char *token);

#endif
