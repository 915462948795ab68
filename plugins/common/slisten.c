/* The accept loop of a stream listener: see slisten.h. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include "slisten.h"

#include <errno.h>
#include <sys/socket.h>
#include <unistd.h>

static const gh_host *host;
static const sl_kind *kind;

void sl_setup(const gh_host *h, const sl_kind *k) {
  host = h;
  kind = k;
}

static void listener_unref(sl_listener *sl) {
  if (--sl->handles)
    return;
  gh_listener *l = sl->l;
  host->free(sl);
  if (l)
    host->listener_closed(l);
}

static void on_listener_closed(uv_handle_t *h) {
  listener_unref(h->data);
}

static void on_poll(uv_poll_t *p, int status, int events);

static void on_resume(uv_timer_t *t) {
  sl_listener *sl = t->data;
  if (!sl->closing)
    (void)uv_poll_start(&sl->poll, UV_READABLE, on_poll);
}

static void on_poll(uv_poll_t *p, int status, int events) {
  sl_listener *sl = p->data;
  (void)events;
  if (sl->closing)
    return;
  for (uint32_t i = 0; status == 0 && i < SL_ACCEPT_BURST && !sl->closing;
       i++) {
    int fd = accept4(sl->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd >= 0) {
      kind->accept(sl, fd);
      continue;
    }
    int e = errno;
    if (e == EAGAIN || e == EWOULDBLOCK)
      return;
    if (e == EINTR || e == ECONNABORTED || e == EPROTO)
      continue;
    status = -e;
  }
  if (status == 0 || kind->failed(sl, status))
    return;
  uv_poll_stop(&sl->poll);
  uv_timer_start(&sl->pause, on_resume, SL_PAUSE_MS, 0);
}

/* The socket closes now, as uv_close() does for a libuv listener: the
 * port (or path) is free at once for whoever binds it next in this loop
 * turn (a client destination waiting for it, a reload). Safe once the poll
 * handle is closing (libuv's rule for uv_poll_t). */
static void listener_close(sl_listener *sl) {
  sl->closing = 1;
  if (kind->closing)
    kind->closing(sl);
  uv_close((uv_handle_t *)&sl->poll, on_listener_closed);
  if (sl->handles > 1)
    uv_close((uv_handle_t *)&sl->pause, on_listener_closed);
  close(sl->fd);
  sl->fd = -1;
}

int sl_start(sl_listener *sl, int fd, gh_listener *l) {
  sl->fd = fd;
  int rc = uv_poll_init_socket(host->uv_loop(), &sl->poll, fd);
  if (rc) {
    if (kind->closing)
      kind->closing(sl);
    close(fd);
    host->free(sl);
    return rc;
  }
  sl->poll.data = sl;
  sl->handles = 1;
  rc = uv_timer_init(host->uv_loop(), &sl->pause);
  if (rc == 0) {
    sl->pause.data = sl;
    sl->handles++;
    rc = uv_poll_start(&sl->poll, UV_READABLE, on_poll);
  }
  if (rc) {
    listener_close(sl);
    return rc;
  }
  sl->l = l;
  host->listener_set_data(l, sl);
  return 0;
}

void sl_unlisten(gh_listener *l) {
  sl_listener *sl = host->listener_data(l);
  if (!sl) {
    host->listener_closed(l);
    return;
  }
  if (sl->closing)
    return;
  listener_close(sl);
}
