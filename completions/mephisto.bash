# bash completion for mephisto and the mephisto-* programs.
#
# The words come from the programs themselves: "PROGRAM [COMMAND]
# --completion-helper" prints a program's commands and a command's long
# options, so completion follows the installed version.

# _mephisto_helper WORD...: the helper's words for the command line WORD...
_mephisto_helper() {
	"$@" --completion-helper 2>/dev/null
}

_mephisto() {
	local cur=${COMP_WORDS[COMP_CWORD]} cmd=() top words w i seen=0
	COMPREPLY=()
	# "mephisto CMD ..." is "mephisto-CMD ..." (the front end forwards).
	cmd=("${COMP_WORDS[0]}")
	i=1
	if [[ ${COMP_WORDS[0]##*/} == mephisto ]]; then
		if ((COMP_CWORD == 1)) || [[ ${COMP_WORDS[1]} == help && COMP_CWORD -eq 2 ]]; then
			COMPREPLY=($(compgen -W "$(_mephisto_helper "${cmd[@]}" | grep -v -- '^-')" -- "$cur"))
			((COMP_CWORD == 1)) && [[ $cur == -* ]] &&
				COMPREPLY=($(compgen -W "$(_mephisto_helper "${cmd[@]}" | grep -- '^-')" -- "$cur"))
			return
		fi
		cmd+=("${COMP_WORDS[1]}")
		i=2
	fi
	top=$(_mephisto_helper "${cmd[@]}")
	words=$top
	# The command: the first word after the program, if the program lists it.
	for ((; i < COMP_CWORD; i++)); do
		w=${COMP_WORDS[i]}
		[[ $w == -* ]] && continue
		seen=1
		if grep -qxF -- "$w" <<<"$top"; then
			cmd+=("$w")
			words=$(_mephisto_helper "${cmd[@]}")
		fi
		break
	done
	if [[ $cur == -* ]]; then
		COMPREPLY=($(compgen -W "$(grep -- '^-' <<<"$words")" -- "$cur"))
		if [[ ${#COMPREPLY[@]} -eq 1 && ${COMPREPLY[0]} == *= ]]; then
			compopt -o nospace 2>/dev/null
		fi
	elif ((!seen)); then
		COMPREPLY=($(compgen -W "$(grep -v -- '^-' <<<"$top")" -- "$cur")
			$(compgen -f -- "$cur"))
	else
		COMPREPLY=($(compgen -f -- "$cur"))
	fi
}

complete -o filenames -F _mephisto mephisto mephisto-config mephisto-launch \
	mephisto-pool mephisto-io mephisto-review
