use std::process::ExitCode;

use clap::Parser;
use confighash::{
    cli::{Cli, Command},
    commands,
    telemetry::{self, LogFormat},
};

#[tokio::main]
async fn main() -> anyhow::Result<ExitCode> {
    let command = Cli::parse().command;
    telemetry::init(match &command {
        Command::Serve(args) => args.log_format,
        _ => LogFormat::Text,
    });
    // An error is printed with its causes and exits with 1.
    Ok(commands::run(command).await?)
}
