#include "log.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

int gh__log_level = GH_LOG_INFO;
int gh__log_format = GH__LOG_TEXT;

static FILE *log_fp;   /* NULL: stderr */
static char *log_path; /* for reopen */
static int log_syslog;

static const char *const level_names[] = {"error", "warn", "info", "debug",
                                          "trace"};

int gh__log_parse_level(const char *name) {
  for (int i = 0; i < 5; i++)
    if (strcmp(name, level_names[i]) == 0)
      return i;
  return -1;
}

const char *gh__log_level_name(int level) {
  return level >= 0 && level < 5 ? level_names[level] : "?";
}

size_t gh__utf8_seq(const unsigned char *s, size_t n, uint32_t *cp_out) {
  if (n == 0)
    return 0;
  unsigned c = s[0];
  size_t len;
  uint32_t cp, min;
  if (c < 0x80) {
    *cp_out = c;
    return 1;
  }
  if (c >= 0xc2 && c <= 0xdf)
    len = 2, cp = c & 0x1f, min = 0x80;
  else if (c >= 0xe0 && c <= 0xef)
    len = 3, cp = c & 0x0f, min = 0x800;
  else if (c >= 0xf0 && c <= 0xf4)
    len = 4, cp = c & 0x07, min = 0x10000;
  else
    return 0;
  if (n < len)
    return 0;
  for (size_t i = 1; i < len; i++) {
    if ((s[i] & 0xc0) != 0x80)
      return 0;
    cp = cp << 6 | (s[i] & 0x3f);
  }
  if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
    return 0;
  *cp_out = cp;
  return len;
}

size_t gh__log_escape(const char *in, char *out, size_t outlen) {
  static const char hex[] = "0123456789abcdef";
  const unsigned char *s = (const unsigned char *)in;
  size_t n = strlen(in), used = 0;
  if (outlen == 0)
    return 0;
  for (size_t i = 0; i < n;) {
    /* printable: not C0, DEL or C1 (terminals obey C1 as ESC sequences) */
    uint32_t cp = 0;
    size_t len = gh__utf8_seq(s + i, n - i, &cp);
    if (len && cp >= 0x20 && !(cp >= 0x7f && cp <= 0x9f)) {
      if (used + len >= outlen)
        break;
      memcpy(out + used, s + i, len);
      used += len;
      i += len;
      continue;
    }
    if (used + 4 >= outlen)
      break;
    out[used++] = '\\';
    out[used++] = 'x';
    out[used++] = hex[s[i] >> 4];
    out[used++] = hex[s[i] & 15];
    i++;
  }
  out[used] = 0;
  return used;
}

int gh__rl_take(gh__rl *rl, uint64_t now_ms, uint32_t burst, uint32_t per_s) {
  if (!rl->started) {
    rl->started = 1;
    rl->tokens = burst;
    rl->at_ms = now_ms;
  }
  uint64_t earned = (now_ms - rl->at_ms) * per_s / 1000;
  if (earned > 0) {
    rl->tokens =
        (uint32_t)(rl->tokens + earned > burst ? burst : rl->tokens + earned);
    rl->at_ms = now_ms;
  }
  if (rl->tokens == 0) {
    rl->quiet++;
    return 0;
  }
  rl->tokens--;
  return 1;
}

int gh__log_parse_format(const char *name) {
  if (strcmp(name, "text") == 0)
    return GH__LOG_TEXT;
  if (strcmp(name, "json") == 0)
    return GH__LOG_JSON;
  return -1;
}

size_t gh__json_escape(const char *in, char *out, size_t outlen) {
  static const char hex[] = "0123456789abcdef";
  const unsigned char *s = (const unsigned char *)in;
  size_t n = strlen(in), used = 0;
  if (outlen == 0)
    return 0;
  for (size_t i = 0; i < n;) {
    uint32_t cp = 0;
    size_t len = gh__utf8_seq(s + i, n - i, &cp);
    char e[8];
    size_t elen;
    if (len && cp >= 0x20 && cp != '"' && cp != '\\' && cp != 0x7f &&
        !(cp >= 0x80 && cp <= 0x9f) && cp != 0x2028 && cp != 0x2029) {
      if (used + len >= outlen)
        break;
      memcpy(out + used, s + i, len);
      used += len;
      i += len;
      continue;
    }
    if (len && (cp == '"' || cp == '\\')) {
      e[0] = '\\', e[1] = (char)cp, elen = 2;
    } else if (len && cp == '\n') {
      e[0] = '\\', e[1] = 'n', elen = 2;
    } else {
      /* a control character is \u00XX; an invalid byte becomes the
       * replacement character, so that the line stays valid UTF-8 */
      uint32_t u = len ? cp : 0xfffd;
      e[0] = '\\', e[1] = 'u', e[2] = hex[u >> 12 & 15], e[3] = hex[u >> 8 & 15],
      e[4] = hex[u >> 4 & 15], e[5] = hex[u & 15], elen = 6;
      if (!len)
        len = 1;
    }
    if (used + elen >= outlen)
      break;
    memcpy(out + used, e, elen);
    used += elen;
    i += len;
  }
  out[used] = 0;
  return used;
}

/* The fields a subject carries: "tunnel PEER" (a tunnel not yet
 * authenticated), "tunnel GW PEER" (a tunnel), "GW DEST #N PEER" (a
 * stream); any other subject is only the subject. */
static void json_subject_fields(const char *subject, char *out, size_t len) {
  char w[4][256] = {{0}};
  int n = sscanf(subject, "%255s %255s %255s %255s", w[0], w[1], w[2], w[3]);
  char a[256 * 6 + 1], b[256 * 6 + 1], c[256 * 6 + 1];
  out[0] = 0;
  if (n == 2 && strcmp(w[0], "tunnel") == 0) { /* not yet authenticated */
    gh__json_escape(w[1], a, sizeof(a));
    snprintf(out, len, ",\"subsystem\":\"tunnel\",\"peer\":\"%s\"", a);
  } else if (n == 3 && strcmp(w[0], "tunnel") == 0) {
    gh__json_escape(w[1], a, sizeof(a));
    gh__json_escape(w[2], b, sizeof(b));
    snprintf(out, len,
             ",\"subsystem\":\"tunnel\",\"gateway\":\"%s\",\"peer\":\"%s\"", a,
             b);
  } else if (n == 4 && w[2][0] == '#' && w[2][1] >= '0' && w[2][1] <= '9') {
    unsigned long id = strtoul(w[2] + 1, NULL, 10);
    gh__json_escape(w[0], a, sizeof(a));
    gh__json_escape(w[1], b, sizeof(b));
    gh__json_escape(w[3], c, sizeof(c));
    snprintf(out, len,
             ",\"subsystem\":\"stream\",\"gateway\":\"%s\",\"destination\":"
             "\"%s\",\"stream\":%lu,\"peer\":\"%s\"",
             a, b, id, c);
  }
}

static void log_json(FILE *fp, const char *when, long ms, int level,
                     const char *subject, const char *raw) {
  char msg[2048 * 6 + 1], sub[256 * 6 + 1], fields[3 * 256 * 6 + 256];
  gh__json_escape(raw, msg, sizeof(msg));
  gh__json_escape(subject, sub, sizeof(sub));
  json_subject_fields(subject, fields, sizeof(fields));
  fprintf(fp,
          "{\"time\":\"%s.%03ldZ\",\"level\":\"%s\",\"subject\":\"%s\"%s,"
          "\"message\":\"%s\"}\n",
          when, ms, gh__log_level_name(level), sub, fields, msg);
}

void gh__log_vwrite(int level, const char *subject, const char *fmt,
                    va_list ap) {
  /* Messages carry peer text (a NOTICE, an OPEN_FAIL's reason, names):
   * with its control bytes escaped, no peer can end a line and forge the
   * next, nor send a terminal escape to whoever reads the log. */
  char raw[2048], msg[2048 * 4 + 1], sub[256 * 4 + 1];
  vsnprintf(raw, sizeof(raw), fmt, ap);
  if (gh__log_format == GH__LOG_JSON && !log_syslog) {
    char rawsub[256];
    snprintf(rawsub, sizeof(rawsub), "%s", subject);
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    char when[32];
    strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
    FILE *fp = log_fp ? log_fp : stderr;
    log_json(fp, when, ts.tv_nsec / 1000000L, level, rawsub, raw);
    fflush(fp);
    return;
  }
  gh__log_escape(raw, msg, sizeof(msg));
  snprintf(raw, 256, "%s", subject);
  gh__log_escape(raw, sub, sizeof(sub));
  subject = sub;
  if (log_syslog) {
    static const int prio[] = {LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG,
                               LOG_DEBUG};
    syslog(prio[level < 0 ? 0 : level > 4 ? 4 : level], "%s: %s", subject, msg);
    return;
  }
  struct timespec ts;
  struct tm tm;
  clock_gettime(CLOCK_REALTIME, &ts);
  gmtime_r(&ts.tv_sec, &tm);
  char when[32];
  strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
  FILE *fp = log_fp ? log_fp : stderr;
  fprintf(fp, "%s.%03ldZ %-5s %s: %s\n", when, ts.tv_nsec / 1000000L,
          gh__log_level_name(level), subject, msg);
  fflush(fp);
}

void gh__log_write(int level, const char *subject, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  gh__log_vwrite(level, subject, fmt, ap);
  va_end(ap);
}

int gh__log_to_file(const char *path) {
  FILE *fp = fopen(path, "ae");
  if (!fp)
    return -errno;
  if (log_fp)
    fclose(log_fp);
  log_fp = fp;
  if (log_path != path) {
    free(log_path);
    log_path = strdup(path);
  }
  log_syslog = 0;
  return 0;
}

int gh__log_reopen(void) {
  return log_path ? gh__log_to_file(log_path) : 0;
}

void gh__log_to_syslog(const char *ident) {
  openlog(ident, LOG_PID | LOG_NDELAY, LOG_DAEMON);
  log_syslog = 1;
}

void gh__log_to_stderr(void) {
  if (log_fp)
    fclose(log_fp);
  log_fp = NULL;
  log_syslog = 0;
}
