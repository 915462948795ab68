/* The tunnel's TLS transport (core/tlsio.c) without TLS: its BIO read and
 * written directly, over a socket pair held by a libuv pipe.
 *
 * Reading: bytes OpenSSL leaves at the end of a read callback are kept and
 * come first next time; a closing tunnel keeps nothing. Writing: what the
 * BIO took reaches the socket whole and in order, through uv_try_write and,
 * when the socket is full, one uv_write of every chunk; `sent` counts it. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>
#include <uv.h>

#include "tlsio.h"

static int written_calls, written_status;

static void on_written(gh__tlsio *io, int status) {
  (void)io;
  written_calls++;
  written_status = status;
}

static void test_read_keeps_what_is_left(void **state) {
  (void)state;
  gh__tlsio io;
  gh__tlsio_init(&io, NULL, on_written);
  BIO *b = gh__tlsio_bio(&io);
  assert_non_null(b);
  char got[32];

  /* nothing lent: a retry, not an end */
  assert_true(BIO_read(b, got, sizeof(got)) < 0);
  assert_true(BIO_should_retry(b));

  char first[] = "0123456789";
  gh__tlsio_input(&io, first, 10);
  assert_int_equal(BIO_read(b, got, 4), 4);
  assert_memory_equal(got, "0123", 4);
  gh__tlsio_input_done(&io, 1);
  memset(first, 'x', sizeof(first)); /* the read buffer is reused */

  char second[] = "abcde";
  gh__tlsio_input(&io, second, 5);
  assert_int_equal(BIO_read(b, got, sizeof(got)), 11);
  assert_memory_equal(got, "456789abcde", 11);
  gh__tlsio_input_done(&io, 1);
  assert_null(io.keep); /* all taken: nothing held */

  /* closing: what is left is dropped, not copied */
  gh__tlsio_input(&io, second, 5);
  assert_int_equal(BIO_read(b, got, 2), 2);
  gh__tlsio_input_done(&io, 0);
  assert_int_equal(io.in_len, 0);
  assert_null(io.keep);
  assert_true(BIO_read(b, got, sizeof(got)) < 0);

  BIO_free(b);
  gh__tlsio_discard(&io);
}

static void test_write_whole_and_in_order(void **state) {
  (void)state;
  int sv[2];
  assert_int_equal(
      socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
  int small = 4096;
  setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof(small));
  uv_loop_t loop;
  uv_loop_init(&loop);
  uv_pipe_t pipe;
  uv_pipe_init(&loop, &pipe, 0);
  assert_int_equal(uv_pipe_open(&pipe, sv[0]), 0);
  gh__tlsio io;
  gh__tlsio_init(&io, (uv_stream_t *)&pipe, on_written);
  BIO *b = gh__tlsio_bio(&io);

  /* more than the socket holds, in several chunks, flushed twice */
  enum { N = 1 << 20 };
  uint8_t *data = malloc(N), *got = malloc(N);
  for (size_t i = 0; i < N; i++)
    data[i] = (uint8_t)(i * 131u + (i >> 9));
  assert_int_equal(BIO_write(b, data, N / 2), N / 2);
  assert_int_equal(gh__tlsio_flush(&io), 0);
  assert_int_equal(BIO_write(b, data + N / 2, N / 2), N / 2);
  assert_int_equal(gh__tlsio_flush(&io), 0);
  assert_true(gh__tlsio_queued(&io) > 0); /* the socket is full */

  size_t have = 0;
  while (have < N) {
    uv_run(&loop, UV_RUN_NOWAIT); /* the rest goes as the socket drains */
    ssize_t n = read(sv[1], got + have, N - have);
    if (n < 0 && errno == EAGAIN)
      continue;
    assert_true(n > 0);
    have += (size_t)n;
  }
  while (gh__tlsio_queued(&io) > 0)
    uv_run(&loop, UV_RUN_ONCE);
  assert_memory_equal(got, data, N);
  assert_true(written_calls > 0);
  assert_int_equal(written_status, 0);
  assert_int_equal(io.sent, N);

  BIO_free(b);
  gh__tlsio_discard(&io);
  uv_close((uv_handle_t *)&pipe, NULL);
  uv_run(&loop, UV_RUN_DEFAULT);
  uv_loop_close(&loop);
  close(sv[1]);
  free(data);
  free(got);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_read_keeps_what_is_left),
      cmocka_unit_test(test_write_whole_and_in_order),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
