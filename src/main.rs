use std::{process::ExitCode, sync::Arc};

use anyhow::Context;
use clap::Parser;
use confighash::{
    cli::{Cli, Command, ServeArgs, TlsSource},
    hash_key, offline, plan,
    server::{self, Server, ServerConfig},
    telemetry::{self, LogFormat},
    tls::{dev, reload::CertStore},
    watch,
};
use tokio::sync::watch as signal_watch;
use tracing::info;

#[tokio::main]
async fn main() -> anyhow::Result<ExitCode> {
    if rustls::crypto::ring::default_provider()
        .install_default()
        .is_err()
    {
        anyhow::bail!("a rustls crypto provider was already installed");
    }
    match Cli::parse().command {
        Command::Serve(args) => serve(*args).await,
        Command::Review(args) => {
            telemetry::init(LogFormat::Text);
            let source = args.source.source().await?;
            offline::review(
                std::io::stdin(),
                std::io::stdout(),
                &source,
                &args.admission.options()?,
            )
            .await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Hash(args) => {
            telemetry::init(LogFormat::Text);
            let source = args.source.source().await?;
            let options = args.admission.options()?;
            offline::hash(&args.file, &args.namespace, std::io::stdout(), &source, &options).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Plan(args) => {
            telemetry::init(LogFormat::Text);
            let client = kube::Client::try_default().await?;
            let default_window = args.default_rollout_window.as_ref();
            let planned = plan::plan(
                client,
                &args.namespace,
                &args.admission.options()?,
                default_window,
            )
            .await?;
            plan::write(std::io::stdout(), &args.namespace, &planned)?;
            // contract: 0 when nothing would roll, 2 when something would.
            Ok(ExitCode::from(if planned.is_empty() { 0 } else { 2 }))
        }
    }
}

async fn serve(args: ServeArgs) -> anyhow::Result<ExitCode> {
    let ServeArgs {
        listen,
        metrics_listen,
        tls,
        admission,
        source,
        secret_hash_key_secret,
        watch,
        max_body_bytes,
        limits,
        drain_timeout,
        log_format,
    } = args;
    telemetry::init(log_format);
    let key_file = admission.secret_hash_key_file()?;
    let key = hash_key::for_serve(key_file.map(|p| p.as_path()), secret_hash_key_secret.as_deref()).await?;
    let options = admission.options_with(key)?;
    if watch.watch && source.configmaps_from.is_some() {
        anyhow::bail!("--watch follows the cluster; it cannot be combined with --configmaps-from");
    }
    let watch_config = watch.config(&options, "default")?;
    let (cert, key) = match tls.source()? {
        TlsSource::Files { cert, key } => (cert, key),
        TlsSource::Dev(dir) => {
            let certs = dev::generate(&dir, &[])?;
            let ca = certs.ca.display();
            info!("--dev: generated a throw-away CA; trust it with curl --cacert {ca}");
            (certs.cert, certs.key)
        }
    };
    let certs = Arc::new(CertStore::load(cert, key).context("loading the TLS certificate")?);
    let source = source.source().await?;
    let config = ServerConfig {
        listen,
        metrics_listen,
        certs,
        tls_reload_interval: tls.tls_reload_interval,
        source,
        options: options.clone(),
        max_body_bytes,
        drain_timeout,
        limits: limits.limits(),
    };
    let server = Server::bind(config).await?;
    let (stop, stopped) = signal_watch::channel(false);
    let watcher = match watch_config {
        Some(mut config) => {
            let client = kube::Client::try_default().await?;
            if watch.lease_namespace.is_none() {
                config.lease.namespace = client.default_namespace().to_owned();
            }
            let stop = wait(stopped.clone());
            Some(tokio::spawn(watch::run(client, config, server.metrics(), stop)))
        }
        None => None,
    };
    tokio::spawn(async move {
        server::signal().await;
        _ = stop.send(true);
    });
    server.run(wait(stopped)).await?;
    if let Some(watcher) = watcher {
        _ = watcher.await;
    }
    Ok(ExitCode::SUCCESS)
}

async fn wait(mut stopped: signal_watch::Receiver<bool>) {
    _ = stopped.wait_for(|s| *s).await;
}
