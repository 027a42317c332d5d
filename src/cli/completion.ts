// Shell completion scripts, generated from the command table.
import type { Command, OptionSpec } from './commands.ts';

function tree(commands: Command[], global: Record<string, OptionSpec>) {
  const top = new Set<string>(['completion']);
  const subs = new Map<string, Set<string>>();
  const opts = new Map<string, string[]>();
  const flags = (o: Record<string, OptionSpec> = {}) => Object.entries({ ...global, ...o }).flatMap(([k, v]) => [`--${k}`, ...(v.short ? [`-${v.short}`] : [])]);
  for (const c of commands) {
    top.add(c.words[0]!);
    if (c.words.length > 1) {
      if (!subs.has(c.words[0]!)) subs.set(c.words[0]!, new Set());
      subs.get(c.words[0]!)!.add(c.words[1]!);
    }
    opts.set(c.words.join(' '), flags(c.options));
  }
  opts.set('completion', ['bash', 'zsh', '--help']);
  return { top: [...top], subs, opts };
}

export function completion(shell: 'bash' | 'zsh', commands: Command[], global: Record<string, OptionSpec>): string {
  const { top, subs, opts } = tree(commands, global);
  const subCases = [...subs].map(([g, s]) => `    ${g}) words_="${[...s].join(' ')}" ;;`).join('\n');
  const optCases = [...opts].map(([c, o]) => `    "${c}") words_="${o.join(' ')}" ;;`).join('\n');
  const body = `  local words_=""
  if [ "$cword" -eq 1 ]; then
    words_="${top.join(' ')} --help"
  elif [ "$cword" -eq 2 ]; then
    case "$w1" in
${subCases}
    esac
  fi
  if [ -z "$words_" ]; then
    case "$prev" in
      -o|--output) words_="table json yaml" ;;
      --type) words_="container vm" ;;
      --service-type) words_="ClusterIP NodePort LoadBalancer" ;;
      --role) words_="user admin" ;;
      *)
        case "$w1 $w2" in
${optCases.replace(/^/gm, '    ')}
          *) case "$w1" in
${optCases.replace(/^/gm, '      ')}
             esac ;;
        esac ;;
    esac
  fi`;
  if (shell === 'bash') {
    return `# kubekloud completion for bash: source <(kubekloud completion bash)
_kubekloud() {
  local cur="\${COMP_WORDS[COMP_CWORD]}" prev="\${COMP_WORDS[COMP_CWORD-1]}"
  local cword=$COMP_CWORD w1="\${COMP_WORDS[1]}" w2="\${COMP_WORDS[2]}"
${body}
  COMPREPLY=( $(compgen -W "$words_" -- "$cur") )
}
complete -F _kubekloud kubekloud
`;
  }
  return `#compdef kubekloud
# kubekloud completion for zsh: kubekloud completion zsh > "\${fpath[1]}/_kubekloud"  (or: source <(kubekloud completion zsh))
_kubekloud() {
  local cword=$((CURRENT - 1)) prev="\${words[CURRENT-1]}" w1="\${words[2]}" w2="\${words[3]}"
${body}
  compadd -- \${=words_}
}
compdef _kubekloud kubekloud
`;
}
