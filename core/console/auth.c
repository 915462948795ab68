/* Who may read the console: the admin token (a bearer token, compared in
 * constant time) and whether an admin_listen host is loopback. */
#include <arpa/inet.h>
#include <openssl/sha.h>
#include <string.h>
#include <strings.h>

#include "../util.h"
#include "console.h"

int gh__console_loopback(const char *host) {
  if (!host || !*host) /* the default bind, 127.0.0.1 */
    return 1;
  if (strcasecmp(host, "localhost") == 0)
    return 1;
  unsigned char a[16];
  if (inet_pton(AF_INET, host, a) == 1)
    return a[0] == 127;
  if (inet_pton(AF_INET6, host, a) == 1) {
    static const unsigned char one[16] = {[15] = 1};
    static const unsigned char mapped[12] = {[10] = 0xff, [11] = 0xff};
    return memcmp(a, one, 16) == 0 ||
           (memcmp(a, mapped, 12) == 0 && a[12] == 127);
  }
  return 0; /* any other name: not known to be loopback */
}

/* The value of header `name` (case-insensitive) in a request head of len
 * bytes, its length in *vlen; NULL when absent. */
static const char *header(const char *head, size_t len, const char *name,
                          size_t *vlen) {
  size_t nlen = strlen(name);
  const char *end = head + len;
  const char *p = memchr(head, '\n', len); /* skip the request line */
  while (p && p + 1 < end) {
    const char *line = p + 1;
    const char *eol = memchr(line, '\n', (size_t)(end - line));
    if (!eol)
      eol = end;
    if ((size_t)(eol - line) > nlen && line[nlen] == ':' &&
        strncasecmp(line, name, nlen) == 0) {
      const char *v = line + nlen + 1, *ve = eol;
      while (v < ve && (*v == ' ' || *v == '\t'))
        v++;
      while (ve > v && (ve[-1] == '\r' || ve[-1] == ' ' || ve[-1] == '\t'))
        ve--;
      *vlen = (size_t)(ve - v);
      return v;
    }
    p = eol < end ? eol : NULL;
  }
  return NULL;
}

int gh__console_authorized(const char *head, size_t len, const char *token) {
  size_t vlen = 0;
  const char *v = header(head, len, "Authorization", &vlen);
  if (!v || vlen < 7 || strncasecmp(v, "Bearer ", 7) != 0)
    return 0;
  v += 7, vlen -= 7;
  while (vlen && *v == ' ')
    v++, vlen--;
  /* digests of equal length: the comparison tells nothing of the token's
   * length or content */
  unsigned char a[SHA256_DIGEST_LENGTH], b[SHA256_DIGEST_LENGTH];
  SHA256((const unsigned char *)v, vlen, a);
  SHA256((const unsigned char *)token, strlen(token), b);
  return gh__ct_equal(a, sizeof(a), b, sizeof(b));
}
