#!/usr/bin/env bash
# While a job's image is fetched (a real agent, skopeo held back by a wrapper until the test
# lets it go): the job says so (`pull` in its JSON, "pulling" in `gantry show`), the fetch is
# not charged to its time limit (it lasts longer than the limit and the job still completes),
# and once the command runs the job records its image's digest and no longer shows `pull`.
. "$(dirname "$0")/agent-lib.sh"
ROOT=${GANTRY_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
skip_all() { echo "1..0 # skip $1"; exit 0; }
[ "$(id -u)" = 0 ] || skip_all "not root: containers need it"
for p in runc skopeo umoci; do
  command -v "$p" >/dev/null || skip_all "no $p"
done
REF=$("$ROOT/tests/oci/mkimage" "$WORK/img" 2>"$WORK/mkimage.log" | head -1)
[ -n "$REF" ] || skip_all "tests/oci/mkimage failed: $(tail -1 "$WORK/mkimage.log")"

# skopeo's copy waits for $WORK/go (at most 60 s), then runs the real one.
mkdir -p "$WORK/bin"
cat > "$WORK/bin/skopeo" <<W
#!/bin/sh
case " \$* " in *" copy "*)
  echo copy >> "$WORK/skopeo.calls"
  i=0; while [ ! -e "$WORK/go" ] && [ \$i -lt 600 ]; do sleep 0.1; i=\$((i+1)); done
;; esac
exec $(command -v skopeo) "\$@"
W
chmod +x "$WORK/bin/skopeo"

printf 'teams:\n  - name: research\n    quota: {gpus: 1}\n' > "$WORK/cluster.yaml"
start_server --config "$WORK/cluster.yaml" --heartbeat 1
PATH="$WORK/bin:$PATH" "$GANTRY" agent --server "$GANTRY_SERVER" --token "$ADMIN" --name n1 \
  --gpus 1 --state-dir "$WORK/n1" --job-user nobody --oci-runtime runc --no-cgroups \
  2>>"$WORK/agent.log" &
PIDS+=($!)
wait_for 20 grep -q "registered with epoch" "$WORK/agent.log"
ok $? "the agent registers"
field() { api GET "/v1/jobs/$1" | jget "$2"; }

j=$(submit '{"team":"research","gpus":1,"image":"'"$REF"'","time_limit":"2s","command":["sh","-c","sleep 1; echo ran"]}')
wait_for 30 test -s "$WORK/skopeo.calls"
ok $? "the node fetches the image"
wait_for 30 sh -c "curl -s -H 'Authorization: Bearer $ADMIN' $GANTRY_SERVER/v1/jobs/$j | grep -q '\"pull\"'"
ok $? "the job shows its pull while the image is fetched"
like "$("$GANTRY" show "$j" 2>&1)" "pulling its image: [0-9]+ bytes" "gantry show says it is pulling"
is "$(field "$j" '{state}')" running "it holds its GPU meanwhile (running)"
# Hold the fetch past the job's 2 s limit (measured from the job's start, on the server).
started=$(field "$j" '{start_time}')
wait_for 30 perl -e 'exit(time() - $ARGV[0] >= 4 ? 0 : 1)' "$started"
is "$(field "$j" '{state}')" running "4 s into a 2 s limit, still fetching: not stopped"
touch "$WORK/go"
wait_for 60 sh -c "s=\$(curl -s -H 'Authorization: Bearer $ADMIN' $GANTRY_SERVER/v1/jobs/$j | perl -MJSON::PP -e 'print decode_json(join \"\", <STDIN>)->{state}'); [ \"\$s\" != running ] && [ \"\$s\" != pending ]"
is "$(field "$j" '{end_reason}')" completed "the job completes: the fetch was not charged to its limit ($(field "$j" '{end_message}'))"
is "$(curl -s -H "Authorization: Bearer $ADMIN" "$GANTRY_SERVER/v1/jobs/$j/logs")" ran "its command ran"
like "$(field "$j" '{image_digest}')" '^sha256:[0-9a-f]{64}$' "it records its image's digest"
is "$(field "$j" '{pull}')" null "and no longer shows a pull"

# The limit still holds for the command itself, counted from its start.
k=$(submit '{"team":"research","gpus":1,"image":"'"$REF"'","time_limit":"2s","command":["sh","-c","echo up; sleep 60"]}')
wait_for 60 sh -c "curl -s -H 'Authorization: Bearer $ADMIN' $GANTRY_SERVER/v1/jobs/$k | grep -q '\"end_reason\"'"
is "$(field "$k" '{end_reason}')" time_limit "a cached image's command over its limit ends time_limit"
is "$(wc -l < "$WORK/skopeo.calls")" 1 "the second job of the image fetched nothing"
done_testing
