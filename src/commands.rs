//! What each subcommand does, from parsed flags to an exit code.

use std::process::ExitCode;

use crate::{
    Error, Result,
    cli::{Command, DecisionArgs, HashArgs, PlanArgs},
    offline, plan, serve,
};

/// Runs one subcommand to its end. Logging is set up by the caller.
pub async fn run(command: Command) -> Result<ExitCode> {
    if rustls::crypto::ring::default_provider()
        .install_default()
        .is_err()
    {
        return Err(Error::Internal(
            "a rustls crypto provider was already installed".into(),
        ));
    }
    match command {
        Command::Serve(args) => serve::run(*args).await.map(|()| ExitCode::SUCCESS),
        Command::Review(args) => review(args).await,
        Command::Hash(args) => hash(args).await,
        Command::Plan(args) => run_plan(args).await,
    }
}

async fn review(args: DecisionArgs) -> Result<ExitCode> {
    let options = args.admission.options()?;
    let source = args.source.source().await?;
    offline::review(std::io::stdin(), std::io::stdout(), &source, &options).await?;
    Ok(ExitCode::SUCCESS)
}

async fn hash(args: HashArgs) -> Result<ExitCode> {
    let options = args.decision.admission.options()?;
    let source = args.decision.source.source().await?;
    offline::hash(&args.file, &args.namespace, std::io::stdout(), &source, &options).await?;
    Ok(ExitCode::SUCCESS)
}

async fn run_plan(args: PlanArgs) -> Result<ExitCode> {
    let options = args.admission.options()?;
    let client = kube::Client::try_default().await?;
    let default_window = args.default_rollout_window.as_ref();
    let planned = plan::plan(client, &args.namespace, &options, default_window).await?;
    plan::write(std::io::stdout(), &args.namespace, &planned)?;
    // contract: 0 when nothing would roll, 2 when something would.
    Ok(ExitCode::from(if planned.is_empty() { 0 } else { 2 }))
}
