/* archive_int.h: shared internals of src/archive/ (not a public API). */
#ifndef STARLING_ARCHIVE_ARCHIVE_INT_H
#define STARLING_ARCHIVE_ARCHIVE_INT_H

#include "archive/archive.h"
#include "store/store_archive.h"

/* writer.c: queues a copy of `r` for the writer thread. */
void archive__enqueue(const struct store_archive_row *r);

#endif
