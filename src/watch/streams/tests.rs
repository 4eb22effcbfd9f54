use super::*;

fn stream(events: Vec<Event<u32>>) -> BoxStream<'static, Item<u32>> {
    futures::stream::iter(events.into_iter().map(Ok)).boxed()
}

#[tokio::test]
async fn per_namespace_streams_look_like_one_watch_and_a_later_relist_is_updates() {
    let a = stream(vec![Event::Init, Event::InitApply(1), Event::InitDone]);
    let b = stream(vec![
        Event::Init,
        Event::InitApply(2),
        Event::InitDone,
        Event::Apply(3),
        // b relists after 410 Gone: the controller must not take 1 as deleted.
        Event::Init,
        Event::InitApply(4),
        Event::InitDone,
    ]);
    let merged: Vec<String> = merge_relists(vec![a, b])
        .map(|item| match item.expect("ok") {
            Event::Init => "init".to_owned(),
            Event::InitApply(n) => format!("list {n}"),
            Event::InitDone => "done".to_owned(),
            Event::Apply(n) => format!("apply {n}"),
            Event::Delete(n) => format!("delete {n}"),
        })
        .collect()
        .await;
    let at = |what: &str| {
        merged
            .iter()
            .position(|m| m == what)
            .unwrap_or_else(|| panic!("{what}: {merged:?}"))
    };
    assert_eq!(merged.iter().filter(|m| *m == "init").count(), 1, "{merged:?}");
    assert_eq!(merged.iter().filter(|m| *m == "done").count(), 1, "{merged:?}");
    assert_eq!(at("init"), 0);
    assert!(
        at("done") > at("list 1") && at("done") > at("list 2"),
        "{merged:?}"
    );
    assert!(at("apply 4") > at("done"), "{merged:?}");
    assert!(merged.contains(&"apply 3".to_owned()));
}
