#!/bin/sh
# Adds Суфлёр to the desktop menu of the current user (or of everyone, run as root with --system):
# the .desktop file with this folder's absolute path, and the icon. Run it from the unpacked folder:
#   tar xzf sufler-*.tar.gz -C /opt && /opt/sufler/install-desktop-entry.sh [--system] [--autostart]
set -eu
here=$(cd "$(dirname "$0")" && pwd)
apps="${XDG_DATA_HOME:-$HOME/.local/share}/applications"
icons="${XDG_DATA_HOME:-$HOME/.local/share}/icons/hicolor/256x256/apps"
autostart="${XDG_CONFIG_HOME:-$HOME/.config}/autostart"
for arg in "$@"; do
  case "$arg" in
    --system) apps=/usr/share/applications; icons=/usr/share/icons/hicolor/256x256/apps; autostart=/etc/xdg/autostart ;;
    --autostart) want_autostart=1 ;;
    *) echo "usage: $0 [--system] [--autostart]" >&2; exit 2 ;;
  esac
done
mkdir -p "$apps" "$icons"
cp "$here/sufler.png" "$icons/sufler.png"
sed -e "s|^Exec=.*|Exec=\"$here/sufler\"|" -e "s|^Icon=.*|Icon=sufler|" "$here/sufler.desktop" > "$apps/sufler.desktop"
chmod 644 "$apps/sufler.desktop"
if [ "${want_autostart:-0}" = 1 ]; then
  mkdir -p "$autostart" && cp "$apps/sufler.desktop" "$autostart/sufler.desktop"
fi
command -v update-desktop-database >/dev/null 2>&1 && update-desktop-database "$apps" 2>/dev/null || true
echo "Суфлёр добавлен в меню: $apps/sufler.desktop (запуск: $here/sufler)"
