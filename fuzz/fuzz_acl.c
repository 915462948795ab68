/* Address rules and the pushed destination set, on any bytes.
 *
 * Each line of the input goes to gh__iplist_add (as an `allow` line), to
 * gh__acl_add (as an allow or deny target; every third line also as a
 * `listen` target), to gh__addr_parse and to
 * gh__hostport_parse; the lists built are then queried, and the decisions
 * checked against simple invariants. The whole input also goes to
 * gh__dests_decode, as a server could send it; what decodes must encode
 * and decode again to the same destinations. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "acl.h"
#include "config.h"

#define CHECK(c)                                                               \
  do {                                                                         \
    if (!(c))                                                                  \
      abort();                                                                 \
  } while (0)

static const char *const probes[] = {
    "0.0.0.0",
    "10.0.0.1",
    "255.255.255.255",
    "::",
    "::1",
    "::ffff:10.0.0.1",
    "2001:db8::1",
    "192.0.2.7",
    "fd00::ffff",
    "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
};

static void rules(const char *text) {
  gh__iplist l = {0};
  gh__acl acl = {0};
  char err[256];
  char *copy = strdup(text);
  CHECK(copy);
  int line = 0;
  for (char *s = copy, *next; s; s = next) {
    next = strchr(s, '\n');
    if (next)
      *next++ = '\0';
    line++;
    size_t before = l.n;
    if (gh__iplist_add(&l, s, err, sizeof(err)) < 0)
      CHECK(l.n == before && err[0]);
    before = acl.n;
    if (gh__acl_add(&acl, line & 1, s, line, err, sizeof(err)) < 0)
      CHECK(acl.n == before && err[0]);
    before = acl.n;
    if (line % 3 == 0 &&
        gh__acl_add_listen(&acl, s, line, err, sizeof(err)) < 0)
      CHECK(acl.n == before && err[0]);
    gh_addr a;
    char out[80];
    if (gh__addr_parse(s, &a) == 0) {
      /* what parses formats back to an address that parses the same */
      gh__addr_format(&a, out, sizeof(out));
      gh_addr b;
      CHECK(gh__addr_parse(out, &b) == 0 && memcmp(&a, &b, sizeof(a)) == 0);
    }
    char *host;
    uint16_t port;
    if (gh__hostport_parse(s, &host, &port) == 0) {
      CHECK(port != 0);
      free(host);
    }
  }
  for (size_t i = 0; i < sizeof(probes) / sizeof(probes[0]); i++) {
    gh_addr a;
    CHECK(gh__addr_parse(probes[i], &a) == 0);
    gh__iplist_match(&l, &a);
    int line1 = -1, line2 = -1;
    int one = gh__acl_check(&acl, "db.internal", 5432, &a, 1, &line1);
    /* adding an address can only turn an allow into a deny */
    gh_addr two[2] = {a, a};
    two[1].addr[15] ^= 1;
    int both = gh__acl_check(&acl, "db.internal", 5432, two, 2, &line2);
    CHECK(!both || one);
    CHECK(line1 >= 0 && line1 <= line && line2 >= 0 && line2 <= line);
    gh__acl_check(&acl, probes[i], 1, NULL, 0, &line1);
    /* loopback above 1023 is always allowed; the rest only by a rule */
    int ok = gh__acl_listen_check(&acl, probes[i], 8080, &line1);
    CHECK(line1 >= 0 && line1 <= line);
    CHECK(ok || strcmp(probes[i], "::1") != 0);
    if (ok && line1 == 0)
      CHECK(strcmp(probes[i], "::1") == 0);
    CHECK(gh__acl_listen_equal(&acl, &acl));
  }
  gh__iplist_free(&l);
  gh__acl_free(&acl);
  free(copy);
}

static void pushed(const uint8_t *data, size_t size) {
  gh__dest *v = NULL;
  size_t n = 0;
  char err[512];
  int rc = gh__dests_decode(data, size, &v, &n, err, sizeof(err));
  if (rc < 0) {
    CHECK((rc == GH_EPROTO || rc == GH_EINVAL) && v == NULL && n == 0);
    return;
  }
  CHECK(n <= GH__DESTS_MAX);
  /* Re-encode the destinations of each gateway; they decode again. */
  gh__server_cfg c = {.dests = v, .n_dests = n};
  for (size_t i = 0; i < n; i++) {
    CHECK(v[i].name && v[i].gateway && v[i].pushed);
    uint8_t *blob;
    size_t len, m;
    gh__dest *w;
    if (gh__dests_encode(&c, v[i].gateway, &blob, &len) < 0)
      continue;
    CHECK(gh__dests_decode(blob, len, &w, &m, err, sizeof(err)) == 0);
    for (size_t k = 0; k < m; k++)
      gh__dest_free(&w[k]);
    free(w);
    free(blob);
  }
  for (size_t i = 0; i < n; i++)
    gh__dest_free(&v[i]);
  free(v);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *text = malloc(size + 1);
  CHECK(text);
  memcpy(text, data, size);
  text[size] = '\0';
  rules(text);
  free(text);
  pushed(data, size);
  return 0;
}
