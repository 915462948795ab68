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
#include "get.h"
#include "json.h"

#define ST_OK 0
#define ST_DOWN 1
#define ST_USAGE 2
#define ST_UNREACHABLE 3

static const char status_usage[] =
    "usage: gatehouse status [-c FILE | --admin [https://]HOST:PORT] "
    "[--cacert FILE] [--json]\n"
    "                        [--watch [--interval S]] [--token TOKEN | "
    "--token-file FILE]\n"
    "  -c, --config FILE   read admin_listen, admin_token and admin.tls.cert "
    "from this file\n"
    "      --admin HOST:PORT  the admin endpoint to ask (https://HOST:PORT: "
    "over TLS)\n"
    "      --cacert FILE   HTTPS: trust these CA certificates (default: the "
    "system's;\n"
    "                      with -c, the endpoint's own admin.tls.cert)\n"
    "      --json          print /api/v1/overview as it is\n"
    "      --watch         redraw every --interval seconds (default 2) until "
    "interrupted\n"
    "      --token TOKEN, --token-file FILE  the admin token (also "
    "GATEHOUSE_ADMIN_TOKEN)\n"
    "Exit status: 0 all up, 1 a destination down or a client's gateway "
    "without a tunnel,\n"
    "2 usage or configuration error, 3 the endpoint did not answer.\n";

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
static int look(const gh__get_target *tg, gh__get_ctx *ctx, const char *token,
                int json, FILE *out) {
  const char *host = tg->host;
  uint16_t port = tg->port;
  char err[768];
  char *body = NULL;
  size_t blen = 0;
  int code = gh__get(tg, ctx, "/api/v1/overview", token, &body, &blen, err,
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

/* admin_listen, admin_token and admin.tls.cert of a configuration file
 * (*pin: the certificate's path when the endpoint speaks TLS). */
static int from_config(const char *path, char **host, uint16_t *port,
                       char **token, char **pin) {
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
    if (cm->admin_tls_cert)
      *pin = gh__strdup(cm->admin_tls_cert);
  } else {
    fprintf(stderr, "gatehouse status: %s\n", err);
  }
  if (kind == 1)
    gh__server_cfg_free(&scfg);
  else
    gh__client_cfg_free(&ccfg);
  return r < 0 ? -1 : 0;
}

/* --admin [http://|https://]HOST:PORT[/]: 0, or -1. */
static int parse_admin(const char *admin, char **host, uint16_t *port,
                       int *tls) {
  *tls = 0;
  if (strncmp(admin, "https://", 8) == 0)
    admin += 8, *tls = 1;
  else if (strncmp(admin, "http://", 7) == 0)
    admin += 7;
  size_t n = strlen(admin);
  char *hp = gh__strndup(admin, n && admin[n - 1] == '/' ? n - 1 : n);
  int r = gh__hostport_parse(hp, host, port);
  free(hp);
  if (r < 0 || !*port) {
    free(*host);
    *host = NULL;
    return -1;
  }
  if (!*host || !**host) {
    free(*host);
    *host = gh__strdup("127.0.0.1");
  }
  return 0;
}

int gh__status_main(int argc, char **argv) {
  static const struct option longs[] = {
      {"config", required_argument, NULL, 'c'},
      {"admin", required_argument, NULL, 'a'},
      {"cacert", required_argument, NULL, 'C'},
      {"json", no_argument, NULL, 'j'},
      {"watch", no_argument, NULL, 'w'},
      {"interval", required_argument, NULL, 'i'},
      {"token", required_argument, NULL, 't'},
      {"token-file", required_argument, NULL, 'T'},
      {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0}};
  const char *config = NULL, *admin = NULL, *token_file = NULL, *cacert = NULL;
  char *token = NULL, *host = NULL, *pin = NULL;
  uint16_t port = 0;
  int json = 0, watch = 0, tls = 0, c, rc = ST_USAGE;
  double interval = 2;
  gh__get_ctx *ctx = NULL;
  optind = 1;
  while ((c = getopt_long(argc, argv, "c:h", longs, NULL)) != -1) {
    switch (c) {
    case 'c':
      config = optarg;
      break;
    case 'a':
      admin = optarg;
      break;
    case 'C':
      cacert = optarg;
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
      free(token);
      return ST_OK;
    default:
      fputs(status_usage, stderr);
      free(token);
      return ST_USAGE;
    }
  }
  if (optind < argc || !config == !admin || !(interval >= 1) ||
      (token && token_file)) {
    fputs(status_usage, stderr);
    goto out;
  }
  if (token_file && !(token = read_token_file(token_file))) {
    fprintf(stderr, "gatehouse status: cannot read %s\n", token_file);
    goto out;
  }
  if (!token && getenv("GATEHOUSE_ADMIN_TOKEN"))
    token = gh__strdup(getenv("GATEHOUSE_ADMIN_TOKEN"));
  if (admin) {
    if (parse_admin(admin, &host, &port, &tls) < 0) {
      fprintf(stderr,
              "gatehouse status: --admin: expected [https://]host:port, "
              "not '%s'\n",
              admin);
      goto out;
    }
  } else if (from_config(config, &host, &port, &token, &pin) < 0) {
    goto out;
  } else {
    tls = pin != NULL;
  }
  if (cacert && !tls) {
    fprintf(stderr, "gatehouse status: --cacert: %s:%u speaks plain HTTP%s\n",
            host, port, admin ? " (--admin https://HOST:PORT for TLS)" : "");
    goto out;
  }
  gh__get_target tg = {.host = host,
                       .port = port,
                       .tls = tls,
                       .pin_cert = cacert ? NULL : pin,
                       .cacert = cacert};
  char err[512];
  if (gh__get_ctx_new(&tg, &ctx, err, sizeof(err)) < 0) {
    fprintf(stderr, "gatehouse status: %s\n", err);
    goto out;
  }
  if (!watch) {
    rc = look(&tg, ctx, token, json, stdout);
  } else {
    signal(SIGINT, on_int);
    signal(SIGTERM, on_int);
    do {
      if (!json)
        fputs("\033[H\033[2J", stdout);
      rc = look(&tg, ctx, token, json, stdout);
      fflush(stdout);
      struct timespec ts = {(time_t)interval,
                            (long)((interval - floor(interval)) * 1e9)};
      while (!stop_watch && nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
    } while (!stop_watch);
  }
out:
  gh__get_ctx_free(ctx);
  if (token)
    explicit_bzero(token, strlen(token));
  free(token);
  free(host);
  free(pin);
  return rc;
}
