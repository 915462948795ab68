/*
 * gatehouse SDK, ABI 1: the only interface between the core and a plugin.
 *
 * A plugin is a shared object that exports exactly one symbol,
 * `gh_plugin_entry`, a function returning a pointer to a static const
 * gh_plugin. The core checks that descriptor's header (ABI major and minor,
 * struct size) before it calls anything else in the plugin, then calls
 * init() once with the host API table. Everything the plugin may ask of the
 * core goes through that table; the core exports no symbols.
 *
 * Terms
 *   handler   the code of one protocol on one side of a destination. A
 *             transport owns sockets (tcp, udp); a layer transforms the bytes
 *             of a stream with no socket of its own (tls, http).
 *   chain     a side of a destination: one transport then zero or more
 *             layers, e.g. "tcp+tls+http".
 *   instance  (gh_inst) one handler configured on one side of one
 *             destination: its options and its per-destination state.
 *   stream    one application connection (or one UDP session) on one side.
 *   link      (gh_link) one handler's place in one stream's chain.
 *   up        toward the tunnel;  down  toward the application's or the
 *             resource's socket.
 *
 * Rules that hold for every function below
 *   - 0 is success, a negative GH_E* code a failure; a call that fails never
 *     also calls its callback.
 *   - Buffers passed as `const uint8_t *data, uint32_t len` are borrowed for
 *     the duration of the call only: copy what you keep.
 *   - Strings returned by the host are owned by the host and live as long as
 *     the handle they came from, unless stated otherwise.
 *   - Everything runs on the core's one event-loop thread. No function of
 *     the host table may be called from another thread.
 *   - The core never calls a handler's close() from inside one of that
 *     handler's own callbacks; teardown requested with abort() happens after
 *     the current callback returns.
 *   - Structs carry only fixed-width integers, pointers and opaque handles.
 *     New members are only ever appended; a reader checks `size` before it
 *     touches a member added after ABI 1.0.
 */
#ifndef GATEHOUSE_H
#define GATEHOUSE_H

#include <stddef.h>
#include <stdint.h>

#include "gatehouse/version.h"

#ifdef __cplusplus
extern "C" {
#endif

#define GH_EXPORT __attribute__((visibility("default")))
/* An anonymous union (C11, C++) stays quiet under -std=c99 -pedantic. */
#if defined(__GNUC__) || defined(__clang__)
#define GH__EXTENSION __extension__
#else
#define GH__EXTENSION
#endif
#if defined(__GNUC__) || defined(__clang__)
#define GH_PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))
#else
#define GH_PRINTF(fmt, args)
#endif

/* ---------------------------------------------------------------- errors */

/* X(name, value, message). Values are Linux errno values, negated, where one
 * fits (libuv's UV_E* codes on Linux are the same numbers), and gatehouse's
 * own codes below -4000 otherwise. */
#define GH_ERRNO_MAP(X)                                                        \
  X(EPERM, -1, "operation not permitted")                                      \
  X(ENOENT, -2, "no such file or directory")                                   \
  X(EIO, -5, "input/output error")                                             \
  X(EAGAIN, -11, "resource temporarily unavailable")                           \
  X(ENOMEM, -12, "out of memory")                                              \
  X(EACCES, -13, "permission denied")                                          \
  X(EBUSY, -16, "resource busy")                                               \
  X(EEXIST, -17, "already exists")                                             \
  X(EINVAL, -22, "invalid argument")                                           \
  X(EMFILE, -24, "too many open files")                                        \
  X(EPIPE, -32, "broken pipe")                                                 \
  X(ERANGE, -34, "value out of range")                                         \
  X(EPROTO, -71, "protocol error")                                             \
  X(EMSGSIZE, -90, "message too long")                                         \
  X(ENOTSUP, -95, "operation not supported")                                   \
  X(EADDRINUSE, -98, "address already in use")                                 \
  X(EADDRNOTAVAIL, -99, "address not available")                               \
  X(ENETUNREACH, -101, "network is unreachable")                               \
  X(ECONNABORTED, -103, "connection aborted")                                  \
  X(ECONNRESET, -104, "connection reset by peer")                              \
  X(ETIMEDOUT, -110, "timed out")                                              \
  X(ECONNREFUSED, -111, "connection refused")                                  \
  X(EHOSTUNREACH, -113, "host is unreachable")                                 \
  X(ECANCELED, -125, "operation canceled")                                     \
  X(ENOTFOUND, -3008, "host name not found")                                   \
  X(EDENIED, -4001, "refused by the access list")                              \
  X(ENODEST, -4002, "no such destination")                                     \
  X(ENOTUNNEL, -4003, "no tunnel is up for the gateway")                       \
  X(EHANDSHAKE, -4004, "handshake failed")                                     \
  X(ECERT, -4005, "certificate verification failed")                           \
  X(ELIMIT, -4006, "limit exceeded")                                           \
  X(ESHUTDOWN, -4007, "shutting down")

enum {
  GH_OK = 0,
  /* Returned by layer open(): the link becomes ready later, through
   * host->ready(). */
  GH_PENDING = 1,
#define GH__ERR_ENUM(name, value, msg) GH_##name = (value),
  GH_ERRNO_MAP(GH__ERR_ENUM)
#undef GH__ERR_ENUM
};

/* The message of an error code; never NULL. */
static inline const char *gh_strerror(int32_t err) {
  switch (err) {
  case 0:
    return "success";
#define GH__ERR_MSG(name, value, msg)                                          \
  case (value):                                                                \
    return msg;
    GH_ERRNO_MAP(GH__ERR_MSG)
#undef GH__ERR_MSG
  default:
    return "unknown error";
  }
}

/* The symbolic name of an error code ("ECONNREFUSED"); never NULL. */
static inline const char *gh_errname(int32_t err) {
  switch (err) {
  case 0:
    return "OK";
#define GH__ERR_NAME(name, value, msg)                                         \
  case (value):                                                                \
    return #name;
    GH_ERRNO_MAP(GH__ERR_NAME)
#undef GH__ERR_NAME
  default:
    return "EUNKNOWN";
  }
}

/* ------------------------------------------------------------- constants */

/* Log levels. */
#define GH_LOG_ERROR 0
#define GH_LOG_WARN 1
#define GH_LOG_INFO 2
#define GH_LOG_DEBUG 3
#define GH_LOG_TRACE 4

/* gh_handler.kind */
#define GH_KIND_TRANSPORT 1u
#define GH_KIND_LAYER 2u

/* gh_handler.name: a lower-case letter or digit, then up to 31 more of
 * them or '-'. The loader refuses any other name. */
#define GH_HANDLER_NAME_MAX 32
#define GH_HANDLER_NAME_RULE "[a-z0-9][a-z0-9-]{0,31}"

/* gh_handler.flags */
#define GH_HANDLER_DGRAM 0x1u /* transport: carries datagrams, not bytes */
/* ABI 1.2. Transport: its endpoints are Unix socket paths, not HOST:PORT.
 * listen() and connect() get the path as `host` and 0 as `port`; the core
 * calls connect(), never connect_addr(), for it, with the path the client's
 * [acl] admitted (symbolic links resolved). gh_link_info.resource_host is
 * the path as configured, resource_port 0. */
#define GH_HANDLER_UNIX 0x2u

/* Sides of a destination. */
#define GH_SIDE_LISTEN 1u
#define GH_SIDE_RESOURCE 2u

/* gh_link_info.flags */
#define GH_LINK_DGRAM 0x1u /* every send_up()/write() is one datagram */

/* gh_addr.family */
#define GH_AF_NONE 0u
#define GH_AF_INET 4u
#define GH_AF_INET6 6u
/* ABI 1.2: a Unix-socket peer, which has no address: addr and port are 0.
 * The tunnel carries it as GH_AF_NONE (the other end sees no address), and
 * an `allow` list refuses it as it refuses anything without an IP address. */
#define GH_AF_UNIX 7u

/* gh_option.type */
#define GH_OPT_STRING 1u /* any text */
#define GH_OPT_INT 2u    /* decimal integer within [min, max] */
#define GH_OPT_BOOL 3u   /* yes|no|true|false|on|off|1|0 */
#define GH_OPT_FILE 4u   /* a path; the core reads the file (see opt_blob) */
/* ---- ABI 1.2 ---- */
#define GH_OPT_ENUM 5u /* one of the words of gh_option.choices */

/* gh_option.flags */
#define GH_OPT_MULTI 0x1u    /* the key may be given several times */
#define GH_OPT_REQUIRED 0x2u /* the key must be given */

/* ------------------------------------------------------------- handles */

typedef struct gh_inst gh_inst;         /* a handler on one destination side */
typedef struct gh_link gh_link;         /* a handler's place in one stream */
typedef struct gh_listener gh_listener; /* a transport's listening endpoint */
typedef struct gh_timer gh_timer;       /* a one-shot or repeating timer */

/* An IP address and port (or a family without one: GH_AF_NONE,
 * GH_AF_UNIX). 24 bytes. */
typedef struct gh_addr {
  uint16_t family; /* GH_AF_* */
  uint16_t port;   /* host byte order */
  uint32_t scope_id;
  uint8_t addr[16]; /* network byte order; IPv4 in the first 4 bytes */
} gh_addr;

/* What a link knows about its stream. Filled by host->link_info(); the
 * caller sets `size` to sizeof(gh_link_info) first, and reads a member added
 * after ABI 1.0 only when the core's ABI minor (gh_host.abi_minor) has it.
 * Strings live as long as the link. */
typedef struct gh_link_info {
  uint32_t size;
  uint32_t side;  /* GH_SIDE_* */
  uint32_t flags; /* GH_LINK_* */
  uint16_t resource_port;
  uint16_t reserved;
  uint64_t stream_id;        /* the tunnel stream, 0 until it is opened; kept
                                through close() */
  const char *destination;   /* the destination's name */
  const char *gateway;       /* the gateway's id */
  const char *resource_host; /* as configured, before name resolution */
  gh_addr peer;              /* the application's address, on both sides */
  gh_addr local;             /* listen side: where the application arrived */
  /* ---- ABI 1.1 ---- */
  /* The destination's chains, aliases expanded, blanks removed: e.g.
   * "tcp+tls+http". A layer learns from them what the other side speaks
   * (the http layer's X-Forwarded-Proto). */
  const char *listen_chain;
  const char *resource_chain;
} gh_link_info;

/* The size of gh_link_info in ABI 1.0; link_info() accepts any size from it
 * up and fills the members that fit. */
#define GH_LINK_INFO_SIZE_1_0 ((uint32_t)offsetof(gh_link_info, listen_chain))

/* An option a handler accepts, declared as data. In a configuration it is
 * written HANDLER.NAME (both sides) or SIDE.HANDLER.NAME (one side). The
 * core validates type, range, choice, presence and file readability with
 * FILE:LINE before inst_init() runs.
 *
 * GH_OPT_ENUM (ABI 1.2): `choices` lists the accepted words, 1 to
 * GH_OPT_CHOICES_MAX of them, each of [A-Za-z0-9._+-]{1,63}, unique, then
 * NULL; a value must be one of them exactly (case matters), and `def`, when
 * set, too. opt_get() returns the word as written. The array is static and
 * const in the plugin, like the option. A plugin whose descriptor says ABI
 * 1.0 or 1.1 cannot declare it (the loader refuses the file).
 *
 * gh_option has no size member and lives in arrays, so it can never grow:
 * `choices` shares its storage with `min`, which only GH_OPT_INT reads.
 * The layout is that of ABI 1.0. */
#define GH_OPT_CHOICES_MAX 32
typedef struct gh_option {
  const char *name;
  uint32_t type;  /* GH_OPT_* */
  uint32_t flags; /* GH_OPT_MULTI | GH_OPT_REQUIRED */
  GH__EXTENSION union {
    int64_t min; /* GH_OPT_INT: inclusive bounds */
    /* ---- ABI 1.2 ---- GH_OPT_ENUM: the words, NULL-terminated */
    const char *const *choices;
  };
  int64_t max;      /* GH_OPT_INT; unused otherwise */
  const char *def;  /* default, as configuration text; NULL for none */
  const char *help; /* one line, shown by `gatehouse plugins` */
} gh_option;

/* ------------------------------------------------------------- host API */

typedef void (*gh_timer_cb)(gh_timer *timer, void *arg);

/* The core's functions for plugins. Passed to gh_plugin.init(); valid until
 * fini() returns. Append-only: members are never removed, reordered or
 * changed; a changed signature becomes a new `_v2` member at the end. A
 * plugin built for a newer minor checks `size` before using a newer member. */
typedef struct gh_host {
  uint32_t size; /* sizeof(gh_host) in the core */
  uint32_t abi_major;
  uint32_t abi_minor;
  uint32_t reserved;

  /* ---- ABI 1.0 ---- */

  /* Logging. log() prefixes the line with time, level, and, when link is
   * not NULL, its destination and stream. Check log_enabled() before costly
   * formatting; GH_LOG() below does. Never log secrets. */
  int32_t (*log_enabled)(int32_t level);
  void (*log)(int32_t level, const gh_link *link, const char *fmt, ...)
      GH_PRINTF(3, 4);

  /* Memory, the core's allocator. free(NULL) is a no-op. */
  void *(*alloc)(size_t size);
  void *(*realloc)(void *ptr, size_t size);
  void (*free)(void *ptr);

  /* The event loop: a `uv_loop_t *` for transports, which use libuv's
   * stable 1.x API on it. Layers should not need it. */
  void *(*uv_loop)(void);

  /* Timers. timer_new() returns NULL when out of memory. timer_start()
   * (re)arms it: first after `ms`, then every `repeat_ms` if not 0.
   * timer_free() stops and frees it, and may be called from its own
   * callback. */
  gh_timer *(*timer_new)(gh_timer_cb cb, void *arg);
  int32_t (*timer_start)(gh_timer *timer, uint64_t ms, uint64_t repeat_ms);
  void (*timer_stop)(gh_timer *timer);
  void (*timer_free)(gh_timer *timer);

  /* Instances. An instance lives from inst_init() to inst_free(). */
  void *(*inst_data)(const gh_inst *inst);
  void (*inst_set_data)(gh_inst *inst, void *data);
  uint32_t (*inst_side)(const gh_inst *inst); /* GH_SIDE_* */
  const char *(*inst_destination)(const gh_inst *inst);

  /* Option values of an instance, validated against the declaration.
   * opt_get: the index-th value given for `name`, or for index 0 the
   * default when none was given; NULL when there is none.
   * For a GH_OPT_ENUM option it is one of the declared words, as declared.
   * opt_count: how many values were given (0 when only the default).
   * opt_int / opt_bool: the value (or default) parsed; 0 when unset.
   * opt_blob: the content of a GH_OPT_FILE option, read by the core when
   * the configuration was loaded (on the client, carried in the tunnel);
   * borrowed until inst_free(). Returns GH_ENOENT when the option is unset. */
  const char *(*opt_get)(const gh_inst *inst, const char *name, uint32_t index);
  uint32_t (*opt_count)(const gh_inst *inst, const char *name);
  int64_t (*opt_int)(const gh_inst *inst, const char *name);
  int32_t (*opt_bool)(const gh_inst *inst, const char *name);
  int32_t (*opt_blob)(const gh_inst *inst, const char *name,
                      const uint8_t **data, uint32_t *len);

  /* Listeners (transports). */
  void *(*listener_data)(const gh_listener *listener);
  void (*listener_set_data)(gh_listener *listener, void *data);
  gh_inst *(*listener_inst)(const gh_listener *listener);
  /* After unlisten(): the transport has released everything it held for
   * this listener. The handle is dead when this returns. */
  void (*listener_closed)(gh_listener *listener);

  /* Links. */
  void *(*link_data)(const gh_link *link);
  void (*link_set_data)(gh_link *link, void *data);
  gh_inst *(*link_inst)(const gh_link *link);
  int32_t (*link_info)(const gh_link *link, gh_link_info *info);

  /* A transport accepted an application (a TCP connection, or the first
   * datagram of a new UDP source). `link_data` becomes the new link's data
   * before any callback runs. Returns the transport's link of the new
   * stream, or NULL when the core refuses it (allow-list, limits): the
   * transport then closes what it accepted and forgets it. The core may call
   * the transport's read_start() before accept() returns. */
  gh_link *(*accept)(gh_listener *listener, void *link_data,
                     const gh_addr *peer, const gh_addr *local);

  /* The link finished its asynchronous start: a transport's connect(), or a
   * layer's open() that returned GH_PENDING (e.g. a TLS handshake). status
   * 0 is success; a negative status fails the stream with that reason. */
  void (*ready)(gh_link *link, int32_t status);

  /* Pass bytes up, toward the tunnel: a transport with what it read, a layer
   * with what it produced from up(). For a datagram link, one call is one
   * datagram. Returns 0, or a negative code when the stream is gone (the
   * caller stops).
   * Re-entrance: send_up() runs the next layer's up() at once, and a layer
   * that answers at once (a TLS handshake) calls send_down() from there,
   * which runs THIS link's down() before send_up() returns. Likewise
   * send_down() may run this link's up() (a layer below answering at once)
   * and a transport's write() may call written(). The core adds no other
   * re-entrance: it never calls close() from inside a callback of the
   * link's handler. Keep the link's state consistent before each call. */
  int32_t (*send_up)(gh_link *link, const uint8_t *data, uint32_t len);
  /* Pass bytes down, toward the socket; layers only. */
  int32_t (*send_down)(gh_link *link, const uint8_t *data, uint32_t len);
  /* The application or resource finished sending (transport), or the layer
   * has nothing more to pass up. */
  void (*eof_up)(gh_link *link);
  /* The layer has nothing more to pass down; the transport will half-close
   * after the bytes already written. */
  void (*eof_down)(gh_link *link);

  /* Transport: `len` bytes given to write() have reached the socket. May be
   * called from inside write(). The core returns flow-control credit with
   * it, so call it only once the bytes are really written. */
  void (*written)(gh_link *link, uint32_t len);

  /* The stream cannot go on (socket error, protocol error, timeout): the
   * core tears the whole stream down, passing `reason` to the other end.
   * reason 0 ends it in order instead: the transport's close() gets 0 and
   * still writes what was passed down (e.g. a layer's error answer before
   * it hangs up); the other end sees a reset either way.
   * Safe from inside a callback; the handler's close() comes later. */
  void (*abort)(gh_link *link, int32_t reason);

  /* Transport: after close(), everything held for the link is released
   * (e.g. in the uv_close callback). The link is dead when this returns. */
  void (*closed)(gh_link *link);
} gh_host;

/* Whether the host table has the function `member`: the core's table is at
 * least as large as the member's end, and the member is set. A plugin
 * checks, in init(), the newest member it calls (e.g. GH_HOST_HAS(host,
 * closed)): members are only ever appended, so the older ones are there
 * too. Evaluates `host` more than once. */
#define GH_HOST_HAS(host, member)                                              \
  ((host)->size >= offsetof(gh_host, member) + sizeof((host)->member) &&       \
   (host)->member != NULL)

/* Checks the level before it evaluates the arguments. */
#define GH_LOG(host, level, link, ...)                                         \
  do {                                                                         \
    if ((host)->log_enabled(level))                                            \
      (host)->log((level), (link), __VA_ARGS__);                               \
  } while (0)

/* ------------------------------------------------------------ handlers */

/* One protocol handler. Static and const in the plugin. Members a kind does
 * not use are NULL. The loader refuses a handler whose mandatory callbacks
 * for its kind are missing:
 *   transport: listen, unlisten, connect, write, shutdown, read_start,
 *              read_stop, close
 *   layer:     open, up, down, up_eof, down_eof, close
 */
typedef struct gh_handler {
  uint32_t size; /* sizeof(gh_handler) as the plugin was built */
  uint32_t kind; /* GH_KIND_* */
  uint32_t flags;
  uint32_t n_options;
  /* GH_HANDLER_NAME_RULE, unique among all loaded handlers: it is what a
   * chain ("tcp+tls") and an option key ("tls.cert") are written with. */
  const char *name;
  const char *help;
  const gh_option *options; /* n_options entries */

  /* Both kinds, optional. inst_init() runs when a destination using the
   * handler is configured (at start-up, on reload, and on the client when
   * the server pushes its destinations). It may keep state with
   * inst_set_data(). On failure it writes a one-line reason into err
   * (errlen bytes, NUL-terminated) and returns a negative code; inst_free()
   * is then not called. inst_free() releases the state; no link or listener
   * of the instance is alive by then. */
  int32_t (*inst_init)(gh_inst *inst, char *err, uint32_t errlen);
  void (*inst_free)(gh_inst *inst);

  /* ---- transports ---- */

  /* Bind and listen on host:port for the listener's instance; report each
   * new application with host->accept(). Returns 0 or a negative code
   * (e.g. GH_EADDRINUSE); synchronous. */
  int32_t (*listen)(gh_listener *listener, const char *host, uint16_t port);
  /* Stop listening; call host->listener_closed() once released. Streams
   * already accepted live on. */
  void (*unlisten)(gh_listener *listener);
  /* Connect the link to host:port (host is numeric: the core resolved and
   * access-checked it). Give up after timeout_ms (0: no limit). Report the
   * result with host->ready(). */
  int32_t (*connect)(gh_link *link, const char *host, uint16_t port,
                     uint32_t timeout_ms);
  /* Send len bytes (one datagram on a datagram link). The data is borrowed:
   * write it now or copy it. Report with host->written() when written. */
  int32_t (*write)(gh_link *link, const uint8_t *data, uint32_t len);
  /* Half-close: send EOF after everything written so far. */
  int32_t (*shutdown)(gh_link *link);
  /* Flow control: start or stop passing what arrives to host->send_up().
   * Reading is stopped when a link is born. Both are idempotent. */
  void (*read_start)(gh_link *link);
  void (*read_stop)(gh_link *link);

  /* ---- both kinds ---- */

  /* Release the link. reason 0: an orderly end (a transport lets queued
   * bytes go out first); negative: an abortive end (a TCP transport resets
   * the connection). A transport calls host->closed() when done, possibly
   * later; a layer is done when close() returns.
   * Layers are closed top down, then the transport. Inside close(), for
   * this link (its stream id is still set: log lines carry "#N"):
   *   log, log_enabled                      yes
   *   link_data, link_set_data, link_inst,  yes (read the state, free it,
   *   link_info                                 clear the slot)
   *   inst_*, opt_* of the link's instance  yes
   *   alloc, realloc, free, timer_*         yes (free the link's timers)
   *   uv_loop                               yes (transports)
   *   closed                                transports: now or later
   *   ready, send_up, send_down, eof_up,    no: the stream is ending; the
   *   eof_down, written, abort                  core ignores them (send_*
   *                                             return GH_ECANCELED)
   * After close() returns a layer's link is dead; a transport's link takes
   * only closed() and log() until closed(), and nothing after. */
  void (*close)(gh_link *link, int32_t reason);

  /* ---- layers ---- */

  /* A stream is starting. Return 0 when ready, GH_PENDING to call
   * host->ready() later (after a handshake), or a negative code. The
   * transport below is connected when this is called. */
  int32_t (*open)(gh_link *link);
  /* Bytes from below (the socket side). Pass results on with
   * host->send_up(); return a negative code to abort the stream. */
  int32_t (*up)(gh_link *link, const uint8_t *data, uint32_t len);
  /* Bytes from above (the tunnel side). Pass results on with
   * host->send_down(). */
  int32_t (*down)(gh_link *link, const uint8_t *data, uint32_t len);
  /* EOF from below / from above. Pass it on with eof_up() / eof_down() when
   * the layer has flushed what it holds. */
  void (*up_eof)(gh_link *link);
  void (*down_eof)(gh_link *link);

  /* ---- ABI 1.2 ---- */

  /* Transports, optional: connect the link to the address the core
   * resolved and access-checked (port included), as connect() does with
   * its text. A core of ABI 1.2 or later calls it instead of connect()
   * when it is set; an older core never reads it, so a transport keeps
   * connect() too (the loader requires it). */
  int32_t (*connect_addr)(gh_link *link, const gh_addr *addr,
                          uint32_t timeout_ms);
} gh_handler;

/* The size of an ABI 1.1 handler: the core reads connect_addr only from a
 * handler whose size is larger. */
#define GH_HANDLER_SIZE_1_1 ((uint32_t)offsetof(gh_handler, connect_addr))

/* ------------------------------------------------------------- plugins */

/* A name that stands for a whole chain, declared by a plugin as data: a
 * side whose protocol is exactly the alias ("https") runs the chain
 * ("tcp+tls+http"). Inside a chain every name is a handler, never an alias.
 * The name follows the handler rule ([a-z0-9][a-z0-9-]{0,31}) and is unique
 * among every handler and alias loaded, except that it may be the name of a
 * layer of the same plugin (tls.so: the layer "tls" and the alias
 * "tls" = "tcp+tls"). The chain's handlers may come from other plugins;
 * they are looked up when a destination uses the alias. An array element:
 * this struct never grows. */
typedef struct gh_alias {
  const char *name;  /* "https" */
  const char *chain; /* "tcp+tls+http": handler names joined by '+' */
} gh_alias;

/* The descriptor. The first four members never move. */
typedef struct gh_plugin {
  uint32_t abi_major; /* GH_ABI_MAJOR the plugin was built with */
  uint32_t abi_minor; /* GH_ABI_MINOR the plugin was built with */
  uint32_t size;      /* sizeof(gh_plugin) as the plugin was built */
  uint32_t n_handlers;
  const char *name;    /* the plugin's name */
  const char *version; /* the plugin's own version */
  const char *description;
  const gh_handler *const *handlers; /* n_handlers entries */
  /* Called once, after the checks, before any handler is used. Keep `host`.
   * Return 0, or a negative code to be refused (and dlclose()d); a
   * positive value is reserved and refuses the plugin too. */
  int32_t (*init)(const gh_host *host);
  /* Optional; called once before dlclose(). */
  void (*fini)(void);

  /* ---- ABI 1.2 ---- */

  /* Optional: the aliases the plugin declares (see gh_alias); static, like
   * the descriptor. A core reads them only from a descriptor whose size
   * covers them; an older core never does. */
  const gh_alias *aliases; /* n_aliases entries, at most 64 */
  uint32_t n_aliases;
  uint32_t reserved; /* 0 */
} gh_plugin;

/* The size of an ABI 1.0 and 1.1 descriptor: the core reads aliases only
 * from a descriptor whose size is larger. */
#define GH_PLUGIN_SIZE_1_1 ((uint32_t)offsetof(gh_plugin, aliases))

#define GH_PLUGIN_ENTRY_NAME "gh_plugin_entry"
typedef const gh_plugin *(*gh_plugin_entry_fn)(void);

/* Defines the plugin's one exported symbol. Use once per plugin:
 *   GH_PLUGIN_ENTRY(my_plugin)   where my_plugin is a static const gh_plugin
 * The function must do nothing but return the descriptor. */
#define GH_PLUGIN_ENTRY(descriptor)                                            \
  GH_EXPORT const gh_plugin *gh_plugin_entry(void);                            \
  GH_EXPORT const gh_plugin *gh_plugin_entry(void) {                           \
    return &(descriptor);                                                      \
  }

/* Initialisers that fill the header with this SDK's version and sizes. */
#define GH_PLUGIN_HEADER                                                       \
  .abi_major = GH_ABI_MAJOR, .abi_minor = GH_ABI_MINOR,                        \
  .size = (uint32_t)sizeof(gh_plugin)
#define GH_HANDLER_HEADER .size = (uint32_t)sizeof(gh_handler)

#ifdef __cplusplus
}
#endif

#endif /* GATEHOUSE_H */
