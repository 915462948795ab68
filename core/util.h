/* Small things every core file uses: an intrusive list, a growable byte
 * buffer, a u32-keyed map, file reading, time. */
#ifndef GH_UTIL_H
#define GH_UTIL_H

#include <stddef.h>
#include <stdint.h>

#define GH__CONTAINER_OF(ptr, type, member)                                    \
  ((type *)(void *)((char *)(ptr)-offsetof(type, member)))
#define GH__MIN(a, b) ((a) < (b) ? (a) : (b))
#define GH__MAX(a, b) ((a) > (b) ? (a) : (b))
#define GH__ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* Circular doubly linked list; an unlinked node points to itself. */
typedef struct gh__list {
  struct gh__list *next, *prev;
} gh__list;

static inline void gh__list_init(gh__list *l) {
  l->next = l->prev = l;
}
static inline int gh__list_empty(const gh__list *l) {
  return l->next == l;
}
static inline void gh__list_push(gh__list *head, gh__list *n) {
  n->prev = head->prev;
  n->next = head;
  head->prev->next = n;
  head->prev = n;
}
static inline void gh__list_del(gh__list *n) {
  n->prev->next = n->next;
  n->next->prev = n->prev;
  n->next = n->prev = n;
}
static inline int gh__list_linked(const gh__list *n) {
  return n->next != n;
}

/* Bytes with a read offset: append at the end, consume from the front. The
 * storage is freed when it drains, so idle owners hold none. */
typedef struct gh__buf {
  uint8_t *data;
  size_t off, len, cap; /* valid bytes are data[off .. off+len) */
} gh__buf;

int gh__buf_append(gh__buf *b, const void *p, size_t n);
void gh__buf_consume(gh__buf *b, size_t n);
void gh__buf_free(gh__buf *b);
static inline const uint8_t *gh__buf_head(const gh__buf *b) {
  return b->data + b->off;
}

/* u32 -> pointer, open hashing through a caller's `next` slot. */
typedef struct gh__map_node {
  struct gh__map_node *next;
  uint32_t key;
} gh__map_node;

typedef struct gh__map {
  gh__map_node **buckets;
  size_t n_buckets, n;
} gh__map;

int gh__map_put(gh__map *m, gh__map_node *node); /* key must be absent */
gh__map_node *gh__map_get(const gh__map *m, uint32_t key);
void gh__map_del(gh__map *m, gh__map_node *node);
void gh__map_free(gh__map *m);

/* Reads a whole file (max 16 MiB) into a malloc'd, NUL-terminated buffer.
 * 0 or -errno. */
#define GH__FILE_MAX (16 * 1024 * 1024) /* what gh__file_read takes */
int gh__file_read(const char *path, uint8_t **out, size_t *len);

/* Milliseconds of the monotonic clock. */
uint64_t gh__now_ms(void);

/* Constant-time comparison; 1 when equal. Lengths are not secret. */
int gh__ct_equal(const void *a, size_t alen, const void *b, size_t blen);

char *gh__strdup(const char *s);
char *gh__strndup(const char *s, size_t n);
/* The core's allocations abort when out of memory (docs/architecture.md,
 * "Out of memory"): gh__oom() says so on stderr and aborts. */
void gh__oom(void) __attribute__((noreturn));
void *gh__xcalloc(size_t n, size_t size);
void *gh__xmalloc(size_t size);
void *gh__xrealloc(void *p, size_t size);

#endif
