/* The http layer: HTTP/1.1 aware proxying on a byte stream. Built against
 * the SDK header only; the one exported symbol is gh_plugin_entry.
 *
 * Both sides parse both directions with http_parse.c:
 *   listen side    requests come up from the application (up()), responses
 *                  come down from the tunnel (down()). It enforces the
 *                  limits, answers 400/408/414/431/501/505 itself, and adds
 *                  listen.http.add_header to each final response. open()
 *                  stays pending until the first request head is complete
 *                  and valid, so that a silent or garbage client never
 *                  costs a connection to the resource.
 *   resource side  requests come down from the tunnel (down()), responses
 *                  come up from the resource (up()). It rewrites Host,
 *                  replaces X-Forwarded-For, X-Forwarded-Proto and
 *                  Forwarded with its own, adds resource.http.add_header,
 *                  and turns an absolute-form request-target into
 *                  origin-form.
 * Everything else passes byte for byte. Only a head is ever held (at most
 * max_header bytes, while it arrives in pieces); bodies pass in the pieces
 * they come in. Each direction's output is one send per input call where it
 * can be (the input itself when nothing changes, else one copy).
 *
 * Requests passed on are queued (a byte of flags each) until their final
 * response ends, so that each response is framed knowing its request (HEAD:
 * no body; an upgrade request: 101 switches both directions to raw bytes).
 * An error answer due while earlier responses are still coming waits for
 * them: the client sees every response in order, then the error, then the
 * end of the connection.
 *
 * Ending after an error answer: the answer, then EOF toward the
 * application, then a linger (what the client still sends is read and
 * dropped, so that closing does not reset the connection under the answer)
 * until the client closes or HTTP_LINGER_MS pass; then abort(link, 0).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "gatehouse/gatehouse.h"
#include "http_parse.h"

/* Requests passed on and not yet answered, per connection. */
#define HTTP_QUEUE_MAX 128u
/* How long a connection whose error was answered waits for the client to
 * close before it is closed. */
#define HTTP_LINGER_MS 5000u
/* Bytes of add_header lines per side. */
#define HTTP_ADD_MAX 8192u
#define HTTP_HOST_MAX 255u
/* The largest max_header: the resource side holds a head whole before it
 * writes it, and the tunnel returns credit only for bytes written, so a head
 * must fit in a stream's first window (256 KiB, the core's initial credit). */
#define HTTP_MAX_HEADER_MAX 262144

/* queue flags: HTTP_REQ_HEAD and HTTP_REQ_UPGRADE, and: */
#define Q_CLOSE 0x80u /* the request ends the connection */

static const gh_host *host;

/* ------------------------------------------------------------ options */

typedef struct http_cfg {
  uint32_t side;
  uint32_t max_header;
  uint32_t header_timeout_ms;
  char *host;   /* resource.http.host, or NULL */
  uint8_t *add; /* the add_header lines, each "Name: value\r\n" */
  uint32_t add_len;
} http_cfg;

static const gh_option http_options[] = {
    {.name = "max_header",
     .type = GH_OPT_INT,
     .min = 1024,
     .max = HTTP_MAX_HEADER_MAX,
     .def = "16384",
     .help = "largest head (start line and fields) in bytes, at most 262144; "
             "a larger request is answered 431, or 414 when its "
             "request-target alone is too long"},
    {.name = "header_timeout",
     .type = GH_OPT_INT,
     .min = 1,
     .max = 3600,
     .def = "10",
     .help = "seconds a client has to complete a request head (the first "
             "from its connection, a later one from its first byte); "
             "answered 408"},
    {.name = "host",
     .type = GH_OPT_STRING,
     .help = "resource side: the Host sent to the resource (default: the "
             "resource's host, and :port unless 80 for http, 443 for https)"},
    {.name = "add_header",
     .type = GH_OPT_STRING,
     .flags = GH_OPT_MULTI,
     .help = "\"Name: value\" added to each request sent to the resource "
             "(resource side) or to each final response sent to the "
             "application (listen side); may repeat"},
};

static void set_err(char *err, uint32_t errlen, const char *fmt, ...)
    GH_PRINTF(3, 4);
static void set_err(char *err, uint32_t errlen, const char *fmt, ...) {
  if (!err || !errlen)
    return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err, errlen, fmt, ap);
  va_end(ap);
}

static int is_ows(char c) {
  return c == ' ' || c == '\t';
}

/* Fields this layer owns: an added header must not change the framing, the
 * connection, or the fields the resource side writes itself. */
static int reserved_name(const char *n, size_t len, uint32_t side) {
  static const char *const framing[] = {"host",
                                        "content-length",
                                        "transfer-encoding",
                                        "connection",
                                        "upgrade",
                                        "te",
                                        "trailer",
                                        "keep-alive",
                                        "expect",
                                        "proxy-connection"};
  static const char *const forwarding[] = {"x-forwarded-for",
                                           "x-forwarded-proto", "forwarded"};
  for (size_t i = 0; i < sizeof framing / sizeof framing[0]; i++)
    if (http_name_eq((const uint8_t *)n, len, framing[i]))
      return 1;
  if (side == GH_SIDE_RESOURCE)
    for (size_t i = 0; i < sizeof forwarding / sizeof forwarding[0]; i++)
      if (http_name_eq((const uint8_t *)n, len, forwarding[i]))
        return 1;
  return 0;
}

/* "Name: value" -> "Name: value\r\n" appended to cfg->add. The value may
 * be a secret (Authorization: Bearer ...): no message shows it, nor a name
 * that is not a well-formed name (it may be the value, colon forgotten). */
static int32_t add_header_parse(http_cfg *cfg, const char *v, char *err,
                                uint32_t errlen) {
  const char *colon = strchr(v, ':');
  size_t nl = colon ? (size_t)(colon - v) : 0;
  if (!colon) {
    set_err(err, errlen,
            "http.add_header: no colon: want \"Name: value\" (the value is "
            "not shown, it may be a secret)");
    return GH_EINVAL;
  }
  if (!http_token_valid(v, nl)) {
    set_err(err, errlen,
            "http.add_header: the field name (the %zu bytes before the "
            "colon) must be token characters, with no space before the "
            "colon (it is not shown, it may be a secret)",
            nl);
    return GH_EINVAL;
  }
  if (reserved_name(v, nl, cfg->side)) {
    set_err(err, errlen,
            "http.add_header: %.*s is written by the http layer or decides "
            "the framing; it cannot be added",
            (int)nl, v);
    return GH_EINVAL;
  }
  const char *val = colon + 1, *end = val + strlen(val);
  while (val < end && is_ows(*val))
    val++;
  while (end > val && is_ows(end[-1]))
    end--;
  if (!http_value_valid(val, (size_t)(end - val))) {
    set_err(err, errlen,
            "http.add_header %.*s: the value has a control character (CR, "
            "LF, NUL, ...)",
            (int)nl, v);
    return GH_EINVAL;
  }
  size_t need = nl + 2 + (size_t)(end - val) + 2;
  if (cfg->add_len + need > HTTP_ADD_MAX) {
    set_err(err, errlen, "http.add_header: more than %u bytes of headers",
            HTTP_ADD_MAX);
    return GH_ERANGE;
  }
  uint8_t *b = host->realloc(cfg->add, cfg->add_len + need);
  if (!b) {
    set_err(err, errlen, "http: out of memory");
    return GH_ENOMEM;
  }
  cfg->add = b;
  b += cfg->add_len;
  memcpy(b, v, nl);
  memcpy(b + nl, ": ", 2);
  memcpy(b + nl + 2, val, (size_t)(end - val));
  memcpy(b + need - 2, "\r\n", 2);
  cfg->add_len += (uint32_t)need;
  return 0;
}

static void cfg_free(http_cfg *cfg) {
  if (!cfg)
    return;
  host->free(cfg->host);
  host->free(cfg->add);
  host->free(cfg);
}

static int32_t http_inst_init(gh_inst *inst, char *err, uint32_t errlen) {
  http_cfg *cfg = host->alloc(sizeof *cfg);
  if (!cfg) {
    set_err(err, errlen, "http: out of memory");
    return GH_ENOMEM;
  }
  memset(cfg, 0, sizeof *cfg);
  cfg->side = host->inst_side(inst);
  int64_t mh = host->opt_int(inst, "max_header");
  int64_t ht = host->opt_int(inst, "header_timeout");
  if (mh < 1024 || mh > HTTP_MAX_HEADER_MAX || ht < 1 || ht > 3600) {
    set_err(err, errlen,
            "http.max_header must be 1024..%d and http.header_timeout "
            "1..3600",
            HTTP_MAX_HEADER_MAX);
    cfg_free(cfg);
    return GH_ERANGE;
  }
  cfg->max_header = (uint32_t)mh;
  cfg->header_timeout_ms = (uint32_t)ht * 1000u;

  const char *h = host->opt_get(inst, "host", 0);
  if (h && *h && cfg->side == GH_SIDE_RESOURCE) {
    size_t n = strlen(h);
    if (n > HTTP_HOST_MAX || !http_host_valid(h, n)) {
      set_err(err, errlen,
              "http.host \"%.60s\": want a host name or address, optionally "
              "with :port (at most %u bytes)",
              h, HTTP_HOST_MAX);
      cfg_free(cfg);
      return GH_EINVAL;
    }
    cfg->host = host->alloc(n + 1);
    if (!cfg->host) {
      set_err(err, errlen, "http: out of memory");
      cfg_free(cfg);
      return GH_ENOMEM;
    }
    memcpy(cfg->host, h, n + 1);
  }

  uint32_t n = host->opt_count(inst, "add_header");
  for (uint32_t i = 0; i < n; i++) {
    const char *v = host->opt_get(inst, "add_header", i);
    int32_t r = v ? add_header_parse(cfg, v, err, errlen) : 0;
    if (r < 0) {
      cfg_free(cfg);
      return r;
    }
  }
  host->inst_set_data(inst, cfg);
  return 0;
}

static void http_inst_free(gh_inst *inst) {
  cfg_free(host->inst_data(inst));
  host->inst_set_data(inst, NULL);
}

/* ------------------------------------------------------------ links */

/* One direction of a connection. */
typedef struct hdir {
  http_parser p;
  uint8_t *buf; /* a head that came in pieces, or bytes held (hold) */
  uint32_t len, cap;
  uint8_t up;      /* its output goes up, toward the tunnel */
  uint8_t hold;    /* requests: an upgrade request awaits its response;
                      what follows waits in buf */
  uint8_t discard; /* drop what comes: the direction is finished */
  uint8_t eof_in;  /* its input ended */
  uint8_t eof_out; /* EOF was passed on */
} hdir;

enum { T_NONE, T_HEADER, T_LINGER };

typedef struct hconn {
  gh_link *link;
  const http_cfg *cfg;
  hdir req, resp;
  uint8_t q[HTTP_QUEUE_MAX]; /* flags of the requests awaiting a response */
  uint32_t qhead, qlen;
  uint8_t listen;   /* the listen side */
  uint8_t ready;    /* listen side: ready() was called */
  uint8_t answered; /* this layer answered an error: lingering */
  uint8_t aborted;  /* abort() was called: nothing more is passed */
  uint8_t timer_mode;
  uint16_t err_status; /* an error answer waiting for earlier responses */
  const char *err_why;
  gh_timer *timer;
  /* resource side: the fields it writes, rendered once per stream */
  char *rw;
  size_t host_len; /* "Host: h\r\n" at rw */
  size_t xf_off;   /* "X-Forwarded-For: ..\r\nX-Forwarded-Proto: ..\r\n" */
  size_t xf_len;
  size_t fwd_off; /* "Forwarded: for=..;proto=.." (host= added per request) */
  size_t fwd_len;
} hconn;

static void dir_eof(hconn *c, hdir *d);
static int dir_input(hconn *c, hdir *d, const uint8_t *data, size_t len);

static int out(hconn *c, hdir *d, const void *p, size_t n) {
  if (n == 0 || c->aborted)
    return 0;
  int32_t r = d->up ? host->send_up(c->link, p, (uint32_t)n)
                    : host->send_down(c->link, p, (uint32_t)n);
  return r < 0 ? r : 0;
}

static void eof_out(hconn *c, hdir *d) {
  if (d->eof_out || c->aborted)
    return;
  d->eof_out = 1;
  if (d->up)
    host->eof_up(c->link);
  else
    host->eof_down(c->link);
}

static void timer_stop(hconn *c) {
  if (c->timer && c->timer_mode != T_NONE)
    host->timer_stop(c->timer);
  c->timer_mode = T_NONE;
}

static void conn_abort(hconn *c, int32_t reason) {
  if (c->aborted)
    return;
  c->aborted = 1;
  timer_stop(c);
  host->abort(c->link, reason);
}

static void on_timer(gh_timer *t, void *arg);

static int timer_arm(hconn *c, int mode, uint64_t ms) {
  if (!c->timer) {
    c->timer = host->timer_new(on_timer, c);
    if (!c->timer)
      return GH_ENOMEM;
  }
  c->timer_mode = (uint8_t)mode;
  return host->timer_start(c->timer, ms, 0);
}

static int buf_append(hdir *d, const uint8_t *p, size_t n) {
  if ((size_t)d->len + n > d->cap) {
    size_t cap = d->cap ? d->cap : 1024;
    while (cap < (size_t)d->len + n)
      cap *= 2;
    uint8_t *b = host->realloc(d->buf, cap);
    if (!b)
      return GH_ENOMEM;
    d->buf = b;
    d->cap = (uint32_t)cap;
  }
  memcpy(d->buf + d->len, p, n);
  d->len += (uint32_t)n;
  return 0;
}

static void buf_free(hdir *d) {
  host->free(d->buf);
  d->buf = NULL;
  d->len = d->cap = 0;
}

/* ------------------------------------------------------------ answers */

/* Answers the application with `status` and ends the connection: the
 * answer, EOF after it, then a linger while the client closes. */
static void answer(hconn *c, unsigned status, const char *why) {
  char body[256], msg[640];
  const char *text = http_status_text(status);
  int bl = snprintf(body, sizeof body, "%u %s: %s\n", status, text, why);
  if (bl < 0 || (size_t)bl >= sizeof body)
    bl = (int)strlen(body);
  int n = snprintf(msg, sizeof msg,
                   "HTTP/1.1 %u %s\r\n"
                   "Content-Type: text/plain; charset=utf-8\r\n"
                   "Content-Length: %d\r\n"
                   "Connection: close\r\n"
                   "\r\n"
                   "%s",
                   status, text, bl, body);
  if (n < 0 || (size_t)n >= sizeof msg)
    n = (int)strlen(msg);
  c->answered = 1;
  c->err_status = 0;
  c->req.discard = c->resp.discard = 1;
  c->req.hold = 0;
  timer_stop(c);
  out(c, &c->resp, msg, (size_t)n);
  eof_out(c, &c->resp);
  if (!c->listen)
    eof_out(c, &c->req); /* the resource gets no more requests */
  if (c->listen && c->req.eof_in) {
    conn_abort(c, 0); /* the client is gone already */
    return;
  }
  if (timer_arm(c, T_LINGER, HTTP_LINGER_MS) < 0)
    conn_abort(c, 0);
}

/* The request direction cannot go on. A request refused in its head never
 * went further: answer once the responses already due are out. One refused
 * in its body (its head went on) is answered at once when it is the only
 * one outstanding; otherwise the stream is reset. */
static void request_failed(hconn *c, unsigned status, const char *why,
                           int in_body) {
  hdir *d = &c->req;
  d->discard = 1;
  d->hold = 0;
  if (c->timer_mode == T_HEADER)
    timer_stop(c);
  GH_LOG(host, GH_LOG_INFO, c->link, "http: refused a request: %u %s (%s)",
         status, http_status_text(status), why);
  if (c->answered || c->aborted || c->err_status)
    return;
  uint32_t due = in_body ? 1u : 0u;
  if (c->qlen <= due && http_idle(&c->resp.p)) {
    answer(c, status, why);
    return;
  }
  if (in_body) {
    conn_abort(c, GH_EPROTO);
    return;
  }
  c->err_status = (uint16_t)status;
  c->err_why = why;
}

/* The resource's response is malformed: 502 when none of it went out. */
static void response_failed(hconn *c, const char *why, int in_head) {
  GH_LOG(host, GH_LOG_WARN, c->link, "http: bad response from the resource: %s",
         why);
  c->resp.discard = 1;
  if (c->answered || c->aborted)
    return;
  if (in_head)
    answer(c, 502, why);
  else
    conn_abort(c, GH_EPROTO);
}

static void on_timer(gh_timer *t, void *arg) {
  (void)t;
  hconn *c = arg;
  int mode = c->timer_mode;
  c->timer_mode = T_NONE;
  if (c->aborted)
    return;
  if (mode == T_LINGER) {
    conn_abort(c, 0);
    return;
  }
  if (mode == T_HEADER)
    request_failed(c, 408, "request head not complete within header_timeout",
                   0);
}

/* ------------------------------------------------------------ output */

/* One buffer for every rewritten piece of output: everything runs on the
 * loop thread and send_up()/send_down() copy what they keep. */
static uint8_t *scratch;
static size_t scratch_len, scratch_cap;

static int scratch_add(const void *p, size_t n) {
  if (scratch_len + n > scratch_cap) {
    size_t cap = scratch_cap ? scratch_cap : 4096;
    while (cap < scratch_len + n)
      cap *= 2;
    uint8_t *b = host->realloc(scratch, cap);
    if (!b)
      return GH_ENOMEM;
    scratch = b;
    scratch_cap = cap;
  }
  if (n)
    memcpy(scratch + scratch_len, p, n);
  scratch_len += n;
  return 0;
}

/* What one input call passes on: input bytes [run, ...) not yet sent, and
 * when something was rewritten, the output so far in scratch. */
typedef struct emitter {
  hconn *c;
  hdir *d;
  const uint8_t *base;
  size_t run;
  int copy;
} emitter;

/* Sends what is due up to input offset `upto`. */
static int em_flush(emitter *e, size_t upto) {
  int r = 0;
  if (e->copy) {
    r = scratch_add(e->base + e->run, upto - e->run);
    if (r == 0)
      r = out(e->c, e->d, scratch, scratch_len);
    scratch_len = 0;
    e->copy = 0;
    if (scratch_cap > 256u * 1024u) { /* a rare big head: give it back */
      host->free(scratch);
      scratch = NULL;
      scratch_cap = 0;
    }
  } else if (upto > e->run) {
    r = out(e->c, e->d, e->base + e->run, upto - e->run);
  }
  e->run = upto;
  return r;
}

/* Input from `at` on is replaced: what precedes it is kept, then the caller
 * adds the replacement with scratch_add(), then sets e->run past it. */
static int em_replace(emitter *e, size_t at) {
  if (!e->copy) {
    scratch_len = 0;
    e->copy = 1;
  }
  int r = scratch_add(e->base + e->run, at - e->run);
  e->run = at;
  return r;
}

/* ------------------------------------------------------------ rewriting */

static int chain_has(const char *chain, const char *name) {
  size_t n = strlen(name);
  for (const char *p = chain; p && *p;) {
    const char *plus = strchr(p, '+');
    size_t len = plus ? (size_t)(plus - p) : strlen(p);
    if (len == n && memcmp(p, name, n) == 0)
      return 1;
    p = plus ? plus + 1 : NULL;
  }
  return 0;
}

/* The resource side's own fields, from the stream's facts. */
static int render_rewrite(hconn *c) {
  gh_link_info info;
  memset(&info, 0, sizeof info);
  info.size = (uint32_t)sizeof info;
  if (host->link_info(c->link, &info) < 0)
    return GH_EINVAL;
  const char *lchain = NULL, *rchain = NULL;
  if (host->abi_minor >= 1 &&
      info.size >= offsetof(gh_link_info, resource_chain) + sizeof(char *)) {
    lchain = info.listen_chain;
    rchain = info.resource_chain;
  }
  const char *proto = chain_has(lchain, "tls") ? "https" : "http";

  char hostv[HTTP_HOST_MAX + 16];
  if (c->cfg->host) {
    snprintf(hostv, sizeof hostv, "%s", c->cfg->host);
  } else {
    const char *rh = info.resource_host ? info.resource_host : "";
    unsigned port = info.resource_port;
    unsigned def = chain_has(rchain, "tls") ? 443u : 80u;
    int v6 = strchr(rh, ':') != NULL;
    if (port == def || port == 0)
      snprintf(hostv, sizeof hostv, v6 ? "[%s]" : "%s", rh);
    else
      snprintf(hostv, sizeof hostv, v6 ? "[%s]:%u" : "%s:%u", rh, port);
  }

  char ip[INET6_ADDRSTRLEN] = "";
  char fwd_for[INET6_ADDRSTRLEN + 4] = "unknown";
  if (info.peer.family == GH_AF_INET &&
      inet_ntop(AF_INET, info.peer.addr, ip, sizeof ip))
    snprintf(fwd_for, sizeof fwd_for, "%s", ip);
  else if (info.peer.family == GH_AF_INET6 &&
           inet_ntop(AF_INET6, info.peer.addr, ip, sizeof ip))
    snprintf(fwd_for, sizeof fwd_for, "\"[%s]\"", ip);

  char buf[1024];
  int hl = snprintf(buf, sizeof buf, "Host: %s\r\n", hostv);
  int xl = 0;
  if (ip[0])
    xl =
        snprintf(buf + hl, sizeof buf - (size_t)hl,
                 "X-Forwarded-For: %s\r\nX-Forwarded-Proto: %s\r\n", ip, proto);
  else
    xl = snprintf(buf + hl, sizeof buf - (size_t)hl,
                  "X-Forwarded-Proto: %s\r\n", proto);
  int fl = snprintf(buf + hl + xl, sizeof buf - (size_t)(hl + xl),
                    "Forwarded: for=%s;proto=%s", fwd_for, proto);
  size_t total = (size_t)(hl + xl + fl);
  c->rw = host->alloc(total);
  if (!c->rw)
    return GH_ENOMEM;
  memcpy(c->rw, buf, total);
  c->host_len = (size_t)hl;
  c->xf_off = (size_t)hl;
  c->xf_len = (size_t)xl;
  c->fwd_off = (size_t)(hl + xl);
  c->fwd_len = (size_t)fl;
  return 0;
}

static int starts_with_ci(const uint8_t *p, size_t n, const char *lower) {
  size_t k = strlen(lower);
  return n >= k && http_name_eq(p, k, lower);
}

/* The request line, toward the resource: an absolute-form target
 * ("http://a.example/x") becomes origin-form ("/x"), its authority
 * returned in *auth as the host the client asked for. */
static int put_request_line(const uint8_t *line, size_t len,
                            const uint8_t **auth, size_t *auth_len) {
  const uint8_t *sp1 = memchr(line, ' ', len);
  const uint8_t *sp2 = line + len;
  while (sp2 > line && sp2[-1] != ' ')
    sp2--;
  *auth = NULL;
  *auth_len = 0;
  if (!sp1 || sp2 <= sp1 + 1)
    return scratch_add(line, len); /* cannot be: the parser checked it */
  const uint8_t *t = sp1 + 1, *te = sp2 - 1;
  size_t skip = starts_with_ci(t, (size_t)(te - t), "http://")    ? 7
                : starts_with_ci(t, (size_t)(te - t), "https://") ? 8
                                                                  : 0;
  if (!skip)
    return scratch_add(line, len);
  const uint8_t *a = t + skip, *ae = a;
  while (ae < te && *ae != '/' && *ae != '?' && *ae != '#')
    ae++;
  *auth = a;
  *auth_len = (size_t)(ae - a);
  int r = scratch_add(line, (size_t)(t - line));
  if (r == 0 && (ae == te || *ae != '/'))
    r = scratch_add("/", 1);
  if (r == 0)
    r = scratch_add(ae, (size_t)(te - ae));
  if (r == 0)
    r = scratch_add(te, (size_t)(line + len - te));
  return r;
}

static int is_forwarding(const http_field *f) {
  return http_name_eq(f->name, f->name_len, "x-forwarded-for") ||
         http_name_eq(f->name, f->name_len, "x-forwarded-proto") ||
         http_name_eq(f->name, f->name_len, "forwarded");
}

/* A request head toward the resource: Host, X-Forwarded-*, Forwarded,
 * add_header; every other line as it came, in its place. */
static int rewrite_request(hconn *c, emitter *e, size_t at, const uint8_t *h,
                           size_t hl, size_t next) {
  const http_msg *m = &c->req.p.msg;
  int r = em_replace(e, at);
  size_t ls = m->line_off;
  size_t le = http_head_start_end(h, hl, ls);
  const uint8_t *auth = NULL, *orig = NULL;
  size_t auth_len = 0, orig_len = 0;
  if (r == 0)
    r = put_request_line(h + ls, le - ls, &auth, &auth_len);
  if (r == 0 && m->hosts == 0) /* HTTP/1.0 without Host: one goes first */
    r = scratch_add(c->rw, c->host_len);
  size_t pos = 0;
  http_field f;
  while (r == 0 && http_head_next(h, hl, &pos, &f)) {
    if (http_name_eq(f.name, f.name_len, "host")) {
      orig = f.value;
      orig_len = f.value_len;
      r = scratch_add(c->rw, c->host_len);
    } else if (!is_forwarding(&f)) {
      r = scratch_add(f.line, f.line_len);
    }
  }
  if (auth) { /* the target's authority wins over Host (RFC 9112, 3.2.2) */
    orig = auth;
    orig_len = auth_len;
  }
  if (r == 0)
    r = scratch_add(c->rw + c->xf_off, c->xf_len + c->fwd_len);
  if (r == 0 && orig_len && orig_len <= HTTP_HOST_MAX &&
      http_host_valid((const char *)orig, orig_len)) {
    r = scratch_add(";host=\"", 7);
    if (r == 0)
      r = scratch_add(orig, orig_len);
    if (r == 0)
      r = scratch_add("\"", 1);
  }
  if (r == 0)
    r = scratch_add("\r\n", 2);
  if (r == 0 && c->cfg->add_len)
    r = scratch_add(c->cfg->add, c->cfg->add_len);
  if (r == 0)
    r = scratch_add("\r\n", 2);
  e->run = next;
  return r;
}

/* A response head toward the application, with listen.http.add_header. */
static int rewrite_response(hconn *c, emitter *e, size_t at, const uint8_t *h,
                            size_t hl, size_t next) {
  int r = em_replace(e, at);
  if (r == 0)
    r = scratch_add(h, hl - 2);
  if (r == 0)
    r = scratch_add(c->cfg->add, c->cfg->add_len);
  if (r == 0)
    r = scratch_add("\r\n", 2);
  e->run = next;
  return r;
}

/* A head that came in pieces goes out from its buffer. */
static int put_buffered(emitter *e, size_t at, const uint8_t *h, size_t hl,
                        size_t next) {
  int r = em_replace(e, at);
  if (r == 0)
    r = scratch_add(h, hl);
  e->run = next;
  return r;
}

/* ------------------------------------------------------------ messages */

#define STOP 1 /* from a handler: drop the rest of this input */

/* A request head is complete and valid: [at, next) of the input ends it;
 * h/hl is the whole head (in the input, or in d->buf). */
static int request_head(hconn *c, emitter *e, size_t at, const uint8_t *h,
                        size_t hl, size_t next) {
  const http_msg *m = &c->req.p.msg;
  if (c->timer_mode == T_HEADER)
    timer_stop(c);
  if (c->qlen == HTTP_QUEUE_MAX) {
    request_failed(c, 503, "too many pipelined requests", 0);
    return STOP;
  }
  uint8_t f = (uint8_t)((m->method == HTTP_M_HEAD ? HTTP_REQ_HEAD : 0u) |
                        (m->upgrade ? HTTP_REQ_UPGRADE : 0u) |
                        (m->keep_alive ? 0u : Q_CLOSE));
  c->q[(c->qhead + c->qlen++) % HTTP_QUEUE_MAX] = f;
  if (c->listen && !c->ready) {
    /* The first request is whole and valid: now the stream may open. */
    c->ready = 1;
    host->ready(c->link, 0);
  }
  if (!c->listen)
    return rewrite_request(c, e, at, h, hl, next);
  if (h != e->base + at)
    return put_buffered(e, at, h, hl, next);
  return 0;
}

static int response_head(hconn *c, emitter *e, size_t at, const uint8_t *h,
                         size_t hl, size_t next) {
  const http_msg *m = &c->resp.p.msg;
  if (c->listen && c->cfg->add_len && m->status >= 200)
    return rewrite_response(c, e, at, h, hl, next);
  if (h != e->base + at)
    return put_buffered(e, at, h, hl, next);
  return 0;
}

/* Both directions carry raw bytes from now on (after a 101). */
static void go_tunnel(hconn *c) {
  hdir *d = &c->req;
  http_set_tunnel(&d->p);
  http_set_tunnel(&c->resp.p);
  if (c->timer_mode == T_HEADER)
    timer_stop(c);
  if (c->qlen) {
    c->qhead = (c->qhead + 1) % HTTP_QUEUE_MAX;
    c->qlen--;
  }
  if (d->hold) {
    d->hold = 0;
    out(c, d, d->buf, d->len);
    buf_free(d);
  }
  if (d->eof_in)
    eof_out(c, d);
}

/* The upgrade was not taken: what the client sent meanwhile is HTTP. */
static int release_hold(hconn *c) {
  hdir *d = &c->req;
  d->hold = 0;
  int r = 0;
  if (d->len) {
    uint8_t *b = d->buf;
    size_t n = d->len;
    d->buf = NULL;
    d->len = d->cap = 0;
    r = dir_input(c, d, b, n);
    host->free(b);
  }
  if (d->eof_in && !c->aborted)
    dir_eof(c, d);
  return r;
}

static int request_done(hconn *c) {
  hdir *d = &c->req;
  const http_msg *m = &d->p.msg;
  if (!m->keep_alive) {
    d->discard = 1; /* nothing after it is served */
    return STOP;
  }
  if (m->upgrade)
    d->hold = 1;
  return 0;
}

static int response_done(hconn *c, int ev) {
  hdir *d = &c->resp;
  const http_msg *m = &d->p.msg;
  if (ev & HTTP_EV_TUNNEL) {
    go_tunnel(c);
    return 0;
  }
  if (m->interim)
    return 0;
  uint8_t f = 0;
  if (c->qlen) {
    f = c->q[c->qhead];
    c->qhead = (c->qhead + 1) % HTTP_QUEUE_MAX;
    c->qlen--;
  }
  if (!m->keep_alive || (f & Q_CLOSE)) {
    /* The connection ends with this response. */
    d->discard = 1;
    c->req.discard = 1;
    c->req.hold = 0;
    eof_out(c, d);
    return STOP;
  }
  if ((f & HTTP_REQ_UPGRADE) && c->req.hold) {
    int r = release_hold(c);
    if (r < 0)
      return r;
  }
  if (c->err_status && c->qlen == 0 && !c->answered) {
    answer(c, c->err_status, c->err_why);
    return STOP;
  }
  return 0;
}

/* ------------------------------------------------------------ input */

static int dir_input(hconn *c, hdir *d, const uint8_t *data, size_t len) {
  int is_req = d == &c->req;
  emitter e = {c, d, data, 0, 0};
  size_t i = 0;
  int r = 0;
  while (i < len && r == 0) {
    if (c->aborted || d->discard) {
      len = i; /* the rest is dropped */
      break;
    }
    if (http_tunnel(&d->p)) {
      i = len;
      break;
    }
    if (d->hold) {
      r = em_flush(&e, i);
      if (r == 0 && d->len + (len - i) > c->cfg->max_header) {
        GH_LOG(host, GH_LOG_INFO, c->link,
               "http: more than %u bytes sent before the answer to an "
               "upgrade request",
               c->cfg->max_header);
        conn_abort(c, GH_ELIMIT);
        return 0;
      }
      if (r == 0)
        r = buf_append(d, data + i, len - i);
      return r == GH_ENOMEM ? r : 0;
    }
    int in_head = http_in_head(&d->p);
    if (!is_req && in_head)
      d->p.req_flags = c->qlen ? c->q[c->qhead] : 0;
    size_t used = 0;
    int ev = http_feed(&d->p, data + i, len - i, &used);
    if (ev < 0) {
      r = em_flush(&e, i);
      buf_free(d);
      if (is_req)
        request_failed(c, d->p.err_status, d->p.err, !in_head);
      else
        response_failed(c, d->p.err, in_head);
      return r == GH_ENOMEM ? r : 0;
    }
    if (in_head && !(ev & HTTP_EV_HEAD)) {
      /* A head in pieces: keep this one until the rest comes. */
      r = em_flush(&e, i);
      if (r == 0)
        r = buf_append(d, data + i, used);
      i += used;
      e.run = i;
      break;
    }
    if (ev & HTTP_EV_HEAD) {
      const uint8_t *h = data + i;
      size_t hl = used;
      if (d->len) {
        r = buf_append(d, data + i, used);
        h = d->buf;
        hl = d->len;
      }
      if (r == 0)
        r = is_req ? request_head(c, &e, i, h, hl, i + used)
                   : response_head(c, &e, i, h, hl, i + used);
      if (d->len)
        buf_free(d);
      if (r) {
        if (r == STOP) {
          r = em_flush(&e, i);
          return r == GH_ENOMEM ? r : 0;
        }
        break;
      }
    }
    i += used;
    if (ev & HTTP_EV_DONE) {
      r = em_flush(&e, i);
      if (r == 0)
        r = is_req ? request_done(c) : response_done(c, ev);
      if (r == STOP)
        return 0;
    }
  }
  if (r == 0)
    r = em_flush(&e, i);
  else
    scratch_len = 0;
  /* A request head left in pieces has header_timeout to complete. */
  if (is_req && !c->aborted && !c->answered && !d->discard && !d->hold &&
      c->timer_mode == T_NONE && http_in_head(&d->p) && !http_idle(&d->p) &&
      timer_arm(c, T_HEADER, c->cfg->header_timeout_ms) < 0)
    return GH_ENOMEM;
  return r == GH_ENOMEM ? r : 0;
}

/* The input of direction d ended. */
static void dir_eof(hconn *c, hdir *d) {
  d->eof_in = 1;
  if (c->aborted)
    return;
  int is_req = d == &c->req;
  if (c->answered) {
    if (is_req && c->listen)
      conn_abort(c, 0); /* the client closed after our answer */
    return;
  }
  if (is_req && c->listen && !c->ready) {
    /* gone before its first request was complete: nothing was opened */
    conn_abort(c, 0);
    return;
  }
  if (d->hold)
    return; /* waits for the answer to the upgrade request */
  if (d->discard || http_tunnel(&d->p)) {
    eof_out(c, d);
    return;
  }
  int partial_head = http_in_head(&d->p) && !http_idle(&d->p);
  int r = http_finish(&d->p);
  buf_free(d);
  if (r == HTTP_EV_DONE) { /* a response body until close */
    if (response_done(c, r) < 0)
      return;
  } else if (r < 0 && !is_req && partial_head) {
    response_failed(c, "the resource closed in the middle of a head", 1);
    return;
  }
  if (c->timer_mode == T_HEADER && is_req)
    timer_stop(c);
  eof_out(c, d);
}

/* ------------------------------------------------------------ callbacks */

static int32_t http_open(gh_link *link) {
  const http_cfg *cfg = host->inst_data(host->link_inst(link));
  if (!cfg)
    return GH_EINVAL;
  hconn *c = host->alloc(sizeof *c);
  if (!c)
    return GH_ENOMEM;
  memset(c, 0, sizeof *c);
  c->link = link;
  c->cfg = cfg;
  c->listen = cfg->side == GH_SIDE_LISTEN;
  http_parser_init(&c->req.p, HTTP_REQUEST, cfg->max_header);
  http_parser_init(&c->resp.p, HTTP_RESPONSE, cfg->max_header);
  c->req.up = c->listen;
  c->resp.up = !c->listen;
  host->link_set_data(link, c); /* close() frees it, whatever open() says */
  if (!c->listen)
    return render_rewrite(c);
  /* Ready once the first request head is whole; until then the header
   * timeout runs. */
  if (timer_arm(c, T_HEADER, cfg->header_timeout_ms) < 0)
    return GH_ENOMEM;
  return GH_PENDING;
}

static int32_t http_up(gh_link *link, const uint8_t *data, uint32_t len) {
  hconn *c = host->link_data(link);
  if (!c || c->aborted)
    return 0;
  return dir_input(c, c->listen ? &c->req : &c->resp, data, len);
}

static int32_t http_down(gh_link *link, const uint8_t *data, uint32_t len) {
  hconn *c = host->link_data(link);
  if (!c || c->aborted)
    return 0;
  return dir_input(c, c->listen ? &c->resp : &c->req, data, len);
}

static void http_up_eof(gh_link *link) {
  hconn *c = host->link_data(link);
  if (c)
    dir_eof(c, c->listen ? &c->req : &c->resp);
}

static void http_down_eof(gh_link *link) {
  hconn *c = host->link_data(link);
  if (c)
    dir_eof(c, c->listen ? &c->resp : &c->req);
}

static void http_close(gh_link *link, int32_t reason) {
  (void)reason;
  hconn *c = host->link_data(link);
  if (!c)
    return;
  host->link_set_data(link, NULL);
  if (c->timer)
    host->timer_free(c->timer);
  buf_free(&c->req);
  buf_free(&c->resp);
  host->free(c->rw);
  host->free(c);
}

/* -------------------------------------------------------------- plugin */

static int32_t http_init(const gh_host *h) {
  if (!h || h->abi_major != GH_ABI_MAJOR || !GH_HOST_HAS(h, closed))
    return GH_ENOTSUP;
  host = h;
  return 0;
}

static void http_fini(void) {
  if (host)
    host->free(scratch);
  scratch = NULL;
  scratch_len = scratch_cap = 0;
}

static const gh_handler http_handler = {
    GH_HANDLER_HEADER,
    .kind = GH_KIND_LAYER,
    .flags = 0,
    .n_options = sizeof http_options / sizeof http_options[0],
    .name = "http",
    .help = "HTTP/1.1: strict parsing with limits, Host rewrite, "
            "X-Forwarded-For/-Proto and Forwarded, added headers, "
            "keep-alive, pipelining, chunked, 100-continue, upgrade",
    .options = http_options,
    .inst_init = http_inst_init,
    .inst_free = http_inst_free,
    .close = http_close,
    .open = http_open,
    .up = http_up,
    .down = http_down,
    .up_eof = http_up_eof,
    .down_eof = http_down_eof,
};

static const gh_handler *const http_handlers[] = {&http_handler};

/* "http" alone is HTTP over TCP; "https" over TLS, whose layer is tls.so's
 * (looked up when a destination uses the alias). */
static const gh_alias http_aliases[] = {{"http", "tcp+http"},
                                        {"https", "tcp+tls+http"}};

static const gh_plugin http_plugin = {
    GH_PLUGIN_HEADER,
    .n_handlers = 1,
    .name = "http",
    .version = GH_VERSION_STRING,
    .description = "the HTTP/1.1 layer",
    .handlers = http_handlers,
    .init = http_init,
    .fini = http_fini,
    .aliases = http_aliases,
    .n_aliases = sizeof(http_aliases) / sizeof(http_aliases[0]),
};

GH_PLUGIN_ENTRY(http_plugin)
