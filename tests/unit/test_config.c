/* Configuration: the server's and the client's INI files (with FILE:LINE
 * errors), gh__cfg_sniff, gh__dest_validate against a registry of fake
 * handlers, and the pushed destination set (encode, decode, garbage). Every
 * file is written under a fresh mkdtemp() directory. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <errno.h>
#include <ftw.h>
#include <ini.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include "config.h"
#include "util.h"

#define TOKEN "6f1c0a1b2c3d4e5f6a7b8c9d0e1f2a3b"
#define TOKEN2 "dc2-token-aaaaaaaaaaaaaaaaaaaaaa"
#define FILE_TOKEN "file-token-0123456789abcdef"
#define SECRET "S3CRET-S3CRET-S3CRET-0123456789"

static char dir[64];

/* ------------------------------------------------------------ fixtures */

/* dir/name, in one of a few rotating buffers. */
static const char *P(const char *name) {
  static char bufs[8][512];
  static int k;
  char *b = bufs[k++ % 8];
  snprintf(b, sizeof(bufs[0]), "%s/%s", dir, name);
  return b;
}

static void put_n(const char *name, const void *content, size_t len) {
  FILE *f = fopen(P(name), "wb");
  assert_non_null(f);
  assert_int_equal(fwrite(content, 1, len, f), len);
  fclose(f);
}

static void put(const char *name, const char *content) {
  put_n(name, content, strlen(content));
}

static int rm_one(const char *path, const struct stat *st, int flag,
                  struct FTW *ftw) {
  (void)st;
  (void)flag;
  (void)ftw;
  return remove(path);
}

static int setup(void **state) {
  (void)state;
  snprintf(dir, sizeof(dir), "/tmp/gh-test-config-XXXXXX");
  if (!mkdtemp(dir))
    return -1;
  if (mkdir(P("sub"), 0700) < 0 || mkdir(P("tls"), 0700) < 0 ||
      mkdir(P("plugins"), 0700) < 0)
    return -1;
  put("server.crt", "SERVER-CERT\n");
  put("server.key", "SERVER-KEY\n");
  put("sub/clients-ca.crt", "CLIENTS-CA\n");
  put("ca.crt", "CA\n");
  put("client.crt", "CLIENT-CERT\n");
  put("client.key", "CLIENT-KEY\n");
  put("dc1.token", FILE_TOKEN "\r\n\n \t\n");
  put("tls/server.pem", "WEB-SERVER-CERT");
  put("tls/server.key", "WEB-SERVER-KEY");
  put("tls/ca.pem", "WEB-RESOURCE-CA");
  put("tls/push.pem", "PUSH-CLIENT-CERT");
  put("tls/push.key", "PUSH-CLIENT-KEY");
  return 0;
}

static int teardown(void **state) {
  (void)state;
  return nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* ---- loading */

static int load_s(gh__server_cfg *c, const char *text, char *err,
                  size_t errlen) {
  put("t.ini", text);
  return gh__server_cfg_load(c, P("t.ini"), err, errlen);
}

static int load_c(gh__client_cfg *c, const char *text, char *err,
                  size_t errlen) {
  put("t.ini", text);
  return gh__client_cfg_load(c, P("t.ini"), err, errlen);
}

static void load_s_ok(gh__server_cfg *c, const char *text) {
  char err[1024] = "";
  int rc = load_s(c, text, err, sizeof(err));
  if (rc != 0)
    print_error("unexpected error: %s\n", err);
  assert_int_equal(rc, 0);
}

static void load_c_ok(gh__client_cfg *c, const char *text) {
  char err[1024] = "";
  int rc = load_c(c, text, err, sizeof(err));
  if (rc != 0)
    print_error("unexpected error: %s\n", err);
  assert_int_equal(rc, 0);
}

/* The error must start with "DIR/t.ini:LINE: " ("DIR/t.ini: " for line 0)
 * and contain `what`. */
static void check_err(int rc, const char *err, int line, const char *what,
                      int at) {
  char prefix[600];
  if (line > 0)
    snprintf(prefix, sizeof(prefix), "%s:%d: ", P("t.ini"), line);
  else
    snprintf(prefix, sizeof(prefix), "%s: ", P("t.ini"));
  if (rc != GH_EINVAL || strncmp(err, prefix, strlen(prefix)) != 0 ||
      !strstr(err, what))
    print_error("case at test line %d:\n  got      rc=%d '%s'\n  expected "
                "'%s...%s'\n",
                at, rc, err, prefix, what);
  assert_int_equal(rc, GH_EINVAL);
  assert_int_equal(strncmp(err, prefix, strlen(prefix)), 0);
  assert_non_null(strstr(err, what));
}

static void server_err(const char *text, int line, const char *what, int at) {
  gh__server_cfg c;
  char err[1024] = "";
  int rc = load_s(&c, text, err, sizeof(err));
  check_err(rc, err, line, what, at);
  /* freed and zeroed on failure */
  assert_null(c.file);
  assert_null(c.dests);
  assert_int_equal(c.n_gateways, 0);
}

static void client_err(const char *text, int line, const char *what, int at) {
  gh__client_cfg c;
  char err[1024] = "";
  int rc = load_c(&c, text, err, sizeof(err));
  check_err(rc, err, line, what, at);
  assert_null(c.file);
  assert_null(c.gateways);
}

#define SERVER_ERR(text, line, what) server_err(text, line, what, __LINE__)
#define CLIENT_ERR(text, line, what) client_err(text, line, what, __LINE__)

/* Seven lines; what a case adds starts at line 8. */
#define SBASE                                                                  \
  "[server]\n"                                                                 \
  "tunnel_listen = 0.0.0.0:9000\n"                                             \
  "cert = server.crt\n"                                                        \
  "key = server.key\n"                                                         \
  "\n"                                                                         \
  "[gateway dc1]\n"                                                            \
  "token = " TOKEN "\n"

#define CBASE                                                                  \
  "[client]\n"                                                                 \
  "log_level = warn\n"                                                         \
  "\n"                                                                         \
  "[gateway dc1]\n"                                                            \
  "server = gw.example.com:9000\n"                                             \
  "token = " TOKEN "\n"                                                        \
  "ca = ca.crt\n"

/* An on-prem destination of dc1 in five lines. */
#define ONPREM(name, listen)                                                   \
  "[destination " name "]\n"                                                   \
  "gateway = dc1\n"                                                            \
  "type = onprem\n"                                                            \
  "listen = " listen "\n"                                                      \
  "resource = db.internal:5432\n"

#define CLOUD(name, gw, port)                                                  \
  "[destination " name "]\n"                                                   \
  "gateway = " gw "\n"                                                         \
  "type = cloud\n"                                                             \
  "client_port = " port "\n"                                                   \
  "resource = ingest.example:443\n"

/* ------------------------------------------------------- server: valid */

static const char server_ini[] =
    "; gatehouse server\n"                                             /* 1 */
    "[server]\n"                                                       /* 2 */
    "tunnel_listen = 0.0.0.0:9000      ; where clients dial in\n"      /* 3 */
    "cert = server.crt\n"                                              /* 4 */
    "key = server.key\n"                                               /* 5 */
    "client_ca = sub/clients-ca.crt\n"                                 /* 6 */
    "admin_listen = 127.0.0.1:9100\n"                                  /* 7 */
    "plugin_dir = plugins\n"                                           /* 8 */
    "log_level = debug\n"                                              /* 9 */
    "drain_timeout = 5\n"                                              /* 10 */
    "keepalive = 7\n"                                                  /* 11 */
    "keepalive_timeout = 21\n"                                         /* 12 */
    "# a comment\n"                                                    /* 13 */
    "[gateway dc1]\n"                                                  /* 14 */
    "token = " TOKEN "\n"                                              /* 15 */
    "token_file = dc1.token\n"                                         /* 16 */
    "\n"                                                               /* 17 */
    "[gateway dc2]\n"                                                  /* 18 */
    "  token = " TOKEN2 "\n"                                           /* 19 */
    "\n"                                                               /* 20 */
    "[destination billing-db]          ; on-prem\n"                    /* 21 */
    "gateway = dc1\n"                                                  /* 22 */
    "type = onprem\n"                                                  /* 23 */
    "listen = 0.0.0.0:15432\n"                                         /* 24 */
    "resource = db.internal:5432\n"                                    /* 25 */
    "protocol = tcp\n"                                                 /* 26 */
    "allow = 203.0.113.0/24, 198.51.100.7, 10.0.0.1-10.0.0.9   ; IP\n" /* 27 */
    "connect_timeout = 20\n"                                           /* 28 */
    "\n"                                                               /* 29 */
    "[destination metrics-push]\n"                                     /* 30 */
    "    gateway = dc1\n"                                              /* 31 */
    "    type = cloud\n"                                               /* 32 */
    "    client_port = 12000\n"                                        /* 33 */
    "    client_bind = 0.0.0.0\n"                                      /* 34 */
    "    resource = ingest.cloud.example:443\n"                        /* 35 */
    "    resource.protocol = https\n"                                  /* 36 */
    "    resource.tls.server_name = ingest.cloud.example\n"            /* 37 */
    "\n"                                                               /* 38 */
    "[destination v6]\n"                                               /* 39 */
    "gateway = dc2\n"                                                  /* 40 */
    "type = onprem\n"                                                  /* 41 */
    "listen = [::1]:15432\n"                                           /* 42 */
    "resource = [2001:db8::5]:22\n"                                    /* 43 */
    "\n"                                                               /* 44 */
    "[destination dc2-cloud]\n"                                        /* 45 */
    "gateway = dc2\n"                                                  /* 46 */
    "type = cloud\n"                                                   /* 47 */
    "client_port = 12000   ; the same port, another gateway\n"         /* 48 */
    "resource = 10.0.0.5:80\n";                                        /* 49 */

static void test_server_valid(void **state) {
  (void)state;
  gh__server_cfg c;
  load_s_ok(&c, server_ini);
  assert_string_equal(c.file, P("t.ini"));
  assert_string_equal(c.tunnel_host, "0.0.0.0");
  assert_int_equal(c.tunnel_port, 9000);
  assert_string_equal(c.cert, P("server.crt"));
  assert_string_equal(c.key, P("server.key"));
  assert_string_equal(c.client_ca, P("sub/clients-ca.crt"));
  assert_string_equal(c.common.admin_host, "127.0.0.1");
  assert_int_equal(c.common.admin_port, 9100);
  assert_string_equal(c.common.plugin_dirs[0], P("plugins"));
  assert_null(c.common.plugin_dirs[1]);
  assert_null(c.common.user);
  assert_null(c.common.group);
  assert_int_equal(c.common.log_level, GH_LOG_DEBUG);
  assert_int_equal(c.common.drain_timeout_s, 5);
  assert_int_equal(c.common.keepalive_s, 7);
  assert_int_equal(c.common.keepalive_timeout_s, 21);

  assert_int_equal(c.n_gateways, 2);
  assert_string_equal(c.gateways[0].id, "dc1");
  assert_int_equal(c.gateways[0].line, 14);
  assert_int_equal(c.gateways[0].n_tokens, 2);
  assert_string_equal(c.gateways[0].tokens[0], TOKEN);
  assert_string_equal(c.gateways[0].tokens[1], FILE_TOKEN); /* trimmed */
  assert_string_equal(c.gateways[1].id, "dc2");
  assert_int_equal(c.gateways[1].n_tokens, 1);
  assert_string_equal(c.gateways[1].tokens[0], TOKEN2);

  assert_int_equal(c.n_dests, 4);
  const gh__dest *d = &c.dests[0];
  assert_string_equal(d->name, "billing-db");
  assert_string_equal(d->gateway, "dc1");
  assert_int_equal(d->type, GH__DEST_ONPREM);
  assert_string_equal(d->listen_host, "0.0.0.0");
  assert_int_equal(d->listen_port, 15432);
  assert_int_equal(d->client_port, 0);
  assert_null(d->client_bind);
  assert_string_equal(d->resource_host, "db.internal");
  assert_int_equal(d->resource_port, 5432);
  assert_string_equal(d->listen_proto, "tcp");
  assert_string_equal(d->resource_proto, "tcp");
  assert_true(d->allow.present);
  assert_int_equal(d->allow.n, 3);
  assert_int_equal(d->connect_timeout_ms, 20000);
  assert_int_equal(d->opts.n, 0);
  assert_string_equal(d->file, c.file);
  assert_int_equal(d->line, 21);
  assert_int_equal(d->key_line[GH__DK_GATEWAY], 22);
  assert_int_equal(d->key_line[GH__DK_LISTEN], 24);
  assert_int_equal(d->key_line[GH__DK_LISTEN_PROTO], 26);
  assert_int_equal(d->key_line[GH__DK_RESOURCE_PROTO], 26);
  assert_int_equal(d->key_line[GH__DK_ALLOW], 27);
  gh_addr a;
  assert_int_equal(gh__addr_parse("10.0.0.9", &a), 0);
  assert_true(gh__iplist_match(&d->allow, &a));
  assert_int_equal(gh__addr_parse("10.0.0.10", &a), 0);
  assert_false(gh__iplist_match(&d->allow, &a));

  d = &c.dests[1];
  assert_string_equal(d->name, "metrics-push");
  assert_int_equal(d->type, GH__DEST_CLOUD);
  assert_null(d->listen_host);
  assert_int_equal(d->listen_port, 0);
  assert_int_equal(d->client_port, 12000);
  assert_string_equal(d->client_bind, "0.0.0.0");
  assert_string_equal(d->resource_host, "ingest.cloud.example");
  assert_int_equal(d->resource_port, 443);
  assert_string_equal(d->listen_proto, "tcp");
  assert_string_equal(d->resource_proto, "https");
  assert_false(d->allow.present);
  assert_int_equal(d->connect_timeout_ms, 10000);
  assert_int_equal(d->opts.n, 1);
  assert_string_equal(d->opts.v[0].key, "resource.tls.server_name");
  assert_string_equal(d->opts.v[0].value, "ingest.cloud.example");
  assert_int_equal(d->opts.v[0].line, 37);
  assert_null(d->opts.v[0].blob);
  const gh__kv *kv = gh__kvs_find(&d->opts, "resource.tls.server_name");
  assert_ptr_equal(kv, &d->opts.v[0]);
  assert_null(gh__kvs_find(&d->opts, "tls.server_name"));
  assert_int_equal(d->key_line[GH__DK_CLIENT_PORT], 33);

  d = &c.dests[2];
  assert_string_equal(d->listen_host, "::1");
  assert_string_equal(d->resource_host, "2001:db8::5");
  assert_int_equal(d->resource_port, 22);

  d = &c.dests[3];
  assert_string_equal(d->client_bind, "127.0.0.1"); /* the default */
  assert_int_equal(d->client_port, 12000);

  gh__server_cfg_free(&c);
  assert_null(c.file);
  assert_int_equal(c.n_dests, 0);
}

static void test_server_defaults(void **state) {
  (void)state;
  gh__server_cfg c;
  load_s_ok(&c, SBASE);
  assert_null(c.client_ca);
  assert_null(c.common.admin_host);
  assert_int_equal(c.common.admin_port, 0);
  assert_null(c.common.plugin_dirs);
  assert_int_equal(c.common.log_level, GH_LOG_INFO);
  assert_int_equal(c.common.drain_timeout_s, 30);
  assert_int_equal(c.common.keepalive_s, 10);
  assert_int_equal(c.common.keepalive_timeout_s, 30);
  assert_int_equal(c.n_dests, 0);
  gh__server_cfg_free(&c);

  /* ":port" listens on every address; a UTF-8 BOM is fine */
  load_s_ok(&c, "\xEF\xBB\xBF[server]\ntunnel_listen = :9000\n"
                "cert = server.crt\nkey = server.key\n");
  assert_null(c.tunnel_host);
  assert_int_equal(c.tunnel_port, 9000);
  gh__server_cfg_free(&c);
}

/* ------------------------------------------------------ server: errors */

static void test_server_errors_sections(void **state) {
  (void)state;
  SERVER_ERR(SBASE "bogus = 1\n", 8, "unknown key 'bogus' in [gateway dc1]");
  SERVER_ERR("[server]\ntunnel_listen = 0.0.0.0:9000\ncolour = blue\n", 3,
             "unknown key 'colour' in [server]");
  SERVER_ERR(SBASE "[widget x]\n", 8, "unknown section [widget]");
  SERVER_ERR(SBASE "[acl]\n", 8,
             "unknown section [acl]: it belongs in a client's file");
  SERVER_ERR(SBASE "[client]\n", 8, "unknown section [client]");
  SERVER_ERR(SBASE "\n[gateway dc1]\ntoken = " TOKEN "\n", 9,
             "duplicate section [gateway dc1] (first at line 6)");
  SERVER_ERR(SBASE "[server]\n", 8,
             "duplicate section [server] (first at line 1)");
  SERVER_ERR(SBASE ONPREM("db", "0.0.0.0:1") ONPREM("db", "0.0.0.0:2"), 13,
             "duplicate section [destination db] (first at line 8)");
  SERVER_ERR(SBASE "[destination]\n", 8, "[destination] needs a name");
  SERVER_ERR(SBASE "[gateway]\n", 8, "[gateway] needs a name: [gateway ID]");
  SERVER_ERR(SBASE "[server x]\n", 8, "[server] takes no name");
  SERVER_ERR(SBASE "[destination a/b]\n", 8, "bad destination name");
  SERVER_ERR(SBASE "[destination a b]\n", 8, "bad section name");
  SERVER_ERR(SBASE "[destination x\n", 8, "section header without ']'");
  SERVER_ERR(SBASE "[gateway dc2] junk\n", 8, "text after the section");
  SERVER_ERR("cert = server.crt\n[server]\n", 1, "key outside of any section");
  SERVER_ERR(SBASE "just some words\n", 8, "expected key = value");
  SERVER_ERR("[gateway dc1]\ntoken = " TOKEN "\n", 0, "no [server] section");
  SERVER_ERR("", 0, "no [server] section");
}

static void test_server_errors_main(void **state) {
  (void)state;
  SERVER_ERR("[server]\ncert = server.crt\nkey = server.key\n", 1,
             "[server] needs tunnel_listen = host:port");
  SERVER_ERR("[server]\ntunnel_listen = :9000\nkey = server.key\n", 1,
             "[server] needs cert");
  SERVER_ERR("[server]\ntunnel_listen = :9000\ncert = server.crt\n", 1,
             "[server] needs key");
  char want[600];
  snprintf(want, sizeof(want),
           "cert: cannot read '%s': No such file or directory",
           P("missing.crt"));
  SERVER_ERR("[server]\ntunnel_listen = 0.0.0.0:9000\ncert = missing.crt\n", 3,
             want);
  SERVER_ERR("[server]\ntunnel_listen = 0.0.0.0:9000\nkey = sub\n", 3,
             "Is a directory");
  SERVER_ERR("[server]\nclient_ca = /nonexistent/ca.crt\n", 2,
             "client_ca: cannot read '/nonexistent/ca.crt'");
  SERVER_ERR(SBASE "[server]\n", 8, "duplicate section");
  SERVER_ERR("[server]\ncert = server.crt\ncert = server.crt\n", 3,
             "cert is already set in [server] (line 2)");
  SERVER_ERR("[server]\ntunnel_listen = 9000\n", 2,
             "tunnel_listen: expected host:port");
  SERVER_ERR("[server]\ntunnel_listen = 0.0.0.0:0\n", 2,
             "tunnel_listen: expected host:port");
  SERVER_ERR("[server]\ntunnel_listen = 0.0.0.0:65536\n", 2,
             "tunnel_listen: expected host:port");
  SERVER_ERR("[server]\ntunnel_listen = ::1:9000\n", 2,
             "tunnel_listen: expected host:port");
  SERVER_ERR("[server]\nadmin_listen = bad host:9000\n", 2,
             "admin_listen: expected host:port");
  SERVER_ERR("[server]\nlog_level = loud\n", 2,
             "log_level must be error, warn, info, debug or trace");
  SERVER_ERR("[server]\ndrain_timeout = -1\n", 2,
             "drain_timeout must be a number of seconds");
  SERVER_ERR("[server]\nlog_level = info\nuser = no-such-user-gh\n", 3,
             "user: no such user 'no-such-user-gh'");
  SERVER_ERR("[server]\ngroup = no-such-group-gh\n", 2,
             "group: no such group 'no-such-group-gh'");
  SERVER_ERR("[server]\nuser =\n", 2, "user has no value");
  SERVER_ERR("[server]\nkeepalive = 0\n", 2, "keepalive must be");
  SERVER_ERR("[server]\ncert =\n", 2, "cert has no value");
  SERVER_ERR(SBASE "[server]\n", 8, "duplicate section");
  /* keepalive_timeout (default 30) must exceed keepalive */
  SERVER_ERR("[server]\ntunnel_listen = :9000\ncert = server.crt\n"
             "key = server.key\nkeepalive = 30\n",
             5, "keepalive_timeout (30 s) must be greater than keepalive");
  SERVER_ERR("[server]\ntunnel_listen = :9000\ncert = server.crt\n"
             "keepalive_timeout = 5\nkey = server.key\n",
             4,
             "keepalive_timeout (5 s) must be greater than keepalive "
             "(10 s)");
  SERVER_ERR("[server]\ntunnel_listen = 0.0.0.0:9000\ncert = server.crt\n"
             "key = server.key\nadmin_listen = 127.0.0.1:9000\n",
             5, "admin_listen clashes with tunnel_listen (line 2)");
}

static void test_server_errors_gateways(void **state) {
  (void)state;
  SERVER_ERR(SBASE "token = short\n", 8,
             "token is too short: a token needs at least 16 characters");
  SERVER_ERR(SBASE "token = 0123456789abcde\n", 8, "too short"); /* 15 */
  SERVER_ERR(SBASE "token = abcdefghijklmnop qrstuv\n", 8,
             "only printable characters, without spaces");
  SERVER_ERR(SBASE "token =\n", 8, "token has no value");
  SERVER_ERR(SBASE "[gateway dc2]\n" ONPREM("x", ":1"), 8,
             "[gateway dc2] has no token");
  SERVER_ERR(SBASE "[gateway dc2]\n", 8, "[gateway dc2] has no token");
  char want[600];
  snprintf(want, sizeof(want), "token_file: cannot read '%s'", P("none.token"));
  SERVER_ERR(SBASE "token_file = none.token\n", 8, want);
  put("empty.token", "\n \n\t\n");
  SERVER_ERR(SBASE "token_file = empty.token\n", 8, "the token in '");
  SERVER_ERR(SBASE "token_file = empty.token\n", 8, "empty.token' is empty");
  put("two.token", "abcdefghijklmnopqrstuvwxyz\nabcdefghijklmnopqrstuvwxyz\n");
  SERVER_ERR(SBASE "token_file = two.token\n", 8,
             "may hold only printable characters");
  put("short.token", "abc\n");
  SERVER_ERR(SBASE "token_file = short.token\n", 8, "is too short");
}

static void test_server_errors_destinations(void **state) {
  (void)state;
  SERVER_ERR(SBASE "[destination d]\ngateway = dc9\ntype = onprem\n"
                   "listen = :15432\nresource = db:5432\n",
             9, "destination d: no [gateway dc9] in this file");
  SERVER_ERR(SBASE "[destination d]\ngateway = dc1\nlisten = :1\n"
                   "resource = db:5432\n",
             8, "destination d has no type = onprem | cloud");
  SERVER_ERR(SBASE "[destination d]\ntype = onprem\nlisten = :1\n"
                   "resource = db:5432\n",
             8, "destination d has no gateway = ID");
  SERVER_ERR(SBASE "[destination d]\ngateway = dc1\ntype = both\n", 10,
             "type must be onprem or cloud");
  SERVER_ERR(SBASE "[destination d]\ngateway = dc1\ntype = cloud\n"
                   "client_port = 1\nlisten = :2\nresource = db:5432\n",
             12, "destination d: listen is for type = onprem");
  SERVER_ERR(SBASE "[destination d]\ngateway = dc1\ntype = onprem\n"
                   "listen = :2\nclient_port = 1\nresource = db:5432\n",
             12, "destination d: client_port is for type = cloud");
  SERVER_ERR(SBASE "[destination d]\ngateway = dc1\ntype = onprem\n"
                   "listen = :2\nclient_bind = 0.0.0.0\nresource = db:5432\n",
             12, "destination d: client_bind is for type = cloud");
  SERVER_ERR(SBASE "[destination d]\ngateway = dc1\ntype = cloud\n"
                   "resource = db:5432\n",
             8, "destination d (cloud) needs client_port");
  SERVER_ERR(SBASE "[destination d]\ngateway = dc1\ntype = onprem\n"
                   "resource = db:5432\n",
             8, "destination d (onprem) needs listen = host:port");
  SERVER_ERR(SBASE "[destination d]\ngateway = dc1\ntype = onprem\n"
                   "listen = :1\n",
             8, "destination d needs resource = host:port");
  SERVER_ERR(SBASE "[destination d]\nresource = :5432\n", 9,
             "resource: expected host:port");
  SERVER_ERR(SBASE "[destination d]\nlisten = 0.0.0.0\n", 9,
             "listen: expected host:port");
  SERVER_ERR(SBASE "[destination d]\nclient_port = 70000\n", 9,
             "client_port must be a port from 1 to 65535");
  SERVER_ERR(SBASE "[destination d]\nclient_bind = not a host\n", 9,
             "client_bind: expected an address or a host name");
  SERVER_ERR(SBASE "[destination d]\ngateway = dc1\ngateway = dc1\n", 10,
             "gateway is already set (line 9)");
  SERVER_ERR(SBASE "[destination d]\nprotocol = tcp\nlisten.protocol = tls\n",
             10, "listen.protocol is already set (line 9)");
  SERVER_ERR(SBASE "[destination d]\nresource.protocol = tls\nprotocol = tcp\n",
             10, "the resource side's protocol is already set (line 9)");
  SERVER_ERR(SBASE "[destination d]\nprotocol = TCP\n", 9,
             "protocol: bad chain 'TCP'");
  SERVER_ERR(SBASE "[destination d]\nlisten.protocol = tcp++tls\n", 9,
             "listen.protocol: bad chain");
  SERVER_ERR(SBASE "[destination d]\nlisten.x = 1\n", 9,
             "unknown key 'listen.x' (handler options are");
  SERVER_ERR(SBASE "[destination d]\nsideways.tls.cert = 1\n", 9,
             "unknown key 'sideways.tls.cert'");
  SERVER_ERR(SBASE "[destination d]\nlisten.tls.a.b = 1\n", 9,
             "unknown key 'listen.tls.a.b'");
  SERVER_ERR(SBASE "[destination d]\ncolour = red\n", 9,
             "unknown key 'colour'");
  SERVER_ERR(SBASE "[destination d]\nallow = 10.0.0.0/33\n", 9,
             "allow: bad address '10.0.0.0/33'");
  SERVER_ERR(SBASE
             "[destination d]\nallow = 10.0.0.1\nallow = 10.0.0.9-10.0.0.1\n",
             10, "allow: bad address '10.0.0.9-10.0.0.1'");
  SERVER_ERR(SBASE "[destination d]\nconnect_timeout = 0\n", 9,
             "connect_timeout must be a number of seconds from 1 to 3600");
  SERVER_ERR(SBASE "[destination d]\nconnect_timeout = 3601\n", 9,
             "connect_timeout must be");
  SERVER_ERR(SBASE "[destination d]\nresource =\n", 9, "resource has no value");
}

static void test_server_client_port_unique(void **state) {
  (void)state;
  /* two cloud destinations of dc1 on 12000: the second one's line */
  SERVER_ERR(SBASE CLOUD("a", "dc1", "12000") "\n" CLOUD("b", "dc1", "12000"),
             17,
             "destination b: client_port 12000 is already used by "
             "destination a (line 11) of gateway dc1");
  /* another gateway, another port, or an on-prem one: fine */
  gh__server_cfg c;
  static const char fine[] = SBASE "[gateway dc2]\n"
                                   "token = " TOKEN2 "\n" /* 8-9 */
      CLOUD("a", "dc1", "12000") CLOUD("b", "dc2", "12000")
          CLOUD("c", "dc1", "12001") ONPREM("d", "0.0.0.0:12000");
  load_s_ok(&c, fine);
  assert_int_equal(c.n_dests, 4);
  gh__server_cfg_free(&c);
}

static void test_server_listen_clash(void **state) {
  (void)state;
  static const struct {
    const char *a, *b;
    int clash;
  } cases[] = {
      {"127.0.0.1:15432", "127.0.0.1:15432", 1},
      {"0.0.0.0:15432", "127.0.0.1:15432", 1},
      {"127.0.0.1:15432", "0.0.0.0:15432", 1},
      {"0.0.0.0:15432", "db.local:15432", 1},
      {"[::]:15432", "10.0.0.1:15432", 1},
      {"10.0.0.1:15432", "[::]:15432", 1},
      {":15432", "[::1]:15432", 1},
      {"[::1]:15432", ":15432", 1},
      {"localhost:15432", "LOCALHOST:15432", 1},
      {"[::1]:15432", "[0:0::1]:15432", 1},
      {"127.0.0.1:15432", "127.0.0.2:15432", 0},
      {"0.0.0.0:15432", "[::1]:15432", 0},
      {"0.0.0.0:15432", "0.0.0.0:15433", 0},
      {"[::1]:15432", "[::2]:15432", 0},
      {"a.local:15432", "b.local:15432", 0},
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    char ini[1024];
    snprintf(ini, sizeof(ini),
             SBASE "[destination a]\ngateway = dc1\ntype = onprem\n"
                   "listen = %s\nresource = db:1\n"
                   "[destination b]\ngateway = dc1\ntype = onprem\n"
                   "listen = %s\nresource = db:1\n",
             cases[i].a, cases[i].b);
    if (cases[i].clash) {
      SERVER_ERR(ini, 16, "destination b: listen");
      SERVER_ERR(ini, 16, "clashes with destination a (line 11)");
    } else {
      gh__server_cfg c;
      load_s_ok(&c, ini);
      gh__server_cfg_free(&c);
    }
  }
  /* the tunnel's own address */
  SERVER_ERR(SBASE ONPREM("a", "127.0.0.1:9000"), 11,
             "destination a: listen 127.0.0.1:9000 clashes with "
             "tunnel_listen (line 2)");
}

/* ------------------------------------------------- lines and comments */

static void test_long_lines(void **state) {
  (void)state;
  const int max = INI_MAX_LINE - 2; /* what fits inih's buffer */
  char line[1024], ini[2048];
  gh__server_cfg c;

  /* a comment of exactly the limit is fine; one more is an error */
  memset(line, 'x', sizeof(line));
  line[0] = ';';
  line[max] = '\0';
  snprintf(ini, sizeof(ini), SBASE "%s\n", line);
  load_s_ok(&c, ini);
  gh__server_cfg_free(&c);
  line[max] = 'x';
  line[max + 1] = '\0';
  snprintf(ini, sizeof(ini), SBASE "%s\n", line);
  SERVER_ERR(ini, 8, "line too long");

  /* an allow list longer than a line: refused, not cut */
  char allow[1024] = "allow = 10.0.0.1";
  while (strlen(allow) <= (size_t)max)
    strcat(allow, ", 10.0.0.1");
  snprintf(ini, sizeof(ini), SBASE ONPREM("d", ":1") "%s\n", allow);
  SERVER_ERR(ini, 13, "line too long (at most");
  SERVER_ERR(ini, 13, "several allow lines");

  /* the same entries over two lines are fine */
  snprintf(ini, sizeof(ini),
           SBASE ONPREM("d", ":1") "allow = 10.0.0.1, 10.0.0.2\n"
                                   "allow = 10.0.0.3\n");
  load_s_ok(&c, ini);
  assert_int_equal(c.dests[0].allow.n, 3);
  gh__server_cfg_free(&c);

  /* a long token: refused, and not shown */
  char tok[1024];
  memset(tok, 'k', sizeof(tok));
  memcpy(tok, SECRET, strlen(SECRET));
  tok[max] = '\0';
  snprintf(ini, sizeof(ini), SBASE "token = %s\n", tok);
  SERVER_ERR(ini, 8, "line too long");
  char err[1024];
  assert_int_equal(load_s(&c, ini, err, sizeof(err)), GH_EINVAL);
  assert_null(strstr(err, "S3CRET"));

  /* blanks around a line do not count; CRLF line ends are fine */
  snprintf(ini, sizeof(ini),
           "[server]\r\n   tunnel_listen = :9000   \r\n"
           "\tcert = server.crt\r\nkey = server.key\r\n");
  load_s_ok(&c, ini);
  assert_string_equal(c.key, P("server.key"));
  gh__server_cfg_free(&c);
}

static void test_inline_comments_and_indent(void **state) {
  (void)state;
  gh__server_cfg c;
  /* ';' after a blank starts a comment; inside a value it does not. An
   * indented key is a key, not a continuation of the previous value. */
  static const char text[] = SBASE "token = abcdefghijklmnop;qrst ; comment\n"
                                   "  token = 0123456789abcdef0123\n"
                                   "[destination d]\n"
                                   "  gateway = dc1\n"
                                   "  type = onprem\n"
                                   "  listen = :1\n"
                                   "  resource = db:1\n"
                                   "    allow = 10.0.0.1 ; only this one\n"
                                   "\t  connect_timeout = 3\n";
  load_s_ok(&c, text);
  assert_int_equal(c.gateways[0].n_tokens, 3);
  assert_string_equal(c.gateways[0].tokens[1], "abcdefghijklmnop;qrst");
  assert_string_equal(c.gateways[0].tokens[2], "0123456789abcdef0123");
  assert_int_equal(c.dests[0].allow.n, 1);
  assert_int_equal(c.dests[0].connect_timeout_ms, 3000);
  gh__server_cfg_free(&c);
}

static void test_nul_byte(void **state) {
  (void)state;
  static const char text[] = "[server]\ntunnel_listen = :9000\nfoo\0bar = 1\n";
  put_n("t.ini", text, sizeof(text) - 1);
  gh__server_cfg c;
  char err[1024] = "";
  int rc = gh__server_cfg_load(&c, P("t.ini"), err, sizeof(err));
  check_err(rc, err, 3, "NUL byte", __LINE__);
}

static void test_unreadable_file(void **state) {
  (void)state;
  gh__server_cfg c;
  char err[1024];
  assert_int_equal(gh__server_cfg_load(&c, P("nope.ini"), err, sizeof(err)),
                   GH_EINVAL);
  char want[600];
  snprintf(want, sizeof(want), "%s: cannot read: No such file or directory",
           P("nope.ini"));
  assert_string_equal(err, want);
  assert_null(c.file);
}

/* --------------------------------------------------------- secrets */

static void no_secret(int server, const char *text, int at) {
  char err[2048] = "";
  int rc;
  if (server) {
    gh__server_cfg c;
    rc = load_s(&c, text, err, sizeof(err));
    if (rc == 0)
      gh__server_cfg_free(&c);
  } else {
    gh__client_cfg c;
    rc = load_c(&c, text, err, sizeof(err));
    if (rc == 0)
      gh__client_cfg_free(&c);
  }
  if (rc != GH_EINVAL || strstr(err, "S3CRET") || !err[0])
    print_error("case at test line %d: rc=%d err='%s'\n", at, rc, err);
  assert_int_equal(rc, GH_EINVAL);
  assert_null(strstr(err, "S3CRET"));
  assert_true(err[0] != '\0');
}

static void test_token_never_in_errors(void **state) {
  (void)state;
  put("secret-space.token", SECRET " " SECRET "\n");
  put("secret-ctl.token", SECRET "\x01\n");
#define NS(server, text) no_secret(server, text, __LINE__)
  NS(1, "[server]\ntoken = " SECRET "\n");
  NS(1, SBASE "token = " SECRET " x\n");
  NS(1, SBASE "token = S3CRET\n");
  NS(1, SBASE "tokne = " SECRET "\n");
  NS(1, SBASE "token " SECRET "\n");
  NS(1, SBASE SECRET "\n");
  NS(1, SBASE "token " SECRET " = x\n");
  NS(1, SBASE "token_file = secret-space.token\n");
  NS(1, SBASE "token_file = secret-ctl.token\n");
  NS(1, SBASE ONPREM("d", ":1") "token = " SECRET "\n");
  NS(1, SBASE ONPREM("d", ":1") "listen.token = " SECRET "\n");
  NS(1, SBASE "[gateway " SECRET "\n");
  NS(0, CBASE "token = " SECRET "\n");
  NS(0, CBASE "token_file = secret-space.token\n");
  NS(0, "[client]\ntoken = " SECRET "\n");
  NS(0, "[gateway dc1]\nserver = h:1\ntoken = " SECRET "\n");
  NS(0, "[gateway dc1]\nserver = h:1\ntoken = " SECRET "\ttail\nca = ca.crt\n");
  NS(0, CBASE "[acl]\nallow = \n");
#undef NS
}

/* plugin_dir may be repeated: a search path, in the order of the lines,
 * each resolved against the file's directory, in [server] and [client]. */
static void test_plugin_dirs(void **state) {
  (void)state;
  gh__server_cfg s;
  load_s_ok(&s, "[server]\n"
                "tunnel_listen = :9000\n"
                "cert = server.crt\n"
                "key = server.key\n"
                "plugin_dir = /usr/lib/gatehouse/plugins\n"
                "plugin_dir = mine\n"
                "plugin_dir = /opt/more/\n");
  assert_string_equal(s.common.plugin_dirs[0], "/usr/lib/gatehouse/plugins");
  assert_string_equal(s.common.plugin_dirs[1], P("mine"));
  assert_string_equal(s.common.plugin_dirs[2], "/opt/more/");
  assert_null(s.common.plugin_dirs[3]);
  gh__server_cfg_free(&s);
  gh__client_cfg c;
  load_c_ok(&c, "[client]\n"
                "plugin_dir = b\n"
                "plugin_dir = a\n"
                "[gateway dc1]\n"
                "server = gw.example.com:9000\n"
                "token = " TOKEN "\n"
                "ca = ca.crt\n");
  assert_string_equal(c.common.plugin_dirs[0], P("b"));
  assert_string_equal(c.common.plugin_dirs[1], P("a"));
  assert_null(c.common.plugin_dirs[2]);
  gh__client_cfg_free(&c);
  SERVER_ERR("[server]\nplugin_dir = a\nplugin_dir =\n", 3,
             "plugin_dir has no value");
}

/* ------------------------------------------------------- client */

static void test_client_valid(void **state) {
  (void)state;
  char ini[2048];
  snprintf(ini, sizeof(ini),
           "[client]\n"                                /* 1 */
           "log_level = warn\n"                        /* 2 */
           "admin_listen = 127.0.0.1:9101\n"           /* 3 */
           "plugin_dir = /usr/lib/gatehouse/plugins\n" /* 4 */
           "reconnect_max = 60\n"                      /* 5 */
           "drain_timeout = 0\n"                       /* 6 */
           "[gateway dc1]\n"                           /* 7 */
           "server = gw.example.com:9000\n"            /* 8 */
           "server = [2001:db8::1]:9000\n"             /* 9 */
           "token = " TOKEN "\n"                       /* 10 */
           "ca = ca.crt\n"                             /* 11 */
           "cert = client.crt\n"                       /* 12 */
           "key = client.key\n"                        /* 13 */
           "server_name = gw.example.com\n"            /* 14 */
           "connections = 2\n"                         /* 15 */
           "\n"                                        /* 16 */
           "[gateway dc2]\n"                           /* 17 */
           "server = 192.0.2.10:9000\n"                /* 18 */
           "token_file = dc1.token\n"                  /* 19 */
           "ca = %s\n"                                 /* 20 */
           "\n"                                        /* 21 */
           "[acl]   ; what the cloud may reach\n"      /* 22 */
           "allow = db.internal:5432\n"                /* 23 */
           "allow = 10.1.0.0/16:80-443\n"              /* 24 */
           "deny = *\n",                               /* 25 */
           P("ca.crt"));
  gh__client_cfg c;
  load_c_ok(&c, ini);
  assert_string_equal(c.file, P("t.ini"));
  assert_int_equal(c.common.log_level, GH_LOG_WARN);
  assert_string_equal(c.common.admin_host, "127.0.0.1");
  assert_int_equal(c.common.admin_port, 9101);
  assert_string_equal(c.common.plugin_dirs[0], "/usr/lib/gatehouse/plugins");
  assert_null(c.common.plugin_dirs[1]);
  assert_int_equal(c.reconnect_max_s, 60);
  assert_int_equal(c.common.drain_timeout_s, 0);
  assert_int_equal(c.common.keepalive_s, 10);
  assert_int_equal(c.common.keepalive_timeout_s, 30);
  assert_int_equal(c.n_gateways, 2);
  const gh__client_gw *g = &c.gateways[0];
  assert_string_equal(g->id, "dc1");
  assert_int_equal(g->line, 7);
  assert_int_equal(g->n_servers, 2);
  assert_string_equal(g->servers[0], "gw.example.com:9000");
  assert_string_equal(g->servers[1], "[2001:db8::1]:9000");
  assert_string_equal(g->token, TOKEN);
  assert_string_equal(g->ca, P("ca.crt"));
  assert_string_equal(g->cert, P("client.crt"));
  assert_string_equal(g->key, P("client.key"));
  assert_string_equal(g->server_name, "gw.example.com");
  assert_int_equal(g->connections, 2);
  g = &c.gateways[1];
  assert_string_equal(g->token, FILE_TOKEN);
  assert_string_equal(g->ca, P("ca.crt"));
  assert_null(g->cert);
  assert_null(g->key);
  assert_null(g->server_name);
  assert_int_equal(g->connections, 1);

  assert_true(c.acl.present);
  assert_int_equal(c.acl.n, 3);
  assert_int_equal(c.acl.v[0].allow, 1);
  assert_string_equal(c.acl.v[0].name, "db.internal");
  assert_int_equal(c.acl.v[0].line, 23);
  assert_int_equal(c.acl.v[1].line, 24);
  assert_int_equal(c.acl.v[2].allow, 0);
  assert_true(c.acl.v[2].any_host);
  assert_int_equal(c.acl.v[2].line, 25);
  int line;
  assert_true(gh__acl_check(&c.acl, "db.internal", 5432, NULL, 0, &line));
  assert_int_equal(line, 23);
  assert_false(gh__acl_check(&c.acl, "other", 5432, NULL, 0, &line));
  assert_int_equal(line, 25);
  gh__client_cfg_free(&c);
  assert_null(c.gateways);
}

static void test_client_acl(void **state) {
  (void)state;
  gh__client_cfg c;
  load_c_ok(&c, CBASE);
  assert_false(c.acl.present); /* no [acl]: nothing is allowed */
  assert_false(gh__acl_check(&c.acl, "db", 5432, NULL, 0, NULL));
  assert_int_equal(c.reconnect_max_s, 30);
  gh__client_cfg_free(&c);

  load_c_ok(&c, CBASE "[acl]\n");
  assert_true(c.acl.present); /* present and empty: still nothing */
  assert_int_equal(c.acl.n, 0);
  gh__client_cfg_free(&c);

  /* a client file without [client] */
  load_c_ok(&c,
            "[gateway dc1]\nserver = h:1\ntoken = " TOKEN "\nca = ca.crt\n");
  assert_int_equal(c.n_gateways, 1);
  gh__client_cfg_free(&c);
}

static void test_client_errors(void **state) {
  (void)state;
  CLIENT_ERR("[client]\nlog_level = info\n", 0,
             "no [gateway ID] section: a client needs at least one");
  CLIENT_ERR(CBASE "token_file = dc1.token\n", 8,
             "a client's gateway has one token");
  CLIENT_ERR(CBASE "token = " TOKEN "\n", 8, "one token");
  CLIENT_ERR(CBASE "cert = client.crt\n", 4,
             "[gateway dc1]: cert and key go together");
  CLIENT_ERR(CBASE "key = client.key\n[acl]\n", 4, "cert and key go together");
  CLIENT_ERR("[gateway dc1]\nserver = h:1\ntoken = " TOKEN "\n", 1,
             "[gateway dc1] needs ca = FILE");
  CLIENT_ERR("[gateway dc1]\ntoken = " TOKEN "\nca = ca.crt\n", 1,
             "[gateway dc1] needs server = host:port");
  CLIENT_ERR("[gateway dc1]\nserver = h:1\nca = ca.crt\n\n[gateway dc2]\n", 1,
             "[gateway dc1] needs token = or token_file =");
  CLIENT_ERR(CBASE "server = :9000\n", 8, "server: a host is needed");
  CLIENT_ERR(CBASE "server = gw.example.com\n", 8,
             "server: expected host:port");
  CLIENT_ERR(CBASE "connections = 65\n", 8,
             "connections must be a number from 1 to 64");
  CLIENT_ERR(CBASE "connections = 0\n", 8, "connections must be");
  CLIENT_ERR(CBASE "ca = ca.crt\n", 8, "ca is already set in [gateway dc1]");
  CLIENT_ERR(CBASE "cert = nope.crt\n", 8, "cert: cannot read");
  CLIENT_ERR(CBASE "server_name = a b\n", 8, "server_name: expected");
  CLIENT_ERR(CBASE "[server]\n", 8,
             "unknown section [server]: it belongs in a server's file");
  /* a client's [destination] holds its own values (test_client_local_*) */
  CLIENT_ERR(CBASE "[destination x]\n", 8,
             "[destination x] needs gateway = ID");
  CLIENT_ERR(CBASE "[acl]\nallow = db.internal\n", 9,
             "allow: bad target 'db.internal'");
  CLIENT_ERR(CBASE "[acl]\nallow = *\ndeny = 10.0.0.0/8:0\n", 10,
             "deny: bad target '10.0.0.0/8:0'");
  CLIENT_ERR(CBASE "[acl]\npermit = *\n", 9, "unknown key 'permit' in [acl]");
  CLIENT_ERR(CBASE "[acl]\n[acl]\n", 9,
             "duplicate section [acl] (first at line 8)");
  CLIENT_ERR(CBASE "[client]\n", 8, "duplicate section [client]");
  CLIENT_ERR(CBASE "[gateway]\n", 8, "[gateway] needs a name");
  CLIENT_ERR("[client]\nkeepalive_timeout = 5\n[gateway dc1]\nserver = h:1\n"
             "token = " TOKEN "\nca = ca.crt\n",
             2,
             "keepalive_timeout (5 s) must be greater than keepalive (10 s)");
  CLIENT_ERR(CBASE "token = short\n", 8, "one token");
  CLIENT_ERR("[gateway dc1]\ntoken = short\n", 2, "too short");
  CLIENT_ERR("[client]\nreconnect_max = 0\n", 2, "reconnect_max must be");
  CLIENT_ERR("[client]\ngroup = no-such-group-gh\n", 2,
             "group: no such group 'no-such-group-gh'");
  CLIENT_ERR("[client]\ntunnel_listen = :1\n", 2,
             "unknown key 'tunnel_listen' in [client]");
  /* group without user would stay root: refused at the group's line */
  CLIENT_ERR("[client]\nlog_level = warn\ngroup = root\n\n[gateway dc1]\n"
             "server = gw.example.com:9000\ntoken = " TOKEN "\nca = ca.crt\n",
             3, "group = root without user =: gatehouse would go on running "
                "as root");
  SERVER_ERR("[server]\ntunnel_listen = 0.0.0.0:9000\ncert = server.crt\n"
             "key = server.key\ngroup = root\n\n[gateway dc1]\n"
             "token = " TOKEN "\n",
             5, "group = root without user =");
}

/* ------------------------------------------------------- sniff, paths */

static void test_sniff(void **state) {
  (void)state;
  put("s.ini", "; x\n[server]\ntunnel_listen = :1\n");
  assert_int_equal(gh__cfg_sniff(P("s.ini")), 1);
  put("s.ini", "[gateway dc1]\ntoken = x\n[ server ]\n");
  assert_int_equal(gh__cfg_sniff(P("s.ini")), 1);
  put("c.ini", "[client]\n");
  assert_int_equal(gh__cfg_sniff(P("c.ini")), 2);
  put("c.ini", "[gateway dc1]\n  server : gw:9000\n");
  assert_int_equal(gh__cfg_sniff(P("c.ini")), 2);
  put("c.ini", "[gateway dc1]\ntoken = x\n[destination d]\nserver = 1\n");
  assert_int_equal(gh__cfg_sniff(P("c.ini")), 0);
  put("o.ini", "[servers]\n[clientele]\nserver = 1\n");
  assert_int_equal(gh__cfg_sniff(P("o.ini")), 0);
  put("o.ini", "");
  assert_int_equal(gh__cfg_sniff(P("o.ini")), 0);
  assert_int_equal(gh__cfg_sniff(P("nope.ini")), -ENOENT);
}

static void test_relative_paths(void **state) {
  (void)state;
  /* relative to the file's directory, not to the working directory */
  static const char text[] = "[server]\ntunnel_listen = :9000\n"
                             "cert = ../server.crt\nkey = ../server.key\n"
                             "client_ca = clients-ca.crt\n";
  gh__server_cfg c;
  char err[1024] = "";
  char name[600];
  snprintf(name, sizeof(name), "%s", P("sub/x.ini"));
  assert_int_equal(gh__server_cfg_load_string(&c, text, sizeof(text) - 1, name,
                                              err, sizeof(err)),
                   0);
  assert_string_equal(c.file, name);
  assert_string_equal(c.cert, P("sub/../server.crt"));
  assert_string_equal(c.client_ca, P("sub/clients-ca.crt"));
  gh__server_cfg_free(&c);

  /* an absolute path stays as it is */
  char text2[1024];
  snprintf(text2, sizeof(text2),
           "[server]\ntunnel_listen = :9000\ncert = %s\nkey = %s\n",
           P("server.crt"), P("server.key"));
  assert_int_equal(gh__server_cfg_load_string(&c, text2, strlen(text2),
                                              "/elsewhere/s.ini", err,
                                              sizeof(err)),
                   0);
  assert_string_equal(c.cert, P("server.crt"));
  gh__server_cfg_free(&c);

  /* a name without a directory: the working directory */
  assert_int_equal(gh__server_cfg_load_string(&c, text2, strlen(text2), "s.ini",
                                              err, sizeof(err)),
                   0);
  gh__server_cfg_free(&c);
  static const char text3[] = "[server]\ncert = nope.crt\n";
  assert_int_equal(gh__server_cfg_load_string(&c, text3, sizeof(text3) - 1,
                                              "s.ini", err, sizeof(err)),
                   GH_EINVAL);
  assert_string_equal(err,
                      "s.ini:2: cert: cannot read 'nope.crt': No such file "
                      "or directory");
}

static void test_hostport_parse(void **state) {
  (void)state;
  char *h;
  uint16_t port;
  assert_int_equal(gh__hostport_parse("db.internal:5432", &h, &port), 0);
  assert_string_equal(h, "db.internal");
  assert_int_equal(port, 5432);
  free(h);
  assert_int_equal(gh__hostport_parse("[::1]:1", &h, &port), 0);
  assert_string_equal(h, "::1");
  assert_int_equal(port, 1);
  free(h);
  assert_int_equal(gh__hostport_parse(":65535", &h, &port), 0);
  assert_null(h);
  assert_int_equal(port, 65535);
  assert_int_equal(gh__hostport_parse("10.0.0.1:80", &h, &port), 0);
  free(h);
  const char *bad[] = {"",         "db",     "db:",           "db:0",
                       "db:65536", "db:+80", "db:8 0",        "::1:80",
                       "[::1]80",  "[]:80",  "[db]:80",       "[1.2.3.4]:80",
                       "a b:80",   "db:80:", "10.0.0.256:80", "[::1:80"};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    h = (char *)"x";
    port = 7;
    if (gh__hostport_parse(bad[i], &h, &port) != GH_EINVAL)
      print_error("accepted '%s'\n", bad[i]);
    assert_int_equal(gh__hostport_parse(bad[i], &h, &port), GH_EINVAL);
    assert_null(h);
    assert_int_equal(port, 0);
  }
  assert_int_equal(gh__hostport_parse(NULL, &h, &port), GH_EINVAL);
}

/* -------------------------------------------- validation against plugins */

static const gh_option tcp_opts[] = {
    {.name = "nodelay", .type = GH_OPT_BOOL, .def = "yes"},
};
static const gh_option tls_opts[] = {
    {.name = "cert", .type = GH_OPT_FILE},
    {.name = "key", .type = GH_OPT_FILE},
    {.name = "ca", .type = GH_OPT_FILE},
    {.name = "verify", .type = GH_OPT_BOOL, .def = "yes"},
    {.name = "server_name", .type = GH_OPT_STRING},
};
static const gh_option udp_opts[] = {
    {.name = "idle_timeout",
     .type = GH_OPT_INT,
     .min = 1,
     .max = 86400,
     .def = "60"},
};
static const gh_option http_opts[] = {
    {.name = "host", .type = GH_OPT_STRING, .flags = GH_OPT_REQUIRED},
    {.name = "add_header", .type = GH_OPT_STRING, .flags = GH_OPT_MULTI},
};
static const gh_handler h_tcp = {GH_HANDLER_HEADER, .kind = GH_KIND_TRANSPORT,
                                 .name = "tcp", .n_options = 1,
                                 .options = tcp_opts};
static const gh_handler h_tls = {GH_HANDLER_HEADER, .kind = GH_KIND_LAYER,
                                 .name = "tls", .n_options = 5,
                                 .options = tls_opts};
static const gh_handler h_udp = {GH_HANDLER_HEADER,
                                 .kind = GH_KIND_TRANSPORT,
                                 .flags = GH_HANDLER_DGRAM,
                                 .name = "udp",
                                 .n_options = 1,
                                 .options = udp_opts};
static const gh_handler h_http = {GH_HANDLER_HEADER, .kind = GH_KIND_LAYER,
                                  .name = "http", .n_options = 2,
                                  .options = http_opts};
static const gh_handler h_bare = {GH_HANDLER_HEADER, .kind = GH_KIND_LAYER,
                                  .name = "bare"};
static const char *const case_modes[] = {"upper", "rot13", NULL};
static const gh_option case_opts[] = {
    {.name = "mode",
     .type = GH_OPT_ENUM,
     .choices = case_modes,
     .def = "upper"},
};
static const gh_handler h_case = {GH_HANDLER_HEADER, .kind = GH_KIND_LAYER,
                                  .name = "case", .n_options = 1,
                                  .options = case_opts};
static const gh_handler *fake_handlers[] = {&h_tcp,  &h_tls,  &h_udp,
                                            &h_http, &h_bare, &h_case};
/* The aliases the shipped tls.so and http.so declare. */
static const gh_alias fake_alias_list[] = {
    {"tls", "tcp+tls"}, {"http", "tcp+http"}, {"https", "tcp+tls+http"}};
static const gh_alias *fake_aliases[] = {
    &fake_alias_list[0], &fake_alias_list[1], &fake_alias_list[2]};
static gh__registry reg = {.handlers = fake_handlers,
                           .n_handlers = 6,
                           .aliases = fake_aliases,
                           .n_aliases = 3};

/* Loads SBASE + text (which holds one destination) and validates it. */
static int validate(const char *text, gh__server_cfg *c, char *err,
                    size_t errlen) {
  char ini[4096];
  snprintf(ini, sizeof(ini), SBASE "%s", text);
  load_s_ok(c, ini);
  assert_int_equal(c->n_dests, 1);
  return gh__dest_validate(&c->dests[0], &reg, err, errlen);
}

static void valid_err(const char *text, int line, const char *what, int at) {
  gh__server_cfg c;
  char err[1024] = "";
  int rc = validate(text, &c, err, sizeof(err));
  check_err(rc, err, line, what, at);
  gh__server_cfg_free(&c);
}
#define VALID_ERR(text, line, what) valid_err(text, line, what, __LINE__)

static const char web_dest[] = "[destination web]\n"                    /* 8 */
                               "gateway = dc1\n"                        /* 9 */
                               "type = onprem\n"                        /* 10 */
                               "listen = 127.0.0.1:8443\n"              /* 11 */
                               "resource = web.internal:443\n"          /* 12 */
                               "listen.protocol = tls\n"                /* 13 */
                               "resource.protocol = tcp + tls + http\n" /* 14 */
                               "listen.tls.cert = tls/server.pem\n"     /* 15 */
                               "listen.tls.key = tls/server.key\n"      /* 16 */
                               "resource.tls.ca = tls/ca.pem\n"         /* 17 */
                               "tls.verify = no\n"                      /* 18 */
                               "resource.http.host = web.internal\n"    /* 19 */
                               "resource.http.add_header = X-A: 1\n"    /* 20 */
                               "resource.http.add_header = X-B: 2\n"    /* 21 */
                               "listen.tcp.nodelay = yes\n";            /* 22 */

static void test_validate_ok(void **state) {
  (void)state;
  gh__server_cfg c;
  char err[1024] = "";
  int rc = validate(web_dest, &c, err, sizeof(err));
  if (rc)
    print_error("%s\n", err);
  assert_int_equal(rc, 0);
  const gh__dest *d = &c.dests[0];
  assert_int_equal(d->listen_chain.n, 2);
  assert_ptr_equal(d->listen_chain.h[0], &h_tcp);
  assert_ptr_equal(d->listen_chain.h[1], &h_tls);
  assert_int_equal(d->resource_chain.n, 3);
  assert_ptr_equal(d->resource_chain.h[2], &h_http);
  const gh__kv *kv = gh__kvs_find(&d->opts, "listen.tls.cert");
  assert_non_null(kv);
  assert_int_equal(kv->line, 15);
  assert_int_equal(kv->blob_len, strlen("WEB-SERVER-CERT"));
  assert_memory_equal(kv->blob, "WEB-SERVER-CERT", kv->blob_len);
  assert_string_equal(kv->value, "tls/server.pem"); /* as written */
  kv = gh__kvs_find(&d->opts, "resource.tls.ca");
  assert_memory_equal(kv->blob, "WEB-RESOURCE-CA", kv->blob_len);
  kv = gh__kvs_find(&d->opts, "resource.http.add_header");
  assert_string_equal(kv->value, "X-A: 1");
  assert_null(gh__kvs_find(&d->opts, "tls.verify")->blob);
  /* validating twice is harmless: blobs are kept */
  const uint8_t *blob = gh__kvs_find(&d->opts, "listen.tls.cert")->blob;
  assert_int_equal(gh__dest_validate(&c.dests[0], &reg, err, sizeof(err)), 0);
  assert_ptr_equal(gh__kvs_find(&d->opts, "listen.tls.cert")->blob, blob);
  gh__server_cfg_free(&c);

  /* udp: an int option within its bounds, on both sides at once */
  assert_int_equal(validate(ONPREM("u", ":53") "protocol = udp\n"
                                               "udp.idle_timeout = 86400\n",
                            &c, err, sizeof(err)),
                   0);
  assert_int_equal(c.dests[0].listen_chain.n, 1);
  gh__server_cfg_free(&c);
}

static void test_validate_errors(void **state) {
  (void)state;
  VALID_ERR(ONPREM("d", ":1") "listen.protocol = tls\n"
                              "listen.tls.foo = 1\n",
            14,
            "unknown option 'listen.tls.foo' (handler tls has: cert, key, "
            "ca, verify, server_name)");
  VALID_ERR(ONPREM("d", ":1") "protocol = tcp+bare\nbare.x = 1\n", 14,
            "unknown option 'bare.x' (handler bare has no options)");
  VALID_ERR(ONPREM("d", ":1") "listen.tls.cert = tls/server.pem\n", 13,
            "option 'listen.tls.cert': handler tls is not in the listen "
            "chain (tcp)");
  VALID_ERR(ONPREM("d", ":1") "resource.protocol = http\n"
                              "resource.http.host = x\n"
                              "tls.verify = no\n",
            15,
            "handler tls is in neither chain (listen: tcp, resource: "
            "http)");
  VALID_ERR(ONPREM("d", ":1") "protocol = tls\ntls.verify = maybe\n", 14,
            "tls.verify must be yes, no, true, false, on, off, 1 or 0");
  VALID_ERR(ONPREM("d", ":1") "protocol = udp\nudp.idle_timeout = 0\n", 14,
            "udp.idle_timeout must be a whole number from 1 to 86400");
  VALID_ERR(ONPREM("d", ":1") "protocol = udp\nudp.idle_timeout = 86401\n", 14,
            "from 1 to 86400");
  VALID_ERR(ONPREM("d", ":1") "protocol = udp\nudp.idle_timeout = 6O\n", 14,
            "whole number");
  /* GH_OPT_ENUM: one of the words, exactly */
  VALID_ERR(ONPREM("d", ":1") "protocol = tcp+case\ncase.mode = bogus\n", 14,
            "destination d: case.mode = \"bogus\": expected one of upper, "
            "rot13");
  VALID_ERR(ONPREM("d", ":1") "protocol = tcp+case\n"
                              "resource.case.mode = Upper\n",
            14,
            "destination d: resource.case.mode = \"Upper\": expected one of "
            "upper, rot13");
  char want[600];
  snprintf(want, sizeof(want),
           "listen.tls.cert: cannot read '%s': No such file or directory",
           P("tls/nope.pem"));
  VALID_ERR(ONPREM("d", ":1") "listen.protocol = tls\n"
                              "listen.tls.cert = tls/nope.pem\n",
            14, want);
  /* REQUIRED: at the section's line, naming the destination */
  VALID_ERR(ONPREM("d", ":1") "resource.protocol = http\n", 8,
            "destination d: the resource side's handler http needs "
            "resource.http.host");
  /* given twice for one side (one way or another) */
  VALID_ERR(ONPREM("d", ":1") "protocol = tls\n"
                              "resource.tls.ca = tls/ca.pem\n"
                              "resource.tls.ca = tls/ca.pem\n",
            15,
            "tls.ca is given twice for the resource side (first at line "
            "14)");
  VALID_ERR(ONPREM("d", ":1") "protocol = tls\n"
                              "tls.ca = tls/ca.pem\n"
                              "listen.tls.ca = tls/ca.pem\n",
            15,
            "tls.ca is given twice for the listen side (first at line "
            "14)");
  /* chains */
  VALID_ERR(ONPREM("d", ":1") "listen.protocol = udp\n", 8,
            "destination d: one side carries datagrams and the other a byte "
            "stream");
  VALID_ERR(ONPREM("d", ":1") "listen.protocol = tcp+gzip\n", 13,
            "listen protocol 'tcp+gzip': unknown protocol handler \"gzip\" "
            "(known: tcp, tls, udp, http, bare, case)");
  /* A handler of the side the client runs: the server needs it too, and
   * says so; never for the side it runs itself. */
  VALID_ERR(ONPREM("d", ":1") "resource.protocol = tcp+gzip\n", 13,
            "resource protocol 'tcp+gzip': unknown protocol handler \"gzip\" "
            "(known: tcp, tls, udp, http, bare, case); the client runs this side, "
            "and the server checks it too: install the plugin on both "
            "machines");
  VALID_ERR(CLOUD("c", "dc1", "7000") "listen.protocol = tcp+gzip\n", 13,
            "the server checks it too: install the plugin on both machines");
  gh__server_cfg hc;
  char herr[1024] = "";
  assert_int_equal(validate(ONPREM("d", ":1") "listen.protocol = tcp+gzip\n",
                            &hc, herr, sizeof(herr)),
                   GH_EINVAL);
  assert_null(strstr(herr, "both machines"));
  gh__server_cfg_free(&hc);
  assert_int_equal(validate(CLOUD("c", "dc1", "7000") "resource.protocol = "
                                                      "tcp+gzip\n",
                            &hc, herr, sizeof(herr)),
                   GH_EINVAL);
  assert_null(strstr(herr, "both machines"));
  gh__server_cfg_free(&hc);
  VALID_ERR(ONPREM("d", ":1") "protocol = udp+tls\n", 13,
            "listen protocol 'udp+tls': protocol \"udp+tls\": \"udp\" carries "
            "datagrams");
  VALID_ERR(ONPREM("d", ":1") "resource.protocol = tls+tcp\n", 13,
            "resource protocol 'tls+tcp'");

  /* MULTI is fine twice; a side-less option on one chain is fine */
  gh__server_cfg c;
  char err[1024] = "";
  assert_int_equal(validate(ONPREM("d", ":1") "resource.protocol = https\n"
                                              "http.host = a\n"
                                              "http.add_header = A: 1\n"
                                              "http.add_header = B: 2\n"
                                              "tls.verify = off\n",
                            &c, err, sizeof(err)),
                   0);
  gh__server_cfg_free(&c);
  assert_int_equal(validate(ONPREM("d", ":1") "protocol = tcp+case\n"
                                              "listen.case.mode = rot13\n",
                            &c, err, sizeof(err)),
                   0);
  gh__server_cfg_free(&c);
}

/* ------------------------------------------------ the pushed set */

static const char push_ini[] = SBASE /* 1-7 */
    "[gateway dc2]\n"                /* 8 */
    "token = " TOKEN2 "\n"           /* 9 */
    "%s"                             /* web_dest, 10.. */
    "allow = 192.0.2.0/24\n"
    "[destination push]\n"
    "gateway = dc1\n"
    "type = cloud\n"
    "client_port = 12000\n"
    "client_bind = 0.0.0.0\n"
    "resource = [2001:db8::7]:8443\n"
    "allow = 10.0.0.0/8, 2001:db8::/32\n"
    "allow = 192.0.2.1-192.0.2.9, ::ffff:198.51.100.0/120\n"
    "listen.protocol = tls\n"
    "listen.tls.cert = tls/push.pem\n"
    "listen.tls.key = tls/push.key\n"
    "resource.tcp.nodelay = no\n"
    "connect_timeout = 30\n"
    "[destination other]\n"
    "gateway = dc2\n"
    "type = onprem\n"
    "listen = :7000\n"
    "resource = db:1\n";

static void push_cfg(gh__server_cfg *c) {
  char ini[4096];
  char err[1024] = "";
  snprintf(ini, sizeof(ini), push_ini, web_dest);
  load_s_ok(c, ini);
  assert_int_equal(c->n_dests, 3);
  for (size_t i = 0; i < c->n_dests; i++) {
    int rc = gh__dest_validate(&c->dests[i], &reg, err, sizeof(err));
    if (rc)
      print_error("%s\n", err);
    assert_int_equal(rc, 0);
  }
}

static void assert_kv_blob(const gh__dest *d, const char *key,
                           const char *content) {
  const gh__kv *kv = gh__kvs_find(&d->opts, key);
  assert_non_null(kv);
  assert_non_null(kv->blob);
  assert_int_equal(kv->blob_len, strlen(content));
  assert_memory_equal(kv->blob, content, kv->blob_len);
}

/* A destination owns its file name: the server takes destinations out of
 * a configuration and frees the rest at a reload. */
static void test_dest_owns_its_file(void **state) {
  (void)state;
  gh__server_cfg c;
  load_s_ok(&c, "[server]\ntunnel_listen = :9000\ncert = server.crt\n"
                "key = server.key\n[gateway g1]\ntoken = "
                "0123456789abcdef0123\n[destination b]\ngateway = g1\n"
                "type = onprem\nlisten = :15000\nresource = db:5432\n");
  gh__dest d = c.dests[0];
  memset(&c.dests[0], 0, sizeof(c.dests[0]));
  char *file = gh__strdup(c.file);
  gh__server_cfg_free(&c);
  assert_string_equal(d.file, file);
  gh__dest_free(&d);
  free(file);
}

/* The pushed set's bytes, version 1, as the encoder before core/wire.c
 * wrote them: a change of the codec must not change the wire. */
static void test_push_bytes_unchanged(void **state) {
  (void)state;
  static const uint8_t want[] = {
      0x47, 0x48, 0x44, 0x01, 0x00, 0x00, 0x00, 0x01, 0x00, 0x01, 0x62, 0x00,
      0x09, 0x01, 0x00, 0x07, 0x67, 0x61, 0x74, 0x65, 0x77, 0x61, 0x79, 0x00,
      0x00, 0x00, 0x02, 0x67, 0x31, 0x01, 0x00, 0x04, 0x74, 0x79, 0x70, 0x65,
      0x00, 0x00, 0x00, 0x05, 0x63, 0x6c, 0x6f, 0x75, 0x64, 0x01, 0x00, 0x0b,
      0x63, 0x6c, 0x69, 0x65, 0x6e, 0x74, 0x5f, 0x70, 0x6f, 0x72, 0x74, 0x00,
      0x00, 0x00, 0x05, 0x31, 0x32, 0x30, 0x30, 0x30, 0x01, 0x00, 0x0b, 0x63,
      0x6c, 0x69, 0x65, 0x6e, 0x74, 0x5f, 0x62, 0x69, 0x6e, 0x64, 0x00, 0x00,
      0x00, 0x07, 0x30, 0x2e, 0x30, 0x2e, 0x30, 0x2e, 0x30, 0x01, 0x00, 0x05,
      0x61, 0x6c, 0x6c, 0x6f, 0x77, 0x00, 0x00, 0x00, 0x03, 0x3a, 0x3a, 0x31,
      0x01, 0x00, 0x08, 0x72, 0x65, 0x73, 0x6f, 0x75, 0x72, 0x63, 0x65, 0x00,
      0x00, 0x00, 0x09, 0x5b, 0x3a, 0x3a, 0x31, 0x5d, 0x3a, 0x34, 0x34, 0x33,
      0x01, 0x00, 0x0f, 0x6c, 0x69, 0x73, 0x74, 0x65, 0x6e, 0x2e, 0x70, 0x72,
      0x6f, 0x74, 0x6f, 0x63, 0x6f, 0x6c, 0x00, 0x00, 0x00, 0x03, 0x74, 0x63,
      0x70, 0x01, 0x00, 0x11, 0x72, 0x65, 0x73, 0x6f, 0x75, 0x72, 0x63, 0x65,
      0x2e, 0x70, 0x72, 0x6f, 0x74, 0x6f, 0x63, 0x6f, 0x6c, 0x00, 0x00, 0x00,
      0x03, 0x74, 0x63, 0x70, 0x01, 0x00, 0x0f, 0x63, 0x6f, 0x6e, 0x6e, 0x65,
      0x63, 0x74, 0x5f, 0x74, 0x69, 0x6d, 0x65, 0x6f, 0x75, 0x74, 0x00, 0x00,
      0x00, 0x02, 0x31, 0x30};
  gh__server_cfg c;
  load_s_ok(&c, "[server]\ntunnel_listen = :9000\ncert = server.crt\n"
                "key = server.key\n[gateway g1]\ntoken = "
                "0123456789abcdef0123\n[destination b]\ngateway = g1\n"
                "type = cloud\nclient_port = 12000\nclient_bind = 0.0.0.0\n"
                "resource = [::1]:443\nresource.protocol = tcp\n"
                "allow = ::1\n");
  uint8_t *blob;
  size_t len;
  assert_int_equal(gh__dests_encode(&c, "g1", &blob, &len), 0);
  assert_int_equal(len, sizeof(want));
  assert_memory_equal(blob, want, len);
  free(blob);
  gh__server_cfg_free(&c);
}

static void test_push_round_trip(void **state) {
  (void)state;
  gh__server_cfg c;
  push_cfg(&c);
  uint8_t *blob;
  size_t len;
  assert_int_equal(gh__dests_encode(&c, "dc1", &blob, &len), 0);
  /* no token, nor anything of the server's own side */
  assert_null(memmem(blob, len, TOKEN, strlen(TOKEN)));
  assert_null(memmem(blob, len, "WEB-SERVER-KEY", 14));
  assert_null(memmem(blob, len, "WEB-SERVER-CERT", 15));
  assert_null(memmem(blob, len, "nodelay", 7)); /* listen.tcp of web */
  assert_non_null(memmem(blob, len, "PUSH-CLIENT-KEY", 15));
  assert_non_null(memmem(blob, len, "WEB-RESOURCE-CA", 15));

  gh__dest *v;
  size_t n;
  char err[1024] = "";
  int rc = gh__dests_decode(blob, len, &v, &n, err, sizeof(err));
  if (rc)
    print_error("%s\n", err);
  assert_int_equal(rc, 0);
  assert_int_equal(n, 2);

  /* web: on-prem, the client runs its resource side */
  const gh__dest *a = &c.dests[0], *b = &v[0];
  assert_string_equal(b->name, "web");
  assert_string_equal(b->file, "<pushed>");
  assert_int_equal(b->line, 0);
  assert_true(b->pushed);
  assert_string_equal(b->gateway, "dc1");
  assert_int_equal(b->type, GH__DEST_ONPREM);
  assert_string_equal(b->listen_host, a->listen_host);
  assert_int_equal(b->listen_port, a->listen_port);
  assert_string_equal(b->resource_host, "web.internal");
  assert_int_equal(b->resource_port, 443);
  assert_string_equal(b->listen_proto, "tls");
  assert_string_equal(b->resource_proto, "tcp + tls + http");
  assert_int_equal(b->connect_timeout_ms, 10000);
  assert_false(b->allow.present); /* the server enforces it */
  assert_int_equal(b->opts.n, 5);
  assert_kv_blob(b, "resource.tls.ca", "WEB-RESOURCE-CA");
  assert_string_equal(gh__kvs_find(&b->opts, "resource.tls.ca")->value,
                      "tls/ca.pem");
  assert_string_equal(gh__kvs_find(&b->opts, "tls.verify")->value, "no");
  assert_string_equal(gh__kvs_find(&b->opts, "resource.http.host")->value,
                      "web.internal");
  assert_string_equal(b->opts.v[3].value, "X-A: 1");
  assert_string_equal(b->opts.v[4].value, "X-B: 2");
  assert_null(gh__kvs_find(&b->opts, "listen.tls.cert"));
  assert_null(gh__kvs_find(&b->opts, "listen.tls.key"));

  /* push: cloud, the client runs its listen side */
  a = &c.dests[1];
  b = &v[1];
  assert_string_equal(b->name, "push");
  assert_int_equal(b->type, GH__DEST_CLOUD);
  assert_int_equal(b->client_port, 12000);
  assert_string_equal(b->client_bind, "0.0.0.0");
  assert_null(b->listen_host);
  assert_string_equal(b->resource_host, "2001:db8::7");
  assert_int_equal(b->resource_port, 8443);
  assert_int_equal(b->connect_timeout_ms, 30000);
  assert_true(b->allow.present);
  assert_int_equal(b->allow.n, a->allow.n);
  assert_int_equal(b->allow.n, 4);
  assert_memory_equal(b->allow.v, a->allow.v, a->allow.n * sizeof(*a->allow.v));
  assert_int_equal(b->opts.n, 2);
  assert_kv_blob(b, "listen.tls.cert", "PUSH-CLIENT-CERT");
  assert_kv_blob(b, "listen.tls.key", "PUSH-CLIENT-KEY");

  /* the client validates its own side only, with the blobs it got */
  for (size_t i = 0; i < n; i++) {
    rc = gh__dest_validate(&v[i], &reg, err, sizeof(err));
    if (rc)
      print_error("%s\n", err);
    assert_int_equal(rc, 0);
  }
  assert_int_equal(v[0].listen_chain.n, 0);
  assert_int_equal(v[0].resource_chain.n, 3);
  assert_int_equal(v[1].listen_chain.n, 2);
  assert_int_equal(v[1].resource_chain.n, 0);

  /* encode(decode(x)) == x */
  gh__server_cfg again = {.dests = v, .n_dests = n};
  uint8_t *blob2;
  size_t len2;
  assert_int_equal(gh__dests_encode(&again, "dc1", &blob2, &len2), 0);
  assert_int_equal(len2, len);
  assert_memory_equal(blob2, blob, len);
  free(blob2);

  for (size_t i = 0; i < n; i++)
    gh__dest_free(&v[i]);
  free(v);
  free(blob);

  /* the other gateway gets its one destination; an unknown one none */
  assert_int_equal(gh__dests_encode(&c, "dc2", &blob, &len), 0);
  assert_int_equal(gh__dests_decode(blob, len, &v, &n, err, sizeof(err)), 0);
  assert_int_equal(n, 1);
  assert_string_equal(v[0].name, "other");
  assert_null(v[0].listen_host);
  assert_int_equal(v[0].listen_port, 7000);
  gh__dest_free(&v[0]);
  free(v);
  free(blob);
  assert_int_equal(gh__dests_encode(&c, "nope", &blob, &len), 0);
  assert_int_equal(gh__dests_decode(blob, len, &v, &n, err, sizeof(err)), 0);
  assert_int_equal(n, 0);
  free(v);
  free(blob);
  assert_int_equal(gh__dests_encode(&c, NULL, &blob, &len), GH_EINVAL);
  gh__server_cfg_free(&c);
}

/* A small writer for hand-made pushed sets. */
typedef struct {
  uint8_t b[4096];
  size_t n;
} wbuf;

static void w_u8(wbuf *w, uint8_t v) {
  w->b[w->n++] = v;
}
static void w_u16(wbuf *w, uint16_t v) {
  w_u8(w, (uint8_t)(v >> 8));
  w_u8(w, (uint8_t)v);
}
static void w_u32(wbuf *w, uint32_t v) {
  w_u16(w, (uint16_t)(v >> 16));
  w_u16(w, (uint16_t)v);
}
static void w_raw(wbuf *w, const void *p, size_t n) {
  memcpy(w->b + w->n, p, n);
  w->n += n;
}
static void w_head(wbuf *w, uint32_t count) {
  w->n = 0;
  w_raw(w, "GHD\x01", 4);
  w_u32(w, count);
}
static void w_dest(wbuf *w, const char *name, uint16_t nrec) {
  w_u16(w, (uint16_t)strlen(name));
  w_raw(w, name, strlen(name));
  w_u16(w, nrec);
}
static void w_rec(wbuf *w, const char *k, const char *v) {
  w_u8(w, 1);
  w_u16(w, (uint16_t)strlen(k));
  w_raw(w, k, strlen(k));
  w_u32(w, (uint32_t)strlen(v));
  w_raw(w, v, strlen(v));
}
/* The four records a minimal cloud destination needs. */
static void w_min(wbuf *w, const char *name, uint16_t extra) {
  w_dest(w, name, (uint16_t)(4 + extra));
  w_rec(w, "gateway", "dc1");
  w_rec(w, "type", "cloud");
  w_rec(w, "client_port", "9");
  w_rec(w, "resource", "r:1");
}

static void decode_fails(const uint8_t *p, size_t len, int want,
                         const char *what, int at) {
  gh__dest *v = (gh__dest *)1;
  size_t n = 99;
  char err[1024] = "";
  int rc = gh__dests_decode(p, len, &v, &n, err, sizeof(err));
  if (rc != want || (what && !strstr(err, what)))
    print_error("case at test line %d: rc=%d err='%s'\n", at, rc, err);
  assert_int_equal(rc, want);
  assert_null(v);
  assert_int_equal(n, 0);
  if (what)
    assert_non_null(strstr(err, what));
}
#define DECODE_FAILS(w, want, what)                                            \
  decode_fails((w)->b, (w)->n, want, what, __LINE__)

/* A pushed set holds at most GH__PUSH_RECORDS_MAX keys in all: 16 MiB of
 * tiny records would otherwise cost the client ~180 MB of kvs. Both ends
 * refuse a larger set. */
static void put16(uint8_t *b, size_t *n, uint16_t v) {
  b[(*n)++] = (uint8_t)(v >> 8);
  b[(*n)++] = (uint8_t)v;
}
static size_t records_set(uint8_t *b, uint32_t dests, uint16_t opts) {
  size_t n = 0;
  memcpy(b, "GHD\x01", 4);
  n = 4;
  put16(b, &n, (uint16_t)(dests >> 16));
  put16(b, &n, (uint16_t)dests);
  static const char *const base[][2] = {
      {"gateway", "dc1"}, {"type", "cloud"}, {"client_port", "9"},
      {"resource", "r:1"}};
  for (uint32_t d = 0; d < dests; d++) {
    char name[16];
    int nl = snprintf(name, sizeof(name), "d%u", d);
    put16(b, &n, (uint16_t)nl);
    memcpy(b + n, name, (size_t)nl);
    n += (size_t)nl;
    put16(b, &n, (uint16_t)(4 + opts));
    for (uint32_t k = 0; k < 4u + opts; k++) {
      const char *key = k < 4 ? base[k][0] : "a.b", *val = k < 4 ? base[k][1] : "";
      b[n++] = 1;
      put16(b, &n, (uint16_t)strlen(key));
      memcpy(b + n, key, strlen(key));
      n += strlen(key);
      put16(b, &n, 0);
      put16(b, &n, (uint16_t)strlen(val));
      memcpy(b + n, val, strlen(val));
      n += strlen(val);
    }
  }
  return n;
}

static void test_push_records_bounded(void **state) {
  (void)state;
  /* 64 destinations of 1,024 keys: exactly the most a set may hold */
  size_t cap = 70u * 1028u * 16u;
  uint8_t *b = malloc(cap);
  gh__dest *v;
  size_t n;
  char err[512] = "";
  size_t len = records_set(b, 64, 1020);
  assert_int_equal(gh__dests_decode(b, len, &v, &n, err, sizeof(err)), 0);
  assert_int_equal(n, 64);
  for (size_t i = 0; i < n; i++)
    gh__dest_free(&v[i]);
  free(v);
  /* one destination more: refused before its keys are read */
  len = records_set(b, 65, 1020);
  assert_int_equal(gh__dests_decode(b, len, &v, &n, err, sizeof(err)),
                   GH_EPROTO);
  assert_non_null(strstr(err, "more than 65536 keys in the set"));
  free(b);

  /* and the server does not build one */
  gh__server_cfg c;
  load_s_ok(&c, SBASE);
  c.dests = gh__xcalloc(65, sizeof(*c.dests));
  for (size_t i = 0; i < 65; i++) {
    gh__dest *d = &c.dests[c.n_dests++];
    char name[16], e2[256];
    snprintf(name, sizeof(name), "d%zu", i);
    d->name = gh__strdup(name);
    assert_int_equal(gh__dest_set(d, "gateway", "dc1", 1, e2, sizeof(e2)), 0);
    assert_int_equal(gh__dest_set(d, "type", "cloud", 1, e2, sizeof(e2)), 0);
    assert_int_equal(gh__dest_set(d, "client_port", "9", 1, e2, sizeof(e2)), 0);
    assert_int_equal(gh__dest_set(d, "resource", "r:1", 1, e2, sizeof(e2)), 0);
    for (size_t k = 0; k < 1020; k++)
      assert_int_equal(gh__dest_set(d, "a.b", "", 1, e2, sizeof(e2)), 0);
  }
  uint8_t *out = NULL;
  size_t out_len = 0;
  assert_int_equal(gh__dests_encode(&c, "dc1", &out, &out_len), GH_EMSGSIZE);
  assert_null(out);
  gh__server_cfg_free(&c);
}

static void test_push_decode_bad(void **state) {
  (void)state;
  wbuf w;
  gh__dest *v;
  size_t n;
  char err[512];

  /* the minimal set decodes, with the defaults applied */
  w_head(&w, 1);
  w_min(&w, "m", 0);
  assert_int_equal(gh__dests_decode(w.b, w.n, &v, &n, err, sizeof(err)), 0);
  assert_int_equal(n, 1);
  assert_string_equal(v[0].client_bind, "127.0.0.1");
  assert_string_equal(v[0].listen_proto, "tcp");
  assert_int_equal(v[0].connect_timeout_ms, 10000);
  gh__dest_free(&v[0]);
  free(v);

  /* every truncation of it fails cleanly */
  for (size_t cut = 0; cut < w.n; cut++)
    decode_fails(w.b, cut, GH_EPROTO, NULL, __LINE__);
  /* a trailing byte */
  w_u8(&w, 0);
  DECODE_FAILS(&w, GH_EPROTO, "bytes after the last destination");

  w.n = 0;
  w_raw(&w, "GHX\x01\0\0\0\0", 8);
  DECODE_FAILS(&w, GH_EPROTO, "not a destination set");
  w.n = 0;
  w_raw(&w, "GHD\x02\0\0\0\0", 8);
  DECODE_FAILS(&w, GH_EPROTO, "unsupported version 2");
  w_head(&w, GH__DESTS_MAX + 1);
  DECODE_FAILS(&w, GH_EPROTO, "bad count");
  w_head(&w, 1000); /* claims more than the bytes can hold */
  DECODE_FAILS(&w, GH_EPROTO, "truncated");
  decode_fails(NULL, 0, GH_EPROTO, NULL, __LINE__);

  /* semantic errors: through gh__dest_set and the same checks as a file */
  w_head(&w, 1);
  w_min(&w, "m", 1);
  w_rec(&w, "bogus", "1");
  DECODE_FAILS(&w, GH_EINVAL, "destination m (pushed): unknown key 'bogus'");
  w_head(&w, 1);
  w_dest(&w, "m", 1);
  w_rec(&w, "type", "cloud");
  DECODE_FAILS(&w, GH_EINVAL, "destination m has no gateway");
  w_head(&w, 1);
  w_min(&w, "m", 1);
  w_rec(&w, "listen", ":1");
  DECODE_FAILS(&w, GH_EINVAL, "listen is for type = onprem");
  w_head(&w, 2);
  w_min(&w, "m", 0);
  w_min(&w, "m", 0);
  DECODE_FAILS(&w, GH_EINVAL, "destination m given twice");
  w_head(&w, 1);
  w_min(&w, "bad name", 0);
  DECODE_FAILS(&w, GH_EPROTO, "bad destination name");
  w_head(&w, 1);
  w_min(&w, "m", 1);
  w_rec(&w, "allow", "10.0.0.0/40");
  DECODE_FAILS(&w, GH_EINVAL, "allow: bad address");

  /* a NUL inside a string */
  w_head(&w, 1);
  w_dest(&w, "m", 1);
  w_u8(&w, 1);
  w_u16(&w, 4);
  w_raw(&w, "ty\0e", 4);
  w_u32(&w, 5);
  w_raw(&w, "cloud", 5);
  DECODE_FAILS(&w, GH_EPROTO, "malformed record");

  /* file content for a key that is not an option */
  w_head(&w, 1);
  w_dest(&w, "m", 1);
  w_u8(&w, 2);
  w_u16(&w, 7);
  w_raw(&w, "gateway", 7);
  w_u32(&w, 3);
  w_raw(&w, "dc1", 3);
  w_u32(&w, 2);
  w_raw(&w, "xx", 2);
  DECODE_FAILS(&w, GH_EPROTO, "not a handler option");

  /* a record tag that does not exist; a value over the limit */
  w_head(&w, 1);
  w_dest(&w, "m", 1);
  w_u8(&w, 3);
  DECODE_FAILS(&w, GH_EPROTO, "malformed record");
  w_head(&w, 1);
  w_dest(&w, "m", 1);
  w_u8(&w, 1);
  w_u16(&w, 4);
  w_raw(&w, "type", 4);
  w_u32(&w, 0x10000);
  DECODE_FAILS(&w, GH_EPROTO, "malformed record");
  /* a blob longer than what is left */
  w_head(&w, 1);
  w_min(&w, "m", 1);
  w_u8(&w, 2);
  w_u16(&w, 15);
  w_raw(&w, "listen.tls.cert", 15);
  w_u32(&w, 1);
  w_raw(&w, "x", 1);
  w_u32(&w, 1000);
  DECODE_FAILS(&w, GH_EPROTO, "truncated");
}

static void test_push_decode_mutations(void **state) {
  (void)state;
  gh__server_cfg c;
  push_cfg(&c);
  uint8_t *blob;
  size_t len;
  assert_int_equal(gh__dests_encode(&c, "dc1", &blob, &len), 0);
  gh__server_cfg_free(&c);
  /* every truncation fails; every one-byte change decodes or fails, with
   * no leak or overflow (run under ASan) */
  char err[512];
  for (size_t cut = 0; cut < len; cut++) {
    gh__dest *v;
    size_t n;
    assert_true(gh__dests_decode(blob, cut, &v, &n, err, sizeof(err)) < 0);
    assert_null(v);
  }
  static const uint8_t flips[] = {0x01, 0x80, 0xff};
  for (size_t i = 0; i < len; i++) {
    for (size_t f = 0; f < sizeof(flips); f++) {
      blob[i] ^= flips[f];
      gh__dest *v;
      size_t n;
      int rc = gh__dests_decode(blob, len, &v, &n, err, sizeof(err));
      if (rc == 0) {
        for (size_t k = 0; k < n; k++)
          gh__dest_free(&v[k]);
        free(v);
      } else {
        assert_true(rc == GH_EPROTO || rc == GH_EINVAL);
        assert_null(v);
      }
      blob[i] ^= flips[f];
    }
  }
  free(blob);
}

/* ------------------------------------ a client's own [destination] */

static void test_client_local_valid(void **state) {
  (void)state;
  gh__client_cfg c;
  load_c_ok(&c, CBASE "[destination db]\n"              /* 8 */
                      "gateway = dc1\n"                 /* 9 */
                      "resource.tls.cert = local.crt\n" /* 10 */
                      "resource.tls.key = /abs/l.key\n" /* 11 */
                      "tls.server_name = db.internal\n" /* 12 */
                      "[destination other]\n"           /* 13 */
                      "gateway = dc1\n");               /* 14 */
  assert_int_equal(c.n_locals, 2);
  const gh__local_dest *l = &c.locals[0];
  assert_string_equal(l->name, "db");
  assert_string_equal(l->gateway, "dc1");
  assert_int_equal(l->line, 8);
  assert_int_equal(l->gateway_line, 9);
  assert_int_equal(l->opts.n, 3);
  assert_string_equal(l->opts.v[0].key, "resource.tls.cert");
  assert_string_equal(l->opts.v[0].value, "local.crt"); /* as written */
  assert_int_equal(l->opts.v[0].line, 10);
  assert_string_equal(l->opts.v[0].file, P("t.ini"));
  assert_string_equal(l->opts.v[2].key, "tls.server_name");
  assert_int_equal(c.locals[1].opts.n, 0);
  assert_ptr_equal(gh__local_dest_find(&c, "dc1", "db"), l);
  assert_null(gh__local_dest_find(&c, "dc2", "db"));
  assert_null(gh__local_dest_find(&c, "dc1", "nope"));
  gh__client_cfg_free(&c);
  assert_null(c.locals);
}

static void test_client_local_errors(void **state) {
  (void)state;
  CLIENT_ERR(CBASE "[destination db]\nresource.tls.cert = a\n", 8,
             "[destination db] needs gateway = ID");
  CLIENT_ERR(CBASE "[destination db]\ngateway = dc1\ntype = onprem\n", 10,
             "'type' cannot be set in a client's [destination db]: only "
             "gateway = and handler options");
  CLIENT_ERR(CBASE "[destination db]\ngateway = dc1\nresource = h:1\n", 10,
             "'resource' cannot be set");
  CLIENT_ERR(CBASE "[destination db]\ngateway = dc9\n", 9,
             "destination db: no [gateway dc9] in this file");
  CLIENT_ERR(CBASE "[destination db]\ngateway = dc1\ngateway = dc1\n", 10,
             "gateway is already set in [destination db] (line 9)");
  CLIENT_ERR(CBASE "[destination db]\ngateway = bad id\n", 9,
             "gateway: bad id 'bad id'");
  CLIENT_ERR(CBASE "[destination db]\ngateway = dc1\nlisten.x = 1\n", 10,
             "unknown key 'listen.x' (handler options are");
  CLIENT_ERR(CBASE "[destination db]\ngateway = dc1\nresource.tls.cert =\n", 10,
             "resource.tls.cert has no value");
  CLIENT_ERR(CBASE "[destination db]\ngateway = dc1\n[destination db]\n", 10,
             "duplicate section [destination db] (first at line 8)");
  CLIENT_ERR(CBASE "[destination]\n", 8, "[destination] needs a name");
  /* the gateway may come after the destination that names it */
  gh__client_cfg c;
  load_c_ok(&c, "[destination db]\ngateway = dc1\ntls.verify = no\n"
                "[gateway dc1]\nserver = h:1\ntoken = " TOKEN "\n"
                "ca = ca.crt\n");
  assert_int_equal(c.n_locals, 1);
  gh__client_cfg_free(&c);
}

/* The server's set for dc1, pushed and decoded as a client gets it. */
static gh__dest *local_push(size_t *n) {
  gh__server_cfg s;
  char err[1024] = "";
  load_s_ok(&s, SBASE "[destination db]\n"
                      "gateway = dc1\n"
                      "type = onprem\n"
                      "listen = :5432\n"
                      "resource = db.internal:5432\n"
                      "resource.protocol = tls\n"
                      "resource.tls.ca = tls/ca.pem\n"
                      "resource.tls.cert = tls/push.pem\n"
                      "tls.key = tls/push.key\n"
                      "tls.verify = no\n");
  int rc = gh__dest_validate(&s.dests[0], &reg, err, sizeof(err));
  if (rc)
    print_error("%s\n", err);
  assert_int_equal(rc, 0);
  uint8_t *blob;
  size_t len;
  gh__dest *v;
  assert_int_equal(gh__dests_encode(&s, "dc1", &blob, &len), 0);
  assert_int_equal(gh__dests_decode(blob, len, &v, n, err, sizeof(err)), 0);
  assert_int_equal(*n, 1);
  free(blob);
  gh__server_cfg_free(&s);
  return v;
}

static void free_dests(gh__dest *v, size_t n) {
  for (size_t i = 0; i < n; i++)
    gh__dest_free(&v[i]);
  free(v);
}

static void load_local(gh__client_cfg *c, const char *locals) {
  char text[2048];
  char err[1024] = "";
  snprintf(text, sizeof(text),
           "[gateway dc1]\nserver = h:1\ntoken = " TOKEN "\nca = %s\n%s",
           P("ca.crt"), locals);
  put("sub/c.ini", text);
  int rc = gh__client_cfg_load(c, P("sub/c.ini"), err, sizeof(err));
  if (rc)
    print_error("%s\n", err);
  assert_int_equal(rc, 0);
}

static void test_client_local_apply(void **state) {
  (void)state;
  mkdir(P("sub/local"), 0700);
  put("sub/local/me.crt", "LOCAL-CERT");
  put("sub/local/me.key", "LOCAL-KEY");
  size_t n;
  gh__dest *v = local_push(&n);
  gh__client_cfg c;
  char err[1024] = "";
  /* lines 1-4 are the gateway */
  load_local(&c, "[destination db]\n"                 /* 5 */
                 "gateway = dc1\n"                    /* 6 */
                 "resource.tls.cert = local/me.crt\n" /* 7 */
                 "tls.key = local/me.key\n");         /* 8 */
  const gh__local_dest *l = gh__local_dest_find(&c, "dc1", "db");
  assert_non_null(l);
  assert_int_equal(gh__dest_apply_local(&v[0], l, err, sizeof(err)), 0);
  /* what the server gave for cert and key is gone, in either spelling */
  for (size_t i = 0; i < v[0].opts.n; i++) {
    const gh__kv *kv = &v[0].opts.v[i];
    if (strstr(kv->key, "tls.cert") || strstr(kv->key, "tls.key")) {
      assert_non_null(kv->file);
      assert_null(kv->blob);
    }
  }
  assert_non_null(gh__kvs_find(&v[0].opts, "resource.tls.ca"));
  assert_non_null(gh__kvs_find(&v[0].opts, "tls.verify"));
  int rc = gh__dest_validate(&v[0], &reg, err, sizeof(err));
  if (rc)
    print_error("%s\n", err);
  assert_int_equal(rc, 0);
  /* read beside the client's file; the pushed CA is kept */
  assert_kv_blob(&v[0], "resource.tls.cert", "LOCAL-CERT");
  assert_kv_blob(&v[0], "tls.key", "LOCAL-KEY");
  assert_kv_blob(&v[0], "resource.tls.ca", "WEB-RESOURCE-CA");
  assert_int_equal(gh__kvs_find(&v[0].opts, "tls.key")->line, 8);
  gh__client_cfg_free(&c);
  free_dests(v, n);

  /* an option of the server's side */
  v = local_push(&n);
  load_local(&c, "[destination db]\ngateway = dc1\n"
                 "listen.tls.cert = local/me.crt\n"); /* 7 */
  l = gh__local_dest_find(&c, "dc1", "db");
  assert_int_equal(gh__dest_apply_local(&v[0], l, err, sizeof(err)), GH_EINVAL);
  char want[600];
  snprintf(want, sizeof(want),
           "%s:7: listen.tls.cert: this client runs the resource side of "
           "destination db (type = onprem)",
           P("sub/c.ini"));
  if (strncmp(err, want, strlen(want)) != 0)
    print_error("got '%s'\n", err);
  assert_int_equal(strncmp(err, want, strlen(want)), 0);
  gh__client_cfg_free(&c);
  free_dests(v, n);

  /* errors found when validating name the client's file and line */
  static const struct {
    const char *locals;
    int line;
    const char *what;
  } bad[] = {
      {"resource.tls.cert = local/none.crt\n", 7,
       "resource.tls.cert: cannot read"},
      {"resource.tls.bogus = 1\n", 7, "unknown option 'resource.tls.bogus'"},
      {"resource.http.host = x\n", 7, "handler http is not in the resource"},
      {"tls.verify = maybe\n", 7, "tls.verify must be yes, no"},
  };
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    char text[512];
    snprintf(text, sizeof(text), "[destination db]\ngateway = dc1\n%s",
             bad[i].locals);
    v = local_push(&n);
    load_local(&c, text);
    l = gh__local_dest_find(&c, "dc1", "db");
    assert_int_equal(gh__dest_apply_local(&v[0], l, err, sizeof(err)), 0);
    rc = gh__dest_validate(&v[0], &reg, err, sizeof(err));
    snprintf(want, sizeof(want), "%s:%d: ", P("sub/c.ini"), bad[i].line);
    if (rc != GH_EINVAL || strncmp(err, want, strlen(want)) != 0 ||
        !strstr(err, bad[i].what))
      print_error("case %zu: got rc=%d '%s'\n", i, rc, err);
    assert_int_equal(rc, GH_EINVAL);
    assert_int_equal(strncmp(err, want, strlen(want)), 0);
    assert_non_null(strstr(err, bad[i].what));
    gh__client_cfg_free(&c);
    free_dests(v, n);
  }
}

/* ------------------------------------------------------ secrets' modes */

static char warned[4096];

static void collect(const char *line, void *arg) {
  (void)arg;
  size_t n = strlen(warned);
  snprintf(warned + n, sizeof(warned) - n, "%s\n", line);
}

static const char *warnings_of_server(const char *text) {
  gh__server_cfg c;
  gh__cfg_warnings_flush(NULL, NULL); /* those of the tests before */
  load_s_ok(&c, text);
  gh__server_cfg_free(&c);
  warned[0] = '\0';
  gh__cfg_warnings_flush(collect, NULL);
  return warned;
}

/* A secret others can read is warned about with FILE:LINE, not refused;
 * readable by the group gatehouse runs as is fine. */
static void test_secret_modes(void **state) {
  (void)state;
  const char *text = "[server]\n"
                     "tunnel_listen = :9000\n"
                     "cert = server.crt\n"
                     "key = server.key\n"
                     "\n"
                     "[gateway dc1]\n"
                     "token_file = dc1.token\n";
  char want[1024];
  assert_int_equal(chmod(P("server.key"), 0644), 0);
  assert_int_equal(chmod(P("dc1.token"), 0604), 0);
  const char *w = warnings_of_server(text);
  snprintf(want, sizeof(want),
           "%s:4: warning: key: '%s' holds a secret and is readable by others "
           "(mode 0644, gid ",
           P("t.ini"), P("server.key"));
  assert_non_null(strstr(w, want));
  snprintf(want, sizeof(want),
           "%s:7: warning: token_file: '%s' holds a secret and is readable "
           "by others (mode 0604",
           P("t.ini"), P("dc1.token"));
  assert_non_null(strstr(w, want));
  assert_null(strstr(w, FILE_TOKEN)); /* never the secret itself */
  assert_null(strstr(w, "cert")); /* a certificate is no secret */

  assert_int_equal(chmod(P("server.key"), 0600), 0);
  assert_int_equal(chmod(P("dc1.token"), 0600), 0);
  assert_string_equal(warnings_of_server(text), "");

  if (geteuid() == 0) {
    /* readable by a group gatehouse does not run as */
    assert_int_equal(chown(P("server.key"), 0, 65534), 0);
    assert_int_equal(chmod(P("server.key"), 0640), 0);
    assert_non_null(
        strstr(warnings_of_server(text), "is readable by its group (mode "
                                         "0640, gid 65534)"));
    /* by the group it runs as: fine */
    assert_int_equal(chown(P("server.key"), 0, getegid()), 0);
    assert_string_equal(warnings_of_server(text), "");
  }
  assert_int_equal(chmod(P("server.key"), 0644), 0);

  /* the client's gateway key */
  assert_int_equal(chmod(P("client.key"), 0644), 0);
  gh__client_cfg c;
  gh__cfg_warnings_flush(NULL, NULL);
  char err[1024] = "";
  assert_int_equal(load_c(&c,
                          "[gateway dc1]\n"
                          "server = gw.example.com:9000\n"
                          "token = " TOKEN "\n"
                          "ca = ca.crt\n"
                          "cert = client.crt\n"
                          "key = client.key\n"
                          "\n"
                          "[destination web]\n"
                          "gateway = dc1\n"
                          "resource.tls.key = tls/push.key\n"
                          "resource.tls.cert = tls/push.pem\n",
                          err, sizeof(err)),
                   0);
  gh__client_cfg_free(&c);
  warned[0] = '\0';
  gh__cfg_warnings_flush(collect, NULL);
  snprintf(want, sizeof(want),
           "%s:6: warning: key: '%s' holds a secret and is readable by others",
           P("t.ini"), P("client.key"));
  assert_non_null(strstr(warned, want));
  /* and the key of the client's own destination */
  snprintf(want, sizeof(want),
           "%s:10: warning: resource.tls.key: '%s' holds a secret and is "
           "readable by others",
           P("t.ini"), P("tls/push.key"));
  assert_non_null(strstr(warned, want));
  assert_null(strstr(warned, "push.pem"));
}

/* ---- issue 14: the client's veto */

static void test_client_gateway_acl(void **state) {
  (void)state;
  gh__client_cfg c;
  load_c_ok(&c, "[acl dc2]\n" /* before its gateway: fine */
                "allow = db:5432\n"
                "listen = 0.0.0.0:12000\n" CBASE "[acl]\n"
                "allow = *:443\n"
                "[gateway dc2]\nserver = h:1\ntoken = " TOKEN "\n"
                "ca = ca.crt\n"
                "[gateway dc3]\nserver = h:1\ntoken = " TOKEN "\n"
                "ca = ca.crt\n"
                "[acl dc3]\n");
  assert_int_equal(c.n_gw_acls, 2);
  const gh__acl *a1 = gh__client_acl(&c, "dc1"),
                *a2 = gh__client_acl(&c, "dc2"),
                *a3 = gh__client_acl(&c, "dc3");
  assert_ptr_equal(a1, &c.acl); /* no section of its own: the global one */
  assert_ptr_not_equal(a2, &c.acl);
  /* dc1 has the global rules, dc2 only its own, dc3 its empty own */
  assert_true(gh__acl_check(a1, "web", 443, NULL, 0, NULL));
  assert_false(gh__acl_check(a1, "db", 5432, NULL, 0, NULL));
  assert_false(gh__acl_check(a2, "web", 443, NULL, 0, NULL));
  assert_true(gh__acl_check(a2, "db", 5432, NULL, 0, NULL));
  assert_false(gh__acl_check(a3, "web", 443, NULL, 0, NULL));
  assert_false(gh__acl_check(a3, "db", 5432, NULL, 0, NULL));
  /* the listen rule is dc2's alone */
  int line = 0;
  assert_true(gh__acl_listen_check(a2, "0.0.0.0", 12000, &line));
  assert_int_equal(line, 3);
  assert_false(gh__acl_listen_check(a1, "0.0.0.0", 12000, NULL));
  assert_false(gh__acl_listen_equal(a1, a2));
  gh__client_cfg_free(&c);
  assert_null(c.gw_acls);
}

static void test_client_gateway_acl_errors(void **state) {
  (void)state;
  CLIENT_ERR(CBASE "[acl dc9]\nallow = *\n", 8,
             "[acl dc9]: no [gateway dc9] in this file");
  CLIENT_ERR(CBASE "[acl dc1]\nallow = *\n[acl dc1]\n", 10,
             "duplicate section [acl dc1] (first at line 8)");
  CLIENT_ERR(CBASE "[acl dc1]\nallow = db\n", 9, "allow: bad target 'db'");
  CLIENT_ERR(CBASE "[acl dc1]\nlisten = *\n", 9, "listen: bad target '*'");
  CLIENT_ERR(CBASE "[acl]\nlisten = 0.0.0.0\n", 9,
             "listen: bad target '0.0.0.0'");
  CLIENT_ERR(CBASE "[acl]\nlisten = 0.0.0.0:99999\n", 9, "listen: bad target");
  CLIENT_ERR(CBASE "[acl dc1]\npermit = *\n", 9,
             "unknown key 'permit' in [acl dc1]");
  CLIENT_ERR(CBASE "[acl a/b]\n", 8, "bad acl name");
}

/* A resource at an unspecified address reaches the local host: the
 * server's file refuses it at its line. */
static void test_server_unspecified_resource(void **state) {
  (void)state;
  static const char *const bad[] = {"0.0.0.0:5432", "[::]:5432",
                                    "[::ffff:0.0.0.0]:5432", "0.1.2.3:5432"};
  for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
    char text[600];
    snprintf(text, sizeof(text),
             SBASE "[destination d]\ngateway = dc1\ntype = onprem\n"
                   "listen = :1\nresource = %s\n",
             bad[i]);
    SERVER_ERR(text, 12, "is an unspecified address");
  }
}

/* An enum value is checked on the client too, for the side it runs; the
 * message names the pushed destination where a file would be. */
static void test_push_enum_checked(void **state) {
  (void)state;
  const char *values[] = {"rot13", "bogus"};
  for (int i = 0; i < 2; i++) {
    wbuf w;
    gh__dest *v;
    size_t n;
    char err[1024] = "";
    w_head(&w, 1);
    w_min(&w, "m", 2);
    w_rec(&w, "listen.protocol", "tcp+case");
    w_rec(&w, "listen.case.mode", values[i]);
    assert_int_equal(gh__dests_decode(w.b, w.n, &v, &n, err, sizeof(err)), 0);
    int rc = gh__dest_validate(&v[0], &reg, err, sizeof(err));
    if (i == 0) {
      assert_int_equal(rc, 0);
    } else {
      assert_int_equal(rc, GH_EINVAL);
      assert_string_equal(err, "destination m (pushed): listen.case.mode = "
                               "\"bogus\": expected one of upper, rot13");
    }
    gh__dest_free(&v[0]);
    free(v);
  }
}

/* A file option pushed as a path, with no content: never opened, and the
 * same answer whether the file exists or not. */
static void test_push_bare_path_refused(void **state) {
  (void)state;
  put("exists.pem", "-----BEGIN CERTIFICATE-----\n");
  const char *paths[] = {P("exists.pem"), "/nonexistent/secret"};
  char errs[2][1024];
  for (int i = 0; i < 2; i++) {
    wbuf w;
    gh__dest *v;
    size_t n;
    w_head(&w, 1);
    w_min(&w, "m", 2);
    w_rec(&w, "listen.protocol", "tls");
    w_rec(&w, "listen.tls.cert", paths[i]);
    assert_int_equal(
        gh__dests_decode(w.b, w.n, &v, &n, errs[i], sizeof(errs[i])), 0);
    assert_int_equal(gh__dest_validate(&v[0], &reg, errs[i], sizeof(errs[i])),
                     GH_EINVAL);
    if (!strstr(errs[i], "opens no file that a server names"))
      print_error("%s\n", errs[i]);
    assert_non_null(strstr(errs[i], "opens no file that a server names"));
    assert_null(strstr(errs[i], paths[i]));
    assert_null(gh__kvs_find(&v[0].opts, "listen.tls.cert")->blob);
    gh__dest_free(&v[0]);
    free(v);
  }
  assert_string_equal(errs[0], errs[1]);
}

/* A FIFO where a file is expected: refused at once, not waited on (the
 * open would block the event loop until a writer came). */
static void test_file_read_fifo(void **state) {
  (void)state;
  unlink(P("pipe"));
  assert_int_equal(mkfifo(P("pipe"), 0600), 0);
  uint8_t *buf = NULL;
  size_t len = 0;
  assert_int_equal(gh__file_read(P("pipe"), &buf, &len), -EINVAL);
  assert_null(buf);
  unlink(P("pipe"));
}

/* ------------------------------------------------------ revocation, caps */

/* Writes a signed, empty PEM CRL (its own key: only the format matters
 * here) to `name`. */
static void put_crl(const char *name) {
  EVP_PKEY *pk = EVP_EC_gen("P-256");
  X509_CRL *crl = X509_CRL_new();
  X509_NAME *issuer = X509_NAME_new();
  assert_non_null(pk);
  X509_NAME_add_entry_by_txt(issuer, "CN", MBSTRING_ASC,
                             (const unsigned char *)"test CA", -1, -1, 0);
  X509_CRL_set_version(crl, 1);
  X509_CRL_set_issuer_name(crl, issuer);
  ASN1_TIME *now = ASN1_TIME_set(NULL, time(NULL));
  X509_CRL_set1_lastUpdate(crl, now);
  assert_true(X509_CRL_sign(crl, pk, EVP_sha256()) > 0);
  FILE *f = fopen(P(name), "w");
  assert_non_null(f);
  assert_int_equal(PEM_write_X509_CRL(f, crl), 1);
  fclose(f);
  ASN1_TIME_free(now);
  X509_NAME_free(issuer);
  X509_CRL_free(crl);
  EVP_PKEY_free(pk);
}

static void test_revocation_and_caps(void **state) {
  (void)state;
  gh__server_cfg c;
  /* secure defaults */
  load_s_ok(&c, SBASE);
  assert_null(c.client_crl);
  assert_int_equal(c.unauth_max, 1024);
  assert_int_equal(c.unauth_per_source, 32);
  assert_int_equal(c.handshake_timeout_s, 10);
  assert_int_equal(c.gateways[0].tunnels_max, 64);
  assert_int_equal(c.gateways[0].streams_max, 65536);
  gh__server_cfg_free(&c);

  put_crl("clients.crl");
  load_s_ok(&c, "[server]\ntunnel_listen = :9000\ncert = server.crt\n"
                "key = server.key\nclient_ca = sub/clients-ca.crt\n"
                "client_crl = clients.crl\nunauth_max = 10\n"
                "unauth_per_source = 2\nhandshake_timeout = 3\n"
                "[gateway dc1]\ntoken = " TOKEN "\ntunnels_max = 2\n"
                "streams_max = 100\n");
  assert_string_equal(c.client_crl, P("clients.crl"));
  assert_int_equal(c.unauth_max, 10);
  assert_int_equal(c.unauth_per_source, 2);
  assert_int_equal(c.handshake_timeout_s, 3);
  assert_int_equal(c.gateways[0].tunnels_max, 2);
  assert_int_equal(c.gateways[0].streams_max, 100);
  gh__server_cfg_free(&c);

  /* a file that holds no CRL, with its line */
  char want[600];
  snprintf(want, sizeof(want), "client_crl: '%s': no CRL found in it",
           P("server.crt"));
  SERVER_ERR("[server]\nclient_ca = sub/clients-ca.crt\n"
             "client_crl = server.crt\n",
             3, want);
  SERVER_ERR("[server]\nclient_crl = /nonexistent/x.crl\n", 2,
             "client_crl: cannot read '/nonexistent/x.crl'");
  SERVER_ERR("[server]\ntunnel_listen = :9000\ncert = server.crt\n"
             "key = server.key\nclient_crl = clients.crl\n",
             5, "client_crl needs client_ca");
  SERVER_ERR("[server]\nunauth_max = 0\n", 2,
             "unauth_max must be a number from 1 to 65536");
  SERVER_ERR("[server]\nunauth_per_source = lots\n", 2,
             "unauth_per_source must be a number from 1 to 65536");
  SERVER_ERR("[server]\nhandshake_timeout = 0\n", 2,
             "handshake_timeout must be a number of seconds from 1 to 3600");
  SERVER_ERR(SBASE "tunnels_max = 0\n", 8,
             "tunnels_max must be a number from 1 to 65536");
  SERVER_ERR(SBASE "streams_max = 16777217\n", 8,
             "streams_max must be a number from 1 to 16777216");

  gh__client_cfg cc;
  load_c_ok(&cc, CBASE "crl = clients.crl\n");
  assert_string_equal(cc.gateways[0].crl, P("clients.crl"));
  assert_int_equal(cc.gateways[0].crl_line, 8);
  gh__client_cfg_free(&cc);
  load_c_ok(&cc, CBASE);
  assert_null(cc.gateways[0].crl);
  gh__client_cfg_free(&cc);
  snprintf(want, sizeof(want), "crl: '%s': no CRL found in it", P("ca.crt"));
  CLIENT_ERR(CBASE "crl = ca.crt\n", 8, want);
}

/* connecting_max and open_queue_max: both sides, defaults, bounds. */
static void test_open_limits(void **state) {
  (void)state;
  gh__server_cfg s;
  load_s_ok(&s, SBASE);
  assert_int_equal(s.common.connecting_max, 1024);
  assert_int_equal(s.common.open_queue_max, 16384);
  gh__server_cfg_free(&s);
  load_s_ok(&s, "[server]\nconnecting_max = 4\nopen_queue_max = 0\n"
                "tunnel_listen = 0.0.0.0:9000\ncert = server.crt\n"
                "key = server.key\n[gateway dc1]\ntoken = " TOKEN "\n");
  assert_int_equal(s.common.connecting_max, 4);
  assert_int_equal(s.common.open_queue_max, 0);
  gh__server_cfg_free(&s);
  gh__client_cfg c;
  load_c_ok(&c, CBASE);
  assert_int_equal(c.common.connecting_max, 1024);
  assert_int_equal(c.common.open_queue_max, 16384);
  gh__client_cfg_free(&c);
  load_c_ok(&c,
            "[client]\nconnecting_max = 65536\nopen_queue_max = 65536\n"
            "[gateway dc1]\nserver = h:1\ntoken = " TOKEN "\nca = ca.crt\n");
  assert_int_equal(c.common.connecting_max, 65536);
  assert_int_equal(c.common.open_queue_max, 65536);
  gh__client_cfg_free(&c);
  SERVER_ERR("[server]\nconnecting_max = 0\n", 2,
             "connecting_max must be a number from 1 to 65536");
  SERVER_ERR("[server]\nlog_level = info\nopen_queue_max = 65537\n", 3,
             "open_queue_max must be a number from 0 to 65536");
  CLIENT_ERR("[client]\nconnecting_max = many\n", 2,
             "connecting_max must be a number from 1 to 65536");
  CLIENT_ERR("[client]\nopen_queue_max = -1\n", 2,
             "open_queue_max must be a number from 0 to 65536");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_open_limits),
      cmocka_unit_test(test_server_valid),
      cmocka_unit_test(test_server_defaults),
      cmocka_unit_test(test_revocation_and_caps),
      cmocka_unit_test(test_server_errors_sections),
      cmocka_unit_test(test_server_errors_main),
      cmocka_unit_test(test_server_errors_gateways),
      cmocka_unit_test(test_server_errors_destinations),
      cmocka_unit_test(test_server_client_port_unique),
      cmocka_unit_test(test_server_listen_clash),
      cmocka_unit_test(test_long_lines),
      cmocka_unit_test(test_inline_comments_and_indent),
      cmocka_unit_test(test_nul_byte),
      cmocka_unit_test(test_unreadable_file),
      cmocka_unit_test(test_token_never_in_errors),
      cmocka_unit_test(test_plugin_dirs),
      cmocka_unit_test(test_client_valid),
      cmocka_unit_test(test_client_acl),
      cmocka_unit_test(test_client_errors),
      cmocka_unit_test(test_sniff),
      cmocka_unit_test(test_relative_paths),
      cmocka_unit_test(test_hostport_parse),
      cmocka_unit_test(test_validate_ok),
      cmocka_unit_test(test_validate_errors),
      cmocka_unit_test(test_push_round_trip),
      cmocka_unit_test(test_push_bytes_unchanged),
      cmocka_unit_test(test_dest_owns_its_file),
      cmocka_unit_test(test_push_decode_bad),
      cmocka_unit_test(test_push_records_bounded),
      cmocka_unit_test(test_client_gateway_acl),
      cmocka_unit_test(test_client_gateway_acl_errors),
      cmocka_unit_test(test_server_unspecified_resource),
      cmocka_unit_test(test_push_bare_path_refused),
      cmocka_unit_test(test_push_enum_checked),
      cmocka_unit_test(test_file_read_fifo),
      cmocka_unit_test(test_push_decode_mutations),
      cmocka_unit_test(test_client_local_valid),
      cmocka_unit_test(test_client_local_errors),
      cmocka_unit_test(test_client_local_apply),
      cmocka_unit_test(test_secret_modes),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
