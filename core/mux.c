/* Streams over a tunnel: opening, data, half-close, reset and flow control.
 *
 * Credit. A sender may have at most `credit` bytes of a stream, and
 * `send_session` bytes of all streams, in flight. The receiver gives credit
 * back only for bytes that its transport reports written to the local
 * socket (gh__mux_written), so a stream whose reader stalls stops its sender
 * after one window while the other streams go on. Credit is returned once
 * GH__CREDIT_BATCH bytes are written, or, when the socket has taken
 * everything, with the next frame the tunnel sends anyway or after
 * GH__CREDIT_LAZY_MS at the latest (a request/response stream then sends
 * no WINDOW of its own per exchange, and wakes no peer for one). WINDOW
 * frames are coalesced per loop turn.
 *
 * Read-ahead. What a stream reads from its socket beyond what credit and
 * room let it send waits in s->out: up to GH__OUT_MAX for one stream, and
 * GH__TUNNEL_OUT_MAX for all streams of a tunnel together (t->out_held,
 * kept by out_add and out_sub wherever s->out grows or shrinks, and as a
 * stream is attached to a tunnel or detached from it). At the budget every
 * stream of the tunnel stops reading; below GH__TUNNEL_OUT_LOW those held
 * back (t->out_heldq) read again. */
#include <string.h>

#include "console/events.h"
#include "chain.h"
#include "frame.h"
#include "gateway.h"
#include "log.h"
#include "loop.h"
#include "mux.h"
#include "runtime.h"
#include "stream.h"
#include "tunnel.h"

static gh__stream *find(gh__tunnel *t, uint32_t id) {
  gh__map_node *n = gh__map_get(&t->streams, id);
  return n ? GH__CONTAINER_OF(n, gh__stream, mnode) : NULL;
}

static void protocol_error(gh__tunnel *t, const char *what, uint32_t id) {
  char why[160];
  snprintf(why, sizeof(why), "protocol error: %s (stream %u)", what, id);
  gh__tunnel_close(t, why);
}

/* Frames as much of data as credit and room allow; returns bytes sent. */
static size_t send_data(gh__stream *s, const uint8_t *data, size_t len) {
  gh__tunnel *t = s->t;
  size_t sent = 0;
  while (sent < len && s->credit > 0 && gh__tunnel_can_send(t)) {
    size_t n = GH__MIN(len - sent, (size_t)GH__FRAME_MAX);
    n = GH__MIN(n, (size_t)s->credit);
    n = GH__MIN(n, (size_t)t->send_session);
    if (gh__tunnel_send(t, GH__FT_DATA, 0, s->mnode.key, data + sent, n) < 0)
      break;
    s->credit -= (int64_t)n;
    t->send_session -= (int64_t)n;
    s->d->st.bytes_in += n;
    sent += n;
  }
  return sent;
}

/* ---- the tunnel's read-ahead budget ---- */

/* s->out grew by n bytes. Reaching the budget stops every stream of the
 * tunnel now (once per crossing), not each at its next read: a thousand
 * streams reading at once would each add a read past it. */
static void out_add(gh__stream *s, size_t n) {
  gh__tunnel *t = s->t;
  if (!t || n == 0)
    return;
  t->out_held += n;
  if (t->out_full || t->out_held < GH__TUNNEL_OUT_MAX)
    return;
  t->out_full = 1;
  for (size_t i = 0; i < t->streams.n_buckets; i++)
    for (gh__map_node *m = t->streams.buckets ? t->streams.buckets[i] : NULL; m;
         m = m->next) {
      gh__stream *o = GH__CONTAINER_OF(m, gh__stream, mnode);
      if (o->reading)
        gh__stream_update_read(o); /* read_stop: never detaches o */
    }
}

/* n bytes left t's out buffers. Below the low-water mark the streams held
 * back read again. A count that would go below 0 stops at 0: a miscount
 * may read ahead a little more, never stall a tunnel's reading for good. */
static void out_sub(gh__tunnel *t, size_t n) {
  if (!t || n == 0)
    return;
  t->out_held = t->out_held > n ? t->out_held - n : 0;
  if (!t->out_full || t->out_held >= GH__TUNNEL_OUT_LOW)
    return;
  t->out_full = 0;
  /* read_start reads nothing at once (libuv reads in its poll phase), so
   * no stream can join the list while it is walked. */
  while (!t->out_full && !gh__list_empty(&t->out_heldq)) {
    gh__stream *o =
        GH__CONTAINER_OF(t->out_heldq.next, gh__stream, out_held_node);
    gh__list_del(&o->out_held_node);
    gh__stream_update_read(o);
  }
}

int gh__mux_out_room(gh__stream *s) {
  gh__tunnel *t = s->t;
  if (!t || !t->out_full) {
    if (gh__list_linked(&s->out_held_node))
      gh__list_del(&s->out_held_node);
    return 1;
  }
  if (!gh__list_linked(&s->out_held_node))
    gh__list_push(&t->out_heldq, &s->out_held_node);
  return 0;
}

static void send_fin(gh__stream *s) {
  s->fin_sent = 1;
  gh__tunnel_send(s->t, GH__FT_DATA, GH__FF_FIN, s->mnode.key, NULL, 0);
  gh__stream_maybe_done(s);
}

static void sendq_add(gh__stream *s) {
  if (!gh__list_linked(&s->sendq_node))
    gh__list_push(&s->t->sendq, &s->sendq_node);
}

/* ---- datagram streams ----
 *
 * A datagram travels whole in one DGRAM frame. Datagrams take no credit:
 * when the tunnel is congested they are dropped and counted, never queued
 * without bound (UDP's own contract). Until the peer answers OPEN a stream
 * holds up to GH__DGRAM_QUEUE bytes of them in `out`, each behind its u32
 * length, and its tunnel's streams together no more than its read-ahead
 * budget: past either, datagrams are dropped. */

static void dgram_drop(gh__stream *s) {
  s->dg_drop++;
  s->d->st.dgrams_dropped++;
}

static void dgram_send(gh__stream *s, const uint8_t *data, uint32_t len) {
  gh__tunnel *t = s->t;
  if (t->state != GH__T_UP || t->congested ||
      gh__tunnel_send(t, GH__FT_DGRAM, 0, s->mnode.key, data, len) < 0) {
    dgram_drop(s);
    return;
  }
  s->dg_in++;
  s->d->st.dgrams_in++;
  s->d->st.bytes_in += len;
}

static void dgram_up(gh__stream *s, const uint8_t *data, uint32_t len) {
  if (len > GH__DGRAM_MAX) {
    dgram_drop(s);
    return;
  }
  if (s->state == GH__S_OPEN) {
    dgram_send(s, data, len);
    return;
  }
  uint8_t n[4];
  gh__put_u32(n, len);
  if (s->out.len + sizeof(n) + len > GH__DGRAM_QUEUE ||
      (s->t && s->t->out_held + sizeof(n) + len > GH__TUNNEL_OUT_MAX)) {
    dgram_drop(s);
    return;
  }
  if (gh__buf_append(&s->out, n, sizeof(n)) < 0 ||
      gh__buf_append(&s->out, data, len) < 0)
    gh__oom();
  out_add(s, sizeof(n) + len);
}

/* The stream is open: send what waited for it. */
static void dgram_flush(gh__stream *s) {
  while (s->out.len >= 4 && s->state == GH__S_OPEN) {
    const uint8_t *p = gh__buf_head(&s->out);
    uint32_t len = gh__get_u32(p);
    dgram_send(s, p + 4, len);
    gh__buf_consume(&s->out, 4 + (size_t)len);
    out_sub(s->t, 4 + (size_t)len);
  }
}

static void on_dgram(gh__tunnel *t, const gh__frame *f) {
  gh__stream *s = find(t, f->stream);
  if (!s)
    return; /* closed meanwhile */
  if (!s->dgram || s->state != GH__S_OPEN) {
    protocol_error(t, "DGRAM on a byte stream or an unopened stream",
                   f->stream);
    return;
  }
  gh__chain_dgram_down(s, f->payload, f->len);
}

/* ---- byte streams ---- */

void gh__mux_send(gh__stream *s, const uint8_t *data, uint32_t len) {
  if (s->state == GH__S_CLOSING || s->src_eof)
    return;
  if (s->dgram) {
    dgram_up(s, data, len);
    return;
  }
  size_t sent = 0;
  if (s->state == GH__S_OPEN && s->out.len == 0) {
    sent = send_data(s, data, len);
    if (s->state == GH__S_CLOSING)
      return; /* the tunnel failed while sending */
  }
  if (sent < len) {
    if (gh__buf_append(&s->out, data + sent, len - sent) < 0)
      gh__oom();
    out_add(s, len - sent);
    if (s->state == GH__S_OPEN && s->credit > 0)
      sendq_add(s);
  }
  gh__stream_update_read(s);
}

void gh__mux_send_eof(gh__stream *s) {
  if (s->state == GH__S_CLOSING || s->src_eof)
    return;
  s->src_eof = 1;
  gh__stream_update_read(s);
  if (s->state == GH__S_OPEN && s->out.len == 0)
    send_fin(s);
}

void gh__mux_pump(gh__tunnel *t) {
  while (!gh__list_empty(&t->sendq) && gh__tunnel_can_send(t)) {
    gh__stream *s = GH__CONTAINER_OF(t->sendq.next, gh__stream, sendq_node);
    gh__list_del(&s->sendq_node);
    size_t n = GH__MIN(s->out.len, (size_t)GH__FRAME_MAX);
    size_t sent = send_data(s, gh__buf_head(&s->out), n);
    gh__buf_consume(&s->out, sent);
    if (s->t == t)
      out_sub(t, sent); /* else the tunnel failed: detach counted them */
    if (s->state == GH__S_CLOSING)
      continue; /* the tunnel failed while sending: s is torn down */
    if (s->out.len > 0) {
      if (s->credit > 0)
        gh__list_push(&t->sendq, &s->sendq_node); /* round-robin */
      gh__stream_update_read(s);
      continue;
    }
    if (s->src_eof && !s->fin_sent)
      send_fin(s);
    else
      gh__stream_update_read(s);
  }
}

/* A stream we opened is accepted by the peer. */
static void on_open_ok(gh__tunnel *t, gh__stream *s) {
  if (s->state != GH__S_OPENING) {
    protocol_error(t, "unexpected OPEN_OK", s->mnode.key);
    return;
  }
  gh__mux_opened(s);
}

void gh__mux_opened(gh__stream *s) {
  s->state = GH__S_OPEN;
  if (s->dgram) {
    dgram_flush(s);
    gh__stream_update_read(s);
    return;
  }
  if (s->out.len > 0)
    sendq_add(s);
  if (s->out.len == 0 && s->src_eof)
    send_fin(s);
  gh__mux_pump(s->t);
  gh__stream_update_read(s);
}

static void on_fail(gh__tunnel *t, gh__stream *s, const gh__frame *f) {
  gh__fail fl;
  if (gh__fail_decode(f->payload, f->len, &fl) < 0) {
    protocol_error(t, "malformed OPEN_FAIL/RESET", f->stream);
    return;
  }
  char sub[160];
  if (f->type == GH__FT_OPEN_FAIL) {
    if (s->state != GH__S_OPENING) {
      protocol_error(t, "unexpected OPEN_FAIL", f->stream);
      return;
    }
    if (fl.code == GH_EDENIED)
      s->d->st.refused++; /* by the client's ACL */
    else
      s->d->st.failed++;
    gh__warn(gh__stream_subject(s, sub, sizeof(sub)), "open failed: %.*s (%s)",
             (int)fl.message.len, fl.message.ptr, gh_errname(fl.code));
    if (fl.code == GH_EDENIED)
      gh__event(GH__EV_REFUSED, sub, "open refused by the client: %.*s",
                (int)fl.message.len, fl.message.ptr);
  } else {
    gh__debug(gh__stream_subject(s, sub, sizeof(sub)), "reset by peer: %s",
              gh_errname(fl.code));
  }
  /* A RESET with code 0 is the peer's orderly end (abort(link, 0)): ours
   * ends in order too, writing what it holds. */
  int32_t code = fl.code < 0 ? fl.code : GH_ECONNRESET;
  if (f->type == GH__FT_RESET && fl.code == 0)
    code = 0;
  gh__stream_abort(s, code, 0);
}

/* Refusals a peer causes at will are logged at most once a second per
 * tunnel: NULL to stay quiet, else a note for the line (that more were
 * refused since the last one). */
static const char *refusal_note(gh__tunnel *t) {
  uint64_t now = uv_now(gh__g.loop);
  if (now < t->limit_log_ms) {
    t->limit_quiet++;
    return NULL;
  }
  const char *note = t->limit_quiet ? "; more refused since the last line" : "";
  t->limit_log_ms = now + 1000;
  t->limit_quiet = 0;
  return note;
}

static void on_open(gh__tunnel *t, const gh__frame *f) {
  /* The peer's streams have the other parity than ours (t->next_id). */
  uint32_t parity = (t->next_id & 1u) ^ 1u;
  if (f->stream == 0 || (f->stream & 1u) != parity ||
      f->stream <= t->peer_last_id) {
    protocol_error(t, "bad or reused stream id in OPEN", f->stream);
    return;
  }
  t->peer_last_id = f->stream; /* ids only grow: never reused */
  gh__open o;
  if (gh__open_decode(f->payload, f->len, &o) < 0) {
    protocol_error(t, "malformed OPEN", f->stream);
    return;
  }
  gh__drt *d = gh__gw_find_dest(t->gw, o.destination.ptr, o.destination.len);
  if (!d || d->side != GH_SIDE_RESOURCE || d->retired) {
    const char *note = refusal_note(t);
    if (note)
      gh__warn(t->subject, "open of unknown destination '%.*s' refused%s",
               (int)o.destination.len, o.destination.ptr, note);
    uint8_t buf[256];
    gh__fail fl = {GH_ENODEST, {"no such destination", 19}};
    int n = gh__fail_encode(buf, sizeof(buf), &fl);
    gh__tunnel_send(t, GH__FT_OPEN_FAIL, 0, f->stream, buf, (size_t)n);
    return;
  }
  /* A burst beyond what may connect at once waits its turn, in order;
   * only past the queue, past the streams a tunnel may hold or past the
   * gateway's streams_max is an open refused. The tunnel stays either way. */
  gh__rt *rt = t->rt;
  int wait =
      t->peer_opening >= rt->connecting_max || !gh__list_empty(&t->openq);
  int full = wait && t->peer_queued >= rt->open_queue_max;
  if (t->peer_streams >= GH__PEER_STREAMS_MAX || full ||
      gh__gw_streams_full(t->gw)) {
    const char *note = refusal_note(t);
    if (note)
      gh__warn(t->subject,
               "open of %.*s refused: %u streams open, %u connecting, %u "
               "queued (limits %u, connecting_max %u, open_queue_max %u; "
               "the gateway's: %" PRIu64 " of %u)%s",
               (int)o.destination.len, o.destination.ptr, t->peer_streams,
               t->peer_opening, t->peer_queued, GH__PEER_STREAMS_MAX,
               rt->connecting_max, rt->open_queue_max, t->gw->st.active,
               t->gw->scfg ? t->gw->scfg->streams_max : 0, note);
    d->st.refused++;
    if (full)
      rt->open_queue_full++;
    uint8_t buf[256];
    gh__fail fl = {GH_ELIMIT, {"too many streams", 16}};
    int n = gh__fail_encode(buf, sizeof(buf), &fl);
    gh__tunnel_send(t, GH__FT_OPEN_FAIL, 0, f->stream, buf, (size_t)n);
    return;
  }
  gh__stream_open_resource(t, f->stream, d, &o.peer, wait);
}

void gh__mux_connect_done(gh__stream *s) {
  gh__tunnel *t = s->t;
  if (!s->connecting)
    return;
  s->connecting = 0;
  t->peer_opening--;
  if (t->state == GH__T_UP && !gh__list_empty(&t->openq))
    gh__tunnel_dirty(t); /* gh__mux_open_next at the end of the turn */
}

void gh__mux_open_next(gh__tunnel *t) {
  /* A start may fail at once (a refused address) and free its place:
   * the loop goes on with the next. */
  while (t->state == GH__T_UP && t->peer_opening < t->rt->connecting_max &&
         !gh__list_empty(&t->openq)) {
    gh__stream *s = GH__CONTAINER_OF(t->openq.next, gh__stream, openq_node);
    gh__list_del(&s->openq_node);
    s->queued = 0;
    t->peer_queued--;
    t->rt->opens_waiting--;
    gh__stream_start_resource(s);
  }
}

void gh__mux_limits_changed(gh__rt *rt) {
  for (gh__list *n = rt->tunnels.next; n != &rt->tunnels; n = n->next) {
    gh__tunnel *t = GH__CONTAINER_OF(n, gh__tunnel, node);
    if (t->state == GH__T_UP && !gh__list_empty(&t->openq))
      gh__tunnel_dirty(t);
  }
}

/* ---- DATA runs ----
 * Consecutive DATA frames of one stream in what the tunnel decrypted go
 * down as one write: their payloads are moved together over the 9-byte
 * headers between them (t->rx, already decoded), so that a 64 KiB burst
 * costs the resource one write, not four. */

static void run_add(gh__tunnel *t, gh__stream *s, const uint8_t *p,
                    uint32_t len) {
  if (len == 0)
    return;
  if (t->run_s == s && t->run_next + GH__FRAME_HDR == p) {
    memmove(t->run_p + t->run_len, p, len);
    t->run_len += len;
    t->run_next = p + len;
    return;
  }
  gh__mux_rx_flush(t);
  t->run_s = s;
  t->run_p = (uint8_t *)p;
  t->run_len = len;
  t->run_next = p + len;
}

int gh__mux_rx_flush(gh__tunnel *t) {
  gh__stream *s = t->run_s;
  if (!s)
    return 0;
  t->run_s = NULL;
  return gh__chain_down(s, t->run_p, (uint32_t)t->run_len);
}

static void on_data(gh__tunnel *t, const gh__frame *f) {
  if ((int64_t)f->len > t->rx_session_avail) {
    protocol_error(t, "session window exceeded", f->stream);
    return;
  }
  t->rx_session_avail -= f->len;
  gh__stream *s = find(t, f->stream);
  if (!s) {
    /* A stream we already closed: its bytes still count on the session. */
    t->session_owed += f->len;
    gh__tunnel_dirty(t);
    return;
  }
  if ((int64_t)f->len > s->rx_avail) {
    protocol_error(t, "stream window exceeded", f->stream);
    return;
  }
  if (s->fin_recv || s->state == GH__S_NEW || s->dgram) {
    protocol_error(t, "DATA on a finished, unopened or datagram stream",
                   f->stream);
    return;
  }
  s->rx_avail -= f->len;
  s->rx_held += f->len;
  run_add(t, s, f->payload, f->len);
  if (f->flags & GH__FF_FIN) {
    if (t->run_s == s && gh__mux_rx_flush(t) < 0)
      return; /* the stream failed on its bytes */
    s->fin_recv = 1;
    gh__chain_down_eof(s);
    gh__stream_maybe_done(s);
  }
}

static void on_window(gh__tunnel *t, const gh__frame *f) {
  uint32_t inc;
  if (gh__window_decode(f->payload, f->len, &inc) < 0) {
    protocol_error(t, "malformed WINDOW", f->stream);
    return;
  }
  if (f->stream == 0) {
    t->send_session += inc;
    if (t->send_session > (int64_t)GH__SESSION_CREDIT_MAX) {
      protocol_error(t, "session window overflow", 0);
      return;
    }
    gh__mux_pump(t);
    return;
  }
  gh__stream *s = find(t, f->stream);
  if (!s)
    return; /* closed meanwhile */
  s->credit += inc;
  if (s->credit > (int64_t)INT32_MAX) {
    protocol_error(t, "stream window overflow", f->stream);
    return;
  }
  if (s->out.len > 0 && s->state == GH__S_OPEN)
    sendq_add(s);
  gh__mux_pump(t);
  gh__stream_update_read(s);
}

void gh__mux_frame(gh__tunnel *t, const gh__frame *f) {
  if (f->type == GH__FT_OPEN) {
    on_open(t, f);
    return;
  }
  if (f->type == GH__FT_DATA) {
    on_data(t, f);
    return;
  }
  if (f->type == GH__FT_WINDOW) {
    on_window(t, f);
    return;
  }
  if (f->stream == 0) {
    protocol_error(t, "stream frame on stream 0", 0);
    return;
  }
  if (f->type == GH__FT_DGRAM) {
    on_dgram(t, f);
    return;
  }
  gh__stream *s = find(t, f->stream);
  if (!s)
    return; /* raced with our own close: nothing to do */
  switch (f->type) {
  case GH__FT_OPEN_OK:
    on_open_ok(t, s);
    return;
  case GH__FT_OPEN_FAIL:
  case GH__FT_RESET:
    on_fail(t, s, f);
    return;
  default:
    protocol_error(t, "unsupported frame", f->stream);
  }
}

static void on_lazy(uv_timer_t *tm) {
  (void)tm;
  gh__g.lazy_armed = 0;
  gh__mux_lazy_flush();
}

void gh__mux_lazy_flush(void) {
  while (!gh__list_empty(&gh__g.lazy)) {
    gh__tunnel *t = GH__CONTAINER_OF(gh__g.lazy.next, gh__tunnel, lazy_node);
    gh__list_del(&t->lazy_node);
    if (t->state == GH__T_UP && !gh__list_empty(&t->credq))
      gh__tunnel_dirty(t);
  }
}

/* t's credit queue may wait: any flush of t takes it along. */
static void credit_later(gh__tunnel *t) {
  if (!gh__list_linked(&t->lazy_node))
    gh__list_push(&gh__g.lazy, &t->lazy_node);
  if (!gh__g.lazy_armed) {
    gh__g.lazy_armed = 1;
    uv_timer_start(&gh__g.lazy_timer, on_lazy, GH__CREDIT_LAZY_MS, 0);
  }
}

/* The transport wrote n bytes of what the tunnel brought. */
void gh__mux_written(gh__stream *s, uint32_t n) {
  s->tx_pending = s->tx_pending > n ? s->tx_pending - n : 0;
  s->rx_ready = GH__MIN(s->rx_ready + n, s->rx_held);
  if (s->tx_pending == 0)
    s->rx_ready = s->rx_held;
  if (!s->t || !s->in_map || s->rx_ready == 0)
    return;
  int now = s->rx_ready >= GH__CREDIT_BATCH;
  if (!now && s->tx_pending != 0)
    return;
  if (!gh__list_linked(&s->credq_node))
    gh__list_push(&s->t->credq, &s->credq_node);
  if (now)
    gh__tunnel_dirty(s->t);
  else
    credit_later(s->t);
}

void gh__mux_credit_flush(gh__tunnel *t) {
  uint8_t b[4];
  while (!gh__list_empty(&t->credq)) {
    gh__stream *s = GH__CONTAINER_OF(t->credq.next, gh__stream, credq_node);
    gh__list_del(&s->credq_node);
    if (s->rx_ready == 0)
      continue;
    uint32_t inc = (uint32_t)s->rx_ready;
    s->rx_held -= inc;
    s->rx_ready = 0;
    t->session_owed += inc;
    /* A whole window written out within GH__WINDOW_FAST_MS plus two round
     * trips (a sender held by credit needs one per window), with the
     * socket keeping up: the sender waits for credit, not for us. Double
     * the window, toward the bandwidth-delay product; a stream whose
     * reader is slow never grows. */
    s->rx_epoch_bytes += inc;
    if (s->rx_epoch_bytes >= s->rx_window) {
      uint64_t now = uv_now(gh__g.loop);
      if (now - s->rx_epoch_ms < GH__WINDOW_FAST_MS + 2u * t->rtt_ms &&
          s->tx_pending == 0 && s->rx_window < GH__WINDOW_MAX) {
        inc += s->rx_window;
        s->rx_window *= 2;
      }
      s->rx_epoch_ms = now;
      s->rx_epoch_bytes = 0;
    }
    s->rx_avail += inc;
    gh__put_u32(b, inc);
    gh__tunnel_send(t, GH__FT_WINDOW, 0, s->mnode.key, b, 4);
  }
  if (t->session_owed > 0) {
    uint32_t inc = (uint32_t)GH__MIN(t->session_owed, (uint64_t)INT32_MAX);
    t->session_owed -= inc;
    t->rx_session_avail += inc;
    gh__put_u32(b, inc);
    gh__tunnel_send(t, GH__FT_WINDOW, 0, 0, b, 4);
  }
}

/* Removes s from the tunnel; what it held still counts on the session. */
void gh__mux_detach(gh__stream *s) {
  gh__tunnel *t = s->t;
  if (t && s->peer_opened) {
    t->peer_streams--;
    gh__mux_connect_done(s);
    if (s->queued) {
      gh__list_del(&s->openq_node);
      t->peer_queued--;
      t->rt->opens_waiting--;
    }
  }
  s->peer_opened = s->connecting = s->queued = 0;
  if (t && t->run_s == s)
    t->run_s = NULL; /* its bytes are not delivered: it is going */
  if (gh__list_linked(&s->sendq_node))
    gh__list_del(&s->sendq_node);
  if (gh__list_linked(&s->credq_node))
    gh__list_del(&s->credq_node);
  if (gh__list_linked(&s->out_held_node))
    gh__list_del(&s->out_held_node);
  if (!t)
    return;
  /* Its read-ahead leaves with it (and comes along to another tunnel). */
  out_sub(t, s->out.len);
  if (s->in_map) {
    gh__map_del(&t->streams, &s->mnode);
    s->in_map = 0;
    if (s->rx_held > 0 && t->state == GH__T_UP) {
      t->session_owed += s->rx_held;
      gh__tunnel_dirty(t);
    }
  }
  s->rx_held = 0;
  s->t = NULL;
}

void gh__mux_tunnel_down(gh__tunnel *t) {
  for (size_t i = 0; i < t->streams.n_buckets; i++) {
    while (t->streams.buckets && t->streams.buckets[i]) {
      gh__stream *s =
          GH__CONTAINER_OF(t->streams.buckets[i], gh__stream, mnode);
      gh__mux_detach(s);
      /* Not yet opened by the peer: nothing of it has been forwarded, so
       * another tunnel of the gateway can take it (the dying one has left
       * the live list). Open streams end: their bytes were in flight. */
      if (s->side == GH_SIDE_LISTEN && s->state == GH__S_OPENING)
        gh__stream_open_on_tunnel(s);
      else
        gh__stream_abort(s, GH_ECONNABORTED, 0);
    }
  }
}

/* Datagram sessions have nothing in flight to drain: a stopping process
 * ends them at once, in order, on both ends. */
void gh__mux_end_dgrams(gh__tunnel *t) {
  for (size_t i = 0; i < t->streams.n_buckets; i++) {
    gh__map_node *n = t->streams.buckets ? t->streams.buckets[i] : NULL;
    while (n) {
      gh__map_node *next = n->next; /* n leaves the map if aborted */
      gh__stream *s = GH__CONTAINER_OF(n, gh__stream, mnode);
      if (s->dgram)
        gh__stream_abort(s, 0, 1);
      n = next;
    }
  }
}

/* Registers s as stream `id` of t, with the peer's initial window. */
int gh__mux_attach(gh__tunnel *t, gh__stream *s, uint32_t id) {
  s->mnode.key = id;
  s->id = id;
  if (gh__map_put(&t->streams, &s->mnode) < 0)
    gh__oom();
  s->in_map = 1;
  s->t = t;
  out_add(s, s->out.len);
  s->credit = t->peer_window;
  s->rx_avail = GH__WINDOW_INIT;
  s->rx_window = GH__WINDOW_INIT;
  s->rx_epoch_ms = uv_now(gh__g.loop);
  return 0;
}
