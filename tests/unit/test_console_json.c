/* The JSON reader of `gatehouse status` (core/console/json.c): what it
 * accepts, what it decodes, and what it refuses. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "console/json.h"

static gh__jv *parse(const char *s) {
  return gh__json_parse(s, strlen(s));
}

static void test_values(void **state) {
  (void)state;
  gh__jv *v = parse(" {\"a\": [1, -2.5e1, true, false, null], \"s\": "
                    "\"x\\\"\\\\\\/\\n\\u00e9\\ud83d\\ude00\", \"o\": {}} ");
  assert_non_null(v);
  const gh__jv *a = gh__json_get(v, "a");
  assert_int_equal(gh__json_len(a), 5);
  assert_true(a->items[0]->num == 1 && a->items[1]->num == -25);
  assert_int_equal(a->items[2]->type, GH__J_BOOL);
  assert_true(a->items[2]->num == 1 && a->items[3]->num == 0);
  assert_int_equal(a->items[4]->type, GH__J_NULL);
  assert_string_equal(gh__json_str(v, "s"),
                      "x\"\\/\n\xc3\xa9\xf0\x9f\x98\x80");
  assert_int_equal(gh__json_get(v, "o")->type, GH__J_OBJ);
  assert_null(gh__json_get(v, "missing"));
  assert_null(gh__json_str(v, "a"));
  assert_true(gh__json_num(v, "s", 7) == 7);
  gh__json_free(v);
}

static void test_refused(void **state) {
  (void)state;
  static const char *const bad[] = {
      "", "{", "[1,]", "{\"a\" 1}", "{\"a\":1,}", "[1] x", "\"ab", "\"\\q\"",
      "\"a\nb\"", "{1:2}", "nul", "[\"\\u12g4\"]", "\"\\ud800\\u0041\"",
  };
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    gh__jv *v = parse(bad[i]);
    if (v)
      fail_msg("accepted: %s", bad[i]);
  }
  /* nesting is bounded */
  char deep[200];
  memset(deep, '[', 100);
  memset(deep + 100, ']', 100);
  assert_null(gh__json_parse(deep, sizeof(deep)));
  memset(deep, '[', 60);
  memset(deep + 60, ']', 60);
  gh__jv *v = gh__json_parse(deep, 120);
  assert_non_null(v);
  gh__json_free(v);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_values),
      cmocka_unit_test(test_refused),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
