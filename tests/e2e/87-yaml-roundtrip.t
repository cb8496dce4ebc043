#!/usr/bin/env bash
# kubectl's habit with a real server and agent: `gantry show ID -o yaml | gantry submit -f -`
# submits the same job again (kubectl get -o yaml / kubectl apply -f -). The YAML is written by
# libyaml's emitter: env values a hand printer broke (`yes`, `~`, `null`, `0123`, a tab, lines,
# unicode) read back as the same strings, through python3's yaml (a YAML 1.1 reader) and through
# the resubmission; the fields the server sets (id, state, times, placement...) are ignored with a
# note; `-o spec` prints only the fields to submit; JSON files are taken; duplicate keys are
# refused with their line; unknown fields still are.
. "$(dirname "$0")/agent-lib.sh"
research_cluster
start_server --config "$WORK/cluster.yaml" --heartbeat 1
run_agent n1 2 "$WORK/n1" agent.log --no-cgroups
wait_for 20 grep -q "registered with epoch" "$WORK/agent.log"
ok $? "the agent registers"

mkdir -p "$WORK/run"
cd "$WORK/run" || exit 1
# The values each job prints, one per line between markers, from its own environment.
script='for v in "$YES" "$TILDE" "$NUL" "$ZERO" "$TAB" "$MULTI" "$EMPTY" "$UNI" "$ON" "$HEX"; do printf "<%s>\n" "$v"; done > out.$GANTRY_JOB_ID'
body=$(perl -CS -MJSON::PP -e 'print JSON::PP->new->canonical->encode({
  team => "research", name => "round-trip", cpus => "1500m", memory => "1Gi", time_limit => "90m",
  checkpoint => {signal => "SIGUSR1", grace => 30}, workdir => $ARGV[1],
  command => ["sh", "-c", $ARGV[0]],
  env => {YES => "yes", TILDE => "~", NUL => "null", ZERO => "0123", TAB => "a\tb",
          MULTI => "line one\nline two: x\n", EMPTY => "", UNI => "h\x{e9}llo \x{2603}",
          ON => "on", HEX => "0x10", DATE => "2024-01-01", NUM => "1e3", HASH => "# not a comment",
          LEAD => "  two spaces", QUOTES => "it'"'"'s \"q\"", COLON => "key: value"}})' -- "$script" "$WORK/run")
id=$(submit "$body")
like "$id" '^[0-9]+$' "a job with tricky env values is submitted through the API"
wait_for 30 job_is "$id" succeeded
ok $? "and succeeds"
api GET "/v1/jobs/$id" > "$WORK/orig.json"

# python3's yaml (YAML 1.1: it reads an unquoted yes as true, ~ as null) reads every field of
# `gantry show -o yaml` as the API's JSON has it.
"$GANTRY" show "$id" -o yaml > "$WORK/x.yaml"
ok $? "gantry show $id -o yaml"
py=$(python3 -c '
import json, sys, yaml
y = yaml.safe_load(open(sys.argv[1], encoding="utf-8"))
j = json.load(open(sys.argv[2], encoding="utf-8"))
bad = [k for k in j if y.get(k, "<missing>") != j[k] or type(y.get(k)) != type(j[k])]
print("same" if not bad and set(y) == set(j) else "differ: %s" % bad)' "$WORK/x.yaml" "$WORK/orig.json" 2>&1)
is "$py" "same" "python3's yaml reads gantry show -o yaml as the same document as the JSON API (types too)"
like "$(cat "$WORK/x.yaml")" "'?YES'?: 'yes'" "an env value yes is written quoted"
like "$(cat "$WORK/x.yaml")" "gpus: 1\.0" "a real stays a real (gpus: 1.0)"

# show -o yaml | submit -f -: the same job again; the server's fields are named on stderr.
id2=$("$GANTRY" show "$id" -o yaml | "$GANTRY" submit -f - 2>"$WORK/note" | awk '{print $3}')
like "$id2" '^[0-9]+$' "gantry show $id -o yaml | gantry submit -f - is accepted"
like "$(cat "$WORK/note")" "note: ignored the fields the server sets: id, user, state, .*placement" \
  "stderr names the ignored server fields"
api GET "/v1/jobs/$id2" > "$WORK/again.json"
same_fields() { # FILE_A FILE_B: the fields a submission sets, equal in both documents
  python3 -c '
import json, sys
a, b = (json.load(open(f, encoding="utf-8")) for f in sys.argv[1:3])
keys = ["env", "command", "name", "team", "gpus", "cpus_milli", "memory_mib", "time_limit_s",
        "checkpoint", "workdir", "priority_class", "gpu_type", "network", "mounts"]
bad = [k for k in keys if a.get(k) != b.get(k)]
print("same" if not bad else "differ: " + ", ".join("%s %r != %r" % (k, a.get(k), b.get(k)) for k in bad))' "$1" "$2"
}
is "$(same_fields "$WORK/orig.json" "$WORK/again.json")" "same" \
  "the resubmitted job's env, command, sizes and checkpoint equal the original's (JSON API)"
is "$(jget '{env}{YES}' < "$WORK/again.json")|$(jget '{env}{TILDE}' < "$WORK/again.json")|$(jget '{env}{ZERO}' < "$WORK/again.json")" \
  "yes|~|0123" "env yes, ~, 0123 stay strings"
wait_for 30 job_is "$id2" succeeded
ok $? "the resubmitted job succeeds"
cmp -s "out.$id" "out.$id2"
ok $? "and its process saw the same environment values (yes, ~, null, 0123, tab, lines, unicode)"
is "$(sed -n 5p "out.$id2")" "$(printf '<a\tb>')" "a tab survives"

# gantry queue -o yaml: the same list as -o json, read by python3's yaml.
"$GANTRY" queue --all -o yaml > "$WORK/q.yaml"
"$GANTRY" queue --all -o json > "$WORK/q.json"
is "$(python3 -c '
import json, sys, yaml
y = yaml.safe_load(open(sys.argv[1], encoding="utf-8"))
j = json.load(open(sys.argv[2], encoding="utf-8"))
print("same" if y == j and len(j) >= 2 else "differ")' "$WORK/q.yaml" "$WORK/q.json" 2>&1)" "same" \
  "gantry queue --all -o yaml reads as the same list as -o json"

# -o spec: only the fields to submit; it submits without a note.
"$GANTRY" show "$id" -o spec > "$WORK/spec.yaml"
ok $? "gantry show $id -o spec"
bad=$(grep -cE '^(id|state|user|placement|submit_time|gpus_milli|incarnation|exit_code):' "$WORK/spec.yaml")
is "$bad" "0" "-o spec has none of the server's fields"
like "$(cat "$WORK/spec.yaml")" "memory: '?1Gi'?" "-o spec writes sizes as a submission does (memory: 1Gi)"
id3=$("$GANTRY" submit -f "$WORK/spec.yaml" 2>"$WORK/note3" | awk '{print $3}')
like "$id3" '^[0-9]+$' "gantry submit -f spec.yaml is accepted"
is "$(cat "$WORK/note3")" "" "with no note"
api GET "/v1/jobs/$id3" > "$WORK/spec.json"
is "$(same_fields "$WORK/orig.json" "$WORK/spec.json")" "same" "the -o spec job equals the original"

# A JSON job file: gantry show -o json > x.json; gantry submit -f x.json
"$GANTRY" show "$id" -o json > "$WORK/x.json"
id4=$("$GANTRY" submit -f "$WORK/x.json" 2>/dev/null | awk '{print $3}')
like "$id4" '^[0-9]+$' "gantry submit -f x.json (gantry show -o json) is accepted"
api GET "/v1/jobs/$id4" > "$WORK/json.json"
is "$(same_fields "$WORK/orig.json" "$WORK/json.json")" "same" "and equals the original"

# Duplicate keys are refused with their lines; so is a truly unknown field.
printf 'team: research\nenv:\n  A: "1"\n  A: "2"\ncommand: ["true"]\n' > "$WORK/dup.yaml"
out=$("$GANTRY" submit -f "$WORK/dup.yaml" 2>&1)
rc=$?
ok $((rc == 0)) "a file with a key given twice is refused (exit $rc)"
like "$out" "line 4: the key 'A' is given twice in one mapping \(first at line 3\)" "the message names both lines"
printf 'team: research\ncommand: ["true"]\nteam: other\n' > "$WORK/dup2.yaml"
like "$("$GANTRY" submit -f "$WORK/dup2.yaml" 2>&1)" "line 3: the key 'team' is given twice" "a top-level key given twice too"
printf 'team: research\ncommand: ["true"]\nbogus: 1\n' > "$WORK/unknown.yaml"
like "$("$GANTRY" submit -f "$WORK/unknown.yaml" 2>&1)" "unknown field 'bogus'" "an unknown field is still refused"
printf 'id: 5\nstate: running\nbogus: 1\nteam: research\ncommand: ["true"]\n' > "$WORK/mixed.yaml"
like "$("$GANTRY" submit -f "$WORK/mixed.yaml" 2>&1)" "unknown field 'bogus'" "even beside server fields"

# Unquoted yes/on in a hand-written file are strings (YAML 1.2's core schema), as written.
printf 'team: research\nenv:\n  FLAG: yes\n  MODE: on\n  N: "007"\ncommand: ["true"]\n' > "$WORK/plain.yaml"
id5=$("$GANTRY" submit -f "$WORK/plain.yaml" | awk '{print $3}')
is "$(api GET "/v1/jobs/$id5" | jget '{env}{FLAG}')|$(jget '{env}{MODE}' < "$WORK/body")" "yes|on" \
  "unquoted yes and on in a job file are the strings yes and on"
done_testing
