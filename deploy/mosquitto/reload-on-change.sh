#!/bin/sh
# Entrypoint of the mosquitto container (docker-compose.yml): runs the broker and makes it
# re-read its password file and ACL when another container rewrites them.
#
# The API and the alert service change device credentials and rewrite both files
# (stack/mosquitto_auth.py sync_accounts) in a volume shared with this container, but a
# process cannot signal one in another container. This script is the broker's parent, so
# it sends the SIGHUP.
#
# Polling, every IOC_POLL_SECONDS (2): the eclipse-mosquitto image is Alpine with busybox
# only, no inotifywait. Each poll compares contents (cmp) rather than mtimes, which have
# whole seconds here: two syncs in one second would look like one.
#
# The broker does not read the shared files: they are the writers' (group-readable, 0640,
# of IOC_MQTT_ACCOUNTS_GID), and mosquitto >= 2.0.16 warns about a password file or ACL
# owned by another user and says future versions will refuse it. A changed file is copied
# into IOC_BROKER_ACCOUNTS_DIR (where mosquitto.conf points), owned by the broker's user,
# mode 0600, and replaced with mv, so the broker never reads half a file.
#
# Usage: reload-on-change.sh [broker command...]
#   (default: /usr/sbin/mosquitto -c /mosquitto/config/mosquitto.conf)
# SIGTERM and SIGINT go to the broker (it saves its persistence file, then exits) and the
# script exits with the broker's status; SIGHUP goes to the broker too.
# POSIX sh and busybox tools only (flock included in Alpine's) (tests/integration/test_mosquitto_reload_wrapper.py).

set -u
src=${IOC_ACCOUNTS_DIR:-/mosquitto/accounts}
dst=${IOC_BROKER_ACCOUNTS_DIR:-/mosquitto/config}
broker_user=${IOC_BROKER_USER:-mosquitto}
interval=${IOC_POLL_SECONDS:-2}
files="passwd acl"
[ $# -gt 0 ] || set -- /usr/sbin/mosquitto -c /mosquitto/config/mosquitto.conf
umask 077

log() {
    echo "reload-on-change: $*" >&2
}

give_to_broker() {
    chmod 0600 "$1" || return 1
    # As root (the image's default) the copy becomes the broker's own, which it drops to
    # after start; otherwise the broker runs as we do and the copy is already ours.
    [ "$(id -u)" != 0 ] || chown "$broker_user:$broker_user" "$1"
}

# Copies every file that differs from the broker's copy; status 0 if one did.
install_changed() {
    status=1
    # The writers hold this lock exclusively while they write both files
    # (stack/mosquitto_auth.py): under it the pair is consistent, never a new password
    # file with an ACL that lacks the blocks of its logins (mosquitto 2.0.11 dropped a
    # grace login that connected between two such reloads).
    if [ -f "$src/.passwd.lock" ]; then
        exec 9<"$src/.passwd.lock"
        flock -s 9 || log "could not lock $src/.passwd.lock; copying anyway"
    fi
    for name in $files; do
        [ -f "$src/$name" ] || continue
        cmp -s "$src/$name" "$dst/$name" && continue
        tmp="$dst/.$name.new"
        if cp "$src/$name" "$tmp" && give_to_broker "$tmp" && mv -f "$tmp" "$dst/$name"; then
            status=0
        else
            rm -f "$tmp"
            log "could not install $src/$name; the broker keeps its previous copy"
        fi
    done
    exec 9<&-
    return $status
}

install_changed
for name in $files; do
    if [ ! -f "$dst/$name" ]; then
        log "no $src/$name: the accounts are written by \`ioc stack init\` (the init job)"
        exit 1
    fi
done

"$@" &
broker=$!
stopping=0
trap 'stopping=1; kill -TERM "$broker" 2>/dev/null' TERM INT
trap 'kill -HUP "$broker" 2>/dev/null' HUP

while kill -0 "$broker" 2>/dev/null; do
    # A background sleep: `wait` returns as soon as a trapped signal arrives.
    sleep "$interval" &
    sleeper=$!
    wait "$sleeper"
    kill "$sleeper" 2>/dev/null
    [ "$stopping" = 0 ] || continue
    if install_changed; then
        log "accounts changed: SIGHUP to the broker (pid $broker)"
        kill -HUP "$broker" 2>/dev/null
    fi
done
wait "$broker"
