/* Number and boolean words (core/words.c), the one reader of them for the
 * configuration, plugin options and address rules. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "gatehouse/gatehouse.h"
#include "words.h"

static void test_u32(void **state) {
  (void)state;
  uint32_t v = 7;
  assert_int_equal(gh__word_u32("0", 0, 10, &v), 0);
  assert_int_equal(v, 0);
  assert_int_equal(gh__word_u32("4294967295", 0, UINT32_MAX, &v), 0);
  assert_int_equal(v, UINT32_MAX);
  assert_int_equal(gh__word_u32("4294967296", 0, UINT32_MAX, &v), GH_ERANGE);
  assert_int_equal(gh__word_u32("99999999999999999999999", 0, 10, &v),
                   GH_ERANGE);
  assert_int_equal(gh__word_u32("11", 0, 10, &v), GH_ERANGE);
  assert_int_equal(gh__word_u32("0", 1, 10, &v), GH_ERANGE);
  v = 7;
  assert_int_equal(gh__word_u32("", 0, 10, &v), GH_EINVAL);
  assert_int_equal(gh__word_u32("+1", 0, 10, &v), GH_EINVAL);
  assert_int_equal(gh__word_u32("-1", 0, 10, &v), GH_EINVAL);
  assert_int_equal(gh__word_u32(" 1", 0, 10, &v), GH_EINVAL);
  assert_int_equal(gh__word_u32("1 ", 0, 10, &v), GH_EINVAL);
  assert_int_equal(gh__word_u32("1s", 0, 10, &v), GH_EINVAL);
  assert_int_equal(v, 7); /* untouched on failure */
}

static void test_int(void **state) {
  (void)state;
  int64_t v = 7;
  assert_int_equal(gh__word_int("-42", &v), 0);
  assert_true(v == -42);
  assert_int_equal(gh__word_int("9223372036854775807", &v), 0);
  assert_true(v == INT64_MAX);
  assert_int_equal(gh__word_int("9223372036854775808", &v), GH_EINVAL);
  assert_int_equal(gh__word_int("", &v), GH_EINVAL);
  assert_int_equal(gh__word_int("-", &v), GH_EINVAL);
  assert_int_equal(gh__word_int("+5", &v), GH_EINVAL);
  assert_int_equal(gh__word_int(" 5", &v), GH_EINVAL);
  assert_int_equal(gh__word_int("5x", &v), GH_EINVAL);
  assert_int_equal(gh__word_int("0x10", &v), GH_EINVAL);
}

static void test_bool(void **state) {
  (void)state;
  static const char *const yes[] = {"yes", "true", "on", "1", "YES", "True"};
  static const char *const no[] = {"no", "false", "off", "0", "No", "OFF"};
  int b;
  for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
    b = 0;
    assert_int_equal(gh__word_bool(yes[i], &b), 0);
    assert_int_equal(b, 1);
    b = 1;
    assert_int_equal(gh__word_bool(no[i], &b), 0);
    assert_int_equal(b, 0);
  }
  assert_int_equal(gh__word_bool("", &b), GH_EINVAL);
  assert_int_equal(gh__word_bool("y", &b), GH_EINVAL);
  assert_int_equal(gh__word_bool("2", &b), GH_EINVAL);
  assert_int_equal(gh__word_bool("yes ", &b), GH_EINVAL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_u32),
      cmocka_unit_test(test_int),
      cmocka_unit_test(test_bool),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
