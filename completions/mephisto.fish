# fish completion for mephisto and the mephisto-* programs.  The words come
# from "PROGRAM [COMMAND] --completion-helper", as in the bash completion.

function __mephisto_words
    set -l line (commandline -opc)
    set -l cmd $line[1]
    set -l rest $line[2..-1]
    if test (basename $cmd) = mephisto
        if test (count $rest) -eq 0
            $cmd --completion-helper 2>/dev/null
            return
        end
        set cmd $cmd $rest[1]
        set rest $rest[2..-1]
    end
    set -l top ($cmd --completion-helper 2>/dev/null)
    for w in $rest
        string match -q -- '-*' $w; and continue
        if contains -- $w $top
            $cmd $w --completion-helper 2>/dev/null
            return
        end
        # past the command position: options of the program only
        string match -- '-*' $top
        return
    end
    printf '%s\n' $top
end

for prog in mephisto mephisto-config mephisto-launch mephisto-pool mephisto-io mephisto-review
    complete -c $prog -a '(__mephisto_words)'
end
