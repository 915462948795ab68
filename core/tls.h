/* TLS contexts of the tunnel (tls.c). */
#ifndef GH_TLS_H
#define GH_TLS_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/ssl.h>

typedef struct gh__tls_files {
  const uint8_t *cert; /* PEM chain */
  size_t cert_len;
  const uint8_t *key;
  size_t key_len;
  const uint8_t *ca; /* PEM: peers must chain to it; NULL for none */
  size_t ca_len;
  const uint8_t *crl; /* PEM CRL(s) checked with ca; NULL for none */
  size_t crl_len;
} gh__tls_files;


SSL_CTX *gh__tls_server_ctx(const gh__tls_files *f, char *err, size_t errlen);
SSL_CTX *gh__tls_client_ctx(const gh__tls_files *f, char *err, size_t errlen);
/* The same from PEM files (any of them may be NULL); the key's bytes are
 * wiped once loaded. NULL with the reason in err. */
SSL_CTX *gh__tls_ctx_from_files(int server, const char *cert, const char *key,
                                const char *ca, const char *crl, char *err,
                                size_t errlen);
/* 1 when a CRL of ctx revokes the peer's certificate (or one of its
 * verified chain): for the tunnels up when a reload brings a new CRL. */
int gh__tls_peer_revoked(SSL *ssl, SSL_CTX *ctx);
/* The last OpenSSL error as text (and clears the queue). */
const char *gh__tls_error(char *buf, size_t len);

#endif
