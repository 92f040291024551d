/* caps.c: XEP-0115 entity capabilities: the verification string of a disco#info result (pure:
 * no server state, unit-tested alone). */
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "core/err.h"
#include "services/services.h"
#include "xml/ns.h"

#define CAPS_MAX_ITEMS 512

static const char *attr_or_empty(const struct xml_node *n, const char *name)
{
    const char *v = xml_node_attr(n, name);
    return v ? v : "";
}

static const char *lang_of(const struct xml_node *n)
{
    const char *v = xml_node_attr_ns(n, NS_XML, "lang");
    return v ? v : "";
}

/* §5.1 step 2: identities by category, type, xml:lang (octet order); name breaks ties. */
static int cmp_identity(const void *a, const void *b)
{
    const struct xml_node *x = *(const struct xml_node *const *)a;
    const struct xml_node *y = *(const struct xml_node *const *)b;
    int c = strcmp(attr_or_empty(x, "category"), attr_or_empty(y, "category"));
    if (c == 0) {
        c = strcmp(attr_or_empty(x, "type"), attr_or_empty(y, "type"));
    }
    if (c == 0) {
        c = strcmp(lang_of(x), lang_of(y));
    }
    if (c == 0) {
        c = strcmp(attr_or_empty(x, "name"), attr_or_empty(y, "name"));
    }
    return c;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The text of the first <value/> of a field, "" when none. */
static void field_value(const struct xml_node *field, struct buf *out)
{
    buf_reset(out);
    const struct xml_node *v = xml_node_child(field, NS_XDATA, "value");
    if (v) {
        xml_node_text(v, out);
    }
}

struct form_entry {
    const struct xml_node *form;
    char *form_type;
};

static int cmp_form(const void *a, const void *b)
{
    return strcmp(((const struct form_entry *)a)->form_type,
                  ((const struct form_entry *)b)->form_type);
}

static int cmp_field(const void *a, const void *b)
{
    const struct xml_node *x = *(const struct xml_node *const *)a;
    const struct xml_node *y = *(const struct xml_node *const *)b;
    return strcmp(attr_or_empty(x, "var"), attr_or_empty(y, "var"));
}

/* The FORM_TYPE of a form when it is a hidden field (§5.4: other forms are left out). */
static char *form_type_of(const struct xml_node *form)
{
    for (const struct xml_node *f = xml_node_first_element(form); f; f = xml_node_next_element(f)) {
        if (f->name && strcmp(f->name, "field") == 0 &&
            strcmp(attr_or_empty(f, "var"), "FORM_TYPE") == 0) {
            if (strcmp(attr_or_empty(f, "type"), "hidden") != 0) {
                return NULL;
            }
            struct buf b;
            buf_init(&b, 4096);
            field_value(f, &b);
            char *s = xstrdup(buf_cstr(&b));
            buf_cleanup(&b);
            return s;
        }
    }
    return NULL;
}

/* §5.1 step 5: FORM_TYPE, then each field's var and its sorted values, each followed by '<'. */
static int append_form(struct buf *s, const struct form_entry *fe)
{
    const struct xml_node *fields[CAPS_MAX_ITEMS];
    size_t nf = 0;
    int rc = buf_printf(s, "%s<", fe->form_type);
    for (const struct xml_node *f = xml_node_first_element(fe->form); f && nf < CAPS_MAX_ITEMS;
         f = xml_node_next_element(f)) {
        if (f->name && strcmp(f->name, "field") == 0 &&
            strcmp(attr_or_empty(f, "var"), "FORM_TYPE") != 0) {
            fields[nf++] = f;
        }
    }
    qsort(fields, nf, sizeof(fields[0]), cmp_field);
    struct buf v;
    buf_init(&v, 65536);
    for (size_t i = 0; i < nf && rc == 0; i++) {
        char *values[CAPS_MAX_ITEMS];
        size_t nv = 0;
        rc = buf_printf(s, "%s<", attr_or_empty(fields[i], "var"));
        for (const struct xml_node *c = xml_node_first_element(fields[i]); c && nv < CAPS_MAX_ITEMS;
             c = xml_node_next_element(c)) {
            if (c->name && strcmp(c->name, "value") == 0) {
                buf_reset(&v);
                xml_node_text(c, &v);
                values[nv++] = xstrdup(buf_cstr(&v));
            }
        }
        qsort(values, nv, sizeof(values[0]), cmp_str);
        for (size_t j = 0; j < nv; j++) {
            if (rc == 0) {
                rc = buf_printf(s, "%s<", values[j]);
            }
            free(values[j]);
        }
    }
    buf_cleanup(&v);
    return rc;
}

/* The string S of §5.1 (steps 1–5) for a disco#info query. */
static int caps_string(const struct xml_node *info, struct buf *s)
{
    const struct xml_node *ids[CAPS_MAX_ITEMS];
    const char *features[CAPS_MAX_ITEMS];
    struct form_entry forms[64];
    size_t ni = 0, nfeat = 0, nforms = 0;
    for (const struct xml_node *c = xml_node_first_element(info); c; c = xml_node_next_element(c)) {
        if (c->ns == NULL || strcmp(c->ns, NS_DISCO_INFO) != 0 || c->name == NULL) {
            if (c->ns && strcmp(c->ns, NS_XDATA) == 0 && strcmp(c->name, "x") == 0 &&
                strcmp(attr_or_empty(c, "type"), "result") == 0 && nforms < 64) {
                char *ft = form_type_of(c);
                if (ft) {
                    forms[nforms++] = (struct form_entry){ c, ft };
                }
            }
            continue;
        }
        if (strcmp(c->name, "identity") == 0 && ni < CAPS_MAX_ITEMS) {
            ids[ni++] = c;
        } else if (strcmp(c->name, "feature") == 0 && nfeat < CAPS_MAX_ITEMS) {
            features[nfeat++] = attr_or_empty(c, "var");
        }
    }
    qsort(ids, ni, sizeof(ids[0]), cmp_identity);
    qsort(features, nfeat, sizeof(features[0]), cmp_str);
    qsort(forms, nforms, sizeof(forms[0]), cmp_form);
    int rc = 0;
    for (size_t i = 0; i < ni && rc == 0; i++) {
        rc = buf_printf(s, "%s/%s/%s/%s<", attr_or_empty(ids[i], "category"),
                        attr_or_empty(ids[i], "type"), lang_of(ids[i]),
                        attr_or_empty(ids[i], "name"));
    }
    for (size_t i = 0; i < nfeat && rc == 0; i++) {
        rc = buf_printf(s, "%s<", features[i]);
    }
    for (size_t i = 0; i < nforms; i++) {
        if (rc == 0) {
            rc = append_form(s, &forms[i]);
        }
        free(forms[i].form_type);
    }
    return rc;
}

int services_caps_ver(const struct xml_node *info, struct buf *out)
{
    struct buf s;
    buf_init(&s, 1 << 20);
    int rc = caps_string(info, &s);
    if (rc == 0) {
        unsigned char md[EVP_MAX_MD_SIZE];
        unsigned int mdlen = 0;
        unsigned char b64[4 * ((EVP_MAX_MD_SIZE + 2) / 3) + 1];
        EVP_Digest(s.p ? s.p : "", s.len, md, &mdlen, EVP_sha1(), NULL);
        int n = EVP_EncodeBlock(b64, md, (int)mdlen);
        buf_reset(out);
        rc = buf_append(out, b64, (size_t)n);
    }
    buf_cleanup(&s);
    return rc;
}
