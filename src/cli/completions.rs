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

/// Print the man page (roff)
#[derive(Args, Debug)]
#[command(after_help = "\
Examples:
  event-counter man > event-counter.1 && man ./event-counter.1")]
pub struct ManArgs {}

pub fn run_completions(args: CompletionsArgs) -> Result<(), Error> {
    let mut out = Vec::new();
    clap_complete::generate(
        args.shell,
        &mut crate::Cli::command(),
        "event-counter",
        &mut out,
    );
    print(&out)
}

/// The tool's page followed by one page per subcommand
/// (`event-counter-count(1)`, ...), in one stream: man and groff render
/// concatenated pages one after another.
pub fn run_man(_args: ManArgs) -> Result<(), Error> {
    let mut command = crate::Cli::command();
    command.build();
    let mut out = Vec::new();
    let rendered = clap_mangen::Man::new(command.clone())
        .render(&mut out)
        .and_then(|()| {
            for sub in command.get_subcommands().filter(|s| s.get_name() != "help") {
                let name = format!("event-counter-{}", sub.get_name());
                let bin = format!("event-counter {}", sub.get_name());
                clap_mangen::Man::new(sub.clone().name(name).bin_name(bin)).render(&mut out)?;
            }
            Ok(())
        });
    rendered.map_err(|e| Error::Internal(format!("cannot render the man page: {e}")))?;
    print(&out)
}

fn print(bytes: &[u8]) -> Result<(), Error> {
    if !event_counter::output::stdout_is_open() {
        return Err(Error::Write {
            path: "<stdout>".into(),
            source: std::io::Error::other("standard output was closed when event-counter started"),
        });
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
