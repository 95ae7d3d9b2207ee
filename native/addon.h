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
/** get_args, then the first nints of them as int32s into ints; a TypeError naming `usage` (returns
 * 0) when one is missing or not a number. */
int get_int_args(napi_env env, napi_callback_info info, size_t n, napi_value *argv, int32_t *ints, size_t nints, const char *usage);
/** n bytes as a JS string of 2n lowercase hex digits (a digest's usual form). */
napi_value hex_string(napi_env env, const unsigned char *bytes, size_t n);
/** A malloc'd copy of a JS string; NULL if v is not one. */
char *dup_string(napi_env env, napi_value v);
/**
 * Sets the nice value of the calling process's autogroup (its session's scheduling group): with
 * autogroup scheduling, sessions share the CPUs equally and a process's own nice value only ranks
 * threads within one. Best effort (no autogroup, no file). Raw system calls only: safe between
 * vfork() and exec.
 */
void set_autogroup_nice(int nice);

#endif
