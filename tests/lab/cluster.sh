# shellcheck shell=bash
# tests/lab/cluster.sh - configuration replication between two appliances of
# a lab, as an operator sets it up: A the primary with its web API over HTTPS
# (a certificate naming its address), an API token made through that API, B
# a replica that pulls A with it. Sourced after tests/lab/lib.sh.

# cluster_cert ADDRESS DIR: a self-signed certificate naming ADDRESS, in
# DIR/primary-cert.pem and DIR/primary-key.pem (the replica's CA file too).
cluster_cert() {
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
		-subj "/CN=drover-primary" -addext "subjectAltName=IP:$1" \
		-keyout "$2/primary-key.pem" -out "$2/primary-cert.pem" >/dev/null 2>&1
}

# cluster_token NS URL CA PASSWORD_FILE: signs in to URL as admin with the
# first password (changing it, as the web UI requires), makes an API token
# for the replicas and prints it. An http:// URL needs no CA (pass '').
cluster_token() {
	lab_exec "$1" python3 - "$2" "$3" "$(head -n 1 "$4")" <<'EOF'
import http.client, json, ssl, sys, urllib.parse
url, ca, password = sys.argv[1], sys.argv[2], sys.argv[3]
u = urllib.parse.urlsplit(url)
origin = "%s://%s" % (u.scheme, u.netloc)
cookie, csrf = None, None
def call(method, path, body):
    global cookie, csrf
    if u.scheme == "https":
        conn = http.client.HTTPSConnection(u.hostname, u.port, timeout=30,
                                           context=ssl.create_default_context(cafile=ca))
    else:
        conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
    h = {"Origin": origin, "Content-Type": "application/json"}
    if cookie:
        h["Cookie"] = cookie
    if csrf:
        h["X-CSRF-Token"] = csrf
    conn.request(method, path, json.dumps(body), h)
    r = conn.getresponse()
    data = json.loads(r.read() or b"{}")
    if r.getheader("Set-Cookie"):
        cookie = r.getheader("Set-Cookie").split(";")[0]
    if data.get("csrf"):
        csrf = data["csrf"]
    if r.status >= 300:
        sys.exit("%s %s: HTTP %d %s" % (method, path, r.status, data))
    return data
call("POST", "/api/v1/login", {"username": "admin", "password": password})
call("POST", "/api/v1/account/password", {"current": password, "new": password + "-changed"})
print(call("POST", "/api/v1/tokens", {"name": "replicas"})["token"])
EOF
}

# cluster_primary CTL NS ADDRESS PASSWORD_FILE DIR: makes the droverd that
# CTL (a function: droverctl of that node) reaches the configuration primary,
# named drover-a, its web API on https://ADDRESS:8443; the token for the
# replicas in DIR/primary.token.
cluster_primary() {
	local ctl=$1 ns=$2 address=$3 password=$4 dir=$5 kv
	cluster_cert "$address" "$dir" || return 1
	for kv in cluster_node_name=drover-a "tls_cert=$dir/primary-cert.pem" \
		"tls_key=$dir/primary-key.pem" https=true "http_listen=$address:8443" \
		cluster_role=primary; do
		"$ctl" settings set "${kv%%=*}" "${kv#*=}" >/dev/null || {
			lab_log "the primary refused $kv"
			return 1
		}
	done
	lab_wait "$LAB_WAIT_S" lab_exec "$ns" bash -c "echo >/dev/tcp/$address/8443" || return 1
	cluster_token "$ns" "https://$address:8443" "$dir/primary-cert.pem" "$password" \
		>"$dir/primary.token" || return 1
	chmod 0600 "$dir/primary.token"
}

# cluster_replica CTL ADDRESS DIR: makes the droverd that CTL reaches a
# replica, named drover-b, of the primary at https://ADDRESS:8443.
cluster_replica() {
	local ctl=$1 address=$2 dir=$3 kv
	for kv in cluster_node_name=drover-b "cluster_token_file=$dir/primary.token" \
		"cluster_ca_file=$dir/primary-cert.pem" "cluster_primary=https://$address:8443" \
		cluster_role=replica; do
		"$ctl" settings set "${kv%%=*}" "${kv#*=}" >/dev/null || {
			lab_log "the replica refused $kv"
			return 1
		}
	done
}

# cluster_field CTL EXPR: a value of `CTL --json cluster', by a Python expression on c.
cluster_field() {
	"$1" --json cluster 2>/dev/null | python3 -c "import json,sys
c = json.load(sys.stdin)['cluster']
print($2)"
}

# cluster_same CTL_A CTL_B: the same configuration generation and table digest on both.
cluster_same() {
	local a b
	a=$(cluster_field "$1" "c['config_generation'], c['table_digest']") &&
		b=$(cluster_field "$2" "c['config_generation'], c['table_digest']") &&
		[ -n "$a" ] && [ "$a" = "$b" ]
}
