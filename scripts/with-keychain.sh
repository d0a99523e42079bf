#!/bin/sh
# Runs a command with a private, unlocked Secret Service (GNOME Keyring on its own D-Bus session bus),
# so keychain code and tests can run on a headless machine or in CI:
#
#   bash scripts/with-keychain.sh npx vitest run test/integration/secrets.test.ts
#
# The bus, the keyring daemon and the keyring files live in a temporary directory that is removed
# afterwards: the developer's real session bus and keyring are never touched. The command itself gets
# its own HOME and XDG_* variables back; only DBUS_SESSION_BUS_ADDRESS points at the private bus.
# Without dbus-run-session or gnome-keyring-daemon (Debian: dbus-daemon, gnome-keyring) the command runs
# as it is, and keychain tests skip unless SYSEMAIL_REQUIRE_KEYCHAIN=1.
# Exit status: the command's.
set -eu

me=with-keychain

if [ "$#" -eq 0 ]; then
  echo "usage: $0 COMMAND [ARG...]" >&2
  exit 64
fi

if ! command -v dbus-run-session >/dev/null 2>&1 || ! command -v gnome-keyring-daemon >/dev/null 2>&1; then
  echo "$me: dbus-run-session or gnome-keyring-daemon not found; running the command without a keychain" >&2
  exec "$@"
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/sysemail-keychain.XXXXXX")
cleanup() { rm -rf "$tmp"; }
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
mkdir -m 700 "$tmp/home" "$tmp/data" "$tmp/runtime"

# Remember the caller's environment so the command gets it back inside the session.
WK_HOME_SET=${HOME+1}
WK_HOME=${HOME-}
WK_DATA_SET=${XDG_DATA_HOME+1}
WK_DATA=${XDG_DATA_HOME-}
WK_RUNTIME_SET=${XDG_RUNTIME_DIR+1}
WK_RUNTIME=${XDG_RUNTIME_DIR-}
# A throwaway password for the throwaway login keyring (an empty one makes the daemon prompt instead).
WK_KEYRING_PASSWORD="sysemail-test-$$-$(date +%s)"
export WK_HOME_SET WK_HOME WK_DATA_SET WK_DATA WK_RUNTIME_SET WK_RUNTIME WK_KEYRING_PASSWORD

# The bus gets the temporary HOME/XDG dirs too: if it ever auto-starts a keyring daemon through
# org.freedesktop.secrets.service, that daemon also stays inside $tmp.
status=0
env -u GNOME_KEYRING_CONTROL -u DBUS_SESSION_BUS_ADDRESS \
  HOME="$tmp/home" XDG_DATA_HOME="$tmp/data" XDG_RUNTIME_DIR="$tmp/runtime" \
  dbus-run-session -- sh -c '
    me=with-keychain
    if out=$(printf "%s" "$WK_KEYRING_PASSWORD" | gnome-keyring-daemon --daemonize --unlock --components=secrets); then
      # The daemon may announce variables such as GNOME_KEYRING_CONTROL; export those (and nothing else).
      for line in $out; do
        case $line in
          GNOME_KEYRING_CONTROL=*) export "$line" ;;
        esac
      done
      if command -v dbus-send >/dev/null 2>&1; then
        tries=0
        until dbus-send --session --print-reply --dest=org.freedesktop.DBus / \
                org.freedesktop.DBus.NameHasOwner string:org.freedesktop.secrets 2>/dev/null | grep -q "boolean true"; do
          tries=$((tries + 1))
          if [ "$tries" -ge 50 ]; then
            echo "$me: the keyring daemon did not register org.freedesktop.secrets within 5 s" >&2
            break
          fi
          sleep 0.1
        done
      fi
    else
      echo "$me: gnome-keyring-daemon failed to start; running the command without a keychain" >&2
    fi
    unset WK_KEYRING_PASSWORD
    if [ -n "$WK_HOME_SET" ]; then export HOME="$WK_HOME"; else unset HOME; fi
    if [ -n "$WK_DATA_SET" ]; then export XDG_DATA_HOME="$WK_DATA"; else unset XDG_DATA_HOME; fi
    if [ -n "$WK_RUNTIME_SET" ]; then export XDG_RUNTIME_DIR="$WK_RUNTIME"; else unset XDG_RUNTIME_DIR; fi
    unset WK_HOME_SET WK_HOME WK_DATA_SET WK_DATA WK_RUNTIME_SET WK_RUNTIME
    exec "$@"
  ' with-keychain "$@" || status=$?
exit "$status"
