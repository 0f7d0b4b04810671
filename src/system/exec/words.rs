//! Whether a check command needs a shell, and its words when it does not.
//!
//! keepalived 2.x never gives a `vrrp_script` to a shell: it splits the line into words itself
//! and execs the first (`set_script_params_array`, `alloc_strvec_quoted_escaped`): words end at
//! unquoted white space; `"..."` and `'...'` quote (the quotes removed, and a word may join
//! quoted and unquoted parts: `a"b c"d` is `ab cd`); a backslash escapes, also inside quotes.
//! vipd has always run checks as `/bin/sh -c COMMAND`, so a command with shell syntax keeps
//! going to the shell; only a command that the shell and keepalived read as the same words is
//! exec'd directly, which saves the shell's exec and its fork on every run.
//!
//! Such a command has none of the characters that mean something to `sh` or that the two read
//! differently: `| & ; < > ( ) $ \` \ * ? [ ] { } ~ # % !`, a newline or other white space than
//! space and tab (keepalived splits at `\f \r \v`, sh does not), and no `=` in its first word (an
//! assignment to sh; after the program's name `--opt=value` is a plain word to both). Its quotes
//! must be closed. Its first word must not be a shell keyword or a builtin without a program of
//! the same name and meaning (`exit 1`, `cd /x`, `if ...`): those stay with the shell too.

/// Shell keywords and builtins with no program of the same meaning on PATH (`true`, `false`,
/// `echo`, `printf`, `kill`, `test`, `pwd` have one, and are exec'd like any program).
const SHELL_ONLY: &[&str] = &[
    "!", ".", ":", "alias", "bg", "break", "case", "cd", "command", "continue", "do", "done",
    "elif", "else", "esac", "eval", "exec", "exit", "export", "fc", "fg", "fi", "for", "getopts",
    "hash", "if", "in", "jobs", "local", "read", "readonly", "return", "set", "shift", "then",
    "times", "trap", "type", "ulimit", "umask", "unalias", "unset", "until", "wait", "while", "{",
    "}",
];

/// Characters that send a command to the shell wherever they are.
const SHELL_SYNTAX: &[char] = &[
    '|', '&', ';', '<', '>', '(', ')', '$', '`', '\\', '*', '?', '[', ']', '{', '}', '~', '#', '%',
    '!', '\n', '\r', '\u{b}', '\u{c}',
];

/// The words of `command` when it can be exec'd without a shell (see the module doc); `None`
/// when it needs `/bin/sh -c`.
pub fn plain_words(command: &str) -> Option<Vec<String>> {
    if command.contains(SHELL_SYNTAX) {
        return None;
    }
    let words = split(command)?;
    let first = words.first()?;
    if first.contains('=') || SHELL_ONLY.contains(&first.as_str()) {
        return None;
    }
    Some(words)
}

/// keepalived's splitting, for a command without backslashes: `None` for an unclosed quote.
fn split(command: &str) -> Option<Vec<String>> {
    let mut words = Vec::new();
    let mut chars = command.chars().peekable();
    loop {
        while chars.next_if(|&c| c == ' ' || c == '\t').is_some() {}
        if chars.peek().is_none() {
            return Some(words);
        }
        let mut word = String::new();
        while let Some(c) = chars.next_if(|&c| c != ' ' && c != '\t') {
            match c {
                '"' | '\'' => loop {
                    match chars.next() {
                        Some(close) if close == c => break,
                        Some(inside) => word.push(inside),
                        None => return None,
                    }
                },
                other => word.push(other),
            }
        }
        words.push(word);
    }
}

#[cfg(test)]
mod tests {
    use super::plain_words;

    fn words(command: &str) -> Option<Vec<String>> {
        plain_words(command)
    }

    fn some(words: &[&str]) -> Option<Vec<String>> {
        Some(words.iter().map(|w| w.to_string()).collect())
    }

    #[test]
    fn spaces_and_tabs_separate_words_and_repeat_freely() {
        assert_eq!(
            words("  /usr/bin/killall  -0\thaproxy "),
            some(&["/usr/bin/killall", "-0", "haproxy"])
        );
        assert_eq!(words("pidof haproxy"), some(&["pidof", "haproxy"]));
    }

    #[test]
    fn quotes_group_words_as_in_keepalived_and_sh() {
        assert_eq!(
            words("/bin/check 'two words' \"it's\" ''"),
            some(&["/bin/check", "two words", "it's", ""])
        );
        // The manual's example: parts of one word may be quoted.
        assert_eq!(
            words("x abcd\" efg h jkl \"mnop"),
            some(&["x", "abcd efg h jkl mnop"])
        );
        assert_eq!(
            words("x abcd \"efg h jkl\" mnop"),
            some(&["x", "abcd", "efg h jkl", "mnop"])
        );
        assert_eq!(words("'/opt/my checks/up'"), some(&["/opt/my checks/up"]));
        assert_eq!(words("x 'unclosed"), None, "the shell says what is wrong");
        assert_eq!(words("x \"unclosed"), None);
    }

    #[test]
    fn shell_syntax_goes_to_the_shell() {
        for command in [
            "pidof haproxy || exit 1",
            "test -e /run/a && test -e /run/b",
            "curl -s http://192.0.2.1/ | grep -q ok",
            "check; true",
            "check > /dev/null",
            "check < /dev/null",
            "(check)",
            "check $HOST",
            "check `hostname`",
            "check a\\ b",
            "check /tmp/*",
            "check ?",
            "[ -e /run/flag ]",
            "check {a,b}",
            "check ~/x",
            "check # comment",
            "check %1",
            "! check",
            "check\nother",
            "check\u{b}x",
            "check\rx",
            "'quoted $HOME'",
        ] {
            assert_eq!(plain_words(command), None, "{command:?}");
        }
    }

    #[test]
    fn an_equals_sign_is_an_assignment_only_in_the_first_word() {
        assert_eq!(words("LANG=C check"), None);
        assert_eq!(
            words("curl --max-time=2 http://192.0.2.1/"),
            some(&["curl", "--max-time=2", "http://192.0.2.1/"])
        );
    }

    #[test]
    fn shell_keywords_and_builtins_go_to_the_shell_but_real_programs_do_not() {
        for command in [
            "exit 0",
            "exit",
            "cd /tmp",
            "if true",
            ": nothing",
            ". /etc/x",
        ] {
            assert_eq!(plain_words(command), None, "{command:?}");
        }
        assert_eq!(words("\"exit\" 1"), None, "quoted, still the builtin");
        assert_eq!(words("true"), some(&["true"]));
        assert_eq!(words("kill -0 1"), some(&["kill", "-0", "1"]));
        assert_eq!(words("test -e /run/x"), some(&["test", "-e", "/run/x"]));
    }

    #[test]
    fn nothing_to_run_is_the_shell_s_business() {
        assert_eq!(plain_words(""), None);
        assert_eq!(plain_words("  \t "), None);
    }
}
