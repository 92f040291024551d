/* substate.h: the presence subscription state machine of RFC 6121 §3 and Appendix A, pure. */
#ifndef STARLING_IM_SUBSTATE_H
#define STARLING_IM_SUBSTATE_H

#include <stdbool.h>

/* Subscription bits (the same values as STORE_SUB_* in store_im.h). */
#define SUB_TO 1   /* the user receives the contact's presence */
#define SUB_FROM 2 /* the contact receives the user's presence */

/* One user's relation to one contact: a roster item's subscription, its 'ask' (Pending Out),
 * a stored inbound request (Pending In) and the pre-approval of §3.4. */
struct sub_state {
    int sub;
    bool pending_out;
    bool pending_in;
    bool approved;
};

/* Subscription stanzas: sent by the user (outbound, processed by the user's server) or
 * received for the user (inbound, processed by the user's server on delivery). */
enum sub_event {
    SUB_OUT_SUBSCRIBE,
    SUB_OUT_SUBSCRIBED,
    SUB_OUT_UNSUBSCRIBE,
    SUB_OUT_UNSUBSCRIBED,
    SUB_IN_SUBSCRIBE,
    SUB_IN_SUBSCRIBED,
    SUB_IN_UNSUBSCRIBE,
    SUB_IN_UNSUBSCRIBED,
};

/* What the server does besides changing the state. */
enum sub_action {
    SUB_ROUTE = 1 << 0,            /* outbound: route the stanza to the contact */
    SUB_DELIVER = 1 << 1,          /* inbound: deliver it to the user's available resources */
    SUB_STORE_PENDING = 1 << 2,    /* inbound subscribe: keep the request until answered */
    SUB_DROP_PENDING = 1 << 3,     /* forget the stored request */
    SUB_AUTO_SUBSCRIBED = 1 << 4,  /* answer 'subscribed' on the user's behalf */
    SUB_SEND_PRESENCE = 1 << 5,    /* send the user's current presence to the contact */
    SUB_SEND_UNAVAILABLE = 1 << 6, /* send unavailable from the user's resources to the contact */
    SUB_PUSH = 1 << 7,             /* the roster item changed (or is created): store and push */
};

/* The next state and the actions for `ev` in state `cur`. */
struct sub_state sub_step(struct sub_state cur, enum sub_event ev, unsigned *actions);

/* The event of a subscription presence type ("subscribe", ...); false when not one. */
bool sub_event_of(const char *type, bool outbound, enum sub_event *ev);

/* RFC 6121 Appendix A names: "None", "None + Pending Out", "To + Pending In", "Both", ...
 * (pre-approval is not part of the name). */
const char *sub_state_name(struct sub_state s);
/* The roster 'subscription' attribute: none, to, from, both. */
const char *sub_attr(int sub);

#endif
