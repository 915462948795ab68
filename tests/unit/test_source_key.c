/* The source address key of the caps on unauthenticated tunnel
 * connections (unauth_per_source): IPv4 per address, IPv4-mapped IPv6 as
 * IPv4, IPv6 per /64. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include "server.h"

static void key_of(const char *ip, uint8_t key[16]) {
  struct sockaddr_storage ss;
  memset(&ss, 0, sizeof(ss));
  if (strchr(ip, ':')) {
    struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
    a->sin6_family = AF_INET6;
    a->sin6_port = htons(4242);
    assert_int_equal(inet_pton(AF_INET6, ip, &a->sin6_addr), 1);
  } else {
    struct sockaddr_in *a = (struct sockaddr_in *)&ss;
    a->sin_family = AF_INET;
    a->sin_port = htons(4343);
    assert_int_equal(inet_pton(AF_INET, ip, &a->sin_addr), 1);
  }
  gh__source_key((struct sockaddr *)&ss, key);
}

static int same(const char *a, const char *b) {
  uint8_t x[16], y[16];
  key_of(a, x);
  key_of(b, y);
  return memcmp(x, y, 16) == 0;
}

static void test_ipv4(void **state) {
  (void)state;
  assert_true(same("127.0.0.1", "127.0.0.1"));
  assert_false(same("127.0.0.1", "127.0.0.2"));
  assert_false(same("10.0.0.1", "10.0.1.1"));
  assert_true(same("192.0.2.7", "::ffff:192.0.2.7")); /* dual stack */
  assert_false(same("192.0.2.7", "::ffff:192.0.2.8"));
}

static void test_ipv6_by_64(void **state) {
  (void)state;
  assert_true(same("2001:db8::1", "2001:db8::ffff:1234:5678:9abc"));
  assert_false(same("2001:db8::1", "2001:db8:0:1::1"));
  assert_false(same("::1", "::ffff:0.0.0.1"));
  assert_false(same("2001:db8::1", "32.1.13.184")); /* 2001:0db8 as IPv4 */
}

static void test_other_family_is_zero(void **state) {
  (void)state;
  struct sockaddr_storage ss;
  uint8_t key[16], zero[16] = {0};
  memset(&ss, 0, sizeof(ss));
  ss.ss_family = AF_UNIX;
  memset(key, 0xAA, sizeof(key));
  gh__source_key((struct sockaddr *)&ss, key);
  assert_memory_equal(key, zero, 16);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_ipv4),
      cmocka_unit_test(test_ipv6_by_64),
      cmocka_unit_test(test_other_family_is_zero),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
