#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

int gh__buf_append(gh__buf *b, const void *p, size_t n) {
  if (n == 0)
    return 0;
  if (b->off + b->len + n > b->cap) {
    if (b->off > 0 && b->len + n <= b->cap) {
      memmove(b->data, b->data + b->off, b->len);
      b->off = 0;
    } else {
      size_t cap = b->cap ? b->cap : 16384;
      while (cap < b->len + n)
        cap *= 2;
      uint8_t *d = malloc(cap);
      if (!d)
        return -ENOMEM;
      if (b->len)
        memcpy(d, b->data + b->off, b->len);
      free(b->data);
      b->data = d;
      b->cap = cap;
      b->off = 0;
    }
  }
  memcpy(b->data + b->off + b->len, p, n);
  b->len += n;
  return 0;
}

void gh__buf_consume(gh__buf *b, size_t n) {
  if (n >= b->len) {
    gh__buf_free(b);
    return;
  }
  b->off += n;
  b->len -= n;
}

void gh__buf_free(gh__buf *b) {
  free(b->data);
  b->data = NULL;
  b->off = b->len = b->cap = 0;
}

/* The peer chooses its stream ids: with a fixed hash it could pick ids
 * that all land in one bucket and make every lookup a list walk. The hash
 * is keyed with a secret drawn once per process (as the udp plugin keys
 * its sessions' hash). */
static uint64_t map_key;

static void map_key_init(void) {
  while (!map_key)
    if (RAND_bytes((unsigned char *)&map_key, sizeof(map_key)) != 1)
      map_key = (uint64_t)time(NULL) ^ (uint64_t)(uintptr_t)&map_key ^
                ((uint64_t)getpid() << 32);
}

static size_t map_slot(const gh__map *m, uint32_t key) {
  uint64_t h = key ^ map_key;
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdull;
  h ^= h >> 33;
  h *= 0xc4ceb9fe1a85ec53ull;
  h ^= h >> 33;
  return (size_t)h & (m->n_buckets - 1);
}

static int map_grow(gh__map *m) {
  map_key_init();
  size_t nb = m->n_buckets ? m->n_buckets * 2 : 64;
  gh__map_node **b = calloc(nb, sizeof(*b));
  if (!b)
    return -ENOMEM;
  gh__map old = *m;
  m->buckets = b;
  m->n_buckets = nb;
  for (size_t i = 0; i < old.n_buckets; i++) {
    gh__map_node *n = old.buckets[i];
    while (n) {
      gh__map_node *next = n->next;
      size_t s = map_slot(m, n->key);
      n->next = m->buckets[s];
      m->buckets[s] = n;
      n = next;
    }
  }
  free(old.buckets);
  return 0;
}

int gh__map_put(gh__map *m, gh__map_node *node) {
  if (m->n >= m->n_buckets && map_grow(m) < 0)
    return -ENOMEM;
  size_t s = map_slot(m, node->key);
  node->next = m->buckets[s];
  m->buckets[s] = node;
  m->n++;
  return 0;
}

gh__map_node *gh__map_get(const gh__map *m, uint32_t key) {
  if (!m->n_buckets)
    return NULL;
  for (gh__map_node *n = m->buckets[map_slot(m, key)]; n; n = n->next)
    if (n->key == key)
      return n;
  return NULL;
}

void gh__map_del(gh__map *m, gh__map_node *node) {
  if (!m->n_buckets)
    return;
  gh__map_node **pp = &m->buckets[map_slot(m, node->key)];
  for (; *pp; pp = &(*pp)->next) {
    if (*pp == node) {
      *pp = node->next;
      node->next = NULL;
      m->n--;
      return;
    }
  }
}

void gh__map_free(gh__map *m) {
  free(m->buckets);
  m->buckets = NULL;
  m->n_buckets = m->n = 0;
}

int gh__file_read(const char *path, uint8_t **out, size_t *len) {
  /* O_NONBLOCK: opening a FIFO must not wait for a writer (and hang the
   * loop); anything but a regular file is refused below. */
  int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0)
    return -errno;
  struct stat st;
  if (fstat(fd, &st) < 0) {
    int e = -errno;
    close(fd);
    return e;
  }
  if (!S_ISREG(st.st_mode) || st.st_size > GH__FILE_MAX) {
    close(fd);
    return S_ISREG(st.st_mode) ? -EFBIG : -EINVAL;
  }
  uint8_t *buf = malloc((size_t)st.st_size + 1);
  if (!buf) {
    close(fd);
    return -ENOMEM;
  }
  size_t got = 0;
  while (got < (size_t)st.st_size) {
    ssize_t r = read(fd, buf + got, (size_t)st.st_size - got);
    if (r < 0 && errno == EINTR)
      continue;
    if (r <= 0)
      break;
    got += (size_t)r;
  }
  close(fd);
  buf[got] = 0;
  *out = buf;
  *len = got;
  return 0;
}

uint64_t gh__now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

int gh__ct_equal(const void *a, size_t alen, const void *b, size_t blen) {
  if (alen != blen)
    return 0;
  return CRYPTO_memcmp(a, b, alen) == 0;
}

void gh__oom(void) {
  fputs("gatehouse: out of memory\n", stderr);
  abort();
}

void *gh__xcalloc(size_t n, size_t size) {
  void *p = calloc(n ? n : 1, size ? size : 1);
  if (!p)
    gh__oom();
  return p;
}

void *gh__xmalloc(size_t size) {
  void *p = malloc(size ? size : 1);
  if (!p)
    gh__oom();
  return p;
}

void *gh__xrealloc(void *p, size_t size) {
  void *q = realloc(p, size ? size : 1);
  if (!q)
    gh__oom();
  return q;
}

char *gh__strdup(const char *s) {
  return s ? gh__strndup(s, strlen(s)) : NULL;
}

char *gh__strndup(const char *s, size_t n) {
  char *d = gh__xcalloc(1, n + 1);
  memcpy(d, s, n);
  return d;
}
