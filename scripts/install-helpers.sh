#!/bin/sh
# Makes this checkout's qsfs usable by mount(8) and /etc/fstab (run as root):
#   qsfs             -> PREFIX/bin/qsfs   (mount.fuse runs it for "qsfs#bucket ... fuse" entries)
#   mount.qsfs       -> /sbin/mount.qsfs  (entries of type "qsfs")
#   mount.fuse.qsfs  -> /sbin/mount.fuse.qsfs (entries of type "fuse.qsfs")
# mount(8) looks for helpers in /sbin only, whatever PATH says.
#   scripts/install-helpers.sh [--prefix DIR] [--sbin DIR] [--uninstall]
set -eu
repo=$(cd "$(dirname "$0")/.." && pwd)
prefix=/usr/local
sbin=/sbin
action=install
while [ $# -gt 0 ]; do
  case "$1" in
    --prefix) prefix=$2; shift 2 ;;
    --sbin) sbin=$2; shift 2 ;;
    --uninstall) action=uninstall; shift ;;
    *) echo "install-helpers: unknown argument $1" >&2; exit 2 ;;
  esac
done
links="$prefix/bin/qsfs:$repo/bin/qsfs $sbin/mount.qsfs:$repo/bin/mount.qsfs $sbin/mount.fuse.qsfs:$repo/bin/mount.qsfs"
for pair in $links; do
  link=${pair%%:*}
  target=${pair#*:}
  if [ "$action" = uninstall ]; then
    # only our own links: never a file someone else put there
    if [ -L "$link" ] && [ "$(readlink "$link")" = "$target" ]; then rm -f "$link"; echo "removed $link"; fi
  else
    if [ -e "$link" ] && [ ! -L "$link" ]; then echo "install-helpers: $link exists and is not a link; left alone" >&2; exit 1; fi
    mkdir -p "$(dirname "$link")"
    ln -sfn "$target" "$link"
    echo "$link -> $target"
  fi
done
