/* A stream on one side (stream.c): its chain of links between a socket
 * and the tunnel, its start (accept, or resolve, admit and connect) and
 * its end (torn down by the reaper at the end of a loop turn). */
#ifndef GH_STREAM_H
#define GH_STREAM_H

#include <uv.h>

#include <gatehouse/gatehouse.h>

#include "types.h"
#include "util.h"

struct gh_link {
  gh__stream *s;
  gh_inst *inst;
  void *data;
  uint8_t idx;
  uint8_t ready;   /* its start finished */
  uint8_t started; /* transport: connect() or accept happened */
  uint8_t closed;  /* transport: closed() came */
};

#define GH__S_NEW 0     /* accepted / connecting, chain starting */
#define GH__S_OPENING 1 /* OPEN sent, waiting for OPEN_OK */
#define GH__S_OPEN 2
#define GH__S_CLOSING 3

struct gh__stream {
  gh__map_node mnode; /* key: stream id, in t->streams */
  uint32_t id;        /* its tunnel stream id, 0 until it has one; kept when it
                         leaves the map, so that close() and the log lines of
                         teardown still name it */
  gh__drt *d;
  gh__tunnel *t;
  uint32_t side;
  uint8_t n_links;
  uint8_t state;
  uint8_t reading;
  uint8_t src_eof;  /* our source (application/resource) finished */
  uint8_t fin_sent; /* FIN went into the tunnel */
  uint8_t fin_recv; /* FIN came from the tunnel */
  uint8_t dgram;
  uint8_t in_map;
  uint8_t peer_opened; /* resource side: counted in t->peer_streams */
  uint8_t connecting;  /* ...and in t->peer_opening */
  uint8_t queued;      /* ...or waiting in t->openq (t->peer_queued) */
  int64_t credit;          /* bytes we may still send */
  gh__buf out;             /* read, waiting for credit or room; its length
                              counts in t->out_held while attached */
  uint64_t rx_held;        /* received from the tunnel, not yet credited back */
  uint64_t rx_ready;       /* of which written to the socket */
  uint64_t tx_pending;     /* given to the transport, not yet written */
  int64_t rx_avail;        /* what the peer may still send on it */
  uint32_t rx_window;      /* its current window: grows while the sender is
                              held back by credit and our socket keeps up */
  uint32_t rx_epoch_bytes; /* credit returned since rx_epoch_ms */
  uint64_t rx_epoch_ms;
  int32_t reason;
  uint32_t dg_in, dg_out, dg_drop; /* datagram streams: counts */
  gh_addr peer, local;
  uv_getaddrinfo_t *gai;
  uv_timer_t *open_timer;
  gh__list sendq_node, credq_node, reap_node;
  gh__list openq_node; /* in t->openq while queued */
  gh__list out_held_node; /* in t->out_heldq while held by its budget */
  gh_link links[]; /* n_links: [0] the transport */
};

void gh__stream_update_read(gh__stream *s);
/* Tear down; reason < 0 resets the application; send_reset tells the peer.
 */
void gh__stream_abort(gh__stream *s, int32_t reason, int send_reset);
void gh__stream_maybe_done(gh__stream *s);
/* Resource side: a tunnel asks to open `d` for an application at peer.
 * With `queue`, the stream waits in t->openq (its connect_timeout
 * running) until gh__stream_start_resource(). */
void gh__stream_open_resource(gh__tunnel *t, uint32_t id, gh__drt *d,
                              const gh_addr *peer, int queue);
/* Resolve, check and connect a queued resource-side stream. */
void gh__stream_start_resource(gh__stream *s);
/* Listen side: send OPEN on the gateway's next live tunnel (or end the
 * stream when none is up). Also for a stream whose tunnel died before the
 * OPEN was answered: no byte of it has left yet, so it can start over. */
void gh__stream_open_on_tunnel(gh__stream *s);
const char *gh__stream_subject(const gh__stream *s, char *buf, size_t len);
void gh__reap_run(void);
gh_link *gh__stream_accept(gh_listener *ln, void *data, const gh_addr *peer,
                           const gh_addr *local);
void gh__stream_link_ready(gh_link *l, int32_t status);
void gh__stream_link_closed(gh_link *l);

#endif
