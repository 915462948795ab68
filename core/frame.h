/* The tunnel's wire format (protocol version 1).
 *
 * After the TLS handshake both ends exchange frames:
 *
 *   +-----------------+--------+--------+-----------------------+
 *   | length (24 bit) | type 8 | flags 8|   stream id (32 bit)  |  payload
 *   +-----------------+--------+--------+-----------------------+
 *
 * All integers are big-endian. `length` counts the payload only and is at
 * most GH__FRAME_MAX (16 KiB), or GH__DGRAM_MAX for a DGRAM frame, which
 * carries one whole datagram (never split, never merged). Stream 0 is the
 * tunnel itself. Streams opened
 * by the server have even ids, those opened by the client odd ids.
 *
 * The client's first frame is HELLO; the server answers WELCOME (then
 * CONFIG) or REFUSE (then closes). Nothing else may come before.
 *
 * This file holds the pure codec: no I/O, no allocation, bounds-checked
 * against the buffer it is given, safe on any input. */
#ifndef GH_FRAME_H
#define GH_FRAME_H

#include <stddef.h>
#include <stdint.h>

#include "gatehouse/gatehouse.h"
#include "wire.h" /* gh__put_u32, gh__get_u32 */

#define GH__PROTO_VERSION 1
#define GH__FRAME_HDR 9
#define GH__FRAME_MAX 16384
#define GH__DGRAM_MAX 65535 /* a UDP payload is at most 65,507 (IPv4) */

/* Frame types. */
#define GH__FT_DATA 0x00      /* stream bytes; flag FIN ends this direction */
#define GH__FT_DGRAM 0x01     /* one datagram of a datagram stream */
#define GH__FT_OPEN 0x02      /* open a stream: gh__open */
#define GH__FT_OPEN_OK 0x03   /* empty */
#define GH__FT_OPEN_FAIL 0x04 /* gh__fail */
#define GH__FT_RESET 0x05     /* gh__fail: abort the stream both ways */
#define GH__FT_WINDOW 0x06    /* u32 credit increment; stream 0: session */
#define GH__FT_PING 0x07      /* 8 opaque bytes; flag ACK answers */
#define GH__FT_GOAWAY 0x08    /* gh__fail: no new streams; finish the rest */
#define GH__FT_HELLO 0x09     /* gh__hello, client -> server */
#define GH__FT_WELCOME 0x0a   /* gh__welcome, server -> client */
#define GH__FT_REFUSE 0x0b    /* gh__fail, server -> client, then close */
#define GH__FT_CONFIG 0x0c    /* a slice of the destination set; flag MORE */
#define GH__FT_NOTICE 0x0d    /* gh__notice: a destination's state, c -> s */
#define GH__FT_MAX 0x0d

/* Flags. */
#define GH__FF_FIN 0x01  /* DATA: the sender will send no more on stream */
#define GH__FF_ACK 0x01  /* PING: this is the answer */
#define GH__FF_MORE 0x01 /* CONFIG: more slices follow */

/* REFUSE codes (gh__fail.code). */
#define GH__REFUSE_VERSION 1
#define GH__REFUSE_GATEWAY 2
#define GH__REFUSE_TOKEN 3
#define GH__REFUSE_MALFORMED 4
#define GH__REFUSE_SHUTDOWN 5
#define GH__REFUSE_LIMIT 6 /* the gateway has tunnels_max tunnels up */

typedef struct gh__frame {
  uint8_t type;
  uint8_t flags;
  uint32_t stream;
  uint32_t len;
  const uint8_t *payload; /* points into the decoded buffer */
} gh__frame;

/* Decodes the frame at the start of buf. Returns the number of bytes it
 * spans (header + payload), 0 if buf does not yet hold a whole frame, or
 * GH_EPROTO for a length over the type's maximum or an unknown type. */
int gh__frame_decode(const uint8_t *buf, size_t len, gh__frame *out);

/* The largest payload of a frame type. */
static inline uint32_t gh__frame_max(uint8_t type) {
  return type == GH__FT_DGRAM ? GH__DGRAM_MAX : GH__FRAME_MAX;
}

/* Writes the 9-byte header. len must be <= gh__frame_max(type). */
void gh__frame_header(uint8_t out[GH__FRAME_HDR], uint8_t type, uint8_t flags,
                      uint32_t stream, uint32_t len);

/* ---- payloads. Each encoder writes into out (cap bytes) and returns the
 * length written, or GH_EMSGSIZE if it does not fit; each decoder returns 0
 * or GH_EPROTO, and its strings point into the payload (NOT NUL-terminated:
 * use the _len members). */

/* Payload layouts (protocol version 1). Integers are big-endian; "s8" is a
 * u8 length then that many bytes, "s16" a u16 length then the bytes; an i32
 * travels as its two's complement in a u32.
 *
 *   HELLO    u16 version, u16 reserved (0), u32 window, u32 session_window,
 *            s8 gateway, s16 token (<= 1024), s8 name
 *   WELCOME  u16 version, u16 reserved (0), u32 window, u32 session_window,
 *            u32 ping_interval_ms (0: no pings), s8 name
 *   OPEN     s8 destination, then the peer's gh_addr in 23 bytes:
 *            u8 family (0, 4 or 6), u16 port, 16 bytes addr, u32 scope_id
 *   OPEN_FAIL, RESET, GOAWAY, REFUSE
 *            i32 code, s16 message (<= 1024)
 *   NOTICE   s8 destination, i32 code, s16 message (<= 1024)
 *   WINDOW   u32 increment
 *
 * The address is canonical: family 0 has port, addr and scope_id all 0;
 * family 4 has its address in addr[0..4), addr[4..16) zero and scope_id 0;
 * family 6 uses all 16 bytes and any scope_id. Encoders write that form
 * whatever the padding of the gh_addr they are given.
 *
 * Decoders are strict, so that decode(encode(x)) == x and any bytes that
 * decode re-encode to themselves: they refuse (GH_EPROTO) a truncated
 * payload, bytes after the last field, a string over its limit, a reserved
 * field that is not 0, a non-canonical address, a window, session window
 * or WINDOW increment outside 1..GH__FRAME_CREDIT_MAX, and a control byte
 * (0x00-0x1f, 0x7f) in a name: gateway, name or destination, which the
 * receiver logs before it knows the peer (UTF-8 passes). The token and the
 * messages may hold any byte, NUL included: whoever prints a message
 * sanitises it. Encoders return GH_EMSGSIZE for a string over its limit as
 * well as for a short buffer, and GH_EINVAL for a field the decoder would
 * refuse (unknown family, window out of range, control byte in a name).
 *
 * HELLO and WELCOME start with the u16 version in every protocol version:
 * gh__hello_decode() / gh__welcome_decode() set `version` whenever the
 * payload holds two bytes, even when they then fail, so that a server can
 * answer a hello of another version with GH__REFUSE_VERSION rather than
 * GH__REFUSE_MALFORMED. They do not check the version themselves. */
#define GH__FRAME_STR_MAX 255            /* gateway, name, destination */
#define GH__FRAME_TOKEN_MAX 1024         /* hello token */
#define GH__FRAME_MSG_MAX 1024           /* fail / notice message */
#define GH__FRAME_CREDIT_MAX 0x7fffffffu /* windows and increments */
#define GH__FRAME_ADDR_LEN 23            /* an encoded gh_addr */

typedef struct gh__str {
  const char *ptr;
  uint32_t len;
} gh__str;

typedef struct gh__hello {
  uint16_t version;
  uint32_t window;         /* initial credit of each stream the peer opens */
  uint32_t session_window; /* initial session credit */
  gh__str gateway;         /* <= 255 bytes */
  gh__str token;           /* <= 1024 bytes */
  gh__str name;            /* the client's host name, <= 255 bytes */
} gh__hello;

typedef struct gh__welcome {
  uint16_t version;
  uint32_t window;
  uint32_t session_window;
  uint32_t ping_interval_ms;
  gh__str name; /* the server's host name, <= 255 bytes */
} gh__welcome;

typedef struct gh__open {
  gh__str destination; /* <= 255 bytes */
  gh_addr peer;        /* the application's address */
} gh__open;

/* OPEN_FAIL, RESET, GOAWAY, REFUSE. */
typedef struct gh__fail {
  int32_t code;    /* GH_E* (REFUSE: GH__REFUSE_*) */
  gh__str message; /* <= 1024 bytes, may be empty */
} gh__fail;

typedef struct gh__notice {
  gh__str destination;
  int32_t code; /* 0: listening / fine; < 0: the error */
  gh__str message;
} gh__notice;

int gh__hello_encode(uint8_t *out, size_t cap, const gh__hello *h);
int gh__hello_decode(const uint8_t *p, size_t len, gh__hello *h);
int gh__welcome_encode(uint8_t *out, size_t cap, const gh__welcome *w);
int gh__welcome_decode(const uint8_t *p, size_t len, gh__welcome *w);
int gh__open_encode(uint8_t *out, size_t cap, const gh__open *o);
int gh__open_decode(const uint8_t *p, size_t len, gh__open *o);
int gh__fail_encode(uint8_t *out, size_t cap, const gh__fail *f);
int gh__fail_decode(const uint8_t *p, size_t len, gh__fail *f);
int gh__notice_encode(uint8_t *out, size_t cap, const gh__notice *n);
int gh__notice_decode(const uint8_t *p, size_t len, gh__notice *n);
/* WINDOW: exactly 4 bytes, increment 1..2^31-1. */
int gh__window_decode(const uint8_t *p, size_t len, uint32_t *increment);

#endif
