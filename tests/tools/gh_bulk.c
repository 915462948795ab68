/* gh_bulk: bulk throughput through a forwarder, for the perf guard test.
 *
 *   gh_bulk SINK_PORT CONNECT_PORT STREAMS SECONDS
 *
 * Listens on 127.0.0.1:SINK_PORT (the resource the forwarder reaches),
 * prints "ready" and waits for a line on stdin (the forwarder is started
 * then), opens STREAMS connections to 127.0.0.1:CONNECT_PORT and writes
 * into each as fast as it goes. After one second of warm-up it counts what
 * the sink receives for SECONDS and prints bytes=, seconds= and gbps=.
 * A sender whose connection is refused or reset (the forwarder not ready
 * yet) connects again. One thread per sending and per receiving
 * connection: blocking I/O keeps it short, and loopback does not care. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_STREAMS 64
#define CHUNK (64 * 1024)

static atomic_ullong received;
static atomic_int stop;

_Noreturn static void die(const char *what) {
  perror(what);
  exit(1);
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static struct sockaddr_in loopback(int port) {
  struct sockaddr_in a;
  memset(&a, 0, sizeof(a));
  a.sin_family = AF_INET;
  a.sin_port = htons((uint16_t)port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return a;
}

static void *sink(void *arg) {
  int fd = (int)(intptr_t)arg;
  static char buf[MAX_STREAMS][CHUNK];
  static atomic_int slots;
  char *b = buf[atomic_fetch_add(&slots, 1) % MAX_STREAMS];
  for (;;) {
    ssize_t n = read(fd, b, CHUNK);
    if (n <= 0)
      break;
    atomic_fetch_add(&received, (unsigned long long)n);
  }
  close(fd);
  return NULL;
}

static void *source(void *arg) {
  int port = (int)(intptr_t)arg;
  static char data[CHUNK]; /* zeros: the tunnel does not compress */
  struct sockaddr_in a = loopback(port);
  while (!atomic_load(&stop)) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
      die("socket");
    if (connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0)
      while (!atomic_load(&stop) && write(fd, data, sizeof(data)) > 0)
        ;
    close(fd);
    usleep(10 * 1000); /* refused or reset: again, a little later */
  }
  return NULL;
}

static void *acceptor(void *arg) {
  int ls = (int)(intptr_t)arg;
  for (;;) {
    int fd = accept(ls, NULL, NULL);
    pthread_t th;
    if (fd < 0 || pthread_create(&th, NULL, sink, (void *)(intptr_t)fd))
      die("accept");
    pthread_detach(th);
  }
  return NULL;
}

int main(int argc, char **argv) {
  if (argc != 5) {
    fprintf(stderr, "usage: gh_bulk SINK_PORT CONNECT_PORT STREAMS SECONDS\n");
    return 2;
  }
  int sink_port = atoi(argv[1]), port = atoi(argv[2]), n = atoi(argv[3]);
  double secs = atof(argv[4]);
  if (n < 1 || n > MAX_STREAMS || secs <= 0) {
    fprintf(stderr, "gh_bulk: 1..%d streams, SECONDS > 0\n", MAX_STREAMS);
    return 2;
  }
  signal(SIGPIPE, SIG_IGN);
  int ls = socket(AF_INET, SOCK_STREAM, 0), one = 1;
  struct sockaddr_in a = loopback(sink_port);
  setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (ls < 0 || bind(ls, (struct sockaddr *)&a, sizeof(a)) < 0 ||
      listen(ls, MAX_STREAMS) < 0)
    die("sink");
  printf("ready\n");
  fflush(stdout);
  char line[64];
  if (!fgets(line, sizeof(line), stdin))
    return 1;
  pthread_t th[MAX_STREAMS + 1];
  if (pthread_create(&th[MAX_STREAMS], NULL, acceptor, (void *)(intptr_t)ls))
    die("thread");
  for (int i = 0; i < n; i++)
    if (pthread_create(&th[i], NULL, source, (void *)(intptr_t)port))
      die("thread");
  usleep(1000 * 1000); /* warm-up: windows grow, buffers fill */
  unsigned long long b0 = atomic_load(&received);
  double t0 = now_s();
  usleep((useconds_t)(secs * 1e6));
  unsigned long long b1 = atomic_load(&received);
  double t1 = now_s();
  atomic_store(&stop, 1);
  printf("bytes=%llu\nseconds=%.3f\ngbps=%.3f\n", b1 - b0, t1 - t0,
         (double)(b1 - b0) * 8 / (t1 - t0) / 1e9);
  fflush(stdout);
  _exit(0); /* the threads may block in read/write: the forwarder ends them */
}
