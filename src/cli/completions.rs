//! `event-counter completions SHELL` and `event-counter man`: generated from
//! the same clap definitions as `--help`, so they never drift from it.

use std::io::Write;

use clap::{Args, CommandFactory};
use clap_complete::Shell;

use event_counter::Error;

/// Print a shell completion script
#[derive(Args, Debug)]
#[command(after_help = "\
Examples:
  event-counter completions bash > ~/.local/share/bash-completion/completions/event-counter
  event-counter completions zsh > ~/.zfunc/_event-counter
  event-counter completions fish > ~/.config/fish/completions/event-counter.fish")]
pub struct CompletionsArgs {
    /// The shell to complete for
    #[arg(value_enum)]
    shell: Shell,
}

/// Print the man pages (roff), or write them into a folder
#[derive(Args, Debug)]
#[command(after_help = "\
Examples:
  event-counter man > event-counter.1 && man ./event-counter.1
  event-counter man ~/.local/share/man/man1     event-counter.1 and one page per subcommand")]
pub struct ManArgs {
    /// Write event-counter.1 and event-counter-SUBCOMMAND.1 into this folder, instead of
    /// printing them one after another
    dir: Option<std::path::PathBuf>,
}

/// The EXIT STATUS section of every page (the tool's and each
/// subcommand's: the codes are one table for all of them), in roff.
const EXIT_STATUS: &str = r#".SH "EXIT STATUS"
.TP
0
success
.TP
2
a bad command line, or an output that names an input or another output
.TP
65
data the tool cannot use: a bad header or region.csv, a malformed row under \-\-strict, more bad rows than \-\-max\-bad or \-\-max\-unmatched allow, none of the data rows counted, a file past a limit
.TP
66
an input is missing or cannot be opened (also an S3 bucket or object)
.TP
69
no usable GPU adapter for \-\-backend gpu, or a feature this build lacks
.TP
70
a GPU failure or an internal error
.TP
74
reading or writing failed (a full disk, an output folder that does not exist, a file that changed size or was written to while read, standard output closed); nothing partial is left
.TP
128+N
stopped by signal N (130 for Ctrl\-C, 143 for kill); older outputs are left as they were
"#;

pub fn run_completions(args: CompletionsArgs) -> Result<(), Error> {
    let mut command = crate::Cli::command();
    let mut out = Vec::new();
    clap_complete::generate(args.shell, &mut command, "event-counter", &mut out);
    let script = String::from_utf8(out)
        .map_err(|e| Error::Internal(format!("a completion script that is not UTF-8: {e}")))?;
    let mut script = without_hidden_flags(&script, &hidden_flags(&command), args.shell);
    if args.shell == Shell::Bash {
        script = bash_states_that_match(&script);
    }
    print(script.as_bytes())
}

/// clap_complete's bash script names its state `event__counter__subcmd__count`
/// but labels the branch for it `event__subcmd__counter__subcmd__count`
/// (clap-rs/clap#6421: the label mangles the `-` of the binary's name like
/// a subcommand's separator), so no branch after the subcommand ever
/// matches and nothing completes past it. Labels are rewritten to the state's
/// spelling.
fn bash_states_that_match(script: &str) -> String {
    script.replace("event__subcmd__counter", "event__counter")
}

/// The long flags hidden from `--help` (tuning and test knobs) wherever
/// they are defined, and not shown by any subcommand under that name.
fn hidden_flags(command: &clap::Command) -> Vec<String> {
    fn walk(command: &clap::Command, hidden: &mut Vec<String>, shown: &mut Vec<String>) {
        for arg in command.get_arguments() {
            if let Some(long) = arg.get_long() {
                let into = if arg.is_hide_set() {
                    &mut *hidden
                } else {
                    &mut *shown
                };
                into.push(long.to_string());
            }
        }
        for sub in command.get_subcommands() {
            walk(sub, hidden, shown);
        }
    }
    let (mut hidden, mut shown) = (Vec::new(), Vec::new());
    walk(command, &mut hidden, &mut shown);
    hidden.retain(|name| !shown.contains(name));
    hidden.sort();
    hidden.dedup();
    hidden
}

/// clap_complete offers hidden flags too. Every shell but bash gives each
/// flag a line of its own, which goes; bash lists them in `opts="..."`, from
/// which they are taken out (its branch for a hidden flag's value stays,
/// unreachable unless the flag is typed in full).
fn without_hidden_flags(script: &str, hidden: &[String], shell: Shell) -> String {
    let is_name_byte = |b: Option<&u8>| b.is_some_and(|b| b.is_ascii_alphanumeric() || *b == b'-');
    // Where `token` occurs as a whole flag name (not a prefix of a longer one).
    let names = |line: &str, token: &str| {
        line.match_indices(token)
            .any(|(at, _)| !is_name_byte(line.as_bytes().get(at + token.len())))
    };
    let mut out = String::with_capacity(script.len());
    for line in script.split_inclusive('\n') {
        if shell == Shell::Bash && line.trim_start().starts_with("opts=\"") {
            let indent = &line[..line.len() - line.trim_start().len()];
            let list = line
                .trim()
                .trim_start_matches("opts=\"")
                .trim_end_matches('"');
            let kept: Vec<&str> = list
                .split(' ')
                .filter(|word| !hidden.iter().any(|h| *word == format!("--{h}")))
                .collect();
            out.push_str(&format!("{indent}opts=\"{}\"\n", kept.join(" ")));
            continue;
        }
        let hides = hidden
            .iter()
            .any(|h| names(line, &format!("--{h}")) || names(line, &format!("-l {h}")));
        if shell == Shell::Bash || !hides {
            out.push_str(line);
        }
    }
    out
}

/// The tool's page (with its exit status) and one page per subcommand
/// (`event-counter-count(1)`, ...): written into a folder, or printed in
/// one stream, which man and groff render one page after another.
pub fn run_man(args: ManArgs) -> Result<(), Error> {
    let mut command = crate::Cli::command();
    command.build();
    let render = |command: clap::Command, extra: &str| {
        let mut out = Vec::new();
        clap_mangen::Man::new(command)
            .render(&mut out)
            .map_err(|e| Error::Internal(format!("cannot render the man page: {e}")))?;
        out.extend_from_slice(extra.as_bytes());
        Ok::<_, Error>(out)
    };
    let mut pages = vec![(
        "event-counter.1".to_string(),
        render(command.clone(), EXIT_STATUS)?,
    )];
    for sub in command.get_subcommands().filter(|s| s.get_name() != "help") {
        let name = format!("event-counter-{}", sub.get_name());
        let bin = format!("event-counter {}", sub.get_name());
        let page = render(sub.clone().name(&name).bin_name(bin), EXIT_STATUS)?;
        pages.push((format!("{name}.1"), page));
    }
    match args.dir {
        Some(dir) => {
            // As `install -D` would: the help's own example, a user's
            // ~/.local/share/man/man1, often does not exist yet.
            std::fs::create_dir_all(&dir).map_err(|source| Error::Write {
                path: dir.clone(),
                source,
            })?;
            for (name, page) in pages {
                let path = dir.join(name);
                event_counter::process::write_file(
                    &event_counter::options::Destination::File(path),
                    &page,
                )?;
            }
            Ok(())
        }
        None => print(
            &pages
                .into_iter()
                .flat_map(|(_, page)| page)
                .collect::<Vec<u8>>(),
        ),
    }
}

fn print(bytes: &[u8]) -> Result<(), Error> {
    if !super::stdout_is_open() {
        return Err(event_counter::process::stdout_closed(
            &event_counter::options::Destination::Stdout,
        ));
    }
    let mut stdout = std::io::stdout().lock();
    match stdout.write_all(bytes).and_then(|()| stdout.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(Error::Write {
            path: "<stdout>".into(),
            source: e,
        }),
        _ => Ok(()),
    }
}
