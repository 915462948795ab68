/* The mock host's contract checks around close() (tests/support), with the
 * layers of tests/plugins/probe.c: what the SDK allows inside close() is no
 * violation (probe's close() reads link_data, link_info, link_inst, opt_get,
 * logs and clears its slot with link_set_data), what it forbids is one, and
 * so is any use of a layer's link after close() returned. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "mock_host.h"

#define PROBE_SO GH_TEST_PLUGIN_DIR "/probe/probe.so"

static int setup(void **state) {
  (void)state;
  char err[512];
  if (mock_init() != 0)
    return -1;
  if (!mock_plugin_load(PROBE_SO, err, sizeof err)) {
    fprintf(stderr, "%s\n", err);
    return -1;
  }
  return 0;
}

static int teardown(void **state) {
  (void)state;
  return mock_fini() == 0 && mock_stats.live_allocs == 0 ? 0 : -1;
}

static mock_link *probe_link(void) {
  mock_inst *i = mock_inst_new(mock_handler("probe"), GH_SIDE_LISTEN);
  mock_inst_opt(i, "label", "seen");
  assert_int_equal(mock_inst_init(i), 0);
  mock_link *l = mock_link_new(i);
  assert_int_equal(mock_open(l), 0);
  return l;
}

static void test_close_allowed_calls(void **state) {
  (void)state;
  mock_link *l = probe_link();
  mock_up(l, "hi", 2);
  mock_close(l, 0);
  assert_int_equal(mock_stats.violations, 0);
  /* its line, with what link_info() and opt_get() gave inside close() */
  assert_non_null(strstr(mock_stats.last_log, "probe: close: seen, stream_id"));
  assert_null(l->data); /* cleared with link_set_data() in close() */
}

/* After close() returned, the layer's link is dead: the mock counts a
 * call made with it, as a plugin keeping the handle would make. */
static void test_after_close_is_a_violation(void **state) {
  (void)state;
  mock_link *l = probe_link();
  mock_close(l, 0);
  assert_int_equal(mock_stats.violations, 0);
  assert_null(mock_host.link_data(mock_gl(l)));
  assert_int_equal(mock_stats.violations, 1);
  mock_host.send_up(mock_gl(l), (const uint8_t *)"x", 1);
  assert_int_equal(mock_stats.violations, 2);
  mock_stats.violations = 0; /* counted as expected */
}

/* A layer of this test whose close() does what the SDK forbids there. */
static int32_t bad_open(gh_link *l) {
  return 0;
}
static int32_t bad_bytes(gh_link *l, const uint8_t *d, uint32_t n) {
  return 0;
}
static void bad_eof(gh_link *l) {}
static void bad_close(gh_link *l, int32_t reason) {
  mock_host.link_set_data(l, NULL); /* allowed */
  mock_host.send_up(l, (const uint8_t *)"x", 1);
  mock_host.abort(l, GH_EIO);
}
static const gh_handler bad = {
    GH_HANDLER_HEADER, .kind = GH_KIND_LAYER, .name = "bad",
    .open = bad_open,  .up = bad_bytes,       .down = bad_bytes,
    .up_eof = bad_eof, .down_eof = bad_eof,   .close = bad_close,
};

static void test_forbidden_inside_close(void **state) {
  (void)state;
  mock_inst *i = mock_inst_new(&bad, GH_SIDE_RESOURCE);
  assert_int_equal(mock_inst_init(i), 0);
  mock_link *l = mock_link_new(i);
  assert_int_equal(mock_open(l), 0);
  mock_close(l, 0);
  assert_int_equal(mock_stats.violations, 2); /* send_up, abort */
  mock_stats.violations = 0;
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_close_allowed_calls, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_after_close_is_a_violation, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_forbidden_inside_close, setup,
                                      teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
