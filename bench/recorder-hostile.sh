#!/usr/bin/env bash
# The recorder against a hostile page at the issue's full scale (issue 21, item 6): one socket
# sending 300 one-MB messages, 3,000 sockets opened and closed, 50 MB of console output.
# Runs the `recorder::hostile` test with THRONG_HOSTILE set: `throng record --headless` in its
# own process, its RSS watched (killed past CAP_MB), then the flow checked for its size and
# its `capped` field. Prints the recorder's peak resident memory and what the flow capped.
# Takes about 2.5 minutes: Chromium opens a host's sockets one at a time.
#
# Usage: bench/recorder-hostile.sh
# Env:   MESSAGES (300), SOCKETS (3000), CONSOLE_MB (50), CAP_MB (400),
#        THRONG_HOSTILE_BIN (record with another throng binary, e.g. one built from an older
#        commit, to measure it without the caps; raise CAP_MB then)
set -euo pipefail
cd "$(dirname "$0")/.."
export THRONG_HOSTILE="${MESSAGES:-300},${SOCKETS:-3000},${CONSOLE_MB:-50},${CAP_MB:-400}"
CARGO_PROFILE_DEV_DEBUG=0 cargo nextest run -p throng --test it --no-capture \
  recorder::hostile::a_hostile_page 2>&1 | grep -E "peak resident|^flow:|PASS|FAIL|panicked" -A2
