//! The second review of the saturation runs: the UPDATE of `benches/data/update-review.json`
//! with its 100 KiB `web-config` volume narrowed by `items` to one key. It consumes the same
//! three ConfigMaps (1, 10 and 100 KiB), but the decision hashes one 1 KiB entry of the
//! largest, so the cost the ConfigMap's size adds on top of the selection shows up here.

use std::path::Path;

/// The one key of `web-config` that the review mounts (the generator's 43rd entry).
pub const KEY: &str = "web-config-0042";

/// Where the checked-in copy lives, relative to the crate root.
pub const CHECKED_IN: &str = "benches/data/update-items-review.json";

/// The UPDATE review with `items: [{key: KEY, path: app.conf}]` added to the `web-config`
/// volume, in `object`, `oldObject` and both last-applied configurations. Edited as text so
/// the rest of the review keeps the API server's byte layout.
pub fn review(update: &[u8]) -> Vec<u8> {
    let text = std::str::from_utf8(update).expect("the UPDATE review is UTF-8");
    let edits = [
        (
            r#""configMap":{"name":"web-config","defaultMode":420}"#.to_owned(),
            format!(
                r#""configMap":{{"name":"web-config","items":[{{"key":"{KEY}","path":"app.conf"}}],"defaultMode":420}}"#
            ),
        ),
        (
            r#"\"configMap\":{\"name\":\"web-config\"}"#.to_owned(),
            format!(
                r#"\"configMap\":{{\"name\":\"web-config\",\"items\":[{{\"key\":\"{KEY}\",\"path\":\"app.conf\"}}]}}"#
            ),
        ),
    ];
    let mut out = text.to_owned();
    for (from, to) in edits {
        // object and oldObject (or their two last-applied configurations): exactly twice.
        assert_eq!(
            out.matches(&from).count(),
            2,
            "the UPDATE review changed shape: {from}"
        );
        out = out.replace(&from, &to);
    }
    out.into_bytes()
}

/// Writes the review into `dir` and checks that the checked-in copy is the same bytes, so the
/// saturation runs and this generator cannot drift apart.
pub fn write(dir: &Path, update: &[u8], root: &Path) -> std::io::Result<()> {
    let body = review(update);
    std::fs::create_dir_all(dir)?;
    std::fs::write(dir.join("update-items-review.json"), &body)?;
    let checked_in = root.join(CHECKED_IN);
    match std::fs::read(&checked_in) {
        Ok(bytes) if bytes == body => Ok(()),
        Ok(_) => Err(std::io::Error::other(format!(
            "{} differs from the generated review; copy {} over it",
            checked_in.display(),
            dir.join("update-items-review.json").display()
        ))),
        Err(e) => Err(std::io::Error::other(format!("{}: {e}", checked_in.display()))),
    }
}
