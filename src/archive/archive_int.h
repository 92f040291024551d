/* archive_int.h: shared internals of src/archive/ (not a public API). */
#ifndef STARLING_ARCHIVE_ARCHIVE_INT_H
#define STARLING_ARCHIVE_ARCHIVE_INT_H

#include "archive/archive.h"
#include "store/store_archive.h"

/* writer.c: queues a copy of `r` for the writer thread. */
void archive__enqueue(const struct store_archive_row *r);

/* A message's archived text, made by its sender's side and attached to its signal, reused by
 * its recipient's side on this process when the signal still fits it (archive__text_fits): a
 * message between two local accounts is serialized once, copied once and stored once (the
 * writer remembers its stored stanza's key across batches). Reference-counted (a struct
 * signal_ref): the signal's attachment and each queued row hold one. */
struct archive_text;
/* A new text (one reference, the caller's) of the message `sig` from `from_bare` to `to_bare`:
 * the serialized `stanza` and its `body` (NULL: none), copied. */
struct archive_text *archive__text_new(const struct signal *sig, const char *from_bare,
                                       const char *to_bare, const char *stanza, const char *body);
/* Its reference as a signal attachment (signal_attach, signal_ref_put). */
struct signal_ref *archive__text_ref(struct archive_text *t);
/* The archive text a signal attachment is, NULL when it is none (or r is NULL). */
struct archive_text *archive__text_of(struct signal_ref *r);
/* True when serializing `sig` (to `to_bare`, from `from_bare`) now would make `t`'s text: the
 * same P-XMPP-Data and the same addresses (a rewritten `to`, e.g. an alias made canonical,
 * does not fit). */
bool archive__text_fits(const struct archive_text *t, const struct signal *sig, const char *to_bare,
                        const char *from_bare);
/* The recipient's side compared `t` (archive__text_fits): its reference on the P-XMPP-Data is
 * released (the tree is not kept while the rows wait for the writer); later checks do not fit. */
void archive__text_compared(struct archive_text *t);
const char *archive__text_stanza(const struct archive_text *t);
/* Queues the row of `t`'s sender (`outgoing`) or recipient with archive id `id` (one more
 * reference on `t`; the row's strings are t's, its stored stanza t's shared one). */
void archive__enqueue_text(struct archive_text *t, bool outgoing, long long id);

#endif
