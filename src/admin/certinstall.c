/* certinstall.c: an uploaded certificate is written beside the live one, checked there like
 * `starlingctl check` does, and renamed over it only when it passes. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "admin/certinstall.h"
#include "core/err.h"
#include "tls/certcheck.h"
#include "tls/tls.h"

#define EXPIRY_WARN_DAYS 30

static int write_file(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) {
        return ERR_IO;
    }
    size_t len = strlen(text);
    bool ok = fchmod(fd, 0600) == 0 && write(fd, text, len) == (ssize_t)len && fsync(fd) == 0;
    return close(fd) == 0 && ok ? 0 : ERR_IO;
}

static void warn(json_t *warnings, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void warn(json_t *warnings, const char *fmt, ...)
{
    char line[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    json_array_append_new(warnings, json_string(line));
}

/* The refusals; 0 when the new files may replace the old ones. */
static int check_new(const char *crt, const char *key, const char *domain, const char *service,
                     const char *ca_file, json_t *warnings, char *err, size_t errlen)
{
    struct tls_cert_info ci;
    struct tls_cert_check cc;
    if (tls_cert_describe(crt, &ci) != 0 || tls_cert_check_files(crt, key, ca_file, &cc) != 0) {
        snprintf(err, errlen, "the certificate is not PEM text (-----BEGIN CERTIFICATE-----)");
        return ERR_INVAL;
    }
    if (!cc.key_matches) {
        snprintf(err, errlen, "the key is not the certificate's (or not a PEM private key)");
        return ERR_INVAL;
    }
    const char *names[] = { domain, service };
    for (int i = 0; i < 2; i++) {
        if (names[i][0] && tls_cert_covers(crt, names[i]) != 1) {
            snprintf(err, errlen, "the certificate does not name %s (it names: %s)", names[i],
                     ci.names[0] ? ci.names : ci.subject);
            return ERR_INVAL;
        }
    }
    time_t now = time(NULL);
    if (ci.not_after < now || ci.not_before > now) {
        snprintf(err, errlen, "the certificate is %s",
                 ci.not_after < now ? "expired" : "not valid yet");
        return ERR_INVAL;
    }
    if (ci.not_after < now + EXPIRY_WARN_DAYS * 86400) {
        warn(warnings, "%s: the certificate expires in %lld days", domain,
             (long long)(ci.not_after - now) / 86400);
    }
    if (ci.self_signed) {
        warn(warnings, "%s: the certificate is self-signed", domain);
    } else if (!cc.chain_ok) {
        warn(warnings, "%s: the chain does not verify: %s", domain, cc.chain_error);
    }
    return 0;
}

int admin_cert_install(const char *certs_dir, const char *domain, const char *service,
                       const char *cert_pem, const char *key_pem, const char *ca_file,
                       json_t *warnings, char *err, size_t errlen)
{
    char crt[1400], key[1400], crt_new[1500], key_new[1500];
    snprintf(crt, sizeof(crt), "%s/%s.crt", certs_dir, domain);
    snprintf(key, sizeof(key), "%s/%s.key", certs_dir, domain);
    snprintf(crt_new, sizeof(crt_new), "%s.upload", crt);
    snprintf(key_new, sizeof(key_new), "%s.upload", key);
    int rc = ERR_IO;
    if (write_file(crt_new, cert_pem) != 0 || write_file(key_new, key_pem) != 0) {
        snprintf(err, errlen, "cannot write in %s: %s", certs_dir, strerror(errno));
        goto fail;
    }
    rc = check_new(crt_new, key_new, domain, service, ca_file, warnings, err, errlen);
    if (rc != 0) {
        goto fail;
    }
    /* The key first: a crash in between leaves the old certificate with the new key, which the
     * server refuses at load (mismatch) and reports, rather than a silent mix. */
    if (rename(key_new, key) != 0 || rename(crt_new, crt) != 0) {
        snprintf(err, errlen, "cannot replace %s: %s", crt, strerror(errno));
        rc = ERR_IO;
    }
fail:
    unlink(crt_new);
    unlink(key_new);
    return rc;
}
