/* In-memory certificates: see certgen.h. OpenSSL 3 EVP and X509 APIs only
 * (nothing deprecated in 3.0). */
#include "certgen.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "gatehouse/gatehouse.h"

#define CERTGEN_DAYS_MAX 36500
#define CERTGEN_BACKDATE_S (60 * 60)
#define CERTGEN_CN_MAX 64 /* ub-common-name */

static EVP_PKEY *key_new(void) {
  return EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
}

/* A random positive, non-zero 128-bit serial (RFC 5280: at most 20 octets,
 * positive). */
static int set_serial(X509 *x) {
  unsigned char b[16];
  if (RAND_bytes(b, sizeof b) != 1)
    return GH_EIO;
  b[0] &= 0x7f;
  b[0] |= 0x01; /* non-zero, and always 16 octets long */
  BIGNUM *bn = BN_bin2bn(b, sizeof b, NULL);
  if (!bn)
    return GH_ENOMEM;
  int ok = BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) != NULL;
  BN_free(bn);
  return ok ? 0 : GH_ENOMEM;
}

static int add_ext(X509 *x, X509 *issuer, int nid, const char *value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, x, NULL, NULL, 0);
  X509_EXTENSION *ext = X509V3_EXT_nconf_nid(NULL, &ctx, nid, value);
  if (!ext)
    return GH_EIO;
  int ok = X509_add_ext(x, ext, -1);
  X509_EXTENSION_free(ext);
  return ok ? 0 : GH_ENOMEM;
}

/* subjectAltName built as data, so that no SAN text is parsed as
 * configuration syntax (a comma in a name cannot inject an entry). */
static int add_sans(X509 *x, const char *const *sans, size_t n) {
  if (n == 0)
    return 0;
  GENERAL_NAMES *gens = sk_GENERAL_NAME_new_null();
  if (!gens)
    return GH_ENOMEM;
  int rc = 0;
  for (size_t i = 0; i < n && rc == 0; i++) {
    const char *s = sans[i];
    GENERAL_NAME *g = NULL;
    if (!s) {
      rc = GH_EINVAL;
    } else if (strncmp(s, "DNS:", 4) == 0 && s[4] != '\0') {
      ASN1_IA5STRING *ia5 = ASN1_IA5STRING_new();
      g = GENERAL_NAME_new();
      if (!ia5 || !g || !ASN1_STRING_set(ia5, s + 4, -1)) {
        ASN1_IA5STRING_free(ia5);
        rc = GH_ENOMEM;
      } else {
        GENERAL_NAME_set0_value(g, GEN_DNS, ia5);
      }
    } else if (strncmp(s, "IP:", 3) == 0) {
      ASN1_OCTET_STRING *ip = a2i_IPADDRESS(s + 3);
      if (!ip) {
        rc = GH_EINVAL;
      } else if (!(g = GENERAL_NAME_new())) {
        ASN1_OCTET_STRING_free(ip);
        rc = GH_ENOMEM;
      } else {
        GENERAL_NAME_set0_value(g, GEN_IPADD, ip);
      }
    } else {
      rc = GH_EINVAL;
    }
    if (rc == 0 && !sk_GENERAL_NAME_push(gens, g))
      rc = GH_ENOMEM;
    if (rc)
      GENERAL_NAME_free(g);
  }
  if (rc == 0 && X509_add1_ext_i2d(x, NID_subject_alt_name, gens, 0,
                                   X509V3_ADD_DEFAULT) != 1)
    rc = GH_ENOMEM;
  GENERAL_NAMES_free(gens);
  return rc;
}

/* The parts every certificate shares: version, serial, validity, subject,
 * public key. */
static int cert_base(X509 *x, const char *cn, int days, EVP_PKEY *key) {
  if (!X509_set_version(x, X509_VERSION_3))
    return GH_EIO;
  int rc = set_serial(x);
  if (rc)
    return rc;
  if (!X509_gmtime_adj(X509_getm_notBefore(x), -CERTGEN_BACKDATE_S) ||
      !X509_time_adj_ex(X509_getm_notAfter(x), days, 0, NULL))
    return GH_EIO;
  X509_NAME *name = X509_get_subject_name(x);
  if (!X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8,
                                  (const unsigned char *)"gatehouse", -1, -1,
                                  0) ||
      !X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                                  (const unsigned char *)cn, -1, -1, 0))
    return GH_EINVAL;
  if (!X509_set_pubkey(x, key))
    return GH_ENOMEM;
  return 0;
}

static char *bio_text(BIO *b) {
  char *data = NULL;
  long n = BIO_get_mem_data(b, &data);
  if (n <= 0)
    return NULL;
  char *s = malloc((size_t)n + 1);
  if (!s)
    return NULL;
  memcpy(s, data, (size_t)n);
  s[n] = '\0';
  return s;
}

static int to_pem(X509 *x, EVP_PKEY *key, gh__pem *out) {
  int rc = GH_ENOMEM;
  BIO *cb = BIO_new(BIO_s_mem());
  BIO *kb = BIO_new(BIO_s_mem());
  if (!cb || !kb || !PEM_write_bio_X509(cb, x) ||
      !PEM_write_bio_PrivateKey(kb, key, NULL, NULL, 0, NULL, NULL))
    goto done;
  out->cert = bio_text(cb);
  out->key = bio_text(kb);
  if (!out->cert || !out->key) {
    gh__pem_free(out);
    goto done;
  }
  rc = 0;
done:
  BIO_free(cb);
  BIO_free(kb); /* a memory BIO's buffer is cleansed when freed */
  return rc;
}

static int check_args(const char *cn, int days, gh__pem *out) {
  if (!out)
    return GH_EINVAL;
  out->cert = out->key = NULL;
  if (!cn || !*cn || strlen(cn) > CERTGEN_CN_MAX || days < 1 ||
      days > CERTGEN_DAYS_MAX)
    return GH_EINVAL;
  return 0;
}

int gh__certgen_ca(const char *cn, int days, gh__pem *out) {
  int rc = check_args(cn, days, out);
  if (rc)
    return rc;
  EVP_PKEY *key = key_new();
  X509 *x = X509_new();
  rc = GH_ENOMEM;
  if (!key || !x)
    goto done;
  if ((rc = cert_base(x, cn, days, key)) != 0)
    goto done;
  rc = GH_EIO;
  if (!X509_set_issuer_name(x, X509_get_subject_name(x)))
    goto done;
  /* SKID first: the AKID of a self-signed certificate copies it. */
  if ((rc = add_ext(x, x, NID_basic_constraints, "critical,CA:TRUE")) ||
      (rc = add_ext(x, x, NID_key_usage, "critical,keyCertSign,cRLSign")) ||
      (rc = add_ext(x, x, NID_subject_key_identifier, "hash")) ||
      (rc = add_ext(x, x, NID_authority_key_identifier, "keyid:always")))
    goto done;
  rc = GH_EIO;
  if (X509_sign(x, key, EVP_sha256()) <= 0)
    goto done;
  rc = to_pem(x, key, out);
done:
  X509_free(x);
  EVP_PKEY_free(key);
  return rc;
}

/* The CA's certificate and key from its PEM texts. */
static int ca_load(const gh__pem *ca, X509 **cert, EVP_PKEY **key) {
  *cert = NULL;
  *key = NULL;
  if (!ca || !ca->cert || !ca->key)
    return GH_EINVAL;
  BIO *b = BIO_new_mem_buf(ca->cert, -1);
  if (!b)
    return GH_ENOMEM;
  *cert = PEM_read_bio_X509(b, NULL, NULL, NULL);
  BIO_free(b);
  b = BIO_new_mem_buf(ca->key, -1);
  if (!b)
    return GH_ENOMEM;
  *key = PEM_read_bio_PrivateKey(b, NULL, NULL, NULL);
  BIO_free(b);
  if (!*cert || !*key || X509_check_private_key(*cert, *key) != 1 ||
      X509_check_ca(*cert) == 0)
    return GH_EINVAL;
  return 0;
}

int gh__certgen_leaf(const gh__pem *ca, const char *cn, const char *const *sans,
                     size_t n_sans, int server, int days, gh__pem *out) {
  int rc = check_args(cn, days, out);
  if (rc)
    return rc;
  if (n_sans && !sans)
    return GH_EINVAL;
  X509 *ca_cert = NULL, *x = NULL;
  EVP_PKEY *ca_key = NULL, *key = NULL;
  if ((rc = ca_load(ca, &ca_cert, &ca_key)) != 0)
    goto done;
  rc = GH_ENOMEM;
  key = key_new();
  x = X509_new();
  if (!key || !x)
    goto done;
  if ((rc = cert_base(x, cn, days, key)) != 0)
    goto done;
  rc = GH_EIO;
  if (!X509_set_issuer_name(x, X509_get_subject_name(ca_cert)))
    goto done;
  if ((rc = add_ext(x, ca_cert, NID_basic_constraints, "critical,CA:FALSE")) ||
      (rc = add_ext(x, ca_cert, NID_key_usage, "critical,digitalSignature")) ||
      (rc = add_ext(x, ca_cert, NID_ext_key_usage,
                    server ? "serverAuth" : "clientAuth")) ||
      (rc = add_ext(x, ca_cert, NID_subject_key_identifier, "hash")) ||
      (rc =
           add_ext(x, ca_cert, NID_authority_key_identifier, "keyid:always")) ||
      (rc = add_sans(x, sans, n_sans)))
    goto done;
  rc = GH_EIO;
  if (X509_sign(x, ca_key, EVP_sha256()) <= 0)
    goto done;
  rc = to_pem(x, key, out);
done:
  X509_free(x);
  EVP_PKEY_free(key);
  X509_free(ca_cert);
  EVP_PKEY_free(ca_key);
  return rc;
}

void gh__pem_free(gh__pem *p) {
  if (!p)
    return;
  if (p->key)
    OPENSSL_cleanse(p->key, strlen(p->key));
  free(p->key);
  free(p->cert);
  p->key = p->cert = NULL;
}
