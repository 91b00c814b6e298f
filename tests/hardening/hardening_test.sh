#!/bin/bash
# Checks that each binary given is hardened: a position-independent
# executable, full RELRO (GNU_RELRO and BIND_NOW), a stack protector
# (__stack_chk_fail) and fortified libc calls (__*_chk), the last unless the
# binary is built with AddressSanitizer. Ends with "N passed, M failed".
set -uo pipefail

passed=0
failed=0
check() {  # check NAME CONDITION-RESULT
  if [ "$2" = 0 ]; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
    echo "FAIL $1"
  fi
}

for bin in "$@"; do
  name=$(basename "$bin")
  header=$(readelf -hW "$bin")
  dynamic=$(readelf -dW "$bin")
  segments=$(readelf -lW "$bin")
  symbols=$(nm -D "$bin")
  grep -q "Type:.*DYN" <<<"$header"; check "$name: position-independent" $?
  grep -q "GNU_RELRO" <<<"$segments"; check "$name: RELRO segment" $?
  grep -Eq "BIND_NOW|FLAGS_1.*NOW" <<<"$dynamic"; check "$name: BIND_NOW" $?
  grep -q "__stack_chk_fail" <<<"$symbols"; check "$name: stack protector" $?
  if grep -q "__asan_init" <<<"$symbols"; then
    echo "ok   $name: AddressSanitizer build, fortify not expected"
  else
    grep -Eq "__[a-z]+_chk" <<<"$symbols"; check "$name: fortified libc calls" $?
  fi
done
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
