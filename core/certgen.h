/* In-memory X.509 certificates and keys, for `gatehouse demo` and for
 * tests: a CA, and leaves it signs. Nothing touches a file.
 *
 * Keys are EC P-256; certificates are X.509 v3 signed with SHA-256, with a
 * random positive 128-bit serial, valid from one hour ago (clock skew) for
 * `days` days, with subjectKeyIdentifier and authorityKeyIdentifier. */
#ifndef GH_CERTGEN_H
#define GH_CERTGEN_H

#include <stddef.h>

/* NUL-terminated PEM texts, malloc()ed; owned by the caller, released with
 * gh__pem_free(). `key` is an unencrypted PKCS#8 private key. */
typedef struct gh__pem {
  char *cert;
  char *key;
} gh__pem;

/* A self-signed CA named CN=cn: basicConstraints critical CA:TRUE,
 * keyUsage critical keyCertSign and cRLSign. days: 1..36500. Returns 0 and
 * fills *out, or a negative GH_E* code (GH_EINVAL for bad arguments) and
 * leaves *out empty. */
int gh__certgen_ca(const char *cn, int days, gh__pem *out);

/* A leaf named CN=cn signed by `ca` (as made by gh__certgen_ca): keyUsage
 * critical digitalSignature, basicConstraints critical CA:FALSE,
 * extendedKeyUsage serverAuth when server is non-zero, clientAuth
 * otherwise. sans: n_sans subjectAltName entries "DNS:name" or "IP:addr"
 * (IPv4 or IPv6, e.g. "IP:127.0.0.1", "IP:::1"); none when n_sans is 0.
 * Returns 0 and fills *out, or a negative GH_E* code (GH_EINVAL for bad
 * arguments, a bad SAN, or a CA whose PEM or key does not parse). */
int gh__certgen_leaf(const gh__pem *ca, const char *cn, const char *const *sans,
                     size_t n_sans, int server, int days, gh__pem *out);

/* Frees both texts (the key's bytes are wiped first) and zeroes *p. NULL
 * and an empty gh__pem are fine. */
void gh__pem_free(gh__pem *p);

#endif
