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
#include <time.h>
#include <unistd.h>

// openInRoot(rootFd, path, flags, mode[, beneath]): an fd of `path` resolved inside rootFd,
// close-on-exec. Magic links (/proc/<pid>/fd/…, should a proc be mounted inside) are refused on
// the way. With `beneath` true the walk may not leave rootFd at all (RESOLVE_BENEATH): an absolute
// symlink or a `..` above it fails with EXDEV instead of being taken as the root, which is how a
// volume subpath that points outside its volume is told from one that stays in it.
static napi_value js_open_in_root(napi_env env, napi_callback_info info) {
  static const char usage[] = "openInRoot(rootFd, path, flags, mode[, beneath])";
  napi_value argv[5];
  int32_t ints[1];
  size_t argc = 5;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (!get_int_args(env, info, 4, argv, ints, 1, usage)) return NULL;
  int32_t flags, mode;
  bool beneath = false;
  char *p = dup_string(env, argv[1]);
  if (!p || napi_get_value_int32(env, argv[2], &flags) != napi_ok || napi_get_value_int32(env, argv[3], &mode) != napi_ok
      || (argc >= 5 && napi_get_value_bool(env, argv[4], &beneath) != napi_ok)) {
    free(p);
    napi_throw_type_error(env, NULL, usage);
    return NULL;
  }
  struct open_how how;
  memset(&how, 0, sizeof how);
  how.flags = (uint64_t)(uint32_t)flags | O_CLOEXEC;
  how.mode = (flags & (O_CREAT | __O_TMPFILE)) ? (uint64_t)mode : 0;
  how.resolve = (beneath ? RESOLVE_BENEATH : RESOLVE_IN_ROOT) | RESOLVE_NO_MAGICLINKS;
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

// ---- one entry of an archive, made through its directory's fd, on libuv's thread pool ----------
// A copy into a container makes thousands of small files; each was seven round trips through
// Node's fs (lstat, open, write, chown, chmod, utimes, close). Here each is one.

enum fop { F_CREATE, F_FINISH, F_MKDIR };

struct fcall {
  enum fop op;
  int dirfd, fd, finish;
  char *name;
  void *data;
  size_t len;
  napi_ref dataref;
  int mode, uid, gid;
  double mtime_ms;
  int result, err;
  const char *failed;
  napi_deferred deferred;
  napi_async_work work;
};

// Owner, then mode (a chown clears set-id bits), then times; closes fd. 0 or an errno.
static int finish_fd(struct fcall *c, int fd) {
  int e = 0;
  struct timespec ts[2];
  ts[0].tv_sec = (time_t)(c->mtime_ms / 1000);
  ts[0].tv_nsec = (long)((c->mtime_ms - (double)ts[0].tv_sec * 1000) * 1e6);
  if (ts[0].tv_nsec < 0 || ts[0].tv_nsec >= 1000000000L) ts[0].tv_nsec = 0;
  ts[1] = ts[0];
  if (fchown(fd, (uid_t)c->uid, (gid_t)c->gid) < 0) { e = errno; c->failed = "fchown"; }
  else if (fchmod(fd, (mode_t)c->mode) < 0) { e = errno; c->failed = "fchmod"; }
  else if (futimens(fd, ts) < 0) { e = errno; c->failed = "futimens"; }
  if (close(fd) < 0 && !e) { e = errno; c->failed = "close"; }
  return e;
}

// A new regular file `name` in dirfd: an existing non-directory there is replaced (never followed:
// O_EXCL | O_NOFOLLOW), an existing directory is EISDIR for the caller to decide about.
static void do_create(struct fcall *c) {
  int fd = -1;
  for (int tries = 0; tries < 3 && fd < 0; tries++) {
    fd = openat(c->dirfd, c->name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd >= 0) break;
    if (errno != EEXIST) { c->err = errno; c->failed = "openat"; return; }
    struct stat st;
    if (fstatat(c->dirfd, c->name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
      if (errno == ENOENT) continue;
      c->err = errno; c->failed = "fstatat"; return;
    }
    if (S_ISDIR(st.st_mode)) { c->err = EISDIR; c->failed = "openat"; return; }
    if (unlinkat(c->dirfd, c->name, 0) < 0 && errno != ENOENT) { c->err = errno; c->failed = "unlinkat"; return; }
  }
  if (fd < 0) { c->err = EEXIST; c->failed = "openat"; return; }
  for (size_t done = 0; done < c->len;) {
    ssize_t n = write(fd, (char *)c->data + done, c->len - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) { c->err = n < 0 ? errno : EIO; c->failed = "write"; close(fd); return; }
    done += (size_t)n;
  }
  if (c->finish) { c->err = finish_fd(c, fd); c->result = -1; }
  else c->result = fd;
}

// Directory `name` in dirfd (made 0700 when missing, so nothing reaches it before its mode is
// set), owned and moded as asked; its fd (O_RDONLY) is the result. A non-directory in the way is
// ENOTDIR for the caller to decide about.
static void do_mkdir(struct fcall *c) {
  if (mkdirat(c->dirfd, c->name, 0700) < 0) {
    if (errno != EEXIST) { c->err = errno; c->failed = "mkdirat"; return; }
    struct stat st;
    if (fstatat(c->dirfd, c->name, &st, AT_SYMLINK_NOFOLLOW) < 0) { c->err = errno; c->failed = "fstatat"; return; }
    if (!S_ISDIR(st.st_mode)) { c->err = ENOTDIR; c->failed = "mkdirat"; return; }
  }
  int fd = openat(c->dirfd, c->name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) { c->err = errno; c->failed = "openat"; return; }
  if (fchown(fd, (uid_t)c->uid, (gid_t)c->gid) < 0) { c->err = errno; c->failed = "fchown"; }
  else if (fchmod(fd, (mode_t)c->mode) < 0) { c->err = errno; c->failed = "fchmod"; }
  if (c->err) { close(fd); return; }
  c->result = fd;
}

static void fexecute(napi_env env, void *p) {
  (void)env;
  struct fcall *c = p;
  if (c->op == F_CREATE) do_create(c);
  else if (c->op == F_MKDIR) do_mkdir(c);
  else { c->err = finish_fd(c, c->fd); c->result = -1; }
}

static void fcomplete(napi_env env, napi_status status, void *p) {
  struct fcall *c = p;
  if (status == napi_ok && c->err == 0) {
    napi_value v;
    napi_create_int32(env, c->result, &v);
    napi_resolve_deferred(env, c->deferred, v);
  } else {
    napi_reject_deferred(env, c->deferred, errno_error(env, status == napi_ok ? c->err : ECANCELED, c->failed ? c->failed : "fileop", c->name));
  }
  if (c->dataref) napi_delete_reference(env, c->dataref);
  napi_delete_async_work(env, c->work);
  free(c->name);
  free(c);
}

static napi_value fstart(napi_env env, struct fcall *c) {
  napi_value promise, name;
  napi_create_promise(env, &c->deferred, &promise);
  napi_create_string_utf8(env, "dray_fileop", NAPI_AUTO_LENGTH, &name);
  napi_create_async_work(env, NULL, name, fexecute, fcomplete, c, &c->work);
  napi_queue_async_work(env, c->work);
  return promise;
}

// Reads (mode, uid, gid, mtimeMs) from argv[0..3] into c; 0 on a bad argument.
static int meta_args(napi_env env, napi_value *argv, struct fcall *c) {
  int32_t m, u, g;
  if (napi_get_value_int32(env, argv[0], &m) != napi_ok || napi_get_value_int32(env, argv[1], &u) != napi_ok
      || napi_get_value_int32(env, argv[2], &g) != napi_ok || napi_get_value_double(env, argv[3], &c->mtime_ms) != napi_ok) return 0;
  c->mode = m; c->uid = u; c->gid = g;
  return 1;
}

static napi_value bad(napi_env env, struct fcall *c, const char *usage) {
  if (c->dataref) napi_delete_reference(env, c->dataref);
  free(c->name);
  free(c);
  napi_throw_type_error(env, NULL, usage);
  return NULL;
}

// createFileAt(dirFd, name, data, finish, mode, uid, gid, mtimeMs): resolves with the new file's
// fd for more writes, or -1 once it is written, owned, moded, timed and closed (finish).
static napi_value js_create_file_at(napi_env env, napi_callback_info info) {
  static const char usage[] = "createFileAt(dirFd, name, data, finish, mode, uid, gid, mtimeMs)";
  napi_value argv[8];
  if (!get_args(env, info, 8, argv, usage)) return NULL;
  struct fcall *c = calloc(1, sizeof *c);
  c->op = F_CREATE;
  c->name = dup_string(env, argv[1]);
  bool isbuf = false, fin = false;
  napi_is_buffer(env, argv[2], &isbuf);
  if (!c->name || !*c->name || strchr(c->name, '/') || napi_get_value_int32(env, argv[0], &c->dirfd) != napi_ok
      || napi_get_value_bool(env, argv[3], &fin) != napi_ok || !meta_args(env, argv + 4, c)) return bad(env, c, usage);
  if (isbuf) {
    napi_get_buffer_info(env, argv[2], &c->data, &c->len);
    napi_create_reference(env, argv[2], 1, &c->dataref);
  }
  c->finish = fin;
  return fstart(env, c);
}

// finishFile(fd, mode, uid, gid, mtimeMs): owner, mode and times of a file createFileAt left
// open, then closes it.
static napi_value js_finish_file(napi_env env, napi_callback_info info) {
  static const char usage[] = "finishFile(fd, mode, uid, gid, mtimeMs)";
  napi_value argv[5];
  if (!get_args(env, info, 5, argv, usage)) return NULL;
  struct fcall *c = calloc(1, sizeof *c);
  c->op = F_FINISH;
  if (napi_get_value_int32(env, argv[0], &c->fd) != napi_ok || !meta_args(env, argv + 1, c)) return bad(env, c, usage);
  return fstart(env, c);
}

// mkdirAt(dirFd, name, mode, uid, gid): resolves with an fd of the directory.
static napi_value js_mkdir_at(napi_env env, napi_callback_info info) {
  static const char usage[] = "mkdirAt(dirFd, name, mode, uid, gid)";
  napi_value argv[5];
  if (!get_args(env, info, 5, argv, usage)) return NULL;
  struct fcall *c = calloc(1, sizeof *c);
  c->op = F_MKDIR;
  c->name = dup_string(env, argv[1]);
  int32_t m, u, g;
  if (!c->name || !*c->name || strchr(c->name, '/') || napi_get_value_int32(env, argv[0], &c->dirfd) != napi_ok
      || napi_get_value_int32(env, argv[2], &m) != napi_ok || napi_get_value_int32(env, argv[3], &u) != napi_ok
      || napi_get_value_int32(env, argv[4], &g) != napi_ok) return bad(env, c, usage);
  c->mode = m; c->uid = u; c->gid = g;
  return fstart(env, c);
}

void inroot_register(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
    { "openInRoot", NULL, js_open_in_root, NULL, NULL, NULL, napi_default, NULL },
    { "mknodAt", NULL, js_mknod_at, NULL, NULL, NULL, napi_default, NULL },
    { "setxattr", NULL, js_setxattr, NULL, NULL, NULL, napi_default, NULL },
    { "createFileAt", NULL, js_create_file_at, NULL, NULL, NULL, napi_default, NULL },
    { "finishFile", NULL, js_finish_file, NULL, NULL, NULL, napi_default, NULL },
    { "mkdirAt", NULL, js_mkdir_at, NULL, NULL, NULL, napi_default, NULL },
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
}
