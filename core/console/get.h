/* One blocking GET of an admin endpoint, over TCP or HTTPS (`gatehouse
 * status`). HTTPS always verifies the endpoint: against a pinned
 * certificate (the endpoint's own admin.tls.cert, read from its
 * configuration), or against CA certificates (--cacert, else the system's)
 * with the host name or address checked. Nothing is sent before that. */
#ifndef GH_CONSOLE_GET_H
#define GH_CONSOLE_GET_H

#include <stddef.h>
#include <stdint.h>

typedef struct gh__get_target {
  const char *host;
  uint16_t port;
  int tls;
  /* with tls, exactly one or none: */
  const char *pin_cert; /* PEM: the endpoint must present this certificate */
  const char *cacert;   /* PEM CA certificate(s); none: the system's */
} gh__get_target;

typedef struct gh__get_ctx gh__get_ctx;

/* The TLS context of a target (NULL for plain TCP) in *out; 0, or -1 with
 * the reason in err (a file that holds no certificate...). */
int gh__get_ctx_new(const gh__get_target *t, gh__get_ctx **out, char *err,
                    size_t errlen);
void gh__get_ctx_free(gh__get_ctx *c);

/* GET path (with "Authorization: Bearer token" when token is not NULL):
 * the HTTP status with *body (NUL-terminated, free() it) and *blen, or -1
 * with the reason in err. */
int gh__get(const gh__get_target *t, gh__get_ctx *c, const char *path,
            const char *token, char **body, size_t *blen, char *err,
            size_t errlen);

#endif
