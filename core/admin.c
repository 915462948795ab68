/* The admin endpoint (admin_listen): GET /metrics in Prometheus text format
 * and GET /status in JSON, over HTTP/1.1 with one request per connection.
 * It serves nothing else, reads at most GH__ADMIN_HEAD bytes of a request
 * and gives a client GH__ADMIN_TIMEOUT_MS to send it. It exposes counts,
 * names and addresses, never a token or a key. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "address.h"
#include "admin.h"
#include "buf.h"
#include "client.h"
#include "console/console.h"
#include "gateway.h"
#include "log.h"
#include "loop.h"
#include "runtime.h"
#include "tunnel.h"

#define GH__ADMIN_HEAD 8192u
#define GH__ADMIN_TIMEOUT_MS 5000u
#define GH__ADMIN_CONNS 64 /* at once; more are closed at accept */

/* ---- the request line ---- */

int gh__admin_parse(const char *buf, size_t len, gh__admin_req *req) {
  memset(req, 0, sizeof(*req));
  const char *end = NULL;
  for (size_t i = 0; i + 3 < len; i++)
    if (memcmp(buf + i, "\r\n\r\n", 4) == 0) {
      end = buf + i;
      break;
    }
  if (!end)
    return len >= GH__ADMIN_HEAD ? GH_EMSGSIZE : 0;
  const char *eol = memchr(buf, '\r', (size_t)(end - buf) + 1);
  const char *sp1 = memchr(buf, ' ', (size_t)(eol - buf));
  if (!sp1)
    return GH_EPROTO;
  const char *path = sp1 + 1;
  const char *sp2 = memchr(path, ' ', (size_t)(eol - path));
  if (!sp2 || sp2 == path || (size_t)(eol - sp2 - 1) != 8 ||
      memcmp(sp2 + 1, "HTTP/1.", 7) != 0 || (sp2[8] != '0' && sp2[8] != '1'))
    return GH_EPROTO;
  size_t mlen = (size_t)(sp1 - buf), plen = (size_t)(sp2 - path);
  for (size_t i = 0; i < mlen; i++)
    if (buf[i] < 'A' || buf[i] > 'Z')
      return GH_EPROTO;
  for (size_t i = 0; i < plen; i++)
    if ((unsigned char)path[i] <= 0x20 || (unsigned char)path[i] >= 0x7f)
      return GH_EPROTO;
  /* The query, if any, is ignored. */
  const char *q = memchr(path, '?', plen);
  if (q)
    plen = (size_t)(q - path);
  if (mlen >= sizeof(req->method) || plen >= sizeof(req->path))
    return GH_EPROTO;
  memcpy(req->method, buf, mlen);
  memcpy(req->path, path, plen);
  return (int)(end - buf) + 4;
}

/* ---- text building ---- */

/* A Prometheus label value or a JSON string body: backslash, quote and
 * control characters escaped. Peer text (a client's NOTICE) may be any
 * bytes: the output is valid UTF-8 only, each invalid byte becoming
 * U+FFFD. */
static const char *esc(const char *v, char *out, size_t len) {
  size_t o = 0, n = v ? strlen(v) : 0;
  for (size_t i = 0; i < n && o + 7 < len;) {
    const unsigned char *p = (const unsigned char *)v + i;
    uint32_t cp = 0;
    size_t k = gh__utf8_seq(p, n - i, &cp);
    if (k == 0) {
      memcpy(out + o, "\xef\xbf\xbd", 3);
      o += 3;
      i++;
    } else if (cp == '\\' || cp == '"') {
      out[o++] = '\\';
      out[o++] = (char)cp;
      i++;
    } else if (cp < 0x20 || (cp >= 0x7f && cp <= 0x9f)) {
      o += (size_t)snprintf(out + o, len - o, "\\u%04x", (unsigned)cp);
      i += k;
    } else {
      memcpy(out + o, p, k);
      o += k;
      i += k;
    }
  }
  out[o] = 0;
  return out;
}

static const char *const hs_names[GH__HSF_COUNT] = {
#define GH__HSF_NAME(id, name) [GH__HSF_##id] = name,
    GH__HSF_MAP(GH__HSF_NAME)
#undef GH__HSF_NAME
};

const char *gh__hsf_name(int reason) {
  return reason >= 0 && reason < GH__HSF_COUNT ? hs_names[reason] : "other";
}

int gh__hsf_of_refusal(int32_t code) {
  switch (code) {
  case GH__REFUSE_VERSION:
    return GH__HSF_VERSION;
  case GH__REFUSE_GATEWAY:
    return GH__HSF_GATEWAY;
  case GH__REFUSE_TOKEN:
    return GH__HSF_TOKEN;
  case GH__REFUSE_SHUTDOWN:
    return GH__HSF_SHUTDOWN;
  case GH__REFUSE_LIMIT:
    return GH__HSF_LIMIT;
  default:
    return GH__HSF_MALFORMED;
  }
}

/* ---- /metrics ---- */

typedef struct metric {
  const char *name, *type, *help;
  size_t off; /* in gh__stats */
} metric;

#define GH__STAT(m) offsetof(gh__stats, m)
static const metric dest_metrics[] = {
    {"gatehouse_streams_opened_total", "counter",
     "Streams (UDP sessions) started on this side", GH__STAT(opened)},
    {"gatehouse_streams_active", "gauge", "Streams open now", GH__STAT(active)},
    {"gatehouse_streams_refused_total", "counter",
     "Applications refused by the allow list or resources by the ACL",
     GH__STAT(refused)},
    {"gatehouse_streams_failed_total", "counter",
     "Streams that could not open or ended in error", GH__STAT(failed)},
    {"gatehouse_bytes_in_total", "counter",
     "Bytes from applications or resources into the tunnel",
     GH__STAT(bytes_in)},
    {"gatehouse_bytes_out_total", "counter",
     "Bytes from the tunnel to applications or resources", GH__STAT(bytes_out)},
    {"gatehouse_datagrams_in_total", "counter",
     "UDP datagrams carried into the tunnel", GH__STAT(dgrams_in)},
    {"gatehouse_datagrams_out_total", "counter",
     "UDP datagrams delivered from the tunnel", GH__STAT(dgrams_out)},
    {"gatehouse_datagrams_dropped_total", "counter",
     "UDP datagrams dropped (congested tunnel, full socket, queue limit)",
     GH__STAT(dgrams_dropped)},
};

static void metrics(const gh__rt *rt, gh__buf *s) {
  char g[300], d[300];
  gh__buf_printf(s,
                 "# HELP gatehouse_info The running gatehouse.\n"
                 "# TYPE gatehouse_info gauge\n"
                 "gatehouse_info{version=\"%s\",role=\"%s\"} 1\n",
                 GH_VERSION_STRING, rt->subject);
  gh__buf_printf(s, "# HELP gatehouse_tunnels_up Tunnels up, per gateway.\n"
                    "# TYPE gatehouse_tunnels_up gauge\n");
  for (size_t i = 0; i < rt->n_gws; i++)
    if (!rt->gws[i]->removed)
      gh__buf_printf(s, "gatehouse_tunnels_up{gateway=\"%s\"} %zu\n",
                     esc(rt->gws[i]->id, g, sizeof(g)), rt->gws[i]->n_live);
  if (rt->role == GH__ROLE_CLIENT) {
    gh__buf_printf(s, "# HELP gatehouse_reconnects_total Tunnel attempts after "
                      "the first, per gateway.\n"
                      "# TYPE gatehouse_reconnects_total counter\n");
    for (size_t i = 0; i < rt->n_gws; i++)
      if (!rt->gws[i]->removed)
        gh__buf_printf(
            s, "gatehouse_reconnects_total{gateway=\"%s\"} %" PRIu64 "\n",
            esc(rt->gws[i]->id, g, sizeof(g)), rt->gws[i]->reconnects);
  } else {
    gh__buf_printf(s,
                   "# HELP gatehouse_tunnels_accepted_total Tunnel connections "
                   "accepted.\n"
                   "# TYPE gatehouse_tunnels_accepted_total counter\n"
                   "gatehouse_tunnels_accepted_total %" PRIu64 "\n",
                   rt->tunnels_accepted);
    gh__buf_printf(
        s,
        "# HELP gatehouse_unauth_connections Tunnel connections not "
        "yet authenticated.\n"
        "# TYPE gatehouse_unauth_connections gauge\n"
        "gatehouse_unauth_connections %u\n"
        "# HELP gatehouse_unauth_refused_total Tunnel connections "
        "closed at accept: their source had unauth_per_source "
        "unauthenticated connections already.\n"
        "# TYPE gatehouse_unauth_refused_total counter\n"
        "gatehouse_unauth_refused_total %" PRIu64 "\n"
        "# HELP gatehouse_unauth_shed_total Unauthenticated tunnel "
        "connections closed, oldest first, to make room (unauth_max).\n"
        "# TYPE gatehouse_unauth_shed_total counter\n"
        "gatehouse_unauth_shed_total %" PRIu64 "\n"
        "# HELP gatehouse_tunnels_revoked_total Tunnels closed by a "
        "reload: their token was removed or their certificate "
        "revoked.\n"
        "# TYPE gatehouse_tunnels_revoked_total counter\n"
        "gatehouse_tunnels_revoked_total %" PRIu64 "\n",
        rt->n_unauth, rt->unauth_refused, rt->unauth_shed, rt->revoked);
    gh__buf_printf(s,
                   "# HELP gatehouse_gateway_tunnels_refused_total Tunnels "
                   "refused at HELLO: the gateway had tunnels_max up.\n"
                   "# TYPE gatehouse_gateway_tunnels_refused_total counter\n");
    for (size_t i = 0; i < rt->n_gws; i++)
      if (!rt->gws[i]->removed)
        gh__buf_printf(
            s,
            "gatehouse_gateway_tunnels_refused_total{gateway=\"%s\"} "
            "%" PRIu64 "\n",
            esc(rt->gws[i]->id, g, sizeof(g)), rt->gws[i]->tunnels_refused);
    gh__buf_printf(s,
                   "# HELP gatehouse_gateway_streams_refused_total Streams "
                   "refused: the gateway had streams_max open.\n"
                   "# TYPE gatehouse_gateway_streams_refused_total counter\n");
    for (size_t i = 0; i < rt->n_gws; i++)
      if (!rt->gws[i]->removed)
        gh__buf_printf(
            s,
            "gatehouse_gateway_streams_refused_total{gateway=\"%s\"} "
            "%" PRIu64 "\n",
            esc(rt->gws[i]->id, g, sizeof(g)), rt->gws[i]->streams_refused);
  }
  gh__buf_printf(s, "# HELP gatehouse_handshake_failures_total Tunnels that "
                    "failed before they were up, by reason.\n"
                    "# TYPE gatehouse_handshake_failures_total counter\n");
  for (int r = 0; r < GH__HSF_COUNT; r++)
    gh__buf_printf(
        s, "gatehouse_handshake_failures_total{reason=\"%s\"} %" PRIu64 "\n",
        hs_names[r], rt->hs_failures[r]);
  gh__buf_printf(
      s,
      "# HELP gatehouse_opens_queued Opens from the peer waiting for "
      "their turn to connect (connecting_max), now.\n"
      "# TYPE gatehouse_opens_queued gauge\n"
      "gatehouse_opens_queued %" PRIu64 "\n"
      "# HELP gatehouse_opens_queued_total Opens from the peer that "
      "waited for their turn to connect.\n"
      "# TYPE gatehouse_opens_queued_total counter\n"
      "gatehouse_opens_queued_total %" PRIu64 "\n"
      "# HELP gatehouse_open_queue_timeouts_total Queued opens failed "
      "by their connect_timeout before their turn came.\n"
      "# TYPE gatehouse_open_queue_timeouts_total counter\n"
      "gatehouse_open_queue_timeouts_total %" PRIu64 "\n"
      "# HELP gatehouse_open_queue_full_total Opens refused because "
      "the open queue was full (open_queue_max).\n"
      "# TYPE gatehouse_open_queue_full_total counter\n"
      "gatehouse_open_queue_full_total %" PRIu64 "\n",
      rt->opens_waiting, rt->opens_queued_total, rt->open_queue_timeouts,
      rt->open_queue_full);
  gh__buf_printf(s,
                 "# HELP gatehouse_destination_up 1 when the destination's "
                 "side here runs (listening, or ready to connect), 0 when it "
                 "is in error.\n"
                 "# TYPE gatehouse_destination_up gauge\n");
  for (size_t i = 0; i < rt->n_gws; i++)
    if (!rt->gws[i]->removed)
      for (size_t k = 0; k < rt->gws[i]->n_dests; k++) {
        const gh__drt *dr = rt->gws[i]->dests[k];
        gh__buf_printf(
            s,
            "gatehouse_destination_up{gateway=\"%s\",destination=\"%s\"} "
            "%d\n",
            esc(rt->gws[i]->id, g, sizeof(g)), esc(dr->cfg->name, d, sizeof(d)),
            dr->status == 0);
      }
  for (size_t m = 0; m < GH__ARRAY_LEN(dest_metrics); m++) {
    const metric *me = &dest_metrics[m];
    gh__buf_printf(s, "# HELP %s %s, per destination.\n# TYPE %s %s\n",
                   me->name, me->help, me->name, me->type);
    for (size_t i = 0; i < rt->n_gws; i++)
      if (!rt->gws[i]->removed)
        for (size_t k = 0; k < rt->gws[i]->n_dests; k++) {
          const gh__drt *dr = rt->gws[i]->dests[k];
          uint64_t v;
          memcpy(&v, (const char *)&dr->st + me->off, sizeof(v));
          gh__buf_printf(s,
                         "%s{gateway=\"%s\",destination=\"%s\"} %" PRIu64 "\n",
                         me->name, esc(rt->gws[i]->id, g, sizeof(g)),
                         esc(dr->cfg->name, d, sizeof(d)), v);
        }
  }
}

/* ---- /status ---- */

static const char *dest_state(const gh__drt *d) {
  if (d->status != 0)
    return "error";
  return d->side == GH_SIDE_LISTEN ? "listening" : "ready";
}

static void status(const gh__rt *rt, gh__buf *s) {
  char a[300], b[300];
  uint64_t now = gh__now_ms();
  int first = 1;
  gh__buf_printf(s, "{\"role\":\"%s\",\"version\":\"%s\",\"gateways\":[",
                 rt->subject, GH_VERSION_STRING);
  for (size_t i = 0; i < rt->n_gws; i++)
    if (!rt->gws[i]->removed) {
      const gh__gw *gw = rt->gws[i];
      gh__buf_printf(s, "%s{\"id\":\"%s\",\"tunnels\":[", first ? "" : ",",
                     esc(gw->id, a, sizeof(a)));
      first = 0;
      for (size_t k = 0; k < gw->n_live; k++) {
        const gh__tunnel *t = gw->live[k];
        gh__buf_printf(s,
                       "%s{\"peer\":\"%s\",\"age_s\":%" PRIu64
                       ",\"rtt_ms\":%u,\"streams\":%zu}",
                       k ? "," : "", esc(t->peer, a, sizeof(a)),
                       (now - t->up_since_ms) / 1000u, t->rtt_ms, t->streams.n);
      }
      gh__buf_printf(s, "],\"destinations\":[");
      for (size_t k = 0; k < gw->n_dests; k++) {
        const gh__drt *d = gw->dests[k];
        gh__buf_printf(s,
                       "%s{\"name\":\"%s\",\"type\":\"%s\",\"side\":\"%s\","
                       "\"state\":\"%s\",\"active\":%" PRIu64 ",\"error\":",
                       k ? "," : "", esc(d->cfg->name, a, sizeof(a)),
                       d->cfg->type == GH__DEST_ONPREM ? "onprem" : "cloud",
                       d->side == GH_SIDE_LISTEN ? "listen" : "resource",
                       dest_state(d), d->st.active);
        if (d->error)
          gh__buf_printf(s, "\"%s\"}", esc(d->error, b, sizeof(b)));
        else
          gh__buf_printf(s, "null}");
      }
      gh__buf_printf(s, "]}");
    }
  gh__buf_printf(s, "]}\n");
}

int gh__admin_render(const gh__rt *rt, const char *path, gh__buf *out,
                     const char **type) {
  gh__buf s = {0};
  if (strcmp(path, "/metrics") == 0) {
    metrics(rt, &s);
    *type = "text/plain; version=0.0.4; charset=utf-8";
  } else if (strcmp(path, "/status") == 0) {
    status(rt, &s);
    *type = "application/json";
  } else {
    return GH_ENOENT;
  }
  *out = s;
  return 0;
}

/* ---- the server ---- */

typedef struct admin_conn {
  uv_tcp_t tcp;
  uv_timer_t timer;
  uv_write_t wr;
  gh__admin *adm;
  char head[GH__ADMIN_HEAD];
  size_t len;
  uint8_t *reply;
  int handles;
  int answered;
  gh__console_tls *tls; /* admin.tls.*: head holds the decrypted bytes */
  char raw[4096];       /* ...and the network's bytes come here */
} admin_conn;

static void conn_closed(uv_handle_t *h) {
  admin_conn *c = h->data;
  if (--c->handles > 0)
    return;
  c->adm->n_conns--;
  gh__console_tls_free(c->tls);
  free(c->reply);
  free(c);
}

static void conn_close(admin_conn *c) {
  if (uv_is_closing((uv_handle_t *)&c->tcp))
    return;
  uv_close((uv_handle_t *)&c->tcp, conn_closed);
  uv_close((uv_handle_t *)&c->timer, conn_closed);
}

static void on_written(uv_write_t *w, int status) {
  conn_close(w->data);
}

/* TLS handshake bytes: written, then the connection stays for the request */
typedef struct tls_write {
  uv_write_t wr;
  gh__buf b;
} tls_write;

static void on_tls_written(uv_write_t *w, int status) {
  tls_write *tw = (tls_write *)w;
  gh__buf_free(&tw->b);
  free(tw);
}

static int tls_send(admin_conn *c, gh__buf *b) {
  if (!b->len) {
    gh__buf_free(b);
    return 0;
  }
  tls_write *tw = gh__xcalloc(1, sizeof(*tw));
  tw->b = *b;
  uv_buf_t ub = uv_buf_init((char *)gh__buf_head(&tw->b), (unsigned)tw->b.len);
  if (uv_write(&tw->wr, (uv_stream_t *)&c->tcp, &ub, 1, on_tls_written) < 0) {
    gh__buf_free(&tw->b);
    free(tw);
    return GH_EPROTO;
  }
  return 0;
}

static void answer_ex(admin_conn *c, int code, const char *reason,
                      const char *type, const char *extra,
                      const uint8_t *body, size_t blen, int head_only) {
  char hdr[1024];
  int n = snprintf(hdr, sizeof(hdr),
                   "HTTP/1.1 %d %s\r\nContent-Type: %s\r\n"
                   "Content-Length: %zu\r\nCache-Control: no-store\r\n"
                   "%sConnection: close\r\n\r\n",
                   code, reason, type, blen, extra);
  if (n < 0 || (size_t)n >= sizeof(hdr)) {
    conn_close(c);
    return;
  }
  size_t total = (size_t)n + (head_only ? 0 : blen);
  c->reply = gh__xmalloc(total);
  memcpy(c->reply, hdr, (size_t)n);
  if (!head_only && blen)
    memcpy(c->reply + n, body, blen);
  if (c->tls) {
    gh__buf enc = {0};
    if (gh__console_tls_wrap(c->tls, c->reply, total, &enc) < 0) {
      gh__buf_free(&enc);
      conn_close(c);
      return;
    }
    free(c->reply);
    c->reply = gh__xmalloc(enc.len ? enc.len : 1);
    memcpy(c->reply, gh__buf_head(&enc), enc.len);
    total = enc.len;
    gh__buf_free(&enc);
  }
  c->answered = 1;
  uv_read_stop((uv_stream_t *)&c->tcp);
  uv_buf_t b = uv_buf_init((char *)c->reply, (unsigned)total);
  c->wr.data = c;
  if (uv_write(&c->wr, (uv_stream_t *)&c->tcp, &b, 1, on_written) < 0)
    conn_close(c);
}

static void answer(admin_conn *c, int code, const char *reason,
                   const char *type, const uint8_t *body, size_t blen,
                   int head_only) {
  answer_ex(c, code, reason, type, "", body, blen, head_only);
}

static void answer_text(admin_conn *c, int code, const char *reason,
                        const char *text) {
  answer(c, code, reason, "text/plain; charset=utf-8", (const uint8_t *)text,
         strlen(text), 0);
}

static void serve(admin_conn *c, const gh__admin_req *req, size_t hlen) {
  int head = strcmp(req->method, "HEAD") == 0;
  if (!head && strcmp(req->method, "GET") != 0) {
    answer_text(c, 405, "Method Not Allowed", "only GET and HEAD\n");
    return;
  }
  const gh__rt *rt = c->adm->rt;
  const gh__cfg_common *cm = rt->role == GH__ROLE_SERVER ? &rt->scfg->common
                                                         : &rt->ccfg->common;
  if (strcmp(req->path, "/") == 0) {
    /* the page holds code, no data: what it shows comes from the API, with
     * the token the operator gives it */
    answer_ex(c, 200, "OK", "text/html; charset=utf-8",
              GH__CONSOLE_PAGE_HEADERS, gh__console_page, gh__console_page_len,
              head);
    return;
  }
  if (cm->admin_token && strcmp(req->path, "/metrics") != 0 &&
      !gh__console_authorized(c->head, hlen, cm->admin_token)) {
    answer_text(c, 401, "Unauthorized", "Authorization: Bearer TOKEN\n");
    return;
  }
  gh__buf body = {0};
  const char *type = NULL;
  int r = strncmp(req->path, "/api/", 5) == 0
              ? gh__console_render(c->adm->rt, req->path, &body, &type)
              : gh__admin_render(c->adm->rt, req->path, &body, &type);
  if (r == GH_ENOENT) {
    answer_text(c, 404, "Not Found",
                "try /metrics, /status or /api/v1/overview\n");
    return;
  }
  if (r < 0) {
    answer_text(c, 500, "Internal Server Error", "out of memory\n");
    return;
  }
  answer(c, 200, "OK", type, gh__buf_head(&body), body.len, head);
  gh__buf_free(&body);
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf) {
  admin_conn *c = h->data;
  if (c->tls) {
    buf->base = c->raw;
    buf->len = sizeof(c->raw);
    return;
  }
  buf->base = c->head + c->len;
  buf->len = sizeof(c->head) - c->len;
}

static void on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf) {
  admin_conn *c = st->data;
  if (nread == 0 || c->answered)
    return;
  if (nread < 0) {
    conn_close(c);
    return;
  }
  if (c->tls) {
    gh__buf out = {0};
    int t = gh__console_tls_feed(c->tls, buf->base, (size_t)nread, c->head,
                                 sizeof(c->head), &c->len, &out);
    if (tls_send(c, &out) < 0 || t < 0) {
      conn_close(c);
      return;
    }
  } else {
    c->len += (size_t)nread;
  }
  gh__admin_req req;
  int r = gh__admin_parse(c->head, c->len, &req);
  if (r == 0)
    return;
  if (r == GH_EMSGSIZE)
    answer_text(c, 431, "Request Header Fields Too Large", "too large\n");
  else if (r < 0)
    answer_text(c, 400, "Bad Request", "bad request\n");
  else
    serve(c, &req, (size_t)r);
}

static void on_timeout(uv_timer_t *tm) {
  conn_close(tm->data);
}

static void on_conn(uv_stream_t *srv, int status) {
  gh__admin *adm = srv->data;
  if (status < 0)
    return;
  admin_conn *c = gh__xcalloc(1, sizeof(*c));
  c->adm = adm;
  uv_tcp_init(gh__g.loop, &c->tcp);
  uv_timer_init(gh__g.loop, &c->timer);
  c->tcp.data = c->timer.data = c;
  c->handles = 2;
  adm->n_conns++;
  if (uv_accept(srv, (uv_stream_t *)&c->tcp) < 0 ||
      adm->n_conns > GH__ADMIN_CONNS) {
    conn_close(c);
    return;
  }
  if (adm->tls_ctx && !(c->tls = gh__console_tls_new(adm->tls_ctx))) {
    conn_close(c);
    return;
  }
  uv_timer_start(&c->timer, on_timeout, GH__ADMIN_TIMEOUT_MS, 0);
  uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
}

int gh__admin_start(gh__admin *adm, gh__rt *rt, const char *host, uint16_t port,
                    char *err, size_t errlen) {
  struct sockaddr_storage ss;
  /* Loopback unless the administrator names another address. */
  const char *h = host && *host ? host : "127.0.0.1";
  if (gh__sockaddr_resolve(h, port, &ss) < 0) {
    snprintf(err, errlen, "admin_listen: cannot resolve %s", h);
    return GH_ENOTFOUND;
  }
  adm->rt = rt;
  const gh__cfg_common *cm =
      rt->role == GH__ROLE_SERVER ? &rt->scfg->common : &rt->ccfg->common;
  if (cm->admin_tls_cert) {
    char why[512];
    SSL_CTX *ctx = gh__tls_ctx_from_files(1, cm->admin_tls_cert,
                                          cm->admin_tls_key, NULL, NULL, why,
                                          sizeof(why));
    if (!ctx) {
      snprintf(err, errlen, "admin.tls: %s", why);
      return GH_EINVAL;
    }
    adm->tls_ctx = ctx;
  }
  uv_tcp_init(gh__g.loop, &adm->tcp);
  adm->tcp.data = adm;
  int r = uv_tcp_bind(&adm->tcp, (const struct sockaddr *)&ss, 0);
  if (r == 0)
    r = uv_listen((uv_stream_t *)&adm->tcp, 64, on_conn);
  if (r < 0) {
    snprintf(err, errlen, "admin_listen: cannot listen on %s:%u: %s", h, port,
             uv_strerror(r));
    uv_close((uv_handle_t *)&adm->tcp, NULL);
    SSL_CTX_free(adm->tls_ctx);
    adm->tls_ctx = NULL;
    return r;
  }
  adm->on = 1;
  gh__info(rt->subject, "admin endpoint on %s://%s:%u (/, /api/v1, /metrics, /status)",
           adm->tls_ctx ? "https" : "http", h, port);
  return 0;
}

void gh__admin_stop(gh__admin *adm) {
  if (!adm->on)
    return;
  adm->on = 0;
  uv_close((uv_handle_t *)&adm->tcp, NULL);
  gh__console_stop();
  /* connections still open hold their SSL, which holds the context */
  SSL_CTX_free(adm->tls_ctx);
  adm->tls_ctx = NULL;
}
