#!/bin/bash
# tests/e2e/restart.sh - a restart or a crash of droverd breaks no proxied
# connection, with real Squid and nginx.
#
# The lab of tests/lab/lib.sh (12 client addresses, 3 Squids), droverd's
# fast path pinned on a bpffs of the test's own ($LAB_STATE/bpf, given as
# DROVER_BPF_PIN_DIR), so that it outlives droverd as under systemd.
#   For SIGTERM (what `systemctl restart` and a package upgrade send), then
#   for SIGKILL (a crash, which systemd follows with a start):
#   1. Eight clients download 4 MB each, slowly (the origin's 1 MB/s), through
#      drover; mid-way droverd is stopped by the signal and started again.
#      All eight complete with the right sha256, each on the proxy that
#      served it before (droverd's lookup before and after, and the Squid
#      access log of that proxy).
#   2. The new droverd took the kernel's records over (its log says how
#      many clients it kept).
#   3. The window for new clients: a client droverd has never seen sends a
#      request every 10 ms from the moment droverd is gone; printed: how long
#      after the new droverd was started its first request was proxied
#      (a figure, not asserted), and how many went direct meanwhile.
#   4. A stop: SIGTERM then `droverd --cleanup` (the unit's ExecStopPost):
#      nothing is left pinned or attached, and a known client's request goes
#      direct, as with fail_open today.
# Prints "ok - ..." / "not ok - ... (figures)" lines for tests/run.sh.
set -u

here=$(cd "$(dirname "$0")" && pwd)
LAB=${LAB:-drs}
# The XDP program on the veths beside tc (fast_path_mode xdp): its pinned links
# must carry known clients through a restart as the tcx links do
# (restart_clsact.sh runs tc alone).
export LAB_FAST_PATH_MODE=${LAB_FAST_PATH_MODE:-xdp}
LAB_STATE=/tmp/drover-e2e-restart.$$
LAB_CLIENTS=12
LAB_PROXIES=3
# shellcheck source=../lab/lib.sh
. "$here/../lab/lib.sh"
# shellcheck source=../lab/tap.sh
. "$here/../lab/tap.sh"

DOWNLOADS=8
PIN=$LAB_STATE/bpf
export DROVER_BPF_PIN_DIR=$PIN/drover

cleanup() {
	lab_stop_droverd
	if mountpoint -q "$PIN" 2>/dev/null; then
		ip netns exec "$(lab_ns app)" "$DROVER_BUILD/droverd" --cleanup \
			--bpf-pin-dir "$DROVER_BPF_PIN_DIR" >/dev/null 2>&1
		umount "$PIN"
	fi
	lab_down
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# start_again: droverd on the same database, as systemd would start it.
start_again() {
	local pid
	rm -f "$LAB_STATE/drover.sock"
	ip netns exec "$(lab_ns app)" "$DROVER_BUILD/droverd" --db "$LAB_STATE/drover.db" \
		--socket "$LAB_STATE/drover.sock" --manage-rules --log-level info \
		</dev/null >>"$LAB_STATE/droverd.log" 2>&1 &
	pid=$!
	lab_record droverd "$pid" droverd
	echo "$pid" >"$LAB_STATE/droverd.pid"
	lab_wait "$LAB_WAIT_S" test -S "$LAB_STATE/drover.sock"
}

# proxy_of CLIENT: the proxy droverd's lookup names for CLIENT.
proxy_of() {
	lab_droverctl --json lookup "$1" |
		python3 -c "import json,sys; p=json.load(sys.stdin)['proxy']; print(p['name'] if p else '-')"
}

# big_logged N CLIENT: whole downloads of big.bin (4 MB sent) proxy N logged for CLIENT.
big_logged() {
	awk -v c="$2" '$3 == c && $7 ~ /big\.bin$/ && $5 >= 4194304 { n++ } END { print n + 0 }' \
		"$LAB_STATE/px$1/squid/access.log" 2>/dev/null
}

# all_logged: the proxy each download client had before the signal logged
# one more download of it (this phase's).
all_logged() {
	local i c
	for ((i = 1; i <= DOWNLOADS; i++)); do
		c=$(lab_client_address "$i")
		[ "$(big_logged "${before[$c]#squid}" "$c")" -gt "${count0[$c]}" ] || return 1
	done
}

# running_at T: downloads of big.bin the Squids logged as ending after T (epoch seconds).
running_at() {
	cat "$LAB_STATE"/px*/squid/access.log 2>/dev/null |
		awk -v t="$1" '$7 ~ /big\.bin$/ && $1 > t { n++ } END { print n + 0 }'
}

# logged_from CLIENT: some Squid logged a request of CLIENT.
logged_from() {
	cat "$LAB_STATE"/px*/squid/access.log 2>/dev/null | awk -v c="$1" '$3 == c { n++ } END { exit n == 0 }'
}

if ! lab_up || ! mkdir -p "$PIN" || ! mount -t bpf bpf "$PIN" || ! lab_start_droverd; then
	fail "lab world with droverd builds" "$(tail -n 3 "$LAB_STATE/droverd.log" 2>/dev/null | tr '\n' ' ')"
	exit 1
fi
pass "lab world with droverd builds ($LAB_CLIENTS clients, $LAB_PROXIES Squids, fast path pinned in $DROVER_BPF_PIN_DIR)"

# The new client's prober: a request every 10 ms from ADDR until STOP exists;
# prints the time of the first proxied answer (Squid adds Via) and counts.
cat >"$LAB_STATE/prober.py" <<'PY'
import os, socket, sys, time
addr, origin, stop = sys.argv[1], sys.argv[2], sys.argv[3]
first = None
direct = failed = proxied = 0
while not os.path.exists(stop):
    t = time.time()
    try:
        s = socket.socket()
        s.settimeout(0.5)
        s.bind((addr, 0))
        s.connect((origin, 80))
        s.sendall(b"GET / HTTP/1.0\r\nHost: " + origin.encode() + b"\r\n\r\n")
        data = b""
        while True:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
        s.close()
        if b"\r\nvia:" in data.split(b"\r\n\r\n")[0].lower():
            proxied += 1
            if first is None:
                first = t
        elif data:
            direct += 1
        else:
            failed += 1
    except OSError:
        failed += 1
    time.sleep(max(0.0, t + 0.01 - time.time()))
print("%s %d %d %d" % ("%.3f" % first if first else "-", direct, failed, proxied))
PY

want=$(cat "$LAB_STATE/origin/big.sha256")
phase_client=$((DOWNLOADS + 1))
for sig in TERM KILL; do
	declare -A before=() count0=()
	downloads=()
	for ((i = 1; i <= DOWNLOADS; i++)); do
		c=$(lab_client_address "$i")
		# The origin sends it at 1 MB/s (/slow/): about 4 s, the signal at 1.5 s.
		(lab_client_curl "$c" "http://$LAB_ORIGIN/slow/big.bin" --max-time 120 |
			sha256sum | cut -d' ' -f1 >"$LAB_STATE/dl.$sig.$i") &
		downloads+=($!)
	done
	# Every client is placed and its download under way.
	sleep 1.5
	for ((i = 1; i <= DOWNLOADS; i++)); do
		c=$(lab_client_address "$i")
		before[$c]=$(proxy_of "$c")
		n=${before[$c]#squid}
		count0[$c]=$(big_logged "$n" "$c")
	done
	pid=$(cat "$LAB_STATE/droverd.pid")
	kept0=$(grep -c "kept on their proxies" "$LAB_STATE/droverd.log")
	xdp0=$(lab_counter fast_xdp_packets)
	t_kill=$(date +%s.%N)
	kill -"$sig" "$pid"
	wait "$pid" 2>/dev/null
	# A client droverd never saw starts asking as soon as droverd is gone.
	newc=$(lab_client_address "$phase_client")
	phase_client=$((phase_client + 1))
	rm -f "$LAB_STATE/stop"
	lab_exec cli python3 "$LAB_STATE/prober.py" "$newc" "$LAB_ORIGIN" "$LAB_STATE/stop" \
		>"$LAB_STATE/prober.$sig" 2>&1 &
	prober=$!
	t_start=$(date +%s.%N)
	start_again || fail "droverd starts again after SIG$sig" "$(tail -n 3 "$LAB_STATE/droverd.log" | tr '\n' ' ')"
	intact=0
	wait "${downloads[@]}"
	for ((i = 1; i <= DOWNLOADS; i++)); do
		[ "$(cat "$LAB_STATE/dl.$sig.$i" 2>/dev/null)" = "$want" ] && intact=$((intact + 1))
	done
	check $([ $intact -eq $DOWNLOADS ]; echo $?) \
		"SIG$sig of droverd and a start in the middle of $DOWNLOADS downloads: all complete intact" \
		"$intact of $DOWNLOADS sha256-intact"
	lab_wait "$LAB_WAIT_S" lab_all_up
	# Squid writes its access log in buffered steps: give it until it shows them all.
	lab_wait "$LAB_WAIT_S" all_logged
	same=0
	moved=
	for ((i = 1; i <= DOWNLOADS; i++)); do
		c=$(lab_client_address "$i")
		n=${before[$c]#squid}
		after=$(proxy_of "$c")
		if [ "$after" = "${before[$c]}" ] && [ "$(big_logged "$n" "$c")" -eq $((${count0[$c]} + 1)) ]; then
			same=$((same + 1))
		else
			moved+="$c:${before[$c]}->$after (logged ${count0[$c]}->$(big_logged "$n" "$c")) "
		fi
	done
	check $([ $same -eq $DOWNLOADS ]; echo $?) \
		"after SIG$sig each client is on the proxy that served it before, which logged its whole download" \
		"$same of $DOWNLOADS on the same proxy${moved:+; moved: $moved}; $(running_at "$t_kill") of $DOWNLOADS were still running at the signal (Squid's end times)"
	kept=$(grep "kept on their proxies" "$LAB_STATE/droverd.log" | tail -n 1)
	[ "$(grep -c "kept on their proxies" "$LAB_STATE/droverd.log")" -gt "$kept0" ]
	check $? "after SIG$sig the new droverd took over the kernel's client records" "${kept#*fast path: }"
	if [ "$LAB_FAST_PATH_MODE" = xdp ]; then
		# The pinned XDP link was given the new program; its counts are in the maps kept.
		paths=$(lab_counter fast_path_interfaces)
		xdp1=$(lab_counter fast_xdp_packets)
		[[ $paths == *"lan0 xdp"* ]] && [ "$xdp0" -gt 0 ] && [ "$xdp1" -gt "$xdp0" ]
		check $? "after SIG$sig XDP carries in front of tc again, its counters kept" \
			"$paths; fast_xdp_packets $xdp0 before the signal, $xdp1 now"
	fi
	# Long enough for the new client to be proxied, however slow the machine.
	lab_wait "$LAB_WAIT_S" logged_from "$newc"
	touch "$LAB_STATE/stop"
	wait "$prober"
	read -r first direct failed proxied <"$LAB_STATE/prober.$sig"
	if [ "$first" != "-" ]; then
		window=$(python3 -c "print(round(($first - $t_start) * 1000))")
		pass "a new client is proxied after SIG$sig and a start"
		echo "#   window: first request of a new client proxied ${window} ms after droverd was started;" \
			"before it $direct went direct, $failed failed; $proxied proxied"
	else
		fail "a new client is proxied after SIG$sig and a start" "direct $direct, failed $failed"
	fi
done

# --- a stop: SIGTERM, then the unit's ExecStopPost ------------------------------
pid=$(cat "$LAB_STATE/droverd.pid")
client=$(lab_client_address 1)
kill -TERM "$pid"
wait "$pid" 2>/dev/null
ip netns exec "$(lab_ns app)" "$DROVER_BUILD/droverd" --cleanup --manage-rules \
	--bpf-pin-dir "$DROVER_BPF_PIN_DIR" >>"$LAB_STATE/droverd.log" 2>&1
left=$(ls -A "$DROVER_BPF_PIN_DIR" 2>/dev/null | tr '\n' ' ')
[ -e "$DROVER_BPF_PIN_DIR" ] && left="${left:-its directory}"
progs=$(lab_exec app bpftool net show 2>/dev/null | grep -c drover_fastpath)
before=$(for n in $(seq "$LAB_PROXIES"); do lab_squid_requests "$n" "$client"; done | paste -sd' ')
lab_client_curl "$client" "http://$LAB_ORIGIN/" 2>/dev/null | grep -q "$LAB_MARKER"
r=$?
after=$(for n in $(seq "$LAB_PROXIES"); do lab_squid_requests "$n" "$client"; done | paste -sd' ')
[ -z "$left" ] && [ "$progs" -eq 0 ] && [ $r -eq 0 ] && [ "$before" = "$after" ]
check $? "a stop (SIGTERM, then droverd --cleanup) leaves nothing pinned or attached; a known client goes direct" \
	"pinned: ${left:-nothing}; programs attached: $progs; answered: $([ $r -eq 0 ] && echo yes || echo no); Squid logs unchanged: $([ "$before" = "$after" ] && echo yes || echo no)"

exit $((failures > 0))
