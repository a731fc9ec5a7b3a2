#!/usr/bin/env bash
# sizeof(ward_agent_t) for several flow-table sizes, on x86-64 (the host compiler) and on a
# Cortex-M4 (arm-none-eabi-gcc -mcpu=cortex-m4 -mthumb), with every other knob at its default.
# Prints the Markdown table of docs/agent.md ("Memory sizing"). Only the public headers are
# compiled: the size is known at compile time, nothing is linked or run on the target.
#
# With --knobs: what one more unit of each RAM knob adds to sizeof(ward_agent_t) on Cortex-M4.
#
# Usage: docs/examples/agent_sizes.sh [N...]     (default: 16 64 256 1024)
#        docs/examples/agent_sizes.sh --knobs
set -euo pipefail
cd "$(dirname "$0")/../.."
knobs=0
if [ "${1:-}" = "--knobs" ]; then knobs=1; shift; fi
flows=("$@")
[ ${#flows[@]} -gt 0 ] || flows=(16 64 256 1024)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# The size as an initialised constant: the compiler writes it into the assembly as a number.
printf '#include "ward/agent.h"\nconst unsigned long ward_size = sizeof(ward_agent_t);\n' >"$tmp/s.c"

size_of() { # compiler, flags..., prints sizeof(ward_agent_t)
  "$@" -S -O2 -I agent/include -DWARD_NO_CUSTOM_CONFIG "$tmp/s.c" -o "$tmp/s.s"
  awk '/^ward_size:/ { getline; print $2; exit }' "$tmp/s.s"
}

if [ $knobs = 1 ]; then
  m4() { size_of arm-none-eabi-gcc -mcpu=cortex-m4 -mthumb "$@"; }
  base=$(m4)
  echo "| knob | default | + bytes (Cortex-M4) | per |"
  echo "|---|---:|---:|---|"
  # knob, default, a larger value to compare with, unit
  while read -r knob def more unit; do
    sz=$(m4 -D"$knob=$more")
    printf '| `%s` | %s | %s | %s |\n' "$knob" "$def" \
      "$(awk -v a="$sz" -v b="$base" -v m="$more" -v d="$def" 'BEGIN { printf "%g", (a - b) / (m - d) }')" "$unit"
  done <<'KNOBS'
WARD_MAX_LOCAL_ADDRS 8 16 address
WARD_OVERFLOW_SLOTS 16 32 summary entry
WARD_OVERFLOW_FILTER_BITS 256 512 filter bit
WARD_MAX_LISTEN 16 32 listening socket
WARD_SYSINFO_STR_MAX 32 64 byte of string limit
WARD_MAX_METRICS 8 16 metric
WARD_MAX_DENY 8 16 deny-list entry
WARD_MAX_DETECTIONS 4 8 detection
KNOBS
  exit 0
fi

echo "| WARD_MAX_FLOWS | Cortex-M4 (bytes) | x86-64 (bytes) | Cortex-M4 bytes per flow |"
echo "|---:|---:|---:|---:|"
prev_n=""; prev_m=""
for n in "${flows[@]}"; do
  m4=$(size_of arm-none-eabi-gcc -mcpu=cortex-m4 -mthumb -DWARD_MAX_FLOWS="$n")
  x86=$(size_of cc -DWARD_MAX_FLOWS="$n")
  per="-"
  if [ -n "$prev_n" ]; then per=$(awk -v a="$m4" -v b="$prev_m" -v n="$n" -v p="$prev_n" \
      'BEGIN { printf "%.1f", (a - b) / (n - p) }'); fi
  echo "| $n | $m4 | $x86 | $per |"
  prev_n=$n; prev_m=$m4
done
