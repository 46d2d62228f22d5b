#!/usr/bin/env bats
# lib/site: building a run's static/ folder from a task's settings.

load lib/common

setup() {
	setup_env
	T="$BATS_TEST_TMPDIR/task"
	mkdir -p "$T/assets/img"
	printf '<p>${name}</p>\n' > "$T/demo_task.html"
	printf '<p>preview</p>\n' > "$T/preview_page.html"
	printf '<p>onboard</p>\n' > "$T/onboard.html"
	printf 'body{}\n' > "$T/assets/style.css"
	printf 'PNG\n' > "$T/assets/img/x.png"
	printf 'hidden\n' > "$T/assets/.DS_Store"
	S="$MEPHISTO_DATA/runs/1/static"
	mkdir -p "$MEPHISTO_DATA/runs/1"
}

# provider_script TYPE SCRIPT: the wrap_crowd_source.js a site of TYPE
# gets: its type, the shared part, then its family's script.
provider_script() {
	printf 'var MEPHISTO_PROVIDER_TYPE = "%s";\n' "$1"
	cat "$REPO/share/mephisto/web/providers/common.js" \
		"$REPO/share/mephisto/web/providers/$2.js"
}

@test "site: static_task gets the client, the pages, the provider script and the config" {
	run -0 io-site build "$S" --blueprint static_task --task "$T/demo_task.html" \
		--preview "$T/preview_page.html" --onboarding "$T/onboard.html" \
		--extra "$T/assets" --provider mock --args '{"task_title": "Demo", "block_mobile": false}'
	run ls "$S"
	assert_output "demo_task.html
img
index.html
mephisto-static.js
onboarding.html
preview.html
style.css
task_config.json
wrap_crowd_source.js"
	cmp "$T/demo_task.html" "$S/demo_task.html"
	cmp "$T/preview_page.html" "$S/preview.html"
	cmp "$T/onboard.html" "$S/onboarding.html"
	cmp "$T/assets/img/x.png" "$S/img/x.png"
	cmp <(provider_script mock local) "$S/wrap_crowd_source.js"
	cmp "$REPO/share/mephisto/web/static/mephisto-static.js" "$S/mephisto-static.js"
	assert_equal "$(jq -c . "$S/task_config.json")" \
		'{"task_title":"Demo","block_mobile":false,"mephisto_task_version":"2.0.4"}'
	assert_file_not_exists "$S/.DS_Store"
	# nothing left beside it
	run ls "$MEPHISTO_DATA/runs/1"
	assert_output static
}

@test "site: the preview defaults to the task page; no onboarding page without a source" {
	run -0 io-site build "$S" --blueprint static_task --task "$T/demo_task.html" \
		--provider inhouse
	cmp "$T/demo_task.html" "$S/preview.html"
	assert_file_not_exists "$S/onboarding.html"
	cmp <(provider_script inhouse local) "$S/wrap_crowd_source.js"
	assert_equal "$(jq -c . "$S/task_config.json")" '{"mephisto_task_version":"2.0.4"}'
}

@test "site: static_react_task serves the bundle into #app after the provider script" {
	printf 'console.log("bundle")\n' > "$T/bundle.min.js"
	run -0 io-site build "$S" --blueprint static_react_task --task "$T/bundle.min.js"
	run ls "$S"
	assert_output "bundle.js
index.html
task_config.json
wrap_crowd_source.js"
	cmp "$T/bundle.min.js" "$S/bundle.js"
	grep -q '<div id="app"></div>' "$S/index.html"
	# wrap_crowd_source.js is loaded before bundle.js
	local w=$(grep -n wrap_crowd_source.js "$S/index.html" | cut -d: -f1)
	local b=$(grep -n bundle.js "$S/index.html" | cut -d: -f1)
	[ "$w" -lt "$b" ]
}

@test "site: a rebuild replaces the folder at once and drops old files" {
	run -0 io-site build "$S" --blueprint static_task --task "$T/demo_task.html" \
		--extra "$T/assets"
	assert_file_exists "$S/style.css"
	run -0 io-site build "$S" --blueprint static_task --task "$T/demo_task.html"
	assert_file_not_exists "$S/style.css"
	assert_file_exists "$S/demo_task.html"
	run ls "$MEPHISTO_DATA/runs/1"
	assert_output static
}

@test "site: a failed build leaves the old folder and no temporary one" {
	run -0 io-site build "$S" --blueprint static_task --task "$T/demo_task.html"
	run -1 --separate-stderr io-site build "$S" --blueprint static_task \
		--task "$T/demo_task.html" --onboarding "$T/missing.html"
	assert_equal "$stderr" "io-site: error: cannot open '$T/missing.html': No such file or directory"
	assert_file_exists "$S/demo_task.html"
	run ls "$MEPHISTO_DATA/runs/1"
	assert_output static
}

@test "site: names the site needs, unservable names and bad settings are refused" {
	printf 'x' > "$T/index.html"
	run -1 --separate-stderr io-site build "$S" --blueprint static_task --task "$T/index.html"
	[[ "$stderr" == *"cannot serve the task file '$T/index.html': the name 'index.html' is taken by a file the site makes itself; rename it"* ]]
	run -1 --separate-stderr io-site page-name "$T/.secret.html"
	[[ "$stderr" == *"its name is hidden or has control characters"* ]]
	run -0 io-site page-name "/a/b/demo_task.html"
	assert_output demo_task.html
	mkdir -p "$T/extra"
	printf 'x' > "$T/extra/task_config.json"
	run -1 --separate-stderr io-site build "$S" --blueprint static_task \
		--task "$T/demo_task.html" --extra "$T/extra"
	[[ "$stderr" == *"the name 'task_config.json' is taken by a file the site makes itself"* ]]
	run -1 --separate-stderr io-site build "$S" --blueprint remote_procedure \
		--task "$T/demo_task.html"
	[[ "$stderr" == *"cannot build a site for blueprint 'remote_procedure'"* ]]
	run -1 --separate-stderr io-site build "$S" --blueprint static_task \
		--task "$T/demo_task.html" --provider nosuch
	[[ "$stderr" == *"no browser script for provider 'nosuch'"* ]]
	run -1 --separate-stderr io-site build "$S" --blueprint static_task \
		--task "$T/demo_task.html" --provider ../x
	[[ "$stderr" == *"no browser script for provider '../x'"* ]]
	run -1 --separate-stderr io-site build "$S" --blueprint static_task \
		--task "$T/demo_task.html" --args '[1]'
	[[ "$stderr" == *"the frontend arguments must be an object"* ]]
	assert_file_not_exists "$S"
	run ls "$MEPHISTO_DATA/runs/1"
	assert_output ""
}

@test "site: symbolic links in extra_source_dir are copied as files, loops refused" {
	printf 'real\n' > "$BATS_TEST_TMPDIR/outside.txt"
	mkdir -p "$T/extra/sub"
	ln -s "$BATS_TEST_TMPDIR/outside.txt" "$T/extra/linked.txt"
	ln -s .. "$T/extra/sub/loop"
	run -1 --separate-stderr io-site build "$S" --blueprint static_task \
		--task "$T/demo_task.html" --extra "$T/extra"
	[[ "$stderr" == *"nested too deep"* ]]
	rm "$T/extra/sub/loop"
	run -0 io-site build "$S" --blueprint static_task \
		--task "$T/demo_task.html" --extra "$T/extra"
	[ ! -L "$S/linked.txt" ]
	assert_equal "$(cat "$S/linked.txt")" real
}

@test "site: mephisto-io serves a built site" {
	load lib/io
	RUN_DIR="$MEPHISTO_DATA/runs/1"
	POOL_LOG="$BATS_TEST_TMPDIR/pool.log"
	run -0 io-site build "$S" --blueprint static_task --task "$T/demo_task.html"
	start_io
	http GET /
	assert_equal "$code" 200
	[[ "$body" == *'mephisto-static.js'* ]]
	http GET /demo_task.html
	assert_equal "$body" '<p>${name}</p>'
	http GET /wrap_crowd_source.js
	assert_equal "$code" 200
	assert_equal "$body" "$(provider_script mock local)"
	stop_io
}
