#!/usr/bin/env bash
# Renders PNG screenshots of the explorer on the sample dumps. The real binary runs in a
# pseudo-terminal inside termsnap's in-memory terminal emulator (Alacritty's), keys are sent
# on its input, the screen becomes an SVG, and resvg turns that into a PNG.
# Needs: cargo install termsnap resvg; a monospace font (Debian: fonts-dejavu-core).
# Run from anywhere: ./screenshots/make.sh
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -p dial9-tui
bin=target/release/dial9-tui

# shot NAME DUMP KEYS [COLUMNS LINES]: open DUMP, type KEYS, capture the screen while the
# explorer is still showing it (the explorer is stopped by `timeout`, so the capture is the
# live screen; SIGKILL, because on SIGTERM the explorer restores the terminal first and the
# capture would be the empty main screen).
shot() {
    local name=$1 dump=$2 keys=$3 columns=${4:-160} lines=${5:-48}
    ( sleep 1.5; printf '%b' "$keys"; sleep 4 ) |
        termsnap --lines "$lines" --columns "$columns" --term xterm-256color -o "screenshots/$name.svg" \
            -- timeout -s KILL 4 "$bin" "sample-dumps/$dump.bin" || true
    resvg --font-family 'DejaVu Sans Mono' --monospace-family 'DejaVu Sans Mono' \
        "screenshots/$name.svg" "screenshots/$name.png"
    rm "screenshots/$name.svg"
    echo "screenshots/$name.png"
}

shot main-starvation starvation ''
shot lost-waker-lifecycle lost-waker '/config-rel\r'
shot search panic '/pars'
shot help starvation '?'
shot panic-step-back panic 'p[[[[[['
shot panic-detail-80x24 panic 'pi' 80 24
shot mini-redis mini-redis ''
shot mini-redis-80x24 mini-redis '' 80 24
shot starvation-80x24 starvation '' 80 24
# The longest poll, an event marked, ten steps on: the time from the mark in the title
# and times counted from the mark (T twice: gaps, then the mark).
shot mini-redis-mark mini-redis 'Lm]]]]]]]]]]TT'
shot why-slow-detail why-slow 'Li' 120 40
