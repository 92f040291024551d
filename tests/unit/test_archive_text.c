/* test_archive_text.c: a message's archived text shared by its two local parties
 * (src/archive/writer.c): its references (the signal's attachment, copies of the signal, the
 * queued rows), when the recipient's side may reuse it, and the writer storing it once. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "archive/archive_int.h"
#include "core/err.h"
#include "signal/signal.h"
#include "store/store.h"
#include "store/store_int.h"

static struct signal *message(const char *from, const char *to)
{
    struct signal *sig = signal_new(SIGNAL_MESSAGE);
    assert_int_equal(jid_parse(&sig->from, strv_c(from)), 0);
    assert_int_equal(jid_parse(&sig->to, strv_c(to)), 0);
    sig->type = strdup("chat");
    sig->xmpp_data = xml_node_new("jabber:client", "message");
    return sig;
}

static int refs(struct archive_text *t)
{
    return atomic_load(&archive__text_ref(t)->refs);
}

/* When the recipient's side may take the sender's text: the same data and addresses only. */
static void test_fits(void **state)
{
    (void)state;
    struct signal *sig = message("alice@example.com/phone", "bob@example.com");
    struct archive_text *t =
        archive__text_new(sig, "alice@example.com", "bob@example.com", "<message/>", NULL);
    assert_true(archive__text_fits(t, sig, "bob@example.com", "alice@example.com"));
    assert_string_equal(archive__text_stanza(t), "<message/>");
    /* `to` rewritten (an alias made canonical): another text */
    assert_false(archive__text_fits(t, sig, "bob@alias.example", "alice@example.com"));
    struct signal *res = message("alice@example.com/laptop", "bob@example.com");
    assert_false(archive__text_fits(t, res, "bob@example.com", "alice@example.com"));
    struct signal *full = message("alice@example.com/phone", "bob@example.com/x");
    assert_false(archive__text_fits(t, full, "bob@example.com", "alice@example.com"));
    /* other data (a replaced P-XMPP-Data) */
    struct signal *other = message("alice@example.com/phone", "bob@example.com");
    assert_false(archive__text_fits(t, other, "bob@example.com", "alice@example.com"));
    /* The text holds the tree it was made from: the signal's own reference gone, its address
     * is still that tree's, and it still fits a signal holding it. */
    struct xml_node *data = xml_node_ref(sig->xmpp_data);
    xml_node_unref(sig->xmpp_data);
    sig->xmpp_data = data;
    assert_true(archive__text_fits(t, sig, "bob@example.com", "alice@example.com"));
    /* Once the recipient's side compared it, nothing fits any more. */
    archive__text_compared(t);
    assert_false(archive__text_fits(t, sig, "bob@example.com", "alice@example.com"));
    signal_ref_put(archive__text_ref(t));
    signal_free(sig);
    signal_free(res);
    signal_free(full);
    signal_free(other);
}

/* The attachment's references: copies of the signal share it, freeing them releases it,
 * detaching hands it over; an attachment of another kind is no archive text. */
static void test_attachment_references(void **state)
{
    (void)state;
    struct signal *sig = message("alice@example.com/phone", "bob@example.com");
    struct archive_text *t =
        archive__text_new(sig, "alice@example.com", "bob@example.com", "<message/>", "hi");
    signal_attach(sig, archive__text_ref(t));
    assert_int_equal(refs(t), 1);
    struct signal *copy = signal_dup(sig);
    assert_ptr_equal(copy->att, archive__text_ref(t));
    assert_int_equal(refs(t), 2);
    signal_free(copy);
    assert_int_equal(refs(t), 1);
    assert_ptr_equal(archive__text_of(sig->att), t);
    struct signal_ref *r = signal_detach(sig);
    assert_null(sig->att);
    assert_int_equal(refs(t), 1);
    signal_free(sig); /* no attachment left: t stays */
    assert_int_equal(refs(t), 1);
    signal_ref_put(r); /* the last: freed (ASan checks) */
    assert_null(archive__text_of(NULL));
}

struct fixture {
    char dir[64];
    char path[128];
    struct store *st;
};

/* A store with alice and bob, and the writer on it taking one row per batch. */
static void writer_up(struct fixture *f)
{
    snprintf(f->dir, sizeof(f->dir), "/tmp/starling-atext-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->path, sizeof(f->path), "%s/starling.db", f->dir);
    char err[256] = "";
    f->st = store_open(f->path, err, sizeof(err));
    assert_non_null(f->st);
    assert_int_equal(store_domain_add(f->st, "example.com"), 0);
    assert_int_equal(store_account_add(f->st, "example.com", "alice", "x"), 0);
    assert_int_equal(store_account_add(f->st, "example.com", "bob", "x"), 0);
    setenv("STARLING_ARCHIVE_BATCH_MAX", "1", 1); /* each row its own batch */
    assert_int_equal(archive_start(f->path, err, sizeof(err)), 0);
    unsetenv("STARLING_ARCHIVE_BATCH_MAX");
}

static void writer_down(struct fixture *f)
{
    archive_stop();
    store_close(f->st);
    const char *suffix[] = { "", "-wal", "-shm" };
    char p[160];
    for (size_t i = 0; i < 3; i++) {
        snprintf(p, sizeof(p), "%s%s", f->path, suffix[i]);
        unlink(p);
    }
    rmdir(f->dir);
}

static long long count(struct store *st, const char *sql)
{
    long long n = -1;
    assert_int_equal(store__query_one(st, sql, STORE_NO_ARGS, NULL, &n), 0);
    return n;
}

static struct archive_text *pair_text(const struct signal *sig)
{
    return archive__text_new(sig, "alice@example.com", "bob@example.com",
                             "<message><body>hi</body></message>", "hi");
}

/* The writer: both parties' rows (and a second row of the same side: a copy of the signal)
 * hold references until written; one stored stanza for all, also across batches. */
static void test_writer_stores_once(void **state)
{
    (void)state;
    struct fixture f;
    writer_up(&f);
    struct signal *sig = message("alice@example.com/phone", "bob@example.com");
    struct archive_text *t = pair_text(sig);
    archive__enqueue_text(t, true, archive_new_id());
    archive__enqueue_text(t, false, archive_new_id());
    archive__enqueue_text(t, false, archive_new_id());
    assert_true(refs(t) >= 1 && refs(t) <= 4);
    archive_sync();
    assert_int_equal(refs(t), 1); /* the rows' references went with their batches */
    assert_int_equal(count(f.st, "SELECT count(*) FROM archive_stanza"), 1);
    assert_int_equal(count(f.st, "SELECT count(*) FROM archive_idx"), 3);
    assert_int_equal(count(f.st, "SELECT count(DISTINCT sid) FROM archive_idx"), 1);
    signal_ref_put(archive__text_ref(t));
    signal_free(sig);
    writer_down(&f);
}

/* The sender's batch fails (its index row's write): rolled back, its stored stanza with it;
 * the recipient's batch does not use the forgotten key but writes the text itself. */
static void test_writer_rollback_forgets_the_key(void **state)
{
    (void)state;
    struct fixture f;
    writer_up(&f);
    struct signal *sig = message("alice@example.com/phone", "bob@example.com");
    struct archive_text *t = pair_text(sig);
    assert_int_equal(store_fault_set("table=archive_idx,count=1"), 0);
    archive__enqueue_text(t, true, archive_new_id());
    archive_sync();
    assert_int_equal(store_fault_set(""), 0);
    assert_int_equal(count(f.st, "SELECT count(*) FROM archive_stanza"), 0);
    long long id = archive_new_id();
    archive__enqueue_text(t, false, id);
    archive_sync();
    assert_int_equal(count(f.st, "SELECT count(*) FROM archive_idx"), 1);
    assert_int_equal(count(f.st, "SELECT sid FROM archive_idx"), id);
    assert_int_equal(count(f.st, "SELECT id FROM archive_stanza"), id);
    signal_ref_put(archive__text_ref(t));
    signal_free(sig);
    writer_down(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fits),
        cmocka_unit_test(test_attachment_references),
        cmocka_unit_test(test_writer_stores_once),
        cmocka_unit_test(test_writer_rollback_forgets_the_key),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
