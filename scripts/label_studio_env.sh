#!/usr/bin/env bash
# Label Studio for the end-to-end test (Testing/Python/test_server_label_studio_e2e.py): a pinned release
# from PyPI in its own virtual environment (Label Studio pins Django and friends; it must not share the
# project's venv), cached in ~/.cache/segassist, plus a migrated database template with one user and a
# legacy API token, because Django's ~400 migrations take a minute and the test copies the template instead.
#
#   bash scripts/label_studio_env.sh      # installs on first use (~7 min), prints the venv folder
#
# SEGASSIST_LS_VENV picks another folder; PYTHON the interpreter (3.10 to 3.12; default python3).
set -euo pipefail
version=1.23.2
venv="${SEGASSIST_LS_VENV:-$HOME/.cache/segassist/label-studio-$version}"
python="${PYTHON:-python3}"
user=segassist@example.com
password=segassist-test-password
token=5e9a5e9a0123456789abcdef0123456789abcdef  # only valid in the throwaway test database

if [ "$(cat "$venv/segassist-installed" 2>/dev/null)" != "$version" ]; then
  echo "== installing label-studio==$version into $venv (several minutes, once)" >&2
  rm -rf "$venv"
  "$python" -m venv "$venv"
  "$venv/bin/python" -m pip install -q --disable-pip-version-check "label-studio==$version" >&2
  rm -f "$venv/segassist-db-template.sqlite3"
  echo "$version" > "$venv/segassist-installed"
fi
if [ ! -s "$venv/segassist-db-template.sqlite3" ]; then
  echo "== migrating a template database" >&2
  tmp="$(mktemp -d)"
  LABEL_STUDIO_BASE_DATA_DIR="$tmp" "$venv/bin/label-studio" init --username "$user" --password "$password" \
    --user-token "$token" --enable-legacy-api-token --no-browser >&2 </dev/null
  cp "$tmp/label_studio.sqlite3" "$venv/segassist-db-template.sqlite3"
  rm -rf "$tmp"
fi
echo "$venv"
