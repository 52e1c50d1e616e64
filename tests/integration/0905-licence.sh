#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The project is GPL-2.0-or-later (it links libslurm and ships a SPANK
# plugin): COPYING holds the GPL v2 text, every source file carries an SPDX
# line in its first three lines, and the packages declare the same licence.
# The checker is also run on a doctored file: it must fail.
. "$(dirname "$0")/lib.sh"

# source files: code, scripts, build and packaging files, man pages; data
# (JSON, XML, fixtures, seeds), prose (Markdown) and dpkg's own formats are not
is_source() {
	case $1 in
	*.md | *.json | *.txt | *.xml | tests/fixtures/* | tests/fuzz/seeds/* | .gitignore) return 1 ;;
	COPYING | packaging/debian/changelog | packaging/debian/copyright) return 1 ;;
	packaging/debian/source/format | packaging/debian/*.dirs) return 1 ;;
	esac
	return 0
}
check() {	# dir: prints the files without an SPDX line, fails if any
	local bad=0 f
	while IFS= read -r f; do
		is_source "$f" || continue
		if ! head -n 3 "$1/$f" | grep -q 'SPDX-License-Identifier: GPL-2.0-or-later'; then
			echo "no SPDX line: $f"; bad=1
		fi
	done < <(cd "$1" && { git ls-files 2>/dev/null || find . -path ./.git -prune -o -path './build*' -prune -o -type f -print | sed 's|^\./||'; })
	return $bad
}

cd "$PCM_TOP" || fail "no top dir"
out=$(check "$PCM_TOP") || fail "files without the licence line: $out"
ok "every source file has an SPDX line"

grep -q 'GNU GENERAL PUBLIC LICENSE' COPYING && grep -q 'Version 2, June 1991' COPYING ||
	fail "COPYING is not the GPL v2 text"
grep -q '^License: GPL-2+$' packaging/debian/copyright || fail "debian/copyright: not GPL-2+"
grep -q '/usr/share/common-licenses/GPL-2' packaging/debian/copyright ||
	fail "debian/copyright does not point at common-licenses/GPL-2"
grep -Eq '^License:[[:space:]]+GPL-2.0-or-later$' packaging/rpm/pcm-agent.spec ||
	fail "the RPM's License: tag is not GPL-2.0-or-later"
grep -q '^%license COPYING' packaging/rpm/pcm-agent.spec || fail "the RPM does not ship COPYING"
ok "COPYING, debian/copyright and the RPM spec agree"

# the checker fails on a tree with one file missing its line
mkdir -p "$T/tree/agent"
printf '/* SPDX-License-Identifier: GPL-2.0-or-later */\nint a;\n' >"$T/tree/agent/good.c"
printf '/* no licence */\nint b;\n' >"$T/tree/agent/bad.c"
out=$(check "$T/tree") && fail "a file without the SPDX line went unnoticed"
assert_contains "$out" "agent/bad.c" "doctored tree"
assert_not_contains "$out" "agent/good.c" "doctored tree"
ok "the checker fails on a doctored tree"
