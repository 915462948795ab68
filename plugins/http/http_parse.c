/* The HTTP/1.1 message parser: a byte-at-a-time state machine for heads,
 * chunk lines and trailers, and bulk skipping for body data. See
 * http_parse.h for the contract and what is refused. */
#include "http_parse.h"

#include <string.h>

enum {
  /* between messages, and the request line */
  S_START,
  S_START_LF, /* an empty line before a request line */
  S_METHOD,
  S_TARGET_FIRST,
  S_TARGET,
  S_VERSION,
  S_LINE_LF,
  /* the status line */
  S_RVERSION,
  S_STATUS,
  S_STATUS_SP,
  S_REASON,
  /* field lines */
  S_FIELD_START,
  S_NAME,
  S_VALUE,
  S_VALUE_LF,
  S_HEAD_END_LF,
  /* bodies */
  S_BODY_LENGTH,
  S_CHUNK_SIZE_FIRST,
  S_CHUNK_SIZE,
  S_CHUNK_BWS,
  S_CHUNK_EXT,
  S_CHUNK_SIZE_LF,
  S_CHUNK_DATA,
  S_CHUNK_DATA_CR,
  S_CHUNK_DATA_LF,
  S_TRAILER_START,
  S_TRAILER_NAME,
  S_TRAILER_VALUE,
  S_TRAILER_LF,
  S_TRAILER_END_LF,
  S_BODY_CLOSE,
  S_TUNNEL,
  S_ERROR,
};

/* Fields whose values the parser reads. */
enum {
  H_OTHER,
  H_CONTENT_LENGTH,
  H_TRANSFER_ENCODING,
  H_CONNECTION,
  H_UPGRADE,
  H_EXPECT,
  H_HOST,
};

#define CR '\r'
#define LF '\n'
#define SP ' '
#define HTAB '\t'

/* ------------------------------------------------------------ classes */

/* Byte classes, one table: */
#define C_TCHAR                                                                \
  1u /* tchar: "!#$%&'*+-.^_`|~", DIGIT, ALPHA (RFC 9110, 5.6.2) */
#define C_VCHAR 2u /* visible ASCII, 0x21-0x7e */
#define C_VALUE 4u /* in a field value: VCHAR, obs-text, SP, HTAB */
#define C_HOST 8u  /* in a Host: unreserved, sub-delims, ':', '%', '[', ']' */

static const uint8_t cls[256] = {
    0,  0,  0,  0,  0,  0,  0,  0,  0,  4,  0,  0,  0,  0,  0,  0,  0,  0,  0,
    0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  4,  15, 6,  7,  15, 15,
    15, 15, 14, 14, 15, 15, 6,  15, 15, 6,  15, 15, 15, 15, 15, 15, 15, 15, 15,
    15, 14, 14, 6,  14, 6,  6,  6,  15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15,
    15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 14, 6,  14, 7,
    15, 7,  15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15,
    15, 15, 15, 15, 15, 15, 15, 15, 15, 6,  7,  6,  15, 0,  4,  4,  4,  4,  4,
    4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,
    4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,
    4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,
    4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,
    4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,
    4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,
    4,  4,  4,  4,  4,  4,  4,  4,  4,
};

static int is_tchar(uint8_t c) {
  return cls[c] & C_TCHAR;
}

static int is_vchar(uint8_t c) {
  return cls[c] & C_VCHAR;
}

static int is_value(uint8_t c) {
  return cls[c] & C_VALUE;
}

static int is_ows(uint8_t c) {
  return c == SP || c == HTAB;
}

static int hex_val(uint8_t c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

static int is_host_char(uint8_t c) {
  return cls[c] & C_HOST;
}

static uint8_t lower(uint8_t c) {
  return (c >= 'A' && c <= 'Z') ? (uint8_t)(c + 32) : c;
}

int http_name_eq(const uint8_t *s, size_t len, const char *want) {
  size_t n = strlen(want);
  if (len != n)
    return 0;
  for (size_t i = 0; i < n; i++)
    if (lower(s[i]) != (uint8_t)want[i])
      return 0;
  return 1;
}

int http_token_valid(const char *s, size_t len) {
  if (len == 0)
    return 0;
  for (size_t i = 0; i < len; i++)
    if (!is_tchar((uint8_t)s[i]))
      return 0;
  return 1;
}

int http_value_valid(const char *s, size_t len) {
  for (size_t i = 0; i < len; i++)
    if (!is_value((uint8_t)s[i]))
      return 0;
  return 1;
}

int http_host_valid(const char *s, size_t len) {
  for (size_t i = 0; i < len; i++)
    if (!is_host_char((uint8_t)s[i]))
      return 0;
  return 1;
}

const char *http_status_text(unsigned status) {
  switch (status) {
  case 400:
    return "Bad Request";
  case 408:
    return "Request Timeout";
  case 414:
    return "URI Too Long";
  case 431:
    return "Request Header Fields Too Large";
  case 501:
    return "Not Implemented";
  case 502:
    return "Bad Gateway";
  case 503:
    return "Service Unavailable";
  case 505:
    return "HTTP Version Not Supported";
  default:
    return "Error";
  }
}

/* ------------------------------------------------------------ state */

void http_parser_init(http_parser *p, uint32_t type, uint32_t max_head) {
  memset(p, 0, sizeof *p);
  p->type = (uint8_t)type;
  p->max_head = max_head;
  p->state = S_START;
}

int http_in_head(const http_parser *p) {
  return p->state <= S_HEAD_END_LF;
}

int http_idle(const http_parser *p) {
  return p->state == S_START && p->count == 0;
}

int http_tunnel(const http_parser *p) {
  return p->state == S_TUNNEL;
}

void http_set_tunnel(http_parser *p) {
  p->state = S_TUNNEL;
}

static int parse_error(http_parser *p, uint16_t status, const char *why) {
  p->state = S_ERROR;
  p->err_status = status;
  p->err = why;
  return HTTP_ERROR;
}

/* A failure of the message the parser reads: a request gets `status`, a
 * response is a bad gateway whatever it was. */
static int bad_message(http_parser *p, uint16_t status, const char *why) {
  return parse_error(p, p->type == HTTP_REQUEST ? status : 502, why);
}

static void begin_message(http_parser *p) {
  uint8_t type = p->type, req_flags = p->req_flags;
  uint32_t max_head = p->max_head;
  memset(p, 0, sizeof *p);
  p->type = type;
  p->req_flags = req_flags;
  p->max_head = max_head;
  p->state = S_START;
}

/* ------------------------------------------------------------ fields */

static uint8_t field_id(const http_parser *p) {
  if (p->nlen == 255)
    return H_OTHER;
  const uint8_t *n = (const uint8_t *)p->name;
  if (http_name_eq(n, p->nlen, "content-length"))
    return H_CONTENT_LENGTH;
  if (http_name_eq(n, p->nlen, "transfer-encoding"))
    return H_TRANSFER_ENCODING;
  if (http_name_eq(n, p->nlen, "connection"))
    return H_CONNECTION;
  if (p->type == HTTP_REQUEST) {
    if (http_name_eq(n, p->nlen, "upgrade"))
      return H_UPGRADE;
    if (http_name_eq(n, p->nlen, "expect"))
      return H_EXPECT;
    if (http_name_eq(n, p->nlen, "host"))
      return H_HOST;
  }
  return H_OTHER;
}

/* One element of a list-valued field (Connection, Transfer-Encoding,
 * Expect), lowercased in tok[] (tlen 255: longer than tok). */
static int list_element(http_parser *p) {
  const uint8_t *t = (const uint8_t *)p->tok;
  size_t n = p->tlen == 255 ? 0 : p->tlen;
  int known = p->tlen != 255;
  switch (p->hdr) {
  case H_TRANSFER_ENCODING:
    p->te_count++;
    if (known && !p->tparam && http_name_eq(t, n, "chunked")) {
      p->te_chunked++;
      p->te_last_chunked = 1;
    } else {
      p->te_last_chunked = 0;
    }
    break;
  case H_CONNECTION:
    if (known && http_name_eq(t, n, "close"))
      p->msg.conn_close = 1;
    else if (known && http_name_eq(t, n, "keep-alive"))
      p->conn_keep = 1;
    else if (known && http_name_eq(t, n, "upgrade"))
      p->conn_upgrade = 1;
    break;
  case H_EXPECT:
    if (known && http_name_eq(t, n, "100-continue"))
      p->msg.expect_continue = 1;
    break;
  }
  p->tlen = 0;
  p->tparam = 0;
  return 0;
}

/* vstate of list values */
enum { L_BETWEEN, L_TOKEN, L_AFTER, L_PARAM, L_QUOTED, L_QUOTED_ESC };

static int list_byte(http_parser *p, uint8_t c) {
  switch (p->vstate) {
  case L_BETWEEN:
    if (is_ows(c) || c == ',')
      return 0;
    if (!is_tchar(c))
      break;
    p->vstate = L_TOKEN;
    p->tlen = 0;
    /* fall through */
  case L_TOKEN:
    if (is_tchar(c)) {
      if (p->tlen < sizeof p->tok)
        p->tok[p->tlen++] = (char)lower(c);
      else
        p->tlen = 255;
      return 0;
    }
    if (is_ows(c)) {
      p->vstate = L_AFTER;
      return 0;
    }
    /* fall through */
  case L_AFTER:
    if (is_ows(c))
      return 0;
    if (c == ',') {
      p->vstate = L_BETWEEN;
      return list_element(p);
    }
    if (c == ';') {
      p->tparam = 1;
      p->vstate = L_PARAM;
      return 0;
    }
    break;
  case L_PARAM: /* parameters: token "=" ( token / quoted-string ) */
    if (c == ',') {
      p->vstate = L_BETWEEN;
      return list_element(p);
    }
    if (c == '"')
      p->vstate = L_QUOTED;
    else if (!is_tchar(c) && !is_ows(c) && c != '=' && c != ';')
      break;
    return 0;
  case L_QUOTED:
    if (c == '"')
      p->vstate = L_PARAM;
    else if (c == '\\')
      p->vstate = L_QUOTED_ESC;
    return 0;
  case L_QUOTED_ESC:
    p->vstate = L_QUOTED;
    return 0;
  }
  /* Transfer-Encoding decides the framing: anything odd in it is refused.
   * The other lists only inform; an odd element just matches nothing. */
  if (p->hdr == H_TRANSFER_ENCODING)
    return bad_message(p, 400, "malformed Transfer-Encoding");
  p->tlen = 255;
  p->vstate = L_AFTER;
  if (c == ',')
    p->vstate = L_BETWEEN;
  return 0;
}

static int list_end(http_parser *p) {
  if (p->vstate == L_QUOTED || p->vstate == L_QUOTED_ESC)
    return p->hdr == H_TRANSFER_ENCODING
               ? bad_message(p, 400, "malformed Transfer-Encoding")
               : 0;
  if (p->vstate != L_BETWEEN)
    list_element(p);
  return 0;
}

/* vstate of Content-Length: leading OWS, digits, trailing OWS */
enum { N_LEAD, N_DIGITS, N_TRAIL };

static int value_byte(http_parser *p, uint8_t c) {
  switch (p->hdr) {
  case H_CONTENT_LENGTH:
    if (c >= '0' && c <= '9') {
      if (p->vstate == N_TRAIL)
        return bad_message(p, 400, "malformed Content-Length");
      p->vstate = N_DIGITS;
      uint64_t d = (uint64_t)(c - '0');
      if (p->num > (HTTP_LENGTH_MAX - d) / 10)
        return bad_message(p, 400, "Content-Length too large");
      p->num = p->num * 10 + d;
      return 0;
    }
    if (is_ows(c)) {
      if (p->vstate == N_DIGITS)
        p->vstate = N_TRAIL;
      return 0;
    }
    return bad_message(p, 400, "malformed Content-Length");
  case H_TRANSFER_ENCODING:
  case H_CONNECTION:
  case H_EXPECT:
    return list_byte(p, c);
  case H_UPGRADE:
    if (!is_ows(c))
      p->has_upgrade = 1;
    return 0;
  case H_HOST:
    /* OWS only around the value: host bytes, then trailing OWS */
    if (is_ows(c)) {
      if (p->vstate == 1)
        p->vstate = 2;
      return 0;
    }
    if (p->vstate == 2 || !is_host_char(c))
      return bad_message(p, 400, "malformed Host");
    p->vstate = 1;
    return 0;
  }
  return 0;
}

static int value_end(http_parser *p) {
  switch (p->hdr) {
  case H_CONTENT_LENGTH:
    if (p->vstate == N_LEAD)
      return bad_message(p, 400, "empty Content-Length");
    if (p->msg.has_cl)
      return bad_message(p, 400, "more than one Content-Length");
    p->msg.has_cl = 1;
    p->msg.content_length = p->num;
    return 0;
  case H_TRANSFER_ENCODING:
    p->msg.has_te = 1;
    return list_end(p);
  case H_CONNECTION:
  case H_EXPECT:
    return list_end(p);
  case H_HOST:
    if (p->msg.hosts == 255)
      return bad_message(p, 400, "more than one Host");
    p->msg.hosts++;
    return 0;
  }
  return 0;
}

/* ------------------------------------------------------------ heads */

static int head_done_request(http_parser *p) {
  http_msg *m = &p->msg;
  if (m->method == HTTP_M_CONNECT)
    return parse_error(p, 501, "CONNECT is not supported");
  if (m->hosts > 1)
    return parse_error(p, 400, "more than one Host");
  if (m->hosts == 0 && m->minor == 1)
    return parse_error(p, 400, "no Host in an HTTP/1.1 request");
  if (m->has_te) {
    if (m->minor == 0)
      return parse_error(p, 400, "Transfer-Encoding in an HTTP/1.0 request");
    if (m->has_cl)
      return parse_error(p, 400, "both Content-Length and Transfer-Encoding");
    if (p->te_count == 0 || !p->te_last_chunked || p->te_chunked > 1)
      return parse_error(p, 400,
                         "Transfer-Encoding does not end in one chunked");
    if (p->te_count > 1)
      return parse_error(p, 501, "transfer coding other than chunked");
    m->body = HTTP_BODY_CHUNKED;
  } else if (m->has_cl && m->content_length > 0) {
    m->body = HTTP_BODY_LENGTH;
  } else {
    m->body = HTTP_BODY_NONE;
  }
  m->keep_alive = !m->conn_close && (m->minor == 1 || p->conn_keep) ? 1u : 0u;
  m->upgrade = p->conn_upgrade && p->has_upgrade ? 1u : 0u;
  return 0;
}

static int head_done_response(http_parser *p) {
  http_msg *m = &p->msg;
  if (m->status < 100)
    return parse_error(p, 502, "malformed status code");
  if (m->status < 200) {
    m->body = HTTP_BODY_NONE;
    m->keep_alive = 1;
    if (m->status != 101) {
      m->interim = 1;
      return 0;
    }
    if (!(p->req_flags & HTTP_REQ_UPGRADE))
      return parse_error(p, 502,
                         "101 Switching Protocols without an upgrade request");
    m->upgrade = 1;
    return 0;
  }
  if (m->has_te && m->has_cl)
    return parse_error(p, 502, "both Content-Length and Transfer-Encoding");
  if (m->has_te && m->minor == 0)
    return parse_error(p, 502, "Transfer-Encoding in an HTTP/1.0 response");
  if ((p->req_flags & HTTP_REQ_HEAD) || m->status == 204 || m->status == 304)
    m->body = HTTP_BODY_NONE;
  else if (m->has_te)
    m->body = p->te_last_chunked && p->te_chunked == 1 ? HTTP_BODY_CHUNKED
                                                       : HTTP_BODY_CLOSE;
  else if (m->has_cl)
    m->body = m->content_length > 0 ? HTTP_BODY_LENGTH : HTTP_BODY_NONE;
  else
    m->body = HTTP_BODY_CLOSE;
  m->keep_alive = m->body != HTTP_BODY_CLOSE && !m->conn_close &&
                          (m->minor == 1 || p->conn_keep)
                      ? 1u
                      : 0u;
  return 0;
}

/* The blank line ended the head: decide the framing. Returns the events. */
static int head_done(http_parser *p) {
  http_msg *m = &p->msg;
  m->head_len = p->count;
  int r =
      p->type == HTTP_REQUEST ? head_done_request(p) : head_done_response(p);
  if (r < 0)
    return r;
  p->count = 0;
  p->num = 0;
  switch (m->body) {
  case HTTP_BODY_LENGTH:
    p->remaining = m->content_length;
    p->state = S_BODY_LENGTH;
    return HTTP_EV_HEAD;
  case HTTP_BODY_CHUNKED:
    p->state = S_CHUNK_SIZE_FIRST;
    return HTTP_EV_HEAD;
  case HTTP_BODY_CLOSE:
    p->state = S_BODY_CLOSE;
    return HTTP_EV_HEAD;
  }
  if (m->upgrade && p->type == HTTP_RESPONSE) {
    p->state = S_TUNNEL;
    return HTTP_EV_HEAD | HTTP_EV_DONE | HTTP_EV_TUNNEL;
  }
  p->state = S_START;
  return HTTP_EV_HEAD | HTTP_EV_DONE;
}

static uint8_t method_id(const http_parser *p) {
  const uint8_t *n = (const uint8_t *)p->name;
  size_t len = p->nlen == 255 ? 0 : p->nlen;
  /* methods are case-sensitive */
  if (len == 3 && memcmp(n, "GET", 3) == 0)
    return HTTP_M_GET;
  if (len == 4 && memcmp(n, "HEAD", 4) == 0)
    return HTTP_M_HEAD;
  if (len == 4 && memcmp(n, "POST", 4) == 0)
    return HTTP_M_POST;
  if (len == 3 && memcmp(n, "PUT", 3) == 0)
    return HTTP_M_PUT;
  if (len == 7 && memcmp(n, "CONNECT", 7) == 0)
    return HTTP_M_CONNECT;
  return HTTP_M_OTHER;
}

/* "HTTP/" DIGIT "." DIGIT, byte i of it; at the last, check the version. */
static int version_byte(http_parser *p, uint8_t c, uint32_t i) {
  static const char proto[] = "HTTP/";
  if (i < 5) {
    if (c != (uint8_t)proto[i])
      return bad_message(p, 400, "malformed HTTP version");
  } else if (i == 6) {
    if (c != '.')
      return bad_message(p, 400, "malformed HTTP version");
  } else if (c < '0' || c > '9') {
    return bad_message(p, 400, "malformed HTTP version");
  } else if (i == 5) {
    p->num = (uint64_t)(c - '0');
  } else {
    if (p->num != 1 || c > '1')
      return bad_message(p, 505, "HTTP version not supported");
    p->msg.minor = (uint8_t)(c - '0');
  }
  return 0;
}

/* One byte of a head. Returns the events, 0, or HTTP_ERROR. */
static int head_byte(http_parser *p, uint8_t c) {
  if (p->state == S_START && p->count == 0)
    begin_message(p);
  if (++p->count > p->max_head) {
    if (p->state == S_TARGET || p->state == S_TARGET_FIRST)
      return bad_message(p, 414, "request-target too long");
    return bad_message(p, 431, "head too large");
  }
  switch (p->state) {
  case S_START:
    if (p->type == HTTP_REQUEST) {
      if (c == CR) { /* RFC 9112, 2.2: ignore empty lines before a request */
        p->state = S_START_LF;
        return 0;
      }
      if (!is_tchar(c))
        return parse_error(p, 400, "malformed request line");
      p->msg.line_off = p->count - 1;
      p->state = S_METHOD;
      p->nlen = 0;
      /* fall through to S_METHOD */
    } else {
      p->state = S_RVERSION;
      p->num = 0;
      return version_byte(p, c, 0);
    }
    /* fall through */
  case S_METHOD:
    if (is_tchar(c)) {
      if (p->nlen < 8)
        p->name[p->nlen++] = (char)c;
      else
        p->nlen = 255;
      return 0;
    }
    if (c != SP)
      return parse_error(p, 400, "malformed method");
    p->msg.method = method_id(p);
    p->state = S_TARGET_FIRST;
    return 0;
  case S_START_LF:
    if (c != LF)
      return parse_error(p, 400, "bare CR");
    p->state = S_START;
    return 0;
  case S_TARGET_FIRST:
  case S_TARGET:
    if (is_vchar(c)) {
      p->state = S_TARGET;
      return 0;
    }
    if (c != SP || p->state == S_TARGET_FIRST)
      return parse_error(p, 400, "malformed request-target");
    p->state = S_VERSION;
    p->nlen = 0;
    return 0;
  case S_VERSION:
    if (p->nlen == 8) {
      if (c != CR)
        return parse_error(p, 400, "malformed request line");
      p->state = S_LINE_LF;
      return 0;
    }
    return version_byte(p, c, p->nlen++);
  case S_RVERSION:
    if (++p->nlen < 8)
      return version_byte(p, c, p->nlen);
    if (c != SP)
      return parse_error(p, 502, "malformed status line");
    p->state = S_STATUS;
    p->nlen = 0;
    p->num = 0;
    return 0;
  case S_STATUS:
    if (c < '0' || c > '9')
      return parse_error(p, 502, "malformed status code");
    p->num = p->num * 10 + (uint64_t)(c - '0');
    if (++p->nlen == 3) {
      p->msg.status = (uint16_t)p->num;
      p->state = S_STATUS_SP;
    }
    return 0;
  case S_STATUS_SP: /* the reason phrase may be missing altogether */
    if (c == SP) {
      p->state = S_REASON;
      return 0;
    }
    if (c != CR)
      return parse_error(p, 502, "malformed status line");
    p->state = S_LINE_LF;
    return 0;
  case S_REASON:
    if (c == CR) {
      p->state = S_LINE_LF;
      return 0;
    }
    if (!is_value(c))
      return parse_error(p, 502, "malformed reason phrase");
    return 0;
  case S_LINE_LF:
  case S_VALUE_LF:
    if (c != LF)
      return bad_message(p, 400, "CR without LF");
    if (p->state == S_VALUE_LF) {
      int r = value_end(p);
      if (r < 0)
        return r;
    }
    p->state = S_FIELD_START;
    return 0;
  case S_FIELD_START:
    if (c == CR) {
      p->state = S_HEAD_END_LF;
      return 0;
    }
    if (!is_tchar(c)) {
      if (is_ows(c))
        return bad_message(p, 400,
                           "obsolete line folding or leading whitespace");
      return bad_message(p, 400, c == LF ? "bare LF" : "malformed field name");
    }
    p->state = S_NAME;
    p->nlen = 0;
    /* fall through */
  case S_NAME:
    if (is_tchar(c)) {
      if (p->nlen < sizeof p->name)
        p->name[p->nlen++] = (char)c;
      else
        p->nlen = 255;
      return 0;
    }
    if (c != ':')
      return bad_message(p, 400,
                         is_ows(c) ? "whitespace before a colon"
                                   : "malformed field name");
    p->hdr = field_id(p);
    p->vstate = 0;
    p->tlen = 0;
    p->tparam = 0;
    p->num = 0;
    p->state = S_VALUE;
    return 0;
  case S_VALUE:
    if (c == CR) {
      p->state = S_VALUE_LF;
      return 0;
    }
    if (!is_value(c))
      return bad_message(p, 400,
                         c == LF ? "bare LF" : "control byte in a field value");
    return value_byte(p, c);
  case S_HEAD_END_LF:
    if (c != LF)
      return bad_message(p, 400, "CR without LF");
    return head_done(p);
  }
  return parse_error(p, 400, "internal parser state");
}

/* ------------------------------------------------------------ bodies */

static int message_done(http_parser *p) {
  p->state = S_START;
  p->count = 0;
  return HTTP_EV_DONE;
}

/* One byte of a chunk line, the CRLF after chunk data, or a trailer. */
static int chunk_byte(http_parser *p, uint8_t c) {
  switch (p->state) {
  case S_CHUNK_SIZE_FIRST:
  case S_CHUNK_SIZE: {
    int v = hex_val(c);
    if (v >= 0) {
      if (p->num >> 60)
        return bad_message(p, 400, "chunk size too large");
      p->num = p->num << 4 | (uint64_t)v;
      p->state = S_CHUNK_SIZE;
      break;
    }
    if (p->state == S_CHUNK_SIZE_FIRST)
      return bad_message(p, 400, "malformed chunk size");
    if (c == CR)
      p->state = S_CHUNK_SIZE_LF;
    else if (c == ';')
      p->state = S_CHUNK_EXT;
    else if (is_ows(c))
      p->state = S_CHUNK_BWS;
    else
      return bad_message(p, 400, "malformed chunk size");
    break;
  }
  case S_CHUNK_BWS:
    if (c == ';')
      p->state = S_CHUNK_EXT;
    else if (!is_ows(c))
      return bad_message(p, 400, "malformed chunk extension");
    break;
  case S_CHUNK_EXT:
    if (c == CR)
      p->state = S_CHUNK_SIZE_LF;
    else if (!is_value(c))
      return bad_message(p, 400, "malformed chunk extension");
    break;
  case S_CHUNK_SIZE_LF:
    if (c != LF)
      return bad_message(p, 400, "CR without LF in a chunk line");
    p->count = 0;
    p->remaining = p->num;
    p->num = 0;
    p->state = p->remaining ? S_CHUNK_DATA : S_TRAILER_START;
    return 0;
  case S_CHUNK_DATA_CR:
    if (c != CR)
      return bad_message(p, 400, "chunk data longer than its size");
    p->state = S_CHUNK_DATA_LF;
    return 0;
  case S_CHUNK_DATA_LF:
    if (c != LF)
      return bad_message(p, 400, "CR without LF after chunk data");
    p->state = S_CHUNK_SIZE_FIRST;
    p->count = 0;
    p->num = 0;
    return 0;
  case S_TRAILER_START:
    if (++p->count > p->max_head)
      return bad_message(p, 431, "trailer section too large");
    if (c == CR) {
      p->state = S_TRAILER_END_LF;
      return 0;
    }
    if (!is_tchar(c))
      return bad_message(p, 400, "malformed trailer field");
    p->state = S_TRAILER_NAME;
    return 0;
  case S_TRAILER_NAME:
    if (++p->count > p->max_head)
      return bad_message(p, 431, "trailer section too large");
    if (c == ':')
      p->state = S_TRAILER_VALUE;
    else if (!is_tchar(c))
      return bad_message(p, 400, "malformed trailer field");
    return 0;
  case S_TRAILER_VALUE:
    if (++p->count > p->max_head)
      return bad_message(p, 431, "trailer section too large");
    if (c == CR)
      p->state = S_TRAILER_LF;
    else if (!is_value(c))
      return bad_message(p, 400, "control byte in a trailer field");
    return 0;
  case S_TRAILER_LF:
    if (++p->count > p->max_head)
      return bad_message(p, 431, "trailer section too large");
    if (c != LF)
      return bad_message(p, 400, "CR without LF in a trailer");
    p->state = S_TRAILER_START;
    return 0;
  case S_TRAILER_END_LF:
    if (c != LF)
      return bad_message(p, 400, "CR without LF at the end of a trailer");
    return message_done(p);
  default:
    return parse_error(p, 400, "internal parser state");
  }
  /* still on a chunk-size line */
  if (++p->count > HTTP_CHUNK_LINE_MAX)
    return bad_message(p, 400, "chunk line too long");
  return 0;
}

/* ------------------------------------------------------------ feed */

int http_feed(http_parser *p, const uint8_t *data, size_t len, size_t *used) {
  size_t i = 0;
  int ev = 0;
  while (i < len && ev == 0) {
    switch (p->state) {
    case S_ERROR:
      *used = i;
      return HTTP_ERROR;
    case S_TUNNEL:
    case S_BODY_CLOSE:
      i = len;
      break;
    case S_BODY_LENGTH:
    case S_CHUNK_DATA: {
      size_t n = len - i;
      if ((uint64_t)n >= p->remaining)
        n = (size_t)p->remaining;
      p->remaining -= n;
      i += n;
      if (p->remaining == 0) {
        if (p->state == S_BODY_LENGTH)
          ev = message_done(p);
        else
          p->state = S_CHUNK_DATA_CR;
      }
      break;
    }
    case S_NAME: {
      /* a run of name bytes: the first sizeof name are kept for field_id() */
      size_t j = i, room = p->max_head - p->count;
      while (j < len && j - i < room && is_tchar(data[j])) {
        if (p->nlen < sizeof p->name)
          p->name[p->nlen++] = (char)data[j];
        else
          p->nlen = 255;
        j++;
      }
      p->count += (uint32_t)(j - i);
      i = j;
      if (i < len)
        ev = head_byte(p, data[i++]);
      break;
    }
    case S_TARGET:
    case S_VALUE: {
      /* Most head bytes are in targets and in values no one reads: take a
       * run of them at once, up to the head limit; the byte that ends the
       * run (or breaks the limit) goes through head_byte(). */
      if (p->state == S_VALUE && p->hdr != H_OTHER) {
        ev = head_byte(p, data[i++]);
        break;
      }
      size_t j = i, room = p->max_head - p->count;
      if (p->state == S_TARGET)
        while (j < len && j - i < room && is_vchar(data[j]))
          j++;
      else
        while (j < len && j - i < room && is_value(data[j]))
          j++;
      p->count += (uint32_t)(j - i);
      i = j;
      if (i < len)
        ev = head_byte(p, data[i++]);
      break;
    }
    default:
      if (p->state <= S_HEAD_END_LF)
        ev = head_byte(p, data[i]);
      else
        ev = chunk_byte(p, data[i]);
      i++;
      break;
    }
    if (ev < 0) {
      *used = i;
      return HTTP_ERROR;
    }
  }
  *used = i;
  if (p->state == S_ERROR)
    return HTTP_ERROR;
  return ev;
}

int http_finish(http_parser *p) {
  switch (p->state) {
  case S_BODY_CLOSE:
    return message_done(p);
  case S_TUNNEL:
    return 0;
  case S_START:
    if (p->count == 0)
      return 0;
    break;
  case S_ERROR:
    return HTTP_ERROR;
  }
  return bad_message(p, 400, "message cut short by the end of the stream");
}

/* ------------------------------------------------------------ heads */

static size_t line_end(const uint8_t *h, size_t len, size_t from) {
  const uint8_t *lf = memchr(h + from, LF, len - from);
  return lf ? (size_t)(lf - h) + 1 : len;
}

size_t http_head_start_end(const uint8_t *head, size_t head_len,
                           size_t line_off) {
  return line_end(head, head_len, line_off < head_len ? line_off : head_len);
}

int http_head_next(const uint8_t *head, size_t head_len, size_t *pos,
                   http_field *f) {
  size_t at = *pos;
  if (at == 0) { /* skip empty lines and the start line */
    while (at + 1 < head_len && head[at] == CR && head[at + 1] == LF)
      at += 2;
    at = line_end(head, head_len, at);
  }
  /* the final CRLF, or the end */
  if (at + 2 > head_len || head[at] == CR) {
    *pos = head_len;
    return 0;
  }
  size_t end = line_end(head, head_len, at);
  const uint8_t *colon = memchr(head + at, ':', end - at);
  if (!colon) { /* not a head http_feed() accepted */
    *pos = head_len;
    return 0;
  }
  f->line = head + at;
  f->line_len = end - at;
  f->name = head + at;
  f->name_len = (size_t)(colon - f->name);
  const uint8_t *v = colon + 1;
  const uint8_t *ve = head + end - 2; /* before CRLF */
  while (v < ve && is_ows(*v))
    v++;
  while (ve > v && is_ows(ve[-1]))
    ve--;
  f->value = v;
  f->value_len = (size_t)(ve - v);
  *pos = end;
  return 1;
}
