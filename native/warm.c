// The waiting side of the warm CLI (protocol in warm-proto.h): drayd's listening socket, and what
// the CLI process drayd keeps waiting does to hand `dray` commands from the launcher to processes
// of their own. That process is a zygote: it loads Node.js and the CLI once and never runs a
// command. It keeps forked children, spares, ready: a spare copies the memory the zygote wrote,
// runs the warm-up request again (src/cli/warm-worker.ts) and waits on the listening socket; it
// takes one command, tells the zygote, and becomes that command's process (its stdio, working
// directory, umask) while the zygote forks a spare in its place. A spare is ready ~40 ms after its
// fork here, at nice 19, where a fresh Node.js took 110-250 ms (~90 ms of CPU) while commands ran
// back to back: with three of them, commands in a row, or several at once, find one ready. The
// zygote blocks in poll() on the socket to drayd and on its spares' pipes; drayd ends it by a word
// on that socket or by its own end (EOF), never by a signal, and a spare leaves when the zygote
// does.
//
// What a fork of Node.js needs (the child has only the forking thread): V8 must have had no
// background work in flight, so drayd starts the zygote with --single-threaded (no concurrent GC
// or compilation); V8 maps its heap MADV_DONTFORK, which is undone before the zygote forks; the
// child gets an event loop of its own (uv_loop_fork: the zygote's epoll instance would otherwise
// be shared); and it must leave by _exit() (warmExit), since Node's own exit joins platform
// threads that do not exist in the child.
#define _GNU_SOURCE
#include "addon.h"
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <signal.h>
#include <uv.h>
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

#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ 22
#define MADV_POPULATE_WRITE 23
#endif
/** Spares kept ready. A spare takes ~40 ms here to be ready (most of it the copy of memory and
 * its warm-up request, at nice 19, so on a busy host longer): with three, commands in a row still
 * find one (`ps` with 50 running, after 50 `run -d`, between docker CLI runs: 0.53× Docker's time
 * with two spares, 0.42× with three, in `bench/run --only run-d-serial`). */
#define SPARES 3
/** Spares that may die in a row, without taking a command, before the zygote gives up. */
#define MAX_SPARE_FAILURES 3

// V8 marks its heap and code memory MADV_DONTFORK (so that a fork to exec a program does not copy
// it): a child would start without its JS heap. Every mapping is made inheritable; the special
// kernel ones ([vvar], [vdso]) refuse and need not be. 0 when /proc/self/maps was read.
static int inherit_all_memory(void) {
  FILE *f = fopen("/proc/self/maps", "re");
  if (!f) return -1;
  char line[512];
  while (fgets(line, sizeof line, f)) {
    unsigned long start, end;
    if (sscanf(line, "%lx-%lx", &start, &end) != 2) continue;
    if (strstr(line, " [v")) continue;
    madvise((void *)start, end - start, MADV_DOFORK);
  }
  fclose(f);
  return 0;
}

// In a spare: takes now what the command would otherwise fault in page by page, as the zygote has
// it: its own copy of every private writable page the zygote has written, and the entries for the
// pages of Node's code and read-only data the zygote has mapped (a fork copies neither; a `dray
// --version` took 19 ms instead of 15 with them left to faults). Thread stacks, heap reservations
// and code the zygote never ran stay unpopulated. Best effort.
static void take_zygote_pages(void) {
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/pagemap", (int)getppid());
  FILE *f = fopen("/proc/self/maps", "re");
  int pm = open(path, O_RDONLY | O_CLOEXEC);
  if (!f || pm < 0) { if (f) fclose(f); if (pm >= 0) close(pm); return; }
  long page = sysconf(_SC_PAGESIZE);
  uint64_t entries[512];
  char line[512], perms[8];
  while (fgets(line, sizeof line, f)) {
    unsigned long start, end;
    if (sscanf(line, "%lx-%lx %7s", &start, &end, perms) != 3) continue;
    int advice;
    if (strcmp(perms, "rw-p") == 0) advice = MADV_POPULATE_WRITE;
    else if (perms[0] == 'r' && perms[1] == '-' && strchr(line, '/')) advice = MADV_POPULATE_READ;
    else continue;
    unsigned long run = 0;
    for (unsigned long at = start; at < end;) {
      size_t n = (end - at) / (unsigned long)page;
      if (n > 512) n = 512;
      ssize_t got = pread(pm, entries, n * sizeof entries[0], (off_t)(at / (unsigned long)page * sizeof entries[0]));
      if (got <= 0) break;
      n = (size_t)got / sizeof entries[0];
      for (size_t i = 0; i < n; i++, at += (unsigned long)page) {
        bool present = entries[i] >> 63;
        if (present && !run) run = at;
        if (!present && run) { madvise((void *)run, at - run, advice); run = 0; }
      }
    }
    if (run) madvise((void *)run, end - run, advice);
  }
  close(pm);
  fclose(f);
}

// A spare's start: its own session and event loop, and its own copy of the memory, made at the
// zygote's nice 19, its session's scheduling group too (with autogroup scheduling, sessions share
// the CPUs equally and a nice value ranks threads only within one): a command may be running
// meanwhile. 0 when done.
static int become_spare(napi_env env, int dfd, const struct sigaction *sigchld) {
  sigaction(SIGCHLD, sigchld, NULL);
  close(dfd);
  setsid();
  set_autogroup_nice(19);
  uv_loop_t *loop = NULL;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok || !loop || uv_loop_fork(loop) != 0) return -1;
  take_zygote_pages();
  return 0;
}

/** The spare is ready: back at normal priority, itself and its group, since a launcher must not
 * wait for it to be scheduled. */
static void spare_ready(void) {
  setpriority(PRIO_PROCESS, 0, 0);
  set_autogroup_nice(0);
}

// The spare's wait: one command from a launcher of this user and build, then the handshake. The
// zygote hears WARM_CLAIMED_WORD on `tell` once the spare is spent (it forks the next one), or
// WARM_SPARE_STALE when a launcher of another build found this one out of date. Returns the command
// once the launcher said go; ends the process (_exit) in every other case.
static napi_value spare_wait(napi_env env, int lfd, int tell, const char *identity, const char *bundle) {
  spare_ready();
  for (;;) {
    // The zygote's end of `tell` closes when it goes: the spare goes too.
    struct pollfd pfd[2] = { { lfd, POLLIN, 0 }, { tell, 0, 0 } };
    if (poll(pfd, 2, -1) < 0) { if (errno == EINTR) continue; _exit(1); }
    if (pfd[1].revents) _exit(0);
    struct request r = { .conn = -1 };
    r.conn = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
    if (r.conn < 0) continue; // the launcher left
    struct ucred cred;
    socklen_t cl = sizeof cred;
    struct timeval tv = { HANDSHAKE_TIMEOUT_S, 0 };
    if (getsockopt(r.conn, SOL_SOCKET, SO_PEERCRED, &cred, &cl) < 0 || cred.uid != geteuid()
        || setsockopt(r.conn, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) < 0 || receive(&r) < 0) { drop(&r); continue; }
    uint32_t at = 0;
    const char *theirs = next(&r, &at);
    if (strcmp(theirs, identity) != 0) {
      // A launcher of another build runs the CLI itself; if the bundle changed since the zygote
      // loaded it, the zygote is the one out of date.
      int32_t refused = 0;
      warm_send_all(r.conn, &refused, sizeof refused);
      drop(&r);
      char now[160];
      if (warm_identity(bundle, now, sizeof now) < 0 || strcmp(now, identity) != 0) {
        (void)!write(tell, WARM_SPARE_STALE, 1);
        _exit(0);
      }
      continue;
    }
    const char *mask = next(&r, &at);
    char *end;
    long umask_ = mask ? strtol(mask, &end, 8) : -1;
    bool ok = mask && !*end && umask_ >= 0 && umask_ <= 0777;
    napi_value out, argv_ = string_list(env, &r, &at, &ok), env_ = string_list(env, &r, &at, &ok);
    int32_t pid = getpid();
    char go = 0;
    bool went = ok && warm_send_all(r.conn, &pid, sizeof pid) == 0 && read_exact(r.conn, &go, 1) == 0 && go == WARM_GO;
    // Only now: the zygote's next fork would have taken this CPU in the middle of the handshake.
    (void)!write(tell, WARM_CLAIMED_WORD, 1);
    if (!went) _exit(0);
    close(tell);
    close(lfd);
    struct timeval none = { 0, 0 };
    setsockopt(r.conn, SOL_SOCKET, SO_RCVTIMEO, &none, sizeof none);
    free(r.payload);
    napi_value fds;
    napi_create_object(env, &out);
    napi_create_array_with_length(env, WARM_NFDS, &fds);
    for (int i = 0; i < WARM_NFDS; i++) napi_set_element(env, fds, (uint32_t)i, int_value(env, r.fds[i]));
    napi_set_named_property(env, out, "pid", int_value(env, pid));
    napi_set_named_property(env, out, "conn", int_value(env, r.conn));
    napi_set_named_property(env, out, "fds", fds);
    napi_set_named_property(env, out, "umask", int_value(env, umask_));
    napi_set_named_property(env, out, "argv", argv_);
    napi_set_named_property(env, out, "env", env_);
    return out;
  }
}

// warmServe(drayFd) → in a new spare: {spare: fd}, its end of the pipe to the zygote (for
// warmTake, once it has warmed up); in the zygote: {quit: true} when drayd sends a word or goes
// away on drayFd, {stale: true} when a launcher found the bundle changed, {failed: true} when
// spares keep dying. The zygote tells drayd WARM_CLAIMED_WORD on drayFd for each command a spare
// took.
static napi_value js_warm_serve(napi_env env, napi_callback_info info) {
  static const char usage[] = "warmServe(drayFd)";
  napi_value argv[1];
  int32_t dfd;
  if (!get_int_args(env, info, 1, argv, &dfd, 1, usage)) return NULL;
  // Children are reaped by the kernel: the zygote learns what it needs from the spare's pipe.
  // Each child puts back what the zygote had (Node's default) before it runs anything.
  struct sigaction ign = { .sa_handler = SIG_IGN }, sigchld;
  sigemptyset(&ign.sa_mask);
  sigaction(SIGCHLD, &ign, &sigchld);
  const char *outcome = "failed";
  // The read ends of the spares' pipes (-1: none there).
  int spares[SPARES], failures = 0;
  for (int i = 0; i < SPARES; i++) spares[i] = -1;
  // Once: nothing maps memory in the zygote while it waits here.
  for (bool stop = inherit_all_memory() < 0; !stop;) {
    for (int i = 0; i < SPARES && !stop; i++) {
      if (spares[i] >= 0) continue;
      int p[2];
      if (pipe2(p, O_CLOEXEC) < 0) { stop = true; break; }
      pid_t child = fork();
      if (child == 0) {
        close(p[0]);
        // A sibling's pipe kept open here would hide the zygote's end from that sibling.
        for (int k = 0; k < SPARES; k++) if (spares[k] >= 0) close(spares[k]);
        if (become_spare(env, dfd, &sigchld) < 0) _exit(1);
        napi_value out;
        napi_create_object(env, &out);
        napi_set_named_property(env, out, "spare", int_value(env, p[1]));
        return out;
      }
      close(p[1]);
      if (child < 0) { close(p[0]); stop = true; break; }
      spares[i] = p[0];
    }
    if (stop) break;
    struct pollfd pfd[1 + SPARES] = { { dfd, POLLIN, 0 } };
    for (int i = 0; i < SPARES; i++) pfd[1 + i] = (struct pollfd){ spares[i], POLLIN, 0 };
    if (poll(pfd, 1 + SPARES, -1) < 0) { if (errno == EINTR) continue; break; }
    if (pfd[0].revents) { outcome = "quit"; break; }
    for (int i = 0; i < SPARES && !stop; i++) {
      if (!pfd[1 + i].revents) continue;
      char word = 0;
      ssize_t got;
      do got = read(spares[i], &word, 1); while (got < 0 && errno == EINTR);
      close(spares[i]);
      spares[i] = -1;
      if (got == 1 && word == WARM_SPARE_STALE[0]) { outcome = "stale"; stop = true; }
      else if (got == 1 && word == WARM_CLAIMED_WORD[0]) {
        failures = 0;
        send(dfd, WARM_CLAIMED_WORD, 1, MSG_DONTWAIT | MSG_NOSIGNAL);
      }
      else if (++failures >= MAX_SPARE_FAILURES) stop = true;
    }
  }
  for (int i = 0; i < SPARES; i++) if (spares[i] >= 0) close(spares[i]);
  sigaction(SIGCHLD, &sigchld, NULL);
  napi_value out, t;
  napi_create_object(env, &out);
  napi_get_boolean(env, true, &t);
  napi_set_named_property(env, out, outcome, t);
  return out;
}

// warmTake(listenFd, tell, identity, bundle) → in a spare, once it has warmed up: the command it
// took, {pid, conn, fds, umask, argv, env}, once the launcher said go (spare_wait). Never returns
// otherwise: the spare ends when the zygote does, when it found the zygote out of date, or when
// the launcher it answered gave up.
static napi_value js_warm_take(napi_env env, napi_callback_info info) {
  static const char usage[] = "warmTake(listenFd, tell, identity, bundle)";
  napi_value argv[4];
  int32_t fd[2];
  if (!get_int_args(env, info, 4, argv, fd, 2, usage)) return NULL;
  char *identity = dup_string(env, argv[2]), *bundle = dup_string(env, argv[3]);
  if (!identity || !bundle) { free(identity); free(bundle); napi_throw_type_error(env, NULL, usage); return NULL; }
  // Its own until the process ends, which it shares with the command.
  return spare_wait(env, fd[0], fd[1], identity, bundle);
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

// warmClaim(fds): becomes the command's process: its stdin, stdout, stderr and working directory
// (fds from warmTake).
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
// and the process's end after this (the other exit listeners, the kernel freeing its memory) is
// nobody's wait. Then the exit status goes to the launcher (best effort: it may be gone). Node
// writes to pipes and files synchronously, so nothing written before is lost.
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

// warmExit(status): ends a forked child at once. Node's own exit tears down its platform, joining
// worker threads the child does not have (it would wait forever); everything the command wrote
// has reached its descriptors already (Node writes to pipes, files and ttys synchronously).
static napi_value js_warm_exit(napi_env env, napi_callback_info info) {
  static const char usage[] = "warmExit(status)";
  napi_value argv[1];
  int32_t status;
  if (!get_int_args(env, info, 1, argv, &status, 1, usage)) return NULL;
  _exit(status & 0xff);
}

void warm_register(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
    { "warmListen", NULL, js_warm_listen, NULL, NULL, NULL, napi_default, NULL },
    { "warmIdentity", NULL, js_warm_identity, NULL, NULL, NULL, napi_default, NULL },
    { "warmServe", NULL, js_warm_serve, NULL, NULL, NULL, napi_default, NULL },
    { "warmTake", NULL, js_warm_take, NULL, NULL, NULL, napi_default, NULL },
    { "warmClaim", NULL, js_warm_claim, NULL, NULL, NULL, napi_default, NULL },
    { "warmReport", NULL, js_warm_report, NULL, NULL, NULL, napi_default, NULL },
    { "warmExit", NULL, js_warm_exit, NULL, NULL, NULL, napi_default, NULL },
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
}
