//! `serve`, wired once: every flag combination is checked before anything touches the
//! cluster; then the shared things — one cluster client, one metrics registry, the Secret
//! hash key and the certificate store — are built once and handed to the webhook server,
//! the watcher and the reloaders, which all stop on the same shutdown signal.

use std::{path::PathBuf, sync::Arc, time::Duration};

use tokio::{sync::watch as signal_watch, task::JoinHandle};
use tracing::info;

use crate::{
    Error, Result,
    admission::Options,
    cli::{ServeArgs, TlsSource},
    hash_key::{self, SecretRef},
    metrics::Metrics,
    server::{self, Server, ServerConfig},
    source::{ClusterSource, Source},
    tls::{dev, reload::CertStore},
    watch::{self, WatchConfig},
};

/// How often the Secret hash key file is re-read.
const KEY_RELOAD_INTERVAL: Duration = Duration::from_secs(10);

/// Runs `serve` until SIGTERM or SIGINT, then drains and returns.
pub async fn run(args: ServeArgs) -> Result<()> {
    let (stop, stopped) = signal_watch::channel(false);
    tokio::spawn(async move {
        server::signal().await;
        _ = stop.send(true);
    });
    run_until(args, stopped).await
}

/// The flags of `serve`, checked together; nothing here has touched a file or the cluster.
struct Checked {
    args: ServeArgs,
    tls: TlsSource,
    key_file: Option<PathBuf>,
    options: Options,
}

impl Checked {
    fn new(args: ServeArgs) -> Result<Self> {
        let tls = args.tls.source()?;
        let key_file = args.decision.admission.secret_hash_key_file()?.cloned();
        // The key, if any, is loaded once the flags are known to work together.
        let options = args.decision.admission.options_with(None)?;
        if args.watch.watch && args.decision.source.configmaps_from.is_some() {
            return Err(Error::flag(
                "--watch",
                "--watch follows the cluster; it cannot be combined with --configmaps-from",
            ));
        }
        if args.secret_hash_key_secret.is_some() && key_file.is_none() {
            return Err(Error::flag(
                "--secret-hash-key-secret",
                "--secret-hash-key-secret is used only with --secrets and --secret-hash-key-file",
            ));
        }
        args.watch.check()?;
        Ok(Self {
            args,
            tls,
            key_file,
            options,
        })
    }

    /// The key Secret to read or create, when the key file is not mounted yet.
    fn key_secret(&self) -> Option<&SecretRef> {
        let missing = self.key_file.as_ref().is_some_and(|path| !path.exists());
        self.args.secret_hash_key_secret.as_ref().filter(|_| missing)
    }

    /// Whether anything needs a cluster client: the ConfigMap source (and with it the
    /// watcher, which never runs with `--configmaps-from`) or the key Secret.
    fn needs_cluster(&self) -> bool {
        self.args.decision.source.configmaps_from.is_none() || self.key_secret().is_some()
    }
}

async fn run_until(args: ServeArgs, stopped: signal_watch::Receiver<bool>) -> Result<()> {
    let checked = Checked::new(args)?;
    // Local files first: a bad directory fails before a certificate is written or a key
    // Secret created.
    let directory = checked.args.decision.source.directory()?;
    let certs = Arc::new(load_certificate(&checked.tls)?);
    let client = match checked.needs_cluster() {
        true => Some(kube::Client::try_default().await?),
        false => None,
    };
    let key = match &checked.key_file {
        Some(path) => {
            let secret = checked.key_secret().zip(client.as_ref());
            Some(hash_key::for_serve(path, secret).await?)
        }
        None => None,
    };
    let Checked { args, options, .. } = checked;
    let options = Options {
        secrets: key.clone(),
        ..options
    };
    let source = match (directory, &client) {
        (Some(dir), _) => Source::Dir(dir),
        (None, Some(client)) => Source::Cluster(ClusterSource::new(client.clone())),
        (None, None) => return Err(Error::Internal("no cluster client for the cluster source".into())),
    };
    let watch_config = match &client {
        Some(client) => {
            let namespace = client.default_namespace();
            args.watch
                .config(&options, namespace)?
                .map(|c| (client.clone(), c))
        }
        None => None,
    };
    let metrics = Arc::new(Metrics::for_source(&source));
    let config = ServerConfig {
        listen: args.listen,
        metrics_listen: args.metrics_listen,
        certs,
        tls_reload_interval: args.tls.tls_reload_interval,
        source,
        options,
        max_body_bytes: args.max_body_bytes,
        drain_timeout: args.drain_timeout,
        limits: args.limits.limits(),
        metrics: metrics.clone(),
    };
    let server = Server::bind(config).await?;
    let key_reloader = key.zip(args.decision.admission.secret_hash_key_file.clone());
    let key_reloader = key_reloader.map(|(key, path)| key.spawn_reloader(path, KEY_RELOAD_INTERVAL));
    let watcher = watch_config.map(|(client, config)| spawn_watcher(client, config, metrics, &stopped));
    let result = server.run(wait(stopped)).await;
    if let Some(watcher) = watcher {
        _ = watcher.await;
    }
    if let Some(reloader) = key_reloader {
        reloader.abort();
        _ = reloader.await;
    }
    result
}

/// The serving pair: the files given, or a throw-away pair for `--dev`.
fn load_certificate(tls: &TlsSource) -> Result<CertStore> {
    let (cert, key) = match tls {
        TlsSource::Files { cert, key } => (cert.clone(), key.clone()),
        TlsSource::Dev(dir) => {
            let certs = dev::generate(dir, &[])?;
            let ca = certs.ca.display();
            info!("--dev: generated a throw-away CA; trust it with curl --cacert {ca}");
            (certs.cert, certs.key)
        }
    };
    CertStore::load(cert, key).map_err(|e| Error::Certificate(Box::new(e)))
}

fn spawn_watcher(
    client: kube::Client,
    config: WatchConfig,
    metrics: Arc<Metrics>,
    stopped: &signal_watch::Receiver<bool>,
) -> JoinHandle<()> {
    tokio::spawn(watch::run(client, config, metrics, wait(stopped.clone())))
}

async fn wait(mut stopped: signal_watch::Receiver<bool>) {
    _ = stopped.wait_for(|s| *s).await;
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::cli::Cli;

    fn serve(args: &[&str]) -> ServeArgs {
        Cli::serve_args(args)
    }

    #[tokio::test]
    async fn watch_with_a_directory_source_is_refused_before_the_key_secret_is_touched() {
        let dir = tempfile::tempdir().expect("tempdir");
        let missing_key = dir.path().join("hash.key");
        let args = serve(&[
            "--dev",
            "--dev-cert-dir",
            dir.path().to_str().expect("utf-8"),
            "--watch",
            "--configmaps-from",
            "examples/configmaps",
            "--secrets",
            "--secret-hash-key-file",
            missing_key.to_str().expect("utf-8"),
            "--secret-hash-key-secret",
            "ops/confighash-key",
        ]);
        let (_stop, stopped) = signal_watch::channel(false);
        let refused = run_until(args, stopped).await.expect_err("refused");
        assert!(
            matches!(refused, Error::Flag { flag: "--watch", .. }),
            "{refused:?}"
        );
        assert!(
            !dir.path().join("tls.crt").exists(),
            "refused before any certificate is written"
        );
    }

    #[test]
    fn every_bad_combination_is_refused_naming_its_flag() {
        for (args, flag) in [
            (&["--tls-cert", "c"][..], "--tls-cert"),
            (&["--dev", "--secrets"], "--secrets"),
            (&["--dev", "--lookup-timeout", "0s"], "--lookup-timeout"),
            (
                &["--dev", "--watch", "--lease-duration", "1s"],
                "--lease-duration",
            ),
            (
                &["--dev", "--watch", "--watch-namespaces", "Shop"],
                "--watch-namespaces",
            ),
            (
                &["--dev", "--secret-hash-key-secret", "ns/key"],
                "--secret-hash-key-secret",
            ),
        ] {
            match Checked::new(serve(args)) {
                Err(Error::Flag { flag: named, message }) => {
                    assert_eq!(named, flag, "{args:?}: {message}");
                    assert!(message.contains(flag), "{message}");
                }
                Err(other) => panic!("{args:?}: {other:?}"),
                Ok(_) => panic!("{args:?}: accepted"),
            }
        }
    }

    #[test]
    fn the_key_secret_must_be_namespace_slash_name_while_parsing() {
        let refused = Cli::try_parse_from(["confighash", "serve", "--secret-hash-key-secret", "nope"])
            .expect_err("refused")
            .to_string();
        assert!(
            refused.contains("--secret-hash-key-secret") && refused.contains("NAMESPACE/NAME"),
            "{refused}"
        );
    }
}
