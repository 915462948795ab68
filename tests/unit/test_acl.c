/* Address rules: gh__addr_*, the `allow` IP tables (gh__iplist_*) and the
 * client's [acl] (gh__acl_*). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "acl.h"

static gh_addr A(const char *text) {
  gh_addr a;
  assert_int_equal(gh__addr_parse(text, &a), 0);
  return a;
}

/* ---- addresses */

static void test_addr_parse(void **state) {
  (void)state;
  gh_addr a;
  assert_int_equal(gh__addr_parse("192.0.2.1", &a), 0);
  assert_int_equal(a.family, GH_AF_INET);
  assert_int_equal(a.port, 0);
  assert_memory_equal(a.addr, "\xc0\x00\x02\x01", 4);
  assert_int_equal(gh__addr_parse("2001:db8::1", &a), 0);
  assert_int_equal(a.family, GH_AF_INET6);
  assert_int_equal(a.addr[0], 0x20);
  assert_int_equal(a.addr[15], 0x01);
  const char *bad[] = {"",          "1.2.3",      "256.1.1.1",  "1.2.3.4 ",
                       " 1.2.3.4",  "::g",        "1.2.3.4/8",  "[::1]",
                       "01.2.3.4x", "1.2.3.4:80", "db.internal"};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    assert_int_equal(gh__addr_parse(bad[i], &a), GH_EINVAL);
    assert_int_equal(a.family, GH_AF_NONE);
  }
  assert_int_equal(gh__addr_parse(NULL, &a), GH_EINVAL);
}

static void test_addr_format(void **state) {
  (void)state;
  char out[64];
  gh_addr a = A("10.1.2.3");
  gh__addr_format(&a, out, sizeof(out));
  assert_string_equal(out, "10.1.2.3");
  a.port = 80;
  gh__addr_format(&a, out, sizeof(out));
  assert_string_equal(out, "10.1.2.3:80");
  a = A("::1");
  gh__addr_format(&a, out, sizeof(out));
  assert_string_equal(out, "::1");
  a.port = 443;
  gh__addr_format(&a, out, sizeof(out));
  assert_string_equal(out, "[::1]:443");
  gh_addr none = {0};
  gh__addr_format(&none, out, sizeof(out));
  assert_string_equal(out, "?");
  /* truncation never overflows */
  char small[5];
  a = A("2001:db8::1");
  gh__addr_format(&a, small, sizeof(small));
  assert_int_equal(strlen(small), 4);
}

static void test_hostname_valid(void **state) {
  (void)state;
  const char *good[] = {"db",        "db.internal", "DB.Internal.",
                        "a-b.c_d.e", "x1.example",  "3com.example"};
  const char *bad[] = {"",        ".",        "a..b",      "-a.b",
                       "a-.b",    "a b",      "a/b",       "10.0.0.256",
                       "1.2.3.4", "host.123", "*.example", "db:5432"};
  for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
    assert_true(gh__hostname_valid(good[i]));
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
    assert_false(gh__hostname_valid(bad[i]));
  char long_label[80];
  memset(long_label, 'a', 64);
  long_label[64] = '\0';
  assert_false(gh__hostname_valid(long_label)); /* label > 63 */
  long_label[63] = '\0';
  assert_true(gh__hostname_valid(long_label));
  assert_false(gh__hostname_valid(NULL));
}

/* ---- allow lists */

static int match(const gh__iplist *l, const char *addr) {
  gh_addr a = A(addr);
  return gh__iplist_match(l, &a);
}

static void test_iplist_absent_allows_all(void **state) {
  (void)state;
  gh__iplist l = {0};
  assert_true(match(&l, "203.0.113.9"));
  assert_true(match(&l, "2001:db8::9"));
}

static void test_iplist_v4_cidr_bounds(void **state) {
  (void)state;
  gh__iplist l = {0};
  char err[256];
  assert_int_equal(gh__iplist_add(&l, "10.0.0.0/8", err, sizeof(err)), 0);
  assert_true(l.present);
  assert_false(match(&l, "9.255.255.255"));
  assert_true(match(&l, "10.0.0.0"));
  assert_true(match(&l, "10.255.255.255"));
  assert_false(match(&l, "11.0.0.0"));
  assert_false(match(&l, "::a00:1")); /* IPv6, not IPv4 */
  gh__iplist_free(&l);
  assert_false(l.present);

  assert_int_equal(gh__iplist_add(&l, "198.51.100.7/32", err, sizeof(err)), 0);
  assert_true(match(&l, "198.51.100.7"));
  assert_false(match(&l, "198.51.100.6"));
  assert_false(match(&l, "198.51.100.8"));
  gh__iplist_free(&l);

  assert_int_equal(gh__iplist_add(&l, "0.0.0.0/0", err, sizeof(err)), 0);
  assert_true(match(&l, "0.0.0.0"));
  assert_true(match(&l, "255.255.255.255"));
  assert_false(match(&l, "::1"));
  gh__iplist_free(&l);

  /* host bits are masked off: 10.1.2.3/16 is 10.1.0.0/16 */
  assert_int_equal(gh__iplist_add(&l, "10.1.2.3/16", err, sizeof(err)), 0);
  assert_true(match(&l, "10.1.0.0"));
  assert_true(match(&l, "10.1.255.255"));
  assert_false(match(&l, "10.2.0.0"));
  assert_false(match(&l, "10.0.255.255"));
  gh__iplist_free(&l);

  /* an odd prefix length */
  assert_int_equal(gh__iplist_add(&l, "192.0.2.64/27", err, sizeof(err)), 0);
  assert_false(match(&l, "192.0.2.63"));
  assert_true(match(&l, "192.0.2.64"));
  assert_true(match(&l, "192.0.2.95"));
  assert_false(match(&l, "192.0.2.96"));
  gh__iplist_free(&l);
}

static void test_iplist_v6(void **state) {
  (void)state;
  gh__iplist l = {0};
  char err[256];
  assert_int_equal(gh__iplist_add(&l, "2001:db8::/32", err, sizeof(err)), 0);
  assert_true(match(&l, "2001:db8::"));
  assert_true(match(&l, "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff"));
  assert_false(match(&l, "2001:db9::"));
  assert_false(match(&l, "2001:db7:ffff:ffff:ffff:ffff:ffff:ffff"));
  assert_false(match(&l, "32.1.13.184")); /* same bytes, IPv4 */
  gh__iplist_free(&l);

  assert_int_equal(gh__iplist_add(&l, "::1/128", err, sizeof(err)), 0);
  assert_true(match(&l, "::1"));
  assert_false(match(&l, "::2"));
  assert_false(match(&l, "::"));
  gh__iplist_free(&l);

  assert_int_equal(gh__iplist_add(&l, "::/0", err, sizeof(err)), 0);
  assert_true(match(&l, "::"));
  assert_true(match(&l, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"));
  assert_false(match(&l, "10.0.0.1"));
  gh__iplist_free(&l);

  assert_int_equal(gh__iplist_add(&l, "fd00::/64", err, sizeof(err)), 0);
  assert_true(match(&l, "fd00::ffff:ffff:ffff:ffff"));
  assert_false(match(&l, "fd00:0:0:1::"));
  gh__iplist_free(&l);
}

static void test_iplist_ranges(void **state) {
  (void)state;
  gh__iplist l = {0};
  char err[256];
  assert_int_equal(gh__iplist_add(&l, "10.0.0.1-10.0.0.9", err, sizeof(err)),
                   0);
  assert_false(match(&l, "10.0.0.0"));
  assert_true(match(&l, "10.0.0.1"));
  assert_true(match(&l, "10.0.0.5"));
  assert_true(match(&l, "10.0.0.9"));
  assert_false(match(&l, "10.0.0.10"));
  gh__iplist_free(&l);

  /* a range across octets, and a one-address range */
  assert_int_equal(gh__iplist_add(&l,
                                  "10.0.0.250-10.0.1.5, 192.0.2.1-192.0.2.1",
                                  err, sizeof(err)),
                   0);
  assert_int_equal(l.n, 2);
  assert_true(match(&l, "10.0.0.255"));
  assert_true(match(&l, "10.0.1.0"));
  assert_false(match(&l, "10.0.1.6"));
  assert_true(match(&l, "192.0.2.1"));
  assert_false(match(&l, "192.0.2.2"));
  gh__iplist_free(&l);

  assert_int_equal(gh__iplist_add(&l, "fd00::1-fd00::ff", err, sizeof(err)), 0);
  assert_true(match(&l, "fd00::80"));
  assert_false(match(&l, "fd00::100"));
  gh__iplist_free(&l);
}

static void test_iplist_mapped(void **state) {
  (void)state;
  gh__iplist l = {0};
  char err[256];
  /* an IPv4 client seen on a dual-stack socket matches IPv4 rules */
  assert_int_equal(gh__iplist_add(&l, "10.0.0.0/8", err, sizeof(err)), 0);
  assert_true(match(&l, "::ffff:10.1.2.3"));
  assert_false(match(&l, "::ffff:11.1.2.3"));
  gh__iplist_free(&l);

  /* a rule written in mapped form is an IPv4 rule */
  assert_int_equal(gh__iplist_add(&l, "::ffff:192.0.2.0/120", err, sizeof(err)),
                   0);
  assert_int_equal(l.v[0].family, GH_AF_INET);
  assert_true(match(&l, "192.0.2.77"));
  assert_true(match(&l, "::ffff:192.0.2.77"));
  assert_false(match(&l, "192.0.3.1"));
  gh__iplist_free(&l);

  /* ...but an IPv6 rule is for IPv6 clients only: ::/0 is not "all" */
  assert_int_equal(gh__iplist_add(&l, "::/0", err, sizeof(err)), 0);
  assert_false(match(&l, "::ffff:10.1.2.3"));
  gh__iplist_free(&l);
}

static void test_iplist_several_lines_and_spaces(void **state) {
  (void)state;
  gh__iplist l = {0};
  char err[256];
  assert_int_equal(gh__iplist_add(&l,
                                  " 203.0.113.0/24 ,198.51.100.7,\t"
                                  "10.0.0.1-10.0.0.9 ",
                                  err, sizeof(err)),
                   0);
  assert_int_equal(gh__iplist_add(&l, "2001:db8::1", err, sizeof(err)), 0);
  assert_int_equal(l.n, 4);
  assert_true(match(&l, "203.0.113.200"));
  assert_true(match(&l, "198.51.100.7"));
  assert_true(match(&l, "10.0.0.3"));
  assert_true(match(&l, "2001:db8::1"));
  assert_false(match(&l, "2001:db8::2"));
  assert_false(match(&l, "8.8.8.8"));
  gh__iplist_free(&l);
}

static void test_iplist_errors(void **state) {
  (void)state;
  const char *bad[] = {"",
                       " ",
                       "10.0.0.0/33",
                       "::/129",
                       "10.0.0.0/-1",
                       "10.0.0.0/",
                       "10.0.0.0/8/8",
                       "10.0.0.9-10.0.0.1",
                       "10.0.0.1-::1",
                       "10.0.0.1-",
                       "db.internal",
                       "10.0.0.1,",
                       ",10.0.0.1",
                       "10.0.0.1,,10.0.0.2",
                       "10.0.0.1 10.0.0.2",
                       "10.0.0.0/8-10.0.0.9"};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    gh__iplist l = {0};
    char err[256] = "";
    assert_int_equal(gh__iplist_add(&l, bad[i], err, sizeof(err)), GH_EINVAL);
    assert_false(l.present);
    assert_int_equal(l.n, 0);
    assert_true(err[0] != '\0');
    gh__iplist_free(&l);
  }
  /* the message names the bad entry; a bad line adds nothing */
  gh__iplist l = {0};
  char err[256];
  assert_int_equal(gh__iplist_add(&l, "10.0.0.1", err, sizeof(err)), 0);
  assert_int_equal(gh__iplist_add(&l, "10.0.0.2, 10.0.0.300", err, sizeof(err)),
                   GH_EINVAL);
  assert_non_null(strstr(err, "'10.0.0.300'"));
  assert_int_equal(l.n, 1);
  assert_false(match(&l, "10.0.0.2"));
  gh__iplist_free(&l);
}

/* ---- [acl] */

static int check(const gh__acl *acl, const char *host, uint16_t port,
                 const char *const *addrs, size_t n, int *line) {
  gh_addr a[8];
  for (size_t i = 0; i < n; i++)
    a[i] = A(addrs[i]);
  return gh__acl_check(acl, host, port, a, n, line);
}

static void add(gh__acl *acl, int allow, const char *target, int line) {
  char err[256] = "";
  int rc = gh__acl_add(acl, allow, target, line, err, sizeof(err));
  if (rc != 0)
    print_error("gh__acl_add(%s): %s\n", target, err);
  assert_int_equal(rc, 0);
}

static void test_acl_absent_denies(void **state) {
  (void)state;
  gh__acl acl = {0};
  int line = -1;
  const char *a[] = {"10.0.0.1"};
  assert_false(check(&acl, "db", 5432, a, 1, &line));
  assert_int_equal(line, 0);
  /* present but empty: nothing matches, deny */
  acl.present = 1;
  assert_false(check(&acl, "db", 5432, a, 1, &line));
  assert_int_equal(line, 0);
}

static void test_acl_spec_example(void **state) {
  (void)state;
  gh__acl acl = {0};
  int line = 0;
  add(&acl, 1, "db.internal:5432", 13);
  add(&acl, 1, "10.1.0.0/16:80-443", 14);
  add(&acl, 0, "*", 15);
  assert_true(acl.present);
  const char *db[] = {"172.16.0.5"};
  assert_true(check(&acl, "db.internal", 5432, db, 1, &line));
  assert_int_equal(line, 13);
  assert_false(check(&acl, "db.internal", 5433, db, 1, &line));
  assert_int_equal(line, 15);
  const char *web[] = {"10.1.2.3"};
  assert_true(check(&acl, "web.internal", 80, web, 1, &line));
  assert_int_equal(line, 14);
  assert_true(check(&acl, "web.internal", 443, web, 1, &line));
  assert_false(check(&acl, "web.internal", 79, web, 1, &line));
  assert_false(check(&acl, "web.internal", 444, web, 1, &line));
  const char *other[] = {"10.2.0.1"};
  assert_false(check(&acl, "x", 80, other, 1, &line));
  assert_int_equal(line, 15);
  gh__acl_free(&acl);
  assert_false(acl.present);
}

static void test_acl_first_match_wins(void **state) {
  (void)state;
  gh__acl acl = {0};
  int line;
  const char *a[] = {"10.0.0.5"};
  add(&acl, 0, "10.0.0.5:*", 1);
  add(&acl, 1, "10.0.0.0/8:*", 2);
  assert_false(check(&acl, "10.0.0.5", 22, a, 1, &line));
  assert_int_equal(line, 1);
  const char *b[] = {"10.0.0.6"};
  assert_true(check(&acl, "10.0.0.6", 22, b, 1, &line));
  assert_int_equal(line, 2);
  gh__acl_free(&acl);

  /* the same rules the other way round: the broad allow wins */
  add(&acl, 1, "10.0.0.0/8:*", 1);
  add(&acl, 0, "10.0.0.5:*", 2);
  assert_true(check(&acl, "10.0.0.5", 22, a, 1, &line));
  assert_int_equal(line, 1);
  gh__acl_free(&acl);
}

static void test_acl_name_into_denied_block(void **state) {
  (void)state;
  gh__acl acl = {0};
  int line;
  add(&acl, 0, "10.9.0.0/16:*", 1);
  add(&acl, 1, "db.internal:5432", 2);
  add(&acl, 0, "*", 3);
  /* db.internal resolves to an allowed and a denied address: denied */
  const char *two[] = {"10.1.1.1", "10.9.1.1"};
  assert_false(check(&acl, "db.internal", 5432, two, 2, &line));
  assert_int_equal(line, 1);
  /* the order of the addresses does not matter */
  const char *rev[] = {"10.9.1.1", "10.1.1.1"};
  assert_false(check(&acl, "db.internal", 5432, rev, 2, &line));
  /* only outside the denied block: allowed by name */
  const char *one[] = {"10.1.1.1"};
  assert_true(check(&acl, "db.internal", 5432, one, 1, &line));
  assert_int_equal(line, 2);
  /* an IPv4-mapped address in the denied block is denied too */
  const char *mapped[] = {"::ffff:10.9.0.1"};
  assert_false(check(&acl, "db.internal", 5432, mapped, 1, &line));
  assert_int_equal(line, 1);
  /* no addresses: name rules only */
  assert_true(check(&acl, "db.internal", 5432, NULL, 0, &line));
  assert_int_equal(line, 2);
  gh__acl_free(&acl);
}

static void test_acl_every_address_must_pass(void **state) {
  (void)state;
  gh__acl acl = {0};
  int line;
  add(&acl, 1, "10.0.0.0/8:443", 7);
  const char *ok[] = {"10.0.0.1", "10.200.0.1"};
  assert_true(check(&acl, "svc", 443, ok, 2, &line));
  assert_int_equal(line, 7);
  const char *mixed[] = {"10.0.0.1", "192.0.2.1"};
  assert_false(check(&acl, "svc", 443, mixed, 2, &line));
  assert_int_equal(line, 0); /* no rule matched 192.0.2.1 */
  gh__acl_free(&acl);
}

static void test_acl_names(void **state) {
  (void)state;
  gh__acl acl = {0};
  int line;
  add(&acl, 1, "DB.Internal.:5432", 4);
  assert_non_null(acl.v[0].name);
  assert_true(check(&acl, "db.internal", 5432, NULL, 0, &line));
  assert_true(check(&acl, "DB.INTERNAL.", 5432, NULL, 0, &line));
  assert_false(check(&acl, "db.internal.example", 5432, NULL, 0, &line));
  assert_false(check(&acl, "b.internal", 5432, NULL, 0, &line));
  assert_false(check(&acl, NULL, 5432, NULL, 0, &line));
  /* a name rule does not match by address */
  const char *a[] = {"10.0.0.1"};
  assert_false(check(&acl, "other", 5432, a, 1, &line));
  gh__acl_free(&acl);
}

static void test_acl_numeric_host(void **state) {
  (void)state;
  gh__acl acl = {0};
  int line;
  add(&acl, 1, "10.1.0.0/16:5432", 3);
  add(&acl, 1, "[2001:db8::/32]:22", 4);
  add(&acl, 1, "[fd00::1-fd00::9]:*", 5);
  assert_null(acl.v[0].name);
  /* the caller passes the parsed address of a numeric host... */
  const char *a[] = {"10.1.2.3"};
  assert_true(check(&acl, "10.1.2.3", 5432, a, 1, &line));
  assert_int_equal(line, 3);
  /* ...and a numeric host given alone is matched as its address */
  assert_true(check(&acl, "10.1.2.3", 5432, NULL, 0, &line));
  assert_false(check(&acl, "10.2.2.3", 5432, NULL, 0, &line));
  assert_true(check(&acl, "2001:db8::5", 22, NULL, 0, &line));
  assert_int_equal(line, 4);
  assert_false(check(&acl, "2001:db8::5", 23, NULL, 0, &line));
  assert_true(check(&acl, "fd00::9", 1, NULL, 0, &line));
  assert_false(check(&acl, "fd00::a", 1, NULL, 0, &line));
  gh__acl_free(&acl);
}

static void test_acl_ports(void **state) {
  (void)state;
  gh__acl acl = {0};
  int line;
  add(&acl, 1, "*:1-1", 1);
  add(&acl, 1, "*:65535", 2);
  add(&acl, 1, "h:8000-8080", 3);
  add(&acl, 1, "any:*", 4);
  assert_true(check(&acl, "x", 1, NULL, 0, &line));
  assert_int_equal(line, 1);
  assert_false(check(&acl, "x", 2, NULL, 0, &line));
  assert_true(check(&acl, "x", 65535, NULL, 0, &line));
  assert_int_equal(line, 2);
  assert_false(check(&acl, "h", 7999, NULL, 0, &line));
  assert_true(check(&acl, "h", 8000, NULL, 0, &line));
  assert_true(check(&acl, "h", 8080, NULL, 0, &line));
  assert_false(check(&acl, "h", 8081, NULL, 0, &line));
  assert_true(check(&acl, "any", 12345, NULL, 0, &line));
  assert_int_equal(line, 4);
  gh__acl_free(&acl);

  add(&acl, 1, "*", 9);
  const char *a[] = {"192.0.2.1", "2001:db8::1"};
  assert_true(check(&acl, "anything", 1, a, 2, &line));
  assert_int_equal(line, 9);
  gh__acl_free(&acl);
}

static void test_acl_errors(void **state) {
  (void)state;
  const char *bad[] = {"",
                       "db.internal",
                       "10.0.0.0/8",
                       "db:0",
                       "db:65536",
                       "db:443-80",
                       "db:-5",
                       "db:5-",
                       "db:x",
                       "db:",
                       ":443",
                       "2001:db8::1:443",
                       "[2001:db8::1]443",
                       "[db.internal]:443",
                       "[10.0.0.1]:443",
                       "10.0.0.256:80",
                       "10.0.0.0/33:80",
                       "bad host:80",
                       "**:80",
                       "db:1:2"};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    gh__acl acl = {0};
    char err[256] = "";
    int rc = gh__acl_add(&acl, 1, bad[i], 1, err, sizeof(err));
    if (rc != GH_EINVAL)
      print_error("accepted: '%s'\n", bad[i]);
    assert_int_equal(rc, GH_EINVAL);
    assert_int_equal(acl.n, 0);
    assert_true(err[0] != '\0');
    gh__acl_free(&acl);
  }
  gh__acl acl = {0};
  char err[256];
  assert_int_equal(gh__acl_add(&acl, 1, "2001:db8::1:443", 1, err, sizeof(err)),
                   GH_EINVAL);
  assert_non_null(strstr(err, "brackets"));
  gh__acl_free(&acl);
}

static void test_addr_unspecified(void **state) {
  (void)state;
  static const char *const yes[] = {
      "0.0.0.0", "0.1.2.3",        "0.255.255.255",
      "::",      "::ffff:0.0.0.0", "::ffff:0.9.9.9"};
  static const char *const no[] = {
      "127.0.0.1", "1.0.0.0",    "::1",      "::ffff:127.0.0.1",
      "10.0.0.1",  "2001:db8::", "::0.0.0.1"};
  for (size_t i = 0; i < sizeof(yes) / sizeof(*yes); i++) {
    gh_addr a = A(yes[i]);
    if (!gh__addr_unspecified(&a))
      print_error("%s\n", yes[i]);
    assert_true(gh__addr_unspecified(&a));
  }
  for (size_t i = 0; i < sizeof(no) / sizeof(*no); i++) {
    gh_addr a = A(no[i]);
    if (gh__addr_unspecified(&a))
      print_error("%s\n", no[i]);
    assert_false(gh__addr_unspecified(&a));
  }
}

static void add_listen(gh__acl *acl, const char *target, int line) {
  char err[256] = "";
  int rc = gh__acl_add_listen(acl, target, line, err, sizeof(err));
  if (rc != 0)
    print_error("gh__acl_add_listen(%s): %s\n", target, err);
  assert_int_equal(rc, 0);
}

static void test_listen_default(void **state) {
  (void)state;
  gh__acl acl = {0};
  int line = -1;
  /* no rule: loopback on unprivileged ports only */
  assert_true(gh__acl_listen_check(&acl, "127.0.0.1", 12000, &line));
  assert_int_equal(line, 0);
  assert_true(gh__acl_listen_check(NULL, "127.0.0.2", 1024, NULL));
  assert_true(gh__acl_listen_check(&acl, "::1", 65535, NULL));
  assert_true(gh__acl_listen_check(&acl, "::ffff:127.0.0.1", 2000, NULL));
  assert_false(gh__acl_listen_check(&acl, "127.0.0.1", 1023, NULL));
  assert_false(gh__acl_listen_check(&acl, "127.0.0.1", 80, NULL));
  assert_false(gh__acl_listen_check(&acl, "0.0.0.0", 12000, NULL));
  assert_false(gh__acl_listen_check(&acl, "::", 12000, NULL));
  assert_false(gh__acl_listen_check(&acl, "10.0.0.1", 12000, NULL));
  assert_false(gh__acl_listen_check(&acl, "localhost", 12000, NULL));
  /* resource rules say nothing about listening */
  add(&acl, 1, "*", 1);
  assert_false(gh__acl_listen_check(&acl, "0.0.0.0", 12000, NULL));
  gh__acl_free(&acl);
}

static void test_listen_rules(void **state) {
  (void)state;
  gh__acl acl = {0};
  int line = 0;
  add_listen(&acl, "0.0.0.0:12000", 3);
  add_listen(&acl, "127.0.0.1:80-1023", 4);
  add_listen(&acl, "*:8000-9000", 5);
  add_listen(&acl, "[2001:db8::/64]:443", 6);
  add_listen(&acl, "gw.local:7000", 7);
  assert_true(gh__acl_listen_check(&acl, "0.0.0.0", 12000, &line));
  assert_int_equal(line, 3);
  assert_false(gh__acl_listen_check(&acl, "0.0.0.0", 12001, NULL));
  assert_true(gh__acl_listen_check(&acl, "127.0.0.1", 80, &line));
  assert_int_equal(line, 4);
  assert_false(gh__acl_listen_check(&acl, "127.0.0.2", 80, NULL));
  assert_true(gh__acl_listen_check(&acl, "10.1.1.1", 8080, &line));
  assert_int_equal(line, 5);
  assert_true(gh__acl_listen_check(&acl, "somewhere", 8080, NULL));
  assert_true(gh__acl_listen_check(&acl, "2001:db8::7", 443, &line));
  assert_int_equal(line, 6);
  assert_false(gh__acl_listen_check(&acl, "2001:db9::7", 443, NULL));
  assert_true(gh__acl_listen_check(&acl, "GW.local.", 7000, &line));
  assert_int_equal(line, 7);
  assert_false(gh__acl_listen_check(&acl, "gw.local", 7001, NULL));
  /* listen rules are no resource rules: nothing may be reached */
  assert_false(gh__acl_check(&acl, "10.1.1.1", 8080, NULL, 0, NULL));
  assert_true(acl.present);

  gh__acl other = {0};
  add_listen(&other, "0.0.0.0:12000", 30);
  assert_false(gh__acl_listen_equal(&acl, &other));
  add(&other, 0, "*", 31); /* resource rules do not count */
  add_listen(&other, "127.0.0.1:80-1023", 32);
  add_listen(&other, "*:8000-9000", 33);
  add_listen(&other, "[2001:db8::/64]:443", 34);
  add_listen(&other, "gw.local:7000", 35);
  assert_true(gh__acl_listen_equal(&acl, &other));
  gh__acl empty = {0};
  assert_true(gh__acl_listen_equal(&empty, NULL));
  assert_false(gh__acl_listen_equal(&empty, &acl));
  gh__acl_free(&other);
  gh__acl_free(&acl);
}

static void test_listen_errors(void **state) {
  (void)state;
  static const char *const bad[] = {"*",         "",          "0.0.0.0",
                                    "0.0.0.0:0", "1.2.3.4:x", "::1:80",
                                    "[::1]",     "a b:80",    "*:70000"};
  for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
    gh__acl acl = {0};
    char err[256] = "";
    int rc = gh__acl_add_listen(&acl, bad[i], 1, err, sizeof(err));
    if (rc != GH_EINVAL || !err[0])
      print_error("'%s' taken (%s)\n", bad[i], err);
    assert_int_equal(rc, GH_EINVAL);
    assert_int_equal(acl.n, 0);
    gh__acl_free(&acl);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_addr_parse),
      cmocka_unit_test(test_addr_format),
      cmocka_unit_test(test_hostname_valid),
      cmocka_unit_test(test_iplist_absent_allows_all),
      cmocka_unit_test(test_iplist_v4_cidr_bounds),
      cmocka_unit_test(test_iplist_v6),
      cmocka_unit_test(test_iplist_ranges),
      cmocka_unit_test(test_iplist_mapped),
      cmocka_unit_test(test_iplist_several_lines_and_spaces),
      cmocka_unit_test(test_iplist_errors),
      cmocka_unit_test(test_acl_absent_denies),
      cmocka_unit_test(test_acl_spec_example),
      cmocka_unit_test(test_acl_first_match_wins),
      cmocka_unit_test(test_acl_name_into_denied_block),
      cmocka_unit_test(test_acl_every_address_must_pass),
      cmocka_unit_test(test_acl_names),
      cmocka_unit_test(test_acl_numeric_host),
      cmocka_unit_test(test_acl_ports),
      cmocka_unit_test(test_acl_errors),
      cmocka_unit_test(test_addr_unspecified),
      cmocka_unit_test(test_listen_default),
      cmocka_unit_test(test_listen_rules),
      cmocka_unit_test(test_listen_errors),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
