/* config.c: room configuration (muc#roomconfig, XEP-0045 §10.1–§10.2), the owner's iq (config,
 * instant rooms, destruction), disco#info with muc#roominfo, and persistence in the store. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>

#include "chatroom/muc_int.h"
#include "core/log.h"
#include "core/server.h"
#include "store/store_muc.h"
#include "xml/ns.h"

static const char *const pm_names[] = { "anyone", "participants", "moderators", "none" };

void muc__config_defaults(struct muc_config *c)
{
    memset(c, 0, sizeof(*c));
    c->public_room = true;
    c->change_subject = false;
    c->allow_pm = PM_ANYONE;
    c->history = 20;
    c->archiving = true;
    unsigned char rnd[16];
    RAND_bytes(rnd, sizeof(rnd));
    for (size_t i = 0; i < sizeof(rnd); i++) {
        snprintf(c->secret + 2 * i, 3, "%02x", rnd[i]);
    }
}

/* ---- persistence: "key=value" lines, values with \n and \\ escaped ---- */

static void put_line(struct buf *out, const char *key, const char *value)
{
    buf_printf(out, "%s=", key);
    for (const char *p = value; *p; p++) {
        if (*p == '\n') {
            buf_append_c(out, "\\n");
        } else if (*p == '\\') {
            buf_append_c(out, "\\\\");
        } else {
            buf_append_char(out, *p);
        }
    }
    buf_append_char(out, '\n');
}

static void put_int(struct buf *out, const char *key, int v)
{
    char n[32];
    snprintf(n, sizeof(n), "%d", v);
    put_line(out, key, n);
}

void muc__config_text(const struct muc_room *r, struct buf *out)
{
    const struct muc_config *c = &r->cfg;
    buf_reset(out);
    put_line(out, "name", c->name);
    put_line(out, "desc", c->desc);
    put_line(out, "password", c->password);
    put_int(out, "persistent", c->persistent);
    put_int(out, "public", c->public_room);
    put_int(out, "members_only", c->members_only);
    put_int(out, "moderated", c->moderated);
    put_int(out, "password_protected", c->password_protected);
    put_int(out, "non_anonymous", c->non_anonymous);
    put_int(out, "logging", c->logging);
    put_int(out, "archiving", c->archiving);
    put_int(out, "change_subject", c->change_subject);
    put_int(out, "allow_invites", c->allow_invites);
    put_line(out, "allow_pm", pm_names[c->allow_pm]);
    put_int(out, "max_users", c->max_users);
    put_int(out, "history", c->history);
    put_line(out, "secret", c->secret);
}

bool muc__config_peek(const char *text, const char *key, struct buf *out)
{
    size_t klen = strlen(key);
    for (const char *p = text; p && *p;) {
        const char *end = strchr(p, '\n');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len > klen && strncmp(p, key, klen) == 0 && p[klen] == '=') {
            buf_reset(out);
            for (size_t i = klen + 1; i < len; i++) {
                if (p[i] == '\\' && i + 1 < len) {
                    i++;
                    buf_append_char(out, p[i] == 'n' ? '\n' : p[i]);
                } else {
                    buf_append_char(out, p[i]);
                }
            }
            return true;
        }
        p = end ? end + 1 : NULL;
    }
    return false;
}

static void peek_str(const char *text, const char *key, char *dst, size_t size)
{
    struct buf v;
    buf_init(&v, 65536);
    if (muc__config_peek(text, key, &v)) {
        snprintf(dst, size, "%s", buf_cstr(&v));
    }
    buf_cleanup(&v);
}

static void peek_int(const char *text, const char *key, int *dst)
{
    struct buf v;
    buf_init(&v, 64);
    if (muc__config_peek(text, key, &v)) {
        *dst = (int)strtol(buf_cstr(&v), NULL, 10);
    }
    buf_cleanup(&v);
}

static void peek_bool(const char *text, const char *key, bool *dst)
{
    int v = *dst;
    peek_int(text, key, &v);
    *dst = v != 0;
}

void muc__config_parse(struct muc_room *r, const char *text)
{
    struct muc_config *c = &r->cfg;
    peek_str(text, "name", c->name, sizeof(c->name));
    peek_str(text, "desc", c->desc, sizeof(c->desc));
    peek_str(text, "password", c->password, sizeof(c->password));
    peek_bool(text, "persistent", &c->persistent);
    peek_bool(text, "public", &c->public_room);
    peek_bool(text, "members_only", &c->members_only);
    peek_bool(text, "moderated", &c->moderated);
    peek_bool(text, "password_protected", &c->password_protected);
    peek_bool(text, "non_anonymous", &c->non_anonymous);
    peek_bool(text, "logging", &c->logging);
    peek_bool(text, "archiving", &c->archiving);
    peek_bool(text, "change_subject", &c->change_subject);
    peek_bool(text, "allow_invites", &c->allow_invites);
    char pm[32] = "";
    peek_str(text, "allow_pm", pm, sizeof(pm));
    for (int i = 0; i < 4; i++) {
        if (strcmp(pm, pm_names[i]) == 0) {
            c->allow_pm = (enum muc_pm)i;
        }
    }
    peek_int(text, "max_users", &c->max_users);
    peek_int(text, "history", &c->history);
    peek_str(text, "secret", c->secret, sizeof(c->secret));
}

int muc__save(struct muc_room *r)
{
    struct store *st = worker_ctx()->store;
    int rc = store_group_begin(st);
    if (rc == 0 && !r->cfg.persistent) {
        rc = store_group_end(st, store_muc_room_delete(st, r->jid));
    } else if (rc == 0) {
        struct buf text;
        buf_init(&text, 1 << 20);
        muc__config_text(r, &text);
        rc = store_muc_room_put(st, r->jid, buf_cstr(&text), r->subject, r->subject_from);
        for (struct muc_aff_entry *a = r->affs; rc == 0 && a; a = a->next) {
            rc = store_muc_aff_set(st, r->jid, a->jid, muc__aff_name(a->aff), a->nick, a->reason);
        }
        rc = store_group_end(st, rc);
        buf_cleanup(&text);
    }
    if (rc != 0) {
        log_rec(LOG_TAG_XMPPS, LOG_FAILURES, 0, r->jid, "cannot store the room: %s",
                store_last_error(st));
    }
    return rc;
}

static int load_aff(void *ud, const char *jid, const char *aff, const char *nick,
                    const char *reason)
{
    struct muc_room *r = ud;
    static const char *const names[] = { "outcast", "none", "member", "admin", "owner" };
    for (int i = 0; i < 5; i++) {
        if (strcmp(aff, names[i]) == 0) {
            struct muc_aff_entry *a = xcalloc(1, sizeof(*a));
            a->jid = xstrdup(jid);
            a->aff = (enum muc_aff)i;
            a->nick = nick[0] ? xstrdup(nick) : NULL;
            a->reason = reason[0] ? xstrdup(reason) : NULL;
            a->next = r->affs;
            r->affs = a;
        }
    }
    return 0;
}

bool muc__load(struct muc_room *r)
{
    struct store *st = worker_ctx()->store;
    struct buf text, subject, from;
    buf_init(&text, 1 << 20);
    buf_init(&subject, 1 << 20);
    buf_init(&from, 4096);
    bool ok = store_muc_room_get(st, r->jid, &text, &subject, &from) == 0;
    if (ok) {
        muc__config_parse(r, buf_cstr(&text));
        r->cfg.persistent = true;
        if (subject.len || from.len) {
            r->subject = xstrdup(buf_cstr(&subject));
            r->subject_from = xstrdup(buf_cstr(&from));
        }
        store_muc_aff_list(st, r->jid, load_aff, r);
        muc__hist_resize(r, r->cfg.history);
        muc__archive_history(r);
    }
    buf_cleanup(&text);
    buf_cleanup(&subject);
    buf_cleanup(&from);
    return ok;
}

/* ---- data forms ---- */

static struct xml_node *field(struct xml_node *x, const char *type, const char *var,
                              const char *label, const char *value)
{
    struct xml_node *f = xml_node_add_child(x, NULL, "field");
    if (type) {
        xml_node_set_attr(f, "type", type);
    }
    xml_node_set_attr(f, "var", var);
    if (label) {
        xml_node_set_attr(f, "label", label);
    }
    if (value) {
        struct xml_node *v = xml_node_add_child(f, NULL, "value");
        xml_node_add_text(v, value, strlen(value));
    }
    return f;
}

static void option(struct xml_node *f, const char *label, const char *value)
{
    struct xml_node *o = xml_node_add_child(f, NULL, "option");
    xml_node_set_attr(o, "label", label);
    struct xml_node *v = xml_node_add_child(o, NULL, "value");
    xml_node_add_text(v, value, strlen(value));
}

static const char *b01(bool b)
{
    return b ? "1" : "0";
}

static void jid_multi(struct xml_node *x, const struct muc_room *r, const char *var,
                      const char *label, enum muc_aff aff)
{
    struct xml_node *f = field(x, "jid-multi", var, label, NULL);
    for (const struct muc_aff_entry *a = r->affs; a; a = a->next) {
        if (a->aff == aff) {
            struct xml_node *v = xml_node_add_child(f, NULL, "value");
            xml_node_add_text(v, a->jid, strlen(a->jid));
        }
    }
}

static struct xml_node *config_form(const struct muc_room *r)
{
    const struct muc_config *c = &r->cfg;
    struct xml_node *q = xml_node_new(NS_MUC_OWNER, "query");
    struct xml_node *x = xml_node_add_child(q, NS_XDATA, "x");
    xml_node_set_attr(x, "type", "form");
    struct xml_node *t = xml_node_add_child(x, NULL, "title");
    xml_node_add_text(t, "Room configuration", 18);
    field(x, "hidden", "FORM_TYPE", NULL, NS_MUC_ROOMCONFIG);
    field(x, "text-single", "muc#roomconfig_roomname", "Room name", c->name);
    field(x, "text-single", "muc#roomconfig_roomdesc", "Description", c->desc);
    field(x, "boolean", "muc#roomconfig_persistentroom", "Persistent", b01(c->persistent));
    field(x, "boolean", "muc#roomconfig_publicroom", "Listed in the directory",
          b01(c->public_room));
    field(x, "boolean", "muc#roomconfig_membersonly", "Members only", b01(c->members_only));
    field(x, "boolean", "muc#roomconfig_moderatedroom", "Moderated", b01(c->moderated));
    field(x, "boolean", "muc#roomconfig_passwordprotectedroom", "Password protected",
          b01(c->password_protected));
    field(x, "text-private", "muc#roomconfig_roomsecret", "Password", c->password);
    struct xml_node *w = field(x, "list-single", "muc#roomconfig_whois", "Who may see real JIDs",
                               c->non_anonymous ? "anyone" : "moderators");
    option(w, "Moderators only", "moderators");
    option(w, "Anyone", "anyone");
    char n[32];
    snprintf(n, sizeof(n), "%d", c->max_users);
    struct xml_node *mu = field(x, "list-single", "muc#roomconfig_maxusers", "Maximum occupants",
                                c->max_users ? n : "none");
    option(mu, "No limit", "none");
    static const char *const sizes[] = { "10", "20", "30", "50", "100", "200", "500", NULL };
    for (size_t i = 0; sizes[i]; i++) {
        option(mu, sizes[i], sizes[i]);
    }
    field(x, "boolean", "muc#roomconfig_changesubject", "Participants may change the subject",
          b01(c->change_subject));
    field(x, "boolean", "muc#roomconfig_allowinvites", "Participants may invite",
          b01(c->allow_invites));
    struct xml_node *pm = field(x, "list-single", "muc#roomconfig_allowpm",
                                "Who may send private messages", pm_names[c->allow_pm]);
    for (int i = 0; i < 4; i++) {
        option(pm, pm_names[i], pm_names[i]);
    }
    snprintf(n, sizeof(n), "%d", c->history);
    field(x, "text-single", "muc#maxhistoryfetch", "Messages of history sent on join", n);
    field(x, "boolean", "muc#roomconfig_enablelogging", "The room is logged (occupants are told)",
          b01(c->logging));
    field(x, "boolean", "muc#roomconfig_enablearchiving",
          "Archive the messages (XEP-0313; persistent rooms)", b01(c->archiving));
    jid_multi(x, r, "muc#roomconfig_roomowners", "Owners", AFF_OWNER);
    jid_multi(x, r, "muc#roomconfig_roomadmins", "Admins", AFF_ADMIN);
    return q;
}

static void values(const struct xml_node *f, struct buf *out)
{
    buf_reset(out);
    const struct xml_node *v = xml_node_child(f, NS_XDATA, "value");
    if (v) {
        xml_node_text(v, out);
    }
}

/* A boolean field's value (XEP-0004 §3.3: "0", "1", "false", "true"); false when it is none
 * of them. */
static bool boolean_of(const struct buf *v, bool *out)
{
    const char *t = buf_cstr(v);
    if (strcmp(t, "1") == 0 || strcmp(t, "true") == 0) {
        *out = true;
    } else if (strcmp(t, "0") == 0 || strcmp(t, "false") == 0) {
        *out = false;
    } else {
        return false;
    }
    return true;
}

/* A whole decimal number in [min, max]; false for anything else ("-5abc", "", "1e3"). */
static bool number_of(const struct buf *v, long min, long max, int *out)
{
    const char *t = buf_cstr(v);
    if (t[0] < '0' || t[0] > '9' || v->len > 9) {
        return false;
    }
    char *end = NULL;
    long n = strtol(t, &end, 10);
    if (end == NULL || *end != '\0' || n < min || n > max) {
        return false;
    }
    *out = (int)n;
    return true;
}

/* Copies a text value into a fixed field; false when it does not fit (never truncated). */
static bool text_into(const struct buf *v, char *dst, size_t size)
{
    if (v->len >= size || memchr(v->p, '\0', v->len) != NULL) {
        return false;
    }
    memcpy(dst, v->p, v->len);
    dst[v->len] = '\0';
    return true;
}

/* Applies a jid-multi list of owners or admins: listed ones get `aff`, unlisted ones with it go
 * down to none (owners: never the last one). */
static const char *apply_list(struct muc_room *r, const struct xml_node *f, enum muc_aff aff)
{
    int listed = 0;
    for (const struct xml_node *v = xml_node_first_element(f); v; v = xml_node_next_element(v)) {
        if (strcmp(v->name, "value") != 0) {
            continue;
        }
        struct buf t;
        buf_init(&t, 4096);
        xml_node_text(v, &t);
        struct jid j;
        if (jid_parse(&j, buf_strv(&t)) != 0) {
            buf_cleanup(&t);
            return "jid-malformed";
        }
        jid_cleanup(&j);
        buf_cleanup(&t);
        listed++;
    }
    if (aff == AFF_OWNER && listed == 0) {
        return "not-acceptable";
    }
    for (struct muc_aff_entry *a = r->affs; a;) {
        struct muc_aff_entry *next = a->next;
        if (a->aff == aff) {
            int rc = muc__aff_set(r, a->jid, AFF_NONE, NULL, NULL);
            if (rc != 0) {
                const char *type;
                return signal_store_condition(rc, &type);
            }
        }
        a = next;
    }
    for (const struct xml_node *v = xml_node_first_element(f); v; v = xml_node_next_element(v)) {
        if (strcmp(v->name, "value") != 0) {
            continue;
        }
        struct buf t, bare;
        buf_init(&t, 4096);
        buf_init(&bare, 4096);
        xml_node_text(v, &t);
        struct jid j;
        int rc = 0;
        if (jid_parse(&j, buf_strv(&t)) == 0) {
            jid_bare(&j, &bare);
            rc = muc__aff_set(r, buf_cstr(&bare), aff, NULL, NULL);
            jid_cleanup(&j);
        }
        buf_cleanup(&t);
        buf_cleanup(&bare);
        if (rc != 0) {
            const char *type;
            return signal_store_condition(rc, &type);
        }
    }
    return NULL;
}

/* Which of the password fields a form carried (they are checked together). */
struct form_seen {
    bool protect; /* muc#roomconfig_passwordprotectedroom */
    bool protect_value;
    bool secret; /* muc#roomconfig_roomsecret */
};

static int pm_of(const struct buf *v)
{
    for (int i = 0; i < 4; i++) {
        if (strcmp(buf_cstr(v), pm_names[i]) == 0) {
            return i;
        }
    }
    return -1;
}

/* One field of a submitted form into `c`; false when its value is not acceptable. */
static bool apply_field(const char *var, const struct buf *v, struct muc_config *c,
                        struct form_seen *seen)
{
    const struct {
        const char *var;
        bool *dst;
    } bools[] = {
        { "muc#roomconfig_persistentroom", &c->persistent },
        { "muc#roomconfig_publicroom", &c->public_room },
        { "muc#roomconfig_membersonly", &c->members_only },
        { "muc#roomconfig_moderatedroom", &c->moderated },
        { "muc#roomconfig_changesubject", &c->change_subject },
        { "muc#roomconfig_allowinvites", &c->allow_invites },
        { "muc#roomconfig_enablelogging", &c->logging },
        { "muc#roomconfig_enablearchiving", &c->archiving },
    };
    for (size_t i = 0; i < sizeof(bools) / sizeof(bools[0]); i++) {
        if (strcmp(var, bools[i].var) == 0) {
            return boolean_of(v, bools[i].dst);
        }
    }
    if (strcmp(var, "muc#roomconfig_roomname") == 0) {
        return text_into(v, c->name, sizeof(c->name));
    }
    if (strcmp(var, "muc#roomconfig_roomdesc") == 0) {
        return text_into(v, c->desc, sizeof(c->desc));
    }
    if (strcmp(var, "muc#roomconfig_passwordprotectedroom") == 0) {
        seen->protect = true;
        return boolean_of(v, &seen->protect_value);
    }
    if (strcmp(var, "muc#roomconfig_roomsecret") == 0) {
        seen->secret = true;
        return text_into(v, c->password, sizeof(c->password));
    }
    if (strcmp(var, "muc#roomconfig_whois") == 0) {
        bool anyone = strcmp(buf_cstr(v), "anyone") == 0;
        c->non_anonymous = anyone;
        return anyone || strcmp(buf_cstr(v), "moderators") == 0;
    }
    if (strcmp(var, "muc#roomconfig_maxusers") == 0) {
        /* "none" or a number of occupants; 0 says "none" too. */
        c->max_users = 0;
        return strcmp(buf_cstr(v), "none") == 0 || number_of(v, 0, 1000000, &c->max_users);
    }
    if (strcmp(var, "muc#roomconfig_allowpm") == 0) {
        int pm = pm_of(v);
        c->allow_pm = pm < 0 ? c->allow_pm : (enum muc_pm)pm;
        return pm >= 0;
    }
    if (strcmp(var, "muc#maxhistoryfetch") == 0 ||
        strcmp(var, "muc#roomconfig_historylength") == 0) {
        return number_of(v, 0, 10000, &c->history);
    }
    return true; /* fields this service does not offer are ignored */
}

/* The room secret and the flag agree (as Prosody does, a secret alone protects the room);
 * a contradiction is refused rather than half applied. */
static const char *password_rule(struct muc_config *c, const struct form_seen *seen)
{
    if (seen->protect) {
        if (seen->protect_value && c->password[0] == '\0') {
            return "not-acceptable"; /* protected by no password */
        }
        if (!seen->protect_value && seen->secret && c->password[0] != '\0') {
            return "not-acceptable"; /* a secret for a room said to be unprotected */
        }
        if (!seen->protect_value) {
            c->password[0] = '\0';
        }
    }
    c->password_protected = c->password[0] != '\0';
    return NULL;
}

/* Reads a submitted form into `c`; owner/admin lists apply to the room at once. A value that
 * is not acceptable refuses the whole form: nothing is coerced or truncated. */
static const char *apply_form(struct muc_room *r, const struct xml_node *x, struct muc_config *c)
{
    struct buf v;
    buf_init(&v, 65536);
    const char *err = NULL;
    struct form_seen seen = { 0 };
    /* Values first, so that a refused form changes no owner or admin list. */
    for (const struct xml_node *f = xml_node_first_element(x); f && !err;
         f = xml_node_next_element(f)) {
        const char *var = xml_node_attr(f, "var");
        if (strcmp(f->name, "field") == 0 && var != NULL) {
            values(f, &v);
            err = apply_field(var, &v, c, &seen) ? NULL : "not-acceptable";
        }
    }
    if (!err) {
        err = password_rule(c, &seen);
    }
    for (const struct xml_node *f = xml_node_first_element(x); f && !err;
         f = xml_node_next_element(f)) {
        const char *var = xml_node_attr(f, "var");
        if (strcmp(f->name, "field") != 0 || var == NULL) {
            continue;
        }
        if (strcmp(var, "muc#roomconfig_roomowners") == 0) {
            err = apply_list(r, f, AFF_OWNER);
        } else if (strcmp(var, "muc#roomconfig_roomadmins") == 0) {
            err = apply_list(r, f, AFF_ADMIN);
        }
    }
    buf_cleanup(&v);
    return err;
}

/* After a configuration change: status codes to the occupants (§10.2.1), members-only kicks,
 * roles in a (no longer) moderated room. */
static bool same_except_privacy(const struct muc_config *a, const struct muc_config *b)
{
    return strcmp(a->name, b->name) == 0 && strcmp(a->desc, b->desc) == 0 &&
           strcmp(a->password, b->password) == 0 && a->persistent == b->persistent &&
           a->public_room == b->public_room && a->members_only == b->members_only &&
           a->moderated == b->moderated && a->password_protected == b->password_protected &&
           a->change_subject == b->change_subject && a->allow_invites == b->allow_invites &&
           a->allow_pm == b->allow_pm && a->max_users == b->max_users && a->history == b->history;
}

/* §10.2.1 and the status code registry: 170/171 logging on/off, 172/173 now non-anonymous /
 * semi-anonymous (174, fully anonymous, is not a mode of this service), and 104 only when
 * something else changed too. No message when nothing changed. */
static int change_codes(const struct muc_config *old, const struct muc_config *now, int *codes)
{
    int n = 0;
    if (old->logging != now->logging) {
        codes[n++] = now->logging ? 170 : 171;
    }
    if (old->non_anonymous != now->non_anonymous) {
        codes[n++] = now->non_anonymous ? 172 : 173;
    }
    if (!same_except_privacy(old, now)) {
        codes[n++] = 104;
    }
    return n;
}

static void config_changed(struct muc_room *r, const struct muc_config *old)
{
    int codes[4];
    int n = change_codes(old, &r->cfg, codes);
    if (n > 0) {
        muc__status_message(r, codes, n);
    }
    for (struct muc_occupant *o = r->occupants; o;) {
        enum muc_aff aff = muc__aff_of(r, &o->real);
        if (r->cfg.members_only && aff < AFF_MEMBER) {
            muc__kick_nick(r, o, 322, NULL, NULL);
            o = r->occupants; /* the list changed: start over */
            continue;
        }
        if (old->moderated != r->cfg.moderated && o->role != ROLE_MODERATOR &&
            muc__occ_first_of_nick(r, o)) {
            enum muc_role role = muc__default_role(r, aff);
            if (role != o->role) {
                muc__set_nick_role(r, o, role);
                muc__broadcast_presence(r, o, false, NULL, 0, NULL, NULL, NULL);
            }
        }
        o = o->next;
    }
}


static void owner_set(struct muc_room *r, const struct signal *sig, const struct xml_node *q)
{
    const struct xml_node *destroy = xml_node_child(q, NS_MUC_OWNER, "destroy");
    if (destroy) {
        struct buf reason, password;
        buf_init(&reason, 4096);
        buf_init(&password, 4096);
        const struct xml_node *rs = xml_node_child(destroy, NS_MUC_OWNER, "reason");
        const struct xml_node *pw = xml_node_child(destroy, NS_MUC_OWNER, "password");
        if (rs) {
            xml_node_text(rs, &reason);
        }
        if (pw) {
            xml_node_text(pw, &password);
        }
        /* Removed from the store first: a room that stays stored is not destroyed. */
        int rc = store_muc_room_delete(worker_ctx()->store, r->jid);
        if (rc != 0) {
            log_rec(LOG_TAG_XMPPS, LOG_FAILURES, 0, r->jid, "cannot remove the room: %s",
                    store_last_error(worker_ctx()->store));
            const char *type;
            const char *cond = signal_store_condition(rc, &type);
            muc__reply_error(sig, type, cond);
        } else {
            muc__reply_result(sig, NULL);
            muc__destroy(r, xml_node_attr(destroy, "jid"), buf_cstr(&reason),
                         pw ? buf_cstr(&password) : NULL);
        }
        buf_cleanup(&reason);
        buf_cleanup(&password);
        return;
    }
    const struct xml_node *x = xml_node_child(q, NS_XDATA, "x");
    const char *xtype = x ? xml_node_attr(x, "type") : NULL;
    if (x == NULL || xtype == NULL) {
        muc__reply_error(sig, "modify", "bad-request");
        return;
    }
    if (strcmp(xtype, "cancel") == 0) {
        /* §10.1.3: cancelling the initial configuration destroys the locked room. */
        muc__reply_result(sig, NULL);
        if (r->locked) {
            muc__destroy(r, NULL, NULL, NULL);
        }
        return;
    }
    if (strcmp(xtype, "submit") != 0) {
        muc__reply_error(sig, "modify", "bad-request");
        return;
    }
    struct muc_config next = r->cfg;
    struct muc_config old = r->cfg;
    const char *err = apply_form(r, x, &next);
    if (err) {
        muc__reply_error(sig, muc__store_condition(err) ? "wait" : "modify", err);
        return;
    }
    bool was_locked = r->locked;
    r->cfg = next;
    r->locked = false;
    /* Stored first (or removed from the store when no longer persistent): a configuration that
     * is not stored is refused and the room keeps the old one. */
    int rc = muc__save(r);
    if (rc != 0) {
        r->cfg = old;
        r->locked = was_locked;
        const char *type;
        const char *cond = signal_store_condition(rc, &type);
        muc__reply_error(sig, type, cond);
        return;
    }
    muc__hist_resize(r, r->cfg.history);
    muc__reply_result(sig, NULL);
    /* The first configuration (unlocking the room) is a change from the defaults too. */
    config_changed(r, &old);
    muc__directory_update(r);
}

void muc__owner_iq(struct muc_room *r, const struct signal *sig, const struct xml_node *q)
{
    if (muc__aff_of(r, &sig->from) != AFF_OWNER) {
        muc__reply_error(sig, "auth", "forbidden");
        return;
    }
    if (sig->type && strcmp(sig->type, "get") == 0) {
        muc__reply_result(sig, config_form(r));
    } else {
        owner_set(r, sig, q);
    }
}

void muc__destroy(struct muc_room *r, const char *alt, const char *reason, const char *password)
{
    for (struct muc_occupant *o = r->occupants; o; o = o->next) {
        struct xml_node *p = xml_node_new(NS_CLIENT, "presence");
        xml_node_set_attr(p, "type", "unavailable");
        struct xml_node *x = xml_node_add_child(p, NS_MUC_USER, "x");
        struct xml_node *item = xml_node_add_child(x, NULL, "item");
        xml_node_set_attr(item, "affiliation", "none");
        xml_node_set_attr(item, "role", "none");
        struct xml_node *d = xml_node_add_child(x, NULL, "destroy");
        if (alt) {
            xml_node_set_attr(d, "jid", alt);
        }
        if (reason && reason[0]) {
            struct xml_node *rs = xml_node_add_child(d, NULL, "reason");
            xml_node_add_text(rs, reason, strlen(reason));
        }
        if (password && password[0]) {
            struct xml_node *pw = xml_node_add_child(d, NULL, "password");
            xml_node_add_text(pw, password, strlen(password));
        }
        xml_node_set_attr(xml_node_add_child(x, NULL, "status"), "code", "110");
        muc__send(r, o->nick, &o->real, SIGNAL_NOTIFY, p);
    }
    while (r->occupants) {
        muc__remove_occupant(r, r->occupants);
    }
    store_muc_room_delete(worker_ctx()->store, r->jid);
    r->destroyed = true;
    log_rec(LOG_TAG_XMPPS, LOG_MAJOR, 0, r->jid, "room destroyed");
}

/* ---- disco#info (§6.4) ---- */

static void feature(struct xml_node *q, const char *var)
{
    xml_node_set_attr(xml_node_add_child(q, NULL, "feature"), "var", var);
}

void muc__disco_info(struct muc_room *r, const struct signal *sig)
{
    if (r->locked && muc__aff_of(r, &sig->from) != AFF_OWNER) {
        muc__reply_error(sig, "cancel", "item-not-found");
        return;
    }
    const struct muc_config *c = &r->cfg;
    struct xml_node *q = xml_node_new(NS_DISCO_INFO, "query");
    struct xml_node *id = xml_node_add_child(q, NULL, "identity");
    xml_node_set_attr(id, "category", "conference");
    xml_node_set_attr(id, "type", "text");
    xml_node_set_attr(id, "name", c->name[0] ? c->name : r->bare.local);
    feature(q, NS_MUC);
    feature(q, NS_DISCO_INFO);
    feature(q, NS_DISCO_ITEMS);
    feature(q, NS_OCCUPANT_ID);
    feature(q, NS_MUC_SELF_PING);
    feature(q, NS_REGISTER);
    feature(q, c->persistent ? "muc_persistent" : "muc_temporary");
    if (muc__archiving(r)) {
        feature(q, NS_MAM);
        feature(q, NS_MAM_EXTENDED);
        feature(q, NS_FULLTEXT);
    }
    feature(q, c->public_room ? "muc_public" : "muc_hidden");
    feature(q, c->members_only ? "muc_membersonly" : "muc_open");
    feature(q, c->moderated ? "muc_moderated" : "muc_unmoderated");
    feature(q, c->non_anonymous ? "muc_nonanonymous" : "muc_semianonymous");
    feature(q, c->password_protected ? "muc_passwordprotected" : "muc_unsecured");
    struct xml_node *x = xml_node_add_child(q, NS_XDATA, "x");
    xml_node_set_attr(x, "type", "result");
    field(x, "hidden", "FORM_TYPE", NULL, NS_MUC_ROOMINFO);
    field(x, "text-single", "muc#roominfo_description", "Description", c->desc);
    char n[32];
    snprintf(n, sizeof(n), "%d", muc__nick_count(r));
    field(x, "text-single", "muc#roominfo_occupants", "Number of occupants", n);
    field(x, "text-single", "muc#roominfo_subject", "Subject", r->subject ? r->subject : "");
    field(x, "boolean", "muc#roominfo_subjectmod", "Subject may be changed by participants",
          b01(c->change_subject));
    field(x, "text-single", "muc#roomconfig_roomname", "Name", c->name);
    snprintf(n, sizeof(n), "%d", c->history);
    field(x, "text-single", "muc#maxhistoryfetch", NULL, n);
    snprintf(n, sizeof(n), "%d", c->max_users);
    if (c->max_users > 0) {
        field(x, "text-single", "muc#roomconfig_maxusers", NULL, n);
    }
    field(x, "list-single", "muc#roomconfig_allowpm", NULL, pm_names[c->allow_pm]);
    muc__reply_result(sig, q);
}
