/* The admin endpoint's request parser (gh__admin_parse), on any bytes, fed
 * whole and in two pieces as a network would. Checks: a request is found
 * only once its head ends in "\r\n\r\n", within the bytes given; what it
 * reports is a NUL-terminated method of capital letters and a path of
 * visible characters; splitting the input never changes the answer for
 * the whole. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "admin.h"

#define CHECK(c)                                                               \
  do {                                                                         \
    if (!(c))                                                                  \
      abort();                                                                 \
  } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const char *buf = (const char *)data;
  gh__admin_req req, again;
  int r = gh__admin_parse(buf, size, &req);
  if (r > 0) {
    CHECK((size_t)r <= size && r >= 4);
    CHECK(memcmp(buf + r - 4, "\r\n\r\n", 4) == 0);
    CHECK(memchr(req.method, 0, sizeof(req.method)) != NULL);
    CHECK(memchr(req.path, 0, sizeof(req.path)) != NULL);
    for (const char *m = req.method; *m; m++)
      CHECK(*m >= 'A' && *m <= 'Z');
    for (const char *p = req.path; *p; p++)
      CHECK((unsigned char)*p > 0x20 && (unsigned char)*p < 0x7f && *p != '?');
    /* The same bytes and more parse to the same request. */
    CHECK(gh__admin_parse(buf, (size_t)r, &again) == r);
    CHECK(strcmp(req.method, again.method) == 0);
    CHECK(strcmp(req.path, again.path) == 0);
  } else {
    CHECK(r == 0 || r == GH_EPROTO || r == GH_EMSGSIZE);
  }
  /* Half the bytes hold a request only when the whole does: the same. */
  int p = gh__admin_parse(buf, size / 2, &again);
  if (p > 0)
    CHECK(r == p);
  return 0;
}
