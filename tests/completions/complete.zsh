# Completes one command line in a real interactive zsh and writes the candidates, one a line.
#   zsh -f complete.zsh FPATH_DIR OUT_FILE 'authplane-dev verify --'
# The completion system only runs inside the line editor, so the line is typed into an
# interactive `zsh -f -i` on a pseudo-terminal (zpty), followed by TAB. A compadd wrapper appends
# every candidate zsh offers to OUT_FILE, and a function in comppostfuncs (run when the
# completion is over) prints a marker: reading up to it is how we know the completion finished.
zmodload zsh/zpty || { print -u2 'zsh/zpty is missing'; exit 2 }
fpath_dir=$1 out=$2 line=$3
: > $out
zpty z zsh -f -i
zpty -w z "PROMPT='' RPROMPT=''; unsetopt BEEP; fpath=(${(q)fpath_dir} \$fpath)"
zpty -w z 'autoload -U compinit && compinit -u -D'
zpty -w z "compadd() {
  if [[ \${@[1,(i)(-|--)]} == *-(O|A|D)\\ * ]]; then builtin compadd \"\$@\"; return; fi
  local -a __hits; builtin compadd -A __hits \"\$@\"
  (( \$#__hits )) && print -rl -- \$__hits >> ${(q)out}
  builtin compadd \"\$@\"
}"
zpty -w z "completion-over() { print -r -- COMPLETION\$((1+1))OVER }; comppostfuncs=(completion-over)"
zpty -w z "bindkey '^I' complete-word"
# The markers are computed ($((1+1))), so the echo of the typed command never matches them.
zpty -w z "print -r -- READY\$((1+1))"
zpty -r z seen '*READY2*' || { print -u2 'the interactive zsh did not start'; exit 3 }
zpty -w -n z "$line"$'\t'
zpty -r z seen '*COMPLETION2OVER*' || { print -u2 'the completion did not finish'; exit 3 }
zpty -d z
