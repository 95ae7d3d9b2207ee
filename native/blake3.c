// BLAKE3 for the build cache's content hashes (src/builder/copy.ts): the reference C
// implementation, from Debian's package of the blake3 crate (librust-blake3-dev, which ships it
// with the x86-64 assembly for SSE2 to AVX-512; scripts/build.mjs links native/blake3-src to it).
// It picks the widest instructions the CPU has at run time.
//
//   blake3New()               a hasher (an external; freed with it)
//   blake3Update(h, buffer)   hashes the bytes
//   blake3Digest(h)           the 32-byte hash as hex; the hasher is spent
#include "addon.h"
#include <errno.h>
#include <stdlib.h>
#include "blake3.h"

static void free_hasher(napi_env env, void *data, void *hint) {
  (void)env; (void)hint;
  free(data);
}

static napi_value js_new(napi_env env, napi_callback_info info) {
  (void)info;
  blake3_hasher *h = malloc(sizeof *h);
  if (!h) return throw_errno(env, ENOMEM, "blake3New", NULL);
  blake3_hasher_init(h);
  napi_value v;
  if (napi_create_external(env, h, free_hasher, NULL, &v) != napi_ok) { free(h); return NULL; }
  return v;
}

// The first n arguments, the first of them a hasher from blake3New; NULL (a TypeError naming
// `usage` thrown) when they are not.
static blake3_hasher *hasher_args(napi_env env, napi_callback_info info, size_t n, napi_value *argv, const char *usage) {
  void *h = NULL;
  if (!get_args(env, info, n, argv, usage)) return NULL;
  if (napi_get_value_external(env, argv[0], &h) != napi_ok || !h) { napi_throw_type_error(env, NULL, usage); return NULL; }
  return h;
}

static napi_value js_update(napi_env env, napi_callback_info info) {
  static const char usage[] = "blake3Update(hasher, buffer)";
  napi_value argv[2];
  blake3_hasher *h = hasher_args(env, info, 2, argv, usage);
  if (!h) return NULL;
  void *data;
  size_t len;
  if (napi_get_buffer_info(env, argv[1], &data, &len) != napi_ok) { napi_throw_type_error(env, NULL, usage); return NULL; }
  blake3_hasher_update(h, data, len);
  return NULL;
}

static napi_value js_digest(napi_env env, napi_callback_info info) {
  static const char usage[] = "blake3Digest(hasher)";
  napi_value argv[1];
  blake3_hasher *h = hasher_args(env, info, 1, argv, usage);
  if (!h) return NULL;
  uint8_t out[BLAKE3_OUT_LEN];
  blake3_hasher_finalize(h, out, sizeof out);
  return hex_string(env, out, sizeof out);
}

void blake3_register(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
    { "blake3New", NULL, js_new, NULL, NULL, NULL, napi_default, NULL },
    { "blake3Update", NULL, js_update, NULL, NULL, NULL, napi_default, NULL },
    { "blake3Digest", NULL, js_digest, NULL, NULL, NULL, napi_default, NULL },
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
}
