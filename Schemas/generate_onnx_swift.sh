#!/usr/bin/env bash
# Regenerates Sources/ONNXFormat/Generated/onnx.pb.swift from Schemas/onnx.proto.
#
# Needs:
#   - protoc (Debian: protobuf-compiler)
#   - protoc-gen-swift from swift-protobuf 1.39.0 (the version of the
#     SwiftProtobuf runtime the package links against). Looked up in order:
#       1. $PROTOC_GEN_SWIFT (path to the plugin binary),
#       2. protoc-gen-swift on PATH,
#       3. built from a temporary checkout of apple/swift-protobuf at the
#          pinned tag (`swift build -c release --product protoc-gen-swift`).
#
# Usage (from anywhere):
#   Schemas/generate_onnx_swift.sh
#   PROTOC_GEN_SWIFT=/path/to/protoc-gen-swift Schemas/generate_onnx_swift.sh
set -euo pipefail

SWIFT_PROTOBUF_VERSION="${SWIFT_PROTOBUF_VERSION:-1.39.0}"
SWIFT_PROTOBUF_URL="${SWIFT_PROTOBUF_URL:-https://github.com/apple/swift-protobuf}"

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo_root"

out_dir="Sources/ONNXFormat/Generated"
proto="Schemas/onnx.proto"

die() { echo "generate_onnx_swift.sh: $*" >&2; exit 1; }

command -v protoc >/dev/null 2>&1 || die "protoc not found (apt-get install protobuf-compiler)"
[ -f "$proto" ] || die "$proto not found"

work_dir=""
cleanup() { if [ -n "$work_dir" ]; then rm -rf "$work_dir"; fi; }
trap cleanup EXIT

plugin="${PROTOC_GEN_SWIFT:-}"
if [ -n "$plugin" ]; then
  [ -x "$plugin" ] || die "PROTOC_GEN_SWIFT=$plugin is not an executable file"
elif command -v protoc-gen-swift >/dev/null 2>&1; then
  plugin="$(command -v protoc-gen-swift)"
else
  command -v git >/dev/null 2>&1 || die "git is needed to build protoc-gen-swift"
  command -v swift >/dev/null 2>&1 || die "swift is needed to build protoc-gen-swift"
  work_dir="$(mktemp -d "${TMPDIR:-/tmp}/swift-protobuf.XXXXXX")"
  echo "Building protoc-gen-swift $SWIFT_PROTOBUF_VERSION in $work_dir ..." >&2
  git clone --quiet --depth 1 --branch "$SWIFT_PROTOBUF_VERSION" \
    "$SWIFT_PROTOBUF_URL" "$work_dir/swift-protobuf"
  (cd "$work_dir/swift-protobuf" && swift build -c release --product protoc-gen-swift >&2)
  plugin="$work_dir/swift-protobuf/.build/release/protoc-gen-swift"
  [ -x "$plugin" ] || die "build did not produce $plugin"
fi

# The generated code must match the runtime library version; warn on a mismatch.
plugin_version="$("$plugin" --version 2>/dev/null | awk '{print $NF}' || true)"
if [ "$plugin_version" != "$SWIFT_PROTOBUF_VERSION" ]; then
  echo "warning: $plugin reports version '${plugin_version:-unknown}', expected $SWIFT_PROTOBUF_VERSION" >&2
fi

mkdir -p "$out_dir"
protoc \
  --plugin=protoc-gen-swift="$plugin" \
  --swift_out="$out_dir" \
  --swift_opt=Visibility=Public \
  -I Schemas \
  "$proto"

echo "Wrote $out_dir/onnx.pb.swift (protoc $(protoc --version | awk '{print $NF}'), protoc-gen-swift ${plugin_version:-unknown})" >&2
