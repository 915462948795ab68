/* A strict, incremental, allocation-free HTTP/1.1 message parser (RFC 9112)
 * for a proxy that passes bytes on as they come: it tells where each head
 * ends and what it says about framing, and where each message ends, so that
 * the caller can keep only a head (to rewrite it) and stream bodies through.
 *
 * It knows nothing of the SDK, allocates nothing and keeps no pointer into
 * the input: feed it any split of a byte stream and it reaches the same
 * verdict. One parser reads one direction of one connection: requests, or
 * responses (which need to know what they answer: see req_flags).
 *
 *   http_parser p;
 *   http_parser_init(&p, HTTP_REQUEST, 16384);
 *   while (len) {
 *     size_t used;
 *     int ev = http_feed(&p, data, len, &used);
 *     if (ev < 0) -> refuse with p.err_status, p.err
 *     bytes [0, used) were head bytes when http_in_head() was true before
 *     the call, else body (or tunnel) bytes;
 *     if (ev & HTTP_EV_HEAD) -> p.msg describes the head just completed
 *     if (ev & HTTP_EV_DONE) -> the message ended at `used`
 *     data += used; len -= used;
 *   }
 *
 * Strictness (what is refused, with the status a server would answer):
 *   - a bare LF, or a CR not followed by LF, anywhere in a head, a chunk
 *     line or a trailer (400);
 *   - a method outside tchar, a request-target outside VCHAR, more than one
 *     SP between the parts of the request line (400); a version other than
 *     HTTP/1.0 and HTTP/1.1 (505 when it is well formed, else 400);
 *   - whitespace between a field name and its colon, a field line that
 *     starts with whitespace (obs-fold), an empty field name, control bytes
 *     in a value (400);
 *   - Content-Length that is not only digits, longer than 18 digits, or
 *     given twice (400);
 *   - in a request: Transfer-Encoding together with Content-Length, in an
 *     HTTP/1.0 request, or whose final coding is not chunked, or chunked
 *     twice (400); another coding before chunked (501); CONNECT (501); no
 *     Host in HTTP/1.1, several Host lines, or a Host with bytes a host
 *     cannot have (400);
 *   - a head longer than max_head bytes: 414 while in the request-target,
 *     else 431; a trailer section longer than max_head (431);
 *   - a chunk size that is not hex, would overflow 64 bits, or is followed
 *     by anything but CRLF or an extension; a chunk line longer than
 *     HTTP_CHUNK_LINE_MAX; chunk data not followed by CRLF (400);
 *   - in a response: a malformed status line, Transfer-Encoding with
 *     Content-Length, 101 to a request that did not ask to upgrade (the
 *     caller answers 502).
 */
#ifndef GH_HTTP_PARSE_H
#define GH_HTTP_PARSE_H

#include <stddef.h>
#include <stdint.h>

/* http_parser.type */
#define HTTP_REQUEST 1u
#define HTTP_RESPONSE 2u

/* Events returned by http_feed(), as bits; 0: all input used, more needed. */
#define HTTP_EV_HEAD 1   /* a head is complete: p->msg describes it */
#define HTTP_EV_DONE 2   /* the message is complete */
#define HTTP_EV_TUNNEL 4 /* (with DONE) a 101: raw bytes both ways from now */
#define HTTP_ERROR (-1)  /* p->err_status and p->err say why; stays failed */

/* http_msg.body */
#define HTTP_BODY_NONE 0u
#define HTTP_BODY_LENGTH 1u
#define HTTP_BODY_CHUNKED 2u
#define HTTP_BODY_CLOSE 3u /* responses: until the connection closes */

/* http_msg.method */
#define HTTP_M_OTHER 0u
#define HTTP_M_GET 1u
#define HTTP_M_HEAD 2u
#define HTTP_M_POST 3u
#define HTTP_M_PUT 4u
#define HTTP_M_CONNECT 5u

/* http_parser.req_flags: what the response parser must know of the request
 * it answers, set by the caller before the response head completes. */
#define HTTP_REQ_HEAD 1u    /* a HEAD request: the response has no body */
#define HTTP_REQ_UPGRADE 2u /* the request asked to upgrade: 101 switches */

/* Longest chunk-size line (size, extensions), CRLF excluded. */
#define HTTP_CHUNK_LINE_MAX 4096u
/* Largest Content-Length: 18 digits. */
#define HTTP_LENGTH_MAX 999999999999999999ull

/* What a head said. Valid from HTTP_EV_HEAD until the next message starts
 * (the first byte fed after HTTP_EV_DONE). */
typedef struct http_msg {
  uint8_t method;          /* HTTP_M_* (requests) */
  uint8_t minor;           /* HTTP/1.<minor> */
  uint16_t status;         /* responses */
  uint8_t body;            /* HTTP_BODY_* */
  uint8_t keep_alive;      /* another message may follow on the connection */
  uint8_t upgrade;         /* request: Connection: upgrade with Upgrade;
                              response: a 101 that switches protocols */
  uint8_t expect_continue; /* request: Expect: 100-continue */
  uint8_t interim;         /* response: 1xx other than 101 */
  uint8_t conn_close;      /* Connection: close */
  uint8_t hosts;           /* Host field lines (requests) */
  uint8_t has_cl, has_te;
  uint32_t line_off; /* where the start line begins (after empty lines) */
  uint32_t head_len; /* bytes of the head, final CRLF included */
  uint64_t content_length;
} http_msg;

typedef struct http_parser {
  uint8_t type;      /* HTTP_REQUEST or HTTP_RESPONSE */
  uint8_t req_flags; /* HTTP_REQ_*; see above */
  /* the rest is private */
  uint8_t state;
  uint8_t hdr;    /* which field is being read */
  uint8_t vstate; /* where in its value */
  uint8_t nlen;   /* bytes of name[] / tok[] used; 255: too long */
  uint8_t tlen;
  uint8_t tparam; /* the current list element has parameters */
  uint8_t te_count, te_chunked, te_last_chunked, conn_upgrade, conn_keep;
  uint8_t has_upgrade;
  char name[24];
  char tok[16];
  uint32_t max_head;
  uint32_t count; /* bytes of the current head, trailer or chunk line */
  uint64_t num;
  uint64_t remaining; /* of the body or of the current chunk */
  uint16_t err_status;
  const char *err; /* static text */
  http_msg msg;
} http_parser;

/* A field line of a complete, valid head (see http_head_next). */
typedef struct http_field {
  const uint8_t *line; /* the whole line, CRLF included */
  size_t line_len;
  const uint8_t *name;
  size_t name_len;
  const uint8_t *value; /* without surrounding whitespace */
  size_t value_len;
} http_field;

void http_parser_init(http_parser *p, uint32_t type, uint32_t max_head);

/* Consumes bytes from data, at most up to the next event. Returns the events
 * (bits), 0 when every byte was used and the message goes on, or HTTP_ERROR.
 * *used is the number of bytes consumed. */
int http_feed(http_parser *p, const uint8_t *data, size_t len, size_t *used);

/* The input ended (the peer closed). Returns HTTP_EV_DONE when that ends a
 * message (a body until close), 0 when the parser was between messages or
 * in a tunnel, HTTP_ERROR when a message was cut short. */
int http_finish(http_parser *p);

/* True when the next byte fed belongs to a head (or the empty lines before
 * it): the caller keeps such bytes. */
int http_in_head(const http_parser *p);
/* True between messages: nothing of the next one has been fed. */
int http_idle(const http_parser *p);
/* True once a 101 made the stream raw. */
int http_tunnel(const http_parser *p);
/* Makes the parser pass everything from now on (both directions of an
 * upgraded connection). */
void http_set_tunnel(http_parser *p);

/* Iterates the field lines of a complete head that http_feed() accepted
 * (head, head_len as in p->msg). *pos starts at 0. Returns 1 with *f
 * filled, 0 after the last field. The start line is [msg.line_off, the
 * first CRLF]. */
int http_head_next(const uint8_t *head, size_t head_len, size_t *pos,
                   http_field *f);
/* Where the start line ends (just after its CRLF). */
size_t http_head_start_end(const uint8_t *head, size_t head_len,
                           size_t line_off);

/* Checks for configuration values. */
int http_token_valid(const char *s, size_t len); /* 1*tchar */
int http_value_valid(const char *s, size_t len); /* field-value bytes */
int http_host_valid(const char *s, size_t len);  /* a Host value */
/* Case-insensitive equality of a byte range and a NUL-terminated string. */
int http_name_eq(const uint8_t *s, size_t len, const char *lower);
/* The reason phrase of a status this layer answers with. */
const char *http_status_text(unsigned status);

#endif
