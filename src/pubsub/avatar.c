/* avatar.c: XEP-0398 both ways between the vCard's PHOTO (XEP-0054/0153) and the XEP-0084 PEP
 * avatar nodes (data: the base64 image under its SHA-1; metadata: its description). */
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>

#include "auth/sasl.h"
#include "core/err.h"
#include "core/server.h"
#include "core/settings.h"
#include "pubsub/pubsub_int.h"
#include "store/store_pubsub.h"
#include "xml/ns.h"

/* Set while a vCard's photo is published as avatar, so that the metadata publish does not write
 * the vCard back. */
static _Thread_local bool t_converting;

static void text_of(const struct xml_node *n, struct buf *out)
{
    buf_reset(out);
    if (n != NULL) {
        xml_node_text(n, out);
    }
}

/* The base64 text without white space, and the hex SHA-1 and size of what it decodes to. */
static int decode(const struct buf *text, struct buf *packed, char id[41], size_t *bytes)
{
    for (size_t i = 0; i < text->len; i++) {
        char ch = text->p[i];
        if (ch != ' ' && ch != '\n' && ch != '\r' && ch != '\t') {
            buf_append_char(packed, ch);
        }
    }
    struct buf bin;
    buf_init(&bin, packed->len + 4);
    int rc = packed->len > 0 ? sasl_b64_decode(buf_strv(packed), &bin) : ERR_INVAL;
    if (rc == 0) {
        unsigned char md[EVP_MAX_MD_SIZE];
        unsigned int n = 0;
        EVP_Digest(bin.p ? bin.p : "", bin.len, md, &n, EVP_sha1(), NULL);
        for (unsigned int i = 0; i < n && i < 20; i++) {
            snprintf(id + 2 * i, 3, "%02x", md[i]);
        }
        *bytes = bin.len;
    }
    buf_cleanup(&bin);
    return rc;
}

static void publish_avatar(const struct jid *account, const char *type, const struct buf *b64,
                           const char *id, size_t bytes)
{
    struct xml_node *data = xml_node_new(NS_AVATAR_DATA, "data");
    xml_node_add_text(data, b64->p, b64->len);
    int rc = pubsub__publish_as_owner(account, NS_AVATAR_DATA, id, data, NULL);
    xml_node_unref(data);
    if (rc != 0) {
        return;
    }
    struct xml_node *meta = xml_node_new(NS_AVATAR_METADATA, "metadata");
    struct xml_node *info = xml_node_add_child(meta, NULL, "info");
    char n[32];
    snprintf(n, sizeof(n), "%zu", bytes);
    xml_node_set_attr(info, "bytes", n);
    xml_node_set_attr(info, "id", id);
    xml_node_set_attr(info, "type", type[0] ? type : "image/png");
    pubsub__publish_as_owner(account, NS_AVATAR_METADATA, id, meta, NULL);
    xml_node_unref(meta);
}

void pubsub__vcard_stored(const struct jid *account, const struct xml_node *vcard)
{
    const struct xml_node *photo = xml_node_child(vcard, NS_VCARD, "PHOTO");
    const struct xml_node *binval = photo ? xml_node_child(photo, NS_VCARD, "BINVAL") : NULL;
    if (binval == NULL) {
        return;
    }
    size_t max = (size_t)worker_ctx()->cfg->pubsub.max_payload_size;
    struct buf text, packed, type;
    buf_init(&text, max);
    buf_init(&packed, max);
    buf_init(&type, 256);
    text_of(binval, &text);
    text_of(xml_node_child(photo, NS_VCARD, "TYPE"), &type);
    char id[41] = "";
    size_t bytes = 0;
    if (decode(&text, &packed, id, &bytes) == 0) {
        t_converting = true;
        publish_avatar(account, buf_cstr(&type), &packed, id, bytes);
        t_converting = false;
    }
    buf_cleanup(&text);
    buf_cleanup(&packed);
    buf_cleanup(&type);
}

struct data_find {
    struct buf *b64;
    bool found;
};

static int data_row(void *ud, const char *id, const char *publisher, const char *payload)
{
    (void)id;
    (void)publisher;
    struct data_find *f = ud;
    struct xml_node *d = payload[0] ? pubsub__parse(payload) : NULL;
    if (d != NULL) {
        text_of(d, f->b64);
        f->found = true;
        xml_node_unref(d);
    }
    return 0;
}

void pubsub__avatar_published(const struct jid *owner, const struct xml_node *metadata)
{
    if (t_converting) {
        return;
    }
    const struct xml_node *info = metadata ? xml_node_child(metadata, NULL, "info") : NULL;
    for (; info && xml_node_attr(info, "url") != NULL; info = xml_node_next_element(info)) {
    }
    if (info == NULL || strcmp(info->name, "info") != 0) {
        /* No avatar (an empty <metadata/>) or only ones hosted elsewhere. */
        if (metadata != NULL && xml_node_first_element(metadata) == NULL) {
            services_vcard_set_photo(owner->local, owner->domain, "", (struct strv){ "", 0 });
        }
        return;
    }
    const char *id = xml_node_attr(info, "id");
    const char *type = xml_node_attr(info, "type");
    if (id == NULL) {
        return;
    }
    struct buf host, b64;
    buf_init(&host, 3 * 1024 + 2);
    buf_init(&b64, (size_t)worker_ctx()->cfg->pubsub.max_payload_size);
    pubsub__host(owner, &host);
    struct data_find f = { &b64, false };
    store_pubsub_items(worker_ctx()->store, buf_cstr(&host), NS_AVATAR_DATA, id, -1, data_row, &f);
    if (f.found && b64.len > 0) {
        services_vcard_set_photo(owner->local, owner->domain, type ? type : "image/png",
                                 buf_strv(&b64));
    }
    buf_cleanup(&host);
    buf_cleanup(&b64);
}
