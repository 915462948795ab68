/* Unix socket paths: the [acl]'s unix:GLOB rules (gh__acl_path_check, with
 * a fake canon function standing in for realpath), the path syntax,
 * listen/resource = unix:PATH in a destination and in a pushed set, and a
 * Unix-socket peer on the wire (no address). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "acl.h"
#include "config.h"
#include "frame.h"

static void rules(gh__acl *acl, const char *const *spec) {
  memset(acl, 0, sizeof(*acl));
  char err[256];
  for (int i = 0; spec[i]; i++) {
    int allow = strncmp(spec[i], "allow ", 6) == 0;
    int listen = strncmp(spec[i], "listen ", 7) == 0;
    const char *t = strchr(spec[i], ' ') + 1;
    int rc = listen ? gh__acl_add_listen(acl, t, i + 1, err, sizeof(err))
                    : gh__acl_add(acl, allow, t, i + 1, err, sizeof(err));
    if (rc != 0)
      fail_msg("rule %s: %s", spec[i], err);
  }
}

static int check(const gh__acl *acl, const char *path, int *line) {
  return gh__acl_path_check(acl, path, 0, NULL, line);
}

/* /var/run is a link to /run; /odd is a link to a directory whose name
 * holds glob characters. */
static int fake_canon(const char *dir, char *out, size_t len) {
  if (strncmp(dir, "/var/run", 8) == 0 && (dir[8] == '/' || !dir[8])) {
    snprintf(out, len, "/run%s", dir + 8);
    return 0;
  }
  if (strcmp(dir, "/odd") == 0) {
    snprintf(out, len, "/we*rd");
    return 0;
  }
  if (strcmp(dir, "/missing") == 0)
    return -2;
  snprintf(out, len, "%s", dir);
  return 0;
}

static void test_path_rules_first_match_default_deny(void **state) {
  (void)state;
  gh__acl acl;
  const char *spec[] = {"deny unix:/run/postgresql/.s.PGSQL.5433",
                        "allow unix:/run/postgresql/*", "allow *",
                        "allow 10.0.0.0/8:*", NULL};
  rules(&acl, spec);
  int line = -1;
  assert_int_equal(check(&acl, "/run/postgresql/.s.PGSQL.5432", &line), 1);
  assert_int_equal(line, 2);
  assert_int_equal(check(&acl, "/run/postgresql/.s.PGSQL.5433", &line), 0);
  assert_int_equal(line, 1);
  /* * and HOST:PORTS never match a socket path: default deny */
  assert_int_equal(check(&acl, "/var/run/docker.sock", &line), 0);
  assert_int_equal(line, 0);
  /* FNM_PATHNAME: * stays within one component */
  assert_int_equal(check(&acl, "/run/postgresql/sub/x", &line), 0);
  assert_int_equal(check(&acl, "/run/postgresql", &line), 0);
  /* a path rule never decides a host */
  gh__acl only;
  const char *s2[] = {"allow unix:/*", NULL};
  rules(&only, s2);
  gh_addr a;
  gh__addr_parse("127.0.0.1", &a);
  assert_int_equal(gh__acl_check(&only, "127.0.0.1", 80, &a, 1, &line), 0);
  assert_int_equal(check(&only, "/x.sock", &line), 1);
  assert_int_equal(check(&only, "/a/x.sock", &line), 0);
  /* no [acl] at all: nothing */
  gh__acl none;
  memset(&none, 0, sizeof(none));
  assert_int_equal(check(&none, "/x.sock", &line), 0);
  gh__acl_free(&acl);
  gh__acl_free(&only);
}

static void test_path_rules_listen_apart(void **state) {
  (void)state;
  gh__acl acl;
  const char *spec[] = {"listen unix:/run/gatehouse/*.sock",
                        "allow unix:/run/app/*", NULL};
  rules(&acl, spec);
  int line;
  assert_int_equal(
      gh__acl_path_check(&acl, "/run/gatehouse/a.sock", 1, NULL, &line), 1);
  assert_int_equal(line, 1);
  assert_int_equal(check(&acl, "/run/gatehouse/a.sock", &line), 0);
  assert_int_equal(gh__acl_path_check(&acl, "/run/app/x", 1, NULL, &line), 0);
  assert_int_equal(check(&acl, "/run/app/x", &line), 1);
  /* a path listen rule is no address listen rule */
  assert_int_equal(gh__acl_listen_check(&acl, "0.0.0.0", 80, &line), 0);
  /* and listen rules compare with their paths */
  gh__acl other;
  const char *s2[] = {"listen unix:/run/gatehouse/*", NULL};
  rules(&other, s2);
  assert_int_equal(gh__acl_listen_equal(&acl, &acl), 1);
  assert_int_equal(gh__acl_listen_equal(&acl, &other), 0);
  gh__acl_free(&acl);
  gh__acl_free(&other);
}

static void test_path_rules_canonical_dir(void **state) {
  (void)state;
  gh__acl acl;
  const char *spec[] = {"deny unix:/var/run/docker.sock",
                        "allow unix:/var/run/postgresql/*", "allow unix:/odd/*",
                        "allow unix:/missing/*", NULL};
  rules(&acl, spec);
  int line;
  /* the realpath of /var/run/postgresql/... is under /run */
  const char *real = "/run/postgresql/.s.PGSQL.5432";
  assert_int_equal(gh__acl_path_check(&acl, real, 0, NULL, &line), 0);
  assert_int_equal(gh__acl_path_check(&acl, real, 0, fake_canon, &line), 1);
  assert_int_equal(line, 2);
  /* deny rules are made canonical too */
  assert_int_equal(
      gh__acl_path_check(&acl, "/run/docker.sock", 0, fake_canon, &line), 0);
  assert_int_equal(line, 1);
  /* a canonical directory's glob characters are taken literally */
  assert_int_equal(
      gh__acl_path_check(&acl, "/we*rd/a.sock", 0, fake_canon, &line), 1);
  assert_int_equal(
      gh__acl_path_check(&acl, "/weXXrd/a.sock", 0, fake_canon, &line), 0);
  /* a directory that does not resolve: the rule as written only */
  assert_int_equal(
      gh__acl_path_check(&acl, "/missing/a.sock", 0, fake_canon, &line), 1);
  assert_int_equal(
      gh__acl_path_check(&acl, "/elsewhere/a.sock", 0, fake_canon, &line), 0);
  gh__acl_free(&acl);
}

static void test_path_rule_syntax(void **state) {
  (void)state;
  gh__acl acl;
  memset(&acl, 0, sizeof(acl));
  char err[256];
  const char *bad[] = {"unix:",       "unix:run/x", "unix:/a/../b",
                       "unix:/a/./b", "unix:/a//b", "unix:/a/",
                       "unix:/a b",   "unix:/a/..", "unix:/a\tb"};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    if (gh__acl_add(&acl, 1, bad[i], 1, err, sizeof(err)) != GH_EINVAL)
      fail_msg("%s was accepted", bad[i]);
    assert_non_null(strstr(err, "unix:/ABSOLUTE/PATH"));
  }
  assert_int_equal(gh__acl_add_listen(&acl, "unix:rel", 1, err, sizeof(err)),
                   GH_EINVAL);
  assert_int_equal(acl.n, 0);
  assert_int_equal(
      gh__acl_add(&acl, 1, "unix:/[a-z]*/?.sock", 1, err, sizeof(err)), 0);
  gh__acl_free(&acl);
  /* a socket path: absolute, no . or .., shorter than sun_path */
  char longp[120];
  memset(longp, 'a', sizeof(longp));
  longp[0] = '/';
  longp[107] = '\0';
  assert_int_equal(gh__unix_path_valid(longp), 1);
  longp[107] = 'a';
  longp[108] = '\0';
  assert_int_equal(gh__unix_path_valid(longp), 0);
  assert_int_equal(gh__unix_path_valid("/run/a.sock"), 1);
  assert_int_equal(gh__unix_path_valid("run/a.sock"), 0);
  assert_int_equal(gh__unix_path_valid("/run/../a.sock"), 0);
  assert_int_equal(gh__unix_path_valid("/run/a\n.sock"), 0);
  assert_int_equal(gh__unix_path_valid(NULL), 0);
}

/* ---- a unix peer: allow lists, log text, the wire */

static void test_unix_peer(void **state) {
  (void)state;
  gh_addr peer;
  memset(&peer, 0, sizeof(peer));
  peer.family = GH_AF_UNIX;
  gh__iplist l;
  memset(&l, 0, sizeof(l));
  assert_int_equal(gh__iplist_match(&l, &peer), 1); /* no allow key */
  char err[128];
  assert_int_equal(gh__iplist_add(&l, "0.0.0.0/0, ::/0", err, sizeof(err)), 0);
  assert_int_equal(gh__iplist_match(&l, &peer), 0); /* no IP address */
  gh__iplist_free(&l);
  char text[64];
  gh__addr_format(&peer, text, sizeof(text));
  assert_string_equal(text, "(unix socket)");
  /* over the tunnel it is "no address" */
  uint8_t buf[512];
  gh__open o = {{"pg", 2}, peer};
  int n = gh__open_encode(buf, sizeof(buf), &o);
  assert_true(n > 0);
  gh__open back;
  assert_int_equal(gh__open_decode(buf, (size_t)n, &back), 0);
  assert_int_equal(back.peer.family, GH_AF_NONE);
  /* and a unix family written on the wire by someone else is refused */
  gh__open v4 = {{"pg", 2}, peer};
  v4.peer.family = GH_AF_NONE;
  n = gh__open_encode(buf, sizeof(buf), &v4);
  assert_true(n > 0);
  buf[3] = (uint8_t)GH_AF_UNIX; /* after the name: len(1) "pg" family */
  assert_int_not_equal(gh__open_decode(buf, (size_t)n, &back), 0);
}

/* ---- destinations */

static int dset(gh__dest *d, const char *k, const char *v, char *err,
                size_t len) {
  return gh__dest_set(d, k, v, 1, err, len);
}

static void test_dest_unix_keys_and_push(void **state) {
  (void)state;
  char err[512];
  gh__dest d;
  memset(&d, 0, sizeof(d));
  d.name = strdup("pg");
  assert_int_equal(dset(&d, "gateway", "gw1", err, sizeof(err)), 0);
  assert_int_equal(dset(&d, "type", "onprem", err, sizeof(err)), 0);
  assert_int_equal(dset(&d, "listen", "unix:/run/a.sock", err, sizeof(err)), 0);
  assert_int_equal(dset(&d, "resource", "unix:/run/postgresql/.s.PGSQL.5432",
                        err, sizeof(err)),
                   0);
  assert_int_equal(d.listen_unix, 1);
  assert_int_equal(d.resource_unix, 1);
  assert_string_equal(d.resource_host, "/run/postgresql/.s.PGSQL.5432");
  assert_int_equal(d.resource_port, 0);
  assert_int_equal(dset(&d, "resource", "unix:/x", err, sizeof(err)),
                   GH_EINVAL); /* given twice */
  char t[300];
  gh__dest_listen_text(&d, t, sizeof(t));
  assert_string_equal(t, "unix:/run/a.sock");
  gh__dest_resource_text(&d, t, sizeof(t));
  assert_string_equal(t, "unix:/run/postgresql/.s.PGSQL.5432");

  /* pushed and decoded: the same destination, the unix chain by default */
  gh__server_cfg cfg;
  memset(&cfg, 0, sizeof(cfg));
  d.listen_proto = strdup("unix");
  d.resource_proto = strdup("unix");
  d.connect_timeout_ms = 10000;
  cfg.dests = &d;
  cfg.n_dests = 1;
  uint8_t *blob;
  size_t len;
  assert_int_equal(gh__dests_encode(&cfg, "gw1", &blob, &len), 0);
  gh__dest *nd;
  size_t n;
  assert_int_equal(gh__dests_decode(blob, len, &nd, &n, err, sizeof(err)), 0);
  assert_int_equal(n, 1);
  assert_int_equal(nd[0].resource_unix, 1);
  assert_string_equal(nd[0].resource_host, "/run/postgresql/.s.PGSQL.5432");
  assert_int_equal(nd[0].listen_unix, 1);
  assert_string_equal(nd[0].listen_host, "/run/a.sock");
  gh__dest_free(&nd[0]);
  free(nd);
  free(blob);
  gh__dest_free(&d);

  /* bad paths, and a cloud socket listener with client_port */
  memset(&d, 0, sizeof(d));
  const char *badv[] = {"unix:", "unix:rel.sock", "unix:/a/../b", "unix:/a//b"};
  for (size_t i = 0; i < sizeof(badv) / sizeof(badv[0]); i++) {
    assert_int_equal(dset(&d, "resource", badv[i], err, sizeof(err)),
                     GH_EINVAL);
    assert_non_null(strstr(err, "socket path"));
    assert_int_equal(dset(&d, "listen", badv[i], err, sizeof(err)), GH_EINVAL);
  }
  gh__dest_free(&d);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_path_rules_first_match_default_deny),
      cmocka_unit_test(test_path_rules_listen_apart),
      cmocka_unit_test(test_path_rules_canonical_dir),
      cmocka_unit_test(test_path_rule_syntax),
      cmocka_unit_test(test_unix_peer),
      cmocka_unit_test(test_dest_unix_keys_and_push),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
