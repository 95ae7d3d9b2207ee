// The waiting side of the warm CLI (protocol in warm-proto.h): drayd's listening socket, and the
// calls a started-and-waiting CLI process makes to take one `dray` command from the launcher and
// become that command's process (its stdio, working directory, umask). The wait is a blocking
// poll() on the listening socket and on the socket to drayd: the waiting process has nothing else
// to do, and its event loop has not started work. drayd ends a waiting process by a word on that
// socket, or by its own end (EOF), never by a signal: one that has just taken a command from a
// launcher finishes the handshake and runs it.
#define _GNU_SOURCE
#include "addon.h"
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include "warm-proto.h"

/** A launcher that connected must send its command and answer within this time. */
#define HANDSHAKE_TIMEOUT_S 2

static napi_value int_value(napi_env env, int64_t n) {
  napi_value v;
  napi_create_int64(env, n, &v);
  return v;
}

// warmListen(path) → fd: a listening socket at path that only its owner (root) may connect to.
// Bound under a temporary name, restricted, then renamed into place: never a moment where the
// path answers with looser permissions, and an old socket file is replaced in one step. (drayd
// binds a name launchers do not use, and links the one they use while a process waits.)
static napi_value js_warm_listen(napi_env env, napi_callback_info info) {
  static const char usage[] = "warmListen(path)";
  napi_value argv[1];
  if (!get_args(env, info, 1, argv, usage)) return NULL;
  char *path = dup_string(env, argv[0]);
  if (!path) { napi_throw_type_error(env, NULL, usage); return NULL; }
  struct sockaddr_un addr = { .sun_family = AF_UNIX };
  char tmp[sizeof addr.sun_path + 32];
  snprintf(tmp, sizeof tmp, "%s.%d.tmp", path, (int)getpid());
  const char *failed = NULL;
  int e = 0, fd = -1;
  if (strlen(tmp) >= sizeof addr.sun_path) { failed = "bind"; e = ENAMETOOLONG; goto out; }
  strcpy(addr.sun_path, tmp);
  unlink(tmp);
  // Non-blocking: every waiting process polls it, and the one that loses the race to accept()
  // goes back to polling rather than block where drayd's word cannot reach it.
  if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0)) < 0) { failed = "socket"; e = errno; goto out; }
  if (bind(fd, (struct sockaddr *)&addr, sizeof addr) < 0) { failed = "bind"; e = errno; goto out; }
  if (chmod(tmp, 0600) < 0 || rename(tmp, path) < 0) { failed = "rename"; e = errno; unlink(tmp); goto out; }
  if (listen(fd, 128) < 0) { failed = "listen"; e = errno; unlink(path); goto out; }
out:
  if (failed) {
    if (fd >= 0) close(fd);
    throw_errno(env, e, failed, path);
    free(path);
    return NULL;
  }
  free(path);
  return int_value(env, fd);
}

struct request {
  int conn;
  int fds[WARM_NFDS];
  int nfds;
  char *payload;
  uint32_t len;
};

static void drop(struct request *r) {
  for (int i = 0; i < r->nfds; i++) close(r->fds[i]);
  r->nfds = 0;
  if (r->conn >= 0) close(r->conn);
  r->conn = -1;
  free(r->payload);
  r->payload = NULL;
}

static int read_exact(int fd, void *out, size_t n) {
  char *p = out;
  while (n) {
    ssize_t got = read(fd, p, n);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) return -1;
    p += got;
    n -= (size_t)got;
  }
  return 0;
}

// One connection's request: the head with exactly four descriptors, then the payload. 0 when
// well-formed; the descriptors are close-on-exec until they are made the process's own.
static int receive(struct request *r) {
  struct warm_head head;
  struct iovec iov = { &head, sizeof head };
  union { char buf[CMSG_SPACE(sizeof(int) * WARM_NFDS)]; struct cmsghdr align; } u;
  struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof u.buf };
  ssize_t got;
  do got = recvmsg(r->conn, &msg, MSG_CMSG_CLOEXEC | MSG_WAITALL); while (got < 0 && errno == EINTR);
  for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    int n = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
    int *in = (int *)CMSG_DATA(c);
    for (int i = 0; i < n; i++) {
      if (r->nfds < WARM_NFDS) r->fds[r->nfds++] = in[i];
      else close(in[i]);
    }
  }
  if (got != (ssize_t)sizeof head || (msg.msg_flags & MSG_CTRUNC) || r->nfds != WARM_NFDS) return -1;
  if (head.magic != WARM_MAGIC || head.len == 0 || head.len > WARM_MAX_PAYLOAD) return -1;
  if (!(r->payload = malloc(head.len))) return -1;
  r->len = head.len;
  if (read_exact(r->conn, r->payload, head.len) < 0 || r->payload[head.len - 1] != 0) return -1;
  return 0;
}

/** The next NUL-terminated string of the payload, or NULL past its end. */
static const char *next(const struct request *r, uint32_t *at) {
  if (*at >= r->len) return NULL;
  const char *s = r->payload + *at;
  *at += (uint32_t)strlen(s) + 1;
  return s;
}

static napi_value string_list(napi_env env, const struct request *r, uint32_t *at, bool *ok) {
  napi_value arr;
  napi_create_array(env, &arr);
  const char *count = next(r, at);
  char *end;
  long n = count ? strtol(count, &end, 10) : -1;
  if (!count || *end || n < 0) { *ok = false; return arr; }
  for (long i = 0; i < n; i++) {
    const char *s = next(r, at);
    if (!s) { *ok = false; return arr; }
    napi_value v;
    napi_create_string_utf8(env, s, NAPI_AUTO_LENGTH, &v);
    napi_set_element(env, arr, (uint32_t)i, v);
  }
  return arr;
}

// warmAccept(listenFd, drayFd, identity) → {conn, fds, umask, argv, env} | {refused: true} |
// {quit: true}. Blocks until a launcher of this user sends a command and says go, or drayd sends
// a word or goes away on drayFd (quit). A launcher of another build or mount namespace is refused
// (it runs the CLI itself); the caller then checks whether it is the one out of date.
static napi_value js_warm_accept(napi_env env, napi_callback_info info) {
  static const char usage[] = "warmAccept(listenFd, drayFd, identity)";
  napi_value argv[3];
  int32_t fd[2];
  if (!get_int_args(env, info, 3, argv, fd, 2, usage)) return NULL;
  int32_t lfd = fd[0], dfd = fd[1];
  char *identity = dup_string(env, argv[2]);
  if (!identity) { napi_throw_type_error(env, NULL, usage); return NULL; }
  napi_value out, t;
  napi_create_object(env, &out);
  napi_get_boolean(env, true, &t);
  for (;;) {
    struct pollfd pfd[2] = { { lfd, POLLIN, 0 }, { dfd, POLLIN, 0 } };
    if (poll(pfd, 2, -1) < 0) {
      if (errno == EINTR) continue;
      int e = errno;
      free(identity);
      return throw_errno(env, e, "poll", NULL);
    }
    if (pfd[1].revents) {
      free(identity);
      napi_set_named_property(env, out, "quit", t);
      return out;
    }
    struct request r = { .conn = -1 };
    r.conn = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
    if (r.conn < 0) continue; // another waiting process took it, or the launcher left
    struct ucred cred;
    socklen_t cl = sizeof cred;
    struct timeval tv = { HANDSHAKE_TIMEOUT_S, 0 };
    if (getsockopt(r.conn, SOL_SOCKET, SO_PEERCRED, &cred, &cl) < 0 || cred.uid != geteuid()
        || setsockopt(r.conn, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) < 0 || receive(&r) < 0) { drop(&r); continue; }
    uint32_t at = 0;
    const char *theirs = next(&r, &at);
    if (strcmp(theirs, identity) != 0) {
      int32_t refused = 0;
      warm_send_all(r.conn, &refused, sizeof refused);
      drop(&r);
      free(identity);
      napi_set_named_property(env, out, "refused", t);
      return out;
    }
    const char *mask = next(&r, &at);
    char *end;
    long umask_ = mask ? strtol(mask, &end, 8) : -1;
    bool ok = mask && !*end && umask_ >= 0 && umask_ <= 0777;
    napi_value argv_ = string_list(env, &r, &at, &ok);
    napi_value env_ = string_list(env, &r, &at, &ok);
    int32_t pid = getpid();
    char go = 0;
    if (!ok || warm_send_all(r.conn, &pid, sizeof pid) < 0 || read_exact(r.conn, &go, 1) < 0 || go != WARM_GO) { drop(&r); continue; }
    struct timeval none = { 0, 0 };
    setsockopt(r.conn, SOL_SOCKET, SO_RCVTIMEO, &none, sizeof none);
    free(identity);
    free(r.payload);
    napi_value fds;
    napi_create_array_with_length(env, WARM_NFDS, &fds);
    for (int i = 0; i < WARM_NFDS; i++) napi_set_element(env, fds, (uint32_t)i, int_value(env, r.fds[i]));
    napi_set_named_property(env, out, "conn", int_value(env, r.conn));
    napi_set_named_property(env, out, "fds", fds);
    napi_set_named_property(env, out, "umask", int_value(env, umask_));
    napi_set_named_property(env, out, "argv", argv_);
    napi_set_named_property(env, out, "env", env_);
    return out;
  }
}

// warmIdentity(bundle) → the identity a launcher of this build sends (warm-proto.h).
static napi_value js_warm_identity(napi_env env, napi_callback_info info) {
  static const char usage[] = "warmIdentity(bundle)";
  napi_value argv[1];
  if (!get_args(env, info, 1, argv, usage)) return NULL;
  char *bundle = dup_string(env, argv[0]), id[160];
  if (!bundle) { napi_throw_type_error(env, NULL, usage); return NULL; }
  int failed = warm_identity(bundle, id, sizeof id) < 0;
  int e = errno;
  napi_value v = NULL;
  if (failed) throw_errno(env, e, "stat", bundle);
  else napi_create_string_utf8(env, id, NAPI_AUTO_LENGTH, &v);
  free(bundle);
  return v;
}

// warmReady(): the waiting process is loaded and about to wait: back at normal priority on every
// thread (drayd starts it at the lowest, so its start-up takes only time nobody else wants, but
// a launcher must not wait for it to be scheduled).
static napi_value js_warm_ready(napi_env env, napi_callback_info info) {
  (void)env; (void)info;
  DIR *d = opendir("/proc/self/task");
  if (d) {
    struct dirent *e;
    while ((e = readdir(d))) if (e->d_name[0] != '.') setpriority(PRIO_PROCESS, (id_t)atoi(e->d_name), 0);
    closedir(d);
  }
  // drayd starts it in a session of its own, whose scheduling group it started at nice 19 too.
  set_autogroup_nice(0);
  return NULL;
}

// warmClaim(fds): becomes the command's process: its stdin, stdout, stderr and working directory
// (fds from warmAccept).
static napi_value js_warm_claim(napi_env env, napi_callback_info info) {
  static const char usage[] = "warmClaim(fds)";
  napi_value argv[1];
  if (!get_args(env, info, 1, argv, usage)) return NULL;
  int fds[WARM_NFDS];
  for (uint32_t i = 0; i < WARM_NFDS; i++) {
    napi_value v;
    if (napi_get_element(env, argv[0], i, &v) != napi_ok || napi_get_value_int32(env, v, &fds[i]) != napi_ok) {
      napi_throw_type_error(env, NULL, usage);
      return NULL;
    }
  }
  for (int i = 0; i < 3; i++) if (dup2(fds[i], i) < 0) return throw_errno(env, errno, "dup2", NULL);
  if (fchdir(fds[3]) < 0) return throw_errno(env, errno, "fchdir", NULL);
  for (int i = 0; i < WARM_NFDS; i++) if (fds[i] > 2) close(fds[i]);
  return NULL;
}

// warmReport(conn, status): the command is over. Its stdio goes back to the caller first: whoever
// reads its output through a pipe (a shell's $(dray ps), spawnSync) waits for every writer's end,
// and Node's exit after this (exit handlers, the code cache, tearing down V8 and its threads) took
// ~10 ms here. Then the exit status goes to the launcher (best effort: it may be gone). Node writes
// to pipes and files synchronously, so nothing written before is lost.
static napi_value js_warm_report(napi_env env, napi_callback_info info) {
  static const char usage[] = "warmReport(conn, status)";
  napi_value argv[2];
  int32_t a[2];
  if (!get_int_args(env, info, 2, argv, a, 2, usage)) return NULL;
  int32_t conn = a[0], status = a[1];
  int null = open("/dev/null", O_RDWR | O_CLOEXEC);
  if (null >= 0) {
    for (int i = 0; i < 3; i++) dup2(null, i);
    close(null);
  }
  warm_send_all(conn, &status, sizeof status);
  return NULL;
}

void warm_register(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
    { "warmListen", NULL, js_warm_listen, NULL, NULL, NULL, napi_default, NULL },
    { "warmIdentity", NULL, js_warm_identity, NULL, NULL, NULL, napi_default, NULL },
    { "warmAccept", NULL, js_warm_accept, NULL, NULL, NULL, napi_default, NULL },
    { "warmReady", NULL, js_warm_ready, NULL, NULL, NULL, napi_default, NULL },
    { "warmClaim", NULL, js_warm_claim, NULL, NULL, NULL, napi_default, NULL },
    { "warmReport", NULL, js_warm_report, NULL, NULL, NULL, napi_default, NULL },
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
}
