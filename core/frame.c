#include "frame.h"

#include <string.h>

#include "wire.h"

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

static void rd_str(gh__rd *r, size_t lenlen, size_t max, int ident,
                   gh__str *s) {
  size_t n;
  const uint8_t *p = gh__rd_lp(r, lenlen, max, &n);
  if (p && ident && !ident_ok(p, n))
    r->bad = 1;
  s->ptr = p ? (const char *)p : "";
  s->len = (uint32_t)n;
}

/* The end of every decoder: all fields read, nothing left over. */
static int rd_done(const gh__rd *r) {
  return r->bad || r->left != 0 ? GH_EPROTO : 0;
}

/* Limits are checked by the caller (str_ok) so that an over-long string is
 * reported as such even when the buffer is large. */
static void wr_str(gh__wr *w, size_t lenlen, const gh__str *s) {
  gh__wr_lp(w, lenlen, s->ptr, s->len);
}

static int str_ok(const gh__str *s, size_t max) {
  return s->len <= max && (s->ptr != NULL || s->len == 0);
}

static int name_ok(const gh__str *s) {
  return s->len == 0 || ident_ok((const uint8_t *)s->ptr, s->len);
}

static int wr_done(const gh__wr *w) {
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
  gh__wr w = {out, cap, 0, 0};
  gh__wr_u16(&w, h->version);
  gh__wr_u16(&w, 0);
  gh__wr_u32(&w, h->window);
  gh__wr_u32(&w, h->session_window);
  wr_str(&w, 1, &h->gateway);
  wr_str(&w, 2, &h->token);
  wr_str(&w, 1, &h->name);
  return wr_done(&w);
}

int gh__hello_decode(const uint8_t *p, size_t len, gh__hello *h) {
  gh__rd r = {p, len, 0};
  memset(h, 0, sizeof(*h));
  h->version = gh__rd_u16(&r);
  if (gh__rd_u16(&r) != 0)
    r.bad = 1;
  h->window = gh__rd_u32(&r);
  h->session_window = gh__rd_u32(&r);
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
  gh__wr o = {out, cap, 0, 0};
  gh__wr_u16(&o, w->version);
  gh__wr_u16(&o, 0);
  gh__wr_u32(&o, w->window);
  gh__wr_u32(&o, w->session_window);
  gh__wr_u32(&o, w->ping_interval_ms);
  wr_str(&o, 1, &w->name);
  return wr_done(&o);
}

int gh__welcome_decode(const uint8_t *p, size_t len, gh__welcome *w) {
  gh__rd r = {p, len, 0};
  memset(w, 0, sizeof(*w));
  w->version = gh__rd_u16(&r);
  if (gh__rd_u16(&r) != 0)
    r.bad = 1;
  w->window = gh__rd_u32(&r);
  w->session_window = gh__rd_u32(&r);
  if (!r.bad && (!credit_ok(w->window) || !credit_ok(w->session_window)))
    r.bad = 1;
  w->ping_interval_ms = gh__rd_u32(&r);
  rd_str(&r, 1, GH__FRAME_STR_MAX, IDENT, &w->name);
  return rd_done(&r);
}

/* ----------------------------------------------------------------- open */

/* A Unix-socket peer has no address: it goes as GH_AF_NONE. */
static int family_ok(uint16_t f) {
  return f == GH_AF_NONE || f == GH_AF_INET || f == GH_AF_INET6 ||
         f == GH_AF_UNIX;
}

static void wr_addr(gh__wr *w, const gh_addr *a) {
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
  int ip = a->family == GH_AF_INET || a->family == GH_AF_INET6;
  gh__wr_u8(w, (uint8_t)(ip ? a->family : GH_AF_NONE));
  gh__wr_u16(w, port);
  gh__wr_bytes(w, addr, sizeof(addr));
  gh__wr_u32(w, scope);
}

static void rd_addr(gh__rd *r, gh_addr *a) {
  memset(a, 0, sizeof(*a));
  a->family = gh__rd_u8(r);
  a->port = gh__rd_u16(r);
  const uint8_t *p = gh__rd_take(r, 16);
  if (p)
    memcpy(a->addr, p, 16);
  a->scope_id = gh__rd_u32(r);
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
  gh__wr w = {out, cap, 0, 0};
  wr_str(&w, 1, &o->destination);
  wr_addr(&w, &o->peer);
  return wr_done(&w);
}

int gh__open_decode(const uint8_t *p, size_t len, gh__open *o) {
  gh__rd r = {p, len, 0};
  memset(o, 0, sizeof(*o));
  rd_str(&r, 1, GH__FRAME_STR_MAX, IDENT, &o->destination);
  rd_addr(&r, &o->peer);
  return rd_done(&r);
}

/* --------------------------------------------------------- fail, notice */

int gh__fail_encode(uint8_t *out, size_t cap, const gh__fail *f) {
  if (!str_ok(&f->message, GH__FRAME_MSG_MAX))
    return GH_EMSGSIZE;
  gh__wr w = {out, cap, 0, 0};
  gh__wr_u32(&w, (uint32_t)f->code);
  wr_str(&w, 2, &f->message);
  return wr_done(&w);
}

int gh__fail_decode(const uint8_t *p, size_t len, gh__fail *f) {
  gh__rd r = {p, len, 0};
  memset(f, 0, sizeof(*f));
  f->code = gh__rd_i32(&r);
  rd_str(&r, 2, GH__FRAME_MSG_MAX, ANY, &f->message);
  return rd_done(&r);
}

int gh__notice_encode(uint8_t *out, size_t cap, const gh__notice *n) {
  if (!str_ok(&n->destination, GH__FRAME_STR_MAX) ||
      !str_ok(&n->message, GH__FRAME_MSG_MAX))
    return GH_EMSGSIZE;
  if (!name_ok(&n->destination))
    return GH_EINVAL;
  gh__wr w = {out, cap, 0, 0};
  wr_str(&w, 1, &n->destination);
  gh__wr_u32(&w, (uint32_t)n->code);
  wr_str(&w, 2, &n->message);
  return wr_done(&w);
}

int gh__notice_decode(const uint8_t *p, size_t len, gh__notice *n) {
  gh__rd r = {p, len, 0};
  memset(n, 0, sizeof(*n));
  rd_str(&r, 1, GH__FRAME_STR_MAX, IDENT, &n->destination);
  n->code = gh__rd_i32(&r);
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
