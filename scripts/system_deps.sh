#!/usr/bin/env bash
# Installs the Debian packages the product needs: a CJK font (invoice PDFs) and HarfBuzz's subsetter
# (without it WeasyPrint subsets fonts in pure Python, ~35x slower). As root it installs them; otherwise it
# prints the exact command and stops.
set -euo pipefail
pkgs=(libharfbuzz-subset0 fonts-wqy-zenhei poppler-utils)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
  echo "Installing ${missing[*]} ..."
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  echo "Missing Debian packages: ${missing[*]}"
  echo "Run:  sudo apt-get install -y ${missing[*]}"
  exit 1
fi
