// SHA-256 on libuv's thread pool, for the registry server's uploads (src/lib/sha256-pool.ts):
// hashing a layer on the event loop's thread holds it for about half the time an upload takes,
// while the bytes themselves go to the file from the pool already. OpenSSL's code, the one
// node:crypto runs (the symbols come from the node binary, which exports them to addons).
//
//   sha256New()                  a hasher (an external; freed with it)
//   sha256Update(h, bufs, cb)    hashes the buffers in order on the pool, then cb(err); one call
//                                in flight per hasher (a second one throws); the buffers are held
//                                until cb and must not change meanwhile
//   sha256Hex(h)                 the hash of what it was given so far, as hex; h stays usable
#include "addon.h"
#include <errno.h>
#include <stdlib.h>
#include <openssl/evp.h>

typedef struct {
  EVP_MD_CTX *ctx;
  int busy;
} hasher_t;

typedef struct {
  hasher_t *h;
  napi_ref hasher_ref;  // keeps the hasher's external alive while the pool uses it
  napi_ref bufs_ref;    // keeps the buffers alive (and where they are)
  napi_ref cb_ref;
  napi_async_work work;
  size_t n;
  const void **ptr;
  size_t *len;
  int failed;
} job_t;

static void free_hasher(napi_env env, void *data, void *hint) {
  (void)env; (void)hint;
  hasher_t *h = data;
  EVP_MD_CTX_free(h->ctx);
  free(h);
}

static napi_value wrap(napi_env env, EVP_MD_CTX *ctx) {
  hasher_t *h = calloc(1, sizeof *h);
  if (!h) { EVP_MD_CTX_free(ctx); return throw_errno(env, ENOMEM, "sha256New", NULL); }
  h->ctx = ctx;
  napi_value v;
  if (napi_create_external(env, h, free_hasher, NULL, &v) != napi_ok) { free_hasher(env, h, NULL); return NULL; }
  return v;
}

static napi_value js_new(napi_env env, napi_callback_info info) {
  (void)info;
  EVP_MD_CTX *ctx = EVP_MD_CTX_new();
  if (!ctx || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1) {
    EVP_MD_CTX_free(ctx);
    napi_throw_error(env, NULL, "sha256New: OpenSSL could not start a SHA-256 context");
    return NULL;
  }
  return wrap(env, ctx);
}

static hasher_t *hasher_arg(napi_env env, napi_value v, const char *usage) {
  void *h = NULL;
  if (napi_get_value_external(env, v, &h) != napi_ok || !h) { napi_throw_type_error(env, NULL, usage); return NULL; }
  return h;
}

static void execute(napi_env env, void *data) {
  (void)env;
  job_t *j = data;
  for (size_t i = 0; i < j->n; i++) {
    if (EVP_DigestUpdate(j->h->ctx, j->ptr[i], j->len[i]) != 1) { j->failed = 1; return; }
  }
}

static void free_job(napi_env env, job_t *j) {
  if (j->hasher_ref) napi_delete_reference(env, j->hasher_ref);
  if (j->bufs_ref) napi_delete_reference(env, j->bufs_ref);
  if (j->cb_ref) napi_delete_reference(env, j->cb_ref);
  if (j->work) napi_delete_async_work(env, j->work);
  free(j->ptr);
  free(j->len);
  free(j);
}

static void complete(napi_env env, napi_status status, void *data) {
  job_t *j = data;
  j->h->busy = 0;
  napi_value cb, global, err, undef;
  napi_get_undefined(env, &undef);
  napi_get_global(env, &global);
  if (status != napi_ok || j->failed) {
    napi_value msg;
    napi_create_string_utf8(env, status == napi_cancelled ? "sha256Update: cancelled" : "sha256Update: OpenSSL failed", NAPI_AUTO_LENGTH, &msg);
    napi_create_error(env, NULL, msg, &err);
  } else {
    err = undef;
  }
  if (napi_get_reference_value(env, j->cb_ref, &cb) == napi_ok) napi_call_function(env, global, cb, 1, &err, NULL);
  free_job(env, j);
}

static napi_value js_update(napi_env env, napi_callback_info info) {
  static const char usage[] = "sha256Update(hasher, buffers, callback)";
  napi_value argv[3];
  if (!get_args(env, info, 3, argv, usage)) return NULL;
  hasher_t *h = hasher_arg(env, argv[0], usage);
  if (!h) return NULL;
  bool isArray = false;
  napi_valuetype cbType;
  napi_is_array(env, argv[1], &isArray);
  napi_typeof(env, argv[2], &cbType);
  if (!isArray || cbType != napi_function) { napi_throw_type_error(env, NULL, usage); return NULL; }
  if (h->busy) { napi_throw_error(env, NULL, "sha256Update: an update is already in flight"); return NULL; }
  uint32_t n;
  napi_get_array_length(env, argv[1], &n);
  job_t *j = calloc(1, sizeof *j);
  if (!j) return throw_errno(env, ENOMEM, "sha256Update", NULL);
  j->h = h;
  j->n = n;
  j->ptr = calloc(n ? n : 1, sizeof *j->ptr);
  j->len = calloc(n ? n : 1, sizeof *j->len);
  if (!j->ptr || !j->len) { free_job(env, j); return throw_errno(env, ENOMEM, "sha256Update", NULL); }
  for (uint32_t i = 0; i < n; i++) {
    napi_value b;
    void *p;
    size_t len;
    if (napi_get_element(env, argv[1], i, &b) != napi_ok || napi_get_buffer_info(env, b, &p, &len) != napi_ok) {
      free_job(env, j);
      napi_throw_type_error(env, NULL, usage);
      return NULL;
    }
    j->ptr[i] = p;
    j->len[i] = len;
  }
  napi_value name;
  napi_create_string_utf8(env, "dray:sha256", NAPI_AUTO_LENGTH, &name);
  if (napi_create_reference(env, argv[0], 1, &j->hasher_ref) != napi_ok
      || napi_create_reference(env, argv[1], 1, &j->bufs_ref) != napi_ok
      || napi_create_reference(env, argv[2], 1, &j->cb_ref) != napi_ok
      || napi_create_async_work(env, NULL, name, execute, complete, j, &j->work) != napi_ok
      || napi_queue_async_work(env, j->work) != napi_ok) {
    free_job(env, j);
    napi_throw_error(env, NULL, "sha256Update: could not queue the work");
    return NULL;
  }
  h->busy = 1;
  return NULL;
}

static napi_value js_hex(napi_env env, napi_callback_info info) {
  static const char usage[] = "sha256Hex(hasher)";
  napi_value argv[1];
  if (!get_args(env, info, 1, argv, usage)) return NULL;
  hasher_t *h = hasher_arg(env, argv[0], usage);
  if (!h) return NULL;
  if (h->busy) { napi_throw_error(env, NULL, "sha256Hex: an update is in flight"); return NULL; }
  // finalised on a copy, so the hasher goes on
  EVP_MD_CTX *ctx = EVP_MD_CTX_new();
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (!ctx || EVP_MD_CTX_copy_ex(ctx, h->ctx) != 1 || EVP_DigestFinal_ex(ctx, out, &len) != 1 || len != 32) {
    EVP_MD_CTX_free(ctx);
    napi_throw_error(env, NULL, "sha256Hex: OpenSSL could not finish the hash");
    return NULL;
  }
  EVP_MD_CTX_free(ctx);
  return hex_string(env, out, 32);
}

void sha256_register(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
    { "sha256New", NULL, js_new, NULL, NULL, NULL, napi_default, NULL },
    { "sha256Update", NULL, js_update, NULL, NULL, NULL, napi_default, NULL },
    { "sha256Hex", NULL, js_hex, NULL, NULL, NULL, napi_default, NULL },
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
}
