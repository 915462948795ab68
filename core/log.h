/* Logging: one line per event, "TIME LEVEL subject: message", to stderr, a
 * file or syslog. The level is checked before anything is formatted. */
#ifndef GH_LOG_H
#define GH_LOG_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "gatehouse/gatehouse.h"

extern int gh__log_level; /* GH_LOG_*; lines above it are not formatted */

/* log_format: text lines, or one JSON object a line (time, level, subject,
 * the fields the subject carries, message). Syslog is always text. */
enum { GH__LOG_TEXT = 0, GH__LOG_JSON = 1 };
extern int gh__log_format;
/* "text|json" -> GH__LOG_*, or -1. */
int gh__log_parse_format(const char *name);

/* Copies in to out (outlen bytes, NUL included) as the inside of a JSON
 * string (RFC 8259): '"' and '\\' escaped, control characters, DEL, C1,
 * U+2028/2029 as \uXXXX, every byte of invalid UTF-8 as \ufffd; truncates
 * at an escape's or character's boundary. Returns the length written. */
size_t gh__json_escape(const char *in, char *out, size_t outlen);

void gh__log_write(int level, const char *subject, const char *fmt, ...)
    GH_PRINTF(3, 4);
void gh__log_vwrite(int level, const char *subject, const char *fmt,
                    va_list ap);

#define GH__LOG(level, subject, ...)                                           \
  do {                                                                         \
    if ((level) <= gh__log_level)                                              \
      gh__log_write((level), (subject), __VA_ARGS__);                          \
  } while (0)
#define gh__error(subject, ...) GH__LOG(GH_LOG_ERROR, subject, __VA_ARGS__)
#define gh__warn(subject, ...) GH__LOG(GH_LOG_WARN, subject, __VA_ARGS__)
#define gh__info(subject, ...) GH__LOG(GH_LOG_INFO, subject, __VA_ARGS__)
#define gh__debug(subject, ...) GH__LOG(GH_LOG_DEBUG, subject, __VA_ARGS__)
#define gh__trace(subject, ...) GH__LOG(GH_LOG_TRACE, subject, __VA_ARGS__)

/* Copies in to out (outlen bytes, NUL included), with every byte that is
 * not printable ASCII or part of a well-formed UTF-8 sequence (control
 * bytes, DEL, C1 controls, invalid UTF-8) written as \xNN; truncates at a
 * character's boundary. Every logged message and subject goes through it.
 * Returns the length written. */
size_t gh__log_escape(const char *in, char *out, size_t outlen);

/* The length (1 to 4) of the well-formed UTF-8 sequence at s (n bytes
 * available), with its code point in *cp; 0 for an invalid or truncated
 * one (overlong forms, surrogates, past U+10FFFF). */
size_t gh__utf8_seq(const unsigned char *s, size_t n, uint32_t *cp);

/* A token bucket for lines a peer can cause at will: up to `burst` at once,
 * then `per_s` a second. gh__rl_take() says whether one more may be logged
 * at now_ms; those refused are counted in `quiet` (the caller reports and
 * clears it on the next line it logs). Zeroed: full. */
typedef struct gh__rl {
  uint64_t at_ms;
  uint32_t tokens, quiet;
  int started;
} gh__rl;
int gh__rl_take(gh__rl *rl, uint64_t now_ms, uint32_t burst, uint32_t per_s);

/* "error|warn|info|debug|trace" -> GH_LOG_*, or -1. */
int gh__log_parse_level(const char *name);
const char *gh__log_level_name(int level);

/* Where lines go. gh__log_to_file() opens (append) and keeps the path so
 * that gh__log_reopen() can reopen it after rotation; 0 or -errno. */
int gh__log_to_file(const char *path);
int gh__log_reopen(void);
void gh__log_to_syslog(const char *ident);
void gh__log_to_stderr(void);

#endif
