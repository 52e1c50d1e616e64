#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The man pages cannot drift from the binary:
# - every command of `pcm-agent --help` has `pcm-agent help CMD` and a .Ss
#   section under COMMANDS in pcm-agent.8 naming every long option of its help;
# - every global option and every exit code of --help is in pcm-agent.8;
# - spank_pcm.8 names the plugin's option, variable and plugstack arguments;
# - every key of `pcm-agent --json config check` has an entry in
#   pcm-agent.conf.5 whose documented default parses to the binary's default;
# - every AWS_* / PCM_* name in the code and every getenv("X") is under
#   ENVIRONMENT (test hooks, PCM_TEST_*, excepted);
# - all three pages are `mandoc -Tlint` clean (warnings included).
# The checker is also run on doctored copies of the pages: it must fail.
. "$(dirname "$0")/lib.sh"

command -v mandoc >/dev/null || skip "mandoc not installed (packaging/install-deps)"
MAN=$PCM_TOP/man

# mandoc: no warning, no error (STYLE messages depend on the manuals installed)
for p in pcm-agent.8 pcm-agent.conf.5 spank_pcm.8; do
	[ -f "$MAN/$p" ] || fail "man/$p missing"
	out=$(mandoc -Tlint -Wwarning "$MAN/$p" 2>&1) || fail "mandoc -Tlint $p: $out"
	[ -z "$out" ] || fail "mandoc -Tlint $p: $out"
done
ok "mandoc -Tlint clean"

# What the binary knows.  Defaults: no config file content, no discovery
# sources (a key found by discovery is only checked for presence).
"$PCM" --help >"$T/help.txt"
: >"$T/empty.conf"
env -u SLURM_CONF -u AWS_REGION -u AWS_DEFAULT_REGION -u PCM_AGENT_CONFIG \
	"$PCM" --json -c "$T/empty.conf" config check >"$T/defaults.json" ||
	fail "config check with an empty config failed"
sed -n '/^commands:/,/^$/p' "$T/help.txt" | awk 'NR > 1 && NF { print $1 }' >"$T/commands"
[ -s "$T/commands" ] || fail "no command found in --help"
while read -r c; do
	"$PCM" help "$c" >"$T/help-$c.txt" 2>&1 || fail "pcm-agent help $c exited $?"
	[[ $(head -n1 "$T/help-$c.txt") == "usage: pcm-agent $c"* ]] ||
		fail "pcm-agent help $c: first line is not 'usage: pcm-agent $c ...'"
done <"$T/commands"

cat >"$T/check.py" <<'PY'
import json, os, re, subprocess, sys

pcm, d, man8, man5, top = sys.argv[1:6]
errors = []

def sections(src, macro):
    """{name: [lines]} of the .Sh (or .Ss) sections of an mdoc source."""
    out, cur = {}, None
    for line in src.splitlines():
        m = re.match(r'^\.%s\s+(.*)$' % macro, line)
        if m:
            cur = m.group(1).strip()
            out[cur] = []
        elif macro == 'Ss' and line.startswith('.Sh '):
            cur = None
        elif cur is not None:
            out[cur].append(line)
    return out

def flags(lines):
    """long options named in mdoc lines: '.Fl -foo', 'Fl -foo-bar Ns ...'"""
    return set(re.findall(r'\bFl\s+-(-?[a-z][a-z0-9-]*)', '\n'.join(lines)))

src8 = open(man8).read()
sh8 = sections(src8, 'Sh')
for s in ('NAME', 'SYNOPSIS', 'DESCRIPTION', 'COMMANDS', 'OPTIONS', 'EXIT STATUS',
          'ENVIRONMENT', 'FILES', 'EXAMPLES', 'SEE ALSO'):
    if s not in sh8:
        errors.append('pcm-agent.8: no section %s' % s)
ss8 = sections('\n'.join(['.Sh COMMANDS'] + sh8.get('COMMANDS', [])), 'Ss')
help_txt = open(os.path.join(d, 'help.txt')).read()

# global options
glob = help_txt.split('global options:', 1)[-1].split('commands:', 1)[0]
glob_opts = set(re.findall(r'--([a-z][a-z0-9-]*)', glob))
documented_glob = {o.lstrip('-') for o in flags(sh8.get('OPTIONS', []))}
for o in sorted(glob_opts - documented_glob):
    errors.append('pcm-agent.8: global option --%s of --help missing under OPTIONS' % o)

# commands and their options
for c in open(os.path.join(d, 'commands')).read().split():
    if c not in ss8:
        errors.append('pcm-agent.8: command %s (in --help) has no ".Ss %s" under COMMANDS' % (c, c))
        continue
    if c == 'help':
        continue  # its help text is the global usage
    h = open(os.path.join(d, 'help-%s.txt' % c)).read()
    opts = set(re.findall(r'(?<![\w-])--([a-z][a-z0-9-]*)', h))
    have = {o.lstrip('-') for o in flags(ss8[c])} | documented_glob
    have |= set(re.findall(r'(?<![\w-])--([a-z][a-z0-9-]*)', '\n'.join(ss8[c])))  # quoted, e.g. in .Ql
    for o in sorted(opts - have):
        errors.append('pcm-agent.8: option --%s of `pcm-agent help %s` missing in its section' % (o, c))

# exit codes
codes = re.findall(r'^\s+(\d+)\s+\S', help_txt.split('exit status:', 1)[-1], re.M)
if not codes:
    errors.append('--help lists no exit status')
doc_codes = set(re.findall(r'^\.It\s+(\d+)\s*$', '\n'.join(sh8.get('EXIT STATUS', [])), re.M))
for n in codes:
    if n not in doc_codes:
        errors.append('pcm-agent.8: exit status %s (in --help) missing under EXIT STATUS' % n)

# environment variables read by the code (test-only hooks excluded)
env_doc = set(re.findall(r'\bEv\s+([A-Z0-9_]+)', '\n'.join(sh8.get('ENVIRONMENT', []))))
for sub in ('agent', 'storage'):
    for root, _, files in os.walk(os.path.join(top, sub)):
        for f in files:
            if not f.endswith('.c'):
                continue
            text = open(os.path.join(root, f), errors='replace').read()
            names = set(re.findall(r'"((?:AWS|PCM)_[A-Z0-9_]*[A-Z0-9])"', text))
            names |= set(re.findall(r'getenv\("([A-Z][A-Z0-9_]*)"\)', text))
            for v in sorted(names - {'HOME', 'JOURNAL_STREAM'}):
                if re.search(r'TEST|FAULT|INJECT|DEBUG', v):
                    continue
                if v not in env_doc:
                    errors.append('pcm-agent.8: %s (read in %s/%s) missing under ENVIRONMENT' % (v, sub, f))

# the SPANK plugin: its option, the variable it exports, its plugstack.conf arguments
man8s = os.path.join(os.path.dirname(man8), 'spank_pcm.8')
spank_c = os.path.join(top, 'slurm-plugin', 'spank_pcm.c')
notice_h = os.path.join(top, 'slurm-plugin', 'pcm_notice.h')
if os.path.exists(spank_c) and os.path.exists(man8s):
    srcs = open(man8s).read()
    code = open(spank_c).read() + (open(notice_h).read() if os.path.exists(notice_h) else '')
    for opt in re.findall(r'#define\s+PCM_NOTICE_ACK_OPT\s+"([^"]+)"', code):
        if not re.search(r'\bFl\s+-%s\b' % re.escape(opt), srcs):
            errors.append('spank_pcm.8: option --%s of the plugin missing' % opt)
    for var in re.findall(r'#define\s+PCM_NOTICE_ENV\s+"([^"]+)"', code):
        if not re.search(r'\bEv\s+%s\b' % re.escape(var), srcs):
            errors.append('spank_pcm.8: variable %s set by the plugin missing' % var)
    for arg in re.findall(r'"([a-z_]+)="', code):
        if not re.search(r'\bCm\s+%s\s+Ns\s+=' % re.escape(arg), srcs):
            errors.append('spank_pcm.8: plugstack.conf argument %s= of the plugin missing' % arg)

# config keys and defaults
src5 = open(man5).read()
items, cur = {}, None
for line in src5.splitlines():
    m = re.match(r'^\.It\s+Cm\s+([a-z_0-9]+)\b', line)
    if m:
        cur = m.group(1)
        items[cur] = []
    elif line.startswith(('.It', '.El', '.Sh', '.Ss')):
        cur = None
    elif cur is not None:
        items[cur].append(line)
cfg = json.load(open(os.path.join(d, 'defaults.json')))['config']
doc_default = {}
for k, v in cfg.items():
    if k not in items:
        errors.append('pcm-agent.conf.5: key %s (in config check) has no ".It Cm %s" entry' % (k, k))
        continue
    lines, val = items[k], ...
    for i, line in enumerate(lines):
        if line.strip() == 'Default:' and i + 1 < len(lines):
            m = re.match(r'^\.Ql\s+(.*?)(?:\s+[.,;])?$', lines[i + 1])
            if m:
                val = m.group(1)
        elif line.startswith('Default: none'):
            val = None
    if val is ...:
        errors.append('pcm-agent.conf.5: key %s: no "Default:" line followed by ".Ql VALUE", '
                      'nor "Default: none"' % k)
        continue
    if v['source'] != 'default':
        continue  # discovered on this machine: the built-in default is not visible
    if v['value'] is None and val is not None:
        errors.append('pcm-agent.conf.5: key %s: documented default %r, the binary has none' % (k, val))
    elif v['value'] is not None and val is None:
        errors.append('pcm-agent.conf.5: key %s: documented without default, the binary has %r' % (k, v['value']))
    elif val is not None:
        doc_default[k] = val
# the documented defaults must parse to the binary's defaults
conf = os.path.join(d, 'doc-defaults.conf')
with open(conf, 'w') as fp:
    for k, val in doc_default.items():
        fp.write('%s = %s\n' % (k, val))
env = {k: v for k, v in os.environ.items() if k not in ('SLURM_CONF', 'AWS_REGION', 'AWS_DEFAULT_REGION', 'PCM_AGENT_CONFIG')}
p = subprocess.run([pcm, '--json', '-c', conf, 'config', 'check'], capture_output=True, text=True, env=env)
if p.returncode != 0:
    errors.append('pcm-agent.conf.5: a documented default is not a valid value: %s' % p.stderr.strip())
else:
    got = json.loads(p.stdout)['config']
    for k, val in doc_default.items():
        if got[k]['value'] != cfg[k]['value']:
            errors.append('pcm-agent.conf.5: key %s: documented default %r means %r, the binary\'s is %r'
                          % (k, val, got[k]['value'], cfg[k]['value']))

# documented commands the binary does not have (yet): allowed, but said
extra = sorted(set(ss8) - set(open(os.path.join(d, 'commands')).read().split()))
if extra:
    print('note: pcm-agent.8 documents commands the binary does not have yet: ' + ' '.join(extra))

for e in errors:
    print(e)
sys.exit(1 if errors else 0)
PY

check() {	# man8 man5: run the checker, output in $OUT
	local rc=0
	OUT=$(python3 "$T/check.py" "$PCM" "$T" "$1" "$2" "$PCM_TOP" 2>&1) || rc=$?
	return $rc
}

check "$MAN/pcm-agent.8" "$MAN/pcm-agent.conf.5" || fail "docs drifted from the binary:
$OUT"
[ -z "$OUT" ] || echo "$OUT"
ok "$(wc -l <"$T/commands") commands, $(json_get 'len(d["config"])' <"$T/defaults.json") keys, exit codes and options documented"

# The checker catches drift: remove one command section, one key, one exit
# code, one option, change one default; each must make it fail.
c=$(head -n1 "$T/commands")
sed "s/^\.Ss $c\$/.Ss renamed-$c/" "$MAN/pcm-agent.8" >"$T/m8"
check "$T/m8" "$MAN/pcm-agent.conf.5" && fail "a missing command section went unnoticed"
assert_contains "$OUT" "command $c (in --help) has no" "missing command"
sed '/^\.Sh EXIT STATUS/,/^\.Sh/{/^\.It 6$/d}' "$MAN/pcm-agent.8" >"$T/m8"
check "$T/m8" "$MAN/pcm-agent.conf.5" && fail "a missing exit code went unnoticed"
assert_contains "$OUT" "exit status 6" "missing exit code"
sed 's/^\.It Fl -state-dir Ar dir$/.It Ar dir/' "$MAN/pcm-agent.8" >"$T/m8"
check "$T/m8" "$MAN/pcm-agent.conf.5" && fail "a missing global option went unnoticed"
assert_contains "$OUT" "global option --state-dir" "missing global option"
k=$(json_get 'list(d["config"])[-1]' <"$T/defaults.json")
sed "s/^\.It Cm $k /.It Cm x$k /" "$MAN/pcm-agent.conf.5" >"$T/m5"
check "$MAN/pcm-agent.8" "$T/m5" && fail "a missing key went unnoticed"
assert_contains "$OUT" "key $k (in config check) has no" "missing key"
awk '/^\.It Cm slurm_timeout /{f=1} f && /^\.Ql 30s/{sub("30s","31s"); f=0} {print}' \
	"$MAN/pcm-agent.conf.5" >"$T/m5"
check "$MAN/pcm-agent.8" "$T/m5" && fail "a wrong default went unnoticed"
assert_contains "$OUT" "key slurm_timeout: documented default '31s'" "wrong default"
# an option the binary knows for `config` (--json) removed everywhere
sed 's/Fl -json/Fl -jsn/g' "$MAN/pcm-agent.8" >"$T/m8"
check "$T/m8" "$MAN/pcm-agent.conf.5" && fail "a missing command option went unnoticed"
assert_contains "$OUT" "option --json of \`pcm-agent help config\`" "missing option"
if [ -f "$PCM_TOP/slurm-plugin/spank_pcm.c" ]; then
	mkdir -p "$T/mspank"
	cp "$MAN/pcm-agent.8" "$T/mspank/pcm-agent.8"
	sed 's/Fl -pcm-ack-maintenance/Fl -pcm-ack/' "$MAN/spank_pcm.8" >"$T/mspank/spank_pcm.8"
	check "$T/mspank/pcm-agent.8" "$MAN/pcm-agent.conf.5" && fail "a missing plugin option went unnoticed"
	assert_contains "$OUT" "spank_pcm.8: option --pcm-ack-maintenance" "missing plugin option"
fi
ok "the checker fails on doctored pages"
