#!/usr/bin/env bash
# Runs a command with compilers and linkers paused (SIGSTOP), one such command at a time, so
# that a benchmark has the machine's cores to itself while builds wait; they resume (SIGCONT)
# when it ends.
#
#   benches/quiet.sh benches/e2e.sh http 15 16 1
set -euo pipefail
exec 9> "${TMPDIR:-/tmp}/vigil-bench.lock"
flock 9
pids=$(for name in rustc clippy-driver cc cc1 ld collect2 cargo; do pgrep -x "$name" || true; done | tr '\n' ' ')
if [ -n "${pids// }" ]; then
  # shellcheck disable=SC2086
  kill -STOP $pids 2>/dev/null || true
  # shellcheck disable=SC2086
  trap 'kill -CONT $pids 2>/dev/null || true' EXIT
fi
"$@"
