#!/bin/bash
# tests/e2e/config_crash.sh - the configuration survives crashes, old schemas
# and backup/restore while writes go on.
#
#   1. Crash loop: droverd is killed with SIGKILL at a random moment while a
#      writer streams `droverctl settings set` calls at it, CRASH_ITERATIONS
#      times (default 200; `make crashloop` runs 200, `make test` fewer, see
#      CRASH_ITERATIONS below). Every time: PRAGMA integrity_check is clean,
#      every acknowledged write is in the database (its value and its audit
#      row), and droverd starts again on the file.
#   2. Migration: databases of schema versions 1, 2 and 3, built here by hand
#      with the sqlite3 shell, are opened by droverd, migrated to the current
#      version and keep their proxies, settings, audit rows and hash key.
#   3. Backup and restore while a writer runs: every backup is a consistent
#      snapshot (integrity clean, its value agrees with its own audit log and
#      lies between the acknowledged writes before and after it); a restore
#      goes in live; damaged, newer-schema and foreign files are refused with
#      nothing changed; an older-schema file is migrated on restore.
#
# droverd runs in a bare network namespace (its queues bind there; no rules,
# no traffic). Prints "ok - ..." / "not ok - ..." lines for tests/run.sh.
set -u

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
BUILD=${DROVER_BUILD:-$root/build}
# The schema version this drover migrates every older database to.
SCHEMA=$(awk '$1 == "#define" && $2 == "STORE_SCHEMA_VERSION" { print $3 }' "$root/appliance/store.h")
ITER=${CRASH_ITERATIONS:-200}
NS=fxc$$
STATE=$(mktemp -d /tmp/drover-e2e-config-crash.XXXXXX)
DB=$STATE/db/drover.db
SOCK=$STATE/drover.sock
DPID=
WPID=
# How long droverd may take to answer after a start before it counts as a
# failed restart: generous, the wait ends as soon as it answers.
START_WAIT_S=120

# shellcheck source=../lab/tap.sh
. "$here/../lab/tap.sh"

cleanup() {
	[ -n "$WPID" ] && kill "$WPID" 2>/dev/null
	[ -n "$DPID" ] && kill -KILL "$DPID" 2>/dev/null
	wait 2>/dev/null
	ip netns del "$NS" 2>/dev/null
	rm -rf "$STATE"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

ctl() { ip netns exec "$NS" "$BUILD/droverctl" --socket "$SOCK" "$@"; }

# start_droverd DB: droverd on DB; waits until it answers.
start_droverd() {
	local deadline=$((SECONDS + START_WAIT_S))
	ip netns exec "$NS" "$BUILD/droverd" --db "$1" --socket "$SOCK" --log-level warning \
		</dev/null >>"$STATE/droverd.log" 2>&1 &
	DPID=$!
	while [ $SECONDS -lt $deadline ]; do
		ctl settings get affinity_timeout >/dev/null 2>&1 && return 0
		kill -0 "$DPID" 2>/dev/null || return 1
		sleep 0.02
	done
	return 1
}

stop_droverd() {
	[ -n "$DPID" ] || return 0
	kill -TERM "$DPID" 2>/dev/null
	wait "$DPID" 2>/dev/null
	DPID=
}

integrity() { sqlite3 "$1" 'PRAGMA integrity_check' 2>&1 | head -n 1; }

# writer FROM ACKFILE: settings writes FROM, FROM+1, ... alternating two keys;
# each acknowledged one is appended to ACKFILE as "KEY VALUE". Stops at the
# first refusal (droverd gone).
writer() {
	local v=$1 ack=$2
	while :; do
		if ((v % 2)); then
			ctl settings set affinity_timeout "$v" >/dev/null 2>&1 || break
			echo "affinity_timeout $v" >>"$ack"
		else
			ctl settings set probe_host "h$v" >/dev/null 2>&1 || break
			echo "probe_host h$v" >>"$ack"
		fi
		v=$((v + 1))
	done
}

ip netns add "$NS" && ip -n "$NS" link set lo up || {
	fail "network namespace for droverd"
	exit 1
}
mkdir -p "$STATE/db"

# --- 1. crash loop --------------------------------------------------------------
start_ms=$(date +%s%3N)
bad_integrity=0
lost=0
acked_total=0
no_restart=0
first_problem=
next=1
for ((i = 1; i <= ITER; i++)); do
	if ! start_droverd "$DB"; then
		no_restart=$((no_restart + 1))
		: "${first_problem:=iteration $i: droverd did not start: $(tail -n 2 "$STATE/droverd.log" | tr '\n' ' ')}"
		kill -KILL "$DPID" 2>/dev/null
		wait "$DPID" 2>/dev/null
		continue
	fi
	ack=$STATE/ack.$i
	: >"$ack"
	writer "$next" "$ack" &
	WPID=$!
	# A random moment 20..400 ms into the stream of writes.
	sleep "0.$(printf '%03d' $((20 + RANDOM % 381)))"
	kill -KILL "$DPID"
	wait "$DPID" 2>/dev/null
	DPID=
	wait "$WPID" 2>/dev/null
	WPID=
	n=$(wc -l <"$ack")
	acked_total=$((acked_total + n))
	next=$((next + n + 2))
	res=$(integrity "$DB")
	if [ "$res" != ok ]; then
		bad_integrity=$((bad_integrity + 1))
		: "${first_problem:=iteration $i: integrity_check: $res}"
	fi
	# Every acknowledged write has its audit row; the last one of each key is the stored value.
	missing=$(sqlite3 "$DB" "SELECT detail FROM audit WHERE action = 'setting.set'" |
		awk 'NR == FNR { seen[$2 " " $4] = 1; next } !(($1 " " $2) in seen) { n++ } END { print n + 0 }' - "$ack")
	last_at=$(awk '$1 == "affinity_timeout" { v = $2 } END { print v }' "$ack")
	if [ -n "$last_at" ]; then
		stored=$(sqlite3 "$DB" "SELECT value FROM settings WHERE key = 'affinity_timeout'")
		[ "${stored:-0}" -ge "$last_at" ] || missing=$((missing + 1))
	fi
	if [ "$missing" -gt 0 ]; then
		lost=$((lost + missing))
		: "${first_problem:=iteration $i: $missing acknowledged writes missing}"
	fi
done
took=$(($(date +%s%3N) - start_ms))
check $((bad_integrity + lost + no_restart != 0)) \
	"$ITER SIGKILLs during config writes: integrity_check clean, no acknowledged write lost, droverd restarts" \
	"kills=$ITER acknowledged_writes=$acked_total writes_lost=$lost integrity_failures=$bad_integrity failed_restarts=$no_restart time=${took}ms${first_problem:+ first: $first_problem}"
if start_droverd "$DB"; then
	final=$(ctl settings get affinity_timeout)
	check 0 "droverd serves the crash-looped database afterwards" "affinity_timeout=$final"
	stop_droverd
else
	fail "droverd serves the crash-looped database afterwards"
fi

# --- 2. migrations from every older schema --------------------------------------
V1="CREATE TABLE proxies (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE,
 address TEXT NOT NULL UNIQUE, weight INTEGER NOT NULL,
 admin TEXT NOT NULL CHECK(admin IN ('enabled','drain','disabled')));
CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
V2="ALTER TABLE proxies ADD COLUMN version INTEGER NOT NULL DEFAULT 1;
ALTER TABLE proxies ADD COLUMN created_at INTEGER;
ALTER TABLE proxies ADD COLUMN updated_at INTEGER;
CREATE TABLE audit (id INTEGER PRIMARY KEY, time INTEGER NOT NULL, actor TEXT NOT NULL,
 action TEXT NOT NULL, detail TEXT NOT NULL);
CREATE TABLE meta (key TEXT PRIMARY KEY, value BLOB);"
V3="ALTER TABLE proxies ADD COLUMN probe TEXT
 CHECK(probe IS NULL OR probe IN ('http-proxy','http','tcp'));"
DATA1="INSERT INTO proxies (id, name, address, weight, admin) VALUES
 (1, 'old-a', '198.18.7.1', 100, 'enabled'), (2, 'old-b', '198.18.7.2', 250, 'drain');
INSERT INTO settings VALUES ('affinity_timeout', '123'), ('no_proxy_policy', 'reject');"
DATA2="UPDATE proxies SET version = 7 WHERE id = 2;
INSERT INTO audit (time, actor, action, detail) VALUES (1700000000, 'droverctl', 'proxy.add', 'from v2');
INSERT INTO meta VALUES ('hash_key', X'00112233445566778899aabbccddeeff');"
DATA3="UPDATE proxies SET probe = 'tcp' WHERE id = 1;"

make_db() { # make_db VERSION FILE
	local sql="$V1 $DATA1"
	[ "$1" -ge 2 ] && sql+=" $V2 $DATA2"
	[ "$1" -ge 3 ] && sql+=" $V3 $DATA3"
	sqlite3 "$2" "BEGIN; $sql PRAGMA user_version = $1; COMMIT;"
}

for v in 1 2 3; do
	f=$STATE/v$v/drover.db
	mkdir -p "$STATE/v$v"
	make_db $v "$f"
	if ! start_droverd "$f"; then
		fail "a version $v database migrates" "droverd did not start: $(tail -n 2 "$STATE/droverd.log" | tr '\n' ' ')"
		continue
	fi
	got=$(ctl --json proxy list | jq -c '[.proxies[] | [.name, .address, .weight, .admin, .version, .probe]]')
	want='[["old-a","198.18.7.1",100,"enabled",1,"http-proxy"],["old-b","198.18.7.2",250,"drain",1,"http-proxy"]]'
	[ $v -ge 2 ] && want='[["old-a","198.18.7.1",100,"enabled",1,"http-proxy"],["old-b","198.18.7.2",250,"drain",7,"http-proxy"]]'
	[ $v -ge 3 ] && want='[["old-a","198.18.7.1",100,"enabled",1,"tcp"],["old-b","198.18.7.2",250,"drain",7,"http-proxy"]]'
	settings="$(ctl settings get affinity_timeout) $(ctl settings get no_proxy_policy)"
	audit=$(ctl audit --limit 50 | grep -c 'from v2')
	stop_droverd
	ver=$(sqlite3 "$f" 'PRAGMA user_version')
	key=$(sqlite3 "$f" "SELECT hex(value) FROM meta WHERE key = 'hash_key'")
	ok=0
	[ "$got" = "$want" ] && [ "$settings" = "123 reject" ] && [ "$ver" = "$SCHEMA" ] &&
		[ "$(integrity "$f")" = ok ] || ok=1
	[ $v -ge 2 ] && { [ "$audit" = 1 ] && [ "$key" = 00112233445566778899AABBCCDDEEFF ] || ok=1; }
	check $ok "a version $v database migrates to version $SCHEMA and keeps its data" \
		"user_version=$ver proxies=$got settings='$settings' v2_audit_rows=$audit hash_key=${key:0:8}..."
done

# --- 3. backup and restore while writes go on -----------------------------------
rm -rf "$STATE/db" && mkdir -p "$STATE/db"
start_droverd "$DB" || { fail "droverd starts for backup/restore"; exit 1; }
ctl proxy add 198.18.8.1 --name keep-a >/dev/null
ctl proxy add 198.18.8.2 --name keep-b --weight 30 >/dev/null
ack=$STATE/ack.backup
: >"$ack"
writer 50001 "$ack" &
WPID=$!
sleep 0.3
bad=0
figs=
for b in 1 2 3 4 5; do
	before=$(awk '$1 == "affinity_timeout" { v = $2 } END { print v + 0 }' "$ack")
	t0=$(date +%s%3N)
	out=$(ctl backup "$STATE/backup.$b.db" 2>&1)
	rc=$?
	bt=$(($(date +%s%3N) - t0))
	after=$(awk '$1 == "affinity_timeout" { v = $2 } END { print v + 0 }' "$ack")
	f=$STATE/backup.$b.db
	val=$(sqlite3 "$f" "SELECT value FROM settings WHERE key = 'affinity_timeout'" 2>/dev/null)
	logged=$(sqlite3 "$f" "SELECT detail FROM audit WHERE detail LIKE 'set affinity_timeout = %' ORDER BY id DESC LIMIT 1" 2>/dev/null | awk '{ print $4 }')
	mode=$(stat -c %a "$f" 2>/dev/null)
	if [ $rc -ne 0 ] || [ "$(integrity "$f")" != ok ] || [ "$val" != "$logged" ] ||
		[ "${val:-0}" -lt "$before" ] || [ "${val:-0}" -gt $((after + 2)) ] || [ "$mode" != 600 ]; then
		bad=$((bad + 1))
		figs+=" [#$b rc=$rc val=$val logged=$logged before=$before after=$after mode=$mode $out]"
	else
		figs+=" #$b:${bt}ms"
	fi
	sleep 0.2
done
check $bad "five backups taken while writes go on are consistent snapshots (integrity ok, mode 0600)" \
	"$(wc -l <"$ack") writes acknowledged meanwhile;$figs"

# Restore while the writer still runs: it goes in, and nothing the writer was told is refused.
rs=$(ctl --json restore "$STATE/backup.2.db")
check "$([ "$(jq -r .ok <<<"$rs")" = true ]; echo $?)" "restore while writes go on is accepted and applied live" \
	"$(jq -c '{settings_changed, proxies, restart_needed}' <<<"$rs" 2>/dev/null)"
sleep 0.3
kill "$WPID" 2>/dev/null
wait "$WPID" 2>/dev/null
WPID=
check "$([ "$(integrity "$DB")" = ok ]; echo $?)" "the live database is sound after a restore under writes"

# Without writes: the restored values are the ones in force.
want=$(sqlite3 "$STATE/backup.4.db" "SELECT value FROM settings WHERE key = 'affinity_timeout'")
ctl proxy del 1 >/dev/null
ctl settings set no_proxy_policy drop >/dev/null
out=$(ctl restore "$STATE/backup.4.db")
got=$(ctl settings get affinity_timeout)
pol=$(ctl settings get no_proxy_policy)
px=$(ctl --json proxy list | jq -c '[.proxies[] | .name]')
restores=$(ctl audit --limit 500 | grep -c config.restore)
check "$([ "$got" = "$want" ] && [ "$pol" = bypass ] && [ "$px" = '["keep-a","keep-b"]' ] && [ "$restores" = 2 ]; echo $?)" \
	"a restore is in force at once: settings, proxies; the audit log keeps its history" \
	"$out; affinity_timeout=$got (backup $want) no_proxy_policy=$pol proxies=$px restore_rows=$restores"

# Refusals leave everything as it was.
cp "$STATE/backup.4.db" "$STATE/damaged.db"
# Page 2 onwards (a table's b-tree) overwritten: the structure no longer holds.
head -c 8192 /dev/urandom | dd of="$STATE/damaged.db" bs=4096 seek=1 conv=notrunc status=none
cp "$STATE/backup.4.db" "$STATE/newer.db"
sqlite3 "$STATE/newer.db" 'PRAGMA user_version = 9'
sqlite3 "$STATE/foreign.db" 'CREATE TABLE t (x); PRAGMA user_version = 2'
echo 'not a database' >"$STATE/text.db"
make_db 2 "$STATE/old-v2.db"
ctl settings set affinity_timeout 4242 >/dev/null
refused=0
reasons=
for f in damaged newer foreign text missing; do
	msg=$(ctl restore "$STATE/$f.db" 2>&1) && continue
	refused=$((refused + 1))
	reasons+=" $f: ${msg#droverctl: restore: }|"
done
still=$(ctl settings get affinity_timeout)
check "$([ $refused -eq 5 ] && [ "$still" = 4242 ]; echo $?)" \
	"restore refuses damaged, newer-schema, foreign, non-database and missing files, changing nothing" \
	"refused $refused of 5; affinity_timeout still $still;${reasons}"
out=$(ctl restore "$STATE/old-v2.db" 2>&1 | tr '\n' ' ')
got="$(ctl settings get affinity_timeout) $(ctl --json proxy list | jq -c '[.proxies[] | .name]')"
check "$([ "$got" = '123 ["old-a","old-b"]' ]; echo $?)" "restoring a version 2 backup migrates it and applies it" \
	"$out; now: $got"
stop_droverd
