/* certinstall.h: a domain's certificate and key uploaded as PEM text (the admin op
 * domain.certificate.set), checked before it replaces DATADIR/certs/DOMAIN.crt and .key. */
#ifndef STARLING_ADMIN_CERTINSTALL_H
#define STARLING_ADMIN_CERTINSTALL_H

#include <stddef.h>

#include <jansson.h>

/* At most this many bytes of PEM text each (a certificate with a long chain fits). */
#define CERT_PEM_MAX (256 * 1024)

/* Checks `cert_pem` (the certificate, then its chain) and `key_pem` and, when they pass, writes
 * them to CERTS_DIR/DOMAIN.crt and .key (mode 0600, each by rename). Refused (ERR_INVAL, reason
 * in err): not PEM, a key that is not the certificate's, a certificate that does not name
 * `domain` or `service` (its chat service, "" = none), an expired or not yet valid one. Accepted
 * with a line in `warnings` (an array): a chain that does not verify against `ca_file` ("" = the
 * system's roots), a self-signed certificate, an expiry within 30 days. */
int admin_cert_install(const char *certs_dir, const char *domain, const char *service,
                       const char *cert_pem, const char *key_pem, const char *ca_file,
                       json_t *warnings, char *err, size_t errlen);

#endif
