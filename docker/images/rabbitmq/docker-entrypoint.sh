#!/bin/sh
# Runs the broker in the foreground as the rabbitmq user, logging to the console like the public image.
set -eu
if [ "$1" = rabbitmq-server ]; then
  shift
  export RABBITMQ_LOGS=- HOME=/var/lib/rabbitmq
  if [ "$(id -u)" = 0 ]; then
    chown -R rabbitmq:rabbitmq /var/lib/rabbitmq
    exec setpriv --reuid=rabbitmq --regid=rabbitmq --init-groups /usr/lib/rabbitmq/bin/rabbitmq-server "$@"
  fi
  exec /usr/lib/rabbitmq/bin/rabbitmq-server "$@"
fi
exec "$@"
