/* The tunnel (tunnel.c): one TLS connection over a libuv TCP handle,
 * carrying frames. It knows frames, TLS and credit, not servers and
 * clients: what a role does at its turning points comes through
 * rt->tunnel_cbs (runtime.h). */
#ifndef GH_TUNNEL_H
#define GH_TUNNEL_H

#include <openssl/ssl.h>
#include <uv.h>

#include "tlsio.h"
#include "types.h"
#include "util.h"

/* Sending: frames are staged in plaintext and encrypted in full records. */
#define GH__STAGE_FLUSH (64u * 1024u) /* encrypt once this much waits */
#define GH__TLS_RECORD 16384u
#define GH__TX_HIGH (4u * 1024u * 1024u)  /* tunnel congested above... */
#define GH__TX_LOW (1u * 1024u * 1024u)   /* ...until it drains below */
#define GH__TX_HARD (32u * 1024u * 1024u) /* a peer that does not read */
#define GH__HANDSHAKE_MS 10000u
/* The largest destination set a client gathers from CONFIG slices. */
#define GH__CONFIG_MAX (16u * 1024u * 1024u)

#define GH__T_TLS 1   /* TLS handshake */
#define GH__T_HELLO 2 /* waiting for HELLO (server) / WELCOME (client) */
#define GH__T_UP 3
#define GH__T_CLOSING 4

struct gh__tunnel {
  gh__rt *rt;
  gh__gw *gw; /* known after HELLO */
  gh__gw *want_gw; /* client: the gateway it is made for, from the start */
  gh__slot *slot;
  uv_tcp_t tcp;
  uv_timer_t timer; /* handshake deadline, then keepalive */
  SSL *ssl;
  gh__tlsio io; /* the socket under ssl, both ways */
  int state;
  uint8_t *rx;
  size_t rx_len, rx_cap;
  gh__stream *run_s; /* a DATA run in rx, not yet sent down (mux.c) */
  uint8_t *run_p;    /* its bytes, moved together: run_len of them */
  size_t run_len;
  const uint8_t *run_next; /* where its last frame's payload ended in rx */
  uint8_t *stage;
  size_t stage_len, stage_cap;
  int congested;
  int closing; /* gh__tunnel_close() is running */
  gh__map streams;
  uint32_t next_id;
  uint32_t peer_last_id; /* the last stream the peer opened */
  uint32_t peer_streams; /* streams the peer opened, alive */
  uint32_t peer_opening; /* ...of which still connecting */
  uint32_t peer_queued;  /* ...and waiting in openq to start connecting */
  gh__list openq;        /* resource side: opens waiting, oldest first */
  uint64_t limit_log_ms; /* refusals for limits: logged once a second */
  uint32_t limit_quiet;
  uint64_t notice_log_ms; /* NOTICEs a peer sends at will: a few a second */
  uint32_t notice_quiet;
  uint32_t notice_n;
  gh__list sendq;        /* streams with bytes waiting for credit or room */
  gh__list credq;        /* streams owing a WINDOW */
  uint64_t out_held;     /* bytes in all its streams' out (mux.c) */
  int out_full;          /* reached GH__TUNNEL_OUT_MAX, not yet below LOW */
  gh__list out_heldq;    /* streams that stopped reading for out_full */
  gh__list dirty_node;
  gh__list lazy_node; /* in gh__g.lazy */
  int64_t send_session;     /* session credit we may still use */
  uint64_t session_owed;    /* session credit to give back */
  int64_t rx_session_avail; /* what the peer may still send us */
  uint32_t peer_window;     /* the peer's initial stream window */
  uint8_t *cfg_acc;         /* client: CONFIG slices being gathered */
  size_t cfg_len;
  uint64_t last_rx_ms, up_since_ms;
  uint64_t ping_sent_ms;
  uint32_t rtt_ms; /* smoothed, from PING answers; 0 until the first */
  /* What the connection read (TLS records: frames, pings, overhead), one
   * add per socket read (console; what it wrote is io.sent). */
  uint64_t bytes_received;
  char peer[64];
  char subject[128];
  char peer_name[64]; /* the name the peer gave in HELLO/WELCOME (console) */
  gh__list node; /* in rt->tunnels */
  gh__list unauth_node; /* server: in rt->unauth until authenticated */
  uint8_t src[16];      /* server: its source address (IPv6: the /64) */
  uint8_t gw_counted;   /* server: counted in gw->n_tunnels */
  uint8_t token_hash[32]; /* server: SHA-256 of the token it gave */
  int closed_handle;
  uint8_t peer_goaway; /* the peer said GOAWAY (logged once) */
  int open_handles; /* tcp and timer: freed when both closes finished */
};

/* ctx NULL (a server's accept): the TLS state is made from rt->ctx when
 * the first bytes come, so an idle connection costs little. */
gh__tunnel *gh__tunnel_new(gh__rt *rt, SSL_CTX *ctx);
/* Names t by its peer's address (t->peer; a server's t->subject too). */
void gh__tunnel_name_peer(gh__tunnel *t, int is_server);
/* After the TCP connection is up: start the TLS handshake. */
int gh__tunnel_start(gh__tunnel *t, int is_server, const char *verify_name);
void gh__tunnel_close(gh__tunnel *t, const char *why);
/* Queue a frame (payload copied). Control frames are small. */
int gh__tunnel_send(gh__tunnel *t, uint8_t type, uint8_t flags, uint32_t stream,
                    const void *payload, size_t len);
void gh__tunnel_set_up(gh__tunnel *t);
void gh__tunnel_dirty(gh__tunnel *t); /* flush at the end of the turn */
void gh__tunnel_deadline(gh__tunnel *t, uint64_t ms); /* close if not up */
void gh__tunnel_flush(gh__tunnel *t); /* encrypt and write what is staged */
int gh__tunnel_can_send(const gh__tunnel *t);

#endif
