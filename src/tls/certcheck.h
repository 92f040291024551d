/* certcheck.h: what an operator's check needs to know about a domain's certificate files
 * (starlingctl check, the WebAdmin's certificate upload): key match, chain, names. */
#ifndef STARLING_TLS_CERTCHECK_H
#define STARLING_TLS_CERTCHECK_H

#include <stdbool.h>
#include <stddef.h>

struct tls_cert_check {
    bool key_matches; /* the key file holds the certificate's private key */
    bool chain_ok;    /* the certificate verifies up to a trusted root (the file's chain helps) */
    char key_error[160];
    char chain_error[160];
};

/* Checks CRT (PEM certificate, then optionally its chain) against KEY (PEM private key) and the
 * trusted roots: `ca_file` when not empty, else OpenSSL's default paths (the system's bundle).
 * Returns 0 with `out` filled, ERR_NOTFOUND (no certificate file) or ERR_TLS (not a
 * certificate). */
int tls_cert_check_files(const char *crt, const char *key, const char *ca_file,
                         struct tls_cert_check *out);
/* 1 when the certificate in CRT names `host` (subjectAltName DNS, wildcards per RFC 6125),
 * 0 when it does not, a negative error when it cannot be read. */
int tls_cert_covers(const char *crt, const char *host);

#endif
