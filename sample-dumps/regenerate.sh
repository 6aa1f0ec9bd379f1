#!/usr/bin/env bash
# Regenerates every sample dump from its scenario program (recorder/examples/*.rs).
# Run from anywhere: ./sample-dumps/regenerate.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export RUST_BACKTRACE=0
cargo build --release -p dial9-recorder --examples
for ex in starvation lost_waker long_poll healthy why_slow; do
    echo "== $ex"
    cargo run -q --release -p dial9-recorder --example "$ex"
done
echo "== panic (exits 101 after its panic hook writes the dump, as intended)"
status=0
cargo run -q --release -p dial9-recorder --example panic 2>/dev/null || status=$?
[ "$status" -eq 101 ] || { echo "panic scenario exited $status, expected 101" >&2; exit 1; }
echo "== mini-redis (a real third-party service under load, with two planted faults)"
cargo run -q --release -p dial9-validate -- --healthy 1 --save sample-dumps/mini-redis.bin >/dev/null
chmod 0644 sample-dumps/*.bin
ls -l sample-dumps/*.bin
