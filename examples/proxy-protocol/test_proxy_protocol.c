/* Unit test of proxy-protocol.so without the daemon: the plugin is loaded
 * into gatehouse's mock host (tests/support/mock_host.{c,h} of the gatehouse
 * sources, copied next to this file or named by MOCK_DIR), which plays the
 * core: it calls open/up/down/... and records what the plugin passes on.
 *
 *   make check            (runs ./test_proxy_protocol ./proxy-protocol.so)
 *
 * Plain C with no test framework; exits 1 on the first failed check. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mock_host.h"

static int checks;

#define CHECK(cond, ...)                                                       \
  do {                                                                         \
    checks++;                                                                  \
    if (!(cond)) {                                                             \
      fprintf(stderr, "%s:%d: check failed: %s: ", __FILE__, __LINE__, #cond); \
      fprintf(stderr, __VA_ARGS__);                                            \
      fputc('\n', stderr);                                                     \
      exit(1);                                                                 \
    }                                                                          \
  } while (0)

static const gh_handler *h;

/* The bytes as C-escaped text, for failure messages. */
static const char *show(const uint8_t *p, size_t n) {
  static char buf[1024];
  size_t o = 0;
  for (size_t i = 0; i < n && o + 5 < sizeof buf; i++)
    o += (size_t)snprintf(
        buf + o, sizeof buf - o,
        p[i] >= 0x20 && p[i] < 0x7f && p[i] != '\\' ? "%c" : "\\x%02x", p[i]);
  buf[o] = '\0';
  return buf;
}

/* A resource-side link of a fresh instance with `version` ("1", "2" or
 * NULL for the default), as the core would open it: the application's
 * address in peer, local as given (usually none on the resource side). */
static mock_link *open_link(const char *version, const char *peer,
                            uint16_t peer_port, const char *local,
                            uint16_t local_port, const char *resource_host,
                            uint16_t resource_port) {
  mock_inst *i = mock_inst_new(h, GH_SIDE_RESOURCE);
  if (version)
    mock_inst_opt(i, "version", version);
  CHECK(mock_inst_init(i) == 0, "inst_init: %s", i->err);
  mock_link *l = mock_link_new(i);
  if (peer)
    CHECK(mock_addr(&l->peer, peer, peer_port) == 0, "address %s", peer);
  if (local)
    CHECK(mock_addr(&l->local, local, local_port) == 0, "address %s", local);
  l->resource_host = resource_host;
  l->resource_port = resource_port;
  int32_t rc = mock_open(l);
  CHECK(rc == 0, "open() returned %s", gh_errname(rc));
  return l;
}

static void expect_header(mock_link *l, const void *want, size_t len) {
  CHECK(l->down.len == len && memcmp(l->down.data, want, len) == 0,
        "header sent: \"%s\" (%zu bytes), want %zu bytes",
        show(l->down.data, l->down.len), l->down.len, len);
  CHECK(l->send_down_calls == 1, "header in %u writes", l->send_down_calls);
  CHECK(l->up.len == 0, "nothing goes up from open()");
  mock_close(l, 0);
}

#define TEXT(s) (s), (sizeof(s) - 1)

static void test_listen_side_refused(void) {
  mock_inst *i = mock_inst_new(h, GH_SIDE_LISTEN);
  int32_t rc = mock_inst_init(i);
  CHECK(rc == GH_EINVAL, "inst_init on the listen side: %s", gh_errname(rc));
  CHECK(strstr(i->err, "proxy-protocol is a resource-side layer") != NULL,
        "reason: %s", i->err);
}

static void test_option_declared(void) {
  const gh_option *o = mock_option(h, "version");
  CHECK(o && o->type == GH_OPT_INT && o->min == 1 && o->max == 2 && o->def &&
            strcmp(o->def, "1") == 0 && o->help && o->help[0],
        "the version option is int 1..2, default 1, with help");
  CHECK(h->kind == GH_KIND_LAYER && h->n_options == 1, "one layer option");
}

static void test_v1(void) {
  expect_header(
      open_link(NULL, "192.0.2.10", 40000, NULL, 0, "198.51.100.1", 5432),
      TEXT("PROXY TCP4 192.0.2.10 198.51.100.1 40000 5432\r\n"));
  expect_header(
      open_link("1", "2001:db8::10", 50000, NULL, 0, "2001:db8::1", 443),
      TEXT("PROXY TCP6 2001:db8::10 2001:db8::1 50000 443\r\n"));
  /* where the application arrived, when the core knows it, is the dst */
  expect_header(open_link("1", "192.0.2.10", 1, "203.0.113.7", 8443,
                          "198.51.100.1", 5432),
                TEXT("PROXY TCP4 192.0.2.10 203.0.113.7 1 8443\r\n"));
  /* families: the source's decides; an IPv4 dst under IPv6 is mapped */
  expect_header(
      open_link("1", "2001:db8::10", 65535, NULL, 0, "198.51.100.1", 5432),
      TEXT("PROXY TCP6 2001:db8::10 ::ffff:198.51.100.1 65535 "
           "5432\r\n"));
  expect_header(
      open_link("1", "192.0.2.10", 40000, NULL, 0, "2001:db8::1", 5432),
      TEXT("PROXY TCP4 192.0.2.10 0.0.0.0 40000 5432\r\n"));
  /* a host name is not resolved here */
  expect_header(
      open_link("1", "192.0.2.10", 40000, NULL, 0, "db.internal", 5432),
      TEXT("PROXY TCP4 192.0.2.10 0.0.0.0 40000 5432\r\n"));
  expect_header(open_link("1", NULL, 0, NULL, 0, "198.51.100.1", 5432),
                TEXT("PROXY UNKNOWN\r\n"));
}

static const uint8_t SIG[] = {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D,
                              0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};

static void test_v2(void) {
  uint8_t v4[28];
  memcpy(v4, SIG, 12);
  const uint8_t v4rest[] = {0x21, 0x11, 0,   12, 192,  0,    2,    10,
                            198,  51,   100, 1,  0x9c, 0x40, 0x15, 0x38};
  memcpy(v4 + 12, v4rest, sizeof v4rest);
  expect_header(
      open_link("2", "192.0.2.10", 40000, NULL, 0, "198.51.100.1", 5432), v4,
      sizeof v4);

  uint8_t v6[52];
  memcpy(v6, SIG, 12);
  const uint8_t v6rest[] = {
      0x21, 0x21, 0,    36, /* TCP6, 36 */
      0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10, /* src */
      0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, /* dst */
      0xc3, 0x50, 0x01, 0xbb};
  memcpy(v6 + 12, v6rest, sizeof v6rest);
  expect_header(
      open_link("2", "2001:db8::10", 50000, NULL, 0, "2001:db8::1", 443), v6,
      sizeof v6);

  uint8_t unspec[16];
  memcpy(unspec, SIG, 12);
  unspec[12] = 0x21;
  unspec[13] = 0x00;
  unspec[14] = unspec[15] = 0;
  expect_header(open_link("2", NULL, 0, NULL, 0, "198.51.100.1", 5432), unspec,
                sizeof unspec);
}

static void test_pass_through(void) {
  mock_link *l =
      open_link("1", "192.0.2.10", 40000, NULL, 0, "198.51.100.1", 5432);
  size_t hlen = l->down.len;
  uint8_t big[70000];
  for (size_t i = 0; i < sizeof big; i++)
    big[i] = (uint8_t)(i * 7);
  CHECK(mock_down(l, big, sizeof big) == 0, "down()");
  CHECK(mock_down(l, "tail", 4) == 0, "down()");
  CHECK(l->down.len == hlen + sizeof big + 4 &&
            memcmp(l->down.data + hlen, big, sizeof big) == 0 &&
            memcmp(l->down.data + hlen + sizeof big, "tail", 4) == 0,
        "down bytes pass through untouched");
  CHECK(mock_up(l, big, sizeof big) == 0, "up()");
  CHECK(l->up.len == sizeof big && memcmp(l->up.data, big, sizeof big) == 0,
        "up bytes pass through untouched, and no header goes up");
  CHECK(l->send_up_calls == 1, "up() passes on at once, in one call");
  mock_up_eof(l);
  CHECK(l->eof_up == 1 && l->eof_down == 0, "up_eof passes on");
  mock_down_eof(l);
  CHECK(l->eof_down == 1, "down_eof passes on");
  mock_close(l, 0);
  CHECK(l->closed == 1, "closed");
}

static void test_send_failure_fails_open(void) {
  mock_inst *i = mock_inst_new(h, GH_SIDE_RESOURCE);
  CHECK(mock_inst_init(i) == 0, "inst_init");
  mock_link *l = mock_link_new(i);
  mock_addr(&l->peer, "192.0.2.10", 40000);
  l->send_down_ret = GH_EPIPE;
  int32_t rc = mock_open(l);
  CHECK(rc == GH_EPIPE, "open() when the header cannot be sent: %s",
        gh_errname(rc));
  mock_close(l, rc);
}

int main(int argc, char **argv) {
  const char *so = argc > 1 ? argv[1] : "./proxy-protocol.so";
  char err[512];
  CHECK(mock_init() == 0, "mock_init");
  CHECK(mock_plugin_load(so, err, sizeof err) != NULL, "load: %s", err);
  h = mock_handler("proxy-protocol");
  CHECK(h != NULL, "handler proxy-protocol");

  test_option_declared();
  test_listen_side_refused();
  test_v1();
  test_v2();
  test_pass_through();
  test_send_failure_fails_open();

  uint32_t violations = mock_stats.violations;
  CHECK(mock_fini() == 0, "mock_fini: handles left open");
  CHECK(violations == 0 && mock_stats.violations == 0,
        "%u contract violations (printed above)", mock_stats.violations);
  CHECK(mock_stats.live_allocs == 0, "%llu allocations not freed",
        (unsigned long long)mock_stats.live_allocs);
  printf("test_proxy_protocol: %d checks passed\n", checks);
  return 0;
}
