/* udpload: a UDP load generator for bench/udp.py.
 *
 *   udpload flood TARGET_PORT SINK_PORT SIZE SECONDS
 *       A sink thread binds 127.0.0.1:SINK_PORT and counts what arrives;
 *       the main thread sends SIZE-byte datagrams to 127.0.0.1:TARGET_PORT
 *       as fast as it can for SECONDS (sendmmsg, 64 at a time), then waits
 *       for the stragglers. Prints one line:
 *         sent N received M bytes B seconds S
 *       where S runs from the first datagram sent to the last one received.
 *
 *   udpload pingpong TARGET_PORT ECHO_PORT SIZE SECONDS
 *       An echo thread binds 127.0.0.1:ECHO_PORT and answers every
 *       datagram; the main thread keeps 1 datagram in flight through
 *       TARGET_PORT (resent after 200 ms without an answer). Prints:
 *         transactions N seconds S lost L
 *
 * Every datagram that arrives is checked for its size; a wrong size is an
 * error (exit 1). Linux only. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BATCH 64
#define MAXDG 65536

static size_t size;
static atomic_ullong received, received_bytes, bad;
static atomic_int stop;
static _Atomic double last_rx;

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int udp_bound(uint16_t port, struct sockaddr_in *sa) {
  int fd = socket(AF_INET, SOCK_DGRAM, 0);
  int buf = 8 << 20;
  setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof buf);
  setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &buf, sizeof buf);
  memset(sa, 0, sizeof *sa);
  sa->sin_family = AF_INET;
  sa->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  sa->sin_port = htons(port);
  if (bind(fd, (struct sockaddr *)sa, sizeof *sa) < 0) {
    perror("bind");
    exit(2);
  }
  return fd;
}

/* Receives in batches; echoes back when `echo`. */
static void *receiver(void *arg) {
  int fd = (int)(intptr_t)arg & 0xffff;
  int echo = ((int)(intptr_t)arg >> 16) & 1;
  static char bufs[BATCH][MAXDG];
  struct mmsghdr msgs[BATCH];
  struct iovec iov[BATCH];
  struct sockaddr_in from[BATCH];
  while (!atomic_load(&stop)) {
    struct pollfd p = {fd, POLLIN, 0};
    if (poll(&p, 1, 100) <= 0)
      continue;
    for (int i = 0; i < BATCH; i++) {
      iov[i].iov_base = bufs[i];
      iov[i].iov_len = MAXDG;
      memset(&msgs[i].msg_hdr, 0, sizeof msgs[i].msg_hdr);
      msgs[i].msg_hdr.msg_iov = &iov[i];
      msgs[i].msg_hdr.msg_iovlen = 1;
      msgs[i].msg_hdr.msg_name = &from[i];
      msgs[i].msg_hdr.msg_namelen = sizeof from[i];
    }
    int n = recvmmsg(fd, msgs, BATCH, MSG_DONTWAIT, NULL);
    if (n <= 0)
      continue;
    last_rx = now();
    for (int i = 0; i < n; i++) {
      if (msgs[i].msg_len != size)
        atomic_fetch_add(&bad, 1);
      atomic_fetch_add(&received_bytes, msgs[i].msg_len);
      if (echo) {
        iov[i].iov_len = msgs[i].msg_len;
        sendto(fd, bufs[i], msgs[i].msg_len, 0, (struct sockaddr *)&from[i],
               msgs[i].msg_hdr.msg_namelen);
      }
    }
    atomic_fetch_add(&received, (unsigned long long)n);
  }
  return NULL;
}

static int flood(int out, const struct sockaddr_in *to, double secs) {
  static char payload[MAXDG];
  memset(payload, 0x5a, size);
  struct mmsghdr msgs[BATCH];
  struct iovec iov = {payload, size};
  for (int i = 0; i < BATCH; i++) {
    memset(&msgs[i], 0, sizeof msgs[i]);
    msgs[i].msg_hdr.msg_iov = &iov;
    msgs[i].msg_hdr.msg_iovlen = 1;
    msgs[i].msg_hdr.msg_name = (void *)to;
    msgs[i].msg_hdr.msg_namelen = sizeof *to;
  }
  unsigned long long sent = 0;
  double t0 = now(), end = t0 + secs;
  while (now() < end) {
    int n = sendmmsg(out, msgs, BATCH, 0);
    if (n > 0)
      sent += (unsigned long long)n;
    else if (errno != EAGAIN && errno != ENOBUFS && errno != ECONNREFUSED)
      perror("sendmmsg");
  }
  /* Stragglers: until nothing arrives for 300 ms. */
  do {
    usleep(50000);
  } while (now() - last_rx < 0.3);
  atomic_store(&stop, 1);
  double dt = (last_rx > t0 ? last_rx : now()) - t0;
  printf("sent %llu received %llu bytes %llu seconds %.3f\n", sent,
         (unsigned long long)atomic_load(&received),
         (unsigned long long)atomic_load(&received_bytes), dt);
  return 0;
}

static int pingpong(int out, const struct sockaddr_in *to, double secs) {
  static char payload[MAXDG], answer[MAXDG];
  memset(payload, 0xa5, size);
  unsigned long long done = 0, lost = 0;
  double t0 = now(), end = t0 + secs;
  while (now() < end) {
    sendto(out, payload, size, 0, (const struct sockaddr *)to, sizeof *to);
    struct pollfd p = {out, POLLIN, 0};
    if (poll(&p, 1, 200) <= 0) {
      lost++;
      continue;
    }
    ssize_t n = recv(out, answer, sizeof answer, 0);
    if (n == (ssize_t)size)
      done++;
    else
      atomic_fetch_add(&bad, 1);
  }
  atomic_store(&stop, 1);
  printf("transactions %llu seconds %.3f lost %llu\n", done, now() - t0, lost);
  return 0;
}

int main(int argc, char **argv) {
  if (argc != 6) {
    fprintf(stderr, "usage: udpload flood|pingpong TARGET_PORT PEER_PORT "
                    "SIZE SECONDS\n");
    return 2;
  }
  int is_flood = strcmp(argv[1], "flood") == 0;
  uint16_t target = (uint16_t)atoi(argv[2]), peer = (uint16_t)atoi(argv[3]);
  size = (size_t)atoi(argv[4]);
  double secs = atof(argv[5]);
  if (size < 1 || size > 65507) {
    fprintf(stderr, "SIZE must be 1..65507\n");
    return 2;
  }
  struct sockaddr_in peer_sa, to, any;
  int pfd = udp_bound(peer, &peer_sa);
  int out = udp_bound(0, &any);
  memset(&to, 0, sizeof to);
  to.sin_family = AF_INET;
  to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  to.sin_port = htons(target);
  pthread_t th;
  intptr_t arg = pfd | (is_flood ? 0 : 1 << 16);
  pthread_create(&th, NULL, receiver, (void *)arg);
  int rc = is_flood ? flood(out, &to, secs) : pingpong(out, &to, secs);
  pthread_join(th, NULL);
  if (atomic_load(&bad)) {
    fprintf(stderr, "%llu datagrams of the wrong size\n",
            (unsigned long long)atomic_load(&bad));
    return 1;
  }
  return rc;
}
