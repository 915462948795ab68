/* The SDK's ABI guarantees, checked against the current header
 * (sdk/include): the layout pinned in layout.h (offsets, types, sizes,
 * constants) holds at compile time, and the frozen ABI 1.0 header
 * (layout_1_0.c) agrees with the current one on every member, constant and
 * error code it has. See layout.h for what breaks when, and sdk/README.md
 * ("The ABI promise") for the rule. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
/* cmocka needs the above first */
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "gatehouse/gatehouse.h"
#include "layout.h"
#include "plugin.h" /* the loader's ABI 1.0 size thresholds */

#if GH_ABI_MAJOR != 1
#error "a new ABI major: freeze its first header beside tests/abi/sdk-1.0"
#endif

/* ABI 1.0's members hold in every 1.x header. */
GH_ABI_MEMBERS_1_0(GH_ABI_CHECK_MEMBER)
GH_ABI_TYPES_1_0(GH_ABI_CHECK_TYPE)
GH_ABI_CONSTANTS_1_0(GH_ABI_CHECK_CONSTANT)

/* Then each minor's additions, and the sizes of the current minor. */
#if GH_ABI_MINOR >= 1
GH_ABI_MEMBERS_1_1(GH_ABI_CHECK_MEMBER)
#endif
#if GH_ABI_MINOR >= 2
GH_ABI_MEMBERS_1_2(GH_ABI_CHECK_MEMBER)
GH_ABI_OVERLAYS_1_2(GH_ABI_CHECK_OVERLAY)
GH_ABI_CONSTANTS_1_2(GH_ABI_CHECK_CONSTANT)
/* A new flag or family takes a value none of 1.0 has. */
_Static_assert((GH_HANDLER_UNIX & GH_HANDLER_DGRAM) == 0,
               "GH_HANDLER_UNIX overlaps a 1.0 flag");
_Static_assert(GH_AF_UNIX != GH_AF_NONE && GH_AF_UNIX != GH_AF_INET &&
                   GH_AF_UNIX != GH_AF_INET6,
               "GH_AF_UNIX reuses a 1.0 family");
#endif
#if GH_ABI_MINOR == 2
#define GH_ABI_SIZES_CURRENT GH_ABI_SIZES_1_2
#define GH_ABI_MEMBERS_CURRENT(X)                                              \
  GH_ABI_MEMBERS_1_0(X) GH_ABI_MEMBERS_1_1(X) GH_ABI_MEMBERS_1_2(X)
#else
#error                                                                         \
    "GH_ABI_MINOR changed: pin the new minor's members and sizes in tests/abi/layout.h"
#endif
GH_ABI_SIZES_CURRENT(GH_ABI_CHECK_SIZE)

_Static_assert(GH_LINK_INFO_SIZE_1_0 == 96 || !GH_ABI_PINNED,
               "GH_LINK_INFO_SIZE_1_0 is not ABI 1.0's sizeof(gh_link_info)");
_Static_assert(GH_HANDLER_SIZE_1_1 == 160 || !GH_ABI_PINNED,
               "GH_HANDLER_SIZE_1_1 is not ABI 1.1's sizeof(gh_handler)");
_Static_assert(GH_PLUGIN_SIZE_1_1 == 64 || !GH_ABI_PINNED,
               "GH_PLUGIN_SIZE_1_1 is not ABI 1.1's sizeof(gh_plugin)");

static const abi_member current[] = {GH_ABI_MEMBERS_CURRENT(GH_ABI_ROW_MEMBER)
                                         GH_ABI_SIZES_CURRENT(GH_ABI_ROW_SIZE)};

static const abi_member *find_current(const char *s, const char *m) {
  for (size_t i = 0; i < sizeof current / sizeof current[0]; i++)
    if (strcmp(current[i].strct, s) == 0 && strcmp(current[i].member, m) == 0)
      return &current[i];
  return NULL;
}

/* 0: a struct that ABI 1.0 does not have (gh_alias, 1.2). */
static size_t frozen_size_or_0(const char *s) {
  size_t n;
  const abi_member *f = abi_frozen_members(&n);
  for (size_t i = 0; i < n; i++)
    if (strcmp(f[i].strct, s) == 0 && strcmp(f[i].member, "(sizeof)") == 0)
      return f[i].size;
  return 0;
}

static size_t frozen_size(const char *s) {
  size_t z = frozen_size_or_0(s);
  if (!z)
    fail_msg("no frozen size of %s", s);
  return z;
}

/* Every member of the frozen 1.0 header is where it was, as large as it
 * was; every struct is at least as large as in 1.0 (members are appended,
 * never removed). */
static void test_frozen_members_unchanged(void **state) {
  (void)state;
  size_t n;
  const abi_member *f = abi_frozen_members(&n);
  assert_int_equal(abi_frozen_minor(), 0);
  assert_int_equal(n, 100); /* 94 members, 6 sizes */
  for (size_t i = 0; i < n; i++) {
    const abi_member *c = find_current(f[i].strct, f[i].member);
    if (!c)
      fail_msg("%s.%s of ABI 1.0 is gone", f[i].strct, f[i].member);
    if (strcmp(f[i].member, "(sizeof)") == 0) {
      if (c->size < f[i].size)
        fail_msg("sizeof(%s) shrank from %zu to %zu", f[i].strct, f[i].size,
                 c->size);
      continue;
    }
    if (c->offset != f[i].offset || c->size != f[i].size)
      fail_msg("%s.%s moved: ABI 1.0 offset %zu size %zu, now %zu size %zu",
               f[i].strct, f[i].member, f[i].offset, f[i].size, c->offset,
               c->size);
  }
}

/* Members appended after 1.0 lie beyond the 1.0 size of their struct. */
static void test_additions_appended(void **state) {
  (void)state;
  size_t n;
  const abi_member *f = abi_frozen_members(&n);
  for (size_t i = 0; i < sizeof current / sizeof current[0]; i++) {
    const abi_member *c = &current[i];
    if (strcmp(c->member, "(sizeof)") == 0)
      continue;
    int in_1_0 = 0;
    for (size_t k = 0; k < n && !in_1_0; k++)
      in_1_0 = strcmp(f[k].strct, c->strct) == 0 &&
               strcmp(f[k].member, c->member) == 0;
    if (!in_1_0 && c->offset < frozen_size_or_0(c->strct))
      fail_msg("%s.%s (added after 1.0) is inside ABI 1.0's struct", c->strct,
               c->member);
  }
}

/* Constants, error codes (value, name and message) and the entry symbol's
 * name are those of 1.0; the current header may only add error codes. */
static void test_constants_and_errors(void **state) {
  (void)state;
  size_t n;
  const abi_constant *k = abi_frozen_constants(&n);
  static const abi_constant now[] = {GH_ABI_CONSTANTS_1_0(GH_ABI_ROW_CONSTANT)};
  size_t errors = 0;
  for (size_t i = 0; i < n; i++) {
    if (strcmp(k[i].name, "GH_PLUGIN_ENTRY_NAME") == 0) {
      assert_string_equal(k[i].text, GH_PLUGIN_ENTRY_NAME);
    } else if (k[i].text) { /* an error code */
      errors++;
      char name[64];
      snprintf(name, sizeof name, "GH_%s", gh_errname((int32_t)k[i].value));
      if (strcmp(name, k[i].name) != 0)
        fail_msg("error %lld was %s in ABI 1.0, is %s now",
                 (long long)k[i].value, k[i].name, name);
      assert_string_equal(gh_strerror((int32_t)k[i].value), k[i].text);
    } else {
      int found = 0;
      for (size_t j = 0; j < sizeof now / sizeof now[0]; j++)
        if (strcmp(now[j].name, k[i].name) == 0) {
          found = 1;
          if (now[j].value != k[i].value)
            fail_msg("%s was %lld in ABI 1.0, is %lld now", k[i].name,
                     (long long)k[i].value, (long long)now[j].value);
        }
      if (!found)
        fail_msg("constant %s of ABI 1.0 is not checked", k[i].name);
    }
  }
  assert_true(errors >= 30);
}

/* A member that shares an older one's storage (layout.h) sits exactly on a
 * member of ABI 1.0, no larger than it: the bytes of every 1.0 member mean
 * what they meant for every type that used them. */
static void test_overlays_within_1_0(void **state) {
  (void)state;
  static const abi_member rows[] = {GH_ABI_OVERLAYS_1_2(GH_ABI_ROW_OVERLAY)};
  size_t n;
  const abi_member *f = abi_frozen_members(&n);
  assert_true(sizeof rows / sizeof rows[0] >= 2);
  for (size_t i = 0; i + 1 < sizeof rows / sizeof rows[0]; i += 2) {
    const abi_member *m = &rows[i], *base = &rows[i + 1];
    const abi_member *old = NULL;
    for (size_t k = 0; k < n && !old; k++)
      if (strcmp(f[k].strct, base->strct) == 0 &&
          strcmp(f[k].member, base->member) == 0)
        old = &f[k];
    if (!old)
      fail_msg("%s.%s overlays %s, which ABI 1.0 does not have", m->strct,
               m->member, base->member);
    assert_int_equal(m->offset, old->offset);
    assert_true(m->size <= old->size);
    assert_null(find_current(m->strct, m->member)); /* not also appended */
  }
  /* the struct that cannot grow did not */
  assert_int_equal(sizeof(gh_option), frozen_size("gh_option"));
}

/* What the core accepts from an older plugin is exactly ABI 1.0's sizes. */
static void test_loader_accepts_1_0_sizes(void **state) {
  (void)state;
  assert_int_equal(GH__PLUGIN_SIZE_1_0, frozen_size("gh_plugin"));
  assert_int_equal(GH__HANDLER_SIZE_1_0, frozen_size("gh_handler"));
  assert_int_equal(GH_LINK_INFO_SIZE_1_0, frozen_size("gh_link_info"));
  /* the host table the core hands out covers every 1.0 member */
  assert_true(sizeof(gh_host) >= frozen_size("gh_host"));
  /* a descriptor of 1.0 or 1.1 (no member added to it in 1.1) ends where
   * the aliases of 1.2 begin: the core reads none from it */
  assert_int_equal(GH_PLUGIN_SIZE_1_1, frozen_size("gh_plugin"));
  gh_plugin old = {.size = GH_PLUGIN_SIZE_1_1, .n_aliases = 3};
  assert_int_equal(gh__plugin_n_aliases(&old), 0);
  old.size = sizeof(gh_plugin);
  assert_int_equal(gh__plugin_n_aliases(&old), 3);
}

int main(void) {
  printf("ABI %d.%d; layout pinned for this platform: %s\n", GH_ABI_MAJOR,
         GH_ABI_MINOR, GH_ABI_PINNED ? "yes" : "no (types only)");
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_frozen_members_unchanged),
      cmocka_unit_test(test_additions_appended),
      cmocka_unit_test(test_constants_and_errors),
      cmocka_unit_test(test_overlays_within_1_0),
      cmocka_unit_test(test_loader_accepts_1_0_sizes),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
