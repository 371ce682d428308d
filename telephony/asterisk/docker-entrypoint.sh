#!/bin/sh
# Entry point of docker-compose's `asterisk` service: render PyDialer's Asterisk configuration
# into /etc/asterisk, then start Asterisk in the foreground.
#
# This folder is mounted read-only at /etc/pydialer-asterisk. manager.conf and ari.conf carry the
# placeholders @AMI_SECRET@ and @ARI_PASSWORD@; their values come from the same .env the PyDialer
# services build PBX_SERVERS from, so the secrets on both ends cannot drift apart. Only our files
# are copied over: the image's stock asterisk.conf, musiconhold.conf ... stay where they are.
set -eu

SRC=${PYDIALER_ASTERISK_TEMPLATES:-/etc/pydialer-asterisk}
DEST=${PYDIALER_ASTERISK_ETC:-/etc/asterisk}

check_secret() {
    # The secrets also travel inside URLs (PBX_SERVERS) and Asterisk treats ';' as a comment:
    # RFC 3986 unreserved characters only, so they mean the same thing everywhere.
    name=$1 value=$2
    if [ -z "$value" ]; then
        echo "docker-entrypoint: $name is empty; set it in .env" >&2
        exit 1
    fi
    case $value in
        *[!A-Za-z0-9._~-]*)
            echo "docker-entrypoint: $name may only use A-Z a-z 0-9 . _ ~ -" >&2
            exit 1 ;;
    esac
    if [ "$value" = "change-me" ]; then
        echo "docker-entrypoint: WARNING: $name is still 'change-me'; set a real secret in .env" >&2
    fi
}

check_secret AMI_SECRET "${AMI_SECRET:-}"
check_secret ARI_PASSWORD "${ARI_PASSWORD:-}"

mkdir -p "$DEST"
for template in "$SRC"/*.conf; do
    target="$DEST/$(basename "$template")"
    sed -e "s|@AMI_SECRET@|$AMI_SECRET|g" -e "s|@ARI_PASSWORD@|$ARI_PASSWORD|g" "$template" > "$target.tmp"
    chmod 0640 "$target.tmp"
    if id asterisk >/dev/null 2>&1; then
        chown asterisk:asterisk "$target.tmp"
    fi
    mv "$target.tmp" "$target"
done
# NAT: what pjsip.conf's transport advertises in SIP and SDP (it #tryincludes this file).
nat="$DEST/pjsip_nat.conf"
external=${ASTERISK_EXTERNAL_IP:-}
case $external in
    *[!A-Za-z0-9.:-]*) echo "docker-entrypoint: ASTERISK_EXTERNAL_IP is not an address: $external" >&2; exit 1 ;;
esac
if [ -n "$external" ]; then
    printf 'external_media_address = %s\nexternal_signaling_address = %s\n' "$external" "$external" > "$nat"
else
    : > "$nat"
fi

echo "docker-entrypoint: rendered $(ls "$SRC"/*.conf | wc -l) files from $SRC into $DEST" >&2

exec "$@"
