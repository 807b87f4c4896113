#!/bin/sh
# expect_output.sh REGEX COMMAND [ARGS...]
# Runs COMMAND, prints what it printed, and passes only if it exited 0 AND
# its standard output matches the extended regular expression REGEX.
# (ctest's PASS_REGULAR_EXPRESSION alone ignores the exit code, so a tool
# that printed its figures and then crashed would pass.)
regex=$1
shift
out=$("$@")
rc=$?
printf '%s\n' "$out"
if [ "$rc" -ne 0 ]; then
  echo "expect_output: '$1' exited $rc" >&2
  exit 1
fi
if ! printf '%s\n' "$out" | grep -Eq -- "$regex"; then
  echo "expect_output: output of '$1' does not match /$regex/" >&2
  exit 1
fi
