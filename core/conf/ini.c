/* The INI reader: inih reads key = value; this file feeds it one line at
 * a time, opens sections itself (inih truncates their names), and words
 * every error as FILE:LINE. */
#include <ctype.h>
#include <ini.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "../log.h"
#include "../util.h"
#include "keys.h"

int gh__cf_fail(gh__parse *p, int line, const char *fmt, ...) GH_PRINTF(3, 4);
int gh__cf_fail(gh__parse *p, int line, const char *fmt, ...) {
  char msg[768];
  va_list ap;
  if (p->failed)
    return GH_EINVAL; /* the first error is the one to fix first */
  p->failed = 1;
  p->err_line = line;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof(msg), fmt, ap);
  va_end(ap);
  if (!p->err || !p->errlen)
    return GH_EINVAL;
  if (line > 0)
    snprintf(p->err, p->errlen, "%s:%d: %s", p->file, line, msg);
  else
    snprintf(p->err, p->errlen, "%s: %s", p->file, msg);
  return GH_EINVAL;
}

const char *gh__cf_sec_desc(const gh__parse *p, char *buf, size_t len) {
  static const char *const kinds[] = {"",        "server",     "client",
                                      "gateway", "gateway",    "destination",
                                      "acl",     "destination"};
  if (p->sec_name[0])
    snprintf(buf, len, "[%s %s]", kinds[p->sec], p->sec_name);
  else
    snprintf(buf, len, "[%s]", kinds[p->sec]);
  return buf;
}

/* inih's rule for the end of a token: one of chars, or an inline ';'
 * comment (a ';' after a blank). The reader must see lines as inih does. */
static const char *find_end(const char *s, const char *chars) {
  int was_space = 0;
  while (*s && !strchr(chars, *s) && !(was_space && *s == ';')) {
    was_space = isspace((unsigned char)*s);
    s++;
  }
  return s;
}

void gh__cf_trim(const char **s, size_t *n) {
  while (*n > 0 && isspace((unsigned char)**s)) {
    (*s)++;
    (*n)--;
  }
  while (*n > 0 && isspace((unsigned char)(*s)[*n - 1]))
    (*n)--;
}

static int section_begin(gh__parse *p, const char *line) {
  const char *end = find_end(line + 1, "]");
  if (*end != ']')
    return gh__cf_fail(p, p->line, "section header without ']'");
  const char *after = end + 1;
  while (isspace((unsigned char)*after))
    after++;
  if (*after && *after != ';' && *after != '#')
    return gh__cf_fail(p, p->line, "text after the section header");
  const char *in = line + 1;
  size_t n = (size_t)(end - in);
  gh__cf_trim(&in, &n);
  size_t kn = 0;
  while (kn < n && !isspace((unsigned char)in[kn]))
    kn++;
  const char *nm = in + kn;
  size_t nn = n - kn;
  gh__cf_trim(&nm, &nn);
  char kind[64], name[GH__NAME_MAX + 2];
  if (kn == 0 || kn >= sizeof(kind))
    return gh__cf_fail(p, p->line, "bad section header");
  if (nn > GH__NAME_MAX || memchr(nm, ' ', nn) || memchr(nm, '\t', nn))
    return gh__cf_fail(p, p->line, "bad section name (no spaces, at most %d)",
                       GH__NAME_MAX);
  memcpy(kind, in, kn);
  kind[kn] = '\0';
  memcpy(name, nm, nn);
  name[nn] = '\0';
  if (gh__cf_section_end(p) < 0)
    return GH_EINVAL;
  p->sec = SEC_NONE;
  p->sec_line = p->line;
  p->sec_name[0] = '\0';
  if (gh__cf_section_open(p, kind, name) < 0)
    return GH_EINVAL;
  gh__cf_keys_open(p);
  return 0;
}

/* Sees each line before inih does: sections are opened here (inih has no
 * callback for them, and truncates their names), and lines inih would
 * reject get a clear reason. */
static int line_classify(gh__parse *p, const char *line) {
  if (!*line || *line == '\n' || *line == ';' || *line == '#')
    return 0;
  if (*line == '[')
    return section_begin(p, line);
  const char *e = find_end(line, "=:");
  if (*e != '=' && *e != ':')
    return gh__cf_fail(p, p->line, "expected key = value or a [section]");
  return 0;
}

/* The next physical line of text at *pos, trimmed, in *s / *n; 0 at the
 * end. */
int gh__cf_next_line(const char *text, size_t len, size_t *pos, const char **s,
                     size_t *n, int first) {
  if (*pos >= len)
    return 0;
  const char *b = text + *pos;
  size_t rest = len - *pos;
  const char *nl = memchr(b, '\n', rest);
  size_t ln = nl ? (size_t)(nl - b) : rest;
  *pos += ln + (nl != NULL);
  if (first && ln >= 3 && memcmp(b, "\xEF\xBB\xBF", 3) == 0) {
    b += 3; /* a UTF-8 byte order mark */
    ln -= 3;
  }
  *s = b;
  *n = ln;
  return 1;
}

/* inih's reader, fgets-like: exactly one line per call so that p->line is
 * the line inih works on. Leading blanks are removed, so that an indented
 * key is a key and never an inih continuation line. inih silently splits a
 * line longer than its buffer (num); that is refused here instead. */
static char *rd_line(char *str, int num, void *stream) {
  gh__parse *p = stream;
  const char *s;
  size_t n;
  if (p->failed ||
      !gh__cf_next_line(p->text, p->len, &p->pos, &s, &n, p->line == 0))
    return NULL;
  p->line++;
  if (memchr(s, '\0', n)) {
    gh__cf_fail(p, p->line, "NUL byte in the line");
    return NULL;
  }
  gh__cf_trim(&s, &n);
  if (num < 3 || n > (size_t)num - 2) {
    gh__cf_fail(p, p->line,
                "line too long (at most %d characters; split a long allow list "
                "over several allow lines)",
                num < 3 ? 0 : num - 2);
    return NULL;
  }
  memcpy(str, s, n);
  str[n] = '\n';
  str[n + 1] = '\0';
  if (line_classify(p, str) < 0)
    return NULL;
  return str;
}

int gh__cf_parse_text(gh__parse *p) {
  int r = ini_parse_stream(rd_line, p, gh__cf_on_kv, p);
  if (r > 0 && (!p->failed || r < p->err_line)) {
    p->failed = 0; /* inih saw an earlier error than ours */
    gh__cf_fail(p, r, "syntax error: expected key = value or a [section]");
  } else if (r < 0 && !p->failed) {
    gh__cf_fail(p, 0, "cannot parse (out of memory)");
  }
  if (!p->failed)
    gh__cf_section_end(p);
  return p->failed ? GH_EINVAL : 0;
}
