/* The Unix-socket transport plugin (build/plugins/unix.so), driven through
 * the mock host: its options, the socket file (mode, a stale socket
 * replaced, a live one or another file left alone, removal when it stops,
 * only if still its own), and a stream from a connect to an accept. Sockets
 * live in a fresh mkdtemp() directory. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
/* cmocka needs the above first */
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "mock_host.h"

#define UNIX_SO MOCK_PLUGIN_PATH("unix")
#define WAIT_MS 10000u

static char dir[64];

static const char *P(const char *name) {
  static char bufs[4][128];
  static int k;
  char *b = bufs[k++ % 4];
  snprintf(b, sizeof(bufs[0]), "%s/%s", dir, name);
  return b;
}

static int setup(void **state) {
  (void)state;
  char err[512];
  snprintf(dir, sizeof dir, "/tmp/gh-unix-XXXXXX");
  if (!mkdtemp(dir) || mock_init() != 0)
    return -1;
  if (!mock_plugin_load(UNIX_SO, err, sizeof err)) {
    fprintf(stderr, "cannot load the unix plugin: %s\n", err);
    return -1;
  }
  return 0;
}

static int teardown(void **state) {
  (void)state;
  int rc = mock_fini();
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  if (system(cmd) != 0)
    return -1;
  if (rc || mock_stats.violations || mock_stats.live_allocs) {
    fprintf(stderr, "mock_fini %d, %u violations, %llu live allocations\n", rc,
            mock_stats.violations, (unsigned long long)mock_stats.live_allocs);
    return -1;
  }
  return 0;
}

static mock_inst *inst(uint32_t side, const char *mode, const char *owner) {
  mock_inst *i = mock_inst_new(mock_handler("unix"), side);
  if (mode)
    mock_inst_opt(i, "mode", mode);
  if (owner)
    mock_inst_opt(i, "owner", owner);
  return i;
}

static void stop(mock_listener *l) {
  mock_unlisten(l);
  assert_true(mock_run_until(mock_pred_listener_closed, l, WAIT_MS));
}

/* A socket file at path that nobody listens on, as a crash leaves it. */
static void stale_socket(const char *path) {
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path);
  int fd = socket(AF_UNIX, SOCK_STREAM, 0);
  assert_true(fd >= 0);
  assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
  close(fd);
}

static int mode_of(const char *path) {
  struct stat st;
  if (lstat(path, &st) < 0)
    return -1;
  return S_ISSOCK(st.st_mode) ? (int)(st.st_mode & 07777) : -2;
}

static void test_handler_and_options(void **state) {
  (void)state;
  const gh_handler *h = mock_handler("unix");
  assert_non_null(h);
  assert_int_equal(h->kind, GH_KIND_TRANSPORT);
  assert_true(h->flags & GH_HANDLER_UNIX);
  assert_string_equal(mock_option(h, "mode")->def, "0600");
  const char *bad_modes[] = {"0999", "abc", "01777", "", "7777", "-1"};
  for (size_t i = 0; i < sizeof bad_modes / sizeof bad_modes[0]; i++) {
    mock_inst *in = inst(GH_SIDE_LISTEN, bad_modes[i], NULL);
    assert_true(mock_inst_init(in) < 0);
    assert_non_null(strstr(in->err, "unix.mode"));
  }
  const char *bad_owners[] = {"a:b:c", "a b", ":g", "u:", "r;m"};
  for (size_t i = 0; i < sizeof bad_owners / sizeof bad_owners[0]; i++) {
    mock_inst *in = inst(GH_SIDE_LISTEN, NULL, bad_owners[i]);
    assert_true(mock_inst_init(in) < 0);
    assert_non_null(strstr(in->err, "unix.owner"));
  }
  assert_int_equal(mock_inst_init(inst(GH_SIDE_LISTEN, "660", "root:root")), 0);
  assert_int_equal(mock_inst_init(inst(GH_SIDE_LISTEN, "0", "root")), 0);
}

static void test_socket_file_mode_and_removal(void **state) {
  (void)state;
  mock_inst *in = inst(GH_SIDE_LISTEN, "0640", NULL);
  assert_int_equal(mock_inst_init(in), 0);
  mock_listener *l = mock_listener_new(in);
  mode_t old = umask(0); /* the mode holds whatever the umask */
  int32_t rc = mock_listen(l, P("a.sock"), 0);
  umask(old);
  assert_int_equal(rc, 0);
  assert_int_equal(mode_of(P("a.sock")), 0640);
  stop(l);
  assert_int_equal(mode_of(P("a.sock")), -1);
  /* relative and too long paths are refused before anything is made */
  l = mock_listener_new(in);
  assert_int_equal(mock_listen(l, "rel.sock", 0), GH_EINVAL);
  char longp[200];
  memset(longp, 'x', sizeof longp);
  longp[0] = '/';
  longp[150] = '\0';
  assert_int_equal(mock_listen(l, longp, 0), GH_EINVAL);
}

static void test_what_is_at_the_path(void **state) {
  (void)state;
  mock_inst *in = inst(GH_SIDE_LISTEN, NULL, NULL);
  assert_int_equal(mock_inst_init(in), 0);
  /* a stale socket is replaced */
  stale_socket(P("s.sock"));
  mock_listener *a = mock_listener_new(in);
  assert_int_equal(mock_listen(a, P("s.sock"), 0), 0);
  assert_non_null(strstr(mock_stats.last_log, "replaced a stale socket"));
  assert_int_equal(mode_of(P("s.sock")), 0600);
  /* a live one is not */
  mock_listener *b = mock_listener_new(in);
  assert_int_equal(mock_listen(b, P("s.sock"), 0), GH_EADDRINUSE);
  assert_non_null(strstr(mock_stats.last_warn, "that a process listens on"));
  assert_int_equal(mode_of(P("s.sock")), 0600);
  stop(a);
  /* nor a file that is not a socket */
  FILE *f = fopen(P("f"), "w");
  assert_non_null(f);
  fputs("precious", f);
  fclose(f);
  assert_int_equal(mock_listen(b, P("f"), 0), GH_EEXIST);
  assert_non_null(strstr(mock_stats.last_warn, "is not a socket"));
  f = fopen(P("f"), "r");
  char buf[16] = "";
  assert_non_null(fgets(buf, sizeof buf, f));
  fclose(f);
  assert_string_equal(buf, "precious");
}

static void test_a_replacement_is_not_removed(void **state) {
  (void)state;
  mock_inst *in = inst(GH_SIDE_LISTEN, NULL, NULL);
  assert_int_equal(mock_inst_init(in), 0);
  mock_listener *l = mock_listener_new(in);
  assert_int_equal(mock_listen(l, P("r.sock"), 0), 0);
  /* someone puts another socket file at the path meanwhile */
  stale_socket(P("other.sock"));
  assert_int_equal(rename(P("other.sock"), P("r.sock")), 0);
  stop(l);
  assert_int_equal(mode_of(P("r.sock")) >= 0, 1);
}

static void test_connect_accept_bytes(void **state) {
  (void)state;
  mock_inst *li = inst(GH_SIDE_LISTEN, NULL, NULL);
  mock_inst *ri = inst(GH_SIDE_RESOURCE, NULL, NULL);
  assert_int_equal(mock_inst_init(li), 0);
  assert_int_equal(mock_inst_init(ri), 0);
  mock_listener *l = mock_listener_new(li);
  l->read_on_accept = 1;
  assert_int_equal(mock_listen(l, P("c.sock"), 0), 0);
  /* nothing there: the error comes through ready() */
  mock_link *miss = mock_link_new(ri);
  assert_int_equal(mock_connect(miss, P("none.sock"), 0, 1000), 0);
  assert_true(mock_run_until(mock_pred_link_ready, miss, WAIT_MS));
  assert_int_equal(miss->ready_status, GH_ENOENT);
  mock_close(miss, 0);
  assert_true(mock_run_until(mock_pred_link_closed, miss, WAIT_MS));
  /* a stream both ways, with half-close */
  mock_link *c = mock_link_new(ri);
  assert_int_equal(mock_connect(c, P("c.sock"), 0, 1000), 0);
  assert_true(mock_run_until(mock_pred_link_ready, c, WAIT_MS));
  assert_int_equal(c->ready_status, 0);
  assert_true(mock_run_until(mock_pred_listener_accepted, l, WAIT_MS));
  mock_link *s = mock_accepted(l, 0);
  assert_int_equal(s->peer.family, GH_AF_UNIX);
  assert_int_equal(s->local.family, GH_AF_UNIX);
  static const char msg[] = "select 1;";
  assert_int_equal(mock_write(c, msg, sizeof msg - 1), 0);
  assert_int_equal(mock_shutdown(c), 0);
  assert_true(mock_run_until(mock_pred_link_eof_up, s, WAIT_MS));
  assert_int_equal(s->up.len, sizeof msg - 1);
  assert_memory_equal(s->up.data, msg, sizeof msg - 1);
  mock_read_start(c);
  assert_int_equal(mock_write(s, "1", 1), 0);
  assert_int_equal(mock_shutdown(s), 0);
  assert_true(mock_run_until(mock_pred_link_eof_up, c, WAIT_MS));
  assert_int_equal(c->up.len, 1);
  mock_close(c, 0);
  mock_close(s, 0);
  assert_true(mock_run_until(mock_pred_link_closed, c, WAIT_MS));
  assert_true(mock_run_until(mock_pred_link_closed, s, WAIT_MS));
  stop(l);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_handler_and_options, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_socket_file_mode_and_removal, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_what_is_at_the_path, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_a_replacement_is_not_removed, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_connect_accept_bytes, setup,
                                      teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
