#!/usr/bin/env bash
# Regenerates Sources/HikeRPC from Protos/ (the generated Swift is committed: CI never runs this).
# Needs protoc (Debian: protobuf-compiler). Builds protoc-gen-swift and protoc-gen-grpc-swift-2 at
# the versions Package.resolved pins, in a throwaway package (about 2.5 minutes on 2 cores), unless
# PLUGINS names a directory that has them.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v protoc >/dev/null || { echo "gen-proto: protoc not found (apt-get install protobuf-compiler)" >&2; exit 1; }

pinned() {  # the version Package.resolved pins for a package identity
    python3 -c 'import json,sys; print(next(p["state"]["version"] for p in json.load(open("Package.resolved"))["pins"] if p["identity"]==sys.argv[1]))' "$1"
}

if [[ -z "${PLUGINS:-}" ]]; then
    work=$(mktemp -d)
    trap 'rm -rf "$work"' EXIT
    mkdir -p "$work/Sources/Dummy"
    echo 'public let dummy = 1' > "$work/Sources/Dummy/Dummy.swift"
    cat > "$work/Package.swift" <<SWIFT
// swift-tools-version:6.0
import PackageDescription
let package = Package(name: "plugins",
    dependencies: [
        .package(url: "https://github.com/apple/swift-protobuf.git", exact: "$(pinned swift-protobuf)"),
        .package(url: "https://github.com/grpc/grpc-swift-protobuf.git", exact: "$(pinned grpc-swift-protobuf)"),
    ],
    targets: [.target(name: "Dummy")])
SWIFT
    echo "gen-proto: building the protoc plugins (about 2.5 minutes)…" >&2
    (cd "$work" && swift build -c release --product protoc-gen-swift >&2 && swift build -c release --product protoc-gen-grpc-swift-2 >&2)
    PLUGINS="$work/.build/release"
fi

out=Sources/HikeRPC/Generated
rm -rf "$out" && mkdir -p "$out"
protoc -I Protos \
    --plugin=protoc-gen-swift="$PLUGINS/protoc-gen-swift" \
    --plugin=protoc-gen-grpc-swift-2="$PLUGINS/protoc-gen-grpc-swift-2" \
    --swift_out="$out" --swift_opt=Visibility=Public,FileNaming=DropPath \
    --grpc-swift-2_out="$out" --grpc-swift-2_opt=Visibility=Public,Server=true,Client=true,FileNaming=DropPath \
    Protos/eclat.proto Protos/hike/v1/node.proto Protos/hike/v1/controller.proto Protos/hawkeye/intent.proto
echo "gen-proto: wrote $(ls "$out" | tr '\n' ' ')" >&2
