#!/usr/bin/env bash
# Profile VEGA's capture hot path (decode + LZO1Z + merge + change records -> ring) with perf.
#
#   tools/profile.sh [--no-build] [--seconds S] [--datagrams N] [--out DIR] [--callgrind] [--no-inline]
#   tools/profile.sh --capture [--rate R] [--seconds S] [--no-build] [--out DIR]
#   tools/profile.sh --drain [--rounds N] [--no-build] [--out DIR] [--callgrind]
#
# 1. builds the extensions in place (release build: -O3 -g -fno-omit-frame-pointer, see setup.py, so perf's
#    frame-pointer call graphs and Cython function names work);
# 2. generates simulated NSE traffic (vega.nse.sample_stream, F&O and CM) outside the profile;
# 3. runs FeedHandler.process_batch over it under `perf record -e cpu-clock -g` (cpu-clock works in VMs and
#    containers without hardware counters);
# 4. writes `perf report --no-children --stdio -F overhead,sym` to DIR/report.txt and a flat per-symbol
#    table to DIR/flat.txt.
# With --callgrind it also runs one pass under `valgrind --tool=callgrind` (repeatable instruction counts)
# and writes DIR/callgrind.txt (callgrind_annotate), counting only inside FeedHandler.process_batch.
# With --no-inline it profiles a copy of the tree under DIR/noinline whose _core is built with -fno-inline,
# so inlined helpers (lzo1z_decompress, the per-code decoders and merges) get their own rows: an attribution
# view, slower than the release build -- use the default run for timings.
# With --capture it profiles the real `vega capture` process instead (recvmmsg -> FeedHandler -> store, ring
# and journal) while `vega simulate` sends R datagrams/s (default 40000) to it over loopback UDP.
# With --drain it profiles the capture saturated: bench/bench_capture.py's one-core test (Capture.step
# draining a pre-filled loopback socket: recvmmsg -> FeedHandler -> store, ring and journal), with perf
# sampling switched on only during the drains (perf --control fifo), so the profile is the capture's work per
# datagram and nothing else; --callgrind adds instruction counts inside BatchReceiver.feed.
# Defaults: --seconds 10, --datagrams 20000 (per segment), --rate 40000, --rounds 20, --out /tmp/vega-profile.
# Output goes to DIR: perf.data, report.txt, flat.txt and run.txt (the workload's own output) in every mode;
# stream-N-vV.pkl (the traffic of generator version V, reused by later runs) by default, and the -fno-inline
# copy noinline/ with --no-inline; journal/ with --capture; parts.txt, children.txt and dso.txt with --drain;
# callgrind.out and callgrind.txt with --callgrind.  Progress goes to stderr, the tables to stdout.
# PYTHON=... names the interpreter (default python3).
#
# Needs perf: Debian `sudo apt-get install linux-perf`, Ubuntu `sudo apt-get install linux-tools-$(uname -r)`;
# for --callgrind, `sudo apt-get install valgrind`.  Non-root users may need
# `sudo sysctl kernel.perf_event_paranoid=1`.  See docs/PROFILING.md.
set -euo pipefail

cd "$(dirname "$0")/.."
BUILD=1 SECONDS_=10 DATAGRAMS=20000 OUT=/tmp/vega-profile CALLGRIND=0 NOINLINE=0 CAPTURE=0 RATE=40000 DRAIN=0 ROUNDS=20
GIVEN=" "                                # the options given, to refuse those the chosen mode would ignore
value() {                                # value OPTION "$@": the option's argument, or exit 2
    case "${3:-}" in
        ""|-*) echo "profile.sh: $1 needs a value (see --help)" >&2; exit 2 ;;
    esac
}
while [ $# -gt 0 ]; do
    case "$1" in
        --seconds|--datagrams|--out|--rounds|--rate) value "$1" "$@" ;;
    esac
    GIVEN="$GIVEN${1#--} "
    case "$1" in
        --no-build) BUILD=0 ;;
        --seconds) SECONDS_="$2"; shift ;;
        --datagrams) DATAGRAMS="$2"; shift ;;
        --out) OUT="$2"; shift ;;
        --callgrind) CALLGRIND=1 ;;
        --no-inline) NOINLINE=1 ;;
        --capture) CAPTURE=1 ;;
        --drain) DRAIN=1 ;;
        --rounds) ROUNDS="$2"; shift ;;
        --rate) RATE="$2"; shift ;;
        -h|--help) awk 'NR == 1 { next } /^#/ { sub(/^# ?/, ""); print; next } { exit }' "$0"; exit 0 ;;
        *) echo "profile.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
    shift
done
# Each mode's options (the usage above).  An option the mode does not use is refused rather than ignored:
# --no-inline with --capture or --drain used to build the -fno-inline copy and then profile the release build
# (`python -m vega.cli` and bench/bench_capture.py put this tree first on sys.path), --callgrind with
# --capture ran no callgrind at all.
if [ "$CAPTURE" = 1 ] && [ "$DRAIN" = 1 ]; then
    echo "profile.sh: --capture and --drain are two different runs: give one (see --help)" >&2; exit 2
fi
if [ "$CAPTURE" = 1 ]; then MODE=--capture NOT="datagrams callgrind no-inline rounds"
elif [ "$DRAIN" = 1 ]; then MODE=--drain NOT="seconds datagrams no-inline rate"
else MODE="the default run" NOT="rounds rate"
fi
for opt in $NOT; do
    case "$GIVEN" in
        *" $opt "*) echo "profile.sh: --$opt does nothing with $MODE (see --help)" >&2; exit 2 ;;
    esac
done
# Numbers are checked here, not minutes later by the workload (after the build and the traffic's generation)
case "$SECONDS_" in
    *[!0-9.]*|*.*.*|.|"") echo "profile.sh: --seconds needs a number of seconds above 0, not '$SECONDS_'" >&2; exit 2 ;;
esac
if ! awk -v s="$SECONDS_" 'BEGIN { exit !(s + 0 > 0) }'; then
    echo "profile.sh: --seconds needs a number of seconds above 0, not '$SECONDS_'" >&2; exit 2
fi
for pair in "datagrams $DATAGRAMS" "rounds $ROUNDS" "rate $RATE"; do
    set -- $pair
    case "$2" in
        *[!0-9]*|"") echo "profile.sh: --$1 needs a whole number above 0, not '$2'" >&2; exit 2 ;;
    esac
    [ "$((10#$2))" -gt 0 ] || { echo "profile.sh: --$1 needs a whole number above 0, not '$2'" >&2; exit 2; }
done
PY=${PYTHON:-python3}
PY=$("$PY" -c "import sys; print(sys.executable)" 2>/dev/null) \
    || { echo "profile.sh: ${PYTHON:-python3} does not run (PYTHON= names the interpreter)" >&2; exit 1; }
# the real binary, not a pyenv shim: valgrind would count the shim's shell, perf would record it
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1   # no idle BLAS threads in the profile
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"   # the in-place build of this tree
WORKLOAD=tools/profile_workload.py       # profiles the vega of the tree it is in, whatever PYTHONPATH says

# report.txt (call graphs) and flat.txt (per symbol) of $OUT/perf.data; the columns named (-F), not --sort: with
# --sort, perf 6 adds "IPC [IPC Coverage]" columns, empty ("-") without branch records
perf_reports() {
    perf report -i "$OUT/perf.data" --no-children --stdio -F overhead,sym --percent-limit 0.5 \
        > "$OUT/report.txt" 2>/dev/null
    perf report -i "$OUT/perf.data" --no-children --stdio -F overhead,dso,sym -g none --percent-limit 0.3 \
        > "$OUT/flat.txt" 2>/dev/null
}
top_symbols() { grep -E '^ +[0-9]' "$OUT/flat.txt" | head -25 || true; }
need_valgrind() {
    command -v valgrind >/dev/null \
        || { echo "profile.sh: valgrind not found: sudo apt-get install valgrind" >&2; exit 1; }
}
# run_callgrind FUNCTION-GLOB CMD...: instructions counted only inside the functions matching the glob
run_callgrind() {
    local toggle=$1; shift
    valgrind --tool=callgrind --callgrind-out-file="$OUT/callgrind.out" --toggle-collect="$toggle" "$@"
}
annotate_callgrind() {
    callgrind_annotate --inclusive=no "$OUT/callgrind.out" 2>/dev/null | head -60 > "$OUT/callgrind.txt" || true
}

# Everything the run needs is checked before it starts (a build, the traffic and the perf run take minutes):
# perf, valgrind for --callgrind, an output directory, and perf allowed to record here.
if ! command -v perf >/dev/null 2>&1; then
    echo "profile.sh: perf not found: sudo apt-get install linux-perf (Debian) or linux-tools-\$(uname -r) (Ubuntu)" >&2
    exit 1
fi
if [ "$CALLGRIND" = 1 ]; then need_valgrind; fi
if ! { mkdir -p "$OUT" && [ -d "$OUT" ] && : > "$OUT/.write-probe" && rm -f "$OUT/.write-probe"; } 2>/dev/null; then
    echo "profile.sh: cannot write to $OUT: give --out a writable directory" >&2; exit 1
fi
rm -f "$OUT/perf.data" "$OUT/perf.data.old"   # (perf record keeps a perf.data it finds as perf.data.old)
# an earlier run's results (of another mode, or with --callgrind) would read as this run's
rm -f "$OUT"/{report,flat,run,parts,children,dso,callgrind}.txt "$OUT/callgrind.out" "$OUT/categorize.py"
if ! PROBE=$(perf record -q -e cpu-clock -F 4999 -g -o "$OUT/perf.data" -- true 2>&1 >/dev/null); then
    WHY=$(printf '%s\n' "$PROBE" | grep -v -m1 -E '^[[:space:]]*(Error:?)?[[:space:]]*$' || true)
    PARANOID=$(cat /proc/sys/kernel/perf_event_paranoid 2>/dev/null || echo "?")
    echo "profile.sh: perf record is not allowed here (kernel.perf_event_paranoid=$PARANOID; as root:" \
         "sysctl kernel.perf_event_paranoid=1): ${WHY:-perf record failed}" >&2
    exit 1
fi
rm -f "$OUT/perf.data"

if [ "$BUILD" = 1 ]; then
    echo "== building in place (release: -O3 -g -fno-omit-frame-pointer)" >&2
    "$PY" setup.py build_ext --inplace -q >&2     # stdout is the reports'
fi

if [ "$NOINLINE" = 1 ]; then
    SHADOW="$OUT/noinline"
    echo "== building a -fno-inline _core in $SHADOW" >&2
    rm -rf "$SHADOW" && mkdir -p "$SHADOW"
    cp setup.py "$SHADOW/" && cp -r vega "$SHADOW/vega" && mkdir "$SHADOW/tools"
    cp tools/profile_workload.py "$SHADOW/tools/" && WORKLOAD="$SHADOW/tools/profile_workload.py"
    mkdir "$SHADOW/bench" && cp bench/__init__.py bench/_cli.py "$SHADOW/bench/"    # (the workload's option types)
    rm -f "$SHADOW"/vega/_core.*.so "$SHADOW"/vega/_core.c
    (cd "$SHADOW" && CFLAGS="-fno-inline" VEGA_ONLY=_core "$PY" setup.py build_ext --inplace -q) >&2
    export PYTHONPATH="$SHADOW"
fi

if [ "$DRAIN" = 1 ]; then
    CTL="$OUT/perf-ctl.fifo" ACK="$OUT/perf-ack.fifo"
    rm -rf "$OUT/perf-ctl.fifo" "$OUT/perf-ack.fifo" && mkfifo "$CTL" "$ACK"
    echo "== perf record -e cpu-clock -g -D -1 --control: the capture draining a pre-filled socket, $ROUNDS rounds" >&2
    perf record -e cpu-clock -F 4999 -g -D -1 --control "fifo:$CTL,$ACK" -o "$OUT/perf.data" -- \
        "$PY" bench/bench_capture.py --rounds "$ROUNDS" --perf-ctl "$CTL,$ACK" 2>&1 \
        | grep -v "^Events " | tee "$OUT/run.txt" >&2
    rm -f "$CTL" "$ACK"
    perf_reports
    perf report -i "$OUT/perf.data" --children --stdio -F overhead_children,overhead,sym -g none --percent-limit 0.3 \
        > "$OUT/children.txt" 2>/dev/null
    perf report -i "$OUT/perf.data" --no-children --stdio -F overhead,dso -g none > "$OUT/dso.txt" 2>/dev/null
    cat > "$OUT/categorize.py" <<'PY'
"""perf script -F ip,sym on stdin: each sample charged to the first frame, leaf up, that names a part of the capture."""
import sys, collections
RULES = [  # (substring of the symbol, category)
    ("asm_exc_page_fault", "page faults (first touch of store, ring, buffers)"),
    ("__GI___libc_write", "journal: write() into the page cache (kernel)"),
    ("__libc_write", "journal: write() into the page cache (kernel)"),
    ("fallocate", "journal: write() into the page cache (kernel)"),
    ("jrnl_", "journal: append + index (user space)"),
    ("_jrnl_rec_sink", "journal: append + index (user space)"),
    ("_ring_rec_sink", "ring publish (memcpy into shared memory)"),
    ("_feed_flush", "ring publish (memcpy into shared memory)"),   # the ring sink is inlined into it
    ("__sock_recv_timestamp", "kernel receive stamps (SO_TIMESTAMPNS control messages)"),
    ("__sock_recv_cmsgs", "kernel receive stamps (SO_TIMESTAMPNS control messages)"),
    ("put_cmsg", "kernel receive stamps (SO_TIMESTAMPNS control messages)"),
    ("vg_emit", "change records (vg_emit)"),
    ("_emit_changed", "change records (vg_emit)"),
    ("lzo1z_decompress", "LZO1Z decompression"),
    ("vg_merge_msg", "merge (vg_merge_msg)"),
    ("vg_store_insert", "merge (vg_merge_msg)"),
    ("_feed_sink", "merge (vg_merge_msg)"),
    ("_vg_decode_message", "decode (frame walk, messages)"),
    ("vg_decode_datagram", "decode (frame walk, messages)"),
    ("_dec_", "decode (frame walk, messages)"),
    ("clock_gettime", "clock read per datagram"),
    ("__recvmmsg", "recvmmsg (kernel: dequeue, copy, free)"),
    ("do_recvmmsg", "recvmmsg (kernel: dequeue, copy, free)"),
    ("PyBytes_FromStringAndSize", "Python: bytes per datagram + list"),
    ("BatchReceiver_5recv", "Python: bytes per datagram + list"),
    ("_recv_c", "receiver: slots, lengths, stamps (user space)"),
    ("vg_feed_buffers", "FeedHandler loop (per datagram: time, decode call, sink check)"),
    ("process_batch", "FeedHandler loop"),
    ("poll", "poll"),
]
cnt = collections.Counter(); total = 0; chain = []
def flush():
    global total
    if not chain: return
    total += 1
    for sym in chain:
        for sub, cat in RULES:
            if sub in sym:
                cnt[cat] += 1; return
    cnt["other: Python interpreter, libc, kernel misc"] += 1
for line in sys.stdin:
    line = line.rstrip("\n")
    if not line.strip():
        flush(); chain = []; continue
    parts = line.split(None, 1)
    if len(parts) == 2 and all(c in "0123456789abcdef" for c in parts[0]):
        chain.append(parts[1])
    else:
        flush(); chain = []
flush()
ns = float(sys.argv[1]) if len(sys.argv) > 1 else 0
print(f"{total} samples" + (f"; {ns:,.0f} ns CPU per datagram" if ns else ""))
for cat, n in cnt.most_common():
    print(f"  {100*n/total:5.1f}%" + (f"  {ns*n/total:6,.0f} ns" if ns else "") + f"  {cat}")
PY
    NS=$(sed -n 's/^ *vega *\([0-9,]*\) ns CPU\/datagram.*/\1/p' "$OUT/run.txt" | tr -d , | head -1)
    perf script -i "$OUT/perf.data" -F ip,sym 2>/dev/null | "$PY" "$OUT/categorize.py" ${NS:-0} > "$OUT/parts.txt"
    echo "== per part of the capture ($OUT/parts.txt; ns from the run's CPU per datagram, perf running)" >&2
    cat "$OUT/parts.txt"
    echo "== per module ($OUT/dso.txt)" >&2
    grep -E '^ +[0-9]' "$OUT/dso.txt" || true
    echo "== top symbols ($OUT/flat.txt; inclusive in $OUT/children.txt, call graphs in $OUT/report.txt)" >&2
    top_symbols
    if [ "$CALLGRIND" = 1 ]; then
        echo "== valgrind --tool=callgrind: user-space instructions inside BatchReceiver.feed (one round;" \
             "its ns and datagrams/s are timed under valgrind: read the instruction count)" >&2
        run_callgrind '__pyx_pw_4vega_4_net_13BatchReceiver_*feed' \
            "$PY" bench/bench_capture.py --rounds 1 --vega-only --no-pin 2>&1 | grep -E "vega  |Collected" >&2
        annotate_callgrind
        echo "== callgrind: $OUT/callgrind.txt" >&2
        head -40 "$OUT/callgrind.txt"
    fi
    exit 0
fi

if [ "$CAPTURE" = 1 ]; then
    NAME="vega-profile-$$"
    PORT=$((20000 + RANDOM % 20000))
    rm -rf "$OUT/journal"
    echo "== perf record -e cpu-clock -g: vega capture, fed by vega simulate at $RATE datagrams/s for ${SECONDS_} s" >&2
    perf record -e cpu-clock -F 4999 -g -o "$OUT/perf.data" -- \
        "$PY" -m vega.cli capture --feed "FO=127.0.0.1:$PORT" --feed "CM=127.0.0.1:$((PORT + 1))" \
        --ring "$NAME" --store "$NAME" --journal-root "$OUT/journal" --duration 3600 \
        --stats-interval 1000 > "$OUT/run.txt" 2>&1 &
    PERF_PID=$!
    for _ in $(seq 300); do            # until the capture has made its stores (up to 30 s)
        [ -e "/dev/shm/vega.store.$NAME-cm" ] && break
        sleep 0.1
    done
    sleep 0.5                          # its sockets are opened right after the stores
    # vega simulate first generates the traffic (tens of seconds for big runs; the capture idles meanwhile,
    # which cpu-clock does not sample), then sends it at RATE
    "$PY" -m vega.cli simulate --fo "127.0.0.1:$PORT" --cm "127.0.0.1:$((PORT + 1))" --rate "$RATE" \
        --duration "$SECONDS_" --quiet >&2 || echo "profile.sh: vega simulate failed" >&2
    sleep 0.5
    CAP_PID=$(pgrep -P "$PERF_PID" || true)   # the capture is perf's child: stop it cleanly (journal sealed)
    [ -n "$CAP_PID" ] && kill -TERM "$CAP_PID"
    wait "$PERF_PID" || true
    grep -v '^\[ perf record' "$OUT/run.txt" | tail -6 >&2      # the feeds' last stats lines (errors, gaps)
    rm -f "/dev/shm/$NAME" "/dev/shm/vega.store.$NAME"-*      # the ring and every store the capture made
    perf_reports
    echo "== top symbols ($OUT/flat.txt; call graphs in $OUT/report.txt)" >&2
    top_symbols
    exit 0
fi

# the generator's version in the name: traffic of an earlier vega._streams (other bytes, other codes) is not reused
STREAM_V=$("$PY" -c "from vega._streams import STREAM_VERSION; print(STREAM_VERSION)") \
    || { echo "profile.sh: cannot import vega._streams with $PY" >&2; exit 1; }
STREAM="$OUT/stream-$DATAGRAMS-v$STREAM_V.pkl"
if [ ! -s "$STREAM" ]; then
    echo "== generating $DATAGRAMS simulated datagrams per segment" >&2
    "$PY" "$WORKLOAD" generate --datagrams "$DATAGRAMS" --out "$STREAM"
fi

echo "== perf record -e cpu-clock -g (${SECONDS_} s)" >&2
perf record -e cpu-clock -F 4999 -g -o "$OUT/perf.data" -- \
    "$PY" "$WORKLOAD" run --stream "$STREAM" --seconds "$SECONDS_" 2> >(tee "$OUT/run.txt" >&2)

perf_reports
echo "== top symbols ($OUT/flat.txt; call graphs in $OUT/report.txt)" >&2
top_symbols

if [ "$CALLGRIND" = 1 ]; then
    echo "== valgrind --tool=callgrind (one pass; its ns/message is timed under valgrind)" >&2
    run_callgrind '__pyx_pf_*FeedHandler*process_batch' \
        "$PY" "$WORKLOAD" run --stream "$STREAM" --passes 1 2>&1 | grep -E "passes?, |Collected" >&2
    annotate_callgrind
    echo "== callgrind: $OUT/callgrind.txt" >&2
    head -40 "$OUT/callgrind.txt"
fi
