// dist/dray: the `dray` command. Starting Node.js costs ~55 ms here before the CLI runs a line, so
// drayd keeps a CLI process started and waiting (src/daemon/cli-pool.ts); this launcher hands it
// the command (arguments, environment, umask, working directory and the very stdin, stdout and
// stderr, passed as file descriptors) and exits with its status, forwarding signals meanwhile.
// Where no such process answers (no drayd, another build, another mount namespace, NODE_OPTIONS
// set, DRAY_CLI_SOCKET=""), it runs the CLI itself: `dist/node -- dist/dray.js …` (dist/node is
// the project's Node.js), what the script's shebang did. Either way the CLI sees the same environment: NODE_EXTRA_CA_CERTS (a CA bundle
// node would parse at every start-up, for a CLI that never speaks TLS) is moved aside into
// DRAY_SAVED_CA_CERTS, for the one process that needs it, the drayd `dray daemon start` runs.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include "warm-proto.h"

extern char **environ;

#define DEFAULT_SOCKET "/run/dray/cli.sock"
/** How long a waiting CLI process may take to answer before the launcher runs the CLI itself. */
#define ANSWER_TIMEOUT_MS 2000

static char dist[PATH_MAX];
static volatile pid_t worker;
static volatile sig_atomic_t last_signal;

static void cold(char **argv) {
  int argc = 0;
  while (argv[argc]) argc++;
  char script[PATH_MAX + 16], node[PATH_MAX + 16];
  snprintf(script, sizeof script, "%s/dray.js", dist);
  snprintf(node, sizeof node, "%s/node", dist);
  char **args = calloc((size_t)argc + 4, sizeof *args);
  if (!args) { perror("dray"); exit(127); }
  args[0] = "node";
  args[1] = "--";
  args[2] = script;
  for (int i = 1; i < argc; i++) args[i + 2] = argv[i];
  execv(node, args);
  fprintf(stderr, "dray: cannot run %s: %s\n", node, strerror(errno));
  exit(127);
}

struct buf { char *p; size_t len, cap; };

static int put(struct buf *b, const char *s) {
  size_t n = strlen(s) + 1;
  if (b->len + n > WARM_MAX_PAYLOAD) return -1;
  if (b->len + n > b->cap) {
    size_t cap = b->cap ? b->cap * 2 : 16384;
    while (cap < b->len + n) cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p) return -1;
    b->p = p;
    b->cap = cap;
  }
  memcpy(b->p + b->len, s, n);
  b->len += n;
  return 0;
}

/** Reads exactly n bytes; 1 when done, 0 at EOF first, -1 on error or timeout (timeout_ms ≥ 0). */
static int read_exact(int fd, void *out, size_t n, int timeout_ms) {
  char *p = out;
  while (n) {
    if (timeout_ms >= 0) {
      struct pollfd pfd = { fd, POLLIN, 0 };
      int r = poll(&pfd, 1, timeout_ms);
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0) return -1;
    }
    ssize_t got = read(fd, p, n);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) return -1;
    if (got == 0) return 0;
    p += got;
    n -= (size_t)got;
  }
  return 1;
}

static void forward(int sig) {
  int saved = errno;
  pid_t w = worker;
  if (w > 0) {
    // Ctrl-Z stops the CLI and then the launcher, which the shell watches; fg continues both.
    if (sig == SIGTSTP) { kill(w, SIGSTOP); raise(SIGSTOP); errno = saved; return; }
    kill(w, sig);
    if (sig != SIGWINCH && sig != SIGCONT) last_signal = sig;
  }
  errno = saved;
}

static const int forwarded[] = { SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGUSR1, SIGUSR2, SIGALRM, SIGWINCH, SIGTSTP, SIGCONT };

/** Runs the command in a waiting CLI process; returns only when none took it. */
static void warm(char **argv, const char *sock) {
  if (strlen(sock) >= sizeof(((struct sockaddr_un *)0)->sun_path)) return;
  char bundle[PATH_MAX + 32], identity[160];
  snprintf(bundle, sizeof bundle, "%s/dray-main.js", dist);
  if (warm_identity(bundle, identity, sizeof identity) < 0) return;

  struct buf b = { 0 };
  char num[32];
  mode_t mask = umask(0);
  umask(mask);
  snprintf(num, sizeof num, "%o", (unsigned)mask);
  int argc = 0;
  while (argv[argc]) argc++;
  int ok = put(&b, identity) == 0 && put(&b, num) == 0;
  snprintf(num, sizeof num, "%d", argc - 1);
  ok = ok && put(&b, num) == 0;
  for (int i = 1; ok && i < argc; i++) ok = put(&b, argv[i]) == 0;
  int envc = 0;
  for (char **e = environ; *e; e++) envc++;
  snprintf(num, sizeof num, "%d", envc);
  ok = ok && put(&b, num) == 0;
  for (char **e = environ; ok && *e; e++) ok = put(&b, *e) == 0;
  if (!ok) { free(b.p); return; }

  // The CLI's stdio, and its working directory as a descriptor: a path could name another
  // directory by the time the worker enters it.
  int fds[WARM_NFDS];
  for (int i = 0; i < 3; i++) fds[i] = fcntl(i, F_GETFD) < 0 ? open("/dev/null", O_RDWR | O_CLOEXEC) : i;
  fds[3] = open(".", O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (fds[0] < 0 || fds[1] < 0 || fds[2] < 0 || fds[3] < 0) { free(b.p); return; }

  int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_un addr = { .sun_family = AF_UNIX };
  strcpy(addr.sun_path, sock);
  // Bounds connect() (a full backlog) and sending the command as well as the answer's wait.
  struct timeval tv = { ANSWER_TIMEOUT_MS / 1000, (ANSWER_TIMEOUT_MS % 1000) * 1000 };
  if (s < 0 || setsockopt(s, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv) < 0 || connect(s, (struct sockaddr *)&addr, sizeof addr) < 0) goto fail;

  struct warm_head head = { WARM_MAGIC, (uint32_t)b.len };
  struct iovec iov = { &head, sizeof head };
  union { char buf[CMSG_SPACE(sizeof fds)]; struct cmsghdr align; } u;
  struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof u.buf };
  struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof fds);
  memcpy(CMSG_DATA(c), fds, sizeof fds);
  ssize_t sent;
  do sent = sendmsg(s, &msg, MSG_NOSIGNAL); while (sent < 0 && errno == EINTR);
  if (sent != (ssize_t)sizeof head || warm_send_all(s, b.p, b.len) < 0) goto fail;
  free(b.p);
  b.p = NULL;

  int32_t pid = 0;
  if (read_exact(s, &pid, sizeof pid, ANSWER_TIMEOUT_MS) != 1 || pid <= 0) goto fail;
  worker = pid;
  struct sigaction sa = { .sa_handler = forward, .sa_flags = SA_RESTART };
  sigemptyset(&sa.sa_mask);
  for (size_t i = 0; i < sizeof forwarded / sizeof forwarded[0]; i++) sigaction(forwarded[i], &sa, NULL);
  char go = WARM_GO;
  if (warm_send_all(s, &go, 1) < 0) {
    // The worker is gone before it started anything: run the command here after all.
    worker = 0;
    sa.sa_handler = SIG_DFL;
    for (size_t i = 0; i < sizeof forwarded / sizeof forwarded[0]; i++) sigaction(forwarded[i], &sa, NULL);
    goto fail;
  }
  int32_t status = 1;
  int r = read_exact(s, &status, sizeof status, -1);
  if (r == 1) exit(status & 0xff);
  // No status: a signal ended the CLI. If it was one we forwarded, end the same way, as the shell
  // would have seen the CLI itself end.
  int sig = last_signal;
  if (sig) {
    signal(sig, SIG_DFL);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, sig);
    sigprocmask(SIG_UNBLOCK, &set, NULL);
    raise(sig);
  }
  exit(sig ? 128 + sig : 1);

fail:
  free(b.p);
  if (s >= 0) close(s);
  for (int i = 0; i < WARM_NFDS; i++) if (fds[i] > 2) close(fds[i]);
}

int main(int argc, char **argv) {
  (void)argc;
  ssize_t n = readlink("/proc/self/exe", dist, sizeof dist - 1);
  if (n <= 0) { fprintf(stderr, "dray: cannot find its own location: %s\n", strerror(errno)); return 127; }
  dist[n] = 0;
  char *slash = strrchr(dist, '/');
  if (slash) *slash = 0;

  const char *ca = getenv("NODE_EXTRA_CA_CERTS");
  setenv("DRAY_SAVED_CA_CERTS", ca ? ca : "", 1);
  unsetenv("NODE_EXTRA_CA_CERTS");

  const char *sock = getenv("DRAY_CLI_SOCKET");
  const char *node_options = getenv("NODE_OPTIONS");
  // NODE_OPTIONS acts at node's start-up, which a waiting CLI process has had already.
  if (!sock) sock = DEFAULT_SOCKET;
  if (*sock && !(node_options && *node_options)) warm(argv, sock);
  cold(argv);
  return 127;
}
