// User-namespace remapping (drayd --userns-remap) without copying image layers: a container's
// root file system is an overlay over *idmapped* mounts of the shared layer directories, so a file
// stored as uid 0 in a layer is seen as the remapped root (say 100000) by that container only.
//   idmapUserns(uidMap, gidMap)      a user namespace carrying the mapping, as an fd: what an
//                                    idmapped mount takes its mapping from (once per mapping)
//   idmapMount(source, target, fd)   open_tree(OPEN_TREE_CLONE) of source, mount_setattr(
//                                    MOUNT_ATTR_IDMAP) with that namespace, move_mount onto target
//   netnsSysctl(netns, keys, values) writes net.* sysctls of a network namespace from the host:
//                                    a remapped container's root cannot write those of a
//                                    namespace the host's user namespace owns (netavark's)
// Linux 5.12 has idmapped mounts, 5.19 overlayfs over idmapped layers.
#define _GNU_SOURCE
#include "addon.h"
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <linux/mount.h>

#ifndef MOUNT_ATTR_IDMAP
#define MOUNT_ATTR_IDMAP 0x00100000
#endif
#ifndef OPEN_TREE_CLONE
#define OPEN_TREE_CLONE 1
#endif
#ifndef MOVE_MOUNT_F_EMPTY_PATH
#define MOVE_MOUNT_F_EMPTY_PATH 0x00000004
#endif

struct mount_attr_v0 { uint64_t attr_set, attr_clr, propagation, userns_fd; };

static int write_file(const char *file, const char *text) {
  int fd = open(file, O_WRONLY | O_CLOEXEC);
  if (fd < 0) return errno;
  size_t len = strlen(text);
  ssize_t n = write(fd, text, len);
  int e = n < 0 ? errno : (size_t)n != len ? EIO : 0;
  close(fd);
  return e;
}

// idmapUserns(uidMap, gidMap): uid_map/gid_map texts ("0 100000 65536\n"). A child is cloned
// straight into a new user namespace (raw clone: no fork handlers run in a copy of a threaded
// process; the child only blocks in read(2) until the parent is done), the maps are written from
// here, its namespace opened, and the child ended. Synchronous: one clone per mapping per daemon.
static napi_value js_idmap_userns(napi_env env, napi_callback_info info) {
  static const char usage[] = "idmapUserns(uidMap, gidMap)";
  napi_value argv[2];
  if (!get_args(env, info, 2, argv, usage)) return NULL;
  char *uids = dup_string(env, argv[0]), *gids = dup_string(env, argv[1]);
  if (!uids || !gids) { free(uids); free(gids); napi_throw_type_error(env, NULL, usage); return NULL; }
  int p[2];
  if (pipe2(p, O_CLOEXEC) < 0) { free(uids); free(gids); return throw_errno(env, errno, "pipe2", NULL); }
  long pid = syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, 0, 0, 0, 0);
  if (pid == 0) {
    char c;
    syscall(SYS_close, p[1]);
    syscall(SYS_read, p[0], &c, 1);
    syscall(SYS_exit, 0);
  }
  close(p[0]);
  int e = 0, fd = -1;
  const char *failed = NULL;
  char file[64];
  if (pid < 0) { e = errno; failed = "clone"; }
  if (!e) { snprintf(file, sizeof file, "/proc/%ld/uid_map", pid); if ((e = write_file(file, uids))) failed = "write uid_map"; }
  if (!e) { snprintf(file, sizeof file, "/proc/%ld/gid_map", pid); if ((e = write_file(file, gids))) failed = "write gid_map"; }
  if (!e) {
    snprintf(file, sizeof file, "/proc/%ld/ns/user", pid);
    fd = open(file, O_RDONLY | O_CLOEXEC);
    if (fd < 0) { e = errno; failed = "open"; }
  }
  close(p[1]);
  if (pid > 0) { int st; while (waitpid((pid_t)pid, &st, 0) < 0 && errno == EINTR) {} }
  free(uids); free(gids);
  if (e) return throw_errno(env, e, failed, NULL);
  napi_value v;
  napi_create_int32(env, fd, &v);
  return v;
}

enum op { OP_IDMAP, OP_SYSCTL };

struct call {
  enum op op;
  char *source, *target;
  int nsfd;
  char **keys, **values;
  uint32_t n;
  int err;
  const char *failed;
  napi_deferred deferred;
  napi_async_work work;
};

static void free_call(struct call *c) {
  for (uint32_t i = 0; i < c->n; i++) { free(c->keys[i]); free(c->values[i]); }
  free(c->keys); free(c->values); free(c->source); free(c->target); free(c);
}

static int idmap_mount(struct call *c) {
  int tree = (int)syscall(SYS_open_tree, AT_FDCWD, c->source, OPEN_TREE_CLONE | O_CLOEXEC);
  if (tree < 0) { c->failed = "open_tree"; return errno; }
  struct mount_attr_v0 attr = { .attr_set = MOUNT_ATTR_IDMAP, .userns_fd = (uint64_t)c->nsfd };
  int e = 0;
  if (syscall(SYS_mount_setattr, tree, "", AT_EMPTY_PATH, &attr, sizeof attr) < 0) { e = errno; c->failed = "mount_setattr"; }
  else if (syscall(SYS_move_mount, tree, "", AT_FDCWD, c->target, MOVE_MOUNT_F_EMPTY_PATH) < 0) { e = errno; c->failed = "move_mount"; }
  close(tree);
  return e;
}

// On a pool thread, as netns_add in sys.c: the thread enters the namespace, writes, and goes back
// (or the process aborts rather than run later work in the wrong namespace). /proc/sys/net shows
// the namespace of the thread that opens it. Keys are sysctl names ("net.ipv4.ping_group_range");
// as runc, a "/" in a name (an interface's) stands for a "." in the path.
static int netns_sysctl(struct call *c) {
  int self = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
  if (self < 0) { c->failed = "open"; return errno; }
  int target = open(c->target, O_RDONLY | O_CLOEXEC);
  if (target < 0) { int e = errno; close(self); c->failed = "open"; return e; }
  int e = 0;
  if (setns(target, CLONE_NEWNET) < 0) { e = errno; c->failed = "setns"; }
  else {
    for (uint32_t i = 0; i < c->n && !e; i++) {
      char file[512];
      int len = snprintf(file, sizeof file, "/proc/sys/%s", c->keys[i]);
      if (len < 0 || (size_t)len >= sizeof file) { e = ENAMETOOLONG; c->failed = c->keys[i]; break; }
      for (char *q = file + 10; *q; q++) *q = *q == '.' ? '/' : *q == '/' ? '.' : *q;
      if ((e = write_file(file, c->values[i]))) c->failed = c->keys[i];
    }
    if (setns(self, CLONE_NEWNET) < 0) abort();
  }
  close(self); close(target);
  return e;
}

static void execute(napi_env env, void *p) {
  (void)env;
  struct call *c = p;
  c->err = c->op == OP_IDMAP ? idmap_mount(c) : netns_sysctl(c);
}

static void complete(napi_env env, napi_status status, void *p) {
  struct call *c = p;
  if (status == napi_ok && c->err == 0) {
    napi_value undef;
    napi_get_undefined(env, &undef);
    napi_resolve_deferred(env, c->deferred, undef);
  } else {
    int e = status == napi_ok ? c->err : ECANCELED;
    napi_reject_deferred(env, c->deferred, errno_error(env, e, c->failed ? c->failed : "idmap", c->op == OP_IDMAP ? c->source : c->target));
  }
  napi_delete_async_work(env, c->work);
  free_call(c);
}

static napi_value queue(napi_env env, struct call *c) {
  napi_value promise, name;
  napi_create_promise(env, &c->deferred, &promise);
  napi_create_string_utf8(env, "dray_idmap", NAPI_AUTO_LENGTH, &name);
  napi_create_async_work(env, NULL, name, execute, complete, c, &c->work);
  napi_queue_async_work(env, c->work);
  return promise;
}

static napi_value js_idmap_mount(napi_env env, napi_callback_info info) {
  static const char usage[] = "idmapMount(source, target, usernsFd)";
  napi_value argv[3];
  if (!get_args(env, info, 3, argv, usage)) return NULL;
  struct call *c = calloc(1, sizeof *c);
  c->op = OP_IDMAP;
  c->source = dup_string(env, argv[0]);
  c->target = dup_string(env, argv[1]);
  int32_t fd;
  if (!c->source || !c->target || napi_get_value_int32(env, argv[2], &fd) != napi_ok) {
    free_call(c);
    napi_throw_type_error(env, NULL, usage);
    return NULL;
  }
  c->nsfd = fd;
  return queue(env, c);
}

static napi_value js_netns_sysctl(napi_env env, napi_callback_info info) {
  static const char usage[] = "netnsSysctl(netnsPath, keys, values)";
  napi_value argv[3];
  if (!get_args(env, info, 3, argv, usage)) return NULL;
  struct call *c = calloc(1, sizeof *c);
  c->op = OP_SYSCTL;
  c->target = dup_string(env, argv[0]);
  uint32_t nk = 0, nv = 0;
  int ok = c->target && napi_get_array_length(env, argv[1], &nk) == napi_ok && napi_get_array_length(env, argv[2], &nv) == napi_ok && nk == nv && nk <= 256;
  if (ok) {
    c->keys = calloc(nk ? nk : 1, sizeof *c->keys);
    c->values = calloc(nk ? nk : 1, sizeof *c->values);
    for (uint32_t i = 0; i < nk && ok; i++) {
      napi_value k, v;
      napi_get_element(env, argv[1], i, &k);
      napi_get_element(env, argv[2], i, &v);
      c->keys[i] = dup_string(env, k);
      c->values[i] = dup_string(env, v);
      c->n = i + 1;
      ok = c->keys[i] && c->values[i];
    }
  }
  if (!ok) { free_call(c); napi_throw_type_error(env, NULL, usage); return NULL; }
  return queue(env, c);
}

void idmap_register(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
    { "idmapUserns", NULL, js_idmap_userns, NULL, NULL, NULL, napi_default, NULL },
    { "idmapMount", NULL, js_idmap_mount, NULL, NULL, NULL, napi_default, NULL },
    { "netnsSysctl", NULL, js_netns_sysctl, NULL, NULL, NULL, napi_default, NULL },
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
}
