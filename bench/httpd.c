/* A tiny, fast HTTP/1.1 responder for bench/http.py: one thread, epoll,
 * every request answered with the same small body. Keep-alive and
 * pipelining; "Connection: close" (or HTTP/1.0 without keep-alive) closes
 * after the answer. Request bodies are not supported (the benchmark sends
 * GETs). Not part of the build: bench/http.py compiles it with cc.
 *
 *   httpd PORT      listens on 127.0.0.1:PORT (0: any), prints the port */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define BUF 16384

static const char body[] = "Hello, world\n";

typedef struct conn {
  int fd;
  size_t len; /* bytes of request in buf */
  char buf[BUF];
  size_t olen, osent; /* pending output */
  char out[BUF * 4];
  int closing; /* close once the output is written */
} conn;

static int ep;

static void drop(conn *c) {
  epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
  close(c->fd);
  free(c);
}

/* Flushes pending output; returns -1 when the connection is gone. */
static int flush_out(conn *c) {
  while (c->osent < c->olen) {
    ssize_t n =
        send(c->fd, c->out + c->osent, c->olen - c->osent, MSG_NOSIGNAL);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
      break;
    if (n <= 0)
      return -1;
    c->osent += (size_t)n;
  }
  if (c->osent == c->olen) {
    c->olen = c->osent = 0;
    if (c->closing)
      return -1;
  }
  struct epoll_event ev = {.events = EPOLLIN | (c->olen ? EPOLLOUT : 0),
                           .data.ptr = c};
  epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
  return 0;
}

static int has_token(const char *head, size_t len, const char *name,
                     const char *tok) {
  size_t nl = strlen(name);
  for (const char *p = head; p && p < head + len;) {
    const char *eol = memmem(p, (size_t)(head + len - p), "\r\n", 2);
    if (!eol)
      break;
    if ((size_t)(eol - p) > nl && strncasecmp(p, name, nl) == 0 &&
        p[nl] == ':' &&
        memmem(p + nl, (size_t)(eol - p - nl), tok, strlen(tok)))
      return 1;
    p = eol + 2;
  }
  return 0;
}

static void answer(conn *c, int close_after) {
  int n = snprintf(c->out + c->olen, sizeof c->out - c->olen,
                   "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                   "Content-Length: %zu\r\n%s\r\n%s",
                   sizeof body - 1, close_after ? "Connection: close\r\n" : "",
                   body);
  if (n > 0 && (size_t)n < sizeof c->out - c->olen)
    c->olen += (size_t)n;
  if (close_after)
    c->closing = 1;
}

static int on_read(conn *c) {
  for (;;) {
    ssize_t n = recv(c->fd, c->buf + c->len, BUF - c->len, 0);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
      break;
    if (n <= 0)
      return -1;
    c->len += (size_t)n;
    size_t off = 0;
    while (!c->closing) {
      char *end = memmem(c->buf + off, c->len - off, "\r\n\r\n", 4);
      if (!end)
        break;
      size_t hl = (size_t)(end + 4 - (c->buf + off));
      const char *h = c->buf + off;
      int v10 = memmem(h, hl, "HTTP/1.0\r\n", 10) != NULL;
      int close_after = has_token(h, hl, "connection", "close") ||
                        has_token(h, hl, "connection", "Close") ||
                        (v10 && !has_token(h, hl, "connection", "eep-alive"));
      answer(c, close_after);
      off += hl;
      if (c->olen > sizeof c->out - 512 && flush_out(c) < 0)
        return -1;
    }
    memmove(c->buf, c->buf + off, c->len - off);
    c->len -= off;
    if (c->len == BUF)
      return -1; /* a head larger than the buffer */
  }
  return flush_out(c);
}

int main(int argc, char **argv) {
  int port = argc > 1 ? atoi(argv[1]) : 0;
  int ls = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  int one = 1;
  setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(ls, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(ls, 4096) < 0) {
    perror("httpd: bind/listen");
    return 1;
  }
  socklen_t sl = sizeof sa;
  getsockname(ls, (struct sockaddr *)&sa, &sl);
  printf("%d\n", ntohs(sa.sin_port));
  fflush(stdout);
  ep = epoll_create1(0);
  struct epoll_event lev = {.events = EPOLLIN, .data.ptr = NULL};
  epoll_ctl(ep, EPOLL_CTL_ADD, ls, &lev);
  struct epoll_event evs[256];
  for (;;) {
    int n = epoll_wait(ep, evs, 256, -1);
    for (int i = 0; i < n; i++) {
      conn *c = evs[i].data.ptr;
      if (!c) {
        int fd;
        while ((fd = accept4(ls, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
          setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
          conn *nc = calloc(1, sizeof *nc);
          if (!nc) {
            close(fd);
            continue;
          }
          nc->fd = fd;
          struct epoll_event ev = {.events = EPOLLIN, .data.ptr = nc};
          epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
        }
        continue;
      }
      int r = 0;
      if (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR))
        r = on_read(c);
      else if (evs[i].events & EPOLLOUT)
        r = flush_out(c);
      if (r < 0)
        drop(c);
    }
  }
}
