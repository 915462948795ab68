/* The admin endpoint's pure parts (core/admin.c): the request parser and
 * the /metrics and /status bodies rendered from a runtime built in memory.
 * The served endpoint itself is tested end to end (tests/e2e/test_ops.py). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "admin.h"
#include "gateway.h"
#include "log.h"
#include "runtime.h"
#include "tunnel.h"

static int parse(const char *text, gh__admin_req *req) {
  return gh__admin_parse(text, strlen(text), req);
}

static void test_parse_requests(void **state) {
  (void)state;
  gh__admin_req r;
  const char *get = "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n";
  assert_int_equal(parse(get, &r), (int)strlen(get));
  assert_string_equal(r.method, "GET");
  assert_string_equal(r.path, "/metrics");
  /* the query is not part of the path; HTTP/1.0 is fine */
  assert_true(parse("HEAD /status?pretty=1 HTTP/1.0\r\n\r\n", &r) > 0);
  assert_string_equal(r.method, "HEAD");
  assert_string_equal(r.path, "/status");
  /* bytes after the head (a body) are not counted */
  assert_int_equal(parse("GET / HTTP/1.1\r\n\r\nextra", &r), 18);
}

static void test_parse_incomplete_and_bad(void **state) {
  (void)state;
  gh__admin_req r;
  assert_int_equal(parse("", &r), 0);
  assert_int_equal(parse("GET /metrics HTTP/1.1\r\nHost: x\r\n", &r), 0);
  assert_int_equal(parse("GET /metrics HTTP/1.1\n\n", &r), 0); /* bare LF */
  assert_int_equal(parse("GET /metrics\r\n\r\n", &r), GH_EPROTO);
  assert_int_equal(parse("GET  HTTP/1.1\r\n\r\n", &r), GH_EPROTO);
  assert_int_equal(parse("get /x HTTP/1.1\r\n\r\n", &r), GH_EPROTO);
  assert_int_equal(parse("GET /x HTTP/2.0\r\n\r\n", &r), GH_EPROTO);
  assert_int_equal(parse("GET /x HTTP/1.1x\r\n\r\n", &r), GH_EPROTO);
  assert_int_equal(parse("GET /a\x01 HTTP/1.1\r\n\r\n", &r), GH_EPROTO);
  assert_int_equal(parse("VERYLONGMETHODNAME / HTTP/1.1\r\n\r\n", &r),
                   GH_EPROTO);
  char big[9000];
  memset(big, 'a', sizeof(big));
  assert_int_equal(gh__admin_parse(big, sizeof(big), &r), GH_EMSGSIZE);
  char longpath[400];
  snprintf(longpath, sizeof(longpath), "GET /%0300d HTTP/1.1\r\n\r\n", 0);
  assert_int_equal(parse(longpath, &r), GH_EPROTO);
}

/* A server runtime with one gateway, one live tunnel and two
 * destinations, one of them in error; names that need escaping. */
typedef struct world {
  gh__rt rt;
  gh__gw gw, *gws[1];
  gh__tunnel t, *live[1];
  gh__dest c1, c2;
  gh__drt d1, d2, *dests[2];
} world;

static void world_init(world *w) {
  memset(w, 0, sizeof(*w));
  w->rt.role = GH__ROLE_SERVER;
  w->rt.subject = "server";
  w->rt.tunnels_accepted = 7;
  w->rt.hs_failures[GH__HSF_TOKEN] = 3;
  w->gw.id = "gw\"1";
  w->gw.rt = &w->rt;
  snprintf(w->t.peer, sizeof(w->t.peer), "192.0.2.9:4433");
  w->t.up_since_ms = gh__now_ms() - 65000;
  w->t.rtt_ms = 3;
  w->live[0] = &w->t;
  w->gw.live = w->live;
  w->gw.n_live = 1;
  w->c1.name = "db";
  w->c1.type = GH__DEST_ONPREM;
  w->d1.cfg = &w->c1;
  w->d1.side = GH_SIDE_LISTEN;
  w->d1.st.opened = 12;
  w->d1.st.active = 2;
  w->d1.st.bytes_in = 1234567;
  w->d1.st.dgrams_dropped = 5;
  w->c2.name = "web\\x";
  w->c2.type = GH__DEST_CLOUD;
  w->d2.cfg = &w->c2;
  w->d2.side = GH_SIDE_RESOURCE;
  w->d2.status = GH_EADDRINUSE;
  w->d2.error = "port 80 \"taken\"\n";
  w->dests[0] = &w->d1;
  w->dests[1] = &w->d2;
  w->gw.dests = w->dests;
  w->gw.n_dests = 2;
  w->gws[0] = &w->gw;
  w->rt.gws = w->gws;
  w->rt.n_gws = 1;
}

static char *render(world *w, const char *path) {
  gh__buf b = {0};
  const char *type = NULL;
  assert_int_equal(gh__admin_render(&w->rt, path, &b, &type), 0);
  assert_non_null(type);
  char *s = gh__strndup((const char *)gh__buf_head(&b), b.len);
  gh__buf_free(&b);
  return s;
}

static void test_metrics(void **state) {
  (void)state;
  world w;
  world_init(&w);
  char *m = render(&w, "/metrics");
  assert_non_null(strstr(m, "gatehouse_tunnels_up{gateway=\"gw\\\"1\"} 1\n"));
  assert_non_null(strstr(m, "gatehouse_tunnels_accepted_total 7\n"));
  assert_non_null(
      strstr(m, "gatehouse_handshake_failures_total{reason=\"token\"} 3\n"));
  assert_non_null(strstr(m, "gatehouse_streams_opened_total{gateway=\"gw\\\"1"
                            "\",destination=\"db\"} 12\n"));
  assert_non_null(strstr(m, "gatehouse_bytes_in_total{gateway=\"gw\\\"1\","
                            "destination=\"db\"} 1234567\n"));
  assert_non_null(strstr(m, "gatehouse_datagrams_dropped_total{gateway=\"gw"
                            "\\\"1\",destination=\"db\"} 5\n"));
  assert_non_null(strstr(m, "gatehouse_destination_up{gateway=\"gw\\\"1\","
                            "destination=\"web\\\\x\"} 0\n"));
  /* every sample line's metric has its TYPE line before it */
  assert_non_null(strstr(m, "# TYPE gatehouse_streams_active gauge\n"));
  free(m);
}

static void test_status(void **state) {
  (void)state;
  world w;
  world_init(&w);
  char *s = render(&w, "/status");
  assert_non_null(strstr(s, "{\"role\":\"server\""));
  assert_non_null(strstr(s, "\"id\":\"gw\\\"1\""));
  assert_non_null(strstr(s, "\"peer\":\"192.0.2.9:4433\",\"age_s\":65"));
  assert_non_null(strstr(s, "\"name\":\"db\",\"type\":\"onprem\",\"side\":"
                            "\"listen\",\"state\":\"listening\",\"active\":2,"
                            "\"error\":null"));
  assert_non_null(strstr(s, "\"state\":\"error\""));
  assert_non_null(strstr(s, "\"error\":\"port 80 \\\"taken\\\"\\u000a\""));
  free(s);
  gh__buf b = {0};
  const char *type;
  assert_int_equal(gh__admin_render(&w.rt, "/", &b, &type), GH_ENOENT);
}

/* Peer text (a client's NOTICE lands in a destination's error) may hold
 * any bytes: /status is valid UTF-8 whatever they are. */
static void test_status_utf8(void **state) {
  (void)state;
  world w;
  world_init(&w);
  w.d2.error = "client 192.0.2.9: caf\xc3\xa9 \xff\xc3( \xed\xa0\x80 "
               "\xc2\x9b\x1b[2J\x7f \xf0\x9f\x98\x80 \xe2\x82";
  char *s = render(&w, "/status");
  assert_non_null(strstr(s, "\"error\":\"client 192.0.2.9: caf\xc3\xa9 "
                            "\xef\xbf\xbd\xef\xbf\xbd( "
                            "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd "
                            "\\u009b\\u001b[2J\\u007f \xf0\x9f\x98\x80 "
                            "\xef\xbf\xbd\xef\xbf\xbd\""));
  /* and the whole body is well-formed UTF-8 */
  const unsigned char *p = (const unsigned char *)s;
  size_t n = strlen(s);
  for (size_t i = 0; i < n;) {
    uint32_t cp;
    size_t k = gh__utf8_seq(p + i, n - i, &cp);
    assert_true(k > 0);
    i += k;
  }
  free(s);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_parse_requests),
      cmocka_unit_test(test_parse_incomplete_and_bad),
      cmocka_unit_test(test_metrics),
      cmocka_unit_test(test_status),
      cmocka_unit_test(test_status_utf8),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
