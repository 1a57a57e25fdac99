#!/bin/sh
# Orthanc with the configuration files of /etc/orthanc/ and every plugin installed (each stays idle unless
# its section enables it: "DicomWeb", "Worklists"), unless a file lists "Plugins" itself.
set -eu
config=/tmp/orthanc-config
rm -rf "$config" && mkdir -p "$config"
cp /etc/orthanc/*.json "$config/"
if ! grep -q '"Plugins"' "$config"/*.json; then
  printf '{ "Plugins": [ "/usr/share/orthanc/plugins" ] }\n' > "$config/zz-plugins.json"
fi
exec Orthanc "$@" "$config"
