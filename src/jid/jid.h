/* jid.h: XMPP addresses (RFC 7622 / RFC 6122): parsing, stringprep preparation, comparison. */
#ifndef STARLING_JID_JID_H
#define STARLING_JID_JID_H

#include <stdbool.h>

#include "core/buf.h"

/* Longest localpart, domainpart or resourcepart after preparation, in bytes. */
#define JID_PART_MAX 1023

/* A prepared address. Each part is its own NUL-terminated heap string owned by the struct;
 * `local` and `resource` are NULL when absent, `domain` is never NULL after a successful
 * jid_parse or jid_copy. A zeroed struct is a valid "empty" value for jid_cleanup. */
struct jid {
    char *local;
    char *domain;
    char *resource;
};

/* Parses and prepares `text`: the resourcepart is everything after the first '/', the localpart
 * everything before the last '@' that precedes it. The localpart is nodeprep'd, the domainpart
 * nameprep'd (or checked as an IP literal such as "[::1]"; one trailing dot is removed), the
 * resourcepart resourceprep'd; each part must be 1..JID_PART_MAX bytes once prepared.
 * Returns 0 and fills `out` (which the caller later passes to jid_cleanup), or ERR_INVAL with
 * `out` zeroed. */
int jid_parse(struct jid *out, struct strv text);
/* Frees the parts and zeroes the struct; safe on a zeroed struct. */
void jid_cleanup(struct jid *j);
/* Deep copy; `dst` must not hold parts (it is overwritten). */
int jid_copy(struct jid *dst, const struct jid *src);

/* The following replace the content of `out`; ERR_LIMIT past out's maximum. */
/* "local@domain", or "domain" without a localpart. */
int jid_bare(const struct jid *j, struct buf *out);
/* "local@domain/resource" with the absent parts left out. */
int jid_full(const struct jid *j, struct buf *out);

/* Comparisons of prepared addresses (byte equality of each part). */
bool jid_eq(const struct jid *a, const struct jid *b);
bool jid_bare_eq(const struct jid *a, const struct jid *b);
/* For tables keyed by bare JID text, looked up from parts without printing them (`j` has a
 * localpart): is `bare` the text "local@domain" of `j`; the hash of a text, and the same hash
 * of "local@domain" computed from the parts. */
bool jid_bare_is(const struct jid *j, const char *bare);
size_t jid_text_hash(const char *text);
size_t jid_bare_hash(const struct jid *j);

/* Prepare one part on its own and replace the content of `out` with the result. ERR_INVAL when
 * the input is not valid UTF-8, holds a prohibited character, or the result is empty or longer
 * than JID_PART_MAX; ERR_LIMIT past out's maximum. jid_nameprep applies every domainpart rule of
 * jid_parse (IP literal, label checks, trailing dot). */
int jid_nodeprep(struct strv in, struct buf *out);
int jid_nameprep(struct strv in, struct buf *out);
int jid_resourceprep(struct strv in, struct buf *out);

#endif
