/* gh__buf_printf (core/buf.c): the admin endpoint's and the console's
 * text builder. Lines longer than its stack buffer are appended whole (the
 * two builders it replaced cut them at 1 or 2 KiB). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "buf.h"

static void assert_buf(const gh__buf *b, const char *want) {
  assert_int_equal(b->len, strlen(want));
  assert_memory_equal(gh__buf_head(b), want, b->len);
}

static void test_appends(void **state) {
  (void)state;
  gh__buf b = {0};
  gh__buf_printf(&b, "%s", "");
  assert_int_equal(b.len, 0);
  gh__buf_printf(&b, "{\"api\":%d,", 1);
  gh__buf_printf(&b, "\"name\":\"%s\"}", "gw1");
  assert_buf(&b, "{\"api\":1,\"name\":\"gw1\"}");
  /* after the front was consumed, text goes on at the end */
  gh__buf_consume(&b, 9);
  gh__buf_printf(&b, "%c", '\n');
  assert_buf(&b, "\"name\":\"gw1\"}\n");
  gh__buf_free(&b);
}

/* Around and far past the stack buffer's 1,024 bytes: every byte. */
static void test_long_lines_whole(void **state) {
  (void)state;
  static const size_t sizes[] = {1022, 1023, 1024, 1025, 4096, 100000};
  for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
    size_t n = sizes[i];
    char *s = malloc(n + 1);
    assert_non_null(s);
    for (size_t k = 0; k < n; k++)
      s[k] = (char)('a' + k % 26);
    s[n] = 0;
    gh__buf b = {0};
    gh__buf_printf(&b, "<%s>", s);
    assert_int_equal(b.len, n + 2);
    assert_int_equal(gh__buf_head(&b)[0], '<');
    assert_memory_equal(gh__buf_head(&b) + 1, s, n);
    assert_int_equal(gh__buf_head(&b)[n + 1], '>');
    char num[32];
    int k = snprintf(num, sizeof(num), "%zu", n);
    gh__buf_printf(&b, "%zu", n); /* short after long */
    assert_int_equal(b.len, n + 2 + (size_t)k);
    assert_memory_equal(gh__buf_head(&b) + n + 2, num, (size_t)k);
    gh__buf_free(&b);
    free(s);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_appends),
      cmocka_unit_test(test_long_lines_whole),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
