#!/bin/sh
# Concatenates the per-test coverage files Bazel hands over into --output_file.
out=""
dir=""
for arg in "$@"; do
  case "$arg" in
    --output_file=*) out="${arg#--output_file=}" ;;
    --coverage_dir=*) dir="${arg#--coverage_dir=}" ;;
  esac
done
[ -n "$out" ] || exit 1
: > "$out"
[ -n "$dir" ] && find "$dir" -name '*.dat' -exec cat {} + >> "$out"
exit 0
