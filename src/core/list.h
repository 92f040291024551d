/* list.h: the intrusive doubly-linked list used for per-worker sets (connections, queues):
 * any struct with `prev` and `next` pointers to its own type, headed by a plain pointer. */
#ifndef STARLING_CORE_LIST_H
#define STARLING_CORE_LIST_H

#include <stddef.h>

/* Puts `node` first in the list headed by `head` (an lvalue). */
#define LIST_PUSH(head, node)                                                                      \
    do {                                                                                           \
        (node)->prev = NULL;                                                                       \
        (node)->next = (head);                                                                     \
        if ((head) != NULL) {                                                                      \
            (head)->prev = (node);                                                                 \
        }                                                                                          \
        (head) = (node);                                                                           \
    } while (0)

/* Takes `node` out of the list headed by `head`; its links are reset to NULL. */
#define LIST_UNLINK(head, node)                                                                    \
    do {                                                                                           \
        if ((node)->prev != NULL) {                                                                \
            (node)->prev->next = (node)->next;                                                     \
        } else {                                                                                   \
            (head) = (node)->next;                                                                 \
        }                                                                                          \
        if ((node)->next != NULL) {                                                                \
            (node)->next->prev = (node)->prev;                                                     \
        }                                                                                          \
        (node)->prev = (node)->next = NULL;                                                        \
    } while (0)

#endif
