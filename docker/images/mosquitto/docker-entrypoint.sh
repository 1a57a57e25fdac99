#!/bin/sh
# As the public image: the broker's folders belong to its user; Mosquitto drops root itself.
set -e
if [ "$(id -u)" = 0 ]; then chown -R mosquitto:mosquitto /mosquitto/data /mosquitto/log 2>/dev/null || true; fi
exec "$@"
