#!/bin/bash
# deploy/install.sh into a temporary prefix: the binaries, the tools dir, the
# admin config, the hooks.d files and the Docker snippet appear with the
# prefix's absolute paths; a second run changes nothing and keeps an edited
# admin config; a relative prefix is refused.
set -uo pipefail
fail=0
check() { if ! eval "$2"; then echo "FAIL: $1"; fail=1; else echo "ok: $1"; fi; }

runfiles="${TEST_SRCDIR:-$PWD/..}/pmi_shim"
install="$runfiles/deploy/install.sh"
tmp="$(mktemp -d "${TEST_TMPDIR:-/tmp}/install.XXXXXX")"
prefix="$tmp/prefix"

out="$(bash "$install" --prefix "$prefix" --from "$runfiles" 2>&1)"
check "first install succeeds" '[ $? -eq 0 ] || { echo "$out"; false; }'
for f in bin/pmi-bridge bin/pmi-shim-hook bin/pmi-shim-client libexec/pmi-shim/bin/pmi-shim-client; do
  check "$f is executable" "[ -x '$prefix/$f' ]"
done
check "installed hook is the built one" "cmp -s '$prefix/bin/pmi-shim-hook' '$runfiles/hook/pmi-shim-hook'"

py_check() {  # DESCRIPTION PYTHON
  py_src="$2"
  check "$1" 'python3 -c "$py_src" "$prefix"'
}
py_check "hooks.d files parse and name the installed hook and config" '
import json, sys
p = sys.argv[1]
for stage in ("createRuntime", "poststop"):
    h = json.load(open(f"{p}/share/containers/oci/hooks.d/pmi-shim-{stage}.json"))
    assert h["version"] == "1.0.0", h
    assert h["hook"]["path"] == f"{p}/bin/pmi-shim-hook", h
    assert h["hook"]["args"] == ["pmi-shim-hook", "--config", f"{p}/etc/pmi-shim/hook.json", stage], h
    assert h["stages"] == [stage], h
    assert h["when"] == {"always": True}, h
'
py_check "admin config parses and points the tools dir into the prefix" '
import json, sys
p = sys.argv[1]
c = json.load(open(f"{p}/etc/pmi-shim/hook.json"))
assert c["tools_dir"] == f"{p}/libexec/pmi-shim", c
assert "/run/pmi-shim" in c["allowed_dirs"], c
'
py_check "docker snippet names the runtime wrapper mode" '
import json, sys
p = sys.argv[1]
d = json.load(open(f"{p}/share/pmi-shim/docker-daemon.json"))
r = d["runtimes"]["pmi-shim"]
assert r["path"] == f"{p}/bin/pmi-shim-hook", r
assert r["runtimeArgs"] == ["runtime", "--config", f"{p}/etc/pmi-shim/hook.json", "--runtime", "/usr/bin/runc", "--"], r
'
# The hook itself accepts the admin config install.sh wrote (strict parser:
# an unknown key would be an error). A poststop for an unknown container is
# a no-op that must succeed.
state='{"ociVersion":"1.0.2","id":"install-test","status":"stopped","bundle":"/nonexistent"}'
hook_out="$(echo "$state" | "$prefix/bin/pmi-shim-hook" --config "$prefix/etc/pmi-shim/hook.json" poststop 2>&1)"
check "hook loads the installed admin config" '[ $? -eq 0 ] || { echo "$hook_out"; false; }'

echo '{"allowed_dirs": ["/run/pmi-shim"]}' > "$prefix/etc/pmi-shim/hook.json"
out2="$(bash "$install" --prefix "$prefix" --from "$runfiles" 2>&1)"
check "second install succeeds" '[ $? -eq 0 ] || { echo "$out2"; false; }'
check "second install changes no binary" '! grep -q "installed " <<<"$out2" || { echo "$out2"; false; }'
check "edited admin config is kept" "grep -q '\"allowed_dirs\": \[\"/run/pmi-shim\"\]}' '$prefix/etc/pmi-shim/hook.json'"

rel="$(cd "$tmp" && bash "$install" --prefix relative/dir --from "$runfiles" 2>&1)"
check "relative prefix is refused" '[ $? -ne 0 ] && grep -q "relative" <<<"$rel" && [ ! -e "$tmp/relative" ]'
check "refusal is one line prefixed with the program" '[ "$(wc -l <<<"$rel")" -eq 1 ] && grep -q "^install.sh: " <<<"$rel"'
missing="$(bash "$install" --prefix "$tmp/p2" --from "$tmp/empty" 2>&1)"
check "missing binaries are an error" '[ $? -ne 0 ] || [ -n "$(ls "$tmp/empty" 2>/dev/null)" ]'

rm -rf "$tmp"
exit $fail
