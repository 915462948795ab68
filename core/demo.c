/* `gatehouse demo`: a whole gateway on loopback with no files. A throwaway
 * CA and certificates are made in memory; a server and a client run in this
 * one process, joined by a real TLS tunnel over 127.0.0.1, with
 *   - an on-prem destination "echo": the server listens, the client connects
 *     to a small echo service standing for an on-premises resource;
 *   - a cloud destination "web": the client listens, the server connects to
 *     a small HTTP service standing for a cloud resource. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "certgen.h"
#include "client.h"
#include "gateway.h"
#include "log.h"
#include "loop.h"
#include "runtime.h"
#include "server.h"
#include "tls.h"

static gh__rt srv, cli;
static gh__server_cfg scfg;
static gh__client_cfg ccfg;
static uv_tcp_t echo_srv, web_srv;
static uv_timer_t ready_timer;
static uv_signal_t sig_int, sig_term;
static uint16_t p_tunnel, p_echo_res, p_web_res, p_echo, p_web;
static int stopping;

/* A port nobody listens on now. */
static uint16_t free_port(void) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {0};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(a);
  uint16_t port = 0;
  if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
      getsockname(fd, (struct sockaddr *)&a, &len) == 0)
    port = ntohs(a.sin_port);
  if (fd >= 0)
    close(fd);
  return port;
}

/* ---- the two stand-in resources ---- */

typedef struct conn {
  uv_tcp_t tcp;
  int web;
  size_t seen;
} conn;

static void conn_closed(uv_handle_t *h) {
  free(h->data);
}

static void on_res_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b) {
  b->base = malloc(65536);
  b->len = b->base ? 65536 : 0;
}

static void on_res_written(uv_write_t *w, int status) {
  free(w->data);
  free(w);
}

static void res_write(conn *c, const char *p, size_t n) {
  uv_write_t *w = malloc(sizeof(*w));
  char *copy = malloc(n);
  memcpy(copy, p, n);
  w->data = copy;
  uv_buf_t b = uv_buf_init(copy, (unsigned)n);
  if (uv_write(w, (uv_stream_t *)&c->tcp, &b, 1, on_res_written) < 0) {
    free(copy);
    free(w);
  }
}

static void on_shutdown(uv_shutdown_t *req, int status) {
  conn *c = req->data;
  free(req);
  uv_close((uv_handle_t *)&c->tcp, conn_closed);
}

static void res_end(conn *c) {
  uv_read_stop((uv_stream_t *)&c->tcp);
  uv_shutdown_t *req = malloc(sizeof(*req));
  req->data = c;
  if (uv_shutdown(req, (uv_stream_t *)&c->tcp, on_shutdown) < 0) {
    free(req);
    uv_close((uv_handle_t *)&c->tcp, conn_closed);
  }
}

static void on_res_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b) {
  conn *c = s->data;
  if (n > 0 && !c->web) {
    res_write(c, b->base, (size_t)n);
  } else if (n > 0 && c->web) {
    /* Answer once the request's headers have come. */
    c->seen += (size_t)n;
    if (memmem(b->base, (size_t)n, "\r\n\r\n", 4) || c->seen > 8192) {
      static const char body[] =
          "Hello from the cloud side of gatehouse: this answer travelled "
          "back through the tunnel.\n";
      char resp[512];
      int len = snprintf(resp, sizeof(resp),
                         "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                         "Content-Length: %zu\r\nConnection: close\r\n\r\n%s",
                         sizeof(body) - 1, body);
      res_write(c, resp, (size_t)len);
      res_end(c);
    }
  } else if (n < 0) {
    if (n == UV_EOF && !c->web)
      res_end(c);
    else if (!uv_is_closing((uv_handle_t *)s))
      uv_close((uv_handle_t *)s, conn_closed);
  }
  free(b->base);
}

static void on_res_conn(uv_stream_t *srv_h, int status) {
  if (status < 0)
    return;
  conn *c = calloc(1, sizeof(*c));
  c->web = srv_h == (uv_stream_t *)&web_srv;
  uv_tcp_init(gh__g.loop, &c->tcp);
  c->tcp.data = c;
  if (uv_accept(srv_h, (uv_stream_t *)&c->tcp) < 0) {
    uv_close((uv_handle_t *)&c->tcp, conn_closed);
    return;
  }
  uv_read_start((uv_stream_t *)&c->tcp, on_res_alloc, on_res_read);
}

static int resource_listen(uv_tcp_t *h, uint16_t port) {
  struct sockaddr_in a;
  uv_ip4_addr("127.0.0.1", port, &a);
  uv_tcp_init(gh__g.loop, h);
  int r = uv_tcp_bind(h, (struct sockaddr *)&a, 0);
  return r < 0 ? r : uv_listen((uv_stream_t *)h, 128, on_res_conn);
}

/* ---- configuration, built in memory ---- */

static int dest_add(gh__server_cfg *c, const char *name, const char *const *kv,
                    char *err, size_t errlen) {
  c->dests = realloc(c->dests, (c->n_dests + 1) * sizeof(*c->dests));
  gh__dest *d = &c->dests[c->n_dests++];
  memset(d, 0, sizeof(*d));
  d->name = gh__strdup(name);
  d->file = gh__strdup("<demo>");
  d->connect_timeout_ms = 10000;
  for (; kv[0]; kv += 2)
    if (gh__dest_set(d, kv[0], kv[1], 0, err, errlen) < 0)
      return -1;
  return 0;
}

static int build_configs(const char *token, char *err, size_t errlen) {
  char buf[4][64];
  snprintf(buf[0], sizeof(buf[0]), "127.0.0.1:%u", p_echo);
  snprintf(buf[1], sizeof(buf[1]), "127.0.0.1:%u", p_echo_res);
  snprintf(buf[2], sizeof(buf[2]), "%u", p_web);
  snprintf(buf[3], sizeof(buf[3]), "127.0.0.1:%u", p_web_res);
  scfg.file = gh__strdup("<demo>");
  scfg.tunnel_host = gh__strdup("127.0.0.1");
  scfg.tunnel_port = p_tunnel;
  scfg.common.log_level = GH_LOG_INFO;
  scfg.common.drain_timeout_s = 2;
  scfg.common.keepalive_s = 10;
  scfg.common.keepalive_timeout_s = 30;
  scfg.unauth_max = GH__UNAUTH_MAX;
  scfg.unauth_per_source = GH__UNAUTH_PER_SOURCE;
  scfg.handshake_timeout_s = GH__HANDSHAKE_S;
  scfg.common.connecting_max = GH__CONNECTING_MAX_DEFAULT;
  scfg.common.open_queue_max = GH__OPEN_QUEUE_MAX_DEFAULT;
  scfg.gateways = gh__xcalloc(1, sizeof(*scfg.gateways));
  scfg.n_gateways = 1;
  scfg.gateways[0].id = gh__strdup("demo");
  scfg.gateways[0].tunnels_max = GH__GW_TUNNELS_MAX;
  scfg.gateways[0].streams_max = GH__GW_STREAMS_MAX;
  scfg.gateways[0].tokens = gh__xcalloc(1, sizeof(char *));
  scfg.gateways[0].tokens[0] = gh__strdup(token);
  scfg.gateways[0].n_tokens = 1;
  const char *echo[] = {"gateway",  "demo", "type",     "onprem",
                        "listen",   buf[0], "resource", buf[1],
                        "protocol", "tcp",  NULL};
  const char *web[] = {"gateway",     "demo", "type",        "cloud",
                       "client_port", buf[2], "client_bind", "127.0.0.1",
                       "resource",    buf[3], "protocol",    "tcp",
                       NULL};
  if (dest_add(&scfg, "echo", echo, err, errlen) < 0 ||
      dest_add(&scfg, "web", web, err, errlen) < 0)
    return -1;

  ccfg.file = gh__strdup("<demo>");
  ccfg.common.log_level = GH_LOG_INFO;
  ccfg.common.drain_timeout_s = 2;
  ccfg.common.keepalive_s = 10;
  ccfg.common.keepalive_timeout_s = 30;
  ccfg.reconnect_max_s = 5;
  ccfg.common.connecting_max = GH__CONNECTING_MAX_DEFAULT;
  ccfg.common.open_queue_max = GH__OPEN_QUEUE_MAX_DEFAULT;
  ccfg.gateways = gh__xcalloc(1, sizeof(*ccfg.gateways));
  ccfg.n_gateways = 1;
  gh__client_gw *g = &ccfg.gateways[0];
  g->id = gh__strdup("demo");
  g->servers = gh__xcalloc(1, sizeof(char *));
  char tun[64];
  snprintf(tun, sizeof(tun), "127.0.0.1:%u", p_tunnel);
  g->servers[0] = gh__strdup(tun);
  g->n_servers = 1;
  g->token = gh__strdup(token);
  g->server_name = gh__strdup("localhost");
  g->connections = 2;
  ccfg.acl.present = 1;
  return gh__acl_add(&ccfg.acl, 1, buf[1], 1, err, errlen) < 0 ||
                 gh__acl_add(&ccfg.acl, 0, "*", 2, err, errlen) < 0
             ? -1
             : 0;
}

/* ---- running ---- */

static void print_ready(uv_timer_t *tm) {
  gh__gw *sgw = srv.n_gws ? srv.gws[0] : NULL;
  gh__gw *cgw = cli.n_gws ? cli.gws[0] : NULL;
  int web_up = 0;
  for (size_t i = 0; cgw && i < cgw->n_dests; i++)
    web_up |= cgw->dests[i]->listener != NULL;
  if (!sgw || sgw->n_live == 0 || !web_up)
    return;
  uv_timer_stop(tm);
  printf("\n"
         "gatehouse demo: a server and a client joined by one TLS tunnel on "
         "loopback\n"
         "(gateway 'demo', %zu tunnel connection(s), certificates made in "
         "memory).\n\n"
         "  on-prem destination 'echo'\n"
         "    cloud app -> server 127.0.0.1:%u -> tunnel -> client -> echo "
         "service 127.0.0.1:%u\n"
         "    try:  echo hello | nc -N 127.0.0.1 %u\n\n"
         "  cloud destination 'web'\n"
         "    on-prem app -> client 127.0.0.1:%u -> tunnel -> server -> web "
         "service 127.0.0.1:%u\n"
         "    try:  curl http://127.0.0.1:%u/\n\n"
         "Press Ctrl-C to stop.\n\n",
         sgw->n_live, p_echo, p_echo_res, p_echo, p_web, p_web_res, p_web);
  fflush(stdout);
}

static void both_stopped(gh__rt *rt) {
  if (++stopping == 3) /* 1 + the server + the client */
    uv_stop(gh__g.loop);
}

static void on_stop_signal(uv_signal_t *h, int sig) {
  if (stopping) {
    uv_stop(gh__g.loop);
    return;
  }
  stopping = 1;
  gh__info("demo", "stopping");
  gh__rt_stop(&cli, both_stopped);
  gh__rt_stop(&srv, both_stopped);
}

int gh__demo_main(int argc, char **argv) {
  if (argc > 1) {
    fprintf(stderr, "usage: gatehouse demo\n");
    return 2;
  }
  signal(SIGPIPE, SIG_IGN);
  uv_loop_t *loop = uv_default_loop();
  char why[1024];
  if (gh__core_init(loop, NULL, why, sizeof(why)) < 0) {
    fprintf(stderr, "gatehouse demo: cannot load the plugins: %s\n", why);
    return 1;
  }
  gh__pem ca = {0}, leaf = {0};
  const char *sans[] = {"DNS:localhost", "IP:127.0.0.1"};
  if (gh__certgen_ca("gatehouse demo CA", 1, &ca) < 0 ||
      gh__certgen_leaf(&ca, "localhost", sans, 2, 1, 1, &leaf) < 0) {
    fprintf(stderr, "gatehouse demo: cannot make certificates\n");
    return 1;
  }
  gh__tls_files stls = {(const uint8_t *)leaf.cert,
                        strlen(leaf.cert),
                        (const uint8_t *)leaf.key,
                        strlen(leaf.key),
                        NULL,
                        0,
                        NULL,
                        0};
  gh__tls_files ctls = {NULL, 0, NULL, 0, (const uint8_t *)ca.cert,
                        strlen(ca.cert), NULL, 0};
  unsigned char rnd[16];
  char token[33];
  RAND_bytes(rnd, sizeof(rnd));
  for (int i = 0; i < 16; i++)
    snprintf(token + 2 * i, 3, "%02x", rnd[i]);
  p_tunnel = free_port();
  p_echo_res = free_port();
  p_web_res = free_port();
  p_echo = free_port();
  p_web = free_port();
  char err[1024];
  int r;
  if ((r = resource_listen(&echo_srv, p_echo_res)) < 0 ||
      (r = resource_listen(&web_srv, p_web_res)) < 0) {
    fprintf(stderr, "gatehouse demo: cannot listen: %s\n", uv_strerror(r));
    return 1;
  }
  if (build_configs(token, err, sizeof(err)) < 0) {
    fprintf(stderr, "gatehouse demo: %s\n", err);
    return 1;
  }
  srv.tls_mem = &stls;
  cli.tls_mem = &ctls;
  /* The runtimes own their configurations (heap objects a reload would
   * replace): hand them over. */
  gh__server_cfg *s = gh__xcalloc(1, sizeof(*s));
  gh__client_cfg *c = gh__xcalloc(1, sizeof(*c));
  *s = scfg;
  *c = ccfg;
  memset(&scfg, 0, sizeof(scfg));
  memset(&ccfg, 0, sizeof(ccfg));
  if (gh__server_start(&srv, s, err, sizeof(err)) < 0 ||
      gh__client_start(&cli, c, err, sizeof(err)) < 0) {
    fprintf(stderr, "gatehouse demo: %s\n", err);
    return 1;
  }
  uv_signal_init(loop, &sig_int);
  uv_signal_init(loop, &sig_term);
  uv_signal_start(&sig_int, on_stop_signal, SIGINT);
  uv_signal_start(&sig_term, on_stop_signal, SIGTERM);
  uv_unref((uv_handle_t *)&sig_int);
  uv_unref((uv_handle_t *)&sig_term);
  uv_timer_init(loop, &ready_timer);
  uv_timer_start(&ready_timer, print_ready, 50, 50);
  uv_run(loop, UV_RUN_DEFAULT);
  gh__pem_free(&ca);
  gh__pem_free(&leaf);
  printf("gatehouse demo stopped.\n");
  return 0;
}
