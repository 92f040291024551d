/* jid.c: JID parsing and stringprep preparation on libidn. */
#include "jid/jid.h"

#include <arpa/inet.h>
#include <idna.h>
#include <stdlib.h>
#include <string.h>
#include <stringprep.h>

#include "core/err.h"
#include "core/utf8.h"

/* stringprep works in place on a fixed buffer; NFKC can grow the text, so leave room. */
#define PREP_BUF ((JID_PART_MAX + 1) * 4)


/* Runs one stringprep profile over `in` into `tmp` (PREP_BUF bytes); returns the prepared
 * length or ERR_INVAL. Unassigned code points are allowed (query semantics), as most servers do,
 * so that newer characters (emoji in resources) are accepted. */
/* Printable ASCII, the common case, prepared without libidn. In these profiles (RFC 3920
 * App. A and B, RFC 3491) such a string maps only by case folding (B.2, in nodeprep and
 * nameprep; resourceprep maps nothing), has no bidirectional characters, and is prohibited only
 * for ASCII space (C.1.1, not in resourceprep) and, in nodeprep, " & ' / : < > @. Returns the
 * length, ERR_INVAL, or 0 when the string is not printable ASCII (libidn decides then). */
static int prep_ascii(struct strv in, const Stringprep_profile *profile, char *tmp)
{
    bool node = profile == stringprep_xmpp_nodeprep;
    bool resource = profile == stringprep_xmpp_resourceprep;
    if (!node && !resource && profile != stringprep_nameprep) {
        return 0;
    }
    for (size_t i = 0; i < in.len; i++) {
        unsigned char c = (unsigned char)in.p[i];
        if (c < 0x20 || c > 0x7e) {
            return 0;
        }
    }
    for (size_t i = 0; i < in.len; i++) {
        char c = in.p[i];
        if (c == ' ' && !resource) {
            return ERR_INVAL;
        }
        if (node && strchr("\"&'/:<>@", c) != NULL) {
            return ERR_INVAL;
        }
        tmp[i] = (!resource && c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
    }
    tmp[in.len] = '\0';
    return (int)in.len;
}

static int prep(struct strv in, const Stringprep_profile *profile, char *tmp)
{
    if (in.len == 0 || in.len >= PREP_BUF || !utf8_valid(in)) {
        return ERR_INVAL;
    }
    if (in.len <= JID_PART_MAX) {
        int fast = prep_ascii(in, profile, tmp);
        if (fast != 0) {
            return fast;
        }
    }
    memcpy(tmp, in.p, in.len);
    tmp[in.len] = '\0';
    if (stringprep(tmp, PREP_BUF, 0, profile) != STRINGPREP_OK) {
        return ERR_INVAL;
    }
    size_t len = strlen(tmp);
    if (len == 0 || len > JID_PART_MAX) {
        return ERR_INVAL;
    }
    return (int)len;
}

static int set_out(struct buf *out, const char *s, size_t len)
{
    buf_reset(out);
    return buf_append(out, s, len);
}

/* "[v6]" literal: validated and written in the canonical inet_ntop form. */
static int prep_ip6_literal(struct strv in, char *tmp)
{
    char addr[INET6_ADDRSTRLEN + 1];
    struct in6_addr a6;
    if (in.len < 3 || in.p[in.len - 1] != ']' || in.len - 2 >= sizeof(addr)) {
        return ERR_INVAL;
    }
    memcpy(addr, in.p + 1, in.len - 2);
    addr[in.len - 2] = '\0';
    if (inet_pton(AF_INET6, addr, &a6) != 1 ||
        inet_ntop(AF_INET6, &a6, addr, sizeof(addr)) == NULL) {
        return ERR_INVAL;
    }
    size_t n = strlen(addr);
    tmp[0] = '[';
    memcpy(tmp + 1, addr, n);
    tmp[n + 1] = ']';
    tmp[n + 2] = '\0';
    return (int)n + 2;
}

static bool host_ascii_ok(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_' || c >= 0x80;
}

/* Checks a nameprep'd hostname: non-empty labels, hostname characters in the ASCII range
 * (underscore tolerated for test setups), and each label at most 63 bytes once ACE-encoded. */
static bool host_valid(const char *h, size_t len)
{
    bool ascii = true;
    size_t label = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)h[i];
        if (c == '.') {
            if (label == 0) {
                return false;
            }
            label = 0;
            continue;
        }
        if (!host_ascii_ok(c)) {
            return false;
        }
        if (c >= 0x80) {
            ascii = false;
        }
        if (++label > 63 && ascii) {
            return false;
        }
    }
    if (label == 0) {
        return false;
    }
    if (!ascii) {
        char *ace = NULL;
        int rc = idna_to_ascii_8z(h, &ace, 0);
        free(ace);
        if (rc != IDNA_SUCCESS) {
            return false;
        }
    }
    return true;
}

static int prep_domain(struct strv in, char *tmp)
{
    if (in.len > 0 && in.p[0] == '[') {
        return prep_ip6_literal(in, tmp);
    }
    int len = prep(in, stringprep_nameprep, tmp);
    if (len < 0) {
        return len;
    }
    if (tmp[len - 1] == '.') {
        tmp[--len] = '\0';
    }
    if (len == 0 || !host_valid(tmp, (size_t)len)) {
        return ERR_INVAL;
    }
    return len;
}

int jid_nodeprep(struct strv in, struct buf *out)
{
    char tmp[PREP_BUF];
    int len = prep(in, stringprep_xmpp_nodeprep, tmp);
    return len < 0 ? len : set_out(out, tmp, (size_t)len);
}

int jid_nameprep(struct strv in, struct buf *out)
{
    char tmp[PREP_BUF];
    int len = prep_domain(in, tmp);
    return len < 0 ? len : set_out(out, tmp, (size_t)len);
}

int jid_resourceprep(struct strv in, struct buf *out)
{
    char tmp[PREP_BUF];
    int len = prep(in, stringprep_xmpp_resourceprep, tmp);
    return len < 0 ? len : set_out(out, tmp, (size_t)len);
}

int jid_parse(struct jid *out, struct strv text)
{
    char tmp[PREP_BUF];
    struct strv local = STRV_NULL;
    struct strv domain = text;
    struct strv resource = STRV_NULL;
    bool has_local = false;
    bool has_resource = false;
    int len;

    memset(out, 0, sizeof(*out));
    const char *slash = text.len ? memchr(text.p, '/', text.len) : NULL;
    if (slash != NULL) {
        has_resource = true;
        domain.len = (size_t)(slash - text.p);
        resource.p = slash + 1;
        resource.len = text.len - domain.len - 1;
    }
    const char *at = domain.len ? memrchr(domain.p, '@', domain.len) : NULL;
    if (at != NULL) {
        has_local = true;
        local.p = domain.p;
        local.len = (size_t)(at - domain.p);
        domain.p = at + 1;
        domain.len -= local.len + 1;
    }

    if (has_local) {
        len = prep(local, stringprep_xmpp_nodeprep, tmp);
        if (len < 0) {
            goto fail;
        }
        out->local = strv_dup((struct strv){ tmp, (size_t)len });
    }
    len = prep_domain(domain, tmp);
    if (len < 0) {
        goto fail;
    }
    out->domain = strv_dup((struct strv){ tmp, (size_t)len });
    if (has_resource) {
        len = prep(resource, stringprep_xmpp_resourceprep, tmp);
        if (len < 0) {
            goto fail;
        }
        out->resource = strv_dup((struct strv){ tmp, (size_t)len });
    }
    return 0;

fail:
    jid_cleanup(out);
    return ERR_INVAL;
}

void jid_cleanup(struct jid *j)
{
    free(j->local);
    free(j->domain);
    free(j->resource);
    memset(j, 0, sizeof(*j));
}

int jid_copy(struct jid *dst, const struct jid *src)
{
    dst->local = src->local ? xstrdup(src->local) : NULL;
    dst->domain = src->domain ? xstrdup(src->domain) : NULL;
    dst->resource = src->resource ? xstrdup(src->resource) : NULL;
    return 0;
}

int jid_bare(const struct jid *j, struct buf *out)
{
    buf_reset(out);
    if (j->local != NULL && (buf_append_c(out, j->local) != 0 || buf_append_char(out, '@') != 0)) {
        buf_reset(out);
        return ERR_LIMIT;
    }
    if (buf_append_c(out, j->domain) != 0) {
        buf_reset(out);
        return ERR_LIMIT;
    }
    return 0;
}

int jid_full(const struct jid *j, struct buf *out)
{
    int rc = jid_bare(j, out);
    if (rc == 0 && j->resource != NULL &&
        (buf_append_char(out, '/') != 0 || buf_append_c(out, j->resource) != 0)) {
        buf_reset(out);
        rc = ERR_LIMIT;
    }
    return rc;
}

static bool part_eq(const char *a, const char *b)
{
    if (a == NULL || b == NULL) {
        return a == b;
    }
    return strcmp(a, b) == 0;
}

bool jid_bare_eq(const struct jid *a, const struct jid *b)
{
    return part_eq(a->local, b->local) && part_eq(a->domain, b->domain);
}

bool jid_bare_is(const struct jid *j, const char *bare)
{
    size_t ll = strlen(j->local);
    return strncmp(bare, j->local, ll) == 0 && bare[ll] == '@' &&
           strcmp(bare + ll + 1, j->domain) == 0;
}

static size_t hash_more(size_t h, const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        h = h * 33 + *p;
    }
    return h;
}

size_t jid_text_hash(const char *text)
{
    return hash_more(5381, text);
}

size_t jid_bare_hash(const struct jid *j)
{
    return hash_more(hash_more(5381, j->local) * 33 + '@', j->domain);
}

bool jid_eq(const struct jid *a, const struct jid *b)
{
    return jid_bare_eq(a, b) && part_eq(a->resource, b->resource);
}
