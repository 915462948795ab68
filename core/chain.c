/* A stream's handler chain, walked both ways: links[0] is the transport
 * (the socket), links[n-1] the top, above it the tunnel.
 *
 * Up: a link's send_up() goes to the next link's up(), or from the top
 * into the mux (gh__mux_send: framing and credit). Down: a frame's bytes
 * come from the mux to the top link's down() (gh__chain_down), and each
 * link's send_down() to the link below it, until the transport writes
 * them; what it reports written() goes back to the mux as credit. A
 * handler's error aborts the stream. */
#include "chain.h"
#include "gateway.h"
#include "mux.h"
#include "stream.h"

static const gh_handler *H(const gh__stream *s, size_t i) {
  return s->links[i].inst->h;
}

/* ---- up: from the socket toward the tunnel ---- */

int32_t gh__chain_send_up(gh_link *l, const uint8_t *data, uint32_t len) {
  gh__stream *s = l->s;
  if (s->state == GH__S_CLOSING)
    return GH_ECANCELED;
  size_t next = (size_t)l->idx + 1;
  if (next == s->n_links) {
    gh__mux_send(s, data, len);
    return s->state == GH__S_CLOSING ? GH_ECANCELED : 0;
  }
  int r = H(s, next)->up(&s->links[next], data, len);
  if (r < 0)
    gh__stream_abort(s, r, 1);
  return r;
}

void gh__chain_eof_up(gh_link *l) {
  gh__stream *s = l->s;
  if (s->state == GH__S_CLOSING)
    return;
  size_t next = (size_t)l->idx + 1;
  if (next == s->n_links)
    gh__mux_send_eof(s);
  else
    H(s, next)->up_eof(&s->links[next]);
}

/* ---- down: from the tunnel toward the socket ---- */

/* Bytes for link i: its down(), or the transport's write() for link 0. */
static int down_to(gh__stream *s, size_t i, const uint8_t *data,
                   uint32_t len) {
  if (i == 0)
    return gh__chain_transport_write(s, data, len);
  int r = H(s, i)->down(&s->links[i], data, len);
  if (r < 0)
    gh__stream_abort(s, r, 1);
  return r;
}

/* EOF for link i: its down_eof(), or the transport's shutdown(). */
static void eof_down_to(gh__stream *s, size_t i) {
  if (i == 0)
    H(s, 0)->shutdown(&s->links[0]);
  else
    H(s, i)->down_eof(&s->links[i]);
}

int gh__chain_down(gh__stream *s, const uint8_t *data, uint32_t len) {
  return down_to(s, (size_t)s->n_links - 1, data, len);
}

void gh__chain_down_eof(gh__stream *s) {
  eof_down_to(s, (size_t)s->n_links - 1);
}

int32_t gh__chain_send_down(gh_link *l, const uint8_t *data, uint32_t len) {
  gh__stream *s = l->s;
  if (s->state == GH__S_CLOSING || l->idx == 0)
    return l->idx == 0 ? GH_EINVAL : GH_ECANCELED;
  return down_to(s, (size_t)l->idx - 1, data, len);
}

void gh__chain_eof_down(gh_link *l) {
  gh__stream *s = l->s;
  if (s->state == GH__S_CLOSING || l->idx == 0)
    return;
  eof_down_to(s, (size_t)l->idx - 1);
}

int gh__chain_transport_write(gh__stream *s, const uint8_t *data,
                               uint32_t len) {
  s->tx_pending += len;
  int r = H(s, 0)->write(&s->links[0], data, len);
  if (r < 0)
    gh__stream_abort(s, r, 1);
  return r;
}

/* A datagram the transport cannot send (a full socket buffer, an ICMP
 * error of an earlier one) is dropped and counted: the session goes on. */
void gh__chain_dgram_down(gh__stream *s, const uint8_t *data, uint32_t len) {
  if (H(s, 0)->write(&s->links[0], data, len) < 0) {
    s->dg_drop++;
    s->d->st.dgrams_dropped++;
    return;
  }
  s->dg_out++;
  s->d->st.dgrams_out++;
}

/* The transport wrote len bytes that came from the tunnel: credit back. */
void gh__chain_written(gh_link *l, uint32_t len) {
  gh__stream *s = l->s;
  if (s->state == GH__S_CLOSING)
    return;
  s->d->st.bytes_out += len;
  if (s->dgram)
    return; /* datagrams take no credit */
  gh__mux_written(s, len);
  gh__stream_maybe_done(s);
}
