/* A server or a client as the data engine sees it (runtime.c starts and
 * stops it): its tunnels, its gateways, its limits and counters, and the
 * callbacks and hooks its role installs. The engine never names a role:
 * it calls what the role put here. */
#ifndef GH_RUNTIME_H
#define GH_RUNTIME_H

#include <openssl/ssl.h>
#include <uv.h>

#include "config.h"
#include "frame.h"
#include "tls.h"
#include "types.h"
#include "util.h"

#define GH__ROLE_SERVER 1
#define GH__ROLE_CLIENT 2

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
typedef struct gh__admin {
  uv_tcp_t tcp;
  void *tls_ctx; /* SSL_CTX of admin.tls.*, or NULL */
  gh__rt *rt;
  int on;
  int n_conns;
} gh__admin;

/* What a role (server or client) does at a tunnel's turning points. The
 * role installs them on its runtime (rt->tunnel_cbs) before its first
 * tunnel, as libuv hands a handle its callbacks; the tunnel itself knows
 * frames, TLS and credit only. Any of them may be NULL. */
typedef struct gh__tunnel_cbs {
  /* The TLS handshake finished (the client sends its HELLO). */
  void (*on_tls_up)(gh__tunnel *t);
  /* A frame before the tunnel is up (HELLO; WELCOME or REFUSE):
   * GH_EPROTO when the role expects no such frame. */
  int (*on_first_frame)(gh__tunnel *t, const gh__frame *f);
  /* CONFIG or NOTICE: GH_EPROTO when the role takes no such frame. */
  int (*on_control)(gh__tunnel *t, const gh__frame *f);
  /* The tunnel starts closing: release what the role counted for it. */
  void (*on_closing)(gh__tunnel *t);
  /* The tunnel closed: its streams are already gone. */
  void (*on_gone)(gh__tunnel *t);
  /* The TLS context of now for t when it checks a CRL (a reload may have
   * replaced the one t's handshake began with), or NULL. */
  SSL_CTX *(*crl_ctx)(gh__tunnel *t);
  /* Logs why a tunnel failed before it was up (else a warning). */
  void (*log_failure)(gh__tunnel *t, const char *why);
} gh__tunnel_cbs;

/* Admission of a resource whose addresses are known, before connect: 0,
 * or GH_EDENIED with the reason (a whole log line) in why. */
typedef int (*gh__admit_fn)(const gh__drt *d, const gh_addr *addrs, size_t n,
                            char *why, size_t len);

/* Admission of a Unix-socket resource before connect: 0 with the path to
 * open in real (reallen bytes), or a negative code with the reason (a
 * whole log line) in why: GH_EDENIED for a refusal. */
typedef int (*gh__admit_path_fn)(const gh__drt *d, const char *path, char *real,
                                 size_t reallen, char *why, size_t len);

struct gh__rt {
  const gh__tunnel_cbs *tunnel_cbs;
  gh__admit_fn admit;           /* NULL: every resource is admitted */
  gh__admit_path_fn admit_path; /* NULL: every socket path is admitted */
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

void gh__rt_init(gh__rt *rt, int role, uint32_t keepalive_s,
                 uint32_t keepalive_timeout_s, uint32_t drain_s);
void gh__rt_stop(gh__rt *rt, void (*done)(gh__rt *rt));

#endif
