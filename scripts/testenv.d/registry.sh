# shellcheck shell=bash
# Two registries from Debian's docker-registry (distribution v2) on loopback, plain http: a plain one
# on 127.0.0.1:$REGISTRY_PORT and one with htpasswd basic auth on 127.0.0.1:$AUTH_REGISTRY_PORT.
# Docker allows plain http to 127.0.0.0/8 without --insecure-registry. Configs and credentials are
# per checkout ($STATE); the stored layers are per machine ($CACHE/registry-data), so they persist.
# shellcheck source=docker-apt.sh
source "$(dirname "${BASH_SOURCE[0]}")/docker-apt.sh"

REGISTRY_USER=kubedev
REGISTRY_PASSWORD_FILE=$STATE/registry-auth.password
REGISTRY_HTPASSWD=$STATE/registry-auth.htpasswd
REGISTRY_CREDENTIALS=$STATE/auth-registry.json

# registry_status PORT [USER:PASSWORD] : HTTP status of GET /v2/ (000 when nothing answers)
registry_status() {
  local config="url = \"http://127.0.0.1:$1/v2/\""
  if [[ -n ${2:-} ]]; then config+=$'\n'"user = \"$2\""; fi   # via stdin, not visible in ps
  curl --silent --output /dev/null --max-time 5 --write-out '%{http_code}' --config - <<< "$config" || true
}

registry_plain_ok() { [[ $(registry_status "$REGISTRY_PORT") == 200 ]]; }

# answers 401 to strangers and 200 to the credentials of this checkout
registry_auth_ok() {
  [[ -f $REGISTRY_PASSWORD_FILE && $(registry_status "$AUTH_REGISTRY_PORT") == 401 &&
    $(registry_status "$AUTH_REGISTRY_PORT" "$REGISTRY_USER:$(cat "$REGISTRY_PASSWORD_FILE")") == 200 ]]
}

registry_running() { registry_plain_ok && registry_auth_ok; }

registry_up() {
  [[ -x /usr/bin/docker-registry ]] || apt_install docker-registry
  command -v htpasswd >/dev/null || apt_install apache2-utils
  registry_write_credentials
  local plain=1 auth=1
  registry_plain_ok || { plain=0; registry_check_port registry-plain "$REGISTRY_PORT" KUBEDEV_REGISTRY_PORT; }
  registry_auth_ok || { auth=0; registry_check_port registry-auth "$AUTH_REGISTRY_PORT" KUBEDEV_AUTH_REGISTRY_PORT; }
  ((plain)) || registry_start registry-plain "$REGISTRY_PORT" registry_plain_ok
  ((auth)) || registry_start registry-auth "$AUTH_REGISTRY_PORT" registry_auth_ok
}

# registry_check_port NAME PORT PORT_VARIABLE : before starting anything, so a busy port starts nothing
registry_check_port() {
  local name=$1 port=$2 variable=$3
  stop_daemon "$name"   # ours but not answering as it should: it is started afresh
  port_free "$port" || die "port 127.0.0.1:$port is in use by a program testenv did not start (see: ss -ltnp 'sport = :$port'); stop it, or move this registry with $variable=<free port>"
}

registry_down() {
  stop_daemon registry-auth
  stop_daemon registry-plain
}

# The password is made once per checkout; htpasswd file and JSON are rewritten from it (port may move).
registry_write_credentials() {
  local password
  (
    umask 077
    [[ -s $REGISTRY_PASSWORD_FILE ]] ||
      python3 -c 'import secrets; print(secrets.token_urlsafe(24))' > "$REGISTRY_PASSWORD_FILE"
  ) || die "could not write $REGISTRY_PASSWORD_FILE"
  password=$(cat "$REGISTRY_PASSWORD_FILE")
  (
    umask 077
    # -B bcrypt (the only hash distribution accepts), -i password from stdin
    htpasswd -B -i -c "$REGISTRY_HTPASSWD" "$REGISTRY_USER" <<< "$password" 2>"$STATE/logs/htpasswd.log"
    # token_urlsafe needs no JSON escaping
    printf '{"host": "127.0.0.1:%s", "username": "%s", "password": "%s"}\n' \
      "$AUTH_REGISTRY_PORT" "$REGISTRY_USER" "$password" > "$REGISTRY_CREDENTIALS"
  ) || die "could not write the auth registry credentials (see $STATE/logs/htpasswd.log)"
  chmod 600 "$REGISTRY_PASSWORD_FILE" "$REGISTRY_HTPASSWD" "$REGISTRY_CREDENTIALS"
}

# registry_start NAME PORT READY_CHECK
registry_start() {
  local name=$1 port=$2 ready=$3 config="$STATE/$1.yml" data="$CACHE/registry-data/${1#registry-}"
  mkdir -p "$data"
  {
    echo "version: 0.1"
    echo "log: {level: info, fields: {service: $name}}"
    echo "storage: {filesystem: {rootdirectory: $data}, delete: {enabled: true}}"
    echo "http: {addr: 127.0.0.1:$port, headers: {X-Content-Type-Options: [nosniff]}}"
    if [[ $name == registry-auth ]]; then
      echo "auth: {htpasswd: {realm: kubedev-test-registry, path: $REGISTRY_HTPASSWD}}"
    fi
  } > "$config"
  start_daemon "$name" /usr/bin/docker-registry serve "$config"
  wait_for "$name on 127.0.0.1:$port" 30 "$name" "$ready"
}
