{
  "targets": [
    {
      "target_name": "dray_sys",
      "sources": ["sys.c", "spawn.c", "warm.c"],
      "cflags": ["-O2", "-Wall", "-Wextra"]
    }
  ]
}
