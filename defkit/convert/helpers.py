"""Shell functions the generated %post and %setup call (written once per stage, when needed).

They are plain POSIX sh (dash, busybox ash) and use only cp, mkdir, chown, chmod, dirname, id
and tar, which every base image with a shell has."""

from __future__ import annotations

from defkit.convert.emit import indented_block

# Docker's COPY of one staged source into DST. A directory copies its *contents*; DST ending in
# "/" (or an existing directory) receives a file under its own name. OWNER and MODE (optional)
# apply to what was copied, as --chown/--chmod do.
COPY = r"""# defkit_copy SRC DST [OWNER] [MODE]: Docker's COPY of one staged source.
defkit_copy() {
    if [ -d "$1" ] && [ ! -L "$1" ]; then
        mkdir -p "$2"
        cp -a "$1/." "$2/"
        for defkit_e in "$1"/* "$1"/.[!.]* "$1"/..?*; do
            if [ -e "$defkit_e" ] || [ -L "$defkit_e" ]; then
                defkit_own "$2/${defkit_e##*/}" "${3:-}" "${4:-}"
            fi
        done
        return 0
    fi
    case $2 in
        */) mkdir -p "$2"; defkit_t="$2${1##*/}" ;;
        *) if [ -d "$2" ]; then defkit_t="$2/${1##*/}"; else
               mkdir -p "$(dirname "$2")"; defkit_t=$2; fi ;;
    esac
    rm -rf "$defkit_t" 2>/dev/null || true
    cp -a "$1" "$defkit_t"
    defkit_own "$defkit_t" "${3:-}" "${4:-}"
}
# defkit_own PATH OWNER MODE: --chown (a user alone means uid:uid, as Docker does) and --chmod.
defkit_own() {
    if [ -n "$2" ]; then
        case $2 in
            *:*) defkit_o=$2 ;;
            *[!0-9]*) defkit_o="$2:$(id -u "$2")" ;;
            *) defkit_o="$2:$2" ;;
        esac
        chown -hR "$defkit_o" "$1"
    fi
    if [ -n "$3" ]; then chmod -R "$3" "$1"; fi
}
"""

# Every entry of a staged wildcard match, each copied like COPY.
COPY_ALL = r"""# defkit_copy_all DIR DST [OWNER] [MODE]: every entry of a staged wildcard match.
defkit_copy_all() {
    for defkit_m in "$1"/* "$1"/.[!.]* "$1"/..?*; do
        if [ -e "$defkit_m" ] || [ -L "$defkit_m" ]; then
            defkit_copy "$defkit_m" "$2" "${3:-}" "${4:-}"
        fi
    done
}
"""

# The command that reads FILE as an uncompressed stream (plain, gzip, bzip2, xz or zstd, told by
# its first bytes as Docker does), checked to be there.
DECOMPRESSOR = r"""# defkit_decompressor FILE: sets defkit_z to the command that decompresses FILE.
defkit_decompressor() {
    defkit_z="cat"
    case $(head -c 6 "$1" | od -An -tx1 | tr -d ' \n') in
        1f8b*) defkit_z="gzip -dc" ;;
        425a68*) defkit_z="bzip2 -dc" ;;
        fd377a585a00*) defkit_z="xz -dc" ;;
        28b52ffd*) defkit_z="zstd -dc" ;;
    esac
    if ! command -v "${defkit_z%% *}" >/dev/null 2>&1; then
        echo "defkit: ${defkit_z%% *} is needed to extract $1 (ADD)" >&2
        return 1
    fi
}
"""

# ADD of a local file: a tar archive (compressed or not) is extracted into DST; anything else, a
# compressed non-tar file included, is copied.
ADD = r"""# defkit_add SRC DST [OWNER] [MODE]: Docker's ADD of a local source (extracts archives).
defkit_add() {
    defkit_z="cat"
    if [ -f "$1" ]; then defkit_decompressor "$1" || return 1; fi
    if [ -f "$1" ] && $defkit_z "$1" 2>/dev/null | tar -tf - >/dev/null 2>&1; then
        mkdir -p "$2"
        $defkit_z "$1" | tar -xf - -C "$2"
        if [ -n "${3:-}${4:-}" ]; then
            $defkit_z "$1" | tar -tf - | sed -e 's|^\./||' -e 's|/.*||' | sort -u |
                while read -r defkit_e; do
                    if [ -n "$defkit_e" ]; then defkit_own "$2/$defkit_e" "${3:-}" "${4:-}"; fi
                done
        fi
    else
        defkit_copy "$1" "$2" "${3:-}" "${4:-}"
    fi
}
"""

# ADD of a local source before the image has a shell (a stage FROM scratch: how official base
# images are made), run by %setup on the build host: a tar archive is extracted into the image
# (numeric owners when root, as Docker keeps them), anything else copied as COPY does.
EXTRACT = r"""# defkit_extract SRC DST: ADD into an image with no shell yet (%setup, on the host).
defkit_extract() {
    defkit_d="$APPTAINER_ROOTFS$2"
    if [ -f "$1" ]; then
        defkit_decompressor "$1" || return 1
        if $defkit_z "$1" 2>/dev/null | tar -tf - >/dev/null 2>&1; then
            mkdir -p "$defkit_d"
            if [ "$(id -u)" = 0 ]; then
                $defkit_z "$1" | tar --numeric-owner -xpf - -C "$defkit_d"
            else
                $defkit_z "$1" | tar -xpf - -C "$defkit_d"
            fi
            return
        fi
    fi
    if [ -d "$1" ]; then
        mkdir -p "$defkit_d"
        cp -a "$1/." "$defkit_d/"
        return
    fi
    case $2 in
        */) mkdir -p "$defkit_d"; cp -a "$1" "$defkit_d${1##*/}" ;;
        *) mkdir -p "$(dirname "$defkit_d")"; cp -a "$1" "$defkit_d" ;;
    esac
}
"""

# Runs in the container (%post), at the point of the ADD: the first download tool found wins.
# (Not %setup: that would run on the build host with the user's privileges.)
FETCH = r"""# defkit_fetch URL FILE [SHA256]: download (ADD of a URL), check the digest if given.
defkit_fetch() {
    mkdir -p "$(dirname "$2")"
    if command -v curl >/dev/null 2>&1; then
        curl -fsSL --retry 3 -o "$2" "$1"
    elif command -v wget >/dev/null 2>&1; then
        wget -q -O "$2" "$1"
    elif command -v busybox >/dev/null 2>&1; then
        busybox wget -q -O "$2" "$1"
    elif command -v python3 >/dev/null 2>&1; then
        python3 -c 'import sys, urllib.request as u; u.urlretrieve(sys.argv[1], sys.argv[2])' \
            "$1" "$2"
    else
        echo "defkit: no curl, wget, busybox or python3 in the image to download $1" >&2
        return 1
    fi
    if [ -n "${3:-}" ]; then
        if ! echo "$3  $2" | sha256sum -c - >/dev/null; then
            echo "defkit: checksum mismatch for $1" >&2
            return 1
        fi
    fi
}
"""

GIT = r"""# defkit_git URL REF DIR [KEEP_GIT]: ADD of a Git repository (needs git in the image).
defkit_git() {
    rm -rf "$3"
    if [ -n "$2" ]; then
        git clone --quiet --recurse-submodules "$1" "$3"
        git -C "$3" checkout --quiet "$2"
    else
        git clone --quiet --depth 1 --recurse-submodules "$1" "$3"
    fi
    if [ -z "${4:-}" ]; then rm -rf "$3/.git"; fi
}
"""


# Each function as one %post entry (`StageState.need_helper`), indented once here rather than
# every time a stage needs it.
COPY_BLOCK = indented_block(COPY)
COPY_ALL_BLOCK = indented_block(COPY_ALL)
ADD_BLOCK = indented_block(ADD)
DECOMPRESSOR_BLOCK = indented_block(DECOMPRESSOR)
EXTRACT_BLOCK = indented_block(EXTRACT)
FETCH_BLOCK = indented_block(FETCH)
GIT_BLOCK = indented_block(GIT)
