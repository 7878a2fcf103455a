# Shared by the fake platform tools: state lives in $FAKE_STATE (one file per setting), every call is logged.
: "${FAKE_STATE:?FAKE_STATE must be set}"
mkdir -p "$FAKE_STATE"
echo "$(basename "$0") $*" >> "$FAKE_STATE/calls.log"
PCPUS=${FAKE_PCPUS:-4}
get() { cat "$FAKE_STATE/$1" 2>/dev/null || echo "$2"; }
put() { printf '%s' "$2" > "$FAKE_STATE/$1"; }
# A CPU list is valid when every CPU in it exists on this fake host.
valid_list() {
  local part a b
  [ "$1" = all ] && return 0
  for part in ${1//,/ }; do
    a=${part%-*}; b=${part#*-}
    [[ $a =~ ^[0-9]+$ && $b =~ ^[0-9]+$ ]] || return 2
    [ "$b" -lt "$PCPUS" ] || return 1
  done
}
