/* Flow control of the mux (core/mux.c, core/stream.c): credit, windows,
 * the session budget, round-robin and FIN, with no socket and no TLS.
 *
 * The world is in memory: a runtime, a gateway, a destination whose chain is
 * one fake transport, and a tunnel marked up whose frames are only staged
 * (t->stage, plaintext). Tests feed frames with gh__mux_frame() as the
 * tunnel would after decryption, read what the mux staged by decoding
 * t->stage, and play the transport's part (written(), send_up()) through the
 * host table. Nothing here runs the loop while frames are staged: the end of
 * turn would SSL_write on a tunnel that never did a handshake. Each
 * inspection keeps the stage below GH__STAGE_FLUSH so that nothing is
 * encrypted; a flush would fail and close the tunnel, which every take()
 * checks for. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/err.h>

#include "chain.h"
#include "gateway.h"
#include "host.h"
#include "log.h"
#include "loop.h"
#include "mux.h"
#include "runtime.h"
#include "stream.h"
#include "tunnel.h"

/* ------------------------------------------------------ fake transport */

/* What the fake transport of one link saw. Owned by the test, so that it
 * stays readable after the core closed and freed the stream. */
typedef struct fake {
  uint8_t *got; /* bytes given to write(), in order */
  size_t got_len, got_cap;
  unsigned writes, shutdowns, closes, read_starts, read_stops;
  int reading;
  int count_only;    /* count the bytes, keep none (big transfers) */
  int32_t fail;      /* when < 0: write() refuses with it, keeps nothing */
  unsigned refused;  /* writes refused that way */
  uint32_t wlen[16]; /* the length of each of the first writes */
  int32_t reason;    /* of the last close() */
  gh_link *closing;  /* close() came; closed() not yet given back */
  char events[64];   /* W write, S shutdown, C close */
  size_t n_events;
  gh_link *link; /* connect() came for it (resource side) */
} fake;

static void fake_event(fake *f, char e) {
  if (f->n_events < sizeof(f->events) - 1)
    f->events[f->n_events++] = e;
}

static int32_t fake_write(gh_link *l, const uint8_t *data, uint32_t len) {
  fake *f = l->data;
  if (f->fail) {
    f->refused++;
    return f->fail;
  }
  if (f->writes < GH__ARRAY_LEN(f->wlen))
    f->wlen[f->writes] = len;
  f->writes++;
  if (f->count_only) {
    f->got_len += len;
    return 0;
  }
  if (f->got_len + len > f->got_cap) {
    size_t cap = f->got_cap ? f->got_cap : 65536;
    while (cap < f->got_len + len)
      cap *= 2;
    f->got = realloc(f->got, cap);
    assert_non_null(f->got);
    f->got_cap = cap;
  }
  memcpy(f->got + f->got_len, data, len);
  f->got_len += len;
  fake_event(f, 'W');
  return 0; /* written() comes when the test says so */
}

static int32_t fake_shutdown(gh_link *l) {
  fake *f = l->data;
  f->shutdowns++;
  fake_event(f, 'S');
  return 0;
}

static void fake_read_start(gh_link *l) {
  fake *f = l->data;
  f->read_starts++;
  f->reading = 1;
}

static void fake_read_stop(gh_link *l) {
  fake *f = l->data;
  f->read_stops++;
  f->reading = 0;
}

/* Like a libuv transport, the fake answers close() with closed() later
 * (settle() delivers it), unless sync_close asks for it at once. */
static int sync_close;

static void fake_close(gh_link *l, int32_t reason) {
  fake *f = l->data;
  f->closes++;
  f->reason = reason;
  f->link = NULL; /* its stream is being freed */
  fake_event(f, 'C');
  if (sync_close)
    gh__host.closed(l);
  else
    f->closing = l;
}

static fake *fake_new(void);

/* Resource side: the core resolved and checked; the connect is pending
 * until the test reports it with gh__stream_link_ready(). */
static int32_t fake_connect(gh_link *l, const char *host, uint16_t port,
                            uint32_t timeout_ms) {
  (void)host;
  (void)port;
  (void)timeout_ms;
  fake *f = fake_new();
  f->link = l;
  l->data = f;
  return 0;
}

static const gh_handler fake_transport = {
    .size = sizeof(gh_handler),
    .kind = GH_KIND_TRANSPORT,
    .name = "fake",
    .help = "an in-memory transport for the flow-control tests",
    .connect = fake_connect,
    .write = fake_write,
    .shutdown = fake_shutdown,
    .read_start = fake_read_start,
    .read_stop = fake_read_stop,
    .close = fake_close,
};

/* The same for datagrams: every write() and send_up() is one datagram. */
static const gh_handler fake_dgram_transport = {
    .size = sizeof(gh_handler),
    .kind = GH_KIND_TRANSPORT,
    .flags = GH_HANDLER_DGRAM,
    .name = "fake-dgram",
    .help = "an in-memory datagram transport for the flow-control tests",
    .write = fake_write,
    .shutdown = fake_shutdown,
    .read_start = fake_read_start,
    .read_stop = fake_read_stop,
    .close = fake_close,
};

/* ------------------------------------------------------------ the world */

#define MAX_FAKES 320 /* the read-ahead budget needs ~260 streams */

static struct world {
  gh__rt rt;
  gh__gw gw;
  gh__drt *res;  /* resource side of destination "res" */
  gh__drt *lis;  /* listen side of destination "lis" */
  gh__drt *dres; /* the same two with the datagram transport */
  gh__drt *dlis;
  gh__tunnel *t;
  fake fakes[MAX_FAKES];
  size_t n_fakes;
} W;

static uv_loop_t loop;
static SSL_CTX *ctx;
static char gw_id[] = "gw-flow";

static fake *fake_new(void) {
  assert_true(W.n_fakes < MAX_FAKES);
  fake *f = &W.fakes[W.n_fakes++];
  memset(f, 0, sizeof(*f));
  return f;
}

static gh__dest *dest_new(const char *name, const gh_handler *transport) {
  gh__dest *c = calloc(1, sizeof(*c));
  assert_non_null(c);
  c->name = gh__strdup(name);
  c->resource_host = gh__strdup("127.0.0.1");
  c->resource_port = 9;
  c->connect_timeout_ms = 1000;
  c->listen_chain.n = 1;
  c->listen_chain.h[0] = transport;
  c->resource_chain.n = 1;
  c->resource_chain.h[0] = transport;
  return c;
}

/* The runtime of one side of a new destination whose chain is transport. */
static int drt_new(const char *name, const gh_handler *transport, uint32_t side,
                   gh__drt **out) {
  char err[256];
  if (gh__drt_new(&W.gw, dest_new(name, transport), side, out, err,
                  sizeof(err)) < 0) {
    fprintf(stderr, "%s\n", err);
    return -1;
  }
  return 0;
}

static int group_setup(void **state) {
  gh__log_level = GH_LOG_ERROR;
  if (uv_loop_init(&loop) != 0)
    return -1;
  memset(&gh__g, 0, sizeof(gh__g));
  gh__core_setup(&loop);
  ctx = SSL_CTX_new(TLS_method());
  return ctx ? 0 : -1;
}

static int group_teardown(void **state) {
  uv_close((uv_handle_t *)&gh__g.prepare, NULL);
  uv_close((uv_handle_t *)&gh__g.lazy_timer, NULL);
  uv_run(&loop, UV_RUN_DEFAULT);
  int r = uv_loop_close(&loop);
  SSL_CTX_free(ctx);
  return r == 0 ? 0 : -1;
}

static int setup(void **state) {
  memset(&W, 0, sizeof(W));
  sync_close = 0;
  W.rt.role = GH__ROLE_CLIENT; /* the peer (a server) opens even ids */
  W.rt.subject = "client";
  gh__list_init(&W.rt.tunnels);
  W.gw.rt = &W.rt;
  W.gw.id = gw_id;
  if (drt_new("res", &fake_transport, GH_SIDE_RESOURCE, &W.res) < 0 ||
      drt_new("lis", &fake_transport, GH_SIDE_LISTEN, &W.lis) < 0 ||
      drt_new("dres", &fake_dgram_transport, GH_SIDE_RESOURCE, &W.dres) < 0 ||
      drt_new("dlis", &fake_dgram_transport, GH_SIDE_LISTEN, &W.dlis) < 0)
    return -1;
  gh__tunnel *t = gh__tunnel_new(&W.rt, ctx);
  if (!t)
    return -1;
  W.t = t;
  t->state = GH__T_UP; /* as after HELLO / WELCOME */
  t->gw = &W.gw;
  t->next_id = 1; /* the client opens odd streams */
  snprintf(t->subject, sizeof(t->subject), "tunnel flow-test");
  gh__gw_add_live(&W.gw, t);
  return 0;
}

/* Runs the end of loop turns (the reaper closes torn-down streams) and
 * gives back the closed() the fake transports owe. Only safe with nothing
 * staged (or with the tunnel closed): a staged frame would be SSL_written. */
static void settle(void) {
  assert_true(W.t == NULL || W.t->state == GH__T_CLOSING ||
              W.t->stage_len == 0);
  for (int i = 0; i < 16; i++) {
    /* The core's prepare handle is unreferenced; with no socket to keep
     * the loop alive uv_run() would return before running it. */
    uv_ref((uv_handle_t *)&gh__g.prepare);
    int more = uv_run(&loop, UV_RUN_NOWAIT) != 0;
    uv_unref((uv_handle_t *)&gh__g.prepare);
    for (size_t k = 0; k < W.n_fakes; k++) {
      gh_link *l = W.fakes[k].closing;
      if (l) {
        W.fakes[k].closing = NULL;
        gh__host.closed(l);
        more = 1;
      }
    }
    if (!more)
      break;
  }
}

static int teardown(void **state) {
  int bad = 0;
  gh__tunnel *t = W.t;
  if (t) {
    if (t->state != GH__T_CLOSING) {
      t->stage_len = 0; /* never encrypt: there was no handshake */
      gh__tunnel_close(t, "test over");
    }
    ERR_clear_error(); /* SSL_shutdown before any handshake complains */
    W.t = NULL;        /* freed by the loop */
  }
  settle();
  /* Every stream was torn down and freed: only the configuration's own
   * reference to each destination is left. */
  if (!gh__list_empty(&gh__g.reap) || !gh__list_empty(&gh__g.dirty))
    bad = 1;
  gh__drt *drts[] = {W.res, W.lis, W.dres, W.dlis};
  for (size_t i = 0; i < GH__ARRAY_LEN(drts); i++) {
    if (drts[i]->refs != 1) {
      fprintf(stderr, "streams not freed: %s refs %d\n", drts[i]->cfg->name,
              drts[i]->refs);
      bad = 1;
    }
    gh__drt_unref(drts[i]);
  }
  free(W.gw.live);
  for (size_t i = 0; i < W.n_fakes; i++)
    free(W.fakes[i].got);
  return bad ? -1 : 0;
}

/* ----------------------------------------------------- frames in and out */

static void feed(uint8_t type, uint8_t flags, uint32_t id, const void *p,
                 size_t len) {
  gh__frame f = {type, flags, id, (uint32_t)len, p};
  gh__mux_frame(W.t, &f);
  gh__mux_rx_flush(W.t); /* as at the end of the tunnel's rx */
}

static void feed_window(uint32_t id, uint32_t inc) {
  uint8_t b[4];
  gh__put_u32(b, inc);
  feed(GH__FT_WINDOW, 0, id, b, 4);
}

/* DATA in frames of at most GH__FRAME_MAX, as a peer would send it. */
static void feed_data(uint32_t id, const uint8_t *p, size_t len) {
  for (size_t off = 0; off < len;) {
    size_t n = GH__MIN(len - off, (size_t)GH__FRAME_MAX);
    feed(GH__FT_DATA, 0, id, p + off, n);
    assert_int_equal(W.t->state, GH__T_UP);
    off += n;
  }
}

#define MAX_FR 512
static uint8_t snap[2 * GH__STAGE_FLUSH];
static gh__frame fr[MAX_FR];
static size_t n_fr;

/* Decodes what the mux staged since the last take(), and empties the
 * stage. The tunnel must still be up: had the stage been flushed, the
 * SSL_write would have failed and closed it. */
static size_t take(void) {
  gh__tunnel *t = W.t;
  assert_int_equal(t->state, GH__T_UP);
  size_t len = t->stage_len;
  assert_true(len < GH__STAGE_FLUSH);
  if (len)
    memcpy(snap, t->stage, len);
  t->stage_len = 0;
  n_fr = 0;
  for (size_t off = 0; off < len;) {
    assert_true(n_fr < MAX_FR);
    int r = gh__frame_decode(snap + off, len - off, &fr[n_fr]);
    assert_true(r > 0);
    off += (size_t)r;
    n_fr++;
  }
  return n_fr;
}

static size_t count(uint8_t type, uint32_t id) {
  size_t n = 0;
  for (size_t i = 0; i < n_fr; i++)
    n += fr[i].type == type && fr[i].stream == id;
  return n;
}

/* Sum of the DATA payloads of stream id in the last take(); each frame
 * must hold 1..GH__FRAME_MAX bytes. Appends them to sink when given. */
static size_t data_sum(uint32_t id, uint8_t *sink, size_t *pos) {
  size_t n = 0;
  for (size_t i = 0; i < n_fr; i++) {
    if (fr[i].type != GH__FT_DATA || fr[i].stream != id)
      continue;
    assert_int_equal(fr[i].flags & GH__FF_FIN, 0);
    assert_true(fr[i].len >= 1 && fr[i].len <= GH__FRAME_MAX);
    if (sink) {
      memcpy(sink + *pos, fr[i].payload, fr[i].len);
      *pos += fr[i].len;
    }
    n += fr[i].len;
  }
  return n;
}

static uint64_t window_sum(uint32_t id) {
  uint64_t n = 0;
  for (size_t i = 0; i < n_fr; i++) {
    if (fr[i].type != GH__FT_WINDOW || fr[i].stream != id)
      continue;
    uint32_t inc;
    assert_int_equal(gh__window_decode(fr[i].payload, fr[i].len, &inc), 0);
    n += inc;
  }
  return n;
}

/* Distinct bytes whose order shows: a shifted or reordered copy differs. */
static void fill(uint8_t *p, size_t n, unsigned seed) {
  for (size_t i = 0; i < n; i++)
    p[i] = (uint8_t)(seed * 29u + i * 7u + (i >> 9) + (i >> 17));
}

/* --------------------------------------------------------------- streams */

/* A resource-side stream `id` of d opened by the peer, connected and open,
 * as gh__stream_open_resource() and gh__mux_opened() leave it (without
 * the resolve and connect). */
static gh__stream *res_stream_on(gh__drt *d, uint32_t id, fake **fo) {
  gh__stream *s = calloc(1, sizeof(*s) + sizeof(gh_link));
  assert_non_null(s);
  s->d = d;
  s->side = GH_SIDE_RESOURCE;
  s->n_links = 1;
  s->dgram = (d->chain->h[0]->flags & GH_HANDLER_DGRAM) != 0; /* as the core */
  gh__list_init(&s->sendq_node);
  gh__list_init(&s->credq_node);
  gh__list_init(&s->out_held_node);
  gh__list_init(&s->reap_node);
  fake *f = fake_new();
  s->links[0].s = s;
  s->links[0].inst = &d->insts[0];
  s->links[0].idx = 0;
  s->links[0].data = f;
  s->links[0].started = 1;
  s->links[0].ready = 1;
  d->refs++;
  d->st.opened++;
  d->st.active++;
  d->gw->st.opened++;
  d->gw->st.active++;
  assert_int_equal(id & 1u, 0); /* the server's parity */
  assert_true(id > W.t->peer_last_id);
  W.t->peer_last_id = id;
  assert_int_equal(gh__mux_attach(W.t, s, id), 0);
  s->state = GH__S_OPEN;
  gh__stream_update_read(s);
  assert_int_equal(f->reading, 1);
  assert_int_equal(s->credit, (int64_t)W.t->peer_window);
  assert_int_equal(s->rx_avail, (int64_t)GH__WINDOW_INIT);
  if (fo)
    *fo = f;
  return s;
}

static gh__stream *res_stream(uint32_t id, fake **fo) {
  return res_stream_on(W.res, id, fo);
}

/* A listen-side stream of d the way the core starts one: the transport
 * accepts an application, the core sends OPEN; no answer yet. A byte
 * stream is not read until then, a datagram stream is (its datagrams
 * wait in s->out). */
static gh__stream *lis_open(gh__drt *d, fake **fo) {
  fake *f = fake_new();
  gh_listener ln = {&d->insts[0], d, NULL};
  gh_addr peer = {GH_AF_INET, 40000, 0, {127, 0, 0, 1}};
  gh_addr local = {GH_AF_INET, 8080, 0, {127, 0, 0, 1}};
  uint32_t id = W.t->next_id;
  gh_link *l = gh__stream_accept(&ln, f, &peer, &local);
  assert_non_null(l);
  gh__stream *s = l->s;
  assert_int_equal(s->state, GH__S_OPENING);
  assert_int_equal(s->mnode.key, id);
  assert_int_equal(s->dgram, d == W.dlis);
  assert_int_equal(f->reading, s->dgram);
  assert_int_equal(take(), 1);
  assert_int_equal(fr[0].type, GH__FT_OPEN);
  assert_int_equal(fr[0].stream, id);
  if (fo)
    *fo = f;
  return s;
}

/* The same, and the peer answers OPEN_OK. */
static gh__stream *lis_stream_on(gh__drt *d, fake **fo) {
  fake *f;
  gh__stream *s = lis_open(d, &f);
  feed(GH__FT_OPEN_OK, 0, s->mnode.key, NULL, 0);
  assert_int_equal(W.t->state, GH__T_UP);
  assert_int_equal(s->state, GH__S_OPEN);
  assert_int_equal(f->reading, 1);
  if (fo)
    *fo = f;
  return s;
}

static gh__stream *lis_stream(fake **fo) {
  return lis_stream_on(W.lis, fo);
}

/* Bytes read from the application: the transport passes them up. */
static void up(gh__stream *s, const uint8_t *p, size_t len) {
  assert_int_equal(gh__host.send_up(&s->links[0], p, (uint32_t)len), 0);
}

/* The transport reports n bytes written to the local socket. */
static void written(gh__stream *s, uint32_t n) {
  gh__host.written(&s->links[0], n);
}

/* ------------------------------------------------------------------ tests */

/* DATA runs: consecutive DATA frames of one stream, as decrypted into the
 * tunnel's rx, reach the transport as one write; another stream's frame,
 * a FIN and the end of the rx end a run; the bytes arrive intact. */
static void test_data_runs(void **state) {
  fake *fa, *fb;
  res_stream(2, &fa);
  res_stream(4, &fb);
  static const struct {
    uint32_t id, len;
    uint8_t flags;
  } plan[] = {{2, GH__FRAME_MAX, 0},
              {2, GH__FRAME_MAX, 0},
              {2, 100, 0},
              {4, 500, 0},
              {2, 1000, GH__FF_FIN}};
  static uint8_t rx[5 * (GH__FRAME_HDR + GH__FRAME_MAX)];
  static uint8_t want_a[3 * GH__FRAME_MAX], want_b[GH__FRAME_MAX];
  size_t len = 0, na = 0, nb = 0;
  for (size_t i = 0; i < GH__ARRAY_LEN(plan); i++) {
    gh__frame_header(rx + len, GH__FT_DATA, plan[i].flags, plan[i].id,
                     plan[i].len);
    fill(rx + len + GH__FRAME_HDR, plan[i].len, (unsigned)i + 7);
    uint8_t *want = plan[i].id == 2 ? want_a + na : want_b + nb;
    memcpy(want, rx + len + GH__FRAME_HDR, plan[i].len);
    *(plan[i].id == 2 ? &na : &nb) += plan[i].len;
    len += GH__FRAME_HDR + plan[i].len;
  }
  for (size_t off = 0; off < len;) { /* as the tunnel's process_rx does */
    gh__frame f;
    int r = gh__frame_decode(rx + off, len - off, &f);
    assert_true(r > 0);
    gh__mux_frame(W.t, &f);
    off += (size_t)r;
  }
  gh__mux_rx_flush(W.t);
  assert_int_equal(W.t->state, GH__T_UP);
  assert_int_equal(fa->writes, 2); /* 16,384 + 16,384 + 100, then 1,000 */
  assert_int_equal(fa->wlen[0], 2 * GH__FRAME_MAX + 100);
  assert_int_equal(fa->wlen[1], 1000);
  assert_int_equal(fa->shutdowns, 1); /* the FIN, after its bytes */
  assert_int_equal(fa->got_len, na);
  assert_memory_equal(fa->got, want_a, na);
  assert_int_equal(fb->writes, 1);
  assert_int_equal(fb->got_len, nb);
  assert_memory_equal(fb->got, want_b, nb);
}

/* 1. Credit for received bytes goes back only once the transport has
 * written them: in steps of at least GH__CREDIT_BATCH, or all that is left
 * when the socket took everything; the session credit with it. */
static void test_credit_after_written(void **state) {
  gh__tunnel *t = W.t;
  fake *f;
  gh__stream *s = res_stream(2, &f);
  enum { TOTAL = 100 * 1024 };
  uint8_t *buf = malloc(TOTAL);
  assert_non_null(buf);
  fill(buf, TOTAL, 1);

  feed_data(2, buf, TOTAL);
  assert_int_equal(f->got_len, TOTAL);
  assert_memory_equal(f->got, buf, TOTAL);
  assert_int_equal(f->writes, (TOTAL + GH__FRAME_MAX - 1) / GH__FRAME_MAX);
  assert_int_equal(f->shutdowns, 0);
  assert_int_equal(s->rx_avail, (int64_t)GH__WINDOW_INIT - TOTAL);
  assert_int_equal(t->rx_session_avail, (int64_t)GH__SESSION_WINDOW - TOTAL);

  /* Received, not written: no credit, for the stream nor the session. */
  gh__mux_credit_flush(t);
  assert_int_equal(take(), 0);

  /* Written, but less than a batch and the socket still has some. */
  written(s, 1000);
  gh__mux_credit_flush(t);
  assert_int_equal(take(), 0);

  /* A batch written: exactly that much comes back, on both levels. */
  uint32_t part = GH__CREDIT_BATCH + 8000;
  written(s, part - 1000);
  gh__mux_credit_flush(t);
  assert_int_equal(take(), 2);
  assert_int_equal(count(GH__FT_WINDOW, 2), 1);
  assert_int_equal(window_sum(2), part);
  assert_int_equal(count(GH__FT_WINDOW, 0), 1);
  assert_int_equal(window_sum(0), part);
  assert_int_equal(s->rx_avail, (int64_t)GH__WINDOW_INIT - TOTAL + part);

  /* Nothing more is owed until more is written. */
  gh__mux_credit_flush(t);
  assert_int_equal(take(), 0);

  /* Another batch. */
  uint32_t part2 = GH__CREDIT_BATCH;
  written(s, part2);
  gh__mux_credit_flush(t);
  assert_int_equal(take(), 2);
  assert_int_equal(window_sum(2), part2);
  assert_int_equal(window_sum(0), part2);

  /* Less than a batch with the socket still busy: nothing; then the socket
   * takes the rest and all of it comes back at once, less than a batch. */
  uint32_t rest = TOTAL - part - part2;
  assert_true(rest < GH__CREDIT_BATCH);
  written(s, 10000);
  gh__mux_credit_flush(t);
  assert_int_equal(take(), 0);
  written(s, rest - 10000);
  assert_int_equal(s->tx_pending, 0);
  gh__mux_credit_flush(t);
  assert_int_equal(take(), 2);
  assert_int_equal(window_sum(2), rest);
  assert_int_equal(window_sum(0), rest);

  /* In all: every byte received was credited once, nothing more. */
  assert_int_equal(s->rx_held, 0);
  assert_int_equal(s->rx_avail, (int64_t)GH__WINDOW_INIT);
  assert_int_equal(t->rx_session_avail, (int64_t)GH__SESSION_WINDOW);
  assert_int_equal(t->session_owed, 0);
  gh__mux_credit_flush(t);
  assert_int_equal(take(), 0);
  assert_int_equal(W.res->st.bytes_out, TOTAL);
  free(buf);
}

/* 2. A peer that sends more than the stream window without credit coming
 * back is a protocol error that closes the tunnel. */
static void test_stream_window_exceeded(void **state) {
  gh__tunnel *t = W.t;
  fake *f;
  res_stream(2, &f);
  uint8_t *buf = malloc(GH__WINDOW_INIT);
  assert_non_null(buf);
  fill(buf, GH__WINDOW_INIT, 2);
  feed_data(2, buf, GH__WINDOW_INIT); /* exactly the window: fine */
  assert_int_equal(t->state, GH__T_UP);
  assert_int_equal(f->got_len, GH__WINDOW_INIT);
  feed(GH__FT_DATA, 0, 2, buf, 1); /* one byte too many */
  assert_int_equal(t->state, GH__T_CLOSING);
  assert_int_equal(f->got_len, GH__WINDOW_INIT); /* not passed on */
  free(buf);
}

/* 2b. The window slides: once credit went back, as much more may come. */
static void test_stream_window_slides(void **state) {
  gh__tunnel *t = W.t;
  fake *f;
  gh__stream *s = res_stream(2, &f);
  uint8_t *buf = malloc(GH__WINDOW_INIT);
  assert_non_null(buf);
  fill(buf, GH__WINDOW_INIT, 3);
  feed_data(2, buf, GH__WINDOW_INIT);
  written(s, 50000); /* a batch, not all: 50000 back */
  gh__mux_credit_flush(t);
  assert_int_equal(take(), 2);
  assert_int_equal(window_sum(2), 50000);
  feed_data(2, buf, 50000); /* exactly what came back */
  assert_int_equal(t->state, GH__T_UP);
  assert_int_equal(s->rx_avail, 0);
  feed(GH__FT_DATA, 0, 2, buf, 1);
  assert_int_equal(t->state, GH__T_CLOSING);
  free(buf);
}

/* 2c. The same for the session: all streams together may not exceed it. */
static void test_session_window_exceeded(void **state) {
  gh__tunnel *t = W.t;
  res_stream(2, NULL);
  res_stream(4, NULL);
  uint8_t buf[16384];
  fill(buf, sizeof(buf), 4);
  t->rx_session_avail = 30000; /* what we still allow the peer */
  feed_data(2, buf, 16000);
  feed_data(4, buf, 14000);
  assert_int_equal(t->state, GH__T_UP);
  feed(GH__FT_DATA, 0, 4, buf, 1);
  assert_int_equal(t->state, GH__T_CLOSING);
}

/* 3. Sending: a stream may have at most its credit in flight; the rest
 * waits in s->out and the application is no longer read; a WINDOW releases
 * exactly its increment, and reading resumes once the buffer drains while
 * credit remains. */
static void test_send_credit(void **state) {
  gh__tunnel *t = W.t;
  enum { CREDIT = 40000, TOTAL = 100000 };
  t->peer_window = CREDIT; /* the peer's initial stream window */
  fake *f;
  gh__stream *s = lis_stream(&f);
  uint32_t id = s->mnode.key;
  assert_int_equal(s->credit, CREDIT);
  uint8_t *buf = malloc(TOTAL), *sink = malloc(TOTAL);
  assert_non_null(buf);
  assert_non_null(sink);
  fill(buf, TOTAL, 5);
  size_t pos = 0;

  up(s, buf, TOTAL);
  take();
  assert_int_equal(n_fr, count(GH__FT_DATA, id));
  assert_int_equal(n_fr, (CREDIT + GH__FRAME_MAX - 1) / GH__FRAME_MAX);
  assert_int_equal(data_sum(id, sink, &pos), CREDIT);
  assert_memory_equal(sink, buf, CREDIT);
  assert_int_equal(s->credit, 0);
  assert_int_equal(s->out.len, TOTAL - CREDIT);
  assert_int_equal(f->reading, 0); /* no credit: stop reading */
  assert_int_equal(f->read_stops, 1);

  /* A WINDOW releases exactly its increment; still no credit after. */
  feed_window(id, 30000);
  take();
  assert_int_equal(n_fr, count(GH__FT_DATA, id));
  assert_int_equal(data_sum(id, sink, &pos), 30000);
  assert_int_equal(s->out.len, TOTAL - CREDIT - 30000);
  assert_int_equal(s->credit, 0);
  assert_int_equal(f->reading, 0);

  /* More than the rest: the buffer drains, credit remains, reading goes
   * on. */
  feed_window(id, 50000);
  take();
  assert_int_equal(data_sum(id, sink, &pos), 30000);
  assert_int_equal(pos, TOTAL);
  assert_memory_equal(sink, buf, TOTAL);
  assert_int_equal(s->out.len, 0);
  assert_int_equal(s->credit, 20000);
  assert_int_equal(f->reading, 1);
  assert_int_equal(f->read_starts, 2);

  /* What is read now goes out at once, up to the credit. */
  up(s, buf, 20000);
  take();
  assert_int_equal(data_sum(id, NULL, NULL), 20000);
  assert_int_equal(s->credit, 0);
  assert_int_equal(s->out.len, 0);
  assert_int_equal(f->reading, 0);
  assert_int_equal(W.lis->st.bytes_in, TOTAL + 20000);
  assert_int_equal(t->send_session,
                   (int64_t)GH__SESSION_WINDOW - TOTAL - 20000);
  free(buf);
  free(sink);
}

/* 4. The session budget bounds all streams together: a stream WINDOW does
 * not get around it, a session WINDOW releases exactly its increment. */
static void test_session_budget(void **state) {
  gh__tunnel *t = W.t;
  fake *fa, *fb;
  gh__stream *a = res_stream(2, &fa);
  gh__stream *b = res_stream(4, &fb);
  uint8_t ba[25000], bb[15000], sa[25000], sb[15000];
  size_t pa = 0, pb = 0;
  fill(ba, sizeof(ba), 6);
  fill(bb, sizeof(bb), 7);
  t->send_session = 20000;

  up(a, ba, 15000);
  up(b, bb, 15000);
  up(a, ba + 15000, 10000);
  take();
  assert_int_equal(data_sum(2, sa, &pa), 15000);
  assert_int_equal(data_sum(4, sb, &pb), 5000);
  assert_int_equal(t->send_session, 0);
  assert_int_equal(a->out.len, 10000);
  assert_int_equal(b->out.len, 10000);
  /* Both still have stream credit: they are not the ones stopped. */
  assert_true(a->credit > 0 && b->credit > 0);

  /* Stream credit alone sends nothing. */
  feed_window(2, 100000);
  feed_window(4, 100000);
  assert_int_equal(take(), 0);

  /* Session credit: exactly that much, across both streams. */
  feed_window(0, 12000);
  take();
  assert_int_equal(data_sum(2, sa, &pa) + data_sum(4, sb, &pb), 12000);
  assert_int_equal(t->send_session, 0);

  feed_window(0, 100000);
  take();
  assert_int_equal(data_sum(2, sa, &pa) + data_sum(4, sb, &pb), 8000);
  assert_int_equal(t->send_session, 92000);
  assert_int_equal(pa, sizeof(ba));
  assert_int_equal(pb, sizeof(bb));
  assert_memory_equal(sa, ba, sizeof(ba));
  assert_memory_equal(sb, bb, sizeof(bb));
  assert_int_equal(fa->reading, 1);
  assert_int_equal(fb->reading, 1);
}

/* 5. Streams waiting for the tunnel go out round-robin, one frame each in
 * turn, rather than one stream's backlog first. */
static void test_round_robin(void **state) {
  gh__tunnel *t = W.t;
  enum { N = 64 * 1024 };
  fake *fa, *fb;
  gh__stream *a = res_stream(2, &fa);
  gh__stream *b = res_stream(4, &fb);
  uint8_t *ba = malloc(N), *bb = malloc(N), *sa = malloc(N), *sb = malloc(N);
  assert_true(ba && bb && sa && sb);
  size_t pa = 0, pb = 0;
  fill(ba, N, 8);
  fill(bb, N, 9);
  t->send_session = 0; /* the tunnel is blocked */

  up(a, ba, N);
  up(b, bb, N);
  assert_int_equal(take(), 0);
  assert_int_equal(a->out.len, N);
  assert_int_equal(b->out.len, N);
  assert_int_equal(fa->reading, 0); /* GH__OUT_MAX buffered */
  assert_int_equal(fb->reading, 0);

  /* Each opening stays below the stage's flush threshold. */
  static const struct {
    uint32_t id, len;
  } want1[] = {{2, 16384}, {4, 16384}, {2, 16384}, {4, 10848}},
    want2[] = {{2, 16384}, {4, 16384}, {2, 16384}, {4, 10848}},
    want3[] = {{4, 11072}};
  feed_window(0, 60000);
  take();
  assert_int_equal(n_fr, GH__ARRAY_LEN(want1));
  for (size_t i = 0; i < n_fr; i++) {
    assert_int_equal(fr[i].type, GH__FT_DATA);
    assert_int_equal(fr[i].stream, want1[i].id);
    assert_int_equal(fr[i].len, want1[i].len);
  }
  data_sum(2, sa, &pa);
  data_sum(4, sb, &pb);

  feed_window(0, 60000);
  take();
  assert_int_equal(n_fr, GH__ARRAY_LEN(want2));
  for (size_t i = 0; i < n_fr; i++) {
    assert_int_equal(fr[i].stream, want2[i].id);
    assert_int_equal(fr[i].len, want2[i].len);
  }
  data_sum(2, sa, &pa);
  data_sum(4, sb, &pb);
  assert_int_equal(a->out.len, 0);
  assert_int_equal(fa->reading, 1); /* drained: read again */

  feed_window(0, 60000);
  take();
  assert_int_equal(n_fr, GH__ARRAY_LEN(want3));
  assert_int_equal(fr[0].stream, want3[0].id);
  assert_int_equal(fr[0].len, want3[0].len);
  data_sum(4, sb, &pb);
  assert_int_equal(fb->reading, 1);
  assert_int_equal(pa, N);
  assert_int_equal(pb, N);
  assert_memory_equal(sa, ba, N);
  assert_memory_equal(sb, bb, N);
  free(ba);
  free(bb);
  free(sa);
  free(sb);
}

/* 6. FIN: the transport is shut down after the bytes before it, whether
 * FIN rides on the last DATA or comes alone. */
static void test_fin(void **state) {
  gh__tunnel *t = W.t;
  fake *fa, *fb;
  gh__stream *a = res_stream(2, &fa);
  gh__stream *b = res_stream(4, &fb);
  uint8_t buf[300];
  fill(buf, sizeof(buf), 10);

  feed(GH__FT_DATA, 0, 2, buf, 100);
  feed(GH__FT_DATA, GH__FF_FIN, 2, buf + 100, 50);
  assert_int_equal(t->state, GH__T_UP);
  assert_string_equal(fa->events, "WWS");
  assert_int_equal(fa->shutdowns, 1);
  assert_int_equal(fa->got_len, 150);
  assert_memory_equal(fa->got, buf, 150);
  assert_int_equal(a->fin_recv, 1);

  feed(GH__FT_DATA, 0, 4, buf, 300);
  assert_int_equal(fb->shutdowns, 0);
  feed(GH__FT_DATA, GH__FF_FIN, 4, NULL, 0);
  assert_string_equal(fb->events, "WS");
  assert_int_equal(b->fin_recv, 1);

  /* Our side ends too; once the socket took everything the stream is done
   * and what it held still comes back on the session. */
  gh__mux_send_eof(a);
  take();
  assert_int_equal(n_fr, 1);
  assert_int_equal(fr[0].type, GH__FT_DATA);
  assert_int_equal(fr[0].stream, 2);
  assert_int_equal(fr[0].flags, GH__FF_FIN);
  assert_int_equal(fr[0].len, 0);
  assert_int_equal(a->state, GH__S_OPEN); /* 150 bytes not yet written */
  written(a, 150);
  assert_int_equal(a->state, GH__S_CLOSING);
  gh__mux_credit_flush(t);
  take();
  assert_int_equal(count(GH__FT_WINDOW, 2), 0);
  assert_int_equal(window_sum(0), 150);
  settle(); /* the reaper closes the transport */
  assert_string_equal(fa->events, "WWSC");

  /* DATA after FIN is a protocol error. */
  feed(GH__FT_DATA, 0, 4, buf, 1);
  assert_int_equal(t->state, GH__T_CLOSING);
}

/* 7. A stream torn down with bytes received but not credited: they come
 * back on the session, as do bytes still in flight to it. */
static void test_reset_returns_session_credit(void **state) {
  gh__tunnel *t = W.t;
  fake *f;
  gh__stream *s = res_stream(2, &f);
  uint8_t buf[50000];
  fill(buf, sizeof(buf), 11);
  feed_data(2, buf, 50000);
  written(s, 10000); /* below the batch: nothing owed yet */
  gh__mux_credit_flush(t);
  assert_int_equal(take(), 0);

  uint8_t p[64];
  gh__fail fl = {GH_ECONNRESET, {"", 0}};
  int n = gh__fail_encode(p, sizeof(p), &fl);
  assert_true(n > 0);
  feed(GH__FT_RESET, 0, 2, p, (size_t)n);
  assert_int_equal(t->state, GH__T_UP);
  assert_int_equal(s->state, GH__S_CLOSING);
  feed_data(2, buf, 3000); /* sent before the peer's RESET crossed ours */
  assert_int_equal(t->state, GH__T_UP);

  gh__mux_credit_flush(t);
  take();
  assert_int_equal(count(GH__FT_WINDOW, 2), 0);
  assert_int_equal(window_sum(0), 53000);
  assert_int_equal(t->rx_session_avail, (int64_t)GH__SESSION_WINDOW);
  settle();
  assert_int_equal(f->closes, 1);
}

/* 8. Window growth (toward the bandwidth-delay product). One DATA frame
 * of 16 KiB, written out at once, its credit flushed; returns the stream's
 * and the session's increments. */
static void one_fast_frame(gh__stream *s, const uint8_t *buf,
                           uint64_t *stream_inc, uint64_t *session_inc) {
  uint32_t id = s->mnode.key;
  feed(GH__FT_DATA, 0, id, buf, GH__FRAME_MAX);
  assert_int_equal(W.t->state, GH__T_UP);
  written(s, GH__FRAME_MAX);
  gh__mux_credit_flush(W.t);
  take();
  *stream_inc = window_sum(id);
  *session_inc = window_sum(0);
  /* What the peer may have in flight is always the current window. */
  assert_int_equal(s->rx_avail + (int64_t)s->rx_held, (int64_t)s->rx_window);
}

/* 8a. A reader that keeps up (everything written at once, a window turned
 * over within GH__WINDOW_FAST_MS) doubles its window: the WINDOW that
 * completes it carries the extra credit, the session's does not; the peer
 * may then have twice as much in flight, and no more. */
static void test_window_grows_when_reader_keeps_up(void **state) {
  gh__tunnel *t = W.t;
  fake *f;
  gh__stream *s = res_stream(2, &f);
  f->count_only = 1;
  uint8_t buf[GH__FRAME_MAX];
  fill(buf, sizeof(buf), 14);
  uint64_t si, ti, st = 0, tt = 0;
  for (size_t i = 0; i < GH__WINDOW_INIT / GH__FRAME_MAX; i++) {
    one_fast_frame(s, buf, &si, &ti);
    assert_int_equal(ti, GH__FRAME_MAX); /* the session: bytes only */
    if (i + 1 < GH__WINDOW_INIT / GH__FRAME_MAX)
      assert_int_equal(si, GH__FRAME_MAX);
    st += si;
    tt += ti;
  }
  assert_int_equal(si, GH__FRAME_MAX + GH__WINDOW_INIT); /* doubled */
  assert_int_equal(st, 2 * GH__WINDOW_INIT);
  assert_int_equal(tt, GH__WINDOW_INIT);
  assert_int_equal(t->rx_session_avail, (int64_t)GH__SESSION_WINDOW);
  assert_int_equal(s->rx_avail, 2 * (int64_t)GH__WINDOW_INIT);

  for (size_t i = 0; i < 2 * GH__WINDOW_INIT / GH__FRAME_MAX; i++)
    feed_data(2, buf, GH__FRAME_MAX); /* not written: the reader stalls */
  assert_int_equal(t->state, GH__T_UP);
  feed(GH__FT_DATA, 0, 2, buf, 1);
  assert_int_equal(t->state, GH__T_CLOSING);
}

/* 8b. A reader whose socket has a backlog (tx_pending > 0 whenever credit
 * goes back) never grows its window. */
static void test_window_stays_for_slow_socket(void **state) {
  gh__tunnel *t = W.t;
  fake *f;
  gh__stream *s = res_stream(2, &f);
  f->count_only = 1;
  uint8_t buf[GH__FRAME_MAX];
  fill(buf, sizeof(buf), 15);
  feed_data(2, buf, GH__FRAME_MAX); /* a backlog of 16 KiB stays */
  uint64_t st = 0;
  for (size_t i = 0; i < 2 * GH__WINDOW_INIT / GH__CREDIT_BATCH; i++) {
    feed_data(2, buf, GH__FRAME_MAX);
    feed_data(2, buf, GH__FRAME_MAX);
    written(s, GH__CREDIT_BATCH);
    assert_int_equal(s->tx_pending, GH__FRAME_MAX);
    gh__mux_credit_flush(t);
    take();
    assert_int_equal(window_sum(2), GH__CREDIT_BATCH);
    assert_int_equal(window_sum(0), GH__CREDIT_BATCH);
    st += window_sum(2);
  }
  assert_int_equal(st, 2 * GH__WINDOW_INIT); /* two windows: no growth */
  assert_int_equal(s->rx_avail + (int64_t)s->rx_held, GH__WINDOW_INIT);
}

/* 8c. A window that takes longer than GH__WINDOW_FAST_MS to turn over does
 * not grow; the next, fast one does (each window is judged on its own). */
static void test_window_growth_needs_speed(void **state) {
  fake *f;
  gh__stream *s = res_stream(2, &f);
  f->count_only = 1;
  uint8_t buf[GH__FRAME_MAX];
  fill(buf, sizeof(buf), 16);
  uint64_t si, ti, st = 0;
  size_t n = GH__WINDOW_INIT / GH__FRAME_MAX;
  for (size_t i = 0; i < n; i++) {
    if (i == n - 1) {
      usleep((GH__WINDOW_FAST_MS + 20) * 1000);
      uv_update_time(&loop);
    }
    one_fast_frame(s, buf, &si, &ti);
    st += si;
  }
  assert_int_equal(st, GH__WINDOW_INIT); /* slow: no growth */
  st = 0;
  for (size_t i = 0; i < n; i++) {
    one_fast_frame(s, buf, &si, &ti);
    st += si;
  }
  assert_int_equal(si, GH__FRAME_MAX + GH__WINDOW_INIT);
  assert_int_equal(st, 2 * GH__WINDOW_INIT);
}

/* 8d. Growth stops at GH__WINDOW_MAX. */
static void test_window_growth_capped(void **state) {
  gh__tunnel *t = W.t;
  fake *f;
  gh__stream *s = res_stream(2, &f);
  f->count_only = 1;
  uint8_t buf[GH__FRAME_MAX];
  fill(buf, sizeof(buf), 17);
  uint64_t si, ti, window = GH__WINDOW_INIT;
  int grew = 0;
  for (int epoch = 0; epoch < 8; epoch++) {
    uint64_t st = 0;
    for (uint64_t i = 0; i < window / GH__FRAME_MAX; i++) {
      one_fast_frame(s, buf, &si, &ti);
      assert_true(si <= GH__FRAME_CREDIT_MAX);
      st += si;
    }
    if (window < GH__WINDOW_MAX) {
      assert_int_equal(st, 2 * window);
      window *= 2;
      grew++;
    } else {
      assert_int_equal(st, window);
    }
    assert_int_equal(s->rx_avail, (int64_t)window);
  }
  assert_int_equal(window, GH__WINDOW_MAX);
  /* 256 KiB doubled up to the cap */
  assert_int_equal(GH__WINDOW_INIT << grew, GH__WINDOW_MAX);
  assert_int_equal(t->rx_session_avail, (int64_t)GH__SESSION_WINDOW);
}

/* ------------------------------------------------------- datagram streams */

static void feed_reset(uint32_t id, int32_t code) {
  uint8_t p[64];
  gh__fail fl = {code, {"", 0}};
  int n = gh__fail_encode(p, sizeof(p), &fl);
  assert_true(n > 0);
  feed(GH__FT_RESET, 0, id, p, (size_t)n);
}

/* The code of the only RESET of stream id in the last take(). */
static int32_t reset_code(uint32_t id) {
  assert_int_equal(count(GH__FT_RESET, id), 1);
  for (size_t i = 0; i < n_fr; i++) {
    if (fr[i].type != GH__FT_RESET || fr[i].stream != id)
      continue;
    gh__fail fl;
    assert_int_equal(gh__fail_decode(fr[i].payload, fr[i].len, &fl), 0);
    return fl.code;
  }
  return 1;
}

/* D1. While its OPEN waits for an answer, a listen-side datagram stream
 * holds what the application sends, up to GH__DGRAM_QUEUE bytes, each
 * datagram behind its u32 length. What does not fit is dropped and counted;
 * a smaller one that fits is still held. Nothing goes out before OPEN_OK;
 * an answer that finds the tunnel congested drops them all, keeps none. */
static void test_dgram_queue_bound(void **state) {
  gh__tunnel *t = W.t;
  fake *f;
  gh__stream *s = lis_open(W.dlis, &f);
  uint32_t id = s->mnode.key;
  uint8_t *buf = malloc(GH__DGRAM_MAX + 1);
  assert_non_null(buf);
  fill(buf, GH__DGRAM_MAX + 1, 20);
  up(s, buf, GH__DGRAM_MAX + 1); /* larger than any datagram: never held */
  assert_int_equal(s->dg_drop, 1);
  assert_int_equal(s->out.len, 0);
  uint32_t held[8] = {0, 1000, 60000};
  size_t n_held = 3, queued = 0;
  for (size_t i = 0; i < n_held; i++) {
    up(s, buf, held[i]);
    queued += 4 + held[i];
    assert_int_equal(s->out.len, queued);
  }
  assert_int_equal(s->dg_drop, 1);

  size_t room = GH__DGRAM_QUEUE - queued;
  up(s, buf, (uint32_t)room - 3); /* with its length, one byte too many */
  assert_int_equal(s->dg_drop, 2);
  assert_int_equal(s->out.len, queued);
  held[n_held++] = (uint32_t)room - 4; /* exactly what is left */
  up(s, buf, (uint32_t)room - 4);
  assert_int_equal(s->out.len, GH__DGRAM_QUEUE);
  up(s, buf, 0); /* even an empty one needs room for its length */
  assert_int_equal(s->dg_drop, 3);
  assert_int_equal(s->out.len, GH__DGRAM_QUEUE);
  assert_int_equal(W.dlis->st.dgrams_dropped, 3);
  assert_int_equal(s->dg_in, 0);
  assert_int_equal(take(), 0);
  assert_int_equal(f->reading, 1);

  /* The queue: each datagram behind its length, whole, in order. */
  const uint8_t *q = gh__buf_head(&s->out);
  size_t off = 0;
  for (size_t i = 0; i < n_held; i++) {
    assert_int_equal(gh__get_u32(q + off), held[i]);
    if (held[i])
      assert_memory_equal(q + off + 4, buf, held[i]);
    off += 4 + held[i];
  }
  assert_int_equal(off, GH__DGRAM_QUEUE);

  /* The answer comes while the tunnel is congested. */
  t->congested = 1;
  feed(GH__FT_OPEN_OK, 0, id, NULL, 0);
  assert_int_equal(t->state, GH__T_UP);
  assert_int_equal(s->state, GH__S_OPEN);
  assert_int_equal(take(), 0);
  assert_int_equal(s->out.len, 0);
  assert_int_equal(s->dg_drop, 3 + n_held);
  assert_int_equal(W.dlis->st.dgrams_dropped, 3 + n_held);
  assert_int_equal(s->dg_in, 0);

  t->congested = 0;
  up(s, buf + 7, 10);
  assert_int_equal(take(), 1);
  assert_int_equal(fr[0].type, GH__FT_DGRAM);
  assert_int_equal(fr[0].stream, id);
  assert_int_equal(fr[0].len, 10);
  assert_memory_equal(fr[0].payload, buf + 7, 10);
  assert_int_equal(s->dg_in, 1);
  assert_int_equal(W.dlis->st.dgrams_in, 1);
  free(buf);
}

/* D1b. At OPEN_OK the held datagrams leave in order, one DGRAM frame
 * each with exactly its bytes: none merged, none split (one is larger
 * than a DATA frame), an empty one as an empty frame. They take no credit.
 */
static void test_dgram_queue_order(void **state) {
  gh__tunnel *t = W.t;
  fake *f;
  gh__stream *s = lis_open(W.dlis, &f);
  uint32_t id = s->mnode.key;
  static const uint32_t len[] = {0, 1, 100, GH__FRAME_MAX + 1, 0, 7, 20000, 3};
  enum { N = GH__ARRAY_LEN(len) };
  uint8_t *dg[N];
  size_t total = 0;
  for (size_t i = 0; i < N; i++) {
    dg[i] = malloc(len[i] + 1);
    assert_non_null(dg[i]);
    fill(dg[i], len[i], 30 + (unsigned)i);
    up(s, dg[i], len[i]);
    total += len[i];
  }
  assert_int_equal(take(), 0);
  assert_int_equal(s->out.len, total + 4 * N);
  int64_t credit = s->credit, session = t->send_session;

  feed(GH__FT_OPEN_OK, 0, id, NULL, 0);
  assert_int_equal(s->state, GH__S_OPEN);
  assert_int_equal(s->out.len, 0);
  assert_int_equal(take(), N);
  for (size_t i = 0; i < N; i++) {
    assert_int_equal(fr[i].type, GH__FT_DGRAM);
    assert_int_equal(fr[i].stream, id);
    assert_int_equal(fr[i].flags, 0);
    assert_int_equal(fr[i].len, len[i]);
    if (len[i])
      assert_memory_equal(fr[i].payload, dg[i], len[i]);
  }
  assert_int_equal(s->dg_in, N);
  assert_int_equal(s->dg_drop, 0);
  assert_int_equal(W.dlis->st.dgrams_in, N);
  assert_int_equal(W.dlis->st.bytes_in, total);
  assert_int_equal(s->credit, credit);
  assert_int_equal(t->send_session, session);

  /* Open: each one leaves at once, on its own. */
  up(s, dg[3], len[3]);
  up(s, dg[0], 0);
  up(s, dg[5], len[5]);
  assert_int_equal(take(), 3);
  assert_int_equal(fr[0].len, len[3]);
  assert_memory_equal(fr[0].payload, dg[3], len[3]);
  assert_int_equal(fr[1].type, GH__FT_DGRAM);
  assert_int_equal(fr[1].len, 0);
  assert_int_equal(fr[2].len, len[5]);
  assert_memory_equal(fr[2].payload, dg[5], len[5]);
  for (size_t i = 0; i < N; i++)
    free(dg[i]);
}

/* D2. A congested tunnel drops what a datagram stream reads, and counts
 * it, rather than queue it; otherwise each datagram is framed at once.
 * Neither stream nor session credit is taken, nor needed. */
static void test_dgram_congested_drops(void **state) {
  gh__tunnel *t = W.t;
  fake *f;
  gh__stream *s = res_stream_on(W.dres, 2, &f);
  assert_int_equal(s->dgram, 1);
  uint8_t *buf = malloc(40000);
  assert_non_null(buf);
  fill(buf, 40000, 40);
  int64_t credit = s->credit, session = t->send_session;

  t->congested = 1;
  up(s, buf, 500);
  assert_int_equal(take(), 0);
  assert_int_equal(s->dg_drop, 1);
  assert_int_equal(W.dres->st.dgrams_dropped, 1);
  assert_int_equal(s->dg_in, 0);
  assert_int_equal(s->out.len, 0); /* not kept for later */
  assert_int_equal(f->reading, 1);

  t->congested = 0;
  up(s, buf + 1, 500);
  assert_int_equal(take(), 1);
  assert_int_equal(fr[0].type, GH__FT_DGRAM);
  assert_int_equal(fr[0].stream, 2);
  assert_int_equal(fr[0].len, 500);
  assert_memory_equal(fr[0].payload, buf + 1, 500);
  assert_int_equal(s->dg_in, 1);
  assert_int_equal(s->dg_drop, 1);
  assert_int_equal(W.dres->st.dgrams_in, 1);
  assert_int_equal(W.dres->st.bytes_in, 500);
  assert_int_equal(s->credit, credit);
  assert_int_equal(t->send_session, session);

  /* No credit left at all: a datagram goes all the same, whole. */
  s->credit = 0;
  t->send_session = 0;
  up(s, buf, 40000);
  assert_int_equal(take(), 1);
  assert_int_equal(fr[0].type, GH__FT_DGRAM);
  assert_int_equal(fr[0].len, 40000);
  assert_memory_equal(fr[0].payload, buf, 40000);
  assert_int_equal(s->credit, 0);
  assert_int_equal(t->send_session, 0);
  assert_int_equal(f->reading, 1);
  free(buf);
}

/* D3. DGRAM frames from the tunnel: one write() per datagram with exactly
 * its bytes, however large (up to GH__DGRAM_MAX). Datagrams are outside
 * flow control: no window shrinks, no WINDOW goes back, even once the
 * transport reports them written. */
static void test_dgram_down(void **state) {
  gh__tunnel *t = W.t;
  fake *f;
  gh__stream *s = res_stream_on(W.dres, 2, &f);
  static const uint32_t len[] = {1, 0, 40000, GH__DGRAM_MAX, 100};
  enum { N = GH__ARRAY_LEN(len) };
  size_t total = 0;
  for (size_t i = 0; i < N; i++)
    total += len[i];
  uint8_t *src = malloc(total);
  assert_non_null(src);
  fill(src, total, 50);
  size_t off = 0;
  for (size_t i = 0; i < N; i++) {
    feed(GH__FT_DGRAM, 0, 2, src + off, len[i]);
    assert_int_equal(t->state, GH__T_UP);
    off += len[i];
  }
  assert_int_equal(f->writes, N);
  for (size_t i = 0; i < N; i++)
    assert_int_equal(f->wlen[i], len[i]);
  assert_int_equal(f->got_len, total);
  assert_memory_equal(f->got, src, total);
  assert_int_equal(s->dg_out, N);
  assert_int_equal(s->dg_drop, 0);
  assert_int_equal(W.dres->st.dgrams_out, N);
  assert_int_equal(s->state, GH__S_OPEN);

  assert_int_equal(t->rx_session_avail, (int64_t)GH__SESSION_WINDOW);
  assert_int_equal(s->rx_avail, (int64_t)GH__WINDOW_INIT);
  assert_int_equal(s->rx_held, 0);
  gh__mux_credit_flush(t);
  assert_int_equal(take(), 0);
  written(s, (uint32_t)total);
  assert_int_equal(W.dres->st.bytes_out, total);
  gh__mux_credit_flush(t);
  assert_int_equal(take(), 0);
  assert_int_equal(t->session_owed, 0);

  /* Every window spent: datagrams still come, and still nothing back. */
  t->rx_session_avail = 0;
  s->rx_avail = 0;
  feed(GH__FT_DGRAM, 0, 2, src, GH__DGRAM_MAX);
  assert_int_equal(t->state, GH__T_UP);
  assert_int_equal(f->writes, N + 1);
  assert_int_equal(f->got_len, total + GH__DGRAM_MAX);
  assert_memory_equal(f->got + total, src, GH__DGRAM_MAX);
  assert_int_equal(t->rx_session_avail, 0);
  assert_int_equal(s->rx_avail, 0);
  gh__mux_credit_flush(t);
  assert_int_equal(take(), 0);
  free(src);
}

/* D4. A datagram the transport cannot send (a full socket buffer, an ICMP
 * error of an earlier one) is dropped and counted; the session goes on. */
static void test_dgram_write_fails(void **state) {
  gh__tunnel *t = W.t;
  fake *f;
  gh__stream *s = res_stream_on(W.dres, 2, &f);
  uint8_t buf[100];
  fill(buf, sizeof(buf), 60);
  static const int32_t errs[] = {GH_EAGAIN, GH_EHOSTUNREACH, GH_EMSGSIZE};
  for (size_t i = 0; i < GH__ARRAY_LEN(errs); i++) {
    f->fail = errs[i];
    feed(GH__FT_DGRAM, 0, 2, buf, sizeof(buf));
    assert_int_equal(t->state, GH__T_UP);
    assert_int_equal(s->state, GH__S_OPEN);
    assert_int_equal(f->refused, i + 1);
    assert_int_equal(s->dg_drop, i + 1);
    assert_int_equal(W.dres->st.dgrams_dropped, i + 1);
    assert_int_equal(s->dg_out, 0);
    assert_int_equal(take(), 0); /* no RESET */
  }
  settle();
  assert_int_equal(f->closes, 0);
  assert_int_equal(s->state, GH__S_OPEN);
  assert_int_equal(W.dres->st.failed, 0);

  f->fail = 0;
  feed(GH__FT_DGRAM, 0, 2, buf, sizeof(buf));
  assert_int_equal(f->writes, 1);
  assert_int_equal(f->got_len, sizeof(buf));
  assert_memory_equal(f->got, buf, sizeof(buf));
  assert_int_equal(s->dg_out, 1);
  assert_int_equal(f->reading, 1);
}

/* D5. DGRAM on a byte stream is a protocol error that closes the tunnel. */
static void test_dgram_on_byte_stream(void **state) {
  gh__tunnel *t = W.t;
  fake *f;
  gh__stream *s = res_stream(2, &f);
  assert_int_equal(s->dgram, 0);
  uint8_t buf[10];
  fill(buf, sizeof(buf), 70);
  feed(GH__FT_DGRAM, 0, 2, buf, sizeof(buf));
  assert_int_equal(t->state, GH__T_CLOSING);
  assert_int_equal(f->writes, 0);
  assert_int_equal(f->got_len, 0);
}

/* D5b. So is DGRAM on a datagram stream whose OPEN is not yet answered.
 * On a stream that is no more (or never was) it is ignored. */
/* Regressions: a peer may not send DATA on a datagram stream (its credit
 * would never come back), nor a DGRAM on stream 0. */
static void test_data_on_dgram_stream(void **state) {
  gh__tunnel *t = W.t;
  fake *f;
  gh__stream *s = res_stream_on(W.dres, 2, &f);
  assert_int_equal(s->dgram, 1);
  uint8_t buf[10];
  fill(buf, sizeof(buf), 72);
  feed(GH__FT_DATA, 0, 2, buf, sizeof(buf));
  assert_int_equal(t->state, GH__T_CLOSING);
  assert_int_equal(f->writes, 0);
}

static void test_dgram_on_stream_zero(void **state) {
  uint8_t buf[4] = {1, 2, 3, 4};
  feed(GH__FT_DGRAM, 0, 0, buf, sizeof(buf));
  assert_int_equal(W.t->state, GH__T_CLOSING);
}

static void test_dgram_on_unopened_stream(void **state) {
  gh__tunnel *t = W.t;
  fake *f;
  gh__stream *s = lis_open(W.dlis, &f);
  uint8_t buf[10];
  fill(buf, sizeof(buf), 71);
  feed(GH__FT_DGRAM, 0, s->mnode.key + 2, buf, sizeof(buf));
  assert_int_equal(t->state, GH__T_UP);
  assert_int_equal(s->state, GH__S_OPENING);
  feed(GH__FT_DGRAM, 0, s->mnode.key, buf, sizeof(buf));
  assert_int_equal(t->state, GH__T_CLOSING);
  assert_int_equal(f->writes, 0);
}

/* D6. A RESET with code 0 is the peer's orderly end: our transport is
 * closed with reason 0 (it writes what it holds). A negative code reaches
 * it as is; anything else is a reset. No RESET goes back. */
static void test_dgram_reset_by_peer(void **state) {
  gh__tunnel *t = W.t;
  static const struct {
    uint32_t id;
    int dgram;
    int32_t code, reason;
  } c[] = {{2, 1, 0, 0},
           {4, 1, GH_ECONNREFUSED, GH_ECONNREFUSED},
           {6, 1, 5, GH_ECONNRESET},
           {8, 0, 0, 0}}; /* a byte stream: the same rule */
  enum { N = GH__ARRAY_LEN(c) };
  fake *f[N];
  for (size_t i = 0; i < N; i++)
    res_stream_on(c[i].dgram ? W.dres : W.res, c[i].id, &f[i]);
  for (size_t i = 0; i < N; i++) {
    feed_reset(c[i].id, c[i].code);
    assert_int_equal(t->state, GH__T_UP);
    assert_int_equal(f[i]->closes, 0); /* closed by the reaper */
  }
  assert_int_equal(take(), 0);
  assert_int_equal(W.dres->st.failed, 2);
  assert_int_equal(W.res->st.failed, 0);
  settle();
  for (size_t i = 0; i < N; i++) {
    assert_int_equal(f[i]->closes, 1);
    assert_int_equal(f[i]->reason, c[i].reason);
  }
}

/* D7. A stopping process ends the datagram streams of a tunnel at once, in
 * order (RESET with code 0), opening or open, listen or resource side;
 * its byte streams go on. */
static void test_end_dgrams(void **state) {
  gh__tunnel *t = W.t;
  enum { N = 6 };
  fake *f[N];
  gh__stream *s[N];
  s[0] = res_stream(2, &f[0]);
  s[1] = res_stream_on(W.dres, 4, &f[1]);
  s[2] = lis_stream(&f[2]);
  s[3] = lis_stream_on(W.dlis, &f[3]);
  s[4] = res_stream_on(W.dres, 6, &f[4]);
  s[5] = lis_open(W.dlis, &f[5]); /* OPEN not yet answered */
  uint32_t id[N];
  int dgram[N];
  for (size_t i = 0; i < N; i++) {
    id[i] = s[i]->mnode.key;
    dgram[i] = s[i]->dgram;
  }
  assert_int_equal(take(), 0);

  gh__mux_end_dgrams(t);
  assert_int_equal(t->state, GH__T_UP);
  assert_int_equal(take(), 4);
  for (size_t i = 0; i < N; i++) {
    if (dgram[i]) {
      assert_int_equal(reset_code(id[i]), 0);
      assert_int_equal(s[i]->state, GH__S_CLOSING);
      assert_int_equal(s[i]->reason, 0);
    } else {
      assert_int_equal(count(GH__FT_RESET, id[i]), 0);
      assert_int_equal(s[i]->state, GH__S_OPEN);
      assert_int_equal(f[i]->reading, 1);
    }
  }
  settle();
  for (size_t i = 0; i < N; i++) {
    assert_int_equal(f[i]->closes, dgram[i] ? 1 : 0);
    if (dgram[i])
      assert_int_equal(f[i]->reason, 0);
  }

  /* The byte streams still carry bytes. */
  uint8_t buf[100];
  fill(buf, sizeof(buf), 80);
  up(s[0], buf, sizeof(buf));
  up(s[2], buf, sizeof(buf));
  take();
  assert_int_equal(data_sum(id[0], NULL, NULL), sizeof(buf));
  assert_int_equal(data_sum(id[2], NULL, NULL), sizeof(buf));
}

/* D8. A datagram stream is read at all times while it lives: before the
 * answer, however much it holds, and once open whatever its buffer and
 * credit say (a byte stream in that state is not read). */
static void test_dgram_always_read(void **state) {
  gh__tunnel *t = W.t;
  fake *f;
  gh__stream *s = lis_open(W.dlis, &f);
  uint8_t *buf = malloc(GH__OUT_MAX + 1);
  assert_non_null(buf);
  fill(buf, GH__OUT_MAX + 1, 90);
  up(s, buf, 50000); /* and up to the queue's bound, past GH__OUT_MAX */
  up(s, buf, GH__DGRAM_QUEUE - 50004 - 4);
  assert_int_equal(s->out.len, GH__DGRAM_QUEUE);
  assert_true(s->out.len > GH__OUT_MAX);
  s->credit = 0;
  gh__stream_update_read(s);
  assert_int_equal(f->reading, 1);

  t->congested = 1; /* what it held is dropped: nothing to stage */
  feed(GH__FT_OPEN_OK, 0, s->mnode.key, NULL, 0);
  assert_int_equal(s->state, GH__S_OPEN);
  assert_int_equal(f->reading, 1);
  t->congested = 0;

  assert_int_equal(gh__buf_append(&s->out, buf, GH__OUT_MAX + 1), 0);
  t->send_session = 0;
  gh__stream_update_read(s);
  assert_int_equal(f->reading, 1);
  assert_int_equal(f->read_stops, 0);

  fake *fb;
  gh__stream *b = res_stream(2, &fb);
  assert_int_equal(gh__buf_append(&b->out, buf, GH__OUT_MAX + 1), 0);
  b->credit = 0;
  gh__stream_update_read(b);
  assert_int_equal(fb->reading, 0);
  free(buf);
}

/* D9. The tunnel fails while the datagrams held for OPEN_OK go out (the
 * stage reaches GH__STAGE_FLUSH; here the SSL_write of a tunnel without a
 * handshake fails, in production a uv_try_write error): the stream is torn
 * down in the middle of dgram_flush(), which must then stop and keep
 * nothing. */
static void test_dgram_flush_tunnel_fails(void **state) {
  gh__tunnel *t = W.t;
  fake *f;
  gh__stream *s = lis_open(W.dlis, &f);
  uint8_t *buf = malloc(13000);
  assert_non_null(buf);
  fill(buf, 13000, 91);
  for (int i = 0; i < 5; i++) /* 40,020 bytes held: within the bound */
    up(s, buf, 8000);
  assert_int_equal(take(), 0);
  /* frames already staged: the fourth datagram takes the stage past
   * GH__STAGE_FLUSH, with one more still held */
  for (int i = 0; i < 3; i++)
    assert_int_equal(gh__tunnel_send(t, GH__FT_PING, 0, 0, buf, 13000), 0);
  feed(GH__FT_OPEN_OK, 0, s->mnode.key, NULL, 0);
  assert_int_equal(t->state, GH__T_CLOSING);
  assert_int_equal(s->state, GH__S_CLOSING);
  assert_int_equal(s->out.len, 0);
  assert_null(s->out.data);
  free(buf);
}

/* ---- regressions: each reproduces a bug this test found in the core. ---- */

/* The tunnel fails while the pump sends a half-closed stream's backlog:
 * the stream is torn down inside send_data(), then gh__mux_pump() calls
 * send_fin() on it with s->t == NULL. (Here the failure is the SSL_write of
 * a tunnel without a handshake; in production a uv_try_write error.) */
static void test_bug_pump_fin_after_tunnel_failure(void **state) {
  gh__tunnel *t = W.t;
  gh__stream *s = res_stream(2, NULL);
  uint8_t *buf = malloc(100000);
  assert_non_null(buf);
  fill(buf, 100000, 12);
  t->send_session = 0;
  up(s, buf, 100000);
  gh__mux_send_eof(s);
  assert_int_equal(s->src_eof, 1);
  feed_window(0, 200000); /* the 4th frame reaches GH__STAGE_FLUSH */
  assert_int_equal(t->state, GH__T_CLOSING);
  assert_int_equal(s->state, GH__S_CLOSING);
  free(buf);
}

/* The tunnel fails inside gh__mux_send()'s send_data(): the stream is torn
 * down (s->out freed), then the unsent rest is appended to s->out of the
 * dead stream and never freed. */
static void test_bug_up_buffers_after_tunnel_failure(void **state) {
  gh__tunnel *t = W.t;
  gh__stream *s = res_stream(2, NULL);
  uint8_t *buf = malloc(80000);
  assert_non_null(buf);
  fill(buf, 80000, 13);
  assert_int_equal(gh__host.send_up(&s->links[0], buf, 80000), GH_ECANCELED);
  assert_int_equal(t->state, GH__T_CLOSING);
  assert_int_equal(s->state, GH__S_CLOSING);
  assert_int_equal(s->out.len, 0);
  assert_null(s->out.data);
  free(buf);
}

/* The SDK lets a transport call closed() from inside close() ("possibly
 * later"): gh__reap_run() then calls stream_try_free() on the stream that
 * closed() already freed. */
/* A flush forced by a full stage (here an explicit flush of an empty
 * stage) took the tunnel off the dirty list while WINDOW frames were still
 * owed: they waited for the next keepalive ping, and a two-way stream
 * stalled for seconds. The tunnel must stay dirty until they are out. */
static void test_bug_flush_keeps_owed_credit(void **state) {
  gh__tunnel *t = W.t;
  fake *f;
  gh__stream *s = res_stream(2, &f);
  static uint8_t buf[GH__CREDIT_BATCH];
  fill(buf, sizeof(buf), 7);
  feed_data(2, buf, sizeof(buf));
  written(s, sizeof(buf));
  assert_false(gh__list_empty(&t->credq));
  assert_true(gh__list_linked(&t->dirty_node));
  gh__tunnel_flush(t);
  assert_int_equal(t->state, GH__T_UP);
  assert_true(gh__list_linked(&t->dirty_node));
  gh__mux_credit_flush(t);
  assert_int_equal(take(), 2);
  assert_int_equal(window_sum(2), sizeof(buf));
  assert_int_equal(window_sum(0), sizeof(buf));
}

/* Small credit (the socket took everything, less than a batch) does not
 * make the tunnel send a WINDOW of its own: it rides with the next frame
 * the tunnel sends, or goes by itself after GH__CREDIT_LAZY_MS. */
static void test_small_credit_rides_or_waits(void **state) {
  gh__tunnel *t = W.t;
  fake *f;
  gh__stream *s = res_stream(2, &f);
  uint8_t buf[1000];
  fill(buf, sizeof(buf), 9);
  feed_data(2, buf, sizeof(buf));
  written(s, sizeof(buf));
  assert_false(gh__list_empty(&t->credq));
  assert_false(gh__list_linked(&t->dirty_node)); /* no flush for it alone */
  assert_true(gh__list_linked(&t->lazy_node));
  /* a frame sent anyway (here a ping) takes the credit along */
  uint8_t ping[8] = {0};
  assert_int_equal(gh__tunnel_send(t, GH__FT_PING, 0, 0, ping, sizeof(ping)),
                   0);
  gh__mux_credit_flush(t);
  assert_int_equal(take(), 3);
  assert_int_equal(count(GH__FT_PING, 0), 1);
  assert_int_equal(window_sum(2), sizeof(buf));
  assert_int_equal(window_sum(0), sizeof(buf));

  settle(); /* the end of the turn: nothing left to flush */
  assert_false(gh__list_linked(&t->dirty_node));

  /* alone, it goes when the timer fires */
  feed_data(2, buf, sizeof(buf));
  written(s, sizeof(buf));
  assert_false(gh__list_linked(&t->dirty_node));
  assert_true(gh__list_linked(&t->lazy_node));
  assert_true(gh__g.lazy_armed);
  assert_true(uv_is_active((uv_handle_t *)&gh__g.lazy_timer));
  assert_true(uv_timer_get_due_in(&gh__g.lazy_timer) <= GH__CREDIT_LAZY_MS);
  uv_timer_stop(&gh__g.lazy_timer); /* what the timer does, now: */
  gh__g.lazy_armed = 0;
  gh__mux_lazy_flush();
  assert_false(gh__list_linked(&t->lazy_node));
  assert_true(gh__list_linked(&t->dirty_node));
  gh__mux_credit_flush(t);
  assert_int_equal(take(), 2);
  assert_int_equal(window_sum(2), sizeof(buf));
  assert_int_equal(window_sum(0), sizeof(buf));
}

static void test_bug_sync_closed_in_reap(void **state) {
  fake *f;
  gh__stream *s = res_stream(2, &f);
  sync_close = 1;
  gh__stream_abort(s, GH_ECONNABORTED, 0);
  settle(); /* the reaper: close() -> closed() frees s -> freed again */
  assert_int_equal(f->closes, 1);
  assert_int_equal(W.res->refs, 1);
}

/* ---------------------------------------------------------- the open queue */

/* The peer (a client) opens resource streams of "res" on this server:
 * connecting_max of them connect at once, open_queue_max more wait. */
static gh__drt *queue_dests[1];

static void queue_world(uint32_t connecting_max, uint32_t open_queue_max) {
  W.rt.role = GH__ROLE_SERVER; /* no ACL on this side; the peer opens odd */
  W.t->next_id = 2;            /* as a server's tunnel: ours are even */
  W.rt.connecting_max = connecting_max;
  W.rt.open_queue_max = open_queue_max;
  queue_dests[0] = W.res;
  W.gw.dests = queue_dests;
  W.gw.n_dests = 1;
}

static void peer_open(uint32_t id) {
  uint8_t buf[256];
  gh__open o = {{"res", 3}, {GH_AF_INET, 40000, 0, {127, 0, 0, 1}}};
  int n = gh__open_encode(buf, sizeof(buf), &o);
  assert_true(n > 0);
  feed(GH__FT_OPEN, 0, id, buf, (size_t)n);
  assert_int_equal(W.t->state, GH__T_UP);
}

static gh__stream *stream_of(uint32_t id) {
  gh__map_node *n = gh__map_get(&W.t->streams, id);
  assert_non_null(n);
  return GH__CONTAINER_OF(n, gh__stream, mnode);
}

/* The fake whose connect() came for stream id, or NULL. */
static fake *connecting(uint32_t id) {
  for (size_t k = 0; k < W.n_fakes; k++)
    if (W.fakes[k].link && W.fakes[k].link->s->in_map &&
        W.fakes[k].link->s->mnode.key == id)
      return &W.fakes[k];
  return NULL;
}

static int32_t fail_code(size_t i) {
  gh__fail fl;
  assert_int_equal(gh__fail_decode(fr[i].payload, fr[i].len, &fl), 0);
  return fl.code;
}

/* A burst beyond connecting_max waits in order and starts as connects
 * finish, either way; past the queue, opens are refused. */
static void test_open_queue_fifo(void **state) {
  queue_world(2, 2);
  for (uint32_t id = 1; id <= 7; id += 2)
    peer_open(id);
  assert_non_null(connecting(1));
  assert_non_null(connecting(3));
  assert_null(connecting(5)); /* queued: no socket, no resolver */
  assert_null(connecting(7));
  assert_int_equal(W.t->peer_opening, 2);
  assert_int_equal(W.t->peer_queued, 2);
  assert_int_equal(W.rt.opens_waiting, 2);
  assert_int_equal(W.rt.opens_queued_total, 2);
  assert_int_equal(take(), 0); /* nobody refused */

  peer_open(9); /* the queue is full */
  assert_int_equal(take(), 1);
  assert_int_equal(fr[0].type, GH__FT_OPEN_FAIL);
  assert_int_equal(fr[0].stream, 9);
  assert_int_equal(fail_code(0), GH_ELIMIT);
  assert_int_equal(W.rt.open_queue_full, 1);
  assert_int_equal(W.t->peer_queued, 2);

  /* 1 connects: the oldest waiting (5) starts, at the end of the turn. */
  gh__stream_link_ready(connecting(1)->link, 0);
  assert_int_equal(take(), 1);
  assert_int_equal(fr[0].type, GH__FT_OPEN_OK);
  assert_int_equal(fr[0].stream, 1);
  assert_null(connecting(5));
  settle();
  assert_non_null(connecting(5));
  assert_null(connecting(7));
  assert_int_equal(W.t->peer_opening, 2);
  assert_int_equal(W.t->peer_queued, 1);

  /* 3 fails to connect: its place goes to 7. */
  gh__stream_link_ready(connecting(3)->link, GH_ECONNREFUSED);
  assert_int_equal(take(), 1);
  assert_int_equal(fr[0].type, GH__FT_OPEN_FAIL);
  assert_int_equal(fr[0].stream, 3);
  settle();
  assert_non_null(connecting(7));
  assert_int_equal(W.t->peer_queued, 0);
  assert_int_equal(W.rt.opens_waiting, 0);
  assert_int_equal(W.rt.opens_queued_total, 2);
  assert_int_equal(W.rt.open_queue_timeouts, 0);
}

/* A queued open whose connect_timeout passes while it waits fails with
 * ETIMEDOUT (counted); the peer's RESET takes one out of the queue. */
static void test_open_queue_timeout_and_reset(void **state) {
  queue_world(1, 8);
  for (uint32_t id = 1; id <= 7; id += 2)
    peer_open(id);
  assert_int_equal(W.t->peer_queued, 3);
  /* Stream 3's open timer, started when its OPEN came, fires. */
  uv_timer_t *tm = stream_of(3)->open_timer;
  assert_non_null(tm);
  tm->timer_cb(tm);
  assert_int_equal(take(), 1);
  assert_int_equal(fr[0].type, GH__FT_OPEN_FAIL);
  assert_int_equal(fr[0].stream, 3);
  assert_int_equal(fail_code(0), GH_ETIMEDOUT);
  assert_int_equal(W.rt.open_queue_timeouts, 1);
  assert_int_equal(W.t->peer_queued, 2);
  assert_int_equal(W.t->peer_streams, 3);

  /* The application of 5 went away before its turn. */
  uint8_t buf[64];
  gh__fail fl = {GH_ECONNRESET, {"", 0}};
  int n = gh__fail_encode(buf, sizeof(buf), &fl);
  feed(GH__FT_RESET, 0, 5, buf, (size_t)n);
  assert_int_equal(W.t->peer_queued, 1);
  assert_int_equal(take(), 0);
  settle();

  gh__stream_link_ready(connecting(1)->link, 0);
  assert_int_equal(take(), 1);
  settle();
  assert_null(connecting(3));
  assert_null(connecting(5));
  assert_non_null(connecting(7));
  assert_int_equal(W.t->peer_queued, 0);
  assert_int_equal(W.rt.opens_waiting, 0);
}

/* open_queue_max = 0: past connecting_max an open is refused at once, as
 * before the queue existed. */
static void test_open_queue_off(void **state) {
  queue_world(1, 0);
  peer_open(1);
  peer_open(3);
  assert_int_equal(take(), 1);
  assert_int_equal(fr[0].type, GH__FT_OPEN_FAIL);
  assert_int_equal(fr[0].stream, 3);
  assert_int_equal(fail_code(0), GH_ELIMIT);
  assert_int_equal(W.rt.opens_queued_total, 0);
  assert_int_equal(W.rt.open_queue_full, 1);
}

/* The tunnel goes down with opens queued: each is torn down and freed
 * (teardown checks the references) and the gauge returns to 0. */
static void test_open_queue_tunnel_down(void **state) {
  queue_world(1, 8);
  for (uint32_t id = 1; id <= 5; id += 2)
    peer_open(id);
  assert_int_equal(W.rt.opens_waiting, 2);
  W.t->stage_len = 0;
  gh__tunnel_close(W.t, "test: tunnel down");
  ERR_clear_error();
  W.t = NULL;
  assert_int_equal(W.rt.opens_waiting, 0);
  settle();
}

/* ------------------------------------- the tunnel's read-ahead budget */

/* What all streams of t hold in out, walked: t->out_held must say the
 * same (a consistency check, not an assertion inside the core). */
static uint64_t out_sum(const gh__tunnel *t) {
  uint64_t sum = 0;
  for (size_t i = 0; i < t->streams.n_buckets; i++)
    for (gh__map_node *m = t->streams.buckets ? t->streams.buckets[i] : NULL;
         m; m = m->next)
      sum += GH__CONTAINER_OF(m, gh__stream, mnode)->out.len;
  return sum;
}

static size_t heldq_len(const gh__tunnel *t) {
  size_t n = 0;
  for (const gh__list *l = t->out_heldq.next; l != &t->out_heldq; l = l->next)
    n++;
  return n;
}

/* Enough streams that GH__OUT_MAX - 1 bytes each (each still reading by
 * its own bound) pass the tunnel's budget, and one more that holds none. */
#define RA_EACH (GH__OUT_MAX - 1u)
#define RA_FULL ((GH__TUNNEL_OUT_MAX + RA_EACH - 1u) / RA_EACH) /* 257 */
#define RA_N (RA_FULL + 1u)

/* RA_N resource-side streams with stream credit but no session credit:
 * each read waits in out. Returns with the first RA_FULL filled. */
static void ra_fill(gh__stream **s, fake **f, uint8_t *buf) {
  gh__tunnel *t = W.t;
  for (uint32_t i = 0; i < RA_N; i++)
    s[i] = res_stream(2 + 2 * i, &f[i]);
  t->send_session = 0; /* the peer returns no credit */
  for (uint32_t i = 0; i < RA_FULL; i++) {
    for (uint32_t k = 0; k < RA_N; k++) /* below the budget: all read */
      assert_int_equal(f[k]->reading, 1);
    assert_int_equal(t->out_full, 0);
    up(s[i], buf, RA_EACH);
    assert_int_equal(t->out_held, out_sum(t));
  }
  assert_int_equal(take(), 0);
}

/* B1. Many streams whose peer returns no credit: each holds less than its
 * own GH__OUT_MAX, but all of them together reach GH__TUNNEL_OUT_MAX, and
 * then every stream of the tunnel stops reading at once, the one that
 * holds nothing too; none reads again while the tunnel stays at the budget
 * (a WINDOW of a stream gives no session credit). */
static void test_tunnel_budget_stops_reading(void **state) {
  gh__tunnel *t = W.t;
  static gh__stream *s[RA_N];
  fake *fp[RA_N];
  uint8_t *buf = malloc(RA_EACH);
  assert_non_null(buf);
  fill(buf, RA_EACH, 100);
  ra_fill(s, fp, buf);
  assert_int_equal(t->out_full, 1);
  assert_int_equal(t->out_held, (uint64_t)RA_FULL * RA_EACH);
  assert_true(t->out_held >= GH__TUNNEL_OUT_MAX);
  assert_true(t->out_held < GH__TUNNEL_OUT_MAX + RA_EACH);
  for (uint32_t i = 0; i < RA_N; i++) {
    assert_int_equal(fp[i]->reading, 0);
    assert_int_equal(fp[i]->read_stops, 1);
    assert_true(s[i]->out.len < GH__OUT_MAX); /* not its own bound */
    assert_true((int64_t)s[i]->out.len < s[i]->credit);
  }
  assert_int_equal(heldq_len(t), RA_N);
  /* Stream credit is not room: still at the budget, nobody reads. */
  feed_window(s[RA_N - 1]->mnode.key, 1000);
  gh__stream_update_read(s[0]);
  assert_int_equal(take(), 0);
  for (uint32_t i = 0; i < RA_N; i++)
    assert_int_equal(fp[i]->reading, 0);
  assert_int_equal(t->out_held, out_sum(t));
  free(buf);
}

/* B2. Session credit comes back in steps: bytes leave the out buffers,
 * and the streams stay stopped while the tunnel holds GH__TUNNEL_OUT_LOW
 * or more; once below it, every stream held back reads again, once. */
static void test_tunnel_budget_resumes_below_low(void **state) {
  gh__tunnel *t = W.t;
  static gh__stream *s[RA_N];
  fake *f[RA_N];
  uint8_t *buf = malloc(RA_EACH);
  assert_non_null(buf);
  fill(buf, RA_EACH, 101);
  ra_fill(s, f, buf);
  assert_int_equal(t->out_full, 1);
  uint64_t sent = 0;
  int steps = 0;
  while (t->out_full) {
    assert_true(t->out_held >= GH__TUNNEL_OUT_LOW);
    for (uint32_t i = 0; i < RA_N; i++)
      assert_int_equal(f[i]->reading, 0);
    feed_window(0, 30000);
    take();
    for (size_t k = 0; k < n_fr; k++)
      if (fr[k].type == GH__FT_DATA)
        sent += fr[k].len;
    assert_int_equal(t->out_held, out_sum(t));
    assert_int_equal(t->out_held, (uint64_t)RA_FULL * RA_EACH - sent);
    assert_true(++steps < 1000);
  }
  assert_true(t->out_held < GH__TUNNEL_OUT_LOW);
  assert_true(t->out_held + 30000 >= GH__TUNNEL_OUT_LOW);
  assert_int_equal(heldq_len(t), 0);
  for (uint32_t i = 0; i < RA_N; i++) {
    assert_int_equal(f[i]->reading, 1);
    assert_int_equal(f[i]->read_starts, 2); /* at the start, and once now */
    assert_int_equal(f[i]->read_stops, 1);
  }
  /* Reading on: a stream's own bound still holds (GH__OUT_MAX). */
  up(s[RA_N - 1], buf, RA_EACH);
  assert_int_equal(f[RA_N - 1]->reading, 1);
  up(s[RA_N - 1], buf, 1);
  assert_int_equal(f[RA_N - 1]->reading, 0);
  assert_int_equal(t->out_held, out_sum(t));
  free(buf);
}

/* B3. The count follows every end of a stream: a RESET from the peer, our
 * own abort, the end of both directions after its bytes went out, and the
 * tunnel going down with streams still waiting; a listen-side stream
 * whose OPEN was not answered takes its bytes to the next tunnel. */
static void test_tunnel_budget_count_returns_to_zero(void **state) {
  gh__tunnel *t = W.t;
  static gh__stream *s[RA_N];
  fake *f[RA_N];
  uint8_t *buf = malloc(RA_EACH);
  assert_non_null(buf);
  fill(buf, RA_EACH, 102);
  ra_fill(s, f, buf);
  assert_int_equal(t->out_full, 1);

  /* Peer RESETs: the count drops by what each held; below low water the
   * others read again. */
  for (uint32_t i = 0; i < 80; i++) {
    feed_reset(s[i]->mnode.key, GH_ECONNRESET);
    assert_int_equal(t->out_held, out_sum(t));
  }
  assert_int_equal(t->out_full, 0);
  assert_int_equal(f[RA_N - 1]->reading, 1);
  assert_int_equal(take(), 0);
  /* Our own aborts. */
  for (uint32_t i = 80; i < 100; i++) {
    gh__stream_abort(s[i], GH_ECONNRESET, 0);
    assert_int_equal(t->out_held, out_sum(t));
  }
  /* An orderly end: credit, FIN both ways. */
  gh__stream *e = s[100];
  uint32_t eid = e->mnode.key;
  t->send_session = GH__SESSION_WINDOW;
  up(e, buf, 1); /* ...while others wait: joins the queue */
  gh__host.eof_up(&e->links[0]);
  int guard = 0;
  while (e->out.len > 0 || !e->fin_sent) {
    t->send_session = 30000; /* what one take() holds */
    gh__mux_pump(t);
    take();
    assert_int_equal(t->out_held, out_sum(t));
    assert_true(++guard < 2000);
  }
  feed(GH__FT_DATA, GH__FF_FIN, eid, NULL, 0);
  assert_int_equal(e->state, GH__S_CLOSING);
  assert_int_equal(t->out_held, out_sum(t));
  settle();
  assert_int_equal(t->out_held, out_sum(t));

  /* A listen-side stream whose OPEN is unanswered holds bytes, and a
   * second tunnel is up: when the first goes down, the stream moves and
   * its bytes count there. */
  gh__tunnel *t2 = gh__tunnel_new(&W.rt, ctx);
  assert_non_null(t2);
  t2->state = GH__T_UP;
  t2->gw = &W.gw;
  t2->next_id = 1;
  fake *fl;
  gh__stream *l = lis_open(W.lis, &fl);
  assert_ptr_equal(l->t, t);
  gh__mux_send(l, buf, 5000); /* the transport's last read, say */
  assert_int_equal(l->out.len, 5000);
  assert_int_equal(t->out_held, out_sum(t));
  gh__gw_add_live(&W.gw, t2);
  assert_true(t->out_held > 5000);

  t->stage_len = 0;
  gh__tunnel_close(t, "test: tunnel down");
  ERR_clear_error();
  W.t = NULL;
  assert_int_equal(t->out_held, 0);
  assert_int_equal(heldq_len(t), 0);
  assert_ptr_equal(l->t, t2);
  assert_int_equal(l->state, GH__S_OPENING);
  assert_int_equal(t2->out_held, 5000);
  assert_int_equal(t2->out_held, out_sum(t2));

  /* ...and when that one goes down with no tunnel left, it ends. */
  t2->stage_len = 0;
  gh__tunnel_close(t2, "test: second tunnel down");
  ERR_clear_error();
  assert_int_equal(t2->out_held, 0);
  assert_int_equal(l->state, GH__S_CLOSING);
  settle();
  free(buf);
}

/* B4. Datagrams waiting for OPEN_OK count in the same budget: sessions
 * each below GH__DGRAM_QUEUE, but together past GH__TUNNEL_OUT_MAX, drop
 * what does not fit (counted) and keep reading; their OPEN_OK sends what
 * they held, and the count goes back to 0. */
static void test_tunnel_budget_dgram_queue(void **state) {
  gh__tunnel *t = W.t;
  enum { DG = 60000, PER = 1 }; /* a session holds one (GH__DGRAM_QUEUE) */
  uint32_t n = GH__TUNNEL_OUT_MAX / (PER * (DG + 4)) + 2;
  static gh__stream *s[300];
  static fake *f[300];
  assert_true(n <= 300);
  uint8_t *buf = malloc(DG);
  assert_non_null(buf);
  fill(buf, DG, 103);
  for (uint32_t i = 0; i < n; i++) {
    s[i] = lis_open(W.dlis, &f[i]);
    for (int k = 0; k < PER; k++)
      up(s[i], buf, DG);
    assert_int_equal(f[i]->reading, 1); /* datagrams are never held back */
    assert_true(t->out_held <= GH__TUNNEL_OUT_MAX);
    assert_int_equal(t->out_held, out_sum(t));
  }
  assert_true(W.dlis->st.dgrams_dropped >= PER);
  assert_true(t->out_held > GH__TUNNEL_OUT_MAX - (DG + 4));
  for (uint32_t i = 0; i < n; i++) {
    t->congested = 1; /* dropped as they go: nothing to stage */
    feed(GH__FT_OPEN_OK, 0, s[i]->mnode.key, NULL, 0);
    t->congested = 0;
    assert_int_equal(s[i]->out.len, 0);
    assert_int_equal(t->out_held, out_sum(t));
  }
  assert_int_equal(t->out_held, 0);
  free(buf);
}

/* ------------------------------------------- connect: address or text */

/* What the last connect of either form was given. */
static struct {
  int addr_calls, text_calls;
  gh_addr addr;
  char text[64];
  uint16_t port;
} conn;

static int32_t fake_connect_text(gh_link *l, const char *host, uint16_t port,
                                 uint32_t timeout_ms) {
  conn.text_calls++;
  snprintf(conn.text, sizeof(conn.text), "%s", host);
  conn.port = port;
  return fake_connect(l, host, port, timeout_ms);
}

static int32_t fake_connect_addr(gh_link *l, const gh_addr *a,
                                 uint32_t timeout_ms) {
  conn.addr_calls++;
  conn.addr = *a;
  return fake_connect(l, NULL, a->port, timeout_ms);
}

#define FAKE_TRANSPORT_BODY                                                    \
  .kind = GH_KIND_TRANSPORT, .name = "fake-addr",                              \
  .connect = fake_connect_text, .connect_addr = fake_connect_addr,             \
  .write = fake_write, .shutdown = fake_shutdown,                              \
  .read_start = fake_read_start, .read_stop = fake_read_stop,                  \
  .close = fake_close

/* An ABI 1.2 transport, and the same as an ABI 1.1 plugin built it: its
 * descriptor ends before connect_addr, which the core must not read. */
static const gh_handler fake_transport_1_2 = {.size = sizeof(gh_handler),
                                              FAKE_TRANSPORT_BODY};
static const gh_handler fake_transport_1_1 = {.size = GH_HANDLER_SIZE_1_1,
                                              FAKE_TRANSPORT_BODY};

/* The peer opens destination "res" on this server, whose resource is host
 * and whose transport is h. */
static void open_with(const gh_handler *h, const char *host) {
  gh__dest *c = dest_new("res", h);
  free(c->resource_host);
  c->resource_host = gh__strdup(host);
  gh__drt *d;
  char err[256];
  assert_int_equal(gh__drt_new(&W.gw, c, GH_SIDE_RESOURCE, &d, err,
                               sizeof(err)),
                   0);
  memset(&conn, 0, sizeof(conn));
  queue_world(4, 4);
  queue_dests[0] = d;
  peer_open(1);
  assert_non_null(connecting(1));
  gh__drt_unref(d); /* the stream's reference keeps it until teardown */
}

static void test_connect_addr_gets_the_address(void **state) {
  (void)state;
  open_with(&fake_transport_1_2, "::1");
  assert_int_equal(conn.addr_calls, 1);
  assert_int_equal(conn.text_calls, 0);
  assert_int_equal(conn.addr.family, GH_AF_INET6);
  assert_int_equal(conn.addr.port, 9);
  static const uint8_t loop6[16] = {[15] = 1};
  assert_memory_equal(conn.addr.addr, loop6, 16);
}

static void test_connect_text_for_older_plugins(void **state) {
  (void)state;
  open_with(&fake_transport_1_1, "::1");
  assert_int_equal(conn.addr_calls, 0);
  assert_int_equal(conn.text_calls, 1);
  assert_string_equal(conn.text, "::1"); /* bare, without brackets */
  assert_int_equal(conn.port, 9);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_open_queue_fifo, setup, teardown),
      cmocka_unit_test_setup_teardown(test_data_runs, setup, teardown),
      cmocka_unit_test_setup_teardown(test_open_queue_timeout_and_reset, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_open_queue_off, setup, teardown),
      cmocka_unit_test_setup_teardown(test_open_queue_tunnel_down, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_credit_after_written, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_stream_window_exceeded, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_stream_window_slides, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_session_window_exceeded, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_send_credit, setup, teardown),
      cmocka_unit_test_setup_teardown(test_session_budget, setup, teardown),
      cmocka_unit_test_setup_teardown(test_round_robin, setup, teardown),
      cmocka_unit_test_setup_teardown(test_fin, setup, teardown),
      cmocka_unit_test_setup_teardown(test_reset_returns_session_credit, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_window_grows_when_reader_keeps_up,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(test_window_stays_for_slow_socket, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_window_growth_needs_speed, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_window_growth_capped, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_bug_pump_fin_after_tunnel_failure,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(test_bug_up_buffers_after_tunnel_failure,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(test_bug_sync_closed_in_reap, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_small_credit_rides_or_waits, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_bug_flush_keeps_owed_credit, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_dgram_queue_bound, setup, teardown),
      cmocka_unit_test_setup_teardown(test_dgram_queue_order, setup, teardown),
      cmocka_unit_test_setup_teardown(test_dgram_congested_drops, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_dgram_down, setup, teardown),
      cmocka_unit_test_setup_teardown(test_dgram_write_fails, setup, teardown),
      cmocka_unit_test_setup_teardown(test_dgram_on_byte_stream, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_data_on_dgram_stream, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_dgram_on_stream_zero, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_dgram_on_unopened_stream, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_dgram_reset_by_peer, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_end_dgrams, setup, teardown),
      cmocka_unit_test_setup_teardown(test_dgram_always_read, setup, teardown),
      cmocka_unit_test_setup_teardown(test_dgram_flush_tunnel_fails, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_tunnel_budget_stops_reading, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_tunnel_budget_resumes_below_low,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(test_tunnel_budget_count_returns_to_zero,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(test_tunnel_budget_dgram_queue, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_connect_addr_gets_the_address, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_connect_text_for_older_plugins,
                                      setup, teardown),
  };
  return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
