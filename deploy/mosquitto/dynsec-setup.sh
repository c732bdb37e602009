#!/bin/sh
# One-time setup of Mosquitto's dynamic-security plugin for Gito.
#
#   dynsec-setup.sh init <dynsec.json>
#       Before the broker's first start (offline): create the plugin's file with the admin
#       client Gito provisions devices through (MQTT_DYNSEC_USERNAME / MQTT_DYNSEC_PASSWORD).
#   dynsec-setup.sh service [host] [port]
#       Once the broker runs: create the `gito-service` role and client (MQTT_USERNAME /
#       MQTT_PASSWORD) the processor and the command sender connect with, and deny message
#       delivery by default so each client receives only what a role allows. Safe to repeat:
#       a second run keeps what exists and sets the service password again.
#
# Credentials come from the environment under the names Gito's .env uses. mosquitto_ctrl takes
# passwords as arguments, so run this where other users cannot read the process list.
set -eu

# Keep in sync with SERVICE_SUBSCRIBE / SERVICE_PUBLISH in src/gito/broker/acl.py
# (tests/broker/test_acl.py compares them).
SERVICE_SUBSCRIBE="+/devices/+/telemetry +/devices/+/commands/response application/+/device/+/event/+"
SERVICE_PUBLISH="+/devices/+/commands application/+/device/+/command/down"
SHARED_GROUP=gito
SERVICE_ROLE=gito-service

need() {
  eval "value=\${$1:-}"
  if [ -z "$value" ]; then echo "dynsec-setup.sh: $1 is not set" >&2; exit 2; fi
}

# mosquitto_ctrl 2.0 exits 0 even when the broker refuses the login or a command, so the
# outcome is read from its output. `run <tolerated text> <dynsec command...>`: an error whose
# text contains <tolerated text> (e.g. "already exists" on a second run) counts as success.
run() {
  allow=$1
  shift
  status=0
  out=$(mosquitto_ctrl -h "$HOST" -p "$PORT" -u "$MQTT_DYNSEC_USERNAME" \
    -P "$MQTT_DYNSEC_PASSWORD" dynsec "$@" 2>&1) || status=$?
  case "$out" in
    *rror*)
      if [ -n "$allow" ]; then
        case "$out" in *"$allow"*) return 0 ;; esac
      fi
      status=1
      ;;
  esac
  if [ "$status" -ne 0 ]; then
    echo "dynsec-setup.sh: dynsec $1 failed:" >&2
    echo "$out" | grep -v -e "without encryption" -e "configuration changes" -e '^$' >&2
    return 1
  fi
  printf '%s\n' "$out"
}

case "${1:-}" in
  init)
    [ -n "${2:-}" ] || { echo "usage: $0 init <dynsec.json>" >&2; exit 2; }
    need MQTT_DYNSEC_USERNAME
    need MQTT_DYNSEC_PASSWORD
    mosquitto_ctrl dynsec init "$2" "$MQTT_DYNSEC_USERNAME" "$MQTT_DYNSEC_PASSWORD"
    ;;
  service)
    need MQTT_DYNSEC_USERNAME
    need MQTT_DYNSEC_PASSWORD
    need MQTT_USERNAME
    need MQTT_PASSWORD
    HOST=${2:-127.0.0.1}
    PORT=${3:-1883}
    run "already exists" createRole "$SERVICE_ROLE" >/dev/null
    for topic in $SERVICE_SUBSCRIBE; do
      run "already exists" addRoleACL "$SERVICE_ROLE" subscribePattern "$topic" allow >/dev/null
      run "already exists" addRoleACL "$SERVICE_ROLE" subscribePattern \
        "\$share/$SHARED_GROUP/$topic" allow >/dev/null
      run "already exists" addRoleACL "$SERVICE_ROLE" publishClientReceive "$topic" allow \
        >/dev/null
    done
    for topic in $SERVICE_PUBLISH; do
      run "already exists" addRoleACL "$SERVICE_ROLE" publishClientSend "$topic" allow >/dev/null
    done
    run "already exists" createClient "$MQTT_USERNAME" -p "$MQTT_PASSWORD" >/dev/null
    # On a second run this sets a changed password (and disconnects the client, which
    # reconnects with the new one).
    run "" setClientPassword "$MQTT_USERNAME" "$MQTT_PASSWORD" >/dev/null
    if ! run "" getClient "$MQTT_USERNAME" | grep -q " $SERVICE_ROLE (priority"; then
      run "" addClientRole "$MQTT_USERNAME" "$SERVICE_ROLE" >/dev/null
    fi
    # Devices' roles allow delivery of their own commands only (gito.broker.dynsec), so a
    # client that takes over another's session id inherits its subscriptions but no messages.
    # `mosquitto_ctrl dynsec setDefaultACLAccess` of Mosquitto 2.0.11 reports success and
    # changes nothing, so the command goes to the control topic directly and is then checked.
    mosquitto_pub -h "$HOST" -p "$PORT" -u "$MQTT_DYNSEC_USERNAME" -P "$MQTT_DYNSEC_PASSWORD" \
      -q 1 -t '$CONTROL/dynamic-security/v1' \
      -m '{"commands":[{"command":"setDefaultACLAccess","acls":[{"acltype":"publishClientReceive","allow":false}]}]}'
    tries=0
    until run "" getDefaultACLAccess | grep -Eq "publishClientReceive[[:space:]]*:[[:space:]]*deny"; do
      tries=$((tries + 1))
      if [ "$tries" -ge 20 ]; then
        echo "dynsec-setup.sh: the default publishClientReceive access is still allow" >&2
        exit 1
      fi
      sleep 0.2
    done
    echo "dynsec: role $SERVICE_ROLE and client $MQTT_USERNAME are ready on $HOST:$PORT"
    ;;
  *)
    echo "usage: $0 init <dynsec.json> | $0 service [host] [port]" >&2
    exit 2
    ;;
esac
