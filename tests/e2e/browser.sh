# browser.sh: end-to-end tests in a real headless Chromium (Debian's chromium, driven by
# puppeteer-core from npm, both installed by scripts/deps). Source after lib.sh/agent-lib.sh.
#   browser_run SCRIPT [NAME=VALUE...]: runs tests/web/SCRIPT under node with NAME=VALUE in its
#   environment (and NODE_PATH), at most 300 s; each line it prints "PASS text" or "FAIL text"
#   becomes a TAP result, "# ..." a comment; then one result that it ran to its end (its last
#   line DONE, exit 0), with its last 40 lines when it did not. Bails out when puppeteer-core
#   is missing (a broken install, not a skip: CI must run these).
BROWSER_ROOT=${GANTRY_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
NODE_MODULES=$BROWSER_ROOT/build/web-deps/node_modules
browser_run() {
  local script=$1 rc line; shift
  if [ ! -d "$NODE_MODULES/puppeteer-core" ]; then
    echo "Bail out! $NODE_MODULES/puppeteer-core is missing: run scripts/deps"; exit 1
  fi
  env "$@" NODE_PATH="$NODE_MODULES" \
    timeout 300 node "$BROWSER_ROOT/tests/web/$script" > "$WORK/web.out" 2>&1
  rc=$?
  while IFS= read -r line; do
    case $line in
      PASS\ *) ok 0 "browser: ${line#PASS }" ;;
      FAIL\ *) ok 1 "browser: ${line#FAIL }" ;;
      \#*) echo "$line" ;;
    esac
  done < "$WORK/web.out"
  grep -qx DONE "$WORK/web.out" ||
    { echo "# tests/web/$script exited $rc:"; sed 's/^/#   /' "$WORK/web.out" | tail -40; }
  ok $([ "$rc" = 0 ]; echo $?) "the browser test ran to its end (exit $rc)"
}
