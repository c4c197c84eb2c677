#!/usr/bin/env bash
# Fetch the pinned front-end releases of web/vendor.lock into
# internal/webui/assets/vendor (embedded by go:embed; git-ignored), once:
# a stamp holding the lock file's hash says the copy is current.
set -euo pipefail
cd "$(dirname "$0")/.."
lock=web/vendor.lock
out=internal/webui/assets/vendor
stamp=$out/.stamp
want=$(sha256sum "$lock" | cut -d' ' -f1)
if [[ -f $stamp && $(cat "$stamp") == "$want" ]]; then
  exit 0
fi
command -v npm >/dev/null || { echo "web-vendor: npm is needed (apt-get install -y npm)" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
rm -rf "$out"
mkdir -p "$out"
grep -v '^#' "$lock" | while read -r pkg version integrity dir files; do
  [[ -n $pkg ]] || continue
  echo "web-vendor: $pkg@$version"
  tgz=$(cd "$tmp" && npm pack --silent "$pkg@$version" 2>/dev/null | tail -1)
  got="sha512-$(openssl dgst -sha512 -binary "$tmp/$tgz" | base64 -w0)"
  if [[ $got != "$integrity" ]]; then
    echo "web-vendor: $pkg@$version integrity $got, want $integrity" >&2
    exit 1
  fi
  mkdir -p "$tmp/x/$pkg" "$out/$dir"
  tar xzf "$tmp/$tgz" -C "$tmp/x/$pkg"
  for f in $files; do
    name=$(basename "$f")
    [[ $name == LICENSE ]] && name="LICENSE.$(basename "$pkg")"
    cp "$tmp/x/$pkg/package/$f" "$out/$dir/$name"
  done
done
echo "$want" >"$stamp"
