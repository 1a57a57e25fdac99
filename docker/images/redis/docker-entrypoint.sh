#!/bin/sh
# The public redis image's entrypoint as far as the hospital uses it: options alone run redis-server with
# them, protected mode is off unless the command says otherwise, and the server runs as the redis user.
set -eu
case "$1" in -*|*.conf) set -- redis-server "$@" ;; esac
if [ "$1" = redis-server ]; then
  shift
  case "${1:-}" in
    *.conf) conf="$1"; shift; set -- redis-server "$conf" --protected-mode no "$@" ;;
    *) set -- redis-server --protected-mode no "$@" ;;
  esac
  if [ "$(id -u)" = 0 ]; then
    chown -R redis:redis /data 2>/dev/null || true
    exec setpriv --reuid=redis --regid=redis --init-groups "$@"
  fi
fi
exec "$@"
