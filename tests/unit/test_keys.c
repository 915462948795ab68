/* The key table (core/conf/keys.c): every row can be set, is documented
 * for the reference, and names one key once per section. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "conf/keys.h"

static void test_every_row_has_a_setter_and_help(void **state) {
  (void)state;
  for (size_t i = 0; i < gh__n_keys; i++) {
    const gh__key *k = &gh__keys[i];
    int generic = k->type == GH_OPT_INT || k->type == GH__KT_SECONDS ||
                  k->type == GH_OPT_FILE || k->type == GH__KT_LOG_LEVEL ||
                  k->type == GH__KT_DIR;
    if (!k->set && !generic)
      fail_msg("%s: no setter for its type", k->name);
    if (!k->help || !*k->help)
      fail_msg("%s: no help for the reference", k->name);
    if (!(k->flags & GH__K_SECTIONS))
      fail_msg("%s: read in no section", k->name);
    if ((k->type == GH_OPT_INT || k->type == GH__KT_SECONDS) &&
        (k->min < 0 || k->max > UINT32_MAX || k->min > k->max))
      fail_msg("%s: bad bounds", k->name);
  }
}

static void test_names_are_unique_per_section(void **state) {
  (void)state;
  for (size_t i = 0; i < gh__n_keys; i++)
    for (size_t j = i + 1; j < gh__n_keys; j++)
      if ((gh__keys[i].flags & gh__keys[j].flags & GH__K_SECTIONS) &&
          strcmp(gh__keys[i].name, gh__keys[j].name) == 0)
        fail_msg("%s: twice in one section", gh__keys[i].name);
}

static void test_find_by_section(void **state) {
  (void)state;
  const gh__key *s = gh__cf_key_find(GH__K_SGW, "token");
  const gh__key *c = gh__cf_key_find(GH__K_CGW, "token");
  assert_non_null(s);
  assert_non_null(c);
  assert_ptr_not_equal(s, c); /* a server's and a client's token differ */
  assert_ptr_equal(gh__cf_key_find(GH__K_SERVER, "keepalive"),
                   gh__cf_key_find(GH__K_CLIENT, "keepalive"));
  assert_null(gh__cf_key_find(GH__K_SERVER, "reconnect_max"));
  assert_null(gh__cf_key_find(GH__K_ACL, "token"));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_every_row_has_a_setter_and_help),
      cmocka_unit_test(test_names_are_unique_per_section),
      cmocka_unit_test(test_find_by_section),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
