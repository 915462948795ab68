/* The http layer's options (build/plugins/http.so) through the mock host:
 * an add_header that is refused says which key and why, and never shows
 * the value, which may be a secret (Authorization: Bearer ...). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
/* cmocka needs the above first */
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mock_host.h"

static const gh_handler *H;

static int setup(void **state) {
  (void)state;
  char err[512];
  if (mock_init() != 0)
    return -1;
  mock_config.print_level = GH_LOG_ERROR;
  if (!mock_plugin_load(MOCK_PLUGIN_PATH("http"), err, sizeof err)) {
    fprintf(stderr, "cannot load the http plugin: %s\n", err);
    return -1;
  }
  H = mock_handler("http");
  return H ? 0 : -1;
}

static int teardown(void **state) {
  (void)state;
  return mock_fini();
}

#define SECRET "s3cr3t-0123456789abcdef"

static void refused(const char *header, const char *why) {
  mock_inst *i = mock_inst_new(H, GH_SIDE_RESOURCE);
  mock_inst_opt(i, "add_header", header);
  int32_t rc = mock_inst_init(i);
  if (rc == 0 || !strstr(i->err, why) || strstr(i->err, "s3cr3t"))
    fprintf(stderr, "add_header '%s': got %d '%s', expected '%s'\n", header,
            rc, i->err, why);
  assert_true(rc < 0);
  assert_non_null(strstr(i->err, "http.add_header"));
  assert_non_null(strstr(i->err, why));
  assert_null(strstr(i->err, "s3cr3t"));
  assert_null(strstr(i->err, "Bearer"));
}

static void test_add_header_errors_hide_the_value(void **state) {
  (void)state;
  /* the colon forgotten: the whole line may be the secret */
  refused("Authorization Bearer " SECRET, "no colon");
  /* a space before the colon: the "name" holds the secret */
  refused("Authorization Bearer " SECRET " : x", "field name");
  /* a control character in the value: the name is shown, not the value */
  refused("Authorization: Bearer " SECRET "\x01", "Authorization: the value "
                                                  "has a control character");
  /* a well-formed one is taken */
  mock_inst *i = mock_inst_new(H, GH_SIDE_RESOURCE);
  mock_inst_opt(i, "add_header", "Authorization: Bearer " SECRET);
  assert_int_equal(mock_inst_init(i), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_add_header_errors_hide_the_value,
                                      setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
