{
  "targets": [{
    "target_name": "fuse",
    "include_dirs": [
      "<!(node -e \"require('napi-macros')\")"
    ],
    "cflags": ["-O2", "-Wall", "-Werror=implicit-function-declaration", "-Werror=incompatible-pointer-types", "<!@(pkg-config --cflags fuse3)"],
    "libraries": ["<!@(pkg-config --libs fuse3)"],
    "sources": ["fuse3-addon.c", "checksums.c"]
  }]
}
