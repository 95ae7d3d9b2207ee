// Paths inside a container's root filesystem, resolved by the kernel: openat2(2) with
// RESOLVE_IN_ROOT treats the root's fd as "/" for every component, `..` and symlink of the walk,
// at the moment of the call, so a container that swaps a directory for a symlink mid-copy cannot
// send drayd outside its root. Node.js has no *at system calls; with a directory fd from here,
// "/proc/self/fd/<fd>/<name>" names one entry of that very directory (the magic link is the open
// directory, not a path walked again), which is how src/lib/in-root.ts does the rest. The two
// calls Node.js lacks even by path (mknod, setxattr) are here too. All synchronous: each is one
// system call on a directory already in the cache.
#define _GNU_SOURCE
#include "addon.h"
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

// openInRoot(rootFd, path, flags, mode): an fd of `path` resolved inside rootFd, close-on-exec.
// Magic links (/proc/<pid>/fd/…, should a proc be mounted inside) are refused on the way.
static napi_value js_open_in_root(napi_env env, napi_callback_info info) {
  static const char usage[] = "openInRoot(rootFd, path, flags, mode)";
  napi_value argv[4];
  int32_t ints[1];
  if (!get_int_args(env, info, 4, argv, ints, 1, usage)) return NULL;
  int32_t flags, mode;
  char *p = dup_string(env, argv[1]);
  if (!p || napi_get_value_int32(env, argv[2], &flags) != napi_ok || napi_get_value_int32(env, argv[3], &mode) != napi_ok) {
    free(p);
    napi_throw_type_error(env, NULL, usage);
    return NULL;
  }
  struct open_how how;
  memset(&how, 0, sizeof how);
  how.flags = (uint64_t)(uint32_t)flags | O_CLOEXEC;
  how.mode = (flags & (O_CREAT | __O_TMPFILE)) ? (uint64_t)mode : 0;
  how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
  int fd;
  do fd = (int)syscall(SYS_openat2, ints[0], p, &how, sizeof how); while (fd < 0 && errno == EINTR);
  if (fd < 0) { napi_value r = throw_errno(env, errno, "openat2", p); free(p); return r; }
  free(p);
  napi_value v;
  napi_create_int32(env, fd, &v);
  return v;
}

// mknodAt(dirFd, name, mode, major, minor): a device node or FIFO (mode carries the type bits)
// named `name` in the directory dirFd; `name` is one component and an existing entry is EEXIST.
static napi_value js_mknod_at(napi_env env, napi_callback_info info) {
  static const char usage[] = "mknodAt(dirFd, name, mode, major, minor)";
  napi_value argv[5];
  int32_t dirfd, mode, major_, minor_;
  if (!get_args(env, info, 5, argv, usage)) return NULL;
  char *name = dup_string(env, argv[1]);
  if (!name || napi_get_value_int32(env, argv[0], &dirfd) != napi_ok || napi_get_value_int32(env, argv[2], &mode) != napi_ok
      || napi_get_value_int32(env, argv[3], &major_) != napi_ok || napi_get_value_int32(env, argv[4], &minor_) != napi_ok
      || strchr(name, '/') || !*name) {
    free(name);
    napi_throw_type_error(env, NULL, usage);
    return NULL;
  }
  int r = mknodat(dirfd, name, (mode_t)mode, makedev((unsigned)major_, (unsigned)minor_));
  napi_value out = NULL;
  if (r < 0) out = throw_errno(env, errno, "mknodat", name);
  else napi_get_undefined(env, &out);
  free(name);
  return out;
}

// setxattr(path, name, value): an extended attribute, as Node.js has no call for them; `path` is
// "/proc/self/fd/<fd>" here, whose magic link is followed to the file open as fd.
static napi_value js_setxattr(napi_env env, napi_callback_info info) {
  static const char usage[] = "setxattr(path, name, value)";
  napi_value argv[3];
  if (!get_args(env, info, 3, argv, usage)) return NULL;
  char *p = dup_string(env, argv[0]), *name = dup_string(env, argv[1]);
  void *data = NULL;
  size_t len = 0;
  bool isbuf = false;
  napi_is_buffer(env, argv[2], &isbuf);
  if (!p || !name || !isbuf || napi_get_buffer_info(env, argv[2], &data, &len) != napi_ok) {
    free(p); free(name);
    napi_throw_type_error(env, NULL, usage);
    return NULL;
  }
  napi_value out = NULL;
  if (setxattr(p, name, data, len, 0) < 0) out = throw_errno(env, errno, "setxattr", p);
  else napi_get_undefined(env, &out);
  free(p); free(name);
  return out;
}

void inroot_register(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
    { "openInRoot", NULL, js_open_in_root, NULL, NULL, NULL, napi_default, NULL },
    { "mknodAt", NULL, js_mknod_at, NULL, NULL, NULL, napi_default, NULL },
    { "setxattr", NULL, js_setxattr, NULL, NULL, NULL, napi_default, NULL },
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
}
