#!/usr/bin/env bash
# Builds dist/freshet_VERSION_ARCH.deb from a built binary: the binary
# (stripped), the hardened systemd unit, the default config as a conffile,
# the maintainer scripts, a man page made from the CLI's own help, the docs
# and the copyright file. Usage: build-deb.sh BINARY OUTDIR
set -euo pipefail

bin=$(realpath "$1")
out=$(realpath -m "${2:-dist}")
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)

version=$("$bin" version | awk '{print $2}')
arch=$(dpkg --print-architecture)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
stage="$work/freshet_${version}_${arch}"

install -D -m 0755 "$bin" "$stage/usr/bin/freshet"
strip --strip-unneeded --remove-section=.comment --remove-section=.note "$stage/usr/bin/freshet"
install -D -m 0644 "$here/freshet.service" "$stage/lib/systemd/system/freshet.service"
install -D -m 0644 "$here/freshet.toml" "$stage/etc/freshet/freshet.toml"

# The man page: the top-level help, then each subcommand's.
{
  echo "[SUBCOMMANDS]"
  for sub in demo serve check-config sync init simulate version; do
    echo ".SS $sub"
    echo ".nf"
    "$bin" "$sub" --help | sed 's/\\/\\\\/g; s/^\./\\\&./'
    echo ".fi"
  done
  echo "[FILES]"
  echo ".TP"
  echo "/etc/freshet/freshet.toml"
  echo "the configuration (every key: /usr/share/doc/freshet/configuration.md.gz)"
  echo ".TP"
  echo "/etc/freshet/freshet.env"
  echo "the secrets the configuration names, as VARIABLE=value lines"
  echo ".TP"
  echo "/var/lib/freshet"
  echo "the data dir: the SQLite store of records, events, audit and sync state"
  echo "[SEE ALSO]"
  echo "/usr/share/doc/freshet/deploy.md.gz: TLS behind a proxy, backups, upgrades, metrics."
} > "$work/extra.h2m"
mkdir -p "$stage/usr/share/man/man1"
help2man --no-info --no-discard-stderr --name "live dashboards on top of Knack and Airtable" \
  --include "$work/extra.h2m" --version-string "$version" "$bin" > "$work/freshet.1"
# help2man names the program after the file it ran.
sed -i "s/\\b$(basename "$bin" | sed 's/[.]/\\./g')\\b/freshet/g" "$work/freshet.1"
gzip -9n -c "$work/freshet.1" > "$stage/usr/share/man/man1/freshet.1.gz"
chmod 0644 "$stage/usr/share/man/man1/freshet.1.gz"

doc="$stage/usr/share/doc/freshet"
install -d "$doc"
install -m 0644 "$here/copyright" "$doc/copyright"
for f in README.md docs/configuration.md docs/deploy.md docs/sync.md docs/rules.md docs/dashboard.md; do
  gzip -9n -c "$root/$f" > "$doc/$(basename "$f").gz"
  chmod 0644 "$doc/$(basename "$f").gz"
done
commit=$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)
date_rfc=$(date -R -u -d "@$(git -C "$root" log -1 --format=%ct 2>/dev/null || date +%s)")
cat > "$work/changelog" <<CHANGES
freshet ($version) unstable; urgency=medium

  * Built from the Freshet tree at commit $commit.

 -- Freshet maintainers <maintainers@users.noreply.b-seed-16e0819e.example>  $date_rfc
CHANGES
gzip -9n -c "$work/changelog" > "$doc/changelog.gz"
chmod 0644 "$doc/changelog.gz"

# Depends: what the binary links, as dpkg-shlibdeps reads it, and adduser for
# the postinst.
mkdir -p "$work/debian"
printf 'Source: freshet\n\nPackage: freshet\nArchitecture: any\n' > "$work/debian/control"
shlibs=$(cd "$work" && dpkg-shlibdeps -O -e"$stage/usr/bin/freshet" 2>/dev/null | sed -n 's/^shlibs:Depends=//p')

install -d -m 0755 "$stage/DEBIAN"
install -m 0755 "$here/debian/postinst" "$here/debian/prerm" "$here/debian/postrm" "$stage/DEBIAN/"
install -m 0644 "$here/debian/conffiles" "$stage/DEBIAN/conffiles"
cat > "$stage/DEBIAN/control" <<CONTROL
Package: freshet
Version: $version
Architecture: $arch
Maintainer: Freshet maintainers <maintainers@users.noreply.b-seed-16e0819e.example>
Installed-Size: $(du -sk --exclude=DEBIAN "$stage" | cut -f1)
Depends: adduser, $shlibs
Section: web
Priority: optional
Description: live dashboards on top of Knack and Airtable
 Freshet pulls changes from Knack or Airtable once for everybody (incremental
 polling within the rate limit, and signed webhooks), keeps every record in an
 embedded SQLite store, turns every change into a durable, ordered event with
 a field-level diff, and pushes the events to dashboards over Server-Sent
 Events and WebSocket, resumable with Last-Event-ID. It runs rules on changes
 and delivers notifications (Slack, signed webhooks) through a durable outbox.
 .
 This package installs the freshet binary, a hardened systemd service reading
 /etc/freshet/freshet.toml, and a freshet system user owning /var/lib/freshet.
CONTROL
(cd "$stage" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | sort -z | xargs -0 md5sum) > "$stage/DEBIAN/md5sums"
chmod 0644 "$stage/DEBIAN/md5sums"

mkdir -p "$out"
dpkg-deb --root-owner-group -Zxz --build "$stage" "$out/freshet_${version}_${arch}.deb" >/dev/null
echo "$out/freshet_${version}_${arch}.deb"
