/* history.c: the discussion history of a room (XEP-0045 §7.2.15) as a ring of shared stanzas,
 * and its delivery to a joining occupant with maxchars / maxstanzas / seconds / since. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "chatroom/muc_int.h"
#include "xml/ns.h"

void muc__hist_clear(struct muc_room *r)
{
    for (int i = 0; i < r->hist_len; i++) {
        struct muc_hist *h = &r->hist[(r->hist_start + i) % r->hist_cap];
        xml_node_unref(h->msg);
        free(h->from_nick);
    }
    r->hist_len = 0;
    r->hist_start = 0;
}

/* The room keeps min(its own history setting, muc.history_length) messages. */
void muc__hist_resize(struct muc_room *r, int cap)
{
    int limit = muc__cfg() ? muc__cfg()->muc.history_length : cap;
    cap = cap < limit ? cap : limit;
    if (cap == r->hist_cap) {
        return;
    }
    struct muc_hist *n = cap > 0 ? xcalloc((size_t)cap, sizeof(*n)) : NULL;
    int keep = r->hist_len < cap ? r->hist_len : cap;
    int drop = r->hist_len - keep;
    for (int i = 0; i < r->hist_len; i++) {
        struct muc_hist *h = &r->hist[(r->hist_start + i) % r->hist_cap];
        if (i < drop) {
            xml_node_unref(h->msg);
            free(h->from_nick);
        } else {
            n[i - drop] = *h;
        }
    }
    free(r->hist);
    r->hist = n;
    r->hist_cap = cap;
    r->hist_start = 0;
    r->hist_len = keep;
}

void muc__hist_add(struct muc_room *r, struct xml_node *msg, const char *nick)
{
    if (r->hist_cap == 0) {
        return;
    }
    struct muc_hist *h;
    if (r->hist_len == r->hist_cap) {
        h = &r->hist[r->hist_start];
        xml_node_unref(h->msg);
        free(h->from_nick);
        r->hist_start = (r->hist_start + 1) % r->hist_cap;
    } else {
        h = &r->hist[(r->hist_start + r->hist_len) % r->hist_cap];
        r->hist_len++;
    }
    h->msg = xml_node_ref(msg);
    h->from_nick = nick ? xstrdup(nick) : NULL;
    h->when = time(NULL);
    struct buf b;
    buf_init(&b, 1 << 24);
    xml_serialize(&b, msg, NULL);
    h->chars = b.len;
    buf_cleanup(&b);
}

static long attr_long(const struct xml_node *n, const char *name, long dflt)
{
    const char *v = n ? xml_node_attr(n, name) : NULL;
    if (v == NULL) {
        return dflt;
    }
    char *end = NULL;
    long x = strtol(v, &end, 10);
    return end && *end == '\0' && x >= 0 ? x : dflt;
}

/* "2002-10-13T23:58:37Z" (fractions and a Z or +00:00 zone accepted) to Unix time. */
static time_t parse_stamp(const char *s)
{
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    const char *end = s ? strptime(s, "%Y-%m-%dT%H:%M:%S", &tm) : NULL;
    if (end == NULL) {
        return 0;
    }
    return timegm(&tm);
}

void muc__hist_send(struct muc_room *r, struct muc_occupant *to, const struct xml_node *req)
{
    long maxstanzas = attr_long(req, "maxstanzas", r->hist_len);
    long maxchars = attr_long(req, "maxchars", -1);
    long seconds = attr_long(req, "seconds", -1);
    time_t since = req ? parse_stamp(xml_node_attr(req, "since")) : 0;
    time_t now = time(NULL);
    /* Walk back from the newest to find the first message to send. */
    int first = r->hist_len;
    long chars = 0;
    for (int i = r->hist_len - 1; i >= 0; i--) {
        const struct muc_hist *h = &r->hist[(r->hist_start + i) % r->hist_cap];
        if (r->hist_len - i > maxstanzas) {
            break;
        }
        if (seconds >= 0 && now - h->when > seconds) {
            break;
        }
        if (since && h->when < since) {
            break;
        }
        chars += (long)h->chars;
        if (maxchars >= 0 && chars > maxchars) {
            break;
        }
        first = i;
    }
    for (int i = first; i < r->hist_len; i++) {
        const struct muc_hist *h = &r->hist[(r->hist_start + i) % r->hist_cap];
        struct xml_node *m = xml_node_copy(h->msg);
        xml_node_add_delay(m, r->jid, h->when);
        muc__send(r, h->from_nick, &to->real, SIGNAL_MESSAGE, m);
    }
}
