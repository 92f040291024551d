/* test_tls.c: certificate store, in-memory handshakes with an OpenSSL client, channel binding. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "core/err.h"
#include "tls/internal.h"
#include "tls/tls.h"
#include "testutil.h"

/* ---- helpers: temporary directory ---- */

struct fixture {
    char dir[64];
    struct tls_store *ts;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    char err[256] = "";
    snprintf(f->dir, sizeof(f->dir), "/tmp/starling-tls-XXXXXX");
    if (mkdtemp(f->dir) == NULL) {
        free(f);
        return -1;
    }
    f->ts = tls_store_new(f->dir, err, sizeof(err));
    if (f->ts == NULL) {
        fprintf(stderr, "tls_store_new: %s\n", err);
        return -1;
    }
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    tls_store_free(f->ts);
    test_rmtree(f->dir);
    free(f);
    return 0;
}

static void add_domain(struct tls_store *ts, const char *domain, bool want_generated)
{
    char err[256] = "";
    bool generated = !want_generated;
    int rc = tls_store_add_domain(ts, domain, &generated, err, sizeof(err));
    if (rc != 0) {
        fail_msg("tls_store_add_domain(%s): %d %s", domain, rc, err);
    }
    assert_int_equal(generated, want_generated);
}

/* ---- helpers: an OpenSSL client over memory BIOs talking to a tls_conn ---- */

struct pair {
    SSL_CTX *cctx;
    SSL *cli;
    BIO *cli_in;  /* what the client reads (server output goes here) */
    BIO *cli_out; /* what the client writes */
    struct tls_conn *srv;
    struct buf plain; /* server-side plaintext */
    int srv_rc;
};

static SSL_CTX *client_ctx(int max_version)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    assert_non_null(ctx);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
    if (max_version != 0) {
        assert_int_equal(SSL_CTX_set_max_proto_version(ctx, max_version), 1);
    }
    return ctx;
}

/* Takes ownership of cctx. */
static void pair_init(struct pair *p, struct tls_store *ts, SSL_CTX *cctx, const char *sni)
{
    memset(p, 0, sizeof(*p));
    p->cctx = cctx;
    p->cli = SSL_new(cctx);
    assert_non_null(p->cli);
    p->cli_in = BIO_new(BIO_s_mem());
    p->cli_out = BIO_new(BIO_s_mem());
    BIO_set_mem_eof_return(p->cli_in, -1);
    SSL_set_bio(p->cli, p->cli_in, p->cli_out);
    SSL_set_connect_state(p->cli);
    if (sni != NULL) {
        assert_int_equal(SSL_set_tlsext_host_name(p->cli, sni), 1);
    }
    p->srv = tls_conn_new(ts);
    assert_non_null(p->srv);
    buf_init(&p->plain, 1 << 20);
}

static void pair_cleanup(struct pair *p)
{
    SSL_free(p->cli);
    SSL_CTX_free(p->cctx);
    tls_conn_free(p->srv);
    buf_cleanup(&p->plain);
}

/* Moves ciphertext both ways once; returns true when anything moved. */
static bool pump_once(struct pair *p)
{
    char tmp[4096];
    bool moved = false;
    int n;
    while ((n = BIO_read(p->cli_out, tmp, sizeof(tmp))) > 0) {
        assert_int_equal(tls_conn_feed(p->srv, tmp, (size_t)n), 0);
        moved = true;
    }
    p->srv_rc = tls_conn_read(p->srv, &p->plain);
    struct buf out;
    buf_init(&out, 1 << 20);
    int rc = tls_conn_take_output(p->srv, &out);
    assert_int_equal(rc, 0);
    if (out.len > 0) {
        assert_int_equal(BIO_write(p->cli_in, out.p, (int)out.len), (int)out.len);
        moved = true;
    }
    buf_cleanup(&out);
    return moved;
}

/* Runs the handshake to its end; returns true when both sides completed it. */
static bool handshake(struct pair *p)
{
    for (int i = 0; i < 20; i++) {
        if (!SSL_is_init_finished(p->cli)) {
            int r = SSL_do_handshake(p->cli);
            if (r <= 0 && SSL_get_error(p->cli, r) != SSL_ERROR_WANT_READ) {
                ERR_clear_error();
                pump_once(p);
                return false;
            }
        }
        bool moved = pump_once(p);
        if (p->srv_rc != 0) {
            return false;
        }
        if (!moved && SSL_is_init_finished(p->cli) && tls_conn_handshake_done(p->srv)) {
            break;
        }
    }
    /* Lets the client process the server's last flight (TLS 1.3 tickets) without consuming
     * application data. */
    char b[16];
    (void)SSL_peek(p->cli, b, sizeof(b));
    ERR_clear_error();
    return SSL_is_init_finished(p->cli) && tls_conn_handshake_done(p->srv);
}

/* Client to server: `msg` must come out of tls_conn_read as plaintext. */
static void client_send(struct pair *p, const char *msg)
{
    size_t len = strlen(msg);
    assert_int_equal(SSL_write(p->cli, msg, (int)len), (int)len);
    buf_reset(&p->plain);
    pump_once(p);
    assert_int_equal(p->srv_rc, 0);
    assert_int_equal(p->plain.len, len);
    assert_memory_equal(p->plain.p, msg, len);
}

/* Server to client. */
static void server_send(struct pair *p, const char *msg)
{
    char got[256];
    size_t len = strlen(msg);
    assert_int_equal(tls_conn_write(p->srv, msg, len), 0);
    /* Held until sealed (the connection's flush), then one record. */
    assert_int_equal(tls_conn_output_pending(p->srv), 0);
    assert_int_equal(tls_conn_seal(p->srv), 0);
    assert_true(tls_conn_output_pending(p->srv) > len);
    pump_once(p);
    int n = SSL_read(p->cli, got, sizeof(got));
    assert_int_equal(n, (int)len);
    assert_memory_equal(got, msg, len);
}

static void peer_cn(SSL *cli, char *cn, size_t cnlen)
{
    X509 *x = SSL_get0_peer_certificate(cli);
    assert_non_null(x);
    assert_true(
        X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, cn, (int)cnlen) > 0);
}

/* tls-server-end-point as the client computes it: SHA-256 of the server's certificate (our
 * generated certificates are signed with ECDSA-SHA256). */
static void check_server_end_point(struct pair *p)
{
    unsigned char want[EVP_MAX_MD_SIZE];
    unsigned int wlen = 0;
    struct buf cb;
    buf_init(&cb, 256);
    X509 *x = SSL_get0_peer_certificate(p->cli);
    assert_non_null(x);
    assert_int_equal(X509_digest(x, EVP_sha256(), want, &wlen), 1);
    assert_int_equal(tls_conn_channel_binding(p->srv, "tls-server-end-point", &cb), 0);
    assert_int_equal(cb.len, wlen);
    assert_memory_equal(cb.p, want, wlen);
    buf_cleanup(&cb);
}

/* ---- certificate generation (CA and client certificates for EXTERNAL) ---- */

static void add_ext(X509 *issuer, X509 *x, int nid, const char *value)
{
    X509V3_CTX v3;
    X509V3_set_ctx_nodb(&v3);
    X509V3_set_ctx(&v3, issuer, x, NULL, NULL, 0);
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &v3, nid, value);
    assert_non_null(ext);
    assert_int_equal(X509_add_ext(x, ext, -1), 1);
    X509_EXTENSION_free(ext);
}

/* A certificate for `key` named `cn`, signed by (issuer, ikey), or self-signed when issuer is
 * NULL; `san` may be NULL. */
static X509 *make_cert(EVP_PKEY *key, const char *cn, X509 *issuer, EVP_PKEY *ikey, bool ca,
                       const char *san, const char *email)
{
    static long serial = 1;
    X509 *x = X509_new();
    assert_non_null(x);
    X509_set_version(x, X509_VERSION_3);
    ASN1_INTEGER_set(X509_get_serialNumber(x), serial++);
    X509_gmtime_adj(X509_getm_notBefore(x), -3600);
    X509_gmtime_adj(X509_getm_notAfter(x), 86400);
    X509_NAME *name = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const unsigned char *)cn, -1, -1, 0);
    if (email != NULL) {
        X509_NAME_add_entry_by_NID(name, NID_pkcs9_emailAddress, MBSTRING_ASC,
                                   (const unsigned char *)email, -1, -1, 0);
    }
    X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : name);
    X509_set_pubkey(x, key);
    X509 *iss = issuer ? issuer : x;
    if (ca) {
        add_ext(iss, x, NID_basic_constraints, "critical,CA:TRUE");
        add_ext(iss, x, NID_key_usage, "critical,keyCertSign,cRLSign");
    } else {
        add_ext(iss, x, NID_basic_constraints, "CA:FALSE");
        add_ext(iss, x, NID_key_usage, "critical,digitalSignature");
        add_ext(iss, x, NID_ext_key_usage, "clientAuth");
    }
    add_ext(iss, x, NID_subject_key_identifier, "hash");
    if (issuer != NULL) {
        add_ext(iss, x, NID_authority_key_identifier, "keyid:always");
    }
    if (san != NULL) {
        add_ext(iss, x, NID_subject_alt_name, san);
    }
    assert_true(X509_sign(x, issuer ? ikey : key, EVP_sha256()) > 0);
    return x;
}

struct client_id {
    EVP_PKEY *key;
    X509 *cert;
};

struct test_ca {
    EVP_PKEY *key;
    X509 *cert;
    char path[128];
};

static void ca_init(struct test_ca *ca, const char *dir)
{
    ca->key = EVP_EC_gen("P-256");
    assert_non_null(ca->key);
    ca->cert = make_cert(ca->key, "Starling Test CA", NULL, NULL, true, NULL, NULL);
    snprintf(ca->path, sizeof(ca->path), "%s/ca.pem", dir);
    FILE *fp = fopen(ca->path, "w");
    assert_non_null(fp);
    assert_int_equal(PEM_write_X509(fp, ca->cert), 1);
    fclose(fp);
}

static void ca_cleanup(struct test_ca *ca)
{
    X509_free(ca->cert);
    EVP_PKEY_free(ca->key);
}

static void client_id_init(struct client_id *id, struct test_ca *ca, const char *san,
                           const char *email)
{
    id->key = EVP_EC_gen("P-256");
    assert_non_null(id->key);
    id->cert =
        make_cert(id->key, "client", ca ? ca->cert : NULL, ca ? ca->key : NULL, false, san, email);
}

static void client_id_cleanup(struct client_id *id)
{
    X509_free(id->cert);
    EVP_PKEY_free(id->key);
}

/* Handshake presenting `id` (may be NULL) and returns the ids the server extracted. */
static int handshake_with_cert(struct tls_store *ts, struct client_id *id, int max_version,
                               char ***ids)
{
    struct pair p;
    SSL_CTX *cctx = client_ctx(max_version);
    if (id != NULL) {
        assert_int_equal(SSL_CTX_use_certificate(cctx, id->cert), 1);
        assert_int_equal(SSL_CTX_use_PrivateKey(cctx, id->key), 1);
    }
    pair_init(&p, ts, cctx, NULL);
    assert_true(handshake(&p));
    /* The server learns the client's certificate before it can read application data. */
    client_send(&p, "<stream>");
    int n = tls_conn_peer_ids(p.srv, ids);
    pair_cleanup(&p);
    return n;
}

/* ---- tests ---- */

static void test_generate_and_reload(void **state)
{
    struct fixture *f = *state;
    char path[256], err[256] = "";
    struct stat st;

    add_domain(f->ts, "Example.TEST", true);
    assert_true(tls_store_has(f->ts, "example.test"));
    assert_true(tls_store_has(f->ts, "EXAMPLE.test"));
    assert_false(tls_store_has(f->ts, "other.test"));

    snprintf(path, sizeof(path), "%s/example.test.key", f->dir);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    snprintf(path, sizeof(path), "%s/example.test.crt", f->dir);
    assert_int_equal(stat(path, &st), 0);

    /* The certificate: v3, CN, both DNS names, ten years, P-256. */
    FILE *fp = fopen(path, "r");
    assert_non_null(fp);
    X509 *x = PEM_read_X509(fp, NULL, NULL, NULL);
    fclose(fp);
    assert_non_null(x);
    assert_int_equal(X509_get_version(x), X509_VERSION_3);
    char cn[128];
    assert_true(
        X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, cn, sizeof(cn)) > 0);
    assert_string_equal(cn, "example.test");
    assert_int_equal(X509_check_host(x, "example.test", 0, 0, NULL), 1);
    assert_int_equal(X509_check_host(x, "muc.example.test", 0, 0, NULL), 1);
    assert_int_equal(X509_check_host(x, "example.org", 0, 0, NULL), 0);
    int days = 0, secs = 0;
    assert_int_equal(ASN1_TIME_diff(&days, &secs, X509_get0_notBefore(x), X509_get0_notAfter(x)),
                     1);
    assert_in_range(days, 3649, 3651);
    EVP_PKEY *pk = X509_get0_pubkey(x);
    assert_true(EVP_PKEY_is_a(pk, "EC"));
    assert_int_equal(EVP_PKEY_get_bits(pk), 256);
    BIGNUM *serial = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL);
    assert_non_null(serial);
    assert_false(BN_is_negative(serial));
    assert_true(BN_num_bits(serial) > 64);
    BN_free(serial);
    unsigned char fp1[32], fp2[32];
    unsigned int fplen;
    assert_int_equal(X509_digest(x, EVP_sha256(), fp1, &fplen), 1);
    X509_free(x);

    /* Reopened: loaded, not regenerated (same certificate on disk). */
    tls_store_free(f->ts);
    f->ts = tls_store_new(f->dir, err, sizeof(err));
    assert_non_null(f->ts);
    add_domain(f->ts, "example.test", false);
    fp = fopen(path, "r");
    x = PEM_read_X509(fp, NULL, NULL, NULL);
    fclose(fp);
    assert_int_equal(X509_digest(x, EVP_sha256(), fp2, &fplen), 1);
    X509_free(x);
    assert_memory_equal(fp1, fp2, 32);

    /* Adding again reloads in place. */
    add_domain(f->ts, "example.test", false);
    assert_int_equal(tls_store_remove_domain(f->ts, "example.test"), 0);
    assert_false(tls_store_has(f->ts, "example.test"));
    assert_int_equal(tls_store_remove_domain(f->ts, "example.test"), ERR_NOTFOUND);
}

static void test_bad_input_files(void **state)
{
    struct fixture *f = *state;
    char path[256], err[256] = "";
    bool gen = true;

    assert_int_equal(tls_store_add_domain(f->ts, "../etc", &gen, err, sizeof(err)), ERR_INVAL);
    assert_false(gen);
    assert_int_equal(tls_store_add_domain(f->ts, "", &gen, err, sizeof(err)), ERR_INVAL);
    assert_int_equal(tls_store_add_domain(f->ts, "a/b", &gen, err, sizeof(err)), ERR_INVAL);
    assert_int_equal(tls_store_add_domain(f->ts, "a..b", &gen, err, sizeof(err)), ERR_INVAL);

    /* Only one of the two files: an error, never a silent regeneration. */
    snprintf(path, sizeof(path), "%s/half.test.crt", f->dir);
    FILE *fp = fopen(path, "w");
    fputs("not a certificate\n", fp);
    fclose(fp);
    assert_int_equal(tls_store_add_domain(f->ts, "half.test", &gen, err, sizeof(err)), ERR_IO);
    assert_non_null(strstr(err, "half.test.key"));

    /* Both present but garbage. */
    snprintf(path, sizeof(path), "%s/half.test.key", f->dir);
    fp = fopen(path, "w");
    fputs("not a key\n", fp);
    fclose(fp);
    err[0] = '\0';
    assert_int_equal(tls_store_add_domain(f->ts, "half.test", &gen, err, sizeof(err)), ERR_TLS);
    assert_non_null(strstr(err, "half.test.crt"));
    assert_false(tls_store_has(f->ts, "half.test"));

    /* Client CA file that does not exist. */
    snprintf(path, sizeof(path), "%s/nope.pem", f->dir);
    assert_true(tls_store_set_client_ca(f->ts, path, err, sizeof(err)) < 0);
    assert_true(err[0] != '\0');
    assert_int_equal(tls_store_set_client_ca(f->ts, "", err, sizeof(err)), 0);
}

static void test_tls13(void **state)
{
    struct fixture *f = *state;
    struct pair p;
    struct buf cb;
    unsigned char want[32];

    add_domain(f->ts, "example.test", true);
    pair_init(&p, f->ts, client_ctx(0), NULL);
    assert_false(tls_conn_handshake_done(p.srv));
    assert_int_equal(tls_conn_channel_binding(p.srv, "tls-exporter", &p.plain), ERR_NOTFOUND);
    assert_false(tls_conn_channel_binding_offered(p.srv, "tls-exporter"));
    assert_true(handshake(&p));
    assert_string_equal(tls_conn_version(p.srv), "TLSv1.3");
    /* What the features advertise, before any value is computed. */
    assert_true(tls_conn_channel_binding_offered(p.srv, "tls-exporter"));
    assert_true(tls_conn_channel_binding_offered(p.srv, "tls-server-end-point"));
    assert_false(tls_conn_channel_binding_offered(p.srv, "tls-unique"));
    assert_false(tls_conn_channel_binding_offered(p.srv, "tls-bogus"));
    assert_string_equal(SSL_get_version(p.cli), "TLSv1.3");
    assert_string_equal(tls_conn_cipher(p.srv), SSL_get_cipher_name(p.cli));
    assert_null(tls_conn_sni(p.srv));
    assert_string_equal(tls_conn_error(p.srv), "");

    client_send(&p, "<?xml version='1.0'?><stream:stream to='example.test'>");
    server_send(&p, "<stream:stream from='example.test' id='abc'>");
    client_send(&p, "<iq type='get' id='1'/>");

    buf_init(&cb, 256);
    assert_int_equal(tls_conn_channel_binding(p.srv, "tls-exporter", &cb), 0);
    assert_int_equal(SSL_export_keying_material(p.cli, want, sizeof(want),
                                                "EXPORTER-Channel-Binding", 24, NULL, 0, 0),
                     1);
    assert_int_equal(cb.len, 32);
    assert_memory_equal(cb.p, want, 32);
    buf_reset(&cb);
    assert_int_equal(tls_conn_channel_binding(p.srv, "tls-unique", &cb), ERR_NOTFOUND);
    assert_int_equal(tls_conn_channel_binding(p.srv, "tls-bogus", &cb), ERR_NOTFOUND);
    assert_int_equal(cb.len, 0);
    buf_cleanup(&cb);
    check_server_end_point(&p);

    /* No client certificate was requested (no CA): no identities. */
    char **ids = (char **)&p;
    assert_int_equal(tls_conn_peer_ids(p.srv, &ids), 0);
    assert_null(ids);

    /* Server close_notify reaches the client; then the client's ends our read side. */
    assert_int_equal(tls_conn_shutdown(p.srv), 0);
    assert_int_equal(tls_conn_write(p.srv, "x", 1), ERR_CLOSED);
    pump_once(&p);
    char b[8];
    assert_int_equal(SSL_read(p.cli, b, sizeof(b)), 0);
    assert_int_equal(SSL_get_error(p.cli, 0), SSL_ERROR_ZERO_RETURN);
    assert_true(SSL_shutdown(p.cli) >= 0);
    pump_once(&p);
    assert_int_equal(p.srv_rc, ERR_CLOSED);
    assert_int_equal(tls_conn_read(p.srv, &p.plain), ERR_CLOSED);
    pair_cleanup(&p);
}

static void test_tls12_and_resumption(void **state)
{
    struct fixture *f = *state;
    struct pair p;
    struct buf cb;
    unsigned char want[EVP_MAX_MD_SIZE];

    add_domain(f->ts, "example.test", true);
    SSL_CTX *cctx = client_ctx(TLS1_2_VERSION);
    SSL_CTX_up_ref(cctx);
    pair_init(&p, f->ts, cctx, NULL);
    assert_true(handshake(&p));
    assert_string_equal(tls_conn_version(p.srv), "TLSv1.2");
    assert_true(tls_conn_channel_binding_offered(p.srv, "tls-unique"));
    assert_false(tls_conn_channel_binding_offered(p.srv, "tls-exporter"));
    assert_true(tls_conn_channel_binding_offered(p.srv, "tls-server-end-point"));
    client_send(&p, "<stream:stream>");
    server_send(&p, "<stream:features/>");

    /* Full handshake: tls-unique is the client's Finished. */
    buf_init(&cb, 256);
    assert_int_equal(tls_conn_channel_binding(p.srv, "tls-unique", &cb), 0);
    size_t n = SSL_get_finished(p.cli, want, sizeof(want));
    assert_true(n >= 12);
    assert_int_equal(cb.len, n);
    assert_memory_equal(cb.p, want, n);
    buf_reset(&cb);
    assert_int_equal(tls_conn_channel_binding(p.srv, "tls-exporter", &cb), ERR_NOTFOUND);
    check_server_end_point(&p);
    /* A clean close keeps the client's session resumable. */
    assert_true(SSL_shutdown(p.cli) >= 0);
    SSL_SESSION *sess = SSL_get1_session(p.cli);
    assert_non_null(sess);
    assert_true(SSL_SESSION_has_ticket(sess));
    pair_cleanup(&p);

    /* Resumed with the ticket: tls-unique is then the server's Finished. */
    pair_init(&p, f->ts, cctx, NULL);
    assert_int_equal(SSL_set_session(p.cli, sess), 1);
    assert_true(handshake(&p));
    assert_true(SSL_session_reused(p.cli));
    buf_reset(&cb);
    assert_int_equal(tls_conn_channel_binding(p.srv, "tls-unique", &cb), 0);
    n = SSL_get_peer_finished(p.cli, want, sizeof(want));
    assert_int_equal(cb.len, n);
    assert_memory_equal(cb.p, want, n);
    client_send(&p, "<resumed/>");
    buf_cleanup(&cb);
    SSL_SESSION_free(sess);
    pair_cleanup(&p);
}

/* ---- session tickets: one per handshake, keys shared and rotated ---- */

static time_t g_fake_now;
static int g_tickets_seen;

static time_t fake_clock(void)
{
    return g_fake_now;
}

static int count_ticket(SSL *ssl, SSL_SESSION *sess)
{
    (void)ssl;
    (void)sess;
    g_tickets_seen++;
    return 0; /* not kept: SSL_get1_session gives the last one */
}

/* One TLS 1.3 login's handshake at the fake time; returns the client's last session (the
 * newest ticket) and whether it resumed `with`. */
static SSL_SESSION *ticket_login(struct fixture *f, SSL_CTX *cctx, SSL_SESSION *with, bool *resumed)
{
    struct pair p;
    SSL_CTX_up_ref(cctx);
    pair_init(&p, f->ts, cctx, "example.test");
    if (with != NULL) {
        assert_int_equal(SSL_set_session(p.cli, with), 1);
    }
    assert_true(handshake(&p));
    assert_string_equal(tls_conn_version(p.srv), "TLSv1.3");
    client_send(&p, "<stream:stream>");
    server_send(&p, "<stream:features/>");
    *resumed = SSL_session_reused(p.cli);
    assert_true(SSL_shutdown(p.cli) >= 0);
    SSL_SESSION *sess = SSL_get1_session(p.cli);
    assert_non_null(sess);
    assert_true(SSL_SESSION_is_resumable(sess));
    pair_cleanup(&p);
    return sess;
}

static void test_tls13_tickets(void **state)
{
    struct fixture *f = *state;
    bool resumed = true;
    add_domain(f->ts, "example.test", true);
    g_fake_now = 1800000000;
    tls__tickets_set_clock(tls__store_tickets(f->ts), fake_clock);
    SSL_CTX *cctx = client_ctx(0);
    SSL_CTX_set_session_cache_mode(cctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
    SSL_CTX_sess_set_new_cb(cctx, count_ticket);

    /* A full handshake issues one ticket, not OpenSSL's default two. */
    g_tickets_seen = 0;
    SSL_SESSION *first = ticket_login(f, cctx, NULL, &resumed);
    assert_false(resumed);
    assert_int_equal(g_tickets_seen, 1);
    /* An unused copy for later (a TLS 1.3 client uses a ticket once). */
    SSL_SESSION *first_copy = SSL_SESSION_dup(first);
    assert_non_null(first_copy);

    /* It resumes (PSK with ECDHE), and the resumption brings one fresh ticket. */
    g_tickets_seen = 0;
    g_fake_now += 60;
    SSL_SESSION *second = ticket_login(f, cctx, first, &resumed);
    assert_true(resumed);
    assert_int_equal(g_tickets_seen, 1);

    /* Two hours later the key has rotated: a ticket of the previous key still resumes. */
    g_fake_now += 7200;
    SSL_SESSION *third = ticket_login(f, cctx, second, &resumed);
    assert_true(resumed);

    /* Four hours after its key was made, a ticket is refused: a full handshake, no failure. */
    g_fake_now += 7200;
    SSL_SESSION *fourth = ticket_login(f, cctx, first_copy, &resumed);
    assert_false(resumed);

    /* The ring's current key (made at the last rotation) still takes its own tickets. */
    SSL_SESSION *fifth = ticket_login(f, cctx, fourth, &resumed);
    assert_true(resumed);

    SSL_SESSION_free(first);
    SSL_SESSION_free(first_copy);
    SSL_SESSION_free(second);
    SSL_SESSION_free(third);
    SSL_SESSION_free(fourth);
    SSL_SESSION_free(fifth);
    SSL_CTX_free(cctx);
}

static void test_sni(void **state)
{
    struct fixture *f = *state;
    struct pair p;
    char cn[128];

    add_domain(f->ts, "alpha.test", true);
    add_domain(f->ts, "beta.test", true);
    tls_store_set_default(f->ts, "beta.test");

    /* No SNI: the default. */
    pair_init(&p, f->ts, client_ctx(0), NULL);
    assert_true(handshake(&p));
    peer_cn(p.cli, cn, sizeof(cn));
    assert_string_equal(cn, "beta.test");
    pair_cleanup(&p);

    /* SNI picks the other domain, in TLS 1.3 and 1.2; the end-point binding follows it. */
    const int versions[] = { 0, TLS1_2_VERSION };
    for (size_t i = 0; i < 2; i++) {
        pair_init(&p, f->ts, client_ctx(versions[i]), "Alpha.Test");
        assert_true(handshake(&p));
        peer_cn(p.cli, cn, sizeof(cn));
        assert_string_equal(cn, "alpha.test");
        assert_string_equal(tls_conn_sni(p.srv), "Alpha.Test");
        check_server_end_point(&p);
        client_send(&p, "hello");
        pair_cleanup(&p);
    }

    /* A subdomain gets its parent's certificate (which covers *.alpha.test). */
    pair_init(&p, f->ts, client_ctx(0), "conference.alpha.test");
    assert_true(handshake(&p));
    peer_cn(p.cli, cn, sizeof(cn));
    assert_string_equal(cn, "alpha.test");
    pair_cleanup(&p);

    /* Unknown name: the default, and the handshake goes on. */
    pair_init(&p, f->ts, client_ctx(0), "unknown.example");
    assert_true(handshake(&p));
    peer_cn(p.cli, cn, sizeof(cn));
    assert_string_equal(cn, "beta.test");
    assert_string_equal(tls_conn_sni(p.srv), "unknown.example");
    pair_cleanup(&p);

    /* Default removed: falls back to the first domain. */
    assert_int_equal(tls_store_remove_domain(f->ts, "beta.test"), 0);
    pair_init(&p, f->ts, client_ctx(0), NULL);
    assert_true(handshake(&p));
    peer_cn(p.cli, cn, sizeof(cn));
    assert_string_equal(cn, "alpha.test");
    pair_cleanup(&p);
}

static void test_client_cert(void **state)
{
    struct fixture *f = *state;
    struct test_ca ca;
    struct client_id juliet, romeo, nobody, stranger;
    char err[256] = "";
    char **ids = NULL;

    add_domain(f->ts, "example.test", true);
    add_domain(f->ts, "other.test", true);
    ca_init(&ca, f->dir);
    client_id_init(&juliet, &ca,
                   "otherName:1.3.6.1.5.5.7.8.5;UTF8:juliet@example.test,"
                   "email:juliet.capulet@mail.test",
                   NULL);
    client_id_init(&romeo, &ca, "email:romeo@example.test,email:not a jid", "romeo@example.test");
    client_id_init(&nobody, &ca, "DNS:host.example.test", NULL);
    client_id_init(&stranger, NULL, "otherName:1.3.6.1.5.5.7.8.5;UTF8:mallory@example.test", NULL);

    /* Without a client CA nothing is requested. */
    assert_int_equal(handshake_with_cert(f->ts, &juliet, 0, &ids), 0);
    assert_null(ids);

    assert_int_equal(tls_store_set_client_ca(f->ts, ca.path, err, sizeof(err)), 0);
    const int versions[] = { 0, TLS1_2_VERSION };
    for (size_t i = 0; i < 2; i++) {
        /* xmppAddr present: only it counts, not the e-mail name. */
        assert_int_equal(handshake_with_cert(f->ts, &juliet, versions[i], &ids), 1);
        assert_string_equal(ids[0], "juliet@example.test");
        assert_null(ids[1]);
        tls_ids_free(ids);

        /* No xmppAddr: JID-like e-mail names (SAN and subject, deduplicated). */
        assert_int_equal(handshake_with_cert(f->ts, &romeo, versions[i], &ids), 1);
        assert_string_equal(ids[0], "romeo@example.test");
        tls_ids_free(ids);

        assert_int_equal(handshake_with_cert(f->ts, &nobody, versions[i], &ids), 0);
        assert_null(ids);
        /* Not signed by the CA: the handshake succeeds, without identity. */
        assert_int_equal(handshake_with_cert(f->ts, &stranger, versions[i], &ids), 0);
        assert_null(ids);
        /* No certificate at all. */
        assert_int_equal(handshake_with_cert(f->ts, NULL, versions[i], &ids), 0);
    }

    /* Verification still uses the CA after SNI switched the context. */
    struct pair p;
    SSL_CTX *cctx = client_ctx(0);
    assert_int_equal(SSL_CTX_use_certificate(cctx, juliet.cert), 1);
    assert_int_equal(SSL_CTX_use_PrivateKey(cctx, juliet.key), 1);
    tls_store_set_default(f->ts, "example.test");
    pair_init(&p, f->ts, cctx, "other.test");
    assert_true(handshake(&p));
    client_send(&p, "x");
    assert_int_equal(tls_conn_peer_ids(p.srv, &ids), 1);
    assert_string_equal(ids[0], "juliet@example.test");
    tls_ids_free(ids);
    pair_cleanup(&p);

    client_id_cleanup(&juliet);
    client_id_cleanup(&romeo);
    client_id_cleanup(&nobody);
    client_id_cleanup(&stranger);
    ca_cleanup(&ca);
}

static void expect_failure(struct tls_store *ts, const void *data, size_t len, const char *reason)
{
    struct tls_conn *c = tls_conn_new(ts);
    struct buf plain;
    buf_init(&plain, 4096);
    assert_non_null(c);
    assert_int_equal(tls_conn_feed(c, data, len), 0);
    assert_int_equal(tls_conn_read(c, &plain), ERR_TLS);
    if (strstr(tls_conn_error(c), reason) == NULL) {
        fail_msg("error \"%s\", wanted \"%s\"", tls_conn_error(c), reason);
    }
    assert_int_equal(plain.len, 0);
    /* Stays failed. */
    assert_int_equal(tls_conn_read(c, &plain), ERR_TLS);
    assert_int_equal(tls_conn_write(c, "x", 1), ERR_TLS);
    assert_int_equal(tls_conn_shutdown(c), 0);
    buf_cleanup(&plain);
    tls_conn_free(c);
}

static void test_garbage(void **state)
{
    struct fixture *f = *state;
    add_domain(f->ts, "example.test", true);

    const char http[] = "GET / HTTP/1.1\r\nHost: example.test\r\n\r\n";
    expect_failure(f->ts, http, sizeof(http) - 1, "http request");
    const char xml[] = "<?xml version='1.0'?><stream:stream xmlns='jabber:client'>";
    expect_failure(f->ts, xml, sizeof(xml) - 1, "wrong version number");
    const unsigned char bad_hello[] = { 0x16, 0x03, 0x01, 0x00, 0x08, 0x01, 0x00,
                                        0x00, 0x04, 0xde, 0xad, 0xbe, 0xef };
    expect_failure(f->ts, bad_hello, sizeof(bad_hello), "");

    /* A TLS 1.1 client is refused with a reason, and gets an alert. */
    struct pair p;
    SSL_CTX *cctx = client_ctx(TLS1_1_VERSION);
    SSL_CTX_set_security_level(cctx, 0);
    SSL_CTX_set_min_proto_version(cctx, TLS1_VERSION);
    pair_init(&p, f->ts, cctx, NULL);
    assert_false(handshake(&p));
    assert_int_equal(p.srv_rc, ERR_TLS);
    assert_string_equal(tls_conn_error(p.srv), "unsupported protocol");
    pair_cleanup(&p);
}

static void test_buffers(void **state)
{
    struct fixture *f = *state;
    struct pair p;
    char big[5000];

    add_domain(f->ts, "example.test", true);
    pair_init(&p, f->ts, client_ctx(0), NULL);
    /* Written before the handshake: held, then sent once it completes. */
    assert_int_equal(tls_conn_write(p.srv, "<early/>", 8), 0);
    assert_true(handshake(&p));
    char got[16] = "";
    pump_once(&p);
    assert_int_equal(SSL_read(p.cli, got, sizeof(got)), 8);
    assert_memory_equal(got, "<early/>", 8);

    /* A small plaintext buffer: read stops when full and resumes. */
    for (size_t i = 0; i < sizeof(big); i++) {
        big[i] = (char)('a' + i % 26);
    }
    assert_int_equal(SSL_write(p.cli, big, sizeof(big)), (int)sizeof(big));
    char tmp[8192];
    int n = BIO_read(p.cli_out, tmp, sizeof(tmp));
    assert_true(n > 0);
    assert_int_equal(tls_conn_feed(p.srv, tmp, (size_t)n), 0);
    struct buf small, all;
    buf_init(&small, 1000);
    buf_init(&all, 8192);
    int rounds = 0;
    do {
        buf_reset(&small);
        assert_int_equal(tls_conn_read(p.srv, &small), 0);
        assert_int_equal(buf_append(&all, small.p, small.len), 0);
        rounds++;
    } while (tls_conn_read_pending(p.srv) && rounds < 20);
    assert_int_equal(rounds, 5);
    assert_int_equal(all.len, sizeof(big));
    assert_memory_equal(all.p, big, sizeof(big));

    /* Output taken in pieces when the destination is small. */
    assert_int_equal(tls_conn_write(p.srv, big, sizeof(big)), 0);
    assert_int_equal(tls_conn_seal(p.srv), 0);
    size_t pending = tls_conn_output_pending(p.srv);
    assert_true(pending > sizeof(big));
    struct buf piece;
    buf_init(&piece, 2000);
    size_t taken = 0;
    int rc;
    do {
        buf_reset(&piece);
        rc = tls_conn_take_output(p.srv, &piece);
        assert_true(rc == 0 || rc == ERR_AGAIN);
        assert_int_equal(BIO_write(p.cli_in, piece.p, (int)piece.len), (int)piece.len);
        taken += piece.len;
    } while (rc == ERR_AGAIN);
    assert_int_equal(taken, pending);
    assert_int_equal(tls_conn_output_pending(p.srv), 0);
    size_t rd = 0;
    while (rd < sizeof(big)) {
        n = SSL_read(p.cli, tmp + rd, (int)(sizeof(tmp) - rd));
        assert_true(n > 0);
        rd += (size_t)n;
    }
    assert_memory_equal(tmp, big, sizeof(big));

    /* Input limit. */
    static char huge[(1 << 20) + 1];
    assert_int_equal(tls_conn_feed(p.srv, huge, sizeof(huge)), ERR_LIMIT);
    buf_cleanup(&piece);
    buf_cleanup(&small);
    buf_cleanup(&all);
    pair_cleanup(&p);
}

/* Counts the TLS records in `out` (which must hold whole records); *app_data gets how many of
 * them have the application-data type. */
static int count_records(const struct buf *out, int *app_data)
{
    int n = 0;
    *app_data = 0;
    size_t at = 0;
    while (at + 5 <= out->len) {
        const unsigned char *h = (const unsigned char *)out->p + at;
        size_t len = ((size_t)h[3] << 8) | h[4];
        assert_true(at + 5 + len <= out->len);
        *app_data +=
            h[0] == 23; /* TLS 1.3: every record after the handshake is "application data" */
        n++;
        at += 5 + len;
    }
    assert_int_equal(at, out->len);
    return n;
}

/* The writes made between two seals leave as one record (the stanzas of one loop iteration),
 * in order; the limit on unsent output counts what is held as well. */
static void test_write_batching(void **state)
{
    struct fixture *f = *state;
    struct pair p;
    add_domain(f->ts, "example.test", true);
    pair_init(&p, f->ts, client_ctx(0), NULL);
    assert_true(handshake(&p));
    /* The session ticket waits for the first application data: nothing leaves on its own. */
    assert_int_equal(tls_conn_output_pending(p.srv), 0);
    struct buf out;
    buf_init(&out, 1 << 20);
    assert_int_equal(tls_conn_take_output(p.srv, &out), 0);
    assert_int_equal(out.len, 0);

    const char *parts[] = { "<message id='1'/>", "<message id='2'/>", "<iq id='3'/>" };
    size_t total = 0;
    for (int round = 0; round < 2; round++) {
        total = 0;
        for (size_t i = 0; i < 3; i++) {
            assert_int_equal(tls_conn_write(p.srv, parts[i], strlen(parts[i])), 0);
            total += strlen(parts[i]);
        }
        buf_reset(&out);
        assert_int_equal(tls_conn_take_output(p.srv, &out), 0);
        int app = 0;
        /* The first time the ticket's record goes first, in the same output. */
        assert_int_equal(count_records(&out, &app), round == 0 ? 2 : 1);
        assert_int_equal(app, round == 0 ? 2 : 1);
        assert_int_equal(BIO_write(p.cli_in, out.p, (int)out.len), (int)out.len);
        char got[256];
        assert_int_equal(SSL_read(p.cli, got, sizeof(got)), (int)total);
        assert_memory_equal(got, "<message id='1'/><message id='2'/><iq id='3'/>", total);
        assert_true(SSL_SESSION_has_ticket(SSL_get0_session(p.cli)));
    }

    /* Held plaintext counts against the 4 MiB of unsent output. */
    static char chunk[1 << 20];
    memset(chunk, 'x', sizeof(chunk));
    int rc = 0;
    int i = 0;
    for (; i < 8 && rc == 0; i++) {
        rc = tls_conn_write(p.srv, chunk, sizeof(chunk));
    }
    assert_int_equal(rc, ERR_LIMIT);
    assert_int_equal(i, 4);
    /* What was held before the refusal is sealed, before a close_notify. */
    assert_int_equal(tls_conn_shutdown(p.srv), 0);
    assert_true(tls_conn_output_pending(p.srv) > 3 * sizeof(chunk));
    buf_cleanup(&out);
    pair_cleanup(&p);
}

/* A session closed before any application data: the held ticket leaves with the close_notify
 * (TLS 1.3); TLS 1.2 holds nothing (its ticket is part of the handshake the client waits for). */
static void test_ticket_hold_and_close(void **state)
{
    struct fixture *f = *state;
    struct pair p;
    add_domain(f->ts, "example.test", true);
    pair_init(&p, f->ts, client_ctx(0), NULL);
    assert_true(handshake(&p));
    assert_int_equal(tls_conn_output_pending(p.srv), 0);
    assert_int_equal(tls_conn_shutdown(p.srv), 0);
    assert_true(tls_conn_output_pending(p.srv) > 0);
    pump_once(&p);
    char b[8];
    assert_int_equal(SSL_read(p.cli, b, sizeof(b)), 0);
    assert_int_equal(SSL_get_error(p.cli, 0), SSL_ERROR_ZERO_RETURN);
    assert_true(SSL_SESSION_has_ticket(SSL_get0_session(p.cli)));
    pair_cleanup(&p);

    pair_init(&p, f->ts, client_ctx(TLS1_2_VERSION), NULL);
    assert_true(handshake(&p));
    assert_string_equal(tls_conn_version(p.srv), "TLSv1.2");
    assert_true(SSL_SESSION_has_ticket(SSL_get0_session(p.cli)));
    assert_int_equal(tls_conn_output_pending(p.srv), 0);
    pair_cleanup(&p);
}

/* Handshakes on several threads while the main thread reloads and swaps certificates. */
struct worker_arg {
    struct tls_store *ts;
    int ok;
};

static void *worker(void *argp)
{
    struct worker_arg *arg = argp;
    for (int i = 0; i < 8; i++) {
        struct pair p;
        pair_init(&p, arg->ts, client_ctx(i % 2 ? TLS1_2_VERSION : 0), i % 3 ? "beta.test" : NULL);
        if (handshake(&p)) {
            char cn[128];
            peer_cn(p.cli, cn, sizeof(cn));
            if (strcmp(cn, i % 3 ? "beta.test" : "alpha.test") == 0) {
                arg->ok++;
            }
        }
        pair_cleanup(&p);
    }
    return NULL;
}

static void test_threads(void **state)
{
    struct fixture *f = *state;
    pthread_t th[4];
    struct worker_arg args[4];

    add_domain(f->ts, "alpha.test", true);
    add_domain(f->ts, "beta.test", true);
    tls_store_set_default(f->ts, "alpha.test");
    for (int i = 0; i < 4; i++) {
        args[i].ts = f->ts;
        args[i].ok = 0;
        assert_int_equal(pthread_create(&th[i], NULL, worker, &args[i]), 0);
    }
    for (int i = 0; i < 10; i++) {
        add_domain(f->ts, "beta.test", false);
        add_domain(f->ts, "gamma.test", i == 0);
        assert_int_equal(tls_store_remove_domain(f->ts, "gamma.test"), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(args[i].ok, 8);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_generate_and_reload, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_input_files, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tls13, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tls12_and_resumption, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tls13_tickets, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sni, setup, teardown),
        cmocka_unit_test_setup_teardown(test_client_cert, setup, teardown),
        cmocka_unit_test_setup_teardown(test_garbage, setup, teardown),
        cmocka_unit_test_setup_teardown(test_buffers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ticket_hold_and_close, setup, teardown),
        cmocka_unit_test_setup_teardown(test_write_batching, setup, teardown),
        cmocka_unit_test_setup_teardown(test_threads, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
