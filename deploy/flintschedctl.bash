# bash completion for flintschedctl (installed by make install into
# share/bash-completion/completions/flintschedctl).  Request ids and host
# names are read from the cluster with flintschedctl itself, -o json.
_flintschedctl_names() { # list|hosts -> ids or host names
	local field=id
	[ "$1" = hosts ] && field=host
	flintschedctl -o json "$1" 2>/dev/null |
		sed -n "s/^    \"$field\": \"\\([a-z0-9._-]*\\)\",\$/\\1/p"
}

_flintschedctl() {
	local cur prev cmd="" i
	COMPREPLY=()
	cur=${COMP_WORDS[COMP_CWORD]}
	prev=${COMP_WORDS[COMP_CWORD-1]}
	local cmds="submit get list hosts explain plan watch delete cordon drain uncordon top help"
	local globals="-c --config --endpoints --user --cacert --cert --key --prefix --timeout -o --output --help --version"
	for ((i = 1; i < COMP_CWORD; i++)); do
		case ${COMP_WORDS[i]} in
		-c|--config|--endpoints|--user|--cacert|--cert|--key|--prefix|--timeout|-o|--output) ((i++)) ;;
		-*) ;;
		*) cmd=${COMP_WORDS[i]}; break ;;
		esac
	done
	case $prev in
	-c|--config|--cacert|--cert|--key) mapfile -t COMPREPLY < <(compgen -f -- "$cur"); return ;;
	-o|--output) mapfile -t COMPREPLY < <(compgen -W "table wide json" -- "$cur"); return ;;
	--phase) mapfile -t COMPREPLY < <(compgen -W "pending scheduled running failed unschedulable rejected lost" -- "$cur"); return ;;
	--host) mapfile -t COMPREPLY < <(compgen -W "$(_flintschedctl_names hosts)" -- "$cur"); return ;;
	--endpoints|--user|--prefix|--timeout|--id|--selector|--max-parallel|--deadline|--interval|--wait-timeout|--metrics) return ;;
	esac
	if [ -z "$cmd" ]; then
		mapfile -t COMPREPLY < <(compgen -W "$cmds $globals" -- "$cur")
		return
	fi
	case $cmd in
	submit) mapfile -t COMPREPLY < <(compgen -f -W "--id --replace --wait --wait-timeout" -- "$cur") ;;
	plan) mapfile -t COMPREPLY < <(compgen -f -W "--id" -- "$cur") ;;
	get|delete|watch) mapfile -t COMPREPLY < <(compgen -W "$(_flintschedctl_names list)" -- "$cur") ;;
	explain) mapfile -t COMPREPLY < <(compgen -W "-v --verbose $(_flintschedctl_names list)" -- "$cur") ;;
	list) mapfile -t COMPREPLY < <(compgen -W "--phase --host --selector" -- "$cur") ;;
	hosts|cordon|uncordon) mapfile -t COMPREPLY < <(compgen -W "$(_flintschedctl_names hosts)" -- "$cur") ;;
	drain) mapfile -t COMPREPLY < <(compgen -W "--max-parallel --deadline $(_flintschedctl_names hosts)" -- "$cur") ;;
	top) mapfile -t COMPREPLY < <(compgen -W "--interval --metrics" -- "$cur") ;;
	help) mapfile -t COMPREPLY < <(compgen -W "$cmds" -- "$cur") ;;
	esac
}
complete -F _flintschedctl flintschedctl
