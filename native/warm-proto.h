// The warm CLI protocol, between the `dray` launcher (launch.c) and a CLI process drayd keeps
// started and waiting (warm.c, src/cli/warm-worker.ts), over a Unix stream socket:
//
//   launcher → worker  head {magic, len} with SCM_RIGHTS [stdin, stdout, stderr, cwd], then len
//                      bytes of NUL-terminated strings: identity, umask (octal), argc, argv…,
//                      envc, env…
//   worker → launcher  int32 pid of the child forked to run the command (0: refused, the
//                      launcher runs the CLI itself)
//   launcher → worker  one byte: go (a launcher that gave up closes instead, and nothing runs)
//   worker → launcher  int32 exit status, at exit (none when a signal ended the worker)
//
// The identity names the CLI bundle and the mount namespace: a worker only runs a command for a
// launcher of the same build that sees the same files.
#ifndef DRAY_WARM_PROTO_H
#define DRAY_WARM_PROTO_H
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/stat.h>

#define WARM_MAGIC 0x31575244u /* "DRW1" */
#define WARM_MAX_PAYLOAD (8u << 20)
#define WARM_NFDS 4
#define WARM_GO 'g'
/** A spare took a command: spare → the zygote that forked it (warm.c), which passes it on to drayd
 * on their socket pair (WARM_CLAIMED in src/lib/warm-cli.ts). */
#define WARM_CLAIMED_WORD "c"
/** A spare → the zygote: a launcher found the bundle changed. */
#define WARM_SPARE_STALE "s"

struct warm_head { uint32_t magic; uint32_t len; };

// "<mnt ns inode>:<dev>:<ino>:<size>:<mtime ns>" of the bundle; 0 on success.
static inline int warm_identity(const char *bundle, char *out, size_t n) {
  struct stat ns, b;
  if (stat("/proc/self/ns/mnt", &ns) < 0 || stat(bundle, &b) < 0) return -1;
  unsigned long long mt = (unsigned long long)b.st_mtim.tv_sec * 1000000000ULL + (unsigned long long)b.st_mtim.tv_nsec;
  int w = snprintf(out, n, "%llu:%llu:%llu:%llu:%llu", (unsigned long long)ns.st_ino, (unsigned long long)b.st_dev,
                   (unsigned long long)b.st_ino, (unsigned long long)b.st_size, mt);
  return w > 0 && (size_t)w < n ? 0 : -1;
}

// Sends all of p; 0 on success. A peer that closed meanwhile is an error here, not a SIGPIPE.
static inline int warm_send_all(int fd, const void *p, size_t n) {
  const char *at = p;
  while (n) {
    ssize_t w = send(fd, at, n, MSG_NOSIGNAL);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return -1;
    at += w;
    n -= (size_t)w;
  }
  return 0;
}

#endif
