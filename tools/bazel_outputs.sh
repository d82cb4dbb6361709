# Asks Bazel where a target's outputs are, instead of guessing bazel-out paths
# (they change with the configuration, and genrules choose their own file names).
# Source it, then:
#
#   bazel_output //test/programs:mpi_collectives          # absolute path of its one file
#   bazel_output -c opt //bridge/cli:pmi-bridge           # flags go before the label
#
# The target must have been built with the same flags. Prints nothing and fails
# when the target has no single output file.

bazel_output() {
  local label="${*: -1}" flags=("${@:1:$#-1}") root paths
  root=$(bazel info "${flags[@]}" execution_root 2>/dev/null) || return 1
  paths=$(bazel cquery "${flags[@]}" "$label" --output=starlark \
            --starlark:expr='"\n".join([f.path for f in target.files.to_list()])' 2>/dev/null) ||
    return 1
  [[ -n "$paths" && "$paths" != *$'\n'* ]] || return 1
  echo "$root/$paths"
}
