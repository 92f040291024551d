/* substate.c: RFC 6121 Appendix A, one function per direction: the state after a subscription
 * stanza and what the server must do with it. */
#include "im/substate.h"

#include <string.h>

static bool visible_change(struct sub_state a, struct sub_state b)
{
    return a.sub != b.sub || a.pending_out != b.pending_out || a.approved != b.approved;
}

/* A.2: stanzas the user sends. */
static struct sub_state outbound(struct sub_state s, enum sub_event ev, unsigned *act)
{
    switch (ev) {
    case SUB_OUT_SUBSCRIBE:
        /* §3.1.2: always routed; Pending Out unless the user is subscribed already. */
        *act |= SUB_ROUTE;
        if (!(s.sub & SUB_TO)) {
            s.pending_out = true;
        }
        break;
    case SUB_OUT_SUBSCRIBED:
        if (s.pending_in) {
            /* §3.1.5: approval of the contact's request. */
            s.sub |= SUB_FROM;
            s.pending_in = false;
            s.approved = false;
            *act |= SUB_ROUTE | SUB_DROP_PENDING | SUB_SEND_PRESENCE;
        } else if (!(s.sub & SUB_FROM)) {
            /* §3.4: pre-approval, not routed. */
            s.approved = true;
        }
        break;
    case SUB_OUT_UNSUBSCRIBE:
        /* §3.3.2: always routed. */
        *act |= SUB_ROUTE;
        s.sub &= ~SUB_TO;
        s.pending_out = false;
        break;
    case SUB_OUT_UNSUBSCRIBED:
        /* §3.2.2 (cancel or deny); cancelling only a pre-approval is not routed (§3.4). */
        if ((s.sub & SUB_FROM) || s.pending_in || !s.approved) {
            *act |= SUB_ROUTE;
        }
        if (s.sub & SUB_FROM) {
            *act |= SUB_SEND_UNAVAILABLE;
        }
        if (s.pending_in) {
            *act |= SUB_DROP_PENDING;
        }
        s.sub &= ~SUB_FROM;
        s.pending_in = false;
        s.approved = false;
        break;
    default:
        break;
    }
    return s;
}

/* A.3: stanzas received for the user. */
static struct sub_state inbound(struct sub_state s, enum sub_event ev, unsigned *act)
{
    switch (ev) {
    case SUB_IN_SUBSCRIBE:
        if (s.sub & SUB_FROM) {
            /* §3.1.3: already subscribed: the server answers for the user. */
            *act |= SUB_AUTO_SUBSCRIBED;
        } else if (s.approved) {
            s.sub |= SUB_FROM;
            s.approved = false;
            *act |= SUB_AUTO_SUBSCRIBED | SUB_SEND_PRESENCE;
        } else if (!s.pending_in) {
            s.pending_in = true;
            *act |= SUB_STORE_PENDING | SUB_DELIVER;
        }
        break;
    case SUB_IN_SUBSCRIBED:
        if (s.pending_out) {
            s.sub |= SUB_TO;
            s.pending_out = false;
            *act |= SUB_DELIVER;
        }
        break;
    case SUB_IN_UNSUBSCRIBE:
        if ((s.sub & SUB_FROM) || s.pending_in) {
            if (s.pending_in) {
                *act |= SUB_DROP_PENDING;
            }
            s.sub &= ~SUB_FROM;
            s.pending_in = false;
            *act |= SUB_DELIVER;
        }
        break;
    case SUB_IN_UNSUBSCRIBED:
        if ((s.sub & SUB_TO) || s.pending_out) {
            s.sub &= ~SUB_TO;
            s.pending_out = false;
            *act |= SUB_DELIVER;
        }
        break;
    default:
        break;
    }
    return s;
}

struct sub_state sub_step(struct sub_state cur, enum sub_event ev, unsigned *actions)
{
    unsigned act = 0;
    struct sub_state next =
        ev >= SUB_IN_SUBSCRIBE ? inbound(cur, ev, &act) : outbound(cur, ev, &act);
    if (visible_change(cur, next)) {
        act |= SUB_PUSH;
    }
    *actions = act;
    return next;
}

bool sub_event_of(const char *type, bool outbound_dir, enum sub_event *ev)
{
    static const char *const names[] = { "subscribe", "subscribed", "unsubscribe", "unsubscribed" };
    for (int i = 0; type && i < 4; i++) {
        if (strcmp(type, names[i]) == 0) {
            *ev = (enum sub_event)((outbound_dir ? SUB_OUT_SUBSCRIBE : SUB_IN_SUBSCRIBE) + i);
            return true;
        }
    }
    return false;
}

const char *sub_state_name(struct sub_state s)
{
    static const char *const names[4][4] = {
        /* pending: none, out, in, out+in */
        { "None", "None + Pending Out", "None + Pending In", "None + Pending Out/In" },
        { "To", "To", "To + Pending In", "To + Pending In" },
        { "From", "From + Pending Out", "From", "From + Pending Out" },
        { "Both", "Both", "Both", "Both" },
    };
    int p = (s.pending_out ? 1 : 0) | (s.pending_in ? 2 : 0);
    return names[s.sub & 3][p];
}

const char *sub_attr(int sub)
{
    static const char *const names[] = { "none", "to", "from", "both" };
    return names[sub & 3];
}
