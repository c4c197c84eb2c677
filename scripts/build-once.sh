# Sourced by scripts/build-image.sh and scripts/kube/build.sh: one build of
# a thing at a time, optionally started in the background.
#
# build_once WHAT BASE [--background]
#   --background: run the calling script again at the lowest CPU and I/O
#   priority, logging to BASE.log, and exit (make setup-background);
#   otherwise take BASE.lock, waiting (an hour at most) for a build of the
#   same thing in progress. The caller then checks whether it is built.
build_once() {
  local what=$1 base=$2
  if [ "${3:-}" = --background ]; then
    echo "building $what in the background (log: $base.log)"
    nohup nice -n 19 ionice -c 3 "$0" </dev/null >"$base.log" 2>&1 &
    exit 0
  fi
  exec 9>"$base.lock"
  if ! flock -n 9; then
    echo "waiting for $what being built (log: $base.log)"
    flock -w 3600 9 || { echo "the build of $what in progress did not finish within an hour" >&2; exit 1; }
  fi
}
