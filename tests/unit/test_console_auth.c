/* The console's access checks (core/console/auth.c): which admin_listen
 * hosts are loopback, and the bearer token in a request head. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "console/console.h"

static void test_loopback(void **state) {
  (void)state;
  assert_true(gh__console_loopback(NULL));
  assert_true(gh__console_loopback(""));
  assert_true(gh__console_loopback("127.0.0.1"));
  assert_true(gh__console_loopback("127.8.9.10"));
  assert_true(gh__console_loopback("::1"));
  assert_true(gh__console_loopback("::ffff:127.0.0.1"));
  assert_true(gh__console_loopback("LocalHost"));
  assert_false(gh__console_loopback("0.0.0.0"));
  assert_false(gh__console_loopback("::"));
  assert_false(gh__console_loopback("10.0.0.1"));
  assert_false(gh__console_loopback("::ffff:10.0.0.1"));
  assert_false(gh__console_loopback("admin.example.com"));
  assert_false(gh__console_loopback("128.0.0.1"));
}

static int auth(const char *head) {
  return gh__console_authorized(head, strlen(head), "0123456789abcdef-token");
}

static void test_bearer(void **state) {
  (void)state;
  assert_true(auth("GET / HTTP/1.1\r\nAuthorization: Bearer "
                   "0123456789abcdef-token\r\n\r\n"));
  assert_true(auth("GET / HTTP/1.1\r\nHost: x\r\nauthorization:bearer  "
                   "0123456789abcdef-token \r\n\r\n"));
  assert_false(auth("GET / HTTP/1.1\r\n\r\n"));
  assert_false(auth("GET / HTTP/1.1\r\nAuthorization: Bearer "
                    "0123456789abcdef-toke\r\n\r\n"));
  assert_false(auth("GET / HTTP/1.1\r\nAuthorization: Bearer "
                    "0123456789abcdef-tokenX\r\n\r\n"));
  assert_false(auth("GET / HTTP/1.1\r\nAuthorization: Basic "
                    "0123456789abcdef-token\r\n\r\n"));
  assert_false(auth("GET / HTTP/1.1\r\nX-Authorization: Bearer "
                    "0123456789abcdef-token\r\n\r\n"));
  /* in the request line, not a header */
  assert_false(auth("GET /Authorization: Bearer 0123456789abcdef-token "
                    "HTTP/1.1\r\n\r\n"));
  assert_false(auth("GET / HTTP/1.1\r\nAuthorization: Bearer\r\n\r\n"));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_loopback),
      cmocka_unit_test(test_bearer),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
