{
  "targets": [
    {
      "target_name": "dray_sys",
      "sources": ["sys.c", "spawn.c", "warm.c", "blake3.c", "inroot.c", "idmap.c", "sha256.c", "xattrs.c",
        "blake3-src/blake3.c", "blake3-src/blake3_dispatch.c", "blake3-src/blake3_portable.c",
        "blake3-src/blake3_sse2_x86-64_unix.S", "blake3-src/blake3_sse41_x86-64_unix.S",
        "blake3-src/blake3_avx2_x86-64_unix.S", "blake3-src/blake3_avx512_x86-64_unix.S"],
      "include_dirs": ["blake3-src"],
      "cflags": ["-O2", "-Wall", "-Wextra"]
    }
  ]
}
