//! Parsing the command line: defaults, refusals and the flags reaching the options.

use clap::Parser;

use super::*;

mod flags {
    use super::*;
    use crate::{Result, admission::LookupErrorPolicy};

    fn tls(args: &[&str]) -> Result<TlsSource> {
        Cli::serve_args(args).tls.source()
    }

    #[test]
    fn tls_flags_must_be_complete_and_not_mixed_with_dev() {
        assert!(matches!(tls(&["--dev"]), Ok(TlsSource::Dev(_))));
        assert_eq!(
            tls(&["--tls-cert", "c", "--tls-key", "k"]).ok(),
            Some(TlsSource::Files {
                cert: "c".into(),
                key: "k".into()
            })
        );
        for bad in [&["--tls-cert", "c"][..], &["--dev", "--tls-key", "k"], &[]] {
            let message = tls(bad).expect_err("rejected").to_string();
            assert!(message.contains("--tls-"), "{message}");
        }
    }

    #[test]
    fn serve_defaults_match_the_contract() {
        let cli = Cli::try_parse_from(["confighash", "serve", "--dev"]).expect("parses");
        let Command::Serve(serve) = cli.command else {
            unreachable!("serve parses as serve")
        };
        assert_eq!(serve.listen.to_string(), "[::]:8443");
        assert_eq!(serve.metrics_listen.to_string(), "[::]:9090");
        assert_eq!(serve.max_body_bytes, 8 << 20);
        let options = serve.decision.admission.options().expect("valid");
        assert_eq!(options.lookup_timeout, Duration::from_secs(2));
        assert_eq!(options.on_lookup_error, LookupErrorPolicy::Allow);
        assert_eq!(options.keys.config_hash, "confighash.io/config-hash");
        assert_eq!(options.max_sources, 256);
    }

    #[rstest::rstest]
    #[case::slash_inside("a/b")]
    #[case::underscore("example_corp")]
    #[case::double_dot("a..b")]
    #[case::space("my corp")]
    #[case::leading_dash("-team.example.com")]
    #[case::too_long(&"a".repeat(254))]
    #[case::empty("")]
    fn an_invalid_prefix_is_refused_while_parsing_naming_the_flag(#[case] prefix: &str) {
        for command in ["serve", "review", "hash", "plan"] {
            let flag = format!("--annotation-prefix={prefix}");
            let message = Cli::try_parse_from(["confighash", command, &flag])
                .expect_err("refused")
                .to_string();
            assert!(
                message.contains("--annotation-prefix") && message.contains("DNS-1123"),
                "{command}: {message}"
            );
        }
    }

    #[rstest::rstest]
    #[case::tls_reload("--tls-reload-interval")]
    #[case::request_read("--request-read-timeout")]
    #[case::idle("--idle-timeout")]
    fn an_interval_of_zero_is_refused_while_parsing_naming_the_flag(#[case] flag: &str) {
        let message = Cli::try_parse_from(["confighash", "serve", "--dev", flag, "0s"])
            .expect_err("refused")
            .to_string();
        assert!(
            message.contains(flag) && message.contains("greater than zero"),
            "{message}"
        );
        assert!(Cli::try_parse_from(["confighash", "serve", "--dev", flag, "1s"]).is_ok());
    }

    #[test]
    fn a_flag_given_twice_takes_its_last_value() {
        let cli = Cli::try_parse_from([
            "confighash",
            "serve",
            "--dev",
            "--listen=0.0.0.0:8443",
            "--lookup-timeout=2s",
            "--listen=[::1]:10250",
            "--lookup-timeout=3s",
            "--dev",
        ])
        .expect("a repeated flag parses");
        let Command::Serve(serve) = cli.command else {
            unreachable!("serve parses as serve")
        };
        assert_eq!(serve.listen.to_string(), "[::1]:10250");
        assert_eq!(
            serve.decision.admission.options().expect("valid").lookup_timeout,
            Duration::from_secs(3)
        );
    }

    #[test]
    fn a_valid_prefix_and_max_sources_reach_the_options() {
        let cli = Cli::try_parse_from([
            "confighash",
            "review",
            "--annotation-prefix",
            "team.example.com/",
            "--max-sources",
            "3",
        ])
        .expect("parses");
        let Command::Review(review) = cli.command else {
            unreachable!("review parses as review")
        };
        let options = review.admission.options().expect("valid");
        assert_eq!(options.keys.config_hash, "team.example.com/config-hash");
        assert_eq!(options.max_sources, 3);
        assert!(Cli::try_parse_from(["confighash", "review", "--max-sources", "0"]).is_err());
    }
}

mod secret_flags {
    use super::*;

    fn admission(args: &[&str]) -> AdmissionArgs {
        Cli::review_args(args).admission
    }

    #[test]
    fn secrets_without_a_key_file_refuse_with_instructions() {
        let message = admission(&["--secrets"])
            .options()
            .expect_err("refused")
            .to_string();
        assert!(
            message.contains("--secret-hash-key-file") && message.contains("/dev/urandom"),
            "{message}"
        );
        let message = admission(&["--secret-hash-key-file", "k"])
            .options()
            .expect_err("refused")
            .to_string();
        assert!(message.contains("only with --secrets"), "{message}");
        assert!(admission(&[]).options().expect("no secrets").secrets.is_none());
    }
}
