// Process creation for drayd without fork(). libuv starts children with a plain fork(): the whole
// address space of drayd (60–100 MiB resident) has its page tables copied and write-protected, so
// a spawn costs 8–10 ms here and every page drayd writes afterwards takes a copy-on-write fault
// (measured: touching 50 MiB went from 48 to 192 ms after one spawn of /bin/true). vfork() shares
// the address space until the child execs: no copy, no faults. Not posix_spawn(): glibc's leaves
// its two internal signals (32, 33) ignored in the child of a threaded parent, and an ignored signal
// stays ignored across exec, down to conmon, crun and the container's own processes. The exit is
// watched through a pidfd on libuv's loop, so nothing waits on a thread, and libuv's SIGCHLD
// handler, which only reaps the pids it started itself, never takes these children from us.
#define _GNU_SOURCE
#include "addon.h"
#include <uv.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <linux/wait.h>

extern char **environ;

#define MAX_FDS 16
// Sources are moved above every target first, so a source that is also another slot's target,
// or already sits at its own target with FD_CLOEXEC set, is never lost.
#define HIGH_FD 64

static int pidfd_open_(pid_t pid) { return (int)syscall(SYS_pidfd_open, pid, 0); }

napi_value throw_errno(napi_env env, int e, const char *syscall, const char *path) {
  napi_throw(env, errno_error(env, e, syscall, path));
  return NULL;
}

char *dup_string(napi_env env, napi_value v) {
  size_t len;
  if (napi_get_value_string_utf8(env, v, NULL, 0, &len) != napi_ok) return NULL;
  char *s = malloc(len + 1);
  napi_get_value_string_utf8(env, v, s, len + 1, &len);
  return s;
}

// A NULL-terminated copy of an array of strings; NULL on a bad argument.
static char **string_array(napi_env env, napi_value arr) {
  uint32_t n;
  if (napi_get_array_length(env, arr, &n) != napi_ok) return NULL;
  char **out = calloc(n + 1, sizeof *out);
  for (uint32_t i = 0; i < n; i++) {
    napi_value v;
    napi_get_element(env, arr, i, &v);
    if (!(out[i] = dup_string(env, v))) {
      for (uint32_t j = 0; j < i; j++) free(out[j]);
      free(out);
      return NULL;
    }
  }
  return out;
}

static void free_array(char **a) {
  if (!a) return;
  for (char **p = a; *p; p++) free(*p);
  free(a);
}

// socketpair() → [parentEnd, childEnd], both close-on-exec: a pair made for one child must not
// leak into another started meanwhile. A socket pair, as libuv gives node's child processes.
static napi_value js_socketpair(napi_env env, napi_callback_info info) {
  (void)info;
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) return throw_errno(env, errno, "socketpair", NULL);
  napi_value arr, a, b;
  napi_create_array_with_length(env, 2, &arr);
  napi_create_int32(env, sv[0], &a);
  napi_create_int32(env, sv[1], &b);
  napi_set_element(env, arr, 0, a);
  napi_set_element(env, arr, 1, b);
  return arr;
}

// The executable execvp() would run: `file` itself when it has a slash, else the first match in
// PATH (the child's own PATH when it has one, as libuv does). 0 or an errno.
static int find_executable(const char *file, char **envp, char *out, size_t outlen) {
  if (strchr(file, '/')) {
    if (strlen(file) >= outlen) return ENAMETOOLONG;
    strcpy(out, file);
    return 0;
  }
  const char *path = NULL;
  for (char **e = envp; *e; e++) if (!strncmp(*e, "PATH=", 5)) { path = *e + 5; break; }
  if (!path) path = getenv("PATH");
  if (!path) path = "/usr/local/bin:/usr/bin:/bin";
  int err = ENOENT;
  for (const char *p = path;; p++) {
    const char *end = strchrnul(p, ':');
    size_t dl = (size_t)(end - p);
    if (dl == 0) { dl = 1; p = "."; end = p + 1; }
    if (dl + 1 + strlen(file) < outlen) {
      memcpy(out, p, dl);
      out[dl] = '/';
      strcpy(out + dl + 1, file);
      if (access(out, X_OK) == 0) return 0;
      if (errno == EACCES) err = EACCES;
    }
    if (!*end) break;
    p = end;
  }
  return err;
}

enum { STEP_SETSID = 1 << 16, STEP_DUP2 = 2 << 16, STEP_CHDIR = 3 << 16, STEP_EXEC = 4 << 16, STEP_MASK = 0xff << 16 };
static const char *step_name(int err) {
  switch (err & STEP_MASK) {
    case STEP_SETSID: return "setsid";
    case STEP_DUP2: return "dup2";
    case STEP_CHDIR: return "chdir";
    default: return "spawn";
  }
}

void set_autogroup_nice(int nice) {
  char num[4];
  int len = 0, n = nice < 0 ? -nice : nice;
  if (nice < 0) num[len++] = '-';
  if (n >= 10) num[len++] = (char)('0' + n / 10 % 10);
  num[len++] = (char)('0' + n % 10);
  int fd = open("/proc/self/autogroup", O_WRONLY | O_CLOEXEC);
  if (fd >= 0) { (void)!write(fd, num, (size_t)len); close(fd); }
}

struct ksigaction { void *handler; unsigned long flags; void *restorer; uint64_t mask; };

// Between vfork() and exec the child runs on this thread's stack and memory, so it makes raw
// system calls only and reports a failure through *child_err. All signals stay blocked across
// vfork(): no handler of drayd may run in the child; they are set back to default (glibc's own
// internal ones too, which only a raw call can do) before the child's mask is cleared.
static int start_child(const char *exe, char **args, char **envp, const char *cwd, const int *fds, uint32_t nfds, bool new_session, int nice, pid_t *out) {
  uint64_t all = ~0ULL, old = 0, none = 0;
  volatile int child_err = 0;
  syscall(SYS_rt_sigprocmask, SIG_SETMASK, &all, &old, sizeof all);
  pid_t pid = vfork();
  if (pid == 0) {
    struct ksigaction dfl = { SIG_DFL, 0, NULL, 0 };
    for (int sig = 1; sig <= 64; sig++) if (sig != SIGKILL && sig != SIGSTOP) syscall(SYS_rt_sigaction, sig, &dfl, NULL, sizeof dfl.mask);
    // The failed step goes in the high bits: a missing cwd is not a missing program.
    int err = 0;
    if (new_session && setsid() < 0) err = errno | STEP_SETSID;
    // Before exec, so every thread the program starts inherits it.
    if (nice) setpriority(PRIO_PROCESS, 0, nice);
    // A new session is a scheduling group of its own: the nice value must be the group's too.
    if (nice && new_session && !err) set_autogroup_nice(nice);
    for (uint32_t i = 0; !err && i < nfds; i++) if (dup2(fds[i], (int)i) < 0) err = errno | STEP_DUP2;
    // Nothing else crosses: not even an fd drayd inherited without close-on-exec.
    if (!err) syscall(SYS_close_range, nfds, ~0U, 0);
    if (!err && cwd && chdir(cwd) < 0) err = errno | STEP_CHDIR;
    if (!err) {
      syscall(SYS_rt_sigprocmask, SIG_SETMASK, &none, NULL, sizeof none);
      execve(exe, args, envp);
      err = errno | STEP_EXEC;
    }
    child_err = err;
    _exit(127);
  }
  int err = pid < 0 ? errno : child_err;
  syscall(SYS_rt_sigprocmask, SIG_SETMASK, &old, NULL, sizeof old);
  if (pid > 0 && err) waitpid(pid, NULL, 0);
  *out = pid;
  return err;
}

static const char SPAWN_USAGE[] = "spawn(file, argv, env, cwd, fds, setsid[, nice])";

// spawn(file, argv, env, cwd|null, fds, setsid[, nice]) → [pid, pidfd]. fds[i] becomes the child's fd i
// (-1: /dev/null). Signals are reset to their defaults and unblocked in the child (node ignores
// SIGPIPE, and an ignored signal would stay ignored across exec). Errors that keep the program
// from starting (ENOENT, EACCES, a bad cwd) are thrown here.
static napi_value js_spawn(napi_env env, napi_callback_info info) {
  size_t argc = 7;
  napi_value argv[7];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 6) { napi_throw_type_error(env, NULL, SPAWN_USAGE); return NULL; }
  char *file = dup_string(env, argv[0]);
  char **args = string_array(env, argv[1]);
  char **envp = string_array(env, argv[2]);
  napi_valuetype t;
  napi_typeof(env, argv[3], &t);
  char *cwd = t == napi_string ? dup_string(env, argv[3]) : NULL;
  uint32_t nfds = 0;
  bool setsid_ = false;
  int ok = file && args && envp && napi_get_array_length(env, argv[4], &nfds) == napi_ok && nfds <= MAX_FDS
    && napi_get_value_bool(env, argv[5], &setsid_) == napi_ok;
  int32_t nice = 0;
  if (ok && argc > 6) ok = napi_get_value_int32(env, argv[6], &nice) == napi_ok;
  int src[MAX_FDS], high[MAX_FDS];
  for (uint32_t i = 0; ok && i < nfds; i++) {
    napi_value v;
    napi_get_element(env, argv[4], i, &v);
    if (napi_get_value_int32(env, v, &src[i]) != napi_ok) ok = 0;
  }
  napi_value result = NULL;
  if (!ok) {
    napi_throw_type_error(env, NULL, SPAWN_USAGE);
    goto out;
  }
  char exe[PATH_MAX];
  int err = find_executable(file, envp, exe, sizeof exe);
  int devnull = -1;
  uint32_t made = 0;
  for (; !err && made < nfds; made++) {
    int s = src[made];
    if (s < 0) {
      if (devnull < 0 && (devnull = open("/dev/null", O_RDWR | O_CLOEXEC)) < 0) { err = errno; break; }
      s = devnull;
    }
    if ((high[made] = fcntl(s, F_DUPFD_CLOEXEC, HIGH_FD)) < 0) { err = errno; break; }
  }
  pid_t pid = -1;
  int pidfd = -1;
  const char *failed = "spawn";
  if (!err && (err = start_child(exe, args, envp, cwd, high, nfds, setsid_, nice, &pid))) {
    failed = step_name(err);
    err &= ~STEP_MASK;
  }
  if (!err && (pidfd = pidfd_open_(pid)) < 0) {
    // Not expected on Linux ≥ 5.3; the child is not left behind unwatched.
    err = errno;
    failed = "pidfd_open";
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
  }
  for (uint32_t i = 0; i < made; i++) close(high[i]);
  if (devnull >= 0) close(devnull);
  if (err) {
    throw_errno(env, err, failed, !strcmp(failed, "chdir") ? cwd : file);
    goto out;
  }
  napi_value jpid, jfd;
  napi_create_array_with_length(env, 2, &result);
  napi_create_int32(env, pid, &jpid);
  napi_create_int32(env, pidfd, &jfd);
  napi_set_element(env, result, 0, jpid);
  napi_set_element(env, result, 1, jfd);
out:
  free(file); free(cwd); free_array(args); free_array(envp);
  return result;
}

struct watch {
  uv_poll_t poll;
  int pidfd;
  napi_env env;
  napi_ref callback;
  napi_async_context async;
};

static void watch_closed(uv_handle_t *h) { free(h->data); }

static void watch_fired(uv_poll_t *p, int status, int events) {
  (void)events;
  struct watch *w = p->data;
  siginfo_t si;
  memset(&si, 0, sizeof si);
  int code = -1, sig = 0;
  if (status == 0) {
    if (waitid((idtype_t)P_PIDFD, (id_t)w->pidfd, &si, WEXITED | WNOHANG) < 0) {
      if (errno == EINTR) return;  // fires again
      code = -errno;
    } else if (si.si_pid == 0) {
      return;  // not exited yet: a spurious wake-up
    } else if (si.si_code == CLD_EXITED) {
      code = si.si_status;
    } else {
      sig = si.si_status;
    }
  }
  uv_poll_stop(p);
  close(w->pidfd);
  napi_env env = w->env;
  napi_handle_scope scope;
  napi_open_handle_scope(env, &scope);
  napi_value cb, recv, args[2];
  napi_get_reference_value(env, w->callback, &cb);
  napi_get_global(env, &recv);  // napi_make_callback wants an object as `this`
  napi_create_int32(env, code, &args[0]);
  napi_create_int32(env, sig, &args[1]);
  napi_make_callback(env, w->async, recv, cb, 2, args, NULL);
  napi_delete_reference(env, w->callback);
  napi_async_destroy(env, w->async);
  napi_close_handle_scope(env, scope);
  uv_close((uv_handle_t *)p, watch_closed);
}

static const char WATCH_USAGE[] = "watchExit(pidfd, callback(code, signal))";

// watchExit(pidfd, cb) → a handle for unrefWatch. Calls cb(exitCode, 0) or cb(-1, signal) once,
// reaps the child and closes the pidfd.
static napi_value js_watch_exit(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  int32_t fd;
  napi_valuetype t = napi_undefined;
  if (argc == 2) napi_typeof(env, argv[1], &t);
  if (argc < 2 || napi_get_value_int32(env, argv[0], &fd) != napi_ok || t != napi_function) {
    napi_throw_type_error(env, NULL, WATCH_USAGE);
    return NULL;
  }
  uv_loop_t *loop;
  napi_get_uv_event_loop(env, &loop);
  struct watch *w = calloc(1, sizeof *w);
  w->pidfd = fd;
  w->env = env;
  int r = uv_poll_init(loop, &w->poll, fd);
  if (r < 0) { free(w); return throw_errno(env, -r, "uv_poll_init", NULL); }
  w->poll.data = w;
  napi_create_reference(env, argv[1], 1, &w->callback);
  napi_value name, handle;
  napi_create_string_utf8(env, "dray_spawn", NAPI_AUTO_LENGTH, &name);
  napi_async_init(env, NULL, name, &w->async);
  uv_poll_start(&w->poll, UV_READABLE, watch_fired);
  napi_create_external(env, w, NULL, NULL, &handle);
  return handle;
}

// unrefWatch(handle): the watch no longer keeps the process alive (ChildProcess.unref()). Only
// called while the watch is live: the JS side drops the handle when the exit callback runs.
static napi_value js_unref_watch(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  void *p = NULL;
  if (argc < 1 || napi_get_value_external(env, argv[0], &p) != napi_ok || !p) {
    napi_throw_type_error(env, NULL, "unrefWatch(handle)");
    return NULL;
  }
  uv_unref((uv_handle_t *)&((struct watch *)p)->poll);
  return NULL;
}

static napi_value js_pidfd_supported(napi_env env, napi_callback_info info) {
  (void)info;
  int fd = pidfd_open_(getpid());
  if (fd >= 0) close(fd);
  napi_value v;
  napi_get_boolean(env, fd >= 0, &v);
  return v;
}

void spawn_register(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
    { "socketpair", NULL, js_socketpair, NULL, NULL, NULL, napi_default, NULL },
    { "spawn", NULL, js_spawn, NULL, NULL, NULL, napi_default, NULL },
    { "watchExit", NULL, js_watch_exit, NULL, NULL, NULL, napi_default, NULL },
    { "unrefWatch", NULL, js_unref_watch, NULL, NULL, NULL, napi_default, NULL },
    { "pidfdSupported", NULL, js_pidfd_supported, NULL, NULL, NULL, napi_default, NULL },
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
}
