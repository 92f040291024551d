/* muc_int.h: the chatroom module's internals shared by its files (not a public API). */
#ifndef STARLING_CHATROOM_MUC_INT_H
#define STARLING_CHATROOM_MUC_INT_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "core/buf.h"
#include "core/settings.h"
#include "jid/jid.h"
#include "signal/router.h"
#include "signal/signal.h"
#include "xml/ns.h"


enum muc_aff { AFF_OUTCAST, AFF_NONE, AFF_MEMBER, AFF_ADMIN, AFF_OWNER };
enum muc_role { ROLE_NONE, ROLE_VISITOR, ROLE_PARTICIPANT, ROLE_MODERATOR };
enum muc_pm { PM_ANYONE, PM_PARTICIPANTS, PM_MODERATORS, PM_NONE };

struct muc_config {
    char name[256];
    char desc[1024];
    char password[256];
    bool persistent;
    bool public_room;
    bool members_only;
    bool moderated;
    bool password_protected;
    bool non_anonymous;  /* whois = anyone */
    bool logging;        /* the owner says the room is logged (status 170) */
    bool change_subject; /* participants may change the subject */
    bool allow_invites;  /* participants may invite to a members-only room */
    bool archiving;      /* XEP-0313: a persistent room archives its messages */
    enum muc_pm allow_pm;
    int max_users;   /* 0 = the service's limit */
    int history;     /* messages sent to a joining occupant at most */
    char secret[33]; /* hex, the key of XEP-0421 occupant ids */
};

struct muc_occupant {
    struct muc_occupant *next;
    char *nick;
    struct jid real;           /* the full JID of the occupant's session */
    struct router_route route; /* where `real` is delivered, kept by the router's fan-out */
    enum muc_role role;
    struct xml_node *presence; /* its last available presence as sent (shared) */
    uint64_t rate_start_ms;    /* message rate window */
    int rate_count;
};

struct muc_aff_entry {
    struct muc_aff_entry *next;
    char *jid; /* bare JID (or a domain) */
    enum muc_aff aff;
    char *nick; /* a registered (reserved) nickname, or NULL */
    char *reason;
};

struct muc_hist {
    struct xml_node *msg; /* the message as broadcast (from = room/nick) */
    char *from_nick;
    time_t when;
    size_t chars;
};

struct muc_room {
    struct muc_room *next; /* in the worker's table */
    char *jid;             /* "room@service" */
    struct jid bare;
    struct muc_config cfg;
    bool locked; /* created, waiting for its configuration */
    bool fresh;  /* made by this signal: the first joiner creates it */
    bool destroyed;
    char *subject;      /* NULL = never set */
    char *subject_from; /* the nick (or room JID) that set it */
    struct muc_aff_entry *affs;
    struct muc_occupant *occupants;
    int noccupants;
    struct muc_hist *hist; /* ring of cfg history capacity */
    int hist_cap, hist_start, hist_len;
};

/* service.c */
struct muc_room *muc__room_find(const char *jid);
/* admin.c: every room of this worker; a room of this worker found, or loaded when stored. */
void muc__rooms_foreach(void (*fn)(void *ud, struct muc_room *r), void *ud);
struct muc_room *muc__room_get(const char *jid);
void muc__room_forget(struct muc_room *r); /* unregister and free */
int muc__room_count(const char *service);
const struct settings *muc__cfg(void);
void muc__directory_update(const struct muc_room *r);
void muc__directory_remove(const char *jid);

/* room.c */
struct muc_room *muc__room_new(const struct jid *bare);
void muc__room_free(struct muc_room *r);
void muc__room_signal(struct muc_room *r, struct signal *sig);
struct muc_occupant *muc__occ_by_nick(struct muc_room *r, const char *nick);
struct muc_occupant *muc__occ_by_real(struct muc_room *r, const struct jid *real);
void muc__send(struct muc_room *r, const char *from_nick, const struct jid *to,
               enum signal_method m, struct xml_node *stanza);
void muc__broadcast_presence(struct muc_room *r, struct muc_occupant *o, bool unavailable,
                             const int *codes, int ncodes, const char *actor, const char *reason,
                             struct muc_occupant *skip);
void muc__send_presence_to(struct muc_room *r, struct muc_occupant *subject,
                           struct muc_occupant *to, bool unavailable, const int *codes, int ncodes,
                           const char *actor, const char *reason);
void muc__remove_occupant(struct muc_room *r, struct muc_occupant *o);
/* The occupant's session is gone without a word (its client bounced a stanza, or its cluster
 * node died): it leaves, and the others see it leave with status 333. */
void muc__leave_gone(struct muc_room *r, struct muc_occupant *o);
/* Multi-session nicknames (XEP-0045): the occupant records sharing o's nick are one occupant. */
bool muc__same_nick(const struct muc_occupant *a, const struct muc_occupant *b);
struct muc_occupant *muc__occ_other_session(struct muc_room *r, const struct muc_occupant *o);
/* Is o the first record of its nick in the list (to act once per nick)? */
bool muc__occ_first_of_nick(const struct muc_room *r, const struct muc_occupant *o);
int muc__nick_count(const struct muc_room *r);
void muc__remove_nick(struct muc_room *r, const char *nick);
/* Removes every session of o's nick, telling everyone with status `code`. */
void muc__kick_nick(struct muc_room *r, struct muc_occupant *o, int code, const char *actor,
                    const char *reason);
void muc__set_nick_role(struct muc_room *r, struct muc_occupant *o, enum muc_role role);
void muc__status_message(struct muc_room *r, const int *codes, int ncodes);
void muc__occupant_id(const struct muc_room *r, const struct jid *real, char out[64]);
bool muc__maybe_stop(struct muc_room *r);
void muc__reply_error(const struct signal *req, const char *type, const char *condition);
void muc__reply_result(const struct signal *req, struct xml_node *payload);

/* archive.c: the room's archive (XEP-0313) */
bool muc__archiving(const struct muc_room *r);
/* Before the broadcast of the groupchat message `m` (a tree of the room's, not yet shared) from
 * `nick`: adds its <stanza-id/> and queues it for the archive, when the room archives it. */
void muc__archive_message(struct muc_room *r, const char *nick, struct xml_node *m);
void muc__archive_iq(struct muc_room *r, const struct signal *sig, const struct xml_node *q);
/* Refills the join history of a room loaded from the store from its archive. */
void muc__archive_history(struct muc_room *r);

/* affiliations.c */
enum muc_aff muc__aff_of(const struct muc_room *r, const struct jid *who);
struct muc_aff_entry *muc__aff_find(struct muc_room *r, const char *bare);
/* Sets (AFF_NONE: removes) an affiliation; in a stored room it is stored first: on failure
 * (the store's code, logged) nothing changes. */
int muc__aff_set(struct muc_room *r, const char *bare, enum muc_aff aff, const char *nick,
                 const char *reason);
/* Whether a condition is one of signal_store_condition()'s (answered with type "wait"). */
bool muc__store_condition(const char *condition);
const char *muc__aff_name(enum muc_aff a);
const char *muc__role_name(enum muc_role r);
enum muc_role muc__default_role(const struct muc_room *r, enum muc_aff a);
void muc__admin_iq(struct muc_room *r, const struct signal *sig, const struct xml_node *q);
void muc__register_iq(struct muc_room *r, const struct signal *sig, const struct xml_node *q);
const char *muc__reserved_nick_owner(struct muc_room *r, const char *nick);

/* config.c */
void muc__config_defaults(struct muc_config *c);
void muc__owner_iq(struct muc_room *r, const struct signal *sig, const struct xml_node *q);
void muc__config_text(const struct muc_room *r, struct buf *out);
void muc__config_parse(struct muc_room *r, const char *text);
/* The value of `key` in a stored config text; false when absent. */
bool muc__config_peek(const char *text, const char *key, struct buf *out);
/* Stores the room with its affiliations (or removes it when not persistent); 0 or the store's
 * code (logged). */
int muc__save(struct muc_room *r);
bool muc__load(struct muc_room *r);
void muc__disco_info(struct muc_room *r, const struct signal *sig);
void muc__destroy(struct muc_room *r, const char *alt, const char *reason, const char *password);

/* history.c */
void muc__hist_add(struct muc_room *r, struct xml_node *msg, const char *nick);
void muc__hist_send(struct muc_room *r, struct muc_occupant *to, const struct xml_node *req);
void muc__hist_resize(struct muc_room *r, int cap);
void muc__hist_clear(struct muc_room *r);

#endif
