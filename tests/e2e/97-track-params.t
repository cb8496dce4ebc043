#!/usr/bin/env bash
# `gantry submit --param KEY=VALUE` (docs/tracking.md): each flag is one entry of the job's
# params: (repeatable), typed as JSON where the value is a number, true, false, null or a
# quoted string, else a string; the flags add to a file's params (the flag's value wins for
# a key both give); a flag without KEY= is refused before anything is sent; `gantry compare`
# tabulates them.
. "$(dirname "$0")/lib.sh"
printf 'teams:\n  - name: research\n    quota: {gpus: 8}\n' > "$WORK/cluster.yaml"
start_server --config "$WORK/cluster.yaml"

out=$("$GANTRY" submit -t research -g 1 --param lr=3e-4 --param model=base --param layers=12 \
  --param warm=true --param tag='"007"' --param note='a b=c' --param empty= -o json -- true 2>"$WORK/err")
ok $? "gantry submit with --param flags"
j=$(printf '%s' "$out" | jget '{id}')
p=$(api GET "/v1/jobs/$j" | jget '{params}')
is "$p" '{"empty":"","layers":12,"lr":0.0003,"model":"base","note":"a b=c","tag":"007","warm":true}' \
  "each flag is one param: numbers and booleans typed, text as a string, a quoted number kept a string"

cat > "$WORK/job.yaml" <<'Y'
team: research
gpus: 1
params: {model: small, batch: 256}
command: ["true"]
Y
out=$("$GANTRY" submit -f "$WORK/job.yaml" --param model=large --param seed=7 -o json 2>"$WORK/err2")
ok $? "gantry submit -f with --param"
j2=$(printf '%s' "$out" | jget '{id}')
is "$(api GET "/v1/jobs/$j2" | jget '{params}')" '{"batch":256,"model":"large","seed":7}' \
  "the flags add to the file's params; the flag's value wins for a key both give"

"$GANTRY" submit -t research -g 1 --param lr -- true > "$WORK/bad.out" 2> "$WORK/bad.err"
is "$?" 2 "--param without KEY= exits 2"
like "$(cat "$WORK/bad.err")" "--param 'lr': must be KEY=VALUE" "and says what it must be"
"$GANTRY" submit -t research -g 1 --param =3 -- true > /dev/null 2> "$WORK/bad2.err"
is "$?" 2 "--param with an empty key exits 2"
n=$(api GET "/v1/jobs" | sed "s/^[0-9]* //" | perl -MJSON::PP -e 'print scalar @{decode_json(join "", <STDIN>)->{jobs}}')
is "$n" 2 "nothing was submitted by the refused ones"

cmp=$("$GANTRY" compare "$j" "$j2" 2>&1)
like "$(printf '%s\n' "$cmp" | head -n 1)" "params.model" "gantry compare tabulates the params given by --param"
like "$cmp" "large" "with their values"
done_testing
