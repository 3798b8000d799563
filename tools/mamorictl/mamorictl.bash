# bash completion for mamorictl(8)                         -*- shell-script -*-

_mamorictl_devices()
{
    # Bus paths and vendor:product of plugged USB devices, straight from sysfs.
    local d
    for d in /sys/bus/usb/devices/*; do
        [[ -f $d/idVendor && ${d##*/} != usb* ]] || continue
        printf '%s\n' "${d##*/}" "$(<"$d/idVendor"):$(<"$d/idProduct")"
    done
}

_mamorictl_dead_letters()
{
    # The seq ranges of the dead letters (root reads the uplink's directory).
    local f n dir=${MAMORI_UPLINK_STATE_DIR:-/var/lib/mamori-uplink}/dead-letter
    for f in "$dir"/*.ndjson; do
        [[ -f $f && ! -L $f ]] || continue
        n=${f##*/}; n=${n%.ndjson}
        printf '%s\n' "$((10#${n%%-*}))-$((10#${n##*-}))"
    done 2>/dev/null
}

_mamorictl()
{
    local cur prev words cword
    _init_completion 2>/dev/null || {
        COMPREPLY=()
        cur=${COMP_WORDS[COMP_CWORD]}
        prev=${COMP_WORDS[COMP_CWORD - 1]}
        words=("${COMP_WORDS[@]}")
        cword=$COMP_CWORD
    }

    local commands='status devices allow check-config events flush reload dead-letter inspect quarantine'
    local global='--socket --json --help --version'
    local verb i
    for ((i = 1; i < cword; i++)); do
        case ${words[i]} in
            --socket) ((i++)) ;;
            -*) ;;
            *) verb=${words[i]}; break ;;
        esac
    done

    case $prev in
        --socket|--write)
            COMPREPLY=($(compgen -f -- "$cur"))
            return ;;
        --config)
            COMPREPLY=($(compgen -f -- "$cur"))
            return ;;
        --allow-dir)
            COMPREPLY=($(compgen -d -- "$cur"))
            return ;;
        --label|--approved-by|--ticket|-n|--lines|--reason)
            return ;;
        --approved-on|--expires)
            COMPREPLY=($(compgen -W "$(date +%F)" -- "$cur"))
            return ;;
    esac

    if [[ -z $verb ]]; then
        if [[ $cur == -* ]]; then
            COMPREPLY=($(compgen -W "$global" -- "$cur"))
        else
            COMPREPLY=($(compgen -W "$commands" -- "$cur"))
        fi
        return
    fi

    case $verb in
        devices) COMPREPLY=($(compgen -W '--json --no-legend --wide' -- "$cur")) ;;
        events) COMPREPLY=($(compgen -W '--json --follow -n' -- "$cur")) ;;
        check-config) COMPREPLY=($(compgen -W '--config --allow-dir' -- "$cur")) ;;
        dead-letter)
            local sub
            for ((i++; i < cword; i++)); do
                [[ ${words[i]} == -* ]] || { sub=${words[i]}; break; }
            done
            case $sub in
                '') COMPREPLY=($(compgen -W 'list resend' -- "$cur")) ;;
                list) COMPREPLY=($(compgen -W '--json' -- "$cur")) ;;
                resend)
                    if [[ $cur == -* ]]; then
                        COMPREPLY=($(compgen -W '--all --json' -- "$cur"))
                    else
                        COMPREPLY=($(compgen -W "$(_mamorictl_dead_letters)" -- "$cur"))
                    fi ;;
            esac ;;
        inspect) COMPREPLY=($(compgen -W '--json' -- "$cur")) ;;
        quarantine)
            if [[ $cur == -* ]]; then
                COMPREPLY=($(compgen -W '--reason' -- "$cur"))
            else
                COMPREPLY=($(compgen -W 'engage release' -- "$cur"))
            fi ;;
        allow)
            if [[ $cur == -* ]]; then
                COMPREPLY=($(compgen -W '--label --approved-by --approved-on --expires --ticket --any-serial --read-only --write --renew --force --config --allow-dir' -- "$cur"))
            else
                COMPREPLY=($(compgen -W "$(_mamorictl_devices)" -- "$cur"))
            fi ;;
    esac
} &&
    complete -F _mamorictl mamorictl

# ex: filetype=sh
