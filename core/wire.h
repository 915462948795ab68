/* Big-endian cursors over bytes, for the frames (frame.c) and the pushed
 * destination set (conf/push.c).
 *
 * Every read and write goes through a cursor that knows how many bytes are
 * left, so that no decoder can step outside its input whatever the input
 * says, and no encoder outside its buffer. A failed read or write poisons
 * the cursor (`bad`); a caller checks it once, where it must answer. */
#ifndef GH_WIRE_H
#define GH_WIRE_H

#include <stddef.h>
#include <stdint.h>

void gh__put_u16(uint8_t *p, uint16_t v);
void gh__put_u32(uint8_t *p, uint32_t v);
uint16_t gh__get_u16(const uint8_t *p);
uint32_t gh__get_u32(const uint8_t *p);

typedef struct gh__rd {
  const uint8_t *p;
  size_t left;
  int bad;
} gh__rd;

/* n bytes, or NULL (and the cursor poisoned) when fewer are left. */
const uint8_t *gh__rd_take(gh__rd *r, size_t n);
uint8_t gh__rd_u8(gh__rd *r);   /* 0 once poisoned */
uint16_t gh__rd_u16(gh__rd *r); /* 0 once poisoned */
uint32_t gh__rd_u32(gh__rd *r); /* 0 once poisoned */
int32_t gh__rd_i32(gh__rd *r);  /* two's complement */
/* Bytes after a big-endian length of lenlen (1, 2 or 4) bytes that must
 * not exceed max: their start and *n, or NULL (poisoned). */
const uint8_t *gh__rd_lp(gh__rd *r, size_t lenlen, size_t max, size_t *n);

/* A writer whose p is NULL writes nothing and only counts (n): it measures
 * what a second pass with a buffer of that size will write. */
typedef struct gh__wr {
  uint8_t *p;
  size_t left;
  size_t n; /* written so far */
  int bad;
} gh__wr;

/* Room for n bytes: where to write them, or NULL (poisoned when fewer
 * than n are left; not when only measuring). */
uint8_t *gh__wr_take(gh__wr *w, size_t n);
void gh__wr_u8(gh__wr *w, uint8_t v);
void gh__wr_u16(gh__wr *w, uint16_t v);
void gh__wr_u32(gh__wr *w, uint32_t v);
void gh__wr_bytes(gh__wr *w, const void *src, size_t n);
/* A big-endian length of lenlen (1, 2 or 4) bytes, then the bytes. The
 * caller checks that n fits the length. */
void gh__wr_lp(gh__wr *w, size_t lenlen, const void *src, size_t n);

#endif
