/* The stream-id map (core/util.c): the peer chooses stream ids, so the
 * hash is keyed with a per-process secret and ids chosen to collide under a
 * fixed hash do not pile up in one bucket. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "util.h"

#define N 1000 /* 1,024 buckets once they are in */

static size_t longest_chain(const gh__map *m) {
  size_t worst = 0;
  for (size_t b = 0; b < m->n_buckets; b++) {
    size_t len = 0;
    for (gh__map_node *n = m->buckets[b]; n; n = n->next)
      len++;
    if (len > worst)
      worst = len;
  }
  return worst;
}

/* Ids that the former, unkeyed hash ((id * 2654435761) >> 7, masked) put
 * in bucket 0 of 1,024: an attacker's choice. */
static void test_chosen_ids_spread(void **state) {
  (void)state;
  gh__map m = {0};
  gh__map_node *nodes = calloc(N, sizeof(*nodes));
  assert_non_null(nodes);
  size_t n = 0;
  for (uint32_t id = 1; n < N; id += 2)
    if ((((id * 2654435761u) >> 7) & 1023) == 0) {
      nodes[n].key = id;
      assert_int_equal(gh__map_put(&m, &nodes[n]), 0);
      n++;
    }
  assert_int_equal(m.n_buckets, 1024);
  /* 1,000 keys in 1,024 buckets: a keyed hash's longest chain is a
   * handful; the unkeyed one made it 1,000. */
  assert_true(longest_chain(&m) < 20);
  for (size_t i = 0; i < N; i++)
    assert_ptr_equal(gh__map_get(&m, nodes[i].key), &nodes[i]);
  for (size_t i = 0; i < N; i++)
    gh__map_del(&m, &nodes[i]);
  assert_int_equal(m.n, 0);
  assert_null(gh__map_get(&m, nodes[0].key));
  gh__map_free(&m);
  free(nodes);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_chosen_ids_spread),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
