#include "wire.h"

#include <string.h>

void gh__put_u16(uint8_t *p, uint16_t v) {
  p[0] = (uint8_t)(v >> 8);
  p[1] = (uint8_t)v;
}

void gh__put_u32(uint8_t *p, uint32_t v) {
  p[0] = (uint8_t)(v >> 24);
  p[1] = (uint8_t)(v >> 16);
  p[2] = (uint8_t)(v >> 8);
  p[3] = (uint8_t)v;
}

uint16_t gh__get_u16(const uint8_t *p) {
  return (uint16_t)(p[0] << 8 | p[1]);
}

uint32_t gh__get_u32(const uint8_t *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 |
         (uint32_t)p[3];
}

/* ---- reading */

const uint8_t *gh__rd_take(gh__rd *r, size_t n) {
  if (r->bad || r->left < n) {
    r->bad = 1;
    return NULL;
  }
  const uint8_t *p = r->p;
  r->p += n;
  r->left -= n;
  return p;
}

uint8_t gh__rd_u8(gh__rd *r) {
  const uint8_t *p = gh__rd_take(r, 1);
  return p ? p[0] : 0;
}

uint16_t gh__rd_u16(gh__rd *r) {
  const uint8_t *p = gh__rd_take(r, 2);
  return p ? gh__get_u16(p) : 0;
}

uint32_t gh__rd_u32(gh__rd *r) {
  const uint8_t *p = gh__rd_take(r, 4);
  return p ? gh__get_u32(p) : 0;
}

/* Without the implementation-defined conversion of an out-of-range
 * unsigned value to a signed type. */
int32_t gh__rd_i32(gh__rd *r) {
  uint32_t u = gh__rd_u32(r);
  return u <= INT32_MAX ? (int32_t)u
                        : (int32_t)(u - 0x80000000u) - INT32_MAX - 1;
}

const uint8_t *gh__rd_lp(gh__rd *r, size_t lenlen, size_t max, size_t *n) {
  *n = lenlen == 1 ? gh__rd_u8(r) : lenlen == 2 ? gh__rd_u16(r) : gh__rd_u32(r);
  if (*n > max)
    r->bad = 1;
  const uint8_t *p = gh__rd_take(r, *n);
  if (!p)
    *n = 0;
  return p;
}

/* ---- writing */

uint8_t *gh__wr_take(gh__wr *w, size_t n) {
  if (w->bad || w->left < n) {
    w->bad = 1;
    return NULL;
  }
  uint8_t *p = w->p;
  if (w->p)
    w->p += n;
  w->left -= n;
  w->n += n;
  return p;
}

void gh__wr_u8(gh__wr *w, uint8_t v) {
  uint8_t *p = gh__wr_take(w, 1);
  if (p)
    p[0] = v;
}

void gh__wr_u16(gh__wr *w, uint16_t v) {
  uint8_t *p = gh__wr_take(w, 2);
  if (p)
    gh__put_u16(p, v);
}

void gh__wr_u32(gh__wr *w, uint32_t v) {
  uint8_t *p = gh__wr_take(w, 4);
  if (p)
    gh__put_u32(p, v);
}

void gh__wr_bytes(gh__wr *w, const void *src, size_t n) {
  uint8_t *p = gh__wr_take(w, n);
  if (p && n)
    memcpy(p, src, n);
}

void gh__wr_lp(gh__wr *w, size_t lenlen, const void *src, size_t n) {
  if (lenlen == 1)
    gh__wr_u8(w, (uint8_t)n);
  else if (lenlen == 2)
    gh__wr_u16(w, (uint16_t)n);
  else
    gh__wr_u32(w, (uint32_t)n);
  gh__wr_bytes(w, src, n);
}
