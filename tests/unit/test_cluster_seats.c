/* test_cluster_seats.c: the seats a node's users hold in rooms other nodes own
 * (src/cluster/seats.c): which presences note or forget one, and what a user is told when the
 * room's node is gone. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/seats.h"
#include "core/buf.h"
#include "xml/xml.h"

#define ROOM "hall@conference.example.com"
#define USER "bob@example.com/phone"

/* A presence from `from` to `to` parsed from `xml` (the room's stanza as it crossed NATS). */
static struct signal *presence(const char *from, const char *to, const char *xml)
{
    struct signal *sig = signal_new(SIGNAL_NOTIFY);
    assert_int_equal(jid_parse(&sig->from, strv_c(from)), 0);
    assert_int_equal(jid_parse(&sig->to, strv_c(to)), 0);
    sig->xmpp_data = xml_parse_element(strv_c(xml), "jabber:client", NULL);
    assert_non_null(sig->xmpp_data);
    const char *type = xml_node_attr(sig->xmpp_data, "type");
    sig->type = type ? strdup(type) : NULL;
    return sig;
}

static int note(struct seats *t, const char *from, const char *to, const char *xml,
                const char *owner)
{
    struct signal *sig = presence(from, to, xml);
    int rc = seats_note(t, sig, owner, "run1");
    signal_free(sig);
    return rc;
}

#define SELF_IN(aff)                                                                               \
    "<presence><x xmlns='http://jabber.org/protocol/muc#user'><item affiliation='" aff "' "        \
    "role='participant' jid='" USER "'/><status code='110'/><status code='100'/></x>"              \
    "<occupant-id xmlns='urn:xmpp:occupant-id:0' id='abc123'/></presence>"
#define SELF_OUT                                                                                   \
    "<presence type='unavailable'><x xmlns='http://jabber.org/protocol/muc#user'><item "           \
    "affiliation='member' role='none'/><status code='110'/></x></presence>"
#define OTHER_IN                                                                                   \
    "<presence><x xmlns='http://jabber.org/protocol/muc#user'><item affiliation='none' "           \
    "role='participant'/></x></presence>"

/* Only the user's own presence in a room (status 110) notes a seat; its unavailable one, or a
 * nick change's, forgets it. */
static void test_note_and_forget(void **state)
{
    (void)state;
    struct seats *t = seats_new();
    assert_int_equal(note(t, ROOM "/carol", USER, OTHER_IN, "n1"), 0);
    assert_int_equal(note(t, ROOM "/bob", USER, SELF_IN("member"), "n1"), 1);
    assert_int_equal(note(t, ROOM "/bob", USER, SELF_IN("member"), "n1"), 1); /* a status change */
    assert_int_equal(seats_count(t), 1);
    /* Another resource of the same user, and the same user in another room: their own seats. */
    assert_int_equal(note(t, ROOM "/bob", "bob@example.com/laptop", SELF_IN("member"), "n1"), 1);
    assert_int_equal(note(t, "lobby@conference.example.com/bob", USER, SELF_IN("none"), "n2"), 1);
    assert_int_equal(seats_count(t), 3);
    /* A nick change: unavailable from the old nick (303, 110), then available from the new. */
    assert_int_equal(note(t, ROOM "/bob", USER, SELF_OUT, "n1"), -1);
    assert_int_equal(note(t, ROOM "/robert", USER, SELF_IN("member"), "n1"), 1);
    assert_int_equal(seats_count(t), 3);
    /* Not a seat: a presence without a nick, an error, a message, a seat never noted. */
    assert_int_equal(note(t, ROOM, USER, SELF_IN("member"), "n1"), 0);
    assert_int_equal(note(t, ROOM "/bob", USER,
                          "<presence type='error'><x xmlns='http://jabber.org/protocol/muc#user'>"
                          "<status code='110'/></x></presence>",
                          "n1"),
                     0);
    assert_int_equal(note(t, "other@conference.example.com/bob", USER, SELF_OUT, "n1"), 0);
    assert_int_equal(seats_count(t), 3);
    seats_free(t);
}

struct told {
    const char *gone_owner;
    struct signal *sig[8];
    int n;
};

static enum seat_fate fate(void *ud, const char *owner, const char *run, const struct jid *occupant)
{
    struct told *k = ud;
    assert_string_equal(run, "run1");
    if (strcmp(occupant->resource, "laptop") == 0) {
        return SEAT_DROP; /* that session ended */
    }
    return strcmp(owner, k->gone_owner) == 0 ? SEAT_TELL : SEAT_KEEP;
}

static void tell(void *ud, struct signal *sig)
{
    struct told *k = ud;
    assert_true(k->n < 8);
    k->sig[k->n++] = sig;
}

/* The seats of a node that left: their users get their own unavailable presence from the room
 * with 110 and 332, their affiliation and occupant id; the others stay. */
static void test_sweep_tells_the_seated(void **state)
{
    (void)state;
    struct seats *t = seats_new();
    note(t, ROOM "/bob", USER, SELF_IN("owner"), "n1");
    note(t, ROOM "/bob", "bob@example.com/laptop", SELF_IN("owner"), "n1");
    note(t, "lobby@conference.example.com/bob", USER, SELF_IN("none"), "n2");
    struct told k = { .gone_owner = "n1" };
    assert_int_equal(seats_sweep(t, fate, tell, &k, "The node stopped"), 1);
    assert_int_equal(k.n, 1);
    assert_int_equal(seats_count(t), 1); /* lobby's, on n2 */
    struct signal *sig = k.sig[0];
    assert_int_equal(sig->method, SIGNAL_NOTIFY);
    assert_string_equal(sig->type, "unavailable");
    struct buf from;
    buf_init(&from, 1024);
    jid_full(&sig->from, &from);
    assert_string_equal(buf_cstr(&from), ROOM "/bob");
    buf_reset(&from);
    jid_full(&sig->to, &from);
    assert_string_equal(buf_cstr(&from), USER);
    buf_cleanup(&from);
    struct buf xml;
    buf_init(&xml, 4096);
    assert_int_equal(xml_serialize(&xml, sig->xmpp_data, NULL), 0);
    const char *s = buf_cstr(&xml);
    assert_non_null(strstr(s, "type='unavailable'"));
    assert_non_null(strstr(s, "affiliation='owner'"));
    assert_non_null(strstr(s, "role='none'"));
    assert_non_null(strstr(s, "code='110'"));
    assert_non_null(strstr(s, "code='332'"));
    assert_non_null(strstr(s, "abc123"));
    assert_non_null(strstr(s, "The node stopped"));
    assert_null(strstr(s, "code='100'"));
    buf_cleanup(&xml);
    signal_free(sig);
    /* Nothing left of n1: a second sweep tells nobody. */
    k.n = 0;
    assert_int_equal(seats_sweep(t, fate, tell, &k, NULL), 0);
    seats_free(t);
}

/* The notice to an occupant removed because its node was believed gone: 110 and 333. */
static void test_gone_signal_code(void **state)
{
    (void)state;
    struct jid room = { 0 };
    struct jid user = { 0 };
    assert_int_equal(jid_parse(&room, strv_c(ROOM "/bob")), 0);
    assert_int_equal(jid_parse(&user, strv_c(USER)), 0);
    struct signal *sig = seats_gone_signal(&room, &user, "member", NULL, 333, NULL);
    struct buf xml;
    buf_init(&xml, 4096);
    assert_int_equal(xml_serialize(&xml, sig->xmpp_data, NULL), 0);
    assert_non_null(strstr(buf_cstr(&xml), "code='110'"));
    assert_non_null(strstr(buf_cstr(&xml), "code='333'"));
    assert_null(strstr(buf_cstr(&xml), "occupant-id"));
    assert_null(strstr(buf_cstr(&xml), "<reason"));
    buf_cleanup(&xml);
    signal_free(sig);
    jid_cleanup(&room);
    jid_cleanup(&user);
}

/* Many seats (the table grows) are all found again. */
static void test_many_seats(void **state)
{
    (void)state;
    struct seats *t = seats_new();
    char user[64];
    for (int i = 0; i < 1000; i++) {
        snprintf(user, sizeof(user), "u%d@example.com/r", i);
        assert_int_equal(note(t, ROOM "/x", user, SELF_IN("none"), "n1"), 1);
    }
    assert_int_equal(seats_count(t), 1000);
    for (int i = 0; i < 1000; i += 2) {
        snprintf(user, sizeof(user), "u%d@example.com/r", i);
        assert_int_equal(note(t, ROOM "/x", user, SELF_OUT, "n1"), -1);
    }
    assert_int_equal(seats_count(t), 500);
    seats_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_note_and_forget),
        cmocka_unit_test(test_sweep_tells_the_seated),
        cmocka_unit_test(test_gone_signal_code),
        cmocka_unit_test(test_many_seats),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
