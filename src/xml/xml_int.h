/* xml_int.h: internals shared by the files of the xml module (tree arena, raw node building). */
#ifndef STARLING_XML_XML_INT_H
#define STARLING_XML_XML_INT_H

#include <stdatomic.h>
#include <stddef.h>

#include "core/buf.h"
#include "xml/xml.h"

struct xml__chunk;

/* The text of a shared tree's root without its to/from attributes, kept for the next writer:
 * a stanza sent to many recipients (a room's message) is serialized once. `head` ends where the
 * root's attributes end; the rest follows the addresses. */
struct xml__ser_cache {
    const char *parent_ns; /* the in-scope namespace it was written for (NULL = none) */
    size_t head;
    size_t len;
    char text[];
};

/* One tree's memory: the arena header and a first region in one allocation, then chunks. */
struct xml__arena {
    atomic_uint refs;
    bool standard; /* its first region is ARENA_FIRST bytes: reusable from the thread's pool */
    struct xml__ser_cache *_Atomic ser; /* set once while shared; dropped on any change */
    struct xml__chunk *chunks;
    char *cur;
    size_t left;
    size_t next_size;
    size_t total;
    max_align_t first[];
};

/* A NUL-terminated copy of `s` in the arena. */
char *xml__strdup(struct xml__arena *a, struct strv s);
/* A namespace name for an element or attribute of `near`: shares near's (or near's parent's)
 * string when equal, the static NS_XML for the xml namespace, otherwise a copy. NULL and
 * the empty string give NULL (no namespace). */
const char *xml__ns(struct xml__arena *a, const struct xml_node *near, struct strv ns);
/* A new element: the root of a new tree when parent is NULL, else parent's last child.
 * `ns` is taken as given (a xml__ns result or a string of the same arena). */
struct xml_node *xml__elem_new(struct xml_node *parent, const char *ns, struct strv name);
/* Gives `n` room for `count` attributes (existing ones are kept). */
void xml__attrs_reserve(struct xml_node *n, size_t count);
/* Appends a text node holding a copy of `text` (never merged). */
void xml__text_new(struct xml_node *parent, struct strv text);
/* Drops the tree's serialization cache: called by everything that changes a tree. */
void xml__changed(struct xml__arena *a);

#endif
