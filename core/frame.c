#include "frame.h"

#include <string.h>

/* Every read goes through a cursor that knows how many bytes are left, so
 * that no decoder can step outside the payload whatever the input says. A
 * failed read poisons the cursor; decoders check it once at the end. */
typedef struct rd {
  const uint8_t *p;
  size_t left;
  int bad;
} rd;

typedef struct wr {
  uint8_t *p;
  size_t left;
  size_t n;
  int bad;
} wr;

void gh__put_u32(uint8_t *p, uint32_t v) {
  p[0] = (uint8_t)(v >> 24);
  p[1] = (uint8_t)(v >> 16);
  p[2] = (uint8_t)(v >> 8);
  p[3] = (uint8_t)v;
}

uint32_t gh__get_u32(const uint8_t *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 |
         (uint32_t)p[3];
}

static const uint8_t *rd_take(rd *r, size_t n) {
  if (r->bad || r->left < n) {
    r->bad = 1;
    return NULL;
  }
  const uint8_t *p = r->p;
  r->p += n;
  r->left -= n;
  return p;
}

static uint8_t rd_u8(rd *r) {
  const uint8_t *p = rd_take(r, 1);
  return p ? p[0] : 0;
}

static uint16_t rd_u16(rd *r) {
  const uint8_t *p = rd_take(r, 2);
  return p ? (uint16_t)(p[0] << 8 | p[1]) : 0;
}

static uint32_t rd_u32(rd *r) {
  const uint8_t *p = rd_take(r, 4);
  return p ? gh__get_u32(p) : 0;
}

/* Two's complement, without the implementation-defined conversion of an
 * out-of-range unsigned value to a signed type. */
static int32_t rd_i32(rd *r) {
  uint32_t u = rd_u32(r);
  return u <= INT32_MAX ? (int32_t)u
                        : (int32_t)(u - 0x80000000u) - INT32_MAX - 1;
}

/* Names (gateway, host, destination) are logged by whoever receives them,
 * before the peer is authenticated: no control byte may ride in one. UTF-8
 * passes. */
static int ident_ok(const uint8_t *p, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (p[i] < 0x20 || p[i] == 0x7f)
      return 0;
  return 1;
}

#define ANY 0   /* a string of any bytes */
#define IDENT 1 /* a name: see ident_ok() */

static void rd_str(rd *r, size_t lenlen, size_t max, int ident, gh__str *s) {
  size_t n = lenlen == 1 ? rd_u8(r) : rd_u16(r);
  if (n > max)
    r->bad = 1;
  const uint8_t *p = rd_take(r, n);
  if (p && ident && !ident_ok(p, n))
    r->bad = 1;
  s->ptr = p ? (const char *)p : "";
  s->len = p ? (uint32_t)n : 0;
}

/* The end of every decoder: all fields read, nothing left over. */
static int rd_done(const rd *r) {
  return r->bad || r->left != 0 ? GH_EPROTO : 0;
}

static uint8_t *wr_take(wr *w, size_t n) {
  if (w->bad || w->left < n) {
    w->bad = 1;
    return NULL;
  }
  uint8_t *p = w->p;
  w->p += n;
  w->left -= n;
  w->n += n;
  return p;
}

static void wr_u8(wr *w, uint8_t v) {
  uint8_t *p = wr_take(w, 1);
  if (p)
    p[0] = v;
}

static void wr_u16(wr *w, uint16_t v) {
  uint8_t *p = wr_take(w, 2);
  if (p) {
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
  }
}

static void wr_u32(wr *w, uint32_t v) {
  uint8_t *p = wr_take(w, 4);
  if (p)
    gh__put_u32(p, v);
}

static void wr_bytes(wr *w, const void *src, size_t n) {
  uint8_t *p = wr_take(w, n);
  if (p && n)
    memcpy(p, src, n);
}

/* Limits are checked by the caller (str_ok) so that an over-long string is
 * reported as such even when the buffer is large. */
static void wr_str(wr *w, size_t lenlen, const gh__str *s) {
  if (lenlen == 1)
    wr_u8(w, (uint8_t)s->len);
  else
    wr_u16(w, (uint16_t)s->len);
  wr_bytes(w, s->ptr, s->len);
}

static int str_ok(const gh__str *s, size_t max) {
  return s->len <= max && (s->ptr != NULL || s->len == 0);
}

static int name_ok(const gh__str *s) {
  return s->len == 0 || ident_ok((const uint8_t *)s->ptr, s->len);
}

static int wr_done(const wr *w) {
  return w->bad ? GH_EMSGSIZE : (int)w->n;
}

static int credit_ok(uint32_t v) {
  return v >= 1 && v <= GH__FRAME_CREDIT_MAX;
}

/* ------------------------------------------------------------- header */

int gh__frame_decode(const uint8_t *buf, size_t len, gh__frame *out) {
  if (len < GH__FRAME_HDR)
    return 0;
  uint32_t plen = (uint32_t)buf[0] << 16 | (uint32_t)buf[1] << 8 | buf[2];
  /* Checked before waiting for the payload: a bad header is known at once,
   * and an oversized length must never make the caller buffer more. */
  if (buf[3] > GH__FT_MAX || plen > gh__frame_max(buf[3]))
    return GH_EPROTO;
  if (len - GH__FRAME_HDR < plen)
    return 0;
  out->len = plen;
  out->type = buf[3];
  out->flags = buf[4];
  out->stream = gh__get_u32(buf + 5);
  out->payload = buf + GH__FRAME_HDR;
  return (int)(GH__FRAME_HDR + plen);
}

void gh__frame_header(uint8_t out[GH__FRAME_HDR], uint8_t type, uint8_t flags,
                      uint32_t stream, uint32_t len) {
  out[0] = (uint8_t)(len >> 16);
  out[1] = (uint8_t)(len >> 8);
  out[2] = (uint8_t)len;
  out[3] = type;
  out[4] = flags;
  gh__put_u32(out + 5, stream);
}

/* -------------------------------------------------------- hello/welcome */

int gh__hello_encode(uint8_t *out, size_t cap, const gh__hello *h) {
  if (!str_ok(&h->gateway, GH__FRAME_STR_MAX) ||
      !str_ok(&h->token, GH__FRAME_TOKEN_MAX) ||
      !str_ok(&h->name, GH__FRAME_STR_MAX))
    return GH_EMSGSIZE;
  if (!credit_ok(h->window) || !credit_ok(h->session_window) ||
      !name_ok(&h->gateway) || !name_ok(&h->name))
    return GH_EINVAL;
  wr w = {out, cap, 0, 0};
  wr_u16(&w, h->version);
  wr_u16(&w, 0);
  wr_u32(&w, h->window);
  wr_u32(&w, h->session_window);
  wr_str(&w, 1, &h->gateway);
  wr_str(&w, 2, &h->token);
  wr_str(&w, 1, &h->name);
  return wr_done(&w);
}

int gh__hello_decode(const uint8_t *p, size_t len, gh__hello *h) {
  rd r = {p, len, 0};
  memset(h, 0, sizeof(*h));
  h->version = rd_u16(&r);
  if (rd_u16(&r) != 0)
    r.bad = 1;
  h->window = rd_u32(&r);
  h->session_window = rd_u32(&r);
  if (!r.bad && (!credit_ok(h->window) || !credit_ok(h->session_window)))
    r.bad = 1;
  rd_str(&r, 1, GH__FRAME_STR_MAX, IDENT, &h->gateway);
  rd_str(&r, 2, GH__FRAME_TOKEN_MAX, ANY, &h->token);
  rd_str(&r, 1, GH__FRAME_STR_MAX, IDENT, &h->name);
  return rd_done(&r);
}

int gh__welcome_encode(uint8_t *out, size_t cap, const gh__welcome *w) {
  if (!str_ok(&w->name, GH__FRAME_STR_MAX))
    return GH_EMSGSIZE;
  if (!credit_ok(w->window) || !credit_ok(w->session_window) ||
      !name_ok(&w->name))
    return GH_EINVAL;
  wr o = {out, cap, 0, 0};
  wr_u16(&o, w->version);
  wr_u16(&o, 0);
  wr_u32(&o, w->window);
  wr_u32(&o, w->session_window);
  wr_u32(&o, w->ping_interval_ms);
  wr_str(&o, 1, &w->name);
  return wr_done(&o);
}

int gh__welcome_decode(const uint8_t *p, size_t len, gh__welcome *w) {
  rd r = {p, len, 0};
  memset(w, 0, sizeof(*w));
  w->version = rd_u16(&r);
  if (rd_u16(&r) != 0)
    r.bad = 1;
  w->window = rd_u32(&r);
  w->session_window = rd_u32(&r);
  if (!r.bad && (!credit_ok(w->window) || !credit_ok(w->session_window)))
    r.bad = 1;
  w->ping_interval_ms = rd_u32(&r);
  rd_str(&r, 1, GH__FRAME_STR_MAX, IDENT, &w->name);
  return rd_done(&r);
}

/* ----------------------------------------------------------------- open */

static int family_ok(uint16_t f) {
  return f == GH_AF_NONE || f == GH_AF_INET || f == GH_AF_INET6;
}

static void wr_addr(wr *w, const gh_addr *a) {
  uint8_t addr[16] = {0};
  uint16_t port = 0;
  uint32_t scope = 0;
  if (a->family == GH_AF_INET) {
    memcpy(addr, a->addr, 4);
    port = a->port;
  } else if (a->family == GH_AF_INET6) {
    memcpy(addr, a->addr, 16);
    port = a->port;
    scope = a->scope_id;
  }
  wr_u8(w, (uint8_t)a->family);
  wr_u16(w, port);
  wr_bytes(w, addr, sizeof(addr));
  wr_u32(w, scope);
}

static void rd_addr(rd *r, gh_addr *a) {
  memset(a, 0, sizeof(*a));
  a->family = rd_u8(r);
  a->port = rd_u16(r);
  const uint8_t *p = rd_take(r, 16);
  if (p)
    memcpy(a->addr, p, 16);
  a->scope_id = rd_u32(r);
  if (r->bad)
    return;
  static const uint8_t zero[16];
  switch (a->family) {
  case GH_AF_NONE:
    if (a->port != 0 || a->scope_id != 0 || memcmp(a->addr, zero, 16) != 0)
      r->bad = 1;
    break;
  case GH_AF_INET:
    if (a->scope_id != 0 || memcmp(a->addr + 4, zero, 12) != 0)
      r->bad = 1;
    break;
  case GH_AF_INET6:
    break;
  default:
    r->bad = 1;
  }
}

int gh__open_encode(uint8_t *out, size_t cap, const gh__open *o) {
  if (!str_ok(&o->destination, GH__FRAME_STR_MAX))
    return GH_EMSGSIZE;
  if (!family_ok(o->peer.family) || !name_ok(&o->destination))
    return GH_EINVAL;
  wr w = {out, cap, 0, 0};
  wr_str(&w, 1, &o->destination);
  wr_addr(&w, &o->peer);
  return wr_done(&w);
}

int gh__open_decode(const uint8_t *p, size_t len, gh__open *o) {
  rd r = {p, len, 0};
  memset(o, 0, sizeof(*o));
  rd_str(&r, 1, GH__FRAME_STR_MAX, IDENT, &o->destination);
  rd_addr(&r, &o->peer);
  return rd_done(&r);
}

/* --------------------------------------------------------- fail, notice */

int gh__fail_encode(uint8_t *out, size_t cap, const gh__fail *f) {
  if (!str_ok(&f->message, GH__FRAME_MSG_MAX))
    return GH_EMSGSIZE;
  wr w = {out, cap, 0, 0};
  wr_u32(&w, (uint32_t)f->code);
  wr_str(&w, 2, &f->message);
  return wr_done(&w);
}

int gh__fail_decode(const uint8_t *p, size_t len, gh__fail *f) {
  rd r = {p, len, 0};
  memset(f, 0, sizeof(*f));
  f->code = rd_i32(&r);
  rd_str(&r, 2, GH__FRAME_MSG_MAX, ANY, &f->message);
  return rd_done(&r);
}

int gh__notice_encode(uint8_t *out, size_t cap, const gh__notice *n) {
  if (!str_ok(&n->destination, GH__FRAME_STR_MAX) ||
      !str_ok(&n->message, GH__FRAME_MSG_MAX))
    return GH_EMSGSIZE;
  if (!name_ok(&n->destination))
    return GH_EINVAL;
  wr w = {out, cap, 0, 0};
  wr_str(&w, 1, &n->destination);
  wr_u32(&w, (uint32_t)n->code);
  wr_str(&w, 2, &n->message);
  return wr_done(&w);
}

int gh__notice_decode(const uint8_t *p, size_t len, gh__notice *n) {
  rd r = {p, len, 0};
  memset(n, 0, sizeof(*n));
  rd_str(&r, 1, GH__FRAME_STR_MAX, IDENT, &n->destination);
  n->code = rd_i32(&r);
  rd_str(&r, 2, GH__FRAME_MSG_MAX, ANY, &n->message);
  return rd_done(&r);
}

/* --------------------------------------------------------------- window */

int gh__window_decode(const uint8_t *p, size_t len, uint32_t *increment) {
  if (len != 4)
    return GH_EPROTO;
  uint32_t v = gh__get_u32(p);
  if (!credit_ok(v))
    return GH_EPROTO;
  *increment = v;
  return 0;
}
