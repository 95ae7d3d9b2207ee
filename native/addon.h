// Helpers the addon's files share (defined in sys.c and spawn.c).
#ifndef DRAY_ADDON_H
#define DRAY_ADDON_H
#include <node_api.h>

/** An Error as Node's own system errors are: "<syscall> <path>: <strerror>", errno, code, syscall, path. */
napi_value errno_error(napi_env env, int e, const char *syscall, const char *path);
/** Throws errno_error(); returns NULL for the caller to return. */
napi_value throw_errno(napi_env env, int e, const char *syscall, const char *path);
/** The first n arguments, or a TypeError naming `usage` (returns 0) when fewer came. */
int get_args(napi_env env, napi_callback_info info, size_t n, napi_value *argv, const char *usage);
/** A malloc'd copy of a JS string; NULL if v is not one. */
char *dup_string(napi_env env, napi_value v);

#endif
