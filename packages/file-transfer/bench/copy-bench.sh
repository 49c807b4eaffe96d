#!/bin/sh
# Side-by-side: cp + sync, ckpt copy (local, default 8 MiB interval), ckpt copy push over loopback.
# Usage: packages/file-transfer/bench/copy-bench.sh [SIZE_MIB] [RUNS]   (after `pnpm build`)
set -eu
SIZE=${1:-256}; RUNS=${2:-5}
CLI="$(cd "$(dirname "$0")/../../cli/bin" && pwd)/ckpt.js"
WORK=$(mktemp -d); trap 'kill $SERVER 2>/dev/null || true; rm -rf "$WORK"' EXIT
cd "$WORK"; mkdir root
head -c $((SIZE * 1048576)) /dev/urandom > src.bin
PORT=$((20000 + $$ % 20000))
printf 'nodes:\n  alpha: { address: 127.0.0.1:1, secret: "a" }\n  beta: { address: 127.0.0.1:%s, secret: "b" }\n' $PORT > netmap.yaml
node "$CLI" serve --root root --listen 127.0.0.1:$PORT --name beta --netmap netmap.yaml > /dev/null 2>&1 & SERVER=$!
sleep 1
t() { s=$(date +%s.%N); "$@" > /dev/null; e=$(date +%s.%N); echo "$e - $s" | bc; }
for i in $(seq "$RUNS"); do
  rm -rf cp.bin out root/in
  a=$(t sh -c 'cp src.bin cp.bin && sync cp.bin')
  b=$(t node "$CLI" copy src.bin out/dst.bin)
  c=$(t node "$CLI" copy src.bin ckpt://beta/in/dst.bin --netmap netmap.yaml --node alpha)
  echo "run $i: cp+sync ${a}s  ckpt-copy-local ${b}s  ckpt-copy-loopback ${c}s  (${SIZE} MiB)"
done
