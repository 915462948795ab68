/* The log layer (core/log.c): whatever a message carries, one event is one
 * line, and no control byte or invalid UTF-8 reaches the log. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "log.h"

static const char *esc(const char *in) {
  static char out[512];
  gh__log_escape(in, out, sizeof(out));
  return out;
}

static void test_escape(void **state) {
  (void)state;
  /* printable ASCII and well-formed UTF-8 pass untouched */
  assert_string_equal(esc("tunnel gw1: up, 100% \"ok\" \\ x"),
                      "tunnel gw1: up, 100% \"ok\" \\ x");
  assert_string_equal(esc("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"),
                      "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80");
  /* control bytes and DEL */
  assert_string_equal(esc("a\nb\rc\td\x1b[31me\x7f"),
                      "a\\x0ab\\x0dc\\x09d\\x1b[31me\\x7f");
  /* invalid UTF-8: a lone continuation, a truncated sequence, an overlong
   * '/', a surrogate, past U+10FFFF, and the C1 control CSI (U+009B) */
  assert_string_equal(esc("\x80"), "\\x80");
  assert_string_equal(esc("\xc3"), "\\xc3");
  assert_string_equal(esc("\xe2\x82z"), "\\xe2\\x82z");
  assert_string_equal(esc("\xc0\xaf"), "\\xc0\\xaf");
  assert_string_equal(esc("\xed\xa0\x80"), "\\xed\\xa0\\x80");
  assert_string_equal(esc("\xf4\x90\x80\x80"), "\\xf4\\x90\\x80\\x80");
  assert_string_equal(esc("\xc2\x9b"), "\\xc2\\x9b");
}

static void test_escape_truncates_whole(void **state) {
  (void)state;
  char out[8];
  /* "ab" + "\x0a" is 6 bytes; the next escape would not fit with the NUL */
  assert_int_equal(gh__log_escape("ab\n\n", out, sizeof(out)), 6);
  assert_string_equal(out, "ab\\x0a");
  /* a multi-byte character is not cut */
  assert_int_equal(gh__log_escape("abcdef\xc3\xa9", out, sizeof(out)), 6);
  assert_string_equal(out, "abcdef");
}

/* Through the real writer: a message with a forged line stays one line,
 * and so does a subject. */
static void test_one_line(void **state) {
  (void)state;
  char path[] = "/tmp/gh-test-log-XXXXXX";
  int fd = mkstemp(path);
  assert_true(fd >= 0);
  close(fd);
  assert_int_equal(gh__log_to_file(path), 0);
  gh__log_write(GH_LOG_WARN, "tunnel\nx",
                "client reports: %s",
                "down\n2026-01-01T00:00:00.000Z error server: forged\r");
  gh__log_to_stderr();
  FILE *fp = fopen(path, "r");
  assert_non_null(fp);
  char text[4096];
  size_t n = fread(text, 1, sizeof(text) - 1, fp);
  text[n] = 0;
  fclose(fp);
  unlink(path);
  char *nl = strchr(text, '\n');
  assert_non_null(nl);
  assert_int_equal(nl[1], '\0'); /* one line */
  assert_non_null(strstr(text, " warn  tunnel\\x0ax: client reports: "
                               "down\\x0a2026-01-01T00:00:00.000Z error "
                               "server: forged\\x0d\n"));
}

/* The bucket: a burst at once, then per_s a second, the refused counted. */
static void test_rate_limit(void **state) {
  (void)state;
  gh__rl rl = {0};
  uint64_t now = 5000;
  for (int i = 0; i < 4; i++)
    assert_int_equal(gh__rl_take(&rl, now, 4, 2), 1);
  assert_int_equal(gh__rl_take(&rl, now, 4, 2), 0);
  assert_int_equal(gh__rl_take(&rl, now + 499, 4, 2), 0);
  assert_int_equal(rl.quiet, 2);
  assert_int_equal(gh__rl_take(&rl, now + 500, 4, 2), 1); /* one earned */
  assert_int_equal(gh__rl_take(&rl, now + 500, 4, 2), 0);
  /* a long quiet refills up to the burst, not past it */
  for (int i = 0; i < 4; i++)
    assert_int_equal(gh__rl_take(&rl, now + 100000, 4, 2), 1);
  assert_int_equal(gh__rl_take(&rl, now + 100000, 4, 2), 0);
  assert_int_equal(rl.quiet, 4);
}

static const char *jesc(const char *in) {
  static char out[1024];
  gh__json_escape(in, out, sizeof(out));
  return out;
}

/* RFC 8259: quote, backslash and control characters escaped; invalid UTF-8
 * becomes U+FFFD, so that a line is always valid UTF-8. */
static void test_json_escape(void **state) {
  (void)state;
  assert_string_equal(jesc("plain caf\xc3\xa9 \xf0\x9f\x98\x80"),
                      "plain caf\xc3\xa9 \xf0\x9f\x98\x80");
  assert_string_equal(jesc("a\"b\\c"), "a\\\"b\\\\c");
  assert_string_equal(jesc("a\nb\rc\td\x1b\x7f"),
                      "a\\nb\\u000dc\\u0009d\\u001b\\u007f");
  assert_string_equal(jesc("\xc2\x9b"), "\\u009b");
  assert_string_equal(jesc("\x80z\xc0\xaf"), "\\ufffdz\\ufffd\\ufffd");
  assert_string_equal(jesc("\xed\xa0\x80"), "\\ufffd\\ufffd\\ufffd");
  assert_string_equal(jesc("\xe2\x80\xa8"), "\\u2028");
  /* truncation keeps an escape whole */
  char out[8];
  assert_int_equal(gh__json_escape("abcd\n", out, sizeof(out)), 6);
  assert_string_equal(out, "abcd\\n");
  assert_int_equal(gh__json_escape("abc\x01", out, sizeof(out)), 3);
  assert_string_equal(out, "abc");
}

static char *write_json(const char *subject, const char *msg) {
  char path[] = "/tmp/gh-test-log-XXXXXX";
  int fd = mkstemp(path);
  assert_true(fd >= 0);
  close(fd);
  assert_int_equal(gh__log_to_file(path), 0);
  gh__log_format = GH__LOG_JSON;
  gh__log_write(GH_LOG_INFO, subject, "%s", msg);
  gh__log_format = GH__LOG_TEXT;
  gh__log_to_stderr();
  FILE *fp = fopen(path, "r");
  assert_non_null(fp);
  static char text[8192];
  size_t n = fread(text, 1, sizeof(text) - 1, fp);
  text[n] = 0;
  fclose(fp);
  unlink(path);
  char *nl = strchr(text, '\n');
  assert_non_null(nl);
  assert_int_equal(nl[1], '\0'); /* one line */
  return text;
}

/* Through the real writer: one object a line, with the subject's fields. */
static void test_json_line(void **state) {
  (void)state;
  char *t = write_json("tunnel gw1 10.0.0.1:5000", "up \"x\"\n\x01");
  assert_int_equal(strncmp(t, "{\"time\":\"", 9), 0);
  assert_non_null(strstr(t, "Z\",\"level\":\"info\",\"subject\":\"tunnel gw1 "
                            "10.0.0.1:5000\",\"subsystem\":\"tunnel\","
                            "\"gateway\":\"gw1\",\"peer\":\"10.0.0.1:5000\","
                            "\"message\":\"up \\\"x\\\"\\n\\u0001\"}\n"));
  t = write_json("gw1 db #7 [::1]:4000", "refused");
  assert_non_null(strstr(t, "\"subsystem\":\"stream\",\"gateway\":\"gw1\","
                            "\"destination\":\"db\",\"stream\":7,"
                            "\"peer\":\"[::1]:4000\",\"message\":\"refused\"}"));
  t = write_json("tunnel 10.0.0.1:5000", "accepted");
  assert_non_null(strstr(t, "\"subsystem\":\"tunnel\",\"peer\":\"10.0.0.1:"
                            "5000\",\"message\":\"accepted\"}"));
  t = write_json("main", "\xff");
  assert_non_null(strstr(t, "\"subject\":\"main\",\"message\":\"\\ufffd\"}"));
  assert_int_equal(gh__log_parse_format("json"), GH__LOG_JSON);
  assert_int_equal(gh__log_parse_format("text"), GH__LOG_TEXT);
  assert_int_equal(gh__log_parse_format("xml"), -1);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_escape),
      cmocka_unit_test(test_rate_limit),
      cmocka_unit_test(test_escape_truncates_whole),
      cmocka_unit_test(test_one_line),
      cmocka_unit_test(test_json_escape),
      cmocka_unit_test(test_json_line),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
