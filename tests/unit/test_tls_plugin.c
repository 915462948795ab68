/* The TLS layer plugin (build/plugins/tls.so), driven through the mock host:
 * a listen-side link and a resource-side link talk to each other, what one
 * passes down being given to the other's up(), with certificates made in
 * memory (core/certgen). Covers the options' checks, the handshake both
 * ways, data and half-close in both directions, resumption, and refusals
 * (no client certificate, plaintext, a stalled handshake). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
/* cmocka needs the above first */
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "certgen.h"
#include "mock_host.h"

#define TLS_SO MOCK_PLUGIN_PATH("tls")
#define WAIT_MS 10000u

static gh__pem ca, server, client, other_ca, other_client;

static int group_setup(void **state) {
  (void)state;
  static const char *const sans[] = {"DNS:localhost", "IP:127.0.0.1"};
  if (gh__certgen_ca("test CA", 2, &ca) ||
      gh__certgen_ca("other CA", 2, &other_ca) ||
      gh__certgen_leaf(&ca, "localhost", sans, 2, 1, 2, &server) ||
      gh__certgen_leaf(&ca, "app", NULL, 0, 0, 2, &client) ||
      gh__certgen_leaf(&other_ca, "stranger", NULL, 0, 0, 2, &other_client))
    return -1;
  return 0;
}

static int group_teardown(void **state) {
  (void)state;
  gh__pem *all[] = {&ca, &server, &client, &other_ca, &other_client};
  for (size_t i = 0; i < 5; i++)
    gh__pem_free(all[i]);
  return 0;
}

static const gh_handler *H;
/* Every warning of the test, one per line. */
static char warn_lines[4096];

static int setup(void **state) {
  (void)state;
  char err[512];
  if (mock_init() != 0)
    return -1;
  if (!getenv("GH_MOCK_LOG"))
    mock_config.print_level = GH_LOG_ERROR; /* the refusals warn on purpose */
  if (!mock_plugin_load(TLS_SO, err, sizeof err)) {
    fprintf(stderr, "cannot load the tls plugin: %s\n", err);
    return -1;
  }
  H = mock_handler("tls");
  warn_lines[0] = '\0';
  return H ? 0 : -1;
}

static int teardown(void **state) {
  (void)state;
  int rc = mock_fini();
  if (rc != 0 || mock_stats.violations || mock_stats.live_allocs) {
    fprintf(stderr, "mock_fini %d, %u violations, %llu allocations left\n", rc,
            mock_stats.violations, (unsigned long long)mock_stats.live_allocs);
    return -1;
  }
  return 0;
}

static void blob(mock_inst *i, const char *name, const char *pem) {
  mock_inst_blob(i, name, pem, strlen(pem));
}

static mock_inst *listen_inst(int mutual) {
  mock_inst *i = mock_inst_new(H, GH_SIDE_LISTEN);
  blob(i, "cert", server.cert);
  blob(i, "key", server.key);
  if (mutual)
    blob(i, "client_ca", ca.cert);
  return i;
}

static mock_inst *resource_inst(const gh__pem *id) {
  mock_inst *i = mock_inst_new(H, GH_SIDE_RESOURCE);
  blob(i, "ca", ca.cert);
  if (id) {
    blob(i, "cert", id->cert);
    blob(i, "key", id->key);
  }
  return i;
}

static void note_warns(uint32_t before) {
  if (mock_stats.logs[GH_LOG_WARN] == before)
    return;
  size_t n = strlen(warn_lines);
  snprintf(warn_lines + n, sizeof warn_lines - n, "%s\n", mock_stats.last_warn);
}

/* Gives b what a passed down since the last call; 1 when bytes moved. */
static int move(mock_link *a, mock_link *b, int32_t *rc) {
  if (a->down.len == 0 || b->close_called || b->abort_calls)
    return 0;
  mock_buf m = a->down;
  memset(&a->down, 0, sizeof a->down);
  uint32_t before = mock_stats.logs[GH_LOG_WARN];
  int32_t r = mock_up(b, m.data, m.len);
  note_warns(before);
  if (rc && r < 0)
    *rc = r;
  mock_buf_reset(&m);
  return 1;
}

/* What was logged when the resource side became ready (its success line
 * says whether the session was resumed). */
static char r_ready_log[512];

/* Moves bytes both ways until neither side has anything to give. */
static int32_t pump(mock_link *l, mock_link *r) {
  int32_t rc = 0;
  for (;;) {
    int was = r->ready_calls;
    int moved = move(l, r, &rc);
    if (!was && r->ready_calls)
      snprintf(r_ready_log, sizeof r_ready_log, "%s", mock_stats.last_log);
    moved |= move(r, l, &rc);
    if (!moved)
      return rc;
  }
}

typedef struct pair {
  mock_link *l, *r;
} pair;

static pair connect_pair(mock_inst *li, mock_inst *ri, const char *host) {
  pair p = {mock_link_new(li), mock_link_new(ri)};
  mock_addr(&p.l->peer, "192.0.2.7", 5555);
  p.r->resource_host = host;
  p.r->resource_port = 443;
  assert_int_equal(mock_open(p.l), GH_PENDING);
  assert_int_equal(mock_open(p.r), GH_PENDING);
  assert_true(p.r->down.len > 0); /* the ClientHello, at once */
  pump(p.l, p.r);
  return p;
}

static void close_pair(pair *p) {
  mock_close(p->l, 0);
  mock_close(p->r, 0);
}

/* ------------------------------------------------------------ options */

static void expect_init_error(mock_inst *i, const char *what) {
  int32_t rc = mock_inst_init(i);
  if (rc == 0 || !strstr(i->err, what))
    fprintf(stderr, "got %d '%s', expected '%s'\n", rc, i->err, what);
  assert_true(rc < 0);
  assert_non_null(strstr(i->err, what));
}

static void test_options(void **state) {
  (void)state;
  expect_init_error(mock_inst_new(H, GH_SIDE_LISTEN),
                    "the listen side needs listen.tls.cert and listen.tls.key");
  mock_inst *i = mock_inst_new(H, GH_SIDE_LISTEN);
  blob(i, "cert", server.cert);
  blob(i, "key", client.key);
  expect_init_error(i, "listen.tls.key does not match listen.tls.cert");
  i = mock_inst_new(H, GH_SIDE_RESOURCE);
  blob(i, "cert", client.cert);
  expect_init_error(i, "resource.tls.cert and resource.tls.key go together");
  /* The core refuses a version that is not one of the enum's words before
   * inst_init() runs (the mock counts it); tls checks it again. */
  i = listen_inst(0);
  mock_inst_opt(i, "min_version", "1.1");
  uint32_t before = mock_stats.violations;
  expect_init_error(i, "listen.tls.min_version must be 1.2 or 1.3, not '1.1'");
  assert_int_equal(mock_stats.violations, before + 1);
  mock_stats.violations = before;
  i = listen_inst(0);
  blob(i, "client_ca", "not a certificate");
  expect_init_error(i, "listen.tls.client_ca: no PEM certificate in it");
  i = mock_inst_new(H, GH_SIDE_LISTEN);
  blob(i, "cert", "garbage");
  blob(i, "key", server.key);
  expect_init_error(i, "listen.tls.cert: no usable PEM certificate");
  i = resource_inst(NULL);
  mock_inst_opt(i, "server_name", "");
  expect_init_error(i, "resource.tls.server_name is empty");
  /* defaults: the system's trust store; verify = no is warned about */
  i = mock_inst_new(H, GH_SIDE_RESOURCE);
  assert_int_equal(mock_inst_init(i), 0);
  uint32_t warns = mock_stats.logs[GH_LOG_WARN];
  i = mock_inst_new(H, GH_SIDE_RESOURCE);
  mock_inst_opt(i, "verify", "no");
  assert_int_equal(mock_inst_init(i), 0);
  assert_int_equal(mock_stats.logs[GH_LOG_WARN], warns + 1);
  assert_non_null(strstr(mock_stats.last_warn, "resource.tls.verify = no"));
}

/* ---------------------------------------------------------- the data path */

static void fill(uint8_t *p, size_t n, uint32_t seed) {
  uint32_t x = seed * 2654435761u + 1;
  for (size_t i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    p[i] = (uint8_t)x;
  }
}

/* Sends n bytes down `from` in tunnel-sized pieces; `to` must pass the
 * same bytes up. */
static void transfer(mock_link *from, mock_link *to, size_t n, uint32_t seed) {
  uint8_t *data = malloc(n ? n : 1);
  assert_non_null(data);
  fill(data, n, seed);
  mock_buf_reset(&to->up);
  for (size_t off = 0; off < n; off += 16384) {
    size_t k = n - off < 16384 ? n - off : 16384;
    assert_int_equal(mock_down(from, data + off, k), 0);
    assert_int_equal(pump(from, to), 0);
  }
  assert_int_equal(to->up.len, n);
  if (n)
    assert_memory_equal(to->up.data, data, n);
  free(data);
}

static void test_handshake_data_half_close(void **state) {
  (void)state;
  mock_inst *li = listen_inst(1), *ri = resource_inst(&client);
  assert_int_equal(mock_inst_init(li), 0);
  assert_int_equal(mock_inst_init(ri), 0);
  for (int round = 0; round < 2; round++) {
    pair p = connect_pair(li, ri, round ? "localhost" : "127.0.0.1");
    assert_int_equal(p.l->ready_calls, 1);
    assert_int_equal(p.l->ready_status, 0);
    assert_int_equal(p.r->ready_calls, 1);
    assert_int_equal(p.r->ready_status, 0);
    /* the second connection resumes the first one's session */
    assert_non_null(
        strstr(r_ready_log, round ? "resumed session" : "new session"));
    transfer(p.r, p.l, 1000000, 1); /* resource side -> listen side */
    transfer(p.l, p.r, 777777, 2);  /* and back */
    transfer(p.l, p.r, 0, 3);
    /* the resource side's half-close: close_notify, then eof_down */
    mock_down_eof(p.r);
    assert_int_equal(p.r->eof_down, 1);
    pump(p.l, p.r);
    assert_int_equal(p.l->eof_up, 1);
    /* the other way still flows */
    transfer(p.l, p.r, 50000, 4);
    mock_down_eof(p.l);
    pump(p.l, p.r);
    assert_int_equal(p.r->eof_up, 1);
    assert_int_equal(p.l->abort_calls + p.r->abort_calls, 0);
    close_pair(&p);
  }
}

static void test_tcp_eof_without_close_notify(void **state) {
  (void)state;
  mock_inst *li = listen_inst(0), *ri = resource_inst(NULL);
  assert_int_equal(mock_inst_init(li), 0);
  assert_int_equal(mock_inst_init(ri), 0);
  pair p = connect_pair(li, ri, "localhost");
  transfer(p.l, p.r, 5000, 5);
  mock_up_eof(p.r); /* the resource's FIN, no close_notify */
  assert_int_equal(p.r->eof_up, 1);
  assert_int_equal(p.r->abort_calls, 0);
  close_pair(&p);
}

/* ------------------------------------------------------------ refusals */

static void test_no_client_certificate(void **state) {
  (void)state;
  mock_inst *li = listen_inst(1), *ri = resource_inst(NULL);
  assert_int_equal(mock_inst_init(li), 0);
  assert_int_equal(mock_inst_init(ri), 0);
  pair p = connect_pair(li, ri, "localhost");
  /* the listen side refuses in its handshake, ending in order so that its
   * alert reaches the peer; it never becomes ready */
  assert_int_equal(p.l->ready_calls, 0);
  assert_int_equal(p.l->abort_calls, 1);
  assert_int_equal(p.l->abort_reason, 0);
  assert_non_null(strstr(warn_lines,
                         "TLS handshake from 192.0.2.7:5555 failed: "
                         "no client certificate"));
  assert_non_null(strstr(warn_lines,
                         "TLS with resource localhost:443 failed: the "
                         "resource refused our certificate"));
  /* TLS 1.3: the client was done; the alert makes its next read fail */
  assert_int_equal(p.r->ready_status, 0);
  assert_true(p.r->up.len == 0);
  close_pair(&p);

  /* a certificate of another CA */
  ri = resource_inst(&other_client);
  assert_int_equal(mock_inst_init(ri), 0);
  p = connect_pair(li, ri, "localhost");
  assert_int_equal(p.l->ready_calls, 0);
  assert_non_null(strstr(warn_lines,
                         "TLS handshake from 192.0.2.7:5555 failed: "
                         "certificate verify failed (unable to get "
                         "local issuer certificate)"));
  close_pair(&p);
}

static void test_wrong_name_and_plaintext(void **state) {
  (void)state;
  mock_inst *li = listen_inst(0), *ri = resource_inst(NULL);
  assert_int_equal(mock_inst_init(li), 0);
  assert_int_equal(mock_inst_init(ri), 0);
  /* the resource side checks the name it was given */
  pair p = connect_pair(li, ri, "db.example");
  assert_int_equal(p.r->ready_calls, 1);
  assert_int_equal(p.r->ready_status, GH_ECERT);
  assert_non_null(strstr(warn_lines,
                         "TLS handshake with resource db.example:443 failed: "
                         "certificate verify failed (hostname mismatch: the "
                         "certificate is not for 'db.example')"));
  close_pair(&p);
  /* plaintext on the listen side: refused at the first byte */
  mock_link *l = mock_link_new(li);
  mock_addr(&l->peer, "198.51.100.1", 4242);
  assert_int_equal(mock_open(l), GH_PENDING);
  assert_int_equal(mock_up(l, "GET / HTTP/1.1\r\n", 16), 0);
  assert_int_equal(l->abort_calls, 1);
  assert_non_null(strstr(mock_stats.last_warn,
                         "TLS handshake from 198.51.100.1:4242 failed: "
                         "plaintext (not TLS)"));
  mock_close(l, 0);
}

static void test_handshake_timeout(void **state) {
  (void)state;
  mock_inst *li = listen_inst(0);
  mock_inst_opt(li, "handshake_timeout", "1");
  assert_int_equal(mock_inst_init(li), 0);
  mock_link *l = mock_link_new(li);
  mock_addr(&l->peer, "192.0.2.9", 9999);
  assert_int_equal(mock_open(l), GH_PENDING);
  assert_true(mock_run_until(mock_pred_link_aborted, l, WAIT_MS));
  assert_non_null(strstr(mock_stats.last_warn,
                         "TLS handshake from 192.0.2.9:9999 timed out after "
                         "1 s"));
  mock_close(l, 0);
  mock_run_for(20); /* the timer's handle closes */
  assert_int_equal(mock_stats.timers_live, 0);
}

static void test_exports(void **state) {
  (void)state;
  char **names = NULL;
  int n = mock_elf_exports(TLS_SO, &names);
  assert_int_equal(n, 1);
  assert_string_equal(names[0], "gh_plugin_entry");
  mock_strv_free(names);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_options, setup, teardown),
      cmocka_unit_test_setup_teardown(test_handshake_data_half_close, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_tcp_eof_without_close_notify, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_no_client_certificate, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_wrong_name_and_plaintext, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_handshake_timeout, setup, teardown),
      cmocka_unit_test(test_exports),
  };
  return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
