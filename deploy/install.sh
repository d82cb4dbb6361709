#!/bin/bash
# Installs pmi-shim's three programs under a prefix and registers the hook:
#
#   PREFIX/bin/{pmi-bridge,pmi-shim-hook,pmi-shim-client}
#   PREFIX/libexec/pmi-shim/bin/pmi-shim-client   the tools dir the hook mounts
#                                                 read-only at /opt/pmi-shim
#   PREFIX/etc/pmi-shim/hook.json                 admin config (only if absent)
#   HOOKS_DIR/pmi-shim-{createRuntime,poststop}.json   Podman / CRI-O hooks.d
#   PREFIX/share/pmi-shim/docker-daemon.json      "runtimes" entry to merge into
#                                                 /etc/docker/daemon.json
#
#   deploy/install.sh --prefix /usr/local                 # from this tree's bazel build
#   deploy/install.sh --prefix /opt/pmi-shim --from DIR   # DIR holds the three binaries
#   deploy/install.sh --prefix P --bridge F --hook F --client F   # each file named
#
# Options: --hooks-dir DIR (default PREFIX/share/containers/oci/hooks.d; Podman
# reads /usr/share/containers/oci/hooks.d and /etc/containers/oci/hooks.d, or
# whatever `hooks_dir` in containers.conf / --hooks-dir names), --config FILE
# (default PREFIX/etc/pmi-shim/hook.json), --runc PATH (the runtime Docker's
# wrapper execs, default /usr/bin/runc), --dry-run.
#
# Idempotent: re-running replaces the binaries (atomically, so running jobs are
# not disturbed) and the registration files, and never overwrites an existing
# admin config. Changes nothing in /etc/docker or /etc/containers: it prints
# what to do there.
set -euo pipefail

prog=install.sh
die() { echo "$prog: $*" >&2; exit 1; }

prefix="" from="" bridge="" hook="" client="" hooks_dir="" config="" runc=/usr/bin/runc dry_run=0
while [ $# -gt 0 ]; do
  case "$1" in
    --prefix) prefix="${2:-}"; shift 2 ;;
    --prefix=*) prefix="${1#*=}"; shift ;;
    --from) from="${2:-}"; shift 2 ;;
    --from=*) from="${1#*=}"; shift ;;
    --bridge) bridge="${2:-}"; shift 2 ;;
    --bridge=*) bridge="${1#*=}"; shift ;;
    --hook) hook="${2:-}"; shift 2 ;;
    --hook=*) hook="${1#*=}"; shift ;;
    --client) client="${2:-}"; shift 2 ;;
    --client=*) client="${1#*=}"; shift ;;
    --hooks-dir) hooks_dir="${2:-}"; shift 2 ;;
    --hooks-dir=*) hooks_dir="${1#*=}"; shift ;;
    --config) config="${2:-}"; shift 2 ;;
    --config=*) config="${1#*=}"; shift ;;
    --runc) runc="${2:-}"; shift 2 ;;
    --runc=*) runc="${1#*=}"; shift ;;
    --dry-run) dry_run=1; shift ;;
    -h|--help) sed -n '2,27p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument '$1'; run '$prog --help'" ;;
  esac
done

[ -n "$prefix" ] || die "missing --prefix DIR (an absolute path, e.g. --prefix /usr/local)"
absolute() { case "$1" in /*) return 0 ;; *) return 1 ;; esac; }
# Paths end up in root-run hooks and daemon configs: relative ones would be
# resolved against whatever directory the engine runs in.
absolute "$prefix" || die "--prefix '$prefix' is relative; give an absolute path"
case "$prefix" in *..*|*//*|*' '*) die "--prefix '$prefix' must be a plain absolute path (no '..', '//' or spaces)" ;; esac
prefix="${prefix%/}"; [ -n "$prefix" ] || prefix=/
strip() { local p="$1"; [ "$p" = / ] && echo "" || echo "$p"; }
base="$(strip "$prefix")"
hooks_dir="${hooks_dir:-$base/share/containers/oci/hooks.d}"
config="${config:-$base/etc/pmi-shim/hook.json}"
absolute "$hooks_dir" || die "--hooks-dir '$hooks_dir' is relative; give an absolute path"
absolute "$config" || die "--config '$config' is relative; give an absolute path"
absolute "$runc" || die "--runc '$runc' is relative; give an absolute path"

# Where the binaries come from: --bridge/--hook/--client FILE, else --from DIR
# (flat, or a bazel-bin layout), else this source tree's Bazel build, whose
# output paths Bazel itself reports (they depend on the configuration).
here="$(cd "$(dirname "$0")/.." && pwd)"
find_binary() {  # NAME BAZEL_PACKAGE
  local name="$1" pkg="$2" d path
  for d in ${from:+"$from" "$from/$pkg"}; do
    if [ -x "$d/$name" ] && [ -f "$d/$name" ]; then echo "$d/$name"; return 0; fi
  done
  [ -z "$from" ] && command -v bazel >/dev/null && [ -f "$here/WORKSPACE" ] || return 1
  path="$(cd "$here" && source tools/bazel_outputs.sh && bazel_output "//$pkg:$name")" || return 1
  [ -x "$path" ] && echo "$path"
}
usable() {  # OPTION FILE
  [ -f "$2" ] && [ -x "$2" ] || die "$1 '$2' is not an executable file"
  echo "$2"
}
build_hint="build first: bazel build //bridge/cli:pmi-bridge //hook:pmi-shim-hook //shim-client:pmi-shim-client"
if [ -n "$bridge" ]; then bridge="$(usable --bridge "$bridge")"; else
  bridge="$(find_binary pmi-bridge bridge/cli)" || die "pmi-bridge not found${from:+ in $from}; $build_hint"; fi
if [ -n "$hook" ]; then hook="$(usable --hook "$hook")"; else
  hook="$(find_binary pmi-shim-hook hook)" || die "pmi-shim-hook not found${from:+ in $from}; $build_hint"; fi
if [ -n "$client" ]; then client="$(usable --client "$client")"; else
  client="$(find_binary pmi-shim-client shim-client)" || die "pmi-shim-client not found${from:+ in $from}; $build_hint"; fi

run() { if [ "$dry_run" = 1 ]; then echo "would: $*"; else "$@"; fi; }
did() { echo "$prog: $*"; }

# Copy next to the target, then rename: a job running the old binary keeps
# its inode, and a crash never leaves a half-written program.
put() {  # SRC DEST MODE
  local src="$1" dest="$2" mode="$3"
  run mkdir -p "$(dirname "$dest")"
  if [ -f "$dest" ] && cmp -s "$src" "$dest"; then did "unchanged $dest"; return 0; fi
  run install -m "$mode" "$src" "$dest.tmp.$$"
  run mv -f "$dest.tmp.$$" "$dest"
  did "installed $dest"
}
# Writes stdin to DEST if it differs.
write() {  # DEST
  local dest="$1" tmp
  tmp="$(mktemp)"; cat > "$tmp"
  run mkdir -p "$(dirname "$dest")"
  if [ -f "$dest" ] && cmp -s "$tmp" "$dest"; then rm -f "$tmp"; did "unchanged $dest"; return 0; fi
  if [ "$dry_run" = 1 ]; then echo "would write $dest:"; cat "$tmp"; rm -f "$tmp"; return 0; fi
  chmod 0644 "$tmp"; mv -f "$tmp" "$dest"
  did "wrote $dest"
}
json_str() { printf '"%s"' "$(printf '%s' "$1" | sed 's/\\/\\\\/g; s/"/\\"/g')"; }

hook_path="$base/bin/pmi-shim-hook"
tools_dir="$base/libexec/pmi-shim"
put "$bridge" "$base/bin/pmi-bridge" 0755
put "$hook" "$hook_path" 0755
put "$client" "$base/bin/pmi-shim-client" 0755
put "$client" "$tools_dir/bin/pmi-shim-client" 0755

if [ -e "$config" ]; then
  did "kept existing admin config $config"
else
  write "$config" <<EOF
{
  "allowed_dirs": ["/run/pmi-shim", "/tmp"],
  "gating": {"annotation": true, "env": true, "auto": true},
  "log_file": "",
  "tools_dir": $(json_str "$tools_dir"),
  "state_dir": "/run/pmi-shim-hook",
  "entrypoint_prefix": false
}
EOF
fi

for stage in createRuntime poststop; do
  write "$hooks_dir/pmi-shim-$stage.json" <<EOF
{
  "version": "1.0.0",
  "hook": {
    "path": $(json_str "$hook_path"),
    "args": ["pmi-shim-hook", "--config", $(json_str "$config"), "$stage"],
    "timeout": 10
  },
  "when": {"always": true},
  "stages": ["$stage"]
}
EOF
done

write "$base/share/pmi-shim/docker-daemon.json" <<EOF
{
  "runtimes": {
    "pmi-shim": {
      "path": $(json_str "$hook_path"),
      "runtimeArgs": ["runtime", "--config", $(json_str "$config"),
                      "--runtime", $(json_str "$runc"), "--"]
    }
  }
}
EOF

cat <<EOF
$prog: done. Next steps:
  Podman/CRI-O: podman --hooks-dir $hooks_dir run ...  (or add it to hooks_dir in containers.conf,
                or link the two files into /etc/containers/oci/hooks.d)
  Docker:       merge $base/share/pmi-shim/docker-daemon.json into /etc/docker/daemon.json,
                reload (kill -HUP dockerd), then: docker run --runtime pmi-shim ...
  runc:         add createRuntime/poststop hooks running $hook_path (see deploy/runc.md)
  Admin config: $config
EOF
