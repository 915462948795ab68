/* The INI parsers, on any text: the input is parsed as a server's file and
 * as a client's. The file is named as if it sat in a temporary directory
 * that holds a few files (c.pem, k.pem, ca.pem, t.token, tls/x.pem) so that
 * inputs which name them get past the file checks. A server configuration
 * that loads is validated against a registry of fake handlers, and each
 * gateway's pushed set is encoded, decoded (which must succeed), validated
 * on the client's side and encoded again to the same bytes. */
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"

#define CHECK(c)                                                               \
  do {                                                                         \
    if (!(c))                                                                  \
      abort();                                                                 \
  } while (0)

static const gh_option tcp_opts[] = {
    {.name = "nodelay", .type = GH_OPT_BOOL, .def = "yes"},
};
static const char *const tls_versions[] = {"1.2", "1.3", NULL};
static const gh_option tls_opts[] = {
    {.name = "min_version",
     .type = GH_OPT_ENUM,
     .choices = tls_versions,
     .def = "1.2"},
    {.name = "cert", .type = GH_OPT_FILE},
    {.name = "key", .type = GH_OPT_FILE},
    {.name = "ca", .type = GH_OPT_FILE},
    {.name = "verify", .type = GH_OPT_BOOL, .def = "yes"},
    {.name = "server_name", .type = GH_OPT_STRING},
};
static const gh_option udp_opts[] = {
    {.name = "idle_timeout", .type = GH_OPT_INT, .min = 1, .max = 86400},
};
static const gh_option http_opts[] = {
    {.name = "host", .type = GH_OPT_STRING, .flags = GH_OPT_REQUIRED},
    {.name = "add_header", .type = GH_OPT_STRING, .flags = GH_OPT_MULTI},
};
static const gh_handler h_tcp = {GH_HANDLER_HEADER, .kind = GH_KIND_TRANSPORT,
                                 .name = "tcp", .n_options = 1,
                                 .options = tcp_opts};
static const gh_handler h_tls = {GH_HANDLER_HEADER, .kind = GH_KIND_LAYER,
                                 .name = "tls", .n_options = 6,
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
static const gh_handler *handlers[] = {&h_tcp, &h_tls, &h_udp, &h_http};
static gh__registry reg = {.handlers = handlers, .n_handlers = 4};

static char dir[64];
static char name[128];

static int rm_one(const char *path, const struct stat *st, int flag,
                  struct FTW *ftw) {
  (void)st;
  (void)flag;
  (void)ftw;
  return remove(path);
}

static void cleanup(void) {
  nftw(dir, rm_one, 8, FTW_DEPTH | FTW_PHYS);
}

static void put(const char *file, const char *content) {
  char path[256];
  snprintf(path, sizeof(path), "%s/%s", dir, file);
  FILE *f = fopen(path, "w");
  CHECK(f);
  fputs(content, f);
  fclose(f);
}

static void fixture(void) {
  if (dir[0])
    return;
  snprintf(dir, sizeof(dir), "/tmp/gh-fuzz-config-XXXXXX");
  CHECK(mkdtemp(dir));
  atexit(cleanup);
  char sub[128];
  snprintf(sub, sizeof(sub), "%s/tls", dir);
  CHECK(mkdir(sub, 0700) == 0);
  put("c.pem", "CERT\n");
  put("k.pem", "KEY\n");
  put("ca.pem", "CA\n");
  put("t.token", "0123456789abcdef0123456789abcdef\n");
  put("tls/x.pem", "X\n");
  snprintf(name, sizeof(name), "%s/fuzz.ini", dir);
}

static void push_round_trip(const gh__server_cfg *s, const char *gateway) {
  uint8_t *blob = NULL, *again = NULL;
  size_t len = 0, len2 = 0, n = 0;
  gh__dest *v = NULL;
  char err[512];
  if (gh__dests_encode(s, gateway, &blob, &len) < 0)
    return;
  CHECK(gh__dests_decode(blob, len, &v, &n, err, sizeof(err)) == 0);
  for (size_t i = 0; i < n; i++) {
    CHECK(v[i].pushed && strcmp(v[i].gateway, gateway) == 0);
    gh__dest_validate(&v[i], &reg, err, sizeof(err));
  }
  gh__server_cfg c = {.dests = v, .n_dests = n};
  CHECK(gh__dests_encode(&c, gateway, &again, &len2) == 0);
  CHECK(len2 == len && memcmp(again, blob, len) == 0);
  for (size_t i = 0; i < n; i++)
    gh__dest_free(&v[i]);
  free(v);
  free(again);
  free(blob);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char err[1024];
  fixture();
  gh__server_cfg s;
  if (gh__server_cfg_load_string(&s, (const char *)data, size, name, err,
                                 sizeof(err)) == 0) {
    int valid = 1;
    for (size_t i = 0; i < s.n_dests; i++)
      if (gh__dest_validate(&s.dests[i], &reg, err, sizeof(err)) < 0)
        valid = 0;
    /* The server pushes only a validated configuration. */
    for (size_t i = 0; valid && i < s.n_gateways; i++)
      push_round_trip(&s, s.gateways[i].id);
    gh__server_cfg_free(&s);
  } else {
    CHECK(strncmp(err, name, strlen(name)) == 0 && s.file == NULL);
  }
  gh__client_cfg c;
  if (gh__client_cfg_load_string(&c, (const char *)data, size, name, err,
                                 sizeof(err)) == 0) {
    CHECK(c.n_gateways > 0);
    int line;
    gh__acl_check(&c.acl, "db.internal", 5432, NULL, 0, &line);
    gh__client_cfg_free(&c);
  } else {
    CHECK(strncmp(err, name, strlen(name)) == 0 && c.file == NULL);
  }
  return 0;
}
