use std::sync::Arc;

use anyhow::Context;
use clap::Parser;
use confighash::{
    cli::{Cli, Command, ServeArgs, TlsSource},
    hash_key, offline,
    server::{self, Server, ServerConfig},
    telemetry::{self, LogFormat},
    tls::{dev, reload::CertStore},
};
use tracing::info;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    if rustls::crypto::ring::default_provider()
        .install_default()
        .is_err()
    {
        anyhow::bail!("a rustls crypto provider was already installed");
    }
    match Cli::parse().command {
        Command::Serve(args) => serve(args).await,
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
            Ok(())
        }
        Command::Hash(args) => {
            telemetry::init(LogFormat::Text);
            let source = args.source.source().await?;
            let options = args.admission.options()?;
            offline::hash(&args.file, &args.namespace, std::io::stdout(), &source, &options).await?;
            Ok(())
        }
    }
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let ServeArgs {
        listen,
        metrics_listen,
        tls,
        admission,
        source,
        secret_hash_key_secret,
        max_body_bytes,
        drain_timeout,
        log_format,
    } = args;
    telemetry::init(log_format);
    let key_file = admission.secret_hash_key_file()?;
    let key = hash_key::for_serve(key_file.map(|p| p.as_path()), secret_hash_key_secret.as_deref()).await?;
    let options = admission.options_with(key)?;
    let (cert, key) = match tls.source()? {
        TlsSource::Files { cert, key } => (cert, key),
        TlsSource::Dev(dir) => {
            let certs = dev::generate(&dir, &[])?;
            info!(ca = %certs.ca.display(), "--dev: generated a throw-away CA; trust it with curl --cacert");
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
        options,
        max_body_bytes,
        drain_timeout,
    };
    Server::bind(config).await?.run(server::signal()).await?;
    Ok(())
}
