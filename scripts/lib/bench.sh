# Shared start of the benchmark scripts (sourced from the repository root): a temporary folder
# `$work`, removed on exit, and the binary to time in `$ZHBRIEF` (a release build of this tree
# unless the caller names another).
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
if [[ -z ${ZHBRIEF:-} ]]; then
  cargo build --release --quiet
  ZHBRIEF=target/release/zhbrief
fi
