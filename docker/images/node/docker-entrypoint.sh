#!/bin/sh
# As the public node image: options or a script path run node with them, anything else runs as given.
set -e
if [ "${1#-}" != "$1" ] || [ -z "$(command -v "${1}" 2>/dev/null)" ]; then set -- node "$@"; fi
exec "$@"
