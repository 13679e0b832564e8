/* tls.c - the web UI's TLS context and its self-signed certificate. */
#include "tls.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "log.h"

#define TLS_VALID_DAYS 3650

static void tls_error(char *err, size_t errlen, const char *what)
{
	char ssl[256];

	ERR_error_string_n(ERR_get_error(), ssl, sizeof(ssl));
	snprintf(err, errlen, "%s: %s", what, ssl);
}

/* Opens path for writing with mode, whatever the umask; NULL with errno set. */
static FILE *tls_create(const char *path, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode);
	FILE *f;

	if (fd < 0)
		return NULL;
	if (fchmod(fd, mode) < 0 || (f = fdopen(fd, "w")) == NULL) {
		int e = errno;

		close(fd);
		errno = e;
		return NULL;
	}
	return f;
}

static int tls_generate(const char *cert_path, const char *key_path, char *err, size_t errlen)
{
	EVP_PKEY *pkey = EVP_EC_gen("P-256");
	X509 *x = X509_new();
	X509_NAME *name;
	unsigned char serial[16];
	char host[256] = "drover";
	BIGNUM *bn = NULL;
	FILE *f;
	int ret = -EIO;

	if (pkey == NULL || x == NULL) {
		tls_error(err, errlen, "cannot make a key");
		goto done;
	}
	gethostname(host, sizeof(host) - 1);
	RAND_bytes(serial, sizeof(serial));
	serial[0] &= 0x7f; /* a positive serial number */
	bn = BN_bin2bn(serial, sizeof(serial), NULL);
	if (bn == NULL || !BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) ||
	    !X509_set_version(x, 2) || !X509_gmtime_adj(X509_getm_notBefore(x), -3600) ||
	    !X509_gmtime_adj(X509_getm_notAfter(x), (long)TLS_VALID_DAYS * 86400) ||
	    !X509_set_pubkey(x, pkey)) {
		tls_error(err, errlen, "cannot fill the certificate");
		goto done;
	}
	name = X509_get_subject_name(x);
	X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC, (const unsigned char *)"drover", -1, -1,
				   0);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)host, -1, -1,
				   0);
	X509_set_issuer_name(x, name);
	if (!X509_sign(x, pkey, EVP_sha256())) {
		tls_error(err, errlen, "cannot sign the certificate");
		goto done;
	}
	f = tls_create(key_path, 0600);
	if (f == NULL) {
		snprintf(err, errlen, "cannot write `%s': %s", key_path, strerror(errno));
		goto done;
	}
	if (!PEM_write_PrivateKey(f, pkey, NULL, NULL, 0, NULL, NULL)) {
		fclose(f);
		tls_error(err, errlen, "cannot write the key");
		goto done;
	}
	fclose(f);
	f = tls_create(cert_path, 0644);
	if (f == NULL) {
		snprintf(err, errlen, "cannot write `%s': %s", cert_path, strerror(errno));
		goto done;
	}
	if (!PEM_write_X509(f, x)) {
		fclose(f);
		tls_error(err, errlen, "cannot write the certificate");
		goto done;
	}
	fclose(f);
	log_info("web UI: generated a self-signed certificate %s", cert_path);
	ret = 0;
done:
	BN_free(bn);
	X509_free(x);
	EVP_PKEY_free(pkey);
	return ret;
}

SSL_CTX *tls_context_new(const char *cert, const char *key, const char *dir, char *err,
			 size_t errlen)
{
	char cert_path[PATH_MAX], key_path[PATH_MAX];
	SSL_CTX *ctx;

	if (cert[0] == '\0') {
		snprintf(cert_path, sizeof(cert_path), "%s/%s", dir, TLS_GENERATED_CERT);
		snprintf(key_path, sizeof(key_path), "%s/%s", dir, TLS_GENERATED_KEY);
		if ((access(cert_path, R_OK) < 0 || access(key_path, R_OK) < 0) &&
		    tls_generate(cert_path, key_path, err, errlen) < 0)
			return NULL;
	} else {
		snprintf(cert_path, sizeof(cert_path), "%s", cert);
		snprintf(key_path, sizeof(key_path), "%s", key[0] ? key : cert);
	}
	ctx = SSL_CTX_new(TLS_server_method());
	if (ctx == NULL) {
		tls_error(err, errlen, "cannot make a TLS context");
		return NULL;
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
	if (SSL_CTX_use_certificate_chain_file(ctx, cert_path) != 1) {
		tls_error(err, errlen, cert_path);
		SSL_CTX_free(ctx);
		return NULL;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, key_path, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_check_private_key(ctx) != 1) {
		tls_error(err, errlen, key_path);
		SSL_CTX_free(ctx);
		return NULL;
	}
	return ctx;
}
