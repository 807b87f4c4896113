#!/bin/sh
# expect_exit.sh CODE REGEX COMMAND [ARGS...]
# Runs COMMAND, prints what it printed (stdout and stderr together), and
# passes only if it exited with CODE and that output matches the extended
# regular expression REGEX: for command lines that must be refused (exit 2)
# with the right message, not merely fail.
code=$1
regex=$2
shift 2
out=$("$@" 2>&1)
rc=$?
printf '%s\n' "$out"
if [ "$rc" -ne "$code" ]; then
  echo "expect_exit: '$1' exited $rc, not $code" >&2
  exit 1
fi
if ! printf '%s\n' "$out" | grep -Eq -- "$regex"; then
  echo "expect_exit: output of '$1' does not match /$regex/" >&2
  exit 1
fi
