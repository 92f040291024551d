/* utf8.h: strict UTF-8 decoding, the one copy behind JIDs, SASL, account texts and the serializer. */
#ifndef STARLING_CORE_UTF8_H
#define STARLING_CORE_UTF8_H

#include <stdbool.h>
#include <stddef.h>

#include "core/buf.h"

/* The length (1 to 4) of the UTF-8 sequence at `p` (`left` bytes readable, at least 1) when it
 * encodes a Unicode scalar value in its shortest form (no surrogates, nothing past U+10FFFF),
 * with the value in *cp (may be NULL); 0 when it does not. NUL decodes as U+0000 of length 1. */
size_t utf8_decode(const unsigned char *p, size_t left, unsigned *cp);
/* True when `s` is strict UTF-8 (as utf8_decode) without NUL. */
bool utf8_valid(struct strv s);

#endif
