#!/usr/bin/env bash
# Peak resident memory of `utx-edge segment` against the number of slices:
# the streaming pipeline must not grow with it. Prints a Markdown table.
# Usage: benches/peak_rss.sh [precision] [threads]
set -euo pipefail
cd "$(dirname "$0")/.."
precision=${1:-fp32}
threads=${2:-2}
cargo build --release --quiet --bin utx-edge --example make_volume
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
echo "| slices | peak RSS (MB) | wall (s) | ms/slice |"
echo "| ---: | ---: | ---: | ---: |"
for n in 20 200 1000; do
  ./target/release/examples/make_volume data/sample/ct_small.nii.gz "$n" "$dir/ct_$n.nii.gz"
  /usr/bin/time -f "%M %e" -o "$dir/time" ./target/release/utx-edge segment "$dir/ct_$n.nii.gz" \
    -o "$dir/seg_$n.nii.gz" --precision "$precision" --threads "$threads" --quiet --report "$dir/r.json"
  read -r kb secs < "$dir/time"
  ms=$(python3 -c "import json;print(round(json.load(open('$dir/r.json'))['ms_per_slice'],1))" 2>/dev/null || echo "?")
  echo "| $n | $((kb / 1024)) | $secs | $ms |"
done
