// mount(2), umount2(2) and named network namespaces for drayd, run on libuv's thread pool (process
// creation is in spawn.c), and a sealed in-memory copy of an executable (sealedCopy). Spawning
// mount(8) and umount(8) for every container start and exit cost two process starts each time
// (10–15 ms apiece on a slow VM); the syscalls themselves take well under a millisecond, except an
// overlay unmount that syncs its upper file system, which is why they do not run on the event loop.
#define _GNU_SOURCE
#include "addon.h"
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <malloc.h>

enum op { OP_MOUNT, OP_UMOUNT, OP_NETNS };

// errno positive here, code as "ENOENT".
napi_value errno_error(napi_env env, int e, const char *syscall, const char *path) {
  napi_value msg, err, v;
  char text[512];
  snprintf(text, sizeof text, "%s %s: %s", syscall, path ? path : "", strerror(e));
  napi_create_string_utf8(env, text, NAPI_AUTO_LENGTH, &msg);
  napi_create_error(env, NULL, msg, &err);
  napi_create_int32(env, e, &v);
  napi_set_named_property(env, err, "errno", v);
  const char *code = strerrorname_np(e);
  if (code) { napi_create_string_utf8(env, code, NAPI_AUTO_LENGTH, &v); napi_set_named_property(env, err, "code", v); }
  napi_create_string_utf8(env, syscall, NAPI_AUTO_LENGTH, &v);
  napi_set_named_property(env, err, "syscall", v);
  if (path) { napi_create_string_utf8(env, path, NAPI_AUTO_LENGTH, &v); napi_set_named_property(env, err, "path", v); }
  return err;
}

struct call {
  enum op op;
  char *source, *target, *fstype, *data;
  unsigned long flags;
  int err;
  napi_deferred deferred;
  napi_async_work work;
};

static void free_call(struct call *c) {
  free(c->source); free(c->target); free(c->fstype); free(c->data); free(c);
}

// What `ip netns add` does once /run/netns is set up: a new network namespace, kept by a bind
// mount on an empty file. unshare() moves only the calling thread, a pool thread here, which is
// moved back before it runs anything else; if that ever failed the thread would run later work
// in the wrong namespace, so the process aborts instead.
static int netns_add(const char *path) {
  int self = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
  if (self < 0) return errno;
  int fd = open(path, O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0);
  if (fd < 0) { int e = errno; close(self); return e; }
  close(fd);
  int err = 0;
  if (unshare(CLONE_NEWNET) < 0) {
    err = errno;
  } else {
    if (mount("/proc/thread-self/ns/net", path, "none", MS_BIND, NULL) < 0) err = errno;
    if (setns(self, CLONE_NEWNET) < 0) abort();
  }
  close(self);
  if (err) unlink(path);
  return err;
}

static void execute(napi_env env, void *p) {
  (void)env;
  struct call *c = p;
  if (c->op == OP_NETNS) { c->err = netns_add(c->target); return; }
  int r = c->op == OP_MOUNT
    ? mount(c->source, c->target, c->fstype, c->flags, c->data)
    : umount2(c->target, (int)c->flags);
  c->err = r < 0 ? errno : 0;
}

static void complete(napi_env env, napi_status status, void *p) {
  struct call *c = p;
  if (status == napi_ok && c->err == 0) {
    napi_value undef;
    napi_get_undefined(env, &undef);
    napi_resolve_deferred(env, c->deferred, undef);
  } else {
    int e = status == napi_ok ? c->err : ECANCELED;
    const char *name = c->op == OP_MOUNT ? "mount" : c->op == OP_UMOUNT ? "umount2" : "netns_add";
    napi_reject_deferred(env, c->deferred, errno_error(env, e, name, c->target));
  }
  napi_delete_async_work(env, c->work);
  free_call(c);
}

// Returns a malloc'd copy of a string argument, NULL for null/undefined; sets *ok = 0 on a bad type.
static char *string_arg(napi_env env, napi_value v, int *ok) {
  napi_valuetype t;
  napi_typeof(env, v, &t);
  if (t == napi_null || t == napi_undefined) return NULL;
  size_t len;
  if (napi_get_value_string_utf8(env, v, NULL, 0, &len) != napi_ok) { *ok = 0; return NULL; }
  char *s = malloc(len + 1);
  napi_get_value_string_utf8(env, v, s, len + 1, &len);
  return s;
}

static napi_value start(napi_env env, struct call *c) {
  napi_value promise, name;
  napi_create_promise(env, &c->deferred, &promise);
  napi_create_string_utf8(env, "dray_sys", NAPI_AUTO_LENGTH, &name);
  napi_create_async_work(env, NULL, name, execute, complete, c, &c->work);
  napi_queue_async_work(env, c->work);
  return promise;
}

// The n arguments of a call, or a TypeError naming `usage` when fewer were given.
int get_args(napi_env env, napi_callback_info info, size_t n, napi_value *argv, const char *usage) {
  size_t argc = n;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc >= n) return 1;
  napi_throw_type_error(env, NULL, usage);
  return 0;
}

napi_value hex_string(napi_env env, const unsigned char *bytes, size_t n) {
  static const char hex[] = "0123456789abcdef";
  char s[128];
  if (n > sizeof s / 2) n = sizeof s / 2;
  for (size_t i = 0; i < n; i++) { s[2 * i] = hex[bytes[i] >> 4]; s[2 * i + 1] = hex[bytes[i] & 15]; }
  napi_value v;
  napi_create_string_latin1(env, s, 2 * n, &v);
  return v;
}

int get_int_args(napi_env env, napi_callback_info info, size_t n, napi_value *argv, int32_t *ints, size_t nints, const char *usage) {
  if (!get_args(env, info, n, argv, usage)) return 0;
  for (size_t i = 0; i < nints; i++) {
    if (napi_get_value_int32(env, argv[i], &ints[i]) != napi_ok) { napi_throw_type_error(env, NULL, usage); return 0; }
  }
  return 1;
}

// Queues the call, or drops it with a TypeError naming `usage` when an argument was bad.
static napi_value queue(napi_env env, struct call *c, int ok, const char *usage) {
  if (ok && c->target) return start(env, c);
  free_call(c);
  napi_throw_type_error(env, NULL, usage);
  return NULL;
}

static const char MOUNT_USAGE[] = "mount(source, target, fstype, flags, data)";
static const char UMOUNT_USAGE[] = "umount2(target, flags)";
static const char NETNS_USAGE[] = "netnsAdd(path)";

static napi_value js_mount(napi_env env, napi_callback_info info) {
  napi_value argv[5];
  if (!get_args(env, info, 5, argv, MOUNT_USAGE)) return NULL;
  struct call *c = calloc(1, sizeof *c);
  int ok = 1;
  c->op = OP_MOUNT;
  c->source = string_arg(env, argv[0], &ok);
  c->target = string_arg(env, argv[1], &ok);
  c->fstype = string_arg(env, argv[2], &ok);
  double flags = 0;
  if (napi_get_value_double(env, argv[3], &flags) != napi_ok) ok = 0;
  c->flags = (unsigned long)flags;
  c->data = string_arg(env, argv[4], &ok);
  return queue(env, c, ok, MOUNT_USAGE);
}

static napi_value js_umount2(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  if (!get_args(env, info, 2, argv, UMOUNT_USAGE)) return NULL;
  struct call *c = calloc(1, sizeof *c);
  int ok = 1;
  c->op = OP_UMOUNT;
  c->target = string_arg(env, argv[0], &ok);
  int32_t flags = 0;
  if (napi_get_value_int32(env, argv[1], &flags) != napi_ok) ok = 0;
  c->flags = (unsigned long)flags;
  return queue(env, c, ok, UMOUNT_USAGE);
}

static napi_value js_netns_add(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  if (!get_args(env, info, 1, argv, NETNS_USAGE)) return NULL;
  struct call *c = calloc(1, sizeof *c);
  int ok = 1;
  c->op = OP_NETNS;
  c->target = string_arg(env, argv[0], &ok);
  return queue(env, c, ok, NETNS_USAGE);
}

#ifndef MFD_EXEC
#define MFD_EXEC 0x0010U
#endif
#define EXEC_SEALS (F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE)

// sealedCopy(path, name): a memfd holding the executable at `path`, sealed against any change, as
// an fd of this process (close-on-exec; others run it as /proc/<pid>/fd/<fd>). crun defends
// against a container overwriting the host's binary (CVE-2019-5736) by making such a copy of
// itself and re-executing from it on every run, unless it already runs from one: one copy made
// here spares each crun that second start. Synchronous: a few hundred KB, once per daemon.
static napi_value js_sealed_copy(napi_env env, napi_callback_info info) {
  static const char usage[] = "sealedCopy(path, name)";
  napi_value argv[2];
  if (!get_args(env, info, 2, argv, usage)) return NULL;
  int ok = 1;
  char *src = string_arg(env, argv[0], &ok), *name = string_arg(env, argv[1], &ok);
  if (!ok || !src || !name) { free(src); free(name); napi_throw_type_error(env, NULL, usage); return NULL; }
  const char *failed = NULL;
  int e = 0, fd = -1, in = open(src, O_RDONLY | O_CLOEXEC);
  struct stat st;
  if (in < 0 || fstat(in, &st) < 0) { failed = "open"; e = errno; goto out; }
  // MFD_EXEC keeps kernels with vm.memfd_noexec from making the copy non-executable; older
  // kernels do not know the flag (EINVAL) and make every memfd executable.
  fd = memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING | MFD_EXEC);
  if (fd < 0 && errno == EINVAL) fd = memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (fd < 0) { failed = "memfd_create"; e = errno; goto out; }
  for (off_t done = 0; done < st.st_size;) {
    ssize_t n = sendfile(fd, in, NULL, (size_t)(st.st_size - done));
    if (n <= 0) { failed = "sendfile"; e = n < 0 ? errno : EIO; goto out; }
    done += n;
  }
  if (fchmod(fd, 0555) < 0 || fcntl(fd, F_ADD_SEALS, EXEC_SEALS) < 0) { failed = "seal"; e = errno; goto out; }
out:
  if (in >= 0) close(in);
  napi_value result = NULL;
  if (failed) {
    if (fd >= 0) close(fd);
    napi_throw(env, errno_error(env, e, failed, src));
  } else {
    napi_create_int32(env, fd, &result);
  }
  free(src); free(name);
  return result;
}

void spawn_register(napi_env env, napi_value exports);
void warm_register(napi_env env, napi_value exports);
void blake3_register(napi_env env, napi_value exports);
void inroot_register(napi_env env, napi_value exports);
void idmap_register(napi_env env, napi_value exports);
void sha256_register(napi_env env, napi_value exports);
void xattrs_register(napi_env env, napi_value exports);

// malloc_trim(0): gives the allocator's free pages back to the system, also those between live
// chunks, which glibc's automatic trimming (top of the heap only) never returns. Returns whether
// any memory was released.
static napi_value js_malloc_trim(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value v;
  napi_get_boolean(env, malloc_trim(0) != 0, &v);
  return v;
}

// flock(fd, LOCK_EX | LOCK_NB): whether this process now holds the lock (false: another has it).
// The lock lives as long as the fd, and the kernel drops it when the process dies, however it dies:
// what keeps two drayd off one data root without stale pid files.
static napi_value js_try_lock(napi_env env, napi_callback_info info) {
  static const char usage[] = "tryLock(fd)";
  napi_value argv[1];
  int32_t fd;
  if (!get_int_args(env, info, 1, argv, &fd, 1, usage)) return NULL;
  napi_value v;
  if (flock(fd, LOCK_EX | LOCK_NB) == 0) { napi_get_boolean(env, true, &v); return v; }
  if (errno == EWOULDBLOCK) { napi_get_boolean(env, false, &v); return v; }
  return throw_errno(env, errno, "flock", NULL);
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
    { "mount", NULL, js_mount, NULL, NULL, NULL, napi_default, NULL },
    { "umount2", NULL, js_umount2, NULL, NULL, NULL, napi_default, NULL },
    { "netnsAdd", NULL, js_netns_add, NULL, NULL, NULL, napi_default, NULL },
    { "mallocTrim", NULL, js_malloc_trim, NULL, NULL, NULL, napi_default, NULL },
    { "sealedCopy", NULL, js_sealed_copy, NULL, NULL, NULL, napi_default, NULL },
    { "tryLock", NULL, js_try_lock, NULL, NULL, NULL, napi_default, NULL },
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  spawn_register(env, exports);
  warm_register(env, exports);
  blake3_register(env, exports);
  inroot_register(env, exports);
  idmap_register(env, exports);
  sha256_register(env, exports);
  xattrs_register(env, exports);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
