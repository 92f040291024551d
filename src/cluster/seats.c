/* seats.c: the seats this node's users hold in rooms other nodes own, so that a room's occupants
 * learn at once that its node died or restarted (seats.h). */
#include "cluster/seats.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "xml/ns.h"
#include "xml/xml.h"

/* An occupant id (XEP-0421) longer than this is not kept (the rooms here send 43 characters). */
#define OCCUPANT_ID_MAX 128

struct seat {
    struct seat *next;
    size_t hash;
    struct jid occupant; /* this node's user (full JID) */
    struct jid room;     /* the room, the user's nick as its resource */
    char affiliation[8];
    char *occupant_id; /* NULL: the room sent none */
    char owner[64];
    char run[32];
};

struct seats {
    struct seat **b;
    size_t nb; /* a power of two */
    size_t n;
};

struct seats *seats_new(void)
{
    struct seats *t = xcalloc(1, sizeof(*t));
    t->nb = 64;
    t->b = xcalloc(t->nb, sizeof(*t->b));
    return t;
}

static void seat_free(struct seat *s)
{
    jid_cleanup(&s->occupant);
    jid_cleanup(&s->room);
    free(s->occupant_id);
    free(s);
}

void seats_free(struct seats *t)
{
    if (t == NULL) {
        return;
    }
    for (size_t i = 0; i < t->nb; i++) {
        while (t->b[i] != NULL) {
            struct seat *s = t->b[i];
            t->b[i] = s->next;
            seat_free(s);
        }
    }
    free(t->b);
    free(t);
}

size_t seats_count(const struct seats *t)
{
    return t->n;
}

/* A seat is one user's (full JID) in one room (bare JID): a nick change keeps the seat. */
static size_t key_hash(const struct jid *occupant, const struct jid *room)
{
    size_t h =
        jid_bare_hash(occupant) * 33 + jid_text_hash(occupant->resource ? occupant->resource : "");
    return h * 33 + jid_bare_hash(room);
}

static struct seat **find(struct seats *t, size_t hash, const struct jid *occupant,
                          const struct jid *room)
{
    struct seat **pp = &t->b[hash & (t->nb - 1)];
    while (*pp != NULL && !((*pp)->hash == hash && jid_eq(&(*pp)->occupant, occupant) &&
                            jid_bare_eq(&(*pp)->room, room))) {
        pp = &(*pp)->next;
    }
    return pp;
}

static void grow(struct seats *t)
{
    size_t nb = t->nb * 2;
    struct seat **b = xcalloc(nb, sizeof(*b));
    for (size_t i = 0; i < t->nb; i++) {
        while (t->b[i] != NULL) {
            struct seat *s = t->b[i];
            t->b[i] = s->next;
            s->next = b[s->hash & (nb - 1)];
            b[s->hash & (nb - 1)] = s;
        }
    }
    free(t->b);
    t->b = b;
    t->nb = nb;
}

/* The room's <x xmlns='…muc#user'/> when the presence carries status 110 (the user's own). */
static const struct xml_node *self_x(const struct signal *sig)
{
    if (sig->method != SIGNAL_NOTIFY || sig->xmpp_data == NULL || sig->from.local == NULL ||
        sig->from.resource == NULL || sig->to.local == NULL || sig->to.resource == NULL) {
        return NULL;
    }
    const struct xml_node *x = xml_node_child(sig->xmpp_data, NS_MUC_USER, "x");
    for (const struct xml_node *c = x ? xml_node_first_element(x) : NULL; c != NULL;
         c = xml_node_next_element(c)) {
        const char *code = xml_node_attr(c, "code");
        if (strcmp(c->name, "status") == 0 && code != NULL && strcmp(code, "110") == 0) {
            return x;
        }
    }
    return NULL;
}

static void set_affiliation(struct seat *s, const struct xml_node *x)
{
    static const char *const known[] = { "owner", "admin", "member", "outcast", "none" };
    const struct xml_node *item = xml_node_child(x, NS_MUC_USER, "item");
    const char *aff = item ? xml_node_attr(item, "affiliation") : NULL;
    snprintf(s->affiliation, sizeof(s->affiliation), "none");
    for (size_t i = 0; aff != NULL && i < sizeof(known) / sizeof(known[0]); i++) {
        if (strcmp(aff, known[i]) == 0) {
            snprintf(s->affiliation, sizeof(s->affiliation), "%s", known[i]);
        }
    }
}

static void set_occupant_id(struct seat *s, const struct xml_node *presence)
{
    const struct xml_node *oid = xml_node_child(presence, NS_OCCUPANT_ID, "occupant-id");
    const char *id = oid ? xml_node_attr(oid, "id") : NULL;
    free(s->occupant_id);
    s->occupant_id = id != NULL && strlen(id) <= OCCUPANT_ID_MAX ? xstrdup(id) : NULL;
}

int seats_note(struct seats *t, const struct signal *sig, const char *owner, const char *run)
{
    const struct xml_node *x = self_x(sig);
    if (x == NULL || (sig->type != NULL && strcmp(sig->type, "unavailable") != 0)) {
        return 0;
    }
    size_t hash = key_hash(&sig->to, &sig->from);
    struct seat **pp = find(t, hash, &sig->to, &sig->from);
    if (sig->type != NULL) {
        struct seat *gone = *pp;
        if (gone == NULL) {
            return 0;
        }
        *pp = gone->next;
        seat_free(gone);
        t->n--;
        return -1;
    }
    struct seat *s = *pp;
    if (s == NULL) {
        if (t->n >= t->nb * 2) {
            grow(t);
            pp = find(t, hash, &sig->to, &sig->from);
        }
        s = xcalloc(1, sizeof(*s));
        s->hash = hash;
        jid_copy(&s->occupant, &sig->to);
        *pp = s;
        t->n++;
    }
    jid_cleanup(&s->room);
    jid_copy(&s->room, &sig->from);
    set_affiliation(s, x);
    set_occupant_id(s, sig->xmpp_data);
    snprintf(s->owner, sizeof(s->owner), "%s", owner);
    snprintf(s->run, sizeof(s->run), "%s", run);
    return 1;
}

static void add_text_child(struct xml_node *parent, const char *name, const char *text)
{
    struct xml_node *n = xml_node_add_child(parent, NULL, name);
    xml_node_add_text(n, text, strlen(text));
}

struct signal *seats_gone_signal(const struct jid *room_nick, const struct jid *occupant,
                                 const char *affiliation, const char *occupant_id, int code,
                                 const char *reason)
{
    struct xml_node *p = xml_node_new(NS_CLIENT, "presence");
    xml_node_set_attr(p, "type", "unavailable");
    struct xml_node *x = xml_node_add_child(p, NS_MUC_USER, "x");
    struct xml_node *item = xml_node_add_child(x, NULL, "item");
    xml_node_set_attr(item, "affiliation", affiliation);
    xml_node_set_attr(item, "role", "none");
    struct buf full;
    buf_init(&full, 4096);
    jid_full(occupant, &full);
    xml_node_set_attr(item, "jid", buf_cstr(&full));
    buf_cleanup(&full);
    if (reason != NULL && reason[0] != '\0') {
        add_text_child(item, "reason", reason);
    }
    char c[16];
    snprintf(c, sizeof(c), "%d", code);
    xml_node_set_attr(xml_node_add_child(x, NULL, "status"), "code", "110");
    xml_node_set_attr(xml_node_add_child(x, NULL, "status"), "code", c);
    if (occupant_id != NULL) {
        struct xml_node *oid = xml_node_add_child(p, NS_OCCUPANT_ID, "occupant-id");
        xml_node_set_attr(oid, "id", occupant_id);
    }
    struct signal *sig = signal_new(SIGNAL_NOTIFY);
    jid_copy(&sig->from, room_nick);
    jid_copy(&sig->to, occupant);
    sig->type = xstrdup("unavailable");
    sig->xmpp_data = p;
    return sig;
}

size_t seats_sweep(struct seats *t, seat_fate_fn *fate, seat_tell_fn *tell, void *ud,
                   const char *reason)
{
    size_t told = 0;
    for (size_t i = 0; i < t->nb; i++) {
        struct seat **pp = &t->b[i];
        while (*pp != NULL) {
            struct seat *s = *pp;
            enum seat_fate f = fate(ud, s->owner, s->run, &s->occupant);
            if (f == SEAT_KEEP) {
                pp = &s->next;
                continue;
            }
            if (f == SEAT_TELL) {
                /* The room's node stopped: 332, as a room handed over says. */
                tell(ud, seats_gone_signal(&s->room, &s->occupant, s->affiliation, s->occupant_id,
                                           332, reason));
                told++;
            }
            *pp = s->next;
            seat_free(s);
            t->n--;
        }
    }
    return told;
}
