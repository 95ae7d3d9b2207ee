// User-namespace remapping (drayd --userns-remap) without copying image layers: a container's
// root file system is an overlay over *idmapped* mounts of the shared layer directories, so a file
// stored as uid 0 in a layer is seen as the remapped root (say 100000) by that container only.
//   idmapUserns(uidMap, gidMap)      a user namespace carrying the mapping, as an fd: what an
//                                    idmapped mount takes its mapping from (once per mapping)
//   idmapMount(source, target, fd)   open_tree(OPEN_TREE_CLONE) of source, mount_setattr(
//                                    MOUNT_ATTR_IDMAP) with that namespace, move_mount onto target
//   usernsAt(file, uidMap, gidMap)   a new user namespace with the mapping, kept by a bind mount
//                                    on `file` (as `ip netns add` keeps a network namespace): a
//                                    remapped container joins it, and its network namespace
//   netnsAt(file, usernsFile)        a new network namespace owned by that user namespace, kept
//                                    on `file`: the container's root then has its capabilities
//                                    over its own network (ping, NET_ADMIN, sysctls), as under a
//                                    remapped dockerd, whose runtime makes the namespace
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
#include <sys/mount.h>
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

enum op { OP_IDMAP, OP_USERNS_AT, OP_NETNS_AT };

struct call {
  enum op op;
  char *source, *target, *uids, *gids;
  int nsfd;
  int err;
  const char *failed;
  napi_deferred deferred;
  napi_async_work work;
};

static void free_call(struct call *c) {
  free(c->source); free(c->target); free(c->uids); free(c->gids); free(c);
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

// A child that enters (or makes) namespaces and waits; the parent binds one of them onto a file.
// Raw clone on a pool thread: the child is a copy of that thread alone and makes system calls only.
// mode OP_USERNS_AT: the child is cloned into a new user namespace, the parent writes its maps.
// mode OP_NETNS_AT: the child joins the user namespace at c->source, then unshares its network.
static int ns_at(struct call *c) {
  int nsfd = -1;
  if (c->op == OP_NETNS_AT && (nsfd = open(c->source, O_RDONLY | O_CLOEXEC)) < 0) { c->failed = "open"; return errno; }
  int fd = open(c->target, O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0);
  if (fd < 0) { int e = errno; if (nsfd >= 0) close(nsfd); c->failed = "open"; return e; }
  close(fd);
  int ready[2], done[2];
  if (pipe2(ready, O_CLOEXEC) < 0) { int e = errno; if (nsfd >= 0) close(nsfd); unlink(c->target); c->failed = "pipe2"; return e; }
  if (pipe2(done, O_CLOEXEC) < 0) { int e = errno; close(ready[0]); close(ready[1]); if (nsfd >= 0) close(nsfd); unlink(c->target); c->failed = "pipe2"; return e; }
  long pid = syscall(SYS_clone, (c->op == OP_USERNS_AT ? CLONE_NEWUSER : 0) | SIGCHLD, 0, 0, 0, 0);
  if (pid == 0) {
    char x = 0, b;
    if (c->op == OP_NETNS_AT && (syscall(SYS_setns, nsfd, CLONE_NEWUSER) < 0 || syscall(SYS_unshare, CLONE_NEWNET) < 0)) x = 1;
    syscall(SYS_write, ready[1], &x, 1);
    syscall(SYS_close, done[1]);
    syscall(SYS_read, done[0], &b, 1);
    syscall(SYS_exit, 0);
  }
  close(ready[1]); close(done[0]);
  if (nsfd >= 0) close(nsfd);
  int e = 0;
  char file[64], x = 1;
  if (pid < 0) { e = errno; c->failed = "clone"; }
  if (!e && (read(ready[0], &x, 1) != 1 || x != 0)) { e = EPERM; c->failed = "setns/unshare"; }
  if (!e && c->op == OP_USERNS_AT) {
    snprintf(file, sizeof file, "/proc/%ld/uid_map", pid);
    if ((e = write_file(file, c->uids))) c->failed = "write uid_map";
    snprintf(file, sizeof file, "/proc/%ld/gid_map", pid);
    if (!e && (e = write_file(file, c->gids))) c->failed = "write gid_map";
  }
  if (!e) {
    snprintf(file, sizeof file, "/proc/%ld/ns/%s", pid, c->op == OP_USERNS_AT ? "user" : "net");
    if (mount(file, c->target, "none", MS_BIND, NULL) < 0) { e = errno; c->failed = "mount"; }
  }
  close(done[1]); close(ready[0]);
  if (pid > 0) { int st; while (waitpid((pid_t)pid, &st, 0) < 0 && errno == EINTR) {} }
  if (e) unlink(c->target);
  return e;
}

static void execute(napi_env env, void *p) {
  (void)env;
  struct call *c = p;
  c->err = c->op == OP_IDMAP ? idmap_mount(c) : ns_at(c);
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

static napi_value js_userns_at(napi_env env, napi_callback_info info) {
  static const char usage[] = "usernsAt(file, uidMap, gidMap)";
  napi_value argv[3];
  if (!get_args(env, info, 3, argv, usage)) return NULL;
  struct call *c = calloc(1, sizeof *c);
  c->op = OP_USERNS_AT;
  c->target = dup_string(env, argv[0]);
  c->uids = dup_string(env, argv[1]);
  c->gids = dup_string(env, argv[2]);
  if (!c->target || !c->uids || !c->gids) { free_call(c); napi_throw_type_error(env, NULL, usage); return NULL; }
  return queue(env, c);
}

static napi_value js_netns_at(napi_env env, napi_callback_info info) {
  static const char usage[] = "netnsAt(file, usernsFile)";
  napi_value argv[2];
  if (!get_args(env, info, 2, argv, usage)) return NULL;
  struct call *c = calloc(1, sizeof *c);
  c->op = OP_NETNS_AT;
  c->target = dup_string(env, argv[0]);
  c->source = dup_string(env, argv[1]);
  if (!c->target || !c->source) { free_call(c); napi_throw_type_error(env, NULL, usage); return NULL; }
  return queue(env, c);
}

void idmap_register(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
    { "idmapUserns", NULL, js_idmap_userns, NULL, NULL, NULL, napi_default, NULL },
    { "idmapMount", NULL, js_idmap_mount, NULL, NULL, NULL, napi_default, NULL },
    { "usernsAt", NULL, js_userns_at, NULL, NULL, NULL, napi_default, NULL },
    { "netnsAt", NULL, js_netns_at, NULL, NULL, NULL, napi_default, NULL },
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
}
