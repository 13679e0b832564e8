/*
 * tls.h - the web UI's TLS context. With no certificate configured, a
 * self-signed one (EC P-256, CN = the host name, ten years) is made once and
 * kept next to the database, its key mode 0600, so the browser's exception
 * survives restarts.
 */
#ifndef DROVER_TLS_H
#define DROVER_TLS_H

#include <stddef.h>

#include <openssl/ssl.h>

#define TLS_GENERATED_CERT "webui-cert.pem"
#define TLS_GENERATED_KEY  "webui-key.pem"

/*
 * A server context for cert and key (PEM files); when cert is empty, for
 * the generated pair under dir (made now if missing). NULL with a message in
 * err on failure.
 */
SSL_CTX *tls_context_new(const char *cert, const char *key, const char *dir, char *err,
			 size_t errlen);

#endif
