/* The core's private types: the runtime of a server or a client, its
 * gateways, destinations, tunnels and streams, and the functions the core
 * files call on each other. Nothing here crosses the SDK boundary. */
#ifndef GH_INTERNAL_H
#define GH_INTERNAL_H

#include <openssl/ssl.h>
#include <uv.h>

#include "config.h"
#include "frame.h"
#include "log.h"
#include "plugin.h"
#include "util.h"

/* Flow control (DESIGN.md, "The tunnel"). */
#define GH__WINDOW_INIT (256u * 1024u) /* credit of a new stream */
/* What a window may grow to: a stalled reader holds at most this much of
 * the session window, so a few of them cannot starve the other streams. */
#define GH__WINDOW_MAX (4u * 1024u * 1024u)
/* A window turned over faster than this plus two round trips grows. */
#define GH__WINDOW_FAST_MS 50u
#define GH__SESSION_WINDOW (64u * 1024u * 1024u) /* all streams of a tunnel */
/* More session credit than a peer may ever grant us: a protocol error. */
#define GH__SESSION_CREDIT_MAX (1024u * 1024u * 1024u)
#define GH__CREDIT_BATCH (32u * 1024u)   /* return credit in such steps */
#define GH__CREDIT_LAZY_MS 10u /* how long smaller credit waits for a ride */
#define GH__OUT_MAX (64u * 1024u)        /* stop reading a socket above it */
#define GH__TX_HIGH (4u * 1024u * 1024u) /* tunnel congested above... */
#define GH__TX_LOW (1u * 1024u * 1024u)  /* ...until it drains below */
#define GH__TX_HARD (32u * 1024u * 1024u) /* a peer that does not read */
/* Streams a peer may open on one tunnel at once (those waiting in its
 * open queue included). How many connect at once, and how many more wait
 * in the queue, are connecting_max and open_queue_max of [server] and
 * [client]. */
#define GH__PEER_STREAMS_MAX 65536u
/* Datagrams a datagram stream may hold while its OPEN is answered; more
 * are dropped. */
#define GH__DGRAM_QUEUE (256u * 1024u)
#define GH__STAGE_FLUSH (64u * 1024u)    /* encrypt once this much waits */
#define GH__TLS_RECORD 16384u
#define GH__HANDSHAKE_MS 10000u
#define GH__CONFIG_MAX (16u * 1024u * 1024u)

#define GH__ROLE_SERVER 1
#define GH__ROLE_CLIENT 2

typedef struct gh__rt gh__rt;
typedef struct gh__gw gh__gw;
typedef struct gh__drt gh__drt;
typedef struct gh__tunnel gh__tunnel;
typedef struct gh__stream gh__stream;
typedef struct gh__slot gh__slot;

/* ---- SDK handles ---- */

struct gh_inst {
  const gh_handler *h;
  gh__drt *d;
  uint32_t side;
  const char *prefix; /* "listen" or "resource" */
  void *data;
  int inited;
};

struct gh_listener {
  gh_inst *inst;
  gh__drt *d;
  void *data;
};

struct gh_link {
  gh__stream *s;
  gh_inst *inst;
  void *data;
  uint8_t idx;
  uint8_t ready;   /* its start finished */
  uint8_t started; /* transport: connect() or accept happened */
  uint8_t closed;  /* transport: closed() came */
};

struct gh_timer {
  uv_timer_t uv;
  gh_timer_cb cb;
  void *arg;
};

/* ---- statistics ---- */

typedef struct gh__stats {
  uint64_t opened, active, refused, failed;
  uint64_t bytes_in;  /* from applications/resources into the tunnel */
  uint64_t bytes_out; /* from the tunnel to applications/resources */
  uint64_t dgrams_in, dgrams_out; /* datagram streams: datagrams carried */
  uint64_t dgrams_dropped;        /* ...and dropped (congestion, errors) */
} gh__stats;

/* ---- the process ---- */

/* What every runtime shares: one loop, one plugin registry, the list of
 * streams to tear down and of tunnels to flush at the end of a loop turn. */
typedef struct gh__core {
  uv_loop_t *loop;
  uv_prepare_t prepare;
  int prepare_active;
  gh__list reap;  /* streams being torn down */
  gh__list dirty; /* tunnels with staged frames */
  gh__list lazy;  /* tunnels owing small credit (mux.c) */
  uv_timer_t lazy_timer;
  int lazy_armed;
  gh__registry reg;
  const gh_host *host;
} gh__core;

extern gh__core gh__g;

/* The loop and the end-of-turn machinery (gh__core_init does it). */
void gh__core_setup(uv_loop_t *loop);
int gh__core_init(uv_loop_t *loop, const char *plugin_dir);
void gh__core_kick(void); /* make sure the end-of-turn work runs */
const char *gh__default_plugin_dir(void);
extern const gh_host gh__host;

/* ---- destinations, as this process runs them ---- */

/* One destination's local side: a listener for the side where this process
 * accepts applications, or the chain it connects with on the resource side.
 */
struct gh__drt {
  gh__dest *cfg;
  gh__gw *gw;
  uint32_t side; /* GH_SIDE_*: the side that runs here */
  const gh__chain *chain;
  char *listen_chain, *resource_chain; /* canonical text, for link_info */
  gh_inst insts[GH__CHAIN_MAX];
  gh_listener *listener;
  int refs;       /* the configuration's own + one per stream */
  uint64_t quiet_until_ms; /* refusals are logged once a second... */
  uint32_t quiet_refusals; /* ...with a count of those not logged */
  uint64_t notice_log_ms;  /* a client's NOTICEs for it: a few a second */
  uint32_t notice_quiet;
  uint32_t notice_n;
  int retired;    /* removed from the configuration */
  int32_t status; /* 0 fine, or the error that stops it */
  char *error;    /* its text, for logs and /status */
  gh__stats st;
};

/* Builds the runtime of d's side `side` (inst_init for each handler of the
 * chain). Takes ownership of cfg on success. */
int gh__drt_new(gh__gw *gw, gh__dest *cfg, uint32_t side, gh__drt **out,
                char *err, size_t errlen);
int gh__drt_listen(gh__drt *d, const char *host, uint16_t port);
void gh__drt_retire(gh__drt *d); /* stop listening; free when unused */
void gh__drt_unref(gh__drt *d);
void gh__drt_set_error(gh__drt *d, int32_t status, const char *msg);
/* Puts "FILE:LINE: " of c's section before err (when c comes from a file). */
void gh__prefix_line(const gh__dest *c, char *err, size_t errlen);
/* `check`: builds side `side` of c (taken) as a start would, handlers'
 * inst_init included, then frees it: 0, or the error with FILE:LINE. */
int gh__dest_try(gh__dest *c, uint32_t side, char *err, size_t errlen);

/* ---- gateways ---- */

struct gh__gw {
  gh__rt *rt;
  char *id;
  const gh__server_gw *scfg; /* server */
  uint8_t *push;             /* server: the destination set it pushes */
  size_t push_len;
  const gh__client_gw *ccfg; /* client */
  SSL_CTX *ctx;              /* client: its TLS context */
  gh__slot *slots;           /* client: servers x connections */
  size_t n_slots;
  gh__tunnel **live; /* tunnels up, for round-robin */
  size_t n_live, cap_live, rr;
  gh__drt **dests;
  size_t n_dests;
  gh__stats st;
  uint64_t reconnects, refusals;
  /* server: its authenticated tunnels, and what its caps refused */
  uint32_t n_tunnels;
  uint64_t tunnels_refused, streams_refused;
  /* Removed by a reload: its tunnels are closed and its destinations
   * retired; the struct stays (tunnels and streams being torn down may
   * still point at it) but nothing finds or reports it. */
  int removed;
};

gh__tunnel *gh__gw_pick(gh__gw *gw); /* next live tunnel, round-robin */
void gh__gw_add_live(gh__gw *gw, gh__tunnel *t);
void gh__gw_del_live(gh__gw *gw, gh__tunnel *t);
gh__drt *gh__gw_find_dest(gh__gw *gw, const char *name, size_t len);
/* Server: the gateway has streams_max streams open; a new one is refused
 * (and counted in gw->streams_refused). */
int gh__gw_streams_full(gh__gw *gw);

/* A client's connection slot: one of `connections` tunnels to one server. */
struct gh__slot {
  gh__gw *gw;
  char *host; /* of the server, as written */
  uint16_t port;
  uint32_t index;
  gh__tunnel *t;
  uv_timer_t retry;
  uv_getaddrinfo_t gai;
  int resolving;
  uint32_t attempts;
  int stopped;
};

/* ---- TLS contexts (tls.c) ---- */

typedef struct gh__tls_files {
  const uint8_t *cert; /* PEM chain */
  size_t cert_len;
  const uint8_t *key;
  size_t key_len;
  const uint8_t *ca; /* PEM: peers must chain to it; NULL for none */
  size_t ca_len;
  const uint8_t *crl; /* PEM CRL(s) checked with ca; NULL for none */
  size_t crl_len;
} gh__tls_files;

/* ---- the admin endpoint (admin.c) ---- */

/* Why a tunnel failed before it was up: X(ID, "metric label"). */
#define GH__HSF_MAP(X)                                                         \
  X(TLS, "tls")             /* the TLS handshake failed */                     \
  X(CERT, "certificate")    /* a certificate did not verify */                 \
  X(TIMEOUT, "timeout")     /* no handshake within the deadline */             \
  X(CLOSED, "closed")       /* the peer went away during it */                 \
  X(VERSION, "version")     /* another protocol version */                     \
  X(MALFORMED, "malformed") /* a bad hello or welcome */                       \
  X(GATEWAY, "gateway")     /* an unknown gateway */                           \
  X(TOKEN, "token")         /* a wrong token */                                \
  X(SHUTDOWN, "shutdown")   /* the server was stopping */                   \
  X(LIMIT, "limit")         /* the gateway had tunnels_max tunnels up */

enum {
#define GH__HSF_ENUM(id, name) GH__HSF_##id,
  GH__HSF_MAP(GH__HSF_ENUM)
#undef GH__HSF_ENUM
      GH__HSF_COUNT
};
const char *gh__hsf_name(int reason);
int gh__hsf_of_refusal(int32_t refuse_code); /* GH__REFUSE_* -> GH__HSF_* */

typedef struct gh__admin {
  uv_tcp_t tcp;
  void *tls_ctx; /* SSL_CTX of admin.tls.*, or NULL */
  gh__rt *rt;
  int on;
  int n_conns;
} gh__admin;

typedef struct gh__admin_req {
  char method[16];
  char path[256];
} gh__admin_req;

/* Parses the head of a request: >0 its length once "\r\n\r\n" arrived, 0
 * when more is needed, GH_EMSGSIZE past 8 KiB, GH_EPROTO for a bad request
 * line. Safe on any input. */
int gh__admin_parse(const char *buf, size_t len, gh__admin_req *req);
/* The body for a path ("/metrics", "/status"): 0 with *out filled (free it
 * with gh__buf_free) and *type its media type, or GH_ENOENT. */
int gh__admin_render(const gh__rt *rt, const char *path, gh__buf *out,
                     const char **type);
int gh__admin_start(gh__admin *adm, gh__rt *rt, const char *host,
                    uint16_t port, char *err, size_t errlen);
void gh__admin_stop(gh__admin *adm);

/* ---- a server or a client ---- */

struct gh__rt {
  int role;
  const char *subject; /* "server" / "client" */
  gh__server_cfg *scfg;
  gh__client_cfg *ccfg;
  SSL_CTX *ctx; /* server */
  uv_tcp_t listen;
  int listening;
  gh__gw **gws;
  size_t n_gws;
  gh__list tunnels;
  uint32_t keepalive_ms, keepalive_timeout_ms;
  uint32_t drain_ms;
  int stopping;
  uv_timer_t drain_timer;
  uint64_t tunnels_accepted;
  uint64_t hs_failures[GH__HSF_COUNT]; /* by GH__HSF_* */
  /* Server: tunnel connections not yet authenticated, oldest first, and
   * what their caps did (refused at accept, shed to make room). */
  gh__list unauth;
  uint32_t n_unauth;
  uint64_t unauth_refused, unauth_shed;
  uint64_t revoked; /* tunnels a reload closed: token or certificate */
  uint32_t handshake_ms; /* accept to HELLO accepted; 0: GH__HANDSHAKE_MS */
  /* Failures of unauthenticated tunnels are logged once a second, with a
   * count of those not logged. */
  uint64_t fail_quiet_until_ms;
  uint32_t fail_quiet;
  gh__admin admin;
  /* Certificates in memory instead of the files of the configuration
   * (gatehouse demo); set before start. */
  const gh__tls_files *tls_mem;
  uint64_t drain_deadline;
  void (*stop_done)(gh__rt *rt);
  /* Resource side: opens a tunnel's peer asks for connect at most
   * connecting_max at once; up to open_queue_max more wait their turn. */
  uint32_t connecting_max, open_queue_max;
  uint64_t opens_waiting;       /* in the open queues now */
  uint64_t opens_queued_total;  /* that ever waited */
  uint64_t open_queue_timeouts; /* failed by connect_timeout while waiting */
  uint64_t open_queue_full;     /* refused: the queue was full */
};

/* The caller zeroes rt (and may set tls_mem) first. cfg is heap-allocated
 * and the runtime's from now on: a reload replaces and frees it. */
int gh__server_start(gh__rt *rt, gh__server_cfg *cfg, char *err, size_t errlen);
int gh__client_start(gh__rt *rt, gh__client_cfg *cfg, char *err, size_t errlen);
void gh__rt_init(gh__rt *rt, int role, uint32_t keepalive_s,
                 uint32_t keepalive_timeout_s, uint32_t drain_s);
void gh__rt_stop(gh__rt *rt, void (*done)(gh__rt *rt));
/* SIGHUP: re-read the configuration file and apply what changed. An
 * invalid file changes nothing: GH_EINVAL with the reason in err.
 * Otherwise returns how many new destinations could not start (each
 * logged; the others run): 0 when all did. */
int gh__server_reload(gh__rt *rt, const char *path, char *err, size_t errlen);
int gh__client_reload(gh__rt *rt, const char *path, char *err, size_t errlen);
/* Closes the tunnels of gw, retires its destinations, marks it removed. */
void gh__gw_remove(gh__gw *gw, const char *why);
/* A bind address (host may be NULL or a name); 0 or GH_ENOTFOUND. */
int gh__sockaddr_resolve(const char *host, uint16_t port,
                         struct sockaddr_storage *ss);

/* Server: the source of a connection as unauth_per_source counts it: an
 * IPv4 address (IPv4-mapped IPv6 alike), or the /64 of an IPv6 address,
 * since one host commonly holds a whole /64. Zero for another family. */
void gh__source_key(const struct sockaddr *sa, uint8_t key[16]);
/* Server: logs why an unauthenticated tunnel failed, at most once a
 * second (a flood of them must not flood the log). */
void gh__server_log_failure(gh__tunnel *t, const char *why);
/* Server side of the tunnel's first exchange. */
int gh__server_on_hello(gh__tunnel *t, const gh__frame *f);
void gh__server_on_notice(gh__tunnel *t, const gh__frame *f);
/* Client side. */
int gh__client_on_welcome(gh__tunnel *t, const gh__frame *f);
void gh__client_send_hello(gh__tunnel *t);
int gh__client_on_config(gh__tunnel *t, const uint8_t *p, size_t len);
void gh__client_tunnel_gone(gh__tunnel *t);

/* ---- tunnels ---- */

#define GH__T_TLS 1   /* TLS handshake */
#define GH__T_HELLO 2 /* waiting for HELLO (server) / WELCOME (client) */
#define GH__T_UP 3
#define GH__T_CLOSING 4

struct gh__tunnel {
  gh__rt *rt;
  gh__gw *gw; /* known after HELLO */
  gh__slot *slot;
  uv_tcp_t tcp;
  uv_timer_t timer; /* handshake deadline, then keepalive */
  SSL *ssl;
  BIO *rbio, *wbio;
  int state;
  uint8_t *rx;
  size_t rx_len, rx_cap;
  uint8_t *stage;
  size_t stage_len, stage_cap;
  size_t wq_bytes; /* encrypted bytes in uv_write flight */
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

/* ---- streams ---- */

#define GH__S_NEW 0     /* accepted / connecting, chain starting */
#define GH__S_OPENING 1 /* OPEN sent, waiting for OPEN_OK */
#define GH__S_OPEN 2
#define GH__S_CLOSING 3

struct gh__stream {
  gh__map_node mnode; /* key: stream id, in t->streams */
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
  gh__buf out;             /* read, waiting for credit or room */
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
  gh_link links[]; /* n_links: [0] the transport */
};

/* Mux, called by the tunnel for each stream frame. */
void gh__mux_frame(gh__tunnel *t, const gh__frame *f);
/* End every datagram stream of t (the process is stopping). */
void gh__mux_end_dgrams(gh__tunnel *t);
/* The tunnel is gone: reset and detach every stream. */
void gh__mux_tunnel_down(gh__tunnel *t);
/* Send what streams have waiting, round-robin, while the tunnel can. */
void gh__mux_pump(gh__tunnel *t);
/* Emit the WINDOW frames owed. */
void gh__mux_credit_flush(gh__tunnel *t);
/* Starts the queued opens that the connecting limit now allows (at the end
 * of a loop turn, so never inside a transport's callback). */
void gh__mux_open_next(gh__tunnel *t);
/* A stream of the peer's finished connecting (either way): one less in
 * t->peer_opening, and the queue may move. */
void gh__mux_connect_done(gh__stream *s);
/* connecting_max changed (a reload): the queues may move now. */
void gh__mux_limits_changed(gh__rt *rt);
/* Sends the small credit that was waiting for a frame to ride with. */
void gh__mux_lazy_flush(void);
/* The transport wrote n bytes that came from the tunnel. */
void gh__mux_written(gh__stream *s, uint32_t n);
int gh__mux_attach(gh__tunnel *t, gh__stream *s, uint32_t id);
void gh__mux_detach(gh__stream *s);

/* The top of the chain (core side): bytes / EOF for the tunnel. */
void gh__stream_up(gh__stream *s, const uint8_t *data, uint32_t len);
void gh__stream_up_eof(gh__stream *s);
/* From the tunnel, down the chain. */
int gh__stream_down(gh__stream *s, const uint8_t *data, uint32_t len);
/* A datagram from the tunnel, for a datagram stream's transport. */
void gh__stream_dgram_down(gh__stream *s, const uint8_t *data, uint32_t len);
void gh__stream_down_eof(gh__stream *s);
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
/* Listen side: the peer answered our OPEN. */
void gh__stream_opened(gh__stream *s);
const char *gh__stream_subject(const gh__stream *s, char *buf, size_t len);
void gh__reap_run(void);
gh_link *gh__stream_accept(gh_listener *ln, void *data, const gh_addr *peer,
                           const gh_addr *local);
void gh__stream_link_ready(gh_link *l, int32_t status);
void gh__stream_link_closed(gh_link *l);
int gh__stream_transport_write(gh__stream *s, const uint8_t *data,
                               uint32_t len);

SSL_CTX *gh__tls_server_ctx(const gh__tls_files *f, char *err, size_t errlen);
SSL_CTX *gh__tls_client_ctx(const gh__tls_files *f, char *err, size_t errlen);
/* The same from PEM files (any of them may be NULL); the key's bytes are
 * wiped once loaded. NULL with the reason in err. */
SSL_CTX *gh__tls_ctx_from_files(int server, const char *cert, const char *key,
                                const char *ca, const char *crl, char *err,
                                size_t errlen);
/* 1 when a CRL of ctx revokes the peer's certificate (or one of its
 * verified chain): for the tunnels up when a reload brings a new CRL. */
int gh__tls_peer_revoked(SSL *ssl, SSL_CTX *ctx);
/* The last OpenSSL error as text (and clears the queue). */
const char *gh__tls_error(char *buf, size_t len);

#endif
