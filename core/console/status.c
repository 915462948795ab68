/* `gatehouse status`: the console's picture as tables in a terminal, read
 * from /api/v1/overview of a running server or client. Exit status: 0 all
 * is well, 1 a destination is down (or a client's gateway has no tunnel
 * up), 2 usage or configuration error, 3 the endpoint did not answer (not
 * reachable, refused the token, or not a gatehouse). */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "../config.h"
#include "../util.h"

#include "../log.h"
#include "console.h"
#include "json.h"

#define ST_OK 0
#define ST_DOWN 1
#define ST_USAGE 2
#define ST_UNREACHABLE 3
#define ST_MAX_BODY (64u << 20)

static const char status_usage[] =
    "usage: gatehouse status [-c FILE | --admin HOST:PORT] [--json] "
    "[--watch [--interval S]] [--token TOKEN | --token-file FILE]\n"
    "  -c, --config FILE   read admin_listen and admin_token from this file\n"
    "      --admin HOST:PORT  the admin endpoint to ask\n"
    "      --json          print /api/v1/overview as it is\n"
    "      --watch         redraw every --interval seconds (default 2) until "
    "interrupted\n"
    "      --token TOKEN, --token-file FILE  the admin token (also "
    "GATEHOUSE_ADMIN_TOKEN)\n"
    "Exit status: 0 all up, 1 a destination down or a client's gateway "
    "without a tunnel,\n"
    "2 usage or configuration error, 3 the endpoint did not answer.\n";

/* ---- GET over a blocking socket ---- */

static int http_get(const char *host, uint16_t port, const char *path,
                    const char *token, char **body, size_t *blen, char *err,
                    size_t errlen) {
  char ps[8];
  snprintf(ps, sizeof(ps), "%u", port);
  struct addrinfo hints = {0}, *ai = NULL;
  hints.ai_socktype = SOCK_STREAM;
  int r = getaddrinfo(host, ps, &hints, &ai);
  if (r != 0) {
    snprintf(err, errlen, "%s: %s", host, gai_strerror(r));
    return -1;
  }
  int fd = -1;
  for (struct addrinfo *a = ai; a; a = a->ai_next) {
    fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0)
      continue;
    struct timeval tv = {5, 0};
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    if (connect(fd, a->ai_addr, a->ai_addrlen) == 0)
      break;
    close(fd);
    fd = -1;
  }
  freeaddrinfo(ai);
  if (fd < 0) {
    snprintf(err, errlen, "cannot connect to %s:%u: %s", host, port,
             strerror(errno));
    return -1;
  }
  char req[1024];
  int n = snprintf(req, sizeof(req),
                   "GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n%s%s%s"
                   "\r\n",
                   path, host, token ? "Authorization: Bearer " : "",
                   token ? token : "", token ? "\r\n" : "");
  if (n < 0 || (size_t)n >= sizeof(req) ||
      send(fd, req, (size_t)n, MSG_NOSIGNAL) != n) {
    snprintf(err, errlen, "cannot send to %s:%u", host, port);
    explicit_bzero(req, sizeof(req));
    close(fd);
    return -1;
  }
  explicit_bzero(req, sizeof(req));
  size_t cap = 65536, len = 0;
  char *buf = malloc(cap);
  for (;;) {
    if (!buf)
      break;
    if (len + 1 >= cap) {
      if (cap >= ST_MAX_BODY)
        break;
      char *nb = realloc(buf, cap * 2);
      if (!nb)
        break;
      buf = nb, cap *= 2;
    }
    ssize_t k = recv(fd, buf + len, cap - len - 1, 0);
    if (k < 0 && errno == EINTR)
      continue;
    if (k <= 0)
      break;
    len += (size_t)k;
  }
  close(fd);
  if (!buf || len == 0) {
    free(buf);
    snprintf(err, errlen, "no answer from %s:%u", host, port);
    return -1;
  }
  buf[len] = 0;
  int code = 0;
  char *hend = strstr(buf, "\r\n\r\n");
  if (sscanf(buf, "HTTP/1.%*d %d", &code) != 1 || !hend) {
    free(buf);
    snprintf(err, errlen, "%s:%u: not an HTTP answer", host, port);
    return -1;
  }
  hend += 4;
  *blen = len - (size_t)(hend - buf);
  memmove(buf, hend, *blen + 1);
  *body = buf;
  return code;
}

/* ---- formatting ---- */

static void human_bytes(char *out, size_t len, double v, const char *suffix) {
  static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int u = 0;
  while (v >= 1024 && u < 4)
    v /= 1024, u++;
  if (u == 0)
    snprintf(out, len, "%.0f %s%s", v, units[u], suffix);
  else
    snprintf(out, len, "%.1f %s%s", v, units[u], suffix);
}

static void human_secs(char *out, size_t len, double s) {
  unsigned long v = s > 0 ? (unsigned long)s : 0;
  if (v < 60)
    snprintf(out, len, "%lus", v);
  else if (v < 3600)
    snprintf(out, len, "%lum%02lus", v / 60, v % 60);
  else if (v < 86400)
    snprintf(out, len, "%luh%02lum", v / 3600, v / 60 % 60);
  else
    snprintf(out, len, "%lud%02luh", v / 86400, v / 3600 % 24);
}

/* A table: rows of cells, each escaped for the terminal (peer text). */
#define T_COLS 12
#define T_CELL 160
typedef struct table {
  int ncols;
  size_t nrows, cap;
  char (*cells)[T_COLS][T_CELL];
} table;

static size_t width(const char *s) { /* code points */
  size_t w = 0;
  for (; *s; s++)
    w += ((unsigned char)*s & 0xc0) != 0x80;
  return w;
}

static void t_row(table *t, ...) {
  if (t->nrows == t->cap) {
    size_t cap = t->cap ? t->cap * 2 : 16;
    void *n = realloc(t->cells, cap * sizeof(*t->cells));
    if (!n)
      return;
    t->cells = n;
    t->cap = cap;
  }
  va_list ap;
  va_start(ap, t);
  for (int i = 0; i < t->ncols; i++) {
    const char *v = va_arg(ap, const char *);
    char raw[T_CELL];
    snprintf(raw, sizeof(raw), "%s", v ? v : "-");
    gh__log_escape(raw, t->cells[t->nrows][i], T_CELL);
  }
  va_end(ap);
  t->nrows++;
}

static void t_print(table *t, FILE *out) {
  size_t w[T_COLS] = {0};
  for (size_t r = 0; r < t->nrows; r++)
    for (int i = 0; i < t->ncols; i++)
      if (width(t->cells[r][i]) > w[i])
        w[i] = width(t->cells[r][i]);
  for (size_t r = 0; r < t->nrows; r++) {
    for (int i = 0; i < t->ncols; i++) {
      const char *c = t->cells[r][i];
      fputs(c, out);
      if (i + 1 < t->ncols)
        for (size_t k = width(c); k < w[i] + 2; k++)
          fputc(' ', out);
    }
    fputc('\n', out);
  }
  free(t->cells);
  t->cells = NULL;
  t->nrows = t->cap = 0;
}

static const char *num(char *buf, size_t len, const gh__jv *o,
                       const char *key) {
  const gh__jv *v = gh__json_get(o, key);
  if (!v || v->type != GH__J_NUM)
    return "-";
  snprintf(buf, len, "%.0f", v->num);
  return buf;
}

/* ST_DOWN when a destination is not up, or a client's gateway has no
 * tunnel up; else ST_OK. */
static int health(const gh__jv *o) {
  const char *role = gh__json_str(o, "role");
  int client = role && strcmp(role, "client") == 0;
  const gh__jv *gws = gh__json_get(o, "gateways");
  for (size_t i = 0; client && i < gh__json_len(gws); i++)
    if (!gh__json_len(gh__json_get(gws->items[i], "tunnels")))
      return ST_DOWN;
  const gh__jv *ds = gh__json_get(o, "destinations");
  for (size_t i = 0; i < gh__json_len(ds); i++) {
    const char *state = gh__json_str(ds->items[i], "state");
    if (!state || strcmp(state, "up") != 0)
      return ST_DOWN;
  }
  return ST_OK;
}

static void render(const gh__jv *o, FILE *out) {
  const char *role = gh__json_str(o, "role");
  int client = role && strcmp(role, "client") == 0;
  fprintf(out, "gatehouse %s %s (API %.0f)\n\n", role ? role : "?",
          gh__json_str(o, "version") ? gh__json_str(o, "version") : "?",
          gh__json_num(o, "api", 0));
  const gh__jv *gws = gh__json_get(o, "gateways");
  table t = {.ncols = 11};
  t_row(&t, "GATEWAY", "NAME", "TUNNEL", "STATE", "TLS", "CIPHER", "UP",
        "STREAMS", "RTT", "SENT", "RECEIVED");
  for (size_t i = 0; i < gh__json_len(gws); i++) {
    const gh__jv *gw = gws->items[i];
    const char *id = gh__json_str(gw, "id");
    const gh__jv *tuns = gh__json_get(gw, "tunnels");
    if (gh__json_len(tuns) == 0)
      t_row(&t, id, "-", "-", "no tunnel", "", "", "", "", "", "", "");
    for (size_t k = 0; k < gh__json_len(tuns); k++) {
      const gh__jv *tu = tuns->items[k];
      char up[32], st[32], rtt[32], tx[32], rx[32];
      human_secs(up, sizeof(up), gh__json_num(tu, "up_s", 0));
      snprintf(rtt, sizeof(rtt), "%.0f ms", gh__json_num(tu, "rtt_ms", 0));
      human_bytes(tx, sizeof(tx), gh__json_num(tu, "bytes_sent", 0), "");
      human_bytes(rx, sizeof(rx), gh__json_num(tu, "bytes_received", 0), "");
      t_row(&t, id, gh__json_str(tu, "name"), gh__json_str(tu, "peer"),
            gh__json_str(tu, "state"), gh__json_str(tu, "tls_version"),
            gh__json_str(tu, "cipher"), up, num(st, sizeof(st), tu, "streams"),
            rtt, tx, rx);
    }
  }
  t_print(&t, out);
  if (client) {
    fputc('\n', out);
    table c = {.ncols = 5};
    t_row(&c, "GATEWAY", "SERVER", "STATE", "ATTEMPTS", "NEXT RETRY");
    for (size_t i = 0; i < gh__json_len(gws); i++) {
      const gh__jv *gw = gws->items[i];
      const gh__jv *cs = gh__json_get(gw, "connections");
      for (size_t k = 0; k < gh__json_len(cs); k++) {
        const gh__jv *cn = cs->items[k];
        char at[32], nr[32] = "-";
        const gh__jv *n = gh__json_get(cn, "next_retry_ms");
        if (n && n->type == GH__J_NUM)
          snprintf(nr, sizeof(nr), "%.1fs", n->num / 1000.0);
        t_row(&c, gh__json_str(gw, "id"), gh__json_str(cn, "server"),
              gh__json_str(cn, "state"), num(at, sizeof(at), cn, "attempts"),
              nr);
      }
    }
    t_print(&c, out);
    fputc('\n', out);
    table a = {.ncols = 5};
    t_row(&a, "GATEWAY", "ACL LINE", "ACTION", "TARGET", "HITS");
    for (size_t i = 0; i < gh__json_len(gws); i++) {
      const gh__jv *gw = gws->items[i];
      const gh__jv *acl = gh__json_get(gw, "acl");
      const gh__jv *rules = gh__json_get(acl, "rules");
      char ln[32], h[32];
      for (size_t k = 0; k < gh__json_len(rules); k++) {
        const gh__jv *r = rules->items[k];
        t_row(&a, gh__json_str(gw, "id"), num(ln, sizeof(ln), r, "line"),
              gh__json_str(r, "action"), gh__json_str(r, "target"),
              num(h, sizeof(h), r, "hits"));
      }
      t_row(&a, gh__json_str(gw, "id"), "-", "deny", "(no rule matched)",
            num(h, sizeof(h), acl, "no_match_hits"));
    }
    t_print(&a, out);
  }
  fputc('\n', out);
  const gh__jv *ds = gh__json_get(o, "destinations");
  table d = {.ncols = 11};
  t_row(&d, "DESTINATION", "GATEWAY", "TYPE", "LISTEN", "RESOURCE", "STATE",
        "STREAMS", "OPENS/S", "REFUSED/S", "IN/S", "OUT/S");
  for (size_t i = 0; i < gh__json_len(ds); i++) {
    const gh__jv *x = ds->items[i];
    const char *state = gh__json_str(x, "state");
    char sb[200], st[32], op[32] = "-", rf[32] = "-", in[32] = "-",
                          ou[32] = "-";
    if (state && strcmp(state, "up") != 0) {
      snprintf(sb, sizeof(sb), "%s: %s", state,
               gh__json_str(x, "reason") ? gh__json_str(x, "reason") : "?");
    } else {
      snprintf(sb, sizeof(sb), "%s", state ? state : "?");
    }
    const gh__jv *rate = gh__json_get(x, "rate");
    if (rate && rate->type == GH__J_OBJ) {
      num(op, sizeof(op), rate, "opens");
      num(rf, sizeof(rf), rate, "refusals");
      human_bytes(in, sizeof(in), gh__json_num(rate, "bytes_in", 0), "/s");
      human_bytes(ou, sizeof(ou), gh__json_num(rate, "bytes_out", 0), "/s");
    }
    t_row(&d, gh__json_str(x, "name"), gh__json_str(x, "gateway"),
          gh__json_str(x, "type"), gh__json_str(x, "listen"),
          gh__json_str(x, "resource"), sb, num(st, sizeof(st), x, "streams"),
          op, rf, in, ou);
  }
  t_print(&d, out);
  const gh__jv *ev = gh__json_get(o, "events");
  if (gh__json_len(ev)) {
    fputc('\n', out);
    table e = {.ncols = 4};
    t_row(&e, "TIME (UTC)", "EVENT", "SUBJECT", "MESSAGE");
    for (size_t i = 0; i < gh__json_len(ev) && i < 10; i++) {
      const gh__jv *x = ev->items[i];
      time_t when = (time_t)(gh__json_num(x, "time_ms", 0) / 1000.0);
      struct tm tm;
      char ts[32];
      gmtime_r(&when, &tm);
      strftime(ts, sizeof(ts), "%Y-%m-%d %H:%M:%S", &tm);
      t_row(&e, ts, gh__json_str(x, "kind"), gh__json_str(x, "subject"),
            gh__json_str(x, "message"));
    }
    t_print(&e, out);
  }
}

/* One look: prints, returns the exit status. */
static int look(const char *host, uint16_t port, const char *token, int json,
                FILE *out) {
  char err[512];
  char *body = NULL;
  size_t blen = 0;
  int code = http_get(host, port, "/api/v1/overview", token, &body, &blen, err,
                      sizeof(err));
  if (code < 0) {
    fprintf(stderr, "gatehouse status: %s\n", err);
    return ST_UNREACHABLE;
  }
  if (code != 200) {
    fprintf(stderr, "gatehouse status: %s:%u answered HTTP %d%s\n", host, port,
            code, code == 401 ? " (give the admin token: --token-file)" : "");
    free(body);
    return ST_UNREACHABLE;
  }
  gh__jv *o = gh__json_parse(body, blen);
  if (!o || gh__json_num(o, "api", 0) != GH__CONSOLE_API_VERSION) {
    fprintf(stderr, "gatehouse status: %s:%u: not a gatehouse API v%d answer\n",
            host, port, GH__CONSOLE_API_VERSION);
    gh__json_free(o);
    free(body);
    return ST_UNREACHABLE;
  }
  int rc = health(o);
  if (json)
    fwrite(body, 1, blen, out);
  else
    render(o, out);
  gh__json_free(o);
  free(body);
  return rc;
}

static volatile sig_atomic_t stop_watch;
static void on_int(int sig) {
  (void)sig;
  stop_watch = 1;
}

static char *read_token_file(const char *path) {
  uint8_t *buf = NULL;
  size_t len = 0;
  if (gh__file_read(path, &buf, &len) < 0)
    return NULL;
  while (len && (buf[len - 1] == '\n' || buf[len - 1] == '\r' ||
                 buf[len - 1] == ' ' || buf[len - 1] == '\t'))
    len--;
  char *t = gh__strndup((const char *)buf, len);
  explicit_bzero(buf, len);
  free(buf);
  return t;
}

/* admin_listen and admin_token of a configuration file. */
static int from_config(const char *path, char **host, uint16_t *port,
                       char **token) {
  char err[1024] = "";
  int kind = gh__cfg_sniff(path);
  if (kind < 0) {
    fprintf(stderr, "%s: %s\n", path, strerror(-kind));
    return -1;
  }
  gh__cfg_common *cm;
  gh__server_cfg scfg = {0};
  gh__client_cfg ccfg = {0};
  int r = kind == 1 ? gh__server_cfg_load(&scfg, path, err, sizeof(err))
                    : gh__client_cfg_load(&ccfg, path, err, sizeof(err));
  cm = kind == 1 ? &scfg.common : &ccfg.common;
  if (r == 0 && !cm->admin_port) {
    snprintf(err, sizeof(err), "%s: no admin_listen: nothing to ask", path);
    r = -1;
  }
  if (r == 0) {
    *host = gh__strdup(cm->admin_host && *cm->admin_host &&
                               strcmp(cm->admin_host, "0.0.0.0") != 0 &&
                               strcmp(cm->admin_host, "::") != 0
                           ? cm->admin_host
                           : "127.0.0.1");
    *port = cm->admin_port;
    if (cm->admin_token && !*token)
      *token = gh__strdup(cm->admin_token);
  } else {
    fprintf(stderr, "gatehouse status: %s\n", err);
  }
  if (kind == 1)
    gh__server_cfg_free(&scfg);
  else
    gh__client_cfg_free(&ccfg);
  return r < 0 ? -1 : 0;
}

int gh__status_main(int argc, char **argv) {
  static const struct option longs[] = {
      {"config", required_argument, NULL, 'c'},
      {"admin", required_argument, NULL, 'a'},
      {"json", no_argument, NULL, 'j'},
      {"watch", no_argument, NULL, 'w'},
      {"interval", required_argument, NULL, 'i'},
      {"token", required_argument, NULL, 't'},
      {"token-file", required_argument, NULL, 'T'},
      {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0}};
  const char *config = NULL, *admin = NULL, *token_file = NULL;
  char *token = NULL, *host = NULL;
  uint16_t port = 0;
  int json = 0, watch = 0, c, rc;
  double interval = 2;
  optind = 1;
  while ((c = getopt_long(argc, argv, "c:h", longs, NULL)) != -1) {
    switch (c) {
    case 'c':
      config = optarg;
      break;
    case 'a':
      admin = optarg;
      break;
    case 'j':
      json = 1;
      break;
    case 'w':
      watch = 1;
      break;
    case 'i':
      interval = atof(optarg);
      break;
    case 't':
      free(token);
      token = gh__strdup(optarg);
      break;
    case 'T':
      token_file = optarg;
      break;
    case 'h':
      fputs(status_usage, stdout);
      return ST_OK;
    default:
      fputs(status_usage, stderr);
      return ST_USAGE;
    }
  }
  if (optind < argc || !config == !admin || !(interval >= 1) ||
      (token && token_file)) {
    fputs(status_usage, stderr);
    free(token);
    return ST_USAGE;
  }
  if (token_file && !(token = read_token_file(token_file))) {
    fprintf(stderr, "gatehouse status: cannot read %s\n", token_file);
    return ST_USAGE;
  }
  if (!token && getenv("GATEHOUSE_ADMIN_TOKEN"))
    token = gh__strdup(getenv("GATEHOUSE_ADMIN_TOKEN"));
  if (admin) {
    if (gh__hostport_parse(admin, &host, &port) < 0 || !port) {
      fprintf(stderr, "gatehouse status: --admin: expected host:port, not "
                      "'%s'\n",
              admin);
      free(token);
      return ST_USAGE;
    }
    if (!host || !*host) {
      free(host);
      host = gh__strdup("127.0.0.1");
    }
  } else if (from_config(config, &host, &port, &token) < 0) {
    free(token);
    return ST_USAGE;
  }
  if (!watch) {
    rc = look(host, port, token, json, stdout);
  } else {
    signal(SIGINT, on_int);
    signal(SIGTERM, on_int);
    do {
      if (!json)
        fputs("\033[H\033[2J", stdout);
      rc = look(host, port, token, json, stdout);
      fflush(stdout);
      struct timespec ts = {(time_t)interval,
                            (long)((interval - floor(interval)) * 1e9)};
      while (!stop_watch && nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
    } while (!stop_watch);
  }
  if (token)
    explicit_bzero(token, strlen(token));
  free(token);
  free(host);
  return rc;
}
