/* The TCP transport plugin (build/plugins/tcp.so), driven through the mock
 * host with plain libuv sockets as the applications and resources. Loopback
 * only. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
/* cmocka needs the above first */
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "mock_host.h"

#define TCP_SO MOCK_PLUGIN_PATH("tcp")
#define WAIT_MS 10000u
#define MiB (1024u * 1024u)

/* ------------------------------------------------------------ fixture */

typedef struct fx {
  const gh_plugin *p;
  const gh_handler *h;
  mock_inst *li; /* listen side */
  mock_inst *ri; /* resource side */
  mock_listener *l;
  uint16_t port;
} fx;

static int setup(void **state) {
  static fx f;
  char err[512];
  memset(&f, 0, sizeof f);
  if (mock_init() != 0)
    return -1;
  f.p = mock_plugin_load(TCP_SO, err, sizeof err);
  if (!f.p) {
    fprintf(stderr, "cannot load the tcp plugin: %s\n", err);
    return -1;
  }
  f.h = mock_handler("tcp");
  f.li = mock_inst_new(f.h, GH_SIDE_LISTEN);
  f.ri = mock_inst_new(f.h, GH_SIDE_RESOURCE);
  if (!f.h || mock_inst_init(f.li) || mock_inst_init(f.ri))
    return -1;
  *state = &f;
  return 0;
}

static int teardown(void **state) {
  (void)state;
  int rc = mock_fini();
  if (rc != 0) {
    fprintf(stderr, "mock_fini: %d\n", rc);
    return -1;
  }
  if (mock_stats.violations) {
    fprintf(stderr, "%u contract violations\n", mock_stats.violations);
    return -1;
  }
  if (mock_stats.live_allocs) {
    fprintf(stderr, "%llu allocations of the plugin not freed\n",
            (unsigned long long)mock_stats.live_allocs);
    return -1;
  }
  return 0;
}

static void fill_random(uint8_t *p, size_t n, uint64_t seed) {
  uint64_t x = seed * 0x9E3779B97F4A7C15ull + 1;
  for (size_t i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    p[i] = (uint8_t)(x >> 24);
  }
}

/* Listens on host:<a free port>, retrying when someone took the port. */
static int32_t start_listener(fx *f, mock_inst *inst, const char *host) {
  int32_t rc = GH_EADDRINUSE;
  f->l = mock_listener_new(inst);
  for (int i = 0; i < 20 && rc == GH_EADDRINUSE; i++) {
    f->port = mock_free_port(SOCK_STREAM);
    rc = mock_listen(f->l, host, f->port);
  }
  return rc;
}

static void stop_listener(fx *f) {
  mock_unlisten(f->l);
  assert_true(mock_run_until(mock_pred_listener_closed, f->l, WAIT_MS));
  assert_int_equal(f->l->closed, 1);
}

static void close_link(mock_link *l, int32_t reason) {
  mock_close(l, reason);
  assert_true(mock_run_until(mock_pred_link_closed, l, WAIT_MS));
  assert_int_equal(l->closed, 1);
}

/* ------------------------------------------------- a plain libuv peer */

typedef struct client {
  uv_tcp_t tcp;
  uv_connect_t creq;
  uv_shutdown_t sreq;
  int connected; /* 0 pending, 1 up, < 0 failed */
  int reading;
  mock_buf rx;
  size_t want; /* for pred_rx */
  int eof;
  int rerr;
  int closed;
  int shut;
  int werr;
  uint64_t wrote;
} client;

typedef struct cwrite {
  uv_write_t req;
  size_t len;
  uint8_t data[];
} cwrite;

static void cl_on_connect(uv_connect_t *req, int status) {
  client *c = req->handle->data;
  c->connected = status == 0 ? 1 : status;
}

static void cl_init(client *c) {
  memset(c, 0, sizeof *c);
  assert_int_equal(uv_tcp_init(mock_loop(), &c->tcp), 0);
  c->tcp.data = c;
}

static void cl_connect(client *c, const char *ip, uint16_t port) {
  struct sockaddr_storage ss;
  if (strchr(ip, ':'))
    assert_int_equal(uv_ip6_addr(ip, port, (struct sockaddr_in6 *)&ss), 0);
  else
    assert_int_equal(uv_ip4_addr(ip, port, (struct sockaddr_in *)&ss), 0);
  assert_int_equal(uv_tcp_connect(&c->creq, &c->tcp,
                                  (const struct sockaddr *)&ss, cl_on_connect),
                   0);
}

static void cl_alloc(uv_handle_t *h, size_t n, uv_buf_t *buf) {
  static char b[65536];
  (void)h;
  (void)n;
  *buf = uv_buf_init(b, sizeof b);
}

static void cl_on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf) {
  client *c = s->data;
  if (n > 0)
    mock_buf_append(&c->rx, buf->base, (size_t)n);
  else if (n == UV_EOF)
    c->eof = 1;
  else if (n < 0)
    c->rerr = (int)n;
}

static void cl_read_start(client *c) {
  assert_int_equal(uv_read_start((uv_stream_t *)&c->tcp, cl_alloc, cl_on_read),
                   0);
  c->reading = 1;
}

static void cl_on_write(uv_write_t *req, int status) {
  cwrite *w = (cwrite *)(void *)((char *)req - offsetof(cwrite, req));
  client *c = req->handle->data;
  if (status < 0)
    c->werr = status;
  else
    c->wrote += w->len;
  free(w);
}

static int cl_write(client *c, const void *data, size_t len) {
  cwrite *w = malloc(sizeof *w + len);
  assert_non_null(w);
  w->len = len;
  memcpy(w->data, data, len);
  uv_buf_t b = uv_buf_init((char *)w->data, (unsigned)len);
  int rc = uv_write(&w->req, (uv_stream_t *)&c->tcp, &b, 1, cl_on_write);
  if (rc)
    free(w);
  return rc;
}

static void cl_on_shutdown(uv_shutdown_t *req, int status) {
  client *c = req->handle->data;
  c->shut = status == 0 ? 1 : status;
}

static void cl_shutdown(client *c) {
  assert_int_equal(
      uv_shutdown(&c->sreq, (uv_stream_t *)&c->tcp, cl_on_shutdown), 0);
}

static void cl_on_close(uv_handle_t *h) {
  client *c = h->data;
  c->closed = 1;
}

static int pred_cl_closed(void *a) {
  return ((client *)a)->closed;
}

static void cl_close(client *c) {
  if (!uv_is_closing((uv_handle_t *)&c->tcp))
    uv_close((uv_handle_t *)&c->tcp, cl_on_close);
  assert_true(mock_run_until(pred_cl_closed, c, WAIT_MS));
  mock_buf_reset(&c->rx);
}

static void cl_reset(client *c) {
  assert_int_equal(uv_tcp_close_reset(&c->tcp, cl_on_close), 0);
  assert_true(mock_run_until(pred_cl_closed, c, WAIT_MS));
  mock_buf_reset(&c->rx);
}

static int pred_cl_connected(void *a) {
  return ((client *)a)->connected != 0;
}
static int pred_cl_end(void *a) {
  client *c = a;
  return c->eof || c->rerr;
}
static int pred_cl_rx(void *a) {
  client *c = a;
  return c->rx.len >= c->want || c->rerr;
}

typedef struct want_up {
  mock_link *l;
  size_t n;
} want_up;

static int pred_up(void *a) {
  want_up *w = a;
  return w->l->up.len >= w->n || w->l->abort_calls;
}

typedef struct want_accept {
  fx *f;
  client *c;
  uint32_t accepts;
} want_accept;

static int pred_accepted(void *a) {
  want_accept *w = a;
  return w->f->l->accepts >= w->accepts && w->c->connected != 0;
}

/* A client connected to the fixture's listener; returns its link. */
static mock_link *connect_client(fx *f, client *c, const char *ip) {
  want_accept w = {f, c, f->l->accepts + 1};
  cl_init(c);
  cl_connect(c, ip, f->port);
  assert_true(mock_run_until(pred_accepted, &w, WAIT_MS));
  assert_int_equal(c->connected, 1);
  return mock_accepted(f->l, f->l->n_accepted - 1);
}

static void addr_of_handle(uv_tcp_t *t, int peer, gh_addr *a) {
  struct sockaddr_storage ss;
  int len = sizeof ss;
  char ip[INET6_ADDRSTRLEN];
  uint16_t port;
  if (peer)
    assert_int_equal(uv_tcp_getpeername(t, (struct sockaddr *)&ss, &len), 0);
  else
    assert_int_equal(uv_tcp_getsockname(t, (struct sockaddr *)&ss, &len), 0);
  assert_int_equal(uv_ip_name((struct sockaddr *)&ss, ip, sizeof ip), 0);
  port = ss.ss_family == AF_INET
             ? ntohs(((struct sockaddr_in *)&ss)->sin_port)
             : ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
  assert_int_equal(mock_addr(a, ip, port), 0);
}

static void assert_addr_equal(const gh_addr *a, const gh_addr *b) {
  char x[64], y[64];
  mock_addr_str(a, x, sizeof x);
  mock_addr_str(b, y, sizeof y);
  assert_string_equal(x, y);
  assert_int_equal(a->family, b->family);
  assert_memory_equal(a->addr, b->addr, a->family == GH_AF_INET ? 4 : 16);
}

/* A test-side server: listens on 127.0.0.1, accepts one connection. */
typedef struct server {
  uv_tcp_t tcp;
  uint16_t port;
  client peers[8]; /* the accepted sides */
  int accepted;
  int closed;
} server;

static void srv_on_conn(uv_stream_t *s, int status) {
  server *sv = s->data;
  assert_int_equal(status, 0);
  assert_true(sv->accepted < 8);
  client *c = &sv->peers[sv->accepted];
  cl_init(c);
  assert_int_equal(uv_accept(s, (uv_stream_t *)&c->tcp), 0);
  c->connected = 1;
  sv->accepted++;
}

static void srv_start(server *sv) {
  memset(sv, 0, sizeof *sv);
  assert_int_equal(uv_tcp_init(mock_loop(), &sv->tcp), 0);
  sv->tcp.data = sv;
  for (int i = 0; i < 20; i++) {
    struct sockaddr_in sin;
    sv->port = mock_free_port(SOCK_STREAM);
    uv_ip4_addr("127.0.0.1", sv->port, &sin);
    if (uv_tcp_bind(&sv->tcp, (struct sockaddr *)&sin, 0) == 0 &&
        uv_listen((uv_stream_t *)&sv->tcp, 16, srv_on_conn) == 0)
      return;
    uv_close((uv_handle_t *)&sv->tcp, NULL);
    mock_run_for(1);
    assert_int_equal(uv_tcp_init(mock_loop(), &sv->tcp), 0);
  }
  fail_msg("no free port for the test server");
}

static void srv_on_close(uv_handle_t *h) {
  ((server *)h->data)->closed = 1;
}
static int pred_srv_closed(void *a) {
  return ((server *)a)->closed;
}
static int pred_srv_accepted(void *a) {
  return ((server *)a)->accepted > 0;
}

static void srv_stop(server *sv) {
  uv_close((uv_handle_t *)&sv->tcp, srv_on_close);
  assert_true(mock_run_until(pred_srv_closed, sv, WAIT_MS));
  for (int i = 0; i < sv->accepted; i++)
    cl_close(&sv->peers[i]);
}

/* The plugin's own socket of a connection, found by its two addresses. */
static int find_fd(const gh_addr *local, const gh_addr *peer) {
  for (int fd = 0; fd < 4096; fd++) {
    struct sockaddr_storage a, b;
    socklen_t al = sizeof a, bl = sizeof b;
    if (getsockname(fd, (struct sockaddr *)&a, &al) != 0 ||
        getpeername(fd, (struct sockaddr *)&b, &bl) != 0 ||
        a.ss_family != AF_INET || b.ss_family != AF_INET)
      continue;
    struct sockaddr_in *la = (struct sockaddr_in *)&a;
    struct sockaddr_in *pb = (struct sockaddr_in *)&b;
    if (ntohs(la->sin_port) == local->port &&
        ntohs(pb->sin_port) == peer->port &&
        memcmp(&la->sin_addr, local->addr, 4) == 0 &&
        memcmp(&pb->sin_addr, peer->addr, 4) == 0)
      return fd;
  }
  return -1;
}

static int sockopt(int fd, int level, int name) {
  int v = -1;
  socklen_t len = sizeof v;
  assert_int_equal(getsockopt(fd, level, name, &v, &len), 0);
  return v;
}

/* -------------------------------------------------------------- tests */

static void test_descriptor(void **state) {
  fx *f = *state;
  const gh_plugin *p = f->p;
  assert_int_equal(p->abi_major, GH_ABI_MAJOR);
  assert_true(p->abi_minor <= GH_ABI_MINOR);
  assert_int_equal(p->size, sizeof(gh_plugin));
  assert_string_equal(p->name, "tcp");
  assert_string_equal(p->version, GH_VERSION_STRING);
  assert_non_null(p->description);
  assert_int_equal(p->n_handlers, 1);

  const gh_handler *h = p->handlers[0];
  assert_ptr_equal(h, f->h);
  assert_int_equal(h->size, sizeof(gh_handler));
  assert_int_equal(h->kind, GH_KIND_TRANSPORT);
  assert_int_equal(h->flags, 0);
  assert_string_equal(h->name, "tcp");
  assert_non_null(h->help);
  assert_non_null(h->listen);
  assert_non_null(h->unlisten);
  assert_non_null(h->connect);
  assert_non_null(h->write);
  assert_non_null(h->shutdown);
  assert_non_null(h->read_start);
  assert_non_null(h->read_stop);
  assert_non_null(h->close);
  assert_null(h->open);
  assert_null(h->up);
  assert_null(h->down);
  assert_null(h->up_eof);
  assert_null(h->down_eof);

  assert_int_equal(h->n_options, 2);
  const gh_option *o = mock_option(h, "nodelay");
  assert_non_null(o);
  assert_int_equal(o->type, GH_OPT_BOOL);
  assert_string_equal(o->def, "yes");
  assert_non_null(o->help);
  o = mock_option(h, "keepalive");
  assert_non_null(o);
  assert_int_equal(o->type, GH_OPT_INT);
  assert_int_equal(o->min, 0);
  assert_int_equal(o->max, 86400);
  assert_string_equal(o->def, "60");
  assert_non_null(o->help);
}

static void test_exports_only_entry(void **state) {
  (void)state;
  char **names = NULL;
  int n = mock_elf_exports(TCP_SO, &names);
  for (int i = 0; i < n; i++)
    fprintf(stderr, "exported: %s\n", names[i]);
  assert_int_equal(n, 1);
  assert_string_equal(names[0], GH_PLUGIN_ENTRY_NAME);
  mock_strv_free(names);
}

static void test_inst_rejects_bad_keepalive(void **state) {
  fx *f = *state;
  mock_inst *i = mock_inst_new(f->h, GH_SIDE_LISTEN);
  mock_inst_opt(i, "keepalive", "100000");
  assert_int_equal(mock_inst_init(i), GH_ERANGE);
  assert_true(strstr(i->err, "keepalive") != NULL);
  assert_false(i->inited);
}

static void test_accept_addresses(void **state) {
  fx *f = *state;
  static client c;
  assert_int_equal(start_listener(f, f->li, "127.0.0.1"), 0);
  mock_link *l = connect_client(f, &c, "127.0.0.1");
  cl_read_start(&c);
  assert_non_null(l);
  assert_non_null(l->data);
  assert_int_equal(f->l->n_accepted, 1);
  gh_addr cl_local, cl_peer;
  addr_of_handle(&c.tcp, 0, &cl_local);
  addr_of_handle(&c.tcp, 1, &cl_peer);
  assert_addr_equal(&l->peer, &cl_local);
  assert_addr_equal(&l->local, &cl_peer);
  assert_int_equal(l->local.port, f->port);
  assert_int_equal(l->ready_calls, 0);
  assert_int_equal(l->up.len, 0);

  close_link(l, 0);
  assert_true(mock_run_until(pred_cl_end, &c, WAIT_MS));
  assert_true(c.eof);
  cl_close(&c);
  stop_listener(f);
}

static int have_ipv6_loopback(void) {
  int fd = socket(AF_INET6, SOCK_STREAM, 0);
  if (fd < 0)
    return 0;
  struct sockaddr_in6 a;
  memset(&a, 0, sizeof a);
  a.sin6_family = AF_INET6;
  a.sin6_addr = in6addr_loopback;
  int ok = bind(fd, (struct sockaddr *)&a, sizeof a) == 0;
  close(fd);
  return ok;
}

/* "" listens on every address; IPv4 peers of a dual-stack socket are
 * reported as IPv4. */
static void test_listen_all_dual_stack(void **state) {
  fx *f = *state;
  static client c4, c6;
  assert_int_equal(start_listener(f, f->li, ""), 0);
  mock_link *l = connect_client(f, &c4, "127.0.0.1");
  gh_addr want;
  addr_of_handle(&c4.tcp, 0, &want);
  assert_int_equal(l->peer.family, GH_AF_INET);
  assert_addr_equal(&l->peer, &want);
  assert_int_equal(l->local.family, GH_AF_INET);
  close_link(l, 0);
  cl_close(&c4);

  if (have_ipv6_loopback()) {
    l = connect_client(f, &c6, "::1");
    addr_of_handle(&c6.tcp, 0, &want);
    assert_int_equal(l->peer.family, GH_AF_INET6);
    assert_addr_equal(&l->peer, &want);
    close_link(l, 0);
    cl_close(&c6);
  } else {
    fprintf(stderr, "no IPv6 loopback: IPv6 half skipped\n");
  }
  stop_listener(f);
}

/* A name is resolved (from /etc/hosts: no traffic leaves the host). */
static void test_listen_name(void **state) {
  fx *f = *state;
  struct addrinfo hints, *res = NULL;
  memset(&hints, 0, sizeof hints);
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE;
  if (getaddrinfo("localhost", NULL, &hints, &res) != 0 || !res)
    skip();
  char ip[INET6_ADDRSTRLEN];
  assert_int_equal(uv_ip_name(res->ai_addr, ip, sizeof ip), 0);
  freeaddrinfo(res);

  static client c;
  int32_t rc = start_listener(f, f->li, "localhost");
  assert_int_equal(rc, 0);
  mock_link *l = connect_client(f, &c, ip);
  assert_non_null(l);
  close_link(l, 0);
  cl_close(&c);
  stop_listener(f);
}

static void test_listen_errors(void **state) {
  fx *f = *state;
  static server sv;
  srv_start(&sv); /* holds sv.port */
  mock_listener *l = mock_listener_new(f->li);
  assert_int_equal(mock_listen(l, "127.0.0.1", sv.port), GH_EADDRINUSE);
  assert_false(l->listening);
  /* not numeric, and no name either: refused without a lookup */
  assert_int_equal(mock_listen(l, "::zz", sv.port), GH_EINVAL);
  mock_run_for(20);
  assert_int_equal(l->closed, 0);
  /* only the two instances' options are left */
  assert_int_equal(mock_stats.live_allocs, 2);
  srv_stop(&sv);
}

static void test_upload_1mib(void **state) {
  fx *f = *state;
  static client c;
  uint8_t *data = malloc(MiB);
  assert_non_null(data);
  fill_random(data, MiB, 1);
  assert_int_equal(start_listener(f, f->li, "127.0.0.1"), 0);
  f->l->read_on_accept = 1; /* read_start() from inside accept() */
  mock_link *l = connect_client(f, &c, "127.0.0.1");
  for (size_t off = 0; off < MiB; off += 100000)
    assert_int_equal(
        cl_write(&c, data + off, off + 100000 <= MiB ? 100000 : MiB - off), 0);
  want_up w = {l, MiB};
  assert_true(mock_run_until(pred_up, &w, WAIT_MS));
  assert_int_equal(l->up.len, MiB);
  assert_memory_equal(l->up.data, data, MiB);
  assert_int_equal(l->eof_up, 0);

  cl_shutdown(&c);
  assert_true(mock_run_until(mock_pred_link_eof_up, l, WAIT_MS));
  assert_int_equal(l->abort_calls, 0);
  close_link(l, 0);
  cl_close(&c);
  stop_listener(f);
  free(data);
}

static void test_read_stop_start(void **state) {
  fx *f = *state;
  static client c;
  assert_int_equal(start_listener(f, f->li, "127.0.0.1"), 0);
  mock_link *l = connect_client(f, &c, "127.0.0.1");

  /* Reading is stopped when a link is born. */
  assert_int_equal(cl_write(&c, "first", 5), 0);
  mock_run_for(150);
  assert_int_equal(l->up.len, 0);
  assert_int_equal(l->send_up_calls, 0);

  mock_read_start(l);
  mock_read_start(l); /* idempotent */
  want_up w = {l, 5};
  assert_true(mock_run_until(pred_up, &w, WAIT_MS));
  assert_memory_equal(l->up.data, "first", 5);

  mock_read_stop(l);
  mock_read_stop(l);
  assert_int_equal(cl_write(&c, "second", 6), 0);
  mock_run_for(150);
  assert_int_equal(l->up.len, 5);

  mock_read_start(l);
  w.n = 11;
  assert_true(mock_run_until(pred_up, &w, WAIT_MS));
  assert_memory_equal(l->up.data, "firstsecond", 11);

  close_link(l, 0);
  cl_close(&c);
  stop_listener(f);
}

/* send_up() < 0 (the stream is gone): the plugin stops reading. */
static void test_send_up_failure_stops_reading(void **state) {
  fx *f = *state;
  static client c;
  assert_int_equal(start_listener(f, f->li, "127.0.0.1"), 0);
  mock_link *l = connect_client(f, &c, "127.0.0.1");
  l->send_up_ret = GH_ESHUTDOWN;
  mock_read_start(l);
  assert_int_equal(cl_write(&c, "abc", 3), 0);
  want_up w = {l, 3};
  assert_true(mock_run_until(pred_up, &w, WAIT_MS));
  assert_int_equal(l->send_up_calls, 1);
  assert_int_equal(cl_write(&c, "def", 3), 0);
  mock_run_for(150);
  assert_int_equal(l->send_up_calls, 1);
  assert_int_equal(l->up.len, 3);
  close_link(l, 0);
  cl_close(&c);
  stop_listener(f);
}

typedef struct want_written {
  mock_link *l;
  client *c;
  uint64_t n;
} want_written;

static int pred_written(void *a) {
  want_written *w = a;
  return (w->l->written >= w->n && w->c->rx.len >= w->n) || w->l->abort_calls ||
         w->c->rerr;
}

static void test_download_4mib(void **state) {
  fx *f = *state;
  static client c;
  const size_t total = 4 * MiB;
  uint8_t *data = malloc(total);
  assert_non_null(data);
  fill_random(data, total, 2);
  assert_int_equal(start_listener(f, f->li, "127.0.0.1"), 0);
  mock_link *l = connect_client(f, &c, "127.0.0.1");
  /* A small send buffer on the plugin's socket, so that most of the
   * writes below find the socket full and are queued. */
  int fd = find_fd(&l->local, &l->peer);
  assert_true(fd >= 0);
  int sndbuf = 32768;
  assert_int_equal(
      setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf), 0);

  /* One big write, then frames of 16 KiB, all before the client reads:
   * once the socket buffer is full the rest is queued (and copied). */
  assert_int_equal(mock_write(l, data, MiB), 0);
  for (size_t off = MiB; off < total; off += 16384)
    assert_int_equal(mock_write(l, data + off, 16384), 0);
  fprintf(stderr, "written at once: %llu of %zu bytes in %u calls\n",
          (unsigned long long)l->written, total, l->written_calls);
  assert_true(l->written < total);

  cl_read_start(&c);
  want_written w = {l, &c, total};
  assert_true(mock_run_until(pred_written, &w, WAIT_MS));
  assert_int_equal(c.rerr, 0);
  assert_int_equal(l->abort_calls, 0);
  assert_int_equal(l->written, total);
  assert_int_equal(c.rx.len, total);
  assert_memory_equal(c.rx.data, data, total);

  close_link(l, 0);
  assert_true(mock_run_until(pred_cl_end, &c, WAIT_MS));
  assert_true(c.eof);
  cl_close(&c);
  stop_listener(f);
  free(data);
}

/* close(link, 0) with bytes still queued: they go out first, then FIN. */
static void test_orderly_close_flushes(void **state) {
  fx *f = *state;
  static client c;
  const size_t total = 8 * MiB;
  uint8_t *data = malloc(total);
  assert_non_null(data);
  fill_random(data, total, 3);
  assert_int_equal(start_listener(f, f->li, "127.0.0.1"), 0);
  mock_link *l = connect_client(f, &c, "127.0.0.1");
  for (size_t off = 0; off < total; off += MiB)
    assert_int_equal(mock_write(l, data + off, MiB), 0);
  uint64_t before = l->written;
  mock_close(l, 0);
  /* no written() after close(): the mock would count a violation */
  cl_read_start(&c);
  assert_true(mock_run_until(pred_cl_end, &c, WAIT_MS));
  assert_true(c.eof);
  assert_int_equal(c.rx.len, total);
  assert_memory_equal(c.rx.data, data, total);
  assert_true(mock_run_until(mock_pred_link_closed, l, WAIT_MS));
  assert_int_equal(l->written, before);
  cl_close(&c);
  stop_listener(f);
  free(data);
}

/* The client half-closes first; the plugin can still write. */
static void test_half_close_client_first(void **state) {
  fx *f = *state;
  static client c;
  assert_int_equal(start_listener(f, f->li, "127.0.0.1"), 0);
  mock_link *l = connect_client(f, &c, "127.0.0.1");
  mock_read_start(l);
  cl_read_start(&c);
  assert_int_equal(cl_write(&c, "hello", 5), 0);
  cl_shutdown(&c);
  assert_true(mock_run_until(mock_pred_link_eof_up, l, WAIT_MS));
  assert_int_equal(l->up.len, 5);
  assert_memory_equal(l->up.data, "hello", 5);

  assert_int_equal(mock_write(l, "world", 5), 0);
  c.want = 5;
  assert_true(mock_run_until(pred_cl_rx, &c, WAIT_MS));
  assert_memory_equal(c.rx.data, "world", 5);
  assert_false(c.eof);

  assert_int_equal(mock_shutdown(l), 0);
  assert_int_equal(mock_shutdown(l), 0); /* idempotent */
  assert_true(mock_run_until(pred_cl_end, &c, WAIT_MS));
  assert_true(c.eof);
  assert_int_equal(c.rerr, 0);
  assert_int_equal(l->written, 5);
  assert_int_equal(mock_write(l, "late", 4), GH_EPIPE);
  close_link(l, 0);
  cl_close(&c);
  stop_listener(f);
}

/* The plugin half-closes first; the client sees EOF and can still send. */
static void test_half_close_plugin_first(void **state) {
  fx *f = *state;
  static client c;
  assert_int_equal(start_listener(f, f->li, "127.0.0.1"), 0);
  mock_link *l = connect_client(f, &c, "127.0.0.1");
  mock_read_start(l);
  cl_read_start(&c);
  assert_int_equal(mock_write(l, "bye", 3), 0);
  assert_int_equal(mock_shutdown(l), 0);
  assert_true(mock_run_until(pred_cl_end, &c, WAIT_MS));
  assert_true(c.eof);
  assert_int_equal(c.rx.len, 3);

  assert_int_equal(cl_write(&c, "still here", 10), 0);
  want_up w = {l, 10};
  assert_true(mock_run_until(pred_up, &w, WAIT_MS));
  assert_memory_equal(l->up.data, "still here", 10);
  assert_int_equal(l->eof_up, 0);
  cl_shutdown(&c);
  assert_true(mock_run_until(mock_pred_link_eof_up, l, WAIT_MS));
  assert_int_equal(l->abort_calls, 0);
  close_link(l, 0);
  cl_close(&c);
  stop_listener(f);
}

static void test_close_reset(void **state) {
  fx *f = *state;
  static client c;
  assert_int_equal(start_listener(f, f->li, "127.0.0.1"), 0);
  mock_link *l = connect_client(f, &c, "127.0.0.1");
  cl_read_start(&c);
  close_link(l, GH_ECONNRESET);
  assert_true(mock_run_until(pred_cl_end, &c, WAIT_MS));
  assert_int_equal(c.rerr, UV_ECONNRESET);
  assert_false(c.eof);
  cl_close(&c);
  stop_listener(f);
}

/* uv_tcp_close_reset() refuses a handle with a shutdown request; the
 * plugin still closes (and resets) it. */
static void test_close_reset_after_shutdown(void **state) {
  fx *f = *state;
  static client c;
  assert_int_equal(start_listener(f, f->li, "127.0.0.1"), 0);
  mock_link *l = connect_client(f, &c, "127.0.0.1");
  cl_read_start(&c);
  assert_int_equal(mock_shutdown(l), 0);
  close_link(l, GH_ECONNABORTED);
  assert_true(mock_run_until(pred_cl_end, &c, WAIT_MS));
  cl_close(&c);
  stop_listener(f);
}

/* The application resets: a reading link reports abort(ECONNRESET); a
 * write then fails synchronously. */
static void test_peer_reset(void **state) {
  fx *f = *state;
  static client c1, c2;
  assert_int_equal(start_listener(f, f->li, "127.0.0.1"), 0);
  mock_link *l1 = connect_client(f, &c1, "127.0.0.1");
  mock_link *l2 = connect_client(f, &c2, "127.0.0.1");
  mock_read_start(l1);
  cl_reset(&c1);
  assert_true(mock_run_until(mock_pred_link_aborted, l1, WAIT_MS));
  assert_int_equal(l1->abort_reason, GH_ECONNRESET);
  assert_int_equal(l1->eof_up, 0);
  close_link(l1, l1->abort_reason);

  cl_reset(&c2);
  mock_run_for(50);
  static uint8_t big[256 * 1024];
  int32_t rc = 0;
  for (int i = 0; i < 8 && rc == 0 && !l2->abort_calls; i++) {
    rc = mock_write(l2, big, sizeof big);
    mock_run_for(20);
  }
  assert_true(rc == GH_EPIPE || rc == GH_ECONNRESET || l2->abort_calls);
  close_link(l2, GH_ECONNRESET);
  stop_listener(f);
}

/* The mock as the core would be: abort() leads to close() soon after. */
static void test_abort_then_close(void **state) {
  fx *f = *state;
  static client c;
  mock_config.close_on_abort = 1;
  assert_int_equal(start_listener(f, f->li, "127.0.0.1"), 0);
  mock_link *l = connect_client(f, &c, "127.0.0.1");
  mock_read_start(l);
  cl_reset(&c);
  assert_true(mock_run_until(mock_pred_link_closed, l, WAIT_MS));
  assert_int_equal(l->abort_calls, 1);
  assert_int_equal(l->close_reason, GH_ECONNRESET);
  stop_listener(f);
}

static void test_accept_refused(void **state) {
  fx *f = *state;
  static client c;
  assert_int_equal(start_listener(f, f->li, "127.0.0.1"), 0);
  f->l->refuse = 1;
  cl_init(&c);
  cl_connect(&c, "127.0.0.1", f->port);
  assert_true(mock_run_until(pred_cl_connected, &c, WAIT_MS));
  assert_int_equal(c.connected, 1); /* the kernel accepted it */
  cl_read_start(&c);
  assert_true(mock_run_until(pred_cl_end, &c, WAIT_MS));
  assert_true(c.eof || c.rerr == UV_ECONNRESET);
  assert_int_equal(f->l->accepts, 1);
  assert_int_equal(f->l->refused, 1);
  assert_int_equal(f->l->n_accepted, 0);
  cl_close(&c);
  mock_run_for(20);
  assert_int_equal(mock_stats.live_allocs, 2 + 1); /* insts + listener */
  stop_listener(f);
}

/* Accepted streams outlive unlisten(); new connections are refused. */
static void test_unlisten(void **state) {
  fx *f = *state;
  static client c, c2;
  assert_int_equal(start_listener(f, f->li, "127.0.0.1"), 0);
  mock_link *l = connect_client(f, &c, "127.0.0.1");
  stop_listener(f);

  mock_read_start(l);
  assert_int_equal(cl_write(&c, "ping", 4), 0);
  want_up w = {l, 4};
  assert_true(mock_run_until(pred_up, &w, WAIT_MS));

  cl_init(&c2);
  cl_connect(&c2, "127.0.0.1", f->port);
  assert_true(mock_run_until(pred_cl_connected, &c2, WAIT_MS));
  assert_int_equal(c2.connected, UV_ECONNREFUSED);
  cl_close(&c2);
  close_link(l, 0);
  cl_close(&c);
}

/* Out of memory for a new connection: it is taken and closed, and the
 * listener goes on. */
static void test_accept_out_of_memory(void **state) {
  fx *f = *state;
  static client c1, c2;
  assert_int_equal(start_listener(f, f->li, "127.0.0.1"), 0);
  mock_config.fail_alloc = 1;
  cl_init(&c1);
  cl_connect(&c1, "127.0.0.1", f->port);
  assert_true(mock_run_until(pred_cl_connected, &c1, WAIT_MS));
  cl_read_start(&c1);
  assert_true(mock_run_until(pred_cl_end, &c1, WAIT_MS));
  assert_int_equal(mock_stats.alloc_failures, 1);
  assert_int_equal(f->l->accepts, 0);
  assert_true(mock_stats.logs[GH_LOG_WARN] >= 1);
  cl_close(&c1);

  mock_link *l = connect_client(f, &c2, "127.0.0.1");
  assert_non_null(l);
  close_link(l, 0);
  cl_close(&c2);
  stop_listener(f);
}

static void test_options_applied(void **state) {
  fx *f = *state;
  static client c;
  /* defaults: nodelay yes, keepalive 60 s */
  assert_int_equal(start_listener(f, f->li, "127.0.0.1"), 0);
  mock_link *l = connect_client(f, &c, "127.0.0.1");
  int fd = find_fd(&l->local, &l->peer);
  assert_true(fd >= 0);
  assert_int_equal(sockopt(fd, IPPROTO_TCP, TCP_NODELAY) != 0, 1);
  assert_int_equal(sockopt(fd, SOL_SOCKET, SO_KEEPALIVE) != 0, 1);
  assert_int_equal(sockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE), 60);
  close_link(l, 0);
  cl_close(&c);
  stop_listener(f);

  mock_inst *i = mock_inst_new(f->h, GH_SIDE_LISTEN);
  mock_inst_opt(i, "nodelay", "no");
  mock_inst_opt(i, "keepalive", "0");
  assert_int_equal(mock_inst_init(i), 0);
  assert_int_equal(start_listener(f, i, "127.0.0.1"), 0);
  l = connect_client(f, &c, "127.0.0.1");
  fd = find_fd(&l->local, &l->peer);
  assert_true(fd >= 0);
  assert_int_equal(sockopt(fd, IPPROTO_TCP, TCP_NODELAY), 0);
  assert_int_equal(sockopt(fd, SOL_SOCKET, SO_KEEPALIVE), 0);
  close_link(l, 0);
  cl_close(&c);
  stop_listener(f);
  mock_inst_free(i);

  /* resource side, connect(): keepalive 7 */
  i = mock_inst_new(f->h, GH_SIDE_RESOURCE);
  mock_inst_opt(i, "keepalive", "7");
  assert_int_equal(mock_inst_init(i), 0);
  static server sv;
  srv_start(&sv);
  l = mock_link_new(i);
  assert_int_equal(mock_connect(l, "127.0.0.1", sv.port, 0), 0);
  assert_true(mock_run_until(mock_pred_link_ready, l, WAIT_MS));
  assert_int_equal(l->ready_status, 0);
  assert_true(mock_run_until(pred_srv_accepted, &sv, WAIT_MS));
  gh_addr plocal, ppeer;
  addr_of_handle(&sv.peers[0].tcp, 1, &plocal); /* the plugin's side */
  addr_of_handle(&sv.peers[0].tcp, 0, &ppeer);
  fd = find_fd(&plocal, &ppeer);
  assert_true(fd >= 0);
  assert_int_equal(sockopt(fd, IPPROTO_TCP, TCP_NODELAY) != 0, 1);
  assert_int_equal(sockopt(fd, SOL_SOCKET, SO_KEEPALIVE) != 0, 1);
  assert_int_equal(sockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE), 7);
  close_link(l, 0);
  srv_stop(&sv);
  mock_inst_free(i);
}

static void test_connect_ok(void **state) {
  fx *f = *state;
  static server sv;
  srv_start(&sv);
  mock_link *l = mock_link_new(f->ri);
  assert_int_equal(mock_connect(l, "127.0.0.1", sv.port, 200), 0);
  assert_non_null(l->data);
  assert_true(mock_run_until(mock_pred_link_ready, l, WAIT_MS));
  assert_int_equal(l->ready_status, 0);
  assert_true(mock_run_until(pred_srv_accepted, &sv, WAIT_MS));

  cl_read_start(&sv.peers[0]);
  assert_int_equal(mock_write(l, "ping", 4), 0);
  sv.peers[0].want = 4;
  assert_true(mock_run_until(pred_cl_rx, &sv.peers[0], WAIT_MS));
  assert_memory_equal(sv.peers[0].rx.data, "ping", 4);

  mock_read_start(l);
  assert_int_equal(cl_write(&sv.peers[0], "pong", 4), 0);
  want_up w = {l, 4};
  assert_true(mock_run_until(pred_up, &w, WAIT_MS));
  assert_memory_equal(l->up.data, "pong", 4);

  /* the 200 ms connect deadline is disarmed: no second ready() */
  mock_run_for(300);
  assert_int_equal(l->ready_calls, 1);
  assert_int_equal(l->abort_calls, 0);
  close_link(l, 0);
  srv_stop(&sv);
}

static void test_connect_ipv6(void **state) {
  fx *f = *state;
  if (!have_ipv6_loopback())
    skip();
  assert_int_equal(start_listener(f, f->li, "::1"), 0);
  mock_link *r = mock_link_new(f->ri);
  assert_int_equal(mock_connect(r, "::1", f->port, 0), 0);
  assert_true(mock_run_until(mock_pred_link_ready, r, WAIT_MS));
  assert_int_equal(r->ready_status, 0);
  assert_true(mock_run_until(mock_pred_listener_accepted, f->l, WAIT_MS));
  mock_link *a = mock_accepted(f->l, 0);
  assert_int_equal(a->peer.family, GH_AF_INET6);
  mock_read_start(a);
  assert_int_equal(mock_write(r, "v6", 2), 0);
  want_up w = {a, 2};
  assert_true(mock_run_until(pred_up, &w, WAIT_MS));
  close_link(r, 0);
  close_link(a, 0);
  stop_listener(f);
}

static void test_connect_refused(void **state) {
  fx *f = *state;
  uint16_t port = mock_free_port(SOCK_STREAM);
  mock_link *l = mock_link_new(f->ri);
  assert_int_equal(mock_connect(l, "127.0.0.1", port, 5000), 0);
  assert_true(mock_run_until(mock_pred_link_ready, l, WAIT_MS));
  assert_int_equal(l->ready_status, GH_ECONNREFUSED);
  assert_int_equal(l->abort_calls, 0);
  close_link(l, l->ready_status);
  assert_int_equal(l->ready_calls, 1);
}

static void test_connect_bad_address(void **state) {
  fx *f = *state;
  mock_link *l = mock_link_new(f->ri);
  assert_int_equal(mock_connect(l, "db.internal", 5432, 0), GH_EINVAL);
  assert_int_equal(mock_connect(l, "300.1.1.1", 5432, 0), GH_EINVAL);
  /* the core may still close() the link: closed() comes at once */
  mock_close(l, GH_EINVAL);
  assert_int_equal(l->closed, 1);
  assert_int_equal(l->ready_calls, 0);
}

/* An unspecified address would reach the local host: refused before any
 * socket, whatever the core decided (defence in depth). */
static void test_connect_unspecified(void **state) {
  fx *f = *state;
  static const char *const bad[] = {"0.0.0.0", "0.1.2.3",
                                    "::", "::ffff:0.0.0.0", "[::]"};
  for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
    mock_link *l = mock_link_new(f->ri);
    assert_int_equal(mock_connect(l, bad[i], f->port, 0), GH_EDENIED);
    mock_close(l, GH_EDENIED);
    assert_int_equal(l->closed, 1);
    assert_int_equal(l->ready_calls, 0);
  }
}

/* close() while connect() is pending: closed(), and never ready(). */
static void test_close_during_connect(void **state) {
  fx *f = *state;
  static server sv;
  srv_start(&sv);
  int32_t reasons[] = {0, GH_ECONNABORTED};
  uint32_t timeouts[] = {0, 1000};
  for (int i = 0; i < 4; i++) {
    mock_link *l = mock_link_new(f->ri);
    assert_int_equal(mock_connect(l, "127.0.0.1", sv.port, timeouts[i / 2]), 0);
    close_link(l, reasons[i % 2]);
    mock_run_for(30);
    assert_int_equal(l->ready_calls, 0);
    assert_int_equal(l->abort_calls, 0);
  }
  mock_run_for(50);
  srv_stop(&sv);
}

/* A connect deadline: a listener whose accept queue is full drops SYNs
 * (Linux), so the connect stays pending on loopback. */
static void test_connect_timeout(void **state) {
  fx *f = *state;
  int lfd = socket(AF_INET, SOCK_STREAM, 0);
  assert_true(lfd >= 0);
  struct sockaddr_in a;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t al = sizeof a;
  assert_int_equal(bind(lfd, (struct sockaddr *)&a, sizeof a), 0);
  assert_int_equal(getsockname(lfd, (struct sockaddr *)&a, &al), 0);
  assert_int_equal(listen(lfd, 0), 0);
  int fill[4];
  for (int i = 0; i < 4; i++) {
    fill[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    (void)connect(fill[i], (struct sockaddr *)&a, sizeof a);
  }
  usleep(50000);

  mock_link *l = mock_link_new(f->ri);
  assert_int_equal(mock_connect(l, "127.0.0.1", ntohs(a.sin_port), 300), 0);
  assert_true(mock_run_until(mock_pred_link_ready, l, WAIT_MS));
  int32_t status = l->ready_status;
  if (status != GH_ETIMEDOUT)
    fprintf(stderr, "connect was not held pending (%s): timeout unchecked\n",
            gh_errname(status));
  mock_run_for(100);
  assert_int_equal(l->ready_calls, 1);
  close_link(l, status);
  assert_int_equal(l->ready_calls, 1);
  for (int i = 0; i < 4; i++)
    close(fill[i]);
  close(lfd);
  if (status != GH_ETIMEDOUT && status != 0)
    fail_msg("unexpected connect status %s", gh_errname(status));
}

/* No descriptors left: libuv takes the connection and drops it; the
 * listener works again once descriptors are back. */
static void test_accept_emfile(void **state) {
  fx *f = *state;
  static client c1, c2;
  assert_int_equal(start_listener(f, f->li, "127.0.0.1"), 0);
  cl_init(&c1);
  struct rlimit old, low;
  assert_int_equal(getrlimit(RLIMIT_NOFILE, &old), 0);
  int probe = dup(0);
  assert_true(probe >= 0);
  close(probe);
  /* the client's socket (created by uv_tcp_connect) takes `probe`: the
   * plugin's accept() then finds no descriptor */
  cl_connect(&c1, "127.0.0.1", f->port);
  low = old;
  low.rlim_cur = (rlim_t)probe + 1;
  if (setrlimit(RLIMIT_NOFILE, &low) != 0)
    skip();
  assert_true(mock_run_until(pred_cl_connected, &c1, WAIT_MS));
  cl_read_start(&c1);
  int ended = mock_run_until(pred_cl_end, &c1, 2000);
  setrlimit(RLIMIT_NOFILE, &old);
  if (!ended) /* not dropped while limited: accepted now */
    mock_run_until(mock_pred_listener_accepted, f->l, WAIT_MS);
  fprintf(stderr, "EMFILE: client ended %d, accepts %u, warnings %u\n", ended,
          f->l->accepts, mock_stats.logs[GH_LOG_WARN]);
  for (size_t i = 0; i < f->l->n_accepted; i++)
    close_link(mock_accepted(f->l, i), 0);
  cl_close(&c1);
  size_t before = f->l->n_accepted;
  mock_link *l = connect_client(f, &c2, "127.0.0.1");
  assert_int_equal(f->l->n_accepted, before + 1);
  close_link(l, 0);
  cl_close(&c2);
  stop_listener(f);
}

/* The mock host itself, on the tcp handler's declarations: options with
 * defaults, timers, and its violation counter. */
typedef struct tick {
  int n;
  gh_timer *t;
} tick;

static void on_tick(gh_timer *t, void *arg) {
  tick *k = arg;
  assert_ptr_equal(t, k->t);
  if (++k->n == 3)
    mock_host.timer_free(t); /* from its own callback */
}

static int pred_ticks(void *a) {
  return ((tick *)a)->n >= 3;
}

static void test_mock_host_table(void **state) {
  fx *f = *state;
  const gh_host *h = &mock_host;
  assert_int_equal(h->size, sizeof(gh_host));
  assert_int_equal(h->abi_major, GH_ABI_MAJOR);
  assert_ptr_equal(h->uv_loop(), mock_loop());

  mock_inst *i = mock_inst_new(f->h, GH_SIDE_RESOURCE);
  gh_inst *gi = mock_gi(i);
  assert_string_equal(h->opt_get(gi, "nodelay", 0), "yes"); /* default */
  assert_null(h->opt_get(gi, "nodelay", 1));
  assert_int_equal(h->opt_count(gi, "nodelay"), 0);
  assert_int_equal(h->opt_bool(gi, "nodelay"), 1);
  assert_int_equal(h->opt_int(gi, "keepalive"), 60);
  mock_inst_opt(i, "nodelay", "off");
  mock_inst_opt(i, "keepalive", "15");
  assert_int_equal(h->opt_count(gi, "nodelay"), 1);
  assert_int_equal(h->opt_bool(gi, "nodelay"), 0);
  assert_int_equal(h->opt_int(gi, "keepalive"), 15);
  assert_int_equal(h->inst_side(gi), GH_SIDE_RESOURCE);
  assert_string_equal(h->inst_destination(gi), "mock");

  /* an undeclared option is a violation (counted, then forgiven here) */
  assert_null(h->opt_get(gi, "nodelays", 0));
  assert_int_equal(mock_stats.violations, 1);
  mock_stats.violations = 0;

  tick k = {0, NULL};
  k.t = h->timer_new(on_tick, &k);
  assert_non_null(k.t);
  assert_int_equal(h->timer_start(k.t, 5, 5), 0);
  assert_true(mock_run_until(pred_ticks, &k, WAIT_MS));
  mock_run_for(30);
  assert_int_equal(k.n, 3);
  assert_int_equal(mock_stats.timers_live, 0);

  uint64_t before = mock_stats.live_bytes;
  void *p = h->alloc(100);
  p = h->realloc(p, 1000);
  assert_non_null(p);
  assert_int_equal(mock_stats.live_bytes - before, 1000);
  h->free(p);
  assert_int_equal(mock_stats.live_bytes, before);
  h->free(NULL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
      T(test_descriptor),
      T(test_exports_only_entry),
      T(test_inst_rejects_bad_keepalive),
      T(test_accept_addresses),
      T(test_listen_all_dual_stack),
      T(test_listen_name),
      T(test_listen_errors),
      T(test_upload_1mib),
      T(test_read_stop_start),
      T(test_send_up_failure_stops_reading),
      T(test_download_4mib),
      T(test_orderly_close_flushes),
      T(test_half_close_client_first),
      T(test_half_close_plugin_first),
      T(test_close_reset),
      T(test_close_reset_after_shutdown),
      T(test_peer_reset),
      T(test_abort_then_close),
      T(test_accept_refused),
      T(test_unlisten),
      T(test_accept_out_of_memory),
      T(test_options_applied),
      T(test_connect_ok),
      T(test_connect_ipv6),
      T(test_connect_refused),
      T(test_connect_bad_address),
      T(test_connect_unspecified),
      T(test_close_during_connect),
      T(test_connect_timeout),
      T(test_accept_emfile),
      T(test_mock_host_table),
#undef T
  };
  return cmocka_run_group_tests_name("tcp plugin", tests, NULL, NULL);
}
