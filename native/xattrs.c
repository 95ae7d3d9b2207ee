// xattrTree(root): every extended attribute of every entry under `root` (root included, symlinks
// not followed), walked on libuv's thread pool. A build step's commit must know whether its upper
// directory carries anything the layer tar cannot (store/tar.ts upperAttrs); `getfattr -R` told it
// at the cost of a process start (~2-3 ms here) for every step, most of them with a handful of
// entries and no attribute but overlayfs' own.
#define _GNU_SOURCE
#include "addon.h"
#include <errno.h>
#include <ftw.h>
#include <stdlib.h>
#include <string.h>
#include <sys/xattr.h>

struct attr { char *path; char *name; void *value; size_t len; };

struct walk {
  char *root;
  struct attr *attrs;
  size_t n, cap;
  int err;
  const char *failed;
  napi_deferred deferred;
  napi_async_work work;
};

// nftw's callback has no argument of its own: the walk of this pool thread.
static __thread struct walk *cur;

static int add(struct walk *w, const char *path, const char *name, void *value, size_t len) {
  if (w->n == w->cap) {
    size_t cap = w->cap ? 2 * w->cap : 16;
    struct attr *a = realloc(w->attrs, cap * sizeof *a);
    if (!a) return ENOMEM;
    w->attrs = a;
    w->cap = cap;
  }
  char *p = strdup(path), *n = strdup(name);
  if (!p || !n) { free(p); free(n); return ENOMEM; }
  w->attrs[w->n++] = (struct attr){ p, n, value, len };
  return 0;
}

// The attributes of one entry; an entry gone meanwhile, or a file system without xattrs, has none.
static int entry_attrs(struct walk *w, const char *path) {
  ssize_t size = llistxattr(path, NULL, 0);
  if (size < 0) return errno == ENOENT || errno == ENOTSUP ? 0 : errno;
  if (size == 0) return 0;
  char *names = malloc((size_t)size);
  if (!names) return ENOMEM;
  size = llistxattr(path, names, (size_t)size);
  // ERANGE: an attribute was added between the two calls; reported, not retried in a loop.
  if (size < 0) { int e = errno; free(names); return e; }
  int err = 0;
  for (char *n = names; n < names + size && !err; n += strlen(n) + 1) {
    ssize_t len = lgetxattr(path, n, NULL, 0);
    if (len < 0) { if (errno == ENODATA) continue; err = errno; break; }
    void *value = malloc(len ? (size_t)len : 1);
    if (!value) { err = ENOMEM; break; }
    len = lgetxattr(path, n, value, (size_t)len);
    if (len < 0) { err = errno; free(value); if (err == ENODATA) { err = 0; continue; } break; }
    err = add(w, path, n, value, (size_t)len);
    if (err) free(value);
  }
  free(names);
  return err;
}

static int visit(const char *path, const struct stat *st, int type, struct FTW *ftw) {
  (void)st; (void)ftw;
  // FTW_DNR (a directory it cannot read) would hide entries: an error, as getfattr says.
  if (type == FTW_DNR || type == FTW_NS) { cur->err = EACCES; cur->failed = "nftw"; return 1; }
  int e = entry_attrs(cur, path);
  if (e) { cur->err = e; cur->failed = "listxattr"; return 1; }
  return 0;
}

static void execute(napi_env env, void *p) {
  (void)env;
  struct walk *w = p;
  cur = w;
  // Up to 64 directory fds open at a time; FTW_PHYS: links are entries, not followed.
  if (nftw(w->root, visit, 64, FTW_PHYS) < 0 && !w->err) { w->err = errno; w->failed = "nftw"; }
  cur = NULL;
}

static void free_walk(struct walk *w) {
  for (size_t i = 0; i < w->n; i++) { free(w->attrs[i].path); free(w->attrs[i].name); free(w->attrs[i].value); }
  free(w->attrs);
  free(w->root);
  free(w);
}

static void complete(napi_env env, napi_status status, void *p) {
  struct walk *w = p;
  if (status != napi_ok || w->err) {
    napi_reject_deferred(env, w->deferred, errno_error(env, status == napi_ok ? w->err : ECANCELED, w->failed ? w->failed : "xattrTree", w->root));
  } else {
    napi_value list;
    napi_create_array_with_length(env, w->n, &list);
    for (size_t i = 0; i < w->n; i++) {
      napi_value item, path, name, value;
      napi_create_array_with_length(env, 3, &item);
      napi_create_string_utf8(env, w->attrs[i].path, NAPI_AUTO_LENGTH, &path);
      napi_create_string_utf8(env, w->attrs[i].name, NAPI_AUTO_LENGTH, &name);
      napi_create_buffer_copy(env, w->attrs[i].len, w->attrs[i].value, NULL, &value);
      napi_set_element(env, item, 0, path);
      napi_set_element(env, item, 1, name);
      napi_set_element(env, item, 2, value);
      napi_set_element(env, list, (uint32_t)i, item);
    }
    napi_resolve_deferred(env, w->deferred, list);
  }
  napi_delete_async_work(env, w->work);
  free_walk(w);
}

static napi_value js_xattr_tree(napi_env env, napi_callback_info info) {
  static const char usage[] = "xattrTree(root)";
  napi_value argv[1];
  if (!get_args(env, info, 1, argv, usage)) return NULL;
  struct walk *w = calloc(1, sizeof *w);
  if (!w) return throw_errno(env, ENOMEM, "xattrTree", NULL);
  w->root = dup_string(env, argv[0]);
  if (!w->root) { free(w); napi_throw_type_error(env, NULL, usage); return NULL; }
  napi_value promise, name;
  napi_create_promise(env, &w->deferred, &promise);
  napi_create_string_utf8(env, "dray_xattrs", NAPI_AUTO_LENGTH, &name);
  napi_create_async_work(env, NULL, name, execute, complete, w, &w->work);
  napi_queue_async_work(env, w->work);
  return promise;
}

void xattrs_register(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
    { "xattrTree", NULL, js_xattr_tree, NULL, NULL, NULL, napi_default, NULL },
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
}
